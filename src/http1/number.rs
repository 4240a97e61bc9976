//! Integers written into response heads (Content-Length, Keep-Alive's numbers, ETags) without
//! `core::fmt`: every response has a few, and the formatter's general machinery costs several
//! times the digits themselves.

/// `n` in decimal, appended to `out`.
pub fn push_decimal(out: &mut String, n: u64) {
    push_radix::<10>(out, n);
}

/// `n` in lower-case hexadecimal, appended to `out` (as `{:x}` writes it).
pub fn push_hex(out: &mut String, n: u64) {
    // The digits are whole nibbles, read from the top: no buffer to reverse.
    let nibbles = (64 - (n | 1).leading_zeros()).div_ceil(4);
    out.reserve(nibbles as usize);
    for nibble in (0..nibbles).rev() {
        out.push(char::from(HEX_DIGITS[((n >> (4 * nibble)) & 0xf) as usize]));
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn push_radix<const RADIX: u64>(out: &mut String, mut n: u64) {
    const DIGITS: &[u8; 16] = HEX_DIGITS;
    // u64::MAX has 20 decimal digits.
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = DIGITS[(n % RADIX) as usize];
        n /= RADIX;
        if n == 0 {
            break;
        }
    }
    // Room made once; each ASCII digit is then one byte stored.
    out.reserve(buf.len() - at);
    for &digit in &buf[at..] {
        out.push(char::from(digit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_formats() {
        for n in [
            0,
            7,
            10,
            15,
            16,
            255,
            256,
            1024,
            65535,
            1 << 32,
            1_000_000_007,
            u64::MAX,
        ] {
            let mut text = String::from("x");
            push_decimal(&mut text, n);
            assert_eq!(text, format!("x{n}"));
            let mut text = String::new();
            push_hex(&mut text, n);
            assert_eq!(text, format!("{n:x}"));
        }
    }
}
