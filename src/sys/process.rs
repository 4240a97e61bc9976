//! Processes and signals for the MPMs: fork, reaping children, sending signals, and signal
//! handlers that only raise flags the main loops poll.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The parent's pid, recorded before it forks: a child whose parent is no longer this one has
/// been orphaned (read after the fork, the parent could already be gone).
pub static PARENT: AtomicU32 = AtomicU32::new(0);

/// Whether the parent that forked this child has gone.
pub fn orphaned() -> bool {
    std::os::unix::process::parent_id() != PARENT.load(Ordering::Relaxed)
}

/// Set by SIGTERM or SIGINT: stop now.
pub static STOP: AtomicBool = AtomicBool::new(false);
/// Set by SIGUSR1: in the parent, a graceful restart; in a child, finish in-flight requests
/// and leave.
pub static GRACEFUL: AtomicBool = AtomicBool::new(false);
/// Set in the parent by SIGHUP: restart now.
pub static RESTART: AtomicBool = AtomicBool::new(false);
/// Set in the parent by SIGWINCH: let the children finish, then stop.
pub static GRACEFUL_STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn raise_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

extern "C" fn raise_graceful(_: libc::c_int) {
    GRACEFUL.store(true, Ordering::SeqCst);
}

extern "C" fn raise_restart(_: libc::c_int) {
    RESTART.store(true, Ordering::SeqCst);
}

extern "C" fn raise_graceful_stop(_: libc::c_int) {
    GRACEFUL_STOP.store(true, Ordering::SeqCst);
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

fn flag(handler: extern "C" fn(libc::c_int)) -> libc::sighandler_t {
    handler as libc::sighandler_t
}

/// The parent's handlers: SIGTERM and SIGINT stop, SIGHUP restarts, SIGUSR1 restarts
/// gracefully, SIGWINCH stops gracefully, SIGPIPE is ignored.
pub fn install_parent_handlers() {
    handle(libc::SIGTERM, flag(raise_stop));
    handle(libc::SIGINT, flag(raise_stop));
    handle(libc::SIGHUP, flag(raise_restart));
    handle(libc::SIGUSR1, flag(raise_graceful));
    handle(libc::SIGWINCH, flag(raise_graceful_stop));
    handle(libc::SIGPIPE, libc::SIG_IGN);
}

/// A child's handlers: SIGTERM kills it outright (the default), SIGUSR1 asks it to finish
/// and leave, and what is meant for the parent (SIGINT from the terminal, SIGHUP, SIGWINCH)
/// is ignored. The flags the parent had raised are not the child's.
fn install_child_handlers() {
    for flag in [&STOP, &GRACEFUL, &RESTART, &GRACEFUL_STOP] {
        flag.store(false, Ordering::SeqCst);
    }
    handle(libc::SIGTERM, libc::SIG_DFL);
    handle(libc::SIGINT, libc::SIG_IGN);
    handle(libc::SIGHUP, libc::SIG_IGN);
    handle(libc::SIGWINCH, libc::SIG_IGN);
    handle(libc::SIGUSR1, flag(raise_graceful));
}

/// Which side of a fork this is.
pub enum Forked {
    Child,
    Parent(libc::pid_t),
}

/// The signals the parent and its children handle.
fn handled_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, zeroed is a valid value for sigemptyset to fill.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGWINCH,
        ] {
            libc::sigaddset(&mut set, signal);
        }
        set
    }
}

/// Forks a server child with its own signal handlers in place. The handled signals are
/// blocked across the fork: one sent to the new child before its handlers were installed
/// would otherwise run the parent's handler and be cleared with the inherited flags (a
/// graceful restart right after a spawn left that child serving the old configuration).
/// Blocked, it waits and reaches the child's own handler.
pub fn fork_child() -> io::Result<Forked> {
    let handled = handled_signals();
    // SAFETY: the set is initialized; changing this thread's mask has no memory effects.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &handled, std::ptr::null_mut());
    }
    // SAFETY: the callers fork from a single-threaded parent, so the child's copy of every
    // lock and allocator state is consistent.
    let forked = match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            install_child_handlers();
            Ok(Forked::Child)
        }
        pid => Ok(Forked::Parent(pid)),
    };
    // SAFETY: as above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &handled, std::ptr::null_mut());
    }
    forked
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

/// Ends a forked child at once, without running the parent's exit handlers or destructors.
pub fn exit_child(code: i32) -> ! {
    // SAFETY: _exit only ends the process.
    unsafe { libc::_exit(code) }
}

/// The process's file mode creation mask, left as it was.
pub fn current_umask() -> u32 {
    // SAFETY: umask only swaps the mask; it is restored at once.
    unsafe {
        let mask = libc::umask(0o022);
        libc::umask(mask);
        mask as u32
    }
}
