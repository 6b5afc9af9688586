//! What an admin operation sees of its request, and the helpers that read fields from it.
//! Imports no operation module.

use std::sync::Arc;

use coffer_core::{AccountId, AuditSink, Scope, Service};
use serde_json::{Map, Value};

use crate::errors::ApiError;

/// The request context of one admin operation.
pub struct Call {
    pub(crate) service: Arc<Service>,
    pub(crate) audit_log: Arc<dyn AuditSink>,
    pub(crate) default_region: String,
    /// The caller's account in the default region: the admin API has no regions of its own.
    pub(crate) scope: Scope,
    pub(crate) query: String,
    pub(crate) body: Vec<u8>,
    /// Whether the caller is an admin key of the operator account.
    pub(crate) operator: bool,
    pub(crate) db_hosts: Arc<crate::hosts::DbHostAllowList>,
}

impl Call {
    /// The JSON body as an object; an empty body counts as `{}`.
    pub(crate) fn json(&self) -> Result<Map<String, Value>, ApiError> {
        json_body(&self.body)
    }

    pub(crate) fn query(&self, name: &str) -> Option<String> {
        query_value(&self.query, name)
    }
}

/// A request body as a JSON object; an empty body counts as `{}`.
pub(crate) fn json_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::invalid("body", "it must be a JSON object")),
        Err(e) => Err(ApiError::invalid(
            "body",
            format!("it is not valid JSON ({e})"),
        )),
    }
}

/// One parameter of a query string (`+` is a space, as in forms).
pub(crate) fn query_value(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

pub(crate) fn account_id(text: &str) -> Result<AccountId, ApiError> {
    text.parse::<u64>()
        .map(AccountId)
        .map_err(|_| ApiError::invalid("AccountId", "it must be a decimal account id"))
}

pub(crate) fn str_field<'b>(
    body: &'b Map<String, Value>,
    name: &str,
) -> Result<Option<&'b str>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(name, "it must be a string")),
    }
}

pub(crate) fn bool_field(
    body: &Map<String, Value>,
    name: &str,
    default: bool,
) -> Result<bool, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::invalid(name, "it must be true or false")),
    }
}

/// What an admin operation answers: an HTTP status and a JSON body.
pub(crate) type Answer = Result<(u16, Value), ApiError>;
