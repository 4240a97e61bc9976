//! core and http_core at request time: Options, ErrorDocument, ServerSignature, the default
//! charset, FileETag, AcceptPathInfo, SetHandler/ForceType, request limits and keep-alive.

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::filters::InputFilter;
use crate::hooks::{Hooks, Order};
use crate::modules::http_core::options_response;
use crate::request::pipeline::invalid_method;
use crate::request::walk::{merge_sections, symlinks_allowed, walk_path};
use crate::request::{static_file, Request, Response, Step};

/// Per-directory core settings: written by core's setters (core's table stays in the
/// directives crate, so its typed configuration lives there too).
pub use rhttpd_directives::core_config::{Dir, DEFAULT_OPTIONS};

/// Per-server core settings, written by core's setters (see [`Dir`]).
pub use rhttpd_directives::core_config::ServerConf;

// --- core's hooks at request time -------------------------------------------------------

/// core's hooks: the DocumentRoot translation, the walk to storage, SetOutputFilter's
/// filters, and the default handler, each last so that modules come first.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .translate_name
        .add("core", Order::ReallyLast, translate_document_root);
    hooks
        .map_to_storage
        .add("core", Order::ReallyLast, map_to_storage);
    hooks
        .handler
        .add("core", Order::ReallyLast, default_handler);
    hooks
        .insert_filter
        .add("core", Order::Middle, insert_filters);
    hooks.input_filters.register(&CORE_IN);
    hooks.input_filters.register(&NET_TIME);
}

/// SetOutputFilter and SetInputFilter: the filters the directory names join the request's
/// chains.
fn insert_filters(req: &mut Request) -> Step<()> {
    if let Some(list) = req.dir.core.output_filters.clone() {
        crate::filters::add_by_names(req, &list);
    }
    if let Some(list) = req.dir.core.input_filters.clone() {
        crate::filters::add_input_by_names(req, &list);
    }
    Ok(())
}

/// The connection reads and frames the body itself; these names are accepted where Apache's
/// configurations use them, and add no stage.
static CORE_IN: InputFilter = InputFilter {
    name: "CORE_IN",
    start: connection_does_it,
};
static NET_TIME: InputFilter = InputFilter {
    name: "NET_TIME",
    start: connection_does_it,
};

fn connection_does_it(_: &mut Request) -> Option<Box<dyn crate::filters::InputStage>> {
    None
}

/// The DocumentRoot, and the path (under a ServerPath, what follows it).
fn translate_document_root(req: &mut Request) -> Step<Option<PathBuf>> {
    let ctx = req.ctx();
    // The path's bytes as the client sent them (a name need not be UTF-8: `/caf%E9.html`).
    let uri = req.received_uri(&req.uri);
    let path = ctx
        .server_path
        .as_deref()
        .and_then(|prefix| {
            let rest = uri.strip_prefix(prefix.as_bytes())?;
            (prefix.ends_with('/') || rest.is_empty() || rest.starts_with(b"/")).then_some(rest)
        })
        .unwrap_or(uri);
    let mut root = ctx.document_root.as_os_str().as_bytes();
    while let Some(trimmed) = root.strip_suffix(b"/") {
        root = trimmed;
    }
    let filename = [root, path].concat();
    Ok(Some(PathBuf::from(std::ffi::OsString::from_vec(filename))))
}

/// The deepest existing path (the rest becomes PATH_INFO), the sections merged for it, and
/// FollowSymLinks.
fn map_to_storage(req: &mut Request) -> Step<Option<()>> {
    let translated = req.filename.clone().unwrap_or_default();
    let (filename, meta) = walk_path(&translated, &mut req.path_info)?;
    merge_sections(req, &filename, meta.as_ref().is_some_and(|m| m.is_dir()))?;
    if meta.is_some() && !symlinks_allowed(req, &filename) {
        return Err(403);
    }
    req.filename = Some(filename);
    req.finfo = meta;
    Ok(Some(()))
}

/// The default handler: a file is sent (GET, HEAD, POST) after the request body is discarded
/// within LimitRequestBody; OPTIONS is answered; a directory is never sent.
fn default_handler(req: &mut Request) -> Step<Option<Response>> {
    let filename = req.filename.clone().unwrap_or_default();
    if req.finfo.as_ref().is_some_and(|m| m.is_dir()) {
        return directory(req, &filename).map(Some);
    }
    // Taken for the handler's run, and put back for the filters after it.
    let info = req.file_info.take().unwrap_or_default();
    let response = default_handler_with(req, &filename, &info);
    req.file_info = Some(info);
    response
}

/// The default handler's work, with the resource's type information set aside.
fn default_handler_with(
    req: &mut Request,
    filename: &Path,
    info: &crate::modules::mime::FileInfo,
) -> Step<Option<Response>> {
    let limit = req.dir.core.limit_request_body.unwrap_or(1 << 30);
    let declared = req.body_length;
    if limit > 0 && declared > limit {
        req.filter_error = true;
        return Err(413);
    }
    crate::request::input::read_body(req, limit, &mut |_| Ok(()))?;
    let response = match req.method.as_str() {
        "GET" | "HEAD" | "POST" => match req.finfo.clone() {
            Some(meta) => static_file::serve(req, filename, &meta, info),
            None => {
                if req.logs("core", "info") {
                    let text = format!(
                        "AH00128: File does not exist: {}{}",
                        filename.display(),
                        req.path_info
                    );
                    req.log_error("core", "info", &text);
                }
                Err(404)
            }
        },
        "OPTIONS" => {
            let content_type = req
                .dir
                .core
                .force_type
                .clone()
                .or_else(|| info.content_type.clone());
            let mut resp = options_response(req, content_type);
            if let Some(encoding) = &info.encoding {
                resp.trailing.set("Content-Encoding", encoding.clone());
            }
            if !info.languages.is_empty() {
                resp.trailing
                    .set("Content-Language", info.languages.join(", "));
            }
            Ok(resp)
        }
        method if !req.rt.method_known(method) => Err(invalid_method(req)),
        _ => Err(405),
    };
    response.map(Some)
}

/// The default handler for a directory no index or other handler answered for: it will not
/// send a directory (404), but answers OPTIONS for it.
fn directory(req: &mut Request, dir: &Path) -> Step<Response> {
    match req.method.as_str() {
        "GET" | "HEAD" | "POST" => {
            let text = format!("AH00129: Attempt to serve directory: {}", dir.display());
            req.log_error("core", "info", &text);
            Err(404)
        }
        "OPTIONS" => {
            let content_type = req.dir.core.force_type.clone();
            let content_type = content_type.or_else(|| Some("httpd/unix-directory".to_string()));
            Ok(options_response(req, content_type))
        }
        method if !req.rt.method_known(method) => Err(invalid_method(req)),
        _ => Err(405),
    }
}
