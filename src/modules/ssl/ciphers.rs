//! OpenSSL's cipher-string language (SSLCipherSuite), evaluated over the suites rustls has:
//! `[!|-|+]alias[+alias...]` elements separated by `:`, `,` or spaces, `@STRENGTH`, and the
//! exact suite names, with OpenSSL's rules (a plain element appends what is not yet chosen, `-`
//! removes, `!` removes for good, `+` moves to the end; unknown names match nothing). TLS 1.3
//! suites are SSLCipherSuite's `TLSv1.3` form: a list of exact names.

use rustls::crypto::aws_lc_rs::cipher_suite as rs;
use rustls::SupportedCipherSuite;

/// What OpenSSL knows of a TLS 1.2 suite rustls has, in OpenSSL's default order.
struct Suite {
    name: &'static str,
    suite: SupportedCipherSuite,
    /// Key exchange, authentication, encryption and MAC aliases it answers to.
    aliases: &'static [&'static str],
    bits: u16,
}

const COMMON: &[&str] = &[
    "ALL", "DEFAULT", "HIGH", "TLSv1.2", "kECDHE", "kEECDH", "ECDHE", "EECDH", "ECDH", "AEAD",
];

fn tls12_suites() -> [Suite; 6] {
    [
        Suite {
            name: "ECDHE-ECDSA-AES256-GCM-SHA384",
            suite: rs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            aliases: &["aECDSA", "ECDSA", "AES", "AESGCM", "AES256"],
            bits: 256,
        },
        Suite {
            name: "ECDHE-RSA-AES256-GCM-SHA384",
            suite: rs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            aliases: &["aRSA", "AES", "AESGCM", "AES256"],
            bits: 256,
        },
        Suite {
            name: "ECDHE-ECDSA-CHACHA20-POLY1305",
            suite: rs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            aliases: &["aECDSA", "ECDSA", "CHACHA20"],
            bits: 256,
        },
        Suite {
            name: "ECDHE-RSA-CHACHA20-POLY1305",
            suite: rs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            aliases: &["aRSA", "CHACHA20"],
            bits: 256,
        },
        Suite {
            name: "ECDHE-ECDSA-AES128-GCM-SHA256",
            suite: rs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            aliases: &["aECDSA", "ECDSA", "AES", "AESGCM", "AES128"],
            bits: 128,
        },
        Suite {
            name: "ECDHE-RSA-AES128-GCM-SHA256",
            suite: rs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            aliases: &["aRSA", "AES", "AESGCM", "AES128"],
            bits: 128,
        },
    ]
}

/// TLS 1.3's suites by their standard names, in OpenSSL's default order.
fn tls13_suites() -> [(&'static str, SupportedCipherSuite); 3] {
    [
        ("TLS_AES_256_GCM_SHA384", rs::TLS13_AES_256_GCM_SHA384),
        (
            "TLS_CHACHA20_POLY1305_SHA256",
            rs::TLS13_CHACHA20_POLY1305_SHA256,
        ),
        ("TLS_AES_128_GCM_SHA256", rs::TLS13_AES_128_GCM_SHA256),
    ]
}

/// Whether `suite` answers to every alias of a `+`-joined element.
fn matches(suite: &Suite, element: &str) -> bool {
    if element.eq_ignore_ascii_case(suite.name) {
        return true;
    }
    element
        .split('+')
        .all(|alias| COMMON.contains(&alias) || suite.aliases.contains(&alias))
}

/// The TLS 1.2 suites (OpenSSL names and rustls suites) a cipher string chooses, in order.
pub fn tls12(spec: &str) -> Vec<(&'static str, SupportedCipherSuite)> {
    let all = tls12_suites();
    // Chosen suites in order; a killed one never comes back.
    let mut chosen: Vec<usize> = Vec::new();
    let mut killed = [false; 6];
    for element in spec.split([':', ',', ' ', ';']).filter(|e| !e.is_empty()) {
        if element.eq_ignore_ascii_case("@STRENGTH") {
            chosen.sort_by_key(|&i| std::cmp::Reverse(all[i].bits));
            continue;
        }
        if element.starts_with('@') {
            // @SECLEVEL=n: every suite rustls has passes level 2 and 3.
            continue;
        }
        let (op, name) = match element.as_bytes()[0] {
            b'!' | b'-' | b'+' => (element.as_bytes()[0], &element[1..]),
            _ => (0, element),
        };
        // COMPLEMENTOFDEFAULT and COMPLEMENTOFALL hold only suites rustls lacks.
        let hits: Vec<usize> = (0..all.len())
            .filter(|&i| !name.starts_with("COMPLEMENTOF") && matches(&all[i], name))
            .collect();
        match op {
            b'!' => {
                for &i in &hits {
                    killed[i] = true;
                }
                chosen.retain(|i| !hits.contains(i));
            }
            b'-' => chosen.retain(|i| !hits.contains(i)),
            b'+' => {
                let moved: Vec<usize> = chosen
                    .iter()
                    .copied()
                    .filter(|i| hits.contains(i))
                    .collect();
                chosen.retain(|i| !hits.contains(i));
                chosen.extend(moved);
            }
            _ => {
                for i in hits {
                    if !killed[i] && !chosen.contains(&i) {
                        chosen.push(i);
                    }
                }
            }
        }
    }
    chosen
        .into_iter()
        .map(|i| (all[i].name, all[i].suite))
        .collect()
}

/// TLS 1.3 suites for SSLCipherSuite's `TLSv1.3` list (names rustls lacks are passed over,
/// as OpenSSL passes over unknown ones); None for OpenSSL's default.
pub fn tls13(spec: Option<&str>) -> Vec<(&'static str, SupportedCipherSuite)> {
    let all = tls13_suites();
    let Some(spec) = spec else {
        return all.to_vec();
    };
    let mut out: Vec<(&'static str, SupportedCipherSuite)> = Vec::new();
    for name in spec.split(':').filter(|n| !n.is_empty()) {
        if let Some(&found) = all.iter().find(|(n, _)| *n == name) {
            if !out.iter().any(|(n, _)| *n == found.0) {
                out.push(found);
            }
        }
    }
    out
}

/// OpenSSL's cipher-string aliases (all of them, whether or not a suite rustls has answers).
const OPENSSL_ALIASES: &[&str] = &[
    "ALL",
    "DEFAULT",
    "COMPLEMENTOFALL",
    "COMPLEMENTOFDEFAULT",
    "HIGH",
    "MEDIUM",
    "LOW",
    "eNULL",
    "NULL",
    "aNULL",
    "kRSA",
    "aRSA",
    "RSA",
    "kDHr",
    "kDHd",
    "kDH",
    "kDHE",
    "kEDH",
    "DH",
    "DHE",
    "EDH",
    "ADH",
    "kEECDH",
    "kECDHE",
    "ECDH",
    "ECDHE",
    "EECDH",
    "AECDH",
    "aDSS",
    "DSS",
    "aDH",
    "aECDSA",
    "ECDSA",
    "TLSv1.2",
    "TLSv1.0",
    "TLSv1",
    "SSLv3",
    "AES128",
    "AES256",
    "AES",
    "AESGCM",
    "AESCCM",
    "AESCCM8",
    "ARIA128",
    "ARIA256",
    "ARIA",
    "ARIAGCM",
    "CAMELLIA128",
    "CAMELLIA256",
    "CAMELLIA",
    "CHACHA20",
    "3DES",
    "DES",
    "RC4",
    "RC2",
    "IDEA",
    "SEED",
    "MD5",
    "SHA1",
    "SHA",
    "SHA256",
    "SHA384",
    "PSK",
    "kPSK",
    "kECDHEPSK",
    "kDHEPSK",
    "kRSAPSK",
    "aPSK",
    "SRP",
    "kSRP",
    "aSRP",
    "SUITEB128",
    "SUITEB128ONLY",
    "SUITEB192",
    "CBC",
    "AEAD",
    "EXP",
    "EXPORT",
    "kGOST",
    "aGOST",
    "GOST94",
    "GOST89MAC",
];

/// Whether OpenSSL would find something in a TLSv1.2-and-below string: an element it adds
/// names one of its aliases or has the shape of one of its suite names.
pub fn openssl_knows_tls12(spec: &str) -> bool {
    let suite_name = |name: &str| {
        let prefixes = [
            "ECDHE-", "DHE-", "EDH-", "ADH-", "AECDH-", "PSK-", "RSA-PSK-", "SRP-", "AES", "DES-",
            "CAMELLIA", "ARIA", "IDEA-", "SEED-", "RC4-", "NULL-",
        ];
        prefixes.iter().any(|p| name.starts_with(p))
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
    };
    spec.split([':', ',', ' ', ';'])
        .filter(|e| !e.is_empty() && !e.starts_with(['!', '-', '+', '@']))
        .any(|element| {
            element
                .split('+')
                .all(|part| OPENSSL_ALIASES.contains(&part) || suite_name(part))
        })
}

/// Whether OpenSSL knows a name of a TLS 1.3 list (it has two suites rustls lacks).
pub fn openssl_knows_tls13(spec: Option<&str>) -> bool {
    let known = [
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_128_CCM_SHA256",
        "TLS_AES_128_CCM_8_SHA256",
    ];
    spec.is_none_or(|spec| spec.split(':').any(|n| known.contains(&n)))
}

/// The OpenSSL name of a negotiated suite, and its secret key bits (SSL_CIPHER,
/// SSL_CIPHER_USEKEYSIZE).
pub fn openssl_name(suite: rustls::CipherSuite) -> (&'static str, u16) {
    if let Some(found) = tls12_suites()
        .into_iter()
        .find(|s| s.suite.suite() == suite)
    {
        return (found.name, found.bits);
    }
    match tls13_suites().into_iter().find(|(_, s)| s.suite() == suite) {
        Some(("TLS_AES_128_GCM_SHA256", _)) => ("TLS_AES_128_GCM_SHA256", 128),
        Some((name, _)) => (name, 256),
        None => ("UNKNOWN", 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Debian's `openssl ciphers` chooses from the same string, narrowed to the suites
    /// rustls has (the TLS 1.2 part only).
    fn openssl(spec: &str) -> Option<Vec<String>> {
        let out = std::process::Command::new("openssl")
            .args(["ciphers", "-tls1_2", spec])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let known: Vec<&str> = tls12_suites().iter().map(|s| s.name).collect();
        Some(
            text.split(':')
                .filter(|n| known.contains(n))
                .map(str::to_string)
                .collect(),
        )
    }

    #[test]
    fn cipher_strings_choose_what_openssl_chooses() {
        let specs = [
            "DEFAULT",
            "HIGH:!aNULL",
            "HIGH:!aNULL:!MD5:!3DES",
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256",
            "HIGH:MEDIUM:!MD5:!RC4:!3DES",
            "EECDH+AESGCM:EDH+AESGCM",
            "ALL:!aRSA:+AES128",
            "HIGH:-AES:AES128",
            "HIGH:!AES256:@STRENGTH",
            "aRSA+AESGCM:aECDSA+CHACHA20",
            "kEECDH+ECDSA+AES128:kEECDH+ECDSA+AES256:kEECDH+AES128:kEECDH:+CHACHA20",
            "HIGH:!ECDSA:!SHA384",
            "TLSv1.2:!AES128",
        ];
        for spec in specs {
            let with_ssl = format!("{spec}:!aNULL:!eNULL:!EXP");
            let Some(expected) = openssl(&with_ssl) else {
                panic!("openssl ciphers could not run (Debian's openssl package)");
            };
            let ours: Vec<String> = tls12(&with_ssl)
                .iter()
                .map(|(n, _)| n.to_string())
                .collect();
            assert_eq!(ours, expected, "cipher string {spec}");
        }
    }

    #[test]
    fn strings_openssl_finds_nothing_in_are_told_apart() {
        assert!(!openssl_knows_tls12("NOTHING-AT-ALL:!aNULL:!eNULL:!EXP"));
        assert!(openssl_knows_tls12("DHE-RSA-AES256-GCM-SHA384:!aNULL"));
        assert!(openssl_knows_tls12("EDH+CAMELLIA"));
        assert!(!openssl_knows_tls13(Some("NONSENSE")));
        assert!(openssl_knows_tls13(Some("TLS_AES_128_CCM_SHA256")));
    }

    #[test]
    fn tls13_names_outside_rustls_are_passed_over() {
        let chosen = tls13(Some("TLS_AES_128_CCM_SHA256:TLS_AES_128_GCM_SHA256"));
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].0, "TLS_AES_128_GCM_SHA256");
        assert_eq!(tls13(None).len(), 3);
    }
}
