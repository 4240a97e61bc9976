//! mod_status diffed against apache2: the same site under both servers (`-X`, event MPM), and
//! /server-status?auto must carry the same keys in the same order with values of the same
//! form, so scrapers read both alike; the HTML page must have the same skeleton once numbers,
//! times, versions and per-worker rows are set aside.

use compat_tests::http::{parse_family, Pair};
use compat_tests::require_apache2;

const FAMILY: &str =
    "@@ config\n<Location /server-status>\n    SetHandler server-status\n</Location>\n";

fn body(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_string();
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// A value's form: a number (digits and dots, as `%g` writes `.5` or `1.5`) becomes 9, a word
/// a, so two uptimes or two counts compare equal but a number and a word do not.
fn form(value: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = value.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts_number = c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()));
        if starts_number {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            out.push('9');
            continue;
        }
        if c.is_alphabetic() {
            while i < chars.len() && chars[i].is_alphabetic() {
                i += 1;
            }
            out.push('a');
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The HTML page with what legitimately differs masked: numbers, and the lines naming the
/// server's version, build, load and per-worker rows.
fn skeleton(html: &str) -> Vec<String> {
    html.lines()
        .filter(|l| {
            !(l.starts_with("<tr><td><b>")
                || l.starts_with("</td><td>")
                || l.starts_with("<dl><dt>Server Version:")
                || l.starts_with("<dt>Server Built:")
                || l.starts_with("<dt>CPU Usage:")
                || l.trim().is_empty())
        })
        .map(|l| {
            // The scoreboard: which worker took the request is the scheduler's choice.
            if l.starts_with("<pre>") || l.starts_with('.') {
                let mut states: Vec<char> = l.chars().collect();
                states.sort_unstable();
                states.into_iter().collect()
            } else {
                form(l)
            }
        })
        .collect()
}

#[test]
fn server_status_reads_like_apaches() {
    require_apache2();
    let family = parse_family(FAMILY);
    let pair = Pair::start(&family);
    let request =
        b"GET /server-status?auto HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    // A first request each, so both have counted one access; then past the first second of
    // uptime, which decides whether the rate keys appear at all.
    pair.exchange(request);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (theirs, ours) = pair.exchange(request);
    assert_eq!(
        header(&theirs, "Content-Type"),
        header(&ours, "Content-Type")
    );
    let keys = |raw: &[u8]| -> Vec<(String, String)> {
        body(raw)
            .lines()
            .skip(1)
            .map(|l| match l.split_once(':') {
                Some((k, v)) => (k.to_string(), form(v.trim())),
                None => (l.to_string(), String::new()),
            })
            // CPULoad appears once the server has used measurable CPU time, which depends on
            // the machine and the build, not on the format.
            .filter(|(k, _)| k != "CPULoad")
            .collect()
    };
    let (their_keys, our_keys) = (keys(&theirs), keys(&ours));
    let names = |k: &[(String, String)]| k.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&their_keys), names(&our_keys), "?auto keys");
    for ((key, a), (_, b)) in their_keys.iter().zip(&our_keys) {
        // Versions, build stamps, load averages and CPU figures are the machine's and the
        // build's; the rest must have the same form.
        let free = [
            "ServerVersion",
            "Server Built",
            "CPUUser",
            "CPUSystem",
            "CPULoad",
        ];
        if key == "Scoreboard" {
            // Which worker took the request is the scheduler's choice: compare the length.
            assert_eq!(a.len(), b.len(), "Scoreboard length");
        } else if !free.contains(&key.as_str()) && !key.starts_with("Load") {
            assert_eq!(a, b, "form of {key}");
        }
    }
    assert_eq!(body(&theirs).lines().next(), body(&ours).lines().next());

    // The worker that answered the last request goes back to idle a moment after its answer
    // reached us: let it, so the scoreboards compare settled states.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let page =
        b"GET /server-status?refresh=7 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let (theirs, ours) = pair.exchange(page);
    assert_eq!(header(&theirs, "Refresh"), header(&ours, "Refresh"));
    assert_eq!(
        header(&theirs, "Content-Type"),
        header(&ours, "Content-Type")
    );
    let (a, b) = (skeleton(&body(&theirs)), skeleton(&body(&ours)));
    assert_eq!(
        a,
        b,
        "HTML skeleton\n--- apache2\n{}\n--- rhttpd\n{}",
        a.join("\n"),
        b.join("\n")
    );

    // The byte-range filter cuts the page like any other 200 (its total length is the page's).
    let ranged = b"GET /server-status HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-14\r\n\
                   Connection: close\r\n\r\n";
    let (theirs, ours) = pair.exchange(ranged);
    for raw in [&theirs, &ours] {
        let text = String::from_utf8_lossy(raw);
        assert!(text.starts_with("HTTP/1.1 206 "), "{text}");
        assert_eq!(body(raw), "<!DOCTYPE HTML ", "{text}");
        let range = header(raw, "Content-Range").unwrap_or_default();
        assert!(range.starts_with("bytes 0-14/"), "{text}");
    }
}
