//! Access logs under load and across restarts: many clients on several processes and threads
//! give exactly one whole line per request, and a graceful restart reopens the log, so
//! logrotate's rename-then-graceful works.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{config_head, eventually, exchange, free_port, Server};

fn start(root: &std::path::Path) -> (Server, SocketAddr) {
    std::fs::write(root.join("a.txt"), "logged\n").unwrap();
    let port = free_port("127.0.0.1");
    let config = config_head(root)
        + &format!(
            "Listen 127.0.0.1:{port}\nDocumentRoot {}\n\
             StartServers 2\nThreadsPerChild 4\nMinSpareThreads 4\nMaxSpareThreads 16\n\
             LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b \\\"%{{Referer}}i\\\" \\\"%{{User-Agent}}i\\\"\" combined\n\
             CustomLog logs/access_log combined\n",
            root.display()
        );
    let server = Server::start_with(root, &config, &["-D", "FOREGROUND"]);
    (server, format!("127.0.0.1:{port}").parse().unwrap())
}

/// `clients` threads at once, each sending `each` requests (`request(client, n)`), one per
/// connection, and checking every answer.
fn load(
    addr: SocketAddr,
    clients: usize,
    each: usize,
    request: fn(usize, usize) -> String,
    answered: fn(&[u8]) -> bool,
) {
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            std::thread::spawn(move || {
                for i in 0..each {
                    let response = exchange(addr, request(c, i).as_bytes());
                    assert!(
                        answered(&response),
                        "{}",
                        String::from_utf8_lossy(&response)
                    );
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn concurrent_requests_give_one_whole_line_each() {
    let root = tempfile::tempdir().unwrap();
    let (_server, addr) = start(root.path());
    const CLIENTS: usize = 8;
    const EACH: usize = 250;
    load(
        addr,
        CLIENTS,
        EACH,
        |c, i| format!("GET /a.txt?client={c}&n={i} HTTP/1.0\r\nUser-Agent: load \"{c}\"\r\n\r\n"),
        |response| response.ends_with(b"logged\n"),
    );
    let log = root.path().join("logs/access_log");
    let total = CLIENTS * EACH;
    assert!(eventually(Duration::from_secs(2), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
            == total
    }));
    let text = std::fs::read_to_string(&log).unwrap();
    let line = regex::Regex::new(
        r#"^127\.0\.0\.1 - - \[[^\]]+\] "GET /a\.txt\?client=\d&n=\d+ HTTP/1\.0" 200 7 "-" "load \\"\d\\""$"#,
    )
    .unwrap();
    for entry in text.lines() {
        assert!(line.is_match(entry), "torn or malformed line: {entry:?}");
    }
    let mut seen: Vec<&str> = text
        .lines()
        .map(|l| l.split('"').nth(1).unwrap_or(""))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), total, "every request exactly once");
}

#[test]
fn error_log_lines_from_several_children_stay_whole() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("logs")).unwrap();
    let port = free_port("127.0.0.1");
    let config = config_head(root.path())
        .replace("ErrorLog /dev/stderr", "ErrorLog logs/error_log")
        + &format!(
            "Listen 127.0.0.1:{port}\nDocumentRoot {}\nLogLevel info\n\
             StartServers 4\nThreadsPerChild 2\nMinSpareThreads 8\nMaxSpareThreads 16\n",
            root.path().display()
        );
    let _server = Server::start_with(root.path(), &config, &["-D", "FOREGROUND"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    const CLIENTS: usize = 8;
    const EACH: usize = 150;
    load(
        addr,
        CLIENTS,
        EACH,
        |c, i| format!("GET /missing-{c}-{i} HTTP/1.0\r\n\r\n"),
        |response| response.starts_with(b"HTTP/1.1 404 "),
    );
    let log = root.path().join("logs/error_log");
    let missing = |text: &str| text.matches("AH00128").count();
    assert!(eventually(Duration::from_secs(2), || {
        missing(&std::fs::read_to_string(&log).unwrap_or_default()) == CLIENTS * EACH
    }));
    let line =
        regex::Regex::new(r"^\[[^\]]+\] \[[a-z_]+:[a-z0-9]+\] \[pid \d+(:tid \d+)?\] ").unwrap();
    for entry in std::fs::read_to_string(&log).unwrap().lines() {
        assert!(line.is_match(entry), "torn or malformed line: {entry:?}");
        assert_eq!(
            entry.matches("[pid ").count(),
            1,
            "two lines in one: {entry:?}"
        );
    }
}

#[test]
fn clients_of_a_dual_stack_listener_are_logged_as_apache_logs_them() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "logged\n").unwrap();
    let port = free_port("127.0.0.1");
    // `Listen PORT` binds every address, IPv6 and (mapped) IPv4 alike, as Debian's ports.conf.
    let config = config_head(root.path()).replace("ErrorLog /dev/stderr", "ErrorLog logs/error_log")
        + &format!(
            "Listen {port}\nDocumentRoot {}\nStartServers 1\nThreadsPerChild 2\nMinSpareThreads 1\nMaxSpareThreads 8\n\
             LogLevel info\nCustomLog logs/access_log \"%h %a %A %r\"\n",
            root.path().display()
        );
    let _server = Server::start_with(root.path(), &config, &["-D", "FOREGROUND"]);
    let v4: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let v6: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    exchange(v4, b"GET /a.txt?v4 HTTP/1.0\r\n\r\n");
    exchange(v6, b"GET /a.txt?v6 HTTP/1.0\r\n\r\n");
    let log = root.path().join("logs/access_log");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(eventually(Duration::from_secs(2), || read()
        .lines()
        .count()
        == 2));
    let text = read();
    assert!(
        text.contains("127.0.0.1 127.0.0.1 127.0.0.1 GET /a.txt?v4 HTTP/1.0\n"),
        "{text}"
    );
    assert!(
        text.contains("::1 ::1 ::1 GET /a.txt?v6 HTTP/1.0\n"),
        "{text}"
    );
    // The error log writes the client as ip:port, an IPv6 address without brackets.
    exchange(v4, b"GET /missing-v4 HTTP/1.0\r\n\r\n");
    exchange(v6, b"GET /missing-v6 HTTP/1.0\r\n\r\n");
    let errors = || std::fs::read_to_string(root.path().join("logs/error_log")).unwrap_or_default();
    assert!(eventually(Duration::from_secs(2), || errors()
        .matches("AH00128")
        .count()
        == 2));
    let client =
        regex::Regex::new(r"\[client (\S+):\d+\] AH00128: File does not exist: \S+/missing-(v\d)")
            .unwrap();
    let seen: Vec<(String, String)> = client
        .captures_iter(&errors())
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    assert_eq!(
        seen,
        [
            ("127.0.0.1".to_string(), "v4".to_string()),
            ("::1".to_string(), "v6".to_string())
        ]
    );
}

#[test]
fn a_graceful_restart_reopens_a_rotated_log() {
    let root = tempfile::tempdir().unwrap();
    let (server, addr) = start(root.path());
    let log = root.path().join("logs/access_log");
    exchange(addr, b"GET /a.txt?before HTTP/1.0\r\n\r\n");
    assert!(eventually(Duration::from_secs(2), || log.exists()));
    let rotated = root.path().join("logs/access_log.1");
    std::fs::rename(&log, &rotated).unwrap();
    common::signal(server.pid(), "USR1");
    // Once the new generation serves, its requests go to a new file of the old name.
    assert!(eventually(Duration::from_secs(15), || {
        exchange(addr, b"GET /a.txt?after HTTP/1.0\r\n\r\n");
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("GET /a.txt?after"))
    }));
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(old.contains("GET /a.txt?before"), "{old}");
}

#[test]
fn a_virtual_host_with_its_own_error_log_file_or_pipe_gets_its_request_errors() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    std::fs::create_dir_all(root.path().join("logs")).unwrap();
    let config = config_head(root.path()).replace("ErrorLog /dev/stderr", "ErrorLog logs/main_error")
        + &format!(
            "Listen 127.0.0.1:{port}\nDocumentRoot {root}\nLogLevel info\n\
             <VirtualHost *:{port}>\n    ServerName one.test\n    DocumentRoot {root}\n    ErrorLog logs/one_error\n</VirtualHost>\n\
             <VirtualHost *:{port}>\n    ServerName two.test\n    DocumentRoot {root}\n</VirtualHost>\n\
             <VirtualHost *:{port}>\n    ServerName three.test\n    DocumentRoot {root}\n    ErrorLog \"|$exec cat >> {root}/logs/three_error\"\n</VirtualHost>\n",
            root = root.path().display()
        );
    let _server = Server::start_with(root.path(), &config, &["-D", "FOREGROUND"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    exchange(
        addr,
        b"GET /missing-one HTTP/1.1\r\nHost: one.test\r\nConnection: close\r\n\r\n",
    );
    exchange(
        addr,
        b"GET /missing-two HTTP/1.1\r\nHost: two.test\r\nConnection: close\r\n\r\n",
    );
    let read = |name: &str| {
        std::fs::read_to_string(root.path().join("logs").join(name)).unwrap_or_default()
    };
    assert!(eventually(Duration::from_secs(2), || read("one_error")
        .contains("AH00128: File does not exist:")
        && read("main_error").contains("missing-two")));
    assert!(read("one_error").contains("missing-one"));
    assert!(!read("one_error").contains("missing-two"));
    assert!(!read("main_error").contains("missing-one"));
    // A piped ErrorLog of its own: the host's errors reach the program.
    exchange(
        addr,
        b"GET /missing-three HTTP/1.1\r\nHost: three.test\r\nConnection: close\r\n\r\n",
    );
    assert!(eventually(Duration::from_secs(2), || read("three_error")
        .contains("AH00128: File does not exist:")));
    assert!(read("three_error").contains("missing-three"));
    assert!(!read("main_error").contains("missing-three"));
}

#[test]
fn a_piped_logger_that_dies_is_restarted_on_the_same_pipe() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "logged\n").unwrap();
    let port = free_port("127.0.0.1");
    let piped = root.path().join("logs/piped");
    let config = config_head(root.path())
        + &format!(
            "Listen 127.0.0.1:{port}\nDocumentRoot {}\nStartServers 1\nThreadsPerChild 2\nMinSpareThreads 1\nMaxSpareThreads 8\n\
             CustomLog \"|$exec cat >> {}\" \"%r %>s\"\n",
            root.path().display(),
            piped.display()
        );
    let server = Server::start_with(root.path(), &config, &["-D", "FOREGROUND"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let read = || std::fs::read_to_string(&piped).unwrap_or_default();
    exchange(addr, b"GET /a.txt?first HTTP/1.0\r\n\r\n");
    assert!(eventually(Duration::from_secs(2), || read()
        .contains("GET /a.txt?first HTTP/1.0 200")));
    let loggers = |parent: u32| -> Vec<u32> {
        common::children_of(parent)
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "cat")
            })
            .collect()
    };
    let first = loggers(server.pid());
    assert_eq!(first.len(), 1, "one logger process: {first:?}");
    assert!(std::process::Command::new("kill")
        .args(["-9", &first[0].to_string()])
        .status()
        .unwrap()
        .success());
    assert!(
        eventually(Duration::from_secs(3), || {
            let now = loggers(server.pid());
            now.len() == 1 && now[0] != first[0]
        }),
        "logger not restarted"
    );
    exchange(addr, b"GET /a.txt?second HTTP/1.0\r\n\r\n");
    assert!(eventually(Duration::from_secs(2), || read()
        .contains("GET /a.txt?second HTTP/1.0 200")));
}

#[test]
fn graceful_restarts_retire_the_previous_piped_loggers() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("logs")).unwrap();
    std::fs::write(root.path().join("a.txt"), "logged\n").unwrap();
    let port = free_port("127.0.0.1");
    let (errors, access) = (
        root.path().join("logs/errors"),
        root.path().join("logs/access"),
    );
    let config = config_head(root.path()).replace(
        "ErrorLog /dev/stderr",
        &format!("ErrorLog \"|$exec cat >> {}\"", errors.display()),
    ) + &format!(
        "Listen 127.0.0.1:{port}\nDocumentRoot {}\nStartServers 1\nThreadsPerChild 2\nMinSpareThreads 1\nMaxSpareThreads 8\n\
         CustomLog \"|$exec cat >> {}\" \"%r %>s\"\n",
        root.path().display(),
        access.display()
    );
    let server = Server::start_with(root.path(), &config, &["-D", "FOREGROUND"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let loggers = || {
        common::children_of(server.pid())
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "cat")
            })
            .count()
    };
    let logged = |query: &str| {
        exchange(
            addr,
            format!("GET /a.txt?{query} HTTP/1.0\r\n\r\n").as_bytes(),
        );
        eventually(Duration::from_secs(2), || {
            std::fs::read_to_string(&access)
                .unwrap_or_default()
                .contains(&format!("GET /a.txt?{query} HTTP/1.0 200"))
        })
    };
    assert!(logged("before"));
    let restarts = |text: &str| text.matches("AH00493").count();
    for round in 1..=3 {
        common::signal(server.pid(), "USR1");
        let text = || std::fs::read_to_string(&errors).unwrap_or_default();
        assert!(
            eventually(Duration::from_secs(5), || restarts(&text()) == round),
            "restart {round}:\n{}",
            text()
        );
    }
    // Each restart starts an error logger and an access logger; the previous ones see the end
    // of their input once the old children are gone, and exit.
    assert!(
        eventually(Duration::from_secs(5), || loggers() == 2),
        "{} logger processes after three restarts",
        loggers()
    );
    assert!(logged("after"));
}

#[test]
fn buffered_logs_write_whole_records_in_blocks_and_on_the_way_out() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "logged\n").unwrap();
    let port = free_port("127.0.0.1");
    let config = config_head(root.path())
        + &format!(
            "Listen 127.0.0.1:{port}\nDocumentRoot {}\nStartServers 1\nThreadsPerChild 2\nMinSpareThreads 1\nMaxSpareThreads 8\n\
             BufferedLogs On\nCustomLog logs/buffered \"%r %>s\"\n",
            root.path().display()
        );
    let server = Server::start_with(root.path(), &config, &["-D", "FOREGROUND"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = root.path().join("logs/buffered");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    exchange(addr, b"GET /a.txt?one HTTP/1.0\r\n\r\n");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read(), "", "one short record stays in the buffer");
    // ~30 bytes a record: 200 of them fill the 4 KiB buffer at least once.
    for i in 0..200 {
        exchange(
            addr,
            format!("GET /a.txt?n={i} HTTP/1.0\r\n\r\n").as_bytes(),
        );
    }
    assert!(eventually(Duration::from_secs(2), || !read().is_empty()));
    let written = read();
    assert!(written.ends_with('\n') && written.lines().all(|l| l.ends_with(" 200")));
    // A graceful restart retires the child, which writes out the rest.
    common::signal(server.pid(), "USR1");
    assert!(
        eventually(Duration::from_secs(5), || read().lines().count() == 201),
        "{} records",
        read().lines().count()
    );
}

#[test]
fn log_level_in_sections_and_virtual_hosts_applies_to_their_requests() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    std::fs::create_dir_all(root.path().join("logs")).unwrap();
    let config = config_head(root.path()).replace("ErrorLog /dev/stderr", "ErrorLog logs/error")
        + &format!(
            "Listen 127.0.0.1:{port}\nDocumentRoot {root}\nLogLevel warn\n\
             <Location /loud>\n    LogLevel info\n</Location>\n\
             <VirtualHost *:{port}>\n    ServerName chatty.test\n    DocumentRoot {root}\n    LogLevel core:info\n</VirtualHost>\n\
             <VirtualHost *:{port}>\n    ServerName quiet.test\n    DocumentRoot {root}\n</VirtualHost>\n",
            root = root.path().display()
        );
    let _server = Server::start_with(root.path(), &config, &["-D", "FOREGROUND"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for (host, path) in [
        ("quiet.test", "/quiet-missing"),
        ("quiet.test", "/loud/missing"),
        ("chatty.test", "/chatty-missing"),
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        exchange(addr, request.as_bytes());
    }
    let read = || std::fs::read_to_string(root.path().join("logs/error")).unwrap_or_default();
    assert!(eventually(Duration::from_secs(2), || read().contains("chatty-missing")));
    let log = read();
    assert!(
        log.contains("AH00128: File does not exist: ") && log.contains("/loud/missing"),
        "{log}"
    );
    assert!(!log.contains("quiet-missing"), "warn hides info: {log}");
}

#[test]
fn time_to_first_byte_is_logged_where_it_is_tracked() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("tracked")).unwrap();
    std::fs::write(root.path().join("tracked/a.txt"), "t\n").unwrap();
    std::fs::write(root.path().join("a.txt"), "u\n").unwrap();
    let port = free_port("127.0.0.1");
    let config = config_head(root.path())
        + &format!(
            "LoadModule logio_module modules/mod_logio.so\n\
             Listen 127.0.0.1:{port}\nDocumentRoot {}\n\
             <Location /tracked>\n    LogIOTrackTTFB On\n</Location>\n\
             CustomLog logs/ttfb \"%U %^FB\"\n",
            root.path().display()
        );
    let _server = Server::start(root.path(), &config);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(eventually(Duration::from_secs(5), || {
        std::net::TcpStream::connect(addr).is_ok()
    }));
    exchange(addr, b"GET /tracked/a.txt HTTP/1.0\r\n\r\n");
    exchange(addr, b"GET /a.txt HTTP/1.0\r\n\r\n");
    let log = root.path().join("logs/ttfb");
    assert!(eventually(Duration::from_secs(2), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
            == 2
    }));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let micros = lines[0].strip_prefix("/tracked/a.txt ").unwrap();
    assert!(
        micros.parse::<u64>().is_ok_and(|us| us < 5_000_000),
        "{text}"
    );
    assert_eq!(lines[1], "/a.txt -");
}
