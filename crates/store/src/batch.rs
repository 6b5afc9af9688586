//! How the two writer threads (the SQLite writer and the audit log) gather a batch: whatever
//! is queued, and under load a little more.
//!
//! A commit or a sync costs about the same for one request as for a hundred. When requests
//! arrive faster than the disk syncs, the batches of "whatever is queued right now" stay at
//! two or three on a fast disk, and the syncs themselves (with the page writes of a commit)
//! take most of the writer's time: under a value-read load, one `fdatasync` for every two
//! reads was a fifth of the server's CPU. So once a batch had company, the next one waits up
//! to [`LINGER`] for more. An idle server never waits: a lone request goes out at once.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// The longest a batch waits for more requests after its first.
pub(crate) const LINGER: Duration = Duration::from_micros(500);

/// Gathers batches from one channel.
pub(crate) struct Batcher {
    max: usize,
    /// Size of the batch before: more than one means the writer is behind its arrivals.
    last: usize,
}

impl Batcher {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            last: 0,
        }
    }

    /// Adds to `batch` (which holds the first request, and maybe some carried over) what
    /// arrives, up to the cap; lingers only when the previous batch was not alone.
    pub(crate) fn fill<T>(&mut self, rx: &Receiver<T>, batch: &mut Vec<T>) {
        let linger_until = (self.last > 1).then(|| Instant::now() + LINGER);
        while batch.len() < self.max {
            let next = match linger_until {
                None => rx.try_recv().ok(),
                Some(until) => rx
                    .recv_timeout(until.saturating_duration_since(Instant::now()))
                    .ok(),
            };
            match next {
                Some(r) => batch.push(r),
                None => break,
            }
        }
        self.last = batch.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_lone_request_does_not_wait_and_a_busy_writer_gathers_late_arrivals() {
        let (tx, rx) = mpsc::channel();
        let mut b = Batcher::new(10);
        // Idle: one request, nothing else queued, the batch goes out at once.
        let started = Instant::now();
        let mut batch = vec![0];
        b.fill(&rx, &mut batch);
        assert_eq!(batch, vec![0]);
        assert!(started.elapsed() < LINGER);
        // Two queued: taken together, no waiting for them.
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        let mut batch = vec![0];
        b.fill(&rx, &mut batch);
        assert_eq!(batch, vec![0, 1, 2]);
        // After a batch of three, one that arrives within the linger joins the next batch.
        let late = tx.clone();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(LINGER / 5);
            late.send(4).unwrap();
        });
        let mut batch = vec![3];
        b.fill(&rx, &mut batch);
        sender.join().unwrap();
        assert_eq!(batch, vec![3, 4]);
    }

    #[test]
    fn the_cap_ends_a_batch() {
        let (tx, rx) = mpsc::channel();
        for i in 1..10 {
            tx.send(i).unwrap();
        }
        let mut b = Batcher::new(4);
        let mut batch = vec![0];
        b.fill(&rx, &mut batch);
        assert_eq!(batch, vec![0, 1, 2, 3]);
        let mut batch = vec![];
        b.fill(&rx, &mut batch);
        assert_eq!(batch, vec![4, 5, 6, 7]);
    }
}
