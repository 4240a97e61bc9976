//! mod_alias: Alias, ScriptAlias, Redirect and their Match forms.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "alias_module",
    source: "mod_alias.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "Alias",
        Take12(alias),
        RSRC_CONF | ACCESS_CONF,
        "a fakename and a realname, or a realname in a Location",
    )
    .forbid_in_setter(NOT_IN_DIR_CONTEXT)
    .implemented(),
    DirectiveDef::new(
        "ScriptAlias",
        Take12(alias),
        RSRC_CONF | ACCESS_CONF,
        "a fakename and a realname, or a realname in a Location",
    )
    .forbid_in_setter(NOT_IN_DIR_CONTEXT)
    .implemented(),
    DirectiveDef::new(
        "Redirect",
        Take123(redirect),
        OR_FILEINFO,
        "an optional status, then document to be redirected and destination URL",
    )
    .implemented(),
    DirectiveDef::new(
        "AliasMatch",
        Take2(alias_match),
        RSRC_CONF,
        "a regular expression and a filename",
    )
    .forbid(NOT_IN_DIR_CONTEXT)
    .implemented(),
    DirectiveDef::new(
        "ScriptAliasMatch",
        Take2(alias_match),
        RSRC_CONF,
        "a regular expression and a filename",
    )
    .forbid(NOT_IN_DIR_CONTEXT)
    .implemented(),
    DirectiveDef::new(
        "RedirectMatch",
        Take23(redirect_match),
        OR_FILEINFO,
        "an optional status, then a regular expression and destination URL",
    )
    .implemented(),
    DirectiveDef::new(
        "RedirectTemp",
        Take2(redirect2),
        OR_FILEINFO,
        "a document to be redirected, then the destination URL",
    )
    .implemented(),
    DirectiveDef::new(
        "RedirectPermanent",
        Take2(redirect2),
        OR_FILEINFO,
        "a document to be redirected, then the destination URL",
    )
    .implemented(),
    DirectiveDef::new(
        "RedirectRelative",
        Flag(raw_flag),
        OR_FILEINFO,
        "Set to ON to allow relative redirect targets to be issued as-is",
    )
    .implemented(),
    DirectiveDef::new(
        "AliasPreservePath",
        Flag(raw_flag),
        OR_FILEINFO,
        "Set to ON to map the full path after the fakename to the realname.",
    )
    .implemented(),
];

const BAD_REGEX: &str = "Regular expression could not be compiled.";

/// Alias and ScriptAlias: the one-argument form (an expression naming the target) exists
/// only inside a section.
fn alias(cmd: &mut Cmd, fake: &str, real: Option<&str>) -> SetResult {
    if real.is_none() {
        // The one-argument form names its target by an expression, in a <Location>.
        cmd.check_context(NOT_IN_DIRECTORY | NOT_IN_FILES)?;
        if cmd.path.is_none() {
            return Err("Alias must have two arguments when used globally".into());
        }
    }
    match real {
        None => {
            crate::expr::parse_string(fake)
                .map_err(|err| format!("Cannot parse alias expression '{fake}': {err}"))?;
        }
        // The two-argument form is for the server and virtual hosts only.
        Some(_) => cmd.check_context(NOT_IN_DIR_CONTEXT)?,
    }
    cmd.store_raw();
    Ok(())
}

fn alias_match(cmd: &mut Cmd, pattern: &str, _real: &str) -> SetResult {
    if !regex_compiles(pattern, false) {
        return Err(BAD_REGEX.into());
    }
    cmd.store_raw();
    Ok(())
}

fn redirect(cmd: &mut Cmd, a1: &str, a2: Option<&str>, a3: Option<&str>) -> SetResult {
    add_redirect(cmd, a1, a2, a3, false)
}

fn redirect_match(cmd: &mut Cmd, a1: &str, a2: &str, a3: Option<&str>) -> SetResult {
    add_redirect(cmd, a1, Some(a2), a3, true)
}

/// RedirectTemp and RedirectPermanent: Redirect with the status fixed by the name.
fn redirect2(cmd: &mut Cmd, a1: &str, a2: &str) -> SetResult {
    add_redirect(cmd, a1, Some(a2), None, false)
}

/// mod_alias's `add_redirect_internal`: an optional status (keyword or number) first, then
/// the path (or regex) and the target; which words are which depends on whether the first
/// one reads as a status and, inside a section, on how many there are.
fn add_redirect(
    cmd: &mut Cmd,
    a1: &str,
    a2: Option<&str>,
    a3: Option<&str>,
    use_regex: bool,
) -> SetResult {
    let mut status = if cmd.name() == "RedirectPermanent" {
        301
    } else {
        302
    };
    // 1: a redirect status, -1: another status, 0: not a status at all.
    let mut grok = 1;
    if a1.eq_ignore_ascii_case("permanent") {
        status = 301;
    } else if a1.eq_ignore_ascii_case("temp") {
        status = 302;
    } else if a1.eq_ignore_ascii_case("seeother") {
        status = 303;
    } else if a1.eq_ignore_ascii_case("gone") {
        status = 410;
        grok = -1;
    } else if a1.starts_with(|c: char| c.is_ascii_digit()) {
        status = atoi_int(a1);
        if !is_redirect(status) {
            grok = -1;
        }
    } else {
        grok = 0;
    }
    if a3.is_some() && grok == 0 {
        return Err("Redirect: invalid first argument (of three)".into());
    }
    // Inside a section the target may be a single expression (not validated here).
    let expression_form = (grok > 0 && a2.is_some() && a3.is_none()) || (grok == 0 && a2.is_none());
    if cmd.path.is_some() && (expression_form || (grok < 0 && a2.is_none())) {
        cmd.store_raw();
        return Ok(());
    }
    let (fake, url) = if a3.is_none() && grok == 0 {
        (Some(a1), a2)
    } else {
        (a2, a3)
    };
    if use_regex && !fake.is_some_and(|f| regex_compiles(f, false)) {
        return Err(BAD_REGEX.into());
    }
    if is_redirect(status) {
        let Some(url) = url else {
            return Err("URL to redirect to is missing".into());
        };
        if !use_regex && !is_url(url) && !url.starts_with('/') {
            return Err("Redirect to non-URL".into());
        }
    } else if url.is_some() {
        return Err("Redirect URL not valid for this status".into());
    }
    cmd.store_raw();
    Ok(())
}

fn is_redirect(status: i32) -> bool {
    (300..400).contains(&status)
}

/// `ap_is_url`: a scheme of letters, digits, `+`, `-` or `.` followed by a colon.
pub(crate) fn is_url(url: &str) -> bool {
    match url.find(':') {
        Some(0) | None => false,
        Some(colon) => url[..colon]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')),
    }
}
