//! HPACK's Huffman code (RFC 7541, Appendix B), for decoding.
//!
//! The code is canonical: within one code length, codes are consecutive
//! and follow the symbols' order, and each length's first code follows on
//! from the last code of the length before. So the whole table is the
//! symbols listed by code length, and decoding needs, per length, the first
//! code and where that length's symbols start.

/// The symbols of each code length, in order (256 is end-of-string).
const SYMBOLS_BY_LENGTH: &[(u8, &[u16])] = &[
    (5, &[48, 49, 50, 97, 99, 101, 105, 111, 115, 116]),
    (
        6,
        &[
            32, 37, 45, 46, 47, 51, 52, 53, 54, 55, 56, 57, 61, 65, 95, 98, 100, 102, 103, 104,
            108, 109, 110, 112, 114, 117,
        ],
    ),
    (
        7,
        &[
            58, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86,
            87, 89, 106, 107, 113, 118, 119, 120, 121, 122,
        ],
    ),
    (8, &[38, 42, 44, 59, 88, 90]),
    (10, &[33, 34, 40, 41, 63]),
    (11, &[39, 43, 124]),
    (12, &[35, 62]),
    (13, &[0, 36, 64, 91, 93, 126]),
    (14, &[94, 125]),
    (15, &[60, 96, 123]),
    (19, &[92, 195, 208]),
    (20, &[128, 130, 131, 162, 184, 194, 224, 226]),
    (
        21,
        &[
            153, 161, 167, 172, 176, 177, 179, 209, 216, 217, 227, 229, 230,
        ],
    ),
    (
        22,
        &[
            129, 132, 133, 134, 136, 146, 154, 156, 160, 163, 164, 169, 170, 173, 178, 181, 185,
            186, 187, 189, 190, 196, 198, 228, 232, 233,
        ],
    ),
    (
        23,
        &[
            1, 135, 137, 138, 139, 140, 141, 143, 147, 149, 150, 151, 152, 155, 157, 158, 165, 166,
            168, 174, 175, 180, 182, 183, 188, 191, 197, 231, 239,
        ],
    ),
    (
        24,
        &[9, 142, 144, 145, 148, 159, 171, 206, 215, 225, 236, 237],
    ),
    (25, &[199, 207, 234, 235]),
    (
        26,
        &[
            192, 193, 200, 201, 202, 205, 210, 213, 218, 219, 238, 240, 242, 243, 255,
        ],
    ),
    (
        27,
        &[
            203, 204, 211, 212, 214, 221, 222, 223, 241, 244, 245, 246, 247, 248, 250, 251, 252,
            253, 254,
        ],
    ),
    (
        28,
        &[
            2, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28,
            29, 30, 31, 127, 220, 249,
        ],
    ),
    (30, &[10, 13, 22, 256]),
];

const END_OF_STRING: u16 = 256;
const LONGEST: usize = 30;

/// Why a Huffman string does not decode.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HuffmanError {
    /// The end-of-string symbol inside the string.
    EndOfString,
    /// More than 7 bits of padding, or padding that is not all ones.
    BadPadding,
}

/// Per code length: the first code of that length and the index in the
/// flattened symbol list where its symbols start.
struct Table {
    first_code: [u32; LONGEST + 1],
    start: [u16; LONGEST + 1],
    count: [u16; LONGEST + 1],
    symbols: [u16; 257],
}

const TABLE: Table = build();

const fn build() -> Table {
    let mut table = Table {
        first_code: [0; LONGEST + 1],
        start: [0; LONGEST + 1],
        count: [0; LONGEST + 1],
        symbols: [0; 257],
    };
    let mut code: u32 = 0;
    let mut previous_length: u32 = 0;
    let mut at = 0;
    let mut group = 0;
    while group < SYMBOLS_BY_LENGTH.len() {
        let (length, symbols) = SYMBOLS_BY_LENGTH[group];
        code <<= length as u32 - previous_length;
        previous_length = length as u32;
        table.first_code[length as usize] = code;
        table.start[length as usize] = at as u16;
        table.count[length as usize] = symbols.len() as u16;
        let mut i = 0;
        while i < symbols.len() {
            table.symbols[at] = symbols[i];
            at += 1;
            i += 1;
        }
        code += symbols.len() as u32;
        group += 1;
    }
    table
}

/// Huffman-codes `input` (for tests: the fix never encodes).
#[cfg(test)]
pub(crate) fn encode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut bits, mut pending) = (0u64, 0u32);
    for &byte in input {
        let (length, code) = (1..=LONGEST)
            .find_map(|length| {
                let start = TABLE.start[length] as usize;
                let symbols = &TABLE.symbols[start..start + TABLE.count[length] as usize];
                let at = symbols.iter().position(|&s| s == u16::from(byte))?;
                Some((length as u32, TABLE.first_code[length] + at as u32))
            })
            .expect("every byte has a code");
        bits = (bits << length) | u64::from(code);
        pending += length;
        while pending >= 8 {
            pending -= 8;
            out.push((bits >> pending) as u8);
        }
    }
    if pending > 0 {
        // Padded with the most significant bits of end-of-string: ones.
        out.push(((bits << (8 - pending)) | ((1 << (8 - pending)) - 1)) as u8);
    }
    out
}

/// Decodes a Huffman-coded string, appending the bytes to `out`.
pub(crate) fn decode(input: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let mut code: u32 = 0;
    let mut length = 0usize;
    for &byte in input {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            length += 1;
            let offset = code.wrapping_sub(TABLE.first_code[length]);
            if TABLE.count[length] > 0 && offset < u32::from(TABLE.count[length]) {
                let symbol = TABLE.symbols[(TABLE.start[length] as u32 + offset) as usize];
                if symbol == END_OF_STRING {
                    return Err(HuffmanError::EndOfString);
                }
                out.push(symbol as u8);
                code = 0;
                length = 0;
            } else if length == LONGEST {
                // Every 30-bit prefix is a code, so this cannot happen
                // (a complete prefix code); kept as an error, not a panic.
                return Err(HuffmanError::EndOfString);
            }
        }
    }
    // What is left must be a prefix of end-of-string (all ones), under 8 bits.
    if length > 7 || code != (1u32 << length) - 1 {
        return Err(HuffmanError::BadPadding);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn decoded(text: &str) -> String {
        let mut out = Vec::new();
        decode(&hex(text), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_rfcs_examples_decode() {
        // RFC 7541, C.4 and C.6.
        assert_eq!(decoded("f1e3c2e5f23a6ba0ab90f4ff"), "www.example.com");
        assert_eq!(decoded("a8eb10649cbf"), "no-cache");
        assert_eq!(decoded("25a849e95ba97d7f"), "custom-key");
        assert_eq!(decoded("25a849e95bb8e8b4bf"), "custom-value");
        assert_eq!(decoded("6402"), "302");
        assert_eq!(decoded("aec3771a4b"), "private");
        assert_eq!(
            decoded("d07abe941054d444a8200595040b8166e082a62d1bff"),
            "Mon, 21 Oct 2013 20:13:21 GMT"
        );
        assert_eq!(
            decoded("9d29ad171863c78f0b97c8e9ae82ae43d3"),
            "https://www.example.com"
        );
        assert_eq!(
            decoded(
                "94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007"
            ),
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
        );
    }

    #[test]
    fn the_code_is_complete_and_covers_every_symbol_once() {
        // Kraft's sum of a complete prefix code is exactly 1: in units of
        // 2^-30, it is 2^30.
        let mut kraft: u64 = 0;
        let mut seen = [false; 257];
        for (length, symbols) in SYMBOLS_BY_LENGTH {
            for &symbol in *symbols {
                assert!(!seen[symbol as usize], "symbol {symbol} twice");
                seen[symbol as usize] = true;
                kraft += 1 << (LONGEST - *length as usize);
            }
        }
        assert_eq!(kraft, 1 << LONGEST);
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn bad_padding_and_end_of_string_are_refused() {
        // "0" is 00000; padded with zeros instead of ones.
        assert_eq!(
            decode(&[0x00], &mut Vec::new()),
            Err(HuffmanError::BadPadding)
        );
        // A whole byte of padding after a full symbol.
        assert_eq!(
            decode(&[0x07, 0xff], &mut Vec::new()),
            Err(HuffmanError::BadPadding)
        );
        // End-of-string itself: 30 ones.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], &mut Vec::new()),
            Err(HuffmanError::EndOfString)
        );
    }
}
