//! mod_authn_core, whole: AuthType, AuthName and `<AuthnProviderAlias>` (table, setters,
//! typed per-directory configuration and merge); the request-time reading of AuthType and
//! AuthName is in `request::auth`.

use std::sync::Arc;

use rhttpd_directives::apply::walk_alias_body;
use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::{DirConfig, ModuleConfigs};
use rhttpd_directives::modules::core::provider_alias_names;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

pub static MODULE: ModuleDef = ModuleDef {
    id: "authn_core_module",
    source: "mod_authn_core.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "AuthType",
        Take1(auth_type),
        OR_AUTHCFG,
        "an HTTP authorization type (e.g., \"Basic\")",
    )
    .implemented(),
    DirectiveDef::new(
        "AuthName",
        Take1(auth_name),
        OR_AUTHCFG,
        "the authentication realm (e.g. \"Members Only\")",
    )
    .implemented(),
    DirectiveDef::new(
        "<AuthnProviderAlias",
        Raw(authn_provider_alias),
        RSRC_CONF,
        "container for grouping an authentication provider's directives under a provider alias",
    )
    .forbid(GLOBAL_ONLY)
    .implemented(),
];

/// `AuthType`: a string expression (evaluated per request), `None` aside.
fn auth_type(cmd: &mut Cmd, word: &str) -> SetResult {
    let none = word.eq_ignore_ascii_case("None");
    if !none {
        if let Err(err) = cmd.parse_string_expr(word) {
            return Err(format!(
                "Cannot parse expression '{word}' in AuthType: {err}"
            ));
        }
    }
    cmd.dir_config::<Dir>().auth_type = Some((!none).then(|| word.to_string()));
    Ok(())
}

/// `AuthName`: a string expression, evaluated per request.
fn auth_name(cmd: &mut Cmd, word: &str) -> SetResult {
    if let Err(err) = cmd.parse_string_expr(word) {
        return Err(format!(
            "Cannot parse expression '{word}' in AuthName: {err}"
        ));
    }
    cmd.dir_config::<Dir>().auth_name = Some(word.to_string());
    Ok(())
}

/// `<AuthnProviderAlias base alias>`: a named authentication provider with its own settings.
fn authn_provider_alias(cmd: &mut Cmd, raw: &str) -> SetResult {
    let (base, alias, _) = provider_alias_names(cmd, raw)?;
    if alias.eq_ignore_ascii_case(&base) {
        return Err(
            "The alias provider name must be different from the base provider name.".into(),
        );
    }
    if authn_provider_known(cmd, &alias) {
        return Err(format!("The alias provider {alias} has already be registered previously as either a base provider or an alias provider."));
    }
    // The alias is known from its opening on (its own body may name it).
    cmd.cfg.authn_aliases.push(alias.clone());
    // The body is the alias's own per-directory settings (its AuthUserFile).
    let body = walk_alias_body(cmd, OR_AUTHCFG | ACCESS_CONF)?;
    if !authn_provider_known(cmd, &base) {
        return Err(format!("Unknown Authn provider: {base}"));
    }
    let own = body;
    let aliases = &mut cmd.dir_config::<Dir>().aliases;
    aliases.push((alias, base, Arc::new(own)));
    Ok(())
}

/// Whether an authentication provider of that name (exact case) is registered so far:
/// a base provider of a loaded module, or an alias an earlier `<AuthnProviderAlias>` made.
pub fn authn_provider_known(cmd: &Cmd, name: &str) -> bool {
    let base = BASE_PROVIDERS.iter().any(|&(provider, module)| {
        provider == name && cmd.cfg.read.modules.iter().any(|m| m.id == module)
    });
    base || cmd.cfg.authn_aliases.iter().any(|alias| alias == name)
}

/// The authentication providers the modules register (name, module), for reports.
pub fn base_providers() -> &'static [(&'static str, &'static str)] {
    BASE_PROVIDERS
}

/// The authentication providers the modules register, with the module that does.
const BASE_PROVIDERS: &[(&str, &str)] = &[
    ("file", "authn_file_module"),
    ("anon", "authn_anon_module"),
    ("dbm", "authn_dbm_module"),
];

/// A provider an Auth*Provider line named, as a request checks with it: its base provider,
/// and the settings it reads (for an `<AuthnProviderAlias>`, the alias body's over the
/// request's, as Apache merges them).
pub struct Provider<'a> {
    pub base: &'a str,
    own: Option<&'a ModuleConfigs>,
    dir: &'a crate::modules::DirRuntime,
}

impl<'a> Provider<'a> {
    /// The provider `name` as the request's configuration knows it.
    pub fn named(dir: &'a crate::modules::DirRuntime, name: &'a str) -> Provider<'a> {
        let alias = dir.typed.get::<Dir>().and_then(|core| {
            core.aliases
                .iter()
                .rev()
                .find(|(alias, _, _)| alias == name)
        });
        match alias {
            Some((_, base, own)) => Provider {
                base,
                own: Some(own),
                dir,
            },
            None => Provider {
                base: name,
                own: None,
                dir,
            },
        }
    }

    /// The provider module's settings.
    pub fn settings<T: DirConfig>(&self) -> std::borrow::Cow<'a, T> {
        let inherited = self.dir.module::<T>();
        match self.own.and_then(|own| own.get::<T>()) {
            Some(own) => std::borrow::Cow::Owned(inherited.merge(own)),
            None => inherited,
        }
    }
}

/// Per-directory: AuthType and AuthName as written (string expressions, evaluated per
/// request), and the provider aliases the section's `<AuthnProviderAlias>` lines made.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    /// AuthType as written; `Some(None)` for `AuthType None`.
    pub auth_type: Option<Option<String>>,
    pub auth_name: Option<String>,
    /// `<AuthnProviderAlias base alias>`: (alias, base, the alias's own settings), written by
    /// the container's setter.
    pub aliases: Vec<(String, String, Arc<ModuleConfigs>)>,
}

impl DirConfig for Dir {
    /// A section's AuthType and AuthName win over what it inherits; aliases accumulate.
    fn merge(&self, child: &Dir) -> Dir {
        let mut aliases = self.aliases.clone();
        aliases.extend(child.aliases.iter().cloned());
        Dir {
            auth_type: child.auth_type.clone().or_else(|| self.auth_type.clone()),
            auth_name: child.auth_name.clone().or_else(|| self.auth_name.clone()),
            aliases,
        }
    }
}

impl Dir {
    /// The AuthType in force (`ap_auth_type`): none for unset or `None`.
    pub fn auth_type(&self) -> Option<&str> {
        self.auth_type.as_ref().and_then(|t| t.as_deref())
    }
}

use crate::hooks::{Hooks, Order};
use crate::request::{Request, Step};

/// mod_authn_core's hook: the authentication of last resort.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .check_user_id
        .add("authn_core", Order::Last, authenticate_no_user);
}

/// No AuthType: nothing to authenticate. An AuthType no module took: a configuration error.
fn authenticate_no_user(req: &mut Request) -> Step<Option<()>> {
    let dir = Arc::clone(&req.dir);
    let Some(kind) = crate::request::auth::auth_type(req, &dir) else {
        return Ok(Some(()));
    };
    let text = format!("AH01796: AuthType {kind} configured without corresponding module");
    req.log_error("authn_core", "error", &text);
    Err(500)
}
