//! A differential request fuzzer: mutations of well-formed requests (bytes inserted, removed,
//! replaced, lines doubled) go to Debian's apache2 and to rhttpd serving the same site, and
//! every pair of answers that differs is printed with the request that caused it. Not a test:
//! one command with a seed and a time budget, run by hand while hunting for differences.
//!
//!     cargo build && cargo run -q -p rhttpd-differ --bin request -- [SEED] [SECONDS]
//!
//! Mismatches are worth a look, not verdicts: a difference of timing-dependent output can show
//! up too. A real one becomes a case in `compat-tests/cases/http/`.

use std::time::Instant;

use compat_tests::http::{parse_family, Pair};
use compat_tests::require_apache2;
use rhttpd_differ::{escaped, mutate, seed_and_budget, Rng};

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

fn main() {
    require_apache2();
    let (seed, budget) = seed_and_budget();
    let pair = Pair::start(&parse_family(SITE));
    let mut rng = Rng::new(seed);
    let deadline = Instant::now() + budget;
    let (mut sent, mut differing) = (0u64, 0u64);
    while Instant::now() < deadline {
        let base = *rng.pick(SEEDS);
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
    println!("request: seed {seed}, {sent} requests, {differing} answered differently");
}
