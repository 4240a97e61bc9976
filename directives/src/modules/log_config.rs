//! mod_log_config: LogFormat, CustomLog, TransferLog, BufferedLogs.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "log_config_module",
    source: "mod_log_config.c",
    builtin: true,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new("CustomLog", Take23(custom_log), RSRC_CONF, "a file name, a custom log format string or format name, and an optional \"env=\" or \"expr=\" clause (see docs)").implemented(),
    DirectiveDef::new("GlobalLog", Take23(custom_log), RSRC_CONF, "Same as CustomLog, but forces virtualhosts to inherit the log").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("TransferLog", Take1(raw1), RSRC_CONF, "the filename of the access log").implemented(),
    DirectiveDef::new("LogFormat", Take12(log_format), RSRC_CONF, "a log format string (see docs) and an optional format name").implemented(),
    DirectiveDef::new("BufferedLogs", Flag(raw_flag), RSRC_CONF, "Enable Buffered Logging (experimental)").implemented(),
];

/// CustomLog and GlobalLog: the condition clause, then the format (a nickname parses as
/// plain text, so it always passes).
fn custom_log(cmd: &mut Cmd, _file: &str, format: &str, clause: Option<&str>) -> SetResult {
    if let Some(clause) = clause {
        if starts_with_ignore_case(clause, "env=") {
            if clause.len() == 4 || &clause[4..] == "!" {
                return Err("missing environment variable name".into());
            }
        } else if starts_with_ignore_case(clause, "expr=") {
            if clause.len() == 5 {
                return Err("missing condition".into());
            }
            crate::expr::parse(&clause[5..])?;
        } else {
            return Err("error in condition clause".into());
        }
    }
    check_log_format(format)?;
    cmd.store_raw();
    Ok(())
}

fn log_format(cmd: &mut Cmd, format: &str, _name: Option<&str>) -> SetResult {
    check_log_format(format)?;
    cmd.store_raw();
    Ok(())
}

/// mod_log_config's `parse_log_string`: each `%` directive may carry `!`, `<`, `>`, `,`,
/// status numbers and one `{argument}` before its letter, which mod_log_config or mod_logio
/// must have registered.
fn check_log_format(format: &str) -> SetResult {
    const LETTERS: &[u8] = b"aAbBCDefhHiIklLmnoOpPqrRsStTuUvVX";
    const CARETS: &[&[u8]] = &[b"^ti", b"^to", b"^FB"];
    let bytes = format.as_bytes();
    let mut i = 0;
    'items: while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        if bytes.get(i) == Some(&b'%') {
            i += 1;
            continue;
        }
        while i < bytes.len() {
            match bytes[i] {
                b'!' | b'<' | b'>' | b',' | b'0'..=b'9' => i += 1,
                b'{' => {
                    i = match bytes[i..].iter().position(|&b| b == b'}') {
                        Some(close) => i + close + 1,
                        None => bytes.len(),
                    };
                }
                letter => {
                    if CARETS.iter().any(|c| bytes[i..].starts_with(c)) {
                        i += 3;
                    } else if LETTERS.contains(&letter) {
                        i += 1;
                    } else {
                        let shown = format[i..].chars().next().unwrap_or_default();
                        return Err(format!("Unrecognized LogFormat directive %{shown}"));
                    }
                    continue 'items;
                }
            }
        }
        return Err("Ran off end of LogFormat parsing args to some directive".into());
    }
    Ok(())
}
