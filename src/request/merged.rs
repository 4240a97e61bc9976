//! The merged per-directory configuration of past requests, remembered by server, file and URI
//! so the hot path does not walk and merge the sections again for every request.
//!
//! Only merges that read no `.htaccess` are kept: those depend on files that change under a
//! running server, and are re-checked on every request as Apache does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::modules::DirRuntime;

/// Entries kept before the cache starts over; bounds memory when clients walk many URIs.
const MAX_ENTRIES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    server: usize,
    filename: PathBuf,
    is_dir: bool,
    uri: String,
}

#[derive(Debug, Default)]
pub struct MergeCache {
    entries: RwLock<HashMap<Key, Arc<DirRuntime>>>,
}

impl MergeCache {
    pub fn get(
        &self,
        server: usize,
        filename: &Path,
        is_dir: bool,
        uri: &str,
    ) -> Option<Arc<DirRuntime>> {
        let key = Key {
            server,
            filename: filename.to_path_buf(),
            is_dir,
            uri: uri.to_string(),
        };
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.get(&key).cloned()
    }

    pub fn put(
        &self,
        server: usize,
        filename: &Path,
        is_dir: bool,
        uri: &str,
        dir: &Arc<DirRuntime>,
    ) {
        let key = Key {
            server,
            filename: filename.to_path_buf(),
            is_dir,
            uri: uri.to_string(),
        };
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, Arc::clone(dir));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_told_apart_by_server_file_kind_and_uri() {
        let cache = MergeCache::default();
        let mut dir = DirRuntime::default();
        dir.core.force_type = Some("text/plain".to_string());
        cache.put(0, Path::new("/srv/a"), false, "/a", &Arc::new(dir));
        let hit = cache.get(0, Path::new("/srv/a"), false, "/a").unwrap();
        assert_eq!(hit.core.force_type.as_deref(), Some("text/plain"));
        assert!(cache.get(1, Path::new("/srv/a"), false, "/a").is_none());
        assert!(cache.get(0, Path::new("/srv/a"), true, "/a").is_none());
        assert!(cache.get(0, Path::new("/srv/a"), false, "/b").is_none());
    }

    #[test]
    fn a_full_cache_starts_over_instead_of_growing() {
        let cache = MergeCache::default();
        let dir = Arc::new(DirRuntime::default());
        for i in 0..=MAX_ENTRIES {
            cache.put(0, Path::new("/srv"), false, &format!("/{i}"), &dir);
        }
        assert_eq!(cache.entries.read().unwrap().len(), 1);
        assert!(cache
            .get(0, Path::new("/srv"), false, &format!("/{MAX_ENTRIES}"))
            .is_some());
    }
}
