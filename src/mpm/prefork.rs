//! mpm_prefork's child: one thread, one connection at a time. Every child waits on the
//! inherited listening sockets in its own epoll set, registered exclusively so the kernel wakes
//! one child per connection (what Apache's accept mutex is for); it leaves when asked
//! (SIGUSR1), after MaxConnectionsPerChild connections, or when its parent is gone.

use std::io;
use std::sync::atomic::Ordering;

use super::idle;
use super::scoreboard::{self, State};
use super::Generation;
use crate::server::conn;
use crate::sys::epoll::{Epoll, Interest};
use crate::sys::process;

/// How long an idle child waits before looking whether a newer generation superseded it.
const IDLE_CHECK_MS: i32 = 30_000;
/// The epoll token of the process's wake-up eventfd (the listeners' are their indexes).
const WAKE_TOKEN: u64 = u64::MAX;

/// Serves in scoreboard slot `slot` until told to leave; in `one_process` mode (`-X`) until
/// the process is told to stop.
pub fn child_main(current: &Generation, slot: usize, one_process: bool) -> io::Result<()> {
    let listeners = &current.listeners;
    let rt = current.runtime_for_life();
    let bound = crate::server::bound_addresses(listeners);
    crate::sys::inotify::do_without();
    let epoll = Epoll::new()?;
    for (index, listener) in listeners.iter().enumerate() {
        // Children race for each connection and must not block on one another's.
        listener.set_nonblocking(true)?;
        epoll.add(listener, Interest::Listener, index as u64)?;
    }
    // A signal that lands between the checks below and the wait still ends the wait: its
    // handler makes the wake-up eventfd readable.
    let wake = process::wake_fd();
    if let Some(fd) = wake {
        epoll.add(&fd, Interest::Readable, WAKE_TOKEN)?;
    }
    let board = scoreboard::get();
    scoreboard::bind_thread(board.map_or(0, |b| b.worker_index(slot, 0)));
    scoreboard::mark(State::Ready);
    let max_connections = current.shape.max_connections_per_child;
    let mut served = 0u64;
    let mut told_to_leave = false;
    loop {
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
                || process::orphaned()
                || board.is_some_and(|b| b.superseded(slot))
        };
        if leave {
            // Orphaned or superseded, the child leaves as a graceful restart has it leave: what
            // it serves from now on is one request a connection.
            if !one_process {
                process::GRACEFUL.store(true, Ordering::SeqCst);
                told_to_leave = true;
            }
            break;
        }
        // One child is woken per connection (EPOLLEXCLUSIVE), not the whole pool. A signal
        // (SIGUSR1, or the parent's death, which arrives as SIGUSR1) interrupts the wait; the
        // timeout is a fallback that finds a newer generation, so an idle child sleeps.
        let Some(token) = epoll.wait_one(idle::wait_ms(IDLE_CHECK_MS)) else {
            idle::let_go();
            continue;
        };
        if token == WAKE_TOKEN {
            process::drain_wake();
            continue;
        }
        let Some(listener) = listeners.get(token as usize) else {
            continue;
        };
        let bound = bound.get(token as usize).copied().flatten();
        let (stream, info) = match crate::server::accept_on(listener, bound) {
            Ok(accepted) => accepted,
            // A shortage ends this child (the parent starts another); anything else, such as
            // another child having taken the connection, passes.
            Err(err) => match crate::server::accept_failed(&err) {
                crate::server::AcceptFailure::Shortage => break,
                crate::server::AcceptFailure::Passing => continue,
            },
        };
        conn::serve(rt, stream, info);
        idle::served();
        scoreboard::mark(State::Ready);
        served += 1;
        if max_connections > 0 && served >= max_connections {
            break;
        }
    }
    if told_to_leave {
        take_stragglers(rt, listeners, &bound, &epoll);
    }
    scoreboard::mark(State::Dead);
    Ok(())
}

/// A client whose arrival woke this child alone (listeners are EPOLLEXCLUSIVE) just as it was
/// told to leave waits in the backlog with nothing to tell the other children: a listener
/// still readable wakes none of those already waiting, and the next client's arrival, on a
/// quiet server much later, would be the first to find it. So the leaving child takes its
/// listeners out of its set (no later arrival picks it), then serves one connection waiting
/// on each, if any, before it exits.
fn take_stragglers(
    rt: &'static crate::runtime::Runtime,
    listeners: &[std::net::TcpListener],
    bound: &[Option<std::net::SocketAddr>],
    epoll: &Epoll,
) {
    for listener in listeners {
        let _ = epoll.delete(listener);
    }
    for (index, listener) in listeners.iter().enumerate() {
        let bound = bound.get(index).copied().flatten();
        if let Ok((stream, info)) = crate::server::accept_on(listener, bound) {
            conn::serve(rt, stream, info);
        }
    }
}
