//! The settings every acknowledged write's durability rests on, read back from the store's
//! own connections: DESIGN.md §5 promises WAL mode with `synchronous=FULL` and a response
//! only once the commit is durable. A change to any of them (a pragma dropped in a refactor,
//! a SQLite build with another default) fails here rather than in a power cut.

use coffer_store::{SqliteOptions, SqliteStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_store_syncs_every_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("coffer.db");
    let store = SqliteStore::open(&path, SqliteOptions::default()).expect("open");
    let d = store.durability().await.expect("durability settings");
    assert_eq!(d.journal_mode, "wal", "{d:?}");
    // 2 = FULL: the log is fsynced at every commit, not only at checkpoints (NORMAL, 1),
    // which survives a crash of the process but not a power cut.
    assert_eq!(d.writer_synchronous, 2, "{d:?}");
    assert_eq!(d.checkpointer_synchronous, 2, "{d:?}");
    // The writer leaves checkpoints to the checkpointer up to 10,000 pages (see
    // `checkpoint`); a log that long is still bounded.
    assert_eq!(d.writer_autocheckpoint, 10_000, "{d:?}");
    store.close().await;
    drop(store);

    // Reopened: the journal mode is kept in the file, the rest set again.
    let store = SqliteStore::open(&path, SqliteOptions::default()).expect("reopen");
    let again = store.durability().await.expect("durability settings");
    assert_eq!(again, d);
    store.close().await;
}

/// The switch the power-loss test uses to show that it catches a server that does not sync
/// really turns syncing off (and only when asked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsynced_commits_are_only_what_the_option_asks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(
        &dir.path().join("coffer.db"),
        SqliteOptions {
            sync_commits: false,
            ..Default::default()
        },
    )
    .expect("open");
    let d = store.durability().await.expect("durability settings");
    assert_eq!((d.writer_synchronous, d.checkpointer_synchronous), (0, 0));
    store.close().await;
}
