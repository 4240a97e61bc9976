//! mod_authz_host's Require providers: `ip` (full, partial, CIDR and netmask forms), `host`
//! (double-reverse DNS of the client, matched by domain), `forward-dns` and `local`.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use super::authz::Status;
use rhttpd_directives::util::subnet::{Subnet, SubnetError};

/// The client as the host providers see it.
pub struct Client<'a> {
    /// The request's user agent (Apache's `r->useragent_addr`, which mod_remoteip may set).
    pub useragent: IpAddr,
    pub local: IpAddr,
    pub uri: &'a str,
}

/// The result of one of this module's providers; `None` for another module's.
/// `remote_host` gives the client's double-reverse-checked name, looked up only when needed.
pub fn provider(
    provider: &str,
    args: &[String],
    client: &Client<'_>,
    remote_host: &dyn Fn() -> Option<String>,
    log: &dyn Fn(&str, &str),
) -> Option<Status> {
    let granted = match provider {
        "ip" => args.iter().any(|a| ip_matches(a, client.useragent)),
        "local" => {
            let useragent = unmapped(client.useragent);
            useragent == unmapped(client.local) || useragent.is_loopback()
        }
        "host" => match remote_host() {
            Some(name) => host_matches(args, &name, log),
            None => {
                log("error", &format!(
                    "AH01753: access check of '{}' to {} failed, reason: unable to get the remote host name",
                    args.join(" "),
                    client.uri
                ));
                false
            }
        },
        "forward-dns" => args.iter().any(|name| {
            (name.as_str(), 0)
                .to_socket_addrs()
                .map(|mut addrs| {
                    addrs.any(|a: SocketAddr| unmapped(a.ip()) == unmapped(client.useragent))
                })
                .unwrap_or(false)
        }),
        _ => return None,
    };
    Some(if granted {
        Status::Granted
    } else {
        Status::Denied
    })
}

/// `Require host` names: a comment ends the list (with a warning); each name matches the
/// client's name exactly or as a whole-label suffix.
fn host_matches(args: &[String], remote: &str, log: &dyn Fn(&str, &str)) -> bool {
    let mut names = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if let Some(at) = arg.find('#') {
            if i == 0 && at == 0 {
                log("error", &format!(
                    "AH10120: authz_host authorize: dubious empty 'Require host {}' with only comment",
                    args.join(" ")
                ));
                return false;
            }
            log(
                "warn",
                &format!(
                    "AH10121: authz_host authorize: ignoring comment in 'Require host {}'",
                    args.join(" ")
                ),
            );
            if at > 0 {
                names.push(&arg[..at]);
            }
            break;
        }
        names.push(arg.as_str());
    }
    names.iter().any(|domain| in_domain(domain, remote))
}

/// Whether `host` is `domain` or inside it (`.example.com` and `example.com` both match
/// `www.example.com`; `example.com` does not match `badexample.com`).
pub fn in_domain(domain: &str, host: &str) -> bool {
    if domain.len() > host.len() {
        return false;
    }
    let tail = &host[host.len() - domain.len()..];
    if !tail.eq_ignore_ascii_case(domain) {
        return false;
    }
    host.len() == domain.len()
        || domain.starts_with('.')
        || host.as_bytes()[host.len() - domain.len() - 1] == b'.'
}

/// The client's name when its address resolves to a name that resolves back to it (Apache's
/// REMOTE_DOUBLE_REV); `None` otherwise.
pub fn double_reverse(addr: IpAddr) -> Option<String> {
    let name = crate::sys::reverse_lookup(addr)?;
    let forward = (name.as_str(), 0).to_socket_addrs().ok()?;
    let addr = unmapped(addr);
    forward
        .into_iter()
        .any(|a| unmapped(a.ip()) == addr)
        .then_some(name)
}

fn unmapped(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// `Require ip`'s arguments as Apache reads them with the line: at least one, each an address
/// APR takes (the words as written in the messages).
pub fn check_ip_args(line: &str) -> Result<(), String> {
    let words = rhttpd_parser::split_words(line);
    if words.is_empty() {
        return Err("'require ip' requires an argument".into());
    }
    for word in &words {
        match Subnet::parse(word) {
            Ok(_) => {}
            Err(SubnetError::NotIp) => {
                return Err(format!("ip address '{word}' appears to be invalid"));
            }
            Err(err) => {
                return Err(format!(
                    "ip address '{word}' appears to be invalid: {}",
                    err.message()
                ));
            }
        }
    }
    Ok(())
}

/// `Require ip` and `Allow from` forms (full address, partial dotted prefix, CIDR,
/// address/netmask), read and tested as APR reads and tests them; a form APR refuses matches
/// nothing.
pub fn ip_matches(spec: &str, client: IpAddr) -> bool {
    Subnet::parse(spec).is_ok_and(|subnet| subnet.contains(client))
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
        // A dotted mask is used as written, and octets may have leading zeros.
        assert!(!ip_matches("10.0.0.0/255.0.0.255", c));
        assert!(ip_matches("010.001.002.003", c));
    }

    #[test]
    fn domains_match_whole_labels() {
        assert!(in_domain("example.com", "www.example.com"));
        assert!(in_domain(".example.com", "www.example.com"));
        assert!(in_domain("localhost", "LOCALHOST"));
        assert!(!in_domain("example.com", "badexample.com"));
    }
}
