//! mod_filter: FilterDeclare, FilterProvider, FilterChain and AddOutputFilterByType.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

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
    ),
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
    ),
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

/// FilterProtocol: a declared filter, and with three arguments one of its providers.
fn filter_protocol(cmd: &mut Cmd, name: &str, provider: &str, flags: Option<&str>) -> SetResult {
    let filters = live_filters(cmd);
    let Some((_, providers)) = filters.iter().find(|(n, _)| n == name) else {
        return Err("FilterProtocol: No such filter".into());
    };
    if flags.is_some() && !providers.iter().any(|p| p.eq_ignore_ascii_case(provider)) {
        return Err("FilterProtocol: No such provider for this filter".into());
    }
    cmd.store_raw();
    Ok(())
}
