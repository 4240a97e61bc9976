//! mod_setenvif: SetEnvIf, BrowserMatch and their NoCase and Expr forms.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "setenvif_module",
    source: "mod_setenvif.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "SetEnvIf",
        Raw(raw_args),
        OR_FILEINFO,
        "A header-name, regex and a list of variables.",
    ),
    DirectiveDef::new(
        "SetEnvIfNoCase",
        Raw(raw_args),
        OR_FILEINFO,
        "a header-name, regex and a list of variables.",
    ),
    DirectiveDef::new(
        "SetEnvIfExpr",
        Raw(raw_args),
        OR_FILEINFO,
        "an expression and a list of variables.",
    ),
    DirectiveDef::new(
        "BrowserMatch",
        Raw(raw_args),
        OR_FILEINFO,
        "A browser regex and a list of variables.",
    ),
    DirectiveDef::new(
        "BrowserMatchNoCase",
        Raw(raw_args),
        OR_FILEINFO,
        "A browser regex and a list of variables.",
    ),
];
