//! mod_filter at request time: AddOutputFilterByType, which puts a filter in the chain for
//! responses whose Content-Type (without parameters) is one of the listed types, and smart
//! filters (FilterDeclare, FilterProvider, FilterChain) whose providers are chosen by
//! expressions, with FilterProtocol's header handling and FilterTrace's log.

use std::sync::Arc;

use rhttpd_directives::expr::Expr;
use rhttpd_directives::modules::filter::{protocol, provider_flags};

/// A smart filter: its providers, most recently added first (the order Apache tries them).
#[derive(Debug, Clone)]
pub struct Smart {
    pub name: String,
    pub providers: Vec<(String, Arc<Expr>)>,
    /// FilterProtocol's flags for the filter itself.
    pub flags: u32,
    /// FilterTrace's level (1 logs each pass at debug).
    pub trace: i64,
}

impl Smart {
    fn new(name: &str) -> Smart {
        Smart {
            name: name.to_string(),
            providers: Vec::new(),
            flags: 0,
            trace: 0,
        }
    }
}

/// What the smart filters of a response's chain do besides running their providers.
#[derive(Debug, Default)]
pub struct Harness {
    /// The providers that run, each with its protocol flags, in chain order.
    pub providers: Vec<(String, u32)>,
    /// A filter's flags took Range away before the handler ran and no provider gave it back.
    pub range_hidden: bool,
    /// The chain's filters that log their passes (FilterTrace 1).
    pub traced: Vec<String>,
}

/// Per-directory: each filter name with the types it applies to. A section that names a
/// filter replaces that filter's types from outer sections, as Apache's merge does.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub by_type: Vec<(String, Vec<String>)>,
    /// Smart filters declared here (a section's declaration replaces an outer one).
    pub smart: Vec<Smart>,
    /// FilterChain as this section left it, and whether it started over (`!` or `=`).
    pub chain: Vec<String>,
    pub chain_reset: bool,
}

impl Dir {
    pub fn apply(&mut self, directive: &str, words: &[String]) -> bool {
        match directive {
            "FilterDeclare" => {
                if let Some(name) = words.first() {
                    self.smart.retain(|s| s.name != *name);
                    self.smart.push(Smart::new(name));
                }
                return true;
            }
            // Validated when the configuration was read: the filter is declared here, and a
            // provider's flags were set on it then.
            "FilterProtocol" => {
                if let [name, flags] = words {
                    if let Some(smart) = self.smart.iter_mut().find(|s| s.name == *name) {
                        smart.flags = protocol::parse(flags);
                    }
                }
                return true;
            }
            "FilterTrace" => {
                if let [name, level] = words {
                    if let Some(smart) = self.smart.iter_mut().find(|s| s.name == *name) {
                        smart.trace = rhttpd_directives::set::atoi(level);
                    }
                }
                return true;
            }
            "FilterProvider" => {
                if let [name, provider, expr, ..] = words {
                    // Validated when the configuration was read.
                    let Ok(expr) = rhttpd_directives::expr::parse(expr) else {
                        return true;
                    };
                    if !self.smart.iter().any(|s| s.name == *name) {
                        self.smart.push(Smart::new(name));
                    }
                    if let Some(smart) = self.smart.iter_mut().find(|s| s.name == *name) {
                        smart
                            .providers
                            .insert(0, (provider.to_ascii_uppercase(), Arc::new(expr)));
                    }
                }
                return true;
            }
            "FilterChain" => {
                for word in words {
                    self.chain_op(word);
                }
                return true;
            }
            _ => {}
        }
        if directive != "AddOutputFilterByType" {
            return false;
        }
        let Some((names, types)) = words.split_first() else {
            return true;
        };
        for name in names.split(';').filter(|n| !n.is_empty()) {
            let name = name.to_ascii_uppercase();
            match self.by_type.iter_mut().find(|(n, _)| *n == name) {
                Some((_, known)) => known.extend(types.iter().cloned()),
                None => self.by_type.push((name, types.to_vec())),
            }
        }
        true
    }

    /// One FilterChain word: `+name` or `name` appends, `@name` prepends, `-name` removes,
    /// `=name` starts over with it, `!` empties the chain.
    fn chain_op(&mut self, word: &str) {
        match word.split_at(word.chars().next().map_or(0, char::len_utf8)) {
            ("+", name) => self.chain.push(name.to_string()),
            ("@", name) => self.chain.insert(0, name.to_string()),
            ("-", name) => self.chain.retain(|n| !n.eq_ignore_ascii_case(name)),
            ("!", _) => {
                self.chain.clear();
                self.chain_reset = true;
            }
            ("=", name) => {
                self.chain = vec![name.to_string()];
                self.chain_reset = true;
            }
            _ => self.chain.push(word.to_string()),
        }
    }

    /// The chain's filters whose provider (the first, newest first, whose expression holds)
    /// is named `provider`; `holds` evaluates an expression for the response.
    pub fn chain_reaches(&self, provider: &str, holds: &dyn Fn(&Expr) -> bool) -> bool {
        self.chain.iter().any(|name| {
            self.declared(name)
                .and_then(|s| s.providers.iter().find(|(_, expr)| holds(expr)))
                .is_some_and(|(p, _)| p.eq_ignore_ascii_case(provider))
        })
    }

    fn declared(&self, name: &str) -> Option<&Smart> {
        self.smart.iter().rev().find(|s| s.name == name)
    }

    /// The chain's filters that exist (Apache warns of the others and leaves them out).
    pub fn chain_filters(&self) -> impl Iterator<Item = Result<&Smart, &str>> {
        self.chain
            .iter()
            .map(|name| self.declared(name).ok_or(name.as_str()))
    }

    /// Whether the chain takes Range away before the handler runs: a filter whose own flags
    /// say it changes lengths or cannot serve ranges.
    pub fn hides_range(&self) -> bool {
        self.chain_filters()
            .flatten()
            .any(|s| s.flags & (protocol::NO_BYTERANGE | protocol::CHANGE_LENGTH) != 0)
    }

    /// The smart filters' work on a 200 response: which providers run (the first, newest
    /// first, whose expression holds) and whether Range comes back for the byte-range filter.
    pub fn harness(&self, holds: &dyn Fn(&Expr) -> bool) -> Harness {
        let mut harness = Harness {
            range_hidden: self.hides_range(),
            ..Harness::default()
        };
        for smart in self.chain_filters().flatten() {
            if smart.trace == 1 {
                harness.traced.push(smart.name.clone());
            }
            let Some((provider, _)) = smart.providers.iter().find(|(_, expr)| holds(expr)) else {
                continue;
            };
            let flags = provider_flags(provider);
            if flags & protocol::NO_BYTERANGE == 0 {
                harness.range_hidden = false;
            }
            harness.providers.push((provider.clone(), flags));
        }
        harness
    }

    pub fn merge(&self, child: &Dir) -> Dir {
        let mut smart: Vec<Smart> = self
            .smart
            .iter()
            .filter(|s| !child.smart.iter().any(|c| c.name == s.name))
            .cloned()
            .collect();
        smart.extend(child.smart.iter().cloned());
        let chain = if child.chain_reset {
            child.chain.clone()
        } else {
            let mut chain = self.chain.clone();
            chain.extend(child.chain.iter().cloned());
            chain
        };
        let mut by_type: Vec<(String, Vec<String>)> = self
            .by_type
            .iter()
            .filter(|(name, _)| !child.by_type.iter().any(|(n, _)| n == name))
            .cloned()
            .collect();
        by_type.extend(child.by_type.iter().cloned());
        Dir {
            by_type,
            smart,
            chain,
            chain_reset: self.chain_reset || child.chain_reset,
        }
    }

    /// The filters whose types match the response's Content-Type.
    pub fn matching<'a>(&'a self, content_type: Option<&str>) -> impl Iterator<Item = &'a str> {
        let bare = content_type.map(|t| {
            let end = t.find([';', ' ', '\t']).unwrap_or(t.len());
            t[..end].to_string()
        });
        self.by_type.iter().filter_map(move |(name, types)| {
            let bare = bare.as_deref()?;
            types.iter().any(|t| t == bare).then_some(name.as_str())
        })
    }
}
