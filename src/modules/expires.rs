//! mod_expires, whole: ExpiresActive, ExpiresDefault and ExpiresByType (table, setters with
//! Apache's messages, typed per-directory configuration and Apache's merge), and their effect:
//! the MOD_EXPIRES output filter that gives a response without an Expires header one, with a
//! `Cache-Control: max-age` merged into whatever Cache-Control it already carries. It runs on
//! successful responses and, through the insert_error_filter hook, on redirects; never on
//! errors or sub-requests.

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, UNIX_EPOCH};

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::OR_INDEXES;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::{atoi_int, next_word};

use crate::filters::{FilterType, OutputFilter};
use crate::hooks::{Hooks, Order};
use crate::request::{Request, Response, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "expires_module",
    source: "mod_expires.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

// mod_expires declares its directives with mod_dir's permissions: OR_INDEXES, so an .htaccess
// file may use them under `AllowOverride Indexes` (FileInfo is not enough).
const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "ExpiresActive",
        Flag(set_active),
        OR_INDEXES,
        "Limited to 'on' or 'off'",
    )
    .implemented(),
    DirectiveDef::new(
        "ExpiresByType",
        Take2(set_by_type),
        OR_INDEXES,
        "a MIME type followed by an expiry date code",
    )
    .implemented(),
    DirectiveDef::new(
        "ExpiresDefault",
        Take1(set_default),
        OR_INDEXES,
        "an expiry date code",
    )
    .implemented(),
];

/// What an expiry is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// The time the request arrived (`A`, `access`, `now`).
    Access,
    /// The resource's modification time on disk (`M`, `modification`).
    Modification,
}

/// An expiry code as Apache keeps it (`A604800`): a base and a number of seconds, which may be
/// negative (a code written so, or a sum that overflowed Apache's `int`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub base: Base,
    pub seconds: i32,
}

/// mod_expires' per-directory configuration.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    /// A directive of the module appeared in this section. Apache creates a module's
    /// configuration for a section only then; a section without one leaves what it inherits
    /// as it is — which matters here, since the merge does not inherit `wildcards`.
    declared: bool,
    /// ExpiresActive; unset inherits.
    active: Option<bool>,
    /// An ExpiresByType of this section (not inherited) names a `type/*`: only then are the
    /// wildcard entries looked up.
    wildcards: bool,
    default: Option<Code>,
    /// ExpiresByType entries, this section's before those it inherits; types compare without
    /// regard to case and the first match wins (an APR table).
    by_type: Vec<(String, Code)>,
}

impl DirConfig for Dir {
    /// Apache's `merge_expires_dir_configs`: ExpiresActive and ExpiresDefault inherit when
    /// unset, the type tables overlay (the child's entries first), and the wildcard flag is the
    /// child's alone — a section that sets only `ExpiresByType text/html ...` no longer matches
    /// an inherited `image/*`.
    fn merge(&self, child: &Dir) -> Dir {
        if !child.declared {
            return self.clone();
        }
        Dir {
            declared: true,
            active: child.active.or(self.active),
            wildcards: child.wildcards,
            default: child.default.or(self.default),
            by_type: child.by_type.iter().chain(&self.by_type).cloned().collect(),
        }
    }
}

impl Dir {
    /// Whether the filter goes on a response at all: ExpiresActive On and something to apply.
    fn applies(&self) -> bool {
        self.active == Some(true) && (self.default.is_some() || !self.by_type.is_empty())
    }

    fn lookup(&self, mime: &str) -> Option<Code> {
        self.by_type
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(mime))
            .map(|(_, code)| *code)
    }

    /// The code for a response of this content type: its ExpiresByType entry (parameters
    /// left out), else — when this section named a wildcard — its major type's `type/*`
    /// entry, else ExpiresDefault. A response without a type gets the default.
    fn code_for(&self, content_type: Option<&str>) -> Option<Code> {
        if let Some(code) = content_type.and_then(|ct| self.lookup(without_parameters(ct))) {
            return Some(code);
        }
        if self.wildcards {
            // The major type as the whole type names it, parameters and all: everything after
            // the first slash becomes `*`.
            if let Some(slash) = content_type.and_then(|ct| ct.find('/')) {
                let major = &content_type.unwrap_or_default()[..=slash];
                if let Some(code) = self.lookup(&format!("{major}*")) {
                    return Some(code);
                }
            }
        }
        self.default
    }
}

/// Apache's `ap_field_noparam`: the value up to its first `;`, without the blanks before it.
fn without_parameters(value: &str) -> &str {
    match value.split_once(';') {
        Some((head, _)) => head.trim_end_matches(|c: char| c.is_ascii_whitespace()),
        None => value,
    }
}

fn set_active(cmd: &mut Cmd, on: bool) -> SetResult {
    let dir = cmd.dir_config::<Dir>();
    dir.declared = true;
    dir.active = Some(on);
    Ok(())
}

fn set_by_type(cmd: &mut Cmd, mime: &str, code: &str) -> SetResult {
    let dir = cmd.dir_config::<Dir>();
    dir.declared = true;
    let Some(slash) = mime.rfind('/') else {
        return Err("Invalid mimetype: should contain a slash".into());
    };
    if &mime[slash + 1..] == "*" {
        dir.wildcards = true;
    }
    let parsed = parse_code(code).map_err(|why| format!("'ExpiresByType {mime} {code}': {why}"))?;
    match dir
        .by_type
        .iter_mut()
        .find(|(t, _)| t.eq_ignore_ascii_case(mime))
    {
        Some(entry) => entry.1 = parsed,
        None => dir.by_type.push((mime.to_string(), parsed)),
    }
    Ok(())
}

fn set_default(cmd: &mut Cmd, code: &str) -> SetResult {
    let dir = cmd.dir_config::<Dir>();
    dir.declared = true;
    let parsed = parse_code(code).map_err(|why| format!("'ExpiresDefault {code}': {why}"))?;
    dir.default = Some(parsed);
    Ok(())
}

/// Apache's `check_code`. A code opening with a capital `A` or `M` is the short form, its
/// number read as C's `atoi` reads it (so `A` alone is 0, and `Access plus 1 day` is `A0`).
/// Otherwise `<base> [plus] {<num> <type>}*`, where each keyword is known by its first letter
/// (months and minutes by their first two), any case; the seconds add up in a C `int`.
pub fn parse_code(code: &str) -> Result<Code, String> {
    if let Some(rest) = code.strip_prefix('A') {
        return Ok(Code {
            base: Base::Access,
            seconds: atoi_int(rest),
        });
    }
    if let Some(rest) = code.strip_prefix('M') {
        return Ok(Code {
            base: Base::Modification,
            seconds: atoi_int(rest),
        });
    }
    let mut rest = code;
    let word = next_word(&mut rest);
    let starts = |word: &str, prefix: &str| {
        word.len() >= prefix.len() && word[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    let base = if starts(&word, "n") || starts(&word, "a") {
        Base::Access
    } else if starts(&word, "m") {
        Base::Modification
    } else {
        return Err(format!("bad expires code, unrecognised <base> '{word}'"));
    };
    let mut word = next_word(&mut rest);
    if starts(&word, "p") {
        word = next_word(&mut rest);
    }
    let mut seconds: i32 = 0;
    while !word.is_empty() {
        if !word.as_bytes()[0].is_ascii_digit() {
            return Err(format!(
                "bad expires code, numeric value expected <num> '{word}'"
            ));
        }
        let num = atoi_int(&word);
        let unit = next_word(&mut rest);
        if unit.is_empty() {
            return Err("bad expires code, missing <type>".into());
        }
        const DAY: i32 = 60 * 60 * 24;
        let factor = if starts(&unit, "y") {
            DAY * 365
        } else if starts(&unit, "mo") {
            DAY * 30
        } else if starts(&unit, "w") {
            DAY * 7
        } else if starts(&unit, "d") {
            DAY
        } else if starts(&unit, "h") {
            60 * 60
        } else if starts(&unit, "mi") {
            60
        } else if starts(&unit, "s") {
            1
        } else {
            return Err(format!("bad expires code, unrecognised <type>'{unit}'"));
        };
        seconds = seconds.wrapping_add(factor.wrapping_mul(num));
        word = next_word(&mut rest);
    }
    Ok(Code { base, seconds })
}

/// The filter, by the name Apache registers it under (SetOutputFilter may name it too). It
/// runs before DEFLATE (Apache's AP_FTYPE_CONTENT_SET-2), so a cache would see its headers.
static OUTPUT_FILTER: OutputFilter = OutputFilter {
    name: "MOD_EXPIRES",
    ftype: FilterType::BeforeContentSet,
    run: expires_filter,
};

/// The same filter on a response the server makes itself (a redirect): its fields go with the
/// others, before the Content-Length the length filter adds last.
static ERROR_FILTER: OutputFilter = OutputFilter {
    name: "MOD_EXPIRES",
    ftype: FilterType::BeforeContentSet,
    run: expires_error_filter,
};

pub fn register_hooks(hooks: &mut Hooks) {
    hooks.output_filters.register(&OUTPUT_FILTER);
    hooks
        .insert_filter
        .add("expires", Order::Middle, insert_filter);
    hooks
        .insert_error_filter
        .add("expires", Order::Middle, insert_error_filter);
}

/// Runs `read` over the configuration a response is answered under: the request's, or, for
/// one ended before it was mapped (a Redirect at translation), the location walk Apache made
/// before that.
fn with_config<R>(req: &Request, read: impl FnOnce(&Dir) -> R) -> R {
    if req.filename.is_none() {
        let walked = crate::request::walk::location_walk(req);
        return read(&walked.module::<Dir>());
    }
    read(&req.dir.module::<Dir>())
}

/// Main requests whose section switches the module on and configures something.
fn insert_filter(req: &mut Request) -> Step<()> {
    if !req.subrequest && with_config(req, Dir::applies) {
        req.output_chain.insert(&OUTPUT_FILTER);
    }
    Ok(())
}

/// The same for a response the server makes itself (a redirect, an error page); the filter
/// leaves error statuses alone.
fn insert_error_filter(req: &mut Request) -> Step<()> {
    if !req.subrequest && with_config(req, Dir::applies) {
        req.output_chain.insert(&ERROR_FILTER);
    }
    Ok(())
}

fn expires_filter(req: &mut Request, response: Response) -> Step<Response> {
    Ok(add_expiry(req, response, false))
}

fn expires_error_filter(req: &mut Request, response: Response) -> Step<Response> {
    Ok(add_expiry(req, response, true))
}

/// 4xx and 5xx (Apache's `ap_is_HTTP_ERROR`).
fn is_error(status: u16) -> bool {
    (400..600).contains(&status)
}

/// Apache's `expires_filter`: a response with no Expires field yet (in either of its header
/// tables) gets one by its type, and `max-age` joins its Cache-Control (the first such field,
/// wherever it stands, or a new one). New fields go after the handler's Content-Length, or,
/// on a response the server made itself (`own_page`) or whose length the length filter adds
/// (a generated body), with the others before that length.
fn add_expiry(req: &Request, mut response: Response, own_page: bool) -> Response {
    if is_error(response.status) {
        return response;
    }
    let tables = [&req.err_headers, &response.headers, &response.late_headers];
    if tables
        .iter()
        .any(|headers| headers.get("Expires").is_some())
    {
        return response;
    }
    // A 304 keeps the resource's type until the header filter drops it.
    let content_type = match (&response.content_type, response.status) {
        (None, 304) => crate::request::static_file::content_type(req),
        (known, _) => known.clone(),
    };
    let Some(code) = with_config(req, |conf| conf.code_for(content_type.as_deref())) else {
        return response;
    };
    let Some((max_age, expires)) = expiry(req, code) else {
        return response;
    };
    let max_age = format!("max-age={max_age}");
    let mut merged = false;
    let tables = response.headers.0.iter_mut();
    for (name, value) in tables.chain(response.late_headers.0.iter_mut()) {
        if name.eq_ignore_ascii_case("Cache-Control") {
            value.push_str(", ");
            value.push_str(&max_age);
            merged = true;
            break;
        }
    }
    let target = if own_page || response.length_last {
        &mut response.headers
    } else {
        &mut response.late_headers
    };
    if !merged {
        target.0.push(("Cache-Control".into(), max_age));
    }
    target.0.push(("Expires".into(), expires));
    response
}

/// When the code says the response expires: (max-age in seconds, the Expires date), counted
/// in microseconds as Apache does and never before the request. `None` for a code counted
/// from a modification time the response does not have (nothing on disk).
fn expiry(req: &Request, code: Code) -> Option<(i64, String)> {
    let micros = |t: std::time::SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64)
    };
    let request_time = micros(req.now);
    let base = match code.base {
        Base::Access => request_time,
        Base::Modification => {
            let meta = req.finfo.as_ref()?;
            meta.mtime() * 1_000_000 + meta.mtime_nsec() / 1000
        }
    };
    let expires = (base + i64::from(code.seconds) * 1_000_000).max(request_time);
    let max_age = (expires - request_time) / 1_000_000;
    let date = UNIX_EPOCH + Duration::from_secs((expires / 1_000_000) as u64);
    Some((max_age, crate::http1::date::format(date)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(seconds: i32) -> Code {
        Code {
            base: Base::Access,
            seconds,
        }
    }

    #[test]
    fn codes_read_as_apache_reads_them() {
        let cases: &[(&str, Code)] = &[
            ("A2592000", access(2_592_000)),
            ("A", access(0)),
            ("A 90", access(90)),
            ("A-60", access(-60)),
            // A capital A or M is the short form, whatever follows.
            ("Access plus 1 month", access(0)),
            ("access plus 1 month 2 days", access(32 * 86_400)),
            ("now 1 year", access(31_536_000)),
            ("a p 1 w 1 d 1 h 1 mi 1 s", access(694_861)),
            ("NOW PLUS 2 MONTHS 3 MINUTES", access(2 * 2_592_000 + 180)),
            ("access plus 1x days", access(86_400)),
            ("access plus '2' days", access(172_800)),
            // 100 years overflow Apache's int.
            ("access plus 100 years", access(-1_141_367_296)),
        ];
        for (text, code) in cases {
            assert_eq!(parse_code(text).as_ref(), Ok(code), "{text}");
        }
        let modification = parse_code("modification plus 10 years").unwrap();
        assert_eq!(modification.base, Base::Modification);
        assert_eq!(modification.seconds, 315_360_000);
        assert_eq!(parse_code("M60").unwrap().base, Base::Modification);
    }

    #[test]
    fn bad_codes_say_why_as_apache_does() {
        let cases = [
            ("later", "bad expires code, unrecognised <base> 'later'"),
            ("", "bad expires code, unrecognised <base> ''"),
            (
                "access plus days",
                "bad expires code, numeric value expected <num> 'days'",
            ),
            ("access plus 1 month 3", "bad expires code, missing <type>"),
            (
                "access plus 5 m",
                "bad expires code, unrecognised <type>'m'",
            ),
        ];
        for (text, why) in cases {
            assert_eq!(parse_code(text), Err(why.to_string()), "{text}");
        }
    }

    #[test]
    fn a_section_setting_any_directive_loses_the_inherited_wildcard() {
        let dir = crate::modules::test_dir(
            "ExpiresActive On\nExpiresByType image/* A1\nExpiresDefault A2\n",
        );
        let top = dir.module::<Dir>().into_owned();
        assert_eq!(top.code_for(Some("image/png")), Some(access(1)));
        // A section without the module's directives leaves the configuration as it is.
        assert_eq!(
            top.merge(&Dir::default()).code_for(Some("image/png")),
            Some(access(1))
        );
        let section = crate::modules::test_section(
            "<Directory /d>\nExpiresByType text/html A3\n</Directory>\n",
        );
        let merged = top.merge(&section.module::<Dir>());
        assert_eq!(merged.code_for(Some("image/png")), Some(access(2)));
        assert_eq!(
            merged.code_for(Some("text/html; charset=utf-8")),
            Some(access(3))
        );
        assert!(merged.applies());
    }

    #[test]
    fn types_match_without_parameters_or_case_and_wildcards_by_major_type() {
        let dir = crate::modules::test_dir(
            "ExpiresByType TEXT/HTML A1\nExpiresByType application/* A2\nExpiresDefault A3\n",
        );
        let conf = dir.module::<Dir>();
        assert_eq!(
            conf.code_for(Some("text/html ; charset=x")),
            Some(access(1))
        );
        assert_eq!(conf.code_for(Some("application/x-a; v=2")), Some(access(2)));
        assert_eq!(conf.code_for(Some("image/png")), Some(access(3)));
        assert_eq!(conf.code_for(None), Some(access(3)));
        assert!(!conf.applies(), "not switched on");
    }
}
