//! mod_dav's error-log lines diffed against apache2: its AH lines (bad Depth, Overwrite,
//! Destination, missing elements), the stacked errors it logs with their status and error id
//! (`desc  [status, #id]`, the system error first where there is one), and core's lines for a
//! request body the XML parser refuses. Times, process ids and ports are set aside. The
//! access log's `%R` names mod_dav's handler as Apache's does.

use compat_tests::http::{error_lines, parse_family, Pair};
use compat_tests::require_apache2;

const WITH_LOCKS: &str = r#"@@ config
LogLevel warn
CustomLog @SERVERROOT@/logs/dav.log "%R %>s %m %U %b"
DAVLockDB @DOCROOT@/locks-rw/DavLock
<Directory @DOCROOT@/dav-rw>
    DAV On
</Directory>
@@ file dav-rw/a.txt
hello
@@ file dav-rw/sub/b.txt
bee
@@ file locks-rw/.keep
"#;

const WITHOUT_LOCKS: &str = r#"@@ config
LogLevel warn
<Directory @DOCROOT@/dav-rw>
    DAV On
</Directory>
@@ file dav-rw/a.txt
hello
"#;

fn request(method: &str, path: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends the requests to both servers, then compares the error-log lines holding one of the
/// `needles` (`expected` of them) and, when named, an access log.
fn compare(
    family: &str,
    requests: &[Vec<u8>],
    needles: &[&str],
    expected: usize,
    access_log: Option<&str>,
) {
    let family = parse_family(family);
    let mut pair = Pair::start(&family);
    for request in requests {
        let (a, b) = pair.exchange(request);
        let status = |raw: &[u8]| String::from_utf8_lossy(&raw[..12.min(raw.len())]).into_owned();
        assert_eq!(
            status(&a),
            status(&b),
            "{}",
            String::from_utf8_lossy(request)
        );
    }
    pair.stop();
    if let Some(access) = access_log {
        let read =
            |root: &std::path::Path| std::fs::read_to_string(root.join(access)).unwrap_or_default();
        let theirs = read(pair.their_site.dir.path());
        assert_eq!(theirs.lines().count(), requests.len(), "{theirs}");
        assert_eq!(
            theirs,
            read(pair.our_site.dir.path()),
            "the access logs differ"
        );
    }
    let lines = |root: &std::path::Path| -> Vec<String> {
        needles.iter().flat_map(|n| error_lines(root, n)).collect()
    };
    let theirs = lines(pair.their_site.dir.path());
    let ours = lines(pair.our_site.dir.path());
    assert_eq!(theirs.len(), expected, "apache2 logged {theirs:#?}");
    assert_eq!(theirs, ours, "the error-log lines differ");
}

#[test]
fn dav_errors_are_logged_as_apache_logs_them() {
    require_apache2();
    let lockinfo = r#"<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#;
    let requests = [
        request("PROPFIND", "/dav-rw/a.txt", "Depth: 2\r\n", ""),
        request("PROPFIND", "/dav-rw/a.txt", "", "<D:propfind xmlns:D=\"DAV:\"/>"),
        request("PROPFIND", "/dav-rw/a.txt", "", "<D:prop xmlns:D=\"DAV:\"/>"),
        request("PROPFIND", "/dav-rw/a.txt", "", "<D:propfind>"),
        request("PROPFIND", "/dav-rw/a.txt", "", "<D:propfind/>"),
        request("PROPFIND", "/dav-rw/a.txt/x", "", ""),
        request("PROPFIND", "/dav-rw/a.txt", "", "<a x=\"1\" x=\"2\"/>"),
        request("PROPFIND", "/dav-rw/a.txt", "", "<a/><b/>"),
        request("PROPFIND", "/dav-rw/a.txt", "", "<a></b>"),
        request("PROPFIND", "/dav-rw/a.txt", "", "not xml"),
        request("PROPFIND", "/dav-rw/a.txt", "", "<a>&nope;</a>"),
        request("PROPFIND", "/dav-rw/a.txt", "", "<D:propfind xmlns:D=\"DAV:\">"),
        request("PROPPATCH", "/dav-rw/a.txt", "", ""),
        request(
            "PROPPATCH",
            "/dav-rw/a.txt",
            "",
            "<D:propertyupdate xmlns:D=\"DAV:\"><D:set/></D:propertyupdate>",
        ),
        request(
            "PROPPATCH",
            "/dav-rw/a.txt",
            "",
            "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><D:getetag/><D:displayname>x</D:displayname></D:prop></D:set></D:propertyupdate>",
        ),
        request("MKCOL", "/dav-rw/no/such", "", ""),
        request("PUT", "/dav-rw/no/such.txt", "", "x"),
        request("DELETE", "/dav-rw/sub/", "Depth: 0\r\n", ""),
        request("DELETE", "/dav-rw/a.txt", "Depth: 1\r\n", ""),
        request("COPY", "/dav-rw/a.txt", "", ""),
        request("COPY", "/dav-rw/a.txt", "Destination: /dav-rw/b.txt\r\n", ""),
        request("COPY", "/dav-rw/a.txt", "Destination: http://localhost/dav-rw/b.txt?q\r\n", ""),
        request("COPY", "/dav-rw/a.txt", "Destination: http://localhost/dav-rw/b.txt\r\nDepth: 1\r\n", ""),
        request("COPY", "/dav-rw/a.txt", "Destination: http://localhost/dav-rw/b.txt\r\nOverwrite: x\r\n", ""),
        request("MOVE", "/dav-rw/sub/", "Destination: http://localhost/dav-rw/sub2/\r\nDepth: 0\r\n", ""),
        request("MOVE", "/dav-rw/a.txt", "Destination: http://localhost/dav-rw/no/a.txt\r\n", ""),
        request("COPY", "/dav-rw/a.txt", "Destination: http://localhost/elsewhere.txt\r\n", ""),
        request("LOCK", "/dav-rw/a.txt", "Depth: 1\r\n", lockinfo),
        request("LOCK", "/dav-rw/a.txt", "", ""),
        request("LOCK", "/dav-rw/no/such.txt", "", lockinfo),
        request("LOCK", "/dav-rw/a.txt", "", "<D:lockinfo xmlns:D=\"DAV:\"><D:what/></D:lockinfo>"),
        request("LOCK", "/dav-rw/a.txt", "", lockinfo),
        request("PUT", "/dav-rw/a.txt", "", "x"),
        request("PUT", "/dav-rw/a.txt", "If: (<opaquelocktoken:00000000-0000-0000-0000-000000000000>)\r\n", "x"),
        request("PUT", "/dav-rw/sub/b.txt", "If: (x\r\n", "x"),
        request("UNLOCK", "/dav-rw/a.txt", "", ""),
        request("UNLOCK", "/dav-rw/a.txt", "Lock-Token: <urn:x>\r\n", ""),
        request("UNLOCK", "/dav-rw/a.txt", "Lock-Token: <opaquelocktoken:00000000-0000-0000-0000-000000000000>\r\n", ""),
        request("DELETE", "/dav-rw/a.txt", "", ""),
    ];
    compare(
        WITH_LOCKS,
        &requests,
        &["[dav:", "AH0054"],
        45,
        Some("logs/dav.log"),
    );
}

#[test]
fn a_missing_lock_database_is_logged_as_apache_logs_it() {
    require_apache2();
    let requests = [
        request("PROPFIND", "/dav-rw/a.txt", "Depth: 0\r\n", ""),
        request("PUT", "/dav-rw/a.txt", "", "x"),
        request(
            "UNLOCK",
            "/dav-rw/a.txt",
            "Lock-Token: <opaquelocktoken:00000000-0000-0000-0000-000000000000>\r\n",
            "",
        ),
    ];
    compare(WITHOUT_LOCKS, &requests, &["[dav:"], 4, None);
}
