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
fn starting_without_a_server_engine_says_so_and_names_pending_directives() {
    let out = rhttpd(&["-d", repo(), "-f", "sample-httpd.conf"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("serving requests is not implemented yet"),
        "{stderr}"
    );
    let config = Path::new(repo()).join("sample-httpd.conf");
    let text = std::fs::read_to_string(&config).unwrap();
    let listen_line = text.lines().position(|l| l.starts_with("Listen ")).unwrap() + 1;
    let expected = format!(
        "Listen on line {listen_line} of {} is accepted but its effect is not implemented yet",
        config.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}
