//! zlib's raw deflate and inflate through libz-sys, with every parameter mod_deflate sets
//! (level, window bits, memory level): the same library and settings as Apache, so the same
//! bytes and the same verdicts on bad input.

use std::mem::MaybeUninit;

use libz_sys as z;

/// The zlib failure code, for the AH messages.
#[derive(Debug)]
pub struct ZlibError(pub i32);

/// A raw deflate stream and what mod_deflate would have done while producing it.
pub struct Deflated {
    pub data: Vec<u8>,
    /// CRC-32 of the input, for the gzip trailer.
    pub crc: u32,
    /// Whether the output buffer filled while input remained: mod_deflate then passes what it
    /// has down the chain before the end, so the response goes out without a length.
    pub streamed: bool,
    /// How many full buffers were passed on before the end.
    pub passes: usize,
}

/// Deflates `input` as one raw stream (no zlib header), fed in `chunk`-byte pieces (how the
/// file reaches the filter) through an output buffer of `buffer_size` bytes, as mod_deflate
/// drives zlib.
pub fn deflate_raw(
    input: &[u8],
    level: i32,
    window_bits: i32,
    mem_level: i32,
    buffer_size: usize,
    chunk: usize,
) -> Result<Deflated, ZlibError> {
    let mut deflater = RawDeflate::new(level, window_bits, mem_level)?;
    // SAFETY: RawDeflate::new initialised the stream; it is ended when `deflater` drops.
    let stream = unsafe { deflater.stream.assume_init_mut() };
    let buffer_size = buffer_size.clamp(1, 1 << 30);
    let mut buffer = vec![0u8; buffer_size];
    let mut out = Vec::new();
    let mut passes = 0;
    let mut crc: z::uLong = 0;
    stream.next_out = buffer.as_mut_ptr();
    stream.avail_out = buffer_size as u32;
    let result = (|| {
        for piece in input.chunks(chunk.clamp(1, 1 << 30)) {
            // SAFETY: crc32 reads `piece` within its length.
            crc = unsafe { z::crc32(crc, piece.as_ptr(), piece.len() as u32) };
            stream.next_in = piece.as_ptr() as *mut u8;
            stream.avail_in = piece.len() as u32;
            while stream.avail_in != 0 {
                if stream.avail_out == 0 {
                    passes += 1;
                    out.extend_from_slice(&buffer);
                    stream.next_out = buffer.as_mut_ptr();
                    stream.avail_out = buffer_size as u32;
                }
                // SAFETY: next_in/avail_in describe the live `piece`, next_out/avail_out
                // the unused tail of `buffer`.
                let rc = unsafe { z::deflate(stream, z::Z_NO_FLUSH) };
                if rc != z::Z_OK {
                    return Err(ZlibError(rc));
                }
            }
        }
        loop {
            if stream.avail_out == 0 {
                out.extend_from_slice(&buffer);
                stream.next_out = buffer.as_mut_ptr();
                stream.avail_out = buffer_size as u32;
            }
            // SAFETY: no input is left; next_out/avail_out are the unused tail of `buffer`.
            let rc = unsafe { z::deflate(stream, z::Z_FINISH) };
            match rc {
                z::Z_STREAM_END => break,
                z::Z_OK | z::Z_BUF_ERROR => continue,
                _ => return Err(ZlibError(rc)),
            }
        }
        let used = buffer_size - stream.avail_out as usize;
        out.extend_from_slice(&buffer[..used]);
        Ok(())
    })();
    result?;
    Ok(Deflated {
        data: out,
        crc: crc as u32,
        streamed: passes > 0,
        passes,
    })
}

/// CRC-32 of `data` continuing from `crc` (gzip's trailer checksum).
pub fn crc32(crc: u32, data: &[u8]) -> u32 {
    let mut crc = z::uLong::from(crc);
    for piece in data.chunks(1 << 30) {
        // SAFETY: crc32 reads `piece` within its length.
        crc = unsafe { z::crc32(crc, piece.as_ptr(), piece.len() as u32) };
    }
    crc as u32
}

/// A raw inflate stream (no zlib or gzip framing), driven one `inflate()` call at a time as
/// mod_deflate's input filter drives it.
pub struct RawInflate {
    /// Boxed: zlib's state points back at the stream, which must not move.
    stream: Box<MaybeUninit<z::z_stream>>,
}

/// What one `inflate()` call did.
pub struct InflateStep {
    pub consumed: usize,
    pub produced: usize,
    /// zlib's return code (Z_OK, Z_STREAM_END, or an error).
    pub code: i32,
    /// zlib's message for an error.
    pub message: String,
}

impl RawInflate {
    pub fn new(window_bits: i32) -> Result<RawInflate, ZlibError> {
        let mut stream = Box::new(MaybeUninit::<z::z_stream>::zeroed());
        // SAFETY: a zeroed z_stream (null zalloc/zfree/opaque) is how zlib wants it before
        // init; the version and size arguments are the library's own.
        let rc = unsafe {
            z::inflateInit2_(
                stream.as_mut_ptr(),
                window_bits,
                z::zlibVersion(),
                std::mem::size_of::<z::z_stream>() as i32,
            )
        };
        if rc != z::Z_OK {
            return Err(ZlibError(rc));
        }
        Ok(RawInflate { stream })
    }

    /// One `inflate(Z_NO_FLUSH)` from `input` into `output`.
    pub fn step(&mut self, input: &[u8], output: &mut [u8]) -> InflateStep {
        // SAFETY: inflateInit2_ succeeded in new(), so the stream is initialised.
        let stream = unsafe { self.stream.assume_init_mut() };
        stream.next_in = input.as_ptr() as *mut u8;
        stream.avail_in = input.len().min(u32::MAX as usize) as u32;
        stream.next_out = output.as_mut_ptr();
        stream.avail_out = output.len().min(u32::MAX as usize) as u32;
        let (in_before, out_before) = (stream.avail_in, stream.avail_out);
        // SAFETY: next_in/avail_in describe `input` and next_out/avail_out `output`, both
        // live for the call; zlib reads and writes only within them.
        let code = unsafe { z::inflate(stream, z::Z_NO_FLUSH) };
        let message = if stream.msg.is_null() {
            String::new()
        } else {
            // SAFETY: a non-null msg is a NUL-terminated static string of zlib's.
            unsafe { std::ffi::CStr::from_ptr(stream.msg) }
                .to_string_lossy()
                .into_owned()
        };
        let step = InflateStep {
            consumed: (in_before - stream.avail_in) as usize,
            produced: (out_before - stream.avail_out) as usize,
            code,
            message,
        };
        // The buffers are the caller's: zlib keeps no pointer into them between calls.
        stream.next_in = std::ptr::null_mut();
        stream.next_out = std::ptr::null_mut();
        step
    }

    /// Bytes read and written over the stream's life (zlib's total_in/total_out).
    pub fn totals(&self) -> (u64, u64) {
        // SAFETY: initialised in new().
        let stream = unsafe { self.stream.assume_init_ref() };
        // uLong is 32 bits on some platforms.
        #[allow(clippy::unnecessary_cast)]
        (stream.total_in as u64, stream.total_out as u64)
    }
}

impl Drop for RawInflate {
    fn drop(&mut self) {
        // SAFETY: initialised in new() and ended exactly once, here.
        unsafe { z::inflateEnd(self.stream.assume_init_mut()) };
    }
}

/// A raw deflate stream fed a piece at a time, for a body whose end is not known when it
/// starts (a streamed response); the same settings as [`deflate_raw`].
pub struct RawDeflate {
    /// Boxed: zlib's state points back at the stream, which must not move.
    stream: Box<MaybeUninit<z::z_stream>>,
}

impl RawDeflate {
    pub fn new(level: i32, window_bits: i32, mem_level: i32) -> Result<RawDeflate, ZlibError> {
        let mut stream = Box::new(MaybeUninit::<z::z_stream>::zeroed());
        // SAFETY: a zeroed z_stream (null zalloc/zfree/opaque) is how zlib wants it before
        // init; the version and size arguments are the library's own.
        let rc = unsafe {
            z::deflateInit2_(
                stream.as_mut_ptr(),
                level,
                z::Z_DEFLATED,
                -window_bits,
                mem_level,
                z::Z_DEFAULT_STRATEGY,
                z::zlibVersion(),
                std::mem::size_of::<z::z_stream>() as i32,
            )
        };
        if rc != z::Z_OK {
            return Err(ZlibError(rc));
        }
        Ok(RawDeflate { stream })
    }

    /// Deflates `input`, appending what zlib hands back to `out`; with `finish`, the stream
    /// ends after it (zlib keeps what it has not emitted yet until then).
    pub fn push(&mut self, input: &[u8], finish: bool, out: &mut Vec<u8>) -> Result<(), ZlibError> {
        // SAFETY: deflateInit2_ succeeded in new(), so the stream is initialised.
        let stream = unsafe { self.stream.assume_init_mut() };
        let mut buffer = [0u8; 8192];
        for piece in input.chunks(1 << 30) {
            stream.next_in = piece.as_ptr() as *mut u8;
            stream.avail_in = piece.len() as u32;
            while stream.avail_in != 0 {
                stream.next_out = buffer.as_mut_ptr();
                stream.avail_out = buffer.len() as u32;
                // SAFETY: next_in/avail_in describe the live `piece`, next_out/avail_out
                // `buffer`; zlib reads and writes only within them.
                let rc = unsafe { z::deflate(stream, z::Z_NO_FLUSH) };
                if rc != z::Z_OK {
                    return Err(ZlibError(rc));
                }
                out.extend_from_slice(&buffer[..buffer.len() - stream.avail_out as usize]);
            }
        }
        if finish {
            loop {
                stream.next_out = buffer.as_mut_ptr();
                stream.avail_out = buffer.len() as u32;
                // SAFETY: no input is left; next_out/avail_out describe `buffer`.
                let rc = unsafe { z::deflate(stream, z::Z_FINISH) };
                out.extend_from_slice(&buffer[..buffer.len() - stream.avail_out as usize]);
                match rc {
                    z::Z_STREAM_END => break,
                    z::Z_OK | z::Z_BUF_ERROR => continue,
                    _ => return Err(ZlibError(rc)),
                }
            }
        }
        // The buffers are this call's: zlib keeps no pointer into them between calls.
        stream.next_in = std::ptr::null_mut();
        stream.next_out = std::ptr::null_mut();
        Ok(())
    }
}

impl Drop for RawDeflate {
    fn drop(&mut self) {
        // SAFETY: initialised in new() and ended exactly once, here.
        unsafe { z::deflateEnd(self.stream.assume_init_mut()) };
    }
}

pub use z::{Z_OK, Z_STREAM_END};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deflates_what_inflate_restores() {
        let text = b"hello hello hello hello, deflate".repeat(100);
        let deflated = deflate_raw(&text, 6, 15, 9, 64, 1000).unwrap();
        let raw = deflated.data;
        assert!(raw.len() < text.len() / 10);
        assert_ne!(deflated.crc, 0);
        let mut inflated = vec![0u8; text.len() + 16];
        let mut stream = MaybeUninit::<z::z_stream>::zeroed();
        // SAFETY: as in deflate_raw: zeroed stream, then init, inflate with valid buffers, end.
        unsafe {
            assert_eq!(
                z::inflateInit2_(
                    stream.as_mut_ptr(),
                    -15,
                    z::zlibVersion(),
                    std::mem::size_of::<z::z_stream>() as i32
                ),
                z::Z_OK
            );
            let s = stream.assume_init_mut();
            s.next_in = raw.as_ptr() as *mut u8;
            s.avail_in = raw.len() as u32;
            s.next_out = inflated.as_mut_ptr();
            s.avail_out = inflated.len() as u32;
            assert_eq!(z::inflate(s, z::Z_FINISH), z::Z_STREAM_END);
            inflated.truncate(s.total_out as usize);
            z::inflateEnd(s);
        }
        assert_eq!(inflated, text);
    }

    #[test]
    fn a_stream_deflated_piece_by_piece_is_the_one_stream_deflated_whole() {
        let text = b"streamed piece by piece, hello hello".repeat(500);
        let whole = deflate_raw(&text, 6, 15, 9, 1 << 20, 1 << 20).unwrap().data;
        let mut stream = RawDeflate::new(6, 15, 9).unwrap();
        let mut out = Vec::new();
        for piece in text.chunks(777) {
            stream.push(piece, false, &mut out).unwrap();
        }
        stream.push(&[], true, &mut out).unwrap();
        assert_eq!(out, whole);
    }
}
