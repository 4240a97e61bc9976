//! mod_dir, whole: DirectoryIndex, DirectorySlash, FallbackResource, DirectoryCheckHandler
//! and DirectoryIndexRedirect (table, setters, typed configuration), and its fixups: the
//! slash redirect, the index lookup and the fallback.

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::OR_INDEXES;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::atoi_int;

use rhttpd_directives::util::escape::escape_uri;

use crate::hooks::{Fixup, Hooks, Order};
use crate::request::pipeline::{handler_of, lookup_uri, set_handler};
use crate::request::{environment, negotiation, uri, Request, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "dir_module",
    source: "mod_dir.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "FallbackResource",
        Take1(fallback_resource),
        OR_INDEXES,
        "Set a default handler",
    )
    .implemented(),
    DirectiveDef::new(
        "DirectoryIndex",
        Raw(directory_index),
        OR_INDEXES,
        "a list of file names",
    )
    .implemented(),
    DirectiveDef::new(
        "DirectorySlash",
        Flag(directory_slash),
        OR_INDEXES,
        "On or Off",
    )
    .implemented(),
    DirectiveDef::new(
        "DirectoryCheckHandler",
        Flag(directory_check_handler),
        OR_INDEXES,
        "On or Off",
    )
    .implemented(),
    DirectiveDef::new(
        "DirectoryIndexRedirect",
        Take1(directory_index_redirect),
        OR_INDEXES,
        "On, Off, or a 3xx status code.",
    )
    .implemented(),
];

fn fallback_resource(cmd: &mut Cmd, uri: &str) -> SetResult {
    cmd.dir_config::<Dir>().fallback = Some(uri.to_string());
    Ok(())
}

/// DirectoryIndex: `disabled` anywhere turns indexes off; several lines in one section
/// accumulate, as in Apache.
fn directory_index(cmd: &mut Cmd, args: &str) -> SetResult {
    let words = rhttpd_parser::split_words(args);
    let config = cmd.dir_config::<Dir>();
    if words.iter().any(|w| w.eq_ignore_ascii_case("disabled")) {
        config.index = Some(Vec::new());
    } else {
        config.index.get_or_insert_with(Vec::new).extend(words);
    }
    Ok(())
}

fn directory_slash(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().slash = Some(on);
    Ok(())
}

fn directory_check_handler(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().check_handler = Some(on);
    Ok(())
}

/// DirectoryIndexRedirect: a keyword, or anything starting with a digit read as a 3xx status.
fn directory_index_redirect(cmd: &mut Cmd, arg: &str) -> SetResult {
    let status = match arg.to_ascii_lowercase().as_str() {
        "on" | "temp" => 302,
        "permanent" => 301,
        "seeother" => 303,
        "off" => 0,
        _ if !arg.starts_with(|c: char| c.is_ascii_digit()) => {
            return Err("DirectoryIndexRedirect ON|OFF|permanent|temp|seeother|3xx".into());
        }
        _ => match atoi_int(arg) {
            status @ 300..400 => status as u16,
            _ => {
                return Err("DirectoryIndexRedirect only accepts values between 300 and 399".into())
            }
        },
    };
    cmd.dir_config::<Dir>().index_redirect = Some(status);
    Ok(())
}

/// Per-directory settings.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    /// `None` unset (Apache's default `index.html`), `Some(empty)` for `disabled`.
    pub index: Option<Vec<String>>,
    pub slash: Option<bool>,
    pub fallback: Option<String>,
    pub check_handler: Option<bool>,
    /// DirectoryIndexRedirect's status; 0 for Off.
    pub index_redirect: Option<u16>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            index: child.index.clone().or_else(|| self.index.clone()),
            slash: child.slash.or(self.slash),
            fallback: child.fallback.clone().or_else(|| self.fallback.clone()),
            check_handler: child.check_handler.or(self.check_handler),
            index_redirect: child.index_redirect.or(self.index_redirect),
        }
    }
}

impl Dir {
    /// The index names to try, in order.
    pub fn index_names(&self) -> Vec<String> {
        self.index
            .clone()
            .unwrap_or_else(|| vec!["index.html".to_string()])
    }

    /// The FallbackResource URI, unless unset or `disabled`.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback
            .as_deref()
            .filter(|f| !f.eq_ignore_ascii_case("disabled"))
    }

    pub fn slash(&self) -> bool {
        self.slash.unwrap_or(true)
    }
}

/// mod_dir's hooks: both fixups, last, on main requests (a sub-request's caller looks at what
/// it found itself).
pub fn register_hooks(hooks: &mut Hooks) {
    hooks.fixups.add("dir", Order::Last, fixup_dir);
    hooks.fixups.add("dir", Order::Last, fixup_fallback);
}

/// A directory: redirect to the slash form, else the first DirectoryIndex that exists (served
/// by internal redirect, or redirected to under DirectoryIndexRedirect); with none, the
/// handlers answer for the directory itself.
fn fixup_dir(req: &mut Request) -> Step<Fixup> {
    if req.subrequest || !req.finfo.as_ref().is_some_and(|m| m.is_dir()) {
        return Ok(Fixup::Continue);
    }
    if !req.uri.ends_with('/') {
        // redirect-carefully: clients that cannot follow a redirect of anything but GET get
        // the directory as it is.
        let careful = || {
            !matches!(req.method.as_str(), "GET" | "HEAD")
                && crate::modules::env::get(&environment(req), "redirect-carefully").is_some()
        };
        if req.dir.module::<Dir>().slash() && !careful() {
            return Err(slash_redirect(req));
        }
        return Ok(Fixup::Continue);
    }
    // DirectoryCheckHandler On: a directory given a handler of its own is left to it.
    if req.dir.module::<Dir>().check_handler == Some(true) && set_handler(req).is_some() {
        return Ok(Fixup::Continue);
    }
    // Each index name is looked up as Apache's sub-request is (sections, access control,
    // fixups): the first that reaches a regular file is served; a redirect met on the way is
    // the answer, and so is a 401 or 406 for the last name; any other error is remembered and
    // answers if no name is found.
    let names = req.dir.module::<Dir>().index_names();
    let mut lookup_error = None;
    for (position, name) in names.iter().enumerate() {
        let last = position + 1 == names.len();
        let index_uri = if name.starts_with('/') {
            name.clone()
        } else {
            format!("{}{}", req.uri, name)
        };
        let mut sub = req.sub_request(index_uri.clone());
        sub.args = req.args.clone();
        sub.redirects = req.redirects + 1;
        let status = match lookup_uri(&mut sub) {
            Ok((filename, meta)) => {
                let regular = match &meta {
                    Some(meta) => meta.is_file(),
                    None => negotiation::has_variants(&sub, &filename),
                };
                if regular && req.redirects < req.ctx().runtime.core.recursion_limits().0 {
                    if let Some(status) = req.dir.module::<Dir>().index_redirect.filter(|s| *s != 0)
                    {
                        let location = format!("{}{}", req.self_url_base(), index_uri);
                        req.headers_out.set("Location", location);
                        return Err(status);
                    }
                    req.redirects += 1;
                    // Apache's fast internal redirect replaces the request itself: the access
                    // log's original URI becomes the index too.
                    req.original_uri = Some(index_uri.clone());
                    req.uri = index_uri;
                    // The sub-request passed access control already; the request it becomes
                    // is not checked again (its fixups' environment must not be seen there).
                    req.prev_dir = Some(std::sync::Arc::clone(&sub.dir));
                    return Ok(Fixup::InternalRedirect);
                }
                // Nothing on disk and no handler: the sub-request's own fixups send it to
                // FallbackResource (first come, first served).
                if meta.is_none() && handler_of(&sub, &filename).is_none() {
                    match fallback_target(&mut sub) {
                        Ok(Some((uri, args))) => {
                            req.redirects += 1;
                            req.uri = uri;
                            req.args = args;
                            return Ok(Fixup::InternalRedirect);
                        }
                        Ok(None) => continue,
                        Err(status) => status,
                    }
                } else if meta.as_ref().is_some_and(|m| m.is_dir())
                    && !sub.uri.ends_with('/')
                    && sub.path_info.is_empty()
                    && sub.dir.module::<Dir>().slash()
                {
                    // A name that is a directory gets the sub-request's own slash redirect.
                    slash_redirect(&mut sub)
                } else {
                    continue;
                }
            }
            Err(status) => status,
        };
        if (300..400).contains(&status) || (last && matches!(status, 401 | 406)) {
            // The sub-request's answer is the request's, with the headers it set.
            for (name, value) in sub.headers_out.0.drain(..) {
                req.headers_out.0.push((name, value));
            }
            req.err_headers.0.append(&mut sub.err_headers.0);
            return Err(status);
        }
        if status != 404 {
            lookup_error = Some(status);
        }
    }
    if let Some(status) = lookup_error {
        return Err(status);
    }
    Ok(Fixup::Continue)
}

/// FallbackResource: a request for nothing on disk that no handler takes is served the
/// fallback instead, by internal redirect.
fn fixup_fallback(req: &mut Request) -> Step<Fixup> {
    // Without a FallbackResource there is nothing to do (and no handler to look up).
    if req.subrequest || req.finfo.is_some() || req.dir.module::<Dir>().fallback().is_none() {
        return Ok(Fixup::Continue);
    }
    let filename = req.filename.clone().unwrap_or_default();
    if handler_of(req, &filename).is_some() {
        return Ok(Fixup::Continue);
    }
    match fallback_target(req)? {
        Some((uri, args)) => {
            req.redirects += 1;
            req.uri = uri;
            req.args = args;
            Ok(Fixup::InternalRedirect)
        }
        None => Ok(Fixup::Continue),
    }
}

/// mod_dir's redirect of a directory named without its trailing slash (the query kept).
pub(crate) fn slash_redirect(req: &mut Request) -> u16 {
    let mut location = format!("{}{}/", req.self_url_base(), escape_uri(&req.uri));
    if let Some(args) = &req.args {
        location.push('?');
        location.push_str(args);
    }
    req.headers_out.set("Location", location);
    301
}

/// FallbackResource, looked up as Apache's sub-request: its URI and query when it reaches a
/// file; `None` when it finds nothing (the request stays a 404); a redirect or error met on
/// the way is the answer. The sub-request runs its own fixups, so a fallback that is itself
/// missing falls back again, up to the recursion limit (500).
pub(crate) fn fallback_target(req: &mut Request) -> Step<Option<(String, Option<String>)>> {
    let Some(target) = req.dir.module::<Dir>().fallback().map(str::to_string) else {
        return Ok(None);
    };
    let limit = req.ctx().runtime.core.recursion_limits().1;
    if req.redirects >= limit {
        let text = format!(
            "AH00125: Request exceeded the limit of {limit} subrequest nesting levels due to \
             probable configuration error. Use 'LimitInternalRecursion' to increase the limit \
             if necessary. Use 'LogLevel debug' to get a backtrace."
        );
        req.log_error("core", "error", &text);
        return Err(500);
    }
    let (path, args) = match target.split_once('?') {
        Some((path, args)) => (path, Some(args.to_string())),
        None => (target.as_str(), None),
    };
    // A relative fallback is resolved against the request's directory, as a sub-request is.
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        let parent = &req.uri[..req.uri.rfind('/').map_or(0, |i| i + 1)];
        format!("{parent}{path}")
    };
    let core = &req.ctx().runtime.core;
    let Ok(path) = uri::normalize(
        &path,
        core.merge_slashes.unwrap_or(true),
        uri::EncodedSlashes::Decode,
    ) else {
        return Ok(None);
    };
    let mut sub = req.sub_request(path.clone());
    sub.args = args.or_else(|| req.args.clone());
    sub.redirects = req.redirects + 1;
    match lookup_uri(&mut sub) {
        Ok((_, Some(meta))) if meta.is_file() => Ok(Some((path, sub.args))),
        Ok((filename, None)) if handler_of(&sub, &filename).is_none() => fallback_target(&mut sub),
        Ok(_) | Err(404) => Ok(None),
        Err(status) => {
            if (300..400).contains(&status) {
                if let Some(location) = sub.headers_out.get("Location") {
                    let location = location.to_string();
                    req.headers_out.set("Location", location);
                }
            }
            Err(status)
        }
    }
}
