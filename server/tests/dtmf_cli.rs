//! `tandem dtmf detect` / `tandem dtmf generate` end to end: the real binary, real files.
//! Round trips through our generator, digits synthesised by sox (an independent generator and
//! WAV writer), the JSON timings, and bad input (one line on stderr, exit status 2, nothing on
//! stdout).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn temp(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("tandem-dtmf-cli-{}-{n}-{name}", std::process::id()))
}

fn tandem(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(args)
        .output()
        .expect("the tandem binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Bad input: exit status 2, exactly one line on stderr, nothing on stdout.
fn assert_bad_input(o: &Output, what: &str) {
    assert_eq!(o.status.code(), Some(2), "{what}: {o:?}");
    assert_eq!(stdout(o), "", "{what}");
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "{what}: {err:?}");
    assert!(err.ends_with('\n'));
}

/// Generate then detect: the digits come back, on one line and nothing else, at 8 and 16 kHz
/// and with non-default timing, level and twist.
#[test]
fn generate_then_detect_round_trips() {
    let cases: [(&str, &[&str]); 3] = [
        ("0123456789*#ABCD", &[]),
        (
            "911",
            &["--rate", "16000", "--on-ms", "45", "--off-ms", "45"],
        ),
        (
            "*42#",
            &["--level-dbm0", "-24", "--twist-db", "-6", "--on-ms", "60"],
        ),
    ];
    for (digits, extra) in cases {
        let wav = temp("gen.wav");
        let w = wav.to_str().unwrap();
        let mut args = vec!["dtmf", "generate", digits, w];
        args.extend_from_slice(extra);
        let g = tandem(&args);
        assert!(g.status.success(), "{g:?}");
        assert_eq!(stdout(&g), "");
        let d = tandem(&["dtmf", "detect", w]);
        assert!(d.status.success(), "{d:?}");
        assert_eq!(stdout(&d), format!("{digits}\n"));
        std::fs::remove_file(&wav).ok();
    }
}

/// Digits made by sox (`synth … sine f1 … sine mix f2`, then concatenated by sox into one WAV)
/// are detected.
#[test]
fn detects_digits_synthesised_by_sox() {
    let keys = [
        ("1", 697, 1209),
        ("5", 770, 1336),
        ("9", 852, 1477),
        ("#", 941, 1477),
        ("D", 941, 1633),
    ];
    let mut pieces = Vec::new();
    for (_, lo, hi) in keys {
        let p = temp("piece.wav");
        let status = Command::new("sox")
            .args([
                "-D", "-r", "8000", "-n", "-r", "8000", "-b", "16", "-e", "signed", "-c", "1",
            ])
            .arg(&p)
            .args([
                "synth",
                "0.07",
                "sine",
                &lo.to_string(),
                "synth",
                "0.07",
                "sine",
                "mix",
            ])
            .args([
                hi.to_string().as_str(),
                "vol",
                "-8dB",
                "pad",
                "0.05",
                "0.05",
            ])
            .status()
            .expect("sox is installed");
        assert!(status.success());
        pieces.push(p);
    }
    let all = temp("sox.wav");
    let status = Command::new("sox")
        .args(&pieces)
        .arg(&all)
        .status()
        .unwrap();
    assert!(status.success());
    let d = tandem(&["dtmf", "detect", all.to_str().unwrap()]);
    assert!(d.status.success(), "{d:?}");
    assert_eq!(stdout(&d), "159#D\n");
    for p in pieces.iter().chain([&all]) {
        std::fs::remove_file(p).ok();
    }
}

/// `--json` prints one line: a JSON object with the digits and each one's start, duration and
/// level (digits 100 ms on, 100 ms off at −10 dBm0: starts 0, 200, 400 ms; −7 dBm0 together).
#[test]
fn json_output_adds_timings() {
    let wav = temp("json.wav");
    let w = wav.to_str().unwrap();
    assert!(tandem(&["dtmf", "generate", "123", w]).status.success());
    let d = tandem(&["dtmf", "detect", "--json", w]);
    assert!(d.status.success());
    let out = stdout(&d);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with('{') && out.trim_end().ends_with('}'),
        "{out}"
    );
    assert!(out.contains("\"digits\":\"123\""), "{out}");
    assert!(out.contains("\"sample_rate\":8000"), "{out}");
    for (digit, start) in [("1", 0.0), ("2", 200.0), ("3", 400.0)] {
        let key = format!("{{\"digit\":\"{digit}\",");
        let item = &out[out
            .find(&key)
            .unwrap_or_else(|| panic!("{key} not in {out}"))..];
        let number = |name: &str| -> f64 {
            let at = item.find(&format!("\"{name}\":")).expect(name) + name.len() + 3;
            let end = item[at..].find([',', '}']).unwrap() + at;
            item[at..end].parse().unwrap()
        };
        assert!((number("start_ms") - start).abs() <= 1.0, "{digit}: {item}");
        assert!(
            (number("duration_ms") - 100.0).abs() <= 1.0,
            "{digit}: {item}"
        );
        assert!((number("level_dbm0") + 7.0).abs() <= 0.2, "{digit}: {item}");
    }
    std::fs::remove_file(&wav).ok();
}

/// A file without digits prints an empty line.
#[test]
fn silence_prints_an_empty_line() {
    let wav = temp("silence.wav");
    let status = Command::new("sox")
        .args([
            "-D", "-r", "8000", "-n", "-r", "8000", "-b", "16", "-e", "signed", "-c", "1",
        ])
        .arg(&wav)
        .args(["synth", "1", "sine", "1000", "vol", "0.1"])
        .status()
        .unwrap();
    assert!(status.success());
    let d = tandem(&["dtmf", "detect", wav.to_str().unwrap()]);
    assert!(d.status.success());
    assert_eq!(stdout(&d), "\n");
    std::fs::remove_file(&wav).ok();
}

/// Bad input is one line on stderr and exit status 2: a missing file, a file that is not WAV,
/// a WAV at an unsupported rate, an invalid digit, a level that would clip, a bad rate.
#[test]
fn bad_input_is_one_line_and_status_2() {
    let missing = temp("missing.wav");
    assert_bad_input(
        &tandem(&["dtmf", "detect", missing.to_str().unwrap()]),
        "missing file",
    );

    let text = temp("text.wav");
    std::fs::write(&text, b"this is not a wav file").unwrap();
    assert_bad_input(
        &tandem(&["dtmf", "detect", text.to_str().unwrap()]),
        "not a WAV",
    );

    let odd = temp("44k.wav");
    let status = Command::new("sox")
        .args([
            "-D", "-r", "44100", "-n", "-b", "16", "-e", "signed", "-c", "1",
        ])
        .arg(&odd)
        .args(["synth", "0.1", "sine", "697"])
        .status()
        .unwrap();
    assert!(status.success());
    assert_bad_input(
        &tandem(&["dtmf", "detect", odd.to_str().unwrap()]),
        "44.1 kHz",
    );

    let out = temp("out.wav");
    let o = out.to_str().unwrap();
    assert_bad_input(&tandem(&["dtmf", "generate", "12x4", o]), "invalid digit");
    assert_bad_input(
        &tandem(&["dtmf", "generate", "1", o, "--level-dbm0", "0"]),
        "clipping level",
    );
    assert_bad_input(
        &tandem(&["dtmf", "generate", "1", o, "--rate", "11025"]),
        "rate",
    );
    assert!(!out.exists());
    for p in [text, odd] {
        std::fs::remove_file(p).ok();
    }
}
