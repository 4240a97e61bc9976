//! Argument splitting exactly as Apache's `ap_getword_conf` does it.
//!
//! A word is either quoted (`"..."` or `'...'`, where only `\<quote>` and `\\` are escapes and a
//! missing close quote runs to the end of the line) or a run of non-blanks (where only `\\` is an
//! escape). A closing quote ends the word even with no blank after it: `"ab"cd` is two words.

use nom::bytes::complete::{take_till1, take_while};
use nom::IResult;
use std::borrow::Cow;

use crate::lines::is_c_space;

fn blanks(input: &str) -> IResult<&str, &str> {
    take_while(is_c_space)(input)
}

fn bare(input: &str) -> IResult<&str, &str> {
    take_till1(is_c_space)(input)
}

/// Apache's `substring_conf`: `\\` always unescapes; `\<quote>` only inside that quote.
/// Most words have no backslash and are returned as a slice of the line.
fn unescape(raw: &str, quote: Option<char>) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&next) = chars.peek() {
                if next == '\\' || Some(next) == quote {
                    out.push(next);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// Takes the next word off `line` and leaves `line` at the start of the following one.
/// Returns an empty string when nothing is left (as Apache does; `""` also gives one).
pub fn getword_conf<'a>(line: &mut &'a str) -> Cow<'a, str> {
    let (rest, _) = blanks(line).unwrap_or((line, ""));
    if rest.is_empty() {
        *line = rest;
        return Cow::Borrowed("");
    }
    let parsed: IResult<&str, &str> = bare(rest);
    let (after, (quote, raw)) = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => scan_quoted(rest, q),
        _ => match parsed {
            Ok((after, word)) => (after, (None, word)),
            Err(_) => (rest, (None, "")),
        },
    };
    let word = unescape(raw, quote);
    let (after, _) = blanks(after).unwrap_or((after, ""));
    *line = after;
    word
}

/// Apache's scan of a quoted word: up to the same quote, skipping `\<quote>` and `\\\\`;
/// a missing close quote runs to the end of the line.
fn scan_quoted(input: &str, quote: char) -> (&str, (Option<char>, &str)) {
    let body = &input[1..];
    let bytes = body.as_bytes();
    let q = quote as u8;
    let mut i = 0;
    while i < bytes.len() && bytes[i] != q {
        if bytes[i] == b'\\' && i + 1 < bytes.len() && (bytes[i + 1] == q || bytes[i + 1] == b'\\')
        {
            i += 2;
        } else {
            i += 1;
        }
    }
    let raw = &body[..i];
    let after = if i < bytes.len() {
        &body[i + 1..]
    } else {
        &body[i..]
    };
    (after, (Some(quote), raw))
}

/// Splits a whole argument string into words (Apache's TAKE_ARGV / ITERATE loop).
pub fn split_words(args: &str) -> Vec<String> {
    let mut rest = args;
    let mut out = Vec::new();
    loop {
        let start_len = rest.len();
        let trimmed = rest.trim_start_matches(is_c_space);
        if trimmed.is_empty() {
            break;
        }
        out.push(getword_conf(&mut rest).into_owned());
        if rest.len() == start_len {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split_words(s)
    }

    #[test]
    fn quoting_rules_match_apache() {
        assert_eq!(words(r#""a b" 'c d'"#), ["a b", "c d"]);
        assert_eq!(words(r#""x\"y\\z\n""#), [r#"x"y\z\n"#]);
        assert_eq!(words(r#"'it\'s'"#), ["it's"]);
        assert_eq!(words(r#"a\"b"#), [r#"a\"b"#]);
        assert_eq!(words(r#"a\\b"#), [r#"a\b"#]);
        assert_eq!(words(r#""unterminated rest"#), ["unterminated rest"]);
        assert_eq!(words(r#""ab"cd"#), ["ab", "cd"]);
        assert_eq!(words(r#""" x"#), ["", "x"]);
        assert_eq!(words(r#""a'b" 'a"b'"#), ["a'b", "a\"b"]);
    }

    #[test]
    fn trailing_backslash_inside_quotes() {
        assert_eq!(words("\"ab\\"), ["ab\\"]);
        assert_eq!(words("'\\"), ["\\"]);
    }

    #[test]
    fn getword_leaves_rest() {
        let mut line = "  Name   rest of \"it\"";
        assert_eq!(getword_conf(&mut line), "Name");
        assert_eq!(line, "rest of \"it\"");
        let mut empty = "   ";
        assert_eq!(getword_conf(&mut empty), "");
    }
}
