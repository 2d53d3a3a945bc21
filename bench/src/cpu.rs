//! CPU time used by a process (user + system), read from `/proc/PID/stat`. On a machine shared
//! by client and server, CPU time per request is a steadier figure than requests per second.

use std::time::Duration;

/// `/proc` reports times in clock ticks of `USER_HZ`, which Linux fixes at 100 for user space.
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of process `pid` so far, or `None` if it cannot be read.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// CPU time of this process.
pub fn own_cpu_time() -> Option<Duration> {
    cpu_time(std::process::id())
}

/// `utime + stime` (fields 14 and 15). The command name (field 2) is in parentheses and may
/// contain spaces, so counting starts after its closing parenthesis.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    // after_name starts with field 3 (state): utime is the 12th field from there.
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// CPU time used by the server and by loadgen itself, over the whole run (warm-up included).
pub struct CpuUse {
    pub server: Option<Duration>,
    pub client: Option<Duration>,
}

impl CpuUse {
    pub fn now(server_pid: Option<u32>) -> CpuUse {
        CpuUse {
            server: server_pid.and_then(cpu_time),
            client: own_cpu_time(),
        }
    }

    pub fn since(&self, earlier: &CpuUse) -> CpuUse {
        let delta =
            |now: Option<Duration>, then: Option<Duration>| Some(now?.saturating_sub(then?));
        CpuUse {
            server: delta(self.server, earlier.server),
            client: delta(self.client, earlier.client),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_ticks() {
        let stat = "4242 (tastevin serve) S 1 4242 4242 0 -1 4194560 120 0 0 0 250 37 0 0 20 0 \
                    1 0 100 2600000 980 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(287));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1"), None);
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn own_cpu_time_grows() {
        let before = own_cpu_time().unwrap();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(own_cpu_time().unwrap() >= before);
        let used = CpuUse::now(None).since(&CpuUse {
            server: None,
            client: Some(before),
        });
        assert_eq!(used.server, None);
        assert!(used.client.is_some());
    }
}
