//! Replies remembered per cookie, so that a command the peer retransmits (its reply was lost,
//! or came late) is answered again instead of being carried out twice.
//!
//! Kamailio's rtpengine module retransmits a command with the same cookie after
//! `rtpengine_tout_ms`; an `offer` run twice would allocate a second set of ports. Bounded
//! both ways: at most [`CookieCache::capacity`] replies, each kept for [`CookieCache::ttl`];
//! the oldest goes first. Time is an argument (`now`), so tests run in virtual time.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long a reply is kept: well past any retransmission schedule (Kamailio gives up after
/// `rtpengine_retr` tries of `rtpengine_tout_ms`, a few seconds).
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// Replies kept at most: 30 s of 1,000 commands per second would need more, but past this
/// the oldest are dropped, never the process's memory.
pub const DEFAULT_CAPACITY: usize = 16_384;

/// The cache. See the module docs.
#[derive(Debug)]
pub struct CookieCache {
    replies: HashMap<Vec<u8>, (Instant, Vec<u8>)>,
    order: VecDeque<(Instant, Vec<u8>)>,
    capacity: usize,
    ttl: Duration,
}

impl Default for CookieCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY, DEFAULT_TTL)
    }
}

impl CookieCache {
    /// A cache of at most `capacity` replies, each kept for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            replies: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// Most replies kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How long a reply is kept.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Replies held now.
    pub fn len(&self) -> usize {
        self.replies.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    /// The reply already sent for `cookie`, if it is still fresh at `now`.
    pub fn get(&mut self, now: Instant, cookie: &[u8]) -> Option<&[u8]> {
        self.expire(now);
        self.replies.get(cookie).map(|(_, reply)| reply.as_slice())
    }

    /// Remembers `reply` for `cookie` from `now`.
    pub fn insert(&mut self, now: Instant, cookie: &[u8], reply: Vec<u8>) {
        self.expire(now);
        if self.replies.contains_key(cookie) {
            return;
        }
        while self.replies.len() >= self.capacity {
            match self.order.pop_front() {
                Some((_, old)) => {
                    self.replies.remove(&old);
                }
                None => break,
            }
        }
        self.replies.insert(cookie.to_vec(), (now, reply));
        self.order.push_back((now, cookie.to_vec()));
    }

    fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_duration_since(*at) < self.ttl {
                break;
            }
            if let Some((_, cookie)) = self.order.pop_front() {
                self.replies.remove(&cookie);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retransmission_gets_the_same_reply_until_it_expires() {
        let t0 = Instant::now();
        let mut cache = CookieCache::new(4, Duration::from_secs(30));
        cache.insert(t0, b"0_5141_0", b"d6:result2:oke".to_vec());
        assert_eq!(
            cache.get(t0 + Duration::from_secs(1), b"0_5141_0"),
            Some(&b"d6:result2:oke"[..])
        );
        assert_eq!(cache.get(t0, b"0_5141_1"), None);
        assert_eq!(cache.get(t0 + Duration::from_secs(30), b"0_5141_0"), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_oldest_reply_goes_when_full() {
        let t0 = Instant::now();
        let mut cache = CookieCache::new(2, Duration::from_secs(30));
        cache.insert(t0, b"a", vec![1]);
        cache.insert(t0, b"b", vec![2]);
        cache.insert(t0, b"c", vec![3]);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(t0, b"a"), None);
        assert_eq!(cache.get(t0, b"c"), Some(&[3u8][..]));
    }

    #[test]
    fn a_cookie_keeps_its_first_reply() {
        let t0 = Instant::now();
        let mut cache = CookieCache::new(2, Duration::from_secs(30));
        cache.insert(t0, b"a", vec![1]);
        cache.insert(t0, b"a", vec![2]);
        assert_eq!(cache.get(t0, b"a"), Some(&[1u8][..]));
        assert_eq!(cache.len(), 1);
    }
}
