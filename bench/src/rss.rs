//! The resident memory of the server process, read from `/proc/PID/status`, and a sampler
//! thread that keeps the peak while a load runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often the peak sampler looks at the server.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(50);

/// `VmRSS` of process `pid` in KiB, or `None` if the process or the line is gone.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss_kib(&status)
}

fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut fields = line.split_whitespace().skip(1);
    let value: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") | None => Some(value),
        Some(_) => None,
    }
}

/// Samples the RSS of a process until stopped and returns the largest value seen.
pub struct PeakSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Option<u64>>,
}

impl PeakSampler {
    pub fn start(pid: u32) -> PeakSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let mut peak = vm_rss_kib(pid);
            while !flag.load(Ordering::Relaxed) {
                thread::sleep(SAMPLE_INTERVAL);
                peak = peak.max(vm_rss_kib(pid));
            }
            peak
        });
        PeakSampler { stop, thread }
    }

    pub fn finish(self) -> Option<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_vm_rss_line() {
        let status = "Name:\ttastevin\nVmPeak:\t  9000 kB\nVmRSS:\t    3172 kB\nThreads:\t5\n";
        assert_eq!(parse_vm_rss_kib(status), Some(3172));
        assert_eq!(parse_vm_rss_kib("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss_kib("VmRSS:\tlots kB\n"), None);
    }

    #[test]
    fn measures_this_process() {
        let own = vm_rss_kib(std::process::id()).unwrap();
        assert!(own > 0);
        let peak = PeakSampler::start(std::process::id()).finish().unwrap();
        assert!(peak > 0);
    }
}
