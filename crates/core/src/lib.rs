//! coffer's core: the cloud-neutral model, its errors and the [`Service`] that runs every
//! operation. Dialects turn wire requests into calls on the service; stores persist what it
//! decides. Nothing here knows HTTP, SQL or any cloud's names.

pub mod access;
pub mod audit;
pub mod clock;
pub mod database;
pub mod error;
pub mod keyring;
pub mod model;
pub mod password;
pub mod policy;
pub mod region;
pub mod resource_policy;
pub mod service;
pub mod stats;
pub mod store;
pub mod throttle;

pub use access::{Action, AdminRole, Permission, TagChange, Target};
pub use audit::{AuditEntry, AuditFacts, AuditSink};
pub use clock::{Clock, ManualClock, SystemClock};
pub use database::{DatabaseDriver, DbFailure, DbTarget};
pub use error::{Error, Result};
pub use model::*;
pub use region::RegionMap;
pub use service::{Limits, Service};
pub use store::{
    AccountStore, BackupStore, EventRuleStore, KeyStore, LeaseStore, RewrapStore, RotationStore,
    SecretStore, Store,
};
