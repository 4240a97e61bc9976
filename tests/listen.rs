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
