//! mod_setenvif, whole: SetEnvIf, SetEnvIfNoCase, SetEnvIfExpr, BrowserMatch and
//! BrowserMatchNoCase (table, setters, typed per-directory configuration and merge), and their
//! effect: variables set or unset when a request attribute (a special name, a header, a
//! header-name regex, or a variable set earlier) matches a regex, with `$1`..`$9` from the
//! match.

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::OR_FILEINFO;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::regex::Regex;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::{iterate_words, next_word, regex_compiles};

use crate::hooks::{Fixup, Hooks, Order};
use crate::http1::Headers;
use crate::request::{Request, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "setenvif_module",
    source: "mod_setenvif.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "SetEnvIf",
        Raw(set_env_if),
        OR_FILEINFO,
        "A header-name, regex and a list of variables.",
    )
    .implemented(),
    DirectiveDef::new(
        "SetEnvIfNoCase",
        Raw(set_env_if),
        OR_FILEINFO,
        "a header-name, regex and a list of variables.",
    )
    .implemented(),
    DirectiveDef::new(
        "SetEnvIfExpr",
        Raw(set_env_if_expr),
        OR_FILEINFO,
        "an expression and a list of variables.",
    )
    .implemented(),
    DirectiveDef::new(
        "BrowserMatch",
        Raw(browser_match),
        OR_FILEINFO,
        "A browser regex and a list of variables.",
    )
    .implemented(),
    DirectiveDef::new(
        "BrowserMatchNoCase",
        Raw(browser_match),
        OR_FILEINFO,
        "A browser regex and a list of variables.",
    )
    .implemented(),
];

/// SetEnvIf and SetEnvIfNoCase: an attribute (header name, header regex or special name),
/// a regex, and at least one variable.
fn set_env_if(cmd: &mut Cmd, raw: &str) -> SetResult {
    let mut rest = raw;
    let name = next_word(&mut rest);
    if name.is_empty() {
        return Err(format!("Missing header-field name for {}", cmd.name()));
    }
    add_conditional(cmd, &name, rest)
}

/// BrowserMatch and BrowserMatchNoCase: SetEnvIf on User-Agent.
fn browser_match(cmd: &mut Cmd, raw: &str) -> SetResult {
    add_conditional(cmd, "User-Agent", raw)
}

/// mod_setenvif's `add_setenvif_core`: the value regex compiles (unless it has no regex
/// metacharacters), then an attribute that is not a plain header name compiles as a regex,
/// then the variables.
fn add_conditional(cmd: &mut Cmd, name: &str, raw: &str) -> SetResult {
    let icase = cmd.name().ends_with("NoCase");
    let mut rest = raw;
    let regex = next_word(&mut rest);
    if regex.is_empty() {
        return Err(format!("Missing regular expression for {}", cmd.name()));
    }
    if !is_plain_pattern(&regex) && !regex_compiles(&regex, icase) {
        return Err(format!("{} regex could not be compiled.", cmd.name()));
    }
    const SPECIAL: &[&str] = &[
        "remote_addr",
        "remote_host",
        "request_uri",
        "request_method",
        "request_protocol",
        "server_addr",
    ];
    let special = SPECIAL.iter().any(|s| s.eq_ignore_ascii_case(name));
    let plain_name = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !special && !plain_name && !regex_compiles(name, icase) {
        return Err(format!(
            "{}Header name regex could not be compiled.",
            cmd.name()
        ));
    }
    let assignments = variables(cmd, rest)?;
    // Header names compare without case; the NoCase forms also match values without it. A
    // pattern without metacharacters is not checked above, and one that still fails to
    // compile as a regex never matches.
    if let Ok(pattern) = Regex::new_icase(&regex, icase) {
        let server_wide = cmd.at_server_level();
        cmd.dir_config::<Dir>().conditions.push(Condition {
            attribute: attribute(name, true),
            pattern: Some(pattern),
            assignments,
            server_wide,
        });
    }
    Ok(())
}

/// SetEnvIfExpr: an expression and at least one variable.
fn set_env_if_expr(cmd: &mut Cmd, raw: &str) -> SetResult {
    let mut rest = raw;
    let expression = next_word(&mut rest);
    if expression.is_empty() {
        return Err(format!("Missing expression for {}", cmd.name()));
    }
    let expr = cmd
        .parse_expr(&expression)
        .map_err(|err| format!("Could not parse expression \"{expression}\": {err}"))?;
    let assignments = variables(cmd, rest)?;
    let server_wide = cmd.at_server_level();
    cmd.dir_config::<Dir>().conditions.push(Condition {
        attribute: Attribute::Expr(std::sync::Arc::new(expr)),
        pattern: None,
        assignments,
        server_wide,
    });
    Ok(())
}

/// The variable words of a line: at least one.
fn variables(cmd: &Cmd, rest: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let words = iterate_words(rest);
    if words.is_empty() {
        return Err(format!("Missing envariable expression for {}", cmd.name()));
    }
    Ok(assignments_of(&words))
}

/// mod_setenvif's `non_regex_pattern`: no unescaped metacharacter and no escaped ordinary
/// character, so the pattern is matched as a plain string and never compiled.
fn is_plain_pattern(pattern: &str) -> bool {
    let mut escaped = false;
    for c in pattern.chars() {
        match c {
            '^' | '.' | '$' | '|' | '(' | ')' | '[' | ']' | '*' | '+' | '?' | '{' | '}' => {
                if !escaped {
                    return false;
                }
                escaped = false;
            }
            '\\' => escaped = !escaped,
            _ if escaped => return false,
            _ => {}
        }
    }
    true
}

/// What a condition tests.
#[derive(Debug, Clone)]
enum Attribute {
    RemoteHost,
    RemoteAddr,
    ServerAddr,
    RequestMethod,
    RequestProtocol,
    RequestUri,
    /// A header by name, else a variable of that name.
    Named(String),
    /// Every header whose name matches.
    NamePattern(Regex),
    /// SetEnvIfExpr: an ap_expr condition instead of an attribute and a regex.
    Expr(std::sync::Arc<rhttpd_directives::expr::Expr>),
}

#[derive(Debug, Clone)]
struct Condition {
    attribute: Attribute,
    /// The regex the attribute must match (None for an expression).
    pattern: Option<Regex>,
    /// (name, value or None to unset); a value of None after `!name`.
    assignments: Vec<(String, Option<String>)>,
    /// Written at a server's top level: Apache runs those at post_read_request, where
    /// Request_URI is the path as it arrived (not yet decoded).
    server_wide: bool,
}

/// mod_setenvif's per-directory configuration: the conditions, in order.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    conditions: Vec<Condition>,
}

impl DirConfig for Dir {
    /// A section's conditions run after those it inherits.
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            conditions: self
                .conditions
                .iter()
                .chain(&child.conditions)
                .cloned()
                .collect(),
        }
    }
}

/// Evaluates a SetEnvIfExpr condition with the environment as it stands: the regex
/// captures (`$0`..`$9`) when it holds.
pub type ExprEval<'a> =
    &'a dyn Fn(&rhttpd_directives::expr::Expr, &[(String, String)]) -> Option<Vec<Option<String>>>;

/// What the conditions look at.
pub struct Facts<'a> {
    pub eval: ExprEval<'a>,
    pub headers: &'a Headers,
    /// The client's and the server's addresses as text, made only for a rule that tests one.
    pub peer_ip: &'a dyn Fn() -> String,
    pub local_ip: &'a dyn Fn() -> String,
    pub method: &'a str,
    pub protocol: &'a str,
    /// The decoded path (per-directory rules' Request_URI).
    pub uri: &'a str,
    /// The path as the request sent it (server-wide rules' Request_URI).
    pub raw_uri: &'a str,
}

fn attribute(name: &str, icase: bool) -> Attribute {
    match name.to_ascii_lowercase().as_str() {
        "remote_host" => Attribute::RemoteHost,
        "remote_addr" => Attribute::RemoteAddr,
        "server_addr" => Attribute::ServerAddr,
        "request_method" => Attribute::RequestMethod,
        "request_protocol" => Attribute::RequestProtocol,
        "request_uri" => Attribute::RequestUri,
        _ => {
            let plain = name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            match (plain, Regex::new_icase(name, icase)) {
                (false, Ok(pattern)) => Attribute::NamePattern(pattern),
                _ => Attribute::Named(name.to_string()),
            }
        }
    }
}

/// mod_setenvif's hook. The rules themselves run wherever the request's environment is made
/// (`request::environment`), which is on demand; but Apache evaluates SetEnvIfExpr as the
/// request's headers are read, and the headers its expression reads join the response's Vary.
/// So where the rules hold an expression the environment is made at fixups, before the
/// pipeline settles Vary, whether or not anything else has asked for it by then.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .fixups
        .add("setenvif", Order::Last, note_expression_reads);
}

fn note_expression_reads(req: &mut Request) -> Step<Fixup> {
    if req
        .dir
        .typed
        .get::<Dir>()
        .is_some_and(|rules| rules.has_expressions())
    {
        crate::request::environment(req);
    }
    Ok(Fixup::Continue)
}

impl Dir {
    /// Whether a SetEnvIfExpr condition is among the rules.
    fn has_expressions(&self) -> bool {
        self.conditions
            .iter()
            .any(|c| matches!(c.attribute, Attribute::Expr(_)))
    }

    /// Runs every condition in order over the request, changing `env`.
    pub fn evaluate(&self, facts: &Facts, env: &mut Vec<(String, String)>) {
        // The header each named attribute found, for the rules after it that name it too
        // (Debian's fourteen BrowserMatch lines all read User-Agent): headers do not change
        // while the rules run.
        let mut fields: Vec<(&str, Option<&str>)> = Vec::new();
        for condition in &self.conditions {
            if let Attribute::Expr(expr) = &condition.attribute {
                if let Some(captures) = (facts.eval)(expr, env) {
                    assign(&condition.assignments, &captures, env);
                }
                continue;
            }
            let Some(pattern) = &condition.pattern else {
                continue;
            };
            // Most rules match nothing (Debian's fourteen BrowserMatch lines, for any browser
            // of this century): the plain test finds that, and only a match is taken apart
            // into its groups.
            let groups = |value: &str| {
                pattern
                    .is_match(value)
                    .then(|| pattern.captures(value).map(|found| found.texts(10)))
                    .flatten()
            };
            let found = match &condition.attribute {
                Attribute::RemoteHost | Attribute::RemoteAddr => groups(&(facts.peer_ip)()),
                Attribute::ServerAddr => groups(&(facts.local_ip)()),
                Attribute::RequestMethod => groups(facts.method),
                Attribute::RequestProtocol => groups(facts.protocol),
                Attribute::RequestUri if condition.server_wide => groups(facts.raw_uri),
                Attribute::RequestUri => groups(facts.uri),
                Attribute::Named(name) => {
                    let field = match fields.iter().find(|(n, _)| *n == name.as_str()) {
                        Some(&(_, field)) => field,
                        None => {
                            let field = facts.headers.get(name);
                            fields.push((name, field));
                            field
                        }
                    };
                    groups(
                        field
                            .or_else(|| super::env::get(env, name))
                            // Missing counts as empty, so `^$` matches it.
                            .unwrap_or_default(),
                    )
                }
                Attribute::NamePattern(names) => facts
                    .headers
                    .0
                    .iter()
                    .filter(|(n, _)| names.is_match(n))
                    .find_map(|(_, v)| groups(v)),
                Attribute::Expr(_) => continue,
            };
            let Some(captures) = found else {
                continue;
            };
            assign(&condition.assignments, &captures, env);
        }
    }
}

/// `name`, `name=value` and `!name` words.
fn assignments_of(words: &[String]) -> Vec<(String, Option<String>)> {
    words
        .iter()
        .map(|a| match a.strip_prefix('!') {
            Some(name) => (name.to_string(), None),
            None => match a.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (a.clone(), Some("1".to_string())),
            },
        })
        .collect()
}

fn assign(
    assignments: &[(String, Option<String>)],
    captures: &[Option<String>],
    env: &mut Vec<(String, String)>,
) {
    for (name, value) in assignments {
        match value {
            None => env.retain(|(n, _)| n != name),
            Some(value) => super::env::set(env, name, &expand(value, captures)),
        }
    }
}

/// `ap_pregsub`: `$0`..`$9` become the match's groups (empty when absent); a backslash keeps
/// the next character as it is.
fn expand(value: &str, captures: &[Option<String>]) -> String {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '$' if chars.peek().is_some_and(|d| d.is_ascii_digit()) => {
                let group = chars.next().and_then(|d| d.to_digit(10)).unwrap_or(0) as usize;
                out.push_str(captures.get(group).and_then(|c| c.as_deref()).unwrap_or(""));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_unsets_and_substitutes_in_order() {
        let runtime = crate::modules::test_dir(
            "BrowserMatch ^Mozilla/(\\d) moz=v$1 nokeep\n\
             SetEnvIf moz v5 !nokeep five\n\
             SetEnvIfNoCase Request_URI \\.GIF$ image=yes\n\
             SetEnvIf X-Missing ^$ missing\n",
        );
        let dir = runtime.module::<Dir>();
        let mut headers = Headers::default();
        headers.set("User-Agent", "Mozilla/5.0");
        let facts = Facts {
            eval: &|_, _| None,
            headers: &headers,
            peer_ip: &|| "127.0.0.1".into(),
            local_ip: &|| "127.0.0.1".into(),
            method: "GET",
            protocol: "HTTP/1.1",
            uri: "/a/b.gif",
            raw_uri: "/a/b.gif",
        };
        let mut env = Vec::new();
        dir.evaluate(&facts, &mut env);
        let get = |n: &str| super::super::env::get(&env, n).map(str::to_string);
        assert_eq!(get("moz").as_deref(), Some("v5"));
        assert_eq!(get("nokeep"), None);
        assert_eq!(get("five").as_deref(), Some("1"));
        assert_eq!(get("image").as_deref(), Some("yes"));
        assert_eq!(get("missing").as_deref(), Some("1"));
    }
}
