//! mod_unique_id under the threaded and prefork MPMs: every request's UNIQUE_ID differs from
//! every other's, across threads and children, and opens with the request's second.

mod common;

use std::collections::HashSet;

use base64::Engine;
use common::*;

fn ids_under(mpm: &str, sizing: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("htdocs")).unwrap();
    std::fs::write(root.join("htdocs/a.txt"), "a\n").unwrap();
    let port = free_port("127.0.0.1");
    let config = format!(
        "{}LoadModule unique_id_module modules/mod_unique_id.so\n\
         LoadModule headers_module modules/mod_headers.so\n\
         Listen 127.0.0.1:{port}\nDocumentRoot {}/htdocs\n\
         {sizing}\nHeader always set X-Id \"%{{UNIQUE_ID}}e\"\n",
        config_head(root).replace("mpm_event", &format!("mpm_{mpm}")),
        root.display()
    );
    let _server = Server::start_with(root, &config, &["-D", "FOREGROUND"]);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| {
                        let answer = exchange(
                            addr,
                            b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                        );
                        let text = String::from_utf8_lossy(&answer).into_owned();
                        text.lines()
                            .find_map(|l| l.strip_prefix("X-Id: "))
                            .expect("an X-Id header")
                            .to_string()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

fn check(ids: &[String]) {
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "repeated ids in {ids:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for id in ids {
        assert_eq!(id.len(), 27, "{id}");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(format!("{id}A"))
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        let second = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as u64;
        assert!(now.abs_diff(second) < 60, "{id} stamps {second}, now {now}");
    }
}

#[test]
fn ids_are_unique_across_threads_and_children_under_event() {
    check(&ids_under(
        "event",
        "StartServers 2\nThreadsPerChild 4\nMinSpareThreads 8\nMaxSpareThreads 16",
    ));
}

#[test]
fn ids_are_unique_across_children_under_prefork() {
    check(&ids_under("prefork", "StartServers 4\nMinSpareServers 4"));
}
