//! Rebuilding a JSON object from Tencent's flattened parameter names.
//!
//! GET and form requests carry nested parameters as dotted names: `Tags.0.TagKey=k`,
//! `TagFilters.0.TagValue.1=v`. A segment made of digits is an array index, anything else an
//! object key. Values stay JSON strings: the wire has no types, and only the action's schema
//! (known to the dialect) says whether `Limit=20` is a number.
//!
//! The rebuilt value must be unambiguous, so shapes a JSON body could not express are refused
//! rather than guessed: a name that is both a value and a container (`A=1&A.B=2`), a container
//! mixing indexes and keys, indexes that are not exactly `0..n` (a sparse `A.5` would otherwise
//! need five invented elements, and `A.999999999` a billion), and non-canonical indexes (`01`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Deeper names than this are refused; real parameters nest three or four levels, and the
/// limit keeps the recursion in [`Node::into_value`] shallow whatever arrives.
const MAX_DEPTH: usize = 16;

enum Node {
    Leaf(String),
    Branch(BTreeMap<String, Node>),
}

/// Builds the JSON object for `pairs` (decoded names and values). Errors are plain
/// descriptions for `AuthError::BadBody`; they name the parameter but never quote a value.
pub(crate) fn unflatten<K: AsRef<str>, V: AsRef<str>>(
    pairs: &[(K, V)],
) -> Result<Map<String, Value>, String> {
    let mut root = BTreeMap::new();
    for (name, value) in pairs {
        insert(&mut root, name.as_ref(), value.as_ref())?;
    }
    let mut out = Map::new();
    for (k, node) in root {
        out.insert(k, node.into_value()?);
    }
    Ok(out)
}

fn insert(root: &mut BTreeMap<String, Node>, name: &str, value: &str) -> Result<(), String> {
    let segments: Vec<&str> = name.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!("parameter name {name:?} has an empty segment"));
    }
    if segments.len() > MAX_DEPTH {
        return Err(format!("parameter name {name:?} is nested too deeply"));
    }
    let conflict = || format!("parameter {name:?} conflicts with another parameter");
    let (last, parents) = match segments.split_last() {
        Some(split) => split,
        None => return Err(conflict()),
    };
    let mut map = root;
    for seg in parents {
        let node = map
            .entry((*seg).to_string())
            .or_insert_with(|| Node::Branch(BTreeMap::new()));
        map = match node {
            Node::Branch(m) => m,
            Node::Leaf(_) => return Err(conflict()),
        };
    }
    if map.contains_key(*last) {
        // Either a repeated name (already refused when decoding, but cheap to re-check) or a
        // value where a container was built.
        return Err(conflict());
    }
    map.insert((*last).to_string(), Node::Leaf(value.to_string()));
    Ok(())
}

impl Node {
    fn into_value(self) -> Result<Value, String> {
        let children = match self {
            Node::Leaf(s) => return Ok(Value::String(s)),
            Node::Branch(children) => children,
        };
        let numeric = children.keys().filter(|k| is_index(k)).count();
        if numeric == 0 {
            let mut obj = Map::new();
            for (k, child) in children {
                obj.insert(k, child.into_value()?);
            }
            return Ok(Value::Object(obj));
        }
        if numeric != children.len() {
            return Err("a parameter mixes array indexes and field names".into());
        }
        // Canonical indexes 0..n, in numeric order. (The map is ordered as text, where "10"
        // sorts before "2", so sort by number first.)
        let mut indexed: Vec<(usize, Node)> = Vec::with_capacity(children.len());
        for (k, child) in children {
            match k.parse::<usize>() {
                Ok(i) if i.to_string() == k => indexed.push((i, child)),
                _ => return Err("an array index is not a canonical number".into()),
            }
        }
        indexed.sort_by_key(|(i, _)| *i);
        let mut arr = Vec::with_capacity(indexed.len());
        for (pos, (i, child)) in indexed.into_iter().enumerate() {
            if i != pos {
                return Err("array indexes must run from 0 without gaps".into());
            }
            arr.push(child.into_value()?);
        }
        Ok(Value::Array(arr))
    }
}

fn is_index(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nested_names_become_arrays_and_objects() -> Result<(), String> {
        let got = unflatten(&[
            ("Limit", "20"),
            ("TagFilters.0.TagKey", "env"),
            ("TagFilters.0.TagValue.1", "prod"),
            ("TagFilters.0.TagValue.0", "dev"),
            ("TagFilters.1.TagKey", "team"),
            ("Tags.0.TagKey", "k"),
            ("Tags.0.TagValue", "v"),
            ("X.2", "c"),
            ("X.10", "k"),
            ("X.0", "a"),
            ("X.1", "b"),
            ("X.3", "d"),
            ("X.4", "e"),
            ("X.5", "f"),
            ("X.6", "g"),
            ("X.7", "h"),
            ("X.8", "i"),
            ("X.9", "j"),
        ])?;
        assert_eq!(
            Value::Object(got),
            json!({
                "Limit": "20",
                "TagFilters": [
                    {"TagKey": "env", "TagValue": ["dev", "prod"]},
                    {"TagKey": "team"}
                ],
                "Tags": [{"TagKey": "k", "TagValue": "v"}],
                "X": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"],
            })
        );
        // A top-level name that is all digits is just a key: the root is always an object.
        assert_eq!(Value::Object(unflatten(&[("0", "x")])?), json!({"0": "x"}));
        assert!(unflatten::<&str, &str>(&[])?.is_empty());
        Ok(())
    }

    #[test]
    fn ambiguous_shapes_are_refused() {
        let bad: &[&[(&str, &str)]] = &[
            &[("A", "1"), ("A.B", "2")],
            &[("A.B", "2"), ("A", "1")],
            &[("A.0", "1"), ("A.B", "2")],
            &[("A.1", "1")],
            &[("A.0", "1"), ("A.2", "1")],
            &[("A.01", "1")],
            &[("A.0", "1"), ("A.00", "1")],
            &[("A.999999999999999999999999", "1")],
            &[("A..B", "1")],
            &[(".A", "1")],
            &[("A.", "1")],
            &[("", "1")],
            &[("A.B", "1"), ("A.B", "2")],
        ];
        for pairs in bad {
            assert!(unflatten(pairs).is_err(), "{pairs:?}");
        }
        let deep = vec!["A"; MAX_DEPTH + 1].join(".");
        assert!(unflatten(&[(deep.as_str(), "1")]).is_err());
        let ok = vec!["A"; MAX_DEPTH].join(".");
        assert!(unflatten(&[(ok.as_str(), "1")]).is_ok());
    }
}
