//! mod_authz_groupfile: AuthGroupFile and `Require group`.

use std::path::Path;

use super::authz::Status;

#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub group_file: Option<String>,
}

impl Dir {
    pub fn apply(&mut self, directive: &str, words: &[String]) -> bool {
        if directive != "AuthGroupFile" {
            return false;
        }
        self.group_file = words.first().cloned();
        true
    }

    pub fn merge(&self, child: &Dir) -> Dir {
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
