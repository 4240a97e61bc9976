//! File names that are not UTF-8 against apache2: a path percent-decodes to bytes, and those
//! bytes name the file (`/caf%E9.html` is the Latin-1 file `caf\xe9.html`), for the file, a
//! path inside a directory of such a name, and PATH_INFO after it.

use std::os::unix::ffi::OsStrExt;

use compat_tests::http::{normalize_response, parse_family, Pair};
use compat_tests::require_apache2;

const FAMILY: &str = "@@ config\nAcceptPathInfo On\n@@ file index.html\n<p>hello</p>\n";

#[test]
fn a_path_names_the_bytes_it_decodes_to() {
    require_apache2();
    let pair = Pair::start(&parse_family(FAMILY));
    for site in [&pair.their_site, &pair.our_site] {
        let root = site.docroot();
        let name = |bytes: &[u8]| root.join(std::ffi::OsStr::from_bytes(bytes));
        // One modification time for both sites' files, so that their ETags agree.
        let write = |bytes: &[u8], content: &str| {
            std::fs::write(name(bytes), content).unwrap();
            let file = std::fs::File::options()
                .write(true)
                .open(name(bytes))
                .unwrap();
            let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
            file.set_modified(when).unwrap();
        };
        write(b"caf\xe9.html", "latin-1 name\n");
        std::fs::create_dir(name(b"d\xe9j\xe0")).unwrap();
        write(b"d\xe9j\xe0/vu.txt", "inside\n");
    }
    let requests: [&[u8]; 4] = [
        b"GET /caf%E9.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"GET /d%E9j%E0/vu.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"GET /caf%E9.html/more HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"GET /caf%E8.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    ];
    for request in requests {
        let (theirs, ours) = pair.exchange(request);
        let (theirs, ours) = (
            normalize_response(&theirs, &[]),
            normalize_response(&ours, &[]),
        );
        let line = String::from_utf8_lossy(request);
        assert!(
            theirs.starts_with("HTTP/1.1 200") || line.contains("%E8"),
            "apache2 did not serve it: {theirs}"
        );
        assert_eq!(theirs, ours, "{line}");
    }
}
