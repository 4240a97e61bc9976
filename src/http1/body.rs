//! Request body framing without I/O: what the headers say about where a body ends (a length,
//! chunked, or nothing), and the chunk-size line of a chunked body. Read exactly as Apache
//! reads them, because a front end that frames a request differently from us is a smuggling
//! channel: only ASCII digits make a length, and only a final `chunked` token makes a chunked
//! body (no Unicode whitespace is trimmed anywhere).

use super::Headers;

/// How a request's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` bytes (0 when the request has neither header).
    Length(u64),
    /// Chunked transfer coding. `close` is set when a `Content-Length` came along too: the
    /// length is ignored, and the connection is not reused (Apache's answer to a request an
    /// intermediary might have framed the other way).
    Chunked { close: bool },
}

impl Framing {
    /// Whether the request has a body to read (a chunked one may still turn out empty).
    pub fn has_body(self) -> bool {
        self != Framing::Length(0)
    }
}

/// Why a request's framing headers are refused: each is a 400 and the connection closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramingError {
    /// A `Content-Length` that is not a plain decimal number (repeated fields are merged
    /// first, so two of them are refused too): Apache's AH10242.
    InvalidLength(String),
    /// A `Transfer-Encoding` whose final coding is not `chunked`: Apache's AH02539.
    UnknownEncoding(String),
}

/// The framing a request's headers declare, in Apache's order: the length is checked first,
/// then the transfer coding, which overrides it.
pub fn request_framing(headers: &Headers) -> Result<Framing, FramingError> {
    let length = match headers.get_joined("Content-Length") {
        Some(value) => Some(strict_length(&value).ok_or(FramingError::InvalidLength(value))?),
        None => None,
    };
    if let Some(coding) = headers.get_joined("Transfer-Encoding") {
        if !is_chunked(&coding) {
            return Err(FramingError::UnknownEncoding(coding));
        }
        return Ok(Framing::Chunked {
            close: length.is_some(),
        });
    }
    Ok(Framing::Length(length.unwrap_or(0)))
}

/// `Content-Length` as Apache's `ap_parse_strict_length` reads it: ASCII digits only, no sign,
/// no padding, no overflow.
pub fn strict_length(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Whether a `Transfer-Encoding` value ends in the `chunked` coding (`ap_is_chunked`): the
/// whole value, or a last token that follows a comma or ASCII white space.
pub fn is_chunked(coding: &str) -> bool {
    const CHUNKED: &str = "chunked";
    let bytes = coding.as_bytes();
    let Some(start) = bytes.len().checked_sub(CHUNKED.len()) else {
        return false;
    };
    if !bytes[start..].eq_ignore_ascii_case(CHUNKED.as_bytes()) {
        return false;
    }
    if start == 0 {
        return true;
    }
    // The token must follow a comma or C white space; then, spaces skipped leftwards, what
    // precedes it must be a comma (or the value's first byte a space).
    if !(bytes[start - 1] == b',' || is_c_space(bytes[start - 1])) {
        return false;
    }
    let mut i = start - 1;
    while i > 0 && bytes[i] == b' ' {
        i -= 1;
    }
    bytes[i] == b',' || bytes[i] == b' '
}

/// C's `isspace` in the "C" locale, which APR's `apr_isspace` is.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The size of a chunk from its size line: hex digits, optionally followed by spaces or tabs
/// and chunk extensions after `;`.
pub fn chunk_size(line: &str) -> Option<u64> {
    let digits = line.bytes().take_while(u8::is_ascii_hexdigit).count();
    let rest = line[digits..].trim_start_matches([' ', '\t']);
    if digits == 0 || !(rest.is_empty() || rest.starts_with(';')) {
        return None;
    }
    u64::from_str_radix(&line[..digits], 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(fields: &[(&str, &str)]) -> Headers {
        Headers(
            fields
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn only_a_final_chunked_token_is_chunked() {
        for yes in [
            "chunked",
            "CHUNKED",
            "gzip, chunked",
            "gzip,chunked",
            "a ,  chunked",
            "chunked, chunked",
        ] {
            assert!(is_chunked(yes), "{yes}");
        }
        for no in [
            "chunked\u{a0}",
            "\u{a0}chunked",
            "chunked\u{85}",
            "\u{85}chunked",
            "xchunked",
            "chunked, gzip",
            "\"chunked\"",
            "chunked;q=1",
            "gzip chunked",
            "gzip\tchunked",
            "",
        ] {
            assert!(!is_chunked(no), "{no:?}");
        }
    }

    #[test]
    fn a_length_is_ascii_digits_alone() {
        assert_eq!(strict_length("0"), Some(0));
        assert_eq!(strict_length("0012"), Some(12));
        for bad in [
            "",
            "+5",
            "-5",
            "5\u{a0}",
            "\u{a0}5",
            "5 ",
            "5, 5",
            "0x5",
            "99999999999999999999999",
        ] {
            assert_eq!(strict_length(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn transfer_encoding_overrides_a_length_and_closes() {
        let both = headers(&[("Content-Length", "6"), ("Transfer-Encoding", "chunked")]);
        assert_eq!(request_framing(&both), Ok(Framing::Chunked { close: true }));
        let bad_length = headers(&[("Content-Length", "x"), ("Transfer-Encoding", "chunked")]);
        assert!(matches!(
            request_framing(&bad_length),
            Err(FramingError::InvalidLength(_))
        ));
        let two_lengths = headers(&[("Content-Length", "5"), ("Content-Length", "5")]);
        assert!(request_framing(&two_lengths).is_err());
        assert_eq!(request_framing(&headers(&[])), Ok(Framing::Length(0)));
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size("1a"), Some(26));
        assert_eq!(chunk_size("5 ;ext=1"), Some(5));
        assert_eq!(chunk_size("5\u{a0}"), None);
        assert_eq!(chunk_size(""), None);
    }
}
