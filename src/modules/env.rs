//! mod_env: SetEnv, UnsetEnv and PassEnv, applied to a request's environment at fixups in the
//! order the sections merge (the server's first, then each section's).

/// One environment change, in configuration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Set(String, String),
    Unset(String),
}

#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub changes: Vec<Change>,
}

impl Dir {
    pub fn apply(&mut self, directive: &str, words: &[String]) -> bool {
        match directive {
            "SetEnv" => {
                let name = words.first().cloned().unwrap_or_default();
                let value = words.get(1).cloned().unwrap_or_default();
                self.changes.push(Change::Set(name, value));
            }
            "UnsetEnv" => {
                for name in words {
                    self.changes.push(Change::Unset(name.clone()));
                }
            }
            "PassEnv" => {
                // The value is the server's own, read when the configuration is.
                for name in words {
                    if let Ok(value) = std::env::var(name) {
                        self.changes.push(Change::Set(name.clone(), value));
                    }
                }
            }
            _ => return false,
        }
        true
    }

    pub fn merge(&self, child: &Dir) -> Dir {
        Dir {
            changes: self.changes.iter().chain(&child.changes).cloned().collect(),
        }
    }

    /// Applies the changes to a request's environment.
    pub fn fixup(&self, env: &mut Vec<(String, String)>) {
        for change in &self.changes {
            match change {
                Change::Set(name, value) => set(env, name, value),
                Change::Unset(name) => env.retain(|(n, _)| n != name),
            }
        }
    }
}

/// Sets a variable, replacing any value it had.
pub fn set(env: &mut Vec<(String, String)>, name: &str, value: &str) {
    match env.iter_mut().find(|(n, _)| n == name) {
        Some(entry) => entry.1 = value.to_string(),
        None => env.push((name.to_string(), value.to_string())),
    }
}

/// A variable's value.
pub fn get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}
