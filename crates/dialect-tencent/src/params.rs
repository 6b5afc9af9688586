//! Typed access to a request's parameters, and the one place their JSON types are checked.
//! TC3 POST requests carry typed JSON, and there every value must have the type Tencent
//! declares for it (`"Limit": "10"` is refused with `InvalidParameter`, as Tencent's API 3.0
//! refuses it); GET and form requests carry text fields rebuilt into the same shape, so there
//! numbers and booleans are read from their text. Operations read parameters only through
//! these accessors, so every operation follows the same rules.

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

pub struct Params {
    fields: Map<String, Value>,
    /// The values have their JSON types (a TC3 POST body) rather than being text.
    typed: bool,
}

/// How a wrongly typed value is refused: Tencent's `InvalidParameter`, naming the field and
/// the type it must have.
fn wrong_type(name: &str, wanted: &str) -> ApiError {
    ApiError::invalid(name, format!("it must be {wanted}"))
}

impl Params {
    /// Parameters from a typed JSON body: every value must have its declared type.
    pub fn new(value: Value) -> Result<Self, ApiError> {
        Self::with_types(value, true)
    }

    /// Parameters rebuilt from text fields (a query or a form), where numbers and booleans
    /// arrive as their text.
    pub fn from_text(value: Value) -> Result<Self, ApiError> {
        Self::with_types(value, false)
    }

    fn with_types(value: Value, typed: bool) -> Result<Self, ApiError> {
        match value {
            Value::Object(fields) => Ok(Self { fields, typed }),
            _ => Err(ApiError::invalid(
                "body",
                "the request body must be a JSON object",
            )),
        }
    }

    fn raw(&self, name: &str) -> Option<&Value> {
        self.fields.get(name).filter(|v| !v.is_null())
    }

    pub fn str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(name, "a string")),
        }
    }

    pub fn required_str(&self, name: &str) -> Result<&str, ApiError> {
        match self.str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::missing(name)),
        }
    }

    /// An Integer field: a JSON integer, or its decimal text in a query or form.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        let wanted = "an integer (a JSON number)";
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| wrong_type(name, wanted)),
            Some(Value::String(s)) if !self.typed => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| wrong_type(name, "an integer")),
            Some(_) => Err(wrong_type(name, wanted)),
        }
    }

    /// A Boolean field: JSON `true`/`false`, or that text in a query or form.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        let wanted = "a boolean (JSON true or false)";
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if !self.typed && s.eq_ignore_ascii_case("true") => {
                Ok(Some(true))
            }
            Some(Value::String(s)) if !self.typed && s.eq_ignore_ascii_case("false") => {
                Ok(Some(false))
            }
            Some(_) => Err(wrong_type(name, wanted)),
        }
    }

    pub fn array(&self, name: &str) -> Result<Option<&Vec<Value>>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(wrong_type(name, "a list")),
        }
    }

    /// An Array of String field.
    pub fn str_list(&self, name: &str) -> Result<Option<Vec<&str>>, ApiError> {
        let Some(items) = self.array(name)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| wrong_type(name, "a list of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
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
    fn text_fields_are_read_as_the_type_they_stand_for() {
        let p = Params::from_text(serde_json::json!({
            "Limit": "20", "Offset": " 5 ", "On": "True", "Off": "false", "Bad": "x", "N": null
        }))
        .unwrap();
        assert_eq!(p.int("Limit").unwrap(), Some(20));
        assert_eq!(p.int("Offset").unwrap(), Some(5));
        assert_eq!(p.bool("On").unwrap(), Some(true));
        assert_eq!(p.bool("Off").unwrap(), Some(false));
        assert_eq!(p.int("Bad").unwrap_err().code, "InvalidParameter");
        assert_eq!(p.bool("Bad").unwrap_err().code, "InvalidParameter");
        assert_eq!(p.int("N").unwrap(), None);
        assert!(Params::new(serde_json::json!([1])).is_err());
    }

    #[test]
    fn typed_json_must_have_the_declared_types() {
        let p = Params::new(serde_json::json!({
            "Limit": "10", "Offset": 5, "Big": 1.5, "Name": 7, "On": "true", "Off": false,
            "Ids": ["a", 2], "Tags": {"a": 1}, "Ok": ["a", "b"]
        }))
        .unwrap();
        let refused = |e: ApiError, field: &str| {
            assert_eq!(e.code, "InvalidParameter");
            assert!(e.message.contains(field), "{}", e.message);
        };
        refused(p.int("Limit").unwrap_err(), "Limit");
        assert_eq!(p.int("Offset").unwrap(), Some(5));
        refused(p.int("Big").unwrap_err(), "Big");
        refused(p.str("Name").unwrap_err(), "Name");
        refused(p.required_str("Name").unwrap_err(), "Name");
        refused(p.bool("On").unwrap_err(), "On");
        assert_eq!(p.bool("Off").unwrap(), Some(false));
        refused(p.str_list("Ids").unwrap_err(), "Ids");
        refused(p.array("Tags").unwrap_err(), "Tags");
        assert_eq!(p.str_list("Ok").unwrap(), Some(vec!["a", "b"]));
        assert_eq!(p.int("Absent").unwrap(), None);
    }
}
