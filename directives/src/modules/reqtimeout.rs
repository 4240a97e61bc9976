//! mod_reqtimeout: RequestReadTimeout for headers and bodies.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "reqtimeout_module",
    source: "mod_reqtimeout.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "RequestReadTimeout",
    Raw(raw_args),
    RSRC_CONF,
    "Set various timeout parameters for TLS handshake and/or reading request headers and body",
)];
