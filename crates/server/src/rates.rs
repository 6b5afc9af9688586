//! Request rates for the console's overview, read from the counters `/metrics` exports
//! (`coffer_requests_total` by dialect and outcome, `coffer_throttled_requests_total`), so
//! that the overview and a Prometheus scrape count the same requests the same way: no second
//! count is kept. A sampler reads the counters every few seconds; a rate is the difference
//! between now and the oldest sample of the last minute.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coffer_console::{RateRow, Rates};

use crate::ops::{Metrics, Ops};

/// The span rates are measured over.
pub const WINDOW: Duration = Duration::from_secs(60);
/// How often the counters are sampled.
pub const EVERY: Duration = Duration::from_secs(5);

/// The counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// By (dialect, outcome), summed over operations.
    pub requests: BTreeMap<(String, String), u64>,
    /// Requests refused over their rate, every dialect and group.
    pub throttled: u64,
}

/// `name{label="value",...} number` into its labels and number.
fn sample_line<'a>(line: &'a str, name: &str) -> Option<(Vec<(&'a str, &'a str)>, u64)> {
    let rest = line.strip_prefix(name)?.strip_prefix('{')?;
    let (labels, value) = rest.split_once("} ")?;
    let labels = labels
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k, v.trim_matches('"')))
        })
        .collect();
    // Counters are whole numbers; the text format may write them as floats.
    let value = value.trim();
    let n = value
        .parse::<u64>()
        .ok()
        .or_else(|| value.parse::<f64>().ok().map(|f| f.max(0.0) as u64))?;
    Some((labels, n))
}

/// The counters as the Prometheus text encoding of the registry gives them.
pub fn counts_from_text(text: &str) -> Counts {
    let mut counts = Counts::default();
    for line in text.lines() {
        if let Some((labels, n)) = sample_line(line, "coffer_requests_total") {
            let get = |k: &str| labels.iter().find(|(l, _)| *l == k).map(|(_, v)| *v);
            if let (Some(d), Some(o)) = (get("dialect"), get("outcome")) {
                *counts
                    .requests
                    .entry((d.to_string(), o.to_string()))
                    .or_default() += n;
            }
        } else if let Some((_, n)) = sample_line(line, "coffer_throttled_requests_total") {
            counts.throttled += n;
        }
    }
    counts
}

fn hundredths(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What happened between `base` and `now`, `secs` apart.
pub fn rates_between(base: &Counts, now: &Counts, secs: f64) -> Rates {
    let secs_div = secs.max(1.0);
    let mut rows = vec![];
    let mut total = 0u64;
    let mut denied = 0u64;
    for ((dialect, outcome), n) in &now.requests {
        let before = base
            .requests
            .get(&(dialect.clone(), outcome.clone()))
            .copied()
            .unwrap_or(0);
        let count = n.saturating_sub(before);
        if count == 0 {
            continue;
        }
        total += count;
        if outcome == "denied" {
            denied += count;
        }
        rows.push(RateRow {
            dialect: dialect.clone(),
            outcome: outcome.clone(),
            count,
            per_sec: hundredths(count as f64 / secs_div),
        });
    }
    Rates {
        window_secs: secs.round() as u64,
        rows,
        total_per_sec: hundredths(total as f64 / secs_div),
        throttled: now.throttled.saturating_sub(base.throttled),
        denied,
    }
}

/// The samples of the last minute.
#[derive(Default)]
pub struct RateWindow {
    samples: Mutex<VecDeque<(Instant, Counts)>>,
}

impl RateWindow {
    fn read(metrics: &Metrics) -> Option<Counts> {
        metrics.encode_text().ok().map(|t| counts_from_text(&t))
    }

    /// Records the counters now, and forgets samples older than the window.
    pub fn sample(&self, metrics: &Metrics) {
        let Some(counts) = Self::read(metrics) else {
            return;
        };
        let now = Instant::now();
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.push_back((now, counts));
        while samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > WINDOW)
        {
            samples.pop_front();
        }
    }

    /// The rates from the oldest sample of the window to now (`None` before the first
    /// sample).
    pub fn rates(&self, metrics: &Metrics) -> Option<Rates> {
        let now_counts = Self::read(metrics)?;
        let now = Instant::now();
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let (at, base) = samples
            .iter()
            .find(|(t, _)| now.duration_since(*t) <= WINDOW)?;
        Some(rates_between(
            base,
            &now_counts,
            now.duration_since(*at).as_secs_f64(),
        ))
    }
}

/// Samples the counters every [`EVERY`] until the server stops.
pub fn spawn_sampler(ops: Arc<Ops>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            ops.rates.sample(&ops.metrics);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_the_exported_counters() {
        let throttled = prometheus_client::metrics::family::Family::default();
        let metrics = Metrics::new(throttled.clone());
        let window = RateWindow::default();
        assert_eq!(window.rates(&metrics), None, "no sample yet");
        metrics.request("aws", "GetSecretValue", "ok", 0.001);
        window.sample(&metrics);
        for _ in 0..3 {
            metrics.request("aws", "GetSecretValue", "ok", 0.001);
        }
        metrics.request("aws", "ListSecrets", "ok", 0.001);
        metrics.request("tencent", "GetSecretValue", "denied", 0.001);
        throttled
            .get_or_create(&crate::ops::ThrottleLabels {
                dialect: "aws",
                group: "read",
            })
            .inc();
        let r = window.rates(&metrics).expect("rates");
        let row = |d: &str, o: &str| {
            r.rows
                .iter()
                .find(|x| x.dialect == d && x.outcome == o)
                .map(|x| x.count)
        };
        // Only what happened after the sample, summed over operations.
        assert_eq!(row("aws", "ok"), Some(4));
        assert_eq!(row("tencent", "denied"), Some(1));
        assert_eq!(r.rows.len(), 2);
        assert_eq!(r.denied, 1);
        assert_eq!(r.throttled, 1);
    }

    #[test]
    fn a_rate_is_a_count_over_the_time_between_samples() {
        let mut base = Counts::default();
        base.requests.insert(("aws".into(), "ok".into()), 10);
        let mut now = base.clone();
        now.requests.insert(("aws".into(), "ok".into()), 40);
        now.requests.insert(("huawei".into(), "denied".into()), 6);
        now.throttled = 3;
        let r = rates_between(&base, &now, 60.0);
        assert_eq!(r.window_secs, 60);
        assert_eq!(r.total_per_sec, 0.6);
        assert_eq!(r.rows[0].per_sec, 0.5);
        assert_eq!((r.denied, r.throttled), (6, 3));
        let text =
            "# HELP x\ncoffer_requests_total{dialect=\"aws\",operation=\"A\",outcome=\"ok\"} 2\n\
                    coffer_requests_total{dialect=\"aws\",operation=\"B\",outcome=\"ok\"} 3\n\
                    coffer_throttled_requests_total{dialect=\"aws\",group=\"read\"} 4\n\
                    coffer_requests_created{dialect=\"aws\"} 9\n";
        let c = counts_from_text(text);
        assert_eq!(c.requests.get(&("aws".into(), "ok".into())), Some(&5));
        assert_eq!(c.throttled, 4);
    }
}
