//! Loading a configuration the way Apache does: `-C` lines, the main file (read phase with
//! Include, Define, `<If*>` and LoadModule), the MPM check, `-c` lines, then one walk of the
//! whole tree through the directive registry, then the post-config checks.

pub mod read;
pub mod vhost;

use std::path::{Path, PathBuf};

use rhttpd_directives::model::{Config, ReadState, Warning};
use rhttpd_directives::{apply, WalkError};

use crate::modules::REGISTRY as ALL_MODULES;

use crate::build_info::{EMBEDDED_SAMPLE_CONFIG, HTTPD_ROOT, SERVER_CONFIG_FILE};
use crate::cli::Cli;
use read::Reader;
use rhttpd_directives::model::canonical_path;

/// Why a configuration could not be loaded, in the form Apache prints it.
#[derive(Debug)]
pub enum LoadError {
    /// Read-phase error: printed as `PROGRAM: MESSAGE`.
    Read(String),
    /// Walk-phase error: `AH00526: Syntax error on line N of FILE:` then the message.
    Walk(WalkError),
    /// A line printed as is (AH00534, post-config checks).
    Plain(String),
    /// A check of the open_logs stage (a log's directory), which Apache runs after it has
    /// settled the server name: that warning (AH00558), if any, goes out first.
    AfterServerName {
        name_warning: Option<String>,
        text: String,
    },
}

impl LoadError {
    /// The text for standard error, without a final newline.
    pub fn render(&self, program: &str) -> String {
        match self {
            LoadError::Read(message) => format!("{program}: {}", escape_log(message.as_bytes())),
            LoadError::Walk(err) => format!(
                "AH00526: Syntax error on line {} of {}:\n{}",
                err.origin.line,
                err.origin.file,
                escape_log(err.message.as_bytes())
            ),
            LoadError::Plain(text) | LoadError::AfterServerName { text, .. } => text.clone(),
        }
    }
}

/// Apache's error-log escaping of a message (`ap_escape_errorlog_item`): a backslash is
/// doubled, `\b \n \r \t \v` are named, other control bytes and bytes with the top bit set
/// become `\xhh`; double quotes stay.
pub fn escape_log(message: &[u8]) -> String {
    let mut out = String::with_capacity(message.len());
    crate::modules::log_config::escape_log_bytes(message, &mut out, false);
    out
}

/// A loaded configuration, with the syntax trees it was built from (`-C` lines, main file,
/// `-c` lines), which later stages (`.htaccess`, dumps) can walk again.
#[derive(Clone)]
pub struct Loaded {
    pub config: Config,
    pub trees: [Vec<rhttpd_parser::Node>; 3],
}

/// A failed load: the error, the read state reached (for `DUMP_INCLUDES` and its warnings),
/// and the warnings applying the configuration gave before the error.
pub type Failure = Box<(LoadError, ReadState, Vec<Warning>)>;

/// The initial ServerRoot: `-d`, else the compiled-in one, made absolute.
fn initial_server_root(cli: &Cli) -> PathBuf {
    let root = cli
        .server_root
        .clone()
        .unwrap_or_else(|| HTTPD_ROOT.to_string());
    let root = PathBuf::from(root);
    if root.is_absolute() {
        canonical_path(&root)
    } else {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        canonical_path(&cwd.join(root))
    }
}

/// The read state before any file: `-D` names, static modules, ServerRoot.
pub fn initial_state(cli: &Cli) -> ReadState {
    let mut state = ReadState {
        server_root: initial_server_root(cli),
        ..ReadState::default()
    };
    for name in &cli.defines {
        state.define(name, None);
    }
    state.modules = ALL_MODULES.iter().copied().filter(|m| m.builtin).collect();
    state
}

/// Reads, checks and walks the configuration the command line names.
pub fn load(cli: &Cli) -> Result<Loaded, Failure> {
    crate::modules::install_registry();
    // A reload starts afresh: Apache's regex options, no registered methods, no filter
    // protocol flags.
    rhttpd_directives::reset_read_state();
    crate::modules::filter::reset_provider_flags();
    let mut state = initial_state(cli);
    let mut reader = Reader::new(&mut state);
    let fail =
        |err: LoadError, state: &mut ReadState| Box::new((err, std::mem::take(state), Vec::new()));

    let (mut pre, mut post) = (Vec::new(), Vec::new());
    if !cli.pre_directives.is_empty() {
        match reader.read_command_lines(&cli.pre_directives) {
            Ok(nodes) => pre = nodes,
            Err(message) => return Err(fail(LoadError::Read(message), reader.state)),
        }
    }
    let wanted = cli
        .config_file
        .clone()
        .unwrap_or_else(|| SERVER_CONFIG_FILE.to_string());
    let config_file = reader.state.server_root_relative(&wanted);
    let main = if cli.config_file.is_none() && !config_file.exists() {
        eprintln!(
            "{}: {} does not exist; using the embedded sample configuration",
            cli.program,
            config_file.display()
        );
        // The sample's `ServerRoot "."` means where rhttpd runs (the compiled-in root that
        // has no configuration is not one to serve from), unless -d names another.
        if cli.server_root.is_none() {
            if let Ok(here) = std::env::current_dir() {
                reader.state.server_root = here;
            }
        }
        read_embedded(&mut reader)
    } else {
        reader.read_file(&config_file)
    };
    let main = match main {
        Ok(nodes) => nodes,
        Err(message) => return Err(fail(LoadError::Read(message), reader.state)),
    };
    let mpms = reader
        .state
        .modules
        .iter()
        .filter(|m| m.mpm_name().is_some())
        .count();
    if mpms != 1 {
        let what = if mpms == 0 {
            "No MPM loaded."
        } else {
            "More than one MPM loaded."
        };
        let text = format!("AH00534: {}: Configuration error: {what}", cli.program);
        return Err(fail(LoadError::Plain(text), reader.state));
    }
    if !cli.post_directives.is_empty() {
        match reader.read_command_lines(&cli.post_directives) {
            Ok(nodes) => post = nodes,
            Err(message) => return Err(fail(LoadError::Read(message), reader.state)),
        }
    }
    let mut config = Config {
        read: state,
        ..Config::default()
    };
    config.skip_document_root_check = cli.skip_docroot_check;
    if let Err(err) = apply(&mut config, &[&pre, &main, &post]) {
        let read = std::mem::take(&mut config.read);
        return Err(Box::new((LoadError::Walk(err), read, config.warnings)));
    }
    if let Err(text) = check_run_as(&config, &cli.program) {
        let read = std::mem::take(&mut config.read);
        return Err(Box::new((LoadError::Plain(text), read, config.warnings)));
    }
    if let Err(text) = check_log_dirs(&config) {
        let (_, name_warning) = vhost::main_server_name(&config, &cli.program);
        let read = std::mem::take(&mut config.read);
        let err = LoadError::AfterServerName { name_warning, text };
        return Err(Box::new((err, read, config.warnings)));
    }
    Ok(Loaded {
        config,
        trees: [pre, main, post],
    })
}

fn read_embedded(reader: &mut Reader<'_>) -> Result<Vec<rhttpd_parser::Node>, String> {
    let name = "(embedded sample-httpd.conf)";
    let mut builder =
        rhttpd_parser::Builder::new(EMBEDDED_SAMPLE_CONFIG, std::sync::Arc::from(name));
    builder.build(reader).map_err(|err| {
        format!(
            "Syntax error on line {} of {}: {}",
            err.line, name, err.message
        )
    })
}

/// When the directory a log file is to be created in cannot be used: the errno text and the
/// directory as Apache names it (with its trailing slash).
pub fn inaccessible_parent(path: &Path) -> Option<(String, String)> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let cause = match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return None,
        Ok(_) => "(20)Not a directory".to_string(),
        Err(err) => read::errno_text(&err),
    };
    let shown = dir.to_string_lossy().into_owned();
    let shown = if shown.ends_with('/') {
        shown
    } else {
        shown + "/"
    };
    Some((cause, shown))
}

/// User and Group, which mod_unixd resolves as it reads them.
fn check_run_as(config: &Config, program: &str) -> Result<(), String> {
    // mod_unixd resolves User and Group names as it reads them; an unknown one ends the run.
    if let Some(user) = config.run_as.user.as_deref() {
        if !user.starts_with('#') && crate::sys::uid_of(user).is_none() {
            return Err(format!("AH00543: {program}: bad user name {user}"));
        }
    }
    if let Some(group) = config.run_as.group.as_deref() {
        if !group.starts_with('#') && crate::sys::gid_of(group).is_none() {
            return Err(format!("AH00544: {program}: bad group name {group}"));
        }
    }
    Ok(())
}

/// The checks Apache runs after the walk (open_logs and check_config hooks) that `-t`
/// reports: the directory of every log file.
fn check_log_dirs(config: &Config) -> Result<(), String> {
    // core's check_config: the directory of every error log that is a file, each server's
    // own (a virtual host without an ErrorLog line is not looked at again); all are reported.
    let mut failures = Vec::new();
    for (index, server) in config.servers.iter().enumerate() {
        let error_log = match (index, &server.error_log) {
            (0, value) => value
                .clone()
                .unwrap_or_else(|| crate::build_info::DEFAULT_ERRORLOG.to_string()),
            (_, Some(value)) => value.clone(),
            (_, None) => continue,
        };
        if error_log.starts_with('|') || error_log == "syslog" || error_log.starts_with("syslog:") {
            continue;
        }
        let path = config.read.server_root_relative(&error_log);
        if let Some((cause, dir)) = inaccessible_parent(&path) {
            let what = match &server.origin {
                Some(origin) if index > 0 => format!(
                    "error log of vhost defined at {}:{}",
                    origin.file, origin.line
                ),
                _ => "main error log".to_string(),
            };
            failures.push(format!(
                "{cause}: AH02291: Cannot access directory '{dir}' for {what}"
            ));
        }
    }
    // mod_log_config's check runs only when core's passed.
    if failures.is_empty() {
        failures = crate::modules::log_config::inaccessible_log_dirs(config);
    }
    if !failures.is_empty() {
        failures.push("AH00014: Configuration check failed".to_string());
        return Err(failures.join("\n"));
    }
    Ok(())
}
