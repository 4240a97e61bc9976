//! TLS as a transport: the handshake on a connection whose address's server has SSLEngine on
//! (the ClientHello read first, so that its SNI name chooses the virtual host whose
//! certificate and settings answer, as mod_ssl's SNI callback does), plain HTTP recognised and
//! handed back for mod_ssl's 400, and the rustls session under the connection code afterwards.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::server::Acceptor;

use crate::modules::ssl::stapling;
use rustls::ServerConnection;

use super::transport::Transport;
use crate::modules::ssl::context::ServerTls;
use crate::modules::ssl::Verify;
use crate::runtime::Runtime;

/// What mod_ssl knows of a connection's TLS session (its SSLConnRec): what the SSL variables
/// report.
#[derive(Debug)]
pub struct TlsInfo {
    /// `TLSv1.2`, `TLSv1.3`.
    pub protocol: &'static str,
    /// OpenSSL's name of the suite, and its key bits.
    pub cipher: &'static str,
    pub cipher_bits: u16,
    pub sni: Option<String>,
    /// The server whose TLS setup answered (the SNI name's, else the address's default).
    pub server: usize,
    pub resumed: bool,
    /// The client's certificate chain, leaf first.
    pub peer_certificates: Vec<CertificateDer<'static>>,
    /// SSL_CLIENT_VERIFY: NONE, SUCCESS, or FAILED:reason.
    pub client_verify: String,
    pub setup: Arc<ServerTls>,
}

/// How a connection to a TLS address starts.
pub enum Start {
    Tls(Box<TlsStream>, Arc<TlsInfo>),
    /// The client spoke plain HTTP: what is to be read as its request. As mod_ssl does, the
    /// client's own request is dropped for `GET / HTTP/1.0`, answered with a 400.
    PlainHttp(TcpStream, Vec<u8>),
    /// The handshake failed (logged at info, as mod_ssl logs it); the connection is closed.
    Failed,
}

/// How the handshake itself ended, before the socket is given its place.
enum Shaken {
    Ready(Box<ServerConnection>, Arc<TlsInfo>),
    Plain(Vec<u8>),
    Failed,
}

/// The start of an HTTP request as OpenSSL recognises one in place of a TLS record.
fn looks_like_http(first: &[u8]) -> bool {
    [&b"GET "[..], b"POST ", b"HEAD ", b"PUT "]
        .iter()
        .any(|method| first.starts_with(method))
}

/// The socket during the handshake: each read bounded by Timeout and by mod_reqtimeout's
/// handshake stage (RequestReadTimeout handshake=...), whose deadline the bytes received move
/// at its MinRate.
struct Handshaking {
    sock: TcpStream,
    timeout: Duration,
    clock: Option<crate::modules::reqtimeout::Clock>,
}

impl Handshaking {
    /// The stage ran out.
    fn expired(&self) -> bool {
        self.clock.is_some_and(|c| c.expired())
    }
}

impl Read for Handshaking {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let wait = match &self.clock {
            Some(clock) => {
                let left = clock
                    .deadline
                    .saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                left.min(self.timeout)
            }
            None => self.timeout,
        };
        self.sock.set_read_timeout(Some(wait))?;
        let read = self.sock.read(buf)?;
        if let Some(clock) = &mut self.clock {
            clock.received(read);
        }
        Ok(read)
    }
}

impl Write for Handshaking {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

/// Runs the server side of the handshake on `sock` (between `local` and `peer`), whose
/// address's default server is `base`, with `early` bytes read from it already (what followed
/// a PROXY header) and mod_reqtimeout's handshake stage, if on, running on `clock`.
pub fn start(
    rt: &Runtime,
    sock: TcpStream,
    base: usize,
    (local, peer): (std::net::SocketAddr, std::net::SocketAddr),
    early: Vec<u8>,
    clock: Option<crate::modules::reqtimeout::Clock>,
) -> Start {
    let timeout = Duration::from_secs(rt.servers[base].runtime.core.timeout_secs().max(1));
    let _ = sock.set_write_timeout(Some(timeout));
    let peer = Some(peer);
    let mut sock = Handshaking {
        sock,
        timeout,
        clock,
    };
    let started = handshake(rt, &mut sock, base, local, peer, early);
    if matches!(started, Shaken::Failed) && sock.expired() {
        handshake_timed_out(peer);
    }
    // The connection's own timeouts from here on.
    let _ = sock.sock.set_read_timeout(Some(timeout));
    match started {
        Shaken::Ready(conn, info) => Start::Tls(
            Box::new(TlsStream {
                sock: sock.sock,
                conn: *conn,
                drained: false,
            }),
            info,
        ),
        Shaken::Plain(early) => Start::PlainHttp(sock.sock, early),
        Shaken::Failed => Start::Failed,
    }
}

fn handshake(
    rt: &Runtime,
    sock: &mut Handshaking,
    base: usize,
    local: std::net::SocketAddr,
    peer: Option<std::net::SocketAddr>,
    mut early: Vec<u8>,
) -> Shaken {
    let mut chunk = [0u8; 8192];
    // The first five bytes tell a TLS record from an HTTP request.
    while early.len() < 5 {
        match sock.read(&mut chunk) {
            Ok(0) | Err(_) => return Shaken::Failed,
            Ok(n) => early.extend_from_slice(&chunk[..n]),
        }
        if early[0] != 0x16 && looks_like_http(&early) {
            break;
        }
        if early[0] != 0x16 && early.len() >= 5 {
            break;
        }
    }
    if early[0] != 0x16 {
        if looks_like_http(&early) {
            let text = "AH01996: SSL handshake failed: HTTP spoken on HTTPS port; trying to send HTML error page";
            log_conn(rt, peer, "info", text);
            return Shaken::Plain(b"GET / HTTP/1.0\r\n\r\n".to_vec());
        }
        handshake_failed(rt, base, local, peer, "wrong version number");
        return Shaken::Failed;
    }
    // Every byte read until the ClientHello is whole is kept in `early`: whether it asks for
    // the certificate's status (OCSP stapling) is read from it.
    let mut acceptor = Acceptor::default();
    let mut fed = 0;
    let accepted = loop {
        if fed == early.len() {
            match sock.read(&mut chunk) {
                Ok(0) | Err(_) => return Shaken::Failed,
                Ok(n) => early.extend_from_slice(&chunk[..n]),
            }
        }
        let mut unread: &[u8] = &early[fed..];
        let before = unread.len();
        if acceptor.read_tls(&mut unread).is_err() {
            return Shaken::Failed;
        }
        fed += before - unread.len();
        match acceptor.accept() {
            Ok(Some(accepted)) => break accepted,
            Ok(None) => continue,
            Err((err, mut alert)) => {
                let _ = alert.write_all(sock);
                handshake_failed(rt, base, local, peer, &err.to_string());
                return Shaken::Failed;
            }
        }
    };
    let hello = accepted.client_hello();
    let sni = hello.server_name().map(str::to_string);
    // The host SNI names, among the address's; its own TLS setup if it has one, else the
    // address's default's (mod_ssl switches only the parts a server configures).
    let chosen = sni
        .as_deref()
        .map_or(base, |name| rt.select_server(local, Some(name), ""));
    let Some(setup) = rt
        .tls
        .servers
        .get(chosen)
        .cloned()
        .flatten()
        .or_else(|| rt.tls.servers.get(base).cloned().flatten())
    else {
        return Shaken::Failed;
    };
    if setup.certs.staples() && stapling::asks_for_status(&early[..fed]) {
        if let stapling::Outcome::Fatal =
            setup.certs.prepare_staple(hello.signature_schemes(), peer)
        {
            handshake_failed(rt, base, local, peer, "OCSP stapling callback failed");
            return Shaken::Failed;
        }
    }
    let mut conn = match accepted.into_connection(setup.config.clone()) {
        Ok(conn) => conn,
        Err((err, mut alert)) => {
            let _ = alert.write_all(sock);
            handshake_failed(rt, base, local, peer, &err.to_string());
            return Shaken::Failed;
        }
    };
    // What came after the ClientHello's records.
    let mut pending: &[u8] = &early[fed..];
    if !pending.is_empty() {
        let _ = conn.read_tls(&mut pending);
    }
    while conn.is_handshaking() {
        if let Err(err) = conn.complete_io(sock) {
            let _ = conn.write_tls(sock);
            if let Some(failure) = verify_failure(&err) {
                let text = format!(
                    "AH02039: Certificate Verification: Error ({}): {}",
                    failure.code, failure.reason
                );
                log_conn(rt, peer, "error", &text);
            }
            handshake_failed(rt, base, local, peer, &err.to_string());
            return Shaken::Failed;
        }
    }
    let info = Arc::new(describe(&conn, sni, chosen, setup));
    Shaken::Ready(Box::new(conn), info)
}

/// The client certificate check that ended a handshake, if that is what ended it.
fn verify_failure(err: &io::Error) -> Option<&crate::modules::ssl::context::VerifyFailure> {
    let rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) =
        err.get_ref()?.downcast_ref::<rustls::Error>()?
    else {
        return None;
    };
    other.0.downcast_ref()
}

/// mod_ssl logs a failed handshake at info: the server carries on.
fn handshake_failed(
    rt: &Runtime,
    server: usize,
    local: std::net::SocketAddr,
    peer: Option<std::net::SocketAddr>,
    why: &str,
) {
    let text = format!(
        "AH02008: SSL library error 1 in handshake (server {}:{})",
        rt.servers[server].server_name,
        local.port()
    );
    log_conn(rt, peer, "info", &text);
    log_conn(rt, None, "info", &format!("SSL Library Error: {why}"));
}

/// A connection-level line of mod_ssl's, with the client when known.
/// mod_reqtimeout's note for a handshake its stage (RequestReadTimeout handshake=) ran out on.
pub fn handshake_timed_out(peer: Option<std::net::SocketAddr>) {
    let text = "AH01382: Request handshake read timeout";
    let line = match peer {
        Some(peer) => format!("[client {peer}] {text}"),
        None => text.to_string(),
    };
    crate::log::error("reqtimeout", "info", &line);
}

fn log_conn(_rt: &Runtime, peer: Option<std::net::SocketAddr>, level: &str, text: &str) {
    let line = match peer {
        Some(peer) => format!("[client {peer}] {text}"),
        None => text.to_string(),
    };
    crate::log::error("ssl", level, &line);
}

fn describe(
    conn: &ServerConnection,
    sni: Option<String>,
    server: usize,
    setup: Arc<ServerTls>,
) -> TlsInfo {
    let protocol = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "UNKNOWN",
    };
    let (cipher, cipher_bits) = conn.negotiated_cipher_suite().map_or(("UNKNOWN", 0), |s| {
        crate::modules::ssl::ciphers::openssl_name(s.suite())
    });
    let peer_certificates: Vec<CertificateDer<'static>> = conn
        .peer_certificates()
        .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    let client_verify = match peer_certificates.split_first() {
        None => "NONE".to_string(),
        Some(_) if setup.verify != Verify::OptionalNoCa => "SUCCESS".to_string(),
        Some((leaf, rest)) => {
            let unknown =
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
            let checked = match &setup.verifier {
                Some(checker) => checker
                    .verify_client_cert(leaf, rest, rustls::pki_types::UnixTime::now())
                    .map(|_| ()),
                None => Err(unknown),
            };
            match checked {
                Ok(()) => "SUCCESS".to_string(),
                Err(err) => format!(
                    "FAILED:{}",
                    crate::modules::ssl::vars::verify_reason(&err, leaf, rest.len())
                ),
            }
        }
    };
    TlsInfo {
        protocol,
        cipher,
        cipher_bits,
        sni,
        server,
        resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        peer_certificates,
        client_verify,
        setup,
    }
}

/// A connection's rustls session over its socket.
pub struct TlsStream {
    sock: TcpStream,
    conn: ServerConnection,
    /// Whether the last read of the socket emptied its receive queue and rustls holds no
    /// decrypted bytes beyond what was handed out (see `Transport::input_drained`): a
    /// record cut short by the read waits in rustls for bytes whose arrival raises an edge.
    drained: bool,
}

/// The socket as rustls reads it: each read notes whether it came back short (the receive
/// queue emptied), and with `now` none waits (nothing queued is `WouldBlock`).
struct SocketReads<'a> {
    sock: &'a TcpStream,
    now: bool,
    short: bool,
}

impl Read for SocketReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = if self.now {
            match crate::sys::recv_now(self.sock, buf)? {
                Some(n) => n,
                None => {
                    self.short = true;
                    return Err(io::ErrorKind::WouldBlock.into());
                }
            }
        } else {
            (&mut &*self.sock).read(buf)?
        };
        self.short = n < buf.len();
        Ok(n)
    }
}

impl TlsStream {
    /// Sends every record rustls has ready.
    fn push(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.sock)?;
        }
        Ok(())
    }

    /// Decrypted bytes into `buf`; None when rustls holds none.
    fn plaintext(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.conn.reader().read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Reads the socket into rustls (waiting, unless `now`) and decrypts what came: the bytes
    /// read, 0 at the end of the stream, None when `now` found nothing.
    fn fill(&mut self, now: bool) -> io::Result<Option<usize>> {
        let mut reads = SocketReads {
            sock: &self.sock,
            now,
            short: false,
        };
        let read = match self.conn.read_tls(&mut reads) {
            Ok(n) => Some(n),
            Err(err) if now && err.kind() == io::ErrorKind::WouldBlock => None,
            Err(err) => return Err(err),
        };
        let short = reads.short;
        if read.is_some_and(|n| n > 0) {
            if let Err(err) = self.conn.process_new_packets() {
                let _ = self.push();
                return Err(io::Error::new(io::ErrorKind::InvalidData, err));
            }
            // A key update or an alert to answer.
            self.push()?;
        }
        self.drained = short;
        Ok(read)
    }

    /// After plaintext went out: drained only if rustls kept none back.
    fn note_left(&mut self) {
        if self.drained {
            self.drained = self
                .conn
                .process_new_packets()
                .is_ok_and(|state| state.plaintext_bytes_to_read() == 0);
        }
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(n) = self.plaintext(buf)? {
                self.note_left();
                return Ok(n);
            }
            if self.fill(false)? == Some(0) {
                return Ok(0);
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let taken = self.conn.writer().write(buf)?;
        self.push()?;
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.push()
    }
}

impl Transport for TlsStream {
    fn raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        self.push()?;
        self.sock.shutdown(Shutdown::Write)
    }

    fn pending_input(&mut self) -> usize {
        let decrypted = self
            .conn
            .process_new_packets()
            .map_or(0, |state| state.plaintext_bytes_to_read());
        decrypted + crate::sys::pending_input(&self.sock)
    }

    /// Bytes go through rustls's records: never sendfile(2).
    fn sendfile_applies(&self) -> bool {
        false
    }

    fn linger_always(&self) -> bool {
        true
    }

    fn input_drained(&self) -> bool {
        self.drained
    }

    fn reads_now(&self) -> bool {
        true
    }

    /// Decrypted bytes rustls holds, else what the socket has queued, decrypted: a record
    /// not yet whole is kept by rustls and reads as nothing.
    fn read_now(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            if let Some(n) = self.plaintext(buf)? {
                self.note_left();
                return Ok(Some(n));
            }
            match self.fill(true)? {
                None => return Ok(None),
                Some(0) => return Ok(Some(0)),
                Some(_) if self.drained => {
                    // All that was queued is in: a whole record gave plaintext, or none.
                    let read = self.plaintext(buf)?;
                    if read.is_some() {
                        self.note_left();
                    }
                    return Ok(read);
                }
                Some(_) => {}
            }
        }
    }
}

impl Drop for TlsStream {
    /// mod_ssl ends a session with close_notify before the socket closes.
    fn drop(&mut self) {
        self.conn.send_close_notify();
        let _ = self.push();
    }
}
