//! rhttpd: parse the command line, run the requested mode, and map failures to Apache's
//! messages and exit codes (0 on success, 1 for any configuration or usage error).

use std::io::Write;
use std::process::ExitCode;

use rhttpd::cli::{usage, Cli, Mode};
use rhttpd::config::{self, load, Loaded};
use rhttpd::startup::StartupLog;
use rhttpd::{log, report};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let program = args
        .first()
        .and_then(|a| a.rsplit('/').next())
        .filter(|name| !name.is_empty())
        .unwrap_or("rhttpd")
        .to_string();
    let cli = Cli::parse(&program, args.get(1..).unwrap_or(&[]));
    run(&cli)
}

/// Prints to standard output, ignoring a closed pipe (`rhttpd -L | head`).
fn out(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

fn run(cli: &Cli) -> ExitCode {
    if let (Some(path), false) = (&cli.error_file, matches!(cli.mode, Mode::Usage(_))) {
        if let Err(err) = rhttpd::sys::redirect_stderr(std::path::Path::new(path)) {
            eprintln!(
                "{}: could not open error log file {path}.\n{err}",
                cli.program
            );
            return ExitCode::from(1);
        }
    }
    match &cli.mode {
        Mode::Usage(illegal) => {
            if let Some(letter) = illegal {
                eprintln!("{}: illegal option -- {letter}", cli.program);
            }
            eprint!("{}", usage(&cli.program));
            ExitCode::from(1)
        }
        Mode::Version => {
            out(&report::version());
            ExitCode::SUCCESS
        }
        Mode::ListModules => {
            let mpm = load(cli).ok().and_then(|l| l.config.read.mpm());
            out(&report::compiled_modules(mpm));
            ExitCode::SUCCESS
        }
        Mode::CompileSettings => match load(cli) {
            Ok(loaded) => {
                out(&report::compile_settings(loaded.config.read.mpm()));
                ExitCode::SUCCESS
            }
            Err(failure) => {
                eprintln!("{}", failure.0.render(&cli.program));
                out(&report::compile_settings(None));
                ExitCode::from(1)
            }
        },
        Mode::ListDirectives => match checked(cli) {
            Some(loaded) => {
                out(&report::directives(&loaded.config.read));
                ExitCode::SUCCESS
            }
            None => ExitCode::from(1),
        },
        Mode::Test => test(cli),
        Mode::Run => {
            let Some(loaded) = checked(cli) else {
                return ExitCode::from(1);
            };
            for pending in &loaded.config.pending {
                eprintln!(
                    "{}",
                    log::line(
                        "core",
                        "warn",
                        &format!(
                            "{} on line {} of {} is accepted but its effect is not implemented yet",
                            pending.directive, pending.origin.line, pending.origin.file
                        )
                    )
                );
            }
            serve(cli, loaded)
        }
    }
}

/// Starts serving: in the foreground for `-X`, `-D FOREGROUND` and `-D NO_DETACH`.
fn serve(cli: &Cli, loaded: Loaded) -> ExitCode {
    let has = |name: &str| cli.defines.iter().any(|d| d == name);
    if let Some(verb) = &cli.signal {
        eprintln!(
            "{}: -k {verb} is not implemented yet (it lands with the MPMs)",
            cli.program
        );
        return ExitCode::from(1);
    }
    if !(has("DEBUG") || has("FOREGROUND") || has("NO_DETACH")) {
        eprintln!(
            "{}: running as a daemon is not implemented yet (it lands with the MPMs); start with -X or -D FOREGROUND",
            cli.program
        );
        return ExitCode::from(1);
    }
    let mpm = loaded
        .config
        .read
        .mpm()
        .and_then(|m| m.mpm_name())
        .unwrap_or("event");
    let (sizing, _) = loaded.config.mpm.sizing(mpm);
    let workers = if has("DEBUG") && mpm == "prefork" {
        1
    } else {
        sizing.threads_per_child.max(1) as usize
    };
    let runtime = match rhttpd::runtime::Runtime::build(loaded.config, &cli.program) {
        Ok(rt) => std::sync::Arc::new(rt),
        Err(text) => {
            eprintln!("{text}");
            return ExitCode::from(1);
        }
    };
    let listeners = match rhttpd::server::bind_listeners(&runtime) {
        Ok(l) => l,
        Err(text) => {
            eprintln!("{text}");
            return ExitCode::from(1);
        }
    };
    // -X is one process with one worker whatever the MPM; prefork otherwise forks its pool.
    // worker and event run in one process until their own MPMs land.
    let served = if mpm == "prefork" && !has("DEBUG") {
        rhttpd::mpm::prefork::run(runtime, listeners, &sizing)
    } else {
        rhttpd::server::run_foreground(runtime, listeners, workers)
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{}: {err}", cli.program);
            ExitCode::from(1)
        }
    }
}

/// Loads the configuration and prints every startup message Apache prints on the way
/// (read and walk warnings, MPM clamping, AH00558); `None` after printing the error.
fn checked(cli: &Cli) -> Option<Loaded> {
    let mut log = StartupLog::new(cli);
    let dump_includes = cli.defines.iter().any(|d| d == "DUMP_INCLUDES");
    match load(cli) {
        Ok(loaded) => {
            if dump_includes {
                out(&report::includes(&loaded.config.read));
            }
            loaded
                .config
                .read
                .warnings
                .iter()
                .for_each(|w| log.early(w));
            loaded.config.warnings.iter().for_each(|w| log.applied(w));
            // Apache settles the server name (post_config) before the MPM checks its sizing.
            let (_, name_warning) = config::vhost::main_server_name(&loaded.config, &cli.program);
            if let Some(warning) = name_warning {
                log.bare("alert", &warning);
            }
            let mpm = loaded
                .config
                .read
                .mpm()
                .and_then(|m| m.mpm_name())
                .unwrap_or("event");
            let (_, clamps) = loaded.config.mpm.sizing(mpm);
            clamps.iter().for_each(|w| log.bare("warn", w));
            Some(loaded)
        }
        Err(failure) => {
            let (err, state, applied) = *failure;
            if dump_includes {
                out(&report::includes(&state));
            }
            state.warnings.iter().for_each(|w| log.early(w));
            applied.iter().for_each(|w| log.applied(w));
            log.error(&err.render(&cli.program));
            None
        }
    }
}

fn test(cli: &Cli) -> ExitCode {
    let Some(loaded) = checked(cli) else {
        return ExitCode::from(1);
    };
    let has = |name: &str| cli.defines.iter().any(|d| d == name);
    let mut dumped = has("DUMP_INCLUDES");
    if has("DUMP_VHOSTS") {
        let (main_name, _) = config::vhost::main_server_name(&loaded.config, &cli.program);
        let mut warnings = Vec::new();
        out(&config::vhost::dump_vhosts(
            &loaded.config,
            &main_name,
            &mut warnings,
        ));
        for warning in warnings {
            eprintln!("{warning}");
        }
        dumped = true;
    }
    if has("DUMP_RUN_CFG") {
        out(&report::run_settings(&loaded.config));
        dumped = true;
    }
    if has("DUMP_MODULES") {
        out(&report::loaded_modules(&loaded.config.read));
        dumped = true;
    }
    if !dumped {
        eprintln!("Syntax OK");
    }
    // The process ends here: freeing a large configuration piece by piece only costs time.
    std::mem::forget(loaded);
    ExitCode::SUCCESS
}
