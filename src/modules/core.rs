//! core and http_core at request time: Options, ErrorDocument, ServerSignature, the default
//! charset, FileETag, AcceptPathInfo, SetHandler/ForceType, request limits and keep-alive.

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::hooks::{Hooks, Order};
use crate::modules::http_core::options_response;
use crate::request::pipeline::invalid_method;
use crate::request::walk::{merge_sections, symlinks_allowed, walk_path};
use crate::request::{static_file, Request, Response, Step};
use rhttpd_directives::model::Server;
use rhttpd_directives::set::atoi;

/// Per-directory core settings: written by core's setters (core's table stays in the
/// directives crate, so its typed configuration lives there too).
pub use rhttpd_directives::core_config::{Dir, DEFAULT_OPTIONS};

/// Per-server core settings.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    /// Protocols, as written, in order (lines add to each other).
    pub protocols: Option<Vec<String>>,
    pub server_name: Option<String>,
    pub server_port: Option<u16>,
    pub server_admin: Option<String>,
    pub timeout: Option<u64>,
    pub limit_request_line: Option<usize>,
    pub limit_request_field_size: Option<usize>,
    pub limit_request_fields: Option<usize>,
    pub trace_enable: Option<String>,
    /// MergeTrailers: a chunked body's trailer fields join the request's headers.
    pub merge_trailers: Option<bool>,
    pub use_canonical_name: Option<String>,
    /// `HttpProtocolOptions` keywords, lowercased, in order.
    pub protocol_options: Option<Vec<String>>,
    /// `AllowEncodedSlashes` keyword, lowercased.
    pub allow_encoded_slashes: Option<String>,
    pub merge_slashes: Option<bool>,
    pub strict_host_check: Option<bool>,
    /// LimitInternalRecursion: (internal redirects, sub-request nesting).
    pub limit_internal_recursion: Option<(u32, u32)>,
}

impl ServerConf {
    pub fn from_server(server: &Server) -> ServerConf {
        ServerConf {
            server_name: server.server_name.clone(),
            // A virtual host without ServerName keeps its first address's port; a ServerName
            // sets the port, to the default when it names none (as Apache's does).
            server_port: match &server.server_name {
                Some(_) => server.server_port,
                None => server
                    .addrs
                    .first()
                    .and_then(|a| a.port)
                    .filter(|p| *p != 0),
            },
            server_admin: server.server_admin.clone(),
            timeout: server.timeout,
            ..Default::default()
        }
    }

    pub fn apply(&mut self, directive: &str, words: &[String]) -> bool {
        let first = words.first().cloned().unwrap_or_default();
        match directive {
            "LimitRequestLine" => self.limit_request_line = Some(atoi(&first).max(0) as usize),
            "LimitRequestFieldsize" => {
                self.limit_request_field_size = Some(atoi(&first).max(0) as usize)
            }
            "LimitRequestFields" => self.limit_request_fields = Some(atoi(&first).max(0) as usize),
            "TraceEnable" => self.trace_enable = Some(first.to_ascii_lowercase()),
            "MergeTrailers" => self.merge_trailers = Some(first.eq_ignore_ascii_case("on")),
            "AllowEncodedSlashes" => self.allow_encoded_slashes = Some(first.to_ascii_lowercase()),
            "MergeSlashes" => self.merge_slashes = Some(first.eq_ignore_ascii_case("on")),
            "StrictHostCheck" => self.strict_host_check = Some(first.eq_ignore_ascii_case("on")),
            "LimitInternalRecursion" => {
                let redirects = atoi(&first).max(0) as u32;
                let nesting = words.get(1).map_or(redirects, |w| atoi(w).max(0) as u32);
                self.limit_internal_recursion = Some((redirects, nesting));
            }
            "HttpProtocolOptions" => {
                self.protocol_options = Some(words.iter().map(|w| w.to_ascii_lowercase()).collect())
            }
            "Protocols" => self
                .protocols
                .get_or_insert_with(Vec::new)
                .extend(words.iter().cloned()),
            _ => return false,
        }
        true
    }

    pub fn merge(&self, vhost: &ServerConf) -> ServerConf {
        ServerConf {
            protocols: vhost.protocols.clone().or_else(|| self.protocols.clone()),
            server_name: vhost
                .server_name
                .clone()
                .or_else(|| self.server_name.clone()),
            // A virtual host's port: its ServerName's (none there means the default, not the
            // main server's), else its first address's, else the main server's.
            server_port: match (&vhost.server_name, vhost.server_port) {
                (_, Some(port)) => Some(port),
                (Some(_), None) => None,
                (None, None) => self.server_port,
            },
            server_admin: vhost
                .server_admin
                .clone()
                .or_else(|| self.server_admin.clone()),
            timeout: vhost.timeout.or(self.timeout),
            limit_request_line: vhost.limit_request_line.or(self.limit_request_line),
            limit_request_field_size: vhost
                .limit_request_field_size
                .or(self.limit_request_field_size),
            limit_request_fields: vhost.limit_request_fields.or(self.limit_request_fields),
            merge_trailers: vhost.merge_trailers.or(self.merge_trailers),
            trace_enable: vhost
                .trace_enable
                .clone()
                .or_else(|| self.trace_enable.clone()),
            use_canonical_name: vhost
                .use_canonical_name
                .clone()
                .or_else(|| self.use_canonical_name.clone()),
            protocol_options: vhost
                .protocol_options
                .clone()
                .or_else(|| self.protocol_options.clone()),
            allow_encoded_slashes: vhost
                .allow_encoded_slashes
                .clone()
                .or_else(|| self.allow_encoded_slashes.clone()),
            merge_slashes: vhost.merge_slashes.or(self.merge_slashes),
            strict_host_check: vhost.strict_host_check.or(self.strict_host_check),
            limit_internal_recursion: vhost
                .limit_internal_recursion
                .or(self.limit_internal_recursion),
        }
    }

    /// (internal redirects, sub-request nesting) allowed before a request fails with 500.
    pub fn recursion_limits(&self) -> (u32, u32) {
        self.limit_internal_recursion.unwrap_or((10, 10))
    }
    pub fn timeout_secs(&self) -> u64 {
        self.timeout.unwrap_or(60)
    }
    /// Whether `keyword` (lowercase) wins over `other` in HttpProtocolOptions (last one wins).
    fn protocol_option(&self, keyword: &str, other: &str, default: bool) -> bool {
        let options = self.protocol_options.as_deref().unwrap_or(&[]);
        options
            .iter()
            .rev()
            .find(|o| *o == keyword || *o == other)
            .map_or(default, |o| o == keyword)
    }

    /// HttpProtocolOptions Strict (default) versus Unsafe.
    pub fn strict(&self) -> bool {
        self.protocol_option("strict", "unsafe", true)
    }

    /// HttpProtocolOptions Allow0.9 (default) versus Require1.0.
    pub fn allow_09(&self) -> bool {
        self.protocol_option("allow0.9", "require1.0", true)
    }

    /// HttpProtocolOptions RegisteredMethods versus LenientMethods (default).
    pub fn registered_methods(&self) -> bool {
        self.protocol_option("registeredmethods", "lenientmethods", false)
    }

    pub fn server_admin(&self) -> &str {
        self.server_admin.as_deref().unwrap_or("[no address given]")
    }
}

// --- core's hooks at request time -------------------------------------------------------

/// core's hooks: the DocumentRoot translation, the walk to storage and the access phase
/// driver, and the default handler, each last so that modules come first.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .translate_name
        .add("core", Order::ReallyLast, translate_document_root);
    hooks
        .map_to_storage
        .add("core", Order::ReallyLast, map_to_storage);
    // Access control, authentication and authorization, combined by Satisfy (request/auth.rs
    // runs mod_access_compat's, mod_authz_core's and mod_auth_basic's checks in Apache's order).
    hooks
        .access
        .add("core", Order::Middle, crate::request::auth::check);
    hooks
        .handler
        .add("core", Order::ReallyLast, default_handler);
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
    let info = req.file_info.clone().unwrap_or_default();
    let limit = req.dir.core.limit_request_body.unwrap_or(1 << 30);
    let declared = req.body_length;
    if limit > 0 && declared > limit {
        req.filter_error = true;
        return Err(413);
    }
    crate::request::input::discard_body(req, &info, limit)?;
    let response = match req.method.as_str() {
        "GET" | "HEAD" | "POST" => match req.finfo.clone() {
            Some(meta) => static_file::serve(req, &filename, &meta, &info),
            None => {
                let text = format!(
                    "AH00128: File does not exist: {}{}",
                    filename.display(),
                    req.path_info
                );
                req.log_error("core", "info", &text);
                Err(404)
            }
        },
        "OPTIONS" => {
            let content_type = req.dir.core.force_type.clone().or(info.content_type);
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
