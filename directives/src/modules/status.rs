//! mod_status: the server-status handler (it has no directives of its own).
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::registry::ModuleDef;

pub static MODULE: ModuleDef = ModuleDef {
    id: "status_module",
    source: "mod_status.c",
    builtin: false,
    has_dir_config: true,
    directives: &[],
};
