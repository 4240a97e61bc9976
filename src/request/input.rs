//! The request's input filters as the default handler discards its body: core's SetInputFilter
//! and mod_mime's AddInputFilter name them; of the module set's, DEFLATE does work here.

use super::{BodyError, ReadBody, Request, Step};
use crate::modules::deflate::{self, InflateBody, InflateFailure};
use crate::modules::mime::FileInfo;

/// Input filters the server itself and the module set register besides DEFLATE: naming them
/// adds nothing a request would notice.
const OTHER_INPUT_FILTERS: &[&str] = &["CORE_IN", "HTTP_IN", "NET_TIME", "reqtimeout"];

/// Whether DEFLATE is among the request's input filters; unknown names are reported as Apache
/// reports them.
fn deflate_in_chain(req: &Request, info: &FileInfo) -> bool {
    let deflate_loaded = req.rt.module_loaded("deflate_module");
    let lists = req.dir.core.input_filters.iter().chain(&info.input_filters);
    let mut found = false;
    for name in lists.flat_map(|l| l.split(';')).filter(|n| !n.is_empty()) {
        if name.eq_ignore_ascii_case("DEFLATE") && deflate_loaded {
            found = true;
        } else if !OTHER_INPUT_FILTERS
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
        {
            let text = format!("AH00082: an unknown filter was not added: {name}");
            req.log_error("core", "error", &text);
        }
    }
    found
}

/// Reads the body still on the connection through the request's input filters, as Apache's
/// default handler discards it: LimitRequestBody on the bytes as sent, then DEFLATE's
/// inflating with its own limits. The status for a body that fails them.
pub(crate) fn discard_body(req: &mut Request, info: &FileInfo, limit: u64) -> Step<()> {
    let Some(mut read) = req.unread_body.take() else {
        return Ok(());
    };
    let mut inflater = None;
    let ranged = req.head.headers.get("Content-Range").is_some();
    if !ranged && deflate_in_chain(req, info) {
        if let Some(rest) = deflate::gzip_request(req.head.headers.get("Content-Encoding")) {
            // The filter takes gzip off the request's Content-Encoding.
            let headers = &mut req.head.to_mut().headers;
            match rest {
                Some(rest) => headers.set("Content-Encoding", rest),
                None => headers.remove("Content-Encoding"),
            }
            let server = req.ctx().runtime.module::<deflate::ServerConf>();
            let dir = req.dir.module::<deflate::Dir>();
            inflater = Some(InflateBody::new(&dir, &server, limit));
        }
    }
    let mut failure: Option<InflateFailure> = None;
    let mut raw: u64 = 0;
    let mut over_limit = false;
    let result = read(&mut |piece| {
        raw += piece.len() as u64;
        if limit > 0 && raw > limit {
            over_limit = true;
            return Err(413);
        }
        match inflater.as_mut().map(|i| i.feed(piece)) {
            Some(Err(refused)) => {
                let status = refused.status;
                failure = Some(refused);
                Err(status)
            }
            _ => Ok(()),
        }
    });
    let result = result.and_then(|read| match inflater.as_mut().map(|i| i.finish()) {
        Some(Err(refused)) => {
            let status = refused.status;
            failure = Some(refused);
            Err(status.into())
        }
        _ => Ok(read),
    });
    if inflater.as_ref().is_some_and(|i| i.started()) {
        // The length and digest were of the compressed body.
        let headers = &mut req.head.to_mut().headers;
        headers.remove("Content-Length");
        headers.remove("Content-MD5");
    }
    match result {
        Ok(ReadBody { length, trailers }) => {
            // MergeTrailers On: what followed a chunked body reads as request headers.
            let merge = req.rt.servers[0].runtime.core.merge_trailers == Some(true);
            if merge && !trailers.is_empty() {
                req.head.to_mut().headers.0.extend(trailers);
            }
            if let Some(inflater) = &inflater {
                let (compressed, inflated) = inflater.totals();
                let text = format!(
                    "AH01393: Zlib: Inflated {compressed} to {inflated} : URL {}",
                    req.uri
                );
                req.log_debug_from("deflate", "mod_deflate.c(1459)", &text);
            }
            req.body_length = length;
            Ok(())
        }
        Err(error) => {
            if let Some(failure) = failure {
                req.log_error("deflate", failure.level, &failure.message);
            }
            req.filter_error = over_limit || error == BodyError::Framing;
            Err(error.status())
        }
    }
}
