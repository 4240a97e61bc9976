//! Request-target handling before anything touches the filesystem, in Apache 2.4.51+'s order:
//! normalise the still-encoded path (unreserved escapes decoded, `.`/`..` resolved, never
//! above the root), then decode the rest (an encoded `/` or NUL is 404, a bad escape 400).
//! This is what closes CVE-2021-41773 and CVE-2021-42013 (`/.%2e/`, `%%32%65`).

use rhttpd_directives::util::escape::{unescape_url, Unescape};

/// Why a path was refused, with the status Apache gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriError {
    /// The path cannot be normalized: a malformed escape, or a `..` climbing above the root
    /// (Apache's AH10244, 400).
    InvalidPath,
    BadRequest,
    NotFound,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Decodes escapes of unreserved characters only (`%2e` -> `.`), leaving every other escape.
fn decode_unreserved(path: &[u8]) -> Result<Vec<u8>, UriError> {
    let b = path;
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(UriError::BadRequest);
            };
            let c = h * 16 + l;
            if is_unreserved(c) {
                out.push(c);
            } else {
                out.extend_from_slice(&b[i..i + 3]);
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Resolves `.` and `..` segments (and folds `//` when `merge_slashes`); `None` if `..` would
/// climb above the root.
pub fn remove_dot_segments(path: &str, merge_slashes: bool) -> Option<String> {
    remove_dot_segments_bytes(path.as_bytes(), merge_slashes)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// [`remove_dot_segments`] on bytes (a decoded path need not be UTF-8), built in one buffer:
/// it runs on every request.
fn remove_dot_segments_bytes(path: &[u8], merge_slashes: bool) -> Option<Vec<u8>> {
    // `out` is "/" and the kept segments joined by "/"; `kept` counts them.
    let mut out = Vec::with_capacity(path.len() + 1);
    out.push(b'/');
    let mut kept = 0usize;
    let push = |out: &mut Vec<u8>, kept: &mut usize, segment: &[u8]| {
        if *kept > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(segment);
        *kept += 1;
    };
    let mut segments = path.split(|&b| b == b'/').skip(1).peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            b"." => {
                if last {
                    push(&mut out, &mut kept, b"");
                }
            }
            b".." => {
                if kept == 0 {
                    return None;
                }
                let separator = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(if kept == 1 { 1 } else { separator });
                kept -= 1;
                if last {
                    push(&mut out, &mut kept, b"");
                }
            }
            b"" if merge_slashes && !last => {}
            segment => push(&mut out, &mut kept, segment),
        }
    }
    Some(out)
}

/// Decodes every escape; `%2F` is refused unless allowed, `%00` always.
/// `AllowEncodedSlashes`: refuse `%2F` (Off, the default), decode it (On), or keep it encoded
/// (NoDecode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodedSlashes {
    #[default]
    Refuse,
    Decode,
    Keep,
}

fn unescape(path: &[u8], slashes: EncodedSlashes) -> Result<Vec<u8>, UriError> {
    let (forbid, keep): (&[u8], &[u8]) = match slashes {
        EncodedSlashes::Refuse => (b"/", b""),
        EncodedSlashes::Decode => (b"", b""),
        EncodedSlashes::Keep => (b"", b"/"),
    };
    unescape_url(path, forbid, keep).map_err(|e| match e {
        Unescape::BadEscape => UriError::BadRequest,
        Unescape::Forbidden => UriError::NotFound,
    })
}

/// The decoded, normalised path of an origin-form target's path part, as text (bytes that
/// are not UTF-8 become U+FFFD).
pub fn normalize(
    raw_path: &str,
    merge_slashes: bool,
    slashes: EncodedSlashes,
) -> Result<String, UriError> {
    normalize_bytes(raw_path, merge_slashes, slashes)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// [`normalize`] giving the decoded bytes themselves.
pub fn normalize_bytes(
    raw_path: &str,
    merge_slashes: bool,
    slashes: EncodedSlashes,
) -> Result<Vec<u8>, UriError> {
    // Not a path at all: refused with the request line (400), before any normalizing.
    if !raw_path.starts_with('/') {
        return Err(UriError::BadRequest);
    }
    if is_normal(raw_path.as_bytes(), merge_slashes) {
        return Ok(raw_path.as_bytes().to_vec());
    }
    let decoded_unreserved =
        decode_unreserved(raw_path.as_bytes()).map_err(|_| UriError::InvalidPath)?;
    let normalized = remove_dot_segments_bytes(&decoded_unreserved, merge_slashes)
        .ok_or(UriError::InvalidPath)?;
    let decoded = unescape(&normalized, slashes)?;
    // Decoding may reveal dot segments again (%252e decodes to %2e only); Apache normalises
    // the decoded path once more, still refusing to climb above the root.
    remove_dot_segments_bytes(&decoded, merge_slashes).ok_or(UriError::BadRequest)
}

/// Whether a path comes out of normalising as it went in: no escape to decode, no dot
/// segment (nothing starts with a dot after a slash) and, when slashes merge, no empty
/// segment. Most requests' paths are; they are then copied once instead of four times.
fn is_normal(path: &[u8], merge_slashes: bool) -> bool {
    let mut previous = 0u8;
    for &b in path {
        match (previous, b) {
            (_, b'%') | (b'/', b'.') => return false,
            (b'/', b'/') if merge_slashes => return false,
            _ => previous = b,
        }
    }
    true
}

/// Whether a Host header (or an absolute request-target's host) passes Apache's checks: an
/// optional port of 1 to 65535; a bracketed IPv6 literal without a scope; otherwise a name
/// without `/`, `\` or `..`. HttpProtocolOptions Strict (`strict`) also wants letters, digits,
/// `-`, `_` and `.` only, a last label that starts with a letter, dotted-decimal only as four
/// parts without leading zeros, and not a bare number.
pub fn valid_host(host: &str, strict: bool) -> bool {
    if host.is_empty() {
        return true;
    }
    if host.bytes().all(|b| b.is_ascii_digit()) {
        return !strict;
    }
    // The port: the digits after the last colon (apr_parse_addr_port).
    let digits = host
        .bytes()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let mut name = host;
    if digits > 0 && host[..host.len() - digits].ends_with(':') {
        let colon = host.len() - digits - 1;
        if colon == 0 {
            return false;
        }
        let port: u64 = host[colon + 1..].parse().unwrap_or(u64::MAX);
        if !(1..=65535).contains(&port) {
            return false;
        }
        name = &host[..colon];
    }
    if let Some(literal) = name.strip_prefix('[') {
        return literal
            .strip_suffix(']')
            .is_some_and(|inner| inner.parse::<std::net::Ipv6Addr>().is_ok());
    }
    // One pass over the name's bytes: every request has its host judged.
    let bytes = name.as_bytes();
    let bytes = bytes.strip_suffix(b".").unwrap_or(bytes);
    let mut previous = 0u8;
    let mut name_chars = true;
    let mut digits_and_dots = true;
    let mut dotted_quad_labels = true;
    let mut dots = 0;
    let mut last_label = 0;
    for (at, &b) in bytes.iter().enumerate() {
        match b {
            b'/' | b'\\' => return false,
            b'.' if previous == b'.' => return false,
            b'.' => {
                // A dotted-quad label is not empty and has no leading zero.
                let label = &bytes[last_label..at];
                dotted_quad_labels &= !(label.is_empty() || label.len() > 1 && label[0] == b'0');
                dots += 1;
                last_label = at + 1;
            }
            b'0'..=b'9' => {}
            _ => {
                digits_and_dots = false;
                name_chars &= b.is_ascii_alphabetic() || b == b'-' || b == b'_';
            }
        }
        previous = b;
    }
    // A trailing dot was taken off above, but a doubled one is still refused.
    if name.ends_with("..") {
        return false;
    }
    if !strict {
        return true;
    }
    if !name_chars {
        return false;
    }
    let last = &bytes[last_label..];
    if digits_and_dots {
        return dots == 3
            && dotted_quad_labels
            && !(last.is_empty() || last.len() > 1 && last[0] == b'0');
    }
    // The top-level label starts with a letter.
    dots == 0 || last.is_empty() || last[0].is_ascii_alphabetic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_judged_as_apache_judges_them() {
        // (host, strict verdict, lenient verdict)
        let cases = [
            ("", true, true),
            ("123", false, true),
            ("example.com", true, true),
            ("example.com.", true, true),
            ("example.com.:80", true, true),
            ("ex..com", false, false),
            ("ex..", false, false),
            ("ex.com..:80", false, false),
            ("1.2.3.04", false, true),
            ("01.2.3.4", false, true),
            (".", false, true),
            ("a/b", false, false),
            ("a\\b", false, false),
            ("ex ample", false, true),
            ("a_b.c-d", true, true),
            ("localhost", true, true),
            ("a.1com", false, true),
            ("127.0.0.1", true, true),
            ("127.0.0.1:8080", true, true),
            ("1.2.3.4.", true, true),
            ("127.0.0.01", false, true),
            ("1.2.3", false, true),
            ("1.2.3.4.5", false, true),
            ("example.com:0", false, false),
            ("example.com:65536", false, false),
            (":80", false, false),
            ("[::1]", true, true),
            ("[::1]:8080", true, true),
            ("[fe80::1%eth0]", false, false),
        ];
        for (host, strict, lenient) in cases {
            assert_eq!(valid_host(host, true), strict, "{host} strict");
            assert_eq!(valid_host(host, false), lenient, "{host} lenient");
        }
    }

    #[test]
    fn a_normal_path_is_what_the_whole_normalising_gives() {
        let paths = [
            "/",
            "/a",
            "/a/",
            "/a/b.html",
            "/a//b",
            "//",
            "/a.b/c",
            "/x..y/",
            "/a/b/",
            "/caf\u{e9}",
            "/a/./b",
            "/a/../b",
            "/.hidden",
            "/a%20b",
            "/a/b/..",
            "/..",
        ];
        for path in paths {
            for merge in [true, false] {
                let slow = decode_unreserved(path.as_bytes())
                    .ok()
                    .and_then(|d| remove_dot_segments_bytes(&d, merge))
                    .and_then(|n| unescape(&n, EncodedSlashes::Refuse).ok())
                    .and_then(|u| remove_dot_segments_bytes(&u, merge));
                if is_normal(path.as_bytes(), merge) {
                    assert_eq!(
                        slow.as_deref(),
                        Some(path.as_bytes()),
                        "{path} merge={merge}"
                    );
                }
            }
        }
        assert!(is_normal(b"/a/b.html", true));
        assert!(!is_normal(b"/a//b", true));
        assert!(is_normal(b"/a//b", false));
        assert!(!is_normal(b"/a/.b", true));
        assert!(!is_normal(b"/a%41", true));
    }

    #[test]
    fn dot_segments_go_as_rfc_3986_says() {
        let cases: &[(&str, bool, Option<&str>)] = &[
            ("/a/../b", true, Some("/b")),
            ("/a/b/..", true, Some("/a/")),
            ("/", true, Some("/")),
            ("//a", true, Some("/a")),
            ("//a", false, Some("//a")),
            ("/..", true, None),
            ("/a/./b/.", true, Some("/a/b/")),
            ("/a//b/", true, Some("/a/b/")),
            ("/a//b/", false, Some("/a//b/")),
            ("/a/b/../../..", true, None),
            ("/a/b/../../", true, Some("/")),
        ];
        for (path, merge, expected) in cases {
            let got = remove_dot_segments(path, *merge);
            assert_eq!(got.as_deref(), *expected, "{path} merge={merge}");
        }
    }

    #[test]
    fn traversal_shapes_are_refused() {
        assert_eq!(
            normalize(
                "/cgi-bin/.%2e/.%2e/etc/passwd",
                true,
                EncodedSlashes::Refuse
            ),
            Err(UriError::InvalidPath)
        );
        assert_eq!(
            normalize("/../etc/passwd", true, EncodedSlashes::Refuse),
            Err(UriError::InvalidPath)
        );
        assert_eq!(
            normalize("/a/%2e%2e/%2e%2e/b", true, EncodedSlashes::Refuse),
            Err(UriError::InvalidPath)
        );
        assert_eq!(
            normalize("/a/%%32%65%%32%65/b", true, EncodedSlashes::Refuse),
            Err(UriError::InvalidPath)
        );
    }

    #[test]
    fn decoded_bytes_need_not_be_utf8() {
        assert_eq!(
            normalize_bytes("/caf%E9/./x", true, EncodedSlashes::Refuse).unwrap(),
            b"/caf\xe9/x"
        );
        assert_eq!(
            normalize("/caf%E9", true, EncodedSlashes::Refuse).unwrap(),
            "/caf\u{fffd}"
        );
    }

    #[test]
    fn ordinary_paths_normalise() {
        assert_eq!(
            normalize("/a/./b/../c", true, EncodedSlashes::Refuse).unwrap(),
            "/a/c"
        );
        assert_eq!(
            normalize("/a//b", true, EncodedSlashes::Refuse).unwrap(),
            "/a/b"
        );
        assert_eq!(
            normalize("/a%20b", true, EncodedSlashes::Refuse).unwrap(),
            "/a b"
        );
        assert_eq!(
            normalize("/a%2fb", true, EncodedSlashes::Refuse),
            Err(UriError::NotFound)
        );
        assert_eq!(
            normalize("/a%00", true, EncodedSlashes::Refuse),
            Err(UriError::NotFound)
        );
        assert_eq!(
            normalize("/a%zz", true, EncodedSlashes::Refuse),
            Err(UriError::InvalidPath)
        );
        assert_eq!(
            normalize("/dir/", true, EncodedSlashes::Refuse).unwrap(),
            "/dir/"
        );
        assert_eq!(
            normalize("/dir/.", true, EncodedSlashes::Refuse).unwrap(),
            "/dir/"
        );
    }
}
