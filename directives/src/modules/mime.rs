//! mod_mime: file-extension maps for types, encodings, languages, charsets, handlers and filters.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "mime_module",
    source: "mod_mime.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "AddCharset",
        Iterate2(raw2),
        OR_FILEINFO,
        "a charset (e.g., iso-2022-jp), followed by one or more file extensions",
    ),
    DirectiveDef::new(
        "AddEncoding",
        Iterate2(raw2),
        OR_FILEINFO,
        "an encoding (e.g., gzip), followed by one or more file extensions",
    ),
    DirectiveDef::new(
        "AddHandler",
        Iterate2(raw2),
        OR_FILEINFO,
        "a handler name followed by one or more file extensions",
    ),
    DirectiveDef::new(
        "AddInputFilter",
        Iterate2(raw2),
        OR_FILEINFO,
        "input filter name (or ; delimited names) followed by one or more file extensions",
    ),
    DirectiveDef::new(
        "AddLanguage",
        Iterate2(raw2),
        OR_FILEINFO,
        "a language (e.g., fr), followed by one or more file extensions",
    ),
    DirectiveDef::new(
        "AddOutputFilter",
        Iterate2(raw2),
        OR_FILEINFO,
        "output filter name (or ; delimited names) followed by one or more file extensions",
    ),
    DirectiveDef::new(
        "AddType",
        Iterate2(raw2),
        OR_FILEINFO,
        "a mime type followed by one or more file extensions",
    ),
    DirectiveDef::new(
        "DefaultLanguage",
        Take1(raw1),
        OR_FILEINFO,
        "language to use for documents with no other language file extension",
    ),
    DirectiveDef::new(
        "MultiviewsMatch",
        Iterate(raw1),
        OR_FILEINFO,
        "NegotiatedOnly (default), Handlers and/or Filters, or Any",
    )
    .forbid(NOT_IN_LOCATION),
    DirectiveDef::new(
        "RemoveCharset",
        Iterate(raw1),
        OR_FILEINFO,
        "one or more file extensions",
    ),
    DirectiveDef::new(
        "RemoveEncoding",
        Iterate(raw1),
        OR_FILEINFO,
        "one or more file extensions",
    ),
    DirectiveDef::new(
        "RemoveHandler",
        Iterate(raw1),
        OR_FILEINFO,
        "one or more file extensions",
    ),
    DirectiveDef::new(
        "RemoveInputFilter",
        Iterate(raw1),
        OR_FILEINFO,
        "one or more file extensions",
    ),
    DirectiveDef::new(
        "RemoveLanguage",
        Iterate(raw1),
        OR_FILEINFO,
        "one or more file extensions",
    ),
    DirectiveDef::new(
        "RemoveOutputFilter",
        Iterate(raw1),
        OR_FILEINFO,
        "one or more file extensions",
    ),
    DirectiveDef::new(
        "RemoveType",
        Iterate(raw1),
        OR_FILEINFO,
        "one or more file extensions",
    ),
    DirectiveDef::new(
        "TypesConfig",
        Take1(raw1),
        RSRC_CONF,
        "the MIME types config file",
    ),
    DirectiveDef::new(
        "ModMimeUsePathInfo",
        Flag(raw_flag),
        ACCESS_CONF,
        "Set to 'yes' to allow mod_mime to use path info for type checking",
    ),
];
