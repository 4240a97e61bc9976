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

/// C's `isspace` in the "C" locale, which APR's `apr_isspace` is (vertical tab and form feed
/// count; nothing outside ASCII does): the white space Apache's parsers skip.
pub fn is_c_space(byte: u8) -> bool {
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

/// How long a framing line of a chunked body may get before the body is refused.
const MAX_FRAMING_LINE: usize = 8192;

/// Why a body could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Broken chunked framing (a bad size line, a missing line end, an overlong line):
    /// Apache's input filter refuses the body with 400 and ends the connection.
    Framing,
    /// A trailer that is not a header field (or a trailer line ended by a bare LF under
    /// Strict): 400.
    BadTrailer,
}

/// What the bytes at the front of the input were.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// Not enough bytes to go on: read more, and call again with them appended.
    NeedMore,
    /// Body bytes.
    Data(&'a [u8]),
    /// A trailer field of a chunked body (name, value).
    Trailer(String, String),
    /// The body is complete.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length { remaining: u64 },
    ChunkSize,
    ChunkData { remaining: u64 },
    ChunkEnd,
    Trailers,
    Done,
}

/// A request body's decoder, without I/O (as hyper's `Decoder`): the connection hands it the
/// bytes it has, it says how many it took and what they were. Chunked bodies are read as
/// Apache's HTTP_IN filter reads them: CRLF line ends (a bare LF too under
/// `HttpProtocolOptions Unsafe`), chunk extensions ignored, trailers kept.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    strict: bool,
    total: u64,
}

impl BodyDecoder {
    pub fn new(framing: Framing, strict: bool) -> BodyDecoder {
        let state = match framing {
            Framing::Length(0) => State::Done,
            Framing::Length(remaining) => State::Length { remaining },
            Framing::Chunked { .. } => State::ChunkSize,
        };
        let total = match framing {
            Framing::Length(length) => length,
            Framing::Chunked { .. } => 0,
        };
        BodyDecoder {
            state,
            strict,
            total,
        }
    }

    /// The body's length: its Content-Length, or the chunk sizes declared so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Decodes from the front of `input`: how many bytes were taken (drop them, whatever
    /// came back, `NeedMore` included), and what they were.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Decoded<'a>), DecodeError> {
        match self.state {
            State::Done => Ok((0, Decoded::Done)),
            State::Length { remaining } | State::ChunkData { remaining } => {
                if input.is_empty() {
                    return Ok((0, Decoded::NeedMore));
                }
                let take = remaining.min(input.len() as u64) as usize;
                let left = remaining - take as u64;
                self.state = match (self.state, left) {
                    (State::Length { .. }, 0) => State::Done,
                    (State::Length { .. }, _) => State::Length { remaining: left },
                    (_, 0) => State::ChunkEnd,
                    _ => State::ChunkData { remaining: left },
                };
                Ok((take, Decoded::Data(&input[..take])))
            }
            State::ChunkSize => {
                let Some((line, used)) = self.framing_line(input)? else {
                    return Ok((0, Decoded::NeedMore));
                };
                let size = std::str::from_utf8(line)
                    .ok()
                    .and_then(chunk_size)
                    .ok_or(DecodeError::Framing)?;
                self.total = self.total.saturating_add(size);
                self.state = match size {
                    0 => State::Trailers,
                    remaining => State::ChunkData { remaining },
                };
                self.decode(&input[used..])
                    .map(|(more, decoded)| (used + more, decoded))
            }
            State::ChunkEnd => {
                let Some((line, used)) = self.framing_line(input)? else {
                    return Ok((0, Decoded::NeedMore));
                };
                // A chunk's data ends with its own line end, nothing else.
                if !line.is_empty() {
                    return Err(DecodeError::Framing);
                }
                self.state = State::ChunkSize;
                self.decode(&input[used..])
                    .map(|(more, decoded)| (used + more, decoded))
            }
            State::Trailers => {
                // Trailer lines end as header lines do: CRLF unless Unsafe allows a bare LF
                // (a bad one is refused as a bad header is, not as broken framing).
                let Some((line, used, crlf)) = line_at_front(input)? else {
                    return Ok((0, Decoded::NeedMore));
                };
                if self.strict && !crlf {
                    return Err(DecodeError::BadTrailer);
                }
                if line.is_empty() {
                    self.state = State::Done;
                    return Ok((used, Decoded::Done));
                }
                let text = String::from_utf8_lossy(line);
                let (name, value) = text.split_once(':').ok_or(DecodeError::BadTrailer)?;
                let trailer = Decoded::Trailer(
                    name.trim_matches([' ', '\t']).to_string(),
                    value.trim_matches([' ', '\t']).to_string(),
                );
                Ok((used, trailer))
            }
        }
    }

    /// Decodes all that `buf` holds, draining what it used: body bytes go to `data`, trailer
    /// fields to `trailers`. `Ok(true)` once the body is complete (what follows it stays in
    /// `buf`), `Ok(false)` when more bytes are needed.
    pub fn decode_buffered<E: From<DecodeError>>(
        &mut self,
        buf: &mut Vec<u8>,
        data: &mut dyn FnMut(&[u8]) -> Result<(), E>,
        trailers: &mut Vec<(String, String)>,
    ) -> Result<bool, E> {
        loop {
            let (used, decoded) = self.decode(buf)?;
            let done = match decoded {
                Decoded::NeedMore => {
                    buf.drain(..used);
                    return Ok(false);
                }
                Decoded::Data(bytes) => {
                    data(bytes)?;
                    false
                }
                Decoded::Trailer(name, value) => {
                    trailers.push((name, value));
                    false
                }
                Decoded::Done => true,
            };
            buf.drain(..used);
            if done {
                return Ok(true);
            }
        }
    }

    /// A size line or a chunk's closing line: CRLF-ended unless Unsafe allows a bare LF.
    fn framing_line<'a>(&self, input: &'a [u8]) -> Result<Option<(&'a [u8], usize)>, DecodeError> {
        match line_at_front(input)? {
            Some((_, _, false)) if self.strict => Err(DecodeError::Framing),
            Some((line, used, _)) => Ok(Some((line, used))),
            None => Ok(None),
        }
    }
}

/// A line at the front of the input: its bytes without the line end, the bytes it took, and
/// whether it ended in CRLF.
type FrontLine<'a> = (&'a [u8], usize, bool);

/// The line at the front of `input`; `None` until a line feed arrives.
fn line_at_front(input: &[u8]) -> Result<Option<FrontLine<'_>>, DecodeError> {
    let Some(end) = memchr::memchr(b'\n', input) else {
        return if input.len() > MAX_FRAMING_LINE {
            Err(DecodeError::Framing)
        } else {
            Ok(None)
        };
    };
    let line = &input[..end];
    Ok(Some(match line.strip_suffix(b"\r") {
        Some(line) => (line, end + 1, true),
        None => (line, end + 1, false),
    }))
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

    /// The body, its trailers, and how many input bytes followed it.
    type Decoding = (Vec<u8>, Vec<(String, String)>, usize);

    /// Feeds `input` a byte at a time (the worst case for a decoder) and collects the body.
    fn decode_all(framing: Framing, input: &[u8], strict: bool) -> Result<Decoding, DecodeError> {
        let mut decoder = BodyDecoder::new(framing, strict);
        let (mut body, mut trailers, mut buf) = (Vec::new(), Vec::new(), Vec::new());
        let mut data = |bytes: &[u8]| -> Result<(), DecodeError> {
            body.extend_from_slice(bytes);
            Ok(())
        };
        for (fed, &byte) in input.iter().enumerate() {
            buf.push(byte);
            if decoder.decode_buffered(&mut buf, &mut data, &mut trailers)? {
                let left = input.len() - fed - 1 + buf.len();
                return Ok((body, trailers, left));
            }
        }
        panic!("input ended inside the body");
    }

    #[test]
    fn chunked_bodies_decode_with_their_trailers_and_leave_what_follows() {
        let input = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: a b \r\n\r\nGET";
        let (body, trailers, left) =
            decode_all(Framing::Chunked { close: false }, input, true).unwrap();
        assert_eq!(body, b"hello world");
        assert_eq!(trailers, [("X-T".to_string(), "a b".to_string())]);
        assert_eq!(left, 3);
    }

    #[test]
    fn broken_chunked_framing_is_refused() {
        let chunked = Framing::Chunked { close: false };
        for bad in [
            &b"5\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"z\r\n",
            b"5\xc2\xa0\r\n",
        ] {
            assert_eq!(
                decode_all(chunked, bad, true).unwrap_err(),
                DecodeError::Framing,
                "{bad:?}"
            );
        }
        // HttpProtocolOptions Unsafe takes a bare LF.
        assert!(decode_all(chunked, b"5\nhello\n0\n\n", false).is_ok());
        assert_eq!(
            decode_all(chunked, b"0\r\nno colon\r\n\r\n", true).unwrap_err(),
            DecodeError::BadTrailer
        );
    }

    #[test]
    fn a_length_body_ends_at_its_length() {
        let (body, _, left) = decode_all(Framing::Length(5), b"helloGET", true).unwrap();
        assert_eq!((body.as_slice(), left), (&b"hello"[..], 3));
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size("1a"), Some(26));
        assert_eq!(chunk_size("5 ;ext=1"), Some(5));
        assert_eq!(chunk_size("5\u{a0}"), None);
        assert_eq!(chunk_size(""), None);
    }
}
