//! Wildcard matching as Apache does it: `apr_fnmatch` (sections, Include, IndexIgnore's
//! neighbours, ap_expr's `-fnmatch`/`-strmatch`/`-strcmatch`), `apr_fnmatch_test` (whether a
//! pattern is one), and httpd's simpler `ap_strcmp_match` (`*` and `?` only: ServerAlias,
//! mod_autoindex's icons and ignores). Bytes, not characters, and C strings: a NUL ends
//! either side, as it would in Apache.
//!
//! This follows APR 1.7's algorithm step for step (a `*` first tries the segment's tail
//! against the fixed characters after it) rather than a textbook backtracking matcher, so
//! that its corners stay APR's: a bracket expression that is not closed, or that holds a
//! `/` under PATHNAME, is a literal `[`; `[^...]` negates like `[!...]`; ranges compare bytes
//! as C's signed `char`.

use std::ops::BitOr;

/// `APR_FNM_*` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(u8);

impl Flags {
    pub const NONE: Flags = Flags(0);
    /// A backslash is an ordinary character (`APR_FNM_NOESCAPE`).
    pub const NOESCAPE: Flags = Flags(1);
    /// `/` is matched only by a `/` in the pattern, never by `*`, `?` or a bracket
    /// (`APR_FNM_PATHNAME`).
    pub const PATHNAME: Flags = Flags(2);
    /// A leading `.` (of each segment, with PATHNAME) is matched only by a `.` in the pattern
    /// (`APR_FNM_PERIOD`).
    pub const PERIOD: Flags = Flags(4);
    /// ASCII letters compare without case (`APR_FNM_CASE_BLIND`).
    pub const CASE_BLIND: Flags = Flags(16);

    fn has(self, flag: Flags) -> bool {
        self.0 & flag.0 != 0
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// The part before the first NUL, as C sees a string.
fn c_str(s: &[u8]) -> &[u8] {
    s.iter().position(|&b| b == 0).map_or(s, |end| &s[..end])
}

/// The byte at `i`, or the terminating NUL past the end.
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// `char` is signed where Apache is built for x86 and ARM64 Linux, and bracket ranges compare
/// characters as `char`: bytes from 0x80 sort below ASCII.
fn signed(b: u8) -> i8 {
    b as i8
}

/// What the matcher needs from the flags, read once.
#[derive(Clone, Copy)]
struct Mode {
    escape: bool,
    slash: bool,
    nocase: bool,
}

impl Mode {
    fn same(self, a: u8, b: u8) -> bool {
        a == b || (self.nocase && a.eq_ignore_ascii_case(&b))
    }

    /// Whether the pattern is at a `/` (or an escaped one), which ends a segment under
    /// PATHNAME.
    fn slash_at(self, pat: &[u8], p: usize) -> bool {
        self.slash
            && (at(pat, p) == b'/'
                || (self.escape && at(pat, p) == b'\\' && at(pat, p + 1) == b'/'))
    }
}

/// `apr_fnmatch`: whether `string` matches `pattern`.
pub fn fnmatch(pattern: &[u8], string: &[u8], flags: Flags) -> bool {
    let (pat, s) = (c_str(pattern), c_str(string));
    let mode = Mode {
        escape: !flags.has(Flags::NOESCAPE),
        slash: flags.has(Flags::PATHNAME),
        nocase: flags.has(Flags::CASE_BLIND),
    };
    let (mut p, mut si) = (0usize, 0usize);
    // A pattern starting with `*` enters its first segment even when the string is empty.
    let mut entering = at(pat, 0) == b'*';
    loop {
        if !entering {
            if at(pat, p) == 0 || at(s, si) == 0 {
                break;
            }
            // Between segments: `\/` is just `/`, and a slash on both sides starts the next.
            if mode.slash && mode.escape && at(pat, p) == b'\\' && at(pat, p + 1) == b'/' {
                p += 1;
            }
            if mode.slash && at(pat, p) == b'/' && at(s, si) == b'/' {
                p += 1;
                si += 1;
            }
        }
        entering = false;
        if flags.has(Flags::PERIOD) && at(s, si) == b'.' {
            if at(pat, p) == b'.' {
                p += 1;
            } else if mode.escape && at(pat, p) == b'\\' && at(pat, p + 1) == b'.' {
                p += 2;
            } else {
                return false;
            }
            si += 1;
        }
        let seg_end = if mode.slash {
            s[si..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(s.len(), |k| si + k)
        } else {
            s.len()
        };
        let (mut seg_start, mut resume, mut fixed) = (0usize, 0usize, 0usize);
        while at(pat, p) != 0 {
            if si > seg_end || (si == seg_end && at(pat, p) != b'*') {
                break;
            }
            if mode.slash_at(pat, p) {
                break;
            }
            // A run of `*` and `?` is so many single characters and one star.
            let mut wild = false;
            while matches!(at(pat, p), b'*' | b'?') {
                if at(pat, p) == b'*' {
                    wild = true;
                } else if si < seg_end {
                    si += 1;
                } else {
                    return false;
                }
                p += 1;
            }
            if wild {
                seg_start = si;
                resume = p;
                // How many characters the pattern still fixes up to the next star or the
                // segment's end; with no star left those must be the segment's last ones.
                let mut m = p;
                fixed = 0;
                loop {
                    if at(pat, m) == 0 || mode.slash_at(pat, m) {
                        if si + fixed > seg_end {
                            return false;
                        }
                        si = seg_end - fixed;
                        wild = false;
                        break;
                    }
                    if at(pat, m) == b'*' {
                        if si + fixed > seg_end {
                            return false;
                        }
                        break;
                    }
                    if mode.escape && at(pat, m) == b'\\' && at(pat, m + 1) != 0 {
                        m += 2;
                    } else if at(pat, m) == b'[' {
                        let mut dummy = 0;
                        match_one(pat, &mut m, b" ", &mut dummy, mode);
                    } else {
                        m += 1;
                    }
                    fixed += 1;
                }
            }
            while at(pat, p) != 0 && si < seg_end {
                if at(pat, p) == b'*' {
                    break;
                }
                if mode.slash && (at(s, si) == b'/' || mode.slash_at(pat, p)) {
                    break;
                }
                if match_one(pat, &mut p, s, &mut si, mode) {
                    continue;
                }
                if wild {
                    // The star takes one more character and the rest is tried again.
                    seg_start += 1;
                    si = seg_start;
                    if si + fixed > seg_end {
                        return false;
                    }
                    p = resume;
                    continue;
                }
                return false;
            }
        }
        if at(s, si) != 0 && !(mode.slash && at(s, si) == b'/') {
            return false;
        }
        if at(pat, p) != 0 && !mode.slash_at(pat, p) {
            return false;
        }
    }
    at(s, si) == 0 && at(pat, p) == 0
}

/// One pattern element (a character, an escaped one, `?` or a bracket expression) against
/// one character; true on a match. Both positions move past what matched; a malformed
/// bracket expression is a literal `[`.
fn match_one(pat: &[u8], p: &mut usize, s: &[u8], si: &mut usize, mode: Mode) -> bool {
    let start = *p;
    let mut matched = false;
    if at(pat, *p) == b'[' {
        *p += 1;
        let negate = matches!(at(pat, *p), b'!' | b'^');
        if negate {
            *p += 1;
        }
        // A `]` right after the opening (or its negation) is a member, not the end.
        let mut leading_close = at(pat, *p) == b']';
        while at(pat, *p) != 0 {
            if !leading_close {
                if at(pat, *p) == b']' {
                    *p += 1;
                    *si += 1;
                    return matched != negate;
                }
                if mode.escape && at(pat, *p) == b'\\' {
                    *p += 1;
                    if at(pat, *p) == 0 {
                        break;
                    }
                }
                if mode.slash && at(pat, *p) == b'/' {
                    break;
                }
            }
            leading_close = false;
            if at(pat, *p + 1) == b'-' && at(pat, *p + 2) != b']' {
                let low = at(pat, *p);
                *p += if mode.escape && at(pat, *p + 2) == b'\\' {
                    3
                } else {
                    2
                };
                let high = at(pat, *p);
                if high == 0 || (mode.slash && high == b'/') {
                    break;
                }
                let c = at(s, *si);
                let within = |c: u8, low: u8, high: u8| {
                    signed(c) >= signed(low) && signed(c) <= signed(high)
                };
                let upper =
                    c.is_ascii_uppercase() || low.is_ascii_uppercase() || high.is_ascii_uppercase();
                if within(c, low, high)
                    || (mode.nocase
                        && upper
                        && within(
                            c.to_ascii_lowercase(),
                            low.to_ascii_lowercase(),
                            high.to_ascii_lowercase(),
                        ))
                {
                    matched = true;
                }
                *p += 1;
                continue;
            }
            if mode.same(at(s, *si), at(pat, *p)) {
                matched = true;
            }
            *p += 1;
        }
        *p = start;
        matched = false;
    } else if at(pat, *p) == b'?' {
        if at(s, *si) == 0 || (mode.slash && at(s, *si) == b'/') {
            return false;
        }
        *p += 1;
        *si += 1;
        return true;
    } else if mode.escape && at(pat, *p) == b'\\' && at(pat, *p + 1) != 0 {
        *p += 1;
    }
    if mode.same(at(s, *si), at(pat, *p)) {
        matched = true;
    }
    // Never step over the end of either string, nor over a slash under PATHNAME.
    if at(s, *si) == 0
        || at(pat, *p) == 0
        || (mode.slash && (at(s, *si) == b'/' || at(pat, *p) == b'/'))
    {
        return matched;
    }
    *p += 1;
    *si += 1;
    matched
}

/// `apr_fnmatch_test`: whether a pattern has wildcards (`*`, `?`, or a `[` closed by a `]`),
/// a backslash hiding the character after it.
pub fn fnmatch_test(pattern: &[u8]) -> bool {
    let pattern = c_str(pattern);
    let mut nesting = 0;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'?' | b'*' => return true,
            b'\\' => {
                i += 1;
                if i == pattern.len() {
                    return false;
                }
            }
            b'[' => nesting += 1,
            b']' if nesting > 0 => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// `ap_strcmp_match`: `*` and `?` only, case-sensitive; true on a match.
pub fn strcmp_match(string: &[u8], pattern: &[u8]) -> bool {
    star_match(c_str(string), c_str(pattern), false) == Star::Match
}

/// `ap_strcasecmp_match`: as [`strcmp_match`], ASCII letters without case.
pub fn strcasecmp_match(string: &[u8], pattern: &[u8]) -> bool {
    star_match(c_str(string), c_str(pattern), true) == Star::Match
}

/// httpd's three answers: a match, a mismatch, or "no match here and none further along",
/// which stops the callers' retries at each later position of a star.
#[derive(PartialEq)]
enum Star {
    Match,
    Differ,
    Abort,
}

fn star_match(s: &[u8], e: &[u8], fold: bool) -> Star {
    let (mut x, mut y) = (0, 0);
    while at(e, y) != 0 {
        // The case-blind variant gives up at the string's end before looking at the
        // pattern's character; the other one only after (the two differ for a `?` there).
        if fold && at(s, x) == 0 && at(e, y) != b'*' {
            return Star::Abort;
        }
        if at(e, y) == b'*' {
            while at(e, y + 1) == b'*' {
                y += 1;
            }
            y += 1;
            if at(e, y) == 0 {
                return Star::Match;
            }
            while at(s, x) != 0 {
                let ret = star_match(&s[x..], &e[y..], fold);
                x += 1;
                if ret != Star::Differ {
                    return ret;
                }
            }
            return Star::Abort;
        } else if at(s, x) == 0 {
            return Star::Abort;
        } else if at(e, y) != b'?' {
            let (a, b) = (at(s, x), at(e, y));
            let differ = if fold {
                !a.eq_ignore_ascii_case(&b)
            } else {
                a != b
            };
            if differ {
                return Star::Differ;
            }
        }
        x += 1;
        y += 1;
    }
    if at(s, x) != 0 {
        Star::Differ
    } else {
        Star::Match
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, s: &str, flags: Flags) -> bool {
        fnmatch(pattern.as_bytes(), s.as_bytes(), flags)
    }

    #[test]
    fn stars_questions_and_brackets() {
        let none = Flags::NONE;
        assert!(m("*.txt", "a.txt", none));
        assert!(!m("a?c", "ac", none));
        assert!(m("[ab]*", "b1", none));
        assert!(m("[!a]?", "bc", none));
        assert!(m("[^a]?", "bc", none));
        assert!(!m("[^a]?", "ac", none));
        assert!(m("[]x]", "]", none));
        assert!(m("[!a-c]]", "x]", none));
        assert!(m("a\\*", "a*", none));
        assert!(!m("a\\*", "ab", none));
        assert!(m("a\\*", "a\\b", Flags::NOESCAPE));
        // A bracket never closed is a literal `[`.
        assert!(m("[ab", "[ab", none));
        assert!(!m("[ab", "a", none));
        // `**` is one star: without PATHNAME it crosses slashes, with it never.
        assert!(m("/a/**", "/a/b/c", none));
        assert!(!m("/a/**/c", "/a/b/x/c", Flags::PATHNAME));
        assert!(m("", "", none));
        assert!(m("*", "", none));
        assert!(!m("?", "", none));
    }

    #[test]
    fn pathname_keeps_segments_apart() {
        let path = Flags::PATHNAME;
        assert!(!m("/a/*.html", "/a/x/b.html", path));
        assert!(m("/a/*/?.html", "/a/x/b.html", path));
        assert!(m("/a/*.html", "/a/x/b.html", Flags::NONE));
        assert!(m("*/sub/f*", "/x/sub/file", Flags::NONE));
        assert!(m("/srv/*/", "/srv/www/", path));
        assert!(!m("/srv/*/", "/srv/www/x/", path));
        assert!(!m("/srv/[a/]b", "/srv/a/b", path));
        assert!(m("/srv\\/x", "/srv/x", path));
    }

    #[test]
    fn period_and_case() {
        assert!(!m("*", ".hidden", Flags::PERIOD));
        assert!(m(".*", ".hidden", Flags::PERIOD));
        assert!(m("\\.h*", ".hidden", Flags::PERIOD));
        assert!(!m("[.]h*", ".hidden", Flags::PERIOD));
        assert!(m("*", ".hidden", Flags::NONE));
        assert!(m("a[b-c]?", "ABC", Flags::CASE_BLIND));
        assert!(!m("a[b-c]?", "ABC", Flags::NONE));
        assert!(m("[A-C]", "b", Flags::CASE_BLIND));
    }

    #[test]
    fn high_bytes_sort_below_ascii_in_ranges() {
        assert!(fnmatch(b"caf[\xe0-\xef]", b"caf\xe9", Flags::NONE));
        // 0xe9 is negative as a C char, so it is below 'a' and inside [\x80-a].
        assert!(fnmatch(b"[\x80-a]", b"\xe9", Flags::NONE));
        assert!(!fnmatch(b"[a-\xff]", b"b", Flags::NONE));
    }

    #[test]
    fn wildcard_test() {
        assert!(fnmatch_test(b"a*"));
        assert!(fnmatch_test(b"a[bc]"));
        assert!(!fnmatch_test(b"abc"));
        assert!(!fnmatch_test(b"a\\*"));
        assert!(!fnmatch_test(b"a[bc"));
        assert!(!fnmatch_test(b"a]"));
    }

    #[test]
    fn strcmp_match_has_stars_and_questions_only() {
        assert!(strcmp_match(b"/x/a.txt", b"*.txt"));
        assert!(!strcmp_match(b"/x/a.txt", b"*.TXT"));
        assert!(strcasecmp_match(b"TEXT/plain", b"text/*"));
        assert!(strcmp_match(b".htaccess", b".??*"));
        assert!(!strcmp_match(b"..", b".??*"));
        assert!(!strcasecmp_match(b"www1.example", b"www[0-9].example"));
        assert!(strcasecmp_match(b"www[0-9].example", b"WWW[0-9].*"));
    }
}
