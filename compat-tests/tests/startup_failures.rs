//! Starts that fail after the configuration was read (a log that cannot be opened, a piped
//! logger that cannot start, a missing TypesConfig file): apache2 -X and rhttpd -X must exit
//! the same way and say the same things in the same places, the terminal or the error log.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use compat_tests::http::free_port;
use compat_tests::{module_set_lines, require_apache2, rhttpd_bin};

const CASES: &[(&str, &str)] = &[
    (
        "a CustomLog that is a directory",
        "CustomLog @DIR@/htdocs common\n",
    ),
    (
        "a CustomLog program that does not exist",
        "CustomLog \"|@DIR@/no-such-logger\" common\n",
    ),
    (
        "a missing TypesConfig file after a piped CustomLog started",
        "CustomLog \"|$cat > /dev/null\" common\nTypesConfig @DIR@/no-such-types\n",
    ),
    (
        "a virtual host's ErrorLog program that does not exist",
        "<VirtualHost *:@PORT@>\nErrorLog \"|@DIR@/no-such-logger\"\n</VirtualHost>\n",
    ),
    (
        "a virtual host's ErrorLog that is a directory",
        "<VirtualHost *:@PORT@>\nErrorLog @DIR@/htdocs\n</VirtualHost>\n",
    ),
    (
        "the main ErrorLog program does not exist",
        "ErrorLog \"|@DIR@/no-such-logger\"\n",
    ),
    (
        "a missing TypesConfig file",
        "TypesConfig @DIR@/no-such-types\n",
    ),
    (
        "a balancer without mod_slotmem_shm",
        "#without slotmem_shm\nUser www-data\nGroup www-data\nProxyPass /b balancer://x\nBalancerMember balancer://x http://127.0.0.1:9\n",
    ),
    (
        "mod_proxy_balancer without mod_slotmem_shm and no balancer",
        "#without slotmem_shm\nUser www-data\nGroup www-data\n",
    ),
    (
        "a balancer without its lbmethod's module",
        "#without lbmethod_byrequests\nUser www-data\nGroup www-data\nProxyPass /b balancer://x\nBalancerMember balancer://x http://127.0.0.1:9\n",
    ),
];

/// The module lines, less those the case's `#without NAME` lines name.
fn modules_for(body: &str) -> String {
    let dropped: Vec<String> = body
        .lines()
        .filter_map(|l| l.strip_prefix("#without "))
        .map(|name| format!("LoadModule {name}_module "))
        .collect();
    module_set_lines(Some("event"))
        .lines()
        .filter(|line| !dropped.iter().any(|d| line.starts_with(d.as_str())))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Exit status, what reached the terminal, and what the error log holds, with times, pids,
/// the site's directory and the program's name set aside.
fn run(program: &Path, dir: &Path) -> (bool, String, String) {
    let mut child = Command::new(program)
        .args(["-X", "-d", &dir.display().to_string(), "-f", "t.conf"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut terminal = String::new();
    use std::io::Read;
    let _ = child.stderr.take().unwrap().read_to_string(&mut terminal);
    let log = fs::read_to_string(dir.join("logs/error_log")).unwrap_or_default();
    let stamp =
        regex::Regex::new(r"(?m)^\[[^\]]+\] (\[[a-z_]*:[a-z]+\]) \[pid \d+(:tid \d+)?\] ").unwrap();
    // Debian's mod_ssl warns when the OpenSSL it finds is older than the one it was built
    // with: a fact of this machine, not of the start.
    let clean = |text: &str| {
        let text: String = text
            .lines()
            .filter(|line| !line.contains("AH01882"))
            .map(|line| format!("{line}\n"))
            .collect();
        stamp
            .replace_all(&text, "$1 ")
            .replace(&dir.display().to_string(), "<dir>")
            .replace("apache2:", "PROGRAM:")
            .replace("rhttpd:", "PROGRAM:")
    };
    let ok = status.is_some_and(|s| s.success());
    (ok, clean(&terminal), clean(&log))
}

#[test]
fn failed_starts_say_what_apache_says_where_it_says_it() {
    require_apache2();
    let mut mismatches = Vec::new();
    for (name, body) in CASES {
        let mut outcomes = Vec::new();
        for (program, modules) in [
            (Path::new("apache2").to_path_buf(), modules_for(body)),
            (rhttpd_bin(), modules_for(body)),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path().display().to_string();
            fs::create_dir_all(dir.path().join("logs")).unwrap();
            fs::create_dir_all(dir.path().join("htdocs")).unwrap();
            fs::write(dir.path().join("mime.types"), "text/plain txt\n").unwrap();
            let port = free_port();
            let config = format!(
                "ServerRoot {d}\n{modules}Listen 127.0.0.1:{port}\nServerName localhost\n\
                 ErrorLog logs/error_log\nPidFile logs/httpd.pid\nDocumentRoot {d}/htdocs\n{}",
                body.replace("@DIR@", &d)
                    .replace("@PORT@", &port.to_string())
            );
            fs::write(dir.path().join("t.conf"), config).unwrap();
            outcomes.push(run(&program, dir.path()));
        }
        let (theirs, ours) = (&outcomes[0], &outcomes[1]);
        assert!(
            !theirs.0,
            "{name}: apache2 started; the case is not a failing start"
        );
        if theirs != ours {
            mismatches.push(format!(
                "{name}:\n--- apache2 (ok {}):\nterminal:\n{}error log:\n{}\n--- rhttpd (ok {}):\nterminal:\n{}error log:\n{}",
                theirs.0, theirs.1, theirs.2, ours.0, ours.1, ours.2
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
