//! mod_dir: DirectoryIndex, DirectorySlash, FallbackResource, DirectoryCheckHandler.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "dir_module",
    source: "mod_dir.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "FallbackResource",
        Take1(raw1),
        OR_INDEXES,
        "Set a default handler",
    ),
    DirectiveDef::new(
        "DirectoryIndex",
        Raw(raw_args),
        OR_INDEXES,
        "a list of file names",
    ),
    DirectiveDef::new("DirectorySlash", Flag(raw_flag), OR_INDEXES, "On or Off"),
    DirectiveDef::new(
        "DirectoryCheckHandler",
        Flag(raw_flag),
        OR_INDEXES,
        "On or Off",
    ),
    DirectiveDef::new(
        "DirectoryIndexRedirect",
        Take1(raw1),
        OR_INDEXES,
        "On, Off, or a 3xx status code.",
    ),
];
