//! mod_cgid's logs diffed against apache2: the ScriptLog entries of scripts that fail (no
//! headers, a malformed header, a timeout, a missing script, Options ExecCGI off) and the
//! error-log lines about them, with times, ports and the site's path set aside.

use std::path::Path;
use std::time::Duration;

use compat_tests::http::{error_lines, parse_family, Pair};
use compat_tests::require_apache2;

const FAMILY: &str = r#"@@ config
ScriptAlias /cgi-bin/ "@SERVERROOT@/htdocs/cgi-bin/"
ScriptLog @SERVERROOT@/logs/script.log
ScriptLogBuffer 5
CGIDScriptTimeout 1
<Directory "@SERVERROOT@/htdocs/noexec">
    AddHandler cgi-script .cgi
</Directory>
@@ file cgi-bin/noheaders
#!/bin/sh
echo "dying now" >&2
exit 1
@@ file cgi-bin/malformed
#!/bin/sh
printf 'not a header line\n\nbody\n'
@@ file cgi-bin/hang
#!/bin/sh
sleep 3
@@ file noexec/run.cgi
#!/bin/sh
printf 'Content-Type: text/plain\n\nno\n'
"#;

const REQUESTS: &[&[u8]] = &[
    b"GET /cgi-bin/noheaders?x=1 HTTP/1.1\r\nHost: localhost\r\nX-Test: one\r\nConnection: close\r\n\r\n",
    b"POST /cgi-bin/noheaders HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world",
    b"GET /cgi-bin/malformed HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    b"GET /cgi-bin/hang HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    b"GET /cgi-bin/missing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    b"GET /noexec/run.cgi HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
];

/// The script log with its times and the site's path set aside.
fn script_log(root: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(root.join("logs/script.log")).unwrap_or_default();
    let time = regex::Regex::new(r"^%% \[\w\w\w \w\w\w [ \d]\d \d\d:\d\d:\d\d \d{4}\]").unwrap();
    text.lines()
        .map(|line| {
            time.replace(line, "%% [<time>]")
                .replace(&root.display().to_string(), "<root>")
        })
        .collect()
}

#[test]
fn script_and_error_logs_match_apache() {
    require_apache2();
    let family = parse_family(FAMILY);
    let mut pair = Pair::start(&family);
    // Both servers' workers run as www-data and open the script log for each entry: they may
    // write in its directory.
    use std::os::unix::fs::PermissionsExt;
    for site in [&pair.their_site, &pair.our_site] {
        let logs = site.dir.path().join("logs");
        std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    for request in REQUESTS {
        let (a, b) = pair.exchange(request);
        let status = |raw: &[u8]| String::from_utf8_lossy(&raw[..12.min(raw.len())]).into_owned();
        assert_eq!(
            status(&a),
            status(&b),
            "{}",
            String::from_utf8_lossy(request)
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    let theirs = script_log(pair.their_site.dir.path());
    let ours = script_log(pair.our_site.dir.path());
    assert!(!theirs.is_empty(), "apache2 wrote no script log");
    assert_eq!(theirs, ours, "the script logs differ");
    for needle in [
        "AH01264",
        "AH01262",
        "End of script output before headers",
        "malformed header from script",
        "Script timed out before returning headers",
        "AH01220",
        // mod_cgid's scripts write their stderr into the main error log as it is.
        "dying now",
    ] {
        let a = error_lines(pair.their_site.dir.path(), needle);
        let b = error_lines(pair.our_site.dir.path(), needle);
        assert_eq!(a, b, "error-log lines with {needle}");
    }
}
