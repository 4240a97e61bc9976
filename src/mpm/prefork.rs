//! mpm_prefork's child: one thread, one connection at a time. Every child polls the inherited
//! listening sockets and races for the connection with a non-blocking accept, so no accept
//! mutex is needed; it leaves when asked (SIGUSR1), after MaxConnectionsPerChild connections,
//! or when its parent is gone.

use std::io;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::scoreboard::{self, State};
use super::Generation;
use crate::request::ConnInfo;
use crate::server::conn;
use crate::sys::process;

/// Serves in scoreboard slot `slot` until told to leave; in `one_process` mode (`-X`) until
/// the process is told to stop.
pub fn child_main(current: &Generation, slot: usize, one_process: bool) -> io::Result<()> {
    let listeners = &current.listeners;
    for listener in listeners.iter() {
        // Children poll every listener and must not block on one another's connection.
        listener.set_nonblocking(true)?;
    }
    let board = scoreboard::get();
    scoreboard::bind_thread(board.map_or(0, |b| b.worker_index(slot, 0)));
    scoreboard::mark(State::Ready);
    let parent = std::os::unix::process::parent_id();
    let max_connections = current.shape.max_connections_per_child;
    let mut served = 0u64;
    'serving: loop {
        let leave = if one_process {
            [
                &process::STOP,
                &process::GRACEFUL,
                &process::GRACEFUL_STOP,
                &process::RESTART,
            ]
            .iter()
            .any(|f| f.load(Ordering::SeqCst))
        } else {
            process::GRACEFUL.load(Ordering::SeqCst)
                || std::os::unix::process::parent_id() != parent
        };
        if leave {
            break;
        }
        if !process::wait_readable(listeners, Duration::from_secs(1)) {
            continue;
        }
        for listener in listeners.iter() {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                // Another child took it.
                Err(_) => continue,
            };
            let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) else {
                continue;
            };
            if stream.set_nonblocking(false).is_err() {
                continue;
            }
            conn::serve(&current.rt, stream, ConnInfo { local, peer });
            scoreboard::mark(State::Ready);
            served += 1;
            if max_connections > 0 && served >= max_connections {
                break 'serving;
            }
            break;
        }
    }
    scoreboard::mark(State::Dead);
    Ok(())
}
