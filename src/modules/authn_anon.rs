//! mod_authn_anon, whole: the `anon` authentication provider (anonymous FTP-style access:
//! a guest user name and an e-mail address as the password), its five directives (table,
//! setters, typed per-directory configuration) and the check itself.

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::OR_AUTHCFG;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

use super::authn_file::Authn;
use crate::request::Request;

pub static MODULE: ModuleDef = ModuleDef {
    id: "authn_anon_module",
    source: "mod_authn_anon.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "Anonymous",
        Iterate(anonymous),
        OR_AUTHCFG,
        "a space-separated list of user IDs",
    )
    .implemented(),
    DirectiveDef::new(
        "Anonymous_MustGiveEmail",
        Flag(must_give_email),
        OR_AUTHCFG,
        "Limited to 'on' or 'off'",
    )
    .implemented(),
    DirectiveDef::new(
        "Anonymous_NoUserId",
        Flag(no_user_id),
        OR_AUTHCFG,
        "Limited to 'on' or 'off'",
    )
    .implemented(),
    DirectiveDef::new(
        "Anonymous_VerifyEmail",
        Flag(verify_email),
        OR_AUTHCFG,
        "Limited to 'on' or 'off'",
    )
    .implemented(),
    DirectiveDef::new(
        "Anonymous_LogEmail",
        Flag(log_email),
        OR_AUTHCFG,
        "Limited to 'on' or 'off'",
    )
    .implemented(),
];

/// Per-directory settings. Apache's module has no merge: a section that holds any of these
/// directives replaces what it inherits with its own settings over the defaults, and one
/// that holds none inherits everything. (A virtual host inherits the main server's too;
/// Apache gives it defaults.)
#[derive(Debug, Clone)]
pub struct Dir {
    /// A directive of this module was read here (every setter says so): what tells a section
    /// that set something apart from one that inherits.
    configured: bool,
    /// The guest user names (compared without regard to case).
    pub users: Vec<String>,
    /// `Anonymous *`: any user name will do.
    pub any_user: bool,
    pub no_user_id: bool,
    pub log_email: bool,
    pub verify_email: bool,
    pub must_give_email: bool,
}

impl Default for Dir {
    fn default() -> Dir {
        Dir {
            configured: false,
            users: Vec::new(),
            any_user: false,
            no_user_id: false,
            log_email: true,
            verify_email: false,
            must_give_email: true,
        }
    }
}

impl DirConfig for Dir {
    /// A section that set something is taken whole; one that set nothing changes nothing.
    fn merge(&self, child: &Dir) -> Dir {
        if child.configured {
            child.clone()
        } else {
            self.clone()
        }
    }
}

fn anonymous(cmd: &mut Cmd, user: &str) -> SetResult {
    if user.is_empty() {
        return Err("Anonymous string cannot be empty, use Anonymous_NoUserId".into());
    }
    let dir = cmd.dir_config::<Dir>();
    dir.configured = true;
    // Once `*` is there, later names add nothing.
    if !dir.any_user {
        if user == "*" {
            dir.any_user = true;
        } else {
            dir.users.push(user.to_string());
        }
    }
    Ok(())
}

fn must_give_email(cmd: &mut Cmd, on: bool) -> SetResult {
    let dir = cmd.dir_config::<Dir>();
    dir.configured = true;
    dir.must_give_email = on;
    Ok(())
}

fn no_user_id(cmd: &mut Cmd, on: bool) -> SetResult {
    let dir = cmd.dir_config::<Dir>();
    dir.configured = true;
    dir.no_user_id = on;
    Ok(())
}

fn verify_email(cmd: &mut Cmd, on: bool) -> SetResult {
    let dir = cmd.dir_config::<Dir>();
    dir.configured = true;
    dir.verify_email = on;
    Ok(())
}

fn log_email(cmd: &mut Cmd, on: bool) -> SetResult {
    let dir = cmd.dir_config::<Dir>();
    dir.configured = true;
    dir.log_email = on;
    Ok(())
}

/// The `anon` provider: a guest name (or none, with Anonymous_NoUserId) is let in when the
/// password says what the settings ask for: anything non-empty (MustGiveEmail), something
/// with an `@` and a `.` (VerifyEmail). A name that is not a guest's is not found here, so
/// the next provider may know it.
pub fn check_password(req: &Request, conf: &Dir, user: &str, password: &str) -> Authn {
    if conf.users.is_empty() && !conf.any_user {
        return Authn::UserNotFound;
    }
    let known = if user.is_empty() {
        conf.no_user_id
    } else {
        conf.any_user || conf.users.iter().any(|u| u.eq_ignore_ascii_case(user))
    };
    if !known {
        return Authn::UserNotFound;
    }
    let given = !conf.must_give_email || !password.is_empty();
    let looks_like_email = !conf.verify_email || (password.contains('@') && password.contains('.'));
    if !(given && looks_like_email) {
        return Authn::Denied;
    }
    let initial = !req.subrequest && req.redirects == 0 && req.redirected_from.is_none();
    if conf.log_email && initial {
        let text = format!("AH01672: Anonymous: Passwd <{password}> Accepted");
        req.log_error("authn_anon", "info", &text);
    }
    Authn::Granted
}

#[cfg(test)]
mod tests {
    use super::Dir;
    use crate::modules::DirRuntime;

    /// A `<Location>` section's settings (the directives are not allowed outside one).
    fn section(body: &str) -> DirRuntime {
        crate::modules::test_section(&format!("<Location /x>\n{body}</Location>\n"))
    }

    #[test]
    fn names_accumulate_until_a_star_and_defaults_hold_elsewhere() {
        let dir = section("Anonymous guest Visitor\nAnonymous * late\n");
        let anon = dir.module::<Dir>();
        assert_eq!(anon.users, ["guest", "Visitor"]);
        assert!(anon.any_user && anon.log_email && anon.must_give_email);
        assert!(!anon.no_user_id && !anon.verify_email);
    }

    #[test]
    fn a_section_with_any_setting_replaces_the_inherited_ones() {
        let outer = section("Anonymous guest\nAnonymous_VerifyEmail on\n");
        let inner = section("Anonymous_NoUserId on\n");
        let merged = outer.merge(&inner);
        let anon = merged.module::<Dir>();
        assert!(anon.users.is_empty() && anon.no_user_id && !anon.verify_email);
        let untouched = outer.merge(&section("AuthName x\n"));
        assert_eq!(untouched.module::<Dir>().users, ["guest"]);
    }
}
