//! The small files each thread keeps open between requests: a file served again is read through
//! the descriptor it had, once the stat every request makes shows the path still names that
//! file, unchanged, so the request costs no open(2) and close(2). A thread that has waited for
//! work for `LET_GO_AFTER` lets them go: an idle server holds the descriptors it started with.

use std::cell::RefCell;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Files kept per thread. A miss costs what no cache costs (an open, and the close of the
/// entry it replaces), so a site with many files loses nothing.
const KEPT: usize = 8;

/// Only files up to this size are kept: open and close are a large part of serving them, and
/// a kept file deleted meanwhile holds no more disk space than this until its thread next
/// serves it or lets it go.
const KEPT_SIZE: u64 = 64 * 1024;

/// How long a thread waits for work, holding kept files, before it closes them (the MPMs' waits
/// end after this when `kept` says there are some).
pub const LET_GO_AFTER: Duration = Duration::from_secs(1);

/// What the path's stat said of the file when it was opened. Any change a later open could see
/// differently moves one of these: another file renamed into place (device, inode), a change
/// of permissions or owner (mode, uid, gid, and the change time, which also moves with ACLs
/// and links), a write (size, modification and change times).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(meta: &Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

struct Kept {
    path: PathBuf,
    identity: Identity,
    file: Arc<File>,
    /// When it was last taken, in this thread's count of lookups (the least recent goes first).
    used: u64,
}

#[derive(Default)]
struct Shelf {
    files: Vec<Kept>,
    lookups: u64,
}

thread_local! {
    static SHELF: RefCell<Shelf> = RefCell::default();
}

/// Whether this thread keeps any file open.
pub fn kept() -> bool {
    SHELF.with(|shelf| !shelf.borrow().files.is_empty())
}

/// Closes every file this thread keeps (it has been idle for `LET_GO_AFTER`).
pub fn let_go() {
    SHELF.with(|shelf| shelf.borrow_mut().files.clear());
}

/// `path` open for reading, `meta` being its stat made for this request: the descriptor this
/// thread kept if that stat shows the same file unchanged, else a new one (kept when small).
pub fn open(path: &Path, meta: &Metadata) -> io::Result<Arc<File>> {
    if !meta.is_file() || meta.len() > KEPT_SIZE {
        return File::open(path).map(Arc::new);
    }
    let identity = Identity::of(meta);
    SHELF.with(|shelf| {
        let mut shelf = shelf.borrow_mut();
        shelf.lookups += 1;
        let now = shelf.lookups;
        if let Some(at) = shelf.files.iter().position(|k| k.path == path) {
            if shelf.files[at].identity == identity {
                let kept = &mut shelf.files[at];
                kept.used = now;
                return Ok(kept.file.clone());
            }
            shelf.files.swap_remove(at);
        }
        let file = Arc::new(File::open(path)?);
        if shelf.files.len() >= KEPT {
            let oldest = (0..shelf.files.len()).min_by_key(|&i| shelf.files[i].used);
            if let Some(oldest) = oldest {
                shelf.files.swap_remove(oldest);
            }
        }
        shelf.files.push(Kept {
            path: path.to_path_buf(),
            identity,
            file: file.clone(),
            used: now,
        });
        Ok(file)
    })
}

/// `len` bytes of `file` from `offset`, fewer if it ends first. Positioned reads: a kept file's
/// descriptor is shared by every request that takes it, so none relies on its offset.
pub fn read_range(file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut content = vec![0; len as usize];
    let mut filled = 0;
    while filled < content.len() {
        match file.read_at(&mut content[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    content.truncate(filled);
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(path: &Path) -> Metadata {
        std::fs::metadata(path).unwrap()
    }

    #[test]
    fn a_file_unchanged_is_taken_again_and_a_changed_one_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "one").unwrap();
        let first = open(&path, &stat(&path)).unwrap();
        let again = open(&path, &stat(&path)).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        // Another file renamed into place: a new inode, so a new descriptor, with its bytes.
        let other = dir.path().join("b.txt");
        std::fs::write(&other, "two").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let renamed = open(&path, &stat(&path)).unwrap();
        assert!(!Arc::ptr_eq(&first, &renamed));
        assert_eq!(read_range(&renamed, 0, 3).unwrap(), b"two");
    }

    #[test]
    fn a_change_of_permissions_is_not_served_from_the_old_descriptor() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "one").unwrap();
        let first = open(&path, &stat(&path)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let after = open(&path, &stat(&path)).unwrap();
        assert!(!Arc::ptr_eq(&first, &after));
    }

    #[test]
    fn large_files_and_more_than_the_shelf_holds_are_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; KEPT_SIZE as usize + 1]).unwrap();
        let one = open(&big, &stat(&big)).unwrap();
        assert!(!Arc::ptr_eq(&one, &open(&big, &stat(&big)).unwrap()));
        let paths: Vec<PathBuf> = (0..=KEPT)
            .map(|i| {
                let path = dir.path().join(format!("{i}.txt"));
                std::fs::write(&path, "x").unwrap();
                path
            })
            .collect();
        let first = open(&paths[0], &stat(&paths[0])).unwrap();
        for path in &paths[1..] {
            open(path, &stat(path)).unwrap();
        }
        // The first was the least recently used when the ninth came.
        assert!(!Arc::ptr_eq(
            &first,
            &open(&paths[0], &stat(&paths[0])).unwrap()
        ));
        assert_eq!(read_range(&first, 0, 10).unwrap(), b"x");
        assert!(kept());
        let_go();
        assert!(!kept());
    }
}
