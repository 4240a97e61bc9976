//! mod_watchdog: the watchdog thread interval.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
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
    Take1(watchdog_interval),
    RSRC_CONF,
    "Watchdog interval in seconds",
)
.forbid(GLOBAL_ONLY).inert("paces the callbacks of watchdog users (mod_proxy_hcheck, mod_heartmonitor); none is in the set")];

/// WatchdogInterval: a time (seconds by default) of at least one watchdog slice (100ms).
fn watchdog_interval(_cmd: &mut Cmd, arg: &str) -> SetResult {
    const SLICE_MICROS: i64 = 100_000;
    let micros = ap_timeout(arg, "s").ok_or("Unparse-able WatchdogInterval setting")?;
    if micros < SLICE_MICROS {
        return Err(format!(
            "Invalid WatchdogInterval: minimal value {}ms",
            SLICE_MICROS / 1000
        ));
    }
    Ok(())
}
