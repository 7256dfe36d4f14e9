use super::*;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A literal with incremental indexing, its name from the static table.
fn indexed_literal(name_index: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![0x40 | name_index, value.len() as u8];
    out.extend_from_slice(value);
    out
}

/// What grpcio 1.57+ sends for a `unix:` target: POST, http, the path, the
/// percent-encoded socket path as `:authority`, and the content type, each
/// added to the table by the first request and referred to by later ones.
fn grpcio_request(stream: u32, repeated: bool) -> Vec<u8> {
    let mut block = vec![0x83, 0x86]; // :method POST, :scheme http
    if repeated {
        // Newest first: content-type (62), :authority (63), :path (64).
        block.extend_from_slice(&[0x80 | 64, 0x80 | 63, 0x80 | 62]);
    } else {
        block.extend(indexed_literal(4, b"/MyService/Buy"));
        block.extend(indexed_literal(1, b"%2Ftmp%2FCoreFxPipe_shop"));
        block.extend(indexed_literal(31, b"application/grpc"));
    }
    frame(HEADERS, END_HEADERS, stream, &block)
}

/// Feeds `chunks`, returning what the server reads.
fn through(fix: &mut AuthorityFix, chunks: &[&[u8]]) -> io::Result<Vec<u8>> {
    let mut server = Vec::new();
    for chunk in chunks {
        let mut out = Vec::new();
        let passed = fix.feed(chunk, &mut out)?;
        server.extend_from_slice(&chunk[..passed]);
        server.extend_from_slice(&out);
    }
    Ok(server)
}

/// The header blocks in `stream` as the server decodes them.
fn server_view(stream: &[u8]) -> Vec<Vec<(String, String)>> {
    let mut decoder = Decoder::new(hpack::DEFAULT_TABLE_SIZE);
    let mut at = PREFACE.len();
    let mut blocks = Vec::new();
    let mut fragment = Vec::new();
    while let Some((len, kind, flags, _)) = frame_header(&stream[at..]) {
        let payload = &stream[at + FRAME_HEADER_LEN..at + FRAME_HEADER_LEN + len];
        if kind == HEADERS {
            fragment = headers_fragment(flags, payload).unwrap().1.to_vec();
        } else if kind == CONTINUATION {
            fragment.extend_from_slice(payload);
        }
        if (kind == HEADERS || kind == CONTINUATION) && flags & END_HEADERS != 0 {
            let block = decoder.decode(&fragment).unwrap();
            blocks.push(
                block
                    .fields
                    .iter()
                    .map(|f| {
                        (
                            String::from_utf8_lossy(&f.name).into_owned(),
                            String::from_utf8_lossy(&f.value).into_owned(),
                        )
                    })
                    .collect(),
            );
        }
        at += FRAME_HEADER_LEN + len;
    }
    assert_eq!(at, stream.len(), "a frame cut short");
    blocks
}

fn authority(block: &[(String, String)]) -> &str {
    &block
        .iter()
        .find(|(name, _)| name == ":authority")
        .unwrap()
        .1
}

fn connection(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = PREFACE.to_vec();
    for frame in frames {
        bytes.extend_from_slice(frame);
    }
    bytes
}

#[test]
fn a_socket_path_authority_becomes_localhost_in_every_request() {
    let data = frame(0x0, 0x1, 1, b"\0\0\0\0\x05hello");
    let input = connection(&[
        grpcio_request(1, false),
        data.clone(),
        grpcio_request(3, true),
        grpcio_request(5, true),
    ]);
    let mut fix = AuthorityFix::new();
    let output = through(&mut fix, &[&input]).unwrap();
    let blocks = server_view(&output);
    assert_eq!(blocks.len(), 3);
    for block in &blocks {
        assert_eq!(authority(block), "localhost");
        assert!(block.contains(&(":path".into(), "/MyService/Buy".into())));
        assert!(block.contains(&("content-type".into(), "application/grpc".into())));
    }
    // The first block added to the client's table, so the later ones, which
    // refer to it, were written again too.
    assert_eq!(fix.rewritten(), 3);
    assert!(output.windows(data.len()).any(|w| w == data));
}

#[test]
fn valid_authorities_pass_through_untouched_and_uncopied() {
    let mut block = vec![0x83, 0x86];
    block.extend(indexed_literal(4, b"/MyService/Buy"));
    block.extend(indexed_literal(1, b"localhost"));
    let input = connection(&[
        frame(HEADERS, END_HEADERS, 1, &block),
        frame(0x0, 0x1, 1, b"\0\0\0\0\x01x"),
    ]);
    let mut fix = AuthorityFix::new();
    let mut out = Vec::new();
    // The block is held and passed on as it was; everything else in place.
    let passed = fix.feed(&input, &mut out).unwrap();
    assert_eq!(passed, PREFACE.len());
    assert_eq!([&input[..passed], &out[..]].concat(), input);
    assert_eq!(fix.rewritten(), 0);
    // Frames that are not header blocks are not copied at all.
    let data = frame(0x0, 0x1, 3, b"\0\0\0\0\x01y");
    assert_eq!(fix.feed(&data, &mut Vec::new()).unwrap(), data.len());
}

#[test]
fn any_cut_of_the_stream_gives_the_same_bytes() {
    let input = connection(&[
        grpcio_request(1, false),
        frame(0x0, 0x0, 1, b"\0\0\0\0\x02hi"),
        grpcio_request(3, true),
    ]);
    let whole = through(&mut AuthorityFix::new(), &[&input]).unwrap();
    for cut in 1..input.len() {
        let (a, b) = input.split_at(cut);
        assert_eq!(
            through(&mut AuthorityFix::new(), &[a, b]).unwrap(),
            whole,
            "cut at {cut}"
        );
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(through(&mut AuthorityFix::new(), &bytes).unwrap(), whole);
}

#[test]
fn continuation_padding_and_priority_are_kept_in_meaning() {
    let mut block = vec![0x83, 0x86];
    block.extend(indexed_literal(4, b"/a"));
    block.extend(indexed_literal(1, b"/tmp/sock"));
    let (first, second) = block.split_at(5);
    // PADDED and PRIORITY on the HEADERS frame, END_STREAM too.
    let mut payload = vec![3];
    payload.extend_from_slice(&[0, 0, 0, 0, 16]);
    payload.extend_from_slice(first);
    payload.extend_from_slice(&[0, 0, 0]);
    let input = connection(&[
        frame(HEADERS, PADDED | PRIORITY | END_STREAM, 7, &payload),
        frame(CONTINUATION, END_HEADERS, 7, second),
    ]);
    let output = through(&mut AuthorityFix::new(), &[&input]).unwrap();
    let blocks = server_view(&output);
    assert_eq!(authority(&blocks[0]), "localhost");
    let (_, kind, flags, stream) = frame_header(&output[PREFACE.len()..]).unwrap();
    assert_eq!((kind, stream), (HEADERS, 7));
    assert_eq!(flags, END_STREAM | PRIORITY | END_HEADERS);
    assert_eq!(
        &output[PREFACE.len() + 9..PREFACE.len() + 14],
        &[0, 0, 0, 0, 16]
    );
}

#[test]
fn a_large_block_written_again_is_split_into_frames_of_the_minimum_size() {
    let mut block = vec![0x83, 0x86];
    block.extend(indexed_literal(1, b"/tmp/sock"));
    let big = vec![b'v'; 40_000];
    // A literal without indexing, new name: "x-big".
    block.push(0x00);
    block.extend_from_slice(&[5, b'x', b'-', b'b', b'i', b'g']);
    block.push(0x7f);
    let mut rest = big.len() - 127;
    while rest >= 0x80 {
        block.push((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    block.push(rest as u8);
    block.extend_from_slice(&big);
    let (a, b) = block.split_at(20_000);
    let input = connection(&[
        frame(HEADERS, 0, 1, a),
        frame(CONTINUATION, END_HEADERS, 1, b),
    ]);
    let output = through(&mut AuthorityFix::new(), &[&input]).unwrap();
    let mut at = PREFACE.len();
    while let Some((len, ..)) = frame_header(&output[at..]) {
        assert!(len <= MAX_FRAME_PAYLOAD);
        at += FRAME_HEADER_LEN + len;
    }
    let blocks = server_view(&output);
    assert_eq!(authority(&blocks[0]), "localhost");
    assert!(blocks[0].contains(&("x-big".into(), "v".repeat(40_000))));
}

#[test]
fn an_undecodable_block_goes_to_h2_as_it_was_while_the_tables_agree() {
    let input = connection(&[
        frame(HEADERS, END_HEADERS, 1, &[0x80]), // index 0: invalid
        frame(0x0, 0x1, 1, b"x"),
    ]);
    let output = through(&mut AuthorityFix::new(), &[&input]).unwrap();
    assert_eq!(output, input);
}

#[test]
fn an_undecodable_block_after_a_rewrite_ends_the_connection() {
    let input = connection(&[
        grpcio_request(1, false),
        frame(HEADERS, END_HEADERS, 3, &[0x80]),
    ]);
    let err = through(&mut AuthorityFix::new(), &[&input]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
}

#[test]
fn a_client_that_does_not_speak_http2_is_left_to_h2() {
    let input = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut fix = AuthorityFix::new();
    assert_eq!(fix.feed(input, &mut Vec::new()).unwrap(), input.len());
    assert_eq!(fix.feed(b"more", &mut Vec::new()).unwrap(), 4);
}

/// A literal that leaves the table alone ("without indexing"), its name
/// from the static table, its value Huffman-coded as h2 sends them.
fn unindexed_huffman_literal(name_index: u8, value: &[u8]) -> Vec<u8> {
    let coded = huffman::encode(value);
    assert!(name_index < 15 && coded.len() < 127);
    let mut out = vec![name_index, 0x80 | coded.len() as u8];
    out.extend_from_slice(&coded);
    out
}

#[test]
fn huffman_codes_round_trip() {
    let text = b"/tmp/CoreFxPipe_shop%2F~{}";
    let mut decoded = Vec::new();
    huffman::decode(&huffman::encode(text), &mut decoded).unwrap();
    assert_eq!(decoded, text);
}

#[test]
fn blocks_that_leave_the_table_alone_pass_where_they_were_read() {
    // What h2 sends on a connection's later calls: references to its
    // table, and `:path` as a literal without indexing.
    let mut block = vec![0x83, 0x86];
    block.extend(unindexed_huffman_literal(4, b"/MyService/Buy"));
    block.extend(unindexed_huffman_literal(1, b"localhost"));
    let input = connection(&[
        frame(HEADERS, END_HEADERS, 1, &block),
        frame(0x0, 0x1, 1, b"\0\0\0\0\x01x"),
        frame(HEADERS, END_HEADERS, 3, &block),
    ]);
    let mut fix = AuthorityFix::new();
    let mut out = Vec::new();
    assert_eq!(fix.feed(&input, &mut out).unwrap(), input.len());
    assert!(out.is_empty());
    assert_eq!(fix.rewritten(), 0);
}

#[test]
fn an_invalid_authority_in_a_literal_without_indexing_is_fixed() {
    let mut valid = vec![0x83, 0x86];
    valid.extend(unindexed_huffman_literal(1, b"localhost"));
    let mut invalid = vec![0x83, 0x86];
    invalid.extend(unindexed_huffman_literal(1, b"/tmp/CoreFxPipe_shop"));
    // An empty `:authority` is no authority either (the first block, before
    // any valid one was seen).
    let mut empty = vec![0x83, 0x86];
    empty.extend_from_slice(&[0x01, 0x00]);
    let input = connection(&[
        frame(HEADERS, END_HEADERS, 1, &empty),
        frame(HEADERS, END_HEADERS, 3, &valid),
        frame(HEADERS, END_HEADERS, 5, &invalid),
    ]);
    let mut fix = AuthorityFix::new();
    let output = through(&mut fix, &[&input]).unwrap();
    let blocks = server_view(&output);
    assert_eq!(blocks.len(), 3);
    for block in &blocks {
        assert_eq!(authority(block), "localhost");
    }
    assert_eq!(fix.rewritten(), 2);
}
