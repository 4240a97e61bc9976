//! Response heads and chunked framing as bytes, without I/O: the status line, Date and
//! Server, then the header fields in the order Apache's filters leave them (the handler's and
//! mod_headers' fields, Content-Length where the length filter puts it, Keep-Alive and
//! Connection, Transfer-Encoding, Content-Type last but for the fields mod_mime adds after it).

use std::time::SystemTime;

use super::number::push_decimal;
use super::status::{names_status, push_status_line};
use super::{date, Headers};

/// Everything a response head says, in Apache's order.
pub struct ResponseHead<'a> {
    /// `HTTP/1.0` on the status line (force-response-1.0), else `HTTP/1.1`.
    pub http10: bool,
    pub status: u16,
    /// The status line a script gave (`418 Short and stout`), used when it names `status`.
    pub status_line: Option<&'a str>,
    pub date: SystemTime,
    /// A proxied answer's own Date, which goes out instead.
    pub date_text: Option<&'a str>,
    pub server: &'a str,
    /// Fields before Content-Length: mod_headers' `always` ones first, then the handler's.
    pub before_length: [&'a Headers; 2],
    pub content_length: Option<u64>,
    /// A filter dropped the length and the length filter adds it back after the fields below.
    pub length_last: bool,
    /// Fields after Content-Length (mod_headers' `onsuccess` additions, Content-Range).
    pub after_length: [&'a Headers; 2],
    /// `Keep-Alive: timeout=T, max=N` (seconds, requests left).
    pub keep_alive: Option<(u64, u64)>,
    /// The Connection token, unless the response carries a Connection field that took it.
    pub connection: Option<&'a str>,
    pub chunked: bool,
    /// Fields Apache's header filter adds itself after Connection (Expires for no-cache).
    pub after_connection: &'a Headers,
    pub content_type: Option<&'a str>,
    /// Fields after Content-Type (Content-Encoding, Content-Language).
    pub trailing: &'a Headers,
}

impl ResponseHead<'_> {
    /// The head, blank line included.
    pub fn encode(&self) -> String {
        self.encode_with_room(0)
    }

    /// The head, in a buffer with `room` bytes to spare after it (for a body sent in the
    /// same write).
    pub fn encode_with_room(&self, room: usize) -> String {
        // A static file's head is ~300 bytes: room for more, so that the body appended after it
        // does not move the whole buffer.
        let mut out = String::with_capacity(512 + room);
        out.push_str(if self.http10 {
            "HTTP/1.0 "
        } else {
            "HTTP/1.1 "
        });
        match self
            .status_line
            .filter(|line| names_status(line, self.status))
        {
            Some(line) => out.push_str(line),
            None => push_status_line(&mut out, self.status),
        }
        out.push_str("\r\nDate: ");
        match self.date_text {
            Some(text) => out.push_str(text),
            None => date::push(&mut out, self.date),
        }
        out.push_str("\r\nServer: ");
        out.push_str(self.server);
        out.push_str("\r\n");
        for headers in self.before_length {
            fields(&mut out, headers);
        }
        if !self.length_last {
            self.length(&mut out);
        }
        for headers in self.after_length {
            fields(&mut out, headers);
        }
        if self.length_last {
            self.length(&mut out);
        }
        if let Some((timeout, max)) = self.keep_alive {
            out.push_str("Keep-Alive: timeout=");
            push_decimal(&mut out, timeout);
            out.push_str(", max=");
            push_decimal(&mut out, max);
            out.push_str("\r\n");
        }
        if let Some(token) = self.connection {
            push_field(&mut out, "Connection", token);
        }
        if self.chunked {
            out.push_str("Transfer-Encoding: chunked\r\n");
        }
        fields(&mut out, self.after_connection);
        if let Some(content_type) = self.content_type {
            push_field(&mut out, "Content-Type", content_type);
        }
        fields(&mut out, self.trailing);
        out.push_str("\r\n");
        out
    }

    fn length(&self, out: &mut String) {
        if let Some(length) = self.content_length {
            out.push_str("Content-Length: ");
            push_decimal(out, length);
            out.push_str("\r\n");
        }
    }
}

fn fields(out: &mut String, headers: &Headers) {
    for (name, value) in &headers.0 {
        push_field(out, name, value);
    }
}

fn push_field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
}

/// The line that opens a chunk of `len` bytes.
pub fn chunk_header(len: usize) -> String {
    let mut line = String::with_capacity(18);
    super::number::push_hex(&mut line, len as u64);
    line.push_str("\r\n");
    line
}

/// What closes a chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";

/// The last chunk, with no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The bytes chunked framing adds to a body sent as chunks of these sizes (empty ones are not
/// sent), the last chunk included.
pub fn chunked_overhead(sizes: impl IntoIterator<Item = usize>) -> u64 {
    let framing: usize = sizes
        .into_iter()
        .filter(|&n| n > 0)
        .map(|n| chunk_header(n).len() + CHUNK_END.len())
        .sum();
    (framing + LAST_CHUNK.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_come_in_apaches_order() {
        let set = |pairs: &[(&str, &str)]| {
            Headers(
                pairs
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
            )
        };
        let (always, own) = (set(&[("X-Always", "1")]), set(&[("ETag", "\"x\"")]));
        let (late, range) = (
            set(&[("X-Late", "2")]),
            set(&[("Content-Range", "bytes 0-0/1")]),
        );
        let (expires, language) = (set(&[("Expires", "0")]), set(&[("Content-Language", "en")]));
        let head = ResponseHead {
            http10: false,
            status: 206,
            status_line: None,
            date: std::time::UNIX_EPOCH,
            date_text: None,
            server: "Apache",
            before_length: [&always, &own],
            content_length: Some(1),
            length_last: false,
            after_length: [&late, &range],
            keep_alive: Some((5, 99)),
            connection: Some("Keep-Alive"),
            chunked: false,
            after_connection: &expires,
            content_type: Some("text/plain"),
            trailing: &language,
        };
        assert_eq!(
            head.encode(),
            "HTTP/1.1 206 Partial Content\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
             Server: Apache\r\nX-Always: 1\r\nETag: \"x\"\r\nContent-Length: 1\r\nX-Late: 2\r\n\
             Content-Range: bytes 0-0/1\r\nKeep-Alive: timeout=5, max=99\r\n\
             Connection: Keep-Alive\r\nExpires: 0\r\nContent-Type: text/plain\r\n\
             Content-Language: en\r\n\r\n"
        );
    }

    #[test]
    fn chunk_framing_is_counted_as_sent() {
        // "a\r\n" + "\r\n" for the 10-byte chunk, "1\r\n" + "\r\n", then "0\r\n\r\n".
        assert_eq!(chunked_overhead([10, 0, 1]), 5 + 5 + 5);
    }
}
