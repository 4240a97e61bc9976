//! Configuration text that is not all UTF-8. Apache reads its files as bytes and echoes a
//! line's bytes in its messages (escaped as `\xhh` in the error log); rhttpd reads them as
//! text, so each byte that is not part of valid UTF-8 is carried as a character of its own
//! from the last private-use block (U+10FF80 to U+10FFFF) and turned back into that byte
//! wherever text is written out as bytes.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

/// The first character of the block: byte `b` (0x80 to 0xFF) is `BASE + b`.
const BASE: u32 = 0x10_FF00;

/// Whether this process (or the parent it was forked from) ever made a stand-in. Until one is
/// made no text holds one, and `encode` has nothing to look for: the usual case, where every
/// response head would otherwise be scanned for nothing. Text that carries the block's
/// characters as real UTF-8 (never made here) then goes out as the UTF-8 it is.
static STAND_INS_MADE: AtomicBool = AtomicBool::new(false);

/// The text of a file's bytes, each invalid byte kept as its stand-in character.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(bytes.len() + 16);
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                return Cow::Owned(out);
            }
            Err(err) => {
                let (valid, after) = rest.split_at(err.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad = err.error_len().unwrap_or(after.len()).max(1);
                for &byte in &after[..bad] {
                    out.push(stand_in(byte));
                }
                rest = &after[bad..];
            }
        }
    }
}

/// The character that stands for byte `byte` (0x80 and above; others are themselves).
pub fn stand_in(byte: u8) -> char {
    if byte < 0x80 {
        return byte as char;
    }
    if !STAND_INS_MADE.load(Ordering::Relaxed) {
        STAND_INS_MADE.store(true, Ordering::Relaxed);
    }
    char::from_u32(BASE + u32::from(byte)).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The byte a stand-in's UTF-8 encoding at the start of `bytes` stands for (4 bytes long).
pub fn stood_for(bytes: &[u8]) -> Option<u8> {
    match bytes {
        [0xF4, 0x8F, second @ (0xBE | 0xBF), last, ..] if (0x80..=0xBF).contains(last) => {
            Some(((second & 0x01) << 6 | (last & 0x3F)) | 0x80)
        }
        _ => None,
    }
}

/// The bytes a text stands for: stand-ins back to their bytes.
pub fn encode(text: &str) -> Cow<'_, [u8]> {
    // Every stand-in's UTF-8 form starts with 0xF4, which a byte search finds fast: the text
    // of a response head is scanned this way for every request (once any stand-in exists).
    if !STAND_INS_MADE.load(Ordering::Relaxed)
        || !text.as_bytes().contains(&0xF4)
        || !text.contains(|c: char| u32::from(c) >= BASE + 0x80)
    {
        return Cow::Borrowed(text.as_bytes());
    }
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match u32::from(c).checked_sub(BASE) {
            Some(byte @ 0x80..=0xFF) => out.push(byte as u8),
            _ => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_bytes_survive_the_round_trip() {
        let bytes = b"Opti\xa0ns caf\xc3\xa9 \xff\xc2";
        let text = decode(bytes);
        assert!(text.contains("caf\u{e9}"));
        assert_eq!(&*encode(&text), &bytes[..]);
        for byte in 0x80..=0xFFu8 {
            let mut buf = [0; 4];
            let encoded = stand_in(byte).encode_utf8(&mut buf);
            assert_eq!(stood_for(encoded.as_bytes()), Some(byte));
        }
        assert_eq!(stood_for("\u{e9}x".as_bytes()), None);
    }
}
