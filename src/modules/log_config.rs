//! mod_log_config (with mod_logio's items), whole: LogFormat, CustomLog, TransferLog, GlobalLog
//! and BufferedLogs (table, setters, typed per-server configuration).
//! Formats are parsed once per configuration; log files and piped loggers are opened by the
//! parent before it forks (so children share them) and again on every restart; each record
//! goes out in one `write(2)` on an `O_APPEND` descriptor (or a pipe, whole under PIPE_BUF),
//! so lines from many processes and threads never tear or interleave.

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::{DirConfig, Origin, ReadState, Server};
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::starts_with_ignore_case;

use crate::http1::Headers;
use crate::http1::RequestHead;
use crate::log::StartupMessage;

pub static MODULE: ModuleDef = ModuleDef {
    id: "log_config_module",
    source: "mod_log_config.c",
    builtin: true,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new("CustomLog", Take23(custom_log), RSRC_CONF, "a file name, a custom log format string or format name, and an optional \"env=\" or \"expr=\" clause (see docs)").implemented(),
    DirectiveDef::new("GlobalLog", Take23(custom_log), RSRC_CONF, "Same as CustomLog, but forces virtualhosts to inherit the log").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("TransferLog", Take1(transfer_log), RSRC_CONF, "the filename of the access log").implemented(),
    DirectiveDef::new("LogFormat", Take12(log_format), RSRC_CONF, "a log format string (see docs) and an optional format name").implemented(),
    DirectiveDef::new("BufferedLogs", Flag(buffered_logs), RSRC_CONF, "Enable Buffered Logging (experimental)").implemented(),
];

/// CustomLog and GlobalLog: the condition clause, then the format (a nickname parses as
/// plain text, so it always passes).
fn custom_log(cmd: &mut Cmd, file: &str, format: &str, clause: Option<&str>) -> SetResult {
    let mut expr = None;
    if let Some(clause) = clause {
        if starts_with_ignore_case(clause, "env=") {
            if clause.len() == 4 || &clause[4..] == "!" {
                return Err("missing environment variable name".into());
            }
        } else if starts_with_ignore_case(clause, "expr=") {
            if clause.len() == 5 {
                return Err("missing condition".into());
            }
            // Parsed here, under the RegexDefaultOptions of this line.
            expr = Some(rhttpd_directives::expr::parse(&clause[5..])?);
        } else {
            return Err("error in condition clause".into());
        }
    }
    check_log_format(format, ssl_loaded(cmd))?;
    // The keyword in any case, as Apache reads it.
    let env = clause
        .filter(|c| starts_with_ignore_case(c, "env="))
        .map(|c| &c[4..])
        .map(|v| match v.strip_prefix('!') {
            Some(name) => (name.to_string(), true),
            None => (v.to_string(), false),
        });
    let kind = if cmd.name() == "GlobalLog" {
        Kind::Global
    } else {
        Kind::Custom
    };
    let origin = cmd.origin();
    cmd.server_config::<ServerConf>().logs.push(LogLine {
        kind,
        destination: file.to_string(),
        format: Some(format.to_string()),
        clause: clause.map(str::to_string),
        env,
        expr,
        origin,
    });
    Ok(())
}

/// TransferLog: a log in the format the last one-argument LogFormat gives.
fn transfer_log(cmd: &mut Cmd, file: &str) -> SetResult {
    let origin = cmd.origin();
    cmd.server_config::<ServerConf>().logs.push(LogLine {
        kind: Kind::Transfer,
        destination: file.to_string(),
        format: None,
        clause: None,
        env: None,
        expr: None,
        origin,
    });
    Ok(())
}

fn log_format(cmd: &mut Cmd, format: &str, name: Option<&str>) -> SetResult {
    check_log_format(format, ssl_loaded(cmd))?;
    let entry = (name.map(str::to_string), format.to_string());
    cmd.server_config::<ServerConf>().formats.push(entry);
    Ok(())
}

/// BufferedLogs: read from the main server only; its last line wins.
fn buffered_logs(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.server_config::<ServerConf>().buffered = Some(on);
    Ok(())
}

/// Whether the configuration being read loads mod_ssl (its log items are known then).
fn ssl_loaded(cmd: &Cmd) -> bool {
    cmd.cfg.read.modules.iter().any(|m| m.id == "ssl_module")
}

/// mod_log_config's `parse_log_string`: each `%` directive may carry `!`, `<`, `>`, `,`,
/// status numbers and one `{argument}` before its letter, which mod_log_config or mod_logio
/// must have registered.
fn check_log_format(format: &str, ssl: bool) -> SetResult {
    const LETTERS: &[u8] = b"aAbBCDefhHiIklLmnoOpPqrRsStTuUvVX";
    // mod_ssl registers %{...}c and %{...}x when it is loaded.
    const SSL_LETTERS: &[u8] = b"cx";
    const CARETS: &[&[u8]] = &[b"^ti", b"^to", b"^FB"];
    let bytes = format.as_bytes();
    let mut i = 0;
    'items: while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        if bytes.get(i) == Some(&b'%') {
            i += 1;
            continue;
        }
        while i < bytes.len() {
            match bytes[i] {
                b'!' | b'<' | b'>' | b',' | b'0'..=b'9' => i += 1,
                b'{' => {
                    i = match bytes[i..].iter().position(|&b| b == b'}') {
                        Some(close) => i + close + 1,
                        None => bytes.len(),
                    };
                }
                letter => {
                    if CARETS.iter().any(|c| bytes[i..].starts_with(c)) {
                        i += 3;
                    } else if LETTERS.contains(&letter) || (ssl && SSL_LETTERS.contains(&letter)) {
                        i += 1;
                    } else {
                        let shown = format[i..].chars().next().unwrap_or_default();
                        return Err(format!("Unrecognized LogFormat directive %{shown}"));
                    }
                    continue 'items;
                }
            }
        }
        return Err("Ran off end of LogFormat parsing args to some directive".into());
    }
    Ok(())
}

/// Which directive a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Custom,
    Transfer,
    Global,
}

/// One CustomLog, TransferLog or GlobalLog line, as its setter parsed it.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub kind: Kind,
    pub destination: String,
    /// The format or nickname as written; none for TransferLog (the default format).
    pub format: Option<String>,
    /// The condition clause as written (it tells logs to the same destination apart).
    pub clause: Option<String>,
    /// `env=VAR` / `env=!VAR`: (variable, negated).
    pub env: Option<(String, bool)>,
    /// `expr=...`, parsed.
    pub expr: Option<rhttpd_directives::expr::Expr>,
    /// Where the line is (check_config names it).
    pub origin: Origin,
}

/// Per-server: a server's own LogFormat, log and BufferedLogs lines, in order.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    /// LogFormat lines: (nickname, format); no nickname sets the default format.
    pub formats: Vec<(Option<String>, String)>,
    pub logs: Vec<LogLine>,
    pub buffered: Option<bool>,
}

impl DirConfig for ServerConf {
    /// A virtual host's own lines: what it inherits from the main server (its formats, its
    /// logs when it has none of its own, the GlobalLog ones) `Logs::open` decides, as
    /// mod_log_config's open step does.
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        vhost.clone()
    }
}

/// Apache's built-in nickname: the Common Log Format.
const COMMON: &str = "%h %l %u %t \"%r\" %>s %b";

/// One parsed format item.
#[derive(Debug, Clone)]
enum Item {
    Text(String),
    Field(Field),
}

#[derive(Debug, Clone)]
struct Field {
    /// The item's letter, or `^ti`, `^to`, `^FB`.
    code: String,
    arg: Option<String>,
    /// `<` (original) or `>` (final) when given.
    want_final: Option<bool>,
    /// Statuses the item is limited to (`!` negates).
    statuses: Option<(bool, Vec<u16>)>,
}

/// A parsed LogFormat.
#[derive(Debug, Clone)]
pub struct Format(Vec<Item>);

impl Format {
    /// Parses a format string the configuration check already accepted, with Apache's
    /// parse-time escapes in literal text (`\n`, `\t`, `\r`, `\\`).
    pub fn parse(text: &str) -> Format {
        let mut items = Vec::new();
        let mut literal = String::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '\\' => {
                    match chars.get(i + 1) {
                        Some('n') => literal.push('\n'),
                        Some('t') => literal.push('\t'),
                        Some('r') => literal.push('\r'),
                        Some('\\') => literal.push('\\'),
                        Some(&other) => {
                            literal.push('\\');
                            literal.push(other);
                        }
                        None => literal.push('\\'),
                    }
                    i += 2;
                }
                '%' if chars.get(i + 1) == Some(&'%') => {
                    literal.push('%');
                    i += 2;
                }
                '%' => {
                    i += 1;
                    let mut field = Field {
                        code: String::new(),
                        arg: None,
                        want_final: None,
                        statuses: None,
                    };
                    let mut negate = false;
                    let mut statuses = Vec::new();
                    let mut number = String::new();
                    while i < chars.len() {
                        match chars[i] {
                            '!' => negate = true,
                            '<' => field.want_final = Some(false),
                            '>' => field.want_final = Some(true),
                            ',' => {
                                statuses.extend(number.parse::<u16>());
                                number.clear();
                            }
                            d if d.is_ascii_digit() => number.push(d),
                            '{' => {
                                let rest: String = chars[i + 1..].iter().collect();
                                let close = rest.find('}').unwrap_or(rest.len());
                                field.arg = Some(rest[..close].to_string());
                                i += close + 1;
                            }
                            '^' => {
                                field.code = chars[i..(i + 3).min(chars.len())].iter().collect();
                                i += 3;
                                break;
                            }
                            letter => {
                                field.code = letter.to_string();
                                i += 1;
                                break;
                            }
                        }
                        i += 1;
                    }
                    statuses.extend(number.parse::<u16>());
                    if !statuses.is_empty() {
                        field.statuses = Some((negate, statuses));
                    }
                    if !literal.is_empty() {
                        items.push(Item::Text(std::mem::take(&mut literal)));
                    }
                    items.push(Item::Field(field));
                }
                c => {
                    literal.push(c);
                    i += 1;
                }
            }
        }
        if !literal.is_empty() {
            items.push(Item::Text(literal));
        }
        Format(items)
    }

    /// One record, newline included.
    pub fn render(&self, record: &Record) -> Vec<u8> {
        let mut out = String::with_capacity(256);
        for item in &self.0 {
            match item {
                Item::Text(text) => out.push_str(text),
                Item::Field(field) => {
                    let allowed = match &field.statuses {
                        Some((negate, list)) => list.contains(&record.status) != *negate,
                        None => true,
                    };
                    if allowed {
                        field_value(field, record, &mut out);
                    } else {
                        out.push('-');
                    }
                }
            }
        }
        out.push('\n');
        out.into_bytes()
    }
}

/// What a log record is made from: the request as received, what the pipeline decided, and
/// what went out.
pub struct Record<'a> {
    pub head: &'a RequestHead,
    /// The request headers as the modules left them (RequestHeader may change them).
    pub request_headers: &'a Headers,
    /// The connection's client (`%{c}a`, CONN_REMOTE_ADDR, REMOTE_PORT).
    pub peer: SocketAddr,
    /// The request's user agent (`%a`, `%h`, `%{remote}p`, REMOTE_ADDR): the connection's
    /// client unless mod_remoteip named another.
    pub useragent: &'a crate::request::ClientAddr,
    pub local: SocketAddr,
    pub status: u16,
    pub response_headers: &'a Headers,
    pub content_type: Option<&'a str>,
    /// Body bytes sent.
    pub body_bytes: u64,
    /// Bytes received (head and body) and sent (head and body): mod_logio.
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub started: SystemTime,
    pub duration: Duration,
    /// Requests already served on this connection before this one.
    pub keepalives: u64,
    /// The answering server's ServerName and its configured port (if any).
    pub server_name: &'a str,
    pub server_port: Option<u16>,
    /// The request's path before and after internal redirects, its query and file.
    pub original_uri: &'a [u8],
    pub final_uri: &'a [u8],
    pub args: Option<&'a str>,
    pub filename: Option<&'a str>,
    pub handler: Option<&'a str>,
    pub user: Option<&'a str>,
    /// The name the request used (Host header, unless UseCanonicalName On).
    pub request_host: &'a str,
    /// Whether the connection stays open for another request, or was lost mid-response.
    pub keep_alive: bool,
    pub aborted: bool,
    /// The request's environment (`%{VAR}e`, `env=` conditions).
    pub env: &'a [(String, String)],
    /// Notes modules left for the log (`%{NAME}n`: DeflateFilterNote).
    pub notes: &'a [(String, String)],
    /// The user agent's name, when HostnameLookups found one (`%h`).
    pub remote_host: Option<&'a str>,
    /// The connection's client's name (`%{c}h`), where that client is not the user agent.
    pub conn_remote_host: Option<&'a str>,
    /// Time to the first byte of the response, when LogIOTrackTTFB measured it (`%^FB`).
    pub ttfb: Option<Duration>,
    /// The connection's TLS session, for mod_ssl's `%{VAR}x` and `%{NAME}c`.
    pub tls: Option<&'a crate::server::tls::TlsInfo>,
}

impl Record<'_> {
    /// A request header as the modules left it, in the bytes it arrived as if they did not
    /// change it.
    fn request_header(&self, name: &str) -> Option<&[u8]> {
        self.request_headers
            .get(name)
            .map(|value| self.head.received(name, value))
    }
}

/// Apache's `ap_escape_logitem`: quotes, backslashes, controls and bytes >= 0x80 escaped.
pub fn escape_into(text: impl AsRef<[u8]>, out: &mut String) {
    escape_log_bytes(text.as_ref(), out, true);
}

/// The escaping both logs share: a backslash doubled, `\b \n \r \t \v` named, other
/// control bytes and bytes with the top bit set as `\xhh`; double quotes too when `quotes`
/// (the access log's `ap_escape_logitem`; the error log's `ap_escape_errorlog_item` keeps them).
pub fn escape_log_bytes(text: &[u8], out: &mut String, quotes: bool) {
    let mut at = 0;
    while at < text.len() {
        // A configuration byte that was not UTF-8 is written as the byte it stands for.
        if let Some(byte) = rhttpd_directives::util::raw_text::stood_for(&text[at..]) {
            let _ = std::fmt::Write::write_fmt(out, format_args!("\\x{byte:02x}"));
            at += 4;
            continue;
        }
        let byte = text[at];
        at += 1;
        match byte {
            b'"' if quotes => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x0b => out.push_str("\\v"),
            0x20..=0x7e => out.push(byte as char),
            _ => {
                let _ = std::fmt::Write::write_fmt(out, format_args!("\\x{byte:02x}"));
            }
        }
    }
}

fn push_or_dash<T: AsRef<[u8]> + ?Sized>(value: Option<&T>, out: &mut String) {
    match value.map(AsRef::as_ref) {
        Some(v) if !v.is_empty() => escape_into(v, out),
        _ => out.push('-'),
    }
}

fn push_number(value: impl std::fmt::Display, out: &mut String) {
    let _ = std::fmt::Write::write_fmt(out, format_args!("{value}"));
}

fn field_value(field: &Field, r: &Record, out: &mut String) {
    let arg = field.arg.as_deref();
    match field.code.as_str() {
        // `%{c}h` and `%{c}a` name the connection's client, the plain forms the request's
        // user agent (they differ once mod_remoteip has named another).
        "h" if arg == Some("c") => {
            let connection = r.useragent.addr == r.peer;
            match (connection, r.remote_host, r.conn_remote_host) {
                (true, Some(name), _) | (false, _, Some(name)) => escape_into(name, out),
                _ => push_number(r.peer.ip(), out),
            }
        }
        "h" => match r.remote_host {
            Some(name) => escape_into(name, out),
            None => out.push_str(&r.useragent.ip_text()),
        },
        "a" if arg == Some("c") => push_number(r.peer.ip(), out),
        "a" => out.push_str(&r.useragent.ip_text()),
        "A" => push_number(r.local.ip(), out),
        "b" => match r.body_bytes {
            0 => out.push('-'),
            n => push_number(n, out),
        },
        "B" => push_number(r.body_bytes, out),
        "C" => {
            let name = arg.unwrap_or("");
            let cookie = r.request_header("Cookie").and_then(|cookies| {
                cookies.split(|&b| b == b';').find_map(|pair| {
                    let eq = pair.iter().position(|&b| b == b'=')?;
                    let (k, v) = (&pair[..eq], &pair[eq + 1..]);
                    (k.trim_ascii() == name.as_bytes()).then(|| v.trim_ascii())
                })
            });
            push_or_dash(cookie, out);
        }
        "D" => push_number(r.duration.as_micros(), out),
        "e" => push_or_dash(crate::modules::env::get(r.env, arg.unwrap_or("")), out),
        "f" => push_or_dash(r.filename, out),
        "H" => out.push_str(match r.head.version {
            crate::http1::Version::Http09 => "HTTP/0.9",
            crate::http1::Version::Http10 => "HTTP/1.0",
            crate::http1::Version::Http11 => "HTTP/1.1",
        }),
        "i" => push_or_dash(r.request_header(arg.unwrap_or("")), out),
        "o" => {
            let name = arg.unwrap_or("");
            if name.eq_ignore_ascii_case("Content-Type") {
                let bare = r
                    .content_type
                    .map(|ct| ct.split(';').next().unwrap_or("").trim());
                push_or_dash(bare, out);
            } else {
                let values: Vec<&str> = r
                    .response_headers
                    .0
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
                    .collect();
                if values.is_empty() {
                    out.push('-');
                } else if name.eq_ignore_ascii_case("Set-Cookie") {
                    escape_into(values.join(", "), out);
                } else {
                    escape_into(values[0], out);
                }
            }
        }
        "k" => push_number(r.keepalives, out),
        "n" => {
            let note = arg.and_then(|name| r.notes.iter().find(|(n, _)| n == name));
            push_or_dash(note.map(|(_, v)| v.as_str()), out)
        }
        "l" | "L" | "^ti" | "^to" => out.push('-'),
        "m" => escape_into(r.head.received_method(), out),
        "p" => match arg {
            Some("local") => push_number(r.local.port(), out),
            Some("remote") => push_number(r.useragent.port(), out),
            _ => push_number(r.server_port.unwrap_or(80), out),
        },
        "P" => match arg {
            Some("tid") => push_number(crate::sys::thread_id(), out),
            Some("hextid") => push_number(format!("{:x}", crate::sys::thread_id()), out),
            _ => push_number(std::process::id(), out),
        },
        "q" => {
            if let Some(args) = r.args {
                out.push('?');
                escape_into(args, out);
            }
        }
        "r" => push_or_dash(Some(&r.head.request_line), out),
        "R" => push_or_dash(r.handler, out),
        "s" => push_number(r.status, out),
        "t" => time_value(arg, r, out),
        "T" => match arg {
            Some("ms") => push_number(r.duration.as_millis(), out),
            Some("us") => push_number(r.duration.as_micros(), out),
            _ => push_number(r.duration.as_secs(), out),
        },
        "u" => match r.user {
            Some("") => out.push_str("\"\""),
            user => push_or_dash(user, out),
        },
        "U" => {
            let uri = if field.want_final == Some(true) {
                r.final_uri
            } else {
                r.original_uri
            };
            escape_into(uri, out);
        }
        "v" => escape_into(r.server_name, out),
        "V" => escape_into(r.request_host, out),
        "X" => out.push(match (r.aborted, r.keep_alive) {
            (true, _) => 'X',
            (false, true) => '+',
            (false, false) => '-',
        }),
        "I" => push_number(r.bytes_in, out),
        "O" => push_number(r.bytes_out, out),
        "S" => push_number(r.bytes_in + r.bytes_out, out),
        "x" => {
            let value = crate::modules::ssl::vars::lookup(r.tls, arg.unwrap_or(""), false);
            push_or_dash(value.as_deref().filter(|v| !v.is_empty()), out)
        }
        "c" => {
            let var = match arg.unwrap_or("") {
                "version" => Some("SSL_PROTOCOL"),
                "cipher" => Some("SSL_CIPHER"),
                "subjectdn" | "clientcert" => Some("SSL_CLIENT_S_DN"),
                "issuerdn" | "cacert" => Some("SSL_CLIENT_I_DN"),
                "errstr" => Some("SSL_CLIENT_VERIFY_ERROR"),
                _ => None,
            };
            let value = var.and_then(|v| crate::modules::ssl::vars::lookup(r.tls, v, false));
            push_or_dash(value.as_deref().filter(|v| !v.is_empty()), out)
        }
        "^FB" => match r.ttfb {
            Some(ttfb) => push_number(ttfb.as_micros(), out),
            None => out.push('-'),
        },
        _ => out.push('-'),
    }
}

/// `[day/month/year:hour:minute:second zone]` in local time, as `%t` writes it: formatted
/// once a second on each thread (Apache's mod_log_config keeps its last few too), every
/// request of that second copying the text.
fn push_clf_time(secs: i64, out: &mut String) {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != secs {
            let local = crate::sys::local_time(secs);
            let offset = local.gmtoff / 60;
            let sign = if offset < 0 { '-' } else { '+' };
            let mut text = String::with_capacity(28);
            let _ = std::fmt::Write::write_fmt(
                &mut text,
                format_args!(
                    "[{:02}/{}/{}:{:02}:{:02}:{:02} {sign}{:02}{:02}]",
                    local.day,
                    crate::http1::date::MONTHS[local.month as usize - 1],
                    local.year,
                    local.hour,
                    local.minute,
                    local.second,
                    offset.abs() / 60,
                    offset.abs() % 60
                ),
            );
            *last = (secs, text);
        }
        out.push_str(&last.1);
    });
}

/// `%t` and `%{...}t`: Apache's CLF time, strftime patterns (with `begin:`/`end:`), and the
/// epoch forms.
fn time_value(arg: Option<&str>, r: &Record, out: &mut String) {
    let (pattern, at) = match arg {
        Some(a) if a.starts_with("end:") => (Some(&a[4..]), r.started + r.duration),
        Some(a) if a.starts_with("begin:") => (Some(&a[6..]), r.started),
        Some(a) => (Some(a), r.started),
        None => (None, r.started),
    };
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    match pattern {
        None | Some("") => push_clf_time(since.as_secs() as i64, out),
        Some("sec") => push_number(since.as_secs(), out),
        Some("msec") => push_number(since.as_millis(), out),
        Some("usec") => push_number(since.as_micros(), out),
        Some("msec_frac") => push_number(format!("{:03}", since.subsec_millis()), out),
        Some("usec_frac") => push_number(format!("{:06}", since.subsec_micros()), out),
        Some(pattern) => out.push_str(&crate::sys::strftime_local(pattern, since.as_secs() as i64)),
    }
}

/// Where records go: a file opened for appending, or a piped logger's standard input.
pub(crate) enum Sink {
    File(File),
    Pipe(Arc<crate::piped_log::PipedLogger>),
}

impl Sink {
    /// Writes the bytes in one write (a failure is not the request's to report).
    pub(crate) fn send(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let _ = match self {
            Sink::File(file) => (&*file).write_all(bytes),
            Sink::Pipe(logger) => logger.writer().write_all(bytes),
        };
    }
}
/// One CustomLog (or TransferLog, GlobalLog) of a server.
pub struct Log {
    sink: Sink,
    format: Format,
    /// `env=VAR` / `env=!VAR`: (variable, negated).
    env: Option<(String, bool)>,
    /// `expr=...`: logged only when the expression holds for the request.
    expr: Option<rhttpd_directives::expr::Expr>,
    /// BufferedLogs On: whole records gathered here and written 4 KiB at a time (and when the
    /// child leaves), as Apache's buffered logs are.
    buffer: Option<Mutex<Vec<u8>>>,
}

/// Apache's LOG_BUFSIZE.
const LOG_BUFFER: usize = 4096;

impl Log {
    /// Writes the record if the condition holds, in one write (or into the buffer).
    pub fn write(&self, record: &Record) {
        if let Some(expr) = &self.expr {
            // An expression that fails to evaluate logs nothing, as Apache's does.
            if expr.eval(record) != Ok(true) {
                return;
            }
        }
        if let Some((name, negated)) = &self.env {
            let set = crate::modules::env::get(record.env, name).is_some();
            if set == *negated {
                return;
            }
        }
        let line = self.format.render(record);
        let Some(buffer) = &self.buffer else {
            self.send(&line);
            return;
        };
        let Ok(mut buffer) = buffer.lock() else {
            return;
        };
        if buffer.len() + line.len() > LOG_BUFFER {
            self.send(&buffer);
            buffer.clear();
        }
        if line.len() > LOG_BUFFER {
            self.send(&line);
        } else {
            buffer.extend_from_slice(&line);
        }
    }

    fn send(&self, bytes: &[u8]) {
        self.sink.send(bytes);
    }

    /// Writes out what BufferedLogs holds.
    fn flush(&self) {
        if let Some(Ok(mut buffer)) = self.buffer.as_ref().map(|b| b.lock()) {
            self.send(&buffer);
            buffer.clear();
        }
    }
}

impl std::fmt::Debug for Logs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counts: Vec<usize> = self.per_server.iter().map(Vec::len).collect();
        f.debug_struct("Logs").field("per_server", &counts).finish()
    }
}

/// The logs of every server, opened for one generation.
#[derive(Default)]
pub struct Logs {
    /// Per server, in `Runtime::servers` order.
    pub per_server: Vec<Vec<Arc<Log>>>,
}

/// The named formats and the default format a server's LogFormat lines define, over
/// those it starts from.
fn formats(conf: &ServerConf, named: &mut Vec<(String, String)>, default: &mut String) {
    for (name, format) in &conf.formats {
        match name {
            None => *default = format.clone(),
            Some(name) => named.push((name.clone(), format.clone())),
        }
    }
}

fn lookup<'a>(named: &'a [(String, String)], text: &'a str) -> &'a str {
    if text == "CLF" {
        return named
            .iter()
            .rev()
            .find(|(n, _)| n == "CLF")
            .map_or(COMMON, |(_, f)| f);
    }
    named
        .iter()
        .rev()
        .find(|(n, _)| n == text)
        .map_or(text, |(_, f)| f)
}

/// Opens a log destination: a file relative to ServerRoot, or a piped logger.
pub(crate) fn open(destination: &str, read: &ReadState) -> Result<Sink, StartupMessage> {
    if let Some(piped) = destination.strip_prefix('|') {
        return crate::piped_log::PipedLogger::spawn(destination, &read.server_root)
            .map(Sink::Pipe)
            .map_err(|e| {
                let program = piped.strip_prefix(['|', '$']).unwrap_or(piped);
                StartupMessage::Bare(format!(
                    "{}: AH00104: unable to start piped log program '{program}'",
                    crate::config::read::errno_text(&e)
                ))
            });
    }
    let path = read.server_root_relative(destination);
    crate::log::open_append(&path)
        .map(Sink::File)
        .map_err(|e| StartupMessage::Line {
            module: "log_config",
            level: "error",
            text: format!(
                "{}: AH00649: could not open transfer log file {}.",
                crate::config::read::errno_text(&e),
                path.display()
            ),
        })
}

impl Logs {
    /// Opens every server's logs. A virtual host with none of its own writes the main
    /// server's; GlobalLog ones are written by every server.
    pub fn open(servers: &[&Server], read: &ReadState) -> Result<Logs, StartupMessage> {
        let mut named = Vec::new();
        let mut default = COMMON.to_string();
        let main = servers[0];
        let main_conf = main
            .modules
            .get::<ServerConf>()
            .cloned()
            .unwrap_or_default();
        let buffered = main_conf.buffered == Some(true);
        formats(&main_conf, &mut named, &mut default);
        let mut opened: Vec<(String, Arc<Log>)> = Vec::new();
        let mut open_logs = |server: &Server,
                             named: &[(String, String)],
                             default: &str,
                             global_only: bool|
         -> Result<Vec<Arc<Log>>, StartupMessage> {
            let mut logs = Vec::new();
            let Some(conf) = server.modules.get::<ServerConf>() else {
                return Ok(logs);
            };
            for line in &conf.logs {
                let format = match (line.kind, &line.format) {
                    (Kind::Global, Some(f)) => lookup(named, f).to_string(),
                    (Kind::Custom, Some(f)) if !global_only => lookup(named, f).to_string(),
                    (Kind::Transfer, _) if !global_only => default.to_string(),
                    _ => continue,
                };
                let destination = &line.destination;
                let clause = line.clause.as_deref();
                // One descriptor per destination, shared by the servers naming it (with the
                // same condition).
                let key = format!(
                    "{destination}\u{0}{format}\u{0}{}",
                    clause.map_or("", |c| c)
                );
                if let Some((_, log)) = opened.iter().find(|(k, _)| *k == key) {
                    logs.push(Arc::clone(log));
                    continue;
                }
                let log = Arc::new(Log {
                    sink: open(destination, read)?,
                    format: Format::parse(&format),
                    env: line.env.clone(),
                    expr: line.expr.clone(),
                    buffer: buffered.then(|| Mutex::new(Vec::with_capacity(LOG_BUFFER))),
                });
                opened.push((key, Arc::clone(&log)));
                logs.push(log);
            }
            Ok(logs)
        };
        let main_logs = open_logs(main, &named, &default, false)?;
        let mut per_server = vec![main_logs.clone()];
        for server in &servers[1..] {
            let mut named_here = named.clone();
            let mut default_here = default.clone();
            let conf = server
                .modules
                .get::<ServerConf>()
                .cloned()
                .unwrap_or_default();
            formats(&conf, &mut named_here, &mut default_here);
            let own = open_logs(server, &named_here, &default_here, false)?;
            let has_own = conf.logs.iter().any(|l| l.kind != Kind::Global);
            let mut logs = if has_own {
                own
            } else {
                let mut inherited = main_logs.clone();
                inherited.extend(own);
                inherited
            };
            // GlobalLog lines of the main server reach every virtual host.
            if has_own {
                for log in open_logs(main, &named, &default, true)? {
                    if !logs.iter().any(|l| Arc::ptr_eq(l, &log)) {
                        logs.push(log);
                    }
                }
            }
            per_server.push(logs);
        }
        Ok(Logs { per_server })
    }

    /// Writes out every buffered record (a child does before it leaves).
    pub fn flush(&self) {
        for log in self.per_server.iter().flatten() {
            log.flush();
        }
    }

    /// Whether `server` has any log to write (so nothing is gathered for none).
    pub fn wanted(&self, server: usize) -> bool {
        self.per_server
            .get(server)
            .is_some_and(|logs| !logs.is_empty())
    }

    /// Writes `record` to every log of `server`.
    pub fn write(&self, server: usize, record: &Record) {
        if let Some(logs) = self.per_server.get(server) {
            for log in logs {
                log.write(record);
            }
        }
    }
}

/// mod_log_config's check_config: every CustomLog, TransferLog and GlobalLog file whose
/// directory cannot be used, as Apache reports them (AH02297, with where the line is).
pub fn inaccessible_log_dirs(config: &rhttpd_directives::model::Config) -> Vec<String> {
    let mut failures = Vec::new();
    for server in &config.servers {
        let Some(conf) = server.modules.get::<ServerConf>() else {
            continue;
        };
        for line in &conf.logs {
            let file = &line.destination;
            if file.starts_with('|') {
                continue;
            }
            let path = config.read.server_root_relative(file);
            if let Some((cause, dir)) = crate::config::inaccessible_parent(&path) {
                failures.push(format!(
                    "{cause}: AH02297: Cannot access directory '{dir}' for log file '{file}' defined at {}:{}",
                    line.origin.file,
                    line.origin.line
                ));
            }
        }
    }
    failures
}

/// ap_expr's IPV6: whether the connection's client is an IPv6 address (not an IPv4-mapped
/// one).
pub fn ipv6_flag(ip: std::net::IpAddr) -> &'static str {
    match ip {
        std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => "on",
        _ => "off",
    }
}

/// What a CustomLog `expr=` condition reads: the finished request as the log sees it.
impl rhttpd_directives::expr::Context for Record<'_> {
    fn var(&self, name: &str) -> Option<String> {
        Some(match name {
            "REQUEST_METHOD" => self.head.method.clone(),
            "REQUEST_URI" | "DOCUMENT_URI" => String::from_utf8_lossy(self.final_uri).into_owned(),
            "QUERY_STRING" => self.args.unwrap_or("").to_string(),
            "THE_REQUEST" => String::from_utf8_lossy(&self.head.request_line).into_owned(),
            "REQUEST_FILENAME" | "SCRIPT_FILENAME" => self.filename.unwrap_or("").to_string(),
            "REMOTE_ADDR" => self.useragent.ip_text().into_owned(),
            "CONN_REMOTE_ADDR" => self.peer.ip().to_string(),
            "REMOTE_PORT" => self.peer.port().to_string(),
            "IPV6" => ipv6_flag(self.peer.ip()).to_string(),
            "REMOTE_USER" => self.user.unwrap_or("").to_string(),
            "REQUEST_STATUS" => self.status.to_string(),
            "SERVER_NAME" => self.request_host.to_string(),
            "HANDLER" => self.handler.unwrap_or("").to_string(),
            "CONTENT_TYPE" => self.content_type.unwrap_or("").to_string(),
            _ => return None,
        })
    }

    fn request_header(&self, name: &str) -> Option<String> {
        self.request_headers.get_joined(name)
    }

    fn response_header(&self, name: &str) -> Option<String> {
        self.response_headers.get_joined(name)
    }

    fn env(&self, name: &str) -> Option<String> {
        crate::modules::env::get(self.env, name).map(str::to_string)
    }

    fn note(&self, name: &str) -> Option<String> {
        self.notes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn remote_ip(&self) -> Option<std::net::IpAddr> {
        Some(self.useragent.ip())
    }
    fn utc_offset(&self, secs: i64) -> i64 {
        crate::sys::local_time(secs).gmtoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_apache_does() {
        let mut out = String::new();
        escape_into("a\"b\\c\nd\te\u{7f}é", &mut out);
        assert_eq!(out, "a\\\"b\\\\c\\nd\\te\\x7f\\xc3\\xa9");
    }

    #[test]
    fn parses_items_modifiers_and_escapes() {
        let f = Format::parse("%h %400,501{User-agent}i %!200s %>s \\t%% %{%Y}t %^FB");
        let fields: Vec<String> =
            f.0.iter()
                .filter_map(|i| match i {
                    Item::Field(f) => Some(format!("{}:{:?}:{:?}", f.code, f.arg, f.statuses)),
                    Item::Text(_) => None,
                })
                .collect();
        assert_eq!(
            fields,
            [
                "h:None:None",
                "i:Some(\"User-agent\"):Some((false, [400, 501]))",
                "s:None:Some((true, [200]))",
                "s:None:None",
                "t:Some(\"%Y\"):None",
                "^FB:None:None"
            ]
        );
        assert!(f
            .0
            .iter()
            .any(|i| matches!(i, Item::Text(t) if t.contains("\t%"))));
    }
}
