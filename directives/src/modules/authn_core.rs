//! mod_authn_core: AuthType, AuthName and <AuthnProviderAlias>.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::set::next_word;

use super::core::section_arg;
use crate::apply::walk_alias_body;
use crate::cmd::Cmd;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

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
    if !word.eq_ignore_ascii_case("None") {
        if let Err(err) = crate::expr::parse_string(word) {
            return Err(format!(
                "Cannot parse expression '{word}' in AuthType: {err}"
            ));
        }
    }
    raw1(cmd, word)
}

/// `AuthName`: a string expression, evaluated per request.
fn auth_name(cmd: &mut Cmd, word: &str) -> SetResult {
    if let Err(err) = crate::expr::parse_string(word) {
        return Err(format!(
            "Cannot parse expression '{word}' in AuthName: {err}"
        ));
    }
    raw1(cmd, word)
}

/// `<AuthnProviderAlias base alias>`: a named authentication provider with its own settings.
fn authn_provider_alias(cmd: &mut Cmd, raw: &str) -> SetResult {
    let mut arg = section_arg(cmd, raw)?;
    let base = next_word(&mut arg);
    let alias = next_word(&mut arg);
    if alias.is_empty() {
        return Err(format!(
            "{}> directive requires additional arguments",
            cmd.name()
        ));
    }
    if alias.eq_ignore_ascii_case(&base) {
        return Err(
            "The alias provider name must be different from the base provider name.".into(),
        );
    }
    if authn_provider_known(cmd, &alias) {
        return Err(format!("The alias provider {alias} has already be registered previously as either a base provider or an alias provider."));
    }
    // The body is the alias's own per-directory settings: kept between markers so later
    // lines find the alias and the runtime gives it those settings.
    walk_alias_body(cmd, OR_AUTHCFG | ACCESS_CONF)?;
    if !authn_provider_known(cmd, &base) {
        return Err(format!("Unknown Authn provider: {base}"));
    }
    Ok(())
}

/// Whether an authentication provider of that name (exact case) is registered so far:
/// mod_authn_file's `file`, or an alias an earlier `<AuthnProviderAlias>` made.
pub fn authn_provider_known(cmd: &Cmd, name: &str) -> bool {
    let file = name == "file"
        && cmd
            .cfg
            .read
            .modules
            .iter()
            .any(|m| m.id == "authn_file_module");
    file || cmd
        .cfg
        .servers
        .iter()
        .flat_map(|server| &server.dir.settings)
        .filter(|s| s.directive == "<AuthnProviderAlias")
        .any(|s| {
            let mut arg = s.args.rfind('>').map_or(&s.args[..], |end| &s.args[..end]);
            next_word(&mut arg);
            next_word(&mut arg) == name
        })
}
