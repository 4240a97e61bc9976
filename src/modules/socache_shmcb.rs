//! mod_socache_shmcb: the `shmcb` session-cache provider mod_ssl's SSLSessionCache names. It
//! has no directives of its own; loading it is what makes `shmcb:` a known cache, and its
//! argument (`path(size)`) is checked as the module checks it.

use rhttpd_directives::model::ReadState;
use rhttpd_directives::registry::ModuleDef;

pub static MODULE: ModuleDef = ModuleDef {
    id: "socache_shmcb_module",
    source: "mod_socache_shmcb.c",
    builtin: false,
    has_dir_config: false,
    directives: &[],
};

/// The cache size when the argument names none: 512 KiB.
pub const DEFAULT_SIZE: u64 = 512 * 1024;

/// The size a `path(size)` argument asks for, or the module's error for it.
pub fn check_argument(read: &ReadState, arg: &str) -> Result<u64, String> {
    if arg.is_empty() {
        return Ok(DEFAULT_SIZE);
    }
    let path = read
        .server_root_relative(arg)
        .to_string_lossy()
        .into_owned();
    let Some(open) = path.rfind('(') else {
        if path.ends_with(')') {
            return Err("Invalid argument: no opening parenthesis".into());
        }
        return Ok(DEFAULT_SIZE);
    };
    let Some(inner) = path[open + 1..].strip_suffix(')') else {
        return Err("Invalid argument: no closing parenthesis or cache size missing after pathname with parenthesis".into());
    };
    let (size, rest) = rhttpd_directives::set::strtol(inner);
    if !rest.is_empty() {
        return Err("Invalid argument: cache size not numerical".into());
    }
    if size < 8192 {
        return Err("Invalid argument: size has to be >= 8192 bytes".into());
    }
    if size >= u32::MAX as i64 {
        return Err(format!(
            "Invalid argument: size has to be < {} bytes on this platform",
            u32::MAX
        ));
    }
    Ok(size as u64)
}
