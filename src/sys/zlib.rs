//! zlib's raw deflate through libz-sys, with every parameter mod_deflate sets (level, window
//! bits, memory level): the same library and settings as Apache, so the same bytes.

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
    let mut stream = MaybeUninit::<z::z_stream>::zeroed();
    // SAFETY: a zeroed z_stream (null zalloc/zfree/opaque) is how zlib wants it before init;
    // the version and size arguments are the library's own.
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
    // SAFETY: deflateInit2_ succeeded, so the stream is initialised.
    let stream = unsafe { stream.assume_init_mut() };
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
    // SAFETY: the stream was initialised by deflateInit2_ and is ended exactly once.
    unsafe { z::deflateEnd(stream) };
    result?;
    Ok(Deflated {
        data: out,
        crc: crc as u32,
        streamed: passes > 0,
        passes,
    })
}

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
}
