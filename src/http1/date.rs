//! HTTP dates (IMF-fixdate, RFC 9110): formatting for Date and Last-Modified, and parsing the
//! three forms a client may send in If-Modified-Since and friends.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rhttpd_directives::util::civil::{civil_from_days, days_from_civil, is_leap};

/// Day names from 1970-01-01 (a Thursday) on.
pub const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A moment broken down in UTC, for the several date formats Apache writes.
pub struct Civil {
    /// Index into [`DAYS`] (0 is Thursday).
    pub weekday: usize,
    pub year: i64,
    /// 1-12.
    pub month: u32,
    pub day: u32,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
}

impl Civil {
    /// Seconds since 1970-01-01 UTC, broken down.
    pub fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            weekday: days.rem_euclid(7) as usize,
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
        }
    }

    pub fn month_name(&self) -> &'static str {
        MONTHS[(self.month - 1) as usize]
    }
}

/// `Thu, 26 Nov 2026 09:09:00 GMT`. The last few results are kept per thread: a response's
/// Date and the Last-Modified of the files it serves repeat from one request to the next.
pub fn format(time: SystemTime) -> String {
    let mut text = String::new();
    push(&mut text, time);
    text
}

/// [`format`] appended to `out`, with no allocation when the moment was formatted lately.
pub fn push(out: &mut String, time: SystemTime) {
    with_text(time, |text| out.push_str(text));
}

/// Whether `text` is exactly how [`format`] writes `time` (an answer's date that needs no
/// rewriting), with no allocation when the moment was formatted lately.
pub fn formats_as(time: SystemTime, text: &str) -> bool {
    with_text(time, |formatted| formatted == text)
}

/// Whether `text` is an IMF-fixdate exactly as [`format`] would write the moment it names
/// (right day name, no leap second, nothing around it): what most servers send, checked
/// without parsing and formatting it again. False says nothing: the text may still be one.
pub fn is_canonical(text: &str) -> bool {
    let b = text.as_bytes();
    if !fits(b, b"@$$, ## @$$ #### ##:##:## GMT") {
        return false;
    }
    let digit = |at: usize| i64::from(b[at] - b'0');
    let two = |at: usize| digit(at) * 10 + digit(at + 1);
    let (day, year) = (two(5), two(12) * 100 + two(14));
    let (hour, minute, second) = (two(17), two(20), two(23));
    let Some(month) = MONTHS.iter().position(|m| m.as_bytes() == &b[8..11]) else {
        return false;
    };
    let month_days = match month {
        3 | 5 | 8 | 10 => 30,
        1 if is_leap(year) => 29,
        1 => 28,
        _ => 31,
    };
    if year < 1970 || day == 0 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return false;
    }
    let days = days_from_civil(year, month as u32 + 1, day as u32);
    DAYS[days.rem_euclid(7) as usize].as_bytes() == &b[..3]
}

/// `use_text` given [`format`]'s text for `time`, from the thread's last few.
fn with_text<R>(time: SystemTime, use_text: impl FnOnce(&str) -> R) -> R {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    thread_local! {
        static RECENT: std::cell::RefCell<[(i64, String); 4]> = Default::default();
    }
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        if let Some((_, text)) = recent.iter().find(|(s, t)| *s == secs && !t.is_empty()) {
            return use_text(text);
        }
        let text = format_uncached(secs);
        let result = use_text(&text);
        recent.rotate_right(1);
        recent[0] = (secs, text);
        result
    })
}

fn format_uncached(secs: i64) -> String {
    let c = Civil::from_unix(secs);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[c.weekday],
        c.day,
        c.month_name(),
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

/// Parses an HTTP date as Apache's `apr_date_parse_http` does: after the first word (the
/// weekday, whatever it says), IMF-fixdate (`06 Nov 1994 08:49:37 GMT`, or a one-digit day),
/// RFC 850 (`06-Nov-94 08:49:37 GMT`) or asctime (`Nov  6 08:49:37 1994`), each matched on its
/// fixed positions with anything after the time (or year) ignored. `None` for anything else.
pub fn parse(text: &str) -> Option<SystemTime> {
    let text = text.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let date = &text.as_bytes()[text.find(' ')? + 1..];
    let digit = |at: usize| i64::from(date[at] - b'0');
    let two = |at: usize| digit(at) * 10 + digit(at + 1);
    let (year, day, month_at, time_at) = if fits(date, b"## @$$ #### ##:##:## *") {
        (two(7) * 100 + two(9), two(0), 3, 12)
    } else if fits(date, b"##-@$$-## ##:##:## *") {
        let year = two(7);
        (
            if year < 70 { 2000 + year } else { 1900 + year },
            two(0),
            3,
            10,
        )
    } else if fits(date, b"@$$ ~# ##:##:## ####*") {
        let tens = if date[4] == b' ' { 0 } else { digit(4) * 10 };
        (two(16) * 100 + two(18), tens + digit(5), 0, 7)
    } else if fits(date, b"# @$$ #### ##:##:## *") {
        (two(6) * 100 + two(8), digit(0), 2, 11)
    } else {
        return None;
    };
    if year < 1900 || day <= 0 || day > 31 {
        return None;
    }
    let (hour, minute, second) = (two(time_at), two(time_at + 3), two(time_at + 6));
    if hour > 23 || minute > 59 || second > 61 {
        return None;
    }
    let month = MONTHS
        .iter()
        .position(|m| m.as_bytes() == &date[month_at..month_at + 3])?;
    let too_late = match month {
        3 | 5 | 8 | 10 => day > 30,
        1 => day > 29 || (day == 29 && !is_leap(year)),
        _ => false,
    };
    if too_late {
        return None;
    }
    let days = days_from_civil(year, month as u32 + 1, day as u32);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// `apr_date_checkmask`: `@` an upper-case letter, `$` a lower-case one, `#` a digit, `~` a
/// digit or space, `*` anything from there on; any other byte itself.
fn fits(data: &[u8], mask: &[u8]) -> bool {
    for (at, &want) in mask.iter().enumerate() {
        let got = data.get(at).copied().unwrap_or(0);
        let ok = match want {
            b'*' => return true,
            b'@' => got.is_ascii_uppercase(),
            b'$' => got.is_ascii_lowercase(),
            b'#' => got.is_ascii_digit(),
            b'~' => got == b' ' || got.is_ascii_digit(),
            _ => got == want,
        };
        if !ok {
            return false;
        }
    }
    data.len() == mask.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(format(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(parse("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(parse("Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(parse("yesterday"), None);
    }

    #[test]
    fn canonical_is_what_format_writes_back() {
        for text in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Tue, 29 Feb 2028 23:59:59 GMT",
            "Mon, 07 Dec 2026 20:25:05 GMT",
        ] {
            assert!(is_canonical(text), "{text}");
            assert_eq!(format(parse(text).unwrap()), text);
        }
        // A wrong day name, a leap second, a day the month lacks, another form, blanks.
        for text in [
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:60 GMT",
            "Fri, 29 Feb 2030 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            " Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
            "Sun, 06 nov 1994 08:49:37 GMT",
        ] {
            assert!(!is_canonical(text), "{text}");
            if let Some(time) = parse(text) {
                assert_ne!(format(time), text);
            }
        }
    }
}
