//! Generic setters: the one-line table entries for directives whose values are validated by
//! arity alone, and the value parsers (numbers, On/Off, enumerations) Apache's handlers use.

use crate::cmd::Cmd;
use crate::registry::SetResult;

// The setters of directives that keep nothing at run time: those the read phase carries out
// (Include, Define, `<IfModule>`, LoadModule...) and those with no effect here (inert). Arity
// alone validates them.
pub fn accept_args(_cmd: &mut Cmd, _args: &str) -> SetResult {
    Ok(())
}
pub fn accept_argv(_cmd: &mut Cmd, _argv: &[String]) -> SetResult {
    Ok(())
}
pub fn accept_none(_cmd: &mut Cmd) -> SetResult {
    Ok(())
}
pub fn accept1(_cmd: &mut Cmd, _a: &str) -> SetResult {
    Ok(())
}
pub fn accept2(_cmd: &mut Cmd, _a: &str, _b: &str) -> SetResult {
    Ok(())
}
pub fn accept12(_cmd: &mut Cmd, _a: &str, _b: Option<&str>) -> SetResult {
    Ok(())
}
pub fn accept3(_cmd: &mut Cmd, _a: &str, _b: &str, _c: &str) -> SetResult {
    Ok(())
}
pub fn accept23(_cmd: &mut Cmd, _a: &str, _b: &str, _c: Option<&str>) -> SetResult {
    Ok(())
}
pub fn accept123(_cmd: &mut Cmd, _a: &str, _b: Option<&str>, _c: Option<&str>) -> SetResult {
    Ok(())
}
pub fn accept_flag(_cmd: &mut Cmd, _on: bool) -> SetResult {
    Ok(())
}

/// The next word of `rest` as an owned string (handlers that keep what they parse).
pub fn next_word(rest: &mut &str) -> String {
    rhttpd_parser::getword_conf(rest).into_owned()
}

/// C `atoi`: leading blanks, optional sign, digits; anything else ends the number (0 if none).
pub fn atoi(text: &str) -> i64 {
    let t = text.trim_start_matches([' ', '\t', '\n', '\r', '\u{0b}', '\u{0c}']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut value: i64 = 0;
    let mut overflow = false;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        match value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
    }
    // glibc's strtol clamps to LONG_MAX or LONG_MIN on overflow.
    match (neg, overflow) {
        (false, true) => i64::MAX,
        (true, true) => i64::MIN,
        (false, false) => value,
        (true, false) => -value,
    }
}

/// C `atoi` into an `int`, as glibc does it: the clamped `long` truncated to 32 bits (so
/// "3000000000" is negative and "4294967296" is 0).
pub fn atoi_int(text: &str) -> i32 {
    atoi(text) as i32
}

/// C `strtoll` in base 10: the number and what follows it; `None` on overflow.
/// With no digits the value is 0 and the rest is the whole input, as C leaves `endptr`.
pub fn strtoll(text: &str) -> Option<(i64, &str)> {
    let t = text.trim_start_matches([' ', '\t', '\n', '\r', '\u{0b}', '\u{0c}']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let count = digits.bytes().take_while(u8::is_ascii_digit).count();
    if count == 0 {
        return Some((0, text));
    }
    let mut value: i64 = 0;
    for b in digits[..count].bytes() {
        value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some((if neg { -value } else { value }, &digits[count..]))
}

/// C `strtol` in base 10: the value (clamped on overflow, as glibc does) and what follows the
/// digits; with no digits the value is 0 and the rest is the whole input.
pub fn strtol(text: &str) -> (i64, &str) {
    let t = text.trim_start_matches([' ', '\t', '\n', '\r', '\u{0b}', '\u{0c}']);
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    let count = digits.bytes().take_while(u8::is_ascii_digit).count();
    if count == 0 {
        return (0, text);
    }
    (atoi(t), &digits[count..])
}

/// Whether `word` starts with `prefix`, ignoring ASCII case (C `strncasecmp(word, prefix,
/// strlen(prefix)) == 0`).
pub fn starts_with_ignore_case(word: &str, prefix: &str) -> bool {
    word.len() >= prefix.len()
        && word.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// `apr_strtoi64`-style strict decimal parse: the whole word must be a number.
pub fn strict_int(text: &str) -> Option<i64> {
    let t = text.trim_start();
    if t.is_empty() {
        return None;
    }
    t.parse::<i64>().ok()
}

/// Apache's `ap_timeout_parameter_parse`: a number with an optional unit (ms, s, mi, h).
/// Returns milliseconds.
pub fn timeout_ms(text: &str, default_unit: &str) -> Option<u64> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let value: u64 = if number.is_empty() {
        0
    } else {
        number.parse().ok()?
    };
    let unit = if unit.is_empty() { default_unit } else { unit };
    let factor = match unit.to_ascii_lowercase().as_str() {
        "ms" => 1,
        "s" => 1000,
        "mi" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    value.checked_mul(factor)
}

/// `ap_timeout_parameter_parse`: a number with an optional unit, in microseconds. Only the
/// unit's leading letters count (`s`, `h`, `ms`, `mi`; "5sec" and "5min" pass) and they are
/// case-sensitive; a negative number, an unknown unit or an overflow is `None`.
pub fn ap_timeout(text: &str, default_unit: &str) -> Option<i64> {
    let (value, rest) = strtoll(text)?;
    let unit = if rest.is_empty() { default_unit } else { rest };
    if value < 0 {
        return None;
    }
    let (limit, micros_per_unit) = match unit.as_bytes() {
        [b's', ..] => (i64::MAX / 1_000_000, 1_000_000),
        [b'h', ..] => (i64::MAX / 3600 / 1_000_000, 3_600_000_000),
        [b'm', b's', ..] => (i64::MAX / 1000, 1000),
        [b'm', b'i', ..] => (i64::MAX / 60 / 1_000_000, 60_000_000),
        _ => return None,
    };
    if value > limit {
        return None;
    }
    Some(value * micros_per_unit)
}

/// Whether `pattern` compiles as Apache compiles it (case-insensitive when `icase`): with the
/// one regex type the runtimes use, so a rule `-t` accepts is never dropped at run time.
pub fn regex_compiles(pattern: &str, icase: bool) -> bool {
    crate::regex::Regex::new_icase(pattern, icase).is_ok()
}

/// `ap_set_file_slot`'s check: `apr_filepath_merge` refuses a result longer than PATH_MAX,
/// counting the ServerRoot even when the path is absolute.
pub fn check_file_path(cmd: &Cmd, arg: &str) -> SetResult {
    const APR_PATH_MAX: usize = 4096;
    let root = cmd.cfg.read.server_root.as_os_str().len();
    if root + arg.len() + 4 > APR_PATH_MAX {
        return Err(format!("{}: Invalid file path '{arg}'", cmd.name()));
    }
    Ok(())
}

/// `ap_is_url`: a scheme of letters, digits, `+`, `-` or `.` followed by a colon.
pub fn is_url(url: &str) -> bool {
    match url.find(':') {
        Some(0) | None => false,
        Some(colon) => url[..colon]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')),
    }
}

/// The words an ITERATE handler receives for `args`: up to the first empty one.
pub fn iterate_words(args: &str) -> Vec<String> {
    rhttpd_parser::split_words(args)
        .into_iter()
        .take_while(|w| !w.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_is_lenient_like_c() {
        assert_eq!(atoi("30"), 30);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi(" 12x"), 12);
        assert_eq!(atoi("-5"), -5);
    }

    #[test]
    fn timeouts_take_units() {
        assert_eq!(timeout_ms("5", "s"), Some(5000));
        assert_eq!(timeout_ms("300ms", "s"), Some(300));
        assert_eq!(timeout_ms("2mi", "s"), Some(120_000));
        assert_eq!(timeout_ms("5x", "s"), None);
    }

    #[test]
    fn int_atoi_wraps_like_glibc() {
        assert_eq!(atoi_int("3000000000"), -1_294_967_296);
        assert_eq!(atoi_int("4294967296"), 0);
        assert_eq!(atoi_int("99999999999999999999"), -1);
        assert_eq!(atoi("-99999999999999999999"), i64::MIN);
        assert_eq!(strtol("12ab"), (12, "ab"));
        assert_eq!(strtol("ab"), (0, "ab"));
    }

    #[test]
    fn apache_timeouts_read_only_the_unit_prefix() {
        assert_eq!(ap_timeout("5", "s"), Some(5_000_000));
        assert_eq!(ap_timeout("5sec", "s"), Some(5_000_000));
        assert_eq!(ap_timeout("2min", "s"), Some(120_000_000));
        assert_eq!(ap_timeout("100ms", "s"), Some(100_000));
        assert_eq!(ap_timeout("5S", "s"), None);
        assert_eq!(ap_timeout("5m", "s"), None);
        assert_eq!(ap_timeout("-1", "s"), None);
        assert_eq!(ap_timeout("abc", "s"), None);
    }

    #[test]
    fn regexes_fail_only_where_pcre_fails() {
        for bad in [
            "(", ")", "[a", "*a", "a**", "[z-a]", "a{2,1}", "a\\", "(a)|\\2", "\\i",
        ] {
            assert!(!regex_compiles(bad, false), "{bad}");
        }
        for good in [
            "^/(.*)$",
            "\\Qa.b\\E",
            "\\Z",
            "(?|a|b)",
            "(*UTF8)a",
            "\\1(a)",
            "(?=a)*",
            "(?n)a",
        ] {
            assert!(regex_compiles(good, false), "{good}");
        }
        assert!(!regex_compiles("(", true));
    }
}
