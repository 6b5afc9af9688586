//! Typed access to a request's JSON members, with the constraints of the model
//! (botocore `secretsmanager/2017-10-17/service-2.json`). A member of the wrong JSON type is a
//! `SerializationException`, as AWS's JSON protocol answers it; one that breaks a length or
//! range constraint a `ValidationException`; the checks the service itself makes (allowed
//! characters, combinations of members) are `InvalidParameterException`s in the operations.

use serde_json::{Map, Value};

use crate::errors::ApiError;

/// `NameType`: 1–512 characters.
pub const MAX_NAME_LEN: usize = 512;
/// `SecretIdType`: 1–2048 characters.
pub const MAX_SECRET_ID_LEN: usize = 2048;
/// `SecretStringType` / `SecretBinaryType`: 65,536 bytes.
pub const MAX_VALUE_BYTES: usize = 65_536;
/// `DescriptionType`: up to 2,048 characters.
pub const MAX_DESCRIPTION_LEN: usize = 2048;
/// `KmsKeyIdType`: up to 2,048 characters.
pub const MAX_KMS_KEY_ID_LEN: usize = 2048;
/// `ClientRequestTokenType` and `SecretVersionIdType`: 32–64 characters.
pub const MIN_TOKEN_LEN: usize = 32;
pub const MAX_TOKEN_LEN: usize = 64;
/// `SecretVersionStageType`: 1–256 characters; `SecretVersionStagesType`: 1–20 of them.
pub const MAX_STAGE_LEN: usize = 256;
pub const MAX_STAGES: usize = 20;
/// `TagKeyType` 1–128, `TagValueType` up to 256 characters.
pub const MAX_TAG_KEY_LEN: usize = 128;
pub const MAX_TAG_VALUE_LEN: usize = 256;
/// `NextTokenType`: 1–4096 characters.
pub const MAX_NEXT_TOKEN_LEN: usize = 4096;

pub struct Params {
    fields: Map<String, Value>,
}

fn wrong_type(name: &str, wanted: &str) -> ApiError {
    ApiError::serialization(format!("The member {name} must be {wanted}."))
}

impl Params {
    /// The body's JSON object. An empty body is an empty object, as AWS takes it.
    pub fn from_body(body: &[u8]) -> Result<Self, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self { fields: Map::new() });
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(fields)) => Ok(Self { fields }),
            Ok(_) => Err(ApiError::serialization(
                "The request body must be a JSON object.",
            )),
            Err(e) => Err(ApiError::serialization(format!(
                "The request body is not valid JSON (line {}, column {}).",
                e.line(),
                e.column()
            ))),
        }
    }

    pub fn from_map(fields: Map<String, Value>) -> Self {
        Self { fields }
    }

    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.fields.get(name).filter(|v| !v.is_null())
    }

    pub fn has(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    pub fn str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(name, "a string")),
        }
    }

    /// A string member with the model's length bounds (in characters).
    pub fn str_len(&self, name: &str, min: usize, max: usize) -> Result<Option<&str>, ApiError> {
        let Some(s) = self.str(name)? else {
            return Ok(None);
        };
        check_len(name, s, min, max)?;
        Ok(Some(s))
    }

    pub fn required_str(&self, name: &str, min: usize, max: usize) -> Result<&str, ApiError> {
        self.str_len(name, min, max)?
            .ok_or_else(|| ApiError::missing(name))
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(wrong_type(name, "a boolean")),
        }
    }

    /// An integer member within `min..=max`.
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let n = match self.raw(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_i64().ok_or_else(|| wrong_type(name, "an integer"))?,
            Some(_) => return Err(wrong_type(name, "an integer")),
        };
        if n < min {
            return Err(ApiError::validation(
                name,
                format!("Member must have value greater than or equal to {min}"),
            ));
        }
        if n > max {
            return Err(ApiError::validation(
                name,
                format!("Member must have value less than or equal to {max}"),
            ));
        }
        Ok(Some(n))
    }

    pub fn array(&self, name: &str) -> Result<Option<&Vec<Value>>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(wrong_type(name, "a list")),
        }
    }

    /// A list of strings, each within the given length bounds, the list within `max_items`.
    pub fn str_list(
        &self,
        name: &str,
        (min_items, max_items): (usize, usize),
        (min, max): (usize, usize),
    ) -> Result<Option<Vec<String>>, ApiError> {
        let Some(items) = self.array(name)? else {
            return Ok(None);
        };
        check_count(name, items.len(), min_items, max_items)?;
        items
            .iter()
            .map(|v| {
                let s = v
                    .as_str()
                    .ok_or_else(|| wrong_type(name, "a list of strings"))?;
                check_len(name, s, min, max)?;
                Ok(s.to_string())
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    pub fn object(&self, name: &str) -> Result<Option<&Map<String, Value>>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(_) => Err(wrong_type(name, "a structure")),
        }
    }
}

/// A string's length in characters, as AWS counts it for `min`/`max` of a string shape.
pub fn check_len(name: &str, s: &str, min: usize, max: usize) -> Result<(), ApiError> {
    check_count(name, s.chars().count(), min, max)
}

/// A length (of a string or a list) within the model's `min`/`max`, in AWS's wording.
pub fn check_count(name: &str, n: usize, min: usize, max: usize) -> Result<(), ApiError> {
    if n < min {
        return Err(ApiError::validation(
            name,
            format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(ApiError::validation(
            name,
            format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_and_bounds_are_checked() {
        let p = Params::from_map(
            json!({"A": "x", "B": 5, "C": true, "D": ["a", 1]})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(p.str("B").unwrap_err().code, "SerializationException");
        assert_eq!(p.int("B", 1, 4).unwrap_err().code, "ValidationException");
        assert_eq!(p.bool("C").unwrap(), Some(true));
        assert!(p.str_list("D", (0, 5), (1, 5)).is_err());
        assert_eq!(
            p.str_len("A", 2, 5).unwrap_err().code,
            "ValidationException"
        );
        assert!(p.str("Z").unwrap().is_none());
    }

    #[test]
    fn bodies_that_are_not_objects_are_serialization_errors() {
        assert_eq!(
            Params::from_body(b"{").err().unwrap().code,
            "SerializationException"
        );
        assert_eq!(
            Params::from_body(b"[]").err().unwrap().code,
            "SerializationException"
        );
        assert!(Params::from_body(b"").is_ok());
    }
}
