//! rhttpd as a library: the pieces the `rhttpd` binary is made of, shared with its tests.

pub mod build_info;
pub mod cli;
pub mod config;
pub mod dbm;
pub mod filters;
pub mod hooks;
pub mod http1;
pub mod lifecycle;
pub mod log;
pub mod manpage;
pub mod modules;
pub mod mpm;
pub mod piped_log;
pub mod report;
pub mod request;
pub mod runtime;
pub mod server;
pub mod startup;
pub mod sys;
pub mod u64_keys;
