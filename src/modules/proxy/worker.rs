//! mod_proxy's workers: what a `ProxyPass`, `<Proxy url>`, `BalancerMember` or `ProxySet`
//! defines (the normalised URL naming the origin, the unix socket it may go through, and the
//! key=value parameters with Apache's checks and messages), and at run time a worker's state:
//! its pool of kept-alive connections (per child process) and its error state (shared by all
//! children, as Apache keeps it in shared memory), and connecting with Apache's log lines.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rhttpd_directives::regex::Regex;

/// `flushpackets=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flush {
    #[default]
    Off,
    On,
    Auto,
}

/// A worker's parameters, each unset until a line sets it (the defaults apply at run time).
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub load_factor: Option<u32>,
    pub retry: Option<Duration>,
    pub ttl: Option<Duration>,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub smax: Option<u32>,
    pub acquire: Option<Duration>,
    pub timeout: Option<Duration>,
    pub io_buffer_size: Option<usize>,
    pub receive_buffer_size: Option<i32>,
    pub keepalive: Option<bool>,
    pub disable_reuse: Option<bool>,
    pub address_ttl: Option<i64>,
    pub route: Option<String>,
    pub redirect: Option<String>,
    /// `status=` letters switched on (`+`) and off (`-`), in order.
    pub status: Vec<(char, bool)>,
    pub flush_packets: Flush,
    pub flush_wait: Option<Duration>,
    pub ping: Option<Duration>,
    pub lbset: Option<u32>,
    pub connection_timeout: Option<Duration>,
    pub flusher: Option<String>,
    pub secret: Option<String>,
    pub upgrade: Option<String>,
    pub response_field_size: Option<usize>,
}

/// `ap_timeout_parameter_parse`: a number with an optional unit (ms, s, mi/min, h), `unit`
/// when none is given.
fn timeout_parameter(text: &str, unit: &str) -> Option<Duration> {
    let digits = text
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'-' || *b == b'+')
        .count();
    let (number, suffix) = text.split_at(digits);
    let value: i64 = number.parse().ok()?;
    let suffix = if suffix.is_empty() { unit } else { suffix };
    let micros = match suffix.to_ascii_lowercase().as_str() {
        "ms" => value.checked_mul(1_000)?,
        "s" => value.checked_mul(1_000_000)?,
        "mi" | "min" => value.checked_mul(60_000_000)?,
        "h" => value.checked_mul(3_600_000_000)?,
        _ => return None,
    };
    u64::try_from(micros).ok().map(Duration::from_micros)
}

/// C's `atoi`/`atol`: leading blanks, a sign, digits; 0 when none.
pub fn atol(text: &str) -> i64 {
    rhttpd_directives::set::atoi(text)
}

/// `On`/`Off` in any case, else `message` (the worker and balancer parameters' check).
pub(crate) fn on_off(value: &str, message: &str) -> Result<bool, String> {
    if value.eq_ignore_ascii_case("on") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("off") {
        Ok(false)
    } else {
        Err(message.to_string())
    }
}

/// The status letters `status=` knows (`ap_proxy_set_wstatus`).
const STATUS_LETTERS: &str = "DSIHERNCdsihernc";

impl Params {
    /// `set_worker_param`: one key=value, refused with Apache's message.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let timeout_at_least_1ms = |value: &str, unit: &str, format: &str, small: &str| {
            let timeout = timeout_parameter(value, unit).ok_or_else(|| format.to_string())?;
            if timeout < Duration::from_millis(1) {
                return Err(small.to_string());
            }
            Ok(timeout)
        };
        match key.to_ascii_lowercase().as_str() {
            "loadfactor" => {
                let factor = value.trim().parse::<f64>().unwrap_or(0.0);
                let scaled = (factor * 100.0) as i64;
                if !(100..=10000).contains(&scaled) {
                    return Err("LoadFactor must be a number between 1..100".into());
                }
                self.load_factor = Some(scaled as u32);
            }
            // 2.4.71 reads retry=, timeout= and flushwait= as whole numbers (atoi), unlike
            // the other times.
            "retry" => {
                let seconds = atol(value);
                if seconds < 0 {
                    return Err("Retry must be a positive value".into());
                }
                self.retry = Some(Duration::from_secs(seconds as u64));
            }
            "ttl" => {
                let seconds = atol(value);
                if seconds < 1 {
                    return Err("TTL must be at least one second".into());
                }
                self.ttl = Some(Duration::from_secs(seconds as u64));
            }
            "min" | "max" | "smax" => {
                let count = atol(value);
                let name = match key.to_ascii_lowercase().as_str() {
                    "min" => "Min",
                    "max" => "Max",
                    _ => "Smax",
                };
                if count < 0 {
                    return Err(format!("{name} must be a positive number"));
                }
                let count = Some(count.min(i64::from(u32::MAX)) as u32);
                match name {
                    "Min" => self.min = count,
                    "Max" => self.max = count,
                    _ => self.smax = count,
                }
            }
            "acquire" => {
                self.acquire = Some(timeout_at_least_1ms(
                    value,
                    "ms",
                    "Acquire timeout has wrong format",
                    "Acquire must be at least one millisecond",
                )?)
            }
            "timeout" => {
                let seconds = atol(value);
                if seconds < 1 {
                    return Err("Timeout must be at least one second".into());
                }
                self.timeout = Some(Duration::from_secs(seconds as u64));
            }
            "iobuffersize" => {
                let size = atol(value);
                if size < 512 && size != 0 {
                    return Err(
                        "IOBufferSize must be >= 512 bytes, or 0 for system default.".into(),
                    );
                }
                self.io_buffer_size = Some(if size == 0 { 8192 } else { size as usize });
            }
            "receivebuffersize" => {
                let size = atol(value);
                if size < 512 && size != 0 {
                    return Err(
                        "ReceiveBufferSize must be >= 512 bytes, or 0 for system default.".into(),
                    );
                }
                self.receive_buffer_size = Some(size.clamp(0, i64::from(i32::MAX)) as i32);
            }
            "keepalive" => self.keepalive = Some(on_off(value, "KeepAlive must be On|Off")?),
            "disablereuse" => {
                self.disable_reuse = Some(on_off(value, "DisableReuse must be On|Off")?)
            }
            "enablereuse" => {
                self.disable_reuse = Some(!on_off(value, "EnableReuse must be On|Off")?)
            }
            "addressttl" => {
                if value == "-1" {
                    self.address_ttl = Some(-1);
                } else {
                    let ttl = timeout_parameter(value, "s")
                        .filter(|t| t.subsec_micros() == 0 && t.as_secs() <= i32::MAX as u64)
                        .ok_or_else(|| {
                            "AddressTTL must be -1 or a number of seconds not exceeding (2147483647)"
                                .to_string()
                        })?;
                    self.address_ttl = Some(ttl.as_secs() as i64);
                }
            }
            "route" => {
                if value.len() >= 64 {
                    return Err("Route length must be < 64 characters".into());
                }
                self.route = Some(value.to_string());
            }
            "redirect" => {
                if value.len() >= 64 {
                    return Err("Redirect length must be < 64 characters".into());
                }
                self.redirect = Some(value.to_string());
            }
            "status" => {
                let mut on = true;
                let mut chars = value.chars().peekable();
                while let Some(mut c) = chars.next() {
                    if c == '+' || c == '-' {
                        on = c == '+';
                        match chars.next() {
                            Some(next) => c = next,
                            None => return Err("Unknown status parameter option".into()),
                        }
                    }
                    if !STATUS_LETTERS.contains(c) {
                        return Err("Unknown status parameter option".into());
                    }
                    self.status.push((c.to_ascii_uppercase(), on));
                }
            }
            "flushpackets" => {
                self.flush_packets = match value.to_ascii_lowercase().as_str() {
                    "on" => Flush::On,
                    "off" => Flush::Off,
                    "auto" => Flush::Auto,
                    _ => return Err("flushpackets must be on|off|auto".into()),
                }
            }
            "flushwait" => {
                let millis = atol(value);
                if !(0..=1000).contains(&millis) {
                    return Err(
                        "flushwait must be <= 1000, or 0 for system default of 10 millseconds."
                            .into(),
                    );
                }
                self.flush_wait = Some(Duration::from_millis(if millis == 0 {
                    10
                } else {
                    millis as u64
                }));
            }
            "ping" => {
                self.ping = Some(timeout_at_least_1ms(
                    value,
                    "s",
                    "Ping/Pong timeout has wrong format",
                    "Ping/Pong timeout must be at least one millisecond",
                )?)
            }
            "lbset" => {
                let set = atol(value);
                if !(0..=99).contains(&set) {
                    return Err("lbset must be between 0 and 99".into());
                }
                self.lbset = Some(set as u32);
            }
            "connectiontimeout" => {
                self.connection_timeout = Some(timeout_at_least_1ms(
                    value,
                    "s",
                    "Connectiontimeout has wrong format",
                    "Connectiontimeout must be at least one millisecond.",
                )?)
            }
            "flusher" => {
                if value.len() >= 16 {
                    return Err("flusher name length must be < 16 characters".into());
                }
                self.flusher = Some(value.to_string());
            }
            "secret" => {
                if value.len() >= 64 {
                    return Err("Secret length must be < 64 characters".into());
                }
                self.secret = Some(value.to_string());
            }
            "upgrade" => {
                if value.len() >= 64 {
                    return Err("upgrade protocol length must be < 64 characters".into());
                }
                let protocol = if value.eq_ignore_ascii_case("ANY") {
                    "*"
                } else {
                    value
                };
                self.upgrade = Some(protocol.to_string());
            }
            "responsefieldsize" => {
                let size = atol(value);
                if size < 0 {
                    return Err(
                        "ResponseFieldSize must be greater than 0 bytes, or 0 for system default."
                            .into(),
                    );
                }
                self.response_field_size = Some(if size == 0 { 8192 } else { size as usize });
            }
            "multipathtcp" => {
                return Err("multipathtcp is not supported on your platform".into());
            }
            // mod_proxy_hcheck's parameters come here when it is loaded; it is not in the set.
            _ => return Err("unknown Worker parameter".into()),
        }
        Ok(())
    }

    /// Whether `status=` left the letter on (`D` disabled, `S` stopped, `H` hot standby, `I`
    /// ignore errors, `N` draining, `E` in error, `R` hot spare, `C` health check failed).
    pub fn status_set(&self, letter: char) -> bool {
        self.status
            .iter()
            .rev()
            .find(|(c, _)| *c == letter)
            .is_some_and(|(_, on)| *on)
    }
}

/// The part of a worker's URL a connection goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    /// The port, the scheme's default when the URL gave none.
    pub port: u16,
}

/// One worker as the configuration defines it.
#[derive(Debug, Clone)]
pub struct WorkerDef {
    /// The normalised URL (scheme and host lowercased, the scheme's own port dropped), with
    /// the `unix:...|` part for a worker that goes through a socket.
    pub name: String,
    /// The normalised URL without the socket part: what requests' URLs are matched against.
    pub url: String,
    /// Where the path of `url` starts (its length when it has none): scheme and host compare
    /// without case, the path as it is.
    pub path_at: usize,
    pub origin: Origin,
    pub socket: Option<PathBuf>,
    /// A ProxyPassMatch worker: matched as a regex made of its URL (`$N` as wildcards).
    pub pattern: Option<Arc<Regex>>,
    /// A `$N` in its host or port: its connections cannot be kept for another request.
    pub address_not_reusable: bool,
    /// A `$N` in its path: its connections are not kept unless `enablereuse=on` says so.
    pub dollar_in_path: bool,
    /// The balancer it is a member of.
    pub balancer: Option<String>,
    pub params: Params,
}

/// The port a scheme implies (`ap_proxy_port_of_scheme`).
pub fn port_of_scheme(scheme: &str) -> u16 {
    match scheme {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        "ftp" => 21,
        "fcgi" => 8000,
        "ajp" => 8009,
        "scgi" => 4000,
        "h2" => 443,
        "h2c" => 80,
        _ => 0,
    }
}

/// A URL taken apart as `apr_uri_parse` does the parts a worker needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl<'a> {
    pub scheme: &'a str,
    pub user_info: Option<&'a str>,
    pub host: &'a str,
    pub port: Option<u16>,
    /// The path, query and fragment as written (from the first `/`, `?` or `#`).
    pub rest: &'a str,
}

/// `scheme://[user@]host[:port][/rest]`; `None` for text that is not such a URL.
pub fn parse_url(url: &str) -> Option<ParsedUrl<'_>> {
    // Scanned as bytes (every proxied request's URL is taken apart): the scheme ends at the
    // first colon, which must begin `://` (a scheme holds no colon).
    let colon = url.bytes().position(|b| b == b':')?;
    let (scheme, after) = (&url[..colon], url[colon..].strip_prefix("://")?);
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let end = after
        .bytes()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let (user_info, host_port) = match authority.bytes().rposition(|b| b == b'@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let close = v6.bytes().position(|b| b == b']')?;
        let port = &v6[close + 1..];
        (&v6[..close], port.strip_prefix(':'))
    } else {
        match host_port.bytes().rposition(|b| b == b':') {
            Some(at) => (&host_port[..at], Some(&host_port[at + 1..])),
            None => (host_port, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(p.parse::<u16>().ok()?),
    };
    Some(ParsedUrl {
        scheme,
        user_info,
        host,
        port,
        rest,
    })
}

/// `ap_proxy_de_socketfy`: the URL after a `unix:/path|` prefix (`None` when the part after
/// the bar is empty).
pub fn de_socketfy(url: &str) -> Option<&str> {
    if url.len() >= 5 && url[..5].eq_ignore_ascii_case("unix:") {
        if let Some(bar) = url.find('|') {
            let rest = &url[bar + 1..];
            if rest.is_empty() {
                return None;
            }
            return Some(rest);
        }
    }
    Some(url)
}

/// `ap_proxy_define_worker_ex`: the worker a URL names, refused as Apache refuses it.
/// `is_match` for a ProxyPassMatch / `<ProxyMatch>` worker. `runtime_dir` resolves a relative
/// socket path.
pub fn define(
    url: &str,
    is_match: bool,
    runtime_dir: &std::path::Path,
) -> Result<WorkerDef, String> {
    let (socket, target) = match url.get(..5) {
        Some(prefix) if prefix.eq_ignore_ascii_case("unix:") && url.contains('|') => {
            let bar = url.find('|').unwrap_or(url.len());
            let path = &url[5..bar];
            let path = PathBuf::from(path);
            let path = if path.is_absolute() {
                path
            } else {
                runtime_dir.join(path)
            };
            (Some(path), &url[bar + 1..])
        }
        _ => (None, url),
    };
    let mut address_not_reusable = false;
    let mut target = target.to_string();
    let mut dollars = String::new();
    if is_match {
        if let Some(at) = target.find("://") {
            let authority_start = at + 3;
            let authority_end = target[authority_start..]
                .find('/')
                .map_or(target.len(), |i| authority_start + i);
            let authority = &target[authority_start..authority_end];
            let host_end = authority.find(':').unwrap_or(authority.len());
            if authority[..host_end].contains('$') {
                address_not_reusable = true;
            }
            if let Some(dollar) = authority[host_end..].find('$') {
                let from = authority_start + host_end + dollar;
                if target[from + 1..].starts_with(|c: char| c.is_ascii_digit()) {
                    dollars = target[from..authority_end].to_string();
                    target.replace_range(from..authority_end, "");
                    address_not_reusable = true;
                }
            }
        }
    }
    let parsed = parse_url(&target).ok_or_else(|| {
        if target.contains("://") {
            format!("Unable to parse URL: {url}")
        } else {
            format!("URL must be absolute!: {url}")
        }
    })?;
    let scheme = parsed.scheme.to_ascii_lowercase();
    let host = if parsed.host.is_empty() {
        if socket.is_some() {
            "localhost".to_string()
        } else {
            return Err(format!("URL must be absolute!: {url}"));
        }
    } else {
        parsed.host.to_ascii_lowercase()
    };
    let default_port = port_of_scheme(&scheme);
    let port = parsed.port.filter(|p| *p != 0 && *p != default_port);
    let host_text = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let mut normalised = String::with_capacity(target.len() + dollars.len() + 8);
    normalised.push_str(&scheme);
    normalised.push_str("://");
    if let Some(user) = &parsed.user_info {
        normalised.push_str(user);
        normalised.push('@');
    }
    normalised.push_str(&host_text);
    if let Some(port) = port {
        normalised.push(':');
        crate::http1::number::push_decimal(&mut normalised, u64::from(port));
    }
    normalised.push_str(&dollars);
    normalised.push_str(parsed.rest);
    if normalised.len() >= 96 && socket.is_none() && !is_match {
        // Apache keeps a longer name whole (only its hash tells workers apart); so do we.
    }
    let name = match &socket {
        Some(path) => socket_name(path, &normalised),
        None => normalised.clone(),
    };
    let pattern = if is_match {
        Some(Arc::new(
            Regex::new(&match_pattern(&normalised))
                .map_err(|_| format!("Unable to parse URL: {url}"))?,
        ))
    } else {
        None
    };
    let dollar_in_path = normalised.contains('$');
    Ok(WorkerDef {
        dollar_in_path,
        name,
        path_at: path_at(&normalised),
        url: normalised,
        origin: Origin {
            scheme,
            host,
            port: parsed.port.filter(|p| *p != 0).unwrap_or(default_port),
        },
        socket,
        pattern,
        address_not_reusable,
        balancer: None,
        params: Params::default(),
    })
}

/// A worker's name for a URL reached through a unix socket: `unix:PATH|URL`.
pub fn socket_name(socket: &std::path::Path, url: &str) -> String {
    let path = socket.to_string_lossy();
    let mut name = String::with_capacity(path.len() + url.len() + 6);
    name.push_str("unix:");
    name.push_str(&path);
    name.push('|');
    name.push_str(url);
    name
}

/// `host[:port]` appended to a URL being written: an IPv6 literal in brackets, the port left
/// out when it is the scheme's own.
pub fn push_host_port(out: &mut String, host: &str, port: u16, default_port: u16) {
    if host.contains(':') {
        out.push('[');
        out.push_str(host);
        out.push(']');
    } else {
        out.push_str(host);
    }
    if port != default_port {
        out.push(':');
        crate::http1::number::push_decimal(out, u64::from(port));
    }
}

/// Where the path of a worker's URL starts: after `scheme://host[:port]`, or its length.
pub fn path_at(url: &str) -> usize {
    url.find("://")
        .and_then(|at| url[at + 3..].find('/').map(|i| at + 3 + i))
        .unwrap_or(url.len())
}

/// A ProxyPassMatch worker's URL as the regex Apache matches request URLs against: regex
/// characters escaped, each `$N` a `.*`.
fn match_pattern(url: &str) -> String {
    let mut out = String::from("^");
    let bytes = url.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            out.push_str(".*");
            i += 2;
            continue;
        }
        if b".^$|()[]{}*+?\\".contains(&c) {
            out.push('\\');
        }
        out.push(c as char);
        i += 1;
    }
    out.push('$');
    out
}

impl WorkerDef {
    /// Whether a request's URL (without `proxy:`) goes to this worker, and how much of it
    /// matched (the longest match wins, as `ap_proxy_get_worker` chooses).
    pub fn match_len(&self, url: &str) -> Option<usize> {
        if let Some(pattern) = &self.pattern {
            return pattern.is_match(url).then_some(self.url.len());
        }
        let prefix = self.url.as_str();
        let head = url.get(..prefix.len())?;
        let at = self.path_at;
        let same =
            head.get(..at)?.eq_ignore_ascii_case(&prefix[..at]) && head[at..] == prefix[at..];
        same.then_some(prefix.len())
    }

    /// How Apache names it in its log lines (`hostname_ex`): the host (`localhost` for a
    /// socket).
    pub fn hostname(&self) -> &str {
        &self.origin.host
    }

    /// Whether this worker's connections may be kept for later requests.
    pub fn reuses(&self) -> bool {
        !self.address_not_reusable
            && match self.params.disable_reuse {
                Some(disabled) => !disabled,
                None => !self.dollar_in_path,
            }
    }
}

/// A connection to a backend.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<super::tls::TlsStream>),
}

impl Stream {
    pub fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        let timeout = Some(timeout.max(Duration::from_millis(1)));
        match self {
            Stream::Tcp(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
            Stream::Unix(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
            Stream::Tls(s) => {
                s.sock.set_read_timeout(timeout)?;
                s.sock.set_write_timeout(timeout)
            }
        }
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(s) => s.sock.as_raw_fd(),
        }
    }

    /// Whether the connection is a plain socket, whose readability means its answer came (a
    /// TLS one may hold it decrypted already).
    pub fn plain(&self) -> bool {
        !matches!(self, Stream::Tls(_))
    }

    /// The local port of a TCP connection (Apache's proxy-source-port note).
    pub fn local_port(&self) -> Option<u16> {
        match self {
            Stream::Tcp(s) => s.local_addr().ok().map(|a| a.port()),
            Stream::Tls(s) => s.sock.local_addr().ok().map(|a| a.port()),
            Stream::Unix(_) => None,
        }
    }

    pub fn shutdown_write(&mut self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Tls(s) => {
                s.conn.send_close_notify();
                let _ = s.conn.complete_io(&mut s.sock);
                s.sock.shutdown(std::net::Shutdown::Write)
            }
        };
    }

    /// Whether an idle kept-alive connection is still open with nothing waiting on it (a
    /// backend that closed it, or sent something unasked, is not reused).
    fn still_idle(&self) -> bool {
        crate::sys::idle_and_open(self.raw_fd())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tls(s) => s.flush(),
            _ => Ok(()),
        }
    }
}

/// The idle connections this process keeps for each worker (with when each was last used),
/// one pool a process as Apache keeps it; the lock is held only to take or put one.
pub struct Pool;

/// A kept connection with its read buffer (empty: nothing unread is kept), reused whole, and
/// the I/O timeout its socket has (set again only when a request wants another: two system
/// calls a proxied request saves).
pub struct Kept {
    pub reader: io::BufReader<Stream>,
    pub timeout: Duration,
    /// The token the event MPM watches the socket under (edge-triggered), once a request
    /// waited on it there: the registration stays with the connection.
    pub watch: Option<u64>,
}

/// Each worker's kept connections, with when each was last used.
type Idle = HashMap<String, Vec<(Kept, Instant)>>;

fn pools() -> std::sync::MutexGuard<'static, Idle> {
    static POOLS: OnceLock<std::sync::Mutex<Idle>> = OnceLock::new();
    POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Pool {
    /// A kept-alive connection of `worker` still usable, those idle past `ttl` closed, and
    /// whether it was checked: one idle for `trust_for` or longer must have a socket that
    /// says it is still open with nothing to read; a more recent one is trusted as it is
    /// (its user finds out by using it).
    pub fn take(worker: &str, ttl: Option<Duration>, trust_for: Duration) -> Option<(Kept, bool)> {
        loop {
            let (kept, since) = pools().get_mut(worker)?.pop()?;
            let idle = since.elapsed();
            if ttl.is_some_and(|ttl| idle > ttl) || !kept.reader.buffer().is_empty() {
                continue;
            }
            let checked = idle >= trust_for;
            if !checked || kept.reader.get_ref().still_idle() {
                return Some((kept, checked));
            }
        }
    }

    /// Keeps a connection for the next request (at most `keep` of them).
    pub fn give_back(worker: &str, kept: Kept, keep: usize) {
        let mut pools = pools();
        match pools.get_mut(worker) {
            Some(idle) if idle.len() < keep => idle.push((kept, Instant::now())),
            Some(_) => {}
            None => {
                pools.insert(worker.to_string(), vec![(kept, Instant::now())]);
            }
        }
    }
}

/// The error state of workers, shared by every child: for each slot, until when (ms since
/// the epoch) the worker it hashes to is in error. Made before the children fork.
const ERROR_SLOTS: usize = 1024;

fn error_slots() -> &'static [AtomicU64] {
    static SLOTS: OnceLock<&'static [AtomicU64]> = OnceLock::new();
    SLOTS.get_or_init(|| {
        crate::sys::shared::shared_atomics(ERROR_SLOTS)
            .unwrap_or_else(|_| Box::leak((0..ERROR_SLOTS).map(|_| AtomicU64::new(0)).collect()))
    })
}

/// Made in the parent, so that children share it.
pub fn init_shared_state() {
    let _ = error_slots();
}

fn slot_of(name: &str) -> &'static AtomicU64 {
    // FNV-1a: stable across processes, unlike std's seeded hasher.
    let mut hash: u64 = 0xcbf29ce484222325;
    for b in name.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    &error_slots()[(hash % ERROR_SLOTS as u64) as usize]
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Whether the worker is in error and its retry time has not passed.
pub fn in_error(name: &str) -> bool {
    let until = slot_of(name).load(Ordering::Relaxed);
    until != 0 && now_ms() < until
}

/// Puts the worker in error for `retry`.
pub fn set_error(name: &str, retry: Duration) {
    let until = now_ms() + retry.as_millis() as u64;
    slot_of(name).store(until.max(1), Ordering::Relaxed);
}

/// Takes the worker out of error (a connection succeeded).
pub fn clear_error(name: &str) {
    let slot = slot_of(name);
    if slot.load(Ordering::Relaxed) != 0 {
        slot.store(0, Ordering::Relaxed);
    }
}

/// The addresses a host resolves to, in the resolver's order.
pub fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    (host, port).to_socket_addrs().map(|a| a.collect())
}

/// Connects to one address within `timeout`.
/// From `source` (ProxySourceAddress) when given; `keepalive` sets SO_KEEPALIVE
/// (keepalive=On).
pub fn connect_tcp(
    addr: &SocketAddr,
    timeout: Option<Duration>,
    source: Option<std::net::IpAddr>,
    keepalive: bool,
) -> io::Result<TcpStream> {
    let stream = match (source, timeout) {
        (Some(local), timeout) => {
            crate::sys::connect_from(local, *addr, timeout.unwrap_or(Duration::from_secs(60)))?
        }
        (None, Some(timeout)) => TcpStream::connect_timeout(addr, timeout)?,
        (None, None) => TcpStream::connect(addr)?,
    };
    let _ = stream.set_nodelay(true);
    if keepalive {
        let _ = crate::sys::set_int_option(&stream, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_taken_apart_as_apr_uri_parse_does() {
        let url = parse_url("http://user:pw@Example.com:8080/a/b?q#f").unwrap();
        assert_eq!(
            (url.scheme, url.user_info, url.host, url.port, url.rest),
            (
                "http",
                Some("user:pw"),
                "Example.com",
                Some(8080),
                "/a/b?q#f"
            )
        );
        let url = parse_url("h2c://[::1]:81?x").unwrap();
        assert_eq!((url.host, url.port, url.rest), ("::1", Some(81), "?x"));
        let url = parse_url("fcgi://localhost").unwrap();
        assert_eq!((url.host, url.port, url.rest), ("localhost", None, ""));
        let url = parse_url("http://host:/").unwrap();
        assert_eq!((url.host, url.port), ("host", None));
        for bad in [
            "http:/x",
            "://x",
            "ht tp://x",
            "a:b://x",
            "http://h:99999/",
            "http://[::1/",
        ] {
            assert_eq!(parse_url(bad), None, "{bad}");
        }
    }
}
