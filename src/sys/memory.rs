//! jemalloc's control interface: an idle thread hands back the freed memory its cache holds.

/// Empties this thread's cache of freed memory into the arena, and returns the arena's unused
/// pages to the system. A thread caches what it frees for its next allocations; a request
/// finished on another thread than the one that began it (the event MPM's backend waits)
/// frees there, so without this every thread's cache would end up full and stay so while the
/// server idles. Called once a thread has waited a second for work.
pub fn release_thread_cache() {
    control(c"thread.tcache.flush");
    // MALLCTL_ARENAS_ALL: every arena.
    control(c"arena.4096.purge");
}

/// A control with no value in or out. Failure (another allocator in use, the cache turned off
/// by _RJEM_MALLOC_CONF) is no concern: there is nothing to hand back then.
fn control(name: &std::ffi::CStr) {
    // SAFETY: the name is a NUL-terminated string; these controls read and write no value,
    // so the null value pointers and zero length are what mallctl expects for them.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}
