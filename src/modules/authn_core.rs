//! mod_authn_core: AuthType and AuthName, and the providers `<AuthnProviderAlias>` names.

use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Dir {
    /// AuthType as written; `Some(None)` for `AuthType None`.
    pub auth_type: Option<Option<String>>,
    pub auth_name: Option<String>,
    /// `<AuthnProviderAlias base alias>`: (alias, base, the alias's own settings).
    pub aliases: Vec<(String, String, Arc<super::authn_file::Dir>)>,
}

impl Dir {
    pub fn apply(&mut self, directive: &str, words: &[String]) -> bool {
        match directive {
            "AuthType" => {
                let kind = words.first().cloned().unwrap_or_default();
                self.auth_type = Some((!kind.eq_ignore_ascii_case("None")).then_some(kind));
            }
            "AuthName" => self.auth_name = words.first().cloned(),
            _ => return false,
        }
        true
    }

    pub fn merge(&self, child: &Dir) -> Dir {
        let mut aliases = self.aliases.clone();
        aliases.extend(child.aliases.iter().cloned());
        Dir {
            auth_type: child.auth_type.clone().or_else(|| self.auth_type.clone()),
            auth_name: child.auth_name.clone().or_else(|| self.auth_name.clone()),
            aliases,
        }
    }

    /// The AuthType in force (`ap_auth_type`): none for unset or `None`.
    pub fn auth_type(&self) -> Option<&str> {
        self.auth_type.as_ref().and_then(|t| t.as_deref())
    }
}
