//! mod_watchdog: the watchdog thread interval.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "watchdog_module",
    source: "mod_watchdog.c",
    builtin: true,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "WatchdogInterval",
    Take1(raw1),
    RSRC_CONF,
    "Watchdog interval in seconds",
)
.forbid(GLOBAL_ONLY)];
