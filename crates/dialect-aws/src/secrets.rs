//! The secret operations: CreateSecret, GetSecretValue, BatchGetSecretValue, PutSecretValue,
//! DescribeSecret, ListSecrets, ListSecretVersionIds, DeleteSecret, RestoreSecret,
//! UpdateSecret, UpdateSecretVersionStage, TagResource, UntagResource, GetRandomPassword
//! (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_Operations.html).

use base64::Engine as _;
use coffer_core::password::PasswordOptions;
use coffer_core::service::{
    CreateSecret, DeleteMode, PutValue, VersionSelector, WhenExists, WhenFull,
};
use coffer_core::{SecretKind, SecretRecord, SecretState, SecretValue, Stage, Tag, Timestamp};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use crate::arn::SecretRef;
use crate::errors::ApiError;
use crate::filters::{self, Filter};
use crate::operation::SecretId;
use crate::params::{self, Params};
use crate::render::obj;
use crate::request::Call;

/// The alias AWS gives its managed default key; coffer's default key of the scope stands in.
pub const DEFAULT_KEY_ALIAS: &str = "alias/aws/secretsmanager";
/// Versions a secret keeps before the oldest without a stage are removed (the user guide's
/// "more than 100 versions"); the server's `versions-per-secret` limit may be lower.
pub const MAX_VERSIONS: usize = 100;
/// Labels one secret's versions may carry in all.
pub const MAX_STAGES: usize = 20;
/// Tags per secret ("Tags per secret: 50").
pub const MAX_TAGS: usize = 50;

/// `Name`: 1–512 characters of `[A-Za-z0-9/_+=.@-]`.
pub fn name(p: &Params) -> Result<String, ApiError> {
    let n = p.required_str("Name", 1, params::MAX_NAME_LEN)?;
    if !n
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
    {
        return Err(ApiError::invalid_parameter(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of \
             the following: -/_+=.@!",
        ));
    }
    Ok(n.to_string())
}

/// `Tags`: a list of `{"Key", "Value"}`, at most [`MAX_TAGS`], keys unique.
pub fn tags(p: &Params) -> Result<Option<Vec<Tag>>, ApiError> {
    let Some(items) = p.array("Tags")? else {
        return Ok(None);
    };
    if items.len() > MAX_TAGS {
        return Err(ApiError::invalid_parameter(format!(
            "A secret can have at most {MAX_TAGS} tags."
        )));
    }
    let mut out: Vec<Tag> = vec![];
    for item in items {
        let bad =
            || ApiError::serialization("Tags must be a list of {\"Key\", \"Value\"} structures.");
        let o = Params::from_map(item.as_object().ok_or_else(bad)?.clone());
        let key = o
            .str("Key")?
            .ok_or_else(|| ApiError::missing("tags.member.key"))?;
        params::check_len("tags.member.key", key, 1, params::MAX_TAG_KEY_LEN)?;
        let value = o.str("Value")?.unwrap_or("");
        params::check_len("tags.member.value", value, 0, params::MAX_TAG_VALUE_LEN)?;
        if key.starts_with("aws:") {
            return Err(ApiError::invalid_parameter(
                "Tag keys that start with \"aws:\" are reserved.",
            ));
        }
        if out.iter().any(|t| t.key == key) {
            return Err(ApiError::invalid_parameter(format!(
                "The tag key {key:?} appears more than once in Tags."
            )));
        }
        out.push(Tag {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(Some(out))
}

/// `TagKeys`: required, each 1–128 characters.
pub fn tag_keys(p: &Params) -> Result<Vec<String>, ApiError> {
    p.str_list("TagKeys", (0, usize::MAX), (1, params::MAX_TAG_KEY_LEN))?
        .ok_or_else(|| ApiError::missing("TagKeys"))
}

/// `KmsKeyId`, when given and not AWS's default alias (then the scope's default key).
pub fn kms_key_id(p: &Params) -> Result<Option<String>, ApiError> {
    Ok(p.str_len("KmsKeyId", 0, params::MAX_KMS_KEY_ID_LEN)?
        .filter(|k| {
            !k.is_empty() && *k != DEFAULT_KEY_ALIAS && !k.ends_with(":alias/aws/secretsmanager")
        })
        .map(str::to_string))
}

/// `SecretIdList` of BatchGetSecretValue: 1–20 ids; with `Filters` instead, no ids.
pub fn batch_ids(p: &Params) -> Result<Vec<SecretId>, ApiError> {
    let ids = p.str_list("SecretIdList", (1, 20), (1, params::MAX_SECRET_ID_LEN))?;
    match (ids, p.has("Filters")) {
        (Some(_), true) => Err(ApiError::invalid_parameter(
            "Either SecretIdList or Filters must be provided, but not both.",
        )),
        (None, false) => Err(ApiError::invalid_parameter(
            "Either SecretIdList or Filters must be provided.",
        )),
        (None, true) => Ok(vec![]),
        (Some(ids), false) => {
            if p.has("MaxResults") {
                return Err(ApiError::invalid_parameter(
                    "MaxResults applies only to a request with Filters.",
                ));
            }
            Ok(ids
                .into_iter()
                .map(|given| SecretId {
                    name: given.clone(),
                    given,
                })
                .collect())
        }
    }
}

/// The name of the secret a `SecretId` names: the text itself, or the secret a full or
/// partial ARN names. An ARN that names no secret of the caller's scope stays as written, so
/// that the permission and the lookup refuse it like any unknown name.
pub async fn resolve_name(call: &Call, given: &str) -> Result<String, ApiError> {
    let Some(r) = SecretRef::parse(given) else {
        return Ok(given.to_string());
    };
    if let SecretRef::Arn {
        region, account, ..
    } = &r
    {
        if *account != call.account_number
            || call.regions.resolve(Some(region)) != call.scope.region
        {
            return Ok(given.to_string());
        }
    }
    for (name, suffix) in r.candidates() {
        match call.service.describe(&call.scope, &name).await {
            Ok(s) if suffix.is_none() || suffix.as_deref() == Some(&crate::arn::suffix_of(&s)) => {
                return Ok(s.name)
            }
            Ok(_) | Err(coffer_core::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(given.to_string())
}

/// The id of the key `KmsKeyId` names (an id, `alias/x`, or a key ARN), for the permission.
pub async fn key_id_to_authorize(call: &Call, reference: &str) -> Result<String, ApiError> {
    Ok(call
        .service
        .key_id_to_authorize(&call.scope, crate::arn::key_reference(reference))
        .await?)
}

// --- shared pieces ---------------------------------------------------------------------------

/// AWS's stage labels for the core's built-in stages; other labels are custom stages.
pub fn stage_from_wire(label: &str) -> Stage {
    match label {
        "AWSCURRENT" => Stage::Current,
        "AWSPREVIOUS" => Stage::Previous,
        "AWSPENDING" => Stage::Pending,
        other => Stage::Custom(other.to_string()),
    }
}

pub fn stage_to_wire(stage: &Stage) -> String {
    match stage {
        Stage::Current => "AWSCURRENT".into(),
        Stage::Previous => "AWSPREVIOUS".into(),
        Stage::Pending => "AWSPENDING".into(),
        Stage::Custom(s) => s.clone(),
    }
}

fn stages_json(stages: &[Stage]) -> Value {
    Value::Array(stages.iter().map(|s| stage_to_wire(s).into()).collect())
}

/// AWS's JSON protocol sends timestamps as epoch seconds.
pub fn date(t: Timestamp) -> Value {
    json!(t.as_millis() as f64 / 1000.0)
}

/// A `ClientRequestToken` or version id: 32–64 characters.
fn token(p: &Params, field: &str) -> Result<Option<String>, ApiError> {
    Ok(
        p.str_len(field, params::MIN_TOKEN_LEN, params::MAX_TOKEN_LEN)?
            .map(str::to_string),
    )
}

/// `SecretString` or `SecretBinary` (base64 on the wire), one of them, 1–65,536 bytes.
fn value(p: &Params, required: bool) -> Result<Option<SecretValue>, ApiError> {
    let text = p.str("SecretString")?;
    let binary = p.str("SecretBinary")?;
    match (text, binary) {
        (Some(_), Some(_)) => Err(ApiError::invalid_parameter(
            "You can't specify both a binary secret value and a string secret value in the same secret.",
        )),
        (Some(t), None) => {
            if t.is_empty() || t.len() > params::MAX_VALUE_BYTES {
                return Err(ApiError::validation(
                    "SecretString",
                    format!("Member must have length between 1 and {}", params::MAX_VALUE_BYTES),
                ));
            }
            Ok(Some(SecretValue::Text(Zeroizing::new(t.to_string()))))
        }
        (None, Some(b)) => {
            let bytes = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|_| ApiError::serialization("SecretBinary is not valid base64."))?,
            );
            if bytes.is_empty() || bytes.len() > params::MAX_VALUE_BYTES {
                return Err(ApiError::validation(
                    "SecretBinary",
                    format!("Member must have length between 1 and {}", params::MAX_VALUE_BYTES),
                ));
            }
            Ok(Some(SecretValue::Binary(bytes)))
        }
        (None, None) if required => Err(ApiError::invalid_parameter(
            "You must provide either SecretString or SecretBinary.",
        )),
        (None, None) => Ok(None),
    }
}

fn description(p: &Params) -> Result<Option<String>, ApiError> {
    Ok(p.str_len("Description", 0, params::MAX_DESCRIPTION_LEN)?
        .map(str::to_string))
}

fn new_version_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A value's member in an answer.
fn value_member(out: &mut Map<String, Value>, v: &SecretValue) {
    match v {
        SecretValue::Text(t) => {
            out.insert("SecretString".into(), Value::String(t.to_string()));
        }
        SecretValue::Binary(b) => {
            out.insert(
                "SecretBinary".into(),
                base64::engine::general_purpose::STANDARD.encode(b).into(),
            );
        }
    }
}

/// Refuses `AddReplicaRegions`, which this server does not perform through CreateSecret.
fn refuse_replication_members(p: &Params) -> Result<(), ApiError> {
    if p.has("AddReplicaRegions") {
        return Err(ApiError::invalid_request(
            "AddReplicaRegions is not supported by CreateSecret on this server; create the \
             secret, then use ReplicateSecretToRegions.",
        ));
    }
    Ok(())
}

/// CreateSecret with `CrossAccountPrimaryARN`: a cross-account replica of a secret of
/// another account, in the caller's Region, sealed under the `KmsKeyId` it must name, with no
/// value until that secret's owner associates it (AssociateCrossAccountReplica). Naming the
/// primary here is the replica account's consent to receive it.
async fn create_cross_account_replica(
    call: &Call,
    name: String,
    tags: Vec<Tag>,
    key: Option<String>,
) -> Result<Map<String, Value>, ApiError> {
    let p = &call.params;
    let primary_arn = p.required_str(
        "CrossAccountPrimaryARN",
        crate::replication::MIN_ARN_LEN,
        crate::replication::MAX_ARN_LEN,
    )?;
    // What the model says such a create cannot carry (CreateSecret, CrossAccountPrimaryARN).
    for field in [
        "SecretString",
        "SecretBinary",
        "Description",
        "AddReplicaRegions",
        "Type",
    ] {
        if p.has(field) {
            return Err(ApiError::invalid_parameter(format!(
                "You can't include {field} when you create a cross-account replica \
                 (CrossAccountPrimaryARN)."
            )));
        }
    }
    let Some(key) = key else {
        return Err(ApiError::invalid_parameter(
            "You must specify a customer managed key in KmsKeyId to create a cross-account \
             replica (CrossAccountPrimaryARN).",
        ));
    };
    match SecretRef::parse(primary_arn) {
        Some(SecretRef::Arn {
            region, account, ..
        }) => {
            if account == call.account_number {
                return Err(ApiError::invalid_parameter(
                    "CrossAccountPrimaryARN must name a secret of another account.",
                ));
            }
            if call.regions.resolve(Some(&region)) != call.scope.region {
                return Err(ApiError::invalid_parameter(format!(
                    "CrossAccountPrimaryARN names a secret in Region {region}: the primary \
                     must be in the replica's Region {}.",
                    call.region_id
                )));
            }
        }
        _ => {
            return Err(ApiError::invalid_parameter(
                "CrossAccountPrimaryARN must be the ARN of a Secrets Manager secret.",
            ))
        }
    }
    let record = call
        .service
        .create_cross_account_replica(
            &call.scope,
            name,
            key,
            tags,
            call.max_secrets,
            primary_arn.to_string(),
        )
        .await?;
    Ok(obj(json!({
        "ARN": call.arn(&record.name, &crate::arn::suffix_of(&record)),
        "Name": record.name,
    })))
}

// --- operations ------------------------------------------------------------------------------

pub async fn create(
    call: &Call,
    name: String,
    tags: Vec<Tag>,
    key: Option<String>,
) -> Result<Map<String, Value>, ApiError> {
    let p = &call.params;
    if p.has("CrossAccountPrimaryARN") {
        return create_cross_account_replica(call, name, tags, key).await;
    }
    let version_id = token(p, "ClientRequestToken")?.unwrap_or_else(new_version_id);
    let description = description(p)?.unwrap_or_default();
    refuse_replication_members(p)?;
    p.str_len("Type", 0, 256)?;
    // Without a value the secret has no version until the first PutSecretValue.
    let Some(value) = value(p, false)? else {
        let record = call
            .service
            .create_secret_without_value(
                &call.scope,
                name,
                description,
                key,
                tags,
                call.max_secrets,
            )
            .await?;
        return Ok(obj(json!({
            "ARN": call.arn(&record.name, &crate::arn::suffix_of(&record)),
            "Name": record.name,
        })));
    };
    let request_value = match &value {
        SecretValue::Text(t) => SecretValue::Text(t.clone()),
        SecretValue::Binary(b) => SecretValue::Binary(b.clone()),
    };
    let created = call
        .service
        .create_secret_within(
            &call.scope,
            CreateSecret {
                name: name.clone(),
                description,
                kind: SecretKind::Generic,
                key,
                tags,
                version_id: version_id.clone(),
                value,
                extended_config: None,
                policy: None,
                subscriptions: vec![],
            },
            call.max_secrets,
        )
        .await;
    let record = match created {
        Ok(r) => r,
        // A retried create (same token, same value) succeeds without change, as AWS's
        // idempotent CreateSecret does; with another value the name is taken.
        Err(coffer_core::Error::AlreadyExists { .. }) => {
            let existing = call.service.describe(&call.scope, &name).await?;
            if existing.version(&version_id).is_some() && !existing.is_pending_delete() {
                let read = call
                    .service
                    .get_value(
                        &call.scope,
                        &name,
                        &VersionSelector {
                            version_id: Some(version_id.clone()),
                            stage: None,
                        },
                    )
                    .await?;
                if read.value.ct_eq(&request_value) {
                    return Ok(obj(json!({
                        "ARN": call.arn(&existing.name, &crate::arn::suffix_of(&existing)),
                        "Name": existing.name,
                        "VersionId": version_id,
                    })));
                }
                return Err(ApiError::exists(
                    "You can't modify an existing version, you can only create a new version.",
                ));
            }
            if existing.is_pending_delete() {
                return Err(ApiError::invalid_request(format!(
                    "You can't create this secret because a secret with this name is already \
                     scheduled for deletion: {name}"
                )));
            }
            return Err(ApiError::exists(format!(
                "The operation failed because the secret {name} already exists."
            )));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(obj(json!({
        "ARN": call.arn(&record.name, &crate::arn::suffix_of(&record)),
        "Name": record.name,
        "VersionId": version_id,
    })))
}

fn selector(p: &Params) -> Result<VersionSelector, ApiError> {
    let version_id = token(p, "VersionId")?;
    let stage = p
        .str_len("VersionStage", 1, params::MAX_STAGE_LEN)?
        .map(stage_from_wire);
    Ok(VersionSelector { version_id, stage })
}

/// AWS's words for a version or stage that is not there, and for a value whose key cannot
/// open it: a read answers `DecryptionFailure` (GetSecretValue's and BatchGetSecretValue's
/// error for a KMS key that cannot decrypt,
/// https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html),
/// where a write under a disabled key is an `EncryptionFailure`.
fn missing_value(e: coffer_core::Error, sel: &VersionSelector) -> ApiError {
    use coffer_core::error::Resource;
    match e {
        coffer_core::Error::Disabled {
            what: Resource::Key,
            name,
        } => ApiError::new(
            "DecryptionFailure",
            400,
            format!(
                "Secrets Manager can't decrypt the secret value: the KMS key {name:?} is disabled."
            ),
        ),
        coffer_core::Error::NotFound {
            what: Resource::Version | Resource::Stage,
            ..
        } => ApiError::not_found(match (&sel.version_id, &sel.stage) {
            (Some(v), _) => {
                format!("Secrets Manager can't find the specified secret value for VersionId: {v}")
            }
            (None, s) => format!(
                "Secrets Manager can't find the specified secret value for staging label: {}",
                stage_to_wire(s.as_ref().unwrap_or(&Stage::Current))
            ),
        }),
        other => other.into(),
    }
}

async fn read_value(
    call: &Call,
    name: &str,
    sel: &VersionSelector,
) -> Result<Map<String, Value>, ApiError> {
    let read = call
        .service
        .get_value(&call.scope, name, sel)
        .await
        .map_err(|e| missing_value(e, sel))?;
    let mut out = obj(json!({
        "ARN": call.arn(&read.secret.name, &crate::arn::suffix_of(&read.secret)),
        "Name": read.secret.name,
        "VersionId": read.version.version_id,
        "VersionStages": stages_json(&read.version.stages),
        "CreatedDate": date(read.version.created_at),
    }));
    value_member(&mut out, &read.value);
    Ok(out)
}

pub async fn get_value(call: &Call, secret: &SecretId) -> Result<Map<String, Value>, ApiError> {
    let sel = selector(&call.params)?;
    read_value(call, &secret.name, &sel).await
}

pub async fn batch_get_value(
    call: &Call,
    secrets: Vec<SecretId>,
) -> Result<Map<String, Value>, ApiError> {
    let p = &call.params;
    let mut values = vec![];
    let mut errors = vec![];
    let mut next = None;
    let current = VersionSelector::default();
    if secrets.is_empty() {
        let f = filters::parse(p)?;
        let max = p.int("MaxResults", 1, 20)?.unwrap_or(20) as usize;
        let offset = filters::offset(p)?;
        let (page, more) = filters::page(call, &f, false, true, None, offset, max).await?;
        for s in page {
            // The filter named no secret, so nothing was authorized per secret yet: each
            // one found is, so that its resource policy's Deny holds here too.
            let read = read_one(call, &s.name, &current).await;
            let id = call.arn(&s.name, &crate::arn::suffix_of(&s));
            answer(read, id, &mut values, &mut errors)?;
        }
        next = more.then(|| filters::token(offset.saturating_add(max)));
    } else {
        if p.has("NextToken") {
            filters::offset(p)?;
        }
        // The pipeline let the request through because one of the ids may be read
        // (`Permission::EachOnItsOwn`); each is asked on its own here.
        for id in secrets {
            let read = read_one(call, &id.name, &current).await;
            answer(read, id.given, &mut values, &mut errors)?;
        }
    }
    let mut out = obj(json!({ "SecretValues": values, "Errors": errors }));
    if let Some(t) = next {
        out.insert("NextToken".into(), t.into());
    }
    Ok(out)
}

/// One secret of a batch read: its `GetValue` right checked first (the caller's policies and
/// the secret's resource policy, by the same function as every other request), then its
/// current value.
async fn read_one(
    call: &Call,
    name: &str,
    current: &VersionSelector,
) -> Result<Map<String, Value>, ApiError> {
    call.service
        .authorize(
            &call.caller,
            coffer_core::Action::SecretsGetValue,
            &call.scope,
            &coffer_core::Target::secret(name),
        )
        .await?;
    read_value(call, name, current).await
}

/// Adds one secret's outcome to a batch answer: its value, or an entry of `Errors`
/// (`APIErrorType`: `SecretId`, `ErrorCode`, `Message`) for what is about that secret alone
/// (AWS names ResourceNotFoundException, InvalidParameterException, InvalidRequestException,
/// DecryptionFailure and AccessDeniedException,
/// https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_APIErrorType.html).
/// A failure of the server itself (a 5xx, throttling) fails the whole request rather than
/// being reported as one secret's error.
fn answer(
    read: Result<Map<String, Value>, ApiError>,
    secret_id: String,
    values: &mut Vec<Value>,
    errors: &mut Vec<Value>,
) -> Result<(), ApiError> {
    match read {
        Ok(v) => values.push(Value::Object(v)),
        Err(e) if e.status < 500 && e.code != "ThrottlingException" => errors.push(json!({
            "SecretId": secret_id, "ErrorCode": e.code, "Message": e.message,
        })),
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Whether the caller may learn, by a retried put, whether a value equals the stored one:
/// the operation resolved it (the permission then included reading the value).
pub async fn put_value(
    call: &Call,
    secret: &SecretId,
    compare: bool,
) -> Result<Map<String, Value>, ApiError> {
    let p = &call.params;
    let version_id = token(p, "ClientRequestToken")?.unwrap_or_else(new_version_id);
    let value = value(p, true)?.ok_or_else(|| ApiError::missing("SecretString"))?;
    let stages = p
        .str_list(
            "VersionStages",
            (1, params::MAX_STAGES),
            (1, params::MAX_STAGE_LEN),
        )?
        .map(|l| l.iter().map(|s| stage_from_wire(s)).collect::<Vec<_>>());
    if let Some(t) = p.str("RotationToken")? {
        params::check_len("RotationToken", t, 36, 256)?;
    }
    let stages_out = stages.clone();
    let version = put(call, &secret.name, version_id, value, stages, compare).await?;
    let s = call.service.describe(&call.scope, &secret.name).await?;
    Ok(obj(json!({
        "ARN": call.arn(&s.name, &crate::arn::suffix_of(&s)),
        "Name": s.name,
        "VersionId": version.version_id,
        "VersionStages": stages_json(stages_out.as_deref().unwrap_or(&version.stages)),
    })))
}

async fn put(
    call: &Call,
    name: &str,
    version_id: String,
    value: SecretValue,
    stages: Option<Vec<Stage>>,
    compare: bool,
) -> Result<coffer_core::VersionRecord, ApiError> {
    call.service
        .put_value(
            &call.scope,
            name,
            PutValue {
                version_id,
                value,
                stages,
                when_full: WhenFull::PruneUnstaged,
                max_versions: MAX_VERSIONS,
                max_stages: MAX_STAGES,
                expires_at: None,
                when_exists: if compare {
                    WhenExists::CompareValue
                } else {
                    WhenExists::Refuse
                },
            },
        )
        .await
        .map_err(|e| match e {
            coffer_core::Error::AlreadyExists {
                what: coffer_core::error::Resource::Version,
                ..
            } => ApiError::exists(
                "You can't modify an existing version, you can only create a new version.",
            ),
            other => other.into(),
        })
}

/// DescribeSecret's and ListSecrets' view of a secret. `last_accessed`: the day a value of it
/// was last read (`LastAccessedDate`, left out for a secret never read).
pub fn view(
    call: &Call,
    s: &SecretRecord,
    with_versions: bool,
    last_accessed: Option<Timestamp>,
) -> Map<String, Value> {
    let mut out = obj(json!({
        "ARN": call.arn(&s.name, &crate::arn::suffix_of(s)),
        "Name": s.name,
        "CreatedDate": date(s.created_at),
        "LastChangedDate": date(s.updated_at),
        "PrimaryRegion": call.region_id,
        "RotationEnabled": s.rotation.enabled,
    }));
    if !s.description.is_empty() {
        out.insert("Description".into(), s.description.clone().into());
    }
    if !s.key_id.is_empty() {
        out.insert("KmsKeyId".into(), s.key_id.clone().into());
    }
    if let Some(interval) = s.rotation.interval_secs {
        // An hourly rate() shows as the expression it was set with.
        out.insert(
            "RotationRules".into(),
            crate::rotation::rules_json(interval),
        );
    }
    if let Some(last) = s.rotation.last {
        out.insert("LastRotatedDate".into(), date(last));
    }
    if let Some(day) = last_accessed {
        out.insert("LastAccessedDate".into(), date(day));
    }
    if s.rotation.enabled {
        if let Some(next) = s.rotation.next {
            out.insert("NextRotationDate".into(), date(next));
        }
    }
    if s.kind.is_managed() {
        out.insert("OwningService".into(), "coffer".into());
    }
    if let SecretState::PendingDelete { .. } = s.state {
        // Nothing changes a secret while it waits for deletion, so its last change is the
        // deletion.
        out.insert("DeletedDate".into(), date(s.updated_at));
    }
    out.insert(
        "Tags".into(),
        Value::Array(
            s.tags
                .iter()
                .map(|t| json!({ "Key": t.key, "Value": t.value }))
                .collect(),
        ),
    );
    if with_versions {
        out.insert("VersionIdsToStages".into(), versions_to_stages(s));
    }
    out
}

/// Each version that carries a label, with its labels.
fn versions_to_stages(s: &SecretRecord) -> Value {
    Value::Object(
        s.versions
            .iter()
            .filter(|v| !v.stages.is_empty())
            .map(|v| (v.version_id.clone(), stages_json(&v.stages)))
            .collect(),
    )
}

/// `SecretVersionsToStages` from `(version id, stage)` pairs: each version's stages in the
/// order a secret's record keeps them (built-ins, then custom labels by name).
fn staged_json(pairs: Vec<(String, Stage)>) -> Value {
    let mut by_version: std::collections::BTreeMap<String, Vec<Stage>> = Default::default();
    for (version_id, stage) in pairs {
        by_version.entry(version_id).or_default().push(stage);
    }
    Value::Object(
        by_version
            .into_iter()
            .map(|(v, mut stages)| {
                stages.sort();
                (v, stages_json(&stages))
            })
            .collect(),
    )
}

pub async fn describe(call: &Call, secret: &SecretId) -> Result<Map<String, Value>, ApiError> {
    let s = call.service.describe(&call.scope, &secret.name).await?;
    let accessed = call.service.last_accessed(&[s.id]).await?;
    let mut out = view(call, &s, true, accessed.get(&s.id).copied());
    crate::replication::describe_fields(call, &s, &mut out).await?;
    Ok(out)
}

pub async fn list(call: &Call) -> Result<Map<String, Value>, ApiError> {
    let p = &call.params;
    let f: Vec<Filter> = filters::parse(p)?;
    let include_deleted = p.bool("IncludePlannedDeletion")?.unwrap_or(false);
    let max = p.int("MaxResults", 1, 100)?.unwrap_or(100) as usize;
    let newest_first = match p.str("SortOrder")? {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => {
            return Err(ApiError::validation(
                "SortOrder",
                "Member must satisfy enum value set: [asc, desc]",
            ))
        }
    };
    let sort_by = match p.str("SortBy")? {
        None => None,
        Some(s @ ("created-date" | "last-accessed-date" | "last-changed-date" | "name")) => Some(s),
        Some(_) => {
            return Err(ApiError::validation(
                "SortBy",
                "Member must satisfy enum value set: [created-date, last-accessed-date, last-changed-date, name]",
            ))
        }
    };
    let offset = filters::offset(p)?;
    let (page, more) = filters::page(
        call,
        &f,
        include_deleted,
        newest_first,
        sort_by,
        offset,
        max,
    )
    .await?;
    // List results carry metadata only; the staged versions of the whole page come in one
    // read (a secret without any, or deleted since the page was read, shows none).
    let ids: Vec<_> = page.iter().map(|s| s.id).collect();
    let accessed = call.service.last_accessed(&ids).await?;
    let mut staged = call.service.stages_of(&ids).await?;
    let mut list: Vec<Value> = Vec::with_capacity(page.len());
    for s in &page {
        let mut entry = view(call, s, false, accessed.get(&s.id).copied());
        let pairs = staged.remove(&s.id).unwrap_or_default();
        entry.insert("SecretVersionsToStages".into(), staged_json(pairs));
        // A replica's entry names its primary's region.
        crate::replication::describe_fields(call, s, &mut entry).await?;
        list.push(Value::Object(entry));
    }
    let mut out = obj(json!({ "SecretList": list }));
    if more {
        out.insert(
            "NextToken".into(),
            filters::token(offset.saturating_add(max)).into(),
        );
    }
    Ok(out)
}

pub async fn list_version_ids(
    call: &Call,
    secret: &SecretId,
) -> Result<Map<String, Value>, ApiError> {
    let p = &call.params;
    let include_deprecated = p.bool("IncludeDeprecated")?.unwrap_or(false);
    let max = p.int("MaxResults", 1, 100)?.unwrap_or(100) as usize;
    let offset = filters::offset(p)?;
    let s = call.service.describe(&call.scope, &secret.name).await?;
    let mut versions: Vec<_> = s
        .versions
        .iter()
        .filter(|v| include_deprecated || !v.stages.is_empty())
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.created_at));
    let more = versions.len() > offset.saturating_add(max);
    let list: Vec<Value> = versions
        .into_iter()
        .skip(offset)
        .take(max)
        .map(|v| {
            json!({
                "VersionId": v.version_id,
                "VersionStages": stages_json(&v.stages),
                "CreatedDate": date(v.created_at),
                "KmsKeyIds": [s.key_id],
            })
        })
        .collect();
    let mut out = obj(json!({
        "Versions": list,
        "ARN": call.arn(&s.name, &crate::arn::suffix_of(&s)),
        "Name": s.name,
    }));
    if more {
        out.insert(
            "NextToken".into(),
            filters::token(offset.saturating_add(max)).into(),
        );
    }
    Ok(out)
}

pub async fn delete(call: &Call, secret: &SecretId) -> Result<Map<String, Value>, ApiError> {
    let p = &call.params;
    let window = p.int("RecoveryWindowInDays", i64::MIN, i64::MAX)?;
    let force = p.bool("ForceDeleteWithoutRecovery")?.unwrap_or(false);
    let mode = match (window, force) {
        (Some(_), true) => return Err(ApiError::invalid_parameter(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        )),
        (_, true) => DeleteMode::Immediate,
        (Some(d), false) if !(7..=30).contains(&d) => {
            return Err(ApiError::invalid_parameter(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
            ))
        }
        (d, false) => DeleteMode::Window {
            days: d.unwrap_or(30),
        },
    };
    let s = call.service.describe(&call.scope, &secret.name).await?;
    if s.is_pending_delete() && mode != DeleteMode::Immediate {
        return Err(ApiError::invalid_request(
            "You can't perform this operation on the secret because it was already scheduled for deletion.",
        ));
    }
    let arn = call.arn(&s.name, &crate::arn::suffix_of(&s));
    let id = s.id;
    let purge_at = call
        .service
        .delete(&call.scope, &secret.name, mode, |now| {
            // The secret deleted is the secret described (not one made since under its name).
            if now.id == id {
                Ok(())
            } else {
                Err(coffer_core::Error::Conflict)
            }
        })
        .await?;
    Ok(obj(json!({
        "ARN": arn,
        "Name": s.name,
        "DeletionDate": date(purge_at.unwrap_or_else(|| call.service.now())),
    })))
}

pub async fn restore(call: &Call, secret: &SecretId) -> Result<Map<String, Value>, ApiError> {
    let s = call.service.describe(&call.scope, &secret.name).await?;
    // Restoring a secret that is not scheduled for deletion changes nothing.
    let s = if s.is_pending_delete() {
        call.service
            .restore(&call.scope, &secret.name, SecretState::Enabled)
            .await?
    } else {
        s
    };
    Ok(obj(json!({
        "ARN": call.arn(&s.name, &crate::arn::suffix_of(&s)),
        "Name": s.name,
    })))
}

pub async fn update(
    call: &Call,
    secret: &SecretId,
    key: Option<String>,
    compare: bool,
) -> Result<Map<String, Value>, ApiError> {
    let p = &call.params;
    let version_id = token(p, "ClientRequestToken")?;
    let value = value(p, false)?;
    let description = description(p)?;
    p.str_len("Type", 0, 256)?;
    let s = call.service.describe(&call.scope, &secret.name).await?;
    if s.is_pending_delete() {
        return Err(coffer_core::Error::InDeleteWindow { name: s.name }.into());
    }
    if let Some(d) = description {
        call.service
            .update_description(&call.scope, &secret.name, d)
            .await?;
    }
    if let Some(k) = &key {
        call.service
            .change_secret_key(&call.scope, &secret.name, k)
            .await?;
    }
    let mut out = obj(json!({
        "ARN": call.arn(&s.name, &crate::arn::suffix_of(&s)),
        "Name": s.name,
    }));
    if let Some(v) = value {
        let version_id = version_id.unwrap_or_else(new_version_id);
        let version = put(call, &secret.name, version_id, v, None, compare).await?;
        out.insert("VersionId".into(), version.version_id.into());
    }
    Ok(out)
}

pub async fn update_stage(call: &Call, secret: &SecretId) -> Result<Map<String, Value>, ApiError> {
    let p = &call.params;
    let label = p.required_str("VersionStage", 1, params::MAX_STAGE_LEN)?;
    let stage = stage_from_wire(label);
    let remove_from = token(p, "RemoveFromVersionId")?;
    let move_to = token(p, "MoveToVersionId")?;
    let s = call.service.describe(&call.scope, &secret.name).await?;
    if s.is_pending_delete() {
        return Err(coffer_core::Error::InDeleteWindow { name: s.name }.into());
    }
    for v in [&remove_from, &move_to].into_iter().flatten() {
        if s.version(v).is_none() {
            return Err(ApiError::invalid_parameter(format!(
                "The version {v} does not exist in this secret."
            )));
        }
    }
    if let Some(holder) = s.version_with_stage(&stage) {
        if let Some(from) = &remove_from {
            if *from != holder.version_id {
                return Err(ApiError::invalid_parameter(format!(
                    "The parameter RemoveFromVersionId doesn't match: the staging label {label} \
                     is currently attached to version {}.",
                    holder.version_id
                )));
            }
        } else if move_to.as_deref() != Some(holder.version_id.as_str()) {
            return Err(ApiError::invalid_parameter(format!(
                "The staging label {label} is currently attached to version {}, so you must \
                 explicitly reference that version in RemoveFromVersionId.",
                holder.version_id
            )));
        }
    } else if let Some(from) = &remove_from {
        return Err(ApiError::invalid_parameter(format!(
            "The staging label {label} is not attached to version {from}."
        )));
    }
    if remove_from.is_none() && move_to.is_none() {
        return Err(ApiError::invalid_parameter(
            "Provide MoveToVersionId, RemoveFromVersionId or both.",
        ));
    }
    // Moving a label to the version that has it already changes nothing.
    let unchanged = move_to.is_some()
        && s.version_with_stage(&stage).map(|v| &v.version_id) == move_to.as_ref();
    if !unchanged {
        call.service
            .update_stage(
                &call.scope,
                &secret.name,
                stage,
                remove_from,
                move_to,
                MAX_STAGES,
            )
            .await?;
    }
    Ok(obj(json!({
        "ARN": call.arn(&s.name, &crate::arn::suffix_of(&s)),
        "Name": s.name,
    })))
}

pub async fn tag(
    call: &Call,
    secret: &SecretId,
    tags: Vec<Tag>,
) -> Result<Map<String, Value>, ApiError> {
    call.service
        .tag(&call.scope, &secret.name, tags, MAX_TAGS)
        .await?;
    Ok(Map::new())
}

pub async fn untag(
    call: &Call,
    secret: &SecretId,
    keys: Vec<String>,
) -> Result<Map<String, Value>, ApiError> {
    call.service
        .untag(&call.scope, &secret.name, Some(keys))
        .await?;
    Ok(Map::new())
}

pub fn random_password(call: &Call) -> Result<Map<String, Value>, ApiError> {
    let p = &call.params;
    let flag = |n: &str| p.bool(n).map(|b| b.unwrap_or(false));
    let exclude = p.str_len("ExcludeCharacters", 0, 4096)?.unwrap_or("");
    let mut exclude_characters = exclude.to_string();
    // AWS leaves the space out unless IncludeSpace is set.
    if !flag("IncludeSpace")? {
        exclude_characters.push(' ');
    }
    let opts = PasswordOptions {
        length: p.int("PasswordLength", 1, 4096)?.unwrap_or(32) as usize,
        exclude_characters,
        exclude_lowercase: flag("ExcludeLowercase")?,
        exclude_uppercase: flag("ExcludeUppercase")?,
        exclude_numbers: flag("ExcludeNumbers")?,
        exclude_punctuation: flag("ExcludePunctuation")?,
        require_each_included_type: p.bool("RequireEachIncludedType")?.unwrap_or(true),
    };
    let password = call.service.random_password(&opts).map_err(|e| match e {
        coffer_core::Error::InvalidParameter { reason, .. } => ApiError::invalid_parameter(reason),
        other => other.into(),
    })?;
    Ok(obj(json!({ "RandomPassword": password.as_str() })))
}
