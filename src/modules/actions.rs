//! mod_actions, whole: Action (a CGI script that serves a handler's or a media type's
//! resources) and Script (a CGI script for a request method), their table, setters and typed
//! per-directory configuration, and the handler that hands the request to the script by an
//! internal redirect, the resource's path following the script's as PATH_INFO.

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::{ACCESS_CONF, OR_FILEINFO, RSRC_CONF};
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

use crate::hooks::{Hooks, Order};
use crate::request::pipeline::{handler_of, serve_uri};
use crate::request::{environment, note_internal_redirect, Request, Response, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "actions_module",
    source: "mod_actions.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "Action",
        Take23(action),
        OR_FILEINFO,
        "a media type followed by a script name",
    )
    .implemented(),
    DirectiveDef::new(
        "Script",
        Take2(script),
        ACCESS_CONF | RSRC_CONF,
        "a method followed by a script name",
    )
    .implemented(),
];

/// One Action line: the handler or media type, whether the script runs without a file
/// behind the request (`virtual`), and the script's URL path.
#[derive(Debug, Clone)]
pub struct Action {
    pub kind: String,
    pub virtual_file: bool,
    pub script: String,
}

/// Per-directory: the actions (a section's first, then what it inherits: the first of a
/// type wins), the method scripts (HEAD's is GET's), and whether any of either was set here
/// or above.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub actions: Vec<Action>,
    pub scripts: Vec<(String, String)>,
    pub configured: bool,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        let mut scripts = child.scripts.clone();
        for (method, script) in &self.scripts {
            if !scripts.iter().any(|(m, _)| m == method) {
                scripts.push((method.clone(), script.clone()));
            }
        }
        Dir {
            actions: [child.actions.clone(), self.actions.clone()].concat(),
            scripts,
            configured: self.configured || child.configured,
        }
    }
}

impl Dir {
    fn action(&self, kind: &str) -> Option<&Action> {
        self.actions
            .iter()
            .find(|a| a.kind.eq_ignore_ascii_case(kind))
    }

    fn script(&self, method: &str) -> Option<&str> {
        let method = if method == "HEAD" { "GET" } else { method };
        self.scripts
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, s)| s.as_str())
    }
}

fn action(cmd: &mut Cmd, kind: &str, script: &str, option: Option<&str>) -> SetResult {
    if let Some(option) = option.filter(|o| !o.eq_ignore_ascii_case("virtual")) {
        return Err(format!("unrecognized option '{option}'"));
    }
    let dir = cmd.dir_config::<Dir>();
    // A table set: a later line for the same type replaces the earlier one.
    dir.actions.retain(|a| !a.kind.eq_ignore_ascii_case(kind));
    dir.actions.push(Action {
        kind: kind.to_string(),
        virtual_file: option.is_some(),
        script: script.to_string(),
    });
    dir.configured = true;
    Ok(())
}

/// Script: the method is registered (as RegisterHttpMethod would) if Apache does not know
/// it; TRACE is refused.
fn script(cmd: &mut Cmd, method: &str, script: &str) -> SetResult {
    rhttpd_directives::methods::register(method);
    if method == "TRACE" {
        return Err("TRACE not allowed for Script".into());
    }
    let method = if method == "HEAD" { "GET" } else { method };
    let dir = cmd.dir_config::<Dir>();
    dir.scripts.retain(|(m, _)| m != method);
    dir.scripts.push((method.to_string(), script.to_string()));
    dir.configured = true;
    Ok(())
}

/// Late among the handlers, so that a module serving the handler itself comes first.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks.handler.add("actions", Order::Last, handler);
}

/// The script for the request's method (a GET's only when it has a query), overridden by
/// the Action for its handler or media type; the request is then redirected to it.
fn handler(req: &mut Request) -> Step<Option<Response>> {
    let dir = std::sync::Arc::clone(&req.dir);
    let conf = dir.module::<Dir>();
    if !conf.configured {
        return Ok(None);
    }
    let mut script = match req.method.as_str() {
        "GET" | "HEAD" if req.args.is_none() => None,
        method => conf.script(method),
    };
    // A script that redirects to itself would loop.
    if script.is_some() && req.redirects >= 2 {
        return Ok(None);
    }
    let filename = req.filename.clone().unwrap_or_default();
    let kind = handler_of(req, &filename).or_else(|| {
        let info = req.file_info.as_ref()?;
        let content_type = info.content_type.as_deref()?;
        Some(
            content_type
                .split(';')
                .next()
                .unwrap_or("")
                .trim_end()
                .to_string(),
        )
    });
    let mut handler_name = None;
    if let Some(found) = kind.as_deref().and_then(|k| conf.action(k)) {
        if !found.virtual_file && req.finfo.is_none() {
            let text = format!("AH00652: File does not exist: {}", filename.display());
            req.log_error("actions", "info", &text);
            return Err(404);
        }
        script = Some(&found.script);
        handler_name = kind.clone();
    }
    let Some(script) = script else {
        return Ok(None);
    };
    let mut env = environment(req);
    if let Some(name) = handler_name {
        // Seen by the script as REDIRECT_HANDLER.
        env.retain(|(n, _)| !n.eq_ignore_ascii_case("HANDLER"));
        env.push(("HANDLER".to_string(), name));
    }
    let limit = req.ctx().runtime.core.recursion_limits().0;
    if req.redirects >= limit {
        let text = format!("AH00124: Request exceeded the limit of {limit} internal redirects due to probable configuration error. Use 'LimitInternalRecursion' to increase the limit if necessary. Use 'LogLevel debug' to get a backtrace.");
        req.log_error("core", "error", &text);
        return Err(500);
    }
    note_internal_redirect(req, &env, 200);
    req.uri = format!("{script}{}", req.uri);
    req.redirects += 1;
    serve_uri(req).map(Some)
}
