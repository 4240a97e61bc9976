//! inotify(7) for the cache of merged per-directory configurations: the directories whose
//! `.htaccess` files a merge looked for are watched, so a remembered merge is reused without
//! a stat per file and per request while nothing in them changed.
//!
//! One inotify instance per process (a forked child opens its own: a shared one would hand one
//! child's events to another); prefork children do without (see `do_without`). Every change
//! seen bumps a generation; a merge verified at the current generation, with all its
//! directories watched, is still good.

use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// The instance: -1 not opened yet, -2 unavailable (the cache then stats as before).
static FD: AtomicI32 = AtomicI32::new(-1);
/// Bumped whenever a watched directory reports a change.
static CHANGES: AtomicU64 = AtomicU64::new(0);
/// Threads reading the instance now: one that finds nothing while another is between its
/// read and its bump cannot trust the generation.
static DRAINING: AtomicUsize = AtomicUsize::new(0);
/// Directories watched, kept well under the per-user limit other programs share.
static WATCHED: AtomicUsize = AtomicUsize::new(0);
const MAX_WATCHED: usize = 1024;
/// The names of the files looked for in the watched directories (`.htaccess` and whatever
/// else AccessFileName names): a file of another name written there changes nothing.
static NAMES: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// What a change to an entry of a watched directory (or to the directory itself) is.
const CHANGE_MASK: u32 = libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_CLOSE_WRITE
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

/// Drops the instance inherited over a fork (the child opens its own when it first needs one).
pub fn forget_after_fork() {
    let old = FD.swap(-1, Ordering::SeqCst);
    if old >= 0 {
        // SAFETY: the descriptor is the parent's instance, owned by nothing else in the child.
        unsafe {
            libc::close(old);
        }
    }
    WATCHED.store(0, Ordering::SeqCst);
    CHANGES.fetch_add(1, Ordering::SeqCst);
}

/// Does without inotify in this process: its merges are stat'ed on every request, as Apache
/// does. For prefork, whose many single-threaded children would each take one of the
/// instances the kernel allows a user (128 by default), starving other programs of that user.
pub fn do_without() {
    forget_after_fork();
    FD.store(-2, Ordering::SeqCst);
}

fn instance() -> Option<RawFd> {
    match FD.load(Ordering::Acquire) {
        -2 => None,
        -1 => {
            // SAFETY: inotify_init1 takes flags only; the result is checked.
            let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
            let fd = if fd < 0 { -2 } else { fd };
            match FD.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => (fd >= 0).then_some(fd),
                Err(other) => {
                    if fd >= 0 {
                        // SAFETY: this thread's own instance lost the race; nothing else has it.
                        unsafe {
                            libc::close(fd);
                        }
                    }
                    (other >= 0).then_some(other)
                }
            }
        }
        fd => Some(fd),
    }
}

/// Watches `dir` for changes to its entries, among them the file named `name`; false when
/// it cannot be (it does not exist, the limit is reached, or inotify is unavailable).
pub fn watch_dir(dir: &Path, name: &std::ffi::OsStr) -> bool {
    let Some(fd) = instance() else {
        return false;
    };
    if WATCHED.load(Ordering::Relaxed) >= MAX_WATCHED {
        return false;
    }
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: path is a NUL-terminated string alive for the call.
    let wd = unsafe { libc::inotify_add_watch(fd, path.as_ptr(), CHANGE_MASK) };
    if wd < 0 {
        return false;
    }
    // Adding a directory already watched returns its descriptor again; counting it twice only
    // reaches the cap sooner.
    WATCHED.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut names) = NAMES.lock() {
        if !names.iter().any(|n| n.as_slice() == name.as_bytes()) {
            names.push(name.as_bytes().to_vec());
        }
    }
    true
}

/// Whether the events read (whole `inotify_event` records) can change what a merge found:
/// anything but an entry of another name than those looked for being created, written or
/// having its attributes changed. A directory's own change, a rename or a removal (which
/// could put another directory or file in a path's place) and a lost queue always count.
fn relevant(events: &[u8]) -> bool {
    const HARMLESS: u32 =
        libc::IN_CREATE | libc::IN_MODIFY | libc::IN_CLOSE_WRITE | libc::IN_ATTRIB;
    let Ok(names) = NAMES.lock() else {
        return true;
    };
    let mut at = 0;
    while at + 16 <= events.len() {
        let word = |i: usize| {
            u32::from_ne_bytes(events[at + i..at + i + 4].try_into().unwrap_or_default())
        };
        let (mask, len) = (word(4), word(12) as usize);
        let Some(raw) = events.get(at + 16..at + 16 + len) else {
            return true;
        };
        let name = raw.split(|&b| b == 0).next().unwrap_or_default();
        // A directory created or changed in place cannot stand where a path went (that needs
        // a removal or rename first), and one that is on a path is watched itself.
        let ignorable = mask & !(HARMLESS | libc::IN_ISDIR) == 0
            && !name.is_empty()
            && !names.iter().any(|n| n.as_slice() == name);
        if !ignorable {
            return true;
        }
        at += 16 + len;
    }
    false
}

/// The generation of changes now, after reading whatever the watched directories reported;
/// `None` when it cannot be known (no instance, or another thread is reading its events).
pub fn generation() -> Option<u64> {
    let fd = match FD.load(Ordering::Acquire) {
        fd if fd >= 0 => fd,
        _ => return None,
    };
    DRAINING.fetch_add(1, Ordering::SeqCst);
    let mut changed = false;
    let mut overlapped = false;
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: the pointer and length describe `buf`; the descriptor is non-blocking.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        changed |= relevant(&buf[..n as usize]);
    }
    if changed {
        CHANGES.fetch_add(1, Ordering::SeqCst);
    } else if DRAINING.load(Ordering::SeqCst) > 1 {
        overlapped = true;
    }
    let now = CHANGES.load(Ordering::SeqCst);
    DRAINING.fetch_sub(1, Ordering::SeqCst);
    (!overlapped).then_some(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_in_a_watched_directory_moves_the_generation() {
        let dir = tempfile::tempdir().unwrap();
        let name = std::ffi::OsStr::new(".htaccess");
        assert!(watch_dir(dir.path(), name));
        // None only while another thread reads the events: ask again.
        let now = || (0..1000).find_map(|_| generation()).unwrap();
        let before = now();
        std::fs::write(dir.path().join(".htaccess"), "Options None\n").unwrap();
        let after = now();
        assert!(after > before);
        // Another file written there changes nothing; a directory renamed there does.
        std::fs::write(dir.path().join("upload.png"), "png").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(now(), after);
        std::fs::rename(dir.path().join("sub"), dir.path().join("other")).unwrap();
        assert!(now() > after);
        assert!(!watch_dir(&dir.path().join("missing"), name));
    }
}
