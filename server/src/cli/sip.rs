//! `tandem sip lint FILE`: is this file one well-formed SIP message?
//!
//! Reads the file, parses it with `tandem-sip`'s parser (RFC 3261 §7, §25) and checks the
//! headers every transaction relies on (§8.1.1: Via, From, To, Call-ID, CSeq, Max-Forwards
//! and the well-formedness of the others it knows). On success it prints one summary line on
//! stdout and exits 0; otherwise it prints the error, with its line and byte offset, on
//! stderr and exits 1. A file it cannot read exits 2.
//!
//! Files written with an editor usually end their lines in LF where SIP wants CRLF. When the
//! file holds no CR at all, the header section's line ends are read as CRLF (and the summary
//! says so), so a message typed by hand can be linted; a file that mixes both is taken as it
//! is.

use std::path::PathBuf;
use std::process::ExitCode;

use tandem_sip::message::Message;

/// `tandem sip` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum SipCommand {
    /// Check that a file holds one well-formed SIP message (exit 0) or say what is wrong (exit 1).
    Lint(LintArgs),
}

/// Arguments of `tandem sip lint`.
#[derive(Debug, clap::Args)]
pub(crate) struct LintArgs {
    /// The file holding the message.
    file: PathBuf,
}

/// Runs a `tandem sip` subcommand.
pub(crate) fn run(command: SipCommand) -> ExitCode {
    match command {
        SipCommand::Lint(args) => lint(&args),
    }
}

fn lint(args: &LintArgs) -> ExitCode {
    let bytes = match std::fs::read(&args.file) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("{}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let (bytes, converted) = crlf_headers(bytes);
    let verdict =
        Message::parse(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|message| match message.validate() {
                Ok(()) => Ok(message),
                Err(e) => Err(e.to_string()),
            });
    match verdict {
        Ok(message) => {
            let note = if converted {
                " (LF line ends read as CRLF)"
            } else {
                ""
            };
            println!("{}{note}", summary(&message));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{}: {error}", args.file.display());
            ExitCode::from(1)
        }
    }
}

/// One line: start line, header count, dialog identifiers and body.
fn summary(message: &Message) -> String {
    let start = match message {
        Message::Request(r) => format!("{} {}", r.method.as_str(), r.uri),
        Message::Response(r) => format!("{} {}", r.status.as_u16(), r.reason),
    };
    let headers = message.headers();
    let call_id = headers.call_id().unwrap_or("-");
    let cseq = headers
        .cseq()
        .map(|c| c.to_string())
        .unwrap_or_else(|_| "-".into());
    let body = match message.body().len() {
        0 => "no body".to_owned(),
        n => {
            let kind = headers
                .content_type()
                .ok()
                .flatten()
                .map_or_else(|| "no Content-Type".to_owned(), |c| c.to_string());
            format!("body {n} bytes {kind}")
        }
    };
    format!(
        "ok: {start}; {} headers; Call-ID {call_id}; CSeq {cseq}; {body}",
        headers.len()
    )
}

/// Rewrites the header section's bare LF line ends as CRLF when the file has no CR at all.
/// Returns the bytes to parse and whether they were rewritten.
fn crlf_headers(bytes: Vec<u8>) -> (Vec<u8>, bool) {
    if bytes.contains(&b'\r') || !bytes.contains(&b'\n') {
        return (bytes, false);
    }
    let header_end = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(bytes.len(), |at| at + 2);
    let (head, body) = bytes.split_at(header_end);
    let mut out = Vec::with_capacity(bytes.len() + head.len() / 16);
    for &b in head {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out.extend_from_slice(body);
    (out, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lf_headers_become_crlf_and_the_body_is_kept() {
        let (out, converted) = crlf_headers(b"A\nB\n\nx\ny".to_vec());
        assert!(converted);
        assert_eq!(out, b"A\r\nB\r\n\r\nx\ny");
    }

    #[test]
    fn crlf_input_is_untouched() {
        let input = b"A\r\nB\r\n\r\n".to_vec();
        assert_eq!(crlf_headers(input.clone()), (input, false));
    }
}
