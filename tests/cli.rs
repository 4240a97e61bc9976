//! The rhttpd binary's own command-line behaviour (no reference server needed): the sample
//! config, the embedded fallback, version and module reports, usage errors, and the honest
//! refusal to serve before the HTTP engine lands.

use std::path::Path;
use std::process::{Command, Output};

fn rhttpd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rhttpd"))
        .args(args)
        .output()
        .expect("run rhttpd")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn repo() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

#[test]
fn sample_config_passes_the_syntax_check() {
    let out = rhttpd(&["-d", repo(), "-f", "sample-httpd.conf", "-t"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr).trim(), "Syntax OK");
}

#[test]
fn missing_default_config_falls_back_to_the_embedded_sample() {
    let root = tempfile::tempdir().unwrap();
    let out = rhttpd(&["-d", &root.path().display().to_string(), "-t"]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("using the embedded sample configuration"),
        "{stderr}"
    );
    assert!(stderr.contains("Syntax OK"), "{stderr}");
}

#[test]
fn without_any_config_the_embedded_sample_runs_where_rhttpd_is_started() {
    // What a fresh install does: no -d, no -f, no /etc/rhttpd/rhttpd.conf.
    if Path::new("/etc/rhttpd/rhttpd.conf").exists() {
        return;
    }
    let here = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rhttpd"))
        .arg("-V")
        .current_dir(here.path())
        .output()
        .expect("run rhttpd");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("Server MPM:     event"), "{stdout}");
    let shown = Command::new(env!("CARGO_BIN_EXE_rhttpd"))
        .args(["-t", "-D", "DUMP_RUN_CFG"])
        .current_dir(here.path())
        .output()
        .expect("run rhttpd");
    let root = std::fs::canonicalize(here.path()).unwrap();
    assert!(
        text(&shown.stdout).contains(&format!("ServerRoot: \"{}\"", root.display())),
        "{}",
        text(&shown.stdout)
    );
}

#[test]
fn an_explicit_missing_config_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let out = rhttpd(&[
        "-d",
        &root.path().display().to_string(),
        "-f",
        "nope.conf",
        "-t",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!(
        "rhttpd: Could not open configuration file {}/nope.conf: No such file or directory",
        root.path().display()
    );
    assert_eq!(text(&out.stderr).trim(), expected);
}

#[test]
fn version_reports_apache_compatibility() {
    let out = rhttpd(&["-v"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).starts_with("Server version: Apache/2.4.71 (Unix)\n"));
}

#[test]
fn module_list_names_the_selected_mpm() {
    let out = rhttpd(&["-d", repo(), "-f", "sample-httpd.conf", "-l"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("Compiled in modules:\n  core.c\n"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("event.c"), "{stdout}");
    let out = rhttpd(&["-d", repo(), "-f", "sample-httpd.conf", "-V"]);
    assert!(text(&out.stdout).contains("Server MPM:     event\n"));
}

#[test]
fn usage_errors_exit_one() {
    for args in [&["-h"][..], &["-Q"], &["-k", "explode"], &["stray"]] {
        let out = rhttpd(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out.stderr).contains("Usage: rhttpd [-D name]"),
            "{args:?}"
        );
    }
}

#[test]
fn stopping_a_server_that_is_not_running_says_so_without_pending_warnings() {
    let root = tempfile::tempdir().unwrap();
    let pid_file = root.path().join("none.pid");
    let pid_directive = format!("PidFile {}", pid_file.display());
    let stop = || {
        rhttpd(&[
            "-d",
            repo(),
            "-f",
            "sample-httpd.conf",
            "-c",
            &pid_directive,
            // The last directive of the module set whose effect landed: nothing is reported.
            "-c",
            "SetInputFilter DEFLATE",
            "-k",
            "stop",
        ])
    };
    let out = stop();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "httpd (no pid file) not running\n");
    std::fs::write(&pid_file, "999999\n").unwrap();
    let out = stop();
    assert_eq!(text(&out.stdout), "httpd (pid 999999?) not running\n");
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("is accepted but its effect"), "{stderr}");
}

#[test]
fn the_sample_config_serves_its_page_in_the_foreground() {
    let root = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sample = std::fs::read_to_string(Path::new(repo()).join("sample-httpd.conf")).unwrap();
    let config = sample.replace("Listen 127.0.0.1:8080", &format!("Listen 127.0.0.1:{port}"));
    std::fs::write(root.path().join("sample-httpd.conf"), config).unwrap();
    // Run as root, the children serve as `nobody`, who must be able to enter the root.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(root.path().join("htdocs")).unwrap();
    std::fs::create_dir_all(root.path().join("logs")).unwrap();
    std::fs::copy(
        Path::new(repo()).join("htdocs/index.html"),
        root.path().join("htdocs/index.html"),
    )
    .unwrap();
    std::fs::copy(
        Path::new(repo()).join("mime.types"),
        root.path().join("mime.types"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rhttpd"))
        .args([
            "-d",
            &root.path().display().to_string(),
            "-f",
            "sample-httpd.conf",
            "-D",
            "FOREGROUND",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut response = String::new();
    for _ in 0..200 {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .unwrap();
            stream.read_to_string(&mut response).unwrap();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    // SIGTERM: the parent stops its children before it leaves.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.contains("Content-Type: text/html\r\n"),
        "{response}"
    );
    assert!(
        response.ends_with("It works!</h1><p>Served by rhttpd.</p></body></html>\n"),
        "{response}"
    );
}
