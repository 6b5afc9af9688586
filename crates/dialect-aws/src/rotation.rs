//! RotateSecret and CancelRotateSecret. Their inputs are read here in full, with the model's
//! constraints; running them needs the core's rotation of database secrets.

use coffer_core::Stage;
use serde_json::{json, Map, Value};

use crate::arn::suffix_of;

use crate::errors::ApiError;
use crate::operation::SecretId;
use crate::params::{self, Params};
use crate::request::Call;

/// `RotationRulesType`.
#[derive(Debug, Default)]
pub struct RotationRules {
    /// `AutomaticallyAfterDays`: 1–1000.
    pub automatically_after_days: Option<i64>,
    /// `Duration`: `<n>h`, 2–3 characters.
    pub duration: Option<String>,
    /// `ScheduleExpression`: a `rate()` or `cron()` expression, 1–256 characters.
    pub schedule_expression: Option<String>,
}

#[derive(Debug)]
pub struct RotateSecret {
    pub secret: SecretId,
    pub client_request_token: Option<String>,
    /// Coffer cannot run Lambda functions; a request naming one is refused when it runs.
    pub rotation_lambda_arn: Option<String>,
    pub rotation_rules: Option<RotationRules>,
    pub rotate_immediately: Option<bool>,
    /// `ExternalSecretRotationMetadata` as (key, value) pairs.
    pub external_metadata: Vec<(String, String)>,
    pub external_role_arn: Option<String>,
    /// The database instance of the secret (a managed secret's), filled in when the secret is
    /// resolved: rotating changes an account there, which needs `databases:Use` on it.
    pub instance: Option<String>,
}

impl RotateSecret {
    pub fn parse(p: &Params) -> Result<Self, ApiError> {
        let rotation_rules = match p.object("RotationRules")? {
            None => None,
            Some(o) => {
                let r = Params::from_map(o.clone());
                let duration = match r.str("Duration")? {
                    Some(d) => {
                        params::check_len("RotationRules.Duration", d, 2, 3)?;
                        let digits = d.strip_suffix('h').unwrap_or("");
                        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                            return Err(ApiError::validation(
                                "RotationRules.Duration",
                                "Member must satisfy regular expression pattern: [0-9]+h",
                            ));
                        }
                        Some(d.to_string())
                    }
                    None => None,
                };
                let schedule = r.str("ScheduleExpression")?;
                if let Some(s) = schedule {
                    params::check_len("RotationRules.ScheduleExpression", s, 1, 256)?;
                    if !s
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "()#?*-/, ".contains(c))
                    {
                        return Err(ApiError::validation(
                            "RotationRules.ScheduleExpression",
                            "Member must satisfy regular expression pattern: [0-9A-Za-z\\(\\)#\\?\\*\\-\\/, ]+",
                        ));
                    }
                }
                Some(RotationRules {
                    automatically_after_days: r.int("AutomaticallyAfterDays", 1, 1000)?,
                    duration,
                    schedule_expression: schedule.map(str::to_string),
                })
            }
        };
        let external_metadata = match p.array("ExternalSecretRotationMetadata")? {
            None => vec![],
            Some(items) => items
                .iter()
                .map(|item| {
                    let bad = || {
                        ApiError::serialization(
                            "ExternalSecretRotationMetadata must be a list of {\"Key\", \"Value\"} structures.",
                        )
                    };
                    let o = item.as_object().ok_or_else(bad)?;
                    let field = |k: &str| match o.get(k) {
                        None | Some(Value::Null) => Ok(String::new()),
                        Some(Value::String(s)) => Ok(s.clone()),
                        Some(_) => Err(bad()),
                    };
                    Ok((field("Key")?, field("Value")?))
                })
                .collect::<Result<_, ApiError>>()?,
        };
        Ok(Self {
            secret: SecretId::parse(p, "SecretId")?,
            client_request_token: p
                .str_len(
                    "ClientRequestToken",
                    params::MIN_TOKEN_LEN,
                    params::MAX_TOKEN_LEN,
                )?
                .map(str::to_string),
            rotation_lambda_arn: p.str_len("RotationLambdaARN", 0, 2048)?.map(str::to_string),
            rotation_rules,
            rotate_immediately: p.bool("RotateImmediately")?,
            external_metadata,
            external_role_arn: p
                .str_len("ExternalSecretRotationRoleArn", 20, 2048)?
                .map(str::to_string),
            instance: None,
        })
    }
}

#[derive(Debug)]
pub struct CancelRotateSecret {
    pub secret: SecretId,
}

impl CancelRotateSecret {
    pub fn parse(p: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            secret: SecretId::parse(p, "SecretId")?,
        })
    }
}

const DAY_SECS: i64 = 86_400;
/// AWS rotates at most every four hours.
const MIN_RATE_HOURS: i64 = 4;

/// The interval of `RotationRules`, in seconds: `AutomaticallyAfterDays`, or a `rate()`
/// expression. coffer's scheduler rotates at a fixed interval from the last rotation, so a
/// `cron()` expression (rotation at chosen times of day or week) is refused rather than
/// approximated.
pub fn rules_interval(rules: &RotationRules) -> Result<Option<i64>, ApiError> {
    match (rules.automatically_after_days, rules.schedule_expression.as_deref()) {
        (Some(_), Some(_)) => Err(ApiError::invalid_parameter(
            "You can't specify both AutomaticallyAfterDays and ScheduleExpression in RotationRules.",
        )),
        (Some(days), None) => Ok(Some(days * DAY_SECS)),
        (None, Some(expr)) => schedule_interval(expr).map(Some),
        (None, None) => Ok(None),
    }
}

fn schedule_interval(expr: &str) -> Result<i64, ApiError> {
    let expr = expr.trim();
    if expr.starts_with("cron(") {
        return Err(ApiError::invalid_parameter(
            "coffer rotates at a fixed interval and cannot follow a cron() schedule: use \
             rate(N days), rate(N hours) or AutomaticallyAfterDays.",
        ));
    }
    let bad = || {
        ApiError::invalid_parameter(format!(
            "The ScheduleExpression {expr:?} is not valid: use rate(N days) (1 to 1000) or \
             rate(N hours) (4 to 23)."
        ))
    };
    let inner = expr
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(bad)?;
    let (n, unit) = inner.trim().split_once(' ').ok_or_else(bad)?;
    let n: i64 = n.parse().map_err(|_| bad())?;
    match unit.trim() {
        "day" | "days" if (1..=1000).contains(&n) => Ok(n * DAY_SECS),
        "hour" | "hours" if (MIN_RATE_HOURS..24).contains(&n) => Ok(n * 3600),
        _ => Err(bad()),
    }
}

/// The rotation rules as DescribeSecret shows them, from an interval.
pub fn rules_json(interval_secs: i64) -> Value {
    if interval_secs % DAY_SECS == 0 {
        json!({"AutomaticallyAfterDays": interval_secs / DAY_SECS})
    } else {
        json!({"ScheduleExpression": format!("rate({} hours)", interval_secs / 3600)})
    }
}

pub async fn rotate(call: &Call, input: RotateSecret) -> Result<Map<String, Value>, ApiError> {
    if input
        .rotation_lambda_arn
        .as_deref()
        .is_some_and(|a| !a.is_empty())
    {
        return Err(ApiError::invalid_request(
            "coffer cannot run Lambda functions, so RotationLambdaARN is not accepted. coffer \
             rotates coffer-managed database secrets itself (a secret made over a registered \
             database instance, through any of its APIs): call RotateSecret on such a secret \
             without RotationLambdaARN.",
        ));
    }
    if !input.external_metadata.is_empty() || input.external_role_arn.is_some() {
        return Err(ApiError::invalid_request(
            "coffer does not rotate secrets managed by external partners \
             (ExternalSecretRotationMetadata, ExternalSecretRotationRoleArn); it rotates \
             coffer-managed database secrets.",
        ));
    }
    let interval = match &input.rotation_rules {
        Some(rules) => rules_interval(rules)?,
        None => None,
    };
    let name = input.secret.name.clone();
    let secret = call.service.describe(&call.scope, &name).await?;
    if !secret.kind.is_managed() {
        return Err(ApiError::invalid_request(format!(
            "The secret {name} is not a coffer-managed database secret, and coffer cannot run \
             rotation functions: only a secret made over a registered database instance \
             rotates."
        )));
    }
    let mut out = Map::new();
    out.insert(
        "ARN".into(),
        call.arn(&secret.name, &suffix_of(&secret)).into(),
    );
    out.insert("Name".into(), secret.name.clone().into());
    // Rotate first: a rotation the secret's state refuses (disabled, pending deletion) then
    // leaves its schedule as it was.
    if input.rotate_immediately.unwrap_or(true) {
        let task = call
            .service
            .rotate(&call.scope, &name, input.client_request_token.clone())
            .await?;
        out.insert("VersionId".into(), task.version_id.into());
    }
    // A schedule given (or one kept from before) turns automatic rotation on, as AWS does;
    // the next rotation is one interval from now.
    if let Some(i) = interval.or(secret.rotation.interval_secs) {
        call.service
            .set_rotation_policy(&call.scope, &name, true, Some(i), None)
            .await?;
    }
    Ok(out)
}

/// CancelRotateSecret turns automatic rotation off: no scheduled rotation starts after it.
///
/// A rotation already running is not rolled back. AWS documents that cancelling during a
/// rotation may leave AWSPENDING on the partly made version and leaves it to the user to
/// remove it or move AWSCURRENT
/// (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CancelRotateSecret.html).
/// coffer's choice is to let the running task finish: once `set` has run, the database already
/// has the new password, so stopping there would leave a database password that only the
/// AWSPENDING version holds; finishing moves AWSCURRENT to it and takes AWSPENDING off, so the
/// secret and the database agree, and it schedules no next rotation, as rotation is now off.
/// (A task that cannot finish rolls back as any failed rotation does.) The answer's
/// `VersionId` names the version that rotation is making, as AWS's does.
pub async fn cancel(
    call: &Call,
    input: CancelRotateSecret,
) -> Result<Map<String, Value>, ApiError> {
    let s = call
        .service
        .set_rotation_policy(&call.scope, &input.secret.name, false, None, None)
        .await?;
    let mut out = Map::new();
    out.insert("ARN".into(), call.arn(&s.name, &suffix_of(&s)).into());
    out.insert("Name".into(), s.name.clone().into());
    if let Some(v) = s.version_with_stage(&Stage::Pending) {
        out.insert("VersionId".into(), v.version_id.clone().into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(days: Option<i64>, expr: Option<&str>) -> RotationRules {
        RotationRules {
            automatically_after_days: days,
            duration: None,
            schedule_expression: expr.map(str::to_string),
        }
    }

    #[test]
    fn intervals_coffer_can_keep() {
        assert_eq!(
            rules_interval(&rules(Some(30), None)).ok(),
            Some(Some(30 * DAY_SECS))
        );
        assert_eq!(rules_interval(&rules(None, None)).ok(), Some(None));
        for (expr, secs) in [
            ("rate(10 days)", 10 * DAY_SECS),
            ("rate(1 day)", DAY_SECS),
            ("rate(4 hours)", 4 * 3600),
            ("rate(23 hours)", 23 * 3600),
        ] {
            assert_eq!(
                rules_interval(&rules(None, Some(expr))).ok(),
                Some(Some(secs)),
                "{expr}"
            );
        }
    }

    #[test]
    fn schedules_refused_clearly() {
        for expr in [
            "cron(0 16 1,15 * ? *)",
            "rate(3 hours)",
            "rate(0 days)",
            "rate(1001 days)",
            "rate(2 weeks)",
            "rate(ten days)",
            "every day",
        ] {
            let e = rules_interval(&rules(None, Some(expr))).err();
            assert_eq!(
                e.map(|e| e.code),
                Some("InvalidParameterException"),
                "{expr}"
            );
        }
        let both = rules_interval(&rules(Some(3), Some("rate(3 days)"))).err();
        assert!(both.is_some_and(|e| e.message.contains("both")));
    }

    #[test]
    fn rules_as_described() {
        assert_eq!(
            rules_json(7 * DAY_SECS),
            json!({"AutomaticallyAfterDays": 7})
        );
        assert_eq!(
            rules_json(6 * 3600),
            json!({"ScheduleExpression": "rate(6 hours)"})
        );
    }
}
