//! `tandem transcode`. Being written.

use std::process::ExitCode;

/// Arguments of `tandem transcode`.
#[derive(Debug, clap::Args)]
pub(crate) struct TranscodeArgs {}

pub(crate) fn run(_args: TranscodeArgs) -> ExitCode {
    ExitCode::from(2)
}
