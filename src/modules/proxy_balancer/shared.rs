//! mod_slotmem_shm's part: the state of every balancer and member that all children share
//! (Apache keeps it in slotmem slots), in one anonymous shared mapping made by the parent
//! before it forks. The parent fills it from the configuration at each (re)start; children
//! and threads read and update it with atomics, so the lbmethods count everyone's requests
//! and a balancer-manager change reaches every child. A member's error time stays in
//! mod_proxy's own shared error slots (`worker::set_error`), which mod_proxy_http also reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Room for this many members and as many balancers (Apache sizes slotmems by the members
/// configured plus BalancerGrowth; a fixed table keeps the mapping made once).
const SLOTS: usize = 1024;
/// u64 fields per slot.
pub const FIELDS: usize = 64;

// A member's fields.
pub const KEY: usize = 0;
pub const STATUS: usize = 1;
pub const LBSTATUS: usize = 2;
pub const ELECTED: usize = 3;
pub const BUSY: usize = 4;
pub const TRANSFERRED: usize = 5;
pub const READ: usize = 6;
pub const LBFACTOR: usize = 7;
pub const LBSET: usize = 8;
pub const RETRIES: usize = 9;
/// When it was put in error (ms since the epoch).
pub const ERROR_TIME: usize = 10;
/// 64 bytes: the route.
pub const ROUTE: usize = 16;
/// 64 bytes: the redirect route.
pub const REDIRECT: usize = 24;
/// 256 bytes: the worker's name, for a member the balancer-manager added.
pub const ADDED_NAME: usize = 32;

// A balancer's fields.
pub const B_LBMETHOD: usize = 1;
pub const B_TIMEOUT_MS: usize = 2;
/// The attempts plus one (0: unset).
pub const B_MAX_ATTEMPTS: usize = 3;
pub const B_NOFAILOVER: usize = 4;
/// The selection lock every process takes (0: free).
pub const B_LOCK: usize = 5;
/// How many members the balancer-manager added.
pub const B_ADDED: usize = 6;
/// 64 bytes: the sticky cookie name.
pub const B_STICKY: usize = 8;
/// 64 bytes: the sticky URL parameter name.
pub const B_STICKY_PATH: usize = 16;
/// 40 bytes: the nonce.
pub const B_NONCE: usize = 24;

/// Status bits, as mod_proxy.h numbers them.
pub const IGNORE_ERRORS: u64 = 0x0002;
pub const DRAIN: u64 = 0x0004;
pub const DISABLED: u64 = 0x0020;
pub const STOPPED: u64 = 0x0040;
pub const IN_ERROR: u64 = 0x0080;
pub const HOT_STANDBY: u64 = 0x0100;
pub const HC_FAIL: u64 = 0x0400;
pub const HOT_SPARE: u64 = 0x0800;

/// The status letters and their bits (`ap_proxy_set_wstatus`'s table).
pub const LETTERS: &[(char, u64)] = &[
    ('D', DISABLED),
    ('S', STOPPED),
    ('I', IGNORE_ERRORS),
    ('H', HOT_STANDBY),
    ('E', IN_ERROR),
    ('N', DRAIN),
    ('R', HOT_SPARE),
    ('C', HC_FAIL),
];

struct Tables {
    members: &'static [AtomicU64],
    balancers: &'static [AtomicU64],
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let make = || {
            crate::sys::shared::shared_atomics(SLOTS * FIELDS).unwrap_or_else(|_| {
                Box::leak((0..SLOTS * FIELDS).map(|_| AtomicU64::new(0)).collect())
            })
        };
        Tables {
            members: make(),
            balancers: make(),
        }
    })
}

/// Made in the parent, so that children share it.
pub fn init() {
    let _ = tables();
}

/// FNV-1a of the parts: the same in every process (std's hasher is seeded per process).
pub fn key(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for part in parts {
        for b in part.bytes().chain([0u8]) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x100000001b3);
        }
    }
    hash.max(1)
}

/// One slot: a member's or a balancer's fields.
#[derive(Clone, Copy)]
pub struct Slot(&'static [AtomicU64]);

impl Slot {
    /// A slot over fields of this process's own (state that could not be shared).
    pub fn from_fields(fields: &'static [AtomicU64]) -> Slot {
        Slot(fields)
    }
    pub fn get(&self, field: usize) -> u64 {
        self.0[field].load(Ordering::Relaxed)
    }
    pub fn set(&self, field: usize, value: u64) {
        self.0[field].store(value, Ordering::Relaxed)
    }
    pub fn add(&self, field: usize, value: u64) {
        self.0[field].fetch_add(value, Ordering::Relaxed);
    }
    /// Takes one off, never below zero.
    pub fn decrement(&self, field: usize) {
        let _ = self.0[field].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(1))
        });
    }
    pub fn signed(&self, field: usize) -> i64 {
        self.get(field) as i64
    }
    pub fn set_signed(&self, field: usize, value: i64) {
        self.set(field, value as u64)
    }
    pub fn set_bits(&self, field: usize, bits: u64, on: bool) {
        if on {
            self.0[field].fetch_or(bits, Ordering::Relaxed);
        } else {
            self.0[field].fetch_and(!bits, Ordering::Relaxed);
        }
    }
    /// Takes the lock in `field` for this process: the members' counters are read and
    /// written as one step by every child (Apache's balancer mutex is per process; a shared
    /// one keeps the lbmethods' arithmetic whole across children). A holder that died with
    /// it is overtaken after a while.
    pub fn lock(&self, field: usize) -> SlotLock {
        let me = u64::from(std::process::id()).max(1);
        let started = std::time::Instant::now();
        loop {
            if self.0[field]
                .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return SlotLock(self.0, field);
            }
            if started.elapsed() > std::time::Duration::from_millis(200) {
                self.0[field].store(me, Ordering::Release);
                return SlotLock(self.0, field);
            }
            std::thread::yield_now();
        }
    }

    /// The text kept in the 8 fields from `field` (NUL-ended).
    pub fn text(&self, field: usize) -> String {
        self.text_in(field, 8)
    }

    /// Keeps at most 63 bytes of `text` in the 8 fields from `field`.
    pub fn set_text(&self, field: usize, text: &str) {
        self.set_text_in(field, 8, text)
    }

    /// The text kept in the `words` fields from `field`.
    pub fn text_in(&self, field: usize, words: usize) -> String {
        let mut bytes = Vec::with_capacity(words * 8);
        for i in 0..words {
            bytes.extend_from_slice(&self.get(field + i).to_le_bytes());
        }
        let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    }

    /// Keeps at most `words * 8 - 1` bytes of `text` in the `words` fields from `field`.
    pub fn set_text_in(&self, field: usize, words: usize, text: &str) {
        let mut bytes = vec![0u8; words * 8];
        let len = text.len().min(words * 8 - 1);
        bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
        for i in 0..words {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            self.set(field + i, u64::from_le_bytes(word));
        }
    }
}

/// A held [`Slot::lock`], let go when dropped.
pub struct SlotLock(&'static [AtomicU64], usize);

impl Drop for SlotLock {
    fn drop(&mut self) {
        self.0[self.1].store(0, Ordering::Release);
    }
}

fn find_in(table: &'static [AtomicU64], key: u64, claim: bool) -> Option<Slot> {
    let start = (key % SLOTS as u64) as usize;
    for probe in 0..SLOTS {
        let index = (start + probe) % SLOTS;
        let fields = &table[index * FIELDS..(index + 1) * FIELDS];
        let held = fields[KEY].load(Ordering::Acquire);
        if held == key {
            return Some(Slot(fields));
        }
        if held == 0 {
            if !claim {
                return None;
            }
            fields[KEY].store(key, Ordering::Release);
            return Some(Slot(fields));
        }
    }
    None
}

/// The member slot for `key` (`None`: not set up, or the table is full).
pub fn member(key: u64) -> Option<Slot> {
    find_in(tables().members, key, false)
}

pub fn balancer(key: u64) -> Option<Slot> {
    find_in(tables().balancers, key, false)
}

/// Empties both tables: the parent, before it sets up a new generation's balancers.
pub fn clear() {
    for field in tables().members.iter().chain(tables().balancers.iter()) {
        field.store(0, Ordering::Relaxed);
    }
}

/// A member's slot, claimed (the parent, setting up).
pub fn claim_member(key: u64) -> Option<Slot> {
    find_in(tables().members, key, true)
}

pub fn claim_balancer(key: u64) -> Option<Slot> {
    find_in(tables().balancers, key, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Slot {
        Slot::from_fields(Box::leak((0..FIELDS).map(|_| AtomicU64::new(0)).collect()))
    }

    #[test]
    fn texts_keep_63_bytes_and_counters_stay_at_or_above_zero() {
        let slot = local();
        slot.set_text(ROUTE, "node-1");
        assert_eq!(slot.text(ROUTE), "node-1");
        slot.set_text(ROUTE, &"x".repeat(80));
        assert_eq!(slot.text(ROUTE).len(), 63);
        slot.decrement(BUSY);
        assert_eq!(slot.get(BUSY), 0);
        slot.set_signed(LBSTATUS, -150);
        assert_eq!(slot.signed(LBSTATUS), -150);
    }

    #[test]
    fn the_lock_is_taken_again_once_let_go() {
        let slot = local();
        drop(slot.lock(B_LOCK));
        let held = slot.lock(B_LOCK);
        assert_ne!(slot.get(B_LOCK), 0);
        drop(held);
        assert_eq!(slot.get(B_LOCK), 0);
        assert_ne!(key(&["0", "balancer://a"]), key(&["0", "balancer://b"]));
    }
}
