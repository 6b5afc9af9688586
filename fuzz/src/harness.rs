//! The service the dialect targets run requests against: a real SQLite store in a scratch
//! directory (on `/dev/shm` when there is one, so commits cost no disk flush), a clock that
//! stands still, one admin access key, and the four dialects as the server builds them. Built
//! once per process and shared by every run of a target.
//!
//! A secret whose value is a random *canary* is stored in every scope a dialect can reach; no
//! answer other than a successful one, and no audit entry, may ever contain it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use coffer_core::service::CreateSecret;
use coffer_core::{
    AuditEntry, AuditSink, Limits, ManualClock, RegionMap, Scope, SecretKind, SecretValue, Service,
    Store, Timestamp,
};
use coffer_crypto::SecretKey;
use coffer_dialect_alibaba::Alibaba;
use coffer_dialect_aws::Aws;
use coffer_dialect_huawei::Huawei;
use coffer_dialect_native::Native;
use coffer_dialect_tencent::Tencent;
use coffer_store::{SqliteOptions, SqliteStore};
use zeroize::Zeroizing;

/// The admin key every re-signed request uses (the SDK captures' credentials for Alibaba).
pub const ACCESS_KEY_ID: &str = "testid";
pub const ACCESS_KEY_SECRET: &str = "testsecret";
/// The Huawei project of the admin account: the one in the Huawei captures.
pub const PROJECT_ID: &str = "0123456789abcdef0123456789abcdef";
/// 2026-11-23T00:00:00Z, where the clock starts.
pub const NOW: i64 = 1_795_392_000;
pub const REQUEST_ID: &str = "6f1c2e4a-8b3d-4f5e-9a7b-1c2d3e4f5a6b";

pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub service: Arc<Service>,
    /// Moved on a millisecond per request, so that remembered nonces and signatures expire
    /// in long runs as they do on a server (a clock that stood still would fill the replay
    /// caches after a few million requests and refuse everything after).
    pub clock: Arc<ManualClock>,
    pub alibaba: Alibaba,
    pub tencent: Tencent,
    pub huawei: Huawei,
    pub native: Native,
    pub aws: Aws,
    /// The value of the canary secrets.
    pub canary: String,
    /// The admin account's id, as the admin API's paths spell it.
    pub admin_account: String,
}

/// The process's harness, built on first use.
pub fn get() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(build)
}

/// A nonce no earlier request of this process used.
pub fn fresh_nonce() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "fuzz-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Audit entries go nowhere: the targets check the facts `handle` returns instead.
struct NoAudit;

#[async_trait]
impl AuditSink for NoAudit {
    async fn append(&self, _entry: AuditEntry, _durable: bool) -> coffer_core::Result<()> {
        Ok(())
    }
    async fn tail(&self, _n: usize) -> coffer_core::Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn health(&self) -> coffer_core::Result<()> {
        Ok(())
    }
    async fn root_key_changed(&self, _new_root: &SecretKey) -> coffer_core::Result<()> {
        Ok(())
    }
}

fn build() -> Harness {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let dir = scratch_dir();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.join("coffer.db"), SqliteOptions::default())
            .unwrap_or_else(|e| panic!("sqlite store in {}: {e}", dir.display())),
    );
    let clock = Arc::new(ManualClock::new(Timestamp::from_secs(NOW)));
    // A cap on secrets keeps long runs from slowing down as the fuzzer creates them (every
    // create and list counts them); the paths past the cap are the same as below it.
    let limits = Limits {
        max_secrets_per_scope: 2_000,
        ..Limits::default()
    };
    let service = Arc::new(Service::new(
        store,
        SecretKey::generate(),
        clock.clone(),
        limits,
    ));
    let canary = hex::encode(SecretKey::generate().mac(&[b"canary"]));
    let admin_account = rt.block_on(async {
        service
            .bootstrap(
                Some(ACCESS_KEY_ID.to_string()),
                Some(Zeroizing::new(ACCESS_KEY_SECRET.to_string())),
            )
            .await
            .unwrap_or_else(|e| panic!("bootstrap: {e}"));
        let account = service
            .access_key(ACCESS_KEY_ID)
            .await
            .unwrap_or_else(|e| panic!("admin key: {e}"))
            .account;
        let huawei_scope = Scope {
            account,
            region: "cn-north-4".into(),
        };
        service
            .ensure_project(&huawei_scope, Some(PROJECT_ID))
            .await
            .unwrap_or_else(|e| panic!("project: {e}"));
        let default_scope = Scope {
            account,
            region: "default".into(),
        };
        for scope in [default_scope, huawei_scope] {
            service
                .create_secret(
                    &scope,
                    CreateSecret {
                        name: "fuzz-canary".into(),
                        description: String::new(),
                        kind: SecretKind::Generic,
                        key: None,
                        tags: vec![],
                        version_id: "v1".into(),
                        value: SecretValue::Text(Zeroizing::new(canary.clone())),
                        extended_config: None,
                        policy: None,
                        subscriptions: vec![],
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("canary secret: {e}"));
        }
        account.0.to_string()
    });
    Harness {
        alibaba: Alibaba::new(service.clone(), RegionMap::default()),
        tencent: Tencent::new(service.clone(), RegionMap::default()),
        huawei: Huawei::new(service.clone()),
        native: Native::new(service.clone(), Arc::new(NoAudit), "default".into()),
        aws: Aws::new(service.clone(), RegionMap::default()),
        rt,
        service,
        clock,
        canary,
        admin_account,
    }
}

/// `coffer-fuzz-<pid>` under `/dev/shm` (or the temporary directory). libFuzzer leaves by
/// `exit`, which runs no destructors, so directories of processes that are gone are removed
/// here instead.
fn scratch_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix("coffer-fuzz-"))
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if !Path::new("/proc").join(pid.to_string()).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = base.join(format!("coffer-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}
