//! mod_authz_host: the ip, host, forward-dns and local Require providers (no directives).
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::registry::ModuleDef;

pub static MODULE: ModuleDef = ModuleDef {
    id: "authz_host_module",
    source: "mod_authz_host.c",
    builtin: false,
    has_dir_config: true,
    directives: &[],
};
