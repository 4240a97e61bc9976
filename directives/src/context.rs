//! Where a directive may appear: Apache's `req_override` bits, the `ap_check_cmd_context`
//! restrictions, and the texts both produce (in errors and in `-L`).

/// `.htaccess` override classes, as in Apache's http_config.h.
pub const OR_NONE: u32 = 0;
pub const OR_LIMIT: u32 = 1;
pub const OR_OPTIONS: u32 = 2;
pub const OR_FILEINFO: u32 = 4;
pub const OR_AUTHCFG: u32 = 8;
pub const OR_INDEXES: u32 = 16;
pub const OR_UNSET: u32 = 32;
/// Allowed inside `<Directory>`, `<Location>`, `<Files>` and `<If>`.
pub const ACCESS_CONF: u32 = 64;
/// Allowed in the server config and `<VirtualHost>`.
pub const RSRC_CONF: u32 = 128;
/// Runs while the file is read (Include, Define, `<IfModule>`, LoadModule, ...).
pub const EXEC_ON_READ: u32 = 256;
pub const OR_ALL: u32 = OR_LIMIT | OR_OPTIONS | OR_FILEINFO | OR_AUTHCFG | OR_INDEXES;
/// `.htaccess` with `AllowOverride Nonfatal=...`: a forbidden directive only warns.
pub const NONFATAL_OVERRIDE: u32 = 512;
/// `*.conf` inside `<Proxy>` (mod_proxy's sections; mod_ssl's SSLProxy* directives).
pub const PROXY_CONF: u32 = 2048;
pub const NONFATAL_UNKNOWN: u32 = 1024;
pub const NONFATAL_ALL: u32 = NONFATAL_OVERRIDE | NONFATAL_UNKNOWN;

/// What the server config and a `<VirtualHost>` permit.
pub const SERVER_OVERRIDE: u32 = (RSRC_CONF | OR_ALL) & !(OR_AUTHCFG | OR_LIMIT);
/// What `<Directory>`, `<Location>`, `<Files>` and `<If>` permit.
pub const SECTION_OVERRIDE: u32 = OR_ALL | ACCESS_CONF;

/// `ap_check_cmd_context` restrictions a handler applies on top of `req_override`.
pub const NOT_IN_VIRTUALHOST: u32 = 0x01;
pub const NOT_IN_LIMIT: u32 = 0x02;
pub const NOT_IN_DIRECTORY: u32 = 0x04;
pub const NOT_IN_LOCATION: u32 = 0x08;
pub const NOT_IN_FILES: u32 = 0x10;
pub const NOT_IN_HTACCESS: u32 = 0x20;
pub const NOT_IN_PROXY: u32 = 0x40;
pub const NOT_IN_DIR_LOC_FILE: u32 = NOT_IN_DIRECTORY | NOT_IN_LOCATION | NOT_IN_FILES;
pub const NOT_IN_DIR_CONTEXT: u32 = NOT_IN_LIMIT | NOT_IN_DIR_LOC_FILE | NOT_IN_HTACCESS;
pub const GLOBAL_ONLY: u32 = NOT_IN_VIRTUALHOST | NOT_IN_DIR_CONTEXT;

/// Parses a `|`-joined list of the names above (the form the registry data uses).
pub fn parse_flags(text: &str) -> Option<u32> {
    let mut bits = 0;
    for name in text.split('|').map(str::trim).filter(|n| !n.is_empty()) {
        bits |= match name {
            "OR_NONE" => OR_NONE,
            "OR_LIMIT" => OR_LIMIT,
            "OR_OPTIONS" => OR_OPTIONS,
            "OR_FILEINFO" => OR_FILEINFO,
            "OR_AUTHCFG" => OR_AUTHCFG,
            "OR_INDEXES" => OR_INDEXES,
            "OR_UNSET" => OR_UNSET,
            "OR_ALL" => OR_ALL,
            "ACCESS_CONF" => ACCESS_CONF,
            "RSRC_CONF" => RSRC_CONF,
            "EXEC_ON_READ" => EXEC_ON_READ,
            "PROXY_CONF" => PROXY_CONF,
            "NOT_IN_VIRTUALHOST" => NOT_IN_VIRTUALHOST,
            "NOT_IN_LIMIT" => NOT_IN_LIMIT,
            "NOT_IN_DIRECTORY" => NOT_IN_DIRECTORY,
            "NOT_IN_LOCATION" => NOT_IN_LOCATION,
            "NOT_IN_FILES" => NOT_IN_FILES,
            "NOT_IN_HTACCESS" => NOT_IN_HTACCESS,
            "NOT_IN_PROXY" => NOT_IN_PROXY,
            "NOT_IN_DIR_LOC_FILE" => NOT_IN_DIR_LOC_FILE,
            "NOT_IN_DIR_CONTEXT" => NOT_IN_DIR_CONTEXT,
            "GLOBAL_ONLY" => GLOBAL_ONLY,
            _ => return None,
        };
    }
    Some(bits)
}

/// The "Allowed in" lines `-L` prints for a directive (without the leading tab of line one).
pub fn allowed_text(req_override: u32, module_has_dir_config: bool) -> String {
    let mut out = String::from("Allowed in *.conf ");
    let anywhere = req_override & (OR_OPTIONS | OR_FILEINFO | OR_INDEXES) != 0
        || (req_override & RSRC_CONF != 0
            && req_override & (ACCESS_CONF | OR_AUTHCFG | OR_LIMIT) != 0);
    if anywhere {
        out.push_str("anywhere");
    } else if req_override & RSRC_CONF != 0 {
        out.push_str("only outside <Directory>, <Files>, <Location>, or <If>");
    } else {
        out.push_str("only inside <Directory>, <Files>, <Location>, or <If>");
    }
    if req_override & (OR_ALL | ACCESS_CONF) != 0 && !module_has_dir_config {
        out.push_str(" [no per-dir config]");
    }
    if req_override & OR_ALL != 0 {
        out.push_str(" and in .htaccess\n\twhen AllowOverride");
        if req_override & OR_ALL == OR_ALL {
            out.push_str(" isn't None");
        } else {
            let names: Vec<&str> = [
                (OR_AUTHCFG, "AuthConfig"),
                (OR_LIMIT, "Limit"),
                (OR_OPTIONS, "Options"),
                (OR_FILEINFO, "FileInfo"),
                (OR_INDEXES, "Indexes"),
            ]
            .iter()
            .filter(|(bit, _)| req_override & bit != 0)
            .map(|(_, name)| *name)
            .collect();
            out.push_str(" includes ");
            out.push_str(&names.join(" or "));
        }
    }
    out
}
