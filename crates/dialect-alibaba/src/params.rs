//! Typed access to request parameters and Alibaba's value rules (Alibaba's KMS API reference).

use std::collections::HashMap;

use coffer_core::{Stage, Tag};
use serde_json::{Map, Value};

use crate::errors::ApiError;

pub const MAX_NAME_LEN: usize = 192;
pub const MAX_VERSION_ID_LEN: usize = 64;
pub const MAX_VALUE_BYTES: usize = 30_720;
pub const MAX_DESCRIPTION_LEN: usize = 8_192;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_LEN: usize = 128;
pub const MAX_EXTENDED_CONFIG_LEN: usize = 1_024;
pub const MAX_STAGE_LEN: usize = 64;
/// Versions kept per secret; the oldest unlabelled one goes beyond that.
pub const MAX_VERSIONS: usize = 10;
/// Stage labels per secret.
pub const MAX_STAGES: usize = 8;
pub const MAX_POLICY_BYTES: usize = 32_768;
/// Most `CustomData` pairs in an Rds secret's extended configuration.
pub const MAX_CUSTOM_DATA: usize = 10;

pub struct Params {
    map: HashMap<String, String>,
}

impl Params {
    pub fn new(pairs: &[(String, String)]) -> Self {
        Self {
            map: pairs.iter().cloned().collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// A parameter that must be present and non-empty.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::missing(name)),
        }
    }

    /// An optional parameter; an empty value counts as absent.
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// Booleans arrive as text: `true`/`false` from people, `True`/`False` from Python SDKs.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(ApiError::invalid(name, "It must be true or false.")),
        }
    }

    pub fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid(
                    name,
                    format!("It must be an integer from {min} to {max}."),
                )),
            },
        }
    }

    /// Values of flattened lists: `Prefix.1`, `Prefix.2`, ... in index order.
    pub fn indexed(&self, prefix: &str) -> Result<Vec<(usize, &str)>, ApiError> {
        self.indexed_with_suffix(prefix, "")
    }

    /// Values of `Prefix.N<suffix>` (e.g. `Tag.N.Key`), sorted by N.
    pub fn indexed_with_suffix(
        &self,
        prefix: &str,
        suffix: &str,
    ) -> Result<Vec<(usize, &str)>, ApiError> {
        let mut out = vec![];
        for (k, v) in &self.map {
            let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            let Some(index) = rest.strip_suffix(suffix) else {
                continue;
            };
            if index.contains('.') {
                continue;
            }
            let n: usize = index
                .parse()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| ApiError::invalid(k, "The list index must be a number from 1."))?;
            out.push((n, v.as_str()));
        }
        out.sort_by_key(|(n, _)| *n);
        Ok(out)
    }

    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.map.keys().any(|k| k.starts_with(prefix))
    }

    /// The parameters named `<prefix><rest>`, as `(rest, value)`.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.map
            .iter()
            .filter_map(move |(k, v)| Some((k.strip_prefix(prefix)?, v.as_str())))
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_/+=.@-".contains(c)
}

/// `SecretName`: 1..192 characters of `A-Z a-z 0-9 _ / + = . @ -`, not starting with `acs/`
/// (reserved for managed secrets of the cloud's own services).
pub fn secret_name(param: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::missing(param));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::invalid(
            param,
            format!("It is longer than {MAX_NAME_LEN} characters."),
        ));
    }
    if let Some(c) = name.chars().find(|c| !is_name_char(*c)) {
        return Err(ApiError::invalid(
            param,
            format!("The character {c:?} is not allowed; use letters, digits and _/+=.@-"),
        ));
    }
    if name.starts_with("acs/") {
        return Err(ApiError::invalid(
            param,
            "Names starting with acs/ are reserved.",
        ));
    }
    Ok(())
}

pub fn version_id(param: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() {
        return Err(ApiError::missing(param));
    }
    if id.chars().count() > MAX_VERSION_ID_LEN {
        return Err(ApiError::invalid(
            param,
            format!("It is longer than {MAX_VERSION_ID_LEN} characters."),
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(ApiError::invalid(param, "It contains control characters."));
    }
    Ok(())
}

/// A period written `<integer><unit>` with unit `d`, `h`, `m` or `s` (a bare integer counts
/// as seconds), in seconds, between `min_secs` and `max_secs`.
pub fn interval(param: &str, text: &str, min_secs: i64, max_secs: i64) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::invalid(
            param,
            format!("{text:?} is not a period like 30d, 720h, 43200m or 2592000s."),
        )
    };
    let (digits, unit) = match text.as_bytes().last() {
        Some(b'd' | b'h' | b'm' | b's') => text.split_at(text.len() - 1),
        _ => (text, "s"),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let per = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        _ => 1,
    };
    let secs = n.checked_mul(per).ok_or_else(bad)?;
    if !(min_secs..=max_secs).contains(&secs) {
        return Err(ApiError::invalid(
            param,
            format!("{text:?} is outside the allowed range of {min_secs}s to {max_secs}s."),
        ));
    }
    Ok(secs)
}

pub fn description(param: &str, d: &str) -> Result<(), ApiError> {
    if d.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(ApiError::invalid(
            param,
            format!("It is longer than {MAX_DESCRIPTION_LEN} characters."),
        ));
    }
    Ok(())
}

/// Maps Alibaba's stage labels to neutral stages.
pub fn stage(param: &str, label: &str) -> Result<Stage, ApiError> {
    if label.is_empty() {
        return Err(ApiError::missing(param));
    }
    if label.chars().count() > MAX_STAGE_LEN || label.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            param,
            format!("A stage label has 1 to {MAX_STAGE_LEN} printable characters."),
        ));
    }
    Ok(match label {
        "ACSCurrent" => Stage::Current,
        "ACSPrevious" => Stage::Previous,
        "ACSPending" => Stage::Pending,
        other => Stage::Custom(other.to_string()),
    })
}

pub fn stage_label(stage: &Stage) -> String {
    match stage {
        Stage::Current => "ACSCurrent".into(),
        Stage::Previous => "ACSPrevious".into(),
        Stage::Pending => "ACSPending".into(),
        Stage::Custom(s) => s.clone(),
    }
}

/// `VersionStages` as a JSON list `["a","b"]` or the XML-shaped `{"VersionStage":["a"]}`.
pub fn stage_list(param: &str, text: &str) -> Result<Vec<Stage>, ApiError> {
    let bad = || ApiError::invalid(param, "It must be a JSON list of stage labels.");
    let value: Value = serde_json::from_str(text).map_err(|_| bad())?;
    let items = match &value {
        Value::Array(items) => items,
        Value::Object(m) => match m.get("VersionStage") {
            Some(Value::Array(items)) if m.len() == 1 => items,
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    let mut stages = vec![];
    for item in items {
        let s = stage(param, item.as_str().ok_or_else(bad)?)?;
        if !stages.contains(&s) {
            stages.push(s);
        }
    }
    if stages.is_empty() {
        return Err(ApiError::invalid(param, "It must name at least one stage."));
    }
    Ok(stages)
}

fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/\\_-.+=:@ ".contains(c)
}

pub fn tag(param: &str, key: &str, value: &str) -> Result<Tag, ApiError> {
    if key.is_empty() {
        return Err(ApiError::invalid(param, "A tag key must not be empty."));
    }
    for (what, s) in [("key", key), ("value", value)] {
        if s.chars().count() > MAX_TAG_LEN {
            return Err(ApiError::invalid(
                param,
                format!("A tag {what} is longer than {MAX_TAG_LEN} characters."),
            ));
        }
        if let Some(c) = s.chars().find(|c| !is_tag_char(*c)) {
            return Err(ApiError::invalid(
                param,
                format!("The character {c:?} is not allowed in a tag {what}."),
            ));
        }
    }
    if key.starts_with("aliyun") || key.starts_with("acs:") {
        return Err(ApiError::invalid(
            param,
            "Tag keys starting with aliyun or acs: are reserved.",
        ));
    }
    Ok(Tag {
        key: key.to_string(),
        value: value.to_string(),
    })
}

/// Rejects a second tag with the same key in one request.
pub fn unique_tags(param: &str, tags: &[Tag]) -> Result<(), ApiError> {
    for (i, t) in tags.iter().enumerate() {
        if tags[..i].iter().any(|o| o.key == t.key) {
            return Err(ApiError::invalid(
                param,
                format!("The tag key {:?} is repeated.", t.key),
            ));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(ApiError::invalid(
            param,
            format!("At most {MAX_TAGS} tags are allowed."),
        ));
    }
    Ok(())
}

/// `Tags` as JSON: `[{"TagKey":"k","TagValue":"v"}, ...]`.
pub fn tags_json(param: &str, text: &str) -> Result<Vec<Tag>, ApiError> {
    let bad = || {
        ApiError::invalid(
            param,
            "It must be a JSON list of {\"TagKey\",\"TagValue\"} objects.",
        )
    };
    let value: Value = serde_json::from_str(text).map_err(|_| bad())?;
    let items = value.as_array().ok_or_else(bad)?;
    let mut tags = vec![];
    for item in items {
        let obj = item.as_object().ok_or_else(bad)?;
        let key = obj.get("TagKey").and_then(Value::as_str).ok_or_else(bad)?;
        let val = match obj.get("TagValue") {
            None | Some(Value::Null) => "",
            Some(v) => v.as_str().ok_or_else(bad)?,
        };
        tags.push(tag(param, key, val)?);
    }
    unique_tags(param, &tags)?;
    Ok(tags)
}

/// `TagKeys`: a JSON list of keys, or (as some docs describe it) comma-separated text.
pub fn tag_keys(param: &str, text: &str) -> Result<Vec<String>, ApiError> {
    let keys: Vec<String> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::invalid(param, "It must be a JSON list of strings."))?,
        Ok(_) => {
            return Err(ApiError::invalid(
                param,
                "It must be a JSON list of strings.",
            ))
        }
        Err(_) if text.trim_start().starts_with('[') => {
            return Err(ApiError::invalid(param, "It is not valid JSON."))
        }
        Err(_) => text
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    };
    if keys.is_empty()
        || keys
            .iter()
            .any(|k| k.is_empty() || k.chars().count() > MAX_TAG_LEN)
    {
        return Err(ApiError::invalid(
            param,
            "It must name 1 or more tag keys of up to 128 characters.",
        ));
    }
    Ok(keys)
}

/// `ExtendedConfig`: a JSON object of at most 1024 characters, kept as compact JSON text.
pub fn extended_config(param: &str, text: &str) -> Result<String, ApiError> {
    if text.chars().count() > MAX_EXTENDED_CONFIG_LEN {
        return Err(ApiError::invalid(
            param,
            format!("It is longer than {MAX_EXTENDED_CONFIG_LEN} characters."),
        ));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v.to_string()),
        _ => Err(ApiError::invalid(param, "It must be a JSON object.")),
    }
}

/// A secret policy is kept as the JSON text the client sent (SetSecretPolicy in Alibaba's KMS
/// API reference): it must parse and fit 32768 bytes; coffer's own access control decides who
/// may do what.
pub fn policy_document(param: &str, text: &str) -> Result<String, ApiError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(ApiError::invalid(
            param,
            format!("It is larger than {MAX_POLICY_BYTES} bytes."),
        ));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(_)) => Ok(text.to_string()),
        _ => Err(ApiError::invalid(param, "It must be a JSON object.")),
    }
}

/// The `CustomData` of an Rds secret's extended configuration: a JSON object of at most
/// [`MAX_CUSTOM_DATA`] pairs (absent or null is empty).
pub fn custom_data(param: &str, v: Option<&Value>) -> Result<Map<String, Value>, ApiError> {
    let data = match v {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                param,
                "CustomData must be a JSON object.",
            ))
        }
    };
    if data.len() > MAX_CUSTOM_DATA {
        return Err(ApiError::invalid(
            param,
            format!("CustomData holds at most {MAX_CUSTOM_DATA} pairs."),
        ));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(secret_name("SecretName", "db/prod+1=a.b@c-d_e").is_ok());
        assert!(secret_name("SecretName", &"a".repeat(192)).is_ok());
        assert!(secret_name("SecretName", &"a".repeat(193)).is_err());
        assert!(secret_name("SecretName", "has space").is_err());
        assert!(secret_name("SecretName", "acs/x").is_err());
        assert_eq!(
            secret_name("SecretName", "").unwrap_err().code,
            "MissingParameter"
        );
    }

    #[test]
    fn stage_lists_in_both_shapes() {
        let a = stage_list("VersionStages", r#"["ACSCurrent","x"]"#).unwrap();
        let b = stage_list("VersionStages", r#"{"VersionStage":["ACSCurrent","x"]}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, vec![Stage::Current, Stage::Custom("x".into())]);
        assert!(stage_list("VersionStages", "[").is_err());
        assert!(stage_list("VersionStages", "[]").is_err());
        assert!(stage_list("VersionStages", "[1]").is_err());
    }

    #[test]
    fn tags() {
        let t = tags_json("Tags", r#"[{"TagKey":"env","TagValue":"dev"}]"#).unwrap();
        assert_eq!(
            t,
            vec![Tag {
                key: "env".into(),
                value: "dev".into()
            }]
        );
        assert!(tags_json(
            "Tags",
            r#"[{"TagKey":"a","TagValue":"1"},{"TagKey":"a","TagValue":"2"}]"#
        )
        .is_err());
        assert!(tags_json("Tags", r#"[{"TagKey":"aliyun:x","TagValue":"1"}]"#).is_err());
        assert!(tags_json("Tags", "{").is_err());
        assert_eq!(tag_keys("TagKeys", r#"["a","b"]"#).unwrap(), vec!["a", "b"]);
        assert_eq!(tag_keys("TagKeys", "a, b").unwrap(), vec!["a", "b"]);
        assert!(tag_keys("TagKeys", "[1]").is_err());
    }

    #[test]
    fn indexed_params() {
        let p = Params::new(&[
            ("Tag.2.Key".into(), "b".into()),
            ("Tag.1.Key".into(), "a".into()),
            ("Tag.1.Value".into(), "x".into()),
            ("ResourceId.1".into(), "s".into()),
        ]);
        assert_eq!(
            p.indexed_with_suffix("Tag", ".Key").unwrap(),
            vec![(1, "a"), (2, "b")]
        );
        assert_eq!(p.indexed("ResourceId").unwrap(), vec![(1, "s")]);
        let bad = Params::new(&[("ResourceId.x".into(), "s".into())]);
        assert!(bad.indexed("ResourceId").is_err());
    }
}
