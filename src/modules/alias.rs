//! mod_alias at request time: Redirect* (tried first), then Alias, AliasMatch, ScriptAlias.
//! A prefix matches whole path segments, runs of `/` matching each other; a virtual host's
//! entries come before the main server's; the first match wins.

use std::path::PathBuf;

use rhttpd_directives::util::escape::escape_uri;

use crate::hooks::{Fixup, Hooks, Order};
use crate::modules::DirRuntime;
use crate::request::walk::apply_conditionals;
use crate::request::{absolute_url, environment, expr, Request, Step};
use crate::runtime::CompiledSection;
use rhttpd_directives::model::SectionKind;

use rhttpd_directives::regex::{Captures, Regex};
use rhttpd_directives::set::atoi;

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

/// Per-server mappings in config order.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub entries: Vec<Entry>,
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

impl ServerConf {
    pub fn apply(&mut self, directive: &str, words: &[String]) -> bool {
        // Validated when the configuration was read, with this same type.
        let regex = |p: &str| Regex::new(p).ok();
        let entry = match (directive, words) {
            ("Alias" | "ScriptAlias", [prefix, target]) => Some(Entry::Alias {
                prefix: prefix.clone(),
                target: target.clone(),
                script: directive == "ScriptAlias",
            }),
            ("AliasMatch" | "ScriptAliasMatch", [pattern, target]) => {
                regex(pattern).map(|regex| Entry::AliasMatch {
                    regex,
                    target: target.clone(),
                    script: directive == "ScriptAliasMatch",
                })
            }
            ("Redirect" | "RedirectTemp" | "RedirectPermanent", _) => {
                let (status, rest) =
                    match (directive, words.first().and_then(|w| redirect_status(w))) {
                        ("RedirectTemp", _) => (302, words),
                        ("RedirectPermanent", _) => (301, words),
                        (_, Some(status)) if words.len() >= 2 || status == 410 => {
                            (status, &words[1..])
                        }
                        _ => (302, words),
                    };
                rest.first().map(|prefix| Entry::Redirect {
                    status,
                    prefix: prefix.clone(),
                    target: rest.get(1).cloned(),
                })
            }
            ("RedirectMatch", _) => {
                let (status, rest) = match words.first().and_then(|w| redirect_status(w)) {
                    Some(status) if words.len() >= 2 && !words[0].starts_with('^') => {
                        (status, &words[1..])
                    }
                    _ => (302, words),
                };
                rest.first()
                    .and_then(|p| regex(p))
                    .map(|regex| Entry::RedirectMatch {
                        status,
                        regex,
                        target: rest.get(1).cloned(),
                    })
            }
            _ => return false,
        };
        self.entries.extend(entry);
        true
    }

    /// A virtual host's entries first, then the main server's.
    pub fn merge(&self, vhost: &ServerConf) -> ServerConf {
        let mut entries = vhost.entries.clone();
        entries.extend(self.entries.iter().cloned());
        ServerConf { entries }
    }
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
    },
}

/// Runs the redirects, then the aliases, against a decoded URI.
pub fn translate(conf: &ServerConf, uri: &str, escaped_uri: &str) -> Option<Mapped> {
    for entry in &conf.entries {
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
    for entry in &conf.entries {
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
        section.dir.section_redirect.is_some() || section.nested.iter().any(redirects)
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
    let locations: Vec<&CompiledSection> = ctx
        .sections
        .iter()
        .filter(is_location)
        .filter(|s| s.matches(&req.uri))
        .collect();
    let conditionals: Vec<&CompiledSection> = ctx
        .sections
        .iter()
        .filter(|s| s.is_conditional())
        .chain(
            locations
                .iter()
                .flat_map(|l| l.nested.iter().filter(|n| n.is_conditional())),
        )
        .collect();
    let walked = locations
        .iter()
        .fold(DirRuntime::clone(&ctx.dir), |merged, s| {
            merged.merge(&s.dir)
        });
    let walked = if conditionals.is_empty() {
        walked
    } else {
        apply_conditionals(req, walked, &conditionals)
    };
    let own = walked.section_redirect.clone()?;
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
    let (section, alias) = ctx
        .sections
        .iter()
        .filter(|s| matches!(s.kind, SectionKind::Location | SectionKind::LocationMatch))
        .filter(|s| s.matches(&req.uri))
        .filter_map(|s| s.dir.location_alias.as_ref().map(|a| (s, a)))
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
    if section.dir.alias_preserve_path == Some(true) && section.regex.is_none() {
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
        let relative = location.starts_with('/') && req.dir.core.redirect_relative == Some(true);
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

/// `ap_is_url`: a scheme (letters, digits, `+`, `-`, `.`) and a colon.
pub(crate) fn is_url(text: &str) -> bool {
    text.find(':').is_some_and(|colon| {
        colon > 0
            && text[..colon]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    })
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
    let mapped = translate(&ctx.runtime.alias, &req.uri, &escaped);
    if let Some(Mapped::Redirect { status, location }) = mapped {
        return Err(redirect(req, status, location, false));
    }
    if let Some((filename, script)) = location_alias(req) {
        req.script_alias = script;
        return Ok(Some(filename));
    }
    if let Some(Mapped::File { path, script }) = mapped {
        req.script_alias = script;
        return Ok(Some(PathBuf::from(path)));
    }
    Ok(None)
}

/// The per-directory table: a section's own Redirect, else the Redirect* lines of sections
/// and `.htaccess`. A section's `Redirect 0` ends the fixup with OK: the request goes on, and
/// the table is not looked at.
fn fixup_redirect(req: &mut Request) -> Step<Fixup> {
    match req.dir.section_redirect.clone() {
        Some(own) if own.status == 0 => {}
        Some(own) => return Err(answer_section_redirect(req, &own, true)),
        None => {
            let escaped = escape_uri(&req.uri);
            if let Some(Mapped::Redirect { status, location }) =
                translate(&req.dir.redirects, &req.uri, &escaped)
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
