//! The daemon's life through `-k`: start detaches and writes the PidFile, a second start says
//! it is already running, graceful replaces the children while serving, stop removes the
//! PidFile and leaves no process behind; the daemon's logs are written throughout; graceful
//! or restart of a server that is not running starts it.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{alive, children_of, config_head, eventually, exchange, free_port};

fn rhttpd_k(root: &Path, verb: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rhttpd"))
        .args([
            "-d",
            &root.display().to_string(),
            "-f",
            "httpd.conf",
            "-k",
            verb,
        ])
        .output()
        .unwrap()
}

/// Kills whatever the PidFile names when the test ends, passed or not.
struct Daemon(PathBuf);

impl Daemon {
    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(&self.0).ok()?.trim().parse().ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// A site in `root` serving `page` as its index, logging errors to logs/error_log, with
/// `extra` configuration: its port, and its daemon (killed when the test ends).
fn daemon_site(root: &Path, page: &str, extra: &str) -> (u16, Daemon) {
    let port = free_port("127.0.0.1");
    std::fs::create_dir_all(root.join("logs")).unwrap();
    std::fs::write(root.join("index.html"), page).unwrap();
    let config = config_head(root).replace("ErrorLog /dev/stderr", "ErrorLog logs/error_log")
        + &format!(
            "LoadModule dir_module modules/mod_dir.so\nListen 127.0.0.1:{port}\nDocumentRoot {}\n{extra}",
            root.display()
        );
    std::fs::write(root.join("httpd.conf"), config).unwrap();
    (port, Daemon(root.join("logs/httpd.pid")))
}

#[test]
fn start_graceful_and_stop_through_the_pid_file() {
    let root = tempfile::tempdir().unwrap();
    let (port, daemon) = daemon_site(
        root.path(),
        "daemon page\n",
        "LoadModule log_config_module modules/mod_log_config.so\nCustomLog logs/access_log \"%r %>s\"\n\
         CustomLog \"|$exec cat >> logs/piped_log\" \"%r\"\n\
         StartServers 2\nThreadsPerChild 4\nMinSpareThreads 4\nMaxSpareThreads 16\nMaxRequestWorkers 16\n",
    );

    let started = rhttpd_k(root.path(), "start");
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    assert!(eventually(Duration::from_secs(3), || daemon
        .pid()
        .is_some()));
    let pid = daemon.pid().unwrap();
    assert!(alive(pid));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let page = exchange(addr, b"GET / HTTP/1.0\r\n\r\n");
    assert!(String::from_utf8_lossy(&page).ends_with("\r\n\r\ndaemon page\n"));

    // The piped logger is the daemon's own child (started after detaching, as Apache's second
    // pass starts it), so the daemon reaps it and restarts it if it dies.
    assert!(
        eventually(Duration::from_secs(2), || children_of(pid).iter().any(
            |&c| {
                std::fs::read_to_string(format!("/proc/{c}/comm")).is_ok_and(|n| n.trim() == "cat")
            }
        )),
        "no logger among the daemon's children {:?}",
        children_of(pid)
    );

    let again = rhttpd_k(root.path(), "start");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        format!("httpd (pid {pid}) already running\n")
    );

    let servers = || {
        children_of(pid)
            .into_iter()
            .filter(|c| {
                std::fs::read_to_string(format!("/proc/{c}/comm")).is_ok_and(|n| n.trim() != "cat")
            })
            .collect::<Vec<_>>()
    };
    assert!(eventually(Duration::from_secs(2), || servers().len() == 2));
    let before = children_of(pid);
    assert!(rhttpd_k(root.path(), "graceful").status.success());
    assert!(
        eventually(Duration::from_secs(5), || {
            let now = children_of(pid);
            now.len() >= 2 && now.iter().all(|c| !before.contains(c))
        }),
        "children before {before:?}, after {:?}",
        children_of(pid)
    );
    let page = exchange(addr, b"GET / HTTP/1.0\r\n\r\n");
    assert!(String::from_utf8_lossy(&page).starts_with("HTTP/1.1 200 OK\r\n"));
    let log = std::fs::read_to_string(root.path().join("logs/error_log")).unwrap();
    assert!(
        log.contains("AH00493: SIGUSR1 received.  Doing graceful restart"),
        "{log}"
    );

    let children = children_of(pid);
    assert!(rhttpd_k(root.path(), "stop").status.success());
    assert!(eventually(Duration::from_secs(5), || !alive(pid)));
    assert!(children.iter().all(|&c| !alive(c)));
    assert!(!daemon.0.exists(), "the PidFile outlived the server");
    let log = std::fs::read_to_string(root.path().join("logs/error_log")).unwrap();
    assert!(
        log.ends_with("AH00491: caught SIGTERM, shutting down\n"),
        "{log}"
    );
    // The daemon's logs are its own: detaching must not have closed them (the access log was
    // once opened before the fork and lost with the descriptors the starter left behind).
    let access = std::fs::read_to_string(root.path().join("logs/access_log")).unwrap();
    assert_eq!(access, "GET / HTTP/1.0 200\nGET / HTTP/1.0 200\n");
    let piped = root.path().join("logs/piped_log");
    assert!(
        eventually(Duration::from_secs(2), || std::fs::read_to_string(&piped)
            .is_ok_and(|t| t == "GET / HTTP/1.0\nGET / HTTP/1.0\n")),
        "{:?}",
        std::fs::read_to_string(&piped)
    );
}

#[test]
fn graceful_of_a_server_not_running_starts_it_as_apache_does() {
    let root = tempfile::tempdir().unwrap();
    let (port, daemon) = daemon_site(
        root.path(),
        "started by graceful\n",
        "StartServers 1\nThreadsPerChild 2\nMinSpareThreads 1\nMaxSpareThreads 8\n",
    );
    let graceful = rhttpd_k(root.path(), "graceful");
    assert!(graceful.status.success());
    assert_eq!(
        String::from_utf8_lossy(&graceful.stdout),
        "httpd not running, trying to start\n"
    );
    assert!(eventually(Duration::from_secs(3), || daemon
        .pid()
        .is_some_and(alive)));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let page = exchange(addr, b"GET / HTTP/1.0\r\n\r\n");
    assert!(String::from_utf8_lossy(&page).ends_with("\r\n\r\nstarted by graceful\n"));
    let pid = daemon.pid().unwrap();
    assert!(rhttpd_k(root.path(), "stop").status.success());
    assert!(eventually(Duration::from_secs(5), || !alive(pid)));
}
