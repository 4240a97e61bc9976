//! mod_authz_core: Require and the <RequireAll|Any|None> containers.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::set::next_word;

use super::core::section_arg;
use crate::apply::{walk_alias_body, walk_in_place_with};
use crate::cmd::Cmd;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "authz_core_module",
    source: "mod_authz_core.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new("<AuthzProviderAlias", Raw(authz_provider_alias), RSRC_CONF, "container for grouping an authorization provider's directives under a provider alias").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("Require", Raw(require), OR_AUTHCFG, "specifies authorization directives which one must pass (or not) for a request to suceeed").implemented(),
    DirectiveDef::new("<RequireAll", Raw(require_container), OR_AUTHCFG, "container for grouping authorization directives of which none must fail and at least one must pass for a request to succeed").implemented(),
    DirectiveDef::new("<RequireAny", Raw(require_container), OR_AUTHCFG, "container for grouping authorization directives of which one must pass for a request to succeed").implemented(),
    DirectiveDef::new("<RequireNone", Raw(require_container), OR_AUTHCFG, "container for grouping authorization directives of which none must pass for a request to succeed").implemented(),
    DirectiveDef::new("AuthMerging", Take1(auth_merging), OR_AUTHCFG, "controls how a <Directory>, <Location>, or similar directive's authorization directives are combined with those of its predecessor").implemented(),
    DirectiveDef::new("AuthzSendForbiddenOnFailure", Flag(raw_flag), OR_AUTHCFG, "Controls if an authorization failure should result in a '403 FORBIDDEN' response instead of the HTTP-conforming '401 UNAUTHORIZED'").implemented(),
];

/// The authorization providers each module registers (the first word after `Require [not]`).
const PROVIDERS: &[(&str, &[&str])] = &[
    ("authz_core_module", &["all", "env", "method", "expr"]),
    ("authz_host_module", &["ip", "host", "local", "forward-dns"]),
    ("authz_user_module", &["user", "valid-user"]),
    ("authz_groupfile_module", &["group"]),
];

/// How Apache names an authorization container in messages (`<RequireAny>`, ...).
fn container_name(all_of: bool, negated: bool) -> &'static str {
    match (all_of, negated) {
        (true, false) => "<RequireAll>",
        (true, true) => "<RequireNotAll>",
        (false, false) => "<RequireAny>",
        (false, true) => "<RequireNone>",
    }
}

/// The container a Require line or nested container joins (the implicit one is "any of").
fn enclosing(cmd: &Cmd) -> (bool, bool) {
    cmd.authz_sections.last().copied().unwrap_or((false, false))
}

/// `Require [not] provider args`: the provider must be registered by a loaded module, and a
/// negation only means something inside an all-of container.
fn require(cmd: &mut Cmd, raw: &str) -> SetResult {
    let mut rest = raw;
    let mut provider = next_word(&mut rest);
    let negated = provider.eq_ignore_ascii_case("not");
    if negated {
        provider = next_word(&mut rest);
    }
    let loaded = |id: &str| cmd.cfg.read.modules.iter().any(|m| m.id == id);
    let known = PROVIDERS.iter().any(|(module, names)| {
        loaded(module) && names.iter().any(|n| n.eq_ignore_ascii_case(&provider))
    }) || cmd
        .cfg
        .authz_aliases
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&provider));
    if !known {
        return Err(format!("Unknown Authz provider: {provider}"));
    }
    // The methods must be known or registered by now.
    if provider.eq_ignore_ascii_case("method") {
        let mut words = rest;
        loop {
            let method = next_word(&mut words);
            if method.is_empty() {
                break;
            }
            if crate::methods::number(&method).is_none() {
                return Err(format!("Invalid Method '{method}'"));
            }
        }
    }
    if provider.eq_ignore_ascii_case("expr") {
        let line = rest.trim();
        crate::expr::parse(expr_of_require_line(line))
            .map_err(|err| format!("Cannot parse expression in require line: {err}"))?;
    }
    let (all_of, parent_negated) = enclosing(cmd);
    if negated && !all_of {
        return Err(format!(
            "negative {} directive has no effect in {} directive",
            cmd.name(),
            container_name(all_of, parent_negated)
        ));
    }
    cmd.store_raw();
    Ok(())
}

/// The expression of a `Require expr` line: the rest of the line, without surrounding double
/// quotes.
pub fn expr_of_require_line(line: &str) -> &str {
    if line.len() >= 2 && line.starts_with('"') && line.ends_with('"') {
        &line[1..line.len() - 1]
    } else {
        line
    }
}

/// `<RequireAll>`, `<RequireAny>`, `<RequireNone>`: a group of authorization lines.
fn require_container(cmd: &mut Cmd, raw: &str) -> SetResult {
    let arg = section_arg(cmd, raw)?;
    if !arg.is_empty() {
        return Err(format!(
            "{}> directive doesn't take additional arguments",
            cmd.name()
        ));
    }
    let (all_of, negated) = match cmd.name() {
        "<RequireAll" => (true, false),
        "<RequireAny" => (false, false),
        _ => (false, true),
    };
    let has_authz = cmd.node.children().iter().any(|c| {
        c.name.eq_ignore_ascii_case("Require")
            || c.name.to_ascii_lowercase().starts_with("<require")
    });
    // Stored as an opening marker, the body, and an end marker, so the runtime can rebuild
    // the tree from the flat settings list.
    cmd.store_raw();
    cmd.authz_sections.push((all_of, negated));
    let result = walk_in_place_with(cmd, OR_AUTHCFG, true);
    cmd.authz_sections.pop();
    result?;
    cmd.store_container_end();
    if !has_authz {
        return Err(format!(
            "{}> directive contains no authorization directives",
            cmd.name()
        ));
    }
    let (parent_all_of, parent_negated) = enclosing(cmd);
    if negated && !parent_all_of {
        return Err(format!(
            "{} directive has no effect in {} directive",
            container_name(all_of, negated),
            container_name(parent_all_of, parent_negated)
        ));
    }
    Ok(())
}

/// `<AuthzProviderAlias base alias [args]>`: a named provider usable in Require lines.
fn authz_provider_alias(cmd: &mut Cmd, raw: &str) -> SetResult {
    let mut arg = section_arg(cmd, raw)?;
    let _base = next_word(&mut arg);
    let alias = next_word(&mut arg);
    if alias.is_empty() {
        return Err(format!(
            "{}> directive requires additional arguments",
            cmd.name()
        ));
    }
    cmd.cfg.authz_aliases.push(alias);
    // The body is the alias's own per-directory settings, kept between markers.
    walk_alias_body(cmd, OR_AUTHCFG | ACCESS_CONF)?;
    Ok(())
}

fn auth_merging(cmd: &mut Cmd, arg: &str) -> SetResult {
    if !["off", "and", "or"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(arg))
    {
        return Err("AuthMerging must be one of: Off | And | Or".into());
    }
    cmd.store_raw();
    Ok(())
}
