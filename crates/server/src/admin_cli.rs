//! The admin subcommands (`coffer account|access-key|policy|audit`): each is one signed call
//! to the admin API (`/coffer/v1/`, SigV4 with service `coffer`), printed as a table or, with
//! `--json`, as the API's JSON. `audit verify` and `audit anchor` are the exceptions: they
//! read the data dir and the root key.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use coffer_crypto::{RootKeyFile, SecretKey};
use coffer_store::audit::{self, Anchor, LogKey};

use crate::config::{
    AccessKeyCommand, AccountCommand, AdminCommand, AuditCommand, ClientArgs, DbInstanceCommand,
    EngineArg, InstanceScope, PolicyCommand, RootKeyArgs, TlsArg,
};

/// The region in the signature's scope; the admin API is not regional.
const SIGNING_REGION: &str = "coffer";

struct Client {
    endpoint: String,
    key_id: String,
    secret: Zeroizing<String>,
    json: bool,
    agent: ureq::Agent,
}

/// The HTTP client: for https, trusting the CAs of `--ca-file` when given (and only those),
/// else the public web roots.
fn agent(args: &ClientArgs) -> anyhow::Result<ureq::Agent> {
    let builder = ureq::AgentBuilder::new();
    let Some(path) = &args.ca_file else {
        return Ok(builder.build());
    };
    use rustls_pki_types::pem::PemObject;
    let pem =
        std::fs::read(path).with_context(|| format!("reading --ca-file {}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.with_context(|| format!("--ca-file {} is not PEM", path.display()))?;
        roots.add(cert).with_context(|| {
            format!(
                "--ca-file {}: a certificate that cannot be a CA",
                path.display()
            )
        })?;
    }
    if roots.is_empty() {
        bail!("--ca-file {} holds no PEM certificate", path.display());
    }
    let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(builder.tls_config(std::sync::Arc::new(config)).build())
}

/// Key and secret from flags or the environment, else from the bootstrap credentials file.
fn credentials(args: &ClientArgs) -> anyhow::Result<(String, Zeroizing<String>)> {
    match (&args.access_key_id, &args.access_key_secret) {
        (Some(id), Some(secret)) => return Ok((id.clone(), Zeroizing::new(secret.clone()))),
        (Some(_), None) | (None, Some(_)) => {
            bail!("give both --access-key-id and --access-key-secret (or COFFER_ACCESS_KEY_ID and COFFER_ACCESS_KEY_SECRET)")
        }
        (None, None) => {}
    }
    let path = args.data_dir.join("bootstrap-credentials");
    let text = Zeroizing::new(std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no access key given (--access-key-id/--access-key-secret or COFFER_ACCESS_KEY_ID/COFFER_ACCESS_KEY_SECRET) and {} is not readable",
            path.display()
        )
    })?);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    match (field("access_key_id"), field("access_key_secret")) {
        (Some(id), Some(secret)) => Ok((id, Zeroizing::new(secret))),
        _ => bail!(
            "{} lacks access_key_id or access_key_secret",
            path.display()
        ),
    }
}

fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl Client {
    fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let (key_id, secret) = credentials(args)?;
        Ok(Self {
            endpoint: args.endpoint.trim_end_matches('/').to_string(),
            key_id,
            secret,
            json: args.json,
            agent: agent(args)?,
        })
    }

    /// One signed request; `segments` are joined under `/coffer/v1/`, each percent-encoded.
    fn call(
        &self,
        method: &str,
        segments: &[&str],
        query: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let path = format!(
            "/coffer/v1/{}",
            segments
                .iter()
                .map(|s| encode(s))
                .collect::<Vec<_>>()
                .join("/")
        );
        let url = if query.is_empty() {
            format!("{}{path}", self.endpoint)
        } else {
            format!("{}{path}?{query}", self.endpoint)
        };
        let host = url
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
            .context("--endpoint must be a URL such as http://127.0.0.1:7080 or https://coffer.internal:7443")?
            .to_string();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut headers = vec![("host".to_string(), host)];
        if !body.is_empty() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        coffer_auth::sigv4::sign(
            method,
            &path,
            query,
            &mut headers,
            body.as_bytes(),
            &self.key_id,
            self.secret.as_bytes(),
            SIGNING_REGION,
            coffer_dialect_native::SERVICE,
            now,
        )
        .map_err(|e| anyhow::anyhow!("signing the request: {e}"))?;
        let mut req = self.agent.request(method, &url);
        for (k, v) in &headers {
            if k != "host" {
                req = req.set(k, v);
            }
        }
        let result = if body.is_empty() {
            req.call()
        } else {
            req.send_string(&body)
        };
        let (status, text) = match result {
            Ok(r) => (r.status(), r.into_string()?),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string()?),
            Err(e) => bail!("cannot reach coffer at {}: {e}", self.endpoint),
        };
        let value: Value = serde_json::from_str(&text).with_context(|| {
            format!("the server answered {status} with a body that is not JSON")
        })?;
        if status >= 400 {
            let code = value["Code"].as_str().unwrap_or("Error");
            let message = value["Message"].as_str().unwrap_or("");
            bail!("{code}: {message} (HTTP {status})");
        }
        Ok(value)
    }

    /// Prints the JSON, or `table` when `--json` is not given.
    fn print(&self, value: &Value, table: impl FnOnce(&Value)) {
        if self.json {
            let mut v = value.clone();
            if let Value::Object(m) = &mut v {
                m.remove("RequestId");
            }
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        } else {
            table(value);
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// A left-aligned table of the given fields of each row.
fn table(rows: &[Value], columns: &[(&str, &str)]) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|(_, f)| text(&r[*f])).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (h, _))| {
            cells
                .iter()
                .map(|c| c[i].len())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |items: Vec<&str>| {
        let parts: Vec<String> = items
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(columns.iter().map(|(h, _)| *h).collect());
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
}

fn fields(v: &Value, names: &[&str]) {
    for n in names {
        println!("{:<16} {}", format!("{n}:"), text(&v[*n]));
    }
}

pub fn account(args: &ClientArgs, cmd: &AccountCommand) -> anyhow::Result<()> {
    let c = Client::new(args)?;
    match cmd {
        AccountCommand::Create { name } => {
            let v = c.call("POST", &["accounts"], "", Some(json!({ "Name": name })))?;
            c.print(&v, |v| {
                fields(v, &["AccountId", "Name"]);
                for p in v["Projects"].as_array().into_iter().flatten() {
                    println!(
                        "{:<16} {} ({})",
                        "Project:",
                        text(&p["ProjectId"]),
                        text(&p["Region"])
                    );
                }
            });
        }
        AccountCommand::List => {
            let v = c.call("GET", &["accounts"], "", None)?;
            c.print(&v, |v| {
                let rows = v["Accounts"].as_array().cloned().unwrap_or_default();
                table(
                    &rows,
                    &[
                        ("ACCOUNT ID", "AccountId"),
                        ("NAME", "Name"),
                        ("OPERATOR", "Operator"),
                        ("CREATED", "CreatedAt"),
                    ],
                );
            });
        }
        AccountCommand::Show { id } => {
            let v = c.call("GET", &["accounts", id], "", None)?;
            c.print(&v, |v| {
                fields(
                    v,
                    &[
                        "AccountId",
                        "Name",
                        "Operator",
                        "CreatedAt",
                        "AccessKeyCount",
                    ],
                );
                let rows = v["Projects"].as_array().cloned().unwrap_or_default();
                println!();
                table(
                    &rows,
                    &[("REGION", "Region"), ("HUAWEI PROJECT ID", "ProjectId")],
                );
            });
        }
        AccountCommand::Delete { id } => {
            let v = c.call("DELETE", &["accounts", id], "", None)?;
            c.print(&v, |_| println!("deleted account {id}"));
        }
    }
    Ok(())
}

const KEY_COLUMNS: &[(&str, &str)] = &[
    ("ACCESS KEY ID", "AccessKeyId"),
    ("ACCOUNT ID", "AccountId"),
    ("ADMIN", "Admin"),
    ("ENABLED", "Enabled"),
    ("POLICIES", "Policies"),
    ("CREATED", "CreatedAt"),
];

pub fn access_key(args: &ClientArgs, cmd: &AccessKeyCommand) -> anyhow::Result<()> {
    let c = Client::new(args)?;
    match cmd {
        AccessKeyCommand::Create { account, admin } => {
            let v = c.call(
                "POST",
                &["accounts", account, "access-keys"],
                "",
                Some(json!({ "Admin": admin })),
            )?;
            c.print(&v, |v| {
                fields(v, &["AccessKeyId", "AccessKeySecret", "AccountId", "Admin"]);
                println!("(the secret is shown only this once)");
            });
        }
        AccessKeyCommand::List { account } => {
            let v = c.call("GET", &["accounts", account, "access-keys"], "", None)?;
            c.print(&v, |v| {
                table(
                    &v["AccessKeys"].as_array().cloned().unwrap_or_default(),
                    KEY_COLUMNS,
                )
            });
        }
        AccessKeyCommand::Disable { key } | AccessKeyCommand::Enable { key } => {
            let action = if matches!(cmd, AccessKeyCommand::Enable { .. }) {
                "enable"
            } else {
                "disable"
            };
            let v = c.call("POST", &["access-keys", key, action], "", None)?;
            c.print(&v, |v| table(std::slice::from_ref(v), KEY_COLUMNS));
        }
        AccessKeyCommand::Delete { key } => {
            let v = c.call("DELETE", &["access-keys", key], "", None)?;
            c.print(&v, |_| println!("deleted access key {key}"));
        }
    }
    Ok(())
}

fn read_document(source: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    if source == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the policy document from standard input")?;
    } else {
        text = std::fs::read_to_string(source)
            .with_context(|| format!("reading the policy document {source}"))?;
    }
    Ok(text)
}

pub fn policy(args: &ClientArgs, cmd: &PolicyCommand) -> anyhow::Result<()> {
    let c = Client::new(args)?;
    let policy_columns: &[(&str, &str)] = &[
        ("NAME", "PolicyName"),
        ("ACCOUNT ID", "AccountId"),
        ("UPDATED", "UpdatedAt"),
    ];
    match cmd {
        PolicyCommand::Put {
            name,
            account,
            document,
        } => {
            let doc = read_document(document)?;
            let v = c.call(
                "PUT",
                &["accounts", account, "policies", name],
                "",
                Some(json!({ "Document": doc })),
            )?;
            c.print(&v, |v| table(std::slice::from_ref(v), policy_columns));
        }
        PolicyCommand::Get { name, account } => {
            let v = c.call("GET", &["accounts", account, "policies", name], "", None)?;
            c.print(&v, |v| println!("{}", text(&v["Document"])));
        }
        PolicyCommand::List { account } => {
            let v = c.call("GET", &["accounts", account, "policies"], "", None)?;
            c.print(&v, |v| {
                table(
                    &v["Policies"].as_array().cloned().unwrap_or_default(),
                    policy_columns,
                )
            });
        }
        PolicyCommand::Delete { name, account } => {
            let v = c.call("DELETE", &["accounts", account, "policies", name], "", None)?;
            c.print(&v, |_| println!("deleted policy {name}"));
        }
        PolicyCommand::Attach { name, access_key } => {
            let v = c.call(
                "PUT",
                &["access-keys", access_key, "policies", name],
                "",
                None,
            )?;
            c.print(&v, |_| println!("attached {name} to {access_key}"));
        }
        PolicyCommand::Detach { name, access_key } => {
            let v = c.call(
                "DELETE",
                &["access-keys", access_key, "policies", name],
                "",
                None,
            )?;
            c.print(&v, |_| println!("detached {name} from {access_key}"));
        }
    }
    Ok(())
}

/// How often a waiting rewrap asks the server for its progress.
const REWRAP_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// `AccountId=..&Region=..` for the flags given.
fn scope_query(scope: &InstanceScope) -> String {
    let mut parts = vec![];
    if let Some(a) = &scope.account {
        parts.push(format!("AccountId={}", encode(a)));
    }
    if let Some(r) = &scope.region {
        parts.push(format!("Region={}", encode(r)));
    }
    parts.join("&")
}

/// The admin password of `db-instance add`: from the flag or COFFER_DB_ADMIN_PASSWORD, a
/// file, or standard input (one trailing newline dropped from the last two, as `echo` and
/// editors leave one).
fn admin_password_from(
    given: Option<&str>,
    file: Option<&Path>,
    stdin: bool,
) -> anyhow::Result<Zeroizing<String>> {
    let strip = |mut s: String| {
        if s.ends_with('\n') {
            s.pop();
            if s.ends_with('\r') {
                s.pop();
            }
        }
        Zeroizing::new(s)
    };
    if let Some(p) = given {
        return Ok(Zeroizing::new(p.to_string()));
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --admin-password-file {}", path.display()))?;
        return Ok(strip(text));
    }
    if stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the admin password from standard input")?;
        return Ok(strip(text));
    }
    anyhow::bail!(
        "give the admin password with --admin-password-file, --admin-password-stdin or COFFER_DB_ADMIN_PASSWORD (an empty one is allowed)"
    )
}

pub fn db_instance(args: &ClientArgs, cmd: &DbInstanceCommand) -> anyhow::Result<()> {
    let c = Client::new(args)?;
    let columns: &[(&str, &str)] = &[
        ("ID", "DBInstanceId"),
        ("ENGINE", "Engine"),
        ("HOST", "Host"),
        ("PORT", "Port"),
        ("ADMIN USER", "AdminUser"),
        ("TLS", "Tls"),
        ("ACCOUNT ID", "AccountId"),
        ("REGION", "Region"),
        ("CREATED", "CreatedAt"),
    ];
    match cmd {
        DbInstanceCommand::Add {
            id,
            engine,
            host,
            port,
            admin_user,
            admin_password,
            admin_password_file,
            admin_password_stdin,
            tls,
            ca_file,
            allow_cleartext_password,
            allowed_privileges,
            no_check,
            scope,
        } => {
            let engine = match engine {
                EngineArg::Mariadb => "mariadb",
                EngineArg::Mysql => "mysql",
                EngineArg::Postgres => "postgres",
            };
            let password = admin_password_from(
                admin_password.as_deref(),
                admin_password_file.as_deref(),
                *admin_password_stdin,
            )?;
            let mut body = json!({
                "DBInstanceId": id,
                "Engine": engine,
                "Host": host,
                "Port": port,
                "AdminUser": admin_user,
                "AdminPassword": password.as_str(),
                "Check": !no_check,
                "AllowCleartextPassword": allow_cleartext_password,
            });
            if let Some(t) = tls {
                body["Tls"] = json!(match t {
                    TlsArg::VerifyFull => "verify-full",
                    TlsArg::Require => "require",
                    TlsArg::Disable => "disable",
                });
            }
            if let Some(path) = ca_file {
                let pem = std::fs::read_to_string(path)
                    .with_context(|| format!("reading --ca-file {}", path.display()))?;
                body["CaPem"] = json!(pem);
            }
            if let Some(list) = allowed_privileges {
                let names: Vec<&str> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                body["AllowedPrivileges"] = json!(names);
            }
            let v = c.call("POST", &["db-instances"], &scope_query(scope), Some(body))?;
            c.print(&v, |v| table(std::slice::from_ref(v), columns));
        }
        DbInstanceCommand::List { scope } => {
            let v = c.call("GET", &["db-instances"], &scope_query(scope), None)?;
            c.print(&v, |v| {
                table(
                    &v["DBInstances"].as_array().cloned().unwrap_or_default(),
                    columns,
                )
            });
        }
        DbInstanceCommand::Show { id, scope } => {
            let v = c.call("GET", &["db-instances", id], &scope_query(scope), None)?;
            c.print(&v, |v| table(std::slice::from_ref(v), columns));
        }
        DbInstanceCommand::Remove { id, scope } => {
            let v = c.call("DELETE", &["db-instances", id], &scope_query(scope), None)?;
            c.print(&v, |_| println!("removed database instance {id}"));
        }
    }
    Ok(())
}

pub fn admin(args: &ClientArgs, cmd: &AdminCommand) -> anyhow::Result<()> {
    let c = Client::new(args)?;
    match cmd {
        AdminCommand::Rewrap {
            keep_root_key,
            new_key_material,
            no_wait,
        } => {
            let body = json!({
                "NewRootKey": !keep_root_key,
                "NewKeyMaterial": new_key_material,
            });
            let first = c.call("POST", &["rewrap"], "", Some(body))?;
            if *no_wait {
                c.print(&first, print_rewrap);
                return Ok(());
            }
            let last = follow_rewrap(&c, first)?;
            c.print(&last, print_rewrap);
            if last["State"] == "failed" {
                bail!(
                    "the rewrap failed: {} (run it again to resume)",
                    text(&last["Error"])
                );
            }
            Ok(())
        }
        AdminCommand::RewrapStatus => {
            let v = c.call("GET", &["rewrap"], "", None)?;
            c.print(&v, print_rewrap);
            Ok(())
        }
    }
}

/// Polls the rewrap until it ends, drawing one progress bar per phase on a terminal (and
/// nothing when stderr is not one, or with `--json`).
fn follow_rewrap(c: &Client, mut status: Value) -> anyhow::Result<Value> {
    let hidden = c.json || !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let style = indicatif::ProgressStyle::with_template(
        "{msg:>12} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    let mut bar: Option<(String, indicatif::ProgressBar)> = None;
    loop {
        let phase = text(&status["Phase"]);
        let (done, total) = (
            status["Done"].as_u64().unwrap_or(0),
            status["Total"].as_u64().unwrap_or(0),
        );
        if !phase.is_empty() && bar.as_ref().is_none_or(|(p, _)| *p != phase) {
            if let Some((_, b)) = bar.take() {
                b.finish();
            }
            let b = if hidden {
                indicatif::ProgressBar::hidden()
            } else {
                indicatif::ProgressBar::new(total)
            };
            b.set_style(style.clone());
            b.set_message(phase.clone());
            bar = Some((phase, b));
        }
        if let Some((_, b)) = &bar {
            b.set_length(total.max(done));
            b.set_position(done);
        }
        if status["State"] != "running" {
            if let Some((_, b)) = bar.take() {
                b.finish();
            }
            return Ok(status);
        }
        std::thread::sleep(REWRAP_POLL);
        status = c.call("GET", &["rewrap"], "", None)?;
    }
}

fn print_rewrap(v: &Value) {
    fields(
        v,
        &[
            "State",
            "Phase",
            "Done",
            "Total",
            "NewRootKey",
            "NewKeyMaterial",
            "KeysRotated",
            "RootWrappedMoved",
            "DataKeysMoved",
            "RootRotationPending",
            "StartedAt",
            "FinishedAt",
            "Error",
        ],
    );
}

/// Returns the process exit code: `audit verify` and `audit anchor` fail with 1 when the log
/// is broken (or does not reach the anchor).
pub fn audit(args: &ClientArgs, cmd: &AuditCommand) -> anyhow::Result<i32> {
    match cmd {
        AuditCommand::Tail { n } => {
            let c = Client::new(args)?;
            let v = c.call("GET", &["audit"], &format!("limit={n}"), None)?;
            c.print(&v, |v| {
                let rows = v["Entries"].as_array().cloned().unwrap_or_default();
                table(
                    &rows,
                    &[
                        ("SEQ", "seq"),
                        ("TIME (ms)", "time_ms"),
                        ("ACCOUNT", "account"),
                        ("ACCESS KEY", "access_key_id"),
                        ("DIALECT", "dialect"),
                        ("OPERATION", "operation"),
                        ("RESOURCE", "resource"),
                        ("STATUS", "status"),
                        ("RESULT", "result"),
                    ],
                );
            });
            Ok(0)
        }
        AuditCommand::Verify {
            key,
            logs,
            anchor,
            anchor_file,
            database_url,
        } => {
            let anchor = match (anchor, anchor_file) {
                (Some(text), _) => Some(parse_anchor(text, "--anchor")?),
                (None, Some(file)) => {
                    let text = std::fs::read_to_string(file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    Some(parse_anchor(&text, &file.display().to_string())?)
                }
                (None, None) => None,
            };
            let paths: Vec<PathBuf> = if logs.is_empty() {
                vec![args.data_dir.join("audit.log")]
            } else {
                logs.iter()
                    .map(|p| {
                        if p.is_dir() {
                            p.join("audit.log")
                        } else {
                            p.clone()
                        }
                    })
                    .collect()
            };
            if anchor.is_some() && paths.len() > 1 {
                bail!("an anchor names a line of one log: give one log with --anchor");
            }
            match (database_url, paths.as_slice()) {
                (None, [path]) => {
                    verify(path, &args.data_dir, key, anchor.as_ref(), args.json, false)
                }
                _ => verify_cluster(
                    &paths,
                    &args.data_dir,
                    key,
                    anchor.as_ref(),
                    database_url.as_deref(),
                    args.json,
                ),
            }
        }
        AuditCommand::Anchor { key } => verify(
            &args.data_dir.join("audit.log"),
            &args.data_dir,
            key,
            None,
            args.json,
            true,
        ),
    }
}

fn parse_anchor(text: &str, from: &str) -> anyhow::Result<Anchor> {
    text.parse::<Anchor>()
        .map_err(|e| anyhow::anyhow!("{from}: {e}"))
}

/// The log keys to try: the root key's, and during a rotation left unfinished (a
/// `<root key file>.next` beside the file) the new key's first, since the log moves to it as
/// soon as the rotation begins.
fn log_keys(data_dir: &Path, args: &RootKeyArgs) -> anyhow::Result<Vec<LogKey>> {
    let file = if let Some(path) = &args.root_key_file {
        path.clone()
    } else if let Ok(text) = std::env::var("COFFER_ROOT_KEY") {
        let text = Zeroizing::new(text);
        let key =
            SecretKey::from_base64(&text).context("COFFER_ROOT_KEY must be base64 of 32 bytes")?;
        return Ok(vec![LogKey::from_root(&key)]);
    } else {
        data_dir.join("root.key")
    };
    let key = SecretKey::load_file(&file).with_context(|| {
        format!(
            "the audit log is keyed by the root key: give it with --root-key-file or \
             COFFER_ROOT_KEY, or keep it at {}",
            file.display()
        )
    })?;
    let root_file = RootKeyFile::new(&file);
    let next = root_file
        .load_next()
        .with_context(|| format!("reading {}", root_file.next_path().display()))?;
    let mut keys: Vec<LogKey> = next.iter().map(LogKey::from_root).collect();
    keys.push(LogKey::from_root(&key));
    Ok(keys)
}

fn verify(
    path: &Path,
    data_dir: &Path,
    key: &RootKeyArgs,
    anchor: Option<&Anchor>,
    json_out: bool,
    print_anchor: bool,
) -> anyhow::Result<i32> {
    if !path.exists() {
        bail!(
            "no audit log at {} (has the server run with this --data-dir?)",
            path.display()
        );
    }
    let keys = log_keys(data_dir, key)?;
    match audit::verify_with(path, &keys, anchor) {
        Ok(report) => {
            let last = report.anchor().map(|a| a.to_string());
            if json_out {
                println!(
                    "{}",
                    json!({"Intact": true, "Entries": report.entries, "LastHash": report.last_hash,
                           "Anchor": last, "Anchored": report.anchored,
                           "UnkeyedLines": report.unkeyed, "KeyChanges": report.key_changes})
                );
            } else if print_anchor {
                match &last {
                    Some(anchor) => println!("{anchor}"),
                    None => eprintln!("{}: empty, no anchor yet", path.display()),
                }
            } else {
                println!("{}: intact, {} entries", path.display(), report.entries);
                if let Some(a) = anchor {
                    println!("reaches the anchor {a}");
                }
                if report.unkeyed > 0 {
                    println!(
                        "the first {} lines were written before the log was keyed; the keyed \
                         line after them covers them",
                        report.unkeyed
                    );
                }
            }
            Ok(0)
        }
        Err(e) => {
            if json_out {
                println!("{}", json!({"Intact": false, "Error": e.to_string()}));
            } else {
                eprintln!("{}: BROKEN: {e}", path.display());
            }
            Ok(1)
        }
    }
}

/// Checks several nodes' logs, and with the cluster's database, that every log it knows of is
/// among them and still reaches the last line its node reported. Exit 0 only when all hold.
fn verify_cluster(
    paths: &[PathBuf],
    data_dir: &Path,
    key: &RootKeyArgs,
    anchor: Option<&Anchor>,
    database_url: Option<&str>,
    json_out: bool,
) -> anyhow::Result<i32> {
    let keys = log_keys(data_dir, key)?;
    let registered = match database_url {
        Some(url) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(async {
                let pg = coffer_store::PgStore::open(url, coffer_store::PgOptions::default())
                    .await
                    .context("opening the PostgreSQL database (--database-url)")?;
                let chains = pg.audit_chains().await;
                pg.close().await;
                chains.context("reading the register of audit logs")
            })?
        }
        None => vec![],
    };
    let mut intact = true;
    let mut found = std::collections::HashSet::new();
    let mut reports = vec![];
    for path in paths {
        let shown = path.display().to_string();
        if !path.exists() {
            intact = false;
            if !json_out {
                eprintln!("{shown}: BROKEN: no audit log there");
            }
            reports.push(json!({"Path": shown, "Intact": false, "Error": "no audit log there"}));
            continue;
        }
        let first = audit::first_line_mac(path).unwrap_or(None);
        let node = first
            .as_ref()
            .and_then(|f| registered.iter().find(|c| &c.chain == f));
        let reported = node.map(|c| Anchor {
            seq: c.last_seq,
            mac: c.last_mac.clone(),
        });
        let must_reach = anchor.cloned().or(reported);
        match audit::verify_with(path, &keys, must_reach.as_ref()) {
            Ok(report) => {
                if let Some(c) = node {
                    found.insert(c.chain.clone());
                }
                if !json_out {
                    println!("{shown}: intact, {} entries", report.entries);
                    if let Some(c) = node {
                        println!(
                            "  the log of node {} ({}); reaches line {}, the last it reported",
                            c.node, c.location, c.last_seq
                        );
                    } else if database_url.is_some() {
                        println!(
                            "  not in the database's register (no node of it reported this log)"
                        );
                    }
                }
                reports.push(json!({"Path": shown, "Intact": true, "Entries": report.entries,
                    "Anchor": report.anchor().map(|a| a.to_string()),
                    "Node": node.map(|c| c.node.clone()), "Location": node.map(|c| c.location.clone())}));
            }
            Err(e) => {
                intact = false;
                if let Some(c) = node {
                    found.insert(c.chain.clone());
                }
                if !json_out {
                    eprintln!("{shown}: BROKEN: {e}");
                }
                reports.push(json!({"Path": shown, "Intact": false, "Error": e.to_string()}));
            }
        }
    }
    let mut missing = vec![];
    for c in registered.iter().filter(|c| !found.contains(&c.chain)) {
        intact = false;
        if !json_out {
            eprintln!(
                "MISSING: the log of node {} at {} (it reported {} lines) was not given",
                c.node, c.location, c.last_seq
            );
        }
        missing.push(json!({"Node": c.node, "Location": c.location, "LastSeq": c.last_seq}));
    }
    if json_out {
        println!(
            "{}",
            json!({"Intact": intact, "Logs": reports, "Missing": missing})
        );
    } else if intact {
        println!(
            "all {} logs intact{}",
            paths.len(),
            if database_url.is_some() {
                "; every log the database knows of was checked"
            } else {
                ""
            }
        );
    }
    Ok(if intact { 0 } else { 1 })
}
