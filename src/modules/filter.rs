//! mod_filter, whole: its directives (table, setters, typed per-directory configuration and
//! merge) and their effect. AddOutputFilterByType puts a filter in the chain for responses
//! whose Content-Type (without parameters) is one of the listed types; smart filters
//! (FilterDeclare, FilterProvider, FilterChain) choose their providers by expressions, with
//! FilterProtocol's header handling and FilterTrace's log.

use std::sync::{Arc, Mutex};

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::expr::Expr;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::atoi;

pub static MODULE: ModuleDef = ModuleDef {
    id: "filter_module",
    source: "mod_filter.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "FilterDeclare",
        Take12(filter_declare),
        OR_OPTIONS,
        "filter-name [filter-type]",
    )
    .implemented(),
    DirectiveDef::new(
        "FilterProvider",
        Take3(filter_provider),
        OR_OPTIONS,
        "filter-name provider-name match-expression",
    )
    .implemented(),
    DirectiveDef::new(
        "FilterChain",
        Iterate(filter_chain),
        OR_OPTIONS,
        "list of filter names with optional [+-=!@]",
    )
    .implemented(),
    DirectiveDef::new(
        "FilterTrace",
        Take2(filter_trace),
        RSRC_CONF | ACCESS_CONF,
        "filter-name debug-level",
    )
    .implemented(),
    DirectiveDef::new(
        "AddOutputFilterByType",
        Argv(add_output_filter_by_type),
        OR_FILEINFO,
        "output filter name followed by one or more content-types",
    )
    .implemented(),
    DirectiveDef::new(
        "FilterProtocol",
        Take23(filter_protocol),
        OR_OPTIONS,
        "filter-name [provider-name] protocol-args",
    )
    .implemented(),
];

/// The output filters registered when the config is walked, by the module that registers
/// them (core, http and logio are always there).
const OUTPUT_FILTERS: &[(&str, &[&str])] = &[
    (
        "core_module",
        &["CONTENT_LENGTH", "CORE", "SUBREQ_CORE", "OLD_WRITE"],
    ),
    (
        "http_module",
        &["HTTP_HEADER", "CHUNK", "HTTP_OUTERROR", "BYTERANGE"],
    ),
    ("logio_module", &["LOGIO_TTFB_OUT"]),
    ("deflate_module", &["DEFLATE", "INFLATE"]),
    ("expires_module", &["MOD_EXPIRES"]),
    (
        "headers_module",
        &["FIXUP_HEADERS_OUT", "FIXUP_HEADERS_ERR"],
    ),
    ("reqtimeout_module", &["reqtimeout"]),
    ("include_module", &["INCLUDES"]),
];

/// `ap_get_output_filter_handle`: whether an output filter of that name (any case) exists.
fn output_filter_registered(cmd: &Cmd, name: &str) -> bool {
    OUTPUT_FILTERS.iter().any(|(module, names)| {
        let loaded = matches!(*module, "core_module" | "http_module" | "logio_module")
            || cmd.cfg.read.modules.iter().any(|m| m.id == *module);
        loaded && names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }) || crate::modules::ext_filter::output_defined(cmd.cfg, name)
}

fn unknown_provider(cmd: &Cmd, provider: &str) -> SetResult {
    if output_filter_registered(cmd, provider) {
        Ok(())
    } else {
        Err(format!("Unknown filter provider {provider}"))
    }
}

/// FilterDeclare: a new smart filter, replacing one of that name declared in the section.
fn filter_declare(cmd: &mut Cmd, name: &str, _kind: Option<&str>) -> SetResult {
    let config = cmd.dir_config::<Dir>();
    config.declare_live(name);
    config.smart.retain(|s| s.name != name);
    config.smart.push(Smart::new(name));
    Ok(())
}

/// FilterProvider: the provider must be a registered output filter and the expression must
/// parse; the filter is declared if it was not.
fn filter_provider(cmd: &mut Cmd, name: &str, provider: &str, expr: &str) -> SetResult {
    unknown_provider(cmd, provider)?;
    let expr = cmd
        .parse_expr(expr)
        .map_err(|err| format!("Error parsing FilterProvider expression:{err}"))?;
    let config = cmd.dir_config::<Dir>();
    config.add_live(name, provider);
    if !config.smart.iter().any(|s| s.name == name) {
        config.smart.push(Smart::new(name));
    }
    if let Some(smart) = config.smart.iter_mut().find(|s| s.name == name) {
        smart
            .providers
            .insert(0, (provider.to_ascii_uppercase(), Arc::new(expr)));
    }
    Ok(())
}

fn filter_chain(cmd: &mut Cmd, word: &str) -> SetResult {
    cmd.dir_config::<Dir>().chain_op(word);
    Ok(())
}

/// AddOutputFilterByType: each `;`-separated filter for the listed types; each is also a
/// smart filter `BYTYPE:name` of the section, as the directives after it see it.
fn add_output_filter_by_type(cmd: &mut Cmd, argv: &[String]) -> SetResult {
    if argv.len() < 2 {
        return Err("AddOutputFilterByType requires at least two arguments".into());
    }
    let names: Vec<&str> = argv[0].split(';').filter(|p| !p.is_empty()).collect();
    for provider in &names {
        unknown_provider(cmd, provider)?;
    }
    let types = &argv[1..];
    let config = cmd.dir_config::<Dir>();
    for provider in names {
        config.add_live(&format!("BYTYPE:{provider}"), provider);
        let name = provider.to_ascii_uppercase();
        match config.by_type.iter_mut().find(|(n, _)| *n == name) {
            Some((_, known)) => known.extend(types.iter().cloned()),
            None => config.by_type.push((name, types.to_vec())),
        }
    }
    Ok(())
}

/// FilterTrace: the filter must be declared earlier in the same section.
fn filter_trace(cmd: &mut Cmd, name: &str, level: &str) -> SetResult {
    let config = cmd.dir_config::<Dir>();
    if !config.live.iter().any(|(n, _)| n == name) {
        return Err(format!("Undeclared smart filter {name}"));
    }
    if let Some(smart) = config.smart.iter_mut().find(|s| s.name == name) {
        smart.trace = atoi(level);
    }
    Ok(())
}

/// FilterProtocol: a declared filter, and with three arguments one of its providers. A
/// provider's flags belong to the registered filter itself, so they are set here, for every
/// smart filter using that provider, by the last such line read (as in Apache); a filter's own
/// flags (the two-argument form) are per section and kept with its declaration.
fn filter_protocol(cmd: &mut Cmd, name: &str, provider: &str, flags: Option<&str>) -> SetResult {
    let config = cmd.dir_config::<Dir>();
    let Some((_, providers)) = config.live.iter().find(|(n, _)| n == name) else {
        return Err("FilterProtocol: No such filter".into());
    };
    match flags {
        Some(flags) => {
            if !providers.iter().any(|p| p.eq_ignore_ascii_case(provider)) {
                return Err("FilterProtocol: No such provider for this filter".into());
            }
            set_provider_flags(provider, protocol::parse(flags));
        }
        None => {
            if let Some(smart) = config.smart.iter_mut().find(|s| s.name == name) {
                smart.flags = protocol::parse(provider);
            }
        }
    }
    Ok(())
}

/// A smart filter: its providers, most recently added first (the order Apache tries them).
#[derive(Debug, Clone)]
pub struct Smart {
    pub name: String,
    pub providers: Vec<(String, Arc<Expr>)>,
    /// FilterProtocol's flags for the filter itself.
    pub flags: u32,
    /// FilterTrace's level (1 logs each pass at debug).
    pub trace: i64,
}

impl Smart {
    fn new(name: &str) -> Smart {
        Smart {
            name: name.to_string(),
            providers: Vec::new(),
            flags: 0,
            trace: 0,
        }
    }
}

/// What the smart filters of a response's chain do besides running their providers.
#[derive(Debug, Default)]
pub struct Harness {
    /// The providers that run, each with its protocol flags, in chain order.
    pub providers: Vec<(String, u32)>,
    /// The smart filter each of those runs for: the name its function is told it runs
    /// under (Apache hands a provider the harness's filter record).
    pub smart: Vec<String>,
    /// A filter's flags took Range away before the handler ran and no provider gave it back.
    pub range_hidden: bool,
    /// The chain's filters that log their passes (FilterTrace 1).
    pub traced: Vec<String>,
}

/// Per-directory: each filter name with the types it applies to. A section that names a
/// filter replaces that filter's types from outer sections, as Apache's merge does.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub by_type: Vec<(String, Vec<String>)>,
    /// Smart filters declared here (a section's declaration replaces an outer one).
    pub smart: Vec<Smart>,
    /// FilterChain as this section left it, and whether it started over (`!` or `=`).
    pub chain: Vec<String>,
    pub chain_reset: bool,
    /// The smart filters this section declares so far, each with the providers added since
    /// its declaration (Apache's `live_filters`: case-sensitive names, `BYTYPE:` ones too),
    /// which the section's later FilterTrace and FilterProtocol lines are checked against.
    /// Only a section's own lines count, so it is not merged.
    live: Vec<(String, Vec<String>)>,
}

impl DirConfig for Dir {
    /// A section that names a filter replaces the outer one; the chain continues unless the
    /// section started it over.
    fn merge(&self, child: &Dir) -> Dir {
        let mut smart: Vec<Smart> = self
            .smart
            .iter()
            .filter(|s| !child.smart.iter().any(|c| c.name == s.name))
            .cloned()
            .collect();
        smart.extend(child.smart.iter().cloned());
        let chain = if child.chain_reset {
            child.chain.clone()
        } else {
            let mut chain = self.chain.clone();
            chain.extend(child.chain.iter().cloned());
            chain
        };
        let mut by_type: Vec<(String, Vec<String>)> = self
            .by_type
            .iter()
            .filter(|(name, _)| !child.by_type.iter().any(|(n, _)| n == name))
            .cloned()
            .collect();
        by_type.extend(child.by_type.iter().cloned());
        Dir {
            by_type,
            smart,
            chain,
            chain_reset: self.chain_reset || child.chain_reset,
            live: Vec::new(),
        }
    }
}

impl Dir {
    /// A filter (re)declared in the section: it has no providers yet.
    fn declare_live(&mut self, name: &str) {
        self.live.retain(|(n, _)| n != name);
        self.live.push((name.to_string(), Vec::new()));
    }

    /// A provider added to a filter of the section, declaring the filter if it is new.
    fn add_live(&mut self, name: &str, provider: &str) {
        if !self.live.iter().any(|(n, _)| n == name) {
            self.declare_live(name);
        }
        if let Some((_, providers)) = self.live.iter_mut().find(|(n, _)| n == name) {
            providers.push(provider.to_string());
        }
    }

    /// One FilterChain word: `+name` or `name` appends, `@name` prepends, `-name` removes,
    /// `=name` starts over with it, `!` empties the chain.
    fn chain_op(&mut self, word: &str) {
        match word.split_at(word.chars().next().map_or(0, char::len_utf8)) {
            ("+", name) => self.chain.push(name.to_string()),
            ("@", name) => self.chain.insert(0, name.to_string()),
            ("-", name) => self.chain.retain(|n| !n.eq_ignore_ascii_case(name)),
            ("!", _) => {
                self.chain.clear();
                self.chain_reset = true;
            }
            ("=", name) => {
                self.chain = vec![name.to_string()];
                self.chain_reset = true;
            }
            _ => self.chain.push(word.to_string()),
        }
    }

    /// The chain's filters whose provider (the first, newest first, whose expression holds)
    /// is named `provider`; `holds` evaluates an expression for the response.
    pub fn chain_reaches(&self, provider: &str, holds: &dyn Fn(&Expr) -> bool) -> bool {
        self.chain.iter().any(|name| {
            self.declared(name)
                .and_then(|s| s.providers.iter().find(|(_, expr)| holds(expr)))
                .is_some_and(|(p, _)| p.eq_ignore_ascii_case(provider))
        })
    }

    fn declared(&self, name: &str) -> Option<&Smart> {
        self.smart.iter().rev().find(|s| s.name == name)
    }

    /// The chain's filters that exist (Apache warns of the others and leaves them out).
    pub fn chain_filters(&self) -> impl Iterator<Item = Result<&Smart, &str>> {
        self.chain
            .iter()
            .map(|name| self.declared(name).ok_or(name.as_str()))
    }

    /// Whether the chain takes Range away before the handler runs: a filter whose own flags
    /// say it changes lengths or cannot serve ranges.
    pub fn hides_range(&self) -> bool {
        self.chain_filters()
            .flatten()
            .any(|s| s.flags & (protocol::NO_BYTERANGE | protocol::CHANGE_LENGTH) != 0)
    }

    /// The smart filters' work on a 200 response: which providers run (the first, newest
    /// first, whose expression holds) and whether Range comes back for the byte-range filter.
    pub fn harness(&self, holds: &dyn Fn(&Expr) -> bool) -> Harness {
        let mut harness = Harness {
            range_hidden: self.hides_range(),
            ..Harness::default()
        };
        for smart in self.chain_filters().flatten() {
            if smart.trace == 1 {
                harness.traced.push(smart.name.clone());
            }
            let Some((provider, _)) = smart.providers.iter().find(|(_, expr)| holds(expr)) else {
                continue;
            };
            let flags = provider_flags(provider);
            if flags & protocol::NO_BYTERANGE == 0 {
                harness.range_hidden = false;
            }
            harness.providers.push((provider.clone(), flags));
            harness.smart.push(smart.name.clone());
        }
        harness
    }

    /// The filters whose types match the response's Content-Type.
    pub fn matching<'a>(&'a self, content_type: Option<&str>) -> impl Iterator<Item = &'a str> {
        let bare = content_type.map(|t| {
            let end = t.find([';', ' ', '\t']).unwrap_or(t.len());
            t[..end].to_string()
        });
        self.by_type.iter().filter_map(move |(name, types)| {
            let bare = bare.as_deref()?;
            types.iter().any(|t| t == bare).then_some(name.as_str())
        })
    }
}

/// FilterProtocol's flags, what mod_filter does around a provider that runs.
pub mod protocol {
    /// The provider changes the content: ETag and Content-MD5 go.
    pub const CHANGE: u32 = 0x1;
    /// ... and its length: Content-Length goes (and, for a filter, byte ranges wait).
    pub const CHANGE_LENGTH: u32 = 0x2;
    /// Byte ranges cannot be served: `Accept-Ranges: none` (for a filter, Range is dropped).
    pub const NO_BYTERANGE: u32 = 0x4;
    /// Not for proxied responses.
    pub const NO_PROXY: u32 = 0x8;
    /// Different output each time: no Last-Modified, `Cache-Control: no-cache`.
    pub const NO_CACHE: u32 = 0x10;
    /// Honours `Cache-Control: no-transform` on proxied responses.
    pub const TRANSFORM: u32 = 0x20;

    /// The flags a protocol-args word list sets (words Apache does not know are ignored).
    pub fn parse(text: &str) -> u32 {
        let mut flags = 0;
        for word in text.split([';', ',', ' ', '\t']).filter(|w| !w.is_empty()) {
            let word = word.to_ascii_lowercase();
            // Apache tests `change=yes` on its own, then the rest as one chain.
            if word == "change=yes" {
                flags |= CHANGE | CHANGE_LENGTH;
            }
            flags = match word.as_str() {
                "change=no" => flags & !(CHANGE | CHANGE_LENGTH),
                "change=1:1" => flags | CHANGE,
                "byteranges=no" => flags | NO_BYTERANGE,
                "proxy=no" => flags | NO_PROXY,
                "proxy=transform" => flags | TRANSFORM,
                "cache=no" => flags | NO_CACHE,
                _ => flags,
            };
        }
        flags
    }
}

/// Protocol flags of registered filters used as providers, by upper-case name.
static PROVIDER_FLAGS: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());

fn set_provider_flags(provider: &str, flags: u32) {
    let name = provider.to_ascii_uppercase();
    let mut table = PROVIDER_FLAGS.lock().unwrap_or_else(|e| e.into_inner());
    table.retain(|(n, _)| *n != name);
    table.push((name, flags));
}

/// The protocol flags FilterProtocol gave the registered filter `provider` (none by default).
pub fn provider_flags(provider: &str) -> u32 {
    let table = PROVIDER_FLAGS.lock().unwrap_or_else(|e| e.into_inner());
    table
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(provider))
        .map_or(0, |(_, flags)| *flags)
}

/// Every registered filter back to no protocol flags, for a new reading of the configuration.
pub fn reset_provider_flags() {
    PROVIDER_FLAGS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
}

use crate::filters::{FilterType, OutputFilter, OutputRef};
use crate::hooks::{Hooks, Order};
use crate::request::{expr::RequestContext, Body, Request, Response, Step};

/// The harness mod_filter puts around the smart filters and AddOutputFilterByType's: not a
/// filter a configuration can name, so it is inserted, never registered.
static HARNESS: OutputFilter = OutputFilter {
    name: "mod_filter harness",
    ftype: FilterType::Resource,
    run: harness_output,
};

pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .insert_filter
        .add("filter", Order::Middle, insert_harness);
}

/// Whether the directory's smart filters or filters by type can run `provider` (mod_filter's
/// init runs every provider's own init as the harness joins the chain, whatever the type).
pub fn names_provider(req: &Request, provider: &str) -> bool {
    let Some(dir) = req.dir.typed.get::<Dir>() else {
        return false;
    };
    dir.by_type
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case(provider))
        || dir.chain_filters().flatten().any(|smart| {
            smart
                .providers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case(provider))
        })
}

/// The harness joins the chain where the directory has smart filters or filters by type.
fn insert_harness(req: &mut Request) -> Step<()> {
    let configured = req
        .dir
        .typed
        .get::<Dir>()
        .is_some_and(|f| !f.chain.is_empty() || !f.by_type.is_empty());
    if configured {
        req.output_chain.insert(&HARNESS);
    }
    Ok(())
}

/// A 200 response entering the smart filters: FilterTrace's log of the handler's pass, the
/// header changes the FilterProtocol flags of each provider that runs ask for (before it
/// runs), whether Range stays away from the byte-range filter; then each provider chosen (by
/// type, or by its expression) runs, unless the chain holds it already.
fn harness_output(req: &mut Request, mut response: Response) -> Step<Response> {
    let pass = match &response.body {
        _ if response.status != 200 => return Ok(response),
        Body::File { len, .. } => Some(("FILE", *len)),
        Body::Bytes(body) => Some(("HEAP", body.len() as u64)),
        // A stream's pieces are not known yet: nothing to trace.
        Body::Stream(_) => None,
        Body::Empty | Body::Pieces(..) => return Ok(response),
    };
    let dir = std::sync::Arc::clone(&req.dir);
    let Some(filters) = dir.typed.get::<Dir>() else {
        return Ok(response);
    };
    // Each with the smart filter it runs for (AddOutputFilterByType's is `BYTYPE:name`).
    let mut providers: Vec<(String, String)> = filters
        .matching(response.content_type.as_deref())
        .map(|name| (name.to_string(), format!("BYTYPE:{name}")))
        .collect();
    if !filters.chain.is_empty() {
        let harness = smart_harness(req, filters, &mut response, pass);
        let smart = harness.providers.into_iter().zip(harness.smart);
        providers.extend(smart.map(|((name, _), smart)| (name, smart)));
    }
    let mut ran: Vec<OutputRef> = Vec::new();
    for (name, smart) in providers {
        let Some(filter) = req.rt.hooks.output_filters.find(&name) else {
            continue;
        };
        if req.output_chain.contains(filter.name()) || ran.iter().any(|f| f.name() == filter.name())
        {
            continue;
        }
        response = filter.run_as(req, &smart, response)?;
        ran.push(filter);
    }
    Ok(response)
}

/// The smart filters' part of the harness (see [`harness_output`]).
fn smart_harness(
    req: &mut Request,
    filters: &Dir,
    response: &mut Response,
    pass: Option<(&str, u64)>,
) -> Harness {
    for missing in filters.chain_filters().filter_map(Result::err) {
        let text = format!("AH01380: Unknown filter {missing} not added");
        req.log_error("filter", "warn", &text);
    }
    let harness = {
        let mut context = RequestContext::lazy(req);
        context.content_type = response.content_type.as_deref();
        filters.harness(&|expr| expr.eval(&context) == Ok(true))
    };
    for name in harness.traced.iter().filter(|_| pass.is_some()) {
        let (kind, length) = pass.unwrap_or_default();
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
    harness
}
