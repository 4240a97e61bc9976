//! Finding a directive by name among the modules loaded so far (names are case-insensitive).

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};

use crate::registry::{Args, DirectiveDef, ModuleDef, Runtime};

type Entry = (&'static ModuleDef, &'static DirectiveDef, u32);

/// Every directive of a registry by lowercase name with its module, and by id (its position
/// in registry order).
struct Index {
    by_name: HashMap<String, Vec<Entry>>,
    by_id: Vec<&'static DirectiveDef>,
}

impl Index {
    fn of(modules: &'static [&'static ModuleDef]) -> Index {
        let all = modules
            .iter()
            .flat_map(|m| m.directives.iter().map(move |d| (*m, d)));
        let mut by_name: HashMap<String, Vec<Entry>> = HashMap::new();
        let mut by_id = Vec::new();
        for (id, (module, def)) in all.enumerate() {
            by_name
                .entry(def.name.to_ascii_lowercase())
                .or_default()
                .push((module, def, id as u32));
            by_id.push(def);
        }
        Index { by_name, by_id }
    }
}

/// The installed registry's index, built as it is installed (never from a partial list).
static INSTALLED: OnceLock<Index> = OnceLock::new();
/// This crate's own modules, for its tests when no registry is installed.
static DECLARED: LazyLock<Index> = LazyLock::new(|| Index::of(crate::modules::DECLARED_HERE));

/// Indexes the registry `install_modules` is given.
pub(crate) fn install(modules: &'static [&'static ModuleDef]) {
    INSTALLED.get_or_init(|| Index::of(modules));
}

fn index() -> &'static Index {
    INSTALLED.get().unwrap_or(&DECLARED)
}

/// The definition a node's `known_id` names.
pub fn by_id(id: u32) -> Option<&'static DirectiveDef> {
    index().by_id.get(id as usize).copied()
}

/// Every registered definition of `name` (any case). Runs for every config line, so a short
/// name is lowercased on the stack rather than allocated.
fn candidates(name: &str) -> &'static [Entry] {
    let mut buf = [0u8; 64];
    let found = if name.len() <= buf.len() {
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name.as_bytes());
        lower.make_ascii_lowercase();
        std::str::from_utf8(lower)
            .ok()
            .and_then(|l| index().by_name.get(l))
    } else {
        index().by_name.get(&name.to_ascii_lowercase())
    };
    found.map(Vec::as_slice).unwrap_or(&[])
}

/// A directive that stands in before the first real one is applied.
pub(crate) static PLACEHOLDER: DirectiveDef = DirectiveDef {
    name: "",
    args: Args::NoArgs(|_| Ok(())),
    req_override: 0,
    forbidden: 0,
    forbid_in_setter: false,
    help: "",
    runtime: Runtime::Implemented,
};

/// The definition `name` has among `loaded` modules (first loaded wins), if any.
pub fn find_loaded(loaded: &[&'static ModuleDef], name: &str) -> Option<&'static DirectiveDef> {
    find_loaded_with_id(loaded, name).map(|(_, d)| d)
}

/// [`find_loaded`] with the definition's id (see [`by_id`]).
pub fn find_loaded_with_id(
    loaded: &[&'static ModuleDef],
    name: &str,
) -> Option<(u32, &'static DirectiveDef)> {
    let candidates = candidates(name);
    loaded.iter().find_map(|m| {
        candidates
            .iter()
            .find(|(owner, _, _)| std::ptr::eq(*owner, *m))
            .map(|(_, d, id)| (*id, *d))
    })
}

/// Whether any module rhttpd implements defines `name` (for error messages about LoadModule).
pub fn find_any(name: &str) -> Option<(&'static ModuleDef, &'static DirectiveDef)> {
    candidates(name).first().map(|(m, d, _)| (*m, *d))
}

/// A module rhttpd implements, by `LoadModule` identifier.
pub fn module_by_id(id: &str) -> Option<&'static ModuleDef> {
    crate::all_modules().iter().copied().find(|m| m.id == id)
}
