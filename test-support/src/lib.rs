//! Helpers that several crates' tests share, so each real-time or corpus test says only what
//! it checks. Dev-dependency only: nothing here ships in the engine.
//!
//! - [`alloc`]: a counting global allocator, for the "steady state allocates nothing" tests
//!   (STYLE.md rule 10).
//! - [`corpus`]: replays the fuzz targets' seed corpora on stable, so CI exercises every
//!   parser's fuzz entry point.
//! - [`cases`]: a property test's case count, raised by `PROPTEST_CASES` for a deeper run.
//! - [`settle`]: reads state another thread changes until it settles, bounded.
#![allow(unsafe_code)] // `alloc` implements `GlobalAlloc`; nothing else is unsafe.

pub mod alloc;
pub mod cases;
pub mod corpus;
pub mod settle;
