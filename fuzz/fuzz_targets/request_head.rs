//! Request heads: any bytes, under Strict and under Unsafe, must parse or be refused (never
//! panic), and a head that parses must account for no more bytes than it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhttpd::http1::{parse_head, Limits};

fuzz_target!(|data: &[u8]| {
    for strict in [true, false] {
        let limits = Limits {
            strict,
            field_size: 256,
            line: 512,
            ..Limits::default()
        };
        if let Ok(Some((_, used))) = parse_head(data, &limits) {
            assert!(used <= data.len());
        }
    }
});
