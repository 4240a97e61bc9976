//! mod_dir: DirectoryIndex, DirectorySlash, FallbackResource, DirectoryCheckHandler.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "dir_module",
    source: "mod_dir.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "FallbackResource",
        Take1(raw1),
        OR_INDEXES,
        "Set a default handler",
    )
    .implemented(),
    DirectiveDef::new(
        "DirectoryIndex",
        Raw(raw_args),
        OR_INDEXES,
        "a list of file names",
    )
    .implemented(),
    DirectiveDef::new("DirectorySlash", Flag(raw_flag), OR_INDEXES, "On or Off").implemented(),
    DirectiveDef::new(
        "DirectoryCheckHandler",
        Flag(raw_flag),
        OR_INDEXES,
        "On or Off",
    )
    .implemented(),
    DirectiveDef::new(
        "DirectoryIndexRedirect",
        Take1(directory_index_redirect),
        OR_INDEXES,
        "On, Off, or a 3xx status code.",
    )
    .implemented(),
];

/// DirectoryIndexRedirect: a keyword, or anything starting with a digit read as a 3xx status.
fn directory_index_redirect(cmd: &mut Cmd, arg: &str) -> SetResult {
    let keyword = ["on", "off", "permanent", "temp", "seeother"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(arg));
    if !keyword {
        if !arg.starts_with(|c: char| c.is_ascii_digit()) {
            return Err("DirectoryIndexRedirect ON|OFF|permanent|temp|seeother|3xx".into());
        }
        if !(300..400).contains(&atoi_int(arg)) {
            return Err("DirectoryIndexRedirect only accepts values between 300 and 399".into());
        }
    }
    cmd.store_raw();
    Ok(())
}
