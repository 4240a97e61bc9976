//! The SSL variables mod_ssl answers (its `ssl_var_lookup`): HTTPS, SSL_PROTOCOL, SSL_CIPHER*,
//! SSL_SESSION_*, SSL_TLS_SNI, SSL_CLIENT_* and SSL_SERVER_* from the certificates, with
//! distinguished names printed as OpenSSL prints them (RFC 2253, or the legacy one-line form
//! under SSLOptions +LegacyDNStringFormat), and the lists SSLOptions exports.

use x509_parser::prelude::*;

use crate::server::tls::TlsInfo;

/// What mod_ssl reports as its interface and library versions.
pub const VERSION_INTERFACE: &str = "mod_ssl/2.4.71";
pub const VERSION_LIBRARY: &str = "rustls/0.23";

/// The variables `SSLOptions +StdEnvVars` adds to the environment, in mod_ssl's order.
pub const STD_ENV_VARS: &[&str] = &[
    "SSL_VERSION_INTERFACE",
    "SSL_VERSION_LIBRARY",
    "SSL_PROTOCOL",
    "SSL_SECURE_RENEG",
    "SSL_COMPRESS_METHOD",
    "SSL_CIPHER",
    "SSL_CIPHER_EXPORT",
    "SSL_CIPHER_USEKEYSIZE",
    "SSL_CIPHER_ALGKEYSIZE",
    "SSL_CLIENT_VERIFY",
    "SSL_CLIENT_M_VERSION",
    "SSL_CLIENT_M_SERIAL",
    "SSL_CLIENT_V_START",
    "SSL_CLIENT_V_END",
    "SSL_CLIENT_V_REMAIN",
    "SSL_CLIENT_S_DN",
    "SSL_CLIENT_I_DN",
    "SSL_CLIENT_A_KEY",
    "SSL_CLIENT_A_SIG",
    "SSL_SERVER_M_VERSION",
    "SSL_SERVER_M_SERIAL",
    "SSL_SERVER_V_START",
    "SSL_SERVER_V_END",
    "SSL_SERVER_S_DN",
    "SSL_SERVER_I_DN",
    "SSL_SERVER_A_KEY",
    "SSL_SERVER_A_SIG",
    "SSL_SESSION_ID",
    "SSL_SESSION_RESUMED",
];

/// Distinguished-name attributes mod_ssl extracts, by its suffix and OpenSSL's OID; the
/// second column is whether StdEnvVars exports it (SP is an alias of ST).
const DN_PARTS: &[(&str, &str, bool)] = &[
    ("C", "2.5.4.6", true),
    ("ST", "2.5.4.8", true),
    ("SP", "2.5.4.8", false),
    ("L", "2.5.4.7", true),
    ("O", "2.5.4.10", true),
    ("OU", "2.5.4.11", true),
    ("CN", "2.5.4.3", true),
    ("T", "2.5.4.12", true),
    ("I", "2.5.4.43", true),
    ("G", "2.5.4.42", true),
    ("S", "2.5.4.4", true),
    ("D", "2.5.4.13", true),
    ("UID", "0.9.2342.19200300.100.1.1", true),
    ("Email", "1.2.840.113549.1.9.1", true),
];

/// OpenSSL's short name for an attribute type, as X509_NAME_print_ex writes it.
fn short_name(oid: &str) -> String {
    let known = [
        ("2.5.4.6", "C"),
        ("2.5.4.8", "ST"),
        ("2.5.4.7", "L"),
        ("2.5.4.10", "O"),
        ("2.5.4.11", "OU"),
        ("2.5.4.3", "CN"),
        ("2.5.4.12", "title"),
        ("2.5.4.43", "initials"),
        ("2.5.4.42", "GN"),
        ("2.5.4.4", "SN"),
        ("2.5.4.13", "description"),
        ("2.5.4.5", "serialNumber"),
        ("2.5.4.9", "street"),
        ("2.5.4.17", "postalCode"),
        ("0.9.2342.19200300.100.1.1", "UID"),
        ("0.9.2342.19200300.100.1.25", "DC"),
        ("1.2.840.113549.1.9.1", "emailAddress"),
    ];
    known
        .iter()
        .find(|(o, _)| *o == oid)
        .map_or_else(|| oid.to_string(), |(_, n)| n.to_string())
}

/// An attribute's value as text (the string types; anything else as OpenSSL's `#hex`).
fn attribute_text(attr: &AttributeTypeAndValue<'_>) -> String {
    match attr.as_str() {
        Ok(text) => text.to_string(),
        Err(_) => {
            let data = attr.attr_value().data;
            // BMPString: UTF-16BE.
            if attr.attr_value().tag() == asn1_rs::Tag::BmpString {
                let units: Vec<u16> = data
                    .chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                    .collect();
                return String::from_utf16_lossy(&units);
            }
            String::from_utf8_lossy(data).into_owned()
        }
    }
}

/// RFC 2253 escaping of a value, as OpenSSL's XN_FLAG_RFC2253 (without ESC_MSB) does.
fn escape_rfc2253(value: &str) -> String {
    let mut out = String::new();
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A name in RFC 2253 form (most specific first, `,` between RDNs, `+` within one).
fn dn_rfc2253(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|a| {
                    format!(
                        "{}={}",
                        short_name(&a.attr_type().to_id_string()),
                        escape_rfc2253(&attribute_text(a))
                    )
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// X509_NAME_oneline's form: `/C=US/O=Org/CN=host`.
fn dn_legacy(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for attr in name.iter_rdn().flat_map(|rdn| rdn.iter()) {
        out.push('/');
        out.push_str(&short_name(&attr.attr_type().to_id_string()));
        out.push('=');
        out.push_str(&attribute_text(attr));
    }
    out
}

/// The `index`th attribute of a name with mod_ssl's suffix `part`.
fn dn_part(name: &X509Name<'_>, part: &str) -> Option<String> {
    let (part, index) = match part.split_once('_') {
        Some((p, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (p, n.parse::<usize>().ok()?)
        }
        _ => (part, 0),
    };
    let (_, oid, _) = DN_PARTS.iter().find(|(p, _, _)| *p == part)?;
    name.iter_rdn()
        .flat_map(|rdn| rdn.iter())
        .filter(|a| a.attr_type().to_id_string() == *oid)
        .nth(index)
        .map(attribute_text)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// ASN1_TIME_print's form: `Dec  6 11:00:00 2026 GMT`.
fn asn1_time(time: &ASN1Time) -> String {
    let t = time.to_datetime();
    format!(
        "{} {:2} {:02}:{:02}:{:02} {} GMT",
        MONTHS[t.month() as usize - 1],
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    )
}

/// OpenSSL's long names of the algorithms certificates use.
fn algorithm_name(oid: &str) -> String {
    let known = [
        ("1.2.840.113549.1.1.1", "rsaEncryption"),
        ("1.2.840.113549.1.1.11", "sha256WithRSAEncryption"),
        ("1.2.840.113549.1.1.12", "sha384WithRSAEncryption"),
        ("1.2.840.113549.1.1.13", "sha512WithRSAEncryption"),
        ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
        ("1.2.840.113549.1.1.10", "rsassaPss"),
        ("1.2.840.10045.2.1", "id-ecPublicKey"),
        ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256"),
        ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384"),
        ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512"),
        ("1.3.101.112", "ED25519"),
    ];
    known
        .iter()
        .find(|(o, _)| *o == oid)
        .map_or_else(|| oid.to_string(), |(_, n)| n.to_string())
}

/// A certificate in PEM.
fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or(""));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// `SSL_{CLIENT,SERVER}_<rest>` for one certificate.
fn certificate_var(der: &[u8], rest: &str, legacy: bool) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let name_of = |which: u8| match which {
        b'S' => Some(cert.subject()),
        b'I' => Some(cert.issuer()),
        _ => None,
    };
    match rest {
        "M_VERSION" => Some((cert.version().0 + 1).to_string()),
        "M_SERIAL" => Some(
            cert.raw_serial()
                .iter()
                .skip_while(|&&b| b == 0)
                .map(|b| format!("{b:02X}"))
                .collect::<String>(),
        ),
        "V_START" => Some(asn1_time(&cert.validity().not_before)),
        "V_END" => Some(asn1_time(&cert.validity().not_after)),
        "V_REMAIN" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let left = cert.validity().not_after.timestamp() - now;
            Some((if left > 0 { left / 86400 } else { 0 }).to_string())
        }
        "A_SIG" => Some(algorithm_name(
            &cert.signature_algorithm.algorithm.to_id_string(),
        )),
        "A_KEY" => Some(algorithm_name(
            &cert.public_key().algorithm.algorithm.to_id_string(),
        )),
        "CERT" => Some(pem(der)),
        _ => {
            let bytes = rest.as_bytes();
            if rest.len() == 4 && &rest[1..] == "_DN" {
                let name = name_of(bytes[0])?;
                return Some(if legacy {
                    dn_legacy(name)
                } else {
                    dn_rfc2253(name)
                });
            }
            if rest.len() > 5 && &rest[1..5] == "_DN_" {
                return dn_part(name_of(bytes[0])?, &rest[5..]);
            }
            if let Some(san) = rest.strip_prefix("SAN_") {
                return subject_alt_name(&cert, san);
            }
            None
        }
    }
}

/// `SAN_Email_n`, `SAN_DNS_n`.
fn subject_alt_name(cert: &X509Certificate<'_>, which: &str) -> Option<String> {
    let (kind, index) = which.rsplit_once('_')?;
    let index: usize = index.parse().ok()?;
    let san = cert.subject_alternative_name().ok()??;
    san.value
        .general_names
        .iter()
        .filter_map(|name| match (kind, name) {
            ("DNS", GeneralName::DNSName(d)) => Some(d.to_string()),
            ("Email", GeneralName::RFC822Name(e)) => Some(e.to_string()),
            _ => None,
        })
        .nth(index)
}

/// mod_ssl's value for `name` on a connection (`tls` None for plain HTTP): None where it has
/// none (the caller prints `-` or an empty string as its own context does).
pub fn lookup(tls: Option<&TlsInfo>, name: &str, legacy_dn: bool) -> Option<String> {
    if name.eq_ignore_ascii_case("HTTPS") {
        return Some(if tls.is_some() { "on" } else { "off" }.to_string());
    }
    let rest = name.strip_prefix("SSL_").or_else(|| {
        (name.len() > 4 && name[..4].eq_ignore_ascii_case("SSL_")).then(|| &name[4..])
    })?;
    match rest {
        "VERSION_INTERFACE" => return Some(VERSION_INTERFACE.into()),
        "VERSION_LIBRARY" => return Some(VERSION_LIBRARY.into()),
        _ => {}
    }
    let tls = tls?;
    let value = match rest {
        "PROTOCOL" => tls.protocol.to_string(),
        "SESSION_RESUMED" => if tls.resumed { "Resumed" } else { "Initial" }.to_string(),
        "CIPHER" => tls.cipher.to_string(),
        "CIPHER_EXPORT" => "false".to_string(),
        "CIPHER_USEKEYSIZE" | "CIPHER_ALGKEYSIZE" => tls.cipher_bits.to_string(),
        "CLIENT_VERIFY" => tls.client_verify.clone(),
        "COMPRESS_METHOD" => "NULL".to_string(),
        // rustls refuses peers without RFC 5746 support only in renegotiation, which it
        // never does; the extension is always sent.
        "SECURE_RENEG" => "true".to_string(),
        "TLS_SNI" => tls.sni.clone()?,
        _ => {
            if let Some(rest) = rest.strip_prefix("CLIENT_CERT_CHAIN_") {
                let index: usize = rest.parse().ok()?;
                return tls.peer_certificates.get(index + 1).map(|c| pem(c));
            }
            if let Some(rest) = rest.strip_prefix("CLIENT_") {
                let leaf = tls.peer_certificates.first()?;
                return certificate_var(leaf, rest, legacy_dn);
            }
            if let Some(rest) = rest.strip_prefix("SERVER_") {
                return certificate_var(&tls.setup.certificate, rest, legacy_dn);
            }
            return None;
        }
    };
    Some(value)
}

/// StdEnvVars' certificate parts: every DN attribute of the client's and server's subject and
/// issuer (`SSL_CLIENT_S_DN_CN`, `_1` for a second), as mod_ssl's modssl_var_extract_dns adds
/// them.
pub fn dn_parts(tls: &TlsInfo) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut add = |prefix: &str, der: &[u8]| {
        let Ok((_, cert)) = X509Certificate::from_der(der) else {
            return;
        };
        for (which, name) in [("S", cert.subject()), ("I", cert.issuer())] {
            let mut seen: Vec<(&str, usize)> = Vec::new();
            for attr in name.iter_rdn().flat_map(|rdn| rdn.iter()) {
                let oid = attr.attr_type().to_id_string();
                let Some((part, _, _)) =
                    DN_PARTS.iter().find(|(_, o, export)| *o == oid && *export)
                else {
                    continue;
                };
                let count = match seen.iter_mut().find(|(p, _)| p == part) {
                    Some((_, n)) => {
                        *n += 1;
                        *n
                    }
                    None => {
                        seen.push((part, 0));
                        0
                    }
                };
                let key = if count == 0 {
                    format!("{prefix}_{which}_DN_{part}")
                } else {
                    format!("{prefix}_{which}_DN_{part}_{count}")
                };
                out.push((key, attribute_text(attr)));
            }
        }
    };
    add("SSL_SERVER", &tls.setup.certificate);
    if let Some(leaf) = tls.peer_certificates.first() {
        add("SSL_CLIENT", leaf);
    }
    out
}

/// OpenSSL's reason text for a client certificate (`leaf`, sent with `intermediates` others)
/// that did not verify.
pub fn verify_reason(err: &rustls::Error, leaf: &[u8], intermediates: usize) -> String {
    use rustls::CertificateError::*;
    let self_signed = X509Certificate::from_der(leaf)
        .is_ok_and(|(_, c)| c.subject().as_raw() == c.issuer().as_raw());
    match err {
        rustls::Error::InvalidCertificate(Other(other)) => {
            match other.0.downcast_ref::<super::context::VerifyFailure>() {
                Some(failure) => failure.reason.clone(),
                // OpenSSL builds the chain first: an untrusted certificate that signed itself
                // fails there, whatever webpki objected to.
                None if self_signed => "self-signed certificate".into(),
                None => other.to_string(),
            }
        }
        rustls::Error::InvalidCertificate(cert) => match cert {
            UnknownIssuer if self_signed => "self-signed certificate".into(),
            UnknownIssuer if intermediates == 0 => "unable to verify the first certificate".into(),
            UnknownIssuer => "unable to get local issuer certificate".into(),
            Expired | ExpiredContext { .. } => "certificate has expired".into(),
            NotValidYet | NotValidYetContext { .. } => "certificate is not yet valid".into(),
            Revoked => "certificate revoked".into(),
            BadSignature => "certificate signature failure".into(),
            _ => "unsupported certificate purpose".into(),
        },
        other => other.to_string(),
    }
}

/// What mod_ssl appends to a message about a certificate (`ssl_log_xerror`): its subject,
/// issuer, serial number and validity.
pub fn certificate_summary(der: &[u8]) -> String {
    let part = |name: &str| certificate_var(der, name, false).filter(|v| !v.is_empty());
    let dn = |name: &str| part(name).unwrap_or_else(|| "-empty-".into());
    format!(
        " [subject: {} / issuer: {} / serial: {} / notbefore: {} / notafter: {}]",
        dn("S_DN"),
        dn("I_DN"),
        part("M_SERIAL").unwrap_or_else(|| "00".into()),
        part("V_START").unwrap_or_default(),
        part("V_END").unwrap_or_default()
    )
}
