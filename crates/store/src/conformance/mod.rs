//! The contract every [`Store`] must keep, as async checks that take a fresh, empty store.
//!
//! The checks are grouped like the contract: one module per area trait ([`accounts`],
//! [`keys`], [`secrets`], [`events`], [`rotation`], [`rewrap`], [`backup`]), each with its
//! `CHECKS` (the backup ones take two stores), and
//! `fixtures` with what they share ([`Check`] among it). A store's tests call [`run_all`]
//! with a factory that makes a new store per check:
//!
//! ```ignore
//! coffer_store::conformance::run_all(|| async { Arc::new(open_a_store().await) as Arc<dyn Store> }).await;
//! ```
//!
//! or [`run_checks`] with one area's checks (`conformance::secrets::CHECKS`) while that area
//! is being written.
//!
//! Checks panic (assert) on a breach; messages name what broke.
//!
//! Beyond the trait's documentation the checks pin down what callers rely on: reads return
//! versions oldest first (the order they were added) and each version's stages in `Stage`
//! order (built-ins, then custom labels by name); tags and key aliases keep their order.

pub mod accounts;
pub mod backup;
pub mod events;
mod fixtures;
pub mod keys;
pub mod rewrap;
pub mod rotation;
pub mod secrets;

use std::future::Future;
use std::sync::Arc;

use coffer_core::Store;

pub(crate) use fixtures::CheckFuture;
pub use fixtures::{sealed, secret, Check};

/// Every area's checks, by the area's name.
pub const AREAS: &[(&str, &[(&str, Check)])] = &[
    ("accounts", accounts::CHECKS),
    ("keys", keys::CHECKS),
    ("secrets", secrets::CHECKS),
    ("events", events::CHECKS),
    ("rotation", rotation::CHECKS),
    ("rewrap", rewrap::CHECKS),
];

/// Runs every check of every area, each on its own fresh store from `make` (the backup
/// checks on two).
pub async fn run_all<F, Fut>(mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    for (_, checks) in AREAS {
        run_checks(checks, &mut make).await;
    }
    for (name, check) in backup::CHECKS {
        eprintln!("store conformance: {name}");
        let from = make().await;
        let to = make().await;
        check(from, to).await;
    }
}

/// Runs the backup checks with the exported store from `from` and the imported one from `to`,
/// which may be different kinds of store.
pub async fn run_backup_checks<F, FutF, T, FutT>(mut from: F, mut to: T)
where
    F: FnMut() -> FutF,
    FutF: Future<Output = Arc<dyn Store>>,
    T: FnMut() -> FutT,
    FutT: Future<Output = Arc<dyn Store>>,
{
    for (name, check) in backup::CHECKS {
        eprintln!("store conformance: {name}");
        check(from().await, to().await).await;
    }
}

/// Runs `checks` (one area's `CHECKS`, say), each on its own fresh store from `make`.
pub async fn run_checks<F, Fut>(checks: &[(&str, Check)], mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    for (name, check) in checks {
        // Printed before the check so that a failure's output says which one it was.
        eprintln!("store conformance: {name}");
        check(make().await).await;
    }
}
