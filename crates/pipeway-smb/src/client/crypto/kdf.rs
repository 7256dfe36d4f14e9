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

    use crate::client::crypto::signing::tests::hex;

    /// Microsoft's published SMB 3.0 example ("Encryption in SMB 3.0: a
    /// protocol perspective", Open Specifications blog, 2012): the client's
    /// encryption (ServerIn) and decryption (ServerOut) keys.
    #[test]
    fn smb_3_0_keys_match_microsofts_example() {
        let session_key = hex("B4546771B515F766A86735532DD6C4F0");
        let keys = session_keys(dialect::SMB3_0, &session_key, &[0; 64], 16);
        assert_eq!(
            &keys.encryption[..],
            &hex("261B72350558F2E9DCF613070383EDBF")[..]
        );
        assert_eq!(
            &keys.decryption[..],
            &hex("8FE2B57EC34D2DB5B1A9727F526BBDB5")[..]
        );
    }

    /// Microsoft's published SMB 3.1.1 examples ("SMB 3.1.1 Encryption in
    /// Windows 10" and "SMB 3.1.1 Pre-authentication integrity in Windows 10",
    /// 2015): keys derived with the preauth integrity hash as the context.
    #[test]
    fn smb_3_1_1_keys_match_microsofts_examples() {
        let session_key = hex("419FDDF34C1E001909D362AE7FB6AF79");
        let preauth: [u8; 64] = hex(concat!(
            "B23F3CBFD69487D9832B79B1594A367CDD950909B774C3A4C412B4FCEA9EDDDB",
            "A7DB256BA2EA30E977F11F9B113247578E0E915C6D2A513B8F2FCA5707DC8770"
        ))
        .try_into()
        .unwrap();
        let keys = session_keys(dialect::SMB3_1_1, &session_key, &preauth, 16);
        assert_eq!(
            &keys.encryption[..],
            &hex("A2F5E80E5D59103034F32E52F698E5EC")[..]
        );
        assert_eq!(
            &keys.decryption[..],
            &hex("748C50868C90F302962A5C35F5F9A8BF")[..]
        );

        let session_key = hex("270E1BA896585EEB7AF3472D3B4C75A7");
        let preauth: [u8; 64] = hex(concat!(
            "0DD13628CC3ED218EF9DF9772D436D0887AB9814BFAE63A80AA845F36909DB79",
            "28622DDDAD522D9751640A459762C5A9D6BB084CBB3CE6BDADEF5D5BCE3C6C01"
        ))
        .try_into()
        .unwrap();
        let keys = session_keys(dialect::SMB3_1_1, &session_key, &preauth, 16);
        assert_eq!(
            &keys.signing[..],
            &hex("73FE7A9A77BEF0BDE49C650D8CCB5F76")[..]
        );
    }
}
