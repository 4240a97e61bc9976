//! The read phase against apache2: Include and IncludeOptional over directories and wildcards
//! (order, dotfiles, recursion limits), `-C`/`-c`, Define/UnDefine and `${VAR}` from the
//! environment, compared through `-t -D DUMP_INCLUDES`, `-t -D DUMP_RUN_CFG` and the verdict.

use std::fs;
use std::path::Path;

use compat_tests::{apache2, module_set_lines, require_apache2, rhttpd, Outcome};

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// A server root with a main config whose body is `body` (`@DIR@` is the root).
fn root(body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    fs::create_dir_all(dir.path().join("logs")).unwrap();
    let header = format!(
        "ServerRoot {d}\n{}ServerName localhost\nDocumentRoot {d}\n",
        module_set_lines(Some("event"))
    );
    write(
        &dir.path().join("main.conf"),
        &format!("{header}{}", body.replace("@DIR@", &d)),
    );
    dir
}

/// What an administrator compares: verdict, error text, and the report on stdout.
fn view(outcome: &Outcome, dir: &Path) -> String {
    let d = dir.display().to_string();
    let status = if outcome.ok {
        "ok".to_string()
    } else {
        format!("failed: {}", outcome.error_message())
    };
    let stdout: Vec<String> = outcome
        .stdout
        .lines()
        .filter(|l| {
            !l.starts_with("Mutex")
                && !l.starts_with("PidFile")
                && !l.starts_with("Main DocumentRoot")
        })
        .map(str::to_string)
        .collect();
    format!("{status}\n{}", stdout.join("\n")).replace(&d, "<root>")
}

fn same(dir: &Path, extra: &[&str], env: &[(String, String)]) {
    let mut args = vec![
        "-d".to_string(),
        dir.display().to_string(),
        "-f".to_string(),
        "main.conf".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let theirs = view(&apache2(&args, env), dir);
    let ours = view(&rhttpd(&args, env), dir);
    assert_eq!(ours, theirs, "rhttpd {extra:?} differs from apache2");
}

#[test]
fn directory_include_reads_everything_in_byte_order() {
    require_apache2();
    let dir = root("Include conf.d\n");
    for name in [
        "b.conf",
        "a.conf",
        ".hidden",
        "Z.conf",
        "x.conf~",
        "sub/c.conf",
        "sub/.dot.conf",
        "10.conf",
        "9.conf",
    ] {
        write(&dir.path().join("conf.d").join(name), "# nothing\n");
    }
    same(dir.path(), &["-t", "-D", "DUMP_INCLUDES"], &[]);
}

#[test]
fn wildcards_skip_dotfiles_and_match_directories_in_the_middle() {
    require_apache2();
    let dir = root(
        "Include inc/*/c.conf\nIncludeOptional conf.d/*.conf\nIncludeOptional nothere/*.conf\n",
    );
    write(&dir.path().join("inc/one/c.conf"), "Define ONE\n");
    write(&dir.path().join("inc/two/c.conf"), "Define TWO\n");
    write(&dir.path().join("inc/file"), "");
    write(&dir.path().join("conf.d/a.conf"), "");
    write(&dir.path().join("conf.d/.b.conf"), "Bogus\n");
    same(dir.path(), &["-t", "-D", "DUMP_INCLUDES"], &[]);
    same(dir.path(), &["-t", "-D", "DUMP_RUN_CFG"], &[]);
}

#[test]
fn wildcards_are_matched_as_apr_fnmatch_matches_them() {
    require_apache2();
    // `[^a]` negates, `**` is one star, a backslash escapes; dotfiles still need a dot.
    let dir = root(
        "Include conf.d/[^a]*.conf\nIncludeOptional conf.d/**.conf\nInclude conf.d/\\[b\\]*.conf\n",
    );
    for name in ["a.conf", "b.conf", "[b]one.conf", ".c.conf"] {
        write(&dir.path().join("conf.d").join(name), "# nothing\n");
    }
    same(dir.path(), &["-t", "-D", "DUMP_INCLUDES"], &[]);
}

#[test]
fn include_errors_match() {
    require_apache2();
    for body in [
        "Include conf.d/*.conf\n",
        "Include missing.conf\n",
        "Include self.conf\n",
        "<Directory /tmp>\nInclude sub/inner.conf\n</Directory>\n",
    ] {
        let dir = root(body);
        fs::create_dir_all(dir.path().join("conf.d")).unwrap();
        write(&dir.path().join("self.conf"), "Include self.conf\n");
        write(
            &dir.path().join("sub/inner.conf"),
            "Options None\nOptions Bogus\n",
        );
        same(dir.path(), &["-t"], &[]);
    }
}

#[test]
fn command_line_directives_run_before_and_after_the_file() {
    require_apache2();
    let dir = root("<IfDefine FROM_C>\nDefine SEEN_IN_FILE\n</IfDefine>\n");
    same(
        dir.path(),
        &[
            "-C",
            "Define FROM_C",
            "-c",
            "Define AFTER 1",
            "-t",
            "-D",
            "DUMP_RUN_CFG",
        ],
        &[],
    );
    same(dir.path(), &["-c", "Bogus", "-t"], &[]);
    same(dir.path(), &["-C", "<Directory /tmp>", "-t"], &[]);
}

#[test]
fn variables_come_from_define_then_the_environment() {
    require_apache2();
    let dir = root(
        "Define FROM_DEFINE one\nDefine UNSET_ME x\nUnDefine UNSET_ME\nDefine JOINED \"${FROM_DEFINE}-${RHTTPD_TEST_ENV}\"\n\
         <IfDefine !UNSET_ME>\nDefine GONE yes\n</IfDefine>\n",
    );
    let env = vec![("RHTTPD_TEST_ENV".to_string(), "from env".to_string())];
    same(dir.path(), &["-t", "-D", "DUMP_RUN_CFG"], &env);
}

#[test]
fn relative_config_path_is_under_server_root() {
    require_apache2();
    let dir = root("");
    let args = [
        "-d",
        &dir.path().display().to_string(),
        "-f",
        "main.conf",
        "-t",
    ]
    .map(str::to_string);
    let elsewhere = tempfile::tempdir().unwrap();
    for program in [
        std::path::PathBuf::from("apache2"),
        compat_tests::rhttpd_bin(),
    ] {
        let status = std::process::Command::new(&program)
            .args(&args)
            .current_dir(elsewhere.path())
            .output()
            .unwrap()
            .status;
        assert!(
            status.success(),
            "{} did not find main.conf under ServerRoot",
            program.display()
        );
    }
}
