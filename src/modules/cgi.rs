//! mod_cgi and mod_cgid, as one: their directive tables (each module its own, as `apache2 -L`
//! lists them) and the `cgi-script` handler both provide, which runs a script with the RFC 3875
//! environment Apache builds, writes the request body to it, reads its headers (Status,
//! Location, Content-Type, the rest passed on) and streams its output to the client. rhttpd runs
//! the script itself: mod_cgid's daemon and socket have no counterpart.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use crate::hooks::{Hooks, Order};
use crate::http1::Headers;
use crate::request::pipeline::{handler_of, serve_uri};
use crate::request::{Body, BodySource, BodyStream, Request, Response, Step};
use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::{ACCESS_CONF, GLOBAL_ONLY, RSRC_CONF};
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

pub static CGI_MODULE: ModuleDef = ModuleDef {
    id: "cgi_module",
    source: "mod_cgi.c",
    builtin: false,
    has_dir_config: true,
    directives: CGI_DIRECTIVES,
};

pub static CGID_MODULE: ModuleDef = ModuleDef {
    id: "cgid_module",
    source: "mod_cgid.c",
    builtin: false,
    has_dir_config: true,
    directives: CGID_DIRECTIVES,
};

// The ScriptLog rows both modules' tables hold alike.
const SCRIPT_LOG: DirectiveDef = DirectiveDef::new(
    "ScriptLog",
    Take1(script_log),
    RSRC_CONF,
    "the name of a log for script debugging info",
)
.implemented();
const SCRIPT_LOG_LENGTH: DirectiveDef = DirectiveDef::new(
    "ScriptLogLength",
    Take1(script_log_length),
    RSRC_CONF,
    "the maximum length (in bytes) of the script debug log",
)
.implemented();
const SCRIPT_LOG_BUFFER: DirectiveDef = DirectiveDef::new(
    "ScriptLogBuffer",
    Take1(script_log_buffer),
    RSRC_CONF,
    "the maximum size (in bytes) to record of a POST request",
)
.implemented();

const CGI_DIRECTIVES: &[DirectiveDef] = &[
    SCRIPT_LOG,
    SCRIPT_LOG_LENGTH,
    SCRIPT_LOG_BUFFER,
    DirectiveDef::new(
        "CGIScriptTimeout",
        Take1(script_timeout),
        RSRC_CONF | ACCESS_CONF,
        "The amount of time to wait between successful reads from the CGI script, in seconds.",
    )
    .implemented(),
];

const CGID_DIRECTIVES: &[DirectiveDef] = &[
    SCRIPT_LOG,
    SCRIPT_LOG_LENGTH,
    SCRIPT_LOG_BUFFER,
    DirectiveDef::new(
        "ScriptSock",
        Take1(script_sock),
        RSRC_CONF,
        "the name of the socket to use for communication with the cgi daemon.",
    )
    .forbid_in_setter(GLOBAL_ONLY)
    .inert("names mod_cgid's daemon socket; rhttpd runs scripts itself, with no daemon"),
    DirectiveDef::new(
        "CGIDScriptTimeout",
        Take1(script_timeout),
        RSRC_CONF | ACCESS_CONF,
        "The amount of time to wait between successful reads from the CGI script, in seconds.",
    )
    .implemented(),
];

/// Per-server settings: the script log (ScriptLog), the size past which it is no longer
/// written (ScriptLogLength) and how much of a request body it records (ScriptLogBuffer).
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub log: Option<std::path::PathBuf>,
    pub log_length: Option<u64>,
    pub log_buffer: Option<usize>,
}

impl DirConfig for ServerConf {
    fn merge(&self, child: &ServerConf) -> ServerConf {
        ServerConf {
            log: child.log.clone().or_else(|| self.log.clone()),
            log_length: child.log_length.or(self.log_length),
            log_buffer: child.log_buffer.or(self.log_buffer),
        }
    }
}

/// Per-directory settings: the time to wait between reads from the script.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub timeout_ms: Option<u64>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            timeout_ms: child.timeout_ms.filter(|t| *t > 0).or(self.timeout_ms),
        }
    }
}

/// ScriptLog: the file, relative to ServerRoot.
fn script_log(cmd: &mut Cmd, path: &str) -> SetResult {
    let path = cmd.cfg.read.server_root_relative(path);
    cmd.server_config::<ServerConf>().log = Some(path);
    Ok(())
}

/// `atol`: leading digits, 0 when none.
fn atol(text: &str) -> u64 {
    let digits: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().unwrap_or(0)
}

fn script_log_length(cmd: &mut Cmd, value: &str) -> SetResult {
    cmd.server_config::<ServerConf>().log_length = Some(atol(value));
    Ok(())
}

fn script_log_buffer(cmd: &mut Cmd, value: &str) -> SetResult {
    cmd.server_config::<ServerConf>().log_buffer = Some(atol(value) as usize);
    Ok(())
}

fn script_sock(_cmd: &mut Cmd, _path: &str) -> SetResult {
    Ok(())
}

fn script_timeout(cmd: &mut Cmd, value: &str) -> SetResult {
    match rhttpd_directives::set::timeout_ms(value, "s") {
        Some(ms) => {
            cmd.dir_config::<Dir>().timeout_ms = Some(ms);
            Ok(())
        }
        None => Err(format!("{} has wrong format", cmd.name())),
    }
}

/// The handler, at Apache's place for it (mod_cgi's and mod_cgid's are APR_HOOK_MIDDLE).
pub fn register_hooks(hooks: &mut Hooks) {
    hooks.handler.add("cgi", Order::Middle, handler);
}

const CGI_MAGIC_TYPE: &str = "application/x-httpd-cgi";

fn handler(req: &mut Request) -> Step<Option<Response>> {
    let filename = req.filename.clone().unwrap_or_default();
    let handler = handler_of(req, &filename).or_else(|| {
        req.file_info
            .as_ref()
            .and_then(|info| info.content_type.clone())
    });
    if !matches!(handler.as_deref(), Some("cgi-script" | CGI_MAGIC_TYPE)) {
        return Ok(None);
    }
    let exec_cgi = req.dir.core.options() & rhttpd_directives::model::opt::EXECCGI != 0;
    if !exec_cgi && !req.script_alias {
        return Err(script_error(
            req,
            403,
            "AH01262",
            "Options ExecCGI is off in this directory",
        ));
    }
    let meta = match req.finfo.clone() {
        Some(meta) => meta,
        None => {
            return Err(script_error(
                req,
                404,
                "AH01264",
                "script not found or unable to stat",
            ))
        }
    };
    if meta.is_dir() {
        return Err(script_error(
            req,
            403,
            "AH01265",
            "attempt to invoke directory as script",
        ));
    }
    if req.dir.core.accept_path_info.as_deref() == Some("off") && !req.path_info.is_empty() {
        return Err(script_error(
            req,
            404,
            "AH01266",
            "AcceptPathInfo off disallows user's path",
        ));
    }
    run(req, &filename).map(Some)
}

/// An error logged with APLOG_TOCLIENT: its text (escaped) also becomes the request's error
/// notes, unless some are there already, for an ErrorDocument to show (REDIRECT_ERROR_NOTES).
fn log_to_client(req: &mut Request, text: &str) {
    req.log_error("cgid", "error", text);
    if req.error_notes.is_none() {
        req.error_notes = Some(rhttpd_directives::util::escape::escape_html_str(text));
    }
}

/// Apache's `log_scripterror`: the error with the script's path, and the status.
fn script_error(req: &Request, status: u16, id: &str, error: &str) -> u16 {
    let text = format!("{id}: stderr from {}: {error}", filename_text(req));
    req.log_error("cgid", "error", &text);
    if let Some(mut log) = open_script_log(req) {
        let entry = format!("{}%error\n{error}\n", script_log_head(req, status));
        let _ = log.write_all(entry.as_bytes());
    }
    status
}

/// ScriptLogLength's default (mod_cgi's DEFAULT_LOGBYTES).
const DEFAULT_LOG_BYTES: u64 = 10_385_760;
/// ScriptLogBuffer's default (DEFAULT_BUFBYTES).
const DEFAULT_BUFFER_BYTES: usize = 1024;

/// The script log, opened to append, unless there is none or it has grown past
/// ScriptLogLength (then nothing more is written to it, as Apache stops).
fn open_script_log(req: &Request) -> Option<std::fs::File> {
    let conf = req.ctx().runtime.module::<ServerConf>();
    let path = conf.log.as_ref()?;
    let limit = conf.log_length.unwrap_or(DEFAULT_LOG_BYTES);
    if std::fs::metadata(path).is_ok_and(|m| m.len() > limit) {
        return None;
    }
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .ok()
}

/// An entry's first two lines: `%% [time] GET /uri?args HTTP/1.1` and `%% status file`.
fn script_log_head(req: &Request, status: u16) -> String {
    let protocol = match req.head.version {
        crate::http1::Version::Http09 => "HTTP/0.9",
        crate::http1::Version::Http10 => "HTTP/1.0",
        crate::http1::Version::Http11 => "HTTP/1.1",
    };
    let args = req
        .args
        .as_ref()
        .map(|a| format!("?{a}"))
        .unwrap_or_default();
    format!(
        "%% [{}] {} {}{args} {protocol}\n%% {status} {}\n",
        crate::log::ctime_seconds(std::time::SystemTime::now()),
        req.method,
        req.uri,
        filename_text(req)
    )
}

/// Apache's `log_script` for a script that failed before its headers were done: the request's
/// headers (and the start of a POST or PUT body), the header line it got wrong, then what was
/// left of its output.
fn log_failed_script(req: &Request, status: u16, body_start: &[u8], output: &mut Output) {
    let Some(mut log) = open_script_log(req) else {
        return;
    };
    let mut entry = script_log_head(req, status).into_bytes();
    entry.extend_from_slice(b"%request\n");
    for (name, value) in &req.head.headers.0 {
        entry.extend_from_slice(format!("{name}: {value}\n").as_bytes());
    }
    // The buffer is a C string: it ends at its first NUL.
    let body_start = body_start.split(|&b| b == 0).next().unwrap_or_default();
    if matches!(req.method.as_str(), "POST" | "PUT") && !body_start.is_empty() {
        entry.push(b'\n');
        entry.extend_from_slice(body_start);
        entry.push(b'\n');
    }
    entry.extend_from_slice(b"%response\n");
    for (name, value) in &req.err_headers.0 {
        entry.extend_from_slice(format!("{name}: {value}\n").as_bytes());
    }
    if let Some(line) = &output.bad_line {
        entry.extend_from_slice(line.as_bytes());
        entry.push(b'\n');
    }
    // The rest of the output (none after a timeout, which Apache throws away).
    if status != 504 {
        while let Wait::More = output.wait(output.timeout) {}
        if !output.buffered.is_empty() {
            entry.extend_from_slice(b"%stdout\n");
            entry.append(&mut output.buffered);
            entry.push(b'\n');
        }
    }
    let _ = log.write_all(&entry);
}

/// Apache's `ap_add_common_vars` and `ap_add_cgi_vars`, over the request's environment
/// (mod_proxy_fcgi sends the same, with its own SCRIPT_FILENAME).
pub(crate) fn script_environment(req: &Request, filename: &Path) -> Vec<(String, String)> {
    // Room for the fields and the ~30 variables below, so that the table is never moved.
    let mut env: Vec<(String, String)> = Vec::with_capacity(req.head.headers.0.len() + 40);
    let pass_auth = req.dir.core.cgi_pass_auth == Some(true);
    for (name, value) in &req.head.headers.0 {
        let named = |other: &str| name.eq_ignore_ascii_case(other);
        let key = if named("Content-Type") {
            "CONTENT_TYPE".to_string()
        } else if named("Content-Length") {
            "CONTENT_LENGTH".to_string()
        } else if !pass_auth && (named("Authorization") || named("Proxy-Authorization")) {
            continue;
        } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            // A name with characters other than letters, digits and '-' is left out.
            continue;
        } else {
            let mut key = String::with_capacity(name.len() + 5);
            key.push_str("HTTP_");
            key.extend(name.bytes().map(|b| match b {
                b'-' => '_',
                b => b.to_ascii_uppercase() as char,
            }));
            key
        };
        match env.iter_mut().find(|(n, _)| *n == key) {
            // Repeated fields join with ", " (apr_table_mergen in the headers table).
            Some((_, existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            None => env.push((key, value.clone())),
        }
    }
    let fields = env.len();
    for (name, value) in crate::request::environment(req) {
        set(&mut env, &name, value);
    }
    // The variables below are set once each, and none is named as a field's is (HTTP_...,
    // CONTENT_...): only the request's own environment may hold one already.
    let variables = fields..env.len();
    let set = |env: &mut Vec<(String, String)>, name: &str, value: String| match env
        [variables.clone()]
    .iter_mut()
    .find(|(n, _)| n == name)
    {
        Some((_, v)) => *v = value,
        None => env.push((name.to_string(), value)),
    };
    // The server's own PATH and library path go on, as Apache's `ap_add_common_vars` passes
    // them (read once: nothing changes the server's environment after it starts).
    static SERVER_PATHS: std::sync::OnceLock<(String, Option<String>)> = std::sync::OnceLock::new();
    let (path, library_path) = SERVER_PATHS.get_or_init(|| {
        (
            std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
            std::env::var("LD_LIBRARY_PATH").ok(),
        )
    });
    set(&mut env, "PATH", path.clone());
    if let Some(library_path) = library_path {
        set(&mut env, "LD_LIBRARY_PATH", library_path.clone());
    }
    set(
        &mut env,
        "SERVER_SIGNATURE",
        crate::request::errors::address_signature(req),
    );
    set(&mut env, "SERVER_SOFTWARE", req.rt.server_banner.clone());
    let (host_name, server_port) = req.host_name_and_port();
    set(&mut env, "SERVER_NAME", host_name);
    set(
        &mut env,
        "SERVER_ADDR",
        crate::request::apr_ip_text(req.conn.local.ip()),
    );
    set(&mut env, "SERVER_PORT", server_port.to_string());
    set(
        &mut env,
        "REMOTE_ADDR",
        req.useragent.ip_text().into_owned(),
    );
    let root = req.document_root();
    set(&mut env, "DOCUMENT_ROOT", root.clone());
    set(&mut env, "REQUEST_SCHEME", req.scheme().to_string());
    let (prefix, context_root) = req
        .context_info
        .clone()
        .unwrap_or_else(|| (String::new(), root.clone()));
    set(&mut env, "CONTEXT_PREFIX", prefix);
    set(&mut env, "CONTEXT_DOCUMENT_ROOT", context_root);
    let admin = req.ctx().runtime.core.server_admin().to_string();
    set(&mut env, "SERVER_ADMIN", admin);
    set(
        &mut env,
        "SCRIPT_FILENAME",
        filename.to_string_lossy().into_owned(),
    );
    set(&mut env, "REMOTE_PORT", req.useragent.port().to_string());
    if let Some(user) = &req.user {
        set(&mut env, "REMOTE_USER", user.clone());
        set(&mut env, "AUTH_TYPE", "Basic".into());
    }
    if let Some((uri, args)) = &req.redirected_from {
        set(&mut env, "REDIRECT_URL", uri.clone());
        if let Some(args) = args {
            set(&mut env, "REDIRECT_QUERY_STRING", args.clone());
        }
    }
    set(&mut env, "GATEWAY_INTERFACE", "CGI/1.1".into());
    let protocol = match req.head.version {
        crate::http1::Version::Http09 => "HTTP/0.9",
        crate::http1::Version::Http10 => "HTTP/1.0",
        crate::http1::Version::Http11 => "HTTP/1.1",
    };
    set(&mut env, "SERVER_PROTOCOL", protocol.into());
    set(&mut env, "REQUEST_METHOD", req.method.clone());
    set(
        &mut env,
        "QUERY_STRING",
        req.args.clone().unwrap_or_default(),
    );
    // current-uri: the path as it is now, without the query (Apache's r->uri).
    let request_uri = if req.dir.core.cgi_current_uri == Some(true) {
        req.uri.clone()
    } else {
        // The target as the request line gave it (an absolute one whole).
        req.head.target.clone()
    };
    set(&mut env, "REQUEST_URI", request_uri);
    let script_name = if req.path_info.is_empty() {
        req.uri.clone()
    } else {
        req.uri[..find_path_info(&req.uri, &req.path_info)].to_string()
    };
    set(&mut env, "SCRIPT_NAME", script_name);
    if !req.path_info.is_empty() {
        set(&mut env, "PATH_INFO", req.path_info.clone());
        let translated = format!("{}{}", root.trim_end_matches('/'), req.path_info);
        set(&mut env, "PATH_TRANSLATED", translated);
    }
    env
}

/// Apache's `ap_find_path_info`: where PATH_INFO starts in the URI, matching from the end
/// (runs of slashes in the URI count as one), then on to the next '/' (or the end) when only
/// part of it matched: SCRIPT_NAME is the URI up to there.
pub(crate) fn find_path_info(uri: &str, path_info: &str) -> usize {
    let (uri_bytes, info) = (uri.as_bytes(), path_info.as_bytes());
    let (mut lu, mut lp) = (uri_bytes.len() as isize, info.len() as isize);
    loop {
        lu -= 1;
        if lu < 0 {
            break;
        }
        lp -= 1;
        if lp < 0 || uri_bytes[lu as usize] != info[lp as usize] {
            break;
        }
        if info[lp as usize] == b'/' {
            while lu > 0 && uri_bytes[lu as usize - 1] == b'/' {
                lu -= 1;
            }
        }
    }
    let mut at = lu.max(0) as usize;
    while at < uri_bytes.len() && uri_bytes[at] != b'/' {
        at += 1;
    }
    at
}

fn set(env: &mut Vec<(String, String)>, name: &str, value: String) {
    match env.iter_mut().find(|(n, _)| n == name) {
        Some((_, v)) => *v = value,
        None => env.push((name.to_string(), value)),
    }
}

/// What a program's output reader hands on: a piece of its output, or an error; the channel
/// closes at the output's end.
pub type Pieces = Receiver<std::io::Result<Vec<u8>>>;

/// Reads `from` (a CGI script's stdout, an external filter's) on a thread, each piece sent on
/// as it comes, so a wait for the next can time out.
pub fn reader_thread(mut from: impl Read + Send + 'static) -> Pieces {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || loop {
        let mut buf = vec![0; 16384];
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                buf.truncate(n);
                if tx.send(Ok(buf)).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.send(Err(e));
                break;
            }
        }
    });
    rx
}

/// Writes the request body to the script's stdin on a thread of its own, so that a script
/// that reads its input slowly, or not at all, never holds up the request; stdin closes when
/// the sender is dropped.
fn stdin_writer(mut stdin: std::process::ChildStdin) -> std::sync::mpsc::SyncSender<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
    std::thread::spawn(move || {
        for piece in rx {
            if stdin.write_all(&piece).is_err() {
                break;
            }
        }
    });
    tx
}

/// Hands a piece to the stdin writer, waiting at most `timeout` for room; false when the
/// script has not taken its input for that long (or has closed it).
fn send_within(
    to: &std::sync::mpsc::SyncSender<Vec<u8>>,
    piece: Vec<u8>,
    timeout: Duration,
) -> bool {
    use std::sync::mpsc::TrySendError;
    let deadline = std::time::Instant::now() + timeout;
    let mut piece = piece;
    loop {
        match to.try_send(piece) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(back)) => {
                if std::time::Instant::now() >= deadline {
                    return false;
                }
                piece = back;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// The script's output so far, and the channel for the rest.
struct Output {
    pieces: Pieces,
    /// The header line the script got wrong (Apache's `sbuf`, for the script log).
    bad_line: Option<String>,
    buffered: Vec<u8>,
    ended: bool,
    timeout: Duration,
}

enum Wait {
    More,
    Ended,
    TimedOut,
}

impl Output {
    fn wait(&mut self, timeout: Duration) -> Wait {
        if self.ended {
            return Wait::Ended;
        }
        match self.pieces.recv_timeout(timeout) {
            Ok(Ok(piece)) => {
                self.buffered.extend_from_slice(&piece);
                // What the script wrote meanwhile goes along (Apache reads what the pipe holds).
                while let Ok(Ok(more)) = self.pieces.try_recv() {
                    self.buffered.extend_from_slice(&more);
                }
                Wait::More
            }
            Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => {
                self.ended = true;
                Wait::Ended
            }
            Err(RecvTimeoutError::Timeout) => Wait::TimedOut,
        }
    }

    /// The next header line (without its CR LF), `Ok(None)` at the end of output.
    fn line(&mut self) -> Result<Option<Vec<u8>>, ()> {
        loop {
            if let Some(at) = self.buffered.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buffered.drain(..=at).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            match self.wait(self.timeout) {
                Wait::More => {}
                Wait::Ended if self.buffered.is_empty() => return Ok(None),
                Wait::Ended => return Ok(Some(std::mem::take(&mut self.buffered))),
                Wait::TimedOut => return Err(()),
            }
        }
    }
}

/// The child, ended when its response is done with.
struct Script {
    child: Child,
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The streamed rest of the script's output.
struct ScriptBody {
    output: Output,
    _script: Script,
}

impl BodySource for ScriptBody {
    fn next_piece(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        if !self.output.buffered.is_empty() {
            return Ok(Some(std::mem::take(&mut self.output.buffered)));
        }
        match self.output.wait(self.output.timeout) {
            Wait::More => Ok(Some(std::mem::take(&mut self.output.buffered))),
            Wait::Ended => Ok(None),
            Wait::TimedOut => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "timeout waiting for output from CGI script",
            )),
        }
    }
}

fn run(req: &mut Request, filename: &Path) -> Step<Response> {
    let env = script_environment(req, filename);
    let dir = filename.parent().unwrap_or(Path::new("/"));
    let timeout = req
        .dir
        .typed
        .get::<Dir>()
        .and_then(|d| d.timeout_ms)
        .filter(|t| *t > 0)
        .map(Duration::from_millis)
        .unwrap_or_else(|| Duration::from_secs(req.ctx().runtime.core.timeout_secs().max(1)));
    let (stderr_to, own_log) = stderr_for(req);
    let mut command = Command::new(filename);
    crate::sys::limit_child(&mut command, req.dir.core.rlimits);
    let spawned = command
        .env_clear()
        .envs(env.iter().map(|(n, v)| (n, v)))
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr_to)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => {
            let text = format!("AH01241: exec of '{}' failed", filename.display());
            req.log_os_error("cgid", "error", Some(&error), &text);
            return Err(500);
        }
    };
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("piped");
    if let (Some(stderr), Some(own_log)) = (child.stderr.take(), own_log) {
        copy_stderr(stderr, own_log);
    }
    let script = Script { child };
    let mut output = Output {
        pieces: reader_thread(stdout),
        bad_line: None,
        buffered: Vec::new(),
        ended: false,
        timeout,
    };
    // The request body, to the script's stdin (a script that does not read it may close it).
    let limit = req.dir.core.limit_request_body.unwrap_or(1 << 30);
    if limit > 0 && req.body_length > limit {
        return Err(413);
    }
    // The start of the body, for the script log (ScriptLogBuffer bytes).
    let keep = match &req.ctx().runtime.module::<ServerConf>().log {
        Some(_) => req
            .ctx()
            .runtime
            .module::<ServerConf>()
            .log_buffer
            .unwrap_or(DEFAULT_BUFFER_BYTES),
        None => 0,
    };
    let mut body_start = Vec::new();
    if let Some(stdin) = stdin {
        let to_script = stdin_writer(stdin);
        let mut stalled = false;
        let mut sink = |piece: &[u8]| {
            let room = keep.saturating_sub(body_start.len());
            body_start.extend_from_slice(&piece[..room.min(piece.len())]);
            // A script that stops reading its input for the timeout gets no more of it (the
            // rest of the body is still read from the client, and dropped).
            if !stalled {
                stalled = !send_within(&to_script, piece.to_vec(), timeout);
            }
            Ok(())
        };
        crate::request::input::read_body(req, limit, &mut sink)?;
    }
    let name = filename
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.starts_with("nph-") {
        return Ok(Response {
            status: 200,
            body: Body::Stream(BodyStream(Box::new(ScriptBody {
                output,
                _script: script,
            }))),
            raw: true,
            ends_connection: true,
            server: req.server,
            ..Default::default()
        });
    }
    let headers = read_headers(req, &mut output, &name);
    let headers = match headers {
        Ok(headers) => headers,
        Err(status) => {
            // A script refused for its Transfer-Encoding was logged as an error already.
            if status != 502 {
                log_failed_script(req, status, &body_start, &mut output);
            }
            drop(script);
            return Err(status);
        }
    };
    let ScriptHeaders {
        status,
        status_line,
        location,
        content_type,
        content_length,
        headers,
    } = headers;
    if let Some(location) = location.filter(|_| status.unwrap_or(200) == 200) {
        if location.starts_with('/') {
            // A local path: an internal redirect, as a GET with no body.
            drop(script);
            crate::request::note_internal_redirect(req, &env, 200);
            let (path, query) = match location.split_once('?') {
                Some((p, q)) => (p.to_string(), Some(q.to_string())),
                None => (location.clone(), None),
            };
            req.method = "GET".into();
            req.uri = path;
            req.args = query;
            req.body_length = 0;
            req.redirects += 1;
            if req.redirects > 10 {
                return Err(500);
            }
            return serve_uri(req);
        }
        req.headers_out.set("Location", location);
        return Err(302);
    }
    let out = merge_script_headers(&req.headers_out, headers);
    if status.is_none() && req.method == "GET" {
        if let Some(code) = script_conditions(req, &out) {
            drop(script);
            if code == 412 {
                return Err(412);
            }
            return Ok(Response {
                status: code,
                headers: out,
                length_known: true,
                server: req.server,
                ..Default::default()
            });
        }
    }
    let status = status.unwrap_or(200);
    // The body streams as the script writes it (Apache's cgid sends it chunked, with no
    // length, however short).
    let mut response = Response {
        status,
        status_line,
        headers: out,
        content_type,
        header_only: req.method == "HEAD",
        server: req.server,
        ..Default::default()
    };
    let _ = content_length;
    response.body = Body::Stream(BodyStream(Box::new(ScriptBody {
        output,
        _script: script,
    })));
    Ok(response)
}

/// The script's header fields over the response's (Apache's `ap_scan_script_header_err`
/// tables): Set-Cookie fields go to the error headers, which Apache sends after the others;
/// other repeated fields merge into one, joined by ", " (Apache overlays the script's table).
pub(crate) fn merge_script_headers(base: &Headers, script: Headers) -> Headers {
    let mut out = base.clone();
    let (cookies, others): (Vec<_>, Vec<_>) = script
        .0
        .into_iter()
        .partition(|(name, _)| name.eq_ignore_ascii_case("Set-Cookie"));
    for (name, value) in others {
        match out
            .0
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some((_, existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            None => out.0.push((name, value)),
        }
    }
    out.0.extend(cookies);
    out
}

/// For a GET whose script gave no Status: the request's conditions checked against the
/// validators the script gave (its Last-Modified, else now; its ETag), as Apache's
/// `ap_meets_conditions` at the end of the script's headers: 304 or 412, or None to answer.
pub(crate) fn script_conditions(req: &Request, headers: &Headers) -> Option<u16> {
    let last_modified = headers
        .get("Last-Modified")
        .and_then(crate::http1::date::parse)
        .unwrap_or(req.now);
    let tag = headers.get("ETag").map(str::to_string);
    crate::request::static_file::check_conditions(req, tag.as_deref(), last_modified)
}

struct ScriptHeaders {
    status: Option<u16>,
    status_line: Option<String>,
    location: Option<String>,
    content_type: Option<String>,
    content_length: Option<String>,
    headers: Headers,
}

/// Apache's `ap_scan_script_header_err_brigade`: header lines up to an empty one.
fn read_headers(req: &mut Request, output: &mut Output, name: &str) -> Step<ScriptHeaders> {
    let mut parsed = ScriptHeaders {
        status: None,
        status_line: None,
        location: None,
        content_type: None,
        content_length: None,
        headers: Headers::default(),
    };
    let mut first = true;
    loop {
        let line = match output.line() {
            Ok(Some(line)) => line,
            Ok(None) => {
                let msg = if first {
                    "End of script output before headers"
                } else {
                    "Premature end of script headers"
                };
                log_to_client(req, &format!("{msg}: {name}"));
                return Err(500);
            }
            Err(()) => {
                // mod_cgid logs only this (mod_cgi's AH01220 warning is not among its lines).
                let text = format!("Script timed out before returning headers: {name}");
                log_to_client(req, &text);
                return Err(504);
            }
        };
        first = false;
        if line.is_empty() {
            return Ok(parsed);
        }
        let line = String::from_utf8_lossy(&line).into_owned();
        let Some((field, value)) = line.split_once(':') else {
            let shown: String = line.chars().take(30).collect();
            let text = format!("malformed header from script '{name}': Bad header: {shown}");
            log_to_client(req, &text);
            output.bad_line = Some(line);
            return Err(500);
        };
        let value = value.trim_start().to_string();
        match field.to_ascii_lowercase().as_str() {
            "content-type" => parsed.content_type = Some(value),
            "status" => {
                let digits: String = value.chars().take_while(|c| c.is_ascii_digit()).collect();
                parsed.status = Some(digits.parse().unwrap_or(0));
                parsed.status_line = Some(value);
            }
            "location" => {
                parsed.location = Some(value.clone());
                parsed.headers.0.push((field.to_string(), value));
            }
            "content-length" => parsed.content_length = Some(value),
            "transfer-encoding" => {
                return Err(script_error(
                    req,
                    502,
                    "AH10501",
                    "script sent Transfer-Encoding",
                ))
            }
            _ => parsed.headers.0.push((field.to_string(), value)),
        }
    }
}

/// Where the script's stderr goes: mod_cgid's scripts write straight into the main error
/// log (the daemon's own stderr), so a script of a server with the main log inherits the
/// server's; for a virtual host with its own log, each line is copied there as written.
pub(crate) fn stderr_for(
    req: &Request,
) -> (Stdio, Option<std::sync::Arc<crate::log::OwnErrorLog>>) {
    match &req.ctx().error_log {
        Some(own) => (Stdio::piped(), Some(std::sync::Arc::clone(own))),
        None => (Stdio::inherit(), None),
    }
}

/// Copies the script's stderr into a virtual host's own error log, a line at a time.
pub(crate) fn copy_stderr(
    from: std::process::ChildStderr,
    to: std::sync::Arc<crate::log::OwnErrorLog>,
) {
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(from).split(b'\n') {
            let Ok(line) = line else { break };
            to.write_line(&String::from_utf8_lossy(&line));
        }
    });
}

fn filename_text(req: &Request) -> String {
    req.filename
        .as_ref()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}
