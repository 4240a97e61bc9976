//! rhttpd: parse the command line, run the requested mode, and map failures to Apache's
//! messages and exit codes (0 on success, 1 for any configuration or usage error).

use std::io::Write;
use std::os::fd::RawFd;
use std::process::ExitCode;

use rhttpd::cli::{usage, Cli, Mode};
use rhttpd::config::{self, load, Loaded};
use rhttpd::startup::StartupLog;
use rhttpd::{log, report};

/// Requests allocate many small, short-lived pieces on many threads: jemalloc's thread caches
/// serve them for ~8% less CPU per request than glibc's allocator (bench/cpu-per-request.sh),
/// with its settings in .cargo/config.toml.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // Taken first, before anything of the server's own is open: a daemon closes these.
    let inherited = rhttpd::sys::inherited_descriptors();
    rhttpd::modules::install_registry();
    let args: Vec<String> = std::env::args().collect();
    let program = args
        .first()
        .and_then(|a| a.rsplit('/').next())
        .filter(|name| !name.is_empty())
        .unwrap_or("rhttpd")
        .to_string();
    let cli = Cli::parse(&program, args.get(1..).unwrap_or(&[]));
    run(&cli, &inherited)
}

/// Prints to standard output, ignoring a closed pipe (`rhttpd -L | head`).
fn out(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

fn run(cli: &Cli, inherited: &[RawFd]) -> ExitCode {
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
            serve(cli, loaded, inherited)
        }
    }
}

/// Starts serving (after any `-k` verb): detached unless `-X`, `-D FOREGROUND` or
/// `-D NO_DETACH`, with the PidFile written for the server's lifetime, and reloading the
/// configuration on restarts.
fn serve(cli: &Cli, loaded: Loaded, inherited: &[RawFd]) -> ExitCode {
    let has = |name: &str| cli.defines.iter().any(|d| d == name);
    let pid_path = rhttpd::lifecycle::pid_file(&loaded.config);
    if let Some(verb) = &cli.signal {
        match rhttpd::lifecycle::signal_server(&cli.program, verb, &pid_path) {
            rhttpd::lifecycle::Verb::Start => {}
            rhttpd::lifecycle::Verb::Exit(code) => return ExitCode::from(code),
        }
    }
    let one_process = has("DEBUG");
    let detach = !(one_process || has("FOREGROUND") || has("NO_DETACH"));
    let replay = startup_replay(cli, &loaded, detach);
    // The piped error logger, if any, lives as long as the server.
    let mut _error_logger = None;
    // Everything that can fail at startup is tried before detaching (Apache's first pass), so
    // that a failure reaches the terminal and the exit status.
    let second_pass = detach.then(|| loaded.clone());
    let mut first = match generation(cli, loaded, &[], &mut _error_logger) {
        Ok(first) => first,
        Err(text) => {
            // On the terminal, or in the error log if it was open by then (a failure already
            // logged as a log line brings no text).
            if !text.is_empty() {
                eprintln!("{text}");
            }
            return ExitCode::from(1);
        }
    };
    if let Some(loaded) = second_pass {
        if let Err(err) = rhttpd::lifecycle::detach() {
            eprintln!("{}: {err}", cli.program);
            return ExitCode::from(1);
        }
        rhttpd::sys::close_descriptors(inherited);
        // Apache's second pass: the daemon opens its logs again itself, so that its piped
        // loggers are its own children (those of the first pass see their pipes close and
        // end); the sockets are kept.
        first = match generation(cli, loaded, &first.listeners, &mut _error_logger) {
            Ok(second) => second,
            Err(text) => {
                if !text.is_empty() {
                    eprintln!("{text}");
                }
                return ExitCode::from(1);
            }
        };
    }
    // Apache reads its configuration a second time with the error log open: what it said on
    // the terminal is said again there, and its modules' post_config says again what it said
    // (a daemon's second generation has said it already).
    for message in &replay {
        match message {
            Replayed::Line(warning) => log::error(warning.module, warning.level, &warning.text),
            Replayed::Bare(level, text) => log::bare(level, text),
        }
    }
    if !detach {
        rhttpd::modules::mime_magic::log_again(&first.rt);
        first.rt.log_remoteip_settings();
    }
    // The handlers are in place before the PidFile names this process: a `-k graceful` sent
    // the moment it appears must restart the server, not end it (SIGUSR1's default action).
    rhttpd::sys::process::install_parent_handlers();
    if let Err(err) = rhttpd::lifecycle::write_pid(&pid_path) {
        let text = format!("AH00100: could not create {}: {err}", pid_path.display());
        log::error("core", "error", &text);
        return ExitCode::from(1);
    }
    let served = rhttpd::mpm::run(first, one_process, |previous| {
        let loaded = checked_again(cli, &previous.shape)
            .ok_or("the configuration has errors (see above)")?;
        generation(cli, loaded, &previous.listeners, &mut _error_logger)
    });
    let _ = std::fs::remove_file(&pid_path);
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{}: {err}", cli.program);
            ExitCode::from(1)
        }
    }
}

/// A startup message said again in the error log.
enum Replayed {
    /// A directive's warning, as a log line.
    Line(rhttpd_directives::model::Warning),
    /// A bare startup message (AH00558) at its level.
    Bare(&'static str, String),
}

/// The messages of the configuration's second reading, in Apache's order: the directives'
/// warnings, the server name guess, the MPM's sizing (in the wording it uses once running);
/// for a daemon only those of the reading itself.
fn startup_replay(cli: &Cli, loaded: &Loaded, detach: bool) -> Vec<Replayed> {
    let config = &loaded.config;
    let as_replayed = |w: &rhttpd_directives::model::Warning| match w.startup {
        true => Replayed::Bare(w.level, w.text.clone()),
        false => Replayed::Line(w.clone()),
    };
    let mut replay: Vec<Replayed> = config.read.warnings.iter().map(as_replayed).collect();
    // A daemon detaches right after that reading (Apache's pre_config), its standard error
    // going to /dev/null until the logs open again: what the rest of the second pass says
    // reaches no log.
    if detach {
        return replay;
    }
    replay.extend(config.warnings.iter().map(as_replayed));
    if let (_, Some(warning)) = config::vhost::main_server_name(config, &cli.program) {
        replay.push(Replayed::Bare("alert", warning));
    }
    replay.extend(
        config::vhost::unresolved_vhost_names(config)
            .into_iter()
            .map(Replayed::Line),
    );
    let mpm = config
        .read
        .mpm()
        .and_then(|m| m.mpm_name())
        .unwrap_or("event");
    let module = rhttpd::mpm::Kind::from_name(Some(mpm)).module();
    let (_, clamps) = config.mpm.sizing_on_restart(mpm);
    replay.extend(clamps.into_iter().map(|text| {
        Replayed::Line(rhttpd_directives::model::Warning {
            module,
            level: "warn",
            startup: false,
            text,
        })
    }));
    replay
}

/// Everything one generation serves with: the runtime built from `loaded`, its MPM shape, the
/// listening sockets (those in `open` kept where the addresses match), and its logs open (the
/// ErrorLog made standard error, its piped logger kept in `error_logger`).
fn generation(
    cli: &Cli,
    loaded: Loaded,
    open: &[std::net::TcpListener],
    error_logger: &mut Option<std::sync::Arc<rhttpd::piped_log::PipedLogger>>,
) -> Result<rhttpd::mpm::Generation, String> {
    use rhttpd::mpm::{Kind, Shape};
    let kind = Kind::from_name(loaded.config.read.mpm().and_then(|m| m.mpm_name()));
    let (sizing, _) = loaded.config.mpm.sizing(kind.name());
    let shape = Shape::new(kind, &sizing, &loaded.config.mpm);
    let main = loaded.config.main_server();
    let log_level = main
        .dir
        .modules
        .get::<rhttpd_directives::core_config::Dir>()
        .map_or(&[][..], |core| &core.log_level[..]);
    log::configure(
        main.modules
            .get::<rhttpd_directives::core_config::ServerConf>(),
        log_level,
    );
    let mut runtime = rhttpd::runtime::Runtime::build(loaded.config, &cli.program)?;
    if runtime.module_loaded("info_module") {
        runtime.conf_tree = loaded.trees.concat();
    }
    // Apache's order: the sockets (a bind failure still reaches the terminal), then the error
    // log becomes standard error, then the other logs (piped loggers started now write their
    // own errors to the new error log), then what modules do once logs are open.
    let listeners = rhttpd::server::bind_listeners(&runtime, open)?;
    *error_logger = log::open_error_log(&runtime.config, &cli.program)?;
    runtime.open_logs(&cli.program)?;
    runtime.post_config()?;
    Ok(rhttpd::mpm::Generation {
        rt: std::sync::Arc::new(runtime),
        shape,
        listeners: std::sync::Arc::new(listeners),
    })
}

/// Loads the configuration and prints every startup message Apache prints on the way
/// (read and walk warnings, MPM clamping, AH00558); `None` after printing the error.
fn checked(cli: &Cli) -> Option<Loaded> {
    checked_with(cli, None)
}

/// The same on a restart: ServerLimit and ThreadLimit keep the values the server started with
/// (its scoreboard was sized by them), with Apache's warning when the configuration changed
/// them, before the other limits are clamped to them.
fn checked_again(cli: &Cli, previous: &rhttpd::mpm::Shape) -> Option<Loaded> {
    checked_with(cli, Some(previous))
}

fn checked_with(cli: &Cli, previous: Option<&rhttpd::mpm::Shape>) -> Option<Loaded> {
    let mut log = StartupLog::new(cli);
    let dump_includes = cli.defines.iter().any(|d| d == "DUMP_INCLUDES");
    match load(cli) {
        Ok(mut loaded) => {
            if dump_includes {
                out(&report::includes(&loaded.config.read));
            }
            // mod_info's check_config: the configuration as read.
            let info = loaded
                .config
                .read
                .modules
                .iter()
                .any(|m| m.id == "info_module");
            if info && cli.defines.iter().any(|d| d == "DUMP_CONFIG") {
                out(&rhttpd::modules::info::dump_config(&loaded.trees.concat()));
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
            for warning in config::vhost::unresolved_vhost_names(&loaded.config) {
                log.applied(&warning);
            }
            if let Some(previous) = previous {
                keep_limits(&mut loaded, previous);
            }
            let mpm = loaded
                .config
                .read
                .mpm()
                .and_then(|m| m.mpm_name())
                .unwrap_or("event");
            if previous.is_some() {
                // A restart words them for the error log.
                let module = rhttpd::mpm::Kind::from_name(Some(mpm)).module();
                let (_, clamps) = loaded.config.mpm.sizing_on_restart(mpm);
                clamps.iter().for_each(|w| log::error(module, "warn", w));
            } else {
                let (_, clamps) = loaded.config.mpm.sizing(mpm);
                clamps.iter().for_each(|w| log.bare("warn", w));
            }
            Some(loaded)
        }
        Err(failure) => {
            let (err, state, applied) = *failure;
            if dump_includes {
                out(&report::includes(&state));
            }
            state.warnings.iter().for_each(|w| log.early(w));
            applied.iter().for_each(|w| log.applied(w));
            if let config::LoadError::AfterServerName {
                name_warning: Some(warning),
                ..
            } = &err
            {
                log.bare("alert", warning);
            }
            log.error(&err.render(&cli.program));
            None
        }
    }
}

/// ServerLimit and ThreadLimit as `previous` had them, with Apache's warning for each the
/// configuration tried to change (same MPM only).
fn keep_limits(loaded: &mut Loaded, previous: &rhttpd::mpm::Shape) {
    use rhttpd::mpm::Kind;
    let kind = Kind::from_name(loaded.config.read.mpm().and_then(|m| m.mpm_name()));
    if kind != previous.kind {
        return;
    }
    let (sizing, _) = loaded.config.mpm.sizing(kind.name());
    let mpm = &mut loaded.config.mpm;
    let (server_id, thread_id) = match kind {
        Kind::Prefork => (179, None),
        Kind::Worker => (304, Some(309)),
        Kind::Event => (501, Some(506)),
    };
    let mut limits = vec![(
        "ServerLimit",
        server_id,
        sizing.server_limit,
        previous.server_limit,
        &mut mpm.server_limit,
    )];
    if let Some(thread_id) = thread_id {
        limits.push((
            "ThreadLimit",
            thread_id,
            sizing.thread_limit,
            previous.thread_limit,
            &mut mpm.thread_limit,
        ));
    }
    for (name, id, wanted, kept, setting) in limits {
        if wanted as usize != kept {
            let text = format!(
                "AH{id:05}: changing {name} to {wanted} from original value of {kept} not \
                 allowed during restart"
            );
            log::error(kind.module(), "warn", &text);
            *setting = Some(kept as i64);
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
