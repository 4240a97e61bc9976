//! What the differential fuzzers share: a seeded generator (a seed replays a run), byte-level
//! mutations of well-formed input, and the escaping case files use, so that a difference found
//! becomes a case in `compat-tests/cases/http/` by copy and paste.

/// xorshift64*: small and deterministic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (0 for an empty range).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Bytes that tend to matter to a parser.
pub const INTERESTING: &[u8] = b" \t\r\n:/%?#.;,=\"\\\x00\x01\x0b\x7f\xa0\xc2\xff0123456789abcXYZ-";

/// One to three mutations: a byte inserted, removed or replaced, or a line doubled (a
/// repeated header, a repeated chunk).
pub fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(out.len() + 1);
        match rng.below(4) {
            0 => out.insert(at, *rng.pick(INTERESTING)),
            1 if at < out.len() => {
                out.remove(at);
            }
            2 if at < out.len() => out[at] = *rng.pick(INTERESTING),
            _ => {
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

/// Bytes as a case file writes them (`\r`, `\n`, `\t`, `\\`, `\xNN`).
pub fn escaped(bytes: &[u8]) -> String {
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

/// The two command-line arguments every fuzzer takes: a seed (default 1) and a time budget in
/// seconds (default 60).
pub fn seed_and_budget() -> (u64, std::time::Duration) {
    let mut args = std::env::args().skip(1);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    (seed, std::time::Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_its_mutations() {
        let input = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..20).map(|_| mutate(&mut rng, input)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn escaping_is_what_case_files_read() {
        assert_eq!(escaped(b"a\r\n\t\\\x00\xff"), "a\\r\\n\\t\\\\\\x00\\xff");
    }
}
