//! ListSecrets' and BatchGetSecretValue's `Filters` and the paging both share
//! (https://docs.aws.amazon.com/secretsmanager/latest/userguide/manage_search-secret.html):
//! each key matches a prefix (`description` and `all` ignoring case), several values of one
//! key match any of them, a value starting with `!` excludes what it matches, and different
//! keys must all match. `all` splits its value into words and looks for each in every
//! attribute.

use base64::Engine as _;
use coffer_core::{PageRequest, SecretFilter, SecretRecord};

use crate::errors::ApiError;
use crate::params::{self, Params};
use crate::request::Call;

pub const KEYS: [&str; 7] = [
    "description",
    "name",
    "tag-key",
    "tag-value",
    "primary-region",
    "owning-service",
    "all",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub key: &'static str,
    /// (negated, value without its `!`).
    pub values: Vec<(bool, String)>,
}

/// `Filters`: at most 10, each a known key with 1–10 values of the allowed characters.
pub fn parse(p: &Params) -> Result<Vec<Filter>, ApiError> {
    let Some(items) = p.array("Filters")? else {
        return Ok(vec![]);
    };
    params::check_count("Filters", items.len(), 0, 10)?;
    let mut out = vec![];
    for item in items {
        let o = Params::from_map(
            item.as_object()
                .ok_or_else(|| ApiError::serialization("Filters must be a list of structures."))?
                .clone(),
        );
        let key = o.str("Key")?.ok_or_else(|| {
            ApiError::invalid_parameter("Invalid filter key: each filter needs a Key.")
        })?;
        let key = KEYS.iter().copied().find(|k| *k == key).ok_or_else(|| {
            ApiError::validation(
                "filters.member.key",
                "Member must satisfy enum value set: [description, name, tag-key, tag-value, primary-region, owning-service, all]",
            )
        })?;
        let values = o.str_list("Values", (1, 10), (0, 512))?.ok_or_else(|| {
            ApiError::invalid_parameter(format!("The filter {key} has no Values."))
        })?;
        let mut parsed = vec![];
        for v in values {
            if !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " :_@/+=.-!".contains(c))
                || v.get(1..)
                    .is_some_and(|rest| rest.contains('!') && !v.starts_with('!'))
            {
                return Err(ApiError::invalid_parameter(format!(
                    "Invalid filter value for {key}: values may contain letters, digits, spaces \
                     and :_@/+=.- and start with ! to negate."
                )));
            }
            match v.strip_prefix('!') {
                Some(rest) => parsed.push((true, rest.to_string())),
                None => parsed.push((false, v)),
            }
        }
        out.push(Filter {
            key,
            values: parsed,
        });
    }
    Ok(out)
}

/// The attribute texts a key looks at, for one secret.
fn attributes<'a>(key: &str, s: &'a SecretRecord, region: &'a str) -> Vec<&'a str> {
    match key {
        "description" => vec![s.description.as_str()],
        "name" => vec![s.name.as_str()],
        "tag-key" => s.tags.iter().map(|t| t.key.as_str()).collect(),
        "tag-value" => s.tags.iter().map(|t| t.value.as_str()).collect(),
        "primary-region" => vec![region],
        "owning-service" => {
            if s.kind.is_managed() {
                vec!["coffer"]
            } else {
                vec![]
            }
        }
        _ => {
            let mut all = vec![s.name.as_str(), s.description.as_str(), region];
            all.extend(
                s.tags
                    .iter()
                    .flat_map(|t| [t.key.as_str(), t.value.as_str()]),
            );
            all
        }
    }
}

fn value_matches(key: &str, value: &str, s: &SecretRecord, region: &str) -> bool {
    let attrs = attributes(key, s, region);
    match key {
        "description" => {
            let v = value.to_lowercase();
            attrs.iter().any(|a| a.to_lowercase().starts_with(&v))
        }
        "all" => value.split_whitespace().all(|word| {
            let w = word.to_lowercase();
            attrs.iter().any(|a| {
                a.to_lowercase()
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|part| part.starts_with(&w))
                    || a.to_lowercase().starts_with(&w)
            })
        }),
        _ => attrs.iter().any(|a| a.starts_with(value)),
    }
}

/// Whether `s` passes every filter.
pub fn matches(filters: &[Filter], s: &SecretRecord, region: &str) -> bool {
    filters.iter().all(|f| {
        let positive: Vec<&str> = f
            .values
            .iter()
            .filter(|(neg, _)| !neg)
            .map(|(_, v)| v.as_str())
            .collect();
        let any_positive =
            positive.is_empty() || positive.iter().any(|v| value_matches(f.key, v, s, region));
        let no_negative = f
            .values
            .iter()
            .filter(|(neg, _)| *neg)
            .all(|(_, v)| !value_matches(f.key, v, s, region));
        any_positive && no_negative
    })
}

const TOKEN_PREFIX: &str = "coffer-page:";

/// The token of the page that starts at `offset`.
pub fn token(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{TOKEN_PREFIX}{offset}"))
}

/// Where `NextToken` starts (0 without one); a token this server did not issue is refused.
pub fn offset(p: &Params) -> Result<usize, ApiError> {
    let Some(t) = p.str_len("NextToken", 1, params::MAX_NEXT_TOKEN_LEN)? else {
        return Ok(0);
    };
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(TOKEN_PREFIX)?.parse().ok())
        .ok_or_else(|| ApiError::invalid_next_token("The NextToken value is invalid."))
}

/// Secrets read from the store per request to it while a list is filtered.
const SCAN_BATCH: u32 = 500;

/// One page of the scope's secrets that pass `filters`, sorted, and whether more follow.
pub async fn page(
    call: &Call,
    filters: &[Filter],
    include_deleted: bool,
    newest_first: bool,
    sort_by: Option<&str>,
    offset: usize,
    max: usize,
) -> Result<(Vec<SecretRecord>, bool), ApiError> {
    // The common listing (no filter, creation order) is the store's own order: one page read
    // from its index, so a large account costs no more than a small one.
    if filters.is_empty() && matches!(sort_by, None | Some("created-date")) {
        let page = call
            .service
            .list(
                &call.scope,
                &SecretFilter {
                    pending_delete: (!include_deleted).then_some(false),
                    ..SecretFilter::default()
                },
                PageRequest {
                    offset: offset as u64,
                    limit: max as u32,
                    newest_first,
                },
            )
            .await?;
        let more = page.total > (offset.saturating_add(max)) as u64;
        return Ok((page.items, more));
    }
    // Filters and other orders have AWS's own matching rules (prefixes, negation, the
    // client's region), applied here over the scope read in batches.
    let mut all = vec![];
    let mut from = 0u64;
    loop {
        let page = call
            .service
            .list(
                &call.scope,
                &SecretFilter::default(),
                PageRequest {
                    offset: from,
                    limit: SCAN_BATCH,
                    newest_first: false,
                },
            )
            .await?;
        let n = page.items.len();
        all.extend(page.items.into_iter().filter(|s| {
            (include_deleted || !s.is_pending_delete()) && matches(filters, s, &call.region_id)
        }));
        from += n as u64;
        if n < SCAN_BATCH as usize || from >= page.total {
            break;
        }
    }
    match sort_by {
        Some("name") => all.sort_by(|a, b| a.name.cmp(&b.name)),
        Some("last-changed-date") => all.sort_by_key(|s| (s.updated_at, s.id)),
        Some("last-accessed-date") => {
            // The day each secret was last read; one never read sorts before any that was.
            let mut days = std::collections::HashMap::with_capacity(all.len());
            for chunk in all.chunks(SCAN_BATCH as usize) {
                let ids: Vec<_> = chunk.iter().map(|s| s.id).collect();
                days.extend(call.service.last_accessed(&ids).await?);
            }
            all.sort_by_key(|s| (days.get(&s.id).copied(), s.created_at, s.id));
        }
        _ => all.sort_by_key(|s| (s.created_at, s.id)),
    }
    if newest_first {
        all.reverse();
    }
    let more = all.len() > offset.saturating_add(max);
    Ok((all.into_iter().skip(offset).take(max).collect(), more))
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_core::{AccountId, Scope, SecretKind, SecretState, Tag, Timestamp};
    use serde_json::json;

    fn secret(name: &str, description: &str, tags: &[(&str, &str)]) -> SecretRecord {
        SecretRecord {
            id: uuid::Uuid::new_v4(),
            scope: Scope {
                account: AccountId(1),
                region: "r".into(),
            },
            name: name.into(),
            kind: SecretKind::Generic,
            description: description.into(),
            key_id: "k".into(),
            tags: tags
                .iter()
                .map(|(k, v)| Tag {
                    key: (*k).into(),
                    value: (*v).into(),
                })
                .collect(),
            state: SecretState::Enabled,
            rotation: Default::default(),
            extended_config: None,
            policy: None,
            subscriptions: vec![],
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            revision: 1,
            versions: vec![],
        }
    }

    fn filters(v: serde_json::Value) -> Result<Vec<Filter>, ApiError> {
        parse(&Params::from_map(
            json!({ "Filters": v }).as_object().unwrap().clone(),
        ))
    }

    #[test]
    fn prefixes_negation_and_case() {
        let s = secret("prod/db", "The Main database", &[("team", "blue")]);
        let ok = |f| matches(&filters(f).unwrap(), &s, "us-east-1");
        assert!(ok(json!([{"Key": "name", "Values": ["prod"]}])));
        assert!(
            !ok(json!([{"Key": "name", "Values": ["Prod"]}])),
            "name is case-sensitive"
        );
        assert!(ok(json!([{"Key": "description", "Values": ["the main"]}])));
        assert!(!ok(json!([{"Key": "name", "Values": ["!prod"]}])));
        assert!(ok(json!([{"Key": "name", "Values": ["!dev"]}])));
        assert!(
            ok(json!([{"Key": "name", "Values": ["dev", "prod"]}])),
            "values are alternatives"
        );
        assert!(!ok(
            json!([{"Key": "name", "Values": ["prod"]}, {"Key": "tag-key", "Values": ["owner"]}])
        ));
        assert!(ok(json!([{"Key": "tag-value", "Values": ["bl"]}])));
        assert!(ok(json!([{"Key": "primary-region", "Values": ["us-"]}])));
        assert!(ok(json!([{"Key": "all", "Values": ["database"]}])));
        assert!(ok(json!([{"Key": "all", "Values": ["BLUE"]}])));
        assert!(!ok(
            json!([{"Key": "owning-service", "Values": ["coffer"]}])
        ));
    }

    #[test]
    fn bad_filters_are_refused() {
        assert_eq!(
            filters(json!([{"Key": "nope", "Values": ["a"]}]))
                .unwrap_err()
                .code,
            "ValidationException"
        );
        assert_eq!(
            filters(json!([{"Key": "name", "Values": []}]))
                .unwrap_err()
                .code,
            "ValidationException"
        );
        assert_eq!(
            filters(json!([{"Key": "name", "Values": ["a$b"]}]))
                .unwrap_err()
                .code,
            "InvalidParameterException"
        );
        assert_eq!(
            filters(json!([{"Key": "name"}])).unwrap_err().code,
            "InvalidParameterException"
        );
    }

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_refused() {
        let p = |t: &str| Params::from_map(json!({ "NextToken": t }).as_object().unwrap().clone());
        assert_eq!(offset(&p(&token(40))).unwrap(), 40);
        assert_eq!(
            offset(&p("garbage")).unwrap_err().code,
            "InvalidNextTokenException"
        );
        assert_eq!(offset(&Params::from_map(Default::default())).unwrap(), 0);
    }
}
