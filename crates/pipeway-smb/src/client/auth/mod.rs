//! Authentication: NTLMv2 (MS-NLMP) carried in SPNEGO (RFC 4178, MS-SPNG).

pub mod ntlm;
pub mod spnego;
