//! The jitter buffer's behaviours, one test each, in virtual time: a sender encodes a
//! speech-like signal into 20 ms RTP packets, a scripted network decides when each arrives, and
//! the receiver pops 10 ms frames on its own clock. Nothing here reads a clock.

use tandem_codecs::{EncoderConfig, Format, registry};
use tandem_dsp::jitter::{
    JitterBuffer, JitterConfig, JitterConfigError, JitterStats, PlayoutEvent, PlayoutMode,
    PopError, PushError, PushOutcome, RtpPacket,
};

const PTIME_US: u64 = 20_000;
const FRAME_US: u64 = 10_000;
/// One-way delay of the scripted network before jitter.
const BASE_US: u64 = 30_000;

/// A packet as the network carries it.
#[derive(Clone, Debug)]
struct Packet {
    seq: u16,
    ts: u32,
    marker: bool,
    ssrc: u32,
    pt: u8,
    payload: Vec<u8>,
}

impl Packet {
    fn rtp(&self) -> RtpPacket<'_> {
        RtpPacket {
            sequence_number: self.seq,
            timestamp: self.ts,
            marker: self.marker,
            ssrc: self.ssrc,
            payload_type: self.pt,
            payload: &self.payload,
        }
    }
}

/// Vowel-like audio (a 130 Hz fundamental with harmonics, varying slowly in pitch and level)
/// with a 400 ms pause every 1.2 s, like speech between phrases.
fn speechlike(rate: u32, ms: u64) -> Vec<i16> {
    let n = (rate as u64 * ms / 1000) as usize;
    let mut phase = 0.0f64;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let in_pause = (t % 1.2) > 0.8;
            let f0 = 130.0 + 20.0 * (t * 0.7).sin();
            phase += 2.0 * std::f64::consts::PI * f0 / rate as f64;
            if in_pause {
                return ((i * 7919) % 61) as i16 - 30;
            }
            let level = 5000.0 * (0.6 + 0.4 * (t * 2.3).sin().abs());
            let s = phase.sin() + 0.5 * (2.0 * phase).sin() + 0.3 * (3.0 * phase).sin();
            (level * s) as i16
        })
        .collect()
}

/// `count` packets of `format` carrying speech-like audio, from sequence number `seq0`.
fn packets(format: Format, pt: u8, count: usize, seq0: u16, ts0: u32, ssrc: u32) -> Vec<Packet> {
    let pcm = speechlike(format.sample_rate, count as u64 * 20);
    packets_of(format, pt, &pcm, seq0, ts0, ssrc)
}

/// `pcm` in 20 ms packets of `format`.
fn packets_of(format: Format, pt: u8, pcm: &[i16], seq0: u16, ts0: u32, ssrc: u32) -> Vec<Packet> {
    let mut encoder = registry::new_encoder(format, &EncoderConfig::default()).unwrap();
    let frame = format.samples_in_ms(20);
    let ts_step = format.descriptor().rtp_clock_rate(format.sample_rate) / 50;
    let mut buf = vec![0u8; 4000];
    pcm.chunks_exact(frame)
        .enumerate()
        .map(|(i, chunk)| {
            let n = encoder.encode(chunk, &mut buf).unwrap();
            Packet {
                seq: seq0.wrapping_add(i as u16),
                ts: ts0.wrapping_add(i as u32 * ts_step),
                marker: i == 0,
                ssrc,
                pt,
                payload: buf[..n].to_vec(),
            }
        })
        .collect()
}

fn pcmu(count: usize) -> Vec<Packet> {
    packets(Format::PCMU, 0, count, 1000, 50_000, 0xA)
}

/// Send time of packet `i` (the end of its 20 ms of audio).
fn sent(i: usize) -> u64 {
    (i as u64 + 1) * PTIME_US
}

/// Arrivals over a jitter-free link.
fn on_time(packets: &[Packet]) -> Vec<(u64, Packet)> {
    packets
        .iter()
        .enumerate()
        .map(|(i, p)| (sent(i) + BASE_US, p.clone()))
        .collect()
}

/// What a receiver saw.
#[derive(Default)]
struct Trace {
    events: Vec<PlayoutEvent>,
    /// Current delay after each pop, ms.
    delays: Vec<u32>,
    targets: Vec<u32>,
    pushes: Vec<(u16, Result<PushOutcome, PushError>)>,
    pcm: Vec<i16>,
}

/// Delivers `arrivals` (any order) and pops a frame every 10 ms until `until_us`.
/// Runs `jb` until 100 ms after the last arrival and checks that each of the `sent` packets
/// was played or lost exactly once; `context` names the case in the failure.
fn run_to_end(
    jb: &mut JitterBuffer,
    arrivals: Vec<(u64, Packet)>,
    sent: u64,
    context: &str,
) -> (Trace, JitterStats) {
    let until = end_of(&arrivals) + 100_000;
    let trace = run(jb, arrivals, until);
    let s = *jb.stats();
    assert_eq!(
        s.packets_played + s.packets_lost,
        sent,
        "{context}: every packet played or lost once: {s:?}"
    );
    (trace, s)
}

fn run(jb: &mut JitterBuffer, mut arrivals: Vec<(u64, Packet)>, until_us: u64) -> Trace {
    arrivals.sort_by_key(|(at, _)| *at);
    let mut trace = Trace::default();
    let mut frame = vec![0i16; jb.frame_samples()];
    let mut next = 0;
    let mut now = 0;
    while now < until_us {
        while next < arrivals.len() && arrivals[next].0 <= now {
            let (at, p) = &arrivals[next];
            trace.pushes.push((p.seq, jb.push(*at, &p.rtp())));
            next += 1;
        }
        trace.events.push(jb.pop(now, &mut frame).unwrap());
        trace.delays.push(jb.stats().current_delay_ms);
        trace.targets.push(jb.stats().target_delay_ms);
        trace.pcm.extend_from_slice(&frame);
        now += FRAME_US;
    }
    trace
}

/// Just after the last arrival: the end of a test stream is not a gap to conceal.
fn end_of(arrivals: &[(u64, Packet)]) -> u64 {
    arrivals.iter().map(|a| a.0).max().unwrap_or(0) + 10_000
}

fn buffer() -> JitterBuffer {
    JitterBuffer::new(Format::PCMU, &JitterConfig::new(0)).unwrap()
}

/// A PCMU buffer that keeps at least `min_delay_ms` of delay, otherwise the defaults.
fn buffer_delayed(min_delay_ms: u32) -> JitterBuffer {
    let mut config = JitterConfig::new(0);
    config.min_delay_ms = min_delay_ms;
    JitterBuffer::new(Format::PCMU, &config).unwrap()
}

/// A PCMU buffer in playout mode `mode`, otherwise the defaults.
fn buffer_in(mode: PlayoutMode) -> JitterBuffer {
    let mut config = JitterConfig::new(0);
    config.mode = mode;
    JitterBuffer::new(Format::PCMU, &config).unwrap()
}

fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

#[test]
fn plays_every_packet_in_order_on_a_clean_link() {
    let p = pcmu(250);
    let mut jb = buffer();
    let arrivals = on_time(&p);
    let until = end_of(&arrivals) + 50_000;
    let trace = run(&mut jb, arrivals, until);
    let s = jb.stats();
    assert_eq!(s.packets_played, 250);
    assert_eq!(
        (s.packets_lost, s.packets_late, s.packets_discarded),
        (0, 0, 0)
    );
    // The end of the stream is concealed like any gap; nothing before it.
    let last_normal = trace
        .events
        .iter()
        .rposition(|e| *e == PlayoutEvent::Normal)
        .unwrap();
    assert!(
        trace.events[..last_normal]
            .iter()
            .all(|e| *e != PlayoutEvent::Concealed),
        "{:?}",
        trace.events
    );
    assert!(trace.delays[last_normal] <= 45, "{s:?}");
}

#[test]
fn waits_for_the_initial_target_before_playing() {
    let p = pcmu(50);
    let mut jb = buffer();
    let trace = run(&mut jb, on_time(&p), 600_000);
    let first = trace
        .events
        .iter()
        .position(|e| *e != PlayoutEvent::Buffering)
        .unwrap();
    // The first packet arrives at 50 ms and plays one initial target (40 ms) later, give or
    // take a frame.
    let starts_ms = first as u64 * 10;
    assert!((80..=100).contains(&starts_ms), "starts at {starts_ms} ms");
    assert_eq!(trace.events[first], PlayoutEvent::Normal);
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let p = pcmu(100);
    let mut arrivals = on_time(&p);
    arrivals.extend(on_time(&p).into_iter().map(|(at, p)| (at + 3_000, p)));
    let mut jb = buffer();
    let trace = run(&mut jb, arrivals, 2_500_000);
    let s = jb.stats();
    assert_eq!(s.packets_duplicate, 100);
    assert_eq!(s.packets_played, 100);
    assert_eq!(s.packets_lost, 0);
    let dups = trace
        .pushes
        .iter()
        .filter(|(_, r)| matches!(r, Err(PushError::Duplicate { .. })))
        .count();
    assert_eq!(dups, 100);
}

#[test]
fn packets_overtaken_within_the_target_are_reordered_not_lost() {
    let p = pcmu(200);
    let mut arrivals = on_time(&p);
    // Every tenth packet is overtaken by its successor, 8 ms behind.
    for (i, a) in arrivals.iter_mut().enumerate() {
        if i % 10 == 5 {
            a.0 += PTIME_US + 8_000;
        }
    }
    let mut jb = buffer();
    run(&mut jb, arrivals, 4_500_000);
    let s = jb.stats();
    assert_eq!(s.packets_reordered, 20);
    assert_eq!((s.packets_lost, s.packets_late), (0, 0), "{s:?}");
    assert_eq!(s.packets_played, 200);
}

#[test]
fn a_lost_packet_is_concealed_for_its_duration() {
    let p = pcmu(200);
    let mut arrivals = on_time(&p);
    arrivals.remove(100);
    let mut jb = buffer();
    let until = end_of(&arrivals) + 60_000;
    let trace = run(&mut jb, arrivals, until);
    let s = jb.stats();
    assert_eq!((s.packets_lost, s.packets_played), (1, 199));
    // At most 20 ms of concealment, touching one to three 10 ms frames (the end of the stream
    // aside); less when playout runs above its target and skips part of the gap instead.
    let last_normal = trace
        .events
        .iter()
        .rposition(|e| *e == PlayoutEvent::Normal)
        .unwrap();
    let concealed = trace.events[..last_normal]
        .iter()
        .filter(|e| **e == PlayoutEvent::Concealed)
        .count();
    assert!((1..=3).contains(&concealed), "{concealed} {s:?}");
    // The delay is the same after the loss as before it.
    // The delay after the loss is no higher than before it.
    let before = trace.delays[150];
    let after = trace.delays[last_normal - 5];
    assert!(after <= before + 2, "{before} then {after}");
}

#[test]
fn a_packet_arriving_after_its_successors_played_is_late() {
    let p = pcmu(200);
    let mut arrivals = on_time(&p);
    arrivals[100].0 += 300_000;
    let mut jb = buffer();
    let trace = run(&mut jb, arrivals, 4_500_000);
    let s = jb.stats();
    assert_eq!(
        (s.packets_late, s.packets_lost, s.packets_played),
        (1, 1, 199)
    );
    assert!(
        trace
            .pushes
            .iter()
            .any(|(seq, r)| *seq == p[100].seq && matches!(r, Err(PushError::Late { .. })))
    );
}

#[test]
fn a_short_stall_is_waited_out_without_losing_audio() {
    // The link stalls for 15 ms: packets 100.. arrive 15 ms late, back to back.
    let p = pcmu(300);
    let mut arrivals = on_time(&p);
    for a in arrivals.iter_mut().skip(100) {
        a.0 += 15_000;
    }
    let mut jb = buffer();
    run(&mut jb, arrivals, 6_500_000);
    let s = jb.stats();
    assert_eq!((s.packets_lost, s.packets_late), (0, 0), "{s:?}");
    assert_eq!(s.packets_played, 300);
}

#[test]
fn the_target_follows_jitter_up_and_back_down() {
    let p = pcmu(2000);
    let mut arrivals = on_time(&p);
    // 10 s of jitter up to 80 ms (a FIFO link: no reordering), then 30 s of calm.
    let mut seed = 7u64;
    let mut fifo = 0;
    for (i, a) in arrivals.iter_mut().enumerate().take(500) {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let jitter = (seed >> 33) % 80_000;
        a.0 = (sent(i) + BASE_US + jitter).max(fifo);
        fifo = a.0;
    }
    let mut jb = buffer();
    let trace = run(&mut jb, arrivals, sent(1999) + BASE_US);
    let rough = trace.targets[900];
    let calm = *trace.targets.last().unwrap();
    assert!(rough >= 70, "target under jitter {rough} ms");
    assert!(calm <= 30, "target after calm {calm} ms");
    let s = jb.stats();
    assert!(
        s.packets_lost + s.packets_late <= 20,
        "{s:?}: under 1 % of packets given up"
    );
}

#[test]
fn a_single_delay_spike_does_not_raise_the_target_for_long() {
    let p = pcmu(600);
    let mut arrivals = on_time(&p);
    // At 4 s the link stalls for 250 ms and then delivers the backlog at once.
    let stall_end = sent(200) + BASE_US + 250_000;
    for a in arrivals.iter_mut() {
        if a.0 > sent(200) && a.0 < stall_end {
            a.0 = stall_end;
        }
    }
    let mut jb = buffer();
    let trace = run(&mut jb, arrivals, sent(599) + BASE_US);
    let s = jb.stats();
    assert!(trace.delays.iter().all(|&d| d <= 500));
    let later = trace.targets[1000];
    assert!(
        later <= 60,
        "target 6 s after the spike: {later} ms ({s:?})"
    );
    assert!(*trace.delays.last().unwrap() <= 60, "{s:?}");
}

#[test]
fn the_delay_never_exceeds_the_maximum() {
    let mut config = JitterConfig::new(0);
    config.max_delay_ms = 200;
    let mut jb = JitterBuffer::new(Format::PCMU, &config).unwrap();
    let p = pcmu(400);
    let mut arrivals = on_time(&p);
    // A 1.5 s outage, then everything at once.
    let outage_end = sent(100) + BASE_US + 1_500_000;
    for a in arrivals.iter_mut() {
        if a.0 > sent(100) && a.0 < outage_end {
            a.0 = outage_end;
        }
    }
    let trace = run(&mut jb, arrivals, sent(399) + BASE_US + 500_000);
    let max = trace.delays.iter().max().unwrap();
    assert!(*max <= 200, "delay reached {max} ms");
    let s = jb.stats();
    assert!(s.packets_late + s.packets_discarded > 0, "{s:?}");
}

#[test]
fn dtx_silence_is_neither_loss_nor_a_concealment_storm() {
    // One second of talk, three seconds without packets (sequence numbers continue, the
    // timestamp jumps, the marker bit starts the next talkspurt), one more second of talk.
    let mut p = pcmu(100);
    let mut second = packets(Format::PCMU, 0, 50, 1050, 50_000 + 50 * 160 + 3 * 8000, 0xA);
    second[0].marker = true;
    p.truncate(50);
    let mut arrivals = on_time(&p);
    arrivals.extend(
        second
            .iter()
            .enumerate()
            .map(|(i, q)| (sent(50 + i) + 3_000_000 + BASE_US, q.clone())),
    );
    let mut jb = buffer();
    let until = end_of(&arrivals) + 40_000;
    let trace = run(&mut jb, arrivals, until);
    let s = jb.stats();
    assert_eq!(s.packets_lost, 0);
    assert_eq!(s.packets_played, 100);
    // 60 ms of fading concealment, over 10 ms frames that need not line up with it.
    assert!(s.frames_concealed <= 8, "{s:?}");
    assert!(s.frames_silence >= 280, "{s:?}");
    assert!(
        *trace.targets.last().unwrap() <= 40,
        "no delay inflation: {s:?}"
    );
    assert_eq!(s.talkspurts, 2);
}

#[test]
fn comfort_noise_fills_silence_at_the_signalled_level() {
    let mut p = pcmu(50);
    // RFC 3389 comfort noise at -50 dBov right after the talkspurt, then one second without
    // packets.
    let cn = Packet {
        seq: 1050,
        ts: 50_000 + 50 * 160,
        marker: false,
        ssrc: 0xA,
        pt: 13,
        payload: vec![50],
    };
    let mut second = packets(Format::PCMU, 0, 50, 1051, 50_000 + 50 * 160 + 8000, 0xA);
    second[0].marker = true;
    p.truncate(50);
    let mut arrivals = on_time(&p);
    arrivals.push((sent(49) + BASE_US + 1_000, cn));
    arrivals.extend(
        second
            .iter()
            .enumerate()
            .map(|(i, q)| (sent(50 + i) + 1_000_000 + BASE_US, q.clone())),
    );
    let mut jb = buffer();
    // Until the last packet plays, not past its end (concealment there is the stream ending).
    let until = end_of(&arrivals) + 10_000;
    let trace = run(&mut jb, arrivals, until);
    let s = jb.stats();
    assert_eq!((s.packets_lost, s.frames_concealed), (0, 0), "{s:?}");
    assert!(s.frames_comfort_noise >= 95, "{s:?}");
    let noise: Vec<i16> = trace
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| **e == PlayoutEvent::ComfortNoise)
        .flat_map(|(i, _)| trace.pcm[i * 80..(i + 1) * 80].to_vec())
        .collect();
    let expected = 32768.0 * 10f64.powf(-50.0 / 20.0);
    let got = rms(&noise);
    assert!((got / expected - 1.0).abs() < 0.3, "{got} vs {expected}");
}

#[test]
fn a_talkspurt_starts_at_the_current_target() {
    // The first talkspurt ends with a stall that raises the delay; after a second of silence
    // the next talkspurt starts at the target again instead of carrying the excess over.
    let mut p = pcmu(100);
    let mut second = packets(Format::PCMU, 0, 100, 1100, 50_000 + 100 * 160 + 8000, 0xA);
    second[0].marker = true;
    p.truncate(100);
    let mut arrivals = on_time(&p);
    for a in arrivals.iter_mut().skip(90) {
        a.0 += 15_000;
    }
    arrivals.extend(
        second
            .iter()
            .enumerate()
            .map(|(i, q)| (sent(100 + i) + 1_000_000 + BASE_US, q.clone())),
    );
    let mut jb = buffer();
    let trace = run(&mut jb, arrivals, sent(199) + 1_000_000 + BASE_US);
    // The first frame of the second talkspurt.
    let start = (sent(100) + 1_000_000) / FRAME_US;
    let first = (start as usize..trace.events.len())
        .find(|&i| trace.events[i] == PlayoutEvent::Normal)
        .unwrap();
    let (delay, target) = (trace.delays[first], trace.targets[first]);
    assert!(
        delay.abs_diff(target) <= 10,
        "talkspurt starts at {delay} ms, target {target} ms"
    );
    assert_eq!(jb.stats().packets_lost, 0);
}

#[test]
fn an_ssrc_change_starts_a_new_stream() {
    let a = pcmu(100);
    let b = packets(Format::PCMU, 0, 100, 40_000, 9_999_999, 0xB);
    let mut arrivals = on_time(&a);
    arrivals.extend(
        b.iter()
            .enumerate()
            .map(|(i, p)| (sent(100 + i) + BASE_US, p.clone())),
    );
    // A straggler from the old source after the switch.
    arrivals.push((sent(105) + BASE_US, a[99].clone()));
    let mut jb = buffer();
    let trace = run(&mut jb, arrivals, sent(199) + BASE_US + 60_000);
    let s = jb.stats();
    assert_eq!(s.stream_resets, 1);
    // The new stream replaces what the old one still had stored.
    assert_eq!(s.packets_played + s.packets_discarded, 200, "{s:?}");
    assert!(s.packets_discarded <= 2, "{s:?}");
    assert_eq!(s.packets_lost, 0);
    assert!(
        trace
            .pushes
            .iter()
            .any(|(_, r)| *r == Ok(PushOutcome::NewStream))
    );
    assert!(
        trace
            .pushes
            .iter()
            .any(|(_, r)| matches!(r, Err(PushError::StaleSsrc { .. })))
    );
}

/// 200 packets on a jitter-free link whose sequence numbers run on while the timestamps of
/// packets 100.. are moved by `shift` (RTP clock units), or of packet 100 alone if
/// `only_one`. Returns the trace and the stats, having checked that every packet was played.
fn timestamp_jump(shift: u32, only_one: bool) -> (Trace, JitterStats) {
    let mut p = pcmu(200);
    for q in &mut p[100..if only_one { 101 } else { 200 }] {
        q.ts = q.ts.wrapping_add(shift);
    }
    let mut jb = buffer();
    let arrivals = on_time(&p);
    let until = end_of(&arrivals) + 60_000;
    let trace = run(&mut jb, arrivals, until);
    let s = *jb.stats();
    assert_eq!(
        (s.packets_played, s.packets_lost, s.packets_discarded),
        (200, 0, 0),
        "shift {shift}: {s:?}"
    );
    assert!(
        trace.pushes.iter().all(|(_, r)| r.is_ok()),
        "shift {shift}: {:?}",
        trace.pushes.iter().find(|(_, r)| r.is_err())
    );
    (trace, s)
}

#[test]
fn a_timestamp_jump_with_running_sequence_numbers_plays_straight_through() {
    // A media server that switched its source kept its SSRC and numbering: the timestamps
    // leap an hour ahead, 0.8 s ahead, or an hour back. Nothing is lost, reset or concealed:
    // the jumped packets join the ones before them (the stretches are the delay settling from
    // its initial value in the signal's pauses, as without a jump).
    for shift in [3600 * 8000, 6400, 0u32.wrapping_sub(3600 * 8000)] {
        let (trace, s) = timestamp_jump(shift, false);
        assert_eq!((s.timestamp_jumps, s.stream_resets), (1, 0), "{s:?}");
        let first_normal = trace.events.iter().position(|e| *e == PlayoutEvent::Normal);
        let last_normal = trace
            .events
            .iter()
            .rposition(|e| *e == PlayoutEvent::Normal);
        assert!(
            trace.events[first_normal.unwrap()..=last_normal.unwrap()]
                .iter()
                .all(|e| matches!(
                    e,
                    PlayoutEvent::Normal | PlayoutEvent::Accelerated | PlayoutEvent::Decelerated
                )),
            "shift {shift}: {:?}",
            trace.events
        );
    }
}

#[test]
fn a_single_corrupt_timestamp_costs_nothing() {
    // Packet 100 alone carries a timestamp an hour off; packet 101 is back on the timeline.
    let (_, s) = timestamp_jump(3600 * 8000, true);
    assert_eq!((s.timestamp_jumps, s.stream_resets), (2, 0), "{s:?}");
}

#[test]
fn a_sequence_and_timestamp_jump_restarts_the_stream_once_confirmed() {
    let a = pcmu(100);
    // Same SSRC; sequence numbers and timestamps both jump (a new numbering).
    let b = packets(Format::PCMU, 0, 100, 9100, 50_000 + 3600 * 8000, 0xA);
    let mut arrivals = on_time(&a);
    arrivals.extend(
        b.iter()
            .enumerate()
            .map(|(i, p)| (sent(100 + i) + BASE_US, p.clone())),
    );
    let mut jb = buffer();
    let trace = run(&mut jb, arrivals, sent(199) + BASE_US + 60_000);
    let s = jb.stats();
    assert_eq!((s.stream_resets, s.timestamp_jumps), (1, 0));
    let results: Vec<_> = trace.pushes[100..102].iter().map(|(_, r)| *r).collect();
    assert_eq!(
        results,
        vec![
            Err(PushError::Discontinuity {
                sequence_number: 9100
            }),
            Ok(PushOutcome::NewStream)
        ]
    );
    // The probation packet is the only one not played.
    assert_eq!(s.packets_played, 199, "{s:?}");
}

fn drift(rate_error: f64) -> (JitterBuffer, Trace) {
    // 60 s from a sender whose clock runs `rate_error` fast (positive) or slow.
    let p = pcmu(3000);
    let arrivals: Vec<_> = p
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let at = (sent(i) as f64 / (1.0 + rate_error)) as u64 + BASE_US;
            (at, q.clone())
        })
        .collect();
    let mut jb = buffer();
    let until = arrivals.last().unwrap().0;
    let trace = run(&mut jb, arrivals, until);
    (jb, trace)
}

#[test]
fn a_fast_sender_clock_is_absorbed_by_speeding_up() {
    let (jb, trace) = drift(0.005);
    let s = jb.stats();
    assert_eq!(
        (s.packets_lost, s.packets_late, s.packets_discarded),
        (0, 0, 0),
        "{s:?}"
    );
    assert!(s.accelerate_ops > 0);
    // 300 ms of surplus arrived over the minute; the delay stayed near the target.
    assert!(s.samples_removed >= 2000, "{s:?}");
    assert!(trace.delays[500..].iter().all(|&d| d <= 60), "{s:?}");
}

#[test]
fn a_slow_sender_clock_is_absorbed_by_slowing_down() {
    let (jb, trace) = drift(-0.005);
    let s = jb.stats();
    assert_eq!((s.packets_lost, s.packets_late), (0, 0), "{s:?}");
    assert!(s.decelerate_ops > 0);
    assert!(s.samples_inserted >= 2000, "{s:?}");
    // Until the drift is measured (8 s), a packet now and then comes late and plays only its
    // tail (13 of the first 400 since the target lost the concealment's 3.75 ms look-ahead,
    // 10 before); from then on the drift is stretched out of the gaps between words.
    assert!(s.late_tails_played <= 15, "{s:?}");
    assert!(s.frames_concealed <= 32, "{s:?}");
    let late_concealed = trace.events[1000..]
        .iter()
        .filter(|e| **e == PlayoutEvent::Concealed)
        .count();
    assert_eq!(late_concealed, 0, "{s:?}");
    assert!(trace.delays[500..].iter().all(|&d| d <= 60), "{s:?}");
}

/// Phrases of words: 300 ms of vowel-like audio and a 40 ms gap, six words a phrase, the
/// last gap running on into a 400 ms pause; 2.4 s a phrase.
fn phrases(rate: u32, ms: u64) -> Vec<i16> {
    let n = (rate as u64 * ms / 1000) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let in_phrase = t % 2.4;
            if in_phrase >= 2.04 || in_phrase % 0.34 >= 0.30 {
                return ((i * 7919) % 61) as i16 - 30;
            }
            let phase = 2.0 * std::f64::consts::PI * 140.0 * t;
            (4000.0 * (phase.sin() + 0.5 * (2.0 * phase).sin())) as i16
        })
        .collect()
}

/// Lengths in ms of the runs of quiet output (every sample within ±200) longer than 10 ms.
fn quiet_runs_ms(pcm: &[i16], rate: usize) -> Vec<f64> {
    let mut runs = Vec::new();
    let mut run = 0usize;
    for &s in pcm.iter().chain(std::iter::once(&i16::MAX)) {
        if s.unsigned_abs() < 200 {
            run += 1;
        } else {
            if run * 100 > rate {
                runs.push(run as f64 * 1000.0 / rate as f64);
            }
            run = 0;
        }
    }
    runs
}

#[test]
fn delay_changes_wait_for_a_pause_between_phrases() {
    // 60 s from a sender whose clock runs 0.5 % fast: 300 ms of surplus to remove. Only the
    // pauses between phrases may absorb it; the 40 ms gaps between words keep their length.
    let pcm = phrases(8000, 60_000);
    let p = packets_of(Format::PCMU, 0, &pcm, 1000, 50_000, 0xA);
    let arrivals: Vec<_> = p
        .iter()
        .enumerate()
        .map(|(i, q)| ((sent(i) as f64 / 1.005) as u64 + BASE_US, q.clone()))
        .collect();
    let mut jb = buffer();
    let until = end_of(&arrivals);
    let trace = run(&mut jb, arrivals, until);
    let s = jb.stats();
    assert_eq!((s.packets_lost, s.packets_late), (0, 0), "{s:?}");
    assert!(s.samples_removed >= 2000, "{s:?}");
    assert!(trace.delays[500..].iter().all(|&d| d <= 60), "{s:?}");
    let runs = quiet_runs_ms(&trace.pcm[8000..], 8000);
    let word_gaps: Vec<f64> = runs.iter().copied().filter(|&r| r < 150.0).collect();
    assert!(word_gaps.len() > 100, "{runs:?}");
    for gap in &word_gaps {
        assert!(
            (37.0..=43.0).contains(gap),
            "a word gap became {gap} ms: {runs:?}"
        );
    }
    // The phrase pauses (400 ms) took the difference.
    assert!(
        runs.iter().any(|&r| (150.0..395.0).contains(&r)),
        "{runs:?}"
    );
}

#[test]
fn a_loss_on_a_calm_link_is_concealed_in_place() {
    // No packet has ever come late: a missing one is taken for lost, concealed where it
    // belongs, and the audio after it keeps its timing (no hold, nothing to undo later).
    let p = pcmu(300);
    let mut arrivals = on_time(&p);
    arrivals.remove(150);
    let mut jb = buffer();
    let until = end_of(&arrivals) + 60_000;
    let trace = run(&mut jb, arrivals, until);
    let s = jb.stats();
    assert_eq!((s.packets_lost, s.packets_played), (1, 299), "{s:?}");
    let last_normal = trace
        .events
        .iter()
        .rposition(|e| *e == PlayoutEvent::Normal)
        .unwrap();
    let before = trace.delays[250];
    let after = trace.delays[250..last_normal].iter().max().copied();
    assert_eq!(after, Some(before), "{:?}", &trace.delays[250..]);
}

#[test]
fn opus_recovers_a_single_loss_from_the_next_packets_fec() {
    let p = packets(Format::opus(16000), 111, 200, 7, 0, 0xC);
    let mut arrivals = on_time(&p);
    arrivals.remove(100);
    let mut jb = JitterBuffer::new(Format::opus(16000), &JitterConfig::new(111)).unwrap();
    run(&mut jb, arrivals, sent(199) + BASE_US + 60_000);
    let s = jb.stats();
    assert_eq!(
        (s.fec_recoveries, s.packets_lost, s.packets_played),
        (1, 1, 199)
    );
}

#[test]
fn opus_conceals_a_burst_with_its_own_plc() {
    let p = packets(Format::opus(16000), 111, 200, 7, 0, 0xC);
    let mut arrivals = on_time(&p);
    arrivals.drain(100..104);
    let mut jb = JitterBuffer::new(Format::opus(16000), &JitterConfig::new(111)).unwrap();
    let trace = run(&mut jb, arrivals, sent(199) + BASE_US + 60_000);
    let s = jb.stats();
    assert_eq!(s.packets_lost, 4);
    assert!(s.frames_concealed >= 5, "{s:?}");
    // Concealment output is audio, not silence.
    let i = trace
        .events
        .iter()
        .position(|e| *e == PlayoutEvent::Concealed)
        .unwrap();
    assert!(rms(&trace.pcm[i * 160..(i + 1) * 160]) > 100.0);
}

#[test]
fn the_fixed_mode_gives_up_packets_later_than_its_delay() {
    let mut jb = buffer_in(PlayoutMode::Fixed { delay_ms: 60 });
    let p = pcmu(200);
    let mut arrivals = on_time(&p);
    arrivals[100].0 += 100_000;
    arrivals[150].0 += 30_000;
    let trace = run(&mut jb, arrivals, sent(199) + BASE_US + 100_000);
    let s = jb.stats();
    assert_eq!(
        (s.packets_late, s.packets_lost, s.packets_played),
        (1, 1, 199),
        "{s:?}"
    );
    assert!(trace.delays[50..].iter().all(|&d| (55..=70).contains(&d)));
}

#[test]
fn the_anchored_mode_keeps_the_first_packets_timing_and_moves_only_when_starved() {
    let mut jb = buffer_in(PlayoutMode::Anchored { delay_ms: 60 });
    let p = pcmu(300);
    let mut arrivals = on_time(&p);
    // The first packet comes 15 ms late: everything plays 15 ms later than it would above
    // the transit floor.
    arrivals[0].0 += 15_000;
    // The link stalls for 200 ms at packet 150 and then delivers the backlog at once.
    let resumed = arrivals[150].0 + 200_000;
    for arrival in &mut arrivals[150..160] {
        arrival.0 = arrival.0.max(resumed);
    }
    let trace = run(&mut jb, arrivals, sent(299) + BASE_US + 300_000);
    let s = jb.stats();
    assert!(
        trace.delays[50..300]
            .iter()
            .all(|&d| (70..=80).contains(&d)),
        "{:?}",
        &trace.delays[50..300]
    );
    // The first packet after the stall found the buffer empty: playout resynchronised on it,
    // so the backlog plays whole, and nothing brings the delay back down (as in Asterisk's
    // fixed buffer).
    assert_eq!((s.packets_played, s.packets_lost), (300, 0), "{s:?}");
    assert!(
        trace.delays[400..600]
            .iter()
            .all(|&d| (250..=270).contains(&d)),
        "{:?}",
        &trace.delays[400..600]
    );
    assert_eq!(s.accelerate_ops + s.decelerate_ops + s.slips, 0, "{s:?}");
}

#[test]
fn other_payload_types_are_ignored_without_counting_losses() {
    // RFC 4733 telephone events interleaved, sharing the sequence number space.
    let audio = pcmu(100);
    let mut arrivals = Vec::new();
    let mut seq = 5000u16;
    for (i, p) in audio.iter().enumerate() {
        let mut p = p.clone();
        p.seq = seq;
        seq = seq.wrapping_add(1);
        arrivals.push((sent(i) + BASE_US, p.clone()));
        if i % 10 == 3 {
            let event = Packet {
                seq,
                pt: 101,
                payload: vec![1, 0x8a, 0, 160],
                ..p
            };
            seq = seq.wrapping_add(1);
            arrivals.push((sent(i) + BASE_US + 1, event));
        }
    }
    let mut jb = buffer();
    let trace = run(&mut jb, arrivals, sent(99) + BASE_US + 60_000);
    let s = jb.stats();
    assert_eq!((s.packets_lost, s.packets_played), (0, 100), "{s:?}");
    let ignored = trace
        .pushes
        .iter()
        .filter(|(_, r)| *r == Ok(PushOutcome::Ignored))
        .count();
    assert_eq!(ignored, 10);
}

#[test]
fn rejects_bad_configuration_frames_and_payloads() {
    let mut config = JitterConfig::new(0);
    config.frame_ms = 15;
    assert!(matches!(
        JitterBuffer::new(Format::PCMU, &config),
        Err(JitterConfigError::OutOfRange {
            field: "frame_ms",
            ..
        })
    ));
    let mut config = JitterConfig::new(0);
    config.min_delay_ms = 600;
    assert!(JitterBuffer::new(Format::PCMU, &config).is_err());
    assert!(matches!(
        JitterBuffer::new(Format::opus(12000), &JitterConfig::new(111)),
        Err(JitterConfigError::UnsupportedSampleRate { rate_hz: 12000, .. })
    ));

    let mut jb = buffer();
    let mut short = vec![0i16; 79];
    assert_eq!(
        jb.pop(0, &mut short),
        Err(PopError {
            expected: 80,
            actual: 79
        })
    );
    let mut p = pcmu(1).remove(0);
    p.payload.clear();
    assert_eq!(jb.push(0, &p.rtp()), Err(PushError::Malformed { len: 0 }));
    p.payload = vec![0xff; 481];
    assert!(matches!(
        jb.push(0, &p.rtp()),
        Err(PushError::TooLong { samples: 481, .. })
    ));
    assert_eq!(jb.stats().packets_rejected, 2);
}

#[test]
fn the_playout_timestamp_advances_with_the_audio() {
    let p = pcmu(300);
    let mut jb = buffer();
    let mut frame = vec![0i16; 80];
    assert_eq!(jb.playout_timestamp(), None);
    let mut stamps = Vec::new();
    for (i, q) in p.iter().enumerate() {
        let at = sent(i) + BASE_US;
        jb.push(at, &q.rtp()).unwrap();
        for k in 0..2 {
            stamps.push(jb.playout_timestamp());
            jb.pop(at + k * FRAME_US, &mut frame).unwrap();
        }
    }
    // Once playing, it advances 80 per 10 ms frame, give or take what time-stretching
    // removed or inserted (at most one 15 ms period per step).
    let steady: Vec<u32> = stamps[100..].iter().map(|s| s.unwrap()).collect();
    let steps: Vec<u32> = steady.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    assert!(
        steps.iter().all(|&d| (80..=80 + 120).contains(&d)),
        "{steps:?}"
    );
    let exact = steps.iter().filter(|&&d| d == 80).count();
    assert!(exact * 10 >= steps.len() * 9, "{steps:?}");
    // It names the audio being played: the first sample of packet 150 plays 30 to 80 ms
    // after it arrived.
    let at = stamps
        .iter()
        .position(|s| s.is_some_and(|ts| ts.wrapping_sub(p[150].ts) < 0x8000_0000))
        .unwrap();
    // Stamps are taken two per packet, the first right after the packet's arrival.
    let arrived = 2 * 150;
    assert!(
        (3..=8).contains(&(at.saturating_sub(arrived))),
        "{at} vs {arrived}"
    );
}

#[test]
fn g722_runs_at_16_khz_on_an_8_khz_rtp_clock() {
    // RFC 3551 §4.5.2: 20 ms of G.722 advances the timestamp by 160.
    let p = packets(Format::G722, 9, 100, 1, 0, 0xD);
    assert_eq!(p[1].ts - p[0].ts, 160);
    let mut arrivals = on_time(&p);
    arrivals.remove(50);
    let mut jb = JitterBuffer::new(Format::G722, &JitterConfig::new(9)).unwrap();
    assert_eq!(jb.frame_samples(), 160);
    run(&mut jb, arrivals, sent(99) + BASE_US + 60_000);
    let s = jb.stats();
    assert_eq!((s.packets_played, s.packets_lost), (99, 1), "{s:?}");
    assert!((2..=3).contains(&s.frames_concealed), "{s:?}");
}

#[test]
fn a_late_packet_whose_head_was_concealed_still_plays_its_tail() {
    // Packet 70 (inside speech, 1.4 s in) is held back by 1 to 40 ms while its successors
    // arrive on time. Depending on how late it is, it plays whole (the buffer had room), only
    // its second half (its first half was already concealed), or not at all; for some of
    // these delays it must be the tail.
    let p = pcmu(200);
    let mut decoder = registry::new_decoder(Format::PCMU).unwrap();
    let mut tail = vec![0i16; 160];
    decoder.decode(&p[70].payload, &mut tail).unwrap();
    // The end of the packet's audio, after any blend from the concealment.
    let tail = &tail[120..];
    let mut tails = 0;
    for extra_ms in 1..=40u64 {
        let mut arrivals = on_time(&p);
        arrivals[70].0 += extra_ms * 1000;
        let mut jb = buffer();
        let (trace, s) = run_to_end(&mut jb, arrivals, 200, &format!("at {extra_ms} ms"));
        let heard = trace.pcm.windows(tail.len()).any(|w| w == tail);
        if s.late_tails_played == 1 {
            tails += 1;
            assert_eq!((s.packets_lost, s.packets_late), (0, 0), "{s:?}");
            assert!(
                heard,
                "the tail of packet 70 is in the output at {extra_ms} ms"
            );
        } else if s.packets_lost == 1 {
            assert!(
                !heard,
                "a lost packet's audio is not played at {extra_ms} ms"
            );
        }
    }
    assert!(tails > 0, "no delay left a playable tail");
}

#[test]
fn a_waited_for_opus_packet_decodes_as_if_nothing_was_concealed() {
    // Packet 70 (inside speech) is held back by 1 to 40 ms. Whenever it still plays (whole,
    // after a wait, or its tail), libopus' concealment of the wait is taken back: from the
    // packet after it on, playout is exactly what a decoder that never concealed produces.
    let p = packets(Format::opus(16000), 111, 200, 7, 0, 0xC);
    let mut decoder = registry::new_decoder(Format::opus(16000)).unwrap();
    let mut straight = vec![0i16; 320];
    for packet in &p[..=71] {
        decoder.decode(&packet.payload, &mut straight).unwrap();
    }
    let opus_buffer = || JitterBuffer::new(Format::opus(16000), &JitterConfig::new(111)).unwrap();
    let (_, calm) = run_to_end(&mut opus_buffer(), on_time(&p), 200, "on time");
    let mut rewinds = 0;
    for extra_ms in 1..=40u64 {
        let mut arrivals = on_time(&p);
        arrivals[70].0 += extra_ms * 1000;
        arrivals[71].0 = arrivals[71].0.max(arrivals[70].0 + 1000);
        let (trace, s) = run_to_end(
            &mut opus_buffer(),
            arrivals,
            200,
            &format!("at {extra_ms} ms"),
        );
        if s.frames_concealed > calm.frames_concealed && s.packets_lost == 0 {
            assert_eq!(s.concealment_rewinds, 1, "{extra_ms} ms: {s:?}");
            rewinds += 1;
            let heard = trace.pcm.windows(straight.len()).any(|w| w == straight);
            assert!(
                heard,
                "packet 71 plays as decoded straight at {extra_ms} ms"
            );
        } else {
            assert_eq!(s.concealment_rewinds, 0, "{extra_ms} ms: {s:?}");
        }
    }
    assert!(rewinds > 0, "no delay made playout wait for the packet");
}

#[test]
fn a_late_opus_packet_plays_its_tail_after_the_codecs_concealment() {
    // Packet 70 (inside speech) is held back by 1 to 40 ms, and 71 (whose FEC would stand in
    // for 70) comes just after it. For some of these delays 70 comes after libopus concealed
    // its first frame, and must still play its second half.
    let p = packets(Format::opus(16000), 111, 200, 7, 0, 0xC);
    let mut tails = 0;
    for extra_ms in 1..=40u64 {
        let mut arrivals = on_time(&p);
        arrivals[70].0 += extra_ms * 1000;
        arrivals[71].0 = arrivals[71].0.max(arrivals[70].0 + 1000);
        let mut jb = JitterBuffer::new(Format::opus(16000), &JitterConfig::new(111)).unwrap();
        let (trace, s) = run_to_end(&mut jb, arrivals, 200, &format!("at {extra_ms} ms"));
        if s.late_tails_played == 1 {
            tails += 1;
            assert_eq!((s.packets_lost, s.packets_late), (0, 0), "{s:?}");
            // The concealed head, then decoded audio again, not silence.
            let i = trace
                .events
                .iter()
                .position(|e| *e == PlayoutEvent::Concealed)
                .unwrap();
            let j = i + trace.events[i..]
                .iter()
                .position(|e| *e != PlayoutEvent::Concealed)
                .unwrap();
            assert!(j - i <= 2, "{extra_ms} ms: {:?}", &trace.events[i..j]);
            assert_eq!(trace.events[j], PlayoutEvent::Normal, "{extra_ms} ms");
            assert!(rms(&trace.pcm[j * 160..(j + 1) * 160]) > 100.0);
        }
    }
    assert!(tails > 0, "no delay left a playable tail");
}

#[test]
fn opus_recovers_a_half_concealed_frame_whole_from_the_next_packets_fec() {
    // Packet 100 is lost and 101, whose in-band FEC carries it, is held back by 1 to 80 ms.
    // For some of these delays playout has concealed the head of 100's frame when 101 comes:
    // the whole frame must then be recovered from the FEC (libopus, asked for less than a
    // packet, conceals instead), from 99's state (the concealment taken back), and its tail
    // played, so that the audio runs on from the concealment into the recovered tail and on
    // into 101 without a break.
    let format = Format::opus(16000);
    let p = packets(format, 111, 200, 7, 0, 0xC);
    for mode in [
        PlayoutMode::Adaptive,
        PlayoutMode::Fixed { delay_ms: 60 },
        PlayoutMode::Anchored { delay_ms: 60 },
    ] {
        let mut config = JitterConfig::new(111);
        config.mode = mode;
        // The largest step between two samples of the same stream without a loss.
        let mut lossless = JitterBuffer::new(format, &config).unwrap();
        let lossless = run(&mut lossless, on_time(&p), end_of(&on_time(&p)));
        let smooth = max_step(&lossless.pcm);
        let mut halves = 0;
        for extra_ms in 1..=80u64 {
            let mut arrivals = on_time(&p);
            arrivals[101].0 += extra_ms * 1000;
            arrivals.remove(100);
            let mut jb = JitterBuffer::new(format, &config).unwrap();
            let (trace, s) =
                run_to_end(&mut jb, arrivals, 200, &format!("{mode:?}, {extra_ms} ms"));
            let Some(fec) = trace
                .events
                .iter()
                .position(|e| *e == PlayoutEvent::FecRecovered)
            else {
                continue;
            };
            // What libopus gives in the buffer's place when playout concealed 100's head:
            // the concealment is taken back, and the whole frame recovered from 101's FEC as
            // if straight after 99; its last 5 ms (past the blend from the concealment) play
            // as recovered.
            let mut decoder = registry::new_decoder(format).unwrap();
            let mut pcm = vec![0i16; 320];
            for packet in &p[..100] {
                decoder.decode(&packet.payload, &mut pcm).unwrap();
            }
            assert_eq!(decoder.recover_from_next(&p[101].payload, &mut pcm), 320);
            // Only 100 lost (101 itself not given up), and its head concealed first.
            if s.packets_lost != 1 || !trace.events[fec - 2..fec].contains(&PlayoutEvent::Concealed)
            {
                continue;
            }
            halves += 1;
            assert!(
                trace.pcm.windows(80).any(|w| w == &pcm[240..]),
                "{mode:?}, {extra_ms} ms: the recovered tail plays"
            );
            assert_eq!(
                (s.fec_recoveries, s.packets_lost, s.concealment_rewinds),
                (1, 1, 1),
                "{s:?}"
            );
            assert_eq!(
                trace.events[fec + 1],
                PlayoutEvent::Normal,
                "{mode:?}, {extra_ms} ms: 101 plays after the recovered tail"
            );
            // From the concealment through the recovered tail into 101: no step larger than
            // the lossless stream has anywhere.
            let around = &trace.pcm[(fec - 2) * 160..(fec + 2) * 160];
            assert!(
                max_step(around) <= smooth,
                "{mode:?}, {extra_ms} ms: a step of {} against {smooth} without loss",
                max_step(around)
            );
        }
        assert!(halves > 0, "{mode:?}: no delay left a half-concealed frame");
    }
}

/// The largest difference between two neighbouring samples.
fn max_step(pcm: &[i16]) -> i32 {
    pcm.windows(2)
        .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
        .max()
        .unwrap_or(0)
}

/// 200 PCMU packets with the timestamps `retime` sets, over a jitter-free link but for packet
/// 99, which arrives after packet 101, into a buffer that keeps 80 ms of delay (so packet 99
/// is still in time).
fn straggler_99(retime: impl FnOnce(&mut [Packet]), context: &str) -> (Trace, JitterStats) {
    let mut p = pcmu(200);
    retime(&mut p);
    let mut arrivals = on_time(&p);
    arrivals[99].0 = arrivals[101].0 + 1000;
    run_to_end(&mut buffer_delayed(80), arrivals, 200, context)
}

/// Timestamp jumps rejoined, and packets played, lost and discarded.
fn jumps_and_fates(s: &JitterStats) -> (u64, u64, u64, u64) {
    (
        s.timestamp_jumps,
        s.packets_played,
        s.packets_lost,
        s.packets_discarded,
    )
}

#[test]
fn a_straggler_from_before_a_timestamp_jump_plays_in_its_place() {
    // Timestamps leap an hour ahead or back at packet 100 (sequence numbers run on), and
    // packet 99, overtaken, carries the old timeline's timestamp: it plays where it was sent.
    for shift in [3600 * 8000u32, 0u32.wrapping_sub(3600 * 8000)] {
        let shift_from_100 = |p: &mut [Packet]| {
            for q in &mut p[100..] {
                q.ts = q.ts.wrapping_add(shift);
            }
        };
        let (_, s) = straggler_99(shift_from_100, &format!("shift {shift}"));
        assert_eq!(jumps_and_fates(&s), (1, 200, 0, 0), "shift {shift}: {s:?}");
    }
}

#[test]
fn a_straggler_from_before_a_corrupt_timestamp_plays_in_its_place() {
    // Packet 100 alone carries a timestamp an hour off (two jumps: there and back): packet 99
    // belongs to the timeline before both, which only the older remembered jump still knows.
    let (_, s) = straggler_99(
        |p| p[100].ts = p[100].ts.wrapping_add(3600 * 8000),
        "corrupt 100",
    );
    assert_eq!(jumps_and_fates(&s), (2, 200, 0, 0), "{s:?}");
}

#[test]
fn an_older_packet_that_fits_no_timeline_is_dropped() {
    // Packet 99 carries a timestamp an hour off and no jump explains it: placed, it would
    // move the transit floor (and every deadline) by an hour.
    let (trace, s) = straggler_99(
        |p| p[99].ts = p[99].ts.wrapping_add(3600 * 8000),
        "stale 99",
    );
    let stale: Vec<_> = trace
        .pushes
        .iter()
        .filter(|(_, r)| matches!(r, Err(PushError::StaleTimeline { .. })))
        .collect();
    assert_eq!(stale.len(), 1, "{s:?}");
    assert_eq!((s.packets_lost, s.packets_discarded), (1, 0), "{s:?}");
}

#[test]
fn a_delay_rising_inside_speech_is_waited_for_not_concealed_packet_by_packet() {
    // 8 s of speech-like audio over a calm link; at 5.0 s, inside a phrase (phrases run 0.8 s
    // of every 1.2 s), the link's queue starts to grow: each packet 3 ms later than the one
    // before, up to 45 ms, as a congestion episode sets in.
    let p = pcmu(400);
    let arrivals: Vec<_> = on_time(&p)
        .into_iter()
        .enumerate()
        .map(|(i, (at, q))| {
            let queued_ms = (i.saturating_sub(250) as u64 * 3).min(45);
            (at + queued_ms * 1000, q)
        })
        .collect();
    let mut jb = buffer();
    let (_, s) = run_to_end(&mut jb, arrivals, 400, "onset");
    // While the target rises, playout waits for the late packets (a change of timing) rather
    // than conceal the head of each and play its tail: every packet plays. (Waiting only as
    // far as the target lost 4 packets here.)
    assert_eq!((s.packets_played, s.packets_lost), (400, 0), "{s:?}");
}
