//! mod_authz_core and mod_authz_host at request time: the Require lines of the section that
//! last set any (AuthMerging Off), as an implicit "any of" with `not` lines as vetoes.

use std::net::IpAddr;

/// Per-directory authorization lines (words after `Require`).
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub require: Option<Vec<Vec<String>>>,
}

/// The outcome of authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Granted,
    Denied,
}

impl Dir {
    pub fn apply(&mut self, directive: &str, words: &[String]) -> bool {
        if directive != "Require" {
            return false;
        }
        self.require
            .get_or_insert_with(Vec::new)
            .push(words.to_vec());
        true
    }

    /// A section with any Require line replaces the inherited ones.
    pub fn merge(&self, child: &Dir) -> Dir {
        Dir {
            require: child.require.clone().or_else(|| self.require.clone()),
        }
    }

    /// Decides for a client; no Require at all grants access, as Apache does. `env` is the
    /// request's environment (`Require env`).
    pub fn decide(&self, client: IpAddr, method: &str, env: &[(String, String)]) -> Decision {
        let Some(lines) = &self.require else {
            return Decision::Granted;
        };
        let mut granted = false;
        for line in lines {
            let (negated, words) = match line.split_first() {
                Some((first, rest)) if first.eq_ignore_ascii_case("not") => (true, rest),
                _ => (false, &line[..]),
            };
            let Some((provider, args)) = words.split_first() else {
                continue;
            };
            let matched = provider_matches(provider, args, client, method, env);
            if negated && matched {
                return Decision::Denied;
            }
            if !negated && matched {
                granted = true;
            }
        }
        if granted {
            Decision::Granted
        } else {
            Decision::Denied
        }
    }
}

fn provider_matches(
    provider: &str,
    args: &[String],
    client: IpAddr,
    method: &str,
    env: &[(String, String)],
) -> bool {
    match provider.to_ascii_lowercase().as_str() {
        "all" => args
            .first()
            .is_some_and(|a| a.eq_ignore_ascii_case("granted")),
        "ip" => args.iter().any(|a| ip_matches(a, client)),
        "local" => client.is_loopback(),
        "method" => args.iter().any(|m| m == method),
        "env" => args.iter().any(|name| super::env::get(env, name).is_some()),
        _ => false,
    }
}

/// `Require ip` forms: full address, partial dotted prefix, CIDR, address/netmask.
pub fn ip_matches(spec: &str, client: IpAddr) -> bool {
    let client = match client {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    if let Some((addr, bits)) = spec.split_once('/') {
        let Ok(net) = addr.parse::<IpAddr>() else {
            return false;
        };
        let prefix = match bits.parse::<u32>() {
            Ok(n) => n,
            Err(_) => match (bits.parse::<IpAddr>(), net) {
                (Ok(IpAddr::V4(mask)), IpAddr::V4(_)) => u32::from(mask).count_ones(),
                _ => return false,
            },
        };
        return in_network(client, net, prefix);
    }
    if let Ok(exact) = spec.parse::<IpAddr>() {
        return exact == client;
    }
    // A partial IPv4 address ("10.1") matches that prefix of octets.
    let parts: Vec<&str> = spec.trim_end_matches('.').split('.').collect();
    if let IpAddr::V4(v4) = client {
        if parts.len() < 4 && parts.iter().all(|p| p.parse::<u8>().is_ok()) {
            return parts
                .iter()
                .zip(v4.octets())
                .all(|(p, o)| p.parse::<u8>().ok() == Some(o));
        }
    }
    false
}

fn in_network(client: IpAddr, net: IpAddr, prefix: u32) -> bool {
    match (client, net) {
        (IpAddr::V4(c), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix.min(32))
            };
            u32::from(c) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(c), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix.min(128))
            };
            u128::from(c) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_forms() {
        let c: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(ip_matches("10.1", c));
        assert!(ip_matches("10.0.0.0/8", c));
        assert!(ip_matches("10.1.0.0/255.255.0.0", c));
        assert!(!ip_matches("10.2", c));
        assert!(ip_matches("127.0.0.1", "::ffff:127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn no_require_grants_and_not_lines_veto() {
        let c: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(Dir::default().decide(c, "GET", &[]), Decision::Granted);
        let mut d = Dir::default();
        d.apply("Require", &["all".into(), "granted".into()]);
        d.apply("Require", &["not".into(), "ip".into(), "127.0.0.1".into()]);
        assert_eq!(d.decide(c, "GET", &[]), Decision::Denied);
    }
}
