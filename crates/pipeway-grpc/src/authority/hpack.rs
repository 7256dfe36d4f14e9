//! Just enough HPACK (RFC 7541) to read a client's header blocks and write
//! them again: a decoder that keeps the client's dynamic table, and an
//! encoder that writes every field as a literal, never touching the
//! receiver's dynamic table.

use std::collections::VecDeque;

use super::huffman;

/// The dynamic table size HTTP/2 allows before SETTINGS say otherwise, and
/// that h2 keeps unless told otherwise: a client may not grow past it.
pub(crate) const DEFAULT_TABLE_SIZE: usize = 4096;

/// The most decoded header bytes (name, value and 32 per field, as HPACK
/// counts them) one block may expand to: far above what servers accept
/// (hyper's default limit is 16 KiB), and a bound on what a block of
/// references to large table entries can cost.
pub(crate) const MAX_DECODED: usize = 1 << 20;

/// Bytes HPACK adds to every entry's size.
const ENTRY_OVERHEAD: usize = 32;

/// The one field name whose values matter here.
const AUTHORITY: &[u8] = b":authority";

/// RFC 7541, Appendix A.
const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// One header field of a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
    /// Sent as "never indexed" (a secret): kept so when written again.
    pub sensitive: bool,
}

/// A decoded header block.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Block {
    pub fields: Vec<Field>,
    /// Whether decoding it changed the dynamic table (an insertion or a
    /// size update): a receiver that did not see it is now out of step.
    pub changed_table: bool,
}

/// Why a header block does not decode.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HpackError {
    #[error("the header block ends inside a field")]
    Truncated,
    #[error("an integer in the header block overflows")]
    Overflow,
    #[error("table index {0} is out of range")]
    BadIndex(usize),
    #[error("a dynamic table size update to {0} exceeds the limit")]
    TableTooLarge(usize),
    #[error("a dynamic table size update after the block's first field")]
    LateSizeUpdate,
    #[error("a Huffman-coded string does not decode")]
    Huffman,
    #[error("the header block decodes to more than {MAX_DECODED} bytes")]
    TooLarge,
}

/// The decoding side of one connection's HPACK context.
#[derive(Debug)]
pub(crate) struct Decoder {
    table: VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
    max_size: usize,
    limit: usize,
}

impl Decoder {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            table: VecDeque::new(),
            size: 0,
            max_size: limit,
            limit,
        }
    }

    /// Decodes one whole header block.
    pub(crate) fn decode(&mut self, block: &[u8]) -> Result<Block, HpackError> {
        let mut input = Input { bytes: block };
        let mut fields = Vec::new();
        let mut changed_table = false;
        let mut decoded = 0usize;
        while let Some(&first) = input.bytes.first() {
            let field = if first & 0x80 != 0 {
                let index = input.integer(7)?;
                let (name, value) = self.entry(index)?;
                Field {
                    name: name.to_vec(),
                    value: value.to_vec(),
                    sensitive: false,
                }
            } else if first & 0xc0 == 0x40 {
                let field = self.literal(&mut input, 6, false)?;
                self.insert(field.name.clone(), field.value.clone());
                changed_table = true;
                field
            } else if first & 0xe0 == 0x20 {
                if !fields.is_empty() {
                    return Err(HpackError::LateSizeUpdate);
                }
                let size = input.integer(5)?;
                if size > self.limit {
                    return Err(HpackError::TableTooLarge(size));
                }
                self.max_size = size;
                self.evict_to(size);
                changed_table = true;
                continue;
            } else {
                // 0000xxxx without indexing, 0001xxxx never indexed.
                let sensitive = first & 0x10 != 0;
                self.literal(&mut input, 4, sensitive)?
            };
            decoded += field.name.len() + field.value.len() + ENTRY_OVERHEAD;
            if decoded > MAX_DECODED {
                return Err(HpackError::TooLarge);
            }
            fields.push(field);
        }
        Ok(Block {
            fields,
            changed_table,
        })
    }

    /// Whether `block` can go to the server as it is, read without decoding
    /// it: every field an index into the tables or a literal that leaves the
    /// table alone, every `:authority` accepted by `valid`, and within
    /// [`MAX_DECODED`]. It decodes only the strings it must compare
    /// (`:authority` values, literal names) into `scratch`, and changes
    /// nothing. `false` means "decode it to know": a block that inserts into
    /// the table, say. A Huffman-coded string it skips is not checked; the
    /// server's decoder (h2) refuses a bad one, ending the connection.
    pub(crate) fn passes_as_is(
        &self,
        block: &[u8],
        scratch: &mut Vec<u8>,
        mut valid: impl FnMut(&[u8]) -> bool,
    ) -> bool {
        let mut input = Input { bytes: block };
        let mut decoded = 0usize;
        while let Some(&first) = input.bytes.first() {
            let field_size = if first & 0x80 != 0 {
                let Some((name, value)) = input.integer(7).ok().and_then(|i| self.entry(i).ok())
                else {
                    return false;
                };
                if name == AUTHORITY && !valid(value) {
                    return false;
                }
                name.len() + value.len()
            } else if first & 0xc0 == 0x40 || first & 0xe0 == 0x20 {
                return false; // an insertion or a size update: decode it
            } else {
                // A literal without indexing or never indexed.
                let (name_len, is_authority) = match input.integer(4) {
                    Ok(0) => match input.raw_string().ok().and_then(|s| s.read(scratch)) {
                        Some(name) => (name.len(), name == AUTHORITY),
                        None => return false,
                    },
                    Ok(index) => match self.entry(index) {
                        Ok((name, _)) => (name.len(), name == AUTHORITY),
                        Err(_) => return false,
                    },
                    Err(_) => return false,
                };
                let Ok(value) = input.raw_string() else {
                    return false;
                };
                let value_len = if is_authority {
                    match value.read(scratch) {
                        Some(value) if valid(value) => value.len(),
                        _ => return false,
                    }
                } else {
                    value.max_len()
                };
                name_len + value_len
            };
            decoded += field_size + ENTRY_OVERHEAD;
            if decoded > MAX_DECODED {
                return false;
            }
        }
        true
    }

    fn entry(&self, index: usize) -> Result<(&[u8], &[u8]), HpackError> {
        match index {
            0 => Err(HpackError::BadIndex(0)),
            1..=61 => {
                let (name, value) = STATIC_TABLE[index - 1];
                Ok((name.as_bytes(), value.as_bytes()))
            }
            _ => self
                .table
                .get(index - 62)
                .map(|(name, value)| (&name[..], &value[..]))
                .ok_or(HpackError::BadIndex(index)),
        }
    }

    fn literal(
        &self,
        input: &mut Input<'_>,
        prefix: u8,
        sensitive: bool,
    ) -> Result<Field, HpackError> {
        let name = match input.integer(prefix)? {
            0 => input.string()?,
            index => self.entry(index)?.0.to_vec(),
        };
        let value = input.string()?;
        Ok(Field {
            name,
            value,
            sensitive,
        })
    }

    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if size > self.max_size {
            // An entry larger than the table empties it and is not kept.
            self.evict_to(0);
            return;
        }
        self.evict_to(self.max_size - size);
        self.size += size;
        self.table.push_front((name, value));
    }

    fn evict_to(&mut self, size: usize) {
        while self.size > size {
            let (name, value) = self
                .table
                .pop_back()
                .expect("a table over size has entries");
            self.size -= name.len() + value.len() + ENTRY_OVERHEAD;
        }
    }
}

struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    fn byte(&mut self) -> Result<u8, HpackError> {
        let (&first, rest) = self.bytes.split_first().ok_or(HpackError::Truncated)?;
        self.bytes = rest;
        Ok(first)
    }

    /// An integer with an `prefix`-bit prefix (RFC 7541, 5.1).
    fn integer(&mut self, prefix: u8) -> Result<usize, HpackError> {
        let max = (1usize << prefix) - 1;
        let value = (self.byte()? as usize) & max;
        if value < max {
            return Ok(value);
        }
        let mut value = value;
        let mut shift = 0u32;
        loop {
            let byte = self.byte()?;
            if shift > 28 {
                return Err(HpackError::Overflow);
            }
            value = value
                .checked_add(((byte & 0x7f) as usize) << shift)
                .filter(|&v| v <= u32::MAX as usize)
                .ok_or(HpackError::Overflow)?;
            shift += 7;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
    }

    /// A string literal (RFC 7541, 5.2).
    fn string(&mut self) -> Result<Vec<u8>, HpackError> {
        let raw = self.raw_string()?;
        if !raw.huffman {
            return Ok(raw.bytes.to_vec());
        }
        let mut out = Vec::with_capacity(raw.max_len());
        huffman::decode(raw.bytes, &mut out).map_err(|_| HpackError::Huffman)?;
        Ok(out)
    }

    /// A string literal as it is in the block, not yet decoded.
    fn raw_string(&mut self) -> Result<RawString<'a>, HpackError> {
        let huffman = self.bytes.first().ok_or(HpackError::Truncated)? & 0x80 != 0;
        let len = self.integer(7)?;
        if len > self.bytes.len() {
            return Err(HpackError::Truncated);
        }
        let (bytes, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(RawString { bytes, huffman })
    }
}

/// A string literal's bytes, Huffman-coded or not.
struct RawString<'a> {
    bytes: &'a [u8],
    huffman: bool,
}

impl<'a> RawString<'a> {
    /// The most bytes it decodes to (the shortest Huffman code is 5 bits).
    fn max_len(&self) -> usize {
        if self.huffman {
            self.bytes.len() * 8 / 5
        } else {
            self.bytes.len()
        }
    }

    /// The string, decoded into `scratch` if Huffman-coded; `None` if its
    /// coding is bad.
    fn read<'s>(&self, scratch: &'s mut Vec<u8>) -> Option<&'s [u8]>
    where
        'a: 's,
    {
        if !self.huffman {
            return Some(self.bytes);
        }
        scratch.clear();
        huffman::decode(self.bytes, scratch).ok()?;
        Some(scratch)
    }
}

fn write_integer(out: &mut Vec<u8>, flags: u8, prefix: u8, value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 0x80 {
        out.push((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

fn write_string(out: &mut Vec<u8>, bytes: &[u8]) {
    write_integer(out, 0, 7, bytes.len());
    out.extend_from_slice(bytes);
}

/// Writes `fields` as a header block of literals that leave the receiver's
/// dynamic table as it is: "without indexing", or "never indexed" for
/// sensitive fields, the name by its static index where it has one.
pub(crate) fn encode(fields: &[Field], out: &mut Vec<u8>) {
    for field in fields {
        let flags = if field.sensitive { 0x10 } else { 0x00 };
        let index = STATIC_TABLE
            .iter()
            .position(|(name, _)| name.as_bytes() == field.name)
            .map_or(0, |at| at + 1);
        write_integer(out, flags, 4, index);
        if index == 0 {
            write_string(out, &field.name);
        }
        write_string(out, &field.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    fn pairs(block: &Block) -> Vec<(String, String)> {
        block
            .fields
            .iter()
            .map(|f| {
                (
                    String::from_utf8(f.name.clone()).unwrap(),
                    String::from_utf8(f.value.clone()).unwrap(),
                )
            })
            .collect()
    }

    fn expect(block: &Block, fields: &[(&str, &str)]) {
        let want: Vec<(String, String)> = fields
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs(block), want);
    }

    #[test]
    fn the_rfcs_requests_with_huffman_decode_in_sequence() {
        // RFC 7541, C.4: three requests on one connection.
        let mut decoder = Decoder::new(DEFAULT_TABLE_SIZE);
        let first = decoder
            .decode(&hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"))
            .unwrap();
        expect(
            &first,
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
            ],
        );
        assert!(first.changed_table);
        let second = decoder
            .decode(&hex("8286 84be 5886 a8eb 1064 9cbf"))
            .unwrap();
        expect(
            &second,
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache"),
            ],
        );
        let third = decoder
            .decode(&hex(
                "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
            ))
            .unwrap();
        expect(
            &third,
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value"),
            ],
        );
        assert_eq!(decoder.size, 164);
    }

    #[test]
    fn the_rfcs_responses_evict_in_a_small_table() {
        // RFC 7541, C.5: a 256-byte table, eviction on the second response.
        let mut decoder = Decoder::new(256);
        decoder.decode(&hex("4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d")).unwrap();
        assert_eq!(decoder.size, 222);
        let second = decoder.decode(&hex("4803 3330 37c1 c0bf")).unwrap();
        assert_eq!(second.fields[0].value, b"307");
        assert_eq!(decoder.size, 222);
        assert_eq!(decoder.table.len(), 4);
    }

    #[test]
    fn encoded_literals_decode_to_the_same_fields_and_leave_the_table_alone() {
        let fields = vec![
            Field {
                name: b":authority".to_vec(),
                value: b"localhost".to_vec(),
                sensitive: false,
            },
            Field {
                name: b"x-long-name-for-a-header".to_vec(),
                value: vec![b'v'; 300],
                sensitive: false,
            },
            Field {
                name: b"authorization".to_vec(),
                value: b"secret".to_vec(),
                sensitive: true,
            },
        ];
        let mut block = Vec::new();
        encode(&fields, &mut block);
        let mut decoder = Decoder::new(DEFAULT_TABLE_SIZE);
        let decoded = decoder.decode(&block).unwrap();
        assert_eq!(decoded.fields, fields);
        assert!(!decoded.changed_table);
        assert_eq!(decoder.size, 0);
    }

    #[test]
    fn bad_blocks_are_refused_without_panicking() {
        let mut decoder = Decoder::new(DEFAULT_TABLE_SIZE);
        assert_eq!(decoder.decode(&[0x80]), Err(HpackError::BadIndex(0)));
        assert_eq!(decoder.decode(&[0xbe]), Err(HpackError::BadIndex(62)));
        assert_eq!(
            decoder.decode(&[0x41, 0x05, b'a']),
            Err(HpackError::Truncated)
        );
        assert_eq!(
            decoder.decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            Err(HpackError::Overflow)
        );
        assert_eq!(
            decoder.decode(&[0x3f, 0xe2, 0x1f]),
            Err(HpackError::TableTooLarge(4097))
        );
        assert_eq!(
            decoder.decode(&[0x82, 0x20]),
            Err(HpackError::LateSizeUpdate)
        );
        assert_eq!(
            decoder.decode(&[0x04, 0x81, 0x00]),
            Err(HpackError::Huffman)
        );
    }

    #[test]
    fn a_block_that_expands_past_the_bound_is_refused() {
        let mut decoder = Decoder::new(DEFAULT_TABLE_SIZE);
        let mut block = Vec::new();
        // One 4000-byte entry, then references to it.
        block.push(0x40);
        write_string(&mut block, b"x");
        write_string(&mut block, &[b'v'; 3960]);
        block.extend(std::iter::repeat_n(0xbe, MAX_DECODED / 3990 + 2));
        assert_eq!(decoder.decode(&block).unwrap_err(), HpackError::TooLarge);
    }
}
