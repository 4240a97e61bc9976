//! mod_status, whole: its registry entry (it has no directives: ExtendedStatus and
//! SeeRequestTail are core's) and the `server-status` handler, reading the scoreboard every
//! child writes into and answering in Apache's HTML page or its `?auto` plain-text form (key
//! for key, so scrapers such as apache_exporter parse it unchanged).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use rhttpd_directives::registry::ModuleDef;

use crate::hooks::{Hooks, Order};
use crate::http1::date::Civil;
use crate::mpm::scoreboard::{self, ProcessWord, Scoreboard, State};
use crate::request::pipeline::{handler_of, set_handler};
use crate::request::{Body, Request, Response, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "status_module",
    source: "mod_status.c",
    builtin: false,
    has_dir_config: true,
    directives: &[],
};

/// The settings mod_status reads (None in the runtime when the module is not loaded).
#[derive(Debug, Clone)]
pub struct Settings {
    /// ExtendedStatus: On unless turned off, once mod_status is loaded.
    pub extended: bool,
    /// SeeRequestTail: show the end of long request lines rather than the start.
    pub see_request_tail: bool,
    /// The MPM's name, as ServerMPM shows it.
    pub mpm: &'static str,
    /// ThreadsPerChild (1 for prefork) and the process limit: the scoreboard line's length.
    pub threads: usize,
    pub process_limit: usize,
}

impl Settings {
    /// mod_status's settings when the module is loaded.
    pub fn from_config(config: &rhttpd_directives::model::Config) -> Option<Settings> {
        if !config.read.modules.iter().any(|m| m.id == "status_module") {
            return None;
        }
        let core = config
            .main_server()
            .modules
            .get::<rhttpd_directives::core_config::ServerConf>()
            .cloned()
            .unwrap_or_default();
        let kind = crate::mpm::Kind::from_name(config.read.mpm().and_then(|m| m.mpm_name()));
        let (sizing, _) = config.mpm.sizing(kind.name());
        let shape = crate::mpm::Shape::new(kind, &sizing, &config.mpm);
        Some(Settings {
            extended: core.extended_status.unwrap_or(true),
            see_request_tail: core.see_request_tail.unwrap_or(false),
            mpm: kind.name(),
            threads: shape.threads,
            process_limit: shape.process_limit,
        })
    }
}

const DAY_NAMES: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

/// Apache's `%A, %d-%b-%Y %H:%M:%S %Z` (in UTC).
fn long_date(secs: u64) -> String {
    let c = Civil::from_unix(secs as i64);
    format!(
        "{}, {:02}-{}-{} {:02}:{:02}:{:02} UTC",
        DAY_NAMES[c.weekday],
        c.day,
        c.month_name(),
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

/// C's `%g` as APR prints it: six significant digits, trailing zeros dropped, and no zero
/// before the decimal point (`.333333`).
pub fn fmt_g(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return "0".into();
    }
    let exponent = value.abs().log10().floor() as i32;
    let text = if !(-4..6).contains(&exponent) {
        let mantissa = value / 10f64.powi(exponent);
        let digits = trim_zeros(format!("{mantissa:.5}"));
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{digits}e{sign}{:02}", exponent.abs())
    } else {
        trim_zeros(format!("{value:.*}", (5 - exponent).max(0) as usize))
    };
    if let Some(rest) = text.strip_prefix("0.") {
        format!(".{rest}")
    } else if let Some(rest) = text.strip_prefix("-0.") {
        format!("-.{rest}")
    } else {
        text
    }
}

fn trim_zeros(text: String) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Apache's byte sizes: `N B`, `x.x kB`, `x.x MB`, `x.x GB`.
fn bytes_out(bytes: f64) -> String {
    const KB: f64 = 1024.0;
    if bytes < 5.0 * KB {
        format!("{} B", bytes as u64)
    } else if bytes < KB * KB / 2.0 {
        format!("{:.1} kB", bytes / KB)
    } else if bytes < KB * KB * KB / 2.0 {
        format!("{:.1} MB", bytes / KB / KB)
    } else {
        format!("{:.1} GB", bytes / KB / KB / KB)
    }
}

fn kbytes_out(kbytes: u64) -> String {
    if kbytes < 1024 {
        format!("{kbytes} kB")
    } else if kbytes < 1024 * 1024 {
        format!("{:.1} MB", kbytes as f64 / 1024.0)
    } else {
        format!("{:.1} GB", kbytes as f64 / 1024.0 / 1024.0)
    }
}

/// ` D day(s) H hour(s) M minute(s) S second(s)`, zero parts left out (nothing at all for
/// an uptime under a second).
fn uptime_text(secs: u64) -> String {
    let parts = [
        (secs / 86_400, "day"),
        (secs / 3600 % 24, "hour"),
        (secs / 60 % 60, "minute"),
        (secs % 60, "second"),
    ];
    let mut out = String::new();
    for (n, unit) in parts {
        if n > 0 {
            let plural = if n == 1 { "" } else { "s" };
            let _ = write!(out, " {n} {unit}{plural}");
        }
    }
    out
}

/// A process's user and system CPU seconds (and its reaped children's), from /proc.
fn cpu_times(pid: i32) -> [f64; 4] {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return [0.0; 4];
    };
    let after_name = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = crate::sys::clock_ticks().max(1) as f64;
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
            / ticks
    };
    // After the name: state(0) ppid ... utime(11) stime(12) cutime(13) cstime(14).
    [field(11), field(12), field(13), field(14)]
}

/// Everything both forms show, gathered in one pass over the scoreboard.
struct Totals {
    accesses: u64,
    kbytes: u64,
    duration: u64,
    busy: usize,
    graceful: usize,
    idle: usize,
    processes: usize,
    stopping: usize,
    connections: u64,
    keep_alive: u64,
    cpu: [f64; 4],
    scoreboard: String,
}

fn gather(board: &Scoreboard, threads: usize, process_limit: usize) -> Totals {
    let mut t = Totals {
        accesses: 0,
        kbytes: 0,
        duration: 0,
        busy: 0,
        graceful: 0,
        idle: 0,
        processes: 0,
        stopping: 0,
        connections: 0,
        keep_alive: 0,
        cpu: [0.0; 4],
        scoreboard: String::new(),
    };
    let generation = board.mpm_generation();
    for process in 0..board.processes() {
        let pid = board.pid(process);
        let current = board.get(process, ProcessWord::Generation) == generation;
        let quiescing = board.get(process, ProcessWord::Quiescing) != 0;
        if pid > 0 {
            t.processes += 1;
            if quiescing {
                t.stopping += 1;
            }
            t.connections += board.get(process, ProcessWord::Connections);
            t.keep_alive += board.get(process, ProcessWord::KeepAlive);
            let cpu = cpu_times(pid);
            for (sum, part) in t.cpu.iter_mut().zip(cpu) {
                *sum += part;
            }
        }
        for thread in 0..board.thread_limit() {
            let worker = board.worker_index(process, thread);
            let view = board.view(worker);
            if (process < process_limit && thread < threads) || view.state != State::Dead {
                t.scoreboard.push(view.state.symbol());
            }
            t.accesses += view.accesses;
            t.kbytes += view.bytes >> 10;
            t.duration += view.duration_sum / 1000;
            match view.state {
                State::Ready if current && !quiescing => t.idle += 1,
                State::Graceful => t.graceful += 1,
                State::Dead | State::Starting | State::Ready | State::IdleKill => {}
                _ => t.busy += 1,
            }
        }
    }
    t
}

/// The server-status handler.
pub fn handle(req: &Request, settings: &Settings) -> Step<Response> {
    let Some(board) = scoreboard::get() else {
        return Err(500);
    };
    let query = req.args.as_deref().unwrap_or("");
    let auto = query.contains("auto");
    let notable = query.contains("notable");
    let refresh = query.find("refresh").map(|at| {
        let rest = query[at + "refresh".len()..]
            .strip_prefix('=')
            .unwrap_or("");
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse::<u64>().ok().filter(|&n| n >= 1).unwrap_or(10)
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let restart = board.restart_time();
    let uptime = now.saturating_sub(restart);
    let page = Page {
        req,
        settings,
        board,
        totals: gather(board, settings.threads, settings.process_limit),
        host: req.host_name(),
        now,
        uptime,
    };
    let body = if auto {
        auto_text(&page)
    } else {
        html(&page, notable)
    };
    let mut response = Response {
        status: 200,
        headers: req.headers_out.clone(),
        content_type: Some(if auto {
            "text/plain; charset=ISO-8859-1".into()
        } else {
            "text/html; charset=ISO-8859-1".into()
        }),
        // Apache's handler writes through a buffer of 8000 bytes: a longer page reached the
        // length filter before its end and went out chunked.
        length_known: body.len() <= crate::modules::autoindex::OUTPUT_BUFFER,
        body: Body::Bytes(body.into_bytes()),
        // Apache's length filter adds the length after mod_headers' additions.
        length_last: true,
        header_only: req.method == "HEAD",
        server: req.server,
        ..Default::default()
    };
    if let Some(seconds) = refresh {
        response.headers.set("Refresh", seconds.to_string());
    }
    Ok(response)
}

fn load_average() -> [String; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut parts = text
        .split_whitespace()
        .map(|p| p.parse::<f64>().unwrap_or(0.0));
    [(); 3].map(|_| format!("{:.2}", parts.next().unwrap_or(0.0)))
}

/// One status request's view of the server: what both forms print from.
struct Page<'a, 'r> {
    req: &'a Request<'r>,
    settings: &'a Settings,
    board: &'a Scoreboard,
    totals: Totals,
    host: String,
    now: u64,
    uptime: u64,
}

impl Page<'_, '_> {
    fn parts(
        &self,
    ) -> (
        &Request<'_>,
        &Settings,
        &Scoreboard,
        &Totals,
        &str,
        u64,
        u64,
    ) {
        (
            self.req,
            self.settings,
            self.board,
            &self.totals,
            &self.host,
            self.now,
            self.uptime,
        )
    }
}

fn auto_text(page: &Page) -> String {
    let (req, settings, board, t, host, now, uptime) = page.parts();
    let mut out = String::new();
    let _ = writeln!(out, "{host}");
    let _ = writeln!(out, "ServerVersion: {}", req.rt.server_banner);
    let _ = writeln!(out, "ServerMPM: {}", settings.mpm);
    let _ = writeln!(out, "Server Built: {}", built());
    let _ = writeln!(out, "CurrentTime: {}", long_date(now));
    let _ = writeln!(out, "RestartTime: {}", long_date(board.restart_time()));
    let _ = writeln!(
        out,
        "ParentServerConfigGeneration: {}",
        board.config_generation()
    );
    let _ = writeln!(out, "ParentServerMPMGeneration: {}", board.mpm_generation());
    let _ = writeln!(out, "ServerUptimeSeconds: {uptime}");
    let _ = writeln!(out, "ServerUptime:{}", uptime_text(uptime));
    let [one, five, fifteen] = load_average();
    let _ = writeln!(out, "Load1: {one}\nLoad5: {five}\nLoad15: {fifteen}");
    if settings.extended {
        let _ = writeln!(out, "Total Accesses: {}", t.accesses);
        let _ = writeln!(out, "Total kBytes: {}", t.kbytes);
        let _ = writeln!(out, "Total Duration: {}", t.duration);
        let [user, system, child_user, child_system] = t.cpu;
        let _ = writeln!(out, "CPUUser: {}", fmt_g(user));
        let _ = writeln!(out, "CPUSystem: {}", fmt_g(system));
        let _ = writeln!(out, "CPUChildrenUser: {}", fmt_g(child_user));
        let _ = writeln!(out, "CPUChildrenSystem: {}", fmt_g(child_system));
        let cpu: f64 = t.cpu.iter().sum();
        if cpu > 0.0 && uptime > 0 {
            let _ = writeln!(out, "CPULoad: {}", fmt_g(cpu / uptime as f64 * 100.0));
        }
        let _ = writeln!(out, "Uptime: {uptime}");
        if uptime > 0 {
            let _ = writeln!(
                out,
                "ReqPerSec: {}",
                fmt_g(t.accesses as f64 / uptime as f64)
            );
            let _ = writeln!(
                out,
                "BytesPerSec: {}",
                fmt_g(1024.0 * t.kbytes as f64 / uptime as f64)
            );
        }
        if t.accesses > 0 {
            let _ = writeln!(
                out,
                "BytesPerReq: {}",
                fmt_g(1024.0 * t.kbytes as f64 / t.accesses as f64)
            );
            let _ = writeln!(
                out,
                "DurationPerReq: {}",
                fmt_g(t.duration as f64 / t.accesses as f64)
            );
        }
    }
    let _ = writeln!(out, "BusyWorkers: {}", t.busy);
    let _ = writeln!(out, "GracefulWorkers: {}", t.graceful);
    let _ = writeln!(out, "IdleWorkers: {}", t.idle);
    if settings.mpm == "event" {
        let _ = writeln!(out, "Processes: {}", t.processes);
        let _ = writeln!(out, "Stopping: {}", t.stopping);
        let _ = writeln!(out, "ConnsTotal: {}", t.connections);
        let _ = writeln!(out, "ConnsAsyncWaitIO: 0");
        let _ = writeln!(out, "ConnsAsyncWriting: 0");
        let _ = writeln!(out, "ConnsAsyncKeepAlive: {}", t.keep_alive);
        let _ = writeln!(out, "ConnsAsyncClosing: 0");
    }
    let _ = writeln!(out, "Scoreboard: {}", t.scoreboard);
    // The modules' status hooks after the scoreboard, in load order: mod_proxy's balancers
    // (ProxyStatus On), then mod_ssl's session cache.
    out.push_str(&crate::modules::proxy_balancer::manager::status_section(
        req, true,
    ));
    if let Some(cache) = &req.rt.tls.cache {
        out.push_str("TLSSessionCacheStatus\n");
        out.push_str(&cache.status(true));
    }
    out
}

/// What `-V` calls the build, shown as Server Built.
fn built() -> String {
    format!("rhttpd {}", crate::build_info::RHTTPD_VERSION)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const KEY: &str = "<p>Scoreboard Key:<br />\n\
\"<b><code>_</code></b>\" Waiting for Connection, \n\
\"<b><code>S</code></b>\" Starting up, \n\
\"<b><code>R</code></b>\" Reading Request,<br />\n\
\"<b><code>W</code></b>\" Sending Reply, \n\
\"<b><code>K</code></b>\" Keepalive (read), \n\
\"<b><code>D</code></b>\" DNS Lookup,<br />\n\
\"<b><code>C</code></b>\" Closing connection, \n\
\"<b><code>L</code></b>\" Logging, \n\
\"<b><code>G</code></b>\" Gracefully finishing,<br /> \n\
\"<b><code>I</code></b>\" Idle cleanup of worker, \n\
\"<b><code>.</code></b>\" Open slot with no current process<br />\n\
</p>\n";

const LEGEND: &str = " <hr /> <table>\n \
<tr><th>Srv</th><td>Child Server number - generation</td></tr>\n \
<tr><th>PID</th><td>OS process ID</td></tr>\n \
<tr><th>Acc</th><td>Number of accesses this connection / this child / this slot</td></tr>\n \
<tr><th>M</th><td>Mode of operation</td></tr>\n\
<tr><th>CPU</th><td>CPU usage, number of seconds</td></tr>\n\
<tr><th>SS</th><td>Seconds since beginning of most recent request</td></tr>\n \
<tr><th>Req</th><td>Milliseconds required to process most recent request</td></tr>\n \
<tr><th>Dur</th><td>Sum of milliseconds required to process all requests</td></tr>\n \
<tr><th>Conn</th><td>Kilobytes transferred this connection</td></tr>\n \
<tr><th>Child</th><td>Megabytes transferred this child</td></tr>\n \
<tr><th>Slot</th><td>Total megabytes transferred this slot</td></tr>\n \
</table>\n";

/// The M column: busy states in bold, as Apache shows them.
fn mode(state: State) -> String {
    match state {
        State::Dead | State::Starting | State::Ready | State::Graceful | State::IdleKill => {
            state.symbol().to_string()
        }
        _ => format!("<b>{}</b>", state.symbol()),
    }
}

fn html(page: &Page, notable: bool) -> String {
    let (req, settings, board, t, host, now, uptime) = page.parts();
    let mut out = String::with_capacity(8192);
    out.push_str("<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n<html><head>\n<title>Apache Status</title>\n</head><body>\n");
    let _ = writeln!(
        out,
        "<h1>Apache Server Status for {} (via {})</h1>\n",
        escape(host),
        req.conn.local.ip()
    );
    let _ = writeln!(
        out,
        "<dl><dt>Server Version: {}</dt>\n<dt>Server MPM: {}</dt>\n<dt>Server Built: {}\n</dt></dl><hr /><dl>",
        req.rt.server_banner,
        settings.mpm,
        built()
    );
    let _ = writeln!(out, "<dt>Current Time: {}</dt>", long_date(now));
    let _ = writeln!(
        out,
        "<dt>Restart Time: {}</dt>",
        long_date(board.restart_time())
    );
    let _ = writeln!(
        out,
        "<dt>Parent Server Config. Generation: {}</dt>",
        board.config_generation()
    );
    let _ = writeln!(
        out,
        "<dt>Parent Server MPM Generation: {}</dt>",
        board.mpm_generation()
    );
    let _ = writeln!(out, "<dt>Server uptime: {}</dt>", uptime_text(uptime));
    let [one, five, fifteen] = load_average();
    let _ = writeln!(out, "<dt>Server load: {one} {five} {fifteen}</dt>");
    if settings.extended {
        let _ = writeln!(
            out,
            "<dt>Total accesses: {} - Total Traffic: {} - Total Duration: {}</dt>",
            t.accesses,
            kbytes_out(t.kbytes),
            t.duration
        );
        let [user, system, child_user, child_system] = t.cpu;
        let cpu: f64 = t.cpu.iter().sum();
        let _ = write!(
            out,
            "<dt>CPU Usage: u{} s{} cu{} cs{}",
            fmt_g(user),
            fmt_g(system),
            fmt_g(child_user),
            fmt_g(child_system)
        );
        if cpu > 0.0 && uptime > 0 {
            let _ = write!(out, " - {:.3}% CPU load", cpu / uptime as f64 * 100.0);
        }
        out.push_str("</dt>\n<dt>");
        let bytes = t.kbytes as f64 * 1024.0;
        if uptime > 0 {
            let _ = write!(
                out,
                "{} requests/sec - {}/second - ",
                fmt_g(t.accesses as f64 / uptime as f64),
                bytes_out(bytes / uptime as f64)
            );
        }
        if t.accesses > 0 {
            let _ = write!(
                out,
                "{}/request - {} ms/request",
                bytes_out(bytes / t.accesses as f64),
                fmt_g(t.duration as f64 / t.accesses as f64)
            );
        }
        out.push_str("</dt>\n");
    }
    let _ = writeln!(
        out,
        "<dt>{} requests currently being processed, {} workers gracefully restarting, {} idle workers</dt>\n</dl>\n",
        t.busy, t.graceful, t.idle
    );
    if settings.mpm == "event" && !notable {
        process_table(&mut out, board);
    }
    out.push_str("<pre>");
    for (i, c) in t.scoreboard.chars().enumerate() {
        if i > 0 && i % 64 == 0 {
            out.push('\n');
        }
        out.push(c);
    }
    out.push_str("</pre>\n");
    out.push_str(KEY);
    out.push_str("\n\n");
    if settings.extended {
        worker_table(&mut out, board, settings, now, notable);
    } else {
        pid_key(&mut out, board);
    }
    // mod_proxy's status hook: the balancers, with ProxyStatus On.
    out.push_str(&crate::modules::proxy_balancer::manager::status_section(
        req, false,
    ));
    // mod_ssl's status hook: its session cache.
    if let Some(cache) = &req.rt.tls.cache {
        out.push_str("<hr>\n<table cellspacing=0 cellpadding=0>\n<tr><td bgcolor=\"#000000\">\n<b><font color=\"#ffffff\" face=\"Arial,Helvetica\">SSL/TLS Session Cache Status:</font></b>\r</td></tr>\n<tr><td bgcolor=\"#ffffff\">\n");
        out.push_str(&cache.status(false));
        out.push_str("</td></tr>\n</table>\n");
    }
    out.push_str(&crate::request::signature(req));
    out.push_str("</body></html>\n");
    out
}

/// Event's per-process table: connections, threads and async connections per child.
fn process_table(out: &mut String, board: &Scoreboard) {
    out.push_str("<table rules=\"all\" cellpadding=\"1%\">\n<tr><th rowspan=\"2\">Slot</th><th rowspan=\"2\">PID</th><th rowspan=\"2\">Stopping</th><th colspan=\"2\">Connections</th>\n<th colspan=\"3\">Threads</th><th colspan=\"4\">Async connections</th></tr>\n<tr><th>total</th><th>accepting</th><th>busy</th><th>graceful</th><th>idle</th><th>wait-io</th><th>writing</th><th>keep-alive</th><th>closing</th></tr>\n");
    let mut sums = [0u64; 6];
    let mut processes = 0;
    for process in 0..board.processes() {
        let pid = board.pid(process);
        if pid <= 0 {
            continue;
        }
        processes += 1;
        let (mut busy, mut graceful, mut idle) = (0u64, 0u64, 0u64);
        for thread in 0..board.thread_limit() {
            match board.state(board.worker_index(process, thread)) {
                State::Ready => idle += 1,
                State::Graceful => graceful += 1,
                State::Dead | State::Starting | State::IdleKill => {}
                _ => busy += 1,
            }
        }
        let stopping = board.get(process, ProcessWord::Quiescing) != 0;
        let accepting = board.get(process, ProcessWord::NotAccepting) == 0 && !stopping;
        let connections = board.get(process, ProcessWord::Connections);
        let keep_alive = board.get(process, ProcessWord::KeepAlive);
        let _ = writeln!(
            out,
            "<tr><td>{process}</td><td>{pid}</td><td>{}</td><td>{connections}</td><td>{}</td><td>{busy}</td><td>{graceful}</td><td>{idle}</td><td>0</td><td>0</td><td>{keep_alive}</td><td>0</td></tr>",
            if stopping { "yes" } else { "no" },
            if accepting { "yes" } else { "no" }
        );
        for (sum, part) in sums.iter_mut().zip([
            stopping as u64,
            connections,
            busy,
            graceful,
            idle,
            keep_alive,
        ]) {
            *sum += part;
        }
    }
    let [stopping, connections, busy, graceful, idle, keep_alive] = sums;
    let _ = writeln!(
        out,
        "<tr><td>Sum</td><td>{processes}</td><td>{stopping}</td><td>{connections}</td><td>&nbsp;</td><td>{busy}</td><td>{graceful}</td><td>{idle}</td><td>0</td><td>0</td><td>{keep_alive}</td><td>0</td></tr>\n</table>"
    );
}

/// The request as the table shows it: 63 characters, from the start or (SeeRequestTail) the end.
fn request_excerpt(request: &str, tail: bool) -> String {
    let chars: Vec<char> = request.chars().collect();
    if tail && chars.len() > 63 {
        chars[chars.len() - 63..].iter().collect()
    } else {
        chars.iter().take(63).collect()
    }
}

/// ExtendedStatus: one row per worker that has served or is serving.
fn worker_table(
    out: &mut String,
    board: &Scoreboard,
    settings: &Settings,
    now: u64,
    notable: bool,
) {
    if !notable {
        out.push_str("<table border=\"0\"><tr><th>Srv</th><th>PID</th><th>Acc</th><th>M</th><th>CPU\n</th><th>SS</th><th>Req</th><th>Dur</th><th>Conn</th><th>Child</th><th>Slot</th><th>Client</th><th>Protocol</th><th>VHost</th><th>Request</th></tr>\n\n");
    }
    let now_us = now * 1_000_000;
    for process in 0..board.processes() {
        let pid = board.pid(process);
        let generation = board.get(process, ProcessWord::Generation);
        let cpu = if pid > 0 {
            let [user, system, ..] = cpu_times(pid);
            user + system
        } else {
            0.0
        };
        for thread in 0..board.thread_limit() {
            let view = board.view(board.worker_index(process, thread));
            if view.accesses == 0 && matches!(view.state, State::Ready | State::Dead) {
                continue;
            }
            let pid_text = if pid > 0 { pid.to_string() } else { "-".into() };
            let since = if view.request_start > 0 {
                now_us.saturating_sub(view.request_start) / 1_000_000
            } else {
                0
            };
            let request = escape(&request_excerpt(&view.request, settings.see_request_tail));
            let (client, vhost) = (escape(&view.client), escape(&view.vhost));
            if notable {
                let _ = writeln!(
                    out,
                    "<b>Server {process}-{generation}</b> ({pid_text}): {}|{}|{} [{}] u{cpu:.2} {since} {} ({}|{}|{}) {client} {{{request}}} <i>{vhost}</i> <b>[http/1.1]</b><br />\n",
                    view.conn_accesses,
                    view.child_accesses,
                    view.accesses,
                    state_name(view.state),
                    view.last_duration / 1000,
                    bytes_out(view.conn_bytes as f64),
                    bytes_out(view.child_bytes as f64),
                    bytes_out(view.bytes as f64),
                );
                continue;
            }
            let _ = writeln!(
                out,
                "<tr><td><b>{process}-{generation}</b></td><td>{pid_text}</td><td>{}/{}/{}</td><td>{}\n</td><td>{cpu:.2}</td><td>{since}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}\n</td><td>{client}</td><td>http/1.1</td><td nowrap>{vhost}</td><td nowrap>{request}</td></tr>\n",
                view.conn_accesses,
                view.child_accesses,
                view.accesses,
                mode(view.state),
                view.last_duration / 1000,
                view.duration_sum / 1000,
                view.conn_bytes as f64 / 1024.0,
                view.child_bytes as f64 / 1024.0 / 1024.0,
                view.bytes as f64 / 1024.0 / 1024.0,
            );
        }
    }
    if !notable {
        out.push_str("</table>\n");
        out.push_str(LEGEND);
    }
}

fn state_name(state: State) -> &'static str {
    match state {
        State::Dead => "Dead",
        State::Starting => "Starting",
        State::Ready => "Ready",
        State::Reading => "Read",
        State::Writing => "Write",
        State::KeepAlive => "Keepalive",
        State::Logging => "Logging",
        State::Dns => "DNS lookup",
        State::Closing => "Closing",
        State::Graceful => "Graceful",
        State::IdleKill => "Dying",
    }
}

/// ExtendedStatus Off: which process holds which slot, and how to see more.
fn pid_key(out: &mut String, board: &Scoreboard) {
    out.push_str("<p>PID Key: <br />\n<pre>\n");
    for process in 0..board.processes() {
        let pid = board.pid(process);
        if pid <= 0 {
            continue;
        }
        for thread in 0..board.thread_limit() {
            let state = board.state(board.worker_index(process, thread));
            if state != State::Dead {
                let _ = writeln!(out, "   {pid} in state: {} ", state.symbol());
            }
        }
    }
    out.push_str("</pre>\n<p>To obtain a full report with current status information you need to use the <code>ExtendedStatus On</code> directive.</p>\n");
}

/// mod_status's hook: its handler.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks.handler.add("status", Order::Middle, handler);
}

/// Answers GET and HEAD for the `server-status` handler, or (for a file) its type.
fn handler(req: &mut Request) -> Step<Option<Response>> {
    let Some(settings) = &req.rt.status else {
        return Ok(None);
    };
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Ok(None);
    }
    let is_status = if req.finfo.as_ref().is_some_and(|m| m.is_dir()) {
        set_handler(req) == Some("server-status")
    } else {
        let filename = req.filename.clone().unwrap_or_default();
        handler_of(req, &filename).as_deref() == Some("server-status")
            || req
                .file_info
                .as_ref()
                .and_then(|info| info.content_type.as_deref())
                == Some("application/x-httpd-status")
    };
    if !is_status {
        return Ok(None);
    }
    handle(req, settings).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_apr_prints_them() {
        assert_eq!(fmt_g(1.0 / 3.0), ".333333");
        assert_eq!(fmt_g(0.0), "0");
        assert_eq!(fmt_g(113.777_777), "113.778");
        assert_eq!(fmt_g(341.333_333), "341.333");
        assert_eq!(fmt_g(2.0), "2");
        assert_eq!(fmt_g(1_234_567.0), "1.23457e+06");
        assert_eq!(fmt_g(0.000_012_5), "1.25e-05");
    }

    #[test]
    fn dates_uptimes_and_sizes_read_as_apache_writes_them() {
        assert_eq!(
            long_date(1_795_676_590),
            "Thursday, 26-Nov-2026 07:03:10 UTC"
        );
        assert_eq!(uptime_text(9), " 9 seconds");
        assert_eq!(uptime_text(0), "");
        assert_eq!(uptime_text(1), " 1 second");
        assert_eq!(uptime_text(3661), " 1 hour 1 minute 1 second");
        assert_eq!(uptime_text(86_400), " 1 day");
        assert_eq!(bytes_out(227.0), "227 B");
        assert_eq!(bytes_out(6000.0), "5.9 kB");
        assert_eq!(kbytes_out(2), "2 kB");
    }
}
