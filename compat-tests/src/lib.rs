//! The differential harness: run Debian's `apache2` and `rhttpd` on the same input and compare
//! what an administrator sees (exit status, the file and line an error names, the reports).
//!
//! Every test here needs Debian's apache2 (`.ci/run` installs it); without it they fail loudly
//! rather than pass vacuously.

pub mod backend;
pub mod http;
pub mod php_fpm;
pub mod tls;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian installs apache2's loadable modules (the paths LoadModule lines use).
pub const DEBIAN_MODULES: &str = "/usr/lib/apache2/modules";

/// The loadable modules of rhttpd's set, as Debian names their `.so` files (`mod_NAME.so`).
pub const LOADABLE_SET: &[&str] = &[
    "access_compat",
    "actions",
    "alias",
    "auth_basic",
    "auth_digest",
    "authn_anon",
    "authn_core",
    "authn_dbm",
    "authn_file",
    "authz_core",
    "authz_dbm",
    "authz_groupfile",
    "authz_host",
    "authz_owner",
    "authz_user",
    "autoindex",
    "cgid",
    "data",
    "dav",
    "dav_fs",
    "dav_lock",
    "deflate",
    "dir",
    "env",
    "expires",
    "ext_filter",
    "filter",
    "headers",
    "include",
    "info",
    "lbmethod_bybusyness",
    "lbmethod_byrequests",
    "lbmethod_bytraffic",
    "log_forensic",
    "macro",
    "mime",
    "mime_magic",
    "negotiation",
    "proxy",
    "proxy_balancer",
    "proxy_http",
    "proxy_fcgi",
    "proxy_wstunnel",
    "reflector",
    "remoteip",
    "reqtimeout",
    "rewrite",
    "setenvif",
    "slotmem_shm",
    "socache_shmcb",
    "speling",
    "ssl",
    "status",
    "substitute",
    "unique_id",
    "userdir",
    "usertrack",
    "vhost_alias",
];

/// Modules compiled into Debian's apache2 (LoadModule lines for them are dropped for both servers).
pub const DEBIAN_STATIC: &[&str] = &["unixd", "log_config", "logio", "version", "watchdog", "so"];

/// What one run printed and returned.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The innermost `Syntax error on line N of FILE` the output names, if any.
    pub fn error_location(&self) -> Option<(String, u32)> {
        let re = regex::Regex::new(r"Syntax error on line (\d+) of ([^:]+):").unwrap();
        re.captures_iter(&self.stderr)
            .last()
            .map(|c| (c[2].to_string(), c[1].parse().unwrap_or(0)))
    }

    /// The error text after the last location prefix, with program names removed.
    pub fn error_message(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !is_noise(l)).collect();
        let text = lines.join("\n");
        let text = match text.rfind("Syntax error on line ") {
            Some(at) => {
                let tail = &text[at..];
                match tail.find(":") {
                    Some(colon) => tail[colon + 1..].trim().to_string(),
                    None => tail.to_string(),
                }
            }
            None => text,
        };
        text.replace("apache2: ", "PROGRAM: ")
            .replace("rhttpd: ", "PROGRAM: ")
    }
}

/// Lines both servers print that say nothing about the verdict (warnings, Syntax OK).
pub fn is_noise(line: &str) -> bool {
    line.contains("Syntax OK")
        || line.contains("AH00558")
        || line.contains("AH01574")
        || line.contains("AH00111")
        || line.contains("AH00112")
        || line.contains("AH00548")
        || line.contains("AH00117")
        || line.trim().is_empty()
}

/// Stops a server the harness started, by its pid: SIGTERM first, SIGKILL if it has not gone
/// within two seconds. Then the socket mod_cgid's daemon left is removed: apache2 names it by
/// the starting process's pid, does not remove it when a `-X` server stops, and does not remove
/// a stale one before binding, so a later apache2 given the same pid would fail to start its
/// CGI daemon (AH01243). The pid is still the child's (unreaped) when the file goes.
pub fn stop_child(child: &mut std::process::Child) {
    if matches!(child.try_wait(), Ok(None)) {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    let _ = child.kill();
    let _ = std::fs::remove_file(format!("/var/run/apache2/cgisock.{}", child.id()));
    let _ = child.wait();
}

/// Panics unless Debian's apache2 is installed: these tests must not pass without their reference.
pub fn require_apache2() {
    let found = Command::new("apache2")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "Debian's apache2 is not installed; run .ci/run (apt-get install apache2) first"
    );
}

/// The rhttpd binary `cargo test --workspace` (or `cargo build`) built next to this program.
pub fn rhttpd_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("RHTTPD_BIN") {
        return PathBuf::from(path);
    }
    // A test runs from target/<profile>/deps, a differ's binary from target/<profile>.
    let exe = std::env::current_exe().expect("current test binary");
    let bin = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("rhttpd"))
        .find(|bin| bin.exists())
        .unwrap_or_else(|| exe.with_file_name("rhttpd"));
    assert!(
        bin.exists(),
        "{} not built; run cargo build (or cargo test --workspace) first",
        bin.display()
    );
    bin
}

fn run(program: &Path, args: &[String], env: &[(String, String)]) -> Outcome {
    let output = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    Outcome {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `apache2 ARGS` with extra environment.
pub fn apache2(args: &[String], env: &[(String, String)]) -> Outcome {
    run(Path::new("apache2"), args, env)
}

/// `rhttpd ARGS` with extra environment.
pub fn rhttpd(args: &[String], env: &[(String, String)]) -> Outcome {
    run(&rhttpd_bin(), args, env)
}

/// The `LoadModule` block that switches on rhttpd's module set (and the MPM) in apache2 too.
pub fn module_set_lines(mpm: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(mpm) = mpm {
        out.push_str(&format!(
            "LoadModule mpm_{mpm}_module {DEBIAN_MODULES}/mod_mpm_{mpm}.so\n"
        ));
    }
    for module in LOADABLE_SET {
        out.push_str(&format!(
            "LoadModule {module}_module {DEBIAN_MODULES}/mod_{module}.so\n"
        ));
    }
    out
}

/// Modules of rhttpd's set that Debian's apache2 is built without (its unit is Type=forking):
/// their LoadModule lines are commented out, as the corpus's validate.py does.
pub const NOT_BUILT_BY_DEBIAN: &[&str] = &["systemd"];

/// Comments out LoadModule lines for Debian's built-in modules, which Debian's apache2 rejects,
/// for the modules Debian does not build, and with `outside_too` also those for modules outside
/// rhttpd's set.
pub fn drop_loadmodules(text: &str, outside_too: bool) -> String {
    text.lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let module = (words.len() >= 2 && words[0].eq_ignore_ascii_case("LoadModule"))
                .then(|| words[1].strip_suffix("_module").unwrap_or(words[1]));
            let drop = module.is_some_and(|m| {
                DEBIAN_STATIC.contains(&m)
                    || NOT_BUILT_BY_DEBIAN.contains(&m)
                    || (outside_too && !LOADABLE_SET.contains(&m) && !m.starts_with("mpm_"))
            });
            if drop {
                format!("#[compat] {line}")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The Debian `envvars` values with run directories under `base`.
pub fn debian_env(base: &Path) -> Vec<(String, String)> {
    let b = base.display();
    vec![
        ("APACHE_RUN_USER".into(), "www-data".into()),
        ("APACHE_RUN_GROUP".into(), "www-data".into()),
        ("APACHE_PID_FILE".into(), format!("{b}/run/apache2.pid")),
        ("APACHE_RUN_DIR".into(), format!("{b}/run")),
        ("APACHE_LOCK_DIR".into(), format!("{b}/lock")),
        ("APACHE_LOG_DIR".into(), format!("{b}/log")),
    ]
}

/// Copies a directory tree (symlinks kept as links).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            let link = std::fs::read_link(entry.path()).unwrap();
            std::os::unix::fs::symlink(link, &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The shared corpus, read in place (`../shared/corpus` from the workspace root).
pub fn corpus_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("../shared/corpus/configs");
    assert!(
        dir.is_dir(),
        "the shared corpus is not at {}",
        dir.display()
    );
    dir
}
