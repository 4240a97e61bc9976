//! Apache's reliable piped logs, for ErrorLog and CustomLog `|program`: the parent creates the
//! pipe and keeps its reading end, so when the logger process dies it starts another on the
//! same pipe, and every child goes on writing to the descriptor it inherited.

use std::io::{PipeReader, PipeWriter};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};

/// One piped logger: the command, the pipe, and the process reading it now.
pub struct PipedLogger {
    command: String,
    /// `|$command`: run through the shell; `|command` / `||command`: run directly.
    shell: bool,
    reader: PipeReader,
    writer: PipeWriter,
    process: Mutex<Option<Child>>,
    /// Where the program runs: ServerRoot, as Apache runs it (relative paths in its command
    /// line are ServerRoot's).
    dir: PathBuf,
    /// The main server's ErrorLog: its program's standard error is the server's standard
    /// output, not its standard error (the pipe to the previous error logger, whose program
    /// would then never see the end of its input and outlive every restart).
    stderr_to_stdout: bool,
}

/// Every logger started in this process, for the parent's revival pass.
static LOGGERS: Mutex<Vec<Weak<PipedLogger>>> = Mutex::new(Vec::new());

impl PipedLogger {
    /// Parses `|prog args`, `||prog args` or `|$shell command` and starts the logger, its
    /// errors going to the error log.
    pub fn spawn(destination: &str, dir: &Path) -> std::io::Result<Arc<PipedLogger>> {
        PipedLogger::spawn_with(destination, dir, false)
    }

    /// The same for the main server's ErrorLog, whose program writes its errors where the
    /// server's standard output goes (Apache's "dummy stderr").
    pub fn spawn_error_log(destination: &str, dir: &Path) -> std::io::Result<Arc<PipedLogger>> {
        PipedLogger::spawn_with(destination, dir, true)
    }

    fn spawn_with(
        destination: &str,
        dir: &Path,
        stderr_to_stdout: bool,
    ) -> std::io::Result<Arc<PipedLogger>> {
        let command = destination.strip_prefix('|').unwrap_or(destination);
        let (shell, command) = match command.strip_prefix('$') {
            Some(rest) => (true, rest.trim()),
            None => (false, command.strip_prefix('|').unwrap_or(command).trim()),
        };
        let (reader, writer) = std::io::pipe()?;
        let logger = Arc::new(PipedLogger {
            command: command.to_string(),
            shell,
            reader,
            writer,
            process: Mutex::new(None),
            dir: dir.to_path_buf(),
            stderr_to_stdout,
        });
        let process = logger.start()?;
        if let Ok(mut slot) = logger.process.lock() {
            *slot = Some(process);
        }
        if let Ok(mut all) = LOGGERS.lock() {
            all.retain(|l| l.strong_count() > 0);
            all.push(Arc::downgrade(&logger));
        }
        Ok(logger)
    }

    fn start(&self) -> std::io::Result<Child> {
        let input = self.reader.try_clone()?;
        let mut command = if self.shell {
            let mut c = Command::new("/bin/sh");
            c.args(["-c", &self.command]);
            c
        } else {
            let mut words = self.command.split_whitespace();
            let program = words
                .next()
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
            let mut c = Command::new(program);
            c.args(words);
            c
        };
        if self.stderr_to_stdout {
            let stdout = std::io::stdout().as_fd().try_clone_to_owned()?;
            command.stderr(Stdio::from(stdout));
        }
        command
            .current_dir(&self.dir)
            .stdin(Stdio::from(input))
            .spawn()
    }

    /// The pipe's writing end: where records go.
    pub fn writer(&self) -> &PipeWriter {
        &self.writer
    }

    /// The program as configured, without the pipe sign (for messages).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Starts the logger again if its process has ended; whether it did.
    fn revive(&self) -> bool {
        let Ok(mut slot) = self.process.lock() else {
            return false;
        };
        let gone = match slot.as_mut() {
            Some(process) => match process.try_wait() {
                Ok(None) => false,
                Ok(Some(_)) => true,
                // Not a child of this process (it was started before the server detached, or
                // the parent's own wait reaped it): gone only if no such process is left.
                Err(_) => !crate::sys::process::signal(process.id() as i32, 0),
            },
            None => true,
        };
        if !gone {
            return false;
        }
        match self.start() {
            Ok(process) => {
                *slot = Some(process);
                true
            }
            Err(_) => false,
        }
    }
}

/// Restarts every piped logger whose process has died (the parent calls this once a second),
/// logging each restart as Apache does.
pub fn revive_all() {
    let loggers: Vec<Arc<PipedLogger>> = match LOGGERS.lock() {
        Ok(all) => all.iter().filter_map(Weak::upgrade).collect(),
        Err(_) => return,
    };
    for logger in loggers {
        if logger.revive() {
            let text = format!(
                "AH00106: piped log program '{}' failed unexpectedly",
                logger.command()
            );
            crate::log::error("core", "notice", &text);
        }
    }
}
