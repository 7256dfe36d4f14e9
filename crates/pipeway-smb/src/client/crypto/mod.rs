//! SMB 3.x key derivation, message signing and encryption, on RustCrypto's
//! primitives.

pub mod cipher;
pub mod kdf;
pub mod signing;
