//! The application server behind the proxy tests: a small HTTP/1.1 origin (thread per
//! connection, keep-alive, std only) started inside the test process on 127.0.0.1:0, whose
//! routes show what a proxy forwarded (`/echo`), misbehave on purpose (`/die`, `/garbage`),
//! answer in the shapes a proxy must relay (`/chunked`, `/big`, `/slow`, `/status`, `/redirect`,
//! `/sha`, `/ws`), and count connections and requests so a test can see backend keep-alive;
//! plus the raw HTTP and WebSocket clients those tests talk with.
//!
//! Routes (any method; the query string is `?name=value&...`):
//! - `/echo...`: 200 `text/plain`, the body is the request head exactly as received (request
//!   line, header lines in order and case, the blank line) followed by the decoded request body.
//! - `/redirect...`: 302, `Location: http://HOST/echo/landed` and
//!   `Set-Cookie: backend=NAME; Domain=HOST; Path=/app` (HOST from the Host header; the cookie's
//!   domain without the port, as a cookie domain never has one).
//! - `/chunked`: [`CHUNKS`] sent as separate chunks, [`CHUNK_PAUSE`] apart (close-delimited to
//!   an HTTP/1.0 client, which cannot take chunks).
//! - `/big?n=BYTES`: n bytes of [`big_body`] with Content-Length (default 1024).
//! - `/slow?ms=N`: waits N ms, then a short 200.
//! - `/die`: Content-Length 1000, [`DIE_SENT`] bytes of body, then the connection closes.
//! - `/garbage`: [`GARBAGE`], which is not HTTP, then the connection closes (Apache's
//!   mod_proxy_http relays such an answer as an HTTP/0.9 body under 200, less the CRLF of
//!   its first line).
//! - `/badstatus`: [`BAD_STATUS`], an HTTP-looking answer with a status line no HTTP/1 proxy
//!   takes (Apache: 502, "Corrupt status line"), then the connection closes.
//! - `/close`: closes the connection without answering.
//! - `/status?code=N`: status N (200 to 599) with a short body (none for 204 and 304).
//! - `/sha`: `length=N fnv1a64=HEX` of the decoded request body ([`body_digest`]).
//! - `/ws`: a WebSocket echo (RFC 6455): text and binary frames come back unmasked, ping gets
//!   pong, close is answered with close.
//! - anything else: 404.
//!
//! Every answer carries `X-Backend: NAME`. `Expect: 100-continue` gets its interim answer
//! before the body is read. The WebSocket accept key is SHA-1 + base64 through the workspace's
//! `sha1` and `base64` crates (the server already links both).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use base64::Engine as _;
use sha1::Digest as _;

/// The bodies `/chunked` sends, one chunk each.
pub const CHUNKS: &[&str] = &["first chunk\n", "second chunk\n", "third chunk\n", "last\n"];
/// The pause between two chunks of `/chunked`.
pub const CHUNK_PAUSE: Duration = Duration::from_millis(30);
/// How much of its announced 1000-byte body `/die` sends before closing.
pub const DIE_SENT: usize = 100;
/// What `/garbage` answers instead of HTTP.
pub const GARBAGE: &[u8] = b"SSH-2.0-not-http\r\n\x00\x01\x02\xff garbage \xfe\r\n\r\n";
/// What `/badstatus` answers: a status line of an HTTP major version that is not 1.
pub const BAD_STATUS: &[u8] = b"HTTP/2.0 200 OK\r\nContent-Length: 3\r\n\r\nbad";
/// The GUID RFC 6455 appends to the client's key before hashing.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// A request head larger than this is refused (400) and the connection closed.
const MAX_HEAD: usize = 64 * 1024;
/// An idle keep-alive connection is closed after this long (a test that forgets one must not
/// leave its thread behind for ever).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The pattern `/big` serves: byte i is `PATTERN[i % 36]`.
const PATTERN: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// The first `n` bytes of the pattern `/big?n=` answers.
pub fn big_body(n: usize) -> Vec<u8> {
    (0..n).map(|i| PATTERN[i % PATTERN.len()]).collect()
}

/// What `/sha` answers for a body: `length=N fnv1a64=HEX` (FNV-1a, 64 bits), with a newline.
pub fn body_digest(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in body {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("length={} fnv1a64={hash:016x}\n", body.len())
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 section 4.2.2).
pub fn websocket_accept(key: &str) -> String {
    let mut sha = sha1::Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// What the running server shares with its threads.
struct Shared {
    name: String,
    connections: AtomicUsize,
    requests: AtomicUsize,
    heads: Mutex<Vec<String>>,
    stopping: AtomicBool,
    /// Open connections by number, so that stopping can shut them down.
    open: Mutex<HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
}

/// A running backend; it stops (listener closed, open connections shut down) when dropped.
pub struct Backend {
    shared: Arc<Shared>,
    port: u16,
    acceptor: Option<JoinHandle<()>>,
}

impl Backend {
    /// Starts a backend on 127.0.0.1 with an ephemeral port; `name` is its `X-Backend` value.
    pub fn start(name: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            name: name.to_string(),
            connections: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            heads: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("backend-{name}"))
                .spawn(move || accept_loop(listener, shared))
                .expect("spawn the backend's acceptor")
        };
        Backend {
            shared,
            port,
            acceptor: Some(acceptor),
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` (no trailing slash), for a ProxyPass line.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The name given at start, sent as `X-Backend`.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Requests read and answered (or being answered) so far, WebSocket handshakes included.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The heads of every request received so far, in arrival order, as received (lossy UTF-8).
    pub fn heads(&self) -> Vec<String> {
        self.shared.heads.lock().unwrap().clone()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // The acceptor blocks in accept(): one connection wakes it to see the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for (_, stream) in self.shared.open.lock().unwrap().drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            shared.open.lock().unwrap().insert(id, clone);
        }
        let shared = Arc::clone(&shared);
        let _ = thread::Builder::new()
            .name(format!("backend-{}-conn", shared.name))
            .spawn(move || {
                let _ = serve_connection(stream, &shared);
                shared.open.lock().unwrap().remove(&id);
            });
    }
}

/// One parsed request: the head as received, and what the routes need from it.
struct Incoming {
    head: Vec<u8>,
    method: String,
    target: String,
    http10: bool,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a header's comma-separated tokens include `token` (case-insensitive).
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    fn query(&self, name: &str) -> Option<&str> {
        let query = self.target.split_once('?')?.1;
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 only when asked.
    fn keep_alive(&self) -> bool {
        if self.http10 {
            self.has_token("Connection", "keep-alive")
        } else {
            !self.has_token("Connection", "close")
        }
    }
}

/// Bytes read from a connection but not consumed yet, in front of the stream.
struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Reader {
    /// Reads more; false at end of stream.
    fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// Everything up to and including the first CRLF CRLF (or LF LF); None when the stream
    /// ended first, an error past `limit` bytes.
    fn head(&mut self, limit: usize) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(end) = head_end(&self.buf) {
                return Ok(Some(self.buf.drain(..end).collect()));
            }
            if self.buf.len() > limit {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "head too long"));
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// One line (without its CRLF or LF).
    fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=at).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            if !self.fill()? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Exactly `n` bytes.
    fn exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill()? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Everything until the peer closes.
    fn until_close(&mut self) -> io::Result<Vec<u8>> {
        while self.fill()? {}
        Ok(std::mem::take(&mut self.buf))
    }

    /// A chunked body, decoded; the trailer section is read and dropped.
    fn chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.line()?;
            let text = String::from_utf8_lossy(&line);
            let size = text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                while !self.line()?.is_empty() {}
                return Ok(body);
            }
            body.extend(self.exact(size)?);
            if !self.line()?.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "chunk not followed by CRLF",
                ));
            }
        }
    }
}

/// Where a head ends (just past its blank line), accepting bare LF line ends too.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(nl) = buf[at..].iter().position(|&b| b == b'\n') {
        let nl = at + nl;
        let rest = &buf[nl + 1..];
        if rest.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        if rest.starts_with(b"\n") {
            return Some(nl + 2);
        }
        at = nl + 1;
    }
    None
}

/// The header lines of a head, as (name, value) pairs in order; the first line is returned apart.
fn split_head(head: &[u8]) -> (String, Vec<(String, String)>) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next().unwrap_or("").to_string();
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    (first, headers)
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let _ = stream.set_nodelay(true);
    let mut reader = Reader {
        stream: stream.try_clone()?,
        buf: Vec::new(),
    };
    let mut out = stream;
    loop {
        let head = match reader.head(MAX_HEAD) {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return answer(&mut out, shared, 400, &[], b"head too long\n", false, false);
            }
            Err(e) => return Err(e),
        };
        if shared.stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        shared.requests.fetch_add(1, Ordering::SeqCst);
        shared
            .heads
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&head).into_owned());
        let (first, headers) = split_head(&head);
        let words: Vec<&str> = first.split(' ').collect();
        if words.len() != 3 || !words[2].starts_with("HTTP/1.") {
            return answer(
                &mut out,
                shared,
                400,
                &[],
                b"bad request line\n",
                false,
                false,
            );
        }
        let mut request = Incoming {
            head: head.clone(),
            method: words[0].to_string(),
            target: words[1].to_string(),
            http10: words[2] == "HTTP/1.0",
            headers,
            body: Vec::new(),
        };
        let chunked = request.has_token("Transfer-Encoding", "chunked");
        let length = request.header("Content-Length").map(|v| v.parse::<usize>());
        if let Some(Err(_)) = length {
            return answer(
                &mut out,
                shared,
                400,
                &[],
                b"bad Content-Length\n",
                false,
                false,
            );
        }
        let has_body = chunked || length.as_ref().is_some_and(|l| l.as_ref() != Ok(&0));
        if has_body && request.has_token("Expect", "100-continue") {
            out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        request.body = if chunked {
            reader.chunked()?
        } else if let Some(Ok(n)) = length {
            reader.exact(n)?
        } else {
            Vec::new()
        };
        if !route(&request, &mut out, &mut reader, shared)? || !request.keep_alive() {
            let _ = out.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

/// Writes a whole answer with Content-Length; `keep` says whether the connection stays.
fn answer(
    out: &mut TcpStream,
    shared: &Shared,
    status: u16,
    extra: &[(&str, String)],
    body: &[u8],
    head_only: bool,
    keep: bool,
) -> io::Result<()> {
    let mut text = format!(
        "HTTP/1.1 {status} {}\r\nX-Backend: {}\r\n",
        reason(status),
        shared.name
    );
    let mut typed = false;
    for (name, value) in extra {
        typed |= name.eq_ignore_ascii_case("Content-Type");
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if status != 204 && status != 304 {
        if !typed {
            text.push_str("Content-Type: text/plain\r\n");
        }
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if !keep {
        text.push_str("Connection: close\r\n");
    }
    text.push_str("\r\n");
    let mut bytes = text.into_bytes();
    if !head_only && status != 204 && status != 304 {
        bytes.extend_from_slice(body);
    }
    out.write_all(&bytes)
}

/// Answers one request; false when the connection must close afterwards.
fn route(
    request: &Incoming,
    out: &mut TcpStream,
    reader: &mut Reader,
    shared: &Shared,
) -> io::Result<bool> {
    let keep = request.keep_alive();
    let head_only = request.method == "HEAD";
    let path = request.path().to_string();
    let reply = |out: &mut TcpStream, status: u16, extra: &[(&str, String)], body: &[u8]| {
        answer(out, shared, status, extra, body, head_only, keep).map(|()| keep)
    };
    if path.starts_with("/echo") {
        let mut body = request.head.clone();
        body.extend_from_slice(&request.body);
        return reply(out, 200, &[], &body);
    }
    if path.starts_with("/redirect") {
        let host = request.header("Host").unwrap_or("localhost").to_string();
        let domain = cookie_domain(&host);
        let extra = [
            ("Location", format!("http://{host}/echo/landed")),
            (
                "Set-Cookie",
                format!("backend={}; Domain={domain}; Path=/app", shared.name),
            ),
        ];
        return reply(out, 302, &extra, b"redirected\n");
    }
    match path.as_str() {
        "/chunked" => chunked_answer(out, shared, request, keep),
        "/big" => {
            let n = request
                .query("n")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1024);
            reply(out, 200, &[], &big_body(n))
        }
        "/slow" => {
            let ms = request
                .query("ms")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            thread::sleep(Duration::from_millis(ms));
            reply(out, 200, &[], format!("slept {ms} ms\n").as_bytes())
        }
        "/die" => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nX-Backend: {}\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n",
                shared.name
            );
            out.write_all(head.as_bytes())?;
            out.write_all(&big_body(DIE_SENT))?;
            out.flush()?;
            let _ = out.shutdown(Shutdown::Both);
            Ok(false)
        }
        "/garbage" => {
            out.write_all(GARBAGE)?;
            let _ = out.shutdown(Shutdown::Both);
            Ok(false)
        }
        "/badstatus" => {
            out.write_all(BAD_STATUS)?;
            let _ = out.shutdown(Shutdown::Both);
            Ok(false)
        }
        // Answered as if the connection stays, which closes `ms` later all the same (a
        // backend's idle timeout, shortened).
        "/drop" => {
            let ms = request
                .query("ms")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            reply(out, 200, &[], b"dropping\n")?;
            thread::sleep(Duration::from_millis(ms));
            let _ = out.shutdown(Shutdown::Both);
            Ok(false)
        }
        "/close" => {
            let _ = out.shutdown(Shutdown::Both);
            Ok(false)
        }
        "/status" => {
            let code = request
                .query("code")
                .and_then(|n| n.parse().ok())
                .filter(|c| (200..=599).contains(c))
                .unwrap_or(200);
            reply(out, code, &[], format!("status {code}\n").as_bytes())
        }
        "/sha" => reply(out, 200, &[], body_digest(&request.body).as_bytes()),
        // Dates in each form a proxy rewrites (RFC 850, asctime, a wrong weekday) or keeps.
        "/dates" => {
            let extra = [
                ("Expires", "Sunday, 06-Dec-26 10:00:00 GMT".to_string()),
                ("Last-Modified", "Sun Dec  6 10:00:00 2026".to_string()),
                ("Date", "Mon, 06 Dec 2026 10:00:00 GMT".to_string()),
                ("X-Date", "Sunday, 06-Dec-26 10:00:00 GMT".to_string()),
                ("last-modified", "Sun, 06 Dec 2026 10:00:00 GMT".to_string()),
            ];
            reply(out, 200, &extra, b"dated\n")
        }
        "/ws" => websocket(request, out, reader, shared),
        _ => reply(out, 404, &[], format!("no route for {path}\n").as_bytes()),
    }
}

/// The host part of a Host header value (no port; an IPv6 literal keeps its brackets).
fn cookie_domain(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.split(':').next().unwrap_or(host)
}

fn chunked_answer(
    out: &mut TcpStream,
    shared: &Shared,
    request: &Incoming,
    keep: bool,
) -> io::Result<bool> {
    let head_only = request.method == "HEAD";
    // An HTTP/1.0 client cannot take chunks: the body then ends with the connection.
    let keep = keep && !request.http10;
    let mut head = format!(
        "HTTP/1.1 200 OK\r\nX-Backend: {}\r\nContent-Type: text/plain\r\n",
        shared.name
    );
    if !request.http10 {
        head.push_str("Transfer-Encoding: chunked\r\n");
    }
    if !keep {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    if head_only {
        return Ok(keep);
    }
    for (i, chunk) in CHUNKS.iter().enumerate() {
        if i > 0 {
            thread::sleep(CHUNK_PAUSE);
        }
        if request.http10 {
            out.write_all(chunk.as_bytes())?;
        } else {
            out.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes())?;
        }
        out.flush()?;
    }
    if !request.http10 {
        out.write_all(b"0\r\n\r\n")?;
    }
    Ok(keep)
}

/// The handshake, then echo frames until close; the connection never returns to HTTP.
fn websocket(
    request: &Incoming,
    out: &mut TcpStream,
    reader: &mut Reader,
    shared: &Shared,
) -> io::Result<bool> {
    let key = request.header("Sec-WebSocket-Key");
    let upgrade =
        request.has_token("Upgrade", "websocket") && request.has_token("Connection", "upgrade");
    let Some(key) = key.filter(|_| upgrade && request.method == "GET") else {
        let extra = [("Upgrade", "websocket".to_string())];
        answer(
            out,
            shared,
            426,
            &extra,
            b"websocket upgrade required\n",
            false,
            false,
        )?;
        return Ok(false);
    };
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nX-Backend: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        shared.name,
        websocket_accept(key)
    );
    out.write_all(head.as_bytes())?;
    loop {
        let (opcode, payload) = match read_frame(reader) {
            Ok(frame) => frame,
            Err(_) => return Ok(false),
        };
        match opcode {
            OP_TEXT | OP_BINARY => out.write_all(&frame(opcode, &payload, None))?,
            OP_PING => out.write_all(&frame(OP_PONG, &payload, None))?,
            OP_CLOSE => {
                out.write_all(&frame(OP_CLOSE, &payload, None))?;
                let _ = out.shutdown(Shutdown::Both);
                return Ok(false);
            }
            _ => {}
        }
    }
}

/// WebSocket opcodes (RFC 6455 section 5.2).
pub const OP_TEXT: u8 = 1;
pub const OP_BINARY: u8 = 2;
pub const OP_CLOSE: u8 = 8;
pub const OP_PING: u8 = 9;
pub const OP_PONG: u8 = 10;

/// One final frame; masked with `mask` when given (a client must mask, a server must not).
pub fn frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let masked = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(masked | n as u8),
        n if n <= 0xffff => {
            out.push(masked | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(masked | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// Reads one frame (unmasking it if masked); continuation frames are not joined.
fn read_frame(reader: &mut Reader) -> io::Result<(u8, Vec<u8>)> {
    let start = reader.exact(2)?;
    let opcode = start[0] & 0x0f;
    let masked = start[1] & 0x80 != 0;
    let len = match start[1] & 0x7f {
        126 => u16::from_be_bytes(reader.exact(2)?.try_into().unwrap()) as u64,
        127 => u64::from_be_bytes(reader.exact(8)?.try_into().unwrap()),
        n => u64::from(n),
    };
    if len > 64 * 1024 * 1024 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too big"));
    }
    let key = if masked { Some(reader.exact(4)?) } else { None };
    let mut payload = reader.exact(len as usize)?;
    if let Some(key) = key {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= key[i % 4];
        }
    }
    Ok((opcode, payload))
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

// ---------------------------------------------------------------------------------------------
// Clients for the tests.

/// One response as a client read it.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status line as received (without CRLF).
    pub status_line: String,
    pub status: u16,
    /// Header (name, value) pairs in order, names as received.
    pub headers: Vec<(String, String)>,
    /// The body, decoded from chunked when it came chunked.
    pub body: Vec<u8>,
    /// False when the connection ended before the body did (a Content-Length not reached, a
    /// chunked body without its last chunk).
    pub complete: bool,
}

impl Response {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client connection that can carry several requests (keep-alive), one at a time.
pub struct Client {
    reader: Reader,
}

impl Client {
    /// Connects to 127.0.0.1:`port` with a 10 s read timeout.
    pub fn connect(port: u16) -> io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let _ = stream.set_nodelay(true);
        Ok(Client {
            reader: Reader {
                stream,
                buf: Vec::new(),
            },
        })
    }

    /// Sets the read timeout (a `/slow` test through a proxy may need more than 10 s).
    pub fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.reader.stream.set_read_timeout(Some(timeout))
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.reader.stream.write_all(bytes)
    }

    /// Sends a raw request and reads its final answer (see [`Client::read_response`]); a
    /// request whose method is HEAD is read as one (no body).
    pub fn request(&mut self, raw: &[u8]) -> io::Result<Response> {
        self.send_raw(raw)?;
        self.read_response(raw.starts_with(b"HEAD "))
    }

    /// Reads the next answer; interim 1xx answers other than 101 are skipped. The body is read
    /// by Content-Length, chunked, or to the end of the connection; none for HEAD, 1xx, 204, 304.
    pub fn read_response(&mut self, head_request: bool) -> io::Result<Response> {
        loop {
            let Some(head) = self.reader.head(MAX_HEAD)? else {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before an answer",
                ));
            };
            let (status_line, headers) = split_head(&head);
            let status = status_line
                .strip_prefix("HTTP/1.")
                .and_then(|rest| rest.get(2..5))
                .and_then(|code| code.parse::<u16>().ok())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("not an HTTP status line: {status_line:?}"),
                    )
                })?;
            let mut response = Response {
                status_line,
                status,
                headers,
                body: Vec::new(),
                complete: true,
            };
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
                return Ok(response);
            }
            let chunked = response
                .headers_named("Transfer-Encoding")
                .iter()
                .any(|v| v.to_ascii_lowercase().contains("chunked"));
            let length = response
                .header("Content-Length")
                .and_then(|v| v.trim().parse::<usize>().ok());
            if chunked {
                self.read_chunked(&mut response)?;
            } else if let Some(n) = length {
                match self.reader.exact(n) {
                    Ok(body) => response.body = body,
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        response.body = std::mem::take(&mut self.reader.buf);
                        response.complete = false;
                    }
                    Err(e) => return Err(e),
                }
            } else {
                response.body = self.reader.until_close()?;
            }
            return Ok(response);
        }
    }

    /// A chunked body into `response`, keeping what came when the connection ends early.
    fn read_chunked(&mut self, response: &mut Response) -> io::Result<()> {
        loop {
            let line = match self.reader.line() {
                Ok(line) => line,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    response.complete = false;
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            let text = String::from_utf8_lossy(&line);
            let size = usize::from_str_radix(text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad chunk size {text:?}"),
                    )
                })?;
            if size == 0 {
                while !self.reader.line().unwrap_or_default().is_empty() {}
                return Ok(());
            }
            match self.reader.exact(size + 2) {
                Ok(mut data) => {
                    data.truncate(size);
                    response.body.extend(data);
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    response.body.append(&mut self.reader.buf);
                    response.complete = false;
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the server has closed the connection (reads with a short timeout; bytes that
    /// arrive instead are kept for the next answer).
    pub fn closed_by_peer(&mut self) -> bool {
        let stream = &self.reader.stream;
        let previous = stream.read_timeout().ok().flatten();
        let _ = stream.set_read_timeout(Some(Duration::from_millis(300)));
        let closed = match self.reader.fill() {
            Ok(more) => !more,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        };
        let _ = self.reader.stream.set_read_timeout(previous);
        closed
    }
}

/// One request on a fresh connection, its answer read; panics when no answer comes.
pub fn send_request(port: u16, raw: &[u8]) -> Response {
    let mut client =
        Client::connect(port).unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
    client
        .request(raw)
        .unwrap_or_else(|e| panic!("no answer from 127.0.0.1:{port}: {e}"))
}

/// A WebSocket client connection, after a successful handshake.
pub struct WsClient {
    client: Client,
    /// The 101 answer to the handshake.
    pub handshake: Response,
    mask_seed: u32,
}

impl WsClient {
    /// Connects to `port` (a proxy or the backend itself), sends the upgrade request for `path`
    /// with `Host: host`, and checks the 101 answer and its Sec-WebSocket-Accept. Any other
    /// answer is an error whose message starts with that answer's status line.
    pub fn connect(port: u16, path: &str, host: &str) -> io::Result<WsClient> {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let mut client = Client::connect(port)?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        client.send_raw(request.as_bytes())?;
        // Only the head: after a 101 the bytes are frames.
        let head = client.reader.head(MAX_HEAD)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the handshake answer",
            )
        })?;
        let (status_line, headers) = split_head(&head);
        let handshake = Response {
            status: status_line
                .get(9..12)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0),
            status_line,
            headers,
            body: Vec::new(),
            complete: true,
        };
        let refused = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {why}", handshake.status_line),
            )
        };
        if handshake.status != 101 {
            return Err(refused("not 101"));
        }
        if handshake.header("Sec-WebSocket-Accept") != Some(websocket_accept(key).as_str()) {
            return Err(refused("wrong or missing Sec-WebSocket-Accept"));
        }
        Ok(WsClient {
            client,
            handshake,
            mask_seed: 0x9e37_79b9,
        })
    }

    /// Sends one masked frame.
    pub fn send(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        // A different masking key per frame, as a client must (xorshift; no randomness needed).
        self.mask_seed ^= self.mask_seed << 13;
        self.mask_seed ^= self.mask_seed >> 17;
        self.mask_seed ^= self.mask_seed << 5;
        let bytes = frame(opcode, payload, Some(self.mask_seed.to_be_bytes()));
        self.client.send_raw(&bytes)
    }

    /// Sends a masked text frame.
    pub fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.send(OP_TEXT, text.as_bytes())
    }

    /// Reads the next frame: (opcode, unmasked payload, whether it came masked).
    pub fn read_frame(&mut self) -> io::Result<(u8, Vec<u8>, bool)> {
        let masked = {
            let reader = &mut self.client.reader;
            while reader.buf.len() < 2 {
                if !reader.fill()? {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
            reader.buf[1] & 0x80 != 0
        };
        let (opcode, payload) = read_frame(&mut self.client.reader)?;
        Ok((opcode, payload, masked))
    }

    /// Sends a text frame and returns the text of the frame that comes back; an error if that
    /// frame is not text or came masked (a server's frames never are).
    pub fn echo(&mut self, text: &str) -> io::Result<String> {
        self.send_text(text)?;
        let (opcode, payload, masked) = self.read_frame()?;
        if opcode != OP_TEXT || masked {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("answer frame opcode {opcode}, masked {masked}"),
            ));
        }
        String::from_utf8(payload).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Sends a close frame (status 1000) and waits for the server's close.
    pub fn close(mut self) -> io::Result<()> {
        self.send(OP_CLOSE, &1000u16.to_be_bytes())?;
        loop {
            let (opcode, _, _) = self.read_frame()?;
            if opcode == OP_CLOSE {
                return Ok(());
            }
        }
    }
}
