//! Secret ARNs: `arn:aws:secretsmanager:<region>:<account>:secret:<name>-<suffix>`, where the
//! suffix is six random characters fixed when the secret is made
//! (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_iam-permissions.html#iam-resources).
//! A `SecretId` names a secret by its name, its full ARN, or a partial ARN (the ARN without
//! `-<suffix>`).

/// The length of the random suffix after the name.
pub const SUFFIX_LEN: usize = 6;

pub fn secret_arn(region: &str, account: &str, name: &str, suffix: &str) -> String {
    format!("arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix}")
}

/// A `SecretId` read: a name, or the parts of a secret ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretRef {
    Name(String),
    Arn {
        region: String,
        account: String,
        /// What follows `:secret:`: `name-suffix` (a full ARN) or `name` (a partial one).
        resource: String,
    },
}

impl SecretRef {
    /// Reads a `SecretId`. Anything starting `arn:` must be a Secrets Manager secret ARN;
    /// `None` for one that is not (it names no secret).
    pub fn parse(id: &str) -> Option<SecretRef> {
        if !id.starts_with("arn:") {
            return Some(SecretRef::Name(id.to_string()));
        }
        // arn:partition:service:region:account:secret:resource (the resource may hold `:`? no:
        // names cannot, so exactly seven fields).
        let parts: Vec<&str> = id.splitn(7, ':').collect();
        let [_, partition, service, region, account, kind, resource] = parts[..] else {
            return None;
        };
        if !partition.starts_with("aws")
            || service != "secretsmanager"
            || kind != "secret"
            || resource.is_empty()
            || account.is_empty()
        {
            return None;
        }
        Some(SecretRef::Arn {
            region: region.to_string(),
            account: account.to_string(),
            resource: resource.to_string(),
        })
    }

    /// The candidates this reference may name, most specific first: `(name, Some(suffix))`
    /// for a full ARN's reading, `(name, None)` for a name or a partial ARN's reading.
    pub fn candidates(&self) -> Vec<(String, Option<String>)> {
        match self {
            SecretRef::Name(n) => vec![(n.clone(), None)],
            SecretRef::Arn { resource, .. } => {
                let mut out = vec![];
                if let Some((name, suffix)) = split_suffix(resource) {
                    out.push((name.to_string(), Some(suffix.to_string())));
                }
                out.push((resource.clone(), None));
                out
            }
        }
    }
}

/// `name-XXXXXX` → (`name`, `XXXXXX`), when the resource ends in a hyphen and six
/// characters that a suffix may have.
fn split_suffix(resource: &str) -> Option<(&str, &str)> {
    let cut = resource.len().checked_sub(SUFFIX_LEN + 1)?;
    let (name, rest) = (resource.get(..cut)?, resource.get(cut..)?);
    let suffix = rest.strip_prefix('-')?;
    (!name.is_empty()
        && suffix.len() == SUFFIX_LEN
        && suffix.chars().all(|c| c.is_ascii_alphanumeric()))
    .then_some((name, suffix))
}

/// The ARN suffix of a secret: six letters and digits drawn from the random part of its id
/// (the last bytes of a v4 or v7 UUID are random), so it is fixed for the secret's life and a
/// secret made again under the same name gets another, as at AWS.
pub fn suffix_of(s: &coffer_core::SecretRecord) -> String {
    suffix_of_id(&s.id)
}

pub fn suffix_of_id(id: &uuid::Uuid) -> String {
    // The core derives it, because resource policies name secrets by their ARNs too.
    coffer_core::resource_policy::arn_suffix(id)
}

/// A KMS key reference as the core reads it: a key ARN (`arn:aws:kms:...:key/<id>` or
/// `...:alias/<name>`) becomes the id or `alias/<name>` it ends in; anything else is kept.
pub fn key_reference(reference: &str) -> &str {
    if !reference.starts_with("arn:") {
        return reference;
    }
    match reference.splitn(6, ':').nth(5) {
        Some(resource) if resource.starts_with("alias/") => resource,
        Some(resource) => resource.strip_prefix("key/").unwrap_or(resource),
        None => reference,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_partial_arns_and_names() {
        let arn = secret_arn("us-east-1", "123456789012", "db/pass-1", "AbC123");
        assert_eq!(
            arn,
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:db/pass-1-AbC123"
        );
        let r = SecretRef::parse(&arn).unwrap();
        assert_eq!(
            r.candidates(),
            vec![
                ("db/pass-1".to_string(), Some("AbC123".to_string())),
                ("db/pass-1-AbC123".to_string(), None)
            ]
        );
        let partial =
            SecretRef::parse("arn:aws:secretsmanager:us-east-1:123456789012:secret:db/pass")
                .unwrap();
        assert_eq!(partial.candidates(), vec![("db/pass".to_string(), None)]);
        assert_eq!(
            SecretRef::parse("plain").unwrap(),
            SecretRef::Name("plain".into())
        );
        assert!(SecretRef::parse("arn:aws:s3:::bucket").is_none());
        let id = uuid::Uuid::new_v4();
        let suffix = suffix_of_id(&id);
        assert_eq!(suffix.len(), SUFFIX_LEN);
        assert_eq!(suffix, suffix_of_id(&id), "stable");
        assert_eq!(key_reference("arn:aws:kms:us-east-1:1:key/abc"), "abc");
        assert_eq!(key_reference("arn:aws:kms:us-east-1:1:alias/x"), "alias/x");
        assert_eq!(key_reference("alias/x"), "alias/x");
        assert!(SecretRef::parse("arn:aws:secretsmanager:r:1:secret:").is_none());
        // A short resource has no suffix reading.
        let short = SecretRef::parse("arn:aws:secretsmanager:r:1:secret:-abcdef").unwrap();
        assert_eq!(short.candidates(), vec![("-abcdef".to_string(), None)]);
    }
}
