//! mod_access_compat: Order, Allow, Deny and Satisfy from Apache 2.2.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::cmd::Cmd;
use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

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
    if !["allow,deny", "deny,allow", "mutual-failure"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(arg))
    {
        return Err("unknown order".into());
    }
    cmd.store_raw();
    Ok(())
}

fn satisfy(cmd: &mut Cmd, arg: &str) -> SetResult {
    if !arg.eq_ignore_ascii_case("all") && !arg.eq_ignore_ascii_case("any") {
        return Err("Satisfy either 'any' or 'all'.".into());
    }
    cmd.store_raw();
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
        match ipsubnet(ip, Some(mask)) {
            Err(Subnet::NotIp) => return Err("An IP address was expected".into()),
            Err(err) => return Err(err.message().into()),
            Ok(()) => {}
        }
    } else {
        match ipsubnet(host, None) {
            Err(Subnet::NotIp) if host.contains('#') => {
                return Err("No comments are allowed here".into())
            }
            Err(Subnet::NotIp) | Ok(()) => {}
            Err(err) => return Err(err.message().into()),
        }
    }
    cmd.store_raw();
    Ok(())
}

/// Why `apr_ipsubnet_create` refused a string.
#[derive(Debug, PartialEq)]
enum Subnet {
    /// APR_EINVAL: nothing like an address, so it may be a host name.
    NotIp,
    BadIp,
    BadMask,
}

impl Subnet {
    /// `apr_strerror`'s text, which mod_access_compat prints with `%pm`.
    fn message(&self) -> &'static str {
        match self {
            Subnet::NotIp => "Invalid argument",
            Subnet::BadIp => "The specified IP address is invalid.",
            Subnet::BadMask => "The specified network mask is invalid.",
        }
    }
}

/// `apr_ipsubnet_create`: an IPv6 or IPv4 address, or without a mask also a leading part of
/// an IPv4 address ("10.1"), with an optional prefix length or IPv4 netmask.
fn ipsubnet(ip: &str, mask: Option<&str>) -> Result<(), Subnet> {
    let looks_like_ip =
        !ip.is_empty() && (ip.contains(':') || ip.bytes().all(|b| b == b'.' || b.is_ascii_digit()));
    if !looks_like_ip {
        return Err(Subnet::NotIp);
    }
    let ipv6 = match inet_pton6(ip) {
        Some(addr) => {
            // An IPv4-mapped address must be written as IPv4.
            if addr[..10].iter().all(|&b| b == 0) && addr[10] == 0xff && addr[11] == 0xff {
                return Err(Subnet::BadIp);
            }
            true
        }
        None if inet_pton4(ip) => false,
        None if mask.is_none() => return ipv4_network(ip),
        None => return Err(Subnet::BadIp),
    };
    if let Some(mask) = mask {
        let max_bits = if ipv6 { 128 } else { 32 };
        let (bits, rest) = crate::set::strtol(mask);
        let valid_bits = rest.is_empty() && bits > 0 && bits <= max_bits;
        if !valid_bits && (ipv6 || !inet_pton4(mask)) {
            return Err(Subnet::BadMask);
        }
    }
    Ok(())
}

/// APR's `parse_network`: one to four dotted decimal octets ("10.1." is "10.1.0.0/16").
fn ipv4_network(text: &str) -> Result<(), Subnet> {
    if text.len() > "255.255.255.255".len() {
        return Err(Subnet::BadIp);
    }
    let mut rest = text;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(Subnet::BadIp);
        }
        let (octet, after) = rest.split_at(digits);
        rest = match after.strip_prefix('.') {
            Some(next) => next,
            None if after.is_empty() => after,
            None => return Err(Subnet::BadIp),
        };
        parts += 1;
        if parts > 4 || !(0..=255).contains(&crate::set::atoi_int(octet)) {
            return Err(Subnet::BadIp);
        }
    }
    Ok(())
}

/// APR's `inet_pton4`: exactly four dotted decimal octets (leading zeros allowed).
fn inet_pton4(text: &str) -> bool {
    let mut octets = 0;
    let mut value: u32 = 0;
    let mut saw_digit = false;
    for b in text.bytes() {
        match b {
            b'0'..=b'9' => {
                value = value * 10 + u32::from(b - b'0');
                if value > 255 {
                    return false;
                }
                if !saw_digit {
                    octets += 1;
                    if octets > 4 {
                        return false;
                    }
                    saw_digit = true;
                }
            }
            b'.' if saw_digit => {
                if octets == 4 {
                    return false;
                }
                value = 0;
                saw_digit = false;
            }
            _ => return false,
        }
    }
    octets == 4
}

/// APR's `inet_pton6`, including its leniencies (any number of leading zeros in a group, a
/// trailing dotted IPv4 part).
fn inet_pton6(text: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    let mut tp = 0usize;
    let mut colon: Option<usize> = None;
    let bytes = text.as_bytes();
    let mut i = 0;
    if bytes.first() == Some(&b':') {
        if bytes.get(1) != Some(&b':') {
            return None;
        }
        i = 1;
    }
    let mut token_start = i;
    let mut saw_xdigit = false;
    let mut value: u32 = 0;
    while i < bytes.len() {
        let ch = bytes[i];
        i += 1;
        if let Some(digit) = char::from(ch).to_digit(16) {
            value = (value << 4) | digit;
            if value > 0xffff {
                return None;
            }
            saw_xdigit = true;
            continue;
        }
        if ch == b':' {
            token_start = i;
            if !saw_xdigit {
                if colon.is_some() {
                    return None;
                }
                colon = Some(tp);
                continue;
            }
            if tp + 2 > 16 {
                return None;
            }
            out[tp] = (value >> 8) as u8;
            out[tp + 1] = value as u8;
            tp += 2;
            saw_xdigit = false;
            value = 0;
            continue;
        }
        if ch == b'.' && tp + 4 <= 16 && inet_pton4(&text[token_start..]) {
            let quad: Vec<u8> = text[token_start..]
                .split('.')
                .map(|o| o.parse::<u32>().unwrap_or(0) as u8)
                .collect();
            out[tp..tp + 4].copy_from_slice(&quad);
            tp += 4;
            saw_xdigit = false;
            break;
        }
        return None;
    }
    if saw_xdigit {
        if tp + 2 > 16 {
            return None;
        }
        out[tp] = (value >> 8) as u8;
        out[tp + 1] = value as u8;
        tp += 2;
    }
    if let Some(at) = colon {
        let moved = tp - at;
        for k in 1..=moved {
            out[16 - k] = out[at + moved - k];
            out[at + moved - k] = 0;
        }
        tp = 16;
    }
    (tp == 16).then_some(out)
}
