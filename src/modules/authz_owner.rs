//! mod_authz_owner, whole: `Require file-owner` (the authenticated user must own the file
//! the request maps to) and the file's group name that the `file-group` providers of
//! mod_authz_groupfile and mod_authz_dbm check their groups against. No directives.

use std::os::unix::fs::MetadataExt;

use rhttpd_directives::registry::ModuleDef;

use super::authz::Status;
use crate::request::Request;

pub static MODULE: ModuleDef = ModuleDef {
    id: "authz_owner_module",
    source: "mod_authz_owner.c",
    builtin: false,
    has_dir_config: false,
    directives: &[],
};

/// Apache's failure line for both checks, after the system error behind it if any.
fn failed(req: &Request, id: &str, cause: Option<std::io::Error>, reason: &str) {
    let user = req.user.as_deref().unwrap_or("(null)");
    let text = format!(
        "{id}: Authorization of user {user} to access {} failed, reason: {reason}",
        req.uri
    );
    req.log_os_error("authz_owner", "error", cause.as_ref(), &text);
}

/// `Require file-owner`.
pub fn file_owner(req: &Request) -> Status {
    if req.user.is_none() {
        return Status::DeniedNoUser;
    }
    let Some(filename) = req.filename.as_ref() else {
        failed(req, "AH01633", None, "no filename available");
        return Status::Denied;
    };
    let meta = match std::fs::metadata(filename) {
        Ok(meta) => meta,
        Err(e) => {
            let reason = format!("could not stat file {}", filename.display());
            failed(req, "AH01634", Some(e), &reason);
            return Status::Denied;
        }
    };
    let Some(owner) = crate::sys::user_name_of(meta.uid()) else {
        failed(req, "AH01636", None, "could not get name of file owner");
        return Status::Denied;
    };
    if req.user.as_deref() != Some(owner.as_str()) {
        let reason = format!("file owner {owner} does not match.");
        failed(req, "AH01637", None, &reason);
        return Status::Denied;
    }
    Status::Granted
}

/// The name of the group owning the request's file (`authz_owner_get_file_group`), or none
/// with the reason logged.
pub fn file_group(req: &Request) -> Option<String> {
    let Some(filename) = req.filename.as_ref() else {
        failed(req, "AH01638", None, "no filename available");
        return None;
    };
    let meta = match std::fs::metadata(filename) {
        Ok(meta) => meta,
        Err(e) => {
            let reason = format!("could not stat file {}", filename.display());
            failed(req, "AH01639", Some(e), &reason);
            return None;
        }
    };
    let group = crate::sys::group_name_of(meta.gid());
    if group.is_none() {
        failed(req, "AH01641", None, "could not get name of file group");
    }
    group
}
