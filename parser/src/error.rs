//! The error a file's read produces: Apache's message and the line it blames.

use std::fmt;

/// An error while building one file's tree. `line` is the line Apache reports in
/// `Syntax error on line N of FILE:` (the directive being executed, or the offending closer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    pub line: u32,
    pub message: String,
}

impl BuildError {
    pub fn new(line: u32, message: impl Into<String>) -> Self {
        BuildError {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for BuildError {}
