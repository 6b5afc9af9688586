//! Fuzz targets for coffer (run with `cargo fuzz`, see `scripts/fuzz` and the README).
//!
//! The targets themselves are one-liners in `fuzz_targets/`; what they run lives here, so
//! that `cargo test` in this directory replays the committed corpus through the same code
//! without libFuzzer (see `tests/corpus.rs`).

pub mod auth;
pub mod dialects;
pub mod harness;
pub mod resign;
pub mod wire;

/// A target: one input in, a panic for a finding.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz_targets/<name>.rs` and `corpus/<name>/` call it.
pub const TARGETS: [(&str, Target); 10] = [
    ("auth_alibaba", auth::auth_alibaba),
    ("auth_tencent", auth::auth_tencent),
    ("auth_huawei", auth::auth_huawei),
    ("auth_sigv4", auth::auth_sigv4),
    ("signature_roundtrip", auth::signature_roundtrip),
    ("dialect_alibaba", dialects::alibaba),
    ("dialect_tencent", dialects::tencent),
    ("dialect_huawei", dialects::huawei),
    ("dialect_native", dialects::native),
    ("dialect_aws", dialects::aws),
];
