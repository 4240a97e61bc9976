//! mod_log_config: LogFormat, CustomLog, TransferLog, BufferedLogs.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "log_config_module",
    source: "mod_log_config.c",
    builtin: true,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new("CustomLog", Take23(raw23), RSRC_CONF, "a file name, a custom log format string or format name, and an optional \"env=\" or \"expr=\" clause (see docs)"),
    DirectiveDef::new("GlobalLog", Take23(raw23), RSRC_CONF, "Same as CustomLog, but forces virtualhosts to inherit the log").forbid(GLOBAL_ONLY),
    DirectiveDef::new("TransferLog", Take1(raw1), RSRC_CONF, "the filename of the access log"),
    DirectiveDef::new("LogFormat", Take12(raw12), RSRC_CONF, "a log format string (see docs) and an optional format name"),
    DirectiveDef::new("BufferedLogs", Flag(raw_flag), RSRC_CONF, "Enable Buffered Logging (experimental)"),
];
