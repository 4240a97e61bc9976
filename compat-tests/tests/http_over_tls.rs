//! The HTTP families of `cases/http/` again, every request over TLS (no SNI) to both servers
//! with `SSLEngine on` in the main server: what mod_ssl changes about the answers (https
//! self-references, port 443, the scheme an absolute target must have) must change alike.

use compat_tests::http::{run_families, OVER_TLS};
use compat_tests::require_apache2;
use compat_tests::tls::make_pki;

#[test]
fn http_responses_over_tls_match_apache() {
    require_apache2();
    let pki = make_pki();
    OVER_TLS.set(pki.dir.path().to_path_buf()).unwrap();
    let (total, mismatches, known) = run_families();
    println!(
        "http over TLS: {total} cases, {} same as apache2, {known} known divergences, {} mismatches",
        total - known - mismatches.len(),
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}
