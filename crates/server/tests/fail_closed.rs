//! Authorization fails closed, proven over the wire against the real binary for every
//! operation of every dialect. The operation lists come from the dialects' own enums
//! (`OperationKind`), and the sample request of each kind is an exhaustive `match`: a new
//! operation does not compile here until it has a sample, and then it is tested.
//!
//! For each operation:
//! - a key of the resource's own account that is not an admin and has no policy is refused
//!   with the dialect's access-denied error, and the store is byte-for-byte unchanged;
//! - an admin key of another account, naming the resource the most direct way its dialect
//!   allows (ARN, project id, key id, secret id), gets the same answer code as for a
//!   resource that exists nowhere, and nothing of the owner's changes or leaks.

mod common;

use std::collections::BTreeMap;

use coffer_api::strum::IntoEnumIterator;
use coffer_auth::alibaba::RpcV1Client;
use common::{send, Server, AK, SK};
use serde_json::{json, Value};

const PROJECT: &str = "0123456789abcdef0123456789abcdef";
/// Text that only the owner's resources carry: no answer to the intruder may contain it.
const MARKER: &str = "owner-only-7f3a";

#[derive(Clone)]
struct Key {
    id: String,
    secret: String,
}

/// The owner account (the operator) with its resources, a plain key of the owner, and an
/// intruder account with an admin key.
struct World {
    server: Server,
    owner: u64,
    owner_admin: Key,
    plain: Key,
    intruder: Key,
    intruder_project: String,
    /// The owner's secret `fc-secret`: its id (Huawei tag routes address it so).
    secret_id: String,
    /// The owner's KMS key.
    key_id: String,
    /// A ciphertext the owner's key made (Alibaba/Tencent blobs).
    blob: String,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A secret name no account has.
fn fresh_name() -> String {
    format!("n-{}", uuid::Uuid::new_v4().simple())
}

fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl World {
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.server.port)
    }

    fn admin_api(&self, key: &Key, method: &str, path: &str, body: Value) -> (u16, Value) {
        let body = if body.is_null() {
            vec![]
        } else {
            body.to_string().into_bytes()
        };
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut headers = vec![
            ("host".to_string(), self.host()),
            ("content-type".to_string(), "application/json".to_string()),
        ];
        coffer_auth::sigv4::sign(
            method,
            path,
            query,
            &mut headers,
            &body,
            &key.id,
            key.secret.as_bytes(),
            "local",
            "coffer",
            now(),
        )
        .expect("sign");
        let pq = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        send(&self.server, method, &pq, &headers, &body)
    }

    fn alibaba(&self, key: &Key, action: &str, params: &[(&str, String)]) -> (u16, Value) {
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (ts, n) = (common::format_timestamp(now()), nonce());
        let client = RpcV1Client {
            access_key_id: &key.id,
            access_key_secret: key.secret.as_bytes(),
            timestamp: &ts,
            nonce: &n,
        };
        let query =
            coffer_auth::alibaba::rpc_v1_query("POST", action, "2016-01-20", &params, &client)
                .expect("sign");
        send(&self.server, "POST", &format!("/?{query}"), &[], &[])
    }

    fn tencent(&self, key: &Key, version: &str, action: &str, body: &Value) -> (u16, Value) {
        let body = body.to_string().into_bytes();
        let headers = coffer_auth::tencent::tc3_post_json_headers(
            action,
            version,
            Some("ap-guangzhou"),
            &self.host(),
            &body,
            &key.id,
            key.secret.as_bytes(),
            now(),
        );
        send(&self.server, "POST", "/", &headers, &body)
    }

    fn aws(&self, key: &Key, target: &str, body: &Value) -> (u16, Value) {
        let body = body.to_string().into_bytes();
        let mut headers = vec![
            ("host".to_string(), self.host()),
            (
                "content-type".to_string(),
                "application/x-amz-json-1.1".to_string(),
            ),
            (
                "x-amz-target".to_string(),
                format!("secretsmanager.{target}"),
            ),
        ];
        coffer_auth::sigv4::sign(
            "POST",
            "/",
            "",
            &mut headers,
            &body,
            &key.id,
            key.secret.as_bytes(),
            "us-east-1",
            "secretsmanager",
            now(),
        )
        .expect("sign");
        send(&self.server, "POST", "/", &headers, &body)
    }

    fn huawei(&self, key: &Key, project: &str, r: &HuaweiRequest) -> (u16, Value) {
        let (method, v, route, query, body) = (r.method, r.v, &r.route, r.query, &r.body);
        let body = if body.is_null() {
            vec![]
        } else {
            body.to_string().into_bytes()
        };
        let path = format!("/{v}/{project}{route}");
        let headers = coffer_auth::huawei::request_headers(
            method,
            &self.host(),
            &path,
            query,
            &body,
            Some(project),
            &key.id,
            key.secret.as_bytes(),
            now(),
        );
        let pq = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        send(&self.server, method, &pq, &headers, &body)
    }

    /// Every row of every table of the store, for "nothing changed".
    fn store_dump(&self) -> BTreeMap<String, Vec<String>> {
        let db = rusqlite::Connection::open_with_flags(
            self.server.data_dir.join("coffer.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open the store read-only");
        let tables: Vec<String> = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .expect("list tables");
        let mut dump = BTreeMap::new();
        for t in tables {
            let mut stmt = db
                .prepare(&format!("SELECT * FROM \"{t}\""))
                .expect("select");
            let n = stmt.column_count();
            let mut rows: Vec<String> = stmt
                .query_map([], |r| {
                    let mut cells = Vec::with_capacity(n);
                    for i in 0..n {
                        cells.push(format!("{:?}", r.get_ref(i)?));
                    }
                    Ok(cells.join("|"))
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .expect("rows");
            rows.sort();
            dump.insert(t, rows);
        }
        dump
    }
}

fn setup() -> World {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let server = Server::start_with(
        &dir.join("data"),
        &[
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            ("COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID", PROJECT),
        ],
    );
    let owner_admin = Key {
        id: AK.into(),
        secret: SK.into(),
    };
    let mut w = World {
        server,
        owner: 0,
        owner_admin: owner_admin.clone(),
        plain: owner_admin.clone(),
        intruder: owner_admin.clone(),
        intruder_project: String::new(),
        secret_id: String::new(),
        key_id: String::new(),
        blob: String::new(),
    };
    // The owner's account id, from its project.
    let (s, accounts) = w.admin_api(&owner_admin, "GET", "/coffer/v1/accounts", Value::Null);
    assert_eq!(s, 200, "{accounts}");
    w.owner = accounts["Accounts"][0]["AccountId"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("owner account id");
    let (s, plain) = w.admin_api(
        &owner_admin,
        "POST",
        &format!("/coffer/v1/accounts/{}/access-keys", w.owner),
        json!({"Admin": false}),
    );
    assert_eq!(s, 200, "{plain}");
    w.plain = Key {
        id: plain["AccessKeyId"].as_str().unwrap_or_default().into(),
        secret: plain["AccessKeySecret"].as_str().unwrap_or_default().into(),
    };
    let (s, b) = w.admin_api(
        &owner_admin,
        "POST",
        "/coffer/v1/accounts",
        json!({"Name": "intruder"}),
    );
    assert_eq!(s, 200, "{b}");
    let b_account = b["AccountId"].as_str().unwrap_or_default().to_string();
    w.intruder_project = b["Projects"][0]["ProjectId"]
        .as_str()
        .unwrap_or_default()
        .into();
    let (s, bk) = w.admin_api(
        &owner_admin,
        "POST",
        &format!("/coffer/v1/accounts/{b_account}/access-keys"),
        json!({"Admin": true}),
    );
    assert_eq!(s, 200, "{bk}");
    w.intruder = Key {
        id: bk["AccessKeyId"].as_str().unwrap_or_default().into(),
        secret: bk["AccessKeySecret"].as_str().unwrap_or_default().into(),
    };

    // The owner's resources.
    let (s, key) = w.alibaba(
        &owner_admin,
        "CreateKey",
        &[("Description", format!("key {MARKER}"))],
    );
    assert_eq!(s, 200, "{key}");
    w.key_id = key["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap_or_default()
        .into();
    let (s, created) = w.alibaba(
        &owner_admin,
        "CreateSecret",
        &[
            ("SecretName", "fc-secret".into()),
            ("VersionId", "v1".into()),
            ("SecretData", format!("value {MARKER}")),
            ("Description", format!("secret {MARKER}")),
            ("EncryptionKeyId", w.key_id.clone()),
            ("Tags", r#"[{"TagKey":"team","TagValue":"a"}]"#.into()),
        ],
    );
    assert_eq!(s, 200, "{created}");
    let (s, shown) = w.huawei(
        &owner_admin,
        PROJECT,
        &HuaweiRequest::new("GET", "v1", "/secrets/fc-secret", Value::Null),
    );
    assert_eq!(s, 200, "{shown}");
    w.secret_id = shown["secret"]["id"].as_str().unwrap_or_default().into();
    let (s, ev) = w.huawei(
        &owner_admin,
        PROJECT,
        &HuaweiRequest::new("POST", "v1", "/csms/events", json!({"name": "fc-event", "event_types": ["SECRET_VERSION_CREATED"], "state": "ENABLED",
                "notification": {"target_type": "SMN", "target_id": "t", "target_name": "n"}})),
    );
    assert_eq!(s, 200, "{ev}");
    let (s, enc) = w.alibaba(
        &owner_admin,
        "Encrypt",
        &[
            ("KeyId", w.key_id.clone()),
            ("Plaintext", "aGVsbG8=".into()),
        ],
    );
    assert_eq!(s, 200, "{enc}");
    w.blob = enc["CiphertextBlob"].as_str().unwrap_or_default().into();
    w
}

/// What the owner can see of its own resources, read with its admin key through several
/// dialects: what an intruder must not be able to change.
fn owner_view(w: &World) -> String {
    let k = &w.owner_admin;
    let mut view = vec![];
    let (_, list) = w.alibaba(k, "ListSecrets", &[("PageSize", "100".into())]);
    view.push(list["SecretList"].to_string());
    let (_, d) = w.alibaba(k, "DescribeSecret", &[("SecretName", "fc-secret".into())]);
    view.push(d["Description"].to_string());
    view.push(d["Tags"].to_string());
    let (_, v) = w.alibaba(k, "GetSecretValue", &[("SecretName", "fc-secret".into())]);
    view.push(v["SecretData"].to_string());
    view.push(v["VersionStages"].to_string());
    let (_, vs) = w.alibaba(
        k,
        "ListSecretVersionIds",
        &[("SecretName", "fc-secret".into())],
    );
    view.push(vs["VersionIds"].to_string());
    let (_, key) = w.alibaba(k, "DescribeKey", &[("KeyId", w.key_id.clone())]);
    view.push(key["KeyMetadata"]["KeyState"].to_string());
    view.push(key["KeyMetadata"]["Description"].to_string());
    let (_, aliases) = w.alibaba(k, "ListAliases", &[]);
    view.push(aliases["Aliases"].to_string());
    let (_, events) = w.huawei(
        k,
        PROJECT,
        &HuaweiRequest::new("GET", "v1", "/csms/events", Value::Null),
    );
    view.push(events["events"].to_string());
    let (_, keys) = w.admin_api(
        k,
        "GET",
        &format!("/coffer/v1/accounts/{}/access-keys", w.owner),
        Value::Null,
    );
    view.push(keys["AccessKeys"].to_string());
    let (_, policies) = w.admin_api(
        k,
        "GET",
        &format!("/coffer/v1/accounts/{}/policies", w.owner),
        Value::Null,
    );
    view.push(policies["Policies"].to_string());
    view.join("\n")
}

/// The answer code of any dialect's body (`OK` for a success).
fn code_of(status: u16, body: &Value) -> String {
    let code = body["Code"]
        .as_str()
        .or_else(|| body["Response"]["Error"]["Code"].as_str())
        .or_else(|| body["error_code"].as_str())
        .or_else(|| body["__type"].as_str())
        .or_else(|| body["error"]["error_code"].as_str());
    match code {
        Some(c) => format!("{status} {c}"),
        None if status < 300 => "OK".into(),
        None => format!("{status} ?"),
    }
}

/// What the intruder's answers must never contain: the owner's marked texts and plaintext.
fn assert_no_leak(what: &str, body: &Value) {
    let text = body.to_string();
    assert!(
        !text.contains(MARKER),
        "{what} leaked the owner's data: {text}"
    );
    assert!(
        !text.contains("aGVsbG8="),
        "{what} leaked a plaintext: {text}"
    );
}

// --- Alibaba ------------------------------------------------------------------------------

/// Who and what an Alibaba sample names: a secret (name or ARN), a key id, a blob.
struct Names {
    secret: String,
    key: String,
    blob: String,
}

fn alibaba_sample(
    kind: coffer_dialect_alibaba::OperationKind,
    n: &Names,
) -> Vec<(&'static str, String)> {
    use coffer_dialect_alibaba::OperationKind as K;
    let secret = || vec![("SecretName", n.secret.clone())];
    let key = || vec![("KeyId", n.key.clone())];
    match kind {
        K::CreateSecret => vec![
            ("SecretName", n.secret.clone()),
            ("VersionId", "v9".into()),
            ("SecretData", "x".into()),
        ],
        K::GetSecretValue
        | K::PutSecretValue
        | K::UpdateSecret
        | K::UpdateSecretVersionStage
        | K::DescribeSecret
        | K::ListSecretVersionIds
        | K::DeleteSecret
        | K::RestoreSecret
        | K::TagResource
        | K::UntagResource
        | K::GetSecretPolicy
        | K::SetSecretPolicy
        | K::RotateSecret
        | K::UpdateSecretRotationPolicy => secret(),
        K::TagResources | K::UntagResources | K::ListTagResources => {
            vec![("ResourceId.1", n.secret.clone())]
        }
        K::ListSecrets | K::GetRandomPassword | K::CreateKey | K::ListKeys | K::ListAliases => {
            vec![]
        }
        K::DeleteAlias => vec![("AliasName", "alias/fc".into())],
        K::DescribeKey
        | K::EnableKey
        | K::DisableKey
        | K::ScheduleKeyDeletion
        | K::CancelKeyDeletion
        | K::UpdateKeyDescription
        | K::CreateAlias
        | K::UpdateAlias
        | K::ListAliasesByKeyId
        | K::Encrypt
        | K::GenerateDataKey
        | K::GenerateDataKeyWithoutPlaintext
        | K::UpdateRotationPolicy
        | K::CreateKeyVersion
        | K::ListKeyVersions
        | K::DescribeKeyVersion => key(),
        K::Decrypt | K::ReEncrypt => vec![("CiphertextBlob", n.blob.clone())],
    }
}

#[test]
fn every_operation_of_every_dialect_fails_closed() {
    let w = setup();
    let region = "cn-hangzhou";
    let before = w.store_dump();
    let mut counts = BTreeMap::new();

    // A key of the owner's account that is no admin and has no policy: refused everywhere,
    // and nothing changes.
    let owner_names = Names {
        secret: "fc-secret".into(),
        key: w.key_id.clone(),
        blob: w.blob.clone(),
    };
    for kind in coffer_dialect_alibaba::OperationKind::iter() {
        let action: &'static str = kind.into();
        let (status, body) = w.alibaba(&w.plain, action, &alibaba_sample(kind, &owner_names));
        assert_eq!(
            code_of(status, &body),
            "403 Forbidden.NoPermission",
            "alibaba {action}: {body}"
        );
        *counts.entry("alibaba").or_insert(0) += 1;
    }
    for kind in coffer_dialect_tencent::OperationKind::iter() {
        let (status, body) = w.tencent(
            &w.plain,
            coffer_dialect_tencent::api_version(kind),
            coffer_dialect_tencent::wire_name(kind),
            &tencent_sample(kind, "fc-secret", &w.key_id, &w.blob),
        );
        let expected = if tencent_public(kind) {
            "OK"
        } else {
            "200 UnauthorizedOperation"
        };
        assert_eq!(code_of(status, &body), expected, "tencent {kind:?}: {body}");
        *counts.entry("tencent").or_insert(0) += 1;
    }
    for kind in coffer_dialect_aws::OperationKind::iter() {
        let target: &'static str = kind.into();
        let (status, body) = w.aws(&w.plain, target, &aws_sample(kind, "fc-secret", &w.key_id));
        assert_eq!(
            code_of(status, &body),
            "400 AccessDeniedException",
            "aws {target}: {body}"
        );
        *counts.entry("aws").or_insert(0) += 1;
    }
    for kind in coffer_dialect_huawei::OperationKind::iter() {
        let r = huawei_sample(kind, "fc-secret", &w.secret_id, &w.key_id);
        let (status, body) = w.huawei(&w.plain, PROJECT, &r);
        assert_eq!(
            code_of(status, &body),
            huawei_denied(r.v),
            "huawei {}: {body}",
            coffer_dialect_huawei::wire_name(kind)
        );
        *counts.entry("huawei").or_insert(0) += 1;
    }
    for kind in coffer_dialect_native::OperationKind::iter() {
        let (method, path, body) = native_sample(kind, w.owner, &w.owner_admin.id);
        let (status, answer) = w.admin_api(&w.plain, method, &path, body);
        assert_eq!(
            code_of(status, &answer),
            "403 AccessDenied",
            "native {kind:?}: {answer}"
        );
        *counts.entry("native").or_insert(0) += 1;
    }
    assert_eq!(
        w.store_dump(),
        before,
        "a refused request changed the store"
    );

    // An admin key of another account, naming the owner's resources as directly as each
    // API allows: the same answer as for resources that exist nowhere, no leak, no change.
    let view = owner_view(&w);
    let arn = |name: &str| format!("acs:kms:{region}:{}:secret/{name}", w.owner);
    let ghost_key = uuid::Uuid::new_v4().to_string();
    let owner_arns = Names {
        secret: arn("fc-secret"),
        key: w.key_id.clone(),
        blob: w.blob.clone(),
    };
    let ghost_arns = Names {
        secret: arn("ghost-secret"),
        key: ghost_key.clone(),
        blob: w.blob.clone(),
    };
    for kind in coffer_dialect_alibaba::OperationKind::iter() {
        let action: &'static str = kind.into();
        let (s1, b1) = w.alibaba(&w.intruder, action, &alibaba_sample(kind, &owner_arns));
        let (s2, b2) = w.alibaba(&w.intruder, action, &alibaba_sample(kind, &ghost_arns));
        assert_no_leak(action, &b1);
        assert_eq!(
            code_of(s1, &b1),
            code_of(s2, &b2),
            "alibaba {action}: {b1} / {b2}"
        );
    }
    for kind in coffer_dialect_tencent::OperationKind::iter() {
        // Tencent names secrets only inside the caller's scope, so a name is always the
        // intruder's own: each call gets a name used nowhere, and the keys and blobs (which
        // are global ids) are the owner's in one call and nobody's in the other.
        let send = |key: &str| {
            w.tencent(
                &w.intruder,
                coffer_dialect_tencent::api_version(kind),
                coffer_dialect_tencent::wire_name(kind),
                &tencent_sample(kind, &fresh_name(), key, &w.blob),
            )
        };
        let (s1, b1) = send(&w.key_id);
        let (s2, b2) = send(&ghost_key);
        assert_no_leak(coffer_dialect_tencent::wire_name(kind), &b1);
        assert_eq!(
            code_of(s1, &b1),
            code_of(s2, &b2),
            "tencent {kind:?}: {b1} / {b2}"
        );
    }
    // AWS names another account's secret by its ARN, which carries the account's number; a
    // name is always the caller's own, so creates get a name used nowhere.
    let aws_arn = |name: &str| {
        format!(
            "arn:aws:secretsmanager:us-east-1:{:012}:secret:{name}",
            w.owner % 1_000_000_000_000
        )
    };
    for kind in coffer_dialect_aws::OperationKind::iter() {
        let target: &'static str = kind.into();
        let secret = |name: &str| match kind {
            coffer_dialect_aws::OperationKind::CreateSecret => fresh_name(),
            _ => aws_arn(name),
        };
        let (s1, b1) = w.aws(
            &w.intruder,
            target,
            &aws_sample(kind, &secret("fc-secret"), &w.key_id),
        );
        let (s2, b2) = w.aws(
            &w.intruder,
            target,
            &aws_sample(kind, &secret("ghost-secret"), &ghost_key),
        );
        assert_no_leak(target, &b1);
        assert_eq!(
            code_of(s1, &b1),
            code_of(s2, &b2),
            "aws {target}: {b1} / {b2}"
        );
    }
    let ghost_id = uuid::Uuid::new_v4().to_string();
    for kind in coffer_dialect_huawei::OperationKind::iter() {
        let name = coffer_dialect_huawei::wire_name(kind);
        // The owner's project in the path: refused as not the caller's.
        let r = huawei_sample(kind, "fc-secret", &w.secret_id, &w.key_id);
        let (s1, b1) = w.huawei(&w.intruder, PROJECT, &r);
        let g = huawei_sample(kind, "ghost-secret", &ghost_id, &ghost_key);
        let (s2, b2) = w.huawei(&w.intruder, PROJECT, &g);
        assert_no_leak(name, &b1);
        assert_eq!(
            code_of(s1, &b1),
            code_of(s2, &b2),
            "huawei {name}: {b1} / {b2}"
        );
        // Its own project, with the owner's ids (secret id, key id) in the request; names
        // there are the intruder's own, so each call gets a name used nowhere.
        let p = &w.intruder_project;
        let r = huawei_sample(kind, &fresh_name(), &w.secret_id, &w.key_id);
        let g = huawei_sample(kind, &fresh_name(), &ghost_id, &ghost_key);
        let (s1, b1) = w.huawei(&w.intruder, p, &r);
        let (s2, b2) = w.huawei(&w.intruder, p, &g);
        assert_no_leak(name, &b1);
        assert_eq!(
            code_of(s1, &b1),
            code_of(s2, &b2),
            "huawei {name} (own project): {b1} / {b2}"
        );
    }
    let ghost_account = 4_242_424_242_424_242;
    for kind in coffer_dialect_native::OperationKind::iter() {
        let (method, path, body) = native_sample(kind, w.owner, &w.plain.id);
        let (s1, b1) = w.admin_api(&w.intruder, method, &path, body);
        let (method, path, body) = native_sample(kind, ghost_account, "AKghost000000000000");
        let (s2, b2) = w.admin_api(&w.intruder, method, &path, body);
        assert_no_leak(&format!("{kind:?}"), &b1);
        assert_eq!(
            code_of(s1, &b1),
            code_of(s2, &b2),
            "native {kind:?}: {b1} / {b2}"
        );
    }
    assert_eq!(
        owner_view(&w),
        view,
        "the intruder changed the owner's resources"
    );

    // The counts, for the record: every operation of every dialect was tried.
    assert_eq!(
        counts["alibaba"],
        coffer_dialect_alibaba::OperationKind::iter().count()
    );
    assert_eq!(
        counts["aws"], 26,
        "every operation of the Secrets Manager model"
    );
    eprintln!("fail-closed operations tested: {counts:?}");
}

// --- Tencent ------------------------------------------------------------------------------

/// The operations that answer everybody alike (and so succeed for a key without a policy).
fn tencent_public(kind: coffer_dialect_tencent::OperationKind) -> bool {
    use coffer_dialect_tencent::OperationKind as K;
    matches!(
        kind,
        K::GetRegions | K::DescribeSupportedProducts | K::KmsGetServiceStatus
    )
}

fn tencent_sample(
    kind: coffer_dialect_tencent::OperationKind,
    secret: &str,
    key: &str,
    blob: &str,
) -> Value {
    use coffer_dialect_tencent::OperationKind as K;
    match kind {
        K::CreateSecret => json!({"SecretName": secret, "VersionId": "v9", "SecretString": "x"}),
        K::CreateProductSecret => json!({"SecretName": secret, "UserNamePrefix": "fc",
            "ProductName": "Mysql", "InstanceID": "db", "Domains": ["%"],
            "PrivilegesList": [], "EnableRotation": false}),
        K::GetSecretValue | K::PutSecretValue | K::UpdateSecret | K::DeleteSecretVersion => {
            json!({"SecretName": secret, "VersionId": "v1"})
        }
        K::UpdateDescription
        | K::DescribeSecret
        | K::ListSecretVersionIds
        | K::EnableSecret
        | K::DisableSecret
        | K::DeleteSecret
        | K::RestoreSecret
        | K::RotateProductSecret
        | K::UpdateRotationStatus
        | K::DescribeRotationDetail
        | K::DescribeRotationHistory => json!({"SecretName": secret}),
        K::ListSecrets
        | K::GetServiceStatus
        | K::GetRegions
        | K::DescribeSupportedProducts
        | K::CreateKey
        | K::DescribeKeys
        | K::ListKeys
        | K::KmsGetServiceStatus => json!({}),
        K::DescribeAsyncRequestInfo => json!({"FlowID": 1}),
        K::DescribeKey
        | K::EnableKey
        | K::DisableKey
        | K::ScheduleKeyDeletion
        | K::CancelKeyDeletion
        | K::UpdateAlias
        | K::UpdateKeyDescription
        | K::Encrypt
        | K::GenerateDataKey
        | K::EnableKeyRotation
        | K::DisableKeyRotation
        | K::GetKeyRotationStatus => json!({"KeyId": key}),
        K::Decrypt | K::ReEncrypt => json!({"CiphertextBlob": blob}),
    }
}

// --- AWS ----------------------------------------------------------------------------------

/// A request of each operation naming `secret` (a name or an ARN) and `key`.
fn aws_sample(kind: coffer_dialect_aws::OperationKind, secret: &str, key: &str) -> Value {
    use coffer_dialect_aws::OperationKind as K;
    let arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:replica-abcdef";
    match kind {
        K::CreateSecret => json!({"Name": secret, "SecretString": "x", "KmsKeyId": key}),
        K::PutSecretValue => json!({"SecretId": secret, "SecretString": "x"}),
        K::UpdateSecret => json!({"SecretId": secret, "Description": "x", "KmsKeyId": key}),
        K::UpdateSecretVersionStage => json!({"SecretId": secret, "VersionStage": "blue",
            "MoveToVersionId": "00000000-0000-0000-0000-000000000000"}),
        K::TagResource => json!({"SecretId": secret, "Tags": [{"Key": "k", "Value": "v"}]}),
        K::UntagResource => json!({"SecretId": secret, "TagKeys": ["k"]}),
        K::BatchGetSecretValue => json!({"SecretIdList": [secret]}),
        K::ListSecrets | K::GetRandomPassword => json!({}),
        K::PutResourcePolicy => json!({"SecretId": secret, "ResourcePolicy": "{}"}),
        K::ValidateResourcePolicy => json!({"SecretId": secret, "ResourcePolicy": "{}"}),
        K::ReplicateSecretToRegions => {
            json!({"SecretId": secret, "AddReplicaRegions": [{"Region": "eu-west-1"}]})
        }
        K::RemoveRegionsFromReplication => {
            json!({"SecretId": secret, "RemoveReplicaRegions": ["eu-west-1"]})
        }
        K::AssociateCrossAccountReplica | K::DisassociateCrossAccountReplica => {
            json!({"SecretId": secret, "CrossAccountReplicaARN": arn})
        }
        K::GetSecretValue
        | K::DescribeSecret
        | K::ListSecretVersionIds
        | K::DeleteSecret
        | K::RestoreSecret
        | K::GetResourcePolicy
        | K::DeleteResourcePolicy
        | K::ListResourcePolicies
        | K::RotateSecret
        | K::CancelRotateSecret
        | K::StopReplicationToReplica => json!({"SecretId": secret}),
    }
}

// --- the admin API ------------------------------------------------------------------------

fn native_sample(
    kind: coffer_dialect_native::OperationKind,
    account: u64,
    key: &str,
) -> (&'static str, String, Value) {
    use coffer_dialect_native::OperationKind as K;
    let base = "/coffer/v1";
    let acc = format!("{base}/accounts/{account}");
    let ak = format!("{base}/access-keys/{key}");
    let db = format!("{base}/db-instances");
    let q = format!("?AccountId={account}");
    match kind {
        K::CreateAccount => ("POST", format!("{base}/accounts"), json!({"Name": "x"})),
        K::ListAccounts => ("GET", format!("{base}/accounts"), Value::Null),
        K::ShowAccount => ("GET", acc, Value::Null),
        K::DeleteAccount => ("DELETE", acc, Value::Null),
        K::CreateAccessKey => ("POST", format!("{acc}/access-keys"), json!({})),
        K::ListAccessKeys => ("GET", format!("{acc}/access-keys"), Value::Null),
        K::DisableAccessKey => ("POST", format!("{ak}/disable"), Value::Null),
        K::EnableAccessKey => ("POST", format!("{ak}/enable"), Value::Null),
        K::DeleteAccessKey => ("DELETE", ak, Value::Null),
        K::PutPolicy => (
            "PUT",
            format!("{acc}/policies/fc"),
            json!({"Document": r#"{"Version":"1","Statement":[]}"#}),
        ),
        K::GetPolicy => ("GET", format!("{acc}/policies/fc"), Value::Null),
        K::ListPolicies => ("GET", format!("{acc}/policies"), Value::Null),
        K::DeletePolicy => ("DELETE", format!("{acc}/policies/fc"), Value::Null),
        K::AttachPolicy => ("PUT", format!("{ak}/policies/fc"), Value::Null),
        K::DetachPolicy => ("DELETE", format!("{ak}/policies/fc"), Value::Null),
        K::TailAudit => ("GET", format!("{base}/audit"), Value::Null),
        K::AddDbInstance => ("POST", format!("{db}{q}"), json!({})),
        K::ListDbInstances => ("GET", format!("{db}{q}"), Value::Null),
        K::ShowDbInstance => ("GET", format!("{db}/db1{q}"), Value::Null),
        K::RemoveDbInstance => ("DELETE", format!("{db}/db1{q}"), Value::Null),
        K::StartRewrap => ("POST", format!("{base}/rewrap"), json!({})),
        K::ShowRewrap => ("GET", format!("{base}/rewrap"), Value::Null),
    }
}

// --- Huawei -------------------------------------------------------------------------------

/// A Huawei request: method, API version segment (`v1` or `v1.0`), route after the
/// project, query, body.
struct HuaweiRequest {
    method: &'static str,
    v: &'static str,
    route: String,
    query: &'static str,
    body: Value,
}

impl HuaweiRequest {
    fn new(method: &'static str, v: &'static str, route: &str, body: Value) -> Self {
        Self {
            method,
            v,
            route: route.to_string(),
            query: "",
            body,
        }
    }
}

/// The sample of a Huawei operation, built from its documented route (`wire_name`, itself an
/// exhaustive match in the dialect) with the placeholders filled in. Bodies carry every field
/// a permission may name; the rest is read only after authorization.
fn huawei_sample(
    kind: coffer_dialect_huawei::OperationKind,
    secret: &str,
    secret_id: &str,
    key: &str,
) -> HuaweiRequest {
    let wire = coffer_dialect_huawei::wire_name(kind);
    let (method, path) = wire.split_once(' ').unwrap_or(("GET", wire));
    let method = match method {
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        _ => "GET",
    };
    let (v, route) = match path.strip_prefix("/v1.0/{project_id}") {
        Some(route) => ("v1.0", route),
        None => ("v1", path.trim_start_matches("/v1/{project_id}")),
    };
    let route = route
        .replace("{secret_name}", secret)
        .replace("{version_id}", "v1")
        .replace("{stage_name}", "SYSCURRENT")
        .replace("{event_name}", "fc-event")
        .replace("{secret_id}", secret_id)
        .replace("{tag_key}", "team");
    let body = if method == "GET" {
        Value::Null
    } else {
        json!({"name": secret, "secret_name_list": [secret], "key_id": key,
               "destination_key_id": key, "target_key_id": key})
    };
    HuaweiRequest {
        method,
        v,
        route,
        query: "",
        body,
    }
}

/// Huawei's access-denied answer: CSMS and KMS routes share the code, in their two body shapes.
fn huawei_denied(_v: &str) -> &'static str {
    "403 CSMS.0403"
}
