//! `tandem sip lint` on real messages: RFC 4475's torture vectors (valid ones exit 0 with a
//! one-line summary, invalid ones exit 1 and say what is wrong and where), a hand-typed file
//! with LF line ends, and an unreadable path (exit 2).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vector(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sip/tests/vectors/rfc4475")
        .join(name)
}

fn lint(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["sip", "lint"])
        .arg(path)
        .output()
        .expect("tandem runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_valid_torture_message_passes_with_a_summary() {
    let out = lint(&vector("4475-3.1.1.1-wsinv.sip"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("ok: INVITE sip:vivekg@chair-dnrc.example.com"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Call-ID wsinv.ndaksdj@192.0.2.1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("body 150 bytes application/sdp"),
        "{stdout}"
    );
}

#[test]
fn an_ipv6_register_passes() {
    let out = lint(&vector("5118-4.1-ipv6-good.sip"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("ok: REGISTER sip:[2001:db8::10]"));
}

#[test]
fn invalid_messages_fail_saying_what_and_where() {
    let out = lint(&vector("4475-3.1.2.16-badvers.sip"));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unsupported SIP version at line 1, byte 33"),
        "{stderr}"
    );

    let out = lint(&vector("4475-3.1.2.1-badinv01.sip"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("malformed Via header"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_hand_typed_file_with_lf_line_ends_is_read_as_crlf() {
    let dir = std::env::temp_dir().join(format!("tandem-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("options.sip");
    std::fs::write(
        &path,
        "OPTIONS sip:echo@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1\n\
         Max-Forwards: 70\nTo: <sip:echo@127.0.0.1>\nFrom: <sip:a@127.0.0.1>;tag=1\n\
         Call-ID: abc\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n",
    )
    .unwrap();
    let out = lint(&path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("(LF line ends read as CRLF)\n"));

    // Without its CSeq the same message is not well formed.
    let without_cseq = std::fs::read_to_string(&path)
        .unwrap()
        .replace("CSeq: 1 OPTIONS\n", "");
    std::fs::write(&path, without_cseq).unwrap();
    let out = lint(&path);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing CSeq header"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unreadable_file_exits_2() {
    let out = lint(Path::new("/nonexistent/tandem/message.sip"));
    assert_eq!(out.status.code(), Some(2));
}
