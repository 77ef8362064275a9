//! Call recording driven over ng, against a real `tandem run`: a caller and a callee (UDP
//! sockets) set up a call with `offer` (carrying `record call: yes`) and `answer`, each sends
//! one second of a different tone, `stop recording` ends the file, and the WAV read back is
//! stereo at 8 kHz, one second long (± two packets), the caller's tone on the left and the
//! callee's on the right (Goertzel energy at each tone). Bad input gets typed error replies:
//! an unknown call, stop or pause without a recording, a directory that cannot be created.
//!
//! `play media` / `stop media` are tested here too (they share the call set-up).
//!
//! Test numbers 34, 35 and 37 ([`support::Ports::for_test`]).

mod support;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tandem::ng::bencode::Value;
use tandem_core::rtp::{PayloadType, RtpHeader, RtpTimestamp, SeqNo, Ssrc};

use support::ng::{NgClient, media_port, pcmu_sdp};
use support::{Ports, Tandem};

/// A temporary directory for this test, removed first if a previous run left it.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-rec-ng-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `tandem run` on test `n`'s ports with `[recording] dir = dir`.
fn start(n: u16, dir: &Path) -> Tandem {
    let config = dir.join("tandem.toml");
    std::fs::write(
        &config,
        format!("[recording]\ndir = {:?}\n", dir.join("recordings")),
    )
    .unwrap();
    let mut args = Ports::for_test(n).run_args();
    args.extend(["--config".into(), config.display().to_string()]);
    Tandem::start(&args)
}

fn result(reply: &Value) -> (&str, &str) {
    (
        reply.get("result").and_then(Value::as_str).unwrap_or(""),
        reply
            .get("error-reason")
            .and_then(Value::as_str)
            .unwrap_or(""),
    )
}

/// A PCMU packet of 20 ms of a `hz` tone, packet `i` of the stream.
fn tone_packet(hz: f64, i: u32, ssrc: u32) -> Vec<u8> {
    let payload: Vec<u8> = (0..160u32)
        .map(|k| {
            let t = f64::from(i * 160 + k) / 8000.0;
            let s = (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16;
            tandem_codecs::g711::ulaw::encode(s)
        })
        .collect();
    let header = RtpHeader::new(
        PayloadType::PCMU,
        SeqNo(i as u16),
        RtpTimestamp(i * 160),
        Ssrc(ssrc),
    );
    let mut buf = vec![0; header.buffer_len(payload.len())];
    header.emit_packet(&payload, &mut buf).unwrap();
    buf
}

/// Goertzel power of `hz` in `x` at 8 kHz.
fn power(x: &[i16], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s0 = f64::from(v) + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

/// Waits (bounded) until the recorder has patched the WAV header, then returns the
/// `(rate, channels, left, right)` of a stereo 16-bit file.
fn read_finished_wav(path: &Path) -> (u32, u16, Vec<i16>, Vec<i16>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let bytes = loop {
        if let Ok(bytes) = std::fs::read(path) {
            if bytes.len() > 44 && u32::from_le_bytes(bytes[40..44].try_into().unwrap()) > 0 {
                break bytes;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} was not finished",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let channels = u16::from_le_bytes([bytes[22], bytes[23]]);
    let rate = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
    let data = u32::from_le_bytes(bytes[40..44].try_into().unwrap()) as usize;
    assert_eq!(bytes.len(), 44 + data, "header and file agree");
    let samples: Vec<i16> = bytes[44..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let left = samples.iter().step_by(2).copied().collect();
    let right = samples.iter().skip(1).step_by(2).copied().collect();
    (rate, channels, left, right)
}

#[test]
fn a_call_recorded_over_ng_is_a_stereo_wav_of_both_sides() {
    let dir = scratch("call");
    let ports = Ports::for_test(34);
    let tandem = start(34, &dir);
    let mut ng = NgClient::new(ports.ng);
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    let callee = UdpSocket::bind("127.0.0.1:0").unwrap();
    let call_id = Value::str("rec-call-34");

    let offer = ng.call(&[
        ("command", Value::str("offer")),
        ("call-id", call_id.clone()),
        ("from-tag", Value::str("caller")),
        ("record call", Value::str("yes")),
        ("sdp", pcmu_sdp(caller.local_addr().unwrap().port())),
    ]);
    assert_eq!(result(&offer).0, "ok", "{offer:?}");
    let towards_callee = media_port(&offer);
    let answer = ng.call(&[
        ("command", Value::str("answer")),
        ("call-id", call_id.clone()),
        ("from-tag", Value::str("caller")),
        ("to-tag", Value::str("callee")),
        ("sdp", pcmu_sdp(callee.local_addr().unwrap().port())),
    ]);
    assert_eq!(result(&answer).0, "ok", "{answer:?}");
    let towards_caller = media_port(&answer);

    // One second each way, paced in real time: the caller's 1 kHz, the callee's 600 Hz.
    let started = Instant::now();
    for i in 0..50u32 {
        caller
            .send_to(
                &tone_packet(1000.0, i, 0x1111),
                ("127.0.0.1", towards_caller),
            )
            .unwrap();
        callee
            .send_to(
                &tone_packet(600.0, i, 0x2222),
                ("127.0.0.1", towards_callee),
            )
            .unwrap();
        let next = started + Duration::from_millis(20 * u64::from(i + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    // Let the last packets reach the worker before the tap is detached.
    std::thread::sleep(Duration::from_millis(100));
    let stop = ng.call(&[
        ("command", Value::str("stop recording")),
        ("call-id", call_id.clone()),
    ]);
    assert_eq!(result(&stop).0, "ok", "{stop:?}");
    // Stopping twice: the call is no longer recorded.
    let again = ng.call(&[
        ("command", Value::str("stop recording")),
        ("call-id", call_id.clone()),
    ]);
    assert_eq!(result(&again), ("error", "the call is not being recorded"));

    let (rate, channels, left, right) =
        read_finished_wav(&dir.join("recordings").join("rec-call-34.wav"));
    assert_eq!((rate, channels), (8000, 2));
    let ms = left.len() as u64 * 1000 / 8000;
    assert!(
        ms.abs_diff(1000) <= 40,
        "recorded {ms} ms of a 1000 ms call"
    );
    // Each side is on its own channel: its tone dominates there by far, and is absent from
    // the other channel.
    let (l1000, l600) = (power(&left, 1000.0), power(&left, 600.0));
    let (r1000, r600) = (power(&right, 1000.0), power(&right, 600.0));
    assert!(
        l1000 > 100.0 * l600,
        "left: 1 kHz {l1000:e}, 600 Hz {l600:e}"
    );
    assert!(
        r600 > 100.0 * r1000,
        "right: 600 Hz {r600:e}, 1 kHz {r1000:e}"
    );
    // And it is loud: the tone is in the file, not a faint leak.
    let rms = |x: &[i16]| {
        (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
    };
    assert!(rms(&left) > 3000.0 && rms(&right) > 3000.0);

    let deleted = ng.call(&[("command", Value::str("delete")), ("call-id", call_id)]);
    assert_eq!(result(&deleted).0, "ok");
    let (status, _) = tandem.terminate();
    assert!(status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_recording_requests_get_typed_error_replies() {
    let dir = scratch("bad");
    let ports = Ports::for_test(35);
    // The recording directory sits under a regular file: it can never be created.
    std::fs::write(dir.join("file"), b"").unwrap();
    let config = dir.join("tandem.toml");
    std::fs::write(
        &config,
        format!(
            "[recording]\ndir = {:?}\n",
            dir.join("file").join("recordings")
        ),
    )
    .unwrap();
    let mut args = ports.run_args();
    args.extend(["--config".into(), config.display().to_string()]);
    let tandem = Tandem::start(&args);
    let mut ng = NgClient::new(ports.ng);

    for command in ["start recording", "stop recording", "pause recording"] {
        let reply = ng.call(&[
            ("command", Value::str(command)),
            ("call-id", Value::str("nope")),
        ]);
        assert_eq!(result(&reply), ("error", "Unknown call-ID"), "{command}");
    }
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    let offer = ng.call(&[
        ("command", Value::str("offer")),
        ("call-id", Value::str("bad-35")),
        ("from-tag", Value::str("caller")),
        ("sdp", pcmu_sdp(caller.local_addr().unwrap().port())),
    ]);
    assert_eq!(result(&offer).0, "ok", "{offer:?}");
    for command in ["stop recording", "pause recording"] {
        let reply = ng.call(&[
            ("command", Value::str(command)),
            ("call-id", Value::str("bad-35")),
        ]);
        assert_eq!(
            result(&reply),
            ("error", "the call is not being recorded"),
            "{command}"
        );
    }
    let start = ng.call(&[
        ("command", Value::str("start recording")),
        ("call-id", Value::str("bad-35")),
    ]);
    let (status, reason) = result(&start);
    assert_eq!(status, "error");
    assert!(reason.starts_with("recording directory"), "{reason}");
    // The server is fine: the call is still there, and still not recorded.
    let query = ng.call(&[
        ("command", Value::str("query")),
        ("call-id", Value::str("bad-35")),
    ]);
    assert_eq!(result(&query).0, "ok");
    let (status, _) = tandem.terminate();
    assert!(status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `play media` plays a WAV file to one side of a relayed call, in place of the other
/// side's audio, for `repeat-times` plays; the reply says how long; then the other side is
/// heard again. Bad requests get error replies. Test number 37.
#[test]
fn play_media_replaces_the_other_side_for_its_duration() {
    let dir = scratch("play");
    let ports = Ports::for_test(37);
    let tandem = start(37, &dir);
    let mut ng = NgClient::new(ports.ng);
    // 500 ms of 1 kHz, played twice.
    let wav = dir.join("announce.wav");
    let pcm: Vec<i16> = (0..4000)
        .map(|k| {
            (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * f64::from(k) / 8000.0).sin()) as i16
        })
        .collect();
    tandem_codecs::file::wav::write(&wav, 8000, &pcm).unwrap();

    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    caller.set_nonblocking(true).unwrap();
    let callee = UdpSocket::bind("127.0.0.1:0").unwrap();
    let call_id = Value::str("play-37");
    let offer = ng.call(&[
        ("command", Value::str("offer")),
        ("call-id", call_id.clone()),
        ("from-tag", Value::str("caller")),
        ("sdp", pcmu_sdp(caller.local_addr().unwrap().port())),
    ]);
    assert_eq!(result(&offer).0, "ok", "{offer:?}");
    let towards_callee = media_port(&offer);
    let play = |ng: &mut NgClient, extra: &[(&str, Value)]| {
        let mut pairs = vec![
            ("command", Value::str("play media")),
            ("call-id", call_id.clone()),
            ("from-tag", Value::str("caller")),
        ];
        pairs.extend(extra.iter().cloned());
        ng.call(&pairs)
    };
    // Before the answer there is no media to play into.
    let early = play(&mut ng, &[("file", Value::str(&wav.display().to_string()))]);
    assert_eq!(result(&early).0, "error");
    let answer = ng.call(&[
        ("command", Value::str("answer")),
        ("call-id", call_id.clone()),
        ("from-tag", Value::str("caller")),
        ("to-tag", Value::str("callee")),
        ("sdp", pcmu_sdp(callee.local_addr().unwrap().port())),
    ]);
    assert_eq!(result(&answer).0, "ok", "{answer:?}");
    let towards_caller = media_port(&answer);
    for (extra, reason) in [
        (vec![], "missing or malformed key \"file\""),
        (
            vec![("file", Value::str("/nonexistent/x.wav"))],
            "media runtime: cannot read /nonexistent/x.wav",
        ),
        (
            vec![
                ("file", Value::str(&wav.display().to_string())),
                ("repeat-times", Value::Int(0)),
            ],
            "missing or malformed key \"repeat-times\"",
        ),
    ] {
        let reply = play(&mut ng, &extra);
        let (status, got) = result(&reply);
        assert_eq!(status, "error");
        assert!(got.starts_with(reason), "{got}");
    }
    let stop = |ng: &mut NgClient| {
        ng.call(&[
            ("command", Value::str("stop media")),
            ("call-id", call_id.clone()),
            ("from-tag", Value::str("caller")),
        ])
    };
    assert_eq!(result(&stop(&mut ng)), ("error", "no media is playing"));

    // Three seconds: the callee says 600 Hz throughout; at 0.5 s the caller starts hearing
    // the file instead, for one second.
    let started = Instant::now();
    let mut heard: Vec<(Duration, Vec<i16>)> = Vec::new();
    let mut played_at = None;
    let mut buf = [0u8; 2048];
    for i in 0..150u32 {
        caller
            .send_to(
                &tone_packet(300.0, i, 0x3737),
                ("127.0.0.1", towards_caller),
            )
            .unwrap();
        callee
            .send_to(
                &tone_packet(600.0, i, 0x3838),
                ("127.0.0.1", towards_callee),
            )
            .unwrap();
        if i == 25 {
            let reply = play(
                &mut ng,
                &[
                    ("file", Value::str(&wav.display().to_string())),
                    ("repeat-times", Value::Int(2)),
                ],
            );
            assert_eq!(result(&reply).0, "ok", "{reply:?}");
            assert_eq!(reply.get("duration"), Some(&Value::Int(1000)));
            played_at = Some(started.elapsed());
        }
        while let Ok(n) = caller.recv(&mut buf) {
            let payload = &buf[12.min(n)..n];
            let pcm = payload
                .iter()
                .map(|&b| tandem_codecs::g711::ulaw::decode(b))
                .collect();
            heard.push((started.elapsed(), pcm));
        }
        let next = started + Duration::from_millis(20 * u64::from(i + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let played_at = played_at.unwrap();
    let window = |from_ms: u64, to_ms: u64| -> Vec<i16> {
        heard
            .iter()
            .filter(|(at, _)| {
                *at >= played_at + Duration::from_millis(from_ms)
                    && *at < played_at + Duration::from_millis(to_ms)
            })
            .flat_map(|(_, pcm)| pcm.iter().copied())
            .collect()
    };
    let during = window(200, 800);
    let after = window(1400, 2200);
    assert!(
        during.len() > 2000 && after.len() > 2000,
        "{} {}",
        during.len(),
        after.len()
    );
    assert!(
        power(&during, 1000.0) > 100.0 * power(&during, 600.0),
        "the file replaces the callee while it plays"
    );
    assert!(
        power(&after, 600.0) > 100.0 * power(&after, 1000.0),
        "the callee is heard again afterwards"
    );
    // Finished, but still stoppable once; then nothing plays.
    assert_eq!(result(&stop(&mut ng)).0, "ok");
    assert_eq!(result(&stop(&mut ng)), ("error", "no media is playing"));

    let deleted = ng.call(&[("command", Value::str("delete")), ("call-id", call_id)]);
    assert_eq!(result(&deleted).0, "ok");
    let (status, _) = tandem.terminate();
    assert!(status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}
