//! mod_authz_core, whole: Require, the `<RequireAll|Any|None>` containers, AuthMerging,
//! AuthzSendForbiddenOnFailure and `<AuthzProviderAlias>` (table, setters, typed
//! per-directory configuration and merge), and at request time the tree of Require lines and
//! containers each section builds, with `<Limit>` method masks, and the evaluation Apache
//! does before authentication (no user yet) and after it.

use std::sync::Arc;

use rhttpd_directives::apply::{walk_alias_body, walk_in_place_with};
use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::modules::core::{provider_alias_names, section_arg};
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::next_word;

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
    DirectiveDef::new("AuthzSendForbiddenOnFailure", Flag(forbidden_on_failure), OR_AUTHCFG, "Controls if an authorization failure should result in a '403 FORBIDDEN' response instead of the HTTP-conforming '401 UNAUTHORIZED'").implemented(),
];

/// The authorization providers each module registers (the first word after `Require [not]`).
const PROVIDERS: &[(&str, &[&str])] = &[
    ("authz_core_module", &["all", "env", "method", "expr"]),
    ("authz_host_module", &["ip", "host", "local", "forward-dns"]),
    ("authz_user_module", &["user", "valid-user"]),
    ("authz_groupfile_module", &["group", "file-group"]),
    ("authz_owner_module", &["file-owner"]),
    ("authz_dbm_module", &["dbm-group", "dbm-file-group"]),
    ("ssl_module", &["ssl", "ssl-verify-client"]),
];

/// The authorization providers the modules register (module, names), for reports.
pub fn providers() -> &'static [(&'static str, &'static [&'static str])] {
    PROVIDERS
}

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
/// negation only means something inside an all-of container. The line joins the innermost
/// open container (or the section's implicit any-of) for the methods `<Limit>` leaves it.
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
            if rhttpd_directives::methods::number(&method).is_none() {
                return Err(format!("Invalid Method '{method}'"));
            }
        }
    }
    // `Require expr`: the rest of the line, as Apache hands it over, is the expression.
    let mut expr = None;
    if provider.eq_ignore_ascii_case("expr") {
        let line = rest.trim();
        let parsed = cmd
            .parse_expr(expr_of_require_line(line))
            .map_err(|err| format!("Cannot parse expression in require line: {err}"))?;
        expr = Some((line.to_string(), Arc::new(parsed)));
    }
    // The providers that read their arguments as the line is read (Apache's
    // parse_require_line), before the container is looked at.
    if provider.eq_ignore_ascii_case("all")
        && !rest.trim().eq_ignore_ascii_case("granted")
        && !rest.trim().eq_ignore_ascii_case("denied")
    {
        return Err("Argument for 'Require all' must be 'granted' or 'denied'".into());
    }
    if provider.eq_ignore_ascii_case("ip") && loaded("authz_host_module") {
        super::authz_host::check_ip_args(rest)?;
    }
    if loaded("ssl_module") {
        super::ssl::check_require_line(&provider, rest)?;
    }
    let (all_of, parent_negated) = enclosing(cmd);
    if negated && !all_of {
        return Err(format!(
            "negative {} directive has no effect in {} directive",
            cmd.name(),
            container_name(all_of, parent_negated)
        ));
    }
    let limit = cmd.limit_mask;
    let (args, expr) = match expr {
        Some((text, expr)) => (vec![text], Some(expr)),
        None => (rhttpd_parser::split_words(rest), None),
    };
    let line = Node::Line {
        negate: negated,
        provider: provider.to_ascii_lowercase(),
        args,
        limit,
        expr,
    };
    cmd.dir_config::<Dir>().add(line, limit);
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

/// `<RequireAll>`, `<RequireAny>`, `<RequireNone>`: a group of authorization lines, open in
/// the section's config while its body is read.
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
    cmd.dir_config::<Dir>().open.push(Group {
        all_of,
        negate: negated,
        ..Group::default()
    });
    cmd.authz_sections.push((all_of, negated));
    let result = walk_in_place_with(cmd, OR_AUTHCFG, true);
    cmd.authz_sections.pop();
    cmd.dir_config::<Dir>().close();
    result?;
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

/// `<AuthzProviderAlias base alias [args]>`: a named provider usable in Require lines; its
/// body is the alias's own per-directory config (the runtime takes its AuthGroupFile).
fn authz_provider_alias(cmd: &mut Cmd, raw: &str) -> SetResult {
    let (base, alias, arg) = provider_alias_names(cmd, raw)?;
    let args = rhttpd_parser::split_words(arg.trim());
    cmd.cfg.authz_aliases.push(alias.clone());
    let body = walk_alias_body(cmd, OR_AUTHCFG | ACCESS_CONF)?;
    // `Require alias` runs `base` with these arguments and the alias's own AuthGroupFile.
    let group_file = body
        .get::<super::authz_groupfile::Dir>()
        .and_then(|own| own.group_file.clone());
    cmd.dir_config::<Dir>().aliases.push(Alias {
        name: alias.to_ascii_lowercase(),
        base: base.to_ascii_lowercase(),
        args,
        group_file,
    });
    Ok(())
}

fn auth_merging(cmd: &mut Cmd, arg: &str) -> SetResult {
    let merging = match arg.to_ascii_lowercase().as_str() {
        "off" => Merging::Off,
        "and" => Merging::And,
        "or" => Merging::Or,
        _ => return Err("AuthMerging must be one of: Off | And | Or".into()),
    };
    cmd.dir_config::<Dir>().merging = Some(merging);
    Ok(())
}

fn forbidden_on_failure(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().forbidden_on_failure = Some(on);
    Ok(())
}

/// What one provider, container or the whole tree concluded (Apache's `authz_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Granted,
    Denied,
    /// Denied, but an authenticated user might change that (`Require user`, `valid-user`).
    DeniedNoUser,
    Neutral,
    /// The provider could not decide and said why in the error log.
    Error,
}

/// One node of the tree: a Require line, or a container of nodes.
#[derive(Debug, Clone)]
enum Node {
    Line {
        negate: bool,
        provider: String,
        args: Vec<String>,
        /// The methods it applies to (`<Limit>`).
        limit: u128,
        /// `Require expr`: the parsed expression.
        expr: Option<Arc<rhttpd_directives::expr::Expr>>,
    },
    Group(Group),
}

#[derive(Debug, Clone, Default)]
struct Group {
    /// `<RequireAll>` (true) or `<RequireAny>` (false); RequireNone is a negated any-of.
    all_of: bool,
    negate: bool,
    /// The union of its members' methods.
    limit: u128,
    members: Vec<Node>,
}

/// AuthMerging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Merging {
    Off,
    And,
    Or,
}

/// An `<AuthzProviderAlias>`: a provider name standing for another with fixed arguments.
#[derive(Debug, Clone)]
pub struct Alias {
    pub name: String,
    pub base: String,
    pub args: Vec<String>,
    /// The AuthGroupFile set inside the alias.
    pub group_file: Option<String>,
}

/// Per-directory authorization: the tree this section (and what it merged) built.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    /// Provider aliases (server-wide; carried through every merge).
    pub aliases: Vec<Alias>,
    tree: Option<Arc<Group>>,
    merging: Option<Merging>,
    forbidden_on_failure: Option<bool>,
    /// Containers still open while compiling, innermost last.
    open: Vec<Group>,
}

/// What providers need to know about the request; `provider` answers for the ones other
/// modules register (host, user, group, ...).
pub trait Facts {
    /// Whether the request's method is among the ones in `mask`.
    fn method_in(&self, mask: u128) -> bool;
    /// The result of one `Require provider args` line.
    fn provider(&self, provider: &str, args: &[String]) -> Status;
    /// The result of a `Require expr` line (`text` is the expression as written).
    fn expression(&self, expr: &rhttpd_directives::expr::Expr, text: &str) -> Status;
}

impl DirConfig for Dir {
    /// Apache's merge: a section that sets nothing inherits; one with Require lines replaces
    /// what it inherits unless AuthMerging And/Or combines the two.
    fn merge(&self, child: &Dir) -> Dir {
        let forbidden_on_failure = child.forbidden_on_failure.or(self.forbidden_on_failure);
        let mut merged = if child.merging.is_none() && child.tree.is_none() && self.tree.is_some() {
            self.clone()
        } else {
            match (child.merging, &self.tree, &child.tree) {
                (None | Some(Merging::Off), _, _) | (_, None, None) => child.clone(),
                (Some(op), base, new) => {
                    let tree = match (base, new) {
                        (Some(base), Some(new)) => Arc::new(Group {
                            all_of: op == Merging::And,
                            negate: false,
                            limit: base.limit | new.limit,
                            members: vec![
                                Node::Group(Group::clone(base)),
                                Node::Group(Group::clone(new)),
                            ],
                        }),
                        (Some(one), None) | (None, Some(one)) => Arc::clone(one),
                        (None, None) => unreachable!("handled above"),
                    };
                    Dir {
                        aliases: Vec::new(),
                        tree: Some(tree),
                        merging: child.merging,
                        forbidden_on_failure: None,
                        open: Vec::new(),
                    }
                }
            }
        };
        merged.forbidden_on_failure = forbidden_on_failure;
        merged.aliases = self.aliases.clone();
        merged.aliases.extend(child.aliases.iter().cloned());
        merged
    }
}

impl Dir {
    /// Closes the innermost open container: an empty one vanishes, one of the same kind as
    /// its parent adds its members directly, any other joins its parent as a group.
    fn close(&mut self) {
        let Some(group) = self.open.pop() else {
            return;
        };
        if group.members.is_empty() {
            return;
        }
        let limit = group.limit;
        let parent_all_of = self.open.last().is_some_and(|p| p.all_of);
        if !group.negate && group.all_of == parent_all_of {
            for member in group.members {
                self.add(member, limit);
            }
        } else {
            self.add(Node::Group(group), limit);
        }
    }

    /// Adds a node to the innermost open container, or to the section's implicit any-of.
    fn add(&mut self, node: Node, limit: u128) {
        let group = match self.open.last_mut() {
            Some(group) => group,
            None => Arc::make_mut(self.tree.get_or_insert_with(|| Arc::new(Group::default()))),
        };
        group.limit |= limit;
        group.members.push(node);
    }

    /// Whether any Require applies here.
    pub fn has_rules(&self) -> bool {
        self.tree.is_some()
    }

    /// AuthzSendForbiddenOnFailure.
    pub fn forbidden_on_failure(&self) -> bool {
        self.forbidden_on_failure == Some(true)
    }

    /// The tree's verdict; `None` when no Require applies (Apache grants).
    pub fn evaluate(&self, facts: &dyn Facts) -> Option<Status> {
        let tree = self.tree.as_ref()?;
        Some(evaluate_group(tree, true, facts))
    }
}

/// Apache's `apply_authz_sections` for a container; `parent_all_of` decides what a node
/// limited to other methods counts as.
fn evaluate_group(group: &Group, parent_all_of: bool, facts: &dyn Facts) -> Status {
    if !facts.method_in(group.limit) {
        return skipped(parent_all_of);
    }
    let mut result = Status::Neutral;
    for member in &group.members {
        let outcome = match member {
            Node::Group(inner) => evaluate_group(inner, group.all_of, facts),
            Node::Line {
                negate,
                provider,
                args,
                limit,
                expr,
            } => {
                if !facts.method_in(*limit) {
                    skipped(group.all_of)
                } else if let Some(expr) = expr {
                    let text = args.first().map_or("", String::as_str);
                    negated(*negate, facts.expression(expr, text))
                } else {
                    negated(*negate, facts.provider(provider, args))
                }
            }
        };
        match outcome {
            Status::Error => return Status::Error,
            Status::Neutral => {}
            _ if group.all_of => {
                if outcome == Status::Denied {
                    result = outcome;
                    break;
                }
                if (outcome == Status::DeniedNoUser && result != Status::Denied)
                    || result == Status::Neutral
                {
                    result = outcome;
                }
            }
            _ => {
                if outcome == Status::Granted {
                    result = outcome;
                    break;
                }
                if (outcome == Status::DeniedNoUser && result == Status::Denied)
                    || result == Status::Neutral
                {
                    result = outcome;
                }
            }
        }
    }
    negated(group.negate, result)
}

/// A node whose `<Limit>` excludes the method: no objection inside an all-of, no say in an
/// any-of.
fn skipped(parent_all_of: bool) -> Status {
    if parent_all_of {
        Status::Granted
    } else {
        Status::Neutral
    }
}

/// `not`: a grant becomes a denial, a denial only neutral (not being refused grants nothing).
fn negated(negate: bool, status: Status) -> Status {
    match (negate, status) {
        (true, Status::Granted) => Status::Denied,
        (true, Status::Denied | Status::DeniedNoUser) => Status::Neutral,
        (_, status) => status,
    }
}

/// `Require all granted|denied`, `env`, `method`: mod_authz_core's own providers.
pub fn core_provider<'e>(
    provider: &str,
    args: &[String],
    env: &dyn Fn() -> &'e [(String, String)],
    method_bit: u128,
) -> Option<Status> {
    let granted = match provider {
        "all" => args
            .first()
            .is_some_and(|a| a.eq_ignore_ascii_case("granted")),
        "env" => args
            .iter()
            .any(|name| super::env::get(env(), name).is_some()),
        "method" => args.iter().any(|m| method_mask(m) & method_bit != 0),
        _ => return None,
    };
    Some(if granted {
        Status::Granted
    } else {
        Status::Denied
    })
}

/// The bit `<Limit>` and `Require method` use for a method (HEAD counts as GET, as in Apache;
/// a method nobody registered shares the last bit).
pub fn method_mask(method: &str) -> u128 {
    rhttpd_directives::methods::bit(method)
}

use crate::hooks::{Hooks, Order};
use crate::request::auth::{
    auth_type, denied_target, note_auth_failure, unauthorized, RequestFacts,
};
use crate::request::{Request, Step};

/// mod_authz_core's hooks: Require evaluated without a user before authentication, and with
/// the user after it; each last, as Apache registers them.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .access_checker_ex
        .add("authz_core", Order::Last, authorize_userless);
    hooks
        .auth_checker
        .add("authz_core", Order::Last, authorize_user);
}

/// The directory's Require rules for the request, with the user known so far.
fn evaluate_for(req: &mut Request, user: Option<&str>) -> Option<Status> {
    let dir = Arc::clone(&req.dir);
    dir.module::<Dir>().evaluate(&RequestFacts::new(req, user))
}

/// Granted without a user, declined (`None`) when the rules need one, or refused.
fn authorize_userless(req: &mut Request) -> Step<Option<()>> {
    let Some(status) = evaluate_for(req, None) else {
        let dir = Arc::clone(&req.dir);
        if auth_type(req, &dir).is_some() {
            req.log_error(
                "authz_core",
                "error",
                "AH01627: AuthType configured with no corresponding authorization directives",
            );
            return Err(500);
        }
        return Ok(Some(()));
    };
    match status {
        Status::Granted => Ok(Some(())),
        Status::DeniedNoUser => Ok(None),
        Status::Denied | Status::Neutral => {
            let text = format!(
                "AH01630: client denied by server configuration: {}",
                denied_target(req)
            );
            req.log_error("authz_core", "error", &text);
            Err(403)
        }
        Status::Error => Err(500),
    }
}

/// The authenticated user against the rules: a failure is a 401 with a new challenge, or a
/// 403 under AuthzSendForbiddenOnFailure.
fn authorize_user(req: &mut Request) -> Step<Option<()>> {
    let user = req.user.clone().unwrap_or_default();
    let status = evaluate_for(req, Some(&user)).unwrap_or(Status::Granted);
    match status {
        Status::Granted => Ok(Some(())),
        Status::DeniedNoUser => {
            let text = format!(
                "AH01629: authorization failure (no authenticated user): {}",
                req.uri
            );
            Err(unauthorized(req, "authz_core", &text))
        }
        Status::Denied | Status::Neutral => {
            let text = format!(
                "AH01631: user {user}: authorization failure for \"{}\": ",
                req.uri
            );
            req.log_error("authz_core", "error", &text);
            if req.dir.module::<Dir>().forbidden_on_failure() {
                return Err(403);
            }
            note_auth_failure(req);
            Err(401)
        }
        Status::Error => Err(500),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Client {
        method: u128,
        granted: &'static [&'static str],
    }

    impl Facts for Client {
        fn method_in(&self, mask: u128) -> bool {
            mask & self.method != 0
        }
        fn expression(&self, _: &rhttpd_directives::expr::Expr, _: &str) -> Status {
            Status::Denied
        }
        fn provider(&self, provider: &str, args: &[String]) -> Status {
            if provider == "user" {
                return Status::DeniedNoUser;
            }
            let key = format!("{provider} {}", args.join(" "));
            if self.granted.contains(&key.as_str()) {
                Status::Granted
            } else {
                Status::Denied
            }
        }
    }

    /// The authorization config of a `<Directory>` holding `lines`.
    fn dir(lines: &str) -> Dir {
        let text = format!("<Directory />\n{lines}</Directory>\n");
        crate::modules::test_section(&text)
            .module::<Dir>()
            .into_owned()
    }

    fn get(granted: &'static [&'static str]) -> Client {
        Client {
            method: method_mask("GET"),
            granted,
        }
    }

    #[test]
    fn no_require_grants_and_not_lines_veto() {
        assert_eq!(Dir::default().evaluate(&get(&[])), None);
        let d = dir("<RequireAll>\n\
             Require all granted\n\
             Require not ip 127.0.0.1\n\
             </RequireAll>\n");
        assert_eq!(
            d.evaluate(&get(&["all granted", "ip 127.0.0.1"])),
            Some(Status::Denied)
        );
        assert_eq!(d.evaluate(&get(&["all granted"])), Some(Status::Granted));
    }

    #[test]
    fn none_of_denies_a_match_and_is_neutral_otherwise() {
        let d = dir("<RequireAll>\n\
             Require all granted\n\
             <RequireNone>\n\
             Require ip 10.1\n\
             </RequireNone>\n\
             </RequireAll>\n");
        assert_eq!(
            d.evaluate(&get(&["all granted", "ip 10.1"])),
            Some(Status::Denied)
        );
        assert_eq!(d.evaluate(&get(&["all granted"])), Some(Status::Granted));
    }

    #[test]
    fn user_lines_ask_for_authentication() {
        let d = dir("Require ip 10.1\nRequire user alice\n");
        assert_eq!(d.evaluate(&get(&[])), Some(Status::DeniedNoUser));
        assert_eq!(d.evaluate(&get(&["ip 10.1"])), Some(Status::Granted));
    }

    #[test]
    fn limit_excludes_other_methods() {
        let d = dir("<Limit POST>\nRequire all denied\n</Limit>\n");
        assert_eq!(d.evaluate(&get(&[])), Some(Status::Granted));
        let post = Client {
            method: method_mask("POST"),
            granted: &[],
        };
        assert_eq!(d.evaluate(&post), Some(Status::Denied));
    }

    #[test]
    fn merging_and_or_off() {
        let parent = dir("Require ip 10.1\n");
        let and = parent.merge(&dir("AuthMerging And\nRequire env ok\n"));
        assert_eq!(and.evaluate(&get(&["ip 10.1"])), Some(Status::Denied));
        assert_eq!(
            and.evaluate(&get(&["ip 10.1", "env ok"])),
            Some(Status::Granted)
        );
        let or = parent.merge(&dir("AuthMerging Or\nRequire env ok\n"));
        assert_eq!(or.evaluate(&get(&["env ok"])), Some(Status::Granted));
        let off = parent.merge(&dir("Require env ok\n"));
        assert_eq!(off.evaluate(&get(&["ip 10.1"])), Some(Status::Denied));
        let inherit = parent.merge(&Dir::default());
        assert_eq!(inherit.evaluate(&get(&["ip 10.1"])), Some(Status::Granted));
    }
}
