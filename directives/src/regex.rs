//! The one regex type of the configuration: PCRE2 (the engine Apache links), compiled as
//! `ap_regcomp` compiles (the RegexDefaultOptions, duplicate group names allowed, no UTF mode)
//! and matched on bytes. Validation and every runtime build this type, so a pattern `-t`
//! accepts is the pattern requests meet. It knows nothing of directives or requests.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use crate::regex_defaults::{DOLLAR_ENDONLY, DOTALL, ICASE};

/// A compiled configuration regex; cheap to clone and shared by every thread.
#[derive(Clone)]
pub struct Regex(Arc<Inner>);

struct Inner {
    /// As written in the configuration.
    pattern: String,
    /// JIT-compiled where PCRE2 can.
    fast: pcre2::bytes::Regex,
    /// The interpreter, compiled the first time the JIT fails a match: the JIT's stack is
    /// small (`^(a|b)*$` exhausts it on a 10 KiB subject), while Apache, which never JITs,
    /// matches within the interpreter's much larger heap limit; answering "no match" there
    /// would diverge.
    slow: OnceLock<Option<pcre2::bytes::Regex>>,
    /// What PCRE2 compiled: `pattern` with the options no inline flag or builder gives.
    translated: String,
    caseless: bool,
    dotall: bool,
    /// Bytes every match holds, where the pattern begins with them (see [`Required`]).
    required: Option<Required>,
}

/// The literal run a pattern begins with (after a `^`, if any): a subject without it cannot
/// match, and that is found by a substring search for a fraction of what a PCRE2 match costs
/// (most runtime patterns are tested against subjects they do not match: Debian's fourteen
/// BrowserMatch lines against every request's User-Agent).
#[derive(Debug, Clone)]
struct Required {
    /// `^`: the subject must begin with the run.
    anchored: bool,
    literal: Vec<u8>,
    /// The search for the run, prepared once.
    finder: memchr::memmem::Finder<'static>,
}

impl Required {
    /// Read conservatively: case-sensitive patterns with no alternation anywhere, the run
    /// ending at the first byte that is not plainly itself (a metacharacter, an escape other
    /// than of punctuation), and a byte a quantifier follows left out of it.
    fn of(pattern: &str, caseless: bool) -> Option<Required> {
        if caseless || pattern.contains('|') {
            return None;
        }
        let b = pattern.as_bytes();
        let anchored = b.first() == Some(&b'^');
        let mut at = usize::from(anchored);
        let mut literal = Vec::new();
        while at < b.len() {
            match b[at] {
                b'\\' => match b.get(at + 1) {
                    Some(&c) if c.is_ascii_punctuation() => {
                        literal.push(c);
                        at += 2;
                    }
                    _ => break,
                },
                b'.' | b'[' | b']' | b'(' | b')' | b'*' | b'+' | b'?' | b'{' | b'}' | b'^'
                | b'$' | b'#' => break,
                c if c.is_ascii_graphic() || c == b' ' => {
                    literal.push(c);
                    at += 1;
                }
                _ => break,
            }
        }
        if matches!(b.get(at), Some(b'*' | b'+' | b'?' | b'{')) {
            literal.pop();
        }
        let finder = memchr::memmem::Finder::new(&literal).into_owned();
        (!literal.is_empty()).then_some(Required {
            anchored,
            literal,
            finder,
        })
    }

    /// Whether `subject` may match: false only when it lacks the run.
    fn admits(&self, subject: &[u8]) -> bool {
        if self.anchored {
            subject.starts_with(&self.literal)
        } else {
            self.finder.find(subject).is_some()
        }
    }
}

/// Why a pattern does not compile: PCRE2's message and where in the pattern it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub message: String,
    pub offset: Option<usize>,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(offset) => write!(f, "{} at offset {offset}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

impl std::fmt::Debug for Regex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Regex({:?})", self.0.pattern)
    }
}

impl Regex {
    /// Compiles `pattern` with the RegexDefaultOptions in force, as most directives do.
    pub fn new(pattern: &str) -> Result<Regex, Error> {
        Regex::with_flags(pattern, crate::regex_defaults::get())
    }

    /// Like [`Regex::new`], case-insensitive when `icase` (the `NoCase` directives, ap_expr's
    /// `m/.../i`) whatever the defaults say.
    pub fn new_icase(pattern: &str, icase: bool) -> Result<Regex, Error> {
        let icase = if icase { ICASE } else { 0 };
        Regex::with_flags(pattern, crate::regex_defaults::get() | icase)
    }

    /// Compiles with exactly `flags` (RegexDefaultOptions bits), the defaults not consulted.
    pub fn with_flags(pattern: &str, flags: u32) -> Result<Regex, Error> {
        let (translated, edits) = translate(pattern, flags & DOLLAR_ENDONLY != 0);
        let caseless = flags & ICASE != 0;
        let dotall = flags & DOTALL != 0;
        let fast =
            build(&translated, caseless, dotall, true).map_err(|e| compile_error(&e, &edits))?;
        Ok(Regex(Arc::new(Inner {
            pattern: pattern.to_string(),
            fast,
            slow: OnceLock::new(),
            translated,
            caseless,
            dotall,
            required: Required::of(pattern, caseless),
        })))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0.pattern
    }

    /// How many capture groups the pattern has (`$0`, the whole match, not counted).
    pub fn groups(&self) -> usize {
        self.0.fast.captures_len() - 1
    }

    /// `(number, name)` of every named group, in pattern order (a name may repeat).
    pub fn names(&self) -> impl Iterator<Item = (usize, &str)> {
        self.0
            .fast
            .capture_names()
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_deref().map(|n| (i, n)))
    }

    /// Whether the pattern matches anywhere in `subject`. A match PCRE2 gives up on (its match
    /// limit) is no match, as `ap_regexec`'s callers take any failure.
    pub fn is_match(&self, subject: impl AsRef<[u8]>) -> bool {
        let subject = subject.as_ref();
        if self.0.required.as_ref().is_some_and(|r| !r.admits(subject)) {
            return false;
        }
        match self.0.fast.is_match(subject) {
            Ok(found) => found,
            Err(_) => self
                .slow()
                .is_some_and(|re| re.is_match(subject).unwrap_or(false)),
        }
    }

    /// The first match in `subject` with its groups, or None.
    pub fn captures<'s, S: AsRef<[u8]> + ?Sized>(&self, subject: &'s S) -> Option<Captures<'s>> {
        self.captures_at(subject.as_ref(), 0)
    }

    /// The first match at or after byte `start`; what lies before still counts for `\b` and
    /// look-behind.
    pub fn captures_at<'s>(&self, subject: &'s [u8], start: usize) -> Option<Captures<'s>> {
        if start > subject.len() {
            return None;
        }
        // From the start only: a search further on may still see the run before `start`.
        if start == 0 && self.0.required.as_ref().is_some_and(|r| !r.admits(subject)) {
            return None;
        }
        let read = |re: &pcre2::bytes::Regex| {
            let mut locs = re.capture_locations();
            re.captures_read_at(&mut locs, subject, start)
                .map(|found| found.map(|_| (0..locs.len()).map(|i| locs.get(i)).collect()))
        };
        let spans: Vec<Option<(usize, usize)>> = match read(&self.0.fast) {
            Ok(found) => found?,
            Err(_) => read(self.slow()?).ok()??,
        };
        Some(Captures {
            subject,
            spans,
            regex: self.clone(),
        })
    }

    /// Every non-overlapping match, left to right; an empty match right where the previous
    /// one ended is skipped, so the search always moves on.
    pub fn captures_iter<'r, 's>(&'r self, subject: &'s [u8]) -> CapturesIter<'r, 's> {
        CapturesIter {
            regex: self,
            subject,
            at: 0,
            last_end: None,
        }
    }

    fn slow(&self) -> Option<&pcre2::bytes::Regex> {
        let inner = &self.0;
        inner
            .slow
            .get_or_init(|| build(&inner.translated, inner.caseless, inner.dotall, false).ok())
            .as_ref()
    }
}

fn build(
    pattern: &str,
    caseless: bool,
    dotall: bool,
    jit: bool,
) -> Result<pcre2::bytes::Regex, pcre2::Error> {
    pcre2::bytes::RegexBuilder::new()
        .caseless(caseless)
        .dotall(dotall)
        .jit_if_available(jit)
        .build(pattern)
}

/// One match and its groups.
pub struct Captures<'s> {
    subject: &'s [u8],
    spans: Vec<Option<(usize, usize)>>,
    /// For the group names.
    regex: Regex,
}

impl<'s> Captures<'s> {
    /// Group `i` (0 = the whole match), None when it did not take part or does not exist.
    pub fn get(&self, i: usize) -> Option<&'s [u8]> {
        let (start, end) = (*self.spans.get(i)?)?;
        Some(&self.subject[start..end])
    }

    /// Group `i` as text (bytes that are not UTF-8 replaced: a group may cut a character,
    /// since PCRE2 runs without UTF mode as Apache's does).
    pub fn text(&self, i: usize) -> Option<Cow<'s, str>> {
        self.get(i).map(String::from_utf8_lossy)
    }

    /// Where group `i` lies in the subject.
    pub fn span(&self, i: usize) -> Option<(usize, usize)> {
        *self.spans.get(i)?
    }

    /// The group called `name`; of duplicates, the lowest-numbered that took part (PCRE2's
    /// rule for a name given twice).
    pub fn name(&self, name: &str) -> Option<&'s [u8]> {
        self.regex
            .names()
            .filter(|(_, n)| *n == name)
            .find_map(|(i, _)| self.get(i))
    }

    /// Groups 0 to `count - 1` as text, None for each that is missing: the `$0`..`$9` that
    /// substitutions read.
    pub fn texts(&self, count: usize) -> Vec<Option<String>> {
        (0..count)
            .map(|i| self.text(i).map(Cow::into_owned))
            .collect()
    }

    /// How many groups there are, counting the whole match.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// See [`Regex::captures_iter`].
pub struct CapturesIter<'r, 's> {
    regex: &'r Regex,
    subject: &'s [u8],
    at: usize,
    last_end: Option<usize>,
}

impl<'s> Iterator for CapturesIter<'_, 's> {
    type Item = Captures<'s>;

    fn next(&mut self) -> Option<Captures<'s>> {
        loop {
            let found = self.regex.captures_at(self.subject, self.at)?;
            let (start, end) = found.span(0)?;
            if start == end && self.last_end == Some(end) {
                if self.at >= self.subject.len() {
                    return None;
                }
                self.at += 1;
                continue;
            }
            self.at = end;
            self.last_end = Some(end);
            return Some(found);
        }
    }
}

fn compile_error(err: &pcre2::Error, edits: &Edits) -> Error {
    let text = err.to_string();
    // The crate's wording is "PCRE2: error compiling pattern at offset N: message".
    let message = text
        .split_once(": ")
        .map(|(_, rest)| rest)
        .map(|rest| rest.split_once(": ").map_or(rest, |(_, m)| m))
        .unwrap_or(&text)
        .to_string();
    Error {
        message,
        offset: err.offset().map(|o| edits.original_offset(o)),
    }
}

/// Where [`translate`] made the compiled pattern differ from the written one.
#[derive(Default)]
struct Edits {
    /// Where the `(?J)` was put in.
    dupnames: usize,
    /// Offsets (in the translation) of each `\z` written for a `$`.
    dollars: Vec<usize>,
}

impl Edits {
    fn original_offset(&self, at: usize) -> usize {
        let mut original = at;
        if at >= self.dupnames + DUPNAMES.len() {
            original -= DUPNAMES.len();
        }
        original - self.dollars.iter().filter(|&&d| d + 1 < at).count()
    }
}

/// Allows a name to be given to two groups, as Apache compiles every regex
/// (`PCRE2_DUPNAMES`, which the crate's builder does not offer).
const DUPNAMES: &str = "(?J)";

/// `pattern` as PCRE2 must compile it to behave as Apache's compile options ask, where the
/// builder has no such option: `(?J)` after any leading `(*OPTION)` items, and under
/// DOLLAR_ENDONLY each `$` that is an anchor outside multi-line mode written `\z` (what
/// DOLLAR_ENDONLY makes of it). Escapes, classes, `\Q..\E`, comments, verb arguments and
/// callout strings are copied untouched, and `(?m)`/`(?x)` are followed through the groups.
fn translate(pattern: &str, dollar_endonly: bool) -> (String, Edits) {
    let b = pattern.as_bytes();
    let mut edits = Edits::default();
    let mut out = String::with_capacity(pattern.len() + DUPNAMES.len() + 4);
    // Start-of-pattern options must come first: (*UTF), (*LIMIT_MATCH=10), (*CRLF), ...
    let mut i = 0;
    while b[i..].starts_with(b"(*") {
        let name_len = b[i + 2..]
            .iter()
            .take_while(|c| {
                c.is_ascii_uppercase() || c.is_ascii_digit() || **c == b'_' || **c == b'='
            })
            .count();
        if b.get(i + 2 + name_len) != Some(&b')') || name_len == 0 {
            break;
        }
        i += 3 + name_len;
    }
    out.push_str(&pattern[..i]);
    edits.dupnames = out.len();
    out.push_str(DUPNAMES);

    // (multi-line, extended) of the group being read, and of each group around it.
    let (mut multiline, mut extended) = (false, false);
    let mut outer: Vec<(bool, bool)> = Vec::new();
    let mut copied = i;
    while i < b.len() {
        match b[i] {
            b'\\' => i = skip_escape(b, i),
            b'[' => i = skip_class(b, i),
            b'#' if extended => {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |n| i + n + 1);
            }
            b'$' if dollar_endonly && !multiline => {
                out.push_str(&pattern[copied..i]);
                edits.dollars.push(out.len());
                out.push_str("\\z");
                i += 1;
                copied = i;
            }
            b')' => {
                if let Some((m, x)) = outer.pop() {
                    (multiline, extended) = (m, x);
                }
                i += 1;
            }
            b'(' => {
                let rest = &b[i + 1..];
                if rest.starts_with(b"?#") {
                    i = close_paren(b, i);
                } else if rest.starts_with(b"*") {
                    // A verb (its argument may hold anything but `)`), or an alpha assertion
                    // such as `(*pla:`, which opens a group.
                    let name_len = rest[1..]
                        .iter()
                        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                        .count();
                    let name = &rest[1..1 + name_len];
                    let verb = matches!(
                        name,
                        b"" | b"MARK"
                            | b"PRUNE"
                            | b"SKIP"
                            | b"THEN"
                            | b"COMMIT"
                            | b"ACCEPT"
                            | b"FAIL"
                            | b"F"
                    );
                    if rest.get(1 + name_len) == Some(&b':') && !verb {
                        outer.push((multiline, extended));
                        i += 3 + name_len;
                    } else {
                        i = close_paren(b, i);
                    }
                } else if rest.starts_with(b"?C") {
                    i = skip_callout(b, i);
                } else if let Some((len, letters, group)) = option_setting(rest) {
                    if group {
                        outer.push((multiline, extended));
                    }
                    (multiline, extended) = apply_options(letters, (multiline, extended));
                    i += 1 + len;
                } else {
                    outer.push((multiline, extended));
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&pattern[copied.min(b.len())..]);
    (out, edits)
}

/// After an escape starting at `i` (`\Q..\E` whole; `\cX` takes the next character too).
fn skip_escape(b: &[u8], i: usize) -> usize {
    match b.get(i + 1) {
        None => b.len(),
        Some(b'Q') => find(b, i + 2, b"\\E").map_or(b.len(), |e| e + 2),
        Some(b'c') => (i + 3).min(b.len()),
        Some(_) => i + 2,
    }
}

/// After the character class opening at `i`: a `]` first is a member, escapes and POSIX
/// `[:name:]` are skipped.
fn skip_class(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    if b.get(j) == Some(&b'^') {
        j += 1;
    }
    if b.get(j) == Some(&b']') {
        j += 1;
    }
    while j < b.len() {
        match b[j] {
            b']' => return j + 1,
            b'\\' => j = skip_escape(b, j),
            b'[' if matches!(b.get(j + 1), Some(b':' | b'.' | b'=')) => {
                let end = [b.get(j + 1).copied().unwrap_or(b':'), b']'];
                match (find(b, j + 2, &end), find(b, j + 2, b"]")) {
                    (Some(e), Some(close)) if e < close => j = e + 2,
                    _ => j += 1,
                }
            }
            _ => j += 1,
        }
    }
    b.len()
}

/// After the `)` closing the item opened at `i` (a comment or verb: nothing nests).
fn close_paren(b: &[u8], i: usize) -> usize {
    find(b, i, b")").map_or(b.len(), |e| e + 1)
}

/// After a callout `(?C)`, `(?Cn)` or `(?C"text")`, whose string may hold any character (its
/// delimiter doubled).
fn skip_callout(b: &[u8], i: usize) -> usize {
    let at = i + 3;
    let Some(&open) = b.get(at) else {
        return b.len();
    };
    let close = match open {
        b'{' => b'}',
        b'`' | b'\'' | b'"' | b'^' | b'%' | b'#' | b'$' => open,
        _ => return close_paren(b, i),
    };
    let mut j = at + 1;
    while j < b.len() {
        if b[j] == close {
            if b.get(j + 1) == Some(&close) {
                j += 2;
                continue;
            }
            return close_paren(b, j);
        }
        j += 1;
    }
    b.len()
}

/// `(?imsx-imsx)` (for the rest of the group) or `(?m:` (a group of its own): how many bytes
/// after the `(` it takes, its letters, and whether it opens a group.
fn option_setting(rest: &[u8]) -> Option<(usize, &[u8], bool)> {
    let body = rest.strip_prefix(b"?")?;
    let len = body.iter().take_while(|c| b"imnsxJU-^".contains(c)).count();
    let group = match body.get(len) {
        Some(b')') => false,
        Some(b':') => true,
        _ => return None,
    };
    Some((len + 2, &body[..len], group))
}

/// (multi-line, extended) after option letters such as `m`, `-x` or `^m`.
fn apply_options(letters: &[u8], (mut m, mut x): (bool, bool)) -> (bool, bool) {
    let mut on = true;
    for &c in letters {
        match c {
            b'^' => (m, x) = (false, false),
            b'-' => on = false,
            b'm' => m = on,
            b'x' => x = on,
            _ => {}
        }
    }
    (m, x)
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const APACHE: u32 = DOTALL | DOLLAR_ENDONLY;

    fn re(pattern: &str) -> Regex {
        Regex::with_flags(pattern, APACHE).unwrap()
    }

    #[test]
    fn pcre_syntax_the_rust_engines_lack_compiles_and_matches() {
        assert!(re("foo(?=bar)").is_match("foobar"));
        assert!(!re("foo(?=bar)").is_match("foobaz"));
        assert!(re(r"^/(\w+)/\1$").is_match("/ab/ab"));
        assert!(re(r"(?<=a)b").is_match("ab"));
        assert!(re(r"\Qa.b\E").is_match("xa.by"));
        assert!(!re(r"\Qa.b\E").is_match("axb"));
        assert!(re(r"^(\((?:[^()]|(?1))*\))$").is_match("(a(b)c)"));
        assert!(re(r"\d+").is_match("a1"));
    }

    #[test]
    fn bad_patterns_report_pcre2s_message() {
        for bad in [
            "(", ")", "[a", "*a", "a**", "[z-a]", "a{2,1}", "a\\", "(a)|\\2", "\\i",
        ] {
            assert!(Regex::with_flags(bad, APACHE).is_err(), "{bad}");
        }
        let err = Regex::with_flags("ab(", APACHE).unwrap_err();
        assert_eq!(err.message, "missing closing parenthesis");
        assert_eq!(err.offset, Some(3));
        // Offsets are the written pattern's, whatever was put in front of or for `$`.
        assert_eq!(
            Regex::with_flags("$a$(", APACHE).unwrap_err().offset,
            Some(4)
        );
        // A quantified `$` fails as PCRE2 fails it, though `\z` stands in for it.
        assert!(Regex::with_flags("a$?", APACHE).is_err());
    }

    #[test]
    fn numbered_and_named_groups() {
        let r = re(r"^/(?<year>\d{4})/(?'slug'[a-z]+)(x)?");
        assert_eq!(r.groups(), 3);
        assert_eq!(
            r.names().collect::<Vec<_>>(),
            vec![(1, "year"), (2, "slug")]
        );
        let caps = r.captures("/2024/news").unwrap();
        assert_eq!(caps.get(0), Some(&b"/2024/news"[..]));
        assert_eq!(caps.name("slug"), Some(&b"news"[..]));
        assert_eq!(caps.get(3), None);
        assert_eq!(
            caps.texts(5),
            vec![
                Some("/2024/news".to_string()),
                Some("2024".to_string()),
                Some("news".to_string()),
                None,
                None
            ]
        );
    }

    #[test]
    fn a_name_may_be_given_twice_as_in_apache() {
        let r = re(r"(?<n>a)|(?<n>b)");
        assert_eq!(r.captures("b").unwrap().name("n"), Some(&b"b"[..]));
        assert!(re(r"(*LIMIT_MATCH=1000)(*NO_JIT)(?<n>a)|(?<n>b)").is_match("b"));
    }

    #[test]
    fn dollar_follows_dollar_endonly() {
        assert!(!re("^a$").is_match("a\n"));
        assert!(re("^a$").is_match("a"));
        let plain = Regex::with_flags("^a$", DOTALL).unwrap();
        assert!(plain.is_match("a\n"));
        // In multi-line mode `$` is before any newline, DOLLAR_ENDONLY or not.
        assert!(re("(?m)^a$").is_match("a\nb"));
        assert!(re("(?m:^a$)").is_match("a\nb"));
        assert!(!re("(?m:x)^a$").is_match("a\n"));
        assert!(!re("(?m)(?-m)^a$").is_match("a\n"));
        // A `$` that is no anchor stays itself.
        for literal in [
            r"\$",
            "[$]",
            r"\Q$\E",
            "(?#$)a",
            r"\c$",
            "(*MARK:$)a",
            "(?C'$')a",
        ] {
            let r = re(literal);
            assert!(!r.as_str().is_empty());
            assert_eq!(translate(literal, true).0, format!("(?J){literal}"));
        }
        assert!(re(r"\$").is_match("$"));
        assert!(re("(?x) a # $ comment\n b$").is_match("ab"));
        assert!(!re("(?x) a # [ comment\n b$").is_match("ab\n"));
        assert!(re("[]$]").is_match("$"));
        assert!(re("[[:alpha:]$]").is_match("$"));
    }

    #[test]
    fn options_apply() {
        assert!(Regex::with_flags("^A", ICASE).unwrap().is_match("a"));
        assert!(!Regex::with_flags("^A", 0).unwrap().is_match("a"));
        assert!(Regex::with_flags("a.b", DOTALL).unwrap().is_match("a\nb"));
        assert!(!Regex::with_flags("a.b", 0).unwrap().is_match("a\nb"));
    }

    #[test]
    fn bytes_are_matched_without_utf() {
        let r = re("^(.)");
        let caps = r.captures("é").unwrap();
        assert_eq!(caps.get(1), Some(&[0xc3][..]));
        assert!(re("^\\xff$").is_match([0xffu8]));
    }

    #[test]
    fn a_match_the_jit_stack_cannot_hold_is_still_found() {
        let subject = "ab".repeat(50_000);
        assert!(re("^(a|b)*$").is_match(&subject));
        assert_eq!(
            re("^(a|b)*$")
                .captures(&subject)
                .unwrap()
                .text(1)
                .as_deref(),
            Some("b")
        );
    }

    #[test]
    fn iteration_moves_past_empty_matches() {
        let r = re("x*");
        let spans: Vec<_> = r
            .captures_iter(b"axb")
            .map(|c| c.span(0).unwrap())
            .collect();
        assert_eq!(spans, vec![(0, 0), (1, 2), (3, 3)]);
    }

    #[test]
    fn a_literal_prefix_rules_out_only_subjects_pcre2_would_not_match() {
        let run = |p: &str| Required::of(p, false).map(|r| (r.anchored, r.literal));
        assert_eq!(run("Mozilla/2"), Some((false, b"Mozilla/2".to_vec())));
        assert_eq!(
            run("^WebDAVFS/1\\.[012]"),
            Some((true, b"WebDAVFS/1.".to_vec()))
        );
        assert_eq!(run("ab?c"), Some((false, b"a".to_vec())));
        assert_eq!(run("a+"), None);
        assert_eq!(run("x|y"), None);
        assert_eq!(run("(?i)abc"), None);
        assert_eq!(run("\\d+"), None);
        assert!(Required::of("abc", true).is_none());
        let patterns = [
            "Mozilla/2",
            "MSIE 4\\.0b2;",
            "^WebDAVFS/1\\.[012]",
            "^gvfs/1",
            " Konqueror/4",
            "ab?c",
            "ab*",
            "a{2}",
            "a{",
            "^$",
            "x|y",
            "^a.b",
            "a\\Qb\\E",
            "(?i)abc",
            "(a)b\\1",
            "^(*CRLF)a",
            "a\\$",
            "a$",
            "\\/x/",
        ];
        let subjects = [
            "",
            "a",
            "aa",
            "ac",
            "abc",
            "ABC",
            "ab",
            "abb",
            "aab",
            "a{",
            "a$",
            "/x/",
            "x",
            "y",
            "Mozilla/2.0",
            "xMozilla/2",
            "Mozilla/3",
            "WebDAVFS/1.2",
            "a WebDAVFS/1.2",
            "WebDAVFS/1.4",
            "gvfs/1.4",
            "KDE Konqueror/4.1",
            "MSIE 4.0b2;",
            "axb",
        ];
        for pattern in patterns {
            let Ok(re) = Regex::new(pattern) else {
                continue;
            };
            for subject in subjects {
                let pcre2 = re.0.fast.is_match(subject.as_bytes()).unwrap();
                assert_eq!(re.is_match(subject), pcre2, "{pattern:?} on {subject:?}");
                assert_eq!(
                    re.captures(subject).is_some(),
                    pcre2,
                    "{pattern:?} on {subject:?}"
                );
            }
        }
    }
}
