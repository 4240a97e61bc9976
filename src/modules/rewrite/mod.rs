//! mod_rewrite: its directive table and setters (RewriteEngine, RewriteOptions, RewriteBase,
//! RewriteCond, RewriteRule, RewriteMap), the typed per-server and per-directory rule sets
//! merged as mod_rewrite merges them, and its hooks: server-context rules at translate_name,
//! per-directory rules at fixups (ending in an internal redirect), the forced type and handler
//! at the end of fixups. The rule engine is in `engine.rs`, the maps in `maps.rs`.

mod engine;
pub(crate) mod maps;

use std::sync::Arc;

use crate::hooks::{Hooks, Order};
use crate::request::Request;
use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::{OR_FILEINFO, RSRC_CONF};
use rhttpd_directives::expr::Expr;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::regex::Regex;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

pub use engine::environment;
pub(crate) use engine::{forced_handler, forced_type};
pub(crate) use maps::Map;

pub static MODULE: ModuleDef = ModuleDef {
    id: "rewrite_module",
    source: "mod_rewrite.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "RewriteEngine",
        Flag(rewrite_engine),
        OR_FILEINFO,
        "On or Off to enable or disable (default) the whole rewriting engine",
    )
    .implemented(),
    DirectiveDef::new(
        "RewriteOptions",
        Iterate(rewrite_options),
        OR_FILEINFO,
        "List of option strings to set",
    )
    .implemented(),
    DirectiveDef::new(
        "RewriteBase",
        Take1(rewrite_base),
        OR_FILEINFO,
        "the base URL of the per-directory context",
    )
    .implemented(),
    DirectiveDef::new(
        "RewriteCond",
        Raw(rewrite_cond),
        OR_FILEINFO,
        "an input string and a to be applied regexp-pattern",
    )
    .implemented(),
    DirectiveDef::new(
        "RewriteRule",
        Raw(rewrite_rule),
        OR_FILEINFO,
        "an URL-applied regexp-pattern and a substitution URL",
    )
    .implemented(),
    DirectiveDef::new(
        "RewriteMap",
        Take23(rewrite_map),
        RSRC_CONF,
        "a mapname and a filename and options",
    )
    .implemented(),
];

/// RewriteOptions, as bits.
pub(crate) mod option {
    pub const INHERIT: u32 = 1 << 1;
    pub const INHERIT_BEFORE: u32 = 1 << 2;
    pub const NO_SLASH: u32 = 1 << 3;
    pub const ANY_URI: u32 = 1 << 4;
    pub const MERGE_BASE: u32 = 1 << 5;
    pub const INHERIT_DOWN: u32 = 1 << 6;
    pub const INHERIT_DOWN_BEFORE: u32 = 1 << 7;
    pub const IGNORE_INHERIT: u32 = 1 << 8;
    pub const IGNORE_CONTEXT_INFO: u32 = 1 << 9;
    pub const LEGACY_PREFIX_DOCROOT: u32 = 1 << 10;
    pub const LONG_URL_OPTIMIZATION: u32 = 1 << 11;
    pub const UNSAFE_PREFIX_STAT: u32 = 1 << 12;
}

/// RewriteRule flags, as bits.
pub(crate) mod flag {
    pub const FORCE_REDIRECT: u32 = 1 << 1;
    pub const LAST: u32 = 1 << 2;
    pub const NEXT_ROUND: u32 = 1 << 3;
    pub const CHAIN: u32 = 1 << 4;
    pub const NO_SUBREQ: u32 = 1 << 5;
    pub const NOT_MATCH: u32 = 1 << 6;
    pub const PROXY: u32 = 1 << 7;
    pub const PASS_THROUGH: u32 = 1 << 8;
    pub const QS_APPEND: u32 = 1 << 9;
    pub const NO_CASE: u32 = 1 << 10;
    pub const NO_ESCAPE: u32 = 1 << 11;
    pub const NO_SUB: u32 = 1 << 12;
    pub const STATUS: u32 = 1 << 13;
    pub const ESCAPE_BACKREF: u32 = 1 << 14;
    pub const DISCARD_PATH_INFO: u32 = 1 << 15;
    pub const QS_DISCARD: u32 = 1 << 16;
    pub const END: u32 = 1 << 17;
    pub const ESCAPE_NO_PLUS: u32 = 1 << 18;
    pub const QS_LAST: u32 = 1 << 19;
    pub const QS_NONE: u32 = 1 << 20;
    pub const ESCAPE_CTLS: u32 = 1 << 21;
    pub const UNSAFE_PREFIX_STAT: u32 = 1 << 22;
    pub const UNSAFE_ALLOW_3F: u32 = 1 << 23;
    pub const UNC: u32 = 1 << 24;
}

/// RewriteCond flags, as bits.
pub(crate) mod cond_flag {
    pub const NO_CASE: u32 = 1 << 1;
    pub const NOT_MATCH: u32 = 1 << 2;
    pub const OR_NEXT: u32 = 1 << 3;
    pub const NO_VARY: u32 = 1 << 4;
}

/// What a RewriteCond's pattern tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CondKind {
    Regex,
    FileExists,
    FileSize,
    FileLink,
    FileDir,
    FileExecutable,
    LookupUrl,
    LookupFile,
    StrLt,
    StrLe,
    StrEq,
    StrGt,
    StrGe,
    IntLt,
    IntLe,
    IntEq,
    IntGt,
    IntGe,
    Expr,
}

/// One RewriteCond.
#[derive(Debug, Clone)]
pub(crate) struct Cond {
    pub input: String,
    /// The pattern as written (with any `!` and operator), for the trace.
    pub shown: String,
    /// The operand once the `!` and operator are taken off.
    pub operand: String,
    pub kind: CondKind,
    pub flags: u32,
    pub regex: Option<Regex>,
    pub expr: Option<Expr>,
}

/// One RewriteRule with the conditions written before it.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub pattern: String,
    pub regex: Regex,
    pub output: String,
    pub flags: u32,
    pub forced_type: Option<String>,
    pub forced_handler: Option<String>,
    pub status: u16,
    pub env: Vec<String>,
    pub cookies: Vec<String>,
    pub skip: usize,
    pub max_rounds: i64,
    pub escapes: Option<String>,
    pub no_escapes: Option<String>,
    pub conds: Vec<Cond>,
    /// Whether anything the rule expands names a `$N` (the pattern's groups) or a `%N` (a
    /// condition's): when not, matching needs no group positions.
    pub uses_rule_groups: bool,
    pub uses_cond_groups: bool,
}

impl Rule {
    /// Notes which backreferences the rule's expansions use, once its conditions are known.
    fn note_backreferences(&mut self) {
        let texts = || {
            [&self.output]
                .into_iter()
                .chain(&self.env)
                .chain(&self.cookies)
                .chain(self.forced_type.iter())
                .chain(self.forced_handler.iter())
                .chain(self.conds.iter().map(|c| &c.input))
        };
        let names = |sigil: u8| {
            texts().any(|text| {
                text.as_bytes()
                    .windows(2)
                    .any(|w| w[0] == sigil && w[1].is_ascii_digit())
            })
        };
        self.uses_rule_groups = names(b'$');
        self.uses_cond_groups = names(b'%');
    }
}

/// mod_rewrite's per-server configuration: the server-context rules and the maps.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    /// A mod_rewrite directive appeared in this server (a virtual host with none shares the
    /// main server's configuration, which then never applies to it).
    defined: bool,
    engine: Option<bool>,
    options: Option<u32>,
    maps: Vec<(String, Arc<Map>)>,
    pending: Vec<Cond>,
    rules: Vec<Arc<Rule>>,
}

/// Apache's inheritance choice between a parent's and a child's rule lists.
enum Inheritance {
    After,
    Before,
    None,
}

fn inheritance(child_options: u32, parent_options: u32) -> Inheritance {
    let ignore = child_options & option::IGNORE_INHERIT != 0;
    if child_options & option::INHERIT != 0
        || (parent_options & option::INHERIT_DOWN != 0 && !ignore)
    {
        Inheritance::After
    } else if child_options & option::INHERIT_BEFORE != 0
        || (parent_options & option::INHERIT_DOWN_BEFORE != 0 && !ignore)
    {
        Inheritance::Before
    } else {
        Inheritance::None
    }
}

fn inherit<T: Clone>(how: &Inheritance, parent: &[T], child: &[T]) -> Vec<T> {
    match how {
        Inheritance::After => child.iter().chain(parent).cloned().collect(),
        Inheritance::Before => parent.iter().chain(child).cloned().collect(),
        Inheritance::None => child.to_vec(),
    }
}

impl DirConfig for ServerConf {
    /// A virtual host over the main server: the engine state and options fall through when
    /// the host sets none; rules and maps are the host's own unless an Inherit option asks.
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        let options = vhost.options.or(self.options);
        let how = inheritance(options.unwrap_or(0), self.options.unwrap_or(0));
        let maps = match how {
            // apr_hash_overlay: the first table's entries win.
            Inheritance::After => overlay(&vhost.maps, &self.maps),
            Inheritance::Before => overlay(&self.maps, &vhost.maps),
            Inheritance::None => vhost.maps.clone(),
        };
        ServerConf {
            defined: vhost.defined,
            engine: vhost.engine.or(self.engine),
            options,
            maps,
            pending: Vec::new(),
            rules: inherit(&how, &self.rules, &vhost.rules),
        }
    }
}

/// `apr_hash_overlay(first, second)`: every map of both, `first`'s where both name one.
fn overlay(first: &[(String, Arc<Map>)], second: &[(String, Arc<Map>)]) -> Vec<(String, Arc<Map>)> {
    let mut out = first.to_vec();
    for (name, map) in second {
        if !out.iter().any(|(n, _)| n == name) {
            out.push((name.clone(), Arc::clone(map)));
        }
    }
    out
}

impl ServerConf {
    pub(crate) fn map(&self, name: &str) -> Option<&Arc<Map>> {
        self.maps.iter().find(|(n, _)| n == name).map(|(_, m)| m)
    }

    fn options(&self) -> u32 {
        self.options.unwrap_or(0)
    }
}

/// mod_rewrite's per-directory configuration. A section or `.htaccess` without any mod_rewrite
/// directive leaves its parent's configuration as it is (Apache creates a module's section
/// configuration only when one of its directives is read there).
#[derive(Debug, Clone, Default)]
pub struct Dir {
    defined: bool,
    engine: Option<bool>,
    options: Option<u32>,
    base: Option<String>,
    base_set: bool,
    pending: Vec<Cond>,
    rules: Vec<Arc<Rule>>,
    /// The directory the rules were written for, with a trailing slash (`None` at a server's
    /// top level, where per-directory rules never run).
    directory: Option<Arc<str>>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        if !child.defined {
            return self.clone();
        }
        let options = child.options.or(self.options);
        let (base, base_set) = if options.unwrap_or(0) & option::MERGE_BASE != 0 {
            if child.base_set {
                (child.base.clone(), true)
            } else {
                (self.base.clone(), self.base_set)
            }
        } else {
            (child.base.clone(), child.base_set)
        };
        let how = inheritance(options.unwrap_or(0), self.options.unwrap_or(0));
        Dir {
            defined: true,
            engine: child.engine.or(self.engine),
            options,
            base,
            base_set,
            pending: Vec::new(),
            rules: inherit(&how, &self.rules, &child.rules),
            directory: child.directory.clone(),
        }
    }
}

impl Dir {
    fn enabled(&self) -> bool {
        self.engine == Some(true)
    }

    fn options(&self) -> u32 {
        self.options.unwrap_or(0)
    }
}

/// The per-directory configuration a setter writes, marked as set here, with the directory
/// it stands for.
fn dir_conf<'a>(cmd: &'a mut Cmd) -> &'a mut Dir {
    let directory = cmd.path.as_ref().map(|path| -> Arc<str> {
        if path.ends_with('/') {
            Arc::from(path.as_str())
        } else {
            Arc::from(format!("{path}/"))
        }
    });
    server_conf(cmd);
    let dir = cmd.dir_config::<Dir>();
    if !dir.defined {
        dir.defined = true;
        dir.directory = directory;
    }
    dir
}

/// The server's configuration, marked as set: any mod_rewrite directive in a server (in a
/// section too) gives it one of its own.
fn server_conf<'a>(cmd: &'a mut Cmd) -> &'a mut ServerConf {
    let conf = cmd.server_config::<ServerConf>();
    conf.defined = true;
    conf
}

/// Whether the directive is read outside any per-directory context (Apache's
/// `cmd->path == NULL`).
fn server_command(cmd: &Cmd) -> bool {
    cmd.path.is_none() && !cmd.htaccess
}

fn rewrite_engine(cmd: &mut Cmd, on: bool) -> SetResult {
    if server_command(cmd) {
        server_conf(cmd).engine = Some(on);
    }
    dir_conf(cmd).engine = Some(on);
    Ok(())
}

fn rewrite_options(cmd: &mut Cmd, word: &str) -> SetResult {
    let bit = match word.to_ascii_lowercase().as_str() {
        "inherit" => option::INHERIT,
        "inheritbefore" => option::INHERIT_BEFORE,
        "inheritdown" => option::INHERIT_DOWN,
        "inheritdownbefore" => option::INHERIT_DOWN_BEFORE,
        "ignoreinherit" => option::IGNORE_INHERIT,
        "allownoslash" => option::NO_SLASH,
        "allowanyuri" => option::ANY_URI,
        "mergebase" => option::MERGE_BASE,
        "ignorecontextinfo" => option::IGNORE_CONTEXT_INFO,
        "legacyprefixdocroot" => option::LEGACY_PREFIX_DOCROOT,
        "longurloptimization" => option::LONG_URL_OPTIMIZATION,
        "unsafeprefixstat" => option::UNSAFE_PREFIX_STAT,
        lower if lower.starts_with("maxredirects=") => {
            cmd.log_warning(
                "rewrite",
                "AH00664: RewriteOptions: MaxRedirects option has been removed in favor of the \
                 global LimitInternalRecursion directive and will be ignored."
                    .to_string(),
            );
            0
        }
        _ => return Err(format!("RewriteOptions: unknown option '{word}'")),
    };
    if server_command(cmd) {
        let conf = server_conf(cmd);
        conf.options = Some(conf.options.unwrap_or(0) | bit);
    }
    let dir = dir_conf(cmd);
    dir.options = Some(dir.options.unwrap_or(0) | bit);
    Ok(())
}

fn rewrite_base(cmd: &mut Cmd, url: &str) -> SetResult {
    if server_command(cmd) {
        return Err("RewriteBase: only valid in per-directory config files".into());
    }
    if url.is_empty() {
        return Err("RewriteBase: empty URL not allowed".into());
    }
    if !url.starts_with('/') {
        return Err("RewriteBase: argument is not a valid URL".into());
    }
    let dir = dir_conf(cmd);
    dir.base = Some(url.to_string());
    dir.base_set = true;
    Ok(())
}

/// C's `isspace`, which mod_rewrite's parsers use: vertical tab and form feed count too.
pub(crate) use crate::http1::body::is_c_space as c_space;

/// mod_rewrite's own argument splitting: two or three words, each optionally quoted with `"`
/// or `'`, a backslash keeping a following space in the word (the backslash stays, for the
/// expansion to drop); anything after the third word is ignored. `None` when there is no
/// second word. Also whether the second word ended in `?`.
fn split_arguments(line: &str) -> Option<([String; 2], Option<String>, bool)> {
    let bytes = line.as_bytes();
    let mut at = 0;
    let skip_space = |at: &mut usize| {
        while *at < bytes.len() && c_space(bytes[*at]) {
            *at += 1;
        }
    };
    // One word from `at`, and whether the line ended with it.
    let word = |at: &mut usize| -> (String, bool) {
        let quote = match bytes.get(*at) {
            Some(&q @ (b'"' | b'\'')) => {
                *at += 1;
                q
            }
            _ => 0,
        };
        let start = *at;
        while *at < bytes.len() {
            let c = bytes[*at];
            if (c_space(c) && quote == 0) || (quote != 0 && c == quote) {
                break;
            }
            if c == b'\\' && bytes.get(*at + 1).is_some_and(|b| c_space(*b)) {
                *at += 2;
                continue;
            }
            *at += 1;
        }
        (line[start..*at].to_string(), *at >= bytes.len())
    };
    skip_space(&mut at);
    let (first, ended) = word(&mut at);
    if ended {
        return None;
    }
    at += 1;
    skip_space(&mut at);
    let (second, ended) = word(&mut at);
    let trailing_qmark = second.ends_with('?');
    if ended {
        return Some(([first, second], None, trailing_qmark));
    }
    at += 1;
    skip_space(&mut at);
    if at >= bytes.len() {
        return Some(([first, second], None, trailing_qmark));
    }
    let (third, _) = word(&mut at);
    Some(([first, second], Some(third), trailing_qmark))
}

/// The `[...]` flag list, each `key` or `key=value` handed to `set` (mod_rewrite's lexer:
/// split at commas, spaces trimmed around each flag).
fn parse_flags(
    field: &str,
    mut set: impl FnMut(&str, &str) -> Result<(), String>,
) -> Result<(), String> {
    let inner = field
        .strip_prefix('[')
        .and_then(|f| f.strip_suffix(']'))
        .ok_or("bad flag delimiters")?;
    let list = format!("{inner},");
    let mut rest = list.as_str();
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii() && c_space(c as u8));
        let Some(comma) = rest.find(',') else {
            break;
        };
        if rest.is_empty() {
            break;
        }
        let item = rest[..comma].trim_end_matches(|c: char| c.is_ascii() && c_space(c as u8));
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        set(key, value)?;
        rest = &rest[comma + 1..];
    }
    Ok(())
}

fn rewrite_cond(cmd: &mut Cmd, line: &str) -> SetResult {
    let Some(([input, pattern], flags_field, _)) = split_arguments(line) else {
        return Err(format!("RewriteCond: bad argument line '{line}'"));
    };
    let mut flags = 0;
    if let Some(field) = &flags_field {
        parse_flags(field, |key, _| {
            flags |= match key.to_ascii_lowercase().as_str() {
                "nocase" | "nc" => cond_flag::NO_CASE,
                "ornext" | "or" => cond_flag::OR_NEXT,
                "novary" | "nv" => cond_flag::NO_VARY,
                _ => return Err(format!("unknown flag '{key}'")),
            };
            Ok(())
        })
        .map_err(|why| format!("RewriteCond: {why}"))?;
    }
    let mut operand = pattern.as_str();
    if let Some(rest) = operand.strip_prefix('!') {
        flags |= cond_flag::NOT_MATCH;
        operand = rest;
    }
    let mut kind = CondKind::Regex;
    let op = operand.as_bytes();
    if input.eq_ignore_ascii_case("expr") {
        kind = CondKind::Expr;
    } else if op.len() >= 2 {
        if op[0] == b'-' {
            if op.len() == 2 {
                kind = match op[1] {
                    b'f' => CondKind::FileExists,
                    b's' => CondKind::FileSize,
                    b'd' => CondKind::FileDir,
                    b'x' => CondKind::FileExecutable,
                    b'h' | b'L' | b'l' => CondKind::FileLink,
                    b'U' => CondKind::LookupUrl,
                    b'F' => CondKind::LookupFile,
                    _ => CondKind::Regex,
                };
            } else if op.len() > 3 {
                let integer = match (op[1], op[2]) {
                    (b'l', b't') => Some(CondKind::IntLt),
                    (b'l', b'e') => Some(CondKind::IntLe),
                    (b'g', b't') => Some(CondKind::IntGt),
                    (b'g', b'e') => Some(CondKind::IntGe),
                    (b'e', b'q') => Some(CondKind::IntEq),
                    (b'n', b'e') => {
                        // `-ne` is `-eq` inverted, so `!-ne` is `-eq`.
                        flags ^= cond_flag::NOT_MATCH;
                        Some(CondKind::IntEq)
                    }
                    _ => None,
                };
                if let Some(integer) = integer {
                    kind = integer;
                    operand = &operand[3..];
                }
            }
        } else {
            match op[0] {
                b'>' if op[1] == b'=' => (kind, operand) = (CondKind::StrGe, &operand[2..]),
                b'>' => (kind, operand) = (CondKind::StrGt, &operand[1..]),
                b'<' if op[1] == b'=' => (kind, operand) = (CondKind::StrLe, &operand[2..]),
                b'<' => (kind, operand) = (CondKind::StrLt, &operand[1..]),
                b'=' => {
                    kind = CondKind::StrEq;
                    operand = &operand[1..];
                    // `=""` compares with the empty string.
                    if operand == "\"\"" {
                        operand = "";
                    }
                }
                _ => {}
            }
        }
    }
    let string_compare = matches!(
        kind,
        CondKind::StrLt | CondKind::StrLe | CondKind::StrEq | CondKind::StrGt | CondKind::StrGe
    );
    if kind != CondKind::Regex && !string_compare && flags & cond_flag::NO_CASE != 0 {
        let origin = cmd.origin();
        cmd.log_warning(
            "rewrite",
            format!(
                "AH00665: RewriteCond: NoCase option for non-regex pattern '{operand}' is not \
                 supported and will be ignored. ({}:{})",
                origin.file, origin.line
            ),
        );
        flags &= !cond_flag::NO_CASE;
    }
    let mut cond = Cond {
        input: input.clone(),
        shown: pattern.clone(),
        operand: operand.to_string(),
        kind,
        flags,
        regex: None,
        expr: None,
    };
    match kind {
        CondKind::Regex => {
            let regex =
                Regex::new_icase(operand, flags & cond_flag::NO_CASE != 0).map_err(|_| {
                    format!("RewriteCond: cannot compile regular expression '{operand}'")
                })?;
            cond.regex = Some(regex);
        }
        CondKind::Expr => {
            let place = if cmd.htaccess {
                " in htaccess context"
            } else {
                ""
            };
            let expr = cmd.parse_expr(operand).map_err(|why| {
                format!("RewriteCond: cannot compile expression{place} \"{operand}\" {why}")
            })?;
            cond.expr = Some(expr);
        }
        _ => {}
    }
    if server_command(cmd) {
        server_conf(cmd).pending.push(cond);
    } else {
        dir_conf(cmd).pending.push(cond);
    }
    Ok(())
}

fn rewrite_rule(cmd: &mut Cmd, line: &str) -> SetResult {
    let Some(([pattern, mut output], flags_field, trailing_qmark)) = split_arguments(line) else {
        return Err(format!("RewriteRule: bad argument line '{line}'"));
    };
    let mut rule = Rule {
        pattern: String::new(),
        regex: Regex::new("").expect("the empty pattern compiles"),
        output: String::new(),
        flags: 0,
        forced_type: None,
        forced_handler: None,
        status: 302,
        env: Vec::new(),
        cookies: Vec::new(),
        skip: 0,
        max_rounds: 10000,
        escapes: None,
        no_escapes: None,
        conds: Vec::new(),
        uses_rule_groups: true,
        uses_cond_groups: true,
    };
    if let Some(field) = &flags_field {
        parse_flags(field, |key, value| set_rule_flag(&mut rule, key, value))
            .map_err(|why| format!("RewriteRule: {why}"))?;
    }
    let mut pattern = pattern.as_str();
    if let Some(rest) = pattern.strip_prefix('!') {
        rule.flags |= flag::NOT_MATCH;
        pattern = rest;
    }
    rule.regex = Regex::new_icase(pattern, rule.flags & flag::NO_CASE != 0)
        .map_err(|_| format!("RewriteRule: cannot compile regular expression '{pattern}'"))?;
    rule.pattern = pattern.to_string();
    if output == "-" {
        rule.flags |= flag::NO_SUB;
    }
    if trailing_qmark {
        if rule.flags & flag::QS_APPEND != 0 {
            rule.flags |= flag::QS_LAST;
        } else {
            // A literal `?` at the end: no query from the substitution, and none kept.
            rule.flags |= flag::QS_NONE;
            output.pop();
        }
    } else if rule.flags & flag::QS_DISCARD != 0 && !output.contains('?') {
        rule.flags |= flag::QS_NONE;
    }
    rule.output = output;
    if server_command(cmd) {
        let conf = server_conf(cmd);
        rule.conds = std::mem::take(&mut conf.pending);
        rule.note_backreferences();
        conf.rules.push(Arc::new(rule));
    } else {
        let dir = dir_conf(cmd);
        rule.conds = std::mem::take(&mut dir.pending);
        rule.note_backreferences();
        dir.rules.push(Arc::new(rule));
    }
    Ok(())
}

/// One flag of a RewriteRule, by mod_rewrite's first-letter dispatch (so `[D...]` takes any
/// tail, as Apache's does).
fn set_rule_flag(rule: &mut Rule, key: &str, value: &str) -> Result<(), String> {
    let unknown = || Err(format!("unknown flag '{key}'"));
    let Some(first) = key.chars().next() else {
        return unknown();
    };
    let tail = key[first.len_utf8()..].to_ascii_lowercase();
    let tail = tail.as_str();
    match first.to_ascii_lowercase() {
        'b' => match tail {
            "" | "ackrefescaping" => {
                rule.flags |= flag::ESCAPE_BACKREF;
                if !value.is_empty() {
                    rule.escapes = Some(value.to_string());
                }
            }
            "ne" => {
                if value.is_empty() {
                    return Err("flag 'BNE' wants a list of characters (i.e. [BNE=...])".into());
                }
                rule.no_escapes = Some(value.to_string());
            }
            "np" | "ackrefernoplus" => rule.flags |= flag::ESCAPE_NO_PLUS,
            "ctls" => rule.flags |= flag::ESCAPE_CTLS | flag::ESCAPE_BACKREF,
            _ => return unknown(),
        },
        'c' => match tail {
            "" | "hain" => rule.flags |= flag::CHAIN,
            "o" | "ookie" => rule.cookies.push(value.to_string()),
            _ => return unknown(),
        },
        'd' => {
            if tail.is_empty() || tail == "pi" || tail == "iscardpath" {
                rule.flags |= flag::DISCARD_PATH_INFO;
            }
        }
        'e' => match tail {
            "" | "nv" => rule.env.push(value.to_string()),
            "nd" => rule.flags |= flag::END,
            _ => return unknown(),
        },
        'f' => match tail {
            "" | "orbidden" => {
                rule.flags |= flag::STATUS | flag::NO_SUB;
                rule.status = 403;
            }
            _ => return unknown(),
        },
        'g' => match tail {
            "" | "one" => {
                rule.flags |= flag::STATUS | flag::NO_SUB;
                rule.status = 410;
            }
            _ => return unknown(),
        },
        'h' => match tail {
            "" | "andler" => rule.forced_handler = Some(value.to_string()),
            _ => return unknown(),
        },
        'l' => match tail {
            "" | "ast" => rule.flags |= flag::LAST,
            _ => return unknown(),
        },
        'n' => match tail {
            "e" | "oescape" => rule.flags |= flag::NO_ESCAPE,
            "" | "ext" => {
                rule.flags |= flag::NEXT_ROUND;
                if !value.is_empty() {
                    rule.max_rounds = atoi(value);
                }
            }
            "s" | "osubreq" => rule.flags |= flag::NO_SUBREQ,
            "c" | "ocase" => rule.flags |= flag::NO_CASE,
            _ => return unknown(),
        },
        'p' => match tail {
            "" | "roxy" => rule.flags |= flag::PROXY,
            "t" | "assthrough" => rule.flags |= flag::PASS_THROUGH,
            _ => return unknown(),
        },
        'q' => match tail {
            "sa" | "sappend" => rule.flags |= flag::QS_APPEND,
            "sd" | "sdiscard" => rule.flags |= flag::QS_DISCARD,
            "sl" | "slast" => rule.flags |= flag::QS_LAST,
            _ => return unknown(),
        },
        'r' => match tail {
            "" | "edirect" => {
                rule.flags |= flag::FORCE_REDIRECT;
                if !value.is_empty() {
                    let status = match value.to_ascii_lowercase().as_str() {
                        "permanent" => 301,
                        "temp" => 302,
                        "seeother" => 303,
                        _ if value.as_bytes()[0].is_ascii_digit() => {
                            let status = atoi(value);
                            if status != 500
                                && !u16::try_from(status).is_ok_and(crate::http1::status::is_known)
                            {
                                return Err(format!(
                                    "invalid HTTP response code '{value}' for flag 'R'"
                                ));
                            }
                            if !(300..400).contains(&status) {
                                rule.flags |= flag::STATUS | flag::NO_SUB;
                            }
                            status as u16
                        }
                        _ => 0,
                    };
                    rule.status = status;
                }
            }
            _ => return unknown(),
        },
        's' => match tail {
            "" | "kip" => rule.skip = atoi(value).max(0) as usize,
            _ => return unknown(),
        },
        't' => match tail {
            "" | "ype" => rule.forced_type = Some(value.to_string()),
            _ => return unknown(),
        },
        'u' => match tail {
            "nsafeprefixstat" => rule.flags |= flag::UNSAFE_PREFIX_STAT,
            "nsafeallow3f" => rule.flags |= flag::UNSAFE_ALLOW_3F,
            "nc" => rule.flags |= flag::UNC,
            _ => return unknown(),
        },
        _ => return unknown(),
    }
    Ok(())
}

/// C's `atoi`: leading space, a sign, digits; whatever follows is ignored.
pub(crate) fn atoi(text: &str) -> i64 {
    let text = text.trim_start();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let mut value: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        value = value.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if negative {
        -value
    } else {
        value
    }
}

fn rewrite_map(cmd: &mut Cmd, name: &str, source: &str, owner: Option<&str>) -> SetResult {
    let map = maps::Map::configure(name, source, owner, &cmd.cfg.read)?;
    let conf = server_conf(cmd);
    // apr_hash_set: a later map of the same name replaces the earlier.
    conf.maps.retain(|(n, _)| n != name);
    conf.maps.push((name.to_string(), Arc::new(map)));
    Ok(())
}

/// mod_rewrite's hooks: server-context rules first at translation (before mod_alias), the
/// per-directory rules first at fixups, the forced type and handler last at fixups.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .translate_name
        .add("rewrite", Order::First, engine::translate);
    hooks.fixups.add("rewrite", Order::First, engine::fixup);
    hooks.fixups.add("rewrite", Order::Last, engine::fixup_last);
}

/// What mod_rewrite keeps about a request.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// `[E=...]` changes to the environment, in order.
    pub env: Vec<EnvChange>,
    /// Cookies set already (by name), so a rule setting one twice sets it once.
    pub cookies: Vec<String>,
    /// A rule with `[END]` matched: no more rewriting for this request.
    pub end: bool,
    /// `[T=...]` and `[H=...]`, for the type hook.
    pub forced_type: Option<String>,
    pub forced_handler: Option<String>,
    /// The internal redirect a per-directory rule asked for (URI with its query), taken at
    /// the end of fixups.
    pub redirect: Option<String>,
}

/// One `[E=...]`.
#[derive(Debug, Clone)]
pub(crate) enum EnvChange {
    Set(String, String),
    Unset(String),
}

/// A request's mod_rewrite state.
pub(crate) fn state<'a>(req: &'a mut Request) -> &'a mut State {
    req.state.get_mut::<State>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_as_mod_rewrite_splits_them() {
        let (words, flags, q) = split_arguments(r#"^/a\ b "/x y?" [L,R=301] extra"#).unwrap();
        assert_eq!(words, [r"^/a\ b".to_string(), "/x y?".to_string()]);
        assert_eq!(flags.as_deref(), Some("[L,R=301]"));
        assert!(q);
        assert!(split_arguments("^/a").is_none());
        let (_, flags, _) = split_arguments("^/a /b L").unwrap();
        assert_eq!(flags.as_deref(), Some("L"));
    }

    #[test]
    fn flags_split_at_commas() {
        let mut seen = Vec::new();
        parse_flags("[ L , E=A:b,NC ]", |k, v| {
            seen.push((k.to_string(), v.to_string()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                ("L".to_string(), String::new()),
                ("E".to_string(), "A:b".to_string()),
                ("NC".to_string(), String::new())
            ]
        );
    }

    #[test]
    fn atoi_reads_as_c_does() {
        assert_eq!(atoi(" 42abc"), 42);
        assert_eq!(atoi("-3"), -3);
        assert_eq!(atoi("x"), 0);
    }
}
