//! Each MPM as a process tree, observed the way an administrator observes Apache: through
//! /server-status?auto and /proc. Process and thread counts follow the directives, spare
//! maintenance converges, a child killed under load is replaced, a graceful restart under a
//! steady load fails no request, and a stop leaves no process behind.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{
    alive, answering_backend, children_of, config_head, eventually, exchange, free_port, signal,
    Server,
};

fn config(root: &std::path::Path, mpm: &str, port: u16, sizing: &str) -> String {
    config_head(root).replace(
        "mpm_event_module modules/mod_mpm_event.so",
        &format!("mpm_{mpm}_module modules/mod_mpm_{mpm}.so"),
    ) + &format!(
        "LoadModule status_module modules/mod_status.so\n\
         Listen 127.0.0.1:{port}\n\
         DocumentRoot {}\n\
         <Location /server-status>\n    SetHandler server-status\n</Location>\n\
         <IfModule mpm_{mpm}_module>\n{sizing}</IfModule>\n",
        root.display()
    )
}

fn start(mpm: &str, sizing: &str) -> (tempfile::TempDir, Server, SocketAddr) {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "served\n").unwrap();
    let port = free_port("127.0.0.1");
    let server = Server::start_with(
        root.path(),
        &config(root.path(), mpm, port, sizing),
        &["-D", "FOREGROUND"],
    );
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    (root, server, addr)
}

/// /server-status?auto as key → value (the first line, the host, has no key).
fn status(addr: SocketAddr) -> HashMap<String, String> {
    let response = exchange(addr, b"GET /server-status?auto HTTP/1.0\r\n\r\n");
    let text = String::from_utf8_lossy(&response).into_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    body.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn number(status: &HashMap<String, String>, key: &str) -> usize {
    status
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {status:?}"))
}

/// Threads of a process, from /proc.
fn threads_of(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

fn get_ok(addr: SocketAddr) -> bool {
    let response = exchange(addr, b"GET /a.txt HTTP/1.0\r\n\r\n");
    String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200 OK\r\n")
        && response.ends_with(b"served\n")
}

/// Clients requesting in a loop until stopped; (requests, failures).
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let threads = (0..clients)
            .map(|_| {
                let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let ok = std::panic::catch_unwind(|| get_ok(addr)).unwrap_or(false);
                        done.fetch_add(1, Ordering::SeqCst);
                        if !ok {
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            done,
            failed,
            threads,
        }
    }

    fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads {
            thread.join().unwrap();
        }
        (
            self.done.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

/// The body of /page.txt, on a new connection.
fn page_body(addr: SocketAddr) -> String {
    let response = exchange(addr, b"GET /page.txt HTTP/1.0\r\n\r\n");
    String::from_utf8_lossy(&response)
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or("")
        .to_string()
}

fn kill(pid: u32, signal: &str) {
    assert!(std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

/// The checks every MPM shares: a child killed under load is replaced within two seconds, a
/// graceful restart under load fails nothing and starts generation 1, and SIGTERM leaves no
/// process behind.
fn survives_kill_restart_and_stop(mut server: Server, addr: SocketAddr, children: usize) {
    let parent = server.pid();
    let load = Load::start(addr, 4);
    std::thread::sleep(Duration::from_millis(300));
    let victim = children_of(parent)[0];
    kill(victim, "-9");
    assert!(
        eventually(Duration::from_secs(2), || {
            let now = children_of(parent);
            !now.contains(&victim) && now.len() >= children
        }),
        "killed child {victim} not replaced: {:?}",
        children_of(parent)
    );
    let (_, _) = load.finish();

    let load = Load::start(addr, 4);
    std::thread::sleep(Duration::from_millis(300));
    let before = children_of(parent);
    kill(parent, "-USR1");
    assert!(
        eventually(Duration::from_secs(5), || {
            let now = children_of(parent);
            now.len() >= children && now.iter().all(|c| !before.contains(c))
        }),
        "graceful restart left {:?} (before {before:?})",
        children_of(parent)
    );
    std::thread::sleep(Duration::from_millis(300));
    let (done, failed) = load.finish();
    assert!(done > 50, "only {done} requests during the restart");
    assert_eq!(
        failed, 0,
        "{failed} of {done} requests failed across the graceful restart"
    );
    let after = status(addr);
    assert_eq!(after["ParentServerMPMGeneration"], "1");
    assert_eq!(after["ParentServerConfigGeneration"], "2");

    let pool = children_of(parent);
    let exit = server.stop_with(15);
    assert!(exit.success(), "{exit:?}");
    assert!(
        eventually(Duration::from_secs(2), || pool.iter().all(|&p| !alive(p))),
        "children left behind"
    );
}

#[test]
fn event_sizes_its_children_and_threads_by_the_directives() {
    let sizing = "    StartServers 2\n    ServerLimit 4\n    ThreadLimit 8\n    ThreadsPerChild 4\n    MinSpareThreads 4\n    MaxSpareThreads 12\n    MaxRequestWorkers 16\n";
    let (_root, server, addr) = start("event", sizing);
    assert!(get_ok(addr));
    let parent = server.pid();
    assert!(eventually(Duration::from_secs(2), || children_of(parent)
        .len()
        == 2));
    let auto = status(addr);
    assert_eq!(auto["ServerMPM"], "event");
    assert_eq!(number(&auto, "Processes"), 2);
    // Four process slots of four threads; the request asking is the one busy worker.
    assert_eq!(auto["Scoreboard"].len(), 16, "{auto:?}");
    // Threads still starting count as neither busy nor idle, as in Apache: wait for them.
    assert!(
        eventually(Duration::from_secs(2), || {
            let auto = status(addr);
            number(&auto, "BusyWorkers") + number(&auto, "IdleWorkers") == 8
        }),
        "{:?}",
        status(addr)
    );
    assert!(number(&auto, "Total Accesses") >= 1);
    for child in children_of(parent) {
        // ThreadsPerChild workers, the child's main thread and its watchdog.
        assert_eq!(threads_of(child), 6, "threads of child {child}");
    }
    survives_kill_restart_and_stop(server, addr, 2);
}

#[test]
fn event_holds_idle_keep_alive_connections_without_threads() {
    // Two threads, and room for connections: idle keep-alive clients must not starve new ones.
    let sizing = "    StartServers 1\n    ServerLimit 1\n    ThreadsPerChild 2\n    ThreadLimit 2\n    MinSpareThreads 1\n    MaxSpareThreads 4\n    MaxRequestWorkers 2\n    AsyncRequestWorkerFactor 50\n";
    let (_root, _server, addr) = start("event", sizing);
    assert!(get_ok(addr));
    let mut idle = Vec::new();
    for _ in 0..20 {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("served\n"));
        idle.push(stream);
    }
    let started = std::time::Instant::now();
    assert!(get_ok(addr));
    assert!(started.elapsed() < Duration::from_millis(500));
    // The child publishes its connection counts on its housekeeping pass (as Apache's listener
    // does on its queue maintenance), so they lag by up to a tenth of a second.
    assert!(
        eventually(Duration::from_secs(1), || {
            let auto = status(addr);
            number(&auto, "ConnsAsyncKeepAlive") >= 20 && number(&auto, "ConnsTotal") >= 20
        }),
        "{:?}",
        status(addr)
    );
    drop(idle);
}

#[test]
fn worker_converges_to_its_spare_threads() {
    // Four children at start, but at most 9 idle threads (MinSpareThreads + ThreadsPerChild
    // + 1, Apache's floor): children are retired one per second down to two.
    let sizing = "    StartServers 4\n    ServerLimit 6\n    ThreadLimit 4\n    ThreadsPerChild 4\n    MinSpareThreads 4\n    MaxSpareThreads 9\n    MaxRequestWorkers 24\n";
    let (_root, server, addr) = start("worker", sizing);
    assert!(get_ok(addr));
    let parent = server.pid();
    assert!(
        eventually(Duration::from_secs(6), || children_of(parent).len() == 2),
        "children: {:?}",
        children_of(parent)
    );
    let auto = status(addr);
    assert_eq!(auto["ServerMPM"], "worker");
    assert!(
        !auto.contains_key("ConnsTotal"),
        "worker shows no async keys"
    );
    for child in children_of(parent) {
        assert_eq!(threads_of(child), 6, "threads of child {child}");
    }
    survives_kill_restart_and_stop(server, addr, 2);
}

#[test]
fn prefork_survives_kill_restart_and_stop() {
    let sizing = "    StartServers 3\n    MinSpareServers 2\n    MaxSpareServers 4\n    MaxRequestWorkers 10\n";
    let (_root, server, addr) = start("prefork", sizing);
    assert!(get_ok(addr));
    let auto = status(addr);
    assert_eq!(auto["ServerMPM"], "prefork");
    assert_eq!(auto["Scoreboard"].len(), 10, "{auto:?}");
    for child in children_of(server.pid()) {
        assert_eq!(threads_of(child), 1);
    }
    survives_kill_restart_and_stop(server, addr, 2);
}

/// A keep-alive client asking for /a.txt again and again on one connection, opening another
/// when an answer says `Connection: close`; (answers, requests that got none).
fn keep_alive_client(addr: SocketAddr, stop: &AtomicBool) -> (usize, usize) {
    use std::io::{BufRead, BufReader, Read, Write};
    let (mut answered, mut failed) = (0, 0);
    'connections: while !stop.load(Ordering::SeqCst) {
        let Ok(stream) = std::net::TcpStream::connect(addr) else {
            failed += 1;
            continue;
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        while !stop.load(Ordering::SeqCst) {
            let request = b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";
            if reader.get_mut().write_all(request).is_err() {
                failed += 1;
                continue 'connections;
            }
            let (mut length, mut close, mut status) = (0usize, false, String::new());
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    failed += 1;
                    continue 'connections;
                }
                let lower = line.trim_end().to_ascii_lowercase();
                if lower.is_empty() {
                    break;
                }
                if status.is_empty() {
                    status = lower.clone();
                }
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                close |= lower == "connection: close";
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() || !status.starts_with("http/1.1 200") {
                failed += 1;
                continue 'connections;
            }
            answered += 1;
            if close {
                continue 'connections;
            }
        }
    }
    (answered, failed)
}

/// Graceful restarts under keep-alive load lose nothing under event: a leaving child keeps
/// its idle connections for their next request (answered with `Connection: close`) instead
/// of closing them while their clients may be sending one.
#[test]
fn event_graceful_restarts_under_keep_alive_load_fail_nothing() {
    let sizing = "    StartServers 2\n    ThreadsPerChild 8\n    MaxRequestWorkers 64\n    MinSpareThreads 8\n    MaxSpareThreads 64\n";
    let (_root, server, addr) = start("event", sizing);
    assert!(get_ok(addr));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || keep_alive_client(addr, &stop))
        })
        .collect();
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(400));
        signal(server.pid(), "USR1");
    }
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::SeqCst);
    let (answered, failed) = clients
        .into_iter()
        .map(|c| c.join().unwrap())
        .fold((0, 0), |(a, f), (a2, f2)| (a + a2, f + f2));
    assert!(answered > 1000, "only {answered} answers");
    assert_eq!(failed, 0, "{failed} requests of {answered} got no answer");
    assert_eq!(status(addr)["ParentServerMPMGeneration"], "4");
}

/// A burst of connections opened at once is answered whole under event, where a thread
/// woken for the listening socket takes several and parks all but one before any of them
/// has sent its request.
#[test]
fn event_answers_every_connection_of_a_burst() {
    use std::io::{Read, Write};
    let sizing = "    StartServers 1\n    ThreadsPerChild 4\n    MaxRequestWorkers 4\n    MinSpareThreads 1\n    MaxSpareThreads 4\n    AsyncRequestWorkerFactor 64\n";
    let (_root, _server, addr) = start("event", sizing);
    assert!(get_ok(addr));
    let mut burst: Vec<std::net::TcpStream> = (0..100)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for stream in &mut burst {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
    }
    for (n, mut stream) in burst.into_iter().enumerate() {
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("served\n"),
            "connection {n}: {text:?}"
        );
    }
}

/// A connection parked while its head arrives, and closed by the client before the head is
/// whole, is answered as Apache answers it: 400 for a head cut short after its request line,
/// nothing for a request line that never ended. Both after a keep-alive request too (the
/// connection then waits in epoll between requests).
#[test]
fn event_answers_a_head_cut_short_by_the_clients_close() {
    use std::io::{Read, Write};
    let (_root, _server, addr) = start("event", "");
    assert!(get_ok(addr));
    let answer_to = |first: &[u8], rest: &[u8]| {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(first).unwrap();
        // Long enough for the connection to be parked, waiting for the rest of its head.
        std::thread::sleep(Duration::from_millis(300));
        stream.write_all(rest).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    };
    let cut = answer_to(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n", b"");
    assert!(cut.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{cut:?}");
    let unended = answer_to(b"GET /a.txt HTTP/1.1", b"");
    assert_eq!(unended, "");
    let kept = answer_to(
        b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n",
    );
    assert!(kept.starts_with("HTTP/1.1 200 OK\r\n"), "{kept:?}");
    assert!(
        kept.contains("\r\n\r\nserved\nHTTP/1.1 400 Bad Request\r\n"),
        "{kept:?}"
    );
}

/// Context switches so far of every thread of `pid` and its children.
fn context_switches(pid: u32) -> u64 {
    let mut processes = children_of(pid);
    processes.push(pid);
    let mut total = 0;
    for process in processes {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{process}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            total += status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    total
}

/// With no connection, no process or thread of the server wakes on a timer of its own (the
/// parent's once-a-second maintenance aside): a polling server would show hundreds a second.
#[test]
fn an_idle_server_sleeps_under_every_mpm() {
    for mpm in ["event", "worker", "prefork"] {
        let (_root, server, addr) = start(mpm, "    StartServers 2\n");
        assert!(get_ok(addr));
        std::thread::sleep(Duration::from_millis(1500));
        let before = context_switches(server.pid());
        std::thread::sleep(Duration::from_secs(3));
        let per_second = (context_switches(server.pid()) - before) / 3;
        assert!(
            per_second < 20,
            "{mpm}: {per_second} context switches a second when idle"
        );
    }
}

/// The real uid of a process, from /proc.
fn uid_of(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[test]
fn children_give_up_root_for_user_and_group() {
    let sizing =
        "    StartServers 1\n    ThreadsPerChild 2\n    MinSpareThreads 1\n    MaxSpareThreads 8\n";
    let (_root, server, addr) = start("event", sizing);
    assert!(get_ok(addr));
    let parent = server.pid();
    assert!(eventually(Duration::from_secs(2), || !children_of(parent).is_empty()));
    let parent_uid = uid_of(parent).unwrap();
    for child in children_of(parent) {
        // As root (CI), the parent keeps root to bind and signal and the children serve as
        // `nobody` (the tests' User); as anyone else, everything stays that user.
        let expected = if parent_uid == 0 { 65534 } else { parent_uid };
        assert_eq!(uid_of(child), Some(expected), "uid of child {child}");
    }
}

#[test]
fn a_root_user_and_unknown_names_are_refused_when_read() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    std::fs::write(
        root.path().join("httpd.conf"),
        config(root.path(), "event", port, ""),
    )
    .unwrap();
    let check = |directive: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rhttpd"))
            .args([
                "-d",
                &root.path().display().to_string(),
                "-f",
                "httpd.conf",
                "-t",
                "-c",
                directive,
            ])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = check("User root");
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("Apache has not been designed to serve pages while\\n\\trunning as root."),
        "{stderr}"
    );
    let (code, stderr) = check("User no-such-user-here");
    assert_eq!(
        (code, stderr.trim()),
        (Some(1), "AH00543: rhttpd: bad user name no-such-user-here")
    );
    let (code, stderr) = check("SendBufferSize 100");
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("SendBufferSize must be >= 512 bytes, or 0 for system default."),
        "{stderr}"
    );
    let (code, _) = check("ReceiveBufferSize 65536");
    assert_eq!(code, Some(0));
    let (code, stderr) = check("Group no-such-group-here");
    assert_eq!(
        (code, stderr.trim()),
        (
            Some(1),
            "AH00544: rhttpd: bad group name no-such-group-here"
        )
    );
}

#[test]
fn restarts_reread_the_configuration_and_survive_a_broken_one() {
    let root = tempfile::tempdir().unwrap();
    for (dir, text) in [("one", "first\n"), ("two", "second\n")] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
        std::fs::write(root.path().join(dir).join("page.txt"), text).unwrap();
    }
    let port = free_port("127.0.0.1");
    let sizing =
        "    StartServers 1\n    ThreadsPerChild 2\n    MinSpareThreads 1\n    MaxSpareThreads 8\n";
    let log = root.path().join("restart_log");
    let with_root = |dir: &str| {
        config(root.path(), "event", port, sizing)
            + &format!(
                "DocumentRoot {}\nErrorLog {}\n",
                root.path().join(dir).display(),
                log.display()
            )
    };
    let mut server = Server::start_with(root.path(), &with_root("one"), &["-D", "FOREGROUND"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let page = || page_body(addr);
    assert_eq!(page(), "first\n");
    let conf = root.path().join("httpd.conf");
    let parent = server.pid();

    std::fs::write(&conf, with_root("two")).unwrap();
    kill(parent, "-USR1");
    assert!(eventually(Duration::from_secs(3), || page() == "second\n"));

    // A broken configuration is refused and the server goes on with the one it has.
    std::fs::write(&conf, with_root("two") + "NoSuchDirective here\n").unwrap();
    kill(parent, "-USR1");
    std::thread::sleep(Duration::from_millis(500));
    assert!(alive(parent));
    assert_eq!(page(), "second\n");
    assert!(eventually(Duration::from_secs(3), || !children_of(parent).is_empty()));

    // ServerLimit and ThreadLimit cannot change on a restart: Apache's warnings, and the
    // server goes on (its scoreboard keeps its size).
    let limits = "ServerLimit 3\nThreadLimit 4\nMaxRequestWorkers 7\n";
    std::fs::write(&conf, with_root("one") + limits).unwrap();
    kill(parent, "-HUP");
    assert!(eventually(Duration::from_secs(3), || page() == "first\n"));
    assert_eq!(status(addr)["ParentServerMPMGeneration"], "3");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("[mpm_event:warn]")
            && text.contains(
                "AH00501: changing ServerLimit to 3 from original value of 16 not allowed \
                 during restart"
            )
            && text.contains(
                "AH00506: changing ThreadLimit to 4 from original value of 64 not allowed \
                 during restart"
            )
            // The other limits are clamped against the kept ones, in the restart wording.
            && text.contains(
                "AH00514: MaxRequestWorkers of 7 is not an integer multiple of ThreadsPerChild \
                 of 2, decreasing to nearest multiple 6"
            )
            && !text.contains("WARNING"),
        "{text}"
    );

    // Graceful stop: the children finish and the parent leaves, removing its PidFile.
    let pool = children_of(parent);
    let exit = server.stop_with(28);
    assert!(exit.success(), "{exit:?}");
    assert!(pool.iter().all(|&p| !alive(p)));
    assert!(!root.path().join("logs/httpd.pid").exists());
}

#[test]
fn quick_graceful_restarts_leave_no_child_serving_an_older_configuration() {
    for (mpm, sizing) in [
        (
            "event",
            "    StartServers 3\n    ThreadsPerChild 2\n    MinSpareThreads 6\n    MaxSpareThreads 12\n",
        ),
        (
            "prefork",
            "    StartServers 3\n    MinSpareServers 3\n    MaxSpareServers 6\n",
        ),
    ] {
        let root = tempfile::tempdir().unwrap();
        const ROUNDS: usize = 8;
        for round in 0..=ROUNDS {
            let dir = root.path().join(format!("gen{round}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("page.txt"), format!("{round}\n")).unwrap();
        }
        let port = free_port("127.0.0.1");
        let log = root.path().join("restart_log");
        // A piped error log, as many sites have: each restart also starts its logger.
        let with_root = |round: usize| {
            config(root.path(), mpm, port, sizing)
                + &format!(
                    "DocumentRoot {}\nErrorLog \"|$exec cat >> {}\"\n",
                    root.path().join(format!("gen{round}")).display(),
                    log.display()
                )
        };
        let server = Server::start_with(root.path(), &with_root(0), &["-D", "FOREGROUND"]);
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let page = || page_body(addr);
        assert!(eventually(Duration::from_secs(3), || page() == "0\n"));
        // Restarts in quick succession, each with its own document root, each sent as soon as
        // the one before began (event's AH00493, prefork's AH00171).
        let restarts = || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            text.matches("AH00493").count() + text.matches("AH00171").count()
        };
        let conf = root.path().join("httpd.conf");
        for round in 1..=ROUNDS {
            std::fs::write(&conf, with_root(round)).unwrap();
            kill(server.pid(), "-USR1");
            assert!(eventually(Duration::from_secs(5), || restarts() == round));
        }
        let want = format!("{ROUNDS}\n");
        assert!(
            eventually(Duration::from_secs(10), || (0..40).all(|_| page() == want)),
            "{mpm}: a child still serves an older configuration ({:?})",
            (0..40).map(|_| page()).collect::<Vec<_>>()
        );
    }
}

/// Clock ticks per second, the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const CLOCK_TICKS: u64 = 100;

/// CPU time (user + system, in clock ticks) a process has used, from /proc.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the name.
    let field = |n: usize| {
        fields
            .get(n)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

#[test]
fn a_child_out_of_descriptors_leaves_instead_of_spinning() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "served\n").unwrap();
    let port = free_port("127.0.0.1");
    let sizing = "    StartServers 1\n    ServerLimit 2\n    ThreadsPerChild 64\n    MinSpareThreads 1\n    \
                  MaxSpareThreads 128\n    MaxRequestWorkers 128\n";
    let config = config(root.path(), "event", port, sizing)
        .replace("ErrorLog /dev/stderr", "ErrorLog logs/error_log");
    let server = Server::start_limited(root.path(), &config, &["-D", "FOREGROUND"], 48);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(eventually(Duration::from_secs(3), || get_ok(addr)));
    // More connections than the child has descriptors, each with a request it cannot finish
    // reading the file for once the table is full.
    let held: Vec<std::net::TcpStream> = (0..150)
        .filter_map(|_| {
            let mut stream = std::net::TcpStream::connect(addr).ok()?;
            std::io::Write::write_all(&mut stream, b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                .ok()?;
            Some(stream)
        })
        .collect();
    let log = root.path().join("logs/error_log");
    assert!(eventually(Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("(24)Too many open files: AH02179: apr_socket_accept: (client socket)")
    }));
    // Spinning on the still-readable listener would burn a core; waiting costs nothing.
    let before: u64 = children_of(server.pid())
        .iter()
        .map(|&c| cpu_ticks(c))
        .sum();
    std::thread::sleep(Duration::from_secs(2));
    let after: u64 = children_of(server.pid())
        .iter()
        .map(|&c| cpu_ticks(c))
        .sum();
    assert!(
        after.saturating_sub(before) < CLOCK_TICKS / 2,
        "children used {} ticks in 2 s",
        after.saturating_sub(before)
    );
    drop(held);
    // A new child serves once the old one has left.
    assert!(eventually(Duration::from_secs(5), || get_ok(addr)));
}

#[test]
fn graceful_stop_waits_for_work_in_flight_up_to_graceful_shutdown_timeout() {
    let sizing =
        "    StartServers 1\n    ThreadsPerChild 2\n    MinSpareThreads 1\n    MaxSpareThreads 8\n";
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "served\n").unwrap();
    let port = free_port("127.0.0.1");
    let conf = config(root.path(), "event", port, sizing) + "GracefulShutdownTimeout 1\n";
    let mut server = Server::start_with(root.path(), &conf, &["-D", "FOREGROUND"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(get_ok(addr));
    // A request whose head never finishes keeps its worker busy (Timeout is 60 s).
    let mut stalled = std::net::TcpStream::connect(addr).unwrap();
    use std::io::Write;
    stalled.write_all(b"GET /a.txt HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let exit = server.stop_with(28);
    let took = started.elapsed();
    assert!(exit.success(), "{exit:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "graceful stop took {took:?}"
    );
}

#[test]
fn scoreboard_file_holds_the_live_scoreboard() {
    let sizing =
        "    StartServers 1\n    ThreadsPerChild 2\n    MinSpareThreads 1\n    MaxSpareThreads 8\n";
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "served\n").unwrap();
    let port = free_port("127.0.0.1");
    let conf = config(root.path(), "event", port, sizing) + "ScoreBoardFile logs/scoreboard\n";
    let _server = Server::start_with(root.path(), &conf, &["-D", "FOREGROUND"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(common::eventually(Duration::from_secs(10), || get_ok(addr)));
    let file = root.path().join("logs/scoreboard");
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.len() > 64, "{} bytes", bytes.len());
    // The children's pids and request counts are in it: not all zero.
    assert!(bytes.iter().any(|&b| b != 0));
}

/// Timeout bounds a write to a client that stops reading, under every MPM: the server gives
/// up on the response (the client, reading at last, gets less than the file and then the
/// end) and goes on answering others meanwhile.
#[test]
fn a_client_that_stops_reading_is_dropped_after_timeout() {
    use std::io::{Read, Write};
    const FILE: u64 = 64 << 20;
    for mpm in ["event", "worker", "prefork"] {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("a.txt"), "served\n").unwrap();
        // More than loopback's socket buffers hold, so the server's writes must wait.
        std::fs::File::create(root.path().join("big.bin"))
            .unwrap()
            .set_len(FILE)
            .unwrap();
        let port = free_port("127.0.0.1");
        let conf = config(root.path(), mpm, port, "") + "Timeout 2\n";
        let _server = Server::start_with(root.path(), &conf, &["-D", "FOREGROUND"]);
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(
            eventually(Duration::from_secs(10), || get_ok(addr)),
            "{mpm}"
        );
        let mut stalled = std::net::TcpStream::connect(addr).unwrap();
        stalled
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_secs(1));
        assert!(get_ok(addr), "{mpm}: another client was not answered");
        // Past Timeout, the server has given up on the stalled write.
        std::thread::sleep(Duration::from_secs(4));
        stalled
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut received = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        let ended = loop {
            match stalled.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => received += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        assert!(
            ended,
            "{mpm}: the connection was still open after {received} bytes"
        );
        assert!(
            received < FILE,
            "{mpm}: the whole file came through ({received} bytes): no write timed out"
        );
    }
}

/// Event: with every polling thread blocked in a handler (a proxied request whose client has
/// sent part of its body: the handler reads the rest on its thread), a spare thread is called
/// in, so others are answered at once rather than after the body's timeout. One stuck request
/// per core: a child keeps that many threads in epoll_wait.
#[test]
fn event_answers_others_while_every_poller_is_blocked() {
    use std::io::Write;
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "served\n").unwrap();
    // Takes connections (the kernel does) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let backend = silent.local_addr().unwrap();
    let port = free_port("127.0.0.1");
    let sizing =
        "    StartServers 1\n    ServerLimit 1\n    ThreadsPerChild 8\n    MaxRequestWorkers 8\n";
    let conf = config(root.path(), "event", port, sizing)
        + &format!(
            "LoadModule proxy_module modules/mod_proxy.so\n\
             LoadModule proxy_http_module modules/mod_proxy_http.so\n\
             ProxyPass /stuck http://{backend}/ timeout=20\n"
        );
    let _server = Server::start_with(root.path(), &conf, &["-D", "FOREGROUND"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(eventually(Duration::from_secs(10), || get_ok(addr)));
    // Enough requests that every thread beyond the pollers has gone to rest as a spare.
    for _ in 0..200 {
        assert!(get_ok(addr));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let stuck: Vec<std::net::TcpStream> = (0..cores)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .write_all(
                    b"POST /stuck HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhi",
                )
                .unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..5 {
        let started = std::time::Instant::now();
        assert!(get_ok(addr));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "answered after {took:?}");
    }
    drop(stuck);
    drop(silent);
}

/// Event: a proxied request waits for its backend in the epoll set, not on a thread. A child
/// of one thread holds five requests a silent backend never answers (a GET and a POST over
/// HTTP, the same over FastCGI, a GET through a balancer), and still answers a file and a
/// request to a backend that does at once; each of the five gets its 502 (HTTP) or 504
/// (FastCGI) once its backend's timeout has run out, with Apache's log line for it.
#[test]
fn event_waits_for_a_backend_without_a_thread() {
    use std::io::{Read, Write};
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "served\n").unwrap();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stuck_backend = silent.local_addr().unwrap();
    let live_backend = answering_backend("ok\n", Duration::ZERO);
    let port = free_port("127.0.0.1");
    let sizing = "    StartServers 1\n    ServerLimit 1\n    ThreadsPerChild 1\n    ThreadLimit 1\n    MinSpareThreads 1\n    MaxSpareThreads 1\n    MaxRequestWorkers 1\n";
    let conf = config(root.path(), "event", port, sizing)
        + &format!(
            "LoadModule proxy_module modules/mod_proxy.so\n\
             LoadModule proxy_http_module modules/mod_proxy_http.so\n\
             LoadModule proxy_fcgi_module modules/mod_proxy_fcgi.so\n\
             LoadModule proxy_balancer_module modules/mod_proxy_balancer.so\n\
             LoadModule lbmethod_byrequests_module modules/mod_lbmethod_byrequests.so\n\
             LoadModule slotmem_shm_module modules/mod_slotmem_shm.so\n\
             <Proxy balancer://stuck>\n\
             BalancerMember http://{stuck_backend} timeout=3\n\
             </Proxy>\n\
             ProxyPass /bstuck balancer://stuck/\n\
             ProxyPass /stuck http://{stuck_backend}/ timeout=3\n\
             ProxyPass /fstuck fcgi://{stuck_backend}/ timeout=3\n\
             ProxyPass /live http://{live_backend}/\n\
             ErrorLog logs/error_log\n"
        );
    let _server = Server::start_with(root.path(), &conf, &["-D", "FOREGROUND"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(eventually(Duration::from_secs(10), || get_ok(addr)));
    let started = std::time::Instant::now();
    let requests = [
        ("/stuck", "GET"),
        ("/fstuck", "GET"),
        ("/stuck", "POST"),
        ("/fstuck", "POST"),
        ("/bstuck", "GET"),
    ];
    let stuck: Vec<(std::net::TcpStream, &[u8])> = requests
        .iter()
        .map(|(path, method)| {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            let body = if *method == "POST" { "a=1&b=2" } else { "" };
            let length = if body.is_empty() {
                String::new()
            } else {
                format!("Content-Length: {}\r\n", body.len())
            };
            let request =
                format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n{length}\r\n{body}");
            stream.write_all(request.as_bytes()).unwrap();
            let status: &[u8] = if *path != "/fstuck" {
                b"HTTP/1.1 502"
            } else {
                b"HTTP/1.1 504"
            };
            (stream, status)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert!(get_ok(addr));
    let live = exchange(addr, b"GET /live HTTP/1.0\r\n\r\n");
    let live = String::from_utf8_lossy(&live).into_owned();
    assert!(
        live.starts_with("HTTP/1.1 200 OK\r\n") && live.ends_with("\r\n\r\nok\n"),
        "{live}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered after {:?}",
        started.elapsed()
    );
    for (mut stream, status) in stuck {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).unwrap();
        assert_eq!(&head, status);
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(3),
        "timed out after {waited:?}"
    );
    let log = std::fs::read_to_string(root.path().join("logs/error_log")).unwrap();
    let timeouts = |code: &str| {
        log.lines()
            .filter(|l| l.contains("The timeout specified has expired") && l.contains(code))
            .count()
    };
    assert_eq!((timeouts("AH01102"), timeouts("AH01075")), (3, 2), "{log}");
    drop(silent);
}

/// An event server of one child with `sizing`, mod_proxy and mod_proxy_http loaded and
/// `proxying` (ProxyPass lines) in its configuration, answering.
fn proxy_front(sizing: &str, proxying: &str) -> (tempfile::TempDir, Server, SocketAddr) {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "served\n").unwrap();
    let port = free_port("127.0.0.1");
    let conf = config(root.path(), "event", port, sizing)
        + "LoadModule proxy_module modules/mod_proxy.so\n\
           LoadModule proxy_http_module modules/mod_proxy_http.so\n"
        + proxying;
    let server = Server::start_with(root.path(), &conf, &["-D", "FOREGROUND"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(eventually(Duration::from_secs(10), || get_ok(addr)));
    (root, server, addr)
}

/// Event: clients that go away while their requests wait for a backend leave nothing behind:
/// once the backend has answered, the connections are closed and counted out, and the child
/// serves on.
#[test]
fn event_clients_gone_while_their_backend_works_are_let_go() {
    use std::io::Write;
    let backend = answering_backend("ok\n", Duration::from_millis(700));
    let sizing =
        "    StartServers 1\n    ServerLimit 1\n    ThreadsPerChild 2\n    MaxRequestWorkers 2\n";
    let (_root, _server, addr) =
        proxy_front(sizing, &format!("ProxyPass /slow http://{backend}/\n"));
    for _ in 0..8 {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        drop(stream);
    }
    // The status request's own connection is the one left.
    let settled = eventually(Duration::from_secs(10), || {
        number(&status(addr), "ConnsTotal") == 1
    });
    assert!(settled, "{:?}", status(addr));
    assert!(get_ok(addr));
}

/// Event: a graceful restart while requests wait for a slow backend off their threads: the
/// leaving child stays until each is answered, and the answers are the backend's.
#[test]
fn event_graceful_restart_keeps_requests_waiting_for_a_backend() {
    use std::io::{Read, Write};
    let backend = answering_backend("ok\n", Duration::from_millis(1500));
    let sizing =
        "    StartServers 1\n    ServerLimit 2\n    ThreadsPerChild 2\n    MaxRequestWorkers 4\n";
    let (_root, server, addr) =
        proxy_front(sizing, &format!("ProxyPass /slow http://{backend}/\n"));
    let waiting: Vec<std::net::TcpStream> = (0..6)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .write_all(b"GET /slow HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    signal(server.pid(), "USR1");
    for mut stream in waiting {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("\r\n\r\nok\n"),
            "{answer}"
        );
    }
    assert!(eventually(Duration::from_secs(10), || get_ok(addr)));
}

/// Event: a connection accepted before its client has sent anything (`AcceptFilter http
/// none`, or one a SYN cookie completed) waits in epoll, not on a thread: more such
/// connections than the child has threads leave a later request answered at once.
#[test]
fn event_parks_a_connection_that_has_sent_nothing_yet() {
    let sizing = "    StartServers 1\n    ServerLimit 1\n    ThreadsPerChild 2\n    ThreadLimit 2\n    MinSpareThreads 1\n    MaxSpareThreads 4\n    MaxRequestWorkers 2\n    AsyncRequestWorkerFactor 50\n";
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "served\n").unwrap();
    let port = free_port("127.0.0.1");
    let conf = config(root.path(), "event", port, sizing) + "AcceptFilter http none\nTimeout 30\n";
    let _server = Server::start_with(root.path(), &conf, &["-D", "FOREGROUND"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(eventually(Duration::from_secs(10), || get_ok(addr)));
    let silent: Vec<std::net::TcpStream> = (0..4)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    assert!(get_ok(addr));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    drop(silent);
}

/// How many descriptors of `pids` are open on a file whose path ends with `name`.
fn files_open_named(pids: &[u32], name: &str) -> usize {
    pids.iter()
        .filter_map(|pid| std::fs::read_dir(format!("/proc/{pid}/fd")).ok())
        .flatten()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().ends_with(name))
        .count()
}

/// A small file served is kept open by the thread that served it (the next request for it
/// costs no open and close), and let go once that thread has waited a second for more work:
/// an idle server holds no file it served, under every MPM.
#[test]
fn every_mpm_lets_go_of_served_files_once_idle() {
    for mpm in ["event", "worker", "prefork"] {
        let (_root, server, addr) = start(mpm, "");
        assert!(
            eventually(Duration::from_secs(10), || get_ok(addr)),
            "{mpm}"
        );
        let pid = server.pid();
        let held = || {
            let mut pids = children_of(pid);
            pids.push(pid);
            files_open_named(&pids, "/a.txt")
        };
        let kept = (0..3).any(|_| get_ok(addr) && held() > 0);
        assert!(kept, "{mpm}: the file served was not kept open");
        assert!(
            eventually(Duration::from_secs(5), || held() == 0),
            "{mpm}: {} descriptors still open on the file after idling",
            held()
        );
    }
}
