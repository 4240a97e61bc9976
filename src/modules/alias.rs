//! mod_alias, whole: Alias, ScriptAlias, AliasMatch, ScriptAliasMatch, Redirect and its
//! forms, RedirectRelative and AliasPreservePath (table, setters, typed per-server and
//! per-directory configurations), and their effect: Redirect* (tried first), then Alias,
//! AliasMatch, ScriptAlias. A prefix matches whole path segments, runs of `/` matching each
//! other; a virtual host's entries come before the main server's; the first match wins.

use std::path::PathBuf;
use std::sync::Arc;

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::{DirConfig, SectionKind};
use rhttpd_directives::regex::{Captures, Regex};
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::{atoi, atoi_int, is_url};

use rhttpd_directives::util::escape::escape_uri;

use crate::hooks::{Fixup, Hooks, Order};
use crate::modules::DirRuntime;
use crate::request::{absolute_url, environment, expr, Request, Step};
use crate::runtime::CompiledSection;

pub static MODULE: ModuleDef = ModuleDef {
    id: "alias_module",
    source: "mod_alias.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "Alias",
        Take12(alias),
        RSRC_CONF | ACCESS_CONF,
        "a fakename and a realname, or a realname in a Location",
    )
    .forbid_in_setter(NOT_IN_DIR_CONTEXT)
    .implemented(),
    DirectiveDef::new(
        "ScriptAlias",
        Take12(alias),
        RSRC_CONF | ACCESS_CONF,
        "a fakename and a realname, or a realname in a Location",
    )
    .forbid_in_setter(NOT_IN_DIR_CONTEXT)
    .implemented(),
    DirectiveDef::new(
        "Redirect",
        Take123(redirect_path),
        OR_FILEINFO,
        "an optional status, then document to be redirected and destination URL",
    )
    .implemented(),
    DirectiveDef::new(
        "AliasMatch",
        Take2(alias_match),
        RSRC_CONF,
        "a regular expression and a filename",
    )
    .forbid(NOT_IN_DIR_CONTEXT)
    .implemented(),
    DirectiveDef::new(
        "ScriptAliasMatch",
        Take2(alias_match),
        RSRC_CONF,
        "a regular expression and a filename",
    )
    .forbid(NOT_IN_DIR_CONTEXT)
    .implemented(),
    DirectiveDef::new(
        "RedirectMatch",
        Take23(redirect_match),
        OR_FILEINFO,
        "an optional status, then a regular expression and destination URL",
    )
    .implemented(),
    DirectiveDef::new(
        "RedirectTemp",
        Take2(redirect2),
        OR_FILEINFO,
        "a document to be redirected, then the destination URL",
    )
    .implemented(),
    DirectiveDef::new(
        "RedirectPermanent",
        Take2(redirect2),
        OR_FILEINFO,
        "a document to be redirected, then the destination URL",
    )
    .implemented(),
    DirectiveDef::new(
        "RedirectRelative",
        Flag(redirect_relative),
        OR_FILEINFO,
        "Set to ON to allow relative redirect targets to be issued as-is",
    )
    .implemented(),
    DirectiveDef::new(
        "AliasPreservePath",
        Flag(alias_preserve_path),
        OR_FILEINFO,
        "Set to ON to map the full path after the fakename to the realname.",
    )
    .implemented(),
];

const BAD_REGEX: &str = "Regular expression could not be compiled.";

/// Alias and ScriptAlias: the two-argument form maps a prefix for the server; the
/// one-argument form (an expression naming the target) exists only inside a `<Location>`.
fn alias(cmd: &mut Cmd, fake: &str, real: Option<&str>) -> SetResult {
    let script = cmd.name() == "ScriptAlias";
    let Some(real) = real else {
        cmd.check_context(NOT_IN_DIRECTORY | NOT_IN_FILES)?;
        if cmd.path.is_none() {
            return Err("Alias must have two arguments when used globally".into());
        }
        let target = cmd
            .parse_string_expr(fake)
            .map_err(|err| format!("Cannot parse alias expression '{fake}': {err}"))?;
        cmd.dir_config::<Dir>().location_alias = Some(LocationAlias {
            target: Arc::new(target),
            script,
        });
        return Ok(());
    };
    // The two-argument form is for the server and virtual hosts only.
    cmd.check_context(NOT_IN_DIR_CONTEXT)?;
    cmd.server_config::<ServerConf>()
        .entries
        .push(Entry::Alias {
            prefix: fake.to_string(),
            target: real.to_string(),
            script,
        });
    Ok(())
}

fn alias_match(cmd: &mut Cmd, pattern: &str, real: &str) -> SetResult {
    let Ok(regex) = Regex::new(pattern) else {
        return Err(BAD_REGEX.into());
    };
    let script = cmd.name() == "ScriptAliasMatch";
    cmd.server_config::<ServerConf>()
        .entries
        .push(Entry::AliasMatch {
            regex,
            target: real.to_string(),
            script,
        });
    Ok(())
}

fn redirect_path(cmd: &mut Cmd, a1: &str, a2: Option<&str>, a3: Option<&str>) -> SetResult {
    add_redirect(cmd, a1, a2, a3, false)
}

fn redirect_match(cmd: &mut Cmd, a1: &str, a2: &str, a3: Option<&str>) -> SetResult {
    add_redirect(cmd, a1, Some(a2), a3, true)
}

/// RedirectTemp and RedirectPermanent: Redirect with the status fixed by the name.
fn redirect2(cmd: &mut Cmd, a1: &str, a2: &str) -> SetResult {
    add_redirect(cmd, a1, Some(a2), None, false)
}

/// mod_alias's `add_redirect_internal`: an optional status (keyword or number) first, then
/// the path (or regex) and the target; which words are which depends on whether the first
/// one reads as a status and, inside a section, on how many there are.
fn add_redirect(
    cmd: &mut Cmd,
    a1: &str,
    a2: Option<&str>,
    a3: Option<&str>,
    use_regex: bool,
) -> SetResult {
    let mut status = if cmd.name() == "RedirectPermanent" {
        301
    } else {
        302
    };
    // 1: a redirect status, -1: another status, 0: not a status at all.
    let mut grok = 1;
    if a1.eq_ignore_ascii_case("permanent") {
        status = 301;
    } else if a1.eq_ignore_ascii_case("temp") {
        status = 302;
    } else if a1.eq_ignore_ascii_case("seeother") {
        status = 303;
    } else if a1.eq_ignore_ascii_case("gone") {
        status = 410;
        grok = -1;
    } else if a1.starts_with(|c: char| c.is_ascii_digit()) {
        status = atoi_int(a1);
        if !is_redirect(status) {
            grok = -1;
        }
    } else {
        grok = 0;
    }
    if a3.is_some() && grok == 0 {
        return Err("Redirect: invalid first argument (of three)".into());
    }
    // Inside a section the target may be a single expression (not validated here).
    let expression_form = (grok > 0 && a2.is_some() && a3.is_none()) || (grok == 0 && a2.is_none());
    if cmd.path.is_some() && (expression_form || (grok < 0 && a2.is_none())) {
        store_redirect(cmd, a1, a2, a3, None);
        return Ok(());
    }
    let (fake, url) = if a3.is_none() && grok == 0 {
        (Some(a1), a2)
    } else {
        (a2, a3)
    };
    // RedirectMatch's regex, compiled once: the check here, the entry below.
    let compiled = match fake.filter(|_| use_regex).map(|f| (f, Regex::new(f))) {
        Some((f, Ok(regex))) => Some((f, regex)),
        Some((_, Err(_))) => return Err(BAD_REGEX.into()),
        None if use_regex => return Err(BAD_REGEX.into()),
        None => None,
    };
    if is_redirect(status) {
        let Some(url) = url else {
            return Err("URL to redirect to is missing".into());
        };
        if !use_regex && !is_url(url) && !url.starts_with('/') {
            return Err("Redirect to non-URL".into());
        }
    } else if url.is_some() {
        return Err("Redirect URL not valid for this status".into());
    }
    store_redirect(cmd, a1, a2, a3, compiled);
    Ok(())
}

fn is_redirect(status: i32) -> bool {
    (300..400).contains(&status)
}

/// A validated Redirect line into the configuration it belongs to: at a server's top level
/// the server's table; in a section or `.htaccess` the per-directory table, or (for
/// Redirect and RedirectMatch) the section's own redirect when the words read as one.
/// `compiled` is RedirectMatch's regex with its text, when the checks compiled it.
fn store_redirect(
    cmd: &mut Cmd,
    a1: &str,
    a2: Option<&str>,
    a3: Option<&str>,
    compiled: Option<(&str, Regex)>,
) {
    let directive = cmd.name();
    let words: Vec<String> = [Some(a1), a2, a3]
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
    if cmd.at_server_level() {
        // The section forms of Redirect mean nothing outside a section.
        let entry = redirect_entry(directive, &words, compiled);
        cmd.server_config::<ServerConf>().entries.extend(entry);
        return;
    }
    let config = cmd.dir_config::<Dir>();
    if matches!(directive, "Redirect" | "RedirectMatch") {
        if let Some(own) = SectionRedirect::parse(&words) {
            config.section_redirect = Some(own);
            return;
        }
    }
    config
        .redirects
        .extend(redirect_entry(directive, &words, compiled));
}

fn redirect_relative(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().redirect_relative = Some(on);
    Ok(())
}

fn alias_preserve_path(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().preserve_path = Some(on);
    Ok(())
}

/// One mapping as configured.
#[derive(Debug, Clone)]
pub enum Entry {
    Alias {
        prefix: String,
        target: String,
        script: bool,
    },
    AliasMatch {
        regex: Regex,
        target: String,
        script: bool,
    },
    Redirect {
        status: u16,
        prefix: String,
        target: Option<String>,
    },
    RedirectMatch {
        status: u16,
        regex: Regex,
        target: Option<String>,
    },
}

/// mod_alias's per-server configuration: the server's mappings in config order.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub entries: Vec<Entry>,
}

impl DirConfig for ServerConf {
    /// A virtual host's entries first, then the main server's.
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        ServerConf {
            entries: join(&vhost.entries, &self.entries),
        }
    }
}

/// mod_alias's per-directory configuration.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    /// Redirect* written in sections and `.htaccess` (server-level ones are per server).
    pub redirects: Vec<Entry>,
    /// A section's own Redirect (`Redirect URL` and friends).
    pub section_redirect: Option<SectionRedirect>,
    /// A `<Location>`'s one-argument Alias.
    pub location_alias: Option<LocationAlias>,
    /// AliasPreservePath.
    pub preserve_path: Option<bool>,
    /// RedirectRelative: a redirect to a path is sent as that path.
    pub redirect_relative: Option<bool>,
}

impl DirConfig for Dir {
    /// A deeper section's redirects are tried before the ones it inherits; the rest is the
    /// deeper section's when it sets them.
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            redirects: join(&child.redirects, &self.redirects),
            section_redirect: child
                .section_redirect
                .clone()
                .or_else(|| self.section_redirect.clone()),
            location_alias: child
                .location_alias
                .clone()
                .or_else(|| self.location_alias.clone()),
            preserve_path: child.preserve_path.or(self.preserve_path),
            redirect_relative: child.redirect_relative.or(self.redirect_relative),
        }
    }
}

fn join(first: &[Entry], then: &[Entry]) -> Vec<Entry> {
    first.iter().chain(then).cloned().collect()
}

/// The one-argument Alias (or ScriptAlias) of a `<Location>`: the whole location maps to what
/// its string expression gives.
#[derive(Debug, Clone)]
pub struct LocationAlias {
    pub target: std::sync::Arc<rhttpd_directives::expr::StringExpr>,
    pub script: bool,
}

/// A section's own Redirect (`Redirect URL`, `Redirect 301 URL`, `Redirect gone`): the whole
/// section answers with `status`, sent to what the string expression gives (nothing for a
/// status that is not a redirect).
#[derive(Debug, Clone)]
pub struct SectionRedirect {
    pub status: u16,
    pub target: Option<std::sync::Arc<rhttpd_directives::expr::StringExpr>>,
}

impl SectionRedirect {
    /// The section form of a `Redirect` (or `RedirectMatch`) line, as mod_alias tells it from
    /// the path form: a redirect status and one argument, one argument that is no status, or a
    /// status that is not a redirect alone. `None` for the path form.
    pub fn parse(words: &[String]) -> Option<SectionRedirect> {
        let first = words.first()?;
        let status = redirect_status(first);
        let is_redirect = status.is_some_and(|s| (300..400).contains(&s));
        let (status, url) = match (status, words.len()) {
            (Some(status), 2) if is_redirect => (status, Some(&words[1])),
            (None, 1) => (302, Some(first)),
            (Some(status), 1) if !is_redirect => (status, None),
            _ => return None,
        };
        // Validated when the configuration was read.
        let target = match url {
            Some(url) => Some(std::sync::Arc::new(
                rhttpd_directives::expr::parse_string(url).ok()?,
            )),
            None => None,
        };
        Some(SectionRedirect { status, target })
    }
}

/// The status a Redirect keyword or number names.
fn redirect_status(word: &str) -> Option<u16> {
    match word.to_ascii_lowercase().as_str() {
        "permanent" => Some(301),
        "temp" => Some(302),
        "seeother" => Some(303),
        "gone" => Some(410),
        w if w.bytes().all(|b| b.is_ascii_digit()) && !w.is_empty() => Some(atoi(w) as u16),
        _ => None,
    }
}

/// The table entry of a path-form Redirect line (`None` for a status-only line, which maps
/// nothing). `compiled` is the line's regex if the setter compiled it.
fn redirect_entry(
    directive: &str,
    words: &[String],
    compiled: Option<(&str, Regex)>,
) -> Option<Entry> {
    if directive == "RedirectMatch" {
        let (status, rest) = match words.first().and_then(|w| redirect_status(w)) {
            Some(status) if words.len() >= 2 && !words[0].starts_with('^') => (status, &words[1..]),
            _ => (302, words),
        };
        let pattern = rest.first()?;
        let regex = match compiled {
            Some((text, regex)) if text == pattern => regex,
            _ => Regex::new(pattern).ok()?,
        };
        return Some(Entry::RedirectMatch {
            status,
            regex,
            target: rest.get(1).cloned(),
        });
    }
    let (status, rest) = match (directive, words.first().and_then(|w| redirect_status(w))) {
        ("RedirectTemp", _) => (302, words),
        ("RedirectPermanent", _) => (301, words),
        (_, Some(status)) if words.len() >= 2 || status == 410 => (status, &words[1..]),
        _ => (302, words),
    };
    Some(Entry::Redirect {
        status,
        prefix: rest.first()?.clone(),
        target: rest.get(1).cloned(),
    })
}

/// How many bytes of `uri` an alias prefix matches (0 for no match), as `alias_matches` counts.
pub fn prefix_match(uri: &str, prefix: &str) -> usize {
    let (u, a) = (uri.as_bytes(), prefix.as_bytes());
    let (mut i, mut j) = (0, 0);
    while j < a.len() {
        if a[j] == b'/' {
            if i >= u.len() || u[i] != b'/' {
                return 0;
            }
            while j < a.len() && a[j] == b'/' {
                j += 1;
            }
            while i < u.len() && u[i] == b'/' {
                i += 1;
            }
        } else {
            if i >= u.len() || u[i] != a[j] {
                return 0;
            }
            i += 1;
            j += 1;
        }
    }
    if j > 0 && a[j - 1] != b'/' && i < u.len() && u[i] != b'/' {
        return 0;
    }
    i
}

/// `$0`..`$9` in `template` replaced from a regex match.
pub fn substitute(template: &str, captures: &Captures) -> String {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            if let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                chars.next();
                out.push_str(captures.text(d as usize).as_deref().unwrap_or(""));
                continue;
            }
        }
        if c == '\\' {
            if let Some(&next) = chars.peek() {
                if next == '$' || next == '\\' {
                    out.push(next);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

/// What translation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    Redirect {
        status: u16,
        location: Option<String>,
    },
    File {
        path: String,
        script: bool,
        /// The URL prefix and directory of a prefix Alias (Apache's `ap_set_context_info`:
        /// CONTEXT_PREFIX and CONTEXT_DOCUMENT_ROOT); none for AliasMatch.
        context: Option<(String, String)>,
    },
}

/// Runs the redirects, then the aliases, against a decoded URI.
pub fn translate(entries: &[Entry], uri: &str, escaped_uri: &str) -> Option<Mapped> {
    for entry in entries {
        match entry {
            Entry::Redirect {
                status,
                prefix,
                target,
            } => {
                let matched = prefix_match(escaped_uri, prefix);
                if matched > 0 {
                    let location = target
                        .as_ref()
                        .map(|t| format!("{t}{}", &escaped_uri[matched..]));
                    return Some(Mapped::Redirect {
                        status: *status,
                        location,
                    });
                }
            }
            Entry::RedirectMatch {
                status,
                regex,
                target,
            } => {
                if let Some(caps) = regex.captures(uri) {
                    let location = target.as_ref().map(|t| substitute(t, &caps));
                    return Some(Mapped::Redirect {
                        status: *status,
                        location,
                    });
                }
            }
            _ => {}
        }
    }
    for entry in entries {
        match entry {
            Entry::Alias {
                prefix,
                target,
                script,
            } => {
                let matched = prefix_match(uri, prefix);
                if matched > 0 {
                    return Some(Mapped::File {
                        path: format!("{target}{}", &uri[matched..]),
                        script: *script,
                        context: Some((prefix.clone(), target.clone())),
                    });
                }
            }
            Entry::AliasMatch {
                regex,
                target,
                script,
            } => {
                if let Some(caps) = regex.captures(uri) {
                    return Some(Mapped::File {
                        path: substitute(target, &caps),
                        script: *script,
                        context: None,
                    });
                }
            }
            _ => {}
        }
    }
    None
}

/// The section Redirect the request's configuration holds when mod_alias translates it, with
/// that configuration: Apache's location walk and first <If> walk have run by then (the
/// matching <Location> sections, then the server's and their <If> sections), no <Directory>.
pub(crate) fn location_redirect(req: &Request) -> Option<(SectionRedirect, DirRuntime)> {
    fn redirects(section: &CompiledSection) -> bool {
        let own = section.dir.typed.get::<Dir>();
        own.is_some_and(|d| d.section_redirect.is_some()) || section.nested.iter().any(redirects)
    }
    let ctx = req.ctx();
    let is_location =
        |s: &&CompiledSection| matches!(s.kind, SectionKind::Location | SectionKind::LocationMatch);
    // Most configurations have no section Redirect at all: nothing is merged for them.
    let possible = ctx
        .sections
        .iter()
        .any(|s| (s.is_conditional() || is_location(&s)) && redirects(s));
    if !possible {
        return None;
    }
    let walked = crate::request::walk::location_walk(req);
    let own = walked.typed.get::<Dir>()?.section_redirect.clone()?;
    Some((own, walked))
}

/// A section's own Redirect, answered: its target evaluated and sent with its status. `per_dir`
/// as for [`redirect`]: a `<Location>`'s is answered at translation, under the server's numbers.
pub(crate) fn answer_section_redirect(
    req: &mut Request,
    own: &SectionRedirect,
    per_dir: bool,
) -> u16 {
    let location = match &own.target {
        None => None,
        Some(target) => {
            let env = environment(req);
            let value = target.eval(&expr::RequestContext::for_strings(req, &env));
            match value {
                Ok(found) => Some(escape_redirect_target(&found)),
                Err(err) => {
                    let text = format!("AH02826: Can't evaluate redirect expression: {err}");
                    req.log_error("alias", "error", &text);
                    return 500;
                }
            }
        }
    };
    redirect(req, own.status, location, per_dir)
}

/// The target of the last matching `<Location>` with a one-argument Alias: its expression's
/// value, with the rest of the URI appended under AliasPreservePath On.
pub(crate) fn location_alias(req: &Request) -> Option<(PathBuf, bool)> {
    let ctx = req.ctx();
    let (section, alias, preserve_path) = ctx
        .sections
        .iter()
        .filter(|s| matches!(s.kind, SectionKind::Location | SectionKind::LocationMatch))
        .filter(|s| s.matches(&req.uri))
        .filter_map(|s| {
            let own = s.dir.typed.get::<Dir>()?;
            own.location_alias
                .as_ref()
                .map(|a| (s, a, own.preserve_path))
        })
        .last()?;
    let env = environment(req);
    let context = expr::RequestContext::for_strings(req, &env);
    let mut target = match alias.target.eval(&context) {
        Ok(target) => target,
        Err(err) => {
            let text = format!("AH02825: Can't evaluate alias expression: {err}");
            req.log_error("alias", "error", &text);
            return None;
        }
    };
    if preserve_path == Some(true) && section.regex.is_none() {
        let prefix = section.pattern.trim_end_matches('/');
        if let Some(rest) = req.uri.strip_prefix(prefix) {
            target.push_str(rest);
        }
    }
    Some((PathBuf::from(target), alias.script))
}

/// A mod_alias redirect: the Location (absolute, keeping the query unless the target has its
/// own), and the status to end the request with.
/// A Redirect's answer. `per_dir` tells a section's or `.htaccess`'s redirect from a
/// server's (Apache logs them under different numbers).
pub(crate) fn redirect(
    req: &mut Request,
    status: u16,
    location: Option<String>,
    per_dir: bool,
) -> u16 {
    if let Some(mut location) = location {
        // RedirectRelative On leaves a path as the client is to see it; anything else must
        // end up an absolute URL.
        let relative =
            location.starts_with('/') && req.dir.module::<Dir>().redirect_relative == Some(true);
        if (300..400).contains(&status) && !relative {
            location = absolute_url(req, &location);
            if !is_url(&location) {
                let id = if per_dir { "AH00676" } else { "AH00674" };
                let text = format!(
                    "{id}: cannot redirect '{}' to '{location}'; target is not a valid \
                     absoluteURI or abs_path",
                    req.uri
                );
                req.log_error("alias", "error", &text);
                return 500;
            }
        }
        // The request's query goes along unless the target has its own.
        if let Some(args) = req.args.as_ref().filter(|_| !location.contains('?')) {
            location = format!("{location}?{args}");
        }
        req.headers_out.set("Location", location);
    }
    status
}

/// A section Redirect's evaluated target as mod_alias sends it: escaped as a path, its query
/// and fragment kept as written.
pub(crate) fn escape_redirect_target(found: &str) -> String {
    let (rest, fragment) = match found.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (found, None),
    };
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let mut out = escape_uri(path);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// mod_alias's hooks: translation (a `<Location>`'s own Redirect, the server's Alias and
/// Redirect lines, a `<Location>`'s Alias), and the per-directory redirects as a fixup.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .translate_name
        .add("alias", Order::Middle, translate_name);
    hooks.fixups.add("alias", Order::Middle, fixup_redirect);
}

/// translate_name. The location walk precedes translation: a `<Location>`'s own Redirect
/// answers before anything else (and before access control), its one-argument Alias after the
/// server's redirects.
fn translate_name(req: &mut Request) -> Step<Option<PathBuf>> {
    if let Some((own, walked)) = location_redirect(req) {
        // The answer goes out under the configuration the location walk merged (no
        // <Directory> yet): its `Header always` lines, its ErrorDocument.
        req.dir = std::sync::Arc::new(walked);
        if own.status == 0 {
            // mod_alias translated the request to no file at all: nothing on disk answers.
            let text = format!(
                "AH00029: Module bug?  Request filename is missing for URI {}",
                req.uri
            );
            req.log_error("core", "info", &text);
            req.log_error("core", "info", "AH00128: File does not exist: ");
            return Err(404);
        }
        return Err(answer_section_redirect(req, &own, false));
    }
    let ctx = req.ctx();
    let escaped = escape_uri(&req.uri);
    let mapped = translate(
        &ctx.runtime.module::<ServerConf>().entries,
        &req.uri,
        &escaped,
    );
    if let Some(Mapped::Redirect { status, location }) = mapped {
        return Err(redirect(req, status, location, false));
    }
    if let Some((filename, script)) = location_alias(req) {
        req.script_alias = script;
        return Ok(Some(filename));
    }
    if let Some(Mapped::File {
        path,
        script,
        context,
    }) = mapped
    {
        req.script_alias = script;
        req.context_info = context;
        return Ok(Some(PathBuf::from(path)));
    }
    Ok(None)
}

/// The per-directory table: a section's own Redirect, else the Redirect* lines of sections
/// and `.htaccess`. A section's `Redirect 0` ends the fixup with OK: the request goes on, and
/// the table is not looked at.
fn fixup_redirect(req: &mut Request) -> Step<Fixup> {
    let own = req.dir.module::<Dir>();
    match own.section_redirect.clone() {
        Some(own) if own.status == 0 => {}
        Some(own) => return Err(answer_section_redirect(req, &own, true)),
        None => {
            let escaped = escape_uri(&req.uri);
            if let Some(Mapped::Redirect { status, location }) =
                translate(&own.redirects, &req.uri, &escaped)
            {
                return Err(redirect(req, status, location, true));
            }
        }
    }
    Ok(Fixup::Continue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments_and_slash_runs() {
        assert_eq!(prefix_match("/icons/a.gif", "/icons/"), 7);
        assert_eq!(prefix_match("/icons", "/icons"), 6);
        assert_eq!(prefix_match("/iconsx", "/icons"), 0);
        assert_eq!(prefix_match("//icons//a", "/icons/"), 9);
        assert_eq!(prefix_match("/other", "/icons"), 0);
    }
}
