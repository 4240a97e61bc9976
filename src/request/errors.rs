//! Error responses: ErrorDocument (a message, a local URL served by internal redirect, or an
//! external redirect) or Apache's own page, with ServerSignature.

use super::host::request_host;
use super::pipeline::{finish, serve_uri};
use super::{environment, expr, Body, ConnInfo, Request, Response};
use crate::http1::status::{error_page, ErrorContext};
use crate::http1::{Headers, RequestHead};
use crate::modules::http_core::allow_list;
use crate::runtime::Runtime;
use rhttpd_directives::util::escape::escape_html_str as escape_html;

/// A local ErrorDocument is served by an internal redirect (as GET, keeping the error status);
/// anything else is built by [`error_response`].
pub(crate) fn handle_error(req: &mut Request, status: u16) -> Response {
    let local = error_document(req, status).filter(|a| a.starts_with('/'));
    let Some(target) = local else {
        return error_response(req, status);
    };
    if req.redirects >= req.ctx().runtime.core.recursion_limits().0 {
        return error_response(req, status);
    }
    req.redirects += 1;
    // The request's method and error notes join its environment as it goes (Apache's
    // ap_die), so the document sees them as REDIRECT_REQUEST_METHOD and REDIRECT_ERROR_NOTES.
    let mut previous = environment(req);
    previous.push(("REQUEST_METHOD".to_string(), req.method.clone()));
    if let Some(notes) = &req.error_notes {
        previous.push(("ERROR_NOTES".to_string(), notes.clone()));
    }
    super::note_internal_redirect(req, &previous, status);
    let (path, args) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target, None),
    };
    req.uri = path;
    req.args = args;
    if req.method != "HEAD" {
        req.method = "GET".to_string();
    }
    req.headers_out = Headers::default();
    req.prev_dir = Some(std::sync::Arc::clone(&req.dir));
    // The error document is a new request without the first one's input filters: the body
    // is left to the connection to discard as it is.
    req.unread_body = None;
    // The document's own content filters run over its answer (INCLUDES for Debian's
    // localized pages), as the redirected request's chain does in Apache.
    match serve_uri(req).and_then(|response| crate::filters::run_content_filters(req, response)) {
        Ok(mut response) => {
            response.status = status;
            req.error_document_served = true;
            // A status that ends the connection is never chunked (Apache's keep-alive
            // decision, which chunking depends on, is made already).
            if crate::http1::status::drops_connection(status) {
                response.close_delimited = true;
            }
            // A variant negotiated for an HTTP/1.0 client goes out already expired.
            if req.no_cache && response.headers.get("Expires").is_none() {
                let expires = crate::http1::date::format(req.now);
                response.after_connection.set("Expires", expires);
            }
            response
        }
        // Apache's note names the status the ErrorDocument's request carried when it failed:
        // the first error's, which the redirect keeps.
        Err(_) => {
            let mut response = error_response(req, status);
            note_earlier_error(&mut response, status);
            response
        }
    }
}

/// Apache's note on an error page sent while another answer was under way (an ErrorDocument
/// that failed, a body that failed to read behind a refusal): the status of that other one.
pub(crate) fn note_earlier_error(response: &mut Response, earlier: u16) {
    let Body::Bytes(page) = &mut response.body else {
        return;
    };
    let note = format!(
        "<p>Additionally, a {}\nerror was encountered while trying to use an ErrorDocument to handle the request.</p>\n",
        crate::http1::status::status_line(earlier)
    );
    let text = String::from_utf8_lossy(page).into_owned();
    if let Some(at) = text.rfind("</body></html>") {
        let mut with_note = text[..at].to_string();
        if let Some(hr) = with_note.rfind("<hr>\n<address>") {
            with_note.insert_str(hr, &note);
        } else {
            with_note.push_str(&note);
        }
        with_note.push_str(&text[at..]);
        *page = with_note.into_bytes();
    }
}

/// The ErrorDocument for `status` as this request reads it: its string expression evaluated
/// (a message keeps its leading `"`). An expression that fails is logged and no document.
pub(crate) fn error_document(req: &Request, status: u16) -> Option<String> {
    let action = req.dir.core.error_document(status)?;
    if !action.contains(['%', '\\']) || action == "default" {
        return Some(action.to_string());
    }
    let parsed = rhttpd_directives::expr::parse_string(action).ok()?;
    let env = environment(req);
    match parsed.eval(&expr::RequestContext::for_strings(req, &env)) {
        Ok(value) => Some(value),
        Err(err) => {
            let text =
                format!("AH02841: core: ErrorDocument: can't evaluate require expression: {err}");
            req.log_error("core", "error", &text);
            None
        }
    }
}

/// An error response for a request the pipeline never ran on (bad head, bad body).
pub(crate) fn early_error(
    rt: &Runtime,
    conn: ConnInfo,
    head: &RequestHead,
    status: u16,
    notes: Option<String>,
) -> Response {
    let host = request_host(head);
    let server = rt.select_server(conn.local, host, &head.target);
    let mut req = Request::new(rt, conn, std::borrow::Cow::Borrowed(head), server);
    req.error_notes = notes;
    // The path as sent, for the access log (nothing was parsed further).
    req.uri = head.target.split('?').next().unwrap_or("").to_string();
    let mut response = error_response(&req, status);
    finish(&req, &mut response, false);
    response
}

/// The response for a status that ended the request: ErrorDocument, or Apache's page.
pub(crate) fn error_response(req: &Request, status: u16) -> Response {
    let mut headers = Headers::default();
    if let Some(location) = req.headers_out.get("Location") {
        if (300..400).contains(&status) || status == 201 {
            headers.set("Location", location);
        }
    }
    if status == 405 || status == 501 {
        // A TRACE refused by TraceEnable Off was never offered any method.
        let allow = req
            .headers_out
            .get("Allow")
            .map(str::to_string)
            .unwrap_or_else(|| allow_list(req));
        headers.set("Allow", allow);
    }
    let header_only = req.method == "HEAD";
    if status == 304 || status == 204 {
        return Response {
            status,
            headers,
            content_type: None,
            body: Body::Empty,
            length_known: false,
            header_only: true,
            server: req.server,
            ..Default::default()
        };
    }
    if let Some(action) = error_document(req, status).filter(|a| a != "default") {
        if let Some(text) = action.strip_prefix('"') {
            return Response {
                status,
                // A status line a module gave its error stays (the script's own, under
                // ProxyErrorOverride).
                status_line: req.status_line.clone(),
                headers,
                content_type: Some(error_page_type(req)),
                body: Body::Bytes(text.as_bytes().to_vec()),
                length_known: !header_only,
                header_only,
                server: req.server,
                ..Default::default()
            };
        }
        if !action.starts_with('/') && status != 401 {
            headers.set("Location", action.as_str());
            return error_response_plain(req, 302, headers, Some(&action));
        }
    }
    let location = headers.get("Location").map(str::to_string);
    error_response_plain(req, status, headers, location.as_deref())
}

pub(crate) fn error_response_plain(
    req: &Request,
    status: u16,
    headers: Headers,
    location: Option<&str>,
) -> Response {
    let ctx = req.ctx();
    let signature = signature(req);
    // Repeated fields reach Apache's page merged, as every header does (only 417's shows it).
    let expect = (status == 417)
        .then(|| req.head.headers.get_joined("Expect"))
        .flatten();
    let cx = ErrorContext {
        method: &req.method,
        location,
        server_admin: ctx.runtime.core.server_admin(),
        error_notes: req.error_notes.as_deref(),
        expect: expect.as_deref(),
        signature,
        status_line: req.status_line.as_deref(),
        verbose: req.verbose_error_notes,
    };
    let page = error_page(status, &cx);
    let header_only = req.method == "HEAD";
    Response {
        status,
        headers,
        content_type: Some(error_page_type(req)),
        body: Body::Bytes(page.into_bytes()),
        status_line: req.status_line.clone(),
        // A HEAD error response carries no body and, in Apache, no Content-Length either.
        // 416 goes out after the range filter gave up on the body length: Apache sends it with
        // neither Content-Length nor chunking, ending it by closing the connection.
        length_known: !header_only && !req.filter_error,
        close_delimited: req.filter_error,
        header_only,
        server: req.server,
        ..Default::default()
    }
}

/// The type of Apache's own error pages: no charset when the `suppress-error-charset`
/// variable is set (nor is AddDefaultCharset's added then).
pub(crate) fn error_page_type(req: &Request) -> String {
    let env = environment(req);
    match crate::modules::env::get(&env, "suppress-error-charset") {
        Some(_) => "text/html".into(),
        None => "text/html; charset=iso-8859-1".into(),
    }
}

/// ServerSignature: `<hr>` and an `<address>` line naming the server, or nothing.
/// `ap_psignature("", r)`: the address line alone, without the rule an error page puts
/// before it (SERVER_SIGNATURE, mod_info's and the balancer manager's pages).
pub(crate) fn address_signature(req: &Request) -> String {
    let mut signature = signature(req);
    if signature.starts_with(SIGNATURE_RULE) {
        signature.drain(..SIGNATURE_RULE.len());
    }
    signature
}

/// What an error page's signature opens with.
const SIGNATURE_RULE: &str = "<hr>\n";

pub(crate) fn signature(req: &Request) -> String {
    let mode = req.dir.core.server_signature.as_deref().unwrap_or("off");
    if mode == "off" {
        return String::new();
    }
    let ctx = req.ctx();
    let (host, port) = (req.host_name(), req.server_port());
    let host = escape_html(&host);
    let banner = &req.rt.server_banner;
    if mode == "email" {
        let admin = escape_html(ctx.runtime.core.server_admin());
        format!("<hr>\n<address>{banner} Server at <a href=\"mailto:{admin}\">{host}</a> Port {port}</address>\n")
    } else {
        format!("<hr>\n<address>{banner} Server at {host} Port {port}</address>\n")
    }
}
