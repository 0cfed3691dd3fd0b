//! A positioned YAML tree built from `saphyr-parser` events.
//!
//! The tree keeps each scalar's text as written (Kubernetes objects are read by field, and
//! `1.10` must stay `1.10`), refuses duplicate keys (the API server's decoder does too), and
//! bounds aliases and nesting so that no input can make it use unbounded memory or stack.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Expanding aliases may not make the tree larger than this many nodes.
const MAX_NODES: usize = 1_000_000;
/// Deeper nesting than any policy needs is refused (the tree is walked recursively).
const MAX_DEPTH: usize = 128;

/// A node and where it starts (line from 1, column from 1, in characters).
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub line: u32,
    pub column: u32,
    pub value: Value,
}

#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// A scalar; `plain` is false for quoted and block scalars (a quoted `"null"` is a string).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A YAML error: line, column and message.
#[derive(Debug)]
pub(crate) struct YamlError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn pos(span: &Span) -> (u32, u32) {
    (
        to_u32(span.start.line()),
        to_u32(span.start.col().saturating_add(1)),
    )
}

impl Node {
    /// Plain `null`, `~`, `Null`, `NULL` or nothing: a Kubernetes field that is not set.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What kind of node this is, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar { .. } if self.is_null() => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

enum Frame {
    Seq(Node, usize),
    /// The mapping, its anchor, and a key waiting for its value.
    Map(Node, usize, Option<Node>),
}

/// Parses every document of `text`; empty documents are left out.
pub(crate) fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut nodes = 0usize;
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| YamlError {
            line: to_u32(e.marker().line()),
            column: to_u32(e.marker().col().saturating_add(1)),
            message: format!("invalid YAML: {}", e.info()),
        })?;
        let (line, column) = pos(&span);
        let fail = |message: String| YamlError {
            line,
            column,
            message,
        };
        let complete: Option<(Node, usize)> = match event {
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing => None,
            Event::Scalar(text, style, anchor, _tag) => Some((
                Node {
                    line,
                    column,
                    value: Value::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                },
                anchor,
            )),
            Event::Alias(id) => {
                let node = anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| fail("alias to an unknown anchor".into()))?;
                nodes = nodes.saturating_add(count(&node));
                Some((node, 0))
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(fail(format!("nested deeper than {MAX_DEPTH} levels")));
                }
                let is_seq = matches!(event, Event::SequenceStart(..));
                let node = Node {
                    line,
                    column,
                    value: if is_seq {
                        Value::Seq(Vec::new())
                    } else {
                        Value::Map(Vec::new())
                    },
                };
                stack.push(if is_seq {
                    Frame::Seq(node, anchor)
                } else {
                    Frame::Map(node, anchor, None)
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(node, anchor)) | Some(Frame::Map(node, anchor, None)) => {
                    Some((node, anchor))
                }
                Some(Frame::Map(_, _, Some(key))) => {
                    return Err(YamlError {
                        line: key.line,
                        column: key.column,
                        message: "mapping key without a value".into(),
                    })
                }
                None => return Err(fail("unbalanced YAML events".into())),
            },
        };
        let Some((node, anchor)) = complete else {
            continue;
        };
        nodes = nodes.saturating_add(1);
        if nodes > MAX_NODES {
            return Err(fail(format!(
                "more than {MAX_NODES} nodes (after expanding aliases)"
            )));
        }
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => {
                if !node.is_null() {
                    docs.push(node);
                }
            }
            Some(Frame::Seq(seq, _)) => {
                if let Value::Seq(items) = &mut seq.value {
                    items.push(node);
                }
            }
            Some(Frame::Map(map, _, pending)) => match pending.take() {
                None => {
                    if !matches!(node.value, Value::Scalar { .. }) {
                        return Err(YamlError {
                            line: node.line,
                            column: node.column,
                            message: "mapping keys must be scalars".into(),
                        });
                    }
                    *pending = Some(node);
                }
                Some(key) => {
                    if let Value::Map(entries) = &mut map.value {
                        if let Some((first, _)) =
                            entries.iter().find(|(k, _)| scalar(k) == scalar(&key))
                        {
                            return Err(YamlError {
                                line: key.line,
                                column: key.column,
                                message: format!(
                                    "duplicate key `{}` (first at line {})",
                                    scalar(&key).unwrap_or(""),
                                    first.line
                                ),
                            });
                        }
                        entries.push((key, node));
                    }
                }
            },
        }
    }
    Ok(docs)
}

fn count(node: &Node) -> usize {
    match &node.value {
        Value::Scalar { .. } => 1,
        Value::Seq(items) => items.iter().map(count).fold(1, usize::saturating_add),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| count(k).saturating_add(count(v)))
            .fold(1, usize::saturating_add),
    }
}

/// The text of a scalar node.
pub(crate) fn scalar(node: &Node) -> Option<&str> {
    match &node.value {
        Value::Scalar { text, .. } => Some(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let docs = parse("a:\n  b: [x, 'y']\n").unwrap();
        let Value::Map(m) = &docs[0].value else {
            panic!()
        };
        let (k, v) = &m[0];
        assert_eq!((k.line, k.column), (1, 1));
        let Value::Map(inner) = &v.value else {
            panic!()
        };
        assert_eq!((inner[0].0.line, inner[0].0.column), (2, 3));
        let Value::Seq(items) = &inner[0].1.value else {
            panic!()
        };
        assert_eq!((items[1].line, items[1].column), (2, 10));
        assert!(matches!(
            &items[1].value,
            Value::Scalar { plain: false, .. }
        ));
    }

    #[test]
    fn duplicate_keys_and_bad_yaml_are_errors() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 1));
        assert!(e.message.contains("duplicate key `a`"), "{}", e.message);
        let e = parse("a: [1, 2\n").unwrap_err();
        assert!(e.message.starts_with("invalid YAML"), "{}", e.message);
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(parse(&text).unwrap_err().message.contains("nodes"));
        let deep = "[".repeat(1000) + &"]".repeat(1000);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn json_and_multiple_documents() {
        assert_eq!(parse("{\"a\": [1]}").unwrap().len(), 1);
        assert_eq!(parse("a: 1\n---\n---\nb: 2\n").unwrap().len(), 2);
    }
}
