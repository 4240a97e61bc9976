//! http_core, whole: KeepAlive, KeepAliveTimeout and MaxKeepAliveRequests (table, setters,
//! typed per-server configuration), and its own answers: TRACE, OPTIONS (the Allow list)
//! and the Upgrade announcement of the Protocols directive; the protocol's output filters.

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::{atoi, timeout_ms};

use crate::filters::{InputFilter, OutputChain};
use crate::hooks::{Hooks, Order};
use crate::http1::body::request_framing;
use crate::request::{simple, Body, Request, Response, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "http_module",
    source: "http_core.c",
    builtin: true,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "KeepAliveTimeout",
        Take1(keep_alive_timeout),
        RSRC_CONF,
        "Keep-Alive timeout duration (sec)",
    )
    .forbid(NOT_IN_DIR_CONTEXT)
    .implemented(),
    DirectiveDef::new(
        "MaxKeepAliveRequests",
        Take1(max_keep_alive_requests),
        RSRC_CONF,
        "Maximum number of Keep-Alive requests per connection, or 0 for infinite",
    )
    .forbid(NOT_IN_DIR_CONTEXT)
    .implemented(),
    DirectiveDef::new(
        "KeepAlive",
        Flag(keep_alive),
        RSRC_CONF,
        "Whether persistent connections should be On or Off",
    )
    .forbid(NOT_IN_DIR_CONTEXT)
    .implemented(),
];

fn keep_alive(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.server_config::<ServerConf>().keep_alive = Some(on);
    Ok(())
}

fn keep_alive_timeout(cmd: &mut Cmd, arg: &str) -> SetResult {
    let ms = timeout_ms(arg, "s").ok_or("KeepAliveTimeout has wrong format")?;
    cmd.server_config::<ServerConf>().keep_alive_timeout_ms = Some(ms);
    Ok(())
}

fn max_keep_alive_requests(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.server_config::<ServerConf>().max_keep_alive_requests = Some(atoi(arg).max(0) as u64);
    Ok(())
}

/// http_core's per-server configuration: persistent connections.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub keep_alive: Option<bool>,
    pub keep_alive_timeout_ms: Option<u64>,
    pub max_keep_alive_requests: Option<u64>,
}

impl DirConfig for ServerConf {
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        ServerConf {
            keep_alive: vhost.keep_alive.or(self.keep_alive),
            keep_alive_timeout_ms: vhost.keep_alive_timeout_ms.or(self.keep_alive_timeout_ms),
            max_keep_alive_requests: vhost
                .max_keep_alive_requests
                .or(self.max_keep_alive_requests),
        }
    }
}

/// Apache's defaults: KeepAlive On, KeepAliveTimeout 5, MaxKeepAliveRequests 100.
impl ServerConf {
    pub fn keep_alive(&self) -> bool {
        self.keep_alive.unwrap_or(true)
    }
    pub fn keep_alive_timeout_ms(&self) -> u64 {
        self.keep_alive_timeout_ms.unwrap_or(5000)
    }
    pub fn max_keep_alive_requests(&self) -> u64 {
        self.max_keep_alive_requests.unwrap_or(100)
    }
}

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

/// Whether TraceEnable lets TRACE through (and so into every Allow field).
pub(crate) fn trace_enabled(req: &Request) -> bool {
    req.ctx()
        .runtime
        .core
        .trace_enable
        .as_deref()
        .unwrap_or("on")
        != "off"
}

/// The methods the default handler allows, TRACE only while TraceEnable permits it.
pub(crate) fn allow_list(req: &Request) -> String {
    if trace_enabled(req) {
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
    hooks.input_filters.register(&HTTP_IN);
}

/// HTTP's body framing (length, chunked) is the connection's (`http1::body`): the name is
/// accepted and adds no stage.
static HTTP_IN: InputFilter = InputFilter {
    name: "HTTP_IN",
    start: |_| None,
};

/// The filters every request's chain starts with: the byte-range filter. (The header
/// filter's work, after mod_headers' rules, is `pipeline::finish`.)
pub fn protocol_filters() -> OutputChain {
    let mut chain = OutputChain::default();
    add_protocol_filters(&mut chain);
    chain
}

/// Puts the protocol's own filters on `chain`.
pub fn add_protocol_filters(chain: &mut OutputChain) {
    chain.insert(&crate::request::byterange::BYTERANGE);
}

fn upgrade_handler(req: &mut Request) -> Step<Option<Response>> {
    announce_protocols(req);
    Ok(None)
}
