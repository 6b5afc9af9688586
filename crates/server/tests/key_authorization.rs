//! Attacks on key authorization, tag conditions and put retries, sent over the wire to the
//! real binary by keys restricted with policies (made through the admin API), in every
//! dialect that has the operation; and the legitimate uses next to them, which still work.
//!
//! - A `Deny` on one KMS key holds however a request names the key (id, alias, ARN), for the
//!   key inside a ciphertext (Decrypt, ReEncrypt), for ReEncrypt's destination, for the key a
//!   secret is put under or moved to, and for alias moves.
//! - A key allowed to tag only secrets tagged `team=a` can neither tag a secret out of that
//!   set nor tag one into it.
//! - A put that repeats an existing version id tells nothing about the stored value to a key
//!   that may not read it.

mod common;

use coffer_auth::alibaba::RpcV1Client;
use common::{send, Server, AK, SK};
use serde_json::{json, Value};

const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const KMS: &str = "2019-01-18";
const SSM: &str = "2019-09-23";
const B64_HELLO: &str = "aGVsbG8="; // "hello"

#[derive(Clone)]
struct Key {
    id: String,
    secret: String,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// The answer code of any dialect's body (`OK` for a success).
fn code_of(status: u16, body: &Value) -> String {
    let code = body["Code"]
        .as_str()
        .or_else(|| body["Response"]["Error"]["Code"].as_str())
        .or_else(|| body["error_code"].as_str())
        .or_else(|| body["error"]["error_code"].as_str());
    match code {
        Some(c) => format!("{status} {c}"),
        None if status < 300 => "OK".into(),
        None => format!("{status} ?"),
    }
}

/// The message of any dialect's error body.
fn message_of(body: &Value) -> String {
    body["Message"]
        .as_str()
        .or_else(|| body["Response"]["Error"]["Message"].as_str())
        .or_else(|| body["error_msg"].as_str())
        .or_else(|| body["error"]["error_msg"].as_str())
        .unwrap_or_default()
        .to_string()
}

const ALI_DENIED: &str = "403 Forbidden.NoPermission";
const TC_DENIED: &str = "200 UnauthorizedOperation";
const HW_DENIED: &str = "403 CSMS.0403";

struct World {
    server: Server,
    admin: Key,
    account: u64,
}

impl World {
    fn start() -> World {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let server = Server::start_with(
            &dir.join("data"),
            &[
                ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
                ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
                ("COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID", PROJECT),
            ],
        );
        let mut w = World {
            server,
            admin: Key {
                id: AK.into(),
                secret: SK.into(),
            },
            account: 0,
        };
        let (s, accounts) = w.admin_api("GET", "/coffer/v1/accounts", Value::Null);
        assert_eq!(s, 200, "{accounts}");
        w.account = accounts["Accounts"][0]["AccountId"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("account id");
        w
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.server.port)
    }

    fn admin_api(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let body = if body.is_null() {
            vec![]
        } else {
            body.to_string().into_bytes()
        };
        let mut headers = vec![
            ("host".to_string(), self.host()),
            ("content-type".to_string(), "application/json".to_string()),
        ];
        coffer_auth::sigv4::sign(
            method,
            path,
            "",
            &mut headers,
            &body,
            &self.admin.id,
            self.admin.secret.as_bytes(),
            "local",
            "coffer",
            now(),
        )
        .expect("sign");
        send(&self.server, method, path, &headers, &body)
    }

    /// A key of the account that is not an admin, with `document` attached.
    fn key_with(&self, document: Value) -> Key {
        let (s, k) = self.admin_api(
            "POST",
            &format!("/coffer/v1/accounts/{}/access-keys", self.account),
            json!({"Admin": false}),
        );
        assert_eq!(s, 200, "{k}");
        let key = Key {
            id: k["AccessKeyId"].as_str().unwrap_or_default().into(),
            secret: k["AccessKeySecret"].as_str().unwrap_or_default().into(),
        };
        let name = unique("p");
        let (s, b) = self.admin_api(
            "PUT",
            &format!("/coffer/v1/accounts/{}/policies/{name}", self.account),
            json!({"Document": document.to_string()}),
        );
        assert_eq!(s, 200, "{b}");
        let (s, b) = self.admin_api(
            "PUT",
            &format!("/coffer/v1/access-keys/{}/policies/{name}", key.id),
            Value::Null,
        );
        assert!(s < 300, "{b}");
        key
    }

    fn alibaba(&self, key: &Key, action: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let (ts, n) = (
            common::format_timestamp(now()),
            uuid::Uuid::new_v4().simple().to_string(),
        );
        let client = RpcV1Client {
            access_key_id: &key.id,
            access_key_secret: key.secret.as_bytes(),
            timestamp: &ts,
            nonce: &n,
        };
        let query =
            coffer_auth::alibaba::rpc_v1_query("POST", action, "2016-01-20", params, &client)
                .expect("sign");
        send(&self.server, "POST", &format!("/?{query}"), &[], &[])
    }

    fn ali_ok(&self, key: &Key, action: &str, params: &[(&str, &str)]) -> Value {
        let (s, b) = self.alibaba(key, action, params);
        assert_eq!(s, 200, "alibaba {action}: {b}");
        b
    }

    fn tencent(&self, key: &Key, version: &str, action: &str, body: Value) -> (u16, Value) {
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

    fn huawei(&self, key: &Key, method: &str, path: &str, body: Value) -> (u16, Value) {
        let body = if body.is_null() {
            vec![]
        } else {
            body.to_string().into_bytes()
        };
        let path = path.replace("{project}", PROJECT);
        let headers = coffer_auth::huawei::request_headers(
            method,
            &self.host(),
            &path,
            "",
            &body,
            Some(PROJECT),
            &key.id,
            key.secret.as_bytes(),
            now(),
        );
        send(&self.server, method, &path, &headers, &body)
    }

    /// A key of the account made by the admin, with `alias`; its id.
    fn new_key(&self, alias: &str) -> String {
        let k = self.ali_ok(&self.admin, "CreateKey", &[]);
        let id = k["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.ali_ok(
            &self.admin,
            "CreateAlias",
            &[("KeyId", &id), ("AliasName", alias)],
        );
        id
    }

    fn blob_of(&self, key: &str) -> String {
        let e = self.ali_ok(
            &self.admin,
            "Encrypt",
            &[("KeyId", key), ("Plaintext", B64_HELLO)],
        );
        e["CiphertextBlob"].as_str().unwrap_or_default().to_string()
    }

    /// The key an alias names, as the admin sees it.
    fn holder_of(&self, alias: &str) -> String {
        let d = self.ali_ok(&self.admin, "DescribeKey", &[("KeyId", alias)]);
        d["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn expect(what: &str, (status, body): (u16, Value), code: &str) -> Value {
    assert_eq!(code_of(status, &body), code, "{what}: {body}");
    body
}

/// Item 1: every way to name, use or redirect the denied key B is refused; key A (allowed)
/// works by id, alias and ciphertext; B's alias still names B at the end.
#[test]
fn a_deny_on_a_key_holds_however_the_key_is_named() {
    let w = World::start();
    let a = w.new_key("alias/ka");
    let a2 = w.new_key("alias/ka2");
    let b = w.new_key("alias/kb");
    let (blob_a, blob_b) = (w.blob_of(&a), w.blob_of(&b));
    let k = w.key_with(json!({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["keys:*", "secrets:*"], "Resource": "*"},
        {"Effect": "Deny", "Action": "keys:*", "Resource": format!("crn:coffer:*:*:key/{b}")},
    ]}));
    let arn = |r: &str| format!("acs:kms:cn-hangzhou:{}:{r}", w.account);
    let (b_arn, b_alias_arn) = (arn(&format!("key/{b}")), arn("alias/kb"));

    // --- Alibaba -------------------------------------------------------------------------
    let ali = |action: &str, params: &[(&str, &str)]| w.alibaba(&k, action, params);
    for name in [b.as_str(), "alias/kb", &b_arn, &b_alias_arn] {
        let enc = [("KeyId", name), ("Plaintext", B64_HELLO)];
        let body = expect(name, ali("Encrypt", &enc), ALI_DENIED);
        // The denial names the key by its id, whatever the request called it.
        assert!(message_of(&body).contains(&format!("key/{b}")), "{body}");
        expect(name, ali("GenerateDataKey", &[("KeyId", name)]), ALI_DENIED);
        expect(name, ali("DescribeKey", &[("KeyId", name)]), ALI_DENIED);
        expect(name, ali("DisableKey", &[("KeyId", name)]), ALI_DENIED);
    }
    for name in [a.as_str(), "alias/ka", &arn(&format!("key/{a}"))] {
        let enc = [("KeyId", name), ("Plaintext", B64_HELLO)];
        expect(name, ali("Encrypt", &enc), "OK");
    }
    // Decrypt: judged by the key inside the blob.
    let d = expect(
        "decrypt A",
        ali("Decrypt", &[("CiphertextBlob", &blob_a)]),
        "OK",
    );
    assert_eq!(d["Plaintext"], B64_HELLO);
    let body = expect(
        "decrypt B",
        ali("Decrypt", &[("CiphertextBlob", &blob_b)]),
        ALI_DENIED,
    );
    assert!(!body.to_string().contains(B64_HELLO), "{body}");
    // ReEncrypt: the source by its blob, the destination with keys:Encrypt.
    let re = |blob: &str, dest: &str| {
        ali(
            "ReEncrypt",
            &[("CiphertextBlob", blob), ("DestinationKeyId", dest)],
        )
    };
    let r = expect("re-encrypt A to A2", re(&blob_a, &a2), "OK");
    assert_eq!(r["KeyId"], a2.as_str());
    expect("re-encrypt A to B", re(&blob_a, &b), ALI_DENIED);
    expect(
        "re-encrypt A to alias/kb",
        re(&blob_a, "alias/kb"),
        ALI_DENIED,
    );
    expect("re-encrypt B to A2", re(&blob_b, &a2), ALI_DENIED);
    // A blob that names no key of the scope fails as before.
    expect(
        "garbage",
        ali("Decrypt", &[("CiphertextBlob", "Z2FyYmFnZQ==")]),
        "400 InvalidParameter",
    );
    // A secret under a key encrypts with it.
    let create = |key: &str| {
        ali(
            "CreateSecret",
            &[
                ("SecretName", &unique("s")),
                ("VersionId", "v1"),
                ("SecretData", "x"),
                ("EncryptionKeyId", key),
            ],
        )
    };
    expect("secret under alias/kb", create("alias/kb"), ALI_DENIED);
    expect("secret under B's ARN", create(&b_arn), ALI_DENIED);
    expect("secret under alias/ka", create("alias/ka"), "OK");
    // Alias moves: the key that loses the alias and the key that gets it both change.
    let alias_op = |action: &str, alias: &str, key: Option<&str>| {
        let mut p = vec![("AliasName", alias)];
        if let Some(key) = key {
            p.push(("KeyId", key));
        }
        ali(action, &p)
    };
    expect(
        "take B's alias",
        alias_op("UpdateAlias", "alias/kb", Some(&a)),
        ALI_DENIED,
    );
    expect(
        "give A's alias to B",
        alias_op("UpdateAlias", "alias/ka", Some(&b)),
        ALI_DENIED,
    );
    expect(
        "alias for B",
        alias_op("CreateAlias", "alias/kb2", Some("alias/kb")),
        ALI_DENIED,
    );
    expect(
        "delete B's alias",
        alias_op("DeleteAlias", "alias/kb", None),
        ALI_DENIED,
    );
    expect(
        "alias for A",
        alias_op("CreateAlias", "alias/kc", Some(&a)),
        "OK",
    );
    expect(
        "move it to A2",
        alias_op("UpdateAlias", "alias/kc", Some(&a2)),
        "OK",
    );
    assert_eq!(w.holder_of("alias/kc"), a2);
    expect("delete it", alias_op("DeleteAlias", "alias/kc", None), "OK");

    // --- Tencent -------------------------------------------------------------------------
    let tc = |version: &str, action: &str, body: Value| w.tencent(&k, version, action, body);
    for name in [b.as_str(), "alias/kb"] {
        let enc = json!({"KeyId": name, "Plaintext": B64_HELLO});
        expect(name, tc(KMS, "Encrypt", enc), TC_DENIED);
        expect(
            name,
            tc(KMS, "UpdateAlias", json!({"KeyId": name, "Alias": "moved"})),
            TC_DENIED,
        );
        expect(
            name,
            tc(
                SSM,
                "CreateSecret",
                json!({"SecretName": unique("tc"), "SecretString": "x", "VersionId": "v1", "KmsKeyId": name}),
            ),
            TC_DENIED,
        );
    }
    let described = |ids: Value| tc(KMS, "DescribeKeys", json!({ "KeyIds": ids }));
    expect("tencent describe B", described(json!([a, b])), TC_DENIED);
    expect(
        "tencent describe B's alias",
        described(json!(["alias/kb"])),
        TC_DENIED,
    );
    let d = expect(
        "tencent describe A",
        described(json!(["alias/ka", a2])),
        "OK",
    );
    assert_eq!(d["Response"]["KeyMetadatas"][0]["KeyId"], a.as_str());
    assert_eq!(d["Response"]["KeyMetadatas"][1]["KeyId"], a2.as_str());
    expect(
        "tencent encrypt alias/ka",
        tc(
            KMS,
            "Encrypt",
            json!({"KeyId": "alias/ka", "Plaintext": B64_HELLO}),
        ),
        "OK",
    );
    expect(
        "tencent secret under A",
        tc(
            SSM,
            "CreateSecret",
            json!({"SecretName": unique("tc"), "SecretString": "x", "VersionId": "v1", "KmsKeyId": a}),
        ),
        "OK",
    );
    let r = expect(
        "tencent decrypt A",
        tc(KMS, "Decrypt", json!({"CiphertextBlob": blob_a})),
        "OK",
    );
    assert_eq!(r["Response"]["Plaintext"], B64_HELLO);
    expect(
        "tencent decrypt B",
        tc(KMS, "Decrypt", json!({"CiphertextBlob": blob_b})),
        TC_DENIED,
    );
    let re = |blob: &str, dest: Option<&str>| {
        let mut body = json!({"CiphertextBlob": blob});
        if let Some(d) = dest {
            body["DestinationKeyId"] = json!(d);
        }
        tc(KMS, "ReEncrypt", body)
    };
    expect("tencent A to A2", re(&blob_a, Some(&a2)), "OK");
    expect("tencent A to itself", re(&blob_a, None), "OK");
    expect("tencent A to B", re(&blob_a, Some(&b)), TC_DENIED);
    expect(
        "tencent A to alias/kb",
        re(&blob_a, Some("alias/kb")),
        TC_DENIED,
    );
    expect("tencent B to itself", re(&blob_b, None), TC_DENIED);
    expect("tencent B to A", re(&blob_b, Some(&a)), TC_DENIED);

    // --- Huawei --------------------------------------------------------------------------
    let hw = |method: &str, path: &str, body: Value| w.huawei(&k, method, path, body);
    let kms = |op: &str| format!("/v1.0/{{project}}/kms/{op}");
    for name in [b.as_str(), "alias/kb"] {
        expect(
            name,
            hw(
                "POST",
                &kms("encrypt-data"),
                json!({"key_id": name, "plain_text": "hello"}),
            ),
            HW_DENIED,
        );
        expect(
            name,
            hw("POST", &kms("describe-key"), json!({"key_id": name})),
            HW_DENIED,
        );
        expect(
            name,
            hw(
                "POST",
                "/v1/{project}/secrets",
                json!({"name": unique("hw"), "secret_string": "x", "kms_key_id": name}),
            ),
            HW_DENIED,
        );
    }
    expect(
        "huawei encrypt A",
        hw(
            "POST",
            &kms("encrypt-data"),
            json!({"key_id": "alias/ka", "plain_text": "hello"}),
        ),
        "OK",
    );
    let r = expect(
        "huawei decrypt A",
        hw("POST", &kms("decrypt-data"), json!({"cipher_text": blob_a})),
        "OK",
    );
    assert_eq!(r["plain_text"], "hello");
    expect(
        "huawei decrypt B",
        hw("POST", &kms("decrypt-data"), json!({"cipher_text": blob_b})),
        HW_DENIED,
    );
    let re = |blob: &str, dest: &str| {
        hw(
            "POST",
            &kms("re-encrypt"),
            json!({"cipher_text": blob, "destination_key_id": dest}),
        )
    };
    expect("huawei A to A2", re(&blob_a, &a2), "OK");
    expect("huawei A to B", re(&blob_a, &b), HW_DENIED);
    expect("huawei B to A2", re(&blob_b, &a2), HW_DENIED);
    // A secret created under A, then moved: to B refused, to A2 fine.
    let name = unique("hw");
    expect(
        "huawei secret under A",
        hw(
            "POST",
            "/v1/{project}/secrets",
            json!({"name": name, "secret_string": "x", "kms_key_id": a}),
        ),
        "OK",
    );
    let path = format!("/v1/{{project}}/secrets/{name}");
    expect(
        "move to B",
        hw("PUT", &path, json!({"kms_key_id": "alias/kb"})),
        HW_DENIED,
    );
    let moved = expect(
        "move to A2",
        hw("PUT", &path, json!({"kms_key_id": a2})),
        "OK",
    );
    assert_eq!(moved["secret"]["kms_key_id"], a2.as_str());
    // Aliases: moving B's alias away, adding one to B, deleting B's.
    expect(
        "associate B's alias with A",
        hw(
            "POST",
            &kms("alias/associate"),
            json!({"alias": "alias/kb", "target_key_id": a}),
        ),
        HW_DENIED,
    );
    expect(
        "associate A2's alias with B",
        hw(
            "POST",
            &kms("alias/associate"),
            json!({"alias": "alias/ka2", "target_key_id": b}),
        ),
        HW_DENIED,
    );
    expect(
        "alias for B",
        hw(
            "POST",
            &kms("aliases"),
            json!({"key_id": b, "alias": "alias/hwb"}),
        ),
        HW_DENIED,
    );
    expect(
        "delete B's alias",
        hw(
            "DELETE",
            &kms("aliases"),
            json!({"key_id": b, "aliases": ["alias/kb"]}),
        ),
        HW_DENIED,
    );
    expect(
        "alias for A",
        hw(
            "POST",
            &kms("aliases"),
            json!({"key_id": a, "alias": "alias/hwa"}),
        ),
        "OK",
    );
    expect(
        "move it to A2",
        hw(
            "POST",
            &kms("alias/associate"),
            json!({"alias": "alias/hwa", "target_key_id": a2}),
        ),
        "OK",
    );
    assert_eq!(w.holder_of("alias/hwa"), a2);

    // Nothing moved off B, and B is still enabled.
    assert_eq!(w.holder_of("alias/kb"), b);
    assert_eq!(w.holder_of("alias/ka"), a);
    let d = w.ali_ok(&w.admin, "DescribeKey", &[("KeyId", &b)]);
    assert_eq!(d["KeyMetadata"]["KeyState"], "Enabled");
}

/// Item 2: a key allowed `secrets:Tag` only on secrets tagged `team=a` can change other tags
/// of those secrets, but cannot retag or untag one out of the set nor tag one into it.
#[test]
fn a_tag_condition_holds_before_and_after_the_change() {
    let w = World::start();
    let (sa, sb) = (unique("team-a"), unique("team-b"));
    for (name, team) in [(&sa, "a"), (&sb, "b")] {
        let tags = format!(r#"[{{"TagKey":"team","TagValue":"{team}"}}]"#);
        w.ali_ok(
            &w.admin,
            "CreateSecret",
            &[
                ("SecretName", name),
                ("VersionId", "v1"),
                ("SecretData", "x"),
                ("Tags", &tags),
            ],
        );
    }
    let k = w.key_with(json!({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "secrets:Tag", "Resource": "*",
         "Condition": {"StringEquals": {"coffer:ResourceTag/team": "a"}}},
    ]}));
    let ali = |action: &str, params: &[(&str, &str)]| w.alibaba(&k, action, params);
    let tag = |name: &str, key: &str, value: &str| {
        let tags = format!(r#"[{{"TagKey":"{key}","TagValue":"{value}"}}]"#);
        ali("TagResource", &[("SecretName", name), ("Tags", &tags)])
    };
    let untag = |name: &str, key: &str| {
        let keys = format!(r#"["{key}"]"#);
        ali("UntagResource", &[("SecretName", name), ("TagKeys", &keys)])
    };
    // Out of the set, into it: refused.
    expect("retag a as b", tag(&sa, "team", "b"), ALI_DENIED);
    expect("untag a's team", untag(&sa, "team"), ALI_DENIED);
    expect("tag b as a", tag(&sb, "team", "a"), ALI_DENIED);
    let batch = |action: &str, extra: &[(&str, &str)]| {
        let mut p = vec![("ResourceId.1", sa.as_str()), ("ResourceType", "secret")];
        p.extend_from_slice(extra);
        ali(action, &p)
    };
    expect(
        "TagResources team=b",
        batch(
            "TagResources",
            &[("Tag.1.Key", "team"), ("Tag.1.Value", "b")],
        ),
        ALI_DENIED,
    );
    expect(
        "UntagResources team",
        batch("UntagResources", &[("TagKey.1", "team")]),
        ALI_DENIED,
    );
    expect(
        "UntagResources all",
        batch("UntagResources", &[("All", "true")]),
        ALI_DENIED,
    );
    // Other tags of the set's secrets: fine.
    expect("tag a env", tag(&sa, "env", "x"), "OK");
    expect("untag a env", untag(&sa, "env"), "OK");
    expect(
        "TagResources env",
        batch(
            "TagResources",
            &[("Tag.1.Key", "env"), ("Tag.1.Value", "y")],
        ),
        "OK",
    );
    expect(
        "UntagResources env",
        batch("UntagResources", &[("TagKey.1", "env")]),
        "OK",
    );
    expect("retag a as a", tag(&sa, "team", "a"), "OK");

    // Huawei's tag routes, by secret id.
    let shown = w.huawei(
        &w.admin,
        "GET",
        &format!("/v1/{{project}}/secrets/{sa}"),
        Value::Null,
    );
    let id = shown.1["secret"]["id"].as_str().unwrap_or_default();
    let tags = format!("/v1/{{project}}/csms/{id}/tags");
    let hw = |method: &str, path: &str, body: Value| w.huawei(&k, method, path, body);
    expect(
        "huawei retag",
        hw("POST", &tags, json!({"tag": {"key": "team", "value": "b"}})),
        HW_DENIED,
    );
    let action = format!("{tags}/action");
    expect(
        "huawei batch retag",
        hw(
            "POST",
            &action,
            json!({"action": "create", "tags": [{"key": "team", "value": "c"}]}),
        ),
        HW_DENIED,
    );
    expect(
        "huawei batch untag",
        hw(
            "POST",
            &action,
            json!({"action": "delete", "tags": [{"key": "team", "value": "a"}]}),
        ),
        HW_DENIED,
    );
    expect(
        "huawei untag",
        hw("DELETE", &format!("{tags}/team"), Value::Null),
        HW_DENIED,
    );
    expect(
        "huawei tag env",
        hw("POST", &tags, json!({"tag": {"key": "env", "value": "z"}})),
        "OK",
    );
    expect(
        "huawei untag env",
        hw("DELETE", &format!("{tags}/env"), Value::Null),
        "OK",
    );

    // The teams are as they were.
    for (name, team) in [(&sa, "a"), (&sb, "b")] {
        let d = w.ali_ok(
            &w.admin,
            "DescribeSecret",
            &[("SecretName", name), ("FetchTags", "true")],
        );
        assert_eq!(
            d["Tags"]["Tag"],
            json!([{"TagKey": "team", "TagValue": team}]),
            "{name}: {d}"
        );
    }
}

/// Item 3: a key that may put values but not read them gets one answer for a retry of an
/// existing version whatever value it guesses; a key that may read them keeps the clouds'
/// idempotent retry.
#[test]
fn a_retried_put_tells_nothing_without_get_value() {
    let w = World::start();
    let name = unique("put");
    w.ali_ok(
        &w.admin,
        "CreateSecret",
        &[
            ("SecretName", &name),
            ("VersionId", "v1"),
            ("SecretData", "the-secret"),
        ],
    );
    let writer = w.key_with(json!({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "secrets:PutValue", "Resource": "*"},
    ]}));
    let reader_writer = w.key_with(json!({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["secrets:PutValue", "secrets:GetValue"], "Resource": "*"},
    ]}));
    let put = |key: &Key, version: &str, value: &str| {
        w.alibaba(
            key,
            "PutSecretValue",
            &[
                ("SecretName", &name),
                ("VersionId", version),
                ("SecretData", value),
            ],
        )
    };
    // The attack: the right guess and a wrong one get the same answer, a denial that names
    // the missing right.
    let right = expect("right guess", put(&writer, "v1", "the-secret"), ALI_DENIED);
    let wrong = expect("wrong guess", put(&writer, "v1", "not-it"), ALI_DENIED);
    assert_eq!(message_of(&right), message_of(&wrong));
    assert!(message_of(&right).contains("secrets:GetValue"), "{right}");
    // A new version needs no read right.
    expect("new version", put(&writer, "v2", "next"), "OK");
    // With the read right, the retry is idempotent and a different value is refused.
    expect("retry", put(&reader_writer, "v2", "next"), "OK");
    let (s, b) = put(&reader_writer, "v2", "other");
    assert!(s >= 400 && s != 403, "a different value: {b}");

    // Tencent refuses a repeated version id whatever its value: the same answer either way.
    let tc = |value: &str| {
        w.tencent(
            &writer,
            SSM,
            "PutSecretValue",
            json!({"SecretName": name, "VersionId": "v1", "SecretString": value}),
        )
    };
    let (s1, b1) = tc("the-secret");
    let (s2, b2) = tc("not-it");
    assert_ne!(code_of(s1, &b1), "OK", "{b1}");
    assert_eq!(code_of(s1, &b1), code_of(s2, &b2), "{b1} / {b2}");

    // Nothing was overwritten.
    let v = w.ali_ok(
        &w.admin,
        "GetSecretValue",
        &[("SecretName", &name), ("VersionId", "v1")],
    );
    assert_eq!(v["SecretData"], "the-secret");
    let v = w.ali_ok(
        &w.admin,
        "GetSecretValue",
        &[("SecretName", &name), ("VersionId", "v2")],
    );
    assert_eq!(v["SecretData"], "next");
}
