//! mod_log_forensic, whole: ForensicLog (table, setter, typed per-server configuration and
//! merge), the log files it opens with the others, and its two lines per request: `+id|` the
//! request line and every header as it arrived (before anything else looks at them), then
//! `-id` once the request is logged, so a request that crashed its server shows as a `+`
//! without its `-`. The id is mod_unique_id's when it is loaded (the `forensic-id` note).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::RSRC_CONF;
use rhttpd_directives::model::{Config, DirConfig};
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

use super::log_config::Sink;
use crate::hooks::{Hooks, Order};
use crate::log::StartupMessage;
use crate::request::{LogFacts, Request, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "log_forensic_module",
    source: "mod_log_forensic.c",
    builtin: false,
    has_dir_config: false,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "ForensicLog",
    Take1(forensic_log),
    RSRC_CONF,
    "the filename of the forensic log",
)
.implemented()];

/// Per server: the log's name (a file relative to ServerRoot, or `|program`).
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub log_name: Option<String>,
}

impl DirConfig for ServerConf {
    fn merge(&self, child: &ServerConf) -> ServerConf {
        ServerConf {
            log_name: child.log_name.clone().or_else(|| self.log_name.clone()),
        }
    }
}

fn forensic_log(cmd: &mut Cmd, name: &str) -> SetResult {
    cmd.server_config::<ServerConf>().log_name = Some(name.to_string());
    Ok(())
}

/// The forensic logs of one generation, per server (a server naming the same log as another
/// writes to the same one).
#[derive(Default)]
pub struct Logs {
    per_server: Vec<Option<Arc<Sink>>>,
}

impl std::fmt::Debug for Logs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.per_server.iter().filter(|l| l.is_some()).count();
        write!(f, "forensic logs ({open} open)")
    }
}

impl Logs {
    /// Opens each server's ForensicLog (a virtual host without one writes the main
    /// server's), as Apache's open_logs hook does; a failure ends the start.
    pub fn open(config: &Config) -> Result<Logs, StartupMessage> {
        let main = config.main_server().modules.get::<ServerConf>().cloned();
        let main = main.unwrap_or_default();
        let mut opened: Vec<(String, Arc<Sink>)> = Vec::new();
        let mut per_server = Vec::new();
        for (index, server) in config.servers.iter().enumerate() {
            let conf = match (index, server.modules.get::<ServerConf>()) {
                (0, _) => main.clone(),
                (_, Some(own)) => main.merge(own),
                (_, None) => main.clone(),
            };
            let Some(name) = conf.log_name else {
                per_server.push(None);
                continue;
            };
            if let Some((_, sink)) = opened.iter().find(|(n, _)| *n == name) {
                per_server.push(Some(Arc::clone(sink)));
                continue;
            }
            let sink = Arc::new(open(&name, config)?);
            opened.push((name, Arc::clone(&sink)));
            per_server.push(Some(sink));
        }
        Ok(Logs { per_server })
    }

    fn of(&self, server: usize) -> Option<&Sink> {
        self.per_server.get(server).and_then(|s| s.as_deref())
    }
}

fn open(name: &str, config: &Config) -> Result<Sink, StartupMessage> {
    let read = &config.read;
    if let Some(program) = name.strip_prefix('|') {
        return crate::piped_log::PipedLogger::spawn(name, &read.server_root)
            .map(Sink::Pipe)
            .map_err(|_| StartupMessage::Line {
                module: "log_forensic",
                level: "error",
                text: format!("AH00650: couldn't spawn forensic log pipe |{program}"),
            });
    }
    let path = read.server_root_relative(name);
    crate::log::open_append(&path)
        .map(Sink::File)
        .map_err(|e| StartupMessage::Line {
            module: "log_forensic",
            level: "error",
            text: format!(
                "{}: AH00651: could not open forensic log file {}.",
                crate::config::read::errno_text(&e),
                path.display()
            ),
        })
}

/// After mod_unique_id's hook (Apache orders it so), before the others look at the request.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .post_read_request
        .add("log_forensic", Order::Middle, log_before);
}

/// The bytes Apache writes as they are, and `%xx` for the others (`:`, `|`, `%` and what
/// is not printable ASCII).
fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && !matches!(b, b':' | b'|' | b'%') {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02x}").as_bytes());
        }
    }
}

/// The id when mod_unique_id gives none: pid, the second in hex, a counter.
fn own_id() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let count = NEXT.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
    format!("{}:{second:x}:{count:x}", std::process::id())
}

/// `+id|request line|Header:value|...`, written at once.
fn log_before(req: &mut Request) -> Step<()> {
    let Some(sink) = req.rt.forensic.of(req.server) else {
        return Ok(());
    };
    let id = req
        .early_env
        .iter()
        .find(|(name, _)| name == "UNIQUE_ID")
        .map(|(_, value)| value.clone())
        .unwrap_or_else(own_id);
    let mut line = format!("+{id}|").into_bytes();
    escape_into(&req.head.request_line, &mut line);
    for (name, value) in &req.head.headers.0 {
        line.push(b'|');
        escape_into(name.as_bytes(), &mut line);
        line.push(b':');
        escape_into(req.head.received(name, value), &mut line);
    }
    line.push(b'\n');
    sink.send(&line);
    req.notes.push(("forensic-id".to_string(), id.clone()));
    req.state.get_mut::<ForensicId>().0 = Some(id);
    Ok(())
}

/// The id of the request's `+` line (Apache keeps it in the request's module config).
#[derive(Debug, Default)]
struct ForensicId(Option<String>);

/// The request's forensic id, if its `+` line was written.
pub fn id(req: &Request) -> Option<String> {
    req.state.get::<ForensicId>().and_then(|f| f.0.clone())
}

/// The request's forensic id, if its `+` line was written (taken before the answer goes out).
pub fn pending(
    rt: &crate::runtime::Runtime,
    server: usize,
    facts: Option<&LogFacts>,
) -> Option<String> {
    rt.forensic.of(server)?;
    facts?.forensic_id.clone()
}

/// `-id`, once the request is logged.
pub fn finished(rt: &crate::runtime::Runtime, server: usize, id: &str) {
    if let Some(sink) = rt.forensic.of(server) {
        sink.send(format!("-{id}\n").as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_percent_and_unprintables_are_escaped() {
        let mut out = Vec::new();
        escape_into(b"GET /a|b:c%d\xe9\t HTTP/1.1", &mut out);
        assert_eq!(out, b"GET /a%7cb%3ac%25d%e9%09 HTTP/1.1");
    }
}
