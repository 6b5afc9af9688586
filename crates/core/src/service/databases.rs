//! Database instances, and the creation of managed secrets on them. Everything a secret
//! claims about the database is checked on the database when the secret is created: the
//! instance answers, the admin may manage accounts, each account exists and its password
//! logs in. A secret that would fail its first rotation is refused instead.

use std::sync::Arc;

use rand::Rng;
use zeroize::Zeroizing;

use super::common::name_taken;
use super::secrets::NewRecord;
use super::Service;
use crate::database::{self as db, DatabaseDriver, DbTarget, Grant};
use crate::error::{Error, Resource, Result};
use crate::model::*;

/// Longest password coffer stores for a database account or administrator.
const MAX_PASSWORD: usize = 1024;

/// A database instance to register.
pub struct NewDbInstance {
    pub id: String,
    pub engine: DbEngine,
    pub host: String,
    pub port: u16,
    pub admin_user: String,
    pub admin_password: Zeroizing<String>,
    /// Log in as the admin first and refuse an instance that does not answer.
    pub check: bool,
    /// `None`: [`TlsMode::default_for_host`].
    pub tls: Option<TlsMode>,
    /// PEM certificates `verify-full` trusts (`None`: the public web roots).
    pub ca_pem: Option<String>,
    pub allow_cleartext_password: bool,
    /// `None`: [`crate::database::DEFAULT_ALLOWED_PRIVILEGES`]. Already normalized
    /// ([`crate::database::parse_allowed_privileges`]).
    pub allowed_privileges: Option<Vec<String>>,
}

/// Largest CA bundle an instance keeps.
const MAX_CA_PEM: usize = 64 * 1024;

/// A managed secret over accounts that exist already (Alibaba Rds, Huawei RDS-FG).
pub struct NewDatabaseSecret {
    pub name: String,
    pub description: String,
    pub key: Option<String>,
    pub tags: Vec<Tag>,
    /// The id of the version holding the first account's credentials.
    pub version_id: String,
    pub extended_config: Option<String>,
    pub policy: Option<String>,
    pub subscriptions: Vec<String>,
    pub instance: String,
    pub sub_type: DbSubType,
    pub format: CredentialFormat,
    /// One account, or two for `DoubleUsers` (the second becomes `Previous`).
    pub accounts: Vec<DbCredentials>,
    /// Seconds between automatic rotations; `None` leaves automatic rotation off.
    pub rotation_interval: Option<i64>,
}

/// A managed secret whose account coffer creates (Tencent CreateProductSecret).
pub struct NewProductSecret {
    pub name: String,
    pub description: String,
    pub key: Option<String>,
    pub tags: Vec<Tag>,
    pub version_id: String,
    pub extended_config: Option<String>,
    pub instance: String,
    pub format: CredentialFormat,
    /// The new account's name starts with this and a random suffix.
    pub user_prefix: String,
    pub hosts: Vec<String>,
    pub grants: Vec<Grant>,
    pub rotation_interval: Option<i64>,
    /// When the first automatic rotation is due; `None`: one interval from now.
    pub first_rotation: Option<Timestamp>,
}

fn check_instance_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "DBInstanceId",
            "an instance id is 1 to 64 letters, digits, '-', '_', '.' or ':', starting with a letter or digit",
        ))
    }
}

/// Account names go to the database as quoted literals: control characters, quotes,
/// backslashes and overlong names are refused here, before anything reaches a database.
pub(crate) fn check_account_name(field: &'static str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 63 {
        return Err(Error::invalid(
            field,
            "an account name is 1 to 63 characters",
        ));
    }
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '\'' | '\\'))
    {
        return Err(Error::invalid(
            field,
            "an account name has no control characters, quotes or backslashes",
        ));
    }
    Ok(())
}

/// Passwords may be empty (a development database's root often has none) but not huge.
fn check_password(field: &'static str, password: &str) -> Result<()> {
    if password.len() > MAX_PASSWORD {
        return Err(Error::invalid(
            field,
            format!("a password is at most {MAX_PASSWORD} bytes"),
        ));
    }
    if password.contains('\0') {
        return Err(Error::invalid(field, "a password has no NUL character"));
    }
    Ok(())
}

impl Service {
    /// Lets managed secrets reach databases. Without a driver, creating or rotating one fails.
    pub fn with_database_driver(mut self, driver: Arc<dyn DatabaseDriver>) -> Self {
        self.driver = Some(driver);
        self
    }

    pub(crate) fn driver(&self) -> Result<&Arc<dyn DatabaseDriver>> {
        self.driver.as_ref().ok_or_else(|| {
            Error::Unsupported("this server has no database driver; managed secrets are off".into())
        })
    }

    pub async fn add_db_instance(&self, scope: &Scope, req: NewDbInstance) -> Result<DbInstance> {
        check_instance_id(&req.id)?;
        if req.host.is_empty() || req.host.len() > 255 || req.host.contains(char::is_whitespace) {
            return Err(Error::invalid(
                "host",
                "a host is 1 to 255 characters without spaces",
            ));
        }
        if req.port == 0 {
            return Err(Error::invalid("port", "a port is 1 to 65535"));
        }
        check_account_name("admin-user", &req.admin_user)?;
        check_password("admin-password", &req.admin_password)?;
        let tls = req
            .tls
            .unwrap_or_else(|| TlsMode::default_for_host(&req.host));
        if let Some(pem) = &req.ca_pem {
            if tls != TlsMode::VerifyFull {
                return Err(Error::invalid(
                    "CaPem",
                    "a CA is used only with TLS mode verify-full",
                ));
            }
            if pem.len() > MAX_CA_PEM || !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(Error::invalid(
                    "CaPem",
                    format!("it must be PEM certificates, at most {MAX_CA_PEM} bytes"),
                ));
            }
        }
        let allowed = req
            .allowed_privileges
            .unwrap_or_else(db::default_allowed_privileges);
        if let Some(bad) = allowed
            .iter()
            .find(|p| !db::KNOWN_PRIVILEGES.contains(&db::normalize_privilege(p).as_str()))
        {
            return Err(Error::invalid(
                "AllowedPrivileges",
                format!("{bad:?} is not a privilege coffer knows"),
            ));
        }
        if self.store.get_db_instance(scope, &req.id).await?.is_some() {
            return Err(Error::AlreadyExists {
                what: Resource::DbInstance,
                name: req.id,
            });
        }
        if req.check {
            let target = DbTarget {
                instance: req.id.clone(),
                engine: req.engine,
                host: req.host.clone(),
                port: req.port,
                admin_user: req.admin_user.clone(),
                admin_password: req.admin_password.clone(),
                tls,
                ca_pem: req.ca_pem.clone(),
                allow_cleartext_password: req.allow_cleartext_password,
                allowed_privileges: allowed.clone(),
            };
            self.driver()?
                .check_admin(&target)
                .await
                .map_err(|f| f.into_error(&req.id))?;
        }
        let key = self.default_key(scope).await?;
        let sealed = self.keyring.seal_instance_password(
            &key,
            scope,
            &req.id,
            req.admin_password.as_bytes(),
        )?;
        let instance = DbInstance {
            id: req.id,
            scope: scope.clone(),
            engine: req.engine,
            host: req.host,
            port: req.port,
            admin_user: req.admin_user,
            admin_password: sealed,
            created_at: self.now(),
            tls,
            ca_pem: req.ca_pem,
            allow_cleartext_password: req.allow_cleartext_password,
            allowed_privileges: allowed,
        };
        self.store.create_db_instance(&instance).await?;
        Ok(instance)
    }

    pub async fn db_instance(&self, scope: &Scope, id: &str) -> Result<DbInstance> {
        self.store
            .get_db_instance(scope, id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::DbInstance, id))
    }

    pub async fn db_instances(&self, scope: &Scope) -> Result<Vec<DbInstance>> {
        self.store.list_db_instances(scope).await
    }

    pub async fn remove_db_instance(&self, scope: &Scope, id: &str) -> Result<()> {
        self.store.delete_db_instance(scope, id).await
    }

    /// The instance a managed secret lives on, for the permission of an operation that
    /// makes its database change an account (a rotation); `None` for a generic secret or
    /// none at all (the operation then answers as it does for those).
    pub async fn secret_instance(&self, scope: &Scope, name: &str) -> Option<String> {
        match self.store.get_secret(scope, name).await {
            Ok(Some(SecretRecord {
                kind: SecretKind::Database { instance, .. },
                ..
            })) => Some(instance),
            _ => None,
        }
    }

    /// How to reach an instance, with its admin password opened.
    pub(crate) async fn db_target(&self, instance: &DbInstance) -> Result<DbTarget> {
        let sealed = &instance.admin_password;
        let material = self
            .read_material(&instance.scope, &sealed.key_id, &sealed.key_version)
            .await?;
        let plain = self.keyring.open_instance_password(&material, instance)?;
        let password = String::from_utf8(plain.to_vec())
            .map_err(|_| Error::internal("a stored admin password is not UTF-8"))?;
        Ok(DbTarget {
            instance: instance.id.clone(),
            engine: instance.engine,
            host: instance.host.clone(),
            port: instance.port,
            admin_user: instance.admin_user.clone(),
            admin_password: Zeroizing::new(password),
            tls: instance.tls,
            ca_pem: instance.ca_pem.clone(),
            allow_cleartext_password: instance.allow_cleartext_password,
            allowed_privileges: instance.allowed_privileges.clone(),
        })
    }

    /// The instance a new secret is about to use, checked: the secret's name is free, the
    /// instance exists and its admin may manage accounts.
    async fn checked_target(&self, scope: &Scope, name: &str, id: &str) -> Result<DbTarget> {
        if let Some(existing) = self.store.get_secret(scope, name).await? {
            return Err(name_taken(existing));
        }
        let instance = self.db_instance(scope, id).await?;
        let target = self.db_target(&instance).await?;
        self.driver()?
            .check_admin(&target)
            .await
            .map_err(|f| f.into_error(id))?;
        Ok(target)
    }

    /// Creates a managed secret over accounts that exist. The first account's credentials
    /// become `Current`; with two users the second's become `Previous`.
    pub async fn create_database_secret(
        &self,
        scope: &Scope,
        req: NewDatabaseSecret,
    ) -> Result<SecretRecord> {
        self.create_database_secret_within(scope, req, None).await
    }

    /// [`create_database_secret`](Self::create_database_secret) within a quota of secrets per
    /// scope, as [`create_secret_within`](Self::create_secret_within).
    pub async fn create_database_secret_within(
        &self,
        scope: &Scope,
        req: NewDatabaseSecret,
        max_secrets: Option<u64>,
    ) -> Result<SecretRecord> {
        match (req.sub_type, req.accounts.len()) {
            (_, 0) => return Err(Error::invalid("Accounts", "one account is required")),
            (DbSubType::SingleUser, 1) | (DbSubType::DoubleUsers, 1 | 2) => {}
            (DbSubType::SingleUser, _) => {
                return Err(Error::invalid(
                    "Accounts",
                    "a single-user secret names exactly one account",
                ))
            }
            (DbSubType::DoubleUsers, _) => {
                return Err(Error::invalid(
                    "Accounts",
                    "a double-users secret names one or two accounts",
                ))
            }
        }
        for creds in &req.accounts {
            check_account_name("AccountName", &creds.account)?;
            check_password("AccountPassword", &creds.password)?;
        }
        if req.accounts.len() == 2 && req.accounts[0].account == req.accounts[1].account {
            return Err(Error::invalid(
                "Accounts",
                "the two accounts of a double-users secret must differ",
            ));
        }
        let target = self.checked_target(scope, &req.name, &req.instance).await?;
        let driver = self.driver()?;
        for creds in &req.accounts {
            let refused = |reason: String| Error::Database {
                instance: req.instance.clone(),
                reason,
                reachable: true,
            };
            let exists = driver
                .account_exists(&target, &creds.account)
                .await
                .map_err(|f| f.into_error(&req.instance))?;
            if !exists {
                return Err(refused(format!(
                    "the account {:?} does not exist",
                    creds.account
                )));
            }
            driver
                .login(&target, &creds.account, &creds.password)
                .await
                .map_err(|f| {
                    refused(format!(
                        "the password given for account {:?} does not log in ({})",
                        creds.account,
                        f.reason()
                    ))
                })?;
        }
        let mut versions = Vec::with_capacity(2);
        let mut stages = [vec![Stage::Current], vec![Stage::Previous]].into_iter();
        for (i, creds) in req.accounts.iter().enumerate() {
            let id = if i == 0 {
                req.version_id.clone()
            } else {
                uuid::Uuid::new_v4().to_string()
            };
            let value = SecretValue::Text(creds.encode(req.format));
            versions.push((id, stages.next().unwrap_or_default(), value));
        }
        let now = self.now();
        let new = NewRecord {
            name: req.name,
            description: req.description,
            kind: SecretKind::Database {
                engine: target.engine,
                instance: req.instance,
                sub_type: req.sub_type,
                format: req.format,
            },
            key: req.key,
            tags: req.tags,
            extended_config: req.extended_config,
            policy: req.policy,
            subscriptions: req.subscriptions,
            rotation: rotation_policy(now, req.rotation_interval, None),
            versions,
        };
        self.insert_secret(scope, new, None, max_secrets).await
    }

    /// Creates a managed secret and the task that creates its account. The secret's only
    /// version is `Pending` until the task has created the account and logged in with it.
    pub async fn create_product_secret(
        &self,
        scope: &Scope,
        req: NewProductSecret,
    ) -> Result<(SecretRecord, RotationTask)> {
        self.create_product_secret_within(scope, req, None).await
    }

    /// [`create_product_secret`](Self::create_product_secret) within a quota of secrets per
    /// scope, as [`create_secret_within`](Self::create_secret_within).
    pub async fn create_product_secret_within(
        &self,
        scope: &Scope,
        req: NewProductSecret,
        max_secrets: Option<u64>,
    ) -> Result<(SecretRecord, RotationTask)> {
        for host in &req.hosts {
            if host.is_empty() || host.len() > 255 || host.chars().any(|c| c.is_control()) {
                return Err(Error::invalid(
                    "Domains",
                    "a host is 1 to 255 characters without control characters",
                ));
            }
        }
        let target = self.checked_target(scope, &req.name, &req.instance).await?;
        self.driver()?
            .check_grants(target.engine, &req.grants)
            .map_err(|reason| Error::invalid("PrivilegesList", reason))?;
        // The operator's allow-list of the instance, so that a right to create secrets is
        // never a right to mint an administrator.
        db::check_grants_allowed(
            &target.allowed_privileges,
            &target.instance,
            target.engine,
            &req.grants,
        )
        .map_err(|reason| Error::invalid("PrivilegesList", reason))?;
        let suffix: String = {
            const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
            let mut rng = rand::thread_rng();
            (0..6)
                .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
                .collect()
        };
        let account = format!("{}_{suffix}", req.user_prefix);
        check_account_name("UserNamePrefix", &account)?;
        let creds = DbCredentials {
            account,
            password: self.database_password()?,
        };
        let now = self.now();
        let task = RotationTask::start(
            new_task_id(),
            scope.clone(),
            uuid::Uuid::nil(),
            TaskKind::Provision {
                hosts: req.hosts,
                grants: req.grants,
            },
            req.version_id.clone(),
            now,
        );
        let new = NewRecord {
            name: req.name,
            description: req.description,
            kind: SecretKind::Database {
                engine: target.engine,
                instance: req.instance,
                sub_type: DbSubType::DoubleUsers,
                format: req.format,
            },
            key: req.key,
            tags: req.tags,
            extended_config: req.extended_config,
            policy: None,
            subscriptions: vec![],
            rotation: rotation_policy(now, req.rotation_interval, req.first_rotation),
            versions: vec![(
                req.version_id,
                vec![Stage::Pending],
                SecretValue::Text(creds.encode(req.format)),
            )],
        };
        let record = self
            .insert_secret(scope, new, Some(task.clone()), max_secrets)
            .await?;
        Ok((
            record.clone(),
            RotationTask {
                secret_id: record.id,
                ..task
            },
        ))
    }

    /// Turns automatic rotation on (with its interval and, optionally, when the next one
    /// is due) or off. Generic secrets do not rotate: turning it off for one changes nothing.
    pub async fn set_rotation_policy(
        &self,
        scope: &Scope,
        name: &str,
        enabled: bool,
        interval_secs: Option<i64>,
        next: Option<Timestamp>,
    ) -> Result<SecretRecord> {
        let now = self.now();
        self.modify(scope, name, false, |secret| {
            if !secret.kind.is_managed() {
                if enabled {
                    return Err(Error::Unsupported(format!(
                        "the secret {name:?} is not a managed secret and cannot rotate automatically"
                    )));
                }
                return Ok(false);
            }
            let interval = interval_secs.or(secret.rotation.interval_secs);
            if enabled && interval.is_none() {
                return Err(Error::missing("RotationInterval"));
            }
            secret.rotation.enabled = enabled;
            secret.rotation.interval_secs = interval;
            secret.rotation.next = match (enabled, interval) {
                (true, Some(i)) => Some(next.unwrap_or(Timestamp(now.0 + i * 1000))),
                _ => None,
            };
            Ok(true)
        })
        .await
    }

    /// A password for a database account: 32 characters, with the punctuation that quoting
    /// in shells, URLs and connection strings trips over left out.
    pub(crate) fn database_password(&self) -> Result<Zeroizing<String>> {
        self.random_password(&crate::password::PasswordOptions {
            length: 32,
            exclude_characters: "\"'`\\$%&;:/?@#[]{}<>|^~=+,".into(),
            ..Default::default()
        })
    }
}

fn rotation_policy(
    now: Timestamp,
    interval: Option<i64>,
    first: Option<Timestamp>,
) -> RotationPolicy {
    match interval {
        Some(i) => RotationPolicy {
            enabled: true,
            interval_secs: Some(i),
            next: Some(first.unwrap_or(Timestamp(now.0 + i * 1000))),
            ..Default::default()
        },
        None => RotationPolicy::default(),
    }
}

/// A task id: random, positive and below 2^52 so that every JSON reader keeps it exact.
pub(crate) fn new_task_id() -> i64 {
    rand::thread_rng().gen_range(1..(1i64 << 52))
}
