//! Tencent's published quotas. Tencent limits each API on its own: every SSM API page says
//! "A maximum of N requests can be initiated per second for this API", and the SSM API
//! overview lists them together
//! (https://www.tencentcloud.com/document/api/1078/38633). Over the limit an API answers
//! `RequestLimitExceeded`. CreateSecret's page also caps the secrets of a region at 1,000
//! ("You can create and store up to 1,000 Secrets in each region"), answered with
//! `LimitExceeded`.
//!
//! So each operation is its own rate group, named after it. APIs whose page gives no figure
//! here (UpdateDescription, the KMS APIs on the same endpoint) have no rate under
//! `--limits cloud`; `--limit tencent.rate.NAME=N/s` gives them one.

use coffer_core::throttle::Rate;

use crate::operation::OperationKind;

/// CreateSecret's page: "up to 1,000 Secrets in each region".
pub const CLOUD_SECRETS_PER_REGION: u64 = 1_000;

/// The per-second figure of each SSM API page (the overview's table).
pub const CLOUD_RATES: &[(&str, Rate)] = &[
    ("CreateSecret", Rate::per_second(100)),
    ("GetSecretValue", Rate::per_second(300)),
    ("PutSecretValue", Rate::per_second(100)),
    ("UpdateSecret", Rate::per_second(50)),
    ("DescribeSecret", Rate::per_second(40)),
    ("ListSecrets", Rate::per_second(30)),
    ("ListSecretVersionIds", Rate::per_second(40)),
    ("DeleteSecretVersion", Rate::per_second(50)),
    ("EnableSecret", Rate::per_second(50)),
    ("DisableSecret", Rate::per_second(50)),
    ("DeleteSecret", Rate::per_second(50)),
    ("RestoreSecret", Rate::per_second(50)),
    ("GetServiceStatus", Rate::per_second(50)),
    ("GetRegions", Rate::per_second(20)),
    ("DescribeSupportedProducts", Rate::per_second(20)),
    ("CreateProductSecret", Rate::per_second(20)),
    ("RotateProductSecret", Rate::per_second(20)),
    ("DescribeAsyncRequestInfo", Rate::per_second(20)),
    ("UpdateRotationStatus", Rate::per_second(20)),
    ("DescribeRotationDetail", Rate::per_second(20)),
    ("DescribeRotationHistory", Rate::per_second(20)),
];

/// Each operation is its own group, named by its kind (the SSM action's name; KMS's
/// GetServiceStatus is `KmsGetServiceStatus`, apart from SSM's).
pub fn rate_group(kind: OperationKind) -> Option<&'static str> {
    Some(kind.into())
}

/// Every group an operation can name.
pub fn groups() -> Vec<&'static str> {
    use strum::IntoEnumIterator;
    OperationKind::iter().filter_map(rate_group).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_published_rate_names_an_operation() {
        let groups = groups();
        for (group, _) in CLOUD_RATES {
            assert!(groups.contains(group), "{group} is no operation");
        }
        assert_eq!(
            rate_group(OperationKind::CreateSecret),
            Some("CreateSecret")
        );
        assert_ne!(
            rate_group(OperationKind::KmsGetServiceStatus),
            rate_group(OperationKind::GetServiceStatus)
        );
    }
}
