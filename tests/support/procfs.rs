//! What `/proc` says about the server process, read from outside, to check its
//! self-reported process metrics.

use std::fs;

/// The fields of `/proc/<pid>/stat` the process metrics are built from.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Start time after boot, in clock ticks.
    pub start_ticks: u64,
    pub vsize_bytes: u64,
    pub rss_pages: u64,
}

pub fn stat(pid: u32) -> Stat {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    let (_, after) = text.rsplit_once(')').expect("stat has a command name");
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(1) // state
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // `fields[0]` is field 4 (ppid) of proc(5).
    let field = |n: usize| fields.get(n - 4).copied().expect("stat field present");
    Stat {
        cpu_ticks: field(14) + field(15),
        start_ticks: field(22),
        vsize_bytes: field(23),
        rss_pages: field(24),
    }
}

/// Entries of `/proc/<pid>/fd`.
pub fn open_fds(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list /proc/<pid>/fd")
        .count()
}

/// The soft "Max open files" of `/proc/<pid>/limits`.
pub fn max_fds(pid: u32) -> u64 {
    let text = fs::read_to_string(format!("/proc/{pid}/limits")).expect("read /proc/<pid>/limits");
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("limits has Max open files");
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a numeric soft limit")
}

/// `VmRSS` of `/proc/<pid>/status`, in bytes.
pub fn vm_rss_bytes(pid: u32) -> u64 {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in status");
    kib * 1024
}

/// `btime` of `/proc/stat`: boot time in unix seconds.
pub fn boot_time() -> u64 {
    fs::read_to_string("/proc/stat")
        .expect("read /proc/stat")
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
        .expect("btime in /proc/stat")
}

pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).expect("positive clock ticks")
}

pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).expect("positive page size")
}

/// Descriptors of `/proc/<pid>/fd` that are sockets (listener and connections).
pub fn socket_fds(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list /proc/<pid>/fd")
        .filter_map(|entry| fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}
