//! The virtual-host address table Apache builds at startup (IP-based sets, then name-based
//! sets within each address), and its `-t -D DUMP_VHOSTS` rendering.

use std::net::{IpAddr, ToSocketAddrs};

use rhttpd_directives::model::{Config, Server};

use crate::sys;

/// One address:port a set of virtual hosts answers on (Apache's `ipaddr_chain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSet {
    /// `None` for the wildcard (`*` or `_default_`).
    pub ip: Option<IpAddr>,
    /// 0 means any port.
    pub port: u16,
    /// `(server index, port of its own address)` in config order; the first is the default.
    pub names: Vec<(usize, u16)>,
}

impl AddrSet {
    /// The set's default server (the first defined for the address).
    pub fn default_server(&self) -> usize {
        self.names[0].0
    }
}

/// Apache's IP hash bucket for an address (`hash_inaddr` over the last 4 bytes).
fn hash_bucket(ip: &IpAddr) -> usize {
    let bytes = match ip {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            [o[12], o[13], o[14], o[15]]
        }
    };
    let mut key = u32::from_ne_bytes(bytes);
    key ^= key >> 16;
    (((key >> 8) ^ key) % 256) as usize
}

/// The main server's host name as Apache settles it, and the AH00558 warning if it had to guess.
pub fn main_server_name(config: &Config, program: &str) -> (String, Option<String>) {
    if let Some(name) = &config.main_server().server_name {
        return (name.clone(), None);
    }
    let host = sys::host_name().unwrap_or_default();
    let resolved = (host.as_str(), 0u16)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip());
    let name = match resolved {
        Some(ip) => match sys::reverse_lookup(ip) {
            Some(name) if name.contains('.') => return (name, None),
            _ => ip.to_string(),
        },
        None => "127.0.0.1".to_string(),
    };
    let warning = format!(
        "AH00558: {program}: Could not reliably determine the server's fully qualified domain name, using {name}. Set the 'ServerName' directive globally to suppress this message"
    );
    (name, Some(warning))
}

/// A virtual host's name: its ServerName; else, if one of its addresses is a wildcard, the main
/// server's; else its first address resolved back to a name.
pub fn vhost_name(server: &Server, main_name: &str) -> String {
    if let Some(name) = &server.server_name {
        return name.clone();
    }
    if server
        .addrs
        .iter()
        .any(|a| a.host == "*" || a.host == "_default_")
    {
        return main_name.to_string();
    }
    let first = server
        .addrs
        .first()
        .and_then(|a| resolve(&a.host).into_iter().next());
    match first {
        Some(ip) => {
            sys::reverse_lookup(ip).unwrap_or_else(|| "bogus_host_without_reverse_dns".to_string())
        }
        None => "bogus_host_without_forward_dns".to_string(),
    }
}

/// AH00549 for each virtual host whose name had to come from its address by reverse DNS and
/// could not, as Apache logs it while it settles the names (an error line of core's).
pub fn unresolved_vhost_names(config: &Config) -> Vec<rhttpd_directives::model::Warning> {
    let mut out = Vec::new();
    for server in config.servers.iter().skip(1) {
        let wildcard = server
            .addrs
            .iter()
            .any(|a| a.host == "*" || a.host == "_default_");
        if server.server_name.is_some() || wildcard {
            continue;
        }
        let Some(ip) = server
            .addrs
            .first()
            .and_then(|a| resolve(&a.host).into_iter().next())
        else {
            continue;
        };
        if let Err(code) = sys::reverse_lookup_or_code(ip) {
            out.push(rhttpd_directives::model::Warning {
                module: "core",
                level: "error",
                startup: false,
                text: format!(
                    "{}: AH00549: Failed to resolve server name for {ip} (check DNS) -- or \
                     specify an explicit ServerName",
                    sys::eai_text(code)
                ),
            });
        }
    }
    out
}

/// The addresses a `<VirtualHost>` host resolves to (an IP literal is itself).
pub(crate) fn resolve(host: &str) -> Vec<IpAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![ip];
    }
    let mut ips: Vec<IpAddr> = Vec::new();
    if let Ok(found) = (host, 0u16).to_socket_addrs() {
        for a in found {
            if !ips.contains(&a.ip()) {
                ips.push(a.ip());
            }
        }
    }
    ips
}

/// Builds the address sets as Apache's `ap_fini_vhost_config` does: virtual hosts walked from
/// last to first, each new chain put at the head of its hash bucket (or of the wildcard
/// list), so each list ends up in config order; specific addresses print bucket by bucket,
/// then the wildcard ones.
pub fn address_sets(config: &Config, warnings: &mut Vec<String>) -> Vec<AddrSet> {
    let main_port = config.main_server().server_port.unwrap_or(0);
    let mut buckets: Vec<Vec<AddrSet>> = vec![Vec::new(); 256];
    let mut wildcard: Vec<AddrSet> = Vec::new();
    for (index, server) in config.servers.iter().enumerate().skip(1).rev() {
        let mut previous_wildcard_port: Option<u16> = None;
        for addr in &server.addrs {
            let port = addr.port.unwrap_or(main_port);
            if addr.host == "*" || addr.host == "_default_" {
                let found = wildcard.iter().position(|c| c.port == port);
                match found {
                    Some(at) => {
                        if previous_wildcard_port != Some(port) {
                            wildcard[at].names.insert(0, (index, port));
                        }
                    }
                    None => wildcard.insert(
                        0,
                        AddrSet {
                            ip: None,
                            port,
                            names: vec![(index, port)],
                        },
                    ),
                }
                previous_wildcard_port = Some(port);
                continue;
            }
            previous_wildcard_port = None;
            let ips = resolve(&addr.host);
            if ips.is_empty() {
                warnings.push(format!(
                    "Could not resolve host name {} -- ignoring!",
                    addr.host
                ));
            }
            for ip in ips {
                let bucket = &mut buckets[hash_bucket(&ip)];
                // Apache's find_ipaddr: the set for this address and port, else one where
                // either port is any; a set for another port starts a chain of its own.
                let found = bucket
                    .iter()
                    .position(|c| c.ip == Some(ip) && c.port == port)
                    .or_else(|| {
                        bucket
                            .iter()
                            .position(|c| c.ip == Some(ip) && (c.port == 0 || port == 0))
                    });
                match found {
                    Some(at) if bucket[at].port == port => {
                        bucket[at].names.insert(0, (index, port))
                    }
                    _ => bucket.insert(
                        0,
                        AddrSet {
                            ip: Some(ip),
                            port,
                            names: vec![(index, port)],
                        },
                    ),
                }
            }
        }
    }
    let mut sets: Vec<AddrSet> = buckets.into_iter().flatten().collect();
    sets.extend(wildcard);
    sets
}

/// The `VirtualHost configuration:` block of `-S`.
pub fn dump_vhosts(config: &Config, main_name: &str, warnings: &mut Vec<String>) -> String {
    let sets = address_sets(config, warnings);
    let mut out = String::from("VirtualHost configuration:\n");
    let describe = |index: usize| {
        let server = &config.servers[index];
        let origin = server
            .origin
            .as_ref()
            .map(|o| format!("{}:{}", o.file, o.line))
            .unwrap_or_default();
        (vhost_name(server, main_name), origin)
    };
    for set in &sets {
        let host = match set.ip {
            None => "*".to_string(),
            Some(IpAddr::V6(v6)) => format!("[{v6}]"),
            Some(IpAddr::V4(v4)) => v4.to_string(),
        };
        let port = if set.port == 0 {
            "*".to_string()
        } else {
            set.port.to_string()
        };
        let addr = format!("{host}:{port}");
        let (name, origin) = describe(set.default_server());
        if set.names.len() == 1 {
            out.push_str(&format!("{addr:<22} {name} ({origin})\n"));
            continue;
        }
        out.push_str(&format!("{addr:<22} is a NameVirtualHost\n"));
        out.push_str(&format!("{:8} default server {name} ({origin})\n", ""));
        for &(index, port) in &set.names {
            let (name, origin) = describe(index);
            let port = if port == 0 {
                "*".to_string()
            } else {
                port.to_string()
            };
            out.push_str(&format!(
                "{:8} port {port} namevhost {name} ({origin})\n",
                ""
            ));
            let server = &config.servers[index];
            for alias in &server.aliases {
                out.push_str(&format!("{:16} alias {alias}\n", ""));
            }
            for alias in &server.wild_aliases {
                out.push_str(&format!("{:16} wild alias {alias}\n", ""));
            }
        }
    }
    out
}
