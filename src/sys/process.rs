//! Processes and signals for the MPMs: fork, reaping children, sending signals, and signal
//! handlers that only raise flags the main loops poll.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Set by SIGTERM or SIGINT: stop now.
pub static STOP: AtomicBool = AtomicBool::new(false);
/// Set by SIGUSR1 (in a prefork child: finish the current connection, then exit).
pub static GRACEFUL: AtomicBool = AtomicBool::new(false);

extern "C" fn raise_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

extern "C" fn raise_graceful(_: libc::c_int) {
    GRACEFUL.store(true, Ordering::SeqCst);
}

fn handle(signal: libc::c_int, handler: libc::sighandler_t) {
    // SAFETY: sigaction is plain data, zeroed is valid; the handlers only store to atomics,
    // which is async-signal-safe. No SA_RESTART, so blocking calls return EINTR and the
    // loops see the flag.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

/// The parent's handlers: SIGTERM and SIGINT stop, SIGPIPE is ignored.
pub fn install_parent_handlers() {
    handle(
        libc::SIGTERM,
        raise_stop as extern "C" fn(libc::c_int) as libc::sighandler_t,
    );
    handle(
        libc::SIGINT,
        raise_stop as extern "C" fn(libc::c_int) as libc::sighandler_t,
    );
    handle(libc::SIGPIPE, libc::SIG_IGN);
}

/// A prefork child's handlers: SIGTERM kills it outright (the default), SIGUSR1 asks it to
/// leave once idle, SIGINT (the terminal's ^C, meant for the parent) is ignored.
pub fn install_child_handlers() {
    handle(libc::SIGTERM, libc::SIG_DFL);
    handle(libc::SIGINT, libc::SIG_IGN);
    handle(
        libc::SIGUSR1,
        raise_graceful as extern "C" fn(libc::c_int) as libc::sighandler_t,
    );
    STOP.store(false, Ordering::SeqCst);
    GRACEFUL.store(false, Ordering::SeqCst);
}

/// Which side of a fork this is.
pub enum Forked {
    Parent(i32),
    Child,
}

/// fork(2). Call only while the process has a single thread.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the callers fork from a single-threaded parent, so the child's copy of every
    // lock and allocator state is consistent.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// One child that has ended, without blocking.
pub fn reap() -> Option<(i32, Exit)> {
    let mut status = 0;
    // SAFETY: status is a valid out-parameter.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid <= 0 {
        return None;
    }
    let exit = if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    };
    Some((pid, exit))
}

/// kill(2); false when the process is gone.
pub fn signal(pid: i32, signal: i32) -> bool {
    // SAFETY: kill has no memory effects; a stale pid only yields ESRCH.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// The signal's name as strsignal gives it (Apache logs it on a child's death).
pub fn signal_name(signal: i32) -> String {
    // SAFETY: strsignal returns a pointer to a static or thread-local string, copied at once.
    let text = unsafe { libc::strsignal(signal) };
    if text.is_null() {
        return format!("signal {signal}");
    }
    // SAFETY: non-null and NUL-terminated per strsignal's contract.
    unsafe { std::ffi::CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// Waits until one of `fds` is readable or `timeout` passes; false on timeout or a signal.
pub fn wait_readable<F: AsRawFd>(fds: &[F], timeout: Duration) -> bool {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|f| libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: polls is a valid array of polls.len() entries for the duration of the call.
    let ready = unsafe {
        libc::poll(
            polls.as_mut_ptr(),
            polls.len() as libc::nfds_t,
            timeout.as_millis().min(i32::MAX as u128) as libc::c_int,
        )
    };
    ready > 0
}

/// Ends a forked child at once, without running the parent's exit handlers or destructors.
pub fn exit_child(code: i32) -> ! {
    // SAFETY: _exit only ends the process.
    unsafe { libc::_exit(code) }
}
