//! `tandem dtmf`. Being written.

use std::process::ExitCode;

/// `tandem dtmf` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum DtmfCommand {}

pub(crate) fn run(command: DtmfCommand) -> ExitCode {
    match command {}
}
