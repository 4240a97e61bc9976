//! mod_auth_digest, whole: its directives (table, setters, typed per-directory configuration
//! with Apache's no-merge rule, AuthDigestShmemSize per server), the Digest scheme as Debian's
//! 2.4.71 speaks it (RFC 2617 with qop=auth and MD5 only: RFC 2069 answers, MD5-sess and
//! auth-int are refused), the nonces (time stamp and a SHA-1 over a per-start secret, the
//! realm, the time and the opaque), the WWW-Authenticate challenge, the Authentication-Info
//! header, and the client table behind AuthDigestNcCheck and one-time nonces, which lives in
//! memory the parent maps before it forks so every child sees every client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::UNIX_EPOCH;

use base64::Engine;
use md5::{Digest as _, Md5};
use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use sha1::Sha1;

use super::authn_core::{authn_provider_known, Provider};
use super::authn_file::{self, RealmHash};
use crate::hooks::{Fixup, Hooks, Order};
use crate::request::auth::{auth_name, auth_type, escape_quotes, resolve};
use crate::request::{Request, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "auth_digest_module",
    source: "mod_auth_digest.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "AuthDigestProvider",
        Iterate(auth_digest_provider),
        OR_AUTHCFG,
        "specify the auth providers for a directory or location",
    )
    .implemented(),
    DirectiveDef::new(
        "AuthDigestQop",
        Iterate(qop),
        OR_AUTHCFG,
        "A list of quality-of-protection options",
    )
    .implemented(),
    DirectiveDef::new(
        "AuthDigestNonceLifetime",
        Take1(nonce_lifetime),
        OR_AUTHCFG,
        "Maximum lifetime of the server nonce (seconds)",
    )
    .implemented(),
    DirectiveDef::new(
        "AuthDigestNcCheck",
        Flag(nc_check),
        OR_AUTHCFG,
        "Whether or not to check the nonce-count sent by the client",
    )
    .implemented(),
    DirectiveDef::new(
        "AuthDigestAlgorithm",
        Take1(algorithm),
        OR_AUTHCFG,
        "The algorithm used for the hash calculation",
    )
    .implemented(),
    DirectiveDef::new(
        "AuthDigestDomain",
        Iterate(domain),
        OR_AUTHCFG,
        "A list of URI's which belong to the same protection space as the current URI",
    )
    .implemented(),
    DirectiveDef::new(
        "AuthDigestShmemSize",
        Take1(shmem_size),
        RSRC_CONF,
        "The amount of shared memory to allocate for keeping track of clients",
    )
    .implemented(),
];

/// A nonce lives five minutes unless AuthDigestNonceLifetime says otherwise.
const DEFAULT_NONCE_LIFETIME_US: i64 = 300 * 1_000_000;
/// Authentication-Info carries a next nonce once the current one has less than this to live.
const NEXTNONCE_DELTA_US: i64 = 30 * 1_000_000;
/// The nonce: base64 of an 8-byte time (12 characters, the last a `=`), then 40 hex digits.
const NONCE_TIME_LEN: usize = 12;
const NONCE_LEN: usize = NONCE_TIME_LEN + 40;

/// AuthDigestProvider: each name a registered authn provider that can hand out the
/// `user:realm` hash Digest needs (mod_authn_anon's cannot).
fn auth_digest_provider(cmd: &mut Cmd, name: &str) -> SetResult {
    if !authn_provider_known(cmd, name) {
        return Err(format!("Unknown Authn provider: {name}"));
    }
    if name == "anon" {
        return Err(format!(
            "The '{name}' Authn provider doesn't support Digest Authentication"
        ));
    }
    let config = cmd.dir_config::<Dir>();
    config.own = true;
    config.providers.push(name.to_string());
    Ok(())
}

/// AuthDigestQop: only `auth` is left in 2.4.71 (it is what is sent when nothing is said).
fn qop(cmd: &mut Cmd, op: &str) -> SetResult {
    if !op.eq_ignore_ascii_case("auth") {
        return Err("AuthDigestQop is deprecated: only 'auth' is supported".into());
    }
    cmd.dir_config::<Dir>().own = true;
    Ok(())
}

/// AuthDigestNonceLifetime seconds: negative for never, 0 for one-time nonces.
fn nonce_lifetime(cmd: &mut Cmd, text: &str) -> SetResult {
    let (seconds, rest) = rhttpd_directives::set::strtol(text);
    if rest
        .chars()
        .next()
        .is_some_and(|c| !c.is_ascii_whitespace())
    {
        return Err(format!("Invalid time in AuthDigestNonceLifetime: {text}"));
    }
    let config = cmd.dir_config::<Dir>();
    config.own = true;
    config.nonce_lifetime_us = Some(seconds.saturating_mul(1_000_000));
    Ok(())
}

fn nc_check(cmd: &mut Cmd, on: bool) -> SetResult {
    let config = cmd.dir_config::<Dir>();
    config.own = true;
    config.nc_check = on;
    Ok(())
}

/// AuthDigestAlgorithm: MD5 is the only one left (and what the challenge names anyway).
fn algorithm(cmd: &mut Cmd, alg: &str) -> SetResult {
    if !alg.eq_ignore_ascii_case("MD5") {
        return Err(format!(
            "Unsupported algorithm in AuthDigestAlgorithm: {alg}"
        ));
    }
    cmd.dir_config::<Dir>().own = true;
    Ok(())
}

/// AuthDigestDomain: URIs of the protection space, accumulated over the section's lines.
fn domain(cmd: &mut Cmd, uri: &str) -> SetResult {
    let config = cmd.dir_config::<Dir>();
    config.own = true;
    config.domain.push(uri.to_string());
    Ok(())
}

/// The client table's header in Apache's layout (a bucket array's pointer and five counters):
/// what AuthDigestShmemSize's minimum and bucket count are reckoned from.
const TABLE_HEADER_BYTES: i64 = 48;
const ENTRY_BYTES: i64 = 32;
const HASH_DEPTH: i64 = 5;
const DEFAULT_SHMEM_SIZE: i64 = 1000;

/// AuthDigestShmemSize bytes, with an optional K or M (B for bytes).
fn shmem_size(cmd: &mut Cmd, text: &str) -> SetResult {
    let size = parse_shmem_size(text)?;
    let buckets = buckets_for(size);
    cmd.log_at(
        "auth_digest",
        "debug",
        format!("AH01763: Set shmem-size: {size}, num-buckets: {buckets}"),
    );
    cmd.server_config::<ServerConf>().shmem_size = Some(size);
    Ok(())
}

/// The buckets a table of `size` bytes is given: room for five entries each.
fn buckets_for(size: i64) -> i64 {
    ((size - TABLE_HEADER_BYTES) / (8 + HASH_DEPTH * ENTRY_BYTES)).max(1)
}

fn parse_shmem_size(text: &str) -> Result<i64, String> {
    let (mut size, rest) = rhttpd_directives::set::strtol(text);
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
    match rest.chars().next() {
        None | Some('b' | 'B') => {}
        Some('k' | 'K') => size = size.saturating_mul(1024),
        Some('m' | 'M') => size = size.saturating_mul(1_048_576),
        Some(_) => return Err(format!("Invalid size in AuthDigestShmemSize: {text}")),
    }
    let min = TABLE_HEADER_BYTES + 8 + ENTRY_BYTES;
    if size < min {
        return Err(format!(
            "size in AuthDigestShmemSize too small: {size} < {min}"
        ));
    }
    Ok(size)
}

/// mod_auth_digest's per-directory configuration. Apache's module has no merge function: a
/// section holding any of its directives starts from the defaults and replaces whatever the
/// enclosing sections said, whole.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    /// A directive of the module was read here.
    own: bool,
    /// AuthDigestProvider names; none means mod_authn_file's `file`.
    providers: Vec<String>,
    /// AuthDigestNonceLifetime in microseconds (unset: five minutes).
    nonce_lifetime_us: Option<i64>,
    nc_check: bool,
    /// AuthDigestDomain's URIs.
    domain: Vec<String>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        if child.own {
            child.clone()
        } else {
            self.clone()
        }
    }
}

impl Dir {
    fn nonce_lifetime(&self) -> i64 {
        self.nonce_lifetime_us.unwrap_or(DEFAULT_NONCE_LIFETIME_US)
    }

    /// Whether challenges hand out a client id (the opaque) to track the client by.
    fn tracks_clients(&self) -> bool {
        self.nc_check || self.nonce_lifetime() == 0
    }
}

/// Per server: AuthDigestShmemSize (one value for the whole server in Apache, the last read).
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    shmem_size: Option<i64>,
}

impl DirConfig for ServerConf {
    fn merge(&self, child: &ServerConf) -> ServerConf {
        ServerConf {
            shmem_size: child.shmem_size.or(self.shmem_size),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The secret and the client table, made by the parent before it forks.

/// 20 random bytes for the server's life (kept across restarts, as Apache's retained data),
/// drawn by the parent at its first post_config.
static SECRET: OnceLock<[u8; 20]> = OnceLock::new();

fn draw_secret() -> std::io::Result<[u8; 20]> {
    use std::io::Read;
    let mut bytes = [0u8; 20];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// The secret; drawn here only where no post_config ran (unit tests), from the clock if
/// the system has no randomness to give.
fn secret() -> &'static [u8; 20] {
    SECRET.get_or_init(|| {
        draw_secret().unwrap_or_else(|_| {
            let now = micros(std::time::SystemTime::now()).to_le_bytes();
            let mut bytes = [0u8; 20];
            bytes[..8].copy_from_slice(&now);
            bytes
        })
    })
}

/// The shared client table, shaped as Apache's: `buckets` lists (a client's id modulo their
/// number picks one), each kept most recently used first, in a segment that holds `capacity`
/// entries; when it is full, the last entry of every bucket goes. In words: a spin lock, the
/// next client id, the one-time-nonce counter, a use clock, the counts of clients created,
/// removed and renewed, the entries in use, then the entries: [id, last nonce-count, last
/// nonce time, last use], found by open addressing from the id.
#[derive(Clone, Copy)]
struct ClientTable {
    words: &'static [AtomicU64],
    capacity: usize,
    buckets: u64,
}

const LOCK: usize = 0;
const NEXT_ID: usize = 1;
const ONE_TIME: usize = 2;
const CLOCK: usize = 3;
const CREATED: usize = 4;
const REMOVED: usize = 5;
const RENEWED: usize = 6;
const LIVE: usize = 7;
const HEAD_WORDS: usize = 8;
const ENTRY_WORDS: usize = 4;
/// An entry's id word: a slot never used ends a probe; a removed client's slot does not.
const NEVER_USED: u64 = 0;
const REMOVED_ENTRY: u64 = u64::MAX;

/// Buckets when AuthDigestShmemSize is not given (Apache's default, not derived from the
/// default size).
const DEFAULT_BUCKETS: i64 = 15;

/// The table of this server generation (None before post_config or if it could not be mapped),
/// with the size and bucket count it was made for.
static TABLE: Mutex<Option<((i64, i64), ClientTable)>> = Mutex::new(None);

/// What a client entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Client {
    id: u32,
    /// The highest nonce-count accepted for the nonce of `nonce_time`.
    nonce_count: u64,
    /// The time (or one-time counter) of the newest nonce the client authenticated with; 0
    /// while it never did.
    nonce_time: i64,
}

/// What adding a client did: its id, and the entries a full table dropped first.
struct Added {
    id: u32,
    collected: Option<String>,
}

impl ClientTable {
    /// Entries a segment of `size` bytes holds as APR's allocator carves it: its own header
    /// (24 bytes), then each block with a 24-byte header, 8-aligned: the bucket table, the
    /// two counters, then 32-byte entries (measured against Debian's 2.4.71).
    fn capacity_for(size: i64, buckets: i64) -> usize {
        const BLOCK_HEADER: i64 = 24;
        let table = (TABLE_HEADER_BYTES + 8 * buckets + 7) / 8 * 8 + BLOCK_HEADER;
        let counters = 2 * (8 + BLOCK_HEADER);
        let free = size - BLOCK_HEADER - table - counters;
        (free / (ENTRY_BYTES + BLOCK_HEADER)).max(1) as usize
    }

    fn new(size: i64, buckets: i64) -> std::io::Result<ClientTable> {
        let capacity = Self::capacity_for(size, buckets);
        let words = crate::sys::shared::shared_atomics(HEAD_WORDS + capacity * ENTRY_WORDS)?;
        let table = ClientTable {
            words,
            capacity,
            buckets: buckets.max(1) as u64,
        };
        table.reset();
        Ok(table)
    }

    /// Empties the table for a new generation: ids and the one-time counter start at 1.
    fn reset(&self) {
        self.locked(|| {
            for word in &self.words[CLOCK..] {
                word.store(0, Ordering::Relaxed);
            }
            self.words[NEXT_ID].store(1, Ordering::Relaxed);
            self.words[ONE_TIME].store(1, Ordering::Relaxed);
        });
    }

    fn locked<T>(&self, f: impl FnOnce() -> T) -> T {
        while self.words[LOCK]
            .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        let out = f();
        self.words[LOCK].store(0, Ordering::Release);
        out
    }

    fn entry(&self, index: usize) -> &'static [AtomicU64] {
        let start = HEAD_WORDS + index * ENTRY_WORDS;
        &self.words[start..start + ENTRY_WORDS]
    }

    fn tick(&self) -> u64 {
        self.words[CLOCK].fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The slots a client's id is looked for in, in order: open addressing from the id's own
    /// slot (ids are handed out in sequence, so they rarely collide).
    fn probe(&self, id: u32) -> impl Iterator<Item = usize> + '_ {
        let home = id as usize % self.capacity;
        (0..self.capacity).map(move |step| (home + step) % self.capacity)
    }

    /// Where the client of that id is: its probe sequence up to the first slot never used
    /// (a removed client's slot is marked, not emptied, so the sequences stay whole).
    fn find_index(&self, id: u32) -> Option<usize> {
        for index in self.probe(id) {
            match self.entry(index)[0].load(Ordering::Relaxed) {
                key if key == u64::from(id) => return Some(index),
                NEVER_USED => return None,
                _ => {}
            }
        }
        None
    }

    /// The client of that id, if the table still holds it (moved to the front of its bucket).
    fn get(&self, id: u32) -> Option<Client> {
        if id == 0 {
            return None;
        }
        self.locked(|| {
            let index = self.find_index(id)?;
            let entry = self.entry(index);
            entry[3].store(self.tick(), Ordering::Relaxed);
            Some(Client {
                id,
                nonce_count: entry[1].load(Ordering::Relaxed),
                nonce_time: entry[2].load(Ordering::Relaxed) as i64,
            })
        })
    }

    /// Records an accepted request of the client (when it is still in the table).
    fn update(&self, client: Client) {
        self.locked(|| {
            if let Some(index) = self.find_index(client.id) {
                let entry = self.entry(index);
                entry[1].store(client.nonce_count, Ordering::Relaxed);
                entry[2].store(client.nonce_time as u64, Ordering::Relaxed);
            }
        })
    }

    /// A new client with the next id, at the front of its bucket; a full table first drops
    /// the last entry of every bucket (Apache's gc), which is reported for the error log.
    fn add(&self) -> Added {
        self.locked(|| {
            let id = self.words[NEXT_ID].fetch_add(1, Ordering::Relaxed) as u32;
            let mut collected = None;
            let free = match self.free_index(id) {
                Some(free) => free,
                None => {
                    let removed = self.collect_garbage();
                    let created = self.words[CREATED].load(Ordering::Relaxed);
                    let renewed = self.words[RENEWED].load(Ordering::Relaxed);
                    collected = Some(format!(
                        "AH01766: gc'd {removed} client entries. Total new clients: {}; Total \
                         removed clients: {}; Total renewed clients: {renewed}",
                        created.saturating_sub(renewed),
                        self.words[REMOVED].load(Ordering::Relaxed)
                    ));
                    self.free_index(id).unwrap_or(id as usize % self.capacity)
                }
            };
            let entry = self.entry(free);
            entry[0].store(u64::from(id), Ordering::Relaxed);
            entry[1].store(0, Ordering::Relaxed);
            entry[2].store(0, Ordering::Relaxed);
            entry[3].store(self.tick(), Ordering::Relaxed);
            self.words[CREATED].fetch_add(1, Ordering::Relaxed);
            self.words[LIVE].fetch_add(1, Ordering::Relaxed);
            Added { id, collected }
        })
    }

    /// A slot for a new client of that id, if the table has room.
    fn free_index(&self, id: u32) -> Option<usize> {
        if self.words[LIVE].load(Ordering::Relaxed) as usize >= self.capacity {
            return None;
        }
        self.probe(id).find(|&i| {
            let key = self.entry(i)[0].load(Ordering::Relaxed);
            key == NEVER_USED || key == REMOVED_ENTRY
        })
    }

    /// Removes (with the lock held) the least recently used entry of every bucket; how many.
    fn collect_garbage(&self) -> u64 {
        // One pass: each bucket's entry of the oldest use.
        let mut oldest: Vec<Option<(u64, usize)>> = vec![None; self.buckets as usize];
        for index in 0..self.capacity {
            let entry = self.entry(index);
            let id = entry[0].load(Ordering::Relaxed);
            if id == NEVER_USED || id == REMOVED_ENTRY {
                continue;
            }
            let used = entry[3].load(Ordering::Relaxed);
            let slot = &mut oldest[(id % self.buckets) as usize];
            if slot.is_none_or(|(seen, _)| used < seen) {
                *slot = Some((used, index));
            }
        }
        let mut removed = 0;
        for (_, index) in oldest.into_iter().flatten() {
            self.entry(index)[0].store(REMOVED_ENTRY, Ordering::Relaxed);
            removed += 1;
        }
        self.words[REMOVED].fetch_add(removed, Ordering::Relaxed);
        self.words[LIVE].fetch_sub(removed, Ordering::Relaxed);
        removed
    }

    /// A client made for one whose id is no longer known.
    fn count_renewed(&self) {
        self.words[RENEWED].fetch_add(1, Ordering::Relaxed);
    }

    /// The next one-time nonce's number (1, 2, ...).
    fn next_one_time(&self) -> i64 {
        self.words[ONE_TIME].fetch_add(1, Ordering::Relaxed) as i64
    }
}

fn table() -> Option<ClientTable> {
    TABLE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|(_, table)| *table)
}

/// mod_auth_digest's post_config, in the parent: the secret (kept across restarts) and a
/// fresh client table of AuthDigestShmemSize bytes for the new generation of children.
pub fn post_config(config: &rhttpd_directives::model::Config) -> Result<(), String> {
    if SECRET.get().is_none() {
        // (Apache's AH01757 debug line about it comes before any log is open: never seen.)
        match draw_secret() {
            Ok(bytes) => {
                let _ = SECRET.set(bytes);
            }
            Err(err) => {
                let text = format!(
                    "({}){err}: AH01758: error generating secret",
                    err.raw_os_error().unwrap_or(0)
                );
                crate::log::error("auth_digest", "crit", &text);
                return Err("AH00016: Configuration Failed".into());
            }
        }
    }
    let shape = match config
        .servers
        .iter()
        .rev()
        .find_map(|s| s.modules.get::<ServerConf>().and_then(|c| c.shmem_size))
    {
        Some(size) => (size, buckets_for(size)),
        None => (DEFAULT_SHMEM_SIZE, DEFAULT_BUCKETS),
    };
    let mut current = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    match current.as_ref() {
        Some((kept, table)) if *kept == shape => table.reset(),
        _ => match ClientTable::new(shape.0, shape.1) {
            Ok(table) => *current = Some((shape, table)),
            Err(err) => {
                *current = None;
                crate::log::error(
                    "auth_digest",
                    "error",
                    &format!(
                        "({}){err}: AH01760: failed to initialize shm - all nonce-count \
                         checking and one-time nonces disabled",
                        err.raw_os_error().unwrap_or(0)
                    ),
                );
            }
        },
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The Authorization header.

/// What the Authorization header said, and what the checks learnt of it.
#[derive(Debug, Clone, Default)]
struct Credentials {
    scheme: String,
    username: Option<String>,
    realm: Option<String>,
    nonce: Option<String>,
    uri: Option<String>,
    response: Option<String>,
    algorithm: Option<String>,
    cnonce: Option<String>,
    opaque: Option<String>,
    qop: Option<String>,
    nc: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum HeaderStatus {
    #[default]
    Missing,
    NotDigest,
    Invalid,
    Valid,
}

/// Parses `Digest key=value, key="quoted", ...` as Apache does: unknown keys are skipped, a
/// backslash in a quoted string takes the next character as it is.
fn parse_header(line: Option<&str>) -> (HeaderStatus, Credentials) {
    let mut out = Credentials::default();
    let Some(line) = line else {
        return (HeaderStatus::Missing, out);
    };
    let line = line.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let split = line
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(line.len());
    out.scheme = line[..split].to_string();
    if !out.scheme.eq_ignore_ascii_case("Digest") {
        return (HeaderStatus::NotDigest, out);
    }
    let bytes = &line.as_bytes()[split..];
    let mut at = 0;
    let space = |b: u8| b.is_ascii_whitespace();
    while at < bytes.len() {
        while at < bytes.len() && space(bytes[at]) {
            at += 1;
        }
        let key_start = at;
        while at < bytes.len() && !matches!(bytes[at], b'=' | b',') && !space(bytes[at]) {
            at += 1;
        }
        let key = String::from_utf8_lossy(&bytes[key_start..at]).into_owned();
        while at < bytes.len() && space(bytes[at]) {
            at += 1;
        }
        let mut value = Vec::new();
        if at < bytes.len() && bytes[at] == b'=' {
            at += 1;
            while at < bytes.len() && space(bytes[at]) {
                at += 1;
            }
            if at < bytes.len() && bytes[at] == b'"' {
                at += 1;
                while at < bytes.len() && bytes[at] != b'"' {
                    if bytes[at] == b'\\' && at + 1 < bytes.len() {
                        at += 1;
                    }
                    value.push(bytes[at]);
                    at += 1;
                }
                if at < bytes.len() {
                    at += 1;
                }
            } else {
                while at < bytes.len() && bytes[at] != b',' && !space(bytes[at]) {
                    value.push(bytes[at]);
                    at += 1;
                }
            }
        }
        while at < bytes.len() && bytes[at] != b',' {
            at += 1;
        }
        if at < bytes.len() {
            at += 1;
        }
        let value = Some(String::from_utf8_lossy(&value).into_owned());
        let slot = match key.to_ascii_lowercase().as_str() {
            "username" => &mut out.username,
            "realm" => &mut out.realm,
            "nonce" => &mut out.nonce,
            "uri" => &mut out.uri,
            "response" => &mut out.response,
            "algorithm" => &mut out.algorithm,
            "cnonce" => &mut out.cnonce,
            "opaque" => &mut out.opaque,
            "qop" => &mut out.qop,
            "nc" => &mut out.nc,
            _ => continue,
        };
        *slot = value;
    }
    let complete = out.username.is_some()
        && out.realm.is_some()
        && out.uri.is_some()
        && out.response.is_some()
        && (out.qop.is_none() || (out.cnonce.is_some() && out.nc.is_some()));
    // A nonce of the wrong length, or whose time part does not end as base64 of 8 bytes does,
    // is no nonce of ours: the header is taken as incomplete.
    let nonce_shaped = out
        .nonce
        .as_deref()
        .is_some_and(|n| n.len() == NONCE_LEN && n.as_bytes()[NONCE_TIME_LEN - 1] == b'=');
    if complete && nonce_shaped {
        (HeaderStatus::Valid, out)
    } else {
        (HeaderStatus::Invalid, out)
    }
}

/// `strtol(text, NULL, 16)` as an unsigned long: leading blanks, an optional sign and `0x`,
/// then hex digits; 0 when there are none.
fn hex_number(text: &str) -> (u64, &str) {
    let t = text.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits_from = if (t.starts_with("0x") || t.starts_with("0X"))
        && t[2..].starts_with(|c: char| c.is_ascii_hexdigit())
    {
        &t[2..]
    } else {
        t
    };
    let count = digits_from
        .bytes()
        .take_while(u8::is_ascii_hexdigit)
        .count();
    if count == 0 {
        return (0, text);
    }
    let mut value: u64 = 0;
    for b in digits_from[..count].bytes() {
        let digit = (b as char).to_digit(16).unwrap_or(0);
        value = value.saturating_mul(16).saturating_add(u64::from(digit));
    }
    let value = if negative {
        value.wrapping_neg()
    } else {
        value
    };
    (value, &digits_from[count..])
}

/// The request's Digest state: the header as parsed, and what authentication found.
#[derive(Debug, Default)]
struct DigestState {
    parsed: Option<(HeaderStatus, Credentials)>,
    /// Digest authentication ran for the request (Authentication-Info is then due).
    needed_auth: bool,
    /// The client the opaque names, once looked up.
    client: Option<Client>,
    /// `md5(user:realm:password)` from the provider, once found.
    ha1: Option<String>,
    nonce_time: i64,
    /// Authentication-Info was added (a request that becomes its DirectoryIndex by internal
    /// redirect runs the fixups again; Apache's fast redirect does not).
    info_added: bool,
}

fn state<'a>(req: &'a mut Request) -> &'a mut DigestState {
    let state = req.state.get_mut::<DigestState>();
    if state.parsed.is_none() {
        // Read here rather than in a post_read_request hook: the header is the one the client
        // sent either way.
        let line = req.head.headers.get("Authorization").map(str::to_string);
        req.state.get_mut::<DigestState>().parsed = Some(parse_header(line.as_deref()));
    }
    req.state.get_mut::<DigestState>()
}

// ---------------------------------------------------------------------------------------------
// Nonces and digests.

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn micros(time: std::time::SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The hash part of a nonce: SHA-1 over the secret, the realm, the time part and the opaque.
fn nonce_hash(time_part: &str, opaque: &str, realm: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(secret());
    sha.update(realm.as_bytes());
    sha.update(time_part.as_bytes());
    sha.update(opaque.as_bytes());
    sha.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A nonce for the time (microseconds, or a one-time nonce's number).
fn make_nonce(time: i64, opaque: &str, realm: &str) -> String {
    let time_part = base64::engine::general_purpose::STANDARD.encode(time.to_le_bytes());
    let hash = nonce_hash(&time_part, opaque, realm);
    format!("{time_part}{hash}")
}

/// The time a nonce's first part encodes (as `apr_base64_decode_binary` reads it).
fn nonce_time(nonce: &str) -> i64 {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let mut bytes = [0u8; 8];
    if let Ok(decoded) = engine.decode(nonce.get(..NONCE_TIME_LEN).unwrap_or("")) {
        let n = decoded.len().min(8);
        bytes[..n].copy_from_slice(&decoded[..n]);
    }
    i64::from_le_bytes(bytes)
}

/// A new client in the table, logged as Apache logs it.
fn new_client(req: &Request, table: ClientTable) -> u32 {
    let added = table.add();
    if let Some(collected) = &added.collected {
        req.log_server_error("auth_digest", "info", collected);
    }
    let text = format!("AH01768: allocated new client {}", added.id);
    req.log_server_error("auth_digest", "debug", &text);
    added.id
}

/// The client an opaque names, if the table holds it; the lookup is logged (at debug) where
/// Apache's is, when a challenge is made.
fn find_client(req: &Request, table: ClientTable, id: u64) -> Option<Client> {
    let found = lookup_client(table, id);
    let id = id as u32;
    let text = match found {
        Some(_) => format!("AH01764: client {id} found"),
        None => format!("AH01765: client {id} not found"),
    };
    req.log_error("auth_digest", "debug", &text);
    found
}

/// The same without a word in the log (the checks of an answer).
fn lookup_client(table: ClientTable, id: u64) -> Option<Client> {
    table.get(u32::try_from(id).ok().filter(|&id| id != 0)?)
}

// ---------------------------------------------------------------------------------------------
// The challenge.

/// Adds the Digest challenge to the 401 (Apache's note_digest_auth_failure): a new client id
/// when this configuration tracks clients and the client had none (or one no longer known,
/// which makes the challenge stale), and a fresh nonce.
fn challenge(req: &mut Request, dir: &Dir, mut stale: bool) {
    let realm = auth_name(req, &req.dir).unwrap_or_default();
    let table = table();
    let lifetime = dir.nonce_lifetime();
    let state = state(req);
    let sent_opaque = state.parsed.as_ref().and_then(|(_, c)| c.opaque.clone());
    let opaque = match (sent_opaque, table) {
        (None, Some(table)) if dir.tracks_clients() => format!("{:x}", new_client(req, table)),
        (None, _) | (Some(_), None) => String::new(),
        (Some(sent), Some(table)) => match find_client(req, table, hex_number(&sent).0) {
            Some(_) => sent,
            None => {
                // Its entry was dropped (or it never had one): a new id, and a stale nonce so
                // the client retries without asking its user again.
                stale = true;
                let id = new_client(req, table);
                table.count_renewed();
                format!("{id:x}")
            }
        },
    };
    let time = match (lifetime, table) {
        (0, Some(table)) => table.next_one_time(),
        // Without a client table Apache's one-time nonces all carry this fixed time.
        (0, None) => 42,
        _ => micros(req.now),
    };
    let nonce = make_nonce(time, &opaque, &realm);
    let mut value = format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=MD5");
    if !opaque.is_empty() {
        value.push_str(&format!(", opaque=\"{opaque}\""));
    }
    if !dir.domain.is_empty() {
        value.push_str(&format!(", domain=\"{}\"", dir.domain.join(" ")));
    }
    if stale {
        value.push_str(", stale=true");
    }
    value.push_str(", qop=\"auth\"");
    req.err_headers.set("WWW-Authenticate", value);
}

/// The challenge for a 401 another phase decided (authorization): `request::auth` calls this
/// for `AuthType Digest`.
pub(crate) fn note_auth_failure(req: &mut Request) {
    let dir = req.dir.module::<Dir>().into_owned();
    state(req).needed_auth = true;
    challenge(req, &dir, false);
}

/// A 401 with the reason logged and the challenge.
fn refuse(req: &mut Request, dir: &Dir, level: &str, text: &str, stale: bool) -> u16 {
    req.log_error("auth_digest", level, text);
    challenge(req, dir, stale);
    401
}

// ---------------------------------------------------------------------------------------------
// Authentication.

/// mod_auth_digest's hooks: authentication, and Authentication-Info as a fixup.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .check_user_id
        .add("auth_digest", Order::Middle, authenticate_digest_user);
    hooks
        .fixups
        .add("auth_digest", Order::Middle, add_auth_info);
}

/// Authentication for `AuthType Digest` (others are declined).
fn authenticate_digest_user(req: &mut Request) -> Step<Option<()>> {
    let dir_runtime = std::sync::Arc::clone(&req.dir);
    if !auth_type(req, &dir_runtime).is_some_and(|t| t.eq_ignore_ascii_case("Digest")) {
        return Ok(None);
    }
    let Some(realm) = auth_name(req, &dir_runtime) else {
        let text = format!("AH01780: need AuthName: {}", req.uri);
        req.log_error("auth_digest", "error", &text);
        return Err(500);
    };
    let dir = dir_runtime.module::<Dir>().into_owned();
    let state = state(req);
    state.needed_auth = true;
    let (status, sent) = state.parsed.clone().unwrap_or_default();
    match status {
        HeaderStatus::Valid => {}
        HeaderStatus::NotDigest => {
            let text = format!(
                "AH01781: client used wrong authentication scheme `{}': {}",
                sent.scheme, req.uri
            );
            return Err(refuse(req, &dir, "error", &text, false));
        }
        HeaderStatus::Invalid => {
            let text = format!(
                "AH01782: missing user, realm, nonce, uri, digest, cnonce, or nonce_count in \
                 authorization header: {}",
                req.uri
            );
            return Err(refuse(req, &dir, "error", &text, false));
        }
        HeaderStatus::Missing => {
            challenge(req, &dir, false);
            return Err(401);
        }
    }
    let field = |f: &Option<String>| f.clone().unwrap_or_default();
    let user = field(&sent.username);
    let nonce = field(&sent.nonce);
    let uri = field(&sent.uri);
    req.user = Some(user.clone());

    check_uri(req, &uri)?;

    let opaque_id = sent.opaque.as_deref().map(|o| hex_number(o).0);
    if opaque_id == Some(0) {
        let text = format!(
            "AH01787: received invalid opaque - got `{}'",
            field(&sent.opaque)
        );
        return Err(refuse(req, &dir, "error", &text, false));
    }
    if sent.realm.as_deref() != Some(realm.as_str()) {
        let text = format!(
            "AH01788: realm mismatch - got `{}' but expected `{realm}'",
            field(&sent.realm)
        );
        return Err(refuse(req, &dir, "error", &text, false));
    }
    if let Some(alg) = sent
        .algorithm
        .as_deref()
        .filter(|a| !a.eq_ignore_ascii_case("MD5"))
    {
        let text = format!("AH01789: unknown algorithm `{alg}' received: {}", req.uri);
        return Err(refuse(req, &dir, "error", &text, false));
    }

    let ha1 = match realm_hash(req, &dir, &user, &realm) {
        Ok(Some(hash)) => hash,
        Ok(None) => {
            let text = format!(
                "AH01790: user `{user}' in realm `{realm}' not found: {}",
                req.uri
            );
            return Err(refuse(req, &dir, "error", &text, false));
        }
        Err(()) => return Err(500),
    };

    let qop = sent.qop.clone();
    if !qop
        .as_deref()
        .is_some_and(|q| q.eq_ignore_ascii_case("auth"))
    {
        let text = format!(
            "AH10560: invalid or missing qop value '{}', RFC 2069 is no longer supported: {}",
            qop.as_deref().unwrap_or("(null)"),
            req.uri
        );
        return Err(refuse(req, &dir, "error", &text, false));
    }
    let nc = field(&sent.nc);
    let ha2 = md5_hex(&format!("{}:{uri}", req.method));
    let expected = md5_hex(&format!(
        "{ha1}:{nonce}:{nc}:{}:{}:{ha2}",
        field(&sent.cnonce),
        field(&qop)
    ));
    if sent.response.as_deref() != Some(expected.as_str()) {
        let text = format!("AH01794: user {user}: password mismatch: {}", req.uri);
        return Err(refuse(req, &dir, "error", &text, false));
    }

    let time = check_nonce(req, &dir, &sent, &realm)?;
    let client = match (opaque_id, table()) {
        (Some(id), Some(table)) => lookup_client(table, id),
        _ => None,
    };
    let accepted = check_nc(req, &dir, &sent, time, client)?;
    if let (Some(table), Some(client)) = (table(), accepted) {
        table.update(client);
    }
    let state = req.state.get_mut::<DigestState>();
    state.ha1 = Some(ha1);
    state.nonce_time = time;
    state.client = accepted.or(client);
    Ok(Some(()))
}

/// The `user:realm` hash from AuthDigestProvider's providers in turn (mod_authn_file's `file`
/// when none is named); `Err` after logging when a provider fails.
fn realm_hash(req: &Request, dir: &Dir, user: &str, realm: &str) -> Result<Option<String>, ()> {
    let default = ["file".to_string()];
    let providers: &[String] = if dir.providers.is_empty() {
        if !req.rt.module_loaded("authn_file_module") {
            req.log_error(
                "auth_digest",
                "error",
                "AH01770: No Authn provider configured",
            );
            return Err(());
        }
        &default
    } else {
        &dir.providers
    };
    for name in providers {
        let provider = Provider::named(&req.dir, name);
        match provider.base {
            "dbm" => {
                let conf = provider.settings::<super::authn_dbm::Dir>();
                match super::authn_dbm::realm_hash(req, &conf, user, realm) {
                    Ok(Some(hash)) => return Ok(Some(hash)),
                    Ok(None) => continue,
                    Err(_) => return Err(()),
                }
            }
            // An alias of a provider without realm hashes (mod_authn_anon's).
            "anon" => {
                let text =
                    format!("The '{name}' Authn provider doesn't support Digest Authentication");
                req.log_error("auth_digest", "error", &text);
                return Err(());
            }
            _ => {}
        }
        let file = provider.settings::<authn_file::Dir>().user_file.clone();
        let path = file.as_deref().map(|f| resolve(req, f));
        match authn_file::realm_hash(path.as_deref(), user, realm) {
            RealmHash::Found(hash) => return Ok(Some(hash)),
            RealmHash::UserNotFound => continue,
            RealmHash::Error(text, cause) => {
                req.log_os_error("authn_file", "error", cause.as_ref(), &text);
                return Err(());
            }
        }
    }
    Ok(None)
}

/// A URI as `apr_uri_parse` splits it (the parts the check compares).
#[derive(Debug, Default)]
struct UriParts {
    hostname: Option<String>,
    port_str: Option<String>,
    port: u16,
    path: Option<String>,
    query: Option<String>,
}

/// `ap_unescape_url` for the comparison: `%XX` decoded, a `%` without two hex digits kept.
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' && at + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[at + 1]), hex(bytes[at + 2])) {
                out.push(high << 4 | low);
                at += 3;
                continue;
            }
        }
        out.push(bytes[at]);
        at += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a URI; `None` where `apr_uri_parse` fails (a port that is not a number).
fn split_uri(text: &str) -> Option<UriParts> {
    let mut parts = UriParts::default();
    let mut rest = text;
    let scheme_end = text.find(':').filter(|&i| {
        i > 0
            && text[..i]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
            && text[i..].starts_with("://")
    });
    if let Some(end) = scheme_end {
        let scheme = &text[..end];
        let after = &text[end + 3..];
        let host_end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let hostinfo = &after[..host_end];
        let hostport = hostinfo.rsplit('@').next().unwrap_or(hostinfo);
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let close = v6.find(']')?;
            let tail = &v6[close + 1..];
            (&v6[..close], tail.strip_prefix(':'))
        } else {
            match hostport.rfind(':') {
                Some(colon) => (&hostport[..colon], Some(&hostport[colon + 1..])),
                None => (hostport, None),
            }
        };
        parts.hostname = Some(host.to_string());
        if let Some(port) = port {
            if !port.is_empty() {
                if !port.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                parts.port = port.parse().unwrap_or(0);
            } else {
                parts.port = match scheme.to_ascii_lowercase().as_str() {
                    "https" => 443,
                    _ => 80,
                };
            }
            parts.port_str = Some(port.to_string());
        }
        rest = &after[host_end..];
    }
    let rest = rest.split('#').next().unwrap_or("");
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    parts.path = (!path.is_empty()).then(|| path.to_string());
    parts.query = query.map(str::to_string);
    Some(parts)
}

/// The uri attribute against the request-target: the same text, or the same parts (a proxy
/// may have rewritten one of them).
fn check_uri(req: &mut Request, uri: &str) -> Step<()> {
    let raw = req.head.target.clone();
    if uri == raw {
        return Ok(());
    }
    let Some(mut sent) = split_uri(uri) else {
        let text = format!("AH01783: invalid uri <{uri}> in Authorization header");
        req.log_error("auth_digest", "error", &text);
        return Err(400);
    };
    let target = split_uri(&raw).unwrap_or_default();
    let target_host_given = target.hostname.as_deref().is_some_and(|h| !h.is_empty());
    let request_host = match target.hostname.as_deref().filter(|h| !h.is_empty()) {
        Some(host) => unescape(host),
        None => req.host_name(),
    };
    let request_port = if target.port_str.as_deref().is_some_and(|p| !p.is_empty()) {
        target.port
    } else {
        req.server_port()
    };
    let request_path = target.path.as_deref().map(|p| {
        if p.is_empty() {
            p.to_string()
        } else {
            unescape(p)
        }
    });
    let request_query = target.query.as_deref().map(|q| {
        if q.is_empty() {
            q.to_string()
        } else {
            unescape(q)
        }
    });
    sent.hostname = sent.hostname.as_deref().map(unescape);
    sent.path = sent.path.as_deref().map(unescape);
    match sent.query.as_deref() {
        Some(query) => sent.query = Some(unescape(query)),
        None if request_query.is_some() => {
            let hack = crate::request::environment(req)
                .iter()
                .any(|(name, _)| name == "AuthDigestEnableQueryStringHack");
            if hack {
                let text =
                    format!("AH01784: applying AuthDigestEnableQueryStringHack to uri <{raw}>");
                req.log_error("auth_digest", "info", &text);
                sent.query = request_query.clone();
            }
        }
        None => {}
    }
    let mismatch = if req.method == "CONNECT" {
        if uri != raw {
            let text =
                format!("AH01785: uri mismatch - <{uri}> does not match request-uri <{raw}>");
            req.log_error("auth_digest", "error", &text);
            return Err(400);
        }
        false
    } else {
        let named_host = sent.hostname.as_deref().filter(|h| !h.is_empty());
        named_host.is_some_and(|h| !h.eq_ignore_ascii_case(&request_host))
            || (sent.port_str.is_some() && sent.port != request_port)
            || (named_host.is_some()
                && sent.port_str.is_none()
                && request_port != req.default_port())
            || (sent.path != request_path
                && !(sent.path.as_deref() == Some("*")
                    && request_path.is_none()
                    && target_host_given))
            || sent.query != request_query
    };
    if mismatch {
        let text = format!("AH01786: uri mismatch - <{uri}> does not match request-uri <{raw}>");
        req.log_error("auth_digest", "error", &text);
        return Err(400);
    }
    Ok(())
}

/// The nonce's hash, age and (one-time nonces) first use; the nonce's time when it passes.
fn check_nonce(req: &mut Request, dir: &Dir, sent: &Credentials, realm: &str) -> Step<i64> {
    let nonce = sent.nonce.as_deref().unwrap_or("");
    let opaque = sent.opaque.as_deref().unwrap_or("");
    let time_part = &nonce[..NONCE_TIME_LEN];
    let hash = nonce_hash(time_part, opaque, realm);
    if hash != nonce[NONCE_TIME_LEN..] {
        let text = format!("AH01776: invalid nonce {nonce} received - hash is not {hash}");
        return Err(refuse(req, dir, "error", &text, true));
    }
    let time = nonce_time(nonce);
    let lifetime = dir.nonce_lifetime();
    let age = micros(req.now) - time;
    let user = req.user.clone().unwrap_or_default();
    if lifetime > 0 && age < 0 {
        let text = format!("AH01777: invalid nonce {nonce} received - user attempted time travel");
        return Err(refuse(req, dir, "error", &text, true));
    }
    if lifetime > 0 && age > lifetime {
        let text = format!(
            "AH01778: user {user}: nonce expired ({:.2} seconds old - max lifetime {:.2}) - \
             sending new nonce",
            (age / 1_000_000) as f64,
            (lifetime / 1_000_000) as f64
        );
        return Err(refuse(req, dir, "info", &text, true));
    }
    if lifetime == 0 {
        let id = sent.opaque.as_deref().map(|o| hex_number(o).0);
        if let (Some(table), Some(id)) = (table(), id) {
            match lookup_client(table, id) {
                None => {
                    let text =
                        format!("AH10618: client {id} is no longer known - sending new nonce");
                    return Err(refuse(req, dir, "info", &text, true));
                }
                // A sub-request (a DirectoryIndex lookup) carries the answer its request was
                // just accepted with: Apache does not authenticate it again.
                Some(client) if req.subrequest && time == client.nonce_time => {}
                Some(client) if time <= client.nonce_time => {
                    let text = format!(
                        "AH01779: user {user}: one-time-nonce {nonce} already used - sending \
                         new nonce"
                    );
                    return Err(refuse(req, dir, "info", &text, true));
                }
                Some(_) => {}
            }
        }
    }
    Ok(time)
}

/// AuthDigestNcCheck: the nonce-count must rise for a nonce, and a nonce older than the
/// client's newest is refused. Returns the client as it is to be recorded.
fn check_nc(
    req: &mut Request,
    dir: &Dir,
    sent: &Credentials,
    time: i64,
    client: Option<Client>,
) -> Step<Option<Client>> {
    let table = table();
    if table.is_none() {
        return Ok(None);
    }
    if !dir.nc_check {
        // One-time nonces still record which nonce was used.
        return Ok(client
            .filter(|_| dir.nonce_lifetime() == 0)
            .map(|c| Client {
                nonce_time: time,
                ..c
            }));
    }
    let text_nc = sent.nc.as_deref().unwrap_or("");
    let (nc, rest) = hex_number(text_nc);
    if rest
        .chars()
        .next()
        .is_some_and(|c| !c.is_ascii_whitespace())
    {
        let text = format!("AH01773: invalid nc {text_nc} received - not a number");
        return Err(refuse(req, dir, "error", &text, false));
    }
    let Some(client) = client else {
        let id = sent
            .opaque
            .as_deref()
            .map(|o| hex_number(o).0 as u32)
            .unwrap_or(0);
        let text = format!("AH10618: client {id} is no longer known - sending new nonce");
        return Err(refuse(req, dir, "info", &text, true));
    };
    let newer_nonce = time > client.nonce_time;
    let count_rises = time == client.nonce_time && nc > client.nonce_count;
    // A sub-request repeats the answer its request was just accepted with (see check_nonce).
    let accepted_already = req.subrequest && time == client.nonce_time && nc == client.nonce_count;
    if !(newer_nonce || count_rises || accepted_already) {
        let text = format!(
            "AH01774: Warning, possible replay attack: nonce-count check failed: {nc} is not \
             above {} for nonce {}",
            client.nonce_count,
            sent.nonce.as_deref().unwrap_or("")
        );
        return Err(refuse(req, dir, "error", &text, false));
    }
    Ok(Some(Client {
        id: client.id,
        nonce_count: nc,
        nonce_time: time,
    }))
}

// ---------------------------------------------------------------------------------------------
// Authentication-Info.

/// Adds Authentication-Info to a response Digest authentication let through: the response
/// digest (rspauth) proving the server knows the password too, and a next nonce when the
/// current one is about to expire (or was a one-time nonce).
fn add_auth_info(req: &mut Request) -> Step<Fixup> {
    // A sub-request (a DirectoryIndex lookup) has its own request state in Apache, without the
    // credentials: only the request the client sent answers them.
    if req.subrequest {
        return Ok(Fixup::Continue);
    }
    let Some(state) = req.state.get::<DigestState>() else {
        return Ok(Fixup::Continue);
    };
    let (Some(ha1), Some((HeaderStatus::Valid, sent))) = (state.ha1.clone(), state.parsed.clone())
    else {
        return Ok(Fixup::Continue);
    };
    if !state.needed_auth || state.info_added {
        return Ok(Fixup::Continue);
    }
    let (nonce_time, client) = (state.nonce_time, state.client);
    let dir = req.dir.module::<Dir>().into_owned();
    let realm = auth_name(req, &req.dir).unwrap_or_default();
    let opaque = sent.opaque.clone().unwrap_or_default();
    let lifetime = dir.nonce_lifetime();
    let now = micros(req.now);
    let mut next = String::new();
    if lifetime > 0 {
        if now - nonce_time > lifetime - NEXTNONCE_DELTA_US {
            next = format!(", nextnonce=\"{}\"", make_nonce(now, &opaque, &realm));
        }
    } else if lifetime == 0 && client.is_some() {
        if let Some(table) = table() {
            let nonce = make_nonce(table.next_one_time(), &opaque, &realm);
            next = format!(", nextnonce=\"{nonce}\"");
        }
    }
    let field = |f: &Option<String>| f.clone().unwrap_or_default();
    let ha2 = md5_hex(&format!(":{}", field(&sent.uri)));
    let rspauth = md5_hex(&format!(
        "{ha1}:{}:{}:{}:{}:{ha2}",
        field(&sent.nonce),
        field(&sent.nc),
        field(&sent.cnonce),
        field(&sent.qop)
    ));
    let mut info = format!("rspauth=\"{rspauth}\"{next}");
    if let Some(cnonce) = &sent.cnonce {
        info.push_str(&format!(", cnonce=\"{}\"", escape_quotes(cnonce)));
    }
    if let Some(nc) = &sent.nc {
        info.push_str(&format!(", nc={nc}"));
    }
    if let Some(qop) = &sent.qop {
        info.push_str(&format!(", qop={qop}"));
    }
    let merged = match req.headers_out.get("Authentication-Info") {
        Some(existing) => format!("{existing}, {info}"),
        None => info,
    };
    req.headers_out.set("Authentication-Info", merged);
    req.state.get_mut::<DigestState>().info_added = true;
    Ok(Fixup::Continue)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(directives: &str) -> Dir {
        let text =
            format!("LoadModule authn_file_module x\n<Location /a>\n{directives}\n</Location>\n");
        crate::modules::test_section(&text)
            .module::<Dir>()
            .into_owned()
    }

    #[test]
    fn setters_store_what_the_directives_say() {
        let dir = section(
            "AuthDigestNonceLifetime 10\nAuthDigestNcCheck On\nAuthDigestDomain /a /b\n\
             AuthDigestDomain http://x/\nAuthDigestQop auth\nAuthDigestAlgorithm md5",
        );
        assert_eq!(dir.nonce_lifetime(), 10_000_000);
        assert!(dir.nc_check);
        assert!(dir.tracks_clients());
        assert_eq!(dir.domain, ["/a", "/b", "http://x/"]);
        assert_eq!(section("AuthDigestNonceLifetime 0").nonce_lifetime(), 0);
        assert!(section("AuthDigestNonceLifetime 0").tracks_clients());
        assert_eq!(
            section("AuthDigestNonceLifetime -1").nonce_lifetime(),
            -1_000_000
        );
        assert_eq!(
            section("AuthDigestNcCheck Off").nonce_lifetime(),
            300_000_000
        );
    }

    #[test]
    fn a_section_with_any_directive_replaces_what_it_inherits() {
        let parent = Dir {
            own: true,
            nc_check: true,
            domain: vec!["/x".into()],
            ..Dir::default()
        };
        let child = Dir {
            own: true,
            nonce_lifetime_us: Some(5),
            ..Dir::default()
        };
        let merged = parent.merge(&child);
        assert!(!merged.nc_check && merged.domain.is_empty());
        assert_eq!(merged.nonce_lifetime(), 5);
        assert!(parent.merge(&Dir::default()).nc_check);
    }

    #[test]
    fn argument_errors_are_apaches() {
        let apply = |line: &str| {
            crate::modules::install_registry();
            let text = format!("<Location /a>\n{line}\n</Location>\n");
            let nodes = rhttpd_parser::parse(&text, "t.conf").unwrap();
            let mut cfg = rhttpd_directives::model::Config::default();
            cfg.read.modules = crate::modules::REGISTRY.to_vec();
            rhttpd_directives::apply::apply(&mut cfg, &[&nodes])
                .err()
                .map(|e| format!("{e:?}"))
                .unwrap_or_default()
        };
        for (line, message) in [
            (
                "AuthDigestQop none",
                "AuthDigestQop is deprecated: only 'auth' is supported",
            ),
            (
                "AuthDigestQop auth-int",
                "AuthDigestQop is deprecated: only 'auth' is supported",
            ),
            (
                "AuthDigestNonceLifetime 5x",
                "Invalid time in AuthDigestNonceLifetime: 5x",
            ),
            (
                "AuthDigestAlgorithm MD5-sess",
                "Unsupported algorithm in AuthDigestAlgorithm: MD5-sess",
            ),
            (
                "AuthDigestProvider nosuch",
                "Unknown Authn provider: nosuch",
            ),
        ] {
            assert!(apply(line).contains(message), "{line}: {}", apply(line));
        }
        assert_eq!(apply("AuthDigestNonceLifetime 7"), "");
    }

    #[test]
    fn shmem_sizes_parse_as_apache_reads_them() {
        assert_eq!(parse_shmem_size("1k"), Ok(1024));
        assert_eq!(parse_shmem_size(" 2 K"), Ok(2048));
        assert_eq!(parse_shmem_size("1m"), Ok(1_048_576));
        assert_eq!(parse_shmem_size("5000b"), Ok(5000));
        assert_eq!(parse_shmem_size("100"), Ok(100));
        assert_eq!(
            parse_shmem_size("1x"),
            Err("Invalid size in AuthDigestShmemSize: 1x".into())
        );
        assert_eq!(
            parse_shmem_size("64"),
            Err("size in AuthDigestShmemSize too small: 64 < 88".into())
        );
        assert_eq!(
            parse_shmem_size("-5"),
            Err("size in AuthDigestShmemSize too small: -5 < 88".into())
        );
    }

    #[test]
    fn header_parsing() {
        let (status, c) = parse_header(Some(
            "Digest username=\"al\\\"ice\", realm=\"r\", nonce=\"AAAAAAAAAAA=0123456789012345678901234567890123456789\", \
             uri=\"/a\", response=abc, qop=auth, nc=00000001, cnonce=\"x\", opaque=\"1f\"",
        ));
        assert_eq!(status, HeaderStatus::Valid);
        assert_eq!(c.username.as_deref(), Some("al\"ice"));
        assert_eq!(c.response.as_deref(), Some("abc"));
        assert_eq!(hex_number(c.opaque.as_deref().unwrap()).0, 31);
        let (status, _) = parse_header(Some("Digest username=\"a\", nonce=\"short\""));
        assert_eq!(status, HeaderStatus::Invalid);
        assert_eq!(parse_header(Some("Basic abc")).0, HeaderStatus::NotDigest);
        assert_eq!(parse_header(None).0, HeaderStatus::Missing);
    }

    #[test]
    fn nonces_carry_their_time_and_check_against_the_secret() {
        let nonce = make_nonce(1_700_000_000_123_456, "2", "realm");
        assert_eq!(nonce.len(), NONCE_LEN);
        assert_eq!(nonce.as_bytes()[NONCE_TIME_LEN - 1], b'=');
        assert_eq!(nonce_time(&nonce), 1_700_000_000_123_456);
        assert_eq!(&nonce[..12], "QCIgGCQKBgA=");
        assert_eq!(nonce[12..], nonce_hash(&nonce[..12], "2", "realm"));
        assert_ne!(nonce[12..], nonce_hash(&nonce[..12], "3", "realm"));
        assert_eq!(&make_nonce(1, "", "r")[..12], "AQAAAAAAAAA=");
    }

    #[test]
    fn uris_split_like_apr() {
        let parts = split_uri("http://Host:8080/a%20b?q=1").unwrap();
        assert_eq!(parts.hostname.as_deref(), Some("Host"));
        assert_eq!(
            (parts.port, parts.port_str.as_deref()),
            (8080, Some("8080"))
        );
        assert_eq!(parts.path.as_deref(), Some("/a%20b"));
        assert_eq!(parts.query.as_deref(), Some("q=1"));
        assert!(split_uri("http://h:x/").is_none());
        let plain = split_uri("/p").unwrap();
        assert!(plain.hostname.is_none() && plain.query.is_none());
    }

    #[test]
    fn the_client_table_holds_what_apaches_segment_holds() {
        // Entries before the first collection, as Debian's 2.4.71 allocates them.
        for (size, buckets, entries) in [
            (1000, DEFAULT_BUCKETS, 12),
            (1000, 5, 14),
            (2000, 11, 31),
            (4000, 23, 65),
            (500, 2, 5),
            (300, 1, 2),
        ] {
            assert_eq!(ClientTable::capacity_for(size, buckets), entries, "{size}");
            assert_eq!(buckets_for(size), if size == 1000 { 5 } else { buckets });
        }
    }

    #[test]
    fn removed_clients_keep_the_others_findable() {
        // 500 bytes: two buckets, five entries; ids 1..5 fill it.
        let table = ClientTable::new(500, 2).unwrap();
        let ids: Vec<u32> = (0..5).map(|_| table.add().id).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        assert!(table.get(1).is_some());
        // Full: bucket 0 loses 2 (its oldest), bucket 1 loses 3 (1 was just used).
        let sixth = table.add();
        assert_eq!(sixth.id, 6);
        assert!(sixth
            .collected
            .unwrap()
            .starts_with("AH01766: gc'd 2 client entries."));
        for (id, there) in [
            (1, true),
            (2, false),
            (3, false),
            (4, true),
            (5, true),
            (6, true),
        ] {
            assert_eq!(table.get(id).is_some(), there, "client {id}");
        }
        assert!(table.get(0).is_none() && table.get(99).is_none());
    }

    #[test]
    fn a_full_table_drops_the_least_recently_used_client_of_every_bucket() {
        // 300 bytes: one bucket, two entries.
        let table = ClientTable::new(300, 1).unwrap();
        let (a, b) = (table.add(), table.add());
        assert_eq!((a.id, b.id), (1, 2));
        assert!(a.collected.is_none() && b.collected.is_none());
        table.update(Client {
            id: 1,
            nonce_count: 3,
            nonce_time: 9,
        });
        assert_eq!(table.get(1).map(|c| c.nonce_count), Some(3));
        let c = table.add();
        assert_eq!(c.id, 3);
        assert_eq!(
            c.collected.as_deref(),
            Some(
                "AH01766: gc'd 1 client entries. Total new clients: 2; Total removed clients: \
                 1; Total renewed clients: 0"
            )
        );
        assert!(table.get(2).is_none(), "client 2 was used least recently");
        assert!(table.get(1).is_some());
        assert_eq!(table.next_one_time(), 1);
        assert_eq!(table.next_one_time(), 2);
    }
}
