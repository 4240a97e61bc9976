//! Golden files: every `cases/ok/NAME.conf` parses to `NAME.tree`, every `cases/err/NAME.conf`
//! fails with `NAME.err`. Set `UPDATE_GOLDEN=1` to rewrite the expected files after a reviewed change.

use std::fs;
use std::path::Path;

use rhttpd_parser::{parse, Node};

fn run_folder(folder: &str, expect_ok: bool) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(folder);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no cases in {}", dir.display());
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for conf in names {
        let source = fs::read_to_string(&conf).unwrap();
        let label = conf.file_name().unwrap().to_string_lossy().to_string();
        let (actual, golden) = match parse(&source, &label) {
            Ok(nodes) if expect_ok => (Node::render_tree(&nodes), conf.with_extension("tree")),
            Err(e) if !expect_ok => (format!("{}\n", e), conf.with_extension("err")),
            Ok(nodes) => (
                format!("unexpected success:\n{}", Node::render_tree(&nodes)),
                conf.with_extension("err"),
            ),
            Err(e) => (
                format!("unexpected error: {e}\n"),
                conf.with_extension("tree"),
            ),
        };
        if update {
            fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "{label}:\n--- expected\n{expected}--- actual\n{actual}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn ok_cases_parse_to_their_trees() {
    run_folder("ok", true);
}

#[test]
fn err_cases_fail_with_apaches_messages() {
    run_folder("err", false);
}
