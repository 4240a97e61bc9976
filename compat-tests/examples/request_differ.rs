//! A differential request fuzzer: mutations of well-formed requests (bytes inserted, removed,
//! replaced, lines doubled) go to Debian's apache2 and to rhttpd serving the same site, and
//! every pair of answers that differs is printed with the request that caused it. Not a test:
//! one command with a seed and a time budget, run by hand while hunting for differences.
//!
//!     cargo build && cargo run -p compat-tests --example request_differ -- [SEED] [SECONDS]
//!
//! Mismatches are worth a look, not verdicts: a difference of timing-dependent output can show
//! up too. A real one becomes a case in `compat-tests/cases/http/`.

use std::time::{Duration, Instant};

use compat_tests::http::{parse_family, Pair};
use compat_tests::require_apache2;

/// The site both servers serve: files, a directory listing, a redirect, an index, a header rule.
const SITE: &str = "@@ config
Options +Indexes
Redirect /old /a.txt
Header always set X-Seen yes
<Location /private>
    Require all denied
</Location>
@@ file a.txt
hello
@@ file dir/index.html
<p>index</p>
@@ file list/one.txt
one
@@ file private/p.txt
secret
";

/// Requests to start from, each well formed.
const SEEDS: &[&[u8]] = &[
    b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"HEAD /dir/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /list/ HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    b"GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-3\r\nConnection: close\r\n\r\n",
    b"GET /old?q=1 HTTP/1.0\r\n\r\n",
    b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    b"POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /private/p.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET http://x/a.txt HTTP/1.1\r\nHost: y\r\nIf-None-Match: \"x\"\r\nConnection: close\r\n\r\n",
];

/// Bytes that tend to matter to a parser.
const INTERESTING: &[u8] = b" \t\r\n:/%?#.;,=\"\\\x00\x01\x0b\x7f\xa0\xc2\xff0123456789abcXYZ-";

/// xorshift64*: a small deterministic generator, so a seed replays a run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to three mutations of a seed request.
fn mutate(rng: &mut Rng, request: &[u8]) -> Vec<u8> {
    let mut out = request.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(out.len() + 1);
        match rng.below(4) {
            0 => out.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            1 if at < out.len() => {
                out.remove(at);
            }
            2 if at < out.len() => out[at] = INTERESTING[rng.below(INTERESTING.len())],
            _ => {
                // Double the line that contains `at` (a repeated header, a repeated chunk).
                let start = out[..at.min(out.len())]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                if let Some(end) = out[start..].iter().position(|&b| b == b'\n') {
                    let line = out[start..=start + end].to_vec();
                    out.splice(start..start, line);
                }
            }
        }
    }
    out
}

/// A request as a case file writes it.
fn escaped(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

fn main() {
    require_apache2();
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let pair = Pair::start(&parse_family(SITE));
    let mut rng = Rng(seed.max(1));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut sent, mut differing) = (0u64, 0u64);
    while Instant::now() < deadline {
        let base = SEEDS[rng.below(SEEDS.len())];
        let request = mutate(&mut rng, base);
        let (theirs, ours) = pair.normalized_exchange(&request, &[]);
        sent += 1;
        if theirs != ours {
            differing += 1;
            println!(
                "== {}\n--- apache2\n{theirs}\n--- rhttpd\n{ours}\n",
                escaped(&request)
            );
        }
    }
    println!("request_differ: seed {seed}, {sent} requests, {differing} answered differently");
}
