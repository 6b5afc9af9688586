//! Managed database secrets against the real binary and the machine's MariaDB and
//! PostgreSQL, as an attacker would try them:
//! - a key allowed to create secrets but not `databases:Use` on the instance cannot make a
//!   database account (Tencent CreateProductSecret), claim one (Alibaba Rds, Huawei RDS-FG)
//!   or rotate one; with `databases:Use` on the instance it can;
//! - an account is given only privileges on the instance's allow-list;
//! - an account other than the operator registers instances only on the hosts the operator
//!   allowed, is refused elsewhere before any connection, and learns nothing from a failed
//!   check;
//! - TLS to PostgreSQL and MariaDB with the instance's CA (and not another), set up by
//!   `coffer db-instance add` with the admin password from a file or standard input.
//!
//! Needs scripts/pg-test-auth and scripts/db-test-tls (run here on first use).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use coffer_auth::alibaba::RpcV1Client;
use common::{send, Server, AK, SK};
use serde_json::{json, Value};

const PROJECT: &str = "fedcba9876543210fedcba9876543210";

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
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn run_script(name: &str) {
    let script = format!("{}/../../scripts/{name}", env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(&script).status().expect("run a setup script");
    assert!(status.success(), "{name} failed");
}

fn setup_databases() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        run_script("pg-test-auth");
        run_script("db-test-tls");
    });
}

fn tls_dir() -> std::path::PathBuf {
    std::env::var_os("COFFER_TEST_TLS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/var/lib/coffer-test-tls".into())
}

fn maria(sql: &str) {
    let out = Command::new("mysql")
        .args([
            "-h127.0.0.1",
            "-P3306",
            "-uroot",
            "--protocol=TCP",
            "-N",
            "-e",
            sql,
        ])
        .output()
        .expect("mysql client");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether an account whose name starts with `prefix` (taken literally) exists.
fn maria_user_exists(prefix: &str) -> bool {
    let out = Command::new("mysql")
        .args([
            "-h127.0.0.1",
            "-P3306",
            "-uroot",
            "--protocol=TCP",
            "-N",
            "-e",
            &format!(
                "SELECT COUNT(*) FROM mysql.user WHERE User LIKE '{}%'",
                prefix.replace('_', "\\_")
            ),
        ])
        .output()
        .expect("mysql client");
    String::from_utf8_lossy(&out.stdout).trim() != "0"
}

fn pg(sql: &str) {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-tAqc",
            sql,
        ])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct World {
    server: Server,
    admin: Key,
    account: String,
}

impl World {
    fn start(env: &[(&str, &str)]) -> World {
        setup_databases();
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let mut all = vec![
            ("COFFER_BOOTSTRAP_ACCESS_KEY_ID", AK),
            ("COFFER_BOOTSTRAP_ACCESS_KEY_SECRET", SK),
            ("COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID", PROJECT),
        ];
        all.extend_from_slice(env);
        let server = Server::start_with(&dir.join("data"), &all);
        let mut w = World {
            server,
            admin: Key {
                id: AK.into(),
                secret: SK.into(),
            },
            account: String::new(),
        };
        let (s, accounts) = w.admin_api(&w.admin, "GET", "/coffer/v1/accounts", Value::Null);
        assert_eq!(s, 200, "{accounts}");
        w.account = accounts["Accounts"][0]["AccountId"]
            .as_str()
            .expect("account id")
            .to_string();
        w
    }

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

    fn tencent(&self, key: &Key, action: &str, body: &Value) -> (u16, Value) {
        let body = body.to_string().into_bytes();
        let headers = coffer_auth::tencent::tc3_post_json_headers(
            action,
            "2019-09-23",
            Some("ap-guangzhou"),
            &self.host(),
            &body,
            &key.id,
            key.secret.as_bytes(),
            now(),
        );
        send(&self.server, "POST", "/", &headers, &body)
    }

    fn huawei(&self, key: &Key, method: &str, route: &str, body: &Value) -> (u16, Value) {
        let body = if body.is_null() {
            vec![]
        } else {
            body.to_string().into_bytes()
        };
        let path = format!("/v1/{PROJECT}{route}");
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

    /// A key of `account` that is not an admin, with one policy allowing `actions` on
    /// `resources`.
    fn key_with_policy(&self, account: &str, actions: &[&str], resources: &[&str]) -> Key {
        let (s, k) = self.admin_api(
            &self.admin,
            "POST",
            &format!("/coffer/v1/accounts/{account}/access-keys"),
            json!({"Admin": false}),
        );
        assert_eq!(s, 200, "{k}");
        let key = Key {
            id: k["AccessKeyId"].as_str().expect("id").into(),
            secret: k["AccessKeySecret"].as_str().expect("secret").into(),
        };
        let policy = unique("p");
        let doc = json!({"Version": "1", "Statement": [
            {"Effect": "Allow", "Action": actions, "Resource": resources}]});
        let (s, b) = self.admin_api(
            &self.admin,
            "PUT",
            &format!("/coffer/v1/accounts/{account}/policies/{policy}"),
            json!({"Document": doc.to_string()}),
        );
        assert_eq!(s, 200, "{b}");
        let (s, b) = self.admin_api(
            &self.admin,
            "PUT",
            &format!("/coffer/v1/access-keys/{}/policies/{policy}", key.id),
            Value::Null,
        );
        assert_eq!(s, 200, "{b}");
        key
    }

    fn register(&self, key: &Key, body: Value) -> (u16, Value) {
        self.admin_api(key, "POST", "/coffer/v1/db-instances", body)
    }

    /// The `coffer` CLI against this server as the operator; `stdin` is fed to it.
    fn cli(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(args)
            .args([
                "--endpoint",
                &self.server.base(),
                "--access-key-id",
                AK,
                "--access-key-secret",
                SK,
                "--json",
            ])
            .env_remove("COFFER_DB_ADMIN_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the coffer CLI");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("CLI output");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn maria_instance(id: &str) -> Value {
    json!({"DBInstanceId": id, "Engine": "mariadb", "Host": "127.0.0.1", "Port": 3306,
           "AdminUser": "root", "AdminPassword": ""})
}

fn pg_instance(id: &str) -> Value {
    json!({"DBInstanceId": id, "Engine": "postgres", "Host": "127.0.0.1", "Port": 5432,
           "AdminUser": "postgres", "AdminPassword": ""})
}

/// A Tencent product secret whose account is `<prefix>_<random>`.
fn product_secret(name: &str, prefix: &str, instance: &str, privileges: Value) -> Value {
    json!({"SecretName": name, "UserNamePrefix": prefix, "ProductName": "MariaDB",
           "InstanceID": instance, "Domains": ["127.0.0.1"], "PrivilegesList": privileges,
           "EnableRotation": false})
}

fn rds_params<'a>(name: &'a str, config: &'a str, data: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("SecretName", name),
        ("VersionId", "v1"),
        ("SecretType", "Rds"),
        ("SecretData", data),
        ("ExtendedConfig", config),
    ]
}

#[test]
fn managed_secrets_need_databases_use_on_the_instance() {
    let w = World::start(&[]);
    let (maria_id, pg_id) = ("maria-e2e", "pg-e2e");
    for body in [maria_instance(maria_id), pg_instance(pg_id)] {
        let (s, b) = w.register(&w.admin, body);
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["Tls"], "disable", "a loopback host defaults to no TLS");
    }
    // Accounts that exist, for the Alibaba and Huawei secrets that claim them.
    let (ali_account, hw_account) = (unique("e2e_ali"), unique("e2e_hw"));
    for a in [&ali_account, &hw_account] {
        maria(&format!(
            "CREATE USER '{a}'@'%' IDENTIFIED BY 'Start-pw-1'; GRANT SELECT ON test.* TO '{a}'@'%'"
        ));
    }
    let secrets_only = w.key_with_policy(&w.account, &["secrets:*"], &["*"]);
    let with_db = w.key_with_policy(
        &w.account,
        &["secrets:*", "databases:Use"],
        &[
            "crn:coffer:*:*:secret/*",
            &format!("crn:coffer:*:*:instance/{maria_id}"),
        ],
    );
    let select = json!([{"PrivilegeName": "DatabasePrivileges", "Database": "test",
                         "Privileges": ["SELECT"]}]);
    let ali_config = format!(r#"{{"SecretSubType":"SingleUser","DBInstanceId":"{maria_id}"}}"#);
    let ali_data = format!(
        r#"{{"Accounts":[{{"AccountName":"{ali_account}","AccountPassword":"Start-pw-1"}}]}}"#
    );
    let hw_body = |name: &str, instance: &str| {
        json!({"name": name, "secret_type": "RDS-FG",
               "rotation_config": format!(r#"{{"InstanceId":"{instance}","SecretSubType":"SingleUser"}}"#),
               "secret_string": format!(r#"{{"username":"{hw_account}","password":"Start-pw-1"}}"#)})
    };

    // secrets:Create (everything on secrets) but not databases:Use: refused in every dialect,
    // naming databases:Use, and nothing is made.
    let (s, b) = w.tencent(
        &secrets_only,
        "CreateProductSecret",
        &product_secret("tc-denied", "e2etc", maria_id, select.clone()),
    );
    assert_eq!(s, 200);
    assert_eq!(
        b["Response"]["Error"]["Code"], "UnauthorizedOperation",
        "{b}"
    );
    assert!(b.to_string().contains("databases:Use"), "{b}");
    let (s, b) = w.alibaba(
        &secrets_only,
        "CreateSecret",
        &rds_params("ali-denied", &ali_config, &ali_data),
    );
    assert_eq!(
        (s, b["Code"].as_str()),
        (403, Some("Forbidden.NoPermission")),
        "{b}"
    );
    let (s, b) = w.huawei(
        &secrets_only,
        "POST",
        "/secrets",
        &hw_body("hw-denied", maria_id),
    );
    assert_eq!(
        (s, b["error_code"].as_str()),
        (403, Some("CSMS.0403")),
        "{b}"
    );
    for name in ["tc-denied", "ali-denied", "hw-denied"] {
        let (_, d) = w.alibaba(&w.admin, "DescribeSecret", &[("SecretName", name)]);
        assert_eq!(d["Code"], "Forbidden.ResourceNotFound", "{name}: {d}");
    }
    assert!(!maria_user_exists("e2etc_"), "no database account was made");

    // databases:Use on another instance is not enough.
    let (_, b) = w.tencent(
        &with_db,
        "CreateProductSecret",
        &product_secret(
            "tc-other",
            "e2etc",
            pg_id,
            json!([{"PrivilegeName": "DatabasePrivileges",
            "Database": "postgres", "Privileges": ["CONNECT"]}]),
        ),
    );
    assert_eq!(
        b["Response"]["Error"]["Code"], "UnauthorizedOperation",
        "{b}"
    );

    // With databases:Use on the instance: each dialect creates its managed secret.
    let (_, b) = w.tencent(
        &with_db,
        "CreateProductSecret",
        &product_secret("tc-ok", "e2etc", maria_id, select.clone()),
    );
    assert!(b["Response"]["Error"].is_null(), "{b}");
    let (s, b) = w.alibaba(
        &with_db,
        "CreateSecret",
        &rds_params("ali-ok", &ali_config, &ali_data),
    );
    assert_eq!(s, 200, "{b}");
    let (s, b) = w.huawei(&with_db, "POST", "/secrets", &hw_body("hw-ok", maria_id));
    assert_eq!(s, 200, "{b}");

    // Rotating makes the database change the account: the same rule.
    let (s, b) = w.alibaba(
        &secrets_only,
        "RotateSecret",
        &[("SecretName", "ali-ok"), ("VersionId", "v2")],
    );
    assert_eq!(
        (s, b["Code"].as_str()),
        (403, Some("Forbidden.NoPermission")),
        "{b}"
    );
    let (s, b) = w.huawei(&secrets_only, "POST", "/secrets/hw-ok/rotate", &json!({}));
    assert_eq!(s, 403, "{b}");
    let (_, b) = w.tencent(
        &secrets_only,
        "RotateProductSecret",
        &json!({"SecretName": "tc-ok"}),
    );
    assert_eq!(
        b["Response"]["Error"]["Code"], "UnauthorizedOperation",
        "{b}"
    );
    let (_, b) = w.tencent(
        &secrets_only,
        "UpdateRotationStatus",
        &json!({"SecretName": "tc-ok", "EnableRotation": true, "Frequency": 30}),
    );
    assert_eq!(
        b["Response"]["Error"]["Code"], "UnauthorizedOperation",
        "{b}"
    );
    let (s, b) = w.alibaba(
        &with_db,
        "RotateSecret",
        &[("SecretName", "ali-ok"), ("VersionId", "v2")],
    );
    assert_eq!(s, 200, "{b}");

    // Admin keys hold databases:Use like every other action of their account.
    let (s, b) = w.alibaba(
        &w.admin,
        "RotateSecret",
        &[("SecretName", "ali-ok"), ("VersionId", "v3")],
    );
    assert_eq!(s, 200, "{b}");

    for name in ["ali-ok", "hw-ok", "tc-ok"] {
        w.alibaba(
            &w.admin,
            "DeleteSecret",
            &[("SecretName", name), ("ForceDeleteWithoutRecovery", "true")],
        );
    }
    maria(&format!(
        "DROP USER IF EXISTS '{ali_account}'@'%'; DROP USER IF EXISTS '{hw_account}'@'%'"
    ));
    // The product secret's own account (e2e_<random>) on its host.
    let out = Command::new("mysql")
        .args([
            "-h127.0.0.1",
            "-P3306",
            "-uroot",
            "--protocol=TCP",
            "-N",
            "-e",
            "SELECT CONCAT('DROP USER `', User, '`@`', Host, '`;') FROM mysql.user WHERE User LIKE 'e2etc\\_%'",
        ])
        .output()
        .expect("mysql");
    let drops = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    if !drops.trim().is_empty() {
        maria(&drops);
    }
}

#[test]
fn privileges_outside_the_allow_list_are_refused() {
    let w = World::start(&[]);
    let (s, b) = w.register(&w.admin, maria_instance("maria-default"));
    assert_eq!(s, 200, "{b}");
    let allowed = b["AllowedPrivileges"].as_array().expect("list").clone();
    for p in ["SELECT", "INSERT", "UPDATE", "DELETE"] {
        assert!(allowed.contains(&json!(p)), "{p} in the default list");
    }
    for p in [
        "ALL PRIVILEGES",
        "GRANT OPTION",
        "SUPER",
        "CREATE USER",
        "FILE",
        "GLOBAL",
    ] {
        assert!(!allowed.contains(&json!(p)), "{p} not in the default list");
    }
    for (privileges, named) in [
        (
            json!([{"PrivilegeName": "GlobalPrivileges", "Privileges": ["ALL PRIVILEGES"]}]),
            "server level",
        ),
        (
            json!([{"PrivilegeName": "DatabasePrivileges", "Database": "test", "Privileges": ["ALL"]}]),
            "ALL PRIVILEGES",
        ),
        (
            json!([{"PrivilegeName": "DatabasePrivileges", "Database": "test", "Privileges": ["SELECT", "PROCESS"]}]),
            "PROCESS",
        ),
        (
            json!([{"PrivilegeName": "TablePrivileges", "Database": "mysql", "TableName": "global_priv", "Privileges": ["UPDATE"]}]),
            "server level",
        ),
    ] {
        let (_, b) = w.tencent(
            &w.admin,
            "CreateProductSecret",
            &product_secret("tc-wide", "e2epv", "maria-default", privileges),
        );
        let e = &b["Response"]["Error"];
        assert_eq!(e["Code"], "InvalidParameterValue", "{b}");
        let msg = e["Message"].as_str().unwrap_or_default();
        assert!(
            msg.contains("PrivilegesList") && msg.contains(named),
            "{msg}"
        );
        assert!(msg.contains("maria-default"), "{msg}");
    }
    assert!(!maria_user_exists("e2epv_"), "no account was made");

    // The operator's own list: only what it names.
    let mut body = maria_instance("maria-narrow");
    body["AllowedPrivileges"] = json!(["select"]);
    let (s, b) = w.register(&w.admin, body);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["AllowedPrivileges"], json!(["SELECT"]));
    let (_, b) = w.tencent(
        &w.admin,
        "CreateProductSecret",
        &product_secret(
            "tc-insert",
            "e2epv",
            "maria-narrow",
            json!([{"PrivilegeName": "DatabasePrivileges",
            "Database": "test", "Privileges": ["SELECT", "INSERT"]}]),
        ),
    );
    let msg = b["Response"]["Error"]["Message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("INSERT"), "{b}");
    // A name no engine has is refused at registration, naming the field.
    let mut body = maria_instance("maria-typo");
    body["AllowedPrivileges"] = json!(["SELEKT"]);
    let (s, b) = w.register(&w.admin, body);
    assert_eq!(
        (s, b["Code"].as_str()),
        (400, Some("InvalidParameter")),
        "{b}"
    );
    assert!(
        b["Message"]
            .as_str()
            .unwrap_or_default()
            .contains("AllowedPrivileges"),
        "{b}"
    );
}

#[test]
fn tenants_register_instances_only_on_allowed_hosts() {
    let w = World::start(&[("COFFER_DB_HOSTS_ALLOWED", "127.0.0.2, db.internal")]);
    let (s, t) = w.admin_api(
        &w.admin,
        "POST",
        "/coffer/v1/accounts",
        json!({"Name": "tenant"}),
    );
    assert_eq!(s, 200, "{t}");
    let tenant = t["AccountId"].as_str().expect("id").to_string();
    let (s, k) = w.admin_api(
        &w.admin,
        "POST",
        &format!("/coffer/v1/accounts/{tenant}/access-keys"),
        json!({"Admin": true}),
    );
    assert_eq!(s, 200, "{k}");
    let tenant_admin = Key {
        id: k["AccessKeyId"].as_str().expect("id").into(),
        secret: k["AccessKeySecret"].as_str().expect("secret").into(),
    };

    // Something listening where the tenant points: it must never be called.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    for check in [true, false] {
        let (s, b) = w.register(
            &tenant_admin,
            json!({"DBInstanceId": "probe", "Engine": "mysql", "Host": "127.0.0.1", "Port": port,
                   "AdminUser": "root", "AdminPassword": "", "Check": check}),
        );
        assert_eq!(
            (s, b["Code"].as_str()),
            (403, Some("HostNotAllowed")),
            "{b}"
        );
        assert!(b["Message"]
            .as_str()
            .unwrap_or_default()
            .contains("127.0.0.1"));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the server connected to a host the tenant may not name"
    );
    let (_, listed) = w.admin_api(&tenant_admin, "GET", "/coffer/v1/db-instances", Value::Null);
    assert_eq!(listed["DBInstances"], json!([]));

    // On an allowed host the check runs, and a failure says nothing of what it met.
    let (s, b) = w.register(
        &tenant_admin,
        json!({"DBInstanceId": "closed", "Engine": "mariadb", "Host": "127.0.0.2", "Port": 1,
               "AdminUser": "root", "AdminPassword": ""}),
    );
    assert_eq!(
        (s, b["Code"].as_str()),
        (400, Some("DatabaseCheckFailed")),
        "{b}"
    );
    let msg = b["Message"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    for detail in [
        "connection refused",
        "unreachable",
        "os error",
        "access denied",
    ] {
        assert!(!msg.contains(detail), "{msg}");
    }
    // A name on the list, registered without a check (nothing to connect to here).
    let (s, b) = w.register(
        &tenant_admin,
        json!({"DBInstanceId": "named", "Engine": "mysql", "Host": "db.internal", "Port": 3306,
               "AdminUser": "admin", "AdminPassword": "x", "Check": false}),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["Tls"], "verify-full",
        "a network host defaults to verified TLS"
    );

    // The operator may name any host, for any account, and sees the database's answer.
    let (s, b) = w.register(
        &w.admin,
        json!({"DBInstanceId": "closed", "Engine": "mariadb", "Host": "127.0.0.1", "Port": 1,
               "AdminUser": "root", "AdminPassword": ""}),
    );
    assert_eq!(
        (s, b["Code"].as_str()),
        (503, Some("DatabaseUnreachable")),
        "{b}"
    );
    let (s, b) = w.admin_api(
        &w.admin,
        "POST",
        &format!("/coffer/v1/db-instances?AccountId={tenant}"),
        maria_instance("for-tenant"),
    );
    assert_eq!(s, 200, "{b}");
}

#[test]
fn tls_with_the_instance_ca_only() {
    let w = World::start(&[]);
    let dir = tls_dir();
    let (ca, other) = (dir.join("ca.pem"), dir.join("other-ca.pem"));
    fn add<'a>(id: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "db-instance",
            "add",
            id,
            "--engine",
            "postgres",
            "--host",
            "127.0.0.1",
            "--port",
            "5432",
            "--admin-user",
            "postgres",
        ];
        args.extend_from_slice(extra);
        args
    }
    let password_file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(password_file.path(), "\n").expect("write");
    let file = password_file.path().to_str().expect("utf-8 path");

    // verify-full with the CA that issued the server's certificate: checked and stored.
    let (ok, out, err) = w.cli(
        &add(
            "pg-tls",
            &[
                "--tls",
                "verify-full",
                "--ca-file",
                ca.to_str().expect("path"),
                "--admin-password-stdin",
            ],
        ),
        "\n",
    );
    assert!(ok, "{err}");
    let shown: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        (shown["Tls"].as_str(), shown["CustomCa"].as_bool()),
        (Some("verify-full"), Some(true))
    );
    // Another CA: the server is not who it claims to be.
    let (ok, _, err) = w.cli(
        &add(
            "pg-other-ca",
            &[
                "--tls",
                "verify-full",
                "--ca-file",
                other.to_str().expect("path"),
                "--admin-password-file",
                file,
            ],
        ),
        "",
    );
    assert!(!ok);
    assert!(err.to_ascii_lowercase().contains("certificate"), "{err}");
    // disable still works, and so does require.
    for (id, mode) in [("pg-plain", "disable"), ("pg-require", "require")] {
        let (ok, out, err) = w.cli(
            &add(id, &["--tls", mode, "--admin-password-file", file]),
            "",
        );
        assert!(ok, "{mode}: {err}");
        assert!(out.contains(mode), "{out}");
    }
    // A password is required from somewhere.
    let (ok, _, err) = w.cli(&add("pg-nopw", &[]), "");
    assert!(!ok && err.contains("--admin-password-file"), "{err}");
    // MariaDB here has no TLS: asking for it is refused, never continued in the clear.
    let (ok, _, _) = w.cli(
        &[
            "db-instance",
            "add",
            "maria-tls",
            "--engine",
            "mariadb",
            "--host",
            "127.0.0.1",
            "--port",
            "3306",
            "--admin-user",
            "root",
            "--tls",
            "require",
            "--admin-password-file",
            file,
        ],
        "",
    );
    assert!(!ok, "a MariaDB without TLS was accepted for --tls require");
    // The MariaDB with TLS (scripts/db-test-tls, port 3307): verified with the CA, and not
    // with another.
    let maria = |id: &'static str, ca: &std::path::Path| {
        let ca = ca.to_str().expect("path").to_string();
        w.cli(
            &[
                "db-instance",
                "add",
                id,
                "--engine",
                "mariadb",
                "--host",
                "127.0.0.1",
                "--port",
                "3307",
                "--admin-user",
                "root",
                "--tls",
                "verify-full",
                "--ca-file",
                &ca,
                "--admin-password-file",
                file,
            ],
            "",
        )
    };
    let (ok, out, err) = maria("maria-tls-ok", &ca);
    assert!(ok, "{err}");
    assert!(out.contains("verify-full"), "{out}");
    let (ok, _, err) = maria("maria-tls-other", &other);
    assert!(!ok);
    assert!(
        err.to_ascii_lowercase().contains("certificate") || err.contains("Issuer"),
        "{err}"
    );

    // A managed secret on the verified instance rotates over TLS.
    let role = unique("e2e_tls");
    pg(&format!(
        "CREATE ROLE \"{role}\" LOGIN PASSWORD 'Start-pw-1' IN ROLE coffer_rotated"
    ));
    let config = r#"{"SecretSubType":"SingleUser","DBInstanceId":"pg-tls"}"#;
    let data =
        format!(r#"{{"Accounts":[{{"AccountName":"{role}","AccountPassword":"Start-pw-1"}}]}}"#);
    let (s, b) = w.alibaba(
        &w.admin,
        "CreateSecret",
        &rds_params("pg-tls-secret", config, &data),
    );
    assert_eq!(s, 200, "{b}");
    let (s, b) = w.alibaba(
        &w.admin,
        "RotateSecret",
        &[("SecretName", "pg-tls-secret"), ("VersionId", "v2")],
    );
    assert_eq!(s, 200, "{b}");
    let (_, v) = w.alibaba(
        &w.admin,
        "GetSecretValue",
        &[("SecretName", "pg-tls-secret")],
    );
    let value: Value = serde_json::from_str(v["SecretData"].as_str().expect("data")).expect("JSON");
    assert_ne!(value["AccountPassword"], "Start-pw-1");
    w.alibaba(
        &w.admin,
        "DeleteSecret",
        &[
            ("SecretName", "pg-tls-secret"),
            ("ForceDeleteWithoutRecovery", "true"),
        ],
    );
    pg(&format!("DROP ROLE IF EXISTS \"{role}\""));
}
