//! mod_rewrite against apache2 beyond single answers: the trace it writes at
//! `LogLevel rewrite:trace8` (line for line, the pointers and source lines set aside), the
//! errors it logs, and its setters' messages at `-t`.

use std::time::Duration;

use compat_tests::http::{error_lines, parse_family, Pair};
use compat_tests::require_apache2;

/// A trace line with what differs between any two runs set aside: the server and request
/// pointers and the source line of the message.
fn comparable(line: &str) -> String {
    let pointers = regex::Regex::new(r"sid#[0-9a-f]+\]\[rid#[0-9a-f]+").unwrap();
    let source = regex::Regex::new(r"mod_rewrite\.c\(\d+\): ").unwrap();
    let line = pointers.replace(line, "sid#<s>][rid#<r>");
    source.replace(&line, "").into_owned()
}

#[test]
fn the_rewrite_trace_reads_like_apaches() {
    require_apache2();
    let family = parse_family(
        "@@ config\nLogLevel rewrite:trace8\nRewriteEngine On\n\
         RewriteCond %{HTTP_USER_AGENT} ^curl [NC,OR]\n\
         RewriteCond %{QUERY_STRING} a=(\\d+)\n\
         RewriteRule ^/old/(.*)$ /new/$1?n=%1 [L]\n\
         RewriteRule ^/go$ http://example.test/ [R=301,L]\n\
         <Directory @DOCROOT@>\nAllowOverride All\n</Directory>\n\
         @@ file .htaccess\nRewriteEngine On\nRewriteBase /\n\
         RewriteCond %{REQUEST_FILENAME} !-f\nRewriteRule ^(.*)$ index.html [L]\n\
         @@ file index.html\nindex\n@@ file new/x\nx\n",
    );
    let mut pair = Pair::start(&family);
    for request in [
        "GET /old/x?a=12 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Curl/8\r\nConnection: close\r\n\r\n",
        "GET /go HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "GET /missing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    ] {
        pair.exchange(request.as_bytes());
    }
    std::thread::sleep(Duration::from_millis(300));
    pair.stop();
    let lines = |root: &std::path::Path| -> Vec<String> {
        error_lines(root, "[rewrite:trace")
            .iter()
            .map(|l| comparable(l))
            .collect()
    };
    let apache = lines(pair.their_site.dir.path());
    let ours = lines(pair.our_site.dir.path());
    assert!(apache.len() > 20, "apache2 traced: {apache:#?}");
    assert!(
        apache == ours,
        "apache2:\n{}\nrhttpd:\n{}",
        apache.join("\n"),
        ours.join("\n")
    );
}
