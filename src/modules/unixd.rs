//! mod_unixd at run time: a server started as root gives each child the configured User and
//! Group before it serves (the parent keeps root to bind, signal and reap).

use std::path::{Path, PathBuf};

use rhttpd_directives::model::RunAs;

use crate::sys;

/// An id as User and Group take it: a name, or `#number` (the default `#-1` is the id -1).
fn resolve(text: &str, lookup: fn(&str) -> Option<u32>) -> Option<u32> {
    match text.strip_prefix('#') {
        Some(number) => number.trim().parse::<i64>().ok().map(|n| n as u32),
        None => lookup(text),
    }
}

/// Switches a root-started child to User and Group; Apache's message when it cannot (the
/// child then ends with a fatal status and the server stops, as Apache's does).
pub fn setup_child(
    run_as: &RunAs,
    chroot: Option<&Path>,
    coredump: Option<&Path>,
) -> Result<(), String> {
    if !sys::is_root() {
        if chroot.is_some() {
            return Err("AH02158: Cannot chroot when not started as root".into());
        }
        return Ok(());
    }
    let user = run_as.user.as_deref().unwrap_or("#-1");
    let group = run_as.group.as_deref().unwrap_or("#-1");
    // Names were resolved when the configuration was read (AH00543/AH00544 otherwise).
    let uid = resolve(user, sys::uid_of).unwrap_or(u32::MAX);
    let gid = resolve(group, sys::gid_of).unwrap_or(u32::MAX);
    let describe = |step: &str, err: &std::io::Error, name: &str| {
        let code = err.raw_os_error().unwrap_or(0);
        let text = crate::config::read::strerror(err);
        let dir = chroot.map(|p| p.display().to_string()).unwrap_or_default();
        match step {
            "setgid" => format!("({code}){text}: AH02156: setgid: unable to set group id to Group {gid}"),
            "initgroups" => format!("({code}){text}: AH02157: initgroups: unable to set groups for User {name} and Group {gid}"),
            "chdir" => format!("({code}){text}: AH02159: Can't chdir to {dir}"),
            "chroot" => format!("({code}){text}: AH02160: Can't chroot to {dir}"),
            "chdir /" => format!("({code}){text}: AH02161: Can't chdir to new root"),
            _ => format!("({code}){text}: AH02162: setuid: unable to change to uid: {uid}"),
        }
    };
    // Apache's group step reports failure as "declined", which its drop_privileges hook
    // passes over: the alert is logged and the child goes on serving as it is (as root, with
    // no User set at all). Only ChrootDir and the user switch itself are fatal.
    let name = if user.starts_with('#') {
        match sys::user_name_of(uid) {
            Some(name) => name,
            None => {
                let text = format!("AH02155: getpwuid: couldn't determine user name from uid {uid}, you probably need to modify the User directive");
                crate::log::error("unixd", "alert", &text);
                return Ok(());
            }
        }
    } else {
        user.to_string()
    };
    if let Err((step, err)) = sys::set_groups(&name, gid) {
        crate::log::error("unixd", "alert", &describe(step, &err, &name));
        return Ok(());
    }
    sys::change_root_and_user(uid, chroot).map_err(|(step, err)| describe(step, &err, &name))?;
    if let Some(coredump) = coredump {
        sys::allow_core_dumps_in(coredump).map_err(|err| {
            let code = err.raw_os_error().unwrap_or(0);
            let text = crate::config::read::strerror(&err);
            format!("({code}){text}: AH02163: set dumpable failed - this child will not coredump after software errors")
        })?;
    }
    Ok(())
}

/// ChrootDir and CoreDumpDirectory of a configuration (ServerRoot-relative as written).
pub fn child_dirs(config: &rhttpd_directives::model::Config) -> (Option<PathBuf>, Option<PathBuf>) {
    let setting = |name: &str| {
        config
            .main_server()
            .settings
            .iter()
            .rev()
            .find(|s| s.directive == name)
            .and_then(|s| s.words().into_iter().next())
            .map(|dir| config.read.server_root_relative(&dir))
    };
    (setting("ChrootDir"), setting("CoreDumpDirectory"))
}
