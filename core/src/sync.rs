//! The std / loom facade for the crate's lock-free code (tokio's pattern): every atomic, `Arc`
//! and `UnsafeCell` the control-plane queues use is imported from here, so that
//! `RUSTFLAGS="--cfg loom"` swaps in loom's model-checked twins without touching the queue.
//!
//! Under `cfg(loom)` the types come from `loom`; otherwise from `std`, with a `UnsafeCell`
//! wrapper that offers loom's closure API (`with`, `with_mut`) at zero cost. Nothing here
//! allocates, blocks or makes a system call.

#![allow(unexpected_cfgs)]

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;
#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering, fence};

#[cfg(not(loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering, fence};

/// `std::cell::UnsafeCell` with loom's access API, so the queue code is the same under both.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a shared raw pointer to the value.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a mutable raw pointer to the value.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Pads and aligns a value to 128 bytes so the producer's and the consumer's index never share
/// a cache line (two 64-byte lines: the adjacent-line prefetcher of x86 pulls pairs).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}
