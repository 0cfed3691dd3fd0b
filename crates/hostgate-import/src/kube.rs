//! What every Kubernetes-style importer shares: reading files into objects, typed field access
//! that reports at the node, and the collected rules and diagnostics.

use hostgate::{Pattern, RuleSpec, Severity};

use crate::yaml::{self, Node, Value};
use crate::{ImportDiagnostic, RuleSource};

/// Diagnostics and rules collected while reading one import.
#[derive(Default)]
pub(crate) struct Cx {
    pub file: String,
    pub errors: Vec<ImportDiagnostic>,
    pub warnings: Vec<ImportDiagnostic>,
}

impl Cx {
    fn diag(
        &self,
        severity: Severity,
        line: u32,
        column: u32,
        message: String,
    ) -> ImportDiagnostic {
        ImportDiagnostic {
            file: self.file.clone(),
            line,
            column,
            severity,
            message,
        }
    }

    /// An error at a YAML node of the current file.
    pub fn err(&mut self, node: &Node, message: impl Into<String>) {
        self.err_at(node.line, node.column, message);
    }

    /// A warning at a YAML node of the current file.
    pub fn warn(&mut self, node: &Node, message: impl Into<String>) {
        self.warn_at(node.line, node.column, message);
    }

    /// An error at a line and column of the current file (for formats that are not YAML).
    pub fn err_at(&mut self, line: u32, column: u32, message: impl Into<String>) {
        let d = self.diag(Severity::Error, line, column, message.into());
        self.errors.push(d);
    }

    /// A warning at a line and column of the current file.
    pub fn warn_at(&mut self, line: u32, column: u32, message: impl Into<String>) {
        let d = self.diag(Severity::Warning, line, column, message.into());
        self.warnings.push(d);
    }

    /// The entries of a mapping whose keys are all in `known`; an unknown key is an error (a
    /// field this importer does not read must not be dropped silently).
    pub fn fields<'n>(&mut self, node: &'n Node, what: &str, known: &[&str]) -> Option<Fields<'n>> {
        let Value::Map(entries) = &node.value else {
            self.err(
                node,
                format!("{what} must be a mapping, not {}", node.kind()),
            );
            return None;
        };
        let mut ok = true;
        for (k, _) in entries {
            let key = yaml::scalar(k).unwrap_or("");
            if !known.contains(&key) {
                self.err(
                    k,
                    format!(
                        "unknown field `{key}` in {what}; known: {}",
                        known.join(", ")
                    ),
                );
                ok = false;
            }
        }
        ok.then_some(Fields { entries })
    }

    /// A string scalar (numbers written plain are their text).
    pub fn str<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n str> {
        match &node.value {
            Value::Scalar { text, .. } if !node.is_null() => Some(text),
            _ => {
                self.err(
                    node,
                    format!("{what} must be a string, not {}", node.kind()),
                );
                None
            }
        }
    }

    /// A list (null is an empty list, as Kubernetes reads it).
    pub fn list<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ if node.is_null() => Some(&[]),
            _ => {
                self.err(node, format!("{what} must be a list, not {}", node.kind()));
                None
            }
        }
    }

    /// `true` or `false`.
    pub fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            Value::Scalar { text, plain: true } if text == "true" => Some(true),
            Value::Scalar { text, plain: true } if text == "false" => Some(false),
            _ => {
                self.err(node, format!("{what} must be true or false"));
                None
            }
        }
    }
}

/// A mapping whose keys were checked.
#[derive(Clone, Copy)]
pub(crate) struct Fields<'n> {
    entries: &'n [(Node, Node)],
}

impl<'n> Fields<'n> {
    /// The value of `key`, unless absent or null.
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| yaml::scalar(k) == Some(key))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    /// The key node of `key`, for positions of "this field" messages.
    pub fn key(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| yaml::scalar(k) == Some(key))
            .map(|(k, _)| k)
    }
}

/// One Kubernetes object: its kind, namespace, name and root node.
pub(crate) struct Object {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub root: Node,
    pub file_index: usize,
}

impl Object {
    /// `kind/namespace/name`, or `kind/name` for a cluster-scoped object.
    pub fn label(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{ns}/{}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }
}

/// Reads files into objects: multi-document YAML, JSON, and `kind: List` with `items`.
/// `check` accepts an object's apiVersion and kind, or says why not.
pub(crate) fn objects(
    cx: &mut Cx,
    files: &[(&str, &[u8])],
    check: &dyn Fn(&str, &str) -> Result<(), String>,
) -> Vec<Object> {
    let mut out = Vec::new();
    for (index, (file, bytes)) in files.iter().enumerate() {
        cx.file = (*file).to_string();
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let good = &bytes[..e.valid_up_to()];
                let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
                let start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let column = good[start..].iter().filter(|&&b| b & 0xC0 != 0x80).count() + 1;
                cx.errors.push(ImportDiagnostic {
                    file: cx.file.clone(),
                    line: u32::try_from(line).unwrap_or(u32::MAX),
                    column: u32::try_from(column).unwrap_or(u32::MAX),
                    severity: Severity::Error,
                    message: "file is not UTF-8 text".into(),
                });
                continue;
            }
        };
        let docs = match yaml::parse(text) {
            Ok(docs) => docs,
            Err(e) => {
                // The parser may report an error at the end of input on a line past the last
                // one: keep positions inside the text.
                let (line, column) = clamp(text, e.line, e.column);
                cx.errors.push(ImportDiagnostic {
                    file: cx.file.clone(),
                    line,
                    column,
                    severity: Severity::Error,
                    message: e.message,
                });
                continue;
            }
        };
        for doc in docs {
            read_object(cx, doc, index, check, &mut out, true);
        }
    }
    out
}

/// `(line, column)` if it is inside `text` (or just past its end), else the end of `text`.
/// Lines break at `\n`, `\r\n` and `\r`, as in YAML.
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

fn read_object(
    cx: &mut Cx,
    doc: Node,
    file_index: usize,
    check: &dyn Fn(&str, &str) -> Result<(), String>,
    out: &mut Vec<Object>,
    list_allowed: bool,
) {
    let Value::Map(entries) = &doc.value else {
        cx.err(
            &doc,
            format!("expected an object (a mapping), not {}", doc.kind()),
        );
        return;
    };
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| yaml::scalar(k) == Some(key))
            .map(|(_, v)| v)
    };
    let (Some(api), Some(kind)) = (get("apiVersion"), get("kind")) else {
        cx.err(&doc, "object without `apiVersion` and `kind`");
        return;
    };
    let (Some(api_s), Some(kind_s)) = (cx.str(api, "apiVersion"), cx.str(kind, "kind")) else {
        return;
    };
    if kind_s == "List" && list_allowed {
        let items = get("items").cloned();
        let Some(items) = items else {
            cx.err(&doc, "`kind: List` without `items`");
            return;
        };
        let Some(items) = cx.list(&items, "items").map(<[Node]>::to_vec) else {
            return;
        };
        for item in items {
            read_object(cx, item, file_index, check, out, false);
        }
        return;
    }
    if let Err(message) = check(api_s, kind_s) {
        let at = if message.contains("apiVersion") {
            api
        } else {
            kind
        };
        cx.err(at, message);
        return;
    }
    let kind_s = kind_s.to_string();
    let Some(meta) = get("metadata") else {
        cx.err(&doc, format!("{kind_s} without `metadata`"));
        return;
    };
    let Value::Map(meta_entries) = &meta.value else {
        cx.err(meta, "metadata must be a mapping");
        return;
    };
    let meta_get = |key: &str| {
        meta_entries
            .iter()
            .find(|(k, _)| yaml::scalar(k) == Some(key))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    };
    let Some(name) = meta_get("name") else {
        cx.err(meta, format!("{kind_s} without `metadata.name`"));
        return;
    };
    let Some(name) = cx.str(name, "metadata.name").map(str::to_string) else {
        return;
    };
    if !valid_object_name(&name) {
        let at = meta_get("name").cloned().unwrap_or_else(|| meta.clone());
        cx.err(
            &at,
            format!("metadata.name `{name}` is not a valid Kubernetes object name"),
        );
        return;
    }
    let namespace = match meta_get("namespace") {
        Some(ns) => {
            let Some(ns_s) = cx.str(ns, "metadata.namespace") else {
                return;
            };
            if !valid_object_name(ns_s) {
                cx.err(
                    ns,
                    format!("metadata.namespace `{ns_s}` is not a valid name"),
                );
                return;
            }
            Some(ns_s.to_string())
        }
        None => None,
    };
    out.push(Object {
        kind: kind_s,
        namespace,
        name,
        root: doc.clone(),
        file_index,
    });
}

/// A DNS-1123 subdomain, as the API server requires of object names; it also keeps rule ids
/// free of spaces and `#`.
fn valid_object_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// One generated rule before its id is given.
pub(crate) struct Emitted {
    pub rule: RuleSpec,
    pub node: Node,
}

/// Gives each rule its id (`kind/namespace/name:N`) and line, and records where it came from.
pub(crate) fn finish(
    object: &Object,
    file: &str,
    emitted: Vec<Emitted>,
    rules: &mut Vec<RuleSpec>,
    sources: &mut Vec<RuleSource>,
) {
    let label = object.label();
    for (i, Emitted { mut rule, node }) in emitted.into_iter().enumerate() {
        rule.id = Some(format!("{label}:{i}"));
        rule.line = node.line;
        rules.push(rule);
        sources.push(RuleSource {
            file: file.to_string(),
            line: node.line,
            column: node.column,
            object: label.clone(),
        });
    }
}

/// A port number 1–65535 (written as a string or a number).
pub(crate) fn port_number(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok()
}

/// Checks a pattern the importer produced against hostgate's own grammar, reporting at `node`.
pub(crate) fn checked(cx: &mut Cx, node: &Node, pattern: String) -> Option<String> {
    match Pattern::parse(&pattern) {
        Ok(_) => Some(pattern),
        Err(e) => {
            cx.err(node, format!("`{pattern}` is not a hostgate pattern: {e}"));
            None
        }
    }
}

/// Whether a Kubernetes label selector (`matchLabels`, `matchExpressions`) selects a workload
/// with `labels`. `strip` turns a selector key into a label key (Cilium's `k8s:`/`any:`
/// sources); it returns `None` for a key that can never name a pod label.
pub(crate) fn selects(
    cx: &mut Cx,
    selector: &Node,
    labels: &std::collections::BTreeMap<String, String>,
    strip: &dyn Fn(&str) -> Option<String>,
) -> Option<bool> {
    let f = cx.fields(
        selector,
        "a label selector",
        &["matchLabels", "matchExpressions"],
    )?;
    let mut selected = true;
    if let Some(ml) = f.get("matchLabels") {
        let Value::Map(entries) = &ml.value else {
            cx.err(ml, "matchLabels must be a mapping");
            return None;
        };
        for (k, v) in entries {
            let key = cx.str(k, "a label key")?;
            let value = if v.is_null() {
                ""
            } else {
                cx.str(v, "a label value")?
            };
            let found = strip(key).and_then(|k| labels.get(&k));
            selected &= found.map(String::as_str) == Some(value);
        }
    }
    if let Some(me) = f.get("matchExpressions") {
        for e in cx.list(me, "matchExpressions")? {
            let ef = cx.fields(e, "a match expression", &["key", "operator", "values"])?;
            let Some(key) = ef.get("key") else {
                cx.err(e, "a match expression without `key`");
                return None;
            };
            let key = cx.str(key, "key")?;
            let Some(op) = ef.get("operator") else {
                cx.err(e, "a match expression without `operator`");
                return None;
            };
            let op_s = cx.str(op, "operator")?;
            let mut values = Vec::new();
            if let Some(vs) = ef.get("values") {
                for v in cx.list(vs, "values")? {
                    values.push(cx.str(v, "a value")?.to_string());
                }
            }
            let found = strip(key).and_then(|k| labels.get(&k).cloned());
            let ok = match op_s {
                "In" | "NotIn" if values.is_empty() => {
                    cx.err(op, format!("operator {op_s} needs values"));
                    return None;
                }
                "In" => found.is_some_and(|v| values.contains(&v)),
                "NotIn" => !found.is_some_and(|v| values.contains(&v)),
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    cx.err(op, format!("operator {op_s} takes no values"));
                    return None;
                }
                "Exists" => found.is_some(),
                "DoesNotExist" => found.is_none(),
                other => {
                    cx.err(
                        op,
                        format!("operator `{other}`; expected In, NotIn, Exists or DoesNotExist"),
                    );
                    return None;
                }
            };
            selected &= ok;
        }
    }
    Some(selected)
}
