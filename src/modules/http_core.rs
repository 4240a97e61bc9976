//! http_core's own answers: TRACE, OPTIONS (the Allow list) and the Upgrade announcement of
//! the Protocols directive.

use crate::hooks::{Hooks, Order};
use crate::http1::body::request_framing;
use crate::request::{simple, Body, Request, Response, Step};

/// TRACE: echoed back unless TraceEnable Off (405) or it carries a body.
pub(crate) fn trace(req: &mut Request) -> Step<Response> {
    let enabled = req
        .ctx()
        .runtime
        .core
        .trace_enable
        .as_deref()
        .unwrap_or("on");
    if enabled == "off" {
        req.headers_out.set("Allow", "");
        return Err(405);
    }
    let has_body = request_framing(&req.head.headers).is_ok_and(|framing| framing.has_body());
    if has_body && enabled != "extended" {
        return Err(413);
    }
    let mut body = format!("{}\r\n", String::from_utf8_lossy(&req.head.request_line));
    for (name, value) in &req.head.headers.0 {
        body.push_str(&format!("{name}: {value}\r\n"));
    }
    body.push_str("\r\n");
    let mut resp = simple(req, 200, Some("message/http".to_string()));
    resp.length_known = false;
    resp.body = Body::Bytes(body.into_bytes());
    Ok(resp)
}

/// The default handler's answer to OPTIONS: the methods allowed and an empty body, whose
/// length the length filter adds after whatever mod_headers added.
pub(crate) fn options_response(req: &Request, content_type: Option<String>) -> Response {
    let mut resp = simple(req, 200, content_type);
    resp.headers.set("Allow", allow_list(req));
    resp.length_last = true;
    resp
}

/// The methods the default handler allows, TRACE only while TraceEnable permits it.
pub(crate) fn allow_list(req: &Request) -> String {
    let trace = req
        .ctx()
        .runtime
        .core
        .trace_enable
        .as_deref()
        .unwrap_or("on")
        != "off";
    if trace {
        "GET,POST,OPTIONS,HEAD,TRACE".to_string()
    } else {
        "GET,POST,OPTIONS,HEAD".to_string()
    }
}

/// Core's first handler (Apache's `core_upgrade_handler`): on a connection's first request
/// that asks for no upgrade, the protocols Protocols lists before this one are offered, in
/// `Upgrade` and `Connection: Upgrade` (kept only if the response succeeds).
pub(crate) fn announce_protocols(req: &mut Request) {
    if req.conn.served_before > 0
        || req
            .head
            .headers
            .get("Upgrade")
            .is_some_and(|u| !u.is_empty())
    {
        return;
    }
    let Some(protocols) = &req.ctx().runtime.core.protocols else {
        return;
    };
    let current = "http/1.1";
    if protocols.len() == 1 && protocols[0] == current {
        return;
    }
    let offered: Vec<&str> = protocols
        .iter()
        .map(String::as_str)
        .take_while(|p| *p != current)
        .collect();
    if !offered.is_empty() {
        let offered = offered.join(",");
        req.headers_out.set("Upgrade", offered);
        req.headers_out.set("Connection", "Upgrade");
    }
}

/// http_core's hook: the Upgrade offer, first of the handlers, which then declines.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .handler
        .add("http_core", Order::ReallyFirst, upgrade_handler);
}

fn upgrade_handler(req: &mut Request) -> Step<Option<Response>> {
    announce_protocols(req);
    Ok(None)
}
