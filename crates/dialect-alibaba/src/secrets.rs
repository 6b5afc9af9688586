//! Secret operations: lifecycle, values and stages, description, listing, policies and tags
//! (Alibaba's KMS API reference). Each reads its own parameters after the authorization
//! check (its target was read with the operation), calls the service and lays out the result
//! fields. Managed Rds secrets share CreateSecret's first checks and have their own module.

use base64::Engine;
use coffer_core::password::PasswordOptions;
use coffer_core::service::{
    CreateSecret, DeleteMode, PutValue, VersionSelector, WhenExists, WhenFull,
};
use coffer_core::{
    CredentialFormat, DbCredentials, Error, PageRequest, SecretFilter, SecretKind, SecretRecord,
    SecretState, SecretValue, Stage, Tag, ValueKind, VersionRecord,
};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::errors::ApiError;
use crate::params::{self, MAX_VALUE_BYTES};
use crate::render::{rotation_fields, secret_type_name, Fields, Node};
use crate::request::{self, secret_arn, Call, NewSecret};

type OpResult = Result<Fields, ApiError>;

fn value_kind(c: &Call) -> Result<ValueKind, ApiError> {
    match c.params.optional("SecretDataType") {
        None => Ok(ValueKind::Text),
        Some(t) if t.eq_ignore_ascii_case("text") => Ok(ValueKind::Text),
        Some(t) if t.eq_ignore_ascii_case("binary") => Ok(ValueKind::Binary),
        Some(_) => Err(ApiError::invalid(
            "SecretDataType",
            "It must be text or binary.",
        )),
    }
}

/// `SecretData` with its type. Binary values travel as base64 text; we keep the decoded
/// bytes so every dialect can hand them out in its own encoding.
fn secret_value(c: &Call) -> Result<SecretValue, ApiError> {
    let kind = value_kind(c)?;
    let data = c
        .params
        .get("SecretData")
        .ok_or_else(|| ApiError::missing("SecretData"))?;
    if data.is_empty() {
        return Err(ApiError::missing("SecretData"));
    }
    if data.len() > MAX_VALUE_BYTES {
        return Err(ApiError::invalid(
            "SecretData",
            format!("It is larger than {MAX_VALUE_BYTES} bytes."),
        ));
    }
    Ok(match kind {
        ValueKind::Text => SecretValue::Text(Zeroizing::new(data.to_string())),
        ValueKind::Binary => SecretValue::Binary(Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|_| {
                    ApiError::invalid("SecretData", "A binary value must be base64 text.")
                })?,
        )),
    })
}

/// A version's `SecretData`: managed credentials in Alibaba's spelling, anything else as
/// stored.
fn secret_data(secret: &SecretRecord, v: &SecretValue) -> String {
    if let (true, SecretValue::Text(t)) = (secret.kind.is_managed(), v) {
        if let Some(rendered) = render_credentials(t) {
            return rendered.to_string();
        }
    }
    render_value(v)
}

/// The value of a managed version in Alibaba's spelling, whichever cloud's client wrote it.
fn render_credentials(text: &str) -> Option<Zeroizing<String>> {
    DbCredentials::decode(text).map(|c| c.encode(CredentialFormat::Alibaba))
}

fn render_value(v: &SecretValue) -> String {
    match v {
        SecretValue::Text(t) => t.to_string(),
        SecretValue::Binary(b) => base64::engine::general_purpose::STANDARD.encode(b.as_slice()),
    }
}

fn stages_node(stages: &[Stage]) -> Node {
    Node::List(
        "VersionStage",
        stages
            .iter()
            .map(|s| Node::Str(params::stage_label(s)))
            .collect(),
    )
}

fn tags_node(tags: &[Tag]) -> Node {
    Node::List(
        "Tag",
        tags.iter()
            .map(|t| {
                Node::Obj(vec![
                    ("TagKey", Node::str(t.key.clone())),
                    ("TagValue", Node::str(t.value.clone())),
                ])
            })
            .collect(),
    )
}

fn page_request(page_number: i64, page_size: i64) -> PageRequest {
    PageRequest {
        offset: ((page_number - 1) as u64).saturating_mul(page_size as u64),
        limit: page_size as u32,
        newest_first: false,
    }
}

fn dry_run(c: &Call) -> Result<(), ApiError> {
    if c.params.bool("DryRun", false)? {
        return Err(ApiError::new(
            400,
            "DryRunOperationError",
            "The request would have succeeded, but DryRun was set.",
        ));
    }
    Ok(())
}

// --- secrets --------------------------------------------------------------------------------

/// CreateSecret of a Generic secret; `new` holds the checks every type shares.
pub(crate) async fn create_secret(c: &Call, new: NewSecret) -> OpResult {
    let kind = SecretKind::Generic;
    let value = secret_value(c)?;
    let extended_config = c
        .params
        .optional("ExtendedConfig")
        .map(|t| params::extended_config("ExtendedConfig", t))
        .transpose()?;
    if c.params.bool("EnableAutomaticRotation", false)? {
        return Err(ApiError::unsupported(
            "Automatic rotation is not supported for Generic secrets.",
        ));
    }
    if let Some(interval) = c.params.optional("RotationInterval") {
        return Err(ApiError::invalid(
            "RotationInterval",
            format!("{interval:?} applies only when automatic rotation is enabled."),
        ));
    }
    request::refuse_unsupported(c, &["DKMSInstanceId"])?;
    let policy = request::initial_policy(c)?;
    let key = request::encryption_key(c, &new)?;
    let record = c
        .service
        .create_secret_within(
            &c.scope,
            CreateSecret {
                name: new.name,
                description: new.description,
                kind,
                key,
                tags: new.tags,
                version_id: new.version_id.clone(),
                value,
                extended_config,
                policy,
                subscriptions: vec![],
            },
            c.max_secrets,
        )
        .await?;
    Ok(vec![
        ("Arn", Node::Str(secret_arn(c, &record.name))),
        ("SecretName", Node::str(record.name.clone())),
        ("VersionId", Node::str(new.version_id)),
        ("SecretType", Node::str(secret_type_name(&record.kind))),
    ])
}

pub(crate) async fn get_secret_value(c: &Call, name: String) -> OpResult {
    let version_id = c.params.optional("VersionId").map(str::to_string);
    if let Some(v) = &version_id {
        params::version_id("VersionId", v)?;
    }
    let stage = c
        .params
        .optional("VersionStage")
        .map(|s| params::stage("VersionStage", s))
        .transpose()?;
    let fetch_extended = c.params.bool("FetchExtendedConfig", false)?;
    dry_run(c)?;
    let read = c
        .service
        .get_value(&c.scope, &name, &VersionSelector { version_id, stage })
        .await?;
    let mut out = vec![
        ("SecretName", Node::str(read.secret.name.clone())),
        ("VersionId", Node::str(read.version.version_id.clone())),
        (
            "CreateTime",
            Node::Str(read.version.created_at.to_iso8601_seconds()),
        ),
        (
            "SecretData",
            Node::Str(secret_data(&read.secret, &read.value)),
        ),
        ("SecretDataType", Node::str(read.version.kind.as_str())),
        ("VersionStages", stages_node(&read.version.stages)),
        ("SecretType", Node::str(secret_type_name(&read.secret.kind))),
    ];
    let problem = c.service.rotation_problem(&read.secret).await?;
    out.extend(rotation_fields(&read.secret, problem.as_deref()));
    // Extended configuration belongs to managed secret types; Generic secrets have none to
    // return even when asked.
    if fetch_extended && read.secret.kind != SecretKind::Generic {
        if let Some(cfg) = &read.secret.extended_config {
            out.push(("ExtendedConfig", Node::str(cfg.clone())));
        }
    }
    Ok(out)
}

/// `version_exists` says whether the caller was authorized to compare values (it then also
/// holds `secrets:GetValue`); a version that appeared since is refused whatever its value.
pub(crate) async fn put_secret_value(c: &Call, name: String, version_exists: bool) -> OpResult {
    let version_id = c.params.get("VersionId").unwrap_or("");
    params::version_id("VersionId", version_id)?;
    let value = secret_value(c)?;
    let stages = c
        .params
        .optional("VersionStages")
        .map(|s| params::stage_list("VersionStages", s))
        .transpose()?;
    let version = c
        .service
        .put_value(
            &c.scope,
            &name,
            PutValue {
                version_id: version_id.to_string(),
                value,
                stages,
                when_full: WhenFull::PruneUnstaged,
                max_versions: params::MAX_VERSIONS,
                max_stages: params::MAX_STAGES,
                expires_at: None,
                when_exists: if version_exists {
                    WhenExists::CompareValue
                } else {
                    WhenExists::Refuse
                },
            },
        )
        .await?;
    Ok(vec![
        ("SecretName", Node::str(name)),
        ("VersionId", Node::str(version.version_id.clone())),
        ("VersionStages", stages_node(&version.stages)),
    ])
}

pub(crate) async fn update_secret(c: &Call, name: String) -> OpResult {
    // Custom data belongs to managed types; a Generic secret has none to update.
    if c.params.has_prefix("ExtendedConfig") {
        let secret = c.service.describe(&c.scope, &name).await?;
        if secret.kind.is_managed() {
            update_custom_data(c, &name, &secret).await?;
            if let Some(d) = c.params.get("Description") {
                params::description("Description", d)?;
                c.service
                    .update_description(&c.scope, &name, d.to_string())
                    .await?;
            }
            return Ok(vec![("SecretName", Node::str(name))]);
        }
        return Err(ApiError::invalid(
            "ExtendedConfig",
            format!(
                "{} secrets have no extended configuration to update.",
                secret_type_name(&secret.kind)
            ),
        ));
    }
    match c.params.get("Description") {
        Some(d) => {
            params::description("Description", d)?;
            c.service
                .update_description(&c.scope, &name, d.to_string())
                .await?;
        }
        None => {
            // Nothing to change, but the secret must exist and be usable.
            let s = c.service.describe(&c.scope, &name).await?;
            if s.is_pending_delete() {
                return Err(Error::InDeleteWindow { name }.into());
            }
        }
    }
    Ok(vec![("SecretName", Node::str(name))])
}

/// UpdateSecret's `ExtendedConfig.CustomData.<key>` parameters replace the custom data of an
/// Rds secret's extended configuration.
async fn update_custom_data(c: &Call, name: &str, secret: &SecretRecord) -> Result<(), ApiError> {
    const PREFIX: &str = "ExtendedConfig.CustomData.";
    let mut config: Map<String, Value> = secret
        .extended_config
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let mut data = Map::new();
    for (k, v) in c.params.with_prefix(PREFIX) {
        if k.is_empty() {
            return Err(ApiError::invalid(PREFIX, "A custom data key is empty."));
        }
        data.insert(k.to_string(), Value::from(v));
    }
    if c.params.has_prefix("ExtendedConfig") && data.is_empty() {
        return Err(ApiError::invalid(
            "ExtendedConfig",
            "Only ExtendedConfig.CustomData.<key> can be updated.",
        ));
    }
    let data = params::custom_data("ExtendedConfig.CustomData", Some(&Value::Object(data)))?;
    config.insert("CustomData".into(), Value::Object(data));
    c.service
        .set_extended_config(&c.scope, name, Value::Object(config).to_string())
        .await?;
    Ok(())
}

pub(crate) async fn update_secret_version_stage(c: &Call, name: String) -> OpResult {
    let stage = params::stage("VersionStage", c.params.required("VersionStage")?)?;
    let remove_from = c.params.optional("RemoveFromVersion").map(str::to_string);
    let move_to = c.params.optional("MoveToVersion").map(str::to_string);
    for (param, v) in [
        ("RemoveFromVersion", &remove_from),
        ("MoveToVersion", &move_to),
    ] {
        if let Some(v) = v {
            params::version_id(param, v)?;
        }
    }
    c.service
        .update_stage(
            &c.scope,
            &name,
            stage,
            remove_from,
            move_to,
            params::MAX_STAGES,
        )
        .await?;
    Ok(vec![("SecretName", Node::str(name))])
}

fn describe_fields(c: &Call, s: &SecretRecord, fetch_tags: bool, problem: Option<&str>) -> Fields {
    let mut out = vec![
        ("Arn", Node::Str(secret_arn(c, &s.name))),
        ("SecretName", Node::str(s.name.clone())),
        ("Description", Node::str(s.description.clone())),
        ("CreateTime", Node::Str(s.created_at.to_iso8601_seconds())),
        ("UpdateTime", Node::Str(s.updated_at.to_iso8601_seconds())),
        ("SecretType", Node::str(secret_type_name(&s.kind))),
        ("EncryptionKeyId", Node::str(s.key_id.clone())),
    ];
    out.extend(rotation_fields(s, problem));
    if s.kind.is_managed() {
        if let Some(cfg) = &s.extended_config {
            out.push(("ExtendedConfig", Node::str(cfg.clone())));
        }
    }
    if let Some(at) = s.state.purge_at() {
        out.push(("PlannedDeleteTime", Node::Str(at.to_iso8601_seconds())));
    }
    if fetch_tags {
        out.push(("Tags", tags_node(&s.tags)));
    }
    out
}

pub(crate) async fn describe_secret(c: &Call, name: String) -> OpResult {
    let fetch_tags = c.params.bool("FetchTags", false)?;
    let s = c.service.describe(&c.scope, &name).await?;
    let problem = c.service.rotation_problem(&s).await?;
    Ok(describe_fields(c, &s, fetch_tags, problem.as_deref()))
}

/// `Filters`: `[{"Key":"SecretName","Values":["a","b"]}, ...]`. Values of one key are
/// alternatives; different keys must all match.
fn list_filter(text: &str) -> Result<SecretFilter, ApiError> {
    const P: &str = "Filters";
    let bad = || ApiError::invalid(P, "It must be a JSON list of {\"Key\",\"Values\"} objects.");
    let v: Value = serde_json::from_str(text).map_err(|_| bad())?;
    let items = v.as_array().ok_or_else(bad)?;
    if items.len() > 10 {
        return Err(ApiError::invalid(P, "At most 10 filters are allowed."));
    }
    let mut f = SecretFilter::default();
    for item in items {
        let key = item.get("Key").and_then(Value::as_str).ok_or_else(bad)?;
        let values: Vec<String> = item
            .get("Values")
            .and_then(Value::as_array)
            .ok_or_else(bad)?
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        if values.is_empty() || values.len() > 10 {
            return Err(ApiError::invalid(
                P,
                format!("The filter {key:?} needs 1 to 10 values."),
            ));
        }
        let target = match key {
            "SecretName" => &mut f.names,
            "Description" => &mut f.descriptions,
            "TagKey" => &mut f.tag_keys,
            "TagValue" => &mut f.tag_values,
            "SecretType" => &mut f.kinds,
            other => {
                return Err(ApiError::invalid(
                    P,
                    format!(
                        "The filter key {other:?} is not supported; use SecretName, Description, TagKey, TagValue or SecretType."
                    ),
                ))
            }
        };
        for value in values {
            // Types are matched case-insensitively (the docs spell Rds as RDS in filters).
            let value = if key == "SecretType" {
                match value.to_ascii_lowercase().as_str() {
                    "generic" => "Generic".to_string(),
                    // Rds secrets are coffer's database secrets, whichever cloud made them.
                    "rds" => "Database".to_string(),
                    _ => value,
                }
            } else {
                value
            };
            if !target.contains(&value) {
                target.push(value);
            }
        }
    }
    Ok(f)
}

pub(crate) async fn list_secrets(c: &Call) -> OpResult {
    let page_number = c.params.int("PageNumber", 1, 1, i32::MAX as i64)?;
    let page_size = c.params.int("PageSize", 10, 1, 100)?;
    let fetch_tags = c.params.bool("FetchTags", false)?;
    let filter = match c.params.optional("Filters") {
        Some(t) => list_filter(t)?,
        None => SecretFilter::default(),
    };
    let page = c
        .service
        .list(&c.scope, &filter, page_request(page_number, page_size))
        .await?;
    let items = page
        .items
        .iter()
        .map(|s| {
            let mut o = vec![
                ("SecretName", Node::str(s.name.clone())),
                ("CreateTime", Node::Str(s.created_at.to_iso8601_seconds())),
                ("UpdateTime", Node::Str(s.updated_at.to_iso8601_seconds())),
                ("SecretType", Node::str(secret_type_name(&s.kind))),
            ];
            if let Some(at) = s.state.purge_at() {
                o.push(("PlannedDeleteTime", Node::Str(at.to_iso8601_seconds())));
            }
            if fetch_tags {
                o.push(("Tags", tags_node(&s.tags)));
            }
            Node::Obj(o)
        })
        .collect();
    Ok(vec![
        ("PageNumber", Node::Int(page_number)),
        ("PageSize", Node::Int(page_size)),
        ("TotalCount", Node::Int(page.total as i64)),
        ("SecretList", Node::List("Secret", items)),
    ])
}

pub(crate) async fn list_secret_version_ids(c: &Call, name: String) -> OpResult {
    let include_deprecated = c.params.bool("IncludeDeprecated", false)?;
    let page_number = c.params.int("PageNumber", 1, 1, i32::MAX as i64)?;
    let page_size = c.params.int("PageSize", 20, 1, 100)?;
    let s = c.service.describe(&c.scope, &name).await?;
    let visible: Vec<&VersionRecord> = s
        .versions
        .iter()
        .filter(|v| include_deprecated || !v.stages.is_empty())
        .collect();
    let start = ((page_number - 1) as usize).saturating_mul(page_size as usize);
    let items = visible
        .iter()
        .skip(start)
        .take(page_size as usize)
        .map(|v| {
            Node::Obj(vec![
                ("VersionId", Node::str(v.version_id.clone())),
                ("CreateTime", Node::Str(v.created_at.to_iso8601_seconds())),
                ("VersionStages", stages_node(&v.stages)),
            ])
        })
        .collect();
    Ok(vec![
        ("SecretName", Node::str(s.name.clone())),
        ("PageNumber", Node::Int(page_number)),
        ("PageSize", Node::Int(page_size)),
        ("TotalCount", Node::Int(visible.len() as i64)),
        ("VersionIds", Node::List("VersionId", items)),
    ])
}

pub(crate) async fn delete_secret(c: &Call, name: String) -> OpResult {
    let force = c.params.bool("ForceDeleteWithoutRecovery", false)?;
    // The window is checked even when force makes it moot, so a typo is never ignored.
    let days = c.params.int("RecoveryWindowInDays", 30, 7, 30)?;
    let mode = if force {
        DeleteMode::Immediate
    } else {
        DeleteMode::Window { days }
    };
    let planned = c.service.delete(&c.scope, &name, mode, |_| Ok(())).await?;
    let mut out = vec![("SecretName", Node::str(name))];
    if let Some(at) = planned {
        out.push(("PlannedDeleteTime", Node::Str(at.to_iso8601_seconds())));
    }
    Ok(out)
}

pub(crate) async fn restore_secret(c: &Call, name: String) -> OpResult {
    c.service
        .restore(&c.scope, &name, SecretState::Enabled)
        .await?;
    Ok(vec![("SecretName", Node::str(name))])
}

pub(crate) fn get_random_password(c: &Call) -> OpResult {
    let length = c.params.int("PasswordLength", 32, 8, 128)?;
    let opts = PasswordOptions {
        length: length as usize,
        exclude_characters: c.params.get("ExcludeCharacters").unwrap_or("").to_string(),
        exclude_lowercase: c.params.bool("ExcludeLowercase", false)?,
        exclude_uppercase: c.params.bool("ExcludeUppercase", false)?,
        exclude_numbers: c.params.bool("ExcludeNumbers", false)?,
        exclude_punctuation: c.params.bool("ExcludePunctuation", false)?,
        require_each_included_type: c.params.bool("RequireEachIncludedType", false)?,
    };
    let password = c.service.random_password(&opts)?;
    Ok(vec![("RandomPassword", Node::Str(password.to_string()))])
}

// --- secret policies --------------------------------------------------------------------------

/// Only the policy named `default` exists.
fn policy_name(c: &Call) -> Result<(), ApiError> {
    match c.params.optional("PolicyName") {
        None | Some("default") => Ok(()),
        Some(_) => Err(ApiError::invalid(
            "PolicyName",
            "The only policy name is default.",
        )),
    }
}

pub(crate) async fn get_secret_policy(c: &Call, name: String) -> OpResult {
    policy_name(c)?;
    let s = c.service.describe(&c.scope, &name).await?;
    Ok(vec![("Policy", Node::str(s.policy.unwrap_or_default()))])
}

pub(crate) async fn set_secret_policy(c: &Call, name: String) -> OpResult {
    policy_name(c)?;
    let policy = params::policy_document("Policy", c.params.required("Policy")?)?;
    c.service.set_policy(&c.scope, &name, policy).await?;
    Ok(vec![])
}

// --- tags -----------------------------------------------------------------------------------

pub(crate) async fn tag_resource(c: &Call, name: String) -> OpResult {
    let tags = params::tags_json("Tags", c.params.required("Tags")?)?;
    c.service
        .tag(&c.scope, &name, tags, params::MAX_TAGS)
        .await?;
    Ok(vec![])
}

pub(crate) async fn untag_resource(c: &Call, name: String) -> OpResult {
    let keys = params::tag_keys("TagKeys", c.params.required("TagKeys")?)?;
    c.service.untag(&c.scope, &name, Some(keys)).await?;
    Ok(vec![])
}

fn resource_type(c: &Call) -> Result<(), ApiError> {
    match c.params.required("ResourceType")? {
        t if t.eq_ignore_ascii_case("secret") => Ok(()),
        t if t.eq_ignore_ascii_case("key") => Err(ApiError::unsupported(
            "Tagging keys is not supported by this server; use ResourceType secret.",
        )),
        _ => Err(ApiError::invalid(
            "ResourceType",
            "It must be secret or key.",
        )),
    }
}

/// `Tag.N.Key` / `Tag.N.Value` pairs.
pub(crate) fn flattened_tags(c: &Call, require_value: bool) -> Result<Vec<Tag>, ApiError> {
    let keys = c.params.indexed_with_suffix("Tag", ".Key")?;
    let values = c.params.indexed_with_suffix("Tag", ".Value")?;
    if let Some((n, _)) = values
        .iter()
        .find(|(n, _)| !keys.iter().any(|(m, _)| m == n))
    {
        return Err(ApiError::missing(&format!("Tag.{n}.Key")));
    }
    let mut tags = vec![];
    for (n, key) in keys {
        let value = values.iter().find(|(m, _)| *m == n).map(|(_, v)| *v);
        if require_value && value.is_none() {
            return Err(ApiError::missing(&format!("Tag.{n}.Value")));
        }
        tags.push(params::tag(
            &format!("Tag.{n}.Key"),
            key,
            value.unwrap_or(""),
        )?);
    }
    params::unique_tags("Tag", &tags)?;
    Ok(tags)
}

pub(crate) async fn tag_resources(c: &Call, names: Vec<String>) -> OpResult {
    resource_type(c)?;
    let tags = flattened_tags(c, true)?;
    if tags.is_empty() {
        return Err(ApiError::missing("Tag.1.Key"));
    }
    // Check every target first so that an unknown one changes nothing.
    for name in &names {
        c.service.describe(&c.scope, name).await?;
    }
    for name in &names {
        c.service
            .tag(&c.scope, name, tags.clone(), params::MAX_TAGS)
            .await?;
    }
    Ok(vec![])
}

pub(crate) async fn untag_resources(c: &Call, names: Vec<String>) -> OpResult {
    resource_type(c)?;
    let all = c.params.bool("All", false)?;
    let keys: Vec<String> = c
        .params
        .indexed("TagKey")?
        .into_iter()
        .map(|(_, k)| k.to_string())
        .collect();
    if !all && keys.is_empty() {
        return Err(ApiError::missing("TagKey.1"));
    }
    for name in &names {
        c.service.describe(&c.scope, name).await?;
    }
    for name in &names {
        let keys = if all { None } else { Some(keys.clone()) };
        c.service.untag(&c.scope, name, keys).await?;
    }
    Ok(vec![])
}

/// Tag entries per page of ListTagResources.
const TAG_PAGE: usize = 200;
/// How many secrets a tag-only ListTagResources query scans at most.
const TAG_SCAN_LIMIT: u32 = 4_000;

pub(crate) async fn list_tag_resources(c: &Call, names: Vec<String>) -> OpResult {
    resource_type(c)?;
    let tag_filter = flattened_tags(c, false)?;
    if names.is_empty() && tag_filter.is_empty() {
        return Err(ApiError::missing("ResourceId.1"));
    }
    let offset: usize = match c.params.optional("NextToken") {
        None => 0,
        Some(t) => t
            .parse()
            .map_err(|_| ApiError::invalid("NextToken", "It is not a token this server issued."))?,
    };
    let secrets: Vec<SecretRecord> = if names.is_empty() {
        let filter = SecretFilter {
            tag_keys: tag_filter.iter().map(|t| t.key.clone()).collect(),
            ..Default::default()
        };
        let page = PageRequest {
            offset: 0,
            limit: TAG_SCAN_LIMIT,
            newest_first: false,
        };
        c.service.list(&c.scope, &filter, page).await?.items
    } else {
        let mut out = vec![];
        for n in &names {
            out.push(c.service.describe(&c.scope, n).await?);
        }
        out
    };
    let wanted = |t: &Tag| {
        tag_filter.is_empty()
            || tag_filter
                .iter()
                .any(|f| f.key == t.key && (f.value.is_empty() || f.value == t.value))
    };
    let entries: Vec<Node> = secrets
        .iter()
        .flat_map(|s| {
            s.tags.iter().filter(|t| wanted(t)).map(|t| {
                Node::Obj(vec![
                    ("ResourceId", Node::str(s.name.clone())),
                    ("ResourceType", Node::str("secret")),
                    ("TagKey", Node::str(t.key.clone())),
                    ("TagValue", Node::str(t.value.clone())),
                ])
            })
        })
        .collect();
    let end = offset.saturating_add(TAG_PAGE).min(entries.len());
    let page = entries
        .get(offset.min(entries.len())..end)
        .unwrap_or(&[])
        .to_vec();
    let next = if end < entries.len() {
        end.to_string()
    } else {
        String::new()
    };
    Ok(vec![
        ("NextToken", Node::Str(next)),
        ("TagResources", Node::List("TagResource", page)),
    ])
}
