//! mod_headers: Header and RequestHeader.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "headers_module",
    source: "mod_headers.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "Header",
        Raw(raw_args),
        OR_FILEINFO,
        "an optional condition, an action, header and value followed by optional env clause",
    ),
    DirectiveDef::new(
        "RequestHeader",
        Raw(raw_args),
        OR_FILEINFO,
        "an action, header and value followed by optional env clause",
    ),
];
