//! mod_auth_basic, whole: its directives (table, setters, typed per-directory configuration
//! and merge) and the Basic scheme. Reads the credentials, asks the configured providers in
//! order, and answers 401 with a challenge for the realm when they fail.

use base64::Engine;

use super::authn_anon;
use super::authn_core::{authn_provider_known, Provider};
use super::authn_dbm;
use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

use super::authn_file::{self, Authn};
use crate::hooks::{Fixup, Hooks, Order};
use crate::request::auth::{auth_name, auth_type, note_auth_failure, resolve, unauthorized};
use crate::request::{environment, Request, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "auth_basic_module",
    source: "mod_auth_basic.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new("AuthBasicProvider", Iterate(auth_basic_provider), OR_AUTHCFG, "specify the auth providers for a directory or location").implemented(),
    DirectiveDef::new("AuthBasicAuthoritative", Flag(authoritative), OR_AUTHCFG, "Set to 'Off' to allow access control to be passed along to lower modules if the UserID is not known to this module").implemented(),
    DirectiveDef::new("AuthBasicFake", Take12(basic_fake), OR_AUTHCFG, "Fake basic authentication using the given expressions for username and password, 'off' to disable. Password defaults to 'password' if missing.").implemented(),
    DirectiveDef::new("AuthBasicUseDigestAlgorithm", Take1(use_digest_algorithm), OR_AUTHCFG, "Set to 'MD5' to use the auth provider's authentication check for digest auth, using a hash of 'user:realm:pass'").implemented(),
];

/// AuthBasicProvider: each name must be a registered authn provider (all of which support
/// Basic authentication in rhttpd's module set); several lines in a section accumulate.
fn auth_basic_provider(cmd: &mut Cmd, name: &str) -> SetResult {
    if !authn_provider_known(cmd, name) {
        return Err(format!("Unknown Authn provider: {name}"));
    }
    let config = cmd.dir_config::<Dir>();
    config
        .providers
        .get_or_insert_with(Vec::new)
        .push(name.to_string());
    Ok(())
}

fn authoritative(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().authoritative = Some(on);
    Ok(())
}

fn use_digest_algorithm(cmd: &mut Cmd, alg: &str) -> SetResult {
    if !alg.eq_ignore_ascii_case("Off") && !alg.eq_ignore_ascii_case("MD5") {
        return Err(format!(
            "Invalid algorithm in AuthBasicUseDigestAlgorithm: {alg}"
        ));
    }
    cmd.dir_config::<Dir>().digest_md5 = Some(alg.eq_ignore_ascii_case("MD5"));
    Ok(())
}

/// AuthBasicFake `off` or user and password string expressions (the password defaults to
/// "password").
fn basic_fake(cmd: &mut Cmd, user: &str, pass: Option<&str>) -> SetResult {
    let fake =
        if user.eq_ignore_ascii_case("off") {
            None
        } else {
            let user_expr = cmd.parse_string_expr(user).map_err(|err| {
                format!("Could not parse fake username expression '{user}': {err}")
            })?;
            let pass_expr = cmd.parse_string_expr(pass.unwrap_or("password")).map_err(|err| {
            format!("Could not parse fake password expression associated to user '{user}': {err}")
        })?;
            Some(std::sync::Arc::new((user_expr, pass_expr)))
        };
    cmd.dir_config::<Dir>().fake = Some(fake);
    Ok(())
}

/// mod_auth_basic's per-directory configuration.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    /// AuthBasicProvider names; unset means mod_authn_file's `file`.
    pub providers: Option<Vec<String>>,
    pub authoritative: Option<bool>,
    /// AuthBasicFake: user and password expressions; `Some(None)` for `off`.
    pub fake: Option<Option<Fake>>,
    /// AuthBasicUseDigestAlgorithm MD5: check `user:realm:hash` entries (htdigest files).
    pub digest_md5: Option<bool>,
}

/// AuthBasicFake's expressions.
pub type Fake = std::sync::Arc<(
    rhttpd_directives::expr::StringExpr,
    rhttpd_directives::expr::StringExpr,
)>;

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            providers: child.providers.clone().or_else(|| self.providers.clone()),
            authoritative: child.authoritative.or(self.authoritative),
            fake: child.fake.clone().or_else(|| self.fake.clone()),
            digest_md5: child.digest_md5.or(self.digest_md5),
        }
    }
}

impl Dir {
    pub fn authoritative(&self) -> bool {
        self.authoritative != Some(false)
    }
}

/// What an Authorization header holds.
pub enum Credentials {
    Missing,
    /// Another scheme than Basic.
    WrongScheme,
    Basic {
        user: String,
        password: String,
    },
}

/// Parses `Authorization: Basic base64(user:password)` as Apache does (the decoded text is
/// split at the first colon; undecodable input decodes as far as it goes).
pub fn credentials(header: Option<&str>) -> Credentials {
    let Some(line) = header else {
        return Credentials::Missing;
    };
    let (scheme, rest) = line.split_once(' ').unwrap_or((line, ""));
    if !scheme.eq_ignore_ascii_case("Basic") {
        return Credentials::WrongScheme;
    }
    let encoded = rest.trim_start_matches([' ', '\t']);
    let decoded = decode_lenient(encoded);
    let text = String::from_utf8_lossy(&decoded);
    let text = text.split('\0').next().unwrap_or("");
    let (user, password) = text.split_once(':').unwrap_or((text, ""));
    Credentials::Basic {
        user: user.to_string(),
        password: password.to_string(),
    }
}

/// `apr_base64_decode`: stops at the first character outside the alphabet.
fn decode_lenient(text: &str) -> Vec<u8> {
    let valid: String = text
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '/')
        .collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let usable = valid.len() - valid.len() % 4;
    let mut out = engine.decode(&valid[..usable]).unwrap_or_default();
    let tail = &valid[usable..];
    if tail.len() >= 2 {
        out.extend(engine.decode(tail).unwrap_or_default());
    }
    out
}

/// The Authorization header AuthBasicFake writes.
pub fn fake_authorization(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// The challenge a 401 carries.
pub fn challenge(realm: &str) -> String {
    format!("Basic realm=\"{realm}\"")
}

/// mod_auth_basic's hooks: its authentication, and AuthBasicFake as a late fixup.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .check_user_id
        .add("auth_basic", Order::Middle, authenticate_basic_user);
    hooks.fixups.add("auth_basic", Order::Last, fixup);
}

fn fixup(req: &mut Request) -> Step<Fixup> {
    apply_basic_fake(req)?;
    Ok(Fixup::Continue)
}

/// Authentication for `AuthType Basic` (others are declined): the credentials checked
/// against AuthBasicProvider's providers in turn, `req.user` set once they are read.
fn authenticate_basic_user(req: &mut Request) -> Step<Option<()>> {
    let dir = std::sync::Arc::clone(&req.dir);
    if !auth_type(req, &dir).is_some_and(|kind| kind.eq_ignore_ascii_case("Basic")) {
        return Ok(None);
    }
    let realm = auth_name(req, &dir);
    if realm.is_none() {
        let text = format!("AH01615: need AuthName: {}", req.uri);
        req.log_error("auth_basic", "error", &text);
        return Err(500);
    }
    let (user, password) = match credentials(req.head.headers.get("Authorization")) {
        Credentials::Missing => {
            note_auth_failure(req);
            return Err(401);
        }
        Credentials::WrongScheme => {
            let text = format!(
                "AH01614: client used wrong authentication scheme: {}",
                req.uri
            );
            return Err(unauthorized(req, "auth_basic", &text));
        }
        Credentials::Basic { user, password } => (user, password),
    };
    req.user = Some(user.clone());
    let default = ["file".to_string()];
    let basic = dir.module::<Dir>();
    let providers: &[String] = basic.providers.as_deref().unwrap_or(&default);
    let mut result = Authn::UserNotFound;
    // The module whose provider failed, for its error line.
    let mut failed_module = "authn_file";
    for name in providers {
        let provider = Provider::named(&dir, name);
        let realm_hash = basic.digest_md5 == Some(true);
        failed_module = match provider.base {
            "dbm" => "authn_dbm",
            _ => "authn_file",
        };
        result = match provider.base {
            // mod_authn_anon has no realm hash to give.
            "anon" if realm_hash => {
                let text = "AH02493: Authn provider does not support AuthBasicUseDigestAlgorithm";
                req.log_error("auth_basic", "error", text);
                Authn::Error(String::new())
            }
            "dbm" if realm_hash => {
                let realm = realm.as_deref().unwrap_or("");
                let conf = provider.settings::<authn_dbm::Dir>();
                authn_dbm::check_realm_hash(req, &conf, &user, realm, &password)
            }
            "dbm" => authn_dbm::check_password(
                req,
                &provider.settings::<authn_dbm::Dir>(),
                &user,
                &password,
            ),
            "anon" => authn_anon::check_password(
                req,
                &provider.settings::<authn_anon::Dir>(),
                &user,
                &password,
            ),
            _ => {
                let file = provider.settings::<authn_file::Dir>().user_file.clone();
                let path = file.as_deref().map(|f| resolve(req, f));
                if realm_hash {
                    let realm = realm.as_deref().unwrap_or("");
                    authn_file::check_realm_hash(path.as_deref(), &user, realm, &password)
                } else {
                    authn_file::check_password(path.as_deref(), &user, &password)
                }
            }
        };
        if result != Authn::UserNotFound {
            break;
        }
    }
    match result {
        Authn::Granted => Ok(Some(())),
        Authn::Denied => {
            let text = format!(
                "AH01617: user {user}: authentication failure for \"{}\": Password Mismatch",
                req.uri
            );
            Err(unauthorized(req, "auth_basic", &text))
        }
        // Declined to the next authentication module (in this module set, mod_authn_core's,
        // which refuses an AuthType it cannot serve): anything but a wrong password, once
        // the provider has logged its error.
        Authn::Error(text) if !basic.authoritative() => {
            if !text.is_empty() {
                req.log_error(failed_module, "error", &text);
            }
            Ok(None)
        }
        Authn::UserNotFound if !basic.authoritative() => Ok(None),
        Authn::UserNotFound => {
            let text = format!("AH01618: user {user} not found: {}", req.uri);
            Err(unauthorized(req, "auth_basic", &text))
        }
        Authn::Error(text) => {
            if !text.is_empty() {
                req.log_error(failed_module, "error", &text);
            }
            Err(500)
        }
    }
}

/// AuthBasicFake (a fixup, after authentication): the request carries the Basic credentials
/// its expressions give, for whatever reads Authorization later; an empty user or password
/// drops the header instead.
fn apply_basic_fake(req: &mut Request) -> Step<()> {
    let Some(Some(fake)) = req.dir.module::<Dir>().fake.clone() else {
        return Ok(());
    };
    let env = environment(req);
    // The user first: an empty one ends it before the password is evaluated.
    let mut values = Vec::new();
    for (expr, what, failed, empty) in [
        (
            &fake.0,
            "user",
            "AH02455",
            "AH02458: AuthBasicFake: empty username",
        ),
        (
            &fake.1,
            "password",
            "AH02456",
            "AH02459: AuthBasicFake: empty password",
        ),
    ] {
        let value = {
            let context = crate::request::expr::RequestContext::for_strings(req, &env);
            expr.eval(&context)
        };
        match value {
            Ok(value) if value.is_empty() => {
                let text = format!("{empty} expression for URI '{}', ignoring", req.uri);
                req.log_error("auth_basic", "info", &text);
                req.head.to_mut().headers.remove("Authorization");
                return Ok(());
            }
            Ok(value) => values.push(value),
            Err(err) => {
                let text = format!(
                    "{failed}: AuthBasicFake: could not evaluate {what} expression for URI \
                     '{}': {err}",
                    req.uri
                );
                req.log_error("auth_basic", "error", &text);
                return Err(500);
            }
        }
    }
    let line = fake_authorization(&values[0], &values[1]);
    req.log_error(
        "auth_basic",
        "info",
        &format!("AH02457: AuthBasicFake: \"Authorization: {line}\""),
    );
    req.head.to_mut().headers.set("Authorization", line);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials() {
        match credentials(Some("Basic YWxpY2U6czNjcjN0OmV4dHJh")) {
            Credentials::Basic { user, password } => {
                assert_eq!(user, "alice");
                assert_eq!(password, "s3cr3t:extra");
            }
            _ => panic!("not parsed"),
        }
        assert!(matches!(
            credentials(Some("Bearer x")),
            Credentials::WrongScheme
        ));
        assert!(matches!(credentials(None), Credentials::Missing));
    }
}
