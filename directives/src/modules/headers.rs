//! mod_headers: Header and RequestHeader.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "headers_module",
    source: "mod_headers.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "Header",
        Raw(header),
        OR_FILEINFO,
        "an optional condition, an action, header and value followed by optional env clause",
    )
    .implemented(),
    DirectiveDef::new(
        "RequestHeader",
        Raw(header),
        OR_FILEINFO,
        "an action, header and value followed by optional env clause",
    )
    .implemented(),
];

/// `Header [condition] action header [value] [replacement] [early|env=[!]var|expr=...]` and
/// RequestHeader: mod_headers' `header_cmd` and `header_inout_cmd`, check by check.
fn header(cmd: &mut Cmd, raw: &str) -> SetResult {
    let request = cmd.name() == "RequestHeader";
    let mut rest = raw;
    let mut action = next_word(&mut rest);
    if !request
        && (action.eq_ignore_ascii_case("always") || action.eq_ignore_ascii_case("onsuccess"))
    {
        action = next_word(&mut rest);
    }
    let hdr = next_word(&mut rest);
    let mut optional = || (!rest.is_empty()).then(|| next_word(&mut rest));
    let mut value = optional();
    let subs = optional();
    let envclause = optional();
    if !rest.is_empty() {
        return Err(format!("{} has too many arguments", cmd.name()));
    }
    const ACTIONS: &[&str] = &[
        "set",
        "setifempty",
        "add",
        "append",
        "merge",
        "unset",
        "echo",
        "edit",
        "edit*",
        "note",
    ];
    let Some(action) = ACTIONS.iter().find(|a| a.eq_ignore_ascii_case(&action)) else {
        return Err("first argument must be 'add', 'set', 'setifempty', 'append', 'merge', 'unset', 'echo', 'note', 'edit', or 'edit*'.".into());
    };
    let action = *action;
    if request && action == "note" {
        return Err("RequestHeader does not support the 'note' action".into());
    }
    let edit = action.starts_with("edit");
    let mut envclause = envclause;
    if edit {
        if subs.is_none() {
            return Err("Header edit requires a match and a substitution".into());
        }
        if !value.as_deref().is_some_and(|v| regex_compiles(v, false)) {
            return Err("Header edit regex could not be compiled".into());
        }
    } else {
        if envclause.is_some() {
            return Err("Too many arguments to directive".into());
        }
        envclause = subs.clone();
    }
    match action {
        "unset" | "echo" => {
            if let Some(v) = value.take() {
                if envclause.is_some() {
                    return Err(if action == "unset" {
                        "header unset takes two arguments".into()
                    } else {
                        "Header echo takes two arguments".into()
                    });
                }
                envclause = Some(v);
            }
            if action == "echo" {
                if request {
                    return Err("Header echo only valid on Header directives".into());
                }
                if !regex_compiles(&hdr, false) {
                    return Err("Header echo regex could not be compiled".into());
                }
            }
        }
        _ if value.is_none() => return Err("Header requires three arguments".into()),
        _ => {}
    }
    if let Some(clause) = envclause {
        if clause.eq_ignore_ascii_case("early") {
        } else if starts_with_ignore_case(&clause, "env=") {
            if clause.len() == 4 || &clause[4..] == "!" {
                return Err(
                    "error: missing environment variable name. envclause should be in the form env=envar ".into()
                );
            }
        } else if starts_with_ignore_case(&clause, "expr=") {
            crate::expr::parse(&clause[5..])
                .map_err(|err| format!("Can't parse envclause/expression: {err}"))?;
        } else {
            return Err(format!("Unknown parameter: {clause}"));
        }
    }
    let format = if edit { subs } else { value };
    if let Some(format) = format {
        match format.strip_prefix("expr=") {
            Some(text) => {
                crate::expr::parse_string(text)
                    .map_err(|err| format!("Can't parse value expression : {err}"))?;
            }
            None => check_format(&format)?,
        }
    }
    cmd.store_raw();
    Ok(())
}

/// The `%` tags of a header value: `%%`, a trailing `%`, or an optional `{arg}` and one of
/// the tags mod_headers registers.
fn check_format(format: &str) -> SetResult {
    let bytes = format.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        match bytes.get(i) {
            None => break,
            Some(b'%') => {
                i += 1;
                continue;
            }
            Some(b'{') => {
                i = match bytes[i..].iter().position(|&b| b == b'}') {
                    Some(close) => i + close + 1,
                    None => bytes.len(),
                };
            }
            Some(_) => {}
        }
        match bytes.get(i) {
            Some(b'D' | b't' | b'e' | b's' | b'l' | b'i' | b'b') => i += 1,
            other => {
                let tag = other
                    .map(|&b| char::from(b).to_string())
                    .unwrap_or_default();
                return Err(format!("Unrecognized header format %{tag}"));
            }
        }
    }
    Ok(())
}
