//! Each SSL-enabled server's rustls configuration, built once per configuration generation
//! by the parent (mod_ssl's `ssl_init_Module`): its certificates and keys (checked to match),
//! protocols and suites, client verification, session cache and tickets. A failure is
//! reported as mod_ssl reports it and ends the start.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig};

use super::{protocol, ServerConf, SessionCache, Verify};

/// One SSL-enabled server's TLS setup.
#[derive(Debug)]
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    /// The certificates `config` chooses among, with their OCSP staplers.
    pub certs: Arc<CertChoice>,
    /// The server's first certificate, for the SSL_SERVER_* variables.
    pub certificate: CertificateDer<'static>,
    pub verify: Verify,
    /// Checks a client certificate again after the handshake, for SSL_CLIENT_VERIFY (under
    /// optional_no_ca the handshake accepts any).
    pub verifier: Option<Arc<dyn ClientCertVerifier>>,
    pub strict_sni: bool,
    /// What two servers must share for a request to go from one to the other on one TLS
    /// connection (mod_ssl's SNI policy check).
    pub policy_key: String,
}

/// The TLS setup of every server, by index (None where SSLEngine is not on).
#[derive(Debug, Default)]
pub struct Contexts {
    pub servers: Vec<Option<Arc<ServerTls>>>,
    /// SSLVHostSNIPolicy (global).
    pub sni_policy: String,
    /// SSLSessionCache's shared cache, when one is configured (mod_status reports it).
    pub cache: Option<Arc<crate::modules::socache_shmcb::SharedCache>>,
}

impl Contexts {
    pub fn any(&self) -> bool {
        self.servers.iter().any(Option::is_some)
    }
}

/// A server named as mod_ssl names it in its messages: `name:port`.
pub struct Named<'a> {
    pub name: &'a str,
    pub port: u16,
}

/// Builds the setups; `Err` carries the messages mod_ssl logs (emerg) before Apache's
/// "AH00016: Configuration Failed".
pub fn build(
    confs: &[(ServerConf, Named<'_>)],
    session_cache: &Option<SessionCache>,
) -> Result<Contexts, Vec<String>> {
    let main = &confs[0].0;
    let timeout = main.session_cache_timeout();
    let ticket_secret = match &main.ticket_key_file {
        Some(path) => Some(read_ticket_key(path).map_err(|e| vec![e])?),
        None => None,
    };
    let ticketer: Arc<dyn rustls::server::ProducesTickets> = Arc::new(
        super::tickets::SharedTicketer::new(ticket_secret.as_deref(), timeout),
    );
    // The shared cache is made by the parent before it forks: every child finds the sessions
    // any child stored (stateful resumption: TLS 1.2 session IDs, TLS 1.3 without tickets).
    let cache = match session_cache {
        Some(SessionCache::Provider(_, _, size)) => Some(Arc::new(
            crate::modules::socache_shmcb::SharedCache::new(*size, timeout).map_err(|e| {
                vec![
                    format!("AH01872: Could not initialize SSL session cache ({e})"),
                    FATAL.into(),
                ]
            })?,
        )),
        _ => None,
    };
    // SSLStaplingCache: slots big enough for the largest response mod_ssl keeps.
    let stapling_cache = match main.stapling_cache {
        Some(size) => Some(Arc::new(
            crate::modules::socache_shmcb::SharedCache::with_slots(
                size,
                super::stapling::MAX_RESPONSE + 64,
                3600,
            )
            .map_err(|e| {
                vec![
                    format!("AH01872: Could not initialize stapling cache. Exiting. ({e})"),
                    FATAL.into(),
                ]
            })?,
        )),
        None => None,
    };
    let mut seen = super::stapling::Seen::new();
    let mut out = Contexts {
        servers: Vec::new(),
        sni_policy: main.sni_policy.clone().unwrap_or_else(|| "secure".into()),
        cache: cache.clone(),
    };
    if session_cache.is_none() {
        crate::log::error(
            "ssl",
            "warn",
            "AH01873: Init: Session Cache is not configured [hint: SSLSessionCache]",
        );
    }
    // mod_ssl sets servers up in the order of Apache's server list: the main server, then
    // the virtual hosts from the last defined to the first (which decides whose messages
    // come first, and whose error ends the start).
    out.servers = vec![None; confs.len()];
    let order = std::iter::once(0).chain((1..confs.len()).rev());
    for index in order {
        let (conf, named) = &confs[index];
        if !conf.enabled() {
            continue;
        }
        let stapling = Stapling {
            cache: &stapling_cache,
            seen: &mut seen,
        };
        let tls = server_tls(conf, named, &cache, &ticketer, stapling)?;
        out.servers[index] = Some(Arc::new(tls));
    }
    Ok(out)
}

fn read_ticket_key(path: &Path) -> Result<Vec<u8>, String> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() == 48 => Ok(bytes),
        Ok(_) => Err(format!(
            "AH01914: Configuring server for SSL protocol; SSLSessionTicketKeyFile: {} must be 48 bytes",
            path.display()
        )),
        Err(err) => Err(format!(
            "{}: AH02286: Failed to open ticket key file {}: ({})",
            crate::config::read::errno_text(&err),
            path.display(),
            err
        )),
    }
}

/// What the start-up pass shares between servers for OCSP stapling.
struct Stapling<'a> {
    cache: &'a Option<Arc<crate::modules::socache_shmcb::SharedCache>>,
    seen: &'a mut super::stapling::Seen,
}

fn server_tls(
    conf: &ServerConf,
    named: &Named<'_>,
    cache: &Option<Arc<crate::modules::socache_shmcb::SharedCache>>,
    ticketer: &Arc<dyn rustls::server::ProducesTickets>,
    stapling: Stapling<'_>,
) -> Result<ServerTls, Vec<String>> {
    let fail = |text: String| vec![text];
    let stapling_cache = match (conf.use_stapling, stapling.cache) {
        (Some(true), Some(cache)) => Some(cache),
        (Some(true), None) => {
            return Err(vec![
                "AH01958: SSLStapling: no stapling cache available".into(),
                FATAL.into(),
            ])
        }
        _ => None,
    };
    if stapling_cache.is_some() {
        crate::log::error("ssl", "debug", "AH01960: OCSP stapling initialized");
    }
    let keys = certified_keys(conf, named)?;
    let certificate = keys[0].cert[0].clone();
    let authorities = match stapling_cache {
        Some(_) => ca_certificates(conf),
        None => Vec::new(),
    };
    let choices: Vec<CertEntry> = keys
        .into_iter()
        .enumerate()
        .map(|(index, key)| {
            let stapler = stapling_cache.and_then(|cache| {
                let vhost_id = format!("{}:{}", named.name, named.port);
                let stapler = super::stapling::init_cert(
                    &key,
                    &authorities,
                    &conf.stapling,
                    cache,
                    &vhost_id,
                    stapling.seen,
                );
                if stapler.is_none() {
                    let text = format!(
                        "AH02604: Unable to configure certificate {vhost_id}:{index} for stapling"
                    );
                    crate::log::error("ssl", "error", &text);
                }
                stapler
            });
            CertEntry { key, stapler }
        })
        .collect();
    let certs = Arc::new(CertChoice { entries: choices });

    let versions = versions(protocols_with_conf_cmds(conf, named)?, named)?;
    let provider = Arc::new(provider(conf, &versions, named)?);

    let (verifier, verify) = client_verifier(conf, &provider, named)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| {
            fail(format!(
                "AH01898: Unable to configure permitted SSL ciphers ({e})"
            ))
        })?;
    let builder = match &verifier {
        Some(verifier) => builder.with_client_cert_verifier(handshake_verifier(verifier, verify)),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(certs.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ignore_client_order = conf.honor_cipher_order.unwrap_or(false);
    let stateful = match cache {
        Some(cache) => {
            config.session_storage = cache.clone();
            true
        }
        None => {
            config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
            false
        }
    };
    if conf.session_tickets.unwrap_or(true) {
        config.ticketer = ticketer.clone();
    }
    // OpenSSL's default: two tickets after each full handshake (a client may open two
    // connections at once and resume both).
    config.send_tls13_tickets = if conf.session_tickets.unwrap_or(true) || stateful {
        2
    } else {
        0
    };
    for (name, value) in &conf.conf_cmds {
        if name.eq_ignore_ascii_case("NumTickets") {
            config.send_tls13_tickets = value.parse().map_err(|_| {
                vec![
                    format!(
                        "AH02407: \"SSLOpenSSLConfCmd {name} {value}\" failed for {}:{}",
                        named.name, named.port
                    ),
                    FATAL.to_string(),
                ]
            })?;
        }
    }
    let policy_key = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        conf.cert_files,
        conf.key_files,
        conf.protocols(),
        conf.cipher_suite,
        conf.tls13_ciphers,
        conf.verify_client(),
        conf.verify_depth(),
        conf.ca_file,
        conf.ca_path,
        conf.honor_cipher_order
    );
    Ok(ServerTls {
        config: Arc::new(config),
        certs,
        certificate,
        verify,
        verifier,
        strict_sni: conf.strict_sni.unwrap_or(false),
        policy_key,
    })
}

/// SSLProtocol's set, narrowed by SSLOpenSSLConfCmd MinProtocol and MaxProtocol.
fn protocols_with_conf_cmds(conf: &ServerConf, named: &Named<'_>) -> Result<u8, Vec<String>> {
    let order = [
        ("TLSv1", protocol::TLSV1),
        ("TLSv1.1", protocol::TLSV1_1),
        ("TLSv1.2", protocol::TLSV1_2),
        ("TLSv1.3", protocol::TLSV1_3),
    ];
    let mut set = conf.protocols();
    for (name, value) in &conf.conf_cmds {
        let lower = name.to_ascii_lowercase();
        if lower != "minprotocol" && lower != "maxprotocol" {
            continue;
        }
        let Some(at) = order
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(value))
        else {
            return Err(vec![
                format!(
                    "AH02407: \"SSLOpenSSLConfCmd {name} {value}\" failed for {}:{}",
                    named.name, named.port
                ),
                "SSL Library Error: error:0A080106:SSL routines::passed invalid argument".into(),
            ]);
        };
        for (index, (_, bit)) in order.iter().enumerate() {
            if (lower == "minprotocol" && index < at) || (lower == "maxprotocol" && index > at) {
                set &= !bit;
            }
        }
    }
    Ok(set)
}

/// The protocol versions rustls offers of those SSLProtocol allows: TLS 1.2 and 1.3 (rustls
/// has no older ones).
fn versions(
    set: u8,
    named: &Named<'_>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, Vec<String>> {
    let mut out = Vec::new();
    if set & protocol::TLSV1_3 != 0 {
        out.push(&rustls::version::TLS13);
    }
    if set & protocol::TLSV1_2 != 0 {
        out.push(&rustls::version::TLS12);
    }
    if out.is_empty() {
        return Err(vec![format!(
            "AH02231: No SSL protocols available [hint: SSLProtocol] (rhttpd's TLS, rustls, offers TLSv1.2 and TLSv1.3 only; {}:{})",
            named.name, named.port
        ), FATAL.into()]);
    }
    Ok(out)
}

/// The ring provider narrowed to SSLCipherSuite's choices and SSLOpenSSLConfCmd's groups.
fn provider(
    conf: &ServerConf,
    versions: &[&'static rustls::SupportedProtocolVersion],
    named: &Named<'_>,
) -> Result<CryptoProvider, Vec<String>> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    let tls12_on = versions.contains(&&rustls::version::TLS12);
    let tls13_on = versions.contains(&&rustls::version::TLS13);
    let mut tls13_spec = conf.tls13_ciphers.clone();
    let mut tls12_spec = conf
        .cipher_suite
        .clone()
        .unwrap_or_else(|| "DEFAULT".to_string());
    for (name, value) in &conf.conf_cmds {
        match name.to_ascii_lowercase().as_str() {
            "minprotocol" | "maxprotocol" => {}
            "numtickets" => {}
            "curves" | "groups" | "ecdhparameters" => {
                let mut groups = Vec::new();
                for wanted in value.split(':') {
                    let group = provider
                        .kx_groups
                        .iter()
                        .find(|g| group_names(g.name()).iter().any(|n| n.eq_ignore_ascii_case(wanted)));
                    match group {
                        Some(g) => groups.push(*g),
                        None => {
                            return Err(vec![
                                format!(
                                    "AH02407: \"SSLOpenSSLConfCmd {name} {value}\" failed for {}:{}",
                                    named.name, named.port
                                ),
                                format!("SSL Library Error: error:0A080106:SSL routines::passed invalid argument (group '{wanted}' cannot be set)"),
                            ])
                        }
                    }
                }
                provider.kx_groups = groups;
            }
            "ciphersuites" => tls13_spec = Some(value.clone()),
            "cipherstring" => tls12_spec = format!("{value}:!aNULL:!eNULL:!EXP"),
            _ => {
                return Err(vec![format!(
                    "AH02407: \"SSLOpenSSLConfCmd {name} {value}\" failed for {}:{}: rhttpd applies Curves, Groups, ECDHParameters, CipherString, Ciphersuites, MinProtocol, MaxProtocol and NumTickets only",
                    named.name, named.port
                )])
            }
        }
    }
    let no_match = |number: &str, what: &str| {
        vec![
            format!("{number}: Unable to configure permitted {what}"),
            "SSL Library Error: error:0A0000B9:SSL routines::no cipher match".to_string(),
            FATAL.into(),
        ]
    };
    // OpenSSL refuses a list that names nothing it knows (whatever the protocols), so does
    // rhttpd; a list of suites OpenSSL has and rustls lacks leaves that protocol off, with a
    // warning.
    let tls13 = super::ciphers::tls13(tls13_spec.as_deref());
    if tls13.is_empty() && !super::ciphers::openssl_knows_tls13(tls13_spec.as_deref()) {
        return Err(no_match("AH10127", "TLSv1.3 ciphers"));
    }
    let tls12 = super::ciphers::tls12(&tls12_spec);
    if tls12.is_empty() && !super::ciphers::openssl_knows_tls12(&tls12_spec) {
        return Err(no_match("AH01898", "SSL ciphers"));
    }
    let mut suites = Vec::new();
    for (on, chosen, protocol) in [(tls13_on, &tls13, "TLSv1.3"), (tls12_on, &tls12, "TLSv1.2")] {
        if !on {
            continue;
        }
        if chosen.is_empty() {
            let text = format!(
                "SSLCipherSuite for {}:{} names no {protocol} suite rustls has: {protocol} is not offered",
                named.name, named.port
            );
            crate::log::error("ssl", "warn", &text);
        }
        suites.extend(chosen.iter().map(|(_, s)| *s));
    }
    if suites.is_empty() {
        return Err(no_match("AH01898", "SSL ciphers"));
    }
    provider.cipher_suites = suites;
    Ok(provider)
}

/// The names OpenSSL knows a key-exchange group by.
fn group_names(group: rustls::NamedGroup) -> &'static [&'static str] {
    match group {
        rustls::NamedGroup::X25519 => &["X25519"],
        rustls::NamedGroup::X25519MLKEM768 => &["X25519MLKEM768"],
        rustls::NamedGroup::secp256r1 => &["P-256", "prime256v1", "secp256r1"],
        rustls::NamedGroup::secp384r1 => &["P-384", "secp384r1"],
        _ => &[],
    }
}

/// mod_ssl's last word when its initialisation fails.
pub const FATAL: &str = "AH02312: Fatal error initialising mod_ssl, exiting.";

/// Every certificate/key pair the server names, each checked (mod_ssl's
/// `ssl_init_server_certs`); the messages are mod_ssl's, in its order.
fn certified_keys(
    conf: &ServerConf,
    named: &Named<'_>,
) -> Result<Vec<Arc<CertifiedKey>>, Vec<String>> {
    let name = format!("{}:{}", named.name, named.port);
    if conf.cert_files.is_empty() {
        return Err(vec![
            format!("AH02572: Failed to configure at least one certificate and key for {name}"),
            "SSL Library Error: error:0A0000B1:SSL routines::no certificate assigned".into(),
            FATAL.into(),
        ]);
    }
    let chain_extra = match &conf.chain_file {
        Some(path) => read_certificates(path).map_err(|e| {
            vec![
                format!(
                    "AH02562: Failed to configure certificate chain {} (with chain), check {}",
                    name,
                    path.display()
                ),
                format!("SSL Library Error: {e}"),
            ]
        })?,
        None => Vec::new(),
    };
    let mut keys = Vec::new();
    for (index, cert_file) in conf.cert_files.iter().enumerate() {
        let key_file = conf.key_files.get(index).unwrap_or(cert_file);
        let mut chain = read_certificates(cert_file).map_err(|e| {
            vec![
                format!(
                    "AH02562: Failed to configure certificate {name}:{index} (with chain), check {}",
                    cert_file.display()
                ),
                format!("SSL Library Error: {e}"),
            ]
        })?;
        chain.extend(chain_extra.iter().cloned());
        let key_failed = |why: String| {
            // mod_ssl's first word: a key the pass phrase did not open, or none at all.
            let first = match why.strip_prefix(super::pphrase::WRONG) {
                Some(_) => format!("AH02580: Init: Pass phrase incorrect for key {name}:{index}"),
                None => "AH02579: Init: Private key not found".to_string(),
            };
            vec![
                first,
                format!("SSL Library Error: {why}"),
                FATAL.into(),
                format!(
                    "AH02564: Failed to configure encrypted (?) private key {name}:{index}, check {}",
                    key_file.display()
                ),
            ]
        };
        let dialog = conf
            .pass_phrase_dialog
            .clone()
            .unwrap_or(super::pphrase::Dialog::Builtin);
        let key = read_key(key_file, &format!("{name}:{index}"), &dialog).map_err(key_failed)?;
        let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
            .map_err(|e| key_failed(e.to_string()))?;
        check_public_certificate(&chain[0], &format!("{name}:{index}"), named.name);
        let certified = CertifiedKey::new(chain, signer);
        if certified.keys_match().is_err() {
            return Err(vec![format!(
                "AH02565: Certificate and private key {name}:{index} from {} and {} do not match",
                cert_file.display(),
                key_file.display()
            )]);
        }
        keys.push(Arc::new(certified));
    }
    Ok(keys)
}

/// mod_ssl's warnings about a server certificate (`ssl_check_public_cert`): a CA
/// certificate, or one that names no ID matching the server's name.
fn check_public_certificate(der: &CertificateDer<'_>, id: &str, server_name: &str) {
    use x509_parser::prelude::*;
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return;
    };
    if let Ok(Some(constraints)) = cert.basic_constraints() {
        if constraints.value.ca {
            let text = format!(
                "AH01906: {id} server certificate is a CA certificate (BasicConstraints: CA == TRUE !?)"
            );
            crate::log::error("ssl", "warn", &text);
        }
    }
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                names.push(dns.to_string());
            }
        }
    }
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok().map(str::to_string)),
        );
    }
    let wanted = server_name.to_ascii_lowercase();
    let matches = |pattern: &str| {
        let pattern = pattern.to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some(rest) => wanted
                .split_once('.')
                .is_some_and(|(_, domain)| domain == rest),
            None => pattern == wanted,
        }
    };
    if !names.iter().any(|n| matches(n)) {
        let text = format!(
            "AH01909: {id} server certificate does NOT include an ID which matches the server name"
        );
        crate::log::error("ssl", "warn", &text);
    }
}

/// The certificates of a PEM file (or one DER certificate).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes) {
        let (kind, der) = section.map_err(|e| format!("unreadable PEM: {e}"))?;
        if kind == SectionKind::Certificate {
            out.push(CertificateDer::from(der));
        }
    }
    if out.is_empty() && bytes.first() == Some(&0x30) {
        out.push(CertificateDer::from(bytes));
    }
    if out.is_empty() {
        return Err("no certificate found (PEM or DER)".into());
    }
    for cert in &out {
        x509_parser::parse_x509_certificate(cert)
            .map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
    }
    Ok(out)
}

/// The first private key of a PEM file (or a DER one); an encrypted PKCS#8 key is opened with
/// the pass phrase dialog (`id` is mod_ssl's `name:port:index` for it).
fn read_key(
    path: &Path,
    id: &str,
    dialog: &super::pphrase::Dialog,
) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&bytes);
    if super::pphrase::encrypted(&text) {
        return super::pphrase::open(path, &text, id, dialog);
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(
            "the private key is encrypted in OpenSSL's old format, which rhttpd does not read; convert it to PKCS#8 (`openssl pkcs8 -topk8`)"
                .into(),
        );
    }
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes) {
        let (kind, der) = section.map_err(|e| format!("unreadable PEM: {e}"))?;
        let key = match kind {
            SectionKind::PrivateKey => PrivateKeyDer::Pkcs8(der.into()),
            SectionKind::RsaPrivateKey => PrivateKeyDer::Pkcs1(der.into()),
            SectionKind::EcPrivateKey => PrivateKeyDer::Sec1(der.into()),
            _ => continue,
        };
        return Ok(key);
    }
    PrivateKeyDer::try_from(bytes).map_err(|_| "no private key found (PEM or DER)".to_string())
}

/// Chooses among a server's certificates the first the client can verify (an RSA and an
/// ECDSA certificate side by side, as OpenSSL chooses).
#[derive(Debug)]
pub struct CertChoice {
    entries: Vec<CertEntry>,
}

#[derive(Debug)]
struct CertEntry {
    key: Arc<CertifiedKey>,
    stapler: Option<super::stapling::Stapler>,
}

impl CertChoice {
    fn choose(&self, schemes: &[rustls::SignatureScheme]) -> Option<&CertEntry> {
        self.entries
            .iter()
            .find(|e| e.key.key.choose_scheme(schemes).is_some())
            .or_else(|| self.entries.first())
    }

    /// Before a handshake whose client asked for the certificate's status: the response of
    /// the certificate the handshake will choose, found or fetched (mod_ssl's stapling
    /// callback). Fatal when the handshake must fail.
    pub fn prepare_staple(
        &self,
        schemes: &[rustls::SignatureScheme],
        peer: Option<std::net::SocketAddr>,
    ) -> super::stapling::Outcome {
        match self.choose(schemes).and_then(|e| e.stapler.as_ref()) {
            Some(stapler) => stapler.prepare(peer),
            None => super::stapling::Outcome::Staple,
        }
    }

    pub fn staples(&self) -> bool {
        self.entries.iter().any(|e| e.stapler.is_some())
    }
}

impl ResolvesServerCert for CertChoice {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let entry = self.choose(hello.signature_schemes())?;
        Some(match &entry.stapler {
            Some(stapler) => stapler.current(),
            None => entry.key.clone(),
        })
    }
}

/// The certificates of SSLCACertificateFile and of the files of SSLCACertificatePath.
fn ca_certificates(conf: &ServerConf) -> Vec<CertificateDer<'static>> {
    let mut ca_files = Vec::new();
    if let Some(file) = &conf.ca_file {
        ca_files.push(file.clone());
    }
    if let Some(dir) = &conf.ca_path {
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut paths: Vec<_> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            paths.sort();
            ca_files.extend(paths);
        }
    }
    ca_files
        .iter()
        .flat_map(|file| read_certificates(file).unwrap_or_default())
        .collect()
}

/// The client verifier SSLVerifyClient, SSLCACertificate*, SSLCARevocation* and SSLVerifyDepth
/// describe, or None without client verification.
#[allow(clippy::type_complexity)]
fn client_verifier(
    conf: &ServerConf,
    provider: &Arc<CryptoProvider>,
    named: &Named<'_>,
) -> Result<(Option<Arc<dyn ClientCertVerifier>>, Verify), Vec<String>> {
    let verify = conf.verify_client();
    if verify == Verify::None {
        return Ok((None, verify));
    }
    let mut roots = RootCertStore::empty();
    for cert in ca_certificates(conf) {
        let _ = roots.add(cert);
    }
    if roots.is_empty() && verify != Verify::OptionalNoCa {
        return Err(vec![format!(
            "AH01896: Unable to determine list of acceptable CA certificates for client authentication ({}:{})",
            named.name, named.port
        )]);
    }
    let mut crls = Vec::new();
    let check = conf.crl_check.unwrap_or_default();
    if check.leaf || check.chain {
        let mut crl_files = Vec::new();
        if let Some(file) = &conf.crl_file {
            crl_files.push(file.clone());
        }
        if let Some(dir) = &conf.crl_path {
            if let Ok(entries) = std::fs::read_dir(dir) {
                crl_files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
            }
        }
        for file in crl_files {
            let bytes = std::fs::read(&file).unwrap_or_default();
            for crl in CertificateRevocationListDer::pem_slice_iter(&bytes).flatten() {
                crls.push(crl);
            }
        }
    }
    let mut builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots.clone()), provider.clone());
    if !crls.is_empty() {
        builder = builder.with_crls(crls);
        if check.leaf && !check.chain {
            builder = builder.only_check_end_entity_revocation();
        }
        if check.no_crl_for_cert_ok {
            builder = builder.allow_unknown_revocation_status();
        }
    }
    if verify != Verify::Require {
        builder = builder.allow_unauthenticated();
    }
    let inner = if roots.is_empty() {
        // optional_no_ca with no CA at all: any certificate, none verified.
        None
    } else {
        Some(builder.build().map_err(|e| {
            vec![format!(
                "AH01896: Unable to configure client verification for {}:{} ({e})",
                named.name, named.port
            )]
        })?)
    };
    let depth = conf.verify_depth();
    let checker: Arc<dyn ClientCertVerifier> = Arc::new(DepthLimited {
        inner,
        depth,
        hints: Vec::new(),
        schemes: provider.signature_verification_algorithms,
    });
    Ok((Some(checker), verify))
}

/// The verifier the handshake runs: under optional_no_ca one that accepts what the checker
/// refuses (SSL_CLIENT_VERIFY tells the application).
fn handshake_verifier(
    checker: &Arc<dyn ClientCertVerifier>,
    verify: Verify,
) -> Arc<dyn ClientCertVerifier> {
    if verify == Verify::OptionalNoCa {
        return Arc::new(AcceptAny {
            inner: checker.clone(),
        });
    }
    checker.clone()
}

/// webpki's verifier, with SSLVerifyDepth's bound on the chain's length.
#[derive(Debug)]
struct DepthLimited {
    inner: Option<Arc<dyn ClientCertVerifier>>,
    depth: i64,
    hints: Vec<DistinguishedName>,
    schemes: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for DepthLimited {
    fn client_auth_mandatory(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|i| i.client_auth_mandatory())
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        match &self.inner {
            Some(inner) => inner.root_hint_subjects(),
            None => &self.hints,
        }
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ));
        };
        let failed = |failure: VerifyFailure| {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(failure))),
            ))
        };
        if let Err(err) = inner.verify_client_cert(end_entity, intermediates, now) {
            return failed(VerifyFailure::of(&err, end_entity, intermediates.len()));
        }
        // The issuer of the last certificate sent is one more step to a trusted CA.
        if intermediates.len() as i64 + 1 > self.depth {
            return failed(VerifyFailure {
                code: 22,
                reason: "certificate chain too long".into(),
            });
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.schemes)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.schemes)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.schemes.supported_schemes()
    }
}

/// Why a client certificate did not verify, as OpenSSL numbers and words it (what mod_ssl's
/// AH02039 and SSL_CLIENT_VERIFY say).
#[derive(Debug)]
pub struct VerifyFailure {
    pub code: u32,
    pub reason: String,
}

impl VerifyFailure {
    fn of(err: &rustls::Error, leaf: &CertificateDer<'_>, intermediates: usize) -> VerifyFailure {
        let reason = super::vars::verify_reason(err, leaf, intermediates);
        let code = match reason.as_str() {
            "self-signed certificate" => 18,
            "unable to get local issuer certificate" => 20,
            "unable to verify the first certificate" => 21,
            "certificate has expired" => 10,
            "certificate is not yet valid" => 9,
            "certificate revoked" => 23,
            "certificate signature failure" => 7,
            _ => 26,
        };
        VerifyFailure { code, reason }
    }
}

impl std::fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for VerifyFailure {}

/// optional_no_ca's handshake: a certificate is asked for and taken whoever issued it (the
/// signature over the handshake is still checked).
#[derive(Debug)]
struct AcceptAny {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for AcceptAny {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
