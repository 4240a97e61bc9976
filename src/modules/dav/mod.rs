//! mod_dav (the WebDAV protocol: class 1 and 2 methods, multistatus bodies, the `If:` header,
//! its directives), with mod_dav_fs (the `filesystem` provider: DavLockDB, the repository in
//! `fs.rs`, the lock database in `locks.rs`) and mod_dav_lock (DavGenericLockDB, the lock
//! database a provider without its own would use). Request bodies are parsed in `xml.rs`,
//! properties listed and checked in `props.rs`.
//!
//! As Apache's, the module takes every request under a `Dav` directory but GET, HEAD and
//! POST, which the other handlers keep (mod_dav_fs serves no GET of its own). What differs
//! from apache2 is listed in README's mod_dav section: the two databases' file formats (text
//! files of rhttpd's, where Apache keeps Berkeley DB files) and the order of dead properties
//! in an allprop answer.

pub mod fs;
pub mod locks;
mod props;
pub mod xml;

use props::*;

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

use crate::hooks::{Hooks, Order};
use crate::http1::status::status_line;
use crate::request::{simple, uri, Body, Request, Response, Step};
use fs::{PropDb, Resource};
use locks::{IfList, Lock, LockDb, Scope, State};
use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::{ACCESS_CONF, RSRC_CONF};
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::util::escape::{escape_html_str as escape_html, escape_uri};
use xml::{Doc, Elem, Ns};

pub static MODULE: ModuleDef = ModuleDef {
    id: "dav_module",
    source: "mod_dav.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

pub static FS_MODULE: ModuleDef = ModuleDef {
    id: "dav_fs_module",
    source: "mod_dav_fs.c",
    builtin: false,
    has_dir_config: false,
    directives: FS_DIRECTIVES,
};

pub static LOCK_MODULE: ModuleDef = ModuleDef {
    id: "dav_lock_module",
    source: "mod_dav_lock.c",
    builtin: false,
    has_dir_config: true,
    directives: LOCK_DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "DAV",
        Take1(set_dav),
        ACCESS_CONF,
        "specify the DAV provider for a directory or location",
    )
    .implemented(),
    DirectiveDef::new(
        "DAVBasePath",
        Take1(set_base_path),
        ACCESS_CONF,
        "specify the DAV repository base URL",
    )
    .implemented(),
    DirectiveDef::new(
        "DAVMinTimeout",
        Take1(set_min_timeout),
        ACCESS_CONF | RSRC_CONF,
        "specify minimum allowed timeout",
    )
    .implemented(),
    DirectiveDef::new(
        "DAVDepthInfinity",
        Flag(set_depth_infinity),
        ACCESS_CONF | RSRC_CONF,
        "allow Depth infinity PROPFIND requests",
    )
    .implemented(),
    DirectiveDef::new(
        "DAVLockDiscovery",
        Flag(set_lock_discovery),
        ACCESS_CONF | RSRC_CONF,
        "allow lock discovery by PROPFIND requests",
    )
    .implemented(),
];

const FS_DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "DAVLockDB",
    Take1(set_lock_db),
    RSRC_CONF,
    "specify a lock database",
)
.implemented()];

const LOCK_DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "DAVGenericLockDB",
    Take1(set_generic_lock_db),
    ACCESS_CONF,
    "specify a lock database",
)
.implemented()];

/// mod_dav's per-directory configuration. As Apache's merge, a section inherits whatever it
/// does not set, so `DAV Off` cannot turn a subtree of a DAV location off.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    /// The provider (`filesystem` for `DAV On`).
    pub provider: Option<String>,
    /// DAVBasePath: the repository's root for providers that need it (mod_dav_fs maps URIs
    /// by the request's own translation and reads none).
    pub base: Option<String>,
    /// DAVMinTimeout in seconds (0 is unset).
    pub min_timeout: u64,
    pub depth_infinity: Option<bool>,
    pub lock_discovery: Option<bool>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            provider: child.provider.clone().or_else(|| self.provider.clone()),
            base: child.base.clone().or_else(|| self.base.clone()),
            min_timeout: if child.min_timeout != 0 {
                child.min_timeout
            } else {
                self.min_timeout
            },
            depth_infinity: child.depth_infinity.or(self.depth_infinity),
            lock_discovery: child.lock_discovery.or(self.lock_discovery),
        }
    }
}

/// mod_dav_fs's per-server configuration: the lock database.
#[derive(Debug, Clone, Default)]
pub struct FsServer {
    pub lock_db: Option<PathBuf>,
}

impl DirConfig for FsServer {
    fn merge(&self, child: &FsServer) -> FsServer {
        FsServer {
            lock_db: child.lock_db.clone().or_else(|| self.lock_db.clone()),
        }
    }
}

/// mod_dav_lock's per-directory configuration: the generic lock database, for providers
/// that keep no locks of their own (mod_dav_fs keeps its own, so nothing in rhttpd reads it,
/// as nothing in Apache's set does).
#[derive(Debug, Clone, Default)]
pub struct LockDir {
    pub lock_db: Option<PathBuf>,
}

impl DirConfig for LockDir {
    fn merge(&self, child: &LockDir) -> LockDir {
        LockDir {
            lock_db: child.lock_db.clone().or_else(|| self.lock_db.clone()),
        }
    }
}

/// DAV On|Off|provider: a provider must be registered (mod_dav_fs registers `filesystem`)
/// by a module loaded before the line.
fn set_dav(cmd: &mut Cmd, arg: &str) -> SetResult {
    let provider = if arg.eq_ignore_ascii_case("on") {
        Some("filesystem".to_string())
    } else if arg.eq_ignore_ascii_case("off") {
        None
    } else {
        Some(arg.to_string())
    };
    if let Some(name) = &provider {
        let fs_loaded = cmd.cfg.read.modules.iter().any(|m| m.id == FS_MODULE.id);
        if !(name == "filesystem" && fs_loaded) {
            return Err(format!("Unknown DAV provider: {name}"));
        }
    }
    cmd.dir_config::<Dir>().provider = provider;
    Ok(())
}

fn set_base_path(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.dir_config::<Dir>().base = Some(arg.to_string());
    Ok(())
}

/// DAVMinTimeout: `atoi`, refused below zero.
fn set_min_timeout(cmd: &mut Cmd, arg: &str) -> SetResult {
    let digits: String = {
        let t = arg.trim_start();
        let (sign, rest) = match t.strip_prefix('-') {
            Some(rest) => ("-", rest),
            None => ("", t.strip_prefix('+').unwrap_or(t)),
        };
        let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        format!("{sign}{n}")
    };
    let value: i64 = digits.parse().unwrap_or(0);
    if value < 0 {
        return Err("DAVMinTimeout requires a non-negative integer.".into());
    }
    cmd.dir_config::<Dir>().min_timeout = value as u64;
    Ok(())
}

fn set_depth_infinity(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().depth_infinity = Some(on);
    Ok(())
}

fn set_lock_discovery(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().lock_discovery = Some(on);
    Ok(())
}

fn set_lock_db(cmd: &mut Cmd, arg: &str) -> SetResult {
    let path = cmd.cfg.read.server_root_relative(arg);
    cmd.server_config::<FsServer>().lock_db = Some(path);
    Ok(())
}

fn set_generic_lock_db(cmd: &mut Cmd, arg: &str) -> SetResult {
    let path = cmd.cfg.read.server_root_relative(arg);
    cmd.dir_config::<LockDir>().lock_db = Some(path);
    Ok(())
}

/// mod_dav's hooks: its handler, which Apache's fixup makes the request's (`dav-handler`)
/// for every method but GET and POST under a DAV directory, so it runs before the others.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks.handler.add("dav", Order::ReallyFirst, handler);
}

/// mod_dav_fs and mod_dav_lock only provide (a repository, a lock database); no hooks.
pub fn register_provider(_: &mut Hooks) {}

// --- errors and responses -------------------------------------------------------------

const XML_TYPE: &str = "text/xml; charset=\"utf-8\"";
const XML_HEADER: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>";
const INFINITY: u32 = u32::MAX;

/// mod_dav's `dav_error`: a status with its description and error id, the system error
/// that caused it, and the error it was pushed over.
#[derive(Debug)]
pub struct DavError {
    pub status: u16,
    pub id: u32,
    pub desc: Option<String>,
    pub cause: Option<std::io::Error>,
    pub prev: Option<Box<DavError>>,
}

impl DavError {
    fn new(status: u16, id: u32, desc: impl Into<String>) -> DavError {
        DavError {
            status,
            id,
            desc: Some(desc.into()),
            cause: None,
            prev: None,
        }
    }

    fn bare(status: u16) -> DavError {
        DavError {
            status,
            id: 0,
            desc: None,
            cause: None,
            prev: None,
        }
    }

    fn caused(mut self, cause: std::io::Error) -> DavError {
        self.cause = Some(cause);
        self
    }

    fn push(self, status: u16, desc: impl Into<String>) -> DavError {
        DavError {
            status,
            id: 0,
            desc: Some(desc.into()),
            cause: None,
            prev: Some(Box::new(self)),
        }
    }
}

/// `dav_log_err`: every error of the stack that has a description, outermost first.
fn log_err(req: &Request, err: &DavError, level: &str) {
    let mut scan = Some(err);
    while let Some(e) = scan {
        if let Some(desc) = &e.desc {
            let text = format!("{desc}  [{}, #{}]", e.status, e.id);
            req.log_os_error("dav", level, e.cause.as_ref(), &text);
        }
        scan = e.prev.as_deref();
    }
}

/// One `<D:response>` of a multistatus body: its propstats and namespace declarations as
/// the pieces mod_dav writes them in (they decide where the body is flushed, see [`Brigade`]).
struct MultiResponse {
    href: String,
    status: u16,
    propstats: Option<Vec<String>>,
    xmlns: Vec<String>,
    desc: Option<String>,
}

impl MultiResponse {
    fn status(href: String, status: u16) -> MultiResponse {
        MultiResponse {
            href,
            status,
            propstats: None,
            xmlns: Vec::new(),
            desc: None,
        }
    }
}

/// `dav_xml_escape_uri`: the URI escaped, and its `&` quoted.
fn xml_escape_uri(uri: &str) -> String {
    escape_uri(uri).replace('&', "&amp;")
}

/// What APR's brigade buffering makes of mod_dav's writes (`apr_brigade_write` with a flush
/// function): writes gather in an 8000-byte buffer, and one that does not fit is sent with
/// what was buffered, down the filters as one pass. A body that never filled the buffer
/// reaches the length filter whole (a Content-Length); one that did goes out chunked, one
/// chunk a pass, as a client sees it from Apache.
#[derive(Default)]
struct Brigade {
    body: Vec<u8>,
    passes: Vec<usize>,
    pending: usize,
    buffered: Option<usize>,
}

/// APR_BUCKET_BUFF_SIZE.
const BUCKET_BUFF_SIZE: usize = 8000;

impl Brigade {
    fn write(&mut self, text: &str) {
        let n = text.len();
        self.body.extend_from_slice(text.as_bytes());
        self.pending += n;
        let remaining = BUCKET_BUFF_SIZE - self.buffered.unwrap_or(0);
        if n > remaining {
            self.passes.push(self.pending);
            self.pending = 0;
            self.buffered = None;
        } else {
            self.buffered = Some(self.buffered.unwrap_or(0) + n);
        }
    }

    /// The body with its end: whole, or the passes it went down in.
    fn finish(mut self) -> Body {
        if self.passes.is_empty() {
            return Body::Bytes(self.body);
        }
        if self.pending > 0 {
            self.passes.push(self.pending);
        }
        Body::Pieces(self.body, self.passes)
    }
}

/// `dav_send_one_response`, write by write.
fn write_response(out: &mut Brigade, r: &MultiResponse) {
    if r.xmlns.is_empty() {
        out.write("<D:response>");
    } else {
        out.write("<D:response");
        for decl in &r.xmlns {
            out.write(decl);
        }
        out.write(">");
    }
    out.write(&format!("\n<D:href>{}</D:href>\n", xml_escape_uri(&r.href)));
    match &r.propstats {
        None => out.write(&format!(
            "<D:status>HTTP/1.1 {}</D:status>\n",
            status_line(r.status)
        )),
        Some(pieces) => {
            for piece in pieces {
                out.write(piece);
            }
        }
    }
    if let Some(desc) = &r.desc {
        out.write(&format!(
            "<D:responsedescription>{desc}</D:responsedescription>\n"
        ));
    }
    out.write("</D:response>\n");
}

/// The start of a multistatus body, the document's namespaces declared on it (last first,
/// as mod_dav writes them).
fn begin_multistatus(out: &mut Brigade, namespaces: Option<&[String]>) {
    out.write(&format!("{XML_HEADER}\n<D:multistatus xmlns:D=\"DAV:\""));
    if let Some(namespaces) = namespaces {
        for (i, uri) in namespaces.iter().enumerate().rev() {
            out.write(&format!(" xmlns:ns{i}=\"{uri}\""));
        }
    }
    out.write(">\n");
}

fn xml_answer(req: &Request, status: u16, body: String) -> Response {
    let mut response = simple(req, status, Some(XML_TYPE.to_string()));
    response.header_only = false;
    response.body = Body::Bytes(body.into_bytes());
    response
}

/// A multistatus answer from its brigade: with its length when it went down whole.
fn brigade_answer(req: &Request, status: u16, out: Brigade) -> Response {
    let mut response = simple(req, status, Some(XML_TYPE.to_string()));
    response.header_only = false;
    response.body = out.finish();
    response.length_known = matches!(response.body, Body::Bytes(_));
    response
}

fn multistatus(
    req: &Request,
    status: u16,
    responses: &[MultiResponse],
    namespaces: Option<&[String]>,
) -> Response {
    let mut out = Brigade::default();
    begin_multistatus(&mut out, namespaces);
    for r in responses {
        write_response(&mut out, r);
    }
    out.write("</D:multistatus>\n");
    brigade_answer(req, status, out)
}

/// `dav_error_response`: a page of mod_dav's own for `status`, sent as the answer.
fn error_page(req: &Request, status: u16, text: &str) -> Response {
    let line = status_line(status);
    let reason = line.get(4..).unwrap_or("");
    let signature = crate::request::signature(req).replacen("<hr>\n", "<hr />\n", 1);
    let body = format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n<html>\n<head>\n<title>{line}</title>\n</head><body>\n<h1>{reason}</h1>\n<p>{text}</p>\n{signature}</body></html>\n"
    );
    let mut response = simple(
        req,
        status,
        Some("text/html; charset=ISO-8859-1".to_string()),
    );
    response.header_only = false;
    response.body = Body::Bytes(body.into_bytes());
    response
}

/// `dav_handle_err`: the errors logged, then the multistatus when there is one, else the
/// status for the server's own page.
fn handle_err(req: &mut Request, err: DavError, multi: Vec<MultiResponse>) -> Step<Response> {
    log_err(req, &err, "error");
    if multi.is_empty() {
        return Err(refuse(req, err.status));
    }
    Ok(multistatus(req, err.status, &multi, None))
}

/// A status mod_dav returns for the server's page: a 405 of its own lists only what
/// Apache's `make_allow` finds in a method mask mod_dav never fills (TRACE, if enabled).
fn refuse(req: &mut Request, status: u16) -> u16 {
    if status == 405 {
        let trace = req.ctx().runtime.core.trace_enable.as_deref() != Some("off");
        req.headers_out
            .set("Allow", if trace { "TRACE" } else { "" });
    }
    status
}

/// `dav_created`: 201 with a Location and mod_dav's page, or 204 when it replaced something.
fn created(
    req: &mut Request,
    location: Option<String>,
    what: &str,
    replaced: bool,
) -> Step<Response> {
    if replaced {
        return Err(204);
    }
    let location = location.unwrap_or_else(|| escape_uri(&req.uri));
    let absolute = crate::request::absolute_url(req, &location);
    req.headers_out.set("Location", absolute);
    let text = format!("{what} {} has been created.", escape_html(&location));
    Ok(error_page(req, 201, &text))
}

// --- request helpers ------------------------------------------------------------------

/// `dav_get_depth`: `None` (AH00580 logged) for a value that is not 0, 1 or infinity.
fn depth(req: &Request, default: u32) -> Option<u32> {
    match req.head.headers.get("Depth") {
        None => Some(default),
        Some(d) if d.eq_ignore_ascii_case("infinity") => Some(INFINITY),
        Some("0") => Some(0),
        Some("1") => Some(1),
        Some(_) => {
            req.log_error(
                "dav",
                "error",
                "AH00580: An invalid Depth header was specified.",
            );
            None
        }
    }
}

/// `dav_get_overwrite`.
fn overwrite(req: &Request) -> Option<bool> {
    match req.head.headers.get("Overwrite") {
        None | Some("T") | Some("t") => Some(true),
        Some("F") | Some("f") => Some(false),
        Some(_) => {
            req.log_error(
                "dav",
                "error",
                "AH00581: An invalid Overwrite header was specified.",
            );
            None
        }
    }
}

/// `dav_get_timeout`: the first value understood (`Infinite`, `Second-N`); none is infinite.
fn timeout(req: &Request) -> Option<u64> {
    let header = req.head.headers.get("Timeout")?;
    for word in header.split([' ', '\t']).filter(|w| !w.is_empty()) {
        if word.starts_with("Infinite") {
            return None;
        }
        if let Some(n) = word.strip_prefix("Second-") {
            let digits: String = n.chars().take_while(|c| c.is_ascii_digit()).collect();
            let secs: u64 = digits.parse().unwrap_or(0);
            return Some(locks::now_secs() + secs);
        }
    }
    None
}

/// The request's resource (`dav_fs_get_resource`): what the walk found, with the rest of
/// the path, a path below a file being no resource at all.
fn resource_of(req: &Request) -> Result<Resource, DavError> {
    let filename = req
        .filename
        .as_ref()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = format!("{filename}{}", req.path_info);
    if req.finfo.as_ref().is_some_and(|m| !m.is_dir()) && !req.path_info.is_empty() {
        return Err(DavError::new(
            400,
            0,
            "The URL contains extraneous path components. The resource could not be identified.",
        )
        .push(400, "Could not fetch resource information."));
    }
    Ok(Resource::at(&req.uri, &path))
}

/// Reads the request body whole for the XML parser, within LimitXMLRequestBody
/// (`ap_xml_parse_input`), and parses it.
fn read_xml(req: &mut Request) -> Step<Option<Doc>> {
    let limit = match req.dir.core.limit_xml_body {
        None => 1_000_000,
        Some(0) => u64::MAX,
        Some(n) => n,
    };
    let body_limit = req.dir.core.limit_request_body.unwrap_or(1 << 30);
    if body_limit > 0 && req.body_length > body_limit {
        req.filter_error = true;
        return Err(413);
    }
    let mut body = Vec::new();
    let mut too_large = false;
    crate::request::input::read_body(req, body_limit, &mut |piece| {
        if body.len() as u64 + piece.len() as u64 > limit {
            too_large = true;
            return Err(413);
        }
        body.extend_from_slice(piece);
        Ok(())
    })
    .inspect_err(|_| {
        if too_large {
            let text =
                format!("AH00539: XML request body is larger than the configured limit of {limit}");
            req.log_error("core", "error", &text);
        }
    })?;
    match xml::parse(&body) {
        Ok(doc) => Ok(doc),
        Err(xml::ParseError(why)) => {
            let at_end = why.contains("unclosed")
                || why.contains("no element")
                || why.contains("Eof")
                || why.contains("end of");
            let text = if at_end {
                "AH00540: XML parser error (at end). status=20014".to_string()
            } else if why.starts_with("An undefined namespace prefix") {
                "AH00541: XML Parser Error: An undefined namespace prefix was used.".to_string()
            } else if why.starts_with("A namespace prefix") {
                format!("AH00541: XML Parser Error: {why}")
            } else {
                format!(
                    "AH00541: XML Parser Error: XML parser error code: {}",
                    expat_message(&why)
                )
            };
            req.log_error("core", "error", &text);
            Err(400)
        }
    }
}

/// The expat message that stands for a tokenizer's complaint.
fn expat_message(why: &str) -> &'static str {
    if why.contains("mismatch") || why.contains("Mismatch") || why.contains("expected `") {
        "mismatched tag (7)"
    } else if why.contains("junk") {
        "junk after document element (9)"
    } else if why.contains("duplicated") {
        "duplicate attribute (8)"
    } else if why.contains("entity") || why.contains("Entity") {
        "undefined entity (11)"
    } else {
        "syntax error (2)"
    }
}

// --- the handler ----------------------------------------------------------------------

/// Whether mod_dav takes the request: under a DAV directory, any method but GET, HEAD and
/// POST of a request that is not HTTP/0.9 (Apache's `dav_fixups`).
fn takes(req: &Request) -> bool {
    // mod_dir's index is served by Apache's fast internal redirect at fixups, which hands the
    // request the handler its GET sub-request was given: never mod_dav's. (That redirect
    // makes the index the request's original URI, which no other redirect does.)
    let index = req.redirects > 0
        && req.prev_dir.is_some()
        && req.original_uri.as_deref() == Some(req.uri.as_str());
    !index
        && req.head.version != crate::http1::Version::Http09
        && !matches!(req.method.as_str(), "GET" | "HEAD" | "POST")
        && req.dir.module::<Dir>().provider.is_some()
}

/// The handler Apache's fixup gives a request mod_dav takes (`dav-handler`), for `%R`.
pub(crate) fn handler_name(req: &Request) -> Option<&'static str> {
    (!req.subrequest && takes(req)).then_some("dav-handler")
}

/// mod_dav's handler, for the methods it takes under a DAV directory.
fn handler(req: &mut Request) -> Step<Option<Response>> {
    if req.subrequest || !takes(req) {
        return Ok(None);
    }
    let conf = req.dir.module::<Dir>().into_owned();
    let method = req.method.clone();
    let answer = match method.as_str() {
        "PUT" => put(req),
        "DELETE" => delete(req),
        "OPTIONS" => options(req),
        "PROPFIND" => propfind(req, &conf),
        "PROPPATCH" => proppatch(req),
        "MKCOL" => mkcol(req),
        "COPY" => copy_move(req, false),
        "MOVE" => copy_move(req, true),
        "LOCK" => lock(req, &conf),
        "UNLOCK" => unlock(req),
        // Other methods go on to the handlers after (the default one refuses them).
        _ => return Ok(None),
    };
    answer.map(Some)
}

/// The lock database DavLockDB names for the request's server (`dav_fs_open_lockdb`).
fn lock_db(req: &Request) -> Result<LockDb, DavError> {
    let conf = req.ctx().runtime.module::<FsServer>();
    match &conf.lock_db {
        Some(path) => Ok(LockDb::new(path)),
        None => Err(DavError::new(
            500,
            401,
            "A lock database was not specified with the DAVLockDB directive. One must be specified to use the locking functionality.",
        )),
    }
}

/// A lock database that could not be used, as mod_dav_fs reports it (its DBM layer's error
/// under "Could not open the lock database.").
fn db_error(e: locks::DbError) -> DavError {
    match e {
        locks::DbError::Io(io) => DavError::new(500, 1, "Could not open property database.")
            .caused(io)
            .push(500, "Could not open the lock database.")
            .with_id(400),
        locks::DbError::Corrupt => DavError::new(
            500,
            402,
            "The lock database was found to be corrupt. An internal error occurred.",
        ),
    }
}

impl DavError {
    /// Pushed over with a description of the same status.
    fn wrap(self, desc: impl Into<String>) -> DavError {
        let status = self.status;
        self.push(status, desc)
    }

    fn with_id(mut self, id: u32) -> DavError {
        self.id = id;
        self
    }
}

fn read_locks(req: &Request) -> Result<Vec<Lock>, DavError> {
    lock_db(req)?.read().map_err(db_error)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ResourceState {
    Null,
    LockNull,
    Exists,
}

fn state_of(resource: &Resource, locks: &[Lock]) -> ResourceState {
    if resource.exists() {
        ResourceState::Exists
    } else if locks.iter().any(|l| l.path == resource.path) {
        ResourceState::LockNull
    } else {
        ResourceState::Null
    }
}

/// The resource's entity tag, as Apache's `ap_make_etag` makes it ("" for nothing there).
fn etag_of(req: &Request, resource: &Resource) -> String {
    match &resource.meta {
        Some(meta) => crate::request::static_file::etag(meta, req.now, req.dir.core.file_etag)
            .unwrap_or_default(),
        None => String::new(),
    }
}

/// The locks on a resource: its own and, when it exists, those of depth-infinity ancestors
/// (Apache records those for the members there are, and nothing for a member still to come).
fn locks_on<'a>(locks: &'a [Lock], resource: &Resource) -> Vec<&'a Lock> {
    let exists = resource.exists();
    locks
        .iter()
        .filter(|l| l.path == resource.path || (exists && l.covers(&resource.path)))
        .collect()
}

// --- validation (dav_validate_request) ------------------------------------------------

#[derive(Clone, Copy, Default)]
struct Flags {
    parent: bool,
    use_424: bool,
    no_modify: bool,
    add_lockdiscovery: bool,
    is_parent: bool,
    new_lock: Option<Scope>,
}

/// `dav_validate_resource_state`: the resource against the `If:` header and its locks.
fn validate_state(
    req: &Request,
    resource: &Resource,
    locks: &[Lock],
    lists: Option<&[IfList]>,
    flags: Flags,
) -> Result<(), DavError> {
    let lock_list = locks_on(locks, resource);
    let mut seen = match flags.new_lock {
        Some(Scope::Exclusive) => {
            if !lock_list.is_empty() {
                return Err(DavError::new(
                    423,
                    0,
                    "Existing lock(s) on the requested resource prevent an exclusive lock.",
                ));
            }
            true
        }
        Some(Scope::Shared) => {
            if lock_list.iter().any(|l| l.scope == Scope::Exclusive) {
                return Err(DavError::new(
                    423,
                    0,
                    "The requested resource is already locked exclusively.",
                ));
            }
            true
        }
        None => lock_list.is_empty() || flags.no_modify,
    };
    let Some(lists) = lists else {
        if seen {
            return Ok(());
        }
        return Err(DavError::new(
            423,
            0,
            "This resource is locked and an \"If:\" header was not supplied to allow access to the resource.",
        ));
    };
    let dummy = lists.first().is_some_and(|l| l.dummy);
    if lock_list.is_empty() && dummy {
        if flags.is_parent {
            return Ok(());
        }
        return Err(DavError::new(
            400,
            0,
            "The locktoken specified in the \"Lock-Token:\" header is invalid because this resource has no outstanding locks.",
        ));
    }
    let uri = if resource.uri.len() > 1 && resource.uri.ends_with('/') {
        &resource.uri[..resource.uri.len() - 1]
    } else {
        resource.uri.as_str()
    };
    let etag = etag_of(req, resource);
    let mut applied = 0;
    let mut reason: Option<&str> = None;
    let mut matched_list = false;
    'lists: for list in lists {
        if list.uri.as_deref().is_some_and(|u| u != uri) {
            continue;
        }
        applied += 1;
        // APR lists a production's states last first; the outcome is the same.
        for (not, state) in &list.states {
            match state {
                State::Etag(given) => {
                    let strip = |t: &str| t.strip_prefix("W/").unwrap_or(t).to_string();
                    let mismatch = strip(given) != strip(&etag);
                    if !not && mismatch {
                        reason = Some("an entity-tag was specified, but the resource's actual ETag does not match.");
                        continue 'lists;
                    }
                    if *not && !mismatch {
                        reason = Some("an entity-tag was specified using the \"Not\" form, but the resource's actual ETag matches the provided entity-tag.");
                        continue 'lists;
                    }
                }
                State::Token(token) => {
                    let found = lock_list.iter().find(|l| &l.token == token);
                    match found {
                        Some(lock) => {
                            seen = true;
                            if *not {
                                reason = Some("a State-token was supplied, which used a \"Not\" condition. The State-token was found in the locks on this resource");
                                continue 'lists;
                            }
                            if let Some(owner) = &lock.auth_user {
                                if req.user.as_deref() != Some(owner.as_str()) {
                                    return Err(DavError::new(
                                        403,
                                        0,
                                        format!(
                                            "User \"{}\" submitted a locktoken created by user \"{owner}\".",
                                            req.user.as_deref().unwrap_or("(null)")
                                        ),
                                    ));
                                }
                            }
                        }
                        None if !not => {
                            reason = Some("a State-token was supplied, but it was not found in the locks on this resource.");
                            continue 'lists;
                        }
                        None => {}
                    }
                }
                State::Unknown => {
                    if !not {
                        reason = Some("an unknown state token was supplied");
                        continue 'lists;
                    }
                }
            }
        }
        if seen {
            return Ok(());
        }
        matched_list = true;
        break;
    }
    let submitted = || {
        lists.iter().any(|list| {
            list.states.iter().any(|(_, s)| match s {
                State::Token(t) => lock_list.iter().any(|l| &l.token == t),
                _ => false,
            })
        })
    };
    if !matched_list {
        if applied == 0 {
            if seen || submitted() {
                return Ok(());
            }
            return Err(DavError::new(
                423,
                0,
                "This resource is locked and the \"If:\" header did not specify one of the locktokens for this resource's lock(s).",
            ));
        }
        if dummy {
            return Err(DavError::new(
                400,
                0,
                "The locktoken specified in the \"Lock-Token:\" header did not specify one of this resource's locktoken(s).",
            ));
        }
        return Err(DavError::new(
            412,
            0,
            match reason {
                None => "The preconditions specified by the \"If:\" header did not match this resource.".to_string(),
                Some(reason) => format!("The precondition(s) specified by the \"If:\" header did not match this resource. At least one failure is because: {reason}"),
            },
        ));
    }
    if submitted() {
        return Ok(());
    }
    if dummy {
        return Err(DavError::new(
            400,
            0,
            "The locktoken specified in the \"Lock-Token:\" header did not specify one of this resource's locktoken(s).",
        ));
    }
    Err(DavError::new(
        423,
        1,
        "This resource is locked and the \"If:\" header did not specify one of the locktokens for this resource's lock(s).",
    ))
}

/// `dav_meets_conditions`: If-Match, If-None-Match and the dates, with mod_dav's two `*`
/// fixes for resources that are not there.
fn meets_conditions(req: &Request, resource: &Resource, state: ResourceState) -> Option<u16> {
    if req
        .head
        .headers
        .get("If-Match")
        .is_some_and(|m| m.starts_with('*'))
        && state != ResourceState::Exists
    {
        return Some(412);
    }
    let etag = etag_of(req, resource);
    let modified = resource
        .meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .unwrap_or(req.now);
    let tag = (!etag.is_empty()).then_some(etag.as_str());
    let result = crate::request::static_file::check_conditions(req, tag, modified);
    if result == Some(412)
        && req
            .head
            .headers
            .get("If-None-Match")
            .is_some_and(|m| m.starts_with('*'))
        && state != ResourceState::Exists
    {
        return None;
    }
    result
}

/// `dav_validate_request`: conditional headers, the `If:` header and the locks of the
/// resource (of every resource below it to `depth`) and, with `flags.parent`, its parent.
/// An error with the multistatus responses that go with it.
fn validate(
    req: &Request,
    resource: &Resource,
    depth: u32,
    locktoken: Option<&str>,
    flags: Flags,
) -> Result<(), (DavError, Vec<MultiResponse>)> {
    let fail = |e: DavError| (e, Vec::new());
    let db_locks = read_locks(req).map_err(fail)?;
    let state = state_of(resource, &db_locks);
    if let Some(status) = meets_conditions(req, resource, state) {
        return Err(fail(DavError::bare(status)));
    }
    let mut lists = match req.head.headers.get("If") {
        Some(header) => Some(locks::parse_if(header).map_err(|e| {
            fail(DavError {
                status: 400,
                id: e.id,
                desc: e.desc,
                cause: None,
                prev: None,
            })
        })?),
        None => None,
    };
    if let Some(token) = locktoken {
        let dummy = IfList {
            uri: Some(resource.uri.clone()),
            states: vec![(false, State::Token(token.to_string()))],
            dummy: true,
        };
        let mut all = vec![dummy];
        all.extend(lists.take().unwrap_or_default());
        lists = Some(all);
    }
    let lists = lists.as_deref();
    let mut responses: Vec<MultiResponse> = Vec::new();
    let walk = resource.exists() && depth > 0 && !(lists.is_none() && flags.no_modify);
    if walk {
        let mut members =
            fs::walk(resource, INFINITY).map_err(|e| fail(DavError::new(404, 0, "").caused(e)))?;
        members.extend(locknull_members(resource, &db_locks, true));
        for member in &members {
            if let Err(e) = validate_state(req, member, &db_locks, lists, flags) {
                if e.status >= 500 || member.path == resource.path {
                    return Err(fail(e));
                }
                responses.insert(0, MultiResponse::status(member.href(), e.status));
            }
        }
    } else {
        validate_state(req, resource, &db_locks, lists, flags).map_err(fail)?;
    }
    if flags.parent {
        match resource.parent() {
            None => {
                return Err(fail(DavError::new(
                    403,
                    0,
                    "Cannot access parent of repository root.",
                )))
            }
            Some(parent) => {
                let parent_flags = Flags {
                    is_parent: true,
                    ..flags
                };
                if let Err(e) = validate_state(req, &parent, &db_locks, lists, parent_flags) {
                    let mut desc = "A validation error has occurred on the parent resource, preventing the operation on the resource specified by the Request-URI.".to_string();
                    if let Some(d) = &e.desc {
                        desc.push_str(" The error was: ");
                        desc.push_str(d);
                    }
                    let mut r = MultiResponse::status(parent.uri.clone(), e.status);
                    r.desc = Some(desc);
                    responses.insert(0, r);
                }
            }
        }
    }
    if responses.is_empty() {
        return Ok(());
    }
    if flags.use_424 {
        return Err((
            DavError::new(
                424,
                0,
                "An error occurred on another resource, preventing the requested operation on this resource.",
            ),
            responses,
        ));
    }
    let mut own = MultiResponse::status(resource.uri.clone(), 424);
    if flags.add_lockdiscovery {
        own.propstats = Some(vec![
            "<D:propstat>\n<D:prop><D:lockdiscovery/></D:prop>\n<D:status>HTTP/1.1 424 Failed Dependency</D:status>\n</D:propstat>\n"
                .to_string(),
        ]);
    }
    own.desc = Some(
        "An error occurred on another resource, preventing the requested operation on this resource."
            .to_string(),
    );
    responses.insert(0, own);
    Err((
        DavError::new(
            207,
            0,
            "Error(s) occurred on resources during the validation process.",
        ),
        responses,
    ))
}

/// The lock-null resources of a collection (and, `deep`, of every collection below it).
fn locknull_members(collection: &Resource, db_locks: &[Lock], deep: bool) -> Vec<Resource> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for lock in db_locks {
        let Some((dir, name)) = lock.path.rsplit_once('/') else {
            continue;
        };
        let inside = if deep {
            dir == collection.path || dir.starts_with(&format!("{}/", collection.path))
        } else {
            dir == collection.path
        };
        if !inside || !seen.insert(lock.path.clone()) {
            continue;
        }
        let rel = &lock.path[collection.path.len()..];
        let uri = format!("{}{rel}", collection.uri.trim_end_matches('/'));
        let member = Resource::at(&uri, &format!("{dir}/{name}"));
        if !member.exists() {
            out.push(member);
        }
    }
    out
}

/// `dav_unlock`: the locks `token` names on the resource (with a token), or every lock
/// rooted at or below it (without one) are removed.
fn unlock_resource(
    req: &Request,
    resource: &Resource,
    token: Option<&str>,
) -> Result<(), DavError> {
    let db = lock_db(req)?;
    let path = resource.path.clone();
    db.update(|locks| match token {
        Some(token) => locks.retain(|l| !(l.token == token && l.covers(&path))),
        None => locks.retain(|l| !(l.path == path || l.path.starts_with(&format!("{path}/")))),
    })
    .map_err(db_error)
}

/// `dav_notify_created`: a lock-null resource that now exists is an ordinary locked one.
fn notify_created(
    req: &Request,
    resource: &Resource,
    state: ResourceState,
) -> Result<(), DavError> {
    if state != ResourceState::LockNull {
        return Ok(());
    }
    let db = lock_db(req)?;
    let path = resource.path.clone();
    db.update(|locks| {
        for lock in locks.iter_mut().filter(|l| l.path == path) {
            lock.locknull = false;
        }
    })
    .map_err(db_error)
}

// --- OPTIONS --------------------------------------------------------------------------

fn options(req: &mut Request) -> Step<Response> {
    let resource = match resource_of(req) {
        Ok(r) => r,
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    let doc = read_xml(req)?;
    if doc.as_ref().is_some_and(|d| !d.root_is("options")) {
        req.log_error(
            "dav",
            "error",
            "AH00584: The \"options\" element was not found.",
        );
        return Err(400);
    }
    let db_locks = lock_db(req)
        .ok()
        .and_then(|db| db.read().ok())
        .unwrap_or_default();
    let methods: &[&str] = match state_of(&resource, &db_locks) {
        ResourceState::Exists if resource.collection() => &[
            "OPTIONS",
            "GET",
            "HEAD",
            "POST",
            "DELETE",
            "TRACE",
            "PROPFIND",
            "PROPPATCH",
            "COPY",
            "MOVE",
            "LOCK",
            "UNLOCK",
        ],
        ResourceState::Exists => &[
            "OPTIONS",
            "GET",
            "HEAD",
            "POST",
            "DELETE",
            "TRACE",
            "PROPFIND",
            "PROPPATCH",
            "COPY",
            "MOVE",
            "PUT",
            "LOCK",
            "UNLOCK",
        ],
        ResourceState::LockNull => &["OPTIONS", "MKCOL", "PROPFIND", "PUT", "LOCK", "UNLOCK"],
        ResourceState::Null => &["OPTIONS", "MKCOL", "PUT", "LOCK"],
    };
    let content_type = if resource.collection() {
        req.dir
            .core
            .force_type
            .clone()
            .or_else(|| Some("httpd/unix-directory".to_string()))
    } else {
        crate::request::static_file::content_type(req)
    };
    let mut response = simple(req, 200, content_type);
    response.header_only = false;
    response
        .headers
        .0
        .push(("DAV".to_string(), "1,2".to_string()));
    response.headers.0.push((
        "DAV".to_string(),
        "<http://apache.org/dav/propset/fs/1>".to_string(),
    ));
    response.headers.set("MS-Author-Via", "DAV");
    response.headers.set("Allow", methods.join(","));
    let Some(doc) = doc else {
        response.length_last = true;
        return Ok(response);
    };
    // What the body asks about the resource: its methods, live properties and reports.
    let mut body = format!("{XML_HEADER}\n<D:options-response xmlns:D=\"DAV:\">\n");
    for elem in doc.root.elements() {
        if elem.is_dav("supported-method-set") {
            body.push_str("<D:supported-method-set>\n");
            if elem.children.is_empty() {
                for m in methods {
                    body.push_str(&format!("<D:supported-method D:name=\"{m}\"/>\n"));
                }
            } else {
                for child in elem.elements().filter(|c| c.is_dav("supported-method")) {
                    let name = child
                        .attrs
                        .iter()
                        .find(|a| a.ns == xml::DAV && a.name == "name")
                        .map(|a| a.value.clone());
                    let Some(name) = name else {
                        let err = DavError::new(
                            400,
                            0,
                            "A DAV:supported-method element does not have a \"name\" attribute",
                        );
                        return handle_err(req, err, Vec::new());
                    };
                    if methods.contains(&name.as_str()) {
                        body.push_str(&format!("<D:supported-method D:name=\"{name}\"/>\n"));
                    }
                }
            }
            body.push_str("</D:supported-method-set>\n");
        } else if elem.is_dav("supported-live-property-set") {
            match supported_live_props(req, &resource, elem) {
                Ok(text) => body.push_str(&text),
                Err(err) => return handle_err(req, err, Vec::new()),
            }
        } else if elem.is_dav("supported-report-set") {
            // No provider here has reports: the set is empty, whatever was asked.
            let unnamed = elem
                .elements()
                .filter(|c| c.is_dav("supported-report"))
                .any(|c| dav_attr(c, "name").is_none());
            if unnamed {
                let err = DavError::new(
                    400,
                    0,
                    "A DAV:supported-report element does not have a \"name\" attribute",
                );
                return handle_err(req, err, Vec::new());
            }
            body.push_str("<D:supported-report-set>\n</D:supported-report-set>\n");
        }
    }
    body.push_str("</D:options-response>\n");
    response.content_type = Some(XML_TYPE.to_string());
    response.body = Body::Bytes(body.into_bytes());
    Ok(response)
}

// --- PROPFIND -------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Find {
    AllProp,
    PropName,
    Prop,
}

fn propfind(req: &mut Request, conf: &Dir) -> Step<Response> {
    let resource = match resource_of(req) {
        Ok(r) => r,
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    let doc = read_xml(req)?;
    let db_locks = match read_locks(req) {
        Ok(locks) => Some(locks),
        Err(e) if e.id == 401 => None,
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    let state = state_of(&resource, db_locks.as_deref().unwrap_or_default());
    if state == ResourceState::Null {
        return Err(404);
    }
    let Some(depth) = depth(req, INFINITY) else {
        return Err(400);
    };
    if depth == INFINITY && resource.collection() && conf.depth_infinity != Some(true) {
        let text = format!(
            "PROPFIND requests with a Depth of \"infinity\" are not allowed for {}.",
            escape_html(&req.uri)
        );
        return Ok(error_page(req, 403, &text));
    }
    if doc.as_ref().is_some_and(|d| !d.root_is("propfind")) {
        req.log_error(
            "dav",
            "error",
            "AH00585: The \"propfind\" element was not found.",
        );
        return Err(400);
    }
    let find = match &doc {
        None => Find::AllProp,
        Some(d) if d.root.child("allprop").is_some() => Find::AllProp,
        Some(d) if d.root.child("propname").is_some() => Find::PropName,
        Some(d) if d.root.child("prop").is_some() => Find::Prop,
        Some(_) => {
            req.log_error(
                "dav",
                "error",
                "AH00586: The \"propfind\" element does not contain one of the required child elements (the specific command).",
            );
            return Err(400);
        }
    };
    let Some(db_locks) = db_locks else {
        let err = lock_db(req).err().unwrap_or_else(|| DavError::bare(500)).push(
            500,
            "The lock database could not be opened, preventing access to the various lock properties for the PROPFIND.",
        );
        return handle_err(req, err, Vec::new());
    };
    let mut resources = Vec::new();
    collect_walk(&resource, depth, &db_locks, &mut resources);
    let mut body = Brigade::default();
    begin_multistatus(&mut body, doc.as_ref().map(|d| d.namespaces.as_slice()));
    let mut type_cache = TypeCache::default();
    for member in &resources {
        let (propstats, xmlns) = match find {
            Find::Prop => get_props(
                req,
                member,
                &db_locks,
                conf,
                doc.as_ref().expect("a prop body"),
                &mut type_cache,
            ),
            _ => all_props(
                req,
                member,
                &db_locks,
                conf,
                find == Find::AllProp,
                &mut type_cache,
            ),
        };
        let r = MultiResponse {
            href: member.href(),
            status: 0,
            propstats: Some(propstats),
            xmlns,
            desc: None,
        };
        write_response(&mut body, &r);
    }
    body.write("</D:multistatus>\n");
    Ok(brigade_answer(req, 207, body))
}

/// The resources a PROPFIND walk visits: mod_dav_fs's walk, each collection's lock-null
/// members after its own.
fn collect_walk(root: &Resource, depth: u32, db_locks: &[Lock], out: &mut Vec<Resource>) {
    out.push(root.clone());
    if depth == 0 || !root.collection() {
        return;
    }
    let next = if depth == INFINITY {
        INFINITY
    } else {
        depth - 1
    };
    if let Ok(members) = fs::members(root) {
        for member in members {
            if member.collection() {
                collect_walk(&member, next, db_locks, out);
            } else {
                out.push(member);
            }
        }
    }
    out.extend(locknull_members(root, db_locks, false));
}

// --- PROPPATCH ------------------------------------------------------------------------

fn proppatch(req: &mut Request) -> Step<Response> {
    let resource = match resource_of(req) {
        Ok(r) => r,
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    let doc = read_xml(req)?;
    if !resource.exists() {
        return Err(404);
    }
    let Some(doc) = doc.filter(|d| d.root_is("propertyupdate")) else {
        req.log_error(
            "dav",
            "error",
            "AH00587: The request body does not contain a \"propertyupdate\" element.",
        );
        return Err(400);
    };
    if let Err((e, multi)) = validate(req, &resource, 0, None, Flags::default()) {
        return handle_err(req, e, multi);
    }
    let original = match PropDb::open(&resource) {
        Ok(db) => db,
        Err(e) => {
            let err = DavError::new(500, 205, "Could not open the property database.")
                .caused(e)
                .push(
                    500,
                    format!(
                        "Could not open the property database for {}.",
                        escape_html(&req.uri)
                    ),
                );
            return handle_err(req, err, Vec::new());
        }
    };
    let mut db = original.clone().unwrap_or_default();
    // (element, set?, error)
    let mut ops: Vec<(&Elem, bool, Option<DavError>)> = Vec::new();
    let mut failure = false;
    let mut mapped = false;
    for child in doc.root.elements() {
        let is_remove = child.is_dav("remove");
        if !is_remove && !child.is_dav("set") {
            continue;
        }
        let Some(group) = child.child("prop") else {
            req.log_error(
                "dav",
                "error",
                "AH00588: A \"prop\" element is missing inside the propertyupdate command.",
            );
            return Err(400);
        };
        for prop in group.elements() {
            let uri = doc.uri(prop.ns).to_string();
            let provider = if prop.ns == Ns::None {
                Provider::None
            } else {
                provider_of(&uri, &prop.name)
            };
            let read_only = match provider {
                Provider::Core => prop.name == "resourcetype",
                Provider::Fs => prop.name != "executable",
                Provider::CoreProp => {
                    matches!(prop.name.as_str(), "lockdiscovery" | "supportedlock")
                }
                Provider::None => false,
            };
            let error = if read_only {
                Some(DavError::new(409, 201, "Property is read-only."))
            } else if provider == Provider::Fs {
                validate_executable(&resource, prop, is_remove)
            } else {
                if !is_remove && !mapped {
                    for uri in &doc.namespaces {
                        db.map_namespace(uri);
                    }
                    mapped = true;
                }
                None
            };
            failure |= error.is_some();
            ops.push((prop, !is_remove, error));
        }
    }
    if !failure {
        for (prop, set, _) in &ops {
            let uri = doc.uri(prop.ns).to_string();
            if provider_of(&uri, &prop.name) == Provider::Fs {
                continue;
            }
            if *set {
                let map = |i: usize| {
                    db.namespaces
                        .iter()
                        .position(|u| *u == doc.namespaces[i])
                        .unwrap_or(i)
                };
                let mut value = String::new();
                xml::write_inner(&mut value, prop, &doc.namespaces, Some(&map));
                let lang = prop.lang.clone().unwrap_or_default();
                db.set(&uri, &prop.name, &lang, value);
            } else {
                db.remove(&uri, &prop.name);
            }
        }
        let changed = original.as_ref() != Some(&db);
        let mut saved = Ok(());
        if changed {
            saved = db.save(&resource);
        }
        for (prop, set, _) in &ops {
            if *set && doc.uri(prop.ns) == fs::FS_NAMESPACE && prop.name == "executable" {
                let on = text_of(prop) == "T";
                saved = saved.and_then(|()| set_executable(&resource, on));
            }
        }
        if let Err(e) = saved {
            let err = DavError::new(500, 206, "Could not execute PROPPATCH.").caused(e);
            for op in ops.iter_mut() {
                op.2 = Some(DavError::new(500, 206, "Could not execute PROPPATCH."));
            }
            log_err(req, &err, "error");
            failure = true;
        }
    }
    let mut text: Vec<String> = Vec::new();
    if failure {
        for (prop, set, error) in ops.iter_mut() {
            text.push("<D:propstat>\n<D:prop>".to_string());
            text.push(xml::empty_elem(prop));
            text.push("</D:prop>\n".to_string());
            let err = error.get_or_insert_with(|| {
                if *set {
                    DavError::new(424, 0, "Attempted DAV:set operation could not be completed due to other errors.")
                } else {
                    DavError::new(424, 0, "Attempted DAV:remove operation could not be completed due to other errors.")
                }
            });
            text.push(format!(
                "<D:status>HTTP/1.1 {} (status)</D:status>\n",
                err.status
            ));
            if let Some(desc) = &err.desc {
                text.push("<D:responsedescription>\n".to_string());
                text.push(desc.clone());
                text.push("</D:responsedescription>\n".to_string());
            }
            text.push("</D:propstat>\n".to_string());
        }
        for (_, _, error) in &ops {
            if let Some(e) = error {
                log_err(req, e, "error");
            }
        }
    } else {
        text.push(PROPSTAT_OPEN.to_string());
        for (prop, _, _) in &ops {
            text.push(xml::empty_elem(prop));
        }
        text.push(PROPSTAT_OK.to_string());
    }
    let r = MultiResponse {
        href: resource.uri.clone(),
        status: 0,
        propstats: Some(text),
        xmlns: Vec::new(),
        desc: None,
    };
    Ok(multistatus(req, 207, &[r], Some(&doc.namespaces)))
}

// --- MKCOL ----------------------------------------------------------------------------

fn mkcol(req: &mut Request) -> Step<Response> {
    // mod_dav refuses a body here itself (415), where Apache's own check would say 413.
    if let Some(te) = req.head.headers.get("Transfer-Encoding") {
        if !te.eq_ignore_ascii_case("chunked") {
            let text = format!("AH00589: Unknown Transfer-Encoding {te}");
            req.log_error("dav", "error", &text);
            return Err(501);
        }
        return Err(415);
    }
    if req.body_length > 0 {
        return Err(415);
    }
    let resource = match resource_of(req) {
        Ok(r) => r,
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    if resource.exists() {
        return Err(refuse(req, 405));
    }
    let db_locks = match read_locks(req) {
        Ok(l) => l,
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    let state = state_of(&resource, &db_locks);
    let flags = Flags {
        parent: state == ResourceState::Null,
        ..Flags::default()
    };
    if let Err((e, multi)) = validate(req, &resource, 0, None, flags) {
        return handle_err(req, e, multi);
    }
    if let Err(e) = std::fs::create_dir(&resource.path) {
        let err = match e.raw_os_error() {
            Some(libc::ENOSPC) => DavError::new(
                507,
                0,
                "There is not enough storage to create this collection.",
            ),
            Some(libc::ENOENT) => DavError::new(
                409,
                0,
                "Cannot create collection; intermediate collection does not exist.",
            ),
            _ => DavError::new(403, 0, "Unable to create collection."),
        };
        return handle_err(req, err.caused(e), Vec::new());
    }
    if let Err(e) = notify_created(req, &resource, state) {
        let err = e.push(
            500,
            "The MKCOL was successful, but there was a problem updating its lock information.",
        );
        return handle_err(req, err, Vec::new());
    }
    created(req, None, "Collection", false)
}

// --- PUT ------------------------------------------------------------------------------

/// `dav_parse_range`: a Content-Range's start, or `Err` for a malformed one.
fn content_range(req: &Request) -> Result<Option<u64>, ()> {
    let Some(range) = req.head.headers.get("Content-Range") else {
        return Ok(None);
    };
    let rest = range
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("bytes "))
        .map(|_| &range[6..])
        .ok_or(())?;
    let (span, total) = rest.split_once('/').ok_or(())?;
    let (start, end) = span.split_once('-').ok_or(())?;
    let strict = |t: &str| -> Result<u64, ()> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        t.parse().map_err(|_| ())
    };
    let start = strict(start)?;
    let end = strict(end)?;
    if end < start {
        return Err(());
    }
    if !total.starts_with('*') && strict(total)? <= end {
        return Err(());
    }
    Ok(Some(start))
}

fn put(req: &mut Request) -> Step<Response> {
    let resource = match resource_of(req) {
        Ok(r) => r,
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    if resource.collection() {
        return Ok(error_page(req, 409, "Cannot PUT to a collection."));
    }
    let db_locks = match read_locks(req) {
        Ok(l) => l,
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    let state = state_of(&resource, &db_locks);
    let flags = Flags {
        parent: state == ResourceState::Null,
        ..Flags::default()
    };
    if let Err((e, multi)) = validate(req, &resource, 0, None, flags) {
        return handle_err(req, e, multi);
    }
    let range = match content_range(req) {
        Ok(range) => range,
        Err(()) => {
            let text = format!(
                "Malformed Content-Range header for PUT {}.",
                escape_html(&req.uri)
            );
            return Ok(error_page(req, 400, &text));
        }
    };
    let io_status = |e: &std::io::Error| match e.raw_os_error() {
        Some(libc::ENOSPC) => 507,
        Some(libc::ENOENT) => 409,
        _ => 500,
    };
    // A whole body goes to a temporary file renamed into place; a range into the file.
    let (target, temporary) = match range {
        Some(_) => (PathBuf::from(&resource.path), None),
        None => {
            let dir = resource.parent().map(|p| p.path).unwrap_or_default();
            let tmp = PathBuf::from(format!(
                "{dir}/{}{}",
                fs::TMP_PREFIX,
                &locks::new_token()[..6]
            ));
            (tmp.clone(), Some(tmp))
        }
    };
    let opened = if range.is_some() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&target)
    } else {
        std::fs::File::create(&target)
    };
    let mut file = match opened {
        Ok(f) => f,
        Err(e) => {
            let status = io_status(&e);
            let err = if status == 507 {
                DavError::new(
                    507,
                    0,
                    "There is not enough storage to write to this resource.",
                )
            } else {
                DavError::new(
                    status,
                    0,
                    format!(
                        "An error occurred while opening a resource for writing: {}.",
                        resource.path
                    ),
                )
            }
            .caused(e)
            .push(
                status,
                format!("Unable to PUT new contents for {}.", escape_html(&req.uri)),
            );
            return handle_err(req, err, Vec::new());
        }
    };
    if let Some(start) = range {
        use std::io::Seek;
        if let Err(e) = file.seek(std::io::SeekFrom::Start(start)) {
            let err = DavError::new(
                500,
                0,
                "Could not seek to beginning of the specified Content-Range.",
            )
            .caused(e);
            return handle_err(req, err, Vec::new());
        }
    }
    let limit = req.dir.core.limit_request_body.unwrap_or(1 << 30);
    if limit > 0 && req.body_length > limit {
        if let Some(tmp) = &temporary {
            let _ = std::fs::remove_file(tmp);
        }
        req.filter_error = true;
        return Err(413);
    }
    let mut write_error: Option<std::io::Error> = None;
    let read = crate::request::input::read_body(req, limit, &mut |piece| {
        if write_error.is_none() {
            if let Err(e) = file.write_all(piece) {
                write_error = Some(e);
            }
        }
        Ok(())
    });
    drop(file);
    if let Err(status) = read {
        if let Some(tmp) = &temporary {
            let _ = std::fs::remove_file(tmp);
        }
        let text = format!(
            "An error occurred while reading the request body (URI: {})",
            escape_html(&req.uri)
        );
        let err = DavError::new(status, 0, text);
        log_err(req, &err, "error");
        return Err(status);
    }
    if let Some(e) = write_error {
        if let Some(tmp) = &temporary {
            let _ = std::fs::remove_file(tmp);
        }
        let status = io_status(&e);
        let err =
            DavError::new(status, 0, "An error occurred while writing to a resource.").caused(e);
        return handle_err(req, err, Vec::new());
    }
    if let Some(tmp) = &temporary {
        if let Err(e) = std::fs::rename(tmp, &resource.path) {
            let _ = std::fs::remove_file(tmp);
            let err = DavError::new(
                500,
                0,
                "There was a problem writing the file atomically after writes.",
            )
            .caused(e);
            return handle_err(req, err, Vec::new());
        }
    }
    if let Err(e) = notify_created(req, &resource, state) {
        let err = e.push(
            500,
            "The file was PUT successfully, but there was a problem updating its lock information.",
        );
        return handle_err(req, err, Vec::new());
    }
    created(req, None, "Resource", state == ResourceState::Exists)
}

// --- DELETE ---------------------------------------------------------------------------

fn delete(req: &mut Request) -> Step<Response> {
    let resource = match resource_of(req) {
        Ok(r) => r,
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    if !resource.exists() {
        return Err(404);
    }
    let depth = depth(req, INFINITY);
    if resource.collection() && depth != Some(INFINITY) {
        req.log_error(
            "dav",
            "error",
            "AH00582: Depth must be \"infinity\" for DELETE of a collection.",
        );
        return Err(400);
    }
    if !resource.collection() && depth == Some(1) {
        req.log_error(
            "dav",
            "error",
            "AH00583: Depth of \"1\" is not allowed for DELETE.",
        );
        return Err(400);
    }
    let flags = Flags {
        parent: true,
        use_424: true,
        ..Flags::default()
    };
    let walk_depth = depth.unwrap_or(0);
    if let Err((e, multi)) = validate(req, &resource, walk_depth, None, flags) {
        let e = e.wrap(format!(
            "Could not DELETE {} due to a failed precondition (e.g. locks).",
            escape_html(&req.uri)
        ));
        return handle_err(req, e, multi);
    }
    if let Err(e) = unlock_resource(req, &resource, None) {
        return handle_err(req, e, Vec::new());
    }
    let failure = if resource.collection() {
        let failed = fs::remove_tree(&resource);
        (!failed.is_empty()).then(|| {
            let multi = failed
                .into_iter()
                .map(|href| MultiResponse::status(href, 403))
                .collect();
            let err = DavError::new(
                207,
                0,
                "Error(s) occurred on some resources during the deletion process.",
            );
            (err, multi)
        })
    } else {
        std::fs::remove_file(&resource.path)
            .err()
            .map(|e| (DavError::bare(403).caused(e), Vec::new()))
    };
    if let Some((err, multi)) = failure {
        let err = err.wrap(format!("Could not DELETE {}.", escape_html(&req.uri)));
        return handle_err(req, err, multi);
    }
    if !resource.collection() {
        let _ = std::fs::remove_file(fs::props_file(&resource));
    }
    Err(204)
}

// --- COPY and MOVE --------------------------------------------------------------------

/// `dav_lookup_uri` for a Destination: its path, or the error to answer with (a status
/// for the server's page with what to log, or mod_dav's own page).
enum Lookup {
    Path(String),
    BadRequest(String),
    Page(u16, String),
}

fn lookup_destination(req: &Request, dest: &str) -> Lookup {
    let Some(scheme_end) = dest.find("://").filter(|at| {
        dest[..*at]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && *at > 0
    }) else {
        return Lookup::BadRequest("Destination URI must be an absolute URI.".into());
    };
    let scheme = &dest[..scheme_end];
    let rest = &dest[scheme_end + 3..];
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    if path.contains('?') || path.contains('#') {
        return Lookup::BadRequest(
            "Destination URI contains invalid components (a query or a fragment).".into(),
        );
    }
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let port = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
            port.parse().unwrap_or(0)
        }
        _ => 0,
    };
    let ours = req.scheme();
    let port = if port == 0 {
        match scheme.to_ascii_lowercase().as_str() {
            "http" => 80,
            "https" => 443,
            "ftp" => 21,
            _ => 0,
        }
    } else {
        port
    };
    if !scheme.eq_ignore_ascii_case(ours) {
        let local = req.conn.local.port();
        return Lookup::Page(
            502,
            format!(
                "Destination URI refers to different scheme or port ({scheme}://hostname:{})\n(want: {ours}://hostname:{local})",
                if port != 0 { port } else { local }
            ),
        );
    }
    let path = if path.is_empty() { "/" } else { path };
    Lookup::Path(path.to_string())
}

fn copy_move(req: &mut Request, is_move: bool) -> Step<Response> {
    let resource = match resource_of(req) {
        Ok(r) => r,
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    if !resource.exists() {
        return Err(404);
    }
    let dest = req
        .head
        .headers
        .get("Destination")
        .map(str::to_string)
        .or_else(|| {
            let host = req.head.headers.get("Host")?;
            let path = req.head.headers.get("New-uri")?;
            Some(format!("http://{host}{path}"))
        });
    let Some(dest) = dest else {
        req.log_error(
            "dav",
            "error",
            "AH00591: The request is missing a Destination header.",
        );
        return Err(400);
    };
    let path = match lookup_destination(req, &dest) {
        Lookup::Path(path) => path,
        Lookup::BadRequest(text) => {
            req.log_error("dav", "error", &format!("AH00592: {text}"));
            return Err(400);
        }
        Lookup::Page(status, text) => return Ok(error_page(req, status, &text)),
    };
    // The destination as a sub-request of the same method: its path decoded as a request's
    // is (an encoded slash or NUL is a 404, a malformed one a 400), mapped, access-checked.
    let core = &req.ctx().runtime.core;
    let slashes = match core.allow_encoded_slashes.as_deref() {
        Some("on") => uri::EncodedSlashes::Decode,
        Some("nodecode") => uri::EncodedSlashes::Keep,
        _ => uri::EncodedSlashes::Refuse,
    };
    let decoded = uri::normalize_bytes(&path, core.merge_slashes.unwrap_or(true), slashes)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    let decoded = match decoded {
        Ok(decoded) => decoded,
        Err(uri::UriError::NotFound) => {
            return Ok(error_page(req, 404, "Destination URI had an error."))
        }
        Err(_) => return Ok(error_page(req, 400, "Destination URI had an error.")),
    };
    let mut sub = req.sub_request(decoded.clone());
    sub.method = req.method.clone();
    let looked_up = crate::request::pipeline::translate(&mut sub)
        .and_then(|filename| crate::request::pipeline::map_and_check(&mut sub, filename));
    if let Err(status) = looked_up {
        if status == 401 {
            if let Some(auth) = sub.err_headers.get("WWW-Authenticate") {
                req.err_headers.set("WWW-Authenticate", auth.to_string());
            }
        }
        return Ok(error_page(req, status, "Destination URI had an error."));
    }
    if sub.dir.module::<Dir>().provider.is_none() {
        let err = DavError::new(
            405,
            0,
            format!("DAV not enabled for {}", escape_html(&decoded)),
        );
        return handle_err(req, err, Vec::new());
    }
    let target = match resource_of(&sub) {
        Ok(r) => r,
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    let Some(overwrite) = overwrite(req) else {
        return Err(400);
    };
    if target.exists() && !overwrite {
        return Ok(error_page(
            req,
            412,
            "Destination is not empty and Overwrite is not \"T\"",
        ));
    }
    if target.path == resource.path {
        return Ok(error_page(
            req,
            403,
            "Source and Destination URIs are the same.",
        ));
    }
    let is_dir = resource.collection();
    let Some(depth) = depth(req, INFINITY) else {
        return Err(400);
    };
    if depth == 1 {
        req.log_error(
            "dav",
            "error",
            "AH00593: Depth must be \"0\" or \"infinity\" for COPY or MOVE.",
        );
        return Err(400);
    }
    if is_move && is_dir && depth != INFINITY {
        req.log_error(
            "dav",
            "error",
            "AH00594: Depth must be \"infinity\" when moving a collection.",
        );
        return Err(400);
    }
    let verb = if is_move { "MOVE" } else { "COPY" };
    let source_flags = Flags {
        parent: is_move,
        no_modify: !is_move,
        use_424: true,
        ..Flags::default()
    };
    if let Err((e, multi)) = validate(req, &resource, depth, None, source_flags) {
        let e = e.wrap(format!(
            "Could not {verb} {} due to a failed precondition on the source (e.g. locks).",
            escape_html(&req.uri)
        ));
        return handle_err(req, e, multi);
    }
    let dest_flags = Flags {
        parent: true,
        use_424: true,
        ..Flags::default()
    };
    if let Err((e, multi)) = validate(&sub, &target, INFINITY, None, dest_flags) {
        let e = e.wrap(format!(
            "Could not MOVE/COPY {} due to a failed precondition on the destination (e.g. locks).",
            escape_html(&req.uri)
        ));
        return handle_err(req, e, multi);
    }
    let under = |inner: &str, outer: &str| inner.starts_with(&format!("{outer}/"));
    if is_dir && depth == INFINITY && under(&target.path, &resource.path) {
        return Ok(error_page(
            req,
            403,
            "Source collection contains the Destination.",
        ));
    }
    if is_dir && under(&resource.path, &target.path) {
        return Ok(error_page(
            req,
            403,
            "Destination collection contains the Source and Overwrite has been specified.",
        ));
    }
    if is_move {
        if let Err(e) = unlock_resource(req, &resource, None) {
            return handle_err(req, e, Vec::new());
        }
    }
    let target_state = match read_locks(req) {
        Ok(l) => state_of(&target, &l),
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    let fail = |req: &mut Request, err: DavError| {
        let err = err.wrap(format!("Could not MOVE/COPY {}.", escape_html(&req.uri)));
        handle_err(req, err, Vec::new())
    };
    if target.exists() {
        if let Err(e) = fs::remove(&target) {
            return fail(
                req,
                DavError::new(500, 0, "Could not remove the destination.").caused(e),
            );
        }
    }
    let target = Resource::at(&target.uri, &target.path);
    let done = if is_move {
        fs::rename(&resource, &target)
            .map_err(|e| DavError::new(500, 0, "Could not rename resource.").caused(e))
    } else if is_dir {
        match fs::copy_tree(&resource, &target, depth == INFINITY) {
            Ok(failed) if failed.is_empty() => Ok(()),
            Ok(failed) => {
                let multi = failed
                    .into_iter()
                    .map(|(href, status)| MultiResponse::status(href, status))
                    .collect();
                let err = DavError::new(
                    207,
                    0,
                    "Error(s) occurred on some resources during the COPY/MOVE process.",
                )
                .wrap(format!("Could not MOVE/COPY {}.", escape_html(&req.uri)));
                return handle_err(req, err, multi);
            }
            Err((status, e)) => Err(DavError::bare(status).caused(e)),
        }
    } else {
        fs::copy_file(&resource, &target).map_err(|(status, e)| {
            DavError::new(status, 0, "Could not open file for writing").caused(e)
        })
    };
    if let Err(e) = done {
        return fail(req, e);
    }
    if let Err(e) = notify_created(req, &target, target_state) {
        let err = e.push(
            500,
            "The MOVE/COPY was successful, but there was a problem updating the lock information.",
        );
        return handle_err(req, err, Vec::new());
    }
    created(
        req,
        Some(path),
        "Destination",
        target_state == ResourceState::Exists,
    )
}

// --- LOCK and UNLOCK ------------------------------------------------------------------

fn lock(req: &mut Request, conf: &Dir) -> Step<Response> {
    let doc = read_xml(req)?;
    let depth = depth(req, INFINITY);
    if depth != Some(0) && depth != Some(INFINITY) {
        req.log_error(
            "dav",
            "error",
            "AH00595: Depth must be 0 or \"infinity\" for LOCK.",
        );
        return Err(400);
    }
    let depth = depth.unwrap_or(0);
    let resource = match resource_of(req) {
        Ok(r) => r,
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    if let Some(parent) = resource.parent() {
        if !parent.exists() {
            let err = DavError::new(
                409,
                0,
                format!(
                    "The parent resource of {} does not exist or is not a collection.",
                    escape_html(&req.uri)
                ),
            );
            return handle_err(req, err, Vec::new());
        }
    }
    let db = match lock_db(req) {
        Ok(db) => db,
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    let mut new_lock: Option<Lock> = None;
    if let Some(doc) = &doc {
        match parse_lockinfo(req, doc, &resource) {
            Ok(lock) => new_lock = Some(lock),
            Err(e) => return handle_err(req, e, Vec::new()),
        }
    }
    let db_locks = match db.read() {
        Ok(l) => l,
        Err(e) => return handle_err(req, db_error(e), Vec::new()),
    };
    let state = state_of(&resource, &db_locks);
    let flags = Flags {
        parent: state == ResourceState::Null,
        add_lockdiscovery: true,
        new_lock: new_lock.as_ref().map(|l| l.scope),
        ..Flags::default()
    };
    if let Err((e, multi)) = validate(req, &resource, depth, None, flags) {
        let e = e.wrap(format!(
            "Could not LOCK {} due to a failed precondition (e.g. other locks).",
            escape_html(&req.uri)
        ));
        return handle_err(req, e, multi);
    }
    let shown: Vec<Lock> = match new_lock {
        None => {
            // A refresh: the locks the If: header names get the new timeout.
            let tokens: Vec<String> = match req.head.headers.get("If").map(locks::parse_if) {
                Some(Ok(lists)) => lists
                    .iter()
                    .flat_map(|l| l.states.iter())
                    .filter_map(|(not, s)| match s {
                        State::Token(t) if !not => Some(t.clone()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            if tokens.is_empty() {
                let err = DavError::new(
                    400,
                    103,
                    "No locktokens were specified in the \"If:\" header, so the refresh could not be performed.",
                )
                .push(
                    400,
                    format!(
                        "The lock refresh for {} failed because no lock tokens were specified in an \"If:\" header.",
                        escape_html(&req.uri)
                    ),
                );
                return handle_err(req, err, Vec::new());
            }
            let expires = timeout(req);
            let path = resource.path.clone();
            match db.update(|locks| {
                let mut refreshed = Vec::new();
                for lock in locks.iter_mut() {
                    if lock.covers(&path) && tokens.contains(&lock.token) {
                        lock.expires = expires;
                        refreshed.push(lock.clone());
                    }
                }
                refreshed
            }) {
                Ok(refreshed) => refreshed,
                Err(e) => return handle_err(req, db_error(e), Vec::new()),
            }
        }
        Some(mut lock) => {
            if let Some(expires) = lock.expires {
                let floor = locks::now_secs() + conf.min_timeout;
                if expires < floor {
                    lock.expires = Some(floor);
                }
            }
            lock.locknull = !resource.exists();
            let added = lock.clone();
            if let Err(e) = db.update(|locks| locks.push(added)) {
                return handle_err(req, db_error(e), Vec::new());
            }
            req.headers_out
                .set("Lock-Token", format!("<{}>", lock.token_uri()));
            vec![lock]
        }
    };
    let mut body = format!("{XML_HEADER}\n<D:prop xmlns:D=\"DAV:\">\n");
    if shown.is_empty() {
        body.push_str("<D:lockdiscovery/>\n");
    } else {
        let refs: Vec<&Lock> = shown.iter().collect();
        body.push_str(&format!(
            "<D:lockdiscovery>\n{}\n</D:lockdiscovery>\n",
            activelocks(&refs)
        ));
    }
    body.push_str("</D:prop>");
    Ok(xml_answer(req, 200, body))
}

/// `dav_lock_parse_lockinfo`.
fn parse_lockinfo(req: &Request, doc: &Doc, resource: &Resource) -> Result<Lock, DavError> {
    if !doc.root_is("lockinfo") {
        return Err(DavError::new(
            400,
            0,
            "The request body contains an unexpected XML root element.",
        ));
    }
    let mut scope: Option<Scope> = None;
    let mut write = false;
    let mut owner: Option<String> = None;
    for child in doc.root.elements() {
        let first = child.elements().next();
        if child.name == "locktype"
            && first.is_some()
            && !write
            && first.is_some_and(|f| f.name == "write")
        {
            write = true;
            continue;
        }
        if child.name == "lockscope" && first.is_some() && scope.is_none() {
            match first.map(|f| f.name.as_str()) {
                Some("exclusive") => scope = Some(Scope::Exclusive),
                Some("shared") => scope = Some(Scope::Shared),
                _ => {}
            }
            if scope.is_some() {
                continue;
            }
        }
        if child.name == "owner" && owner.is_none() {
            owner = Some(xml::to_text(
                child,
                xml::Style::FullNsLang,
                None,
                &doc.namespaces,
                None,
            ));
            continue;
        }
        return Err(DavError::new(
            412,
            0,
            format!(
                "The server cannot satisfy the LOCK request due to an unknown XML element (\"{}\") within the DAV:lockinfo element.",
                child.name
            ),
        ));
    }
    Ok(Lock {
        token: locks::new_token(),
        path: resource.path.clone(),
        scope: scope.unwrap_or(Scope::Exclusive),
        infinite: depth(req, INFINITY) == Some(INFINITY),
        expires: timeout(req),
        locknull: false,
        auth_user: req.user.clone(),
        owner,
    })
}

fn unlock(req: &mut Request) -> Step<Response> {
    let Some(header) = req.head.headers.get("Lock-Token").map(str::to_string) else {
        let filename = req
            .filename
            .as_ref()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text =
            format!("AH00596: Unlock failed ({filename}):  No Lock-Token specified in header");
        req.log_error("dav", "error", &text);
        return Err(400);
    };
    let Some(inner) = header.strip_prefix('<').and_then(|t| t.strip_suffix('>')) else {
        return Err(400);
    };
    let token = match locks::parse_token(inner) {
        Ok(token) => token,
        Err(unknown) => {
            let inner_err = if unknown {
                DavError::new(
                    400,
                    403,
                    "The lock token uses an unknown State-token format and could not be parsed.",
                )
            } else {
                DavError::new(400, 404, "The lock token uses an invalid UUID format.")
            };
            let err = inner_err.push(
                400,
                format!(
                    "The UNLOCK on {} failed -- an invalid lock token was specified in the \"If:\" header.",
                    escape_html(&req.uri)
                ),
            );
            return handle_err(req, err, Vec::new());
        }
    };
    let resource = match resource_of(req) {
        Ok(r) => r,
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    let db_locks = match read_locks(req) {
        Ok(l) => l,
        Err(e) => return handle_err(req, e, Vec::new()),
    };
    let state = state_of(&resource, &db_locks);
    let flags = Flags {
        parent: state == ResourceState::LockNull,
        ..Flags::default()
    };
    if let Err((e, multi)) = validate(req, &resource, 0, Some(&token), flags) {
        return handle_err(req, e, multi);
    }
    if let Err(e) = unlock_resource(req, &resource, Some(&token)) {
        return handle_err(req, e, Vec::new());
    }
    Err(204)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dav_sections_inherit_their_parents_settings() {
        let dir = crate::modules::test_section(
            "<Location /dav>\nDAV On\nDAVMinTimeout 60\nDAVDepthInfinity on\n</Location>\n",
        );
        let conf = dir.module::<super::Dir>();
        assert_eq!(conf.provider.as_deref(), Some("filesystem"));
        assert_eq!(conf.min_timeout, 60);
        assert_eq!(conf.depth_infinity, Some(true));
        let child = super::Dir {
            provider: None,
            ..Default::default()
        };
        use rhttpd_directives::model::DirConfig;
        assert_eq!(conf.merge(&child).provider.as_deref(), Some("filesystem"));
    }
}
