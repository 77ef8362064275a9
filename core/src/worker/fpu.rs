//! The media worker's floating-point mode: subnormal numbers flushed to zero.
//!
//! Audio filters decay towards zero through the subnormal range (below 1.2e-38 for `f32`),
//! and on x86 every arithmetic operation that reads or produces a subnormal takes a slow
//! microcode path, tens to a hundred times a normal one. libopus' float encoder runs such
//! recursions in every frame (its transient analysis and pre-filter memories), so quiet
//! stretches of a call can cost several times a loud one. Inaudible values (below -700 dBFS)
//! are worth nothing to telephony, so the worker thread sets FTZ and DAZ (MXCSR bits 15 and
//! 6) before it runs any session: results and inputs that would be subnormal are zero.
//!
//! The mode is per thread and set once; code on other threads (control plane, tests) is
//! unaffected. Benchmarks that time codec work as the worker does it (the loadgen's codec
//! floor) call [`flush_subnormals_to_zero`] on their own timing thread. Other architectures keep their default mode.
//!
//! The crate's only `unsafe`: the two MXCSR intrinsics.

#![allow(unsafe_code)]

/// Sets flush-to-zero and denormals-are-zero on the calling thread. True if this
/// architecture has them and they are now on.
pub fn flush_subnormals_to_zero() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        #[allow(deprecated)] // The intrinsics are deprecated for `asm!`, not unsound.
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        const FLUSH_TO_ZERO: u32 = 1 << 15;
        const DENORMALS_ARE_ZERO: u32 = 1 << 6;
        // SAFETY: SSE is part of x86_64. Changing MXCSR's FTZ/DAZ bits affects only how
        // this thread rounds subnormal floats; no memory is touched.
        #[allow(deprecated)]
        unsafe {
            _mm_setcsr(_mm_getcsr() | FLUSH_TO_ZERO | DENORMALS_ARE_ZERO);
        }
        #[allow(deprecated)]
        // SAFETY: as above; reading MXCSR has no effect.
        let csr = unsafe { _mm_getcsr() };
        csr & (FLUSH_TO_ZERO | DENORMALS_ARE_ZERO) == FLUSH_TO_ZERO | DENORMALS_ARE_ZERO
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn subnormals_become_zero_on_this_thread_only() {
        let tiny = std::hint::black_box(f32::MIN_POSITIVE);
        let other = std::thread::spawn(move || std::hint::black_box(tiny) / 4.0)
            .join()
            .unwrap();
        assert!(other > 0.0, "other threads keep subnormals");
        let worker = std::thread::spawn(move || {
            assert!(flush_subnormals_to_zero());
            std::hint::black_box(tiny) / 4.0
        })
        .join()
        .unwrap();
        assert_eq!(worker, 0.0);
    }
}
