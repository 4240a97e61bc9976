//! A differential keep-alive fuzzer: sequences of requests on one connection (pipelined in one
//! write, or written one after another with pauses), some of them mutated, with HTTP/1.0 and
//! 1.1, bodies by length and chunked, `Expect: 100-continue`, errors in the middle and a limit
//! of requests per connection, go to Debian's apache2 and to rhttpd serving the same site.
//! What each server sent on the connection, and whether it closed the connection at once or
//! only after its keep-alive timeout, must be the same; every sequence where they differ is
//! printed. Not a test: run by hand with a seed and a time budget.
//!
//!     cargo build && cargo run -q -p rhttpd-differ --bin keepalive -- [SEED] [SECONDS]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use compat_tests::http::{mask_port, parse_family, Pair};
use compat_tests::require_apache2;
use rhttpd_differ::{escaped, mutate, seed_and_budget, Rng};

const SITE: &str = "@@ config
KeepAliveTimeout 1
MaxKeepAliveRequests 4
Redirect /old /a.txt
<Location /small>
    LimitRequestBody 4
</Location>
@@ file a.txt
hello
@@ file small/s.txt
small
@@ file dir/index.html
<p>index</p>
";

/// Requests a connection may carry on after (no `Connection: close`).
const STEPS: &[&[u8]] = &[
    b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    b"HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /old HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /dir HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET /a.txt HTTP/1.0\r\n\r\n",
    b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"POST /small/s.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789",
    b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    b"GET /a.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
    b"GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n",
    b"GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=50-60\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /a.txt HTTP/1.1\r\n\r\n",
];

/// The last request of every sequence, so that a connection still open ends at once.
const LAST: &[u8] = b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// What a server did with one connection: the bytes it sent (dates blanked, its site and port
/// masked) and whether it closed only after making the client wait.
fn converse(port: u16, steps: &[Vec<u8>], paced: bool, root: &str) -> (String, bool) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(4)))
        .unwrap();
    let started = Instant::now();
    for step in steps {
        if stream.write_all(step).is_err() {
            break;
        }
        if paced {
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let waited = started.elapsed() > Duration::from_millis(700 + 30 * steps.len() as u64);
    let date = regex::Regex::new(r"(?m)^Date: [^\r\n]*").unwrap();
    let text = String::from_utf8_lossy(&out);
    let text = date.replace_all(&text, "Date: <normalized>");
    (mask_port(&text.replace(root, "<root>"), port), waited)
}

fn main() {
    require_apache2();
    let (seed, budget) = seed_and_budget();
    let pair = Pair::start(&parse_family(SITE));
    let their_root = pair.their_site.dir.path().display().to_string();
    let our_root = pair.our_site.dir.path().display().to_string();
    let mut rng = Rng::new(seed);
    let deadline = Instant::now() + budget;
    let (mut tried, mut differing) = (0u64, 0u64);
    while Instant::now() < deadline {
        let mut steps: Vec<Vec<u8>> = (0..=rng.below(4))
            .map(|_| rng.pick(STEPS).to_vec())
            .collect();
        if rng.one_in(3) {
            let at = rng.below(steps.len());
            steps[at] = mutate(&mut rng, &steps[at]);
        }
        steps.push(LAST.to_vec());
        let paced = rng.one_in(2);
        let theirs = converse(pair.their_port, &steps, paced, &their_root);
        let ours = converse(pair.our_port, &steps, paced, &our_root);
        tried += 1;
        if theirs != ours {
            differing += 1;
            let sent: Vec<String> = steps.iter().map(|s| escaped(s)).collect();
            println!(
                "== {} ({})\n--- apache2{}\n{}\n--- rhttpd{}\n{}\n",
                sent.join(" | "),
                if paced { "paced" } else { "pipelined" },
                if theirs.1 {
                    " (closed after a wait)"
                } else {
                    ""
                },
                theirs.0,
                if ours.1 { " (closed after a wait)" } else { "" },
                ours.0
            );
        }
    }
    println!("keepalive: seed {seed}, {tried} connections, {differing} answered differently");
}
