//! RegexDefaultOptions: the options every configuration regex is compiled with (Apache's
//! `ap_regcomp` defaults), DOTALL and DOLLAR_ENDONLY unless the configuration says otherwise.
//! Process-wide, as Apache's are: set while the configuration is read. [`crate::regex`]
//! applies them.

use std::sync::atomic::{AtomicU32, Ordering};

pub const ICASE: u32 = 0x01;
pub const DOTALL: u32 = 0x40;
pub const DOLLAR_ENDONLY: u32 = 0x200;
/// Apache's default.
pub const DEFAULT: u32 = DOTALL | DOLLAR_ENDONLY;

static FLAGS: AtomicU32 = AtomicU32::new(DEFAULT);

pub fn get() -> u32 {
    FLAGS.load(Ordering::Relaxed)
}

pub fn set(flags: u32) {
    FLAGS.store(flags, Ordering::Relaxed);
}

/// The option an Apache name stands for (`EXTENDED` is unknown to Apache too: its value is 0).
pub fn by_name(name: &str) -> Option<u32> {
    match name.to_ascii_uppercase().as_str() {
        "ICASE" => Some(ICASE),
        "DOTALL" => Some(DOTALL),
        "DOLLAR_ENDONLY" => Some(DOLLAR_ENDONLY),
        _ => None,
    }
}
