//! The PROXY protocol header a load balancer sends before anything else on a connection
//! where mod_remoteip's RemoteIPProxyProtocol is On (HAProxy's v1 text line and v2 binary
//! block), read sans-IO: fed every byte the connection has received so far, it says what
//! mod_remoteip's input filter would make of them: more needed, the header whole (the client
//! it names), or a refusal with the message Apache logs. It follows the filter's reads (15
//! bytes, then a line for v1 or the announced block for v2) so that odd headers come out as
//! Apache's do, its quirks included. No I/O and no logging here (`server::conn` does both).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::request::ClientAddr;

/// How many bytes the filter reads before it decides which version it sees.
const FIRST_READ: usize = 15;
/// The longest v1 header the filter takes, line end included (its buffer's size).
const V1_MAX: usize = 108;
/// The v2 header's fixed part: signature, version and command, family, length.
const V2_FIXED: usize = 16;
/// The longest v2 header the filter takes: the fixed part and the largest address block it
/// knows (two AF_UNIX paths).
const V2_MAX: usize = V2_FIXED + 216;
/// The most a line read returns without finding its end (Apache's HUGE_STRING_LEN).
const LINE_READ_MAX: usize = 8192;
/// The v2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// What the bytes received so far make of the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// More bytes are needed (when the client has closed: it closed too soon).
    NeedMore,
    /// The header is whole and `length` bytes long; the client it names, or `None` when it
    /// names none (v1 `UNKNOWN`, v2 `LOCAL`) and the connection's own client stands.
    Done {
        client: Option<ClientAddr>,
        length: usize,
    },
    /// Not a header the filter takes: the connection is dropped, after the message (none
    /// when the first bytes are no PROXY header at all, which Apache drops silently).
    Refused(Option<Refusal>),
    /// A v1 header whose line end came within the filter's first read: whole, but the
    /// filter holds more than the header by then, an internal error to Apache (after it has
    /// said the header is valid): the header's client, its length and the bytes held.
    LeftOver {
        client: Option<ClientAddr>,
        length: usize,
        held: usize,
    },
}

impl Progress {
    /// mod_remoteip's message for a header whole but with bytes left over.
    pub fn left_over_message(length: usize, held: usize) -> String {
        format!(
            "AH03513: RemoteIPProxyProtocol: internal error: have data left over;  \
             need={length}, rcvd={held}, brigade-empty=1"
        )
    }
}

/// A refused header's error-log message (mod_remoteip's, at error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status Apache prints before the message (a resolver's `(EAI 9)...`).
    pub cause: Option<String>,
    /// `AHnnnnn: ...`, as bytes: a v1 header is quoted as it arrived.
    pub message: Vec<u8>,
}

impl Refusal {
    fn progress(message: impl Into<Vec<u8>>) -> Progress {
        Progress::Refused(Some(Refusal {
            cause: None,
            message: message.into(),
        }))
    }
}

/// Reads the header from `received`, every byte the connection brought so far; `closed` when
/// the client has sent its last one.
pub fn read(received: &[u8], closed: bool) -> Progress {
    if received.len() < FIRST_READ {
        return Progress::NeedMore;
    }
    let first = &received[..FIRST_READ];
    if first[..12] == V2_SIGNATURE[..] && first[12] & 0xf0 == 0x20 {
        read_v2(received)
    } else if first.starts_with(b"PROXY ") {
        read_v1(received, closed)
    } else {
        Progress::Refused(None)
    }
}

/// v1: after the first 15 bytes the filter reads a line at a time (each at most what is left
/// of its 108 bytes) until the bytes it holds contain a CRLF; what it holds past that CRLF is
/// an error (`PROXY UNKNOWN\r\n`, 15 bytes, fails so in Apache).
fn read_v1(received: &[u8], closed: bool) -> Progress {
    let mut held = FIRST_READ;
    loop {
        let want = V1_MAX.saturating_sub(held);
        let rest = &received[held..];
        let got = match rest.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1).min(LINE_READ_MAX),
            None if rest.len() >= LINE_READ_MAX => LINE_READ_MAX,
            None if closed && !rest.is_empty() => rest.len(),
            None => return Progress::NeedMore,
        };
        if got > want {
            return Refusal::progress(format!(
                "AH10185: RemoteIPProxyProtocol header too long, got {got} expected {want}"
            ));
        }
        held += got;
        let header = &received[..held];
        let Some(end) = header[..held - 1].iter().position(|&b| b == b'\r') else {
            continue;
        };
        if header[end + 1] != b'\n' {
            continue;
        }
        let length = end + 2;
        return match parse_v1(&header[..end]) {
            Ok(client) if held > length => Progress::LeftOver {
                client,
                length,
                held,
            },
            Ok(client) => Progress::Done { client, length },
            Err(refused) => refused,
        };
    }
}

/// The words of a v1 line, as `PROXY family client destination client-port ...`.
fn parse_v1(line: &[u8]) -> Result<Option<ClientAddr>, Progress> {
    // The line is a C string in Apache: it ends at a NUL.
    let line = line.split(|&b| b == 0).next().unwrap_or_default();
    let quoted =
        |template: &str, word: Option<&[u8]>| fill(template, word.unwrap_or_default(), line);
    let missing = |field: &str| {
        Refusal::progress(quoted(
            &format!("AH03497: RemoteIPProxyProtocol: no {field} found in header '{{line}}'"),
            None,
        ))
    };
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    words.next();
    let family = words.next().ok_or_else(|| missing("family"))?;
    let (family, valid): (i32, &[u8]) = match family {
        b"UNKNOWN" => return Ok(None),
        b"TCP4" => (libc::AF_INET, b"0123456789."),
        b"TCP6" => (libc::AF_INET6, b"0123456789abcdefABCDEF:."),
        other => {
            return Err(Refusal::progress(quoted(
                "AH03499: RemoteIPProxyProtocol: unknown family '{word}' in header '{line}'",
                Some(other),
            )))
        }
    };
    let host = words.next().ok_or_else(|| missing("client-address"))?;
    if !host.iter().all(|b| valid.contains(b)) {
        return Err(Refusal::progress(quoted(
            "AH03500: RemoteIPProxyProtocol: invalid client-address '{word}' found in header '{line}'",
            Some(host),
        )));
    }
    words.next().ok_or_else(|| missing("destination-address"))?;
    let port_word = words.next().ok_or_else(|| missing("client-port"))?;
    let Some(port) = scan_port(port_word) else {
        return Err(Refusal::progress(quoted(
            "AH03501: RemoteIPProxyProtocol: error parsing port '{word}' in header '{line}'",
            Some(port_word),
        )));
    };
    // Only address characters got this far: the text is ASCII.
    let host = String::from_utf8_lossy(host);
    match resolve(&host, family) {
        Ok(ip) => Ok(Some(ClientAddr::written(SocketAddr::new(ip, port), &host))),
        Err(code) => {
            let message = quoted(
                &format!(
                    "AH03502: RemoteIPProxyProtocol: error converting family '{family}', host \
                     '{host}', and port '{port}' to sockaddr; header was '{{line}}'"
                ),
                None,
            );
            Err(Progress::Refused(Some(Refusal {
                cause: Some(crate::sys::eai_text(code)),
                message,
            })))
        }
    }
}

/// A message template with the offending word (`{word}`) and the header line (`{line}`)
/// put in, as bytes: the header is quoted as it arrived.
fn fill(template: &str, word: &[u8], line: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, part) in template.split("{line}").enumerate() {
        if i > 0 {
            out.extend_from_slice(line);
        }
        for (j, piece) in part.split("{word}").enumerate() {
            if j > 0 {
                out.extend_from_slice(word);
            }
            out.extend_from_slice(piece.as_bytes());
        }
    }
    out
}

/// The first address `host` resolves to in `family`, as `apr_sockaddr_info_get` finds it
/// (an IPv4 address in any of inet_aton's forms, `127.1` among them); getaddrinfo's code.
fn resolve(host: &str, family: i32) -> Result<IpAddr, i32> {
    // The plain forms need no resolver.
    if family == libc::AF_INET {
        if let Ok(v4) = host.parse::<Ipv4Addr>() {
            return Ok(IpAddr::V4(v4));
        }
    } else if let Ok(v6) = host.parse::<Ipv6Addr>() {
        return Ok(IpAddr::V6(v6));
    }
    crate::sys::resolve(host, family)?
        .first()
        .copied()
        .ok_or(libc::EAI_NONAME)
}

/// `sscanf(word, "%hu")`: leading white space, a sign, decimal digits (at least one), taken
/// as `strtoul` takes them (a negative number wraps, an overflow is the largest value) and
/// cut to 16 bits.
fn scan_port(word: &[u8]) -> Option<u16> {
    let mut rest = word;
    while let [b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r', tail @ ..] = rest {
        rest = tail;
    }
    let negative = rest.first() == Some(&b'-');
    if let [b'+' | b'-', tail @ ..] = rest {
        rest = tail;
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let value = rest[..digits].iter().try_fold(0u64, |value, digit| {
        value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit - b'0')))
    });
    let value = match value {
        Some(value) if negative => value.wrapping_neg(),
        Some(value) => value,
        None => u64::MAX,
    };
    Some(value as u16)
}

/// v2: the fixed part says how long the rest is; the filter reads exactly that much.
fn read_v2(received: &[u8]) -> Progress {
    if received.len() < V2_FIXED {
        return Progress::NeedMore;
    }
    let length = usize::from(u16::from_be_bytes([received[14], received[15]]));
    let whole = V2_FIXED + length;
    if whole > V2_MAX {
        return Refusal::progress("AH10186: RemoteIPProxyProtocol protocol header length too long");
    }
    if received.len() < whole {
        return Progress::NeedMore;
    }
    let header = &received[..whole];
    let (command, family) = (header[12], header[13]);
    let client = match (command & 0x0f, family) {
        // LOCAL: the proxy speaking for itself (a health check); the connection stands.
        (0x00, _) => None,
        (0x01, 0x11) => {
            if length < 12 {
                return Refusal::progress(format!(
                    "AH10597: RemoteIPProxyProtocol: address length {length} too short for TCPv4"
                ));
            }
            let ip = Ipv4Addr::new(header[16], header[17], header[18], header[19]);
            let port = u16::from_be_bytes([header[24], header[25]]);
            Some(SocketAddr::new(IpAddr::V4(ip), port))
        }
        (0x01, 0x21) => {
            if length < 36 {
                return Refusal::progress(format!(
                    "AH10598: RemoteIPProxyProtocol: address length {length} too short for TCPv6"
                ));
            }
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&header[16..32]);
            let port = u16::from_be_bytes([header[48], header[49]]);
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port))
        }
        (0x01, other) => {
            return Refusal::progress(format!(
                "AH10183: RemoteIPProxyProtocol: unsupported protocol {other:02x}"
            ))
        }
        _ => {
            return Refusal::progress(format!(
                "AH03507: RemoteIPProxyProtocol: unsupported command {command:02x}"
            ))
        }
    };
    // Any TLVs after the addresses are part of the block and skipped with it.
    Progress::Done {
        client: client.map(ClientAddr::new),
        length: whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(progress: Progress) -> (String, u16, usize) {
        match progress {
            Progress::Done {
                client: Some(client),
                length,
            } => (client.ip_text().into_owned(), client.port(), length),
            other => panic!("not a client: {other:?}"),
        }
    }

    fn refusal(progress: Progress) -> String {
        match progress {
            Progress::Refused(Some(refusal)) => String::from_utf8(refusal.message).unwrap(),
            other => panic!("not refused with a message: {other:?}"),
        }
    }

    fn v2(command: u8, family: u8, block: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.extend_from_slice(&[command, family]);
        out.extend_from_slice(&(block.len() as u16).to_be_bytes());
        out.extend_from_slice(block);
        out
    }

    #[test]
    fn a_v1_header_names_its_client_as_written() {
        let header = b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nGET / HTTP/1.0\r\n\r\n";
        assert_eq!(client(read(header, false)), ("1.2.3.4".into(), 1111, 38));
        let header = b"PROXY  TCP4  127.1  5.6.7.8  -1 2\r\n";
        assert_eq!(
            client(read(header, false)),
            ("127.1".into(), 65535, header.len())
        );
        let header = b"PROXY TCP6 2001:DB8::1 ::1 70000 2\r\n";
        assert_eq!(
            client(read(header, false)),
            ("2001:DB8::1".into(), 4464, header.len())
        );
        let unknown = b"PROXY UNKNOWN whatever follows\r\n";
        assert_eq!(
            read(unknown, false),
            Progress::Done {
                client: None,
                length: unknown.len()
            }
        );
    }

    #[test]
    fn a_v1_header_arrives_in_pieces() {
        let header = b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n";
        for cut in 0..header.len() {
            assert_eq!(read(&header[..cut], false), Progress::NeedMore, "{cut}");
        }
        assert_eq!(read(&header[..20], true), Progress::NeedMore);
    }

    #[test]
    fn a_v1_header_is_refused_as_apache_refuses_it() {
        let refused = |text: &[u8]| refusal(read(text, false));
        assert_eq!(
            refused(b"PROXY TCP4 1.2.3.4\r\nGET"),
            "AH03497: RemoteIPProxyProtocol: no destination-address found in header 'PROXY TCP4 1.2.3.4'"
        );
        assert_eq!(
            refused(b"PROXY TCP5 1.2.3.4 ::1 7 2\r\n"),
            "AH03499: RemoteIPProxyProtocol: unknown family 'TCP5' in header 'PROXY TCP5 1.2.3.4 ::1 7 2'"
        );
        assert_eq!(
            refused(b"PROXY TCP4 1.2.3.x 5.6.7.8 1 3\r\n"),
            "AH03500: RemoteIPProxyProtocol: invalid client-address '1.2.3.x' found in header 'PROXY TCP4 1.2.3.x 5.6.7.8 1 3'"
        );
        assert_eq!(
            refused(b"PROXY TCP4 1.2.3.4 5.6.7.8 x 3\r\n"),
            "AH03501: RemoteIPProxyProtocol: error parsing port 'x' in header 'PROXY TCP4 1.2.3.4 5.6.7.8 x 3'"
        );
        // The whole line is read after the first 15 bytes; it may hold 93 more.
        let long = [&b"PROXY TCP4 "[..], &[b'1'; 120], b" 5.6.7.8 1 3\r\n"].concat();
        assert_eq!(
            refused(&long),
            "AH10185: RemoteIPProxyProtocol header too long, got 130 expected 93"
        );
        // A header whose CRLF falls within the first 15 bytes leaves the next line over.
        assert_eq!(
            read(b"PROXY UNKNOWN\r\nGET / HTTP/1.0\r\n", false),
            Progress::LeftOver {
                client: None,
                length: 15,
                held: 31
            }
        );
        assert_eq!(
            Progress::left_over_message(15, 31),
            "AH03513: RemoteIPProxyProtocol: internal error: have data left over;  need=15, rcvd=31, brigade-empty=1"
        );
        match read(b"PROXY TCP6 1.2.3.4 ::1 7 2\r\n", false) {
            Progress::Refused(Some(refusal)) => {
                assert_eq!(
                    refusal.cause.as_deref(),
                    Some("(EAI 9)Address family for hostname not supported")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            read(b"GET / HTTP/1.0\r\n\r\n", false),
            Progress::Refused(None)
        );
    }

    #[test]
    fn a_v2_header_names_its_client() {
        let mut block = vec![4, 3, 2, 1, 5, 6, 7, 8];
        block.extend_from_slice(&4444u16.to_be_bytes());
        block.extend_from_slice(&80u16.to_be_bytes());
        let header = v2(0x21, 0x11, &block);
        assert_eq!(client(read(&header, false)), ("4.3.2.1".into(), 4444, 28));
        for cut in 0..header.len() {
            assert_eq!(read(&header[..cut], false), Progress::NeedMore);
        }
        // IPv6, with a TLV after the addresses, skipped.
        let mut block = (1..=16).collect::<Vec<u8>>();
        block.extend_from_slice(&[0; 16]);
        block.extend_from_slice(&4444u16.to_be_bytes());
        block.extend_from_slice(&80u16.to_be_bytes());
        block.extend_from_slice(b"\x01\x00\x04abcd");
        let header = v2(0x21, 0x21, &block);
        let (ip, port, length) = client(read(&[&header[..], b"GET"].concat(), false));
        assert_eq!(
            (ip.as_str(), port, length),
            ("102:304:506:708:90a:b0c:d0e:f10", 4444, header.len())
        );
        // An IPv4-mapped address is written as IPv4.
        let mut block = vec![0; 10];
        block.extend_from_slice(&[0xff, 0xff, 9, 8, 7, 6]);
        block.extend_from_slice(&[0; 20]);
        assert_eq!(client(read(&v2(0x21, 0x21, &block), false)).0, "9.8.7.6");
        // LOCAL: the connection's own client.
        let local = v2(0x20, 0x00, &[]);
        assert_eq!(
            read(&local, false),
            Progress::Done {
                client: None,
                length: 16
            }
        );
    }

    #[test]
    fn a_v2_header_is_refused_as_apache_refuses_it() {
        let refused = |header: Vec<u8>| refusal(read(&header, false));
        assert_eq!(
            refused(v2(0x21, 0x11, &[0; 8])),
            "AH10597: RemoteIPProxyProtocol: address length 8 too short for TCPv4"
        );
        assert_eq!(
            refused(v2(0x21, 0x21, &[0; 12])),
            "AH10598: RemoteIPProxyProtocol: address length 12 too short for TCPv6"
        );
        assert_eq!(
            refused(v2(0x21, 0x12, &[0; 12])),
            "AH10183: RemoteIPProxyProtocol: unsupported protocol 12"
        );
        assert_eq!(
            refused(v2(0x22, 0x11, &[0; 12])),
            "AH03507: RemoteIPProxyProtocol: unsupported command 22"
        );
        assert_eq!(
            refused(v2(0x21, 0x11, &[0; 300])),
            "AH10186: RemoteIPProxyProtocol protocol header length too long"
        );
        // Version 3 is no v2 header, nor a v1 one: dropped without a word.
        assert_eq!(
            read(&v2(0x31, 0x11, &[0; 12]), false),
            Progress::Refused(None)
        );
    }

    #[test]
    fn ports_scan_as_sscanf_scans_them() {
        assert_eq!(scan_port(b"80"), Some(80));
        assert_eq!(scan_port(b"+12abc"), Some(12));
        assert_eq!(scan_port(b"-1"), Some(65535));
        assert_eq!(scan_port(b"70000"), Some(4464));
        assert_eq!(scan_port(b"99999999999999999999999"), Some(65535));
        assert_eq!(scan_port(b"x1"), None);
        assert_eq!(scan_port(b"-"), None);
    }
}
