//! mod_setenvif: SetEnvIf, SetEnvIfNoCase, BrowserMatch and BrowserMatchNoCase set or unset
//! variables when a request attribute (a special name, a header, a header-name regex, or a
//! variable set earlier) matches a regex, with `$1`..`$9` from the match.

use rhttpd_directives::regex::Regex;

use crate::http1::Headers;

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
}

#[derive(Debug, Clone, Default)]
pub struct Dir {
    conditions: Vec<Condition>,
}

/// Evaluates a SetEnvIfExpr condition with the environment as it stands: the regex
/// captures (`$0`..`$9`) when it holds.
pub type ExprEval<'a> =
    &'a dyn Fn(&rhttpd_directives::expr::Expr, &[(String, String)]) -> Option<Vec<Option<String>>>;

/// What the conditions look at.
pub struct Facts<'a> {
    pub eval: ExprEval<'a>,
    pub headers: &'a Headers,
    pub peer_ip: String,
    pub local_ip: String,
    pub method: &'a str,
    pub protocol: &'a str,
    pub uri: &'a str,
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

impl Dir {
    pub fn apply(&mut self, directive: &str, words: &[String]) -> bool {
        if directive == "SetEnvIfExpr" {
            let Some((text, assignments)) = words.split_first() else {
                return true;
            };
            // Validated when the configuration was read.
            let Ok(expr) = rhttpd_directives::expr::parse(text) else {
                return true;
            };
            self.conditions.push(Condition {
                attribute: Attribute::Expr(std::sync::Arc::new(expr)),
                pattern: None,
                assignments: assignments_of(assignments),
            });
            return true;
        }
        let (name, rest) = match directive {
            "SetEnvIf" | "SetEnvIfNoCase" => match words.split_first() {
                Some((name, rest)) => (name.as_str(), rest),
                None => return true,
            },
            "BrowserMatch" | "BrowserMatchNoCase" => ("User-Agent", words),
            _ => return false,
        };
        let icase = directive.ends_with("NoCase");
        let Some((pattern, assignments)) = rest.split_first() else {
            return true;
        };
        // Header names compare without case; SetEnvIfNoCase also matches values without it.
        // Validated, with this same type, when the configuration was read.
        let Ok(pattern) = Regex::new_icase(pattern, icase) else {
            return true;
        };
        self.conditions.push(Condition {
            attribute: attribute(name, true),
            pattern: Some(pattern),
            assignments: assignments_of(assignments),
        });
        true
    }

    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    pub fn merge(&self, child: &Dir) -> Dir {
        Dir {
            conditions: self
                .conditions
                .iter()
                .chain(&child.conditions)
                .cloned()
                .collect(),
        }
    }

    /// Runs every condition in order over the request, changing `env`.
    pub fn evaluate(&self, facts: &Facts, env: &mut Vec<(String, String)>) {
        for condition in &self.conditions {
            if let Attribute::Expr(expr) = &condition.attribute {
                if let Some(captures) = (facts.eval)(expr, env) {
                    assign(&condition.assignments, &captures, env);
                }
                continue;
            }
            let values: Vec<String> = match &condition.attribute {
                Attribute::RemoteHost | Attribute::RemoteAddr => vec![facts.peer_ip.clone()],
                Attribute::ServerAddr => vec![facts.local_ip.clone()],
                Attribute::RequestMethod => vec![facts.method.to_string()],
                Attribute::RequestProtocol => vec![facts.protocol.to_string()],
                Attribute::RequestUri => vec![facts.uri.to_string()],
                Attribute::Named(name) => vec![facts
                    .headers
                    .get(name)
                    .map(str::to_string)
                    .or_else(|| super::env::get(env, name).map(str::to_string))
                    // Missing counts as empty, so `^$` matches it.
                    .unwrap_or_default()],
                Attribute::NamePattern(names) => facts
                    .headers
                    .0
                    .iter()
                    .filter(|(n, _)| names.is_match(n))
                    .map(|(_, v)| v.clone())
                    .collect(),
                Attribute::Expr(_) => continue,
            };
            let Some(pattern) = &condition.pattern else {
                continue;
            };
            let Some(found) = values.iter().find_map(|v| pattern.captures(v)) else {
                continue;
            };
            let captures = found.texts(10);
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

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn sets_unsets_and_substitutes_in_order() {
        let mut dir = Dir::default();
        dir.apply(
            "BrowserMatch",
            &words(&["^Mozilla/(\\d)", "moz=v$1", "nokeep"]),
        );
        dir.apply("SetEnvIf", &words(&["moz", "v5", "!nokeep", "five"]));
        dir.apply(
            "SetEnvIfNoCase",
            &words(&["Request_URI", "\\.GIF$", "image=yes"]),
        );
        dir.apply("SetEnvIf", &words(&["X-Missing", "^$", "missing"]));
        let mut headers = Headers::default();
        headers.set("User-Agent", "Mozilla/5.0");
        let facts = Facts {
            eval: &|_, _| None,
            headers: &headers,
            peer_ip: "127.0.0.1".into(),
            local_ip: "127.0.0.1".into(),
            method: "GET",
            protocol: "HTTP/1.1",
            uri: "/a/b.gif",
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
