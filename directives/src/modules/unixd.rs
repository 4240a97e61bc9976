//! mod_unixd: User, Group, ChrootDir and Suexec for the children of a root-started server.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "unixd_module",
    source: "mod_unixd.c",
    builtin: true,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "User",
        Take1(user),
        RSRC_CONF,
        "Effective user id for this server",
    )
    .forbid(GLOBAL_ONLY),
    DirectiveDef::new(
        "Group",
        Take1(group),
        RSRC_CONF,
        "Effective group id for this server",
    )
    .forbid(GLOBAL_ONLY),
    DirectiveDef::new(
        "ChrootDir",
        Take1(raw1),
        RSRC_CONF,
        "The directory to chroot(2) into",
    )
    .forbid(GLOBAL_ONLY),
    DirectiveDef::new(
        "Suexec",
        Flag(raw_flag),
        RSRC_CONF,
        "Enable or disable suEXEC support",
    )
    .forbid(GLOBAL_ONLY),
];

fn user(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.cfg.run_as.user = Some(arg.to_string());
    Ok(())
}

fn group(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.cfg.run_as.group = Some(arg.to_string());
    Ok(())
}
