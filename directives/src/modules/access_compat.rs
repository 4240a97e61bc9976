//! mod_access_compat: Order, Allow, Deny and Satisfy from Apache 2.2.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "access_compat_module",
    source: "mod_access_compat.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "order",
        Take1(raw1),
        OR_LIMIT,
        "'allow,deny', 'deny,allow', or 'mutual-failure'",
    ),
    DirectiveDef::new(
        "allow",
        Iterate2(raw2),
        OR_LIMIT,
        "'from' followed by hostnames or IP-address wildcards",
    ),
    DirectiveDef::new(
        "deny",
        Iterate2(raw2),
        OR_LIMIT,
        "'from' followed by hostnames or IP-address wildcards",
    ),
    DirectiveDef::new(
        "Satisfy",
        Take1(raw1),
        OR_AUTHCFG,
        "access policy if both allow and require used ('all' or 'any')",
    ),
];
