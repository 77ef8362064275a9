//! `tandem transcode` as a user runs it: the built binary on files generated in a temporary
//! directory, checked for content (tone frequency and level, length, alignment), for what the
//! reference tools (opus-tools, sox) make of its output, and for how it fails.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tandem_codecs::file::wav;

const BIN: &str = env!("CARGO_BIN_EXE_tandem");

/// Every extension `tandem transcode` reads and writes.
const EXTENSIONS: [&str; 7] = ["wav", "ul", "al", "g722", "opus", "raw", "sln16"];

/// A fresh directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tandem-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Names in the directory, sorted (to prove no partial or temporary file is left).
    fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tandem<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(BIN)
        .arg("transcode")
        .args(args)
        .output()
        .expect("the tandem binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a conversion that must succeed.
fn convert(input: &Path, output: &Path, extra: &[&str]) {
    let out = tandem(
        [input.as_os_str(), output.as_os_str()]
            .into_iter()
            .chain(extra.iter().map(|s| s.as_ref())),
    );
    assert!(
        out.status.success(),
        "{} -> {} {extra:?}: {}",
        input.display(),
        output.display(),
        stderr(&out)
    );
}

/// A sine of `hz` at `rate`, `seconds` long, peak `amplitude`.
fn tone(rate: u32, hz: f64, seconds: f64, amplitude: f64) -> Vec<i16> {
    let n = (f64::from(rate) * seconds) as usize;
    (0..n)
        .map(|i| ((2.0 * PI * hz * i as f64 / f64::from(rate)).sin() * amplitude) as i16)
        .collect()
}

/// A linear sweep from 300 Hz to 3 kHz with a 50 ms fade-in: no period, so its
/// cross-correlation has one sharp peak and shows any misalignment.
fn chirp(rate: u32, seconds: f64) -> Vec<i16> {
    let n = (f64::from(rate) * seconds) as usize;
    let (f0, f1) = (300.0, 3000.0);
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let phase = 2.0 * PI * (f0 * t + (f1 - f0) * t * t / (2.0 * seconds));
            let fade = (t / 0.05).min(1.0);
            (phase.sin() * 9000.0 * fade) as i16
        })
        .collect()
}

fn rms(s: &[i16]) -> f64 {
    (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

/// Power at `hz` (Goertzel) as a share of the total power of `s`.
fn tone_purity(s: &[i16], rate: u32, hz: f64) -> f64 {
    let w = 2.0 * PI * hz / f64::from(rate);
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in s {
        let s0 = f64::from(x) + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    let n = s.len() as f64;
    // A pure sine of RMS r gives power (n·r)²/2 at its own frequency.
    power / (n * n * rms(s).powi(2) / 2.0)
}

/// The lag (in samples, `b` relative to `a`) that best aligns `b` with `a`, searched within
/// ±`range`.
fn best_lag(a: &[i16], b: &[i16], range: isize) -> isize {
    let n = a.len().min(b.len()) as isize;
    (-range..=range)
        .max_by_key(|&lag| {
            let mut sum = 0i128;
            for i in range..n - range {
                sum += i128::from(a[i as usize]) * i128::from(b[(i + lag) as usize]);
            }
            sum
        })
        .unwrap()
}

/// Reads a WAV file the test made the binary write.
fn read_wav(path: &Path) -> (u32, Vec<i16>) {
    let (info, samples) = wav::read(path).unwrap();
    (info.sample_rate, samples)
}

/// Checks that `samples` at `rate` are a `hz` tone lasting `seconds` (±20 ms, one packet) at
/// `level` RMS (±3 dB: the lossy codecs stay well within that on a steady tone).
fn assert_tone(what: &str, rate: u32, samples: &[i16], hz: f64, seconds: f64, level: f64) {
    let expected = (f64::from(rate) * seconds) as usize;
    let packet = rate as usize / 50;
    assert!(
        samples.len().abs_diff(expected) <= packet,
        "{what}: {} samples, expected {expected}",
        samples.len()
    );
    // Skip the codecs' start-up and the ends.
    let middle = &samples[samples.len() / 4..samples.len() * 3 / 4];
    let ratio = rms(middle) / level;
    assert!(
        (0.7..1.41).contains(&ratio),
        "{what}: level ratio {ratio:.2}"
    );
    let purity = tone_purity(middle, rate, hz);
    assert!(
        purity > 0.9,
        "{what}: only {:.0}% of the power at {hz} Hz",
        purity * 100.0
    );
}

#[test]
fn every_input_extension_converts_to_every_output_extension() {
    let dir = Scratch::new("matrix");
    let source = dir.path("source.wav");
    let pcm = tone(8000, 1000.0, 1.0, 8000.0);
    wav::write(&source, 8000, &pcm).unwrap();
    let level = rms(&pcm);
    for from in EXTENSIONS {
        let input = dir.path(&format!("in.{from}"));
        convert(&source, &input, &[]);
        for to in EXTENSIONS {
            let output = dir.path(&format!("{from}-to.{to}"));
            convert(&input, &output, &[]);
            // Read the result back through a WAV to check what it holds.
            let check = dir.path(&format!("{from}-to-{to}.wav"));
            convert(&output, &check, &[]);
            let (rate, samples) = read_wav(&check);
            assert_tone(
                &format!("{from} -> {to}"),
                rate,
                &samples,
                1000.0,
                1.0,
                level,
            );
        }
    }
    let left: Vec<String> = dir
        .listing()
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn wav_to_opus_to_wav_keeps_length_and_alignment() {
    let dir = Scratch::new("align");
    let source = dir.path("chirp.wav");
    let pcm = chirp(8000, 3.37);
    wav::write(&source, 8000, &pcm).unwrap();
    for coding_rate in ["8000", "16000", "48000"] {
        let opus = dir.path(&format!("chirp-{coding_rate}.opus"));
        let back = dir.path(&format!("chirp-{coding_rate}.wav"));
        convert(&source, &opus, &["--rate", coding_rate]);
        convert(&opus, &back, &[]);
        let (rate, samples) = read_wav(&back);
        assert_eq!(rate, 8000, "the Opus header keeps the input rate");
        assert!(
            samples.len().abs_diff(pcm.len()) <= 160,
            "{coding_rate}: {} vs {}",
            samples.len(),
            pcm.len()
        );
        let lag = best_lag(&pcm, &samples, 40);
        assert!(
            lag.abs() <= 8,
            "{coding_rate}: misaligned by {lag} samples (1 ms = 8)"
        );
    }
}

#[test]
fn opus_tools_accept_and_decode_our_opus() {
    let dir = Scratch::new("opustools");
    let source = dir.path("tone.wav");
    let pcm = tone(8000, 1000.0, 2.0, 8000.0);
    wav::write(&source, 8000, &pcm).unwrap();
    let opus = dir.path("tone.opus");
    convert(&source, &opus, &["--bitrate", "16000", "--complexity", "8"]);

    let info = Command::new("opusinfo")
        .arg(&opus)
        .output()
        .expect("opusinfo is installed");
    let text = String::from_utf8_lossy(&info.stdout).into_owned() + &stderr(&info);
    assert!(info.status.success(), "{text}");
    assert!(
        !text.contains("WARNING") && !text.contains("ERROR"),
        "{text}"
    );
    assert!(text.contains("Playback length: 0m:02.000s"), "{text}");
    assert!(text.contains("Original sample rate: 8000"), "{text}");

    let decoded = dir.path("opusdec.wav");
    let dec = Command::new("opusdec")
        .args(["--quiet", "--rate", "8000"])
        .arg(&opus)
        .arg(&decoded)
        .output()
        .expect("opusdec is installed");
    assert!(dec.status.success(), "{}", stderr(&dec));
    let (rate, samples) = read_wav(&decoded);
    assert_eq!(
        samples.len(),
        pcm.len(),
        "opusdec trims pre-skip and padding to the exact length"
    );
    assert_tone("opusdec", rate, &samples, 1000.0, 2.0, rms(&pcm));
}

#[test]
fn opus_bitrate_option_changes_the_stream() {
    let dir = Scratch::new("bitrate");
    let source = dir.path("chirp.wav");
    wav::write(&source, 16000, &chirp(16000, 2.0)).unwrap();
    let low = dir.path("low.opus");
    let high = dir.path("high.opus");
    convert(&source, &low, &["--bitrate", "8000"]);
    convert(
        &source,
        &high,
        &["--bitrate", "64000", "--complexity", "10"],
    );
    let (low, high) = (
        std::fs::metadata(low).unwrap().len(),
        std::fs::metadata(high).unwrap().len(),
    );
    // 2 s at 8 kbit/s is about 2 kB; at 64 kbit/s about 16 kB.
    assert!(
        low < 3500 && high > 4 * low,
        "low {low} bytes, high {high} bytes"
    );
}

#[test]
fn sox_written_g711_reads_as_sox_decodes_it() {
    let dir = Scratch::new("sox");
    let source = dir.path("speechlike.wav");
    wav::write(&source, 8000, &chirp(8000, 1.0)).unwrap();
    for ext in ["ul", "al"] {
        let coded = dir.path(&format!("sox.{ext}"));
        let sox = Command::new("sox")
            .arg(&source)
            .arg(&coded)
            .output()
            .expect("sox is installed");
        assert!(sox.status.success(), "{}", stderr(&sox));
        let ours = dir.path(&format!("ours-{ext}.wav"));
        let theirs = dir.path(&format!("theirs-{ext}.wav"));
        convert(&coded, &ours, &[]);
        let sox = Command::new("sox")
            .args(["-r", "8000", "-c", "1"])
            .arg(&coded)
            .args(["-b", "16", "-e", "signed-integer"])
            .arg(&theirs)
            .output()
            .unwrap();
        assert!(sox.status.success(), "{}", stderr(&sox));
        assert_eq!(
            read_wav(&ours),
            read_wav(&theirs),
            "{ext}: G.711 decoding is exact"
        );
    }
}

#[test]
fn other_rates_and_stereo_are_converted() {
    let dir = Scratch::new("rates");
    // 44.1 kHz stereo from sox: downmixed, resampled by rubato, then back to 44.1 kHz.
    let cd = dir.path("cd.wav");
    let sox = Command::new("sox")
        .args(["-n", "-r", "44100", "-b", "16", "-c", "2"])
        .arg(&cd)
        .args(["synth", "1.5", "sine", "1000", "vol", "0.25"])
        .output()
        .expect("sox is installed");
    assert!(sox.status.success(), "{}", stderr(&sox));
    let (_, original) = read_wav(&cd);
    for ext in ["opus", "ul", "g722"] {
        let coded = dir.path(&format!("cd.{ext}"));
        let back = dir.path(&format!("cd-{ext}.wav"));
        convert(&cd, &coded, &[]);
        convert(&coded, &back, &["--rate", "44100"]);
        let (rate, samples) = read_wav(&back);
        assert_eq!(rate, 44100);
        assert_tone(
            &format!("44.1 kHz via {ext}"),
            rate,
            &samples,
            1000.0,
            1.5,
            rms(&original),
        );
    }
    // Raw input at a given rate, and WAV output at a chosen rate.
    let raw = dir.path("tone.raw");
    let pcm = tone(16000, 1000.0, 1.0, 5000.0);
    std::fs::write(
        &raw,
        pcm.iter()
            .flat_map(|s| s.to_ne_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let wav48 = dir.path("tone48.wav");
    convert(&raw, &wav48, &["--in-rate", "16000", "--rate", "48000"]);
    let (rate, samples) = read_wav(&wav48);
    assert_eq!(rate, 48000);
    assert_tone(
        "raw 16 kHz -> 48 kHz WAV",
        rate,
        &samples,
        1000.0,
        1.0,
        rms(&pcm),
    );
    // --codec pcmu writes µ-law bytes into a .raw file: 8000 bytes per second.
    let ulaw_raw = dir.path("tone-ulaw.raw");
    convert(&wav48, &ulaw_raw, &["--codec", "pcmu"]);
    assert_eq!(std::fs::metadata(&ulaw_raw).unwrap().len(), 8000);
}

#[test]
fn speech_survives_a_round_trip_through_opus() {
    let dir = Scratch::new("speech");
    let speech = dir.path("speech.wav");
    let espeak = Command::new("espeak-ng")
        .args(["-w"])
        .arg(&speech)
        .arg("Tandem converts telephone audio between codecs, one packet at a time.")
        .output()
        .expect("espeak-ng is installed");
    assert!(espeak.status.success(), "{}", stderr(&espeak));
    let (source_rate, original) = read_wav(&speech);
    let opus = dir.path("speech.opus");
    let back = dir.path("back.wav");
    convert(&speech, &opus, &["--rate", "16000"]);
    convert(&opus, &back, &[]);
    let (rate, samples) = read_wav(&back);
    assert_eq!(rate, source_rate, "back at espeak-ng's own rate");
    let packet = rate as usize / 50;
    assert!(
        samples.len().abs_diff(original.len()) <= packet,
        "{} vs {}",
        samples.len(),
        original.len()
    );
    let ms = rate as isize / 1000;
    let lag = best_lag(&original, &samples, 5 * ms);
    assert!(lag.abs() <= ms, "misaligned by {lag} samples");
    let ratio = rms(&samples) / rms(&original);
    assert!((0.7..1.41).contains(&ratio), "level ratio {ratio:.2}");
}

/// A bad input: exit status 2, one line on stderr naming `file`, no output left.
fn assert_fails(dir: &Scratch, args: &[&Path], extra: &[&str], file: &Path, why: &str) {
    let before = dir.listing();
    let out = tandem(
        args.iter()
            .map(|p| p.as_os_str())
            .chain(extra.iter().map(|s| s.as_ref())),
    );
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{message}");
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(
        message.contains(&file.display().to_string()),
        "names {}: {message}",
        file.display()
    );
    assert!(message.contains(why), "says {why:?}: {message}");
    assert_eq!(dir.listing(), before, "no output or temporary file left");
}

#[test]
fn bad_input_fails_cleanly() {
    let dir = Scratch::new("bad");
    let good = dir.path("good.wav");
    wav::write(&good, 8000, &tone(8000, 1000.0, 1.0, 8000.0)).unwrap();
    let out_wav = dir.path("out.wav");
    let out_opus = dir.path("out.opus");

    let truncated = dir.path("truncated.wav");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 1001]).unwrap();
    assert_fails(
        &dir,
        &[&truncated, &out_opus],
        &[],
        &truncated,
        "expected 16000 bytes, found 14999",
    );

    assert_fails(
        &dir,
        &[&good, &out_opus],
        &["--rate", "44100"],
        &out_opus,
        "not an Opus coding rate",
    );
    let out_ul = dir.path("out.ul");
    assert_fails(
        &dir,
        &[&good, &out_ul],
        &["--rate", "16000"],
        &out_ul,
        "always 8000 Hz",
    );
    let zero_rate = dir.path("zero-rate.wav");
    let mut zero = bytes.clone();
    zero[24..28].fill(0);
    std::fs::write(&zero_rate, zero).unwrap();
    assert_fails(
        &dir,
        &[&zero_rate, &out_wav],
        &[],
        &zero_rate,
        "unsupported sample rate 0 Hz",
    );

    let opus = dir.path("good.opus");
    convert(&good, &opus, &[]);
    let corrupt = dir.path("corrupt.opus");
    let mut bytes = std::fs::read(&opus).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    std::fs::write(&corrupt, bytes).unwrap();
    assert_fails(
        &dir,
        &[&corrupt, &out_wav],
        &[],
        &corrupt,
        "corrupt Ogg page",
    );

    let mp3 = dir.path("song.mp3");
    std::fs::write(&mp3, b"ID3").unwrap();
    assert_fails(
        &dir,
        &[&mp3, &out_wav],
        &[],
        &mp3,
        "unknown file extension .mp3",
    );
    let xyz = dir.path("out.xyz");
    assert_fails(
        &dir,
        &[&good, &xyz],
        &[],
        &xyz,
        "unknown file extension .xyz",
    );

    let missing = dir.path("missing.wav");
    assert_fails(&dir, &[&missing, &out_wav], &[], &missing, "No such file");
    let not_wav = dir.path("not-really.wav");
    std::fs::write(&not_wav, b"OggS and then nothing").unwrap();
    assert_fails(
        &dir,
        &[&not_wav, &out_wav],
        &[],
        &not_wav,
        "not a RIFF/WAVE file",
    );
    assert_fails(
        &dir,
        &[&good, &out_wav],
        &["--codec", "pcmu"],
        &out_wav,
        "cannot be stored",
    );

    // A failure never clobbers an existing output.
    std::fs::write(&out_wav, b"keep me").unwrap();
    let out = tandem([truncated.as_os_str(), out_wav.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&out_wav).unwrap(), b"keep me");
}

#[test]
fn batch_converts_the_rest_and_reports_every_failure() {
    let dir = Scratch::new("batch");
    let inputs = dir.path("in");
    let outputs = dir.path("out");
    std::fs::create_dir_all(&inputs).unwrap();
    let mut files = Vec::new();
    for (i, hz) in [500.0, 1000.0, 1500.0, 2000.0].into_iter().enumerate() {
        let path = inputs.join(format!("tone{i}.wav"));
        wav::write(&path, 8000, &tone(8000, hz, 0.5, 6000.0)).unwrap();
        files.push(path);
    }
    let ulaw = inputs.join("tone4.ul");
    convert(&files[0], &ulaw, &[]);
    files.push(ulaw);
    let all_good = |extra: &[&str]| {
        let mut args: Vec<std::ffi::OsString> = vec![
            "--out-dir".into(),
            outputs.clone().into(),
            "--to".into(),
            "opus".into(),
        ];
        args.extend(files.iter().map(|f| f.clone().into_os_string()));
        args.extend(extra.iter().map(|s| (*s).into()));
        tandem(args)
    };
    let out = all_good(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        out.stderr.is_empty(),
        "no progress bar when stderr is not a terminal: {}",
        stderr(&out)
    );
    let mut names: Vec<String> = std::fs::read_dir(&outputs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "tone0.opus",
            "tone1.opus",
            "tone2.opus",
            "tone3.opus",
            "tone4.opus"
        ]
    );
    let back = dir.path("tone2.wav");
    convert(&outputs.join("tone2.opus"), &back, &[]);
    let (rate, samples) = read_wav(&back);
    assert_tone(
        "batch tone2",
        rate,
        &samples,
        1500.0,
        0.5,
        rms(&tone(8000, 1500.0, 0.5, 6000.0)),
    );

    // Two bad files among good ones: both reported, the rest converted, exit status 2.
    std::fs::remove_dir_all(&outputs).unwrap();
    let truncated = inputs.join("bad1.wav");
    std::fs::write(&truncated, &std::fs::read(&files[1]).unwrap()[..100]).unwrap();
    let missing = inputs.join("bad2.wav");
    let mut args: Vec<std::ffi::OsString> = vec![
        "--out-dir".into(),
        outputs.clone().into(),
        "--to".into(),
        "wav".into(),
    ];
    args.extend(files.iter().map(|f| f.clone().into_os_string()));
    args.push(truncated.clone().into());
    args.push(missing.clone().into());
    let out = tandem(args);
    assert_eq!(out.status.code(), Some(2));
    let message = stderr(&out);
    assert!(
        message
            .lines()
            .any(|l| l.contains(&truncated.display().to_string()) && l.contains("truncated")),
        "{message}"
    );
    assert!(
        message
            .lines()
            .any(|l| l.contains(&missing.display().to_string())),
        "{message}"
    );
    assert!(message.contains("2 of 7 files failed"), "{message}");
    let mut names: Vec<String> = std::fs::read_dir(&outputs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "tone0.wav",
            "tone1.wav",
            "tone2.wav",
            "tone3.wav",
            "tone4.wav"
        ]
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = tandem(["only-one.wav"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    let out = tandem(["a.wav", "b.opus", "--bitrate", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--bitrate 5"), "{}", stderr(&out));
    let out = tandem(["--out-dir", "x", "--to", "mp3", "a.wav"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--to mp3"), "{}", stderr(&out));
}
