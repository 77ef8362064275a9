//! One module per `tandem` subcommand.

pub(crate) mod dtmf;
pub(crate) mod run;
pub(crate) mod sip;
pub(crate) mod transcode;
