//! IP subnets as APR reads and tests them (`apr_ipsubnet_create`, `apr_ipsubnet_test`): the
//! one parser behind `Require ip`, `Allow from`/`Deny from` and ap_expr's `-ipmatch` and
//! `-R`, with APR's own address readers (leading zeros welcome, a network cut short like
//! `10.1` when no mask is given) and its three ways of refusing.

use std::net::IpAddr;

/// Why `apr_ipsubnet_create` refused a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubnetError {
    /// APR_EINVAL: nothing like an address, so a caller may take it for a host name.
    NotIp,
    /// APR_EBADIP.
    BadIp,
    /// APR_EBADMASK.
    BadMask,
}

impl SubnetError {
    /// `apr_strerror`'s text (what Apache prints with `%pm`).
    pub fn message(self) -> &'static str {
        match self {
            SubnetError::NotIp => "Invalid argument",
            SubnetError::BadIp => "The specified IP address is invalid.",
            SubnetError::BadMask => "The specified network mask is invalid.",
        }
    }
}

/// A network and its mask; the network has no bits outside the mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subnet {
    V4 { net: u32, mask: u32 },
    V6 { net: u128, mask: u128 },
}

impl Subnet {
    /// `apr_ipsubnet_create(ip, mask)`: an IPv6 or dotted-quad IPv4 address, or (only without
    /// a mask) one to four leading octets; the mask a bit count or, for IPv4, a dotted mask.
    /// IPv4-mapped IPv6 addresses are refused: they are written as IPv4.
    pub fn new(ip: &str, mask: Option<&str>) -> Result<Subnet, SubnetError> {
        if !looks_like_ip(ip) {
            return Err(SubnetError::NotIp);
        }
        let subnet = if let Some(v6) = inet_pton6(ip) {
            if v6 >> 32 == 0xffff {
                return Err(SubnetError::BadIp);
            }
            Subnet::V6 {
                net: v6,
                mask: u128::MAX,
            }
        } else if let Some(v4) = inet_pton4(ip) {
            Subnet::V4 {
                net: v4,
                mask: u32::MAX,
            }
        } else if mask.is_none() {
            parse_network(ip)?
        } else {
            return Err(SubnetError::BadIp);
        };
        let subnet = match (subnet, mask) {
            (subnet, None) => subnet,
            (Subnet::V4 { net, .. }, Some(m)) => {
                let mask = match mask_bits(m, 32) {
                    Some(bits) => u32::MAX << (32 - bits),
                    None => inet_pton4(m).ok_or(SubnetError::BadMask)?,
                };
                Subnet::V4 { net, mask }
            }
            (Subnet::V6 { net, .. }, Some(m)) => {
                let bits = mask_bits(m, 128).ok_or(SubnetError::BadMask)?;
                Subnet::V6 {
                    net,
                    mask: u128::MAX << (128 - bits),
                }
            }
        };
        Ok(match subnet {
            Subnet::V4 { net, mask } => Subnet::V4 {
                net: net & mask,
                mask,
            },
            Subnet::V6 { net, mask } => Subnet::V6 {
                net: net & mask,
                mask,
            },
        })
    }

    /// `ip[/mask]`, split at the first slash as Apache's callers split it.
    pub fn parse(spec: &str) -> Result<Subnet, SubnetError> {
        match spec.split_once('/') {
            Some((ip, mask)) => Subnet::new(ip, Some(mask)),
            None => Subnet::new(spec, None),
        }
    }

    /// `apr_ipsubnet_test`: an IPv4-mapped IPv6 client is tested as IPv4 against IPv4 subnets
    /// and never matches an IPv6 one.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match (self, ip) {
            (Subnet::V4 { net, mask }, IpAddr::V4(v4)) => u32::from(v4) & mask == *net,
            (Subnet::V6 { net, mask }, IpAddr::V6(v6)) => u128::from(v6) & mask == *net,
            _ => false,
        }
    }
}

/// A colon anywhere, or only digits and dots: what APR will try to read as an address.
fn looks_like_ip(text: &str) -> bool {
    !text.is_empty()
        && (text.contains(':') || text.bytes().all(|b| b == b'.' || b.is_ascii_digit()))
}

/// A prefix length as `strtol` reads it (the whole text used), within 1..=`max`.
fn mask_bits(text: &str, max: i64) -> Option<u32> {
    let (bits, rest) = crate::set::strtol(text);
    (rest.is_empty() && bits > 0 && bits <= max).then_some(bits as u32)
}

/// APR's `inet_pton4`: exactly four dotted decimal octets (leading zeros allowed).
fn inet_pton4(text: &str) -> Option<u32> {
    let mut octets = [0u32; 4];
    let mut count = 0;
    let mut saw_digit = false;
    for b in text.bytes() {
        match b {
            b'0'..=b'9' => {
                if !saw_digit {
                    if count == 4 {
                        return None;
                    }
                    count += 1;
                    saw_digit = true;
                }
                let octet = &mut octets[count - 1];
                *octet = *octet * 10 + u32::from(b - b'0');
                if *octet > 255 {
                    return None;
                }
            }
            b'.' if saw_digit && count < 4 => saw_digit = false,
            _ => return None,
        }
    }
    (count == 4 && saw_digit).then(|| octets.iter().fold(0, |a, o| a << 8 | o))
}

/// APR's `inet_pton6`, with its leniencies: a group may have any number of leading zeros,
/// and the last 32 bits may be written as a dotted quad.
fn inet_pton6(text: &str) -> Option<u128> {
    let mut out = [0u8; 16];
    let mut tp = 0usize;
    let mut colon: Option<usize> = None;
    let bytes = text.as_bytes();
    let mut i = 0;
    // A leading "::" is read as one colon-pair; a lone leading ':' is an error.
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
            out[tp..tp + 2].copy_from_slice(&(value as u16).to_be_bytes());
            tp += 2;
            saw_xdigit = false;
            value = 0;
            continue;
        }
        if ch == b'.' && tp + 4 <= 16 {
            if let Some(quad) = inet_pton4(&text[token_start..]) {
                out[tp..tp + 4].copy_from_slice(&quad.to_be_bytes());
                tp += 4;
                saw_xdigit = false;
                break;
            }
        }
        return None;
    }
    if saw_xdigit {
        if tp + 2 > 16 {
            return None;
        }
        out[tp..tp + 2].copy_from_slice(&(value as u16).to_be_bytes());
        tp += 2;
    }
    if let Some(at) = colon {
        // The groups after "::" move to the end; the gap is zeros.
        let moved = tp - at;
        out.copy_within(at..tp, 16 - moved);
        out[at..16 - moved].fill(0);
        tp = 16;
    }
    (tp == 16).then(|| u128::from_be_bytes(out))
}

/// APR's `parse_network`, the legacy form: one to four dotted decimal octets, each followed
/// by a dot or the end ("10.1." is 10.1.0.0/16).
fn parse_network(text: &str) -> Result<Subnet, SubnetError> {
    if text.len() > "255.255.255.255".len() {
        return Err(SubnetError::BadIp);
    }
    let (mut net, mut mask) = (0u32, 0u32);
    let mut shift: i32 = 24;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(SubnetError::BadIp);
        }
        let (octet, after) = rest.split_at(digits);
        rest = match after.strip_prefix('.') {
            Some(next) => next,
            None if after.is_empty() => after,
            None => return Err(SubnetError::BadIp),
        };
        if shift < 0 {
            return Err(SubnetError::BadIp);
        }
        // C's atoi, whose long result is cut to an int: "4294967296" is octet 0.
        let octet = crate::set::atoi_int(octet);
        if !(0..=255).contains(&octet) {
            return Err(SubnetError::BadIp);
        }
        net |= (octet as u32) << shift;
        mask |= 0xff << shift;
        shift -= 8;
    }
    Ok(Subnet::V4 { net, mask })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forms_apr_accepts() {
        assert_eq!(Subnet::parse("10.1"), Subnet::parse("10.1.0.0/16"));
        assert_eq!(Subnet::parse("10.1."), Subnet::parse("10.1.0.0/16"));
        assert_eq!(Subnet::parse("10.1.2.3/8"), Subnet::parse("10.0.0.0/8"));
        assert_eq!(
            Subnet::parse("010.001.0.0/255.255.0.0"),
            Subnet::parse("10.1.0.0/16")
        );
        assert_eq!(
            Subnet::parse("00001::1"),
            Ok(Subnet::V6 {
                net: 0x0001_0000_0000_0000_0000_0000_0000_0001,
                mask: u128::MAX
            })
        );
        assert!(Subnet::parse("::1.2.3.4").is_ok());
        assert_eq!(Subnet::parse("4294967296"), Subnet::parse("0.0.0.0/8"));
        assert!(Subnet::parse("2001:db8::/32").is_ok());
    }

    #[test]
    fn forms_apr_refuses() {
        assert_eq!(Subnet::parse("host.example"), Err(SubnetError::NotIp));
        assert_eq!(Subnet::parse(""), Err(SubnetError::NotIp));
        assert_eq!(Subnet::parse("::ffff:1.2.3.4"), Err(SubnetError::BadIp));
        assert_eq!(Subnet::parse("10.1/16"), Err(SubnetError::BadIp));
        assert_eq!(Subnet::parse("1.2.3.4.5"), Err(SubnetError::BadIp));
        assert_eq!(Subnet::parse("256.1"), Err(SubnetError::BadIp));
        assert_eq!(Subnet::parse("10.0.0.0/0"), Err(SubnetError::BadMask));
        assert_eq!(Subnet::parse("10.0.0.0/33"), Err(SubnetError::BadMask));
        assert_eq!(Subnet::parse("::1/255.0.0.0"), Err(SubnetError::BadMask));
        assert_eq!(Subnet::parse("1::2::3"), Err(SubnetError::BadIp));
    }

    #[test]
    fn tests_as_apr_tests() {
        let c = ip("10.1.2.3");
        let has = |spec: &str, client: IpAddr| Subnet::parse(spec).unwrap().contains(client);
        assert!(has("10.1", c));
        assert!(has("10.0.0.0/8", c));
        assert!(has("10.1.0.0/255.255.0.0", c));
        assert!(!has("10.2", c));
        // A dotted mask is used as written, holes and all.
        assert!(has("10.0.2.0/255.0.255.0", c));
        assert!(!has("10.0.3.0/255.0.255.0", c));
        assert!(has("127.0.0.1", ip("::ffff:127.0.0.1")));
        assert!(!has("::/1", ip("::ffff:127.0.0.1")));
        assert!(has("2001:db8::/32", ip("2001:db8::5")));
        assert!(!has("10.0.0.0/8", ip("::10.1.2.3")));
    }
}
