use super::*;

/// A request smbd 4.17.12 (Debian 12) sent when impacket opened a pipe on
/// the test bed's host as its test user (uid 1001).
const CAPTURED_LEVEL7: &[u8] =
    include_bytes!("../../tests/fixtures/npa-req-level7-samba-4.17.12.bin");

#[test]
fn decodes_what_smbd_4_17_sent() {
    let req = decode_request(CAPTURED_LEVEL7).unwrap();
    assert_eq!(req.level, 7);
    assert_eq!(req.layout, Layout::for_level(7).unwrap()[0]);
    assert_eq!(req.transport, Some(1));
    assert_eq!(req.remote_client_addr.as_deref(), Some("10.77.61.117"));
    assert_eq!(req.remote_client_port, 55352);
    assert_eq!(req.local_server_addr.as_deref(), Some("10.77.61.118"));
    assert_eq!(req.local_server_port, 445);
    assert_eq!(req.account_name(), Some("pwt12261x3"));
    assert_eq!(req.domain_name(), Some("PWTESTHOST"));
    assert_eq!(req.unix_name(), Some("pwt12261x3"));
    assert_eq!(req.unix_ids(), Some((1001, 1001, &[1001u64][..])));
    let sids: Vec<String> = req.sids().iter().map(Sid::to_string).collect();
    assert_eq!(
        sids,
        [
            "S-1-5-21-3387137905-872848467-374347351-1000",
            "S-1-5-21-3387137905-872848467-374347351-513",
            "S-1-22-2-1001",
            "S-1-1-0",
            "S-1-5-2",
            "S-1-5-11",
            "S-1-22-1-1001",
            "S-1-22-1397571891-785-2-1",
            "S-1-22-2041152804-0",
        ]
    );
    assert!(!req.is_guest());
    let user = req.session.user.as_ref().unwrap();
    assert_eq!(user.flags, 1, "authenticated, as 4.17 says it");
    assert_eq!(
        user.profile_path.as_deref(),
        Some(r"\\PWTESTHOST\pwt12261x3\profile")
    );
    assert_eq!(req.session.session_key.0.len(), 16);
    assert_eq!(req.session.ticket_type, Some(0));
}

#[test]
fn the_encoder_writes_what_smbd_wrote() {
    let req = decode_request(CAPTURED_LEVEL7).unwrap();
    assert_eq!(req.encode().unwrap(), CAPTURED_LEVEL7);
}

#[test]
fn every_layout_of_every_level_round_trips() {
    for level in LEVELS {
        for layout in Layout::for_level(level).unwrap() {
            let mut req = AuthRequest::example(level, "alice", 1000);
            req.layout = *layout;
            req.transport = layout.transport.then_some(1);
            req.need_idle_server = layout.need_idle_server.then_some(true);
            req.session.ticket_type = layout.ticket_type.then_some(2);
            let token = req.session.token.as_mut().unwrap();
            token.evaluate_claims = layout.claims_token.then_some(1);
            if layout.claims_token {
                token.device_sids = vec!["S-1-5-21-9-9-9-1105".parse().unwrap()];
            }
            req.session.user.as_mut().unwrap().flags = 0x20;
            let bytes = req.encode().unwrap();
            let decoded =
                decode_request(&bytes).unwrap_or_else(|e| panic!("level {level} {layout:?}: {e}"));
            assert_eq!(decoded, req, "level {level} {layout:?}");
        }
    }
}

#[test]
fn the_example_is_the_latest_layout_of_its_level() {
    for level in LEVELS {
        let req = AuthRequest::example(level, "bob", 1002);
        assert_eq!(decode_request(&req.encode().unwrap()).unwrap(), req);
    }
}

#[test]
fn odd_lengths_and_many_groups_keep_their_alignment() {
    // Strings of every length modulo 8 and a long group list move every
    // later field across alignment boundaries.
    for pad in 0..8 {
        let mut req = AuthRequest::example(7, &"a".repeat(1 + pad), 1000);
        req.remote_client_name = Some("c".repeat(pad));
        let token = req.session.token.as_mut().unwrap();
        for rid in 0..(300 + pad as u32) {
            token
                .sids
                .push(format!("S-1-5-21-1-2-3-{rid}").parse().unwrap());
        }
        req.session.unix_token.as_mut().unwrap().groups = (0..(pad as u64 * 3)).collect();
        let bytes = req.encode().unwrap();
        assert_eq!(decode_request(&bytes).unwrap(), req, "pad {pad}");
    }
}

#[test]
fn a_guest_is_known_by_its_token_not_by_the_flag() {
    let authenticated = AuthRequest::example(7, "carol", 1003);
    assert!(!authenticated.is_guest());
    let mut guest = authenticated.clone();
    let token = guest.session.token.as_mut().unwrap();
    token.sids.retain(|sid| sid.to_string() != "S-1-5-11");
    // What 4.17 sends for an authenticated user is 4.19's guest flag.
    guest.session.user.as_mut().unwrap().flags = 1;
    let decoded = decode_request(&guest.encode().unwrap()).unwrap();
    assert!(decoded.is_guest());
}

#[test]
fn levels_4_and_5_decode_with_or_without_ticket_type() {
    for level in [4, 5] {
        for layout in Layout::for_level(level).unwrap() {
            let mut req = AuthRequest::example(level, "dave", 1004);
            req.layout = *layout;
            req.session.ticket_type = layout.ticket_type.then_some(0);
            let decoded = decode_request(&req.encode().unwrap()).unwrap();
            assert_eq!(decoded.session.ticket_type, req.session.ticket_type);
            assert_eq!(decoded.account_name(), Some("dave"));
        }
    }
}

#[test]
fn unknown_levels_are_refused() {
    for level in [0, 3, 9, u32::MAX] {
        let mut bytes = AuthRequest::example(7, "eve", 1005).encode().unwrap();
        bytes[8..12].copy_from_slice(&level.to_le_bytes());
        bytes[12..16].copy_from_slice(&level.to_le_bytes());
        assert_eq!(decode_request(&bytes), Err(NpError::UnknownLevel(level)));
    }
}

#[test]
fn an_oversized_or_undersized_length_is_refused_from_the_prefix() {
    assert!(matches!(
        request_length(u32::MAX.to_be_bytes()),
        Err(NpError::BadLength { .. })
    ));
    assert!(matches!(
        request_length((MAX_REQUEST_LEN as u32 - 3).to_be_bytes()),
        Err(NpError::BadLength { .. })
    ));
    assert_eq!(
        request_length((MAX_REQUEST_LEN as u32 - 4).to_be_bytes()),
        Ok(MAX_REQUEST_LEN)
    );
    assert!(matches!(
        request_length(11u32.to_be_bytes()),
        Err(NpError::BadLength { .. })
    ));
}

#[test]
fn every_truncation_fails_cleanly() {
    for len in 0..CAPTURED_LEVEL7.len() {
        let mut cut = CAPTURED_LEVEL7[..len].to_vec();
        // Also with the prefix rewritten to match, so the structure itself is short.
        assert!(decode_request(&cut).is_err(), "{len} bytes accepted");
        if len >= 16 {
            let body = (len - 4) as u32;
            cut[..4].copy_from_slice(&body.to_be_bytes());
            assert!(decode_request(&cut).is_err(), "{len} bytes accepted");
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = CAPTURED_LEVEL7.to_vec();
    bytes.extend_from_slice(&[0; 8]);
    let body = (bytes.len() - 4) as u32;
    bytes[..4].copy_from_slice(&body.to_be_bytes());
    assert!(decode_request(&bytes).is_err());
}

#[test]
fn every_corrupted_byte_decodes_or_fails_without_panicking() {
    for at in 0..CAPTURED_LEVEL7.len() {
        for value in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            let mut bytes = CAPTURED_LEVEL7.to_vec();
            bytes[at] = value;
            let _ = decode_request(&bytes);
        }
    }
}

#[test]
fn claims_are_refused_as_unsupported() {
    let req = AuthRequest::example(8, "frank", 1006);
    let mut bytes = req.encode().unwrap();
    // The token follows the fixed part of auth_session_info; find
    // num_local_claims after the rights mask by re-encoding with a marker.
    let marker = 0x1234_5678u32;
    let mut marked = req.clone();
    marked.session.token.as_mut().unwrap().rights_mask = marker;
    let marked_bytes = marked.encode().unwrap();
    let at = marked_bytes
        .windows(4)
        .position(|w| w == marker.to_le_bytes())
        .unwrap();
    bytes[at + 4..at + 8].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(
        decode_request(&bytes),
        Err(NpError::Unsupported(
            "claims in the caller's security token"
        ))
    );
}

#[test]
fn secrets_are_not_printed() {
    let req = decode_request(CAPTURED_LEVEL7).unwrap();
    let shown = format!("{req:?}");
    assert!(shown.contains("<16 secret bytes>"), "{shown}");
    let key_hex = format!("{:?}", req.session.session_key.0);
    assert!(!shown.contains(&key_hex));
}

#[test]
fn the_reply_is_the_36_bytes_smbd_expects() {
    let reply = encode_reply(7, FileType::Byte, STATUS_SUCCESS);
    let expected: [u8; 36] = [
        0, 0, 0, 0x20, b'N', b'P', b'A', b'M', 7, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0xff, 0x05, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(reply, expected);
    let decoded = decode_reply(&encode_reply(8, FileType::Message, STATUS_ACCESS_DENIED)).unwrap();
    assert_eq!(decoded.level, 8);
    assert_eq!(decoded.file_type, FileType::Message);
    assert_eq!(decoded.status, STATUS_ACCESS_DENIED);
    assert!(decode_reply(&reply[..35]).is_err());
    let mut bad = reply;
    bad[16] = 3;
    assert!(decode_reply(&bad).is_err());
}
