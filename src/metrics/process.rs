//! `process_*` metrics read at scrape time from `/proc/self/stat`, `/proc/stat` (`btime`),
//! `/proc/self/fd` and `getrlimit(RLIMIT_NOFILE)`. Anything unreadable (no `/proc`, odd
//! content) reads as 0 so that a scrape never fails because of it.

use std::fs;

/// The process figures exposed on `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    pub virtual_memory_bytes: f64,
    pub resident_memory_bytes: f64,
    pub start_time_seconds: f64,
    pub cpu_seconds_total: f64,
    pub open_fds: f64,
    pub max_fds: f64,
}

/// The fields of `/proc/<pid>/stat` we use, in their raw units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFields {
    /// User-mode CPU time in clock ticks (field 14).
    pub utime_ticks: u64,
    /// Kernel-mode CPU time in clock ticks (field 15).
    pub stime_ticks: u64,
    /// Start time after boot in clock ticks (field 22).
    pub starttime_ticks: u64,
    /// Virtual memory size in bytes (field 23).
    pub vsize_bytes: u64,
    /// Resident set size in pages (field 24).
    pub rss_pages: u64,
}

/// Parses a `/proc/<pid>/stat` line. The command name (field 2) sits in parentheses and may
/// itself contain spaces and parentheses, so the numeric fields start after the LAST `)`.
pub fn parse_stat_line(line: &str) -> Option<StatFields> {
    let (_, after_comm) = line.rsplit_once(')')?;
    // Field 3 (state) is the first word after the command name.
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let field = |number: usize| -> Option<&str> { fields.get(number.checked_sub(3)?).copied() };
    let unsigned = |number: usize| -> Option<u64> { field(number)?.parse().ok() };
    // rss is a signed long in the kernel; a negative value cannot be a size, read it as 0.
    let rss_pages = field(24)?.parse::<i64>().ok()?.max(0).unsigned_abs();
    Some(StatFields {
        utime_ticks: unsigned(14)?,
        stime_ticks: unsigned(15)?,
        starttime_ticks: unsigned(22)?,
        vsize_bytes: unsigned(23)?,
        rss_pages,
    })
}

/// Finds the `btime` (boot time, Unix seconds) line of `/proc/stat`.
pub fn parse_boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

/// Reads the current figures of this process.
pub fn read() -> ProcessStats {
    let page_size = sysconf_positive(libc::_SC_PAGESIZE);
    let clock_ticks = sysconf_positive(libc::_SC_CLK_TCK);
    let per_tick = |ticks: u64| -> f64 {
        if clock_ticks > 0 {
            ticks as f64 / clock_ticks as f64
        } else {
            0.0
        }
    };
    let stat = fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|line| parse_stat_line(&line));
    let boot_time = fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|text| parse_boot_time(&text));

    let mut stats = ProcessStats {
        open_fds: open_fds() as f64,
        max_fds: max_fds() as f64,
        ..ProcessStats::default()
    };
    if let Some(stat) = stat {
        stats.virtual_memory_bytes = stat.vsize_bytes as f64;
        stats.resident_memory_bytes = stat.rss_pages as f64 * page_size as f64;
        stats.cpu_seconds_total = per_tick(stat.utime_ticks.saturating_add(stat.stime_ticks));
        if let Some(boot) = boot_time {
            stats.start_time_seconds = boot as f64 + per_tick(stat.starttime_ticks);
        }
    }
    stats
}

/// Entries of `/proc/self/fd`, minus the descriptor `read_dir` itself holds while listing.
fn open_fds() -> u64 {
    match fs::read_dir("/proc/self/fd") {
        Ok(entries) => (entries.count() as u64).saturating_sub(1),
        Err(_) => 0,
    }
}

/// The soft `RLIMIT_NOFILE` (what `open` would hit), 0 if it cannot be read.
pub fn max_fds() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the rlimit struct we own and pass by pointer.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if rc == 0 {
        limit.rlim_cur
    } else {
        0
    }
}

/// `sysconf(name)`, or 0 when the value is unknown or not positive.
fn sysconf_positive(name: libc::c_int) -> u64 {
    // SAFETY: sysconf takes an integer and touches no memory of ours.
    let value = unsafe { libc::sysconf(name) };
    u64::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a stat line with the given comm and recognisable values in the fields we use.
    fn stat_line(comm: &str) -> String {
        // Fields 3..=24: state, then 21 numbers; field N holds N*10 except the ones we set.
        let mut fields: Vec<String> = vec!["S".to_string()];
        for number in 4..=52 {
            let value = match number {
                14 => "1500".to_string(),
                15 => "250".to_string(),
                22 => "987654".to_string(),
                23 => "123456789".to_string(),
                24 => "4321".to_string(),
                other => (other * 10).to_string(),
            };
            fields.push(value);
        }
        format!("4242 ({comm}) {}\n", fields.join(" "))
    }

    fn expected() -> StatFields {
        StatFields {
            utime_ticks: 1500,
            stime_ticks: 250,
            starttime_ticks: 987_654,
            vsize_bytes: 123_456_789,
            rss_pages: 4321,
        }
    }

    #[test]
    fn parses_a_plain_stat_line() {
        assert_eq!(parse_stat_line(&stat_line("tastevin")), Some(expected()));
    }

    #[test]
    fn comm_with_spaces_and_parentheses_does_not_shift_fields() {
        for comm in ["my prog", "a) (b", ") 1 2 3 (", "((x))", ""] {
            assert_eq!(
                parse_stat_line(&stat_line(comm)),
                Some(expected()),
                "comm {comm:?}"
            );
        }
    }

    #[test]
    fn negative_rss_reads_as_zero() {
        let line = stat_line("x").replace(" 4321 ", " -5 ");
        assert_eq!(parse_stat_line(&line).map(|s| s.rss_pages), Some(0));
    }

    #[test]
    fn truncated_or_garbled_lines_are_rejected() {
        assert_eq!(parse_stat_line(""), None);
        assert_eq!(parse_stat_line("1 (x S 1 2 3"), None);
        assert_eq!(parse_stat_line("1 (x) S 1 2 3"), None);
        let garbled = stat_line("x").replace(" 1500 ", " fifteen ");
        assert_eq!(parse_stat_line(&garbled), None);
    }

    #[test]
    fn boot_time_is_found_among_other_lines() {
        let text = "cpu  1 2 3\nintr 5 6\nbtime 1700000000\nprocesses 12\n";
        assert_eq!(parse_boot_time(text), Some(1_700_000_000));
        assert_eq!(parse_boot_time("cpu 1\n"), None);
    }

    #[test]
    fn live_stat_line_parses() {
        let line = fs::read_to_string("/proc/self/stat").unwrap();
        let stat = parse_stat_line(&line).unwrap();
        assert!(stat.vsize_bytes > 0);
        assert!(stat.rss_pages > 0);
    }

    /// `VmRSS:   12345 kB` from `/proc/self/status`, in bytes.
    fn status_vm_rss_bytes() -> f64 {
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .unwrap();
        let kib: f64 = line.trim().trim_end_matches("kB").trim().parse().unwrap();
        kib * 1024.0
    }

    #[test]
    fn resident_memory_agrees_with_proc_status() {
        let stats = read();
        let reference = status_vm_rss_bytes();
        let ratio = stats.resident_memory_bytes / reference;
        assert!(
            (0.8..=1.2).contains(&ratio),
            "rss {} vs VmRSS {reference}",
            stats.resident_memory_bytes
        );
        assert!(stats.virtual_memory_bytes >= stats.resident_memory_bytes);
    }

    #[test]
    fn max_fds_is_the_soft_nofile_limit() {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes only into the struct we pass.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(read().max_fds, limit.rlim_cur as f64);
    }

    #[test]
    fn open_fds_follow_opened_files_and_times_are_plausible() {
        let before = read();
        let held: Vec<fs::File> = (0..64)
            .map(|_| fs::File::open("/proc/self/stat").unwrap())
            .collect();
        let during = read();
        drop(held);
        // Other test threads open and close files concurrently: leave them some slack.
        assert!(
            during.open_fds >= before.open_fds + 48.0,
            "{} then {} with 64 more files open",
            before.open_fds,
            during.open_fds
        );
        assert!(during.open_fds <= during.max_fds);
        let now = crate::metrics::registry::unix_now();
        assert!(during.start_time_seconds > 1.0e9 && during.start_time_seconds <= now + 1.0);
        assert!(during.cpu_seconds_total >= 0.0);
    }
}
