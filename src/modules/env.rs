//! mod_env, whole: the SetEnv, UnsetEnv and PassEnv directives (table, setters, typed
//! per-directory configuration and merge, where UnsetEnv acts), and their effect on a
//! request's environment: the merged variables added at fixups after what other modules set.
//! Also the environment table helpers every module uses.

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

/// mod_env's per-directory configuration, as Apache keeps it: the variables SetEnv and PassEnv
/// set here and above (a table: one entry a name, names compared without regard to case), and
/// the names this section's UnsetEnv lines take out of what it inherits.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub vars: Vec<(String, String)>,
    pub unset: Vec<String>,
}

impl DirConfig for Dir {
    /// The inherited variables, less the section's UnsetEnv names, then the section's own set
    /// over them. UnsetEnv never reaches further: a variable another module set at request
    /// time stays.
    fn merge(&self, child: &Dir) -> Dir {
        let mut vars = self.vars.clone();
        for name in &child.unset {
            vars.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        }
        for (name, value) in &child.vars {
            table_set(&mut vars, name, value);
        }
        Dir {
            vars,
            unset: Vec::new(),
        }
    }
}

/// `apr_table_set`: the first entry of the name (in any case) takes the value, the others go.
fn table_set(table: &mut Vec<(String, String)>, name: &str, value: &str) {
    if !set_existing(&mut [table], name, value) {
        table.push((name.to_string(), value.to_string()));
    }
}

/// `apr_table_set` over a table kept in parts: the first entry of the name (in any case), in
/// whichever part, takes the value and the later ones go. Whether there was one (if not, the
/// caller adds the entry where its table adds).
pub(crate) fn set_existing(
    parts: &mut [&mut Vec<(String, String)>],
    name: &str,
    value: &str,
) -> bool {
    let mut seen = false;
    for part in parts.iter_mut() {
        part.retain_mut(|(n, v)| {
            if !n.eq_ignore_ascii_case(name) {
                return true;
            }
            if seen {
                return false;
            }
            seen = true;
            *v = value.to_string();
            true
        });
    }
    seen
}

/// PassEnv: the server's own value, read when the configuration is; a variable missing from
/// the server's environment is only a warning.
fn pass_env(cmd: &mut Cmd, name: &str) -> SetResult {
    match std::env::var(name) {
        Ok(value) => table_set(&mut cmd.dir_config::<Dir>().vars, name, &value),
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
    table_set(
        &mut cmd.dir_config::<Dir>().vars,
        name,
        value.unwrap_or_default(),
    );
    Ok(())
}

/// UnsetEnv: out of what the section inherits, and out of what it set itself before.
fn unset_env(cmd: &mut Cmd, name: &str) -> SetResult {
    let dir = cmd.dir_config::<Dir>();
    dir.unset.push(name.to_string());
    dir.vars.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
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
    /// Adds the variables to a request's environment after what it holds (Apache's
    /// `apr_table_overlay`): a name already there keeps its earlier value for lookups.
    pub fn fixup(&self, env: &mut Vec<(String, String)>) {
        env.extend(self.vars.iter().cloned());
    }
}

/// Sets a variable, replacing any value it had (`apr_table_set`).
pub fn set(env: &mut Vec<(String, String)>, name: &str, value: &str) {
    table_set(env, name, value);
}

/// A variable's value: the first entry of the name, in any case (the environment is an APR
/// table, as Apache's `subprocess_env`).
pub fn get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
