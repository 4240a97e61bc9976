//! mod_proxy and mod_proxy_http diffed against apache2: the same site served by both in front
//! of a backend each (the test backend of `compat_tests::backend`), every answer compared as
//! the client sees it and every request as the backend received it.

use compat_tests::backend::Backend;
use compat_tests::http::{parse_family, Pair};
use compat_tests::require_apache2;

/// Both servers on one site (`{url}` in the configuration names each one's own backend), the
/// backend's port masked in what the backend saw.
struct Proxied {
    pair: Pair,
    theirs: Backend,
    ours: Backend,
}

impl Proxied {
    fn start(config: &str) -> Proxied {
        Proxied::start_with(config, |url| url)
    }

    /// The same with each backend's URL made into what the configuration names (`ws://`).
    fn start_with(config: &str, url: impl Fn(String) -> String) -> Proxied {
        let theirs = Backend::start("alpha");
        let ours = Backend::start("alpha");
        let their_family = parse_family(&format!(
            "@@ config\n{}",
            config.replace("{url}", &url(theirs.url()))
        ));
        let our_family = parse_family(&format!(
            "@@ config\n{}",
            config.replace("{url}", &url(ours.url()))
        ));
        let pair = Pair::start_each(&their_family, &our_family);
        Proxied { pair, theirs, ours }
    }

    /// (apache2's answer, rhttpd's), normalized, with each backend's port masked.
    fn exchange(&self, request: &str) -> (String, String) {
        let (a, b) = self
            .pair
            .normalized_exchange(request.as_bytes(), &["Keep-Alive".to_string()]);
        let a = a.replace(&self.theirs.port().to_string(), "<bport>");
        let b = b.replace(&self.ours.port().to_string(), "<bport>");
        (a, b)
    }
}

fn check(proxied: &Proxied, cases: &[&str]) {
    let mut failures = Vec::new();
    for case in cases {
        let (theirs, ours) = proxied.exchange(case);
        if theirs != ours {
            failures.push(format!(
                "--- request\n{case}\n--- apache2\n{theirs}\n--- rhttpd\n{ours}\n"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn reverse_proxy_answers_as_apache_does() {
    require_apache2();
    let proxied = Proxied::start(
        "ProxyPass /b/ {url}/\n\
         ProxyPassReverse /b/ {url}/\n\
         ProxyPassReverseCookieDomain 127.0.0.1 front.test\n\
         ProxyPassReverseCookiePath /app /b/app\n\
         ProxyPass /preserved/ {url}/\n\
         <Location /preserved/>\nProxyPreserveHost On\n</Location>\n\
         ProxyPass /excluded !\n\
         ProxySourceAddress 127.0.0.1\n",
    );
    check(
        &proxied,
        &[
            "GET /b/echo/x HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /b/echo/a%20b?q=1&r=%2F HTTP/1.1\r\nHost: front.test\r\nX-Thing: one\r\nX-Thing: two\r\nConnection: close\r\n\r\n",
            "POST /b/echo HTTP/1.1\r\nHost: front.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            "GET /b/redirect HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /preserved/echo HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /b/chunked HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /b/status?code=404 HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "HEAD /b/big?n=100 HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /b/badstatus HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /b/close HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /b/echo HTTP/1.0\r\n\r\n",
        ],
    );
}

#[test]
fn bodies_pass_whole_both_ways() {
    require_apache2();
    let proxied = Proxied::start("ProxyPass /b/ {url}/\n");
    let upload = compat_tests::backend::big_body(1 << 20);
    let mut chunked =
        b"POST /b/sha HTTP/1.1\r\nHost: front.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for piece in upload.chunks(100_000) {
        chunked.extend(format!("{:x}\r\n", piece.len()).bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let mut sized = format!(
        "PUT /b/sha HTTP/1.1\r\nHost: front.test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        upload.len()
    )
    .into_bytes();
    sized.extend_from_slice(&upload);
    for request in [chunked, sized] {
        let (theirs, ours) = proxied.pair.exchange(&request);
        let digest = compat_tests::backend::body_digest(&upload);
        assert!(String::from_utf8_lossy(&theirs).ends_with(&digest));
        assert!(
            String::from_utf8_lossy(&ours).ends_with(&digest),
            "{}",
            String::from_utf8_lossy(&ours)
        );
    }
    check(
        &proxied,
        &[
            "GET /b/big?n=1048576 HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /b/chunked HTTP/1.0\r\nHost: front.test\r\n\r\n",
        ],
    );
}

#[test]
fn connections_to_the_backend_are_kept_alive() {
    require_apache2();
    let proxied = Proxied::start("ProxyPass /b/ {url}/\n");
    for _ in 0..3 {
        proxied.exchange("GET /b/echo HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n");
    }
    assert_eq!(
        (proxied.theirs.connections(), proxied.theirs.requests()),
        (proxied.ours.connections(), proxied.ours.requests())
    );
    assert_eq!(proxied.ours.connections(), 1);
}

/// A kept connection the backend closed while it sat idle: the next request goes on a new
/// one, whether it is checked first (Apache checks every time; rhttpd a request with a body)
/// or sent again after the closed connection gave nothing (rhttpd's GET and HEAD).
#[test]
fn a_kept_connection_the_backend_closed_is_replaced_as_apache_replaces_it() {
    require_apache2();
    let proxied = Proxied::start("ProxyPass /b/ {url}/\n");
    let cases = [
        "GET /b/echo/again HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
        "HEAD /b/echo/again HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
        "POST /b/echo/again HTTP/1.1\r\nHost: front.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    ];
    let mut failures = Vec::new();
    for case in cases {
        proxied.exchange(
            "GET /b/drop?ms=50 HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
        let (theirs, ours) = proxied.exchange(case);
        assert!(ours.starts_with("HTTP/1.1 200 "), "{ours}");
        if theirs != ours {
            failures.push(format!(
                "--- {case}\n--- apache2\n{theirs}\n--- rhttpd\n{ours}\n"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Each server opened a connection for each request after a drop: none was lost to a
    // closed one.
    assert_eq!(proxied.ours.connections(), 4);
    assert_eq!(
        (proxied.theirs.connections(), proxied.theirs.requests()),
        (proxied.ours.connections(), proxied.ours.requests())
    );
}

/// Under event a request waits for its backend off its thread: what the client sees is still
/// Apache's, for a backend too slow for its worker's timeout, requests pipelined behind a
/// proxied one, and a keep-alive connection going from a proxied request to a file.
#[test]
fn answers_waited_for_off_the_thread_are_apaches() {
    require_apache2();
    let proxied = Proxied::start("ProxyPass /b/ {url}/\nProxyPass /slow/ {url}/ timeout=1\n");
    check(
        &proxied,
        &[
            "GET /slow/slow?ms=2500 HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /b/echo/1 HTTP/1.1\r\nHost: front.test\r\n\r\nGET /b/slow?ms=200 HTTP/1.1\r\nHost: front.test\r\n\r\nGET /b/echo/3 HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /b/echo/1 HTTP/1.1\r\nHost: front.test\r\n\r\nGET /missing HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "HEAD /b/big?n=10 HTTP/1.1\r\nHost: front.test\r\n\r\nGET /b/status?code=404 HTTP/1.0\r\n\r\n",
        ],
    );
}

#[test]
fn mappings_and_settings_answer_as_apache_does() {
    require_apache2();
    let proxied = Proxied::start(
        "RewriteEngine On\n\
         RewriteRule ^/rw/(.*)$ {url}/echo/$1 [P]\n\
         RewriteRule ^/rwq/(.*)$ {url}/echo/$1?added=1 [P,QSA]\n\
         ProxyPassMatch ^/m/(.*)\\.txt$ {url}/echo/$1\n\
         ProxyPass /raw/ {url}/echo/ nocanon\n\
         ProxyPass /via/ {url}/\n\
         ProxyVia On\n\
         <Location /nofwd/>\nProxyPass {url}/\nProxyAddHeaders Off\n</Location>\n\
         <Location /override/>\nProxyPass {url}/\nProxyErrorOverride On\n</Location>\n\
         ProxyPass /guarded/ {url}/\n\
         <Proxy {url}/secret>\nRequire all denied\n</Proxy>\n\
         ProxyPass /b/ {url}/\n\
         ProxyPass /max/ {url}/\n\
         ProxyPass /sv/ {url}/echo/ mapping=servlet\n\
         ProxyPass /enc/ {url}/echo/ mapping=encoded\n\
         <Directory /nonexistent>\nRequire all denied\n</Directory>\n",
    );
    check(
        &proxied,
        &[
            "GET /rw/a%20b?x=1 HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /rwq/z?x=1 HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /m/file.txt?q HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /raw/a%2Fb%20c HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /via/echo HTTP/1.1\r\nHost: front.test\r\nVia: 1.0 elsewhere\r\nConnection: close\r\n\r\n",
            "GET /nofwd/echo HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /override/status?code=404 HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /override/status?code=200 HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /guarded/secret/x HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /guarded/echo HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /max/echo HTTP/1.1\r\nHost: front.test\r\nMax-Forwards: 3\r\nConnection: close\r\n\r\n",
            "GET /max/echo HTTP/1.1\r\nHost: front.test\r\nMax-Forwards: 0\r\nConnection: close\r\n\r\n",
            "GET /b/echo HTTP/1.1\r\nHost: front.test\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: 300\r\nTE: trailers\r\nUpgrade: h2c\r\n\r\n",
            "OPTIONS /b/echo HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /sv;jsessionid=1/a;b=2/./c/../d HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /sv/../../x HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /enc/a%20b%3Bc?q=%41 HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /b/big?n=5000 HTTP/1.1\r\nHost: front.test\r\nRange: bytes=10-19\r\nConnection: close\r\n\r\n",
            "GET /b/echo HTTP/1.1\r\nHost: front.test\r\nIf-Modified-Since: Sun, 06 Dec 2026 10:00:00 GMT\r\nConnection: close\r\n\r\n",
            "HEAD /b/chunked HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "DELETE /b/echo/item HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            "GET /b/echo HTTP/1.1\r\nHost: front.test\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            // Repeated fields joined where they first came; ours merged into the client's.
            "GET /b/echo HTTP/1.1\r\nHost: front.test\r\nX-Forwarded-For: 10.0.0.1\r\nAccept: a\r\nx-forwarded-host: other\r\nAccept: b\r\nConnection: close\r\n\r\n",
            "GET /via/echo HTTP/1.1\r\nHost: front.test\r\nVia: 1.0 a\r\nX-Forwarded-Server: s\r\nVia: 1.0 b\r\nConnection: close, Via\r\n\r\n",
            "GET /b/dates HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
        ],
    );
}

/// A backend that is down: 503 with the same page and the same error log lines, then the
/// worker in error (AH00940) for its retry time.
#[test]
fn a_backend_down_answers_503_and_logs_as_apache_does() {
    require_apache2();
    let closed = compat_tests::http::free_port();
    let config = format!("ProxyPass /down/ http://127.0.0.1:{closed}/\nLogLevel warn\n");
    let mut pair = Pair::start(&parse_family(&format!("@@ config\n{config}")));
    for _ in 0..2 {
        let (theirs, ours) = pair.normalized_exchange(
            b"GET /down/x HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
            &[],
        );
        assert_eq!(theirs, ours);
    }
    pair.stop();
    let log = |site: &compat_tests::http::Site| {
        let text = std::fs::read_to_string(site.dir.path().join("logs/error_log")).unwrap();
        let stamp = regex::Regex::new(r"^\[[^\]]*\] (\[[^\]]*\]) \[pid [^\]]*\] ").unwrap();
        let client = regex::Regex::new(r"\[client 127\.0\.0\.1:\d+\]").unwrap();
        text.lines()
            .filter(|l| l.contains("[proxy"))
            .map(|l| {
                client
                    .replace(&stamp.replace(l, "$1 "), "[client]")
                    .into_owned()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(log(&pair.their_site), log(&pair.our_site));
}

/// A WebSocket through `upgrade=websocket` and through a ws:// URL: the 101 as apache2 sends
/// it, the backend's handshake as it received it, and messages echoed both ways.
#[test]
fn websockets_are_tunnelled_as_apache_tunnels_them() {
    require_apache2();
    let proxied = Proxied::start(
        "ProxyPass /up/ {url}/ upgrade=websocket\n\
         ProxyPass /plain/ {url}/\n",
    );
    let ws_url = |url: String| url.replace("http://", "ws://");
    let their_ws = Proxied::start_with("ProxyPass /wsurl/ {url}/\n", ws_url);
    for (proxied, path) in [(&proxied, "/up/ws"), (&their_ws, "/wsurl/ws")] {
        let mut answers = Vec::new();
        for (port, backend) in [
            (proxied.pair.their_port, &proxied.theirs),
            (proxied.pair.our_port, &proxied.ours),
        ] {
            let mut ws = compat_tests::backend::WsClient::connect(port, path, "front.test")
                .unwrap_or_else(|e| panic!("{port}: {e}"));
            assert_eq!(ws.echo("hello").unwrap(), "hello");
            assert_eq!(ws.echo(&"x".repeat(70_000)).unwrap(), "x".repeat(70_000));
            let mut handshake = ws.handshake.headers.clone();
            handshake.retain(|(n, _)| !n.eq_ignore_ascii_case("Date"));
            let seen = backend.heads().last().cloned().unwrap_or_default();
            let seen = seen.replace(&backend.port().to_string(), "<bport>");
            let status_line = ws.handshake.status_line.clone();
            ws.close().unwrap();
            answers.push((status_line, handshake, seen));
        }
        assert_eq!(answers[0], answers[1]);
    }
    // Without upgrade= an http:// worker does not pass the Upgrade on.
    check(
        &proxied,
        &["GET /plain/ws HTTP/1.1\r\nHost: front.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"],
    );
}

/// An HTTPS backend (apache2 with the test PKI's a.test certificate, signed by its CA) behind
/// both: SSLProxyEngine, SSLProxyVerify with SSLProxyCACertificateFile and the peer checks, in
/// `<Proxy>` sections, answer as apache2's do.
#[test]
fn https_backends_are_checked_as_mod_ssl_checks_them() {
    require_apache2();
    let pki = compat_tests::tls::make_pki();
    let backend_dir = tempfile::tempdir().unwrap();
    let root = backend_dir.path();
    std::fs::create_dir_all(root.join("htdocs")).unwrap();
    std::fs::create_dir_all(root.join("logs")).unwrap();
    for name in ["ok", "noname", "ca", "stranger", "off"] {
        std::fs::create_dir_all(root.join("htdocs").join(name)).unwrap();
        std::fs::write(
            root.join("htdocs").join(name).join("hello.txt"),
            "hello over tls\n",
        )
        .unwrap();
    }
    let bport = compat_tests::http::free_port();
    std::fs::write(
        root.join("httpd.conf"),
        format!(
            "ServerRoot {r}\n{modules}LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so\n\
             LoadModule socache_shmcb_module /usr/lib/apache2/modules/mod_socache_shmcb.so\n\
             ServerName localhost\nListen 127.0.0.1:{bport}\nErrorLog logs/error_log\n\
             DocumentRoot {r}/htdocs\n<Directory {r}/htdocs>\nRequire all granted\n</Directory>\n\
             SSLEngine on\nSSLCertificateFile {a}\nSSLCertificateKeyFile {k}\n",
            r = root.display(),
            modules = compat_tests::module_set_lines(Some("event")),
            a = pki.path("a.crt").display(),
            k = pki.path("a.key").display(),
        ),
    )
    .unwrap();
    let mut backend = std::process::Command::new("apache2")
        .args(["-X", "-d", &root.display().to_string(), "-f"])
        .arg(root.join("httpd.conf"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", bport)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let url = format!("https://127.0.0.1:{bport}");
    let config = format!(
        "SSLProxyEngine on\n\
         ProxyPass /ok/ {url}/ok/\n<Proxy {url}/ok/>\nSSLProxyCheckPeerName off\n</Proxy>\n\
         ProxyPass /noname/ {url}/noname/\n\
         ProxyPass /ca/ {url}/ca/\n<Proxy {url}/ca/>\nSSLProxyVerify require\nSSLProxyCACertificateFile {ca}\nSSLProxyCheckPeerName off\n</Proxy>\n\
         ProxyPass /stranger/ {url}/stranger/\n<Proxy {url}/stranger/>\nSSLProxyVerify require\nSSLProxyCACertificateFile {stranger}\nSSLProxyCheckPeerName off\n</Proxy>\n\
         ProxyPass /off/ {url}/off/\n<Proxy {url}/off/>\nSSLProxyEngine off\n</Proxy>\n",
        ca = pki.path("ca.crt").display(),
        stranger = pki.path("stranger.crt").display(),
    );
    let family = parse_family(&format!("@@ config\n{config}"));
    let pair = Pair::start(&family);
    let mut failures = Vec::new();
    for path in ["ok", "noname", "ca", "stranger", "off"] {
        let request = format!(
            "GET /{path}/hello.txt HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n"
        );
        let (theirs, ours) = pair.normalized_exchange(
            request.as_bytes(),
            &["Last-Modified".to_string(), "ETag".to_string()],
        );
        if theirs != ours {
            failures.push(format!(
                "--- {path}\n--- apache2\n{theirs}\n--- rhttpd\n{ours}"
            ));
        }
    }
    compat_tests::stop_child(&mut backend);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// ProxyRequests On: a request for another server's absolute URL is fetched from it (the
/// request line's URL as it came), one for this server's own is served here.
#[test]
fn a_forward_proxy_fetches_what_it_is_asked_for() {
    require_apache2();
    let proxied = Proxied::start(
        "ProxyRequests On\n\
         <Proxy \"*\">\nRequire all granted\n</Proxy>\n\
         ProxyVia On\n\
         ProxyDomain .example.test\n\
         # {url}\n",
    );
    let (theirs, ours) = (proxied.theirs.port(), proxied.ours.port());
    let cases = [
        "GET http://127.0.0.1:<bport>/echo/f?q=1 HTTP/1.1\r\nHost: 127.0.0.1:<bport>\r\nConnection: close\r\n\r\n",
        "GET http://127.0.0.1:<bport>/redirect HTTP/1.0\r\n\r\n",
        "GET http://localhost:<fport>/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "GET http://intranet/path?x=1 HTTP/1.1\r\nHost: intranet\r\nConnection: close\r\n\r\n",
    ];
    let mut failures = Vec::new();
    for case in cases {
        let a = case
            .replace("<bport>", &theirs.to_string())
            .replace("<fport>", &proxied.pair.their_port.to_string());
        let b = case
            .replace("<bport>", &ours.to_string())
            .replace("<fport>", &proxied.pair.our_port.to_string());
        let (x, _) = proxied.pair.exchange(a.as_bytes());
        let (_, y) = proxied.pair.exchange(b.as_bytes());
        let norm = |raw: &[u8], bport: u16, fport: u16| {
            compat_tests::http::normalize_response(raw, &["Keep-Alive".to_string()])
                .replace(&bport.to_string(), "<bport>")
                .replace(&fport.to_string(), "<fport>")
        };
        let x = norm(&x, theirs, proxied.pair.their_port);
        let y = norm(&y, ours, proxied.pair.our_port);
        if x != y {
            failures.push(format!("--- {case}\n--- apache2\n{x}\n--- rhttpd\n{y}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
