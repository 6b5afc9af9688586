//! Accounts, access keys, policies and the authorization check every dialect runs before an
//! operation. Policies are parsed and evaluated by [`crate::policy`]; this module decides
//! whose policies apply and where the tags of a condition come from.

use std::sync::Arc;

use rand::Rng;
use zeroize::Zeroizing;

use super::{Service, ACCESS_KEY_TTL_MS};
use crate::access::{Action, AdminRole, Permission, Target};
use crate::error::{Error, Resource, Result};
use crate::model::*;
use crate::policy::{self, Decision, Policy};
use crate::resource_policy::{self, ResourcePolicy, Verdict};

/// A verified caller's identity, as the dialect's signature check established it. It holds the
/// key's secret, so its `Debug` prints everything but that.
#[derive(Clone)]
pub struct AuthenticatedKey {
    pub id: String,
    pub account: AccountId,
    pub secret: Zeroizing<Vec<u8>>,
    pub enabled: bool,
    pub admin: bool,
    /// The policies attached to the key, parsed.
    pub policies: Vec<Policy>,
}

impl std::fmt::Debug for AuthenticatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticatedKey")
            .field("id", &self.id)
            .field("account", &self.account)
            .field("enabled", &self.enabled)
            .field("admin", &self.admin)
            .field("policies", &self.policies.len())
            .finish_non_exhaustive()
    }
}

/// Tags as the policy evaluator reads them.
fn pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

/// Policy names: what a CLI argument and a URL segment carry without quoting.
fn check_policy_name(name: &str) -> Result<()> {
    let ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.+=@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "PolicyName",
            "1 to 128 characters of A-Z a-z 0-9 _ - . + = @",
        ))
    }
}

fn check_account_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "AccountName",
            "1 to 128 printable characters",
        ));
    }
    Ok(())
}

impl Service {
    /// Parsed policies of a key, for [`AuthenticatedKey`]. A stored document that no longer
    /// parses (it was checked when it was put) is a server fault, not a silent allow.
    async fn load_key_policies(&self, key_id: &str) -> Result<Vec<Policy>> {
        self.store
            .key_policies(key_id)
            .await?
            .iter()
            .map(|p| {
                Policy::parse(&p.document).map_err(|e| {
                    Error::internal(format!("stored policy {:?} does not parse: {e}", p.name))
                })
            })
            .collect()
    }

    fn forget_access_key(&self, id: &str) {
        if let Ok(mut m) = self.access_keys.lock() {
            m.remove(id);
        }
    }

    /// Checks that `caller` holds `permission` in `scope`: the one authorization step of the
    /// request pipeline. Every target of an [`Permission::Act`] is checked; the first refusal
    /// ends the request. A [`Permission::EachOnItsOwn`] passes when any one target does.
    pub async fn authorize_permission(
        &self,
        caller: &AuthenticatedKey,
        scope: &Scope,
        permission: &Permission,
    ) -> Result<()> {
        match permission {
            Permission::Act { action, targets } => {
                // A rule that names nothing proves nothing: refused rather than passed.
                if targets.is_empty() {
                    return Err(Error::AccessDenied {
                        action: action.to_string(),
                        resource: Target::Scope.resource(scope),
                    });
                }
                for target in targets {
                    self.authorize(caller, *action, scope, target).await?;
                }
                Ok(())
            }
            Permission::EachOnItsOwn { action, targets } => {
                // Allowed when one target is; the operation checks each before it acts.
                let mut first_refusal = None;
                for target in targets {
                    match self.authorize(caller, *action, scope, target).await {
                        Ok(_) => return Ok(()),
                        Err(e @ Error::AccessDenied { .. }) => {
                            first_refusal.get_or_insert(e);
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(first_refusal.unwrap_or_else(|| Error::AccessDenied {
                    action: action.to_string(),
                    resource: Target::Scope.resource(scope),
                }))
            }
            Permission::Public => Ok(()),
            Permission::All(parts) => {
                if parts.is_empty() {
                    return Err(Error::AccessDenied {
                        action: "coffer:Nothing".into(),
                        resource: Target::Scope.resource(scope),
                    });
                }
                for part in parts {
                    Box::pin(self.authorize_permission(caller, scope, part)).await?;
                }
                Ok(())
            }
            Permission::Admin {
                role,
                action,
                targets,
            } => {
                self.authorize_admin(caller, scope, role, *action, targets)
                    .await
            }
        }
    }

    /// An admin API operation: first the role (an admin key of the operator account, or of
    /// the account the operation is about), then the caller's own policies on every target.
    /// A role refusal names the action and the first resource, and says nothing about
    /// whether the resource exists.
    async fn authorize_admin(
        &self,
        caller: &AuthenticatedKey,
        scope: &Scope,
        role: &AdminRole,
        action: Action,
        targets: &[Target],
    ) -> Result<()> {
        let denied = |target: &Target| Error::AccessDenied {
            action: action.to_string(),
            resource: target.resource(scope),
        };
        // As for any action: a rule that names nothing proves nothing.
        let Some(first) = targets.first() else {
            return Err(denied(&Target::Scope));
        };
        let in_role = caller.admin
            && match role {
                AdminRole::Operator => self.account(caller.account).await?.operator,
                AdminRole::AccountAdmin(account) => {
                    caller.account == *account || self.account(caller.account).await?.operator
                }
            };
        if !in_role {
            return Err(denied(first));
        }
        if caller.policies.is_empty() {
            return Ok(());
        }
        for target in targets {
            // Admin resources carry no tags: a tag condition is judged on none.
            let decision = policy::evaluate(
                &caller.policies,
                action.as_str(),
                &target.resource(scope),
                Some(&[]),
            );
            let allowed = match decision {
                Decision::Allow => true,
                Decision::Deny => false,
                Decision::NotAllowed | Decision::NeedTags => !action.grants_rights(),
            };
            if !allowed {
                return Err(denied(target));
            }
        }
        Ok(())
    }

    /// Checks that `caller` may perform `action` on `target` in `scope` and returns the
    /// resource name (for the audit log). Admin keys may do anything their policies do not
    /// explicitly deny; other keys only what a policy allows. A secret's resource policy is
    /// consulted after the caller's own policies (DESIGN.md, "Resource policies"): its `Deny`
    /// refuses whatever else allows, its `Allow` lets a key of the same account act without a
    /// policy of its own, and a key of another account acts only where the resource policy
    /// allows it and its own policies do too.
    pub async fn authorize(
        &self,
        caller: &AuthenticatedKey,
        action: Action,
        scope: &Scope,
        target: &Target,
    ) -> Result<String> {
        let resource = target.resource(scope);
        let denied = || Error::AccessDenied {
            action: action.to_string(),
            resource: resource.clone(),
        };
        let cross_account = caller.account != scope.account;
        // Only secrets carry resource policies; every other target of another account is
        // refused as before.
        let secret_name = match target {
            Target::Secret { name, .. } | Target::SecretRetag { name, .. } => Some(name.as_str()),
            _ => None,
        };
        if cross_account && secret_name.is_none() {
            return Err(denied());
        }
        let identity = if caller.admin && caller.policies.is_empty() {
            Decision::Allow
        } else {
            self.identity_decision(caller, action, scope, target, &resource)
                .await?
        };
        let identity_allows = match identity {
            Decision::Allow => true,
            Decision::NotAllowed | Decision::NeedTags => caller.admin,
            Decision::Deny => return Err(denied()),
        };
        let verdict = match secret_name {
            Some(name) => {
                self.resource_policy_verdict(caller, action, scope, name)
                    .await?
            }
            None => Verdict::Silent,
        };
        let allowed = match verdict {
            Verdict::Deny => false,
            Verdict::Allow => identity_allows || !cross_account,
            Verdict::Silent => identity_allows && !cross_account,
        };
        if allowed {
            Ok(resource)
        } else {
            Err(denied())
        }
    }

    /// The account whose 12-digit number is `number`, when exactly one has it: how a request
    /// that names another account's secret by ARN finds the account that owns it.
    pub async fn account_with_number(&self, number: &str) -> Result<Option<AccountId>> {
        if !Account::is_account_number(number) {
            return Ok(None);
        }
        let mut found = self
            .store
            .list_accounts()
            .await?
            .into_iter()
            .filter(|a| a.number() == number);
        Ok(match (found.next(), found.next()) {
            (Some(a), None) => Some(a.id),
            _ => None,
        })
    }

    /// What the caller's own policies say about the request (tags loaded when they matter).
    async fn identity_decision(
        &self,
        caller: &AuthenticatedKey,
        action: Action,
        scope: &Scope,
        target: &Target,
        resource: &str,
    ) -> Result<Decision> {
        let judge = |tags: &[(String, String)]| {
            policy::evaluate(&caller.policies, action.as_str(), resource, Some(tags))
        };
        let mut decision = policy::evaluate(&caller.policies, action.as_str(), resource, None);
        if decision == Decision::NeedTags {
            decision = match target {
                // A tag change is judged on the tags before it and on those after it: allowed
                // only if both are, denied if either is.
                Target::SecretRetag { name, change } => {
                    let before = self.stored_tags(scope, name).await?;
                    let after = change.apply(&before);
                    match (judge(&pairs(&before)), judge(&pairs(&after))) {
                        (Decision::Deny, _) | (_, Decision::Deny) => Decision::Deny,
                        (Decision::Allow, Decision::Allow) => Decision::Allow,
                        _ => Decision::NotAllowed,
                    }
                }
                _ => judge(&self.target_tags(scope, target).await?),
            };
        }
        Ok(decision)
    }

    /// What the resource policy of the secret `name` (if it exists and has one) says about
    /// the request. A stored policy that does not parse denies (fail closed), except that the
    /// owning account's admin keys may always read and replace the policy itself, so that no
    /// document can lock its owner out of the secret for good.
    async fn resource_policy_verdict(
        &self,
        caller: &AuthenticatedKey,
        action: Action,
        scope: &Scope,
        name: &str,
    ) -> Result<Verdict> {
        let Some(secret) = self.store.get_secret(scope, name).await? else {
            return Ok(Verdict::Silent);
        };
        let Some(text) = secret.policy.as_deref() else {
            return Ok(Verdict::Silent);
        };
        let owner_admin = caller.admin && caller.account == scope.account;
        if owner_admin && matches!(action, Action::SecretsGetPolicy | Action::SecretsPutPolicy) {
            return Ok(Verdict::Silent);
        }
        let Ok(policy) = ResourcePolicy::parse(text) else {
            return Ok(Verdict::Deny);
        };
        let caller_number = Some(self.account_number(caller.account).await?);
        let owner_number = if caller.account == scope.account {
            caller_number.clone()
        } else {
            Some(self.account_number(scope.account).await?)
        };
        let suffix = resource_policy::arn_suffix(&secret.id);
        let who = resource_policy::Caller {
            account: caller.account,
            account_number: caller_number.as_deref(),
            access_key_id: &caller.id,
        };
        let names = resource_policy::SecretNames {
            name: &secret.name,
            account: scope.account,
            account_number: owner_number.as_deref(),
            arn_suffix: Some(&suffix),
        };
        Ok(policy.evaluate(&who, action, &names))
    }

    /// The tags a condition is evaluated against: those a create asks for, else the stored
    /// secret's (none when it does not exist, so a missing secret and an untagged one are
    /// judged alike and the answer reveals nothing).
    async fn target_tags(&self, scope: &Scope, target: &Target) -> Result<Vec<(String, String)>> {
        Ok(match target {
            Target::Secret {
                tags: Some(tags), ..
            } => pairs(tags),
            Target::Secret { name, tags: None } | Target::SecretRetag { name, .. } => {
                pairs(&self.stored_tags(scope, name).await?)
            }
            _ => vec![],
        })
    }

    /// A secret's stored tags; none when there is no such secret.
    async fn stored_tags(&self, scope: &Scope, name: &str) -> Result<Vec<Tag>> {
        Ok(self
            .store
            .get_secret(scope, name)
            .await?
            .map(|s| s.tags)
            .unwrap_or_default())
    }

    // --- accounts ---------------------------------------------------------------------------

    /// A new, empty account with a random 16-digit id and its Huawei project in `region`.
    pub async fn create_account(&self, name: &str, region: &str) -> Result<(Account, Project)> {
        check_account_name(name)?;
        for _ in 0..8 {
            let account = Account {
                id: AccountId(
                    rand::rngs::OsRng.gen_range(1_000_000_000_000_000..10_000_000_000_000_000),
                ),
                name: name.to_string(),
                operator: false,
                created_at: self.now(),
                account_number: None,
            };
            let account = Account {
                account_number: Some(Account::derived_number(account.id)),
                ..account
            };
            match self.store.create_account(&account).await {
                Ok(()) => {
                    let scope = Scope {
                        account: account.id,
                        region: region.to_string(),
                    };
                    let (project, _) = self.ensure_project(&scope, None).await?;
                    return Ok((account, project));
                }
                // Ids are drawn from 9e15 values; a collision is retried with a fresh draw.
                Err(Error::AlreadyExists { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::internal("could not draw a free account id"))
    }

    pub async fn account(&self, id: AccountId) -> Result<Account> {
        self.store
            .get_account(id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::Account, id.to_string()))
    }

    pub async fn accounts(&self) -> Result<Vec<Account>> {
        self.store.list_accounts().await
    }

    /// Deletes an empty account (no secrets, no keys of its own). The operator account stays.
    pub async fn delete_account(&self, id: AccountId) -> Result<()> {
        let account = self.account(id).await?;
        if account.operator {
            return Err(Error::InvalidState {
                name: id.to_string(),
                reason: "the operator account cannot be deleted".into(),
            });
        }
        let keys = self.store.list_access_keys(id).await?;
        self.store.delete_account(id).await?;
        for k in keys {
            self.forget_access_key(&k.id);
        }
        self.forget_projects(id);
        Ok(())
    }

    // --- access keys ------------------------------------------------------------------------

    /// Finds an access key and opens its secret, for signature verification. Results are
    /// cached briefly; unknown keys are not cached so a new key works at once.
    pub async fn access_key(&self, id: &str) -> Result<Arc<AuthenticatedKey>> {
        let now = self.now();
        if let Some((at, k)) = self
            .access_keys
            .lock()
            .ok()
            .and_then(|m| m.get(id).cloned())
        {
            if now.0 - at.0 < ACCESS_KEY_TTL_MS {
                return Ok(k);
            }
        }
        let rec = self
            .store
            .get_access_key(id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::AccessKey, id))?;
        let policies = self.load_key_policies(&rec.id).await?;
        let key = Arc::new(AuthenticatedKey {
            secret: self
                .keyring
                .open_access_secret(&rec.id, &rec.sealed_secret)?,
            id: rec.id,
            account: rec.account,
            enabled: rec.enabled,
            admin: rec.admin,
            policies,
        });
        if let Ok(mut m) = self.access_keys.lock() {
            if m.len() > 100_000 {
                m.clear();
            }
            m.insert(id.to_string(), (now, key.clone()));
        }
        Ok(key)
    }

    pub async fn set_access_key_enabled(&self, id: &str, enabled: bool) -> Result<()> {
        self.store.set_access_key_enabled(id, enabled).await?;
        if let Ok(mut m) = self.access_keys.lock() {
            m.remove(id);
        }
        Ok(())
    }

    /// A new key of `account`. The secret is returned once and stored only sealed.
    pub async fn create_access_key(
        &self,
        account: AccountId,
        admin: bool,
    ) -> Result<(AccessKeyRecord, Zeroizing<String>)> {
        self.account(account).await?;
        let secret = generate_access_key_secret();
        for _ in 0..8 {
            let id = generate_access_key_id();
            let record = AccessKeyRecord {
                sealed_secret: self.keyring.seal_access_secret(&id, &secret),
                id,
                account,
                enabled: true,
                admin,
                created_at: self.now(),
            };
            match self.store.create_access_key(&record).await {
                Ok(()) => return Ok((record, secret)),
                Err(Error::AlreadyExists { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::internal("could not draw a free access key id"))
    }

    pub async fn access_key_record(&self, id: &str) -> Result<AccessKeyRecord> {
        self.store
            .get_access_key(id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::AccessKey, id))
    }

    pub async fn access_keys_of(&self, account: AccountId) -> Result<Vec<AccessKeyRecord>> {
        self.store.list_access_keys(account).await
    }

    /// Refuses to disable or delete the operator's last enabled admin key: nobody could
    /// administer the server afterwards.
    async fn keep_an_operator_key(&self, id: &str) -> Result<()> {
        let key = self.access_key_record(id).await?;
        if !key.admin || !key.enabled || !self.account(key.account).await?.operator {
            return Ok(());
        }
        let others = self
            .store
            .list_access_keys(key.account)
            .await?
            .into_iter()
            .filter(|k| k.admin && k.enabled && k.id != id)
            .count();
        if others == 0 {
            return Err(Error::InvalidState {
                name: id.to_string(),
                reason: "this is the operator account's last enabled admin key".into(),
            });
        }
        Ok(())
    }

    pub async fn enable_access_key(&self, id: &str, enabled: bool) -> Result<()> {
        if !enabled {
            self.keep_an_operator_key(id).await?;
        }
        self.set_access_key_enabled(id, enabled).await
    }

    pub async fn delete_access_key(&self, id: &str) -> Result<()> {
        self.keep_an_operator_key(id).await?;
        self.store.delete_access_key(id).await?;
        self.forget_access_key(id);
        Ok(())
    }

    // --- policies ---------------------------------------------------------------------------

    /// Creates or replaces a policy after checking that the document parses.
    pub async fn put_policy(
        &self,
        account: AccountId,
        name: &str,
        document: &str,
    ) -> Result<PolicyRecord> {
        check_policy_name(name)?;
        Policy::parse(document).map_err(|e| Error::invalid("PolicyDocument", e.to_string()))?;
        self.account(account).await?;
        let now = self.now();
        let created_at = self
            .store
            .get_policy(account, name)
            .await?
            .map_or(now, |p| p.created_at);
        let record = PolicyRecord {
            account,
            name: name.to_string(),
            document: document.to_string(),
            created_at,
            updated_at: now,
        };
        self.store.put_policy(&record).await?;
        // Keys that carry it pick the new text up within the key cache's lifetime; on this
        // node, at once.
        if let Ok(mut m) = self.access_keys.lock() {
            m.retain(|_, (_, k)| k.account != account);
        }
        Ok(record)
    }

    pub async fn policy(&self, account: AccountId, name: &str) -> Result<PolicyRecord> {
        check_policy_name(name)?;
        self.store
            .get_policy(account, name)
            .await?
            .ok_or_else(|| Error::not_found(Resource::Policy, name))
    }

    pub async fn policies(&self, account: AccountId) -> Result<Vec<PolicyRecord>> {
        self.store.list_policies(account).await
    }

    pub async fn delete_policy(&self, account: AccountId, name: &str) -> Result<()> {
        check_policy_name(name)?;
        self.store.delete_policy(account, name).await
    }

    pub async fn attach_policy(&self, access_key_id: &str, name: &str) -> Result<()> {
        check_policy_name(name)?;
        self.store.attach_policy(access_key_id, name).await?;
        self.forget_access_key(access_key_id);
        Ok(())
    }

    pub async fn detach_policy(&self, access_key_id: &str, name: &str) -> Result<()> {
        check_policy_name(name)?;
        self.store.detach_policy(access_key_id, name).await?;
        self.forget_access_key(access_key_id);
        Ok(())
    }

    /// Names of the policies attached to a key.
    pub async fn attached_policies(&self, access_key_id: &str) -> Result<Vec<String>> {
        Ok(self
            .store
            .key_policies(access_key_id)
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect())
    }
}

/// Access key ids look like the clouds' own: a prefix and 20 upper-case letters and digits.
pub fn generate_access_key_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rngs::OsRng;
    let body: String = (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("CFK{body}")
}

/// 40 characters from a 62-letter alphabet: about 238 bits.
pub fn generate_access_key_secret() -> Zeroizing<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    Zeroizing::new(
        (0..40)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key in a log line or a panic message must not carry its secret, in any form `Debug`
    /// could print it.
    #[test]
    fn debug_of_an_authenticated_key_hides_the_secret() {
        let secret = generate_access_key_secret();
        let key = AuthenticatedKey {
            id: "CFKDEBUGTEST".into(),
            account: AccountId(7),
            secret: Zeroizing::new(secret.as_bytes().to_vec()),
            enabled: true,
            admin: true,
            policies: vec![],
        };
        let shown = format!("{key:?} {key:#?}");
        assert!(shown.contains("CFKDEBUGTEST"), "{shown}");
        assert!(!shown.contains(secret.as_str()), "{shown}");
        let bytes = format!("{:?}", secret.as_bytes());
        assert!(!shown.contains(&bytes[1..bytes.len() - 1]), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn generated_credentials_have_expected_shape() {
        let id = generate_access_key_id();
        assert_eq!(id.len(), 23);
        assert!(id.starts_with("CFK"));
        assert_eq!(generate_access_key_secret().len(), 40);
    }
}
