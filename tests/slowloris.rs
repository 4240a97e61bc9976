//! Slowloris against Debian's default event MPM settings and mod_reqtimeout: hundreds of
//! connections dribbling a head one byte at a time must not keep other clients from being
//! served.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{config_head, free_port, Server};

/// Debian's mpm_event.conf and reqtimeout.conf.
const DEBIAN_EVENT: &str = "<IfModule mpm_event_module>\n\
    StartServers 2\n    MinSpareThreads 25\n    MaxSpareThreads 75\n    ThreadLimit 64\n\
    ThreadsPerChild 25\n    MaxRequestWorkers 150\n    MaxConnectionsPerChild 0\n\
    </IfModule>\n\
    LoadModule reqtimeout_module modules/mod_reqtimeout.so\n\
    RequestReadTimeout header=20-40,MinRate=500 body=20,MinRate=500\n";

const SLOW_CLIENTS: usize = 400;

fn get(addr: SocketAddr) -> Result<Duration, String> {
    let began = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    stream
        .write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    stream
        .read_to_end(&mut out)
        .map_err(|e| format!("read: {e}"))?;
    if !out.starts_with(b"HTTP/1.1 200 ") || !out.ends_with(b"served\n") {
        return Err(format!("answer: {}", String::from_utf8_lossy(&out)));
    }
    Ok(began.elapsed())
}

#[test]
fn slow_heads_do_not_starve_other_clients() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "served\n").unwrap();
    let port = free_port("127.0.0.1");
    let conf = config_head(root.path())
        + &format!(
            "Listen 127.0.0.1:{port}\nDocumentRoot {}\n{DEBIAN_EVENT}",
            root.path().display()
        );
    let _server = Server::start_with(root.path(), &conf, &["-D", "FOREGROUND"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(common::eventually(Duration::from_secs(10), || get(addr).is_ok()));

    // Each slow client opens with a request line, then sends one header byte a second.
    let mut slow = Vec::new();
    for _ in 0..SLOW_CLIENTS {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(b"GET /a.txt HTTP/1.1\r\n").unwrap();
        stream.set_nonblocking(true).unwrap();
        slow.push(stream);
    }
    let began = Instant::now();
    let mut next_drip = began;
    let mut worst = Duration::ZERO;
    let mut served = 0;
    while began.elapsed() < Duration::from_secs(6) {
        if Instant::now() >= next_drip {
            for stream in &mut slow {
                let _ = stream.write_all(b"X");
            }
            next_drip += Duration::from_secs(1);
        }
        match get(addr) {
            Ok(took) => {
                worst = worst.max(took);
                served += 1;
            }
            Err(why) => panic!("a normal client failed after {:?}: {why}", began.elapsed()),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served >= 30, "only {served} requests served");
    assert!(
        worst < Duration::from_secs(1),
        "slowest normal request took {worst:?}"
    );
    // The slow clients were held, not refused or cut off: their connections are still open.
    let mut open = 0;
    for stream in &mut slow {
        let mut byte = [0u8; 1];
        if matches!(stream.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            open += 1;
        }
    }
    assert_eq!(open, SLOW_CLIENTS, "slow connections closed early");
}
