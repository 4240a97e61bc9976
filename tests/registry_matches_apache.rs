//! The registry against the data extracted from Apache 2.4's command tables and `apache2 -L`
//! (`data/apache-directives.tsv`): every directive of the module set is present with Apache's
//! arity class, `req_override`, context restrictions, help line and "Allowed in" text.

use rhttpd::modules::REGISTRY as ALL_MODULES;
use rhttpd_directives::context::{allowed_text, parse_flags};
use rhttpd_directives::{module_by_id, pending_directives};

struct Row {
    module: String,
    name: String,
    arity: String,
    req_override: String,
    cmd_context: String,
    help: String,
    allowed: String,
}

fn rows() -> Vec<Row> {
    rhttpd::modules::install_registry();
    include_str!("../directives/data/apache-directives.tsv")
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            Row {
                module: f[0].into(),
                name: f[2].into(),
                arity: f[3].into(),
                req_override: f[4].into(),
                cmd_context: f[5].into(),
                help: f[6].into(),
                allowed: f[7].replace("\\n", "\n\t"),
            }
        })
        .collect()
}

#[test]
fn every_apache_directive_is_registered_alike() {
    let mut problems = Vec::new();
    let rows = rows();
    assert!(rows.len() > 250, "data file has {} rows", rows.len());
    for row in &rows {
        let Some(module) = module_by_id(&row.module) else {
            problems.push(format!("module {} missing", row.module));
            continue;
        };
        let Some(def) = module.directives.iter().find(|d| d.name == row.name) else {
            problems.push(format!("{} missing from {}", row.name, row.module));
            continue;
        };
        let expected_override = parse_flags(&row.req_override).unwrap();
        let expected_forbidden = parse_flags(&row.cmd_context).unwrap();
        if def.args.class() != row.arity {
            problems.push(format!(
                "{}: arity {} vs {}",
                row.name,
                def.args.class(),
                row.arity
            ));
        }
        if def.req_override != expected_override {
            problems.push(format!(
                "{}: req_override {:#x} vs {}",
                row.name, def.req_override, row.req_override
            ));
        }
        if def.forbidden != expected_forbidden {
            problems.push(format!(
                "{}: context {:#x} vs {}",
                row.name, def.forbidden, row.cmd_context
            ));
        }
        if def.help != row.help {
            problems.push(format!("{}: help differs", row.name));
        }
        if allowed_text(def.req_override, module.has_dir_config) != row.allowed {
            problems.push(format!("{}: allowed text differs", row.name));
        }
    }
    let registered: usize = ALL_MODULES.iter().map(|m| m.directives.len()).sum();
    assert_eq!(
        registered,
        rows.len(),
        "the registry has directives Apache's tables do not"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The honesty list: directives accepted but not acted on. Every directive of the module set
/// has its effect (or is marked inert with the reason, shown in rhttpd(8)), but for the ones
/// listed here, which a module added later keeps until they land.
#[test]
fn no_directive_of_the_module_set_is_pending() {
    rhttpd::modules::install_registry();
    let pending = pending_directives();
    println!(
        "{} directives are validated and stored but not acted on yet:",
        pending.len()
    );
    for (module, name) in &pending {
        println!("  {module}: {name}");
    }
    // The read phase runs every execute-on-read directive itself, so none may be pending.
    for module in ALL_MODULES {
        for def in module.directives {
            if def.req_override & rhttpd_directives::context::EXEC_ON_READ != 0 {
                assert!(
                    !pending.contains(&(module.id, def.name)),
                    "{} is read-time and implemented",
                    def.name
                );
            }
        }
    }
    // OCSP stapling needs an OCSP client: `SSLUseStapling on` is accepted with a warning at
    // start, and the server answers without a stapled response.
    let known = [("ssl_module", "SSLUseStapling")];
    let unexpected: Vec<_> = pending.iter().filter(|p| !known.contains(p)).collect();
    assert!(unexpected.is_empty(), "still pending: {unexpected:?}");
}
