//! mod_env, whole: the SetEnv, UnsetEnv and PassEnv directives (table, setters, typed
//! per-directory configuration and merge), and their effect on a request's environment,
//! applied at fixups in the order the sections merge (the server's first, then each
//! section's). Also the environment table helpers every module uses.

use crate::hooks::{Fixup, Hooks, Order};
use crate::request::{Request, Step};
use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::OR_FILEINFO;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

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
        Iterate(unset_env),
        OR_FILEINFO,
        "a list of variables to remove from the CGI environment.",
    )
    .implemented(),
];

/// One environment change, in configuration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Set(String, String),
    Unset(String),
}

/// mod_env's per-directory configuration: the changes, in order.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub changes: Vec<Change>,
}

impl DirConfig for Dir {
    /// A section's changes come after those it inherits.
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            changes: self.changes.iter().chain(&child.changes).cloned().collect(),
        }
    }
}

/// PassEnv: the server's own value, read when the configuration is; a variable missing from
/// the server's environment is only a warning.
fn pass_env(cmd: &mut Cmd, name: &str) -> SetResult {
    match std::env::var(name) {
        Ok(value) => cmd
            .dir_config::<Dir>()
            .changes
            .push(Change::Set(name.to_string(), value)),
        Err(_) => cmd.log_warning(
            "env",
            format!("AH01506: PassEnv variable {name} was undefined"),
        ),
    }
    Ok(())
}

/// SetEnv: `NAME=value` is accepted as a name, with a warning suggesting `NAME value`.
fn set_env(cmd: &mut Cmd, name: &str, value: Option<&str>) -> SetResult {
    if name.contains('=') {
        // apr_strtok: the first run of non-'=' characters, and what follows the '=' after it.
        let start = name.trim_start_matches('=');
        if !start.is_empty() {
            let (var, rest) = start.split_once('=').unwrap_or((start, ""));
            let text = format!(
                "AH10032: Spurious usage of '=' in an environment variable name. '{} {var} {rest}' expected instead?",
                cmd.name()
            );
            cmd.log_warning("env", text);
        }
    }
    let change = Change::Set(name.to_string(), value.unwrap_or_default().to_string());
    cmd.dir_config::<Dir>().changes.push(change);
    Ok(())
}

fn unset_env(cmd: &mut Cmd, name: &str) -> SetResult {
    let change = Change::Unset(name.to_string());
    cmd.dir_config::<Dir>().changes.push(change);
    Ok(())
}

/// mod_env's hook: the changes join the request's environment at fixups (so access control,
/// which runs before, does not see them).
pub fn register_hooks(hooks: &mut Hooks) {
    hooks.fixups.add("env", Order::Middle, fixup);
}

/// Marks the request as past mod_env's fixup; its environment then includes the changes.
#[derive(Debug, Default)]
struct FixedUp;

fn fixup(req: &mut Request) -> Step<Fixup> {
    req.state.get_mut::<FixedUp>();
    Ok(Fixup::Continue)
}

/// Whether mod_env's changes are part of the request's environment yet.
pub fn fixed_up(req: &Request) -> bool {
    req.state.get::<FixedUp>().is_some()
}

impl Dir {
    /// Applies the changes to a request's environment.
    pub fn fixup(&self, env: &mut Vec<(String, String)>) {
        for change in &self.changes {
            match change {
                Change::Set(name, value) => set(env, name, value),
                Change::Unset(name) => env.retain(|(n, _)| n != name),
            }
        }
    }
}

/// Sets a variable, replacing any value it had.
pub fn set(env: &mut Vec<(String, String)>, name: &str, value: &str) {
    match env.iter_mut().find(|(n, _)| n == name) {
        Some(entry) => entry.1 = value.to_string(),
        None => env.push((name.to_string(), value.to_string())),
    }
}

/// A variable's value.
pub fn get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}
