//! `tandem`: the command-line entry point. Each subcommand lives in its own module under
//! `cli/`; this file only parses arguments and dispatches.

use std::process::ExitCode;

/// mimalloc for the whole process: the control plane allocates for every command (bencode
/// values, SDP strings, replies), and glibc's malloc spent about a fifth of the ng thread's
/// CPU consolidating and splitting chunks. The media workers allocate nothing in steady state.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

mod cli;

/// Tandem, a telephony media engine.
#[derive(Debug, Parser)]
#[command(name = "tandem", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert audio files between codecs and containers (WAV, G.711, G.722, Ogg Opus, raw L16).
    Transcode(cli::transcode::TranscodeArgs),
    /// Detect or generate DTMF digits in WAV files.
    #[command(subcommand)]
    Dtmf(cli::dtmf::DtmfCommand),
    /// Run the server (SIP listeners and the media runtime) until SIGTERM or SIGINT.
    Run(cli::run::RunArgs),
    /// SIP tools: check a message file.
    #[command(subcommand)]
    Sip(cli::sip::SipCommand),
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Command::Transcode(a) => cli::transcode::run(a),
        Command::Dtmf(c) => cli::dtmf::run(c),
        Command::Run(a) => cli::run::run(a),
        Command::Sip(c) => cli::sip::run(c),
    }
}
