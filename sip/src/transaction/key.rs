//! Transaction matching keys (RFC 3261 §17.1.3, §17.2.3) and branch generation (§8.1.1.7).
//!
//! - A response matches a client transaction by the branch of its top Via and its CSeq
//!   method ([`ClientKey`]); the method keeps a CANCEL apart from the INVITE it cancels,
//!   which shares its branch (§9.1).
//! - A request matches a server transaction by the branch and sent-by of its top Via and
//!   its method, ACK counting as INVITE ([`ServerKey`]). A CANCEL finds the INVITE it
//!   cancels with the same key and method INVITE (§9.2).
//! - Branches without the magic cookie (RFC 2543 peers): Tandem does not implement the full
//!   §17.2.3 fallback. It builds a synthetic key from what RFC 2543 transactions share: the
//!   Request-URI, Call-ID, From tag, CSeq number and the top Via (with its sent-by and any
//!   branch). That keeps INVITE retransmissions, the ACK for a non-2xx final response and a
//!   CANCEL of such a peer on their transaction; it does not compare To tags, so two
//!   requests that differ only there (not expected from one client) would share one.
//!
//! Branch ids come from a [`BranchGenerator`] seeded by the caller: sans-IO code draws no
//! randomness of its own. Each branch is the magic cookie followed by 32 hex digits, a
//! bijective mix of the seed and a counter, so branches never repeat within one layer and
//! differ between layers seeded differently.

use std::fmt::Write as _;

use crate::message::{MAGIC_COOKIE, Method, Request, Via};

/// Identifies a client transaction (RFC 3261 §17.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    branch: Box<str>,
    method: Method,
}

impl ClientKey {
    /// The key of a request we send, or of a response we receive: top Via branch and CSeq
    /// method.
    pub(crate) fn new(branch: &str, method: Method) -> Self {
        Self {
            branch: branch.into(),
            method,
        }
    }
}

/// Identifies a server transaction (RFC 3261 §17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ServerKey {
    branch: Box<str>,
    sent_by: Box<str>,
    method: Method,
}

impl ServerKey {
    /// The key of a received request whose top Via is `via`. ACK maps to INVITE.
    pub(crate) fn for_request(request: &Request, via: &Via) -> Self {
        let method = match request.method {
            Method::Ack => Method::Invite,
            ref m => m.clone(),
        };
        let mut sent_by = String::with_capacity(48);
        let _ = write!(sent_by, "{}:{}", via.host, via.sent_by_port());
        sent_by.make_ascii_lowercase();
        let branch: Box<str> = match via.branch() {
            Some(b) if via.has_rfc3261_branch() => b.into(),
            other => {
                // RFC 2543 fallback, see the module docs.
                let h = &request.headers;
                let from_tag = h.from().ok();
                let cseq = h.cseq().map(|c| c.seq).unwrap_or(0);
                let mut k = String::with_capacity(128);
                let _ = write!(
                    k,
                    "2543;{};{};{};{};{}",
                    request.uri,
                    h.call_id().unwrap_or(""),
                    from_tag.as_ref().and_then(|f| f.tag()).unwrap_or(""),
                    cseq,
                    other.unwrap_or(""),
                );
                k.into()
            }
        };
        Self {
            branch,
            sent_by: sent_by.into(),
            method,
        }
    }

    /// The same branch and sent-by with another method (a CANCEL looking for its INVITE).
    pub(crate) fn with_method(&self, method: Method) -> Self {
        Self {
            branch: self.branch.clone(),
            sent_by: self.sent_by.clone(),
            method,
        }
    }
}

/// Generates RFC 3261 branch ids (and To tags) from a caller-supplied seed.
#[derive(Debug, Clone)]
pub(crate) struct BranchGenerator {
    seed: [u64; 2],
    counter: u64,
}

/// SplitMix64's finalizer: a bijection on u64 that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl BranchGenerator {
    pub(crate) fn new(seed: [u8; 16]) -> Self {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&seed[..8]);
        b.copy_from_slice(&seed[8..]);
        Self {
            seed: [u64::from_le_bytes(a), u64::from_le_bytes(b)],
            counter: 0,
        }
    }

    fn next_pair(&mut self) -> (u64, u64) {
        self.counter = self.counter.wrapping_add(1);
        // Odd multiplier: injective in the counter, so `h1` never repeats.
        let h1 = mix(self.seed[0].wrapping_add(self.counter.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        let h2 = mix(self.seed[1] ^ h1);
        (h1, h2)
    }

    /// A new branch: the magic cookie and 32 hex digits.
    pub(crate) fn branch(&mut self) -> String {
        let (h1, h2) = self.next_pair();
        format!("{MAGIC_COOKIE}{h1:016x}{h2:016x}")
    }

    /// A new tag (for the To of a response the layer builds itself).
    pub(crate) fn tag(&mut self) -> String {
        let (h1, _) = self.next_pair();
        format!("{h1:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{HeaderName, Host, SipUri};
    use std::collections::HashSet;

    fn request(method: Method, via: &str) -> Request {
        Request::new(
            method.clone(),
            SipUri::new(Host::Domain("b.example".into())),
        )
        .with_header(HeaderName::Via, via)
        .with_header(HeaderName::From, "<sip:a@a.example>;tag=f")
        .with_header(HeaderName::To, "<sip:b@b.example>")
        .with_header(HeaderName::CallId, "c1")
        .with_header(HeaderName::CSeq, format!("1 {method}"))
    }

    fn key(method: Method, via: &str) -> ServerKey {
        let r = request(method, via);
        ServerKey::for_request(&r, &r.headers.top_via().unwrap())
    }

    #[test]
    fn server_keys_follow_17_2_3() {
        let via = "SIP/2.0/UDP Host.Example:5060;branch=z9hG4bKabc";
        let invite = key(Method::Invite, via);
        // ACK matches the INVITE; sent-by compares case-insensitively, default port included.
        assert_eq!(
            key(Method::Ack, "SIP/2.0/UDP host.example;branch=z9hG4bKabc"),
            invite
        );
        assert_ne!(key(Method::Cancel, via), invite);
        assert_eq!(key(Method::Cancel, via).with_method(Method::Invite), invite);
        // Another sent-by or branch is another transaction.
        assert_ne!(
            key(
                Method::Invite,
                "SIP/2.0/UDP host.example:5070;branch=z9hG4bKabc"
            ),
            invite
        );
        assert_ne!(
            key(Method::Invite, "SIP/2.0/UDP host.example;branch=z9hG4bKabd"),
            invite
        );
    }

    #[test]
    fn rfc2543_requests_get_a_synthetic_key() {
        let old = "SIP/2.0/UDP host.example;branch=1";
        let k = key(Method::Invite, old);
        assert_eq!(key(Method::Ack, old), k);
        assert_ne!(key(Method::Invite, "SIP/2.0/UDP host.example;branch=2"), k);
        assert_ne!(key(Method::Invite, "SIP/2.0/UDP host.example"), k);
    }

    #[test]
    fn branches_are_unique_and_seeded() {
        let mut g = BranchGenerator::new([7; 16]);
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let b = g.branch();
            assert!(b.starts_with(MAGIC_COOKIE));
            assert_eq!(b.len(), MAGIC_COOKIE.len() + 32);
            assert!(seen.insert(b));
        }
        let mut other = BranchGenerator::new([8; 16]);
        assert!(!seen.contains(&other.branch()));
        assert_eq!(BranchGenerator::new([7; 16]).branch(), {
            let mut g = BranchGenerator::new([7; 16]);
            g.branch()
        });
    }
}
