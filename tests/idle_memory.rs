//! `server::idle_memory::release` hands freed heap pages back to the kernel (glibc builds;
//! the musl build's mimalloc does so by itself and `release` does nothing there).

#[cfg(target_env = "gnu")]
fn resident_anonymous_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("RssAnon in /proc/self/status")
}

#[cfg(target_env = "gnu")]
#[test]
fn freed_heap_pages_leave_the_resident_set() {
    // 257 blocks of 32 KiB: below glibc's mmap threshold, so they come from the heap one
    // after the other, each page written so that it is resident. The last one, kept, pins
    // the top of the heap, so that freeing the others leaves 8 MiB of free pages inside the
    // heap (which glibc does not return by itself), the way a closed connection's buffers
    // below a live allocation do.
    let mut blocks: Vec<Vec<u8>> = (0..257).map(|_| vec![1u8; 32 * 1024]).collect();
    let pin = blocks.pop().expect("257 blocks");
    drop(blocks);
    let before = resident_anonymous_kib();
    tastevin::server::idle_memory::release();
    let after = resident_anonymous_kib();
    assert!(
        after + 4 * 1024 <= before,
        "RssAnon {before} KiB before release, {after} KiB after: the 8 MiB freed stayed resident"
    );
    assert_eq!(pin[0], 1);
}
