//! A daemon's error log through its life under apache2 and rhttpd on the same configuration:
//! `-k start`, `-k stop`, and the restarts between, for each MPM, at LogLevel info. A daemon
//! detaches after reading its configuration a second time, so only that reading's warnings
//! reach its log (not the server name guess or the MPM's sizing, which the foreground server
//! logs); then each generation's lines (configured, built, command line), the signals' notices
//! and the PidFile removed at the stop.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use compat_tests::http::free_port;
use compat_tests::{module_set_lines, require_apache2, rhttpd_bin};

/// What the test does to the daemon after `-k start`, and the line count it waits for after
/// each step (of lines containing the needle).
struct Step {
    verb: &'static str,
    needle: &'static str,
    count: usize,
}

/// Polls `check` every 50 ms for up to five seconds.
fn wait_for(mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The error log of one daemon's life, with times, pids, names and paths set aside. `first`
/// is what start waits for in the log before the steps run.
fn daemon_log(program: &Path, mpm: &str, extra: &str, first: &str, steps: &[Step]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    fs::create_dir_all(dir.path().join("logs")).unwrap();
    fs::write(dir.path().join("mime.types"), "text/plain txt\n").unwrap();
    let config = format!(
        "ServerRoot {d}\n{}Listen 127.0.0.1:{}\nErrorLog logs/error_log\n\
         PidFile logs/httpd.pid\nDocumentRoot {d}\nLogLevel info\n{extra}",
        module_set_lines(Some(mpm)),
        free_port()
    );
    fs::write(dir.path().join("t.conf"), config).unwrap();
    let k = |verb: &str| {
        Command::new(program)
            .args(["-d", &d, "-f", "t.conf", "-k", verb])
            .output()
            .unwrap()
    };
    let start = k("start");
    assert!(
        start.status.success(),
        "{} did not start: {}",
        program.display(),
        String::from_utf8_lossy(&start.stderr)
    );
    let log = dir.path().join("logs/error_log");
    let read = || fs::read_to_string(&log).unwrap_or_default();
    wait_for(|| read().contains(first));
    for step in steps {
        assert!(k(step.verb).status.success(), "-k {}", step.verb);
        wait_for(|| read().matches(step.needle).count() >= step.count);
    }
    let pid_file = dir.path().join("logs/httpd.pid");
    wait_for(|| !pid_file.exists());
    // The children's own lines (User #-1 as root) come in any order with the parent's.
    let text: String = read()
        .lines()
        .filter(|l| !l.contains("AH02155"))
        // mod_ssl's start-up lines speak of its library (OpenSSL's version and build), which
        // rustls has no counterpart of.
        .filter(|l| !l.contains("[ssl:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let stamp =
        regex::Regex::new(r"(?m)^\[[^\]]+\] (\[[a-z_]+:[a-z]+\]) \[pid \d+(:tid \d+)?\] ").unwrap();
    let banner = regex::Regex::new(
        r"Apache/2\.4\.\d+ \([A-Za-z]+\)( rhttpd/[0-9.]+)?( OpenSSL/[0-9.a-z]+)?",
    )
    .unwrap();
    // Apache's build date, rhttpd's release; the pid that removed the PidFile.
    let built = regex::Regex::new(r"Server built: .*").unwrap();
    let pid = regex::Regex::new(r"\(pid=\d+\)").unwrap();
    let text = stamp.replace_all(&text, "$1 ").into_owned();
    let text = built
        .replace_all(&text, "Server built: <when>")
        .into_owned();
    let text = pid.replace_all(&text, "(pid=<pid>)").into_owned();
    banner
        .replace_all(&text, "<banner>")
        .replace(&d, "<dir>")
        .replace(&program.display().to_string(), "<program>")
        .replace("apache2", "<program>")
        .replace("rhttpd", "<program>")
}

#[test]
fn a_daemon_logs_what_apache_logs_from_start_to_stop() {
    require_apache2();
    // No ServerName (AH00558), a module loaded twice (a reading warning, AH01574),
    // MaxRequestWorkers to be rounded (AH00514) and small enough to be within MinSpareThreads
    // at once (AH10159).
    let authz = "LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so\n\
                 ThreadsPerChild 25\nMaxRequestWorkers 30\n";
    let steps = [Step {
        verb: "stop",
        needle: "caught SIGTERM",
        count: 1,
    }];
    let near = "MinSpareThreads of MaxRequestWorkers";
    let theirs = daemon_log(Path::new("apache2"), "event", authz, near, &steps);
    let ours = daemon_log(&rhttpd_bin(), "event", authz, near, &steps);
    assert!(theirs.contains("AH01574"), "{theirs}");
    assert_eq!(theirs, ours);
}

#[test]
fn each_mpm_logs_its_restarts_and_stops_as_apache_does() {
    require_apache2();
    let extra = "ServerName localhost\n";
    for mpm in ["prefork", "worker", "event"] {
        let resuming = "resuming normal operations";
        let steps = [
            Step {
                verb: "graceful",
                needle: resuming,
                count: 2,
            },
            Step {
                verb: "restart",
                needle: resuming,
                count: 3,
            },
            Step {
                verb: "graceful-stop",
                needle: "shutting down gracefully",
                count: 1,
            },
        ];
        let theirs = daemon_log(Path::new("apache2"), mpm, extra, resuming, &steps);
        let ours = daemon_log(&rhttpd_bin(), mpm, extra, resuming, &steps);
        assert!(theirs.matches(resuming).count() == 3, "{theirs}");
        assert_eq!(theirs, ours, "{mpm}");
    }
}
