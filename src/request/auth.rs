//! What the access, authentication and authorization hooks share (the phases themselves are
//! run by `pipeline::check_access`, each module's hook in its own file): the facts the
//! Require providers read of a request, mod_authn_core's AuthType and AuthName as a request
//! reads them, and the 401 with its Basic (or, through mod_auth_digest, Digest) challenge.

use std::cell::OnceCell;
use std::path::PathBuf;

use super::Request;
use crate::modules::auth_basic;
use crate::modules::authz::{self, Status};
use crate::modules::{authn_core, authz_groupfile, authz_host, authz_user};

/// What the providers read of one request.
pub(crate) struct RequestFacts<'a, 'r> {
    pub req: &'a Request<'r>,
    pub method: u128,
    pub user: Option<&'a str>,
    /// The request's environment, built when a rule first reads it (`Require all granted`,
    /// the rule nearly every request meets, reads none).
    env: OnceCell<Vec<(String, String)>>,
}

impl<'a, 'r> RequestFacts<'a, 'r> {
    pub fn new(req: &'a Request<'r>, user: Option<&'a str>) -> Self {
        RequestFacts {
            req,
            method: authz::method_mask(&req.method),
            user,
            env: OnceCell::new(),
        }
    }

    fn env(&self) -> &[(String, String)] {
        self.env.get_or_init(|| super::environment(self.req))
    }

    fn remote_host(&self) -> Option<String> {
        remote_host(self.req)
    }
}

/// The client's name by a confirmed double reverse lookup, asked for at most once a request
/// however many of its checks name a host.
pub(crate) fn remote_host(req: &Request) -> Option<String> {
    let peer = req.useragent.ip();
    req.double_reverse
        .get_or_init(|| authz_host::double_reverse(peer))
        .clone()
}

impl authz::Facts for RequestFacts<'_, '_> {
    fn expression(&self, expr: &rhttpd_directives::expr::Expr, text: &str) -> Status {
        let req = self.req;
        let context = super::expr::RequestContext::new(req, self.env());
        // Evaluated with the user known so far (the request's own field is set only once
        // authentication succeeds); REMOTE_USER there asks for one.
        let user =
            |name: &str| (name == "REMOTE_USER").then(|| Some(self.user.unwrap_or("").to_string()));
        let with_user = rhttpd_directives::expr::Layered {
            base: &context,
            var: Some(&user),
            env: None,
        };
        match expr.eval(&with_user) {
            Ok(true) => Status::Granted,
            Ok(false) if self.user.is_none() && text.contains("REMOTE_USER") => {
                Status::DeniedNoUser
            }
            Ok(false) => Status::Denied,
            Err(message) => {
                let text =
                    format!("AH02320: Error evaluating expression in 'Require expr': {message}");
                req.log_error("authz_core", "error", &text);
                Status::Error
            }
        }
    }

    fn method_in(&self, mask: u128) -> bool {
        mask & self.method != 0
    }

    fn provider(&self, provider: &str, args: &[String]) -> Status {
        let req = self.req;
        let authz = req.dir.module::<authz::Dir>();
        if let Some(alias) = authz.aliases.iter().rev().find(|a| a.name == provider) {
            if alias.base == "group" {
                let own = req.dir.module::<authz_groupfile::Dir>();
                let file = alias.group_file.as_deref().or(own.group_file.as_deref());
                let path = file.map(|f| resolve(req, f));
                let log = |level: &str, text: &str| req.log_error("authz_groupfile", level, text);
                return authz_groupfile::provider(
                    authz_groupfile::Check::Groups(&alias.args),
                    self.user,
                    path.as_deref(),
                    &req.uri,
                    &log,
                );
            }
            return self.provider(&alias.base, &alias.args);
        }
        let log = |level: &str, text: &str| req.log_error("authz_core", level, text);
        if let Some(status) = authz::core_provider(provider, args, &|| self.env(), self.method) {
            return status;
        }
        let client = authz_host::Client {
            useragent: req.useragent.ip(),
            local: req.conn.local.ip(),
            uri: &req.uri,
        };
        if let Some(status) =
            authz_host::provider(provider, args, &client, &|| self.remote_host(), &log)
        {
            return status;
        }
        if let Some(status) = authz_user::provider(provider, args, self.user) {
            return status;
        }
        if let Some(status) = crate::modules::ssl::authz_provider(provider, &req.conn) {
            return status;
        }
        if provider == "group" || provider == "file-group" {
            let own = req.dir.module::<authz_groupfile::Dir>();
            let path = own.group_file.as_deref().map(|f| resolve(req, f));
            let log = |level: &str, text: &str| req.log_error("authz_groupfile", level, text);
            let check = match provider {
                "group" => authz_groupfile::Check::Groups(args),
                _ => authz_groupfile::Check::FileGroup(req),
            };
            return authz_groupfile::provider(check, self.user, path.as_deref(), &req.uri, &log);
        }
        match provider {
            "file-owner" => return crate::modules::authz_owner::file_owner(req),
            "dbm-group" => return crate::modules::authz_dbm::dbm_group(req, args),
            "dbm-file-group" => return crate::modules::authz_dbm::dbm_file_group(req),
            _ => {}
        }
        req.log_error(
            "authz_core",
            "error",
            &format!("Require {provider} is not supported by rhttpd yet; access denied"),
        );
        Status::Error
    }
}

/// A ServerRoot-relative file name from the configuration.
pub(crate) fn resolve(req: &Request, file: &str) -> PathBuf {
    req.rt.config.read.server_root_relative(file)
}

/// What the denial messages name: the file, or the URI when nothing was mapped.
pub(crate) fn denied_target(req: &Request) -> String {
    match &req.filename {
        Some(file) => file.to_string_lossy().into_owned(),
        None => format!("uri {}", req.uri),
    }
}

/// A 401 for the reason logged: the challenge goes with it.
pub(crate) fn unauthorized(req: &mut Request, module: &str, text: &str) -> u16 {
    req.log_error(module, "error", text);
    note_auth_failure(req);
    401
}

/// AuthType as this request reads it (`ap_auth_type`): its string expression evaluated, none
/// for `None` or an expression that fails (logged).
pub(crate) fn auth_type(req: &Request, dir: &crate::modules::DirRuntime) -> Option<String> {
    let authn = dir.module::<authn_core::Dir>();
    let raw = authn.auth_type()?;
    let value = evaluate_auth_string(req, raw, "AH02834: AuthType")?;
    (!value.eq_ignore_ascii_case("None")).then_some(value)
}

/// AuthName as this request reads it (`ap_auth_name`): evaluated, double quotes escaped.
pub(crate) fn auth_name(req: &Request, dir: &crate::modules::DirRuntime) -> Option<String> {
    let authn = dir.module::<authn_core::Dir>();
    let raw = authn.auth_name.as_deref()?;
    let value = evaluate_auth_string(req, raw, "AH02835: AuthName")?;
    Some(escape_quotes(&value))
}

/// A string expression of mod_authn_core's; text without `%` or `\` is itself.
fn evaluate_auth_string(req: &Request, raw: &str, what: &str) -> Option<String> {
    if !raw.contains(['%', '\\']) {
        return Some(raw.to_string());
    }
    let parsed = rhttpd_directives::expr::parse_string(raw).ok()?;
    let env = super::environment(req);
    match parsed.eval(&super::expr::RequestContext::for_strings(req, &env)) {
        Ok(value) => Some(value),
        Err(err) => {
            let text = format!("{what} expression could not be evaluated: {err}");
            req.log_error("authn_core", "error", &text);
            None
        }
    }
}

/// `ap_escape_quotes`: a double quote not already escaped gets a backslash.
pub(crate) fn escape_quotes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '"' => out.push_str("\\\""),
            _ => out.push(c),
        }
    }
    out
}

/// The challenge sent with a 401: Basic for the realm (mod_auth_basic's note_auth_failure), or
/// mod_auth_digest's for `AuthType Digest`.
pub(crate) fn note_auth_failure(req: &mut Request) {
    let dir = std::sync::Arc::clone(&req.dir);
    let kind = auth_type(req, &dir);
    if kind
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("Digest"))
        && req.rt.module_loaded("auth_digest_module")
    {
        crate::modules::auth_digest::note_auth_failure(req);
        return;
    }
    let is_basic = kind.is_some_and(|t| t.eq_ignore_ascii_case("Basic"));
    if is_basic {
        let realm = auth_name(req, &dir).unwrap_or_default();
        req.err_headers
            .set("WWW-Authenticate", auth_basic::challenge(&realm));
    }
}
