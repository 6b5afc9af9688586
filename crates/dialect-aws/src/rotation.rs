//! RotateSecret and CancelRotateSecret. Their inputs are read here in full, with the model's
//! constraints; running them needs the core's rotation of database secrets.

use serde_json::{Map, Value};

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

pub async fn rotate(_call: &Call, _input: RotateSecret) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("RotateSecret"))
}

pub async fn cancel(
    _call: &Call,
    _input: CancelRotateSecret,
) -> Result<Map<String, Value>, ApiError> {
    Err(ApiError::not_available("CancelRotateSecret"))
}
