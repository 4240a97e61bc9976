//! The error log: Apache's line format (`[Thu Nov 26 07:01:51.030592 2026] [core:warn]
//! [pid N:tid T] AHnnnnn: ...`, with the kernel thread id as Debian prints it), LogLevel
//! (global and per module; notices always pass, as in Apache), and ErrorLog: once the server
//! runs, a file or piped logger becomes its standard error, where every message goes.

use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use rhttpd_directives::core_config::ServerConf;
use rhttpd_directives::errorlog_format;
use rhttpd_directives::model::Config;

use crate::config::escape_log;
use crate::http1::date::{Civil, DAYS};

/// Apache's error-log timestamp in UTC: `Thu Nov 26 07:01:51.030592 2026`.
pub fn timestamp(now: SystemTime) -> String {
    ctime(now.duration_since(UNIX_EPOCH).unwrap_or_default(), true)
}

/// `apr_ctime`'s form, to the second: `Wed Jun 19 10:53:21 1996` (mod_cgi's script log).
pub fn ctime_seconds(now: SystemTime) -> String {
    ctime(now.duration_since(UNIX_EPOCH).unwrap_or_default(), false)
}

/// ctime(3)'s form, with microseconds after the seconds when asked.
fn ctime(since: std::time::Duration, micros: bool) -> String {
    let c = Civil::from_unix(since.as_secs() as i64);
    let fraction = if micros {
        format!(".{:06}", since.subsec_micros())
    } else {
        String::new()
    };
    format!(
        "{} {} {:02} {:02}:{:02}:{:02}{fraction} {}",
        DAYS[c.weekday],
        c.month_name(),
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.year
    )
}

/// One error-log line for `module` at `level` from this thread.
pub fn line(module: &str, level: &str, message: &str) -> String {
    let pid = std::process::id();
    let tid = crate::sys::thread_id();
    format!(
        "[{}] [{module}:{level}] [pid {pid}:tid {tid}] {}",
        timestamp(SystemTime::now()),
        escape_log(message.as_bytes())
    )
}

/// Apache's levels, from the most severe.
pub const LEVELS: [&str; 16] = [
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1", "trace2",
    "trace3", "trace4", "trace5", "trace6", "trace7", "trace8",
];

/// Whether any module may log at trace1 or beyond (LogLevel set so somewhere globally): when
/// not, and a request's sections set no LogLevel, a trace call can stop before naming a level.
pub fn tracing_anywhere() -> bool {
    MOST_VERBOSE.load(std::sync::atomic::Ordering::Relaxed) >= 8
}

fn level_number(name: &str) -> Option<usize> {
    LEVELS.iter().position(|l| l.eq_ignore_ascii_case(name))
}

/// LogLevel: the global level and per-module overrides (by short name).
struct Levels {
    global: usize,
    modules: Vec<(String, usize)>,
}

static CONFIGURED: RwLock<Levels> = RwLock::new(Levels {
    global: 4,
    modules: Vec::new(),
});

/// The most verbose level [`CONFIGURED`] lets through for any module: a message above it is
/// refused without taking the lock (most trace and debug calls, on every request).
static MOST_VERBOSE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(4);

impl Levels {
    /// Applies LogLevel words in order: a bare level sets the global one and resets the
    /// per-module ones; `module:level` overrides one module.
    fn apply(&mut self, words: &[String]) {
        for word in words {
            match word.split_once(':') {
                None => {
                    self.global = level_number(word).unwrap_or(4);
                    self.modules.clear();
                }
                Some((module, level)) => {
                    let short = module
                        .trim_start_matches("mod_")
                        .trim_end_matches(".c")
                        .trim_end_matches("_module")
                        .to_string();
                    if let Some(n) = level_number(level) {
                        self.modules.push((short, n));
                    }
                }
            }
        }
    }

    fn allows(&self, module: &str, level: usize) -> bool {
        let limit = self
            .modules
            .iter()
            .rev()
            .find(|(m, _)| m == module)
            .map_or(self.global, |(_, l)| *l);
        level <= limit
    }
}

/// Applies the main server's LogLevel words and ErrorLogFormat lines.
pub fn configure(core: Option<&ServerConf>, log_level: &[String]) {
    let mut levels = Levels {
        global: 4,
        modules: Vec::new(),
    };
    levels.apply(log_level);
    let most = levels
        .modules
        .iter()
        .map(|(_, n)| *n)
        .fold(levels.global, usize::max);
    MOST_VERBOSE.store(most, std::sync::atomic::Ordering::Relaxed);
    if let Ok(mut configured) = CONFIGURED.write() {
        *configured = levels;
    }
    let main_format = core.and_then(|core| core.error_log_format.clone());
    for kind in core.iter().flat_map(|core| &core.error_log_format_kinds) {
        let text = format!("ErrorLogFormat {kind} (once-per-{kind} lines) is not implemented yet; those lines are not written");
        error("core", "warn", &text);
    }
    if let Ok(mut format) = FORMAT.write() {
        *format = main_format;
    }
}

/// ErrorLogFormat's main format, when one is configured.
static FORMAT: RwLock<Option<Vec<errorlog_format::Item>>> = RwLock::new(None);

/// What a message about a request adds: the client, the connection, the request's headers
/// and names.
pub struct RequestContext<'a> {
    /// The connection's client (Apache's `c->client_ip`).
    pub peer: std::net::SocketAddr,
    /// The request's user agent (`r->useragent_ip`), for a message about a request; the
    /// client the message names (`[client ...]`, `%a`).
    pub useragent: Option<&'a crate::request::ClientAddr>,
    pub local: std::net::SocketAddr,
    /// The request's head, when there is one (its headers, and their bytes as received).
    pub head: Option<&'a crate::http1::RequestHead>,
    /// The answering server's ServerName (`%v`) and the name the request used (`%V`).
    pub server_name: &'a str,
    pub host: String,
}

impl RequestContext<'_> {
    /// A request header as it arrived, bytes and all.
    fn header(&self, name: &str) -> Option<&[u8]> {
        let head = self.head?;
        head.headers.get(name).map(|v| head.received(name, v))
    }
}

/// One error-log message.
pub struct Entry<'a> {
    pub module: &'a str,
    pub level: &'a str,
    /// Bytes, not text: a message may quote the request as it arrived.
    pub message: &'a [u8],
    /// The system error behind it (`(13)Permission denied: `).
    pub cause: Option<&'a std::io::Error>,
    pub request: Option<RequestContext<'a>>,
    /// Where in Apache the message comes from (`mod_filter.c(86)`), shown at debug and above
    /// as Apache's `%F` shows its source file and line.
    pub source: Option<&'a str>,
}

fn cause_text(err: &std::io::Error) -> String {
    if let Some(status) = err.get_ref().and_then(|e| e.downcast_ref::<AprStatus>()) {
        return status.0.to_string();
    }
    crate::config::read::errno_text(err)
}

/// An APR status that is no errno (APR_EOF, APR_TIMEUP, a resolver's EAI code), carried in an
/// `io::Error` as the cause of a message: its text as Apache prints it before the message.
#[derive(Debug)]
pub struct AprStatus(pub std::borrow::Cow<'static, str>);

impl std::fmt::Display for AprStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AprStatus {}

impl AprStatus {
    /// APR_EOF: the other side closed.
    pub const EOF: &'static str = "(70014)End of file found";
    /// APR_TIMEUP: a read waited its time out.
    pub const TIMEUP: &'static str = "(70007)The timeout specified has expired";

    /// The status as the cause of a message.
    pub fn error(text: impl Into<std::borrow::Cow<'static, str>>) -> std::io::Error {
        std::io::Error::other(AprStatus(text.into()))
    }
}

/// `%t` of ErrorLogFormat: ctime, with `u` microseconds, `c` compact ISO form, `z` the offset,
/// or a strftime pattern.
fn error_time(arg: Option<&str>) -> String {
    let now = SystemTime::now();
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let arg = arg.unwrap_or("");
    if arg.contains('%') {
        return crate::sys::strftime_local(arg, since.as_secs() as i64);
    }
    let mut out = if arg.contains('c') {
        let c = Civil::from_unix(since.as_secs() as i64);
        let micros = if arg.contains('u') {
            format!(".{:06}", since.subsec_micros())
        } else {
            String::new()
        };
        format!(
            "{}-{:02}-{:02} {:02}:{:02}:{:02}{micros}",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    } else {
        ctime(since, arg.contains('u'))
    };
    if arg.contains('z') {
        out.push_str(" +0000");
    }
    out
}

/// An address as Apache's error log writes it: `ip:port`, an IPv6 address without brackets.
fn ip_port(addr: std::net::SocketAddr) -> String {
    format!("{}:{}", addr.ip(), addr.port())
}

/// The client a message about a request names: the request's user agent, else (a message
/// about the connection, or `%{c}a`) the connection's client.
fn client_text(request: &RequestContext, connection: bool) -> String {
    match request.useragent.filter(|_| !connection) {
        Some(useragent) => format!("{}:{}", useragent.ip_text(), useragent.port()),
        None => ip_port(request.peer),
    }
}

/// An item's value; empty when it has none for this message.
fn item_value(item: &errorlog_format::Item, entry: &Entry, level: usize) -> String {
    use errorlog_format::Kind;
    let request = entry.request.as_ref();
    let arg = item.arg.as_deref();
    match &item.kind {
        Kind::Text(text) => text.clone(),
        Kind::Message => escape_log(entry.message),
        Kind::Item(letter) => match letter {
            'a' => request.map_or(String::new(), |r| {
                client_text(r, arg.is_some_and(|a| a.starts_with('c')))
            }),
            'A' => request.map_or(String::new(), |r| ip_port(r.local)),
            'E' => entry.cause.map_or(String::new(), cause_text),
            'F' => entry.source.unwrap_or("").to_string(),
            'i' => request
                .and_then(|r| r.header(arg.unwrap_or("")))
                .map_or(String::new(), escape_log),
            'l' => LEVELS[level].to_string(),
            'm' => entry.module.to_string(),
            'P' => std::process::id().to_string(),
            'T' => crate::sys::thread_id().to_string(),
            't' => error_time(arg),
            'v' => request.map_or(String::new(), |r| r.server_name.to_string()),
            'V' => request.map_or(String::new(), |r| r.host.clone()),
            // No environment, notes, log ids or keep-alive counts are kept
            // for error messages: these items are empty (and so drop their field).
            _ => String::new(),
        },
    }
}

/// Apache's do_errorlog_format: fields dropped when an item is empty, `-` and `+` honoured,
/// items above the message's level skipped. `None` when a required item is empty.
fn render_format(items: &[errorlog_format::Item], entry: &Entry) -> Option<String> {
    let level = level_number(entry.level).unwrap_or(4);
    let mut out = String::new();
    let mut field_start = 0;
    let mut skipping = false;
    for item in items {
        if item.field_separator {
            if skipping {
                skipping = false;
            } else {
                field_start = out.len();
            }
        }
        if item.kind == errorlog_format::Kind::Message {
            out.push_str(&escape_log(entry.message));
            continue;
        }
        if skipping {
            continue;
        }
        if item.min_level > level {
            out.truncate(field_start);
            skipping = true;
            continue;
        }
        let value = item_value(item, entry, level);
        if value.is_empty() {
            if item.required {
                return None;
            } else if item.hyphen_if_empty {
                out.push('-');
            } else {
                out.truncate(field_start);
                skipping = true;
            }
        } else {
            out.push_str(&value);
        }
    }
    Some(out)
}

/// The line for `entry`: ErrorLogFormat's if configured, else Apache's default (`with_time`
/// false for syslog, which stamps its own).
pub fn render(entry: &Entry, with_time: bool) -> Option<String> {
    if let Ok(format) = FORMAT.read() {
        if let Some(items) = format.as_ref() {
            return render_format(items, entry);
        }
    }
    let pid = std::process::id();
    let tid = crate::sys::thread_id();
    let mut out = String::new();
    if with_time {
        out.push_str(&format!("[{}] ", timestamp(SystemTime::now())));
    }
    out.push_str(&format!(
        "[{}:{}] [pid {pid}:tid {tid}] ",
        entry.module, entry.level
    ));
    if let Some(source) = entry
        .source
        .filter(|_| level_number(entry.level) >= Some(7))
    {
        out.push_str(source);
        out.push_str(": ");
    }
    if let Some(cause) = entry.cause {
        out.push_str(&cause_text(cause));
        out.push_str(": ");
    }
    if let Some(request) = &entry.request {
        out.push_str(&format!("[client {}] ", client_text(request, false)));
    }
    // Messages and the Referer are escaped as Apache escapes them: a request cannot write
    // lines of its own into the log.
    out.push_str(&escape_log(entry.message));
    if let Some(referer) = entry.request.as_ref().and_then(|r| r.header("Referer")) {
        out.push_str(", referer: ");
        out.push_str(&escape_log(referer));
    }
    Some(out)
}

/// Whether a message of `module` at `level` is logged.
pub fn enabled(module: &str, level: &str) -> bool {
    enabled_with(&[], module, level)
}

/// The same where a virtual host or section adds LogLevel words of its own.
pub fn enabled_with(words: &[String], module: &str, level: &str) -> bool {
    let Some(n) = level_number(level) else {
        return true;
    };
    // Apache logs notices whatever the LogLevel.
    if n == 5 {
        return true;
    }
    if words.is_empty() && n > MOST_VERBOSE.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    let Ok(configured) = CONFIGURED.read() else {
        return true;
    };
    if words.is_empty() {
        return configured.allows(module, n);
    }
    let mut levels = Levels {
        global: configured.global,
        modules: configured.modules.clone(),
    };
    levels.apply(words);
    levels.allows(module, n)
}

type SyslogLogger = syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>;

/// The syslog connection when ErrorLog names syslog (messages then go there, without the
/// timestamp, which syslog adds).
static SYSLOG: std::sync::Mutex<Option<SyslogLogger>> = std::sync::Mutex::new(None);

/// Logs a message to the error log if LogLevel lets it through.
pub fn error(module: &str, level: &str, message: &str) {
    emit(&Entry {
        module,
        level,
        message: message.as_bytes(),
        cause: None,
        request: None,
        source: None,
    });
}

/// A startup message as Apache writes it, without time or tags (AH00558), if LogLevel lets
/// `level` through.
pub fn bare(level: &str, text: &str) {
    if !enabled("core", level) {
        return;
    }
    if !to_syslog(level, || Some(text.to_string())) {
        write_line(text);
    }
}

/// Writes one line to standard error in a single write(2): every process of the server appends
/// to the same error log, and eprintln!'s separate write for the newline let another process's
/// line land in between.
fn write_line(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(&with_newline(text));
}

fn with_newline(text: &str) -> Vec<u8> {
    let mut line = Vec::with_capacity(text.len() + 1);
    line.extend_from_slice(text.as_bytes());
    line.push(b'\n');
    line
}

/// Sends a line to syslog at `level` when ErrorLog names syslog; false when it does not.
fn to_syslog(level: &str, text: impl FnOnce() -> Option<String>) -> bool {
    let Ok(mut guard) = SYSLOG.lock() else {
        return false;
    };
    let Some(logger) = guard.as_mut() else {
        return false;
    };
    let Some(text) = text() else {
        return true;
    };
    let _ = match level_number(level).unwrap_or(4) {
        0 => logger.emerg(text),
        1 => logger.alert(text),
        2 => logger.crit(text),
        3 => logger.err(text),
        4 => logger.warning(text),
        5 => logger.notice(text),
        6 => logger.info(text),
        _ => logger.debug(text),
    };
    true
}

/// Writes `entry` to the error log (syslog, or standard error) if LogLevel lets it through.
pub fn emit(entry: &Entry) {
    if enabled(entry.module, entry.level) {
        write_entry(entry);
    }
}

/// Writes `entry` to the error log, its level already checked by the caller.
pub fn write_entry(entry: &Entry) {
    if to_syslog(entry.level, || render(entry, false)) {
        return;
    }
    if let Some(text) = render(entry, true) {
        write_line(&text);
    }
}

/// Syslog's facilities by the names Apache takes (a prefix of the name is enough).
const FACILITIES: [(&str, syslog::Facility); 20] = [
    ("kern", syslog::Facility::LOG_KERN),
    ("user", syslog::Facility::LOG_USER),
    ("mail", syslog::Facility::LOG_MAIL),
    ("daemon", syslog::Facility::LOG_DAEMON),
    ("auth", syslog::Facility::LOG_AUTH),
    ("syslog", syslog::Facility::LOG_SYSLOG),
    ("lpr", syslog::Facility::LOG_LPR),
    ("news", syslog::Facility::LOG_NEWS),
    ("uucp", syslog::Facility::LOG_UUCP),
    ("cron", syslog::Facility::LOG_CRON),
    ("authpriv", syslog::Facility::LOG_AUTHPRIV),
    ("ftp", syslog::Facility::LOG_FTP),
    ("local0", syslog::Facility::LOG_LOCAL0),
    ("local1", syslog::Facility::LOG_LOCAL1),
    ("local2", syslog::Facility::LOG_LOCAL2),
    ("local3", syslog::Facility::LOG_LOCAL3),
    ("local4", syslog::Facility::LOG_LOCAL4),
    ("local5", syslog::Facility::LOG_LOCAL5),
    ("local6", syslog::Facility::LOG_LOCAL6),
    ("local7", syslog::Facility::LOG_LOCAL7),
];

/// The facility and tag of `syslog[:facility][:tag]` (local7 and the program's name unless
/// given); `None` for an unknown facility.
fn syslog_target(value: &str, program: &str) -> Option<(syslog::Facility, String)> {
    let mut parts = value.splitn(3, ':').skip(1);
    let facility_name = parts.next().unwrap_or("");
    let tag = parts.next().filter(|t| !t.is_empty()).unwrap_or(program);
    let facility = if facility_name.is_empty() {
        syslog::Facility::LOG_LOCAL7
    } else {
        FACILITIES
            .iter()
            .find(|(name, _)| {
                name.len() >= facility_name.len()
                    && name[..facility_name.len()].eq_ignore_ascii_case(facility_name)
            })
            .map(|(_, f)| *f)?
    };
    Some((facility, tag.to_string()))
}

/// Connects to syslog for an ErrorLog of `syslog[:facility][:tag]`.
fn open_syslog(value: &str, program: &str) -> Result<SyslogLogger, String> {
    let (facility, process) = syslog_target(value, program)
        .ok_or_else(|| format!("unknown syslog facility in {value}"))?;
    syslog::unix(syslog::Formatter3164 {
        facility,
        hostname: None,
        process,
        pid: std::process::id(),
    })
    .map_err(|err| {
        // No syslog daemon to talk to: Apache's openlog cannot tell and loses the messages;
        // say so and keep them on standard error instead.
        format!("no syslog socket to send to ({err}); the error log stays on standard error")
    })
}

/// Where the main server's ErrorLog goes.
pub enum Destination {
    File(std::path::PathBuf),
    /// A piped logger: the command, and whether it runs through the shell (`|$`).
    Pipe(String, bool),
    Syslog(String),
}

/// The main server's ErrorLog (ServerRoot-relative; Apache's default `logs/error_log`).
pub fn destination(config: &Config) -> Destination {
    let value = config
        .main_server()
        .error_log
        .clone()
        .unwrap_or_else(|| crate::build_info::DEFAULT_ERRORLOG.to_string());
    if let Some(command) = value.strip_prefix('|') {
        return match command.strip_prefix('$') {
            Some(rest) => Destination::Pipe(rest.trim().to_string(), true),
            None => Destination::Pipe(
                command
                    .strip_prefix('|')
                    .unwrap_or(command)
                    .trim()
                    .to_string(),
                false,
            ),
        };
    }
    if value == "syslog" || value.starts_with("syslog:") {
        return Destination::Syslog(value);
    }
    Destination::File(config.read.server_root_relative(&value))
}

/// A virtual host's own ErrorLog: request errors of the host go there, not to the main log.
pub enum OwnErrorLog {
    File(std::fs::File),
    /// A piped logger (`|program`), started for this generation of the server.
    Pipe(std::sync::Arc<crate::piped_log::PipedLogger>),
}

impl std::fmt::Debug for OwnErrorLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OwnErrorLog::File(file) => f.debug_tuple("File").field(file).finish(),
            OwnErrorLog::Pipe(logger) => f.debug_tuple("Pipe").field(&logger.command()).finish(),
        }
    }
}

impl OwnErrorLog {
    /// Appends one line in a single write(2), as the main log is written (every child shares
    /// the descriptor).
    pub fn write_line(&self, text: &str) {
        use std::io::Write;
        let line = with_newline(text);
        let _ = match self {
            OwnErrorLog::File(file) => (&*file).write_all(&line),
            OwnErrorLog::Pipe(logger) => logger.writer().write_all(&line),
        };
    }
}

/// What a failure to open a log says in the error log, which is standard error by then: a
/// module's log line, or a bare startup line (Apache's APLOG_STARTUP).
#[derive(Debug)]
pub enum StartupMessage {
    Line {
        module: &'static str,
        level: &'static str,
        text: String,
    },
    Bare(String),
}

impl StartupMessage {
    pub fn write(&self) {
        match self {
            StartupMessage::Line {
                module,
                level,
                text,
            } => error(module, level, text),
            // Startup lines pass whatever LogLevel says.
            StartupMessage::Bare(text) => bare("emerg", text),
        }
    }
}

/// Opens a virtual host's own ErrorLog (`None` when it has none and shares the main one).
pub fn open_vhost_error_log(
    value: Option<&str>,
    config: &Config,
    program: &str,
) -> Result<Option<OwnErrorLog>, StartupMessage> {
    let Some(value) = value else {
        return Ok(None);
    };
    if value.starts_with('|') {
        // As Apache does for a virtual host's logger, its program's errors go where the
        // server's own standard error goes.
        return crate::piped_log::PipedLogger::spawn(value, &config.read.server_root)
            .map(|logger| Some(OwnErrorLog::Pipe(logger)))
            .map_err(|err| StartupMessage::Bare(cannot_start_error_logger(&err, value)));
    }
    if value == "syslog" || value.starts_with("syslog:") {
        let text = format!("ErrorLog {value} in a <VirtualHost>: syslog is only implemented for the main server's error log yet; this host logs to the main error log");
        error("core", "warn", &text);
        return Ok(None);
    }
    let path = config.read.server_root_relative(value);
    open_append(&path)
        .map(|file| Some(OwnErrorLog::File(file)))
        .map_err(|err| StartupMessage::Bare(cannot_open_error_log(&err, program, &path)))
}

fn cannot_start_error_logger(err: &std::io::Error, destination: &str) -> String {
    let command = destination.trim_start_matches(['|', '$']).trim();
    format!(
        "{}: AH00089: Couldn't start ErrorLog process '{command}'.",
        crate::config::read::errno_text(err)
    )
}

/// A log file opened for appending (created if missing), as Apache opens its logs.
pub fn open_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

fn cannot_open_error_log(err: &std::io::Error, program: &str, path: &std::path::Path) -> String {
    format!(
        "{}: AH00091: {program}: could not open error log file {}.",
        crate::config::read::errno_text(err),
        path.display()
    )
}

/// What follows any failure to open a log, as its own line.
pub const UNABLE_TO_OPEN_LOGS: &str = "\nAH00015: Unable to open logs";

/// Opens the ErrorLog and makes it standard error, as Apache does once it runs; the piped
/// logger, if any, to be kept for the server's life.
pub fn open_error_log(
    config: &Config,
    program: &str,
) -> Result<Option<std::sync::Arc<crate::piped_log::PipedLogger>>, String> {
    match destination(config) {
        Destination::File(path) => {
            let file = open_append(&path)
                .map_err(|err| cannot_open_error_log(&err, program, &path) + UNABLE_TO_OPEN_LOGS)?;
            crate::sys::stderr_to(&file).map_err(|e| e.to_string())?;
            Ok(None)
        }
        Destination::Pipe(command, shell) => {
            let destination = format!("|{}{command}", if shell { "$" } else { "" });
            let logger = crate::piped_log::PipedLogger::spawn_error_log(
                &destination,
                &config.read.server_root,
            )
            .map_err(|err| cannot_start_error_logger(&err, &destination) + UNABLE_TO_OPEN_LOGS)?;
            crate::sys::stderr_to(logger.writer()).map_err(|e| e.to_string())?;
            Ok(Some(logger))
        }
        Destination::Syslog(value) => {
            if syslog_target(&value, program).is_none() {
                return Err(format!("AH10036: {program}: could not open syslog error log {value}.\nAH00015: Unable to open logs"));
            }
            match open_syslog(&value, program) {
                Ok(logger) => {
                    if let Ok(mut guard) = SYSLOG.lock() {
                        *guard = Some(logger);
                    }
                }
                Err(text) => error("core", "warn", &text),
            }
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn syslog_targets_take_a_facility_prefix_and_a_tag() {
        let (facility, tag) = syslog_target("syslog", "rhttpd").unwrap();
        assert_eq!(
            (facility as i32, tag.as_str()),
            (syslog::Facility::LOG_LOCAL7 as i32, "rhttpd")
        );
        let (facility, tag) = syslog_target("syslog:dae:web", "rhttpd").unwrap();
        assert_eq!(
            (facility as i32, tag.as_str()),
            (syslog::Facility::LOG_DAEMON as i32, "web")
        );
        let (_, tag) = syslog_target("syslog::web", "rhttpd").unwrap();
        assert_eq!(tag, "web");
        assert!(syslog_target("syslog:nosuch", "rhttpd").is_none());
    }

    #[test]
    fn formats_like_apache() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_676_511_030_592);
        assert_eq!(timestamp(t), "Thu Nov 26 07:01:51.030592 2026");
    }
}
