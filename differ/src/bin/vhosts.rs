//! A differential virtual-host fuzzer: generated layouts of `<VirtualHost>` sections (by
//! address, `*`, `_default_`, with ServerName and ServerAlias patterns, some of them wrong) are
//! started under Debian's apache2 and rhttpd; both must accept or refuse the configuration
//! alike, print the same `-S` table, and answer a set of requests (Host fields in every case
//! and form, absolute targets, none at all) from the same host. Every difference is printed
//! with the layout. Not a test: run by hand with a seed and a time budget.
//!
//!     cargo build && cargo run -q -p rhttpd-differ --bin vhosts -- [SEED] [SECONDS]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use compat_tests::http::{free_port, make_site, mask_port, parse_family, Pair};
use compat_tests::{require_apache2, rhttpd_bin};
use rhttpd_differ::{escaped, seed_and_budget, Rng};

const ADDRESSES: &[&str] = &[
    "*:@PORT@",
    "127.0.0.1:@PORT@",
    "_default_:@PORT@",
    "*",
    "127.0.0.1",
    "*:@PORT@ 127.0.0.1:@PORT@",
    "[::1]:@PORT@",
    "localhost:@PORT@",
];

const NAMES: &[&str] = &[
    "a.test",
    "B.Test",
    "a.test:@PORT@",
    "c.test:81",
    "127.0.0.1",
    "*.wild.test",
    "w?.test",
    "localhost",
    "",
];

const HOSTS: &[&str] = &[
    "a.test",
    "A.TEST",
    "a.test:@PORT@",
    "a.test.",
    "b.test",
    "c.test",
    "x.wild.test",
    "wx.test",
    "unknown.test",
    "127.0.0.1",
    "127.0.0.1:@PORT@",
    "localhost",
    "",
];

/// A layout: zero to four virtual hosts, each serving a directory whose `id.txt` names it.
fn layout(rng: &mut Rng) -> String {
    let mut config = String::from("@@ config\n");
    if rng.one_in(2) {
        config.push_str(&format!("ServerName {}\n", rng.pick(&NAMES[..8])));
    }
    let count = rng.below(5);
    for n in 0..count {
        config.push_str(&format!("<VirtualHost {}>\n", rng.pick(ADDRESSES)));
        let name = rng.pick(NAMES);
        if !name.is_empty() {
            config.push_str(&format!("    ServerName {name}\n"));
        }
        if rng.one_in(2) {
            config.push_str(&format!(
                "    ServerAlias {} {}\n",
                rng.pick(&NAMES[..8]),
                rng.pick(&NAMES[..8])
            ));
        }
        config.push_str(&format!(
            "    DocumentRoot @DOCROOT@/v{n}\n    <Directory @DOCROOT@/v{n}>\n        Require all granted\n    </Directory>\n</VirtualHost>\n"
        ));
    }
    config.push_str("@@ file id.txt\nmain\n");
    for n in 0..4 {
        config.push_str(&format!("@@ file v{n}/id.txt\nv{n}\n"));
    }
    config
}

/// What `-t -S` prints for a site (or why the configuration is refused), with the site's
/// root, its port and the program's name masked.
fn table(program: &Path, site: &Path, port: u16) -> String {
    let out = Command::new(program)
        .args(["-t", "-S", "-d"])
        .arg(site)
        .arg("-f")
        .arg(site.join("httpd.conf"))
        .output()
        .expect("runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // The runtime directory is the build's own (Debian compiles in /var/run/apache2).
    let text: String = text
        .lines()
        .filter(|line| !line.starts_with("Mutex default:"))
        .map(|line| format!("{line}\n"))
        .collect();
    let stamp =
        regex::Regex::new(r"(?m)^\[[^\]]+\] (\[[a-z_]+:[a-z]+\]) \[pid \d+(:tid \d+)?\] ").unwrap();
    let text = stamp.replace_all(&text, "$1 ");
    let text = text
        .replace(&site.display().to_string(), "<root>")
        .replace("apache2", "PROGRAM")
        .replace("rhttpd", "PROGRAM");
    mask_port(&text, port)
}

fn main() {
    require_apache2();
    let (seed, budget) = seed_and_budget();
    let mut rng = Rng::new(seed);
    let deadline = Instant::now() + budget;
    let (mut layouts, mut differing) = (0u64, 0u64);
    while Instant::now() < deadline {
        let text = layout(&mut rng);
        let family = parse_family(&text);
        layouts += 1;
        // The configuration check first: both must take or refuse it, with the same report.
        let port = free_port();
        let (their_site, our_site) = (make_site(&family, port), make_site(&family, port));
        let theirs = table(Path::new("/usr/sbin/apache2"), their_site.dir.path(), port);
        let ours = table(&rhttpd_bin(), our_site.dir.path(), port);
        if theirs != ours {
            differing += 1;
            println!("== layout:\n{text}--- apache2 -S\n{theirs}\n--- rhttpd -S\n{ours}\n");
            continue;
        }
        if !theirs.contains("Syntax OK") {
            continue;
        }
        let pair = Pair::start(&family);
        for _ in 0..4 {
            let host = rng
                .pick(HOSTS)
                .replace("@PORT@", &pair.their_port.to_string());
            let request = match rng.below(3) {
                0 => format!("GET /id.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
                1 => format!(
                    "GET http://{host}/id.txt HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n"
                ),
                _ => "GET /id.txt HTTP/1.0\r\n\r\n".to_string(),
            };
            // The same request to both, each server's own port in it.
            let ours_request =
                request.replace(&pair.their_port.to_string(), &pair.our_port.to_string());
            let theirs = compat_tests::http::exchange(pair.their_port, request.as_bytes());
            let ours = compat_tests::http::exchange(pair.our_port, ours_request.as_bytes());
            let norm = |raw: &[u8], port: u16| {
                mask_port(&compat_tests::http::normalize_response(raw, &[]), port)
            };
            let (theirs, ours) = (norm(&theirs, pair.their_port), norm(&ours, pair.our_port));
            if theirs != ours {
                differing += 1;
                println!(
                    "== layout:\n{text}== request: {}\n--- apache2\n{theirs}\n--- rhttpd\n{ours}\n",
                    escaped(request.as_bytes())
                );
            }
        }
    }
    println!("vhosts: seed {seed}, {layouts} layouts, {differing} differences");
}
