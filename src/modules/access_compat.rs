//! mod_access_compat at request time: Order, Allow, Deny and Satisfy, per method as `<Limit>`
//! narrowed them.

use std::net::IpAddr;

use rhttpd_directives::model::RawSetting;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    DenyThenAllow,
    AllowThenDeny,
    MutualFailure,
}

#[derive(Debug, Clone)]
enum From {
    Env(String),
    NotEnv(String),
    All,
    Ip(String),
    Host(String),
}

/// Per-directory settings. Apache gives this module no merge function: a section that uses
/// any of its directives replaces everything it would inherit.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    present: bool,
    /// Order lines with the methods they cover; the last covering a method wins.
    orders: Vec<(u128, Order)>,
    allows: Vec<(u128, From)>,
    denies: Vec<(u128, From)>,
    /// Satisfy lines (true for `any`) with their methods.
    satisfy: Vec<(u128, bool)>,
}

/// What the Allow/Deny tests read of the request.
pub struct Client<'a> {
    pub ip: IpAddr,
    pub env: &'a [(String, String)],
    /// The client's double-reverse-checked name, looked up on first need.
    pub remote_host: &'a dyn Fn() -> Option<String>,
}

impl Dir {
    pub fn apply(&mut self, setting: &RawSetting, words: &[String]) -> bool {
        let limit = setting.limit;
        match setting.directive {
            "order" => {
                let order = match words.first().map(|w| w.to_ascii_lowercase()).as_deref() {
                    Some("allow,deny") => Order::AllowThenDeny,
                    Some("mutual-failure") => Order::MutualFailure,
                    _ => Order::DenyThenAllow,
                };
                self.orders.push((limit, order));
            }
            "allow" | "deny" => {
                let list = if setting.directive == "allow" {
                    &mut self.allows
                } else {
                    &mut self.denies
                };
                for word in words.iter().skip(1) {
                    list.push((limit, parse_from(word)));
                }
            }
            "Satisfy" => {
                let any = words.first().is_some_and(|w| w.eq_ignore_ascii_case("any"));
                self.satisfy.push((limit, any));
            }
            _ => return false,
        }
        self.present = true;
        true
    }

    pub fn merge(&self, child: &Dir) -> Dir {
        if child.present {
            child.clone()
        } else {
            self.clone()
        }
    }

    /// `Satisfy Any` for this method: either the host rules or authorization suffice.
    pub fn satisfy_any(&self, method: u128) -> bool {
        self.satisfy
            .iter()
            .rev()
            .find(|(limit, _)| limit & method != 0)
            .is_some_and(|(_, any)| *any)
    }

    /// Whether Order/Allow/Deny let the client in for this method.
    pub fn allows(&self, method: u128, client: &Client) -> bool {
        let order = self
            .orders
            .iter()
            .rev()
            .find(|(limit, _)| limit & method != 0)
            .map_or(Order::DenyThenAllow, |(_, o)| *o);
        let allowed = || matches_any(&self.allows, method, client);
        let denied = || matches_any(&self.denies, method, client);
        match order {
            Order::AllowThenDeny => allowed() && !denied(),
            Order::DenyThenAllow => !denied() || allowed(),
            Order::MutualFailure => allowed() && !denied(),
        }
    }
}

fn parse_from(word: &str) -> From {
    let lower = word.to_ascii_lowercase();
    if lower.starts_with("env=!") {
        From::NotEnv(word[5..].to_string())
    } else if lower.starts_with("env=") {
        From::Env(word[4..].to_string())
    } else if lower == "all" {
        From::All
    } else if word.contains('/')
        || word.contains(':')
        || word.bytes().all(|b| b == b'.' || b.is_ascii_digit())
    {
        From::Ip(word.to_string())
    } else {
        From::Host(word.to_string())
    }
}

fn matches_any(list: &[(u128, From)], method: u128, client: &Client) -> bool {
    let mut remote: Option<Option<String>> = None;
    list.iter()
        .filter(|(limit, _)| limit & method != 0)
        .any(|(_, from)| match from {
            From::Env(name) => super::env::get(client.env, name).is_some(),
            From::NotEnv(name) => super::env::get(client.env, name).is_none(),
            From::All => true,
            From::Ip(spec) => super::authz_host::ip_matches(spec, client.ip),
            From::Host(domain) => remote
                .get_or_insert_with(|| (client.remote_host)())
                .as_deref()
                .is_some_and(|host| super::authz_host::in_domain(domain, host)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhttpd_directives::model::Origin;
    use std::sync::Arc;

    fn dir(lines: &[(&'static str, &str)]) -> Dir {
        let mut dir = Dir::default();
        for (directive, args) in lines {
            let s = RawSetting {
                directive,
                args: Arc::from(*args),
                origin: Origin {
                    file: Arc::from("t"),
                    line: 1,
                },
                limit: u128::MAX,
                regex_flags: rhttpd_directives::regex_defaults::DEFAULT,
            };
            dir.apply(&s, &s.words());
        }
        dir
    }

    #[test]
    fn orders() {
        let none = || None;
        let client = Client {
            ip: "10.1.2.3".parse().unwrap(),
            env: &[],
            remote_host: &none,
        };
        let get = 1;
        assert!(Dir::default().allows(get, &client));
        assert!(!dir(&[("order", "allow,deny")]).allows(get, &client));
        assert!(dir(&[("order", "allow,deny"), ("allow", "from 10.1")]).allows(get, &client));
        assert!(!dir(&[
            ("order", "allow,deny"),
            ("allow", "from all"),
            ("deny", "from 10.1.2.3")
        ])
        .allows(get, &client));
        assert!(dir(&[
            ("order", "deny,allow"),
            ("deny", "from all"),
            ("allow", "from 10.0.0.0/8")
        ])
        .allows(get, &client));
    }
}
