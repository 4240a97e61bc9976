//! The virtual-host address table Apache builds at startup (IP-based sets, then name-based
//! sets within each address), and its `-t -D DUMP_VHOSTS` rendering.

use std::net::{IpAddr, ToSocketAddrs};

use rhttpd_directives::model::{Config, Server};

use crate::sys;

/// One address:port a set of virtual hosts answers on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSet {
    /// `None` for the wildcard (`*` or `_default_`).
    pub ip: Option<IpAddr>,
    /// 0 means any port.
    pub port: u16,
    /// Indexes into `config.servers`, in config order; the first is the set's default.
    pub servers: Vec<usize>,
}

/// Apache's IP hash bucket for an address (`hash_inaddr` over the last 4 bytes).
fn hash_bucket(ip: &IpAddr) -> u32 {
    let bytes = match ip {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            [o[12], o[13], o[14], o[15]]
        }
    };
    let key = u32::from_le_bytes(bytes);
    ((key >> 16) ^ key) % 256
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

/// A virtual host's name: its ServerName, else its first specific address resolved back to a
/// name (or the address itself), else the main server's name.
pub fn vhost_name(server: &Server, sets: &[AddrSet], index: usize, main_name: &str) -> String {
    if let Some(name) = &server.server_name {
        return name.clone();
    }
    let first_ip = sets
        .iter()
        .find(|s| s.servers.contains(&index))
        .and_then(|s| s.ip);
    match first_ip {
        Some(ip) => sys::reverse_lookup(ip).unwrap_or_else(|| ip.to_string()),
        None => main_name.to_string(),
    }
}

/// Builds the address sets: specific addresses in hash-bucket order, then wildcards.
pub fn address_sets(config: &Config, warnings: &mut Vec<String>) -> Vec<AddrSet> {
    let main_port = config.main_server().server_port.unwrap_or(0);
    let mut specific: Vec<AddrSet> = Vec::new();
    let mut wildcard: Vec<AddrSet> = Vec::new();
    for (index, server) in config.servers.iter().enumerate().skip(1) {
        for addr in &server.addrs {
            let port = addr.port.unwrap_or(main_port);
            if addr.host == "*" || addr.host == "_default_" {
                add(&mut wildcard, None, port, index);
                continue;
            }
            let host = addr.host.trim_start_matches('[').trim_end_matches(']');
            let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => match (host, 0u16).to_socket_addrs() {
                    Ok(found) => {
                        let mut ips: Vec<IpAddr> = Vec::new();
                        for a in found {
                            if !ips.contains(&a.ip()) {
                                ips.push(a.ip());
                            }
                        }
                        ips
                    }
                    Err(_) => {
                        warnings.push(format!("Could not resolve host name {host} -- ignoring!"));
                        Vec::new()
                    }
                },
            };
            for ip in ips {
                add(&mut specific, Some(ip), port, index);
            }
        }
    }
    specific.sort_by_key(|s| s.ip.as_ref().map(hash_bucket).unwrap_or(0));
    specific.extend(wildcard);
    specific
}

fn add(sets: &mut Vec<AddrSet>, ip: Option<IpAddr>, port: u16, index: usize) {
    match sets.iter_mut().find(|s| s.ip == ip && s.port == port) {
        Some(set) => {
            if !set.servers.contains(&index) {
                set.servers.push(index);
            }
        }
        None => sets.push(AddrSet {
            ip,
            port,
            servers: vec![index],
        }),
    }
}

/// The `VirtualHost configuration:` block of `-S`.
pub fn dump_vhosts(config: &Config, main_name: &str, warnings: &mut Vec<String>) -> String {
    let sets = address_sets(config, warnings);
    let mut out = String::from("VirtualHost configuration:\n");
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
        let describe = |index: usize| {
            let server = &config.servers[index];
            let origin = server
                .origin
                .as_ref()
                .map(|o| format!("{}:{}", o.file, o.line))
                .unwrap_or_default();
            (vhost_name(server, &sets, index, main_name), origin)
        };
        if set.servers.len() == 1 {
            let (name, origin) = describe(set.servers[0]);
            out.push_str(&format!("{addr:<22} {name} ({origin})\n"));
            continue;
        }
        out.push_str(&format!("{addr:<22} is a NameVirtualHost\n"));
        let (name, origin) = describe(set.servers[0]);
        out.push_str(&format!("{:8} default server {name} ({origin})\n", ""));
        for &index in &set.servers {
            let (name, origin) = describe(index);
            let server = &config.servers[index];
            out.push_str(&format!(
                "{:8} port {} namevhost {name} ({origin})\n",
                "", set.port
            ));
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
