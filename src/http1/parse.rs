//! Request heads: the request line and header fields, checked against `LimitRequestLine`,
//! `LimitRequestFieldSize` and `LimitRequestFields` as Apache checks them.

use std::fmt;

use super::chars::{holds_control, is_token};

/// The limits Apache's `LimitRequest*` directives set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub line: usize,
    pub field_size: usize,
    /// 0 means unlimited.
    pub fields: usize,
    /// `HttpProtocolOptions Strict` (the default): CRLF line ends only.
    pub strict: bool,
    /// `HttpProtocolOptions Allow0.9` (the default) rather than `Require1.0`.
    pub allow_09: bool,
}

impl Default for Limits {
    /// Apache's defaults: 8190-byte lines and fields, 100 fields.
    fn default() -> Self {
        Limits {
            strict: true,
            allow_09: true,
            line: 8190,
            field_size: 8190,
            fields: 100,
        }
    }
}

/// The protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// A request line without a protocol: the response is the bare body.
    Http09,
    Http10,
    /// HTTP/1.1 and any later `HTTP/x.y` (Apache treats them alike).
    Http11,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http09 => "HTTP/0.9",
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// Header fields in arrival order; names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, joined with ", " as Apache merges repeated fields.
    pub fn get_joined(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    /// How many fields named `name` arrived.
    pub fn count(&self, name: &str) -> usize {
        self.0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// Whether a field names `token` as Apache's `ap_find_token` finds one: the value is cut
    /// into runs of token characters, and a run that is `token` or the start of it counts
    /// (any case), so `Connection: clos` and `Connection: c lose` both ask to close.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens_named(name, &[token])[0]
    }

    /// `has_token` for several tokens of one field in a single pass over its values.
    pub fn tokens_named<const N: usize>(&self, name: &str, tokens: &[&str; N]) -> [bool; N] {
        let mut found = [false; N];
        for (field, value) in &self.0 {
            if !field.eq_ignore_ascii_case(name) {
                continue;
            }
            for run in value.as_bytes().split(|&b| !is_token(b)) {
                if run.is_empty() {
                    continue;
                }
                for (token, found) in tokens.iter().zip(found.iter_mut()) {
                    *found |= token
                        .as_bytes()
                        .get(..run.len())
                        .is_some_and(|start| start.eq_ignore_ascii_case(run));
                }
            }
        }
        found
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.0.push((name.to_string(), value.into()));
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The request-target as sent (origin-form, absolute-form or `*`).
    pub target: String,
    pub version: Version,
    pub headers: Headers,
    /// The request line as received, bytes and all, for logs (`%r`).
    pub request_line: Vec<u8>,
    /// The header fields whose values are not UTF-8, as received: `headers` holds their text
    /// with U+FFFD for each bad sequence, and the logs, which write bytes as Apache does
    /// (`\xe9`), find the bytes here. Empty for nearly every request.
    pub raw_values: Vec<(String, Vec<u8>)>,
    /// It arrived over TLS (set by the connection, not the parser): an absolute target names
    /// the host only with the connection's own scheme, as Apache's `ap_parse_uri` has it.
    pub tls: bool,
}

impl RequestHead {
    /// The bytes a request header's `value` arrived as: its own, unless the field came in as
    /// something other than UTF-8 and `value` is still the text it was given (a value a module
    /// has rewritten is its new text).
    pub fn received<'a>(&'a self, name: &str, value: &'a str) -> &'a [u8] {
        self.raw_values
            .iter()
            .find(|(n, raw)| n.eq_ignore_ascii_case(name) && String::from_utf8_lossy(raw) == value)
            .map_or(value.as_bytes(), |(_, raw)| raw)
    }

    /// The method's bytes as received: a request line that could not be parsed may start
    /// with bytes that are not UTF-8 (the method holds their text), and Apache logs them.
    pub fn received_method(&self) -> &[u8] {
        let first = self
            .request_line
            .split(u8::is_ascii_whitespace)
            .find(|word| !word.is_empty());
        match first {
            Some(word) if String::from_utf8_lossy(word) == self.method => word,
            _ => self.method.as_bytes(),
        }
    }
}

/// Why a head was refused; each maps to the status Apache answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// Request line longer than LimitRequestLine: 414.
    LineTooLong,
    /// A field longer than LimitRequestFieldSize: 400, with the field name (cut) in the notes.
    FieldTooLong(String),
    /// More fields than LimitRequestFields: 400.
    TooManyFields,
    /// A field line without a colon or with bad characters: 400.
    BadField,
    /// A request line Apache cannot parse (an `HTTP/0.x` protocol among them): 400.
    BadRequestLine,
    /// A request line that could not even be read (a bare LF under Strict): 400, and as its
    /// method was never parsed, the answer is not that of a HEAD.
    UnreadableRequestLine,
}

impl HeadError {
    pub fn status(&self) -> u16 {
        match self {
            HeadError::LineTooLong => 414,
            _ => 400,
        }
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// One line of `buf` starting at `from`: its text without the line end, the offset after it,
/// and whether it ended in CRLF (Apache's default `HttpProtocolOptions Strict` requires it).
fn line_at(buf: &[u8], from: usize) -> Option<(&[u8], usize, bool)> {
    let rest = &buf[from..];
    let end = memchr::memchr(b'\n', rest)?;
    let line = &rest[..end];
    match line.strip_suffix(b"\r") {
        Some(line) => Some((line, from + end + 1, true)),
        None => Some((line, from + end + 1, false)),
    }
}

/// Parses a request head from the start of `buf`. `Ok(None)` means more bytes are needed.
/// Leading empty lines are skipped as Apache skips them.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let mut pos = 0;
    // Apache tolerates blank lines before the request line (ended by CRLF when strict).
    while let Some((b"", next, crlf)) = line_at(buf, pos) {
        if !crlf && limits.strict {
            // Refused once a request follows; a client that sends nothing more is let go
            // without an answer, as Apache lets it go.
            if next == buf.len() {
                return Ok(None);
            }
            return Err(HeadError::BadRequestLine);
        }
        pos = next;
    }
    let Some((line, mut pos, crlf)) = line_at(buf, pos) else {
        if buf.len() - pos > limits.line + 2 {
            return Err(HeadError::LineTooLong);
        }
        return Ok(None);
    };
    if line.len() > limits.line {
        return Err(HeadError::LineTooLong);
    }
    // Apache's line reader refuses a line holding a NUL (and, when strict, one not ended by
    // CRLF): the request line is then not read at all.
    if (!crlf && limits.strict) || line.contains(&0) {
        return Err(HeadError::UnreadableRequestLine);
    }
    let request_line = line.to_vec();
    let (method, target, version) = if limits.strict {
        parse_request_line(line)?
    } else {
        parse_request_line_unsafe(line)?
    };
    if version == Version::Http09 && !limits.allow_09 {
        return Err(HeadError::BadRequestLine);
    }
    if version == Version::Http09 {
        // An HTTP/0.9 request is its request line alone.
        let head = RequestHead {
            method,
            target,
            version,
            headers: Headers::default(),
            request_line,
            raw_values: Vec::new(),

            tls: false,
        };
        return Ok(Some((head, pos)));
    }

    let mut headers: Vec<(String, String)> = Vec::with_capacity(16);
    // (index in `headers`, value as received) for values that are not UTF-8.
    let mut raw: Vec<(usize, Vec<u8>)> = Vec::new();
    loop {
        let Some((field, next, crlf)) = line_at(buf, pos) else {
            if buf.len() - pos > limits.field_size + 2 {
                return Err(HeadError::FieldTooLong(field_name_note(&buf[pos..])));
            }
            return Ok(None);
        };
        pos = next;
        if !crlf && limits.strict {
            return Err(HeadError::BadField);
        }
        if field.is_empty() {
            break;
        }
        if field.len() > limits.field_size {
            return Err(HeadError::FieldTooLong(field_name_note(field)));
        }
        // Apache reads each line as a C string and refuses one with a NUL in it, under any
        // HttpProtocolOptions.
        if field.contains(&0) {
            return Err(HeadError::BadField);
        }
        if field[0] == b' ' || field[0] == b'\t' {
            // obs-fold: a continuation line joins the previous field with a space (and is
            // held to the same characters as the value it continues).
            let Some(index) = headers.len().checked_sub(1) else {
                return Err(HeadError::BadField);
            };
            // A continuation of whitespace alone is Apache's "Empty folded line".
            if holds_control(field) || field.trim_ascii().is_empty() {
                return Err(HeadError::BadField);
            }
            let last = &mut headers[index];
            // An empty value continued starts with the continuation (Apache skips the
            // whitespace before a value wherever the value begins).
            let joined = !last.1.is_empty();
            if raw.last().is_none_or(|(i, _)| *i != index) && std::str::from_utf8(field).is_err() {
                raw.push((index, last.1.clone().into_bytes()));
            }
            if let Some((_, bytes)) = raw.last_mut().filter(|(i, _)| *i == index) {
                if joined {
                    bytes.push(b' ');
                }
                bytes.extend_from_slice(field.trim_ascii());
            }
            if joined {
                last.1.push(' ');
            }
            last.1.push_str(String::from_utf8_lossy(field).trim());
            if last.0.len() + last.1.len() + 2 > limits.field_size {
                return Err(HeadError::FieldTooLong(field_name_note(last.0.as_bytes())));
            }
            continue;
        }
        let colon = memchr::memchr(b':', field).ok_or(HeadError::BadField)?;
        let name = &field[..colon];
        let value = &field[colon + 1..];
        if limits.strict {
            // RFC 9110: a token for the name, no control character but tab in the value.
            if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
                return Err(HeadError::BadField);
            }
            if holds_control(value) {
                return Err(HeadError::BadField);
            }
        } else {
            // HttpProtocolOptions Unsafe: Apache's legacy parser refuses only white space in
            // the name and line-breaking white space in the value.
            let line_space = |b: &u8| matches!(b, b'\n' | 0x0b | 0x0c | b'\r');
            if name.is_empty()
                || name
                    .iter()
                    .any(|b| *b == b' ' || *b == b'\t' || line_space(b))
            {
                return Err(HeadError::BadField);
            }
            if value.iter().any(line_space) {
                return Err(HeadError::BadField);
            }
        }
        if limits.fields > 0 && headers.len() >= limits.fields {
            return Err(HeadError::TooManyFields);
        }
        let (start, end) = blanks_trimmed(field, colon + 1);
        // One UTF-8 check for the line (name and value are cut from it at ASCII bytes), where
        // checking each costs twice the fixed price.
        if let Ok(line) = std::str::from_utf8(field) {
            headers.push((line[..colon].to_owned(), line[start..end].to_owned()));
            continue;
        }
        let value = &field[start..end];
        let text = match std::str::from_utf8(value) {
            Ok(text) => text.to_owned(),
            Err(_) => {
                raw.push((headers.len(), value.to_vec()));
                String::from_utf8_lossy(value).into_owned()
            }
        };
        headers.push((String::from_utf8_lossy(name).into_owned(), text));
    }
    // Repeated fields are merged (joined with ", ") as Apache merges them, and the limit holds
    // for the merged value too.
    if let Some(name) = merged_too_long(&headers, limits.field_size) {
        return Err(HeadError::FieldTooLong(name));
    }
    let raw_values = raw
        .into_iter()
        .map(|(index, bytes)| (headers[index].0.clone(), bytes))
        .collect();
    let head = RequestHead {
        method,
        target,
        version,
        headers: Headers(headers),
        request_line,
        raw_values,

        tls: false,
    };
    Ok(Some((head, pos)))
}

/// The first field name whose values, merged, are longer than `limit` bytes.
fn merged_too_long(headers: &[(String, String)], limit: usize) -> Option<String> {
    // Most heads are smaller than the limit altogether: nothing merged can be over it.
    let all: usize = headers.iter().map(|(_, v)| v.len() + 2).sum();
    if all <= limit {
        return None;
    }
    for (at, (name, _)) in headers.iter().enumerate() {
        let repeated = headers[..at]
            .iter()
            .any(|(earlier, _)| earlier.eq_ignore_ascii_case(name));
        if repeated {
            continue;
        }
        let values = headers[at..]
            .iter()
            .filter(|(other, _)| other.eq_ignore_ascii_case(name));
        let (count, length) = values.fold((0, 0), |(n, len), (_, v)| (n + 1, len + v.len()));
        if count > 1 && length + 2 * (count - 1) > limit {
            return Some(name.clone());
        }
    }
    None
}

/// Where a field's value starts and ends in `field` once the blanks around it are dropped
/// (`from` is just after the colon); both at `field.len()` for a value of blanks alone.
fn blanks_trimmed(field: &[u8], from: usize) -> (usize, usize) {
    let blank = |b: &u8| matches!(b, b' ' | b'\t');
    match field[from..].iter().position(|b| !blank(b)) {
        Some(first) => {
            let last = field.iter().rposition(|b| !blank(b)).unwrap_or(field.len());
            (from + first, last + 1)
        }
        None => (field.len(), field.len()),
    }
}

/// The note Apache adds to a 400 for an oversized field: the field name, cut at 80 bytes.
fn field_name_note(field: &[u8]) -> String {
    let name_end = field.iter().position(|&b| b == b':').unwrap_or(field.len());
    let name = &field[..name_end.min(80)];
    String::from_utf8_lossy(name).into_owned()
}

/// The request line as text: bytes that are not UTF-8 (obs-text Apache accepts in a target)
/// percent-encoded, so that the target means the same bytes once decoded.
fn request_line_text(line: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(line) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => {
            let mut text = String::with_capacity(line.len() + 16);
            for chunk in line.utf8_chunks() {
                text.push_str(chunk.valid());
                for byte in chunk.invalid() {
                    text.push_str(&format!("%{byte:02X}"));
                }
            }
            std::borrow::Cow::Owned(text)
        }
    }
}

/// Whether a request-target's path (after any `scheme:` and `//authority`, as apr_uri_parse
/// splits it) is empty or starts with `/`: what Apache requires of a request-target.
pub fn path_is_absolute(target: &str) -> bool {
    // A path (what nearly every request sends) has no scheme to look for.
    if target.starts_with('/') {
        return true;
    }
    let mut rest = target;
    if let Some((scheme, after)) = target.split_once(':') {
        let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if valid_scheme && !scheme.contains(['/', '?', '#']) {
            rest = after;
            if let Some(authority) = rest.strip_prefix("//") {
                rest = &authority[authority.find(['/', '?', '#']).unwrap_or(authority.len())..];
            }
        }
    }
    let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
    rest[..path_end].is_empty() || rest.starts_with('/')
}

/// The request line under `HttpProtocolOptions Unsafe`, as Apache's tolerant reading takes
/// it: runs of spaces between the parts and after the protocol, any visible bytes in the
/// method, `http/1.1` in any case. Still refused: other white space (a tab), control bytes,
/// text after the protocol, a protocol that is not `HTTP/x.y`.
fn parse_request_line_unsafe(line: &[u8]) -> Result<(String, String, Version), HeadError> {
    let visible = |b: &u8| *b > 0x20 && *b != 0x7f;
    let spaces = |from: usize| line[from..].iter().take_while(|&&b| b == b' ').count();
    let bad = || Err(HeadError::BadRequestLine);
    // Nothing before the method; the method up to a space.
    let method_end = line.iter().position(|b| !visible(b)).unwrap_or(line.len());
    if method_end == 0 || line.get(method_end).is_some_and(|&b| b != b' ') {
        return bad();
    }
    let uri_start = method_end + spaces(method_end);
    let uri_end = uri_start + line[uri_start..].iter().take_while(|b| visible(b)).count();
    if uri_start == uri_end || line.get(uri_end).is_some_and(|&b| b != b' ') {
        return bad();
    }
    let protocol_start = uri_end + spaces(uri_end);
    let protocol_end = protocol_start
        + line[protocol_start..]
            .iter()
            .take_while(|b| visible(b))
            .count();
    let after = protocol_end + spaces(protocol_end);
    if after != line.len() {
        return bad();
    }
    let method = String::from_utf8_lossy(&line[..method_end]).into_owned();
    let target = request_line_text(&line[uri_start..uri_end]).into_owned();
    let protocol = &line[protocol_start..protocol_end];
    let version = match protocol {
        [] if method == "GET" && !target.contains('#') && path_is_absolute(&target) => {
            Version::Http09
        }
        [] => return bad(),
        [h, t1, t2, p, b'/', major, b'.', minor]
            if [*h, *t1, *t2, *p].eq_ignore_ascii_case(b"HTTP")
                && major.is_ascii_digit()
                && minor.is_ascii_digit()
                && *major != b'0' =>
        {
            if (*major, *minor) >= (b'1', b'1') {
                Version::Http11
            } else {
                Version::Http10
            }
        }
        _ => return bad(),
    };
    Ok((method, target, version))
}

/// `METHOD SP target SP HTTP/x.y`, strictly (HttpProtocolOptions Strict).
fn parse_request_line(line: &[u8]) -> Result<(String, String, Version), HeadError> {
    // The method is a token of the bytes as sent (before obs-text is encoded for the target).
    let method_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    if !line[..method_end].iter().all(|&b| is_token(b)) {
        return Err(HeadError::BadRequestLine);
    }
    let text = request_line_text(line);
    // Three parts, one space apart, found by bytes (a space is never inside a character).
    let bytes = text.as_bytes();
    let space_from = |from: usize| bytes[from..].iter().position(|&b| b == b' ');
    let Some(first) = space_from(0) else {
        return Err(HeadError::BadRequestLine);
    };
    let method = &text[..first];
    let (target, protocol) = match space_from(first + 1).map(|at| first + 1 + at) {
        None => (&text[first + 1..], None),
        Some(second) => {
            let rest = &text[second + 1..];
            // One space after the target with nothing behind it still makes a simple
            // request; a fourth part (or a second space before the protocol) does not.
            if rest.as_bytes().contains(&b' ') {
                return Err(HeadError::BadRequestLine);
            }
            (
                &text[first + 1..second],
                Some(rest).filter(|p| !p.is_empty()),
            )
        }
    };
    if method.is_empty() || target.is_empty() {
        return Err(HeadError::BadRequestLine);
    }
    if !method.bytes().all(is_token) {
        return Err(HeadError::BadRequestLine);
    }
    if target.bytes().any(|b| b <= 0x20 || b == 0x7f) {
        return Err(HeadError::BadRequestLine);
    }
    let version = match protocol {
        // A simple request is GET of a path (or an absolute URI) and nothing else: any other
        // mistake in it is answered as HTTP/1.x, as Apache does.
        None if method != "GET" || target.contains('#') || !path_is_absolute(target) => {
            return Err(HeadError::BadRequestLine)
        }
        None => Version::Http09,
        Some(p) => {
            let digits = p.strip_prefix("HTTP/").map(str::as_bytes);
            match digits {
                Some([major, b'.', minor]) if major.is_ascii_digit() && minor.is_ascii_digit() => {
                    if (*major, *minor) >= (b'1', b'1') {
                        Version::Http11
                    } else if *major == b'1' {
                        Version::Http10
                    } else {
                        // Apache does not recognise a protocol of major version 0.
                        return Err(HeadError::BadRequestLine);
                    }
                }
                _ => return Err(HeadError::BadRequestLine),
            }
        }
    };
    Ok((method.to_string(), target.to_string(), version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<(RequestHead, usize)>, HeadError> {
        parse_head(text.as_bytes(), &Limits::default())
    }

    #[test]
    fn a_simple_head_parses() {
        let (head, used) = parse("GET /a?b HTTP/1.1\r\nHost: x\r\nAccept:  */* \r\n\r\nBODY")
            .unwrap()
            .unwrap();
        assert_eq!(
            (head.method.as_str(), head.target.as_str(), head.version),
            ("GET", "/a?b", Version::Http11)
        );
        assert_eq!(head.headers.get("accept"), Some("*/*"));
        assert_eq!(
            used,
            "GET /a?b HTTP/1.1\r\nHost: x\r\nAccept:  */* \r\n\r\n".len()
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_kept_for_the_logs() {
        let raw =
            b"GET /a HTTP/1.1\r\nX-A: caf\xe9 \r\nX-B: ok\r\n more\r\nX-C: a\r\n \xff\r\n\r\n";
        let (head, _) = parse_head(raw, &Limits::default()).unwrap().unwrap();
        let value = head.headers.get("x-a").unwrap();
        assert_eq!(value, "caf\u{fffd}");
        assert_eq!(head.received("X-A", value), b"caf\xe9");
        assert_eq!(head.received("X-B", "ok more"), b"ok more");
        assert_eq!(head.received("X-C", "a \u{fffd}"), b"a \xff");
        // A value rewritten since is its own text.
        assert_eq!(head.received("X-A", "tea"), b"tea");
        assert_eq!(head.raw_values.len(), 2);
        let (head, _) = parse_head(b"GET /caf\xe9 HTTP/1.1\r\n\r\n", &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(head.request_line, b"GET /caf\xe9 HTTP/1.1");
    }

    #[test]
    fn incomplete_heads_ask_for_more() {
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None));
        assert_eq!(parse("GET / HT"), Ok(None));
    }

    #[test]
    fn limits_give_apaches_statuses() {
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000));
        assert_eq!(parse(&long).unwrap_err().status(), 414);
        let field = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(9000));
        assert_eq!(
            parse(&field).unwrap_err(),
            HeadError::FieldTooLong("X-Big".into())
        );
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            parse(&format!("GET / HTTP/1.1\r\n{many}\r\n")).unwrap_err(),
            HeadError::TooManyFields
        );
    }

    #[test]
    fn malformed_lines_are_bad_requests() {
        assert_eq!(
            parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n").unwrap_err(),
            HeadError::BadField
        );
        assert_eq!(
            parse("GET  / HTTP/1.1\r\n\r\n").unwrap_err(),
            HeadError::BadRequestLine
        );
        assert_eq!(
            parse("GET / HTTP/0.5\r\n\r\n").unwrap_err(),
            HeadError::BadRequestLine
        );
        assert_eq!(
            parse("GET / HTTP/1.1\nHost: x\n\n").unwrap_err(),
            HeadError::UnreadableRequestLine
        );
    }

    #[test]
    fn later_versions_count_as_http_1_1_and_no_version_is_0_9() {
        assert_eq!(
            parse("GET / HTTP/2.0\r\n\r\n").unwrap().unwrap().0.version,
            Version::Http11
        );
        assert_eq!(
            parse("GET /\r\n").unwrap().unwrap().0.version,
            Version::Http09
        );
    }

    #[test]
    fn control_characters_in_a_continuation_are_refused() {
        for byte in [0u8, 1, 0x7f] {
            let mut request = b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b".to_vec();
            request.push(byte);
            request.extend_from_slice(b"c\r\n\r\n");
            assert!(matches!(
                parse_head(&request, &Limits::default()),
                Err(HeadError::BadField)
            ));
        }
    }

    #[test]
    fn folded_fields_join() {
        let (head, _) = parse("GET / HTTP/1.0\r\nX-A: one\r\n  two\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.headers.get("x-a"), Some("one two"));
    }
}
