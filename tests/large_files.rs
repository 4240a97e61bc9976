//! Files too large to go out with their head in one write: the same bytes with EnableSendfile
//! On (sendfile(2)) and Off (copied through a buffer), whole and as a range.

mod common;

use std::net::SocketAddr;

use common::{config_head, exchange, free_port, Server};

#[test]
fn large_files_arrive_intact_with_and_without_sendfile() {
    let root = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for dir in ["on", "off"] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
        std::fs::write(root.path().join(dir).join("big.bin"), &content).unwrap();
    }
    let port = free_port("127.0.0.1");
    let _server = Server::start(
        root.path(),
        &format!(
            "{head}\
             Listen 127.0.0.1:{port}\n\
             DocumentRoot {root}\n\
             <Directory {root}/on>\n    EnableSendfile On\n</Directory>\n\
             <Directory {root}/off>\n    EnableSendfile Off\n</Directory>\n",
            head = config_head(root.path()),
            root = root.path().display()
        ),
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for dir in ["on", "off"] {
        let whole = exchange(
            addr,
            format!("GET /{dir}/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        let split = whole.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&whole[..split]);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("Content-Length: 3000000\r\n"), "{head}");
        assert!(whole[split..] == content[..], "{dir}: body differs");

        let ranged = exchange(
            addr,
            format!(
                "GET /{dir}/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000000-2999998\r\n\
                 Connection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        let split = ranged.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&ranged[..split]);
        assert!(
            head.starts_with("HTTP/1.1 206 Partial Content\r\n"),
            "{head}"
        );
        assert!(
            ranged[split..] == content[1_000_000..2_999_999],
            "{dir}: range differs"
        );
    }
}
