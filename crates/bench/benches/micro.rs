//! Micro-benchmarks of the pieces every request goes through: checking each cloud's
//! signature, opening and sealing a value's envelope, and the SQLite store's point read and
//! group-commit write, and on PostgreSQL (when the machine's server answers; the database is
//! made for the run and dropped after it) the default key's revision-checked read and a
//! pipelined create. `cargo bench -p coffer-bench` runs them all; pass a filter to pick
//! (`cargo bench -p coffer-bench -- signature`).

use std::sync::Arc;

use coffer_bench::requests::{server_verifies, Dialect, Op, Signer};
use coffer_core::service::{CreateSecret, PutValue, VersionSelector, WhenExists, WhenFull};
use coffer_core::{
    KeyStore, Limits, PageRequest, Scope, SecretFilter, SecretKind, SecretStore, SecretValue,
    Service, SystemClock,
};
use coffer_crypto::SecretKey;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use zeroize::Zeroizing;

const SECRET: &str = "micro-bench-secret";

fn signer(dialect: Dialect) -> Signer {
    Signer {
        dialect,
        host: "127.0.0.1:7080".into(),
        access_key_id: "LTAImicrobench".into(),
        access_key_secret: SECRET.into(),
        region: "cn-hangzhou".into(),
        project_id: Some("0123456789abcdef0123456789abcdef".into()),
    }
}

fn signatures(c: &mut Criterion) {
    let mut group = c.benchmark_group("signature");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for dialect in Dialect::ALL {
        let op = Op::GetValue {
            name: "bench-000042".into(),
        };
        let signed = signer(dialect).sign(&op, now, "nonce-1").expect("sign");
        let secret = SECRET.as_bytes();
        assert!(server_verifies(dialect, &signed, secret), "{dialect:?}");
        group.bench_function(format!("{dialect:?}"), |b| {
            b.iter(|| {
                assert!(server_verifies(
                    dialect,
                    std::hint::black_box(&signed),
                    secret
                ))
            })
        });
    }
    group.finish();
}

fn envelope(c: &mut Criterion) {
    let mut group = c.benchmark_group("envelope");
    let cmk = SecretKey::generate();
    let aad = b"account=1;region=default;secret=0190f1c2-0000-7000-8000-000000000000;version=v1";
    for size in [64usize, 4096] {
        let value = vec![7u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("seal/{size}B"), |b| {
            b.iter(|| coffer_crypto::seal(&cmk, aad, std::hint::black_box(&value)))
        });
        let sealed = coffer_crypto::seal(&cmk, aad, &value);
        group.bench_function(format!("open/{size}B"), |b| {
            b.iter(|| coffer_crypto::open(&cmk, aad, std::hint::black_box(&sealed)).expect("open"))
        });
    }
    group.finish();
}

fn create(name: String) -> CreateSecret {
    CreateSecret {
        name,
        description: String::new(),
        kind: SecretKind::Generic,
        key: None,
        tags: vec![],
        version_id: "v1".into(),
        value: SecretValue::Text(Zeroizing::new("{\"password\":\"micro\"}".into())),
        extended_config: None,
        policy: None,
        subscriptions: vec![],
    }
}

/// The store: a point read in SQLite, a value read through the core as a request makes it,
/// and creates committed (durably) in batches.
/// A service over `store` (new and empty) with its first account bootstrapped, and that
/// account's default scope.
async fn bootstrapped(store: Arc<dyn coffer_core::Store>) -> (Arc<Service>, Scope) {
    let service = Arc::new(Service::new(
        store,
        SecretKey::generate(),
        Arc::new(SystemClock),
        Limits::default(),
    ));
    let (account, _, _) = service
        .bootstrap(None, None)
        .await
        .expect("bootstrap")
        .expect("a new store");
    let scope = Scope {
        account,
        region: "default".into(),
    };
    (service, scope)
}

/// Creates a secret of each name, all in flight at once, as concurrent clients would; returns
/// once every create is acknowledged (durable).
async fn create_all(service: Arc<Service>, scope: Scope, names: Vec<String>) {
    let tasks: Vec<_> = names
        .into_iter()
        .map(|name| {
            let (service, scope) = (service.clone(), scope.clone());
            tokio::spawn(async move { service.create_secret(&scope, create(name)).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("join").expect("create");
    }
}

fn store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        coffer_store::SqliteStore::open(
            &dir.path().join("coffer.db"),
            coffer_store::SqliteOptions::default(),
        )
        .expect("store"),
    );
    let (service, scope) = rt.block_on(bootstrapped(store.clone()));
    rt.block_on(async {
        for i in 0..1000 {
            service
                .create_secret(&scope, create(format!("read-{i:04}")))
                .await
                .expect("create");
        }
    });

    let mut group = c.benchmark_group("store");
    // The SQLite point read itself: a sealed value by secret id and version (not cached).
    let ids: Vec<_> = rt.block_on(async {
        let mut ids = Vec::new();
        for i in 0..1000 {
            let rec = store
                .get_secret(&scope, &format!("read-{i:04}"))
                .await
                .expect("read")
                .expect("seeded");
            ids.push(rec.id);
        }
        ids
    });
    let mut j = 0usize;
    group.bench_function("sqlite point read (sealed value)", |b| {
        b.to_async(&rt).iter(|| {
            j = (j + 7) % ids.len();
            let (store, id) = (store.clone(), ids[j]);
            async move {
                store
                    .read_value(id, "v1")
                    .await
                    .expect("read")
                    .expect("found")
            }
        })
    });
    // What GetSecretValue asks of the core: the secret, its value, decrypted (warm cache).
    let mut i = 0u64;
    group.bench_function("get_value (read cache warm, decrypt)", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7) % 1000;
            let name = format!("read-{i:04}");
            let (service, scope) = (service.clone(), scope.clone());
            async move {
                let sel = VersionSelector::default();
                service.get_value(&scope, &name, &sel).await.expect("read")
            }
        })
    });
    // A GetSecretValue of a secret the read cache does not hold (a store larger than the
    // cache, read at random): the resource-policy check reads the record, then the value is
    // read under it. 12,000 secrets read in a cycle miss the 10,000-entry cache every time.
    rt.block_on(async {
        for chunk in 0..11 {
            let names = (0..1000)
                .map(|k| format!("miss-{:05}", chunk * 1000 + k))
                .collect();
            create_all(service.clone(), scope.clone(), names).await;
        }
    });
    let mut m = 0u64;
    group.bench_function("get_value (not cached: policy read, then value)", |b| {
        b.to_async(&rt).iter(|| {
            m = (m + 7) % 12_000;
            let name = if m < 11_000 {
                format!("miss-{m:05}")
            } else {
                format!("read-{:04}", m - 11_000)
            };
            let (service, store, scope) = (service.clone(), store.clone(), scope.clone());
            async move {
                store.get_secret(&scope, &name).await.expect("policy read");
                let sel = VersionSelector::default();
                service.get_value(&scope, &name, &sel).await.expect("read")
            }
        })
    });
    // 64 creates in flight: what the writer commits together, each acknowledged only once
    // its batch is durable. Throughput is in creates.
    let mut n = 0u64;
    group.throughput(Throughput::Elements(64));
    group.bench_function("group-commit write (64 creates in flight)", |b| {
        b.to_async(&rt).iter_batched(
            || {
                n += 1;
                (0..64)
                    .map(|k| format!("write-{n}-{k}"))
                    .collect::<Vec<_>>()
            },
            |names| create_all(service.clone(), scope.clone(), names),
            BatchSize::SmallInput,
        )
    });
    // 64 puts in flight, one to each of 64 secrets, as the PutSecretValue load makes them:
    // each reads its secret (kept in the read cache by the put before it), seals the value
    // and waits for its batch to be durable. Throughput is in puts.
    let mut p = 0u64;
    group.bench_function("group-commit put (64 puts in flight)", |b| {
        b.to_async(&rt).iter(|| {
            p += 1;
            let (service, scope) = (service.clone(), scope.clone());
            async move {
                let tasks: Vec<_> = (0..64)
                    .map(|k| {
                        let (service, scope) = (service.clone(), scope.clone());
                        let put = PutValue {
                            version_id: format!("p{p}"),
                            value: SecretValue::Text(Zeroizing::new(
                                "{\"password\":\"put\"}".into(),
                            )),
                            stages: None,
                            when_full: WhenFull::PruneUnstaged,
                            max_versions: 100,
                            max_stages: 100,
                            expires_at: None,
                            when_exists: WhenExists::Refuse,
                        };
                        tokio::spawn(async move {
                            service
                                .put_value(&scope, &format!("read-{k:04}"), put)
                                .await
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("join").expect("put");
                }
            }
        })
    });
    // A ListSecrets page of 100 as the store reads it: the page's rows with their tags and
    // subscriptions.
    group.throughput(Throughput::Elements(1));
    group.bench_function("list page of 100", |b| {
        b.to_async(&rt).iter(|| {
            let (service, scope) = (service.clone(), scope.clone());
            async move {
                let page = PageRequest {
                    offset: 200,
                    limit: 100,
                    newest_first: false,
                };
                let got = service
                    .list(&scope, &SecretFilter::default(), page)
                    .await
                    .expect("list");
                assert_eq!(got.items.len(), 100);
            }
        })
    });
    group.finish();
    rt.block_on(store.close());
}

/// The PostgreSQL store as a create meets it: the scope's default key (cached, trusted after
/// a probe of its revision) and a create committed durably (pipelined: two round trips),
/// 64 at a time as under load. Skipped when no PostgreSQL answers.
fn postgres(c: &mut Criterion) {
    let db = match coffer_store::testkit::pg::TestDatabase::create() {
        Ok(db) => db,
        Err(e) => {
            eprintln!("postgres benchmarks skipped: {e}");
            return;
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = Arc::new(
        rt.block_on(coffer_store::PgStore::open(
            &db.url(),
            coffer_store::PgOptions::default(),
        ))
        .expect("store"),
    );
    let (service, scope) = rt.block_on(async {
        let (service, scope) = bootstrapped(store.clone()).await;
        service.default_key(&scope).await.expect("default key");
        (service, scope)
    });
    let mut group = c.benchmark_group("postgres");
    group.bench_function("default key (cached, revision probe)", |b| {
        b.to_async(&rt).iter(|| {
            let (store, scope) = (store.clone(), scope.clone());
            async move {
                store
                    .get_default_key(&scope)
                    .await
                    .expect("read")
                    .expect("found")
            }
        })
    });
    let mut n = 0u64;
    group.throughput(Throughput::Elements(64));
    group.bench_function("create (64 in flight)", |b| {
        b.to_async(&rt).iter_batched(
            || {
                n += 1;
                (0..64)
                    .map(|k| format!("pg-write-{n}-{k}"))
                    .collect::<Vec<_>>()
            },
            |names| create_all(service.clone(), scope.clone(), names),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    rt.block_on(store.close());
}

/// An entry as a signed GetSecretValue leaves it.
fn read_entry(i: u64) -> coffer_core::AuditEntry {
    coffer_core::AuditEntry {
        time_ms: 1_795_392_000_000 + i as i64,
        request_id: uuid::Uuid::new_v4().to_string(),
        account: Some(1_000_000_001),
        access_key_id: Some("LTAIbench0000000000000".into()),
        dialect: "huawei".into(),
        operation: "ShowSecretVersion".into(),
        action: Some("secrets:GetValue".into()),
        resource: Some("crn:coffer:default:1000000001:secret/bench-000042".into()),
        source: "127.0.0.1:51234".into(),
        status: 200,
        result: "OK".into(),
        latency_us: 180,
    }
}

/// The audit log: entries appended 64 at a time, as 64 connections reading values leave them,
/// each answered once its batch is synced (durable) or once queued (not). Throughput is in
/// entries; the durable figure includes one `fdatasync` per batch.
fn audit(c: &mut Criterion) {
    use coffer_core::AuditSink;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let key = coffer_store::audit::LogKey::from_root(&SecretKey::generate());
    let log = Arc::new(
        coffer_store::FileAuditLog::open(&dir.path().join("audit.log"), key, None).expect("log"),
    );
    let mut group = c.benchmark_group("audit");
    group.throughput(Throughput::Elements(64));
    for durable in [true, false] {
        let mut n = 0u64;
        let name = if durable {
            "append 64 durable entries"
        } else {
            "append 64 entries, not waiting for the disk"
        };
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                n += 64;
                let log = log.clone();
                let first = n;
                async move {
                    let appends: Vec<_> = (0..64)
                        .map(|k| {
                            let log = log.clone();
                            tokio::spawn(
                                async move { log.append(read_entry(first + k), durable).await },
                            )
                        })
                        .collect();
                    for a in appends {
                        a.await.expect("join").expect("append");
                    }
                }
            })
        });
    }
    group.finish();
    rt.block_on(log.close());
}

/// The per-request parts of an audit entry and its authorization, without I/O: the line's
/// MAC under a key prepared once (what the writer does) against keying HMAC for each line
/// (what it did), bounding an entry's fields, and naming the resource it addressed.
fn entry_parts(c: &mut Criterion) {
    let mut group = c.benchmark_group("entry");
    let key = SecretKey::generate();
    let prepared = key.mac_key();
    // A line as a GetSecretValue's entry leaves it, up to its MAC (about 450 bytes).
    let line = serde_json::to_vec(&read_entry(1)).expect("json");
    let line = [
        &b"{\"seq\":4900,\"prev\":\""[..],
        &[b'0'; 64],
        b"\",",
        &line[1..],
    ]
    .concat();
    group.throughput(Throughput::Bytes(line.len() as u64));
    group.bench_function("line MAC, HMAC keyed per line", |b| {
        b.iter(|| key.mac(&[std::hint::black_box(&line)]))
    });
    group.bench_function("line MAC, prepared key", |b| {
        b.iter(|| prepared.mac(&[std::hint::black_box(&line)]))
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("bound an entry", |b| {
        b.iter_batched(|| read_entry(1), |e| e.bounded(), BatchSize::SmallInput)
    });
    let scope = Scope {
        account: coffer_core::AccountId(2911341362735462),
        region: "cn-north-4".into(),
    };
    let target = coffer_core::Target::Secret {
        name: "bench-000042".into(),
        tags: None,
    };
    group.bench_function("resource name", |b| {
        b.iter(|| std::hint::black_box(&target).resource(&scope))
    });
    group.finish();
}

criterion_group!(
    benches,
    signatures,
    envelope,
    store,
    postgres,
    audit,
    entry_parts
);
criterion_main!(benches);
