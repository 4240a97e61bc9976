//! mod_filter: FilterDeclare, FilterProvider, FilterChain, FilterProtocol, FilterTrace and
//! AddOutputFilterByType.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use std::sync::Mutex;

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

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
        Take12(raw12),
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
        Iterate(raw1),
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
    (
        "headers_module",
        &["FIXUP_HEADERS_OUT", "FIXUP_HEADERS_ERR"],
    ),
    ("reqtimeout_module", &["reqtimeout"]),
];

/// `ap_get_output_filter_handle`: whether an output filter of that name (any case) exists.
fn output_filter_registered(cmd: &Cmd, name: &str) -> bool {
    OUTPUT_FILTERS.iter().any(|(module, names)| {
        let loaded = matches!(*module, "core_module" | "http_module" | "logio_module")
            || cmd.cfg.read.modules.iter().any(|m| m.id == *module);
        loaded && names.iter().any(|n| n.eq_ignore_ascii_case(name))
    })
}

/// The smart filters this section declares so far (`live_filters`, case-sensitive names),
/// each with the providers added to it since its last declaration.
fn live_filters(cmd: &mut Cmd) -> Vec<(String, Vec<String>)> {
    let mut filters: Vec<(String, Vec<String>)> = Vec::new();
    let lines = earlier_lines(
        cmd,
        &["FilterDeclare", "FilterProvider", "AddOutputFilterByType"],
    );
    // FilterDeclare replaces a filter, dropping its providers.
    let declare = |name: &str, filters: &mut Vec<(String, Vec<String>)>| {
        filters.retain(|(n, _)| n != name);
        filters.push((name.to_string(), Vec::new()));
    };
    for (directive, args) in lines {
        let words = rhttpd_parser::split_words(&args);
        match (directive, words.as_slice()) {
            ("FilterDeclare", [name, ..]) => declare(name, &mut filters),
            ("FilterProvider", [name, provider, ..]) => {
                if !filters.iter().any(|(n, _)| n == name) {
                    declare(name, &mut filters);
                }
                if let Some((_, providers)) = filters.iter_mut().find(|(n, _)| n == name) {
                    providers.push(provider.clone());
                }
            }
            ("AddOutputFilterByType", [names, ..]) => {
                for provider in names.split(';').filter(|p| !p.is_empty()) {
                    let name = format!("BYTYPE:{provider}");
                    if !filters.iter().any(|(n, _)| *n == name) {
                        declare(&name, &mut filters);
                    }
                    if let Some((_, providers)) = filters.iter_mut().find(|(n, _)| *n == name) {
                        providers.push(provider.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    filters
}

fn unknown_provider(cmd: &Cmd, provider: &str) -> SetResult {
    if output_filter_registered(cmd, provider) {
        Ok(())
    } else {
        Err(format!("Unknown filter provider {provider}"))
    }
}

/// FilterProvider: the provider must be a registered output filter and the expression must
/// parse.
fn filter_provider(cmd: &mut Cmd, _name: &str, provider: &str, expr: &str) -> SetResult {
    unknown_provider(cmd, provider)?;
    crate::expr::parse(expr)
        .map_err(|err| format!("Error parsing FilterProvider expression:{err}"))?;
    cmd.store_raw();
    Ok(())
}

fn add_output_filter_by_type(cmd: &mut Cmd, argv: &[String]) -> SetResult {
    if argv.len() < 2 {
        return Err("AddOutputFilterByType requires at least two arguments".into());
    }
    for provider in argv[0].split(';').filter(|p| !p.is_empty()) {
        unknown_provider(cmd, provider)?;
    }
    cmd.store_raw();
    Ok(())
}

/// FilterTrace: the filter must be declared earlier in the same section.
fn filter_trace(cmd: &mut Cmd, name: &str, _level: &str) -> SetResult {
    if !live_filters(cmd).iter().any(|(n, _)| n == name) {
        return Err(format!("Undeclared smart filter {name}"));
    }
    cmd.store_raw();
    Ok(())
}

/// FilterProtocol: a declared filter, and with three arguments one of its providers. A
/// provider's flags belong to the registered filter itself, so they are set here, for every
/// smart filter using that provider, by the last such line read (as in Apache); a filter's own
/// flags are per section and kept with its declaration.
fn filter_protocol(cmd: &mut Cmd, name: &str, provider: &str, flags: Option<&str>) -> SetResult {
    let filters = live_filters(cmd);
    let Some((_, providers)) = filters.iter().find(|(n, _)| n == name) else {
        return Err("FilterProtocol: No such filter".into());
    };
    if let Some(flags) = flags {
        if !providers.iter().any(|p| p.eq_ignore_ascii_case(provider)) {
            return Err("FilterProtocol: No such provider for this filter".into());
        }
        set_provider_flags(provider, protocol::parse(flags));
    }
    cmd.store_raw();
    Ok(())
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
