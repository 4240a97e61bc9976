//! A WebDAV client session against both servers: Debian's `litmus` (the WebDAV server test
//! suite: basic, copymove, props, locks, http) runs against a `DAV On` directory of apache2
//! and of rhttpd, each with its own lock database, and rhttpd must pass every test apache2
//! passes; then against rhttpd under prefork with several children, where each request may
//! meet another process, so the lock database is shared across processes.

use std::process::Command;

use compat_tests::http::{free_port, make_site_with_mpm, parse_family, start_daemon, Pair};
use compat_tests::require_apache2;
use compat_tests::rhttpd_bin;

const FAMILY: &str = r#"@@ config
DAVLockDB @DOCROOT@/locks-rw/DavLock
<Directory @DOCROOT@/dav-rw>
    DAV On
</Directory>
@@ file dav-rw/.keep
@@ file locks-rw/.keep
"#;

/// What one litmus run said: each suite's summary line, and the tests it failed.
struct Run {
    summaries: Vec<String>,
    failed: Vec<String>,
    output: String,
}

fn litmus(port: u16) -> Run {
    let url = format!("http://127.0.0.1:{port}/dav-rw/");
    // litmus writes its debug.log and child.log where it runs.
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .current_dir(scratch.path())
        .args(["300", "litmus", &url])
        .output()
        .expect("litmus (Debian package litmus) runs");
    let output = String::from_utf8_lossy(&out.stdout).into_owned();
    let summaries = output
        .lines()
        .filter(|l| l.starts_with("<- summary for"))
        .map(str::to_string)
        .collect();
    // ` 3. propfind_invalid2..... FAIL (why)`: the name is the word before the dots.
    let failed_test = regex::Regex::new(r"(\w+)\.+ FAIL").unwrap();
    let failed = failed_test
        .captures_iter(&output)
        .map(|c| c[1].to_string())
        .collect();
    Run {
        summaries,
        failed,
        output,
    }
}

/// `of 16 tests run: 16 passed, 0 failed.` as (suite, passed).
fn passed(summary: &str) -> (String, u32) {
    let suite = summary
        .split('`')
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .unwrap_or("")
        .to_string();
    let count = regex::Regex::new(r"(\d+) passed")
        .unwrap()
        .captures(summary)
        .and_then(|c| c[1].parse().ok())
        .unwrap_or(0);
    (suite, count)
}

#[test]
fn a_litmus_session_passes_on_rhttpd_wherever_it_passes_on_apache2() {
    require_apache2();
    assert!(
        Command::new("litmus").arg("--version").output().is_ok(),
        "litmus is not installed (apt-get install -y litmus)"
    );
    let family = parse_family(FAMILY);
    let pair = Pair::start(&family);
    let theirs = litmus(pair.their_port);
    let ours = litmus(pair.our_port);
    println!("apache2:\n{}", theirs.summaries.join("\n"));
    println!("rhttpd:\n{}", ours.summaries.join("\n"));
    assert!(
        !theirs.summaries.is_empty(),
        "litmus ran nothing against apache2:\n{}",
        theirs.output
    );
    let their_total: u32 = theirs.summaries.iter().map(|s| passed(s).1).sum();
    assert!(
        their_total > 0,
        "apache2 passed no litmus test:\n{}",
        theirs.output
    );
    for summary in &theirs.summaries {
        let (suite, their_passes) = passed(summary);
        let our_passes = ours
            .summaries
            .iter()
            .map(|s| passed(s))
            .find(|(s, _)| *s == suite)
            .map(|(_, n)| n);
        assert!(
            our_passes.is_some_and(|n| n >= their_passes),
            "litmus suite `{suite}`: apache2 passed {their_passes}, rhttpd {our_passes:?}:\n{}",
            ours.output
        );
    }
    for test in &ours.failed {
        assert!(
            theirs.failed.contains(test),
            "rhttpd failed litmus test {test}, which apache2 passes:\n{}",
            ours.output
        );
    }
}

#[test]
fn a_litmus_session_passes_on_rhttpd_under_prefork_with_several_children() {
    require_apache2();
    if Command::new("litmus").arg("--version").output().is_err() {
        panic!("litmus is not installed (apt-get install -y litmus)");
    }
    let text = FAMILY.replace(
        "@@ config\n",
        "@@ config\nStartServers 4\nMinSpareServers 4\nMaxSpareServers 8\nMaxConnectionsPerChild 3\n",
    );
    let family = parse_family(&text);
    let port = free_port();
    let site = make_site_with_mpm(&family, port, "prefork");
    let server = start_daemon(&rhttpd_bin(), &site, port).unwrap_or_else(|e| panic!("{e}"));
    let run = litmus(port);
    drop(server);
    println!("rhttpd (prefork):\n{}", run.summaries.join("\n"));
    let total: u32 = run.summaries.iter().map(|s| passed(s).1).sum();
    assert!(
        run.failed.is_empty() && total == 104,
        "litmus under prefork: {} passed, failed {:?}:\n{}",
        total,
        run.failed,
        run.output
    );
}
