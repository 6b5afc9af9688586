//! Replication: ReplicateSecretToRegions, RemoveRegionsFromReplication,
//! StopReplicationToReplica, AssociateCrossAccountReplica and
//! DisassociateCrossAccountReplica. Their inputs are read here in full, with the model's
//! constraints; running them needs the store's replicas.

use serde_json::{Map, Value};

use crate::errors::ApiError;
use crate::operation::SecretId;
use crate::params::{self, Params};
use crate::request::Call;

/// `RegionType`: 1–128 characters, `^([a-z]+-)+\d+$`.
pub const MAX_REGION_LEN: usize = 128;
/// `SecretARNType` and `RoleARNType`: 20–2048 characters.
pub const MIN_ARN_LEN: usize = 20;
pub const MAX_ARN_LEN: usize = 2048;

/// Whether `s` has the shape of a region code: lower-case words joined by `-`, ending in a
/// number (`us-east-1`).
pub fn is_region_code(s: &str) -> bool {
    let Some((words, number)) = s.rsplit_once('-') else {
        return false;
    };
    !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
        && !words.is_empty()
        && words
            .split('-')
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
}

fn region(field: &str, s: &str) -> Result<String, ApiError> {
    params::check_len(field, s, 1, MAX_REGION_LEN)?;
    if !is_region_code(s) {
        return Err(ApiError::validation(
            field,
            "Member must satisfy regular expression pattern: ^([a-z]+-)+\\d+$",
        ));
    }
    Ok(s.to_string())
}

/// `ReplicaRegionType`.
#[derive(Debug)]
pub struct ReplicaRegion {
    pub region: Option<String>,
    pub kms_key_id: Option<String>,
}

/// `AddReplicaRegions`: at least one entry.
pub fn add_replica_regions(p: &Params) -> Result<Option<Vec<ReplicaRegion>>, ApiError> {
    let Some(items) = p.array("AddReplicaRegions")? else {
        return Ok(None);
    };
    params::check_count("AddReplicaRegions", items.len(), 1, usize::MAX)?;
    items
        .iter()
        .map(|item| {
            let o = item.as_object().ok_or_else(|| {
                ApiError::serialization("AddReplicaRegions must be a list of structures.")
            })?;
            let r = Params::from_map(o.clone());
            Ok(ReplicaRegion {
                region: r
                    .str("Region")?
                    .map(|s| region("AddReplicaRegions.member.Region", s))
                    .transpose()?,
                kms_key_id: r
                    .str_len("KmsKeyId", 0, params::MAX_KMS_KEY_ID_LEN)?
                    .map(str::to_string),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()
        .map(Some)
}

fn arn_field(p: &Params, field: &str) -> Result<String, ApiError> {
    Ok(p.required_str(field, MIN_ARN_LEN, MAX_ARN_LEN)?.to_string())
}

#[derive(Debug)]
pub struct ReplicateSecretToRegions {
    pub secret: SecretId,
    pub add_replica_regions: Vec<ReplicaRegion>,
    pub force_overwrite_replica_secret: Option<bool>,
}

impl ReplicateSecretToRegions {
    pub fn parse(p: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            secret: SecretId::parse(p, "SecretId")?,
            add_replica_regions: add_replica_regions(p)?
                .ok_or_else(|| ApiError::missing("AddReplicaRegions"))?,
            force_overwrite_replica_secret: p.bool("ForceOverwriteReplicaSecret")?,
        })
    }
}

#[derive(Debug)]
pub struct RemoveRegionsFromReplication {
    pub secret: SecretId,
    pub remove_replica_regions: Vec<String>,
}

impl RemoveRegionsFromReplication {
    pub fn parse(p: &Params) -> Result<Self, ApiError> {
        let regions = p
            .str_list("RemoveReplicaRegions", (1, usize::MAX), (1, MAX_REGION_LEN))?
            .ok_or_else(|| ApiError::missing("RemoveReplicaRegions"))?;
        Ok(Self {
            secret: SecretId::parse(p, "SecretId")?,
            remove_replica_regions: regions
                .iter()
                .map(|r| region("RemoveReplicaRegions.member", r))
                .collect::<Result<_, _>>()?,
        })
    }
}

#[derive(Debug)]
pub struct StopReplicationToReplica {
    pub secret: SecretId,
}

impl StopReplicationToReplica {
    pub fn parse(p: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            secret: SecretId::parse(p, "SecretId")?,
        })
    }
}

/// `ReplicaRestrictionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaRestriction {
    SameOrg,
    NoRestriction,
}

#[derive(Debug)]
pub struct AssociateCrossAccountReplica {
    pub secret: SecretId,
    pub cross_account_replica_arn: String,
    pub replica_restriction: Option<ReplicaRestriction>,
    pub replication_role_arn: Option<String>,
}

impl AssociateCrossAccountReplica {
    pub fn parse(p: &Params) -> Result<Self, ApiError> {
        let replica_restriction = match p.str("ReplicaRestriction")? {
            None => None,
            Some("SameOrg") => Some(ReplicaRestriction::SameOrg),
            Some("NoRestriction") => Some(ReplicaRestriction::NoRestriction),
            Some(_) => {
                return Err(ApiError::validation(
                    "ReplicaRestriction",
                    "Member must satisfy enum value set: [SameOrg, NoRestriction]",
                ))
            }
        };
        Ok(Self {
            secret: SecretId::parse(p, "SecretId")?,
            cross_account_replica_arn: arn_field(p, "CrossAccountReplicaARN")?,
            replica_restriction,
            replication_role_arn: p
                .str_len("ReplicationRoleARN", MIN_ARN_LEN, MAX_ARN_LEN)?
                .map(str::to_string),
        })
    }
}

#[derive(Debug)]
pub struct DisassociateCrossAccountReplica {
    pub secret: SecretId,
    pub cross_account_replica_arn: String,
}

impl DisassociateCrossAccountReplica {
    pub fn parse(p: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            secret: SecretId::parse(p, "SecretId")?,
            cross_account_replica_arn: arn_field(p, "CrossAccountReplicaARN")?,
        })
    }
}

/// Every replica region must be a coffer region of its own: with the default single region,
/// every region id maps onto the primary's and no replica can exist.
fn check_replica_region(call: &Call, region: &str) -> Result<(), ApiError> {
    let coffer_region = call.regions.resolve(Some(region));
    if coffer_region == call.scope.region {
        return Err(ApiError::invalid_parameter(format!(
            "The replica Region {region} maps to coffer region {coffer_region:?}, the same as the primary \
             secret's: a replica must live in another coffer region. Start coffer with \
             --region NAME=ID,... so that {region} names a region of its own."
        )));
    }
    Ok(())
}

pub async fn replicate(
    call: &Call,
    input: ReplicateSecretToRegions,
) -> Result<Map<String, Value>, ApiError> {
    let secret = call
        .service
        .describe(&call.scope, &input.secret.name)
        .await?;
    if secret.is_pending_delete() {
        return Err(coffer_core::Error::InDeleteWindow { name: secret.name }.into());
    }
    let mut regions = Vec::with_capacity(input.add_replica_regions.len());
    for r in &input.add_replica_regions {
        let region = r
            .region
            .as_deref()
            .ok_or_else(|| ApiError::missing("AddReplicaRegions.member.Region"))?;
        if regions.contains(&region) {
            return Err(ApiError::invalid_parameter(format!(
                "The Region {region} appears more than once in AddReplicaRegions."
            )));
        }
        regions.push(region);
    }
    for region in regions {
        check_replica_region(call, region)?;
    }
    Err(ApiError::invalid_request(
        "Replication to another coffer region is not available on this server yet.",
    ))
}

pub async fn remove_regions(
    call: &Call,
    input: RemoveRegionsFromReplication,
) -> Result<Map<String, Value>, ApiError> {
    let secret = call
        .service
        .describe(&call.scope, &input.secret.name)
        .await?;
    // No secret has replicas on this server, so every region named is not one of them.
    let region = input
        .remove_replica_regions
        .first()
        .cloned()
        .unwrap_or_default();
    Err(ApiError::invalid_parameter(format!(
        "The secret {} has no replica in Region {region}.",
        secret.name
    )))
}

pub async fn stop(
    call: &Call,
    input: StopReplicationToReplica,
) -> Result<Map<String, Value>, ApiError> {
    let secret = call
        .service
        .describe(&call.scope, &input.secret.name)
        .await?;
    Err(ApiError::invalid_request(format!(
        "The secret {} is not a replica secret: StopReplicationToReplica promotes a replica \
         to a standalone secret.",
        secret.name
    )))
}

pub async fn associate(
    call: &Call,
    input: AssociateCrossAccountReplica,
) -> Result<Map<String, Value>, ApiError> {
    call.service
        .describe(&call.scope, &input.secret.name)
        .await?;
    Err(ApiError::invalid_request(
        "Cross-account replication between coffer accounts is not available on this server yet.",
    ))
}

pub async fn disassociate(
    call: &Call,
    input: DisassociateCrossAccountReplica,
) -> Result<Map<String, Value>, ApiError> {
    let secret = call
        .service
        .describe(&call.scope, &input.secret.name)
        .await?;
    Err(ApiError::invalid_parameter(format!(
        "The secret {} has no cross-account replica {}.",
        secret.name, input.cross_account_replica_arn
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_codes() {
        assert!(is_region_code("us-east-1"));
        assert!(is_region_code("cn-north-12"));
        assert!(!is_region_code("US-east-1"));
        assert!(!is_region_code("us-east"));
        assert!(!is_region_code("-1"));
    }
}
