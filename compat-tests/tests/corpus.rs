//! The shared corpus of real configs: each snippet and full tree is wrapped the way
//! `corpus/tools/validate.py` wraps it, but with only rhttpd's module set switched on, and given
//! to both servers. Where apache2 says Syntax OK, rhttpd must too; where apache2 fails, rhttpd
//! must fail at the same file and line; where a module outside the set is loaded, rhttpd must
//! fail naming it. Prints a one-line tally.

use std::fs;
use std::path::{Path, PathBuf};

use compat_tests::*;

/// How one case came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    BothOk,
    BothFailSameLine,
    /// A LoadModule for a module rhttpd does not implement: rhttpd names the module.
    OutsideModuleNamed,
    /// A directive of a module that is not loaded: both say "Invalid command" at the same line.
    BothInvalidCommand,
    Mismatch,
}

/// Directive names of modules outside rhttpd's set: apache2's "Invalid command" for one of these
/// means the case needs a module rhttpd does not implement.
fn outside_set_directive(message: &str) -> bool {
    message.contains("Invalid command '")
}

/// A path with its `.` and `..` segments resolved, as text.
fn resolved(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            part => out.push(part),
        }
    }
    format!("/{}", out.join("/"))
}

fn judge(theirs: &Outcome, ours: &Outcome, work: &str) -> Verdict {
    if !ours.ok && ours.stderr.contains("rhttpd does not implement") {
        return Verdict::OutsideModuleNamed;
    }
    match (theirs.ok, ours.ok) {
        (true, true) => Verdict::BothOk,
        (false, false) => {
            // The same file however its path is spelled: Apache keeps a `-d` root's `..`
            // segments in the paths it reports, rhttpd resolves them.
            let norm = |o: &Outcome| {
                o.error_location()
                    .map(|(f, l)| (resolved(&f).replace(work, "<w>"), l))
            };
            let same_place = norm(theirs) == norm(ours) && norm(theirs).is_some();
            let same_text = theirs.error_message().replace(work, "<w>")
                == ours.error_message().replace(work, "<w>");
            if same_place || (norm(theirs).is_none() && same_text) {
                if outside_set_directive(&theirs.error_message()) {
                    Verdict::BothInvalidCommand
                } else {
                    Verdict::BothFailSameLine
                }
            } else {
                Verdict::Mismatch
            }
        }
        _ => Verdict::Mismatch,
    }
}

struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path();
        for sub in [
            "htdocs",
            "snipsrv/logs",
            "snipsrv/run",
            "snipsrv/lock",
            "snipsrv/log",
        ] {
            fs::create_dir_all(w.join(sub)).unwrap();
        }
        std::os::unix::fs::symlink(DEBIAN_MODULES, w.join("snipsrv/modules")).unwrap();
        for mpm in [Some("event"), Some("prefork"), Some("worker"), None] {
            let name = mpm.unwrap_or("none");
            let base = format!(
                "{}ServerName localhost\nPidFile {w}/snip.pid\nErrorLog /dev/null\nDefaultRuntimeDir {w}\nDocumentRoot {w}/htdocs\nUser www-data\nGroup www-data\n",
                module_set_lines(mpm),
                w = w.display()
            );
            fs::write(w.join(format!("base-{name}.conf")), base).unwrap();
        }
        Work { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The snippet files validate.py checks, with their kind (`true` for .htaccess bodies).
fn snippets(corpus: &Path) -> Vec<(PathBuf, bool)> {
    let mut all = Vec::new();
    collect(corpus, &mut all);
    all.sort();
    let mut out = Vec::new();
    for file in all {
        let rel = file
            .strip_prefix(corpus)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let base = file.file_name().unwrap().to_string_lossy().to_string();
        if base.ends_with(".tsv") || base.ends_with(".md") {
            continue;
        }
        if [
            "upstream-httpd-2.4.x/in/",
            "certbot-testdata/",
            "debian-apache2/",
            "openeuler-httpd-fedora-style/etc/httpd/conf/",
        ]
        .iter()
        .any(|p| rel.starts_with(p))
        {
            continue;
        }
        let special = [
            "generate.sh",
            "Dockerfile.upstream",
            "httpd-foreground.upstream",
            "magic",
            "mime.types",
            "charset.conv",
            "httpd.conf",
            "envvars",
        ];
        if special.contains(&base.as_str())
            && !(rel.starts_with("openeuler") || rel.starts_with("apps"))
        {
            continue;
        }
        if base.contains("htaccess") && base != "nagios.htaccess" {
            out.push((file, true));
        } else if base.ends_with(".conf")
            || base.ends_with(".load")
            || base.ends_with(".conf.in")
            || rel.starts_with("debian-packages/")
        {
            out.push((file, false));
        }
    }
    let mut debian: Vec<PathBuf> = Vec::new();
    for kind in ["conf-available", "mods-available", "sites-available"] {
        if let Ok(entries) = fs::read_dir(corpus.join("debian-apache2").join(kind)) {
            debian.extend(
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.is_file()),
            );
        }
    }
    debian.sort();
    out.extend(debian.into_iter().map(|p| (p, false)));
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            continue;
        }
        if kind.is_dir() {
            collect(&entry.path(), out);
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
}

/// Wraps one snippet as validate.py does and runs both servers on it.
fn run_snippet(
    work: &Work,
    corpus: &Path,
    file: &Path,
    htaccess: bool,
    strip: bool,
) -> (Outcome, Outcome) {
    let w = work.path();
    let rel = file
        .strip_prefix(corpus)
        .unwrap()
        .to_string_lossy()
        .to_string();
    let base = file.file_name().unwrap().to_string_lossy().to_string();
    let body = String::from_utf8_lossy(&fs::read(file).unwrap()).into_owned();
    let mut mpm = ["event", "prefork", "worker"]
        .into_iter()
        .find(|m| base.contains(&format!("mpm_{m}")))
        .unwrap_or("event");
    if base.starts_with("mpm_") && base.ends_with(".load") {
        mpm = "none";
    }
    let has_loadmodule = body.lines().any(|l| {
        l.trim_start()
            .to_ascii_lowercase()
            .starts_with("loadmodule")
    });
    let target = if has_loadmodule {
        let copy = w.join("snip-copy.conf");
        fs::write(&copy, drop_loadmodules(&body, strip)).unwrap();
        copy
    } else {
        file.to_path_buf()
    };
    let server_root = if rel.starts_with("h5bp/") {
        corpus.join("h5bp")
    } else {
        w.join("snipsrv")
    };
    let mut env = Vec::new();
    if rel.starts_with("debian-apache2/")
        || rel.starts_with("debian-packages/")
        || body.contains("${APACHE_")
    {
        env = debian_env(&w.join("snipsrv"));
    }
    let mut args = vec![
        "-t".to_string(),
        "-d".to_string(),
        server_root.display().to_string(),
    ];
    if body.contains("${HTTPD_INSTANCE}") {
        fs::create_dir_all(w.join("snipsrv/run/httpd/instance-test")).unwrap();
        args.extend(["-C".to_string(), "Define HTTPD_INSTANCE test".to_string()]);
    }
    let wrapper = w.join("snip.conf");
    let include_base = format!("Include {}/base-{mpm}.conf\n", w.display());
    let text = if htaccess {
        format!(
            "{include_base}<Directory {}/htdocs>\n{body}\n</Directory>\n",
            w.display()
        )
    } else {
        format!("{include_base}Include \"{}\"\n", target.display())
    };
    fs::write(&wrapper, text).unwrap();
    args.extend(["-f".to_string(), wrapper.display().to_string()]);
    (apache2(&args, &env), rhttpd(&args, &env))
}

/// Copies a full tree, rewrites its prefix to the copy, and drops Debian's built-in modules.
fn prepare_tree(work: &Work, name: &str, src: &Path, prefix: Option<&str>, strip: bool) -> PathBuf {
    let dest = work
        .path()
        .join(if strip { "trees-stripped" } else { "trees" })
        .join(name);
    copy_tree(src, &dest);
    let mut files = Vec::new();
    collect(&dest, &mut files);
    for file in files {
        let base = file.file_name().unwrap().to_string_lossy().to_string();
        if !(base.ends_with(".conf") || base.ends_with(".load")) {
            continue;
        }
        let mut text = String::from_utf8_lossy(&fs::read(&file).unwrap()).into_owned();
        if let Some(prefix) = prefix {
            text = text.replace(prefix, &dest.display().to_string());
        }
        fs::write(&file, drop_loadmodules(&text, strip)).unwrap();
    }
    for sub in [
        "logs", "htdocs", "cgi-bin", "icons", "error", "run", "lock", "log",
    ] {
        fs::create_dir_all(dest.join(sub)).unwrap();
    }
    if !dest.join("modules").exists() {
        std::os::unix::fs::symlink(DEBIAN_MODULES, dest.join("modules")).unwrap();
    }
    dest
}

fn run_tree(dest: &Path, main: &str, env: &[(String, String)]) -> (Outcome, Outcome) {
    let args = vec![
        "-t".to_string(),
        "-d".to_string(),
        dest.display().to_string(),
        "-f".to_string(),
        dest.join(main).display().to_string(),
    ];
    (apache2(&args, env), rhttpd(&args, env))
}

#[test]
fn corpus_configs_are_judged_like_apache() {
    require_apache2();
    let corpus = corpus_dir();
    let work = Work::new();
    let w = work.path().display().to_string();
    let mut tally = [0usize; 5];
    let mut mismatches = Vec::new();
    // What still keeps cases from running: the first module outside the set each names, and the
    // directives apache2 calls invalid once those LoadModule lines are gone.
    let mut blockers: std::collections::BTreeMap<String, usize> = Default::default();
    // The cases as written (not stripped): [all, not Debian's own files], each as (cases, run
    // unchanged: apache2's verdict with nothing outside the set).
    let mut as_written = [(0usize, 0usize); 2];
    let mut record = |name: String, theirs: Outcome, ours: Outcome| {
        let verdict = judge(&theirs, &ours, &w);
        tally[verdict as usize] += 1;
        if !name.ends_with(" [outside LoadModules removed]") {
            let unchanged = matches!(verdict, Verdict::BothOk | Verdict::BothFailSameLine);
            let debian_own = name.starts_with("debian-apache2/") || name.contains("debian-apache2");
            for (i, counted) in as_written.iter_mut().enumerate() {
                if i == 1 && debian_own {
                    continue;
                }
                counted.0 += 1;
                counted.1 += usize::from(unchanged);
            }
        }
        let blocker = match verdict {
            Verdict::OutsideModuleNamed => ours
                .stderr
                .split("rhttpd does not implement ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_string),
            Verdict::BothInvalidCommand => theirs
                .error_message()
                .split('\'')
                .nth(1)
                .map(|d| format!("directive {d}")),
            _ => None,
        };
        if let Some(blocker) = blocker {
            *blockers.entry(blocker).or_default() += 1;
        }
        if verdict == Verdict::Mismatch {
            let said = |o: &Outcome| match (o.ok, o.error_location()) {
                (true, _) => "Syntax OK".to_string(),
                (false, Some((file, line))) => format!(
                    "line {line} of {}: {}",
                    file.replace(&w, "<w>"),
                    o.error_message()
                ),
                (false, None) => o.error_message(),
            };
            mismatches.push(format!(
                "{name}\n  apache2: {}\n  rhttpd:  {}",
                said(&theirs),
                said(&ours)
            ));
        }
    };

    let upstream_src = work.path().join("upstream-src");
    fs::create_dir_all(upstream_src.join("conf/extra")).unwrap();
    let generated = corpus.join("upstream-httpd-2.4.x/generated");
    for entry in fs::read_dir(generated.join("extra"))
        .unwrap()
        .filter_map(|e| e.ok())
    {
        fs::copy(
            entry.path(),
            upstream_src.join("conf/extra").join(entry.file_name()),
        )
        .unwrap();
    }
    for f in ["mime.types", "magic", "charset.conv"] {
        fs::copy(generated.join(f), upstream_src.join("conf").join(f)).unwrap();
    }
    // Each case twice: as written (a module outside the set must be named), and with those
    // LoadModule lines removed for both servers (the rest must then be judged alike).
    for strip in [false, true] {
        let suffix = if strip {
            " [outside LoadModules removed]"
        } else {
            ""
        };
        for (name, conf) in [
            ("upstream", generated.join("httpd.conf")),
            ("docker", corpus.join("docker-library-httpd/httpd.conf")),
        ] {
            let src = work.path().join(format!("{name}-src-{strip}"));
            copy_tree(&upstream_src, &src);
            fs::copy(&conf, src.join("conf/httpd.conf")).unwrap();
            let dest = prepare_tree(&work, name, &src, Some("/usr/local/apache2"), strip);
            let (theirs, ours) = run_tree(&dest, "conf/httpd.conf", &[]);
            record(format!("full tree {name} httpd.conf{suffix}"), theirs, ours);
        }
        let debian = prepare_tree(&work, "debian", &corpus.join("debian-apache2"), None, strip);
        let apache2_conf = debian.join("apache2.conf");
        let text = fs::read_to_string(&apache2_conf).unwrap();
        fs::write(
            &apache2_conf,
            format!("ServerRoot \"{}\"\n{text}", debian.display()),
        )
        .unwrap();
        let (theirs, ours) = run_tree(&debian, "apache2.conf", &debian_env(&debian));
        record(
            format!("full tree debian-apache2 (as shipped){suffix}"),
            theirs,
            ours,
        );
        let h5bp = prepare_tree(&work, "h5bp", &corpus.join("h5bp"), None, strip);
        let h5bp_conf = h5bp.join("httpd.conf");
        let text = fs::read_to_string(&h5bp_conf)
            .unwrap()
            .replace("\"/usr/local/apache2\"", &format!("\"{}\"", h5bp.display()));
        fs::write(&h5bp_conf, text).unwrap();
        let (theirs, ours) = run_tree(&h5bp, "httpd.conf", &[]);
        record(format!("full tree h5bp httpd.conf{suffix}"), theirs, ours);

        // Snippets.
        for (file, htaccess) in snippets(&corpus) {
            let (theirs, ours) = run_snippet(&work, &corpus, &file, htaccess, strip);
            let name = file.strip_prefix(&corpus).unwrap().display().to_string();
            record(format!("{name}{suffix}"), theirs, ours);
        }
    }

    let total: usize = tally.iter().sum();
    println!(
        "corpus: {total} cases: {} both Syntax OK, {} both rejected at the same line, {} load a module outside rhttpd's set (named by rhttpd), {} use a directive of an unloaded module (both: Invalid command, same line), {} mismatches",
        tally[0], tally[1], tally[2], tally[3], tally[4]
    );
    let share = |(cases, unchanged): (usize, usize)| {
        format!(
            "{unchanged} of {cases} ({:.0}%)",
            100.0 * unchanged as f64 / cases.max(1) as f64
        )
    };
    println!(
        "corpus: as written, rhttpd runs unchanged {} cases, {} outside Debian's own conf/mods/sites files",
        share(as_written[0]),
        share(as_written[1])
    );
    let mut ranked: Vec<_> = blockers.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let ranked: Vec<String> = ranked.iter().map(|(m, n)| format!("{m} {n}")).collect();
    println!("corpus: what blocks the rest: {}", ranked.join(", "));
    assert!(total > 250, "only {total} corpus cases ran");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
