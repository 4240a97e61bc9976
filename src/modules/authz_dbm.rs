//! mod_authz_dbm, whole: `Require dbm-group` and `Require dbm-file-group` against a DBM group
//! file (a user's groups are the second colon-separated field of its value, comma-separated,
//! as htdbm and the `user:realm` keys keep them), with AuthDBMGroupFile and AuthzDBMType
//! (table, setters, typed per-directory configuration).

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::OR_AUTHCFG;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::check_file_path;

use super::authn_dbm::Logged;
use super::authz::Status;
use crate::request::auth::auth_name;
use crate::request::Request;

pub static MODULE: ModuleDef = ModuleDef {
    id: "authz_dbm_module",
    source: "mod_authz_dbm.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "AuthDBMGroupFile",
        Take1(group_file),
        OR_AUTHCFG,
        "database file containing group names and member user IDs",
    )
    .implemented(),
    DirectiveDef::new(
        "AuthzDBMType",
        Take1(dbm_type),
        OR_AUTHCFG,
        "what type of DBM file the group file is",
    )
    .implemented(),
];

/// Per-directory settings. Apache's module has no merge: a section that holds either
/// directive replaces what it inherits.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    configured: bool,
    pub group_file: Option<String>,
    pub kind: Option<String>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        if child.configured {
            child.clone()
        } else {
            self.clone()
        }
    }
}

fn group_file(cmd: &mut Cmd, file: &str) -> SetResult {
    check_file_path(cmd, file)?;
    let dir = cmd.dir_config::<Dir>();
    dir.configured = true;
    dir.group_file = Some(file.to_string());
    Ok(())
}

fn dbm_type(cmd: &mut Cmd, kind: &str) -> SetResult {
    super::authn_dbm::supported_type(kind)?;
    let dir = cmd.dir_config::<Dir>();
    dir.configured = true;
    dir.kind = Some(kind.to_string());
    Ok(())
}

/// The user's groups (`user:realm` first, then `user`); `Err` when the file could not be
/// opened (logged).
fn groups_of(req: &Request, conf: &Dir, user: &str) -> Result<Option<String>, Logged> {
    let realm = auth_name(req, &req.dir).unwrap_or_else(|| "(null)".into());
    let (file, kind) = (conf.group_file.as_deref(), conf.kind.as_deref());
    let lookup = |key: &str| {
        super::authn_dbm::fetch(req, "authz_dbm", file, kind, key, |kind, file| {
            format!("AH01799: could not open dbm (type {kind}) group access file: {file}")
        })
    };
    let value = match lookup(&format!("{user}:{realm}")) {
        Ok(None) => lookup(user),
        found => found,
    };
    match value {
        // The second field when there is a colon, else the whole value.
        Ok(value) => Ok(value.map(|v| match v.split_once(':') {
            Some((_, rest)) => rest.split(':').next().unwrap_or("").to_string(),
            None => v,
        })),
        Err(Logged) => Err(Logged),
    }
}

/// `Require dbm-group g1 g2 ...`.
pub fn dbm_group(req: &Request, args: &[String]) -> Status {
    let Some(user) = req.user.as_deref() else {
        return Status::DeniedNoUser;
    };
    let dir = std::sync::Arc::clone(&req.dir);
    let conf = dir.module::<Dir>();
    if conf.group_file.is_none() {
        let text = "AH01798: No group file was specified in the configuration";
        req.log_error("authz_dbm", "error", text);
        return Status::Denied;
    }
    let groups = match groups_of(req, &conf, user) {
        Ok(Some(groups)) => groups,
        Ok(None) => {
            not_in_file(req, "AH01800", user, &conf);
            return Status::Denied;
        }
        Err(Logged) => return Status::Error,
    };
    if args
        .iter()
        .any(|wanted| groups.split(',').any(|g| g == wanted))
    {
        return Status::Granted;
    }
    not_required(req, "AH01801", user);
    Status::Denied
}

/// `Require dbm-file-group`: one of the user's groups owns the request's file.
pub fn dbm_file_group(req: &Request) -> Status {
    let Some(user) = req.user.as_deref() else {
        return Status::DeniedNoUser;
    };
    let dir = std::sync::Arc::clone(&req.dir);
    let conf = dir.module::<Dir>();
    if conf.group_file.is_none() {
        let text = "AH01802: No group file was specified in the configuration";
        req.log_error("authz_dbm", "error", text);
        return Status::Denied;
    }
    let groups = match groups_of(req, &conf, user) {
        Ok(Some(groups)) => groups,
        Ok(None) => {
            not_in_file(req, "AH01804", user, &conf);
            return Status::Denied;
        }
        Err(Logged) => return Status::Denied,
    };
    if let Some(owner) = super::authz_groupfile::owning_group(req) {
        if groups.split(',').any(|g| g == owner) {
            return Status::Granted;
        }
    }
    not_required(req, "AH01805", user);
    Status::Denied
}

fn not_in_file(req: &Request, id: &str, user: &str, conf: &Dir) {
    let text = format!(
        "{id}: Authorization of user {user} to access {} failed, reason: user doesn't appear in DBM group file ({}).",
        req.uri,
        conf.group_file.as_deref().unwrap_or("")
    );
    req.log_error("authz_dbm", "error", &text);
}

fn not_required(req: &Request, id: &str, user: &str) {
    let text = format!(
        "{id}: Authorization of user {user} to access {} failed, reason: user is not part of the 'require'ed group(s).",
        req.uri
    );
    req.log_error("authz_dbm", "error", &text);
}
