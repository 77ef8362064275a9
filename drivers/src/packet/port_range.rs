//! Port ranges for RTP/RTCP pairs and the allocator that hands them out.
//!
//! A [`PortRange`] starts on an even port and holds `(max - min + 1) / 2` pairs: RTP on the
//! even port, RTCP on the next (RFC 3550 §11). A deployment's range (DESIGN.md:
//! 20000–29999) is [split](PortRange::split) into disjoint sub-ranges, one per worker, so
//! workers never contend for ports.
//!
//! [`PortAllocator`] is a bitmap over pairs, allocated at construction. Allocation scans from
//! a cursor that moves past the last pair handed out, so a just-released pair is reused last
//! (late packets of an old call do not land in a new one), and costs at most one pass over
//! the bitmap words (`pairs / 64 + 1`). Release is O(1). Neither allocates.
//!
//! Socket ids are dense: a port's [`SocketId`] is its offset from `min`.

use crate::error::ConfigError;
use crate::packet::SocketId;

/// An inclusive range of UDP ports starting on an even port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    min: u16,
    max: u16,
}

impl PortRange {
    /// DESIGN.md's default media range.
    pub const DEFAULT: Self = Self {
        min: 20000,
        max: 29999,
    };

    /// `min..=max`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::PortRange`] unless `min` is even and non-zero and `max > min`.
    pub const fn new(min: u16, max: u16) -> Result<Self, ConfigError> {
        if min == 0 || min % 2 != 0 || max <= min {
            return Err(ConfigError::PortRange { min, max });
        }
        Ok(Self { min, max })
    }

    /// First port (even).
    pub const fn min(&self) -> u16 {
        self.min
    }

    /// Last port.
    pub const fn max(&self) -> u16 {
        self.max
    }

    /// Number of RTP/RTCP pairs (an odd trailing port is unused).
    pub const fn pairs(&self) -> usize {
        (self.max as usize - self.min as usize).div_ceil(2)
    }

    /// Number of ports that can be in use: `2 * pairs()`, the bound on socket ids.
    pub const fn ports(&self) -> usize {
        self.pairs() * 2
    }

    /// Whether `port` belongs to one of the range's pairs.
    pub const fn contains(&self, port: u16) -> bool {
        port >= self.min && ((port - self.min) as usize) < self.ports()
    }

    /// The socket id of `port`, when it is in the range.
    pub const fn socket_id(&self, port: u16) -> Option<SocketId> {
        if self.contains(port) {
            Some(SocketId::new((port - self.min) as u32))
        } else {
            None
        }
    }

    /// The port of a socket id, when it is in the range.
    pub const fn port(&self, socket: SocketId) -> Option<u16> {
        if socket.index() < self.ports() {
            Some(self.min + socket.get() as u16)
        } else {
            None
        }
    }

    /// Part `index` of `parts` disjoint sub-ranges with (almost) equal numbers of pairs;
    /// the first `pairs % parts` parts get one pair more.
    ///
    /// # Errors
    ///
    /// [`ConfigError::PortRangeSplit`] when `index >= parts` or a part would be empty.
    pub const fn split(&self, parts: usize, index: usize) -> Result<Self, ConfigError> {
        let pairs = self.pairs();
        if parts == 0 || index >= parts || pairs < parts {
            return Err(ConfigError::PortRangeSplit {
                pairs,
                parts,
                index,
            });
        }
        let base = pairs / parts;
        let extra = pairs % parts;
        let before = index * base + if index < extra { index } else { extra };
        let count = base + if index < extra { 1 } else { 0 };
        let min = self.min as usize + 2 * before;
        let max = min + 2 * count - 1;
        Ok(Self {
            min: min as u16,
            max: max as u16,
        })
    }
}

/// Which pairs of a [`PortRange`] are in use.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    range: PortRange,
    used: Vec<u64>,
    cursor: usize,
    in_use: usize,
}

impl PortAllocator {
    /// All pairs free. Allocates the bitmap.
    pub fn new(range: PortRange) -> Self {
        Self {
            range,
            used: vec![0; range.pairs().div_ceil(64)],
            cursor: 0,
            in_use: 0,
        }
    }

    /// The range.
    pub const fn range(&self) -> PortRange {
        self.range
    }

    /// Pairs in use.
    pub const fn in_use(&self) -> usize {
        self.in_use
    }

    /// Takes the next free pair at or after the cursor (wrapping) and returns its RTP port.
    /// `None` when every pair is in use. Does not allocate.
    pub fn allocate(&mut self) -> Option<u16> {
        let pairs = self.range.pairs();
        if self.in_use == pairs {
            return None;
        }
        let words = self.used.len();
        let start = self.cursor % pairs;
        // One pass over the words, starting with the cursor's word (bits below the cursor
        // masked off) and ending with the same word again (only the bits below the cursor).
        for step in 0..=words {
            let w = (start / 64 + step) % words;
            let mut free = !self.used[w];
            if step == 0 {
                free &= u64::MAX << (start % 64);
            } else if step == words {
                free &= (1u64 << (start % 64)).wrapping_sub(1);
            }
            // Bits past the last pair are never free.
            let valid = pairs - w * 64;
            if valid < 64 {
                free &= (1u64 << valid) - 1;
            }
            if free != 0 {
                let bit = free.trailing_zeros() as usize;
                let pair = w * 64 + bit;
                self.used[w] |= 1 << bit;
                self.in_use += 1;
                self.cursor = (pair + 1) % pairs;
                return Some(self.range.min + 2 * pair as u16);
            }
        }
        None
    }

    /// Frees the pair whose RTP port is `rtp_port`. Returns `false` when it was not in use
    /// (or is not a pair of the range).
    pub fn release(&mut self, rtp_port: u16) -> bool {
        let Some(pair) = self.pair_index(rtp_port) else {
            return false;
        };
        let (w, bit) = (pair / 64, pair % 64);
        if self.used[w] & (1 << bit) == 0 {
            return false;
        }
        self.used[w] &= !(1 << bit);
        self.in_use -= 1;
        true
    }

    /// Whether the pair holding `port` (RTP or RTCP) is in use.
    pub fn is_open(&self, port: u16) -> bool {
        if !self.range.contains(port) {
            return false;
        }
        let pair = (port - self.range.min) as usize / 2;
        self.used[pair / 64] & (1 << (pair % 64)) != 0
    }

    fn pair_index(&self, rtp_port: u16) -> Option<usize> {
        if !self.range.contains(rtp_port) || (rtp_port - self.range.min) % 2 != 0 {
            return None;
        }
        Some((rtp_port - self.range.min) as usize / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_odd_start_and_empty_ranges() {
        assert!(PortRange::new(20001, 20010).is_err());
        assert!(PortRange::new(20000, 20000).is_err());
        assert!(PortRange::new(0, 10).is_err());
        let r = PortRange::new(20000, 20001).unwrap();
        assert_eq!(r.pairs(), 1);
        let r = PortRange::new(20000, 20004).unwrap();
        assert_eq!(r.pairs(), 2, "a trailing odd port is unused");
        assert!(!r.contains(20004));
        assert_eq!(PortRange::DEFAULT.pairs(), 5000);
    }

    #[test]
    fn allocates_every_pair_once_then_reports_exhaustion() {
        let range = PortRange::new(30000, 30000 + 2 * 130 - 1).unwrap();
        let mut a = PortAllocator::new(range);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..130 {
            let port = a.allocate().unwrap();
            assert_eq!(port % 2, 0);
            assert!(range.contains(port) && range.contains(port + 1));
            assert!(seen.insert(port));
        }
        assert_eq!(a.allocate(), None);
        assert_eq!(a.in_use(), 130);
        assert!(a.release(30010));
        assert!(!a.release(30010), "double release");
        assert!(!a.release(30011), "odd port is not a pair");
        assert_eq!(a.allocate(), Some(30010));
        assert_eq!(a.allocate(), None);
    }

    #[test]
    fn reuses_a_released_pair_last() {
        let range = PortRange::new(40000, 40007).unwrap();
        let mut a = PortAllocator::new(range);
        assert_eq!(a.allocate(), Some(40000));
        assert!(a.release(40000));
        assert_eq!(a.allocate(), Some(40002));
        assert_eq!(a.allocate(), Some(40004));
        assert_eq!(a.allocate(), Some(40006));
        assert_eq!(a.allocate(), Some(40000));
    }

    #[test]
    fn split_covers_the_range_without_overlap() {
        let range = PortRange::new(20000, 29999).unwrap();
        for parts in [1, 2, 3, 7, 64] {
            let mut next = range.min();
            let mut pairs = 0;
            for i in 0..parts {
                let part = range.split(parts, i).unwrap();
                assert_eq!(part.min(), next);
                next = part.max() + 1;
                pairs += part.pairs();
            }
            assert_eq!(pairs, range.pairs());
        }
        assert!(range.split(2, 2).is_err());
        assert!(PortRange::new(20000, 20003).unwrap().split(3, 0).is_err());
    }

    #[test]
    fn socket_ids_are_offsets_from_min() {
        let range = PortRange::new(20000, 20009).unwrap();
        assert_eq!(range.socket_id(20003), Some(SocketId::new(3)));
        assert_eq!(range.port(SocketId::new(9)), Some(20009));
        assert_eq!(range.port(SocketId::new(10)), None);
        assert_eq!(range.socket_id(20010), None);
    }
}
