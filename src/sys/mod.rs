//! Every call into the C library that needs `unsafe`: name service look-ups, file sending,
//! and (in `process` and `shared`) what the MPMs need. Each block states why it is sound.

pub mod epoll;
pub mod inotify;
pub mod memory;
pub mod process;
pub mod shared;
pub mod terminal;
pub mod zlib;

use std::ffi::{CStr, CString};
use std::net::IpAddr;

/// Looks a user up by name (`getpwnam_r`) and reads what `read` wants of the entry while the
/// strings it points into are alive; `None` when there is no such user.
fn with_passwd<T>(name: &[u8], read: impl FnOnce(&libc::passwd) -> Option<T>) -> Option<T> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain data; zeroed is a valid initial value for an out-parameter.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf outlives pwd's borrowed strings.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    read(&pwd)
}

/// A user's uid by name.
pub fn uid_of(name: &str) -> Option<u32> {
    with_passwd(name.as_bytes(), |pwd| Some(pwd.pw_uid))
}

/// A user's home directory by name (`getpwnam_r`'s `pw_dir`, as APR's
/// `apr_uid_homepath_get` reads it), as bytes: a path need not be UTF-8.
pub fn home_dir_of(name: &[u8]) -> Option<Vec<u8>> {
    with_passwd(name, |pwd| {
        if pwd.pw_dir.is_null() {
            return None;
        }
        // SAFETY: pw_dir points at a NUL-terminated string inside the lookup's buffer, alive
        // while `with_passwd` runs this.
        let dir = unsafe { CStr::from_ptr(pwd.pw_dir) };
        Some(dir.to_bytes().to_vec())
    })
}

/// A group's gid by name (`getgrnam_r`).
pub fn gid_of(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: group is plain data; zeroed is a valid initial value for an out-parameter.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf outlives grp's borrowed strings.
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(grp.gr_gid)
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The host name of this machine (`gethostname`).
pub fn host_name() -> Option<String> {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: buf is writable for its whole length, which is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: gethostname NUL-terminated the name inside buf (the last byte stays 0).
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// The name an address resolves back to (`getnameinfo` with NI_NAMEREQD).
pub fn reverse_lookup(addr: IpAddr) -> Option<String> {
    reverse_lookup_or_code(addr).ok()
}

/// [`reverse_lookup`], or getnameinfo's failure code.
pub fn reverse_lookup_or_code(addr: IpAddr) -> Result<String, i32> {
    let mut host = [0 as libc::c_char; 1025];
    let rc = match addr {
        IpAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sin is a valid sockaddr_in of the given length; host is writable.
            unsafe {
                libc::getnameinfo(
                    (&sin as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
        }
        IpAddr::V6(v6) => {
            // SAFETY: sockaddr_in6 is plain data; zeroed is valid before we fill it.
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: v6.octets(),
            };
            // SAFETY: sin6 is a valid sockaddr_in6 of the given length; host is writable.
            unsafe {
                libc::getnameinfo(
                    (&sin6 as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
        }
    };
    if rc != 0 {
        return Err(rc);
    }
    // SAFETY: on success getnameinfo wrote a NUL-terminated name into host.
    let name = unsafe { CStr::from_ptr(host.as_ptr()) };
    Ok(name.to_string_lossy().into_owned())
}

/// glibc's EAI_ADDRFAMILY (the libc crate leaves it out for this target).
const EAI_ADDRFAMILY: i32 = -9;

/// The addresses `host` resolves to for `family` (AF_INET, AF_INET6 or AF_UNSPEC), in the
/// resolver's order, asked as APR's `apr_sockaddr_info_get` asks getaddrinfo (stream
/// sockets; for AF_UNSPEC only families with a configured interface, asked again without
/// that restriction when it is what failed); getaddrinfo's failure code otherwise.
pub fn resolve(host: &str, family: i32) -> Result<Vec<IpAddr>, i32> {
    let Ok(name) = CString::new(host) else {
        return Err(libc::EAI_NONAME);
    };
    let unspec = family == libc::AF_UNSPEC;
    let ask = |flags: i32| -> Result<Vec<IpAddr>, i32> {
        // SAFETY: addrinfo is plain data; a zeroed one is a valid empty hints record.
        let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
        hints.ai_family = family;
        hints.ai_socktype = libc::SOCK_STREAM;
        hints.ai_flags = flags;
        let mut list: *mut libc::addrinfo = std::ptr::null_mut();
        // SAFETY: name is NUL-terminated, hints is a valid record, list an out-parameter.
        let rc = unsafe { libc::getaddrinfo(name.as_ptr(), std::ptr::null(), &hints, &mut list) };
        if rc != 0 {
            return Err(rc);
        }
        let mut out = Vec::new();
        let mut at = list;
        while !at.is_null() {
            // SAFETY: `at` is a node of the list getaddrinfo returned, not yet freed.
            let entry = unsafe { &*at };
            if !entry.ai_addr.is_null() {
                match entry.ai_family {
                    libc::AF_INET => {
                        // SAFETY: an AF_INET entry's address is a sockaddr_in.
                        let sin = unsafe { &*(entry.ai_addr as *const libc::sockaddr_in) };
                        // The address is stored in network order: its bytes as they lie in memory.
                        out.push(IpAddr::from(sin.sin_addr.s_addr.to_ne_bytes()));
                    }
                    libc::AF_INET6 => {
                        // SAFETY: an AF_INET6 entry's address is a sockaddr_in6.
                        let sin6 = unsafe { &*(entry.ai_addr as *const libc::sockaddr_in6) };
                        out.push(IpAddr::from(sin6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            at = entry.ai_next;
        }
        // SAFETY: list came from getaddrinfo and is freed once, after its last use.
        unsafe { libc::freeaddrinfo(list) };
        Ok(out)
    };
    match ask(if unspec { libc::AI_ADDRCONFIG } else { 0 }) {
        Err(rc) if unspec && (rc == libc::EAI_BADFLAGS || rc == EAI_ADDRFAMILY) => ask(0),
        other => other,
    }
}

/// getaddrinfo's text for a failure code (`gai_strerror`), as APR's `%pm` prints it.
pub fn eai_message(code: i32) -> String {
    // SAFETY: gai_strerror returns a pointer to a static NUL-terminated message.
    let message = unsafe { CStr::from_ptr(libc::gai_strerror(code)) };
    message.to_string_lossy().into_owned()
}

/// The text of a getaddrinfo/getnameinfo failure code, as APR prints it: `(EAI 2)Name or
/// service not known`.
pub fn eai_text(code: i32) -> String {
    // SAFETY: gai_strerror returns a pointer to a static NUL-terminated message.
    let message = unsafe { CStr::from_ptr(libc::gai_strerror(code)) };
    format!("(EAI {}){}", code.unsigned_abs(), message.to_string_lossy())
}

/// Points standard error at `path` (appending), as `-E` does for every startup message.
pub fn redirect_stderr(path: &std::path::Path) -> std::io::Result<()> {
    stderr_to(&crate::log::open_append(path)?)
}

/// Makes `target` (a file or a pipe's writing end) the process's standard error.
pub fn stderr_to(target: &impl std::os::fd::AsRawFd) -> std::io::Result<()> {
    // SAFETY: both descriptors are open for the duration of the call; dup2 replaces fd 2
    // atomically and the caller's own descriptor stays its own.
    let rc = unsafe { libc::dup2(target.as_raw_fd(), libc::STDERR_FILENO) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `len` bytes of `file` from `offset` to `socket` with `sendfile(2)`, looping over
/// partial sends; the kernel copies without a trip through user space.
pub fn send_file(
    socket: &std::net::TcpStream,
    file: &std::fs::File,
    offset: u64,
    len: u64,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut off = offset as libc::off_t;
    let mut left = len;
    while left > 0 {
        let chunk = left.min(1 << 30) as usize;
        // SAFETY: both descriptors are open for the call; `off` is a valid out-parameter.
        let sent = unsafe { libc::sendfile(socket.as_raw_fd(), file.as_raw_fd(), &mut off, chunk) };
        if sent < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if sent == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shrank while sending",
            ));
        }
        left -= sent as u64;
    }
    Ok(())
}

/// Sets a listening socket's accept queue length (ListenBacklog): listen(2) again on a socket
/// already listening only changes its backlog.
pub fn set_backlog(listener: &std::net::TcpListener, backlog: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: listen takes no pointers; the descriptor is a valid listening socket.
    unsafe {
        libc::listen(listener.as_raw_fd(), backlog);
    }
}

/// The descriptors above standard error this process was started with. Read before the server
/// opens anything of its own, so that a daemon can later close exactly these (see
/// `close_descriptors`) and never one that a log, listener or pipe of its own now holds.
pub fn inherited_descriptors() -> Vec<std::os::fd::RawFd> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let listed: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    // The listing includes the descriptor read_dir itself used, closed by now.
    listed
        .into_iter()
        // SAFETY: fcntl(F_GETFD) only asks whether the number is an open descriptor.
        .filter(|fd| unsafe { libc::fcntl(*fd, libc::F_GETFD) } != -1)
        .collect()
}

/// Closes descriptors this process inherited (`inherited_descriptors`): a daemon must not hold
/// open whatever its starter left inheritable (a pipe kept open would leave that starter
/// waiting).
pub fn close_descriptors(inherited: &[std::os::fd::RawFd]) {
    for &fd in inherited {
        // SAFETY: closing a descriptor number has no memory effects, and no Rust object owns
        // these: they were open before the server opened anything.
        unsafe {
            libc::close(fd);
        }
    }
}

/// Clock ticks per second, the unit of the CPU times in /proc (mod_status's CPU figures).
pub fn clock_ticks() -> i64 {
    // SAFETY: sysconf takes no pointers.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }
}

/// A user's name by uid (`getpwuid_r`).
pub fn user_name_of(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain data; zeroed is a valid initial value for an out-parameter.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf outlives pwd's borrowed strings.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: pw_name points into buf, NUL-terminated, per getpwuid_r's contract.
    Some(
        unsafe { CStr::from_ptr(pwd.pw_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// A group's name by gid (`getgrgid_r`).
pub fn group_name_of(gid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: group is plain data; zeroed is a valid initial value for an out-parameter.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf outlives grp's borrowed strings.
    let rc = unsafe { libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: gr_name points into buf, NUL-terminated, per getgrgid_r's contract.
    Some(
        unsafe { CStr::from_ptr(grp.gr_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// The first half of giving up root: the group, then the supplementary groups of `user`.
/// A failing step is returned with its errno.
pub fn set_groups(user: &str, gid: u32) -> Result<(), (&'static str, std::io::Error)> {
    let name = CString::new(user).map_err(|_| {
        (
            "initgroups",
            std::io::Error::from_raw_os_error(libc::EINVAL),
        )
    })?;
    // SAFETY: setgid and initgroups take plain values and a valid C string.
    unsafe {
        if libc::setgid(gid) != 0 {
            return Err(("setgid", std::io::Error::last_os_error()));
        }
        if libc::initgroups(name.as_ptr(), gid) != 0 {
            return Err(("initgroups", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// The second half: ChrootDir (after the groups, which read /etc/group), then the user, for
/// good. A failing step is returned with its errno.
pub fn change_root_and_user(
    uid: u32,
    chroot: Option<&std::path::Path>,
) -> Result<(), (&'static str, std::io::Error)> {
    if let Some(dir) = chroot {
        std::env::set_current_dir(dir).map_err(|e| ("chdir", e))?;
        let path = CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| ("chroot", std::io::Error::from_raw_os_error(libc::EINVAL)))?;
        // SAFETY: chroot reads a valid NUL-terminated path.
        if unsafe { libc::chroot(path.as_ptr()) } != 0 {
            return Err(("chroot", std::io::Error::last_os_error()));
        }
        std::env::set_current_dir("/").map_err(|e| ("chdir /", e))?;
    }
    // SAFETY: setuid takes a plain value.
    if unsafe { libc::setuid(uid) } != 0 {
        return Err(("setuid", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// CoreDumpDirectory: a child that gave up root may still dump core (Linux clears the flag on
/// setuid), into the directory it works in.
pub fn allow_core_dumps_in(dir: &std::path::Path) -> std::io::Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes a plain integer argument.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    std::env::set_current_dir(dir)
}

/// The calling thread's kernel thread id (what Debian's Apache logs as `tid`).
pub fn thread_id() -> i64 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::gettid() as i64 }
}

/// Whether thread `tid` of this process is on a CPU or waiting for one (state `R` in
/// /proc/self/task/TID/stat), rather than asleep in a system call.
pub fn thread_runnable(tid: i64) -> bool {
    let Ok(stat) = std::fs::read(format!("/proc/self/task/{tid}/stat")) else {
        return false;
    };
    // The command name in parentheses may hold anything; the state follows its last ')'.
    let Some(close) = stat.iter().rposition(|&b| b == b')') else {
        return false;
    };
    stat.get(close + 2) == Some(&b'R')
}

/// A moment in the server's local time zone.
pub struct LocalTime {
    pub year: i64,
    /// 1-12.
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Seconds east of UTC.
    pub gmtoff: i64,
    /// 0 (Sunday) to 6.
    pub weekday: u32,
}

fn local_tm(secs: i64) -> libc::tm {
    let time = secs as libc::time_t;
    // SAFETY: tm is plain data; localtime_r fills it from a valid time_t and is thread-safe.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&time, &mut tm);
        tm
    }
}

/// `secs` since the epoch in local time (localtime_r).
pub fn local_time(secs: i64) -> LocalTime {
    let tm = local_tm(secs);
    LocalTime {
        year: tm.tm_year as i64 + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
        gmtoff: tm.tm_gmtoff,
        weekday: tm.tm_wday as u32,
    }
}

/// strftime(3) of `pattern` in local time (empty if the pattern is not valid C text or the
/// result does not fit 256 bytes, as Apache's buffer does not).
pub fn strftime_local(pattern: &str, secs: i64) -> String {
    let Ok(pattern) = CString::new(pattern) else {
        return String::new();
    };
    let tm = local_tm(secs);
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its length, pattern is NUL-terminated, tm is initialised.
    let len = unsafe {
        libc::strftime(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            pattern.as_ptr(),
            &tm,
        )
    };
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// strftime(3) as APR's `apr_strftime` calls it: the broken-down time in local time, or UTC
/// when `gmt`, with no zone name in it (APR copies the fields into a zeroed `struct tm`), into
/// Apache's MAX_STRING_LEN buffer; the pattern ends at a NUL, as C text does.
pub fn strftime_apr(pattern: &str, secs: i64, gmt: bool) -> String {
    let pattern = pattern.split('\0').next().unwrap_or_default();
    let Ok(pattern) = CString::new(pattern) else {
        return String::new();
    };
    let time = secs as libc::time_t;
    // SAFETY: tm is plain data; gmtime_r and localtime_r fill it from a valid time_t and are
    // thread-safe.
    let mut tm: libc::tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if gmt {
            libc::gmtime_r(&time, &mut tm);
        } else {
            libc::localtime_r(&time, &mut tm);
        }
        tm
    };
    tm.tm_zone = std::ptr::null();
    let mut buf = vec![0u8; 8192];
    // SAFETY: buf is writable for its length, pattern is NUL-terminated, tm is initialised
    // (its zone pointer null, which strftime accepts).
    let len = unsafe {
        libc::strftime(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            pattern.as_ptr(),
            &tm,
        )
    };
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// Bytes waiting to be read on a socket (FIONREAD).
pub fn pending_input(socket: &std::net::TcpStream) -> usize {
    use std::os::fd::AsRawFd;
    let mut pending: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int to the valid pointer given.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::FIONREAD, &mut pending) };
    if rc < 0 {
        0
    } else {
        pending.max(0) as usize
    }
}

/// One recv(2) that does not wait (MSG_DONTWAIT) on a blocking socket: `Ok(None)` when
/// nothing is queued.
pub fn recv_now(socket: &std::net::TcpStream, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    use std::os::fd::AsRawFd;
    without_waiting(|| {
        // SAFETY: the pointer and length describe `buf`, writable for the whole call.
        unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        }
    })
}

/// A call on a socket that does not wait: its count, `None` when it would have waited
/// (EAGAIN), retried when a signal interrupted it.
fn without_waiting(mut call: impl FnMut() -> isize) -> std::io::Result<Option<usize>> {
    loop {
        let rc = call();
        if rc >= 0 {
            return Ok(Some(rc as usize));
        }
        let err = std::io::Error::last_os_error();
        match err.kind() {
            std::io::ErrorKind::WouldBlock => return Ok(None),
            std::io::ErrorKind::Interrupted => continue,
            _ => return Err(err),
        }
    }
}

/// One send(2) that does not wait (and raises no SIGPIPE): `Ok(None)` when the socket's
/// send buffer has no room.
pub fn send_now(socket: &std::net::TcpStream, buf: &[u8]) -> std::io::Result<Option<usize>> {
    use std::os::fd::AsRawFd;
    without_waiting(|| {
        // SAFETY: the pointer and length describe `buf`, readable for the whole call.
        unsafe {
            libc::send(
                socket.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        }
    })
}

/// setsockopt(2) with an int value on a socket (a listener, or a backend connection's
/// SO_RCVBUF).
pub fn set_int_option(
    listener: &impl std::os::fd::AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: i32,
) -> std::io::Result<()> {
    // SAFETY: the value pointer and its length describe one valid int for the call.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A TCP connection to `remote` from the local address `local` (port chosen by the system),
/// made within `timeout`: ProxySourceAddress's bind before connect, which std cannot do.
pub fn connect_from(
    local: IpAddr,
    remote: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> std::io::Result<std::net::TcpStream> {
    use std::os::fd::FromRawFd;
    let family = if remote.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: socket(2) with constant arguments; the descriptor is owned below.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a new socket nothing else owns; the TcpStream closes it when dropped.
    let stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    let (local_storage, local_len) = socket_address(std::net::SocketAddr::new(local, 0));
    // SAFETY: the pointer and length describe the sockaddr made for the call.
    let rc = unsafe {
        libc::bind(
            fd,
            &local_storage as *const libc::sockaddr_storage as *const libc::sockaddr,
            local_len,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    stream.set_nonblocking(true)?;
    let (remote_storage, remote_len) = socket_address(remote);
    // SAFETY: the pointer and length describe the sockaddr made for the call.
    let rc = unsafe {
        libc::connect(
            fd,
            &remote_storage as *const libc::sockaddr_storage as *const libc::sockaddr,
            remote_len,
        )
    };
    if rc < 0 {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(error);
        }
        let mut polled = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        let millis = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the call.
        let ready = unsafe { libc::poll(&mut polled, 1, millis) };
        if ready == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::TimedOut));
        }
        if ready < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if let Some(error) = stream.take_error()? {
            return Err(error);
        }
    }
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// A socket address in the form the system calls take.
fn socket_address(address: std::net::SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data for which all zero bytes is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match address {
        std::net::SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        std::net::SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in6 and suitably aligned.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Whether a connected socket has nothing to read and is still open, without waiting (one
/// recv with MSG_PEEK | MSG_DONTWAIT): a kept backend connection is reused only then.
pub fn idle_and_open(fd: std::os::fd::RawFd) -> bool {
    let mut probe = [0u8; 1];
    // SAFETY: the buffer pointer and length describe a valid one-byte array for the call.
    let rc = unsafe {
        libc::recv(
            fd,
            probe.as_mut_ptr() as *mut libc::c_void,
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    rc < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
}

/// Shuts the reading side of a socket: reads end and its readiness is reported (a wait on it
/// that has run out is ended so). Errors are of no interest: the socket is given up.
pub fn shut_reading(fd: std::os::fd::RawFd) {
    // SAFETY: shutdown(2) takes a descriptor and a constant; it touches no memory of ours.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RD);
    }
}

/// Waits up to `timeout_ms` (-1: no limit) for input on any of `fds`: which have some (a
/// closed peer counts as input). An interrupted wait reports none.
pub fn poll_readable(fds: &[std::os::fd::RawFd], timeout_ms: i32) -> std::io::Result<Vec<bool>> {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: the pointer and count describe the vector of pollfd structs, alive for the call.
    let rc = unsafe {
        libc::poll(
            polled.as_mut_ptr(),
            polled.len() as libc::nfds_t,
            timeout_ms,
        )
    };
    if rc < 0 {
        let error = std::io::Error::last_os_error();
        if error.kind() == std::io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(error);
    }
    Ok(polled
        .iter()
        .map(|p| p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0)
        .collect())
}

/// The resource limits a started program runs under (RLimitCPU, RLimitMEM, RLimitNPROC, in
/// that order): each a soft limit (`None`: the hard limit) and an optional hard limit, set in
/// the child before it runs the program; a limit the system refuses is left as it was.
pub fn limit_child(
    command: &mut std::process::Command,
    limits: [Option<(Option<u64>, Option<u64>)>; 3],
) {
    use std::os::unix::process::CommandExt;
    if limits.iter().all(Option::is_none) {
        return;
    }
    let resources = [libc::RLIMIT_CPU, libc::RLIMIT_AS, libc::RLIMIT_NPROC];
    // SAFETY: the closure runs in the child between fork and exec, and calls only getrlimit
    // and setrlimit (async-signal-safe) on values it owns; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            for (resource, limit) in resources.iter().zip(limits.iter()) {
                let Some((soft, hard)) = limit else { continue };
                let mut current = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(*resource, &mut current) != 0 {
                    continue;
                }
                if let Some(hard) = hard.filter(|h| *h > 0) {
                    current.rlim_max = hard as libc::rlim_t;
                }
                current.rlim_cur = match soft {
                    Some(0) => current.rlim_cur,
                    Some(soft) => *soft as libc::rlim_t,
                    None => current.rlim_max,
                };
                let _ = libc::setrlimit(*resource, &current);
            }
            Ok(())
        });
    }
}
