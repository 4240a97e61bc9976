//! mod_env: SetEnv, UnsetEnv, PassEnv.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "env_module",
    source: "mod_env.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "PassEnv",
        Iterate(raw1),
        OR_FILEINFO,
        "a list of environment variables to pass to CGI.",
    ),
    DirectiveDef::new(
        "SetEnv",
        Take12(raw12),
        OR_FILEINFO,
        "an environment variable name and optional value to pass to CGI.",
    ),
    DirectiveDef::new(
        "UnsetEnv",
        Iterate(raw1),
        OR_FILEINFO,
        "a list of variables to remove from the CGI environment.",
    ),
];
