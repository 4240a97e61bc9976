//! mod_speling's error-log lines diffed against apache2: the info lines of a corrected URL
//! (AH03225, or AH03224 naming the Referer) and of a 300 list (AH03227, AH03226), with times,
//! process ids and ports set aside.

use compat_tests::http::{error_lines, parse_family, Pair};
use compat_tests::require_apache2;

const FAMILY: &str = r#"@@ config
LogLevel warn speling:info
CheckSpelling On
@@ file Readme.txt
readme
@@ file page.html
page html
@@ file page.txt
page txt
"#;

const REQUESTS: &[&[u8]] = &[
    b"GET /readme.txt?a=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    b"GET /README.txt HTTP/1.1\r\nHost: localhost\r\nReferer: http://example.test/links\r\nConnection: close\r\n\r\n",
    b"GET /page.doc HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    b"GET /page.doc?q HTTP/1.1\r\nHost: localhost\r\nReferer: http://example.test/<x>\r\nConnection: close\r\n\r\n",
];

#[test]
fn spelling_fixes_are_logged_as_apache_logs_them() {
    require_apache2();
    let family = parse_family(FAMILY);
    let mut pair = Pair::start(&family);
    for request in REQUESTS {
        let (a, b) = pair.exchange(request);
        let status = |raw: &[u8]| String::from_utf8_lossy(&raw[..12.min(raw.len())]).into_owned();
        assert_eq!(status(&a), status(&b));
    }
    pair.stop();
    let theirs = error_lines(pair.their_site.dir.path(), "[speling:");
    let ours = error_lines(pair.our_site.dir.path(), "[speling:");
    assert_eq!(theirs.len(), 4, "apache2 logged {theirs:#?}");
    assert_eq!(theirs, ours, "the error-log lines differ");
}
