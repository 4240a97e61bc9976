//! A daemon's error log: `-k start`, then `-k stop`, under apache2 and rhttpd on the same
//! configuration. A daemon detaches after reading its configuration a second time, so only
//! that reading's warnings reach its log (not the server name guess or the MPM's sizing, which
//! the foreground server logs); then the run's own lines, at LogLevel info (the build, the
//! PidFile removed at the stop).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use compat_tests::http::free_port;
use compat_tests::{module_set_lines, require_apache2, rhttpd_bin};

/// The error log of one daemon's life, with times, pids, names and paths set aside.
fn daemon_log(program: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    fs::create_dir_all(dir.path().join("logs")).unwrap();
    fs::write(dir.path().join("mime.types"), "text/plain txt\n").unwrap();
    let modules = module_set_lines(Some("event"));
    let authz = modules
        .lines()
        .find(|l| l.contains("authz_core_module"))
        .unwrap()
        .to_string();
    // No ServerName (AH00558), a module loaded twice (a reading warning, AH01574),
    // MaxRequestWorkers to be rounded (AH00514) and small enough to be within MinSpareThreads
    // at once (AH10159).
    let config = format!(
        "ServerRoot {d}\n{modules}{authz}\nListen 127.0.0.1:{}\nErrorLog logs/error_log\n\
         PidFile logs/httpd.pid\nDocumentRoot {d}\nThreadsPerChild 25\nMaxRequestWorkers 30\n\
         LogLevel info\n",
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
    let started = Instant::now();
    while !read().contains("MinSpareThreads of MaxRequestWorkers")
        && started.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(k("stop").status.success());
    let pid_file = dir.path().join("logs/httpd.pid");
    let started = Instant::now();
    while pid_file.exists() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let stamp =
        regex::Regex::new(r"(?m)^\[[^\]]+\] (\[[a-z_]+:[a-z]+\]) \[pid \d+(:tid \d+)?\] ").unwrap();
    let banner = regex::Regex::new(r"Apache/2\.4\.\d+ \([A-Za-z]+\)( rhttpd/[0-9.]+)?").unwrap();
    // Apache's build date, rhttpd's release; the pid that removed the PidFile.
    let built = regex::Regex::new(r"Server built: .*").unwrap();
    let pid = regex::Regex::new(r"\(pid=\d+\)").unwrap();
    let text = stamp.replace_all(&read(), "$1 ").into_owned();
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
    let theirs = daemon_log(Path::new("apache2"));
    let ours = daemon_log(&rhttpd_bin());
    assert!(theirs.contains("AH01574"), "{theirs}");
    assert_eq!(theirs, ours);
}
