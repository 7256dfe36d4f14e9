//! Entry points for the fuzz targets in the workspace's `fuzz/` crate
//! (feature `fuzzing`). Not an API: they change with the decoders they drive.
//!
//! Every decoder of bytes from an SMB server has one. Each takes the
//! fuzzer's bytes, drives the decoder, and panics when it breaks a rule it
//! promises (refusing malformed input is its job; panicking, reading past
//! the message, or decoding differently when re-encoded is not).

use std::io::{self, Read};

use zeroize::Zeroizing;

use crate::client::auth::{ntlm, spnego};
use crate::client::conn::frames::{FrameReader, Next, Stop};
use crate::client::crypto::cipher::Encryptor;
use crate::client::wire::framing::frame_header;
use crate::client::wire::header::{HEADER_LEN, Header};
use crate::client::wire::messages::{
    SessionSetupResponse, TreeConnectResponse, decode_create_response, decode_error_response,
    decode_ioctl_response, decode_read_response, decode_write_response,
};
use crate::client::wire::negotiate::{Cipher, NegotiateResponse};
use crate::np;

/// The SMB2 header: what decodes encodes back to a header that decodes the same.
pub fn header(data: &[u8]) {
    if let Ok(h) = Header::decode(data) {
        let mut bytes = Vec::new();
        h.encode(&mut bytes);
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(Header::decode(&bytes), Ok(h));
    }
}

/// The NEGOTIATE response and its 3.1.1 contexts: a decoded security
/// buffer is a part of the message.
pub fn negotiate(data: &[u8]) {
    if let Ok(r) = NegotiateResponse::decode(data) {
        assert!(r.security_buffer.len() <= data.len());
    }
}

/// SESSION_SETUP's response, the SPNEGO token in it and the NTLM
/// CHALLENGE in that: each decoder on its own bytes, and chained.
pub fn session_setup(data: &[u8]) {
    let _ = spnego::NegTokenResp::decode(data);
    let _ = ntlm::Challenge::decode(data);
    if let Ok(setup) = SessionSetupResponse::decode(data) {
        assert!(setup.token.len() <= data.len());
        if let Ok(token) = spnego::NegTokenResp::decode(&setup.token) {
            if let Some(challenge) = token.response_token {
                if let Ok(c) = ntlm::Challenge::decode(&challenge) {
                    // The client answers with what it decoded: that must
                    // not panic either.
                    let nonces = ntlm::ClientNonces {
                        client_challenge: [1; 8],
                        exported_session_key: Zeroizing::new([2; 16]),
                        time: [3; 8],
                    };
                    let _ = ntlm::authenticate(&[4; 16], "u", "d", b"neg", &challenge, &c, &nonces);
                }
            }
        }
    }
}

/// The responses to TREE_CONNECT, CREATE, READ, WRITE and IOCTL, and error
/// responses: data and outputs they return lie inside the message.
pub fn responses(data: &[u8]) {
    let _ = TreeConnectResponse::decode(data);
    let _ = decode_create_response(data);
    let _ = decode_write_response(data);
    for out in [
        decode_read_response(data).ok(),
        decode_ioctl_response(data).ok(),
        decode_error_response(data).ok(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(out.len() <= data.len().saturating_sub(HEADER_LEN));
    }
}

/// An encrypted message: the transform header is checked and decryption
/// refuses what the key did not seal, without panicking.
pub fn transform(data: &[u8]) {
    let key = Zeroizing::new(vec![7u8; 16]);
    for cipher in [Cipher::Aes128Gcm, Cipher::Aes128Ccm] {
        let session = data
            .get(44..52)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()));
        let e = Encryptor::new(cipher, &key, &key, session);
        let _ = e.decrypt(data.to_vec());
    }
}

/// Direct-TCP framing: the frames read through the buffered reader, in
/// whatever pieces the socket gives them, are the frames of the whole
/// stream read at once. The first byte sets the piece size.
pub fn frames(data: &[u8]) {
    let Some((&piece, stream)) = data.split_first() else {
        return;
    };
    let whole = split_frames(stream);
    let mut source = Pieces {
        bytes: stream,
        piece: piece as usize % 97 + 1,
        stall: false,
    };
    let mut reader = FrameReader::default();
    let mut got = Vec::new();
    loop {
        match reader.next(&mut source) {
            Ok(Next::Frame(f)) => got.push(f),
            Ok(Next::Idle) => continue,
            Err(Stop::Closed) => break,
            Err(Stop::Malformed(_)) => {
                assert!(whole.1, "a frame refused in pieces was fine whole");
                break;
            }
            Err(Stop::Io(e)) => panic!("{e}"),
        }
    }
    assert_eq!(got, whole.0);
}

/// Splits a stream the simple way: `(frames, whether it ended on a bad header)`.
fn split_frames(mut s: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let mut out = Vec::new();
    while s.len() >= 4 {
        if s[0] != 0 {
            return (out, true);
        }
        let len = u32::from_be_bytes([0, s[1], s[2], s[3]]) as usize;
        if len < 4 {
            return (out, true);
        }
        if s.len() < 4 + len {
            break;
        }
        out.push(s[4..4 + len].to_vec());
        debug_assert_eq!(frame_header(len), s[..4]);
        s = &s[4 + len..];
    }
    (out, false)
}

/// A socket that gives `piece` bytes at a time, with a timeout between reads.
struct Pieces<'a> {
    bytes: &'a [u8],
    piece: usize,
    stall: bool,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stall = !self.stall;
        if self.stall {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.piece.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

// Samba's named-pipe hand-off (what smbd sends a pipe server, and its answer).

/// smbd's hand-off request: never panics; what decodes has the length its
/// prefix says, and encodes to bytes that decode to the same request.
pub fn np_request(data: &[u8]) {
    let Ok(request) = np::decode_request(data) else {
        return;
    };
    let prefix: [u8; 4] = data[..4]
        .try_into()
        .expect("a decoded request has a prefix");
    assert_eq!(np::request_length(prefix), Ok(data.len()));
    let encoded = request
        .encode()
        .expect("a decoded request encodes in its own layout");
    assert_eq!(np::decode_request(&encoded).as_ref(), Ok(&request));
}

/// The hand-off reply (what a pipe server sends smbd): never panics; what
/// decodes is what the encoder makes of its level, type and status.
pub fn np_reply(data: &[u8]) {
    let Ok(reply) = np::decode_reply(data) else {
        return;
    };
    let again = np::decode_reply(&np::encode_reply(
        reply.level,
        reply.file_type,
        reply.status,
    ))
    .expect("an encoded reply decodes");
    assert_eq!(
        (again.level, again.file_type, again.status),
        (reply.level, reply.file_type, reply.status)
    );
}

#[cfg(test)]
mod tests {
    use super::{np, np_reply, np_request};

    /// The entry points accept what the tests' own messages are made of.
    #[test]
    fn entry_points_run_on_simple_inputs() {
        for f in [
            super::header,
            super::negotiate,
            super::session_setup,
            super::responses,
            super::transform,
            super::frames,
        ] {
            f(&[]);
            f(&[0; 200]);
            f(&[0xFE, b'S', b'M', b'B', 64, 0]);
        }
        super::frames(&[
            3, 0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o', 0, 0, 0, 4, 1, 2, 3, 4,
        ]);
    }

    /// Found by smb_responses: an IOCTL response (CtlCode 0x11C017)
    /// whose output lies partly in its own header.
    #[test]
    fn regression_ioctl_output_in_the_header() {
        super::responses(&[
            254, 83, 77, 66, 64, 0, 1, 0, 0, 0, 0, 0, 11, 0, 128, 0, 9, 0, 0, 0, 0, 0, 0, 0, 5, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 31, 210, 26, 155, 142, 116, 63, 174, 0, 0, 0, 0, 158,
            168, 205, 25, 247, 150, 188, 119, 7, 199, 121, 249, 145, 200, 131, 215, 49, 0, 0, 0,
            23, 192, 17, 0, 137, 208, 143, 38, 0, 0, 0, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22,
            0, 217, 6, 193, 251, 42, 0, 0, 0, 0, 112, 0, 0, 0, 0, 0, 0, 0, 112, 0, 0, 0, 4, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 112, 105, 110, 103,
        ]);
    }

    #[test]
    fn the_entry_points_hold_on_real_and_broken_input() {
        let captured = include_bytes!("../tests/fixtures/npa-req-level7-samba-4.17.12.bin");
        np_request(captured);
        for level in np::LEVELS {
            np_request(
                &np::AuthRequest::example(level, "fuzz", 1000)
                    .encode()
                    .unwrap(),
            );
        }
        np_request(&captured[..100]);
        np_request(b"");
        np_reply(&np::encode_reply(
            7,
            np::FileType::Message,
            np::STATUS_SUCCESS,
        ));
        np_reply(&[0xff; np::REPLY_LEN]);
    }
}
