//! mod_reflector, whole: ReflectorHeader (table, setter, typed per-directory configuration
//! and merge) and the `reflector` handler, which answers a POST with its own body, type and
//! length, and the request headers ReflectorHeader names.

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::OR_OPTIONS;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

use crate::hooks::{Hooks, Order};
use crate::request::pipeline::handler_of;
use crate::request::{Body, Request, Response, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "reflector_module",
    source: "mod_reflector.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "ReflectorHeader",
    Take12(reflector_header),
    OR_OPTIONS,
    "Header to reflect back in the response, with an optional new name.",
)
.implemented()];

/// Per-directory: (request header, response header) pairs, a section's before the ones it
/// inherits.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub headers: Vec<(String, String)>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            headers: [child.headers.clone(), self.headers.clone()].concat(),
        }
    }
}

fn reflector_header(cmd: &mut Cmd, incoming: &str, outgoing: Option<&str>) -> SetResult {
    cmd.dir_config::<Dir>().headers.push((
        incoming.to_string(),
        outgoing.unwrap_or(incoming).to_string(),
    ));
    Ok(())
}

pub fn register_hooks(hooks: &mut Hooks) {
    hooks.handler.add("reflector", Order::Middle, handler);
}

/// The methods the handler offers (TRACE joins them while TraceEnable lets it).
fn allow(req: &Request) -> &'static str {
    if super::http_core::trace_enabled(req) {
        "POST,OPTIONS,TRACE"
    } else {
        "POST,OPTIONS"
    }
}

fn handler(req: &mut Request) -> Step<Option<Response>> {
    let filename = req.filename.clone().unwrap_or_default();
    if handler_of(req, &filename).as_deref() != Some("reflector") {
        return Ok(None);
    }
    match req.method.as_str() {
        "OPTIONS" => {
            let mut response = super::http_core::options_response(req, None);
            response.headers.set("Allow", allow(req));
            Ok(Some(response))
        }
        "POST" => reflect(req).map(Some),
        _ => {
            req.headers_out.set("Allow", allow(req));
            Err(405)
        }
    }
}

/// The body read and sent back as it came, with the request's type and length (Last-Modified
/// now, unless a reflected header set one).
fn reflect(req: &mut Request) -> Step<Response> {
    let dir = std::sync::Arc::clone(&req.dir);
    let mut headers = req.headers_out.clone();
    for (incoming, outgoing) in &dir.module::<Dir>().headers {
        if let Some(value) = req.head.headers.get(incoming) {
            headers.set(outgoing, value.to_string());
        }
    }
    if headers.get("Last-Modified").is_none() {
        headers.set("Last-Modified", crate::http1::date::format(req.now));
    }
    headers.set("Accept-Ranges", "bytes");
    let declared = match req.head.headers.get("Content-Length") {
        Some(value) => match value.trim().parse::<u64>() {
            Ok(length) if value.bytes().all(|b| b.is_ascii_digit()) => Some(length),
            _ => {
                let text = format!("AH10243: reflector_handler: invalid content-length '{value}'");
                req.log_error("reflector", "error", &text);
                return Err(400);
            }
        },
        None => None,
    };
    let content_type = req.head.headers.get("Content-Type").map(str::to_string);
    let limit = req.dir.core.limit_request_body.unwrap_or(1 << 30);
    let mut body = Vec::new();
    let mut sizes = Vec::new();
    crate::request::input::read_body(req, limit, &mut |piece: &[u8]| {
        body.extend_from_slice(piece);
        sizes.push(piece.len());
        Ok(())
    })?;
    Ok(Response {
        status: 200,
        headers,
        content_type,
        length_known: declared.is_some(),
        body: Body::Pieces(body, sizes),
        header_only: false,
        server: req.server,
        ..Default::default()
    })
}
