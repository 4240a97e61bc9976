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

/// `Require group g1 g2 ...` for `user`, reading the group file at `path` (`group: member
/// member ...` lines). `log` takes (level, message).
pub fn provider(
    args: &[String],
    user: Option<&str>,
    path: Option<&Path>,
    uri: &str,
    log: &dyn Fn(&str, &str),
) -> Status {
    let Some(user) = user else {
        return Status::DeniedNoUser;
    };
    let Some(path) = path else {
        log(
            "error",
            "AH01664: No group file was specified in the configuration",
        );
        return Status::Denied;
    };
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            log(
                "error",
                &format!(
                    "({}){}: AH01665: Could not open group file: {}",
                    e.raw_os_error().unwrap_or(0),
                    crate::config::read::strerror(&e),
                    path.display()
                ),
            );
            return Status::Denied;
        }
    };
    let groups: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let (group, members) = line.split_once(':').unwrap_or((line, ""));
            rhttpd_parser::split_words(members)
                .iter()
                .any(|m| m == user)
                .then(|| group.trim_end())
        })
        .collect();
    if groups.is_empty() {
        log("info", &format!(
            "AH01666: Authorization of user {user} to access {uri} failed, reason: user doesn't appear in group file ({}).",
            path.display()
        ));
        return Status::Denied;
    }
    if args.iter().any(|wanted| groups.contains(&wanted.as_str())) {
        Status::Granted
    } else {
        Status::Denied
    }
}
