//! Strict source handling: learn the peer's address from the first valid packets of the
//! expected SSRC and payload types within a bounded window, then lock it, so that packets from
//! anywhere else are counted and dropped (the defence against "RTP bleed", CVE-2017-14099,
//! where a media relay re-learned its peer from any packet and leaked a call to an attacker).
//!
//! # Contract
//!
//! - State machine: [`SourceState::Learning`] → [`SourceState::Locked`]. It never leaves
//!   `Locked` on its own: only [`SourceFilter::relearn`], the caller's signal that the peer
//!   changed (re-INVITE, ICE restart, an operator command), goes back to learning.
//! - A packet is *valid* for learning if its payload type is one negotiated for the stream
//!   and its SSRC is the signalled one (when signalling gave one; RFC 5576 `a=ssrc`). A
//!   candidate that changes SSRC restarts its packet count. The first valid packet makes its address
//!   the candidate; the candidate locks after `learn_packets` valid packets with advancing
//!   sequence numbers, or when `learn_window_us` has passed since its first packet, whichever
//!   comes first. While learning, packets from other addresses are dropped, except from the
//!   address signalling announced (`expected_address`), which takes over from a candidate
//!   that is not it, and does so even after that candidate locked, as long as the learning
//!   window (counted from the first valid packet since learning began) is open.
//! - After locking, packets from the locked address with a negotiated payload type pass
//!   whatever their SSRC (a peer may restart its stream; [`Rewriter`](crate::rtp::Rewriter)
//!   smooths that over), and everything else is counted by reason and dropped.
//! - Unless the stream asked for media handover ([`SourceConfig::media_handover`],
//!   rtpengine's `media-handover`): then a valid packet (negotiated payload type, the
//!   signalled SSRC if any) from another address moves the lock (or, while learning, the
//!   candidate) there, so that a peer whose
//!   address changes mid-call (a phone changing networks, a NAT rebinding) keeps its media
//!   without new signalling. That reopens the "RTP bleed" hole for this stream: anyone who
//!   can reach the port can take it over. Off by default.
//! - What this cannot do: before the real peer's first packet, an attacker who guesses the
//!   port can be the candidate, and its packets pass until the signalled address speaks or,
//!   for a peer behind NAT (not from the signalled address), for good. Without authentication
//!   (SRTP) no learning rule can tell them apart; the window bounds the exposure, and the lock
//!   closes the "RTP bleed" hole of re-learning mid-call.
//! - Sans-IO and allocation-free: addresses and time (`now_us`) are arguments.

use std::net::SocketAddr;

use crate::error::SourceError;
use crate::rtp::header::{PayloadType, SeqNo, Ssrc};

/// A set of payload types, as negotiated for a stream (a 128-bit mask, no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PayloadTypeSet(u128);

impl PayloadTypeSet {
    /// The empty set.
    pub const EMPTY: PayloadTypeSet = PayloadTypeSet(0);
    /// Every payload type.
    pub const ALL: PayloadTypeSet = PayloadTypeSet(u128::MAX);

    /// The set of `types`.
    pub fn new(types: &[PayloadType]) -> PayloadTypeSet {
        types
            .iter()
            .fold(PayloadTypeSet::EMPTY, |set, &pt| set.with(pt))
    }

    /// This set plus `pt`.
    pub const fn with(self, pt: PayloadType) -> PayloadTypeSet {
        PayloadTypeSet(self.0 | 1 << pt.get())
    }

    /// True if `pt` is in the set.
    #[inline]
    pub const fn contains(self, pt: PayloadType) -> bool {
        self.0 & (1 << pt.get()) != 0
    }
}

/// What signalling says about the stream a [`SourceFilter`] guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceConfig {
    /// The SSRC signalled for the peer's stream, if any.
    pub expected_ssrc: Option<Ssrc>,
    /// The address signalling announced for the peer (SDP `c=`/`m=`), if trusted.
    pub expected_address: Option<SocketAddr>,
    /// The negotiated payload types.
    pub payload_types: PayloadTypeSet,
    /// Valid packets in sequence from one address that lock it.
    pub learn_packets: u8,
    /// The learning window, µs from the first valid packet since learning began: the
    /// candidate locks when it closes, and until then the signalled address can take over.
    pub learn_window_us: u64,
    /// Once locked, move the lock to any address that sends a valid packet (see the module
    /// docs: this gives up the defence against RTP bleed for the stream).
    pub media_handover: bool,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            expected_ssrc: None,
            expected_address: None,
            payload_types: PayloadTypeSet::ALL,
            learn_packets: 4,
            learn_window_us: 1_000_000,
            media_handover: false,
        }
    }
}

/// Where the filter is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceState {
    /// No address locked yet; `candidate` is the address being learned.
    Learning {
        /// The address, its SSRC, valid packets seen, the last sequence number and when its
        /// first packet arrived.
        candidate: Option<Candidate>,
    },
    /// The peer's address is locked.
    Locked {
        /// The locked address.
        address: SocketAddr,
    },
}

/// The address a [`SourceFilter`] is learning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Where its packets come from.
    pub address: SocketAddr,
    /// Its SSRC.
    pub ssrc: Ssrc,
    /// Valid packets in sequence so far.
    pub packets: u8,
    /// Sequence number of its latest packet.
    pub last_seq: SeqNo,
    /// When its first packet arrived, µs.
    pub since_us: u64,
}

/// Counters of a [`SourceFilter`], by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceCounters {
    /// Packets accepted.
    pub accepted: u64,
    /// Dropped: from an address other than the locked or candidate one.
    pub other_address: u64,
    /// Dropped: SSRC not the signalled one (learning only).
    pub ssrc: u64,
    /// Dropped: payload type not negotiated.
    pub payload_type: u64,
    /// Times an address was locked.
    pub locks: u64,
}

/// Learns and locks the peer's address for one stream. See the module docs.
#[derive(Debug, Clone)]
pub struct SourceFilter {
    config: SourceConfig,
    state: SourceState,
    /// First valid packet since learning began: the learning window's start.
    window_start_us: Option<u64>,
    counters: SourceCounters,
}

/// Forward jump in sequence numbers still counted as "in sequence" while learning.
const LEARN_MAX_GAP: i16 = 100;

impl SourceFilter {
    /// A filter that starts learning.
    pub fn new(config: SourceConfig) -> SourceFilter {
        SourceFilter {
            config,
            state: SourceState::Learning { candidate: None },
            window_start_us: None,
            counters: SourceCounters::default(),
        }
    }

    /// The current state.
    pub fn state(&self) -> SourceState {
        self.state
    }

    /// The locked address, if locked.
    pub fn locked_address(&self) -> Option<SocketAddr> {
        match self.state {
            SourceState::Locked { address } => Some(address),
            SourceState::Learning { .. } => None,
        }
    }

    /// The counters.
    pub fn counters(&self) -> &SourceCounters {
        &self.counters
    }

    /// The caller signals that the peer changed: learn again with `config` (new SDP).
    pub fn relearn(&mut self, config: SourceConfig) {
        self.config = config;
        self.state = SourceState::Learning { candidate: None };
        self.window_start_us = None;
    }

    /// The same peer renegotiated (new payload types, same address): keep the locked or
    /// learning state and check packets against `config` from now on.
    pub fn renegotiate(&mut self, config: SourceConfig) {
        self.config = config;
    }

    /// Decides whether a packet from `source` belongs to the stream.
    ///
    /// # Errors
    ///
    /// [`SourceError::PayloadType`], [`SourceError::Ssrc`] or [`SourceError::OtherAddress`]:
    /// drop the packet (already counted here).
    #[inline]
    pub fn handle_packet(
        &mut self,
        now_us: u64,
        source: SocketAddr,
        ssrc: Ssrc,
        payload_type: PayloadType,
        seq: SeqNo,
    ) -> Result<(), SourceError> {
        let result = self.decide(now_us, source, ssrc, payload_type, seq);
        match result {
            Ok(()) => self.counters.accepted += 1,
            Err(SourceError::PayloadType(_)) => self.counters.payload_type += 1,
            Err(SourceError::Ssrc(_)) => self.counters.ssrc += 1,
            Err(_) => self.counters.other_address += 1,
        }
        result
    }

    #[inline]
    fn decide(
        &mut self,
        now_us: u64,
        source: SocketAddr,
        ssrc: Ssrc,
        payload_type: PayloadType,
        seq: SeqNo,
    ) -> Result<(), SourceError> {
        let candidate = match self.state {
            SourceState::Locked { address } => {
                let pt_ok = self.config.payload_types.contains(payload_type);
                if source == address {
                    return if pt_ok {
                        Ok(())
                    } else {
                        Err(SourceError::PayloadType(payload_type.get()))
                    };
                }
                let signalled = self.config.expected_address == Some(source);
                let window_open = self.window_start_us.is_some_and(|start| {
                    now_us.saturating_sub(start) < self.config.learn_window_us
                });
                let ssrc_ok = self.config.expected_ssrc.is_none_or(|e| e == ssrc);
                if (self.config.media_handover || signalled && window_open) && pt_ok && ssrc_ok {
                    // The signalled peer arrived after an unsignalled candidate locked, or
                    // the peer moved and the stream allows it to.
                    self.state = SourceState::Locked { address: source };
                    self.counters.locks += 1;
                    return Ok(());
                }
                return Err(SourceError::OtherAddress);
            }
            SourceState::Learning { candidate } => candidate,
        };
        if !self.config.payload_types.contains(payload_type) {
            return Err(SourceError::PayloadType(payload_type.get()));
        }
        if self.config.expected_ssrc.is_some_and(|e| e != ssrc) {
            return Err(SourceError::Ssrc(ssrc.0));
        }
        let window_start = *self.window_start_us.get_or_insert(now_us);
        let fresh = Candidate {
            address: source,
            ssrc,
            packets: 1,
            last_seq: seq,
            since_us: now_us,
        };
        let next = match candidate {
            None => fresh,
            Some(c) if c.address == source => {
                if c.ssrc != ssrc {
                    // The candidate restarted its stream: count its packets afresh.
                    return self.keep_learning(
                        Candidate {
                            ssrc,
                            packets: 1,
                            last_seq: seq,
                            ..c
                        },
                        now_us,
                        window_start,
                    );
                }
                let step = seq.diff(c.last_seq);
                let packets = if (1..=LEARN_MAX_GAP).contains(&step) {
                    c.packets.saturating_add(1)
                } else {
                    c.packets
                };
                Candidate {
                    packets,
                    last_seq: if step > 0 { seq } else { c.last_seq },
                    ..c
                }
            }
            Some(c) => {
                let signalled = self.config.expected_address == Some(source);
                if signalled && self.config.expected_address != Some(c.address)
                    || self.config.media_handover
                {
                    // The signalled address takes over, or (media handover) the peer moved
                    // before its first address locked.
                    fresh
                } else {
                    return Err(SourceError::OtherAddress);
                }
            }
        };
        self.keep_learning(next, now_us, window_start)
    }

    /// Makes `next` the candidate, or locks it if it has enough packets or the window closed.
    fn keep_learning(
        &mut self,
        next: Candidate,
        now_us: u64,
        window_start: u64,
    ) -> Result<(), SourceError> {
        if next.packets >= self.config.learn_packets
            || now_us.saturating_sub(window_start) >= self.config.learn_window_us
        {
            self.state = SourceState::Locked {
                address: next.address,
            };
            self.counters.locks += 1;
        } else {
            self.state = SourceState::Learning {
                candidate: Some(next),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const PCMU: PayloadType = PayloadType::PCMU;

    #[test]
    fn locks_after_learn_packets_in_sequence() {
        let mut f = SourceFilter::new(SourceConfig::default());
        let peer = addr("192.0.2.1:4000");
        for i in 0..4u16 {
            assert_eq!(
                f.handle_packet(u64::from(i) * 20_000, peer, Ssrc(1), PCMU, SeqNo(100 + i)),
                Ok(())
            );
        }
        assert_eq!(f.locked_address(), Some(peer));
        assert_eq!(f.counters().locks, 1);
    }

    /// The RTP bleed test: once locked, packets from a second address — even with the right
    /// SSRC, payload type and next sequence number — are dropped and counted, forever.
    #[test]
    fn locked_source_rejects_a_second_address() {
        let mut f = SourceFilter::new(SourceConfig::default());
        let peer = addr("192.0.2.1:4000");
        let attacker = addr("198.51.100.7:5555");
        for i in 0..4u16 {
            f.handle_packet(u64::from(i) * 20_000, peer, Ssrc(1), PCMU, SeqNo(i))
                .unwrap();
        }
        for i in 4..1000u16 {
            let now = u64::from(i) * 20_000;
            assert_eq!(
                f.handle_packet(now, attacker, Ssrc(1), PCMU, SeqNo(i)),
                Err(SourceError::OtherAddress)
            );
            // The peer keeps flowing, even with silence in between.
            if i % 100 == 0 {
                assert_eq!(f.handle_packet(now, peer, Ssrc(1), PCMU, SeqNo(i)), Ok(()));
            }
        }
        assert_eq!(f.locked_address(), Some(peer));
        assert_eq!(f.counters().other_address, 996);
        assert_eq!(f.counters().locks, 1);
    }

    #[test]
    fn an_attacker_racing_the_peer_loses_to_the_signalled_address() {
        let peer = addr("192.0.2.1:4000");
        let attacker = addr("198.51.100.7:5555");
        let mut f = SourceFilter::new(SourceConfig {
            expected_address: Some(peer),
            ..SourceConfig::default()
        });
        assert_eq!(
            f.handle_packet(0, attacker, Ssrc(9), PCMU, SeqNo(1)),
            Ok(())
        );
        assert_eq!(f.handle_packet(1, peer, Ssrc(1), PCMU, SeqNo(50)), Ok(()));
        assert_eq!(
            f.handle_packet(2, attacker, Ssrc(9), PCMU, SeqNo(2)),
            Err(SourceError::OtherAddress)
        );
        for i in 0..3u16 {
            f.handle_packet(3 + u64::from(i), peer, Ssrc(1), PCMU, SeqNo(51 + i))
                .unwrap();
        }
        assert_eq!(f.locked_address(), Some(peer));
    }

    #[test]
    fn the_signalled_address_takes_over_a_locked_candidate_within_the_window() {
        let peer = addr("192.0.2.1:4000");
        let attacker = addr("198.51.100.7:5555");
        let mut f = SourceFilter::new(SourceConfig {
            expected_address: Some(peer),
            learn_packets: 2,
            ..SourceConfig::default()
        });
        f.handle_packet(0, attacker, Ssrc(9), PCMU, SeqNo(1))
            .unwrap();
        f.handle_packet(20_000, attacker, Ssrc(9), PCMU, SeqNo(2))
            .unwrap();
        assert_eq!(f.locked_address(), Some(attacker));
        assert_eq!(
            f.handle_packet(30_000, peer, Ssrc(1), PCMU, SeqNo(7)),
            Ok(())
        );
        assert_eq!(f.locked_address(), Some(peer));
        assert_eq!(
            f.handle_packet(40_000, attacker, Ssrc(9), PCMU, SeqNo(3)),
            Err(SourceError::OtherAddress)
        );
        // After the window, a lock is final even for the signalled address.
        let mut g = SourceFilter::new(SourceConfig {
            expected_address: Some(peer),
            learn_packets: 1,
            ..SourceConfig::default()
        });
        g.handle_packet(0, attacker, Ssrc(9), PCMU, SeqNo(1))
            .unwrap();
        assert_eq!(
            g.handle_packet(1_000_000, peer, Ssrc(1), PCMU, SeqNo(1)),
            Err(SourceError::OtherAddress)
        );
    }

    #[test]
    fn without_signalled_address_the_first_valid_candidate_is_kept() {
        let mut f = SourceFilter::new(SourceConfig::default());
        let a = addr("192.0.2.1:4000");
        let b = addr("192.0.2.2:4000");
        f.handle_packet(0, a, Ssrc(1), PCMU, SeqNo(1)).unwrap();
        assert_eq!(
            f.handle_packet(1, b, Ssrc(2), PCMU, SeqNo(1)),
            Err(SourceError::OtherAddress)
        );
        // The window closes: the candidate locks even without enough packets.
        assert_eq!(
            f.handle_packet(1_000_000, a, Ssrc(1), PCMU, SeqNo(9)),
            Ok(())
        );
        assert_eq!(f.locked_address(), Some(a));
    }

    #[test]
    fn wrong_payload_type_or_ssrc_does_not_learn() {
        let pts = PayloadTypeSet::new(&[PCMU, PayloadType::new(101).unwrap()]);
        let mut f = SourceFilter::new(SourceConfig {
            expected_ssrc: Some(Ssrc(7)),
            payload_types: pts,
            learn_packets: 2,
            ..SourceConfig::default()
        });
        let a = addr("[2001:db8::1]:4000");
        assert_eq!(
            f.handle_packet(0, a, Ssrc(7), PayloadType::PCMA, SeqNo(1)),
            Err(SourceError::PayloadType(8))
        );
        assert_eq!(
            f.handle_packet(0, a, Ssrc(8), PCMU, SeqNo(1)),
            Err(SourceError::Ssrc(8))
        );
        assert!(matches!(
            f.state(),
            SourceState::Learning { candidate: None }
        ));
        f.handle_packet(0, a, Ssrc(7), PCMU, SeqNo(1)).unwrap();
        // A repeated sequence number does not count towards locking.
        f.handle_packet(1, a, Ssrc(7), PCMU, SeqNo(1)).unwrap();
        assert!(f.locked_address().is_none());
        f.handle_packet(2, a, Ssrc(7), PCMU, SeqNo(2)).unwrap();
        assert_eq!(f.locked_address(), Some(a));
        // Locked: a negotiated payload type with another SSRC passes, others do not.
        assert_eq!(
            f.handle_packet(3, a, Ssrc(99), PayloadType::new(101).unwrap(), SeqNo(3)),
            Ok(())
        );
        assert_eq!(
            f.handle_packet(3, a, Ssrc(7), PayloadType::new(96).unwrap(), SeqNo(4)),
            Err(SourceError::PayloadType(96))
        );
        assert_eq!(f.counters().payload_type, 2);
        assert_eq!(f.counters().ssrc, 1);
    }

    #[test]
    fn a_candidate_that_restarts_its_ssrc_still_locks() {
        let mut f = SourceFilter::new(SourceConfig {
            learn_packets: 3,
            ..SourceConfig::default()
        });
        let a = addr("192.0.2.1:4000");
        f.handle_packet(0, a, Ssrc(1), PCMU, SeqNo(1)).unwrap();
        f.handle_packet(1, a, Ssrc(1), PCMU, SeqNo(2)).unwrap();
        f.handle_packet(2, a, Ssrc(2), PCMU, SeqNo(900)).unwrap();
        assert!(f.locked_address().is_none());
        f.handle_packet(3, a, Ssrc(2), PCMU, SeqNo(901)).unwrap();
        f.handle_packet(4, a, Ssrc(2), PCMU, SeqNo(902)).unwrap();
        assert_eq!(f.locked_address(), Some(a));
    }

    /// With media handover, a locked stream follows its peer to a new address on the first
    /// valid packet from there (and back), while invalid packets from elsewhere still fail.
    #[test]
    fn media_handover_moves_the_lock_to_a_new_address() {
        let config = SourceConfig {
            media_handover: true,
            payload_types: PayloadTypeSet::new(&[PCMU]),
            ..SourceConfig::default()
        };
        let mut f = SourceFilter::new(config);
        let (wifi, cellular) = (addr("192.0.2.1:4000"), addr("198.51.100.7:5555"));
        for i in 0..4u16 {
            f.handle_packet(u64::from(i) * 20_000, wifi, Ssrc(1), PCMU, SeqNo(i))
                .unwrap();
        }
        let wrong_type = PayloadType::new(96).unwrap();
        assert_eq!(
            f.handle_packet(100_000, cellular, Ssrc(1), wrong_type, SeqNo(5)),
            Err(SourceError::OtherAddress)
        );
        assert_eq!(
            f.locked_address(),
            Some(wifi),
            "an invalid packet moves nothing"
        );
        assert_eq!(
            f.handle_packet(120_000, cellular, Ssrc(1), PCMU, SeqNo(6)),
            Ok(())
        );
        assert_eq!(f.locked_address(), Some(cellular));
        assert_eq!(
            f.handle_packet(140_000, wifi, Ssrc(1), PCMU, SeqNo(7)),
            Ok(())
        );
        assert_eq!(f.locked_address(), Some(wifi));
        assert_eq!(f.counters().locks, 3);
    }

    #[test]
    fn relearning_only_when_signalled() {
        let mut f = SourceFilter::new(SourceConfig {
            learn_packets: 1,
            ..SourceConfig::default()
        });
        let a = addr("192.0.2.1:4000");
        let b = addr("192.0.2.9:6000");
        f.handle_packet(0, a, Ssrc(1), PCMU, SeqNo(1)).unwrap();
        assert!(
            f.handle_packet(10_000_000, b, Ssrc(2), PCMU, SeqNo(1))
                .is_err()
        );
        f.relearn(SourceConfig {
            learn_packets: 1,
            ..SourceConfig::default()
        });
        f.handle_packet(10_000_001, b, Ssrc(2), PCMU, SeqNo(1))
            .unwrap();
        assert_eq!(f.locked_address(), Some(b));
        assert_eq!(f.counters().locks, 2);
    }
}
