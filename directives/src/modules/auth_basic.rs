//! mod_auth_basic: HTTP Basic authentication.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "auth_basic_module",
    source: "mod_auth_basic.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new("AuthBasicProvider", Iterate(auth_basic_provider), OR_AUTHCFG, "specify the auth providers for a directory or location").implemented(),
    DirectiveDef::new("AuthBasicAuthoritative", Flag(raw_flag), OR_AUTHCFG, "Set to 'Off' to allow access control to be passed along to lower modules if the UserID is not known to this module").implemented(),
    DirectiveDef::new("AuthBasicFake", Take12(basic_fake), OR_AUTHCFG, "Fake basic authentication using the given expressions for username and password, 'off' to disable. Password defaults to 'password' if missing.").implemented(),
    DirectiveDef::new("AuthBasicUseDigestAlgorithm", Take1(use_digest_algorithm), OR_AUTHCFG, "Set to 'MD5' to use the auth provider's authentication check for digest auth, using a hash of 'user:realm:pass'").implemented(),
];

/// AuthBasicProvider: each name must be a registered authn provider (all of which support
/// Basic authentication in rhttpd's module set).
fn auth_basic_provider(cmd: &mut Cmd, name: &str) -> SetResult {
    if !super::authn_core::authn_provider_known(cmd, name) {
        return Err(format!("Unknown Authn provider: {name}"));
    }
    cmd.store_raw();
    Ok(())
}

fn use_digest_algorithm(cmd: &mut Cmd, alg: &str) -> SetResult {
    if !alg.eq_ignore_ascii_case("Off") && !alg.eq_ignore_ascii_case("MD5") {
        return Err(format!(
            "Invalid algorithm in AuthBasicUseDigestAlgorithm: {alg}"
        ));
    }
    cmd.store_raw();
    Ok(())
}

/// AuthBasicFake `off` or user and password string expressions (the password defaults to
/// "password").
fn basic_fake(cmd: &mut Cmd, user: &str, pass: Option<&str>) -> SetResult {
    if !user.eq_ignore_ascii_case("off") {
        crate::expr::parse_string(user)
            .map_err(|err| format!("Could not parse fake username expression '{user}': {err}"))?;
        crate::expr::parse_string(pass.unwrap_or("password")).map_err(|err| {
            format!("Could not parse fake password expression associated to user '{user}': {err}")
        })?;
    }
    cmd.store_raw();
    Ok(())
}
