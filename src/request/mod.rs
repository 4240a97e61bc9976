//! The request pipeline, top to bottom in Apache's hook order: read checks, virtual host,
//! URI normalisation, translate (mod_alias, DocumentRoot), map to storage (directory walk and
//! section merge), access (Require), type (mod_mime), fixups (mod_dir), handler (static files),
//! and the error document when any step ends the request.

mod auth;
mod deflate;
pub(crate) mod expr;
pub mod htaccess;
mod input;
pub mod merged;
mod negotiation;
pub mod static_file;
pub mod uri;

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::http1::body::{request_framing, Framing};
use crate::http1::fields::{check_fields, BadField};
use crate::http1::status::{error_page, ErrorContext};
use crate::http1::{Headers, RequestHead, Version};
use crate::modules::alias::{self, Mapped};
use crate::modules::DirRuntime;
use crate::modules::{autoindex, mime};
use crate::runtime::{CompiledSection, Runtime, ServerContext};
use rhttpd_directives::model::{opt, SectionKind};
use rhttpd_directives::util::escape::{escape_html_str as escape_html, escape_uri};

/// The methods the default handler knows (Apache's registered methods).
pub use rhttpd_directives::modules::core::KNOWN_METHODS;

/// Where a request arrived.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// Requests the connection carried before this one.
    pub served_before: u64,
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
    File {
        file: fs::File,
        offset: u64,
        len: u64,
        sendfile: bool,
    },
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) | Body::Pieces(b, _) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    /// Apache sends some error bodies with neither length nor chunking (the byte-range and
    /// body-limit errors raised inside filters) and ends them by closing.
    pub close_delimited: bool,
    /// What the access log needs of the request that produced this response.
    pub log: LogFacts,
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
    /// LogIOTrackTTFB: measure the time to the response's first byte (`%^FB`).
    pub track_ttfb: bool,
}

/// The state of one request as it moves through the hooks.
pub struct Request<'r> {
    pub rt: &'r Runtime,
    /// The request as received; owned once RequestHeader has changed its headers.
    pub head: std::borrow::Cow<'r, RequestHead>,
    pub conn: ConnInfo,
    pub server: usize,
    pub method: String,
    /// The decoded, normalised path.
    pub uri: String,
    /// The decoded path's bytes when they are not UTF-8 (`uri` holds their text, U+FFFD for
    /// each bad sequence): the access log writes them as Apache does (`%U`).
    pub received_uri: Option<Vec<u8>>,
    pub args: Option<String>,
    pub filename: Option<PathBuf>,
    pub path_info: String,
    /// The merged per-directory configuration (shared: most requests reuse a cached merge).
    pub dir: Arc<DirRuntime>,
    pub now: SystemTime,
    pub headers_out: Headers,
    pub error_notes: Option<String>,
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
    /// ScriptAlias mapped the request: its handler is `cgi-script` (which, with no CGI module
    /// in the set, the default handler serves as a plain file, as Apache's does).
    pub script_alias: bool,
    /// Negotiated for an HTTP/1.0 client among several variants: sent already expired.
    pub no_cache: bool,
    /// An output filter already ran inside the handler (static files compress before
    /// byte ranges are cut, as Apache's filter order has it).
    pub output_filtered: bool,
    /// mod_filter took the Range header away from the byte-range filter (FilterProtocol).
    pub range_hidden: bool,
    /// The user the client named (set once Basic credentials are read, even if they fail).
    pub user: Option<String>,
    /// Headers sent with an error response too (the 401 challenge).
    pub err_headers: Headers,
    /// The body, when it is still to be read.
    pub unread_body: Option<BodyReader<'r>>,
}

/// Ends the request early with a status (Apache's `ap_die`).
pub type Step<T> = Result<T, u16>;

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
pub type BodyReader<'a> =
    Box<dyn FnMut(&mut dyn FnMut(&[u8]) -> Result<(), u16>) -> Result<u64, BodyError> + 'a>;

/// Whether a request's body may meet the DEFLATE input filter: it is there, says it is gzip,
/// and mod_deflate is loaded (whether a directory's input filters include DEFLATE is known
/// only once the request is mapped).
pub fn may_inflate(rt: &Runtime, head: &RequestHead) -> bool {
    let headers = &head.headers;
    request_framing(headers).is_ok_and(|framing| framing.has_body())
        && crate::modules::deflate::gzip_request(headers.get("Content-Encoding")).is_some()
        && rt.module_loaded("deflate_module")
}

/// How much of a body the input filters take in their next read, `received` bytes in: the
/// DEFLATE filter first asks for exactly the 10 bytes of the gzip header, then the core hands
/// over at most 8 KiB at a time.
pub fn next_read_size(received: u64) -> usize {
    if received < 10 {
        10 - received as usize
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
            conn,
            server,
            method,
            uri: String::new(),
            args: None,
            filename: None,
            path_info: String::new(),
            dir: Arc::clone(&rt.servers[server].dir),
            now: SystemTime::now(),
            headers_out: Headers::default(),
            error_notes: None,
            redirects: 0,
            filter_error: false,
            body_length: 0,
            original_uri: None,
            received_uri: None,
            original_args: None,
            user: None,
            err_headers: Headers::default(),
            unread_body: None,
            notes: Vec::new(),
            output_filtered: false,
            range_hidden: false,
            no_cache: false,
            vlist: None,
            script_alias: false,
            expr_vary: Default::default(),
        }
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
        if !crate::log::enabled_with(&self.dir.core.log_level, module, level) {
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
                local: self.conn.local,
                head: Some(&self.head),
                server_name: &self.ctx().server_name,
                host: self.host_name(),
            }),
        };
        match &self.ctx().error_log {
            Some(own) => {
                if let Some(line) = crate::log::render(&entry, true) {
                    own.write_line(&line);
                }
            }
            None => crate::log::write_entry(&entry),
        }
    }

    /// The server name as this request sees it (Apache's `ap_get_server_name`): under
    /// UseCanonicalName Off the host the request named (lowercased, without its port or a
    /// trailing dot), On ServerName, DNS the name the connection's local address resolves to.
    pub(crate) fn host_name(&self) -> String {
        let ctx = self.ctx();
        match self.dir.core.use_canonical_name.as_deref() {
            Some("on") => ctx.server_name.clone(),
            Some("dns") => {
                let local = self.conn.local.ip();
                crate::sys::reverse_lookup(local)
                    .map(|name| name.to_ascii_lowercase())
                    .unwrap_or_else(|| local.to_string())
            }
            _ => match self.named_host() {
                Some((name, _)) => name,
                None => ctx.server_name.clone(),
            },
        }
    }

    /// The host the request names (an absolute target's, else the Host header's) as Apache's
    /// `fix_hostname` leaves it, with the port given beside it, if any.
    fn named_host(&self) -> Option<(String, Option<u16>)> {
        let raw = named_host(&self.head)?.trim();
        if raw.is_empty() {
            return None;
        }
        let port_of = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0);
        if let Some(rest) = raw.strip_prefix('[') {
            let end = rest.find(']')?;
            let port = rest[end + 1..].strip_prefix(':').and_then(port_of);
            return Some((rest[..end].to_ascii_lowercase(), port));
        }
        // A bare number is a host name here, not a port.
        if raw.bytes().all(|b| b.is_ascii_digit()) {
            return Some((raw.to_string(), None));
        }
        let (name, port) = match raw.rsplit_once(':') {
            Some((name, port)) => (name, port_of(port)),
            None => (raw, None),
        };
        let mut name = name.to_ascii_lowercase();
        if name.ends_with('.') {
            name.pop();
        }
        Some((name, port))
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
            ..Request::new(self.rt, self.conn, self.head.clone(), self.server)
        }
    }

    /// The bytes a path of this request was sent as: its own, unless it is still the text
    /// of a decoded path that was not UTF-8.
    fn received_uri<'a>(&'a self, uri: &'a str) -> &'a [u8] {
        match &self.received_uri {
            Some(bytes) if String::from_utf8_lossy(bytes) == uri => bytes,
            _ => uri.as_bytes(),
        }
    }

    /// The server's port as this request sees it (Apache's `ap_get_server_port`): under
    /// UseCanonicalName Off or DNS the port the request named, then (UseCanonicalPhysicalPort
    /// On) the connection's, then the server's; under On the server's first. 80 when none.
    pub(crate) fn server_port(&self) -> u16 {
        let physical = (self.dir.core.physical_port == Some(true)).then(|| self.conn.local.port());
        let own = self.ctx().runtime.core.server_port;
        let named = match self.dir.core.use_canonical_name.as_deref() {
            Some("on") => None,
            _ => self.named_host().and_then(|(_, port)| port),
        };
        match self.dir.core.use_canonical_name.as_deref() {
            Some("on") => own.or(physical),
            _ => named.or(physical).or(own),
        }
        .unwrap_or(80)
    }

    /// `scheme://host[:port]` for self-referential URLs (Apache's `ap_construct_url`).
    fn self_url_base(&self) -> String {
        let name = self.host_name();
        let name = if name.contains(':') {
            format!("[{name}]")
        } else {
            name
        };
        match self.server_port() {
            80 => format!("http://{name}"),
            port => format!("http://{name}:{port}"),
        }
    }
}

/// Runs the whole pipeline for one parsed head.
/// The body is either read already or read where the default handler discards it.
pub fn process<'r>(
    rt: &'r Runtime,
    conn: ConnInfo,
    head: &'r RequestHead,
    body: RequestBody<'r>,
) -> Response {
    let host = request_host(head);
    let path = head.target.split('?').next().unwrap_or("");
    let (server, named) = rt.select_server_checked(conn.local, host.as_deref(), path);
    let mut req = Request::new(rt, conn, std::borrow::Cow::Borrowed(head), server);
    match body {
        RequestBody::Read(length) => req.body_length = length,
        RequestBody::Unread(reader) => {
            req.body_length = match request_framing(&head.headers) {
                Ok(Framing::Length(length)) => length,
                _ => 0,
            };
            req.unread_body = Some(reader);
        }
    }
    edit_request_headers(&mut req, true);
    // StrictHostCheck On: a name-based address answers only the names it serves.
    if !named && rt.servers[server].runtime.core.strict_host_check == Some(true) {
        return error_response(&req, 400);
    }
    let outcome = run(&mut req).and_then(|mut response| {
        if req.output_filtered {
            return Ok(response);
        }
        deflate::filter_response(&mut req, &mut response);
        static_file::generated_ranges(&mut req, response)
    });
    // The header filter's AddDefaultCharset, for whatever type the handler left.
    let outcome = outcome.map(|mut response| {
        if let Some(content_type) = response.content_type.take() {
            response.content_type = Some(make_content_type(&req, content_type));
        }
        response
    });
    let (mut response, success) = match outcome {
        Ok(mut response) => {
            if req.no_cache && response.headers.get("Expires").is_none() {
                let expires = crate::http1::date::format(req.now);
                response.after_connection.set("Expires", expires);
            }
            if !req.err_headers.0.is_empty() {
                let mut headers = req.err_headers.clone();
                headers.0.append(&mut response.headers.0);
                response.headers = headers;
            }
            (response, true)
        }
        Err(status) => {
            let mut response = handle_error(&mut req, status);
            // err_headers_out: sent with the error, ahead of the ones it made itself.
            if !req.err_headers.0.is_empty() {
                let mut headers = req.err_headers.clone();
                headers.0.append(&mut response.headers.0);
                response.headers = headers;
            }
            (response, false)
        }
    };
    finish(&req, &mut response, success);
    refuse_bad_header_fields(&mut req, response)
}

/// Apache's header filter: a response whose header fields could split its head (a control
/// character in a value, a name that is not a token) is not sent. The first time, a 500 goes
/// out in its place (its ErrorDocument and `always` headers applied, closed after); when that
/// one fails the check too, a bare 500 with an empty body, and the connection ends.
fn refuse_bad_header_fields(req: &mut Request, mut response: Response) -> Response {
    let strict = req.ctx().runtime.core.strict();
    let Err(bad) = check_header_fields(&mut response, strict) else {
        return response;
    };
    req.log_error("http", "error", &bad.to_string());
    req.err_headers = Headers::default();
    let mut error = handle_error(req, 500);
    finish(req, &mut error, false);
    error.length_known = false;
    error.close_delimited = true;
    let Err(bad) = check_header_fields(&mut error, strict) else {
        return error;
    };
    req.log_error("http", "error", &bad.to_string());
    Response {
        status: 500,
        length_known: true,
        server: error.server,
        log: std::mem::take(&mut error.log),
        ends_connection: true,
        ..Response::default()
    }
}

/// Checks (and unfolds) every header field list a response carries.
fn check_header_fields(response: &mut Response, strict: bool) -> Result<(), BadField> {
    for headers in [
        &mut response.first_headers,
        &mut response.headers,
        &mut response.late_headers,
        &mut response.after_length,
        &mut response.after_connection,
        &mut response.trailing,
    ] {
        check_fields(headers, strict)?;
    }
    Ok(())
}

/// RequestHeader: the `early` rules as the request arrives, the others at fixups.
fn edit_request_headers(req: &mut Request, early: bool) {
    let dir = Arc::clone(&req.dir);
    if !dir.headers.edits_request(early) {
        return;
    }
    let env = environment(req);
    let original = req.head.headers.clone();
    let mut edited = original.clone();
    with_header_side(req, &env, &original, None, |side| {
        dir.headers.fixup_request(&mut edited, side, early)
    });
    if edited.0 != original.0 {
        req.head.to_mut().headers = edited;
    }
}

/// What mod_headers' rules read of the request (`headers` as they stand, expressions over
/// it and, once there is one, the response's headers), handed to `rules`.
fn with_header_side<R>(
    req: &Request,
    env: &[(String, String)],
    headers: &Headers,
    response_headers: Option<&Headers>,
    rules: impl FnOnce(&crate::modules::headers::RequestSide) -> R,
) -> R {
    let since = req
        .now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut context = expr::RequestContext::new(req, env);
    context.response_headers = response_headers;
    let mut strings = expr::RequestContext::for_strings(req, env);
    strings.response_headers = response_headers;
    let eval = |e: &rhttpd_directives::expr::Expr| e.eval(&context) == Ok(true);
    let eval_string =
        |e: &rhttpd_directives::expr::StringExpr| e.eval(&strings).unwrap_or_default();
    let side = crate::modules::headers::RequestSide {
        eval: &eval,
        eval_string: &eval_string,
        headers,
        env,
        started_us: since.as_micros(),
        elapsed_us: req.now.elapsed().unwrap_or_default().as_micros(),
    };
    rules(&side)
}

/// What follows the handler for every response: the environment, mod_headers' fixups, and
/// what the access log will need.
fn finish(req: &Request, response: &mut Response, success: bool) {
    let env = environment(req);
    if !req.dir.headers.is_empty() {
        let consulted = req.expr_vary.borrow().len();
        // Expressions see the response headers as they were before these rules ran.
        let response_headers = response.headers.clone();
        let mut outgoing = crate::modules::headers::Outgoing {
            first: &mut response.first_headers,
            head: &mut response.headers,
            tail: &mut response.late_headers,
        };
        with_header_side(
            req,
            &env,
            &req.head.headers,
            Some(&response_headers),
            |side| req.dir.headers.fixup(&mut outgoing, side, success),
        );
        // The request headers their conditions read join Vary, as each of Apache's
        // evaluations adds them: to a Vary already there, else after what the handler set.
        let read = req.expr_vary.borrow()[consulted..].to_vec();
        if !read.is_empty() {
            let target = if success && response.headers.get("Vary").is_none() {
                &mut response.late_headers
            } else {
                &mut response.headers
            };
            expr::merge_vary(target, &read);
        }
    }
    response.protocol_env = ProtocolEnv::of(&env);
    if response.protocol_env.force_no_vary {
        for headers in [
            &mut response.first_headers,
            &mut response.headers,
            &mut response.late_headers,
        ] {
            headers.remove("Vary");
        }
    }
    response.log = log_facts(req, env);
}

/// The request's environment: mod_setenvif's conditions, then mod_env's changes at fixups.
fn environment(req: &Request) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if req.dir.setenvif.is_empty() && req.dir.env.changes.is_empty() {
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
        peer_ip: req.conn.peer.ip().to_string(),
        local_ip: req.conn.local.ip().to_string(),
        method: &req.head.method,
        protocol,
        uri: req.original_uri.as_deref().unwrap_or(&req.uri),
    };
    req.dir.setenvif.evaluate(&facts, &mut env);
    req.dir.env.fixup(&mut env);
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
        filename: req.filename.as_ref().map(|f| f.display().to_string()),
        handler: set_handler(req).map(str::to_string),
        request_host: req.host_name(),
        user: req.user.clone(),
        notes: req.notes.clone(),
        remote_host: remote_host(req),
        track_ttfb: req.dir.core.track_ttfb == Some(true),
    }
}

/// HostnameLookups On (a reverse lookup) or Double (confirmed forward): the client's name.
fn remote_host(req: &Request) -> Option<String> {
    let ip = req.conn.peer.ip();
    match req.dir.core.hostname_lookups.as_deref() {
        Some("on") => crate::sys::reverse_lookup(ip),
        Some("double") => crate::modules::authz_host::double_reverse(ip),
        _ => None,
    }
}

/// A local ErrorDocument is served by an internal redirect (as GET, keeping the error status);
/// anything else is built by [`error_response`].
fn handle_error(req: &mut Request, status: u16) -> Response {
    let local = error_document(req, status).filter(|a| a.starts_with('/'));
    let Some(target) = local else {
        return error_response(req, status);
    };
    if req.redirects >= req.ctx().runtime.core.recursion_limits().0 {
        return error_response(req, status);
    }
    req.redirects += 1;
    let (path, args) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target, None),
    };
    req.uri = path;
    req.args = args;
    if req.method != "HEAD" {
        req.method = "GET".to_string();
    }
    req.headers_out = Headers::default();
    // The error document is a new request without the first one's input filters: the body
    // is left to the connection to discard as it is.
    req.unread_body = None;
    match serve_uri(req) {
        Ok(mut response) => {
            response.status = status;
            response
        }
        // Apache's note names the status the ErrorDocument's request carried when it failed:
        // the first error's, which the redirect keeps.
        Err(_) => {
            let mut response = error_response(req, status);
            if let Body::Bytes(page) = &mut response.body {
                let note = format!(
                    "<p>Additionally, a {}\nerror was encountered while trying to use an ErrorDocument to handle the request.</p>\n",
                    crate::http1::status::status_line(status)
                );
                let text = String::from_utf8_lossy(page).into_owned();
                if let Some(at) = text.rfind("</body></html>") {
                    let mut with_note = text[..at].to_string();
                    if let Some(hr) = with_note.rfind("<hr>\n<address>") {
                        with_note.insert_str(hr, &note);
                    } else {
                        with_note.push_str(&note);
                    }
                    with_note.push_str(&text[at..]);
                    *page = with_note.into_bytes();
                }
            }
            response
        }
    }
}

/// The ErrorDocument for `status` as this request reads it: its string expression evaluated
/// (a message keeps its leading `"`). An expression that fails is logged and no document.
fn error_document(req: &Request, status: u16) -> Option<String> {
    let action = req.dir.core.error_document(status)?;
    if !action.contains(['%', '\\']) || action == "default" {
        return Some(action.to_string());
    }
    let parsed = rhttpd_directives::expr::parse_string(action).ok()?;
    let env = environment(req);
    match parsed.eval(&expr::RequestContext::for_strings(req, &env)) {
        Ok(value) => Some(value),
        Err(err) => {
            let text =
                format!("AH02841: core: ErrorDocument: can't evaluate require expression: {err}");
            req.log_error("core", "error", &text);
            None
        }
    }
}

/// The host a request names: from an absolute-form target, else the Host header, without port.
fn request_host(head: &RequestHead) -> Option<String> {
    match absolute_host(&head.target) {
        Some(host) => Some(strip_port(host).to_string()),
        None => head.headers.get("Host").map(|h| strip_port(h).to_string()),
    }
}

/// Whether Apache refuses the request as it reads the head: a target that is not a path
/// (`*` aside, for OPTIONS) or has a fragment, or the host it names.
pub fn head_refused(rt: &Runtime, head: &RequestHead) -> bool {
    let target = &head.target;
    let asterisk = target == "*" && head.method == "OPTIONS";
    let bad_target =
        target.contains('#') || !asterisk && !crate::http1::parse::path_is_absolute(target);
    bad_target || host_status(rt, head).is_some()
}

/// 400 for a request whose host is missing (HTTP/1.1), given twice, or not a sane name (an
/// absolute target's host, else the Host header's).
fn host_status(rt: &Runtime, head: &RequestHead) -> Option<u16> {
    let host_header = head.headers.get("Host");
    if head.version == Version::Http11 && host_header.is_none() {
        return Some(400);
    }
    if head.headers.count("Host") > 1 {
        return Some(400);
    }
    let strict = rt.servers[0].runtime.core.strict();
    let named = named_host(head)?;
    let missing = named.is_empty() && head.version == Version::Http11;
    (missing || !uri::valid_host(named, strict)).then_some(400)
}

/// The host a request names: its absolute target's, else its Host header's.
fn named_host(head: &RequestHead) -> Option<&str> {
    absolute_host(&head.target).or(head.headers.get("Host").map(str::trim))
}

/// The `host[:port]` of an absolute-form target (`http://host/...`).
fn absolute_host(target: &str) -> Option<&str> {
    http_target(target).and_then(|(authority, _)| authority)
}

/// An `http:` or `https:` target (any case) split as Apache's URI parser splits it: the
/// authority after `//`, if any, and the path with its query.
fn http_target(target: &str) -> Option<(Option<&str>, &str)> {
    let (scheme, rest) = target.split_once(':')?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    Some(match rest.strip_prefix("//") {
        Some(authority) => {
            let end = authority.find(['/', '?']).unwrap_or(authority.len());
            (Some(&authority[..end]), &authority[end..])
        }
        None => (None, rest),
    })
}

/// `host[:port]` without the port, for virtual host matching.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    host.split(':').next().unwrap_or(host)
}

fn run(req: &mut Request) -> Step<Response> {
    if let Some(status) = host_status(req.rt, &req.head) {
        let strict = req.rt.servers[0].runtime.core.strict();
        if let Some(host) = named_host(&req.head).filter(|h| !uri::valid_host(h, strict)) {
            let text = format!("AH00550: Client sent malformed Host header: {host}");
            req.log_error("core", "debug", &text);
        }
        return Err(status);
    }
    let target = req.head.target.clone();
    if target.contains('#') {
        return Err(400);
    }
    if req.method == "CONNECT" {
        return Err(405);
    }
    if target == "*" {
        if req.method == "OPTIONS" {
            announce_protocols(req);
            return Ok(simple(req, 200, None));
        }
        return Err(400);
    }
    let path_part = match http_target(&target) {
        // An absolute target loses its scheme and authority; an empty path is `/`.
        Some((_, rest)) if rest.is_empty() || rest.starts_with('?') => format!("/{rest}"),
        Some((_, rest)) => rest.to_string(),
        None => target.clone(),
    };
    let (raw_path, args) = match path_part.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (path_part, None),
    };
    req.args = args;
    // A target with no path at all (`?query`) is `/`, or `*` for OPTIONS (ap_parse_uri).
    if raw_path.is_empty() && req.method == "OPTIONS" {
        announce_protocols(req);
        return Ok(simple(req, 200, None));
    }
    let raw_path = if raw_path.is_empty() {
        "/".to_string()
    } else {
        raw_path
    };
    let core = &req.ctx().runtime.core;
    let slashes = match core.allow_encoded_slashes.as_deref() {
        Some("on") => uri::EncodedSlashes::Decode,
        Some("nodecode") => uri::EncodedSlashes::Keep,
        _ => uri::EncodedSlashes::Refuse,
    };
    let decoded = uri::normalize_bytes(&raw_path, core.merge_slashes.unwrap_or(true), slashes);
    req.uri = match decoded {
        Ok(path) => match String::from_utf8(path) {
            Ok(text) => text,
            Err(not_text) => {
                let bytes = not_text.into_bytes();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                req.received_uri = Some(bytes);
                text
            }
        },
        Err(uri::UriError::InvalidPath) => {
            let text = format!("AH10244: invalid URI path ({target})");
            req.log_error("core", "error", &text);
            return Err(400);
        }
        Err(uri::UriError::BadRequest) => return Err(400),
        Err(uri::UriError::NotFound) => {
            if slashes == uri::EncodedSlashes::Refuse {
                // Apache's wording, whether it was a %2f or a %00.
                let text = format!(
                    "AH00026: found %2f (encoded '/') in URI path ({target}), returning 404"
                );
                req.log_error("core", "info", &text);
            }
            return Err(404);
        }
    };
    req.original_uri = Some(req.uri.clone());
    req.original_args = req.args.clone();
    if req.method == "TRACE" {
        return trace(req);
    }
    serve_uri(req)
}

/// From translation on; re-entered for internal redirects (DirectoryIndex).
fn serve_uri(req: &mut Request) -> Step<Response> {
    let filename = translate(req)?;
    let (mut filename, mut meta) = map_to_storage(req, filename)?;
    // What expressions read so far is what the response varies by.
    let vary = req.expr_vary.borrow().clone();
    expr::merge_vary(&mut req.headers_out, &vary);
    // type_checker: mod_negotiation's MultiViews answers for a file that is not there with
    // the best variant beside it, looked up (and access-checked) as a sub-request would be.
    if meta.is_none() && negotiation::enabled(req) {
        if let Some(variant) = negotiation::multiviews(req, &filename)? {
            if let Some(name) = variant.file_name() {
                let parent = &req.uri[..req.uri.rfind('/').map_or(0, |i| i + 1)];
                req.uri = format!("{parent}{}", name.to_string_lossy());
            }
            (filename, meta) = map_to_storage(req, variant)?;
        }
    }
    // fixups: mod_dir takes directories.
    if meta.as_ref().is_some_and(|m| m.is_dir()) {
        return serve_directory(req, &filename);
    }
    // type_checker: mod_mime, then ForceType. ModMimeUsePathInfo names the type by the path
    // info's last part instead.
    let typed = if req.dir.core.mime_use_path_info == Some(true) && !req.path_info.is_empty() {
        PathBuf::from(format!("{}{}", filename.display(), req.path_info))
    } else {
        filename.clone()
    };
    let base = typed
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let info = mime::classify(&base, &req.dir.mime, &req.rt.types);
    if let Some(warning) = &info.type_warning {
        crate::log::error("mime", "warn", warning);
    }
    // fixups: mod_dir sends a request for nothing on disk, with no handler, to FallbackResource.
    if meta.is_none() && handler_of(req, &filename).is_none() {
        if let Some((uri, args)) = fallback_target(req)? {
            req.redirects += 1;
            req.uri = uri;
            req.args = args;
            return serve_uri(req);
        }
    }
    announce_protocols(req);
    // handler: mod_status answers GET for its handler name or type.
    if let Some(settings) = &req.rt.status {
        let is_status = handler_of(req, &filename).as_deref() == Some("server-status")
            || info.content_type.as_deref() == Some("application/x-httpd-status");
        if is_status && matches!(req.method.as_str(), "GET" | "HEAD") {
            return crate::modules::status::handle(req, settings);
        }
    }
    // handler: mod_negotiation's type maps.
    // (A map that is not there is the handler's own 404, with its AH00683.)
    if handler_of(req, &filename).as_deref() == Some("type-map") {
        return serve_type_map(req, &filename);
    }
    // The default handler discards the request body first, refusing one over LimitRequestBody.
    let limit = req.dir.core.limit_request_body.unwrap_or(1 << 30);
    let declared = req.body_length;
    if limit > 0 && declared > limit {
        req.filter_error = true;
        return Err(413);
    }
    input::discard_body(req, &info, limit)?;
    // handler: the default handler, in its own order of checks.
    match req.method.as_str() {
        "GET" | "HEAD" | "POST" => match meta {
            Some(meta) => static_file::serve(req, &filename, &meta, &info),
            None => {
                let text = format!(
                    "AH00128: File does not exist: {}{}",
                    filename.display(),
                    req.path_info
                );
                req.log_error("core", "info", &text);
                Err(404)
            }
        },
        "OPTIONS" => {
            let content_type = req.dir.core.force_type.clone().or(info.content_type);
            let mut resp = options_response(req, content_type);
            if let Some(encoding) = &info.encoding {
                resp.trailing.set("Content-Encoding", encoding.clone());
            }
            if !info.languages.is_empty() {
                resp.trailing
                    .set("Content-Language", info.languages.join(", "));
            }
            Ok(resp)
        }
        method if !req.rt.method_known(method) => Err(invalid_method(req)),
        _ => Err(405),
    }
}

/// The default handler's answer to a method it does not know: 501, logged as Apache logs it
/// (with a hint when the request line looks like a TLS handshake sent to a plain port).
fn invalid_method(req: &Request) -> u16 {
    let line = req.head.request_line.as_slice();
    // The line goes into the message as it arrived; the error log escapes its bytes.
    let text = if line.first() == Some(&0x16) && matches!(line.get(1), Some(2 | 3)) {
        [
            b"AH00134: Invalid method in request ",
            line,
            b" - possible attempt to establish SSL connection on non-SSL port",
        ]
        .concat()
    } else {
        [b"AH00135: Invalid method in request ", line].concat()
    };
    req.log_error_bytes("core", "error", &text);
    501
}

/// A type map variant whose content is inside the map (`Body:`).
fn type_map_body(
    req: &mut Request,
    variant: crate::modules::negotiation::Variant,
) -> Step<Response> {
    if !matches!(req.method.as_str(), "GET" | "HEAD" | "POST") {
        req.headers_out.set("Allow", "GET,HEAD,OPTIONS,POST");
        return Err(405);
    }
    let content_type = (!variant.mime_type.is_empty()).then(|| {
        if variant.charset.is_empty() {
            variant.mime_type.clone()
        } else {
            format!("{}; charset={}", variant.mime_type, variant.charset)
        }
    });
    let mut response = simple(req, 200, content_type);
    response.headers.set("Accept-Ranges", "bytes");
    if let Some(encoding) = variant.encoding.filter(|e| !e.is_empty()) {
        response.trailing.set("Content-Encoding", encoding);
    }
    if !variant.languages.is_empty() {
        response
            .trailing
            .set("Content-Language", variant.languages.join(", "));
    }
    response.body = Body::Bytes(variant.body.unwrap_or_default());
    response.length_known = true;
    Ok(response)
}

/// translate_name: mod_alias, then DocumentRoot. Sub-requests by URI start here too.
pub(crate) fn translate(req: &mut Request) -> Step<PathBuf> {
    let ctx = req.ctx();
    req.dir = Arc::clone(&ctx.dir);
    req.script_alias = false;
    req.path_info.clear();
    // The location walk precedes translation: a <Location>'s own Redirect answers before
    // anything else (and before access control), its one-argument Alias after the server's
    // redirects.
    if let Some((own, walked)) = location_redirect(req) {
        // The answer goes out under the configuration the location walk merged (no
        // <Directory> yet): its `Header always` lines, its ErrorDocument.
        req.dir = Arc::new(walked);
        if own.status == 0 {
            // mod_alias translated the request to no file at all: nothing on disk answers.
            let text = format!(
                "AH00029: Module bug?  Request filename is missing for URI {}",
                req.uri
            );
            req.log_error("core", "info", &text);
            req.log_error("core", "info", "AH00128: File does not exist: ");
            return Err(404);
        }
        return Err(answer_section_redirect(req, &own, false));
    }
    let ctx = req.ctx();
    let escaped = escape_uri(&req.uri);
    let mapped = alias::translate(&ctx.runtime.alias, &req.uri, &escaped);
    if let Some(Mapped::Redirect { status, location }) = mapped {
        return Err(redirect(req, status, location, false));
    }
    if let Some((filename, script)) = location_alias(req) {
        req.script_alias = script;
        return Ok(filename);
    }
    if let Some(Mapped::File { path, script }) = mapped {
        req.script_alias = script;
        return Ok(PathBuf::from(path));
    }
    let root = ctx.document_root.to_string_lossy();
    // Under a ServerPath, the rest of the path is what lies in the DocumentRoot.
    let path = ctx
        .server_path
        .as_deref()
        .and_then(|prefix| {
            let rest = req.uri.strip_prefix(prefix)?;
            (prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/')).then_some(rest)
        })
        .unwrap_or(&req.uri);
    let filename = PathBuf::from(format!("{}{}", root.trim_end_matches('/'), path));
    Ok(filename)
}

/// The section Redirect the request's configuration holds when mod_alias translates it, with
/// that configuration: Apache's location walk and first <If> walk have run by then (the
/// matching <Location> sections, then the server's and their <If> sections), no <Directory>.
fn location_redirect(req: &Request) -> Option<(alias::SectionRedirect, DirRuntime)> {
    fn redirects(section: &CompiledSection) -> bool {
        section.dir.section_redirect.is_some() || section.nested.iter().any(redirects)
    }
    let ctx = req.ctx();
    let is_location =
        |s: &&CompiledSection| matches!(s.kind, SectionKind::Location | SectionKind::LocationMatch);
    // Most configurations have no section Redirect at all: nothing is merged for them.
    let possible = ctx
        .sections
        .iter()
        .any(|s| (s.is_conditional() || is_location(&s)) && redirects(s));
    if !possible {
        return None;
    }
    let locations: Vec<&CompiledSection> = ctx
        .sections
        .iter()
        .filter(is_location)
        .filter(|s| s.matches(&req.uri))
        .collect();
    let conditionals: Vec<&CompiledSection> = ctx
        .sections
        .iter()
        .filter(|s| s.is_conditional())
        .chain(
            locations
                .iter()
                .flat_map(|l| l.nested.iter().filter(|n| n.is_conditional())),
        )
        .collect();
    let walked = locations
        .iter()
        .fold(DirRuntime::clone(&ctx.dir), |merged, s| {
            merged.merge(&s.dir)
        });
    let walked = if conditionals.is_empty() {
        walked
    } else {
        apply_conditionals(req, walked, &conditionals)
    };
    let own = walked.section_redirect.clone()?;
    Some((own, walked))
}

/// A section's own Redirect, answered: its target evaluated and sent with its status. `per_dir`
/// as for [`redirect`]: a `<Location>`'s is answered at translation, under the server's numbers.
fn answer_section_redirect(req: &mut Request, own: &alias::SectionRedirect, per_dir: bool) -> u16 {
    let location = match &own.target {
        None => None,
        Some(target) => {
            let env = environment(req);
            let value = target.eval(&expr::RequestContext::for_strings(req, &env));
            match value {
                Ok(found) => Some(escape_redirect_target(&found)),
                Err(err) => {
                    let text = format!("AH02826: Can't evaluate redirect expression: {err}");
                    req.log_error("alias", "error", &text);
                    return 500;
                }
            }
        }
    };
    redirect(req, own.status, location, per_dir)
}

/// The target of the last matching `<Location>` with a one-argument Alias: its expression's
/// value, with the rest of the URI appended under AliasPreservePath On.
fn location_alias(req: &Request) -> Option<(PathBuf, bool)> {
    let ctx = req.ctx();
    let (section, alias) = ctx
        .sections
        .iter()
        .filter(|s| matches!(s.kind, SectionKind::Location | SectionKind::LocationMatch))
        .filter(|s| s.matches(&req.uri))
        .filter_map(|s| s.dir.location_alias.as_ref().map(|a| (s, a)))
        .last()?;
    let env = environment(req);
    let context = expr::RequestContext::for_strings(req, &env);
    let mut target = match alias.target.eval(&context) {
        Ok(target) => target,
        Err(err) => {
            let text = format!("AH02825: Can't evaluate alias expression: {err}");
            req.log_error("alias", "error", &text);
            return None;
        }
    };
    if section.dir.alias_preserve_path == Some(true) && section.regex.is_none() {
        let prefix = section.pattern.trim_end_matches('/');
        if let Some(rest) = req.uri.strip_prefix(prefix) {
            target.push_str(rest);
        }
    }
    Some((PathBuf::from(target), alias.script))
}

/// A mod_alias redirect: the Location (absolute, keeping the query unless the target has its
/// own), and the status to end the request with.
/// A Redirect's answer. `per_dir` tells a section's or `.htaccess`'s redirect from a
/// server's (Apache logs them under different numbers).
fn redirect(req: &mut Request, status: u16, location: Option<String>, per_dir: bool) -> u16 {
    if let Some(mut location) = location {
        // RedirectRelative On leaves a path as the client is to see it; anything else must
        // end up an absolute URL.
        let relative = location.starts_with('/') && req.dir.core.redirect_relative == Some(true);
        if (300..400).contains(&status) && !relative {
            location = absolute_url(req, &location);
            if !is_url(&location) {
                let id = if per_dir { "AH00676" } else { "AH00674" };
                let text = format!(
                    "{id}: cannot redirect '{}' to '{location}'; target is not a valid \
                     absoluteURI or abs_path",
                    req.uri
                );
                req.log_error("alias", "error", &text);
                return 500;
            }
        }
        // The request's query goes along unless the target has its own.
        if let Some(args) = req.args.as_ref().filter(|_| !location.contains('?')) {
            location = format!("{location}?{args}");
        }
        req.headers_out.set("Location", location);
    }
    status
}

/// Core's first handler (Apache's `core_upgrade_handler`): on a connection's first request
/// that asks for no upgrade, the protocols Protocols lists before this one are offered, in
/// `Upgrade` and `Connection: Upgrade` (kept only if the response succeeds).
fn announce_protocols(req: &mut Request) {
    if req.conn.served_before > 0
        || req
            .head
            .headers
            .get("Upgrade")
            .is_some_and(|u| !u.is_empty())
    {
        return;
    }
    let Some(protocols) = &req.ctx().runtime.core.protocols else {
        return;
    };
    let current = "http/1.1";
    if protocols.len() == 1 && protocols[0] == current {
        return;
    }
    let offered: Vec<&str> = protocols
        .iter()
        .map(String::as_str)
        .take_while(|p| *p != current)
        .collect();
    if !offered.is_empty() {
        let offered = offered.join(",");
        req.headers_out.set("Upgrade", offered);
        req.headers_out.set("Connection", "Upgrade");
    }
}

/// A section Redirect's evaluated target as mod_alias sends it: escaped as a path, its query
/// and fragment kept as written.
fn escape_redirect_target(found: &str) -> String {
    let (rest, fragment) = match found.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (found, None),
    };
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let mut out = escape_uri(path);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// `ap_is_url`: a scheme (letters, digits, `+`, `-`, `.`) and a colon.
fn is_url(text: &str) -> bool {
    text.find(':').is_some_and(|colon| {
        colon > 0
            && text[..colon]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    })
}

/// map_to_storage (the deepest existing path, the rest becomes PATH_INFO; sections merged),
/// then access (Require). Sub-requests for a known file start here.
pub(crate) fn map_to_storage(
    req: &mut Request,
    filename: PathBuf,
) -> Step<(PathBuf, Option<fs::Metadata>)> {
    let (filename, meta) = walk_path(&filename, &mut req.path_info)?;
    merge_sections(req, &filename, meta.as_ref().is_some_and(|m| m.is_dir()))?;
    if meta.is_some() && !symlinks_allowed(req, &filename) {
        return Err(403);
    }
    req.filename = Some(filename.clone());
    // access_checker, check_authn, auth_checker.
    auth::check(req)?;
    // fixups: a section's own Redirect, then Redirect* from sections and .htaccess (mod_alias's
    // per-directory table).
    // A section's Redirect 0 ends mod_alias's fixup with OK: the request goes on, and the
    // redirects of the per-directory table are not looked at.
    match req.dir.section_redirect.clone() {
        Some(own) if own.status == 0 => {}
        Some(own) => return Err(answer_section_redirect(req, &own, true)),
        None => {
            let escaped = escape_uri(&req.uri);
            if let Some(Mapped::Redirect { status, location }) =
                alias::translate(&req.dir.redirects, &req.uri, &escaped)
            {
                return Err(redirect(req, status, location, true));
            }
        }
    }
    edit_request_headers(req, false);
    auth::basic_fake(req)?;
    Ok((filename, meta))
}

/// Apache's directory walk: stat components from the left; a file followed by more path is
/// the resource and the rest PATH_INFO. Returns the resource path and its metadata if it exists.
fn walk_path(full: &Path, path_info: &mut String) -> Step<(PathBuf, Option<fs::Metadata>)> {
    match fs::metadata(full) {
        Ok(meta) => return Ok((full.to_path_buf(), Some(meta))),
        // A name the filesystem cannot hold, or a component we may not search: Apache's 403.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENAMETOOLONG) | Some(libc::EACCES)
            ) =>
        {
            return Err(403)
        }
        Err(_) => {}
    }
    let text = full.to_string_lossy().into_owned();
    // Where the component after the deepest existing directory ends: Apache's walk stops at
    // the first name that is not there, which ends the filename (the rest is PATH_INFO).
    let mut missing_end = text.len();
    let mut end = text.len();
    while let Some(slash) = text[..end].rfind('/') {
        if slash == 0 {
            break;
        }
        let candidate = &text[..slash];
        if let Ok(meta) = fs::metadata(candidate) {
            if meta.is_file() {
                *path_info = text[slash..].to_string();
                return Ok((PathBuf::from(candidate), Some(meta)));
            }
            break;
        }
        missing_end = slash;
        end = slash;
    }
    *path_info = text[missing_end..].to_string();
    Ok((PathBuf::from(&text[..missing_end]), None))
}

/// Merges the matching sections in Apache's order: `<Directory>` sections level by level from
/// `/` down, each level followed by its `.htaccess` when AllowOverride permits one; then regex
/// directories; then `<Files>` (top level, nested in matched directories, from `.htaccess`);
/// then `<Location>`. A bad `.htaccess` ends the request with 500.
fn merge_sections(req: &mut Request, filename: &Path, is_dir: bool) -> Step<()> {
    let cache = &req.rt.merged;
    if let Some(dir) = cache.get(req.server, filename, is_dir, &req.uri) {
        req.dir = dir;
        return Ok(());
    }
    let ctx = req.ctx();
    // The .htaccess files looked for, and whether the answer depends on the request itself.
    let mut consulted = Vec::new();
    let mut per_request = false;
    let path = filename.to_string_lossy().into_owned();
    let dir_path = if is_dir {
        format!("{}/", path.trim_end_matches('/'))
    } else {
        match path.rfind('/') {
            Some(i) => path[..=i].to_string(),
            None => "/".to_string(),
        }
    };
    let prefixes: Vec<&str> = dir_path
        .match_indices('/')
        .map(|(i, _)| &dir_path[..=i])
        .collect();
    let base = if is_dir {
        String::new()
    } else {
        path.rsplit('/').next().unwrap_or("").to_string()
    };
    let is_plain_dir = |s: &&CompiledSection| s.kind == SectionKind::Directory && s.regex.is_none();
    let mut merged = DirRuntime::clone(&ctx.dir);
    let mut files_sections: Vec<&CompiledSection> = Vec::new();
    // <If> sections come last, server-level ones first, then those of the sections applied.
    let mut conditionals: Vec<&CompiledSection> =
        ctx.sections.iter().filter(|s| s.is_conditional()).collect();
    let mut htaccess_files: Vec<std::sync::Arc<htaccess::Htaccess>> = Vec::new();
    // (which .htaccess file, where in `conditionals` its <If> sections go).
    let mut htaccess_ifs_at: Vec<(usize, usize)> = Vec::new();
    for prefix in &prefixes {
        for section in ctx
            .sections
            .iter()
            .filter(is_plain_dir)
            .filter(|s| s.matches(prefix))
        {
            merged = merged.merge(&section.dir);
            files_sections.extend(
                section
                    .nested
                    .iter()
                    .filter(|n| matches!(n.kind, SectionKind::Files | SectionKind::FilesMatch)),
            );
            conditionals.extend(section.nested.iter().filter(|n| n.is_conditional()));
        }
        // An explicit AllowOverride None without an AllowOverrideList means the file is not
        // even looked for. With no AllowOverride at all Apache still reads it, and then allows
        // nothing in it (any directive there is a 500).
        let allow = merged.core.allow_override;
        let listed = merged.core.override_list.clone().unwrap_or_default();
        if allow != Some(0) || !listed.is_empty() {
            let allow = allow.unwrap_or(0);
            let dir = Path::new(prefix);
            match req.rt.htaccess.load(
                req.rt,
                dir,
                &ctx.access_file_names,
                allow,
                &listed,
                &mut consulted,
            ) {
                Ok(Some(found)) => {
                    merged = merged.merge(&found.dir);
                    // Its <If> sections join the others at this point of the walk.
                    htaccess_ifs_at.push((htaccess_files.len(), conditionals.len()));
                    htaccess_files.push(found);
                }
                Ok(None) => {}
                Err(failed) => {
                    req.log_os_error("core", failed.level, failed.cause.as_ref(), &failed.text);
                    return Err(failed.status);
                }
            }
        }
    }
    for &(file, at) in htaccess_ifs_at.iter().rev() {
        let ifs = htaccess_files[file]
            .files
            .iter()
            .filter(|s| s.is_conditional());
        conditionals.splice(at..at, ifs);
    }
    for section in &ctx.sections {
        if matches!(
            section.kind,
            SectionKind::Directory | SectionKind::DirectoryMatch
        ) && section.regex.is_some()
            && prefixes
                .iter()
                .any(|p| section.matches(p.trim_end_matches('/')) || section.matches(p))
        {
            merged = merged.merge(&section.dir);
            files_sections.extend(
                section
                    .nested
                    .iter()
                    .filter(|n| matches!(n.kind, SectionKind::Files | SectionKind::FilesMatch)),
            );
            conditionals.extend(section.nested.iter().filter(|n| n.is_conditional()));
        }
    }
    if !base.is_empty() {
        let top_files = ctx
            .sections
            .iter()
            .filter(|s| matches!(s.kind, SectionKind::Files | SectionKind::FilesMatch));
        for section in top_files.chain(files_sections) {
            if section.matches(&base) {
                merged = merged.merge(&section.dir);
                conditionals.extend(section.nested.iter().filter(|n| n.is_conditional()));
            }
        }
        for found in &htaccess_files {
            let files = found
                .files
                .iter()
                .filter(|s| matches!(s.kind, SectionKind::Files | SectionKind::FilesMatch));
            for section in files.filter(|s| s.matches(&base)) {
                merged = merged.merge(&section.dir);
                conditionals.extend(section.nested.iter().filter(|n| n.is_conditional()));
            }
        }
    }
    for section in &ctx.sections {
        if matches!(
            section.kind,
            SectionKind::Location | SectionKind::LocationMatch
        ) && section.matches(&req.uri)
        {
            merged = merged.merge(&section.dir);
            conditionals.extend(section.nested.iter().filter(|n| n.is_conditional()));
        }
    }
    // <If>, <ElseIf>, <Else> last, each chain in order: a branch applies when its condition
    // holds and no earlier branch of its chain did.
    if !conditionals.is_empty() {
        per_request = true;
        merged = apply_conditionals(req, merged, &conditionals);
    }
    let merged = Arc::new(merged);
    if !per_request {
        cache.put(req.server, filename, is_dir, &req.uri, &merged, consulted);
    }
    req.dir = merged;
    Ok(())
}

/// Evaluates `<If>` chains against the request and merges the branches that hold.
fn apply_conditionals(
    req: &Request,
    mut merged: DirRuntime,
    sections: &[&CompiledSection],
) -> DirRuntime {
    let env = environment(req);
    let context = expr::RequestContext::new(req, &env);
    let mut chain_taken = false;
    for section in sections {
        let holds = match section.kind {
            SectionKind::If => {
                chain_taken = false;
                evaluate(req, section, &context)
            }
            SectionKind::ElseIf => !chain_taken && evaluate(req, section, &context),
            _ => !chain_taken,
        };
        if holds {
            chain_taken = true;
            merged = merged.merge(&section.dir);
            let nested: Vec<&CompiledSection> = section
                .nested
                .iter()
                .filter(|n| n.is_conditional())
                .collect();
            if !nested.is_empty() {
                merged = apply_conditionals(req, merged, &nested);
            }
        }
    }
    merged
}

fn evaluate(req: &Request, section: &CompiledSection, context: &expr::RequestContext) -> bool {
    let Some(condition) = &section.condition else {
        return false;
    };
    match condition.eval(context) {
        Ok(holds) => holds,
        Err(message) => {
            let text = format!("AH00039: Failed to evaluate <If > condition: {message}");
            req.log_error("core", "error", &text);
            false
        }
    }
}

/// FollowSymLinks: without it, a symbolic link anywhere in the path is refused.
fn symlinks_allowed(req: &Request, filename: &Path) -> bool {
    let options = req.dir.core.options();
    if options & opt::SYM_LINKS != 0 {
        return true;
    }
    let mut path = PathBuf::from("/");
    for part in filename.components().skip(1) {
        path.push(part);
        if let Ok(meta) = fs::symlink_metadata(&path) {
            if meta.file_type().is_symlink() {
                if options & opt::SYM_OWNER != 0 {
                    let target_owner = fs::metadata(&path).map(|m| m.uid()).ok();
                    if target_owner == Some(meta.uid()) {
                        continue;
                    }
                }
                return false;
            }
        }
    }
    true
}

/// mod_dir: redirect to the slash form, else the first DirectoryIndex that exists (served in
/// place, or redirected to under DirectoryIndexRedirect).
fn serve_directory(req: &mut Request, dir: &Path) -> Step<Response> {
    if !req.uri.ends_with('/') {
        // redirect-carefully: clients that cannot follow a redirect of anything but GET get
        // the directory as it is.
        let careful = || {
            !matches!(req.method.as_str(), "GET" | "HEAD")
                && crate::modules::env::get(&environment(req), "redirect-carefully").is_some()
        };
        if req.dir.dir.slash() && !careful() {
            return Err(slash_redirect(req));
        }
        return directory_without_index(req, dir);
    }
    // DirectoryCheckHandler On: a directory given a handler of its own is left to it.
    if req.dir.dir.check_handler == Some(true) && set_handler(req).is_some() {
        return directory_without_index(req, dir);
    }
    // Each index name is looked up as Apache's sub-request is (sections, access control,
    // fixups): the first that reaches a regular file is served; a redirect met on the way is
    // the answer, and so is a 401 or 406 for the last name; any other error is remembered and
    // answers if no name is found.
    let names = req.dir.dir.index_names();
    let mut lookup_error = None;
    for (position, name) in names.iter().enumerate() {
        let last = position + 1 == names.len();
        let index_uri = if name.starts_with('/') {
            name.clone()
        } else {
            format!("{}{}", req.uri, name)
        };
        let mut sub = req.sub_request(index_uri.clone());
        sub.args = req.args.clone();
        sub.redirects = req.redirects + 1;
        let looked_up = translate(&mut sub).and_then(|f| map_to_storage(&mut sub, f));
        let status = match looked_up {
            Ok((filename, meta)) => {
                let regular = match &meta {
                    Some(meta) => meta.is_file(),
                    None => negotiation::has_variants(&sub, &filename),
                };
                if regular && req.redirects < req.ctx().runtime.core.recursion_limits().0 {
                    if let Some(status) = req.dir.dir.index_redirect.filter(|s| *s != 0) {
                        let location = format!("{}{}", req.self_url_base(), index_uri);
                        req.headers_out.set("Location", location);
                        return Err(status);
                    }
                    req.redirects += 1;
                    // Apache's fast internal redirect replaces the request itself: the access
                    // log's original URI becomes the index too.
                    req.original_uri = Some(index_uri.clone());
                    req.uri = index_uri;
                    return serve_uri(req);
                }
                // Nothing on disk and no handler: the sub-request's own fixups send it to
                // FallbackResource (first come, first served).
                if meta.is_none() && handler_of(&sub, &filename).is_none() {
                    match fallback_target(&mut sub) {
                        Ok(Some((uri, args))) => {
                            req.redirects += 1;
                            req.uri = uri;
                            req.args = args;
                            return serve_uri(req);
                        }
                        Ok(None) => continue,
                        Err(status) => status,
                    }
                } else if meta.as_ref().is_some_and(|m| m.is_dir())
                    && !sub.uri.ends_with('/')
                    && sub.path_info.is_empty()
                    && sub.dir.dir.slash()
                {
                    // A name that is a directory gets the sub-request's own slash redirect.
                    slash_redirect(&mut sub)
                } else {
                    continue;
                }
            }
            Err(status) => status,
        };
        if (300..400).contains(&status) || (last && matches!(status, 401 | 406)) {
            // The sub-request's answer is the request's, with the headers it set.
            for (name, value) in sub.headers_out.0.drain(..) {
                req.headers_out.0.push((name, value));
            }
            req.err_headers.0.append(&mut sub.err_headers.0);
            return Err(status);
        }
        if status != 404 {
            lookup_error = Some(status);
        }
    }
    if let Some(status) = lookup_error {
        return Err(status);
    }
    directory_without_index(req, dir)
}

/// mod_dir's redirect of a directory named without its trailing slash (the query kept).
fn slash_redirect(req: &mut Request) -> u16 {
    let mut location = format!("{}{}/", req.self_url_base(), escape_uri(&req.uri));
    if let Some(args) = &req.args {
        location.push('?');
        location.push_str(args);
    }
    req.headers_out.set("Location", location);
    301
}

/// The `type-map` handler: the chosen variant served by an internal redirect, or the map's
/// own body.
fn serve_type_map(req: &mut Request, map: &Path) -> Step<Response> {
    match negotiation::type_map(req, map)? {
        negotiation::Chosen::File(target) => {
            let limit = req.ctx().runtime.core.recursion_limits().0;
            if req.redirects >= limit {
                let text = format!(
                    "AH00124: Request exceeded the limit of {limit} internal redirects due to \
                     probable configuration error. Use 'LimitInternalRecursion' to increase the \
                     limit if necessary. Use 'LogLevel debug' to get a backtrace."
                );
                req.log_error("core", "error", &text);
                return Err(500);
            }
            req.redirects += 1;
            let parent = &req.uri[..req.uri.rfind('/').map_or(0, |i| i + 1)];
            let name = target.file_name().map(|n| n.to_string_lossy().into_owned());
            req.uri = format!("{parent}{}", name.unwrap_or_default());
            serve_uri(req)
        }
        negotiation::Chosen::Body(variant) => type_map_body(req, *variant),
    }
}

/// The handler SetHandler names (mod_mime assigns none to directories), unless `None`.
fn set_handler<'a>(req: &'a Request<'_>) -> Option<&'a str> {
    match req.dir.core.set_handler.as_deref() {
        Some("none") => None,
        None if req.script_alias => Some("cgi-script"),
        None => None,
        set => set,
    }
}

/// FallbackResource, looked up as Apache's sub-request: its URI and query when it reaches a
/// file; `None` when it finds nothing (the request stays a 404); a redirect or error met on
/// the way is the answer. The sub-request runs its own fixups, so a fallback that is itself
/// missing falls back again, up to the recursion limit (500).
fn fallback_target(req: &mut Request) -> Step<Option<(String, Option<String>)>> {
    let Some(target) = req.dir.dir.fallback() else {
        return Ok(None);
    };
    let limit = req.ctx().runtime.core.recursion_limits().1;
    if req.redirects >= limit {
        let text = format!(
            "AH00125: Request exceeded the limit of {limit} subrequest nesting levels due to \
             probable configuration error. Use 'LimitInternalRecursion' to increase the limit \
             if necessary. Use 'LogLevel debug' to get a backtrace."
        );
        req.log_error("core", "error", &text);
        return Err(500);
    }
    let (path, args) = match target.split_once('?') {
        Some((path, args)) => (path, Some(args.to_string())),
        None => (target, None),
    };
    // A relative fallback is resolved against the request's directory, as a sub-request is.
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        let parent = &req.uri[..req.uri.rfind('/').map_or(0, |i| i + 1)];
        format!("{parent}{path}")
    };
    let core = &req.ctx().runtime.core;
    let Ok(path) = uri::normalize(
        &path,
        core.merge_slashes.unwrap_or(true),
        uri::EncodedSlashes::Decode,
    ) else {
        return Ok(None);
    };
    let mut sub = req.sub_request(path.clone());
    sub.args = args.or_else(|| req.args.clone());
    sub.redirects = req.redirects + 1;
    let looked_up = translate(&mut sub).and_then(|filename| map_to_storage(&mut sub, filename));
    match looked_up {
        Ok((_, Some(meta))) if meta.is_file() => Ok(Some((path, sub.args))),
        Ok((filename, None)) if handler_of(&sub, &filename).is_none() => fallback_target(&mut sub),
        Ok(_) | Err(404) => Ok(None),
        Err(status) => {
            if (300..400).contains(&status) {
                if let Some(location) = sub.headers_out.get("Location") {
                    let location = location.to_string();
                    req.headers_out.set("Location", location);
                }
            }
            Err(status)
        }
    }
}

/// The handler a request reaches: SetHandler, else mod_mime's by extension.
fn handler_of(req: &Request, filename: &Path) -> Option<String> {
    if let Some(handler) = set_handler(req) {
        return Some(handler.to_string());
    }
    let base = filename
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    mime::classify(&base, &req.dir.mime, &req.rt.types).handler
}

/// A directory with no index to serve: mod_autoindex (when loaded) lists it for GET and HEAD
/// under `Options Indexes` and refuses it (403) without. Other methods, and every method
/// without mod_autoindex, reach the default handler, which will not send a directory (404)
/// but answers OPTIONS for it.
fn directory_without_index(req: &mut Request, dir: &Path) -> Step<Response> {
    let autoindex = req
        .rt
        .config
        .read
        .modules
        .iter()
        .any(|m| m.id == "autoindex_module");
    // A handler set on the directory answers for it when mod_dir found no index: the type-map
    // handler reads it as a map (of nothing), mod_status reports.
    match set_handler(req) {
        Some("type-map") => return serve_type_map(req, dir),
        Some("server-status") if matches!(req.method.as_str(), "GET" | "HEAD") => {
            if let Some(settings) = &req.rt.status {
                return crate::modules::status::handle(req, settings);
            }
        }
        _ => {}
    }
    // mod_autoindex answers only for directories no other handler was set on.
    let listable = set_handler(req).is_none();
    if autoindex && listable && matches!(req.method.as_str(), "GET" | "HEAD") {
        announce_protocols(req);
        if req.dir.core.options() & opt::INDEXES == 0 {
            // The filename as the request named it, and the names mod_dir tried (none when
            // the request had no trailing slash, so mod_dir looked for nothing).
            let (slash, tried) = match req.uri.ends_with('/') {
                true => ("/", req.dir.dir.index_names().join(",")),
                false => ("", "none".to_string()),
            };
            let text = format!(
                "AH01276: Cannot serve directory {}{slash}: No matching DirectoryIndex ({tried}) found, and server-generated directory index forbidden by Options directive",
                dir.display().to_string().trim_end_matches('/'),
            );
            req.log_error("autoindex", "error", &text);
            return Err(403);
        }
        return autoindex::index_directory(req, dir);
    }
    match req.method.as_str() {
        "GET" | "HEAD" | "POST" => {
            let text = format!("AH00129: Attempt to serve directory: {}", dir.display());
            req.log_error("core", "info", &text);
            Err(404)
        }
        "OPTIONS" => {
            let content_type = req.dir.core.force_type.clone();
            let content_type = content_type.or_else(|| Some("httpd/unix-directory".to_string()));
            Ok(options_response(req, content_type))
        }
        method if !req.rt.method_known(method) => Err(invalid_method(req)),
        _ => Err(405),
    }
}

/// TRACE: echoed back unless TraceEnable Off (405) or it carries a body.
fn trace(req: &mut Request) -> Step<Response> {
    let enabled = req
        .ctx()
        .runtime
        .core
        .trace_enable
        .as_deref()
        .unwrap_or("on");
    if enabled == "off" {
        req.headers_out.set("Allow", "");
        return Err(405);
    }
    let has_body = request_framing(&req.head.headers).is_ok_and(|framing| framing.has_body());
    if has_body && enabled != "extended" {
        return Err(413);
    }
    let mut body = format!("{}\r\n", String::from_utf8_lossy(&req.head.request_line));
    for (name, value) in &req.head.headers.0 {
        body.push_str(&format!("{name}: {value}\r\n"));
    }
    body.push_str("\r\n");
    let mut resp = simple(req, 200, Some("message/http".to_string()));
    resp.length_known = false;
    resp.body = Body::Bytes(body.into_bytes());
    Ok(resp)
}

fn simple(req: &Request, status: u16, content_type: Option<String>) -> Response {
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

/// The default handler's answer to OPTIONS: the methods allowed and an empty body, whose
/// length the length filter adds after whatever mod_headers added.
fn options_response(req: &Request, content_type: Option<String>) -> Response {
    let mut resp = simple(req, 200, content_type);
    resp.headers.set("Allow", allow_list(req));
    resp.length_last = true;
    resp
}

/// The methods the default handler allows, TRACE only while TraceEnable permits it.
fn allow_list(req: &Request) -> String {
    let trace = req
        .ctx()
        .runtime
        .core
        .trace_enable
        .as_deref()
        .unwrap_or("on")
        != "off";
    if trace {
        "GET,POST,OPTIONS,HEAD,TRACE".to_string()
    } else {
        "GET,POST,OPTIONS,HEAD".to_string()
    }
}

/// Makes a redirect target absolute, as Apache does for Location.
fn absolute_url(req: &Request, location: &str) -> String {
    if location.contains("://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("{}{location}", req.self_url_base())
    } else {
        location.to_string()
    }
}

/// An error response for a request the pipeline never ran on (bad head, bad body).
pub fn early_error(
    rt: &Runtime,
    conn: ConnInfo,
    head: &RequestHead,
    status: u16,
    notes: Option<String>,
) -> Response {
    let host = request_host(head);
    let server = rt.select_server(conn.local, host.as_deref(), &head.target);
    let mut req = Request::new(rt, conn, std::borrow::Cow::Borrowed(head), server);
    req.error_notes = notes;
    // The path as sent, for the access log (nothing was parsed further).
    req.uri = head.target.split('?').next().unwrap_or("").to_string();
    let mut response = error_response(&req, status);
    finish(&req, &mut response, false);
    response
}

/// The response for a status that ended the request: ErrorDocument, or Apache's page.
pub fn error_response(req: &Request, status: u16) -> Response {
    let mut headers = Headers::default();
    if let Some(location) = req.headers_out.get("Location") {
        if (300..400).contains(&status) || status == 201 {
            headers.set("Location", location);
        }
    }
    if status == 405 || status == 501 {
        // A TRACE refused by TraceEnable Off was never offered any method.
        let allow = req
            .headers_out
            .get("Allow")
            .map(str::to_string)
            .unwrap_or_else(|| allow_list(req));
        headers.set("Allow", allow);
    }
    let header_only = req.method == "HEAD";
    if status == 304 || status == 204 {
        return Response {
            status,
            headers,
            content_type: None,
            body: Body::Empty,
            length_known: false,
            header_only: true,
            server: req.server,
            ..Default::default()
        };
    }
    if let Some(action) = error_document(req, status).filter(|a| a != "default") {
        if let Some(text) = action.strip_prefix('"') {
            return Response {
                status,
                headers,
                content_type: Some(error_page_type(req)),
                body: Body::Bytes(text.as_bytes().to_vec()),
                length_known: !header_only,
                header_only,
                server: req.server,
                ..Default::default()
            };
        }
        if !action.starts_with('/') && status != 401 {
            headers.set("Location", action.as_str());
            return error_response_plain(req, 302, headers, Some(&action));
        }
    }
    let location = headers.get("Location").map(str::to_string);
    error_response_plain(req, status, headers, location.as_deref())
}

fn error_response_plain(
    req: &Request,
    status: u16,
    headers: Headers,
    location: Option<&str>,
) -> Response {
    let ctx = req.ctx();
    let signature = signature(req);
    let cx = ErrorContext {
        method: &req.method,
        location,
        server_admin: ctx.runtime.core.server_admin(),
        error_notes: req.error_notes.as_deref(),
        expect: req.head.headers.get("Expect"),
        signature,
    };
    let page = error_page(status, &cx);
    let header_only = req.method == "HEAD";
    Response {
        status,
        headers,
        content_type: Some(error_page_type(req)),
        body: Body::Bytes(page.into_bytes()),
        // A HEAD error response carries no body and, in Apache, no Content-Length either.
        // 416 goes out after the range filter gave up on the body length: Apache sends it with
        // neither Content-Length nor chunking, ending it by closing the connection.
        length_known: !header_only && !req.filter_error,
        close_delimited: req.filter_error,
        header_only,
        server: req.server,
        ..Default::default()
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

/// The type of Apache's own error pages: no charset when the `suppress-error-charset`
/// variable is set (nor is AddDefaultCharset's added then).
fn error_page_type(req: &Request) -> String {
    let env = environment(req);
    match crate::modules::env::get(&env, "suppress-error-charset") {
        Some(_) => "text/html".into(),
        None => "text/html; charset=iso-8859-1".into(),
    }
}

/// ServerSignature: `<hr>` and an `<address>` line naming the server, or nothing.
pub(crate) fn signature(req: &Request) -> String {
    let mode = req.dir.core.server_signature.as_deref().unwrap_or("off");
    if mode == "off" {
        return String::new();
    }
    let ctx = req.ctx();
    let (host, port) = (req.host_name(), req.server_port());
    let host = escape_html(&host);
    let banner = &req.rt.server_banner;
    if mode == "email" {
        let admin = escape_html(ctx.runtime.core.server_admin());
        format!("<hr>\n<address>{banner} Server at <a href=\"mailto:{admin}\">{host}</a> Port {port}</address>\n")
    } else {
        format!("<hr>\n<address>{banner} Server at {host} Port {port}</address>\n")
    }
}
