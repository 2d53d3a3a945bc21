//! Giving the heap that the last connection used back to the kernel once the webhook is
//! idle again.
//!
//! glibc's malloc keeps pages it got for freed memory resident in the middle of its heap:
//! one TLS connection's buffers would stay in the idle webhook's RSS. `malloc_trim`
//! releases them. The static musl build's mimalloc hands freed pages back by itself after a
//! short delay, so there is nothing to do there.

/// Releases the allocator's unused pages; called when the last open connection closes, so
/// at most once per burst of traffic, never on a request's path.
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer; it only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
