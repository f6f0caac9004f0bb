//! A YAML or JSON document as a plain tree with the line of every node, CloudFormation's short
//! intrinsic tags (`!Ref X`, `!Sub s`, `!GetAtt A.B`, ...) turned into their long form
//! (`{Ref: X}`, `{Fn::Sub: s}`, `{Fn::GetAtt: [A, B]}`), so that rules see one shape whatever the
//! template was written in.

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// 1-based.
    pub line: usize,
    pub value: Value,
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The node at a path of keys.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |n, k| n.get(k))
    }

    pub fn entries(&self) -> &[(String, Node)] {
        match &self.value {
            Value::Map(m) => m,
            _ => &[],
        }
    }

    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(s) => s,
            _ => &[],
        }
    }

    pub fn str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn num(&self) -> Option<f64> {
        match &self.value {
            Value::Num(n) => Some(*n),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn bool(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(b) => Some(*b),
            Value::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// A single-key map's key and value: how an intrinsic function looks (`{Fn::Sub: ...}`).
    pub fn intrinsic(&self) -> Option<(&str, &Node)> {
        match self.entries() {
            [(k, v)] if k == "Ref" || k == "Condition" || k.starts_with("Fn::") => {
                Some((k.as_str(), v))
            }
            _ => None,
        }
    }
}

/// Why a template is not a YAML (or JSON) document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{0}")]
    Syntax(String),
    #[error("an empty document")]
    Empty,
}

/// Parses a YAML (or JSON, a subset of YAML 1.2) document.
pub fn parse(text: &str) -> Result<Node, ParseError> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| ParseError::Syntax(e.to_string()))?;
    let doc = docs.into_iter().next().ok_or(ParseError::Empty)?;
    Ok(convert(&doc))
}

/// `!Ref` → `Ref`, `!Condition` → `Condition`, `!Sub` → `Fn::Sub`, ...
fn long_form(tag: &str) -> String {
    match tag {
        "Ref" | "Condition" => tag.to_string(),
        other => format!("Fn::{other}"),
    }
}

fn convert(y: &MarkedYaml<'_>) -> Node {
    let line = y.span.start.line();
    let value = match &y.data {
        YamlData::Value(s) => scalar(s),
        YamlData::Representation(text, _, _) => Value::Str(text.to_string()),
        YamlData::Sequence(items) => Value::Seq(items.iter().map(convert).collect()),
        // A value is where its key is: a block mapping under `Download:` starts a line below.
        YamlData::Mapping(map) => Value::Map(
            map.iter()
                .map(|(k, v)| {
                    let mut node = convert(v);
                    node.line = k.span.start.line();
                    (key_text(k), node)
                })
                .collect(),
        ),
        YamlData::Tagged(tag, inner) if tag.handle == "!" => {
            let name = long_form(&tag.suffix);
            let mut inner = convert(inner);
            // `!GetAtt Resource.Attribute` is the short form of `[Resource, Attribute]`.
            if name == "Fn::GetAtt"
                && let Value::Str(s) = &inner.value
                && let Some((res, attr)) = s.split_once('.')
            {
                let part = |v: &str| Node {
                    line: inner.line,
                    value: Value::Str(v.to_string()),
                };
                inner.value = Value::Seq(vec![part(res), part(attr)]);
            }
            Value::Map(vec![(name, inner)])
        }
        YamlData::Tagged(_, inner) => convert(inner).value,
        _ => Value::Null,
    };
    Node { line, value }
}

fn scalar(s: &Scalar<'_>) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Num(*i as f64),
        Scalar::FloatingPoint(f) => Value::Num(f.into_inner()),
        Scalar::String(t) => Value::Str(t.to_string()),
    }
}

fn key_text(k: &MarkedYaml<'_>) -> String {
    match &k.data {
        YamlData::Value(Scalar::String(s)) => s.to_string(),
        YamlData::Value(s) => match scalar(s) {
            Value::Num(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => String::new(),
        },
        YamlData::Representation(t, _, _) => t.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_tags_become_their_long_form_and_lines_are_kept() {
        let t = parse(
            "A:\n  B: !Ref Param\n  C: !GetAtt Fn.Arn\n  D: !Sub 'x-${Y}'\n  E: [1, 2.5, true]\n",
        )
        .unwrap();
        let b = t.at(&["A", "B"]).unwrap();
        assert_eq!(b.line, 2);
        assert_eq!(b.intrinsic().unwrap().0, "Ref");
        assert_eq!(b.get("Ref").unwrap().str(), Some("Param"));
        let c = t.at(&["A", "C", "Fn::GetAtt"]).unwrap();
        assert_eq!(c.items()[0].str(), Some("Fn"));
        assert_eq!(c.items()[1].str(), Some("Arn"));
        assert_eq!(t.at(&["A", "D", "Fn::Sub"]).unwrap().str(), Some("x-${Y}"));
        assert_eq!(t.at(&["A", "E"]).unwrap().items()[1].num(), Some(2.5));
        assert_eq!(t.at(&["A", "E"]).unwrap().line, 5);
        let nested = parse("X: 1\nEvents:\n  Download:\n    Type: Api\n").unwrap();
        assert_eq!(nested.at(&["Events", "Download"]).unwrap().line, 3);
        assert_eq!(nested.at(&["Events", "Download", "Type"]).unwrap().line, 4);
    }

    #[test]
    fn json_is_read_with_lines_too() {
        let t = parse("{\n  \"A\": {\n    \"B\": {\"Ref\": \"P\"},\n    \"N\": 900000\n  }\n}\n")
            .unwrap();
        assert_eq!(t.at(&["A", "B", "Ref"]).unwrap().str(), Some("P"));
        assert_eq!(t.at(&["A", "N"]).unwrap().num(), Some(900000.0));
        assert_eq!(t.at(&["A", "N"]).unwrap().line, 4);
    }
}
