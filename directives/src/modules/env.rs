//! mod_env: SetEnv, UnsetEnv, PassEnv.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "env_module",
    source: "mod_env.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "PassEnv",
        Iterate(pass_env),
        OR_FILEINFO,
        "a list of environment variables to pass to CGI.",
    )
    .implemented(),
    DirectiveDef::new(
        "SetEnv",
        Take12(set_env),
        OR_FILEINFO,
        "an environment variable name and optional value to pass to CGI.",
    )
    .implemented(),
    DirectiveDef::new(
        "UnsetEnv",
        Iterate(raw1),
        OR_FILEINFO,
        "a list of variables to remove from the CGI environment.",
    )
    .implemented(),
];

/// A warning mod_env logs while the config is read (with the full error-log prefix).
fn warn(cmd: &mut Cmd, text: String) {
    cmd.log_warning("env", text);
}

/// PassEnv: a variable missing from the server's environment is only a warning.
fn pass_env(cmd: &mut Cmd, name: &str) -> SetResult {
    if std::env::var_os(name).is_none() {
        warn(
            cmd,
            format!("AH01506: PassEnv variable {name} was undefined"),
        );
    }
    cmd.store_raw();
    Ok(())
}

/// SetEnv: `NAME=value` is accepted as a name, with a warning suggesting `NAME value`.
fn set_env(cmd: &mut Cmd, name: &str, _value: Option<&str>) -> SetResult {
    if name.contains('=') {
        // apr_strtok: the first run of non-'=' characters, and what follows the '=' after it.
        let start = name.trim_start_matches('=');
        if !start.is_empty() {
            let (var, rest) = start.split_once('=').unwrap_or((start, ""));
            warn(
                cmd,
                format!(
                    "AH10032: Spurious usage of '=' in an environment variable name. '{} {var} {rest}' expected instead?",
                    cmd.name()
                ),
            );
        }
    }
    cmd.store_raw();
    Ok(())
}
