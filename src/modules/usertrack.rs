//! mod_usertrack, whole: the tracking cookie (CookieTracking and its seven companions: table,
//! setters, typed configurations) and the fixup that reads the client's cookie into the
//! `cookie` note for the access log (`%{cookie}n`) or gives it a new one.

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::OR_FILEINFO;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::regex::Regex;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

use crate::hooks::{Fixup, Hooks, Order};
use crate::request::{Request, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "usertrack_module",
    source: "mod_usertrack.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "CookieExpires",
        Take1(cookie_expires),
        OR_FILEINFO,
        "an expiry date code",
    )
    .implemented(),
    DirectiveDef::new(
        "CookieDomain",
        Take1(cookie_domain),
        OR_FILEINFO,
        "domain to which this cookie applies",
    )
    .implemented(),
    DirectiveDef::new(
        "CookieStyle",
        Take1(cookie_style),
        OR_FILEINFO,
        "'Netscape', 'Cookie' (RFC2109), or 'Cookie2' (RFC2965)",
    )
    .implemented(),
    DirectiveDef::new(
        "CookieTracking",
        Flag(cookie_tracking),
        OR_FILEINFO,
        "whether or not to enable cookies",
    )
    .implemented(),
    DirectiveDef::new(
        "CookieName",
        Take1(cookie_name),
        OR_FILEINFO,
        "name of the tracking cookie",
    )
    .implemented(),
    DirectiveDef::new(
        "CookieSameSite",
        Take1(cookie_same_site),
        OR_FILEINFO,
        "SameSite setting",
    )
    .implemented(),
    DirectiveDef::new(
        "CookieSecure",
        Flag(cookie_secure),
        OR_FILEINFO,
        "is cookie secure",
    )
    .implemented(),
    DirectiveDef::new(
        "CookieHttpOnly",
        Flag(cookie_http_only),
        OR_FILEINFO,
        "is cookie http only",
    )
    .implemented(),
];

/// The cookie's attribute style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    #[default]
    Unset,
    Netscape,
    /// RFC 2109.
    Cookie,
    /// RFC 2965: `Set-Cookie2`, with `version=1` after a domain.
    Cookie2,
}

/// Per-directory settings. Apache's module has no merge: a section that holds any of these
/// directives replaces what it inherits with its own settings over the defaults.
#[derive(Debug, Clone)]
pub struct Dir {
    /// A directive of this module was read here.
    configured: bool,
    pub enabled: bool,
    pub style: Style,
    pub name: String,
    pub domain: Option<String>,
    /// `SameSite=Strict`, `SameSite=Lax` or `SameSite=None`.
    pub same_site: Option<&'static str>,
    pub secure: bool,
    pub http_only: bool,
    /// CookieExpires read in an `.htaccess` file: Apache writes it into the server's settings
    /// of the child that reads the file; here it holds for the requests the file governs.
    pub htaccess_expires: Option<i64>,
    /// The pattern that finds the cookie in a Cookie header.
    finder: Regex,
}

impl Default for Dir {
    fn default() -> Dir {
        Dir {
            configured: false,
            enabled: false,
            style: Style::Unset,
            name: DEFAULT_NAME.to_string(),
            domain: None,
            same_site: None,
            secure: false,
            http_only: false,
            htaccess_expires: None,
            finder: finder(DEFAULT_NAME),
        }
    }
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        if child.configured {
            child.clone()
        } else {
            self.clone()
        }
    }
}

/// Per-server: CookieExpires, in seconds (0: a session cookie). A virtual host has its own,
/// not the main server's (Apache's module has no server merge either).
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub expires: i64,
}

impl DirConfig for ServerConf {
    fn merge(&self, child: &ServerConf) -> ServerConf {
        child.clone()
    }
}

const DEFAULT_NAME: &str = "Apache";

/// `^NAME=([^;,]+)|[;,][ \t]*NAME=([^;,]+)`, with every character of the name that is not a
/// letter or digit escaped.
fn finder(name: &str) -> Regex {
    let mut escaped = String::new();
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    Regex::new(&format!(
        "^{escaped}=([^;,]+)|[;,][ \\t]*{escaped}=([^;,]+)"
    ))
    .expect("an escaped cookie name makes a valid pattern")
}

fn dir<'a>(cmd: &'a mut Cmd<'_, '_>) -> &'a mut Dir {
    let dir = cmd.dir_config::<Dir>();
    dir.configured = true;
    dir
}

/// CookieExpires: a number of seconds, or mod_expires-style `[plus] {<num> <type>}*`.
fn cookie_expires(cmd: &mut Cmd, arg: &str) -> SetResult {
    let seconds = expiry_seconds(arg)?;
    if cmd.htaccess {
        dir(cmd).htaccess_expires = Some(seconds);
    } else {
        cmd.server_config::<ServerConf>().expires = seconds;
    }
    Ok(())
}

/// The seconds an expiry code gives, read as Apache reads it: all digits at both ends is a
/// number (atol); otherwise words, a leading one starting with `p` skipped as "plus", then
/// pairs of a number and a unit known by its first letter (two for months and minutes).
fn expiry_seconds(arg: &str) -> Result<i64, String> {
    let bytes = arg.as_bytes();
    if bytes.first().is_some_and(u8::is_ascii_digit) && bytes.last().is_some_and(u8::is_ascii_digit)
    {
        return Ok(leading_number(arg));
    }
    let mut words = arg.split_ascii_whitespace().peekable();
    if words
        .peek()
        .is_some_and(|w| w.as_bytes()[0].eq_ignore_ascii_case(&b'p'))
    {
        words.next();
    }
    let mut total = 0i64;
    while let Some(word) = words.next() {
        if !word.as_bytes()[0].is_ascii_digit() {
            return Err("bad expires code, numeric value expected.".into());
        }
        let number = leading_number(word) as i32 as i64;
        let Some(unit) = words.next() else {
            return Err("bad expires code, missing <type>".into());
        };
        // strncasecmp over n characters: a shorter word ends before they all match.
        let starts = |name: &str, n: usize| {
            unit.len() >= n && unit.as_bytes()[..n].eq_ignore_ascii_case(&name.as_bytes()[..n])
        };
        let factor = if starts("years", 1) {
            60 * 60 * 24 * 365
        } else if starts("months", 2) {
            60 * 60 * 24 * 30
        } else if starts("weeks", 1) {
            60 * 60 * 24 * 7
        } else if starts("days", 1) {
            60 * 60 * 24
        } else if starts("hours", 1) {
            60 * 60
        } else if starts("minutes", 2) {
            60
        } else if starts("seconds", 1) {
            1
        } else {
            return Err("bad expires code, unrecognized type".into());
        };
        total += factor * number;
    }
    Ok(total)
}

/// atol/atoi: the leading digits (no sign is possible here).
fn leading_number(text: &str) -> i64 {
    text.bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| {
            n.wrapping_mul(10).wrapping_add(i64::from(d - b'0'))
        })
}

fn cookie_domain(cmd: &mut Cmd, name: &str) -> SetResult {
    if name.is_empty() {
        return Err("CookieDomain values may not be null".into());
    }
    if !name.starts_with('.') {
        return Err("CookieDomain values must begin with a dot".into());
    }
    if !name[1..].contains('.') {
        return Err("CookieDomain values must contain at least one embedded dot".into());
    }
    dir(cmd).domain = Some(name.to_string());
    Ok(())
}

fn cookie_style(cmd: &mut Cmd, name: &str) -> SetResult {
    let style = match name.to_ascii_lowercase().as_str() {
        "netscape" => Style::Netscape,
        "cookie" | "rfc2109" => Style::Cookie,
        "cookie2" | "rfc2965" => Style::Cookie2,
        _ => return Err(format!("Invalid {} keyword: '{name}'", cmd.name())),
    };
    dir(cmd).style = style;
    Ok(())
}

fn cookie_tracking(cmd: &mut Cmd, on: bool) -> SetResult {
    dir(cmd).enabled = on;
    Ok(())
}

fn cookie_name(cmd: &mut Cmd, name: &str) -> SetResult {
    let dir = dir(cmd);
    dir.name = name.to_string();
    dir.finder = finder(name);
    Ok(())
}

fn cookie_same_site(cmd: &mut Cmd, value: &str) -> SetResult {
    let same_site = match value.to_ascii_lowercase().as_str() {
        "strict" => "SameSite=Strict",
        "lax" => "SameSite=Lax",
        "none" => "SameSite=None",
        _ => return Err("CookieSameSite accepts 'Strict', 'Lax', or 'None'".into()),
    };
    dir(cmd).same_site = Some(same_site);
    Ok(())
}

fn cookie_secure(cmd: &mut Cmd, on: bool) -> SetResult {
    dir(cmd).secure = on;
    Ok(())
}

fn cookie_http_only(cmd: &mut Cmd, on: bool) -> SetResult {
    dir(cmd).http_only = on;
    Ok(())
}

/// mod_usertrack runs first among the fixups.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .fixups
        .add("usertrack", Order::ReallyFirst, spot_cookie);
}

/// The client's tracking cookie becomes the `cookie` note; a client without one is given
/// one (Set-Cookie in the headers sent even with an error).
fn spot_cookie(req: &mut Request) -> Step<Fixup> {
    let dir = std::sync::Arc::clone(&req.dir);
    let conf = dir.module::<Dir>();
    if !conf.enabled || req.subrequest {
        return Ok(Fixup::Continue);
    }
    let found = req.head.headers.get("Cookie").and_then(|header| {
        let captures = conf.finder.captures(header)?;
        captures
            .text(1)
            .or_else(|| captures.text(2))
            .map(|v| v.into_owned())
    });
    let value = match found {
        Some(value) => value,
        None => {
            let (value, field) = new_cookie(req, &conf);
            let name = match conf.style {
                Style::Cookie2 => "Set-Cookie2",
                _ => "Set-Cookie",
            };
            req.err_headers.0.push((name.to_string(), field));
            value
        }
    };
    req.notes.retain(|(name, _)| name != "cookie");
    req.notes.push(("cookie".to_string(), value));
    Ok(Fixup::Continue)
}

/// A new cookie's value (`<random hex>.<request time in microseconds, hex>`) and its
/// Set-Cookie field.
fn new_cookie(req: &Request, conf: &Dir) -> (String, String) {
    let mut random = [0u8; 4];
    let _ = aws_lc_rs::rand::fill(&mut random);
    let since = req
        .now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let value = format!(
        "{:x}.{:x}",
        u32::from_ne_bytes(random),
        since.as_micros() as u64
    );
    let expires = conf
        .htaccess_expires
        .unwrap_or_else(|| req.ctx().runtime.module::<ServerConf>().expires);
    let mut field = format!("{}={value}; path=/", conf.name);
    if expires != 0 {
        match conf.style {
            Style::Unset | Style::Netscape => {
                let at = crate::http1::date::Civil::from_unix(since.as_secs() as i64 + expires);
                field.push_str(&format!(
                    "; expires={}, {:02}-{}-{:02} {:02}:{:02}:{:02} GMT",
                    crate::http1::date::DAYS[at.weekday],
                    at.day,
                    at.month_name(),
                    at.year.rem_euclid(100),
                    at.hour,
                    at.minute,
                    at.second
                ));
            }
            _ => field.push_str(&format!("; max-age={}", expires as i32)),
        }
    }
    if let Some(domain) = &conf.domain {
        field.push_str("; domain=");
        field.push_str(domain);
        if conf.style == Style::Cookie2 {
            field.push_str("; version=1");
        }
    }
    if let Some(same_site) = conf.same_site {
        field.push_str("; ");
        field.push_str(same_site);
    }
    if conf.secure {
        field.push_str("; Secure");
    }
    if conf.http_only {
        field.push_str("; HttpOnly");
    }
    (value, field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_codes_read_as_apache_reads_them() {
        assert_eq!(expiry_seconds("3600"), Ok(3600));
        assert_eq!(expiry_seconds("10 20"), Ok(10));
        assert_eq!(
            expiry_seconds("plus 1 month 2 days"),
            Ok(30 * 86400 + 2 * 86400)
        );
        assert_eq!(expiry_seconds("1 y"), Ok(365 * 86400));
        assert_eq!(expiry_seconds("p 2 mi 3 s"), Ok(123));
        assert_eq!(expiry_seconds("2 weeks"), Ok(14 * 86400));
        assert_eq!(
            expiry_seconds("2 m").unwrap_err(),
            "bad expires code, unrecognized type"
        );
        assert_eq!(
            expiry_seconds("plus month").unwrap_err(),
            "bad expires code, numeric value expected."
        );
        assert_eq!(
            expiry_seconds("plus 1").unwrap_err(),
            "bad expires code, missing <type>"
        );
    }

    #[test]
    fn the_finder_takes_the_first_cookie_of_that_name() {
        let regex = finder("a.b");
        let captures = regex.captures("x=1; a.b=two, ab=3").unwrap();
        assert_eq!(captures.text(2).as_deref(), Some("two"));
        assert!(regex.captures("aXb=1").is_none());
    }
}
