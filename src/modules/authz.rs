//! mod_authz_core at request time: the tree of Require lines and `<RequireAll|Any|None>`
//! containers each section builds, AuthMerging, `<Limit>` method masks, and the evaluation
//! Apache does before authentication (no user yet) and after it.

use std::sync::Arc;

use rhttpd_directives::model::{RawSetting, CONTAINER_END};

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

impl Dir {
    /// Takes a setting this module owns; `false` for anyone else's.
    pub fn apply(&mut self, setting: &RawSetting, words: &[String]) -> bool {
        match setting.directive {
            "Require" => {
                let (negate, rest) = match words.split_first() {
                    Some((first, rest)) if first.eq_ignore_ascii_case("not") => (true, rest),
                    _ => (false, words),
                };
                let Some((provider, args)) = rest.split_first() else {
                    return true;
                };
                let provider = provider.to_ascii_lowercase();
                let expr = (provider == "expr").then(|| {
                    // The expression is the rest of the raw line, as Apache hands it over.
                    let raw = setting.args.trim_start();
                    let raw = if negate { raw[3..].trim_start() } else { raw };
                    let text = rhttpd_directives::modules::authz_core::expr_of_require_line(
                        raw[4..].trim(),
                    );
                    rhttpd_directives::expr::parse(text).ok().map(Arc::new)
                });
                let args = match &expr {
                    Some(_) => {
                        let raw = setting.args.trim_start();
                        let raw = if negate { raw[3..].trim_start() } else { raw };
                        vec![raw[4..].trim().to_string()]
                    }
                    None => args.to_vec(),
                };
                let line = Node::Line {
                    negate,
                    provider,
                    args,
                    limit: setting.limit,
                    expr: expr.flatten(),
                };
                self.add(line, setting.limit);
            }
            "<RequireAll" | "<RequireAny" | "<RequireNone" => {
                self.open.push(Group {
                    all_of: setting.directive == "<RequireAll",
                    negate: setting.directive == "<RequireNone",
                    ..Group::default()
                });
            }
            CONTAINER_END => {
                let Some(group) = self.open.pop() else {
                    return false;
                };
                if group.members.is_empty() {
                    return true;
                }
                let limit = group.limit;
                // A container of the same kind as its parent adds its members directly.
                let parent_all_of = self.open.last().is_some_and(|p| p.all_of);
                if !group.negate && group.all_of == parent_all_of {
                    for member in group.members {
                        self.add(member, limit);
                    }
                } else {
                    self.add(Node::Group(group), limit);
                }
            }
            "AuthMerging" => {
                self.merging = match words.first().map(|w| w.to_ascii_lowercase()).as_deref() {
                    Some("and") => Some(Merging::And),
                    Some("or") => Some(Merging::Or),
                    _ => Some(Merging::Off),
                };
            }
            "AuthzSendForbiddenOnFailure" => {
                self.forbidden_on_failure = words.first().map(|w| w.eq_ignore_ascii_case("on"));
            }
            _ => return false,
        }
        true
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

    /// Apache's merge: a section that sets nothing inherits; one with Require lines replaces
    /// what it inherits unless AuthMerging And/Or combines the two.
    pub fn merge(&self, child: &Dir) -> Dir {
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
pub fn core_provider(
    provider: &str,
    args: &[String],
    env: &[(String, String)],
    method_bit: u128,
) -> Option<Status> {
    let granted = match provider {
        "all" => args
            .first()
            .is_some_and(|a| a.eq_ignore_ascii_case("granted")),
        "env" => args.iter().any(|name| super::env::get(env, name).is_some()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use rhttpd_directives::model::Origin;

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

    fn setting(directive: &'static str, args: &str, limit: u128) -> RawSetting {
        RawSetting {
            directive,
            args: Arc::from(args),
            origin: Origin {
                file: Arc::from("t"),
                line: 1,
            },
            limit,
            regex_flags: rhttpd_directives::regex_defaults::DEFAULT,
        }
    }

    fn dir(lines: &[(&'static str, &str)]) -> Dir {
        let mut dir = Dir::default();
        for (directive, args) in lines {
            let s = setting(directive, args, u128::MAX);
            dir.apply(&s, &s.words());
        }
        dir
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
        let d = dir(&[
            ("<RequireAll", ""),
            ("Require", "all granted"),
            ("Require", "not ip 127.0.0.1"),
            (CONTAINER_END, ""),
        ]);
        assert_eq!(
            d.evaluate(&get(&["all granted", "ip 127.0.0.1"])),
            Some(Status::Denied)
        );
        assert_eq!(d.evaluate(&get(&["all granted"])), Some(Status::Granted));
    }

    #[test]
    fn none_of_denies_a_match_and_is_neutral_otherwise() {
        let d = dir(&[
            ("<RequireAll", ""),
            ("Require", "all granted"),
            ("<RequireNone", ""),
            ("Require", "ip 10.1"),
            (CONTAINER_END, ""),
            (CONTAINER_END, ""),
        ]);
        assert_eq!(
            d.evaluate(&get(&["all granted", "ip 10.1"])),
            Some(Status::Denied)
        );
        assert_eq!(d.evaluate(&get(&["all granted"])), Some(Status::Granted));
    }

    #[test]
    fn user_lines_ask_for_authentication() {
        let d = dir(&[("Require", "ip 10.1"), ("Require", "user alice")]);
        assert_eq!(d.evaluate(&get(&[])), Some(Status::DeniedNoUser));
        assert_eq!(d.evaluate(&get(&["ip 10.1"])), Some(Status::Granted));
    }

    #[test]
    fn limit_excludes_other_methods() {
        let mut d = Dir::default();
        let s = setting("Require", "all denied", method_mask("POST"));
        d.apply(&s, &s.words());
        assert_eq!(d.evaluate(&get(&[])), Some(Status::Granted));
        let post = Client {
            method: method_mask("POST"),
            granted: &[],
        };
        assert_eq!(d.evaluate(&post), Some(Status::Denied));
    }

    #[test]
    fn merging_and_or_off() {
        let parent = dir(&[("Require", "ip 10.1")]);
        let and = parent.merge(&dir(&[("AuthMerging", "And"), ("Require", "env ok")]));
        assert_eq!(and.evaluate(&get(&["ip 10.1"])), Some(Status::Denied));
        assert_eq!(
            and.evaluate(&get(&["ip 10.1", "env ok"])),
            Some(Status::Granted)
        );
        let or = parent.merge(&dir(&[("AuthMerging", "Or"), ("Require", "env ok")]));
        assert_eq!(or.evaluate(&get(&["env ok"])), Some(Status::Granted));
        let off = parent.merge(&dir(&[("Require", "env ok")]));
        assert_eq!(off.evaluate(&get(&["ip 10.1"])), Some(Status::Denied));
        let inherit = parent.merge(&Dir::default());
        assert_eq!(inherit.evaluate(&get(&["ip 10.1"])), Some(Status::Granted));
    }
}
