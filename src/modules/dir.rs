//! mod_dir at request time: DirectoryIndex, DirectorySlash and FallbackResource.

/// Per-directory settings.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    /// `None` unset (Apache's default `index.html`), `Some(empty)` for `disabled`.
    pub index: Option<Vec<String>>,
    pub slash: Option<bool>,
    pub fallback: Option<String>,
    pub check_handler: Option<bool>,
    /// DirectoryIndexRedirect's status; 0 for Off.
    pub index_redirect: Option<u16>,
}

impl Dir {
    pub fn apply(&mut self, directive: &str, words: &[String]) -> bool {
        match directive {
            "DirectoryIndex" => {
                if words.iter().any(|w| w.eq_ignore_ascii_case("disabled")) {
                    self.index = Some(Vec::new());
                } else {
                    // Several DirectoryIndex lines in one section accumulate, as in Apache.
                    self.index
                        .get_or_insert_with(Vec::new)
                        .extend(words.iter().cloned());
                }
            }
            "DirectorySlash" => {
                self.slash = Some(words.first().is_some_and(|w| w.eq_ignore_ascii_case("on")))
            }
            "FallbackResource" => self.fallback = words.first().cloned(),
            "DirectoryCheckHandler" => {
                self.check_handler =
                    Some(words.first().is_some_and(|w| w.eq_ignore_ascii_case("on")))
            }
            "DirectoryIndexRedirect" => {
                let word = words
                    .first()
                    .map(|w| w.to_ascii_lowercase())
                    .unwrap_or_default();
                self.index_redirect = Some(match word.as_str() {
                    "on" | "temp" => 302,
                    "permanent" => 301,
                    "seeother" => 303,
                    "off" => 0,
                    status => rhttpd_directives::set::atoi(status) as u16,
                });
            }
            _ => return false,
        }
        true
    }

    pub fn merge(&self, child: &Dir) -> Dir {
        Dir {
            index: child.index.clone().or_else(|| self.index.clone()),
            slash: child.slash.or(self.slash),
            fallback: child.fallback.clone().or_else(|| self.fallback.clone()),
            check_handler: child.check_handler.or(self.check_handler),
            index_redirect: child.index_redirect.or(self.index_redirect),
        }
    }

    /// The index names to try, in order.
    pub fn index_names(&self) -> Vec<String> {
        self.index
            .clone()
            .unwrap_or_else(|| vec!["index.html".to_string()])
    }

    /// The FallbackResource URI, unless unset or `disabled`.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback
            .as_deref()
            .filter(|f| !f.eq_ignore_ascii_case("disabled"))
    }

    pub fn slash(&self) -> bool {
        self.slash.unwrap_or(true)
    }
}
