//! The access, authentication and authorization phases of a request, in the order Apache's
//! `ap_process_request_internal` runs them: mod_access_compat's host rules, then
//! mod_authz_core without a user, then authentication (mod_auth_basic) and authorization
//! again with the user, with Satisfy deciding how the first and the rest combine.

use std::cell::OnceCell;
use std::path::PathBuf;

use super::{environment, Request, Step};
use crate::modules::auth_basic::{self, Credentials};
use crate::modules::authn_file::{self, Authn};
use crate::modules::authz::{self, Status};
use crate::modules::{access_compat, authn_core, authz_groupfile, authz_host, authz_user};

/// What the providers read of one request.
struct RequestFacts<'a, 'r> {
    req: &'a Request<'r>,
    env: &'a [(String, String)],
    method: u128,
    user: Option<&'a str>,
    remote_host: &'a OnceCell<Option<String>>,
}

impl RequestFacts<'_, '_> {
    fn remote_host(&self) -> Option<String> {
        let peer = self.req.conn.peer.ip();
        self.remote_host
            .get_or_init(|| authz_host::double_reverse(peer))
            .clone()
    }
}

impl authz::Facts for RequestFacts<'_, '_> {
    fn expression(&self, expr: &rhttpd_directives::expr::Expr, text: &str) -> Status {
        let req = self.req;
        let context = super::expr::RequestContext::new(req, self.env);
        // Evaluated with the user known so far; REMOTE_USER there asks for one.
        let with_user = super::expr::WithUser {
            inner: &context,
            user: self.user,
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
                    &alias.args,
                    self.user,
                    path.as_deref(),
                    &req.uri,
                    &log,
                );
            }
            return self.provider(&alias.base, &alias.args);
        }
        let log = |level: &str, text: &str| req.log_error("authz_core", level, text);
        if let Some(status) = authz::core_provider(provider, args, self.env, self.method) {
            return status;
        }
        let client = authz_host::Client {
            peer: req.conn.peer.ip(),
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
        if provider == "group" {
            let own = req.dir.module::<authz_groupfile::Dir>();
            let path = own.group_file.as_deref().map(|f| resolve(req, f));
            let log = |level: &str, text: &str| req.log_error("authz_groupfile", level, text);
            return authz_groupfile::provider(args, self.user, path.as_deref(), &req.uri, &log);
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
fn resolve(req: &Request, file: &str) -> PathBuf {
    req.rt.config.read.server_root_relative(file)
}

fn module_loaded(req: &Request, id: &str) -> bool {
    req.rt.config.read.modules.iter().any(|m| m.id == id)
}

/// Runs the access phases for the mapped file; `Err` is the status to answer with.
pub(crate) fn check(req: &mut Request) -> Step<()> {
    let env = environment(req);
    let method = authz::method_mask(&req.method);
    let remote_host = OnceCell::new();
    let dir = std::sync::Arc::clone(&req.dir);
    let compat_client = access_compat::Client {
        ip: req.conn.peer.ip(),
        env: &env,
        remote_host: &|| {
            remote_host
                .get_or_init(|| authz_host::double_reverse(req.conn.peer.ip()))
                .clone()
        },
    };
    let hosts_allow = dir
        .module::<access_compat::Dir>()
        .allows(method, &compat_client);
    if !hosts_allow {
        let text = format!(
            "AH01797: client denied by server configuration: {}",
            denied_target(req)
        );
        req.log_error("access_compat", "error", &text);
    }
    if dir.module::<access_compat::Dir>().satisfy_any(method) {
        if hosts_allow {
            return Ok(());
        }
    } else if !hosts_allow {
        return Err(403);
    }
    // mod_authz_core before authentication.
    let userless = {
        let facts = RequestFacts {
            req,
            env: &env,
            method,
            user: None,
            remote_host: &remote_host,
        };
        dir.module::<authz::Dir>().evaluate(&facts)
    };
    let Some(status) = userless else {
        if auth_type(req, &dir).is_some() {
            req.log_error(
                "authz_core",
                "error",
                "AH01627: AuthType configured with no corresponding authorization directives",
            );
            return Err(500);
        }
        return Ok(());
    };
    match status {
        Status::Granted => return Ok(()),
        Status::DeniedNoUser => {}
        Status::Denied | Status::Neutral => {
            let text = format!(
                "AH01630: client denied by server configuration: {}",
                denied_target(req)
            );
            req.log_error("authz_core", "error", &text);
            return Err(403);
        }
        Status::Error => return Err(500),
    }
    authenticate(req)?;
    let Some(user) = req.user.clone() else {
        let text = format!("AH00027: No authentication done but request not allowed without authentication for {}. Authentication not configured?", req.uri);
        req.log_error("core", "error", &text);
        return Err(500);
    };
    let status = {
        let facts = RequestFacts {
            req,
            env: &env,
            method,
            user: Some(&user),
            remote_host: &remote_host,
        };
        dir.module::<authz::Dir>()
            .evaluate(&facts)
            .unwrap_or(Status::Granted)
    };
    match status {
        Status::Granted => Ok(()),
        Status::DeniedNoUser => {
            let text = format!(
                "AH01629: authorization failure (no authenticated user): {}",
                req.uri
            );
            unauthorized(req, "authz_core", &text)
        }
        Status::Denied | Status::Neutral => {
            let text = format!(
                "AH01631: user {user}: authorization failure for \"{}\": ",
                req.uri
            );
            req.log_error("authz_core", "error", &text);
            if dir.module::<authz::Dir>().forbidden_on_failure() {
                return Err(403);
            }
            note_auth_failure(req);
            Err(401)
        }
        Status::Error => Err(500),
    }
}

/// What the denial messages name: the file, or the URI when nothing was mapped.
fn denied_target(req: &Request) -> String {
    match &req.filename {
        Some(file) => file.display().to_string(),
        None => format!("uri {}", req.uri),
    }
}

/// The check_authn hooks: mod_auth_basic for `AuthType Basic`, else mod_authn_core's
/// fallback (no AuthType: no user; an AuthType nobody implements: 500).
fn authenticate(req: &mut Request) -> Step<()> {
    let dir = std::sync::Arc::clone(&req.dir);
    let Some(kind) = auth_type(req, &dir) else {
        return Ok(());
    };
    if !kind.eq_ignore_ascii_case("Basic") || !module_loaded(req, "auth_basic_module") {
        let text = format!("AH01796: AuthType {kind} configured without corresponding module");
        req.log_error("authn_core", "error", &text);
        return Err(500);
    }
    let realm = auth_name(req, &dir);
    if realm.is_none() {
        let text = format!("AH01615: need AuthName: {}", req.uri);
        req.log_error("auth_basic", "error", &text);
        return Err(500);
    }
    let (user, password) = match auth_basic::credentials(req.head.headers.get("Authorization")) {
        Credentials::Missing => {
            note_auth_failure(req);
            return Err(401);
        }
        Credentials::WrongScheme => {
            let text = format!(
                "AH01614: client used wrong authentication scheme: {}",
                req.uri
            );
            return unauthorized(req, "auth_basic", &text);
        }
        Credentials::Basic { user, password } => (user, password),
    };
    req.user = Some(user.clone());
    let default = ["file".to_string()];
    let basic = dir.module::<auth_basic::Dir>();
    let providers: &[String] = basic.providers.as_deref().unwrap_or(&default);
    let mut result = Authn::UserNotFound;
    for name in providers {
        let file = if name == "file" {
            dir.module::<authn_file::Dir>().user_file.clone()
        } else {
            dir.module::<authn_core::Dir>()
                .aliases
                .iter()
                .rev()
                .find(|(alias, _, _)| alias == name)
                .and_then(|(_, _, own)| own.user_file.clone())
        };
        let path = file.as_deref().map(|f| resolve(req, f));
        result = if basic.digest_md5 == Some(true) {
            let realm = realm.as_deref().unwrap_or("");
            authn_file::check_realm_hash(path.as_deref(), &user, realm, &password)
        } else {
            authn_file::check_password(path.as_deref(), &user, &password)
        };
        if result != Authn::UserNotFound {
            break;
        }
    }
    match result {
        Authn::Granted => Ok(()),
        Authn::Denied => {
            let text = format!(
                "AH01617: user {user}: authentication failure for \"{}\": Password Mismatch",
                req.uri
            );
            unauthorized(req, "auth_basic", &text)
        }
        Authn::UserNotFound if !basic.authoritative() => {
            // Declined to the next authentication module; in this module set that is
            // mod_authn_core's, which refuses an AuthType it cannot serve.
            let text = format!("AH01796: AuthType {kind} configured without corresponding module");
            req.log_error("authn_core", "error", &text);
            Err(500)
        }
        Authn::UserNotFound => {
            let text = format!("AH01618: user {user} not found: {}", req.uri);
            unauthorized(req, "auth_basic", &text)
        }
        Authn::Error(text) => {
            req.log_error("authn_file", "error", &text);
            Err(500)
        }
    }
}

/// A 401 for the reason logged: the challenge goes with it.
fn unauthorized(req: &mut Request, module: &str, text: &str) -> Step<()> {
    req.log_error(module, "error", text);
    note_auth_failure(req);
    Err(401)
}

/// AuthType as this request reads it (`ap_auth_type`): its string expression evaluated, none
/// for `None` or an expression that fails (logged).
fn auth_type(req: &Request, dir: &crate::modules::DirRuntime) -> Option<String> {
    let authn = dir.module::<authn_core::Dir>();
    let raw = authn.auth_type()?;
    let value = evaluate_auth_string(req, raw, "AH02834: AuthType")?;
    (!value.eq_ignore_ascii_case("None")).then_some(value)
}

/// AuthName as this request reads it (`ap_auth_name`): evaluated, double quotes escaped.
fn auth_name(req: &Request, dir: &crate::modules::DirRuntime) -> Option<String> {
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
fn escape_quotes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
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

/// The Basic challenge for the realm, sent with the 401 (mod_auth_basic's note_auth_failure).
fn note_auth_failure(req: &mut Request) {
    let dir = std::sync::Arc::clone(&req.dir);
    let is_basic = auth_type(req, &dir).is_some_and(|t| t.eq_ignore_ascii_case("Basic"));
    if is_basic {
        let realm = auth_name(req, &dir).unwrap_or_default();
        req.err_headers
            .set("WWW-Authenticate", auth_basic::challenge(&realm));
    }
}

/// AuthBasicFake (a fixup, after authentication): the request carries the Basic credentials
/// its expressions give, for whatever reads Authorization later; an empty user or password
/// drops the header instead.
pub(crate) fn basic_fake(req: &mut Request) -> Step<()> {
    let Some(Some(fake)) = req.dir.module::<auth_basic::Dir>().fake.clone() else {
        return Ok(());
    };
    let env = environment(req);
    // The user first: an empty one ends it before the password is evaluated.
    let mut values = Vec::new();
    for (expr, what, failed, empty) in [
        (
            &fake.0,
            "user",
            "AH02455",
            "AH02458: AuthBasicFake: empty username",
        ),
        (
            &fake.1,
            "password",
            "AH02456",
            "AH02459: AuthBasicFake: empty password",
        ),
    ] {
        let value = {
            let context = super::expr::RequestContext::for_strings(req, &env);
            expr.eval(&context)
        };
        match value {
            Ok(value) if value.is_empty() => {
                let text = format!("{empty} expression for URI '{}', ignoring", req.uri);
                req.log_error("auth_basic", "info", &text);
                req.head.to_mut().headers.remove("Authorization");
                return Ok(());
            }
            Ok(value) => values.push(value),
            Err(err) => {
                let text = format!(
                    "{failed}: AuthBasicFake: could not evaluate {what} expression for URI \
                     '{}': {err}",
                    req.uri
                );
                req.log_error("auth_basic", "error", &text);
                return Err(500);
            }
        }
    }
    let line = auth_basic::fake_authorization(&values[0], &values[1]);
    req.log_error(
        "auth_basic",
        "info",
        &format!("AH02457: AuthBasicFake: \"Authorization: {line}\""),
    );
    req.head.to_mut().headers.set("Authorization", line);
    Ok(())
}
