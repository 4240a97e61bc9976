//! The proxy tests' backend application, tested on its own: each route answers as its module
//! documents, keep-alive and the counters work, and the clients read what it sends.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use compat_tests::backend::{
    big_body, body_digest, send_request, websocket_accept, Backend, Client, WsClient, CHUNKS,
    CHUNK_PAUSE, DIE_SENT, GARBAGE, OP_BINARY, OP_PING, OP_PONG,
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
