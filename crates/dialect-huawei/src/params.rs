//! Reading and checking CSMS request fields (Huawei's CSMS API reference): names,
//! stages, descriptions, subscriptions, rotation settings, and the fields every secret create
//! shares whichever its type.

use coffer_core::Stage;
use serde_json::{Map, Value};

use crate::errors::ApiError;

pub const MAX_DESCRIPTION_BYTES: usize = 2_048;
pub const MAX_SUBSCRIPTIONS: usize = 1;
pub const DEFAULT_KEY_ALIAS: &str = "csms/default";
pub const SYSCURRENT: &str = "SYSCURRENT";
pub const SYSPREVIOUS: &str = "SYSPREVIOUS";

/// `rotation_period` bounds. Coffer decision: 4 h to 8760 h, as the managed-credentials
/// issue states (the reference notes 6 h for COMMON-era docs).
const MIN_PERIOD_SECS: i64 = 4 * 3600;
const MAX_PERIOD_SECS: i64 = 8760 * 3600;

/// `^[a-zA-Z0-9_-]{1,64}$`: secret, stage and event names.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn secret_name(name: &str) -> Result<(), ApiError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "name",
            "it must match ^[a-zA-Z0-9_-]{1,64}$",
        ))
    }
}

pub fn stage_of(name: &str) -> Result<Stage, ApiError> {
    if !valid_name(name) {
        return Err(ApiError::invalid(
            "stage_name",
            "it must match ^[a-zA-Z0-9_-]{1,64}$",
        ));
    }
    Ok(match name {
        SYSCURRENT => Stage::Current,
        SYSPREVIOUS => Stage::Previous,
        other => Stage::Custom(other.to_string()),
    })
}

pub fn str_field<'a>(
    body: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(name, "it must be a string")),
    }
}

pub fn description(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let d = str_field(body, "description")?;
    if d.is_some_and(|d| d.len() > MAX_DESCRIPTION_BYTES) {
        return Err(ApiError::invalid(
            "description",
            format!("longer than {MAX_DESCRIPTION_BYTES} bytes"),
        ));
    }
    Ok(d.map(str::to_string))
}

/// Rotation arrives with managed secrets; until then it is refused by name rather than
/// ignored.
pub fn refuse_unsupported(body: &Map<String, Value>) -> Result<(), ApiError> {
    match body.get("auto_rotation") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            return Err(ApiError::invalid(
                "auto_rotation",
                "rotation is not supported for COMMON secrets",
            ))
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "auto_rotation",
                "it must be a JSON boolean",
            ))
        }
    }
    for f in ["rotation_period", "rotation_config", "rotation_func_urn"] {
        if str_field(body, f)?.is_some_and(|s| !s.is_empty()) {
            return Err(ApiError::invalid(
                f,
                "rotation is not supported for COMMON secrets",
            ));
        }
    }
    Ok(())
}

/// `event_subscriptions`: at most one event name; `None` when the field is absent.
pub fn subscriptions(body: &Map<String, Value>) -> Result<Option<Vec<String>>, ApiError> {
    let items = match body.get("event_subscriptions") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(ApiError::invalid(
                "event_subscriptions",
                "it must be a list",
            ))
        }
    };
    if items.len() > MAX_SUBSCRIPTIONS {
        return Err(ApiError::invalid(
            "event_subscriptions",
            format!("a secret subscribes to at most {MAX_SUBSCRIPTIONS} event"),
        ));
    }
    items
        .iter()
        .map(|v| match v.as_str() {
            Some(n) if valid_name(n) => Ok(n.to_string()),
            _ => Err(ApiError::invalid(
                "event_subscriptions",
                "each entry must be an event name matching ^[a-zA-Z0-9_-]{1,64}$",
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// A `kms_key_id` as the core names it: CSMS's default key alias is the core's.
pub fn key_ref(k: &str) -> String {
    if k == DEFAULT_KEY_ALIAS {
        coffer_core::service::DEFAULT_KEY_ALIAS.to_string()
    } else {
        k.to_string()
    }
}

/// The fields of a secret create that both secret types share, checked in the order the
/// create reports them; the type decides which operation module creates the secret.
pub struct NewSecret<'a> {
    pub body: &'a Map<String, Value>,
    pub name: &'a str,
    /// `RDS-FG` (or the older `RDS`): a managed database secret.
    pub managed: bool,
    pub description: String,
    pub key: Option<String>,
    pub subscriptions: Vec<String>,
}

pub fn new_secret(body: &Map<String, Value>) -> Result<NewSecret<'_>, ApiError> {
    let name = str_field(body, "name")?
        .ok_or_else(|| ApiError::invalid("name", "the parameter is required"))?;
    secret_name(name)?;
    let managed = match str_field(body, "secret_type")? {
        None | Some("COMMON") => false,
        Some("RDS-FG" | "RDS") => true,
        Some(t @ "GaussDB-FG") => {
            return Err(ApiError::invalid(
                "secret_type",
                format!("{t} secrets are not supported by this server; use COMMON or RDS-FG"),
            ))
        }
        Some(t) => {
            return Err(ApiError::invalid(
                "secret_type",
                format!("unknown type {t:?}"),
            ))
        }
    };
    if !managed {
        refuse_unsupported(body)?;
    }
    let subscriptions = subscriptions(body)?.unwrap_or_default();
    if let Some(ep) = str_field(body, "enterprise_project_id")? {
        if ep != "0" && !ep.is_empty() {
            return Err(ApiError::invalid(
                "enterprise_project_id",
                "only the default enterprise project \"0\" exists",
            ));
        }
    }
    let description = description(body)?.unwrap_or_default();
    let key = str_field(body, "kms_key_id")?
        .filter(|k| !k.is_empty())
        .map(key_ref);
    Ok(NewSecret {
        body,
        name,
        managed,
        description,
        key,
        subscriptions,
    })
}

// --- rotation settings of managed secrets -----------------------------------------------------

/// `Integer[unit]` with unit `d`, `h`, `m` or `s` (seconds when none).
pub fn rotation_period(text: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::invalid(
            "rotation_period",
            "it must be an integer with a unit d, h, m or s (such as 30d), from 4h to 8760h",
        )
    };
    if text.len() > 50 {
        return Err(bad());
    }
    let (digits, factor) = match text.chars().last() {
        Some('d') => (&text[..text.len() - 1], 86_400),
        Some('h') => (&text[..text.len() - 1], 3_600),
        Some('m') => (&text[..text.len() - 1], 60),
        Some('s') => (&text[..text.len() - 1], 1),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let secs = digits
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(bad)?;
    if !(MIN_PERIOD_SECS..=MAX_PERIOD_SECS).contains(&secs) {
        return Err(bad());
    }
    Ok(secs)
}

/// The period in the largest unit that divides it.
pub fn period_text(secs: i64) -> String {
    for (unit, n) in [('d', 86_400), ('h', 3_600), ('m', 60)] {
        if secs % n == 0 {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

pub fn auto_rotation(body: &Map<String, Value>) -> Result<Option<bool>, ApiError> {
    match body.get("auto_rotation") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid(
            "auto_rotation",
            "it must be a JSON boolean",
        )),
    }
}

/// What an update asks of a managed secret's rotation; `None` when it asks nothing.
pub struct RotationChange {
    pub enabled: Option<bool>,
    pub period: Option<i64>,
}

/// `auto_rotation` and `rotation_period` of an update.
pub fn rotation_change(body: &Map<String, Value>) -> Result<Option<RotationChange>, ApiError> {
    let enabled = auto_rotation(body)?;
    let period = str_field(body, "rotation_period")?
        .filter(|p| !p.is_empty())
        .map(rotation_period)
        .transpose()?;
    if enabled.is_none() && period.is_none() {
        return Ok(None);
    }
    Ok(Some(RotationChange { enabled, period }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_have_units_and_bounds() {
        assert_eq!(rotation_period("4h").unwrap(), 14_400);
        assert_eq!(rotation_period("1d").unwrap(), 86_400);
        assert_eq!(rotation_period("8760h").unwrap(), 8760 * 3600);
        assert_eq!(rotation_period("86400").unwrap(), 86_400);
        for bad in ["3h", "8761h", "", "h", "1.5d", "7w", "-1d"] {
            assert!(rotation_period(bad).is_err(), "{bad:?}");
        }
        assert_eq!(period_text(86_400 * 30), "30d");
        assert_eq!(period_text(14_400), "4h");
        assert_eq!(period_text(14_460), "241m");
        assert_eq!(period_text(14_401), "14401s");
    }
}
