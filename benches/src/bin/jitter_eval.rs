//! Jitter buffer evaluation: speech through seeded network models into the adaptive jitter
//! buffer and into a fixed 60 ms buffer, scored with PESQ (ITU-T P.862), with the delay each
//! buffer adds.
//!
//! ```text
//! cargo run --release -p tandem-benches --bin jitter_eval -- [--out DIR] [--quick]
//!     [--only SCENARIO,...] [--codecs pcmu,g722,opus16,g729] [--trace SCENARIO/CODEC]
//!     [--fixed-ms MS] [--baseline floor|anchored] [--seed-sets N,...] [--warmup-s S]
//!     [--measure pesq|visqol] [--curve MS,...] [--adaptive-min-ms MS]
//! ```
//!
//! `--quick` uses one voice instead of four; `--fixed-ms` sets the fixed buffer's delay
//! (default 60; other values trace the fixed buffer's delay/MOS curve); `--baseline` picks the
//! fixed buffer: `floor` (default, `PlayoutMode::Fixed`: the delay above the transit floor of
//! the last 2 s, drift corrected by frame slips) or `anchored` (`PlayoutMode::Anchored`: the
//! classic fixed buffer of Asterisk, anchored at the first packet's arrival and moved only
//! when a late packet finds it empty); `--warmup-s S` scores only the clip after S seconds of
//! the same speech over the same network (steady state); `--seed-sets N,...` draws
//! every network model from each set of seeds in turn (default 0; sets are independent draws
//! of the same models) and averages MOS and delay over all of them, so that a verdict rests
//! on more than one draw's luck (`--seed-set` is the same option); `--only` and `--codecs`
//! run a subset; `--trace` prints one line per popped frame (event, the clip's 10 ms step the
//! frame starts in, current and target delay, counters) for each voice and buffer of one
//! scenario and codec, under a `# scenario codec voice mode` header, writes the WAVs and skips
//! scoring: the frames both buffers play from the same step compare side by side, and a change
//! of `time / 10 ms - step` is a change of timing. `--measure visqol` scores with ViSQOL v3
//! (speech mode) instead of PESQ: a second opinion from a measure built to align speech whose
//! timing changes (`benches/scripts/visqol_score.py` says why). Needs `espeak-ng`, `sox`,
//! `python3` with the PyPI packages `pesq` and `numpy` (and `visqol-python[lattice]` for
//! ViSQOL). `--curve 50,70` also runs the fixed buffer at those delays and prints its
//! delay/MOS curve beside the adaptive buffer, with how far above (or below) the curve the
//! adaptive buffer sits at its own delay: a buffer that merely picks another point of the
//! fixed buffer's curve has gained nothing by adapting. `--adaptive-min-ms` gives the adaptive
//! buffer another least target delay, as `[media] jitter_buffer_min_ms` does (default: the
//! engine's, 50 ms; `tandem-dsp`'s own default is 20).
//!
//! # What it does
//!
//! 1. Speech: espeak-ng reads the same sentences in several voices; sox resamples each to
//!    8 kHz (narrowband) and 16 kHz (wideband). Cached in `DIR/speech/`.
//! 2. Each clip is encoded into 20 ms RTP packets: PCMU at 8 kHz; G.722 and Opus (in-band FEC
//!    on) at 16 kHz; G.729 (two 10 ms frames a packet, no Annex B) at 8 kHz when built with
//!    `--features g729`.
//! 3. A network model per scenario, seeded, decides when each packet arrives (or that it does
//!    not): a FIFO link with a base delay of 30 ms, jitter, delay spikes (the link stalls and
//!    then delivers the backlog at once), reordering (a packet overtaken by its successors),
//!    duplicates, Gilbert-Elliott bursty loss, and sender clock drift (the sender's 20 ms is
//!    the receiver's 20 ms × (1 - drift)).
//! 4. Two receivers pop 10 ms frames on the receiver's clock: the adaptive buffer
//!    (`PlayoutMode::Adaptive`, defaults) and the fixed one (`PlayoutMode::Fixed { 60 ms }`: a
//!    constant 60 ms target, late packets lost, drift corrected by frame slips). Both use the
//!    same decoders and concealment (ours for PCMU and G.722, libopus' PLC and FEC for Opus,
//!    the codec's own frame-erasure concealment for G.729).
//! 5. The outputs go to `DIR/<codec>/<scenario>/`, and `benches/scripts/pesq_score.py` scores
//!    each against the clean clip: narrowband PESQ at 8 kHz, wideband at 16 kHz (or
//!    `visqol_score.py`: ViSQOL's speech mode, narrowband upsampled to its 16 kHz).
//! 6. A markdown table goes to stdout: MOS and mean added delay per scenario, codec and
//!    buffer, averaged over the voices, with a verdict for the jittery scenarios: better on
//!    both, a MOS tie (within [`MOS_TIE`]) with less delay, or neither. *Added delay* is, for every frame of decoded speech,
//!    the time it plays minus the time its packet would have arrived over the jitter-free
//!    link (send time + 30 ms), averaged.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use tandem_codecs::file::wav;
use tandem_codecs::{CodecId, EncoderConfig, Format, registry};
use tandem_core::session::PlayoutSpec;
use tandem_dsp::jitter::{
    JitterBuffer, JitterConfig, JitterStats, PlayoutEvent, PlayoutMode, RtpPacket,
};

const PTIME_MS: u64 = 20;
const FRAME_MS: u64 = 10;
const BASE_DELAY_MS: f64 = 30.0;
/// MOS differences this small are a tie: PESQ scores two outputs that differ only by a
/// constant delay (or by a few sentence-gap samples) within this of each other, so a buffer
/// that plays the same audio earlier is not worse for it.
const MOS_TIE: f64 = 0.01;

/// Harvard sentences (IEEE 1969), public domain.
const TEXT: &str = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue \
    background. It is easy to tell the depth of a well. These days a chicken leg is a rare dish. \
    Rice is often served in round bowls. The juice of lemons makes fine punch.";

/// espeak-ng voice, words per minute, pitch.
const VOICES: &[(&str, u32, u32)] = &[
    ("en-us", 150, 45),
    ("en-us+f3", 155, 60),
    ("en-gb+m3", 145, 35),
    ("en+f4", 150, 70),
];

#[derive(Clone, Copy)]
struct Codec {
    name: &'static str,
    format: Format,
    payload_type: u8,
    pesq_mode: &'static str,
}

/// Every codec this build has: G.729 (`--features g729`, with its own concealment) joins
/// PCMU, G.722 and Opus when it is built in.
fn codecs() -> Vec<Codec> {
    let mut all = CODECS.to_vec();
    if registry::is_built(CodecId::G729) {
        all.push(Codec {
            name: "g729",
            format: Format::G729,
            payload_type: 18,
            pesq_mode: "nb",
        });
    }
    all
}

const CODECS: &[Codec] = &[
    Codec {
        name: "pcmu",
        format: Format::PCMU,
        payload_type: 0,
        pesq_mode: "nb",
    },
    Codec {
        name: "g722",
        format: Format::G722,
        payload_type: 9,
        pesq_mode: "wb",
    },
    Codec {
        name: "opus16",
        format: Format::opus(16000),
        payload_type: 111,
        pesq_mode: "wb",
    },
];

/// A seeded network model.
#[derive(Clone, Copy, Debug)]
struct Scenario {
    name: &'static str,
    /// Judged: the adaptive buffer must beat the fixed one on MOS and delay.
    jittery: bool,
    /// Slowly varying queueing delay: AR(1) standard deviation, ms.
    wander_ms: f64,
    /// Congestion episodes: mean lengths of calm and congested periods in s (0: none), and the
    /// extra wander and jitter while congested, ms.
    calm_s: f64,
    congested_s: f64,
    congested_wander_ms: f64,
    congested_jitter_ms: f64,
    /// Per-packet exponential jitter, mean ms.
    jitter_ms: f64,
    /// Delay spikes: mean interval s (0: none), height range ms.
    spike_every_s: f64,
    spike_ms: (f64, f64),
    /// Probability a packet is overtaken (delayed by 25-60 ms without holding the others).
    reorder: f64,
    /// Probability a packet is duplicated.
    duplicate: f64,
    /// Gilbert-Elliott: mean loss rate and mean burst length in packets (0: none).
    loss: f64,
    burst: f64,
    /// Sender clock drift: +0.005 means the sender's clock runs 0.5 % fast.
    drift: f64,
}

const CALM: Scenario = Scenario {
    name: "",
    jittery: false,
    wander_ms: 0.0,
    calm_s: 0.0,
    congested_s: 0.0,
    congested_wander_ms: 0.0,
    congested_jitter_ms: 0.0,
    jitter_ms: 0.0,
    spike_every_s: 0.0,
    spike_ms: (0.0, 0.0),
    reorder: 0.0,
    duplicate: 0.0,
    loss: 0.0,
    burst: 0.0,
    drift: 0.0,
};

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "clean",
        ..CALM
    },
    Scenario {
        name: "bursty-loss",
        jitter_ms: 2.0,
        loss: 0.05,
        burst: 2.5,
        ..CALM
    },
    Scenario {
        name: "jitter-light",
        jittery: true,
        wander_ms: 3.0,
        jitter_ms: 3.0,
        ..CALM
    },
    Scenario {
        name: "jitter",
        jittery: true,
        wander_ms: 8.0,
        jitter_ms: 8.0,
        ..CALM
    },
    Scenario {
        name: "congestion",
        jittery: true,
        wander_ms: 2.0,
        jitter_ms: 3.0,
        calm_s: 6.0,
        congested_s: 2.0,
        congested_wander_ms: 15.0,
        congested_jitter_ms: 10.0,
        ..CALM
    },
    Scenario {
        name: "spikes",
        jittery: true,
        jitter_ms: 4.0,
        spike_every_s: 3.0,
        spike_ms: (120.0, 300.0),
        ..CALM
    },
    Scenario {
        name: "reorder",
        jittery: true,
        jitter_ms: 5.0,
        reorder: 0.05,
        duplicate: 0.02,
        ..CALM
    },
    Scenario {
        name: "drift-fast",
        jittery: true,
        jitter_ms: 4.0,
        drift: 0.005,
        ..CALM
    },
    Scenario {
        name: "drift-slow",
        jittery: true,
        jitter_ms: 4.0,
        drift: -0.005,
        ..CALM
    },
    Scenario {
        name: "mixed",
        jittery: true,
        wander_ms: 5.0,
        jitter_ms: 6.0,
        calm_s: 5.0,
        congested_s: 2.0,
        congested_wander_ms: 10.0,
        congested_jitter_ms: 8.0,
        spike_every_s: 5.0,
        spike_ms: (100.0, 250.0),
        reorder: 0.02,
        duplicate: 0.01,
        loss: 0.03,
        burst: 2.0,
        drift: 0.003,
    },
];

/// SplitMix64: small, seedable, good enough for network models.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.uniform()).ln()
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (1.0 - self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// One delivery: arrival time (µs, receiver clock) and packet index.
type Arrival = (u64, usize);

/// When each of `count` packets arrives; the send time of packet `k` is returned too.
fn network(s: &Scenario, count: usize, seed: u64) -> (Vec<Arrival>, Vec<f64>) {
    let mut rng = Rng(seed);
    let send: Vec<f64> = (0..count)
        .map(|k| (k as f64 + 1.0) * PTIME_MS as f64 * (1.0 - s.drift))
        .collect();
    let mut arrivals = Vec::new();
    let mut wander = 0.0f64;
    let mut congested_wander = 0.0f64;
    let mut congested = false;
    let mut switch_at = if s.calm_s > 0.0 {
        rng.exponential(s.calm_s * 1000.0)
    } else {
        f64::INFINITY
    };
    let mut fifo_free = 0.0f64;
    let mut bad = false;
    let mut next_spike = if s.spike_every_s > 0.0 {
        rng.exponential(s.spike_every_s * 1000.0) + 500.0
    } else {
        f64::INFINITY
    };
    let (p_gb, p_bg) = if s.loss > 0.0 {
        let r = 1.0 / s.burst;
        (s.loss * r / (1.0 - s.loss), r)
    } else {
        (0.0, 1.0)
    };
    for (k, &t) in send.iter().enumerate() {
        wander = 0.97 * wander + (1.0 - 0.97f64 * 0.97).sqrt() * s.wander_ms * rng.normal();
        if t >= switch_at {
            congested = !congested;
            let mean = if congested { s.congested_s } else { s.calm_s };
            switch_at = t + rng.exponential(mean * 1000.0);
        }
        let (w, j) = if congested {
            (s.congested_wander_ms, s.congested_jitter_ms)
        } else {
            (0.0, 0.0)
        };
        congested_wander =
            0.97 * congested_wander + (1.0 - 0.97f64 * 0.97).sqrt() * w * rng.normal();
        let mut delay = BASE_DELAY_MS
            + wander.max(0.0)
            + congested_wander.abs()
            + rng.exponential(s.jitter_ms.max(1e-9))
            + if congested { rng.exponential(j) } else { 0.0 };
        if t >= next_spike {
            let (lo, hi) = s.spike_ms;
            delay += lo + (hi - lo) * rng.uniform();
            next_spike = t + rng.exponential(s.spike_every_s * 1000.0) + 1000.0;
        }
        // Gilbert-Elliott state for this packet.
        bad = if bad {
            rng.uniform() >= p_bg
        } else {
            rng.uniform() < p_gb
        };
        let overtaken = rng.uniform() < s.reorder;
        let duplicate = rng.uniform() < s.duplicate;
        let at = if overtaken {
            // Held back on another path: does not hold the queue.
            t + delay + 25.0 + 35.0 * rng.uniform()
        } else {
            let at = (t + delay).max(fifo_free);
            fifo_free = at + 0.05;
            at
        };
        if bad {
            continue;
        }
        arrivals.push(((at * 1000.0) as u64, k));
        if duplicate {
            arrivals.push((((at + 1.0 + 9.0 * rng.uniform()) * 1000.0) as u64, k));
        }
    }
    arrivals.sort();
    (arrivals, send)
}

/// One buffer the clips are played through: the fixed baseline, the adaptive buffer, or a
/// point of the fixed buffer's curve.
struct Receiver {
    /// File name suffix: `fixed`, `adaptive`, `fixed50`...
    label: String,
    mode: PlayoutMode,
    /// The adaptive buffer's least target delay, ms, where not the default
    /// (`--adaptive-min-ms`, as `[media] jitter_buffer_min_ms` sets it in the engine).
    min_delay_ms: Option<u32>,
}

/// Where the receivers sit in the list `main` builds.
const FIXED: usize = 0;
const ADAPTIVE: usize = 1;

/// What one receiver produced.
struct Run {
    pcm: Vec<i16>,
    /// Sum and count of added delay over frames of decoded speech, ms.
    delay_sum: f64,
    delay_frames: u64,
    counts: Counts,
}

/// A buffer's counters the table shows, summed over runs.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    /// Sequence numbers never played.
    lost: u64,
    concealed: u64,
    /// Time-stretching operations and frame slips.
    stretched: u64,
}

impl Counts {
    fn of(s: &JitterStats) -> Self {
        Self {
            lost: s.packets_lost,
            concealed: s.frames_concealed,
            stretched: s.accelerate_ops + s.decelerate_ops + s.slips,
        }
    }

    /// What was counted after `before`.
    fn since(self, before: Self) -> Self {
        Self {
            lost: self.lost - before.lost,
            concealed: self.concealed - before.concealed,
            stretched: self.stretched - before.stretched,
        }
    }

    fn add(&mut self, other: Self) {
        self.lost += other.lost;
        self.concealed += other.concealed;
        self.stretched += other.stretched;
    }
}

/// Plays `packets` arriving at `arrivals` through a buffer in `mode`; the run's audio, delay and
/// counters are those of the packets from `warmup` on (the clip after the warm-up), `samples`
/// long.
#[allow(clippy::too_many_arguments)]
fn receive(
    codec: &Codec,
    receiver: &Receiver,
    packets: &[Vec<u8>],
    arrivals: &[Arrival],
    send_ms: &[f64],
    warmup: usize,
    samples: usize,
    trace: bool,
) -> Run {
    let mut config = JitterConfig::new(codec.payload_type);
    config.mode = receiver.mode;
    if let Some(min) = receiver.min_delay_ms {
        config.min_delay_ms = min;
        config.initial_delay_ms = config.initial_delay_ms.max(min);
    }
    let mut jb = JitterBuffer::new(codec.format, &config).expect("jitter buffer");
    let rate = codec.format.sample_rate as usize;
    let ts_per_packet = codec
        .format
        .descriptor()
        .rtp_clock_rate(codec.format.sample_rate) as u64
        * PTIME_MS
        / 1000;
    let frame = jb.frame_samples();
    let mut pcm = vec![0i16; frame];
    let mut out = Vec::with_capacity(samples + rate);
    // Where the clip starts in `out`, and the counters then.
    let mut cut: Option<(usize, Counts)> = (warmup == 0).then(|| (0, Counts::of(jb.stats())));
    let end_us = ((send_ms.last().copied().unwrap_or(0.0) + 1500.0) * 1000.0) as u64;
    let (mut delay_sum, mut delay_frames) = (0.0, 0u64);
    let mut next = 0;
    let mut now = 0u64;
    let ts0 = 1000u32;
    while now < end_us && cut.is_none_or(|(start, _)| out.len() < start + samples + rate) {
        while next < arrivals.len() && arrivals[next].0 <= now {
            let (at, k) = arrivals[next];
            let packet = RtpPacket {
                sequence_number: k as u16,
                timestamp: ts0.wrapping_add((k as u64 * ts_per_packet) as u32),
                marker: k == 0,
                ssrc: 0x5eed,
                payload_type: codec.payload_type,
                payload: &packets[k],
            };
            let _ = jb.push(at, &packet);
            next += 1;
        }
        let ts = jb.playout_timestamp();
        let event = jb.pop(now, &mut pcm).expect("frame length");
        let packet_of = |ts: u32| (ts.wrapping_sub(ts0) as u64 / ts_per_packet) as usize;
        if cut.is_none() && ts.is_some_and(|ts| packet_of(ts) >= warmup) {
            cut = Some((out.len(), Counts::of(jb.stats())));
        }
        if let (
            Some(ts),
            PlayoutEvent::Normal | PlayoutEvent::Accelerated | PlayoutEvent::Decelerated,
        ) = (ts, event)
        {
            let k = packet_of(ts);
            if let Some(&sent) = send_ms.get(k).filter(|_| k >= warmup) {
                delay_sum += now as f64 / 1000.0 - sent - BASE_DELAY_MS;
                delay_frames += 1;
            }
        }
        if trace {
            let st = jb.stats();
            // Which 10 ms of the clip this frame starts in: two buffers' frames compare by it,
            // and a change of `now / 10 - at` is a change of timing.
            let at = ts.map(|ts| ts.wrapping_sub(ts0) as u64 * PTIME_MS / FRAME_MS / ts_per_packet);
            println!(
                "{:8.1} {:?} at {:?} delay {} target {} lost {} late {} conc {} acc {} dec {} fec {} tails {} rewinds {} stored-next-arrival {:?}",
                now as f64 / 1000.0,
                event,
                at,
                st.current_delay_ms,
                st.target_delay_ms,
                st.packets_lost,
                st.packets_late,
                st.frames_concealed,
                st.accelerate_ops,
                st.decelerate_ops,
                st.fec_recoveries,
                st.late_tails_played,
                st.concealment_rewinds,
                arrivals.get(next).map(|a| (a.0 / 1000, a.1)),
            );
        }
        out.extend_from_slice(&pcm);
        now += FRAME_MS * 1000;
    }
    let (start, before) = cut.unwrap_or((out.len(), Counts::of(jb.stats())));
    let mut pcm = out.split_off(start.min(out.len()));
    pcm.resize(samples, 0);
    Run {
        pcm,
        delay_sum,
        delay_frames,
        counts: Counts::of(jb.stats()).since(before),
    }
}

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed");
}

/// Speech clips at `rate`, one per voice, generated once.
fn speech(dir: &Path, rate: u32) -> Vec<(String, Vec<i16>)> {
    std::fs::create_dir_all(dir).expect("speech dir");
    VOICES
        .iter()
        .map(|&(voice, wpm, pitch)| {
            let name = voice.replace('+', "_");
            let path = dir.join(format!("{name}_{rate}.wav"));
            if !path.exists() {
                let raw = dir.join(format!("{name}_raw.wav"));
                run(Command::new("espeak-ng")
                    .args([
                        "-v",
                        voice,
                        "-s",
                        &wpm.to_string(),
                        "-p",
                        &pitch.to_string(),
                    ])
                    .arg("-w")
                    .arg(&raw)
                    .arg(TEXT));
                // Mono 16-bit at the rate, -26 dBov-ish speech level, 300 ms of silence before
                // and 700 ms after (PESQ wants some silence around the speech). `-R`: sox's
                // dither is random otherwise, and a clip made anew scored up to 0.04 apart.
                run(Command::new("sox")
                    .arg("-R")
                    .arg(&raw)
                    .args(["-r", &rate.to_string(), "-c", "1", "-b", "16"])
                    .arg(&path)
                    .args(["gain", "-n", "-8", "pad", "0.3", "0.7"]));
            }
            let (_, samples) = wav::read(&path).expect("speech wav");
            (name, samples)
        })
        .collect()
}

fn encode(codec: &Codec, pcm: &[i16]) -> Vec<Vec<u8>> {
    // Every packet sent, as for the other codecs: no G.729 Annex B silence suppression.
    let config = EncoderConfig {
        g729_annex_b: false,
        ..EncoderConfig::default()
    };
    let mut encoder = registry::new_encoder(codec.format, &config).expect("encoder");
    let frame = codec.format.samples_in_ms(PTIME_MS as u32);
    let mut buf = vec![0u8; 4000];
    pcm.chunks(frame)
        .map(|chunk| {
            let mut f = chunk.to_vec();
            f.resize(frame, 0);
            let n = encoder.encode(&f, &mut buf).expect("encode");
            buf[..n].to_vec()
        })
        .collect()
}

/// The objective quality measure that scores the outputs, each by a script in
/// `benches/scripts/` that reads the manifest.
#[derive(Clone, Copy)]
enum Measure {
    /// PESQ MOS-LQO (ITU-T P.862 narrowband, P.862.2 wideband).
    Pesq,
    /// ViSQOL v3 MOS-LQO, speech mode.
    Visqol,
}

impl Measure {
    fn name(self) -> &'static str {
        match self {
            Self::Pesq => "PESQ",
            Self::Visqol => "ViSQOL",
        }
    }

    /// ViSQOL's scale is compressed (a clean wideband clip scores about 4.5, a 5 % loss
    /// about 4.0): its differences need a third decimal.
    fn decimals(self) -> usize {
        match self {
            Self::Pesq => 2,
            Self::Visqol => 3,
        }
    }

    fn script(self) -> &'static str {
        match self {
            Self::Pesq => "pesq_score.py",
            Self::Visqol => "visqol_score.py",
        }
    }
}

#[derive(Default, Clone)]
struct Cell {
    mos: Vec<f64>,
    delay_sum: f64,
    delay_frames: u64,
    counts: Counts,
    packets: u64,
}

impl Cell {
    fn mos(&self) -> f64 {
        self.mos.iter().sum::<f64>() / self.mos.len().max(1) as f64
    }

    fn delay(&self) -> f64 {
        self.delay_sum / self.delay_frames.max(1) as f64
    }
}

fn main() {
    let mut out_dir = PathBuf::from("target/jitter-eval");
    let mut quick = false;
    let mut trace: Option<String> = None;
    let mut only: Option<String> = None;
    let mut codecs_only: Option<String> = None;
    let mut fixed_ms = 60;
    let mut anchored = false;
    let mut warmup_s = 0.0f64;
    let mut seed_sets: Vec<u64> = vec![0];
    let mut measure = Measure::Pesq;
    let mut curve_ms: Vec<u32> = Vec::new();
    // The engine's default floor, not the library's (see `--adaptive-min-ms`).
    let mut adaptive_min_ms: Option<u32> = Some(PlayoutSpec::DEFAULT_MIN_DELAY_MS);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out_dir = PathBuf::from(args.next().expect("--out DIR")),
            "--quick" => quick = true,
            "--trace" => trace = args.next(),
            "--only" => only = args.next(),
            "--codecs" => codecs_only = args.next(),
            "--fixed-ms" => {
                fixed_ms = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--fixed-ms MS")
            }
            "--baseline" => match args.next().as_deref() {
                Some("floor") => anchored = false,
                Some("anchored") => anchored = true,
                _ => {
                    eprintln!("--baseline floor|anchored");
                    std::process::exit(2);
                }
            },
            "--measure" => match args.next().as_deref() {
                Some("pesq") => measure = Measure::Pesq,
                Some("visqol") => measure = Measure::Visqol,
                _ => {
                    eprintln!("--measure pesq|visqol");
                    std::process::exit(2);
                }
            },
            "--warmup-s" => {
                warmup_s = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--warmup-s SECONDS")
            }
            "--adaptive-min-ms" => {
                adaptive_min_ms = Some(
                    args.next()
                        .and_then(|v| v.parse().ok())
                        .expect("--adaptive-min-ms MS"),
                );
            }
            "--curve" => curve_ms = list_arg(args.next()).expect("--curve MS[,MS...]"),
            "--seed-set" | "--seed-sets" => {
                seed_sets = list_arg(args.next()).expect("--seed-sets N[,N...]")
            }
            other => {
                eprintln!(
                    "usage: jitter_eval [--out DIR] [--quick] [--trace SCENARIO/CODEC] [--only S1,S2] [--codecs C1,C2] [--fixed-ms MS] [--baseline floor|anchored] [--seed-sets N,...] [--warmup-s S] [--measure pesq|visqol] [--curve MS,...]  (unknown argument {other})"
                );
                std::process::exit(2);
            }
        }
    }
    let fixed_at = |delay_ms| {
        if anchored {
            PlayoutMode::Anchored { delay_ms }
        } else {
            PlayoutMode::Fixed { delay_ms }
        }
    };
    let mut receivers = vec![
        Receiver {
            label: "fixed".into(),
            mode: fixed_at(fixed_ms),
            min_delay_ms: None,
        },
        Receiver {
            label: "adaptive".into(),
            mode: PlayoutMode::Adaptive,
            min_delay_ms: adaptive_min_ms,
        },
    ];
    receivers.extend(
        curve_ms
            .iter()
            .filter(|&&ms| ms != fixed_ms)
            .map(|&ms| Receiver {
                label: format!("fixed{ms}"),
                mode: fixed_at(ms),
                min_delay_ms: None,
            }),
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(measure.script());
    let voices = if quick { 1 } else { VOICES.len() };
    let mut manifest = String::new();
    // (scenario, codec, receiver) -> cell; degraded path -> key.
    let mut cells: BTreeMap<(usize, usize, usize), Cell> = BTreeMap::new();
    let mut keys: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let wanted = |list: &Option<String>, name: &str| {
        list.as_ref()
            .is_none_or(|l| l.split(',').any(|x| x == name))
    };
    for (ci, codec) in codecs().iter().enumerate() {
        if !wanted(&codecs_only, codec.name) {
            continue;
        }
        let clips = speech(&out_dir.join("speech"), codec.format.sample_rate);
        for (voice_index, (voice, pcm)) in clips.iter().take(voices).enumerate() {
            // The warm-up: the clip over again, cut at a packet boundary, before the clip.
            let packet_samples = codec.format.samples_in_ms(PTIME_MS as u32);
            let warmup = (warmup_s * 1000.0 / PTIME_MS as f64) as usize;
            let sent: Vec<i16> = pcm
                .iter()
                .copied()
                .cycle()
                .take(warmup * packet_samples)
                .chain(pcm.iter().copied())
                .collect();
            let packets = encode(codec, &sent);
            for (si, scenario) in SCENARIOS.iter().enumerate() {
                if !wanted(&only, scenario.name) {
                    continue;
                }
                for &seed_set in &seed_sets {
                    // Sets are a million apart: no seed of one set is in another.
                    let seed = 0x7a17_0000
                        + seed_set * 1_000_000
                        + (si as u64) * 1000
                        + voice_index as u64;
                    let (arrivals, send) = network(scenario, packets.len(), seed);
                    let dir = out_dir.join(codec.name).join(scenario.name);
                    let run = if seed_sets.len() > 1 {
                        format!("{voice}.{seed_set}")
                    } else {
                        voice.to_string()
                    };
                    std::fs::create_dir_all(&dir).expect("output dir");
                    for (ri, receiver) in receivers.iter().enumerate() {
                        let (label, mode) = (&receiver.label, receiver.mode);
                        let traced =
                            trace.as_deref() == Some(&format!("{}/{}", scenario.name, codec.name));
                        if traced {
                            println!("# {} {} {run} {:?}", scenario.name, codec.name, mode);
                        }
                        let r = receive(
                            codec,
                            receiver,
                            &packets,
                            &arrivals,
                            &send,
                            warmup,
                            pcm.len(),
                            traced,
                        );
                        let path = dir.join(format!("{run}.{label}.wav"));
                        wav::write(&path, codec.format.sample_rate, &r.pcm).expect("write wav");
                        let reference = out_dir
                            .join("speech")
                            .join(format!("{voice}_{}.wav", codec.format.sample_rate));
                        manifest.push_str(&format!(
                            "{}\t{}\t{}\n",
                            codec.pesq_mode,
                            reference.display(),
                            path.display()
                        ));
                        let key = (si, ci, ri);
                        keys.insert(path.display().to_string(), key);
                        let cell = cells.entry(key).or_default();
                        cell.delay_sum += r.delay_sum;
                        cell.delay_frames += r.delay_frames;
                        cell.counts.add(r.counts);
                        cell.packets += (packets.len() - warmup) as u64;
                    }
                }
            }
        }
    }
    if trace.is_some() {
        return;
    }
    let manifest_path = out_dir.join("manifest.tsv");
    std::fs::write(&manifest_path, manifest).expect("manifest");
    eprintln!("scoring {} files with {}...", keys.len(), measure.name());
    let output = Command::new("python3")
        .arg(&script)
        .arg(&manifest_path)
        .output()
        .unwrap_or_else(|e| panic!("python3 {}: {e}", measure.script()));
    assert!(
        output.status.success(),
        "{} failed: {}",
        measure.script(),
        String::from_utf8_lossy(&output.stderr)
    );
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let mut fields = line.split('\t');
        let (Some(path), Some(score)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(score) = score.parse::<f64>() else {
            eprintln!("{} failed on {line}", measure.name());
            continue;
        };
        if let Some(key) = keys.get(path) {
            cells.entry(*key).or_default().mos.push(score);
        }
    }

    let mos = measure.name();
    println!(
        "| scenario | codec | MOS fixed ({mos}) | MOS adaptive ({mos}) | delay fixed (ms) | delay adaptive (ms) | lost fixed | lost adaptive | concealed frames fixed / adaptive | stretch ops | verdict |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let (mut failures, mut ties) = (0, 0);
    for (si, scenario) in SCENARIOS.iter().enumerate() {
        for (ci, codec) in codecs().iter().enumerate() {
            let (Some(f), Some(a)) = (cells.get(&(si, ci, FIXED)), cells.get(&(si, ci, ADAPTIVE)))
            else {
                continue;
            };
            let verdict = if !scenario.jittery {
                "-"
            } else if a.mos() > f.mos() && a.delay() < f.delay() {
                "better on both"
            } else if a.mos() >= f.mos() - MOS_TIE && a.delay() < f.delay() {
                ties += 1;
                "MOS tie, less delay"
            } else {
                failures += 1;
                "NOT better on both"
            };
            // A late packet is also counted lost (its sequence number was passed without it):
            // `lost` alone is the share of sequence numbers never played.
            let pct = |c: &Cell| 100.0 * c.counts.lost as f64 / c.packets.max(1) as f64;
            println!(
                "| {} | {} | {:.*} | {:.*} | {:.1} | {:.1} | {:.1} % | {:.1} % | {} / {} | {} | {} |",
                scenario.name,
                codec.name,
                measure.decimals(),
                f.mos(),
                measure.decimals(),
                a.mos(),
                f.delay(),
                a.delay(),
                pct(f),
                pct(a),
                f.counts.concealed,
                a.counts.concealed,
                a.counts.stretched,
                verdict
            );
        }
    }
    if receivers.len() > 2 {
        print_curve(&receivers, &cells, measure);
    }
    if ties > 0 {
        eprintln!(
            "{ties} jittery scenario/codec pairs where the adaptive buffer ties on MOS (within {MOS_TIE}) with less delay"
        );
    }
    if failures > 0 {
        eprintln!(
            "{failures} jittery scenario/codec pairs where the adaptive buffer is not better on both"
        );
    }
}

/// A comma-separated list of numbers, `None` if absent or any item does not parse.
fn list_arg<T: std::str::FromStr>(value: Option<String>) -> Option<Vec<T>> {
    value?.split(',').map(|n| n.parse().ok()).collect()
}

/// The fixed buffer's delay/MOS curve (every fixed receiver, by delay) beside the adaptive
/// buffer, and how far the adaptive buffer's MOS lies above the curve read linearly at its
/// own delay (extrapolated from the nearest two points beyond the curve's ends).
fn print_curve(
    receivers: &[Receiver],
    cells: &BTreeMap<(usize, usize, usize), Cell>,
    measure: Measure,
) {
    let mut fixed: Vec<(u32, usize)> = receivers
        .iter()
        .enumerate()
        .filter_map(|(ri, r)| match r.mode {
            PlayoutMode::Fixed { delay_ms } | PlayoutMode::Anchored { delay_ms } => {
                Some((delay_ms, ri))
            }
            PlayoutMode::Adaptive => None,
        })
        .collect();
    fixed.sort_unstable();
    let heads: Vec<String> = fixed
        .iter()
        .map(|(ms, _)| format!("fixed {ms} ms"))
        .collect();
    println!();
    println!(
        "| scenario | codec | {} | adaptive | the curve at the adaptive's delay | adaptive above the curve |",
        heads.join(" | ")
    );
    println!("|---|---|{}---|---|---|", "---|".repeat(fixed.len()));
    let d = measure.decimals();
    for (si, scenario) in SCENARIOS.iter().enumerate() {
        for (ci, codec) in codecs().iter().enumerate() {
            let points: Option<Vec<(f64, f64)>> = fixed
                .iter()
                .map(|&(_, ri)| cells.get(&(si, ci, ri)).map(|c| (c.delay(), c.mos())))
                .collect();
            let (Some(points), Some(a)) = (points, cells.get(&(si, ci, ADAPTIVE))) else {
                continue;
            };
            let on_curve = curve_at(&points, a.delay());
            let shown: Vec<String> = points
                .iter()
                .map(|(delay, mos)| format!("{mos:.d$} @ {delay:.1}"))
                .collect();
            println!(
                "| {} | {} | {} | {:.d$} @ {:.1} | {on_curve:.d$} | {:+.d$} |",
                scenario.name,
                codec.name,
                shown.join(" | "),
                a.mos(),
                a.delay(),
                a.mos() - on_curve,
            );
        }
    }
}

/// The MOS of the piecewise-linear curve through `points` (delay, MOS) at `delay`; beyond its
/// ends, the line through the nearest two points. The points are sorted by delay here, since
/// a fixed buffer's measured delay need not follow its nominal one exactly.
fn curve_at(points: &[(f64, f64)], delay: f64) -> f64 {
    let mut points = points.to_vec();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    match points.as_slice() {
        [] => f64::NAN,
        [(_, mos)] => *mos,
        _ => {
            let i = points
                .windows(2)
                .position(|w| delay <= w[1].0)
                .unwrap_or(points.len() - 2);
            let ((d0, m0), (d1, m1)) = (points[i], points[i + 1]);
            if d1 == d0 {
                (m0 + m1) / 2.0
            } else {
                m0 + (m1 - m0) * (delay - d0) / (d1 - d0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::curve_at;

    #[test]
    fn the_curve_is_read_linearly_between_and_beyond_its_points() {
        // Given out of order, as measured delays may come.
        let points = [(65.0, 3.87), (55.0, 3.67), (75.0, 3.93)];
        assert!((curve_at(&points, 60.0) - 3.77).abs() < 1e-9);
        assert!((curve_at(&points, 70.0) - 3.90).abs() < 1e-9);
        assert!((curve_at(&points, 65.0) - 3.87).abs() < 1e-9);
        // Beyond the ends: the line through the nearest two points.
        assert!((curve_at(&points, 50.0) - 3.57).abs() < 1e-9);
        assert!((curve_at(&points, 80.0) - 3.96).abs() < 1e-9);
        assert_eq!(curve_at(&[(60.0, 4.0)], 10.0), 4.0);
        assert!(curve_at(&[], 10.0).is_nan());
    }
}
