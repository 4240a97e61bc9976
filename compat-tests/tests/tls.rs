//! mod_ssl diffed against apache2's: the same configuration and certificates (made here with
//! openssl) under both servers, the same TLS clients (rustls, offering what each case says),
//! and the answers compared: the handshake (protocol, suite, the certificate sent), the HTTP
//! response with the SSL variables mod_headers and expressions see, the access log's SSL
//! items, the error log's mod_ssl lines, and the configuration errors of bad key and
//! certificate files.

use std::fs;
use std::path::Path;
use std::time::Duration;

use compat_tests::http::{mask_port, normalize_response, parse_family, Pair};
use compat_tests::require_apache2;
use compat_tests::tls::{exchange, make_pki, Answer, Offer, Pki};

const SITE: &str = r#"@@ config
LogFormat "%h \"%r\" %>s %b proto=%{SSL_PROTOCOL}x cipher=%{SSL_CIPHER}x https=%{HTTPS}x resumed=%{SSL_SESSION_RESUMED}x sdn=\"%{SSL_SERVER_S_DN}x\" cdn=\"%{SSL_CLIENT_S_DN}x\" verify=%{SSL_CLIENT_VERIFY}x sni=%{SSL_TLS_SNI}x v=%v c=%{version}c|%{cipher}c|%{subjectdn}c" tls
CustomLog @SERVERROOT@/logs/tls.log tls
SSLSessionCache shmcb:@SERVERROOT@/logs/scache(512000)
DirectoryIndex index.html
<VirtualHost *:@PORT@>
    ServerName a.test
    SSLEngine on
    SSLCertificateFile @PKI@/a.crt
    SSLCertificateKeyFile @PKI@/a.key
    SSLCACertificateFile @PKI@/ca.crt
    SSLVerifyClient optional
    Header always set X-SSL "%{SSL_PROTOCOL}s|%{SSL_CIPHER}s|%{SSL_CIPHER_USEKEYSIZE}s|%{SSL_SERVER_S_DN}s|%{SSL_SERVER_S_DN_CN}s|%{SSL_SERVER_I_DN}s|%{SSL_SERVER_M_VERSION}s|%{SSL_SERVER_M_SERIAL}s|%{SSL_SERVER_V_START}s|%{SSL_SERVER_V_END}s|%{SSL_SERVER_A_SIG}s|%{SSL_SERVER_A_KEY}s|%{SSL_CLIENT_VERIFY}s|%{SSL_CLIENT_S_DN}s|%{SSL_CLIENT_I_DN_CN}s|%{SSL_TLS_SNI}s|%{HTTPS}s|%{SSL_SESSION_RESUMED}s"
    Header always set X-Expr "expr=%{SSL:SSL_PROTOCOL}|%{HTTPS}|%{SSL_CLIENT_VERIFY}|%{REQUEST_SCHEME}"
    <Location /env>
        SSLOptions +StdEnvVars
        Header always set X-Env "%{HTTPS}e|%{SSL_PROTOCOL}e|%{SSL_CLIENT_S_DN_CN}e|%{SSL_SERVER_S_DN_O}e|%{SSL_SERVER_S_DN_Email}e|%{SSL_TLS_SNI}e|%{SSL_CIPHER_ALGKEYSIZE}e|%{SSL_CLIENT_VERIFY}e"
    </Location>
    <Location /bare>
        Header always set X-Env "%{HTTPS}e|%{SSL_PROTOCOL}e|%{SSL_TLS_SNI}e"
    </Location>
    <Location /need-ssl>
        SSLRequireSSL
    </Location>
    <Location /tls12-only>
        SSLRequire %{SSL_PROTOCOL} == "TLSv1.2"
    </Location>
    <Location /require-ssl>
        Require ssl
    </Location>
    <Location /require-expr>
        Require expr "%{SSL:SSL_PROTOCOL} =~ /^TLSv1/ && %{HTTPS} == 'on'"
    </Location>
    <Location /require-verified>
        Require ssl-verify-client
    </Location>
    <If "%{HTTPS} == 'on'">
        Header always set X-If "tls"
    </If>
</VirtualHost>
<VirtualHost *:@PORT@>
    ServerName b.test
    SSLEngine on
    SSLCertificateFile @PKI@/b.crt
    SSLCertificateKeyFile @PKI@/b.key
    Header always set X-SSL "%{SSL_PROTOCOL}s|%{SSL_CIPHER}s|%{SSL_SERVER_S_DN}s|%{SSL_SERVER_A_KEY}s|%{SSL_SERVER_A_SIG}s"
</VirtualHost>
@@ file index.html
<p>hello</p>
"#;

const STRICT: &str = r#"@@ config
SSLSessionCache shmcb:@SERVERROOT@/logs/scache(512000)
DirectoryIndex index.html
<VirtualHost *:@PORT@>
    ServerName a.test
    SSLEngine on
    SSLProtocol -all +TLSv1.2
    SSLCipherSuite ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305
    SSLHonorCipherOrder on
    SSLCertificateFile @PKI@/a.crt
    SSLCertificateKeyFile @PKI@/a.key
    SSLCACertificateFile @PKI@/ca.crt
    SSLVerifyClient require
    SSLVerifyDepth 2
    Header always set X-SSL "%{SSL_PROTOCOL}s|%{SSL_CIPHER}s|%{SSL_CLIENT_VERIFY}s|%{SSL_CLIENT_S_DN}s|%{SSL_CLIENT_M_SERIAL}s|%{SSL_CLIENT_A_KEY}s"
    SSLUserName SSL_CLIENT_S_DN_CN
    LogFormat "%u %>s %{SSL_CIPHER}x" user
    CustomLog @SERVERROOT@/logs/user.log user
</VirtualHost>
@@ file index.html
<p>hello</p>
"#;

const NO_CA: &str = r#"@@ config
<VirtualHost *:@PORT@>
    ServerName a.test
    SSLEngine on
    SSLCertificateFile @PKI@/a.crt
    SSLCertificateKeyFile @PKI@/a.key
    SSLVerifyClient optional_no_ca
    SSLCipherSuite TLSv1.3 TLS_CHACHA20_POLY1305_SHA256
    Header always set X-SSL "%{SSL_CLIENT_VERIFY}s|%{SSL_CLIENT_S_DN}s|%{SSL_CIPHER}s"
</VirtualHost>
"#;

const REVOCATION: &str = r#"@@ config
<VirtualHost *:@PORT@>
    ServerName a.test
    SSLEngine on
    SSLCertificateFile @PKI@/a.crt
    SSLCertificateKeyFile @PKI@/a.key
    SSLCACertificateFile @PKI@/ca.crt
    SSLCARevocationFile @PKI@/ca.crl
    SSLCARevocationCheck @CHECK@
    SSLVerifyClient require
    Header always set X-SSL "%{SSL_CLIENT_VERIFY}s|%{SSL_CLIENT_S_DN_CN}s"
</VirtualHost>
"#;

fn family(text: &str, pki: &Pki) -> compat_tests::http::Family {
    parse_family(&text.replace("@PKI@", &pki.dir.path().display().to_string()))
}

fn get(path: &str, host: Option<&str>) -> Vec<u8> {
    let host = host.map_or(String::new(), |h| format!("Host: {h}\r\n"));
    format!("GET {path} HTTP/1.1\r\n{host}Connection: close\r\n\r\n").into_bytes()
}

/// One case: the same offer and request to both servers, the answers compared.
fn compare(pair: &Pair, name: &str, offer: &Offer, request: &[u8], out: &mut Vec<String>) {
    let theirs = exchange(pair.their_port, offer, request);
    let ours = exchange(pair.our_port, offer, request);
    let shown = |a: &Answer, port: u16| {
        format!(
            "{}\n{}",
            a.handshake,
            mask_port(&normalize_response(&a.response, &[]), port)
        )
    };
    let (a, b) = (shown(&theirs, pair.their_port), shown(&ours, pair.our_port));
    if std::env::var("TLS_SHOW").is_ok() {
        println!("{name}:\n{a}\n");
    }
    if a != b {
        out.push(format!("{name}:\n--- apache2\n{a}\n--- rhttpd\n{b}"));
    }
}

fn client(pki: &Pki, name: &str) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    Some((
        pki.path(&format!("{name}.crt")),
        pki.path(&format!("{name}.key")),
    ))
}

/// A log's lines with time, pids, ports and the site's root set aside; only mod_ssl's lines
/// of the error log.
fn log_lines(root: &Path, port: u16, name: &str, needle: &str) -> Vec<String> {
    let text = fs::read_to_string(root.join("logs").join(name)).unwrap_or_default();
    let stamp = regex::Regex::new(r"^\[[^\]]+\] ").unwrap();
    let ids = regex::Regex::new(r"\[pid \d+(:tid \d+)?\] ").unwrap();
    let client = regex::Regex::new(r"\[client 127\.0\.0\.1:\d+\] ").unwrap();
    text.lines()
        .filter(|l| l.contains(needle))
        .map(|l| {
            let l = stamp.replace(l, "");
            let l = ids.replace(&l, "");
            let l = client.replace(&l, "[client] ");
            mask_port(&l.replace(&root.display().to_string(), "<root>"), port)
        })
        .collect()
}

/// One log of both servers (its lines with `needle`), compared.
fn compare_log(pair: &Pair, log: &str, needle: &str, out: &mut Vec<String>) {
    let a = log_lines(pair.their_site.dir.path(), pair.their_port, log, needle);
    let b = log_lines(pair.our_site.dir.path(), pair.our_port, log, needle);
    // Debian's mod_ssl was built against a newer OpenSSL than it runs with (AH01882).
    let mut a: Vec<String> = a.into_iter().filter(|l| !l.contains("AH01882")).collect();
    // apache2 -X initialises mod_ssl twice at start (its two configuration passes), so its
    // start-up warnings come twice; rhttpd gives them once.
    if log == "error_log" {
        a.dedup();
    }
    if a != b {
        out.push(format!(
            "{log}:\n--- apache2\n{}\n--- rhttpd\n{}",
            a.join("\n"),
            b.join("\n")
        ));
    }
}

#[test]
fn tls_answers_match_apache() {
    require_apache2();
    let pki = make_pki();
    let mut pair = Pair::start(&family(SITE, &pki));
    let mut mismatches = Vec::new();
    let with = |sni: Option<&str>| Offer {
        sni: sni.map(str::to_string),
        ..Offer::default()
    };
    let cases: Vec<(&str, Offer, Vec<u8>)> = vec![
        ("sni a.test", with(Some("a.test")), get("/", Some("a.test"))),
        ("sni b.test", with(Some("b.test")), get("/", Some("b.test"))),
        ("no sni, host a.test", with(None), get("/", Some("a.test"))),
        ("no sni, host b.test", with(None), get("/", Some("b.test"))),
        (
            "sni a.test, host b.test",
            with(Some("a.test")),
            get("/", Some("b.test")),
        ),
        (
            "sni b.test, host a.test",
            with(Some("b.test")),
            get("/", Some("a.test")),
        ),
        (
            "sni unknown",
            with(Some("unknown.test")),
            get("/", Some("unknown.test")),
        ),
        (
            "sni unknown, host b.test",
            with(Some("unknown.test")),
            get("/", Some("b.test")),
        ),
        (
            "sni, no host",
            with(Some("a.test")),
            b"GET / HTTP/1.0\r\n\r\n".to_vec(),
        ),
        (
            "tls 1.2",
            Offer {
                versions: vec!["1.2"],
                ..with(Some("a.test"))
            },
            get("/", Some("a.test")),
        ),
        (
            "tls 1.2 chacha",
            Offer {
                versions: vec!["1.2"],
                suites: vec![
                    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                ],
                ..with(Some("b.test"))
            },
            get("/", Some("b.test")),
        ),
        (
            "tls 1.3 aes128",
            Offer {
                suites: vec!["TLS13_AES_128_GCM_SHA256"],
                ..with(Some("a.test"))
            },
            get("/", Some("a.test")),
        ),
        ("env", with(Some("a.test")), get("/env", Some("a.test"))),
        (
            "env without StdEnvVars",
            with(Some("a.test")),
            get("/bare", Some("a.test")),
        ),
        (
            "env with a client certificate",
            Offer {
                client_cert: client(&pki, "client"),
                ..with(Some("a.test"))
            },
            get("/env", Some("a.test")),
        ),
        (
            "client certificate",
            Offer {
                client_cert: client(&pki, "client"),
                ..with(Some("a.test"))
            },
            get("/", Some("a.test")),
        ),
        (
            "client certificate of another CA",
            Offer {
                client_cert: client(&pki, "stranger"),
                ..with(Some("a.test"))
            },
            get("/", Some("a.test")),
        ),
        (
            "Require ssl",
            with(Some("a.test")),
            get("/require-ssl", Some("a.test")),
        ),
        (
            "Require expr reading SSL variables",
            with(Some("a.test")),
            get("/require-expr", Some("a.test")),
        ),
        (
            "Require ssl-verify-client without a certificate",
            with(Some("a.test")),
            get("/require-verified", Some("a.test")),
        ),
        (
            "Require ssl-verify-client with a certificate",
            Offer {
                client_cert: client(&pki, "client"),
                ..with(Some("a.test"))
            },
            get("/require-verified", Some("a.test")),
        ),
        (
            "SSLRequireSSL over TLS",
            with(Some("a.test")),
            get("/need-ssl", Some("a.test")),
        ),
        (
            "SSLRequire refused",
            with(Some("a.test")),
            get("/tls12-only", Some("a.test")),
        ),
        (
            "SSLRequire granted",
            Offer {
                versions: vec!["1.2"],
                ..with(Some("a.test"))
            },
            get("/tls12-only", Some("a.test")),
        ),
    ];
    for (name, offer, request) in &cases {
        compare(&pair, name, offer, request, &mut mismatches);
    }
    // Plain HTTP on the TLS port.
    for request in [
        get("/index.html", Some("b.test")),
        b"POST /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nabc".to_vec(),
    ] {
        let (a, b) = pair.normalized_exchange(&request, &[]);
        if a != b {
            mismatches.push(format!("plain HTTP:\n--- apache2\n{a}\n--- rhttpd\n{b}"));
        }
    }
    std::thread::sleep(Duration::from_millis(1000));
    pair.stop();
    compare_log(&pair, "tls.log", "", &mut mismatches);
    compare_log(&pair, "error_log", "[ssl:", &mut mismatches);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

#[test]
fn protocols_suites_and_required_client_certificates_match_apache() {
    require_apache2();
    let pki = make_pki();
    let mut pair = Pair::start(&family(STRICT, &pki));
    let mut mismatches = Vec::new();
    let certified = Offer {
        sni: Some("a.test".into()),
        client_cert: client(&pki, "client"),
        ..Offer::default()
    };
    let cases: Vec<(&str, Offer)> = vec![
        ("TLS 1.2 with the server's order", certified.clone()),
        (
            "client prefers AES-256",
            Offer {
                suites: vec![
                    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                ],
                ..certified.clone()
            },
        ),
        (
            "only suites the server refuses",
            Offer {
                suites: vec!["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"],
                ..certified.clone()
            },
        ),
        (
            "TLS 1.3 only",
            Offer {
                versions: vec!["1.3"],
                ..certified.clone()
            },
        ),
        (
            "no client certificate",
            Offer {
                client_cert: None,
                ..certified.clone()
            },
        ),
        (
            "client of another CA",
            Offer {
                client_cert: client(&pki, "stranger"),
                ..certified.clone()
            },
        ),
    ];
    for (name, offer) in &cases {
        compare(
            &pair,
            name,
            offer,
            &get("/", Some("a.test")),
            &mut mismatches,
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    compare_log(&pair, "user.log", "", &mut mismatches);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

#[test]
fn optional_no_ca_reports_what_it_did_not_verify_as_apache_does() {
    require_apache2();
    let pki = make_pki();
    let pair = Pair::start(&family(NO_CA, &pki));
    let mut mismatches = Vec::new();
    for who in ["stranger", "client"] {
        let offer = Offer {
            sni: Some("a.test".into()),
            client_cert: client(&pki, who),
            ..Offer::default()
        };
        compare(
            &pair,
            who,
            &offer,
            &get("/", Some("a.test")),
            &mut mismatches,
        );
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

#[test]
fn revoked_client_certificates_are_refused_as_apache_refuses_them() {
    require_apache2();
    let pki = make_pki();
    let mut mismatches = Vec::new();
    for check in ["chain", "leaf", "none"] {
        let pair = Pair::start(&family(&REVOCATION.replace("@CHECK@", check), &pki));
        for who in ["client", "revoked"] {
            let offer = Offer {
                sni: Some("a.test".into()),
                client_cert: client(&pki, who),
                ..Offer::default()
            };
            let name = format!("{who}, SSLCARevocationCheck {check}");
            compare(
                &pair,
                &name,
                &offer,
                &get("/", Some("a.test")),
                &mut mismatches,
            );
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

#[test]
fn encrypted_keys_open_with_the_pass_phrase_program_as_in_apache() {
    require_apache2();
    let pki = make_pki();
    let config = |program: &str| {
        format!(
            "@@ config\nSSLPassPhraseDialog exec:@PKI@/{program}\n<VirtualHost *:@PORT@>\nServerName a.test\nSSLEngine on\nSSLCertificateFile @PKI@/a.crt\nSSLCertificateKeyFile @PKI@/a-enc.key\n</VirtualHost>\n@@ file index.html\nok\n"
        )
    };
    let mut mismatches = Vec::new();
    {
        let pair = Pair::start(&family(&config("pass.sh"), &pki));
        compare(
            &pair,
            "opened",
            &Offer::sni("a.test"),
            &get("/", Some("a.test")),
            &mut mismatches,
        );
    }
    // Both asked the program the same: the server's name:port and the key's type.
    let asked = fs::read_to_string(pki.path("pass.sh.args")).unwrap_or_default();
    let lines: Vec<&str> = asked.lines().collect();
    assert!(
        !lines.is_empty() && lines.iter().all(|l| *l == "a.test:443 RSA"),
        "{asked}"
    );
    // A wrong pass phrase: neither starts.
    let wrong =
        parse_family(&config("wrong.sh").replace("@PKI@", &pki.dir.path().display().to_string()));
    let port = compat_tests::http::free_port();
    let their_site = compat_tests::http::make_site(&wrong, port);
    let our_site = compat_tests::http::make_site(&wrong, port);
    let theirs = verdict(Path::new("/usr/sbin/apache2"), &their_site, "-X", &pki);
    let ours = verdict(&compat_tests::rhttpd_bin(), &our_site, "-X", &pki);
    if theirs != ours {
        mismatches.push(format!(
            "wrong pass phrase:\n  apache2: {theirs:?}\n  rhttpd:  {ours:?}"
        ));
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

/// What a server said of a configuration: whether `-t` passed (or the start went on), and
/// the AH numbers and setter message it gave.
type Verdict = (bool, Vec<String>, String);

/// `-t`, or a start stopped at once (only its failure is of interest).
fn verdict(program: &Path, site: &compat_tests::http::Site, mode: &str, pki: &Pki) -> Verdict {
    let root = site.dir.path();
    let mut child = std::process::Command::new(program)
        .args([mode, "-d", &root.display().to_string(), "-f"])
        .arg(root.join("httpd.conf"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ok = if mode == "-t" {
        child.wait().unwrap().success()
    } else {
        std::thread::sleep(Duration::from_millis(700));
        let running = child.try_wait().unwrap().is_none();
        compat_tests::stop_child(&mut child);
        running
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    let log = fs::read_to_string(root.join("logs/error_log")).unwrap_or_default();
    let text = format!("{stderr}{log}");
    // mod_ssl's own numbers, and the configuration failure's; not the library's banner
    // (AH01882) or lines every start logs.
    let wanted =
        regex::Regex::new(r"AH0(2572|2565|2562|2564|2579|2580|2312|0016|2231|1898|0526|1958)")
            .unwrap();
    let mut said: Vec<String> = wanted
        .find_iter(&text)
        .map(|m| m.as_str().to_string())
        .collect();
    said.sort();
    said.dedup();
    let setter = text
        .lines()
        .find(|l| l.starts_with("SSL") || l.contains("Argument must"))
        .map(|l| {
            l.replace(&root.display().to_string(), "<root>")
                .replace(&pki.dir.path().display().to_string(), "<pki>")
        })
        .unwrap_or_default();
    (ok, said, setter)
}

/// `-t` and a start with each bad file or setting: both refuse, with mod_ssl's messages.
#[test]
fn bad_keys_and_certificates_fail_as_apache_does() {
    require_apache2();
    let pki = make_pki();
    let p = |name: &str| pki.path(name).display().to_string();
    fs::write(pki.path("garbage.crt"), "not a certificate\n").unwrap();
    fs::write(pki.path("empty.crt"), "").unwrap();
    let pair = |crt: &str, key: &str| {
        format!(
            "SSLCertificateFile {}\nSSLCertificateKeyFile {}",
            p(crt),
            p(key)
        )
    };
    let cases = [
        ("missing certificate file", pair("nope.crt", "a.key")),
        ("empty certificate file", pair("empty.crt", "a.key")),
        ("no certificate", String::new()),
        ("key of another certificate", pair("a.crt", "mismatch.key")),
        ("garbage certificate", pair("garbage.crt", "a.key")),
        (
            "no key anywhere",
            format!("SSLCertificateFile {}", p("a.crt")),
        ),
        (
            "no protocol left",
            format!("{}\nSSLProtocol -all", pair("a.crt", "a.key")),
        ),
        (
            "bad protocol word",
            format!("{}\nSSLProtocol all -TLSv9", pair("a.crt", "a.key")),
        ),
        (
            "bad verify level",
            format!("{}\nSSLVerifyClient maybe", pair("a.crt", "a.key")),
        ),
        (
            "cache without its module",
            "SSLSessionCache dbm:/tmp/x".to_string(),
        ),
        (
            "Require ssl with an argument",
            format!(
                "{}\n<Location />\nRequire ssl yes\n</Location>",
                pair("a.crt", "a.key")
            ),
        ),
        (
            "cipher string matching nothing",
            format!("{}\nSSLCipherSuite NOTHING-AT-ALL", pair("a.crt", "a.key")),
        ),
        (
            "stapling without a stapling cache",
            format!("{}\nSSLUseStapling on", pair("a.crt", "a.key")),
        ),
        (
            "a negative stapling timeout",
            format!("{}\nSSLStaplingResponderTimeout -1", pair("a.crt", "a.key")),
        ),
        (
            // mod_ssl sets up the last virtual host first: its error is the one reported.
            "two broken hosts",
            format!(
                "{}\n</VirtualHost>\n<VirtualHost *:@PORT@>\nServerName b.test\nSSLEngine on\n{}",
                pair("a.crt", "mismatch.key"),
                pair("nope.crt", "a.key")
            ),
        ),
    ];
    let mut mismatches = Vec::new();
    for (name, lines) in cases {
        let family = parse_family(&format!(
            "@@ config\n<VirtualHost *:@PORT@>\nServerName a.test\nSSLEngine on\n{lines}\n</VirtualHost>\n"
        ));
        let port = compat_tests::http::free_port();
        let their_site = compat_tests::http::make_site(&family, port);
        let our_site = compat_tests::http::make_site(&family, port);
        for mode in ["-t", "-X"] {
            let theirs = verdict(Path::new("/usr/sbin/apache2"), &their_site, mode, &pki);
            let ours = verdict(&compat_tests::rhttpd_bin(), &our_site, mode, &pki);
            if theirs != ours {
                mismatches.push(format!(
                    "{name} ({mode}):\n  apache2: {theirs:?}\n  rhttpd:  {ours:?}"
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// OCSP stapling: each site's certificate names a responder (Debian's `openssl ocsp`, started
/// here), a dead address, or none; its issuer comes in a chain file, the CA file, or not at
/// all. The status each server staples, asked for by `openssl s_client -status` twice (the
/// second from the stapling cache), and the errors each logs are compared.
fn stapling_config(pki: &Path, responder: u16) -> String {
    let hosts: [(&str, &str, &str); 8] = [
        ("good", "SSLCertificateChainFile", ""),
        ("revoked", "SSLCACertificateFile", ""),
        ("dead", "SSLCertificateChainFile", ""),
        (
            "quiet",
            "SSLCertificateChainFile",
            "SSLStaplingFakeTryLater off",
        ),
        (
            "strict",
            "SSLCertificateChainFile",
            "SSLStaplingReturnResponderErrors off",
        ),
        ("none", "SSLCertificateChainFile", ""),
        (
            "forced",
            "SSLCertificateChainFile",
            "SSLStaplingForceURL http://127.0.0.1:@RESPONDER@/",
        ),
        ("orphan", "", ""),
    ];
    let mut config = String::from(
        "@@ config\nSSLStaplingCache shmcb:@SERVERROOT@/logs/stapling(128000)\nSSLUseStapling on\n",
    );
    let p = pki.display();
    for (name, issuer, extra) in hosts {
        config.push_str(&format!(
            "<VirtualHost *:@PORT@>\nServerName {name}.test\nSSLEngine on\n\
             SSLCertificateFile {p}/{name}.crt\nSSLCertificateKeyFile {p}/{name}.key\n"
        ));
        if !issuer.is_empty() {
            config.push_str(&format!("{issuer} {p}/ca.crt\n"));
        }
        config.push_str(&format!("{extra}\n</VirtualHost>\n"));
    }
    config.replace("@RESPONDER@", &responder.to_string())
}

/// A CA and its leaves for the stapling case: `good` and `forced` valid in the responder's
/// index, `revoked` revoked, `dead`, `quiet` and `strict` naming a port nobody answers,
/// `none` and `forced` naming no responder, `orphan` whose issuer no file gives.
/// Returns the directory and the responder's port.
fn stapling_pki() -> (tempfile::TempDir, u16) {
    use compat_tests::tls::{issue, make_ca, openssl};
    let (responder, dead) = (
        compat_tests::http::free_port(),
        compat_tests::http::free_port(),
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_ca(d, "/CN=Stapling Test CA");
    std::fs::write(
        d.join("ca.cnf"),
        "[ca]\ndefault_ca = own\n[own]\ndatabase = index.txt\ndefault_md = sha256\n",
    )
    .unwrap();
    std::fs::write(d.join("index.txt"), "").unwrap();
    let live = format!("http://127.0.0.1:{responder}/");
    let gone = format!("http://127.0.0.1:{dead}/ocsp");
    let leaves = [
        ("good", Some(&live)),
        ("revoked", Some(&live)),
        ("dead", Some(&gone)),
        ("quiet", Some(&gone)),
        ("strict", Some(&gone)),
        ("none", None),
        ("forced", None),
        ("orphan", Some(&live)),
    ];
    for (name, aia) in leaves {
        let mut extensions = format!("subjectAltName=DNS:{name}.test\n");
        if let Some(uri) = aia {
            extensions.push_str(&format!("authorityInfoAccess=OCSP;URI:{uri}\n"));
        }
        issue(
            d,
            name,
            &["rsa:2048"],
            &format!("/CN={name}.test"),
            &extensions,
        );
    }
    let ca = [
        "ca", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.crt",
    ];
    openssl(d, &[&ca[..], &["-valid", "good.crt"]].concat());
    openssl(d, &[&ca[..], &["-valid", "forced.crt"]].concat());
    openssl(
        d,
        &[
            &ca[..],
            &["-revoke", "revoked.crt", "-crl_reason", "keyCompromise"],
        ]
        .concat(),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(d).unwrap().flatten() {
        let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o644));
    }
    (dir, responder)
}

/// Both servers' mod_ssl lines at `level`, each line once: apache2 configures mod_ssl twice
/// at start.
fn ssl_lines(pair: &Pair, level: &str) -> (Vec<String>, Vec<String>) {
    let once = |root: &Path, port: u16| {
        let mut unique = Vec::new();
        for line in log_lines(root, port, "error_log", &format!("[ssl:{level}]")) {
            if !line.contains("AH01882") && !unique.contains(&line) {
                unique.push(line);
            }
        }
        unique
    };
    (
        once(pair.their_site.dir.path(), pair.their_port),
        once(pair.our_site.dir.path(), pair.our_port),
    )
}

#[test]
fn stapled_ocsp_responses_match_apache() {
    use compat_tests::tls::{status_of, OcspResponder};
    require_apache2();
    let (pki, responder_port) = stapling_pki();
    let d = pki.path();
    let responder = OcspResponder::start(d, responder_port);
    let mut pair = Pair::start(&parse_family(&stapling_config(d, responder_port)));
    let mut mismatches = Vec::new();
    let names = [
        "good", "revoked", "dead", "quiet", "strict", "none", "forced", "orphan",
    ];
    let mut seen = Vec::new();
    for round in ["first", "cached"] {
        for name in names {
            let host = format!("{name}.test");
            let theirs = status_of(pair.their_port, &host);
            let ours = status_of(pair.our_port, &host);
            if theirs != ours {
                mismatches.push(format!(
                    "{name} ({round}):\n--- apache2\n{theirs}\n--- rhttpd\n{ours}"
                ));
            }
            seen.push(format!("{name} ({round}): {ours}"));
        }
    }
    pair.stop();
    drop(responder);
    let (a, b) = ssl_lines(&pair, "error");
    if a != b {
        mismatches.push(format!(
            "error_log:\n--- apache2\n{}\n--- rhttpd\n{}",
            a.join("\n"),
            b.join("\n")
        ));
    }
    // The cases mean what they say: a good and a revoked status were stapled.
    let all = format!("{}\nrhttpd's errors:\n{}", seen.join("\n"), b.join("\n"));
    assert!(all.contains("good (cached): handshake done; OCSP response:; OCSP Response Status: successful (0x0); Cert Status: good"), "{all}");
    assert!(
        all.contains("Cert Status: revoked; Revocation Reason: keyCompromise"),
        "{all}"
    );
    assert!(all.contains("trylater (0x3)"), "{all}");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

/// Under prefork, six clients held at once meet six children: each staples the response the
/// first fetched (the stapling cache is shared), so the responder is asked once, by apache2
/// and by rhttpd alike.
#[test]
fn every_prefork_child_staples_the_one_response_fetched() {
    use compat_tests::tls::{stapled_status, OcspResponder};
    require_apache2();
    let (pki, responder_port) = stapling_pki();
    let d = pki.path();
    let config = format!(
        "@@ config\nStartServers 2\nMinSpareServers 2\nMaxSpareServers 8\nMaxRequestWorkers 10\n\
         SSLStaplingCache shmcb:@SERVERROOT@/logs/stapling(128000)\nSSLUseStapling on\n\
         <VirtualHost *:@PORT@>\nServerName good.test\nSSLEngine on\n\
         SSLCertificateFile {p}/good.crt\nSSLCertificateKeyFile {p}/good.key\n\
         SSLCertificateChainFile {p}/ca.crt\n</VirtualHost>\n",
        p = d.display()
    );
    let family = parse_family(&config);
    for program in [
        std::path::PathBuf::from("/usr/sbin/apache2"),
        compat_tests::rhttpd_bin(),
    ] {
        let responder = OcspResponder::start(d, responder_port);
        let port = compat_tests::http::free_port();
        let site = compat_tests::http::make_site_with_mpm(&family, port, "prefork");
        let server = compat_tests::http::start_daemon(&program, &site, port)
            .unwrap_or_else(|e| panic!("{e}"));
        let clients: Vec<std::process::Child> = (0..6)
            .map(|_| {
                let client = std::process::Command::new("openssl")
                    .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
                    .args(["-servername", "good.test", "-status"])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .expect("openssl s_client");
                std::thread::sleep(Duration::from_millis(300));
                client
            })
            .collect();
        // Prefork starts children one a second while all are busy: time for the last client.
        std::thread::sleep(Duration::from_secs(4));
        let statuses: Vec<String> = clients
            .into_iter()
            .map(|mut client| {
                drop(client.stdin.take());
                let out = client.wait_with_output().unwrap();
                stapled_status(&String::from_utf8_lossy(&out.stdout))
            })
            .collect();
        drop(server);
        let name = program.display();
        for status in &statuses {
            assert!(
                status.ends_with("OCSP Response Status: successful (0x0); Cert Status: good"),
                "{name}: {status}"
            );
        }
        assert_eq!(
            responder.queries(),
            1,
            "{name}: the responder was asked once"
        );
    }
}
