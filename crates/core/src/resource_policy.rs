//! Resource policies: a JSON document attached to one secret that says which principals may
//! (or may not) do what to it, in the shape AWS Secrets Manager and Alibaba KMS use for
//! their secret policies:
//!
//! ```json
//! {"Version": "2012-10-17",
//!  "Statement": [
//!    {"Sid": "no-reads-for-ci", "Effect": "Deny",
//!     "Principal": {"AWS": "arn:aws:iam::123456789012:user/AKIDCI"},
//!     "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
//! ```
//!
//! Unlike an identity policy ([`crate::policy`]), a resource policy names its principals.
//! A coffer caller is an access key of an account, and is named by:
//!
//! - `*`, `{"AWS": "*"}` or `{"RAM": "*"}`: everyone (a *public* statement);
//! - `{"AWS": "<account>"}`, `{"AWS": "arn:aws:iam::<account>:root"}`: every key of the account;
//! - `{"AWS": "arn:aws:iam::<account>:user/<access key id>"}`: that one access key;
//! - `{"RAM": "acs:ram::<account>:root"}` or `acs:ram::<account>:*`: every key of the account.
//!
//! `<account>` is the account's 12-digit account number or its coffer account id. Other
//! principal kinds (`Service`, `Federated`, roles, ...) name nothing coffer has and match no
//! caller.
//!
//! Actions are matched case-insensitively, with `*` and `?` wildcards, against the names the
//! neutral action has in every vocabulary coffer speaks: `secretsmanager:GetSecretValue`,
//! `kms:GetSecretValue` and `secrets:GetValue` all name reading a value.
//!
//! A statement's `Condition` is not evaluated; to fail closed, a conditional `Deny` is taken to
//! apply and a conditional `Allow` not to.

use serde_json::Value;

use crate::access::Action;
use crate::model::AccountId;
use crate::policy::glob_match;

/// Largest document accepted: the larger of the clouds' limits (Alibaba's 32 KiB secret
/// policies; AWS's 20,480 characters are checked by its dialect).
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024;

/// Why a document is not a resource policy at all (AWS: MalformedPolicyDocumentException).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MalformedPolicy(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PrincipalRef {
    /// Everyone.
    Any,
    /// Every key of the account with this number or id (the text as written).
    Account(String),
    /// One access key.
    Key(String),
    /// A principal kind coffer has nothing for: matches no caller.
    Foreign,
}

#[derive(Clone, Debug)]
struct Statement {
    effect: Effect,
    principals: Vec<PrincipalRef>,
    /// Lower-cased patterns; `not_action` inverts.
    actions: Vec<String>,
    not_action: bool,
    resources: Vec<String>,
    not_resource: bool,
    conditional: bool,
}

/// A parsed resource policy.
#[derive(Clone, Debug)]
pub struct ResourcePolicy {
    statements: Vec<Statement>,
}

/// Who is asking, as a resource policy's principals can name it.
#[derive(Clone, Debug)]
pub struct Caller<'a> {
    pub account: AccountId,
    /// The account's 12-digit account number, when it has one.
    pub account_number: Option<&'a str>,
    pub access_key_id: &'a str,
}

/// The secret a request addresses, as a statement's `Resource` can name it.
#[derive(Clone, Debug)]
pub struct SecretNames<'a> {
    pub name: &'a str,
    /// The owning account's number (ARNs carry it) and its coffer id.
    pub account: AccountId,
    pub account_number: Option<&'a str>,
    /// The random 6-character tail of the secret's ARN, when it has one.
    pub arn_suffix: Option<&'a str>,
}

/// What a resource policy says about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A statement denies it: refused whatever else allows it.
    Deny,
    /// A statement allows it and none denies it.
    Allow,
    /// No statement applies.
    Silent,
}

/// One problem ValidateResourcePolicy reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub check: &'static str,
    pub message: String,
}

fn strings(value: &Value, path: &str) -> Result<Vec<String>, MalformedPolicy> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(MalformedPolicy(format!("{path}[{i}] must be a string"))),
            })
            .collect(),
        Value::Array(_) => Err(MalformedPolicy(format!("{path} must not be empty"))),
        _ => Err(MalformedPolicy(format!(
            "{path} must be a string or a list of strings"
        ))),
    }
}

fn principal_ref(kind: &str, text: &str) -> PrincipalRef {
    if text == "*" {
        return match kind {
            "AWS" | "RAM" | "*" => PrincipalRef::Any,
            _ => PrincipalRef::Foreign,
        };
    }
    match kind {
        "AWS" => {
            if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
                return PrincipalRef::Account(text.to_string());
            }
            let Some(rest) = text.strip_prefix("arn:aws:iam::") else {
                return PrincipalRef::Foreign;
            };
            match rest.split_once(':') {
                Some((account, "root")) => PrincipalRef::Account(account.to_string()),
                Some((_, user)) => match user.strip_prefix("user/") {
                    // The user's path, if any, comes before the name; the name is the key id.
                    Some(path) => {
                        PrincipalRef::Key(path.rsplit('/').next().unwrap_or_default().to_string())
                    }
                    None => PrincipalRef::Foreign,
                },
                None => PrincipalRef::Foreign,
            }
        }
        "RAM" => match text
            .strip_prefix("acs:ram::")
            .and_then(|r| r.split_once(':'))
        {
            Some((account, "root" | "*")) => PrincipalRef::Account(account.to_string()),
            _ => PrincipalRef::Foreign,
        },
        _ => PrincipalRef::Foreign,
    }
}

fn parse_principal(value: &Value, path: &str) -> Result<Vec<PrincipalRef>, MalformedPolicy> {
    match value {
        Value::String(s) if s == "*" => Ok(vec![PrincipalRef::Any]),
        Value::Object(kinds) if !kinds.is_empty() => {
            let mut out = Vec::new();
            for (kind, names) in kinds {
                for name in strings(names, &format!("{path}.{kind}"))? {
                    out.push(principal_ref(kind, &name));
                }
            }
            Ok(out)
        }
        _ => Err(MalformedPolicy(format!(
            "{path} must be \"*\" or an object such as {{\"AWS\": \"arn:aws:iam::123456789012:root\"}}"
        ))),
    }
}

fn parse_statement(value: &Value, path: &str) -> Result<Statement, MalformedPolicy> {
    let Value::Object(fields) = value else {
        return Err(MalformedPolicy(format!("{path} must be an object")));
    };
    for key in fields.keys() {
        if !matches!(
            key.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(MalformedPolicy(format!(
                "{path} has an unknown field {key:?}"
            )));
        }
    }
    if let Some(sid) = fields.get("Sid") {
        if !sid.is_string() {
            return Err(MalformedPolicy(format!("{path}.Sid must be a string")));
        }
    }
    let effect = match fields.get("Effect") {
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        _ => {
            return Err(MalformedPolicy(format!(
                "{path}.Effect must be \"Allow\" or \"Deny\""
            )))
        }
    };
    if fields.contains_key("NotPrincipal") {
        // Everyone except a list is a principal set coffer would have to enumerate; refusing
        // it is safer than guessing.
        return Err(MalformedPolicy(format!(
            "{path}.NotPrincipal is not supported; name the principals with Principal"
        )));
    }
    let principals = match fields.get("Principal") {
        Some(p) => parse_principal(p, &format!("{path}.Principal"))?,
        None => {
            return Err(MalformedPolicy(format!(
                "{path} has no Principal; a resource policy statement must name its principals"
            )))
        }
    };
    let (actions, not_action) = match (fields.get("Action"), fields.get("NotAction")) {
        (Some(a), None) => (strings(a, &format!("{path}.Action"))?, false),
        (None, Some(a)) => (strings(a, &format!("{path}.NotAction"))?, true),
        _ => {
            return Err(MalformedPolicy(format!(
                "{path} must have exactly one of Action and NotAction"
            )))
        }
    };
    let (resources, not_resource) = match (fields.get("Resource"), fields.get("NotResource")) {
        (Some(r), None) => (strings(r, &format!("{path}.Resource"))?, false),
        (None, Some(r)) => (strings(r, &format!("{path}.NotResource"))?, true),
        (None, None) => (vec!["*".to_string()], false),
        _ => {
            return Err(MalformedPolicy(format!(
                "{path} must not have both Resource and NotResource"
            )))
        }
    };
    let conditional = match fields.get("Condition") {
        None => false,
        Some(Value::Object(c)) => !c.is_empty(),
        Some(_) => {
            return Err(MalformedPolicy(format!(
                "{path}.Condition must be an object"
            )))
        }
    };
    Ok(Statement {
        effect,
        principals,
        actions: actions.iter().map(|a| a.to_ascii_lowercase()).collect(),
        not_action,
        resources,
        not_resource,
        conditional,
    })
}

impl ResourcePolicy {
    /// Parses a document. An empty `Statement` list is a valid policy that says nothing.
    pub fn parse(text: &str) -> Result<ResourcePolicy, MalformedPolicy> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(MalformedPolicy(format!(
                "The policy document is {} bytes; at most {MAX_DOCUMENT_BYTES} are allowed.",
                text.len()
            )));
        }
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| MalformedPolicy(format!("The policy document is not valid JSON: {e}")))?;
        let Value::Object(top) = doc else {
            return Err(MalformedPolicy(
                "The policy document must be a JSON object.".into(),
            ));
        };
        for key in top.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(MalformedPolicy(format!(
                    "The policy document has an unknown field {key:?}."
                )));
            }
        }
        let statements = match top.get("Statement") {
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(i, s)| parse_statement(s, &format!("Statement[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
            Some(s @ Value::Object(_)) => vec![parse_statement(s, "Statement")?],
            _ => {
                return Err(MalformedPolicy(
                    "The policy document must have a Statement (an object or a list).".into(),
                ))
            }
        };
        Ok(ResourcePolicy { statements })
    }

    /// Whether some `Allow` reaches everyone: a principal `*` (AWS's BlockPublicPolicy check).
    /// A conditional public Allow counts too: coffer does not evaluate conditions.
    pub fn is_public(&self) -> bool {
        self.statements
            .iter()
            .any(|s| s.effect == Effect::Allow && s.principals.contains(&PrincipalRef::Any))
    }

    /// What the policy says about `caller` doing `action` to `secret`.
    pub fn evaluate(
        &self,
        caller: &Caller<'_>,
        action: Action,
        secret: &SecretNames<'_>,
    ) -> Verdict {
        let names = action_names(action);
        let mut allowed = false;
        for s in &self.statements {
            if !s.principals.iter().any(|p| principal_matches(p, caller)) {
                continue;
            }
            let named = s.actions.iter().any(|pat| {
                names
                    .iter()
                    .any(|n| glob_match(pat, &n.to_ascii_lowercase()))
            });
            if named == s.not_action {
                continue;
            }
            let resource = s.resources.iter().any(|r| resource_matches(r, secret));
            if resource == s.not_resource {
                continue;
            }
            match (s.effect, s.conditional) {
                (Effect::Deny, _) => return Verdict::Deny,
                (Effect::Allow, false) => allowed = true,
                (Effect::Allow, true) => {}
            }
        }
        if allowed {
            Verdict::Allow
        } else {
            Verdict::Silent
        }
    }
}

/// Checks a document as ValidateResourcePolicy does: `Err` when it is not a policy at all;
/// otherwise the findings (none: the check passed).
pub fn validate(text: &str) -> Result<Vec<Finding>, MalformedPolicy> {
    let policy = ResourcePolicy::parse(text)?;
    let mut findings = Vec::new();
    if policy.is_public() {
        findings.push(Finding {
            check: "BLOCK_PUBLIC_POLICY",
            message: "The policy grants access to every principal (\"*\"); PutResourcePolicy \
                      refuses it unless BlockPublicPolicy is false."
                .into(),
        });
    }
    for (i, s) in policy.statements.iter().enumerate() {
        if s.principals.iter().all(|p| *p == PrincipalRef::Foreign) {
            findings.push(Finding {
                check: "PRINCIPAL",
                message: format!(
                    "Statement[{i}] names no principal coffer has (an account, \
                     arn:aws:iam::<account>:root or arn:aws:iam::<account>:user/<access key id>); \
                     it applies to no caller."
                ),
            });
        }
        let known = s.actions.iter().any(|pat| {
            ALL_ACTIONS.iter().any(|a| {
                action_names(*a)
                    .iter()
                    .any(|n| glob_match(pat, &n.to_ascii_lowercase()))
            })
        });
        if !known && !s.not_action {
            findings.push(Finding {
                check: "ACTION",
                message: format!(
                    "Statement[{i}] names no Secrets Manager action (such as \
                     secretsmanager:GetSecretValue); it applies to no request."
                ),
            });
        }
        if s.conditional {
            findings.push(Finding {
                check: "CONDITION",
                message: format!(
                    "Statement[{i}] has a Condition, which coffer does not evaluate: a Deny with \
                     a condition always applies, an Allow with one never does."
                ),
            });
        }
    }
    Ok(findings)
}

fn principal_matches(p: &PrincipalRef, caller: &Caller<'_>) -> bool {
    match p {
        PrincipalRef::Any => true,
        PrincipalRef::Account(n) => account_is(n, caller.account, caller.account_number),
        PrincipalRef::Key(id) => id == caller.access_key_id,
        PrincipalRef::Foreign => false,
    }
}

fn account_is(text: &str, id: AccountId, number: Option<&str>) -> bool {
    text == id.to_string() || number == Some(text)
}

/// A statement's `Resource` against the secret it is attached to: `*`, or an ARN pattern
/// whose account is the owner's and whose `secret:` part matches `<name>-<suffix>` (or the
/// name alone). The region part is not compared: coffer's region map lets one secret answer
/// to several region ids.
fn resource_matches(pattern: &str, secret: &SecretNames<'_>) -> bool {
    if pattern == "*" {
        return true;
    }
    let parts: Vec<&str> = pattern.splitn(6, ':').collect();
    let [arn, _partition, service, _region, account, resource] = parts[..] else {
        return false;
    };
    if arn != "arn" || !glob_match(service, "secretsmanager") {
        return false;
    }
    let owner_ok = glob_match(account, &secret.account.to_string())
        || secret
            .account_number
            .is_some_and(|n| glob_match(account, n));
    if !owner_ok {
        return false;
    }
    let Some(name_pattern) = resource.strip_prefix("secret:") else {
        return false;
    };
    let full = secret
        .arn_suffix
        .map(|s| format!("{}-{s}", secret.name))
        .unwrap_or_else(|| secret.name.to_string());
    glob_match(name_pattern, &full) || glob_match(name_pattern, secret.name)
}

/// Characters an ARN suffix is made of.
const SUFFIX_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The six letters and digits that follow a secret's name in its ARN
/// (`arn:aws:secretsmanager:<region>:<account>:secret:<name>-<suffix>`), drawn from the random
/// last bytes of its id: fixed for the secret's life, and different for a secret made again
/// under the same name. Here, because a resource policy's `Resource` may name the secret by
/// its full ARN; the AWS dialect prints the same.
pub fn arn_suffix(id: &uuid::Uuid) -> String {
    id.as_bytes()[10..16]
        .iter()
        .map(|b| SUFFIX_ALPHABET[usize::from(*b) % SUFFIX_ALPHABET.len()] as char)
        .collect()
}

/// Every action a secret's resource policy can govern.
const ALL_ACTIONS: [Action; 13] = [
    Action::SecretsGetValue,
    Action::SecretsPutValue,
    Action::SecretsDescribe,
    Action::SecretsList,
    Action::SecretsUpdate,
    Action::SecretsUpdateStage,
    Action::SecretsDelete,
    Action::SecretsRestore,
    Action::SecretsTag,
    Action::SecretsRotate,
    Action::SecretsGetPolicy,
    Action::SecretsPutPolicy,
    Action::SecretsCreate,
];

/// The names a neutral action has in the policies coffer reads: its own, and the operations
/// of AWS (`secretsmanager:`) and Alibaba (`kms:`) that map to it.
pub fn action_names(action: Action) -> Vec<String> {
    let ops: &[&str] = match action {
        Action::SecretsCreate => &["CreateSecret"],
        Action::SecretsGetValue => &["GetSecretValue", "BatchGetSecretValue"],
        Action::SecretsPutValue => &["PutSecretValue"],
        Action::SecretsDescribe => &["DescribeSecret", "ListSecretVersionIds"],
        Action::SecretsList => &["ListSecrets"],
        Action::SecretsUpdate => &[
            "UpdateSecret",
            "ReplicateSecretToRegions",
            "RemoveRegionsFromReplication",
            "StopReplicationToReplica",
        ],
        Action::SecretsUpdateStage => &["UpdateSecretVersionStage"],
        Action::SecretsDelete => &["DeleteSecret"],
        Action::SecretsRestore => &["RestoreSecret"],
        Action::SecretsTag => &["TagResource", "UntagResource"],
        Action::SecretsRotate => &["RotateSecret", "CancelRotateSecret"],
        Action::SecretsGetPolicy => &[
            "GetResourcePolicy",
            "ListResourcePolicies",
            "ValidateResourcePolicy",
            "GetSecretPolicy",
        ],
        Action::SecretsPutPolicy => &[
            "PutResourcePolicy",
            "DeleteResourcePolicy",
            "SetSecretPolicy",
        ],
        _ => &[],
    };
    let mut names = vec![action.as_str().to_string()];
    for op in ops {
        names.push(format!("secretsmanager:{op}"));
        names.push(format!("kms:{op}"));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: AccountId = AccountId(1111222233334444);
    const OTHER: AccountId = AccountId(5555666677778888);

    fn caller<'a>(account: AccountId, number: &'a str, key: &'a str) -> Caller<'a> {
        Caller {
            account,
            account_number: Some(number),
            access_key_id: key,
        }
    }

    fn secret() -> SecretNames<'static> {
        SecretNames {
            name: "app/db",
            account: ME,
            account_number: Some("123456789012"),
            arn_suffix: Some("AbCdEf"),
        }
    }

    fn doc(statements: &str) -> ResourcePolicy {
        ResourcePolicy::parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":{statements}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn deny_by_key_user_arn_names_one_key() {
        let p = doc(
            r#"[{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:user/AKIDCI"},
                 "Action":"secretsmanager:GetSecretValue","Resource":"*"}]"#,
        );
        let ci = caller(ME, "123456789012", "AKIDCI");
        let other = caller(ME, "123456789012", "AKIDOPS");
        assert_eq!(
            p.evaluate(&ci, Action::SecretsGetValue, &secret()),
            Verdict::Deny
        );
        assert_eq!(
            p.evaluate(&ci, Action::SecretsDescribe, &secret()),
            Verdict::Silent
        );
        assert_eq!(
            p.evaluate(&other, Action::SecretsGetValue, &secret()),
            Verdict::Silent
        );
    }

    #[test]
    fn account_principals_in_every_spelling() {
        for principal in [
            r#"{"AWS":"123456789012"}"#,
            r#"{"AWS":"arn:aws:iam::123456789012:root"}"#,
            r#"{"AWS":["arn:aws:iam::999999999999:root","arn:aws:iam::123456789012:root"]}"#,
            r#"{"RAM":"acs:ram::1111222233334444:root"}"#,
            r#"{"AWS":"arn:aws:iam::1111222233334444:root"}"#,
        ] {
            let p = doc(&format!(
                r#"[{{"Effect":"Deny","Principal":{principal},"Action":"secretsmanager:*"}}]"#
            ));
            let me = caller(ME, "123456789012", "K");
            let them = caller(OTHER, "210987654321", "K");
            assert_eq!(
                p.evaluate(&me, Action::SecretsPutValue, &secret()),
                Verdict::Deny,
                "{principal}"
            );
            assert_eq!(
                p.evaluate(&them, Action::SecretsPutValue, &secret()),
                Verdict::Silent,
                "{principal}"
            );
        }
    }

    #[test]
    fn deny_beats_allow_and_actions_ignore_case() {
        let p = doc(r#"[{"Effect":"Allow","Principal":"*","Action":"*"},
                {"Effect":"Deny","Principal":{"AWS":"*"},"Action":"SecretsManager:getSecret*"}]"#);
        let c = caller(OTHER, "210987654321", "K");
        assert_eq!(
            p.evaluate(&c, Action::SecretsGetValue, &secret()),
            Verdict::Deny
        );
        assert_eq!(
            p.evaluate(&c, Action::SecretsDescribe, &secret()),
            Verdict::Allow
        );
        assert!(p.is_public());
    }

    #[test]
    fn neutral_and_alibaba_action_names_match() {
        for action in [
            "secrets:GetValue",
            "kms:GetSecretValue",
            "secretsmanager:Get*",
        ] {
            let p = doc(&format!(
                r#"{{"Effect":"Deny","Principal":"*","Action":"{action}"}}"#
            ));
            let c = caller(ME, "123456789012", "K");
            assert_eq!(
                p.evaluate(&c, Action::SecretsGetValue, &secret()),
                Verdict::Deny,
                "{action}"
            );
        }
    }

    #[test]
    fn conditions_fail_closed() {
        let p = doc(
            r#"[{"Effect":"Deny","Principal":"*","Action":"secretsmanager:PutSecretValue",
                 "Condition":{"StringEquals":{"aws:SourceVpc":"vpc-1"}}},
                {"Effect":"Allow","Principal":"*","Action":"secretsmanager:DescribeSecret",
                 "Condition":{"Bool":{"aws:SecureTransport":"true"}}}]"#,
        );
        let c = caller(ME, "123456789012", "K");
        assert_eq!(
            p.evaluate(&c, Action::SecretsPutValue, &secret()),
            Verdict::Deny
        );
        assert_eq!(
            p.evaluate(&c, Action::SecretsDescribe, &secret()),
            Verdict::Silent
        );
    }

    #[test]
    fn resources_by_arn() {
        let c = caller(ME, "123456789012", "K");
        for (resource, applies) in [
            (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf",
                true,
            ),
            ("arn:aws:secretsmanager:*:123456789012:secret:app/*", true),
            (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db",
                true,
            ),
            (
                "arn:aws:secretsmanager:us-east-1:999999999999:secret:app/db-AbCdEf",
                false,
            ),
            (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-*",
                false,
            ),
            ("not-an-arn", false),
        ] {
            let p = doc(&format!(
                r#"{{"Effect":"Deny","Principal":"*","Action":"*","Resource":"{resource}"}}"#
            ));
            let want = if applies {
                Verdict::Deny
            } else {
                Verdict::Silent
            };
            assert_eq!(
                p.evaluate(&c, Action::SecretsGetValue, &secret()),
                want,
                "{resource}"
            );
        }
    }

    #[test]
    fn malformed_documents() {
        for bad in [
            "{not json",
            "[]",
            r#"{"Version":"2012-10-17"}"#,
            r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Extra":1}]}"#,
            r#"{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"1"},"Principal":"*","Action":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":[]}]}"#,
            r#"{"Statement":[],"Other":1}"#,
        ] {
            assert!(ResourcePolicy::parse(bad).is_err(), "{bad}");
            assert!(validate(bad).is_err(), "{bad}");
        }
        assert!(ResourcePolicy::parse(&"x".repeat(MAX_DOCUMENT_BYTES + 1)).is_err());
        // Alibaba's empty policy is a policy that says nothing.
        let empty = ResourcePolicy::parse(r#"{"Version":"1","Statement":[]}"#).unwrap();
        let c = caller(ME, "123456789012", "K");
        assert_eq!(
            empty.evaluate(&c, Action::SecretsGetValue, &secret()),
            Verdict::Silent
        );
    }

    #[test]
    fn validation_findings() {
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
            "Principal":{"AWS":"arn:aws:iam::123456789012:root"},
            "Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
        assert_eq!(validate(ok).unwrap(), vec![]);
        let public =
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"secretsmanager:*"}}"#;
        let f = validate(public).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].check, "BLOCK_PUBLIC_POLICY");
        let odd = r#"{"Statement":[{"Effect":"Deny","Principal":{"Service":"lambda.amazonaws.com"},
            "Action":"s3:GetObject"}]}"#;
        let checks: Vec<_> = validate(odd).unwrap().iter().map(|f| f.check).collect();
        assert_eq!(checks, vec!["PRINCIPAL", "ACTION"]);
    }
}
