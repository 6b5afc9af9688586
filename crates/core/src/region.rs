//! Maps the region ids that clients send (Alibaba RegionId, Tencent X-TC-Region, ...) to coffer
//! regions. By default there is one region and every id maps to it, so clients share one store
//! whatever region their SDK insists on.

use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct RegionMap {
    default_region: String,
    by_cloud_id: HashMap<String, String>,
}

impl Default for RegionMap {
    fn default() -> Self {
        Self::new("default")
    }
}

impl RegionMap {
    pub fn new(default_region: impl Into<String>) -> Self {
        Self {
            default_region: default_region.into(),
            by_cloud_id: HashMap::new(),
        }
    }

    /// Parses `NAME=ID,ID,...` (the `--region` flag) and adds the mapping.
    pub fn add_spec(&mut self, spec: &str) -> Result<(), String> {
        let (name, ids) = spec
            .split_once('=')
            .ok_or_else(|| format!("region mapping {spec:?} is not NAME=ID,ID,..."))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("region mapping {spec:?} has an empty region name"));
        }
        for id in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some(prev) = self.by_cloud_id.insert(id.to_string(), name.to_string()) {
                if prev != name {
                    return Err(format!(
                        "region id {id:?} is mapped to both {prev:?} and {name:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The coffer region for a client's region id; ids not in the map use the default region.
    pub fn resolve(&self, cloud_region_id: Option<&str>) -> &str {
        cloud_region_id
            .and_then(|id| self.by_cloud_id.get(id))
            .map(String::as_str)
            .unwrap_or(&self.default_region)
    }

    /// The cloud region ids mapped explicitly, sorted.
    pub fn cloud_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.by_cloud_id.keys().cloned().collect();
        ids.sort();
        ids
    }

    pub fn default_region(&self) -> &str {
        &self.default_region
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmapped_ids_share_the_default_region() {
        let mut m = RegionMap::default();
        assert_eq!(m.resolve(Some("cn-hangzhou")), "default");
        assert_eq!(m.resolve(None), "default");
        m.add_spec("eu=eu-central-1, eu-west-1").unwrap();
        assert_eq!(m.resolve(Some("eu-west-1")), "eu");
        assert_eq!(m.resolve(Some("cn-hangzhou")), "default");
        assert!(m.add_spec("us=eu-west-1").is_err());
        assert!(m.add_spec("nonsense").is_err());
        assert!(m.add_spec("=x").is_err());
    }
}
