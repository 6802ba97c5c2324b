//! A counting global allocator: the peak number of heap bytes one thread holds while it runs a
//! closure, so a parser's memory use can be compared with the size of its input.
//!
//! Counters are per thread (the test harness runs tests on several threads at once) and only
//! move while [`peak_bytes`] is metering, so the harness's own allocations are not counted.
//! Memory allocated on the metered thread and freed on another is not tracked; the parsers
//! measured here run on the calling thread.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, with per-thread accounting of live bytes while metering.
pub struct CountingAllocator;

thread_local! {
    static METERING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// Adds `delta` bytes to this thread's live count when metering. The cells are `const`
/// initialized and need no destructor, so touching them never allocates; `try_with` keeps this
/// safe while a thread is being torn down.
fn record(delta: isize) {
    let _ = METERING.try_with(|metering| {
        if metering.get() {
            let live = LIVE.get() + delta;
            LIVE.set(live);
            if live > PEAK.get() {
                PEAK.set(live);
            }
        }
    });
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the bookkeeping around it never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract for `layout`.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            record(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc_zeroed`'s contract for `layout`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            record(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this wrapper) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        record(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `System` with `layout`; the caller upholds the rest.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            record(new_size as isize - layout.size() as isize);
        }
        moved
    }
}

/// Runs `f` and returns its result with the peak of heap bytes this thread held meanwhile
/// (counted from zero at the start; the result itself, if it owns heap memory, is included).
pub fn peak_bytes<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LIVE.set(0);
    PEAK.set(0);
    METERING.set(true);
    let out = f();
    METERING.set(false);
    (out, PEAK.get().max(0) as usize)
}
