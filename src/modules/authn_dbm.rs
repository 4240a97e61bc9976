//! mod_authn_dbm, whole: the `dbm` authentication provider (users and password hashes in a
//! DBM file, as Debian's htdbm writes it: the hash up to the first colon of the value), its
//! AuthDBMUserFile and AuthDBMType (table, setters, typed per-directory configuration), and
//! the realm hashes (`user:realm` keys) digest checks read.

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::OR_AUTHCFG;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::check_file_path;

use super::authn_file::{password_matches, Authn};
use crate::request::auth::resolve;
use crate::request::Request;

pub static MODULE: ModuleDef = ModuleDef {
    id: "authn_dbm_module",
    source: "mod_authn_dbm.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "AuthDBMUserFile",
        Take1(user_file),
        OR_AUTHCFG,
        "dbm database file containing user IDs and passwords",
    )
    .implemented(),
    DirectiveDef::new(
        "AuthDBMType",
        Take1(dbm_type),
        OR_AUTHCFG,
        "what type of DBM file the user file is",
    )
    .implemented(),
];

/// Per-directory settings. Apache's module has no merge: a section that holds either
/// directive replaces what it inherits (the other one back to its default).
#[derive(Debug, Clone, Default)]
pub struct Dir {
    configured: bool,
    /// The file (ServerRoot-relative as written).
    pub user_file: Option<String>,
    /// APR's DBM type name; `default` when unset.
    pub kind: Option<String>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        if child.configured {
            child.clone()
        } else {
            self.clone()
        }
    }
}

fn user_file(cmd: &mut Cmd, file: &str) -> SetResult {
    check_file_path(cmd, file)?;
    let dir = cmd.dir_config::<Dir>();
    dir.configured = true;
    dir.user_file = Some(file.to_string());
    Ok(())
}

fn dbm_type(cmd: &mut Cmd, kind: &str) -> SetResult {
    supported_type(kind)?;
    let dir = cmd.dir_config::<Dir>();
    dir.configured = true;
    dir.kind = Some(kind.to_string());
    Ok(())
}

/// A DBM type APR has but rhttpd cannot read is refused when the configuration is read (Apache
/// would open it per request); an unknown name fails per request, as in Apache.
pub(crate) fn supported_type(kind: &str) -> SetResult {
    match crate::dbm::Format::named(kind) {
        Err(true) => Err(format!(
            "DBM type {kind} is not supported by rhttpd: it reads the default (Berkeley DB) and \
             sdbm formats"
        )),
        _ => Ok(()),
    }
}

/// A failure already written to the error log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logged;

/// The value under `key` in the DBM file; when the file cannot be opened, the error Apache
/// logs (as `module`, `failure` giving its message from the type and the file) is logged and
/// `Err` returned.
pub(crate) fn fetch(
    req: &Request,
    module: &str,
    file: Option<&str>,
    kind: Option<&str>,
    key: &str,
    failure: impl FnOnce(&str, &str) -> String,
) -> Result<Option<String>, Logged> {
    let kind = kind.unwrap_or("default");
    let path = file.map(|f| resolve(req, f).to_string_lossy().into_owned());
    let format = crate::dbm::Format::named(kind);
    let opened = match (format, path.as_deref()) {
        (Ok(format), Some(path)) => format.fetch(path, key.as_bytes()),
        _ => Err(std::io::Error::from_raw_os_error(libc::EINVAL)),
    };
    match opened {
        Ok(value) => Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned())),
        Err(e) => {
            // Berkeley DB's failures reach APR as a code of its own, which it cannot name.
            let cause = match format {
                Ok(crate::dbm::Format::Sdbm) => e,
                _ => std::io::Error::other(crate::log::AprStatus(
                    "(120002)APR does not understand this error code".into(),
                )),
            };
            let text = failure(kind, path.as_deref().unwrap_or("(null)"));
            req.log_os_error(module, "error", Some(&cause), &text);
            Err(Logged)
        }
    }
}

/// The value's first field (up to a colon): the password hash.
fn first_field(value: &str) -> &str {
    value.split(':').next().unwrap_or("")
}

/// The `dbm` provider's password check.
pub fn check_password(req: &Request, conf: &Dir, user: &str, password: &str) -> Authn {
    match fetch_user(req, conf, user) {
        Ok(Some(value)) if password_matches(password, first_field(&value)) => Authn::Granted,
        Ok(Some(_)) => Authn::Denied,
        Ok(None) => Authn::UserNotFound,
        Err(Logged) => Authn::Error(String::new()),
    }
}

/// The `dbm` provider's realm hash for `user` in `realm` (the key `user:realm`), for
/// AuthBasicUseDigestAlgorithm and Digest authentication.
pub fn realm_hash(
    req: &Request,
    conf: &Dir,
    user: &str,
    realm: &str,
) -> Result<Option<String>, Logged> {
    let value = fetch_user(req, conf, &format!("{user}:{realm}"))?;
    Ok(value.map(|v| first_field(&v).to_string()))
}

/// AuthBasicUseDigestAlgorithm MD5 against the `dbm` provider: the password's realm hash
/// compared with the stored one.
pub fn check_realm_hash(
    req: &Request,
    conf: &Dir,
    user: &str,
    realm: &str,
    password: &str,
) -> Authn {
    match realm_hash(req, conf, user, realm) {
        Ok(Some(stored)) => super::authn_file::realm_hash_verdict(user, realm, password, &stored),
        Ok(None) => Authn::UserNotFound,
        Err(Logged) => Authn::Error(String::new()),
    }
}

fn fetch_user(req: &Request, conf: &Dir, key: &str) -> Result<Option<String>, Logged> {
    let (file, kind) = (conf.user_file.as_deref(), conf.kind.as_deref());
    fetch(req, "authn_dbm", file, kind, key, |kind, file| {
        format!("AH10285: could not open dbm (type {kind}) file: {file}")
    })
}
