//! The HTTP families of `cases/http/` again, every request over TLS (no SNI) to both servers
//! with `SSLEngine on` in the main server: what mod_ssl changes about the answers (https
//! self-references, port 443, the variables) must change alike.

use std::fs;
use std::path::Path;

use compat_tests::http::{run_family, OVER_TLS};
use compat_tests::require_apache2;
use compat_tests::tls::make_pki;

#[test]
fn http_responses_over_tls_match_apache() {
    require_apache2();
    let pki = make_pki();
    OVER_TLS.set(pki.dir.path().to_path_buf()).unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/http");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|f| f.extension().is_some_and(|e| e == "cases"))
        .collect();
    files.sort();
    let only = std::env::var("HTTP_FAMILY").ok();
    let (mut total, mut known) = (0, 0);
    let mut mismatches = Vec::new();
    for file in &files {
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
        "http over TLS: {total} cases, {} same as apache2, {known} known divergences, {} mismatches",
        total - known - mismatches.len(),
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}
