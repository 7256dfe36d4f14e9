//! Entry points for the fuzz targets in the workspace's `fuzz/` crate
//! (feature `fuzzing`). Not an API: they change with the decoders they drive.

use crate::authority::AuthorityFix;

/// Runs `input`, cut into pieces of `step` bytes, through a fresh fix:
/// what the server would read, or the error that ends the connection.
fn through(input: &[u8], step: usize) -> Result<Vec<u8>, std::io::ErrorKind> {
    let mut fix = AuthorityFix::new();
    let mut server = Vec::new();
    for piece in input.chunks(step.max(1)) {
        let mut out = Vec::new();
        let passed = fix.feed(piece, &mut out).map_err(|err| err.kind())?;
        server.extend_from_slice(&piece[..passed]);
        server.extend_from_slice(&out);
    }
    Ok(server)
}

/// The `:authority` fix, which follows a client's HTTP/2 frames and decodes
/// its header blocks: never panics; gives the same bytes wherever the
/// client's stream is cut; and what it gives needs no fix a second time
/// (passes through a fresh fix unchanged).
pub fn authority(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    // The preface, so that the frames after it are followed.
    let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    input.extend_from_slice(rest);
    let whole = through(&input, input.len());
    let cut = through(&input, 1 + control as usize % 31);
    assert_eq!(whole, cut, "the output depends on where the input was cut");
    if let Ok(server) = whole {
        let mut fix = AuthorityFix::new();
        let mut out = Vec::new();
        let passed = fix.feed(&server, &mut out).expect("the fix's own output");
        let again = [&server[..passed], &out[..]].concat();
        // Bytes still held (a frame cut short at the end) come out later.
        assert!(server.starts_with(&again), "a fixed stream changed again");
        assert_eq!(fix.rewritten(), 0, "a fixed stream needed fixing again");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_entry_point_takes_valid_and_invalid_streams() {
        super::authority(&[3]);
        let mut frames = vec![7u8];
        // HEADERS, END_HEADERS, stream 1: :method POST, :authority /tmp/x (indexed).
        let block = [0x83, 0x41, 0x06, b'/', b't', b'm', b'p', b'/', b'x'];
        frames.extend_from_slice(&[0, 0, block.len() as u8, 1, 4, 0, 0, 0, 1]);
        frames.extend_from_slice(&block);
        super::authority(&frames);
        super::authority(&[0, 0, 0, 1, 1, 4, 0, 0, 0, 1, 0x80]);
    }
}
