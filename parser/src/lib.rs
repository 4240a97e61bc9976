//! httpd.conf syntax: physical to logical lines, Apache's word splitting, and the section tree.
//!
//! This crate knows no directive names. It turns bytes into a tree of [`Node`]s the way Apache's
//! `ap_build_config` does, and lets the caller run its execute-on-read directives (Include,
//! Define, `<IfModule>`, ...) at the exact point Apache runs them through the [`ReadPass`] hook.
#![forbid(unsafe_code)]

mod ast;
mod build;
mod error;
mod lines;
mod words;

pub use ast::Node;
pub use build::{parse, Builder, Known, NoReadPass, ReadPass};
pub use error::BuildError;
pub use lines::{LineReader, LogicalLine, MAX_LINE_HTACCESS, MAX_LINE_MAIN};
pub use words::{getword_conf, split_words};
