//! mod_headers, whole: Header and RequestHeader (table, setters, typed per-directory
//! configuration and merge), and their effect. Response headers are set, appended, merged,
//! added, unset, echoed and edited once the handler is done. `onsuccess` (the default) works
//! on the successful response's headers and adds after Content-Length, as Apache's output
//! filter does; `always` works on the headers every response carries (errors and redirects
//! too) and comes first.

use std::sync::Arc;

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::OR_FILEINFO;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::regex::{Captures, Regex};
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::{next_word, starts_with_ignore_case};

use crate::hooks::{Fixup, Hooks, Order};
use crate::http1::Headers;
use crate::request::{Request, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "headers_module",
    source: "mod_headers.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "Header",
        Raw(header),
        OR_FILEINFO,
        "an optional condition, an action, header and value followed by optional env clause",
    )
    .implemented(),
    DirectiveDef::new(
        "RequestHeader",
        Raw(header),
        OR_FILEINFO,
        "an action, header and value followed by optional env clause",
    )
    .implemented(),
];

/// `Header [condition] action header [value] [replacement] [early|env=[!]var|expr=...]` and
/// RequestHeader: mod_headers' `header_cmd` and `header_inout_cmd`, check by check.
fn header(cmd: &mut Cmd, raw: &str) -> SetResult {
    let request = cmd.name() == "RequestHeader";
    let mut rest = raw;
    let mut action = next_word(&mut rest);
    let mut always = false;
    if !request
        && (action.eq_ignore_ascii_case("always") || action.eq_ignore_ascii_case("onsuccess"))
    {
        always = action.eq_ignore_ascii_case("always");
        action = next_word(&mut rest);
    }
    let hdr = next_word(&mut rest);
    let mut optional = || (!rest.is_empty()).then(|| next_word(&mut rest));
    let mut value = optional();
    let subs = optional();
    let envclause = optional();
    if !rest.is_empty() {
        return Err(format!("{} has too many arguments", cmd.name()));
    }
    const ACTIONS: &[&str] = &[
        "set",
        "setifempty",
        "add",
        "append",
        "merge",
        "unset",
        "echo",
        "edit",
        "edit*",
        "note",
    ];
    let Some(action) = ACTIONS.iter().find(|a| a.eq_ignore_ascii_case(&action)) else {
        return Err("first argument must be 'add', 'set', 'setifempty', 'append', 'merge', 'unset', 'echo', 'note', 'edit', or 'edit*'.".into());
    };
    let action = *action;
    if request && action == "note" {
        return Err("RequestHeader does not support the 'note' action".into());
    }
    let edit = action.starts_with("edit");
    let mut envclause = envclause;
    // The edit or echo regex, compiled once here.
    let mut pattern = None;
    if edit {
        if subs.is_none() {
            return Err("Header edit requires a match and a substitution".into());
        }
        match value.as_deref().map(Regex::new) {
            Some(Ok(compiled)) => pattern = Some(compiled),
            _ => return Err("Header edit regex could not be compiled".into()),
        }
    } else {
        if envclause.is_some() {
            return Err("Too many arguments to directive".into());
        }
        envclause = subs.clone();
    }
    match action {
        "unset" | "echo" => {
            if let Some(v) = value.take() {
                if envclause.is_some() {
                    return Err(if action == "unset" {
                        "header unset takes two arguments".into()
                    } else {
                        "Header echo takes two arguments".into()
                    });
                }
                envclause = Some(v);
            }
            if action == "echo" {
                if request {
                    return Err("Header echo only valid on Header directives".into());
                }
                match Regex::new(&hdr) {
                    Ok(compiled) => pattern = Some(compiled),
                    Err(_) => return Err("Header echo regex could not be compiled".into()),
                }
            }
        }
        _ if value.is_none() => return Err("Header requires three arguments".into()),
        _ => {}
    }
    let clause = envclause;
    let mut condition = None;
    if let Some(clause) = &clause {
        if clause.eq_ignore_ascii_case("early") {
        } else if starts_with_ignore_case(clause, "env=") {
            if clause.len() == 4 || &clause[4..] == "!" {
                return Err(
                    "error: missing environment variable name. envclause should be in the form env=envar ".into()
                );
            }
        } else if starts_with_ignore_case(clause, "expr=") {
            let expr = cmd
                .parse_expr(&clause[5..])
                .map_err(|err| format!("Can't parse envclause/expression: {err}"))?;
            condition = Some(Arc::new(expr));
        } else {
            return Err(format!("Unknown parameter: {clause}"));
        }
    }
    let format = if edit { subs } else { value };
    let mut value_expr = None;
    if let Some(format) = &format {
        match format.strip_prefix("expr=") {
            Some(text) => {
                let expr = cmd
                    .parse_string_expr(text)
                    .map_err(|err| format!("Can't parse value expression : {err}"))?;
                value_expr = Some(Arc::new(expr));
            }
            None => check_format(format)?,
        }
    }
    let action = match action {
        "set" => Action::Set,
        "setifempty" => Action::SetIfEmpty,
        "add" => Action::Add,
        "append" => Action::Append,
        "merge" => Action::Merge,
        "unset" => Action::Unset,
        "echo" | "edit" | "edit*" => match pattern {
            Some(pattern) if action == "echo" => Action::Echo(pattern),
            Some(pattern) => Action::Edit {
                pattern,
                all: action == "edit*",
            },
            None => return Ok(()),
        },
        // `note` copies to the request's notes, which nothing reads yet.
        _ => return Ok(()),
    };
    // mod_headers takes a header name up to a colon (`Header set X-A: v` names X-A).
    let mut name = hdr;
    if let Some(colon) = name.find(':') {
        name.truncate(colon);
    }
    // `env=` in any case, as Apache reads it.
    let env = clause
        .as_deref()
        .filter(|c| starts_with_ignore_case(c, "env="))
        .map(|c| &c[4..])
        .map(|v| match v.strip_prefix('!') {
            Some(name) => (name.to_string(), true),
            None => (v.to_string(), false),
        });
    let early = clause
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case("early"));
    let rule = Rule {
        always,
        action,
        name,
        value: format.unwrap_or_default(),
        env,
        condition,
        value_expr,
    };
    let config = cmd.dir_config::<Dir>();
    if request {
        config.request_rules.push((rule, early));
    } else {
        config.rules.push(rule);
    }
    Ok(())
}

/// The `%` tags of a header value: `%%`, a trailing `%`, or an optional `{arg}` and one of
/// the tags mod_headers registers.
fn check_format(format: &str) -> SetResult {
    let bytes = format.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        match bytes.get(i) {
            None => break,
            Some(b'%') => {
                i += 1;
                continue;
            }
            Some(b'{') => {
                i = match bytes[i..].iter().position(|&b| b == b'}') {
                    Some(close) => i + close + 1,
                    None => bytes.len(),
                };
            }
            Some(_) => {}
        }
        match bytes.get(i) {
            Some(b'D' | b't' | b'e' | b's' | b'l' | b'i' | b'b') => i += 1,
            other => {
                let tag = other
                    .map(|&b| char::from(b).to_string())
                    .unwrap_or_default();
                return Err(format!("Unrecognized header format %{tag}"));
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Action {
    Set,
    SetIfEmpty,
    Add,
    Append,
    Merge,
    Unset,
    Echo(Regex),
    Edit { pattern: Regex, all: bool },
}

#[derive(Debug, Clone)]
struct Rule {
    always: bool,
    action: Action,
    name: String,
    /// The value (or, for edit, the substitution) with its `%` tags.
    value: String,
    /// `env=VAR` / `env=!VAR`.
    env: Option<(String, bool)>,
    /// `expr=...`: the rule applies when the expression holds.
    condition: Option<Arc<rhttpd_directives::expr::Expr>>,
    /// A value written `expr=...`: a string expression giving the value.
    value_expr: Option<Arc<rhttpd_directives::expr::StringExpr>>,
}

#[derive(Debug, Clone, Default)]
pub struct Dir {
    rules: Vec<Rule>,
    /// RequestHeader rules, with whether each runs `early` (before the sections are merged).
    request_rules: Vec<(Rule, bool)>,
}

impl DirConfig for Dir {
    /// A section's rules come after those it inherits.
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            rules: self.rules.iter().chain(&child.rules).cloned().collect(),
            request_rules: self
                .request_rules
                .iter()
                .chain(&child.request_rules)
                .cloned()
                .collect(),
        }
    }
}

impl Dir {
    /// Whether any RequestHeader rule of this kind (`early` or not) is configured.
    pub fn edits_request(&self, early: bool) -> bool {
        self.request_rules.iter().any(|(_, e)| *e == early)
    }

    /// RequestHeader: applies the `early` rules or the others to the request's headers.
    pub fn fixup_request(&self, headers: &mut Headers, request: &RequestSide, early: bool) {
        let original = headers.clone();
        let side = RequestSide {
            eval: request.eval,
            eval_string: request.eval_string,
            headers: &original,
            env: request.env,
            started_us: request.started_us,
            elapsed_us: request.elapsed_us,
            tls: request.tls,
        };
        for (rule, rule_early) in &self.request_rules {
            if *rule_early != early || !condition_holds(rule, request) {
                continue;
            }
            let value = value_of(rule, &side);
            apply(
                &rule.action,
                &rule.name,
                &value,
                &mut Table::one(headers),
                &side,
            );
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// A rule's `env=` / `env=!` or `expr=` condition.
fn condition_holds(rule: &Rule, request: &RequestSide) -> bool {
    if let Some(condition) = &rule.condition {
        return (request.eval)(condition);
    }
    match &rule.env {
        Some((name, negated)) => super::env::get(request.env, name).is_some() != *negated,
        None => true,
    }
}

/// The rule's value: its string expression's result, or the value with its `%` tags.
fn value_of(rule: &Rule, request: &RequestSide) -> String {
    match &rule.value_expr {
        Some(expr) => (request.eval_string)(expr),
        None => expand(&rule.value, request),
    }
}

impl Dir {
    /// Applies the rules to a response (see [`Outgoing`]); `success` is false for error and
    /// redirect responses, which only `always` rules touch.
    pub fn fixup(&self, out: &mut Outgoing, request: &RequestSide, success: bool) {
        // The `always` rules run first, then (for a success) the others, as Apache's filter
        // does its two tables.
        let always = self.rules.iter().filter(|r| r.always);
        let onsuccess = self.rules.iter().filter(|r| !r.always && success);
        for rule in always.chain(onsuccess) {
            if !condition_holds(rule, request) {
                continue;
            }
            let value = value_of(rule, request);
            if rule.name.eq_ignore_ascii_case("Content-Type") {
                content_type_rule(&rule.action, &value, out.content_type);
            }
            if rule.always {
                apply(
                    &rule.action,
                    &rule.name,
                    &value,
                    &mut Table::one(out.first),
                    request,
                );
            } else {
                let mut table = Table {
                    parts: vec![&mut *out.head, &mut *out.tail],
                    last: 1,
                };
                apply(&rule.action, &rule.name, &value, &mut table, request);
            }
        }
    }
}

/// The response's headers in the three places mod_headers touches: `first` (the `always`
/// ones, sent before all others), `head` (before Content-Length), `tail` (after it, where new
/// `onsuccess` headers go).
pub struct Outgoing<'a> {
    pub first: &'a mut Headers,
    pub head: &'a mut Headers,
    pub tail: &'a mut Headers,
    /// The response's type (Apache's `r->content_type`), which rules on Content-Type change
    /// too; a Content-Type field they leave in a table is sent where it stands.
    pub content_type: &'a mut Option<String>,
}

/// What a rule on Content-Type does to the response's type besides its table: set and
/// setifempty make it the value (ap_set_content_type), edit edits it, unset takes it away.
fn content_type_rule(action: &Action, value: &str, content_type: &mut Option<String>) {
    match action {
        Action::Set | Action::SetIfEmpty => *content_type = Some(value.to_string()),
        Action::Edit { pattern, all } => {
            if let Some(current) = content_type.as_mut() {
                *current = edit(pattern, *all, current, value);
            }
        }
        Action::Unset => *content_type = None,
        _ => {}
    }
}

/// What a rule may read of the request.
pub struct RequestSide<'a> {
    /// Evaluates an `expr=` condition against the request (false when it fails).
    pub eval: &'a dyn Fn(&rhttpd_directives::expr::Expr) -> bool,
    /// Evaluates an `expr=` value (empty when it fails, as Apache leaves it).
    pub eval_string: &'a dyn Fn(&rhttpd_directives::expr::StringExpr) -> String,
    pub headers: &'a Headers,
    pub env: &'a [(String, String)],
    /// Microseconds since the epoch when the request arrived, and since then.
    pub started_us: u128,
    pub elapsed_us: u128,
    /// The connection's TLS session, for `%{VAR}s` (mod_ssl's variables).
    pub tls: Option<&'a crate::server::tls::TlsInfo>,
}

/// `%t`, `%D`, `%{VAR}e`, `%%` in a value.
fn expand(value: &str, request: &RequestSide) -> String {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut arg = None;
        if chars.peek() == Some(&'{') {
            chars.next();
            let mut text = String::new();
            for c in chars.by_ref() {
                if c == '}' {
                    break;
                }
                text.push(c);
            }
            arg = Some(text);
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('t') => out.push_str(&format!("t={}", request.started_us)),
            Some('D') => out.push_str(&format!("D={}", request.elapsed_us)),
            Some('e') => {
                let name = arg.unwrap_or_default();
                let value = super::env::get(request.env, &name).unwrap_or("(null)");
                // mod_headers unwraps a variable's line breaks into spaces (its other
                // control characters are left for the header filter to refuse).
                out.extend(value.chars().map(|c| match c {
                    '\r' | '\n' => ' ',
                    c => c,
                }));
            }
            Some('s') => {
                // mod_ssl's variable; `(null)` where there is none (plain HTTP, or empty).
                let name = arg.unwrap_or_default();
                let value = crate::modules::ssl::vars::lookup(request.tls, &name, false)
                    .filter(|v| !v.is_empty());
                out.push_str(value.as_deref().unwrap_or("(null)"));
            }
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// One or two header lists seen as one table (new entries go to the `last` part).
struct Table<'a> {
    parts: Vec<&'a mut Headers>,
    last: usize,
}

impl<'a> Table<'a> {
    fn one(headers: &'a mut Headers) -> Table<'a> {
        Table {
            parts: vec![headers],
            last: 0,
        }
    }

    fn find(&mut self, name: &str) -> Option<&mut (String, String)> {
        self.parts
            .iter_mut()
            .flat_map(|p| p.0.iter_mut())
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    fn remove(&mut self, name: &str) {
        for part in self.parts.iter_mut() {
            part.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        }
    }

    fn push(&mut self, name: &str, value: String) {
        self.parts[self.last].0.push((name.to_string(), value));
    }

    fn values(&self, name: &str) -> Vec<String> {
        self.parts
            .iter()
            .flat_map(|p| p.0.iter())
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

fn apply(action: &Action, name: &str, value: &str, table: &mut Table, request: &RequestSide) {
    match action {
        Action::Set => {
            let mut parts: Vec<&mut Vec<(String, String)>> =
                table.parts.iter_mut().map(|part| &mut part.0).collect();
            if !super::env::set_existing(&mut parts, name, value) {
                table.push(name, value.to_string());
            }
        }
        Action::SetIfEmpty => {
            if table.find(name).is_none() {
                table.push(name, value.to_string());
            }
        }
        Action::Add => table.push(name, value.to_string()),
        Action::Append => match table.find(name) {
            Some((_, v)) => *v = format!("{v}, {value}"),
            None => table.push(name, value.to_string()),
        },
        Action::Merge => match table.find(name) {
            Some((_, v)) => {
                let present = v.split(',').any(|t| t.trim() == value);
                if !present {
                    *v = format!("{v}, {value}");
                }
            }
            None => table.push(name, value.to_string()),
        },
        Action::Unset => table.remove(name),
        Action::Echo(pattern) => {
            for (n, v) in &request.headers.0 {
                if pattern.is_match(n) {
                    table.push(n, v.clone());
                }
            }
        }
        Action::Edit { pattern, all } => {
            let edited: Vec<String> = table
                .values(name)
                .into_iter()
                .map(|v| edit(pattern, *all, &v, value))
                .collect();
            if edited.is_empty() {
                return;
            }
            table.remove(name);
            for v in edited {
                table.push(name, v);
            }
        }
    }
}

/// `value` with the first match of `pattern` (every match, for `edit*`) replaced by
/// `substitution`. Built on bytes: without UTF mode a match may end inside a character.
fn edit(pattern: &Regex, all: bool, value: &str, substitution: &str) -> String {
    let subject = value.as_bytes();
    let mut out = Vec::with_capacity(subject.len());
    let mut copied = 0;
    let matches: Box<dyn Iterator<Item = Captures>> = if all {
        Box::new(pattern.captures_iter(subject))
    } else {
        Box::new(pattern.captures(subject).into_iter())
    };
    for caps in matches {
        let Some((start, end)) = caps.span(0) else {
            continue;
        };
        out.extend_from_slice(&subject[copied..start]);
        substitute(substitution, &caps, &mut out);
        copied = end;
    }
    out.extend_from_slice(&subject[copied..]);
    String::from_utf8_lossy(&out).into_owned()
}

/// An edit's substitution for one match: `$0`..`$9` are the groups (empty when missing),
/// `\\` is one backslash, anything else itself.
fn substitute(substitution: &str, caps: &Captures, out: &mut Vec<u8>) {
    let text = substitution.as_bytes();
    let mut i = 0;
    while i < text.len() {
        match (text[i], text.get(i + 1)) {
            (b'$', Some(d)) if d.is_ascii_digit() => {
                out.extend_from_slice(caps.get(usize::from(d - b'0')).unwrap_or_default());
                i += 2;
            }
            (b'\\', Some(b'\\')) => {
                out.push(b'\\');
                i += 2;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// mod_headers' hook: the RequestHeader lines that are not `early`, as a late fixup. (Its
/// response rules run as the response leaves the pipeline, in `pipeline::finish`.)
pub fn register_hooks(hooks: &mut Hooks) {
    hooks.fixups.add("headers", Order::Last, fixup);
}

fn fixup(req: &mut Request) -> Step<Fixup> {
    crate::request::pipeline::edit_request_headers(req, false);
    Ok(Fixup::Continue)
}
