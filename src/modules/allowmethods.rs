//! mod_allowmethods, whole: AllowMethods (table, setter, typed per-directory configuration
//! and merge) and the access check that answers 405 to any other method, before every other
//! access check.

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::ACCESS_CONF;
use rhttpd_directives::methods;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

use crate::hooks::{Hooks, Order};
use crate::request::{Request, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "allowmethods_module",
    source: "mod_allowmethods.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "AllowMethods",
    Argv(allow_methods),
    ACCESS_CONF,
    "only allow specific methods",
)
.implemented()];

/// Per-directory: the methods let through, as method bits (HEAD is GET's); `Some(0)` is
/// `reset` (every method again).
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub allowed: Option<u128>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            allowed: child.allowed.or(self.allowed),
        }
    }
}

/// AllowMethods: methods Apache knows (or a configuration registered before this line), or
/// `reset` alone.
fn allow_methods(cmd: &mut Cmd, args: &[String]) -> SetResult {
    if args.is_empty() {
        return Err("AllowMethods: No method or 'reset' keyword given".into());
    }
    if args.len() == 1 && args[0].eq_ignore_ascii_case("reset") {
        cmd.dir_config::<Dir>().allowed = Some(0);
        return Ok(());
    }
    let mut allowed = 0u128;
    for method in args {
        if methods::number(method).is_none() {
            return Err(format!("AllowMethods: Invalid Method '{method}'"));
        }
        allowed |= methods::bit(method);
    }
    cmd.dir_config::<Dir>().allowed = Some(allowed);
    Ok(())
}

/// First among the access checkers.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .access_checker
        .add("allowmethods", Order::ReallyFirst, check_method);
}

fn check_method(req: &mut Request) -> Step<()> {
    let allowed = req.dir.module::<Dir>().allowed.unwrap_or(0);
    if allowed == 0 || allowed & methods::bit(&req.method) != 0 {
        return Ok(());
    }
    let target = match &req.filename {
        Some(file) => file.to_string_lossy().into_owned(),
        None => format!("uri {}", req.uri),
    };
    let text = format!(
        "AH01623: client method denied by server configuration: '{}' to {target}",
        req.method
    );
    req.log_error("allowmethods", "error", &text);
    // Refused before any handler offered methods: the Allow field names only TRACE (when
    // TraceEnable lets it through), as Apache's make_allow does with an empty set.
    let trace = super::http_core::trace_enabled(req);
    req.headers_out
        .set("Allow", if trace { "TRACE" } else { "" });
    Err(405)
}
