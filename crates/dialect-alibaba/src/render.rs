//! Response bodies. Alibaba answers JSON by default and XML when `Format=XML`; both mirror one
//! tree in which a list is always wrapped in an element named after its items
//! (`"VersionStages": {"VersionStage": [...]}`), so one [`Node`] tree renders either way.
//! Also the fields that answers of several modules share (a secret's type and rotation).

use coffer_api::HttpRequest;
use coffer_core::{SecretKind, SecretRecord};
#[cfg(test)]
use serde_json::{Map, Value};

/// The fields of a successful answer, in order.
pub type Fields = Vec<(&'static str, Node)>;

#[derive(Clone, Debug)]
pub enum Node {
    Str(String),
    Int(i64),
    Obj(Vec<(&'static str, Node)>),
    /// A list wrapped in an object whose single key names the items.
    List(&'static str, Vec<Node>),
}

impl Node {
    pub fn str(s: impl Into<String>) -> Node {
        Node::Str(s.into())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

pub const JSON_CONTENT_TYPE: &str = "application/json;charset=utf-8";
pub const XML_CONTENT_TYPE: &str = "text/xml;charset=utf-8";

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => JSON_CONTENT_TYPE,
            Format::Xml => XML_CONTENT_TYPE,
        }
    }
}

/// `node` as a JSON value, the way answers were built before [`JsonNode`]; kept as the
/// reference the direct writer is checked against.
#[cfg(test)]
fn to_json(node: &Node) -> Value {
    match node {
        Node::Str(s) => Value::String(s.clone()),
        Node::Int(i) => Value::from(*i),
        Node::Obj(fields) => {
            let mut m = Map::new();
            for (k, v) in fields {
                m.insert((*k).to_string(), to_json(v));
            }
            Value::Object(m)
        }
        Node::List(item, items) => {
            let mut m = Map::new();
            m.insert(
                (*item).to_string(),
                Value::Array(items.iter().map(to_json).collect()),
            );
            Value::Object(m)
        }
    }
}

/// Whether XML 1.0 can carry `c` at all (its `Char` production): not the C0 controls other
/// than tab, line feed and carriage return, and not U+FFFE or U+FFFF. No character reference
/// helps (`&#1;` is as ill-formed as the raw byte), so a text holding one cannot be written.
pub fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The first character of `s` that XML 1.0 cannot carry.
pub fn unfit_for_xml(s: &str) -> Option<char> {
    s.chars().find(|c| !xml_char(*c))
}

/// The first text in an answer that XML 1.0 cannot carry: the field's path and the character.
pub fn first_unfit(fields: &[(&'static str, Node)]) -> Option<(String, char)> {
    fn walk(path: String, node: &Node) -> Option<(String, char)> {
        match node {
            Node::Str(s) => unfit_for_xml(s).map(|c| (path, c)),
            Node::Int(_) => None,
            Node::Obj(fields) => fields
                .iter()
                .find_map(|(k, v)| walk(format!("{path}.{k}"), v)),
            Node::List(item, items) => items.iter().find_map(|v| walk(format!("{path}.{item}"), v)),
        }
    }
    fields.iter().find_map(|(k, v)| walk((*k).to_string(), v))
}

/// Escapes text for an element. Markup characters become entities, and a carriage return
/// becomes `&#13;`, because an XML parser turns a literal one (and CR LF) into a line feed:
/// a value holding `\r\n` would come back changed. A character XML cannot carry at all is
/// written as the text `\u{..}`: only error messages, which may quote what a client sent,
/// can hold one, since answers holding one are refused before they are rendered
/// ([`first_unfit`]).
fn push_xml_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\r' => out.push_str("&#13;"),
            c if !xml_char(c) => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
}

fn write_xml(out: &mut String, name: &str, node: &Node) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    match node {
        Node::Str(s) => push_xml_text(out, s),
        Node::Int(i) => out.push_str(&i.to_string()),
        Node::Obj(fields) => {
            for (k, v) in fields {
                write_xml(out, k, v);
            }
        }
        Node::List(item, items) => {
            for v in items {
                write_xml(out, item, v);
            }
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Writes a node straight to JSON, with the bytes the `serde_json::Value` built from it would
/// give (an object's keys sorted, as serde_json's map keeps them, the last of equal keys
/// winning), without building that value: for a ListSecrets page of 100 the value's maps and
/// copied strings cost as much as writing the text.
struct JsonNode<'a>(&'a Node);

/// An object's fields, written as [`JsonNode`] writes objects.
struct JsonFields<'a>(&'a [(&'static str, Node)]);

impl serde::Serialize for JsonNode<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            Node::Str(v) => s.serialize_str(v),
            Node::Int(i) => s.serialize_i64(*i),
            Node::Obj(fields) => JsonFields(fields).serialize(s),
            Node::List(item, items) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(item, &JsonItems(items))?;
                m.end()
            }
        }
    }
}

struct JsonItems<'a>(&'a [Node]);

impl serde::Serialize for JsonItems<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(JsonNode))
    }
}

impl serde::Serialize for JsonFields<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let fields = self.0;
        let mut order: Vec<usize> = (0..fields.len()).collect();
        // Stable: equal keys keep their order, and the last of them is the one written.
        order.sort_by_key(|&i| fields[i].0);
        let mut m = s.serialize_map(None)?;
        for (n, &i) in order.iter().enumerate() {
            let shadowed = order
                .get(n + 1)
                .is_some_and(|&next| fields[next].0 == fields[i].0);
            if !shadowed {
                m.serialize_entry(fields[i].0, &JsonNode(&fields[i].1))?;
            }
        }
        m.end()
    }
}

/// Renders a top-level object. XML uses `root` (`KMS` for results, `Error` for errors).
pub fn render(format: Format, root: &str, fields: &[(&'static str, Node)]) -> Vec<u8> {
    match format {
        Format::Json => serde_json::to_vec(&JsonFields(fields)).unwrap_or_default(),
        Format::Xml => {
            let obj = Node::Obj(fields.to_vec());
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
            write_xml(&mut out, root, &obj);
            out.into_bytes()
        }
    }
}

/// `Format=XML` (RPC v1, any case) asks for XML; everything else is JSON.
pub fn requested_format(req: &HttpRequest<'_>) -> Format {
    let form = is_form(req).then_some(req.body);
    let in_pairs = |b: &[u8]| {
        form_urlencoded::parse(b).any(|(k, v)| k == "Format" && v.eq_ignore_ascii_case("xml"))
    };
    if in_pairs(req.raw_query.as_bytes()) || form.is_some_and(in_pairs) {
        Format::Xml
    } else {
        Format::Json
    }
}

/// Any `content-type` header naming a form counts (not only the first), as it always has for
/// the choice of format.
fn is_form(req: &HttpRequest<'_>) -> bool {
    req.headers.iter().any(|(k, v)| {
        k == "content-type"
            && v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
    })
}

/// The secret type as Alibaba names it.
pub fn secret_type_name(kind: &SecretKind) -> &'static str {
    match kind {
        SecretKind::Generic => "Generic",
        SecretKind::Database { .. } => "Rds",
    }
}

/// `AutomaticRotation` (`Enabled`, `Disabled`, or `Invalid` while rotation is failing) and,
/// when it is not `Disabled`, `RotationInterval` and `NextRotationDate`; `LastRotationDate`
/// once a rotation has happened. `problem` is what [`coffer_core::Service::rotation_problem`]
/// found.
pub fn rotation_fields(s: &SecretRecord, problem: Option<&str>) -> Fields {
    let r = &s.rotation;
    let state = match (r.enabled, problem) {
        (false, _) => "Disabled",
        (true, Some(_)) => "Invalid",
        (true, None) => "Enabled",
    };
    let mut out = vec![("AutomaticRotation", Node::str(state))];
    if r.enabled {
        if let Some(i) = r.interval_secs {
            out.push(("RotationInterval", Node::Str(format!("{i}s"))));
        }
        if let Some(next) = r.next {
            out.push(("NextRotationDate", Node::Str(next.to_iso8601_seconds())));
        }
    }
    if let Some(last) = r.last {
        out.push(("LastRotationDate", Node::Str(last.to_iso8601_seconds())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct writer gives the bytes the `Value` tree gave: keys sorted, the last of
    /// equal keys kept, nesting, lists, escapes and numbers alike.
    #[test]
    fn json_is_written_as_the_value_tree_wrote_it() {
        let secret = |n: i64| {
            Node::Obj(vec![
                ("SecretName", Node::str(format!("n\"{n}\\\u{1}é"))),
                ("CreateTime", Node::str("2026-01-01T00:00:00Z")),
                ("Tags", Node::List("Tag", vec![])),
                ("CreateTime", Node::str("later wins")),
                ("A", Node::Int(-n)),
            ])
        };
        let fields = vec![
            ("PageNumber", Node::Int(1)),
            (
                "SecretList",
                Node::List("Secret", (0..5).map(secret).collect()),
            ),
            ("TotalCount", Node::Int(i64::MAX)),
            ("Empty", Node::Obj(vec![])),
            ("PageNumber", Node::Int(2)),
            ("Z", Node::str("")),
        ];
        let reference = serde_json::to_vec(&to_json(&Node::Obj(fields.clone()))).unwrap();
        let written = render(Format::Json, "KMS", &fields);
        assert_eq!(
            String::from_utf8(written).unwrap(),
            String::from_utf8(reference).unwrap()
        );
    }

    #[test]
    fn lists_are_wrapped_in_both_formats() {
        let fields = vec![
            ("SecretName", Node::str("a<b")),
            (
                "VersionStages",
                Node::List("VersionStage", vec![Node::str("ACSCurrent")]),
            ),
            ("TotalCount", Node::Int(3)),
        ];
        let json: Value = serde_json::from_slice(&render(Format::Json, "KMS", &fields)).unwrap();
        assert_eq!(json["VersionStages"]["VersionStage"][0], "ACSCurrent");
        assert_eq!(json["TotalCount"], 3);
        let xml = String::from_utf8(render(Format::Xml, "KMS", &fields)).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><KMS><SecretName>a&lt;b</SecretName>\
             <VersionStages><VersionStage>ACSCurrent</VersionStage></VersionStages>\
             <TotalCount>3</TotalCount></KMS>"
        );
    }
}
