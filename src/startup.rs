//! Which startup messages are shown and how: on standard error (the `-E` file once `-E` is given), the
//! read-phase and MPM messages filtered by `-e LEVEL` (default warn), as Apache filters them
//! before any LogLevel of the configuration applies.

use std::io::{self, Write};

use rhttpd_directives::model::Warning;

use crate::cli::Cli;
use crate::log;

/// Apache's log levels, most severe first (`LogLevel`, `-e`).
pub const LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1", "trace2",
    "trace3", "trace4", "trace5", "trace6", "trace7", "trace8",
];

/// The position of a level keyword in [`LEVELS`].
pub fn level_index(level: &str) -> Option<usize> {
    LEVELS.iter().position(|l| l.eq_ignore_ascii_case(level))
}

/// The startup message sink: standard error (which `-E` has already pointed at its file).
pub struct StartupLog {
    threshold: usize,
}

impl StartupLog {
    pub fn new(cli: &Cli) -> StartupLog {
        StartupLog {
            threshold: cli
                .error_level
                .as_deref()
                .and_then(level_index)
                .unwrap_or(4),
        }
    }

    fn write(&mut self, text: &str) {
        let _ = writeln!(io::stderr(), "{text}");
    }

    /// A message from before the configuration is applied: subject to `-e`.
    pub fn early(&mut self, warning: &Warning) {
        if level_index(warning.level).is_some_and(|l| l <= self.threshold) {
            let text = render(warning);
            self.write(&text);
        }
    }

    /// A message from applying the configuration: shown at the default LogLevel (warn), and
    /// notices always, as Apache shows them.
    pub fn applied(&mut self, warning: &Warning) {
        if level_index(warning.level).is_some_and(|l| l <= 5) {
            let text = render(warning);
            self.write(&text);
        }
    }

    /// A bare startup message (AH00558, MPM clamping) at `level`, subject to `-e`.
    pub fn bare(&mut self, level: &str, text: &str) {
        if level_index(level).is_some_and(|l| l <= self.threshold) {
            self.write(text);
        }
    }

    /// An error: always shown.
    pub fn error(&mut self, text: &str) {
        self.write(text);
    }
}

fn render(warning: &Warning) -> String {
    if warning.startup {
        warning.text.clone()
    } else {
        log::line(warning.module, warning.level, &warning.text)
    }
}
