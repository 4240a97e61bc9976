//! mod_reqtimeout: RequestReadTimeout for headers and bodies.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "reqtimeout_module",
    source: "mod_reqtimeout.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "RequestReadTimeout",
    Raw(request_read_timeout),
    RSRC_CONF,
    "Set various timeout parameters for TLS handshake and/or reading request headers and body",
)
.implemented()];

/// RequestReadTimeout: `stage=timeout[-maxtimeout][,MinRate=rate]` words.
fn request_read_timeout(cmd: &mut Cmd, raw: &str) -> SetResult {
    let mut rest = raw;
    while !rest.is_empty() {
        let word = next_word(&mut rest);
        let Some((key, value)) = word.split_once('=') else {
            return Err(
                "Invalid RequestReadTimeout parameter. Parameter must be in the form 'key=value'"
                    .into(),
            );
        };
        timeout_stage(key, value)
            .map_err(|err| format!("RequestReadTimeout: {key}={value}: {err}"))?;
    }
    cmd.store_raw();
    Ok(())
}

fn timeout_stage(key: &str, value: &str) -> Result<(), String> {
    if !["handshake", "header", "body"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(key))
    {
        return Err("Unknown RequestReadTimeout parameter".into());
    }
    const MINRATE: &str = ",minrate=";
    let lower = value.to_ascii_lowercase();
    let (timeout, max_timeout) = match lower.find(MINRATE) {
        Some(at) => {
            let rate = parse_int(&value[at + MINRATE.len()..])?;
            if rate == 0 {
                return Err("Minimum data rate must be larger than 0".into());
            }
            let initial = &value[..at];
            match initial.split_once('-') {
                Some((initial, max)) => {
                    let max = parse_int(max)?;
                    (parse_int(initial)?, max)
                }
                None => (parse_int(initial)?, 0),
            }
        }
        None => {
            if value.contains('-') {
                return Err("Must set MinRate option if using timeout range".into());
            }
            (parse_int(value)?, 0)
        }
    };
    if max_timeout != 0 && timeout >= max_timeout {
        return Err("Maximum timeout must be larger than initial timeout".into());
    }
    Ok(())
}

/// mod_reqtimeout's `parse_int`: `strtol` into an `int`, the whole text, not negative.
fn parse_int(text: &str) -> Result<i32, String> {
    let (value, rest) = strtol(text);
    if rest.len() == text.len() {
        return Err(format!("Value '{text}' not numerical"));
    }
    if !rest.is_empty() {
        return Err(format!("Cannot parse '{rest}'"));
    }
    // The long lands in an int, keeping its low 32 bits.
    let value = value as i32;
    if value < 0 {
        return Err("Value must be non-negative".into());
    }
    Ok(value)
}
