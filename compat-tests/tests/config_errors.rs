//! Broken configurations: apache2 and rhttpd must both reject each one, naming the same file
//! and line with the same message (or both accept it). Cases live in `cases/config-errors.conf`.

use std::fs;

use compat_tests::{apache2, module_set_lines, require_apache2, rhttpd, Outcome};

struct Case {
    name: String,
    body: String,
    divergence: Option<String>,
}

fn cases() -> Vec<Case> {
    let text = include_str!("../cases/config-errors.conf");
    let mut out: Vec<Case> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("=== ") {
            out.push(Case {
                name: name.to_string(),
                body: String::new(),
                divergence: None,
            });
        } else if let Some(reason) = line.strip_prefix("## known divergence: ") {
            if let Some(case) = out.last_mut() {
                case.divergence = Some(reason.to_string());
            }
        } else if let Some(case) = out.last_mut() {
            case.body.push_str(line);
            case.body.push('\n');
        }
    }
    out
}

/// The verdict an administrator reads: accepted, or where and why not.
fn verdict(outcome: &Outcome, dir: &str) -> String {
    if outcome.ok {
        return "Syntax OK".to_string();
    }
    let location = outcome
        .error_location()
        .map(|(file, line)| format!("{}:{line}", file.replace(dir, "<dir>")))
        .unwrap_or_else(|| "-".to_string());
    format!(
        "{location}: {}",
        outcome.error_message().replace(dir, "<dir>")
    )
}

#[test]
fn broken_configs_fail_like_apache() {
    require_apache2();
    let cases = cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut mismatches = Vec::new();
    let mut known = 0;
    for case in &cases {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let header = format!(
            "ServerRoot {d}\n{}ErrorLog {d}/error.log\nPidFile {d}/httpd.pid\nServerName localhost\nDocumentRoot {d}\n",
            module_set_lines(Some("event"))
        );
        let conf = dir.path().join("t.conf");
        fs::write(&conf, format!("{header}{}", case.body)).unwrap();
        let args = vec![
            "-t".to_string(),
            "-d".to_string(),
            d.clone(),
            "-f".to_string(),
            conf.display().to_string(),
        ];
        let theirs = verdict(&apache2(&args, &[]), &d);
        let ours = verdict(&rhttpd(&args, &[]), &d);
        if theirs != ours {
            match &case.divergence {
                Some(_) => known += 1,
                None => mismatches.push(format!(
                    "case '{}':\n  apache2: {theirs}\n  rhttpd:  {ours}",
                    case.name
                )),
            }
        }
    }
    println!(
        "config errors: {} cases, {} same as apache2, {} known divergences, {} mismatches",
        cases.len(),
        cases.len() - mismatches.len() - known,
        known,
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
