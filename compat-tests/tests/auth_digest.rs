//! Digest handshakes against apache2 and rhttpd: each server is asked once, its challenge
//! parsed, and the client's answers computed from that server's own nonce (nonces hash each
//! server's random secret, so no fixed request can pass both; auth_digest.cases covers what
//! does not need a valid nonce). Every step is written down as the client saw it, the nonce's
//! hash set aside, and the two transcripts must match: qop=auth with a rising nc, the
//! Authentication-Info header and its rspauth, AuthDigestNcCheck's replay refusals, a stale
//! nonce after a short AuthDigestNonceLifetime, one-time nonces and their nextnonce, MD5-sess,
//! wrong passwords, unknown users, a uri mismatch, an authorization failure, a client dropped
//! from a full client table; the error logs must match too. A last test runs both under
//! prefork with several children: the client table is shared by all of them.

use std::time::Duration;

use compat_tests::backend::{send_request, Response};
use compat_tests::http::{make_site_with_mpm, parse_family, Pair, Site};
use compat_tests::{require_apache2, rhttpd_bin, stop_child};
use md5::{Digest, Md5};

const FAMILY: &str = r#"@@ config
LogLevel auth_digest:info
DirectoryIndex index.html
<Location /p>
    AuthType Digest
    AuthName private
    AuthUserFile @DOCROOT@/../users.htdigest
    Require valid-user
</Location>
<Location /nc>
    AuthType Digest
    AuthName private
    AuthDigestNcCheck On
    AuthDigestDomain /nc /p
    AuthUserFile @DOCROOT@/../users.htdigest
    Require valid-user
</Location>
<Location /short>
    AuthType Digest
    AuthName private
    AuthDigestNcCheck On
    AuthDigestNonceLifetime 1
    AuthUserFile @DOCROOT@/../users.htdigest
    Require valid-user
</Location>
<Location /once>
    AuthType Digest
    AuthName private
    AuthDigestNonceLifetime 0
    AuthUserFile @DOCROOT@/../users.htdigest
    Require valid-user
</Location>
<Location /bob>
    AuthType Digest
    AuthName private
    AuthUserFile @DOCROOT@/../users.htdigest
    Require user bob
</Location>
@@ file ../users.htdigest
alice:private:a89d29689ed8054a507c064e811e8cb8
@@ file p/a.txt
p
@@ file p/index.html
index
@@ file nc/a.txt
nc
@@ file nc/index.html
nc index
@@ file short/a.txt
short
@@ file once/a.txt
once
@@ file once/index.html
once index
@@ file bob/a.txt
bob
"#;

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `key=value` and `key="value"` pairs of a challenge or Authentication-Info.
fn params(header: &str) -> Vec<(String, String)> {
    let text = header.strip_prefix("Digest ").unwrap_or(header);
    let pattern = regex::Regex::new(r#"(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))"#).unwrap();
    pattern
        .captures_iter(text)
        .map(|c| {
            let value = c.get(2).or(c.get(3)).map_or("", |m| m.as_str());
            (c[1].to_string(), value.to_string())
        })
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A nonce with its hash set aside; its time part kept when it is a one-time nonce's number
/// (the same on both servers), else set aside too. Checks the shape on the way.
fn mask_nonce(nonce: &str) -> String {
    assert_eq!(nonce.len(), 52, "nonce {nonce}");
    assert!(
        nonce[12..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{nonce}"
    );
    let time = &nonce[..12];
    let counter = time.ends_with("AAAAAAAA=") || time.ends_with("AAAAAAA=");
    if counter {
        format!("{time}<hash>")
    } else {
        "<time><hash>".to_string()
    }
}

/// What the client sees of a challenge: every attribute, the nonce masked.
fn mask_challenge(header: &str) -> String {
    let pattern = regex::Regex::new(r#"nonce="([^"]*)""#).unwrap();
    pattern
        .replace_all(header, |c: &regex::Captures| {
            format!("nonce=\"{}\"", mask_nonce(&c[1]))
        })
        .into_owned()
}

/// One server's side of the conversation.
struct Client {
    port: u16,
    transcript: Vec<String>,
}

/// The client's knowledge of a protection space: the last challenge's nonce and opaque.
#[derive(Clone, Default)]
struct Space {
    nonce: String,
    opaque: Option<String>,
}

struct Answer<'a> {
    user: &'a str,
    password: &'a str,
    uri: Option<&'a str>,
    nc: u32,
    algorithm: Option<&'a str>,
}

impl Default for Answer<'_> {
    fn default() -> Self {
        Answer {
            user: "alice",
            password: "secret",
            uri: None,
            nc: 1,
            algorithm: None,
        }
    }
}

const CNONCE: &str = "0a4f113b";

impl Client {
    fn get(&mut self, path: &str, authorization: Option<&str>) -> Response {
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let raw =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
        send_request(self.port, raw.as_bytes())
    }

    /// Asks without credentials; the challenge's nonce and opaque.
    fn challenge(&mut self, step: &str, path: &str) -> Space {
        let response = self.get(path, None);
        self.note(step, &response, None);
        assert_eq!(response.status, 401, "{step}");
        space_of(&response).expect("a 401 carries a Digest challenge")
    }

    /// Answers a challenge; the response, noted.
    fn answer(&mut self, step: &str, path: &str, space: &Space, answer: Answer) -> Response {
        let (header, expected_rspauth) = authorization(path, space, &answer);
        let reply = self.get(path, Some(&header));
        self.note(step, &reply, Some(&expected_rspauth));
        reply
    }

    fn note(&mut self, step: &str, response: &Response, rspauth: Option<&str>) {
        let mut line = format!("{step}: {}", response.status);
        if let Some(challenge) = response.header("WWW-Authenticate") {
            line.push_str(&format!(
                " | WWW-Authenticate: {}",
                mask_challenge(challenge)
            ));
        }
        if let Some(info) = response.header("Authentication-Info") {
            let pairs = params(info);
            let shown: Vec<String> = pairs
                .iter()
                .map(|(k, v)| match k.as_str() {
                    "rspauth" if Some(v.as_str()) == rspauth => "rspauth=<valid>".to_string(),
                    "rspauth" => format!("rspauth={v} (wrong)"),
                    "nextnonce" => format!("nextnonce={}", mask_nonce(v)),
                    _ => format!("{k}={v}"),
                })
                .collect();
            line.push_str(&format!(" | Authentication-Info: {}", shown.join(", ")));
        }
        line.push_str(&format!(" | body: {:?}", response.text().lines().next()));
        self.transcript.push(line);
    }
}

/// The Authorization header answering a challenge, and the rspauth the server must send back
/// (the digest of the same values with an empty method: proof it knows the password too).
fn authorization(path: &str, space: &Space, answer: &Answer) -> (String, String) {
    let uri = answer.uri.unwrap_or(path);
    let nc = format!("{:08x}", answer.nc);
    let ha1 = md5_hex(&format!("{}:private:{}", answer.user, answer.password));
    let ha2 = md5_hex(&format!("GET:{uri}"));
    let response = md5_hex(&format!("{ha1}:{}:{nc}:{CNONCE}:auth:{ha2}", space.nonce));
    let mut header = format!(
        "Digest username=\"{}\", realm=\"private\", nonce=\"{}\", uri=\"{uri}\", \
         response=\"{response}\", qop=auth, nc={nc}, cnonce=\"{CNONCE}\"",
        answer.user, space.nonce
    );
    if let Some(opaque) = &space.opaque {
        header.push_str(&format!(", opaque=\"{opaque}\""));
    }
    if let Some(algorithm) = answer.algorithm {
        header.push_str(&format!(", algorithm={algorithm}"));
    }
    let rspauth = md5_hex(&format!(
        "{ha1}:{}:{nc}:{CNONCE}:auth:{}",
        space.nonce,
        md5_hex(&format!(":{uri}"))
    ));
    (header, rspauth)
}

fn space_of(response: &Response) -> Option<Space> {
    let pairs = params(response.header("WWW-Authenticate")?);
    Some(Space {
        nonce: param(&pairs, "nonce")?.to_string(),
        opaque: param(&pairs, "opaque").map(str::to_string),
    })
}

fn next_nonce(response: &Response) -> Option<String> {
    param(
        &params(response.header("Authentication-Info")?),
        "nextnonce",
    )
    .map(str::to_string)
}

/// The whole conversation with one server.
fn converse(port: u16) -> Vec<String> {
    let mut c = Client {
        port,
        transcript: Vec::new(),
    };
    // qop=auth, the count rising; without AuthDigestNcCheck a repeated count is let through.
    let p = c.challenge("p challenge", "/p/a.txt");
    for (step, nc) in [("p nc 1", 1), ("p nc 2", 2), ("p nc 2 again", 2)] {
        let reply = c.answer(
            step,
            "/p/a.txt",
            &p,
            Answer {
                nc,
                ..Answer::default()
            },
        );
        assert_eq!(reply.status, 200, "{step}");
    }
    let wrong = Answer {
        password: "wrong",
        ..Answer::default()
    };
    assert_eq!(
        c.answer("p wrong password", "/p/a.txt", &p, wrong).status,
        401
    );
    let carol = Answer {
        user: "carol",
        ..Answer::default()
    };
    assert_eq!(
        c.answer("p unknown user", "/p/a.txt", &p, carol).status,
        401
    );
    let elsewhere = Answer {
        uri: Some("/p/b.txt"),
        ..Answer::default()
    };
    assert_eq!(
        c.answer("p uri mismatch", "/p/a.txt", &p, elsewhere).status,
        400
    );
    // Through DirectoryIndex: the index is served by an internal redirect.
    let reply = c.answer(
        "p directory index",
        "/p/",
        &p,
        Answer {
            nc: 3,
            ..Answer::default()
        },
    );
    assert_eq!(reply.status, 200);
    let sess = Answer {
        algorithm: Some("MD5-sess"),
        ..Answer::default()
    };
    assert_eq!(c.answer("p MD5-sess", "/p/a.txt", &p, sess).status, 401);

    // AuthDigestNcCheck: a client id (opaque) with the challenge, and counts that must rise.
    let nc = c.challenge("nc challenge", "/nc/a.txt");
    assert!(
        nc.opaque.is_some(),
        "AuthDigestNcCheck hands out a client id"
    );
    let steps = [
        ("nc 1", 1, 200),
        ("nc 1 replayed", 1, 401),
        ("nc 3", 3, 200),
        ("nc 2 after 3", 2, 401),
        ("nc 4", 4, 200),
    ];
    for (step, count, status) in steps {
        let reply = c.answer(
            step,
            "/nc/a.txt",
            &nc,
            Answer {
                nc: count,
                ..Answer::default()
            },
        );
        assert_eq!(reply.status, status, "{step}");
    }
    // A failure's challenge keeps the client's id; its nonce starts a count of its own.
    let refused = c.answer(
        "nc wrong password",
        "/nc/a.txt",
        &nc,
        Answer {
            nc: 5,
            password: "x",
            ..Answer::default()
        },
    );
    let renewed = space_of(&refused).unwrap();
    assert_eq!(renewed.opaque, nc.opaque);
    let reply = c.answer("nc new nonce 1", "/nc/a.txt", &renewed, Answer::default());
    assert_eq!(reply.status, 200);
    let reply = c.answer(
        "nc older nonce 6",
        "/nc/a.txt",
        &nc,
        Answer {
            nc: 6,
            ..Answer::default()
        },
    );
    assert_eq!(
        reply.status, 401,
        "a nonce older than the client's newest is refused"
    );

    // Through DirectoryIndex with the count checked: the index's sub-request is not a second
    // answer with the same count.
    let reply = c.answer(
        "nc directory index",
        "/nc/",
        &renewed,
        Answer {
            nc: 2,
            ..Answer::default()
        },
    );
    assert_eq!(reply.status, 200);

    // Bare requests fill the client table (12 entries without AuthDigestShmemSize): a full
    // table drops the least recently used client of every bucket, this one too, whose next
    // answer is then told to retry (stale) with a new client id.
    for _ in 0..14 {
        assert_eq!(c.get("/nc/a.txt", None).status, 401);
    }
    let dropped = c.answer(
        "nc after a flood",
        "/nc/a.txt",
        &renewed,
        Answer {
            nc: 2,
            ..Answer::default()
        },
    );
    assert_eq!(dropped.status, 401);
    let again = space_of(&dropped).unwrap();
    assert_ne!(again.opaque, renewed.opaque);
    assert!(dropped
        .header("WWW-Authenticate")
        .is_some_and(|h| h.contains("stale=true")));
    let reply = c.answer("nc with the new id", "/nc/a.txt", &again, Answer::default());
    assert_eq!(reply.status, 200);

    // An authenticated user the Require line does not name: 401 with a fresh challenge.
    let bob = c.challenge("bob challenge", "/bob/a.txt");
    assert_eq!(
        c.answer("bob as alice", "/bob/a.txt", &bob, Answer::default())
            .status,
        401
    );

    // One-time nonces: each good answer brings the next nonce; a used one is stale.
    let once = c.challenge("once challenge", "/once/a.txt");
    let first = c.answer("once first", "/once/a.txt", &once, Answer::default());
    assert_eq!(first.status, 200);
    let reused = c.answer(
        "once reused",
        "/once/a.txt",
        &once,
        Answer {
            nc: 2,
            ..Answer::default()
        },
    );
    assert_eq!(reused.status, 401);
    let next = Space {
        nonce: next_nonce(&first).expect("a one-time nonce's answer carries the next"),
        ..once
    };
    let second = c.answer("once next", "/once/a.txt", &next, Answer::default());
    assert_eq!(second.status, 200);
    // The next one through DirectoryIndex: its sub-request is not a second use.
    let third = Space {
        nonce: next_nonce(&second).expect("and the next"),
        ..next
    };
    let index = c.answer("once directory index", "/once/", &third, Answer::default());
    assert_eq!(index.status, 200);

    // A nonce past its lifetime: stale=true, and the fresh one from that challenge works.
    let short = c.challenge("short challenge", "/short/a.txt");
    assert_eq!(
        c.answer("short fresh", "/short/a.txt", &short, Answer::default())
            .status,
        200
    );
    std::thread::sleep(Duration::from_millis(2200));
    let expired = c.answer(
        "short expired",
        "/short/a.txt",
        &short,
        Answer {
            nc: 2,
            ..Answer::default()
        },
    );
    assert_eq!(expired.status, 401);
    assert!(
        expired
            .header("WWW-Authenticate")
            .is_some_and(|h| h.contains("stale=true")),
        "an expired nonce is answered stale"
    );
    let fresh = space_of(&expired).unwrap();
    assert_eq!(
        c.answer("short renewed", "/short/a.txt", &fresh, Answer::default())
            .status,
        200
    );
    c.transcript
}

#[test]
fn digest_handshakes_match_apache() {
    require_apache2();
    let family = parse_family(FAMILY);
    let pair = Pair::start(&family);
    let (theirs, ours) = std::thread::scope(|s| {
        let theirs = s.spawn(|| converse(pair.their_port));
        let ours = s.spawn(|| converse(pair.our_port));
        (theirs.join().unwrap(), ours.join().unwrap())
    });
    for (a, b) in theirs.iter().zip(&ours) {
        assert_eq!(a, b, "\n--- apache2\n{a}\n--- rhttpd\n{b}");
    }
    assert_eq!(theirs.len(), ours.len());
    assert!(theirs.iter().any(|l| l.contains("rspauth=<valid>")));
    // The error logs say the same, nonces and their hashes set aside.
    let mut pair = pair;
    pair.stop();
    let nonce =
        regex::Regex::new(r"[A-Za-z0-9+/]{11}=[0-9a-f]{40}|hash is not [0-9a-f]{40}").unwrap();
    let lines = |site: &compat_tests::http::Site| -> Vec<String> {
        compat_tests::http::error_lines(site.dir.path(), "auth_digest")
            .into_iter()
            .map(|l| nonce.replace_all(&l, "<nonce>").into_owned())
            .map(|l| l.replace(&site.dir.path().display().to_string(), "<root>"))
            .collect()
    };
    let (their_log, our_log) = (lines(&pair.their_site), lines(&pair.our_site));
    assert!(
        their_log.iter().any(|l| l.contains("AH01774")),
        "{their_log:#?}"
    );
    assert_eq!(their_log, our_log);
}

/// Under prefork a child serves one connection at a time: two kept-alive connections are
/// two processes. The nonce-count of a client must be the same on both.
fn counts_across_children(port: u16) -> Vec<u16> {
    let mut c = Client {
        port,
        transcript: Vec::new(),
    };
    let space = c.challenge("challenge", "/nc/a.txt");
    let mut connections = [
        compat_tests::backend::Client::connect(port).unwrap(),
        compat_tests::backend::Client::connect(port).unwrap(),
    ];
    let mut statuses = Vec::new();
    for count in 1..=6u32 {
        let (header, _) = authorization(
            "/nc/a.txt",
            &space,
            &Answer {
                nc: count,
                ..Answer::default()
            },
        );
        let raw =
            format!("GET /nc/a.txt HTTP/1.1\r\nHost: localhost\r\nAuthorization: {header}\r\n\r\n");
        // The count on one connection, then the same again on the other.
        let first = (count % 2) as usize;
        for index in [first, 1 - first] {
            let reply = connections[index].request(raw.as_bytes()).unwrap();
            statuses.push(reply.status);
        }
    }
    statuses
}

/// A server run with its MPM's children (`-D FOREGROUND`) in a process group of its own: at
/// shutdown apache2 signals its whole group, which must not include this test.
struct Daemon {
    child: std::process::Child,
}

impl Daemon {
    fn start(program: &std::path::Path, site: &Site, port: u16) -> Daemon {
        use std::os::unix::process::CommandExt;
        let root = site.dir.path();
        let child = std::process::Command::new(program)
            .process_group(0)
            .args(["-D", "FOREGROUND", "-d"])
            .arg(root)
            .arg("-f")
            .arg(root.join("httpd.conf"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
        let daemon = Daemon { child };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "{} did not start",
                program.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let group = self.child.id();
        stop_child(&mut self.child);
        // Children that outlived their parent: the group is this test's own.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{group}")])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn the_nonce_count_is_shared_by_every_child() {
    require_apache2();
    let family = parse_family(&format!(
        "{FAMILY}@@ config\nStartServers 4\nMinSpareServers 4\nMaxSpareServers 8\n"
    ));
    let expected: Vec<u16> = (0..6).flat_map(|_| [200, 401]).collect();
    for program in [std::path::PathBuf::from("/usr/sbin/apache2"), rhttpd_bin()] {
        let port = compat_tests::http::free_port();
        let site = make_site_with_mpm(&family, port, "prefork");
        let _server = Daemon::start(&program, &site, port);
        // The children come up after the listener does.
        std::thread::sleep(Duration::from_millis(500));
        let statuses = counts_across_children(port);
        assert_eq!(statuses, expected, "{}", program.display());
        let log = std::fs::read_to_string(site.dir.path().join("logs/error_log")).unwrap();
        let pids: std::collections::BTreeSet<&str> = log
            .lines()
            .filter(|l| l.contains("AH01774"))
            .filter_map(|l| l.split("[pid ").nth(1)?.split(']').next())
            .collect();
        assert!(
            pids.len() > 1,
            "{}: the replays were all refused by one process ({pids:?})",
            program.display()
        );
    }
}
