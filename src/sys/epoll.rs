//! epoll(7) for the MPMs' children: one instance per child, shared by its worker threads, holding
//! the listening sockets (level-triggered, exclusive across children), parked keep-alive
//! connections (edge-triggered: each arrival of bytes is one event, taken by one thread, and the
//! registration stays, so parking a connection again costs no system call) and, in prefork,
//! the process's wake-up eventfd.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Set in a token [`Epoll::wait_many`] returns when the event said the peer had closed: the
/// close raised no edge of its own after the bytes that came with it, so a connection must not
/// wait for one. Tokens are below it.
pub const HANGUP: u64 = 1 << 63;

pub struct Epoll {
    fd: OwnedFd,
}

/// How a descriptor is watched.
#[derive(Debug, Clone, Copy)]
pub enum Interest {
    /// A listening socket: readable while connections wait; wakes one child, not all.
    Listener,
    /// A listening socket, an event for each arrival only (whoever takes one accepts until
    /// the backlog is empty): a level-triggered one wakes every thread waiting on the same
    /// epoll instance in turn, each reporting it again until somebody has accepted.
    EdgeListener,
    /// A connection: an event each time bytes (or the hang-up) arrive.
    EdgeRead,
    /// A connection whose reads wait (TLS): the next readable (or hang-up) event only.
    OneShotRead,
    /// A descriptor of the process's own (an eventfd): readable until read.
    Readable,
}

impl Interest {
    fn events(self) -> u32 {
        match self {
            Interest::Listener => (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32,
            Interest::EdgeListener => (libc::EPOLLIN | libc::EPOLLEXCLUSIVE | libc::EPOLLET) as u32,
            Interest::EdgeRead => (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            Interest::OneShotRead => (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32,
            Interest::Readable => libc::EPOLLIN as u32,
        }
    }
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor owned by nothing else.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: token };
        // SAFETY: event is a valid epoll_event for the duration of the call.
        let rc = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn add(&self, fd: &impl AsRawFd, interest: Interest, token: u64) -> io::Result<()> {
        self.ctl(
            libc::EPOLL_CTL_ADD,
            fd.as_raw_fd(),
            interest.events(),
            token,
        )
    }

    /// Modifies a registration; for an edge-triggered one this also raises an event now if
    /// the descriptor is readable already (bytes that arrived before the last edge was taken).
    pub fn rearm(&self, fd: &impl AsRawFd, interest: Interest, token: u64) -> io::Result<()> {
        self.ctl(
            libc::EPOLL_CTL_MOD,
            fd.as_raw_fd(),
            interest.events(),
            token,
        )
    }

    pub fn delete(&self, fd: &impl AsRawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd.as_raw_fd(), 0, 0)
    }

    /// Waits for events and fills `tokens` with theirs (cleared first), each with
    /// [`HANGUP`] set when the peer had closed its side (or the socket failed) by then; how
    /// many, 0 on timeout or a signal.
    pub fn wait_many(&self, tokens: &mut Vec<u64>, max: usize, timeout_ms: i32) -> usize {
        tokens.clear();
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        let max = max.clamp(1, events.len());
        // SAFETY: `events` has room for `max` entries, and the kernel writes at most that many.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                events.as_mut_ptr(),
                max as i32,
                timeout_ms,
            )
        };
        if n <= 0 {
            return 0;
        }
        let closed = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        tokens.extend(events[..n as usize].iter().map(|event| {
            let token = event.u64;
            if event.events & closed != 0 {
                token | HANGUP
            } else {
                token
            }
        }));
        n as usize
    }

    /// Waits for one event; its token, or `None` on timeout or a signal.
    pub fn wait_one(&self, timeout_ms: i32) -> Option<u64> {
        let mut event = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: one valid epoll_event to fill, and maxevents is 1.
        let n = unsafe { libc::epoll_wait(self.fd.as_raw_fd(), &mut event, 1, timeout_ms) };
        if n == 1 {
            Some(event.u64)
        } else {
            None
        }
    }
}
