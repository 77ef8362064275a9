//! Packet storage: fixed slots indexed by extended RTP sequence number.
//!
//! # Contract
//!
//! - A packet lives in slot `seq mod slots`. Two packets with the same extended sequence number
//!   are duplicates; a packet whose slot holds a different, unplayed sequence number is too far
//!   ahead of playout and is refused ([`Insert::Collision`]), never stored over another.
//! - [`PacketBuffer::first_from`] finds the lowest stored sequence number at or after a given
//!   one: playout order is sequence order (RFC 3550 §5.1: the sequence number "may be used by
//!   the receiver ... to restore packet sequence").
//! - Payload bytes are copied into the slot; each slot holds up to the capacity given at
//!   construction (the codec's largest payload for the largest packet time).
//!
//! # Real-time
//!
//! [`PacketBuffer::new`] allocates every slot; nothing else allocates.

/// What a stored packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PacketKind {
    /// Audio of the buffer's codec.
    Audio,
    /// RFC 3389 comfort noise parameters.
    ComfortNoise,
}

/// One stored packet's facts; the payload stays in its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PacketInfo {
    /// Extended sequence number.
    pub(crate) seq: i64,
    /// Position of its first sample on the stream's timeline, in output samples.
    pub(crate) pos: i64,
    /// Samples it decodes to (0 for comfort noise).
    pub(crate) duration: usize,
    pub(crate) kind: PacketKind,
    /// Payload length in bytes.
    pub(crate) len: usize,
}

impl PacketInfo {
    /// Position just after its last sample.
    pub(crate) fn end(&self) -> i64 {
        self.pos + self.duration as i64
    }
}

#[derive(Debug)]
struct Slot {
    info: Option<PacketInfo>,
    payload: Box<[u8]>,
}

/// Why a packet was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Insert {
    Stored,
    Duplicate,
    Collision,
}

/// Fixed slots of packets waiting for playout.
#[derive(Debug)]
pub(crate) struct PacketBuffer {
    slots: Box<[Slot]>,
    count: usize,
}

impl PacketBuffer {
    /// `slots` slots of `payload_max` bytes each.
    pub(crate) fn new(slots: usize, payload_max: usize) -> Self {
        let slots = (0..slots)
            .map(|_| Slot {
                info: None,
                payload: vec![0; payload_max].into_boxed_slice(),
            })
            .collect();
        Self { slots, count: 0 }
    }

    fn index(&self, seq: i64) -> usize {
        seq.rem_euclid(self.slots.len() as i64) as usize
    }

    /// Slots: the most packets held at once.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Largest payload a slot holds.
    pub(crate) fn payload_max(&self) -> usize {
        self.slots.first().map_or(0, |s| s.payload.len())
    }

    /// Stores a packet; `payload.len()` must not exceed [`Self::payload_max`].
    pub(crate) fn insert(&mut self, info: PacketInfo, payload: &[u8]) -> Insert {
        let i = self.index(info.seq);
        let slot = &mut self.slots[i];
        match slot.info {
            Some(held) if held.seq == info.seq => return Insert::Duplicate,
            Some(_) => return Insert::Collision,
            None => {}
        }
        slot.payload[..payload.len()].copy_from_slice(payload);
        slot.info = Some(info);
        self.count += 1;
        Insert::Stored
    }

    /// True when no packet is stored.
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The stored packet with the lowest sequence number at or after `seq`, if any; searching
    /// from the lowest stored one when `seq` is `None`.
    pub(crate) fn first_from(&self, seq: Option<i64>) -> Option<PacketInfo> {
        if self.count == 0 {
            return None;
        }
        match seq {
            Some(from) => {
                for s in from..from + self.slots.len() as i64 {
                    match self.slots[self.index(s)].info {
                        Some(info) if info.seq == s => return Some(info),
                        _ => {}
                    }
                }
                // Everything stored is behind `from`: report the lowest so it is dropped.
                self.lowest()
            }
            None => self.lowest(),
        }
    }

    fn lowest(&self) -> Option<PacketInfo> {
        self.slots
            .iter()
            .filter_map(|s| s.info)
            .min_by_key(|info| info.seq)
    }

    /// True if a packet with extended sequence number `seq` is stored.
    pub(crate) fn contains(&self, seq: i64) -> bool {
        self.slots[self.index(seq)]
            .info
            .is_some_and(|info| info.seq == seq)
    }

    /// The payload of the stored packet `seq` (empty if it is not stored).
    pub(crate) fn payload(&self, seq: i64) -> &[u8] {
        let slot = &self.slots[self.index(seq)];
        match slot.info {
            Some(info) if info.seq == seq => &slot.payload[..info.len],
            _ => &[],
        }
    }

    /// Removes the packet `seq` if stored.
    pub(crate) fn remove(&mut self, seq: i64) {
        let i = self.index(seq);
        if self.slots[i].info.is_some_and(|info| info.seq == seq) {
            self.slots[i].info = None;
            self.count -= 1;
        }
    }

    /// Empties every slot; returns how many packets were dropped.
    pub(crate) fn clear(&mut self) -> usize {
        for slot in self.slots.iter_mut() {
            slot.info = None;
        }
        std::mem::take(&mut self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(seq: i64) -> PacketInfo {
        PacketInfo {
            seq,
            pos: seq * 160,
            duration: 160,
            kind: PacketKind::Audio,
            len: 2,
        }
    }

    #[test]
    fn stores_detects_duplicates_and_refuses_collisions() {
        let mut b = PacketBuffer::new(8, 4);
        assert_eq!(b.insert(info(10), &[1, 2]), Insert::Stored);
        assert_eq!(b.insert(info(10), &[1, 2]), Insert::Duplicate);
        assert_eq!(b.insert(info(18), &[3, 4]), Insert::Collision);
        assert_eq!(b.payload(10), &[1, 2]);
        assert_eq!(b.payload(18), &[] as &[u8]);
        assert!(b.contains(10) && !b.contains(18));
    }

    #[test]
    fn finds_the_next_packet_in_sequence_order() {
        let mut b = PacketBuffer::new(16, 4);
        for seq in [105, 103, 108] {
            b.insert(info(seq), &[0, 0]);
        }
        assert_eq!(b.first_from(None).map(|i| i.seq), Some(103));
        assert_eq!(b.first_from(Some(104)).map(|i| i.seq), Some(105));
        b.remove(105);
        assert_eq!(b.first_from(Some(104)).map(|i| i.seq), Some(108));
        assert_eq!(b.clear(), 2);
        assert_eq!(b.first_from(None), None);
    }
}
