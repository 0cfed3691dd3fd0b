//! What the cloud importers (AWS, Secure Web Proxy) share: reading JSON/YAML configuration
//! files (API outputs, bundles, CloudFormation templates) into positioned trees, handing
//! Terraform files to the Terraform reader, refusing inputs that are not data yet (templates
//! with placeholders, CloudFormation functions), and typed field access that reports at the
//! node.

use hostgate::Severity;

use crate::kube::{Cx, Fields};
use crate::terraform;
use crate::yaml::{self, Node, Value};
use crate::ImportDiagnostic;

/// One parsed file: its documents, and its text (to see the CloudFormation tags the tree does
/// not keep).
pub(crate) struct Doc {
    pub roots: Vec<Node>,
    text: String,
    line_starts: Vec<usize>,
    /// Whether CloudFormation functions are looked for (not in trees made from Terraform).
    functions: bool,
}

impl Doc {
    fn new(text: &str, roots: Vec<Node>) -> Doc {
        let mut line_starts = vec![0];
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                    line_starts.push(i + 2);
                    i += 2;
                    continue;
                }
                b'\n' | b'\r' => line_starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        Doc {
            roots,
            text: text.to_string(),
            line_starts,
            functions: true,
        }
    }

    /// A tree that is data only (made from Terraform): no CloudFormation functions in it.
    pub fn data(roots: Vec<Node>) -> Doc {
        Doc {
            roots,
            text: String::new(),
            line_starts: Vec::new(),
            functions: false,
        }
    }

    /// The text from a node's start to the end of its line.
    fn at(&self, node: &Node) -> &str {
        let Some(&start) = self.line_starts.get(node.line.saturating_sub(1) as usize) else {
            return "";
        };
        let line = &self.text[start..];
        let line = line.split(['\n', '\r']).next().unwrap_or("");
        let skip = node.column.saturating_sub(1) as usize;
        line.char_indices()
            .nth(skip)
            .map_or("", |(i, _)| &line[i..])
    }

    /// The CloudFormation function a node is, if it is one: a YAML tag (`!Ref`, `!Sub`, …,
    /// which the tree drops but the text keeps at the node's start) or a JSON-form
    /// `{"Ref": …}` / `{"Fn::…": …}`.
    pub fn function(&self, node: &Node) -> Option<String> {
        if !self.functions {
            return None;
        }
        let at = self.at(node);
        if let Some(rest) = at.strip_prefix('!') {
            let name: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '[' | '{' | ',' | ']' | '}'))
                .collect();
            return Some(format!("!{name}"));
        }
        if let Value::Map(entries) = &node.value {
            if let [(k, _)] = entries.as_slice() {
                let key = yaml::scalar(k).unwrap_or("");
                if key == "Ref" || key.starts_with("Fn::") {
                    return Some(key.to_string());
                }
            }
        }
        None
    }

    /// The argument of a `!Ref X` / `!GetAtt X.Attr` tag (the scalar text), if the node is one.
    pub fn tagged_scalar<'n>(&self, node: &'n Node, tag: &str) -> Option<&'n str> {
        let t = self.function(node)?;
        if t != tag {
            return None;
        }
        match &node.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    fn refuse_function(&self, cx: &mut Cx, node: &Node) -> bool {
        match self.function(node) {
            Some(f) => {
                cx.err(
                    node,
                    format!(
                        "`{f}` is a CloudFormation function, which is not evaluated here: \
                         write the value itself (or import the deployed resource's API output)"
                    ),
                );
                true
            }
            None => false,
        }
    }

    /// A string (not a CloudFormation function).
    pub fn str<'n>(&self, cx: &mut Cx, node: &'n Node, what: &str) -> Option<&'n str> {
        if self.refuse_function(cx, node) {
            return None;
        }
        cx.str(node, what)
    }

    /// A list (not a CloudFormation function).
    pub fn list<'n>(&self, cx: &mut Cx, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        if self.refuse_function(cx, node) {
            return None;
        }
        cx.list(node, what)
    }

    /// A mapping with only `known` keys (not a CloudFormation function).
    pub fn fields<'n>(
        &self,
        cx: &mut Cx,
        node: &'n Node,
        what: &str,
        known: &[&str],
    ) -> Option<Fields<'n>> {
        if self.refuse_function(cx, node) {
            return None;
        }
        cx.fields(node, what, known)
    }

    /// A whole number (written plain or quoted).
    pub fn int(&self, cx: &mut Cx, node: &Node, what: &str) -> Option<i64> {
        let text = self.str(cx, node, what)?;
        match text.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                cx.err(node, format!("{what} `{text}` is not a whole number"));
                None
            }
        }
    }
}

/// Why a text with `{{…}}` placeholders is not read, if it has them.
pub(crate) fn placeholders(text: &str) -> Option<String> {
    let placeholder = text
        .lines()
        .any(|l| l.find("{{").is_some_and(|i| l[i..].contains("}}")));
    placeholder.then(|| {
        "a template with `{{…}}` placeholders: fill it in first, its values decide the policy"
            .into()
    })
}

/// What a file that is not read as a configuration is, if the name or the text says so
/// (`.tf` files are read by the Terraform reader before this).
fn not_data(name: &str, text: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".tf.json") {
        return Some(
            "Terraform's JSON syntax (.tf.json) is not read: give the .tf files, or the plan \
             JSON (`terraform show -json plan.out`)"
                .into(),
        );
    }
    if lower.ends_with(".tfvars") {
        return Some(
            "Terraform variable values (.tfvars) are not resources: give the plan JSON \
             (`terraform show -json plan.out`), which has the values they give"
                .into(),
        );
    }
    if lower.ends_with(".hcl") {
        return Some(
            "HCL other than Terraform resources (.tf) is not read: give the .tf files, or the \
             plan JSON (`terraform show -json plan.out`)"
                .into(),
        );
    }
    placeholders(text)
}

/// `(line, column)` inside `text` (or just past its end): the parser may report an error at the
/// end of input on a line past the last one.
fn clamp(text: &str, line: u32, column: u32) -> (u32, u32) {
    let lines: Vec<&str> = text
        .split("\r\n")
        .flat_map(|l| l.split(['\n', '\r']))
        .collect();
    let count = u32::try_from(lines.len()).unwrap_or(u32::MAX);
    if line >= 1 && line <= count {
        return (line, column.max(1));
    }
    let last = lines.last().map_or(0, |l| l.chars().count());
    (count.max(1), u32::try_from(last + 1).unwrap_or(u32::MAX))
}

/// The UTF-8 text of a file, or an error at the first bad byte.
pub(crate) fn text<'b>(cx: &mut Cx, bytes: &'b [u8]) -> Option<&'b str> {
    match std::str::from_utf8(bytes) {
        Ok(t) => Some(t),
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
            let start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let column = good[start..].iter().filter(|&&b| b & 0xC0 != 0x80).count() + 1;
            cx.err_at(
                u32::try_from(line).unwrap_or(u32::MAX),
                u32::try_from(column).unwrap_or(u32::MAX),
                "file is not UTF-8 text",
            );
            None
        }
    }
}

/// Parses one file (JSON or YAML) into a [`Doc`]; `None` after reporting why it cannot be read.
pub(crate) fn parse(cx: &mut Cx, name: &str, bytes: &[u8]) -> Option<Doc> {
    cx.file = name.to_string();
    let text = text(cx, bytes)?;
    if let Some(why) = not_data(name, text) {
        cx.err_at(1, 1, why);
        return None;
    }
    match yaml::parse(text) {
        Ok(mut roots) => {
            // The parser may place a node that ends the input (an empty explicit key `?`)
            // on a line past the last one: keep every position inside the text.
            let (count, end) = clamp(text, u32::MAX, 1);
            for r in &mut roots {
                clamp_tree(r, count, end);
            }
            Some(Doc::new(text, roots))
        }
        Err(e) => {
            let (line, column) = clamp(text, e.line, e.column);
            cx.errors.push(ImportDiagnostic {
                file: cx.file.clone(),
                line,
                column,
                severity: Severity::Error,
                message: e.message,
            });
            None
        }
    }
}

/// Reads one input file of a cloud format: a Terraform file (`.tf`, or `terraform show -json`
/// output) goes into `set`, to be read with the others; anything else is parsed into a
/// [`Doc`].
pub(crate) fn input(
    cx: &mut Cx,
    set: &mut terraform::Set,
    product: &terraform::Product,
    name: &str,
    bytes: &[u8],
) -> Option<Doc> {
    if terraform::is_hcl(name) {
        cx.file = name.to_string();
        let text = text(cx, bytes)?;
        terraform::add_hcl(cx, set, product, name, text);
        return None;
    }
    let doc = parse(cx, name, bytes)?;
    if let [root] = doc.roots.as_slice() {
        if terraform::is_show_json(root) {
            terraform::add_show_json(cx, set, product, name, root);
            return None;
        }
    }
    Some(doc)
}

/// A mapping node with one entry, `key: value` (to hand one resource to a bundle reader).
pub(crate) fn wrap(key: &str, value: Node) -> Node {
    Node {
        line: value.line,
        column: value.column,
        value: Value::Map(vec![(
            Node {
                line: value.line,
                column: value.column,
                value: Value::Scalar {
                    text: key.to_string(),
                    plain: true,
                },
            },
            value,
        )]),
    }
}

fn clamp_tree(node: &mut Node, lines: u32, end: u32) {
    if node.line > lines {
        node.line = lines;
        node.column = end;
    }
    match &mut node.value {
        Value::Scalar { .. } => {}
        Value::Seq(items) => {
            for i in items {
                clamp_tree(i, lines, end);
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                clamp_tree(k, lines, end);
                clamp_tree(v, lines, end);
            }
        }
    }
}

/// The entries of a mapping node (for maps keyed by user names, such as CloudFormation's
/// `Resources`).
pub(crate) fn entries<'n>(cx: &mut Cx, node: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
    match &node.value {
        Value::Map(entries) => Some(entries),
        _ => {
            cx.err(
                node,
                format!("{what} must be a mapping, not {}", node.kind()),
            );
            None
        }
    }
}

/// Whether a name can be part of a rule id (`[A-Za-z0-9._-]`, not empty).
pub(crate) fn id_safe(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A file's name without its directory and last extension, made id-safe.
pub(crate) fn stem(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let base = base.rsplit_once('.').map_or(base, |(s, _)| s);
    let s: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() {
        "input".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_seen_at_the_node() {
        let text = "a: !Ref X\nb: !GetAtt Y.RuleGroupArn\nc: [!Sub 'x', z]\nd: {\"Fn::Split\": [',', q]}\ne: plain\n";
        let roots = yaml::parse(text).unwrap();
        let doc = Doc::new(text, roots);
        let Value::Map(m) = &doc.roots[0].value else {
            panic!()
        };
        assert_eq!(doc.function(&m[0].1).as_deref(), Some("!Ref"));
        assert_eq!(
            doc.tagged_scalar(&m[1].1, "!GetAtt"),
            Some("Y.RuleGroupArn")
        );
        let Value::Seq(items) = &m[2].1.value else {
            panic!()
        };
        assert_eq!(doc.function(&items[0]).as_deref(), Some("!Sub"));
        assert_eq!(doc.function(&items[1]), None);
        assert_eq!(doc.function(&m[3].1).as_deref(), Some("Fn::Split"));
        assert_eq!(doc.function(&m[4].1), None);
    }

    #[test]
    fn positions_stay_inside_the_text() {
        // An explicit empty key at the end of input is placed on the next line by the parser.
        let mut cx = Cx::default();
        let doc = parse(&mut cx, "t.json", b"?   #m").unwrap();
        let Value::Map(m) = &doc.roots[0].value else {
            panic!()
        };
        assert_eq!((m[0].0.line, m[0].0.column), (1, 7));
    }

    #[test]
    fn stems_are_id_safe() {
        assert_eq!(stem("dir/a b.json"), "a-b");
        assert_eq!(stem("x"), "x");
        assert!(id_safe(&stem("ü.json")));
    }
}
