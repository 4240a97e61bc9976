//! The FastCGI 1.0 record codec mod_proxy_fcgi speaks (Apache's util_fcgi.c): record headers,
//! BEGIN_REQUEST, name-value pairs packed into PARAMS records the way Apache cuts them, STDIN
//! records. Bytes only: no socket, no request, no logging.

/// The only protocol version there is.
pub const VERSION_1: u8 = 1;
/// A record header's length.
pub const HEADER_LEN: usize = 8;
/// The most content one record can carry (its length is 16 bits).
pub const MAX_CONTENT_LEN: usize = 65535;
/// Apache packs the environment into PARAMS records of at most this much content (its
/// `avail_len`), well under the protocol's limit.
pub const PARAMS_RECORD_LIMIT: usize = 16 * 1024;

pub const BEGIN_REQUEST: u8 = 1;
pub const END_REQUEST: u8 = 3;
pub const PARAMS: u8 = 4;
pub const STDIN: u8 = 5;
pub const STDOUT: u8 = 6;
pub const STDERR: u8 = 7;

/// The role Apache always asks for.
const RESPONDER: u16 = 1;

/// One record's header, as read from the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub kind: u8,
    pub request_id: u16,
    pub content_len: u16,
    pub padding_len: u8,
}

impl Header {
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Header {
        Header {
            version: bytes[0],
            kind: bytes[1],
            request_id: u16::from_be_bytes([bytes[2], bytes[3]]),
            content_len: u16::from_be_bytes([bytes[4], bytes[5]]),
            padding_len: bytes[6],
        }
    }
}

/// A record header with no padding (Apache never pads what it sends).
pub fn header(kind: u8, request_id: u16, content_len: u16) -> [u8; HEADER_LEN] {
    let id = request_id.to_be_bytes();
    let len = content_len.to_be_bytes();
    [VERSION_1, kind, id[0], id[1], len[0], len[1], 0, 0]
}

/// BEGIN_REQUEST for the responder role, asking the application to keep the connection open
/// only when it is to be reused.
pub fn begin_request(request_id: u16, keep_conn: bool) -> Vec<u8> {
    let mut out = header(BEGIN_REQUEST, request_id, 8).to_vec();
    out.extend_from_slice(&RESPONDER.to_be_bytes());
    out.push(u8::from(keep_conn));
    out.extend_from_slice(&[0; 5]);
    out
}

/// A name or value length as FastCGI writes it: one byte below 128, else four with the top
/// bit set.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 128 {
        out.push(len as u8);
    } else {
        out.extend_from_slice(&((len as u32) | 0x8000_0000).to_be_bytes());
    }
}

fn pair_len(name: &str, value: &str) -> usize {
    let len_of = |n: usize| if n < 128 { 1 } else { 4 };
    len_of(name.len()) + len_of(value.len()) + name.len() + value.len()
}

/// The environment as PARAMS records (each holding whole pairs and at most
/// [`PARAMS_RECORD_LIMIT`] bytes), then the empty one that ends them; and the names of
/// variables too large for any record, which Apache leaves out with a warning.
pub fn params(request_id: u16, env: &[(String, String)]) -> (Vec<u8>, Vec<String>) {
    let pairs: usize = env.iter().map(|(n, v)| pair_len(n, v)).sum();
    // Written in place, each record's header filled in once its length is known.
    let mut out = Vec::with_capacity(pairs + HEADER_LEN * (2 + pairs / PARAMS_RECORD_LIMIT));
    let mut skipped = Vec::new();
    let mut open: Option<usize> = None;
    let close = |out: &mut Vec<u8>, at: usize| {
        let length = (out.len() - at - HEADER_LEN) as u16;
        out[at..at + HEADER_LEN].copy_from_slice(&header(PARAMS, request_id, length));
    };
    for (name, value) in env {
        let needed = pair_len(name, value);
        if needed > PARAMS_RECORD_LIMIT {
            skipped.push(name.clone());
            continue;
        }
        if let Some(at) =
            open.filter(|&at| out.len() - at - HEADER_LEN + needed > PARAMS_RECORD_LIMIT)
        {
            close(&mut out, at);
            open = None;
        }
        if open.is_none() {
            open = Some(out.len());
            out.extend_from_slice(&[0; HEADER_LEN]);
        }
        push_len(&mut out, name.len());
        push_len(&mut out, value.len());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    if let Some(at) = open {
        close(&mut out, at);
    }
    out.extend_from_slice(&header(PARAMS, request_id, 0));
    (out, skipped)
}

/// Request body bytes as STDIN records (none for no bytes: the empty record that ends the
/// stream is [`stdin_end`]).
pub fn stdin(request_id: u16, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + HEADER_LEN);
    for piece in data.chunks(MAX_CONTENT_LEN) {
        out.extend_from_slice(&header(STDIN, request_id, piece.len() as u16));
        out.extend_from_slice(piece);
    }
    out
}

/// The empty STDIN record: the end of the request body.
pub fn stdin_end(request_id: u16) -> [u8; HEADER_LEN] {
    header(STDIN, request_id, 0)
}

/// Apache's `handle_headers` states: where in the search for the blank line that ends the
/// script's headers the STDOUT bytes so far leave off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderEnd {
    #[default]
    Reading,
    Cr,
    CrLf,
    CrLfCr,
    Lf,
    Done,
}

impl HeaderEnd {
    /// Feeds bytes; the offset just past the byte that ended the headers, if one did.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        for (at, &byte) in bytes.iter().enumerate() {
            *self = match (byte, *self) {
                (b'\r', HeaderEnd::CrLf) => HeaderEnd::CrLfCr,
                (b'\r', _) => HeaderEnd::Cr,
                (b'\n', HeaderEnd::Lf | HeaderEnd::CrLfCr) => HeaderEnd::Done,
                (b'\n', HeaderEnd::Cr) => HeaderEnd::CrLf,
                (b'\n', _) => HeaderEnd::Lf,
                _ => HeaderEnd::Reading,
            };
            if *self == HeaderEnd::Done {
                return Some(at + 1);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_pairs(mut body: &[u8]) -> Vec<(String, String)> {
        fn len(b: &mut &[u8]) -> usize {
            if b[0] < 128 {
                let n = b[0] as usize;
                *b = &b[1..];
                n
            } else {
                let n = u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]) as usize;
                *b = &b[4..];
                n
            }
        }
        let mut out = Vec::new();
        while !body.is_empty() {
            let n = len(&mut body);
            let v = len(&mut body);
            let name = String::from_utf8(body[..n].to_vec()).unwrap();
            let value = String::from_utf8(body[n..n + v].to_vec()).unwrap();
            body = &body[n + v..];
            out.push((name, value));
        }
        out
    }

    #[test]
    fn begin_request_asks_for_the_responder_role() {
        assert_eq!(
            begin_request(1, false),
            [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(begin_request(1, true)[10], 1);
    }

    #[test]
    fn params_pack_whole_pairs_and_end_with_an_empty_record() {
        let long = "v".repeat(300);
        let env = vec![
            ("A".to_string(), "1".to_string()),
            ("LONG".to_string(), long.clone()),
        ];
        let (bytes, skipped) = params(1, &env);
        assert!(skipped.is_empty());
        let head = Header::parse(bytes[..8].try_into().unwrap());
        assert_eq!((head.kind, head.request_id), (PARAMS, 1));
        let body = &bytes[8..8 + head.content_len as usize];
        assert_eq!(decode_pairs(body), env);
        assert_eq!(&bytes[8 + body.len()..], &header(PARAMS, 1, 0));
    }

    #[test]
    fn params_start_a_new_record_when_the_next_pair_would_not_fit() {
        let big = "x".repeat(10_000);
        let env = vec![
            ("ONE".to_string(), big.clone()),
            ("TWO".to_string(), big.clone()),
            ("HUGE".to_string(), "y".repeat(20_000)),
        ];
        let (bytes, skipped) = params(1, &env);
        assert_eq!(skipped, ["HUGE"]);
        let first = Header::parse(bytes[..8].try_into().unwrap());
        let second_at = 8 + first.content_len as usize;
        let second = Header::parse(bytes[second_at..second_at + 8].try_into().unwrap());
        assert_eq!(first.content_len as usize, 3 + 4 + 1 + 10_000);
        assert_eq!(second.content_len, first.content_len);
    }

    #[test]
    fn stdin_is_cut_at_the_record_limit() {
        let data = vec![7u8; MAX_CONTENT_LEN + 10];
        let bytes = stdin(1, &data);
        let first = Header::parse(bytes[..8].try_into().unwrap());
        assert_eq!(first.content_len as usize, MAX_CONTENT_LEN);
        let at = 8 + MAX_CONTENT_LEN;
        let second = Header::parse(bytes[at..at + 8].try_into().unwrap());
        assert_eq!((second.kind, second.content_len), (STDIN, 10));
        assert!(stdin(1, b"").is_empty());
    }

    #[test]
    fn the_headers_end_at_a_blank_line_of_either_kind() {
        let mut state = HeaderEnd::default();
        assert_eq!(state.feed(b"Status: 200\r\nX: y\r\n"), None);
        assert_eq!(state.feed(b"\r\nbody"), Some(2));
        let mut state = HeaderEnd::default();
        assert_eq!(state.feed(b"X: y\n\nrest"), Some(6));
        // A bare LF then CR LF is not the end, as Apache's state machine has it.
        let mut state = HeaderEnd::default();
        assert_eq!(state.feed(b"X: y\n\r\nZ: 1\r\n\r\n"), Some(15));
    }
}
