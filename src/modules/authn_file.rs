//! mod_authn_file, whole: AuthUserFile (table, setter, typed per-directory configuration and
//! merge), the htpasswd provider, and the password formats Apache's `apr_password_validate`
//! accepts on Unix: bcrypt (`$2y$`), APR1-MD5 (`$apr1$`), `{SHA}`, and what crypt(3) knows
//! (`$1$`, `$5$`, `$6$`, DES). Plain text is refused, as on Unix.

use std::path::Path;

use md5::{Digest, Md5};
use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::check_file_path;

pub static MODULE: ModuleDef = ModuleDef {
    id: "authn_file_module",
    source: "mod_authn_file.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "AuthUserFile",
    Take1(auth_user_file),
    OR_AUTHCFG,
    "text file containing user IDs and passwords",
)
.implemented()];

fn auth_user_file(cmd: &mut Cmd, file: &str) -> SetResult {
    check_file_path(cmd, file)?;
    cmd.dir_config::<Dir>().user_file = Some(file.to_string());
    Ok(())
}

/// Per-directory: the password file (ServerRoot-relative as written).
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub user_file: Option<String>,
}

/// What a provider concluded about a user and password (Apache's `authn_status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authn {
    Granted,
    /// The user exists but the password does not match.
    Denied,
    UserNotFound,
    /// The provider could not check (the message is for the error log).
    Error(String),
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            user_file: child.user_file.clone().or_else(|| self.user_file.clone()),
        }
    }
}

/// The AuthUserFile's text, or why it cannot be had (Apache's messages).
fn read_user_file(path: Option<&Path>) -> Result<String, Authn> {
    let Some(path) = path else {
        return Err(Authn::Error(
            "AH01619: AuthUserFile not specified in the configuration".into(),
        ));
    };
    match std::fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) => Err(Authn::Error(format!(
            "({}){}: AH01620: Could not open password file: {}",
            e.raw_os_error().unwrap_or(0),
            crate::config::read::strerror(&e),
            path.display()
        ))),
    }
}

/// Looks `user` up in the htpasswd file at `path` and checks `password` against its hash.
pub fn check_password(path: Option<&Path>, user: &str, password: &str) -> Authn {
    let text = match read_user_file(path) {
        Ok(text) => text,
        Err(failed) => return failed,
    };
    let stored = text.lines().map(str::trim).find_map(|line| {
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let (name, rest) = line.split_once(':').unwrap_or((line, ""));
        (name == user).then(|| rest.split(':').next().unwrap_or(""))
    });
    match stored {
        None => Authn::UserNotFound,
        Some(hash) if password_matches(password, hash) => Authn::Granted,
        Some(_) => Authn::Denied,
    }
}

/// AuthBasicUseDigestAlgorithm MD5: the password checked against an htdigest entry
/// (`user:realm:md5(user:realm:password)`).
pub fn check_realm_hash(path: Option<&Path>, user: &str, realm: &str, password: &str) -> Authn {
    let text = match read_user_file(path) {
        Ok(text) => text,
        Err(failed) => return failed,
    };
    let stored = text.lines().map(str::trim).find_map(|line| {
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut parts = line.splitn(3, ':');
        let (name, line_realm) = (parts.next()?, parts.next()?);
        (name == user && line_realm == realm)
            .then(|| parts.next().unwrap_or("").split(':').next().unwrap_or(""))
    });
    let Some(stored) = stored else {
        return Authn::UserNotFound;
    };
    realm_hash_verdict(user, realm, password, stored)
}

/// AuthBasicUseDigestAlgorithm's check of a stored realm hash: the password's
/// `md5(user:realm:password)` in hex against it.
pub fn realm_hash_verdict(user: &str, realm: &str, password: &str, stored: &str) -> Authn {
    let digest = Md5::digest(format!("{user}:{realm}:{password}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if hex == stored {
        Authn::Granted
    } else {
        Authn::Denied
    }
}

/// What mod_authn_file's `get_realm_hash` answers (mod_auth_digest's question).
#[derive(Debug)]
pub enum RealmHash {
    /// The stored `md5(user:realm:password)`.
    Found(String),
    UserNotFound,
    /// The file could not be read: the message for the error log, and the system's error.
    Error(String, Option<std::io::Error>),
}

/// The htdigest hash stored for `user` in `realm` (`user:realm:hash` lines).
pub fn realm_hash(path: Option<&Path>, user: &str, realm: &str) -> RealmHash {
    let Some(path) = path else {
        return RealmHash::Error(
            "AH01621: AuthUserFile not specified in the configuration".into(),
            None,
        );
    };
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            let text = format!("AH01622: Could not open password file: {}", path.display());
            return RealmHash::Error(text, Some(e));
        }
    };
    let found = text.lines().map(str::trim).find_map(|line| {
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut parts = line.splitn(3, ':');
        let (name, line_realm) = (parts.next()?, parts.next()?);
        (name == user && line_realm == realm).then(|| {
            parts
                .next()
                .unwrap_or("")
                .split(':')
                .next()
                .unwrap_or("")
                .to_string()
        })
    });
    match found {
        Some(hash) => RealmHash::Found(hash),
        None => RealmHash::UserNotFound,
    }
}

/// `apr_password_validate` on Unix.
pub fn password_matches(password: &str, hash: &str) -> bool {
    if let Some(rest) = hash.strip_prefix("$apr1$") {
        let salt = rest.split('$').next().unwrap_or("");
        return constant_time_eq(
            apr1(password.as_bytes(), salt.as_bytes()).as_bytes(),
            hash.as_bytes(),
        );
    }
    if let Some(digest) = hash.strip_prefix("{SHA}") {
        use base64::Engine;
        let sum = sha1::Sha1::digest(password.as_bytes());
        let encoded = base64::engine::general_purpose::STANDARD.encode(sum);
        return constant_time_eq(encoded.as_bytes(), digest.as_bytes());
    }
    pwhash::unix::verify(password, hash)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Apache's MD5-crypt variant: FreeBSD's `$1$` construction with `$apr1$` mixed in instead.
/// No maintained crate offers it; this composes the `md-5` crate's MD5 the way APR does.
fn apr1(password: &[u8], salt: &[u8]) -> String {
    const MAGIC: &[u8] = b"$apr1$";
    let salt = &salt[..salt.len().min(8)];
    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(MAGIC);
    ctx.update(salt);
    let alternate = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut left = password.len();
    while left > 0 {
        ctx.update(&alternate[..left.min(16)]);
        left = left.saturating_sub(16);
    }
    let mut bits = password.len();
    while bits > 0 {
        if bits & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        bits >>= 1;
    }
    let mut digest = ctx.finalize();
    for round in 0..1000 {
        let mut next = Md5::new();
        if round & 1 == 1 {
            next.update(password);
        } else {
            next.update(digest);
        }
        if round % 3 != 0 {
            next.update(salt);
        }
        if round % 7 != 0 {
            next.update(password);
        }
        if round & 1 == 1 {
            next.update(digest);
        } else {
            next.update(password);
        }
        digest = next.finalize();
    }
    const ITOA64: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::from("$apr1$");
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    let mut push = |mut value: u32, count: usize| {
        for _ in 0..count {
            out.push(ITOA64[(value & 0x3f) as usize] as char);
            value >>= 6;
        }
    };
    let d = |i: usize| u32::from(digest[i]);
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        push((d(a) << 16) | (d(b) << 8) | d(c), 4);
    }
    push(d(11), 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Hashes of "secret" made by Debian's htpasswd (-m, -s, -B, -d) and openssl passwd.
    #[test]
    fn every_htpasswd_format() {
        assert!(password_matches(
            "password",
            "$apr1$RandSalt$PgCXHRrkpSt4cbyC2C6bm/"
        ));
        assert!(!password_matches(
            "Password",
            "$apr1$RandSalt$PgCXHRrkpSt4cbyC2C6bm/"
        ));
        assert!(password_matches(
            "secret",
            "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="
        ));
        assert!(!password_matches("secret", "secret"));
    }
}
