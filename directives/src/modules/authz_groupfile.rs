//! mod_authz_groupfile: AuthGroupFile and the group Require provider.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "authz_groupfile_module",
    source: "mod_authz_groupfile.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "AuthGroupFile",
    Take1(file_slot),
    OR_AUTHCFG,
    "text file containing group names and member user IDs",
)
.implemented()];
