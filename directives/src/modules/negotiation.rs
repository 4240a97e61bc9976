//! mod_negotiation: MultiViews and type-map negotiation settings.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
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
    )
    .implemented(),
    DirectiveDef::new(
        "LanguagePriority",
        Iterate(raw1),
        OR_FILEINFO,
        "space-delimited list of MIME language abbreviations",
    )
    .implemented(),
    DirectiveDef::new(
        "ForceLanguagePriority",
        Iterate(force_language_priority),
        OR_FILEINFO,
        "Force LanguagePriority elections, either None, or Fallback and/or Prefer",
    )
    .implemented(),
];

/// ForceLanguagePriority: None excludes Prefer and Fallback, also across the section's lines.
fn force_language_priority(cmd: &mut Cmd, _word: &str) -> SetResult {
    if line_stored(cmd) {
        return Ok(());
    }
    let (mut none, mut other) = (false, false);
    for line in lines_so_far(cmd) {
        for word in iterate_words(&line) {
            if word.eq_ignore_ascii_case("None") {
                if other {
                    return Err("Cannot combine ForceLanguagePriority options with None".into());
                }
                none = true;
            } else if word.eq_ignore_ascii_case("Prefer") || word.eq_ignore_ascii_case("Fallback") {
                if none {
                    return Err(format!(
                        "Cannot combine ForceLanguagePriority options None and {}",
                        if word.eq_ignore_ascii_case("Prefer") {
                            "Prefer"
                        } else {
                            "Fallback"
                        }
                    ));
                }
                other = true;
            } else {
                return Err(format!("Invalid ForceLanguagePriority option {word}"));
            }
        }
    }
    cmd.store_raw();
    Ok(())
}
