//! The reports the command line prints: `-v`, `-V`, `-l`, `-L`, `-M`, `-t -D DUMP_INCLUDES`
//! and `-t -D DUMP_RUN_CFG`, in Apache's formats.

use std::path::Path;

use rhttpd_directives::listing::directive_listing;
use rhttpd_directives::model::{Config, ReadState};
use rhttpd_directives::ModuleDef;

use crate::build_info::*;
use crate::sys;

/// `-v`.
pub fn version() -> String {
    format!(
        "Server version: {SERVER_BANNER}\nServer built:   {}\n",
        crate::build_info::server_built()
    )
}

/// `-V`: version, the MPM the configuration selects, and the compile-time settings.
pub fn compile_settings(mpm: Option<&ModuleDef>) -> String {
    let mut out = version();
    out.push_str("Server's Module Magic Number: 20120211:142\n");
    out.push_str(&format!("Server loaded:  rhttpd {RHTTPD_VERSION}\n"));
    out.push_str(&format!("Compiled using: rhttpd {RHTTPD_VERSION}\n"));
    out.push_str(&format!("Architecture:   {}-bit\n", usize::BITS));
    match mpm.and_then(|m| m.mpm_name()) {
        Some(name) => {
            out.push_str(&format!("Server MPM:     {name}\n"));
            if name == "prefork" {
                out.push_str("  threaded:     no\n");
            } else {
                out.push_str("  threaded:     yes (fixed thread count)\n");
            }
            out.push_str("    forked:     yes (variable process count)\n");
        }
        None => out.push_str("Server MPM:     \n"),
    }
    out.push_str("Server compiled with....\n");
    for line in [
        " -D APR_HAS_SENDFILE".to_string(),
        " -D APR_HAS_MMAP".to_string(),
        " -D APR_HAVE_IPV6 (IPv4-mapped addresses enabled)".to_string(),
        " -D SINGLE_LISTEN_UNSERIALIZED_ACCEPT".to_string(),
        " -D AP_HAVE_RELIABLE_PIPED_LOGS".to_string(),
        format!(" -D HTTPD_ROOT=\"{HTTPD_ROOT}\""),
        format!(" -D DEFAULT_PIDLOG=\"{DEFAULT_PIDLOG}\""),
        format!(" -D DEFAULT_SCOREBOARD=\"{DEFAULT_SCOREBOARD}\""),
        format!(" -D DEFAULT_ERRORLOG=\"{DEFAULT_ERRORLOG}\""),
        format!(" -D AP_TYPES_CONFIG_FILE=\"{AP_TYPES_CONFIG_FILE}\""),
        format!(" -D SERVER_CONFIG_FILE=\"{SERVER_CONFIG_FILE}\""),
    ] {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `-l`: the static modules' source names, then the MPM the configuration selects.
pub fn compiled_modules(mpm: Option<&ModuleDef>) -> String {
    let mut out = String::from("Compiled in modules:\n");
    for module in crate::modules::REGISTRY.iter().filter(|m| m.builtin) {
        out.push_str(&format!("  {}\n", module.source));
    }
    if let Some(mpm) = mpm {
        out.push_str(&format!("  {}\n", mpm.source));
    }
    out
}

/// `-L` for the modules the configuration loads.
pub fn directives(state: &ReadState) -> String {
    directive_listing(&state.modules)
}

/// `-M`.
pub fn loaded_modules(state: &ReadState) -> String {
    let mut out = String::from("Loaded Modules:\n");
    for module in &state.modules {
        let kind = if module.builtin { "static" } else { "shared" };
        out.push_str(&format!(" {} ({kind})\n", module.id));
    }
    out
}

/// `-t -D DUMP_INCLUDES`.
pub fn includes(state: &ReadState) -> String {
    let mut out = String::from("Included configuration files:\n");
    for file in &state.includes {
        let indent = "  ".repeat(file.depth + 1);
        match file.included_at {
            Some(line) => out.push_str(&format!("{indent}({line}) {}\n", file.path)),
            None => out.push_str(&format!("{indent}(*) {}\n", file.path)),
        }
    }
    out
}

/// The runtime directory: DefaultRuntimeDir, else `logs` under ServerRoot.
fn runtime_dir(state: &ReadState) -> std::path::PathBuf {
    state
        .default_runtime_dir
        .clone()
        .unwrap_or_else(|| state.server_root_relative(DEFAULT_REL_RUNTIMEDIR))
}

fn mechanism_name(mechanism: &str) -> &str {
    match mechanism {
        "file" | "fcntl" => "fcntl",
        "flock" => "flock",
        "sysvsem" => "sysvsem",
        "posixsem" | "sem" => "posixsem",
        "pthread" => "pthread",
        _ => "default",
    }
}

fn mutex_line(name: &str, setting: &str) -> String {
    let (mechanism, dir) = match setting.split_once(':') {
        Some((m, d)) => (m.to_ascii_lowercase(), d.to_string()),
        None => (setting.to_ascii_lowercase(), String::new()),
    };
    if mechanism == "none" {
        return format!("Mutex {name}: none\n");
    }
    format!(
        "Mutex {name}: dir=\"{dir}\" mechanism={} \n",
        mechanism_name(&mechanism)
    )
}

fn id_line(label: &str, value: Option<&str>, lookup: fn(&str) -> Option<u32>) -> String {
    let name = value.unwrap_or("#-1");
    let id = match name.strip_prefix('#') {
        Some(number) => number.parse::<i64>().map(|n| n as u32).unwrap_or(u32::MAX),
        None => lookup(name).unwrap_or(u32::MAX),
    };
    let not_used = if sys::is_root() { "" } else { " not_used" };
    format!("{label}: name=\"{name}\" id={id}{not_used}\n")
}

/// `-t -D DUMP_RUN_CFG`.
pub fn run_settings(config: &Config) -> String {
    let state = &config.read;
    let main = config.main_server();
    let mut out = format!("ServerRoot: \"{}\"\n", state.server_root.display());
    let docroot = main
        .document_root
        .clone()
        .unwrap_or_else(|| Path::new(DEFAULT_DOCUMENT_ROOT).to_path_buf());
    out.push_str(&format!("Main DocumentRoot: \"{}\"\n", docroot.display()));
    let error_log = main
        .error_log
        .clone()
        .unwrap_or_else(|| DEFAULT_ERRORLOG.to_string());
    let error_log = if error_log.starts_with('|') || error_log.starts_with("syslog") {
        error_log
    } else {
        state
            .server_root_relative(&error_log)
            .to_string_lossy()
            .into_owned()
    };
    out.push_str(&format!("Main ErrorLog: \"{error_log}\"\n"));
    if let Some(scoreboard) = &config.scoreboard_file {
        out.push_str(&format!(
            "ScoreBoardFile: \"{}\"\n",
            state.server_root_relative(scoreboard).display()
        ));
    }
    // Apache prints these from a hash; this is the order Debian's 2.4.71 shows for this set.
    let mut mutex_types = vec!["default"];
    if matches!(
        state.mpm().and_then(|m| m.mpm_name()),
        Some("prefork" | "worker")
    ) {
        mutex_types.push("mpm-accept");
    }
    mutex_types.push("watchdog-callback");
    if state.modules.iter().any(|m| m.id == "auth_digest_module") {
        mutex_types.push("authdigest-client");
    }
    for name in mutex_types {
        match config.mutexes.iter().rev().find(|(kind, _)| kind == name) {
            Some((_, setting)) => out.push_str(&mutex_line(name, setting)),
            None if name == "default" => out.push_str(&format!(
                "Mutex default: dir=\"{}/\" mechanism=default \n",
                runtime_dir(state).display()
            )),
            None => out.push_str(&format!("Mutex {name}: using_defaults\n")),
        }
    }
    let pid_file = config.pid_file.as_deref().unwrap_or(DEFAULT_PIDLOG);
    out.push_str(&format!(
        "PidFile: \"{}\"\n",
        state.server_root_relative(pid_file).display()
    ));
    for (name, value) in &state.defines {
        match value {
            Some(value) => out.push_str(&format!("Define: {name}={value}\n")),
            None => out.push_str(&format!("Define: {name}\n")),
        }
    }
    out.push_str(&id_line("User", config.run_as.user.as_deref(), sys::uid_of));
    out.push_str(&id_line(
        "Group",
        config.run_as.group.as_deref(),
        sys::gid_of,
    ));
    out
}
