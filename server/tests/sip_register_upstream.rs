//! Tandem registers itself with an upstream registrar (`[[registrations]]`): sipp's
//! `uas_register_401.xml` challenges with digest MD5, checks the credentials with
//! `verifyauth` (alice/secret), answers 200, and answers the un-REGISTER Tandem sends when
//! it shuts down (../shared/peers/PEERS.md §2). With a wrong password the registrar
//! answers 403 and Tandem reports the failure.

mod support;

use std::time::{Duration, Instant};

use support::{Ports, Sipp, Tandem, sipp_available};

/// The ports of upstream registration test `n` (43..45): Tandem's as `Ports::for_test`
/// would give them, the sipp registrar's in 21000-21999.
fn ports(n: u16) -> Ports {
    assert!((43..45).contains(&n));
    let k = n - 40;
    Ports {
        peer_sip: 21000 + 10 * k,
        peer_media: 21500 + 40 * k,
        ..Ports::for_test(n)
    }
}

/// Tandem registering as alice with `password` at the sipp registrar of `p`.
fn start_tandem(p: &Ports, name: &str, password: &str) -> Tandem {
    let config = std::env::temp_dir().join(format!(
        "tandem-register-upstream-{}-{name}.toml",
        std::process::id()
    ));
    std::fs::write(
        &config,
        format!(
            "[[registrations]]\nregistrar = \"sip:127.0.0.1:{}\"\nuser = \"alice\"\n\
             password = \"{password}\"\nexpires_s = 60\n",
            p.peer_sip
        ),
    )
    .unwrap();
    let mut args = p.run_args();
    args.extend(["--config".to_owned(), config.to_string_lossy().into_owned()]);
    Tandem::start(&args)
}

fn registrar(p: &Ports, name: &str, limit: Duration) -> support::SippProcess {
    let xml =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/uas_register_401.xml");
    Sipp::new(
        name,
        &xml.to_string_lossy(),
        p.peer_sip,
        p.peer_media,
        1,
        limit,
    )
    .spawn()
}

/// Waits up to `limit` for `needle` in Tandem's stderr.
fn wait_for_log(tandem: &Tandem, needle: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if tandem.stderr().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn tandem_registers_through_a_digest_challenge_and_unregisters_at_shutdown() {
    assert!(
        sipp_available(),
        "sipp is missing: run `bash scripts/deps.sh test`"
    );
    let p = ports(43);
    let limit = Duration::from_secs(30);
    let sipp = registrar(&p, "reg-upstream-ok", limit);
    std::thread::sleep(Duration::from_millis(500));
    let tandem = start_tandem(&p, "ok", "secret");
    let registered = wait_for_log(&tandem, "INFO registered upstream", Duration::from_secs(5));
    let (status, stderr) = tandem.terminate();
    let sipp = sipp.wait(Duration::from_secs(10));

    assert!(registered, "{stderr}");
    assert!(stderr.contains("expires=60"), "{stderr}");
    assert!(stderr.contains("unregistered upstream"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(
        sipp.code,
        Some(0),
        "registrar: {}\ntandem: {stderr}",
        sipp.output
    );
    assert_eq!(sipp.stats.map(|s| s.successful()), Some(1));
}

#[test]
fn a_wrong_password_is_refused_and_reported() {
    assert!(
        sipp_available(),
        "sipp is missing: run `bash scripts/deps.sh test`"
    );
    let p = ports(44);
    let limit = Duration::from_secs(30);
    let sipp = registrar(&p, "reg-upstream-wrong", limit);
    std::thread::sleep(Duration::from_millis(500));
    let tandem = start_tandem(&p, "wrong", "wrong");
    let failed = wait_for_log(
        &tandem,
        "upstream registration failed",
        Duration::from_secs(5),
    );
    let (status, stderr) = tandem.terminate();
    let sipp = sipp.wait(Duration::from_secs(10));

    assert!(failed, "{stderr}");
    assert!(stderr.contains("403"), "{stderr}");
    assert!(!stderr.contains("registered upstream"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    // The registrar stand-in fails the "call" when verifyauth does not pass.
    assert_eq!(sipp.code, Some(1), "registrar: {}", sipp.output);
}
