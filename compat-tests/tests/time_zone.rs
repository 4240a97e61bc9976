//! Local time against apache2: both servers run with TZ set to a zone half an hour off UTC, so
//! a server that breaks time down in UTC gets the hour and the minute wrong.

use compat_tests::http::{parse_family, Pair};
use compat_tests::require_apache2;

const FAMILY: &str = r#"@@ config
Header always set X-Time "expr=%{TIME_YEAR}-%{TIME_MON}-%{TIME_DAY} %{TIME_HOUR}:%{TIME_MIN} %{TIME_WDAY}"
Header always set X-Stamp "expr=%{TIME}"
@@ file index.html
<p>hello</p>
"#;

/// The X-Time header, and X-Stamp without its seconds.
fn times(response: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(response);
    let header = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let stamp = header("X-Stamp:");
    (header("X-Time:"), stamp[..stamp.len().min(12)].to_string())
}

#[test]
fn expression_time_variables_are_local_time() {
    require_apache2();
    let family = parse_family(FAMILY);
    let pair = Pair::start_with_env(&family, &[("TZ", "Asia/Kolkata")]);
    let request = b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    // The two answers may straddle a minute; a third try cannot straddle two.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (theirs, ours) = pair.exchange(request);
        let (theirs, ours) = (times(&theirs), times(&ours));
        assert!(!theirs.0.is_empty(), "apache2 sent no X-Time");
        if theirs == ours {
            return;
        }
        seen.push(format!("apache2 {theirs:?}, rhttpd {ours:?}"));
    }
    panic!("TIME_* differ under TZ=Asia/Kolkata: {seen:#?}");
}
