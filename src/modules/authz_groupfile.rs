//! mod_authz_groupfile, whole: AuthGroupFile (table, setter, typed per-directory
//! configuration and merge) and `Require group`.

use std::path::Path;

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::check_file_path;

use super::authz::Status;

pub static MODULE: ModuleDef = ModuleDef {
    id: "authz_groupfile_module",
    source: "mod_authz_groupfile.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "AuthGroupFile",
    Take1(auth_group_file),
    OR_AUTHCFG,
    "text file containing group names and member user IDs",
)
.implemented()];

fn auth_group_file(cmd: &mut Cmd, file: &str) -> SetResult {
    check_file_path(cmd, file)?;
    cmd.dir_config::<Dir>().group_file = Some(file.to_string());
    Ok(())
}

/// mod_authz_groupfile's per-directory configuration: the group file (ServerRoot-relative as
/// written).
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub group_file: Option<String>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            group_file: child.group_file.clone().or_else(|| self.group_file.clone()),
        }
    }
}

/// The groups of the file at `path` (`group: member member ...` lines) that `user` is in.
fn groups_for_user(path: &Path, user: &str) -> std::io::Result<Vec<String>> {
    let text = String::from_utf8_lossy(&std::fs::read(path)?).into_owned();
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let (group, members) = line.split_once(':').unwrap_or((line, ""));
            rhttpd_parser::split_words(members)
                .iter()
                .any(|m| m == user)
                .then(|| group.trim_end().to_string())
        })
        .collect())
}

/// Which check a group-file provider makes.
pub enum Check<'a> {
    /// `Require group g1 g2 ...`.
    Groups(&'a [String]),
    /// `Require file-group`: the group owning the request's file.
    FileGroup(&'a crate::request::Request<'a>),
}

/// `Require group` or `Require file-group` for `user`, reading the group file at `path`.
/// `log` takes (level, message).
pub fn provider(
    check: Check,
    user: Option<&str>,
    path: Option<&Path>,
    uri: &str,
    log: &dyn Fn(&str, &str),
) -> Status {
    let file_group = matches!(check, Check::FileGroup(_));
    let Some(user) = user else {
        return Status::DeniedNoUser;
    };
    let Some(path) = path else {
        let id = if file_group { "AH01668" } else { "AH01664" };
        log(
            "error",
            &format!("{id}: No group file was specified in the configuration"),
        );
        return Status::Denied;
    };
    let groups = match groups_for_user(path, user) {
        Ok(groups) => groups,
        Err(e) => {
            let id = if file_group { "AH01669" } else { "AH01665" };
            log(
                "error",
                &format!(
                    "({}){}: {id}: Could not open group file: {}",
                    e.raw_os_error().unwrap_or(0),
                    crate::config::read::strerror(&e),
                    path.display()
                ),
            );
            return Status::Denied;
        }
    };
    if groups.is_empty() {
        let (id, level) = if file_group {
            ("AH01670", "error")
        } else {
            ("AH01666", "info")
        };
        log(level, &format!(
            "{id}: Authorization of user {user} to access {uri} failed, reason: user doesn't appear in group file ({}).",
            path.display()
        ));
        return Status::Denied;
    }
    match check {
        Check::Groups(wanted) => {
            if wanted.iter().any(|w| groups.contains(w)) {
                Status::Granted
            } else {
                Status::Denied
            }
        }
        Check::FileGroup(req) => {
            let Some(owner) = owning_group(req) else {
                return Status::Denied;
            };
            if groups.contains(&owner) {
                return Status::Granted;
            }
            log("debug", &format!(
                "AH01671: Authorization of user {user} to access {uri} failed, reason: user is not part of the 'require'ed file group."
            ));
            Status::Denied
        }
    }
}

/// The group owning the request's file, for the `file-group` providers: mod_authz_owner
/// tells it. Without that module Apache's child crashes on such a check; here it fails,
/// saying why.
pub fn owning_group(req: &crate::request::Request) -> Option<String> {
    if !req.rt.module_loaded("authz_owner_module") {
        let text = "Require file-group needs mod_authz_owner, which is not loaded";
        req.log_error("authz_core", "error", text);
        return None;
    }
    super::authz_owner::file_group(req)
}
