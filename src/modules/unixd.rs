//! mod_unixd, whole: User, Group, ChrootDir and Suexec (table and setters; User and Group
//! go to the configuration's `run_as`, ChrootDir and Suexec to a typed per-server
//! configuration), and at run time a server started as root gives each child the configured
//! User and Group before it serves (the parent keeps root to bind, signal and reap).

use std::path::{Path, PathBuf};

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::{DirConfig, RunAs};
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

use crate::sys;

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
    .forbid(GLOBAL_ONLY)
    .implemented(),
    DirectiveDef::new(
        "Group",
        Take1(group),
        RSRC_CONF,
        "Effective group id for this server",
    )
    .forbid(GLOBAL_ONLY)
    .implemented(),
    DirectiveDef::new(
        "ChrootDir",
        Take1(chroot_dir),
        RSRC_CONF,
        "The directory to chroot(2) into",
    )
    .forbid(GLOBAL_ONLY)
    .implemented(),
    DirectiveDef::new(
        "Suexec",
        Flag(suexec),
        RSRC_CONF,
        "Enable or disable suEXEC support",
    )
    .forbid(GLOBAL_ONLY)
    .inert("switches CGI programs to suEXEC; rhttpd runs its CGI scripts as the server's User, never through suexec"),
];

/// Apache's refusal of a root User (its error log shows the tabs and newlines escaped).
const ROOT_USER_REFUSED: &str = "Error:\tApache has not been designed to serve pages while\n\trunning as root.  There are known race conditions that\n\twill allow any local user to read any file on the system.\n\tIf you still desire to serve pages as root then\n\tadd -DBIG_SECURITY_HOLE to the CFLAGS env variable\n\tand then rebuild the server.\n\tIt is strongly suggested that you instead modify the User\n\tdirective in your httpd.conf file to list a non-root\n\tuser.\n";

fn user(cmd: &mut Cmd, arg: &str) -> SetResult {
    // uid 0 by name or number (the name is checked without the user database at this
    // point: `root` is uid 0 everywhere).
    let numeric_root = arg
        .strip_prefix('#')
        .is_some_and(|n| n.trim().parse::<i64>() == Ok(0));
    if arg == "root" || numeric_root {
        return Err(ROOT_USER_REFUSED.to_string());
    }
    cmd.cfg.run_as.user = Some(arg.to_string());
    Ok(())
}

fn group(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.cfg.run_as.group = Some(arg.to_string());
    Ok(())
}

/// ChrootDir: an existing directory, relative to the working directory (not ServerRoot).
fn chroot_dir(cmd: &mut Cmd, arg: &str) -> SetResult {
    if !Path::new(arg).is_dir() {
        return Err("ChrootDir must be a valid directory".into());
    }
    cmd.server_config::<ServerConf>().chroot_dir = Some(arg.to_string());
    Ok(())
}

/// Where Debian's build looks for the suEXEC wrapper (SUEXEC_BIN).
const SUEXEC_BIN: &str = "/usr/lib/apache2/suexec";

/// Suexec On needs a usable wrapper (setuid root, readable and executable), and fails after
/// an earlier `Suexec Off`.
fn suexec(cmd: &mut Cmd, on: bool) -> SetResult {
    if on {
        let reason = if cmd.server_config::<ServerConf>().suexec_turned_off {
            Some("Suexec directive is Off".to_string())
        } else {
            suexec_unavailable()
        };
        if let Some(reason) = reason {
            return Err(format!("suEXEC isn't supported: {reason}"));
        }
    } else {
        cmd.server_config::<ServerConf>().suexec_turned_off = true;
    }
    Ok(())
}

/// mod_unixd's pre-config check of the wrapper; `None` when suEXEC can be used.
fn suexec_unavailable() -> Option<String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(meta) = std::fs::metadata(SUEXEC_BIN) else {
        return Some(format!("Missing suexec binary {SUEXEC_BIN}"));
    };
    let mode = meta.permissions().mode();
    // access(R_OK|X_OK) as root, which the server runs as when it matters.
    let usable = mode & 0o4000 != 0 && meta.uid() == 0 && mode & 0o111 != 0;
    (!usable).then(|| format!("Invalid owner or file mode for {SUEXEC_BIN}"))
}

/// Per-server (the main server's: both directives are global only).
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    /// ChrootDir as written (relative to the working directory when checked; ServerRoot
    /// relative when used, as before).
    pub chroot_dir: Option<String>,
    /// A `Suexec Off` has been read: a later `Suexec On` is refused.
    pub suexec_turned_off: bool,
}

impl DirConfig for ServerConf {
    /// Global-only settings: a virtual host has none of its own.
    fn merge(&self, _vhost: &ServerConf) -> ServerConf {
        self.clone()
    }
}

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
        let dir = chroot
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
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
    let main = config.main_server();
    let chroot = main
        .modules
        .get::<ServerConf>()
        .and_then(|conf| conf.chroot_dir.as_deref())
        .map(|dir| config.read.server_root_relative(dir));
    let coredump = main
        .modules
        .get::<rhttpd_directives::core_config::ServerConf>()
        .and_then(|core| core.core_dump_directory.as_deref())
        .map(|dir| config.read.server_root_relative(dir));
    (chroot, coredump)
}
