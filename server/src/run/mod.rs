//! `tandem run`: the server.
pub mod config;
