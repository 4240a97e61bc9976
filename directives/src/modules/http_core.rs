//! http_core: HTTP/1.1 protocol switches (KeepAlive and its limits).
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "http_module",
    source: "http_core.c",
    builtin: true,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "KeepAliveTimeout",
        Take1(keep_alive_timeout),
        RSRC_CONF,
        "Keep-Alive timeout duration (sec)",
    )
    .forbid(NOT_IN_DIR_CONTEXT)
    .implemented(),
    DirectiveDef::new(
        "MaxKeepAliveRequests",
        Take1(max_keep_alive_requests),
        RSRC_CONF,
        "Maximum number of Keep-Alive requests per connection, or 0 for infinite",
    )
    .forbid(NOT_IN_DIR_CONTEXT)
    .implemented(),
    DirectiveDef::new(
        "KeepAlive",
        Flag(keep_alive),
        RSRC_CONF,
        "Whether persistent connections should be On or Off",
    )
    .forbid(NOT_IN_DIR_CONTEXT)
    .implemented(),
];

fn keep_alive(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.server().keep_alive = Some(on);
    Ok(())
}

fn keep_alive_timeout(cmd: &mut Cmd, arg: &str) -> SetResult {
    let ms = timeout_ms(arg, "s").ok_or("KeepAliveTimeout has wrong format")?;
    cmd.server().keep_alive_timeout_ms = Some(ms);
    Ok(())
}

fn max_keep_alive_requests(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.server().max_keep_alive_requests = Some(atoi(arg).max(0) as u64);
    Ok(())
}
