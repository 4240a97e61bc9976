//! mod_mime: file-extension maps for types, encodings, languages, charsets, handlers and filters.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
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
    )
    .implemented(),
    DirectiveDef::new(
        "AddEncoding",
        Iterate2(raw2),
        OR_FILEINFO,
        "an encoding (e.g., gzip), followed by one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "AddHandler",
        Iterate2(raw2),
        OR_FILEINFO,
        "a handler name followed by one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "AddInputFilter",
        Iterate2(raw2),
        OR_FILEINFO,
        "input filter name (or ; delimited names) followed by one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "AddLanguage",
        Iterate2(raw2),
        OR_FILEINFO,
        "a language (e.g., fr), followed by one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "AddOutputFilter",
        Iterate2(raw2),
        OR_FILEINFO,
        "output filter name (or ; delimited names) followed by one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "AddType",
        Iterate2(raw2),
        OR_FILEINFO,
        "a mime type followed by one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "DefaultLanguage",
        Take1(raw1),
        OR_FILEINFO,
        "language to use for documents with no other language file extension",
    )
    .implemented(),
    DirectiveDef::new(
        "MultiviewsMatch",
        Iterate(multiviews_match),
        OR_FILEINFO,
        "NegotiatedOnly (default), Handlers and/or Filters, or Any",
    )
    .forbid(NOT_IN_LOCATION)
    .implemented(),
    DirectiveDef::new(
        "RemoveCharset",
        Iterate(raw1),
        OR_FILEINFO,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoveEncoding",
        Iterate(raw1),
        OR_FILEINFO,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoveHandler",
        Iterate(raw1),
        OR_FILEINFO,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoveInputFilter",
        Iterate(raw1),
        OR_FILEINFO,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoveLanguage",
        Iterate(raw1),
        OR_FILEINFO,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoveOutputFilter",
        Iterate(raw1),
        OR_FILEINFO,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "RemoveType",
        Iterate(raw1),
        OR_FILEINFO,
        "one or more file extensions",
    )
    .implemented(),
    DirectiveDef::new(
        "TypesConfig",
        Take1(raw1),
        RSRC_CONF,
        "the MIME types config file",
    )
    .implemented(),
    DirectiveDef::new(
        "ModMimeUsePathInfo",
        Flag(raw_flag),
        ACCESS_CONF,
        "Set to 'yes' to allow mod_mime to use path info for type checking",
    )
    .implemented(),
];

/// MultiviewsMatch: Any and NegotiatedOnly each exclude every other option, also when they
/// come from an earlier line of the same section.
fn multiviews_match(cmd: &mut Cmd, _word: &str) -> SetResult {
    const ANY: u8 = 1;
    const NEGOTIATED: u8 = 2;
    const HANDLERS: u8 = 4;
    const FILTERS: u8 = 8;
    if line_stored(cmd) {
        return Ok(());
    }
    let mut set = 0u8;
    for line in lines_so_far(cmd) {
        for word in iterate_words(&line) {
            let (bit, clashes, message) = match word.to_ascii_lowercase().as_str() {
                "any" => (
                    ANY,
                    !ANY,
                    "Any is incompatible with NegotiatedOnly, Filters and Handlers",
                ),
                "negotiatedonly" => (
                    NEGOTIATED,
                    !NEGOTIATED,
                    "NegotiatedOnly is incompatible with Any, Filters and Handlers",
                ),
                "filters" => (
                    FILTERS,
                    NEGOTIATED | ANY,
                    "Filters is incompatible with Any and NegotiatedOnly",
                ),
                "handlers" => (
                    HANDLERS,
                    NEGOTIATED | ANY,
                    "Handlers is incompatible with Any and NegotiatedOnly",
                ),
                _ => return Err(format!("Unrecognized option '{word}'")),
            };
            if set & clashes != 0 {
                return Err(message.into());
            }
            set |= bit;
        }
    }
    cmd.store_raw();
    Ok(())
}
