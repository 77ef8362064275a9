//! Tandem's packet I/O backends, beneath the media workers: a batch trait shaped like
//! quinn-udp's (caller buffers and metadata arrays in, a count out), the UDP backend with
//! `recvmmsg`/`sendmmsg`, a pcap writer that wraps any backend, a pcap replay source, and a
//! fault-injection wrapper for tests.

pub mod packet;
