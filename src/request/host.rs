//! The host a request names (absolute target or Host header) and whether Apache refuses it
//! while reading the head.

use std::net::SocketAddr;

use super::uri;
use crate::http1::{RequestHead, Version};
use crate::runtime::Runtime;

/// The host a request names: from an absolute-form target, else the Host header, without port.
pub(crate) fn request_host(head: &RequestHead) -> Option<&str> {
    match target_host(head) {
        Some(host) => Some(strip_port(host)),
        None => head.headers.get("Host").map(strip_port),
    }
}

/// Whether Apache refuses the request as it reads the head: a target that is not a path
/// (`*` aside, for OPTIONS) or has a fragment, or the host it names.
pub(crate) fn head_refused(rt: &Runtime, head: &RequestHead, local: SocketAddr) -> bool {
    let target = &head.target;
    let asterisk = target.split('?').next() == Some("*") && head.method == "OPTIONS";
    let bad_target =
        target.contains('#') || !asterisk && !crate::http1::parse::path_is_absolute(target);
    bad_target || host_status(rt, head, local).is_some()
}

/// 400 for a request whose host is missing (HTTP/1.1), given twice, or not a sane name (an
/// absolute target's host, else the Host header's).
pub(crate) fn host_status(rt: &Runtime, head: &RequestHead, local: SocketAddr) -> Option<u16> {
    let host_header = head.headers.get("Host");
    if head.version == Version::Http11 && host_header.is_none() {
        return Some(400);
    }
    let strict = rt.servers[rt.base_server(local)].runtime.core.strict();
    // An absolute target's authority names the host and the Host field is not looked at, even
    // when it is empty (`http:///path`).
    if let Some(authority) = absolute_host(&head.target) {
        // APR splits the authority into userinfo, host and port; the host alone is checked
        // (userinfo is refused outright when strict).
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let refused = match uri_host(host_port) {
            None => true,
            Some(_) if strict && userinfo.is_some() => true,
            // Only a target of the connection's own scheme names the host (the Host field
            // does otherwise, and is checked below).
            Some(_) if target_host(head).is_none() => false,
            Some(host) => !host.is_empty() && !uri::valid_host(host, strict),
        };
        if refused || target_host(head).is_some() {
            return refused.then_some(400);
        }
    }
    // Two Host fields merge into one value with a comma, which only a strict check refuses.
    if strict && head.headers.count("Host") > 1 {
        return Some(400);
    }
    let named = named_host(head)?;
    let missing = named.is_empty() && head.version == Version::Http11;
    (missing || !uri::valid_host(named, strict)).then_some(400)
}

/// The host of an absolute target's `host[:port]` as APR's URI parser splits it: a bracketed
/// IPv6 literal with its brackets, else what comes before the first colon. `None` when the
/// port is not empty or a number (`localhost:80x`, `localhost:80:80`, an unbracketed
/// `4713::abcd:8001`), which APR refuses whatever HttpProtocolOptions says.
fn uri_host(host_port: &str) -> Option<&str> {
    let (host, port) = match host_port.strip_prefix('[') {
        Some(literal) => {
            let (inside, after) = literal.split_once(']')?;
            let host = &host_port[..inside.len() + 2];
            (host, after.strip_prefix(':').unwrap_or(""))
        }
        None => host_port.split_once(':').unwrap_or((host_port, "")),
    };
    let digits = port.strip_prefix(['+', '-']).unwrap_or(port);
    let port_reads =
        port.is_empty() || !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    port_reads.then_some(host)
}

/// The host a request names: its absolute target's, else its Host header's.
pub(crate) fn named_host(head: &RequestHead) -> Option<&str> {
    target_host(head).or(head.headers.get("Host").map(str::trim))
}

/// The authority of an absolute target whose scheme is the connection's (`http`, `https`
/// over TLS): only such a target names the host, as `ap_parse_uri` takes it.
pub(crate) fn target_host(head: &RequestHead) -> Option<&str> {
    if head.target.starts_with('/') {
        return None;
    }
    let scheme = head.target.split_once(':')?.0;
    let own = if head.tls { "https" } else { "http" };
    if !scheme.eq_ignore_ascii_case(own) {
        return None;
    }
    absolute_host(&head.target)
}

/// The `host[:port]` of an absolute-form target (`http://host/...`).
pub(crate) fn absolute_host(target: &str) -> Option<&str> {
    http_target(target).and_then(|(authority, _)| authority)
}

/// An `http:` or `https:` target (any case) split as Apache's URI parser splits it: the
/// authority after `//`, if any, and the path with its query.
pub(crate) fn http_target(target: &str) -> Option<(Option<&str>, &str)> {
    // Nearly every target is a path, which no scheme starts with: not searched for a colon.
    if target.starts_with('/') {
        return None;
    }
    let (scheme, rest) = target.split_once(':')?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    Some(match rest.strip_prefix("//") {
        Some(authority) => {
            let end = authority.find(['/', '?']).unwrap_or(authority.len());
            (Some(&authority[..end]), &authority[end..])
        }
        None => (None, rest),
    })
}

/// `host[:port]` without the port, for virtual host matching.
pub(crate) fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    host.split(':').next().unwrap_or(host)
}

/// The path of a request target as it arrived, not yet decoded (Apache's `r->uri` before
/// `ap_process_request_internal`): an absolute target's path, without the query.
pub(crate) fn raw_path(target: &str) -> &str {
    let path = match http_target(target) {
        Some((_, rest)) => rest,
        None => target,
    };
    path.split('?').next().unwrap_or(path)
}
