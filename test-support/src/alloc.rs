//! A global allocator that counts the allocations a thread makes while counting is armed.
//!
//! Install it in a test binary, then measure a window of work:
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: tandem_test_support::alloc::CountingAllocator =
//!     tandem_test_support::alloc::CountingAllocator;
//!
//! let made = allocations_in(|| worker.tick(now));
//! assert_eq!(made.count, 0, "{made}");
//! ```
//!
//! Only the thread that armed counting is counted, so the test harness' other threads (and
//! peers running elsewhere) never disturb a measurement. The bookkeeping uses const-initialised
//! thread-locals, which never allocate, and never panics inside the allocator: tests assert
//! afterwards.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
    static FIRST_SIZE: Cell<usize> = const { Cell::new(0) };
}

/// Forwards every call to the system allocator and counts `alloc`, `alloc_zeroed` and
/// `realloc` calls made on an armed thread.
#[derive(Debug, Clone, Copy)]
pub struct CountingAllocator;

fn note(layout: Layout) {
    // `try_with`: a thread's locals may already be gone while it shuts down.
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = COUNT.try_with(|count| {
                if count.get() == 0 {
                    let _ = FIRST_SIZE.try_with(|size| size.set(layout.size()));
                }
                count.set(count.get() + 1);
            });
        }
    });
}

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged;
// the counting touches only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout);
        // SAFETY: forwarded as received; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(Layout::from_size_align(new_size, layout.align()).unwrap_or(layout));
        // SAFETY: as for `dealloc`; `new_size` is forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What a counting window saw on its thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocations {
    /// Allocations (including reallocations) made in the window.
    pub count: usize,
    /// Size in bytes of the first one (0 when there was none): a hint at who allocated.
    pub first_size: usize,
}

impl fmt::Display for Allocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.count {
            0 => f.write_str("no allocations"),
            n => write!(
                f,
                "{n} allocations (the first of {} bytes)",
                self.first_size
            ),
        }
    }
}

/// An armed counting window on the current thread; [`Counting::finish`] closes it.
///
/// Use this form when the window opens and closes at different points of a loop; otherwise
/// [`allocations_in`] is simpler. Only the installed [`CountingAllocator`] counts: without it
/// every window reports zero, so each test also checks that the counter sees a known
/// allocation (see [`counter_is_installed`]).
#[derive(Debug)]
#[must_use = "a window counts until `finish` is called"]
pub struct Counting {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Counting {
    /// Arms counting on this thread, from zero.
    pub fn start() -> Self {
        COUNT.with(|count| count.set(0));
        FIRST_SIZE.with(|size| size.set(0));
        ARMED.with(|armed| armed.set(true));
        Self {
            _not_send: std::marker::PhantomData,
        }
    }

    /// Disarms counting and reports what the window saw.
    pub fn finish(self) -> Allocations {
        ARMED.with(|armed| armed.set(false));
        Allocations {
            count: COUNT.with(Cell::get),
            first_size: FIRST_SIZE.with(Cell::get),
        }
    }
}

/// Runs `f` with counting armed on this thread and reports the allocations it made.
pub fn allocations_in(f: impl FnOnce()) -> Allocations {
    let window = Counting::start();
    f();
    window.finish()
}

/// True when the [`CountingAllocator`] is the global allocator of this binary: a window
/// around a known allocation sees it. Tests assert this so that a zero count means something.
pub fn counter_is_installed() -> bool {
    allocations_in(|| drop(std::hint::black_box(vec![1u8; 64]))).count >= 1
}
