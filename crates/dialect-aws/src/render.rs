//! AWS's JSON 1.1 answers: the operation's output object, or `{"__type": ..., "Message": ...}`
//! with the error's status; the request id travels in `x-amzn-RequestId` as at AWS.

use coffer_api::Reply;
use serde_json::{json, Map, Value};

use crate::errors::ApiError;

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

pub fn reply(request_id: &str, outcome: Result<Map<String, Value>, ApiError>) -> Reply {
    let (status, body) = match outcome {
        Ok(fields) => (200, Value::Object(fields)),
        Err(e) => (e.status, json!({ "__type": e.code, "Message": e.message })),
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    Reply::new(status, CONTENT_TYPE, body).with_header("x-amzn-requestid", request_id)
}

/// The fields of a `json!` object literal.
pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_type_message_and_status() {
        let r = reply("r1", Err(ApiError::not_found("gone")));
        assert_eq!(r.status, 400);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            json!({"__type": "ResourceNotFoundException", "Message": "gone"})
        );
        let ok = reply("r2", Ok(obj(json!({"Name": "a"}))));
        assert_eq!(ok.status, 200);
        assert_eq!(ok.content_type, CONTENT_TYPE);
    }
}
