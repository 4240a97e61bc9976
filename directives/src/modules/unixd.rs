//! mod_unixd: User, Group, ChrootDir and Suexec for the children of a root-started server.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use crate::set::*;

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
    .inert("switches CGI programs to suEXEC; no module in the set runs any"),
];

/// Apache's refusal of a root User (its error log shows the tabs and newlines escaped).
const ROOT_USER_REFUSED: &str = "Error:\tApache has not been designed to serve pages while\n\trunning as root.  There are known race conditions that\n\twill allow any local user to read any file on the system.\n\tIf you still desire to serve pages as root then\n\tadd -DBIG_SECURITY_HOLE to the CFLAGS env variable\n\tand then rebuild the server.\n\tIt is strongly suggested that you instead modify the User\n\tdirective in your httpd.conf file to list a non-root\n\tuser.\n";

fn user(cmd: &mut Cmd, arg: &str) -> SetResult {
    // uid 0 by name or number (the name is checked without the user database, which this
    // crate does not reach: `root` is uid 0 everywhere).
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
    if !std::path::Path::new(arg).is_dir() {
        return Err("ChrootDir must be a valid directory".into());
    }
    cmd.store_raw();
    Ok(())
}

/// Where Debian's build looks for the suEXEC wrapper (SUEXEC_BIN).
const SUEXEC_BIN: &str = "/usr/lib/apache2/suexec";

/// Suexec On needs a usable wrapper (setuid root, readable and executable), and fails after
/// an earlier `Suexec Off`.
fn suexec(cmd: &mut Cmd, on: bool) -> SetResult {
    if on {
        let turned_off = earlier_lines(cmd, &["Suexec"])
            .iter()
            .any(|(_, args)| next_word(&mut &args[..]).eq_ignore_ascii_case("off"));
        let reason = if turned_off {
            Some("Suexec directive is Off".to_string())
        } else {
            suexec_unavailable()
        };
        if let Some(reason) = reason {
            return Err(format!("suEXEC isn't supported: {reason}"));
        }
    }
    cmd.store_raw();
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
