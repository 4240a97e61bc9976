//! mod_proxy_fcgi: its directive table (ProxyFCGIBackendType, ProxyFCGISetEnvIf), the
//! canonicalisation of `fcgi://` URLs (Apache's `proxy_fcgi_canon`, PATH_INFO from
//! `proxy-fcgi-pathinfo`) and the scheme handler mod_proxy's core calls for an `fcgi://`
//! worker: it connects (TCP or a unix socket), sends the CGI environment Apache builds and the
//! request body as FastCGI records, logs the application's stderr, reads the script's headers
//! and streams the rest to the client. It knows nothing of ProxyPass, workers or pools: the
//! core hands it the URL and an [`FcgiBackend`] (so the module has no hooks of its own). Connections are never reused (Apache's fcgi
//! default, `enablereuse=off`).

mod record;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::http1::Headers;
use crate::request::{Body, BodySource, BodyStream, Request, Response, Step};
use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::OR_FILEINFO;
use rhttpd_directives::expr::{Expr, StringExpr};
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

pub static MODULE: ModuleDef = ModuleDef {
    id: "proxy_fcgi_module",
    source: "mod_proxy_fcgi.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "ProxyFCGIBackendType",
        Take1(backend_type),
        OR_FILEINFO,
        "Specify the type of FastCGI server: 'Generic', 'FPM'",
    )
    .implemented(),
    DirectiveDef::new(
        "ProxyFCGISetEnvIf",
        Take23(set_env_if),
        OR_FILEINFO,
        "expr-condition env-name expr-value",
    )
    .implemented(),
];

/// What kind of application answers: php-fpm (the default, which fixes up SCRIPT_FILENAME
/// itself) or any other FastCGI server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendType {
    Fpm,
    Generic,
}

/// One ProxyFCGISetEnvIf line: when the condition holds, the variable is set to the value
/// (a string expression, `$1`.. from the condition's match) or, for `!NAME`, removed.
#[derive(Debug)]
pub struct EnvFixup {
    condition: Expr,
    name: String,
    value: Option<StringExpr>,
}

/// Per-directory settings.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub backend_type: Option<BackendType>,
    /// ProxyFCGISetEnvIf lines, the enclosing sections' first.
    pub env_fixups: Vec<Arc<EnvFixup>>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            backend_type: child.backend_type.or(self.backend_type),
            env_fixups: self
                .env_fixups
                .iter()
                .chain(&child.env_fixups)
                .cloned()
                .collect(),
        }
    }
}

impl Dir {
    /// Apache's `FCGI_MAY_BE_FPM`: unless GENERIC was asked for.
    fn may_be_fpm(&self) -> bool {
        self.backend_type != Some(BackendType::Generic)
    }
}

fn backend_type(cmd: &mut Cmd, value: &str) -> SetResult {
    let kind = if value.eq_ignore_ascii_case("GENERIC") {
        BackendType::Generic
    } else if value.eq_ignore_ascii_case("FPM") {
        BackendType::Fpm
    } else {
        return Err(
            "ProxyFCGIBackendType requires one of the following arguments: 'GENERIC', 'FPM'".into(),
        );
    };
    cmd.dir_config::<Dir>().backend_type = Some(kind);
    Ok(())
}

fn set_env_if(cmd: &mut Cmd, condition: &str, name: &str, value: Option<&str>) -> SetResult {
    let parsed = cmd
        .parse_expr(condition)
        .map_err(|err| format!("Could not parse expression \"{condition}\": {err}"))?;
    let value = if let Some(unset) = name.strip_prefix('!') {
        if let Some(value) = value {
            return Err(format!(
                "Third argument (\"{value}\") is not allowed when using ProxyFCGISetEnvIf's \
                 unset mode ({name})"
            ));
        }
        if unset.is_empty() {
            return Err("ProxyFCGISetEnvIf: \"!\" is not a valid variable name".into());
        }
        None
    } else {
        // A missing value is the empty string.
        let text = value.unwrap_or("");
        Some(
            cmd.parse_string_expr(text)
                .map_err(|err| format!("Could not parse expression \"{text}\": {err}"))?,
        )
    };
    cmd.dir_config::<Dir>().env_fixups.push(Arc::new(EnvFixup {
        condition: parsed,
        name: name.to_string(),
        value,
    }));
    Ok(())
}

/// Where the FastCGI application listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FcgiAddress {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

/// Where and how to reach the FastCGI application, as the worker's parameters say.
#[derive(Debug, Clone)]
pub struct FcgiBackend {
    pub address: FcgiAddress,
    pub connect_timeout: Duration,
    /// The I/O timeout (ProxyTimeout / `timeout=`, else the server's Timeout).
    pub timeout: Duration,
    /// `flushpackets=on`: each piece of output goes to the client as it comes; otherwise
    /// output is gathered as Apache's core output filter holds it back.
    pub flush: bool,
}

impl FcgiBackend {
    /// The host name and port Apache's connection messages name: the worker's, or for a
    /// unix socket those of the URL (`fcgi://localhost/...` is `localhost:8000`).
    fn host_and_port(&self, url: &str) -> (String, u16) {
        if let FcgiAddress::Tcp { host, port } = &self.address {
            return (host.clone(), *port);
        }
        let netloc = url.split_once("://").map_or("", |(_, rest)| rest);
        let netloc = netloc.split('/').next().unwrap_or("");
        match split_host_port(netloc) {
            Some((host, port)) if !host.is_empty() => (host, port.unwrap_or(DEFAULT_PORT)),
            _ => ("localhost".into(), DEFAULT_PORT),
        }
    }
}

/// `ap_proxy_port_of_scheme("fcgi")`.
const DEFAULT_PORT: u16 = 8000;

/// How much of a request body Apache reads before it connects (`MAX_MEM_SPOOL`): a chunked
/// body that ends within it is sent with its length.
const PREFETCH: usize = 16384;

/// Apache's only request id: one request per connection, never multiplexed.
const REQUEST_ID: u16 = 1;

/// How much output Apache reads from the application at once (`AP_IOBUFSIZE`); also the
/// piece of a stderr record each AH01071 line shows.
const IO_BUFFER: usize = 8192;

/// The buffer records are read through. Its size only sets how much one read system call may
/// take (a record's content larger than what is buffered is read straight into its own
/// vector), and every request makes one: at 4 KiB it comes from the thread's allocation cache
/// (`tcache_max` in .cargo/config.toml), where 8 KiB took a slab from the arena and gave it
/// back each time (3k instructions a PHP request, 6% of them).
const READ_BUFFER: usize = 4096;

/// Output held back before it goes to the client when not flushing on every packet: Apache's
/// core output filter sets aside less than this much (`THRESHOLD_MIN_WRITE`) until more comes
/// or the response ends.
const HOLD_BACK: usize = 4096;

/// What [`canon`] leaves for [`handle`]: `proxy-fcgi-pathinfo=full` asks for the script to
/// be found on disk.
#[derive(Debug, Default)]
struct Pending {
    need_dirwalk: bool,
}

/// `host[:port]` (or `[v6]:port`) split; None when the port is not a number.
fn split_host_port(netloc: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = netloc.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return None,
        }
    } else {
        match netloc.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (netloc, None),
        }
    };
    let port = match port {
        Some("") | None => None,
        Some(text) => match text.parse::<u16>() {
            Ok(0) | Err(_) => return None,
            Ok(port) => Some(port),
        },
    };
    Some((host.to_ascii_lowercase(), port))
}

/// Apache's `ap_proxy_canonenc_ex` for a path of a reverse-proxied request: '/' kept, every
/// byte not a letter, digit or one of `~$-_.+!*'(),;:@&=` %-encoded (a '%' too: the path is
/// the decoded one).
fn encode_path(path: &str) -> String {
    const ALLOWED: &[u8] = b"~$-_.+!*'(),;:@&=/";
    let mut out = String::with_capacity(path.len());
    for &byte in path.as_bytes() {
        if byte.is_ascii_alphanumeric() || ALLOWED.contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Apache's `proxy_fcgi_canon`: `url` as ProxyPass or `SetHandler proxy:` made it (without
/// `proxy:` and any `unix:...|`), e.g. `fcgi://localhost/var/www/html/x.php`, in the form the
/// handler sees: host lower-cased, the default port (8000) left out, the path %-encoded
/// unless `raw_path` (the request came by `SetHandler proxy:`, or its mapping said `nocanon`
/// or `noencode`: Apache's `proxy-sethandler`, `proxy-nocanon`, `proxy-noencode` notes). The
/// `proxy-fcgi-pathinfo` variable splits PATH_INFO off the path here (`first-dot`,
/// `last-dot`, any other value the whole path) or asks for the script on disk (`full`).
/// A URL of another scheme comes back as it was.
pub fn canon(req: &mut Request, url: &str, raw_path: bool) -> Result<String, u16> {
    let Some(rest) = url
        .get(..5)
        .filter(|s| s.eq_ignore_ascii_case("fcgi:"))
        .map(|_| &url[5..])
    else {
        return Ok(url.to_string());
    };
    let Some(after) = rest.strip_prefix("//") else {
        let text = format!("AH01059: error parsing URL {rest}: Malformed URL");
        req.log_error("proxy_fcgi", "error", &text);
        return Err(400);
    };
    let (netloc, path) = after.split_once('/').unwrap_or((after, ""));
    // user:password@ is dropped.
    let hostport = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
    let Some((host, port)) = split_host_port(hostport).filter(|(h, _)| !h.is_empty()) else {
        let text = format!("AH01059: error parsing URL //{netloc}: Invalid host/port");
        req.log_error("proxy_fcgi", "error", &text);
        return Err(400);
    };
    let port = port.unwrap_or(DEFAULT_PORT);
    let may_be_fpm = req.dir.module::<Dir>().may_be_fpm();
    let path = if raw_path {
        // Not encoded, so no control characters may pass, nor for php-fpm a '?'.
        let bad = path
            .bytes()
            .any(|b| b.is_ascii_control() || (may_be_fpm && b == b'?'));
        if bad {
            let or_query = if may_be_fpm { " or '?'" } else { "" };
            let text = format!(
                "AH10414: To be forwarded path contains control characters{or_query} ({path})"
            );
            req.log_error("proxy_fcgi", "error", &text);
            return Err(403);
        }
        path.to_string()
    } else {
        encode_path(path)
    };
    let env = crate::request::environment(req);
    let pathinfo_type = env
        .iter()
        .rev()
        .find(|(n, _)| n.eq_ignore_ascii_case("proxy-fcgi-pathinfo"))
        .map(|(_, v)| v.clone());
    req.state.get_mut::<Pending>().need_dirwalk = false;
    if let Some(kind) = pathinfo_type {
        if kind.eq_ignore_ascii_case("full") {
            req.state.get_mut::<Pending>().need_dirwalk = true;
        } else if kind.eq_ignore_ascii_case("first-dot") || kind.eq_ignore_ascii_case("last-dot") {
            let dot = if kind.eq_ignore_ascii_case("first-dot") {
                path.find('.')
            } else {
                path.rfind('.')
            };
            // PATH_INFO is split off; the URL keeps the whole path (Apache cuts its copy of
            // the path after the filename was made of it).
            if let Some(slash) = dot.and_then(|dot| path[dot..].find('/').map(|s| dot + s)) {
                req.path_info = unescape_keep_2f(&path[slash..]);
            }
        } else {
            // The whole path, for the application to fix up.
            let whole = format!("/{path}");
            req.path_info = if kind.eq_ignore_ascii_case("unescape") {
                unescape_keep_2f(&whole)
            } else {
                whole
            };
        }
    }
    // Pieces appended, not format!: every PHP request has its URL made.
    let mut out = String::with_capacity(host.len() + path.len() + 16);
    out.push_str("fcgi://");
    crate::modules::proxy::worker::push_host_port(&mut out, &host, port, DEFAULT_PORT);
    out.push('/');
    out.push_str(&path);
    Ok(out)
}

/// `ap_unescape_url_keep2f`: %-escapes decoded, except `%2F` (and a bad escape kept as it is).
fn unescape_keep_2f(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' && at + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[at + 1..at + 3]).ok();
            if let Some(value) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                if value != b'/' && value != 0 {
                    out.push(value);
                    at += 3;
                    continue;
                }
            }
        }
        out.push(bytes[at]);
        at += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `proxy-fcgi-pathinfo=full`: the URL's path taken as a file on disk (as it is, then under
/// the DocumentRoot), split where a regular file ends; the rest is PATH_INFO.
fn find_script(req: &Request, path: &str) -> Option<(PathBuf, String)> {
    let root = PathBuf::from(req.document_root());
    let candidates = [PathBuf::from(path), root.join(path.trim_start_matches('/'))];
    for whole in candidates {
        let mut prefix = PathBuf::new();
        let mut components = whole.components();
        while let Some(component) = components.next() {
            prefix.push(component);
            match std::fs::metadata(&prefix) {
                Ok(meta) if meta.is_file() => {
                    let rest = components.as_path();
                    let info = if rest.as_os_str().is_empty() {
                        String::new()
                    } else {
                        format!("/{}", rest.display())
                    };
                    return Some((prefix, info));
                }
                Ok(meta) if meta.is_dir() => {}
                _ => break,
            }
        }
    }
    None
}

/// What SCRIPT_FILENAME becomes (Apache's `send_environment`): `proxy:` and the URL as it is
/// for php-fpm, which strips it itself; for a generic application the path alone, without a
/// query string that repeats QUERY_STRING.
fn script_filename(req: &mut Request, url: &str, dir: &Dir) -> String {
    let proxy_filename = crate::modules::proxy::proxy_name(url);
    if req.state.get::<Pending>().is_some_and(|p| p.need_dirwalk) {
        let path = url.split_once("://").map_or(url, |(_, rest)| rest);
        let path = path.find('/').map_or("/", |at| &path[at..]);
        if let Some((file, info)) = find_script(req, &unescape_keep_2f(path)) {
            req.path_info = info;
            req.filename = Some(file.clone());
            return file.to_string_lossy().into_owned();
        }
    }
    let mut stripped: Option<String> = proxy_filename
        .strip_prefix("proxy:balancer://")
        .map(str::to_string);
    if !dir.may_be_fpm() {
        if let Some(rest) = proxy_filename.strip_prefix("proxy:fcgi://") {
            stripped = Some(rest.to_string());
        }
        if let (Some(name), Some(args)) = (&mut stripped, req.args.as_deref()) {
            if !args.is_empty() {
                if let Some(at) = name.rfind('?') {
                    if name[at + 1..] == *args {
                        name.truncate(at);
                    }
                }
            }
        }
    }
    match stripped {
        Some(name) => name
            .find('/')
            .map(|at| name[at..].to_string())
            .unwrap_or_default(),
        None => proxy_filename,
    }
}

/// Apache's `fix_cgivars`: each ProxyFCGISetEnvIf line over the environment about to be
/// sent. Err when a condition cannot be evaluated (the environment is then not sent).
fn fix_cgivars(req: &Request, dir: &Dir, env: &mut Vec<(String, String)>) -> Result<(), ()> {
    for fixup in &dir.env_fixups {
        let context = crate::request::expr::RequestContext::new(req, env);
        let captures = match fixup.condition.eval_with_captures(&context) {
            Ok((true, captures)) => captures,
            Ok((false, _)) => continue,
            Err(err) => {
                let text = format!("AH10241: fix_cgivars: Condition eval returned -1: {err}");
                req.log_error("proxy_fcgi", "error", &text);
                return Err(());
            }
        };
        let Some(value_expr) = &fixup.value else {
            let name = &fixup.name[1..];
            env.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            continue;
        };
        let context = crate::request::expr::RequestContext::for_strings(req, env);
        match value_expr.eval_with_captures(&context, captures) {
            Ok(value) => {
                if !crate::modules::env::set_existing(&mut [env], &fixup.name, &value) {
                    env.push((fixup.name.clone(), value));
                }
            }
            Err(err) => {
                let text = format!(
                    "AH03514: Error evaluating expression for replacement of {}: '{err}'",
                    fixup.name
                );
                req.log_error("proxy_fcgi", "info", &text);
            }
        }
    }
    Ok(())
}

/// A connection to the application, either kind, or the end of one (`Closed`), behind one
/// vtable. std's sockets read into a `BufReader`'s buffer as it is; a `Read` of our own (an
/// enum of the two) has it zeroed first, 8 KiB a connection, and php-fpm's connections are
/// one a request (~4,100 instructions of a PHP request's ~60,000).
type Conn = Box<dyn Stream>;

/// What a connection to the application is used through.
trait Stream: Read + Write + std::os::fd::AsRawFd + Send {}

impl<T: Read + Write + std::os::fd::AsRawFd + Send> Stream for T {}

/// The connection once the application has ended the request (see `Exchange::end`).
struct Closed;

impl Read for Closed {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        Ok(0)
    }
}

impl Write for Closed {
    fn write(&mut self, _buf: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::NotConnected.into())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::os::fd::AsRawFd for Closed {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        -1
    }
}

/// Connects, as `ap_proxy_connect_backend` does, logging its failure as Apache does (the
/// first line is the server's, without the client).
fn connect(req: &Request, backend: &FcgiBackend, url: &str) -> Option<Conn> {
    let (host, port) = backend.host_and_port(url);
    let timeout = Some(backend.timeout).filter(|t| !t.is_zero());
    let connected = match &backend.address {
        FcgiAddress::Tcp { host: name, port } => {
            use std::net::ToSocketAddrs;
            let addrs: Vec<_> = match (name.as_str(), *port).to_socket_addrs() {
                Ok(addrs) => addrs.collect(),
                Err(err) => {
                    let text = format!(
                        "AH00898: DNS lookup failure for: {name} returned by {}",
                        req.uri
                    );
                    req.log_os_error("proxy", "error", Some(&err), &text);
                    return None;
                }
            };
            let mut last = None;
            let mut stream = None;
            for addr in addrs {
                match std::net::TcpStream::connect_timeout(&addr, backend.connect_timeout) {
                    Ok(s) => {
                        stream = Some(s);
                        break;
                    }
                    Err(err) => {
                        let text = format!(
                            "AH00957: FCGI: attempt to connect to {} ({host}:{port}) failed",
                            crate::request::apr_ip_text(addr.ip()) + &format!(":{}", addr.port())
                        );
                        last = Some((err, text));
                    }
                }
            }
            match stream {
                Some(s) => {
                    let _ = s.set_nodelay(true);
                    let _ = s
                        .set_read_timeout(timeout)
                        .and(s.set_write_timeout(timeout));
                    Ok(Box::new(s) as Conn)
                }
                None => Err(last),
            }
        }
        FcgiAddress::Unix(path) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(s) => {
                let _ = s
                    .set_read_timeout(timeout)
                    .and(s.set_write_timeout(timeout));
                Ok(Box::new(s) as Conn)
            }
            Err(err) => {
                let text = format!(
                    "AH02454: FCGI: attempt to connect to Unix domain socket {} ({host}:{port}) \
                     failed",
                    path.display()
                );
                Err(Some((err, text)))
            }
        },
    };
    match connected {
        Ok(conn) => Some(conn),
        Err(failure) => {
            if let Some((err, text)) = failure {
                log_server_os_error(req, "proxy", &err, &text);
            }
            let text = format!("AH01079: failed to make connection to backend: {host}");
            req.log_error("proxy_fcgi", "error", &text);
            None
        }
    }
}

/// A message of the server's (no client in it) with its system error, as mod_proxy's
/// connection failures are logged.
fn log_server_os_error(req: &Request, module: &str, err: &std::io::Error, text: &str) {
    if !crate::log::enabled_with(&req.dir.core.log_level, module, "error") {
        return;
    }
    let entry = crate::log::Entry {
        module,
        level: "error",
        message: text.as_bytes(),
        cause: Some(err),
        source: None,
        request: None,
    };
    write_entry(req.ctx().error_log.as_ref(), &entry);
}

fn write_entry(own: Option<&Arc<crate::log::OwnErrorLog>>, entry: &crate::log::Entry) {
    match own {
        Some(own) => {
            if let Some(line) = crate::log::render(entry, true) {
                own.write_line(&line);
            }
        }
        None => crate::log::write_entry(entry),
    }
}

/// What the body stream needs to log about its request once the handler has returned: the
/// client, the request's head and the server's log.
struct RequestLog {
    peer: std::net::SocketAddr,
    useragent: crate::request::ClientAddr,
    local: std::net::SocketAddr,
    head: crate::http1::RequestHead,
    server_name: String,
    host: String,
    /// The request's directory (its LogLevel).
    dir: Arc<crate::modules::DirRuntime>,
    own: Option<Arc<crate::log::OwnErrorLog>>,
    /// `:PORT` of the server (empty for 80), as AH01075 names the request's target.
    server_portstr: String,
}

impl RequestLog {
    fn of(req: &Request) -> RequestLog {
        let (host, port) = req.host_name_and_port();
        RequestLog {
            peer: req.conn.peer,
            useragent: req.useragent.clone(),
            local: req.conn.local,
            head: req.head.clone().into_owned(),
            server_name: req.ctx().server_name.clone(),
            host,
            dir: Arc::clone(&req.dir),
            own: req.ctx().error_log.clone(),
            server_portstr: if port == 80 {
                String::new()
            } else {
                let mut text = String::from(":");
                crate::http1::number::push_decimal(&mut text, u64::from(port));
                text
            },
        }
    }

    fn log(&self, level: &str, cause: Option<&std::io::Error>, message: &[u8]) {
        if !crate::log::enabled_with(&self.dir.core.log_level, "proxy_fcgi", level) {
            return;
        }
        let entry = crate::log::Entry {
            module: "proxy_fcgi",
            level,
            message,
            cause,
            source: None,
            request: Some(crate::log::RequestContext {
                peer: self.peer,
                useragent: Some(&self.useragent),
                local: self.local,
                head: Some(&self.head),
                server_name: &self.server_name,
                host: self.host.clone(),
            }),
        };
        write_entry(self.own.as_ref(), &entry);
    }

    /// AH01075, with what failed in parentheses when Apache names it.
    fn dispatch_failed(&self, cause: Option<&std::io::Error>, what: Option<&str>) {
        let what = what.map(|w| format!("({w})")).unwrap_or_default();
        let text = format!(
            "AH01075: Error dispatching request to {}: {what}",
            self.server_portstr
        );
        self.log("error", cause, text.as_bytes());
    }
}

/// One record from the application, its content whole.
enum Incoming {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    End,
    Other(u8),
}

/// Why reading from the application failed.
enum ReadFailure {
    /// Nothing came within the timeout (Apache's poll before each record gives up).
    Polling(std::io::Error),
    /// The record header could not be read (AH01067), with the cause.
    Header(std::io::Error),
    /// A header Apache refuses: its message.
    Bogus(String),
    /// The content or padding could not be read.
    Content(std::io::Error, &'static str),
}

impl ReadFailure {
    fn is_timeout(&self) -> bool {
        let timed_out = |e: &std::io::Error| {
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )
        };
        match self {
            ReadFailure::Polling(e) | ReadFailure::Header(e) | ReadFailure::Content(e, _) => {
                timed_out(e)
            }
            ReadFailure::Bogus(_) => false,
        }
    }

    /// Logs it as Apache's `dispatch` does, then AH01075.
    fn log(&self, log: &RequestLog) {
        match self {
            ReadFailure::Polling(err) => {
                log.dispatch_failed(Some(&apr_cause(err)), Some("polling"))
            }
            ReadFailure::Header(err) => {
                log.log("error", None, b"AH01067: Failed to read FastCGI header");
                log.dispatch_failed(Some(&apr_cause(err)), None);
            }
            ReadFailure::Bogus(text) => {
                log.log("error", None, text.as_bytes());
                let invalid = std::io::Error::from_raw_os_error(22);
                log.dispatch_failed(Some(&invalid), None);
            }
            ReadFailure::Content(err, what) => {
                if *what == "padding" {
                    log.log(
                        "error",
                        Some(&apr_cause(err)),
                        b"AH02537: Error occurred reading padding",
                    );
                    log.dispatch_failed(Some(&apr_cause(err)), None);
                } else {
                    log.dispatch_failed(Some(&apr_cause(err)), Some(what));
                }
            }
        }
    }
}

/// The APR status Apache reports for a failed read: the end of the stream is APR_EOF and a
/// read timeout APR_TIMEUP, not errnos.
fn apr_cause(err: &std::io::Error) -> std::io::Error {
    match err.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            crate::log::AprStatus::error("(70014)End of file found")
        }
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            crate::log::AprStatus::error("(70007)The timeout specified has expired")
        }
        _ => match err.raw_os_error() {
            Some(code) => std::io::Error::from_raw_os_error(code),
            None => std::io::Error::new(err.kind(), err.to_string()),
        },
    }
}

/// Reads one record (its padding dropped), as Apache's `dispatch` checks it.
fn read_record(conn: &mut impl std::io::BufRead) -> Result<Incoming, ReadFailure> {
    // Apache waits for the connection to be readable before each record: a timeout there is
    // the poll's, not the header's.
    if let Err(err) = conn.fill_buf() {
        let timed_out = matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        );
        return Err(if timed_out {
            ReadFailure::Polling(err)
        } else {
            ReadFailure::Header(err)
        });
    }
    let mut head = [0u8; record::HEADER_LEN];
    conn.read_exact(&mut head).map_err(ReadFailure::Header)?;
    let head = record::Header::parse(&head);
    if head.version != record::VERSION_1 {
        return Err(ReadFailure::Bogus(format!(
            "AH01068: Got bogus version {}",
            head.version
        )));
    }
    if head.request_id != REQUEST_ID {
        return Err(ReadFailure::Bogus(format!(
            "AH01069: Got bogus rid {}, expected {REQUEST_ID}",
            head.request_id
        )));
    }
    let mut content = vec![0u8; head.content_len as usize];
    conn.read_exact(&mut content)
        .map_err(|e| ReadFailure::Content(e, "reading response body"))?;
    let mut padding = [0u8; 255];
    conn.read_exact(&mut padding[..head.padding_len as usize])
        .map_err(|e| ReadFailure::Content(e, "padding"))?;
    Ok(match head.kind {
        record::STDOUT => Incoming::Stdout(content),
        record::STDERR => Incoming::Stderr(content),
        record::END_REQUEST => Incoming::End,
        other => Incoming::Other(other),
    })
}

/// The application's stderr, to the error log as Apache writes it: one line per piece it
/// reads.
fn log_stderr(log: &RequestLog, content: &[u8]) {
    for piece in content.chunks(IO_BUFFER) {
        let mut text = b"AH01071: Got error '".to_vec();
        text.extend_from_slice(piece);
        text.push(b'\'');
        log.log("error", None, &text);
    }
}

/// The script's header block (up to the blank line), parsed as `ap_scan_script_header_err`
/// does for mod_proxy_fcgi.
struct ScriptHeaders {
    status: Option<u16>,
    status_line: Option<String>,
    content_type: Option<String>,
    /// What goes to the error headers (merged, Set-Cookie kept apart).
    headers: Headers,
    /// What goes to the response's own headers, sent after those.
    own: Headers,
}

/// Parses the header block; Err with the offending line when one has no colon.
fn parse_headers(block: &[u8]) -> Result<ScriptHeaders, String> {
    let mut parsed = ScriptHeaders {
        status: None,
        status_line: None,
        content_type: None,
        headers: Headers::default(),
        own: Headers::default(),
    };
    let text = String::from_utf8_lossy(block);
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(line.to_string());
        };
        let value = value.trim_start();
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        if is("content-type") {
            // The media type is lower-cased, its parameters kept (`ap_content_type_tolower`).
            let value = value.trim_end();
            let mut content_type = value.to_string();
            let media = value.find(';').unwrap_or(value.len());
            content_type[..media].make_ascii_lowercase();
            parsed.content_type = Some(content_type);
        } else if is("status") {
            let digits = value.bytes().take_while(u8::is_ascii_digit).count();
            parsed.status = Some(value[..digits].parse().unwrap_or(0));
            parsed.status_line = Some(value.to_string());
        } else if is("content-length") || is("transfer-encoding") {
            // The application's framing is FastCGI's: the length and coding are the core's
            // to choose from what is actually sent.
        } else if is("location") || is("content-range") || is("etag") || is("last-modified") {
            // These go to the response's own headers (the others to its error headers, which
            // Apache sends first); a repeat replaces.
            parsed.own.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            parsed.own.0.push((name.to_string(), value.to_string()));
        } else {
            parsed.headers.0.push((name.to_string(), value.to_string()));
        }
    }
    Ok(parsed)
}

/// The connection, once the request is sent: reading it yields the response.
struct Exchange {
    conn: std::io::BufReader<Conn>,
    log: RequestLog,
    flush: bool,
    /// Output read with the headers, not yet handed on.
    pending: Vec<u8>,
    /// The empty STDOUT record came (the body is complete).
    stdout_ended: bool,
    ended: bool,
}

impl Exchange {
    /// The END_REQUEST record came: the connection is closed now rather than once the answer
    /// has gone out to the client. The application is done with it, and may be waiting for
    /// this side to close it (php-fpm reads until it does): its process is free for the next
    /// request sooner, which with a pool of a few children is what throughput hangs on. What
    /// might follow the record is past the end and would be dropped anyway.
    fn end(&mut self) {
        self.ended = true;
        self.conn = std::io::BufReader::with_capacity(0, Box::new(Closed));
    }

    /// Reads until there is output to hand on (true) or the output has ended (false).
    fn first_data(&mut self) -> Result<bool, ReadFailure> {
        while self.pending.is_empty() && !self.stdout_ended && !self.ended {
            match read_record(&mut self.conn)? {
                Incoming::Stdout(data) if data.is_empty() => self.stdout_ended = true,
                Incoming::Stdout(data) => self.pending = data,
                Incoming::Stderr(data) => log_stderr(&self.log, &data),
                Incoming::End => self.end(),
                Incoming::Other(kind) => {
                    let text = format!("AH01072: Got bogus record {kind}");
                    self.log.log("error", None, text.as_bytes());
                }
            }
        }
        Ok(!self.pending.is_empty())
    }

    /// Reads to the END_REQUEST record, logging stderr on the way (output past the end of
    /// the body is dropped).
    fn drain(&mut self) -> Result<(), ReadFailure> {
        while !self.ended {
            match read_record(&mut self.conn)? {
                Incoming::Stderr(data) => log_stderr(&self.log, &data),
                Incoming::End => self.end(),
                Incoming::Other(kind) => {
                    let text = format!("AH01072: Got bogus record {kind}");
                    self.log.log("error", None, text.as_bytes());
                }
                Incoming::Stdout(_) => {}
            }
        }
        Ok(())
    }
}

impl BodySource for Exchange {
    fn next_piece(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            let hold = if self.flush { 1 } else { HOLD_BACK };
            if !self.pending.is_empty() && (self.pending.len() >= hold || self.ended) {
                return Ok(Some(std::mem::take(&mut self.pending)));
            }
            if self.ended {
                return Ok(None);
            }
            match read_record(&mut self.conn) {
                Ok(Incoming::Stdout(data)) if data.is_empty() => self.stdout_ended = true,
                Ok(Incoming::Stdout(data)) => {
                    if !self.stdout_ended {
                        self.pending.extend_from_slice(&data);
                    }
                }
                Ok(Incoming::Stderr(data)) => log_stderr(&self.log, &data),
                Ok(Incoming::End) => self.end(),
                Ok(Incoming::Other(kind)) => {
                    let text = format!("AH01072: Got bogus record {kind}");
                    self.log.log("error", None, text.as_bytes());
                }
                Err(failure) => {
                    failure.log(&self.log);
                    if self.stdout_ended {
                        // The response was complete when the application went away.
                        self.ended = true;
                        continue;
                    }
                    return Err(std::io::Error::other("the FastCGI application failed"));
                }
            }
        }
    }

    fn finished(&self) -> bool {
        self.ended && self.pending.is_empty()
    }
}

/// mod_proxy_fcgi's scheme handler: `url` is the canonical URL ([`canon`]'s result), e.g.
/// `fcgi://localhost/var/www/html/info.php`.
pub fn handle(req: &mut Request, url: &str, backend: &FcgiBackend) -> Step<Response> {
    let dir = req.dir.module::<Dir>().into_owned();
    let log = RequestLog::of(req);
    // A chunked request body is read whole first; CONTENT_LENGTH says its length when it is
    // within what Apache prefetches (a longer one Apache streams, with no CONTENT_LENGTH).
    let chunked = req.head.headers.get("Transfer-Encoding").is_some();
    // LimitRequestBody does not apply to a proxied request (Apache's HTTP_IN filter gives one
    // no limit).
    let limit = 0;
    let mut spooled: Option<Vec<u8>> = None;
    if chunked {
        let mut whole = Vec::new();
        crate::request::input::read_body(req, limit, &mut |piece: &[u8]| {
            whole.extend_from_slice(piece);
            Ok(())
        })?;
        spooled = Some(whole);
    }
    let saved_filename = req.filename.clone();
    let saved_path_info = req.path_info.clone();
    let filename = script_filename(req, url, &dir);
    let mut env = crate::modules::cgi::script_environment(req, Path::new(&filename));
    if req.state.get::<Pending>().is_some_and(|p| p.need_dirwalk) {
        // The walk's result named the script only for its environment.
        req.filename = saved_filename;
        req.path_info = saved_path_info;
    }
    if let Some(body) = spooled.as_ref().filter(|b| b.len() <= PREFETCH) {
        env.retain(|(n, _)| n != "HTTP_TRANSFER_ENCODING");
        let length = body.len().to_string();
        if !crate::modules::env::set_existing(&mut [&mut env], "CONTENT_LENGTH", &length) {
            env.push(("CONTENT_LENGTH".into(), length));
        }
    }
    // The environment is encoded before connecting: an application waiting in accept(2)
    // (php-fpm) wakes as it is connected to, and should find the request there rather than
    // sleep again until it comes. ProxyFCGISetEnvIf lines, whose evaluation may log, run once
    // connected, as Apache runs them (for a backend that is down, only that is logged).
    let encoded = dir
        .env_fixups
        .is_empty()
        .then(|| record::params(REQUEST_ID, &env));
    let Some(mut conn) = connect(req, backend, url) else {
        return Err(503);
    };
    let encoded = match encoded {
        Some(encoded) => encoded,
        None => match fix_cgivars(req, &dir, &mut env) {
            Err(()) => {
                let err = std::io::Error::other(
                    "(20014)Internal error (specific information not available)",
                );
                let text = format!(
                    "AH01074: Failed writing Environment to {}:",
                    log.server_portstr
                );
                req.log_os_error("proxy_fcgi", "error", Some(&err), &text);
                return Err(503);
            }
            Ok(()) => record::params(REQUEST_ID, &env),
        },
    };
    let (params, skipped) = encoded;
    for name in skipped {
        let text = format!(
            "AH02536: couldn't encode envvar '{name}' in {} bytes",
            record::PARAMS_RECORD_LIMIT
        );
        req.log_error("proxy_fcgi", "warn", &text);
    }
    // BEGIN_REQUEST and the environment go out with the first piece of the body, or with the
    // empty STDIN that ends it: a request without a body is one write.
    // Room for the STDIN record that ends a request without a body (or heads its first
    // piece) too: one allocation where growing it took two more.
    let begin = record::begin_request(REQUEST_ID, false);
    let mut unsent = Vec::with_capacity(begin.len() + params.len() + record::HEADER_LEN);
    unsent.extend_from_slice(&begin);
    unsent.extend_from_slice(&params);
    let mut begun = false;
    let mut send_failure: Option<(std::io::Error, bool)> = None;
    let mut send = |conn: &mut Conn, unsent: &mut Vec<u8>, piece: &[u8]| {
        unsent.extend_from_slice(&record::stdin(REQUEST_ID, piece));
        let written = conn.write_all(unsent);
        unsent.clear();
        let first = !std::mem::replace(&mut begun, true);
        written.map_err(|err| (err, first))
    };
    let sent = match &spooled {
        Some(body) => match send(&mut conn, &mut unsent, body) {
            Ok(()) => Ok(()),
            Err(failure) => {
                send_failure = Some(failure);
                Err(503)
            }
        },
        None => crate::request::input::read_body(req, limit, &mut |piece: &[u8]| {
            if send_failure.is_none() {
                if let Err(failure) = send(&mut conn, &mut unsent, piece) {
                    send_failure = Some(failure);
                }
            }
            Ok(())
        }),
    };
    if let (Err(status), None) = (sent, &send_failure) {
        log.dispatch_failed(None, Some("reading input brigade"));
        return Err(status);
    }
    if send_failure.is_none() {
        unsent.extend_from_slice(&record::stdin_end(REQUEST_ID));
        if let Err(err) = conn.write_all(&unsent) {
            send_failure = Some((err, !begun));
        }
    }
    match send_failure {
        // Apache's first write is BEGIN_REQUEST's.
        Some((err, true)) => {
            let text = format!("AH01073: Failed Writing Request to {}:", log.server_portstr);
            req.log_os_error("proxy_fcgi", "error", Some(&err), &text);
            return Err(503);
        }
        Some((err, false)) => {
            let what = if unsent.is_empty() {
                "sending stdin"
            } else {
                "sending empty stdin"
            };
            log.dispatch_failed(Some(&err), Some(what));
            return Err(503);
        }
        None => {}
    }
    let sent = Sent {
        conn,
        log,
        filename,
        flush: backend.flush,
    };
    // The application's answer is waited for off this thread where the MPM allows it.
    if req.may_wait() {
        let timeout = Some(backend.timeout).filter(|t| !t.is_zero());
        req.suspend = crate::request::Suspend::Waiting(Box::new(AwaitOutput { sent, timeout }));
        return Err(crate::request::WAITING);
    }
    receive(req, sent, false)
}

/// A request sent to the application: the connection its answer comes on, and what reading
/// that answer needs.
struct Sent {
    conn: Conn,
    log: RequestLog,
    /// SCRIPT_FILENAME, which the messages about the script's headers name.
    filename: String,
    flush: bool,
}

/// A sent request whose answer the event MPM waits for (see `crate::request::BackendWait`).
struct AwaitOutput {
    sent: Sent,
    timeout: Option<Duration>,
}

impl crate::request::BackendWait for AwaitOutput {
    fn fd(&self) -> std::os::fd::RawFd {
        self.sent.conn.as_raw_fd()
    }

    /// A connection is made for each request (and closing it ends its registration).
    fn watch(&self) -> Option<u64> {
        None
    }

    fn watched(&mut self, _token: u64) {}

    fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    fn resume(self: Box<Self>, req: &mut Request, timed_out: bool) -> Step<Response> {
        receive(req, self.sent, timed_out)
    }
}

/// Reads the application's answer to a request sent and makes the response of it;
/// `timed_out`, the wait for it already ran out.
fn receive(req: &mut Request, sent: Sent, timed_out: bool) -> Step<Response> {
    let Sent {
        conn,
        log,
        filename,
        flush,
    } = sent;
    let mut conn = std::io::BufReader::with_capacity(READ_BUFFER, conn);
    // Records until the blank line that ends the script's headers.
    let mut output = Vec::new();
    let mut header_end = record::HeaderEnd::default();
    let mut ended = false;
    let mut stdout_ended = false;
    let mut waited_out = timed_out;
    let body_start = loop {
        let read = if std::mem::take(&mut waited_out) {
            Err(ReadFailure::Polling(std::io::ErrorKind::TimedOut.into()))
        } else {
            read_record(&mut conn)
        };
        match read {
            Ok(Incoming::Stdout(data)) if data.is_empty() => stdout_ended = true,
            Ok(Incoming::Stdout(data)) => {
                let before = output.len();
                output.extend_from_slice(&data);
                if let Some(at) = header_end.feed(&data) {
                    break before + at;
                }
            }
            Ok(Incoming::Stderr(data)) => log_stderr(&log, &data),
            Ok(Incoming::End) => {
                // The application ended with no complete header block: nothing was sent.
                ended = true;
                break output.len();
            }
            Ok(Incoming::Other(kind)) => {
                let text = format!("AH01072: Got bogus record {kind}");
                log.log("error", None, text.as_bytes());
            }
            Err(failure) => {
                failure.log(&log);
                return Err(if failure.is_timeout() { 504 } else { 503 });
            }
        }
    };
    if ended && header_end != record::HeaderEnd::Done {
        return Ok(Response {
            status: 200,
            server: req.server,
            ..Default::default()
        });
    }
    let rest = output.split_off(body_start);
    let headers = match parse_headers(&output) {
        Ok(headers) => headers,
        Err(line) => {
            let name = filename.rsplit('/').next().unwrap_or_default();
            let shown: String = line.chars().take(30).collect();
            let text = format!("malformed header from script '{name}': Bad header: {shown}");
            req.log_error("proxy_fcgi", "error", &text);
            log.log("error", None, b"AH01070: Error parsing script headers");
            log.dispatch_failed(Some(&std::io::Error::from_raw_os_error(22)), None);
            return Err(500);
        }
    };
    let ScriptHeaders {
        status,
        status_line,
        content_type,
        headers,
        own,
    } = headers;
    // A response that has no body has no type either.
    let content_type = content_type.filter(|_| !matches!(status, Some(204 | 304)));
    if let Some(code) = status.filter(|s| !(100..600).contains(s)) {
        let name = filename.rsplit('/').next().unwrap_or_default();
        let shown: String = status_line
            .as_deref()
            .unwrap_or_default()
            .chars()
            .take(30)
            .collect();
        let text = format!("Invalid status line from script '{name}': {shown}");
        req.log_error("proxy_fcgi", "error", &text);
        let _ = code;
    }
    let override_error = status.is_some_and(|code| {
        req.dir
            .module::<crate::modules::proxy::Dir>()
            .overrides_error(code)
    }) && req.redirects == 0
        && !req.subrequest;
    if override_error {
        // ProxyErrorOverride: the application's answer is read to its end and dropped, and
        // this server's error page goes out instead, with the script's status line and the
        // fields Apache keeps for an error (its error headers).
        let mut exchange = Exchange {
            conn,
            log,
            flush,
            pending: Vec::new(),
            stdout_ended,
            ended: false,
        };
        if let Err(failure) = exchange.drain() {
            failure.log(&exchange.log);
        }
        req.err_headers = crate::modules::cgi::merge_script_headers(&req.err_headers, headers);
        req.status_line = status_line;
        return Err(status.unwrap_or(500));
    }
    let mut out = crate::modules::cgi::merge_script_headers(&req.headers_out, headers);
    for (name, value) in own.0 {
        out.0.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        out.0.push((name, value));
    }
    if status.is_none() && req.method == "GET" {
        if let Some(code) = crate::modules::cgi::script_conditions(req, &out) {
            return Ok(Response {
                status: code,
                headers: out,
                length_known: true,
                server: req.server,
                ..Default::default()
            });
        }
    }
    let mut exchange = Exchange {
        conn,
        log,
        flush,
        pending: rest,
        stdout_ended,
        ended: false,
    };
    // Apache hands the body on a record at a time: when the first thing after the headers
    // is the end of the output, the body is known to be empty (Content-Length: 0); any
    // bytes before it make it chunked.
    match exchange.first_data() {
        Ok(true) => {}
        Ok(false) => {
            // Whatever else the application says (stderr) is read and logged to its end.
            if let Err(failure) = exchange.drain() {
                failure.log(&exchange.log);
            }
            return Ok(Response {
                status: status.unwrap_or(200),
                status_line,
                headers: out,
                content_type,
                length_known: true,
                header_only: req.method == "HEAD",
                server: req.server,
                ..Default::default()
            });
        }
        Err(failure) => {
            failure.log(&exchange.log);
            return Err(if failure.is_timeout() { 504 } else { 503 });
        }
    }
    Ok(Response {
        status: status.unwrap_or(200),
        status_line,
        headers: out,
        content_type,
        header_only: req.method == "HEAD",
        server: req.server,
        body: Body::Stream(BodyStream(Box::new(exchange))),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unix_socket_is_named_by_the_url_it_serves() {
        let backend = FcgiBackend {
            address: FcgiAddress::Unix("/run/php/php8.2-fpm.sock".into()),
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            flush: false,
        };
        let url = "fcgi://localhost/var/www/html/x.php";
        assert_eq!(backend.host_and_port(url), ("localhost".into(), 8000));
    }

    #[test]
    fn script_name_ends_where_path_info_starts_as_apache_finds_it() {
        use crate::modules::cgi::find_path_info;
        assert_eq!(find_path_info("/x.php/a/b", "/a/b"), 6);
        assert_eq!(find_path_info("/app/env.php", "/htdocs/env.php"), 4);
        assert_eq!(find_path_info("/x.php//a", "/a"), 6);
        assert_eq!(find_path_info("/a/b", "/zzz/a/b"), 0);
    }

    #[test]
    fn paths_are_encoded_as_apache_encodes_a_reverse_proxied_path() {
        assert_eq!(encode_path("var/www/a b.php"), "var/www/a%20b.php");
        assert_eq!(encode_path("x%y?z"), "x%25y%3Fz");
        assert_eq!(encode_path("~u/$-_.+!*'(),;:@&="), "~u/$-_.+!*'(),;:@&=");
    }

    #[test]
    fn escapes_are_decoded_except_for_slashes() {
        assert_eq!(unescape_keep_2f("/a%20b%2Fc%zz"), "/a b%2Fc%zz");
    }

    #[test]
    fn host_and_port_split() {
        assert_eq!(
            split_host_port("LocalHost:9000"),
            Some(("localhost".into(), Some(9000)))
        );
        assert_eq!(split_host_port("[::1]:9"), Some(("::1".into(), Some(9))));
        assert_eq!(split_host_port("h:x"), None);
    }

    #[test]
    fn the_script_headers_leave_the_framing_to_the_server() {
        let parsed = parse_headers(
            b"Status: 404 Gone\r\nContent-type: Text/Plain; A=B \r\nContent-Length: 3\r\nX-A: 1\r\n\r\n",
        )
        .ok()
        .unwrap();
        assert_eq!(parsed.status, Some(404));
        assert_eq!(parsed.status_line.as_deref(), Some("404 Gone"));
        assert_eq!(parsed.content_type.as_deref(), Some("text/plain; A=B"));
        assert_eq!(parsed.headers.0, [("X-A".to_string(), "1".to_string())]);
        assert_eq!(
            parse_headers(b"oops\r\n\r\n").err().as_deref(),
            Some("oops")
        );
    }

    #[test]
    fn a_unix_socket_handler_keeps_its_case() {
        let dir =
            crate::modules::test_dir("SetHandler \"proxy:unix:/Run/PHP.sock|fcgi://localhost\"\n");
        let handler = dir.core.set_handler.as_deref();
        assert_eq!(handler, Some("proxy:unix:/Run/PHP.sock|fcgi://localhost"));
        let dir = crate::modules::test_dir("SetHandler Proxy:FCGI://Localhost\n");
        assert_eq!(
            dir.core.set_handler.as_deref(),
            Some("proxy:fcgi://localhost")
        );
    }

    #[test]
    fn directives_configure_the_backend_type_and_fixups() {
        let dir = crate::modules::test_dir(
            "ProxyFCGIBackendType generic\n\
             ProxyFCGISetEnvIf \"true\" SCRIPT_NAME \"/x\"\n\
             ProxyFCGISetEnvIf \"false\" !PATH_INFO\n",
        );
        let conf = dir.module::<Dir>();
        assert_eq!(conf.backend_type, Some(BackendType::Generic));
        assert_eq!(conf.env_fixups.len(), 2);
        assert!(!conf.may_be_fpm());
    }
}
