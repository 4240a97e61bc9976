//! mod_reqtimeout diffed against apache2: a request line, a head or a body that stops
//! arriving gets the same answer (408, or a silent close for an unfinished request line) after
//! the same time, with RequestReadTimeout's short stages.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use compat_tests::http::{normalize_response, parse_family, Pair};
use compat_tests::require_apache2;

/// Sends `sent` and keeps the connection open; the answer and how long it took to end.
fn stall(port: u16, sent: &[u8]) -> (String, Duration) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    let began = Instant::now();
    stream.write_all(sent).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let took = began.elapsed();
    // Every response's Date, not only the first one's.
    let text = normalize_response(&out, &[]);
    let dated = regex::Regex::new("\r\nDate: [^\r]*").unwrap();
    (dated.replace_all(&text, "\r\nDate: -").into_owned(), took)
}

#[test]
fn slow_requests_get_apaches_answers_in_apaches_time() {
    require_apache2();
    let family = parse_family(
        "@@ config\nRequestReadTimeout header=1 body=1\nKeepAliveTimeout 5\n@@ file a.txt\nhello\n",
    );
    let pair = Pair::start(&family);
    let (their_port, our_port) = (pair.their_port, pair.our_port);
    let cases: &[(&str, &[u8])] = &[
        ("unfinished request line", b"GET /a.txt HT"),
        ("unfinished head", b"GET /a.txt HTTP/1.1\r\nHost: x\r\n"),
        (
            "unfinished body",
            b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
        ),
        (
            "second request unfinished on a kept connection",
            b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost:",
        ),
    ];
    for (name, sent) in cases {
        let (a, a_took) = stall(their_port, sent);
        let (b, b_took) = stall(our_port, sent);
        assert_eq!(a, b, "{name}: answers differ");
        for (who, took) in [("apache2", a_took), ("rhttpd", b_took)] {
            assert!(
                took >= Duration::from_millis(900) && took < Duration::from_millis(3500),
                "{name}: {who} took {took:?}"
            );
        }
    }
}
