//! mod_vhost_alias, whole: VirtualDocumentRoot, VirtualDocumentRootIP, VirtualScriptAlias and
//! VirtualScriptAliasIP (table, setters with Apache's format check, typed per-server
//! configuration and merge) and their translation: the request's host name (or the address it
//! came in on) interpolated into the format (`%%`, `%p`, `%N.M` with `-` and `+`), which
//! becomes the request's document root, or for `/cgi-bin/` URLs the script directory handed
//! to mod_cgi as ScriptAlias does. It runs after mod_alias and mod_userdir.

use std::path::PathBuf;

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::RSRC_CONF;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

use crate::hooks::{Hooks, Order};
use crate::request::{apr_ip_text, Request, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "vhost_alias_module",
    source: "mod_vhost_alias.c",
    builtin: false,
    has_dir_config: false,
    directives: DIRECTIVES,
};

const SCRIPT_HELP: &str = "how to create a ScriptAlias based on the host";
const ROOT_HELP: &str = "how to create the DocumentRoot based on the host";

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new("VirtualScriptAlias", Take1(set_map), RSRC_CONF, SCRIPT_HELP).implemented(),
    DirectiveDef::new("VirtualDocumentRoot", Take1(set_map), RSRC_CONF, ROOT_HELP).implemented(),
    DirectiveDef::new(
        "VirtualScriptAliasIP",
        Take1(set_map),
        RSRC_CONF,
        SCRIPT_HELP,
    )
    .implemented(),
    DirectiveDef::new(
        "VirtualDocumentRootIP",
        Take1(set_map),
        RSRC_CONF,
        ROOT_HELP,
    )
    .implemented(),
];

/// What names the directory: the request's server name, or the local address it came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Name,
    Ip,
}

/// One of the two settings (document root, script directory): unset (inherited), `none`
/// (switched off), or a format read from the name or the address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Map {
    #[default]
    Unset,
    Off,
    Format(Source, String),
}

impl Map {
    fn or(&self, parent: &Map) -> Map {
        match self {
            Map::Unset => parent.clone(),
            own => own.clone(),
        }
    }
}

/// mod_vhost_alias's per-server configuration.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub doc_root: Map,
    pub cgi_root: Map,
}

impl DirConfig for ServerConf {
    /// Each setting a virtual host makes, else the main server's.
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        ServerConf {
            doc_root: vhost.doc_root.or(&self.doc_root),
            cgi_root: vhost.cgi_root.or(&self.cgi_root),
        }
    }
}

/// The four directives: an absolute format (checked as Apache checks it), or `none` in any
/// case.
fn set_map(cmd: &mut Cmd, map: &str) -> SetResult {
    let (script, source) = match cmd.name() {
        "VirtualScriptAlias" => (true, Source::Name),
        "VirtualScriptAliasIP" => (true, Source::Ip),
        "VirtualDocumentRoot" => (false, Source::Name),
        _ => (false, Source::Ip),
    };
    let value = if !map.starts_with('/') {
        if !map.eq_ignore_ascii_case("none") {
            return Err("format string must be an absolute path, or 'none'".into());
        }
        Map::Off
    } else {
        check_format(map)?;
        Map::Format(source, map.to_string())
    };
    let conf = cmd.server_config::<ServerConf>();
    if script {
        conf.cgi_root = value;
    } else {
        conf.doc_root = value;
    }
    Ok(())
}

/// Apache's check of a format: each `%` is followed by `%`, `p`, or `[-]D[+]` with an
/// optional `.[-]D[+]`, where D is one digit.
fn check_format(map: &str) -> Result<(), String> {
    const SYNTAX: &str = "syntax error in format string";
    let b = map.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        i += 1;
        if c != b'%' {
            continue;
        }
        if matches!(b.get(i), Some(b'p' | b'%')) {
            i += 1;
            continue;
        }
        for part in 0..2 {
            if part == 1 {
                if b.get(i) != Some(&b'.') {
                    break;
                }
                i += 1;
            }
            if b.get(i) == Some(&b'-') {
                i += 1;
            }
            if !b.get(i).is_some_and(u8::is_ascii_digit) {
                return Err(SYNTAX.into());
            }
            i += 1;
            if b.get(i) == Some(&b'+') {
                i += 1;
            }
        }
    }
    Ok(())
}

/// Apache keeps at most this many name parts apart (the rest stay in the last one).
const MAX_DOTS: usize = 19;

/// The format with the name (or address) and port put in, lowercased where it comes from the
/// name, without a trailing `/`. `%N` is the Nth dot-separated part of the name (`%0` all of
/// it, `%-N` counted from the end, `%N+` from there on), `%N.M` the Mth character of that
/// (`.-M` from the end, `M+` from there on); a part or character that is not there is `_`.
pub fn interpolate(name: &str, port: u16, map: &str) -> String {
    let name = name.as_bytes();
    // Where each part starts, less one (the first one "starts" at -1), then the end.
    let mut dots: Vec<isize> = vec![-1];
    for (at, &c) in name.iter().enumerate() {
        if c == b'.' && dots.len() < MAX_DOTS {
            dots.push(at as isize);
        }
    }
    let ndots = dots.len();
    dots.push(name.len() as isize);
    let mut out: Vec<u8> = Vec::new();
    let b = map.as_bytes();
    let mut i = 0;
    let next = |i: &mut usize| {
        let c = b.get(*i).copied().unwrap_or(0);
        *i += 1;
        c
    };
    while i < b.len() {
        let c = next(&mut i);
        if c != b'%' {
            out.push(c);
            continue;
        }
        if b.get(i) == Some(&b'%') {
            i += 1;
            out.push(b'%');
            continue;
        }
        if b.get(i) == Some(&b'p') {
            i += 1;
            out.extend_from_slice(port.to_string().as_bytes());
            continue;
        }
        // The format was checked when the configuration was read.
        let (mut n_dash, mut n_plus, mut m_dash, mut m_plus, mut m) =
            (false, false, false, false, 0);
        if b.get(i) == Some(&b'-') {
            i += 1;
            n_dash = true;
        }
        let n = usize::from(next(&mut i).wrapping_sub(b'0'));
        if b.get(i) == Some(&b'+') {
            i += 1;
            n_plus = true;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if b.get(i) == Some(&b'-') {
                i += 1;
                m_dash = true;
            }
            m = usize::from(next(&mut i).wrapping_sub(b'0'));
            if b.get(i) == Some(&b'+') {
                i += 1;
                m_plus = true;
            }
        }
        let (mut start, mut end) = ((dots[0] + 1) as usize, dots[ndots] as usize);
        let mut part: &[u8] = name;
        if n != 0 {
            if n > ndots {
                part = b"_";
                (start, end) = (0, 1);
            } else if !n_dash {
                start = (dots[n - 1] + 1) as usize;
                if !n_plus {
                    end = dots[n] as usize;
                }
            } else {
                if !n_plus {
                    start = (dots[ndots - n] + 1) as usize;
                }
                end = dots[ndots - n + 1] as usize;
            }
        }
        if m != 0 {
            if m > end.saturating_sub(start) {
                part = b"_";
                (start, end) = (0, 1);
            } else if !m_dash {
                start = start + m - 1;
                if !m_plus {
                    end = start + 1;
                }
            } else {
                if !m_plus {
                    start = end - m;
                }
                end = end - m + 1;
            }
        }
        if start < end {
            out.extend(part[start..end].iter().map(u8::to_ascii_lowercase));
        }
    }
    if out.last() == Some(&b'/') {
        out.pop();
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// mod_vhost_alias's hook: translation, after mod_alias's and mod_userdir's (all at the
/// middle; `modules::HOOKS` lists them in that order).
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .translate_name
        .add("vhost_alias", Order::Middle, translate_name);
}

/// Where `cgi-bin/` starts in a URL whose first segment it is, when a script directory is
/// configured.
fn cgi_bin_at(uri: &str) -> Option<usize> {
    let at = uri.find("cgi-bin/")?;
    (at == uri.len() - uri.trim_start_matches('/').len()).then_some(at)
}

/// translate_name: the document root (or for a `/cgi-bin/` URL the script directory) made
/// from the name or address; the URL's path follows it. The result is the request's document
/// root (DOCUMENT_ROOT, CONTEXT_DOCUMENT_ROOT); a script directory also makes the request a
/// ScriptAlias'ed one, with CONTEXT_PREFIX `/cgi-bin`.
fn translate_name(req: &mut Request) -> Step<Option<PathBuf>> {
    let conf = req.ctx().runtime.module::<ServerConf>();
    let cgi = match &conf.cgi_root {
        Map::Format(..) => cgi_bin_at(&req.uri),
        _ => None,
    };
    let (map, rest) = match cgi {
        Some(at) => (&conf.cgi_root, req.uri[at + "cgi-bin".len()..].to_string()),
        None if req.uri.starts_with('/') => (&conf.doc_root, req.uri.clone()),
        None => return Ok(None),
    };
    let Map::Format(source, format) = map else {
        return Ok(None);
    };
    let name = match source {
        Source::Name => req.host_name(),
        Source::Ip => apr_ip_text(req.conn.local.ip()),
    };
    let root = interpolate(&name, req.server_port(), format);
    let filename = format!("{root}{rest}");
    req.document_root = Some(root.clone());
    if cgi.is_some() {
        req.script_alias = true;
        req.context_info = Some(("/cgi-bin".into(), root));
    } else {
        req.context_info = Some((String::new(), root));
    }
    Ok(Some(PathBuf::from(filename)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_checked_as_apache_checks_them() {
        for good in ["/a/%0", "/%%/%p", "/%-1.-2+", "/%2+", "/%1.1", "/x%3.4+/y"] {
            assert_eq!(check_format(good), Ok(()), "{good}");
        }
        for bad in ["/%", "/%x", "/%-", "/%1.", "/%1.x", "/%+1"] {
            assert!(check_format(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_part_and_character_form_interpolates_as_apache_does() {
        let name = "www.Example.co.uk";
        let at = |map| interpolate(name, 8080, map);
        assert_eq!(at("/s/%0"), "/s/www.example.co.uk");
        assert_eq!(at("/s/%1/%2/%3/%4"), "/s/www/example/co/uk");
        assert_eq!(at("/s/%5"), "/s/_");
        assert_eq!(at("/s/%-1/%-2"), "/s/uk/co");
        assert_eq!(at("/s/%2+"), "/s/example.co.uk");
        assert_eq!(at("/s/%-2+"), "/s/www.example.co");
        assert_eq!(at("/s/%2.1/%2.2/%2.-1/%2.-2"), "/s/e/x/e/l");
        assert_eq!(at("/s/%2.2+/%2.-2+"), "/s/xample/exampl");
        assert_eq!(at("/s/%2.9/%0.1"), "/s/_/w");
        assert_eq!(at("/s/%%/%p/"), "/s/%/8080");
        assert_eq!(at("/s/%-5"), "/s/_");
        assert_eq!(at("/s/%5.1"), "/s/_");
        assert_eq!(at("/s/%5.2"), "/s/_");
    }

    #[test]
    fn only_a_leading_cgi_bin_segment_is_a_script() {
        assert_eq!(cgi_bin_at("/cgi-bin/x"), Some(1));
        assert_eq!(cgi_bin_at("//cgi-bin/x"), Some(2));
        assert_eq!(cgi_bin_at("/a/cgi-bin/x"), None);
        assert_eq!(cgi_bin_at("/cgi-bin"), None);
    }

    #[test]
    fn a_virtual_host_keeps_what_it_sets() {
        let main = ServerConf {
            doc_root: Map::Format(Source::Name, "/srv/%0".into()),
            cgi_root: Map::Format(Source::Ip, "/cgi/%0".into()),
        };
        let vhost = ServerConf {
            doc_root: Map::Off,
            cgi_root: Map::Unset,
        };
        let merged = main.merge(&vhost);
        assert_eq!(merged.doc_root, Map::Off);
        assert_eq!(merged.cgi_root, main.cgi_root);
    }
}
