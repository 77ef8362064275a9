//! Randomness for signalling: To tags, SDP session ids and the transaction layer's seed.
//!
//! SIP only needs these to be unique and hard to guess (RFC 3261 §19.3: tags need 32 bits
//! of randomness), not cryptographic: std's randomly keyed SipHash over a counter gives that
//! without a dependency.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// A stream of random numbers, keyed once per process.
#[derive(Debug)]
pub(super) struct Random {
    keys: RandomState,
    counter: u64,
}

impl Random {
    /// A new stream with fresh keys.
    pub(super) fn new() -> Self {
        Self {
            keys: RandomState::new(),
            counter: 0,
        }
    }

    /// The next 64 random bits.
    pub(super) fn next_u64(&mut self) -> u64 {
        let mut hasher = self.keys.build_hasher();
        hasher.write_u64(self.counter);
        self.counter = self.counter.wrapping_add(1);
        hasher.finish()
    }

    /// A To tag: 64 random bits in hex (a token, RFC 3261 §25.1).
    pub(super) fn tag(&mut self) -> String {
        format!("{:016x}", self.next_u64())
    }

    /// 16 random bytes (the transaction layer's branch seed).
    pub(super) fn seed(&mut self) -> [u8; 16] {
        let mut seed = [0; 16];
        seed[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        seed[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        seed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_tokens_and_differ() {
        let mut random = Random::new();
        let (a, b) = (random.tag(), random.tag());
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(Random::new().seed(), Random::new().seed());
    }
}
