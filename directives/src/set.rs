//! Generic setters: the one-line table entries for directives whose values are validated by
//! arity alone, and the value parsers (numbers, On/Off, enumerations) Apache's handlers use.

use crate::cmd::Cmd;
use crate::registry::SetResult;

pub fn raw_args(cmd: &mut Cmd, _args: &str) -> SetResult {
    cmd.store_raw();
    Ok(())
}
pub fn raw_argv(cmd: &mut Cmd, _argv: &[String]) -> SetResult {
    cmd.store_raw();
    Ok(())
}
pub fn raw_none(cmd: &mut Cmd) -> SetResult {
    cmd.store_raw();
    Ok(())
}
pub fn raw1(cmd: &mut Cmd, _a: &str) -> SetResult {
    cmd.store_raw();
    Ok(())
}
pub fn raw2(cmd: &mut Cmd, _a: &str, _b: &str) -> SetResult {
    cmd.store_raw();
    Ok(())
}
pub fn raw12(cmd: &mut Cmd, _a: &str, _b: Option<&str>) -> SetResult {
    cmd.store_raw();
    Ok(())
}
pub fn raw3(cmd: &mut Cmd, _a: &str, _b: &str, _c: &str) -> SetResult {
    cmd.store_raw();
    Ok(())
}
pub fn raw23(cmd: &mut Cmd, _a: &str, _b: &str, _c: Option<&str>) -> SetResult {
    cmd.store_raw();
    Ok(())
}
pub fn raw123(cmd: &mut Cmd, _a: &str, _b: Option<&str>, _c: Option<&str>) -> SetResult {
    cmd.store_raw();
    Ok(())
}
pub fn raw_flag(cmd: &mut Cmd, _on: bool) -> SetResult {
    cmd.store_raw();
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
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        value = value.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -value
    } else {
        value
    }
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

/// `apr_fnmatch_test`: whether a string has glob characters (`*`, `?`, or a `[...]` class).
pub fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?']) || text.find('[').is_some_and(|at| text[at..].contains(']'))
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
}
