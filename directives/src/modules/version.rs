//! mod_version: <IfVersion>, evaluated at read time against the version rhttpd reports.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "version_module",
    source: "mod_version.c",
    builtin: true,
    has_dir_config: false,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "<IfVersion",
    Take123(accept123),
    EXEC_ON_READ | OR_ALL,
    "a comparison operator, a version (and a delimiter)",
)
.implemented()];
