//! The hasher of the maps keyed by a u64 that is nobody's input: the event MPM's connection
//! tokens (the child's own sequence numbers) and the merge cache's key hashes (a SipHash under
//! the cache's own random keys). SipHash over them again cost ~150 instructions a lookup.

use std::hash::{BuildHasher, Hasher};

/// Builds [`U64Hash`]: a map `HashMap<u64, V, U64Keys>`.
#[derive(Debug, Default, Clone, Copy)]
pub struct U64Keys;

impl BuildHasher for U64Keys {
    type Hasher = U64Hash;
    fn build_hasher(&self) -> U64Hash {
        U64Hash(0)
    }
}

/// A multiply and a rotate of the key. The rotate matters: keys that share their low bits (a
/// shard's tokens share four) must not share the low bits the map places entries by.
#[derive(Debug, Default)]
pub struct U64Hash(u64);

impl Hasher for U64Hash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys come here; any other input is folded in rather than lost.
        for &byte in bytes {
            self.write_u64(self.0 ^ u64::from(byte));
        }
    }
    fn write_u64(&mut self, key: u64) {
        self.0 = key.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sharing_low_bits_spread_over_the_low_bits() {
        // Sixteen shards' worth of tokens, all in shard 3: their hashes' low 8 bits differ.
        let low: std::collections::HashSet<u64> = (0..256u64)
            .map(|i| U64Keys.hash_one(3 + 16 * i) & 0xff)
            .collect();
        assert!(low.len() > 128, "only {} of 256 low-byte values", low.len());
    }
}
