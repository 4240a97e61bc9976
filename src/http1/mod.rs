//! HTTP/1.x without I/O: request heads in, response heads out, bodies framed. Nothing here
//! reads a socket; the connection loop feeds bytes and writes what comes back.

pub mod body;
pub mod chars;
pub mod date;
pub mod encode;
pub mod fields;
pub mod number;
pub mod parse;
pub mod status;

pub use parse::{parse_head, HeadError, Headers, Limits, RequestHead, Version};
