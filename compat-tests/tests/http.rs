//! HTTP behaviour diffed against apache2: every family file in `cases/http/` is served by both
//! servers (same config, same docroot) and every case's raw request must get the same
//! response (status line, headers in order, body), Date aside.

use compat_tests::http::run_families;
use compat_tests::require_apache2;

#[test]
fn http_responses_match_apache() {
    require_apache2();
    // HTTP_FAMILY=name runs one family while working on it.
    let (total, mismatches, known) = run_families();
    println!(
        "http compat: {total} cases, {} same as apache2, {known} known divergences, {} mismatches",
        total - known - mismatches.len(),
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}
