//! Finding a directive by name among the modules loaded so far (names are case-insensitive).

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::registry::{Args, DirectiveDef, ModuleDef, Runtime};

type Entry = (&'static ModuleDef, &'static DirectiveDef, u32);

/// Every directive of every module rhttpd implements, by lowercase name, with its module.
static BY_NAME: LazyLock<HashMap<String, Vec<Entry>>> = LazyLock::new(|| {
    let mut map: HashMap<String, Vec<Entry>> = HashMap::new();
    for (id, (module, def)) in all_definitions().enumerate() {
        map.entry(def.name.to_ascii_lowercase())
            .or_default()
            .push((module, def, id as u32));
    }
    map
});

/// Every (module, directive) pair in registry order; a pair's position is its id.
fn all_definitions() -> impl Iterator<Item = (&'static ModuleDef, &'static DirectiveDef)> {
    crate::all_modules()
        .iter()
        .flat_map(|m| m.directives.iter().map(move |d| (*m, d)))
}

/// Definitions by id, for nodes the read pass already identified.
static BY_ID: LazyLock<Vec<&'static DirectiveDef>> =
    LazyLock::new(|| all_definitions().map(|(_, d)| d).collect());

/// The definition a node's `known_id` names.
pub fn by_id(id: u32) -> Option<&'static DirectiveDef> {
    BY_ID.get(id as usize).copied()
}

/// Every registered definition of `name` (any case). Runs for every config line, so a short
/// name is lowercased on the stack rather than allocated.
fn candidates(name: &str) -> &'static [Entry] {
    let mut buf = [0u8; 64];
    let found = if name.len() <= buf.len() {
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name.as_bytes());
        lower.make_ascii_lowercase();
        std::str::from_utf8(lower).ok().and_then(|l| BY_NAME.get(l))
    } else {
        BY_NAME.get(&name.to_ascii_lowercase())
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
