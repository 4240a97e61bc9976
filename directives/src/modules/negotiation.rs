//! mod_negotiation: MultiViews and type-map negotiation settings.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "negotiation_module",
    source: "mod_negotiation.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "CacheNegotiatedDocs",
        Flag(raw_flag),
        RSRC_CONF,
        "Either 'on' or 'off' (default)",
    ),
    DirectiveDef::new(
        "LanguagePriority",
        Iterate(raw1),
        OR_FILEINFO,
        "space-delimited list of MIME language abbreviations",
    ),
    DirectiveDef::new(
        "ForceLanguagePriority",
        Iterate(raw1),
        OR_FILEINFO,
        "Force LanguagePriority elections, either None, or Fallback and/or Prefer",
    ),
];
