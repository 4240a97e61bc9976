//! ProxyPassReverse and ProxyPassReverseCookiePath/Domain at work: the backend's URLs in
//! Location, Content-Location, URI and Destination taken back to this server's, and the
//! path and domain of its cookies, as Apache's `ap_proxy_location_reverse_map` and
//! `ap_proxy_cookie_reverse_map` do them (the whole value replaced where a prefix matches).

use super::{proxy_request, Dir, ProxyKind, ReverseAlias, ServerConf};
use crate::request::Request;

/// The mappings with `${VAR}` filled in where interpolation is on for them.
fn resolved(req: &Request, dir: &Dir, list: &[ReverseAlias]) -> Vec<(String, String)> {
    list.iter()
        .map(|alias| {
            if dir.interpolates() && alias.interpolate {
                (
                    super::interpolate(req, &alias.fake),
                    super::interpolate(req, &alias.real),
                )
            } else {
                (alias.fake.clone(), alias.real.clone())
            }
        })
        .collect()
}

fn is_reverse(req: &Request) -> bool {
    proxy_request(req).is_some_and(|p| p.kind == ProxyKind::Reverse)
}

/// `ap_is_url`: a scheme (letters, digits, `+-.`) then a colon.
fn is_url(text: &str) -> bool {
    match text.find(':') {
        Some(0) | None => false,
        Some(at) => text[..at]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)),
    }
}

fn absolute(req: &Request, mapped: String) -> String {
    if is_url(&mapped) {
        mapped
    } else {
        format!("{}{mapped}", req.self_url_base())
    }
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// A URL header's value with the first matching ProxyPassReverse applied.
pub fn location(req: &Request, dir: &Dir, conf: &ServerConf, url: &str) -> String {
    if !is_reverse(req) {
        return url.to_string();
    }
    for (fake, real) in resolved(req, dir, &dir.reverse) {
        if super::is_balancer_name(&real) {
            let name_end = real[11..].find('/').map_or(real.len(), |i| 11 + i);
            let Some(balancer) = conf.balancer(&real[..name_end]) else {
                continue;
            };
            let url_part = Some(&real[name_end..]).filter(|p| p.len() > 1);
            for member in conf.members(balancer) {
                let mut name = member.url.as_str();
                if let Some(part) = url_part {
                    name = name.strip_suffix('/').unwrap_or(name);
                    if url.len() >= name.len() + part.len()
                        && starts_with_ignore_case(url, name)
                        && url[name.len()..].starts_with(part)
                    {
                        return absolute(req, format!("{fake}{}", &url[name.len() + part.len()..]));
                    }
                } else if starts_with_ignore_case(url, name) {
                    let rest = &url[name.len()..];
                    let mapped = if fake == "/" && rest.starts_with('/') {
                        rest.to_string()
                    } else {
                        format!("{fake}{rest}")
                    };
                    return absolute(req, mapped);
                }
            }
            continue;
        }
        let mut part = url;
        if real.starts_with('/') {
            if let Some(at) = url.find("://") {
                if let Some(slash) = url[at + 3..].find('/') {
                    part = &url[at + 3 + slash..];
                }
            }
        }
        if !real.is_empty() && starts_with_ignore_case(part, &real) {
            return absolute(req, format!("{fake}{}", &part[real.len()..]));
        }
    }
    url.to_string()
}

/// A Set-Cookie value with its path and domain mapped (each replaced whole by the first
/// mapping whose prefix it has; the path compared with case, the domain without).
pub fn cookie(req: &Request, dir: &Dir, value: &str) -> String {
    if !is_reverse(req) || (dir.cookie_paths.is_empty() && dir.cookie_domains.is_empty()) {
        return value.to_string();
    }
    let paths = resolved(req, dir, &dir.cookie_paths);
    let domains = resolved(req, dir, &dir.cookie_domains);
    // Where each attribute's value lies in the text, and what replaces it.
    let mut replacements: Vec<(usize, usize, String)> = Vec::new();
    let mut offset = 0;
    for token in value.split(';') {
        let start = offset;
        offset += token.len() + 1;
        let trimmed = token.trim_start();
        let at = start + (token.len() - trimmed.len());
        if starts_with_ignore_case(trimmed, "path=") {
            let attr = &trimmed[5..];
            if let Some((_, real)) = paths
                .iter()
                .find(|(fake, _)| attr.starts_with(fake.as_str()))
            {
                replacements.retain(|(_, _, r)| !r.starts_with('\u{1}'));
                replacements.push((at + 5, at + 5 + attr.len(), format!("\u{1}{real}")));
            }
        } else if starts_with_ignore_case(trimmed, "domain=") {
            let attr = &trimmed[7..];
            if let Some((_, real)) = domains
                .iter()
                .find(|(fake, _)| starts_with_ignore_case(attr, fake))
            {
                replacements.retain(|(_, _, r)| !r.starts_with('\u{2}'));
                replacements.push((at + 7, at + 7 + attr.len(), format!("\u{2}{real}")));
            }
        }
    }
    if replacements.is_empty() {
        return value.to_string();
    }
    replacements.sort_by_key(|(start, _, _)| *start);
    let mut out = String::with_capacity(value.len());
    let mut copied = 0;
    for (start, end, text) in replacements {
        out.push_str(&value[copied..start]);
        out.push_str(&text[1..]);
        copied = end;
    }
    out.push_str(&value[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::is_url;

    #[test]
    fn a_url_has_a_scheme_before_its_colon() {
        assert!(is_url("http://x/"));
        assert!(!is_url("/path:x"));
        assert!(!is_url(":x"));
    }
}
