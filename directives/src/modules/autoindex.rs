//! mod_autoindex: generated directory listings and their icons, descriptions and options.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "autoindex_module",
    source: "mod_autoindex.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "AddIcon",
        Iterate2(raw2),
        OR_INDEXES,
        "an icon URL followed by one or more filenames",
    ),
    DirectiveDef::new(
        "AddIconByType",
        Iterate2(raw2),
        OR_INDEXES,
        "an icon URL followed by one or more MIME types",
    ),
    DirectiveDef::new(
        "AddIconByEncoding",
        Iterate2(raw2),
        OR_INDEXES,
        "an icon URL followed by one or more content encodings",
    ),
    DirectiveDef::new(
        "AddAlt",
        Iterate2(raw2),
        OR_INDEXES,
        "alternate descriptive text followed by one or more filenames",
    ),
    DirectiveDef::new(
        "AddAltByType",
        Iterate2(raw2),
        OR_INDEXES,
        "alternate descriptive text followed by one or more MIME types",
    ),
    DirectiveDef::new(
        "AddAltByEncoding",
        Iterate2(raw2),
        OR_INDEXES,
        "alternate descriptive text followed by one or more content encodings",
    ),
    DirectiveDef::new(
        "IndexOptions",
        Argv(raw_argv),
        OR_INDEXES,
        "one or more index options [+|-][]",
    ),
    DirectiveDef::new(
        "IndexOrderDefault",
        Take2(raw2),
        OR_INDEXES,
        "{Ascending,Descending} {Name,Size,Description,Date}",
    ),
    DirectiveDef::new(
        "IndexIgnore",
        Iterate(raw1),
        OR_INDEXES,
        "one or more file extensions",
    ),
    DirectiveDef::new(
        "IndexIgnoreReset",
        Flag(raw_flag),
        OR_INDEXES,
        "Reset the inherited list of IndexIgnore filenames",
    ),
    DirectiveDef::new(
        "AddDescription",
        Iterate2(raw2),
        OR_INDEXES,
        "Descriptive text followed by one or more filenames",
    ),
    DirectiveDef::new("HeaderName", Take1(raw1), OR_INDEXES, "a filename"),
    DirectiveDef::new("ReadmeName", Take1(raw1), OR_INDEXES, "a filename"),
    DirectiveDef::new(
        "FancyIndexing",
        Raw(super::core::deprecated_raw),
        OR_ALL,
        "The FancyIndexing directive is no longer supported. Use IndexOptions FancyIndexing.",
    )
    .implemented(),
    DirectiveDef::new("DefaultIcon", Take1(raw1), OR_INDEXES, "an icon URL"),
    DirectiveDef::new(
        "IndexStyleSheet",
        Take1(raw1),
        OR_INDEXES,
        "URL to style sheet",
    ),
    DirectiveDef::new(
        "IndexHeadInsert",
        Take1(raw1),
        OR_INDEXES,
        "String to insert in HTML HEAD section",
    ),
];
