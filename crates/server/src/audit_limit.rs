//! How many audit entries (and log lines) requests that fail before authenticating may cause,
//! per client address. Anyone who reaches the port can send such requests, and each one adds a
//! line to an audit log that is kept forever (and, written durably, an fsync); unlimited, a
//! client fills the disk. So each address gets a token bucket: its failures are recorded while
//! it has tokens, the rest are counted instead, and one summary entry later says how many were
//! not recorded (when the address is next recorded, or at the next sweep). Entries of
//! authenticated requests never pass through here: they are always written.
//!
//! Memory is bounded: at most `capacity` addresses are tracked. IPv6 clients are tracked by
//! their /64, which one client usually holds whole. When the table is full, buckets that have
//! refilled and owe no summary are forgotten; if none has, new addresses share one bucket.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a full table may be swept for forgettable buckets.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Where unauthenticated failures come from, as they are counted: an IPv4 address, or the /64
/// of an IPv6 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    V4(Ipv4Addr),
    V6Prefix(u64),
    /// Every address that found the table full.
    Others,
}

impl Source {
    pub fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(v4) => Source::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4),
                None => Source::V6Prefix((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::V4(a) => write!(f, "{a}"),
            Source::V6Prefix(p) => {
                write!(f, "{}/64", std::net::Ipv6Addr::from(u128::from(*p) << 64))
            }
            Source::Others => f.write_str("other addresses"),
        }
    }
}

/// What was not recorded for one source since its last summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub source: Source,
    pub suppressed: u64,
    /// Epoch milliseconds of the first and the last failure not recorded.
    pub first_ms: i64,
    pub last_ms: i64,
}

/// The verdict on one unauthenticated failure.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Record its entry (and log it).
    pub record: bool,
    /// When it is recorded after some were not: what was not, to be recorded first.
    pub summary: Option<Summary>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    suppressed: u64,
    first_ms: i64,
    last_ms: i64,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            updated: now,
            suppressed: 0,
            first_ms: 0,
            last_ms: 0,
        }
    }

    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.updated = now;
    }

    fn take_summary(&mut self, source: Source) -> Option<Summary> {
        if self.suppressed == 0 {
            return None;
        }
        let s = Summary {
            source,
            suppressed: self.suppressed,
            first_ms: self.first_ms,
            last_ms: self.last_ms,
        };
        self.suppressed = 0;
        Some(s)
    }
}

struct Table {
    buckets: HashMap<Source, Bucket>,
    last_sweep: Option<Instant>,
}

/// The per-address limit on recording unauthenticated failures.
pub struct UnauthenticatedAudit {
    /// Tokens per second; 0 turns the limit off.
    rate: f64,
    burst: f64,
    capacity: usize,
    table: Mutex<Table>,
}

impl UnauthenticatedAudit {
    /// `rate` entries per second per address after a burst of `burst`; at most `capacity`
    /// addresses tracked. A `rate` of 0 records every failure.
    pub fn new(rate: f64, burst: u32, capacity: usize) -> Self {
        Self {
            rate,
            burst: f64::from(burst.max(1)),
            capacity: capacity.max(1),
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                last_sweep: None,
            }),
        }
    }

    /// One failure from `ip`, at `now` (`now_ms` in epoch milliseconds, for the summary).
    pub fn judge(&self, ip: IpAddr, now: Instant, now_ms: i64) -> Verdict {
        if self.rate <= 0.0 {
            return Verdict {
                record: true,
                summary: None,
            };
        }
        let mut table = match self.table.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut source = Source::of(ip);
        if !table.buckets.contains_key(&source) && table.buckets.len() >= self.capacity {
            self.sweep(&mut table, now);
            if table.buckets.len() >= self.capacity {
                source = Source::Others;
            }
        }
        let burst = self.burst;
        let bucket = table
            .buckets
            .entry(source)
            .or_insert_with(|| Bucket::full(burst, now));
        bucket.refill(self.rate, burst, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Verdict {
                record: true,
                summary: bucket.take_summary(source),
            }
        } else {
            if bucket.suppressed == 0 {
                bucket.first_ms = now_ms;
            }
            bucket.suppressed += 1;
            bucket.last_ms = now_ms;
            Verdict {
                record: false,
                summary: None,
            }
        }
    }

    /// Forgets buckets that have refilled and owe no summary, at most once per
    /// [`SWEEP_EVERY`] (a full table of busy addresses is not walked on every request).
    fn sweep(&self, table: &mut Table, now: Instant) {
        if table
            .last_sweep
            .is_some_and(|t| now.saturating_duration_since(t) < SWEEP_EVERY)
        {
            return;
        }
        table.last_sweep = Some(now);
        let (rate, burst) = (self.rate, self.burst);
        table.buckets.retain(|_, b| {
            b.refill(rate, burst, now);
            b.suppressed > 0 || b.tokens < burst
        });
    }

    /// The summaries every source owes (counts start again from zero), and forgets buckets
    /// that have refilled: the periodic sweep, and the last one at shutdown.
    pub fn summaries(&self, now: Instant) -> Vec<Summary> {
        let mut table = match self.table.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut out: Vec<Summary> = table
            .buckets
            .iter_mut()
            .filter_map(|(source, b)| b.take_summary(*source))
            .collect();
        out.sort_by_key(|s| s.first_ms);
        table.last_sweep = None;
        self.sweep(&mut table, now);
        out
    }

    /// How many sources are tracked (for tests).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.table.lock().map(|t| t.buckets.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_is_recorded_then_counted_then_summarised() {
        let limit = UnauthenticatedAudit::new(1.0, 3, 100);
        let t0 = Instant::now();
        let a = ip("203.0.113.9");
        for i in 0..3 {
            let v = limit.judge(a, t0, i);
            assert!(v.record && v.summary.is_none(), "{i}");
        }
        for i in 3..10 {
            assert!(!limit.judge(a, t0, i).record);
        }
        // Another address has its own bucket.
        assert!(limit.judge(ip("203.0.113.10"), t0, 10).record);
        // A second later one token is back: recorded, with what was not before it.
        let v = limit.judge(a, t0 + Duration::from_secs(1), 1000);
        assert!(v.record);
        assert_eq!(
            v.summary,
            Some(Summary {
                source: Source::V4("203.0.113.9".parse().unwrap()),
                suppressed: 7,
                first_ms: 3,
                last_ms: 9,
            })
        );
        assert!(!limit.judge(a, t0 + Duration::from_secs(1), 1001).record);
        // The sweep reports it too, once.
        let later = t0 + Duration::from_secs(1);
        let s = limit.summaries(later);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].suppressed, 1);
        assert!(limit.summaries(later).is_empty());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let limit = UnauthenticatedAudit::new(1.0, 1, 100);
        let t = Instant::now();
        assert!(limit.judge(ip("2001:db8:1:2::1"), t, 0).record);
        assert!(!limit.judge(ip("2001:db8:1:2:ffff::9"), t, 1).record);
        assert!(limit.judge(ip("2001:db8:1:3::1"), t, 2).record);
        // An IPv4 client seen through an IPv6 socket is its IPv4 address.
        assert!(limit.judge(ip("::ffff:192.0.2.1"), t, 3).record);
        assert!(!limit.judge(ip("192.0.2.1"), t, 4).record);
        let s = limit.summaries(t);
        let shown: Vec<String> = s.iter().map(|s| s.source.to_string()).collect();
        assert_eq!(shown, ["2001:db8:1:2::/64", "192.0.2.1"]);
    }

    #[test]
    fn the_table_stays_bounded_and_newcomers_share_a_bucket_when_it_is_full() {
        let limit = UnauthenticatedAudit::new(1.0, 2, 4);
        let t = Instant::now();
        for i in 0..4 {
            assert!(
                limit
                    .judge(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), t, 0)
                    .record
            );
        }
        // Full of buckets still refilling: newcomers share one.
        for i in 10..100 {
            let _ = limit.judge(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), t, 0);
            assert!(limit.tracked() <= 5);
        }
        let others = limit.summaries(t);
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].source, Source::Others);
        assert_eq!(others[0].suppressed, 88);
        // Once buckets have refilled they are forgotten, and newcomers get their own again.
        let later = t + Duration::from_secs(10);
        assert!(limit.summaries(later).is_empty());
        assert_eq!(limit.tracked(), 0);
        let v = limit.judge(ip("10.0.1.1"), later, 0);
        assert!(v.record);
        assert_eq!(limit.tracked(), 1);
    }

    #[test]
    fn a_zero_rate_records_everything() {
        let limit = UnauthenticatedAudit::new(0.0, 1, 1);
        let t = Instant::now();
        for i in 0..100 {
            assert!(
                limit
                    .judge(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), t, 0)
                    .record
            );
        }
        assert!(limit.summaries(t).is_empty());
    }
}
