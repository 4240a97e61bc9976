//! TLS under the three MPMs, as a client sees it: every MPM answers over TLS; a session ticket
//! one child issued resumes on any other (the ticket keys are the parent's); a graceful restart
//! (what certbot's renewal hook runs) puts renewed certificate files in use; under the event
//! MPM idle TLS keep-alive connections hold no worker, so more of them than there are workers
//! leave the server answering.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{answering_backend, config_head, eventually, free_port, signal, Server};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

/// A self-signed certificate for `name` at `dir/{file}.crt` and `.key`.
fn certificate(dir: &Path, file: &str, name: &str) {
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
        ])
        .arg(format!("/CN={name}"))
        .arg("-keyout")
        .arg(dir.join(format!("{file}.key")))
        .arg("-out")
        .arg(dir.join(format!("{file}.crt")))
        .output()
        .expect("Debian's openssl command");
    assert!(status.status.success());
}

#[derive(Debug)]
struct AnyServer;

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn client() -> Arc<ClientConfig> {
    Arc::new(
        ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer))
            .with_no_client_auth(),
    )
}

/// What one request over TLS gave: the server certificate's DER, whether the session was
/// resumed, and the response.
struct Fetched {
    certificate: Vec<u8>,
    resumed: bool,
    response: String,
}

/// A TLS connection to `addr` for `localhost`: the handshake done, `requests` sent one after
/// another on it, their answers read.
fn fetch(addr: SocketAddr, config: &Arc<ClientConfig>, request: &[u8]) -> Option<Fetched> {
    let mut sock = TcpStream::connect(addr).ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let name = ServerName::try_from("localhost").ok()?;
    let mut conn = ClientConnection::new(config.clone(), name).ok()?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).ok()?;
    }
    let certificate = conn.peer_certificates()?.first()?.to_vec();
    let resumed = conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(request).ok()?;
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response);
    Some(Fetched {
        certificate,
        resumed,
        response: String::from_utf8_lossy(&response).into_owned(),
    })
}

const GET: &[u8] = b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// The TLS site (`site`) served by `mpm` with `extra` in the foreground, once it answers: the
/// server (stopped when dropped) and its address.
fn serve_site(dir: &Path, mpm: &str, extra: &str) -> (Server, SocketAddr) {
    let port = free_port("127.0.0.1");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = Server::start_with(dir, &site(dir, port, mpm, extra), &["-D", "FOREGROUND"]);
    let config = client();
    assert!(
        eventually(Duration::from_secs(10), || fetch(addr, &config, GET)
            .is_some()),
        "{mpm}: no TLS answer"
    );
    (server, addr)
}

fn site(root: &Path, port: u16, mpm: &str, extra: &str) -> String {
    std::fs::create_dir_all(root.join("htdocs")).unwrap();
    std::fs::write(root.join("htdocs/a.txt"), "served\n").unwrap();
    std::os::unix::fs::symlink("/usr/lib/apache2/modules", root.join("modules")).ok();
    certificate(root, "server", "localhost");
    let head = config_head(root).replace("mod_mpm_event", &format!("mod_mpm_{mpm}"));
    let head = head.replace("mpm_event_module", &format!("mpm_{mpm}_module"));
    format!(
        "{head}LoadModule socache_shmcb_module modules/mod_socache_shmcb.so\n\
         LoadModule ssl_module modules/mod_ssl.so\n\
         Listen 127.0.0.1:{port}\n\
         DocumentRoot {root}/htdocs\n\
         <Directory {root}/htdocs>\n  Require all granted\n</Directory>\n\
         SSLSessionCache shmcb:logs/scache(512000)\n\
         SSLEngine on\n\
         SSLCertificateFile {root}/server.crt\n\
         SSLCertificateKeyFile {root}/server.key\n\
         {extra}",
        root = root.display()
    )
}

#[test]
fn every_mpm_serves_tls_and_resumes_sessions_across_children() {
    // With tickets (the default), and with Debian's `SSLSessionTickets off`, where the
    // sessions live in mod_socache_shmcb's cache, shared by the children.
    for (mpm, tickets) in [
        ("event", "on"),
        ("worker", "on"),
        ("prefork", "on"),
        ("event", "off"),
        ("prefork", "off"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        // Several children, so that connections land on different ones.
        let sizing = match mpm {
            "prefork" => {
                "StartServers 3\nMinSpareServers 3\nMaxSpareServers 5\nMaxRequestWorkers 8\n"
            }
            _ => {
                "StartServers 3\nServerLimit 4\nThreadsPerChild 2\nMinSpareThreads 2\n\
                  MaxSpareThreads 8\nMaxRequestWorkers 8\n"
            }
        };
        let sizing = format!("{sizing}SSLSessionTickets {tickets}\n");
        let (_server, addr) = serve_site(dir.path(), mpm, &sizing);
        let config = client();
        let first = fetch(addr, &config, GET).unwrap();
        assert!(
            first.response.starts_with("HTTP/1.1 200 OK\r\n"),
            "{mpm}: {}",
            first.response
        );
        assert!(first.response.ends_with("served\n"), "{mpm}");
        // Tickets gathered (two per connection), then six connections held open at once, so that each busy child leaves the next one to
        // another: every one resumes the first connection's session, whichever child it meets.
        for _ in 0..6 {
            assert!(
                fetch(addr, &config, GET).is_some_and(|f| f.resumed),
                "{mpm}: resumed"
            );
        }
        let mut held = Vec::new();
        for _ in 0..6 {
            let mut sock = TcpStream::connect(addr).unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            let mut conn = ClientConnection::new(config.clone(), name).unwrap();
            while conn.is_handshaking() {
                conn.complete_io(&mut sock).unwrap();
            }
            let resumed = conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            held.push((conn, sock, resumed));
        }
        let mut resumed = 0;
        for (conn, sock, was_resumed) in &mut held {
            let mut tls = rustls::Stream::new(conn, sock);
            tls.write_all(GET).unwrap();
            let mut response = Vec::new();
            let _ = tls.read_to_end(&mut response);
            if *was_resumed && response.ends_with(b"served\n") {
                resumed += 1;
            }
        }
        assert_eq!(resumed, 6, "{mpm}, tickets {tickets}: sessions resumed");
    }
}

#[test]
fn a_graceful_restart_puts_renewed_certificates_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = Server::start_with(
        dir.path(),
        &site(dir.path(), port, "event", ""),
        &["-D", "FOREGROUND"],
    );
    let config = client();
    assert!(eventually(Duration::from_secs(10), || fetch(
        addr, &config, GET
    )
    .is_some()));
    let before = fetch(addr, &config, GET).unwrap().certificate;
    // The renewal: new files in place, then `apachectl graceful`.
    certificate(dir.path(), "server", "localhost");
    let renewed = std::fs::read(dir.path().join("server.crt")).unwrap();
    signal(server.pid(), "USR1");
    let fresh = client();
    assert!(
        eventually(Duration::from_secs(10), || {
            fetch(addr, &fresh, GET).is_some_and(|f| f.certificate != before)
        }),
        "the renewed certificate is not in use"
    );
    let after = fetch(addr, &fresh, GET).unwrap();
    let pem = String::from_utf8_lossy(&renewed);
    assert!(after.response.ends_with("served\n"));
    assert!(!pem.is_empty() && after.certificate != before);
}

#[test]
fn idle_tls_connections_hold_no_event_worker() {
    let dir = tempfile::tempdir().unwrap();
    let sizing = "StartServers 1\nServerLimit 1\nThreadsPerChild 4\nMinSpareThreads 1\n\
                  MaxSpareThreads 4\nMaxRequestWorkers 4\nAsyncRequestWorkerFactor 20\n\
                  KeepAliveTimeout 30\n";
    let (_server, addr) = serve_site(dir.path(), "event", sizing);
    let config = client();
    // Twelve connections, each answered once and kept alive: three times the workers.
    let mut idle = Vec::new();
    for _ in 0..12 {
        let mut sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut conn =
            ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap())
                .unwrap();
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        tls.write_all(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        while !got.ends_with(b"served\n") {
            let n = tls.read(&mut chunk).unwrap();
            assert!(n > 0, "closed early");
            got.extend_from_slice(&chunk[..n]);
        }
        idle.push((conn, sock));
    }
    let fresh = fetch(addr, &config, GET).expect("an answer with every worker's worth idle");
    assert!(fresh.response.ends_with("served\n"));
    // The idle ones are still there, and answer.
    let (conn, sock) = &mut idle[0];
    let mut tls = rustls::Stream::new(conn, sock);
    tls.write_all(GET).unwrap();
    let mut again = Vec::new();
    let _ = tls.read_to_end(&mut again);
    assert!(String::from_utf8_lossy(&again).ends_with("served\n"));
}

/// Event: a TLS connection whose client has not sent its ClientHello yet (`AcceptFilter`
/// `none` for its listener's protocol, or one a SYN cookie completed) waits in epoll, not on a thread in the handshake:
/// more such connections than the child has threads leave a later client answered at once,
/// and a silent one that speaks up later is served.
#[test]
fn event_parks_a_tls_connection_until_its_hello_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let sizing = "StartServers 1\nServerLimit 1\nThreadsPerChild 2\nThreadLimit 2\n\
                  MinSpareThreads 1\nMaxSpareThreads 4\nMaxRequestWorkers 2\n\
                  AsyncRequestWorkerFactor 50\nAcceptFilter http none\nTimeout 30\n";
    let (_server, addr) = serve_site(dir.path(), "event", sizing);
    let config = client();
    let mut silent: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let fresh = fetch(addr, &config, GET).expect("an answer beside four silent clients");
    assert!(fresh.response.ends_with("served\n"));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    // One of them shakes hands now, on the connection that waited.
    let sock = &mut silent[0];
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut conn =
        ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap()).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, sock);
    tls.write_all(GET).unwrap();
    let mut late = Vec::new();
    let _ = tls.read_to_end(&mut late);
    assert!(String::from_utf8_lossy(&late).ends_with("served\n"));
}

#[test]
fn server_status_reports_the_tls_session_cache() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "LoadModule status_module modules/mod_status.so\n\
                 SSLSessionTickets off\n\
                 <Location /server-status>\n  SetHandler server-status\n</Location>\n";
    let (_server, addr) = serve_site(dir.path(), "event", extra);
    let config = client();
    for _ in 0..3 {
        assert!(fetch(addr, &config, GET).is_some());
    }
    let status =
        b"GET /server-status?auto HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let page = fetch(addr, &config, status).unwrap().response;
    let body = page.split("\r\n\r\n").nth(1).unwrap_or("");
    // mod_ssl's keys, in the order Apache gives them, after the scoreboard (its status hook
    // runs after it).
    let scoreboard = body.find("Scoreboard:").unwrap_or(body.len());
    let cache = body.find("TLSSessionCacheStatus").unwrap_or(0);
    assert!(cache > scoreboard, "{body}");
    let keys: Vec<&str> = body
        .lines()
        .skip_while(|l| *l != "TLSSessionCacheStatus")
        .map(|l| l.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        keys,
        [
            "TLSSessionCacheStatus",
            "CacheType",
            "CacheSharedMemory",
            "CacheCurrentEntries",
            "CacheSubcaches",
            "CacheIndexesPerSubcaches",
            "CacheTimeLeftOldestAvg",
            "CacheTimeLeftOldestMin",
            "CacheTimeLeftOldestMax",
            "CacheIndexUsage",
            "CacheUsage",
            "CacheStoreCount",
            "CacheReplaceCount",
            "CacheExpireCount",
            "CacheDiscardCount",
            "CacheRetrieveHitCount",
            "CacheRetrieveMissCount",
            "CacheRemoveHitCount",
            "CacheRemoveMissCount",
        ],
        "{body}"
    );
    assert!(
        body.contains("CacheType: SHMCB\nCacheSharedMemory: 512000\n"),
        "{body}"
    );
    let stored: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix("CacheStoreCount: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(stored >= 4, "sessions stored: {body}");
    let html = fetch(
        addr,
        &config,
        b"GET /server-status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .unwrap()
    .response;
    assert!(html.contains("SSL/TLS Session Cache Status:"), "{html}");
    assert!(html.contains("cache type: <b>SHMCB</b>, shared memory: <b>512000</b> bytes"));
}

/// Whether the server closes a connection that starts a TLS record and then says nothing,
/// within `limit` (one byte, so that the listener's TCP_DEFER_ACCEPT hands it over).
fn closes_silent_client_within(addr: SocketAddr, limit: Duration) -> bool {
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.write_all(&[0x16]).unwrap();
    sock.set_read_timeout(Some(limit)).unwrap();
    let started = std::time::Instant::now();
    let mut byte = [0u8; 1];
    matches!(sock.read(&mut byte), Ok(0) | Err(_)) && started.elapsed() < limit
}

#[test]
fn request_read_timeout_bounds_the_tls_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "LoadModule reqtimeout_module modules/mod_reqtimeout.so\n\
                 RequestReadTimeout handshake=1 header=20-40,MinRate=500\n";
    let (_server, addr) = serve_site(dir.path(), "event", extra);
    let config = client();
    // A client that connects and says nothing is let go after the handshake stage's second
    // (Timeout would keep it for a minute); a client that shakes hands is served.
    assert!(closes_silent_client_within(addr, Duration::from_secs(4)));
    assert!(fetch(addr, &config, GET).is_some_and(|f| f.response.ends_with("served\n")));
}

#[test]
fn a_tls_connection_parked_before_its_hello_times_out_at_the_handshake_stage() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "LoadModule reqtimeout_module modules/mod_reqtimeout.so\n\
                 RequestReadTimeout handshake=1\nAcceptFilter http none\n\
                 ErrorLog logs/tls_error.log\nLogLevel reqtimeout:info\n";
    let (_server, addr) = serve_site(dir.path(), "event", extra);
    // Nothing sent at all: the connection waits parked, and its stage still ends it.
    let mut sock = TcpStream::connect(addr).unwrap();
    let limit = Duration::from_secs(4);
    sock.set_read_timeout(Some(limit)).unwrap();
    let started = std::time::Instant::now();
    let mut byte = [0u8; 1];
    assert!(matches!(sock.read(&mut byte), Ok(0) | Err(_)));
    assert!(
        started.elapsed() < limit,
        "held for {:?}",
        started.elapsed()
    );
    let log = dir.path().join("logs/tls_error.log");
    let noted = eventually(Duration::from_secs(5), || {
        std::fs::read_to_string(&log).is_ok_and(|text| {
            text.lines().any(|line| {
                line.contains("[reqtimeout:info]")
                    && line.contains("AH01382: Request handshake read timeout")
            })
        })
    });
    assert!(
        noted,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn without_a_handshake_stage_a_silent_client_waits_for_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "LoadModule reqtimeout_module modules/mod_reqtimeout.so\nTimeout 8\n";
    let (_server, addr) = serve_site(dir.path(), "event", extra);
    assert!(!closes_silent_client_within(addr, Duration::from_secs(3)));
}

/// The TLS records of `request`, as the client would send them.
fn records(conn: &mut ClientConnection, request: &[u8]) -> Vec<u8> {
    conn.writer().write_all(request).unwrap();
    let mut wire = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut wire).unwrap();
    }
    wire
}

/// Reads `count` answers (each ending in the test file's "served") from a kept-alive TLS
/// connection.
fn answers(conn: &mut ClientConnection, sock: &mut TcpStream, count: usize) -> String {
    let mut tls = rustls::Stream::new(conn, sock);
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while got.windows(7).filter(|w| w == b"served\n").count() < count {
        let n = tls.read(&mut chunk).unwrap_or(0);
        assert!(
            n > 0,
            "closed early after {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Under event a parked TLS connection waits edge-triggered: a record that arrives in pieces
/// (the first wake-up finds it incomplete), two requests in one record, and a request after
/// a pause are each answered, three rounds on one connection.
#[test]
fn event_answers_tls_requests_however_their_records_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let sizing = "StartServers 1\nServerLimit 1\nThreadsPerChild 2\nMinSpareThreads 1\n\
                  MaxSpareThreads 2\nMaxRequestWorkers 2\nKeepAliveTimeout 30\n";
    let (_server, addr) = serve_site(dir.path(), "event", sizing);
    let config = client();
    let keep = b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut conn =
        ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap()).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).unwrap();
    }
    for round in 0..3 {
        // One record, sent in three pieces with pauses between.
        let wire = records(&mut conn, keep);
        let third = wire.len() / 3;
        for piece in [&wire[..3], &wire[3..third], &wire[third..]] {
            sock.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(150));
        }
        assert!(
            answers(&mut conn, &mut sock, 1).starts_with("HTTP/1.1 200 OK"),
            "round {round}"
        );
        // Two requests in one record: both answered.
        let wire = records(&mut conn, &[&keep[..], &keep[..]].concat());
        sock.write_all(&wire).unwrap();
        let both = answers(&mut conn, &mut sock, 2);
        assert_eq!(both.matches("HTTP/1.1 200 OK").count(), 2, "round {round}");
        // Idle a while, then the next.
        std::thread::sleep(Duration::from_millis(300));
        sock.write_all(&records(&mut conn, keep)).unwrap();
        assert!(answers(&mut conn, &mut sock, 1).starts_with("HTTP/1.1 200 OK"));
    }
}

/// Under event a proxied request on a TLS connection waits for its backend off its thread and
/// is finished on whichever thread the answer wakes: the connection's TLS state goes with it.
/// Three rounds on one kept-alive connection, each a proxied request (the backend slow enough
/// for the wait to park) then a file, on a child of two threads.
#[test]
fn event_proxies_over_a_tls_connection_waiting_off_the_thread() {
    let dir = tempfile::tempdir().unwrap();
    let backend = answering_backend("served\n", Duration::from_millis(200));
    let extra = format!(
        "StartServers 1\nServerLimit 1\nThreadsPerChild 2\nMaxRequestWorkers 2\n\
         LoadModule proxy_module modules/mod_proxy.so\n\
         LoadModule proxy_http_module modules/mod_proxy_http.so\n\
         ProxyPass /p/ http://{backend}/\n"
    );
    let (_server, addr) = serve_site(dir.path(), "event", &extra);
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(client(), name).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).unwrap();
    }
    let proxied: &[u8] = b"GET /p/x HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let file: &[u8] = b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";
    for round in 0..3 {
        for request in [proxied, file] {
            sock.write_all(&records(&mut conn, request)).unwrap();
            let answer = answers(&mut conn, &mut sock, 1);
            assert!(
                answer.starts_with("HTTP/1.1 200 OK\r\n"),
                "round {round}: {answer}"
            );
        }
    }
}
