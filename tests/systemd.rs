//! mod_systemd: what a `Type=notify` service manager hears from rhttpd on the socket
//! `NOTIFY_SOCKET` names, from the start through requests and a graceful restart.

mod common;

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

use common::*;

/// The service manager's end: every datagram the server sends.
struct Manager(UnixDatagram);

impl Manager {
    fn bind_path(path: &std::path::Path) -> Manager {
        Manager(UnixDatagram::bind(path).unwrap())
    }

    fn bind_abstract(name: &str) -> Manager {
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        Manager(UnixDatagram::bind_addr(&address).unwrap())
    }

    /// The next notification, if one comes within `limit`.
    fn next_within(&self, limit: Duration) -> Option<String> {
        self.0.set_read_timeout(Some(limit)).unwrap();
        let mut buf = [0u8; 4096];
        let n = self.0.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    fn next(&self) -> String {
        self.next_within(Duration::from_secs(10))
            .expect("a notification within 10 s")
    }

    /// Status lines until one contains `text` (within `limit`).
    fn status_containing(&self, text: &str, limit: Duration) -> Option<String> {
        let end = Instant::now() + limit;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let message = self.next_within(left.max(Duration::from_millis(1)))?;
            if message.contains(text) {
                return Some(message);
            }
        }
        None
    }
}

fn site(root: &std::path::Path, port: u16, extra: &str) -> String {
    std::fs::create_dir_all(root.join("htdocs")).unwrap();
    std::fs::write(root.join("htdocs/index.html"), "hello\n").unwrap();
    format!(
        "{}LoadModule systemd_module modules/mod_systemd.so\nListen 127.0.0.1:{port}\nDocumentRoot {}/htdocs\n{extra}",
        config_head(root),
        root.display()
    )
}

#[test]
fn a_notify_service_hears_reading_ready_status_and_reloading() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let socket = root.join("notify");
    let manager = Manager::bind_path(&socket);
    let port = free_port("127.0.0.1");
    let server = Server::start_with_env(
        root,
        &site(root, port, ""),
        &["-D", "FOREGROUND"],
        &[("NOTIFY_SOCKET", socket.to_str().unwrap())],
    );
    assert_eq!(
        manager.next(),
        "RELOADING=1\nSTATUS=Reading configuration...\n"
    );
    assert_eq!(manager.next(), "READY=1\nSTATUS=Configuration loaded.\n");
    assert_eq!(
        manager.next(),
        format!(
            "READY=1\nSTATUS=Processing requests...\nMAINPID={}",
            server.pid()
        )
    );
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..3 {
        let answer = exchange(
            addr,
            b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(
            answer.starts_with(b"HTTP/1.1 200 OK"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    // Once a second the parent says how busy it is, in mod_systemd's words.
    let status = manager
        .status_containing("Total requests: 3;", Duration::from_secs(5))
        .expect("a status line counting the three requests");
    assert!(status.starts_with("READY=1\nSTATUS=Total requests: 3; Idle/Busy workers "));
    assert!(status.contains(";Requests/sec: ") && status.ends_with("B/sec\n"));

    // A graceful restart reads the configuration again; the MPM does not start anew.
    signal(server.pid(), "USR1");
    manager
        .status_containing(
            "RELOADING=1\nSTATUS=Reading configuration...\n",
            Duration::from_secs(5),
        )
        .expect("RELOADING=1 on a graceful restart");
    assert_eq!(manager.next(), "READY=1\nSTATUS=Configuration loaded.\n");
    let after = manager.next();
    assert!(
        after.starts_with("READY=1\nSTATUS=Total requests: "),
        "{after}"
    );
}

#[test]
fn an_abstract_socket_is_reached_and_extended_status_off_silences_the_monitor() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let name = format!("rhttpd-test-notify-{}", std::process::id());
    let manager = Manager::bind_abstract(&name);
    let port = free_port("127.0.0.1");
    let server = Server::start_with_env(
        root,
        &site(root, port, "ExtendedStatus Off\n"),
        &["-D", "FOREGROUND"],
        &[("NOTIFY_SOCKET", &format!("@{name}"))],
    );
    assert_eq!(
        manager.next(),
        "RELOADING=1\nSTATUS=Reading configuration...\n"
    );
    assert_eq!(manager.next(), "READY=1\nSTATUS=Configuration loaded.\n");
    let processing = manager.next();
    assert!(processing.ends_with(&format!("MAINPID={}", server.pid())));
    // Nothing useful to report with ExtendedStatus off: no status line in 2.5 s.
    assert_eq!(manager.next_within(Duration::from_millis(2500)), None);
}

#[test]
fn without_the_module_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let socket = root.join("notify");
    let manager = Manager::bind_path(&socket);
    let port = free_port("127.0.0.1");
    let config =
        site(root, port, "").replace("LoadModule systemd_module modules/mod_systemd.so\n", "");
    let _server = Server::start_with_env(
        root,
        &config,
        &["-D", "FOREGROUND"],
        &[("NOTIFY_SOCKET", socket.to_str().unwrap())],
    );
    assert_eq!(manager.next_within(Duration::from_millis(2500)), None);
}
