//! One client connection: read the PROXY header mod_remoteip may ask for first, then read a
//! head, frame and drain the body, run the pipeline, write the response, and decide whether
//! to keep the connection for the next request, as Apache does. Blocking I/O; every MPM drives
//! the same steps (event parks a connection between them instead of waiting).

use std::io;
use std::net::TcpStream;

use super::transport::{PlainSocket, Transport};
use std::time::{Duration, Instant, SystemTime};

use crate::http1::body::{request_framing, BodyDecoder, DecodeError, Framing};
use crate::http1::encode::{chunk_header, chunked_overhead, ResponseHead, CHUNK_END, LAST_CHUNK};
use crate::http1::status::drops_connection;
use crate::http1::{parse_head, HeadError, Limits, RequestHead, Version};
use crate::modules::reqtimeout::Clock;
use crate::request::{self, Body, BodyError, ConnInfo, Response};
use crate::runtime::Runtime;
use crate::server::proxy_protocol::Progress;

/// How many body bytes go out in the head's write: a small file's or a small in-memory body's.
fn small_body(sends_body: bool, body: &Body) -> usize {
    match body {
        Body::File { len, .. } if sends_body && *len <= SMALL_FILE => *len as usize,
        Body::Bytes(bytes) if sends_body && bytes.len() as u64 <= SMALL_FILE => bytes.len(),
        _ => 0,
    }
}

/// Files up to this size are copied into the response head's buffer rather than sent apart.
const SMALL_FILE: u64 = 32 * 1024;
/// How long a wait with no timeout of its own may last.
const NO_LIMIT: Duration = Duration::from_secs(365 * 24 * 3600);
/// How much of a request head we buffer before reading more.
const READ_CHUNK: usize = 16 * 1024;

/// A client connection between requests: the socket, bytes already read past the last
/// request, and how many requests it has carried.
pub struct Connection {
    stream: Box<dyn Transport>,
    buf: Vec<u8>,
    served: u64,
    /// Answers Apache counts twice against MaxKeepAliveRequests: an error raised inside a
    /// filter (a 416) on a connection kept so far makes its keep-alive decision twice, as
    /// apache2's answers show (chunked by the first, closed if the second says so).
    counted_twice: u64,
    info: ConnInfo,
    /// The read timeout the socket has now (setting it is a system call: only on change).
    read_timeout_ms: u64,
    /// mod_reqtimeout's header stage for the head being read, once it has started (at the
    /// connection's start for its first request, at the first byte for later ones).
    head_clock: Option<Clock>,
    head_clock_started: bool,
    /// KeepAliveTimeout for the wait after the last answer (its server's, see
    /// `Runtime::keep_alive_wait_ms`).
    keep_alive_ms: u64,
    /// The connection must begin with a PROXY header (mod_remoteip's RemoteIPProxyProtocol)
    /// that has not all arrived: `buf` holds what has, `stream` is the plain socket, and
    /// `head_clock` the mod_reqtimeout stage it is read under.
    opening: Option<Opening>,
    /// Bytes read before the next request's head that mod_logio counts as that request's
    /// (a PROXY header's).
    read_before_head: u64,
    /// The event MPM's registration of the socket in its epoll set, once parked.
    poll: Option<Registration>,
    /// What the read that took the readiness the connection was resumed for brought
    /// (`read_now`: its byte count, 0 for the client's close), not yet seen by the head's
    /// reader: the next read would wait, so an incomplete head parks instead.
    read_ahead: Option<usize>,
    /// The event that woke the connection said the client had closed its side: no edge will
    /// come for that, so the connection must not wait for one.
    hung_up: bool,
    /// A request whose handler waits for its backend (event MPM): the connection is parked
    /// on the backend's socket, and served again with this answer first.
    pending: Option<Box<Pending>>,
}

/// A request waiting for its backend, with what sending its answer needs.
struct Pending {
    suspended: request::Suspended,
    head: RequestHead,
    ex: Exchange,
    framing: Framing,
    /// When the wait must end; past it the handler fails as its read would have timed out.
    deadline: Instant,
    timed_out: bool,
}

/// How the event MPM watches a connection's socket: under a token of its own, edge-triggered
/// or one-shot (see `Connection::edge_triggered`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    pub token: u64,
    pub edge: bool,
}

/// What a read that does not wait found.
pub enum ReadNow {
    /// Bytes arrived (buffered for the next request), or the client's close: serve it.
    Arrived,
    /// Nothing yet.
    Nothing,
    /// The read failed: the connection is over.
    Closed,
}

/// mod_remoteip's message for a client that closed before its PROXY header was whole.
const CUT_SHORT: &str =
    "AH10634: RemoteIPProxyProtocol: connection closed before a complete header was received";

/// A connection waiting for its PROXY header, or (event MPM) for the first bytes of its TLS
/// handshake.
#[derive(Debug, Clone, Copy)]
struct Opening {
    /// The address's default server has SSLEngine on: the TLS handshake follows the header
    /// (which comes first, in plain text, as Apache reads it below mod_ssl).
    tls: bool,
    /// mod_remoteip wants a PROXY header first; without it the opening is the handshake's
    /// wait for the ClientHello.
    proxy_header: bool,
}

/// What reading a PROXY header came to.
enum Opened {
    /// The header is read: the connection goes on (over TLS where its address has it).
    Ready(Connection),
    /// More of it is on its way (event MPM): wait for it off this thread.
    Park(Connection),
    /// It was refused, cut short or too slow: the connection is dropped.
    Closed,
}

/// What a connection wants once its worker is done with it.
pub enum Next {
    /// Closed (by either side, a timeout, an error, or the keep-alive rules).
    Closed,
    /// Kept alive with nothing buffered: wait until the client sends its next request.
    Idle(Box<Connection>),
    /// A request's handler waits for its backend: wait until `backend_fd` is readable.
    Waiting(Box<Connection>),
}

/// Serves requests on `stream` until the client or the keep-alive rules end it.
pub fn serve(rt: &'static Runtime, stream: TcpStream, info: ConnInfo) {
    if let Some(connection) = Connection::start(rt, stream, info, false) {
        let _ = Box::new(connection).serve(rt, false);
    }
}

impl Connection {
    /// A connection just accepted: over TLS where the address's default server has SSLEngine
    /// on (the handshake runs here, on the worker that serves it), else plain TCP. None when
    /// the handshake failed. Where mod_remoteip wants a PROXY header first, the connection
    /// starts by waiting for it (read as the connection is served, before any handshake).
    ///
    /// With `handshake_later` (the event MPM) a TLS connection starts by waiting for the
    /// client's first bytes instead, so that it can be parked until its ClientHello is there:
    /// a client that connects and says nothing holds no thread.
    pub fn start(
        rt: &Runtime,
        stream: TcpStream,
        info: ConnInfo,
        handshake_later: bool,
    ) -> Option<Connection> {
        crate::mpm::scoreboard::begin_connection(info.local.port());
        if rt
            .proxy_protocol
            .as_ref()
            .is_some_and(|p| p.applies(info.local, info.peer.ip()))
        {
            return Some(Connection::awaiting_proxy_header(rt, stream, info));
        }
        let handshake_clock = rt.reqtimeout.and_then(|s| Clock::start(s.handshake));
        let base = rt.base_server(info.local);
        if handshake_later && rt.tls.servers.get(base).is_some_and(Option::is_some) {
            let mut connection =
                Connection::over(Box::new(PlainSocket::new(stream)), info, Vec::new());
            connection.head_clock = handshake_clock;
            connection.head_clock_started = true;
            connection.opening = Some(Opening {
                tls: true,
                proxy_header: false,
            });
            return Some(connection);
        }
        Connection::open(rt, stream, info, Vec::new(), handshake_clock)
    }

    /// A connection whose first bytes must be a PROXY header (mod_remoteip's pre_connection
    /// hook added its filter): the header is read under mod_reqtimeout's stage for what
    /// follows it (the TLS handshake's, else the first request's header stage, which thus
    /// starts with the connection, as Apache's filters stack).
    fn awaiting_proxy_header(rt: &Runtime, stream: TcpStream, info: ConnInfo) -> Connection {
        let text = format!(
            "AH03503: RemoteIPProxyProtocol: enabled on connection to {}:{}",
            info.local.ip(),
            info.local.port()
        );
        log_conn_from(
            rt,
            &info,
            "remoteip",
            "debug",
            None,
            Some("mod_remoteip.c(949)"),
            &text,
        );
        let base = rt.base_server(info.local);
        let tls = rt.tls.servers.get(base).is_some_and(Option::is_some);
        let stage = rt
            .reqtimeout
            .map(|s| if tls { s.handshake } else { s.header });
        let mut connection = Connection::over(Box::new(PlainSocket::new(stream)), info, Vec::new());
        connection.head_clock = stage.and_then(Clock::start);
        connection.head_clock_started = true;
        connection.opening = Some(Opening {
            tls,
            proxy_header: true,
        });
        connection
    }

    /// The connection over TLS or plain TCP, with `early` bytes read from `stream` already
    /// (for a TLS handshake, run under `handshake_clock`).
    fn open(
        rt: &Runtime,
        stream: TcpStream,
        mut info: ConnInfo,
        early: Vec<u8>,
        handshake_clock: Option<Clock>,
    ) -> Option<Connection> {
        let base = rt.base_server(info.local);
        if rt.tls.servers.get(base).is_none_or(Option::is_none) {
            return Some(Connection::over(
                Box::new(PlainSocket::new(stream)),
                info,
                early,
            ));
        }
        // A plain socket sets TCP_NODELAY before its second write; TLS writes the handshake
        // in several, so it is set now.
        let _ = stream.set_nodelay(true);
        let (local, peer) = (info.local, info.peer);
        match super::tls::start(rt, stream, base, (local, peer), early, handshake_clock) {
            super::tls::Start::Tls(secured, session) => {
                info.tls = Some(session);
                Some(Connection::over(secured, info, Vec::new()))
            }
            super::tls::Start::PlainHttp(plain, read) => {
                info.plain_on_tls = true;
                Some(Connection::over(
                    Box::new(PlainSocket::new(plain)),
                    info,
                    read,
                ))
            }
            super::tls::Start::Failed => {
                crate::mpm::scoreboard::mark(crate::mpm::scoreboard::State::Ready);
                None
            }
        }
    }

    /// A connection over `stream`, with `buf` already read from it.
    fn over(stream: Box<dyn Transport>, info: ConnInfo, buf: Vec<u8>) -> Connection {
        Connection {
            stream,
            buf,
            served: 0,
            counted_twice: 0,
            info,
            read_timeout_ms: 0,
            head_clock: None,
            head_clock_started: false,
            keep_alive_ms: 5000,
            opening: None,
            read_before_head: 0,
            poll: None,
            read_ahead: None,
            hung_up: false,
            pending: None,
        }
    }

    /// The event MPM's registration of this socket in its epoll set, once it has one.
    pub fn registration(&self) -> Option<Registration> {
        self.poll
    }

    pub fn set_registration(&mut self, registration: Registration) {
        self.poll = Some(registration);
    }

    /// Whether the connection can wait edge-triggered: its transport can read without waiting
    /// (`read_now`), so a wake-up tells whether the event that woke it still stands. A PROXY
    /// header on its way is read by steps that wait, and waits one-shot.
    pub fn edge_triggered(&self) -> bool {
        self.opening.is_none() && self.stream.reads_now()
    }

    /// Whether the last read emptied the socket (see `Transport::input_drained`): a byte
    /// arriving after it raises a new edge, so an edge-triggered registration needs no re-arm.
    pub fn input_drained(&self) -> bool {
        self.edge_triggered() && !self.hung_up && self.stream.input_drained()
    }

    /// The event that woke the connection said the client had closed its side (see
    /// `input_drained`).
    pub fn note_hangup(&mut self) {
        self.hung_up = true;
    }

    /// Reads what has arrived without waiting, into the buffer the next head is parsed from.
    /// `Nothing` also for a transport that cannot read that way (it is parked and re-armed).
    pub fn read_now(&mut self) -> ReadNow {
        let read = SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let read = self.stream.read_now(&mut scratch[..])?;
            if let Some(n) = read {
                self.buf.extend_from_slice(&scratch[..n]);
            }
            Ok::<_, io::Error>(read)
        });
        match read {
            // The client's close is news too: a head it cut short is answered as Apache does.
            Ok(Some(n)) => {
                self.read_ahead = Some(n);
                ReadNow::Arrived
            }
            Ok(None) => ReadNow::Nothing,
            Err(_) => ReadNow::Closed,
        }
    }

    /// The socket under the connection, for the event MPM's epoll.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.stream.raw_fd()
    }

    /// Whether a request is on its way: part of a head is buffered, or the connection has yet
    /// to bring its first one.
    pub fn mid_request(&self) -> bool {
        !self.buf.is_empty() || self.served == 0 || self.pending.is_some()
    }

    /// The backend socket a request of this connection waits on, if one does.
    pub fn backend_fd(&self) -> Option<std::os::fd::RawFd> {
        self.pending.as_ref().map(|p| p.suspended.fd())
    }

    /// The token that socket is watched under already (see `BackendWait::watch`).
    pub fn backend_watch(&self) -> Option<u64> {
        self.pending.as_ref().and_then(|p| p.suspended.watch())
    }

    /// Records the token the socket is watched under now.
    pub fn set_backend_watch(&mut self, token: u64) {
        if let Some(pending) = self.pending.as_mut() {
            pending.suspended.watched(token);
        }
    }

    /// Whether the backend has said something (or closed): a read would not wait.
    pub fn backend_answered(&self) -> bool {
        self.backend_fd()
            .is_some_and(|fd| !crate::sys::idle_and_open(fd))
    }

    /// The backend has had its time: the request fails (502, 504 over FastCGI) when the
    /// connection is next served. Returns the backend's socket, which the caller shuts so
    /// that its event comes.
    pub fn backend_timed_out(&mut self) -> Option<std::os::fd::RawFd> {
        let pending = self.pending.as_mut().filter(|p| !p.timed_out)?;
        pending.timed_out = true;
        Some(pending.suspended.fd())
    }

    /// How long a parked connection may wait: for the rest of a head, until the header stage's
    /// deadline (or Timeout); between requests, KeepAliveTimeout.
    pub fn wait_until(&self, rt: &Runtime) -> Instant {
        if let Some(pending) = &self.pending {
            return pending.deadline;
        }
        let now = Instant::now();
        if !self.mid_request() {
            return now + Duration::from_millis(self.keep_alive_ms.max(1));
        }
        let timeout = Duration::from_secs(rt.servers[0].runtime.core.timeout_secs().max(1));
        match self.head_clock {
            Some(clock) => clock.deadline.min(now + timeout),
            None => now + timeout,
        }
    }

    /// A parked connection whose wait ran out: closed, after a 408 if a head was on its way.
    pub fn time_out(mut self, rt: &Runtime) {
        if let Some(opening) = self.opening {
            if !opening.proxy_header {
                // As the handshake's own read would have ended: noted when the stage ran out.
                if self.head_clock.is_some_and(|c| c.expired()) {
                    super::tls::handshake_timed_out(Some(self.info.peer));
                }
                return;
            }
            let staged = self.head_clock.is_some();
            proxy_header_timeout(rt, &self.info, opening, self.buf.len(), staged);
            return;
        }
        if !self.mid_request() {
            return;
        }
        let staged = self.head_clock.is_some();
        head_timeout(
            rt,
            self.stream.as_mut(),
            self.info,
            (self.read_before_head, &self.buf),
            self.served,
            staged,
            // Called from the housekeeping thread, which must not wait on one client.
            false,
        );
    }

    /// Serves requests. With `park_when_idle`, a connection kept alive with no further request
    /// bytes buffered comes back as `Next::Idle` instead of holding the thread while it waits
    /// (the event MPM); otherwise the wait happens here, bounded by KeepAliveTimeout.
    ///
    /// A bug that panics while serving ends this connection only (its message is in the error
    /// log): the thread, and everyone else the process serves, carry on.
    pub fn serve(self: Box<Self>, rt: &'static Runtime, park_when_idle: bool) -> Next {
        let peer = self.info.peer;
        let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let Some(opening) = self.opening else {
                return self.serve_requests(rt, park_when_idle);
            };
            let opened = if opening.proxy_header {
                (*self).read_proxy_header(rt, opening, park_when_idle)
            } else {
                (*self).handshake(rt)
            };
            let mut connection = match opened {
                Opened::Ready(connection) => Box::new(connection),
                Opened::Park(connection) => return Next::Idle(Box::new(connection)),
                Opened::Closed => {
                    crate::mpm::scoreboard::mark(crate::mpm::scoreboard::State::Ready);
                    return Next::Closed;
                }
            };
            // The header took the socket's readiness: with nothing more arrived, the event
            // MPM waits for the request off this thread.
            if park_when_idle && connection.buf.is_empty() && connection.stream_idle() {
                return Next::Idle(connection);
            }
            connection.serve_requests(rt, park_when_idle)
        }));
        served.unwrap_or_else(|_| {
            crate::mpm::scoreboard::mark(crate::mpm::scoreboard::State::Ready);
            let text = format!(
                "the connection from {peer} was closed after an internal error (the panic \
                 above); the server carries on"
            );
            crate::log::error("core", "crit", &text);
            Next::Closed
        })
    }

    /// Whether nothing waits to be read on the connection.
    fn stream_idle(&mut self) -> bool {
        self.stream.pending_input() == 0
    }

    /// Reads the PROXY header the connection must begin with (a read at a time; the event MPM
    /// parks the connection instead of waiting for more), as mod_remoteip's input filter
    /// reads it: a refused header drops the connection with its message, a client that
    /// closes or stalls first is logged as Apache logs it.
    fn read_proxy_header(mut self, rt: &Runtime, opening: Opening, park: bool) -> Opened {
        let timeout = rt.servers[rt.base_server(self.info.local)]
            .runtime
            .core
            .timeout_secs();
        // Bytes a read that does not wait brought (the connection just accepted, or woken)
        // were that first read: the next would wait.
        let mut first_read = self.read_ahead.take().is_none();
        loop {
            match super::proxy_protocol::read(&self.buf, false) {
                Progress::NeedMore => {}
                Progress::Done { client, length } => {
                    return self.proxied(rt, opening, client, length);
                }
                Progress::LeftOver {
                    client,
                    length,
                    held,
                } => {
                    self.note_valid_header(rt, client);
                    let text = Progress::left_over_message(length, held);
                    log_conn(rt, self.info.clone(), "remoteip", "error", &text);
                    return Opened::Closed;
                }
                Progress::Refused(refusal) => {
                    refused(rt, &self.info, refusal);
                    return Opened::Closed;
                }
            }
            // Woken because the socket is readable, the first read does not wait.
            if park && !first_read && self.stream.pending_input() == 0 {
                return Opened::Park(self);
            }
            first_read = false;
            let mut reader = Reader {
                stream: self.stream.as_mut(),
                current_ms: &mut self.read_timeout_ms,
                timeout_ms: (timeout * 1000).max(1),
                clock: &mut self.head_clock,
                clock_started: &mut true,
                stage: None,
                start_now: false,
                park: false,
                read_ahead: None,
            };
            match reader.read_into(&mut self.buf) {
                Ok(0) => {
                    // What the bytes make of it at the end: a line too long is still that.
                    match super::proxy_protocol::read(&self.buf, true) {
                        Progress::Refused(refusal) => refused(rt, &self.info, refusal),
                        _ => {
                            let eof = crate::log::AprStatus::error(crate::log::AprStatus::EOF);
                            let (info, cause) = (&self.info, Some(&eof));
                            log_conn_from(rt, info, "remoteip", "info", cause, None, CUT_SHORT);
                        }
                    }
                    return Opened::Closed;
                }
                Ok(_) => {}
                Err(ReadError::Timeout) => {
                    let (received, staged) = (self.buf.len(), self.head_clock.is_some());
                    proxy_header_timeout(rt, &self.info, opening, received, staged);
                    return Opened::Closed;
                }
                Err(ReadError::Io(err)) => {
                    let text = "AH10184: failed reading input";
                    log_conn_from(rt, &self.info, "remoteip", "error", Some(&err), None, text);
                    return Opened::Closed;
                }
                Err(_) => return Opened::Closed,
            }
        }
    }

    /// The PROXY header is whole, `length` bytes of `buf`: the connection's requests take
    /// the client it names as their user agent; what followed it is the start of the TLS
    /// handshake or of the first request.
    fn proxied(
        mut self,
        rt: &Runtime,
        opening: Opening,
        client: Option<crate::request::ClientAddr>,
        length: usize,
    ) -> Opened {
        let client = self.note_valid_header(rt, client);
        self.info.proxied = Some(client);
        self.opening = None;
        let after = self.buf.split_off(length);
        // mod_logio, beneath mod_remoteip, counts the header as the first request's.
        self.read_before_head = length as u64;
        if !opening.tls {
            self.buf = after;
            return Opened::Ready(self);
        }
        self.buf = after;
        self.read_ahead = None;
        self.handshake(rt)
    }

    /// The TLS handshake over the plain socket of a connection in its opening, with what was
    /// read from it so far; the connection keeps its place in the event MPM's epoll set.
    fn handshake(self, rt: &Runtime) -> Opened {
        let Connection {
            stream,
            info,
            buf,
            mut head_clock,
            read_before_head,
            read_ahead,
            poll,
            ..
        } = self;
        let Some(tcp) = stream.into_tcp() else {
            return Opened::Closed;
        };
        // The stage's MinRate counts what the read that found the ClientHello brought.
        if let (Some(clock), Some(n)) = (head_clock.as_mut(), read_ahead) {
            clock.received(n);
        }
        match Connection::open(rt, tcp, info, buf, head_clock) {
            Some(mut connection) => {
                connection.read_before_head = read_before_head;
                connection.poll = poll;
                Opened::Ready(connection)
            }
            None => Opened::Closed,
        }
    }

    /// Whether the connection is still opening (a PROXY header or a TLS handshake to come).
    pub fn opening(&self) -> bool {
        self.opening.is_some()
    }

    /// mod_remoteip's note of a valid PROXY header (debug), naming the client it gives the
    /// connection's requests (the connection's own for a header that names none).
    fn note_valid_header(
        &self,
        rt: &Runtime,
        client: Option<crate::request::ClientAddr>,
    ) -> crate::request::ClientAddr {
        let client = client.unwrap_or_else(|| crate::request::ClientAddr::new(self.info.peer));
        let text = format!(
            "AH03511: RemoteIPProxyProtocol: received valid PROXY header: {}:{}",
            client.ip_text(),
            client.port()
        );
        let source = Some("mod_remoteip.c(1253)");
        log_conn_from(rt, &self.info, "remoteip", "debug", None, source, &text);
        client
    }

    fn serve_requests(mut self: Box<Self>, rt: &'static Runtime, park_when_idle: bool) -> Next {
        use crate::mpm::scoreboard::{self, State};
        // The address's default server decides how requests are read (Apache's base server).
        let main = &rt.servers[rt.base_server(self.info.local)].runtime.core;
        let limits = Limits {
            line: main.limit_request_line.unwrap_or(8190),
            field_size: main.limit_request_field_size.unwrap_or(8190),
            fields: main.limit_request_fields.unwrap_or(100),
            strict: main.strict(),
            allow_09: main.allow_09(),
        };
        let conn = self.info.clone();
        if self.served == 0 {
            // A client that stops reading must not hold a worker forever: Timeout bounds each
            // write.
            let timeout = Duration::from_secs(main.timeout_secs().max(1));
            let _ = self.stream.set_write_timeout(Some(timeout));
        }
        if let Some(pending) = self.pending.take() {
            let Pending {
                suspended,
                head,
                ex,
                framing,
                timed_out,
                ..
            } = *pending;
            scoreboard::mark(State::Writing);
            scoreboard::begin_request(&head.request_line, conn.peer.ip());
            let response = suspended.resume(timed_out);
            let answered = (response, false);
            if !self.send_answer(rt, &head, answered, &ex, framing, park_when_idle) {
                return Next::Closed;
            }
            if park_when_idle && self.buf.is_empty() {
                return Next::Idle(self);
            }
        }
        let stages = rt.reqtimeout;
        loop {
            let stream = self.stream.as_mut();
            let buf = &mut self.buf;
            // A parked connection comes back only once readable, so it waits as for a request.
            let keep_alive_wait = self.served > 0 && !park_when_idle;
            let timeout = if keep_alive_wait && buf.is_empty() {
                self.keep_alive_ms
            } else {
                main.timeout_secs() * 1000
            };
            scoreboard::mark(if keep_alive_wait && buf.is_empty() {
                State::KeepAlive
            } else {
                State::Reading
            });
            let mut reader = Reader {
                stream,
                current_ms: &mut self.read_timeout_ms,
                timeout_ms: timeout.max(1),
                clock: &mut self.head_clock,
                clock_started: &mut self.head_clock_started,
                stage: stages.map(|s| s.header),
                start_now: self.served == 0,
                park: park_when_idle,
                read_ahead: self.read_ahead.take(),
            };
            let (mut head, head_length) = match read_head(&mut reader, buf, &limits) {
                Ok(Some(read)) => read,
                Ok(None) => return Next::Closed,
                Err(ReadError::Io(_)) => return Next::Closed,
                Err(ReadError::Park) => return Next::Idle(self),
                Err(ReadError::Timeout) => {
                    let (before, staged) = (self.read_before_head, self.head_clock.is_some());
                    head_timeout(rt, stream, conn, (before, buf), self.served, staged, true);
                    return Next::Closed;
                }
                Err(ReadError::Head(err)) => {
                    // Apache has read the request line when it fails on it: that is what
                    // mod_logio counts (after a PROXY header, that too).
                    let line = buf
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(buf.len(), |i| i + 1);
                    let line = line as u64 + self.read_before_head;
                    let ex = Exchange::start(conn.clone(), line, self.served);
                    let _ = write_head_error(rt, stream, &ex, buf, &err);
                    lingering_close(stream);
                    return Next::Closed;
                }
            };
            head.tls = conn.tls.is_some();
            self.head_clock = None;
            self.head_clock_started = false;
            let head_length = head_length as u64 + std::mem::take(&mut self.read_before_head);
            let mut ex = Exchange::start(conn.clone(), head_length, self.served);
            scoreboard::mark(State::Writing);
            scoreboard::begin_request(&head.request_line, conn.peer.ip());
            self.served += 1;
            let served = self.served;
            let conn = ConnInfo {
                served_before: served - 1,
                ..conn.clone()
            };
            if main.registered_methods() && !rt.method_known(&head.method) {
                let mut response = request::early_error(rt, conn, &head, 501, None);
                // Refused before any handler offered methods: only TRACE, if enabled, is allowed.
                let trace = main.trace_enable.as_deref().unwrap_or("on") != "off";
                response
                    .headers
                    .set("Allow", if trace { "TRACE" } else { "" });
                let _ = write_response(rt, stream, &head, response, (false, None), &ex);
                lingering_close(stream);
                return Next::Closed;
            }
            // What Apache refuses as it reads the head, in its order: the target and the host
            // (answered by the pipeline, so ErrorDocument applies, with the body left unread and
            // the connection closed), the body's framing headers, then an expectation other than
            // 100-continue.
            if request::head_refused(rt, &head, conn.local) {
                let response =
                    request::process(rt, conn, &head, request::RequestBody::Read(0), true);
                let _ = write_response(rt, stream, &head, response, (false, None), &ex);
                lingering_close(stream);
                return Next::Closed;
            }
            let framing = match body_framing(&head) {
                Ok(framing) => framing,
                Err(error) => {
                    let _ = write_error_for(rt, stream, &ex, &head, error.status());
                    lingering_close(stream);
                    return Next::Closed;
                }
            };
            if let Some(expect) = head.headers.get_joined("Expect") {
                // Apache compares the whole value, repeated fields merged (its padding of
                // spaces and tabs is gone).
                if head.version == Version::Http11
                    && !expect.is_empty()
                    && !expect.eq_ignore_ascii_case("100-continue")
                {
                    // Apache answers this before its request hooks as a response that could
                    // keep the connection (no `Connection: close`), then reads no further.
                    let response = request::early_error(rt, ex.conn.clone(), &head, 417, None);
                    let keep = keep_alive(rt, &head, &response, served);
                    let _ = write_response(rt, stream, &head, response, keep, &ex);
                    lingering_close(stream);
                    return Next::Closed;
                }
            }
            let mut body_clock = stages.and_then(|s| Clock::start(s.body));
            let mut reader = Reader {
                stream,
                current_ms: &mut self.read_timeout_ms,
                timeout_ms: (main.timeout_secs() * 1000).max(1),
                clock: &mut body_clock,
                clock_started: &mut true,
                stage: None,
                start_now: false,
                park: false,
                read_ahead: None,
            };
            // Under event, a request may leave its wait for a backend to the MPM.
            let may_wait = park_when_idle;
            let answered = respond(
                rt,
                conn.clone(),
                &head,
                framing,
                &mut reader,
                buf,
                &mut ex,
                may_wait,
            );
            if matches!(answered, Err(BodyError::Status(408))) && body_clock.is_some() {
                log_conn(
                    rt,
                    conn.clone(),
                    "reqtimeout",
                    "info",
                    "AH01382: Request body read timeout",
                );
            }
            let answered = match answered {
                Ok(Responded::Answered(answered)) => answered,
                Ok(Responded::Waiting(suspended)) => {
                    // With no limit, a year stands for one.
                    let limit = suspended.timeout().unwrap_or(NO_LIMIT);
                    let deadline = Instant::now() + limit.min(NO_LIMIT);
                    self.pending = Some(Box::new(Pending {
                        suspended,
                        head,
                        ex,
                        framing,
                        deadline,
                        timed_out: false,
                    }));
                    return Next::Waiting(self);
                }
                Err(error) => {
                    let mut response = request::early_error(rt, conn, &head, error.status(), None);
                    if error == BodyError::Framing {
                        // Raised inside Apache's input filter: no length, ended by closing.
                        response.length_known = false;
                        response.close_delimited = true;
                    }
                    let _ = write_response(rt, stream, &head, response, (false, None), &ex);
                    lingering_close(stream);
                    return Next::Closed;
                }
            };
            if !self.send_answer(rt, &head, answered, &ex, framing, park_when_idle) {
                return Next::Closed;
            }
            if park_when_idle && self.buf.is_empty() {
                return Next::Idle(self);
            }
        }
    }

    /// Sends a request's answer (with whether the request's body was left half read) and
    /// decides whether the connection stays: false when it has ended.
    fn send_answer(
        &mut self,
        rt: &Runtime,
        head: &RequestHead,
        (mut response, body_unread): (Response, bool),
        ex: &Exchange,
        framing: Framing,
        park_when_idle: bool,
    ) -> bool {
        use crate::mpm::scoreboard::{self, State};
        let served = self.served;
        let mut keep = keep_alive(rt, head, &response, served + self.counted_twice);
        if keep.0 && response.close_delimited {
            // The first decision made it chunked; the second, counted again, says
            // whether the connection stays.
            self.counted_twice += 1;
            response.close_delimited = false;
            keep = keep_alive(rt, head, &response, served + self.counted_twice);
        }
        self.keep_alive_ms = rt.keep_alive_wait_ms(ex.conn.local, response.server, park_when_idle);
        // A child on its way out (graceful restart or stop) finishes this request only; a
        // body left half read ends the connection too.
        if body_unread
            || (expects_continue(head) && !framing.has_body())
            || framing == (Framing::Chunked { close: true })
            || crate::sys::process::GRACEFUL.load(std::sync::atomic::Ordering::Relaxed)
        {
            keep = (false, None);
        }
        let stream = self.stream.as_mut();
        match write_response(rt, stream, head, response, keep, ex) {
            Err(_) => false,
            Ok(()) if !keep.0 => {
                // The request was read whole: linger only if the client sent more.
                if !self.buf.is_empty() || stream.linger_always() || stream.pending_input() > 0 {
                    scoreboard::mark(State::Closing);
                    lingering_close(stream);
                }
                // Done with this client: no longer busy in the scoreboard.
                scoreboard::mark(State::Ready);
                false
            }
            Ok(()) => true,
        }
    }
}

/// What running the pipeline for a request came to.
// Answered is the common case, returned by value once a request (as `request::Processed`).
#[allow(clippy::large_enum_variant)]
enum Responded {
    /// The response, and whether the connection must end after it.
    Answered((Response, bool)),
    /// The handler waits for its backend (event MPM), the request's body read whole.
    Waiting(request::Suspended),
}

/// Runs the pipeline for a request and its body: the response, and whether the connection
/// must end after it (a body left half read, an expectation never met), or (`may_wait`) the
/// request whose handler waits for its backend off this thread. The body reaches the
/// pipeline unread: the handler reads it through the input filters of the request's directory
/// (the default handler discards it), and what the pipeline left unread is discarded here.
#[allow(clippy::too_many_arguments)]
fn respond(
    rt: &'static Runtime,
    conn: ConnInfo,
    head: &RequestHead,
    framing: Framing,
    reader: &mut Reader,
    buf: &mut Vec<u8>,
    ex: &mut Exchange,
    may_wait: bool,
) -> Result<Responded, BodyError> {
    let strict = rt.servers[0].runtime.core.strict();
    let run = |body| match may_wait {
        true => request::process_or_wait(rt, conn, head, body),
        false => request::Processed::Answered(request::process(rt, conn, head, body, false)),
    };
    if !framing.has_body() {
        return Ok(match run(request::RequestBody::Read(0)) {
            request::Processed::Answered(response) => Responded::Answered((response, false)),
            request::Processed::Waiting(suspended) => Responded::Waiting(suspended),
        });
    }
    let mut read_by_pipeline = None;
    let mut received = 0;
    let processed = run(request::RequestBody::Unread(Box::new(|first, sink| {
        // Handed over in the reads the input filters make, so that a body refused part
        // way counts what they had taken.
        let mut counted = |mut piece: &[u8]| {
            while !piece.is_empty() {
                let size = request::next_read_size(received, first).min(piece.len());
                let (now, later) = piece.split_at(size);
                received += size as u64;
                sink(now)?;
                piece = later;
            }
            Ok(())
        };
        let mut trailers = Vec::new();
        let read = drain_body(reader, buf, head, &mut trailers, &mut counted, strict);
        read_by_pipeline = Some(read);
        read.map(|length| request::ReadBody { length, trailers })
    })));
    let response = match processed {
        request::Processed::Answered(response) => response,
        // Only a request whose body was read whole waits (see `process_or_wait`).
        request::Processed::Waiting(suspended) => {
            if let Some(Ok(length)) = read_by_pipeline {
                ex.bytes_in += length;
            }
            return Ok(Responded::Waiting(suspended));
        }
    };
    let answered = |response, unread| Ok(Responded::Answered((response, unread)));
    match read_by_pipeline {
        // The pipeline answered a body it could not read: say so, then close. What had
        // arrived of it counts as read (mod_logio's %I).
        Some(Err(_)) => {
            ex.bytes_in += received;
            answered(response, true)
        }
        Some(Ok(length)) => {
            ex.bytes_in += length;
            answered(response, false)
        }
        // Nobody asked for the body of a client waiting for 100 Continue: it is not sent,
        // and the connection ends after the answer (Apache keeps no connection whose
        // expectation it never met).
        None if expects_continue(head) => answered(response, true),
        // An answer that ends the connection (a 413 for a declared length over the limit)
        // goes out at once; the body is not waited for (Apache's ap_discard_request_body).
        None if drops_connection(response.status) => answered(response, true),
        None => {
            ex.bytes_in += discard_body(reader, buf, head, &mut Vec::new(), strict)?;
            answered(response, false)
        }
    }
}

/// Whether an HTTP/1.1 client waits for `100 Continue` before it sends its body.
fn expects_continue(head: &RequestHead) -> bool {
    head.version == Version::Http11
        && head
            .headers
            .get_joined("Expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
}

/// Apache's lingering close: stop sending, then read and discard whatever the client still
/// sends (2 s per read, 30 s in all), so a response is not lost to the reset that closing on
/// unread input would send.
fn lingering_close(stream: &mut dyn Transport) {
    if stream.shutdown_write().is_err() {
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sink = [0u8; 512];
    while Instant::now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

enum ReadError {
    Io(io::Error),
    /// No byte came in time: the socket's Timeout, or mod_reqtimeout's stage.
    Timeout,
    /// The event MPM: the rest of the head has not arrived; wait for it off this thread.
    Park,
    Head(HeadError),
}

/// Reads from a client under the two limits Apache puts on them: Timeout for each wait, and
/// mod_reqtimeout's clock for the stage as a whole.
struct Reader<'a> {
    stream: &'a mut dyn Transport,
    /// The timeout the socket has now (kept, so it is changed only when it must be).
    current_ms: &'a mut u64,
    timeout_ms: u64,
    clock: &'a mut Option<Clock>,
    /// The header stage starts once (at the first byte, unless `start_now`).
    clock_started: &'a mut bool,
    stage: Option<crate::modules::reqtimeout::Stage>,
    start_now: bool,
    /// Give the connection back instead of waiting for more of a head (event MPM).
    park: bool,
    /// What the read that took the readiness that woke the connection brought (see
    /// `Connection::read_ahead`).
    read_ahead: Option<usize>,
}

impl Reader<'_> {
    /// Starts the header stage if it is due: now for a connection's first request, else at
    /// the first byte.
    fn start_clock(&mut self, have_bytes: bool) {
        if !*self.clock_started && (self.start_now || have_bytes) {
            *self.clock_started = true;
            *self.clock = self.stage.and_then(Clock::start);
        }
    }

    /// One read(2) into `buf`, waiting at most Timeout and never past the stage's deadline.
    fn read_into(&mut self, buf: &mut Vec<u8>) -> Result<usize, ReadError> {
        let waited_from = Instant::now();
        loop {
            let mut want = self
                .timeout_ms
                .saturating_sub(waited_from.elapsed().as_millis() as u64);
            if let Some(clock) = self.clock.as_ref() {
                let left = clock.deadline.saturating_duration_since(Instant::now());
                want = want.min(left.as_millis() as u64 + 1);
                if clock.expired() {
                    return Err(ReadError::Timeout);
                }
            }
            if want == 0 {
                return Err(ReadError::Timeout);
            }
            // Waking early only costs a loop; waiting past a deadline is what must not happen.
            if *self.current_ms > want || *self.current_ms < want / 2 {
                let _ = self
                    .stream
                    .set_read_timeout(Some(Duration::from_millis(want)));
                *self.current_ms = want;
            }
            match read_into(self.stream, buf) {
                Ok(n) => {
                    self.start_clock(n > 0);
                    if let Some(clock) = self.clock.as_mut() {
                        clock.received(n);
                    }
                    return Ok(n);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(err) => return Err(ReadError::Io(err)),
            }
        }
    }
}

/// Reads until a whole head is buffered; `Ok(None)` when the client closed between requests.
fn read_head(
    reader: &mut Reader,
    buf: &mut Vec<u8>,
    limits: &Limits,
) -> Result<Option<(RequestHead, usize)>, ReadError> {
    reader.start_clock(!buf.is_empty());
    let ahead = reader.read_ahead.take();
    if let (Some(n), Some(clock)) = (ahead, reader.clock.as_mut()) {
        clock.received(n);
    }
    let mut first_read = ahead.is_none();
    loop {
        if !buf.is_empty() {
            match parse_head(buf, limits) {
                Ok(Some((head, used))) => {
                    buf.drain(..used);
                    return Ok(Some((head, used)));
                }
                Ok(None) => {}
                Err(err) => return Err(ReadError::Head(err)),
            }
        }
        if ahead == Some(0) {
            return closed_before_head(buf);
        }
        // Woken because the socket is readable, the first read does not wait; a later one
        // would, so the event MPM parks the connection instead of holding this thread.
        if reader.park && !first_read && reader.stream.pending_input() == 0 {
            return Err(ReadError::Park);
        }
        first_read = false;
        if reader.read_into(buf)? == 0 {
            return closed_before_head(buf);
        }
    }
}

/// The client closed with `buf` (not a whole head) read: a request line that never ended is
/// dropped without an answer, as Apache drops it; a head cut short after it gets 400.
fn closed_before_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, ReadError> {
    let line_began = buf.iter().position(|b| !matches!(b, b'\r' | b'\n'));
    let line_ended = line_began.is_some_and(|at| buf[at..].contains(&b'\n'));
    if !line_ended {
        return Ok(None);
    }
    Err(ReadError::Head(HeadError::BadRequestLine))
}

/// A head that did not arrive in time. A request line received whole gets 408; a partial one
/// is only logged, and only on a connection's first request (as Apache's core does). `read`
/// is what arrived: bytes counted before the head (a PROXY header's) and the head so far.
/// With mod_reqtimeout's stage running (`staged`), its filter notes the timeout, whichever
/// limit ran out (its own or Timeout).
fn head_timeout(
    rt: &Runtime,
    stream: &mut dyn Transport,
    conn: ConnInfo,
    read: (u64, &[u8]),
    served: u64,
    staged: bool,
    linger: bool,
) {
    let (before, buf) = read;
    if staged {
        log_conn(
            rt,
            conn.clone(),
            "reqtimeout",
            "info",
            "AH01382: Request header read timeout",
        );
    }
    let text = String::from_utf8_lossy(buf);
    let line_complete = text.trim_start_matches(['\r', '\n']).contains('\n');
    let ex = Exchange::start(conn, before + buf.len() as u64, served);
    if line_complete {
        let _ = write_error(rt, stream, &ex, buf, 408);
        if linger {
            lingering_close(stream);
        } else {
            let _ = stream.shutdown_write();
        }
    } else if served == 0 {
        log_unanswered(rt, &ex, 408);
    }
}

/// A connection-level message in the main error log, naming the client.
fn log_conn(rt: &Runtime, conn: ConnInfo, module: &str, level: &str, message: &str) {
    log_conn_from(rt, &conn, module, level, None, None, message);
}

/// The same with the status that caused it and, for a debug message, the place in Apache
/// it stands for (`mod_remoteip.c(949)`).
fn log_conn_from(
    rt: &Runtime,
    conn: &ConnInfo,
    module: &str,
    level: &str,
    cause: Option<&io::Error>,
    source: Option<&str>,
    message: &str,
) {
    log_conn_bytes(rt, conn, module, level, cause, source, message.as_bytes());
}

fn log_conn_bytes(
    rt: &Runtime,
    conn: &ConnInfo,
    module: &str,
    level: &str,
    cause: Option<&io::Error>,
    source: Option<&str>,
    message: &[u8],
) {
    let main = &rt.servers[0];
    if !crate::log::enabled_with(&main.dir.core.log_level, module, level) {
        return;
    }
    crate::log::emit(&crate::log::Entry {
        module,
        level,
        message,
        cause,
        source,
        request: Some(crate::log::RequestContext {
            peer: conn.peer,
            useragent: None,
            local: conn.local,
            head: None,
            server_name: &main.server_name,
            host: String::new(),
        }),
    });
}

/// A PROXY header refused: its message (mod_remoteip's, at error), if it has one.
fn refused(rt: &Runtime, conn: &ConnInfo, refusal: Option<super::proxy_protocol::Refusal>) {
    let Some(refusal) = refusal else {
        return;
    };
    let cause = refusal.cause.map(crate::log::AprStatus::error);
    log_conn_bytes(
        rt,
        conn,
        "remoteip",
        "error",
        cause.as_ref(),
        None,
        &refusal.message,
    );
}

/// A PROXY header that did not arrive in time: mod_reqtimeout's note if its stage was
/// running (whichever limit ran out, as its filter notes any timeout beneath it),
/// mod_remoteip's error, and (before a request's header stage, as on a plain port) the 408
/// Apache logs for a request line that never came.
fn proxy_header_timeout(
    rt: &Runtime,
    conn: &ConnInfo,
    opening: Opening,
    received: usize,
    staged: bool,
) {
    if staged {
        let stage = if opening.tls { "handshake" } else { "header" };
        let text = format!("AH01382: Request {stage} read timeout");
        log_conn(rt, conn.clone(), "reqtimeout", "info", &text);
    }
    let timeup = crate::log::AprStatus::error(crate::log::AprStatus::TIMEUP);
    let text = "AH10184: failed reading input";
    log_conn_from(rt, conn, "remoteip", "error", Some(&timeup), None, text);
    if !opening.tls {
        let ex = Exchange::start(conn.clone(), received as u64, 0);
        log_unanswered(rt, &ex, 408);
    }
}

thread_local! {
    /// Each thread's read buffer, zeroed once rather than on every read.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_CHUNK]);
}

/// One read(2) appended to `buf`; the byte count.
fn read_into(stream: &mut dyn Transport, buf: &mut Vec<u8>) -> io::Result<usize> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let n = stream.read(&mut scratch[..])?;
        buf.extend_from_slice(&scratch[..n]);
        Ok(n)
    })
}

/// The body's framing as its headers declare it (see `http1::body`); a 400 for framing
/// headers Apache refuses.
fn body_framing(head: &RequestHead) -> Result<Framing, BodyError> {
    request_framing(&head.headers).map_err(|_| BodyError::Status(400))
}

/// What becomes of body bytes as they are read.
type Sink<'s> = &'s mut dyn FnMut(&[u8]) -> Result<(), u16>;

/// Reads the request body and throws it away (its trailers kept), as the default handler's
/// discard does.
fn discard_body(
    reader: &mut Reader,
    buf: &mut Vec<u8>,
    head: &RequestHead,
    trailers: &mut Vec<(String, String)>,
    strict: bool,
) -> Result<u64, BodyError> {
    drain_body(reader, buf, head, trailers, &mut |_| Ok(()), strict)
}

/// Reads the request body, handing it to `sink` (no handler here keeps one): its length, or
/// why not.
fn drain_body(
    reader: &mut Reader,
    buf: &mut Vec<u8>,
    head: &RequestHead,
    trailers: &mut Vec<(String, String)>,
    sink: Sink,
    strict: bool,
) -> Result<u64, BodyError> {
    let framing = body_framing(head)?;
    if framing.has_body() && expects_continue(head) {
        // Reading the body is what makes Apache send the interim response.
        reader
            .stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|_| BodyError::Status(400))?;
    }
    // The codec decodes; this loop only reads and feeds it.
    let mut decoder = BodyDecoder::new(framing, strict);
    let mut data = |bytes: &[u8]| sink(bytes).map_err(BodyError::from);
    while !decoder.decode_buffered(buf, &mut data, trailers)? {
        fill(reader, buf)?;
    }
    Ok(decoder.total())
}

/// A body the codec refuses: broken framing ends the connection after a 400 (Apache's input
/// filter error), a malformed trailer is a plain 400.
impl From<DecodeError> for BodyError {
    fn from(error: DecodeError) -> BodyError {
        match error {
            DecodeError::Framing => BodyError::Framing,
            DecodeError::BadTrailer => BodyError::Status(400),
        }
    }
}

/// One read of body bytes into `buf`: 408 when the client is too slow (Timeout or
/// mod_reqtimeout's body stage), 400 when it goes away.
fn fill(reader: &mut Reader, buf: &mut Vec<u8>) -> Result<usize, BodyError> {
    match reader.read_into(buf) {
        Ok(0) => Err(BodyError::Status(400)),
        Ok(n) => Ok(n),
        Err(ReadError::Timeout) => Err(BodyError::Status(408)),
        Err(_) => Err(BodyError::Status(400)),
    }
}

/// (keep the connection, send the Keep-Alive header with this many requests left).
fn keep_alive(
    rt: &Runtime,
    head: &RequestHead,
    response: &Response,
    served: u64,
) -> (bool, Option<u64>) {
    let http = rt.servers[response.server]
        .runtime
        .module::<crate::modules::http_core::ServerConf>();
    let special = response.protocol_env;
    let version = special.version(head.version);
    let [asked_close, asked_keep] = head
        .headers
        .tokens_named("Connection", &["close", "keep-alive"]);
    let max = http.max_keep_alive_requests();
    // Apache counts the requests already kept alive before this one.
    let left = max.saturating_sub(served - 1);
    // A body of unknown length is chunked for HTTP/1.1 (an error raised inside a filter, such
    // as a 416, only on a connection kept alive; see send_response).
    let framed = response.length_known || response.header_only || version == Version::Http11;
    let keep = !response.ends_connection
        && response.upgrade.is_none()
        && http.keep_alive()
        && http.keep_alive_timeout_ms() > 0
        && (max == 0 || left > 0)
        && framed
        && !drops_connection(response.status)
        && !asked_close
        && !(special.no_keepalive && head.headers.get("Via").is_none())
        && !special.forces_10(head.version)
        && (version == Version::Http11 || asked_keep);
    let left = if max == 0 { None } else { Some(left) };
    (
        keep,
        if keep && asked_keep {
            left.or(Some(0))
        } else {
            None
        },
    )
}

/// One request's exchange as the logs see it: when its head arrived and how much came in.
struct Exchange {
    conn: ConnInfo,
    started: SystemTime,
    clock: Instant,
    bytes_in: u64,
    /// Requests served on the connection before this one.
    keepalives: u64,
}

impl Exchange {
    fn start(conn: ConnInfo, bytes_in: u64, keepalives: u64) -> Exchange {
        Exchange {
            conn,
            started: SystemTime::now(),
            clock: Instant::now(),
            bytes_in,
            keepalives,
        }
    }
}

/// Writes the response, then counts it in the scoreboard and writes the access log records.
fn write_response(
    rt: &Runtime,
    stream: &mut dyn Transport,
    head: &RequestHead,
    response: Response,
    keep: (bool, Option<u64>),
    ex: &Exchange,
) -> io::Result<()> {
    answer(rt, Some(stream), head, response, keep, ex)
}

/// Logs a request that ends with no answer (a request line that never arrived whole).
fn log_unanswered(rt: &Runtime, ex: &Exchange, status: u16) {
    let head = unreadable_head(b"");
    let mut response = request::early_error(rt, ex.conn.clone(), &head, status, None);
    // Nothing was answered: no header was set for the log to find.
    response.first_headers = Default::default();
    response.headers = Default::default();
    let _ = answer(rt, None, &head, response, (false, None), ex);
}

/// Sends the response (unless there is no one to send it to), counts it in the scoreboard
/// and writes its access log records.
fn answer(
    rt: &Runtime,
    stream: Option<&mut dyn Transport>,
    head: &RequestHead,
    mut response: Response,
    keep: (bool, Option<u64>),
    ex: &Exchange,
) -> io::Result<()> {
    let server = response.server;
    let status = response.status;
    let forensic = crate::modules::log_forensic::pending(rt, server, response.log.as_deref());
    let logging = rt.logs.wanted(server);
    let kept = logging.then(|| {
        (
            response.log.take().unwrap_or_default(),
            logged_headers(&response),
            response.content_type.clone(),
        )
    });
    // The first byte goes out as the head is written.
    let ttfb = ex.clock.elapsed();
    let (sent, body_bytes) = match stream {
        Some(stream) => match send_response(rt, stream, head, response, keep) {
            Ok((sent, body)) => (Ok(sent), body),
            Err(error) => (Err(error), 0),
        },
        None => (Ok(0), 0),
    };
    crate::mpm::scoreboard::count_request(body_bytes, &rt.servers[server].server_name);
    if let Some((facts, headers, content_type)) = kept {
        let context = &rt.servers[server];
        // A request refused before the pipeline ran (its head unreadable) has no user agent
        // of its own: the connection's client is (mod_remoteip never saw it).
        let connection_client;
        let useragent = match &facts.useragent {
            Some(useragent) => useragent,
            None => {
                connection_client = crate::request::ClientAddr::new(ex.conn.peer);
                &connection_client
            }
        };
        let record = crate::modules::log_config::Record {
            head,
            request_headers: facts.request_headers.as_ref().unwrap_or(&head.headers),
            peer: ex.conn.peer,
            useragent,
            local: ex.conn.local,
            status,
            response_headers: &headers,
            content_type: content_type.as_deref(),
            body_bytes,
            bytes_in: ex.bytes_in,
            bytes_out: *sent.as_ref().unwrap_or(&0),
            started: ex.started,
            duration: ex.clock.elapsed(),
            keepalives: ex.keepalives,
            server_name: &context.server_name,
            server_port: context.runtime.core.server_port,
            original_uri: &facts.original_uri,
            final_uri: &facts.final_uri,
            args: facts.args.as_deref(),
            filename: facts.filename.as_deref(),
            handler: facts.handler.as_deref(),
            user: facts.user.as_deref(),
            request_host: &facts.request_host,
            keep_alive: keep.0 && sent.is_ok(),
            aborted: sent.is_err(),
            env: &facts.env,
            notes: &facts.notes,
            remote_host: facts.remote_host.as_deref(),
            conn_remote_host: facts.conn_remote_host.as_deref(),
            ttfb: facts.track_ttfb.then_some(ttfb),
            tls: ex.conn.tls.as_deref(),
        };
        rt.logs.write(server, &record);
    }
    if let Some(id) = forensic {
        crate::modules::log_forensic::finished(rt, server, &id);
    }
    sent.map(|_| ())
}

/// The response headers as mod_log_config's `%{NAME}o` finds them once the head is sent:
/// Apache's header filter has laid `err_headers_out` (mod_headers' `always` fields) over
/// `headers_out`, ahead of it, and the later filters have added theirs.
fn logged_headers(response: &Response) -> crate::http1::Headers {
    let parts = [
        &response.first_headers,
        &response.headers,
        &response.late_headers,
        &response.after_length,
        &response.after_connection,
        &response.trailing,
    ];
    if parts[0].0.is_empty() && parts[2..].iter().all(|part| part.0.is_empty()) {
        return response.headers.clone();
    }
    crate::http1::Headers(
        parts
            .iter()
            .flat_map(|part| part.0.iter().cloned())
            .collect(),
    )
}

/// A proxied answer's Content-Type and Content-Length, updated where they stand among its
/// fields: the type as it is now, the length if the body still has one (else dropped).
fn place_fields(
    headers: &mut crate::http1::Headers,
    content_type: Option<&str>,
    length: Option<u64>,
) {
    for (name, value) in headers.0.iter_mut() {
        if name.eq_ignore_ascii_case("Content-Type") {
            if let Some(now) = content_type {
                *value = now.to_string();
            }
        } else if name.eq_ignore_ascii_case("Content-Length") {
            if let Some(now) = length {
                *value = now.to_string();
            }
        }
    }
    if length.is_none() {
        headers
            .0
            .retain(|(name, _)| !name.eq_ignore_ascii_case("Content-Length"));
    }
}

/// Writes status line, headers and body in the order Apache writes them; the bytes sent in
/// all, and those of the body.
fn send_response(
    rt: &Runtime,
    stream: &mut dyn Transport,
    head: &RequestHead,
    mut response: Response,
    keep: (bool, Option<u64>),
) -> io::Result<(u64, u64)> {
    let http = rt.servers[response.server]
        .runtime
        .module::<crate::modules::http_core::ServerConf>();
    if let Some(upgrade) = response.upgrade.take() {
        upgrade.0.run(stream);
        return Ok((0, 0));
    }
    let sends_body = !(response.header_only || response.status == 304 || response.status == 204);
    if head.version == Version::Http09 || response.raw {
        // HTTP/0.9 has no status line or headers: the body alone, then the connection closes.
        let (body, _) = write_body(stream, &mut response.body, false)?;
        return Ok((body, body));
    }
    let chunked = !response.length_known
        && !response.header_only
        && response.protocol_env.version(head.version) == Version::Http11
        && response.status != 304
        && (!response.close_delimited || keep.0);
    // A Connection header the response carries already (core's Upgrade offer) takes the
    // keep-alive token, as Apache's table merge puts it there.
    let token = match keep {
        (true, Some(_)) => Some("Keep-Alive"),
        (true, None) => None,
        (false, _) if response.ends_connection => None,
        (false, _) => Some("close"),
    };
    let connection_merged = token.is_some_and(|token| {
        let existing = response
            .headers
            .0
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case("Connection"));
        existing
            .map(|(_, value)| value.push_str(&format!(", {token}")))
            .is_some()
    });
    // Apache's length filter gives a HEAD of an empty body no Content-Length at all.
    let empty_head = response.header_only && response.body.is_empty();
    let mut content_length =
        (response.length_known && response.status != 304 && response.status != 204 && !empty_head)
            .then(|| response.body.len());
    let mut content_type = response.content_type.as_deref();
    if response.fields_in_place {
        place_fields(&mut response.headers, content_type, content_length);
        if response.headers.get("Content-Type").is_some() {
            content_type = None;
        }
        if response.headers.get("Content-Length").is_some() {
            content_length = None;
        }
    }
    let out = ResponseHead {
        http10: response.protocol_env.forces_10(head.version),
        status: response.status,
        status_line: response.status_line.as_deref(),
        date: SystemTime::now(),
        date_text: response.origin_date.as_deref(),
        server: response
            .origin_server
            .as_deref()
            .unwrap_or(&rt.server_banner),
        before_length: [&response.first_headers, &response.headers],
        content_length,
        length_last: response.length_last,
        after_length: [&response.late_headers, &response.after_length],
        keep_alive: match keep {
            (true, Some(left)) => Some((http.keep_alive_timeout_ms() / 1000, left)),
            _ => None,
        },
        connection: token.filter(|_| !connection_merged),
        chunked,
        after_connection: &response.after_connection,
        content_type,
        trailing: &response.trailing,
    }
    .encode_with_room(small_body(sends_body && !chunked, &response.body));
    // A value from configuration text carries its bytes that were not UTF-8 as stand-ins:
    // the wire gets the bytes themselves, as Apache sends them.
    let out = match rhttpd_directives::util::raw_text::encode(&out) {
        std::borrow::Cow::Owned(bytes) => bytes,
        std::borrow::Cow::Borrowed(_) => out.into_bytes(),
    };
    // A small file goes out with its head in one write: one syscall, one packet.
    if let (
        true,
        false,
        Body::File {
            file, offset, len, ..
        },
    ) = (sends_body, chunked, &response.body)
    {
        if *len <= SMALL_FILE {
            let mut bytes = out;
            let start = bytes.len();
            bytes.resize(start + *len as usize, 0);
            std::os::unix::fs::FileExt::read_exact_at(&**file, &mut bytes[start..], *offset)?;
            stream.write_all(&bytes)?;
            stream.flush()?;
            return Ok((bytes.len() as u64, *len));
        }
    }
    // A body held in memory (an error page, a generated listing) goes out with its head in
    // one write, as a small file does.
    if let (true, false, Body::Bytes(body)) = (sends_body, chunked, &response.body) {
        if body.len() as u64 <= SMALL_FILE {
            let mut bytes = out;
            let head_len = bytes.len() as u64;
            bytes.extend_from_slice(body);
            stream.write_all(&bytes)?;
            stream.flush()?;
            return Ok((head_len + body.len() as u64, body.len() as u64));
        }
    }
    // A streamed body's first piece goes out with the head, as Apache's header filter sends
    // the head with the first data it passes: one write, not two.
    if let (true, Body::Stream(source)) = (sends_body, &mut response.body) {
        let first = match source.0.next_piece() {
            Ok(first) => first,
            Err(error) => {
                stream.write_all(&out)?;
                stream.flush()?;
                return Err(error);
            }
        };
        let mut bytes = out;
        let head_len = bytes.len() as u64;
        let Some(piece) = first else {
            if chunked {
                bytes.extend_from_slice(LAST_CHUNK);
            }
            stream.write_all(&bytes)?;
            stream.flush()?;
            let framing = if chunked { LAST_CHUNK.len() as u64 } else { 0 };
            return Ok((head_len + framing, 0));
        };
        let mut first_framing = 0;
        if chunked && !piece.is_empty() {
            let header = chunk_header(piece.len());
            first_framing = (header.len() + CHUNK_END.len()) as u64;
            bytes.extend_from_slice(header.as_bytes());
            bytes.extend_from_slice(&piece);
            bytes.extend_from_slice(CHUNK_END);
        } else {
            bytes.extend_from_slice(&piece);
        }
        // A whole answer in its first piece: the last chunk goes in the same write.
        if chunked && source.0.finished() {
            bytes.extend_from_slice(LAST_CHUNK);
            stream.write_all(&bytes)?;
            stream.flush()?;
            let body = piece.len() as u64;
            return Ok((
                head_len + body + first_framing + LAST_CHUNK.len() as u64,
                body,
            ));
        }
        stream.write_all(&bytes)?;
        stream.flush()?;
        let (rest, framing) = write_body(stream, &mut response.body, chunked)?;
        let body = piece.len() as u64 + rest;
        return Ok((head_len + body + first_framing + framing, body));
    }
    stream.write_all(&out)?;
    if !sends_body {
        stream.flush()?;
        return Ok((out.len() as u64, 0));
    }
    let (body, framing) = write_body(stream, &mut response.body, chunked)?;
    Ok((out.len() as u64 + body + framing, body))
}

/// The largest chunk whose framing is copied together with its bytes into one write.
const COALESCE_CHUNK: usize = 16 * 1024;

/// Writes a body, framed as chunks when `chunked`: the body's bytes and the framing's.
fn write_body(
    stream: &mut dyn Transport,
    body: &mut Body,
    chunked: bool,
) -> io::Result<(u64, u64)> {
    let length = body.len();
    let mut framing = 0;
    let chunk = |stream: &mut dyn Transport, piece: &[u8]| -> io::Result<()> {
        if piece.is_empty() {
            return Ok(());
        }
        if chunked && piece.len() <= COALESCE_CHUNK {
            // One write for the size, the bytes and the CRLF: a copy costs less than two
            // more system calls at this size.
            let header = chunk_header(piece.len());
            let mut framed = Vec::with_capacity(header.len() + piece.len() + CHUNK_END.len());
            framed.extend_from_slice(header.as_bytes());
            framed.extend_from_slice(piece);
            framed.extend_from_slice(CHUNK_END);
            stream.write_all(&framed)?;
        } else if chunked {
            stream.write_all(chunk_header(piece.len()).as_bytes())?;
            stream.write_all(piece)?;
            stream.write_all(CHUNK_END)?;
        } else {
            stream.write_all(piece)?;
        }
        Ok(())
    };
    let length = match body {
        Body::Empty => 0,
        // An empty body sent chunked is the last chunk alone (a zero-size chunk would end it).
        Body::Bytes(bytes) => {
            chunk(stream, bytes)?;
            if chunked {
                framing = chunked_overhead([bytes.len()]);
            }
            length
        }
        Body::Pieces(bytes, sizes) => {
            let mut rest = &bytes[..];
            for size in sizes.iter().map(|&s| s.min(rest.len())) {
                let (piece, after) = rest.split_at(size);
                chunk(stream, piece)?;
                rest = after;
            }
            if chunked {
                framing = chunked_overhead(sizes.iter().copied());
            }
            length
        }
        Body::File {
            file,
            offset,
            len,
            sendfile,
        } => {
            if chunked && *len > 0 {
                stream.write_all(chunk_header(*len as usize).as_bytes())?;
                stream.send_file(file, *offset, *len, *sendfile)?;
                stream.write_all(CHUNK_END)?;
                framing = chunked_overhead([*len as usize]);
            } else {
                stream.send_file(file, *offset, *len, *sendfile)?;
            }
            length
        }
        // Each piece goes out as it comes (a client sees a script's output as it is made).
        Body::Stream(source) => {
            let mut sent = 0u64;
            let mut sizes = Vec::new();
            while let Some(piece) = source.0.next_piece()? {
                chunk(stream, &piece)?;
                stream.flush()?;
                sent += piece.len() as u64;
                sizes.push(piece.len());
            }
            if chunked {
                framing = chunked_overhead(sizes);
            }
            sent
        }
    };
    if chunked {
        stream.write_all(LAST_CHUNK)?;
    }
    stream.flush()?;
    Ok((length, framing))
}

/// The stand-in for a request whose head could not be read: an HTTP/1.0 GET of `/`, so the
/// error goes out with a status line and closes the connection.
fn unreadable_head(received: &[u8]) -> RequestHead {
    // The line as received still names the request in the access log (Apache's the_request).
    let line = received.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    let method = text.split_whitespace().next().unwrap_or("GET").to_string();
    RequestHead {
        method,
        target: "/".into(),
        version: Version::Http10,
        headers: Default::default(),
        request_line: line.to_vec(),
        raw_values: Vec::new(),
        tls: false,
    }
}

/// A response for a status decided before the pipeline ran (bad head, timeout, bad body).
fn write_error(
    rt: &Runtime,
    stream: &mut dyn Transport,
    ex: &Exchange,
    received: &[u8],
    status: u16,
) -> io::Result<()> {
    let head = unreadable_head(received);
    write_error_for(rt, stream, ex, &head, status)
}

fn write_error_for(
    rt: &Runtime,
    stream: &mut dyn Transport,
    ex: &Exchange,
    head: &RequestHead,
    status: u16,
) -> io::Result<()> {
    let response = request::early_error(rt, ex.conn.clone(), head, status, None);
    write_response(rt, stream, head, response, (false, None), ex)
}

fn write_head_error(
    rt: &Runtime,
    stream: &mut dyn Transport,
    ex: &Exchange,
    received: &[u8],
    err: &HeadError,
) -> io::Result<()> {
    let mut head = unreadable_head(received);
    if *err == HeadError::UnreadableRequestLine {
        // Apache never parsed a method out of it: the answer carries its page.
        head.method = "GET".into();
    }
    let notes = match err {
        HeadError::FieldTooLong(_) => {
            Some("Size of a request header field exceeds server limit.".to_string())
        }
        HeadError::TooManyFields => {
            Some("The number of request header fields exceeds this server's limit.".to_string())
        }
        _ => None,
    };
    let response = request::early_error(rt, ex.conn.clone(), &head, err.status(), notes);
    write_response(rt, stream, &head, response, (false, None), ex)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{BodySource, BodyStream};

    /// A transport that keeps what is written.
    #[derive(Default)]
    struct Recorded(Vec<u8>);

    impl io::Read for Recorded {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Ok(0)
        }
    }

    impl io::Write for Recorded {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for Recorded {
        fn raw_fd(&self) -> std::os::fd::RawFd {
            -1
        }
        fn set_read_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
            Ok(())
        }
        fn set_write_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
            Ok(())
        }
        fn shutdown_write(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn pending_input(&mut self) -> usize {
            0
        }
        fn sendfile_applies(&self) -> bool {
            false
        }
    }

    /// Pieces as a producer hands them over, an empty one among them.
    struct Pieces(Vec<&'static [u8]>);

    impl BodySource for Pieces {
        fn next_piece(&mut self) -> io::Result<Option<Vec<u8>>> {
            Ok((!self.0.is_empty()).then(|| self.0.remove(0).to_vec()))
        }
    }

    fn stream(pieces: Vec<&'static [u8]>) -> Body {
        Body::Stream(BodyStream(Box::new(Pieces(pieces))))
    }

    #[test]
    fn a_stream_goes_out_chunk_by_chunk() {
        let mut out = Recorded::default();
        let mut body = stream(vec![b"hello", b"", b" world"]);
        let (length, framing) = write_body(&mut out, &mut body, true).unwrap();
        assert_eq!(out.0, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        assert_eq!((length, length + framing), (11, out.0.len() as u64));
    }

    #[test]
    fn a_stream_without_chunking_is_its_bytes() {
        let mut out = Recorded::default();
        let mut body = stream(vec![b"ab", b"cd"]);
        assert_eq!(write_body(&mut out, &mut body, false).unwrap(), (4, 0));
        assert_eq!(out.0, b"abcd");
    }

    #[test]
    fn an_empty_chunked_body_is_the_last_chunk_alone() {
        let mut out = Recorded::default();
        let mut body = Body::Bytes(Vec::new());
        assert_eq!(write_body(&mut out, &mut body, true).unwrap(), (0, 5));
        assert_eq!(out.0, b"0\r\n\r\n");
    }
}
