//! A request as the pipeline carries it (`Request`, its `Response`, the connection facts) and
//! the helpers every phase shares; the phases themselves are in `pipeline.rs`, the walks in
//! `walk.rs`, error responses in `errors.rs`.

pub(crate) mod auth;
pub(crate) mod byterange;
pub(crate) mod errors;
pub(crate) mod expr;
pub(crate) mod host;
pub mod htaccess;
pub(crate) mod input;
pub mod merged;
pub(crate) mod negotiation;
pub(crate) mod open_files;
pub(crate) mod pipeline;
pub mod state;
pub mod static_file;
pub mod uri;
pub(crate) mod walk;

use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use crate::http1::body::Framing;
use crate::http1::{Headers, RequestHead, Version};
use crate::modules::mime;
use crate::modules::DirRuntime;
use crate::runtime::{Runtime, ServerContext};

/// The methods the default handler knows (Apache's registered methods).
pub use rhttpd_directives::modules::core::KNOWN_METHODS;

pub(crate) use errors::early_error;
pub(crate) use errors::signature;
use host::named_host;
pub(crate) use host::{head_refused, request_host};
use pipeline::set_handler;
pub(crate) use pipeline::{process, process_or_wait, Processed, Suspended};

/// Where a request arrived.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// Requests the connection carried before this one.
    pub served_before: u64,
    /// The TLS session the connection runs over (mod_ssl's SSLConnRec), if any.
    pub tls: Option<std::sync::Arc<crate::server::tls::TlsInfo>>,
    /// Plain HTTP arrived on a port where TLS was expected: mod_ssl answers its request
    /// with a 400.
    pub plain_on_tls: bool,
    /// The client a PROXY protocol header named (mod_remoteip's connection config): `Some`
    /// on a connection that began with one, where it is the connection's own address for a
    /// header that names none (`UNKNOWN`, v2 `LOCAL`). Each request takes it as its user
    /// agent; the connection's address (`peer`) stays the proxy's, as Apache's does.
    pub proxied: Option<ClientAddr>,
}

/// An address a request is said to come from, as Apache keeps one: the socket address and
/// the text its logs and variables show (`r->useragent_addr` and `useragent_ip`, or the
/// connection's `client_addr` and `client_ip`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr {
    pub addr: SocketAddr,
    /// The text where it is not the address's own rendering: the client address of a PROXY
    /// v1 header, kept as the proxy wrote it (`127.1`, `2001:DB8::1`), as Apache keeps it.
    written: Option<Arc<str>>,
}

impl ClientAddr {
    pub fn new(addr: SocketAddr) -> ClientAddr {
        ClientAddr {
            addr,
            written: None,
        }
    }

    /// An address whose text is `written` as given.
    pub fn written(addr: SocketAddr, written: &str) -> ClientAddr {
        ClientAddr {
            addr,
            written: Some(Arc::from(written)),
        }
    }

    pub fn ip(&self) -> std::net::IpAddr {
        self.addr.ip()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address as Apache writes it (`apr_sockaddr_ip_get`): an IPv4-mapped IPv6
    /// address as the IPv4 address it carries.
    pub fn ip_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.written {
            Some(text) => std::borrow::Cow::Borrowed(text),
            None => std::borrow::Cow::Owned(apr_ip_text(self.addr.ip())),
        }
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.ip_text())
    }
}

/// An IP address as APR writes one: an IPv4-mapped IPv6 address in its IPv4 form.
pub fn apr_ip_text(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => ipv4_text(v4),
            None => v6.to_string(),
        },
        std::net::IpAddr::V4(v4) => ipv4_text(v4),
    }
}

/// Dotted-quad text, written directly: Ipv4Addr's Display goes through the formatter's
/// padding machinery, several times the cost, and a proxied request writes the client's
/// address at least once.
fn ipv4_text(ip: std::net::Ipv4Addr) -> String {
    let mut text = String::with_capacity(15);
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        crate::http1::number::push_decimal(&mut text, u64::from(octet));
    }
    text
}

impl ConnInfo {
    /// A connection just accepted. An IPv4 client of a dual-stack listener (`Listen 80`
    /// binds [::]:80) arrives as an IPv4-mapped IPv6 address; it is taken as the IPv4 address
    /// it is, as APR presents it to Apache: logs say 127.0.0.1, not ::ffff:127.0.0.1, and
    /// `Require ip`, vhost addresses and REMOTE_ADDR see the same.
    pub fn accepted(local: SocketAddr, peer: SocketAddr) -> ConnInfo {
        let unmapped = |addr: SocketAddr| match addr {
            SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
                Some(v4) => SocketAddr::new(v4.into(), v6.port()),
                None => addr,
            },
            v4 => v4,
        };
        ConnInfo {
            local: unmapped(local),
            peer: unmapped(peer),
            served_before: 0,
            tls: None,
            plain_on_tls: false,
            proxied: None,
        }
    }
}

/// A response body.
#[derive(Debug, Default)]
pub enum Body {
    #[default]
    Empty,
    Bytes(Vec<u8>),
    /// Bytes that a filter handed on in pieces (their sizes, in order): each piece is one
    /// chunk when the response is chunked, as Apache frames each pass down its chain.
    Pieces(Vec<u8>, Vec<usize>),
    /// A byte range of an open file, sent with sendfile(2) when `sendfile` (EnableSendfile).
    /// The descriptor may be one its thread keeps for later requests (`open_files`): it is
    /// read at offsets, never through its position.
    File {
        file: std::sync::Arc<fs::File>,
        offset: u64,
        len: u64,
        sendfile: bool,
    },
    /// A body the handler produces as it goes (a CGI script's output, a proxied response):
    /// pulled a piece at a time while the connection writes it, never held whole. Its length
    /// is not known up front: it goes out chunked (HTTP/1.1) or ended by closing (HTTP/1.0).
    Stream(BodyStream),
}

/// A connection taken over after a protocol switch.
pub trait Upgrade: Send {
    /// Runs on the client's connection until either side is done with it.
    fn run(self: Box<Self>, client: &mut dyn crate::server::transport::Transport);
}

/// An [`Upgrade`] in a response.
pub struct Upgraded(pub Box<dyn Upgrade>);

impl std::fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upgraded")
    }
}

/// What produces a streamed body.
pub trait BodySource {
    /// The next piece of the body; `Ok(None)` at its end. An error ends the response where
    /// it stands (the connection closes, as Apache aborts one whose backend failed).
    fn next_piece(&mut self) -> std::io::Result<Option<Vec<u8>>>;

    /// The length the body will have, when its producer knows it (a proxied answer's
    /// Content-Length): it goes out with that length instead of chunked.
    fn declared_length(&self) -> Option<u64> {
        None
    }

    /// Whether the piece just handed out was the last (the next call would give `None`): the
    /// end of a chunked body then goes out in the same write.
    fn finished(&self) -> bool {
        false
    }
}

/// A [`BodySource`] in a response.
pub struct BodyStream(pub Box<dyn BodySource>);

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyStream")
    }
}

impl Body {
    /// The body's length, where it is known before it is sent (0 for a stream).
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Stream(stream) => stream.0.declared_length().unwrap_or(0),
            Body::Bytes(b) | Body::Pieces(b, _) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    /// Whether there is no body at all (a stream may still turn out empty).
    pub fn is_empty(&self) -> bool {
        !matches!(self, Body::Stream(_)) && self.len() == 0
    }
}

/// What the pipeline produced; the connection turns it into bytes.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    /// Headers in the order Apache emits them (before Content-Length).
    pub headers: Headers,
    /// Headers Apache adds after Content-Length (Content-Range).
    pub after_length: Headers,
    /// Headers Apache adds after Content-Type (Content-Encoding, Content-Language).
    pub trailing: Headers,
    pub content_type: Option<String>,
    pub body: Body,
    /// Whether the body length is known (Content-Length is sent).
    pub length_known: bool,
    /// HEAD: headers only.
    pub header_only: bool,
    /// The server that answered (for keep-alive settings).
    pub server: usize,
    /// An error raised inside a filter (the byte-range filter's 416, a body over its limit):
    /// Apache sends its page with no length, chunked only on a connection it keeps, else
    /// ended by closing.
    pub close_delimited: bool,
    /// What the access log needs of the request that produced this response, for a server
    /// that writes one (boxed: a response moves through every hook and filter, and these
    /// facts would be most of its size).
    pub log: Option<Box<LogFacts>>,
    /// Headers every response carries (mod_headers' `always`), sent before all others.
    pub first_headers: Headers,
    /// Headers mod_headers adds to a successful response: after Content-Length, before the
    /// ones the byte-range filter adds later.
    pub late_headers: Headers,
    /// Headers Apache's header filter adds itself, after Connection (Expires for no-cache).
    pub after_connection: Headers,
    /// A filter dropped Content-Length (FilterProtocol change=yes): the length filter adds it
    /// back after every other header set so far, Content-Range included.
    pub length_last: bool,
    /// The environment variables Apache's HTTP protocol code acts on as it sends the head.
    pub protocol_env: ProtocolEnv,
    /// Apache's header filter gave up on the response (its EOC): it goes out with no
    /// Connection header, and the connection ends after it.
    pub ends_connection: bool,
    /// The body is the whole answer, status line and headers included, as an nph- script
    /// wrote it: sent as it is, with no head or framing of the server's, and the connection
    /// ends after it.
    pub raw: bool,
    /// The status line the handler gave (a CGI script's `Status: 418 Short and stout`).
    pub status_line: Option<String>,
    /// A proxied answer's own Date and Server, which go out in place of this server's.
    pub origin_date: Option<String>,
    pub origin_server: Option<String>,
    /// A proxied answer keeps Content-Type and Content-Length where the backend put them
    /// among its fields (Apache's table keeps their place), updated to what they are now.
    pub fields_in_place: bool,
    /// What takes the connection over once this answer is chosen (a proxied WebSocket after
    /// its 101): it writes the answer itself and relays both ways; the connection then ends.
    pub upgrade: Option<Upgraded>,
}

/// Apache's special-purpose environment variables of the HTTP protocol (set by BrowserMatch
/// and friends, as Debian's setenvif.conf does for old clients).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolEnv {
    /// `nokeepalive`: the connection closes after this response (unless it came via a proxy).
    pub no_keepalive: bool,
    /// `downgrade-1.0`: an HTTP/1.1 request is answered as HTTP/1.0.
    pub downgrade: bool,
    /// `force-response-1.0`: an HTTP/1.0 request gets an HTTP/1.0 status line, and a close.
    pub force_response_10: bool,
    /// `force-no-vary`: no Vary header, and the response goes out as HTTP/1.0.
    pub force_no_vary: bool,
}

impl ProtocolEnv {
    fn of(env: &[(String, String)]) -> ProtocolEnv {
        let set = |name: &str| crate::modules::env::get(env, name).is_some();
        ProtocolEnv {
            no_keepalive: set("nokeepalive"),
            downgrade: set("downgrade-1.0"),
            force_response_10: set("force-response-1.0"),
            force_no_vary: set("force-no-vary"),
        }
    }

    /// The protocol the response speaks for a request of `version`: 1.0 when downgraded.
    pub fn version(&self, version: Version) -> Version {
        match version {
            Version::Http11 if self.downgrade || self.force_no_vary => Version::Http10,
            other => other,
        }
    }

    /// Whether the status line says HTTP/1.0 (and the connection closes).
    pub fn forces_10(&self, version: Version) -> bool {
        self.version(version) == Version::Http10 && (self.force_response_10 || self.force_no_vary)
    }
}

/// The request's final state, as mod_log_config reads it once the pipeline is done.
#[derive(Debug, Default, Clone)]
pub struct LogFacts {
    /// The path before internal redirects (DirectoryIndex, ErrorDocument) and after them, in
    /// the bytes the request sent.
    pub original_uri: Vec<u8>,
    pub final_uri: Vec<u8>,
    /// The original request's query.
    pub args: Option<String>,
    pub filename: Option<String>,
    pub handler: Option<String>,
    /// The server name the request used (`%V`).
    pub request_host: String,
    /// The request's environment (mod_setenvif, then mod_env).
    pub env: Vec<(String, String)>,
    /// The request headers as RequestHeader left them, when it changed them.
    pub request_headers: Option<Headers>,
    /// The user named in the credentials (`%u`).
    pub user: Option<String>,
    pub notes: Vec<(String, String)>,
    /// The client's name when HostnameLookups asks for it and it resolves (`%h`).
    pub remote_host: Option<String>,
    /// The request's user agent (`%a`, `%h`), when the pipeline ran; else the connection's
    /// client is.
    pub useragent: Option<ClientAddr>,
    /// The connection's client's name (`%{c}h`) where it is not the user agent's and
    /// HostnameLookups asks for it.
    pub conn_remote_host: Option<String>,
    /// LogIOTrackTTFB: measure the time to the response's first byte (`%^FB`).
    pub track_ttfb: bool,
    /// mod_log_forensic's id for the request as it came (its `-` line is written once the
    /// request is logged, whatever internal redirects it took).
    pub forensic_id: Option<String>,
}

/// The state of one request as it moves through the hooks.
pub struct Request<'r> {
    pub rt: &'r Runtime,
    /// The request as received; owned once RequestHeader has changed its headers.
    pub head: std::borrow::Cow<'r, RequestHead>,
    pub conn: ConnInfo,
    /// The address the request is taken to come from (Apache's `r->useragent_addr` and
    /// `useragent_ip`): the connection's client, unless mod_remoteip found another (a
    /// proxy's header, a PROXY protocol header). Access control, `%a`, REMOTE_ADDR and the
    /// error log's client read it; `%{c}a` and CONN_REMOTE_ADDR read the connection's.
    pub useragent: ClientAddr,
    pub server: usize,
    pub method: String,
    /// The decoded, normalised path.
    pub uri: String,
    /// The decoded path's bytes when they are not UTF-8 (`uri` holds their text, U+FFFD for
    /// each bad sequence): the access log writes them as Apache does (`%U`).
    pub received_uri: Option<Vec<u8>>,
    pub args: Option<String>,
    pub filename: Option<PathBuf>,
    /// What is on disk at `filename` once it is mapped (Apache's `r->finfo`); `None` for
    /// nothing there.
    pub finfo: Option<fs::Metadata>,
    /// mod_mime's verdict on the resource (type, encoding, languages, handler), set by the
    /// type checker.
    pub file_info: Option<crate::modules::mime::FileInfo>,
    /// A sub-request (DirectoryIndex, FallbackResource, MultiViews lookups): hooks that only
    /// act on the request the client sent decline for it.
    pub subrequest: bool,
    /// For a sub-request, the URI of the request that made it (Apache's `r->main->uri`).
    pub parent_uri: Option<String>,
    pub path_info: String,
    /// The merged per-directory configuration (shared: most requests reuse a cached merge).
    pub dir: Arc<DirRuntime>,
    pub now: SystemTime,
    pub headers_out: Headers,
    pub error_notes: Option<String>,
    /// The status line a module gave its error (`r->status_line`: mod_proxy's `NNN Proxy
    /// Error`).
    pub status_line: Option<String>,
    /// The error notes go into any error page, even the 500 one (Apache's `verbose-error-to`
    /// note, which mod_proxy sets).
    pub verbose_error_notes: bool,
    /// Internal redirects taken (DirectoryIndex), to stop loops.
    pub redirects: u32,
    /// The error about to be sent was raised inside a filter (see `Response::close_delimited`).
    pub filter_error: bool,
    /// Bytes of request body received (Content-Length or the sum of the chunks).
    pub body_length: u64,
    /// The path and query as first parsed, before any internal redirect (for the access log).
    pub original_uri: Option<String>,
    pub original_args: Option<String>,
    /// Notes for the access log (`%{NAME}n`).
    pub notes: Vec<(String, String)>,
    /// The variant list validator of a negotiated response (whether weak, and its text),
    /// folded into the variant's ETag.
    pub vlist: Option<(bool, String)>,
    /// Request headers expressions read (`<If>`, SetEnvIfExpr, Require expr): named in Vary.
    pub expr_vary: std::cell::RefCell<Vec<String>>,
    /// ScriptAlias mapped the request: its handler is `cgi-script` (mod_cgi's, or without it
    /// the default handler, which serves the file as plain text, as Apache's does), and the
    /// script runs whatever the directory's Options say.
    pub script_alias: bool,
    /// The URL prefix and directory an Alias mapped the request by (Apache's
    /// `ap_set_context_info`), for CONTEXT_PREFIX and CONTEXT_DOCUMENT_ROOT; else the
    /// DocumentRoot's (an empty prefix).
    pub context_info: Option<(String, String)>,
    /// The document root this request has, when a module set its own (Apache's
    /// `ap_set_document_root`: mod_vhost_alias's interpolated one); else the server's.
    pub document_root: Option<String>,
    /// After an internal redirect (a local ErrorDocument, a script's local Location): the
    /// environment the request had, each name prefixed with `REDIRECT_`, and REDIRECT_STATUS
    /// (Apache's `rename_original_env`), where this request's own environment starts.
    pub redirect_env: Vec<(String, String)>,
    /// Variables modules set as the request is read (mod_unique_id's UNIQUE_ID): they stay
    /// across internal redirects and sub-requests inherit them.
    pub early_env: Vec<(String, String)>,
    /// After an internal redirect: the path and query the request had before it (Apache's
    /// `r->prev`), for REDIRECT_URL and REDIRECT_QUERY_STRING.
    pub redirected_from: Option<(String, Option<String>)>,
    /// Negotiated for an HTTP/1.0 client among several variants: sent already expired.
    pub no_cache: bool,
    /// For an internal redirect (a local ErrorDocument), the configuration the request had
    /// before it: when the redirect lands under the same one, access control is not run again,
    /// as Apache skips it for the same `per_dir_config`.
    pub prev_dir: Option<Arc<DirRuntime>>,
    /// The error response is a local ErrorDocument's answer (an internal redirect): the new
    /// request's filters, mod_headers' success rules among them, ran over it.
    pub error_document_served: bool,
    /// The output filters the response will pass through (set by the insert_filter hooks).
    pub output_chain: crate::filters::OutputChain,
    /// The input filters the body is read through (set by the insert_filter hooks).
    pub input_chain: crate::filters::InputChain,
    /// mod_filter took the Range header away from the byte-range filter (FilterProtocol).
    pub range_hidden: bool,
    /// The user the client named (set once Basic credentials are read, even if they fail).
    pub user: Option<String>,
    /// Headers sent with an error response too (the 401 challenge).
    pub err_headers: Headers,
    /// The body, when it is still to be read.
    pub unread_body: Option<BodyReader<'r>>,
    /// What modules keep about this request for themselves.
    pub state: state::ModuleState,
    /// The client's name by a confirmed double reverse lookup (`Require host`, `Allow from`
    /// a name), looked up at most once a request however many checks name a host.
    pub double_reverse: std::cell::OnceCell<Option<String>>,
    /// `MATCH_<NAME>` variables from the named groups of the regex sections that matched.
    pub section_variables: Vec<(String, String)>,
    /// What this request found of the `.htaccess` files (see `merged::Seen`): its internal
    /// redirects do not look at them again.
    pub htaccess_seen: merged::Seen,
    /// Whether the handler may give the request back to the event MPM while a backend works
    /// on it, and what it waits for once it has (see [`BackendWait`]).
    pub suspend: Suspend,
}

/// Ends the request early with a status (Apache's `ap_die`).
pub type Step<T> = Result<T, u16>;

/// The status a handler ends its part with when it has handed its wait to the MPM: never
/// seen outside the pipeline (`pipeline::begin` takes the request back in its place).
pub(crate) const WAITING: u16 = 0;

/// Whether a request may wait for a backend off its thread.
#[derive(Default)]
pub enum Suspend {
    /// It may not: a sub-request, an internal redirect, a request whose body is still on
    /// the connection, or an MPM whose threads own their connections.
    #[default]
    Never,
    /// The main request of a connection the event MPM parks: a handler may wait off-thread.
    Allowed,
    /// The handler did: what it waits on, and how it goes on.
    Waiting(Box<dyn BackendWait>),
}

/// A handler's wait for its backend's answer, held by the event MPM instead of a thread
/// (a proxied request's backend is busy for most of the request's time: a thread that
/// slept in recv(2) for it cost two context switches a request). The backend's socket is
/// watched in the MPM's epoll set; `resume` runs the rest of the handler on whichever thread
/// its readiness wakes.
pub trait BackendWait: Send {
    /// The backend socket whose readability ends the wait.
    fn fd(&self) -> std::os::fd::RawFd;
    /// The token the MPM watches the socket under already: a kept connection that waited
    /// before keeps its registration (edge-triggered), so waiting again costs no system call.
    fn watch(&self) -> Option<u64>;
    /// Records the token the MPM now watches the socket under, for the connection to keep.
    fn watched(&mut self, token: u64);
    /// How long the answer may take (the read timeout the thread would have waited with;
    /// `None`, no limit).
    fn timeout(&self) -> Option<std::time::Duration>;
    /// The handler's rest, once the backend has answered (or, `timed_out`, it has not in
    /// time: the handler fails as its read would have).
    fn resume(self: Box<Self>, req: &mut Request, timed_out: bool) -> Step<Response>;
}

/// Apache's `r->no_local_copy`, in the request's module state: the response may change
/// between requests (a filter rewrites it), so the handler answers no condition with a 304.
#[derive(Debug, Default)]
pub struct NoLocalCopy(pub bool);

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Answered with this status: 408 for a client too slow, 400 for one that went away or a
    /// bad length, or the status a reader of the body refused it with.
    Status(u16),
    /// Broken chunked framing: 400, sent as Apache sends an error its input filters raise
    /// (without a length, then the connection closes).
    Framing,
}

impl BodyError {
    pub fn status(self) -> u16 {
        match self {
            BodyError::Status(status) => status,
            BodyError::Framing => 400,
        }
    }
}

impl From<u16> for BodyError {
    fn from(status: u16) -> BodyError {
        BodyError::Status(status)
    }
}

/// Reads the rest of a request body off the connection, handing each piece to a sink: its
/// length, or why not (a sink's refusal included).
/// (Boxed, not borrowed: a `Request` must stay covariant in its lifetime.)
/// A body still on the connection, read on demand: the size of the input filters' first
/// read (see [`next_read_size`]), then where each piece goes.
pub type BodyReader<'a> = Box<
    dyn FnMut(usize, &mut dyn FnMut(&[u8]) -> Result<(), u16>) -> Result<ReadBody, BodyError>
        + Send
        + 'a,
>;

/// A request body read to its end: how long it was, and the trailer fields of a chunked one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadBody {
    pub length: u64,
    pub trailers: Vec<(String, String)>,
}

/// How much of a body the input filters take in their next read, `received` bytes in: a
/// filter may ask for an exact `first` read (DEFLATE asks for the 10 bytes of the gzip header;
/// 0 when none does), then the core hands over at most 8 KiB at a time. Nothing else splits
/// what arrived together: a CGI script reads it as one write, as under Apache.
pub fn next_read_size(received: u64, first: usize) -> usize {
    if received < first as u64 {
        first - received as usize
    } else {
        8192
    }
}

/// A request body as the pipeline starts.
pub enum RequestBody<'a> {
    /// Read off the connection and discarded already: its length.
    Read(u64),
    /// Still on the connection (a gzip body an input filter may inflate): read where Apache's
    /// default handler reads it, or by the connection once the response is ready.
    Unread(BodyReader<'a>),
}

impl<'r> Request<'r> {
    /// A request as it arrives: the server chosen for it, nothing mapped yet.
    fn new(
        rt: &'r Runtime,
        conn: ConnInfo,
        head: std::borrow::Cow<'r, RequestHead>,
        server: usize,
    ) -> Self {
        let method = head.method.clone();
        Request {
            rt,
            head,
            useragent: ClientAddr::new(conn.peer),
            conn,
            server,
            method,
            uri: String::new(),
            args: None,
            filename: None,
            finfo: None,
            file_info: None,
            subrequest: false,
            path_info: String::new(),
            dir: Arc::clone(&rt.servers[server].dir),
            now: SystemTime::now(),
            headers_out: Headers::default(),
            error_notes: None,
            status_line: None,
            verbose_error_notes: false,
            redirects: 0,
            filter_error: false,
            body_length: 0,
            original_uri: None,
            received_uri: None,
            original_args: None,
            user: None,
            err_headers: Headers::default(),
            unread_body: None,
            state: Default::default(),
            double_reverse: Default::default(),
            section_variables: Vec::new(),
            htaccess_seen: merged::Seen::default(),
            notes: Vec::new(),
            parent_uri: None,
            error_document_served: false,
            prev_dir: None,
            output_chain: Default::default(),
            input_chain: Default::default(),
            range_hidden: false,
            no_cache: false,
            vlist: None,
            script_alias: false,
            context_info: None,
            document_root: None,
            redirect_env: Vec::new(),
            early_env: Vec::new(),
            redirected_from: None,
            expr_vary: Default::default(),
            suspend: Suspend::Never,
        }
    }

    /// Whether the handler may hand its backend wait to the MPM (see [`Suspend`]).
    pub(crate) fn may_wait(&self) -> bool {
        matches!(self.suspend, Suspend::Allowed)
    }

    /// The request, held past its connection's borrow: its head copied (unless an edit made
    /// it its own already). Only a request whose body was read (none is left to borrow the
    /// connection) is detached.
    fn detach(self: Box<Self>, rt: &'static Runtime) -> Request<'static> {
        let this = *self;
        debug_assert!(std::ptr::eq(this.rt, rt) && this.unread_body.is_none());
        Request {
            rt,
            head: std::borrow::Cow::Owned(this.head.into_owned()),
            unread_body: None,
            conn: this.conn,
            useragent: this.useragent,
            server: this.server,
            method: this.method,
            uri: this.uri,
            received_uri: this.received_uri,
            args: this.args,
            filename: this.filename,
            finfo: this.finfo,
            file_info: this.file_info,
            subrequest: this.subrequest,
            parent_uri: this.parent_uri,
            path_info: this.path_info,
            dir: this.dir,
            now: this.now,
            headers_out: this.headers_out,
            error_notes: this.error_notes,
            status_line: this.status_line,
            verbose_error_notes: this.verbose_error_notes,
            redirects: this.redirects,
            filter_error: this.filter_error,
            body_length: this.body_length,
            original_uri: this.original_uri,
            original_args: this.original_args,
            notes: this.notes,
            vlist: this.vlist,
            expr_vary: this.expr_vary,
            script_alias: this.script_alias,
            context_info: this.context_info,
            document_root: this.document_root,
            redirect_env: this.redirect_env,
            early_env: this.early_env,
            redirected_from: this.redirected_from,
            no_cache: this.no_cache,
            prev_dir: this.prev_dir,
            error_document_served: this.error_document_served,
            output_chain: this.output_chain,
            input_chain: this.input_chain,
            range_hidden: this.range_hidden,
            user: this.user,
            err_headers: this.err_headers,
            state: this.state,
            double_reverse: this.double_reverse,
            section_variables: this.section_variables,
            htaccess_seen: this.htaccess_seen,
            suspend: this.suspend,
        }
    }

    /// Whether a message of `module` at `level` would reach the error log for this request:
    /// a message that costs something to build (a 404's, on every miss) is built only then.
    pub(crate) fn logs(&self, module: &str, level: &str) -> bool {
        crate::log::enabled_with(&self.dir.core.log_level, module, level)
    }

    /// A message about this request in the error log: the client first, the Referer last,
    /// as Apache writes request errors.
    pub(crate) fn log_error(&self, module: &str, level: &str, message: &str) {
        self.log_os_error(module, level, None, message);
    }

    /// The same for a message that quotes the request's bytes as they arrived.
    pub(crate) fn log_error_bytes(&self, module: &str, level: &str, message: &[u8]) {
        self.log_entry(module, level, None, None, message);
    }

    /// The same with the system error that caused it (`(13)Permission denied: ` first).
    pub(crate) fn log_os_error(
        &self,
        module: &str,
        level: &str,
        cause: Option<&std::io::Error>,
        message: &str,
    ) {
        self.log_entry(module, level, cause, None, message.as_bytes());
    }

    /// A message of the answering server's that is not about the request (no client in it),
    /// in that server's error log.
    pub(crate) fn log_server_error(&self, module: &str, level: &str, message: &str) {
        if !self.logs(module, level) {
            return;
        }
        let entry = crate::log::Entry {
            module,
            level,
            message: message.as_bytes(),
            cause: None,
            source: None,
            request: None,
        };
        self.write_log_entry(&entry);
    }

    /// The same with the system error that caused it.
    pub(crate) fn log_server_error_cause(
        &self,
        module: &str,
        level: &str,
        cause: &std::io::Error,
        message: &str,
    ) {
        if !self.logs(module, level) {
            return;
        }
        let entry = crate::log::Entry {
            module,
            level,
            message: message.as_bytes(),
            cause: Some(cause),
            source: None,
            request: None,
        };
        self.write_log_entry(&entry);
    }

    /// A message at `level` with the place in Apache it stands for (shown at debug and
    /// above, `mod_remoteip.c(770)`) and the status that caused it, if any.
    pub(crate) fn log_traced(
        &self,
        module: &str,
        level: &str,
        cause: Option<&std::io::Error>,
        source: &str,
        message: &str,
    ) {
        self.log_entry(module, level, cause, Some(source), message.as_bytes());
    }

    /// A debug message with the place in Apache it stands for (`mod_filter.c(86)`).
    pub(crate) fn log_debug_from(&self, module: &str, source: &str, message: &str) {
        self.log_entry(module, "debug", None, Some(source), message.as_bytes());
    }

    fn log_entry(
        &self,
        module: &str,
        level: &str,
        cause: Option<&std::io::Error>,
        source: Option<&str>,
        message: &[u8],
    ) {
        if !self.logs(module, level) {
            return;
        }
        let entry = crate::log::Entry {
            module,
            level,
            message,
            cause,
            source,
            request: Some(crate::log::RequestContext {
                peer: self.conn.peer,
                useragent: Some(&self.useragent),
                local: self.conn.local,
                head: Some(&self.head),
                server_name: &self.ctx().server_name,
                host: self.host_name(),
            }),
        };
        self.write_log_entry(&entry);
    }

    /// Writes an entry to the answering server's error log (its own, or the main one).
    fn write_log_entry(&self, entry: &crate::log::Entry) {
        match &self.ctx().error_log {
            Some(own) => {
                if let Some(line) = crate::log::render(entry, true) {
                    own.write_line(&line);
                }
            }
            None => crate::log::write_entry(entry),
        }
    }

    /// The server name as this request sees it (Apache's `ap_get_server_name`): under
    /// UseCanonicalName Off the host the request named (lowercased, without its port or a
    /// trailing dot), On ServerName, DNS the name the connection's local address resolves to.
    /// The request's document root (Apache's `ap_document_root`): a module's own for this
    /// request, else the server's DocumentRoot.
    pub(crate) fn document_root(&self) -> String {
        match &self.document_root {
            Some(root) => root.clone(),
            None => self.ctx().document_root.to_string_lossy().into_owned(),
        }
    }

    pub(crate) fn host_name(&self) -> String {
        self.host_name_from(|| self.named_host_as_sent())
    }

    /// [`Request::host_name`] and [`Request::server_port`] together, the request's host
    /// parsed once for both (the CGI environment and mod_proxy_fcgi's log want the pair).
    pub(crate) fn host_name_and_port(&self) -> (String, u16) {
        let sent = self.named_host_unless_canonical();
        (
            self.host_name_from(|| sent),
            self.server_port_from(sent.and_then(|(_, port, _)| port)),
        )
    }

    /// `host_name` with the host the request named as `sent` gives it (asked only when the
    /// name depends on it).
    fn host_name_from<'a>(
        &self,
        sent: impl FnOnce() -> Option<(&'a str, Option<u16>, bool)>,
    ) -> String {
        let ctx = self.ctx();
        match self.dir.core.use_canonical_name.as_deref() {
            Some("on") => ctx.server_name.clone(),
            Some("dns") => {
                let local = self.conn.local.ip();
                crate::sys::reverse_lookup(local)
                    .map(|name| name.to_ascii_lowercase())
                    .unwrap_or_else(|| local.to_string())
            }
            _ => match sent().map(fixed_host) {
                Some(name) => name,
                None => ctx.server_name.clone(),
            },
        }
    }

    /// The host the request names (an absolute target's, else the Host header's) as it was
    /// sent, with the port given beside it, if any; [`fixed_host`] makes the name Apache's.
    /// The flag says it is a name (not an IPv6 literal or a bare number).
    fn named_host_as_sent(&self) -> Option<(&str, Option<u16>, bool)> {
        let raw = named_host(&self.head)?.trim();
        if raw.is_empty() {
            return None;
        }
        let port_of = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0);
        if let Some(rest) = raw.strip_prefix('[') {
            let end = rest.find(']')?;
            let port = rest[end + 1..].strip_prefix(':').and_then(port_of);
            return Some((&rest[..end], port, false));
        }
        // A bare number is a host name here, not a port.
        if raw.bytes().all(|b| b.is_ascii_digit()) {
            return Some((raw, None, false));
        }
        Some(match raw.rsplit_once(':') {
            Some((name, port)) => (name, port_of(port), true),
            None => (raw, None, true),
        })
    }

    pub(crate) fn ctx(&self) -> &'r ServerContext {
        &self.rt.servers[self.server]
    }

    /// A GET sub-request for `uri` on the same connection (Apache's `ap_sub_req_*`).
    pub(crate) fn sub_request(&self, uri: String) -> Request<'r> {
        Request {
            method: "GET".to_string(),
            uri,
            now: self.now,
            subrequest: true,
            parent_uri: Some(self.uri.clone()),
            useragent: self.useragent.clone(),
            early_env: self.early_env.clone(),
            ..Request::new(self.rt, self.conn.clone(), self.head.clone(), self.server)
        }
    }

    /// The bytes a path of this request was sent as: its own, unless it is still the text
    /// of a decoded path that was not UTF-8.
    pub(crate) fn received_uri<'a>(&'a self, uri: &'a str) -> &'a [u8] {
        match &self.received_uri {
            Some(bytes) if String::from_utf8_lossy(bytes) == uri => bytes,
            _ => uri.as_bytes(),
        }
    }

    /// The server's port as this request sees it (Apache's `ap_get_server_port`): under
    /// UseCanonicalName Off or DNS the port the request named, then (UseCanonicalPhysicalPort
    /// On) the connection's, then the server's; under On the server's first. 80 when none.
    pub(crate) fn server_port(&self) -> u16 {
        let named = self.named_host_unless_canonical();
        self.server_port_from(named.and_then(|(_, port, _)| port))
    }

    /// The host the request named, where the server's name and port may come from it (not
    /// under UseCanonicalName On).
    fn named_host_unless_canonical(&self) -> Option<(&str, Option<u16>, bool)> {
        match self.dir.core.use_canonical_name.as_deref() {
            Some("on") => None,
            _ => self.named_host_as_sent(),
        }
    }

    /// `server_port` with the port the request named (`None` under UseCanonicalName On).
    fn server_port_from(&self, named: Option<u16>) -> u16 {
        let physical = (self.dir.core.physical_port == Some(true)).then(|| self.conn.local.port());
        let own = self.ctx().runtime.core.server_port;
        match self.dir.core.use_canonical_name.as_deref() {
            Some("on") => own.or(physical),
            _ => named.or(physical).or(own),
        }
        .unwrap_or_else(|| self.default_port())
    }

    /// The request's scheme (Apache's `ap_http_scheme`): https over TLS.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.conn.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The port a URL of this scheme implies (`ap_default_port`).
    pub(crate) fn default_port(&self) -> u16 {
        if self.conn.tls.is_some() {
            443
        } else {
            80
        }
    }

    /// `scheme://host[:port]` for self-referential URLs (Apache's `ap_construct_url`).
    pub(crate) fn self_url_base(&self) -> String {
        let name = self.host_name();
        let name = if name.contains(':') {
            format!("[{name}]")
        } else {
            name
        };
        let scheme = self.scheme();
        match self.server_port() {
            port if port == self.default_port() => format!("{scheme}://{name}"),
            port => format!("{scheme}://{name}:{port}"),
        }
    }
}

/// Apache's internal redirect, as far as the environment goes: what the request had
/// (`previous`) is kept under `REDIRECT_` names with REDIRECT_STATUS, and its path and query
/// are remembered. The caller then sets the new URI and serves it.
pub(crate) fn note_internal_redirect(
    req: &mut Request,
    previous: &[(String, String)],
    status: u16,
) {
    let mut renamed: Vec<(String, String)> = previous
        .iter()
        .map(|(name, value)| (format!("REDIRECT_{name}"), value.clone()))
        .collect();
    renamed.retain(|(name, _)| name != "REDIRECT_STATUS");
    renamed.push(("REDIRECT_STATUS".to_string(), status.to_string()));
    req.redirect_env = renamed;
    req.redirected_from = Some((req.uri.clone(), req.args.clone()));
    // The new request starts with notes of its own (the access log's `%{NAME}n` reads the
    // final request's).
    req.notes.clear();
}

/// A host name the request sent as Apache's `fix_hostname` leaves it: lower-cased, a name's
/// trailing dot dropped (an IPv6 literal and a bare number are kept whole).
fn fixed_host((name, _, plain): (&str, Option<u16>, bool)) -> String {
    let mut name = name.to_ascii_lowercase();
    if plain && name.ends_with('.') {
        name.pop();
    }
    name
}

/// The request's environment: mod_setenvif's conditions, then mod_env's changes at fixups.
pub(crate) fn environment(req: &Request) -> Vec<(String, String)> {
    // The named groups of the regex sections the walk matched come first (Apache sets them
    // as it walks); mod_setenvif and mod_env act after.
    let mut env = req.redirect_env.clone();
    env.extend(req.early_env.iter().cloned());
    env.extend(req.section_variables.iter().cloned());
    let mod_env = req.dir.typed.get::<crate::modules::env::Dir>();
    let setenvif = req.dir.typed.get::<crate::modules::setenvif::Dir>();
    if setenvif.is_none() && mod_env.is_none() {
        crate::modules::rewrite::environment(req, &mut env);
        crate::modules::proxy::environment(req, &mut env);
        crate::modules::ssl::environment(req, &mut env);
        crate::modules::proxy_balancer::environment(req, &mut env);
        crate::modules::speling::environment(req, &mut env);
        return env;
    }
    let protocol = match req.head.version {
        Version::Http09 => "HTTP/0.9",
        Version::Http10 => "HTTP/1.0",
        Version::Http11 => "HTTP/1.1",
    };
    let eval = |condition: &rhttpd_directives::expr::Expr, env: &[(String, String)]| {
        let context = expr::RequestContext::new(req, env);
        // An expression that fails to evaluate does not match (Apache logs nothing).
        match condition.eval_with_captures(&context) {
            Ok((true, captures)) => Some(captures),
            _ => None,
        }
    };
    let facts = crate::modules::setenvif::Facts {
        eval: &eval,
        headers: &req.head.headers,
        peer_ip: &|| req.useragent.ip_text().into_owned(),
        local_ip: &|| req.conn.local.ip().to_string(),
        method: &req.head.method,
        protocol,
        uri: req.original_uri.as_deref().unwrap_or(&req.uri),
        raw_uri: host::raw_path(&req.head.target),
    };
    if let Some(setenvif) = setenvif {
        setenvif.evaluate(&facts, &mut env);
    }
    crate::modules::rewrite::environment(req, &mut env);
    // mod_env's changes join at fixups, after access control has read the environment.
    if let Some(mod_env) = mod_env.filter(|_| crate::modules::env::fixed_up(req)) {
        mod_env.fixup(&mut env);
    }
    crate::modules::proxy::environment(req, &mut env);
    crate::modules::ssl::environment(req, &mut env);
    crate::modules::proxy_balancer::environment(req, &mut env);
    crate::modules::speling::environment(req, &mut env);
    env
}

fn log_facts(req: &Request, env: Vec<(String, String)>) -> LogFacts {
    LogFacts {
        env,
        request_headers: match &req.head {
            std::borrow::Cow::Owned(head) => Some(head.headers.clone()),
            std::borrow::Cow::Borrowed(_) => None,
        },
        original_uri: req
            .received_uri(req.original_uri.as_deref().unwrap_or(&req.uri))
            .to_vec(),
        final_uri: req.received_uri(&req.uri).to_vec(),
        args: req.original_args.clone(),
        filename: req
            .filename
            .as_ref()
            .map(|f| f.to_string_lossy().into_owned()),
        handler: crate::modules::dav::handler_name(req)
            .or_else(|| set_handler(req))
            .map(str::to_string),
        request_host: req.host_name(),
        user: req.user.clone(),
        notes: req.notes.clone(),
        remote_host: remote_host(req, req.useragent.ip()),
        useragent: Some(req.useragent.clone()),
        conn_remote_host: (req.useragent.addr != req.conn.peer)
            .then(|| remote_host(req, req.conn.peer.ip()))
            .flatten(),
        track_ttfb: req.dir.module::<crate::modules::logio::Dir>().track_ttfb == Some(true),
        forensic_id: crate::modules::log_forensic::id(req),
    }
}

/// HostnameLookups On (a reverse lookup) or Double (confirmed forward): the name of `ip`
/// (the request's user agent, or the connection's client).
fn remote_host(req: &Request, ip: std::net::IpAddr) -> Option<String> {
    match req.dir.core.hostname_lookups.as_deref() {
        Some("on") => crate::sys::reverse_lookup(ip),
        Some("double") => crate::modules::authz_host::double_reverse(ip),
        _ => None,
    }
}

pub(crate) fn simple(req: &Request, status: u16, content_type: Option<String>) -> Response {
    Response {
        status,
        headers: req.headers_out.clone(),
        content_type,
        body: Body::Empty,
        length_known: true,
        header_only: req.method == "HEAD",
        server: req.server,
        ..Default::default()
    }
}

/// Makes a redirect target absolute, as Apache does for Location.
pub(crate) fn absolute_url(req: &Request, location: &str) -> String {
    if location.contains("://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("{}{location}", req.self_url_base())
    } else {
        location.to_string()
    }
}

/// Apache's `ap_make_content_type`: under AddDefaultCharset, a type naming text/plain or
/// text/html (anywhere, any case) and no `charset=` gets the default charset.
pub(crate) fn make_content_type(req: &Request, content_type: String) -> String {
    let charset = match req.dir.core.add_default_charset.as_deref() {
        None => return content_type,
        Some(c) if c.eq_ignore_ascii_case("off") => return content_type,
        Some(c) if c.eq_ignore_ascii_case("on") => "iso-8859-1",
        Some(c) => c,
    };
    let lower = content_type.to_ascii_lowercase();
    if lower.contains("charset=") || !(lower.contains("text/plain") || lower.contains("text/html"))
    {
        return content_type;
    }
    format!("{content_type}; charset={charset}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_apr_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "192.168.1.100",
        ] {
            let v4: std::net::Ipv4Addr = ip.parse().unwrap();
            assert_eq!(apr_ip_text(v4.into()), ip);
            assert_eq!(apr_ip_text(v4.to_ipv6_mapped().into()), ip);
        }
        let v6: std::net::IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(apr_ip_text(v6), "2001:db8::1");
    }
}
