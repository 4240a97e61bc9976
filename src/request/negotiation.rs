//! mod_negotiation's hooks in the request: MultiViews (a missing file answered by the best of
//! the `name.*` files beside it) and the `type-map` handler.

use std::fs;
use std::path::{Path, PathBuf};

use super::{environment, mime, Request, Step};
use crate::modules::negotiation::{self, accept_list, Variant};
use rhttpd_directives::model::opt;

/// The client's side of a negotiation for this request.
fn client<'a>(
    req: &Request,
    env: &'a [(String, String)],
    prefer_scripts: bool,
) -> negotiation::Request<'a> {
    let header = |name: &str| req.head.headers.get(name);
    negotiation::Request {
        accept: accept_list(header("Accept")),
        accept_language: accept_list(header("Accept-Language")),
        accept_charset: accept_list(header("Accept-Charset")),
        accept_encoding: accept_list(header("Accept-Encoding")),
        env,
        prefer_scripts,
    }
}

/// Whether MultiViews applies to this request's directory.
pub(crate) fn enabled(req: &Request) -> bool {
    req.dir.core.options() & opt::MULTI != 0
        && req
            .rt
            .config
            .read
            .modules
            .iter()
            .any(|m| m.id == "negotiation_module")
}

/// The `name.*` files beside `filename` that mod_mime can describe and whose unknown name
/// parts match the requested name's; and whether any file matched the name at all.
fn candidates(req: &Request, filename: &Path) -> (Vec<(Variant, mime::FileInfo)>, bool) {
    let (Some(dir), Some(base)) = (filename.parent(), filename.file_name()) else {
        return (Vec::new(), false);
    };
    let base = base.to_string_lossy().into_owned();
    let Ok(entries) = fs::read_dir(dir) else {
        return (Vec::new(), false);
    };
    let wanted: Vec<&str> = base.split('.').collect();
    let mut found = Vec::new();
    let mut any = false;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&base) || name.as_bytes().get(base.len()) != Some(&b'.') {
            continue;
        }
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if meta.is_dir() {
            continue;
        }
        any = true;
        if !meta.is_file() {
            continue;
        }
        let mut info =
            mime::classify_candidate(&name, &req.dir.module::<mime::Dir>(), &req.rt.types);
        // Every part mod_mime does not know must be one of the requested name's, in order.
        let mut want = wanted.iter();
        if !info.exceptions.iter().all(|e| want.any(|w| w == e)) {
            continue;
        }
        // The sub-request's other type checker, for a file mod_mime gives no type.
        if info.content_type.is_none() {
            let magic = crate::modules::mime_magic::sub_request_type(req, &dir.join(&name), &meta);
            if let Some((content_type, encoding)) = magic {
                info.content_type = content_type;
                info.encoding = encoding.or(info.encoding);
            }
        }
        let content_type = req
            .dir
            .core
            .force_type
            .clone()
            .or(info.content_type.clone());
        let handler = req.dir.core.set_handler.clone().or(info.handler.clone());
        let Some(content_type) = content_type.or_else(|| {
            // A file with only a handler is offered as a script.
            handler
                .as_ref()
                .map(|_| "application/x-httpd-cgi".to_string())
        }) else {
            continue;
        };
        // Looked up as Apache's sub-request for the file: one refused on the way (access
        // control, a redirect or error at fixups) is no candidate.
        if !looks_up(req, dir, &name) {
            continue;
        }
        let mut variant = Variant::new(&name, &content_type);
        variant.languages = info
            .languages
            .iter()
            .map(|l| l.to_ascii_lowercase())
            .collect();
        variant.encoding = info.encoding.clone();
        variant.bytes = Some(meta.len());
        variant.has_handler = handler.is_some();
        found.push((variant, info));
    }
    // Apache's canonical order: source quality, then the name's bytes.
    found.sort_by(|a, b| {
        b.0.source_quality
            .partial_cmp(&a.0.source_quality)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.file_name.as_bytes().cmp(b.0.file_name.as_bytes()))
    });
    (found, any)
}

/// Whether the sub-request for the file `name` in `dir` (beside the request's URI) gets as
/// far as the handler with a regular file.
fn looks_up(req: &Request, dir: &Path, name: &str) -> bool {
    let parent = &req.uri[..req.uri.rfind('/').map_or(0, |i| i + 1)];
    let mut sub = req.sub_request(format!("{parent}{name}"));
    sub.args = req.args.clone();
    sub.redirects = req.redirects + 1;
    matches!(
        super::pipeline::lookup_file(&mut sub, dir.join(name)),
        Ok((_, Some(meta))) if meta.is_file()
    )
}

/// Whether MultiViews would find something to negotiate for `filename` (DirectoryIndex
/// names such as `index` count as present then).
pub(crate) fn has_variants(req: &Request, filename: &Path) -> bool {
    enabled(req) && !candidates(req, filename).0.is_empty()
}

/// What a negotiation left the request with.
pub(crate) enum Chosen {
    /// Serve this file instead (MultiViews' fast redirect, a type map's internal redirect).
    File(PathBuf),
    /// A type map's inline body, with its variant's description of it.
    Body(Box<Variant>),
}

/// MultiViews for a file that does not exist: `Ok(None)` when nothing is there to negotiate.
pub(crate) fn multiviews(req: &mut Request, filename: &Path) -> Step<Option<PathBuf>> {
    let (found, any) = candidates(req, filename);
    if found.is_empty() {
        if any {
            let text = format!(
                "AH00687: Negotiation: discovered file(s) matching request: {} (None could be negotiated).",
                filename.display()
            );
            req.log_error("negotiation", "error", &text);
            return Err(404);
        }
        return Ok(None);
    }
    let dir = filename.parent().unwrap_or(Path::new("/")).to_path_buf();
    // A type map among the candidates stands for all of them.
    if let Some((variant, _)) = found.iter().find(|(_, info)| {
        info.handler.as_deref() == Some("type-map")
            || info.content_type.as_deref() == Some("application/x-type-map")
    }) {
        let map = dir.join(&variant.file_name);
        return match type_map(req, &map)? {
            Chosen::File(path) => Ok(Some(path)),
            Chosen::Body(_) => Ok(Some(map)),
        };
    }
    // The list's validator is the missing file's: its time is the request's, so it is weak.
    let now_us = req
        .now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    req.vlist = Some((true, format!("{now_us:x}")));
    let mut variants: Vec<Variant> = found.into_iter().map(|(v, _)| v).collect();
    let prefer_scripts = req.method != "GET" || req.args.is_some() || !req.path_info.is_empty();
    let best = choose(req, &mut variants, prefer_scripts, filename)?;
    // The fast redirect takes the variant's own (unset) no-cache flag: no Expires here.
    Ok(Some(dir.join(&variants[best].file_name)))
}

/// Runs the selection and records its headers; the chosen index, or 406.
fn choose(
    req: &mut Request,
    variants: &mut [Variant],
    prefer_scripts: bool,
    filename: &Path,
) -> Step<usize> {
    // HEAD counts as GET, as Apache numbers methods.
    let transparent = matches!(req.method.as_str(), "GET" | "HEAD")
        && req.path_info.is_empty()
        && variants
            .iter()
            .all(|v| !v.file_name.contains('/') && v.body.is_none());
    let env = environment(req);
    let client = client(req, &env, prefer_scripts);
    let outcome = negotiation::negotiate(
        variants,
        &client,
        &req.dir.module::<negotiation::Dir>(),
        transparent,
    );
    match outcome.best {
        Some(best) => {
            if transparent {
                req.err_headers.0.push((
                    "Content-Location".into(),
                    rhttpd_directives::util::escape::escape_path_segment(
                        variants[best].file_name.as_bytes(),
                    ),
                ));
            }
            req.err_headers.0.extend(outcome.headers);
            Ok(best)
        }
        None => {
            req.err_headers.0.extend(outcome.headers);
            req.error_notes = Some(negotiation::variant_list(variants));
            let text = format!("AH00690: no acceptable variant: {}", filename.display());
            req.log_error("negotiation", "error", &text);
            Err(406)
        }
    }
}

/// HTTP/1.0 caches cannot tell negotiated answers apart: mark them already expired unless
/// CacheNegotiatedDocs allows caching.
fn no_cache(req: &mut Request, variants: usize) {
    let cache = req
        .ctx()
        .runtime
        .module::<crate::modules::negotiation::ServerConf>()
        .cache;
    if !cache && req.head.version != crate::http1::Version::Http11 && variants != 1 {
        req.no_cache = true;
    }
}

/// The `type-map` handler: the best of the variants the map lists.
pub(crate) fn type_map(req: &mut Request, map: &Path) -> Step<Chosen> {
    let text = match fs::read(map) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        // A directory opens, and its first read ends the map: it lists nothing.
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => String::new(),
        Err(e) => {
            let text = format!("AH00683: cannot access type map file: {}", map.display());
            req.log_os_error("negotiation", "error", Some(&e), &text);
            return Err(match e.kind() {
                std::io::ErrorKind::NotFound => 404,
                _ if e.raw_os_error() == Some(libc::ENOTDIR) => 404,
                _ => 403,
            });
        }
    };
    let map_name = map
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let read = negotiation::read_type_map(&text, &map_name, &map.to_string_lossy());
    let mut variants = match read {
        Ok((variants, warning)) => {
            if let Some(warning) = warning {
                req.log_error("negotiation", "error", &warning);
            }
            variants
        }
        Err(message) => {
            req.log_error("negotiation", "error", &message);
            return Err(500);
        }
    };
    let dir = map.parent().unwrap_or(Path::new("/"));
    if let Ok(meta) = fs::metadata(map) {
        let tag = super::static_file::etag(&meta, req.now, req.dir.core.file_etag);
        if let Some(tag) = tag {
            let weak = tag.starts_with("W/");
            let inner = tag.trim_start_matches("W/").trim_matches('"').to_string();
            req.vlist = Some((weak, inner));
        }
    }
    for variant in variants
        .iter_mut()
        .filter(|v| v.bytes.is_none() && v.body.is_none())
    {
        variant.bytes = fs::metadata(dir.join(&variant.file_name))
            .ok()
            .map(|m| m.len());
    }
    let best = choose(req, &mut variants, false, map)?;
    no_cache(req, variants.len());
    if variants[best].body.is_some() {
        return Ok(Chosen::Body(Box::new(variants.swap_remove(best))));
    }
    Ok(Chosen::File(dir.join(&variants[best].file_name)))
}
