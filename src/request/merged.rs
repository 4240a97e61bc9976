//! The merged per-directory configuration of past requests, remembered by server, file and URI
//! so the hot path does not walk and merge the sections again for every request.
//!
//! A merge that looked for `.htaccess` files remembers what it found (each file's stamp, or
//! that it was not there), and is reused only while they are all as they were. Apache stats
//! them on every request; here the directories they live in are watched (inotify), and the
//! files are looked at again only after one of those directories reported a change.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::modules::DirRuntime;

/// What tells a `.htaccess` file's versions apart: its modification and change times (which
/// the kernel keeps at a clock tick's resolution), and its size and inode, so that a file
/// rewritten within one tick is still seen to change in all but a same-size rewrite in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    modified: (i64, i64),
    changed: (i64, i64),
    len: u64,
    inode: u64,
}

impl FileStamp {
    pub fn of(meta: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            modified: (meta.mtime(), meta.mtime_nsec()),
            changed: (meta.ctime(), meta.ctime_nsec()),
            len: meta.len(),
            inode: meta.ino(),
        }
    }

    /// The file at `path` now, `None` when there is none.
    pub fn now(path: &Path) -> Option<FileStamp> {
        std::fs::metadata(path)
            .ok()
            .map(|meta| FileStamp::of(&meta))
    }
}

/// The `.htaccess` files a merge looked for: each path and its stamp, `None` for one that was
/// not there.
pub type Consulted = Vec<(PathBuf, Option<FileStamp>)>;

/// What one request, internal redirects included, has seen of the `.htaccess` files: those it
/// found unchanged since they were merged, and the inotify generation it read first (its
/// redirects read no other: the request sees one state of the files throughout).
#[derive(Debug, Default)]
pub struct Seen {
    pub files: Consulted,
    pub generation: Option<u64>,
}

/// Whether the files a merge consulted are all still as it found them. A file this request
/// found so already (`verified`, kept across its internal redirects) is not looked at again:
/// Apache reuses the `.htaccess` files a request read for the requests it redirects to.
/// `None` when one changed; else whether every file was looked at now (none taken from
/// `verified`), which only then says how the files are for other requests.
fn unchanged(consulted: &Consulted, verified: &mut Consulted) -> Option<bool> {
    let mut looked_now = true;
    let same = consulted.iter().all(|(path, seen)| {
        if verified.iter().any(|(p, s)| s == seen && p == path) {
            looked_now = false;
            return true;
        }
        let same = FileStamp::now(path) == *seen;
        if same {
            verified.push((path.clone(), *seen));
        }
        same
    });
    same.then_some(looked_now)
}

/// Entries kept before the cache starts over; bounds memory when clients walk many URIs.
const MAX_ENTRIES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    server: usize,
    filename: PathBuf,
    is_dir: bool,
    uri: String,
}

/// The hash a key's parts give, without building the key (SipHash under this cache's own
/// random keys: the parts are the request's, and the map takes the hash as it is).
fn key_hash(
    random: &std::collections::hash_map::RandomState,
    server: usize,
    filename: &Path,
    is_dir: bool,
    uri: &str,
) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    use std::os::unix::ffi::OsStrExt;
    let mut hasher = random.build_hasher();
    let filename = filename.as_os_str().as_bytes();
    // The parts as one run of bytes (the filename's length first, so that no two keys run
    // alike): SipHash takes one long write for much less than a write for each part, and the
    // bytes rather than the components a Path hashes by.
    let mut run = [0u8; 256];
    let fixed = 8 + 8 + 1;
    if fixed + filename.len() + uri.len() <= run.len() {
        run[..8].copy_from_slice(&(server as u64).to_le_bytes());
        run[8..16].copy_from_slice(&(filename.len() as u64).to_le_bytes());
        run[16] = u8::from(is_dir);
        run[fixed..fixed + filename.len()].copy_from_slice(filename);
        let end = fixed + filename.len() + uri.len();
        run[fixed + filename.len()..end].copy_from_slice(uri.as_bytes());
        hasher.write(&run[..end]);
    } else {
        server.hash(&mut hasher);
        filename.hash(&mut hasher);
        is_dir.hash(&mut hasher);
        uri.hash(&mut hasher);
    }
    hasher.finish()
}

/// The cache's entries by their key's hash (a SipHash already, so the map only spreads it).
type ByKeyHash = HashMap<u64, Vec<(Key, Merged)>, crate::u64_keys::U64Keys>;

/// A merge, what it consulted, what its `.htaccess` files warned of, and when the files were
/// last found as it found them.
type Merged = (Arc<DirRuntime>, Arc<Consulted>, Warnings, Arc<Verified>);

/// The change generation (`sys::inotify`) at which a merge's files were last found unchanged:
/// `NEVER` until they have been looked at with their directories watched, `UNWATCHABLE` when
/// one of those cannot be watched (the files are then looked at on every request).
#[derive(Debug)]
struct Verified(AtomicU64);

const NEVER: u64 = u64::MAX;
const UNWATCHABLE: u64 = u64::MAX - 1;

/// The warnings a merge's `.htaccess` files gave, said again for each request it serves.
pub type Warnings = Arc<Vec<rhttpd_directives::model::Warning>>;

/// What a merge was made of: the server, the sections merged (by address), and the `.htaccess`
/// files consulted with their stamps.
pub type WalkId = (usize, Vec<usize>, Consulted);

#[derive(Debug, Default)]
pub struct MergeCache {
    /// By the hash of their key (looked up without building one), the keys with that hash.
    entries: RwLock<ByKeyHash>,
    /// One shared merge for each set of inputs, whatever file or URI led to it: two requests
    /// under the same sections get the same configuration, the same `Arc` (Apache's walk
    /// caches give them the same `per_dir_config`, which is how an internal redirect to a
    /// place configured alike skips access control again).
    by_walk: RwLock<HashMap<WalkId, Arc<DirRuntime>>>,
    /// The keys `key_hash` hashes under.
    random: std::collections::hash_map::RandomState,
}

impl MergeCache {
    pub fn get(
        &self,
        server: usize,
        filename: &Path,
        is_dir: bool,
        uri: &str,
        seen: &mut Seen,
    ) -> Option<(Arc<DirRuntime>, Warnings)> {
        let hash = key_hash(&self.random, server, filename, is_dir, uri);
        let (dir, consulted, warnings, verified_at) = {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            entries
                .get(&hash)?
                .iter()
                .find(|(key, _)| {
                    key.server == server
                        && key.is_dir == is_dir
                        && key.uri == uri
                        && key.filename.as_os_str() == filename.as_os_str()
                })
                .map(|(_, merged)| merged.clone())?
        };
        if consulted.is_empty() {
            return Some((dir, warnings));
        }
        let mut at = verified_at.0.load(Ordering::Acquire);
        if at == NEVER {
            // Watched before they are looked at, so no change can fall between the two.
            if !watch_parents(&consulted) {
                verified_at.0.store(UNWATCHABLE, Ordering::Release);
                at = UNWATCHABLE;
            }
        }
        // Read before the stats: a change after this is seen by them or by the next request.
        let generation = match seen.generation {
            Some(generation) => Some(generation),
            None => {
                seen.generation = crate::sys::inotify::generation();
                seen.generation
            }
        };
        if at < UNWATCHABLE && generation == Some(at) {
            return Some((dir, warnings));
        }
        let looked_now = unchanged(&consulted, &mut seen.files)?;
        if let (Some(generation), true) = (generation, looked_now && at != UNWATCHABLE) {
            verified_at.0.store(generation, Ordering::Release);
        }
        Some((dir, warnings))
    }

    pub fn put(
        &self,
        server: usize,
        filename: &Path,
        is_dir: bool,
        uri: &str,
        dir: &Arc<DirRuntime>,
        (walked, consulted, warnings): (Vec<usize>, Consulted, &Warnings),
    ) -> Arc<DirRuntime> {
        let key = Key {
            server,
            filename: filename.to_path_buf(),
            is_dir,
            uri: uri.to_string(),
        };
        let dir = {
            let mut shared = self.by_walk.write().unwrap_or_else(|e| e.into_inner());
            if shared.len() >= MAX_ENTRIES {
                shared.clear();
            }
            // An .htaccess that is not there adds nothing to the merge: two walks that differ
            // only in such files give the same configuration (Apache's walk keeps the same
            // per_dir_config through a directory that adds nothing).
            let found: Consulted = consulted
                .iter()
                .filter(|(_, s)| s.is_some())
                .cloned()
                .collect();
            let id = (server, walked, found);
            Arc::clone(shared.entry(id).or_insert_with(|| Arc::clone(dir)))
        };
        let hash = key_hash(&self.random, server, filename, is_dir, uri);
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        let same_hash = entries.entry(hash).or_default();
        same_hash.retain(|(k, _)| *k != key);
        // Verified by the next request, once its directories are watched: a change between
        // this merge's stats and the watches would otherwise go unseen.
        same_hash.push((
            key,
            (
                Arc::clone(&dir),
                Arc::new(consulted),
                Arc::clone(warnings),
                Arc::new(Verified(AtomicU64::new(NEVER))),
            ),
        ));
        dir
    }
}

/// Watches the directories of the files a merge consulted; false when one cannot be.
fn watch_parents(consulted: &Consulted) -> bool {
    consulted
        .iter()
        .all(|(path, _)| match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) => crate::sys::inotify::watch_dir(dir, name),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_told_apart_by_server_file_kind_and_uri() {
        let cache = MergeCache::default();
        let mut dir = DirRuntime::default();
        dir.core.force_type = Some("text/plain".to_string());
        cache.put(
            0,
            Path::new("/srv/a"),
            false,
            "/a",
            &Arc::new(dir),
            (Vec::new(), Vec::new(), &Warnings::default()),
        );
        let hit = cache
            .get(0, Path::new("/srv/a"), false, "/a", &mut Seen::default())
            .unwrap();
        assert_eq!(hit.0.core.force_type.as_deref(), Some("text/plain"));
        assert!(cache
            .get(1, Path::new("/srv/a"), false, "/a", &mut Seen::default())
            .is_none());
        assert!(cache
            .get(0, Path::new("/srv/a"), true, "/a", &mut Seen::default())
            .is_none());
        assert!(cache
            .get(0, Path::new("/srv/a"), false, "/b", &mut Seen::default())
            .is_none());
    }

    #[test]
    fn a_request_does_not_look_again_at_what_it_found_unchanged() {
        let root = tempfile::tempdir().unwrap();
        let htaccess = root.path().join(".htaccess");
        let cache = MergeCache::default();
        let dir = Arc::new(DirRuntime::default());
        let consulted = vec![(htaccess.clone(), None)];
        cache.put(
            0,
            root.path(),
            true,
            "/",
            &dir,
            (Vec::new(), consulted, &Warnings::default()),
        );
        let mut request = Seen::default();
        assert!(cache.get(0, root.path(), true, "/", &mut request).is_some());
        // The file appears between the request's first pass and its internal redirect: the
        // redirect keeps what the request found; a new request sees the file.
        std::fs::write(&htaccess, "Options None\n").unwrap();
        assert!(cache.get(0, root.path(), true, "/", &mut request).is_some());
        assert!(cache
            .get(0, root.path(), true, "/", &mut Seen::default())
            .is_none());
    }

    #[test]
    fn an_htaccess_that_appears_or_changes_retires_the_merge() {
        let root = tempfile::tempdir().unwrap();
        let htaccess = root.path().join(".htaccess");
        let cache = MergeCache::default();
        let dir = Arc::new(DirRuntime::default());
        cache.put(
            0,
            root.path(),
            true,
            "/",
            &dir,
            (
                Vec::new(),
                vec![(htaccess.clone(), None)],
                &Warnings::default(),
            ),
        );
        assert!(cache
            .get(0, root.path(), true, "/", &mut Seen::default())
            .is_some());
        std::fs::write(&htaccess, "Options None\n").unwrap();
        assert!(cache
            .get(0, root.path(), true, "/", &mut Seen::default())
            .is_none());
        let stamp = FileStamp::now(&htaccess);
        cache.put(
            0,
            root.path(),
            true,
            "/",
            &dir,
            (
                Vec::new(),
                vec![(htaccess.clone(), stamp)],
                &Warnings::default(),
            ),
        );
        assert!(cache
            .get(0, root.path(), true, "/", &mut Seen::default())
            .is_some());
        std::fs::remove_file(&htaccess).unwrap();
        assert!(cache
            .get(0, root.path(), true, "/", &mut Seen::default())
            .is_none());
    }

    #[test]
    fn a_rewrite_within_one_clock_tick_is_still_a_change() {
        let root = tempfile::tempdir().unwrap();
        let htaccess = root.path().join(".htaccess");
        std::fs::write(&htaccess, "Options None\n").unwrap();
        let first = FileStamp::now(&htaccess);
        let when = std::fs::metadata(&htaccess).unwrap().modified().unwrap();
        std::fs::write(&htaccess, "Options +Indexes\n").unwrap();
        // The same modification time, as two writes within one tick of the kernel's clock get.
        let file = std::fs::File::options()
            .write(true)
            .open(&htaccess)
            .unwrap();
        file.set_modified(when).unwrap();
        assert_ne!(FileStamp::now(&htaccess), first);
    }

    #[test]
    fn a_full_cache_starts_over_instead_of_growing() {
        let cache = MergeCache::default();
        let dir = Arc::new(DirRuntime::default());
        for i in 0..=MAX_ENTRIES {
            cache.put(
                0,
                Path::new("/srv"),
                false,
                &format!("/{i}"),
                &dir,
                (Vec::new(), Vec::new(), &Warnings::default()),
            );
        }
        assert_eq!(cache.entries.read().unwrap().len(), 1);
        assert!(cache
            .get(
                0,
                Path::new("/srv"),
                false,
                &format!("/{MAX_ENTRIES}"),
                &mut Seen::default()
            )
            .is_some());
    }
}
