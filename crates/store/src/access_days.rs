//! The days secrets were last read (AWS's `LastAccessedDate`), written in batches.
//!
//! The first read of a secret in a day records the day (see `Service::note_access`). On a
//! large store read at random that is nearly every read, and each went through the writer on
//! its own, so the writer committed every few reads. Besides the commits themselves, each one
//! costs every reader connection its map of the database file: SQLite unmaps the file when a
//! read transaction begins after any commit, and the next reads fault every page back in.
//! With a million secrets that was 18 page faults and an `munmap` + `mmap` of the 2 GB file
//! every two reads. So the days wait here for [`FLUSH_DELAY`] and go to the writer as one
//! request, sorted by secret id: about ten commits a second under any read load. Each caller
//! still hears back only once its day is durable (or why it is not), as before; the caller
//! is a task of its own that no read waits for.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer_core::{Error, Result};
use rusqlite::{params, Connection};
use tokio::sync::watch;
use uuid::Uuid;

use crate::sqlite::rows::internal;
use crate::writer::Writer;

/// How long the first day of a batch waits for company.
pub(crate) const FLUSH_DELAY: Duration = Duration::from_millis(100);

/// How a batch ended: `None` until it did, then `Err` with what went wrong.
type Outcome = Option<std::result::Result<(), String>>;

struct Pending {
    days: Vec<(Uuid, i64)>,
    done: watch::Sender<Outcome>,
}

#[derive(Default)]
pub(crate) struct AccessDays {
    pending: Mutex<Option<Pending>>,
}

impl AccessDays {
    /// Records that a value of `secret_id` was read on `day` (nothing if the secret is gone;
    /// an earlier day than the one stored changes nothing), once the batch it joins is
    /// committed.
    pub(crate) async fn record(
        self: &Arc<Self>,
        writer: &Arc<Writer>,
        secret_id: Uuid,
        day: i64,
    ) -> Result<()> {
        let (mut done, first) = {
            let mut pending = self
                .pending
                .lock()
                .map_err(|_| Error::internal("access days: lock poisoned"))?;
            match pending.as_mut() {
                Some(batch) => {
                    batch.days.push((secret_id, day));
                    (batch.done.subscribe(), false)
                }
                None => {
                    let (done, waiting) = watch::channel(None);
                    *pending = Some(Pending {
                        days: vec![(secret_id, day)],
                        done,
                    });
                    (waiting, true)
                }
            }
        };
        if first {
            // A task of its own writes the batch, so that a caller that stops waiting does
            // not leave the others' days unwritten.
            let (this, writer) = (self.clone(), writer.clone());
            tokio::spawn(async move {
                tokio::time::sleep(FLUSH_DELAY).await;
                this.flush(&writer).await;
            });
        }
        let outcome = match done.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone(),
            Err(_) => Some(Err("the batch was dropped unwritten".into())),
        };
        match outcome {
            Some(Err(e)) => Err(Error::internal(format!(
                "recording the days secrets were read: {e}"
            ))),
            _ => Ok(()),
        }
    }

    /// Writes the days waiting now, if any: when a batch's delay ends, and at close.
    pub(crate) async fn flush(&self, writer: &Writer) {
        let Some(Pending { mut days, done }) = self.pending.lock().ok().and_then(|mut p| p.take())
        else {
            return;
        };
        // Index order: neighbouring ids share pages.
        days.sort_unstable();
        let result = writer
            .submit_rerunnable_then(move |c| write_days(c, &days), |()| ())
            .await;
        let _ = done.send(Some(result.map_err(|e| e.to_string())));
    }
}

/// Only `INSERT`s, so it may run again (see [`Writer::submit_rerunnable_then`]).
fn write_days(c: &Connection, days: &[(Uuid, i64)]) -> Result<()> {
    let mut st = c
        .prepare_cached(
            "INSERT INTO secret_access (secret_id, day) \
             SELECT id, ?2 FROM secrets WHERE id = ?1 \
             ON CONFLICT(secret_id) DO UPDATE SET day = excluded.day \
             WHERE excluded.day > secret_access.day",
        )
        .map_err(|e| internal("prepare record access", e))?;
    for (secret_id, day) in days {
        st.execute(params![secret_id.to_string(), day])
            .map_err(|e| internal("record access", e))?;
    }
    Ok(())
}
