//! Scaling beyond one machine, on loopback: one rhttpd (prefork, several children) balancing
//! over three rhttpd backends serving static files. Requests spread evenly; a backend that
//! stops costs no request (its member is put in error and the others answer); once it is back
//! and its retry time has passed it takes requests again; a member drained through the
//! balancer-manager gets no new requests while concurrent clients see no failure; a graceful
//! restart in the middle of requests loses none.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::Duration;

use common::{config_head, eventually, exchange, free_port, signal, Server};

/// A backend: rhttpd serving `who.txt`, which names it.
fn backend(root: &Path, name: &str, port: u16) -> Server {
    std::fs::create_dir_all(root.join("htdocs")).unwrap();
    std::fs::write(root.join("htdocs/who.txt"), format!("{name}\n")).unwrap();
    let config = format!(
        "{}Listen 127.0.0.1:{port}\nDocumentRoot {root}/htdocs\n<Directory {root}/htdocs>\nRequire all granted\n</Directory>\n",
        config_head(root),
        root = root.display()
    );
    let server = Server::start(root, &config);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    exchange(addr, b"GET /who.txt HTTP/1.0\r\n\r\n");
    server
}

/// Which backend answered, or the status line of a failure.
fn who(front: SocketAddr) -> String {
    let answer = exchange(
        front,
        b"GET /site/who.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&answer).into_owned();
    if !text.starts_with("HTTP/1.1 200 ") {
        return text.lines().next().unwrap_or("nothing").to_string();
    }
    text.rsplit("\r\n\r\n")
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// `n` requests from each of `clients` clients at once; every answer.
fn burst(front: SocketAddr, clients: usize, n: usize) -> Vec<String> {
    let handles: Vec<_> = (0..clients)
        .map(|_| thread::spawn(move || (0..n).map(|_| who(front)).collect::<Vec<_>>()))
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

fn count(answers: &[String], name: &str) -> usize {
    answers.iter().filter(|a| *a == name).count()
}

/// Posts a balancer-manager form with the balancer's nonce from the page.
fn manage(front: SocketAddr, fields: &str) {
    let page = String::from_utf8_lossy(&exchange(
        front,
        b"GET /bm HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    ))
    .into_owned();
    let marker = "?b=farm&amp;nonce=";
    let at = page.find(marker).expect("the farm on the manager's page") + marker.len();
    let nonce = &page[at..at + 36];
    let body = format!("b=farm&nonce={nonce}&{fields}");
    let request = format!(
        "POST /bm HTTP/1.1\r\nHost: localhost\r\nReferer: http://localhost/bm\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = exchange(front, request.as_bytes());
    assert!(answer.starts_with(b"HTTP/1.1 200 "));
}

#[test]
fn a_front_balances_three_backends_through_failure_recovery_and_draining() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port("127.0.0.1")).collect();
    let mut backends: Vec<Option<Server>> = (0..3)
        .map(|i| Some(backend(dirs[i].path(), &format!("b{i}"), ports[i])))
        .collect();
    let front_dir = dirs[3].path();
    let front_port = free_port("127.0.0.1");
    let members: String = ports
        .iter()
        .map(|p| format!("BalancerMember http://127.0.0.1:{p} retry=1\n"))
        .collect();
    let config = format!(
        "{}LoadModule proxy_module modules/mod_proxy.so\n\
         LoadModule proxy_http_module modules/mod_proxy_http.so\n\
         LoadModule proxy_balancer_module modules/mod_proxy_balancer.so\n\
         LoadModule slotmem_shm_module modules/mod_slotmem_shm.so\n\
         LoadModule lbmethod_byrequests_module modules/mod_lbmethod_byrequests.so\n\
         StartServers 4\nMinSpareServers 4\nMaxSpareServers 8\n\
         Listen 127.0.0.1:{front_port}\n\
         ProxyPass /site balancer://farm\n\
         <Proxy balancer://farm>\n{members}</Proxy>\n\
         <Location /bm>\nSetHandler balancer-manager\n</Location>\n",
        config_head(front_dir).replace("mpm_event", "mpm_prefork")
    );
    let front_server = Server::start_with(front_dir, &config, &["-D", "FOREGROUND"]);
    let front: SocketAddr = ([127, 0, 0, 1], front_port).into();

    // Evenly spread, whichever child answers.
    let answers = burst(front, 3, 10);
    for name in ["b0", "b1", "b2"] {
        assert_eq!(count(&answers, name), 10, "{answers:?}");
    }

    // b1 stops: no request fails, the other two answer.
    backends[1] = None;
    let answers = burst(front, 3, 10);
    assert_eq!(
        count(&answers, "b0") + count(&answers, "b2"),
        30,
        "{answers:?}"
    );

    // b1 is back: once its second of retry has passed it answers again.
    backends[1] = Some(backend(dirs[1].path(), "b1", ports[1]));
    thread::sleep(Duration::from_millis(1100));
    assert!(
        eventually(Duration::from_secs(5), || count(&burst(front, 1, 6), "b1")
            > 0),
        "b1 never came back"
    );
    let answers = burst(front, 3, 10);
    assert!(answers.iter().all(|a| a.starts_with('b')), "{answers:?}");

    // b2 drained through the balancer-manager: concurrent clients get every answer, none
    // from b2; undrained, it answers again.
    manage(
        front,
        &format!("w=http://127.0.0.1:{}&w_status_N=1", ports[2]),
    );
    let answers = burst(front, 4, 10);
    assert_eq!(count(&answers, "b2"), 0, "{answers:?}");
    assert_eq!(
        count(&answers, "b0") + count(&answers, "b1"),
        40,
        "{answers:?}"
    );
    manage(
        front,
        &format!("w=http://127.0.0.1:{}&w_status_N=0", ports[2]),
    );
    let answers = burst(front, 3, 10);
    assert!(count(&answers, "b2") > 0, "{answers:?}");
    assert!(answers.iter().all(|a| a.starts_with('b')), "{answers:?}");

    // A graceful restart while clients keep asking: every request is answered, and the
    // manager's changes are gone after it (b2 drained again takes requests), as in Apache.
    manage(
        front,
        &format!("w=http://127.0.0.1:{}&w_status_N=1", ports[2]),
    );
    let during = thread::spawn(move || burst(front, 2, 20));
    thread::sleep(Duration::from_millis(50));
    signal(front_server.pid(), "USR1");
    let answers = during.join().unwrap();
    assert!(answers.iter().all(|a| a.starts_with('b')), "{answers:?}");
    thread::sleep(Duration::from_millis(500));
    let answers = burst(front, 3, 10);
    for name in ["b0", "b1", "b2"] {
        assert!(count(&answers, name) > 0, "{answers:?}");
    }
    drop(backends);
}
