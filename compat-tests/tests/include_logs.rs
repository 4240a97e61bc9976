//! mod_include's error-log lines diffed against apache2: every case of the `include` family
//! is requested of both servers and the `[include:...]` and `[cgid:...]` lines (each
//! element's error and warning, with its AH number and the document's path) must be the same, in order, with
//! times, process ids and ports set aside.

use compat_tests::http::{error_lines, parse_family, Pair};
use compat_tests::require_apache2;

#[test]
fn element_errors_are_logged_as_apache_logs_them() {
    require_apache2();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/cases/http/include.cases");
    let text = std::fs::read_to_string(path).expect("the include family");
    let mut family = parse_family(&text);
    family.config.push_str("LogLevel warn include:debug\n");
    let mut pair = Pair::start(&family);
    for case in &family.cases {
        pair.exchange(&case.request);
    }
    pair.stop();
    // mod_cgid logs the exec element's errors under its own name.
    let lines = |root: &std::path::Path| {
        error_lines(root, "")
            .into_iter()
            .filter(|l| l.contains("[include:") || l.contains("[cgid:"))
            // Requests' lines only: apache2's cgid daemon logs its own as it stops.
            .filter(|l| l.contains("[client "))
            .collect::<Vec<_>>()
    };
    let theirs = lines(pair.their_site.dir.path());
    let ours = lines(pair.our_site.dir.path());
    assert!(theirs.len() > 50, "apache2 logged {theirs:#?}");
    // The legacy parser's refused -A is among them, at debug with its status as the cause.
    assert!(theirs.iter().any(|l| l.contains("AH01336")), "{theirs:#?}");
    let mismatched: Vec<String> = theirs
        .iter()
        .zip(ours.iter())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("apache2: {a}\nrhttpd:  {b}"))
        .collect();
    assert!(
        mismatched.is_empty() && theirs.len() == ours.len(),
        "{} lines against {}; first differences:\n{}\nlines only apache2 wrote: {:#?}\nonly rhttpd: {:#?}",
        theirs.len(),
        ours.len(),
        mismatched.iter().take(8).cloned().collect::<Vec<_>>().join("\n"),
        theirs.get(ours.len()..).unwrap_or_default(),
        ours.get(theirs.len()..).unwrap_or_default(),
    );
}
