//! mpm_prefork as a process tree: StartServers children, a killed child replaced, idle children
//! trimmed to MaxSpareServers, concurrent connections each in their own child, and a stop that
//! leaves no process behind.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{alive, children_of, config_head, eventually, exchange, free_port, Server};

fn prefork_config(root: &std::path::Path, port: u16, sizing: &str) -> String {
    config_head(root).replace("mpm_event_module modules/mod_mpm_event.so", "mpm_prefork_module modules/mod_mpm_prefork.so")
        + &format!(
            "Listen 127.0.0.1:{port}\nDocumentRoot {}\n<IfModule mpm_prefork_module>\n{sizing}</IfModule>\n",
            root.display()
        )
}

#[test]
fn prefork_keeps_its_pool_and_stops_cleanly() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "from a child\n").unwrap();
    let port = free_port("127.0.0.1");
    let sizing = "    StartServers 3\n    MinSpareServers 3\n    MaxSpareServers 4\n    MaxRequestWorkers 8\n";
    let mut server = Server::start_with(
        root.path(),
        &prefork_config(root.path(), port, sizing),
        &["-D", "FOREGROUND"],
    );
    let parent = server.pid();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let response = exchange(addr, b"GET /a.txt HTTP/1.0\r\n\r\n");
    assert!(String::from_utf8_lossy(&response).ends_with("\r\n\r\nfrom a child\n"));
    assert!(
        eventually(Duration::from_secs(2), || children_of(parent).len() == 3),
        "StartServers 3 gave {:?}",
        children_of(parent)
    );

    // Two clients holding connections open keep two children busy; a third is still served.
    let mut held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for stream in &mut held {
        stream
            .write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 256];
        assert!(stream.read(&mut buf).unwrap() > 0);
    }
    let third = exchange(addr, b"GET /a.txt HTTP/1.0\r\n\r\n");
    assert!(String::from_utf8_lossy(&third).starts_with("HTTP/1.1 200 OK\r\n"));
    // Fewer than MinSpareServers idle: the pool grows past StartServers.
    assert!(
        eventually(Duration::from_secs(3), || children_of(parent).len() >= 4),
        "pool did not grow: {:?}",
        children_of(parent)
    );
    drop(held);

    // A child killed outright is replaced within two seconds.
    let victim = children_of(parent)[0];
    assert!(std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .unwrap()
        .success());
    assert!(eventually(Duration::from_secs(2), || {
        let now = children_of(parent);
        !now.contains(&victim) && now.len() >= 3
    }));

    // Idle children above MaxSpareServers are asked to leave, one per second.
    assert!(
        eventually(Duration::from_secs(5), || children_of(parent).len() <= 4),
        "idle children not trimmed: {:?}",
        children_of(parent)
    );

    let pool = children_of(parent);
    let status = server.stop_with(15);
    assert!(status.success(), "{status:?}");
    assert!(
        eventually(Duration::from_secs(1), || pool.iter().all(|&p| !alive(p))),
        "children left behind"
    );
}

/// A server short of idle children spawns them faster each second (doubling up to 32 a
/// second); a graceful restart keeps that rate, as Apache does (it only holds the doubling
/// off), so the new generation takes over the old one's load at once. Reset to one a
/// second, clients waited in the listen queue for the ten seconds the restart holds it so.
#[test]
fn a_graceful_restart_keeps_the_rate_children_are_spawned_at() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    let sizing = "    StartServers 1\n    MinSpareServers 10\n    MaxSpareServers 64\n    MaxRequestWorkers 64\n";
    let config = prefork_config(root.path(), port, sizing) + "Timeout 5\n";
    let mut server = Server::start_with(root.path(), &config, &["-D", "FOREGROUND"]);
    let parent = server.pid();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(eventually(Duration::from_secs(5), || TcpStream::connect(
        addr
    )
    .is_ok()));
    // Forty connections that send half a request hold forty children (until Timeout): the
    // server stays short of idle ones and spawns ever faster until it has them all.
    let held: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            stream
        })
        .collect();
    assert!(
        eventually(Duration::from_secs(12), || children_of(parent).len() >= 40),
        "the pool did not grow: {:?}",
        children_of(parent)
    );
    let old = children_of(parent);
    common::signal(parent, "USR1");
    // The old children's idle ones leave; the new generation fills their slots at the rate
    // reached (16 or 32 a second), not one a second.
    assert!(
        eventually(Duration::from_secs(3), || {
            children_of(parent)
                .iter()
                .filter(|pid| !old.contains(pid))
                .count()
                >= 8
        }),
        "the new generation started slowly: {} new children",
        children_of(parent)
            .iter()
            .filter(|pid| !old.contains(pid))
            .count()
    );
    drop(held);
    let status = server.stop_with(15);
    assert!(status.success(), "{status:?}");
}
