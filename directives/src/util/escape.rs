//! httpd's URL and HTML escaping on bytes: `unescape_url` and its `ap_unescape_url*` callers'
//! choices, `ap_os_escape_path`/`ap_escape_uri`, `ap_escape_path_segment`, `ap_escape_html`.
//! A path or header is bytes on the wire and on disk, so these take and give bytes; the
//! `&str` forms are for callers that have text and stay text (every escape here writes ASCII).

/// Why [`unescape_url`] refused a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unescape {
    /// A `%` without two hex digits after it (Apache answers 400).
    BadEscape,
    /// An escape of NUL or of a byte the caller forbids (Apache answers 404).
    Forbidden,
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// httpd's `unescape_url`: decodes every `%XX`. An escape of a byte in `keep` stays as
/// written; an escape of NUL or of a byte in `forbid` is [`Unescape::Forbidden`]. A bad escape
/// anywhere outranks a forbidden byte, as Apache reads the whole string before answering.
pub fn unescape_url(text: &[u8], forbid: &[u8], keep: &[u8]) -> Result<Vec<u8>, Unescape> {
    let mut out = Vec::with_capacity(text.len());
    let (mut bad_escape, mut forbidden) = (false, false);
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'%' {
            out.push(text[i]);
            i += 1;
            continue;
        }
        let digits = (
            text.get(i + 1).copied().and_then(hex_value),
            text.get(i + 2).copied().and_then(hex_value),
        );
        let (Some(high), Some(low)) = digits else {
            bad_escape = true;
            out.push(b'%');
            i += 1;
            continue;
        };
        let decoded = high << 4 | low;
        if decoded == 0 || forbid.contains(&decoded) {
            forbidden = true;
            out.push(decoded);
        } else if keep.contains(&decoded) {
            out.extend_from_slice(&text[i..i + 3]);
        } else {
            out.push(decoded);
        }
        i += 3;
    }
    if bad_escape {
        Err(Unescape::BadEscape)
    } else if forbidden {
        Err(Unescape::Forbidden)
    } else {
        Ok(out)
    }
}

/// `%hh` in lower case, as httpd's `c2x` writes it.
fn push_escaped(b: u8, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('%');
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 15)] as char);
}

fn escape_with(bytes: &[u8], keep: &[u8], out: &mut String) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else {
            push_escaped(b, out);
        }
    }
}

/// `ap_os_escape_path`: everything but letters, digits and `$-_.+!*'(),:;@&=/~` as `%hh`.
/// Without `partial` the path is a relative link, where a colon before any slash would read
/// as a scheme, so `./` goes in front.
pub fn escape_path(path: &[u8], partial: bool) -> String {
    let mut out = String::with_capacity(path.len() + 2);
    if !partial {
        let colon = path.iter().position(|&b| b == b':');
        let slash = path.iter().position(|&b| b == b'/');
        if colon.is_some_and(|c| slash.is_none_or(|s| c < s)) {
            out.push_str("./");
        }
    }
    escape_with(path, b"$-_.+!*'(),:;@&=/~", &mut out);
    out
}

/// `ap_escape_uri`: a whole path (`ap_os_escape_path` with `partial`), for Location headers
/// and redirects.
pub fn escape_uri(path: &str) -> String {
    escape_path(path.as_bytes(), true)
}

/// `ap_escape_path_segment`: one segment, so `/` is escaped too, and `;` as well.
pub fn escape_path_segment(segment: &[u8]) -> String {
    let mut out = String::with_capacity(segment.len());
    escape_with(segment, b"$-_.+!*'(),:@&=~", &mut out);
    out
}

fn html_entity(b: u8) -> Option<&'static str> {
    match b {
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'&' => Some("&amp;"),
        b'"' => Some("&quot;"),
        _ => None,
    }
}

/// `ap_escape_html`: `<`, `>`, `&` and `"` as entities; every other byte as it is.
pub fn escape_html(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &b in text {
        match html_entity(b) {
            Some(entity) => out.extend_from_slice(entity.as_bytes()),
            None => out.push(b),
        }
    }
    out
}

/// [`escape_html`] for text (the escaped bytes are ASCII, so text stays text).
pub fn escape_html_str(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match u8::try_from(c).ok().and_then(html_entity) {
            Some(entity) => out.push_str(entity),
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_reports_as_apache_does() {
        assert_eq!(unescape_url(b"a%20b", b"", b""), Ok(b"a b".to_vec()));
        assert_eq!(unescape_url(b"caf%E9", b"", b""), Ok(b"caf\xe9".to_vec()));
        assert_eq!(unescape_url(b"a%2Fb", b"", b"/"), Ok(b"a%2Fb".to_vec()));
        assert_eq!(unescape_url(b"a%2fb", b"/", b""), Err(Unescape::Forbidden));
        assert_eq!(unescape_url(b"a%00", b"", b""), Err(Unescape::Forbidden));
        assert_eq!(unescape_url(b"a%zz", b"", b""), Err(Unescape::BadEscape));
        assert_eq!(unescape_url(b"a%2", b"", b""), Err(Unescape::BadEscape));
        // A bad escape after a forbidden one still makes it a bad request.
        assert_eq!(unescape_url(b"%2f%zz", b"/", b""), Err(Unescape::BadEscape));
    }

    #[test]
    fn paths_escape_as_apache_escapes_them() {
        assert_eq!(escape_path(b"/a b;c/caf\xe9", true), "/a%20b;c/caf%e9");
        assert_eq!(escape_path(b"a:b", false), "./a:b");
        assert_eq!(escape_path(b"x/a:b", false), "x/a:b");
        assert_eq!(escape_uri("/?#%"), "/%3f%23%25");
        assert_eq!(escape_path_segment(b"a/b;c d"), "a%2fb%3bc%20d");
    }

    #[test]
    fn html_entities() {
        assert_eq!(
            escape_html(b"<a href=\"x\">&\xe9"),
            b"&lt;a href=&quot;x&quot;&gt;&amp;\xe9"
        );
        assert_eq!(escape_html_str("<é & \"'"), "&lt;é &amp; &quot;'");
    }
}
