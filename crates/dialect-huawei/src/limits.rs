//! Huawei's published quotas.
//!
//! - Secrets: "at most 500 secrets" per project (CSMS user guide), over it `CSMS.0202`
//!   ("The number of secret has reached the upper limit", the API's error code table).
//! - KMS (the `/v1.0/` routes): "TPS (the number of API operations that can be performed by a
//!   user per second) is set to 20" (DEW API reference, "Before You Start":
//!   https://support.huaweicloud.com/intl/en-us/api-dew/dew_02_0052.html).
//! - CSMS publishes no request rate; its group has none under `--limits cloud`, and
//!   `--limit huawei.rate.csms=N/s` gives it one.
//!
//! Over a rate the API gateway in front of both answers 429 (see the errors module).

use coffer_core::throttle::Rate;

use crate::operation::OperationKind;

/// The CSMS user guide's "at most 500 secrets".
pub const CLOUD_SECRETS_PER_REGION: u64 = 500;

const CSMS: &str = "csms";
const KMS: &str = "kms";

/// Each group's published rate under `--limits cloud`.
pub const CLOUD_RATES: &[(&str, Rate)] = &[(KMS, Rate::per_second(20))];

/// CSMS routes share one group, KMS routes another (20 operations a second per user).
pub fn rate_group(kind: OperationKind) -> Option<&'static str> {
    use OperationKind as K;
    Some(match kind {
        K::CreateSecret
        | K::ListSecrets
        | K::BatchGetSecretValue
        | K::ShowSecret
        | K::UpdateSecret
        | K::DeleteSecret
        | K::CreateSecretForSchedule
        | K::RestoreSecret
        | K::CreateSecretVersion
        | K::ListSecretVersions
        | K::ShowSecretVersion
        | K::UpdateVersion
        | K::UpdateSecretStage
        | K::ShowSecretStage
        | K::DeleteSecretStage
        | K::RotateSecret
        | K::ListSecretTasks
        | K::ListProjectSecretsTags
        | K::ListResourceInstances
        | K::ListNotificationRecords
        | K::CreateSecretEvent
        | K::ListSecretEvents
        | K::ShowSecretEvent
        | K::UpdateSecretEvent
        | K::DeleteSecretEvent
        | K::ListSecretTags
        | K::CreateSecretTag
        | K::BatchCreateOrDeleteTags
        | K::DeleteSecretTag => CSMS,
        K::CreateKey
        | K::DescribeKey
        | K::ListKeys
        | K::EnableKey
        | K::DisableKey
        | K::ScheduleKeyDeletion
        | K::CancelKeyDeletion
        | K::UpdateKeyAlias
        | K::UpdateKeyDescription
        | K::EncryptData
        | K::DecryptData
        | K::CreateDatakey
        | K::CreateDatakeyWithoutPlaintext
        | K::EncryptDatakey
        | K::DecryptDatakey
        | K::ReEncrypt
        | K::EnableKeyRotation
        | K::DisableKeyRotation
        | K::UpdateKeyRotationInterval
        | K::ShowKeyRotationStatus
        | K::RotateKeyOnDemand
        | K::CreateAlias
        | K::ListAliases
        | K::DeleteAlias
        | K::AssociateAlias => KMS,
    })
}

/// Every group an operation can name.
pub fn groups() -> Vec<&'static str> {
    vec![CSMS, KMS]
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn kms_routes_are_the_kms_group() {
        for kind in OperationKind::iter() {
            let group = rate_group(kind);
            let kms = crate::operation::wire_name(kind).contains("/v1.0/");
            assert_eq!(group, Some(if kms { KMS } else { CSMS }), "{kind:?}");
        }
    }
}
