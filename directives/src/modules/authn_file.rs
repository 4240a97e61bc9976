//! mod_authn_file: AuthUserFile, the htpasswd authentication provider.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "authn_file_module",
    source: "mod_authn_file.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "AuthUserFile",
    Take1(file_slot),
    OR_AUTHCFG,
    "text file containing user IDs and passwords",
)
.implemented()];
