//! The string and number helpers several modules share, each reproducing the APR or httpd
//! function of the same name byte for byte: wildcard matching, URL and HTML escaping, civil
//! dates, IP subnets. Pure functions on bytes and numbers; nothing here does I/O or knows a
//! directive.
//!
//! They live in this crate because both it (the expression evaluator, directive checks) and
//! the binary need them, and the binary depends on this crate, never the other way round.

pub mod civil;
pub mod escape;
pub mod fnmatch;
pub mod raw_text;
pub mod subnet;
