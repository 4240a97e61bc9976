//! Processes and signals for the MPMs: fork, reaping children, sending signals, and signal
//! handlers that raise flags and wake the loop that waits for them (an eventfd), so that an
//! idle server sleeps instead of polling its flags on a timer.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

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

/// This process's wake-up eventfd (-1 before `open_wake` made one): the signal handlers write
/// to it, and `wake` lets other threads end a `wait_for_wake` early.
static WAKE: AtomicI32 = AtomicI32::new(-1);

/// Gives this process a wake-up eventfd of its own (a forked child replaces the one it
/// inherited, which would wake its parent too).
fn open_wake() {
    // SAFETY: eventfd takes no pointers; the result is checked.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    let old = WAKE.swap(fd.max(-1), Ordering::SeqCst);
    if old >= 0 {
        // SAFETY: the inherited descriptor is owned by nothing else in this process.
        unsafe {
            libc::close(old);
        }
    }
}

/// Ends the current or next `wait_for_wake` at once. Async-signal-safe (one write(2)).
pub fn wake() {
    let fd = WAKE.load(Ordering::Relaxed);
    if fd >= 0 {
        let one: u64 = 1;
        // SAFETY: the pointer and length describe `one`, alive for the call; a full counter
        // (EAGAIN) means a wake-up is pending already. errno is put back as it was: a
        // handler runs between a failed call and the read of its errno.
        unsafe {
            let errno = libc::__errno_location();
            let saved = *errno;
            libc::write(fd, (&one as *const u64).cast(), 8);
            *errno = saved;
        }
    }
}

/// The wake-up eventfd, for a loop that waits in an epoll set of its own (it is readable
/// once `wake` was called; `drain_wake` empties it).
pub fn wake_fd() -> Option<RawFd> {
    let fd = WAKE.load(Ordering::Relaxed);
    (fd >= 0).then_some(fd)
}

/// Empties the wake-up eventfd.
pub fn drain_wake() {
    if let Some(fd) = wake_fd() {
        let mut count: u64 = 0;
        // SAFETY: reads at most 8 bytes into `count`; the descriptor is non-blocking.
        unsafe {
            libc::read(fd, (&mut count as *mut u64).cast(), 8);
        }
    }
}

/// Sleeps until `timeout` passes, a signal arrives, or another thread calls `wake`.
pub fn wait_for_wake(timeout: Duration) {
    let fd: RawFd = WAKE.load(Ordering::Relaxed);
    if fd < 0 {
        std::thread::sleep(timeout);
        return;
    }
    let millis = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
    let mut polled = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let ready = unsafe { libc::poll(&mut polled, 1, millis) };
    if ready > 0 {
        drain_wake();
    }
}

extern "C" fn raise_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
    wake();
}

extern "C" fn raise_graceful(_: libc::c_int) {
    GRACEFUL.store(true, Ordering::SeqCst);
    wake();
}

extern "C" fn raise_restart(_: libc::c_int) {
    RESTART.store(true, Ordering::SeqCst);
    wake();
}

extern "C" fn raise_graceful_stop(_: libc::c_int) {
    GRACEFUL_STOP.store(true, Ordering::SeqCst);
    wake();
}

/// A child of the parent's has ended: the parent wakes to reap it (and start another).
extern "C" fn child_ended(_: libc::c_int) {
    wake();
}

fn handle(signal: libc::c_int, handler: libc::sighandler_t) {
    install(signal, handler, 0);
}

fn install(signal: libc::c_int, handler: libc::sighandler_t, flags: libc::c_int) {
    // SAFETY: sigaction is plain data, zeroed is valid; the handlers only store to atomics and
    // write(2) to an eventfd, both async-signal-safe. Without SA_RESTART, blocking calls return
    // EINTR and the loops see the flag.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        action.sa_flags = flags;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

fn flag(handler: extern "C" fn(libc::c_int)) -> libc::sighandler_t {
    handler as libc::sighandler_t
}

/// The parent's handlers: SIGTERM and SIGINT stop, SIGHUP restarts, SIGUSR1 restarts
/// gracefully, SIGWINCH stops gracefully, SIGPIPE is ignored, SIGCHLD wakes the parent to
/// reap (restarting what it interrupts: the parent's own calls need not see it).
pub fn install_parent_handlers() {
    open_wake();
    install(libc::SIGCHLD, flag(child_ended), libc::SA_RESTART);
    handle(libc::SIGTERM, flag(raise_stop));
    handle(libc::SIGINT, flag(raise_stop));
    handle(libc::SIGHUP, flag(raise_restart));
    handle(libc::SIGUSR1, flag(raise_graceful));
    handle(libc::SIGWINCH, flag(raise_graceful_stop));
    handle(libc::SIGPIPE, libc::SIG_IGN);
}

/// A child's handlers: SIGTERM kills it outright (the default), SIGUSR1 asks it to finish
/// and leave, and what is meant for the parent (SIGINT from the terminal, SIGHUP, SIGWINCH)
/// is ignored. The flags the parent had raised are not the child's, nor is its wake-up
/// eventfd. The parent's death is SIGUSR1 too (PR_SET_PDEATHSIG), so an orphaned child leaves
/// without polling for it.
fn install_child_handlers() {
    for flag in [&STOP, &GRACEFUL, &RESTART, &GRACEFUL_STOP] {
        flag.store(false, Ordering::SeqCst);
    }
    open_wake();
    super::inotify::forget_after_fork();
    handle(libc::SIGCHLD, libc::SIG_DFL);
    handle(libc::SIGTERM, libc::SIG_DFL);
    handle(libc::SIGINT, libc::SIG_IGN);
    handle(libc::SIGHUP, libc::SIG_IGN);
    handle(libc::SIGWINCH, libc::SIG_IGN);
    handle(libc::SIGUSR1, flag(raise_graceful));
    // SAFETY: prctl with PR_SET_PDEATHSIG takes plain integers.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGUSR1 as libc::c_ulong);
    }
    // The parent may have gone before the request was made.
    if orphaned() {
        GRACEFUL.store(true, Ordering::SeqCst);
    }
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
            libc::SIGCHLD,
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
