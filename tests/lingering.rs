//! Lingering close: a response sent while the client is still sending its body (an expectation
//! refused before the body is read) reaches the client whole, instead of being lost to a
//! connection reset.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{config_head, free_port, Server};

#[test]
fn a_refused_expectation_still_gets_its_417() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    let config = config_head(root.path())
        + &format!(
            "Listen 127.0.0.1:{port}\nDocumentRoot {}\n",
            root.path().display()
        );
    std::fs::write(root.path().join("a.txt"), "x\n").unwrap();
    let _server = Server::start(root.path(), &config);
    // Wait until it answers.
    common::exchange(
        format!("127.0.0.1:{port}").parse().unwrap(),
        b"GET /a.txt HTTP/1.0\r\n\r\n",
    );
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(
            b"POST /a.txt HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\nContent-Length: 400000\r\n\r\n",
        )
        .unwrap();
    // Keep sending the body after the server has answered and closed its side.
    let chunk = vec![b'b'; 16 * 1024];
    for _ in 0..24 {
        if stream.write_all(&chunk).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    assert!(
        read.is_ok(),
        "the connection was reset: {read:?} after {text:?}"
    );
    assert!(
        text.starts_with("HTTP/1.1 417 Expectation Failed\r\n"),
        "{text}"
    );
}
