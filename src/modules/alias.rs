//! mod_alias at request time: Redirect* (tried first), then Alias, AliasMatch, ScriptAlias.
//! A prefix matches whole path segments, runs of `/` matching each other; a virtual host's
//! entries come before the main server's; the first match wins.

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
