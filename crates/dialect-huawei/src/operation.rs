//! Every Huawei route, parsed once: the method and the path segments after
//! `/{version}/{project_id}/` become one [`Operation`] carrying its path parameters and the
//! body fields its permission names. The permission and the dispatch both match on that value,
//! so what is authorized and what runs cannot come apart.
//!
//! The body fields a permission names are read leniently here (a field that is missing or not a
//! string names the empty string, a list keeps its string entries): the operation itself checks
//! the body after authorization and reports a bad field with the code the wire promises, so an
//! unauthorized caller learns nothing about which bodies would be accepted.
//!
//! Keys are then named by their ids in the caller's scope ([`operation`] resolves them before
//! the permission is checked): an alias and an id of one key are one resource, so a policy on
//! `key/<id>` holds however a request names the key, and the operation acts on the key that
//! was authorized. A ciphertext is judged by the key inside it; a tag change by the tags
//! before and after it.

use base64::Engine;
use coffer_core::service::UNKNOWN_KEY_ID;
use coffer_core::{Action, Permission, Tag, TagChange, Target};
use serde_json::{Map, Value};

use crate::errors::ApiError;
use crate::request::{Call, OpResult, SecretById};
use crate::{events, keys, managed, params, secrets};

/// One variant per wire route (`wire_name` gives each one's method and path).
#[derive(Debug, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(OperationKind),
    derive(strum::EnumIter, strum::IntoStaticStr, Hash)
)]
pub enum Operation {
    // --- CSMS secrets -------------------------------------------------------------------------
    /// `name` and `kms_key_id` (the key the secret is put under) from the body; `instance`
    /// the `rotation_config` InstanceId of an RDS secret, whose account is checked and later
    /// changed on that instance.
    CreateSecret {
        name: String,
        kms_key_id: Option<String>,
        instance: Option<String>,
    },
    ListSecrets,
    /// The string entries of the body's `secret_name_list`.
    BatchGetSecretValue {
        secret_names: Vec<String>,
    },
    ShowSecret {
        secret_name: String,
    },
    /// `kms_key_id`, when the body names one, is the key the secret moves to; `instance` the
    /// secret's stored instance when the body turns automatic rotation on.
    UpdateSecret {
        secret_name: String,
        kms_key_id: Option<String>,
        instance: Option<String>,
    },
    DeleteSecret {
        secret_name: String,
    },
    /// Schedules the deletion.
    CreateSecretForSchedule {
        secret_name: String,
    },
    /// Cancels a scheduled deletion.
    RestoreSecret {
        secret_name: String,
    },
    CreateSecretVersion {
        secret_name: String,
    },
    ListSecretVersions {
        secret_name: String,
    },
    ShowSecretVersion {
        secret_name: String,
        version_id: String,
    },
    UpdateVersion {
        secret_name: String,
        version_id: String,
    },
    UpdateSecretStage {
        secret_name: String,
        stage_name: String,
    },
    ShowSecretStage {
        secret_name: String,
        stage_name: String,
    },
    DeleteSecretStage {
        secret_name: String,
        stage_name: String,
    },
    /// `instance`: the secret's stored instance (the database changes an account there).
    RotateSecret {
        secret_name: String,
        instance: Option<String>,
    },
    ListSecretTasks,
    ListProjectSecretsTags,
    ListResourceInstances,
    // --- CSMS events --------------------------------------------------------------------------
    ListNotificationRecords,
    /// `name` from the body.
    CreateSecretEvent {
        event_name: String,
    },
    ListSecretEvents,
    ShowSecretEvent {
        event_name: String,
    },
    UpdateSecretEvent {
        event_name: String,
    },
    DeleteSecretEvent {
        event_name: String,
    },
    // --- CSMS tags (a secret addressed by id) -------------------------------------------------
    ListSecretTags {
        secret: SecretById,
    },
    /// `change` is what the body does to the tags, which a tag condition judges too.
    CreateSecretTag {
        secret: SecretById,
        change: TagChange,
    },
    BatchCreateOrDeleteTags {
        secret: SecretById,
        change: TagChange,
    },
    DeleteSecretTag {
        secret: SecretById,
        tag_key: String,
    },
    // --- KMS (`key_id` and the like from the body) --------------------------------------------
    CreateKey,
    DescribeKey {
        key_id: String,
    },
    ListKeys,
    EnableKey {
        key_id: String,
    },
    DisableKey {
        key_id: String,
    },
    ScheduleKeyDeletion {
        key_id: String,
    },
    CancelKeyDeletion {
        key_id: String,
    },
    UpdateKeyAlias {
        key_id: String,
    },
    UpdateKeyDescription {
        key_id: String,
    },
    EncryptData {
        key_id: String,
    },
    /// `key_id` is the key the ciphertext names.
    DecryptData {
        key_id: String,
    },
    CreateDatakey {
        key_id: String,
    },
    CreateDatakeyWithoutPlaintext {
        key_id: String,
    },
    EncryptDatakey {
        key_id: String,
    },
    DecryptDatakey {
        key_id: String,
    },
    /// `key_id` is the key the ciphertext names.
    ReEncrypt {
        key_id: String,
        destination_key_id: String,
    },
    EnableKeyRotation {
        key_id: String,
    },
    DisableKeyRotation {
        key_id: String,
    },
    UpdateKeyRotationInterval {
        key_id: String,
    },
    ShowKeyRotationStatus {
        key_id: String,
    },
    RotateKeyOnDemand {
        key_id: String,
    },
    CreateAlias {
        key_id: String,
    },
    ListAliases,
    DeleteAlias {
        key_id: String,
    },
    /// The alias moves from `holder` (the key that has it) to `target_key_id`.
    AssociateAlias {
        target_key_id: String,
        holder: String,
    },
}

/// The method and route of an operation, as Huawei's API reference writes it.
pub fn wire_name(kind: OperationKind) -> &'static str {
    use OperationKind as K;
    match kind {
        K::CreateSecret => "POST /v1/{project_id}/secrets",
        K::ListSecrets => "GET /v1/{project_id}/secrets",
        K::BatchGetSecretValue => "POST /v1/{project_id}/secrets/batch-get-secret-value",
        K::ShowSecret => "GET /v1/{project_id}/secrets/{secret_name}",
        K::UpdateSecret => "PUT /v1/{project_id}/secrets/{secret_name}",
        K::DeleteSecret => "DELETE /v1/{project_id}/secrets/{secret_name}",
        K::CreateSecretForSchedule => {
            "POST /v1/{project_id}/secrets/{secret_name}/scheduled-deleted-tasks/create"
        }
        K::RestoreSecret => {
            "POST /v1/{project_id}/secrets/{secret_name}/scheduled-deleted-tasks/cancel"
        }
        K::CreateSecretVersion => "POST /v1/{project_id}/secrets/{secret_name}/versions",
        K::ListSecretVersions => "GET /v1/{project_id}/secrets/{secret_name}/versions",
        K::ShowSecretVersion => "GET /v1/{project_id}/secrets/{secret_name}/versions/{version_id}",
        K::UpdateVersion => "PUT /v1/{project_id}/secrets/{secret_name}/versions/{version_id}",
        K::UpdateSecretStage => "PUT /v1/{project_id}/secrets/{secret_name}/stages/{stage_name}",
        K::ShowSecretStage => "GET /v1/{project_id}/secrets/{secret_name}/stages/{stage_name}",
        K::DeleteSecretStage => "DELETE /v1/{project_id}/secrets/{secret_name}/stages/{stage_name}",
        K::RotateSecret => "POST /v1/{project_id}/secrets/{secret_name}/rotate",
        K::ListSecretTasks => "GET /v1/{project_id}/csms/tasks",
        K::ListProjectSecretsTags => "GET /v1/{project_id}/csms/tags",
        K::ListResourceInstances => "POST /v1/{project_id}/csms/resource_instances/action",
        K::ListNotificationRecords => "GET /v1/{project_id}/csms/notification-records",
        K::CreateSecretEvent => "POST /v1/{project_id}/csms/events",
        K::ListSecretEvents => "GET /v1/{project_id}/csms/events",
        K::ShowSecretEvent => "GET /v1/{project_id}/csms/events/{event_name}",
        K::UpdateSecretEvent => "PUT /v1/{project_id}/csms/events/{event_name}",
        K::DeleteSecretEvent => "DELETE /v1/{project_id}/csms/events/{event_name}",
        K::ListSecretTags => "GET /v1/{project_id}/csms/{secret_id}/tags",
        K::CreateSecretTag => "POST /v1/{project_id}/csms/{secret_id}/tags",
        K::BatchCreateOrDeleteTags => "POST /v1/{project_id}/csms/{secret_id}/tags/action",
        K::DeleteSecretTag => "DELETE /v1/{project_id}/csms/{secret_id}/tags/{tag_key}",
        K::CreateKey => "POST /v1.0/{project_id}/kms/create-key",
        K::DescribeKey => "POST /v1.0/{project_id}/kms/describe-key",
        K::ListKeys => "POST /v1.0/{project_id}/kms/list-keys",
        K::EnableKey => "POST /v1.0/{project_id}/kms/enable-key",
        K::DisableKey => "POST /v1.0/{project_id}/kms/disable-key",
        K::ScheduleKeyDeletion => "POST /v1.0/{project_id}/kms/schedule-key-deletion",
        K::CancelKeyDeletion => "POST /v1.0/{project_id}/kms/cancel-key-deletion",
        K::UpdateKeyAlias => "POST /v1.0/{project_id}/kms/update-key-alias",
        K::UpdateKeyDescription => "POST /v1.0/{project_id}/kms/update-key-description",
        K::EncryptData => "POST /v1.0/{project_id}/kms/encrypt-data",
        K::DecryptData => "POST /v1.0/{project_id}/kms/decrypt-data",
        K::CreateDatakey => "POST /v1.0/{project_id}/kms/create-datakey",
        K::CreateDatakeyWithoutPlaintext => {
            "POST /v1.0/{project_id}/kms/create-datakey-without-plaintext"
        }
        K::EncryptDatakey => "POST /v1.0/{project_id}/kms/encrypt-datakey",
        K::DecryptDatakey => "POST /v1.0/{project_id}/kms/decrypt-datakey",
        K::ReEncrypt => "POST /v1.0/{project_id}/kms/re-encrypt",
        K::EnableKeyRotation => "POST /v1.0/{project_id}/kms/enable-key-rotation",
        K::DisableKeyRotation => "POST /v1.0/{project_id}/kms/disable-key-rotation",
        K::UpdateKeyRotationInterval => "POST /v1.0/{project_id}/kms/update-key-rotation-interval",
        K::ShowKeyRotationStatus => "POST /v1.0/{project_id}/kms/get-key-rotation-status",
        K::RotateKeyOnDemand => "POST /v1.0/{project_id}/kms/rotate-on-demand",
        K::CreateAlias => "POST /v1.0/{project_id}/kms/aliases",
        K::ListAliases => "GET /v1.0/{project_id}/kms/aliases",
        K::DeleteAlias => "DELETE /v1.0/{project_id}/kms/aliases",
        K::AssociateAlias => "POST /v1.0/{project_id}/kms/alias/associate",
    }
}

/// A parsed route: ready, or waiting for a secret id to be resolved in the caller's scope.
enum Route {
    Ready(Operation),
    ById {
        id: String,
        build: Box<dyn FnOnce(SecretById) -> Operation + Send>,
    },
}

/// The operation of a verified request: `kms` for the `/v1.0/` routes, `segments` the
/// percent-decoded path after the project id. Tag routes resolve their secret id here, before
/// authorization, so the permission names the secret itself.
pub async fn operation(
    call: &Call,
    method: &str,
    kms: bool,
    segments: &[String],
) -> Result<Operation, ApiError> {
    let body = call.json().ok();
    let route = if kms {
        kms_route(method, segments, body)?
    } else {
        csms_route(method, segments, body)?
    };
    let op = match route {
        Route::Ready(op) => op,
        Route::ById { id, build } => build(SecretById::resolve(call, id).await),
    };
    let op = resolve_keys(call, op, body).await?;
    Ok(resolve_instance(call, op, body).await)
}

/// Names the keys of `op` by their ids in the caller's scope (a reference that names no key of
/// the scope stays as written, so it is judged as a key of that name), and reads the key a
/// ciphertext names. Every operation is listed, so a new one must say what it resolves.
async fn resolve_keys(
    c: &Call,
    mut op: Operation,
    body: Option<&Map<String, Value>>,
) -> Result<Operation, ApiError> {
    use Operation::*;
    let id = |reference: String| async move {
        c.service
            .key_id_to_authorize(&c.scope, &reference)
            .await
            .map_err(ApiError::from)
    };
    match &mut op {
        CreateSecret {
            kms_key_id: Some(k),
            ..
        }
        | UpdateSecret {
            kms_key_id: Some(k),
            ..
        }
        | DescribeKey { key_id: k }
        | EnableKey { key_id: k }
        | DisableKey { key_id: k }
        | ScheduleKeyDeletion { key_id: k }
        | CancelKeyDeletion { key_id: k }
        | UpdateKeyAlias { key_id: k }
        | UpdateKeyDescription { key_id: k }
        | EncryptData { key_id: k }
        | CreateDatakey { key_id: k }
        | CreateDatakeyWithoutPlaintext { key_id: k }
        | EncryptDatakey { key_id: k }
        | ReEncrypt {
            destination_key_id: k,
            ..
        }
        | EnableKeyRotation { key_id: k }
        | DisableKeyRotation { key_id: k }
        | UpdateKeyRotationInterval { key_id: k }
        | ShowKeyRotationStatus { key_id: k }
        | RotateKeyOnDemand { key_id: k }
        | CreateAlias { key_id: k }
        | DeleteAlias { key_id: k } => *k = id(std::mem::take(k)).await?,
        AssociateAlias {
            target_key_id,
            holder,
        } => {
            *target_key_id = id(std::mem::take(target_key_id)).await?;
            if holder.starts_with("alias/") {
                *holder = id(std::mem::take(holder)).await?;
            }
        }
        CreateSecret {
            kms_key_id: None, ..
        }
        | UpdateSecret {
            kms_key_id: None, ..
        }
        | DecryptData { .. }
        | DecryptDatakey { .. }
        | ListSecrets
        | BatchGetSecretValue { .. }
        | ShowSecret { .. }
        | DeleteSecret { .. }
        | CreateSecretForSchedule { .. }
        | RestoreSecret { .. }
        | CreateSecretVersion { .. }
        | ListSecretVersions { .. }
        | ShowSecretVersion { .. }
        | UpdateVersion { .. }
        | UpdateSecretStage { .. }
        | ShowSecretStage { .. }
        | DeleteSecretStage { .. }
        | RotateSecret { .. }
        | ListSecretTasks
        | ListProjectSecretsTags
        | ListResourceInstances
        | ListNotificationRecords
        | CreateSecretEvent { .. }
        | ListSecretEvents
        | ShowSecretEvent { .. }
        | UpdateSecretEvent { .. }
        | DeleteSecretEvent { .. }
        | ListSecretTags { .. }
        | CreateSecretTag { .. }
        | BatchCreateOrDeleteTags { .. }
        | DeleteSecretTag { .. }
        | CreateKey
        | ListKeys
        | ListAliases => {}
    }
    // The key a ciphertext names. Data ciphertexts are base64, data key ciphertexts hex (and
    // ReEncrypt's are hex when it is given `datakey_cipher_length`), as the operations read them.
    let hex_form = matches!(op, DecryptDatakey { .. })
        || (matches!(op, ReEncrypt { .. })
            && body
                .and_then(|b| b.get("datakey_cipher_length"))
                .is_some_and(|v| !v.is_null()));
    if let DecryptData { key_id } | DecryptDatakey { key_id } | ReEncrypt { key_id, .. } = &mut op {
        let text = text(body, "cipher_text");
        let blob = if hex_form {
            hex::decode(&text).unwrap_or_default()
        } else {
            B64.decode(&text).unwrap_or_default()
        };
        *key_id = c.service.blob_key_id_to_authorize(&c.scope, &blob).await?;
    }
    Ok(op)
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The tags a tag route's body adds, or the keys it removes, read leniently: a body that does
/// not parse changes nothing here, and the operation refuses it after authorization.
fn tag_change(route: &str, body: Option<&Map<String, Value>>) -> TagChange {
    let tag = |v: &Value| secrets::tag_of(v, "tags").ok();
    let tags = || -> Vec<Tag> {
        match body.and_then(|b| b.get("tags")) {
            Some(Value::Array(a)) => a.iter().filter_map(tag).collect(),
            _ => vec![],
        }
    };
    match route {
        "tag" => TagChange::Set(
            body.and_then(|b| b.get("tag"))
                .and_then(tag)
                .into_iter()
                .collect(),
        ),
        _ => match body.and_then(|b| b.get("action")).and_then(Value::as_str) {
            Some("delete") => TagChange::Remove(tags().into_iter().map(|t| t.key).collect()),
            Some("create") => TagChange::Set(tags()),
            _ => TagChange::Set(vec![]),
        },
    }
}

/// `kms_key_id` of a secret's body, as the core names it; `None` when it names none.
fn kms_key_id(body: Option<&Map<String, Value>>) -> Option<String> {
    Some(text(body, "kms_key_id"))
        .filter(|k| !k.is_empty())
        .map(|k| params::key_ref(&k))
}

/// Fills in the stored instance of the managed secret a rotation is about, or whose
/// automatic rotation an update turns on: the database changes an account there. Read in
/// the caller's project.
async fn resolve_instance(
    call: &Call,
    op: Operation,
    body: Option<&Map<String, Value>>,
) -> Operation {
    use Operation::*;
    match op {
        RotateSecret { secret_name, .. } => RotateSecret {
            instance: call
                .service
                .secret_instance(&call.scope, &secret_name)
                .await,
            secret_name,
        },
        UpdateSecret {
            secret_name,
            kms_key_id,
            ..
        } if body.and_then(|b| b.get("auto_rotation")) == Some(&Value::Bool(true)) => {
            UpdateSecret {
                instance: call
                    .service
                    .secret_instance(&call.scope, &secret_name)
                    .await,
                secret_name,
                kms_key_id,
            }
        }
        other => other,
    }
}

/// The InstanceId of an RDS create's `rotation_config`, read leniently.
fn rds_instance(body: Option<&Map<String, Value>>) -> Option<String> {
    let body = body?;
    let rds = matches!(
        body.get("secret_type").and_then(Value::as_str),
        Some("RDS-FG" | "RDS")
    );
    if !rds {
        return None;
    }
    let config: Map<String, Value> =
        serde_json::from_str(body.get("rotation_config")?.as_str()?).ok()?;
    config
        .get("InstanceId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A string field of the body, or the empty string (see the module documentation).
fn text(body: Option<&Map<String, Value>>, field: &str) -> String {
    body.and_then(|b| b.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn csms_route(
    method: &str,
    segments: &[String],
    body: Option<&Map<String, Value>>,
) -> Result<Route, ApiError> {
    use Operation::*;
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let name = |n: &str| n.to_string();
    let by_id = |id: &str, build: Box<dyn FnOnce(SecretById) -> Operation + Send>| {
        Ok(Route::ById {
            id: id.to_string(),
            build,
        })
    };
    let op = match (method, seg.as_slice()) {
        ("POST", ["secrets"]) => CreateSecret {
            name: text(body, "name"),
            kms_key_id: kms_key_id(body),
            instance: rds_instance(body),
        },
        ("GET", ["secrets"]) => ListSecrets,
        ("POST", ["secrets", "batch-get-secret-value"]) => BatchGetSecretValue {
            secret_names: match body.and_then(|b| b.get("secret_name_list")) {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                _ => vec![],
            },
        },
        ("GET", ["secrets", n]) => ShowSecret {
            secret_name: name(n),
        },
        ("PUT", ["secrets", n]) => UpdateSecret {
            secret_name: name(n),
            kms_key_id: kms_key_id(body),
            instance: None,
        },
        ("DELETE", ["secrets", n]) => DeleteSecret {
            secret_name: name(n),
        },
        ("POST", ["secrets", n, "scheduled-deleted-tasks", "create"]) => CreateSecretForSchedule {
            secret_name: name(n),
        },
        ("POST", ["secrets", n, "scheduled-deleted-tasks", "cancel"]) => RestoreSecret {
            secret_name: name(n),
        },
        ("POST", ["secrets", n, "versions"]) => CreateSecretVersion {
            secret_name: name(n),
        },
        ("GET", ["secrets", n, "versions"]) => ListSecretVersions {
            secret_name: name(n),
        },
        ("GET", ["secrets", n, "versions", v]) => ShowSecretVersion {
            secret_name: name(n),
            version_id: name(v),
        },
        ("PUT", ["secrets", n, "versions", v]) => UpdateVersion {
            secret_name: name(n),
            version_id: name(v),
        },
        ("PUT", ["secrets", n, "stages", s]) => UpdateSecretStage {
            secret_name: name(n),
            stage_name: name(s),
        },
        ("GET", ["secrets", n, "stages", s]) => ShowSecretStage {
            secret_name: name(n),
            stage_name: name(s),
        },
        ("DELETE", ["secrets", n, "stages", s]) => DeleteSecretStage {
            secret_name: name(n),
            stage_name: name(s),
        },
        ("POST", ["secrets", n, "rotate"]) => RotateSecret {
            secret_name: name(n),
            instance: None,
        },
        ("GET", ["csms", "tasks"]) => ListSecretTasks,
        ("GET", ["csms", "tags"]) => ListProjectSecretsTags,
        ("POST", ["csms", "resource_instances", "action"]) => ListResourceInstances,
        ("POST", ["csms", "events"]) => CreateSecretEvent {
            event_name: text(body, "name"),
        },
        ("GET", ["csms", "events"]) => ListSecretEvents,
        // Listed before the tag routes: `csms/events/tags` is an event named "tags".
        ("GET", ["csms", "events", e]) => ShowSecretEvent {
            event_name: name(e),
        },
        ("PUT", ["csms", "events", e]) => UpdateSecretEvent {
            event_name: name(e),
        },
        ("DELETE", ["csms", "events", e]) => DeleteSecretEvent {
            event_name: name(e),
        },
        ("GET", ["csms", "notification-records"]) => ListNotificationRecords,
        ("POST", ["csms", id, "tags"]) => {
            let change = tag_change("tag", body);
            return by_id(id, Box::new(|secret| CreateSecretTag { secret, change }));
        }
        ("GET", ["csms", id, "tags"]) => {
            return by_id(id, Box::new(|secret| ListSecretTags { secret }))
        }
        ("POST", ["csms", id, "tags", "action"]) => {
            let change = tag_change("batch", body);
            return by_id(
                id,
                Box::new(|secret| BatchCreateOrDeleteTags { secret, change }),
            );
        }
        ("DELETE", ["csms", id, "tags", key]) => {
            let tag_key = name(key);
            return by_id(
                id,
                Box::new(move |secret| DeleteSecretTag { secret, tag_key }),
            );
        }
        _ => {
            return Err(ApiError::bad_request(format!(
                "no operation {method} /v1/{{project_id}}/{}",
                segments.join("/")
            )))
        }
    };
    Ok(Route::Ready(op))
}

fn kms_route(
    method: &str,
    segments: &[String],
    body: Option<&Map<String, Value>>,
) -> Result<Route, ApiError> {
    use Operation::*;
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let key_id = || text(body, "key_id");
    let op = match (method, seg.as_slice()) {
        ("POST", ["kms", "create-key"]) => CreateKey,
        ("POST", ["kms", "describe-key"]) => DescribeKey { key_id: key_id() },
        ("POST", ["kms", "list-keys"]) => ListKeys,
        ("POST", ["kms", "enable-key"]) => EnableKey { key_id: key_id() },
        ("POST", ["kms", "disable-key"]) => DisableKey { key_id: key_id() },
        ("POST", ["kms", "schedule-key-deletion"]) => ScheduleKeyDeletion { key_id: key_id() },
        ("POST", ["kms", "cancel-key-deletion"]) => CancelKeyDeletion { key_id: key_id() },
        ("POST", ["kms", "update-key-alias"]) => UpdateKeyAlias { key_id: key_id() },
        ("POST", ["kms", "update-key-description"]) => UpdateKeyDescription { key_id: key_id() },
        ("POST", ["kms", "encrypt-data"]) => EncryptData { key_id: key_id() },
        ("POST", ["kms", "decrypt-data"]) => DecryptData {
            key_id: UNKNOWN_KEY_ID.to_string(),
        },
        ("POST", ["kms", "create-datakey"]) => CreateDatakey { key_id: key_id() },
        ("POST", ["kms", "create-datakey-without-plaintext"]) => {
            CreateDatakeyWithoutPlaintext { key_id: key_id() }
        }
        ("POST", ["kms", "encrypt-datakey"]) => EncryptDatakey { key_id: key_id() },
        ("POST", ["kms", "decrypt-datakey"]) => DecryptDatakey {
            key_id: UNKNOWN_KEY_ID.to_string(),
        },
        ("POST", ["kms", "re-encrypt"]) => ReEncrypt {
            key_id: UNKNOWN_KEY_ID.to_string(),
            destination_key_id: text(body, "destination_key_id"),
        },
        ("POST", ["kms", "enable-key-rotation"]) => EnableKeyRotation { key_id: key_id() },
        ("POST", ["kms", "disable-key-rotation"]) => DisableKeyRotation { key_id: key_id() },
        ("POST", ["kms", "update-key-rotation-interval"]) => {
            UpdateKeyRotationInterval { key_id: key_id() }
        }
        ("POST", ["kms", "get-key-rotation-status"]) => ShowKeyRotationStatus { key_id: key_id() },
        ("POST", ["kms", "rotate-on-demand"]) => RotateKeyOnDemand { key_id: key_id() },
        ("POST", ["kms", "aliases"]) => CreateAlias { key_id: key_id() },
        ("GET", ["kms", "aliases"]) => ListAliases,
        ("DELETE", ["kms", "aliases"]) => DeleteAlias { key_id: key_id() },
        ("POST", ["kms", "alias", "associate"]) => AssociateAlias {
            target_key_id: text(body, "target_key_id"),
            holder: text(body, "alias"),
        },
        _ => {
            return Err(ApiError::new(
                400,
                "KMS.0201",
                format!(
                    "There is no KMS operation {method} /v1.0/{{project_id}}/{}.",
                    segments.join("/")
                ),
            ))
        }
    };
    Ok(Route::Ready(op))
}

/// What the caller must be allowed (the table is in DESIGN.md, "Actions of every operation").
pub fn permission(op: &Operation) -> Permission {
    use Action::*;
    use Operation::*;
    let secret = |action: Action, name: &str| Permission::one(action, Target::secret(name));
    let key = |action: Action, id: &str| Permission::one(action, Target::Key(id.to_string()));
    // Putting a secret under a key (or moving it to one) encrypts with the key.
    let with_key = |p: Permission, kms_key_id: &Option<String>| match kms_key_id {
        Some(k) => Permission::All(vec![p, key(KeysEncrypt, k)]),
        None => p,
    };
    let retag = |s: &SecretById, change: TagChange| {
        Permission::one(
            SecretsTag,
            Target::SecretRetag {
                name: s.name().to_string(),
                change,
            },
        )
    };
    match op {
        CreateSecret {
            name,
            kms_key_id,
            instance,
        } => with_key(
            Permission::one(
                SecretsCreate,
                // CSMS creates carry no tags; a condition sees none.
                Target::Secret {
                    name: name.clone(),
                    tags: Some(vec![]),
                },
            ),
            kms_key_id,
        )
        .and_instance(instance.as_deref()),
        ListSecrets | ListSecretTasks | ListProjectSecretsTags | ListResourceInstances => {
            Permission::one(SecretsList, Target::AllSecrets)
        }
        // A body without names is refused by the operation; the caller is judged first.
        BatchGetSecretValue { secret_names } if secret_names.is_empty() => {
            Permission::one(SecretsGetValue, Target::AllSecrets)
        }
        BatchGetSecretValue { secret_names } => Permission::each(
            SecretsGetValue,
            secret_names.iter().map(Target::secret).collect(),
        ),
        ShowSecret { secret_name }
        | ListSecretVersions { secret_name }
        | ShowSecretStage { secret_name, .. } => secret(SecretsDescribe, secret_name),
        UpdateSecret {
            secret_name,
            kms_key_id,
            instance,
        } => with_key(secret(SecretsUpdate, secret_name), kms_key_id)
            .and_instance(instance.as_deref()),
        UpdateVersion { secret_name, .. } => secret(SecretsUpdate, secret_name),
        DeleteSecret { secret_name } | CreateSecretForSchedule { secret_name } => {
            secret(SecretsDelete, secret_name)
        }
        RestoreSecret { secret_name } => secret(SecretsRestore, secret_name),
        CreateSecretVersion { secret_name } => secret(SecretsPutValue, secret_name),
        ShowSecretVersion { secret_name, .. } => secret(SecretsGetValue, secret_name),
        UpdateSecretStage { secret_name, .. } | DeleteSecretStage { secret_name, .. } => {
            secret(SecretsUpdateStage, secret_name)
        }
        RotateSecret {
            secret_name,
            instance,
        } => secret(SecretsRotate, secret_name).and_instance(instance.as_deref()),
        ListNotificationRecords | ListSecretEvents => {
            Permission::one(SecretsListEvents, Target::AllEvents)
        }
        ShowSecretEvent { event_name } => {
            Permission::one(SecretsListEvents, Target::Event(event_name.clone()))
        }
        CreateSecretEvent { event_name }
        | UpdateSecretEvent { event_name }
        | DeleteSecretEvent { event_name } => {
            Permission::one(SecretsManageEvents, Target::Event(event_name.clone()))
        }
        ListSecretTags { secret: s } => secret(SecretsDescribe, s.name()),
        CreateSecretTag { secret: s, change } | BatchCreateOrDeleteTags { secret: s, change } => {
            retag(s, change.clone())
        }
        DeleteSecretTag { secret: s, tag_key } => {
            retag(s, TagChange::Remove(vec![tag_key.clone()]))
        }
        CreateKey => Permission::one(KeysCreate, Target::AllKeys),
        ListKeys | ListAliases => Permission::one(KeysList, Target::AllKeys),
        DescribeKey { key_id } | ShowKeyRotationStatus { key_id } => key(KeysDescribe, key_id),
        EnableKey { key_id }
        | DisableKey { key_id }
        | UpdateKeyAlias { key_id }
        | UpdateKeyDescription { key_id }
        | EnableKeyRotation { key_id }
        | DisableKeyRotation { key_id }
        | UpdateKeyRotationInterval { key_id }
        | RotateKeyOnDemand { key_id }
        | CreateAlias { key_id }
        | DeleteAlias { key_id } => key(KeysUpdate, key_id),
        // Both keys change: the one that loses the alias and the one that gets it.
        AssociateAlias {
            target_key_id,
            holder,
        } => Permission::each(
            KeysUpdate,
            vec![
                Target::Key(target_key_id.clone()),
                Target::Key(holder.clone()),
            ],
        ),
        ScheduleKeyDeletion { key_id } | CancelKeyDeletion { key_id } => key(KeysDelete, key_id),
        EncryptData { key_id } | EncryptDatakey { key_id } => key(KeysEncrypt, key_id),
        CreateDatakey { key_id } | CreateDatakeyWithoutPlaintext { key_id } => {
            key(KeysGenerateDataKey, key_id)
        }
        // The key is the one the ciphertext names.
        DecryptData { key_id } | DecryptDatakey { key_id } => key(KeysDecrypt, key_id),
        ReEncrypt {
            key_id,
            destination_key_id,
        } => Permission::All(vec![
            key(KeysDecrypt, key_id),
            key(KeysEncrypt, destination_key_id),
        ]),
    }
}

/// Runs the operation.
pub async fn execute(c: &Call, op: Operation) -> OpResult {
    use Operation::*;
    match op {
        CreateSecret { kms_key_id, .. } => create_secret(c, kms_key_id).await,
        ListSecrets => secrets::list_secrets(c).await,
        BatchGetSecretValue { secret_names: _ } => secrets::batch_get(c).await,
        ShowSecret { secret_name } => secrets::show_secret(c, &secret_name).await,
        UpdateSecret {
            secret_name,
            kms_key_id,
            ..
        } => secrets::update_secret(c, &secret_name, kms_key_id).await,
        DeleteSecret { secret_name } => secrets::delete_secret(c, &secret_name).await,
        CreateSecretForSchedule { secret_name } => secrets::schedule_delete(c, &secret_name).await,
        RestoreSecret { secret_name } => secrets::cancel_delete(c, &secret_name).await,
        CreateSecretVersion { secret_name } => secrets::create_version(c, &secret_name).await,
        ListSecretVersions { secret_name } => secrets::list_versions(c, &secret_name).await,
        ShowSecretVersion {
            secret_name,
            version_id,
        } => secrets::show_version(c, &secret_name, &version_id).await,
        UpdateVersion {
            secret_name,
            version_id,
        } => secrets::update_version(c, &secret_name, &version_id).await,
        UpdateSecretStage {
            secret_name,
            stage_name,
        } => secrets::put_stage(c, &secret_name, &stage_name).await,
        ShowSecretStage {
            secret_name,
            stage_name,
        } => secrets::show_stage(c, &secret_name, &stage_name).await,
        DeleteSecretStage {
            secret_name,
            stage_name,
        } => secrets::delete_stage(c, &secret_name, &stage_name).await,
        RotateSecret { secret_name, .. } => managed::rotate_secret(c, &secret_name).await,
        ListSecretTasks => managed::list_tasks(c).await,
        ListProjectSecretsTags => secrets::project_tags(c).await,
        ListResourceInstances => secrets::resource_instances(c).await,
        ListNotificationRecords => events::notification_records(),
        CreateSecretEvent { event_name: _ } => events::create(c).await,
        ListSecretEvents => events::list(c).await,
        ShowSecretEvent { event_name } => events::show(c, &event_name).await,
        UpdateSecretEvent { event_name } => events::update(c, &event_name).await,
        DeleteSecretEvent { event_name } => events::delete(c, &event_name).await,
        ListSecretTags { secret } => secrets::list_tags(c, secret).await,
        CreateSecretTag { secret, .. } => secrets::create_tag(c, secret).await,
        BatchCreateOrDeleteTags { secret, .. } => secrets::batch_tags(c, secret).await,
        DeleteSecretTag { secret, tag_key } => secrets::delete_tag(c, secret, &tag_key).await,
        CreateKey => keys::create_key(c).await,
        // Key operations act on the key the permission judged (`key_id` resolved).
        DescribeKey { key_id } => keys::describe_key(c, &key_id).await,
        ListKeys => keys::list_keys(c).await,
        EnableKey { key_id } => keys::set_enabled(c, &key_id, true).await,
        DisableKey { key_id } => keys::set_enabled(c, &key_id, false).await,
        ScheduleKeyDeletion { key_id } => keys::schedule_deletion(c, &key_id).await,
        CancelKeyDeletion { key_id } => keys::cancel_deletion(c, &key_id).await,
        UpdateKeyAlias { key_id } => keys::update_key_alias(c, &key_id).await,
        UpdateKeyDescription { key_id } => keys::update_description(c, &key_id).await,
        EncryptData { key_id } => keys::encrypt_data(c, &key_id).await,
        DecryptData { .. } => keys::decrypt_data(c).await,
        CreateDatakey { key_id } => keys::create_datakey(c, &key_id, true).await,
        CreateDatakeyWithoutPlaintext { key_id } => keys::create_datakey(c, &key_id, false).await,
        EncryptDatakey { key_id } => keys::encrypt_datakey(c, &key_id).await,
        DecryptDatakey { .. } => keys::decrypt_datakey(c).await,
        ReEncrypt {
            destination_key_id, ..
        } => keys::re_encrypt(c, &destination_key_id).await,
        EnableKeyRotation { key_id } => keys::set_rotation(c, &key_id, Some(true), None).await,
        DisableKeyRotation { key_id } => keys::set_rotation(c, &key_id, Some(false), None).await,
        UpdateKeyRotationInterval { key_id } => keys::update_rotation_interval(c, &key_id).await,
        ShowKeyRotationStatus { key_id } => keys::rotation_status(c, &key_id).await,
        RotateKeyOnDemand { key_id } => keys::rotate_on_demand(c, &key_id).await,
        CreateAlias { key_id } => keys::create_alias(c, &key_id).await,
        ListAliases => keys::list_aliases(c).await,
        DeleteAlias { key_id } => keys::delete_aliases(c, &key_id).await,
        AssociateAlias { target_key_id, .. } => keys::associate_alias(c, &target_key_id).await,
    }
}

/// A create's type decides which module makes the secret; the fields both types share are
/// checked first, in the order the wire reports them.
/// `kms_key_id` is the body's key named by the id the permission judged it by.
async fn create_secret(c: &Call, kms_key_id: Option<String>) -> OpResult {
    let mut new = params::new_secret(c.json()?)?;
    new.key = new.key.and(kms_key_id);
    if new.managed {
        managed::create_secret(c, new).await
    } else {
        secrets::create_secret(c, new).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use strum::IntoEnumIterator;

    const ID: &str = "8c2f3d8e-2f6a-4c1e-9d55-0b7c1f2a3e4d";

    /// One operation of `kind` and the permission it must need, written out by hand.
    fn sample(kind: OperationKind) -> (Operation, Permission) {
        use Action::*;
        use OperationKind as K;
        let s = || "s1".to_string();
        let on_secret = |action| Permission::one(action, Target::secret("s1"));
        let on_key = |action, id: &str| Permission::one(action, Target::Key(id.to_string()));
        let by_id = || SecretById::resolved(ID, "tagged");
        let team_a = || Tag {
            key: "team".into(),
            value: "a".into(),
        };
        let retag = |change| Target::SecretRetag {
            name: "tagged".into(),
            change,
        };
        match kind {
            K::CreateSecret => (
                Operation::CreateSecret {
                    name: s(),
                    kms_key_id: Some("k2".into()),
                    instance: None,
                },
                Permission::All(vec![
                    Permission::one(
                        SecretsCreate,
                        Target::Secret {
                            name: "s1".into(),
                            tags: Some(vec![]),
                        },
                    ),
                    on_key(KeysEncrypt, "k2"),
                ]),
            ),
            K::ListSecrets => (
                Operation::ListSecrets,
                Permission::one(SecretsList, Target::AllSecrets),
            ),
            K::BatchGetSecretValue => (
                Operation::BatchGetSecretValue {
                    secret_names: vec!["a".into(), "b".into()],
                },
                Permission::each(
                    SecretsGetValue,
                    vec![Target::secret("a"), Target::secret("b")],
                ),
            ),
            K::ShowSecret => (
                Operation::ShowSecret { secret_name: s() },
                on_secret(SecretsDescribe),
            ),
            K::UpdateSecret => (
                Operation::UpdateSecret {
                    secret_name: s(),
                    kms_key_id: Some("k2".into()),
                    instance: None,
                },
                Permission::All(vec![on_secret(SecretsUpdate), on_key(KeysEncrypt, "k2")]),
            ),
            K::DeleteSecret => (
                Operation::DeleteSecret { secret_name: s() },
                on_secret(SecretsDelete),
            ),
            K::CreateSecretForSchedule => (
                Operation::CreateSecretForSchedule { secret_name: s() },
                on_secret(SecretsDelete),
            ),
            K::RestoreSecret => (
                Operation::RestoreSecret { secret_name: s() },
                on_secret(SecretsRestore),
            ),
            K::CreateSecretVersion => (
                Operation::CreateSecretVersion { secret_name: s() },
                on_secret(SecretsPutValue),
            ),
            K::ListSecretVersions => (
                Operation::ListSecretVersions { secret_name: s() },
                on_secret(SecretsDescribe),
            ),
            K::ShowSecretVersion => (
                Operation::ShowSecretVersion {
                    secret_name: s(),
                    version_id: "v1".into(),
                },
                on_secret(SecretsGetValue),
            ),
            K::UpdateVersion => (
                Operation::UpdateVersion {
                    secret_name: s(),
                    version_id: "v1".into(),
                },
                on_secret(SecretsUpdate),
            ),
            K::UpdateSecretStage => (
                Operation::UpdateSecretStage {
                    secret_name: s(),
                    stage_name: "st".into(),
                },
                on_secret(SecretsUpdateStage),
            ),
            K::ShowSecretStage => (
                Operation::ShowSecretStage {
                    secret_name: s(),
                    stage_name: "st".into(),
                },
                on_secret(SecretsDescribe),
            ),
            K::DeleteSecretStage => (
                Operation::DeleteSecretStage {
                    secret_name: s(),
                    stage_name: "st".into(),
                },
                on_secret(SecretsUpdateStage),
            ),
            K::RotateSecret => (
                Operation::RotateSecret {
                    secret_name: s(),
                    instance: None,
                },
                on_secret(SecretsRotate),
            ),
            K::ListSecretTasks => (
                Operation::ListSecretTasks,
                Permission::one(SecretsList, Target::AllSecrets),
            ),
            K::ListProjectSecretsTags => (
                Operation::ListProjectSecretsTags,
                Permission::one(SecretsList, Target::AllSecrets),
            ),
            K::ListResourceInstances => (
                Operation::ListResourceInstances,
                Permission::one(SecretsList, Target::AllSecrets),
            ),
            K::ListNotificationRecords => (
                Operation::ListNotificationRecords,
                Permission::one(SecretsListEvents, Target::AllEvents),
            ),
            K::CreateSecretEvent => (
                Operation::CreateSecretEvent {
                    event_name: "e1".into(),
                },
                Permission::one(SecretsManageEvents, Target::Event("e1".into())),
            ),
            K::ListSecretEvents => (
                Operation::ListSecretEvents,
                Permission::one(SecretsListEvents, Target::AllEvents),
            ),
            K::ShowSecretEvent => (
                Operation::ShowSecretEvent {
                    event_name: "e1".into(),
                },
                Permission::one(SecretsListEvents, Target::Event("e1".into())),
            ),
            K::UpdateSecretEvent => (
                Operation::UpdateSecretEvent {
                    event_name: "e1".into(),
                },
                Permission::one(SecretsManageEvents, Target::Event("e1".into())),
            ),
            K::DeleteSecretEvent => (
                Operation::DeleteSecretEvent {
                    event_name: "e1".into(),
                },
                Permission::one(SecretsManageEvents, Target::Event("e1".into())),
            ),
            K::ListSecretTags => (
                Operation::ListSecretTags { secret: by_id() },
                Permission::one(SecretsDescribe, Target::secret("tagged")),
            ),
            K::CreateSecretTag => (
                Operation::CreateSecretTag {
                    secret: by_id(),
                    change: TagChange::Set(vec![team_a()]),
                },
                Permission::one(SecretsTag, retag(TagChange::Set(vec![team_a()]))),
            ),
            K::BatchCreateOrDeleteTags => (
                Operation::BatchCreateOrDeleteTags {
                    secret: by_id(),
                    change: TagChange::Remove(vec!["team".into()]),
                },
                Permission::one(SecretsTag, retag(TagChange::Remove(vec!["team".into()]))),
            ),
            K::DeleteSecretTag => (
                Operation::DeleteSecretTag {
                    secret: by_id(),
                    tag_key: "team".into(),
                },
                Permission::one(SecretsTag, retag(TagChange::Remove(vec!["team".into()]))),
            ),
            K::CreateKey => (
                Operation::CreateKey,
                Permission::one(KeysCreate, Target::AllKeys),
            ),
            K::DescribeKey => (
                Operation::DescribeKey {
                    key_id: "k1".into(),
                },
                on_key(KeysDescribe, "k1"),
            ),
            K::ListKeys => (
                Operation::ListKeys,
                Permission::one(KeysList, Target::AllKeys),
            ),
            K::EnableKey => (
                Operation::EnableKey {
                    key_id: "k1".into(),
                },
                on_key(KeysUpdate, "k1"),
            ),
            K::DisableKey => (
                Operation::DisableKey {
                    key_id: "k1".into(),
                },
                on_key(KeysUpdate, "k1"),
            ),
            K::ScheduleKeyDeletion => (
                Operation::ScheduleKeyDeletion {
                    key_id: "k1".into(),
                },
                on_key(KeysDelete, "k1"),
            ),
            K::CancelKeyDeletion => (
                Operation::CancelKeyDeletion {
                    key_id: "k1".into(),
                },
                on_key(KeysDelete, "k1"),
            ),
            K::UpdateKeyAlias => (
                Operation::UpdateKeyAlias {
                    key_id: "k1".into(),
                },
                on_key(KeysUpdate, "k1"),
            ),
            K::UpdateKeyDescription => (
                Operation::UpdateKeyDescription {
                    key_id: "k1".into(),
                },
                on_key(KeysUpdate, "k1"),
            ),
            K::EncryptData => (
                Operation::EncryptData {
                    key_id: "k1".into(),
                },
                on_key(KeysEncrypt, "k1"),
            ),
            K::DecryptData => (
                Operation::DecryptData {
                    key_id: "k1".into(),
                },
                on_key(KeysDecrypt, "k1"),
            ),
            K::CreateDatakey => (
                Operation::CreateDatakey {
                    key_id: "k1".into(),
                },
                on_key(KeysGenerateDataKey, "k1"),
            ),
            K::CreateDatakeyWithoutPlaintext => (
                Operation::CreateDatakeyWithoutPlaintext {
                    key_id: "k1".into(),
                },
                on_key(KeysGenerateDataKey, "k1"),
            ),
            K::EncryptDatakey => (
                Operation::EncryptDatakey {
                    key_id: "k1".into(),
                },
                on_key(KeysEncrypt, "k1"),
            ),
            K::DecryptDatakey => (
                Operation::DecryptDatakey {
                    key_id: "k1".into(),
                },
                on_key(KeysDecrypt, "k1"),
            ),
            K::ReEncrypt => (
                Operation::ReEncrypt {
                    key_id: "k1".into(),
                    destination_key_id: "k2".into(),
                },
                Permission::All(vec![on_key(KeysDecrypt, "k1"), on_key(KeysEncrypt, "k2")]),
            ),
            K::EnableKeyRotation => (
                Operation::EnableKeyRotation {
                    key_id: "k1".into(),
                },
                on_key(KeysUpdate, "k1"),
            ),
            K::DisableKeyRotation => (
                Operation::DisableKeyRotation {
                    key_id: "k1".into(),
                },
                on_key(KeysUpdate, "k1"),
            ),
            K::UpdateKeyRotationInterval => (
                Operation::UpdateKeyRotationInterval {
                    key_id: "k1".into(),
                },
                on_key(KeysUpdate, "k1"),
            ),
            K::ShowKeyRotationStatus => (
                Operation::ShowKeyRotationStatus {
                    key_id: "k1".into(),
                },
                on_key(KeysDescribe, "k1"),
            ),
            K::RotateKeyOnDemand => (
                Operation::RotateKeyOnDemand {
                    key_id: "k1".into(),
                },
                on_key(KeysUpdate, "k1"),
            ),
            K::CreateAlias => (
                Operation::CreateAlias {
                    key_id: "k1".into(),
                },
                on_key(KeysUpdate, "k1"),
            ),
            K::ListAliases => (
                Operation::ListAliases,
                Permission::one(KeysList, Target::AllKeys),
            ),
            K::DeleteAlias => (
                Operation::DeleteAlias {
                    key_id: "k1".into(),
                },
                on_key(KeysUpdate, "k1"),
            ),
            K::AssociateAlias => (
                Operation::AssociateAlias {
                    target_key_id: "k3".into(),
                    holder: "k1".into(),
                },
                Permission::each(
                    KeysUpdate,
                    vec![Target::Key("k3".into()), Target::Key("k1".into())],
                ),
            ),
        }
    }

    #[test]
    fn every_operation_needs_the_permission_of_the_design_table() {
        let mut tested = 0;
        for kind in OperationKind::iter() {
            let (op, expected) = sample(kind);
            assert_eq!(OperationKind::from(&op), kind, "sample of {kind:?}");
            assert_eq!(permission(&op), expected, "{kind:?}");
            tested += 1;
        }
        assert_eq!(tested, OperationKind::iter().count());
    }

    #[test]
    fn a_batch_read_without_names_is_judged_on_every_secret() {
        let op = Operation::BatchGetSecretValue {
            secret_names: vec![],
        };
        assert_eq!(
            permission(&op),
            Permission::one(Action::SecretsGetValue, Target::AllSecrets)
        );
    }

    /// Parses a route as the request would reach it: `kms` by the path's version.
    fn route(
        method: &str,
        kms: bool,
        rest: &str,
        body: &Map<String, Value>,
    ) -> Result<Route, ApiError> {
        let segments: Vec<String> = rest.split('/').map(str::to_string).collect();
        if kms {
            kms_route(method, &segments, Some(body))
        } else {
            csms_route(method, &segments, Some(body))
        }
    }

    fn ready(r: Result<Route, ApiError>) -> Operation {
        match r {
            Ok(Route::Ready(op)) => op,
            Ok(Route::ById { id, build }) => build(SecretById::resolved(&id, "tagged")),
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn every_wire_name_routes_to_its_own_operation() {
        let body = Map::new();
        for kind in OperationKind::iter() {
            let wire = wire_name(kind);
            let (method, path) = wire.split_once(' ').unwrap();
            let (kms, rest) = match (
                path.strip_prefix("/v1/{project_id}/"),
                path.strip_prefix("/v1.0/{project_id}/"),
            ) {
                (Some(rest), _) => (false, rest),
                (_, Some(rest)) => (true, rest),
                _ => panic!("{wire}"),
            };
            // Path parameters get sample values that are no route's fixed segment.
            let rest: Vec<&str> = rest
                .split('/')
                .map(|s| if s.starts_with('{') { "p1" } else { s })
                .collect();
            let op = ready(route(method, kms, &rest.join("/"), &body));
            assert_eq!(OperationKind::from(&op), kind, "{wire}");
        }
    }

    #[test]
    fn routes_carry_path_parameters_and_the_body_fields_permissions_name() {
        let body = |v: Value| match v {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let op = ready(route("GET", false, "secrets/s-1/versions/v2", &Map::new()));
        assert!(matches!(
            op,
            Operation::ShowSecretVersion { ref secret_name, ref version_id }
                if secret_name == "s-1" && version_id == "v2"
        ));
        let op = ready(route(
            "POST",
            false,
            "secrets",
            &body(json!({"name": "n1"})),
        ));
        assert!(matches!(op, Operation::CreateSecret { ref name, .. } if name == "n1"));
        // A name that is not a string names nothing; the create reports the field later.
        let op = ready(route("POST", false, "secrets", &body(json!({"name": 5}))));
        assert!(matches!(op, Operation::CreateSecret { ref name, .. } if name.is_empty()));
        // An RDS create names its instance, which the permission covers too.
        let op = ready(route(
            "POST",
            false,
            "secrets",
            &body(json!({"name": "n1", "secret_type": "RDS-FG",
                         "rotation_config": "{\"InstanceId\":\"rds-1\"}"})),
        ));
        assert!(
            matches!(op, Operation::CreateSecret { ref instance, .. } if instance.as_deref() == Some("rds-1"))
        );
        assert_eq!(
            permission(&op),
            Permission::All(vec![
                Permission::one(
                    Action::SecretsCreate,
                    Target::Secret {
                        name: "n1".into(),
                        tags: Some(vec![])
                    }
                ),
                Permission::one(Action::DatabasesUse, Target::Instance("rds-1".into())),
            ])
        );
        let op = ready(route(
            "POST",
            false,
            "secrets",
            &body(json!({"name": "n1", "rotation_config": "{\"InstanceId\":\"rds-1\"}"})),
        ));
        assert!(matches!(op, Operation::CreateSecret { instance: None, .. }));
        let op = ready(route(
            "POST",
            false,
            "secrets/batch-get-secret-value",
            &body(json!({"secret_name_list": ["a", 7, "b"]})),
        ));
        assert!(matches!(
            op,
            Operation::BatchGetSecretValue { ref secret_names } if secret_names == &["a", "b"]
        ));
        let op = ready(route(
            "POST",
            false,
            "csms/events",
            &body(json!({"name": "e1"})),
        ));
        assert!(
            matches!(op, Operation::CreateSecretEvent { ref event_name } if event_name == "e1")
        );
        // `csms/events/tags` is the event named "tags", not the tags of a secret "events".
        let op = ready(route("GET", false, "csms/events/tags", &Map::new()));
        assert!(
            matches!(op, Operation::ShowSecretEvent { ref event_name } if event_name == "tags")
        );
        match route(
            "DELETE",
            false,
            &format!("csms/{ID}/tags/team"),
            &Map::new(),
        ) {
            Ok(Route::ById { id, build }) => {
                assert_eq!(id, ID);
                let op = build(SecretById::resolved(&id, "tagged"));
                assert!(matches!(
                    op,
                    Operation::DeleteSecretTag { ref secret, ref tag_key }
                        if secret.name() == "tagged" && tag_key == "team"
                ));
            }
            other => panic!("{:?}", other.err()),
        }
        let op = ready(route(
            "POST",
            true,
            "kms/describe-key",
            &body(json!({"key_id": "k1"})),
        ));
        assert!(matches!(op, Operation::DescribeKey { ref key_id } if key_id == "k1"));
        let op = ready(route(
            "POST",
            true,
            "kms/re-encrypt",
            &body(json!({"key_id": "k1", "destination_key_id": "k2"})),
        ));
        assert!(matches!(
            op,
            Operation::ReEncrypt { ref destination_key_id, .. } if destination_key_id == "k2"
        ));
        let op = ready(route(
            "POST",
            true,
            "kms/alias/associate",
            &body(json!({"key_id": "k1", "target_key_id": "k3"})),
        ));
        assert!(matches!(
            op,
            Operation::AssociateAlias { ref target_key_id, ref holder }
                if target_key_id == "k3" && holder.is_empty()
        ));
    }

    #[test]
    fn tag_routes_carry_their_change_and_secret_routes_their_key() {
        let body = |v: Value| match v {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let tag = |k: &str, v: &str| Tag {
            key: k.into(),
            value: v.into(),
        };
        let one = body(json!({"tag": {"key": "team", "value": "b"}}));
        assert_eq!(
            tag_change("tag", Some(&one)),
            TagChange::Set(vec![tag("team", "b")])
        );
        let create = body(json!({"action": "create", "tags": [{"key": "a", "value": "1"}]}));
        assert_eq!(
            tag_change("batch", Some(&create)),
            TagChange::Set(vec![tag("a", "1")])
        );
        let delete = body(json!({"action": "delete", "tags": [{"key": "a", "value": "1"}]}));
        assert_eq!(
            tag_change("batch", Some(&delete)),
            TagChange::Remove(vec!["a".into()])
        );
        // What does not parse changes nothing (the operation refuses it later).
        let bad = body(json!({"action": "rename", "tags": 5}));
        assert_eq!(tag_change("batch", Some(&bad)), TagChange::Set(vec![]));
        assert_eq!(tag_change("tag", None), TagChange::Set(vec![]));

        let op = ready(route(
            "PUT",
            false,
            "secrets/s1",
            &body(json!({"kms_key_id": "csms/default"})),
        ));
        assert!(matches!(
            op,
            Operation::UpdateSecret { kms_key_id: Some(ref k), .. }
                if k == coffer_core::service::DEFAULT_KEY_ALIAS
        ));
        let op = ready(route(
            "POST",
            false,
            "secrets",
            &body(json!({"name": "n", "kms_key_id": ""})),
        ));
        assert!(matches!(
            op,
            Operation::CreateSecret {
                kms_key_id: None,
                ..
            }
        ));
    }

    #[test]
    fn unknown_routes_keep_their_errors() {
        let csms = route("PATCH", false, "secrets/s1", &Map::new()).err();
        assert_eq!(
            csms,
            Some(ApiError::bad_request(
                "no operation PATCH /v1/{project_id}/secrets/s1"
            ))
        );
        // A KMS route on the CSMS version, and the other way round, is no route.
        let crossed = route("POST", false, "kms/create-key", &Map::new()).err();
        assert_eq!(crossed.map(|e| e.code), Some("CSMS.0003"));
        let kms = route("POST", true, "secrets", &Map::new()).err();
        assert_eq!(
            kms,
            Some(ApiError::new(
                400,
                "KMS.0201",
                "There is no KMS operation POST /v1.0/{project_id}/secrets."
            ))
        );
    }
}
