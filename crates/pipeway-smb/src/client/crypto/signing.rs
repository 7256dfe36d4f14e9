//! Signing and checking SMB2 messages (MS-SMB2 3.1.4.1, 3.1.5.1):
//! HMAC-SHA256 (2.0.2, 2.1), AES-CMAC (3.x), AES-GMAC (3.1.1).

use aes::Aes128;
use aes_gcm::Aes128Gcm;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use cmac::Cmac;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::client::wire::header::{HEADER_LEN, SIGNATURE_RANGE, flags};
use crate::client::wire::negotiate::SigningAlgorithm;

/// A session's signing key with its algorithm.
pub struct Signer {
    algorithm: SigningAlgorithm,
    key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.algorithm.name())
    }
}

impl Signer {
    /// A signer using `key` (16 bytes) with `algorithm`.
    pub fn new(algorithm: SigningAlgorithm, key: Zeroizing<Vec<u8>>) -> Self {
        Self { algorithm, key }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The signature of `message` (its signature field taken as zero).
    pub fn signature(&self, message: &[u8]) -> [u8; 16] {
        let head = &message[..SIGNATURE_RANGE.start];
        let tail = &message[SIGNATURE_RANGE.end..];
        let zero = [0u8; 16];
        let mut out = [0u8; 16];
        match self.algorithm {
            SigningAlgorithm::HmacSha256 => {
                let mut mac =
                    <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
                mac.update(head);
                mac.update(&zero);
                mac.update(tail);
                out.copy_from_slice(&mac.finalize().into_bytes()[..16]);
            }
            SigningAlgorithm::AesCmac => {
                let mut mac =
                    <Cmac<Aes128> as Mac>::new_from_slice(&self.key).expect("16-byte key");
                mac.update(head);
                mac.update(&zero);
                mac.update(tail);
                out.copy_from_slice(&mac.finalize().into_bytes());
            }
            SigningAlgorithm::AesGmac => {
                let cipher = Aes128Gcm::new_from_slice(&self.key).expect("16-byte key");
                let nonce = gmac_nonce(message);
                let mut aad = Vec::with_capacity(message.len());
                aad.extend_from_slice(head);
                aad.extend_from_slice(&zero);
                aad.extend_from_slice(tail);
                let tag = cipher
                    .encrypt_in_place_detached((&nonce).into(), &aad, &mut [])
                    .expect("an empty plaintext always encrypts");
                out.copy_from_slice(&tag);
            }
        }
        out
    }

    /// Signs `message` in place: sets the SIGNED flag and the signature.
    pub fn sign(&self, message: &mut [u8]) {
        let f = u32::from_le_bytes(message[16..20].try_into().expect("header")) | flags::SIGNED;
        message[16..20].copy_from_slice(&f.to_le_bytes());
        let sig = self.signature(message);
        message[SIGNATURE_RANGE].copy_from_slice(&sig);
    }

    /// Whether `message`'s signature is right (in constant time).
    pub fn verify(&self, message: &[u8]) -> bool {
        if message.len() < HEADER_LEN {
            return false;
        }
        let expected = self.signature(message);
        let got = &message[SIGNATURE_RANGE];
        expected
            .iter()
            .zip(got)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// AES-GMAC's nonce: the MessageId, then 4 bytes whose bit 0 marks a message
/// from the server and bit 1 a CANCEL request.
fn gmac_nonce(message: &[u8]) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&message[24..32]);
    let header_flags = u32::from_le_bytes(message[16..20].try_into().expect("header"));
    let command = u16::from_le_bytes([message[12], message[13]]);
    let mut bits = 0u32;
    if header_flags & flags::SERVER_TO_REDIR != 0 {
        bits |= 1;
    }
    if command == 12 {
        bits |= 2;
    }
    nonce[8..].copy_from_slice(&bits.to_le_bytes());
    nonce
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// RFC 4493 section 4's AES-CMAC examples, through the same primitive
    /// the signer uses.
    #[test]
    fn aes_cmac_matches_rfc_4493() {
        let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
        let msg = hex(
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
             30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
        );
        for (len, tag) in [
            (0, "bb1d6929e95937287fa37d129b756746"),
            (16, "070a16b46b4d4144f79bdd9dd04a287c"),
            (40, "dfa66747de9ae63030ca32611497c827"),
            (64, "51f0bebf7e3b9d92fc49741779363cfe"),
        ] {
            let mut mac = <Cmac<Aes128> as Mac>::new_from_slice(&key).unwrap();
            mac.update(&msg[..len]);
            assert_eq!(
                mac.finalize().into_bytes().to_vec(),
                hex(tag),
                "{len} bytes"
            );
        }
    }

    fn message() -> Vec<u8> {
        let mut m = vec![0u8; 80];
        m[..4].copy_from_slice(&[0xFE, b'S', b'M', b'B']);
        m[24] = 5;
        m
    }

    #[test]
    fn each_algorithm_signs_and_detects_tampering() {
        for alg in [
            SigningAlgorithm::HmacSha256,
            SigningAlgorithm::AesCmac,
            SigningAlgorithm::AesGmac,
        ] {
            let signer = Signer::new(alg, Zeroizing::new(vec![7; 16]));
            let mut m = message();
            signer.sign(&mut m);
            assert!(signer.verify(&m), "{alg:?}");
            assert_ne!(&m[48..64], &[0; 16]);
            m[70] ^= 1;
            assert!(!signer.verify(&m), "{alg:?} missed a flipped bit");
        }
    }

    #[test]
    fn gmac_nonce_marks_direction_and_cancel() {
        let mut m = message();
        assert_eq!(&gmac_nonce(&m)[8..], &[0, 0, 0, 0]);
        m[16] = 1; // SERVER_TO_REDIR
        m[12] = 12; // CANCEL
        assert_eq!(gmac_nonce(&m)[..8], [5, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&gmac_nonce(&m)[8..], &[3, 0, 0, 0]);
    }

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
