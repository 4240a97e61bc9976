//! mod_proxy_balancer and its lbmethods diffed against apache2: the same balancers in front of
//! backends of each server's own (`compat_tests::backend`), the answers compared request by
//! request (which member answered is in `X-Backend`, the `BALANCER_*` variables in a header),
//! with members down, coming back, standing by, in lbset tiers and draining; then what only
//! rhttpd is asked (bybusyness and bytraffic with several children, whose order depends on
//! timing).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use compat_tests::backend::{send_request, Backend};
use compat_tests::http::{parse_family, Pair};
use compat_tests::require_apache2;

/// A port nothing listens on: checked free, and below Linux's ephemeral range (32768 and
/// up), so that no backend or server the tests start meanwhile on port 0 can take it.
fn dead_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let seed = (std::process::id() % 1000) as u16 * 10;
    loop {
        let port = 21000 + (seed + NEXT.fetch_add(1, Ordering::SeqCst)) % 10000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// What the balancer set, as each answer shows it.
const SHOW_ENV: &str = "Header always set X-Balancer \"%{BALANCER_NAME}e|%{BALANCER_WORKER_NAME}e|%{BALANCER_WORKER_ROUTE}e|%{BALANCER_SESSION_STICKY}e|%{BALANCER_SESSION_ROUTE}e|%{BALANCER_ROUTE_CHANGED}e\"\n";

/// One side's members: live backends and ports nobody answers on.
struct Members {
    live: Vec<Backend>,
    dead: Vec<u16>,
}

impl Members {
    fn start(live: usize, dead: usize) -> Members {
        Members {
            live: (0..live)
                .map(|i| Backend::start(&format!("m{i}")))
                .collect(),
            dead: (0..dead).map(|_| dead_port()).collect(),
        }
    }

    /// `{m0}`.. and `{dead0}`.. replaced with the members' URLs.
    fn fill(&self, config: &str) -> String {
        let mut out = config.to_string();
        for (i, backend) in self.live.iter().enumerate() {
            out = out.replace(&format!("{{m{i}}}"), &backend.url());
        }
        for (i, port) in self.dead.iter().enumerate() {
            out = out.replace(&format!("{{dead{i}}}"), &format!("http://127.0.0.1:{port}"));
        }
        out
    }

    /// Each member's port named in `text`.
    fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (i, backend) in self.live.iter().enumerate() {
            out = out.replace(&backend.port().to_string(), &format!("<m{i}>"));
        }
        for (i, port) in self.dead.iter().enumerate() {
            out = out.replace(&port.to_string(), &format!("<dead{i}>"));
        }
        out
    }
}

struct Cluster {
    pair: Pair,
    theirs: Members,
    ours: Members,
}

impl Cluster {
    fn start(live: usize, dead: usize, config: &str) -> Cluster {
        let theirs = Members::start(live, dead);
        let ours = Members::start(live, dead);
        let family = |members: &Members| {
            parse_family(&format!("@@ config\n{SHOW_ENV}{}", members.fill(config)))
        };
        let pair = Pair::start_each(&family(&theirs), &family(&ours));
        Cluster { pair, theirs, ours }
    }

    fn exchange(&self, request: &str) -> (String, String) {
        let (a, b) = self
            .pair
            .normalized_exchange(request.as_bytes(), &["Keep-Alive".to_string()]);
        (self.theirs.mask(&a), self.ours.mask(&b))
    }

    /// Each request in turn to both; every answer must be apache2's.
    fn check(&self, requests: &[&str]) {
        let mut failures = Vec::new();
        for request in requests {
            let (theirs, ours) = self.exchange(request);
            if theirs != ours {
                failures.push(format!(
                    "--- request\n{request}\n--- apache2\n{theirs}\n--- rhttpd\n{ours}\n"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The same request `n` times; apache2's answers and rhttpd's must be the same.
    fn check_repeated(&self, request: &str, n: usize) {
        let requests = vec![request; n];
        self.check(&requests);
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n")
}

fn get_with(path: &str, field: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: front.test\r\n{field}\r\nConnection: close\r\n\r\n")
}

#[test]
fn byrequests_spreads_requests_by_load_factor_as_apache_does() {
    require_apache2();
    let cluster = Cluster::start(
        3,
        0,
        "ProxyPass /b balancer://cluster\n\
         ProxyPassReverse /b balancer://cluster\n\
         <Proxy balancer://cluster>\n\
         BalancerMember {m0} route=r0\n\
         BalancerMember {m1} route=r1 loadfactor=2\n\
         BalancerMember {m2} route=r2\n\
         </Proxy>\n\
         ProxyPass /even balancer://even\n\
         BalancerMember balancer://even {m0}\n\
         BalancerMember balancer://even {m1}\n\
         BalancerMember balancer://even {m2}\n",
    );
    cluster.check_repeated(&get("/b/echo/x?q=1"), 8);
    cluster.check_repeated(&get("/even/status?code=200"), 6);
    cluster.check(&[&get("/b/redirect"), &get("/b/redirect")]);
}

#[test]
fn sticky_sessions_follow_the_route_as_apache_does() {
    require_apache2();
    let cluster = Cluster::start(
        3,
        0,
        "ProxyPass /c balancer://cookie stickysession=ROUTEID\n\
         <Proxy balancer://cookie>\n\
         BalancerMember {m0} route=r0\n\
         BalancerMember {m1} route=r1\n\
         BalancerMember {m2} route=r2 status=+D\n\
         </Proxy>\n\
         ProxyPass /j balancer://java stickysession=JSESSIONID|jsessionid scolonpathdelim=On\n\
         <Proxy balancer://java>\n\
         BalancerMember {m0} route=a\n\
         BalancerMember {m1} route=b\n\
         BalancerMember {m2} route=c\n\
         </Proxy>\n\
         ProxyPass /r balancer://redirect stickysession=ROUTEID\n\
         <Proxy balancer://redirect>\n\
         BalancerMember {m0} route=old status=+D redirect=new\n\
         BalancerMember {m1} route=new\n\
         BalancerMember {m2} route=spare status=+H\n\
         </Proxy>\n\
         ProxyPass /u balancer://under stickysession=sid stickysessionsep=_\n\
         <Proxy balancer://under>\n\
         BalancerMember {m0} route=x\n\
         BalancerMember {m1} route=y\n\
         </Proxy>\n",
    );
    cluster.check(&[
        &get_with("/c/echo", "Cookie: ROUTEID=abc.r1"),
        &get_with("/c/echo", "Cookie: ROUTEID=abc.r1"),
        &get_with("/c/echo", "Cookie: other=1; ROUTEID=.r0"),
        &get_with("/c/echo", "Cookie: ROUTEID=abc.r2"),
        &get_with("/c/echo", "Cookie: ROUTEID=abc.r9"),
        &get_with("/c/echo", "Cookie: ROUTEID=abc"),
        &get_with("/c/echo", "Cookie: XROUTEID=abc.r1"),
        &get("/c/echo"),
        &get("/j/echo;jsessionid=123.c"),
        &get("/j/echo;jsessionid=123.b;x=1"),
        &get("/j/echo?jsessionid=123.a"),
        &get_with("/j/echo", "Cookie: JSESSIONID=1.c"),
        &get_with("/j/echo;jsessionid=1.a", "Cookie: JSESSIONID=1.c"),
        &get_with("/r/echo", "Cookie: ROUTEID=1.old"),
        &get_with("/r/echo", "Cookie: ROUTEID=1.spare"),
        &get_with("/u/echo", "Cookie: sid=s_y"),
        &get_with("/u/echo", "Cookie: sid=s.y"),
    ]);
}

#[test]
fn failed_members_are_skipped_and_failed_over_as_apache_does() {
    require_apache2();
    let cluster = Cluster::start(
        2,
        3,
        "ProxyPass /f balancer://failover\n\
         <Proxy balancer://failover>\n\
         BalancerMember {m0}\n\
         BalancerMember {dead0}\n\
         BalancerMember {m1}\n\
         </Proxy>\n\
         ProxyPass /none balancer://none\n\
         <Proxy balancer://none>\n\
         BalancerMember {dead1}\n\
         BalancerMember {dead2}\n\
         </Proxy>\n\
         ProxyPass /once balancer://once maxattempts=0\n\
         <Proxy balancer://once>\n\
         BalancerMember {dead1} retry=0\n\
         BalancerMember {m0}\n\
         </Proxy>\n\
         ProxyPass /fixed balancer://fixed stickysession=ROUTEID nofailover=On\n\
         <Proxy balancer://fixed>\n\
         BalancerMember {dead2} route=gone\n\
         BalancerMember {m1} route=here\n\
         </Proxy>\n",
    );
    // No request fails while a member is down.
    cluster.check_repeated(&get("/f/echo"), 6);
    cluster.check_repeated(&get("/none/echo"), 2);
    cluster.check(&[
        &get("/once/echo"),
        &get("/once/echo"),
        &get_with("/fixed/echo", "Cookie: ROUTEID=1.gone"),
        &get_with("/fixed/echo", "Cookie: ROUTEID=1.here"),
        &get_with("/fixed/echo", "Cookie: ROUTEID=1.elsewhere"),
    ]);
}

/// Answers every connection on `listener` with a fixed 200 from "back".
fn serve_fixed(listener: TcpListener) {
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buf = [0u8; 4096];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nX-Backend: back\r\nContent-Length: 5\r\nConnection: close\r\n\r\nback\n",
            );
        }
    });
}

#[test]
fn a_member_comes_back_after_its_retry_time_as_in_apache() {
    require_apache2();
    let cluster = Cluster::start(
        1,
        1,
        "ProxyPass /r balancer://retry\n\
         <Proxy balancer://retry>\n\
         BalancerMember {dead0} retry=1\n\
         BalancerMember {m0}\n\
         </Proxy>\n",
    );
    cluster.check_repeated(&get("/r/echo"), 3);
    // The member's port answers now; after its retry second it takes requests again.
    serve_fixed(TcpListener::bind(("127.0.0.1", cluster.theirs.dead[0])).unwrap());
    serve_fixed(TcpListener::bind(("127.0.0.1", cluster.ours.dead[0])).unwrap());
    thread::sleep(Duration::from_millis(1300));
    cluster.check_repeated(&get("/r/echo"), 4);
}

#[test]
fn standbys_spares_lbsets_and_draining_members_as_apache_has_them() {
    require_apache2();
    let cluster = Cluster::start(
        3,
        2,
        "ProxyPass /h balancer://standby\n\
         <Proxy balancer://standby>\n\
         BalancerMember {dead0}\n\
         BalancerMember {m1} status=+H\n\
         BalancerMember {m2} status=+H\n\
         </Proxy>\n\
         ProxyPass /hs balancer://standby-unused\n\
         <Proxy balancer://standby-unused>\n\
         BalancerMember {m0}\n\
         BalancerMember {m1} status=+H\n\
         </Proxy>\n\
         ProxyPass /s balancer://spare\n\
         <Proxy balancer://spare>\n\
         BalancerMember {dead1}\n\
         BalancerMember {m0}\n\
         BalancerMember {m1} status=+R\n\
         BalancerMember {m2} status=+R\n\
         </Proxy>\n\
         ProxyPass /l balancer://tiers\n\
         <Proxy balancer://tiers>\n\
         BalancerMember {dead1} lbset=0\n\
         BalancerMember {m0} lbset=1\n\
         BalancerMember {m1} lbset=1\n\
         BalancerMember {m2} lbset=2\n\
         </Proxy>\n\
         ProxyPass /l0 balancer://tier0\n\
         <Proxy balancer://tier0>\n\
         BalancerMember {m0} lbset=1\n\
         BalancerMember {m1} lbset=0\n\
         </Proxy>\n\
         ProxyPass /n balancer://drain stickysession=ROUTEID\n\
         <Proxy balancer://drain>\n\
         BalancerMember {m0} route=a status=+N\n\
         BalancerMember {m1} route=b\n\
         BalancerMember {m2} route=c\n\
         </Proxy>\n\
         ProxyPass /d balancer://disabled\n\
         <Proxy balancer://disabled>\n\
         BalancerMember {m0} status=+D\n\
         BalancerMember {m1} status=+S\n\
         </Proxy>\n",
    );
    cluster.check_repeated(&get("/h/echo"), 4);
    cluster.check_repeated(&get("/hs/echo"), 3);
    cluster.check_repeated(&get("/s/echo"), 5);
    cluster.check_repeated(&get("/l/echo"), 5);
    cluster.check_repeated(&get("/l0/echo"), 3);
    cluster.check_repeated(&get("/n/echo"), 4);
    // A draining member keeps its sessions.
    cluster.check(&[
        &get_with("/n/echo", "Cookie: ROUTEID=1.a"),
        &get_with("/n/echo", "Cookie: ROUTEID=1.b"),
    ]);
    cluster.check_repeated(&get("/d/echo"), 2);
}

#[test]
fn failonstatus_puts_a_member_in_error_as_apache_does() {
    require_apache2();
    let cluster = Cluster::start(
        2,
        0,
        "ProxyPass /s balancer://statuses failonstatus=500,502\n\
         <Proxy balancer://statuses>\n\
         BalancerMember {m0}\n\
         BalancerMember {m1}\n\
         </Proxy>\n",
    );
    cluster.check(&[
        &get("/s/status?code=500"),
        &get("/s/status?code=200"),
        &get("/s/status?code=200"),
        &get("/s/status?code=500"),
        &get("/s/status?code=200"),
        &get("/s/status?code=200"),
    ]);
}

// --- rhttpd alone: several children sharing the members' state ----------------------------

/// An rhttpd with `config` (members filled in) under `mpm`, several processes.
struct Alone {
    site: compat_tests::http::Site,
    _server: compat_tests::http::Running,
    port: u16,
}

fn start_alone(mpm: &str, config: &str) -> Alone {
    let sizing = match mpm {
        "prefork" => "StartServers 4\nMinSpareServers 4\nMaxSpareServers 8\n",
        _ => "StartServers 3\nThreadsPerChild 4\nMinSpareThreads 4\nMaxSpareThreads 12\nServerLimit 4\nMaxRequestWorkers 16\n",
    };
    let family = parse_family(&format!(
        "@@ config\nLogLevel proxy_balancer:debug\n{sizing}{config}"
    ));
    let port = compat_tests::http::free_port();
    let site = compat_tests::http::make_site_with_mpm(&family, port, mpm);
    let server = compat_tests::http::start_daemon(&compat_tests::rhttpd_bin(), &site, port)
        .unwrap_or_else(|e| panic!("{e}"));
    Alone {
        site,
        _server: server,
        port,
    }
}

impl Alone {
    /// Its error log so far (the balancer's choices at debug level).
    fn log(&self) -> String {
        std::fs::read_to_string(self.site.dir.path().join("logs/error_log")).unwrap_or_default()
    }
}

fn backend_of(port: u16, path: &str) -> (u16, String) {
    let response = send_request(port, get(path).as_bytes());
    (
        response.status,
        response.header("X-Backend").unwrap_or("-").to_string(),
    )
}

#[test]
fn bybusyness_sends_work_past_a_busy_member_across_children() {
    for mpm in ["prefork", "event"] {
        let a = Backend::start("a");
        let b = Backend::start("b");
        let alone = start_alone(
            mpm,
            &format!(
                "ProxyPass /b balancer://busy lbmethod=bybusyness\n\
                 BalancerMember balancer://busy {}\n\
                 BalancerMember balancer://busy {}\n",
                a.url(),
                b.url()
            ),
        );
        let port = alone.port;
        let slow = thread::spawn(move || backend_of(port, "/b/slow?ms=4000"));
        // The slow request has reached its member when one of the backends counts it.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while a.requests() + b.requests() == 0 && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        let busy = if a.requests() == 1 { "a" } else { "b" };
        // Each quick request once the one before is done with (its member's busy count is
        // taken back once its answer has gone out and been logged, a moment after the
        // client has it).
        let quick: Vec<(u16, String)> = (0..6)
            .map(|_| {
                thread::sleep(Duration::from_millis(100));
                backend_of(port, "/b/echo")
            })
            .collect();
        let (status, slow_member) = slow.join().unwrap();
        assert_eq!((status, slow_member.as_str()), (200, busy), "{mpm}");
        assert!(
            quick.iter().all(|(s, m)| *s == 200 && m != busy),
            "{mpm}: while {busy} was busy: {quick:?}\n{}",
            alone.log()
        );
    }
}

#[test]
fn bytraffic_evens_out_the_bytes_across_children() {
    for mpm in ["prefork", "event"] {
        let a = Backend::start("a");
        let b = Backend::start("b");
        let alone = start_alone(
            mpm,
            &format!(
                "ProxyPass /b balancer://traffic lbmethod=bytraffic\n\
                 BalancerMember balancer://traffic {}\n\
                 BalancerMember balancer://traffic {}\n",
                a.url(),
                b.url()
            ),
        );
        let (status, heavy) = backend_of(alone.port, "/b/big?n=200000");
        assert_eq!(status, 200);
        let light: Vec<(u16, String)> = (0..8)
            .map(|_| backend_of(alone.port, "/b/big?n=1000"))
            .collect();
        assert!(
            light.iter().all(|(s, m)| *s == 200 && *m != heavy),
            "{mpm}: after 200000 bytes from {heavy}: {light:?}"
        );
    }
}

#[test]
fn byrequests_counts_every_childs_requests() {
    for mpm in ["prefork", "event"] {
        let members: Vec<Backend> = (0..3).map(|i| Backend::start(&format!("m{i}"))).collect();
        let lines: String = members
            .iter()
            .map(|m| format!("BalancerMember balancer://even {}\n", m.url()))
            .collect();
        let alone = start_alone(mpm, &format!("ProxyPass /b balancer://even\n{lines}"));
        let port = alone.port;
        // Many clients at once, so several children answer.
        let handles: Vec<_> = (0..4)
            .map(|_| {
                thread::spawn(move || {
                    (0..15)
                        .map(|_| backend_of(port, "/b/echo"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let answers: Vec<(u16, String)> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert!(answers.iter().all(|(s, _)| *s == 200), "{mpm}: {answers:?}");
        for member in &members {
            let served = answers.iter().filter(|(_, m)| m == member.name()).count();
            assert_eq!(served, 20, "{mpm}: {} served {served} of 60", member.name());
        }
    }
}

#[test]
fn a_failed_member_costs_no_request_across_children() {
    for mpm in ["prefork", "event"] {
        let a = Backend::start("a");
        let b = Backend::start("b");
        let dead = dead_port();
        let alone = start_alone(
            mpm,
            &format!(
                "ProxyPass /b balancer://f\n\
                 BalancerMember balancer://f {}\n\
                 BalancerMember balancer://f http://127.0.0.1:{dead}\n\
                 BalancerMember balancer://f {}\n",
                a.url(),
                b.url()
            ),
        );
        let port = alone.port;
        let handles: Vec<_> = (0..4)
            .map(|_| {
                thread::spawn(move || {
                    (0..10)
                        .map(|_| backend_of(port, "/b/echo"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let answers: Vec<(u16, String)> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert!(
            answers
                .iter()
                .all(|(s, m)| *s == 200 && (m == "a" || m == "b")),
            "{mpm}: {answers:?}"
        );
        let _ = TcpStream::connect(("127.0.0.1", port));
    }
}

// --- the balancer-manager ---------------------------------------------------------------

/// The page with what differs between servers and runs masked: nonces, the shared-memory
/// name's hash, the version lines (and so the chunk sizes), the order of the lbmethods (a
/// hash table's in Apache, different from run to run).
fn mask_manager(text: &str) -> String {
    let nonce =
        regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    let sname = regex::Regex::new(r"\[p[0-9a-f]+_").unwrap();
    let version = regex::Regex::new(r"<dt>Server (Version|Built): [^<]*</dt>").unwrap();
    let chunk = regex::Regex::new(r"(?m)^[0-9a-f]+\r?$").unwrap();
    let text = nonce.replace_all(text, "<nonce>");
    let text = sname.replace_all(&text, "[<id>_");
    let text = version.replace_all(&text, "<dt>Server $1: <masked></dt>");
    let text = chunk.replace_all(&text, "<chunk>");
    let error_time = regex::Regex::new(r"<httpd:error_time>[^<]*<").unwrap();
    let text = error_time.replace_all(&text, "<httpd:error_time>(time)<");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let options: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("<option value="))
        .collect();
    let mut sorted: Vec<String> = options
        .iter()
        .map(|&i| {
            lines[i]
                .trim_start_matches("<select name='b_lbm' id='b_lbm'>")
                .to_string()
        })
        .collect();
    sorted.sort();
    for (slot, line) in options.iter().zip(sorted) {
        lines[*slot] = line;
    }
    lines.join("\n")
}

/// The nonce of `balancer` on the page a server gives.
fn nonce_of(port: u16, balancer: &str) -> String {
    let page = String::from_utf8_lossy(&compat_tests::http::exchange(port, get("/bm").as_bytes()))
        .into_owned();
    let marker = format!("?b={balancer}&amp;nonce=");
    let at = page.find(&marker).expect("the balancer's link") + marker.len();
    page[at..at + 36].to_string()
}

impl Cluster {
    /// The same manager request to both (with the server's own nonce where `{nonce}`
    /// stands), compared after masking.
    fn manage(&self, balancer: &str, request: &str) -> Option<String> {
        let ask = |port: u16, members: &Members| {
            let raw = request.replace("{nonce}", &nonce_of(port, balancer));
            let raw = members.fill(&raw);
            let raw = match raw.split_once("\r\n\r\n") {
                Some((head, body)) if head.starts_with("POST") => {
                    format!("{head}\r\nContent-Length: {}\r\n\r\n{body}", body.len())
                }
                _ => raw,
            };
            let answer = compat_tests::http::exchange(port, raw.as_bytes());
            let text = compat_tests::http::normalize_response(&answer, &["Keep-Alive".into()]);
            mask_manager(&members.mask(&compat_tests::http::mask_port(&text, port)))
        };
        let theirs = ask(self.pair.their_port, &self.theirs);
        let ours = ask(self.pair.our_port, &self.ours);
        (theirs != ours)
            .then(|| format!("--- request\n{request}\n--- apache2\n{theirs}\n--- rhttpd\n{ours}\n"))
    }
}

#[test]
fn the_balancer_manager_shows_and_changes_members_as_apache_does() {
    require_apache2();
    let cluster = Cluster::start(
        2,
        1,
        "ProxyPass /app balancer://cluster stickysession=JSESSIONID|jsessionid\n\
         <Proxy balancer://cluster>\n\
         BalancerMember {m0} route=a loadfactor=2.5\n\
         BalancerMember {m1} route=b lbset=1 redirect=a retry=5\n\
         </Proxy>\n\
         ProxyPass /two balancer://two growth=3 maxattempts=2 timeout=4 nofailover=On\n\
         BalancerMember balancer://two {m1} status=+H\n\
         ProxyPass /dead balancer://dead\n\
         BalancerMember balancer://dead {dead0}\n\
         BalancerMember balancer://dead {m0}\n\
         <Location /bm>\nSetHandler balancer-manager\n</Location>\n",
    );
    let referer = "Referer: http://localhost/bm";
    let form = |balancer: &str, fields: &str| {
        format!(
            "POST /bm HTTP/1.1\r\nHost: localhost\r\n{referer}\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\nb={balancer}&nonce={{nonce}}&{fields}"
        )
    };
    cluster.check(&[&get("/dead/echo")]);
    let requests = [
        ("cluster", get("/bm")),
        ("cluster", get("/bm?b=cluster&nonce={nonce}")),
        ("cluster", get_with("/bm?b=cluster&nonce={nonce}", referer)),
        (
            "cluster",
            get_with("/bm?b=cluster&w={m1}&nonce={nonce}", referer),
        ),
        ("two", get_with("/bm?b=two&nonce={nonce}", referer)),
        ("two", get_with("/bm?b=two&xml=1", referer)),
        // A change with the wrong nonce is ignored, one with the right one made.
        ("cluster", form("cluster", "w={m0}&w_status_D=1&nonce=bad")),
        (
            "cluster",
            form("cluster", "w={m0}&w_status_D=1&w_lf=3&w_wr=z&w_ls=2"),
        ),
        (
            "two",
            form(
                "two",
                "b_lbm=bybusyness&b_tmo=9&b_max=7&b_sforce=0&b_ss=S|s",
            ),
        ),
        ("cluster", get_with("/bm?xml=1", referer)),
        // Members added at run time: disabled at first, one at a time while growth leaves
        // room, never twice, never a URL that is none.
        ("two", form("two", "b_nwrkr={m0}/&b_wyes=1")),
        ("two", form("two", "b_nwrkr={m0}/&b_wyes=1")),
        ("two", form("two", "b_nwrkr=nonsense&b_wyes=1")),
        ("two", form("two", "w={m0}/&w_status_D=0")),
        ("two", get_with("/bm?b=two&xml=1", referer)),
        (
            "cluster",
            "HEAD /bm HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_string(),
        ),
        (
            "cluster",
            "PUT /bm HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_string(),
        ),
    ];
    let mut failures = Vec::new();
    for (balancer, request) in &requests {
        failures.extend(cluster.manage(balancer, request));
    }
    // The disabled member takes no more requests, its route is gone.
    cluster.check_repeated(&get("/app/echo"), 3);
    // The added member, enabled, takes the standby's place.
    cluster.check_repeated(&get("/two/echo"), 3);
    cluster.check(&[&get_with("/app/echo", "Cookie: JSESSIONID=x.a")]);
    failures.extend(cluster.manage("cluster", &get("/bm")));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The proxy modules' lines of an error log, without times, pids and client ports.
fn proxy_log_lines(log: &str) -> Vec<String> {
    let stamp = regex::Regex::new(r"^\[[^\]]*\] ").unwrap();
    let pid = regex::Regex::new(r"\[pid [0-9]+(:tid [0-9]+)?\] ").unwrap();
    let client = regex::Regex::new(r"client 127\.0\.0\.1:[0-9]+").unwrap();
    log.lines()
        .filter(|line| line.contains("[proxy"))
        .map(|line| {
            let line = stamp.replace(line, "");
            let line = pid.replace(&line, "");
            client.replace(&line, "client <c>").into_owned()
        })
        .collect()
}

#[test]
fn member_failures_are_logged_as_apache_logs_them() {
    require_apache2();
    let mut cluster = Cluster::start(
        2,
        2,
        "LogLevel warn\nProxyPass /f balancer://failover\n\
         <Proxy balancer://failover>\n\
         BalancerMember {dead0}\n\
         BalancerMember {m0}\n\
         </Proxy>\n\
         ProxyPass /none balancer://none\n\
         BalancerMember balancer://none {dead1}\n\
         ProxyPass /fixed balancer://fixed stickysession=R nofailover=On\n\
         BalancerMember balancer://fixed {dead1} route=x\n\
         BalancerMember balancer://fixed {m0} route=y\n\
         ProxyPass /st balancer://st failonstatus=500\n\
         BalancerMember balancer://st {m0}\n\
         ProxyPass /empty balancer://empty\n\
         <Proxy balancer://empty>\n</Proxy>\n\
         ProxyPass /slow balancer://slow failontimeout=On\n\
         BalancerMember balancer://slow {m0} timeout=1\n\
         BalancerMember balancer://slow {m1} timeout=1\n\
         ProxyPass /wait balancer://wait timeout=1\n\
         BalancerMember balancer://wait {m0} status=+D\n",
    );
    cluster.check_repeated(&get("/f/echo"), 2);
    cluster.check_repeated(&get("/none/echo"), 2);
    cluster.check(&[
        &get_with("/fixed/echo", "Cookie: R=1.x"),
        &get("/st/status?code=500"),
        &get("/st/status?code=200"),
        &get("/empty/echo"),
        &get("/slow/slow?ms=1500"),
        &get("/slow/status?code=200"),
        &get("/slow/status?code=200"),
    ]);
    // With no usable member, a balancer timeout waits that long for one, then gives up.
    let started = std::time::Instant::now();
    cluster.check(&[&get("/wait/echo")]);
    assert!(started.elapsed() >= Duration::from_secs(2), "both waited");
    cluster.pair.stop();
    let read = |site: &compat_tests::http::Site, members: &Members| {
        let log = std::fs::read_to_string(site.dir.path().join("logs/error_log")).unwrap();
        proxy_log_lines(&members.mask(&log))
    };
    assert_eq!(
        read(&cluster.pair.their_site, &cluster.theirs),
        read(&cluster.pair.our_site, &cluster.ours)
    );
}

#[test]
fn balancers_in_virtual_hosts_and_locations_as_apache_has_them() {
    require_apache2();
    let cluster = Cluster::start(
        3,
        0,
        "<Proxy balancer://main>\n\
         BalancerMember {m0}\n\
         BalancerMember {m1}\n\
         </Proxy>\n\
         <Location /loc>\nProxyPass balancer://main\n</Location>\n\
         <VirtualHost *:@PORT@>\nServerName vh.test\n\
         ProxyPass /v balancer://main\n\
         ProxyPass /own balancer://own\n\
         BalancerMember balancer://own {m2}\n\
         </VirtualHost>\n\
         <VirtualHost *:@PORT@>\nServerName closed.test\nBalancerInherit Off\n\
         ProxyPass /v balancer://main\n\
         </VirtualHost>\n",
    );
    let on = |host: &str, path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
    };
    cluster.check(&[
        &on("localhost", "/loc/echo"),
        &on("localhost", "/loc/echo"),
        &on("localhost", "/loc/echo"),
        &on("vh.test", "/v/echo"),
        &on("vh.test", "/v/echo"),
        &on("vh.test", "/own/echo"),
        &on("vh.test", "/loc/echo"),
        &on("closed.test", "/v/echo"),
    ]);
}

#[test]
fn server_status_shows_the_balancers_with_proxystatus_on_as_apache_does() {
    require_apache2();
    let cluster = Cluster::start(
        2,
        0,
        "ProxyStatus On\n\
         <Location /ss>\nSetHandler server-status\n</Location>\n\
         ProxyPass /app balancer://cluster stickysession=JSESSIONID|jsessionid\n\
         <Proxy balancer://cluster>\n\
         BalancerMember {m0} route=a loadfactor=2\n\
         BalancerMember {m1} route=b status=+H redirect=a\n\
         </Proxy>\n\
         ProxyPass /plain balancer://plain timeout=3\n\
         BalancerMember balancer://plain {m1}\n",
    );
    cluster.check_repeated(&get("/app/echo"), 3);
    let part = |port: u16, members: &Members, path: &str, from: &str| {
        let page =
            String::from_utf8_lossy(&compat_tests::http::exchange(port, get(path).as_bytes()))
                .into_owned();
        let at = page.find(from).unwrap_or(page.len());
        members.mask(&page[at..])
    };
    for (path, from) in [
        ("/ss", "<hr />\n<h1>Proxy LoadBalancer"),
        ("/ss?auto", "ProxyBalancer[0]"),
    ] {
        let theirs = part(cluster.pair.their_port, &cluster.theirs, path, from);
        let ours = part(cluster.pair.our_port, &cluster.ours, path, from);
        assert!(!theirs.is_empty(), "{path}");
        assert_eq!(theirs, ours, "{path}");
    }
}

#[test]
fn urls_reach_members_as_apache_maps_them() {
    require_apache2();
    let cluster = Cluster::start(
        1,
        1,
        "ProxyPass /sub balancer://c/echo/sub/\n\
         ProxyPass /raw balancer://c/echo nocanon\n\
         ProxyPassMatch ^/m/(.*)$ balancer://c/echo/$1\n\
         ProxyPass /post balancer://f\n\
         ProxyPass /c balancer://c\n\
         <Proxy balancer://c>\n\
         BalancerMember {m0}\n\
         </Proxy>\n\
         <Proxy balancer://f>\n\
         BalancerMember {dead0}\n\
         BalancerMember {m0}\n\
         </Proxy>\n\
         RewriteEngine On\n\
         RewriteRule ^/rw/(.*)$ balancer://c/echo/$1 [P]\n",
    );
    cluster.check(&[
        &get("/sub/a/b?x=1"),
        &get("/raw/a%2Fb%20c?q=%41"),
        &get("/m/x/y%20z?k=v"),
        &get("/rw/p/q?s=1"),
        &get("/c/echo/%7euser/"),
        "HEAD /c/echo HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
        "POST /post/echo HTTP/1.1\r\nHost: front.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        "POST /post/echo HTTP/1.1\r\nHost: front.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        &get("/c"),
    ]);
}
