//! The command-line reports that read a configuration, diffed against apache2 on the same one:
//! `-L` (generated from the registry), `-M`, `-S` on a virtual-host-rich config, the usage text,
//! and the MPM errors.

use std::fs;

use compat_tests::{apache2, module_set_lines, require_apache2, rhttpd, Outcome};

fn args_for(dir: &std::path::Path, flags: &[&str]) -> Vec<String> {
    let mut args = vec![
        "-d".to_string(),
        dir.display().to_string(),
        "-f".to_string(),
        dir.join("t.conf").display().to_string(),
    ];
    args.extend(flags.iter().map(|s| s.to_string()));
    args
}

fn write_config(body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("logs")).unwrap();
    fs::write(
        dir.path().join("t.conf"),
        body.replace("@DIR@", &dir.path().display().to_string()),
    )
    .unwrap();
    dir
}

fn stdout_lines(outcome: &Outcome) -> Vec<&str> {
    outcome.stdout.lines().collect()
}

#[test]
fn directive_listing_matches_apache_for_each_mpm() {
    require_apache2();
    for mpm in ["event", "worker", "prefork"] {
        let dir = write_config(&format!(
            "ServerRoot @DIR@\n{}ServerName localhost\nDocumentRoot @DIR@\n",
            module_set_lines(Some(mpm))
        ));
        let args = args_for(dir.path(), &["-L"]);
        let (theirs, ours) = (apache2(&args, &[]), rhttpd(&args, &[]));
        assert!(ours.ok, "{}", ours.stderr);
        assert_eq!(
            stdout_lines(&ours),
            stdout_lines(&theirs),
            "-L differs for {mpm}"
        );
    }
}

#[test]
fn loaded_modules_match_apache() {
    require_apache2();
    let dir = write_config(&format!(
        "ServerRoot @DIR@\n{}ServerName localhost\nDocumentRoot @DIR@\n",
        module_set_lines(Some("worker"))
    ));
    let args = args_for(dir.path(), &["-M"]);
    assert_eq!(
        stdout_lines(&rhttpd(&args, &[])),
        stdout_lines(&apache2(&args, &[]))
    );
}

#[test]
fn virtual_host_table_matches_apache() {
    require_apache2();
    let body = format!(
        "ServerRoot @DIR@\n{}DocumentRoot @DIR@\nListen 8080\nServerName main.test:8080\nDefine X y\n\
         <VirtualHost 127.0.0.1>\n</VirtualHost>\n\
         <VirtualHost *:8080 localhost:81>\nServerName a.test\nServerAlias b.test *.c.test www.?.test\n</VirtualHost>\n\
         <VirtualHost *:8080>\nServerName z.test\n</VirtualHost>\n\
         <VirtualHost _default_:9090>\n</VirtualHost>\n\
         <VirtualHost [::1]:8082 127.0.0.2>\nServerName six.test\n</VirtualHost>\n\
         <VirtualHost *>\nServerName anyport.test\n</VirtualHost>\n\
         <VirtualHost 127.0.0.3:*>\nServerName anyport3.test\n</VirtualHost>\n\
         <VirtualHost _default_>\nServerName default.test\n</VirtualHost>\n\
         <VirtualHost 127.0.0.4:8080>\nServerName four-a.test\n</VirtualHost>\n\
         <VirtualHost 127.0.0.4:8081>\nServerName four-b.test\n</VirtualHost>\n\
         <VirtualHost 127.0.0.4:8080>\nServerName four-c.test\n</VirtualHost>\n",
        module_set_lines(Some("event"))
    );
    let dir = write_config(&body);
    for flags in [
        &["-t", "-D", "DUMP_VHOSTS"][..],
        &["-t", "-D", "DUMP_RUN_CFG"][..],
    ] {
        let args = args_for(dir.path(), flags);
        let (theirs, ours) = (apache2(&args, &[]), rhttpd(&args, &[]));
        assert!(ours.ok, "{}", ours.stderr);
        let mut a = stdout_lines(&theirs);
        let mut b = stdout_lines(&ours);
        if flags.contains(&"DUMP_RUN_CFG") {
            // Debian's compiled-in runtime and pid paths differ from rhttpd's; compare the rest.
            let keep = |l: &&str| !l.starts_with("Mutex") && !l.starts_with("PidFile");
            a.retain(keep);
            b.retain(keep);
        }
        assert_eq!(b, a, "{flags:?} differs");
    }
}

#[test]
fn usage_text_matches_apache() {
    require_apache2();
    let theirs = apache2(&["-h".to_string()], &[]);
    let ours = rhttpd(&["-h".to_string()], &[]);
    assert!(!theirs.ok && !ours.ok, "-h exits 1");
    let norm = |o: &Outcome| {
        o.stderr
            .replace("apache2", "PROGRAM")
            .replace("rhttpd ", "PROGRAM ")
            .replace("Usage: rhttpd", "Usage: PROGRAM")
    };
    // Apache pads the continuation lines to its own name's length.
    let strip = |s: String| {
        s.lines()
            .map(|l| l.trim_start().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(norm(&ours)), strip(norm(&theirs)));
    let theirs = apache2(&["-Q".to_string()], &[]);
    let ours = rhttpd(&["-Q".to_string()], &[]);
    assert_eq!(
        ours.stderr.lines().next().map(|l| l.replace("rhttpd", "P")),
        theirs
            .stderr
            .lines()
            .next()
            .map(|l| l.replace("apache2", "P"))
    );
}

#[test]
fn mpm_count_errors_match_apache() {
    require_apache2();
    let none = write_config("ServerRoot @DIR@\nServerName localhost\nDocumentRoot @DIR@\n");
    let two = write_config(&format!(
        "ServerRoot @DIR@\n{}LoadModule mpm_worker_module /usr/lib/apache2/modules/mod_mpm_worker.so\nServerName localhost\nDocumentRoot @DIR@\n",
        module_set_lines(Some("event"))
    ));
    for dir in [none, two] {
        let args = args_for(dir.path(), &["-t"]);
        let (theirs, ours) = (apache2(&args, &[]), rhttpd(&args, &[]));
        assert!(!theirs.ok && !ours.ok);
        assert_eq!(
            ours.stderr.replace("rhttpd", "P"),
            theirs.stderr.replace("apache2", "P")
        );
    }
}

#[test]
fn mpm_clamping_warnings_match_apache() {
    require_apache2();
    for (mpm, sizing) in [
        ("event", "ThreadsPerChild 30\nMaxRequestWorkers 130\nServerLimit 3\nStartServers 0\nMinSpareThreads 0\n"),
        ("worker", "ThreadLimit 20\nThreadsPerChild 100\nMaxRequestWorkers 10\n"),
        ("prefork", "ServerLimit 10\nMaxRequestWorkers 20\nMinSpareServers 0\n"),
    ] {
        let dir = write_config(&format!(
            "ServerRoot @DIR@\n{}ServerName localhost\nDocumentRoot @DIR@\n{sizing}",
            module_set_lines(Some(mpm))
        ));
        let args = args_for(dir.path(), &["-t"]);
        let (theirs, ours) = (apache2(&args, &[]), rhttpd(&args, &[]));
        assert_eq!(ours.stderr, theirs.stderr, "{mpm} clamping differs");
    }
}

/// Startup messages with their timestamps and pids taken out, and program names unified.
fn startup_messages(text: &str) -> Vec<String> {
    let stamp = regex::Regex::new(r"^\[[^\]]+\] (\[[^\]]+\]) \[pid \d+:tid \d+\] ").unwrap();
    text.lines()
        .map(|l| {
            stamp
                .replace(l, "$1 ")
                .replace("apache2:", "PROGRAM:")
                .replace("rhttpd:", "PROGRAM:")
        })
        .collect()
}

#[test]
fn startup_warnings_and_their_levels_match_apache() {
    require_apache2();
    let dir = write_config(&format!(
        "ServerRoot @DIR@\n{}DocumentRoot @DIR@\nNameVirtualHost *:80\nDefaultType text/plain\nServerAdmin ${{RHTTPD_UNDEFINED}}\n\
         LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so\n<VirtualHost *:80>\nDocumentRoot /nonexistent\n</VirtualHost>\n\
         <Location />\nAllowOverride None\n</Location>\nThreadsPerChild 100\n\
         SetEnv A=1 x\nPassEnv RHTTPD_UNDEFINED\n\
         <VirtualHost *:80>\nSetEnv B=2 y\nPassEnv RHTTPD_UNDEFINED\nDefaultType text/plain\n\
         <Location /v>\nAllowOverride None\n</Location>\n</VirtualHost>\n",
        module_set_lines(Some("event"))
    ));
    for flags in [&["-t"][..], &["-t", "-e", "error"], &["-t", "-e", "info"]] {
        let args = args_for(dir.path(), flags);
        let (theirs, ours) = (apache2(&args, &[]), rhttpd(&args, &[]));
        assert_eq!(
            startup_messages(&ours.stderr),
            startup_messages(&theirs.stderr),
            "{flags:?}"
        );
    }
    let theirs_file = dir.path().join("theirs.log");
    let ours_file = dir.path().join("ours.log");
    let with_file =
        |file: &std::path::Path| args_for(dir.path(), &["-t", "-E", &file.display().to_string()]);
    let (theirs, ours) = (
        apache2(&with_file(&theirs_file), &[]),
        rhttpd(&with_file(&ours_file), &[]),
    );
    assert_eq!(
        ours.stderr, theirs.stderr,
        "-E leaves only Syntax OK on the terminal"
    );
    assert_eq!(
        startup_messages(&fs::read_to_string(&ours_file).unwrap()),
        startup_messages(&fs::read_to_string(&theirs_file).unwrap()),
        "-E file contents"
    );
}

#[test]
fn a_log_directory_check_comes_after_the_server_name_guess() {
    require_apache2();
    // No ServerName: Apache settles the name (AH00558) before it checks the log's directory.
    let dir = write_config(&format!(
        "ServerRoot @DIR@\n{}DocumentRoot @DIR@\nErrorLog @DIR@/missing/error_log\n",
        module_set_lines(Some("event"))
    ));
    let args = args_for(dir.path(), &["-t"]);
    let (theirs, ours) = (apache2(&args, &[]), rhttpd(&args, &[]));
    assert!(!theirs.ok && !ours.ok);
    assert_eq!(
        startup_messages(&ours.stderr),
        startup_messages(&theirs.stderr)
    );
}

#[test]
fn a_virtual_host_named_by_reverse_dns_that_fails_is_reported() {
    require_apache2();
    // No ServerName and a literal address: the name comes from reverse DNS, and when that
    // fails Apache logs AH00549 (whether ::1 resolves depends on the machine; both servers run
    // on the same one).
    let dir = write_config(&format!(
        "ServerRoot @DIR@\n{}ServerName localhost\nDocumentRoot @DIR@\nListen 127.0.0.1:1\n\
         <VirtualHost [::1]:1>\nDocumentRoot @DIR@\n</VirtualHost>\n",
        module_set_lines(Some("event"))
    ));
    let args = args_for(dir.path(), &["-t", "-S"]);
    let (theirs, ours) = (apache2(&args, &[]), rhttpd(&args, &[]));
    let masked = |text: &str| startup_messages(&text.replace("rhttpd", "apache2"));
    assert_eq!(masked(&ours.stderr), masked(&theirs.stderr));
    // The table (the rest names each build's own defaults).
    let table = |text: &str| text.split("ServerRoot:").next().unwrap_or("").to_string();
    assert_eq!(table(&ours.stdout), table(&theirs.stdout));
}

#[test]
fn dump_config_lists_the_configuration_as_apache_reads_it() {
    require_apache2();
    let dir = write_config(&format!(
        "ServerRoot @DIR@\n{}ServerName localhost\nDocumentRoot @DIR@\n\
         Define SITE @DIR@\n\
         <IfModule info_module>\n  AddModuleInfo mod_info.c \"<b>x</b>\"\n</IfModule>\n\
         <IfModule nosuch_module>\n  Bogus\n</IfModule>\n\
         Include @DIR@/part.conf\n\
         <VirtualHost *:80>\n    ServerName v\n    <Location /a>\n      <If \"true\">\n        Require all granted\n      </If>\n    </Location>\n</VirtualHost>\n\
         Alias /x \"${{SITE}}/x\" \\\n   \n",
        module_set_lines(Some("event"))
    ));
    fs::write(
        dir.path().join("part.conf"),
        "<Directory /tmp>\n    Options None\n</Directory>\n",
    )
    .unwrap();
    let args = args_for(dir.path(), &["-t", "-D", "DUMP_CONFIG"]);
    let (theirs, ours) = (apache2(&args, &[]), rhttpd(&args, &[]));
    assert!(theirs.stdout.contains("# In file:"), "{}", theirs.stdout);
    assert_eq!(ours.stdout, theirs.stdout);
}

#[test]
fn macro_warnings_and_expansions_match_apache() {
    require_apache2();
    let dir = write_config(&format!(
        "ServerRoot @DIR@\n{}ServerName localhost\nDocumentRoot @DIR@\n\
         <Macro noprefix a $b $bb>\n</Macro>\n\
         <Macro Nesting $v> trailing\n  ServerAdmin $v\n  </Foo>\n</Macro> after\n\
         <Macro Quoted @v $unused>\n  ServerAdmin @v\n</Macro>\n\
         <Macro Site $name @alias $port>\n  # not part of the body\n  <VirtualHost *:$port>\n    ServerName $name\n\n    ServerAlias @alias\n  </VirtualHost>\n</Macro>\n\
         <Macro Flags /IgnoreEmptyArgs /bogus $x>\n  ServerAdmin x$x\n</Macro>\nUse Flags \"\"\n\
         <Macro NoSpace /bad>\n  ServerAdmin bad\n</Macro>\n<Macro Glued /ignoreemptyargsX $z>\n  ServerAdmin $z\n</Macro>\n\
         Use Quoted \"admin@example.com\" \"\"\nUse Site a.example \"b.example\" 80\nUse SITE c.example d.example 8080\n",
        module_set_lines(Some("event"))
    ));
    for flags in [&["-t"][..], &["-S"]] {
        let args = args_for(dir.path(), flags);
        let (theirs, ours) = (apache2(&args, &[]), rhttpd(&args, &[]));
        assert!(theirs.stderr.contains("AH02800"), "{}", theirs.stderr);
        assert_eq!(
            startup_messages(&ours.stderr),
            startup_messages(&theirs.stderr),
            "{flags:?}"
        );
        // The virtual hosts the macros made, named after the uses.
        let vhosts = |o: &Outcome| -> Vec<String> {
            stdout_lines(o)
                .into_iter()
                .take_while(|l| !l.starts_with("ServerRoot"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(vhosts(&ours), vhosts(&theirs), "{flags:?}");
    }
}
