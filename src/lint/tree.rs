//! A YAML or JSON document as a plain tree with the line of every node, CloudFormation's short
//! intrinsic tags (`!Ref X`, `!Sub s`, `!GetAtt A.B`, ...) turned into their long form
//! (`{Ref: X}`, `{Fn::Sub: s}`, `{Fn::GetAtt: [A, B]}`), so that rules see one shape whatever the
//! template was written in.

use saphyr::Scalar;

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
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error(
        "its aliases expand to more than {0} nodes (a YAML alias bomb?): streamscope reads at most a few nodes per byte"
    )]
    TooManyNodes(usize),
}

/// Containers nested at most (CloudFormation allows far fewer; deeper is hostile, and would
/// overflow the stack of whatever walks the tree).
pub const MAX_DEPTH: usize = 256;

/// Parses a YAML (or JSON, a subset of YAML 1.2) document: the first of the stream.
///
/// The tree is built straight from the parser's events (no intermediate YAML tree), so memory is
/// the tree's alone; aliases are expanded within a budget of nodes proportional to the text, so a
/// few hundred bytes of nested aliases cannot expand to gigabytes.
pub fn parse(text: &str) -> Result<Node, ParseError> {
    let mut b = Builder {
        stack: Vec::new(),
        anchors: std::collections::HashMap::new(),
        doc: None,
        done: false,
        nodes: 0,
        budget: 10_000 + text.len() / 2,
        error: None,
    };
    saphyr_parser::Parser::new_from_str(text)
        .load(&mut b, false)
        .map_err(|e| ParseError::Syntax(e.to_string()))?;
    if let Some(e) = b.error {
        return Err(e);
    }
    b.doc.ok_or(ParseError::Empty)
}

/// A container being read: its line, what it holds so far, its anchor and its short tag.
struct Open {
    line: usize,
    kind: OpenKind,
    anchor: usize,
    tag: Option<String>,
}

enum OpenKind {
    Seq(Vec<Node>),
    /// The entries, and the key read whose value is next (with the key's line).
    Map(Vec<(String, Node)>, Option<(String, usize)>),
}

struct Builder {
    stack: Vec<Open>,
    anchors: std::collections::HashMap<usize, Node>,
    doc: Option<Node>,
    done: bool,
    nodes: usize,
    budget: usize,
    error: Option<ParseError>,
}

impl<'input> saphyr_parser::SpannedEventReceiver<'input> for Builder {
    fn on_event(&mut self, ev: saphyr_parser::Event<'input>, span: saphyr_parser::Span) {
        if self.error.is_none()
            && !self.done
            && let Err(e) = self.event(ev, span.start.line())
        {
            self.error = Some(e);
        }
    }
}

impl Builder {
    fn event(&mut self, ev: saphyr_parser::Event<'_>, line: usize) -> Result<(), ParseError> {
        use saphyr_parser::Event;
        let is_seq = matches!(ev, Event::SequenceStart(..));
        match ev {
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(ParseError::TooDeep);
                }
                let kind = if is_seq {
                    OpenKind::Seq(Vec::new())
                } else {
                    OpenKind::Map(Vec::new(), None)
                };
                self.stack.push(Open {
                    line,
                    kind,
                    anchor,
                    tag: short_tag(tag.as_deref()),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = self.stack.pop() else {
                    return Ok(());
                };
                let value = match open.kind {
                    OpenKind::Seq(items) => Value::Seq(items),
                    OpenKind::Map(entries, _) => Value::Map(entries),
                };
                let node = Node {
                    line: open.line,
                    value,
                };
                self.insert(node, open.anchor, open.tag.as_deref())?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let short = short_tag(tag.as_deref());
                let core = tag.as_ref().filter(|t| t.is_yaml_core_schema());
                let value = match Scalar::parse_from_cow_and_metadata(text.clone(), style, core) {
                    Some(s) => scalar(&s),
                    None => Value::Str(text.into_owned()),
                };
                self.insert(Node { line, value }, anchor, short.as_deref())?;
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Node {
                    line,
                    value: Value::Null,
                });
                self.count(size(&node))?;
                self.insert(Node { line, ..node }, 0, None)?;
            }
            Event::DocumentEnd if self.doc.is_some() => self.done = true,
            _ => {}
        }
        Ok(())
    }

    fn count(&mut self, n: usize) -> Result<(), ParseError> {
        self.nodes += n;
        if self.nodes > self.budget {
            return Err(ParseError::TooManyNodes(self.budget));
        }
        Ok(())
    }

    /// A finished node: its short tag applied, remembered under its anchor, put in its parent.
    fn insert(&mut self, node: Node, anchor: usize, tag: Option<&str>) -> Result<(), ParseError> {
        self.count(1)?;
        let node = match tag {
            Some(t) => long_form_node(t, node),
            None => node,
        };
        if anchor > 0 {
            self.count(size(&node))?;
            self.anchors.insert(anchor, node.clone());
        }
        let Some(parent) = self.stack.last_mut() else {
            self.doc.get_or_insert(node);
            return Ok(());
        };
        match &mut parent.kind {
            OpenKind::Seq(items) => items.push(node),
            OpenKind::Map(entries, key) => match key.take() {
                None => *key = Some((key_text(&node), node.line)),
                // A value is where its key is: a block mapping under `Download:` starts a line below.
                Some((k, line)) => entries.push((k, Node { line, ..node })),
            },
        }
        Ok(())
    }
}

/// Nodes in a tree (what an alias to it adds).
fn size(n: &Node) -> usize {
    1 + match &n.value {
        Value::Seq(items) => items.iter().map(size).sum(),
        Value::Map(entries) => entries.iter().map(|(_, v)| size(v)).sum(),
        _ => 0,
    }
}

/// The name of a CloudFormation short tag (`!Ref` → `Ref`); None for any other tag.
fn short_tag(tag: Option<&saphyr_parser::Tag>) -> Option<String> {
    tag.filter(|t| t.handle == "!").map(|t| t.suffix.clone())
}

/// `!Ref` → `Ref`, `!Condition` → `Condition`, `!Sub` → `Fn::Sub`, ...
fn long_form(tag: &str) -> String {
    match tag {
        "Ref" | "Condition" => tag.to_string(),
        other => format!("Fn::{other}"),
    }
}

/// A node under a short tag as its long form: `!Sub s` → `{Fn::Sub: s}`.
fn long_form_node(tag: &str, mut inner: Node) -> Node {
    let name = long_form(tag);
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
    Node {
        line: inner.line,
        value: Value::Map(vec![(name, inner)]),
    }
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

/// A mapping key as text (a number or a boolean as written; anything else, empty).
fn key_text(k: &Node) -> String {
    match &k.value {
        Value::Str(s) => s.clone(),
        Value::Num(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
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
    fn hostile_documents_are_refused_not_expanded() {
        // Nine levels of ten aliases each: 10^9 nodes if expanded.
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(matches!(parse(&bomb), Err(ParseError::TooManyNodes(_))));
        let deep = "[".repeat(100_000);
        assert!(parse(&deep).is_err());
        let deep_ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(&deep_ok).is_ok());
        // An ordinary alias still reads as its anchor's value.
        let t = parse("A: &x {K: 1}\nB: *x\n").unwrap();
        assert_eq!(t.at(&["B", "K"]).unwrap().num(), Some(1.0));
        assert_eq!(t.at(&["B"]).unwrap().line, 2);
        assert_eq!(parse(""), Err(ParseError::Empty));
        // Only the first document counts.
        let two = parse("A: 1\n---\nB: 2\n").unwrap();
        assert!(two.get("A").is_some() && two.get("B").is_none());
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
