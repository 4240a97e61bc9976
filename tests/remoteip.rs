//! mod_remoteip's PROXY protocol under the three MPMs, each in its own process model: only
//! the address whose virtual host switched it on expects the header; a header sent in pieces
//! is read whole; and under event, connections whose header trickles in are parked, holding
//! no worker, so clients of the other address are served meanwhile.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{config_head, free_port, Server};

/// A site with two addresses: the PROXY protocol on for the first only. Each answer names
/// its client (REMOTE_ADDR) and the connection's (CONN_REMOTE_ADDR).
fn site(root: &Path, mpm: &str, proxied: u16, plain: u16, sizing: &str) -> String {
    std::fs::write(root.join("a.txt"), "served\n").unwrap();
    config_head(root).replace("mpm_event", &format!("mpm_{mpm}"))
        + &format!(
            "LoadModule remoteip_module modules/mod_remoteip.so\n\
             LoadModule headers_module modules/mod_headers.so\n\
             Listen 127.0.0.1:{proxied}\nListen 127.0.0.1:{plain}\n\
             DocumentRoot {root}\n{sizing}\n\
             Header always set X-Client \"expr=%{{REMOTE_ADDR}} %{{CONN_REMOTE_ADDR}}\"\n\
             <VirtualHost 127.0.0.1:{proxied}>\n    RemoteIPProxyProtocol On\n</VirtualHost>\n\
             <VirtualHost 127.0.0.1:{plain}>\n    ServerName plain.test\n</VirtualHost>\n",
            root = root.display()
        )
}

const GET: &[u8] = b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// Sends `pieces` a moment apart and reads the answer (empty when the server drops it).
fn send(addr: SocketAddr, pieces: &[&[u8]]) -> String {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = stream.write_all(piece);
    }
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The X-Client header of an answer.
fn client(answer: &str) -> Option<&str> {
    answer
        .lines()
        .find_map(|line| line.strip_prefix("X-Client: "))
}

fn v2_tcp4(source: [u8; 4], port: u16) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    out.extend_from_slice(&source);
    out.extend_from_slice(&[127, 0, 0, 1]);
    out.extend_from_slice(&port.to_be_bytes());
    out.extend_from_slice(&80u16.to_be_bytes());
    out
}

#[test]
fn each_mpm_reads_proxy_headers_where_they_are_on() {
    for mpm in ["prefork", "worker", "event"] {
        let root = tempfile::tempdir().unwrap();
        let (proxied, plain) = (free_port("127.0.0.1"), free_port("127.0.0.1"));
        let conf = site(root.path(), mpm, proxied, plain, "StartServers 1");
        let _server = Server::start_with(root.path(), &conf, &["-D", "FOREGROUND"]);
        let proxied: SocketAddr = format!("127.0.0.1:{proxied}").parse().unwrap();
        let plain: SocketAddr = format!("127.0.0.1:{plain}").parse().unwrap();
        assert!(common::eventually(Duration::from_secs(10), || {
            TcpStream::connect(plain).is_ok()
        }));
        let answer = send(plain, &[GET]);
        assert_eq!(
            client(&answer),
            Some("127.0.0.1 127.0.0.1"),
            "{mpm}: {answer}"
        );
        let answer = send(
            proxied,
            &[
                b"PROXY TCP4 203.0",
                b".113.9 127.0.0.1 1111 80\r\nGET /a.txt HTTP/1.1\r\n",
                b"Host: x\r\nConnection: close\r\n\r\n",
            ],
        );
        assert_eq!(
            client(&answer),
            Some("203.0.113.9 127.0.0.1"),
            "{mpm}: {answer}"
        );
        let header = v2_tcp4([4, 3, 2, 1], 4444);
        let answer = send(proxied, &[&header[..7], &header[7..], GET]);
        assert_eq!(
            client(&answer),
            Some("4.3.2.1 127.0.0.1"),
            "{mpm}: {answer}"
        );
        // Without the header its address expects, the connection is dropped unanswered.
        assert_eq!(send(proxied, &[GET]), "", "{mpm}");
    }
}

#[test]
fn trickling_proxy_headers_hold_no_event_worker() {
    let root = tempfile::tempdir().unwrap();
    let (proxied, plain) = (free_port("127.0.0.1"), free_port("127.0.0.1"));
    // Two workers in one child: two connections held on threads would stop it.
    let sizing = "StartServers 1\nServerLimit 1\nThreadsPerChild 2\nThreadLimit 2\n\
                  MaxRequestWorkers 2\nMinSpareThreads 1\nMaxSpareThreads 2";
    let conf = site(root.path(), "event", proxied, plain, sizing);
    let _server = Server::start_with(root.path(), &conf, &["-D", "FOREGROUND"]);
    let proxied: SocketAddr = format!("127.0.0.1:{proxied}").parse().unwrap();
    let plain: SocketAddr = format!("127.0.0.1:{plain}").parse().unwrap();
    assert!(common::eventually(Duration::from_secs(10), || {
        TcpStream::connect(plain).is_ok()
    }));
    // Each slow client sends its header a byte at a time, and never all of it meanwhile.
    const HEADER: &[u8] = b"PROXY TCP4 203.0.113.9 127.0.0.1 1111 80\r\n";
    let mut sent = 3;
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(proxied).unwrap();
        stream.write_all(&HEADER[..sent]).unwrap();
        slow.push(stream);
    }
    let began = Instant::now();
    let mut served = 0;
    while began.elapsed() < Duration::from_secs(2) {
        if sent < HEADER.len() - 1 {
            for stream in &mut slow {
                let _ = stream.write_all(&HEADER[sent..sent + 1]);
            }
            sent += 1;
        }
        let asked = Instant::now();
        let answer = send(plain, &[GET]);
        assert_eq!(client(&answer), Some("127.0.0.1 127.0.0.1"), "{answer}");
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "a plain request waited {:?} behind trickling headers",
            asked.elapsed()
        );
        served += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served >= 5, "only {served} plain requests served");
    // The trickled headers end well: each is finished and its request answered for its
    // client.
    for stream in &mut slow {
        stream
            .write_all(&HEADER[sent..])
            .and_then(|()| stream.write_all(GET))
            .unwrap();
    }
    for mut stream in slow {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        let answer = String::from_utf8_lossy(&out);
        assert_eq!(client(&answer), Some("203.0.113.9 127.0.0.1"), "{answer}");
    }
}
