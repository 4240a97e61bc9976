//! Every module rhttpd implements, one file each, in the order `-l`, `-M` and `-L` list them.

pub mod access_compat;
pub mod alias;
pub mod auth_basic;
pub mod authn_core;
pub mod authn_file;
pub mod authz_core;
pub mod authz_groupfile;
pub mod authz_host;
pub mod authz_user;
pub mod autoindex;
pub mod core;
pub mod deflate;
pub mod dir;
pub mod env;
pub mod filter;
pub mod headers;
pub mod http_core;
pub mod log_config;
pub mod logio;
pub mod mime;
pub mod mpm_common;
pub mod mpm_event;
pub mod mpm_prefork;
pub mod mpm_worker;
pub mod negotiation;
pub mod reqtimeout;
pub mod setenvif;
pub mod so;
pub mod status;
pub mod unixd;
pub mod version;
pub mod watchdog;

use crate::registry::ModuleDef;

/// Static modules first (Debian's built-in set), then the loadable ones.
pub static ALL_MODULES: &[&ModuleDef] = &[
    &core::MODULE,
    &so::MODULE,
    &watchdog::MODULE,
    &http_core::MODULE,
    &log_config::MODULE,
    &logio::MODULE,
    &version::MODULE,
    &unixd::MODULE,
    &mpm_event::MODULE,
    &mpm_worker::MODULE,
    &mpm_prefork::MODULE,
    &access_compat::MODULE,
    &alias::MODULE,
    &auth_basic::MODULE,
    &authn_core::MODULE,
    &authn_file::MODULE,
    &authz_core::MODULE,
    &authz_groupfile::MODULE,
    &authz_host::MODULE,
    &authz_user::MODULE,
    &autoindex::MODULE,
    &deflate::MODULE,
    &dir::MODULE,
    &env::MODULE,
    &filter::MODULE,
    &headers::MODULE,
    &mime::MODULE,
    &negotiation::MODULE,
    &reqtimeout::MODULE,
    &setenvif::MODULE,
    &status::MODULE,
];
