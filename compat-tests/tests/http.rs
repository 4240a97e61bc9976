//! HTTP behaviour diffed against apache2: every family file in `cases/http/` is served by both
//! servers (same config, same docroot) and every case's raw request must get the same
//! response (status line, headers in order, body), Date aside.

use std::fs;
use std::path::Path;

use compat_tests::http::run_family;
use compat_tests::require_apache2;

#[test]
fn http_responses_match_apache() {
    require_apache2();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/http");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    files.sort();
    // HTTP_FAMILY=name runs one family while working on it.
    let only = std::env::var("HTTP_FAMILY").ok();
    let (mut total, mut known) = (0, 0);
    let mut mismatches = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "cases"))
    {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        if only.as_ref().is_some_and(|only| *only != name) {
            continue;
        }
        let (cases, bad, divergences) = run_family(&name, &fs::read_to_string(file).unwrap());
        total += cases;
        known += divergences;
        mismatches.extend(bad);
    }
    println!(
        "http compat: {total} cases, {} same as apache2, {known} known divergences, {} mismatches",
        total - known - mismatches.len(),
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}
