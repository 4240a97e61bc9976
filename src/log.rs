//! The error log: Apache's line format (`[Thu Nov 26 07:01:51.030592 2026] [core:warn]
//! [pid N:tid T] AHnnnnn: ...`, with the kernel thread id as Debian prints it), LogLevel
//! (global and per module; notices always pass, as in Apache), and ErrorLog: once the server
//! runs, a file or piped logger becomes its standard error, where every message goes.

use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use rhttpd_directives::model::{Config, RawSetting};

use crate::http1::date::{Civil, DAYS};

/// Apache's `%{cu}t`-style timestamp in UTC: `Thu Nov 26 07:01:51.030592 2026`.
pub fn timestamp(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let c = Civil::from_unix(since.as_secs() as i64);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02}.{:06} {}",
        DAYS[c.weekday],
        c.month_name(),
        c.day,
        c.hour,
        c.minute,
        c.second,
        since.subsec_micros(),
        c.year
    )
}

/// One error-log line for `module` at `level` from this thread.
pub fn line(module: &str, level: &str, message: &str) -> String {
    let pid = std::process::id();
    let tid = crate::sys::thread_id();
    format!(
        "[{}] [{module}:{level}] [pid {pid}:tid {tid}] {message}",
        timestamp(SystemTime::now())
    )
}

/// Apache's levels, from the most severe.
pub const LEVELS: [&str; 16] = [
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1", "trace2",
    "trace3", "trace4", "trace5", "trace6", "trace7", "trace8",
];

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

/// Applies the main server's LogLevel lines (a bare level resets the per-module ones).
pub fn configure(settings: &[RawSetting]) {
    let mut levels = Levels {
        global: 4,
        modules: Vec::new(),
    };
    for setting in settings.iter().filter(|s| s.directive == "LogLevel") {
        for word in setting.words() {
            match word.split_once(':') {
                None => {
                    levels.global = level_number(&word).unwrap_or(4);
                    levels.modules.clear();
                }
                Some((module, level)) => {
                    let short = module
                        .trim_start_matches("mod_")
                        .trim_end_matches(".c")
                        .trim_end_matches("_module")
                        .to_string();
                    if let Some(n) = level_number(level) {
                        levels.modules.push((short, n));
                    }
                }
            }
        }
    }
    if let Ok(mut configured) = CONFIGURED.write() {
        *configured = levels;
    }
}

/// Whether a message of `module` at `level` is logged.
pub fn enabled(module: &str, level: &str) -> bool {
    let Some(n) = level_number(level) else {
        return true;
    };
    // Apache logs notices whatever the LogLevel.
    if n == 5 {
        return true;
    }
    let Ok(configured) = CONFIGURED.read() else {
        return true;
    };
    let limit = configured
        .modules
        .iter()
        .rev()
        .find(|(m, _)| m == module)
        .map_or(configured.global, |(_, l)| *l);
    n <= limit
}

/// Logs a message to the error log if LogLevel lets it through.
pub fn error(module: &str, level: &str, message: &str) {
    if enabled(module, level) {
        eprintln!("{}", line(module, level, message));
    }
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

/// Opens the ErrorLog and makes it standard error, as Apache does once it runs; the piped
/// logger's process, if any, to be kept.
pub fn open_error_log(
    config: &Config,
    program: &str,
) -> Result<Option<std::process::Child>, String> {
    match destination(config) {
        Destination::File(path) => {
            crate::sys::redirect_stderr(&path).map_err(|err| {
                let code = err.raw_os_error().unwrap_or(0);
                let text = crate::config::read::strerror(&err);
                format!(
                    "({code}){text}: AH00091: {program}: could not open error log file {}.\nAH00015: Unable to open logs",
                    path.display()
                )
            })?;
            Ok(None)
        }
        Destination::Pipe(command, shell) => {
            let mut child = if shell {
                std::process::Command::new("/bin/sh")
                    .args(["-c", &command])
                    .stdin(std::process::Stdio::piped())
                    .spawn()
            } else {
                let words: Vec<&str> = command.split_whitespace().collect();
                match words.split_first() {
                    Some((program, args)) => std::process::Command::new(program)
                        .args(args)
                        .stdin(std::process::Stdio::piped())
                        .spawn(),
                    None => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
                }
            }
            .map_err(|_| format!("AH00089: Couldn't start ErrorLog process '{command}'.\nAH00015: Unable to open logs"))?;
            if let Some(stdin) = child.stdin.take() {
                crate::sys::stderr_to(&stdin).map_err(|e| e.to_string())?;
            }
            Ok(Some(child))
        }
        Destination::Syslog(value) => {
            let text = format!(
                "ErrorLog {value}: syslog is not implemented yet; messages go to standard error"
            );
            error("core", "warn", &text);
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_like_apache() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_676_511_030_592);
        assert_eq!(timestamp(t), "Thu Nov 26 07:01:51.030592 2026");
    }
}
