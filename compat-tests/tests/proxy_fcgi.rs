//! mod_proxy_fcgi diffed against apache2: both servers in front of one private php-fpm
//! (compat_tests::php_fpm), under the three shapes admins use: Debian's php8.2-fpm.conf
//! (`SetHandler "proxy:unix:SOCK|fcgi://localhost"` in `<FilesMatch \.php$>`), `ProxyPass
//! /app/ fcgi://127.0.0.1:PORT/docroot/` and `ProxyPassMatch ^/(.*\.php)$
//! fcgi://127.0.0.1:PORT/docroot/$1`. What is compared is what a user sees: the status line,
//! the headers that matter, the body (PHP's `$_SERVER`, sorted, less what legitimately
//! differs), and the error-log lines about the application (its stderr, its absence, its death).

use std::path::Path;

use compat_tests::http::{
    error_lines, exchange, make_site, mask_port, parse_family, start, Running, Site,
};
use compat_tests::php_fpm::PhpFpm;
use compat_tests::{require_apache2, rhttpd_bin};

/// The PHP scripts every site has.
const SCRIPTS: &str = r#"@@ file env.php
<?php
$s = $_SERVER;
ksort($s);
foreach ($s as $k => $v) {
    if (in_array($k, ['REMOTE_PORT', 'REQUEST_TIME', 'REQUEST_TIME_FLOAT'])) continue;
    if (is_string($v)) echo "$k=$v\n";
}
@@ file post.php
<?php
$b = file_get_contents('php://input');
header('Content-Type: text/plain');
echo strlen($b), " ", md5($b), "\n";
echo $_SERVER['CONTENT_LENGTH'] ?? '-', " ", $_SERVER['CONTENT_TYPE'] ?? '-', "\n";
@@ file headers.php
<?php
header('Status: 404 Not Here');
header('X-One: 1');
header('X-One: 2', false);
header('Cache-Control: no-store');
header('Content-Type: text/plain; charset=iso-8859-1');
echo "gone\n";
@@ file redirect.php
<?php
setcookie('a', '1');
setcookie('b', '2');
header('Location: /target.html');
@@ file created.php
<?php
http_response_code(201);
header('Location: http://example.com/new');
echo "made\n";
@@ file empty.php
<?php
http_response_code(204);
@@ file stderr.php
<?php
error_log("first line\nsecond line");
error_log("again");
error_log(str_repeat("long ", 4000));
echo "ok\n";
@@ file fatal.php
<?php
undefined_function();
@@ file die.php
<?php
echo str_repeat("x", 100000);
flush();
// The output on its way before the end (the proxy has it, whoever is quicker).
usleep(300000);
posix_kill(getmypid(), 9);
@@ file die-early.php
<?php
// Late enough for the server to have sent all of the request.
usleep(200000);
posix_kill(getmypid(), 9);
@@ file slow.php
<?php
sleep(3);
echo "late\n";
@@ file validators.php
<?php
header('Content-Type: Text/Plain; Charset=UTF-8');
header('Last-Modified: Sun, 06 Dec 2020 10:00:00 GMT');
header('ETag: "abc"');
echo "x\n";
@@ file location.php
<?php
header('Status: 200');
header('Location: /target.html');
echo "a Location with 200 is passed on, not followed\n";
@@ file target.html
target
"#;

/// apache2 and rhttpd serving one site configuration, each from its own copy.
struct Pair {
    theirs: (Site, u16),
    ours: (Site, u16),
    servers: Option<(Running, Running)>,
}

impl Pair {
    /// `config` with `@PHPSOCK@` and `@PHPPORT@` naming the php-fpm pools.
    fn start(config: &str, fpm: &PhpFpm) -> Pair {
        require_apache2();
        let config = config
            .replace("@PHPSOCK@", &fpm.socket.display().to_string())
            .replace("@PHPPORT@", &fpm.port.to_string());
        let family = parse_family(&format!("@@ config\n{config}{SCRIPTS}"));
        let site = |port: u16| make_site(&family, port);
        let (their_port, our_port) = (
            compat_tests::http::free_port(),
            compat_tests::http::free_port(),
        );
        let their_site = site(their_port);
        let our_site = site(our_port);
        let theirs = start(Path::new("/usr/sbin/apache2"), &their_site, their_port, &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let ours = start(&rhttpd_bin(), &our_site, our_port, &[]).unwrap_or_else(|e| panic!("{e}"));
        Pair {
            theirs: (their_site, their_port),
            ours: (our_site, our_port),
            servers: Some((theirs, ours)),
        }
    }

    /// The same request to both: what each user sees, normalized alike.
    fn exchange(&self, request: &[u8]) -> (String, String) {
        let see = |(site, port): &(Site, u16)| {
            let raw = exchange(*port, request);
            let text = seen(&raw);
            mask_port(
                &text.replace(&site.dir.path().display().to_string(), "<root>"),
                *port,
            )
        };
        (see(&self.theirs), see(&self.ours))
    }

    /// Both servers' error-log lines containing `needle`, once they have stopped.
    fn error_lines(&mut self, needle: &str) -> (Vec<String>, Vec<String>) {
        std::thread::sleep(std::time::Duration::from_millis(200));
        self.servers = None;
        let lines = |(site, port): &(Site, u16)| -> Vec<String> {
            error_lines(site.dir.path(), needle)
                .iter()
                .map(|l| mask_port(l, *port))
                .collect()
        };
        (lines(&self.theirs), lines(&self.ours))
    }
}

/// What a user sees of a response: the status line, the headers that carry meaning (not
/// Date, Server or Keep-Alive's counters) and the body, de-chunked (with "<chunked>" noted).
fn seen(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let mut out = vec![lines.next().unwrap_or_default().to_string()];
    let mut chunked = false;
    for line in lines {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match name.as_str() {
            "date" | "server" | "keep-alive" => {}
            "transfer-encoding" => {
                chunked = true;
                out.push(line.to_string());
            }
            _ => out.push(line.to_string()),
        }
    }
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    // mod_unique_id's id is new for every request.
    let unique = regex::Regex::new(r"UNIQUE_ID=[A-Za-z0-9_-]{27}").unwrap();
    let body = unique.replace_all(&body, "UNIQUE_ID=<id>");
    format!("{}\n\n{body}", out.join("\n"))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            return format!("{out}<bad chunk>{body}");
        };
        if size == 0 || rest.len() < size {
            if size != 0 {
                out.push_str(rest);
                out.push_str("<truncated>");
            }
            return out;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].strip_prefix("\r\n").unwrap_or(&rest[size..]);
    }
    out.push_str("<unterminated>");
    out
}

fn get(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: compat\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// A 1 MiB body of every byte value.
fn big_body() -> Vec<u8> {
    (0..1usize << 20).map(|i| (i * 7 % 251) as u8).collect()
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn assert_same(pair: &Pair, request: &[u8]) {
    let (theirs, ours) = pair.exchange(request);
    let shown = String::from_utf8_lossy(&request[..request.len().min(200)]);
    let log = |site: &Site| {
        std::fs::read_to_string(site.dir.path().join("logs/error_log")).unwrap_or_default()
    };
    assert_eq!(
        theirs,
        ours,
        "apache2 (left) and rhttpd (right) differ for:\n{shown}\nrhttpd's error log:\n{}",
        log(&pair.ours.0)
    );
}

/// Debian's php8.2-fpm.conf, with the socket of this test's php-fpm.
const SET_HANDLER: &str = r#"SetEnvIfNoCase ^Authorization$ "(.+)" HTTP_AUTHORIZATION=$1
<FilesMatch ".+\.ph(?:ar|p|tml)$">
    SetHandler "proxy:unix:@PHPSOCK@|fcgi://localhost"
</FilesMatch>
<FilesMatch "^\.ph(?:ar|p|ps|tml)$">
    Require all denied
</FilesMatch>
"#;

const PROXY_PASS: &str = "ProxyPass /app/ fcgi://127.0.0.1:@PHPPORT@@DOCROOT@/\n";

const PROXY_PASS_MATCH: &str =
    "ProxyPassMatch ^/(.*\\.php)$ fcgi://127.0.0.1:@PHPPORT@@DOCROOT@/$1\n";

/// The requests every shape answers alike, under its URL prefix.
fn common_requests(prefix: &str) -> Vec<Vec<u8>> {
    vec![
        get(&format!("{prefix}/env.php")),
        get(&format!("{prefix}/env.php?x=1&y=%20z")),
        get(&format!("{prefix}/env.php/a/b?q")),
        get(&format!("{prefix}/env.php/a%20b/%7Ec")),
        format!(
            "GET {prefix}/env.php HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic dTpw\r\n\
             X-Custom-Header: v\r\nConnection: close\r\n\r\n"
        )
        .into_bytes(),
        format!("GET {prefix}/env.php HTTP/1.0\r\n\r\n").into_bytes(),
        post(&format!("{prefix}/post.php"), &big_body()),
        post(&format!("{prefix}/post.php"), b"a=1&b=2"),
        get(&format!("{prefix}/headers.php")),
        get(&format!("{prefix}/redirect.php")),
        get(&format!("{prefix}/created.php")),
        get(&format!("{prefix}/empty.php")),
        get(&format!("{prefix}/fatal.php")),
        get(&format!("{prefix}/missing.php")),
        get(&format!("{prefix}/validators.php")),
        format!(
            "GET {prefix}/validators.php HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: \"abc\"\r\n\
             Connection: close\r\n\r\n"
        )
        .into_bytes(),
        get(&format!("{prefix}/location.php")),
        format!("HEAD {prefix}/env.php HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .into_bytes(),
    ]
}

#[test]
fn php_behind_debians_sethandler_answers_as_under_apache() {
    let fpm = PhpFpm::start(4);
    let pair = Pair::start(SET_HANDLER, &fpm);
    for request in common_requests("") {
        assert_same(&pair, &request);
    }
    // A chunked body (short enough for Apache to send its length).
    assert_same(
        &pair,
        b"POST /post.php HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\
          Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
}

#[test]
fn php_behind_proxypass_answers_as_under_apache() {
    let fpm = PhpFpm::start(4);
    let pair = Pair::start(PROXY_PASS, &fpm);
    for request in common_requests("/app") {
        assert_same(&pair, &request);
    }
}

#[test]
fn php_behind_proxypassmatch_answers_as_under_apache() {
    let fpm = PhpFpm::start(4);
    let pair = Pair::start(PROXY_PASS_MATCH, &fpm);
    for request in common_requests("") {
        assert_same(&pair, &request);
    }
}

#[test]
fn the_applications_stderr_is_logged_as_apache_logs_it() {
    let fpm = PhpFpm::start(2);
    let mut pair = Pair::start(SET_HANDLER, &fpm);
    assert_same(&pair, &get("/stderr.php"));
    assert_same(&pair, &get("/fatal.php"));
    let (theirs, ours) = pair.error_lines("AH01071");
    assert!(theirs.len() >= 2, "{theirs:?}");
    assert_eq!(theirs, ours);
}

#[test]
fn an_application_that_dies_is_reported_as_apache_reports_it() {
    let fpm = PhpFpm::start(4);
    let mut pair = Pair::start(SET_HANDLER, &fpm);
    // Dead before its headers: 503. Dead in the middle of its body: the response is cut.
    assert_same(&pair, &get("/die-early.php"));
    assert_same(&pair, &get("/die.php"));
    let (theirs, ours) = pair.error_lines("proxy_fcgi:");
    assert!(theirs.iter().any(|l| l.contains("AH01075")), "{theirs:?}");
    assert_eq!(theirs, ours);
}

#[test]
fn php_fpm_down_is_a_503_with_apaches_log_lines() {
    let mut fpm = PhpFpm::start(1);
    let config = format!("{SET_HANDLER}{PROXY_PASS}");
    let mut pair = Pair::start(&config, &fpm);
    fpm.stop();
    let _ = std::fs::remove_file(&fpm.socket);
    assert_same(&pair, &get("/env.php"));
    assert_same(&pair, &get("/app/env.php"));
    let (theirs, ours) = pair.error_lines("proxy");
    let masked = |lines: Vec<String>| -> Vec<String> {
        lines
            .into_iter()
            .map(|l| l.replace(&fpm.socket.display().to_string(), "<sock>"))
            .collect()
    };
    let (theirs, ours) = (masked(theirs), masked(ours));
    assert!(theirs.iter().any(|l| l.contains("AH01079")), "{theirs:?}");
    assert_eq!(theirs, ours);
}

#[test]
fn proxy_fcgi_setenvif_edits_the_environment_sent() {
    let fpm = PhpFpm::start(2);
    let config = format!(
        "{SET_HANDLER}ProxyFCGISetEnvIf \"reqenv('SCRIPT_NAME') =~ m#^/(env)\\.php$#\" \
         CHOSEN \"x-$1-%{{REQUEST_METHOD}}\"\n\
         ProxyFCGISetEnvIf \"true\" !HTTP_USER_AGENT\n\
         ProxyFCGISetEnvIf \"-n reqenv('PATH_INFO')\" PATH_INFO\n"
    );
    let pair = Pair::start(&config, &fpm);
    assert_same(&pair, &get("/env.php"));
    assert_same(&pair, &get("/env.php/x/y"));
}

#[test]
fn a_generic_backend_and_pathinfo_splitting_answer_as_under_apache() {
    let fpm = PhpFpm::start(2);
    let config = format!(
        "{PROXY_PASS}<Location /app/>\n    ProxyFCGIBackendType GENERIC\n</Location>\n\
         SetEnvIf Request_URI ^/app/env \"proxy-fcgi-pathinfo=first-dot\"\n"
    );
    let pair = Pair::start(&config, &fpm);
    assert_same(&pair, &get("/app/env.php"));
    assert_same(&pair, &get("/app/env.php/a/b%20c?q=1"));
    assert_same(&pair, &get("/app/post.php?x"));
}

#[test]
fn an_application_slower_than_the_timeout_is_a_504() {
    let fpm = PhpFpm::start(2);
    let mut pair = Pair::start(&format!("{SET_HANDLER}Timeout 1\n"), &fpm);
    assert_same(&pair, &get("/slow.php"));
    let (theirs, ours) = pair.error_lines("proxy_fcgi:");
    assert!(theirs.iter().any(|l| l.contains("(polling)")), "{theirs:?}");
    assert_eq!(theirs, ours);
}

#[test]
fn limit_request_body_does_not_hold_a_proxied_body() {
    let fpm = PhpFpm::start(2);
    let pair = Pair::start(&format!("{SET_HANDLER}LimitRequestBody 10\n"), &fpm);
    assert_same(&pair, &post("/post.php", b"0123456789abcdef"));
    assert_same(
        &pair,
        b"POST /post.php HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\
          Connection: close\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
    );
}

#[test]
fn proxy_error_override_serves_this_servers_error_page() {
    let fpm = PhpFpm::start(2);
    let config =
        format!("{SET_HANDLER}ProxyErrorOverride On\nErrorDocument 404 \"the server's own 404\"\n");
    let pair = Pair::start(&config, &fpm);
    assert_same(&pair, &get("/headers.php"));
    assert_same(&pair, &get("/env.php"));
}
