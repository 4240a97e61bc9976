//! mod_access_compat, whole: Order, Allow, Deny and Satisfy from Apache 2.2 (table, setters,
//! typed configuration), checked per method as `<Limit>` narrowed them.

use std::net::IpAddr;

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::util::subnet::{Subnet, SubnetError};

pub static MODULE: ModuleDef = ModuleDef {
    id: "access_compat_module",
    source: "mod_access_compat.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new(
        "order",
        Take1(order),
        OR_LIMIT,
        "'allow,deny', 'deny,allow', or 'mutual-failure'",
    )
    .implemented(),
    DirectiveDef::new(
        "allow",
        Iterate2(allow_deny),
        OR_LIMIT,
        "'from' followed by hostnames or IP-address wildcards",
    )
    .implemented(),
    DirectiveDef::new(
        "deny",
        Iterate2(allow_deny),
        OR_LIMIT,
        "'from' followed by hostnames or IP-address wildcards",
    )
    .implemented(),
    DirectiveDef::new(
        "Satisfy",
        Take1(satisfy),
        OR_AUTHCFG,
        "access policy if both allow and require used ('all' or 'any')",
    )
    .implemented(),
];

fn order(cmd: &mut Cmd, arg: &str) -> SetResult {
    let order = match arg.to_ascii_lowercase().as_str() {
        "allow,deny" => Order::AllowThenDeny,
        "deny,allow" => Order::DenyThenAllow,
        "mutual-failure" => Order::MutualFailure,
        _ => return Err("unknown order".into()),
    };
    let limit = cmd.limit_mask;
    let config = cmd.dir_config::<Dir>();
    config.orders.push((limit, order));
    config.present = true;
    Ok(())
}

fn satisfy(cmd: &mut Cmd, arg: &str) -> SetResult {
    let any = match arg.to_ascii_lowercase().as_str() {
        "any" => true,
        "all" => false,
        _ => return Err("Satisfy either 'any' or 'all'.".into()),
    };
    let limit = cmd.limit_mask;
    let config = cmd.dir_config::<Dir>();
    config.satisfy.push((limit, any));
    config.present = true;
    Ok(())
}

/// Allow and Deny: `from`, then per word `env=[!]var`, `all`, an address or network (with
/// `/bits` or `/netmask`), or a host name.
fn allow_deny(cmd: &mut Cmd, from: &str, host: &str) -> SetResult {
    if !from.eq_ignore_ascii_case("from") {
        return Err("allow and deny must be followed by 'from'".into());
    }
    let lower = host.to_ascii_lowercase();
    if lower.starts_with("env=") || lower == "all" {
    } else if let Some((ip, mask)) = host.split_once('/') {
        match Subnet::new(ip, Some(mask)) {
            Err(SubnetError::NotIp) => return Err("An IP address was expected".into()),
            Err(err) => return Err(err.message().into()),
            Ok(_) => {}
        }
    } else {
        match Subnet::new(host, None) {
            Err(SubnetError::NotIp) if host.contains('#') => {
                return Err("No comments are allowed here".into())
            }
            Err(SubnetError::NotIp) | Ok(_) => {}
            Err(err) => return Err(err.message().into()),
        }
    }
    let limit = cmd.limit_mask;
    let allow = cmd.name() == "allow";
    let config = cmd.dir_config::<Dir>();
    let list = if allow {
        &mut config.allows
    } else {
        &mut config.denies
    };
    list.push((limit, parse_from(host)));
    config.present = true;
    Ok(())
}

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

/// Apache gives this module no merge function: a section that uses any of its directives
/// replaces everything it would inherit.
impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        if child.present {
            child.clone()
        } else {
            self.clone()
        }
    }
}

impl Dir {
    /// `Satisfy Any` for this method: either the host rules or authorization suffice.
    pub fn satisfy_any(&self, method: u128) -> bool {
        self.satisfy
            .iter()
            .rev()
            .find(|(limit, _)| limit & method != 0)
            .is_some_and(|(_, any)| *any)
    }

    /// Whether an Allow or Deny line tests an environment variable (`env=`, `env=!`).
    fn reads_environment(&self) -> bool {
        self.allows
            .iter()
            .chain(&self.denies)
            .any(|(_, from)| matches!(from, From::Env(_) | From::NotEnv(_)))
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

use crate::hooks::Hooks;
use crate::request::auth::{denied_target, remote_host};
use crate::request::{environment, Request, Step};

/// mod_access_compat's hooks: Allow and Deny as an access checker, and Satisfy as the
/// `ap_satisfies` it provides.
pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .access_checker
        .add("access_compat", crate::hooks::Order::Middle, check_hosts);
    hooks.satisfy_any = Some(satisfies_any);
}

fn satisfies_any(req: &Request) -> bool {
    let method = super::authz::method_mask(&req.method);
    req.dir.module::<Dir>().satisfy_any(method)
}

/// Allow and Deny for the client: 403 (logged) when they keep it out.
fn check_hosts(req: &mut Request) -> Step<()> {
    // The environment (mod_setenvif's rules run to make it) only for an `env=` line.
    let dir = req.dir.module::<Dir>();
    let env = if dir.reads_environment() {
        environment(req)
    } else {
        Vec::new()
    };
    let method = super::authz::method_mask(&req.method);
    let ip = req.useragent.ip();
    let client = Client {
        ip,
        env: &env,
        remote_host: &|| remote_host(req),
    };
    if dir.allows(method, &client) {
        return Ok(());
    }
    let text = format!(
        "AH01797: client denied by server configuration: {}",
        denied_target(req)
    );
    req.log_error("access_compat", "error", &text);
    Err(403)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A section's config as its setters leave it: lines of (directive, words).
    fn dir(lines: &[(&str, &str)]) -> Dir {
        let mut dir = Dir {
            present: true,
            ..Dir::default()
        };
        for (directive, args) in lines {
            let words: Vec<&str> = args.split_whitespace().collect();
            match *directive {
                "order" => dir.orders.push((
                    u128::MAX,
                    match words[0] {
                        "allow,deny" => Order::AllowThenDeny,
                        "mutual-failure" => Order::MutualFailure,
                        _ => Order::DenyThenAllow,
                    },
                )),
                "allow" => dir
                    .allows
                    .extend(words[1..].iter().map(|w| (u128::MAX, parse_from(w)))),
                _ => dir
                    .denies
                    .extend(words[1..].iter().map(|w| (u128::MAX, parse_from(w)))),
            }
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
