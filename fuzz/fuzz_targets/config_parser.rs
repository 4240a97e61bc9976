//! Configuration text: any input must parse into a tree or give an error, never panic, and
//! an error names a line of the text (or the one after its end).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(error) = rhttpd_parser::parse(&text, "fuzz.conf") {
        assert!(error.line as usize <= text.lines().count() + 1);
    }
});
