//! Giving freed memory back to the operating system after a pipeline is torn down.
//!
//! A transcoding pipeline allocates tens of MB from many streaming threads (decoder and encoder
//! frames, x264 lookahead). glibc keeps what each thread freed in that thread's arena and hands
//! back only the top of each heap, so without help the resident size ratchets up by 1-3 MB per
//! publish cycle although heaptrack shows no leak (3 MB still allocated after 14 cycles, all of
//! it one-time GStreamer registry state). `malloc_trim(0)` returns those pages (madvise), which
//! keeps RSS flat across publish/unpublish cycles (see tests/ladder_cycles.rs).

/// Returns freed heap pages to the OS (glibc only; elsewhere nothing to do).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn return_freed_memory() {
    // SAFETY: malloc_trim takes a plain size and has no preconditions; it only locks the
    // allocator's arenas while it walks them.
    let released = unsafe { libc::malloc_trim(0) } != 0;
    tracing::debug!(released, "returned freed heap memory to the OS");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn return_freed_memory() {}
