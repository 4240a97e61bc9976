//! Several `Listen` lines, IPv4 and IPv6, each address answered by the virtual host bound to it.

mod common;

use std::net::{SocketAddr, TcpListener};

use common::{config_head, exchange, free_port, Server};

#[test]
fn ipv4_and_ipv6_listeners_each_serve_their_virtual_host() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback on this machine; nothing to test");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let (v4, v6) = (free_port("127.0.0.1"), free_port("::1"));
    for (dir, text) in [("four", "over IPv4\n"), ("six", "over IPv6\n")] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
        std::fs::write(root.path().join(dir).join("who.txt"), text).unwrap();
    }
    let _server = Server::start(
        root.path(),
        &format!(
            "{head}\
             Listen 127.0.0.1:{v4}\n\
             Listen [::1]:{v6}\n\
             <VirtualHost 127.0.0.1:{v4}>\n    DocumentRoot {root}/four\n</VirtualHost>\n\
             <VirtualHost [::1]:{v6}>\n    DocumentRoot {root}/six\n</VirtualHost>\n",
            head = config_head(root.path()),
            root = root.path().display()
        ),
    );
    let request = b"GET /who.txt HTTP/1.1\r\nHost: anything\r\nConnection: close\r\n\r\n";
    for (addr, body) in [
        (format!("127.0.0.1:{v4}"), "over IPv4\n"),
        (format!("[::1]:{v6}"), "over IPv6\n"),
    ] {
        let addr: SocketAddr = addr.parse().unwrap();
        let response = String::from_utf8(exchange(addr, request)).unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with(&format!("\r\n\r\n{body}")), "{response}");
    }
}

/// Apache's default accept filter (TCP_DEFER_ACCEPT on Linux): a connection that never sends
/// a byte is not handed to a worker, so it cannot tie up the only one `-X` has.
#[test]
fn a_silent_connection_does_not_hold_the_only_worker() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "served\n").unwrap();
    let port = free_port("127.0.0.1");
    let config = config_head(root.path()).replace(
        "mpm_event_module modules/mod_mpm_event.so",
        "mpm_prefork_module modules/mod_mpm_prefork.so",
    ) + &format!(
        "Listen 127.0.0.1:{port}\nDocumentRoot {}\n",
        root.path().display()
    );
    let _server = Server::start(root.path(), &config);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(exchange(addr, b"GET /a.txt HTTP/1.0\r\n\r\n").ends_with(b"served\n"));
    let _silent = std::net::TcpStream::connect(addr).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    assert!(exchange(addr, b"GET /a.txt HTTP/1.0\r\n\r\n").ends_with(b"served\n"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "the silent connection held the worker for {:?}",
        started.elapsed()
    );
}
