//! Quotas and request rates: the `--limits` profiles, the `--limit NAME=VALUE` overrides, and
//! what they resolve to (the core's protective limits, each API's quota of secrets per region,
//! and the request rates the [`Gate`](crate::http::Gate) enforces).
//!
//! - `default`: the protective limits only (value size, versions, stages and tags per secret,
//!   the ceiling of secrets per region); no request rates.
//! - `cloud`: on top, each cloud's published figures, as each API's own module states them
//!   (`coffer_dialect_*::limits`): its secrets per region and its request rates per account
//!   and operation group, so that clients meet the same refusals they would meet in the
//!   cloud and their retry logic can be tested.
//! - `unlimited`: the protective limits only, also if `default` ever gains more.
//!
//! Overrides apply after the profile, in order. Names:
//! - `value-bytes`, `versions-per-secret`, `stages-per-secret`, `tags-per-secret`: the
//!   protective limits of every API (positive integers);
//! - `secrets-per-region` (every API) or `API.secrets-per-region`: a quota of secrets per
//!   account and region (`none` lifts it; the `--max-secrets-per-region` ceiling stays);
//! - `API.rate.GROUP`: a group's rate, `COUNT/s`, `COUNT/min` or `COUNT/h`, or `none`;
//!   `API.rate.*` sets every group of the API.

use std::collections::BTreeMap;
use std::fmt;

use clap::ValueEnum;
use coffer_api::Dialect as _;
use coffer_core::throttle::Rate;
use coffer_core::Limits;

/// The set of limits to start from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// The protective limits only.
    #[default]
    Default,
    /// Each cloud's published quotas and request rates, on top of the protective limits.
    Cloud,
    /// The protective limits only, whatever `default` becomes.
    Unlimited,
}

/// What one API publishes: its rate groups and their figures, its secrets per region.
struct Published {
    api: &'static str,
    groups: Vec<&'static str>,
    rates: &'static [(&'static str, Rate)],
    secrets_per_region: u64,
}

/// Every API that has quotas.
fn published() -> Vec<Published> {
    vec![
        Published {
            api: coffer_dialect_aws::Aws::NAME,
            groups: coffer_dialect_aws::limits::groups(),
            rates: coffer_dialect_aws::limits::CLOUD_RATES,
            secrets_per_region: coffer_dialect_aws::limits::CLOUD_SECRETS_PER_REGION,
        },
        Published {
            api: coffer_dialect_alibaba::Alibaba::NAME,
            groups: coffer_dialect_alibaba::limits::groups(),
            rates: coffer_dialect_alibaba::limits::CLOUD_RATES,
            secrets_per_region: coffer_dialect_alibaba::limits::CLOUD_SECRETS_PER_REGION,
        },
        Published {
            api: coffer_dialect_tencent::Tencent::NAME,
            groups: coffer_dialect_tencent::limits::groups(),
            rates: coffer_dialect_tencent::limits::CLOUD_RATES,
            secrets_per_region: coffer_dialect_tencent::limits::CLOUD_SECRETS_PER_REGION,
        },
        Published {
            api: coffer_dialect_huawei::Huawei::NAME,
            groups: coffer_dialect_huawei::limits::groups(),
            rates: coffer_dialect_huawei::limits::CLOUD_RATES,
            secrets_per_region: coffer_dialect_huawei::limits::CLOUD_SECRETS_PER_REGION,
        },
    ]
}

/// The limits the server runs with.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub profile: Profile,
    /// The protective limits, for every API.
    pub core: Limits,
    /// Each API's quota of secrets per account and region (none: only the ceiling).
    pub secrets_per_region: BTreeMap<&'static str, u64>,
    /// Each (API, group)'s request rate per account.
    pub rates: BTreeMap<(&'static str, &'static str), Rate>,
}

impl Resolved {
    /// The quota of secrets per region of `api`, if it has one.
    pub fn secret_quota(&self, api: &str) -> Option<u64> {
        self.secrets_per_region.get(api).copied()
    }
}

impl fmt::Display for Resolved {
    /// One line for the start-up log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "value-bytes={} versions-per-secret={} stages-per-secret={} tags-per-secret={} \
             ceiling of secrets per region={}",
            self.core.max_value_bytes,
            self.core.max_versions_per_secret,
            self.core.max_stages_per_secret,
            self.core.max_tags_per_secret,
            self.core.max_secrets_per_scope
        )?;
        for (api, n) in &self.secrets_per_region {
            write!(f, " {api}.secrets-per-region={n}")?;
        }
        write!(f, "; {} request rates", self.rates.len())
    }
}

/// A `--limit` that cannot be applied.
#[derive(Debug, PartialEq, Eq)]
pub struct BadLimit(String);

impl fmt::Display for BadLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadLimit {}

/// The limits of `profile` with `overrides` (`NAME=VALUE` each) applied in order, under the
/// ceiling of `max_secrets_per_region` secrets per account and region.
pub fn resolve(
    profile: Profile,
    overrides: &[String],
    max_secrets_per_region: u64,
) -> Result<Resolved, BadLimit> {
    let apis = published();
    let mut out = Resolved {
        profile,
        core: Limits {
            max_secrets_per_scope: max_secrets_per_region,
            ..Limits::default()
        },
        secrets_per_region: BTreeMap::new(),
        rates: BTreeMap::new(),
    };
    if profile == Profile::Cloud {
        for p in &apis {
            out.secrets_per_region.insert(p.api, p.secrets_per_region);
            for (group, rate) in p.rates {
                out.rates.insert((p.api, group), *rate);
            }
        }
    }
    for spec in overrides {
        apply(&mut out, &apis, spec)?;
    }
    Ok(out)
}

fn apply(out: &mut Resolved, apis: &[Published], spec: &str) -> Result<(), BadLimit> {
    let (name, value) = spec
        .split_once('=')
        .map(|(n, v)| (n.trim(), v.trim()))
        .ok_or_else(|| BadLimit(format!("--limit {spec:?}: write NAME=VALUE")))?;
    let bad = |why: String| BadLimit(format!("--limit {name}={value}: {why}"));
    let lifted = value.eq_ignore_ascii_case("none");
    let count = || -> Result<u64, BadLimit> {
        value
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| bad("the value is a positive integer".into()))
    };
    let size = || -> Result<usize, BadLimit> {
        usize::try_from(count()?).map_err(|_| bad("the value is too large".into()))
    };
    match name {
        "value-bytes" => out.core.max_value_bytes = size()?,
        "versions-per-secret" => out.core.max_versions_per_secret = size()?,
        "stages-per-secret" => out.core.max_stages_per_secret = size()?,
        "tags-per-secret" => out.core.max_tags_per_secret = size()?,
        "secrets-per-region" => {
            for p in apis {
                set_quota(out, p.api, if lifted { None } else { Some(count()?) });
            }
        }
        _ => {
            let (api, rest) = name
                .split_once('.')
                .ok_or_else(|| bad(unknown_name(apis)))?;
            let p = apis
                .iter()
                .find(|p| p.api == api)
                .ok_or_else(|| bad(format!("no API is called {api:?}; {}", unknown_name(apis))))?;
            if rest == "secrets-per-region" {
                set_quota(out, p.api, if lifted { None } else { Some(count()?) });
                return Ok(());
            }
            let group = rest
                .strip_prefix("rate.")
                .ok_or_else(|| bad(unknown_name(apis)))?;
            let rate = if lifted {
                None
            } else {
                Some(value.parse::<Rate>().map_err(|e| bad(e.to_string()))?)
            };
            let groups: Vec<&'static str> = if group == "*" {
                p.groups.clone()
            } else {
                let known = p.groups.iter().find(|g| **g == group).ok_or_else(|| {
                    bad(format!(
                        "{} has no rate group {group:?}; its groups: {}",
                        p.api,
                        p.groups.join(", ")
                    ))
                })?;
                vec![*known]
            };
            for g in groups {
                match rate {
                    Some(r) => out.rates.insert((p.api, g), r),
                    None => out.rates.remove(&(p.api, g)),
                };
            }
        }
    }
    Ok(())
}

fn set_quota(out: &mut Resolved, api: &'static str, quota: Option<u64>) {
    match quota {
        Some(n) => out.secrets_per_region.insert(api, n),
        None => out.secrets_per_region.remove(api),
    };
}

fn unknown_name(apis: &[Published]) -> String {
    let names: Vec<_> = apis.iter().map(|p| p.api).collect();
    format!(
        "known limits: value-bytes, versions-per-secret, stages-per-secret, tags-per-secret, \
         secrets-per-region, API.secrets-per-region and API.rate.GROUP (API one of {})",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(profile: Profile, overrides: &[&str]) -> Result<Resolved, BadLimit> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        resolve(profile, &o, 1_000_000)
    }

    #[test]
    fn default_and_unlimited_have_no_rates_and_no_quotas() {
        for p in [Profile::Default, Profile::Unlimited] {
            let r = limits(p, &[]).unwrap_or_else(|e| panic!("{e}"));
            assert!(r.rates.is_empty());
            assert!(r.secrets_per_region.is_empty());
            assert_eq!(r.core.max_secrets_per_scope, 1_000_000);
            assert_eq!(r.core.max_value_bytes, Limits::default().max_value_bytes);
        }
    }

    #[test]
    fn cloud_has_each_clouds_figures() {
        let r = limits(Profile::Cloud, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.secret_quota("tencent"), Some(1_000));
        assert_eq!(r.secret_quota("huawei"), Some(500));
        assert_eq!(r.secret_quota("alibaba"), Some(1_000));
        assert_eq!(r.secret_quota("aws"), Some(500_000));
        assert_eq!(r.secret_quota("native"), None);
        assert_eq!(
            r.rates.get(&("aws", "GetSecretValue")),
            Some(&Rate::per_second(10_000))
        );
        assert_eq!(
            r.rates.get(&("aws", "SecretWrites")),
            Some(&Rate::per_second(50))
        );
        assert_eq!(
            r.rates.get(&("tencent", "CreateSecret")),
            Some(&Rate::per_second(100))
        );
        assert_eq!(
            r.rates.get(&("alibaba", "secret-rotate")),
            Some(&Rate::per_hour(50))
        );
        assert_eq!(r.rates.get(&("huawei", "kms")), Some(&Rate::per_second(20)));
        assert_eq!(r.rates.get(&("huawei", "csms")), None);
        // The protective limits stay.
        assert_eq!(r.core.max_value_bytes, Limits::default().max_value_bytes);
    }

    #[test]
    fn overrides_apply_in_order() {
        let r = limits(
            Profile::Cloud,
            &[
                "tencent.rate.GetSecretValue=5/s",
                "huawei.rate.csms=2/min",
                "alibaba.rate.*=none",
                "alibaba.rate.secret-read=1/h",
                "secrets-per-region=3",
                "huawei.secrets-per-region=none",
                "value-bytes=1024",
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.rates.get(&("tencent", "GetSecretValue")),
            Some(&Rate::per_second(5))
        );
        assert_eq!(r.rates.get(&("huawei", "csms")), Some(&Rate::per_minute(2)));
        let alibaba: Vec<_> = r.rates.keys().filter(|(a, _)| *a == "alibaba").collect();
        assert_eq!(alibaba, vec![&("alibaba", "secret-read")]);
        assert_eq!(r.secret_quota("tencent"), Some(3));
        assert_eq!(r.secret_quota("alibaba"), Some(3));
        assert_eq!(r.secret_quota("huawei"), None);
        assert_eq!(r.core.max_value_bytes, 1024);
        // On the default profile too.
        let r = limits(Profile::Default, &["tencent.secrets-per-region=2"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.secret_quota("tencent"), Some(2));
        assert!(r.rates.is_empty());
    }

    #[test]
    fn bad_overrides_name_what_is_wrong() {
        for (spec, needle) in [
            ("nonsense", "NAME=VALUE"),
            ("speed=3", "known limits"),
            ("gcp.rate.GetSecretValue=1/s", "no API is called \"gcp\""),
            ("aws.rate.Nope=1/s", "aws has no rate group \"Nope\""),
            (
                "tencent.rate.Nope=1/s",
                "tencent has no rate group \"Nope\"",
            ),
            ("tencent.rate.CreateSecret=fast", "is not a rate"),
            ("tencent.rate.CreateSecret=0/s", "is not a rate"),
            ("value-bytes=0", "positive integer"),
            ("secrets-per-region=-1", "positive integer"),
            ("tencent.quota=1", "known limits"),
        ] {
            let e = limits(Profile::Cloud, &[spec]).expect_err(spec);
            assert!(e.to_string().contains(needle), "{spec}: {e}");
        }
    }
}
