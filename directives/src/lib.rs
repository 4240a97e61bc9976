//! The directive registry of rhttpd: every directive of the module set with its module,
//! contexts, arity, help line and setter, and the walk that applies a tree to a typed config.
//!
//! The registry is the source of truth for validation, `-L`, the man page and the list of
//! directives whose runtime effect has not landed yet ([`pending_directives`]).
#![forbid(unsafe_code)]

pub mod apply;
pub mod cmd;
pub mod context;
pub mod core_config;
pub mod errorlog_format;
pub mod expr;
pub mod listing;
pub mod lookup;
pub mod merge;
pub mod methods;
pub mod model;
pub mod modules;
pub mod mpm;
pub mod regex;
pub mod regex_defaults;
pub mod registry;
pub mod set;
pub mod util;

pub use apply::{apply, split_args, WalkError, Words};
pub use lookup::{find_any, find_loaded, module_by_id};
pub use model::Config;
pub use registry::{Args, DirectiveDef, ModuleDef, Runtime};

/// Empties the process-wide state a reading of the configuration fills in this crate, as
/// Apache starts each reading afresh: RegexDefaultOptions, registered methods.
pub fn reset_read_state() {
    regex_defaults::set(regex_defaults::DEFAULT);
    methods::reset();
}

static INSTALLED: std::sync::OnceLock<&'static [&'static ModuleDef]> = std::sync::OnceLock::new();

/// Installs the full module registry (the binary's, which adds the modules whose tables live
/// beside their runtime). It must come before the first directive lookup; later calls keep
/// the first list.
pub fn install_modules(modules: &'static [&'static ModuleDef]) {
    // A second caller waits until the first has built the lookup table (tests read
    // configurations on several threads at once).
    static LOOKUP_BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    LOOKUP_BUILT.get_or_init(|| {
        if INSTALLED.set(modules).is_ok() {
            lookup::install(modules);
        }
    });
}

/// Every module rhttpd implements, in the order `-l`, `-M` and `-L` list them: the installed
/// registry, else this crate's own modules.
pub fn all_modules() -> &'static [&'static ModuleDef] {
    INSTALLED.get().copied().unwrap_or(modules::DECLARED_HERE)
}

/// `(module, directive)` for every directive that is accepted but not yet acted on.
pub fn pending_directives() -> Vec<(&'static str, &'static str)> {
    all_modules()
        .iter()
        .flat_map(|m| {
            m.directives
                .iter()
                .filter(|d| d.runtime == Runtime::Pending)
                .map(move |d| (m.id, d.name))
        })
        .collect()
}
