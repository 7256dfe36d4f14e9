//! The few SPNEGO tokens NTLM authentication needs, in DER: the client's
//! NegTokenInit and NegTokenResp, and the server's NegTokenResp.

use crate::client::wire::DecodeError;

/// SPNEGO's OID, 1.3.6.1.5.5.2.
const SPNEGO_OID: [u8; 6] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// NTLMSSP's OID, 1.3.6.1.4.1.311.2.2.10.
pub const NTLMSSP_OID: [u8; 10] = [0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];

fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len < 0x1_0000 {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    } else {
        out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    }
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    der_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// The DER MechTypeList offering NTLMSSP alone: what the client's
/// mechListMIC signs.
pub fn mech_type_list() -> Vec<u8> {
    tlv(0x30, &tlv(0x06, &NTLMSSP_OID))
}

/// The first token: a NegTokenInit offering NTLMSSP, with `ntlm_negotiate`
/// as its optimistic mechToken.
pub fn neg_token_init(ntlm_negotiate: &[u8]) -> Vec<u8> {
    let mut body = tlv(0xa0, &mech_type_list());
    body.extend(tlv(0xa2, &tlv(0x04, ntlm_negotiate)));
    let mut inner = tlv(0x06, &SPNEGO_OID);
    inner.extend(tlv(0xa0, &tlv(0x30, &body)));
    tlv(0x60, &inner)
}

/// The client's second token: a NegTokenResp with the NTLM AUTHENTICATE
/// message and, when NTLM signed one, the mechListMIC.
pub fn neg_token_resp(ntlm_authenticate: &[u8], mech_list_mic: Option<&[u8]>) -> Vec<u8> {
    let mut body = tlv(0xa2, &tlv(0x04, ntlm_authenticate));
    if let Some(mic) = mech_list_mic {
        body.extend(tlv(0xa3, &tlv(0x04, mic)));
    }
    tlv(0xa1, &tlv(0x30, &body))
}

/// SPNEGO's negotiation states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegState {
    /// Done: the server accepted.
    AcceptCompleted,
    /// More tokens to come.
    AcceptIncomplete,
    /// The server refused.
    Reject,
    /// The server wants a mechListMIC.
    RequestMic,
}

/// The server's NegTokenResp.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NegTokenResp {
    /// The state, when given.
    pub state: Option<NegState>,
    /// The mechanism the server chose, as a DER OID body.
    pub supported_mech: Option<Vec<u8>>,
    /// The mechanism's token (the NTLM CHALLENGE).
    pub response_token: Option<Vec<u8>>,
    /// The server's mechListMIC.
    pub mech_list_mic: Option<Vec<u8>>,
}

const WHAT: &str = "SPNEGO token";

/// Reads one DER TLV; returns (tag, content, rest).
fn read_tlv(bytes: &[u8]) -> Result<(u8, &[u8], &[u8]), DecodeError> {
    let err = |why: &str| DecodeError::new(WHAT, why);
    let (&tag, rest) = bytes.split_first().ok_or_else(|| err("empty"))?;
    let (&first, mut rest) = rest.split_first().ok_or_else(|| err("no length"))?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return Err(err("bad length"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(DecodeError::new(
            WHAT,
            format_args!("element of {len} bytes, {} left", rest.len()),
        ));
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

impl NegTokenResp {
    /// Decodes the server's `[1] NegTokenResp`.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (tag, content, _) = read_tlv(bytes)?;
        if tag != 0xa1 {
            return Err(DecodeError::new(
                WHAT,
                format_args!("tag {tag:#04x}, not NegTokenResp"),
            ));
        }
        let (tag, mut fields, _) = read_tlv(content)?;
        if tag != 0x30 {
            return Err(DecodeError::new(WHAT, "NegTokenResp is not a SEQUENCE"));
        }
        let mut out = NegTokenResp::default();
        while !fields.is_empty() {
            let (tag, field, rest) = read_tlv(fields)?;
            fields = rest;
            let (inner_tag, value, _) = read_tlv(field)?;
            match (tag, inner_tag) {
                (0xa0, 0x0a) => {
                    out.state = Some(match value {
                        [0] => NegState::AcceptCompleted,
                        [1] => NegState::AcceptIncomplete,
                        [2] => NegState::Reject,
                        [3] => NegState::RequestMic,
                        _ => return Err(DecodeError::new(WHAT, "unknown negState")),
                    })
                }
                (0xa1, 0x06) => out.supported_mech = Some(value.to_vec()),
                (0xa2, 0x04) => out.response_token = Some(value.to_vec()),
                (0xa3, 0x04) => out.mech_list_mic = Some(value.to_vec()),
                _ => {}
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_token_wraps_the_ntlm_message() {
        let t = neg_token_init(b"NTLMSSP\0xyz");
        assert_eq!(t[0], 0x60);
        assert_eq!(t[1] as usize, t.len() - 2);
        assert!(t.windows(10).any(|w| w == NTLMSSP_OID));
        assert!(t.ends_with(b"NTLMSSP\0xyz"));
    }

    #[test]
    fn a_server_response_decodes() {
        let mut body = tlv(0xa0, &tlv(0x0a, &[1]));
        body.extend(tlv(0xa1, &tlv(0x06, &NTLMSSP_OID)));
        body.extend(tlv(0xa2, &tlv(0x04, &vec![9u8; 300])));
        let token = tlv(0xa1, &tlv(0x30, &body));
        let r = NegTokenResp::decode(&token).unwrap();
        assert_eq!(r.state, Some(NegState::AcceptIncomplete));
        assert_eq!(r.supported_mech.as_deref(), Some(&NTLMSSP_OID[..]));
        assert_eq!(r.response_token.unwrap().len(), 300);
        // Our own response token decodes with the same reader.
        let ours = NegTokenResp::decode(&neg_token_resp(b"auth", Some(b"mic"))).unwrap();
        assert_eq!(ours.mech_list_mic.as_deref(), Some(&b"mic"[..]));
    }

    #[test]
    fn truncated_tokens_are_errors() {
        let token = neg_token_resp(b"auth", None);
        for cut in 0..token.len() {
            assert!(NegTokenResp::decode(&token[..cut]).is_err(), "cut at {cut}");
        }
    }
}
