//! Finding a directive by name among the modules loaded so far (names are case-insensitive).

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::modules::ALL_MODULES;
use crate::registry::{Args, DirectiveDef, ModuleDef, Runtime};

/// Every directive of every module rhttpd implements, by lowercase name, with its module.
static BY_NAME: LazyLock<HashMap<String, Vec<(&'static ModuleDef, &'static DirectiveDef)>>> =
    LazyLock::new(|| {
        let mut map: HashMap<String, Vec<_>> = HashMap::new();
        for module in ALL_MODULES {
            for def in module.directives {
                map.entry(def.name.to_ascii_lowercase())
                    .or_default()
                    .push((*module, def));
            }
        }
        map
    });

/// A directive that stands in before the first real one is applied.
pub(crate) static PLACEHOLDER: DirectiveDef = DirectiveDef {
    name: "",
    args: Args::NoArgs(|_| Ok(())),
    req_override: 0,
    forbidden: 0,
    help: "",
    runtime: Runtime::Implemented,
};

/// The definition `name` has among `loaded` modules (first loaded wins), if any.
pub fn find_loaded(loaded: &[&'static ModuleDef], name: &str) -> Option<&'static DirectiveDef> {
    let candidates = BY_NAME.get(&name.to_ascii_lowercase())?;
    loaded.iter().find_map(|m| {
        candidates
            .iter()
            .find(|(owner, _)| std::ptr::eq(*owner, *m))
            .map(|(_, d)| *d)
    })
}

/// Whether any module rhttpd implements defines `name` (for error messages about LoadModule).
pub fn find_any(name: &str) -> Option<(&'static ModuleDef, &'static DirectiveDef)> {
    BY_NAME
        .get(&name.to_ascii_lowercase())
        .and_then(|v| v.first().copied())
}

/// A module rhttpd implements, by `LoadModule` identifier.
pub fn module_by_id(id: &str) -> Option<&'static ModuleDef> {
    ALL_MODULES.iter().copied().find(|m| m.id == id)
}
