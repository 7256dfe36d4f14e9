//! Entry points for the fuzz targets in the workspace's `fuzz/` crate
//! (feature `fuzzing`). Not an API: they change with the decoders they drive.
//!
//! Each takes the fuzzer's bytes, drives a decoder of bytes from a peer,
//! and panics when the decoder breaks a rule it promises (refusing bad input
//! is its job, not a failure).

use crate::np;

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
    use super::*;

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
