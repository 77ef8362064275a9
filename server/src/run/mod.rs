//! `tandem run`: the server.
pub mod config;
pub mod shutdown;
pub mod transport;
