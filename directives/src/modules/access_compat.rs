//! mod_access_compat: Order, Allow, Deny and Satisfy from Apache 2.2.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::util::subnet::{Subnet, SubnetError};

pub static MODULE: ModuleDef = ModuleDef {
    id: "access_compat_module",
    source: "mod_access_compat.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "order",
        Take1(order),
        OR_LIMIT,
        "'allow,deny', 'deny,allow', or 'mutual-failure'",
    )
    .implemented(),
    DirectiveDef::new(
        "allow",
        Iterate2(allow_deny),
        OR_LIMIT,
        "'from' followed by hostnames or IP-address wildcards",
    )
    .implemented(),
    DirectiveDef::new(
        "deny",
        Iterate2(allow_deny),
        OR_LIMIT,
        "'from' followed by hostnames or IP-address wildcards",
    )
    .implemented(),
    DirectiveDef::new(
        "Satisfy",
        Take1(satisfy),
        OR_AUTHCFG,
        "access policy if both allow and require used ('all' or 'any')",
    )
    .implemented(),
];

fn order(cmd: &mut Cmd, arg: &str) -> SetResult {
    if !["allow,deny", "deny,allow", "mutual-failure"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(arg))
    {
        return Err("unknown order".into());
    }
    cmd.store_raw();
    Ok(())
}

fn satisfy(cmd: &mut Cmd, arg: &str) -> SetResult {
    if !arg.eq_ignore_ascii_case("all") && !arg.eq_ignore_ascii_case("any") {
        return Err("Satisfy either 'any' or 'all'.".into());
    }
    cmd.store_raw();
    Ok(())
}

/// Allow and Deny: `from`, then per word `env=[!]var`, `all`, an address or network (with
/// `/bits` or `/netmask`), or a host name.
fn allow_deny(cmd: &mut Cmd, from: &str, host: &str) -> SetResult {
    if !from.eq_ignore_ascii_case("from") {
        return Err("allow and deny must be followed by 'from'".into());
    }
    let lower = host.to_ascii_lowercase();
    if lower.starts_with("env=") || lower == "all" {
    } else if let Some((ip, mask)) = host.split_once('/') {
        match Subnet::new(ip, Some(mask)) {
            Err(SubnetError::NotIp) => return Err("An IP address was expected".into()),
            Err(err) => return Err(err.message().into()),
            Ok(_) => {}
        }
    } else {
        match Subnet::new(host, None) {
            Err(SubnetError::NotIp) if host.contains('#') => {
                return Err("No comments are allowed here".into())
            }
            Err(SubnetError::NotIp) | Ok(_) => {}
            Err(err) => return Err(err.message().into()),
        }
    }
    cmd.store_raw();
    Ok(())
}
