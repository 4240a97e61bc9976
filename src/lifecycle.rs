//! The server's life outside the MPM: the PidFile, `-k` verbs sent to a running server through
//! it, detaching from the terminal, and the error log the detached server writes to.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::sys::process;
use rhttpd_directives::model::Config;

/// The PidFile's path (ServerRoot-relative, Apache's compiled default when unset).
pub fn pid_file(config: &Config) -> PathBuf {
    let name = config
        .pid_file
        .as_deref()
        .unwrap_or(crate::build_info::DEFAULT_PIDLOG);
    config.read.server_root_relative(name)
}

/// The pid a PidFile names, if it names one.
pub fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&pid: &i32| pid > 0)
}

/// Writes this process's pid, replacing a stale file as Apache does (with its warning).
pub fn write_pid(path: &Path) -> io::Result<()> {
    if let Some(old) = read_pid(path) {
        if old as u32 != std::process::id() {
            let text = format!(
                "AH00098: pid file {} overwritten -- Unclean shutdown of previous Apache run?",
                path.display()
            );
            crate::log::error("core", "warn", &text);
        }
    }
    fs::write(path, format!("{}\n", std::process::id()))
}

/// What `-k` leaves for the caller to do.
pub enum Verb {
    /// Go on and start the server.
    Start,
    /// Done: exit with this status.
    Exit(u8),
}

/// Carries out `-k verb` against the server the PidFile names, printing what Apache prints
/// (which names the server "httpd" whatever the program is called).
pub fn signal_server(program: &str, verb: &str, pid_path: &Path) -> Verb {
    let pid = read_pid(pid_path);
    let running = pid.filter(|&pid| process::signal(pid, 0));
    let signal = match verb {
        "start" => {
            if let Some(pid) = running {
                println!("httpd (pid {pid}) already running");
                return Verb::Exit(0);
            }
            return Verb::Start;
        }
        "stop" => libc::SIGTERM,
        "restart" => libc::SIGHUP,
        "graceful" => libc::SIGUSR1,
        "graceful-stop" => libc::SIGWINCH,
        _ => return Verb::Exit(1),
    };
    match (pid, running) {
        (_, Some(pid)) => {
            if !process::signal(pid, signal) {
                eprintln!("{program}: could not send signal to pid {pid}");
                return Verb::Exit(1);
            }
            Verb::Exit(0)
        }
        // Restarting a server that is not running starts it.
        _ if signal == libc::SIGHUP || signal == libc::SIGUSR1 => {
            println!("httpd not running, trying to start");
            Verb::Start
        }
        (None, None) => {
            println!("httpd (no pid file) not running");
            Verb::Exit(0)
        }
        (Some(pid), None) => {
            println!("httpd (pid {pid}?) not running");
            Verb::Exit(0)
        }
    }
}

/// Detaches from the terminal: the caller's process exits 0 and the server goes on in a new
/// session, with standard input and output on /dev/null and standard error kept (it is the
/// error log by now).
pub fn detach() -> Result<(), String> {
    daemonize::Daemonize::new()
        .working_directory("/")
        .umask(process::current_umask())
        .stderr(daemonize::Stdio::keep())
        .start()
        .map_err(|e| e.to_string())
}
