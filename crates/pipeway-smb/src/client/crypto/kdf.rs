//! The SMB 3.x key derivation function: SP 800-108 in counter mode with
//! HMAC-SHA256 as its PRF (MS-SMB2 3.1.4.2).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::client::wire::negotiate::dialect;

/// `KDF(key, label, context)`, `bits` long (128 or 256): one or two rounds of
/// HMAC-SHA256 over `i || label || 0x00 || context || L`.
pub fn derive(key: &[u8], label: &[u8], context: &[u8], bits: u32) -> Zeroizing<Vec<u8>> {
    let len = (bits / 8) as usize;
    let mut out = Zeroizing::new(Vec::with_capacity(len.next_multiple_of(32)));
    let mut i: u32 = 1;
    while out.len() < len {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(&i.to_be_bytes());
        mac.update(label);
        mac.update(&[0]);
        mac.update(context);
        mac.update(&bits.to_be_bytes());
        out.extend_from_slice(&mac.finalize().into_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// A session's keys.
pub struct SessionKeys {
    /// Signs requests and checks responses.
    pub signing: Zeroizing<Vec<u8>>,
    /// Encrypts what the client sends (ServerIn).
    pub encryption: Zeroizing<Vec<u8>>,
    /// Decrypts what the server sends (ServerOut).
    pub decryption: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys(..)")
    }
}

/// Derives a session's keys from its session key (MS-SMB2 3.2.5.3.1).
///
/// 2.0.2 and 2.1 sign with the session key itself. 3.0 and 3.0.2 use fixed
/// labels; 3.1.1 the preauth integrity hash as the context. `cipher_key_len`
/// is 16 or 32 (AES-256 ciphers take 256-bit keys).
pub fn session_keys(
    dialect: u16,
    session_key: &[u8],
    preauth_hash: &[u8; 64],
    cipher_key_len: usize,
) -> SessionKeys {
    let bits = (cipher_key_len * 8) as u32;
    match dialect {
        dialect::SMB2_0_2 | dialect::SMB2_1 => SessionKeys {
            signing: Zeroizing::new(session_key.to_vec()),
            encryption: Zeroizing::new(Vec::new()),
            decryption: Zeroizing::new(Vec::new()),
        },
        dialect::SMB3_1_1 => SessionKeys {
            signing: derive(session_key, b"SMBSigningKey\0", preauth_hash, 128),
            encryption: derive(session_key, b"SMBC2SCipherKey\0", preauth_hash, bits),
            decryption: derive(session_key, b"SMBS2CCipherKey\0", preauth_hash, bits),
        },
        _ => SessionKeys {
            signing: derive(session_key, b"SMB2AESCMAC\0", b"SmbSign\0", 128),
            encryption: derive(session_key, b"SMB2AESCCM\0", b"ServerIn \0", 128),
            decryption: derive(session_key, b"SMB2AESCCM\0", b"ServerOut\0", 128),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SP 800-108's definition, computed by hand for one round: the KDF is
    /// exactly one HMAC over the documented byte layout.
    #[test]
    fn one_round_is_the_documented_hmac() {
        let key = [0x11u8; 16];
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(&[0, 0, 0, 1]);
        mac.update(b"SMB2AESCMAC\0");
        mac.update(&[0]);
        mac.update(b"SmbSign\0");
        mac.update(&[0, 0, 0, 128]);
        let expected = mac.finalize().into_bytes();
        let got = derive(&key, b"SMB2AESCMAC\0", b"SmbSign\0", 128);
        assert_eq!(&got[..], &expected[..16]);
    }

    #[test]
    fn a_256_bit_key_takes_two_rounds_and_differs_from_128() {
        let key = [0x22u8; 16];
        let long = derive(&key, b"SMBC2SCipherKey\0", &[3; 64], 256);
        let short = derive(&key, b"SMBC2SCipherKey\0", &[3; 64], 128);
        assert_eq!(long.len(), 32);
        // L is part of the input, so the first half is not the short key.
        assert_ne!(&long[..16], &short[..]);
    }
}
