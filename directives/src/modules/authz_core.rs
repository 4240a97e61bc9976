//! mod_authz_core: Require and the <RequireAll|Any|None> containers.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "authz_core_module",
    source: "mod_authz_core.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new("<AuthzProviderAlias", Raw(raw_args), RSRC_CONF, "container for grouping an authorization provider's directives under a provider alias").forbid(GLOBAL_ONLY),
    DirectiveDef::new("Require", Raw(raw_args), OR_AUTHCFG, "specifies authorization directives which one must pass (or not) for a request to suceeed"),
    DirectiveDef::new("<RequireAll", Raw(raw_args), OR_AUTHCFG, "container for grouping authorization directives of which none must fail and at least one must pass for a request to succeed"),
    DirectiveDef::new("<RequireAny", Raw(raw_args), OR_AUTHCFG, "container for grouping authorization directives of which one must pass for a request to succeed"),
    DirectiveDef::new("<RequireNone", Raw(raw_args), OR_AUTHCFG, "container for grouping authorization directives of which none must pass for a request to succeed"),
    DirectiveDef::new("AuthMerging", Take1(raw1), OR_AUTHCFG, "controls how a <Directory>, <Location>, or similar directive's authorization directives are combined with those of its predecessor"),
    DirectiveDef::new("AuthzSendForbiddenOnFailure", Flag(raw_flag), OR_AUTHCFG, "Controls if an authorization failure should result in a '403 FORBIDDEN' response instead of the HTTP-conforming '401 UNAUTHORIZED'"),
];
