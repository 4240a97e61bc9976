//! `-L`: the directive list with help and "Allowed in" lines, generated from the registry.

use crate::context::allowed_text;
use crate::registry::ModuleDef;

/// The `-L` text for `modules` in load order, exactly as Apache prints it.
pub fn directive_listing(modules: &[&'static ModuleDef]) -> String {
    let mut out = String::new();
    for module in modules {
        for def in module.directives {
            out.push_str(&format!("{} ({})\n", def.name, module.source));
            if !def.help.is_empty() {
                out.push_str(&format!("\t{}\n", def.help));
            }
            out.push('\t');
            out.push_str(&allowed_text(def.req_override, module.has_dir_config));
            out.push('\n');
        }
    }
    out
}
