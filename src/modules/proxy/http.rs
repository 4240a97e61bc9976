//! mod_proxy_http: HTTP/1.1 to a backend. The canonical backend URL (`proxy_http_canon`),
//! the request Apache sends (its request line, the client's fields less the hop-by-hop ones,
//! Host, Via, X-Forwarded-*, Max-Forwards, and the body by length or chunked), connections
//! kept per worker, the backend's answer read and mapped back (status line, fields with
//! ProxyPassReverse, Date canonicalised, Via), the body streamed to the client, and the 502
//! and 503 answers with Apache's log lines when a backend is down, slow or talks nonsense.

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::time::Duration;

use super::worker::{self, Stream, WorkerDef};
use super::{proxy_error, proxy_request, BadHeader, Dir, ProxyKind, ProxyRequest, ServerConf, Via};
use crate::http1::number::push_decimal;
use crate::http1::Headers;
use crate::request::{Body, BodySource, BodyStream, Request, Response, Step};

/// Apache's `enc_path` set: what stays as it is in a path besides letters and digits.
const PATH_ALLOWED: &[u8] = b"~$-_.+!*'(),;:@&=";

/// `ap_proxy_canonenc_ex` for a reverse proxy's path: `/` kept, the rest not allowed
/// escaped as `%XX` (a `%` too, unless `keep_encoded_slashes` keeps a `%2F` whole).
fn encode_path(path: &str, keep_encoded_slashes: bool) -> Cow<'_, str> {
    let bytes = path.as_bytes();
    // Most paths need nothing encoded: they are used as they are.
    if bytes
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || c == b'/' || PATH_ALLOWED.contains(&c))
    {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len() + 8);
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'/' {
            out.push('/');
            i += 1;
            continue;
        }
        if keep_encoded_slashes
            && c == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            let hex = &path[i + 1..i + 3];
            if u8::from_str_radix(hex, 16) == Ok(b'/') {
                out.push('%');
                out.push_str(hex);
                i += 3;
                continue;
            }
        }
        if c.is_ascii_alphanumeric() || PATH_ALLOWED.contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// `value` without the white space around it, as `apr_isspace` knows it (ASCII only: a
/// backend's U+00A0 stays, as it stays in Apache).
fn space_trimmed(value: &str) -> &str {
    let space = |b: &u8| crate::http1::body::is_c_space(*b);
    let bytes = value.as_bytes();
    let Some(start) = bytes.iter().position(|b| !space(b)) else {
        return "";
    };
    let end = bytes
        .iter()
        .rposition(|b| !space(b))
        .map_or(start, |last| last + 1);
    &value[start..end]
}

/// Whether text has a control character, a space or DEL (`ap_scan_vchar_obstext` stops).
fn has_non_vchar(text: &str) -> bool {
    text.bytes().any(|b| b <= 0x20 || b == 0x7f)
}

/// `proxy_http_canon`: `scheme://host[:port]/path[?query]` as the handler will use it.
pub fn canon(req: &Request, url: &str) -> Step<String> {
    let (scheme, rest) = url.split_once(':').unwrap_or(("", url));
    let secure = scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss");
    let default_port = if secure { 443 } else { 80 };
    let Some(after) = rest.strip_prefix("//") else {
        return bad_url(req, url, "Malformed URL");
    };
    let (netloc, path) = match after.find('/') {
        Some(at) => (&after[..at], &after[at + 1..]),
        None => (after, ""),
    };
    let host_port = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
    let (host, port) = match split_host_port(host_port) {
        Some(parts) => parts,
        None => return bad_url(req, url, "Invalid host/port"),
    };
    let port = port.unwrap_or(default_port);
    let unset = ProxyRequest::default();
    let state = proxy_request(req).unwrap_or(&unset);
    let raw = state.kind == ProxyKind::Forward || state.nocanon;
    let (path, search) = if raw {
        (Cow::Borrowed(path), None)
    } else if state.noencode {
        (Cow::Borrowed(path), req.args.as_deref())
    } else {
        let keep = req.ctx().runtime.core.allow_encoded_slashes.as_deref() == Some("nodecode");
        (encode_path(path, keep), req.args.as_deref())
    };
    let search = if state.noquery { None } else { search };
    if (raw || state.noencode) && has_non_vchar(&path) {
        req.log_error(
            "proxy_http",
            "error",
            "AH10415: To be forwarded path contains control characters or spaces",
        );
        return Err(403);
    }
    if search.is_some_and(has_non_vchar) {
        req.log_error(
            "proxy_http",
            "error",
            "AH10408: To be forwarded query string contains control characters or spaces",
        );
        return Err(403);
    }
    // Written into one string of the size it needs: every proxied request has its URL made.
    let mut out = String::with_capacity(
        scheme.len() + host.len() + path.len() + search.map_or(0, str::len) + 16,
    );
    out.extend(scheme.chars().map(|c| c.to_ascii_lowercase()));
    out.push_str("://");
    worker::push_host_port(&mut out, &host, port, default_port);
    out.push('/');
    out.push_str(&path);
    if let Some(query) = search {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

fn bad_url(req: &Request, url: &str, why: &str) -> Step<String> {
    req.log_error(
        "proxy_http",
        "error",
        &format!("AH01083: error parsing URL {url}: {why}"),
    );
    Err(400)
}

/// `apr_parse_addr_port`: a host (a bracketed IPv6 literal too) and an optional port.
fn split_host_port(text: &str) -> Option<(String, Option<u16>)> {
    if text.is_empty() {
        return None;
    }
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let close = v6.find(']')?;
        let after = &v6[close + 1..];
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (v6[..close].to_string(), port)
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (text.to_string(), None),
        }
    };
    if host.is_empty() && port.is_none() {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => {
            let n: u32 = p.parse().ok()?;
            if n == 0 || n > 65535 {
                return None;
            }
            Some(n as u16)
        }
    };
    Some((host.to_ascii_lowercase(), port))
}

/// The request fields Apache never passes on (besides those a Connection field names).
const HOP_BY_HOP_REQUEST: &[&str] = &["Proxy-Connection", "Keep-Alive", "Upgrade", "TE"];

/// The response fields Apache drops (besides those a Connection field names).
const HOP_BY_HOP_RESPONSE: &[&str] = &[
    "Keep-Alive",
    "Proxy-Authenticate",
    "TE",
    "Trailer",
    "Upgrade",
];

/// The fields a Connection header lists, and whether it said `close`.
fn connection_tokens(headers: &Headers) -> (Vec<String>, bool) {
    let mut names = Vec::new();
    let mut close = false;
    for (name, value) in &headers.0 {
        if !name.eq_ignore_ascii_case("Connection") {
            continue;
        }
        for token in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if token.eq_ignore_ascii_case("close") {
                close = true;
            }
            // Keep-Alive goes as a hop-by-hop field either way: nothing to note (nor allocate).
            if !token.eq_ignore_ascii_case("Keep-Alive") {
                names.push(token.to_string());
            }
        }
    }
    (names, close)
}

/// `:port` of this server for Via, empty for the scheme's own port.
fn server_port_text(req: &Request) -> String {
    let port = req.server_port();
    if port == req.default_port() {
        String::new()
    } else {
        format!(":{port}")
    }
}

/// The name Via gives this server (the virtual host's when the request's own name would be
/// the origin's, under UseCanonicalName Off).
fn via_name(req: &Request) -> String {
    let name = req.host_name();
    let named_by_request = req.dir.core.use_canonical_name.as_deref() != Some("on")
        && req.dir.core.use_canonical_name.as_deref() != Some("dns");
    if named_by_request {
        req.ctx().server_name.clone()
    } else {
        name
    }
}

/// This server's entry in Via (`1.1 name:port`, with Apache's version under ProxyVia Full).
fn via_text(req: &Request, via: Via) -> String {
    let entry = format!(
        "{} {}{}",
        protocol_number(req),
        via_name(req),
        server_port_text(req)
    );
    if via == Via::Full {
        format!("{entry} ({})", crate::build_info::APACHE_BASE_VERSION)
    } else {
        entry
    }
}

fn protocol_number(req: &Request) -> &'static str {
    match req.head.version {
        crate::http1::Version::Http09 => "0.9",
        crate::http1::Version::Http10 => "1.0",
        crate::http1::Version::Http11 => "1.1",
    }
}

/// The head of the request to the backend (without its framing fields and blank line), and
/// whether the backend connection must close after it.
fn request_head(
    req: &Request,
    conf: &ServerConf,
    dir: &Dir,
    url: &str,
    host_header: &str,
    env: &[(String, String)],
) -> Step<(String, bool)> {
    let force10 = crate::modules::env::get(env, "force-proxy-request-1.0").is_some();
    let close = force10 || crate::modules::env::get(env, "proxy-nokeepalive").is_some();
    let fields = &req.head.headers.0;
    let (listed, _) = connection_tokens(&req.head.headers);
    let preserve = dir.preserve_host();
    let host = if preserve {
        match req.head.headers.get("Host") {
            Some(h) => h,
            None => {
                let name = &req.ctx().server_name;
                req.log_error(
                    "proxy",
                    "warn",
                    &format!("AH01092: no HTTP 0.9 request (with no host line) on incoming request and preserve host set forcing hostname to be {name} for uri {}", req.uri),
                );
                name
            }
        }
    } else {
        host_header
    };
    let via = conf.via.unwrap_or(Via::Off);
    let forward_expect = dir.forward_100_continue != Some(false)
        && !force10
        && req
            .head
            .headers
            .get("Expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
    let drop_credentials =
        req.user.is_some() && crate::modules::env::get(env, "Proxy-Chain-Auth").is_none();
    // What is never passed on: the framing fields, Connection, what it lists, the hop-by-hop
    // fields, Host (sent first, above) and what the settings hold back.
    let dropped = |name: &str| {
        let named = |other: &str| name.eq_ignore_ascii_case(other);
        ["Transfer-Encoding", "Content-Length", "Connection", "Host"]
            .iter()
            .chain(HOP_BY_HOP_REQUEST)
            .any(|other| named(other))
            || listed.iter().any(|other| named(other))
            || force10 && named("Trailer")
            || via == Via::Block && named("Via")
            || !forward_expect && named("Expect")
            || drop_credentials && named("Proxy-Authorization")
    };
    // What this server adds, each merged into the client's field of that name when there is
    // one (`apr_table_mergen`), else after the client's fields.
    let mut added: [(&str, Option<std::borrow::Cow<str>>); 4] = [
        ("Via", None),
        ("X-Forwarded-For", None),
        ("X-Forwarded-Host", None),
        ("X-Forwarded-Server", None),
    ];
    if matches!(via, Via::On | Via::Full) {
        added[0].1 = Some(via_text(req, via).into());
    }
    if dir.add_headers() && proxy_request(req).is_some_and(|p| p.kind == ProxyKind::Reverse) {
        added[1].1 = Some(req.useragent.ip_text());
        added[2].1 = req.head.headers.get("Host").map(Into::into);
        added[3].1 = Some(req.ctx().server_name.as_str().into());
    }
    let version = if force10 { "HTTP/1.0" } else { "HTTP/1.1" };
    // Sized for the fields and the framing and Connection fields send_body adds, so that
    // the head is never moved as it grows.
    let room: usize = fields
        .iter()
        .map(|(n, v)| n.len() + v.len() + 4)
        .sum::<usize>()
        + added
            .iter()
            .filter_map(|(n, v)| Some(n.len() + v.as_ref()?.len() + 4))
            .sum::<usize>();
    let mut head = String::with_capacity(req.method.len() + url.len() + host.len() + room + 128);
    for piece in [
        &req.method,
        " ",
        url,
        " ",
        version,
        "\r\nHost: ",
        host,
        "\r\n",
    ] {
        head.push_str(piece);
    }
    // Apache's `headers_in` holds a repeated field once, its values joined by ", " where it
    // first came.
    for (at, (name, value)) in fields.iter().enumerate() {
        let same = |(other, _): &(String, String)| other.eq_ignore_ascii_case(name);
        if dropped(name) || fields[..at].iter().any(same) {
            continue;
        }
        for piece in [name.as_str(), ": ", value] {
            head.push_str(piece);
        }
        for (_, repeated) in fields[at + 1..].iter().filter(|field| same(field)) {
            head.push_str(", ");
            head.push_str(repeated);
        }
        if let Some((_, value)) = added.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            if let Some(value) = value.take() {
                head.push_str(", ");
                head.push_str(&value);
            }
        }
        head.push_str("\r\n");
    }
    for (name, value) in added {
        if let Some(value) = value {
            for piece in [name, ": ", &value, "\r\n"] {
                head.push_str(piece);
            }
        }
    }
    Ok((head, close))
}

/// The Host field Apache sends when it does not preserve the client's: the URL's host, with
/// its port unless that is 80 (whatever the scheme).
fn host_field(host: &str, port: Option<u16>) -> String {
    let mut field = String::with_capacity(host.len() + 8);
    worker::push_host_port(&mut field, host, port.unwrap_or(80), 80);
    field
}

/// What reaches the backend and how to reach it.
struct Target {
    /// The request line's URL: the path and query (the whole URL through a ProxyRemote).
    request_url: String,
    host_header: String,
    connect_host: String,
    connect_port: u16,
    /// Through a ProxyRemote: its credentials for Proxy-Authorization.
    remote_credentials: Option<String>,
    /// An https:// or wss:// backend: the TLS client, and the name SNI and the checks use.
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    tls_host: String,
}

fn target(req: &Request, conf: &ServerConf, url: &str) -> Option<Target> {
    let parsed = worker::parse_url(url)?;
    let scheme = lowercase(parsed.scheme);
    let default = worker::port_of_scheme(&scheme);
    let host = lowercase(parsed.host).into_owned();
    let port = parsed.port.unwrap_or(default);
    let rest = parsed.rest.split('#').next().unwrap_or_default();
    let path = if rest.is_empty() || rest.starts_with('?') {
        format!("/{rest}")
    } else {
        rest.to_string()
    };
    let remote = conf.remotes.iter().find(|remote| {
        if no_proxy(conf, &host) {
            return false;
        }
        if let Some(regex) = &remote.regex {
            return regex.is_match(url);
        }
        remote.scheme == "*"
            || (!remote.scheme.contains(':') && remote.scheme.eq_ignore_ascii_case(&scheme))
            || (remote.scheme.contains(':')
                && url.len() >= remote.scheme.len()
                && url[..remote.scheme.len()].eq_ignore_ascii_case(&remote.scheme))
    });
    let _ = req;
    Some(match remote {
        Some(remote) => Target {
            request_url: url.to_string(),
            host_header: host_field(&host, parsed.port),
            connect_host: remote.host.clone(),
            connect_port: remote.port,
            remote_credentials: remote.credentials.clone(),
            tls: None,
            tls_host: host.clone(),
        },
        None => Target {
            request_url: path,
            host_header: host_field(&host, parsed.port),
            tls_host: host.clone(),
            connect_host: host,
            connect_port: port,
            remote_credentials: None,
            tls: None,
        },
    })
}

/// `text` in lower case, borrowed when it is already (as URLs' schemes and hosts nearly
/// always are).
fn lowercase(text: &str) -> std::borrow::Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        text.to_ascii_lowercase().into()
    } else {
        text.into()
    }
}

/// NoProxy: a host that is, or ends with, a listed name or domain (`.example.com`).
fn no_proxy(conf: &ServerConf, host: &str) -> bool {
    conf.no_proxy.iter().any(|entry| {
        let entry = entry.to_ascii_lowercase();
        if entry.starts_with('.') {
            host.ends_with(&entry)
        } else {
            host == entry
        }
    })
}

/// The timeout for a worker's I/O: its own, ProxyTimeout, else the server's Timeout.
pub(super) fn io_timeout(req: &Request, conf: &ServerConf, worker: &WorkerDef) -> Duration {
    worker
        .params
        .timeout
        .or(conf.timeout)
        .unwrap_or_else(|| Duration::from_secs(req.ctx().runtime.core.timeout_secs().max(1)))
}

/// An open backend connection and whether it came from the pool.
struct Connection {
    /// The connection and its read buffer (a kept connection's, reused).
    reader: BufReader<Stream>,
    reused: bool,
    /// Reused without asking the socket whether the backend closed it meanwhile (see
    /// `Resend`).
    unchecked: bool,
    /// A kept connection's token in the event MPM's set (see `Kept::watch`).
    watch: Option<u64>,
}

/// `ap_proxy_acquire_connection` and `ap_proxy_connect_backend`: a kept connection, else a
/// new one; a worker in error is refused (AH00940), a failed connect puts it in error.
fn connect(
    req: &Request,
    conf: &ServerConf,
    worker: &WorkerDef,
    target: &Target,
    reuse: Reuse,
) -> Result<Connection, Unreachable> {
    let function = function_name(&worker.origin.scheme);
    let ignore_errors = worker.params.status_set('I');
    let port_for_log = worker.origin.port;
    if !ignore_errors && worker::in_error(&worker.name) {
        req.log_server_error(
            "proxy",
            "error",
            &format!(
                "AH00940: {function}: disabled connection for ({}:{port_for_log})",
                worker.hostname()
            ),
        );
        return Err(503.into());
    }
    let socket = proxy_request(req)
        .and_then(|p| p.socket.clone())
        .or_else(|| worker.socket.clone());
    if reuse != Reuse::Never && worker.reuses() {
        let trust_for = match reuse {
            Reuse::Unchecked => TRUSTED_IDLE,
            _ => Duration::ZERO,
        };
        if let Some((kept, checked)) =
            worker::Pool::take(&worker.name, worker.params.ttl, trust_for)
        {
            // A kept connection may have been opened for another worker of the same URL (a
            // member of another balancer): this worker's timeout holds for this request.
            let timeout = io_timeout(req, conf, worker);
            if kept.timeout != timeout {
                let _ = kept.reader.get_ref().set_timeouts(timeout);
            }
            return Ok(Connection {
                reader: kept.reader,
                reused: true,
                unchecked: !checked,
                watch: kept.watch,
            });
        }
    }
    let timeout = io_timeout(req, conf, worker);
    let connect_timeout = worker.params.connection_timeout.or(Some(timeout));
    let stream = if let Some(path) = socket {
        match std::os::unix::net::UnixStream::connect(&path) {
            Ok(s) => Stream::Unix(s),
            Err(e) => {
                req.log_server_error_cause(
                    "proxy",
                    "error",
                    &e,
                    &format!(
                        "AH02454: {function}: attempt to connect to Unix domain socket {} ({}:{port_for_log}) failed",
                        path.display(),
                        worker.hostname()
                    ),
                );
                return Err(disable(req, worker, function).into());
            }
        }
    } else {
        let host = target
            .connect_host
            .trim_start_matches('[')
            .trim_end_matches(']');
        let addresses: Vec<std::net::SocketAddr> = match crate::sys::resolve(host, libc::AF_UNSPEC)
        {
            Ok(a) if !a.is_empty() => a
                .into_iter()
                .map(|ip| std::net::SocketAddr::new(ip, target.connect_port))
                .collect(),
            Ok(_) => return Err(DnsFailure(libc::EAI_NONAME).into()),
            Err(code) => return Err(DnsFailure(code).into()),
        };
        let mut connected = None;
        let count = addresses.len();
        for (i, address) in addresses.iter().enumerate() {
            let keepalive = worker.params.keepalive == Some(true);
            match worker::connect_tcp(address, connect_timeout, conf.source_address, keepalive) {
                Ok(s) => {
                    connected = Some(s);
                    break;
                }
                Err(e) => {
                    let level = if i + 1 < count { "debug" } else { "error" };
                    req.log_server_error_cause(
                        "proxy",
                        level,
                        &e,
                        &format!(
                            "AH00957: {}: attempt to connect to {} ({}:{}) failed",
                            worker.origin.scheme,
                            sockaddr_text(address),
                            target.connect_host,
                            target.connect_port
                        ),
                    );
                }
            }
        }
        match connected {
            Some(s) => {
                if let Some(size) = worker
                    .params
                    .receive_buffer_size
                    .or(conf.receive_buffer_size)
                {
                    if size > 0 {
                        let _ =
                            crate::sys::set_int_option(&s, libc::SOL_SOCKET, libc::SO_RCVBUF, size);
                    }
                }
                match &target.tls {
                    Some(config) => {
                        let _ = s.set_read_timeout(Some(timeout));
                        let _ = s.set_write_timeout(Some(timeout));
                        match super::tls::connect(
                            s,
                            &target.tls_host,
                            std::sync::Arc::clone(config),
                        ) {
                            Ok(tls) => Stream::Tls(Box::new(tls)),
                            Err(e) => {
                                req.log_os_error(
                                    "ssl",
                                    "info",
                                    Some(&e),
                                    "AH02003: SSL Proxy connect failed",
                                );
                                return Err(Unreachable::Handshake);
                            }
                        }
                    }
                    None => Stream::Tcp(s),
                }
            }
            None => return Err(disable(req, worker, function).into()),
        }
    };
    let _ = stream.set_timeouts(timeout);
    worker::clear_error(&worker.name);
    let buffer_size = worker
        .params
        .io_buffer_size
        .or(conf.io_buffer_size)
        .unwrap_or(8192);
    Ok(Connection {
        reader: BufReader::with_capacity(buffer_size.max(8192), stream),
        reused: false,
        unchecked: false,
        watch: None,
    })
}

/// Apache's `%pI`: an address and its port.
fn sockaddr_text(address: &std::net::SocketAddr) -> String {
    format!(
        "{}:{}",
        crate::request::apr_ip_text(address.ip()),
        address.port()
    )
}

/// Why a backend could not be reached.
enum Unreachable {
    Status(u16),
    /// The TLS handshake with it failed.
    Handshake,
    /// Its name did not resolve (the resolver's code).
    Dns(i32),
}

struct DnsFailure(i32);

impl From<DnsFailure> for Unreachable {
    fn from(failure: DnsFailure) -> Unreachable {
        Unreachable::Dns(failure.0)
    }
}

impl From<u16> for Unreachable {
    fn from(status: u16) -> Unreachable {
        Unreachable::Status(status)
    }
}

/// No connection could be made: AH01114 for the request; a balancer member goes in error for
/// its retry time (AH00959) unless it ignores errors. 503.
fn disable(req: &Request, worker: &WorkerDef, function: &str) -> u16 {
    // ap_proxy_connect_backend puts the member in error before mod_proxy_http says it failed.
    if worker.balancer.is_some() && !worker.params.status_set('I') {
        let retry = worker.params.retry.unwrap_or(Duration::from_secs(60));
        if !retry.is_zero() {
            worker::set_error(&worker.name, retry);
        }
        req.log_server_error(
            "proxy",
            "error",
            &format!(
                "AH00959: ap_proxy_connect_backend disabling worker for ({}:{}) for {}s",
                worker.hostname(),
                worker.origin.port,
                retry.as_secs()
            ),
        );
    }
    req.log_error(
        "proxy_http",
        "error",
        &format!(
            "AH01114: {function}: failed to make connection to backend: {}",
            worker.hostname()
        ),
    );
    503
}

fn function_name(scheme: &str) -> &'static str {
    match scheme {
        "https" => "HTTPS",
        "ws" => "WS",
        "wss" => "WSS",
        _ => "HTTP",
    }
}

/// The status line and fields of the backend's answer.
struct Answer {
    status: u16,
    status_line: String,
    http10: bool,
    headers: Vec<(String, String)>,
    /// Bytes of the body read with the head (ProxyBadHeader StartBody's line).
    body_start: Vec<u8>,
}

enum HeadError {
    /// Nothing could be read (a closed or dead connection).
    NoStatus(io::Error),
    Corrupt(String),
    BadHeader,
}

/// One line of the backend's head, without its CR LF; an error at the end of input.
fn read_line(reader: &mut BufReader<Stream>, limit: usize) -> io::Result<String> {
    let mut line = String::new();
    read_line_into(reader, limit, &mut line)?;
    Ok(line)
}

/// `read_line` into `line` (cleared first), whose room is kept from line to line: a head's
/// lines cost no allocation of their own.
fn read_line_into(
    reader: &mut BufReader<Stream>,
    limit: usize,
    line: &mut String,
) -> io::Result<()> {
    line.clear();
    // A whole line in what is buffered (the common case: a head comes in one read) is taken
    // from the buffer as it is.
    loop {
        match reader.fill_buf() {
            Ok(_) => break,
            // A signal (a graceful restart's) is no reason to give up on the backend.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let buffered = reader.buffer();
    if let Some(end) = memchr::memchr(b'\n', buffered) {
        if end <= limit + 1 {
            let bytes = &buffered[..end];
            let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            // A backend's head is nearly always UTF-8 (ASCII): checked as such, the lossy
            // conversion (several times dearer) only for one that is not.
            match std::str::from_utf8(bytes) {
                Ok(text) => line.push_str(text),
                Err(_) => line.push_str(&String::from_utf8_lossy(bytes)),
            }
            reader.consume(end + 1);
            return Ok(());
        }
    }
    let mut bytes = Vec::new();
    let read = reader
        .by_ref()
        .take(limit as u64 + 2)
        .read_until(b'\n', &mut bytes)?;
    if read == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "end of file"));
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    } else if bytes.len() > limit {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
    }
    line.push_str(&String::from_utf8_lossy(&bytes));
    Ok(())
}

/// `apr_date_checkmask(line, "HTTP/#.# ###*")`.
fn is_status_line(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() >= 12
        && b.starts_with(b"HTTP/")
        && b[5].is_ascii_digit()
        && b[6] == b'.'
        && b[7].is_ascii_digit()
        && b[8] == b' '
        && b[9..12].iter().all(u8::is_ascii_digit)
}

/// Reads the status line and fields (`ap_proxy_read_headers`), folded lines joined.
fn read_answer(
    req: &Request,
    conf: &ServerConf,
    reader: &mut BufReader<Stream>,
    limit: usize,
) -> Result<Answer, HeadError> {
    if let Some(answer) = buffered_answer(reader, limit).map_err(HeadError::NoStatus)? {
        return Ok(answer);
    }
    let mut line = read_line(reader, limit).map_err(HeadError::NoStatus)?;
    if line.is_empty() {
        line = read_line(reader, limit).map_err(HeadError::NoStatus)?;
    }
    if !is_status_line(&line) {
        // An HTTP/0.9 answer: the line is body.
        let mut body_start = line.into_bytes();
        body_start.extend_from_slice(b"\r\n");
        return Ok(Answer {
            status: 200,
            status_line: "200 OK".into(),
            http10: true,
            headers: Vec::new(),
            body_start,
        });
    }
    if &line[5..6] != "1" || line.len() >= limit - 1 {
        return Err(HeadError::Corrupt(format!(
            "Corrupt status line returned by remote server: {line}"
        )));
    }
    let status: u16 = line[9..12].parse().unwrap_or(0);
    let status_line = status_text(&line);
    let http10 = &line[7..8] == "0";
    let mut headers: Vec<(String, String)> = Vec::with_capacity(12);
    let mut body_start = Vec::new();
    let bad = conf.bad_header.unwrap_or(BadHeader::IsError);
    // The status line's room serves each field line in turn.
    let mut field = line;
    loop {
        if read_line_into(reader, limit, &mut field).is_err() {
            return Err(HeadError::BadHeader);
        }
        if field.is_empty() {
            break;
        }
        // Folded continuation lines join the field before them.
        if field.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(field.trim());
                continue;
            }
        }
        let Some((name, value)) = field.split_once(':') else {
            if !is_status_line(&field) {
                match bad {
                    BadHeader::IsError => return Err(HeadError::BadHeader),
                    BadHeader::StartBody => {
                        if headers.is_empty() {
                            req.log_error(
                                "proxy_http",
                                "warn",
                                &format!(
                                    "AH01099: No HTTP headers returned by {} ({})",
                                    req.uri, req.method
                                ),
                            );
                        } else {
                            req.log_error(
                                "proxy_http",
                                "warn",
                                &format!("AH01098: Starting body due to bogus non-header in headers returned by {} ({})", req.uri, req.method),
                            );
                        }
                        body_start = std::mem::take(&mut field).into_bytes();
                        break;
                    }
                    BadHeader::Ignore => {}
                }
            }
            req.log_error(
                "proxy_http",
                "warn",
                &format!(
                    "AH01100: Ignoring bogus HTTP header returned by {} ({})",
                    req.uri, req.method
                ),
            );
            continue;
        };
        headers.push((name.to_string(), space_trimmed(value).to_string()));
    }
    Ok(Answer {
        status,
        status_line,
        http10,
        headers,
        body_start,
    })
}

/// The common answer read at once: a head that came whole in the first read, UTF-8, with a
/// well-formed status line and a colon in every field line, none folded, none over `limit`.
/// The same Answer the line-by-line reading makes of it, with one UTF-8 check and no copy
/// of its lines; `None` (nothing consumed) for anything else, which that reading then takes.
/// An error when the first read fails (not to wait for the backend twice).
fn buffered_answer(reader: &mut BufReader<Stream>, limit: usize) -> io::Result<Option<Answer>> {
    let buffered = loop {
        match reader.fill_buf() {
            Ok(buffered) => break buffered,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    Ok(parse_whole_head(buffered, limit).map(|(answer, end)| {
        reader.consume(end);
        answer
    }))
}

/// `buffered_answer`'s head parsed out of `buffered`, and where it ends.
fn parse_whole_head(buffered: &[u8], limit: usize) -> Option<(Answer, usize)> {
    if !buffered.starts_with(b"HTTP/") {
        return None;
    }
    // Each line, without its LF and the CR before it, and where the next starts.
    let line_at = |at: usize| -> Option<(&[u8], usize)> {
        let length = memchr::memchr(b'\n', &buffered[at..])?;
        let line = &buffered[at..at + length];
        Some((line.strip_suffix(b"\r").unwrap_or(line), at + length + 1))
    };
    // The head ends at the first empty line; it must all be here.
    let mut end = 0;
    loop {
        let (line, next) = line_at(end)?;
        end = next;
        if line.is_empty() {
            break;
        }
    }
    let head = std::str::from_utf8(&buffered[..end]).ok()?;
    let text = |from: usize, to: usize| &head[from..to];
    let (status, mut at) = line_at(0)?;
    let line = text(0, status.len());
    if !is_status_line(line) || &line[5..6] != "1" || line.len() >= limit - 1 {
        return None;
    }
    let mut headers = Vec::with_capacity(12);
    loop {
        let (field, next) = line_at(at)?;
        if field.is_empty() {
            break;
        }
        if field.len() > limit || matches!(field[0], b' ' | b'\t') {
            return None;
        }
        let colon = memchr::memchr(b':', field)?;
        let name = text(at, at + colon);
        let value = text(at + colon + 1, at + field.len());
        headers.push((name.to_string(), space_trimmed(value).to_string()));
        at = next;
    }
    let answer = Answer {
        status: line[9..12].parse().unwrap_or(0),
        status_line: status_text(line),
        http10: &line[7..8] == "0",
        headers,
        body_start: Vec::new(),
    };
    Some((answer, end))
}

/// What follows the protocol in a status line (`200 OK`; a bare code gets its space).
fn status_text(line: &str) -> String {
    if line.len() > 12 {
        line[9..].to_string()
    } else {
        format!("{} ", &line[9..12])
    }
}

/// `date_canon`: an RFC 850 or asctime date given in RFC 1123 form.
fn date_canon(value: String) -> String {
    if crate::http1::date::is_canonical(&value) {
        return value;
    }
    match crate::http1::date::parse(&value) {
        // Most backends write RFC 1123 already: kept as it came.
        Some(time) if crate::http1::date::formats_as(time, &value) => value,
        Some(time) => crate::http1::date::format(time),
        None => value,
    }
}

/// How the backend's body is delimited.
enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

/// The backend's body, read as the client takes it; the connection goes back to the pool
/// when the body ended cleanly and the backend keeps it.
struct BackendBody {
    reader: Option<BufReader<Stream>>,
    framing: Framing,
    left: u64,
    chunk_left: u64,
    done: bool,
    keep: Option<KeepTo>,
    buffer_size: usize,
    declared: Option<u64>,
    pending: Vec<u8>,
}

/// Where a connection goes back to, and how many idle ones its pool keeps.
struct KeepTo {
    worker: String,
    keep: usize,
    /// The I/O timeout the connection's socket has.
    timeout: Duration,
    watch: Option<u64>,
}

impl BackendBody {
    fn finish(&mut self) {
        self.done = true;
        if let (Some(reader), Some(keep)) = (self.reader.take(), self.keep.take()) {
            if reader.buffer().is_empty() {
                let kept = worker::Kept {
                    reader,
                    timeout: keep.timeout,
                    watch: keep.watch,
                };
                worker::Pool::give_back(&keep.worker, kept, keep.keep);
            }
        }
    }

    fn read_some(&mut self, max: usize) -> io::Result<Vec<u8>> {
        let reader = self
            .reader
            .as_mut()
            .ok_or_else(|| io::Error::other("backend connection gone"))?;
        // What the buffer holds (refilled once when empty), copied out at its own size.
        let available = reader.fill_buf()?;
        let n = available.len().min(max.max(1));
        let piece = available[..n].to_vec();
        reader.consume(n);
        Ok(piece)
    }

    fn chunk_size_line(&mut self) -> io::Result<u64> {
        let reader = self
            .reader
            .as_mut()
            .ok_or_else(|| io::Error::other("backend connection gone"))?;
        let line = read_line(reader, 8192)?;
        let size = line.split(';').next().unwrap_or("").trim();
        u64::from_str_radix(size, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))
    }
}

impl BodySource for BackendBody {
    fn next_piece(&mut self) -> io::Result<Option<Vec<u8>>> {
        if !self.pending.is_empty() {
            return Ok(Some(std::mem::take(&mut self.pending)));
        }
        if self.done {
            return Ok(None);
        }
        match self.framing {
            Framing::None => {
                self.finish();
                Ok(None)
            }
            Framing::Length(_) => {
                if self.left == 0 {
                    self.finish();
                    return Ok(None);
                }
                let want = (self.left as usize).min(self.buffer_size);
                let piece = self.read_some(want)?;
                if piece.is_empty() {
                    self.done = true;
                    self.reader = None;
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "backend closed the connection before the end of the body",
                    ));
                }
                self.left -= piece.len() as u64;
                Ok(Some(piece))
            }
            Framing::Chunked => {
                if self.chunk_left == 0 {
                    let size = self.chunk_size_line()?;
                    if size == 0 {
                        // Trailer fields up to the blank line.
                        loop {
                            let reader = self
                                .reader
                                .as_mut()
                                .ok_or_else(|| io::Error::other("gone"))?;
                            if read_line(reader, 8192)?.is_empty() {
                                break;
                            }
                        }
                        self.finish();
                        return Ok(None);
                    }
                    self.chunk_left = size;
                }
                let want = (self.chunk_left as usize).min(self.buffer_size);
                let piece = self.read_some(want)?;
                if piece.is_empty() {
                    self.done = true;
                    self.reader = None;
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "backend closed the connection inside a chunk",
                    ));
                }
                self.chunk_left -= piece.len() as u64;
                if self.chunk_left == 0 {
                    let reader = self
                        .reader
                        .as_mut()
                        .ok_or_else(|| io::Error::other("gone"))?;
                    read_line(reader, 8192)?;
                }
                Ok(Some(piece))
            }
            Framing::Close => {
                let piece = self.read_some(self.buffer_size)?;
                if piece.is_empty() {
                    self.done = true;
                    self.reader = None;
                    return Ok(None);
                }
                Ok(Some(piece))
            }
        }
    }

    fn declared_length(&self) -> Option<u64> {
        self.declared
    }
}

/// Writes the request body to the backend as it is read from the client: by length when the
/// client gave one (or the whole body came within the first 16 KiB), else chunked.
fn send_body(
    req: &mut Request,
    stream: &mut Stream,
    head: &str,
    ending: &str,
    force10: bool,
    send_chunked_allowed: bool,
) -> Step<bool> {
    const PREFETCH: usize = 16384 - 80;
    let declared = req.head.headers.get("Content-Length").is_some()
        && req.head.headers.get("Transfer-Encoding").is_none();
    let has_te = req.head.headers.get("Transfer-Encoding").is_some();
    let mut failed = false;
    // What went to the backend, for the balancer's traffic counts.
    let mut sent: u64 = 0;
    if declared {
        let length = req.body_length;
        let mut out = String::with_capacity(head.len() + ending.len() + 40);
        out.push_str(head);
        out.push_str("Content-Length: ");
        push_decimal(&mut out, length);
        out.push_str("\r\n");
        out.push_str(ending);
        out.push_str("\r\n");
        if stream.write_all(out.as_bytes()).is_err() {
            failed = true;
        }
        sent += out.len() as u64;
        let limit = req.dir.core.limit_request_body.unwrap_or(1 << 30);
        crate::request::input::read_body(req, limit, &mut |piece| {
            if !failed && stream.write_all(piece).is_err() {
                failed = true;
            }
            sent += piece.len() as u64;
            Ok(())
        })?;
        crate::modules::proxy_balancer::note_sent(req, sent);
        return Ok(!failed);
    }
    let mut buffered: Vec<u8> = Vec::new();
    let mut streaming = false;
    let limit = req.dir.core.limit_request_body.unwrap_or(1 << 30);
    let chunked_ok = send_chunked_allowed && !force10;
    crate::request::input::read_body(req, limit, &mut |piece| {
        if failed {
            return Ok(());
        }
        if streaming {
            let framed = [format!("{:x}\r\n", piece.len()).as_bytes(), piece, b"\r\n"].concat();
            sent += framed.len() as u64;
            if stream.write_all(&framed).is_err() {
                failed = true;
            }
            return Ok(());
        }
        buffered.extend_from_slice(piece);
        if buffered.len() > PREFETCH && chunked_ok {
            streaming = true;
            let mut out = head.to_string();
            out.push_str("Transfer-Encoding: chunked\r\n");
            out.push_str(ending);
            out.push_str("\r\n");
            out.push_str(&format!("{:x}\r\n", buffered.len()));
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(&buffered);
            bytes.extend_from_slice(b"\r\n");
            buffered.clear();
            sent += bytes.len() as u64;
            if stream.write_all(&bytes).is_err() {
                failed = true;
            }
        }
        Ok(())
    })?;
    if streaming {
        if !failed && stream.write_all(b"0\r\n\r\n").is_err() {
            failed = true;
        }
        crate::modules::proxy_balancer::note_sent(req, sent + 5);
        return Ok(!failed);
    }
    // The head, its framing and any body buffered so far, in one buffer of the size they need.
    let mut out = String::with_capacity(head.len() + ending.len() + 40 + buffered.len());
    out.push_str(head);
    if !buffered.is_empty() || has_te {
        out.push_str("Content-Length: ");
        push_decimal(&mut out, buffered.len() as u64);
        out.push_str("\r\n");
    }
    out.push_str(ending);
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&buffered);
    crate::modules::proxy_balancer::note_sent(req, bytes.len() as u64);
    Ok(stream.write_all(&bytes).is_ok())
}

/// The scheme handler: the request to the backend, its answer to the client.
pub fn handle(
    req: &mut Request,
    conf: &ServerConf,
    worker: &WorkerDef,
    url: &str,
) -> Step<Response> {
    let scheme = lowercase(url.split(':').next().unwrap_or(""));
    let Some(mut target) = target(req, conf, url) else {
        return Err(400);
    };
    if matches!(&*scheme, "https" | "wss") {
        // SSLProxyEngine of the server (or the backend's <Proxy> section) must be on.
        let settings = req
            .dir
            .typed
            .get::<super::tls::ProxyTls>()
            .cloned()
            .unwrap_or_default();
        let config = settings
            .enabled()
            .then(|| super::tls::client_config(&settings).ok())
            .flatten();
        let Some(config) = config else {
            req.log_error(
                "proxy",
                "error",
                &format!(
                    "AH00961: {}: failed to enable ssl support for {}:{} ({})",
                    function_name(&scheme),
                    target.connect_host,
                    target.connect_port,
                    target.connect_host
                ),
            );
            return Err(503);
        };
        target.tls = Some(config);
    }
    let dirs = std::sync::Arc::clone(&req.dir);
    let dir = dirs.typed.get::<Dir>().unwrap_or(&super::UNSET_DIR);
    let env = crate::request::environment(req);
    let (mut head, close) = request_head(
        req,
        conf,
        dir,
        &target.request_url,
        &target.host_header,
        &env,
    )?;
    if let Some(credentials) = &target.remote_credentials {
        head.push_str(&format!("Proxy-Authorization: {credentials}\r\n"));
    }
    let force10 = crate::modules::env::get(&env, "force-proxy-request-1.0").is_some();
    let send_chunked = crate::modules::env::get(&env, "proxy-sendcl").is_none();
    let has_body = req.body_length > 0 || req.head.headers.get("Transfer-Encoding").is_some();
    // terminate_headers: the backend is told whether the connection stays.
    let forward = proxy_request(req).is_some_and(|p| p.kind == ProxyKind::Forward);
    let reusable = !close && !forward && worker.reuses();
    // The client's Upgrade goes on when the worker allows it (upgrade=, or WebSocket for a
    // ws:// URL).
    let upgrade = req
        .head
        .headers
        .get("Upgrade")
        .filter(|_| !force10)
        .filter(|u| can_upgrade(worker, &scheme, u))
        .map(str::to_string);
    let ending: std::borrow::Cow<'static, str> = match (force10, &upgrade, reusable) {
        (true, _, _) => "".into(),
        (false, Some(protocol), _) => {
            format!("Connection: Upgrade\r\nUpgrade: {protocol}\r\n").into()
        }
        (false, None, true) => "Connection: Keep-Alive\r\n".into(),
        (false, None, false) => "Connection: close\r\n".into(),
    };
    // A request that can go again on a new connection takes a kept one without asking its
    // socket first (see `Reuse::Unchecked`).
    let resendable = upgrade.is_none()
        && matches!(req.method.as_str(), "GET" | "HEAD")
        && !has_body
        && req.head.headers.get("Content-Length").is_none();
    let reuse = match (reusable, resendable) {
        (false, _) => Reuse::Never,
        (true, false) => Reuse::Checked,
        (true, true) => Reuse::Unchecked,
    };
    let mut connection = match connect(req, conf, worker, &target, reuse) {
        Ok(c) => c,
        Err(unreachable) => return Err(unreachable_status(req, &target, unreachable)),
    };
    // A kept connection the backend closed meanwhile: once more on a new one (only while no
    // body was read from the client).
    let sent = send_body(
        req,
        connection.reader.get_mut(),
        &head,
        &ending,
        force10,
        send_chunked,
    )?;
    if !sent {
        if connection.reused && !has_body {
            connection = match connect(req, conf, worker, &target, Reuse::Never) {
                Ok(c) => c,
                Err(unreachable) => return Err(unreachable_status(req, &target, unreachable)),
            };
            if !send_body(
                req,
                connection.reader.get_mut(),
                &head,
                &ending,
                force10,
                send_chunked,
            )? {
                return Err(pass_failed(req, worker));
            }
        } else {
            return Err(pass_failed(req, worker));
        }
    }
    let resend = connection.unchecked.then_some(Resend {
        head,
        ending,
        force10,
        send_chunked,
    });
    let sent = Sent {
        reader: connection.reader,
        target,
        reusable,
        watch: connection.watch,
        upgrade,
        resend,
    };
    // The answer is waited for off this thread where the MPM allows it, on a plain
    // connection, with no protocol switch to follow.
    if req.may_wait() && sent.upgrade.is_none() && sent.reader.get_ref().plain() {
        req.suspend = crate::request::Suspend::Waiting(Box::new(AwaitAnswer {
            sent,
            url: url.to_string(),
            timeout: io_timeout(req, conf, worker),
        }));
        return Err(crate::request::WAITING);
    }
    receive(req, conf, dir, worker, sent, false)
}

/// A request sent to the backend: the connection its answer comes on, and what reading that
/// answer needs to know.
struct Sent {
    reader: BufReader<Stream>,
    /// The backend (its address as the error log names it, what a new connection needs).
    target: Target,
    reusable: bool,
    /// The event MPM's token for the socket, once a request waited on it (it stays with a
    /// kept connection).
    watch: Option<u64>,
    /// The protocol the client asked to switch to, where the worker allows it.
    upgrade: Option<String>,
    /// Sent on a kept connection taken unchecked: the request, to send again on a new one.
    resend: Option<Resend>,
}

/// How a request may take one of the worker's kept connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reuse {
    /// A new connection, whatever is kept.
    Never,
    /// A kept one its socket says is open with nothing to read (a system call, as Apache's
    /// `ap_proxy_is_socket_connected` makes it).
    Checked,
    /// A kept one used within TRUSTED_IDLE, as it is: a request that can simply be sent
    /// again (a GET or HEAD with no body) goes on it unasked, and should the backend have
    /// closed it meanwhile (its answer ends before a byte) it goes again on a new connection,
    /// as the check would have had it go in the first place. nginx reuses its upstream
    /// connections so; the check is one system call of the five a proxied request makes.
    Unchecked,
}

/// How long after its last answer a kept connection is taken unchecked. Backends close idle
/// connections (or answer them with a 408, which the check keeps from being read as the next
/// request's answer) after their keep-alive timeout, seconds at the least; under load a
/// connection comes back within milliseconds.
const TRUSTED_IDLE: Duration = Duration::from_secs(1);

/// What sending a request again takes: the head as it went, and how it was framed.
struct Resend {
    head: String,
    ending: std::borrow::Cow<'static, str>,
    force10: bool,
    send_chunked: bool,
}

/// A sent request whose answer the event MPM waits for (see `crate::request::BackendWait`).
struct AwaitAnswer {
    sent: Sent,
    /// The URL the worker was chosen by, to find it again.
    url: String,
    timeout: Duration,
}

impl crate::request::BackendWait for AwaitAnswer {
    fn fd(&self) -> std::os::fd::RawFd {
        self.sent.reader.get_ref().raw_fd()
    }

    fn watch(&self) -> Option<u64> {
        self.sent.watch
    }

    fn watched(&mut self, token: u64) {
        self.sent.watch = Some(token);
    }

    fn timeout(&self) -> Option<Duration> {
        Some(self.timeout)
    }

    fn resume(self: Box<Self>, req: &mut Request, timed_out: bool) -> Step<Response> {
        let conf = super::server_conf(req);
        let worker = super::resolve_worker(req, conf, &self.url);
        let dirs = std::sync::Arc::clone(&req.dir);
        let dir = dirs.typed.get::<Dir>().unwrap_or(&super::UNSET_DIR);
        receive(req, conf, dir, &worker, self.sent, timed_out)
    }
}

/// Reads the backend's answer to a request sent (skipping interim 1xx answers but a 101) and
/// makes the response of it; `timed_out`, the wait for it already ran out.
fn receive(
    req: &mut Request,
    conf: &ServerConf,
    dir: &Dir,
    worker: &WorkerDef,
    sent: Sent,
    timed_out: bool,
) -> Step<Response> {
    let limit = worker.params.response_field_size.unwrap_or(8192);
    let buffer_size = worker
        .params
        .io_buffer_size
        .or(conf.io_buffer_size)
        .unwrap_or(8192);
    let Sent {
        mut reader,
        target,
        reusable,
        mut watch,
        upgrade,
        mut resend,
    } = sent;
    let (connect_host, connect_port) = (&target.connect_host, target.connect_port);
    let answer = loop {
        let read = if timed_out {
            Err(HeadError::NoStatus(io::ErrorKind::TimedOut.into()))
        } else {
            read_answer(req, conf, &mut reader, limit)
        };
        match read {
            Ok(answer) if (100..200).contains(&answer.status) && answer.status != 101 => continue,
            Ok(answer) => break answer,
            // The backend had closed the kept connection taken unchecked: the request goes
            // again on a new one (whose answer this thread waits for).
            Err(HeadError::NoStatus(e))
                if resend.is_some()
                    && !matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
            {
                let again = resend.take().expect("checked above");
                let mut connection = match connect(req, conf, worker, &target, Reuse::Never) {
                    Ok(c) => c,
                    Err(unreachable) => return Err(unreachable_status(req, &target, unreachable)),
                };
                let sent = send_body(
                    req,
                    connection.reader.get_mut(),
                    &again.head,
                    &again.ending,
                    again.force10,
                    again.send_chunked,
                )?;
                if !sent {
                    return Err(pass_failed(req, worker));
                }
                reader = connection.reader;
                watch = connection.watch;
                continue;
            }
            Err(HeadError::NoStatus(e)) => {
                let timed_out =
                    e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut;
                // APR says a read that waited its time out is APR_TIMEUP.
                let e = if timed_out {
                    crate::log::AprStatus::error(crate::log::AprStatus::TIMEUP)
                } else {
                    e
                };
                req.log_os_error(
                    "proxy_http",
                    "error",
                    Some(&e),
                    &format!(
                        "AH01102: error reading status line from remote server {connect_host}:{connect_port}"
                    ),
                );
                // A timeout is Apache's 502 too, noted (`proxy_timedout`) for failontimeout.
                if timed_out {
                    crate::modules::proxy_balancer::note_timeout(req);
                }
                return Err(proxy_error_noted(
                    req,
                    502,
                    "Error reading from remote server",
                ));
            }
            Err(HeadError::Corrupt(message)) => return Err(proxy_error_noted(req, 502, &message)),
            Err(HeadError::BadHeader) => {
                req.log_error(
                    "proxy_http",
                    "warn",
                    &format!(
                        "AH01106: bad HTTP/1.1 header returned by {} ({})",
                        req.uri, req.method
                    ),
                );
                return Err(502);
            }
        }
    };
    // Apache counts the status line it read (without its CRLF) as read from the member.
    crate::modules::proxy_balancer::note_read(req, 9 + answer.status_line.len() as u64);
    if answer.status == 101 {
        return switch_protocols(req, conf, worker, answer, reader, upgrade);
    }
    let mut response = respond(
        req,
        conf,
        dir,
        worker,
        answer,
        reader,
        !reusable,
        buffer_size,
        watch,
    )?;
    // An answer that offers the protocol asked for (426, say) says so to the client.
    if let Some(protocol) = upgrade {
        response.headers.set("Connection", "Upgrade");
        response.headers.set("Upgrade", protocol);
    }
    Ok(response)
}

/// `ap_proxy_worker_can_upgrade`: the worker's `upgrade=` list (`*` for any), else WebSocket
/// for a ws:// or wss:// URL.
fn can_upgrade(worker: &WorkerDef, scheme: &str, protocol: &str) -> bool {
    match &worker.params.upgrade {
        Some(allowed) => {
            allowed == "*"
                || allowed.eq_ignore_ascii_case(protocol)
                || allowed
                    .split(|c: char| c == ',' || c.is_ascii_whitespace())
                    .any(|t| t.eq_ignore_ascii_case(protocol))
        }
        None => scheme.starts_with('w') && protocol.eq_ignore_ascii_case("WebSocket"),
    }
}

/// A 101 from the backend: the client gets it (the backend's fields, then Connection and
/// Upgrade) and the two connections are tunnelled into each other.
fn switch_protocols(
    req: &mut Request,
    conf: &ServerConf,
    worker: &WorkerDef,
    answer: Answer,
    reader: BufReader<Stream>,
    upgrade: Option<String>,
) -> Step<Response> {
    let offered = answer
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Upgrade"))
        .map(|(_, v)| v.clone());
    let protocol = match (&upgrade, &offered) {
        (Some(asked), Some(given)) if asked.eq_ignore_ascii_case(given) => asked.clone(),
        _ => {
            let message = format!(
                "Unexpected Upgrade: {} (expecting {})",
                offered.as_deref().unwrap_or("n/a"),
                upgrade.as_deref().unwrap_or("n/a")
            );
            return Err(proxy_error(req, 502, &message));
        }
    };
    let mut table = Headers(answer.headers);
    let (listed, _) = connection_tokens(&table);
    table
        .0
        .retain(|(n, _)| !n.eq_ignore_ascii_case("Connection"));
    for name in listed {
        table.0.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
    }
    for name in HOP_BY_HOP_RESPONSE {
        table.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }
    let mut head = String::from("HTTP/1.1 101 Switching Protocols\r\n");
    for (name, value) in &table.0 {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Connection: Upgrade\r\nUpgrade: {protocol}\r\n\r\n"
    ));
    let idle = io_timeout(req, conf, worker);
    Ok(Response {
        status: 101,
        headers: table,
        upgrade: Some(crate::request::Upgraded(Box::new(Tunnel {
            head: head.into_bytes(),
            backend: reader,
            idle,
        }))),
        server: req.server,
        ..Default::default()
    })
}

/// A client and a backend connection relaying each other's bytes (Apache's
/// `ap_proxy_tunnel_run`): until both have closed, or nothing moved for the idle time. The
/// worker thread stays with the tunnel, as Apache's does unless ProxyAsyncDelay is set.
struct Tunnel {
    head: Vec<u8>,
    backend: BufReader<Stream>,
    idle: Duration,
}

impl crate::request::Upgrade for Tunnel {
    fn run(self: Box<Self>, client: &mut dyn crate::server::transport::Transport) {
        let Tunnel {
            head,
            backend,
            idle,
        } = *self;
        let early = backend.buffer().to_vec();
        let mut backend = backend.into_inner();
        if client.write_all(&head).is_err() || client.write_all(&early).is_err() {
            return;
        }
        let _ = client.flush();
        // Reads wait briefly: a TLS record may need more bytes than the socket has yet.
        let brief = Some(Duration::from_millis(20));
        let _ = client.set_read_timeout(brief);
        let _ = backend.set_timeouts(Duration::from_millis(20));
        let (mut client_open, mut backend_open) = (true, true);
        let mut buf = vec![0u8; 16384];
        let mut quiet_since = std::time::Instant::now();
        while client_open || backend_open {
            let mut fds = Vec::new();
            if client_open {
                fds.push(client.raw_fd());
            }
            if backend_open {
                fds.push(backend.raw_fd());
            }
            let waiting = client_open && client.pending_input() > 0;
            let ready = if waiting {
                vec![true; fds.len()]
            } else {
                match crate::sys::poll_readable(&fds, 1000) {
                    Ok(ready) => ready,
                    Err(_) => return,
                }
            };
            let mut moved = false;
            let mut index = 0;
            if client_open {
                if ready[index] {
                    match client.read(&mut buf) {
                        Ok(0) => {
                            client_open = false;
                            backend.shutdown_write();
                        }
                        Ok(n) => {
                            moved = true;
                            if backend.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                        Err(e) if is_wait(&e) => {}
                        Err(_) => return,
                    }
                }
                index += 1;
            }
            if backend_open && ready[index] {
                match backend.read(&mut buf) {
                    Ok(0) => {
                        backend_open = false;
                        let _ = client.shutdown_write();
                    }
                    Ok(n) => {
                        moved = true;
                        if client.write_all(&buf[..n]).is_err() {
                            return;
                        }
                        let _ = client.flush();
                    }
                    Err(e) if is_wait(&e) => {}
                    Err(_) => return,
                }
            }
            if moved {
                quiet_since = std::time::Instant::now();
            } else if quiet_since.elapsed() >= idle {
                return;
            }
        }
    }
}

fn is_wait(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// The status for a backend that could not be reached (a failed lookup is `ap_proxyerror`'s
/// 500, logged with the resolver's reason).
fn unreachable_status(req: &mut Request, target: &Target, unreachable: Unreachable) -> u16 {
    match unreachable {
        Unreachable::Status(status) => status,
        Unreachable::Handshake => {
            super::proxy_error(req, 500, "Error during SSL Handshake with remote server")
        }
        Unreachable::Dns(code) => {
            let cause = io::Error::other(crate::log::AprStatus(crate::sys::eai_text(code).into()));
            super::proxy_error_with_cause(
                req,
                500,
                &format!("DNS lookup failure for: {}", target.connect_host),
                Some(&cause),
            )
        }
    }
}

fn pass_failed(req: &mut Request, worker: &WorkerDef) -> u16 {
    req.log_error(
        "proxy_http",
        "error",
        &format!(
            "AH01097: pass request body failed to {}:{} ({})",
            worker.hostname(),
            worker.origin.port,
            worker.hostname()
        ),
    );
    503
}

/// `ap_proxyerror` for the handler.
fn proxy_error_noted(req: &mut Request, status: u16, message: &str) -> u16 {
    proxy_error(req, status, message)
}

#[allow(clippy::too_many_arguments)]
fn respond(
    req: &mut Request,
    conf: &ServerConf,
    dir: &Dir,
    worker: &WorkerDef,
    answer: Answer,
    reader: BufReader<Stream>,
    close: bool,
    buffer_size: usize,
    watch: Option<u64>,
) -> Step<Response> {
    let Answer {
        status,
        status_line,
        http10,
        headers: fields,
        body_start,
    } = answer;
    let mut table = Headers(Vec::with_capacity(fields.len() + 2));
    let mut cookies_before: Vec<(String, String)> = req
        .headers_out
        .0
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Set-Cookie"))
        .cloned()
        .collect();
    for (name, value) in fields {
        let named = |names: &[&str]| names.iter().any(|n| name.eq_ignore_ascii_case(n));
        let value = if named(&["Date", "Expires", "Last-Modified"]) {
            date_canon(value)
        } else if named(&["Location", "Content-Location", "URI", "Destination"]) {
            super::reverse::location(req, dir, conf, &value)
        } else if named(&["Set-Cookie"]) {
            super::reverse::cookie(req, dir, &value)
        } else {
            value
        };
        table.0.push((name, value));
    }
    let mut backend_close = close || http10;
    let te = table.get("Transfer-Encoding").map(str::to_string);
    if te.is_some() && table.get("Content-Length").is_some() {
        table
            .0
            .retain(|(n, _)| !n.eq_ignore_ascii_case("Content-Length"));
        backend_close = true;
    }
    let (listed, said_close) = connection_tokens(&table);
    backend_close |= said_close;
    // Connection, what it lists and the hop-by-hop fields, in one pass.
    table.0.retain(|(n, _)| {
        !(std::iter::once(&"Connection")
            .chain(HOP_BY_HOP_RESPONSE)
            .any(|other| n.eq_ignore_ascii_case(other))
            || listed.iter().any(|other| n.eq_ignore_ascii_case(other)))
    });
    // The body's framing, read before the framing fields go.
    let framing =
        if req.method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
            Framing::None
        } else if te
            .as_deref()
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
        {
            Framing::Chunked
        } else if let Some(length) = table
            .get("Content-Length")
            .and_then(|l| l.trim().parse::<u64>().ok())
        {
            Framing::Length(length)
        } else {
            backend_close = true;
            Framing::Close
        };
    // A HEAD's answer keeps the backend's Transfer-Encoding where it stood (Apache's header
    // filter leaves it to a response that has no body to frame).
    if req.method != "HEAD" {
        table
            .0
            .retain(|(n, _)| !n.eq_ignore_ascii_case("Transfer-Encoding"));
    }
    let declared = table
        .get("Content-Length")
        .and_then(|l| l.trim().parse::<u64>().ok());
    let content_type = table.get("Content-Type").map(str::to_string);
    // Date and Server leave the table for the response's own (the first of each counts).
    let (mut date, mut server) = (None, None);
    table.0.retain_mut(|(n, value)| {
        let slot = if n.eq_ignore_ascii_case("Date") {
            &mut date
        } else if n.eq_ignore_ascii_case("Server") {
            &mut server
        } else {
            return true;
        };
        if slot.is_none() {
            *slot = Some(std::mem::take(value));
        }
        false
    });
    // Apache reads the backend's fields into a fresh table; when the backend set cookies,
    // those already set (by other modules) and the backend's go last, in that order.
    let mut merged = Headers::default();
    let backend_cookies: Vec<(String, String)> = table
        .0
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Set-Cookie"))
        .cloned()
        .collect();
    if backend_cookies.is_empty() {
        merged.0 = table.0;
    } else {
        merged.0 = table
            .0
            .into_iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("Set-Cookie"))
            .collect();
        merged.0.append(&mut cookies_before);
        merged.0.extend(backend_cookies);
    }
    if let via @ (Via::On | Via::Full) = conf.via.unwrap_or(Via::Off) {
        let text = via_text(req, via);
        merged.0.push(("Via".into(), text));
    }
    if dir.overrides_error(status) {
        // ProxyErrorOverride: this server's error page instead of the backend's.
        return Err(status);
    }
    let keep = (!backend_close && worker.reuses()).then(|| KeepTo {
        worker: worker.name.clone(),
        keep: worker
            .params
            .smax
            .or(worker.params.max)
            .map_or(64, |m| m.max(1) as usize),
        timeout: io_timeout(req, conf, worker),
        watch,
    });
    let left = match framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    let header_only = req.method == "HEAD";
    let mut body = BackendBody {
        reader: Some(reader),
        framing,
        left,
        chunk_left: 0,
        done: false,
        keep,
        buffer_size,
        declared: if body_start.is_empty() {
            declared
        } else {
            None
        },
        pending: body_start,
    };
    if matches!(body.framing, Framing::None) {
        body.finish();
    }
    let length_known = body.declared.is_some();
    let _ = http10;
    // A ranged request whose whole answer arrives in the first read is cut into its ranges
    // (Apache's byterange filter sees the end of the body in its first brigade only then).
    let small = matches!(body.framing, Framing::Length(n) if n as usize <= buffer_size);
    let body = if status == 200 && small && !header_only && req.head.headers.get("Range").is_some()
    {
        let mut whole = Vec::new();
        while let Some(piece) = body.next_piece().map_err(|_| 502u16)? {
            whole.extend_from_slice(&piece);
        }
        Body::Bytes(whole)
    } else {
        Body::Stream(BodyStream(Box::new(body)))
    };
    Ok(Response {
        status,
        status_line: Some(status_line),
        headers: merged,
        content_type,
        header_only,
        length_known,
        origin_date: date,
        origin_server: server,
        fields_in_place: true,
        body,
        server: req.server,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_values_lose_the_ascii_space_around_them_only() {
        assert_eq!(space_trimmed(" \t text/html \x0b\r"), "text/html");
        assert_eq!(space_trimmed("   "), "");
        assert_eq!(space_trimmed("\u{a0}x\u{a0}"), "\u{a0}x\u{a0}");
        assert_eq!(space_trimmed("a b"), "a b");
    }

    #[test]
    fn paths_are_escaped_as_apache_escapes_them() {
        assert_eq!(encode_path("a b/c%d", false), "a%20b/c%25d");
        assert!(matches!(
            encode_path("plain/path-1.txt", false),
            Cow::Borrowed(_)
        ));
        assert_eq!(encode_path("~user/x;y=z", false), "~user/x;y=z");
        assert_eq!(encode_path("a%2Fb", true), "a%2Fb");
        assert_eq!(encode_path("a%2Fb", false), "a%252Fb");
    }

    #[test]
    fn hosts_and_ports_split_as_apr_splits_them() {
        assert_eq!(
            split_host_port("Example.com:8080"),
            Some(("example.com".into(), Some(8080)))
        );
        assert_eq!(split_host_port("[::1]:81"), Some(("::1".into(), Some(81))));
        assert_eq!(split_host_port("h:0"), None);
        assert_eq!(split_host_port(""), None);
    }

    #[test]
    fn status_lines_match_apaches_mask() {
        assert!(is_status_line("HTTP/1.1 200 OK"));
        assert!(is_status_line("HTTP/1.0 404"));
        assert!(!is_status_line("HTTP/1.1 20 OK"));
    }

    #[test]
    fn a_whole_plain_head_is_read_at_once_and_anything_else_left_to_the_lines() {
        let text = b"HTTP/1.1 200 OK\r\nA: 1\r\nB:  two \r\nC:\r\n\r\nbody";
        let (answer, end) = parse_whole_head(text, 8192).expect("a plain head");
        assert_eq!(&text[end..], b"body");
        assert_eq!(
            (answer.status, answer.status_line.as_str()),
            (200, "200 OK")
        );
        assert!(!answer.http10 && answer.body_start.is_empty());
        let fields = [("A", "1"), ("B", "two"), ("C", "")];
        assert_eq!(
            answer.headers,
            fields.map(|(n, v)| (n.to_string(), v.to_string()))
        );
        let (answer, end) = parse_whole_head(b"HTTP/1.0 404\nX: y\n\n", 8192).unwrap();
        assert_eq!(
            (answer.status_line.as_str(), answer.http10, end),
            ("404 ", true, 19)
        );
        for other in [
            &b"HTTP/1.1 200 OK\r\nA: 1\r\n"[..],           // not whole yet
            b"\r\nHTTP/1.1 200 OK\r\n\r\n",                // a stray CRLF first
            b"HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n", // a folded line
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",        // ProxyBadHeader's to judge
            b"HTTP/2.0 200 OK\r\n\r\n",                    // a corrupt status line
            b"HTTP/1.1 200 \xe9\r\n\r\n",                  // not UTF-8
        ] {
            assert!(parse_whole_head(other, 8192).is_none(), "{other:?}");
        }
        // A field line over the limit (ProxyResponseFieldSize) is the lines' to refuse.
        let long = b"HTTP/1.1 200 OK\r\nLong: 1234567890123456\r\n\r\n";
        assert!(parse_whole_head(long, 21).is_none());
        assert!(parse_whole_head(long, 22).is_some());
    }
}
