//! mod_ext_filter over bodies too large to hold and programs that stop reading: a body far
//! larger than a pipe goes through `cat` whole (no deadlock, its output streamed once past
//! what is held), a small one comes back with a length, and a program that exits before
//! taking its input leaves the body to go out as it was, as Apache sends it.

mod common;

use std::net::SocketAddr;

use common::{config_head, exchange, free_port, Server};

/// The head and body of a raw response (the body de-chunked when chunked).
fn split(raw: &[u8]) -> (String, Vec<u8>) {
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&raw[..at]).into_owned();
    let mut body = raw[at..].to_vec();
    if head.contains("Transfer-Encoding: chunked") {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = out;
    }
    (head, body)
}

#[test]
fn large_bodies_stream_through_the_program_and_a_refused_one_goes_out_as_it_was() {
    let root = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| b"abcdefghij\n"[(i % 11) as usize])
        .collect();
    for dir in ["cat", "head"] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
        std::fs::write(root.path().join(dir).join("big.txt"), &big).unwrap();
    }
    std::fs::write(root.path().join("cat/small.txt"), b"small\n").unwrap();
    let port = free_port("127.0.0.1");
    let _server = Server::start(
        root.path(),
        &format!(
            "{head}\
             LoadModule ext_filter_module modules/mod_ext_filter.so\n\
             LoadModule mime_module modules/mod_mime.so\n\
             TypesConfig /etc/mime.types\n\
             Listen 127.0.0.1:{port}\n\
             DocumentRoot {root}\n\
             <Directory {root}>\n    Require all granted\n</Directory>\n\
             ExtFilterDefine cat cmd=/bin/cat\n\
             ExtFilterDefine head cmd=\"/bin/sh -c 'exec head -c 5 >/dev/null'\"\n\
             <Directory {root}/cat>\n    SetOutputFilter cat\n</Directory>\n\
             <Directory {root}/head>\n    SetOutputFilter head\n</Directory>\n",
            head = config_head(root.path()),
            root = root.path().display()
        ),
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let get = |path: &str| {
        exchange(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    };

    let (head, body) = split(&get("/cat/big.txt"));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Transfer-Encoding: chunked\r\n"), "{head}");
    assert!(body == big, "the body through cat differs");

    let (head, body) = split(&get("/cat/small.txt"));
    assert!(head.contains("Content-Length: 6\r\n"), "{head}");
    assert_eq!(body, b"small\n");

    let (head, body) = split(&get("/head/big.txt"));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Length: 3000000\r\n"), "{head}");
    assert!(body == big, "the refused body did not go out as it was");
}
