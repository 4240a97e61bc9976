//! mod_authn_core: AuthType, AuthName and <AuthnProviderAlias>.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "authn_core_module",
    source: "mod_authn_core.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "AuthType",
        Take1(raw1),
        OR_AUTHCFG,
        "an HTTP authorization type (e.g., \"Basic\")",
    ),
    DirectiveDef::new(
        "AuthName",
        Take1(raw1),
        OR_AUTHCFG,
        "the authentication realm (e.g. \"Members Only\")",
    ),
    DirectiveDef::new(
        "<AuthnProviderAlias",
        Raw(raw_args),
        RSRC_CONF,
        "container for grouping an authentication provider's directives under a provider alias",
    )
    .forbid(GLOBAL_ONLY),
];
