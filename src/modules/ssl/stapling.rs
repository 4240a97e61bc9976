//! OCSP stapling (SSLUseStapling and the SSLStapling* settings), as mod_ssl's
//! ssl_util_stapling.c does it: at start each certificate's issuer and OCSP responder are
//! found; in a handshake whose client asks for the certificate's status, the response cached
//! in SSLStaplingCache (shared by every child) is checked and, when missing or no longer
//! valid, fetched from the responder over HTTP, checked, cached and stapled.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use sha1::{Digest, Sha1};
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    TbsRequest, Version,
};

use crate::modules::socache_shmcb::SharedCache;

/// The SSLStapling* directives of one server (each inherited from the main server when the
/// virtual host does not set it).
#[derive(Debug, Clone, Default)]
pub struct Conf {
    pub time_skew: Option<i64>,
    pub max_age: Option<i64>,
    pub cache_timeout: Option<i64>,
    pub error_cache_timeout: Option<i64>,
    pub return_errors: Option<bool>,
    pub fake_try_later: Option<bool>,
    pub responder_timeout: Option<i64>,
    pub force_url: Option<String>,
}

impl Conf {
    pub fn merge(&self, vhost: &Conf) -> Conf {
        Conf {
            time_skew: vhost.time_skew.or(self.time_skew),
            max_age: vhost.max_age.or(self.max_age),
            cache_timeout: vhost.cache_timeout.or(self.cache_timeout),
            error_cache_timeout: vhost.error_cache_timeout.or(self.error_cache_timeout),
            return_errors: vhost.return_errors.or(self.return_errors),
            fake_try_later: vhost.fake_try_later.or(self.fake_try_later),
            responder_timeout: vhost.responder_timeout.or(self.responder_timeout),
            force_url: vhost.force_url.clone().or_else(|| self.force_url.clone()),
        }
    }

    /// The settings with mod_ssl's defaults filled in (`modssl_init_stapling`).
    fn settings(&self) -> Settings {
        Settings {
            time_skew: self.time_skew.unwrap_or(300),
            max_age: self.max_age,
            cache_timeout: self.cache_timeout.unwrap_or(3600).max(0) as u64,
            error_cache_timeout: self.error_cache_timeout.unwrap_or(600).max(0) as u64,
            return_errors: self.return_errors.unwrap_or(true),
            fake_try_later: self.fake_try_later.unwrap_or(true),
            responder_timeout: Duration::from_secs(
                self.responder_timeout.unwrap_or(10).max(0) as u64
            ),
            force_url: self.force_url.clone(),
        }
    }
}

#[derive(Debug, Clone)]
struct Settings {
    time_skew: i64,
    max_age: Option<i64>,
    cache_timeout: u64,
    error_cache_timeout: u64,
    return_errors: bool,
    fake_try_later: bool,
    responder_timeout: Duration,
    force_url: Option<String>,
}

/// The biggest response kept (mod_ssl's MAX_STAPLING_DER), with the byte that says whether it
/// was valid when stored.
pub const MAX_RESPONSE: usize = 10240;
/// The most a responder may send (mod_ssl's MAX_CONTENT).
const MAX_CONTENT: usize = 2048 * 1024;
const MAX_HEADERS: usize = 256;

/// The certificates seen by the start-up pass, by digest, with whether they name a responder:
/// a certificate several servers share is looked at once (mod_ssl's certinfo table).
pub type Seen = HashMap<[u8; 20], bool>;

/// One certificate's stapling: what its OCSP request asks, where it goes, and the key as last
/// handed to rustls with the response decided on.
#[derive(Debug)]
pub struct Stapler {
    key: Arc<CertifiedKey>,
    digest: [u8; 20],
    id: CertId,
    uri: Option<String>,
    settings: Settings,
    cache: Arc<SharedCache>,
    stapled: Mutex<Arc<CertifiedKey>>,
    /// One renewal at a time in a child (mod_ssl's refresh mutex; another child that renews
    /// at the same moment costs one more query, no wrong answer).
    refresh: Mutex<()>,
}

/// mod_ssl's `ssl_stapling_init_cert` for a server's certificate `index`: None (with mod_ssl's
/// messages logged) when the certificate cannot be stapled.
pub fn init_cert(
    key: &Arc<CertifiedKey>,
    authorities: &[CertificateDer<'static>],
    conf: &Conf,
    cache: &Arc<SharedCache>,
    vhost_id: &str,
    seen: &mut Seen,
) -> Option<Stapler> {
    use x509_parser::prelude::*;
    let leaf_der = key.cert.first()?;
    let summary = super::vars::certificate_summary(leaf_der);
    let fail = |text: &str| {
        crate::log::error("ssl", "error", &format!("{text}{summary}"));
        None
    };
    let (_, leaf) = X509Certificate::from_der(leaf_der).ok()?;
    let issuer = key.cert[1..]
        .iter()
        .chain(authorities)
        .find(|candidate| issued(candidate, &leaf));
    let Some(issuer) = issuer else {
        return fail("AH02217: ssl_stapling_init_cert: can't retrieve issuer certificate!");
    };
    let digest: [u8; 20] = Sha1::digest(leaf_der.as_ref()).into();
    let settings = conf.settings();
    if let Some(&has_uri) = seen.get(&digest) {
        if !has_uri && settings.force_url.is_none() {
            return fail(&format!(
                "AH02814: ssl_stapling_init_cert: no OCSP URI in certificate and no SSLStaplingForceURL configured for server {vhost_id}"
            ));
        }
    }
    let Some(id) = cert_id(leaf_der, issuer) else {
        return fail("AH02815: ssl_stapling_init_cert: can't create CertID for OCSP request");
    };
    let uri = responder_uri(&leaf);
    seen.entry(digest).or_insert(uri.is_some());
    if uri.is_none() && settings.force_url.is_none() {
        return fail(
            "AH02218: ssl_stapling_init_cert: no OCSP URI in certificate and no SSLStaplingForceURL set",
        );
    }
    Some(Stapler {
        key: key.clone(),
        digest,
        id,
        uri,
        settings,
        cache: cache.clone(),
        stapled: Mutex::new(key.clone()),
        refresh: Mutex::new(()),
    })
}

/// Whether `candidate` issued `leaf`: its subject is the leaf's issuer and, where both name
/// one, its key identifier is the one the leaf's authority key identifier names.
fn issued(
    candidate: &CertificateDer<'_>,
    leaf: &x509_parser::certificate::X509Certificate<'_>,
) -> bool {
    use x509_parser::prelude::*;
    let Ok((_, candidate)) = X509Certificate::from_der(candidate) else {
        return false;
    };
    if candidate.subject().as_raw() != leaf.issuer().as_raw() {
        return false;
    }
    let authority = leaf
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(akid) => {
                akid.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        });
    let subject = candidate
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(kid) => Some(kid.0),
            _ => None,
        });
    match (authority, subject) {
        (Some(a), Some(s)) => a == s,
        _ => true,
    }
}

/// The first OCSP responder the certificate's Authority Information Access names.
fn responder_uri(leaf: &x509_parser::certificate::X509Certificate<'_>) -> Option<String> {
    use x509_parser::prelude::*;
    leaf.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => {
                aia.accessdescs.iter().find_map(|d| {
                    match (&d.access_method.to_id_string()[..], &d.access_location) {
                        ("1.3.6.1.5.5.7.48.1", GeneralName::URI(uri)) => Some(uri.to_string()),
                        _ => None,
                    }
                })
            }
            _ => None,
        })
}

/// The certificate's OCSP identity as OpenSSL's `OCSP_cert_to_id` makes it: SHA-1 of the
/// issuer's name and of its public key, and the serial number.
fn cert_id(leaf: &[u8], issuer: &[u8]) -> Option<CertId> {
    let leaf = x509_cert::Certificate::from_der(leaf).ok()?;
    let issuer = x509_cert::Certificate::from_der(issuer).ok()?;
    let name = issuer.tbs_certificate.subject.to_der().ok()?;
    let key = issuer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    Some(CertId {
        hash_algorithm: x509_cert::spki::AlgorithmIdentifierOwned {
            oid: der::oid::db::rfc5912::ID_SHA_1,
            parameters: Some(Null.into()),
        },
        issuer_name_hash: OctetString::new(Sha1::digest(&name).to_vec()).ok()?,
        issuer_key_hash: OctetString::new(Sha1::digest(key).to_vec()).ok()?,
        serial_number: leaf.tbs_certificate.serial_number,
    })
}

/// Whether two CertIDs name the same certificate (OpenSSL's `OCSP_id_cmp`: the hash
/// algorithm, both hashes and the serial number's value).
fn same_id(a: &CertId, b: &CertId) -> bool {
    let value = |s: &x509_cert::serial_number::SerialNumber| -> Vec<u8> {
        s.as_bytes()
            .iter()
            .copied()
            .skip_while(|&b| b == 0)
            .collect()
    };
    a.hash_algorithm.oid == b.hash_algorithm.oid
        && a.issuer_name_hash == b.issuer_name_hash
        && a.issuer_key_hash == b.issuer_key_hash
        && value(&a.serial_number) == value(&b.serial_number)
}

/// What a handshake does about the status its client asked for.
pub enum Outcome {
    /// Staple the key's response (or nothing, where None).
    Staple,
    /// Fail the handshake (mod_ssl's SSL_TLSEXT_ERR_ALERT_FATAL: the responder's address
    /// cannot be used).
    Fatal,
}

/// A response and mod_ssl's `ok` for it: false only for a responder's answer that was no
/// success or did not check out.
struct Found {
    der: Vec<u8>,
    ok: bool,
}

impl Stapler {
    /// The key for rustls: with the response the last handshake that asked decided on.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.stapled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// mod_ssl's `stapling_cb`, for a client that asked for the certificate's status: finds
    /// the response to staple (from the cache, or the responder) and makes it `current`.
    pub fn prepare(&self, peer: Option<SocketAddr>) -> Outcome {
        debug("AH01951: stapling_cb: OCSP Stapling callback called");
        debug("AH01952: stapling_cb: retrieved cached certificate data");
        let mut found = match self.cached() {
            Ok(found) => found,
            Err(()) => return self.set(None),
        };
        if found.is_none() {
            debug("AH01954: stapling_cb: renewing cached response");
            let _refreshing = self.refresh.lock().unwrap_or_else(|e| e.into_inner());
            found = match self.cached() {
                Ok(found) => found,
                Err(()) => {
                    debug("AH03236: stapling_cb: error checking for cached response after obtaining refresh mutex");
                    return self.set(None);
                }
            };
            if found.is_some() {
                debug("AH03237: stapling_cb: don't need to refresh cached response after obtaining refresh mutex");
            } else {
                debug("AH03238: stapling_cb: still must refresh cached response after obtaining refresh mutex");
                match self.renew(peer) {
                    Ok(renewed) => {
                        debug("AH03040: stapling_cb: success renewing response");
                        found = renewed;
                    }
                    Err(()) => {
                        error("AH01955: stapling_cb: fatal error renewing response");
                        return Outcome::Fatal;
                    }
                }
            }
        }
        // A response from the cache, or a fake tryLater, counts as valid here: mod_ssl's
        // callback keeps its `ok` for the responder's own answers only.
        match found {
            Some(found) if found.ok || self.settings.return_errors => {
                debug("AH01956: stapling_cb: setting response");
                self.set(Some(found.der))
            }
            _ => {
                debug("AH01957: stapling_cb: no suitable response available");
                self.set(None)
            }
        }
    }

    fn set(&self, der: Option<Vec<u8>>) -> Outcome {
        let mut stapled = self.stapled.lock().unwrap_or_else(|e| e.into_inner());
        if stapled.ocsp != der {
            let mut key = (*self.key).clone();
            key.ocsp = der;
            *stapled = Arc::new(key);
        }
        Outcome::Staple
    }

    /// mod_ssl's `get_and_check_cached_response`: Ok(Some) a response to use, Ok(None) one to
    /// fetch, Err when the client gets none until the stored error expires.
    fn cached(&self) -> Result<Option<Found>, ()> {
        let Some(value) = self.cache.get(&self.digest, false) else {
            debug("AH01930: stapling_get_cached_response: cache miss");
            return Ok(None);
        };
        if value.len() <= 1 {
            error("AH01931: stapling_get_cached_response: response length invalid??");
            return Ok(None);
        }
        let stored_ok = value[0] != 0;
        let found = Found {
            ok: true,
            der: value[1..].to_vec(),
        };
        let Ok(response) = OcspResponse::from_der(&found.der) else {
            error("AH01932: stapling_get_cached_response: response parse error??");
            return Ok(None);
        };
        debug("AH01933: stapling_get_cached_response: cache hit");
        debug("AH01953: stapling_cb: retrieved cached response");
        if self.check(&response, false).acknowledged {
            return Ok(Some(found));
        }
        // No longer valid: renewed at once if it was valid when stored, else kept (and sent
        // or not as SSLStaplingReturnResponderErrors says) until its entry expires.
        if stored_ok {
            Ok(None)
        } else if !self.settings.return_errors {
            Err(())
        } else {
            Ok(Some(found))
        }
    }

    /// mod_ssl's `stapling_check_response`; `fresh` for a response just received (its
    /// problems are errors; a cached one's expiry is expected).
    fn check(&self, response: &OcspResponse, fresh: bool) -> Checked {
        let mut out = Checked {
            acknowledged: true,
            ok: false,
        };
        if response.response_status != OcspResponseStatus::Successful {
            out.acknowledged = self.settings.return_errors;
            return out;
        }
        let basic = response
            .response_bytes
            .as_ref()
            .and_then(|bytes| BasicOcspResponse::from_der(bytes.response.as_bytes()).ok());
        let Some(basic) = basic else {
            error("AH01934: stapling_check_response: Error Parsing Response!");
            return out;
        };
        let single = basic
            .tbs_response_data
            .responses
            .iter()
            .find(|single| same_id(&single.cert_id, &self.id));
        let Some(single) = single else {
            error("AH01935: stapling_check_response: certificate ID not present in response!");
            out.acknowledged = self.settings.return_errors;
            return out;
        };
        let this_update = seconds(&single.this_update.0);
        let next_update = single.next_update.as_ref().map(|t| seconds(&t.0));
        if within(this_update, next_update, &self.settings, unix_now()) {
            out.ok = true;
        } else {
            if fresh {
                error("AH01936: stapling_check_response: response times invalid");
            } else {
                debug("AH01937: stapling_check_response: cached response expired");
            }
            out.acknowledged = false;
        }
        if fresh && !matches!(single.cert_status, CertStatus::Good(_)) {
            let (status, reason) = match &single.cert_status {
                CertStatus::Revoked(info) => (
                    "revoked",
                    info.revocation_reason
                        .map_or("n/a", |r| crl_reason_name(r as u32)),
                ),
                _ => ("unknown", "n/a"),
            };
            let serial: String = self
                .id
                .serial_number
                .as_bytes()
                .iter()
                .skip_while(|&&b| b == 0)
                .map(|b| format!("{b:02X}"))
                .collect();
            error(&format!(
                "AH02969: stapling_check_response: response has certificate status {status} (reason: {reason}) for serial number {}",
                if serial.is_empty() { "00".to_string() } else { serial }
            ));
        }
        out
    }

    /// mod_ssl's `stapling_renew_response`: asks the responder, checks and caches what it
    /// says. Err where the responder's address cannot be used.
    fn renew(&self, peer: Option<SocketAddr>) -> Result<Option<Found>, ()> {
        debug("AH01938: stapling_renew_response: querying responder");
        let Some(uri) = self.settings.force_url.as_ref().or(self.uri.as_ref()) else {
            error("AH02621: stapling_renew_response: no uri for responder");
            return Err(());
        };
        let Some(target) = Responder::parse(uri) else {
            error(&format!(
                "AH01939: stapling_renew_response: Error parsing uri {uri}"
            ));
            return Err(());
        };
        if target.scheme != "http" {
            error(&format!(
                "AH01940: stapling_renew_response: Unsupported uri {uri}"
            ));
            return Err(());
        }
        let request = OcspRequest {
            tbs_request: TbsRequest {
                version: Version::V1,
                requestor_name: None,
                request_list: vec![Request {
                    req_cert: self.id.clone(),
                    single_request_extensions: None,
                }],
                request_extensions: None,
            },
            optional_signature: None,
        };
        let answer = request
            .to_der()
            .ok()
            .and_then(|der| target.ask(&der, self.settings.responder_timeout, peer));
        let found = match answer {
            None => {
                error("AH01941: stapling_renew_response: responder error");
                if !self.settings.fake_try_later {
                    return Ok(None);
                }
                // OCSPResponse { responseStatus tryLater }, as OpenSSL's
                // OCSP_response_create(OCSP_RESPONSE_STATUS_TRYLATER, NULL) encodes it; mod_ssl
                // leaves its `ok` as it was (true), so it is stapled and cached as valid.
                Found {
                    der: vec![0x30, 0x03, 0x0a, 0x01, 0x03],
                    ok: true,
                }
            }
            Some((der, response)) => {
                let ok = if response.response_status == OcspResponseStatus::Successful {
                    debug("AH01942: stapling_renew_response: query response received");
                    let ok = self.check(&response, true).ok;
                    if !ok {
                        error("AH01943: stapling_renew_response: error in retrieved response!");
                    }
                    ok
                } else {
                    debug(&format!(
                        "AH01944: stapling_renew_response: responder error {}",
                        status_name(response.response_status)
                    ));
                    false
                };
                Found { der, ok }
            }
        };
        if !self.store(&found) {
            error("AH01945: stapling_renew_response: error caching response!");
        }
        Ok(Some(found))
    }

    /// mod_ssl's `stapling_cache_response`: the response after a byte saying whether it was
    /// valid, for SSLStaplingStandardCacheTimeout (SSLStaplingErrorCacheTimeout if not).
    fn store(&self, found: &Found) -> bool {
        if found.der.len() + 1 > MAX_RESPONSE {
            error(&format!(
                "AH01928: OCSP stapling response too big ({} bytes)",
                found.der.len()
            ));
            return false;
        }
        let mut value = Vec::with_capacity(found.der.len() + 1);
        value.push(u8::from(found.ok));
        value.extend_from_slice(&found.der);
        let lifetime = if found.ok {
            self.settings.cache_timeout
        } else {
            self.settings.error_cache_timeout
        };
        if !self.cache.put_for(&self.digest, &value, lifetime) {
            error("AH01929: stapling_cache_response: OCSP response session store error!");
            return false;
        }
        true
    }
}

struct Checked {
    /// Whether the response may go to the client (SSL_TLSEXT_ERR_OK rather than NOACK).
    acknowledged: bool,
    /// Whether it is valid now.
    ok: bool,
}

/// OpenSSL's `OCSP_check_validity`: thisUpdate not ahead of now by more than the skew, nor
/// older than the maximum age when one is set; nextUpdate, when given, not passed by more than
/// the skew and not before thisUpdate.
fn within(this_update: i64, next_update: Option<i64>, settings: &Settings, now: i64) -> bool {
    let mut valid = this_update <= now + settings.time_skew;
    if let Some(max_age) = settings.max_age {
        valid &= this_update >= now - max_age;
    }
    if let Some(next) = next_update {
        valid &= next >= now - settings.time_skew && next >= this_update;
    }
    valid
}

fn seconds(time: &der::asn1::GeneralizedTime) -> i64 {
    time.to_unix_duration().as_secs() as i64
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// OpenSSL's `OCSP_response_status_str`.
fn status_name(status: OcspResponseStatus) -> &'static str {
    match status {
        OcspResponseStatus::Successful => "successful",
        OcspResponseStatus::MalformedRequest => "malformedrequest",
        OcspResponseStatus::InternalError => "internalerror",
        OcspResponseStatus::TryLater => "trylater",
        OcspResponseStatus::SigRequired => "sigrequired",
        OcspResponseStatus::Unauthorized => "unauthorized",
    }
}

/// OpenSSL's `OCSP_crl_reason_str`.
fn crl_reason_name(reason: u32) -> &'static str {
    match reason {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "(UNKNOWN)",
    }
}

fn debug(text: &str) {
    crate::log::error("ssl", "debug", text);
}

fn error(text: &str) {
    crate::log::error("ssl", "error", text);
}

/// A connection-level line (`ap_log_cerror`): the system error first, then the client.
fn conn_error(peer: Option<SocketAddr>, err: Option<&std::io::Error>, text: &str) {
    let mut line = String::new();
    if let Some(err) = err {
        line.push_str(&crate::config::read::errno_text(err));
        line.push_str(": ");
    }
    if let Some(peer) = peer {
        line.push_str(&format!("[client {peer}] "));
    }
    line.push_str(text);
    crate::log::error("ssl", "error", &line);
}

fn conn_debug(peer: Option<SocketAddr>, text: &str) {
    match peer {
        Some(peer) => debug(&format!("[client {peer}] {text}")),
        None => debug(text),
    }
}

/// An OCSP responder's `http://host[:port]/path?query` address.
struct Responder {
    scheme: String,
    host: String,
    port: u16,
    /// `host` or `host:port` as the address wrote it, for messages.
    hostinfo: String,
    path_and_query: String,
}

impl Responder {
    fn parse(uri: &str) -> Option<Responder> {
        let (scheme, rest) = uri.split_once("://")?;
        let (hostinfo, path) = match rest.find(['/', '?']) {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        let hostinfo = hostinfo.rsplit_once('@').map_or(hostinfo, |(_, h)| h);
        let (host, port) = if let Some(v6) = hostinfo.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        } else {
            match hostinfo.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostinfo, None),
            }
        };
        let port = match port {
            Some(port) if !port.is_empty() => port.parse().ok()?,
            _ => match scheme.to_ascii_lowercase().as_str() {
                "https" => 443,
                _ => 80,
            },
        };
        let path_and_query = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Some(Responder {
            scheme: scheme.to_string(),
            host: host.to_string(),
            port,
            hostinfo: hostinfo.to_string(),
            path_and_query,
        })
    }

    /// mod_ssl's `modssl_dispatch_ocsp_request`: one HTTP/1.0 POST, the answer read to its
    /// end. None (with mod_ssl's messages logged) when no usable answer came.
    fn ask(
        &self,
        request: &[u8],
        timeout: Duration,
        peer: Option<SocketAddr>,
    ) -> Option<(Vec<u8>, OcspResponse)> {
        let addresses: Vec<SocketAddr> = match (self.host.as_str(), self.port).to_socket_addrs() {
            Ok(found) => found.collect(),
            Err(err) => {
                conn_error(
                    peer,
                    Some(&err),
                    &format!(
                        "AH01972: could not resolve address of OCSP responder {}",
                        self.hostinfo
                    ),
                );
                return None;
            }
        };
        conn_debug(
            peer,
            &format!("AH01973: connecting to OCSP responder '{}'", self.hostinfo),
        );
        let mut last = None;
        let mut stream = None;
        for address in addresses {
            match TcpStream::connect_timeout(&address, timeout.max(Duration::from_millis(1))) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(err) => last = Some(err),
            }
        }
        let Some(mut stream) = stream else {
            conn_error(
                peer,
                last.as_ref(),
                &format!(
                    "AH01974: could not connect to OCSP responder '{}'",
                    self.hostinfo
                ),
            );
            return None;
        };
        let _ = stream.set_read_timeout(Some(timeout.max(Duration::from_millis(1))));
        let _ = stream.set_write_timeout(Some(timeout.max(Duration::from_millis(1))));
        conn_debug(peer, "AH01975: sending request to OCSP responder");
        let mut message = format!(
            "POST {} HTTP/1.0\r\nHost: {}:{}\r\nContent-Type: application/ocsp-request\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            self.path_and_query,
            self.host,
            self.port,
            request.len()
        )
        .into_bytes();
        message.extend_from_slice(request);
        if let Err(err) = stream.write_all(&message) {
            conn_error(
                peer,
                Some(&err),
                &format!(
                    "AH01976: failed to send request to OCSP responder '{}'",
                    self.hostinfo
                ),
            );
            return None;
        }
        let body = read_answer(&mut stream, peer)?;
        match OcspResponse::from_der(&body) {
            Ok(response) => Some((body, response)),
            Err(_) => {
                conn_error(peer, None, "AH01988: failed to decode OCSP response data");
                None
            }
        }
    }
}

/// The body of a responder's HTTP answer: a 2xx status line, headers to the blank line, then
/// everything to the end (the responder closes after an HTTP/1.0 answer).
fn read_answer(stream: &mut TcpStream, peer: Option<SocketAddr>) -> Option<Vec<u8>> {
    let mut input = Vec::new();
    let mut failed = None;
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                input.extend_from_slice(&chunk[..n]);
                if input.len() > MAX_CONTENT + 64 * 1024 {
                    break;
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => {
                failed = Some(err);
                break;
            }
        }
    }
    let mut at = 0;
    // One line, without its CR LF; None (logged) at the end of what came.
    let line = |at: &mut usize| -> Option<String> {
        let rest = &input[*at..];
        if rest.is_empty() {
            match &failed {
                Some(err) => conn_error(
                    peer,
                    Some(err),
                    "AH01977: failed reading line from OCSP server",
                ),
                None => conn_error(peer, None, "AH02321: empty response from OCSP server"),
            }
            return None;
        }
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            conn_error(
                peer,
                None,
                "AH01979: response header line too long from OCSP server",
            );
            return None;
        };
        *at += end + 1;
        let text = &rest[..end];
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        Some(String::from_utf8_lossy(text).into_owned())
    };
    let status = line(&mut at);
    let code = status.as_deref().and_then(|l| {
        let after = l.strip_prefix("HTTP/")?.split_once(' ')?.1;
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        Some((digits.parse::<i64>().unwrap_or(0), after.to_string()))
    });
    match code {
        Some((code, _)) if (200..=299).contains(&code) => {}
        other => {
            let shown = other.map_or("(none)".to_string(), |(_, rest)| rest);
            conn_error(
                peer,
                None,
                &format!("AH01980: bad response from OCSP server: {shown}"),
            );
            return None;
        }
    }
    let mut count = 0;
    loop {
        let Some(header) = line(&mut at) else {
            conn_error(
                peer,
                None,
                "AH01983: could not read response header from OCSP server",
            );
            return None;
        };
        if header.is_empty() {
            break;
        }
        count += 1;
        if count >= MAX_HEADERS {
            conn_error(
                peer,
                None,
                &format!(
                    "AH01982: could not read response headers from OCSP server, exceeded maximum count ({MAX_HEADERS})"
                ),
            );
            return None;
        }
        conn_debug(peer, &format!("AH01981: OCSP response header: {header}"));
    }
    let body = input[at..].to_vec();
    if body.len() > MAX_CONTENT {
        conn_error(
            peer,
            None,
            &format!("AH01986: OCSP response size exceeds {MAX_CONTENT} byte limit"),
        );
        return None;
    }
    if let Some(err) = failed {
        conn_error(
            peer,
            Some(&err),
            "AH01985: error reading response from OCSP server",
        );
        return None;
    }
    conn_debug(
        peer,
        &format!(
            "AH01987: OCSP response: got {} bytes, {} total",
            body.len(),
            body.len()
        ),
    );
    Some(body)
}

/// Whether a ClientHello (the handshake records as they came) carries the status_request
/// extension: the client asks for a stapled response.
pub fn asks_for_status(records: &[u8]) -> bool {
    // The handshake messages the records carry, joined.
    let mut handshake = Vec::new();
    let mut rest = records;
    while rest.len() >= 5 && rest[0] == 0x16 {
        let length = u16::from_be_bytes([rest[3], rest[4]]) as usize;
        let end = (5 + length).min(rest.len());
        handshake.extend_from_slice(&rest[5..end]);
        rest = &rest[end..];
    }
    let body = match handshake.get(..4) {
        Some([1, ..]) => &handshake[4..],
        _ => return false,
    };
    let mut reader = Reader(body);
    let extensions = (|| {
        reader.skip(2 + 32)?;
        let session = reader.take(1)?[0] as usize;
        reader.skip(session)?;
        let suites = reader.u16()?;
        reader.skip(suites)?;
        let compression = reader.take(1)?[0] as usize;
        reader.skip(compression)?;
        let length = reader.u16()?;
        reader.take(length)
    })();
    let Some(extensions) = extensions else {
        return false;
    };
    let mut reader = Reader(extensions);
    while let (Some(kind), Some(length)) = (reader.u16(), reader.u16()) {
        if kind == 5 {
            return true;
        }
        if reader.skip(length).is_none() {
            break;
        }
    }
    false
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(skew: i64, max_age: Option<i64>) -> Settings {
        let mut s = Conf::default().settings();
        s.time_skew = skew;
        s.max_age = max_age;
        s
    }

    #[test]
    fn validity_follows_openssls_check() {
        let now = 1_000_000;
        let s = settings(300, None);
        assert!(within(now - 10, Some(now + 3600), &s, now));
        assert!(within(now + 200, None, &s, now), "ahead within the skew");
        assert!(!within(now + 400, None, &s, now), "ahead beyond the skew");
        assert!(
            within(now - 7200, Some(now - 200), &s, now),
            "passed within the skew"
        );
        assert!(!within(now - 7200, Some(now - 400), &s, now), "expired");
        assert!(
            !within(now - 10, Some(now - 20), &s, now),
            "next before this"
        );
        let aged = settings(300, Some(60));
        assert!(
            !within(now - 100, Some(now + 3600), &aged, now),
            "older than the maximum age"
        );
        assert!(within(now - 30, Some(now + 3600), &aged, now));
    }

    #[test]
    fn responder_addresses_parse_as_apr_parses_them() {
        let r = Responder::parse("http://ocsp.example.com").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.path_and_query.as_str()),
            ("ocsp.example.com", 80, "/")
        );
        let r = Responder::parse("http://127.0.0.1:8888/ocsp?x=1").unwrap();
        assert_eq!(
            (
                r.host.as_str(),
                r.port,
                r.path_and_query.as_str(),
                r.hostinfo.as_str()
            ),
            ("127.0.0.1", 8888, "/ocsp?x=1", "127.0.0.1:8888")
        );
        let r = Responder::parse("http://[::1]:81/").unwrap();
        assert_eq!((r.host.as_str(), r.port), ("::1", 81));
        assert_eq!(Responder::parse("https://x/").unwrap().scheme, "https");
        assert!(Responder::parse("no-scheme").is_none());
    }

    #[test]
    fn a_client_hello_with_status_request_is_told_from_one_without() {
        // record header, handshake header, version, random, no session, one suite, null
        // compression, then the extensions.
        let hello = |extensions: &[u8]| {
            let mut body = vec![3, 3];
            body.extend_from_slice(&[0u8; 32]);
            body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
            body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
            body.extend_from_slice(extensions);
            let mut message = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
            message.extend_from_slice(&body);
            let mut record = vec![0x16, 3, 1];
            record.extend_from_slice(&(message.len() as u16).to_be_bytes());
            record.extend_from_slice(&message);
            record
        };
        let sni = [0, 0, 0, 5, 0, 3, 0, 0, 0];
        let status = [0, 5, 0, 5, 1, 0, 0, 0, 0];
        assert!(!asks_for_status(&hello(&sni)));
        assert!(asks_for_status(&hello(&[&sni[..], &status[..]].concat())));
        // Split across two records.
        let whole = hello(&[&sni[..], &status[..]].concat());
        let message = &whole[5..];
        let (a, b) = message.split_at(20);
        let mut split = vec![0x16, 3, 1, 0, a.len() as u8];
        split.extend_from_slice(a);
        split.extend_from_slice(&[0x16, 3, 1, (b.len() >> 8) as u8, b.len() as u8]);
        split.extend_from_slice(b);
        assert!(asks_for_status(&split));
        assert!(!asks_for_status(&whole[..40]));
    }
}
