//! Typed access to a request's parameters. TC3 POST requests carry typed JSON; GET and form
//! requests carry strings rebuilt into the same shape, so numbers and booleans are accepted
//! both as JSON values and as their text.

use serde_json::{Map, Value};

use crate::errors::ApiError;

pub const MAX_NAME_LEN: usize = 128;
pub const MAX_VERSION_ID_LEN: usize = 64;
pub const MAX_VALUE_BYTES: usize = 32_768;
pub const MAX_DESCRIPTION_BYTES: usize = 2_048;
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_KEY_LEN: usize = 127;
pub const MAX_TAG_VALUE_LEN: usize = 255;
pub const MAX_ADDITIONAL_CONFIG_BYTES: usize = 4_096;
/// Versions per secret; a put beyond that is refused.
pub const MAX_VERSIONS: usize = 10;

pub struct Params(Map<String, Value>);

impl Params {
    pub fn new(value: Value) -> Result<Self, ApiError> {
        match value {
            Value::Object(m) => Ok(Self(m)),
            _ => Err(ApiError::invalid(
                "body",
                "the request body must be a JSON object",
            )),
        }
    }

    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid(name, "it must be a string")),
        }
    }

    pub fn required_str(&self, name: &str) -> Result<&str, ApiError> {
        match self.str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::missing(name)),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::invalid(name, "it must be an integer")),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::invalid(name, "it must be an integer")),
            Some(_) => Err(ApiError::invalid(name, "it must be an integer")),
        }
    }

    pub fn array(&self, name: &str) -> Result<Option<&Vec<Value>>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(ApiError::invalid(name, "it must be a list")),
        }
    }
}

/// `SecretName`: `^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`.
pub fn secret_name(param: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::missing(param));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(ApiError::invalid_value(
            param,
            format!("longer than {MAX_NAME_LEN} characters"),
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(ApiError::invalid_value(
            param,
            "it must start with a letter or digit",
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(ApiError::invalid_value(
            param,
            format!("the character {c:?} is not allowed; use letters, digits, _ and -"),
        ));
    }
    Ok(())
}

/// `VersionId`: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`.
pub fn version_id(param: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() {
        return Err(ApiError::missing(param));
    }
    if id.len() > MAX_VERSION_ID_LEN {
        return Err(ApiError::invalid_value(
            param,
            format!("longer than {MAX_VERSION_ID_LEN} characters"),
        ));
    }
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(ApiError::invalid_value(
            param,
            "it must start with a letter or digit",
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(*c)))
    {
        return Err(ApiError::invalid_value(
            param,
            format!("the character {c:?} is not allowed; use letters, digits, _ . and -"),
        ));
    }
    Ok(())
}

pub fn description(param: &str, d: &str) -> Result<(), ApiError> {
    if d.len() > MAX_DESCRIPTION_BYTES {
        return Err(ApiError::invalid_value(
            param,
            format!("longer than {MAX_DESCRIPTION_BYTES} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions() {
        assert!(secret_name("SecretName", "a-b_C9").is_ok());
        assert!(secret_name("SecretName", &"a".repeat(128)).is_ok());
        assert!(secret_name("SecretName", &"a".repeat(129)).is_err());
        assert!(secret_name("SecretName", "_a").is_err());
        assert!(secret_name("SecretName", "a/b").is_err());
        assert_eq!(
            secret_name("SecretName", "").unwrap_err().code,
            "MissingParameter"
        );
        assert!(version_id("VersionId", "1.0.0-rc_1").is_ok());
        assert!(version_id("VersionId", ".x").is_err());
        assert!(version_id("VersionId", &"v".repeat(65)).is_err());
    }

    #[test]
    fn typed_fields_accept_text_from_flattened_requests() {
        let p =
            Params::new(serde_json::json!({"Limit": "20", "Offset": 5, "Bad": true, "N": null}))
                .unwrap();
        assert_eq!(p.int("Limit").unwrap(), Some(20));
        assert_eq!(p.int("Offset").unwrap(), Some(5));
        assert_eq!(p.int("Bad").unwrap_err().code, "InvalidParameter");
        assert_eq!(p.int("N").unwrap(), None);
        assert!(Params::new(serde_json::json!([1])).is_err());
    }
}
