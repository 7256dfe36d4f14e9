//! NTLMv2 (MS-NLMP): the NEGOTIATE, CHALLENGE and AUTHENTICATE messages,
//! the NTLMv2 response with key exchange and the MIC, and the NTLM
//! signature SPNEGO's mechListMIC needs.

use hmac::{Hmac, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use rc4::{KeyInit as _, Rc4, StreamCipher, consts::U16};
use zeroize::Zeroizing;

use crate::client::wire::{DecodeError, Put, Reader, from_utf16le, slice, utf16le};

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// NegotiateFlags.
pub mod flags {
    #![allow(missing_docs)]
    pub const UNICODE: u32 = 0x0000_0001;
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    pub const SIGN: u32 = 0x0000_0010;
    pub const SEAL: u32 = 0x0000_0020;
    pub const NTLM: u32 = 0x0000_0200;
    pub const ANONYMOUS: u32 = 0x0000_0800;
    pub const ALWAYS_SIGN: u32 = 0x0000_8000;
    pub const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    pub const TARGET_INFO: u32 = 0x0080_0000;
    pub const VERSION: u32 = 0x0200_0000;
    pub const F128: u32 = 0x2000_0000;
    pub const KEY_EXCH: u32 = 0x4000_0000;
    pub const F56: u32 = 0x8000_0000;
}

/// What the client asks for: Unicode, NTLMv2 with extended session
/// security, signing and sealing (for the mechListMIC), 128-bit keys and a
/// key exchange.
pub const CLIENT_FLAGS: u32 = flags::UNICODE
    | flags::REQUEST_TARGET
    | flags::SIGN
    | flags::SEAL
    | flags::NTLM
    | flags::ALWAYS_SIGN
    | flags::EXTENDED_SESSIONSECURITY
    | flags::TARGET_INFO
    | flags::VERSION
    | flags::F128
    | flags::KEY_EXCH
    | flags::F56;

/// Windows 10's version field with NTLM revision 15.
const VERSION: [u8; 8] = [10, 0, 0x61, 0x4a, 0, 0, 0, 15];

/// The NEGOTIATE_MESSAGE.
pub fn negotiate_message() -> Vec<u8> {
    let mut m = Vec::with_capacity(40);
    m.extend_from_slice(SIGNATURE);
    m.u32(1);
    m.u32(CLIENT_FLAGS);
    m.extend_from_slice(&[0; 16]); // no domain or workstation
    m.extend_from_slice(&VERSION);
    m
}

/// AV pair ids (MS-NLMP 2.2.2.1).
mod av {
    pub const EOL: u16 = 0;
    pub const NB_COMPUTER_NAME: u16 = 1;
    pub const NB_DOMAIN_NAME: u16 = 2;
    pub const DNS_COMPUTER_NAME: u16 = 3;
    pub const FLAGS: u16 = 6;
    pub const TIMESTAMP: u16 = 7;
}

/// The server's CHALLENGE_MESSAGE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The flags the server agreed to.
    pub flags: u32,
    /// The 8-byte server challenge.
    pub server_challenge: [u8; 8],
    /// The raw target information (AV pairs).
    pub target_info: Vec<u8>,
    /// The server's NetBIOS name, from the target information.
    pub computer_name: Option<String>,
    /// The server's NetBIOS domain.
    pub domain_name: Option<String>,
    /// The server's DNS name.
    pub dns_computer_name: Option<String>,
    /// The server's FILETIME, when it sent one.
    pub timestamp: Option<[u8; 8]>,
}

const WHAT: &str = "NTLM CHALLENGE message";

fn fields(r: &mut Reader<'_>) -> Result<(usize, usize), DecodeError> {
    let len = r.u16()? as usize;
    let _max = r.u16()?;
    let offset = r.u32()? as usize;
    Ok((len, offset))
}

/// Splits AV pairs into (id, value) until MsvAvEOL.
fn av_pairs(info: &[u8]) -> Result<Vec<(u16, &[u8])>, DecodeError> {
    let mut r = Reader::new(info, WHAT);
    let mut out = Vec::new();
    loop {
        let id = r.u16()?;
        let len = r.u16()? as usize;
        let value = r.take(len)?;
        if id == av::EOL {
            return Ok(out);
        }
        out.push((id, value));
    }
}

impl Challenge {
    /// Decodes the server's CHALLENGE_MESSAGE.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, WHAT);
        if r.take(8)? != SIGNATURE {
            return Err(r.error("no NTLMSSP signature"));
        }
        if r.u32()? != 2 {
            return Err(r.error("not a CHALLENGE message"));
        }
        let _target_name = fields(&mut r)?;
        let flags = r.u32()?;
        let server_challenge = r.array()?;
        r.skip(8)?;
        let (info_len, info_offset) = fields(&mut r)?;
        let target_info = slice(bytes, info_offset, info_len, WHAT, "target info")?.to_vec();
        let mut c = Challenge {
            flags,
            server_challenge,
            computer_name: None,
            domain_name: None,
            dns_computer_name: None,
            timestamp: None,
            target_info: Vec::new(),
        };
        for (id, value) in av_pairs(&target_info)? {
            match id {
                av::NB_COMPUTER_NAME => c.computer_name = Some(from_utf16le(value)),
                av::NB_DOMAIN_NAME => c.domain_name = Some(from_utf16le(value)),
                av::DNS_COMPUTER_NAME => c.dns_computer_name = Some(from_utf16le(value)),
                av::TIMESTAMP => {
                    c.timestamp = Some(
                        value
                            .try_into()
                            .map_err(|_| DecodeError::new(WHAT, "MsvAvTimestamp is not 8 bytes"))?,
                    )
                }
                _ => {}
            }
        }
        c.target_info = target_info;
        Ok(c)
    }
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(key).expect("any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// NTOWFv2: HMAC-MD5 of the upper-cased user and the domain, keyed by the
/// MD4 of the password.
pub fn ntowfv2(password: &str, user: &str, domain: &str) -> Zeroizing<[u8; 16]> {
    let nt_hash = Zeroizing::new(<[u8; 16]>::from(Md4::digest(Zeroizing::new(utf16le(
        password,
    )))));
    let identity = utf16le(&(user.to_uppercase() + domain));
    Zeroizing::new(hmac_md5(&nt_hash[..], &[&identity]))
}

/// The inputs of one authentication that are chosen by the client.
pub struct ClientNonces {
    /// The 8-byte client challenge.
    pub client_challenge: [u8; 8],
    /// The random session key sent encrypted (KEY_EXCH).
    pub exported_session_key: Zeroizing<[u8; 16]>,
    /// The client's time (FILETIME), used when the server sent none.
    pub time: [u8; 8],
}

impl ClientNonces {
    /// Fresh random nonces and the current time.
    pub fn random() -> Self {
        let mut client_challenge = [0u8; 8];
        let mut key = Zeroizing::new([0u8; 16]);
        getrandom::fill(&mut client_challenge).expect("the OS has randomness");
        getrandom::fill(&mut key[..]).expect("the OS has randomness");
        let since_1601 = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64 / 100 + 116_444_736_000_000_000)
            .unwrap_or(0);
        Self {
            client_challenge,
            exported_session_key: key,
            time: since_1601.to_le_bytes(),
        }
    }
}

/// The results of computing NTLMv2's responses.
pub struct Responses {
    /// NtChallengeResponse (NTProofStr || temp).
    pub nt_response: Vec<u8>,
    /// LmChallengeResponse (zeros when the server sent a timestamp).
    pub lm_response: Vec<u8>,
    /// SessionBaseKey (= KeyExchangeKey for NTLMv2).
    pub session_base_key: Zeroizing<[u8; 16]>,
}

/// Computes NTLMv2's responses (MS-NLMP 3.3.2) over `target_info` as the
/// client sends it back.
pub fn ntlmv2_responses(
    ntowf: &[u8; 16],
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    time: &[u8; 8],
    target_info: &[u8],
    zero_lm: bool,
) -> Responses {
    let mut temp = Vec::with_capacity(28 + target_info.len() + 4);
    temp.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    temp.extend_from_slice(time);
    temp.extend_from_slice(client_challenge);
    temp.extend_from_slice(&[0; 4]);
    temp.extend_from_slice(target_info);
    temp.extend_from_slice(&[0; 4]);
    let nt_proof = hmac_md5(ntowf, &[server_challenge, &temp]);
    let mut nt_response = nt_proof.to_vec();
    nt_response.extend_from_slice(&temp);
    let lm_response = if zero_lm {
        vec![0; 24]
    } else {
        let mut lm = hmac_md5(ntowf, &[server_challenge, client_challenge]).to_vec();
        lm.extend_from_slice(client_challenge);
        lm
    };
    Responses {
        nt_response,
        lm_response,
        session_base_key: Zeroizing::new(hmac_md5(ntowf, &[&nt_proof])),
    }
}

/// RC4 of `data` under a 16-byte key (KEY_EXCH, and sealing checksums).
pub fn rc4(key: &[u8; 16], data: &mut [u8]) {
    let mut cipher = Rc4::<U16>::new(key.into());
    cipher.apply_keystream(data);
}

/// The target information the client sends back: the server's, with
/// MsvAvFlags saying a MIC is present.
fn client_target_info(server: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(server.len() + 8);
    let mut flags_seen = false;
    for (id, value) in av_pairs(server)? {
        out.u16(id);
        out.u16(value.len() as u16);
        if id == av::FLAGS && value.len() == 4 {
            let f = u32::from_le_bytes(value.try_into().expect("4 bytes")) | 0x2;
            out.u32(f);
            flags_seen = true;
        } else {
            out.extend_from_slice(value);
        }
    }
    if !flags_seen {
        out.u16(av::FLAGS);
        out.u16(4);
        out.u32(0x2);
    }
    out.u16(av::EOL);
    out.u16(0);
    Ok(out)
}

/// A finished authentication: the AUTHENTICATE message and the keys.
pub struct Authenticated {
    /// The AUTHENTICATE_MESSAGE, MIC included.
    pub message: Vec<u8>,
    /// The session key SMB derives its keys from.
    pub session_key: Zeroizing<[u8; 16]>,
    /// The flags both sides agreed on.
    pub flags: u32,
}

/// Builds the AUTHENTICATE_MESSAGE for `user` in `domain`.
pub fn authenticate(
    ntowf: &[u8; 16],
    user: &str,
    domain: &str,
    negotiate_msg: &[u8],
    challenge_msg: &[u8],
    challenge: &Challenge,
    nonces: &ClientNonces,
) -> Result<Authenticated, DecodeError> {
    let info = client_target_info(&challenge.target_info)?;
    let time = challenge.timestamp.unwrap_or(nonces.time);
    let r = ntlmv2_responses(
        ntowf,
        &challenge.server_challenge,
        &nonces.client_challenge,
        &time,
        &info,
        challenge.timestamp.is_some(),
    );
    let agreed = challenge.flags & CLIENT_FLAGS;
    let (session_key, encrypted_key) = if agreed & flags::KEY_EXCH != 0 {
        let mut enc = *nonces.exported_session_key;
        rc4(&r.session_base_key, &mut enc);
        (nonces.exported_session_key.clone(), enc.to_vec())
    } else {
        (r.session_base_key.clone(), Vec::new())
    };
    let domain = utf16le(domain);
    let user = utf16le(user);
    let workstation: Vec<u8> = Vec::new();
    let payload: [&[u8]; 6] = [
        &r.lm_response,
        &r.nt_response,
        &domain,
        &user,
        &workstation,
        &encrypted_key,
    ];
    const FIXED: usize = 88;
    let mut m = Vec::with_capacity(FIXED + payload.iter().map(|p| p.len()).sum::<usize>());
    m.extend_from_slice(SIGNATURE);
    m.u32(3);
    let mut offset = FIXED;
    for p in payload {
        m.u16(p.len() as u16);
        m.u16(p.len() as u16);
        m.u32(offset as u32);
        offset += p.len();
    }
    m.u32(agreed);
    m.extend_from_slice(&VERSION);
    let mic_at = m.len();
    m.extend_from_slice(&[0; 16]);
    for p in payload {
        m.extend_from_slice(p);
    }
    let mic = hmac_md5(&session_key[..], &[negotiate_msg, challenge_msg, &m]);
    m[mic_at..mic_at + 16].copy_from_slice(&mic);
    Ok(Authenticated {
        message: m,
        session_key,
        flags: agreed,
    })
}

/// The NTLM signature (MS-NLMP 3.4.4.2, extended session security) of
/// `message` with sequence number `seq`, from the client's side: what
/// SPNEGO's mechListMIC carries.
pub fn client_signature(session_key: &[u8; 16], agreed: u32, seq: u32, message: &[u8]) -> [u8; 16] {
    let mut sign_key_input = session_key.to_vec();
    sign_key_input
        .extend_from_slice(b"session key to client-to-server signing key magic constant\0");
    let sign_key: [u8; 16] = Md5::digest(&sign_key_input).into();
    let mut seal_key_input = session_key.to_vec();
    seal_key_input
        .extend_from_slice(b"session key to client-to-server sealing key magic constant\0");
    let seal_key: [u8; 16] = Md5::digest(&seal_key_input).into();
    let mac = hmac_md5(&sign_key, &[&seq.to_le_bytes(), message]);
    let mut checksum: [u8; 8] = mac[..8].try_into().expect("8 bytes");
    if agreed & flags::KEY_EXCH != 0 {
        rc4(&seal_key, &mut checksum);
    }
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&1u32.to_le_bytes());
    out[4..12].copy_from_slice(&checksum);
    out[12..].copy_from_slice(&seq.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::crypto::signing::tests::hex;

    // MS-NLMP 4.2.1 and 4.2.4: User "User", domain "Domain", password
    // "Password", server challenge 0123456789abcdef, client challenge
    // aa..aa, time 0, random session key 55..55, and target information
    // naming domain "Domain" and server "Server".
    fn spec_target_info() -> Vec<u8> {
        hex("02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000")
    }

    #[test]
    fn ntowfv2_matches_ms_nlmp_4_2_4() {
        let k = ntowfv2("Password", "User", "Domain");
        assert_eq!(k.to_vec(), hex("0c868a403bfd7a93a3001ef22ef02e3f"));
    }

    #[test]
    fn ntlmv2_responses_match_ms_nlmp_4_2_4() {
        let k = ntowfv2("Password", "User", "Domain");
        let server = hex("0123456789abcdef").try_into().unwrap();
        let client = [0xaa; 8];
        let info = spec_target_info();
        let r = ntlmv2_responses(&k, &server, &client, &[0; 8], &info, false);
        assert_eq!(
            r.lm_response,
            hex("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
        );
        assert_eq!(
            r.nt_response[..16],
            hex("68cd0ab851e51c96aabc927bebef6a1c")[..]
        );
        assert_eq!(
            r.session_base_key.to_vec(),
            hex("8de40ccadbc14a82f15cb0ad0de95ca3")
        );
        let mut key = [0x55u8; 16];
        rc4(&r.session_base_key, &mut key);
        assert_eq!(key.to_vec(), hex("c5dad2544fc9799094ce1ce90bc9d03e"));
    }

    fn challenge_message(info: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(SIGNATURE);
        m.u32(2);
        m.extend_from_slice(&[0; 8]);
        m.u32(CLIENT_FLAGS);
        m.extend_from_slice(&hex("0123456789abcdef"));
        m.extend_from_slice(&[0; 8]);
        m.u16(info.len() as u16);
        m.u16(info.len() as u16);
        m.u32(56);
        m.extend_from_slice(&VERSION);
        m.extend_from_slice(info);
        m
    }

    #[test]
    fn a_challenge_decodes_and_the_mic_covers_all_three_messages() {
        let bytes = challenge_message(&spec_target_info());
        let c = Challenge::decode(&bytes).unwrap();
        assert_eq!(c.computer_name.as_deref(), Some("Server"));
        assert_eq!(c.domain_name.as_deref(), Some("Domain"));
        let nonces = ClientNonces {
            client_challenge: [0xaa; 8],
            exported_session_key: Zeroizing::new([0x55; 16]),
            time: [0; 8],
        };
        let k = ntowfv2("Password", "User", "Domain");
        let neg = negotiate_message();
        let a = authenticate(&k, "User", "Domain", &neg, &bytes, &c, &nonces).unwrap();
        assert_eq!(a.session_key.to_vec(), vec![0x55; 16]);
        let mut zeroed = a.message.clone();
        zeroed[72..88].fill(0);
        let mic = hmac_md5(&[0x55; 16], &[&neg, &bytes, &zeroed]);
        assert_eq!(a.message[72..88], mic);
        // The MIC flag is set in the echoed target info.
        assert!(a.message.windows(8).any(|w| w == [6, 0, 4, 0, 2, 0, 0, 0]));
    }

    #[test]
    fn truncated_challenges_are_errors() {
        let bytes = challenge_message(&spec_target_info());
        for cut in 0..bytes.len() {
            assert!(Challenge::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
