//! TLS to https:// and wss:// backends on rustls: mod_ssl's SSLProxy* settings as typed
//! per-directory configuration (a `<Proxy>` section's over the server's), and the client
//! connection with mod_ssl's checks: the chain against SSLProxyCACertificateFile under
//! SSLProxyVerify require/optional, then, whatever the verify level, the certificate's dates
//! (SSLProxyCheckPeerExpire) and its names against the backend's host (SSLProxyCheckPeerName,
//! SSLProxyCheckPeerCN), each on unless turned off.

use std::collections::HashMap;
use std::io;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use rhttpd_directives::model::DirConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct};

use crate::modules::ssl::Verify;

/// The SSLProxy* settings in force (each unset until a line sets it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ProxyTls {
    pub engine: Option<bool>,
    pub verify: Option<Verify>,
    pub ca_file: Option<PathBuf>,
    pub check_name: Option<bool>,
    pub check_cn: Option<bool>,
    pub check_expire: Option<bool>,
}

impl DirConfig for ProxyTls {
    fn merge(&self, child: &ProxyTls) -> ProxyTls {
        ProxyTls {
            engine: child.engine.or(self.engine),
            verify: child.verify.or(self.verify),
            ca_file: child.ca_file.clone().or_else(|| self.ca_file.clone()),
            check_name: child.check_name.or(self.check_name),
            check_cn: child.check_cn.or(self.check_cn),
            check_expire: child.check_expire.or(self.check_expire),
        }
    }
}

impl ProxyTls {
    pub fn enabled(&self) -> bool {
        self.engine == Some(true)
    }

    /// mod_ssl's rule: the name is checked unless SSLProxyCheckPeerName is off, or both it is
    /// unset and SSLProxyCheckPeerCN is off.
    fn checks_name(&self) -> bool {
        self.check_name != Some(false)
            && (self.check_cn != Some(false) || self.check_name == Some(true))
    }
}

/// The client configuration for a set of settings, made once.
pub fn client_config(settings: &ProxyTls) -> Result<Arc<ClientConfig>, String> {
    static MADE: OnceLock<Mutex<HashMap<ProxyTls, Arc<ClientConfig>>>> = OnceLock::new();
    let made = MADE.get_or_init(Default::default);
    if let Some(config) = made.lock().unwrap_or_else(|p| p.into_inner()).get(settings) {
        return Ok(Arc::clone(config));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verify = settings.verify.unwrap_or(Verify::None);
    let chain = match verify {
        Verify::Require | Verify::Optional => {
            let mut roots = rustls::RootCertStore::empty();
            if let Some(file) = &settings.ca_file {
                let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
                for cert in CertificateDer::pem_slice_iter(&bytes).flatten() {
                    let _ = roots.add(cert);
                }
            }
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::clone(&provider),
            )
            .build()
            .map_err(|e| e.to_string())?;
            Some(verifier)
        }
        Verify::None | Verify::OptionalNoCa => None,
    };
    let verifier = Arc::new(BackendVerifier {
        chain,
        check_expire: settings.check_expire != Some(false),
        check_name: settings.checks_name(),
        algorithms: provider.signature_verification_algorithms,
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let config = Arc::new(config);
    made.lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(settings.clone(), Arc::clone(&config));
    Ok(config)
}

/// A TLS connection to a backend.
pub type TlsStream = rustls::StreamOwned<ClientConnection, TcpStream>;

/// The handshake with a backend over `socket`, SNI naming `host` unless it is an address.
pub fn connect(socket: TcpStream, host: &str, config: Arc<ClientConfig>) -> io::Result<TlsStream> {
    let name = ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    )
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let connection = ClientConnection::new(config, name).map_err(io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(connection, socket);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| io::Error::new(e.kind(), e))?;
    }
    Ok(stream)
}

#[derive(Debug)]
struct BackendVerifier {
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    check_expire: bool,
    check_name: bool,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for BackendVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(chain) = &self.chain {
            // The chain is webpki's; the name and the dates are mod_ssl's checks below.
            match chain.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Ok(_) => {}
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. }
                    | CertificateError::Expired
                    | CertificateError::ExpiredContext { .. }
                    | CertificateError::NotValidYet
                    | CertificateError::NotValidYetContext { .. },
                )) => {}
                Err(other) => return Err(other),
            }
        }
        let (_, cert) = x509_parser::parse_x509_certificate(end_entity.as_ref())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if self.check_expire {
            let now = now.as_secs() as i64;
            let validity = cert.validity();
            if now < validity.not_before.timestamp() || now > validity.not_after.timestamp() {
                return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
            }
        }
        if self.check_name && !names_match(&cert, server_name) {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `modssl_X509_match_name`: the host against the certificate's DNS (and address) names, or
/// its CN when it has no DNS name; `*.` matches one label.
fn names_match(
    cert: &x509_parser::certificate::X509Certificate<'_>,
    server_name: &ServerName<'_>,
) -> bool {
    use x509_parser::extensions::GeneralName;
    let host = match server_name {
        ServerName::DnsName(name) => name.as_ref().to_ascii_lowercase(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => return false,
    };
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(dns.to_ascii_lowercase()),
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes)
                            .ok()
                            .map(std::net::IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    if names.is_empty() {
        for cn in cert.subject().iter_common_name() {
            if let Ok(text) = cn.as_str() {
                names.push(text.to_ascii_lowercase());
            }
        }
    }
    names.iter().any(|name| match name.strip_prefix("*.") {
        Some(domain) => host.split_once('.').is_some_and(|(_, rest)| rest == domain),
        None => *name == host,
    })
}
