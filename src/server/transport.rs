//! The byte stream a connection runs over, below HTTP: a plain TCP socket, or TLS
//! (`server::tls`).
//! The connection code sees only this trait (reads, writes, timeouts, the half-close of a
//! lingering close, whether input is already waiting, and how a file body goes out), so a new
//! transport is a new implementation here and nothing in the HTTP code changes.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// The buffer a file body is copied through when it cannot be handed to the kernel.
const COPY_BUFFER: usize = 64 * 1024;

/// What a connection needs of the stream under it.
pub trait Transport: Read + Write + Send {
    /// The socket under the transport: the event MPM waits on it in epoll.
    fn raw_fd(&self) -> RawFd;
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
    /// Bounds each write, so a client that stops reading cannot hold a worker forever.
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
    /// Stops sending (a lingering close then reads what the client still sends).
    fn shutdown_write(&mut self) -> io::Result<()>;
    /// Input received and not yet read: the socket's, plus any the transport holds itself
    /// (a TLS layer's decrypted records). Pipelining and lingering close decide by it.
    fn pending_input(&mut self) -> usize;
    /// Whether a file body may go to the kernel with sendfile(2): only where the bytes go on
    /// the wire as they are (never under TLS).
    fn sendfile_applies(&self) -> bool;

    /// The plain socket, for a transport that is one (a connection whose PROXY header has
    /// been read goes on to its TLS handshake over it); `None` for any other.
    fn into_tcp(self: Box<Self>) -> Option<TcpStream> {
        None
    }

    /// Whether the last read emptied the socket's receive queue (it returned less than it was
    /// offered): any byte arriving after it raises a new edge in epoll, so the event MPM can
    /// park the connection without re-arming its registration. False wherever bytes may sit
    /// unread below the transport (a TLS layer reads ahead of what it hands out).
    fn input_drained(&self) -> bool {
        false
    }

    /// Whether [`Transport::read_now`] reads: only where a read is the socket's own.
    fn reads_now(&self) -> bool {
        false
    }

    /// One read that does not wait: `Ok(None)` when nothing has arrived (and always, for a
    /// transport that cannot, see [`Transport::reads_now`]).
    fn read_now(&mut self, _buf: &mut [u8]) -> io::Result<Option<usize>> {
        Ok(None)
    }

    /// Whether closing must always linger (as Apache's always does): where the client's own
    /// closing words are data (TLS's close_notify), closing on them unread would reset the
    /// connection and could destroy the end of the response on its way.
    fn linger_always(&self) -> bool {
        false
    }

    /// Sends `len` bytes of `file` from `offset`: by sendfile(2) when `sendfile` is asked
    /// (EnableSendfile) and applies, else copied through user space.
    fn send_file(
        &mut self,
        file: &fs::File,
        offset: u64,
        len: u64,
        sendfile: bool,
    ) -> io::Result<()> {
        if sendfile && self.sendfile_applies() {
            // Headers may still sit in a buffer of ours: out first, so the order holds.
            self.flush()?;
            return self.kernel_send_file(file, offset, len);
        }
        copy_file(self, file, offset, len)
    }

    /// sendfile(2) itself; only called where [`Transport::sendfile_applies`].
    fn kernel_send_file(&mut self, file: &fs::File, offset: u64, len: u64) -> io::Result<()> {
        copy_file(self, file, offset, len)
    }
}

/// A plain TCP connection, remembering whether its last read emptied the receive queue.
///
/// Its socket options are set when they first matter, not as the connection opens: a read
/// or write that completes at once needs no timeout, and the first write of a connection
/// goes out at once whatever Nagle says (nothing is unacknowledged yet). A connection that
/// answers one request and closes (`Connection: close`) thus makes three system calls
/// fewer: TCP_NODELAY, SO_RCVTIMEO and SO_SNDTIMEO.
pub struct PlainSocket {
    stream: TcpStream,
    drained: bool,
    /// A read timeout asked for and not yet on the socket.
    read_timeout: Pending,
    /// A write timeout asked for and not yet on the socket.
    write_timeout: Pending,
    /// Whether a write has gone out (TCP_NODELAY is set before the next one).
    wrote: bool,
    nodelay: bool,
}

/// A timeout that waits for the first read or write that would wait.
#[derive(Clone, Copy, PartialEq)]
enum Pending {
    /// The socket has what was asked.
    Applied(Option<Duration>),
    Wanted(Option<Duration>),
}

impl Pending {
    /// Asks for `timeout`: nothing to do if the socket has it already.
    fn ask(&mut self, timeout: Option<Duration>) {
        if *self != Pending::Applied(timeout) {
            *self = Pending::Wanted(timeout);
        }
    }

    /// Puts a wanted timeout on the socket with `set`.
    fn apply(&mut self, set: impl FnOnce(Option<Duration>) -> io::Result<()>) -> io::Result<()> {
        if let Pending::Wanted(timeout) = *self {
            set(timeout)?;
            *self = Pending::Applied(timeout);
        }
        Ok(())
    }
}

impl PlainSocket {
    pub fn new(stream: TcpStream) -> PlainSocket {
        PlainSocket {
            stream,
            drained: false,
            read_timeout: Pending::Applied(None),
            write_timeout: Pending::Applied(None),
            wrote: false,
            nodelay: false,
        }
    }

    fn apply_read_timeout(&mut self) -> io::Result<()> {
        let stream = &self.stream;
        self.read_timeout.apply(|t| stream.set_read_timeout(t))
    }

    fn apply_write_timeout(&mut self) -> io::Result<()> {
        let stream = &self.stream;
        self.write_timeout.apply(|t| stream.set_write_timeout(t))
    }

    /// Before every write: TCP_NODELAY once one write has gone (a small piece after it must
    /// not wait for the first one's acknowledgement).
    fn before_write(&mut self) -> io::Result<()> {
        if self.wrote && !self.nodelay {
            self.stream.set_nodelay(true)?;
            self.nodelay = true;
        }
        self.wrote = true;
        Ok(())
    }
}

impl Read for PlainSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if matches!(self.read_timeout, Pending::Wanted(_)) {
            // Bytes already here need no timeout to be read.
            if let Some(n) = self.read_now(buf)? {
                return Ok(n);
            }
            self.apply_read_timeout()?;
        }
        let n = self.stream.read(buf)?;
        // A TCP read copies everything queued up to the length asked: a short one left
        // nothing behind.
        self.drained = n < buf.len();
        Ok(n)
    }
}

impl Write for PlainSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.before_write()?;
        if matches!(self.write_timeout, Pending::Wanted(_)) {
            // Room in the send buffer needs no timeout to be used.
            if let Some(n) = crate::sys::send_now(&self.stream, buf)? {
                return Ok(n);
            }
            self.apply_write_timeout()?;
        }
        self.stream.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.before_write()?;
        self.apply_write_timeout()?;
        self.stream.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl Transport for PlainSocket {
    fn raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout.ask(timeout);
        Ok(())
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_timeout.ask(timeout);
        Ok(())
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    fn pending_input(&mut self) -> usize {
        crate::sys::pending_input(&self.stream)
    }

    fn sendfile_applies(&self) -> bool {
        true
    }

    fn kernel_send_file(&mut self, file: &fs::File, offset: u64, len: u64) -> io::Result<()> {
        self.before_write()?;
        self.apply_write_timeout()?;
        crate::sys::send_file(&self.stream, file, offset, len)
    }

    fn into_tcp(self: Box<Self>) -> Option<TcpStream> {
        Some(self.stream)
    }

    fn input_drained(&self) -> bool {
        self.drained
    }

    fn reads_now(&self) -> bool {
        true
    }

    fn read_now(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let read = crate::sys::recv_now(&self.stream, buf)?;
        // Nothing queued is as drained as a short read.
        self.drained = read.is_none_or(|n| n < buf.len());
        Ok(read)
    }
}

/// Sends `len` bytes of `file` from `offset` through a userspace buffer.
fn copy_file<W: Write + ?Sized>(
    out: &mut W,
    file: &fs::File,
    offset: u64,
    len: u64,
) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buffer = vec![0u8; COPY_BUFFER.min(len as usize)];
    let (mut at, end) = (offset, offset + len);
    while at < end {
        let want = ((end - at) as usize).min(buffer.len());
        let read = file.read_at(&mut buffer[..want], at)?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while sending",
            ));
        }
        out.write_all(&buffer[..read])?;
        at += read as u64;
    }
    Ok(())
}
