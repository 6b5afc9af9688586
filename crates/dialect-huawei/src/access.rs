//! Which neutral action each CSMS route is, and on which resources (the table is in
//! DESIGN.md). Tag routes address a secret by id; the id is resolved in the caller's own
//! project, and an id that names nothing there is judged as a secret of that name, so the
//! answer (a denial or a 404) reveals nothing about other accounts.

use coffer_core::{Action, Target};
use serde_json::Value;

use crate::error::ApiError;
use crate::Call;

type Permission = Option<(Action, Vec<Target>)>;

fn secret(action: Action, name: &str) -> Permission {
    Some((action, vec![Target::secret(name)]))
}

fn all(action: Action, target: Target) -> Permission {
    Some((action, vec![target]))
}

async fn by_id(c: &Call<'_>, action: Action, id: &str) -> Permission {
    let name = match uuid::Uuid::parse_str(id) {
        Ok(uuid) => match c.service.describe_by_id(&c.scope, uuid).await {
            Ok(s) => s.name,
            Err(_) => id.to_string(),
        },
        Err(_) => id.to_string(),
    };
    secret(action, &name)
}

/// The `name` field of a JSON body, when there is one; the operation itself reports a body
/// that is not JSON or lacks the field.
fn body_name(c: &Call<'_>) -> Option<String> {
    c.json()
        .ok()?
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// `None` for routes that do not exist (refused by the router).
pub(crate) async fn permission(c: &Call<'_>) -> Result<Permission, ApiError> {
    use Action::*;
    let seg: Vec<&str> = c.segments.iter().map(String::as_str).collect();
    Ok(match (c.method, seg.as_slice()) {
        ("POST", ["secrets"]) => {
            let name = body_name(c).unwrap_or_default();
            Some((
                SecretsCreate,
                // CSMS creates carry no tags; a condition sees none.
                vec![Target::Secret {
                    name,
                    tags: Some(vec![]),
                }],
            ))
        }
        ("GET", ["secrets"]) => all(SecretsList, Target::AllSecrets),
        ("POST", ["secrets", "batch-get-secret-value"]) => {
            let names: Vec<Target> = c
                .json()
                .ok()
                .and_then(|b| b.get("secret_name_list").cloned())
                .and_then(|v| match v {
                    Value::Array(a) => Some(a),
                    _ => None,
                })
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_str)
                .map(Target::secret)
                .collect();
            if names.is_empty() {
                // The operation refuses the body; still judge the caller first.
                all(SecretsGetValue, Target::AllSecrets)
            } else {
                Some((SecretsGetValue, names))
            }
        }
        ("GET", ["secrets", n]) => secret(SecretsDescribe, n),
        ("PUT", ["secrets", n]) => secret(SecretsUpdate, n),
        ("DELETE", ["secrets", n]) => secret(SecretsDelete, n),
        ("POST", ["secrets", n, "scheduled-deleted-tasks", "create"]) => secret(SecretsDelete, n),
        ("POST", ["secrets", n, "scheduled-deleted-tasks", "cancel"]) => secret(SecretsRestore, n),
        ("POST", ["secrets", n, "versions"]) => secret(SecretsPutValue, n),
        ("GET", ["secrets", n, "versions"]) => secret(SecretsDescribe, n),
        ("GET", ["secrets", n, "versions", _]) => secret(SecretsGetValue, n),
        ("PUT", ["secrets", n, "versions", _]) => secret(SecretsUpdate, n),
        ("PUT" | "DELETE", ["secrets", n, "stages", _]) => secret(SecretsUpdateStage, n),
        ("GET", ["secrets", n, "stages", _]) => secret(SecretsDescribe, n),
        ("POST", ["secrets", n, "rotate"]) => secret(SecretsRotate, n),
        ("GET", ["csms", "tags"]) => all(SecretsList, Target::AllSecrets),
        ("GET", ["csms", "tasks"]) => all(SecretsList, Target::AllSecrets),
        ("POST", ["csms", "resource_instances", "action"]) => all(SecretsList, Target::AllSecrets),
        ("GET", ["csms", "notification-records"]) => all(SecretsListEvents, Target::AllEvents),
        ("POST", ["csms", "events"]) => all(
            SecretsManageEvents,
            Target::Event(body_name(c).unwrap_or_default()),
        ),
        ("GET", ["csms", "events"]) => all(SecretsListEvents, Target::AllEvents),
        ("GET", ["csms", "events", n]) => all(SecretsListEvents, Target::Event(n.to_string())),
        ("PUT" | "DELETE", ["csms", "events", n]) => {
            all(SecretsManageEvents, Target::Event(n.to_string()))
        }
        ("GET", ["csms", id, "tags"]) => by_id(c, SecretsDescribe, id).await,
        ("POST", ["csms", id, "tags"] | ["csms", id, "tags", "action"])
        | ("DELETE", ["csms", id, "tags", _]) => by_id(c, SecretsTag, id).await,
        _ => None,
    })
}

/// KMS routes: keys are named by `key_id` in the body (`target_key_id` when an alias moves).
/// Decrypting names no key up front: the operation checks the key inside the ciphertext
/// belongs to the caller's project.
pub(crate) fn kms_permission(c: &Call<'_>) -> Permission {
    use Action::*;
    let seg: Vec<&str> = c.segments.iter().map(String::as_str).collect();
    let body = c.json().ok();
    let field = |name: &str| {
        body.as_ref()
            .and_then(|b| b.get(name))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let key = |action: Action, name: &str| all(action, Target::Key(field(name)));
    match (c.method, seg.as_slice()) {
        ("POST", ["kms", "create-key"]) => all(KeysCreate, Target::AllKeys),
        ("POST", ["kms", "list-keys"]) | ("GET", ["kms", "aliases"]) => {
            all(KeysList, Target::AllKeys)
        }
        ("POST", ["kms", "describe-key" | "get-key-rotation-status"]) => {
            key(KeysDescribe, "key_id")
        }
        (
            "POST",
            ["kms", "enable-key"
            | "disable-key"
            | "update-key-alias"
            | "update-key-description"
            | "enable-key-rotation"
            | "disable-key-rotation"
            | "update-key-rotation-interval"
            | "rotate-on-demand"
            | "aliases"],
        )
        | ("DELETE", ["kms", "aliases"]) => key(KeysUpdate, "key_id"),
        ("POST", ["kms", "alias", "associate"]) => key(KeysUpdate, "target_key_id"),
        ("POST", ["kms", "schedule-key-deletion" | "cancel-key-deletion"]) => {
            key(KeysDelete, "key_id")
        }
        ("POST", ["kms", "encrypt-data" | "encrypt-datakey"]) => key(KeysEncrypt, "key_id"),
        ("POST", ["kms", "create-datakey" | "create-datakey-without-plaintext"]) => {
            key(KeysGenerateDataKey, "key_id")
        }
        ("POST", ["kms", "decrypt-data" | "decrypt-datakey"]) => all(KeysDecrypt, Target::AllKeys),
        ("POST", ["kms", "re-encrypt"]) => Some((
            KeysDecrypt,
            vec![Target::AllKeys, Target::Key(field("destination_key_id"))],
        )),
        _ => None,
    }
}
