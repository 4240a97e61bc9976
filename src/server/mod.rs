//! The listening sockets bound from `Listen` (once, by the parent, and kept across restarts),
//! and the connection code every MPM drives.

pub mod conn;
pub mod proxy_protocol;
pub mod tls;
pub mod transport;

use std::net::{SocketAddr, TcpListener};

use crate::runtime::Runtime;

/// Apache's ListenBacklog default.
const DEFAULT_BACKLOG: i32 = 511;

/// What a failed accept(2) means for the child that tried it.
#[derive(Debug, PartialEq, Eq)]
pub enum AcceptFailure {
    /// The connection went away before it was taken, or another process took it: try again.
    Passing,
    /// A shortage (out of descriptors, memory): logged as Apache logs it (AH02179); the child
    /// stops accepting and leaves once its connections are served, as Apache's does, rather
    /// than spin on a listener that stays readable.
    Shortage,
}

/// Where each listening socket is bound to one address (not a wildcard): a connection
/// accepted on it arrives at that address, and getsockname(2) need not be asked.
pub fn bound_addresses(listeners: &[TcpListener]) -> Vec<Option<SocketAddr>> {
    listeners
        .iter()
        .map(|l| l.local_addr().ok().filter(|a| !a.ip().is_unspecified()))
        .collect()
}

/// Accepts a connection on `listener` (bound to `bound`, where known): the stream and the
/// addresses it joins. The stream blocks: on Linux an accepted socket does not take the
/// listener's O_NONBLOCK, so no system call is spent saying so.
pub fn accept_on(
    listener: &TcpListener,
    bound: Option<SocketAddr>,
) -> std::io::Result<(std::net::TcpStream, crate::request::ConnInfo)> {
    let (stream, peer) = listener.accept()?;
    let local = match bound {
        Some(local) => local,
        None => stream.local_addr()?,
    };
    Ok((stream, crate::request::ConnInfo::accepted(local, peer)))
}

/// Classifies an accept error as Apache's ap_unixd_accept does, logging a shortage.
pub fn accept_failed(err: &std::io::Error) -> AcceptFailure {
    use std::io::ErrorKind;
    let passing = matches!(
        err.kind(),
        ErrorKind::WouldBlock
            | ErrorKind::Interrupted
            | ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionReset
            | ErrorKind::TimedOut
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable
    ) || err.raw_os_error() == Some(libc::EPROTO);
    if passing {
        return AcceptFailure::Passing;
    }
    crate::log::emit(&crate::log::Entry {
        module: "core",
        level: "error",
        message: b"AH02179: apr_socket_accept: (client socket)",
        cause: Some(err),
        request: None,
        source: None,
    });
    AcceptFailure::Shortage
}

/// Binds every `Listen` address, reusing a socket from `open` (the previous generation's) when
/// it already listens there, so a restart never refuses a connection; Apache's message for the
/// first address that fails.
pub fn bind_listeners(rt: &Runtime, open: &[TcpListener]) -> Result<Vec<TcpListener>, String> {
    let backlog = rt
        .config
        .mpm
        .listen_backlog
        .map_or(DEFAULT_BACKLOG, |b| b.clamp(1, i32::MAX as i64) as i32);
    let mut out = Vec::new();
    for listen in &rt.config.listeners {
        let host = listen.addr.clone().unwrap_or_else(|| "[::]".to_string());
        let text = format!("{host}:{}", listen.port);
        let addr: SocketAddr = match text.parse() {
            Ok(a) => a,
            Err(_) => match std::net::ToSocketAddrs::to_socket_addrs(&text)
                .ok()
                .and_then(|mut a| a.next())
            {
                Some(a) => a,
                None => {
                    return Err(format!(
                        "AH00077: alloc_listener: failed to set up sockaddr for {host}"
                    ))
                }
            },
        };
        if let Some(kept) = open
            .iter()
            .find(|l| l.local_addr().is_ok_and(|a| a == addr))
            .and_then(|l| l.try_clone().ok())
        {
            out.push(kept);
            continue;
        }
        match TcpListener::bind(addr) {
            Ok(listener) => {
                crate::sys::set_backlog(&listener, backlog);
                socket_options(rt, &listener, &listen.protocol, addr);
                out.push(listener)
            }
            Err(err) => {
                let code = err.raw_os_error().unwrap_or(0);
                let text = crate::config::read::strerror(&err);
                return Err(format!(
                    "({code}){text}: AH00072: make_sock: could not bind to address {addr}\nno listening sockets available, shutting down\nAH00015: Unable to open logs"
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(
            "no listening sockets available, shutting down\nAH00015: Unable to open logs".into(),
        );
    }
    Ok(out)
}

/// SendBufferSize, ReceiveBufferSize and the accept filter (on Linux TCP_DEFER_ACCEPT: the
/// kernel hands over a connection only once it has data), as Apache sets them on a new
/// listening socket; a failure is only a warning, as in Apache.
fn socket_options(rt: &Runtime, listener: &TcpListener, protocol: &str, addr: SocketAddr) {
    let mpm = &rt.config.mpm;
    let warn = |number: &str, what: &str, err: std::io::Error| {
        let text = format!(
            "{}: {number}: make_sock: failed to set {what} for address {addr}, using default",
            crate::config::read::errno_text(&err)
        );
        crate::log::error("core", "warn", &text);
    };
    if let Some(size) = mpm.send_buffer_size.filter(|&s| s > 0) {
        if let Err(err) =
            crate::sys::set_int_option(listener, libc::SOL_SOCKET, libc::SO_SNDBUF, size as i32)
        {
            warn("AH00070", "SendBufferSize", err);
        }
    }
    if let Some(size) = mpm.receive_buffer_size.filter(|&s| s > 0) {
        if let Err(err) =
            crate::sys::set_int_option(listener, libc::SOL_SOCKET, libc::SO_RCVBUF, size as i32)
        {
            warn("AH00071", "ReceiveBufferSize", err);
        }
    }
    // AcceptFilter PROTOCOL NAME, last one wins; Apache's default for http and https is
    // "data", and anything but "none" means TCP_DEFER_ACCEPT on Linux.
    let filter = rt
        .config
        .main_server()
        .modules
        .get::<rhttpd_directives::core_config::ServerConf>()
        .and_then(|core| {
            core.accept_filters
                .iter()
                .rev()
                .find(|(p, _)| p.eq_ignore_ascii_case(protocol))
                .map(|(_, filter)| filter.clone())
        })
        .unwrap_or_else(|| "data".to_string());
    if !filter.eq_ignore_ascii_case("none") {
        let seconds = mpm
            .listen_tcp_defer_accept
            .unwrap_or(30)
            .clamp(0, i32::MAX as i64) as i32;
        if let Err(err) =
            crate::sys::set_int_option(listener, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, seconds)
        {
            let text = format!(
                "{}: AH00076: Failed to enable APR_TCP_DEFER_ACCEPT",
                crate::config::read::errno_text(&err)
            );
            crate::log::error("core", "warn", &text);
        }
    }
}
