//! Alibaba's published quotas: which operations share a request quota, and how much.
//!
//! KMS limits requests per Alibaba Cloud account and region, by groups of operations that
//! share one quota ("Performance data" / "QPS quotas of KMS instances", shared gateway:
//! https://www.alibabacloud.com/help/en/kms/key-management-service/product-overview/performance-data),
//! and answers `429 Rejected.Throttling` over it. The page names the groups and their
//! figures; which operation sits in which group follows its description of each group:
//! - creating or deleting a secret: 10/s;
//! - querying a secret and reading its value: 450/s;
//! - listing secrets and their metadata, the "low-frequency" reads and writes: 40/s;
//! - rotating a secret: 50 an hour (RotateSecret's own page says the same);
//! - key management reads 50/s, key creation 10/s, key management writes (aliases, key
//!   states, tags) 30/s, symmetric cryptographic operations 1,000/s.
//!
//! The number of secrets is bought with a KMS instance (`GetKmsInstanceQuotaInfos`, type
//! `secret`) and has no account-wide figure; `--limits cloud` uses 1,000, Tencent's, and
//! `--limit alibaba.secrets-per-region=N` sets what an instance was bought with.

use coffer_core::throttle::Rate;

use crate::operation::OperationKind;

/// Secrets one account may hold in one region under `--limits cloud` (see above).
pub const CLOUD_SECRETS_PER_REGION: u64 = 1_000;

/// Creating or deleting a secret.
const SECRET_CREATE_DELETE: &str = "secret-create-delete";
/// Reading a secret's value or description.
const SECRET_READ: &str = "secret-read";
/// Everything else done to secrets: lists, versions, stages, policies, restore.
const SECRET_OTHER: &str = "secret-other";
const SECRET_ROTATE: &str = "secret-rotate";
const KEY_READ: &str = "key-read";
const KEY_CREATE: &str = "key-create";
const KEY_WRITE: &str = "key-write";
const CRYPTO: &str = "crypto";
/// GetRandomPassword, which the page does not list.
const RANDOM: &str = "random";

/// Each group's published rate under `--limits cloud`; a group not listed has none.
pub const CLOUD_RATES: &[(&str, Rate)] = &[
    (SECRET_CREATE_DELETE, Rate::per_second(10)),
    (SECRET_READ, Rate::per_second(450)),
    (SECRET_OTHER, Rate::per_second(40)),
    (SECRET_ROTATE, Rate::per_hour(50)),
    (KEY_READ, Rate::per_second(50)),
    (KEY_CREATE, Rate::per_second(10)),
    (KEY_WRITE, Rate::per_second(30)),
    (CRYPTO, Rate::per_second(1_000)),
];

/// The group whose quota an operation takes.
pub fn rate_group(kind: OperationKind) -> Option<&'static str> {
    use OperationKind as K;
    Some(match kind {
        K::CreateSecret | K::DeleteSecret => SECRET_CREATE_DELETE,
        K::GetSecretValue | K::DescribeSecret => SECRET_READ,
        K::PutSecretValue
        | K::UpdateSecret
        | K::UpdateSecretVersionStage
        | K::ListSecrets
        | K::ListSecretVersionIds
        | K::RestoreSecret
        | K::GetSecretPolicy
        | K::SetSecretPolicy
        | K::UpdateSecretRotationPolicy => SECRET_OTHER,
        K::RotateSecret => SECRET_ROTATE,
        K::GetRandomPassword => RANDOM,
        // Tag operations take any resource (keys and secrets); the page counts them with the
        // key management operations.
        K::DescribeKey
        | K::ListKeys
        | K::ListAliases
        | K::ListAliasesByKeyId
        | K::ListKeyVersions
        | K::DescribeKeyVersion
        | K::ListTagResources => KEY_READ,
        K::CreateKey => KEY_CREATE,
        K::EnableKey
        | K::DisableKey
        | K::ScheduleKeyDeletion
        | K::CancelKeyDeletion
        | K::UpdateKeyDescription
        | K::CreateAlias
        | K::UpdateAlias
        | K::DeleteAlias
        | K::UpdateRotationPolicy
        | K::CreateKeyVersion
        | K::TagResource
        | K::UntagResource
        | K::TagResources
        | K::UntagResources => KEY_WRITE,
        K::Encrypt
        | K::Decrypt
        | K::GenerateDataKey
        | K::GenerateDataKeyWithoutPlaintext
        | K::ReEncrypt => CRYPTO,
    })
}

/// Every group an operation can name, for the server's list of known groups.
pub fn groups() -> Vec<&'static str> {
    use strum::IntoEnumIterator;
    let mut all: Vec<_> = OperationKind::iter().filter_map(rate_group).collect();
    all.sort_unstable();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_published_group_has_operations() {
        let groups = groups();
        for (group, _) in CLOUD_RATES {
            assert!(groups.contains(group), "{group} has no operation");
        }
        assert_eq!(rate_group(OperationKind::RotateSecret), Some(SECRET_ROTATE));
        assert_eq!(
            CLOUD_RATES.iter().find(|(g, _)| *g == SECRET_ROTATE),
            Some(&(SECRET_ROTATE, Rate::per_hour(50)))
        );
    }
}
