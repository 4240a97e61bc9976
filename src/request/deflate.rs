//! The output filter chain as far as rhttpd has filters: whether DEFLATE is in it (core's
//! SetOutputFilter, mod_mime's AddOutputFilter, mod_filter's AddOutputFilterByType), running
//! it over a finished body, and mod_filter's harness around smart filters (FilterProtocol,
//! FilterTrace).

use super::{environment, Body, Request, Response};
use crate::http1::Headers;
use crate::modules::deflate::{self, Candidate, Verdict};
use crate::modules::filter::{self, protocol};

/// The kind of bucket a handler passes its body in, as FilterTrace names it.
#[derive(Clone, Copy)]
pub(super) enum Pass {
    /// A file sent from disk (the default handler).
    File(u64),
    /// A body built in memory (listings, server-status).
    Heap(u64),
}

/// mod_filter's harness as a 200 response enters its smart filters: FilterTrace's log of the
/// handler's pass, then, for each provider that runs, the header changes its FilterProtocol
/// flags ask for (before it runs), and whether Range stays away from the byte-range filter.
pub(super) fn smart_harness(req: &mut Request, response: &mut Response, pass: Pass) {
    let dir = std::sync::Arc::clone(&req.dir);
    let Some(filters) = dir
        .typed
        .get::<filter::Dir>()
        .filter(|f| !f.chain.is_empty())
    else {
        return;
    };
    for missing in filters.chain_filters().filter_map(Result::err) {
        let text = format!("AH01380: Unknown filter {missing} not added");
        req.log_error("filter", "warn", &text);
    }
    let harness = {
        let env = environment(req);
        let mut context = super::expr::RequestContext::new(req, &env);
        context.content_type = response.content_type.as_deref();
        filters.harness(&|expr| expr.eval(&context) == Ok(true))
    };
    let (kind, length) = match pass {
        Pass::File(length) => ("FILE", length),
        Pass::Heap(length) => ("HEAP", length),
    };
    for name in &harness.traced {
        req.log_debug_from("filter", "mod_filter.c(86)", &format!("AH01375: {name}"));
        for (kind, length) in [(kind, length), ("EOS", 0)] {
            let text = format!("AH01376: {name}: type: {kind}, length: {length}");
            req.log_debug_from("filter", "mod_filter.c(91)", &text);
        }
    }
    req.range_hidden = harness.range_hidden;
    for (_, flags) in &harness.providers {
        if flags & protocol::CHANGE != 0 {
            response.headers.remove("Content-MD5");
            response.late_headers.remove("Content-MD5");
            response.headers.remove("ETag");
            if flags & protocol::CHANGE_LENGTH != 0 {
                response.length_last = true;
            }
        }
        if flags & protocol::NO_CACHE != 0 {
            response.headers.remove("Last-Modified");
            response
                .late_headers
                .0
                .push(("Cache-Control".into(), "no-cache".into()));
        }
        if flags & protocol::NO_BYTERANGE != 0 {
            response.headers.set("Accept-Ranges", "none");
        }
    }
}

/// Whether DEFLATE is among the filters this response gets. Filter names other than the ones
/// rhttpd has are reported as Apache reports unknown filters.
pub(super) fn in_chain(req: &Request, ext_filters: &[String], content_type: Option<&str>) -> bool {
    let mut named = Vec::new();
    if let Some(list) = &req.dir.core.output_filters {
        named.extend(list.split(';').map(str::to_string));
    }
    for list in ext_filters {
        named.extend(list.split(';').map(str::to_string));
    }
    let deflate_loaded = || req.rt.module_loaded("deflate_module");
    let mut found = false;
    for name in named.iter().filter(|n| !n.is_empty()) {
        if name.eq_ignore_ascii_case("DEFLATE") && deflate_loaded() {
            found = true;
        } else {
            let text = format!("AH00082: an unknown filter was not added: {name}");
            req.log_error("core", "error", &text);
        }
    }
    let Some(filters) = req.dir.typed.get::<filter::Dir>() else {
        return found;
    };
    if found || filters.matching(content_type).any(|name| name == "DEFLATE") {
        return true;
    }
    if filters.chain.is_empty() || !deflate_loaded() {
        return false;
    }
    // Smart filters: the provider whose expression holds for this response.
    let env = environment(req);
    let mut context = super::expr::RequestContext::new(req, &env);
    context.content_type = content_type;
    filters.chain_reaches("DEFLATE", &|expr| expr.eval(&context) == Ok(true))
}

/// The DEFLATE filter's decision for a response about to carry `length` bytes.
pub(super) fn verdict(
    req: &Request,
    status: u16,
    content_type: Option<&str>,
    mime_encoding: Option<&str>,
    length: u64,
    headers: &Headers,
) -> Verdict {
    let env = environment(req);
    let candidate = Candidate {
        status,
        content_type,
        length,
        mime_encoding,
        env: &env,
        accept_encoding: req.head.headers.get("Accept-Encoding"),
    };
    deflate::verdict(&candidate, headers)
}

/// Compresses `body` for the response and fixes its headers; `None` (with the error logged)
/// when zlib refuses, and the body then goes out as it is.
pub(super) fn compress(
    req: &mut Request,
    body: &[u8],
    headers: &mut Headers,
) -> Option<deflate::Gzipped> {
    let conf = req.ctx().runtime.module::<deflate::ServerConf>();
    let conf = &*conf;
    match deflate::gzip(body, conf) {
        Ok(gzipped) => {
            deflate::note_vary(headers);
            deflate::mark_encoded(headers, conf);
            req.notes = deflate::notes(conf, body.len(), gzipped.deflated_len);
            Some(gzipped)
        }
        Err(code) => {
            let text = format!(
                "AH01383: unable to init Zlib: deflateInit2 returned {code}: URL {}",
                req.uri
            );
            req.log_error("deflate", "error", &text);
            None
        }
    }
}

/// DEFLATE over a handler's in-memory response (directory listings, server-status).
pub(super) fn filter_response(req: &mut Request, response: &mut Response) {
    let Body::Bytes(body) = &response.body else {
        return;
    };
    if response.status != 200 {
        return;
    }
    smart_harness(req, response, Pass::Heap(body.len() as u64));
    let Body::Bytes(body) = &response.body else {
        return;
    };
    if !in_chain(req, &[], response.content_type.as_deref()) {
        return;
    }
    let length = body.len() as u64;
    let ct = response.content_type.clone();
    match verdict(
        req,
        response.status,
        ct.as_deref(),
        None,
        length,
        &response.headers,
    ) {
        Verdict::Pass => {}
        // A generated body has no Content-Length yet: Vary comes before it.
        Verdict::VaryOnly => deflate::note_vary(&mut response.headers),
        Verdict::Compress => {
            let body = body.clone();
            let mut headers = std::mem::take(&mut response.headers);
            if let Some(gzipped) = compress(req, &body, &mut headers) {
                response.length_known = !gzipped.streamed;
                response.body = if gzipped.streamed {
                    Body::Pieces(gzipped.body, gzipped.pieces)
                } else {
                    Body::Bytes(gzipped.body)
                };
            }
            response.headers = headers;
        }
    }
}
