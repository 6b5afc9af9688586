//! The admin API obeys the policies attached to the calling key, over the wire against the
//! real binary: an admin key that a policy restricts can neither lift the restriction (detach
//! or rewrite its policy), nor mint a key without it (an admin key, or a plain key with a
//! policy of its choosing), nor revive a disabled key, nor run an admin action a policy
//! denies; an admin key without a policy still does all of that.

mod common;

use common::{Client, Server, AK, SK};
use serde_json::{json, Value};

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

/// One admin API request signed with `key`, as any SigV4 client sends it.
fn admin(server: &Server, key: &Key, method: &str, path: &str, body: Value) -> (u16, Value) {
    let body = if body.is_null() {
        vec![]
    } else {
        body.to_string().into_bytes()
    };
    let target = path;
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut headers = vec![
        ("host".to_string(), format!("127.0.0.1:{}", server.port)),
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
        "coffer",
        "coffer",
        now(),
    )
    .expect("sign");
    let mut req = ureq::request(method, &format!("{}{target}", server.base()));
    for (k, v) in &headers {
        if k != "host" {
            req = req.set(k, v);
        }
    }
    let (status, text) = match req.send_bytes(&body) {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("transport error: {e}"),
    };
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, json)
}

fn ok(server: &Server, key: &Key, method: &str, path: &str, body: Value) -> Value {
    let (status, answer) = admin(server, key, method, path, body);
    assert_eq!(status, 200, "{method} {path}: {answer}");
    answer
}

/// Refused with 403 AccessDenied naming `action`.
fn denied(server: &Server, key: &Key, method: &str, path: &str, body: Value, action: &str) {
    let (status, answer) = admin(server, key, method, path, body);
    assert_eq!(
        (status, answer["Code"].as_str()),
        (403, Some("AccessDenied")),
        "{method} {path}: {answer}"
    );
    let message = answer["Message"].as_str().unwrap_or_default();
    assert!(message.contains(action), "{method} {path}: {answer}");
}

fn new_key(server: &Server, by: &Key, account: &str, is_admin: bool) -> Key {
    let made = ok(
        server,
        by,
        "POST",
        &format!("/coffer/v1/accounts/{account}/access-keys"),
        json!({"Admin": is_admin}),
    );
    Key {
        id: made["AccessKeyId"].as_str().expect("id").into(),
        secret: made["AccessKeySecret"].as_str().expect("secret").into(),
    }
}

fn put_policy(server: &Server, by: &Key, account: &str, name: &str, statements: Value) {
    let doc = json!({"Version": "1", "Statement": statements}).to_string();
    ok(
        server,
        by,
        "PUT",
        &format!("/coffer/v1/accounts/{account}/policies/{name}"),
        json!({ "Document": doc }),
    );
}

fn attach(server: &Server, by: &Key, key: &Key, name: &str) {
    ok(
        server,
        by,
        "PUT",
        &format!("/coffer/v1/access-keys/{}/policies/{name}", key.id),
        Value::Null,
    );
}

/// The account's keys: id → (admin, enabled, policies).
fn keys_of(server: &Server, by: &Key, account: &str) -> Vec<(String, bool, bool, Vec<String>)> {
    let list = ok(
        server,
        by,
        "GET",
        &format!("/coffer/v1/accounts/{account}/access-keys"),
        Value::Null,
    );
    list["AccessKeys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            (
                k["AccessKeyId"].as_str().unwrap_or_default().to_string(),
                k["Admin"].as_bool().unwrap_or_default(),
                k["Enabled"].as_bool().unwrap_or_default(),
                k["Policies"]
                    .as_array()
                    .map(|p| {
                        p.iter()
                            .filter_map(|n| n.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn cloud(server: &Server, key: &Key) -> Client {
    Client {
        base: server.base(),
        ak: key.id.clone(),
        sk: key.secret.clone(),
    }
}

#[test]
fn an_admin_key_under_a_deny_policy_cannot_lift_it_nor_mint_a_key_without_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&tmp.path().join("data"));
    let operator = Key {
        id: AK.into(),
        secret: SK.into(),
    };
    let team = ok(
        &server,
        &operator,
        "POST",
        "/coffer/v1/accounts",
        json!({"Name": "team"}),
    );
    let t = team["AccountId"].as_str().expect("account").to_string();
    let boss = new_key(&server, &operator, &t, true);
    let restricted = new_key(&server, &boss, &t, true);
    let spare = new_key(&server, &boss, &t, true);
    put_policy(
        &server,
        &boss,
        &t,
        "guard",
        json!([
            {"Effect": "Deny", "Action": "admin:ListAccessKeys", "Resource": "*"},
            {"Effect": "Deny", "Action": "secrets:GetValue", "Resource": "crn:coffer:*:*:secret/prod/*"}
        ]),
    );
    attach(&server, &boss, &restricted, "guard");
    // The data the policy guards.
    let boss_cloud = cloud(&server, &boss);
    boss_cloud.ok(
        "CreateSecret",
        &[
            ("SecretName", "prod/db"),
            ("VersionId", "v1"),
            ("SecretData", "prod-value"),
        ],
    );
    let r = cloud(&server, &restricted);
    let (status, body) = r.call("GetSecretValue", &[("SecretName", "prod/db")]);
    assert_eq!(status, 403, "{body}");
    let before = keys_of(&server, &boss, &t);

    // 1. It cannot detach the policy from itself, nor rewrite it.
    let own_guard = format!("/coffer/v1/access-keys/{}/policies/guard", restricted.id);
    denied(
        &server,
        &restricted,
        "DELETE",
        &own_guard,
        Value::Null,
        "admin:DetachPolicy",
    );
    let open =
        json!({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
            .to_string();
    denied(
        &server,
        &restricted,
        "PUT",
        &format!("/coffer/v1/accounts/{t}/policies/guard"),
        json!({ "Document": open }),
        "admin:PutPolicy",
    );
    // The same refusal through the admin CLI.
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["policy", "detach", "guard", "--access-key", &restricted.id])
        .args(["--endpoint", &server.base()])
        .args(["--access-key-id", &restricted.id])
        .args(["--access-key-secret", &restricted.secret])
        .env_remove("COFFER_ACCESS_KEY_ID")
        .env_remove("COFFER_ACCESS_KEY_SECRET")
        .output()
        .expect("run the CLI");
    let err = String::from_utf8_lossy(&cli.stderr);
    assert!(
        !cli.status.success() && err.contains("AccessDenied") && err.contains("admin:DetachPolicy"),
        "{err}"
    );

    // 2. It cannot mint an admin key, nor a plain key that carries a policy of its choosing.
    denied(
        &server,
        &restricted,
        "POST",
        &format!("/coffer/v1/accounts/{t}/access-keys"),
        json!({"Admin": true}),
        "admin:CreateAdminAccessKey",
    );
    let minted = new_key(&server, &restricted, &t, false);
    denied(
        &server,
        &restricted,
        "PUT",
        &format!("/coffer/v1/accounts/{t}/policies/open"),
        json!({ "Document": open }),
        "admin:PutPolicy",
    );
    denied(
        &server,
        &restricted,
        "PUT",
        &format!("/coffer/v1/access-keys/{}/policies/guard", minted.id),
        Value::Null,
        "admin:AttachPolicy",
    );
    // The plain key it could make has no rights at all.
    let (status, body) =
        cloud(&server, &minted).call("GetSecretValue", &[("SecretName", "prod/db")]);
    assert_eq!(status, 403, "{body}");

    // 3. It may take rights away (disable a key) but not give them back (enable it).
    ok(
        &server,
        &restricted,
        "POST",
        &format!("/coffer/v1/access-keys/{}/disable", spare.id),
        Value::Null,
    );
    denied(
        &server,
        &restricted,
        "POST",
        &format!("/coffer/v1/access-keys/{}/enable", spare.id),
        Value::Null,
        "admin:EnableAccessKey",
    );

    // 4. The admin action its policy denies is refused; one no policy mentions is not.
    denied(
        &server,
        &restricted,
        "GET",
        &format!("/coffer/v1/accounts/{t}/access-keys"),
        Value::Null,
        "admin:ListAccessKeys",
    );
    ok(
        &server,
        &restricted,
        "GET",
        &format!("/coffer/v1/accounts/{t}"),
        Value::Null,
    );

    // Nothing it was refused happened: same keys (but the minted plain one and the disabled
    // spare), the policy still attached and unchanged, the guarded secret still refused.
    let after = keys_of(&server, &boss, &t);
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    assert!(after
        .iter()
        .any(|(id, admin, _, p)| *id == minted.id && !*admin && p.is_empty()));
    assert!(after
        .iter()
        .any(|(id, _, enabled, policies)| *id == restricted.id
            && *enabled
            && *policies == ["guard"]));
    assert!(after
        .iter()
        .any(|(id, _, enabled, _)| *id == spare.id && !*enabled));
    assert_eq!(after.iter().filter(|k| k.1).count(), 3, "{after:?}");
    let doc = ok(
        &server,
        &boss,
        "GET",
        &format!("/coffer/v1/accounts/{t}/policies/guard"),
        Value::Null,
    );
    assert!(doc["Document"]
        .as_str()
        .unwrap_or_default()
        .contains("Deny"));
    let (status, _) = r.call("GetSecretValue", &[("SecretName", "prod/db")]);
    assert_eq!(status, 403);

    // The refusals are audited with the admin action and the resources it names.
    let audit = ok(
        &server,
        &operator,
        "GET",
        "/coffer/v1/audit?limit=200",
        Value::Null,
    );
    let entries = audit["Entries"].as_array().expect("entries");
    let detach = entries
        .iter()
        .find(|e| e["access_key_id"] == restricted.id.as_str() && e["operation"] == "DetachPolicy")
        .expect("the refused detach is audited");
    assert_eq!(detach["action"], "admin:DetachPolicy");
    assert_eq!(detach["status"], 403);
    assert_eq!(
        detach["resource"],
        format!(
            "crn:coffer:*:{t}:access-key/{},crn:coffer:*:{t}:policy/guard",
            restricted.id
        )
    );

    // A plain admin key (no policy) still does all of it.
    ok(
        &server,
        &boss,
        "GET",
        &format!("/coffer/v1/accounts/{t}/access-keys"),
        Value::Null,
    );
    ok(
        &server,
        &boss,
        "POST",
        &format!("/coffer/v1/access-keys/{}/enable", spare.id),
        Value::Null,
    );
    let boss_minted = new_key(&server, &boss, &t, true);
    put_policy(
        &server,
        &boss,
        &t,
        "open",
        json!([{"Effect": "Allow", "Action": "secrets:*", "Resource": "*"}]),
    );
    attach(&server, &boss, &minted, "open");
    assert_eq!(
        cloud(&server, &minted).ok("GetSecretValue", &[("SecretName", "prod/db")])["SecretData"],
        "prod-value"
    );
    ok(&server, &boss, "DELETE", &own_guard, Value::Null);
    // With the policy gone, the once-restricted key may list keys and read the secret.
    ok(
        &server,
        &restricted,
        "GET",
        &format!("/coffer/v1/accounts/{t}/access-keys"),
        Value::Null,
    );
    assert_eq!(
        r.ok("GetSecretValue", &[("SecretName", "prod/db")])["SecretData"],
        "prod-value"
    );
    assert!(keys_of(&server, &boss, &t)
        .iter()
        .any(|(id, admin, _, _)| *id == boss_minted.id && *admin));
}

#[test]
fn an_explicit_allow_delegates_a_granting_action_and_operator_actions_obey_policies_too() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&tmp.path().join("data"));
    let operator = Key {
        id: AK.into(),
        secret: SK.into(),
    };
    let accounts = ok(
        &server,
        &operator,
        "GET",
        "/coffer/v1/accounts",
        Value::Null,
    );
    let op_account = accounts["Accounts"][0]["AccountId"]
        .as_str()
        .expect("operator account")
        .to_string();
    // An operator admin key that may make admin keys (explicitly), but not accounts, and may
    // not read the audit log.
    let delegate = new_key(&server, &operator, &op_account, true);
    put_policy(
        &server,
        &operator,
        &op_account,
        "delegate",
        json!([
            {"Effect": "Allow", "Action": "admin:CreateAdminAccessKey", "Resource": "*"},
            {"Effect": "Deny", "Action": ["admin:CreateAccount", "admin:TailAudit"], "Resource": "*"}
        ]),
    );
    attach(&server, &operator, &delegate, "delegate");
    let made = new_key(&server, &delegate, &op_account, true);
    assert!(keys_of(&server, &operator, &op_account)
        .iter()
        .any(|(id, admin, _, _)| *id == made.id && *admin));
    denied(
        &server,
        &delegate,
        "POST",
        "/coffer/v1/accounts",
        json!({"Name": "x"}),
        "admin:CreateAccount",
    );
    denied(
        &server,
        &delegate,
        "GET",
        "/coffer/v1/audit",
        Value::Null,
        "admin:TailAudit",
    );
    // Its Allow does not reach the other granting actions.
    denied(
        &server,
        &delegate,
        "DELETE",
        &format!("/coffer/v1/access-keys/{}/policies/delegate", delegate.id),
        Value::Null,
        "admin:DetachPolicy",
    );
    // The operator's own key, without a policy, still may.
    ok(
        &server,
        &operator,
        "POST",
        "/coffer/v1/accounts",
        json!({"Name": "x"}),
    );
    ok(&server, &operator, "GET", "/coffer/v1/audit", Value::Null);
    // A key that is no admin gets nothing from a policy that allows every admin action.
    let plain = new_key(&server, &operator, &op_account, false);
    put_policy(
        &server,
        &operator,
        &op_account,
        "all-admin",
        json!([{"Effect": "Allow", "Action": "admin:*", "Resource": "*"}]),
    );
    attach(&server, &operator, &plain, "all-admin");
    denied(
        &server,
        &plain,
        "GET",
        &format!("/coffer/v1/accounts/{op_account}/access-keys"),
        Value::Null,
        "admin:ListAccessKeys",
    );
}
