//! The listening sockets bound from `Listen` (once, by the parent, and kept across restarts),
//! and the connection code every MPM drives.

pub mod conn;

use std::net::{SocketAddr, TcpListener};

use crate::runtime::Runtime;

/// Apache's ListenBacklog default.
const DEFAULT_BACKLOG: i32 = 511;

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
