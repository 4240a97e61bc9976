//! A TLS client for the differential tests (rustls, with every knob the tests turn: SNI,
//! protocol versions, suites, a client certificate), and a throwaway PKI made with Debian's
//! `openssl` command: a CA, servers a.test (RSA, CA-signed) and b.test (ECDSA, self-signed),
//! a client the CA signed and one it did not.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

/// The test PKI's files.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Runs Debian's `openssl` command in `dir`; a failure fails the test.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("Debian's openssl command");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes the PKI: ca.{crt,key}, a.{crt,key}, b.{crt,key}, client.{crt,key} (signed by the
/// CA), stranger.{crt,key} (self-signed), mismatch.key (a key of no certificate),
/// revoked.{crt,key} (signed, then revoked in ca.crl), a-enc.key (a.key under the pass phrase
/// "secret"), pass.sh and wrong.sh (SSLPassPhraseDialog programs).
pub fn make_pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    make_ca(d, "/C=US/O=Test CA Org/CN=Test Root CA");
    let signed = |name: &str, key: &[&str], subject: &str, san: Option<&str>| {
        // An extension makes it X.509 v3 (rustls refuses v1 client certificates).
        let extensions = san.map_or("basicConstraints=CA:FALSE\n".to_string(), |s| {
            format!("subjectAltName={s}\n")
        });
        issue(d, name, key, subject, &extensions);
    };
    signed(
        "a",
        &["rsa:2048"],
        "/C=DE/ST=Berlin/L=Berlin/O=Example Org/OU=Web/CN=a.test/emailAddress=admin@a.test",
        Some("DNS:a.test,DNS:www.a.test"),
    );
    signed(
        "client",
        &["rsa:2048"],
        "/C=US/O=Clients/CN=Client One",
        None,
    );
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "b.key",
            "-out",
            "b.crt",
            "-days",
            "30",
            "-subj",
            "/CN=b.test",
            "-addext",
            "subjectAltName=DNS:b.test",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "stranger.key",
            "-out",
            "stranger.crt",
            "-days",
            "30",
            "-subj",
            "/CN=other",
        ],
    );
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "mismatch.key",
        ],
    );
    // A client the CA signed and then revoked, and the CA's revocation list.
    signed(
        "revoked",
        &["rsa:2048"],
        "/C=US/O=Clients/CN=Revoked One",
        None,
    );
    std::fs::write(
        d.join("ca.cnf"),
        "[ca]\ndefault_ca = own\n[own]\ndatabase = index.txt\ncrlnumber = crlnumber\n\
         default_md = sha256\ndefault_crl_days = 30\n",
    )
    .unwrap();
    std::fs::write(d.join("index.txt"), "").unwrap();
    std::fs::write(d.join("crlnumber"), "01\n").unwrap();
    let ca = ["-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.crt"];
    openssl(d, &[&["ca"][..], &ca, &["-revoke", "revoked.crt"]].concat());
    openssl(
        d,
        &[&["ca"][..], &ca, &["-gencrl", "-out", "ca.crl"]].concat(),
    );
    // a.key under a pass phrase, and SSLPassPhraseDialog programs: one that answers it (and
    // notes what it was asked), one that answers wrong.
    openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "a.key",
            "-out",
            "a-enc.key",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:secret",
        ],
    );
    std::fs::write(
        d.join("pass.sh"),
        "#!/bin/sh\necho \"$@\" >>\"$0.args\"\necho secret\n",
    )
    .unwrap();
    std::fs::write(d.join("wrong.sh"), "#!/bin/sh\necho nope\n").unwrap();
    for entry in std::fs::read_dir(d).unwrap().flatten() {
        let mode = if entry.path().extension().is_some_and(|e| e == "sh") {
            0o755
        } else {
            0o644
        };
        let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode));
    }
    Pki { dir }
}

/// Makes a self-signed CA for `subject` in `dir`: ca.key and ca.crt.
pub fn make_ca(dir: &Path, subject: &str) {
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "30", "-subj", subject,
        ],
    );
}

/// Makes `name.key` (a new key, `openssl req -newkey` arguments) and `name.crt` for `subject`,
/// issued by `dir`'s ca.crt and ca.key with `extensions` (openssl's extension-file lines).
pub fn issue(dir: &Path, name: &str, key: &[&str], subject: &str, extensions: &str) {
    let (keyfile, csr) = (format!("{name}.key"), format!("{name}.csr"));
    let mut req = vec!["req", "-newkey"];
    req.extend_from_slice(key);
    req.extend_from_slice(&[
        "-nodes", "-keyout", &keyfile, "-out", &csr, "-subj", subject,
    ]);
    openssl(dir, &req);
    let ext = format!("{name}.ext");
    std::fs::write(dir.join(&ext), extensions).unwrap();
    let crt = format!("{name}.crt");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "30",
            "-extfile",
            &ext,
        ],
    );
}

/// Debian's `openssl ocsp` answering for the CA in `dir` from its index.txt, on `port`; it
/// counts the requests it was sent, and is stopped when dropped.
pub struct OcspResponder {
    child: std::process::Child,
    said: Arc<std::sync::Mutex<Vec<String>>>,
}

impl OcspResponder {
    pub fn start(dir: &Path, port: u16) -> OcspResponder {
        use std::io::BufRead;
        let mut child = Command::new("openssl")
            .args(["ocsp", "-index", "index.txt", "-port", &port.to_string()])
            .args([
                "-rsigner", "ca.crt", "-rkey", "ca.key", "-CA", "ca.crt", "-ndays", "1",
            ])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("openssl ocsp");
        // Ready when it says it waits (it serves one connection at a time, and ends at a
        // request it cannot read: no probe).
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|line| line.contains("waiting for OCSP client connections"));
        assert!(ready, "the OCSP responder did not start");
        let said = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = said.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        OcspResponder { child, said }
    }

    /// How many requests it has been sent.
    pub fn queries(&self) -> usize {
        let said = self.said.lock().unwrap();
        said.iter()
            .filter(|l| l.contains("Received request"))
            .count()
    }
}

impl Drop for OcspResponder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `openssl s_client -status` said of the OCSP response stapled to its handshake.
pub fn stapled_status(output: &str) -> String {
    let kept: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| {
            [
                "OCSP Response Status",
                "Cert Status",
                "Revocation Reason",
                "OCSP response:",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .collect();
    let handshake = if output.contains("Verify return code") {
        "handshake done"
    } else {
        "no handshake"
    };
    format!("{handshake}; {}", kept.join("; "))
}

/// `openssl s_client -status` to `port` for `name`, its stdin closed at once.
pub fn status_of(port: u16, name: &str) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", name, "-status"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    stapled_status(&String::from_utf8_lossy(&out.stdout))
}

/// Accepts any server certificate: the tests compare which one each server sends.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What a client offers.
#[derive(Clone, Default)]
pub struct Offer {
    pub sni: Option<String>,
    /// "1.2", "1.3"; both when empty.
    pub versions: Vec<&'static str>,
    /// rustls suite names (`TLS13_AES_128_GCM_SHA256`, `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`);
    /// all when empty.
    pub suites: Vec<&'static str>,
    /// A client certificate and key (PEM files).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Session resumption: a config shared across connections.
    pub shared: Option<Arc<ClientConfig>>,
}

impl Offer {
    pub fn sni(name: &str) -> Offer {
        Offer {
            sni: Some(name.to_string()),
            ..Offer::default()
        }
    }

    /// The rustls configuration for this offer.
    pub fn config(&self) -> Arc<ClientConfig> {
        if let Some(shared) = &self.shared {
            return shared.clone();
        }
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        if !self.suites.is_empty() {
            provider
                .cipher_suites
                .retain(|s| self.suites.contains(&format!("{:?}", s.suite()).as_str()));
        }
        let provider = Arc::new(provider);
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = if self.versions.is_empty() {
            vec![&rustls::version::TLS13, &rustls::version::TLS12]
        } else {
            self.versions
                .iter()
                .map(|v| match *v {
                    "1.3" => &rustls::version::TLS13,
                    _ => &rustls::version::TLS12,
                })
                .collect()
        };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)));
        let mut config = match &self.client_cert {
            Some((cert, key)) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(|c| c.unwrap())
                    .collect();
                let key = PrivateKeyDer::from_pem_file(key).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        config.enable_sni = self.sni.is_some();
        Arc::new(config)
    }
}

/// What one TLS exchange gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The handshake's outcome: `TLSv1.3 TLS13_AES_256_GCM_SHA384 CN=a.test...`, or `failed`.
    pub handshake: String,
    /// The HTTP answer's bytes (empty when the connection failed before one).
    pub response: Vec<u8>,
}

/// Connects to 127.0.0.1:`port`, shakes hands as `offer` says, sends `request`, reads the
/// answer until the server closes.
pub fn exchange(port: u16, offer: &Offer, request: &[u8]) -> Answer {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // Without SNI rustls still needs a name; an IP address sends none.
    let name = match &offer.sni {
        Some(sni) => ServerName::try_from(sni.clone()).unwrap(),
        None => ServerName::try_from("127.0.0.1").unwrap(),
    };
    let mut conn = ClientConnection::new(offer.config(), name).unwrap();
    while conn.is_handshaking() {
        if conn.complete_io(&mut sock).is_err() {
            return Answer {
                handshake: "failed".into(),
                response: Vec::new(),
            };
        }
    }
    let handshake = describe(&conn);
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    let _ = tls.write_all(request);
    let _ = tls.flush();
    let mut response = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match tls.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
        }
    }
    // TLS 1.3 sends its verdict on a client certificate after the client thinks the
    // handshake done: a refusal shows as no answer at all.
    let handshake = if response.is_empty() {
        "failed".to_string()
    } else {
        handshake
    };
    Answer {
        handshake,
        response,
    }
}

fn describe(conn: &ClientConnection) -> String {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "?",
    };
    let suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    let cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| subject_of(c))
        .unwrap_or_default();
    format!("{version} {suite} {cert}")
}

/// A certificate's subject as `openssl x509 -subject` prints it.
fn subject_of(der: &CertificateDer<'_>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.der");
    std::fs::write(&path, der.as_ref()).unwrap();
    let out = Command::new("openssl")
        .args(["x509", "-inform", "DER", "-noout", "-subject", "-in"])
        .arg(&path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Sends raw request bytes over TLS (no SNI), ends the client's side with close_notify and a
/// half-close, and reads the whole answer: the plain [`crate::http::exchange`], over TLS.
pub fn raw_exchange(port: u16, request: &[u8]) -> Vec<u8> {
    raw_exchange_after(port, &[], request)
}

/// The same after `prefix` sent in the clear before the handshake (a PROXY protocol header).
pub fn raw_exchange_after(port: u16, prefix: &[u8], request: &[u8]) -> Vec<u8> {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    if sock.write_all(prefix).is_err() {
        return Vec::new();
    }
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = ClientConnection::new(Offer::default().config(), name).unwrap();
    while conn.is_handshaking() {
        if conn.complete_io(&mut sock).is_err() {
            return Vec::new();
        }
    }
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    let _ = tls.write_all(request);
    let _ = tls.flush();
    tls.conn.send_close_notify();
    let _ = tls.flush();
    let _ = tls.sock.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match tls.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
        }
    }
    out
}
