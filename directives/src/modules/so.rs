//! mod_so: LoadModule and LoadFile, which switch on compiled-in modules at read time.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "so_module",
    source: "mod_so.c",
    builtin: true,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "LoadModule",
        Take2(accept2),
        RSRC_CONF | EXEC_ON_READ,
        "a module name and the name of a shared object file to load it from",
    )
    .implemented(),
    DirectiveDef::new(
        "LoadFile",
        Iterate(accept1),
        RSRC_CONF | EXEC_ON_READ,
        "shared object file or library to load into the server at runtime",
    )
    .implemented(),
];
