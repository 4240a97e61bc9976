//! mod_auth_basic: the Basic scheme. Reads the credentials, asks the configured providers
//! in order, and answers 401 with a challenge for the realm when they fail.

use base64::Engine;

use crate::hooks::{Fixup, Hooks, Order};
use crate::request::{Request, Step};

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

impl Dir {
    pub fn apply(&mut self, directive: &str, words: &[String]) -> bool {
        match directive {
            "AuthBasicProvider" => self
                .providers
                .get_or_insert_with(Vec::new)
                .extend(words.iter().cloned()),
            "AuthBasicAuthoritative" => {
                self.authoritative = words.first().map(|w| w.eq_ignore_ascii_case("on"))
            }
            "AuthBasicUseDigestAlgorithm" => {
                self.digest_md5 = words.first().map(|w| w.eq_ignore_ascii_case("md5"))
            }
            "AuthBasicFake" => {
                let user = words.first().map(String::as_str).unwrap_or("off");
                let pass = words.get(1).map(String::as_str).unwrap_or("password");
                // Validated when the configuration was read.
                let parsed = (!user.eq_ignore_ascii_case("off"))
                    .then(|| {
                        let user = rhttpd_directives::expr::parse_string(user).ok()?;
                        let pass = rhttpd_directives::expr::parse_string(pass).ok()?;
                        Some(std::sync::Arc::new((user, pass)))
                    })
                    .flatten();
                self.fake = Some(parsed);
            }
            _ => return false,
        }
        true
    }

    pub fn merge(&self, child: &Dir) -> Dir {
        Dir {
            providers: child.providers.clone().or_else(|| self.providers.clone()),
            authoritative: child.authoritative.or(self.authoritative),
            fake: child.fake.clone().or_else(|| self.fake.clone()),
            digest_md5: child.digest_md5.or(self.digest_md5),
        }
    }

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

/// mod_auth_basic's hook: AuthBasicFake as a late fixup. (Its authentication runs in the
/// access phase, request/auth.rs.)
pub fn register_hooks(hooks: &mut Hooks) {
    hooks.fixups.add("auth_basic", Order::Last, fixup);
}

fn fixup(req: &mut Request) -> Step<Fixup> {
    crate::request::auth::basic_fake(req)?;
    Ok(Fixup::Continue)
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
