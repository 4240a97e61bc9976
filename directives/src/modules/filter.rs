//! mod_filter: FilterDeclare, FilterProvider, FilterChain and AddOutputFilterByType.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
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
    ),
    DirectiveDef::new(
        "FilterProvider",
        Take3(raw3),
        OR_OPTIONS,
        "filter-name provider-name match-expression",
    ),
    DirectiveDef::new(
        "FilterChain",
        Iterate(raw1),
        OR_OPTIONS,
        "list of filter names with optional [+-=!@]",
    ),
    DirectiveDef::new(
        "FilterTrace",
        Take2(raw2),
        RSRC_CONF | ACCESS_CONF,
        "filter-name debug-level",
    ),
    DirectiveDef::new(
        "AddOutputFilterByType",
        Argv(raw_argv),
        OR_FILEINFO,
        "output filter name followed by one or more content-types",
    ),
    DirectiveDef::new(
        "FilterProtocol",
        Take23(raw23),
        OR_OPTIONS,
        "filter-name [provider-name] protocol-args",
    ),
];
