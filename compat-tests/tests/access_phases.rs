//! Requests whose error log lines matter, under apache2 -X and rhttpd -X: the status line and
//! the lines each request left must be the same. The access phases with module sets smaller
//! than Debian's (which module answers access, authentication and authorization decides the
//! status; a phase no loaded module answers is AH00025), and what reading a `.htaccess` says
//! again for every request.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use compat_tests::http::{exchange, free_port};
use compat_tests::{require_apache2, rhttpd_bin, DEBIAN_MODULES};

/// (what the case is, the modules loaded besides the MPM, configuration for the files).
const CASES: &[(&str, &[&str], &str)] = &[
    ("no access modules at all", &[], ""),
    ("mod_authz_core alone", &["authz_core"], ""),
    ("mod_authn_core alone", &["authn_core"], ""),
    (
        "Require valid-user with nothing to authenticate",
        &["authz_core", "authz_user"],
        "Require valid-user\n",
    ),
    (
        "AuthType Basic without mod_auth_basic",
        &["authz_core", "authz_user", "authn_core"],
        "AuthType Basic\nAuthName x\nRequire valid-user\n",
    ),
    (
        "Satisfy Any with the address refused and no AuthType",
        &["authz_core", "authz_user", "authn_core", "access_compat"],
        "Order deny,allow\nDeny from all\nSatisfy Any\nRequire valid-user\n",
    ),
    (
        "Satisfy All with the address refused",
        &["authz_core", "authn_core", "access_compat"],
        "Order deny,allow\nDeny from all\n",
    ),
];

/// One server pair at a time: two tests picking a free port at once could pick the same.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        compat_tests::stop_child(&mut self.0);
    }
}

/// The status line and the error log lines the request left, times and pids set aside (a
/// `.htaccess` in the directory when `htaccess` has one; the request made twice then).
fn run(
    program: &Path,
    modules: &[&str],
    files: &str,
    htaccess: Option<&str>,
) -> (String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    fs::create_dir_all(dir.path().join("logs")).unwrap();
    fs::create_dir_all(dir.path().join("htdocs")).unwrap();
    fs::write(dir.path().join("htdocs/a.txt"), "hello\n").unwrap();
    if let Some(text) = htaccess {
        fs::write(dir.path().join("htdocs/.htaccess"), text).unwrap();
    }
    let port = free_port();
    let mut config =
        format!("ServerRoot {d}\nLoadModule mpm_event_module {DEBIAN_MODULES}/mod_mpm_event.so\n");
    for module in modules {
        config.push_str(&format!(
            "LoadModule {module}_module {DEBIAN_MODULES}/mod_{module}.so\n"
        ));
    }
    config.push_str(&format!(
        "Listen 127.0.0.1:{port}\nServerName localhost\nErrorLog logs/error_log\n\
         PidFile logs/httpd.pid\nDocumentRoot {d}/htdocs\n<Directory {d}/htdocs>\n{files}</Directory>\n"
    ));
    fs::write(dir.path().join("t.conf"), config).unwrap();
    let child = Command::new(program)
        .args(["-X", "-d", &d, "-f", "t.conf"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _running = Running(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} did not start",
            program.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut answer = exchange(port, b"GET /a.txt HTTP/1.0\r\n\r\n");
    if htaccess.is_some() {
        answer = exchange(port, b"GET /a.txt HTTP/1.0\r\n\r\n");
    }
    let status = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    // The request's lines are written before the answer is sent.
    let log = fs::read_to_string(dir.path().join("logs/error_log")).unwrap_or_default();
    let stamp = regex::Regex::new(
        r"^\[[^\]]+\] (\[[a-z_]+:[a-z]+\]) \[pid \d+(:tid \d+)?\] (\[client [0-9.]+:\d+\] )?",
    )
    .unwrap();
    let lines = log
        .lines()
        .filter(|line| stamp.is_match(line))
        .map(|line| stamp.replace(line, "$1 ").replace(&d, "<dir>"))
        .collect();
    (status, lines)
}

#[test]
fn phases_no_loaded_module_answers_fail_as_apache_fails_them() {
    require_apache2();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut mismatches = Vec::new();
    for (name, modules, files) in CASES {
        let theirs = run(Path::new("apache2"), modules, files, None);
        let ours = run(&rhttpd_bin(), modules, files, None);
        if theirs != ours {
            mismatches.push(format!(
                "{name}:\n  apache2: {theirs:?}\n  rhttpd:  {ours:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn what_reading_an_htaccess_says_is_said_for_every_request() {
    require_apache2();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let modules = ["authz_core"];
    let files = "AllowOverride All\n";
    let htaccess = Some("DefaultType text/plain\n");
    let theirs = run(Path::new("apache2"), &modules, files, htaccess);
    let ours = run(&rhttpd_bin(), &modules, files, htaccess);
    assert_eq!(ours, theirs);
    assert_eq!(
        theirs.1.iter().filter(|l| l.contains("AH00117")).count(),
        2,
        "apache2 warns once a request: {theirs:?}"
    );
}
