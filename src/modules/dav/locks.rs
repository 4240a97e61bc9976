//! mod_dav_fs's lock database and mod_dav's lock rules over it: the locks kept at DavLockDB
//! (in rhttpd's own text file beside that path, see [`db_path`]), lock tokens, the `If:`
//! header and the validation of a request's resources against both (`dav_validate_request`).
//!
//! Apache stores a direct record for a lock's root and indirect records for each member a
//! depth-infinity lock covers; here a lock is one record for its root, and a resource's locks
//! are found from its path (the root's own, and every depth-infinity lock of an ancestor),
//! which answers every question the indirect records answer. Lock-null resources are locks
//! whose root does not exist and that were taken on nothing.

use std::fs;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The file rhttpd keeps its locks in: DavLockDB's path with `.rhttpd` added (Apache's own
/// database there is a Berkeley DB file, which rhttpd does not write; the two never share).
pub fn db_path(lockdb: &Path) -> PathBuf {
    let mut text = lockdb.as_os_str().to_owned();
    text.push(".rhttpd");
    PathBuf::from(text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Exclusive,
    Shared,
}

/// One lock, as the database keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// The UUID of its `opaquelocktoken:`.
    pub token: String,
    /// The filesystem path of the locked resource, without a trailing slash.
    pub path: String,
    pub scope: Scope,
    /// Depth infinity (else 0).
    pub infinite: bool,
    /// Seconds since the epoch it expires at; `None` for Infinite.
    pub expires: Option<u64>,
    /// Taken on a resource that did not exist (a lock-null resource until something is
    /// created there).
    pub locknull: bool,
    pub auth_user: Option<String>,
    /// The whole `<DAV:owner>` element as mod_dav writes it back.
    pub owner: Option<String>,
}

impl Lock {
    /// Whether the lock covers the resource at `path` (its root, or below a depth-infinity
    /// root).
    pub fn covers(&self, path: &str) -> bool {
        self.path == path
            || (self.infinite
                && path
                    .strip_prefix(self.path.as_str())
                    .is_some_and(|rest| rest.starts_with('/')))
    }

    pub fn token_uri(&self) -> String {
        format!("opaquelocktoken:{}", self.token)
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\t' => out.push_str("%09"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
            if let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

const HEADER: &str = "rhttpd-dav-locks 1";

fn render(locks: &[Lock]) -> String {
    let mut out = format!("{HEADER}\n");
    for lock in locks {
        let field = |v: &Option<String>| {
            v.as_deref()
                .map_or("-".to_string(), |t| format!("={}", escape(t)))
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            lock.token,
            escape(&lock.path),
            if lock.scope == Scope::Exclusive {
                "exclusive"
            } else {
                "shared"
            },
            if lock.infinite { "infinity" } else { "0" },
            lock.expires
                .map_or("infinite".to_string(), |t| t.to_string()),
            if lock.locknull { "locknull" } else { "-" },
            field(&lock.auth_user),
            field(&lock.owner),
        ));
    }
    out
}

fn parse(text: &str) -> Option<Vec<Lock>> {
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    let optional = |f: &str| f.strip_prefix('=').map(unescape);
    let mut locks = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 8 {
            return None;
        }
        locks.push(Lock {
            token: f[0].to_string(),
            path: unescape(f[1]),
            scope: if f[2] == "exclusive" {
                Scope::Exclusive
            } else {
                Scope::Shared
            },
            infinite: f[3] == "infinity",
            expires: f[4].parse().ok(),
            locknull: f[5] == "locknull",
            auth_user: optional(f[6]),
            owner: optional(f[7]),
        });
    }
    Some(locks)
}

/// Why the database could not be used.
#[derive(Debug)]
pub enum DbError {
    Io(io::Error),
    Corrupt,
}

/// The lock database at DavLockDB, opened for one request: read whole under a shared
/// `flock`, or under an exclusive one for a change (every child of every server that names
/// the file takes the same lock, as Apache's DBM lock does).
pub struct LockDb {
    path: PathBuf,
}

impl LockDb {
    pub fn new(lockdb: &Path) -> LockDb {
        LockDb {
            path: db_path(lockdb),
        }
    }

    /// The unexpired locks (a missing file has none).
    pub fn read(&self) -> Result<Vec<Lock>, DbError> {
        let mut file = match fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(DbError::Io(e)),
        };
        file.lock_shared().map_err(DbError::Io)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(DbError::Io)?;
        let _ = file.unlock();
        let mut locks = if text.is_empty() {
            Vec::new()
        } else {
            parse(&text).ok_or(DbError::Corrupt)?
        };
        let now = now_secs();
        locks.retain(|l| l.expires.is_none_or(|t| t > now));
        Ok(locks)
    }

    /// Reads, lets `change` edit the locks, and writes them back, all under the exclusive
    /// lock; expired locks are dropped on the way.
    pub fn update<R>(&self, change: impl FnOnce(&mut Vec<Lock>) -> R) -> Result<R, DbError> {
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(DbError::Io)?;
        file.lock().map_err(DbError::Io)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(DbError::Io)?;
        let mut locks = if text.is_empty() {
            Vec::new()
        } else {
            parse(&text).ok_or(DbError::Corrupt)?
        };
        let now = now_secs();
        locks.retain(|l| l.expires.is_none_or(|t| t > now));
        let result = change(&mut locks);
        let rendered = render(&locks);
        file.set_len(0).map_err(DbError::Io)?;
        file.seek(io::SeekFrom::Start(0)).map_err(DbError::Io)?;
        file.write_all(rendered.as_bytes()).map_err(DbError::Io)?;
        let _ = file.unlock();
        Ok(result)
    }
}

/// A new lock token: a random (version 4) UUID, as APR's `apr_uuid_get` gives one.
pub fn new_token() -> String {
    let mut bytes = [0u8; 16];
    let filled = fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if filled.is_err() {
        // Without the system's randomness: time and pid, still unique per lock.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes[..16].copy_from_slice(&(nanos ^ ((std::process::id() as u128) << 64)).to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// mod_dav_fs's `parse_locktoken`: the UUID of an `opaquelocktoken:` URI. `Err(true)` for
/// a state token of another kind (an unknown state), `Err(false)` for a malformed UUID.
pub fn parse_token(text: &str) -> Result<String, bool> {
    let Some(uuid) = text.strip_prefix("opaquelocktoken:") else {
        return Err(true);
    };
    let valid = uuid.len() == 36
        && uuid.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if valid {
        Ok(uuid.to_ascii_lowercase())
    } else {
        Err(false)
    }
}

/// One state in an `If:` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Token(String),
    Etag(String),
    /// A state token this server cannot have issued: never matches.
    Unknown,
}

/// One list of the `If:` header: the URI it is tagged with (a path, no trailing slash), and
/// its states with their `Not`.
#[derive(Debug, Clone)]
pub struct IfList {
    pub uri: Option<String>,
    pub states: Vec<(bool, State)>,
    /// Made from UNLOCK's Lock-Token header.
    pub dummy: bool,
}

/// A malformed `If:` header: mod_dav's description and error id (a 400).
#[derive(Debug)]
pub struct IfError {
    pub id: u32,
    pub desc: Option<String>,
}

fn next_token(text: &str, term: char) -> Option<(&str, &str)> {
    let rest = text[1..].trim_start_matches([' ', '\t']);
    let end = rest.find(term)?;
    Some((&rest[..end], &rest[end + 1..]))
}

/// mod_dav's `dav_process_if_header`. Lists come out in the header's order.
pub fn parse_if(header: &str) -> Result<Vec<IfList>, IfError> {
    #[derive(PartialEq)]
    enum Kind {
        Unknown,
        NoTagged,
        Tagged,
    }
    let mut kind = Kind::Unknown;
    let mut uri: Option<String> = None;
    let mut lists = Vec::new();
    let mut rest = header;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let tagged = if kind == Kind::NoTagged {
                    None
                } else {
                    next_token(rest, '>')
                };
                let Some((target, after)) = tagged else {
                    return Err(IfError {
                        id: 104,
                        desc: Some(
                            "Invalid If-header: unclosed \"<\" or unexpected tagged-list production."
                                .into(),
                        ),
                    });
                };
                let path = tagged_path(target).ok_or(IfError {
                    id: 104,
                    desc: Some("Invalid URI in tagged If-header.".into()),
                })?;
                uri = Some(path);
                kind = Kind::Tagged;
                rest = after;
                continue;
            }
            '(' => {
                if kind == Kind::Unknown {
                    kind = Kind::NoTagged;
                }
                let Some((list, after)) = next_token(rest, ')') else {
                    return Err(IfError {
                        id: 105,
                        desc: Some("Invalid If-header: unclosed \"(\".".into()),
                    });
                };
                lists.push(IfList {
                    uri: uri.clone(),
                    states: parse_states(list)?,
                    dummy: false,
                });
                rest = after;
                continue;
            }
            ' ' | '\t' => {}
            other => {
                return Err(IfError {
                    id: 102,
                    desc: Some(format!(
                        "Invalid \"If:\" header: Unexpected character encountered (0x{:02x}, '{other}').",
                        other as u32
                    )),
                })
            }
        }
        rest = &rest[c.len_utf8()..];
    }
    Ok(lists)
}

fn parse_states(list: &str) -> Result<Vec<(bool, State)>, IfError> {
    let mut states = Vec::new();
    let mut not = false;
    let mut rest = list;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' | '[' => {
                let term = if c == '<' { '>' } else { ']' };
                let Some((token, after)) = next_token(rest, term) else {
                    return Err(IfError { id: 100, desc: None });
                };
                let state = if c == '[' {
                    State::Etag(token.to_string())
                } else {
                    match parse_token(token) {
                        Ok(uuid) => State::Token(uuid),
                        Err(true) => State::Unknown,
                        Err(false) => {
                            return Err(IfError {
                                id: 404,
                                desc: Some(
                                    "The lock token uses an invalid UUID format.".to_string(),
                                ),
                            })
                        }
                    }
                };
                states.push((not, state));
                not = false;
                rest = after;
                continue;
            }
            'N' if rest[1..].starts_with("ot") => {
                if not {
                    return Err(IfError {
                        id: 101,
                        desc: Some(
                            "Invalid \"If:\" header: Multiple \"not\" entries for the same state."
                                .into(),
                        ),
                    });
                }
                not = true;
                rest = &rest[3..];
                continue;
            }
            'N' => {
                return Err(IfError {
                    id: 102,
                    desc: Some("Invalid \"If:\" header: Unexpected character in List".into()),
                })
            }
            ' ' | '\t' => {}
            other => {
                return Err(IfError {
                    id: 102,
                    desc: Some(format!(
                        "Invalid \"If:\" header: Unexpected character encountered (0x{:02x}, '{other}').",
                        other as u32
                    )),
                })
            }
        }
        rest = &rest[c.len_utf8()..];
    }
    Ok(states)
}

/// The path of a tagged list's URI, decoded, without a trailing slash.
fn tagged_path(target: &str) -> Option<String> {
    let path = match target.find("://") {
        Some(at) => {
            let after = &target[at + 3..];
            match after.find('/') {
                Some(slash) => &after[slash..],
                None => "/",
            }
        }
        None => target,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    if path.is_empty() {
        return None;
    }
    let decoded = percent_decode(path)?;
    let mut decoded = crate::modules::dav::fs::normalize(&decoded)?;
    if decoded.len() > 1 && decoded.ends_with('/') {
        decoded.pop();
    }
    Some(decoded)
}

pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_headers_parse_into_lists() {
        let lists = parse_if(
            "<http://h/a/b/> (<opaquelocktoken:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0> [\"e\"]) (Not <DAV:no-lock>)",
        )
        .unwrap();
        assert_eq!(lists.len(), 2);
        assert_eq!(lists[0].uri.as_deref(), Some("/a/b"));
        assert_eq!(lists[0].states.len(), 2);
        assert_eq!(lists[1].states, [(true, State::Unknown)]);
        assert!(parse_if("(<a").is_err());
        assert!(parse_if("x").is_err());
        assert!(parse_if("(Not Not <x>)").is_err());
    }

    #[test]
    fn concurrent_updates_are_not_lost() {
        // Each update opens the file anew and takes flock on it, as each child does.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("DavLock");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        LockDb::new(&path)
                            .update(|locks| {
                                locks.push(Lock {
                                    token: new_token(),
                                    path: "/x".into(),
                                    scope: Scope::Shared,
                                    infinite: false,
                                    expires: None,
                                    locknull: false,
                                    auth_user: None,
                                    owner: None,
                                })
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let locks = LockDb::new(&path).read().unwrap();
        assert_eq!(locks.len(), 160);
        let tokens: std::collections::HashSet<_> = locks.iter().map(|l| &l.token).collect();
        assert_eq!(tokens.len(), 160);
    }

    #[test]
    fn the_database_keeps_and_expires_locks() {
        let dir = tempfile::tempdir().unwrap();
        let db = LockDb::new(&dir.path().join("DavLock"));
        let lock = Lock {
            token: new_token(),
            path: "/x/a".into(),
            scope: Scope::Shared,
            infinite: true,
            expires: None,
            locknull: false,
            auth_user: None,
            owner: Some("<ns0:owner xmlns:ns0=\"DAV:\">me\tyou</ns0:owner>".into()),
        };
        db.update(|locks| locks.push(lock.clone())).unwrap();
        let mut old = lock.clone();
        old.token = new_token();
        old.expires = Some(1);
        db.update(|locks| locks.push(old)).unwrap();
        assert_eq!(db.read().unwrap(), std::slice::from_ref(&lock));
        assert!(lock.covers("/x/a/b") && lock.covers("/x/a") && !lock.covers("/x/ab"));
        assert!(parse_token(&lock.token_uri()).is_ok());
    }
}
