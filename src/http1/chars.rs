//! The byte classes HTTP's grammar is written in (RFC 9110's tchar, the control bytes a field
//! may not hold), as one table: the head parser and the response field check test every byte
//! of every field against them.

const TOKEN: u8 = 1;
const CONTROL: u8 = 2;

/// One entry a byte: which classes it belongs to.
static CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        if b.is_ascii_alphanumeric() {
            table[byte] |= TOKEN;
        }
        if (b < 0x20 && b != b'\t') || b == 0x7f {
            table[byte] |= CONTROL;
        }
        byte += 1;
    }
    let specials = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < specials.len() {
        table[specials[i] as usize] |= TOKEN;
        i += 1;
    }
    table
};

/// RFC 9110's tchar: a byte a token (a method, a field name) may hold.
#[inline]
pub fn is_token(b: u8) -> bool {
    CLASSES[b as usize] & TOKEN != 0
}

/// A control byte other than tab, or DEL (Apache's T_HTTP_CTRLS): no field value holds one.
#[inline]
pub fn is_control(b: u8) -> bool {
    CLASSES[b as usize] & CONTROL != 0
}

/// Whether any of `bytes` [`is_control`]. Every field of every request and response is
/// tested, so this runs over all the bytes with no branch or table lookup, which the
/// compiler turns into a few vector instructions for each 16 bytes.
pub fn holds_control(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |found, &b| {
        found | ((b < 0x20) & (b != b'\t')) | (b == 0x7f)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_rfc_9110s() {
        let tokens: Vec<u8> = (0..=255u8).filter(|&b| is_token(b)).collect();
        let mut expected: Vec<u8> = (b'0'..=b'9')
            .chain(b'A'..=b'Z')
            .chain(b'a'..=b'z')
            .chain(b"!#$%&'*+-.^_`|~".iter().copied())
            .collect();
        expected.sort_unstable();
        assert_eq!(tokens, expected);
        let controls: Vec<u8> = (0..=255u8).filter(|&b| is_control(b)).collect();
        let expected: Vec<u8> = (0..0x20u8).filter(|&b| b != b'\t').chain([0x7f]).collect();
        assert_eq!(controls, expected);
    }

    #[test]
    fn a_run_holds_a_control_exactly_when_one_of_its_bytes_is_one() {
        for b in 0..=255u8 {
            // Alone, and at each place of a run longer than one vector.
            assert_eq!(holds_control(&[b]), is_control(b), "{b:#x}");
            for at in [0, 15, 16, 39] {
                let mut run = [b'a'; 40];
                run[at] = b;
                assert_eq!(holds_control(&run), is_control(b), "{b:#x} at {at}");
            }
        }
        assert!(!holds_control(b""));
    }
}
