//! mod_deflate: the DEFLATE output filter and its tuning directives.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "deflate_module",
    source: "mod_deflate.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new("DeflateFilterNote", Take12(filter_note), RSRC_CONF, "Set a note to report on compression ratio").implemented(),
    DirectiveDef::new("DeflateWindowSize", Take1(window_size), RSRC_CONF, "Set the Deflate window size (1-15)").implemented(),
    DirectiveDef::new("DeflateBufferSize", Take1(buffer_size), RSRC_CONF, "Set the Deflate Buffer Size").implemented(),
    DirectiveDef::new("DeflateMemLevel", Take1(mem_level), RSRC_CONF, "Set the Deflate Memory Level (1-9)").implemented(),
    DirectiveDef::new("DeflateCompressionLevel", Take1(compression_level), RSRC_CONF, "Set the Deflate Compression Level (1-9)").implemented(),
    DirectiveDef::new("DeflateInflateLimitRequestBody", Take1(inflate_limit), OR_ALL, "Set a limit on size of inflated input").implemented(),
    DirectiveDef::new("DeflateInflateRatioLimit", Take1(positive), OR_ALL, "Set the inflate ratio limit above which inflation is aborted (default: 200)").implemented(),
    DirectiveDef::new("DeflateInflateRatioBurst", Take1(positive), OR_ALL, "Set the maximum number of following inflate ratios above limit (default: 3)").implemented(),
    DirectiveDef::new("DeflateAlterEtag", Take1(alter_etag), RSRC_CONF, "Set how mod_deflate should modify ETAG response headers: 'AddSuffix' (default), 'NoChange' (2.2.x behavior), 'Remove'").implemented(),
];

/// An `atoi` value within `range`, or `message`.
fn int_in(
    cmd: &mut Cmd,
    arg: &str,
    range: std::ops::RangeInclusive<i32>,
    message: &str,
) -> SetResult {
    if !range.contains(&atoi_int(arg)) {
        return Err(message.into());
    }
    cmd.store_raw();
    Ok(())
}

fn window_size(cmd: &mut Cmd, arg: &str) -> SetResult {
    int_in(
        cmd,
        arg,
        1..=15,
        "DeflateWindowSize must be between 1 and 15",
    )
}

fn buffer_size(cmd: &mut Cmd, arg: &str) -> SetResult {
    int_in(
        cmd,
        arg,
        1..=i32::MAX,
        "DeflateBufferSize should be positive",
    )
}

fn mem_level(cmd: &mut Cmd, arg: &str) -> SetResult {
    int_in(cmd, arg, 1..=9, "DeflateMemLevel must be between 1 and 9")
}

fn compression_level(cmd: &mut Cmd, arg: &str) -> SetResult {
    int_in(cmd, arg, 1..=9, "Compression Level must be between 1 and 9")
}

/// DeflateInflateRatioLimit and DeflateInflateRatioBurst.
fn positive(cmd: &mut Cmd, arg: &str) -> SetResult {
    let message = format!("{} must be positive", cmd.name());
    int_in(cmd, arg, 1..=i32::MAX, &message)
}

fn filter_note(cmd: &mut Cmd, kind: &str, name: Option<&str>) -> SetResult {
    if name.is_some()
        && !["ratio", "input", "output"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(kind))
    {
        return Err(format!("Unknown note type {kind}"));
    }
    cmd.store_raw();
    Ok(())
}

/// `apr_strtoff`: the whole word a non-negative decimal number.
fn inflate_limit(cmd: &mut Cmd, arg: &str) -> SetResult {
    match strtoll(arg) {
        None => Err("DeflateInflateLimitRequestBody is not parsable.".into()),
        Some((n, rest)) if !rest.is_empty() || n < 0 => {
            Err("DeflateInflateLimitRequestBody requires a non-negative integer.".into())
        }
        Some(_) => {
            cmd.store_raw();
            Ok(())
        }
    }
}

fn alter_etag(cmd: &mut Cmd, arg: &str) -> SetResult {
    if !["NoChange", "AddSuffix", "Remove"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(arg))
    {
        return Err("DeflateAlterETAG accepts only 'NoChange', 'AddSuffix', and 'Remove'".into());
    }
    cmd.store_raw();
    Ok(())
}
