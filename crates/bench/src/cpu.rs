//! CPU time a server process spent, read from `/proc/<pid>/stat` (Linux): user plus system
//! time of all its threads, the figure that divided by the requests answered gives the
//! server's CPU per request. Less sensitive than requests per second to whatever else runs on
//! the machine, since time spent waiting for a core is not counted.

use std::time::Duration;

use anyhow::Context;

/// utime + stime of process `pid` (every thread), from fields 14 and 15 of its `stat`
/// (see proc(5)).
pub fn process_cpu(pid: u32) -> anyhow::Result<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let ticks = stat_ticks(&text).with_context(|| format!("parsing /proc/{pid}/stat"))?;
    Ok(ticks_to_duration(ticks, clock_ticks_per_second()))
}

/// The sum of all of `pids`.
pub fn processes_cpu(pids: &[u32]) -> anyhow::Result<Duration> {
    pids.iter().map(|p| process_cpu(*p)).sum()
}

/// utime + stime in clock ticks from the text of a `stat` file. The command name (field 2)
/// is in parentheses and may hold spaces and parentheses itself, so the fields are counted
/// from the last `)`.
fn stat_ticks(text: &str) -> Option<u64> {
    let after = &text[text.rfind(')')? + 1..];
    // After the name: field 3 (state) is the first; utime and stime are fields 14 and 15.
    let mut fields = after.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

fn ticks_to_duration(ticks: u64, per_second: u64) -> Duration {
    Duration::from_micros(ticks.saturating_mul(1_000_000) / per_second.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_time_are_fields_14_and_15() {
        // A name with a space and a parenthesis must not shift the fields.
        let stat = "4242 (co ffer) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 31 0 0 20 0 9 0 100 1000 10 0";
        assert_eq!(stat_ticks(stat), Some(281));
        assert_eq!(stat_ticks("4242 (short"), None);
        assert_eq!(ticks_to_duration(281, 100), Duration::from_millis(2810));
    }

    #[test]
    fn this_process_has_spent_some_cpu() {
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        // Readable, and monotonic.
        let a = process_cpu(std::process::id()).expect("own stat");
        let b = process_cpu(std::process::id()).expect("own stat");
        assert!(b >= a);
    }
}
