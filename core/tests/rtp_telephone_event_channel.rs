//! RFC 4733 end to end in virtual time: a [`TelephoneEventSender`] feeds a
//! [`TelephoneEventReceiver`] through a seeded channel that loses, duplicates and reorders
//! packets. Every digit must come out exactly once, in order, with the sender's duration
//! whenever one of its final packets arrived (§2.5.1.4's three-fold end makes that the rule).
//!
//! The expectation is computed from what the channel delivered: a press is heard if one of its
//! packets arrived before the first packet of any later press (the receiver keeps digits in
//! order), and its duration is exact if a final packet arrived in that window with no silence
//! longer than the receiver's end timeout before it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use tandem_core::rtp::telephone_event::{
    DigitNotice, EndReason, ReceiverConfig, SenderConfig, TelephoneEvent,
};
use tandem_core::rtp::{
    EventCode, RandomSource, RtpTimestamp, SplitMix64, Ssrc, TelephoneEventReceiver,
    TelephoneEventSender,
};

const CLOCK: u32 = 8000;

/// One key press: code, start and stop in ms.
#[derive(Debug, Clone, Copy)]
struct Press {
    code: u8,
    start_ms: u64,
    stop_ms: u64,
}

impl Press {
    fn timestamp(&self) -> u32 {
        (self.start_ms * 8) as u32
    }

    fn duration(&self) -> u32 {
        ((self.stop_ms - self.start_ms) * 8) as u32
    }
}

/// A channel impairment.
#[derive(Debug, Clone, Copy)]
struct Channel {
    loss: f64,
    duplicate: f64,
    max_delay_ms: u64,
}

struct Outcome {
    presses: Vec<Press>,
    notices: Vec<DigitNotice>,
    /// Every delivery, in arrival order: (arrival ms, press index, E bit).
    arrivals: Vec<(u64, usize, bool)>,
}

/// What the receiver must report for one press.
#[derive(Debug, PartialEq)]
enum Expect {
    Nothing,
    Exact,
    Short,
}

const END_TIMEOUT_MS: u64 = 400;

fn expectations(outcome: &Outcome) -> Vec<Expect> {
    let n = outcome.presses.len();
    let first: Vec<Option<usize>> = (0..n)
        .map(|i| outcome.arrivals.iter().position(|a| a.1 == i))
        .collect();
    (0..n)
        .map(|i| {
            let cutoff = first[i + 1..]
                .iter()
                .flatten()
                .min()
                .copied()
                .unwrap_or(usize::MAX);
            let Some(start) = first[i].filter(|f| *f < cutoff) else {
                return Expect::Nothing;
            };
            let mut last_ms = outcome.arrivals[start].0;
            for &(ms, press, end) in &outcome.arrivals[start..cutoff.min(outcome.arrivals.len())] {
                if press != i {
                    continue;
                }
                if ms - last_ms > END_TIMEOUT_MS {
                    return Expect::Short;
                }
                if end {
                    return Expect::Exact;
                }
                last_ms = ms;
            }
            Expect::Short
        })
        .collect()
}

fn presses(rng: &mut SplitMix64, count: usize) -> Vec<Press> {
    let mut t = 100;
    let mut out = Vec::new();
    for i in 0..count {
        let code = (rng.next_u64() % 16) as u8;
        // One long press exercises §2.5.1.3 segments; the rest are 40–300 ms with 40–250 ms
        // pauses, and the same digit often repeats.
        let len = if i == count / 2 {
            10_000
        } else {
            40 + rng.next_u64() % 260
        };
        out.push(Press {
            code,
            start_ms: t,
            stop_ms: t + len,
        });
        t += len + 40 + rng.next_u64() % 210;
    }
    out
}

fn run(seed: u64, channel: Channel, count: usize) -> Outcome {
    let mut rng = SplitMix64::new(seed);
    let presses = presses(&mut rng, count);
    let end_ms = presses.last().map_or(0, |p| p.stop_ms) + 2_000;
    let mut sender = TelephoneEventSender::new(SenderConfig {
        clock_rate: CLOCK,
        ..SenderConfig::default()
    });
    let mut receiver = TelephoneEventReceiver::new(ReceiverConfig::default());
    // In flight: (arrival ms, packet id) -> (timestamp, marker, payload, press index).
    let mut in_flight = BinaryHeap::new();
    let mut packets: Vec<(RtpTimestamp, bool, [u8; 4], usize)> = Vec::new();
    let mut arrivals = Vec::new();
    let mut notices = Vec::new();
    let mut next_press = 0;
    let mut current: Option<usize> = None;
    for ms in 0..end_ms {
        let now = ms * 1000;
        if current.is_some_and(|i| presses[i].stop_ms == ms) {
            sender.end(now);
            current = None;
        }
        if let Some(p) = presses.get(next_press).filter(|p| p.start_ms == ms) {
            sender
                .begin(now, now, EventCode(p.code), 10, RtpTimestamp(p.timestamp()))
                .unwrap();
            current = Some(next_press);
            next_press += 1;
        }
        while let Some(t) = sender.poll_transmit(now) {
            let mut payload = [0u8; 4];
            t.event.emit(&mut payload).unwrap();
            // Which press it belongs to: the latest that started at or before its timestamp.
            let press = presses
                .iter()
                .rposition(|p| p.timestamp() <= t.timestamp.0)
                .unwrap();
            let copies = if rng.next_unit() < channel.loss {
                0
            } else if rng.next_unit() < channel.duplicate {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let id = packets.len();
                packets.push((t.timestamp, t.marker, payload, press));
                let delay = rng.next_u64() % (channel.max_delay_ms + 1);
                in_flight.push(Reverse((ms + delay, id)));
            }
        }
        while let Some(&Reverse((arrival, id))) = in_flight.peek() {
            if arrival > ms {
                break;
            }
            in_flight.pop();
            let (ts, marker, payload, press) = packets[id];
            arrivals.push((ms, press, TelephoneEvent::parse(&payload).unwrap().end));
            receiver
                .handle_packet(now, Ssrc(0x4733), ts, marker, &payload)
                .unwrap();
            notices.extend(std::iter::from_fn(|| receiver.poll_event()));
        }
        receiver.handle_timeout(now);
        notices.extend(std::iter::from_fn(|| receiver.poll_event()));
    }
    assert!(sender.is_idle());
    assert!(!receiver.is_active());
    Outcome {
        presses,
        notices,
        arrivals,
    }
}

/// Checks the exactly-once rule and durations; returns how many presses timed out.
fn check(outcome: &Outcome) -> usize {
    let ended: Vec<_> = outcome
        .notices
        .iter()
        .filter_map(|n| match *n {
            DigitNotice::Ended {
                event,
                timestamp,
                duration,
                reason,
                ..
            } => Some((event, timestamp, duration, reason)),
            DigitNotice::Began { .. } => None,
        })
        .collect();
    let began = outcome
        .notices
        .iter()
        .filter(|n| matches!(n, DigitNotice::Began { .. }))
        .count();
    assert_eq!(began, ended.len(), "one Began per Ended");
    let expect = expectations(outcome);
    let heard: Vec<(&Press, &Expect)> = outcome
        .presses
        .iter()
        .zip(&expect)
        .filter(|(_, e)| **e != Expect::Nothing)
        .collect();
    assert_eq!(
        ended.len(),
        heard.len(),
        "every heard press is one digit, no more"
    );
    let mut timeouts = 0;
    for ((event, timestamp, duration, reason), (press, expect)) in ended.iter().zip(&heard) {
        assert_eq!(event.0, press.code, "{press:?}");
        assert_eq!(timestamp.0, press.timestamp(), "{press:?}");
        if **expect == Expect::Exact {
            assert_eq!(*reason, EndReason::EndBit, "{press:?}");
            assert_eq!(*duration, press.duration(), "{press:?}");
        } else {
            // Every final packet lost or late: the digit still ends once, a little short.
            assert_ne!(*reason, EndReason::EndBit, "{press:?}");
            assert!(*duration <= press.duration(), "{press:?}");
            timeouts += 1;
        }
    }
    timeouts
}

#[test]
fn clean_channel_gives_every_digit_with_its_exact_duration() {
    let outcome = run(
        1,
        Channel {
            loss: 0.0,
            duplicate: 0.0,
            max_delay_ms: 0,
        },
        30,
    );
    assert_eq!(check(&outcome), 0);
    assert_eq!(outcome.notices.len(), 60);
    assert!(expectations(&outcome).iter().all(|e| *e == Expect::Exact));
}

#[test]
fn lossy_duplicating_reordering_channel_gives_each_digit_exactly_once() {
    let channel = Channel {
        loss: 0.1,
        duplicate: 0.1,
        max_delay_ms: 80,
    };
    let mut exact = 0;
    for seed in 1..=4 {
        let outcome = run(seed, channel, 40);
        check(&outcome);
        exact += expectations(&outcome)
            .iter()
            .filter(|e| **e == Expect::Exact)
            .count();
    }
    // Three final packets make a lost end rare at 10 % loss.
    assert!(exact >= 155, "{exact} of 160 exact");
}

#[test]
fn heavy_loss_never_duplicates_digits() {
    let channel = Channel {
        loss: 0.35,
        duplicate: 0.2,
        max_delay_ms: 120,
    };
    let mut timeouts = 0;
    for seed in 10..=12 {
        timeouts += check(&run(seed, channel, 40));
    }
    // At 35 % loss some presses lose all three final packets; they still count once.
    assert!(timeouts > 0);
}
