//! Access logs diffed against apache2: the same site, the same LogFormat/CustomLog lines and
//! the same requests under both servers, then every line of every log compared with only the
//! request time, ports and the site's path set aside. Covers the common and combined formats
//! and the format items one by one, escaping included.

use std::path::Path;
use std::time::Duration;

use compat_tests::http::{error_lines, mask_port, parse_family, Pair};
use compat_tests::require_apache2;

const FAMILY: &str = r#"@@ config
LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"" combined
LogFormat "%h %l %u %t \"%r\" %>s %b" common
LogFormat "%v:%p %h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" vhost_combined
CustomLog @SERVERROOT@/logs/combined.log combined
CustomLog @SERVERROOT@/logs/common.log common
CustomLog @SERVERROOT@/logs/clf.log CLF
CustomLog @SERVERROOT@/logs/vhost.log vhost_combined
CustomLog @SERVERROOT@/logs/items.log "%a|%A|%b|%B|%{a}C|%{c}C|%f|%H|%m|%p|%{local}p|%q|%s|%>s|%U|%>U|%v|%V|%X|%O|%{Content-Type}o|%{Last-Modified}o|%400,404{User-agent}i|%!200s|%l|%u|%{Cookie}i|%{X-Test}i|%%|tab\there"
CustomLog @SERVERROOT@/logs/keepalive.log "%k %I %S"
CustomLog @SERVERROOT@/logs/never.log common env=NOT_SET_BY_ANYTHING
CustomLog @SERVERROOT@/logs/always.log common env=!NOT_SET_BY_ANYTHING
DirectoryIndex index.html
@@ file index.html
<p>hello</p>
@@ file dir/index.html
<p>dir</p>
"#;

const REQUESTS: &[&[u8]] = &[
    b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nUser-Agent: agent \"quoted\" \xc3\xa9\\\r\nReferer: http://r/x\r\nCookie: a=1; c=two words\r\nConnection: close\r\n\r\n",
    b"HEAD /index.html HTTP/1.0\r\n\r\n",
    b"GET /nope?x=1&y=%22 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: looker\r\nConnection: close\r\n\r\n",
    b"GET /dir/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: Fri, 01 Jan 2038 00:00:00 GMT\r\nConnection: close\r\n\r\n",
    b"POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    b"GARBAGE\r\n\r\n",
    // Bytes that are not UTF-8 are logged as Apache escapes them (\xe9), folded or not.
    b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nUser-Agent: caf\xe9\r\nReferer: http://r/\xff\r\nX-Test: caf\xe9\r\n \xff\xfe end\r\nCookie: a=1; c=caf\xe9 \r\nConnection: close\r\n\r\n",
    b"GARBAGE\xe9\r\n\r\n",
];

/// Two requests on one kept-alive connection, the second sent once the first is answered.
const KEPT_ALIVE: [&[u8]; 2] = [
    b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /dir/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
];

fn kept_alive(port: u16) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(KEPT_ALIVE[0]).unwrap();
    let mut first = [0u8; 4096];
    let mut got = 0;
    // The first response is whole once its 13-byte body has arrived.
    while !first[..got].ends_with(b"<p>hello</p>\n") {
        let n = stream.read(&mut first[got..]).unwrap();
        assert!(n > 0, "closed early");
        got += n;
    }
    stream.write_all(KEPT_ALIVE[1]).unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
}

const LOGS: &[&str] = &[
    "combined.log",
    "common.log",
    "clf.log",
    "vhost.log",
    "items.log",
    "always.log",
    "keepalive.log",
];

/// A log with the request time, the site's path and its port set aside.
fn normalized(root: &Path, port: u16, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root.join("logs").join(name)).unwrap_or_default();
    let time = regex::Regex::new(r"\[\d\d/\w\w\w/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]").unwrap();
    text.lines()
        .map(|line| {
            let line = time.replace_all(line, "[<time>]");
            mask_port(&line.replace(&root.display().to_string(), "<root>"), port)
        })
        .collect()
}

#[test]
fn access_log_lines_match_apache() {
    require_apache2();
    let family = parse_family(FAMILY);
    let mut pair = Pair::start(&family);
    let (their_port, our_port) = (pair.their_port, pair.our_port);
    for request in REQUESTS {
        pair.exchange(request);
    }
    kept_alive(their_port);
    kept_alive(our_port);
    // Apache writes its record after the response has gone; give both a moment.
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    let mut mismatches = Vec::new();
    for log in LOGS {
        let a = normalized(pair.their_site.dir.path(), their_port, log);
        let b = normalized(pair.our_site.dir.path(), our_port, log);
        assert_eq!(a.len(), REQUESTS.len() + 2, "{log} of apache2: {a:#?}");
        for (index, (line_a, line_b)) in a.iter().zip(&b).enumerate() {
            // Known divergence: on the second request of a kept-alive connection apache2's
            // event MPM logs %k as 0 and counts two more bytes in; rhttpd logs 1, as Apache's
            // documentation describes, and the request's own bytes.
            if *log == "keepalive.log" && index == a.len() - 1 {
                continue;
            }
            if line_a != line_b {
                mismatches.push(format!("{log}:\n  apache2: {line_a}\n  rhttpd:  {line_b}"));
            }
        }
        if a.len() != b.len() {
            mismatches.push(format!(
                "{log}: {} lines from apache2, {} from rhttpd",
                a.len(),
                b.len()
            ));
        }
    }
    let never = std::fs::read_to_string(pair.our_site.dir.path().join("logs/never.log"))
        .unwrap_or_default();
    assert_eq!(never, "", "env= of an unset variable logs nothing");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Stops both servers (once their last lines are written) and compares, for each message id,
/// the error-log lines apache2 and rhttpd wrote: `count` each, the same after `normalize`.
fn assert_same_error_lines(
    pair: &mut Pair,
    expected: &[(&str, usize)],
    normalize: &dyn Fn(&str) -> String,
) {
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    for &(id, count) in expected {
        let lines = |root: &Path| -> Vec<String> {
            error_lines(root, id).iter().map(|l| normalize(l)).collect()
        };
        let a = lines(pair.their_site.dir.path());
        let b = lines(pair.our_site.dir.path());
        assert_eq!(a.len(), count, "{id}: {a:?}");
        assert_eq!(a, b, "{id}");
    }
}

#[test]
fn request_errors_read_like_apaches_in_the_error_log() {
    require_apache2();
    let family = parse_family(
        "@@ config\nLogLevel info\n<Location /denied>\n    Require all denied\n</Location>\n\
         <Directory @DOCROOT@/noindex>\n    Options -Indexes\n</Directory>\n\
         @@ file noindex/readme.txt\nnot an index\n@@ file secret.txt\nmode 000\n",
    );
    let mut pair = Pair::start(&family);
    // The children (www-data) may not read this one.
    for site in [&pair.their_site, &pair.our_site] {
        use std::os::unix::fs::PermissionsExt;
        let secret = site.docroot().join("secret.txt");
        std::fs::set_permissions(secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    for path in ["/nonexist", "/denied", "/noindex/", "/secret.txt"] {
        // A Referer that is not UTF-8 is written as Apache escapes it (\xe9).
        let request = [
            b"GET ".as_slice(),
            path.as_bytes(),
            b" HTTP/1.1\r\nHost: localhost\r\nReferer: http://r/caf\xe9\r\nConnection: close\r\n\r\n",
        ]
        .concat();
        pair.exchange(&request);
    }
    // Requests refused before any file is looked at.
    for request in [
        &b"BREW / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"[..],
        b"BREW /caf\xe9 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"GET /../x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"GET /a/%2e%2e/%2e%2e/b?q=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"GET /%zz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"GET /a%2fb HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"GET /%00 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"GET x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    ] {
        pair.exchange(request);
    }
    let ids = [
        ("AH00128", 1),
        ("AH01630", 1),
        ("AH01276", 1),
        ("AH00132", 1),
        ("AH00135", 2),
        ("AH10244", 3),
        ("AH00026", 2),
    ];
    assert_same_error_lines(&mut pair, &ids, &|l| l.to_string());
}

#[test]
fn error_log_format_fields_match_apache() {
    require_apache2();
    let family = parse_family(
        "@@ config\nLogLevel info\n\
         ErrorLogFormat \"[%{c}t] [%m:%l] [pid %P:tid %T] [client\\ %a] %M% ,\\ referer\\ %{Referer}i% ,\\ via\\ %{Via}i [%v|%V] %-{X-None}i%8F\"\n",
    );
    let mut pair = Pair::start(&family);
    let request = b"GET /nonexist HTTP/1.1\r\nHost: localhost\r\nReferer: http://r/\xe9\r\nConnection: close\r\n\r\n";
    pair.exchange(request);
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    let normalize = |root: &Path| -> Vec<String> {
        let time = regex::Regex::new(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\]").unwrap();
        error_lines(root, "AH00128")
            .into_iter()
            .map(|l| time.replace(&l, "[<time>]").into_owned())
            .collect()
    };
    let (a, b) = (
        normalize(pair.their_site.dir.path()),
        normalize(pair.our_site.dir.path()),
    );
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a, b);
}

/// Serves `requests` from both servers on a family's config and returns each named log's
/// lines, apache2's and rhttpd's, normalized.
fn logs_of(family: &str, requests: &[&[u8]], logs: &[&str]) -> Vec<(Vec<String>, Vec<String>)> {
    let family = parse_family(family);
    let mut pair = Pair::start(&family);
    let (their_port, our_port) = (pair.their_port, pair.our_port);
    for request in requests {
        pair.exchange(request);
    }
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    logs.iter()
        .map(|log| {
            (
                normalized(pair.their_site.dir.path(), their_port, log),
                normalized(pair.our_site.dir.path(), our_port, log),
            )
        })
        .collect()
}

#[test]
fn environment_variables_reach_the_log_as_apaches_do() {
    require_apache2();
    let logs = [
        "env.log",
        "images.log",
        "others.log",
        "upper.log",
        "expr.log",
    ];
    let diffs = logs_of(
        "@@ config\n\
         SetEnvIf Request_URI \"\\.png$\" image-request\n\
         BrowserMatch \"^Mozilla/(\\d)\" moz=v$1 compat\n\
         SetEnvIfNoCase User-Agent bot is_bot !compat\n\
         SetEnvIf X-Missing ^$ no_x\n\
         SetEnvIf ^X-T.* ^yes$ from_regex_name\n\
         SetEnv SITE example\n\
         <Location /sub>\n    SetEnv WHERE sub\n    UnsetEnv SITE\n</Location>\n\
         CustomLog @SERVERROOT@/logs/env.log \"%{image-request}e|%{moz}e|%{compat}e|%{is_bot}e|%{no_x}e|%{from_regex_name}e|%{SITE}e|%{WHERE}e\"\n\
         CustomLog @SERVERROOT@/logs/images.log \"%r\" env=image-request\n\
         CustomLog @SERVERROOT@/logs/others.log \"%r\" env=!image-request\n\
         CustomLog @SERVERROOT@/logs/upper.log \"%r\" ENV=image-request\n\
         CustomLog @SERVERROOT@/logs/expr.log \"%r\" \"EXPR=%{REQUEST_URI} =~ /sub/\"\n\
         @@ file a.png\npng\n",
        &[
            b"GET /a.png HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/5.0 (X11)\r\nConnection: close\r\n\r\n",
            b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/4.0 Googlebot\r\nX-Test: yes\r\nConnection: close\r\n\r\n",
            b"GET /sub/nothing HTTP/1.1\r\nHost: localhost\r\nX-Missing: here\r\nConnection: close\r\n\r\n",
            b"GET /a.png?x HTTP/1.0\r\n\r\n",
        ],
        &logs,
    );
    for (log, (a, b)) in logs.iter().zip(diffs) {
        assert!(!a.is_empty(), "{log} of apache2 is empty");
        assert_eq!(a, b, "{log}");
    }
}

#[test]
fn decoded_paths_that_are_not_utf8_are_logged_as_apaches_are() {
    require_apache2();
    let diffs = logs_of(
        "@@ config\n\
         ErrorDocument 404 /missing.html\n\
         CustomLog @SERVERROOT@/logs/uri.log \"%U|%>U|%>s|%r\"\n\
         @@ file missing.html\nnot here\n",
        &[
            b"GET /caf%E9/\xe9.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            b"GET /caf%C3%A9 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        ],
        &["uri.log"],
    );
    let (a, b) = &diffs[0];
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a, b);
}

#[test]
fn hostname_lookups_name_the_client_as_apaches_do() {
    require_apache2();
    let requests: Vec<Vec<u8>> = ["/a.txt", "/named/a.txt", "/double/a.txt"]
        .iter()
        .map(|path| {
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .into_bytes()
        })
        .collect();
    let requests: Vec<&[u8]> = requests.iter().map(Vec::as_slice).collect();
    let diffs = logs_of(
        "@@ config\n\
         <Location /named>\n    HostnameLookups On\n</Location>\n\
         <Location /double>\n    HostnameLookups Double\n</Location>\n\
         CustomLog @SERVERROOT@/logs/hosts.log \"%h|%a|%r\"\n\
         @@ file a.txt\na\n",
        &requests,
        &["hosts.log"],
    );
    let (a, b) = &diffs[0];
    assert_eq!(a.len(), 3, "{a:?}");
    assert_eq!(a, b);
}

#[test]
fn expression_conditions_choose_the_logged_requests_as_apaches_do() {
    require_apache2();
    let logs = ["errors.log", "texts.log"];
    let diffs = logs_of(
        "@@ config\n\
         CustomLog @SERVERROOT@/logs/errors.log \"%>s %r\" \"expr=%{REQUEST_STATUS} >= 400\"\n\
         CustomLog @SERVERROOT@/logs/texts.log \"%r\" \"expr=%{REQUEST_URI} =~ /\\.txt$/ && %{HTTP:X-Skip} != 'yes'\"\n\
         @@ file a.txt\na\n@@ file b.html\nb\n",
        &[
            b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            b"GET /b.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            b"GET /missing.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nX-Skip: yes\r\nConnection: close\r\n\r\n",
        ],
        &logs,
    );
    for (log, (a, b)) in logs.iter().zip(diffs) {
        assert!(!a.is_empty(), "{log} of apache2 is empty");
        assert_eq!(a, b, "{log}");
    }
}

#[test]
fn merged_trailers_reach_the_log_as_apaches_do() {
    require_apache2();
    let diffs = logs_of(
        "@@ config\n\
         MergeTrailers On\n\
         CustomLog @SERVERROOT@/logs/trailers.log \"%r|%{X-Checksum}i|%{X-Both}i\"\n\
         @@ file a.txt\na\n",
        &[b"POST /a.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nX-Both: header\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 1234\r\nX-Both: trailer\r\n\r\n"],
        &["trailers.log"],
    );
    let (a, b) = &diffs[0];
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(
        a[0].contains("|1234|"),
        "the trailer reached apache2's log: {a:?}"
    );
    assert_eq!(a, b);
}

#[test]
fn filter_trace_logs_each_pass_like_apache() {
    require_apache2();
    let family = parse_family(
        "@@ config\nLogLevel warn filter:debug\nOptions +Indexes\n\
         FilterDeclare traced\nFilterProvider traced INFLATE \"%{CONTENT_TYPE} =~ m#^image/#\"\n\
         FilterTrace traced 1\nFilterChain traced\n\
         <Directory @DOCROOT@/quiet>\n    FilterDeclare traced\n    FilterTrace traced 0\n</Directory>\n\
         @@ file a.txt\nhello world\n@@ file empty.txt\n@@ file dir/b.txt\nb\n\
         @@ file quiet/c.txt\nc\n",
    );
    let mut pair = Pair::start(&family);
    // A file, an empty one, a range and HEAD of it (the filter sees the whole file), a listing,
    // a section whose own declaration is not traced, and a 404 (not 200: no pass traced).
    let requests: [&[u8]; 7] = [
        b"GET /a.txt HTTP/1.0\r\n\r\n",
        b"GET /empty.txt HTTP/1.0\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\nConnection: close\r\n\r\n",
        b"HEAD /a.txt HTTP/1.0\r\n\r\n",
        b"GET /dir/ HTTP/1.0\r\n\r\n",
        b"GET /quiet/c.txt HTTP/1.0\r\n\r\n",
        b"GET /missing HTTP/1.0\r\n\r\n",
    ];
    for request in requests {
        pair.exchange(request);
    }
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    let a = error_lines(pair.their_site.dir.path(), "AH0137");
    let b = error_lines(pair.our_site.dir.path(), "AH0137");
    assert_eq!(a.len(), 15, "five traced passes of three lines: {a:#?}");
    assert_eq!(a, b);
}

#[test]
fn inflate_failures_log_like_apache() {
    use std::io::Write;
    require_apache2();
    let family = parse_family(
        "@@ config\nLogLevel warn\nSetInputFilter DEFLATE\n\
         <Directory @DOCROOT@/small>\n    DeflateInflateLimitRequestBody 100\n</Directory>\n\
         CustomLog @SERVERROOT@/logs/in.log \"%>s [%{Content-Encoding}i] [%{Content-Length}i] [%{Content-MD5}i] %I\"\n\
         @@ file a.txt\na\n@@ file small/a.txt\nsmall\n",
    );
    let text = b"alpha beta gamma delta\n".repeat(20);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&text).unwrap();
    let valid = gz.finish().unwrap();
    let mut bad_crc = valid.clone();
    let at = bad_crc.len() - 8;
    bad_crc[at] ^= 1;
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    bomb.write_all(&vec![0u8; 300_000]).unwrap();
    let bomb = bomb.finish().unwrap();
    let post = |path: &str, encoding: &str, body: &[u8]| {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Encoding: {encoding}\r\n\
             Content-MD5: abc\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        request
    };
    let requests = [
        post("/a.txt", "gzip", &valid),
        post("/a.txt", "x-gzip, identity", &valid),
        post("/a.txt", "gzip", b"not gzip at all"),
        post("/a.txt", "gzip", &bad_crc),
        post("/a.txt", "gzip", &valid[..valid.len() - 3]),
        post("/a.txt", "gzip", &bomb),
        post("/small/a.txt", "gzip", &valid),
        post("/a.txt", "gzip", &[valid.as_slice(), b"more"].concat()),
    ];
    let mut pair = Pair::start(&family);
    let (their_port, our_port) = (pair.their_port, pair.our_port);
    for request in &requests {
        pair.exchange(request);
    }
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    let a = error_lines(pair.their_site.dir.path(), "[deflate:");
    let b = error_lines(pair.our_site.dir.path(), "[deflate:");
    assert_eq!(a.len(), 6, "one message per refused body: {a:#?}");
    assert_eq!(a, b);
    let a = normalized(pair.their_site.dir.path(), their_port, "in.log");
    let b = normalized(pair.our_site.dir.path(), our_port, "in.log");
    assert_eq!(a.len(), requests.len(), "{a:#?}");
    assert_eq!(a, b);
}

#[test]
fn auth_basic_fake_logs_like_apache() {
    require_apache2();
    let family = parse_family(
        "@@ config\nLogLevel warn auth_basic:info\n\
         <Location /fake>\n    AuthBasicFake demo \"%{HTTP:X-Pass}\"\n</Location>\n\
         <Location /fakeuser>\n    AuthBasicFake \"%{HTTP:X-User}\" secret\n</Location>\n\
         @@ file fake/a.txt\na\n@@ file fakeuser/a.txt\nb\n",
    );
    let mut pair = Pair::start(&family);
    for request in [
        &b"GET /fake/a.txt HTTP/1.1\r\nHost: x\r\nX-Pass: pw\r\nConnection: close\r\n\r\n"[..],
        b"GET /fake/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /fakeuser/a.txt HTTP/1.1\r\nHost: x\r\nX-User: someone\r\nConnection: close\r\n\r\n",
        b"GET /fakeuser/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ] {
        pair.exchange(request);
    }
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    let a = error_lines(pair.their_site.dir.path(), "AuthBasicFake");
    let b = error_lines(pair.our_site.dir.path(), "AuthBasicFake");
    assert_eq!(a.len(), 4, "{a:#?}");
    assert_eq!(a, b);
}

#[test]
fn htaccess_errors_log_like_apache() {
    require_apache2();
    let family = parse_family(
        "@@ config\n<Directory @DOCROOT@>\n    AllowOverride FileInfo\n</Directory>\n\
         @@ file define/.htaccess\nDefine X y\n@@ file define/a.txt\na\n\
         @@ file unknown/.htaccess\nNoSuchDirective here\n@@ file unknown/a.txt\na\n\
         @@ file auth/.htaccess\nAuthType Basic\n@@ file auth/a.txt\na\n\
         @@ file ifdefine/.htaccess\n<IfDefine NOPE>\nDefine Z\n</IfDefine>\n@@ file ifdefine/a.txt\na\n\
         @@ file locked/.htaccess\nOptions +Indexes\n@@ file locked/a.txt\na\n",
    );
    let mut pair = Pair::start(&family);
    // The children (www-data) may not read this one: 403, to be safe.
    for site in [&pair.their_site, &pair.our_site] {
        use std::os::unix::fs::PermissionsExt;
        let locked = site.docroot().join("locked/.htaccess");
        std::fs::set_permissions(locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    for dir in ["define", "unknown", "auth", "ifdefine", "locked"] {
        let request = format!("GET /{dir}/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (theirs, ours) = pair.exchange(request.as_bytes());
        let status = |r: &[u8]| String::from_utf8_lossy(&r[..r.len().min(12)]).into_owned();
        assert_eq!(status(&ours), status(&theirs), "{dir}");
    }
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    let a = error_lines(pair.their_site.dir.path(), ".htaccess");
    let b = error_lines(pair.our_site.dir.path(), ".htaccess");
    assert_eq!(a.len(), 4, "{a:#?}");
    assert_eq!(a, b);
}

#[test]
fn unparsable_types_warn_like_apache() {
    require_apache2();
    let family = parse_family(
        "@@ config\nAddType \"text/plain; broken\" .broken\nAddType \"text/plain; a=b c\" .spaced\n\
         AddType texthtml .noslash\nAddType \"text/plain; q=\\\"open\" .open\n\
         @@ file a.broken\na\n@@ file a.spaced\na\n@@ file a.noslash\na\n@@ file a.open\na\n",
    );
    let mut pair = Pair::start(&family);
    for name in ["broken", "spaced", "noslash", "open"] {
        let request = format!("GET /a.{name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        pair.exchange(request.as_bytes());
    }
    // apache2 has been seen, under load, to write each of these twice; what is compared is
    // which warnings each server gives.
    let distinct = |mut lines: Vec<String>| {
        lines.sort();
        lines.dedup();
        lines
    };
    let warnings =
        |site: &compat_tests::http::Site| distinct(error_lines(site.dir.path(), "[mime:warn]"));
    // A loaded machine may be slow to write them: wait (3 s at most) until both have.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline
        && (warnings(&pair.their_site).len() < 2 || warnings(&pair.our_site).len() < 2)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    pair.stop();
    let a = warnings(&pair.their_site);
    let b = warnings(&pair.our_site);
    assert_eq!(a.len(), 2, "{a:#?}");
    assert_eq!(a, b);
}

#[test]
fn default_handler_refusals_log_like_apache() {
    require_apache2();
    let family = parse_family(
        "@@ config\nLogLevel info\n<Directory @DOCROOT@/plain>\n    SetHandler default-handler\n</Directory>\n\
         @@ file a.txt\na\n@@ file plain/b.txt\nb\n",
    );
    let mut pair = Pair::start(&family);
    for path in ["/a.txt/extra/path", "/plain/", "/missing/deeper/x.html"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (theirs, ours) = pair.exchange(request.as_bytes());
        let status = |r: &[u8]| String::from_utf8_lossy(&r[..r.len().min(12)]).into_owned();
        assert_eq!(status(&ours), status(&theirs), "{path}");
    }
    let ids = [("AH00130", 1), ("AH00129", 1), ("AH00128", 1)];
    assert_same_error_lines(&mut pair, &ids, &|l| l.to_string());
}

#[test]
fn configuration_warnings_reach_the_error_log_like_apaches() {
    // Apache reads its configuration again once the error log is open, so what it said on the
    // terminal at startup is in the log too (the MPM's sizing in its running wording).
    require_apache2();
    let family = parse_family(
        "@@ config\n<Location /x>\n    AllowOverride None\n</Location>\n\
         ThreadsPerChild 100\nThreadLimit 64\n",
    );
    let mut pair = Pair::start(&family);
    pair.exchange(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let site = regex::Regex::new(r"line \d+ of \S+").unwrap();
    let ids = [("AH00114", 1), ("AH00508", 1), ("AH00514", 1)];
    assert_same_error_lines(&mut pair, &ids, &|l| {
        site.replace(l, "line <n> of <file>").into_owned()
    });
}

#[test]
fn directory_and_error_document_notes_log_like_apache() {
    require_apache2();
    let family = parse_family(
        "@@ config\nLogLevel info\n<Directory @DOCROOT@/noslash>\n    DirectorySlash Off\n    Options -Indexes\n</Directory>\n\
         <Directory @DOCROOT@/slash>\n    Options -Indexes\n</Directory>\n\
         ErrorDocument 401 http://example.test/login\n\
         @@ file noslash/b.txt\nb\n@@ file slash/b.txt\nb\n",
    );
    let mut pair = Pair::start(&family);
    for path in ["/noslash", "/slash/"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (theirs, ours) = pair.exchange(request.as_bytes());
        let status = |r: &[u8]| String::from_utf8_lossy(&r[..r.len().min(12)]).into_owned();
        assert_eq!(status(&ours), status(&theirs), "{path}");
    }
    let site = regex::Regex::new(r"\S+:\d+ cannot use").unwrap();
    let ids = [("AH01276", 2), ("AH00113", 1)];
    assert_same_error_lines(&mut pair, &ids, &|l| {
        site.replace(l, "<file>:<line> cannot use").into_owned()
    });
}

#[test]
fn error_log_messages_are_escaped_like_apaches() {
    // A request's text reaches a message (the file name, the Referer) escaped, never as lines
    // of its own: control characters named, backslashes doubled, high bytes in hex.
    require_apache2();
    let family = parse_family("@@ config\nLogLevel info\n@@ file a.txt\na\n");
    let mut pair = Pair::start(&family);
    pair.exchange(
        b"GET /a%0a%5bfake%5d%09tab%5c%c3%a9 HTTP/1.1\r\nHost: x\r\nReferer: http://r/\\x\r\nConnection: close\r\n\r\n",
    );
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    let a = error_lines(pair.their_site.dir.path(), "AH00128");
    let b = error_lines(pair.our_site.dir.path(), "AH00128");
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].contains("\\n[fake]\\ttab"), "{a:?}");
    assert_eq!(a, b);
}

#[test]
fn remoteip_clients_reach_both_logs_as_apaches_do() {
    // `%a` and `%h` follow the client mod_remoteip takes from X-Forwarded-For, `%{c}a` and
    // `%{c}h` stay the connection's; `%{remote}p` is then 0. A request refused before
    // mod_remoteip ran keeps the connection's client. The error log names the new client
    // from the moment it is taken (a 404's AH00128, the walk's trace) and the old one before.
    require_apache2();
    let family = parse_family(
        "@@ config\nLogLevel info remoteip:trace1\n\
         RemoteIPHeader X-Forwarded-For\nRemoteIPProxiesHeader X-Forwarded-By\n\
         LogFormat \"%a|%{c}a|%h|%{c}h|%{remote}p|%{X-Forwarded-For}i|%{X-Forwarded-By}i|%{remoteip-proxy-ip-list}n|%r|%>s\" ua\n\
         CustomLog @SERVERROOT@/logs/ua.log ua\n\
         @@ file a.txt\na\n",
    );
    let mut pair = Pair::start(&family);
    let (their_port, our_port) = (pair.their_port, pair.our_port);
    for request in [
        &b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"[..],
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 8.8.8.8\r\nConnection: close\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 9.9.9.9, 10.0.0.1, 8.8.4.4\r\nConnection: close\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 8.8.8.8, 1.2.3.4\r\nConnection: close\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 8.8.8.8, bad!name\r\nConnection: close\r\n\r\n",
        b"GET /missing HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 2001:db8::7\r\nConnection: close\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nX-Forwarded-For: 8.8.8.8\r\nConnection: close\r\n\r\n",
        b"BAD\r\nX-Forwarded-For: 8.8.8.8\r\n\r\n",
    ] {
        pair.exchange(request);
    }
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    let a = normalized(pair.their_site.dir.path(), their_port, "ua.log");
    let b = normalized(pair.our_site.dir.path(), our_port, "ua.log");
    // The connection's port is the client's own, different each time: set aside.
    let port = regex::Regex::new(r"^([^|]*\|[^|]*\|[^|]*\|[^|]*\|)[1-9]\d*\|").unwrap();
    let ports = |lines: Vec<String>| -> Vec<String> {
        lines
            .iter()
            .map(|l| port.replace(l, "${1}<port>|").into_owned())
            .collect()
    };
    let (a, b) = (ports(a), ports(b));
    assert_eq!(a.len(), 8, "{a:#?}");
    assert!(
        a[1].starts_with("8.8.8.8|127.0.0.1|8.8.8.8|127.0.0.1|0|"),
        "{a:#?}"
    );
    assert_eq!(a, b);
    for needle in ["AH01568", "AH01569", "as client's IP", "AH00128"] {
        let a = error_lines(pair.their_site.dir.path(), needle);
        let b = error_lines(pair.our_site.dir.path(), needle);
        assert!(!a.is_empty(), "{needle}: apache2 logged none");
        assert_eq!(a, b, "{needle}");
    }
}

/// A local ErrorDocument for a 403 from a deeper directory that adds no configuration of its
/// own: Apache takes the error document's configuration for the same one and does not check
/// (nor log) access again.
#[test]
fn an_error_document_under_the_same_configuration_is_not_refused_again() {
    require_apache2();
    let family = parse_family(
        "@@ config\nLogLevel info\n<Directory @DOCROOT@/h>\n    AllowOverride All\n</Directory>\n\
         @@ file h/.htaccess\nDeny from all\nErrorDocument 403 /h/missing-page.html\n\
         @@ file h/sub/d.txt\nd\n",
    );
    let mut pair = Pair::start(&family);
    let (theirs, ours) = pair.normalized_exchange(
        b"GET /h/sub/d.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        &[],
    );
    assert_eq!(ours, theirs);
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    let a = error_lines(pair.their_site.dir.path(), "AH01797");
    let b = error_lines(pair.our_site.dir.path(), "AH01797");
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(a, b);
}

#[test]
fn the_tracking_cookie_is_logged_as_apache_logs_it() {
    require_apache2();
    let diffs = logs_of(
        "@@ config\n\
         CookieTracking on\n\
         CookieName track\n\
         CustomLog @SERVERROOT@/logs/cookie.log \"%{cookie}n|%r\"\n\
         @@ file a.txt\na\n",
        &[
            b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nCookie: x=1; track=abc.123\r\nConnection: close\r\n\r\n",
            b"GET /missing HTTP/1.1\r\nHost: localhost\r\nCookie: track=second\r\nConnection: close\r\n\r\n",
            b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nCookie: tracker=1\r\nConnection: close\r\n\r\n",
        ],
        &["cookie.log"],
    );
    let (theirs, ours) = &diffs[0];
    assert_eq!(theirs.len(), 3, "{theirs:?}");
    // A new cookie's value is random: only its shape is compared.
    let shape = regex::Regex::new(r"^[0-9a-f]+\.[0-9a-f]{13}\|").unwrap();
    let masked = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .map(|l| shape.replace(l, "<new>|").into_owned())
            .collect()
    };
    assert_eq!(masked(theirs), masked(ours));
    assert!(masked(ours)[2].starts_with("<new>|"), "{ours:?}");
}

#[test]
fn dbm_and_owner_authorization_failures_log_like_apache() {
    require_apache2();
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/http/auth_dbm.cases"),
    )
    .unwrap();
    let family = parse_family(&text);
    let mut pair = Pair::start(&family);
    for case in &family.cases {
        pair.exchange(&case.request);
    }
    let port_of = |root: &Path| root.display().to_string();
    let (theirs, ours) = (
        port_of(pair.their_site.dir.path()),
        port_of(pair.our_site.dir.path()),
    );
    assert_same_error_lines(
        &mut pair,
        &[
            ("AH10285", 2),
            ("AH01798", 1),
            ("AH01801", 2),
            ("AH01805", 1),
            ("AH01637", 1),
            ("AH01634", 1),
        ],
        &|line: &str| line.replace(&theirs, "<root>").replace(&ours, "<root>"),
    );
}

#[test]
fn forensic_logs_match_apache() {
    require_apache2();
    let diffs = logs_of(
        "@@ config\n\
         ForensicLog @SERVERROOT@/logs/forensic.log\n\
         CustomLog @SERVERROOT@/logs/ids.log \"%{forensic-id}n %r\"\n\
         ErrorDocument 404 /missing.txt\n\
         @@ file a.txt\na\n@@ file missing.txt\nnot here\n",
        &[
            b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nUser-Agent: with|pipe:colon%percent \xc3\xa9\r\nConnection: close\r\n\r\n",
            b"GET /none?x=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            b"POST /a.txt HTTP/1.0\r\nContent-Length: 2\r\n\r\nab",
            b"GARBAGE\r\n\r\n",
        ],
        &["forensic.log", "ids.log"],
    );
    // The ids are mod_unique_id's, new for every request: the same shape, each + with its -.
    let id = regex::Regex::new(r"^([+-]?)[A-Za-z0-9_-]{27}").unwrap();
    let mask = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .map(|l| id.replace(l, "${1}<id>").into_owned())
            .collect()
    };
    for (theirs, ours) in &diffs {
        assert!(!theirs.is_empty());
        assert_eq!(mask(theirs), mask(ours));
    }
    let forensic = &diffs[0].1;
    for line in forensic.iter().filter(|l| l.starts_with('+')) {
        let id = &line[1..line.find('|').unwrap()];
        assert!(
            forensic.contains(&format!("-{id}")),
            "{id} has no end: {forensic:?}"
        );
    }
}
