//! What a serving thread gives back once it has waited `LET_GO_AFTER` for work: the small
//! files it keeps open (see `request::open_files`) and the freed memory its allocator cache
//! holds, so that an idle server holds what it started with.

use std::cell::Cell;

use crate::request::open_files;
pub use open_files::LET_GO_AFTER;

thread_local! {
    /// The thread has served something since it last gave back what it held.
    static SERVED: Cell<bool> = const { Cell::new(false) };
}

/// The thread has taken work: it will have something to give back once idle.
pub fn served() {
    SERVED.with(|served| served.set(true));
}

/// Whether the thread holds anything to give back.
pub fn holding() -> bool {
    open_files::kept() || SERVED.with(Cell::get)
}

/// How long a wait for work may last (ms): `LET_GO_AFTER` while the thread holds anything,
/// else `otherwise`.
pub fn wait_ms(otherwise: i32) -> i32 {
    if holding() {
        LET_GO_AFTER.as_millis() as i32
    } else {
        otherwise
    }
}

/// Gives back what the thread holds: it has waited `LET_GO_AFTER` for work.
pub fn let_go() {
    open_files::let_go();
    if SERVED.with(|served| served.replace(false)) {
        crate::sys::memory::release_thread_cache();
    }
}
