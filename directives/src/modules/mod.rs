//! The modules whose directive tables still live in this crate, one file each. A module whose
//! setters write a typed configuration keeps its table beside its runtime, in the binary's
//! `src/modules/`; the binary's `modules::REGISTRY` lists every module, in the order `-l`,
//! `-M` and `-L` list them, and installs it (`crate::install_modules`).

pub mod authz_host;
pub mod authz_user;
pub mod core;
pub mod mpm_common;
pub mod mpm_event;
pub mod mpm_prefork;
pub mod mpm_worker;
pub mod so;
pub mod version;
pub mod watchdog;

use crate::registry::ModuleDef;

/// The modules declared here, in registry order: what the crate's own tests look directives
/// up in when no full registry is installed.
pub static DECLARED_HERE: &[&ModuleDef] = &[
    &core::MODULE,
    &so::MODULE,
    &watchdog::MODULE,
    &version::MODULE,
    &mpm_event::MODULE,
    &mpm_worker::MODULE,
    &mpm_prefork::MODULE,
    &authz_host::MODULE,
    &authz_user::MODULE,
];
