//! The request pipeline, top to bottom in Apache's order: read checks, virtual host, URI
//! normalisation, translate (mod_alias, DocumentRoot), map to storage (directory walk and
//! section merge), access (Require), type (mod_mime), fixups (mod_dir), handler (static files),
//! and the error document when any step ends the request.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::hooks::Fixup;
use crate::http1::{Headers, RequestHead};
use crate::modules::mime;
use crate::runtime::Runtime;

use super::errors::{error_response, handle_error, note_earlier_error};
use super::host::{host_status, http_target, named_host, request_host};
use super::{
    environment, expr, log_facts, make_content_type, simple, uri, ConnInfo, Framing, ProtocolEnv,
    Request, RequestBody, Response, Step,
};
use crate::http1::body::request_framing;
use crate::http1::fields::{check_fields, BadField};

use crate::modules::http_core::{
    add_protocol_filters, announce_protocols, protocol_filters, trace,
};

/// Runs the whole pipeline for one parsed head.
/// The body is either read already or read where the default handler discards it.
/// `head_refused` is the connection's `head_refused` verdict: only a refused head has its
/// host judged again here, for the status and the log line (Apache judges the host once, as
/// it reads the head, before RequestHeader's early rules run).
pub(crate) fn process<'r>(
    rt: &'r Runtime,
    conn: ConnInfo,
    head: &'r RequestHead,
    body: RequestBody<'r>,
    head_refused: bool,
) -> Response {
    match begin(rt, conn, head, body, head_refused, false) {
        Began::Answered(response) => response,
        // Never: only a request allowed to wait hands its wait back (a handler that did
        // regardless fails its request, not the connection).
        Began::Waiting(mut req, _) => complete(&mut req, Err(500)),
    }
}

/// What the pipeline made of a request the event MPM may let wait for its backend.
// Answered is the common case, returned by value once a request: boxing it would cost an
// allocation each time to save a move.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Processed {
    Answered(Response),
    /// The handler waits for a backend: the MPM watches `Suspended::fd` and calls
    /// [`Suspended::resume`] once it is readable (or the wait has run out).
    Waiting(Suspended),
}

/// A request held while its backend works, with no thread (see `BackendWait`).
pub(crate) struct Suspended {
    req: Box<Request<'static>>,
    wait: Box<dyn super::BackendWait>,
}

impl Suspended {
    pub(crate) fn fd(&self) -> std::os::fd::RawFd {
        self.wait.fd()
    }

    pub(crate) fn watch(&self) -> Option<u64> {
        self.wait.watch()
    }

    pub(crate) fn watched(&mut self, token: u64) {
        self.wait.watched(token);
    }

    pub(crate) fn timeout(&self) -> Option<std::time::Duration> {
        self.wait.timeout()
    }

    /// The handler's rest and everything after it: the response to send.
    pub(crate) fn resume(self, timed_out: bool) -> Response {
        let Suspended { mut req, wait } = self;
        let outcome = wait.resume(&mut req, timed_out);
        complete(&mut req, outcome)
    }
}

/// `process` for a request on a connection the event MPM parks: a handler whose backend has
/// not answered yet may hand the request back instead of waiting on this thread (once the
/// request's body, if any, has been read whole: the handlers send it before they wait).
pub(crate) fn process_or_wait<'r>(
    rt: &'static Runtime,
    conn: ConnInfo,
    head: &'r RequestHead,
    body: RequestBody<'r>,
) -> Processed {
    match begin(rt, conn, head, body, false, true) {
        Began::Answered(response) => Processed::Answered(response),
        Began::Waiting(req, wait) => Processed::Waiting(Suspended {
            req: Box::new(req.detach(rt)),
            wait,
        }),
    }
}

/// How the pipeline's first part ended.
#[allow(clippy::large_enum_variant)] // as `Processed`
enum Began<'r> {
    Answered(Response),
    Waiting(Box<Request<'r>>, Box<dyn super::BackendWait>),
}

/// The pipeline up to the handler's answer; `may_wait` lets the handler hand a backend wait
/// back.
fn begin<'r>(
    rt: &'r Runtime,
    conn: ConnInfo,
    head: &'r RequestHead,
    body: RequestBody<'r>,
    head_refused: bool,
    may_wait: bool,
) -> Began<'r> {
    let host = request_host(head);
    let path = head.target.split('?').next().unwrap_or("");
    let (server, named) = rt.select_server_checked(conn.local, host, path);
    let mut req = Request::new(rt, conn, std::borrow::Cow::Borrowed(head), server);
    match body {
        RequestBody::Read(length) => req.body_length = length,
        RequestBody::Unread(reader) => {
            req.body_length = match request_framing(&head.headers) {
                Ok(Framing::Length(length)) => length,
                _ => 0,
            };
            req.unread_body = Some(reader);
        }
    }
    edit_request_headers(&mut req, true);
    // StrictHostCheck On: a name-based address answers only the names it serves.
    if !named && rt.servers[server].runtime.core.strict_host_check == Some(true) {
        return Began::Answered(error_response(&req, 400));
    }
    // The protocol's own filters are on every request's chain (Apache adds them as it
    // creates the request); the insert_filter hooks add the rest before the handler runs.
    req.output_chain = protocol_filters();
    if may_wait {
        req.suspend = super::Suspend::Allowed;
    }
    let outcome = run(&mut req, head_refused);
    // Whatever runs from here on (an ErrorDocument's internal redirect) waits on its thread.
    match std::mem::take(&mut req.suspend) {
        super::Suspend::Waiting(wait) if outcome.as_ref().err() == Some(&super::WAITING) => {
            if req.unread_body.is_none() {
                return Began::Waiting(Box::new(req), wait);
            }
            // A body still on the connection ties the request to it: waited for here.
            let outcome = wait.resume(&mut req, false);
            return Began::Answered(complete(&mut req, outcome));
        }
        _ => {}
    }
    Began::Answered(complete(&mut req, outcome))
}

/// The pipeline from the handler's answer on: the output filters, the error document when
/// it failed, the fields every response gets.
fn complete(req: &mut Request, outcome: Step<Response>) -> Response {
    let outcome = outcome.and_then(|response| crate::filters::run_chain(req, response));
    let (outcome, interrupted) = finish_reading(req, outcome);
    let handled = outcome.is_ok();
    let (mut response, success) = match outcome {
        Ok(mut response) => {
            // Unless something set one already (mod_expires, in either table).
            let has_expires = [&req.err_headers, &response.headers, &response.late_headers]
                .iter()
                .any(|headers| headers.get("Expires").is_some());
            if req.no_cache && !has_expires {
                let expires = crate::http1::date::format(req.now);
                response.after_connection.set("Expires", expires);
            }
            // err_headers_out come first, before what mod_headers' `always` rules add later.
            if !req.err_headers.0.is_empty() {
                let mut headers = req.err_headers.clone();
                headers.0.append(&mut response.first_headers.0);
                response.first_headers = headers;
            }
            (response, true)
        }
        Err(status) => {
            let mut response = handle_error(req, status);
            if !req.error_document_served {
                response = run_error_filters(req, response);
            }
            if let Some(earlier) = interrupted {
                note_earlier_error(&mut response, earlier);
            }
            // err_headers_out: sent with the error, ahead of the ones it made itself. A page
            // the server makes swaps them into its headers_out (`ap_send_error_response`),
            // so mod_headers' `always` fields, added to the emptied table, go out before
            // them; a local ErrorDocument's request carries them as its own.
            if !req.err_headers.0.is_empty() {
                let mut headers = req.err_headers.clone();
                if req.error_document_served {
                    headers.0.append(&mut response.first_headers.0);
                    response.first_headers = headers;
                } else {
                    headers.0.append(&mut response.headers.0);
                    response.headers = headers;
                }
            }
            (response, req.error_document_served)
        }
    };
    finish(req, &mut response, success);
    let answered = handled || req.error_document_served;
    // The header filter's AddDefaultCharset, for the type the handler, the filters and
    // mod_headers left (Apache's error pages carry their own).
    if answered {
        if let Some(content_type) = response.content_type.take() {
            response.content_type = Some(make_content_type(req, content_type));
        }
    }
    refuse_bad_header_fields(req, response)
}

/// Apache's `ap_send_error_response` on its chain: the filters the failed answer had are
/// dropped, the insert_error_filter hooks add those a page the server makes passes through
/// (mod_expires' for a redirect), and they run over it. A filter that fails here leaves its
/// own error page.
fn run_error_filters(req: &mut Request, response: Response) -> Response {
    req.output_chain = Default::default();
    if req.rt.hooks.insert_error_filter.run_all(req).is_err() {
        return response;
    }
    match crate::filters::run_chain(req, response) {
        Ok(response) => response,
        Err(status) => error_response(req, status),
    }
}

/// Apache's `ap_finalize_request_protocol`: a body no handler read is read now through the
/// request's input filters under its LimitRequestBody, unless the answer ends the connection
/// anyway or the client waits for `100 Continue` (it is never sent one for an answer like
/// this). A body that fails (too long, badly framed) replaces the answer with that error, as
/// Apache's error bucket does before anything is sent.
/// Also returns the status of the answer the error replaced when that was not a 200 (Apache's
/// page then notes it).
fn finish_reading(req: &mut Request, outcome: Step<Response>) -> (Step<Response>, Option<u16>) {
    let status = match &outcome {
        Ok(response) => response.status,
        Err(status) => *status,
    };
    let interrupted = (status != 200).then_some(status);
    let waits_for_continue = req.head.version == crate::http1::Version::Http11
        && req
            .head
            .headers
            .get_joined("Expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
    if req.unread_body.is_none()
        || crate::http1::status::drops_connection(status)
        || waits_for_continue
    {
        return (outcome, None);
    }
    // A request ended before it was mapped (a Redirect at translation) answers under the
    // configuration of the location walk Apache made before translating it.
    let limit = match req.filename {
        Some(_) => req.dir.core.limit_request_body,
        None => super::walk::location_walk(req).core.limit_request_body,
    };
    let limit = limit.unwrap_or(1 << 30);
    if limit > 0 && req.body_length > limit {
        req.filter_error = true;
        req.unread_body = None;
        return (Err(413), interrupted);
    }
    match super::input::read_body(req, limit, &mut |_| Ok(())) {
        Ok(()) => (outcome, None),
        Err(error) => (Err(error), interrupted),
    }
}

/// Apache's header filter: a response whose header fields could split its head (a control
/// character in a value, a name that is not a token) is not sent. The first time, a 500 goes
/// out in its place (its ErrorDocument and `always` headers applied, closed after); when that
/// one fails the check too, a bare 500 with an empty body, and the connection ends.
pub(crate) fn refuse_bad_header_fields(req: &mut Request, mut response: Response) -> Response {
    let strict = req.ctx().runtime.core.strict();
    let Err(bad) = check_header_fields(&mut response, strict) else {
        return response;
    };
    req.log_error("http", "error", &bad.to_string());
    req.err_headers = Headers::default();
    let mut error = handle_error(req, 500);
    finish(req, &mut error, false);
    error.length_known = false;
    error.close_delimited = true;
    let Err(bad) = check_header_fields(&mut error, strict) else {
        return error;
    };
    req.log_error("http", "error", &bad.to_string());
    Response {
        status: 500,
        length_known: true,
        server: error.server,
        log: std::mem::take(&mut error.log),
        ends_connection: true,
        ..Response::default()
    }
}

/// Checks (and unfolds) every header field list a response carries.
pub(crate) fn check_header_fields(response: &mut Response, strict: bool) -> Result<(), BadField> {
    for headers in [
        &mut response.first_headers,
        &mut response.headers,
        &mut response.late_headers,
        &mut response.after_length,
        &mut response.after_connection,
        &mut response.trailing,
    ] {
        check_fields(headers, strict)?;
    }
    Ok(())
}

/// RequestHeader: the `early` rules as the request arrives, the others at fixups.
pub(crate) fn edit_request_headers(req: &mut Request, early: bool) {
    let dir = Arc::clone(&req.dir);
    let Some(rules) = dir.typed.get::<crate::modules::headers::Dir>() else {
        return;
    };
    if !rules.edits_request(early) {
        return;
    }
    let env = environment(req);
    let original = req.head.headers.clone();
    let mut edited = original.clone();
    with_header_side(req, &env, &original, None, |side| {
        rules.fixup_request(&mut edited, side, early)
    });
    if edited.0 != original.0 {
        req.head.to_mut().headers = edited;
    }
}

/// What mod_headers' rules read of the request (`headers` as they stand, expressions over
/// it and, once there is one, the response's headers), handed to `rules`.
pub(crate) fn with_header_side<R>(
    req: &Request,
    env: &[(String, String)],
    headers: &Headers,
    response_headers: Option<&Headers>,
    rules: impl FnOnce(&crate::modules::headers::RequestSide) -> R,
) -> R {
    let since = req
        .now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut context = expr::RequestContext::new(req, env);
    context.response_headers = response_headers;
    let mut strings = expr::RequestContext::for_strings(req, env);
    strings.response_headers = response_headers;
    let eval = |e: &rhttpd_directives::expr::Expr| e.eval(&context) == Ok(true);
    let eval_string =
        |e: &rhttpd_directives::expr::StringExpr| e.eval(&strings).unwrap_or_default();
    let side = crate::modules::headers::RequestSide {
        eval: &eval,
        eval_string: &eval_string,
        headers,
        env,
        started_us: since.as_micros(),
        elapsed_us: req.now.elapsed().unwrap_or_default().as_micros(),
        tls: req.conn.tls.as_deref(),
    };
    rules(&side)
}

/// What follows the handler for every response: the environment, mod_headers' fixups, and
/// what the access log will need.
pub(crate) fn finish(req: &Request, response: &mut Response, success: bool) {
    let env = environment(req);
    // `OPTIONS *` is answered before any handler or filter is set up (Apache's core answers
    // it while it reads the request): mod_headers' rules never see it.
    let asterisk = success && req.uri == "*" && req.method == "OPTIONS";
    let rules = req.dir.typed.get::<crate::modules::headers::Dir>();
    if let Some(rules) = rules.filter(|r| !r.is_empty() && !asterisk) {
        let consulted = req.expr_vary.borrow().len();
        // Expressions see the response headers as they were before these rules ran.
        let response_headers = response.headers.clone();
        let mut outgoing = crate::modules::headers::Outgoing {
            first: &mut response.first_headers,
            head: &mut response.headers,
            tail: &mut response.late_headers,
            content_type: &mut response.content_type,
        };
        with_header_side(
            req,
            &env,
            &req.head.headers,
            Some(&response_headers),
            |side| rules.fixup(&mut outgoing, side, success),
        );
        place_content_type(req, response);
        // The request headers their conditions read join Vary, as each of Apache's
        // evaluations adds them: to a Vary already there, else after what the handler set.
        let read = req.expr_vary.borrow()[consulted..].to_vec();
        if !read.is_empty() {
            let target = if success && response.headers.get("Vary").is_none() {
                &mut response.late_headers
            } else {
                &mut response.headers
            };
            expr::merge_vary(target, &read);
        }
    }
    fix_vary(response);
    response.protocol_env = ProtocolEnv::of(&env);
    if response.protocol_env.force_no_vary {
        for headers in [
            &mut response.first_headers,
            &mut response.headers,
            &mut response.late_headers,
        ] {
            headers.remove("Vary");
        }
    }
    // What the access log needs is gathered only for a server that writes one.
    if req.rt.logs.wanted(req.server) {
        response.log = Some(Box::new(log_facts(req, env)));
    }
}

/// Apache's header filter rewrites the response's Vary (its headers_out, not the error
/// headers) as one field: every token once, compared without case, joined by bare commas.
fn fix_vary(response: &mut Response) {
    let mut tokens: Vec<String> = Vec::new();
    let mut seen = false;
    for headers in [&response.headers, &response.late_headers] {
        for (_, value) in headers
            .0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Vary"))
        {
            seen = true;
            for token in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if !tokens.iter().any(|t| t.eq_ignore_ascii_case(token)) {
                    tokens.push(token.to_string());
                }
            }
        }
    }
    if !seen {
        return;
    }
    let joined = tokens.join(",");
    let mut placed = false;
    for headers in [&mut response.headers, &mut response.late_headers] {
        headers.0.retain_mut(|(name, value)| {
            if !name.eq_ignore_ascii_case("Vary") {
                return true;
            }
            if placed {
                return false;
            }
            placed = true;
            *value = joined.clone();
            true
        });
    }
}

/// A Content-Type field mod_headers put in a table is where the header filter writes the
/// response's type (with AddDefaultCharset's charset), in that field's place; only the first
/// such field stays, and the type is not written again at the end.
fn place_content_type(req: &Request, response: &mut Response) {
    let mut placed = false;
    for headers in [
        &mut response.first_headers,
        &mut response.headers,
        &mut response.late_headers,
    ] {
        headers.0.retain_mut(|(name, value)| {
            if !name.eq_ignore_ascii_case("Content-Type") {
                return true;
            }
            if placed {
                return false;
            }
            placed = true;
            match response.content_type.take() {
                Some(content_type) => {
                    *value = make_content_type(req, content_type);
                    true
                }
                None => false,
            }
        });
    }
}

pub(crate) fn run(req: &mut Request, head_refused: bool) -> Step<Response> {
    let host_refused = head_refused
        .then(|| host_status(req.rt, &req.head, req.conn.local))
        .flatten();
    if let Some(status) = host_refused {
        let strict = req.rt.servers[req.rt.base_server(req.conn.local)]
            .runtime
            .core
            .strict();
        if let Some(host) = named_host(&req.head).filter(|h| !uri::valid_host(h, strict)) {
            let text = format!("AH00550: Client sent malformed Host header: {host}");
            req.log_error("core", "debug", &text);
        }
        return Err(status);
    }
    req.rt.hooks.post_read_request.run_all(req)?;
    let target = req.head.target.clone();
    if target.contains('#') {
        return Err(400);
    }
    if req.method == "CONNECT" {
        return Err(405);
    }
    // `*`, with a query or not (APR's path `*`).
    if target.split('?').next() == Some("*") {
        if req.method == "OPTIONS" {
            req.uri = "*".to_string();
            announce_protocols(req);
            return Ok(simple(req, 200, None));
        }
        return Err(400);
    }
    // A target that is not a path reads as `scheme:...` to APR when a colon comes before any
    // slash: a scheme other than http (or text that is no scheme, `?q:x`) is a bad request.
    if http_target(&target).is_none() && !target.starts_with('/') {
        let colon = target.find(':');
        if colon.is_some_and(|at| !target[..at].contains('/')) {
            return Err(400);
        }
    }
    let path_part = match http_target(&target) {
        // An absolute target loses its scheme and authority; an empty path is `/`.
        Some((_, rest)) if rest.is_empty() || rest.starts_with('?') => format!("/{rest}"),
        Some((_, rest)) => rest.to_string(),
        None => target.clone(),
    };
    let (raw_path, args) = match path_part.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (path_part, None),
    };
    req.args = args;
    // A target with no path at all (`?query`) is `/`, or `*` for OPTIONS (ap_parse_uri).
    if raw_path.is_empty() && req.method == "OPTIONS" {
        req.uri = "*".to_string();
        announce_protocols(req);
        return Ok(simple(req, 200, None));
    }
    let raw_path = if raw_path.is_empty() {
        "/".to_string()
    } else {
        raw_path
    };
    let core = &req.ctx().runtime.core;
    let slashes = match core.allow_encoded_slashes.as_deref() {
        Some("on") => uri::EncodedSlashes::Decode,
        Some("nodecode") => uri::EncodedSlashes::Keep,
        _ => uri::EncodedSlashes::Refuse,
    };
    let decoded = uri::normalize_bytes(&raw_path, core.merge_slashes.unwrap_or(true), slashes);
    req.uri = match decoded {
        Ok(path) => match String::from_utf8(path) {
            Ok(text) => text,
            Err(not_text) => {
                let bytes = not_text.into_bytes();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                req.received_uri = Some(bytes);
                text
            }
        },
        Err(uri::UriError::InvalidPath) => {
            let text = format!("AH10244: invalid URI path ({target})");
            req.log_error("core", "error", &text);
            return Err(400);
        }
        Err(uri::UriError::BadRequest) => return Err(400),
        Err(uri::UriError::NotFound) => {
            if slashes == uri::EncodedSlashes::Refuse {
                // Apache's wording, whether it was a %2f or a %00.
                let text = format!(
                    "AH00026: found %2f (encoded '/') in URI path ({target}), returning 404"
                );
                req.log_error("core", "info", &text);
            }
            return Err(404);
        }
    };
    req.original_uri = Some(req.uri.clone());
    req.original_args = req.args.clone();
    if req.method == "TRACE" {
        return trace(req);
    }
    serve_uri(req)
}

/// Apache's `ap_process_request_internal` then `ap_invoke_handler`, from translation on, each
/// phase a list of hooks; re-entered after an internal redirect (DirectoryIndex,
/// FallbackResource, a type map's variant).
pub(crate) fn serve_uri(req: &mut Request) -> Step<Response> {
    let hooks = &req.rt.hooks;
    loop {
        let filename = translate(req)?;
        map_and_check(req, filename)?;
        hooks.type_checker.run_first(req)?;
        if hooks.fixups.run_all(req)? == Fixup::InternalRedirect {
            continue;
        }
        // What expressions read so far is what the response varies by.
        let vary = req.expr_vary.borrow().clone();
        expr::merge_vary(&mut req.headers_out, &vary);
        // The protocol's filters again, in the chain's own room.
        req.output_chain.clear();
        add_protocol_filters(&mut req.output_chain);
        req.input_chain = Default::default();
        hooks.insert_filter.run_all(req)?;
        return match hooks.handler.run_first(req)? {
            Some(response) => Ok(response),
            // The default handler answers everything; without it nothing would.
            None => Err(500),
        };
    }
}

/// The default handler's answer to a method it does not know: 501, logged as Apache logs it
/// (with a hint when the request line looks like a TLS handshake sent to a plain port).
pub(crate) fn invalid_method(req: &Request) -> u16 {
    let line = req.head.request_line.as_slice();
    // The line goes into the message as it arrived; the error log escapes its bytes.
    let text = if line.first() == Some(&0x16) && matches!(line.get(1), Some(2 | 3)) {
        [
            b"AH00134: Invalid method in request ",
            line,
            b" - possible attempt to establish SSL connection on non-SSL port",
        ]
        .concat()
    } else {
        [b"AH00135: Invalid method in request ", line].concat()
    };
    req.log_error_bytes("core", "error", &text);
    501
}

/// translate_name: the file the URI names. Sub-requests by URI start here too.
pub(crate) fn translate(req: &mut Request) -> Step<PathBuf> {
    req.dir = Arc::clone(&req.ctx().dir);
    req.script_alias = false;
    req.context_info = None;
    req.document_root = None;
    req.path_info.clear();
    req.finfo = None;
    req.file_info = None;
    req.section_variables = super::walk::location_variables(req);
    let hooks = &req.rt.hooks;
    // Core's DocumentRoot translation never declines.
    hooks.translate_name.run_first(req)?.ok_or(500)
}

/// map_to_storage (the walk to the resource, the rest of the path its PATH_INFO, the sections
/// merged), then access control, authentication and authorization.
pub(crate) fn map_and_check(req: &mut Request, filename: PathBuf) -> Step<()> {
    req.filename = Some(filename);
    let hooks = &req.rt.hooks;
    hooks.map_to_storage.run_first(req)?;
    check_access(req)
}

/// Access control, authentication and authorization as Apache's `ap_process_request_internal`
/// combines them: the address checks (enough by themselves under `Satisfy Any`), then
/// authorization without a user, and only when that declines, authentication and
/// authorization of the user. A phase nobody answers is a configuration error.
fn check_access(req: &mut Request) -> Step<()> {
    // An internal redirect landing under the configuration it came from was checked already.
    if req
        .prev_dir
        .as_ref()
        .is_some_and(|prev| Arc::ptr_eq(prev, &req.dir))
    {
        return Ok(());
    }
    let hooks = &req.rt.hooks;
    let satisfy_any = hooks.satisfy_any.is_some_and(|satisfies| satisfies(req));
    match hooks.access_checker.run_all(req) {
        Ok(()) if satisfy_any => return Ok(()),
        Err(status) if !satisfy_any => return Err(status),
        _ => {}
    }
    if hooks.access_checker_ex.run_first(req)?.is_some() {
        return Ok(());
    }
    if hooks.check_user_id.run_first(req)?.is_none() {
        return Err(configuration_error(req, "check user"));
    }
    if req.user.is_none() {
        let id = if satisfy_any { "AH00028" } else { "AH00027" };
        let text = format!(
            "{id}: No authentication done but request not allowed without authentication for \
             {}. Authentication not configured?",
            req.uri
        );
        req.log_error("core", "error", &text);
        return Err(500);
    }
    if hooks.auth_checker.run_first(req)?.is_none() {
        return Err(configuration_error(req, "check authorization"));
    }
    Ok(())
}

/// A phase no module answered (Apache's `decl_die` for DECLINED).
fn configuration_error(req: &Request, phase: &str) -> u16 {
    let text = format!(
        "AH00025: configuration error:  couldn't {phase}: {}",
        req.uri
    );
    req.log_error("core", "crit", &text);
    500
}

/// A sub-request for a file (Apache's `ap_sub_req_lookup_file`): mapped, checked and fixed up
/// as the main request would be, for its caller to look at; the file and what is on disk there.
pub(crate) fn lookup_file(
    sub: &mut Request,
    filename: PathBuf,
) -> Step<(PathBuf, Option<fs::Metadata>)> {
    map_and_check(sub, filename)?;
    sub.rt.hooks.fixups.run_all(sub)?;
    Ok((sub.filename.clone().unwrap_or_default(), sub.finfo.clone()))
}

/// A sub-request for a URI (Apache's `ap_sub_req_lookup_uri`): translated, then as
/// [`lookup_file`].
pub(crate) fn lookup_uri(sub: &mut Request) -> Step<(PathBuf, Option<fs::Metadata>)> {
    let filename = translate(sub)?;
    lookup_file(sub, filename)
}

/// The handler SetHandler names (mod_mime assigns none to directories), unless `None`.
pub(crate) fn set_handler<'a>(req: &'a Request<'_>) -> Option<&'a str> {
    if let Some(forced) = crate::modules::rewrite::forced_handler(req) {
        return Some(forced);
    }
    match req.dir.core.set_handler.as_deref() {
        Some("none") => None,
        None if req.script_alias => Some("cgi-script"),
        None => None,
        set => set,
    }
}

/// The handler a request reaches: SetHandler, else mod_mime's by extension.
pub(crate) fn handler_of(req: &Request, filename: &Path) -> Option<String> {
    if let Some(handler) = set_handler(req) {
        return Some(handler.to_string());
    }
    // No mod_mime configuration here maps no handler.
    let dir = req.dir.typed.get::<mime::Dir>()?;
    let base = filename.file_name().map(|n| n.to_string_lossy());
    mime::handler(base.as_deref().unwrap_or(""), dir)
}
