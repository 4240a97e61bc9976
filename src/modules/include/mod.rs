//! mod_include, whole: Server Side Includes. Its directives (XBitHack, the SSI* settings) and
//! their typed configurations; the fixup that puts the INCLUDES filter on a `server-parsed`
//! resource or an executable HTML file (XBitHack); the INCLUDES output filter, which scans a
//! response for `<!--#element ... -->` tags as Apache's does (`scan.rs`, piece by piece, so
//! a tag may straddle two pieces) and runs each element (`elements.rs`: include, echo, set,
//! config, fsize, flastmod, printenv, exec, if/elif/else/endif with ap_expr or the legacy
//! expressions of `legacy.rs`, comment), and the response headers Apache sends for parsed
//! output (no Content-Length, ETag or Last-Modified unless the settings keep them).

mod elements;
mod legacy;
mod scan;

use std::sync::{Arc, Mutex};

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

use crate::filters::{FilterType, OutputFilter};
use crate::hooks::{Fixup, Hooks, Order};
use crate::request::{Body, BodyStream, Request, Response, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "include_module",
    source: "mod_include.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new("XBitHack", Take1(xbithack), OR_OPTIONS, "Off, On, or Full").implemented(),
    DirectiveDef::new("SSIErrorMsg", Take1(error_msg), OR_ALL, "a string").implemented(),
    DirectiveDef::new("SSITimeFormat", Take1(time_format), OR_ALL, "a strftime(3) formatted string").implemented(),
    DirectiveDef::new("SSIStartTag", Take1(start_tag), RSRC_CONF, "SSI Start String Tag").implemented(),
    DirectiveDef::new("SSIEndTag", Take1(end_tag), RSRC_CONF, "SSI End String Tag").implemented(),
    DirectiveDef::new("SSIUndefinedEcho", Take1(undefined_echo), OR_ALL, "String to be displayed if an echoed variable is undefined").implemented(),
    DirectiveDef::new("SSILegacyExprParser", Flag(legacy_expr), OR_LIMIT, "Whether to use the legacy expression parser compatible with <= 2.2.x. Limited to 'on' or 'off'").implemented(),
    DirectiveDef::new("SSILastModified", Flag(last_modified), OR_LIMIT, "Whether to set the last modified header or respect an existing header. Limited to 'on' or 'off'").implemented(),
    DirectiveDef::new("SSIEtag", Flag(etag), OR_LIMIT, "Whether to allow the generation of ETags within the server. Existing ETags will be preserved. Limited to 'on' or 'off'").implemented(),
];

/// The text put in place of an element that failed.
pub const DEFAULT_ERROR_MSG: &str = "[an error occurred while processing this directive]";
/// How times print (`DATE_LOCAL`, `flastmod`) until configured otherwise.
pub const DEFAULT_TIME_FORMAT: &str = "%A, %d-%b-%Y %H:%M:%S %Z";
/// What `echo` prints for a variable that is not set.
pub const DEFAULT_UNDEFINED_ECHO: &str = "(none)";
const DEFAULT_START_TAG: &str = "<!--#";
const DEFAULT_END_TAG: &str = "-->";

/// XBitHack's setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XBitHack {
    Off,
    On,
    Full,
}

/// mod_include's per-directory configuration: each field unset until a directive sets it,
/// the nearer section's value winning (Apache's MERGE of each field).
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub xbithack: Option<XBitHack>,
    pub error_msg: Option<String>,
    pub time_format: Option<String>,
    pub undefined_echo: Option<String>,
    pub last_modified: Option<bool>,
    pub etag: Option<bool>,
    pub legacy_expr: Option<bool>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            xbithack: child.xbithack.or(self.xbithack),
            error_msg: child.error_msg.clone().or_else(|| self.error_msg.clone()),
            time_format: child
                .time_format
                .clone()
                .or_else(|| self.time_format.clone()),
            undefined_echo: child
                .undefined_echo
                .clone()
                .or_else(|| self.undefined_echo.clone()),
            last_modified: child.last_modified.or(self.last_modified),
            etag: child.etag.or(self.etag),
            legacy_expr: child.legacy_expr.or(self.legacy_expr),
        }
    }
}

/// The per-server tags. Apache has no merge for them: a virtual host that sets neither has
/// the main server's, one that sets either has its own (the other at its default).
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub start_tag: Option<String>,
    pub end_tag: Option<String>,
    /// A directive of the module was read for this server.
    written: bool,
}

impl DirConfig for ServerConf {
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        if vhost.written {
            vhost.clone()
        } else {
            self.clone()
        }
    }
}

fn xbithack(cmd: &mut Cmd, arg: &str) -> SetResult {
    let value = match arg.to_ascii_lowercase().as_str() {
        "off" => XBitHack::Off,
        "on" => XBitHack::On,
        "full" => XBitHack::Full,
        _ => return Err("XBitHack must be set to Off, On, or Full".into()),
    };
    cmd.dir_config::<Dir>().xbithack = Some(value);
    Ok(())
}

fn error_msg(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.dir_config::<Dir>().error_msg = Some(arg.to_string());
    Ok(())
}

fn time_format(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.dir_config::<Dir>().time_format = Some(arg.to_string());
    Ok(())
}

fn undefined_echo(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.dir_config::<Dir>().undefined_echo = Some(arg.to_string());
    Ok(())
}

/// The tags may hold no white space: the scanner takes white space as the end of a name.
fn start_tag(cmd: &mut Cmd, arg: &str) -> SetResult {
    if arg.bytes().any(|b| b.is_ascii_whitespace() || b == 0x0b) {
        return Err("SSIStartTag may not contain any whitespaces".into());
    }
    let conf = cmd.server_config::<ServerConf>();
    conf.start_tag = Some(arg.to_string());
    conf.written = true;
    Ok(())
}

fn end_tag(cmd: &mut Cmd, arg: &str) -> SetResult {
    if arg.bytes().any(|b| b.is_ascii_whitespace() || b == 0x0b) {
        return Err("SSIEndTag may not contain any whitespaces".into());
    }
    let conf = cmd.server_config::<ServerConf>();
    conf.end_tag = Some(arg.to_string());
    conf.written = true;
    Ok(())
}

fn legacy_expr(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().legacy_expr = Some(on);
    Ok(())
}

fn last_modified(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().last_modified = Some(on);
    Ok(())
}

fn etag(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().etag = Some(on);
    Ok(())
}

/// The INCLUDES filter: it changes the content itself.
pub static OUTPUT_FILTER: OutputFilter = OutputFilter {
    name: "INCLUDES",
    ftype: FilterType::Resource,
    run: includes_filter,
};

pub fn register_hooks(hooks: &mut Hooks) {
    hooks.output_filters.register(&OUTPUT_FILTER);
    hooks.fixups.add("include", Order::Last, include_fixup);
    // After every module that puts filters on the chain: what INCLUDES asks of the handler
    // (no ETag, no 304) is set before the handler runs, as Apache's filter init does.
    hooks
        .insert_filter
        .add("include", Order::ReallyLast, includes_setup);
}

/// The fixup's verdict, kept for the insert_filter phase (the chain is built after fixups).
#[derive(Default)]
struct ParseThis(bool);

/// Apache's `include_fixup`: the `server-parsed` handler serves the file as the default
/// handler would (as text/html when it has no type), through INCLUDES; under XBitHack On or
/// Full an HTML file with its owner's execute bit set is parsed too.
fn include_fixup(req: &mut Request) -> Step<Fixup> {
    let filename = req.filename.clone().unwrap_or_default();
    let handler = crate::request::pipeline::handler_of(req, &filename);
    if handler.as_deref() == Some("server-parsed") {
        let info = req.file_info.get_or_insert_with(Default::default);
        if info.content_type.as_deref().is_none_or(str::is_empty) {
            info.content_type = Some("text/html".into());
        }
        req.state.get_mut::<ParseThis>().0 = true;
        return Ok(Fixup::Continue);
    }
    let conf = req.dir.module::<Dir>();
    if conf.xbithack.unwrap_or(XBitHack::Off) == XBitHack::Off {
        return Ok(Fixup::Continue);
    }
    let owner_may_execute = req.finfo.as_ref().is_some_and(|meta| {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o100 != 0
    });
    if !owner_may_execute {
        return Ok(Fixup::Continue);
    }
    let content_type = crate::request::static_file::content_type(req).unwrap_or_default();
    if !content_type.starts_with("text/html") {
        return Ok(Fixup::Continue);
    }
    req.state.get_mut::<ParseThis>().0 = true;
    Ok(Fixup::Continue)
}

/// Apache's `includes_setup`, run when the filter joins the chain: no 304 unless XBitHack Full
/// and a group-executable file let Last-Modified stand, and no ETag from the handler unless
/// SSIEtag On.
fn includes_setup(req: &mut Request) -> Step<()> {
    if req.state.get::<ParseThis>().is_some_and(|p| p.0) {
        req.output_chain.insert(&OUTPUT_FILTER);
    }
    let by_filter_module = req.output_chain.contains("mod_filter harness")
        && crate::modules::filter::names_provider(req, "INCLUDES");
    if !req.output_chain.contains("INCLUDES") && !by_filter_module {
        return Ok(());
    }
    let conf = req.dir.module::<Dir>().into_owned();
    if conf.xbithack != Some(XBitHack::Full) || !group_executable(req) {
        req.state.get_mut::<crate::request::NoLocalCopy>().0 = true;
    }
    if conf.etag != Some(true) && !req.notes.iter().any(|(n, _)| n == "no-etag") {
        req.notes.push(("no-etag".into(), String::new()));
    }
    Ok(())
}

fn group_executable(req: &Request) -> bool {
    use std::os::unix::fs::PermissionsExt;
    req.finfo
        .as_ref()
        .is_some_and(|meta| meta.permissions().mode() & 0o010 != 0)
}

/// What a nested include finds of the document that included it (Apache's bread crumb in
/// the sub-request's config): the top document's environment, shared, and its modification
/// time for LAST_MODIFIED.
#[derive(Default)]
pub(crate) struct IncludedBy(pub Option<Parent>);

#[derive(Clone)]
pub(crate) struct Parent {
    pub env: Arc<Mutex<elements::Env>>,
    pub mtime: Option<std::time::SystemTime>,
}

/// The INCLUDES filter over a response (Apache's `includes_filter`).
fn includes_filter(req: &mut Request, mut response: Response) -> Step<Response> {
    if req.dir.core.options() & rhttpd_directives::model::opt::INCLUDES == 0 {
        let text = format!(
            "AH01374: mod_include: Options +Includes (or IncludesNoExec) wasn't set, INCLUDES \
             filter removed: {}",
            req.uri
        );
        req.log_error("include", "warn", &text);
        return Ok(response);
    }
    // A 304 has no body to parse, and keeps its validators.
    if response.status == 304 {
        return Ok(response);
    }
    let pieces = body_pieces(req, std::mem::take(&mut response.body))?;
    let conf = req.dir.module::<Dir>().into_owned();
    // The headers first: Apache settles them as the filter starts.
    remove_header(&mut response, "Content-Length");
    response.length_known = false;
    // Last-Modified goes (the output may change with what it includes), unless
    // SSILastModified On, or XBitHack Full on a group-executable file, keeps it (setting the
    // file's time where the handler set none).
    let keeps_last_modified = conf.last_modified == Some(true)
        || (conf.xbithack == Some(XBitHack::Full) && group_executable(req));
    if !keeps_last_modified {
        remove_header(&mut response, "Last-Modified");
    } else if !has_header(&response, "Last-Modified") {
        if let Some(mtime) = req.finfo.as_ref().and_then(|m| m.modified().ok()) {
            let mtime = whole_seconds(mtime.min(req.now));
            response
                .headers
                .set("Last-Modified", crate::http1::date::format(mtime));
        }
    }
    let passes = elements::parse_document(req, &conf, pieces);
    let mut passes = passes.into_iter();
    match (passes.next(), passes.len()) {
        // One pass, with the end of the body: the length is known after all (Apache's
        // content-length filter counts it).
        (Some(only), 0) => {
            response.length_known = true;
            response.length_last = true;
            response.body = Body::Bytes(only);
        }
        (first, _) => {
            // Passed on in pieces: the head went out before the end was known.
            let pieces: std::collections::VecDeque<Vec<u8>> = first
                .into_iter()
                .chain(passes)
                .filter(|p| !p.is_empty())
                .collect();
            response.body = Body::Stream(BodyStream(Box::new(Passes(pieces))));
        }
    }
    Ok(response)
}

fn whole_seconds(time: std::time::SystemTime) -> std::time::SystemTime {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

fn has_header(response: &Response, name: &str) -> bool {
    response.headers.get(name).is_some() || response.late_headers.get(name).is_some()
}

fn remove_header(response: &mut Response, name: &str) {
    response.headers.remove(name);
    response.late_headers.remove(name);
    response.after_length.remove(name);
}

/// The pieces the filter reads the body in, as Apache's buckets give them: a file whole (it
/// is memory-mapped, up to APR's 4 MiB a map); a stream as its producer hands it over.
fn body_pieces(req: &Request, body: Body) -> Step<Vec<Vec<u8>>> {
    /// APR_MMAP_LIMIT: the most one mapped bucket holds.
    const MMAP_LIMIT: usize = 4 * 1024 * 1024;
    Ok(match body {
        Body::Empty => Vec::new(),
        Body::Bytes(bytes) | Body::Pieces(bytes, _) => vec![bytes],
        Body::File {
            file, offset, len, ..
        } => {
            let content = crate::filters::read_file_body(req, &file, offset, len)?;
            content.chunks(MMAP_LIMIT).map(<[u8]>::to_vec).collect()
        }
        Body::Stream(mut stream) => {
            let mut pieces = Vec::new();
            while let Ok(Some(piece)) = stream.0.next_piece() {
                pieces.push(piece);
            }
            pieces
        }
    })
}

/// The parsed output as the filter passed it on, one piece a pass.
struct Passes(std::collections::VecDeque<Vec<u8>>);

impl crate::request::BodySource for Passes {
    fn next_piece(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.0.pop_front())
    }

    fn finished(&self) -> bool {
        self.0.is_empty()
    }
}
