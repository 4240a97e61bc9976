//! KeepAliveTimeout per virtual host, diffed against apache2's event MPM: a connection kept
//! alive after a request waits as long as the request's host says when that host sets the
//! timeout itself, else as long as the address's default host says.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use compat_tests::http::{parse_family, Pair};
use compat_tests::require_apache2;

/// One kept-alive request for `host`; how long the server then kept the idle connection.
fn idle_kept(port: u16, host: &str) -> Duration {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("GET /a.txt HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    // The answer ends with the file's text.
    while !got.ends_with(b"hello\n") {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed before answering {host}");
        got.extend_from_slice(&chunk[..n]);
    }
    let answered = Instant::now();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    answered.elapsed()
}

#[test]
fn keep_alive_timeout_follows_the_virtual_host() {
    require_apache2();
    let family = parse_family(
        "@@ config\nKeepAliveTimeout 1\n\
         <VirtualHost *:@PORT@>\n    ServerName first.test\n    KeepAliveTimeout 3\n</VirtualHost>\n\
         <VirtualHost *:@PORT@>\n    ServerName short.test\n    KeepAliveTimeout 1\n</VirtualHost>\n\
         <VirtualHost *:@PORT@>\n    ServerName plain.test\n</VirtualHost>\n\
         @@ file a.txt\nhello\n",
    );
    let pair = Pair::start(&family);
    // (host, the shortest and longest wait allowed): its own 1 s or 3 s; plain.test sets none,
    // so the address's default host (first.test) decides, not the main server's 1 s.
    let cases = [
        ("short.test", 0.5, 2.2),
        ("first.test", 2.5, 4.8),
        ("plain.test", 2.5, 4.8),
    ];
    let waits: Vec<_> = cases
        .iter()
        .flat_map(|&(host, low, high)| {
            [("apache2", pair.their_port), ("rhttpd", pair.our_port)].map(|(server, port)| {
                (
                    server,
                    host,
                    low,
                    high,
                    std::thread::spawn(move || idle_kept(port, host)),
                )
            })
        })
        .collect();
    let mut wrong = Vec::new();
    for (server, host, low, high, wait) in waits {
        let took = wait.join().unwrap().as_secs_f64();
        if !(low..=high).contains(&took) {
            wrong.push(format!(
                "{server} kept {host} for {took:.2} s, not {low}-{high} s"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
