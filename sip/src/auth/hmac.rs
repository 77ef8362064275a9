//! HMAC-SHA256 (RFC 2104) over `sha2`, for the verifier's self-validating nonces.
//!
//! Written out rather than pulled from the `hmac` crate: it is fifteen lines, and the nonce
//! MAC is its only user. Keys longer than the 64-byte block are hashed first, as RFC 2104 §2
//! says; the output is the full 32 bytes and callers truncate. Checked against RFC 4231.

use sha2::{Digest, Sha256};

/// SHA-256's block size in bytes (RFC 2104's `B`).
const BLOCK_LEN: usize = 64;

/// `HMAC-SHA256(key, message)`, where the message is the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; BLOCK_LEN];
    if key.len() > BLOCK_LEN {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for part in parts {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::algorithm::HexDigest;

    fn hex(bytes: [u8; 32]) -> String {
        HexDigest::from_bytes(&bytes).to_string()
    }

    #[test]
    fn matches_rfc4231_test_case_1() {
        let key = [0x0b; 20];
        assert_eq!(
            hex(hmac_sha256(&key, &[b"Hi There"])),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn matches_rfc4231_test_case_2_with_split_message() {
        assert_eq!(
            hex(hmac_sha256(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn matches_rfc4231_test_case_6_with_key_longer_than_a_block() {
        let key = [0xaa; 131];
        assert_eq!(
            hex(hmac_sha256(
                &key,
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
