//! Response bodies. Alibaba answers JSON by default and XML when `Format=XML`; both mirror one
//! tree in which a list is always wrapped in an element named after its items
//! (`"VersionStages": {"VersionStage": [...]}`), so one [`Node`] tree renders either way.

use serde_json::{Map, Value};

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

fn write_xml(out: &mut String, name: &str, node: &Node) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    match node {
        Node::Str(s) => out.push_str(&quick_xml::escape::escape(s.as_str())),
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

/// Renders a top-level object. XML uses `root` (`KMS` for results, `Error` for errors).
pub fn render(format: Format, root: &str, fields: &[(&'static str, Node)]) -> Vec<u8> {
    let obj = Node::Obj(fields.to_vec());
    match format {
        Format::Json => serde_json::to_vec(&to_json(&obj)).unwrap_or_default(),
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
            write_xml(&mut out, root, &obj);
            out.into_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
