//! What rhttpd reports about itself: the Apache version it is compatible with, and the
//! compiled-in defaults `-V` prints.

/// The Apache release whose behaviour rhttpd reproduces (`<IfVersion>`, `-v`).
pub const APACHE_VERSION: (u32, u32, u32) = (2, 4, 71);
/// The banner base `-v` and `Server:` use.
pub const SERVER_BANNER: &str = "Apache/2.4.71 (Unix)";
/// `AP_SERVER_BASEVERSION`: what mod_proxy's `ProxyVia Full` names.
pub const APACHE_BASE_VERSION: &str = "Apache/2.4.71";
pub const RHTTPD_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What `-v` says under "Server built" and the MPMs log at startup (Apache puts its build date
/// there; rhttpd names its own release).
pub fn server_built() -> String {
    format!("rhttpd {RHTTPD_VERSION}")
}
/// Compiled-in ServerRoot when `-d` is not given.
pub const HTTPD_ROOT: &str = "/etc/rhttpd";
/// Compiled-in main config file, relative to ServerRoot.
pub const SERVER_CONFIG_FILE: &str = "rhttpd.conf";
/// Compiled-in DocumentRoot when none is configured (Debian's, so its tree reports the same).
pub const DEFAULT_DOCUMENT_ROOT: &str = "/var/www/html";
pub const DEFAULT_PIDLOG: &str = "logs/httpd.pid";
pub const DEFAULT_ERRORLOG: &str = "logs/error_log";
pub const DEFAULT_SCOREBOARD: &str = "logs/apache_runtime_status";
pub const DEFAULT_REL_RUNTIMEDIR: &str = "logs";
pub const AP_TYPES_CONFIG_FILE: &str = "mime.types";
/// The config used when no `-f` is given and the default file does not exist.
pub const EMBEDDED_SAMPLE_CONFIG: &str = include_str!("../sample-httpd.conf");
