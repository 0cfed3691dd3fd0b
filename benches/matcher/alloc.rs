//! A counting global allocator: the heap a build leaves allocated (the memory figure of the
//! baselines, and a cross-check of `Engine::heap_size`), and the allocations made during lookups
//! (hostgate's must be none).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// `System`, plus the counters below.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// Off while builds are timed: the counters' atomic updates would tax every allocation, and
/// builds allocate a lot. Only what is both allocated and freed while off goes uncounted.
static COUNTING: AtomicBool = AtomicBool::new(true);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counters
// are plain atomics and never affect the returned pointers.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && COUNTING.load(Relaxed) {
            LIVE.fetch_add(layout.size(), Relaxed);
            ALLOCS.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() && COUNTING.load(Relaxed) {
            LIVE.fetch_add(layout.size(), Relaxed);
            ALLOCS.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(layout.size(), Relaxed);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() && COUNTING.load(Relaxed) {
            LIVE.fetch_add(new_size, Relaxed);
            LIVE.fetch_sub(layout.size(), Relaxed);
            ALLOCS.fetch_add(1, Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The wall time of `f` with the allocation counters off; its result is dropped before they
/// come back on, so the counts stay balanced.
pub fn timed_build<T>(f: impl FnOnce() -> T) -> Duration {
    COUNTING.store(false, Relaxed);
    let t = Instant::now();
    let v = f();
    let dt = t.elapsed();
    drop(v);
    COUNTING.store(true, Relaxed);
    dt
}

/// Runs `f` and returns its value, the wall time, and the heap it left allocated.
pub fn measured<T>(f: impl FnOnce() -> T) -> (T, Duration, usize) {
    let before = LIVE.load(Relaxed);
    let t = Instant::now();
    let v = f();
    let dt = t.elapsed();
    let after = LIVE.load(Relaxed);
    (v, dt, after.saturating_sub(before))
}

/// Allocations counted so far (reallocations included).
pub fn allocations() -> usize {
    ALLOCS.load(Relaxed)
}
