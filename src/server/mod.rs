//! Running the server in the foreground (`-X`, `-D FOREGROUND`) until the MPMs land: the
//! listening sockets bound from `Listen`, a fixed pool of worker threads, one connection per
//! worker at a time, all through the same connection code the MPMs will drive.

pub mod conn;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use crate::request::ConnInfo;
use crate::runtime::Runtime;

/// Binds every `Listen` address; Apache's message for the first one that fails.
pub fn bind_listeners(rt: &Runtime) -> Result<Vec<TcpListener>, String> {
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
        match TcpListener::bind(addr) {
            Ok(listener) => out.push(listener),
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

/// Serves forever with `workers` threads.
pub fn run_foreground(
    rt: Arc<Runtime>,
    listeners: Vec<TcpListener>,
    workers: usize,
) -> io::Result<()> {
    let (tx, rx) = mpsc::sync_channel::<TcpStream>(workers * 4);
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..workers.max(1) {
        let rx = Arc::clone(&rx);
        let rt = Arc::clone(&rt);
        thread::spawn(move || loop {
            let next = rx.lock().map(|r| r.recv());
            let Ok(Ok(stream)) = next else { return };
            let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) else {
                continue;
            };
            conn::serve(&rt, stream, ConnInfo { local, peer });
        });
    }
    let mut acceptors = Vec::new();
    for listener in listeners {
        let tx = tx.clone();
        acceptors.push(thread::spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => {
                        if tx.send(stream).is_err() {
                            return;
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => continue,
                }
            }
        }));
    }
    drop(tx);
    for acceptor in acceptors {
        let _ = acceptor.join();
    }
    Ok(())
}
