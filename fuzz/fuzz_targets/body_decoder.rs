//! Request bodies: the first byte picks the framing (chunked, or a length) and the strictness,
//! the rest is fed to the decoder in pieces whose sizes come from the input too. It must never
//! panic, never hand out more body bytes than the input held, and a length body must be
//! exactly its length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhttpd::http1::body::{BodyDecoder, DecodeError, Framing};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let framing = if first & 1 == 0 {
        Framing::Chunked { close: false }
    } else {
        Framing::Length(u64::from(first >> 2))
    };
    let mut decoder = BodyDecoder::new(framing, first & 2 == 0);
    let (mut body, mut trailers, mut buf) = (0usize, Vec::new(), Vec::new());
    let mut data_sink = |bytes: &[u8]| -> Result<(), DecodeError> {
        body += bytes.len();
        Ok(())
    };
    // Piece sizes from the input itself: 1 to 8 bytes at a time.
    let mut at = 0;
    while at < rest.len() {
        let take = (usize::from(rest[at]) % 8 + 1).min(rest.len() - at);
        buf.extend_from_slice(&rest[at..at + take]);
        at += take;
        match decoder.decode_buffered(&mut buf, &mut data_sink, &mut trailers) {
            Ok(true) => {
                if let Framing::Length(length) = framing {
                    assert_eq!(body as u64, length);
                }
                break;
            }
            Ok(false) => {}
            Err(_) => break,
        }
    }
    assert!(body <= rest.len());
});
