//! mod_alias: Alias, ScriptAlias, Redirect and their Match forms.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "alias_module",
    source: "mod_alias.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "Alias",
        Take12(raw12),
        RSRC_CONF | ACCESS_CONF,
        "a fakename and a realname, or a realname in a Location",
    )
    .forbid(NOT_IN_DIR_CONTEXT),
    DirectiveDef::new(
        "ScriptAlias",
        Take12(raw12),
        RSRC_CONF | ACCESS_CONF,
        "a fakename and a realname, or a realname in a Location",
    )
    .forbid(NOT_IN_DIR_CONTEXT),
    DirectiveDef::new(
        "Redirect",
        Take123(raw123),
        OR_FILEINFO,
        "an optional status, then document to be redirected and destination URL",
    ),
    DirectiveDef::new(
        "AliasMatch",
        Take2(raw2),
        RSRC_CONF,
        "a regular expression and a filename",
    )
    .forbid(NOT_IN_DIR_CONTEXT),
    DirectiveDef::new(
        "ScriptAliasMatch",
        Take2(raw2),
        RSRC_CONF,
        "a regular expression and a filename",
    )
    .forbid(NOT_IN_DIR_CONTEXT),
    DirectiveDef::new(
        "RedirectMatch",
        Take23(raw23),
        OR_FILEINFO,
        "an optional status, then a regular expression and destination URL",
    ),
    DirectiveDef::new(
        "RedirectTemp",
        Take2(raw2),
        OR_FILEINFO,
        "a document to be redirected, then the destination URL",
    ),
    DirectiveDef::new(
        "RedirectPermanent",
        Take2(raw2),
        OR_FILEINFO,
        "a document to be redirected, then the destination URL",
    ),
    DirectiveDef::new(
        "RedirectRelative",
        Flag(raw_flag),
        OR_FILEINFO,
        "Set to ON to allow relative redirect targets to be issued as-is",
    ),
    DirectiveDef::new(
        "AliasPreservePath",
        Flag(raw_flag),
        OR_FILEINFO,
        "Set to ON to map the full path after the fakename to the realname.",
    ),
];
