//! Debian's own `/etc/apache2` tree, as `apt-get install apache2` leaves it, with its envvars
//! sourced: `rhttpd -t` accepts it unchanged and `-S`, `-M` and `-t -D DUMP_INCLUDES` print
//! what apache2 prints, line for line. Documented differences: the program name inside
//! AH00558, and the order of the `Mutex` lines (Apache prints them in hash order).

use std::process::Command;

use compat_tests::{apache2, require_apache2, rhttpd, Outcome};

/// The environment `/etc/apache2/envvars` exports, as apache2ctl sources it.
fn envvars() -> Vec<(String, String)> {
    let output = Command::new("sh")
        .arg("-c")
        .arg("set -a; . /etc/apache2/envvars; env")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .expect("sh");
    let text = String::from_utf8_lossy(&output.stdout);
    let vars: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.starts_with("APACHE_") || *k == "LANG")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // apache2ctl creates the run, lock and log directories before starting apache2.
    for (key, value) in &vars {
        if matches!(
            key.as_str(),
            "APACHE_RUN_DIR" | "APACHE_LOCK_DIR" | "APACHE_LOG_DIR"
        ) {
            std::fs::create_dir_all(value).unwrap();
        }
    }
    vars
}

/// Output lines with the documented differences taken out.
fn normalized(outcome: &Outcome) -> Vec<String> {
    let text = format!("{}{}", outcome.stdout, outcome.stderr);
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            l.replace("AH00558: apache2: ", "AH00558: PROGRAM: ")
                .replace("AH00558: rhttpd: ", "AH00558: PROGRAM: ")
        })
        .collect();
    // Mutex lines are a set: sort them in place among themselves.
    let mutex_positions: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("Mutex "))
        .map(|(i, _)| i)
        .collect();
    let mut mutexes: Vec<String> = mutex_positions.iter().map(|&i| lines[i].clone()).collect();
    mutexes.sort();
    for (slot, line) in mutex_positions.into_iter().zip(mutexes) {
        lines[slot] = line;
    }
    lines.sort_by_key(|l| !l.starts_with("AH00558"));
    lines
}

fn compare(flags: &[&str]) {
    let env = envvars();
    let mut args = vec![
        "-d".to_string(),
        "/etc/apache2".to_string(),
        "-f".to_string(),
        "apache2.conf".to_string(),
    ];
    args.extend(flags.iter().map(|s| s.to_string()));
    let theirs = apache2(&args, &env);
    let ours = rhttpd(&args, &env);
    assert!(
        theirs.ok,
        "apache2 {flags:?} failed on Debian's tree: {}",
        theirs.stderr
    );
    assert!(
        ours.ok,
        "rhttpd {flags:?} failed on Debian's tree: {}",
        ours.stderr
    );
    assert_eq!(
        normalized(&ours),
        normalized(&theirs),
        "rhttpd {flags:?} differs from apache2"
    );
}

#[test]
fn debian_tree_passes_syntax_check() {
    require_apache2();
    compare(&["-t"]);
}

#[test]
fn debian_tree_vhosts_and_run_settings_match() {
    require_apache2();
    compare(&["-S"]);
}

#[test]
fn debian_tree_modules_match() {
    require_apache2();
    compare(&["-M"]);
}

#[test]
fn debian_tree_includes_match() {
    require_apache2();
    compare(&["-t", "-D", "DUMP_INCLUDES"]);
}
