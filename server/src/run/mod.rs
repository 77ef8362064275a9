//! `tandem run`: the server.
pub mod config;
pub mod media;
pub mod routing;
pub mod shutdown;
pub mod transport;
