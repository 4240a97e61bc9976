//! Startup messages in Apache's error-log line format (before any ErrorLog is open they go to
//! standard error): `[Thu Nov 26 07:01:51.030592 2026] [core:warn] [pid N:tid N] AHnnnnn: ...`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::http1::date::{Civil, DAYS};

/// Apache's `%{cu}t`-style timestamp in UTC: `Thu Nov 26 07:01:51.030592 2026`.
pub fn timestamp(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let c = Civil::from_unix(since.as_secs() as i64);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02}.{:06} {}",
        DAYS[c.weekday],
        c.month_name(),
        c.day,
        c.hour,
        c.minute,
        c.second,
        since.subsec_micros(),
        c.year
    )
}

/// One error-log line for `module` at `level` from this process.
pub fn line(module: &str, level: &str, message: &str) -> String {
    let pid = std::process::id();
    format!(
        "[{}] [{module}:{level}] [pid {pid}:tid {pid}] {message}",
        timestamp(SystemTime::now())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_like_apache() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_676_511_030_592);
        assert_eq!(timestamp(t), "Thu Nov 26 07:01:51.030592 2026");
    }
}
