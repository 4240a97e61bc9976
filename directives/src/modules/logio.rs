//! mod_logio: byte counting for %I %O %S.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "logio_module",
    source: "mod_logio.c",
    builtin: true,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "LogIOTrackTTFB",
    Flag(raw_flag),
    OR_ALL,
    "Set to 'ON' to enable tracking time to first byte",
)
.implemented()];
