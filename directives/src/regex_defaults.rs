//! RegexDefaultOptions: the options every configuration regex is compiled with (Apache's
//! `ap_regcomp` defaults), DOTALL and DOLLAR_ENDONLY unless the configuration says otherwise.
//! Process-wide, as Apache's are: set while the configuration is read. [`crate::regex`]
//! applies them.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

pub const ICASE: u32 = 0x01;
pub const DOTALL: u32 = 0x40;
pub const DOLLAR_ENDONLY: u32 = 0x200;
/// Apache's default.
pub const DEFAULT: u32 = DOTALL | DOLLAR_ENDONLY;

static FLAGS: AtomicU32 = AtomicU32::new(DEFAULT);

thread_local! {
    /// Set by [`scoped`] while a runtime compiles what a line stored.
    static SCOPED: Cell<Option<u32>> = const { Cell::new(None) };
}

/// The options a regex compiled now gets: those of the line being compiled (see [`scoped`]),
/// else those the configuration has set so far.
pub fn get() -> u32 {
    SCOPED
        .with(Cell::get)
        .unwrap_or_else(|| FLAGS.load(Ordering::Relaxed))
}

/// Runs `compile` with `flags` as the defaults on this thread. Runtimes build from settings
/// stored while the configuration was read, after the last RegexDefaultOptions: Apache compiled
/// each regex at its own line, with the options in force there. Per thread, because .htaccess
/// files are compiled by request threads.
pub fn scoped<R>(flags: u32, compile: impl FnOnce() -> R) -> R {
    struct Restore(Option<u32>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPED.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SCOPED.with(|s| s.replace(Some(flags))));
    compile()
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
