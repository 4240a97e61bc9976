//! Memory shared between the parent and its forked children (the scoreboard's storage).

use std::io;
use std::sync::atomic::AtomicU64;

/// `len` zeroed atomics in an anonymous shared mapping, inherited across fork. Never unmapped:
/// the scoreboard lives as long as the server.
pub fn shared_atomics(len: usize) -> io::Result<&'static [AtomicU64]> {
    map(len, None)
}

/// The same over a file (ScoreBoardFile), created or emptied, so other programs can map it.
pub fn shared_atomics_in_file(
    len: usize,
    path: &std::path::Path,
) -> io::Result<&'static [AtomicU64]> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    file.set_len((len.max(1) * std::mem::size_of::<AtomicU64>()) as u64)?;
    // The mapping keeps the file's pages after the descriptor closes.
    map(len, Some(&file))
}

fn map(len: usize, file: Option<&std::fs::File>) -> io::Result<&'static [AtomicU64]> {
    use std::os::fd::AsRawFd;
    let bytes = len.max(1) * std::mem::size_of::<AtomicU64>();
    let (flags, fd) = match file {
        Some(file) => (libc::MAP_SHARED, file.as_raw_fd()),
        None => (libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1),
    };
    // SAFETY: an anonymous mapping takes no file, a file mapping an open descriptor whose
    // file is `bytes` long (freshly truncated, so zero-filled); the result is checked.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            fd,
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
