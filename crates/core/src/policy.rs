//! Access policies: which actions an identity may perform on which resources.
//!
//! This is authorization, so it lives in core beside the service's access check that applies
//! it; `coffer-auth` only establishes which key signed a request.
//!
//! A policy is a JSON document in coffer's own format, modelled on AWS IAM but deliberately
//! smaller:
//!
//! ```json
//! {"Version": "1",
//!  "Statement": [
//!    {"Sid": "read-app", "Effect": "Allow",
//!     "Action": ["secrets:GetValue", "secrets:Describe"],
//!     "Resource": "crn:coffer:*:*:secret/app/*",
//!     "Condition": {"StringEquals": {"coffer:ResourceTag/env": ["prod", "stage"]}}}
//!  ]}
//! ```
//!
//! Parsing is strict: unknown fields, duplicate keys, unknown services, operators or condition
//! keys are errors, never ignored. A field that is silently ignored is a permission the author
//! believes they granted or withheld but did not, so every error names where the problem is
//! (`Statement[2].Effect: must be "Allow" or "Deny"`) and the document is refused as a whole.
//!
//! Evaluation follows the usual deny-overrides rule: an applying `Deny` in any policy wins over
//! every `Allow`; otherwise an applying `Allow` allows; otherwise the answer is the implicit deny
//! [`Decision::NotAllowed`]. Conditions look at the resource's tags, which cost a storage read,
//! so [`evaluate`] can be called without them first and says [`Decision::NeedTags`] only when the
//! answer really depends on them.
//!
//! Wildcards (`*` for any run of characters, `?` for exactly one) are matched with the greedy
//! two-pointer algorithm, which needs at most `pattern × text` steps; a crafted pattern cannot
//! make a check take exponential time.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Largest accepted policy document, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024;
/// Most statements one policy may hold.
pub const MAX_STATEMENTS: usize = 100;
/// Most entries in one `Action` or `Resource` list, or in one condition value list.
pub const MAX_LIST_ENTRIES: usize = 100;

/// Prefix every resource pattern other than `*` must start with.
const RESOURCE_PREFIX: &str = "crn:coffer:";
/// The only supported condition key family; the tag key follows the slash.
const TAG_KEY_PREFIX: &str = "coffer:ResourceTag/";
/// Services an action pattern may name (compared in lower case).
const SERVICES: &[&str] = &["secrets", "keys", "admin", "databases"];

/// Why a policy document was refused.
///
/// Display is the message to show the author; it names the location of the problem. Values
/// quoted in messages come from the policy itself, which is not secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The document is larger than [`MAX_DOCUMENT_BYTES`].
    #[error("policy document is {0} bytes; at most {MAX_DOCUMENT_BYTES} are allowed")]
    TooLarge(usize),
    /// The document is not JSON, or an object repeats a key.
    #[error("policy document is not valid JSON: {0}")]
    Json(String),
    /// The document is JSON but not a valid policy; `path` says where
    /// (`Statement[2].Effect`).
    #[error("{path}: {message}")]
    Invalid {
        /// Location of the problem, e.g. `Statement[0].Action[3]`.
        path: String,
        /// What is wrong there.
        message: String,
    },
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// A value quoted for an error message, cut short so that a huge string does not make a huge
/// message.
fn quote(value: &str) -> String {
    const MAX_CHARS: usize = 80;
    if value.chars().count() <= MAX_CHARS {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(MAX_CHARS).collect();
        format!("{head:?}...")
    }
}

/// A field name as it appears in an error path: bare when it is a plain identifier-like name,
/// quoted (and shortened) otherwise, so that odd names cannot make the path ambiguous.
fn field_name(name: &str) -> String {
    let plain = !name.is_empty()
        && name.len() <= 80
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-:/".contains(&b));
    if plain {
        name.to_string()
    } else {
        quote(name)
    }
}

/// Whether a statement grants or refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// A parsed access policy.
///
/// Holds only the parsed patterns, not the original text. Debug prints the patterns; policies
/// are configuration, not secrets.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone)]
struct Statement {
    /// Kept for Debug output and future diagnostics; plays no part in evaluation.
    #[allow(dead_code)]
    sid: Option<String>,
    effect: Effect,
    actions: Vec<ActionPattern>,
    /// `*` or `crn:coffer:...` glob patterns, matched case-sensitively.
    resources: Vec<String>,
    condition: Option<Condition>,
}

/// One entry of `Action`, in lower case (action matching ignores ASCII case).
#[derive(Debug, Clone)]
enum ActionPattern {
    /// `*`: every action of every service.
    Any,
    /// `<service>:<verb glob>`; `service` is `None` for `*`.
    Service {
        service: Option<&'static str>,
        verb: String,
    },
}

/// The operators a condition may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Equals,
    NotEquals,
    Like,
    NotLike,
}

impl Operator {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "StringEquals" => Some(Self::Equals),
            "StringNotEquals" => Some(Self::NotEquals),
            "StringLike" => Some(Self::Like),
            "StringNotLike" => Some(Self::NotLike),
            _ => None,
        }
    }
}

/// One (operator, tag key, alternatives) triple of a condition. A condition holds when all of
/// its clauses hold.
#[derive(Debug, Clone)]
struct Clause {
    operator: Operator,
    tag_key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone)]
struct Condition {
    clauses: Vec<Clause>,
}

impl Condition {
    fn holds(&self, tags: &[(String, String)]) -> bool {
        self.clauses.iter().all(|clause| clause.holds(tags))
    }
}

impl Clause {
    /// The negated operators are the negation of their positive counterparts: `StringNotEquals`
    /// with values `[a, b]` holds when the tag is neither `a` nor `b` (or absent). Reading the
    /// alternatives as "differs from at least one of them" would make every multi-valued
    /// `StringNotEquals` hold for every resource, which is never what an author means.
    fn holds(&self, tags: &[(String, String)]) -> bool {
        let tag = tags
            .iter()
            .find(|(key, _)| *key == self.tag_key)
            .map(|(_, value)| value.as_str());
        let matches_any = |like: bool| match tag {
            None => false,
            Some(tag) => self
                .values
                .iter()
                .any(|v| if like { glob_match(v, tag) } else { v == tag }),
        };
        match self.operator {
            Operator::Equals => matches_any(false),
            Operator::NotEquals => !matches_any(false),
            Operator::Like => matches_any(true),
            Operator::NotLike => !matches_any(true),
        }
    }
}

impl Statement {
    /// Whether the statement's action and resource patterns cover the request. `action` must
    /// already be in ASCII lower case.
    fn covers(&self, action: &str, resource: &str) -> bool {
        self.actions.iter().any(|a| a.matches(action))
            && self
                .resources
                .iter()
                .any(|pattern| glob_match(pattern, resource))
    }
}

impl ActionPattern {
    /// `action` must already be in ASCII lower case.
    fn matches(&self, action: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Service { service, verb } => {
                let Some((action_service, action_verb)) = action.split_once(':') else {
                    return false;
                };
                service.is_none_or(|s| s == action_service) && glob_match(verb, action_verb)
            }
        }
    }
}

impl Policy {
    /// Parses and validates a policy document.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(PolicyError::TooLarge(text.len()));
        }
        let doc: Json = serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?;
        let Json::Object(fields) = doc else {
            return Err(invalid("policy", "must be a JSON object"));
        };
        let mut statement = None;
        for (name, value) in fields {
            match name.as_str() {
                "Version" => match value {
                    Json::String(v) if v == "1" => {}
                    Json::String(v) => {
                        return Err(invalid(
                            "Version",
                            format!("unsupported version {}; must be \"1\"", quote(&v)),
                        ))
                    }
                    _ => return Err(invalid("Version", "must be the string \"1\"")),
                },
                "Statement" => statement = Some(value),
                _ => return Err(invalid(field_name(&name), "unknown field")),
            }
        }
        let raw = match statement {
            None => return Err(invalid("Statement", "required")),
            Some(Json::Object(fields)) => vec![Json::Object(fields)],
            Some(Json::Array(items)) if items.is_empty() => {
                return Err(invalid("Statement", "must not be empty"))
            }
            Some(Json::Array(items)) if items.len() > MAX_STATEMENTS => {
                return Err(invalid(
                    "Statement",
                    format!(
                        "has {} statements; at most {MAX_STATEMENTS} are allowed",
                        items.len()
                    ),
                ))
            }
            Some(Json::Array(items)) => items,
            Some(_) => {
                return Err(invalid(
                    "Statement",
                    "must be an object or an array of objects",
                ))
            }
        };
        let statements = raw
            .into_iter()
            .enumerate()
            .map(|(index, value)| parse_statement(index, value))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { statements })
    }

    /// Number of statements in the policy.
    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }
}

fn parse_statement(index: usize, value: Json) -> Result<Statement, PolicyError> {
    let path = format!("Statement[{index}]");
    let Json::Object(fields) = value else {
        return Err(invalid(path, "must be an object"));
    };
    let mut sid = None;
    let mut effect = None;
    let mut actions = None;
    let mut resources = None;
    let mut condition = None;
    for (name, value) in fields {
        let at = format!("{path}.{}", field_name(&name));
        match name.as_str() {
            "Sid" => match value {
                Json::String(s) => sid = Some(s),
                _ => return Err(invalid(at, "must be a string")),
            },
            "Effect" => {
                effect = Some(match value {
                    Json::String(s) if s == "Allow" => Effect::Allow,
                    Json::String(s) if s == "Deny" => Effect::Deny,
                    _ => return Err(invalid(at, "must be \"Allow\" or \"Deny\"")),
                })
            }
            "Action" => {
                actions = Some(
                    string_list(&at, value)?
                        .into_iter()
                        .map(|(at, v)| parse_action(&at, &v))
                        .collect::<Result<Vec<_>, _>>()?,
                )
            }
            "Resource" => {
                resources = Some(
                    string_list(&at, value)?
                        .into_iter()
                        .map(|(at, v)| parse_resource(&at, v))
                        .collect::<Result<Vec<_>, _>>()?,
                )
            }
            "Condition" => condition = Some(parse_condition(&at, value)?),
            "NotAction" | "NotResource" | "Principal" | "NotPrincipal" => {
                return Err(invalid(at, "not supported"))
            }
            _ => return Err(invalid(at, "unknown field")),
        }
    }
    let required = |field: &str| invalid(format!("{path}.{field}"), "required");
    Ok(Statement {
        sid,
        effect: effect.ok_or_else(|| required("Effect"))?,
        actions: actions.ok_or_else(|| required("Action"))?,
        resources: resources.ok_or_else(|| required("Resource"))?,
        condition,
    })
}

/// A string or a non-empty array of at most [`MAX_LIST_ENTRIES`] strings, each paired with the
/// path to name in errors about it.
fn string_list(path: &str, value: Json) -> Result<Vec<(String, String)>, PolicyError> {
    match value {
        Json::String(s) => Ok(vec![(path.to_string(), s)]),
        Json::Array(items) if items.is_empty() => Err(invalid(path, "must not be empty")),
        Json::Array(items) if items.len() > MAX_LIST_ENTRIES => Err(invalid(
            path,
            format!(
                "has {} entries; at most {MAX_LIST_ENTRIES} are allowed",
                items.len()
            ),
        )),
        Json::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let at = format!("{path}[{i}]");
                match item {
                    Json::String(s) => Ok((at, s)),
                    _ => Err(invalid(at, "must be a string")),
                }
            })
            .collect(),
        _ => Err(invalid(path, "must be a string or an array of strings")),
    }
}

fn parse_action(path: &str, value: &str) -> Result<ActionPattern, PolicyError> {
    if value == "*" {
        return Ok(ActionPattern::Any);
    }
    let lower = value.to_ascii_lowercase();
    let Some((service, verb)) = lower.split_once(':') else {
        return Err(invalid(
            path,
            format!(
                "{} is not an action: expected \"*\" or \"<service>:<action>\"",
                quote(value)
            ),
        ));
    };
    let service = if service == "*" {
        None
    } else if let Some(known) = SERVICES.iter().find(|s| **s == service) {
        Some(*known)
    } else {
        return Err(invalid(
            path,
            format!(
                "{}: unknown service; expected \"secrets\", \"keys\", \"admin\", \"databases\" or \"*\"",
                quote(value)
            ),
        ));
    };
    if verb.is_empty() {
        return Err(invalid(
            path,
            format!("{}: the action after the colon is empty", quote(value)),
        ));
    }
    // Action names are plain identifiers; anything else (spaces, a second colon) is a typo
    // that would otherwise silently never match.
    if !verb
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?')
    {
        return Err(invalid(
            path,
            format!(
                "{}: an action may contain only letters, digits and the wildcards * and ?",
                quote(value)
            ),
        ));
    }
    Ok(ActionPattern::Service {
        service,
        verb: verb.to_string(),
    })
}

fn parse_resource(path: &str, value: String) -> Result<String, PolicyError> {
    if value == "*" || value.starts_with(RESOURCE_PREFIX) {
        Ok(value)
    } else {
        Err(invalid(
            path,
            format!(
                "{} is not a resource: expected \"*\" or a pattern starting with \"{RESOURCE_PREFIX}\"",
                quote(&value)
            ),
        ))
    }
}

fn parse_condition(path: &str, value: Json) -> Result<Condition, PolicyError> {
    let Json::Object(operators) = value else {
        return Err(invalid(path, "must be an object"));
    };
    // An empty condition would hold for everything yet still make evaluation ask for tags; it
    // is far more likely a mistake than an intent.
    if operators.is_empty() {
        return Err(invalid(path, "must not be empty"));
    }
    let mut clauses = Vec::new();
    for (op_name, keys) in operators {
        let op_path = format!("{path}.{}", field_name(&op_name));
        let Some(operator) = Operator::from_name(&op_name) else {
            return Err(invalid(
                op_path,
                "unknown condition operator; expected StringEquals, StringNotEquals, \
                 StringLike or StringNotLike",
            ));
        };
        let Json::Object(keys) = keys else {
            return Err(invalid(op_path, "must be an object of condition keys"));
        };
        if keys.is_empty() {
            return Err(invalid(op_path, "must not be empty"));
        }
        for (key, values) in keys {
            let key_path = format!("{op_path}.{}", field_name(&key));
            let Some(tag_key) = key.strip_prefix(TAG_KEY_PREFIX) else {
                return Err(invalid(
                    key_path,
                    format!("unknown condition key; only {TAG_KEY_PREFIX}<tag key> is supported"),
                ));
            };
            if tag_key.is_empty() {
                return Err(invalid(key_path, "the tag key is empty"));
            }
            let values = string_list(&key_path, values)?
                .into_iter()
                .map(|(_, v)| v)
                .collect();
            clauses.push(Clause {
                operator,
                tag_key: tag_key.to_string(),
                values,
            });
        }
    }
    Ok(Condition { clauses })
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Some statement allows the request and none denies it.
    Allow,
    /// A statement explicitly denies the request.
    Deny,
    /// No statement allows the request: the implicit deny.
    NotAllowed,
    /// The answer depends on the resource's tags, which were not supplied. Load them and call
    /// [`evaluate`] again with `Some(tags)`; it never answers `NeedTags` then.
    NeedTags,
}

/// Decides whether `policies` together permit `action` (e.g. `secrets:GetValue`) on `resource`
/// (e.g. `crn:coffer:cn-hangzhou:123:secret/app/db`).
///
/// `tags` are the resource's tags, or `None` when the caller has not loaded them yet. Without
/// tags, statements with a condition cannot be decided; the answer is then
/// [`Decision::NeedTags`] exactly when the tags could change it: a conditional `Deny` covers the
/// request, or a conditional `Allow` does and no unconditional `Allow` already allows it. An
/// unconditional `Deny` answers [`Decision::Deny`] at once, tags or not.
pub fn evaluate(
    policies: &[Policy],
    action: &str,
    resource: &str,
    tags: Option<&[(String, String)]>,
) -> Decision {
    let action = action.to_ascii_lowercase();
    let mut allowed = false;
    let mut undecided_allow = false;
    let mut undecided_deny = false;
    for statement in policies.iter().flat_map(|p| &p.statements) {
        if !statement.covers(&action, resource) {
            continue;
        }
        let applies = match (&statement.condition, tags) {
            (None, _) => true,
            (Some(condition), Some(tags)) => condition.holds(tags),
            (Some(_), None) => {
                match statement.effect {
                    Effect::Allow => undecided_allow = true,
                    Effect::Deny => undecided_deny = true,
                }
                false
            }
        };
        if applies {
            match statement.effect {
                Effect::Deny => return Decision::Deny,
                Effect::Allow => allowed = true,
            }
        }
    }
    if undecided_deny || (undecided_allow && !allowed) {
        Decision::NeedTags
    } else if allowed {
        Decision::Allow
    } else {
        Decision::NotAllowed
    }
}

/// Glob match: `*` matches any run of characters (including none, `:` and `/`), `?` exactly one
/// character; everything else matches itself exactly.
///
/// Greedy two-pointer matching with a single backtrack point: on a mismatch only the most
/// recent `*` is retried one character further. Retrying earlier stars is never needed (the
/// latest star can absorb anything they could), so the work is bounded by
/// `pattern.len() × text.len()` instead of growing exponentially with the number of stars.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // (pattern index just after the last `*`, text index that star's run currently ends at)
    let mut backtrack: Option<(usize, usize)> = None;
    while let Some(tc) = text[t..].chars().next() {
        match pattern[p..].chars().next() {
            Some('*') => {
                backtrack = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some(pc) if pc == '?' || pc == tc => {
                p += pc.len_utf8();
                t += tc.len_utf8();
                continue;
            }
            _ => {}
        }
        let Some((star_p, star_t)) = backtrack else {
            return false;
        };
        // Let the star swallow one more character and retry from just after it.
        let swallowed = text[star_t..].chars().next().map_or(0, char::len_utf8);
        p = star_p;
        t = star_t + swallowed;
        backtrack = Some((star_p, t));
    }
    pattern[p..].chars().all(|c| c == '*')
}

/// A JSON value that remembers object keys in order and refuses duplicate keys.
///
/// `serde_json::Value` keeps the last of two equal keys, so `{"Effect": "Deny", "Effect":
/// "Allow"}` would quietly become an Allow; refusing the document is the only safe reading.
enum Json {
    Null,
    Bool,
    Number,
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Json, E> {
        Ok(Json::Bool)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Json, E> {
        Ok(Json::Number)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Json, E> {
        Ok(Json::Number)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Json, E> {
        Ok(Json::Number)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut seen = HashSet::new();
        let mut fields = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {}",
                    quote(&key)
                )));
            }
            let value = map.next_value()?;
            fields.push((key, value));
        }
        Ok(Json::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const EXAMPLE: &str = r#"{"Version": "1",
     "Statement": [
       {"Sid": "read-app", "Effect": "Allow",
        "Action": ["secrets:GetValue", "secrets:Describe"],
        "Resource": "crn:coffer:*:*:secret/app/*",
        "Condition": {"StringEquals": {"coffer:ResourceTag/env": ["prod", "stage"]}}}
     ]}"#;

    const APP_DB: &str = "crn:coffer:cn-hangzhou:123456:secret/app/db";

    fn policy(text: &str) -> Policy {
        match Policy::parse(text) {
            Ok(p) => p,
            Err(e) => panic!("policy should parse: {e}\n{text}"),
        }
    }

    fn error(text: &str) -> String {
        match Policy::parse(text) {
            Ok(p) => panic!("policy should be refused: {text}\nparsed as {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// A one-statement policy.
    fn statement(effect: &str, action: &str, resource: &str, condition: Option<&str>) -> Policy {
        let condition = condition
            .map(|c| format!(r#", "Condition": {c}"#))
            .unwrap_or_default();
        policy(&format!(
            r#"{{"Statement": {{"Effect": "{effect}", "Action": "{action}", "Resource": "{resource}"{condition}}}}}"#
        ))
    }

    fn allows(p: &Policy, action: &str, resource: &str) -> bool {
        evaluate(std::slice::from_ref(p), action, resource, Some(&[])) == Decision::Allow
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // ---- parsing ----

    #[test]
    fn parses_the_documented_example() {
        let p = policy(EXAMPLE);
        assert_eq!(p.statement_count(), 1);
        let s = &p.statements[0];
        assert_eq!(s.sid.as_deref(), Some("read-app"));
        assert_eq!(s.effect, Effect::Allow);
        assert_eq!(s.actions.len(), 2);
        assert_eq!(s.resources, vec!["crn:coffer:*:*:secret/app/*".to_string()]);
        let condition = s.condition.as_ref().expect("condition");
        assert_eq!(condition.clauses.len(), 1);
        assert_eq!(condition.clauses[0].operator, Operator::Equals);
        assert_eq!(condition.clauses[0].tag_key, "env");
        assert_eq!(condition.clauses[0].values, vec!["prod", "stage"]);

        let prod = tags(&[("env", "prod")]);
        let dev = tags(&[("env", "dev")]);
        let ps = [p];
        assert_eq!(
            evaluate(&ps, "secrets:GetValue", APP_DB, Some(&prod)),
            Decision::Allow
        );
        assert_eq!(
            evaluate(&ps, "secrets:GetValue", APP_DB, Some(&dev)),
            Decision::NotAllowed
        );
        assert_eq!(
            evaluate(&ps, "secrets:GetValue", APP_DB, None),
            Decision::NeedTags
        );
        assert_eq!(
            evaluate(&ps, "secrets:PutValue", APP_DB, None),
            Decision::NotAllowed
        );
    }

    #[test]
    fn parses_a_single_statement_object_and_optional_fields() {
        let p = policy(r#"{"Statement": {"Effect": "Deny", "Action": "keys:*", "Resource": "*"}}"#);
        assert_eq!(p.statement_count(), 1);
        assert_eq!(p.statements[0].effect, Effect::Deny);
        assert!(p.statements[0].sid.is_none());
        assert!(p.statements[0].condition.is_none());

        let p = policy(
            r#"{"Version": "1", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "Action": ["keys:Delete*"], "Resource": ["crn:coffer:*"]}]}"#,
        );
        assert_eq!(p.statement_count(), 2);
    }

    #[test]
    fn document_level_errors_name_the_location() {
        let cases: &[(&str, &str)] = &[
            ("[]", "policy: must be a JSON object"),
            (r#"{"Version": "1"}"#, "Statement: required"),
            (
                r#"{"Version": "2", "Statement": []}"#,
                r#"Version: unsupported version "2"; must be "1""#,
            ),
            (
                r#"{"Version": 1, "Statement": []}"#,
                r#"Version: must be the string "1""#,
            ),
            (r#"{"Statement": []}"#, "Statement: must not be empty"),
            (
                r#"{"Statement": "x"}"#,
                "Statement: must be an object or an array of objects",
            ),
            (r#"{"Statement": [], "Id": "x"}"#, "Id: unknown field"),
            (r#"{"Statement": ["x"]}"#, "Statement[0]: must be an object"),
        ];
        for (doc, want) in cases {
            assert_eq!(error(doc), *want, "for {doc}");
        }
    }

    #[test]
    fn statement_errors_name_the_statement_and_field() {
        let ok = r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}"#;
        let cases: &[(&str, &str)] = &[
            (
                r#"{"Effect": "allow", "Action": "*", "Resource": "*"}"#,
                r#"Statement[1].Effect: must be "Allow" or "Deny""#,
            ),
            (
                r#"{"Effect": ["Allow"], "Action": "*", "Resource": "*"}"#,
                r#"Statement[1].Effect: must be "Allow" or "Deny""#,
            ),
            (
                r#"{"Action": "*", "Resource": "*"}"#,
                "Statement[1].Effect: required",
            ),
            (
                r#"{"Effect": "Allow", "Resource": "*"}"#,
                "Statement[1].Action: required",
            ),
            (
                r#"{"Effect": "Allow", "Action": "*"}"#,
                "Statement[1].Resource: required",
            ),
            (
                r#"{"Sid": 7, "Effect": "Allow", "Action": "*", "Resource": "*"}"#,
                "Statement[1].Sid: must be a string",
            ),
            (
                r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Extra": 1}"#,
                "Statement[1].Extra: unknown field",
            ),
            (
                r#"{"Effect": "Allow", "NotAction": "*", "Resource": "*"}"#,
                "Statement[1].NotAction: not supported",
            ),
            (
                r#"{"Effect": "Allow", "Action": "*", "NotResource": "*"}"#,
                "Statement[1].NotResource: not supported",
            ),
            (
                r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}"#,
                "Statement[1].Principal: not supported",
            ),
            (
                r#"{"Effect": "Allow", "Action": [], "Resource": "*"}"#,
                "Statement[1].Action: must not be empty",
            ),
            (
                r#"{"Effect": "Allow", "Action": 3, "Resource": "*"}"#,
                "Statement[1].Action: must be a string or an array of strings",
            ),
            (
                r#"{"Effect": "Allow", "Action": ["*", 3], "Resource": "*"}"#,
                "Statement[1].Action[1]: must be a string",
            ),
            (
                r#"{"Effect": "Allow", "Action": "*", "Resource": []}"#,
                "Statement[1].Resource: must not be empty",
            ),
        ];
        for (bad, want) in cases {
            let doc = format!(r#"{{"Statement": [{ok}, {bad}]}}"#);
            assert_eq!(error(&doc), *want, "for {doc}");
        }
    }

    #[test]
    fn action_and_resource_errors_name_the_entry_and_value() {
        let cases: &[(&str, &str, &str)] = &[
            (
                r#""GetValue""#,
                "*",
                r#"Statement[0].Action: "GetValue" is not an action: expected "*" or "<service>:<action>""#,
            ),
            (
                r#"["secrets:GetValue", "kms:Decrypt"]"#,
                "*",
                r#"Statement[0].Action[1]: "kms:Decrypt": unknown service; expected "secrets", "keys", "admin", "databases" or "*""#,
            ),
            (
                r#""secrets:""#,
                "*",
                r#"Statement[0].Action: "secrets:": the action after the colon is empty"#,
            ),
            (
                r#""secrets:Get Value""#,
                "*",
                r#"Statement[0].Action: "secrets:Get Value": an action may contain only letters, digits and the wildcards * and ?"#,
            ),
            (
                r#""*""#,
                "acs:kms:*",
                r#"Statement[0].Resource: "acs:kms:*" is not a resource: expected "*" or a pattern starting with "crn:coffer:""#,
            ),
            (
                r#""*""#,
                "CRN:coffer:*",
                r#"Statement[0].Resource: "CRN:coffer:*" is not a resource: expected "*" or a pattern starting with "crn:coffer:""#,
            ),
        ];
        for (action, resource, want) in cases {
            let doc = format!(
                r#"{{"Statement": {{"Effect": "Allow", "Action": {action}, "Resource": "{resource}"}}}}"#
            );
            assert_eq!(error(&doc), *want, "for {doc}");
        }
        let doc = r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": ["*", "x"]}}"#;
        assert!(
            error(doc).starts_with(r#"Statement[0].Resource[1]: "x" is not a resource"#),
            "{}",
            error(doc)
        );
    }

    #[test]
    fn condition_errors_name_the_operator_and_key() {
        let cases: &[(&str, &str)] = &[
            (r#""x""#, "Statement[0].Condition: must be an object"),
            ("{}", "Statement[0].Condition: must not be empty"),
            (
                r#"{"NumericEquals": {"coffer:ResourceTag/n": "1"}}"#,
                "Statement[0].Condition.NumericEquals: unknown condition operator; expected \
                 StringEquals, StringNotEquals, StringLike or StringNotLike",
            ),
            (
                r#"{"StringEquals": []}"#,
                "Statement[0].Condition.StringEquals: must be an object of condition keys",
            ),
            (
                r#"{"StringEquals": {}}"#,
                "Statement[0].Condition.StringEquals: must not be empty",
            ),
            (
                r#"{"StringLike": {"aws:SourceIp": "1.2.3.4"}}"#,
                "Statement[0].Condition.StringLike.aws:SourceIp: unknown condition key; only \
                 coffer:ResourceTag/<tag key> is supported",
            ),
            (
                r#"{"StringLike": {"coffer:resourcetag/env": "x"}}"#,
                "Statement[0].Condition.StringLike.coffer:resourcetag/env: unknown condition \
                 key; only coffer:ResourceTag/<tag key> is supported",
            ),
            (
                r#"{"StringEquals": {"coffer:ResourceTag/": "x"}}"#,
                "Statement[0].Condition.StringEquals.coffer:ResourceTag/: the tag key is empty",
            ),
            (
                r#"{"StringEquals": {"coffer:ResourceTag/env": []}}"#,
                "Statement[0].Condition.StringEquals.coffer:ResourceTag/env: must not be empty",
            ),
            (
                r#"{"StringEquals": {"coffer:ResourceTag/env": ["a", true]}}"#,
                "Statement[0].Condition.StringEquals.coffer:ResourceTag/env[1]: must be a string",
            ),
            (
                r#"{"StringEquals": {"coffer:ResourceTag/env": 5}}"#,
                "Statement[0].Condition.StringEquals.coffer:ResourceTag/env: must be a string \
                 or an array of strings",
            ),
        ];
        for (condition, want) in cases {
            let doc = format!(
                r#"{{"Statement": {{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {condition}}}}}"#
            );
            assert_eq!(error(&doc), *want, "for {doc}");
        }
    }

    #[test]
    fn limits_are_enforced() {
        let big = format!(
            r#"{{"Statement": {{"Effect": "Allow", "Action": "*", "Resource": "crn:coffer:{}"}}}}"#,
            "x".repeat(MAX_DOCUMENT_BYTES)
        );
        assert!(matches!(Policy::parse(&big), Err(PolicyError::TooLarge(n)) if n == big.len()));

        let one = r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}"#;
        let statements = |n: usize| format!(r#"{{"Statement": [{}]}}"#, vec![one; n].join(","));
        assert_eq!(policy(&statements(MAX_STATEMENTS)).statement_count(), 100);
        assert_eq!(
            error(&statements(MAX_STATEMENTS + 1)),
            "Statement: has 101 statements; at most 100 are allowed"
        );

        let list = |n: usize, item: &str| format!("[{}]", vec![format!("{item:?}"); n].join(","));
        let doc = |action: &str, resource: &str, values: &str| {
            format!(
                r#"{{"Statement": {{"Effect": "Allow", "Action": {action}, "Resource": {resource},
                    "Condition": {{"StringEquals": {{"coffer:ResourceTag/env": {values}}}}}}}}}"#
            )
        };
        let (a, r, v) = (
            list(100, "secrets:GetValue"),
            list(100, "crn:coffer:*"),
            list(100, "prod"),
        );
        policy(&doc(&a, &r, &v));
        let (a2, r2, v2) = (
            list(101, "secrets:GetValue"),
            list(101, "crn:coffer:*"),
            list(101, "prod"),
        );
        assert_eq!(
            error(&doc(&a2, &r, &v)),
            "Statement[0].Action: has 101 entries; at most 100 are allowed"
        );
        assert_eq!(
            error(&doc(&a, &r2, &v)),
            "Statement[0].Resource: has 101 entries; at most 100 are allowed"
        );
        assert_eq!(
            error(&doc(&a, &r, &v2)),
            "Statement[0].Condition.StringEquals.coffer:ResourceTag/env: has 101 entries; at \
             most 100 are allowed"
        );
    }

    #[test]
    fn malformed_json_and_duplicate_keys_are_refused() {
        assert!(error("{").starts_with("policy document is not valid JSON"));
        assert!(error("").starts_with("policy document is not valid JSON"));
        let e = error(
            r#"{"Statement": {"Effect": "Deny", "Effect": "Allow", "Action": "*", "Resource": "*"}}"#,
        );
        assert!(
            e.starts_with("policy document is not valid JSON: duplicate key \"Effect\""),
            "{e}"
        );
        let e = error(r#"{"Statement": [], "Statement": []}"#);
        assert!(e.contains("duplicate key \"Statement\""), "{e}");
    }

    // ---- matching ----

    #[test]
    fn action_matching_ignores_ascii_case() {
        let p = statement("Allow", "Secrets:getvalue", "*", None);
        assert!(allows(&p, "secrets:GetValue", APP_DB));
        assert!(allows(&p, "SECRETS:GETVALUE", APP_DB));
        assert!(!allows(&p, "secrets:GetValues", APP_DB));
        assert!(!allows(&p, "keys:GetValue", APP_DB));
        assert!(!allows(&p, "GetValue", APP_DB));
    }

    #[test]
    fn action_wildcards() {
        let all_secrets = statement("Allow", "secrets:*", "*", None);
        assert!(allows(&all_secrets, "secrets:GetValue", APP_DB));
        assert!(allows(&all_secrets, "secrets:Describe", APP_DB));
        assert!(!allows(&all_secrets, "keys:Encrypt", APP_DB));

        let everything = statement("Allow", "*", "*", None);
        assert!(allows(&everything, "secrets:GetValue", APP_DB));
        assert!(allows(&everything, "keys:Encrypt", APP_DB));

        let gets = statement("Allow", "secrets:Get*", "*", None);
        assert!(allows(&gets, "secrets:GetValue", APP_DB));
        assert!(allows(&gets, "secrets:Get", APP_DB));
        assert!(!allows(&gets, "secrets:Describe", APP_DB));
        assert!(!allows(&gets, "secrets:ForgetValue", APP_DB));

        let any_service = statement("Allow", "*:Describe", "*", None);
        assert!(allows(&any_service, "secrets:Describe", APP_DB));
        assert!(allows(&any_service, "keys:describe", APP_DB));
        assert!(!allows(&any_service, "keys:DescribeKey", APP_DB));

        // databases:Use is named like the others, and `secrets:*` does not include it.
        let instance = "crn:coffer:cn-hangzhou:123456:instance/rm-1";
        let db = statement(
            "Allow",
            "databases:Use",
            "crn:coffer:*:*:instance/rm-*",
            None,
        );
        assert!(allows(&db, "databases:Use", instance));
        assert!(!allows(
            &db,
            "databases:Use",
            "crn:coffer:cn-hangzhou:123456:instance/pg-1"
        ));
        let secrets = statement("Allow", "secrets:*", "*", None);
        assert!(!allows(&secrets, "databases:Use", instance));

        let one_char = statement("Allow", "keys:Encrypt?", "*", None);
        assert!(allows(&one_char, "keys:Encrypt2", APP_DB));
        assert!(!allows(&one_char, "keys:Encrypt", APP_DB));
        assert!(!allows(&one_char, "keys:Encrypt22", APP_DB));
    }

    #[test]
    fn resource_wildcards_cross_separators_and_are_case_sensitive() {
        let app = statement("Allow", "*", "crn:coffer:*:*:secret/app/*", None);
        assert!(allows(&app, "secrets:GetValue", APP_DB));
        assert!(allows(
            &app,
            "secrets:GetValue",
            "crn:coffer:r:1:secret/app/a/b:c"
        ));
        assert!(!allows(
            &app,
            "secrets:GetValue",
            "crn:coffer:r:1:secret/other/db"
        ));
        assert!(!allows(
            &app,
            "secrets:GetValue",
            "crn:coffer:r:1:key/app/db"
        ));
        assert!(!allows(
            &app,
            "secrets:GetValue",
            "crn:coffer:r:1:secret/App/db"
        ));

        // One `*` spans region, account and path.
        let anywhere = statement("Allow", "*", "crn:coffer:*/db", None);
        assert!(allows(&anywhere, "secrets:GetValue", APP_DB));
        assert!(allows(
            &anywhere,
            "secrets:GetValue",
            "crn:coffer:r:1:secret/x/y/db"
        ));
        assert!(!allows(
            &anywhere,
            "secrets:GetValue",
            "crn:coffer:r:1:secret/x/db2"
        ));

        let one = statement("Allow", "*", "crn:coffer:r:1:key/k?", None);
        assert!(allows(&one, "keys:Encrypt", "crn:coffer:r:1:key/k1"));
        assert!(allows(&one, "keys:Encrypt", "crn:coffer:r:1:key/kä"));
        assert!(!allows(&one, "keys:Encrypt", "crn:coffer:r:1:key/k"));
        assert!(!allows(&one, "keys:Encrypt", "crn:coffer:r:1:key/k12"));

        let exact = statement("Allow", "*", "crn:coffer:r:1:key/k1", None);
        assert!(allows(&exact, "keys:Encrypt", "crn:coffer:r:1:key/k1"));
        assert!(!allows(&exact, "keys:Encrypt", "crn:coffer:r:1:key/k10"));
        assert!(!allows(&exact, "keys:Encrypt", "crn:coffer:r:1:key/K1"));
    }

    #[test]
    fn glob_match_cases() {
        assert!(glob_match("", ""));
        assert!(glob_match("*", ""));
        assert!(glob_match("**", "abc"));
        assert!(!glob_match("", "a"));
        assert!(!glob_match("?", ""));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(glob_match("a*b", "abab"));
        assert!(!glob_match("a*b", "abac"));
        assert!(glob_match("*a?", "bbaaa"));
        assert!(glob_match("a*", "a*"));
        assert!(glob_match("?", "é"));
        assert!(glob_match("é*ü", "éxxü"));
    }

    #[test]
    fn pathological_glob_finishes_quickly() {
        let pattern = format!("{}b", "a*".repeat(50));
        let text = "a".repeat(10 * 1024);
        let start = Instant::now();
        assert!(!glob_match(&pattern, &text));
        assert!(glob_match(&pattern, &format!("{text}b")));

        let p = statement("Allow", "*", &format!("crn:coffer:{pattern}"), None);
        assert!(!allows(
            &p,
            "secrets:GetValue",
            &format!("crn:coffer:{text}")
        ));
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    }

    // ---- evaluation ----

    #[test]
    fn explicit_deny_beats_allow_across_policies() {
        let allow = statement("Allow", "*", "*", None);
        let deny = statement(
            "Deny",
            "secrets:Delete*",
            "crn:coffer:*:*:secret/app/*",
            None,
        );
        let both = [allow.clone(), deny.clone()];
        assert_eq!(
            evaluate(&both, "secrets:DeleteSecret", APP_DB, Some(&[])),
            Decision::Deny
        );
        let reversed = [deny, allow];
        assert_eq!(
            evaluate(&reversed, "secrets:DeleteSecret", APP_DB, Some(&[])),
            Decision::Deny
        );
        assert_eq!(
            evaluate(&both, "secrets:GetValue", APP_DB, Some(&[])),
            Decision::Allow
        );
        assert_eq!(
            evaluate(
                &both,
                "secrets:DeleteSecret",
                "crn:coffer:r:1:secret/other",
                Some(&[])
            ),
            Decision::Allow
        );
    }

    #[test]
    fn no_applicable_statement_is_not_allowed() {
        assert_eq!(
            evaluate(&[], "secrets:GetValue", APP_DB, None),
            Decision::NotAllowed
        );
        assert_eq!(
            evaluate(&[], "secrets:GetValue", APP_DB, Some(&[])),
            Decision::NotAllowed
        );
        let other = statement("Allow", "keys:*", "*", None);
        assert_eq!(
            evaluate(&[other], "secrets:GetValue", APP_DB, None),
            Decision::NotAllowed
        );
    }

    /// The decision of an Allow statement with `condition` for a resource with `tags`.
    fn conditional(condition: &str, tags: &[(String, String)]) -> Decision {
        let p = statement("Allow", "*", "*", Some(condition));
        evaluate(&[p], "secrets:GetValue", APP_DB, Some(tags))
    }

    #[test]
    fn condition_operators_true_false_and_missing_tag() {
        use Decision::{Allow, NotAllowed};
        let prod = tags(&[("team", "a"), ("env", "prod")]);
        let dev = tags(&[("env", "dev")]);
        let none = tags(&[("other", "prod")]);
        // (condition, with env=prod, with env=dev, without an env tag)
        let cases = [
            (
                r#"{"StringEquals": {"coffer:ResourceTag/env": "prod"}}"#,
                Allow,
                NotAllowed,
                NotAllowed,
            ),
            (
                r#"{"StringNotEquals": {"coffer:ResourceTag/env": "prod"}}"#,
                NotAllowed,
                Allow,
                Allow,
            ),
            (
                r#"{"StringLike": {"coffer:ResourceTag/env": "pr*"}}"#,
                Allow,
                NotAllowed,
                NotAllowed,
            ),
            (
                r#"{"StringNotLike": {"coffer:ResourceTag/env": "pr?d"}}"#,
                NotAllowed,
                Allow,
                Allow,
            ),
        ];
        for (condition, with_prod, with_dev, without) in cases {
            assert_eq!(
                conditional(condition, &prod),
                with_prod,
                "{condition} / prod"
            );
            assert_eq!(conditional(condition, &dev), with_dev, "{condition} / dev");
            assert_eq!(
                conditional(condition, &none),
                without,
                "{condition} / missing"
            );
        }
        // Tag keys and values compare case-sensitively.
        let upper = tags(&[("ENV", "prod"), ("env", "PROD")]);
        assert_eq!(
            conditional(
                r#"{"StringEquals": {"coffer:ResourceTag/env": "prod"}}"#,
                &upper
            ),
            NotAllowed
        );
    }

    #[test]
    fn condition_combines_and_across_keys_and_or_across_values() {
        use Decision::{Allow, NotAllowed};
        let t = |env: &str, team: &str| tags(&[("env", env), ("team", team)]);
        // Values of one key are alternatives.
        let either = r#"{"StringEquals": {"coffer:ResourceTag/env": ["prod", "stage"]}}"#;
        assert_eq!(conditional(either, &t("prod", "a")), Allow);
        assert_eq!(conditional(either, &t("stage", "a")), Allow);
        assert_eq!(conditional(either, &t("dev", "a")), NotAllowed);
        // A negated operator holds only when no alternative matches.
        let neither = r#"{"StringNotEquals": {"coffer:ResourceTag/env": ["prod", "stage"]}}"#;
        assert_eq!(conditional(neither, &t("prod", "a")), NotAllowed);
        assert_eq!(conditional(neither, &t("stage", "a")), NotAllowed);
        assert_eq!(conditional(neither, &t("dev", "a")), Allow);
        let not_like = r#"{"StringNotLike": {"coffer:ResourceTag/env": ["p*", "s*"]}}"#;
        assert_eq!(conditional(not_like, &t("stage", "a")), NotAllowed);
        assert_eq!(conditional(not_like, &t("dev", "a")), Allow);
        // Keys within one operator must all hold.
        let both_keys = r#"{"StringEquals": {"coffer:ResourceTag/env": "prod",
                                             "coffer:ResourceTag/team": "a"}}"#;
        assert_eq!(conditional(both_keys, &t("prod", "a")), Allow);
        assert_eq!(conditional(both_keys, &t("prod", "b")), NotAllowed);
        assert_eq!(conditional(both_keys, &t("dev", "a")), NotAllowed);
        // Operators must all hold.
        let both_ops = r#"{"StringLike": {"coffer:ResourceTag/env": "pr*"},
                           "StringNotEquals": {"coffer:ResourceTag/team": "b"}}"#;
        assert_eq!(conditional(both_ops, &t("prod", "a")), Allow);
        assert_eq!(conditional(both_ops, &t("prod", "b")), NotAllowed);
        assert_eq!(conditional(both_ops, &t("dev", "a")), NotAllowed);
    }

    #[test]
    fn conditional_deny_beats_allow_when_it_holds() {
        let allow = statement("Allow", "*", "*", None);
        let deny = statement(
            "Deny",
            "*",
            "*",
            Some(r#"{"StringEquals": {"coffer:ResourceTag/locked": "true"}}"#),
        );
        let ps = [allow, deny];
        let locked = tags(&[("locked", "true")]);
        assert_eq!(
            evaluate(&ps, "secrets:GetValue", APP_DB, Some(&locked)),
            Decision::Deny
        );
        assert_eq!(
            evaluate(&ps, "secrets:GetValue", APP_DB, Some(&[])),
            Decision::Allow
        );
    }

    #[test]
    fn need_tags_only_when_the_answer_depends_on_them() {
        let cond = r#"{"StringEquals": {"coffer:ResourceTag/env": "prod"}}"#;
        let allow = statement("Allow", "*", "*", None);
        let allow_if = statement("Allow", "secrets:*", "*", Some(cond));
        let deny_if = statement("Deny", "secrets:*", "*", Some(cond));
        let call = |ps: &[Policy], action: &str| evaluate(ps, action, APP_DB, None);

        // A conditional Allow decides the answer.
        assert_eq!(
            call(std::slice::from_ref(&allow_if), "secrets:GetValue"),
            Decision::NeedTags
        );
        // ... unless an unconditional Allow already allows and nothing may deny.
        assert_eq!(
            call(&[allow.clone(), allow_if.clone()], "secrets:GetValue"),
            Decision::Allow
        );
        // A conditional Deny may overturn an unconditional Allow.
        assert_eq!(
            call(&[allow.clone(), deny_if.clone()], "secrets:GetValue"),
            Decision::NeedTags
        );
        // A conditional Deny alone still asks: with the tags the answer may be Deny rather than
        // NotAllowed, and callers may report the two differently.
        assert_eq!(
            call(std::slice::from_ref(&deny_if), "secrets:GetValue"),
            Decision::NeedTags
        );
        // Conditional statements that do not cover the request do not ask for tags.
        assert_eq!(
            call(
                &[allow.clone(), allow_if.clone(), deny_if.clone()],
                "keys:Encrypt"
            ),
            Decision::Allow
        );
        assert_eq!(call(&[allow_if], "keys:Encrypt"), Decision::NotAllowed);
        let other_resource = statement("Deny", "*", "crn:coffer:*:key/*", Some(cond));
        assert_eq!(
            call(&[allow, other_resource], "secrets:GetValue"),
            Decision::Allow
        );
    }

    #[test]
    fn unconditional_deny_short_circuits_without_tags() {
        let cond = r#"{"StringEquals": {"coffer:ResourceTag/env": "prod"}}"#;
        let allow_if = statement("Allow", "*", "*", Some(cond));
        let deny = statement("Deny", "secrets:GetValue", "*", None);
        assert_eq!(
            evaluate(
                &[allow_if.clone(), deny.clone()],
                "secrets:GetValue",
                APP_DB,
                None
            ),
            Decision::Deny
        );
        assert_eq!(
            evaluate(&[deny, allow_if], "secrets:GetValue", APP_DB, None),
            Decision::Deny
        );
    }

    #[test]
    fn debug_prints_patterns() {
        let p = policy(EXAMPLE);
        let debug = format!("{p:?}");
        assert!(debug.contains("crn:coffer:*:*:secret/app/*"), "{debug}");
    }
}
