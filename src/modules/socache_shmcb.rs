//! mod_socache_shmcb: the `shmcb` session-cache provider mod_ssl's SSLSessionCache names. It
//! has no directives of its own; loading it is what makes `shmcb:` a known cache, and its
//! argument (`path(size)`) is checked as the module checks it.

use rhttpd_directives::model::ReadState;
use rhttpd_directives::registry::ModuleDef;

pub static MODULE: ModuleDef = ModuleDef {
    id: "socache_shmcb_module",
    source: "mod_socache_shmcb.c",
    builtin: false,
    has_dir_config: false,
    directives: &[],
};

/// The cache size when the argument names none: 512 KiB.
pub const DEFAULT_SIZE: u64 = 512 * 1024;

/// The size a `path(size)` argument asks for, or the module's error for it.
pub fn check_argument(read: &ReadState, arg: &str) -> Result<u64, String> {
    if arg.is_empty() {
        return Ok(DEFAULT_SIZE);
    }
    let path = read
        .server_root_relative(arg)
        .to_string_lossy()
        .into_owned();
    let Some(open) = path.rfind('(') else {
        if path.ends_with(')') {
            return Err("Invalid argument: no opening parenthesis".into());
        }
        return Ok(DEFAULT_SIZE);
    };
    let Some(inner) = path[open + 1..].strip_suffix(')') else {
        return Err("Invalid argument: no closing parenthesis or cache size missing after pathname with parenthesis".into());
    };
    let (size, rest) = rhttpd_directives::set::strtol(inner);
    if !rest.is_empty() {
        return Err("Invalid argument: cache size not numerical".into());
    }
    if size < 8192 {
        return Err("Invalid argument: size has to be >= 8192 bytes".into());
    }
    if size >= u32::MAX as i64 {
        return Err(format!(
            "Invalid argument: size has to be < {} bytes on this platform",
            u32::MAX
        ));
    }
    Ok(size as u64)
}

/// A slot of the shared cache, in 64-bit words: a lock, the expiry (seconds since the epoch;
/// 0 for empty), the key's and value's lengths, the key (up to 32 bytes: TLS session IDs,
/// ticket names, certificate digests), the value. TLS sessions take slots of 512 bytes.
const SESSION_SLOT_WORDS: usize = 64;
const KEY_WORDS: usize = 4;
const HEADER_WORDS: usize = 3;
/// Slots a key may live in, from its hash on.
const PROBES: usize = 4;

/// What the cache counts, for mod_status (in the mapping's first words).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub stores: u64,
    pub replaced: u64,
    pub expired: u64,
    pub hits: u64,
    pub misses: u64,
    pub removes: u64,
}
const COUNT_WORDS: usize = 8;

/// mod_socache_shmcb's cache: a fixed table in memory the parent maps before it forks, so every
/// child (and every thread) stores and finds the same TLS sessions.
pub struct SharedCache {
    words: &'static [AtomicU64],
    slots: usize,
    slot_words: usize,
    timeout_secs: u64,
    size: u64,
}

impl std::fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedCache({} slots)", self.slots)
    }
}

use std::sync::atomic::{AtomicU64, Ordering};

/// One cache per size and slot size for the server's lifetime: a graceful restart keeps the
/// sessions (and the mapping, which is never unmapped).
#[allow(clippy::type_complexity)]
static CACHES: std::sync::Mutex<Vec<((u64, usize), &'static [AtomicU64])>> =
    std::sync::Mutex::new(Vec::new());

impl SharedCache {
    /// A TLS session cache of about `size` bytes whose entries live `timeout_secs`.
    pub fn new(size: u64, timeout_secs: u64) -> std::io::Result<SharedCache> {
        Self::with_slots(size, SESSION_SLOT_WORDS * 8, timeout_secs)
    }

    /// A cache of about `size` bytes in slots of `slot_bytes` (values up to that size less
    /// 56 bytes), whose entries live `timeout_secs` unless stored with a lifetime of their own.
    pub fn with_slots(
        size: u64,
        slot_bytes: usize,
        timeout_secs: u64,
    ) -> std::io::Result<SharedCache> {
        let slot_words = slot_bytes.div_ceil(8).max(HEADER_WORDS + KEY_WORDS + 1);
        let slots = ((size as usize) / (slot_words * 8)).max(PROBES);
        let mut known = CACHES.lock().unwrap_or_else(|e| e.into_inner());
        let words = match known.iter().find(|(s, _)| *s == (size, slot_words)) {
            Some((_, words)) => *words,
            None => {
                let words = crate::sys::shared::shared_atomics(COUNT_WORDS + slots * slot_words)?;
                known.push(((size, slot_words), words));
                words
            }
        };
        Ok(SharedCache {
            words,
            slots,
            slot_words,
            timeout_secs: timeout_secs.max(1),
            size,
        })
    }

    fn slot(&self, index: usize) -> &'static [AtomicU64] {
        let start = COUNT_WORDS + index * self.slot_words;
        &self.words[start..start + self.slot_words]
    }

    fn count(&self, which: usize) {
        self.words[which].fetch_add(1, Ordering::Relaxed);
    }

    pub fn counts(&self) -> Counts {
        let at = |i: usize| self.words[i].load(Ordering::Relaxed);
        Counts {
            stores: at(0),
            replaced: at(1),
            expired: at(2),
            hits: at(3),
            misses: at(4),
            removes: at(5),
        }
    }

    /// Entries not yet expired.
    pub fn entries(&self) -> usize {
        let now = now();
        (0..self.slots)
            .filter(|&i| self.slot(i)[1].load(Ordering::Relaxed) > now)
            .count()
    }

    /// What mod_status shows of the cache, as mod_socache_shmcb's status says it: `?auto`
    /// lines (`auto`) or the HTML block. The cache is one table of `slots` entries (shmcb's
    /// "subcaches" are one here).
    pub fn status(&self, auto: bool) -> String {
        let now = now();
        let left: Vec<u64> = (0..self.slots)
            .map(|i| self.slot(i)[1].load(Ordering::Relaxed))
            .filter(|&expiry| expiry > now)
            .map(|expiry| expiry - now)
            .collect();
        let entries = left.len();
        let (avg, min, max) = match (left.iter().min(), left.iter().max()) {
            (Some(&min), Some(&max)) => (left.iter().sum::<u64>() / entries as u64, min, max),
            _ => (0, 0, 0),
        };
        let usage = entries * 100 / self.slots.max(1);
        let c = self.counts();
        if auto {
            return format!(
                "CacheType: SHMCB\nCacheSharedMemory: {}\nCacheCurrentEntries: {entries}\n\
                 CacheSubcaches: 1\nCacheIndexesPerSubcaches: {}\nCacheTimeLeftOldestAvg: {avg}\n\
                 CacheTimeLeftOldestMin: {min}\nCacheTimeLeftOldestMax: {max}\n\
                 CacheIndexUsage: {usage}%\nCacheUsage: {usage}%\nCacheStoreCount: {}\n\
                 CacheReplaceCount: {}\nCacheExpireCount: {}\nCacheDiscardCount: {}\n\
                 CacheRetrieveHitCount: {}\nCacheRetrieveMissCount: {}\n\
                 CacheRemoveHitCount: {}\nCacheRemoveMissCount: 0\n",
                self.size,
                self.slots,
                c.stores,
                c.replaced,
                c.expired,
                c.replaced,
                c.hits,
                c.misses,
                c.removes
            );
        }
        format!(
            "cache type: <b>SHMCB</b>, shared memory: <b>{}</b> bytes, current entries: <b>{entries}</b><br>\
             subcaches: <b>1</b>, indexes per subcache: <b>{}</b><br>\
             time left on oldest entries' objects: avg: <b>{avg}</b> seconds, (range: {min}...{max})<br>\
             index usage: <b>{usage}%</b>, cache usage: <b>{usage}%</b><br>\
             total entries stored since starting: <b>{}</b><br>\
             total entries replaced since starting: <b>{}</b><br>\
             total entries expired since starting: <b>{}</b><br>\
             total (pre-expiry) entries scrolled out of the cache: <b>{}</b><br>\
             total retrieves since starting: <b>{}</b> hit, <b>{}</b> miss<br>\
             total removes since starting: <b>{}</b> hit, <b>0</b> miss<br>",
            self.size, self.slots, c.stores, c.replaced, c.expired, c.replaced, c.hits, c.misses,
            c.removes
        )
    }

    fn home(&self, key: &[u8]) -> usize {
        // FNV-1a: keys are random session IDs already; this only spreads them.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in key {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
        (hash % self.slots as u64) as usize
    }

    /// Runs `f` on slot `index` with its lock held (a spin lock: holders copy a few hundred
    /// bytes and leave).
    fn locked<T>(&self, index: usize, f: impl FnOnce(&'static [AtomicU64]) -> T) -> T {
        let slot = self.slot(index);
        while slot[0]
            .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        let out = f(slot);
        slot[0].store(0, Ordering::Release);
        out
    }

    fn holds(slot: &[AtomicU64], key: &[u8]) -> bool {
        let lengths = slot[2].load(Ordering::Relaxed);
        (lengths & 0xffff) as usize == key.len()
            && read_bytes(&slot[3..3 + KEY_WORDS], key.len()) == key
    }

    /// Stores `value` under `key` for the cache's timeout, replacing what the key had, else an
    /// empty or expired slot, else the one closest to expiring. False when the entry does not
    /// fit a slot.
    pub fn put(&self, key: &[u8], value: &[u8]) -> bool {
        self.put_for(key, value, self.timeout_secs)
    }

    /// Stores `value` under `key` for `lifetime_secs`, as `put` does.
    pub fn put_for(&self, key: &[u8], value: &[u8], lifetime_secs: u64) -> bool {
        let value_words = self.slot_words - HEADER_WORDS - KEY_WORDS;
        if key.len() > KEY_WORDS * 8 || value.len() > value_words * 8 || key.is_empty() {
            return false;
        }
        let now = now();
        let home = self.home(key);
        let probes: Vec<usize> = (0..PROBES).map(|p| (home + p) % self.slots).collect();
        // The slot to write: the key's own, else a free one, else the oldest.
        let chosen = probes
            .iter()
            .copied()
            .find(|&i| self.locked(i, |s| Self::holds(s, key)))
            .or_else(|| {
                probes
                    .iter()
                    .copied()
                    .find(|&i| self.slot(i)[1].load(Ordering::Relaxed) <= now)
            })
            .unwrap_or_else(|| {
                *probes
                    .iter()
                    .min_by_key(|&&i| self.slot(i)[1].load(Ordering::Relaxed))
                    .unwrap_or(&home)
            });
        let (replaced, expired) = self.locked(chosen, |slot| {
            let expiry = slot[1].load(Ordering::Relaxed);
            write_bytes(&slot[3..3 + KEY_WORDS], key);
            write_bytes(&slot[3 + KEY_WORDS..], value);
            slot[2].store(
                key.len() as u64 | ((value.len() as u64) << 16),
                Ordering::Relaxed,
            );
            slot[1].store(now + lifetime_secs.max(1), Ordering::Relaxed);
            (
                expiry > now && !Self::holds(slot, key),
                expiry != 0 && expiry <= now,
            )
        });
        self.count(0);
        if replaced {
            self.count(1);
        }
        if expired {
            self.count(2);
        }
        true
    }

    /// The value stored under `key`, if not expired; `remove` takes it out.
    pub fn get(&self, key: &[u8], remove: bool) -> Option<Vec<u8>> {
        let now = now();
        let home = self.home(key);
        let found = (0..PROBES).find_map(|p| {
            self.locked((home + p) % self.slots, |slot| {
                if slot[1].load(Ordering::Relaxed) <= now || !Self::holds(slot, key) {
                    return None;
                }
                let length = (slot[2].load(Ordering::Relaxed) >> 16) as usize;
                let value = read_bytes(&slot[3 + KEY_WORDS..], length);
                if remove {
                    slot[1].store(0, Ordering::Relaxed);
                }
                Some(value)
            })
        });
        self.count(if found.is_some() { 3 } else { 4 });
        if remove && found.is_some() {
            self.count(5);
        }
        found
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn write_bytes(words: &[AtomicU64], bytes: &[u8]) {
    for (word, chunk) in words.iter().zip(bytes.chunks(8)) {
        let mut buf = [0u8; 8];
        buf[..chunk.len()].copy_from_slice(chunk);
        word.store(u64::from_le_bytes(buf), Ordering::Relaxed);
    }
}

fn read_bytes(words: &[AtomicU64], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    for word in words {
        if out.len() >= len {
            break;
        }
        out.extend_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
    }
    out.truncate(len);
    out
}

impl rustls::server::StoresServerSessions for SharedCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        SharedCache::put(self, &key, &value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        SharedCache::get(self, key, false)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        SharedCache::get(self, key, true)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_replaced_taken_and_refused_when_too_big() {
        let cache = SharedCache::new(64 * 1024, 300).unwrap();
        assert!(cache.put(b"id-1", b"session one"));
        assert!(cache.put(b"id-2", b"session two"));
        assert_eq!(
            cache.get(b"id-1", false).as_deref(),
            Some(&b"session one"[..])
        );
        assert!(cache.put(b"id-1", b"session one, again"));
        assert_eq!(
            cache.get(b"id-1", false).as_deref(),
            Some(&b"session one, again"[..])
        );
        assert_eq!(
            cache.get(b"id-2", true).as_deref(),
            Some(&b"session two"[..])
        );
        assert_eq!(cache.get(b"id-2", false), None);
        assert!(!cache.put(b"id-3", &[0u8; 4096]));
        assert_eq!(cache.get(b"nobody", false), None);
        let counts = cache.counts();
        assert_eq!(counts.stores, 3);
        assert!(counts.hits >= 3 && counts.misses >= 2);
    }
}
