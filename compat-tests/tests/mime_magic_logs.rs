//! mod_mime_magic's error-log lines diffed against apache2: what reading a magic file says
//! (each bad line, once for each of Apache's two configuration passes), a magic file that is
//! not there (the server starts all the same), and what typing a file says (BOINK, a rule left
//! without a type, a compressed file gzip cannot read), with times, process ids and ports set
//! aside.

use compat_tests::http::{error_lines, parse_family, Pair};
use compat_tests::require_apache2;

const FAMILY: &str = r#"@@ config
MIMEMagicFile htdocs/bad.magic
@@ file bad.magic
0	string	BOINKME
>7	string	=x	application/x-boink
0	string	GOOD	image/x-good
x	string	a
>(4.q	byte	1	a/b
>(4.l+2	byte	1	a/b
0	string	aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa	x/long
0	bogus	1	x/y
@@ file boink
BOINKME and some more text to make it longer than the sixty four bytes a rule reads
@@ file good
GOOD and some more text to make it longer than the sixty four bytes a rule reads, too
@@ file other
Neither rule matches this file, and it is longer than the sixty four bytes a rule reads
@@ file broken.hex
1f8b0800000000000003 6e6f742064656661746520646174612c206a757374207465787420
"#;

const REQUESTS: &[&[u8]] = &[
    b"GET /boink HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    b"GET /good HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    b"GET /other HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    b"GET /broken HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
];

/// The head of a response, without the lines that differ from run to run.
fn head(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    head.lines()
        .filter(|l| !l.starts_with("Date:") && !l.starts_with("Server:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn magic_file_and_typing_messages_are_logged_as_apache_logs_them() {
    require_apache2();
    let family = parse_family(FAMILY);
    let mut pair = Pair::start(&family);
    for request in REQUESTS {
        let (a, b) = pair.exchange(request);
        assert_eq!(head(&a), head(&b));
    }
    pair.stop();
    let theirs = error_lines(pair.their_site.dir.path(), "[mime_magic:");
    let ours = error_lines(pair.our_site.dir.path(), "[mime_magic:");
    assert!(
        theirs
            .iter()
            .any(|l| l.contains("AH01539: mod_mime_magic: BOINK"))
            && theirs.iter().any(|l| l.contains("AH01524"))
            && theirs.iter().any(|l| l.contains("AH01554")),
        "apache2 logged {theirs:#?}"
    );
    assert_eq!(theirs, ours, "the error-log lines differ");
}

#[test]
fn a_missing_magic_file_is_logged_and_the_server_starts() {
    require_apache2();
    let family =
        parse_family("@@ config\nMIMEMagicFile conf/no-such.magic\n@@ file plain\nThe text\n");
    let mut pair = Pair::start(&family);
    let request = b"GET /plain HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let (a, b) = pair.exchange(request);
    assert_eq!(head(&a), head(&b));
    // No rules were read: the module types nothing, not even by its text heuristics.
    assert!(!head(&a).contains("Content-Type"), "{}", head(&a));
    pair.stop();
    let theirs = error_lines(pair.their_site.dir.path(), "[mime_magic:");
    let ours = error_lines(pair.our_site.dir.path(), "[mime_magic:");
    assert_eq!(theirs.len(), 2, "apache2 logged {theirs:#?}");
    assert_eq!(theirs, ours, "the error-log lines differ");
}
