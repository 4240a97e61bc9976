//! mod_unixd: children started as root serve from inside ChrootDir, with DocumentRoot read
//! within it; a User that names no account is an alert, and the children serve regardless.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{config_head, eventually, exchange, free_port, Server};

#[test]
fn children_serve_from_inside_chroot_dir() {
    if !rhttpd_is_root() {
        // chroot(2) needs root; CI runs as root.
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let jail = root.path().join("jail");
    // The configuration is checked before the chroot and served after it: DocumentRoot names
    // a directory that exists outside and, with other content, inside the jail.
    let docroot = jail.join("htdocs");
    let inside = jail.join(docroot.strip_prefix("/").unwrap());
    std::fs::create_dir_all(&docroot).unwrap();
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::write(docroot.join("a.txt"), "outside\n").unwrap();
    std::fs::write(inside.join("a.txt"), "jailed\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mut dir = inside.clone();
    while dir.starts_with(root.path()) {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir.pop();
    }
    let port = free_port("127.0.0.1");
    let config = config_head(root.path())
        + &format!(
            "Listen 127.0.0.1:{port}\nChrootDir {}\nDocumentRoot {}\n",
            jail.display(),
            docroot.display()
        );
    let (_server, answer) = serve_a_txt(root.path(), &config, port);
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.ends_with("jailed\n"), "{answer}");
}

#[test]
fn without_a_user_children_alert_and_serve() {
    // Apache's default User is #-1, which names no account: its children log AH02155 and go
    // on serving as they are (its hook takes the failure for "declined").
    let root = tempfile::tempdir().unwrap();
    let docroot = root.path().join("htdocs");
    std::fs::create_dir_all(&docroot).unwrap();
    std::fs::create_dir_all(root.path().join("logs")).unwrap();
    std::fs::write(docroot.join("a.txt"), "served\n").unwrap();
    let port = free_port("127.0.0.1");
    let config = format!(
        "ServerRoot {root}\nLoadModule mpm_event_module modules/mod_mpm_event.so\n\
         LoadModule authz_core_module modules/mod_authz_core.so\n\
         ServerName localhost\nPidFile logs/httpd.pid\nErrorLog logs/error_log\n\
         Listen 127.0.0.1:{port}\nDocumentRoot {docroot}\n",
        root = root.path().display(),
        docroot = docroot.display()
    );
    let (_server, answer) = serve_a_txt(root.path(), &config, port);
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.ends_with("served\n"), "{answer}");
    if rhttpd_is_root() {
        let log = std::fs::read_to_string(root.path().join("logs/error_log")).unwrap();
        assert!(
            log.contains("[unixd:alert]")
                && log.contains("AH02155: getpwuid: couldn't determine user name from uid 4294967295, you probably need to modify the User directive"),
            "{log}"
        );
    }
}

/// Starts the server (its own process model, in the foreground) and asks it for /a.txt.
fn serve_a_txt(root: &std::path::Path, config: &str, port: u16) -> (Server, String) {
    let server = Server::start_with(root, config, &["-D", "FOREGROUND"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(eventually(Duration::from_secs(10), || {
        std::net::TcpStream::connect(addr).is_ok()
    }));
    let answer = exchange(
        addr,
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    (server, String::from_utf8_lossy(&answer).into_owned())
}

fn rhttpd_is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
