//! mod_setenvif: SetEnvIf, BrowserMatch and their NoCase and Expr forms.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "setenvif_module",
    source: "mod_setenvif.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "SetEnvIf",
        Raw(set_env_if),
        OR_FILEINFO,
        "A header-name, regex and a list of variables.",
    )
    .implemented(),
    DirectiveDef::new(
        "SetEnvIfNoCase",
        Raw(set_env_if),
        OR_FILEINFO,
        "a header-name, regex and a list of variables.",
    )
    .implemented(),
    DirectiveDef::new(
        "SetEnvIfExpr",
        Raw(set_env_if_expr),
        OR_FILEINFO,
        "an expression and a list of variables.",
    )
    .implemented(),
    DirectiveDef::new(
        "BrowserMatch",
        Raw(browser_match),
        OR_FILEINFO,
        "A browser regex and a list of variables.",
    )
    .implemented(),
    DirectiveDef::new(
        "BrowserMatchNoCase",
        Raw(browser_match),
        OR_FILEINFO,
        "A browser regex and a list of variables.",
    )
    .implemented(),
];

/// SetEnvIf and SetEnvIfNoCase: an attribute (header name, header regex or special name),
/// a regex, and at least one variable.
fn set_env_if(cmd: &mut Cmd, raw: &str) -> SetResult {
    let mut rest = raw;
    let name = next_word(&mut rest);
    if name.is_empty() {
        return Err(format!("Missing header-field name for {}", cmd.name()));
    }
    add_conditional(cmd, &name, rest)
}

/// BrowserMatch and BrowserMatchNoCase: SetEnvIf on User-Agent.
fn browser_match(cmd: &mut Cmd, raw: &str) -> SetResult {
    add_conditional(cmd, "User-Agent", raw)
}

/// mod_setenvif's `add_setenvif_core`: the value regex compiles (unless it has no regex
/// metacharacters), then an attribute that is not a plain header name compiles as a regex,
/// then the variables.
fn add_conditional(cmd: &mut Cmd, name: &str, raw: &str) -> SetResult {
    let icase = cmd.name().ends_with("NoCase");
    let mut rest = raw;
    let regex = next_word(&mut rest);
    if regex.is_empty() {
        return Err(format!("Missing regular expression for {}", cmd.name()));
    }
    if !is_plain_pattern(&regex) && !regex_compiles(&regex, icase) {
        return Err(format!("{} regex could not be compiled.", cmd.name()));
    }
    const SPECIAL: &[&str] = &[
        "remote_addr",
        "remote_host",
        "request_uri",
        "request_method",
        "request_protocol",
        "server_addr",
    ];
    let special = SPECIAL.iter().any(|s| s.eq_ignore_ascii_case(name));
    let plain_name = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !special && !plain_name && !regex_compiles(name, icase) {
        return Err(format!(
            "{}Header name regex could not be compiled.",
            cmd.name()
        ));
    }
    add_variables(cmd, rest)
}

/// SetEnvIfExpr: an expression (not validated: rhttpd has no ap_expr parser yet) and at
/// least one variable.
fn set_env_if_expr(cmd: &mut Cmd, raw: &str) -> SetResult {
    let mut rest = raw;
    let expression = next_word(&mut rest);
    if expression.is_empty() {
        return Err(format!("Missing expression for {}", cmd.name()));
    }
    crate::expr::parse(&expression)
        .map_err(|err| format!("Could not parse expression \"{expression}\": {err}"))?;
    add_variables(cmd, rest)
}

fn add_variables(cmd: &mut Cmd, rest: &str) -> SetResult {
    if iterate_words(rest).is_empty() {
        return Err(format!("Missing envariable expression for {}", cmd.name()));
    }
    cmd.store_raw();
    Ok(())
}

/// mod_setenvif's `non_regex_pattern`: no unescaped metacharacter and no escaped ordinary
/// character, so the pattern is matched as a plain string and never compiled.
fn is_plain_pattern(pattern: &str) -> bool {
    let mut escaped = false;
    for c in pattern.chars() {
        match c {
            '^' | '.' | '$' | '|' | '(' | ')' | '[' | ']' | '*' | '+' | '?' | '{' | '}' => {
                if !escaped {
                    return false;
                }
                escaped = false;
            }
            '\\' => escaped = !escaped,
            _ if escaped => return false,
            _ => {}
        }
    }
    true
}
