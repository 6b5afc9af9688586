//! Request rates: [`Rate`] (so many requests per second, minute or hour) and [`Limiter`], the
//! token buckets that enforce them per account and rate group.
//!
//! A bucket holds up to `count` tokens and refills at `count` per period, so a rate of
//! `100/s` allows a burst of 100 and then 100 a second, which is how the clouds state and
//! enforce their quotas. A request takes one token or is refused with the time until one is
//! there. A bucket that has refilled completely is the same as no bucket, so idle buckets are
//! dropped: memory follows the accounts active within one period, not every account ever seen.
//!
//! The buckets are spread over shards, each behind its own short-held lock, so that requests
//! of different accounts or groups rarely meet on one lock and none is global. Time is given
//! by the caller (the server's clock), which keeps the arithmetic testable.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use crate::model::{AccountId, Timestamp};

/// So many requests per period: `count` tokens, refilled at `count` per `period_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    pub count: u32,
    pub period_ms: u32,
}

impl Rate {
    pub const fn per_second(count: u32) -> Self {
        Self {
            count,
            period_ms: 1_000,
        }
    }

    pub const fn per_minute(count: u32) -> Self {
        Self {
            count,
            period_ms: 60_000,
        }
    }

    pub const fn per_hour(count: u32) -> Self {
        Self {
            count,
            period_ms: 3_600_000,
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period_ms {
            1_000 => "s",
            60_000 => "min",
            3_600_000 => "h",
            ms => return write!(f, "{}/{ms}ms", self.count),
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// Why a rate was not understood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a rate: write COUNT/s, COUNT/min or COUNT/h with COUNT from 1 to 1000000")]
pub struct BadRate(pub String);

impl FromStr for Rate {
    type Err = BadRate;

    /// `100/s`, `600/min`, `50/h` (also `sec`, `second`, `m`, `minute`, `hour`).
    fn from_str(text: &str) -> Result<Self, BadRate> {
        let bad = || BadRate(text.to_string());
        let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if !(1..=1_000_000).contains(&count) {
            return Err(bad());
        }
        let period_ms = match unit.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" => 1_000,
            "m" | "min" | "minute" => 60_000,
            "h" | "hour" => 3_600_000,
            _ => return Err(bad()),
        };
        Ok(Rate { count, period_ms })
    }
}

/// Fewer shards than this and unrelated accounts would often wait for each other's lock.
const SHARDS: usize = 64;
/// A shard looks for idle buckets to drop once it holds this many (and then twice as many as
/// it kept), so a sweep's cost is spread over the inserts that made it necessary.
const FIRST_SWEEP: usize = 64;

/// What a bucket is for: an account and a slot, an index into the limiter's rates (the
/// server numbers its (dialect, group) pairs).
type Key = (u64, u32);

/// A bucket's level in units of 1/`period_ms` token: refilling `elapsed` ms adds
/// `elapsed * count` units and a request costs `period_ms` units, all in exact integers.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    level: u64,
    at: i64,
}

struct Shard {
    buckets: HashMap<Key, Bucket>,
    sweep_at: usize,
}

/// Token buckets for a fixed list of rates, one bucket per (account, slot) in use.
pub struct Limiter {
    rates: Vec<Rate>,
    shards: Box<[Mutex<Shard>]>,
}

impl Limiter {
    /// Slot `i` is limited to `rates[i]`.
    pub fn new(rates: Vec<Rate>) -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    buckets: HashMap::new(),
                    sweep_at: FIRST_SWEEP,
                })
            })
            .collect();
        Self { rates, shards }
    }

    pub fn rates(&self) -> &[Rate] {
        &self.rates
    }

    /// Takes a token of `account`'s bucket for `slot`; when there is none, the milliseconds
    /// until there will be one (at least 1). A slot the limiter has no rate for is never
    /// limited.
    pub fn take(&self, account: AccountId, slot: u32, now: Timestamp) -> Result<(), u64> {
        let Some(rate) = self.rates.get(slot as usize).copied() else {
            return Ok(());
        };
        let count = u64::from(rate.count);
        let cost = u64::from(rate.period_ms);
        let full = count * cost;
        let key = (account.0, slot);
        let mut shard = match self.shards[shard_of(key)].lock() {
            Ok(s) => s,
            // A panic elsewhere while holding the lock leaves buckets that are still valid
            // numbers; keep limiting with them rather than failing every request.
            Err(poisoned) => poisoned.into_inner(),
        };
        let shard = &mut *shard;
        let bucket = shard.buckets.entry(key).or_insert(Bucket {
            level: full,
            at: now.0,
        });
        // A clock that steps back refills nothing rather than draining the bucket.
        let elapsed = u64::try_from(now.0.saturating_sub(bucket.at)).unwrap_or(0);
        bucket.level = full.min(bucket.level.saturating_add(elapsed.saturating_mul(count)));
        bucket.at = bucket.at.max(now.0);
        let outcome = if bucket.level >= cost {
            bucket.level -= cost;
            Ok(())
        } else {
            Err((cost - bucket.level).div_ceil(count).max(1))
        };
        if shard.buckets.len() >= shard.sweep_at {
            self.sweep(shard, now);
        }
        outcome
    }

    /// Drops the shard's buckets that have refilled by `now`: a full bucket and no bucket
    /// mean the same.
    fn sweep(&self, shard: &mut Shard, now: Timestamp) {
        shard.buckets.retain(|(_, slot), b| {
            let Some(rate) = self.rates.get(*slot as usize) else {
                return false;
            };
            let count = u64::from(rate.count);
            let full = count * u64::from(rate.period_ms);
            let elapsed = u64::try_from(now.0.saturating_sub(b.at)).unwrap_or(0);
            b.level.saturating_add(elapsed.saturating_mul(count)) < full
        });
        shard.sweep_at = (shard.buckets.len() * 2).max(FIRST_SWEEP);
    }

    /// How many buckets are held (tests and diagnostics).
    pub fn buckets(&self) -> usize {
        self.shards
            .iter()
            .map(|s| match s.lock() {
                Ok(s) => s.buckets.len(),
                Err(p) => p.into_inner().buckets.len(),
            })
            .sum()
    }
}

fn shard_of((account, slot): Key) -> usize {
    // A multiplicative hash: consecutive account ids and slots land on different shards.
    let h = (account ^ (u64::from(slot) << 48)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 58) as usize % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: AccountId = AccountId(7);

    #[test]
    fn rates_parse_and_print() {
        assert_eq!("100/s".parse::<Rate>(), Ok(Rate::per_second(100)));
        assert_eq!(" 600 / min ".parse::<Rate>(), Ok(Rate::per_minute(600)));
        assert_eq!("50/h".parse::<Rate>(), Ok(Rate::per_hour(50)));
        assert_eq!("2/second".parse::<Rate>(), Ok(Rate::per_second(2)));
        for bad in [
            "",
            "100",
            "0/s",
            "-1/s",
            "1/day",
            "x/s",
            "1000001/s",
            "1/s/s",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad:?}");
        }
        assert_eq!(Rate::per_hour(50).to_string(), "50/h");
        assert_eq!(Rate::per_minute(3).to_string(), "3/min");
        assert_eq!(Rate::per_second(10_000).to_string(), "10000/s");
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let l = Limiter::new(vec![Rate::per_second(3)]);
        let t = Timestamp(1_000_000);
        for _ in 0..3 {
            assert_eq!(l.take(A, 0, t), Ok(()));
        }
        // Empty: one token comes back every 333.3 ms.
        assert_eq!(l.take(A, 0, t), Err(334));
        assert_eq!(l.take(A, 0, Timestamp(t.0 + 333)), Err(1));
        assert_eq!(l.take(A, 0, Timestamp(t.0 + 334)), Ok(()));
        assert_eq!(l.take(A, 0, Timestamp(t.0 + 334)), Err(333));
        // A long pause refills to the burst, never beyond.
        let later = Timestamp(t.0 + 60_000);
        for _ in 0..3 {
            assert_eq!(l.take(A, 0, later), Ok(()));
        }
        assert!(l.take(A, 0, later).is_err());
    }

    #[test]
    fn hourly_rates_wait_long() {
        let l = Limiter::new(vec![Rate::per_hour(2)]);
        let t = Timestamp(0);
        assert!(l.take(A, 0, t).is_ok());
        assert!(l.take(A, 0, t).is_ok());
        assert_eq!(l.take(A, 0, t), Err(1_800_000));
    }

    #[test]
    fn accounts_and_slots_have_their_own_buckets() {
        let l = Limiter::new(vec![Rate::per_second(1), Rate::per_second(1)]);
        let t = Timestamp(5);
        assert!(l.take(A, 0, t).is_ok());
        assert!(l.take(A, 0, t).is_err());
        assert!(l.take(A, 1, t).is_ok());
        assert!(l.take(AccountId(8), 0, t).is_ok());
        // A slot without a rate is not limited.
        for _ in 0..10 {
            assert!(l.take(A, 9, t).is_ok());
        }
    }

    #[test]
    fn a_clock_stepping_back_refills_nothing() {
        let l = Limiter::new(vec![Rate::per_second(1)]);
        assert!(l.take(A, 0, Timestamp(10_000)).is_ok());
        assert!(l.take(A, 0, Timestamp(5_000)).is_err());
        assert!(l.take(A, 0, Timestamp(10_999)).is_err());
        assert!(l.take(A, 0, Timestamp(11_000)).is_ok());
    }

    #[test]
    fn idle_buckets_are_dropped() {
        let l = Limiter::new(vec![Rate::per_second(5)]);
        let t = Timestamp(0);
        for account in 0..10_000 {
            assert!(l.take(AccountId(account), 0, t).is_ok());
        }
        // Everyone took a token within the same millisecond: nothing has refilled yet.
        assert!(l.buckets() > 9_000, "{}", l.buckets());
        // A second later every one of them is full again; new traffic sweeps them away.
        let later = Timestamp(1_000);
        for account in 10_000..20_000 {
            assert!(l.take(AccountId(account), 0, later).is_ok());
        }
        assert!(
            l.buckets() <= 10_000 + SHARDS * FIRST_SWEEP,
            "{}",
            l.buckets()
        );
        // A dropped bucket comes back full.
        for _ in 0..5 {
            assert!(l.take(AccountId(1), 0, later).is_ok());
        }
        assert!(l.take(AccountId(1), 0, later).is_err());
    }

    #[test]
    fn concurrent_takers_get_exactly_the_burst() {
        let l = std::sync::Arc::new(Limiter::new(vec![Rate::per_hour(1_000)]));
        let t = Timestamp(42);
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || (0..500).filter(|_| l.take(A, 0, t).is_ok()).count())
            })
            .collect();
        let granted: usize = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        assert_eq!(granted, 1_000);
    }
}
