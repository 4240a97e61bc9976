//! The proxy tests' backend application, tested on its own: each route answers as its module
//! documents, keep-alive and the counters work, and the clients read what it sends.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use compat_tests::backend::{
    big_body, body_digest, send_request, websocket_accept, Backend, Client, WsClient, BAD_STATUS,
    CHUNKS, CHUNK_PAUSE, DIE_SENT, GARBAGE, OP_BINARY, OP_PING, OP_PONG,
};

/// Everything the server sends until it closes (or 5 s pass).
fn raw_answer(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    out
}

#[test]
fn echo_shows_the_request_as_received() {
    let backend = Backend::start("alpha");
    let request = b"POST /echo/some/path?x=1 HTTP/1.1\r\nHost: b.test\r\nX-MiXeD-Case:  kept \r\n\
                    x-dup: 1\r\nX-Dup: 2\r\nContent-Length: 11\r\n\r\nhello world";
    let response = send_request(backend.port(), request);
    assert_eq!(response.status, 200);
    assert_eq!(response.header("X-Backend"), Some("alpha"));
    assert_eq!(response.header("Content-Type"), Some("text/plain"));
    assert_eq!(response.body, request.to_vec());
}

#[test]
fn echo_decodes_a_chunked_body_after_100_continue() {
    let backend = Backend::start("alpha");
    let head = "PUT /echo HTTP/1.1\r\nHost: b.test\r\nTransfer-Encoding: chunked\r\n\
                Expect: 100-continue\r\n\r\n";
    let mut stream = TcpStream::connect(("127.0.0.1", backend.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream
        .write_all(b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n")
        .unwrap();
    let mut rest = Vec::new();
    let mut chunk = [0u8; 4096];
    while !rest.ends_with(b"hello world") {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&rest));
        rest.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&rest);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.ends_with(&format!("\r\n\r\n{head}hello world")),
        "{text}"
    );
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let backend = Backend::start("alpha");
    let mut client = Client::connect(backend.port()).unwrap();
    for i in 0..3 {
        let request = format!("GET /echo/{i} HTTP/1.1\r\nHost: b\r\n\r\n");
        let response = client.request(request.as_bytes()).unwrap();
        assert_eq!(response.status, 200);
        assert!(response.text().starts_with(&format!("GET /echo/{i} ")));
    }
    assert!(!client.closed_by_peer());
    assert_eq!((backend.connections(), backend.requests()), (1, 3));
    let response = client
        .request(b"GET /echo HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(response.header("Connection"), Some("close"));
    assert!(client.closed_by_peer());
    assert_eq!(backend.heads().len(), 4);
    assert!(backend.heads()[3].contains("Connection: close\r\n"));
}

#[test]
fn http10_closes_unless_asked_to_keep_alive() {
    let backend = Backend::start("alpha");
    let mut client = Client::connect(backend.port()).unwrap();
    client.request(b"GET /echo HTTP/1.0\r\n\r\n").unwrap();
    assert!(client.closed_by_peer());
    let mut client = Client::connect(backend.port()).unwrap();
    client
        .request(b"GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    assert!(!client.closed_by_peer());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let backend = Backend::start("alpha");
    let mut client = Client::connect(backend.port()).unwrap();
    client
        .send_raw(b"GET /echo/1 HTTP/1.1\r\nHost: b\r\n\r\nHEAD /echo/2 HTTP/1.1\r\nHost: b\r\n\r\nGET /status?code=201 HTTP/1.1\r\nHost: b\r\n\r\n")
        .unwrap();
    let first = client.read_response(false).unwrap();
    assert!(first.text().starts_with("GET /echo/1 "));
    let head = client.read_response(true).unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("Content-Length"),
        Some(
            "HEAD /echo/2 HTTP/1.1\r\nHost: b\r\n\r\n"
                .len()
                .to_string()
                .as_str()
        )
    );
    let third = client.read_response(false).unwrap();
    assert_eq!(third.status_line, "HTTP/1.1 201 Created");
    assert_eq!(backend.connections(), 1);
}

#[test]
fn redirect_points_at_the_host_it_was_asked_for() {
    let backend = Backend::start("beta");
    let response = send_request(
        backend.port(),
        b"GET /redirect/x HTTP/1.1\r\nHost: front.test:8080\r\n\r\n",
    );
    assert_eq!(response.status, 302);
    assert_eq!(
        response.header("Location"),
        Some("http://front.test:8080/echo/landed")
    );
    assert_eq!(
        response.header("Set-Cookie"),
        Some("backend=beta; Domain=front.test; Path=/app")
    );
    assert_eq!(response.header("X-Backend"), Some("beta"));
}

#[test]
fn chunked_answer_comes_in_separate_paused_chunks() {
    let backend = Backend::start("alpha");
    let started = Instant::now();
    let raw = raw_answer(
        backend.port(),
        b"GET /chunked HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n",
    );
    assert!(started.elapsed() >= CHUNK_PAUSE * (CHUNKS.len() as u32 - 1));
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{text}"
    );
    let wire: String = CHUNKS
        .iter()
        .map(|c| format!("{:x}\r\n{c}\r\n", c.len()))
        .collect();
    assert!(
        text.ends_with(&format!("\r\n\r\n{wire}0\r\n\r\n")),
        "{text}"
    );

    let response = send_request(backend.port(), b"GET /chunked HTTP/1.1\r\nHost: b\r\n\r\n");
    assert!(response.complete);
    assert_eq!(response.text(), CHUNKS.concat());
}

#[test]
fn chunked_answer_to_http10_ends_with_the_connection() {
    let backend = Backend::start("alpha");
    let raw = raw_answer(backend.port(), b"GET /chunked HTTP/1.0\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.contains("Transfer-Encoding"), "{text}");
    assert!(
        text.ends_with(&format!("\r\n\r\n{}", CHUNKS.concat())),
        "{text}"
    );
}

#[test]
fn big_serves_n_bytes_of_the_pattern() {
    let backend = Backend::start("alpha");
    let response = send_request(
        backend.port(),
        b"GET /big?n=1048576 HTTP/1.1\r\nHost: b\r\n\r\n",
    );
    assert_eq!(response.header("Content-Length"), Some("1048576"));
    assert_eq!(response.body, big_body(1 << 20));
    assert_eq!(&big_body(40)[34..40], b"yz0123");
    let default = send_request(backend.port(), b"GET /big HTTP/1.1\r\nHost: b\r\n\r\n");
    assert_eq!(default.body.len(), 1024);
}

#[test]
fn slow_waits_before_answering() {
    let backend = Backend::start("alpha");
    let started = Instant::now();
    let response = send_request(
        backend.port(),
        b"GET /slow?ms=300 HTTP/1.1\r\nHost: b\r\n\r\n",
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(response.text(), "slept 300 ms\n");
}

#[test]
fn die_closes_in_the_middle_of_the_body() {
    let backend = Backend::start("alpha");
    let response = send_request(backend.port(), b"GET /die HTTP/1.1\r\nHost: b\r\n\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Length"), Some("1000"));
    assert!(!response.complete);
    assert_eq!(response.body, big_body(DIE_SENT));
}

#[test]
fn garbage_is_not_http() {
    let backend = Backend::start("alpha");
    let request = b"GET /garbage HTTP/1.1\r\nHost: b\r\n\r\n";
    assert_eq!(raw_answer(backend.port(), request), GARBAGE);
    let error = Client::connect(backend.port())
        .unwrap()
        .request(request)
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidData, "{error}");
}

#[test]
fn badstatus_and_close_misbehave_as_documented() {
    let backend = Backend::start("alpha");
    let raw = raw_answer(
        backend.port(),
        b"GET /badstatus HTTP/1.1\r\nHost: b\r\n\r\n",
    );
    assert_eq!(raw, BAD_STATUS);
    let raw = raw_answer(backend.port(), b"GET /close HTTP/1.1\r\nHost: b\r\n\r\n");
    assert!(raw.is_empty());
    assert_eq!(backend.requests(), 2);
}

#[test]
fn status_answers_the_code_asked_for() {
    let backend = Backend::start("alpha");
    let mut client = Client::connect(backend.port()).unwrap();
    let response = client
        .request(b"GET /status?code=503 HTTP/1.1\r\nHost: b\r\n\r\n")
        .unwrap();
    assert_eq!(response.status_line, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(response.text(), "status 503\n");
    let empty = client
        .request(b"GET /status?code=204 HTTP/1.1\r\nHost: b\r\n\r\n")
        .unwrap();
    assert_eq!(empty.status, 204);
    assert_eq!(empty.header("Content-Length"), None);
    let missing = client
        .request(b"GET /nothing HTTP/1.1\r\nHost: b\r\n\r\n")
        .unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(backend.connections(), 1);
}

#[test]
fn sha_digests_the_uploaded_body() {
    assert_eq!(body_digest(b""), "length=0 fnv1a64=cbf29ce484222325\n");
    assert_eq!(body_digest(b"a"), "length=1 fnv1a64=af63dc4c8601ec8c\n");
    let backend = Backend::start("alpha");
    let upload = big_body(1 << 20);
    let mut request = format!(
        "POST /sha HTTP/1.1\r\nHost: b\r\nContent-Length: {}\r\n\r\n",
        upload.len()
    )
    .into_bytes();
    request.extend_from_slice(&upload);
    let response = send_request(backend.port(), &request);
    assert_eq!(response.text(), body_digest(&upload));
    assert!(response.text().starts_with("length=1048576 "));
}

#[test]
fn websocket_echoes_frames() {
    assert_eq!(
        websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    let backend = Backend::start("gamma");
    let mut ws = WsClient::connect(backend.port(), "/ws", "b.test").unwrap();
    assert_eq!(ws.handshake.header("X-Backend"), Some("gamma"));
    assert_eq!(ws.echo("hello").unwrap(), "hello");
    let long = "x".repeat(300);
    assert_eq!(ws.echo(&long).unwrap(), long);
    ws.send(OP_BINARY, &[0, 1, 2, 255]).unwrap();
    assert_eq!(
        ws.read_frame().unwrap(),
        (OP_BINARY, vec![0, 1, 2, 255], false)
    );
    ws.send(OP_PING, b"p").unwrap();
    assert_eq!(ws.read_frame().unwrap(), (OP_PONG, b"p".to_vec(), false));
    ws.close().unwrap();
    assert_eq!(backend.requests(), 1);
}

#[test]
fn websocket_route_without_upgrade_is_426() {
    let backend = Backend::start("alpha");
    let response = send_request(backend.port(), b"GET /ws HTTP/1.1\r\nHost: b\r\n\r\n");
    assert_eq!(response.status, 426);
}

#[test]
fn dropping_stops_the_server_and_its_connections() {
    let backend = Backend::start("alpha");
    let port = backend.port();
    let mut client = Client::connect(port).unwrap();
    client
        .request(b"GET /echo HTTP/1.1\r\nHost: b\r\n\r\n")
        .unwrap();
    drop(backend);
    assert!(client.closed_by_peer());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

/// The backend behind Debian's apache2 (mod_proxy_http, `-X`): what the proxy tests will see
/// through a real proxy, so the backend and the clients are known to fit one.
#[test]
fn backend_serves_through_apache2s_mod_proxy() {
    use compat_tests::http::{free_port, make_site, parse_family, start};
    compat_tests::require_apache2();
    let backend = Backend::start("alpha");
    let family = parse_family(&format!(
        "@@ config\n\
         LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so\n\
         LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so\n\
         ProxyPass /b/ {url}/ upgrade=websocket\n\
         ProxyPassReverse /b/ {url}/\n\
         ProxyPassReverseCookieDomain 127.0.0.1 front.test\n\
         ProxyPassReverseCookiePath /app /b/app\n",
        url = backend.url()
    ));
    let port = free_port();
    let site = make_site(&family, port);
    let _apache2 = start(std::path::Path::new("/usr/sbin/apache2"), &site, port, &[])
        .unwrap_or_else(|e| panic!("{e}"));

    let mut client = Client::connect(port).unwrap();
    let echo = client
        .request(b"POST /b/echo/x HTTP/1.1\r\nHost: front.test\r\nContent-Length: 2\r\n\r\nhi")
        .unwrap();
    assert_eq!(echo.header("X-Backend"), Some("alpha"));
    let seen = echo.text();
    assert!(seen.starts_with("POST /echo/x HTTP/1.1\r\n"), "{seen}");
    assert!(
        seen.contains("\r\nX-Forwarded-Host: front.test\r\n"),
        "{seen}"
    );
    assert!(seen.ends_with("\r\n\r\nhi"), "{seen}");
    client
        .request(b"GET /b/echo/y HTTP/1.1\r\nHost: front.test\r\n\r\n")
        .unwrap();
    // apache2 -X keeps its connection to the backend for the second request.
    assert_eq!((backend.connections(), backend.requests()), (1, 2));

    // Without ProxyPreserveHost the backend sees its own address as Host; ProxyPassReverse maps
    // the Location back and the cookie's domain and path are rewritten.
    let redirect = client
        .request(b"GET /b/redirect HTTP/1.1\r\nHost: front.test\r\n\r\n")
        .unwrap();
    assert_eq!(
        redirect.header("Location"),
        Some("http://front.test/b/echo/landed")
    );
    assert_eq!(
        redirect.header("Set-Cookie"),
        Some("backend=alpha; Domain=front.test; Path=/b/app")
    );

    let chunked = client
        .request(b"GET /b/chunked HTTP/1.1\r\nHost: front.test\r\n\r\n")
        .unwrap();
    assert_eq!(chunked.text(), CHUNKS.concat());
    let big = client
        .request(b"GET /b/big?n=1048576 HTTP/1.1\r\nHost: front.test\r\n\r\n")
        .unwrap();
    assert_eq!(big.body, big_body(1 << 20));
    // A 1 MiB chunked upload arrives whole (Apache passes it on chunked or spooled).
    let upload = big_body(1 << 20);
    let mut request =
        b"POST /b/sha HTTP/1.1\r\nHost: front.test\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in upload.chunks(100_000) {
        request.extend(format!("{:x}\r\n", piece.len()).bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(
        client.request(&request).unwrap().text(),
        body_digest(&upload)
    );
    let died = send_request(port, b"GET /b/die HTTP/1.1\r\nHost: front.test\r\n\r\n");
    assert!(!died.complete);
    let garbage = send_request(port, b"GET /b/garbage HTTP/1.1\r\nHost: front.test\r\n\r\n");
    // Not HTTP: Apache takes it for an HTTP/0.9 answer and relays the bytes under 200, all but
    // the line end of the first line, which it read as a status line.
    let first_line = GARBAGE.iter().position(|&b| b == b'\n').unwrap() - 1;
    let relayed = [&GARBAGE[..first_line], &GARBAGE[first_line + 2..]].concat();
    assert_eq!((garbage.status, garbage.body), (200, relayed));
    let corrupt = send_request(
        port,
        b"GET /b/badstatus HTTP/1.1\r\nHost: front.test\r\n\r\n",
    );
    assert_eq!(corrupt.status, 502);
    let closed = send_request(port, b"GET /b/close HTTP/1.1\r\nHost: front.test\r\n\r\n");
    assert_eq!(closed.status, 502);

    let mut ws = WsClient::connect(port, "/b/ws", "front.test").unwrap();
    assert_eq!(ws.echo("through the proxy").unwrap(), "through the proxy");
    ws.close().unwrap();
}
