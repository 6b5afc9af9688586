//! Replication: ReplicateSecretToRegions, RemoveRegionsFromReplication,
//! StopReplicationToReplica, AssociateCrossAccountReplica and
//! DisassociateCrossAccountReplica. Their inputs are read here in full, with the model's
//! constraints; the core keeps replicas in step (DESIGN.md, "Replication (AWS)").

use coffer_core::service::{CrossAccountLink, NewReplica, ReplicaInfo, Replication};
use coffer_core::{Scope, SecretRecord};
use serde_json::{json, Map, Value};

use crate::arn::{suffix_of, SecretRef};

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

/// `ReplicationStatusType` of one replica.
fn status_json(r: &ReplicaInfo) -> Value {
    let mut o = json!({
        "Region": r.region_id,
        "KmsKeyId": r.key_id,
        "Status": r.status,
    });
    let message = if r.status == "InSync" {
        "Replication succeeded"
    } else {
        r.message.as_str()
    };
    o["StatusMessage"] = message.into();
    o
}

/// DescribeSecret's and ListSecrets' replication fields: a primary's `ReplicationStatus`; a
/// replica's `PrimaryRegion` (the primary's region id).
pub async fn describe_fields(
    call: &Call,
    s: &SecretRecord,
    out: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    match call.service.replication(s.id).await? {
        Some(Replication::Primary {
            replicas,
            cross_account,
        }) => {
            if !replicas.is_empty() {
                out.insert(
                    "ReplicationStatus".into(),
                    Value::Array(replicas.iter().map(status_json).collect()),
                );
            }
            if !cross_account.is_empty() {
                let entries = cross_account
                    .iter()
                    .map(|l| {
                        json!({
                            "ReplicaSecretARN": l.arn,
                            "ReplicationStatus": l.status,
                            "StatusMessage": "Replication succeeded",
                        })
                    })
                    .collect();
                out.insert("CrossAccountReplicas".into(), Value::Array(entries));
            }
        }
        Some(Replication::CrossAccountReplica {
            primary_arn,
            status,
            ..
        }) => {
            let message = match status.as_str() {
                "InSync" => "Replication succeeded",
                "Pending" => "Waiting for the primary secret's owner to associate this replica",
                _ => "The primary secret's owner disassociated this replica",
            };
            out.insert(
                "CrossAccountPrimary".into(),
                json!({
                    "PrimarySecretARN": primary_arn,
                    "ReplicationStatus": status,
                    "StatusMessage": message,
                }),
            );
        }
        Some(Replication::Replica {
            primary_region_id, ..
        }) => {
            out.insert("PrimaryRegion".into(), primary_region_id.into());
        }
        None => {}
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
    let mut adds: Vec<NewReplica> = Vec::with_capacity(input.add_replica_regions.len());
    for r in &input.add_replica_regions {
        let region = r
            .region
            .as_deref()
            .ok_or_else(|| ApiError::missing("AddReplicaRegions.member.Region"))?;
        if adds.iter().any(|a| a.region_id == region) {
            return Err(ApiError::invalid_parameter(format!(
                "The Region {region} appears more than once in AddReplicaRegions."
            )));
        }
        adds.push(NewReplica {
            region: call.regions.resolve(Some(region)).to_string(),
            region_id: region.to_string(),
            key: r
                .kms_key_id
                .as_deref()
                .map(|k| crate::arn::key_reference(k).to_string()),
        });
    }
    for a in &adds {
        check_replica_region(call, &a.region_id)?;
        if let Some(b) = adds
            .iter()
            .find(|b| b.region == a.region && b.region_id != a.region_id)
        {
            return Err(ApiError::invalid_parameter(format!(
                "The Regions {} and {} are the same coffer region {:?}: a secret has one \
                 replica per coffer region.",
                a.region_id, b.region_id, a.region
            )));
        }
    }
    let (s, replicas) = call
        .service
        .replicate(
            &call.scope,
            &call.region_id,
            &secret.name,
            adds,
            input.force_overwrite_replica_secret.unwrap_or(false),
        )
        .await?;
    Ok(arn_and_status(call, &s, &replicas))
}

/// The answer of the operations that change a primary's replicas: its ARN and where each
/// replica stands.
fn arn_and_status(call: &Call, s: &SecretRecord, replicas: &[ReplicaInfo]) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("ARN".into(), call.arn(&s.name, &suffix_of(s)).into());
    out.insert(
        "ReplicationStatus".into(),
        Value::Array(replicas.iter().map(status_json).collect()),
    );
    out
}

pub async fn remove_regions(
    call: &Call,
    input: RemoveRegionsFromReplication,
) -> Result<Map<String, Value>, ApiError> {
    let regions: Vec<(String, String)> = input
        .remove_replica_regions
        .iter()
        .map(|r| (call.regions.resolve(Some(r)).to_string(), r.clone()))
        .collect();
    let (s, replicas) = call
        .service
        .remove_replicas(&call.scope, &input.secret.name, &regions)
        .await?;
    Ok(arn_and_status(call, &s, &replicas))
}

pub async fn stop(
    call: &Call,
    input: StopReplicationToReplica,
) -> Result<Map<String, Value>, ApiError> {
    let s = call
        .service
        .promote_replica(&call.scope, &input.secret.name)
        .await?;
    let mut out = Map::new();
    out.insert("ARN".into(), call.arn(&s.name, &suffix_of(&s)).into());
    Ok(out)
}

/// Where a `CrossAccountReplicaARN` points: the scope of the account its number names (in
/// the coffer region its Region maps to) and the name of the secret it names there (the
/// first reading when none matches). `None` when it is no secret ARN or no account has the
/// number.
async fn locate(call: &Call, arn: &str) -> Result<Option<(Scope, String)>, ApiError> {
    let Some(r @ SecretRef::Arn { .. }) = SecretRef::parse(arn) else {
        return Ok(None);
    };
    let SecretRef::Arn {
        region, account, ..
    } = &r
    else {
        return Ok(None);
    };
    let Some(owner) = call.service.account_with_number(account).await? else {
        return Ok(None);
    };
    let scope = Scope {
        account: owner,
        region: call.regions.resolve(Some(region)).to_string(),
    };
    let candidates = r.candidates();
    for (name, suffix) in &candidates {
        match call.service.describe(&scope, name).await {
            Ok(s) if suffix.is_none() || suffix.as_deref() == Some(&suffix_of(&s)) => {
                return Ok(Some((scope, s.name)))
            }
            Ok(_) | Err(coffer_core::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let first = candidates
        .into_iter()
        .next()
        .map(|(n, _)| n)
        .unwrap_or_default();
    Ok(Some((scope, first)))
}

/// Whether `given` (a replica's `CrossAccountPrimaryARN`) names `primary` of the caller's
/// account and Region, by its full or partial ARN.
fn names_secret(call: &Call, primary: &SecretRecord, given: &str) -> bool {
    let Some(r @ SecretRef::Arn { .. }) = SecretRef::parse(given) else {
        return false;
    };
    let SecretRef::Arn {
        region, account, ..
    } = &r
    else {
        return false;
    };
    if *account != call.account_number || call.regions.resolve(Some(region)) != call.scope.region {
        return false;
    }
    let suffix = suffix_of(primary);
    r.candidates()
        .iter()
        .any(|(n, s)| *n == primary.name && s.as_ref().is_none_or(|s| *s == suffix))
}

pub async fn associate(
    call: &Call,
    input: AssociateCrossAccountReplica,
) -> Result<Map<String, Value>, ApiError> {
    let primary = call
        .service
        .describe(&call.scope, &input.secret.name)
        .await?;
    let arn = &input.cross_account_replica_arn;
    let Some((replica_scope, replica_name)) = locate(call, arn).await? else {
        return Err(coffer_core::service::not_a_cross_account_replica(arn, &primary.name).into());
    };
    let names_primary = |given: &str| names_secret(call, &primary, given);
    let (s, link) = call
        .service
        .associate_cross_account(
            &call.scope,
            &primary.name,
            &replica_scope,
            &replica_name,
            arn,
            &names_primary,
        )
        .await?;
    let mut out = Map::new();
    out.insert("ARN".into(), call.arn(&s.name, &suffix_of(&s)).into());
    out.insert("CrossAccountReplicaARN".into(), link.arn.into());
    out.insert("ReplicationStatus".into(), link.status.into());
    Ok(out)
}

pub async fn disassociate(
    call: &Call,
    input: DisassociateCrossAccountReplica,
) -> Result<Map<String, Value>, ApiError> {
    let arn = input.cross_account_replica_arn.clone();
    let located = locate(call, &arn).await?;
    let matches = |link: &CrossAccountLink| {
        link.arn == arn
            || located.as_ref().is_some_and(|(scope, name)| {
                link.account == scope.account.0 && link.region == scope.region && link.name == *name
            })
    };
    let (s, _) = call
        .service
        .disassociate_cross_account(&call.scope, &input.secret.name, &matches, &arn)
        .await?;
    let mut out = Map::new();
    out.insert("ARN".into(), call.arn(&s.name, &suffix_of(&s)).into());
    out.insert("CrossAccountReplicaARN".into(), arn.into());
    Ok(out)
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
