//! Memory shared between the parent and its forked children (the scoreboard's storage).

use std::io;
use std::sync::atomic::AtomicU64;

/// `len` zeroed atomics in an anonymous shared mapping, inherited across fork. Never unmapped:
/// the scoreboard lives as long as the server.
pub fn shared_atomics(len: usize) -> io::Result<&'static [AtomicU64]> {
    let bytes = len.max(1) * std::mem::size_of::<AtomicU64>();
    // SAFETY: an anonymous mapping takes no file; the result is checked before use.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the mapping is page-aligned, zero-filled (a valid AtomicU64 is any bit pattern),
    // `bytes` long, and never unmapped, so a 'static shared slice of atomics over it is sound.
    Ok(unsafe { std::slice::from_raw_parts(ptr as *const AtomicU64, len.max(1)) })
}
