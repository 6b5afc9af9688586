//! Secrets Manager's published quotas (AWS Secrets Manager user guide, "Secrets Manager
//! quotas", https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html):
//! request rates per account and region, some shared by several operations, and 500,000
//! secrets per region. Over a rate AWS answers `ThrottlingException`, which every SDK retries
//! with backoff.

use coffer_core::throttle::Rate;

use crate::operation::OperationKind;

/// "Secrets: 500,000 per Region".
pub const CLOUD_SECRETS_PER_REGION: u64 = 500_000;

/// Each group's published rate.
pub const CLOUD_RATES: &[(&str, Rate)] = &[
    ("GetSecretValue", Rate::per_second(10_000)),
    ("DescribeSecret", Rate::per_second(40_000)),
    ("BatchGetSecretValue", Rate::per_second(100)),
    ("ListSecrets", Rate::per_second(100)),
    ("ListSecretVersionIds", Rate::per_second(50)),
    ("CreateSecret", Rate::per_second(50)),
    ("DeleteSecret", Rate::per_second(50)),
    ("RestoreSecret", Rate::per_second(50)),
    ("GetRandomPassword", Rate::per_second(50)),
    // "Combined rate of PutSecretValue, RemoveRegionsFromReplication,
    // ReplicateSecretToRegions, StopReplicationToReplica, UpdateSecret, and
    // UpdateSecretVersionStage API requests".
    ("SecretWrites", Rate::per_second(50)),
    ("Rotation", Rate::per_second(50)),
    ("Tagging", Rate::per_second(50)),
    ("ResourcePolicies", Rate::per_second(50)),
];

/// The group `kind` counts against.
pub fn rate_group(kind: OperationKind) -> Option<&'static str> {
    use OperationKind as K;
    Some(match kind {
        K::GetSecretValue => "GetSecretValue",
        K::DescribeSecret => "DescribeSecret",
        K::BatchGetSecretValue => "BatchGetSecretValue",
        K::ListSecrets => "ListSecrets",
        K::ListSecretVersionIds => "ListSecretVersionIds",
        K::CreateSecret => "CreateSecret",
        K::DeleteSecret => "DeleteSecret",
        K::RestoreSecret => "RestoreSecret",
        K::GetRandomPassword => "GetRandomPassword",
        K::PutSecretValue
        | K::UpdateSecret
        | K::UpdateSecretVersionStage
        | K::ReplicateSecretToRegions
        | K::RemoveRegionsFromReplication
        | K::StopReplicationToReplica
        | K::AssociateCrossAccountReplica
        | K::DisassociateCrossAccountReplica => "SecretWrites",
        K::RotateSecret | K::CancelRotateSecret => "Rotation",
        K::TagResource | K::UntagResource => "Tagging",
        K::PutResourcePolicy
        | K::GetResourcePolicy
        | K::DeleteResourcePolicy
        | K::ValidateResourcePolicy
        | K::ListResourcePolicies => "ResourcePolicies",
    })
}

/// Every group an operation can name.
pub fn groups() -> Vec<&'static str> {
    use strum::IntoEnumIterator;
    let mut out: Vec<&'static str> = OperationKind::iter().filter_map(rate_group).collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_published_rate_is_a_group_and_every_group_has_a_rate() {
        let groups = groups();
        for (group, _) in CLOUD_RATES {
            assert!(groups.contains(group), "{group} is no group");
        }
        for g in &groups {
            assert!(CLOUD_RATES.iter().any(|(n, _)| n == g), "{g} has no rate");
        }
    }
}
