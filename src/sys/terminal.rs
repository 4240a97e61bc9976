//! Reading a secret from the controlling terminal with echo off (mod_ssl's builtin pass
//! phrase dialog, as OpenSSL's EVP_read_pw_string reads it).

use std::io::{self, BufRead};
use std::os::fd::AsRawFd;

/// A line typed at `/dev/tty`, not shown as it is typed; the terminal's settings are put back.
pub fn read_hidden_line() -> io::Result<String> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for an open terminal descriptor and
    // its result is checked before the value is used.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is the open terminal, `saved` a valid termios to fill.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    // SAFETY: the same descriptor and a termios derived from the one it gave.
    if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut line = String::new();
    let read = io::BufReader::new(&tty).read_line(&mut line);
    // SAFETY: puts back the settings tcgetattr gave for this descriptor.
    unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &saved) };
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
