//! Terraform inputs for the cloud importers: `.tf` files (HCL, literal arguments only) and the
//! JSON of `terraform show -json` (a plan's `planned_values`, or a state's `values`), turned
//! into the same positioned trees, named as the product's API names them, that the product's
//! reader takes from the API's own output.
//!
//! A product lists its resource types in one table ([`Product`]): for each, the Terraform
//! arguments and nested blocks and the API field each becomes. Arguments not in the table are
//! errors at their position. References between the product's own resources (how Terraform
//! links a rule to its group) are resolved to the resource among the files given, also as the
//! whole of a template interpolation in a string the table marks as a template
//! ([`Arg::Template`]; the string keeps where each of its bytes came from, [`Placed`]); any
//! other expression (a variable, function call, other template interpolation, conditional,
//! `for`, a reference to another kind of resource) is not evaluated here and is refused at its
//! position: the plan JSON has the values Terraform computed.
//!
//! A resource type may have an id built from its arguments ([`Resource::id`], Google's
//! `projects/{project}/locations/{location}/…`): a link to it then stands for that id (or for
//! the argument it names), not for its address.
//!
//! Another product plugs in with a [`Product`] constant here (its resource types, their
//! arguments and the fields of the reader's own input they become) and, in its reader, hands
//! `.tf` and `terraform show -json` files to [`add_hcl`] / [`add_show_json`] (as
//! `cloud::input` does) and reads the [`Converted`] trees [`finish`] returns as it reads its
//! own input.

use hcl_edit::expr::{Expression, ObjectKey, TraversalOperator, UnaryOperator};
use hcl_edit::structure::{Body, Structure};
use hcl_edit::template::{Element, Template};
use hcl_edit::Span;

use crate::kube::Cx;
use crate::yaml::{self, Node, Value};

/// How a nested block becomes an API field.
#[derive(Clone, Copy)]
pub(crate) enum Nest {
    /// At most one block: an object.
    One,
    /// Blocks in order: a list of objects.
    Many,
    /// Blocks into an object keyed by each block's field `key` (after mapping), whose value
    /// is the block's field `value` (`ip_sets { key = "HOME_NET" ip_set {…} }` is
    /// `IPSets: {HOME_NET: {…}}`).
    Keyed {
        key: &'static str,
        value: &'static str,
    },
}

/// What one Terraform argument or nested block is. API names may be dotted paths
/// (`RuleGroupResponse.Capacity`): the field is put there, objects created as needed.
#[derive(Clone, Copy)]
pub(crate) enum Arg {
    /// A literal value (string, number, bool, or a list or object of them).
    Value(&'static str),
    /// A nested block with its own arguments.
    Block(&'static str, Nest, &'static [(&'static str, Arg)]),
    /// A reference to another resource of the product, one of `types`, by one of the
    /// attributes `attrs` (`aws_networkfirewall_rule_group.g.arn`): the field holds the
    /// resource's address. A literal id is kept as written (or, in plan JSON, matched to a
    /// resource with that id).
    Link(
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
    ),
    /// An identity only compared with others (a VPC id): any expression, its text standing
    /// for its value (two different expressions count as two values).
    Opaque(&'static str),
    /// Whatever is written, the reader only looks at whether it is there (what it refuses or
    /// warns about): a placeholder, a list of one empty object per block.
    Present(&'static str),
    /// Part of the resource's id ([`Resource::id`]), not a field of its own: a literal, or a
    /// link to one of `types` by one of the attributes `attrs`, which stands for that
    /// resource's value of the attribute.
    Part(&'static [&'static str], &'static [&'static str]),
    /// A string in which template interpolations of exactly a link to one of `types` by one
    /// of `attrs` (`"${google_network_security_url_lists.l.id}"`) are replaced by the linked
    /// resource's value of the attribute; where each character came from is kept
    /// ([`Placed`]).
    Template(
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
    ),
    /// Decides nothing (names, descriptions, tags, computed ids): not read. A resource's own
    /// are in [`Resource::skip`]; this is for those of a nested block.
    Skip,
}

/// One Terraform resource type of a product.
pub(crate) struct Resource {
    /// The Terraform type, `aws_networkfirewall_rule_group`.
    pub ty: &'static str,
    /// API field set to the resource's address (what links to it hold), if any; with `id`,
    /// to its id instead.
    pub address_at: Option<&'static str>,
    /// The resource's id as the API names it, from its [`Arg::Part`] arguments
    /// (`projects/{project}/locations/{location}/urlLists/{name}`): what links to it by `id`
    /// stand for. Without it, the resource's address stands for its id.
    pub id: Option<&'static str>,
    /// API field set to a rule-id-safe name of the resource (its Terraform name), if any.
    pub name_at: Option<&'static str>,
    /// The attributes other resources refer to it by (`arn`, `id`).
    pub ids: &'static [&'static str],
    /// Its arguments and nested blocks.
    pub args: &'static [(&'static str, Arg)],
    /// Its attributes that decide nothing ([`Arg::Skip`]), as lists: most are the provider's
    /// own, the same on each of its resources ([`AWS_COMPUTED`], [`GOOGLE_COMPUTED`]), so
    /// each list is said once and a resource names the lists it has.
    pub skip: &'static [&'static [&'static str]],
}

/// A product's resource types, and what to call the format in messages.
pub(crate) struct Product {
    pub format: &'static str,
    pub resources: &'static [Resource],
    /// Id parts that may be left unset, and what stands for them in ids (the provider's
    /// default, which is not known here).
    pub unset: &'static [(&'static str, &'static str)],
}

/// One resource read, in the API's shape.
pub(crate) struct Converted {
    pub file: String,
    pub ty: &'static str,
    pub address: String,
    pub node: Node,
    /// Where the characters of its [`Arg::Template`] strings with interpolations are.
    pub placed: Vec<Placed>,
    /// Its arguments as written, with their positions.
    pub args: Vec<(String, u32, u32)>,
}

/// Where each byte of a string value built from a template is in its file: the value's node
/// (by its position), and for each byte offset of the value, and one past its end, a line and
/// column. Characters an interpolation put there are at the interpolation's `${`.
#[derive(Clone, Debug)]
pub(crate) struct Placed {
    pub line: u32,
    pub column: u32,
    pub at: Vec<(u32, u32)>,
}

/// Whether a file is read as Terraform HCL (by its name).
pub(crate) fn is_hcl(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".tf")
}

/// Whether a parsed JSON document is `terraform show -json` output (a plan or a state).
pub(crate) fn is_show_json(root: &Node) -> bool {
    get(root, "format_version").is_some()
        && (get(root, "planned_values").is_some() || get(root, "values").is_some())
}

/// Resources collected from every Terraform file, read when all are known (links may point
/// from one file into another).
#[derive(Default)]
pub(crate) struct Set {
    found: Vec<Found>,
    /// Whether any Terraform input was given (for the "nothing to import" error).
    pub any: bool,
    /// The first Terraform file given.
    first: String,
}

struct Found {
    file: String,
    ty: String,
    address: String,
    /// Module address prefix (`module.a.`) for resolving references written in its module.
    module: String,
    label: String,
    line: u32,
    column: u32,
    body: Raw,
    /// Known values of the `ids` attributes (plan/state JSON).
    ids: Vec<String>,
    /// From plan/state JSON (not HCL).
    json: bool,
}

/// An argument's value before the table gives it meaning.
#[derive(Clone, Debug)]
struct Raw {
    line: u32,
    column: u32,
    v: RawV,
}

#[derive(Clone, Debug)]
enum RawV {
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Raw>),
    /// An object or block body: (key, key line, key column, value).
    Map(Vec<(String, u32, u32, Raw)>),
    /// `TYPE.NAME.ATTR` (`NAME` may carry an instance key in plan JSON).
    Ref {
        ty: String,
        name: String,
        attr: String,
    },
    /// Not a literal: what it is, and its text.
    Expr {
        what: String,
        text: String,
    },
    /// A string template with interpolations: its text, and its pieces.
    Template {
        text: String,
        pieces: Vec<Piece>,
    },
    /// In a plan: known only after apply.
    Unknown,
}

/// A piece of a string template.
#[derive(Clone, Debug)]
enum Piece {
    /// Literal text, with the position of each of its bytes.
    Text(String, Vec<(u32, u32)>),
    /// `${…}` (at the position of its `$`), or a `%{…}` directive (as an expression).
    Interp(u32, u32, Raw),
}

impl Raw {
    fn is_absent(&self) -> bool {
        match &self.v {
            RawV::Scalar { text, plain } => *plain && text == "null",
            RawV::Seq(items) => items.is_empty(),
            RawV::Map(entries) => entries.is_empty(),
            _ => false,
        }
    }
}

/// Byte offsets to 1-based line and character column.
struct Lines<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Lines<'t> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }

    fn at(&self, offset: usize) -> (u32, u32) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let end = offset.min(self.text.len());
        let col = self.text.get(start..end).map_or(0, |s| s.chars().count());
        (to_u32(line), to_u32(col + 1))
    }

    fn span(&self, s: Option<std::ops::Range<usize>>) -> (u32, u32) {
        s.map_or((1, 1), |r| self.at(r.start))
    }

    fn text(&self, s: Option<std::ops::Range<usize>>) -> String {
        let t = s
            .and_then(|r| self.text.get(r))
            .unwrap_or("")
            .trim()
            .to_string();
        shorten(&t)
    }
}

fn shorten(t: &str) -> String {
    let one: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 60 {
        let cut: String = one.chars().take(57).collect();
        format!("{cut}…")
    } else {
        one
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn get<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| yaml::scalar(k) == Some(key))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null()),
        _ => None,
    }
}

/// A rule-id-safe form of a resource's address without its type (`g`, `module.fw.g-0`).
fn label_of(address: &str, ty: &str) -> String {
    let s = address.replacen(&format!("{ty}."), "", 1);
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "resource".into()
    } else {
        s
    }
}

/// The roots a reference may start with that are not resources.
fn special_root(name: &str) -> Option<&'static str> {
    Some(match name {
        "var" => "a variable",
        "local" => "a local value",
        "data" => "a data source",
        "module" => "a module output",
        "count" | "each" | "self" => "a per-instance value",
        "path" | "terraform" => "a Terraform built-in value",
        _ => return None,
    })
}

/// Reads one `.tf` file's `resource` blocks.
pub(crate) fn add_hcl(cx: &mut Cx, set: &mut Set, product: &Product, name: &str, text: &str) {
    if !set.any {
        set.first = name.to_string();
    }
    set.any = true;
    cx.file = name.to_string();
    if let Some(why) = crate::cloud::placeholders(text) {
        cx.err_at(1, 1, why);
        return;
    }
    let body = match hcl_edit::parser::parse_body(text) {
        Ok(b) => b,
        Err(e) => {
            let loc = e.location();
            let first = e.message().lines().next().unwrap_or("").to_string();
            cx.err_at(
                to_u32(loc.line()),
                to_u32(loc.column()),
                format!("invalid HCL: {first}"),
            );
            return;
        }
    };
    let lines = Lines::new(text);
    for s in body.iter() {
        let Structure::Block(block) = s else {
            continue;
        };
        let (line, column) = lines.span(block.ident.span());
        match block.ident.as_str() {
            "resource" => {}
            "module" => {
                cx.warn_at(
                    line,
                    column,
                    "a module's resources are not in this file: give the module's .tf files \
                     too, or the plan JSON, if it holds resources this import reads",
                );
                continue;
            }
            // Definitions (variables, providers, outputs, data sources) decide nothing until
            // a read argument uses them, which is refused there.
            _ => continue,
        }
        let (Some(ty), Some(rname)) = (block.labels.first(), block.labels.get(1)) else {
            cx.err_at(line, column, "a resource block needs a type and a name");
            continue;
        };
        let (ty, rname) = (ty.as_str().to_string(), rname.as_str().to_string());
        if !product.resources.iter().any(|r| r.ty == ty) {
            cx.warn_at(
                line,
                column,
                format!(
                    "resource type `{}` is not read by --from {} (it reads {})",
                    shorten(&ty),
                    product.format,
                    types(product)
                ),
            );
            continue;
        }
        let mut ok = true;
        for meta in ["count", "for_each"] {
            if let Some(a) = block.body.get_attribute(meta) {
                let (l, c) = lines.span(a.key.span());
                cx.err_at(
                    l,
                    c,
                    format!(
                        "`{meta}` makes instances whose values are computed: give the rendered \
                         plan JSON (`terraform show -json plan.out`) instead"
                    ),
                );
                ok = false;
            }
        }
        if !ok {
            continue;
        }
        let Some(body) = hcl_body(cx, &lines, &block.body, true) else {
            continue;
        };
        let address = format!("{ty}.{rname}");
        if let Some(other) = set.found.iter().find(|f| f.address == address) {
            cx.err_at(
                line,
                column,
                format!(
                    "{address} is also defined in {} at line {}",
                    other.file, other.line
                ),
            );
            continue;
        }
        set.found.push(Found {
            file: name.to_string(),
            label: label_of(&address, &ty),
            ty,
            address,
            module: String::new(),
            line,
            column,
            body,
            ids: Vec::new(),
            json: false,
        });
    }
}

fn types(product: &Product) -> String {
    product
        .resources
        .iter()
        .map(|r| r.ty)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A block body: attributes and nested blocks (blocks of one type into a list, in order).
fn hcl_body(cx: &mut Cx, lines: &Lines, body: &Body, resource: bool) -> Option<Raw> {
    let mut entries: Vec<(String, u32, u32, Raw)> = Vec::new();
    let mut ok = true;
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => {
                let key = a.key.as_str().to_string();
                // Meta-arguments that do not change the resource's values.
                if resource && matches!(key.as_str(), "depends_on" | "provider") {
                    continue;
                }
                let (l, c) = lines.span(a.key.span());
                if let Some((_, pl, _, _)) = entries.iter().find(|e| e.0 == key) {
                    cx.err_at(l, c, format!("`{key}` is also set at line {pl}"));
                    ok = false;
                    continue;
                }
                entries.push((key, l, c, hcl_expr(lines, &a.value)));
            }
            Structure::Block(b) => {
                let key = b.ident.as_str().to_string();
                let (l, c) = lines.span(b.ident.span());
                if resource
                    && matches!(
                        key.as_str(),
                        "lifecycle" | "provisioner" | "connection" | "timeouts"
                    )
                {
                    continue;
                }
                let value = if key == "dynamic" {
                    Raw {
                        line: l,
                        column: c,
                        v: RawV::Expr {
                            what: "a dynamic block".into(),
                            text: format!(
                                "dynamic \"{}\"",
                                b.labels.first().map_or("", |x| x.as_str())
                            ),
                        },
                    }
                } else {
                    // Positioned at the block's name, where messages about the block point.
                    let mut body = hcl_body(cx, lines, &b.body, false)?;
                    body.line = l;
                    body.column = c;
                    body
                };
                let key = match (key.as_str(), b.labels.first()) {
                    ("dynamic", Some(label)) => label.as_str().to_string(),
                    _ => key,
                };
                match entries.iter_mut().find(|e| e.0 == key) {
                    Some((
                        _,
                        _,
                        _,
                        Raw {
                            v: RawV::Seq(items),
                            ..
                        },
                    )) => items.push(value),
                    Some((_, pl, _, _)) => {
                        let pl = *pl;
                        cx.err_at(l, c, format!("`{key}` is also set at line {pl}"));
                        ok = false;
                    }
                    None => entries.push((
                        key,
                        l,
                        c,
                        Raw {
                            line: l,
                            column: c,
                            v: RawV::Seq(vec![value]),
                        },
                    )),
                }
            }
        }
    }
    let (line, column) = lines.span(body.span());
    ok.then_some(Raw {
        line,
        column,
        v: RawV::Map(entries),
    })
}

fn template_text(t: &Template) -> Option<String> {
    let mut s = String::new();
    for e in t.iter() {
        match e {
            Element::Literal(l) => s.push_str(l.value()),
            _ => return None,
        }
    }
    Some(s)
}

/// A template's pieces: literal text with the position of each byte, and interpolations.
fn template_pieces<'e>(
    lines: &Lines,
    elements: impl Iterator<Item = &'e Element>,
    quoted: bool,
    text: String,
) -> RawV {
    let mut pieces = Vec::new();
    for e in elements {
        let span = e.span();
        let (line, column) = lines.span(span.clone());
        match e {
            Element::Literal(l) => {
                let start = span.map_or(0, |r| r.start);
                let raw = lines.text.get(start..).unwrap_or("");
                pieces.push(Piece::Text(
                    l.value().clone(),
                    place(lines, start, raw, l.value(), quoted),
                ));
            }
            Element::Interpolation(i) => {
                pieces.push(Piece::Interp(line, column, hcl_expr(lines, &i.expr)));
            }
            Element::Directive(_) => pieces.push(Piece::Interp(
                line,
                column,
                Raw {
                    line,
                    column,
                    v: RawV::Expr {
                        what: "a template directive".into(),
                        text: lines.text(span),
                    },
                },
            )),
        }
    }
    RawV::Template { text, pieces }
}

/// The position of each byte of `value`, decoded from the source text from `start` on (`raw`):
/// an escape (`\"`, `\n`, `\u00e9`) is one character, the `$` of `$${` is skipped, and so is
/// a heredoc's indentation.
fn place(lines: &Lines, start: usize, raw: &str, value: &str, quoted: bool) -> Vec<(u32, u32)> {
    let mut out = Vec::with_capacity(value.len());
    let mut p = 0;
    for c in value.chars() {
        let at = loop {
            let Some(r) = raw.get(p..).and_then(|t| t.chars().next()) else {
                break start + p;
            };
            if quoted && r == '\\' {
                let len = match raw.get(p + 1..).and_then(|t| t.chars().next()) {
                    Some('u') => 6,
                    Some('U') => 10,
                    Some(n) => 1 + n.len_utf8(),
                    None => 1,
                };
                let at = start + p;
                p = (p + len).min(raw.len());
                while !raw.is_char_boundary(p) {
                    p += 1;
                }
                break at;
            }
            p += r.len_utf8();
            if r == c {
                break start + p - r.len_utf8();
            }
        };
        let pos = lines.at(at);
        out.extend(std::iter::repeat_n(pos, c.len_utf8()));
    }
    out
}

fn hcl_expr(lines: &Lines, e: &Expression) -> Raw {
    let (line, column) = lines.span(e.span());
    let expr = |what: &str| RawV::Expr {
        what: what.to_string(),
        text: lines.text(e.span()),
    };
    let v = match e {
        Expression::Null(_) => RawV::Scalar {
            text: "null".into(),
            plain: true,
        },
        Expression::Bool(b) => RawV::Scalar {
            text: b.value().to_string(),
            plain: true,
        },
        Expression::Number(n) => RawV::Scalar {
            text: n.value().to_string(),
            plain: true,
        },
        Expression::String(s) => RawV::Scalar {
            text: s.value().clone(),
            plain: false,
        },
        Expression::Array(a) => RawV::Seq(a.iter().map(|x| hcl_expr(lines, x)).collect()),
        Expression::Object(o) => {
            let mut entries = Vec::new();
            for (k, v) in o.iter() {
                let (kl, kc) = lines.span(k.span());
                let key = match k {
                    ObjectKey::Ident(i) => i.as_str().to_string(),
                    ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                    ObjectKey::Expression(_) => {
                        return Raw {
                            line: kl,
                            column: kc,
                            v: RawV::Expr {
                                what: "a computed object key".into(),
                                text: lines.text(k.span()),
                            },
                        }
                    }
                };
                entries.push((key, kl, kc, hcl_expr(lines, v.expr())));
            }
            RawV::Map(entries)
        }
        Expression::StringTemplate(t) => match template_text(t) {
            Some(text) => RawV::Scalar { text, plain: false },
            None => template_pieces(lines, t.iter(), true, lines.text(e.span())),
        },
        Expression::HeredocTemplate(h) => match template_text(&h.template) {
            Some(text) => RawV::Scalar { text, plain: false },
            None => template_pieces(lines, h.template.iter(), false, lines.text(e.span())),
        },
        Expression::Parenthesis(p) => return hcl_expr(lines, p.inner()),
        Expression::Variable(v) => match special_root(v.as_str()) {
            Some(what) => expr(what),
            None => expr("a reference"),
        },
        Expression::Traversal(t) => match &t.expr {
            Expression::Variable(root) => match special_root(root.as_str()) {
                Some(what) => expr(what),
                None => {
                    let names: Vec<&str> = t
                        .operators
                        .iter()
                        .map(|o| match o.value() {
                            TraversalOperator::GetAttr(i) => Some(i.as_str()),
                            _ => None,
                        })
                        .collect::<Option<Vec<_>>>()
                        .unwrap_or_default();
                    match names.as_slice() {
                        [name, attr] => RawV::Ref {
                            ty: root.as_str().to_string(),
                            name: (*name).to_string(),
                            attr: (*attr).to_string(),
                        },
                        _ => expr("a reference to another resource"),
                    }
                }
            },
            _ => expr("a computed value"),
        },
        Expression::FuncCall(_) => expr("a function call"),
        Expression::Conditional(_) => expr("a conditional"),
        Expression::ForExpr(_) => expr("a `for` expression"),
        Expression::UnaryOp(u) => match (u.operator.value(), &u.expr) {
            (UnaryOperator::Neg, Expression::Number(n)) => RawV::Scalar {
                text: format!("-{}", n.value()),
                plain: true,
            },
            _ => expr("an operation"),
        },
        Expression::BinaryOp(_) => expr("an operation"),
    };
    Raw { line, column, v }
}

/// Reads the resources of a `terraform show -json` document: a plan's `planned_values` (what
/// applying it makes, the state after it), or a state's `values` (what is deployed).
pub(crate) fn add_show_json(
    cx: &mut Cx,
    set: &mut Set,
    product: &Product,
    name: &str,
    root: &Node,
) {
    if !set.any {
        set.first = name.to_string();
    }
    set.any = true;
    cx.file = name.to_string();
    if let Some(v) = get(root, "format_version").and_then(yaml::scalar) {
        if !v.starts_with("1.") && v != "1" && !v.starts_with("0.") {
            cx.err(
                get(root, "format_version").unwrap_or(root),
                format!("format_version {v}: only 1.x (and the older 0.x) is read"),
            );
            return;
        }
    }
    let (values, plan) = match get(root, "planned_values") {
        Some(v) => (v, true),
        None => match get(root, "values") {
            Some(v) => (v, false),
            None => return,
        },
    };
    let Some(module) = get(values, "root_module") else {
        cx.err(values, "no `root_module`");
        return;
    };
    let config = get(root, "configuration").and_then(|c| get(c, "root_module"));
    let changes = get(root, "resource_changes");
    show_module(cx, set, product, name, module, "", config, changes, plan);
}

#[allow(clippy::too_many_arguments)]
fn show_module(
    cx: &mut Cx,
    set: &mut Set,
    product: &Product,
    file: &str,
    module: &Node,
    prefix: &str,
    config: Option<&Node>,
    changes: Option<&Node>,
    plan: bool,
) {
    if let Some(Value::Seq(resources)) = get(module, "resources").map(|r| &r.value) {
        for r in resources {
            let ty = get(r, "type").and_then(yaml::scalar).unwrap_or("");
            let mode = get(r, "mode").and_then(yaml::scalar).unwrap_or("managed");
            if mode != "managed" {
                continue;
            }
            let Some(address) = get(r, "address").and_then(yaml::scalar) else {
                cx.err(r, "a resource without `address`");
                continue;
            };
            if !product.resources.iter().any(|x| x.ty == ty) {
                cx.warn(
                    r,
                    format!(
                        "{}: resource type `{}` is not read by --from {}",
                        shorten(address),
                        shorten(ty),
                        product.format
                    ),
                );
                continue;
            }
            let Some(values) = get(r, "values") else {
                cx.err(r, format!("{address} without `values`"));
                continue;
            };
            let rname = get(r, "name").and_then(yaml::scalar).unwrap_or("");
            let expressions = config
                .and_then(|c| config_resource(c, &format!("{ty}.{rname}")))
                .and_then(|c| get(c, "expressions"));
            let unknown = if plan {
                changes.and_then(|c| change_of(c, address))
            } else {
                None
            };
            let body = show_value(values, expressions, unknown);
            let spec = product.resources.iter().find(|x| x.ty == ty);
            let ids = spec
                .map(|s| s.ids)
                .unwrap_or(&[])
                .iter()
                .filter_map(|a| get(values, a).and_then(yaml::scalar))
                .map(str::to_string)
                .collect();
            if set.found.iter().any(|f| f.address == address) {
                cx.err(r, format!("{address} is given twice"));
                continue;
            }
            set.found.push(Found {
                file: file.to_string(),
                ty: ty.to_string(),
                address: address.to_string(),
                module: prefix.to_string(),
                label: label_of(address, ty),
                line: r.line,
                column: r.column,
                body,
                ids,
                json: true,
            });
        }
    }
    if let Some(Value::Seq(children)) = get(module, "child_modules").map(|r| &r.value) {
        for child in children {
            let Some(addr) = get(child, "address").and_then(yaml::scalar) else {
                cx.err(child, "a child module without `address`");
                continue;
            };
            // `module.a[0].module.b` → the call names a, b.
            let call = addr
                .rsplit("module.")
                .next()
                .unwrap_or("")
                .split('[')
                .next()
                .unwrap_or("");
            let child_config = config
                .and_then(|c| get(c, "module_calls"))
                .and_then(|m| get(m, call))
                .and_then(|m| get(m, "module"));
            show_module(
                cx,
                set,
                product,
                file,
                child,
                &format!("{addr}."),
                child_config,
                changes,
                plan,
            );
        }
    }
}

fn config_resource<'n>(module: &'n Node, address: &str) -> Option<&'n Node> {
    let Value::Seq(rs) = &get(module, "resources")?.value else {
        return None;
    };
    rs.iter()
        .find(|r| get(r, "address").and_then(yaml::scalar) == Some(address))
}

fn change_of<'n>(changes: &'n Node, address: &str) -> Option<&'n Node> {
    let Value::Seq(cs) = &changes.value else {
        return None;
    };
    let c = cs
        .iter()
        .find(|c| get(c, "address").and_then(yaml::scalar) == Some(address))?;
    get(get(c, "change")?, "after_unknown")
}

/// A values tree with, where a value is absent (unknown until apply), the configuration's
/// reference (an ARN or id of a resource the plan creates) or an unknown marker.
fn show_value(v: &Node, expr: Option<&Node>, unknown: Option<&Node>) -> Raw {
    let v_ = match &v.value {
        Value::Scalar { text, plain } => RawV::Scalar {
            text: text.clone(),
            plain: *plain,
        },
        Value::Seq(items) => RawV::Seq(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| show_value(x, nth(expr, i), nth(unknown, i)))
                .collect(),
        ),
        Value::Map(entries) => {
            let mut out = Vec::new();
            for (k, x) in entries {
                let key = yaml::scalar(k).unwrap_or("").to_string();
                let e = expr.and_then(|e| get(e, &key));
                let u = unknown.and_then(|u| get(u, &key));
                let raw = if x.is_null() {
                    missing(x, e, u)
                } else {
                    show_value(x, e, u)
                };
                out.push((key, k.line, k.column, raw));
            }
            // Attributes unknown until apply may be left out of the values altogether.
            for (key, e, u) in absent_keys(v, expr, unknown) {
                out.push((key, v.line, v.column, missing(v, e, u)));
            }
            RawV::Map(out)
        }
    };
    Raw {
        line: v.line,
        column: v.column,
        v: v_,
    }
}

fn nth(n: Option<&Node>, i: usize) -> Option<&Node> {
    match n.map(|n| &n.value) {
        Some(Value::Seq(items)) => items.get(i),
        // A block of nesting mode "single" in the configuration is an object, not a list.
        Some(Value::Map(_)) if i == 0 => n,
        _ => None,
    }
}

fn absent_keys<'n>(
    v: &Node,
    expr: Option<&'n Node>,
    unknown: Option<&'n Node>,
) -> Vec<(String, Option<&'n Node>, Option<&'n Node>)> {
    let mut keys: Vec<String> = Vec::new();
    for n in [expr, unknown].into_iter().flatten() {
        if let Value::Map(entries) = &n.value {
            for (k, _) in entries {
                if let Some(k) = yaml::scalar(k) {
                    let present = matches!(&v.value, Value::Map(es)
                        if es.iter().any(|(vk, _)| yaml::scalar(vk) == Some(k)));
                    if !present && !keys.iter().any(|x| x == k) {
                        keys.push(k.to_string());
                    }
                }
            }
        }
    }
    keys.into_iter()
        .filter_map(|k| {
            let e = expr.and_then(|e| get(e, &k));
            let u = unknown.and_then(|u| get(u, &k));
            let is_ref = e.is_some_and(|e| get(e, "references").is_some());
            let is_unknown = u.is_some_and(|u| yaml::scalar(u) == Some("true"));
            (is_ref || is_unknown).then_some((k, e, u))
        })
        .collect()
}

/// An absent or null value: a reference to a resource (from the configuration), unknown until
/// apply, or null.
fn missing(at: &Node, expr: Option<&Node>, unknown: Option<&Node>) -> Raw {
    let mk = |v| Raw {
        line: at.line,
        column: at.column,
        v,
    };
    if let Some(Value::Seq(refs)) = expr.and_then(|e| get(e, "references")).map(|r| &r.value) {
        let refs: Vec<&str> = refs.iter().filter_map(yaml::scalar).collect();
        // Terraform lists the most specific reference first (`aws_x.y.arn`, then `aws_x.y`).
        for r in &refs {
            let parts: Vec<&str> = r.splitn(3, '.').collect();
            if let [ty, name, attr] = parts.as_slice() {
                if special_root(ty).is_none() {
                    return mk(RawV::Ref {
                        ty: (*ty).to_string(),
                        name: (*name).to_string(),
                        attr: (*attr).to_string(),
                    });
                }
            }
        }
        if let Some(r) = refs.first() {
            return mk(RawV::Expr {
                what: "a value known only after apply".into(),
                text: (*r).to_string(),
            });
        }
    }
    if unknown.is_some_and(|u| yaml::scalar(u) == Some("true")) {
        return mk(RawV::Unknown);
    }
    mk(RawV::Scalar {
        text: "null".into(),
        plain: true,
    })
}

/// Reads every collected resource through the product's table, links resolved.
pub(crate) fn finish(cx: &mut Cx, set: Set, product: &Product) -> Vec<Converted> {
    let mut out = Vec::new();
    // Files of other resources (a VPC, routes) may come with the product's; none at all is
    // nothing to import.
    if set.found.is_empty() && cx.errors.is_empty() {
        cx.file = set.first.clone();
        cx.err_at(
            1,
            1,
            format!(
                "no resource that --from {} reads ({}): nothing to import",
                product.format,
                types(product)
            ),
        );
    }
    let ids = ids(cx, &set, product);
    for (i, f) in set.found.iter().enumerate() {
        let Some(spec) = product.resources.iter().find(|r| r.ty == f.ty) else {
            continue;
        };
        cx.file = f.file.clone();
        let mut w = Walk {
            cx,
            set: &set,
            product,
            ids: &ids,
            placed: Vec::new(),
            from: f,
            plan: f.json,
        };
        let node = w.map(&f.body, spec.args, spec.skip, &f.address);
        let placed = std::mem::take(&mut w.placed);
        let Some(mut node) = node else {
            continue;
        };
        let id = match spec.id {
            Some(_) => match &ids[i] {
                Some(id) => id.clone(),
                None => continue,
            },
            None => f.address.clone(),
        };
        let at = |text: String| Node {
            line: f.line,
            column: f.column,
            value: Value::Scalar { text, plain: false },
        };
        if let Some(path) = spec.address_at {
            put(&mut node, path, at(id));
        }
        if let Some(path) = spec.name_at {
            put(&mut node, path, at(f.label.clone()));
        }
        let args = match &f.body.v {
            RawV::Map(entries) => entries
                .iter()
                .map(|(k, l, c, _)| (k.clone(), *l, *c))
                .collect(),
            _ => Vec::new(),
        };
        out.push(Converted {
            file: f.file.clone(),
            ty: spec.ty,
            address: f.address.clone(),
            node,
            placed,
            args,
        });
    }
    out
}

struct Walk<'a, 'c> {
    cx: &'c mut Cx,
    set: &'a Set,
    product: &'a Product,
    /// Each resource's id ([`ids`]).
    ids: &'a [Option<String>],
    /// Where the template strings' bytes are.
    placed: Vec<Placed>,
    from: &'a Found,
    /// Plan/state JSON: unknown arguments that are unset (null, empty) are skipped (newer
    /// provider versions add arguments, which the JSON lists even when not set).
    plan: bool,
}

fn scalar_node(line: u32, column: u32, text: String, plain: bool) -> Node {
    Node {
        line,
        column,
        value: Value::Scalar { text, plain },
    }
}

/// Puts `value` at a dotted `path` of the mapping `node`, creating (or merging into) objects.
fn put(node: &mut Node, path: &str, value: Node) {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let (line, column) = (value.line, value.column);
    let Value::Map(entries) = &mut node.value else {
        return;
    };
    let i = match entries
        .iter()
        .position(|(k, _)| yaml::scalar(k) == Some(head))
    {
        Some(i) => i,
        None => {
            entries.push((
                scalar_node(line, column, head.to_string(), true),
                Node {
                    line,
                    column,
                    value: Value::Map(Vec::new()),
                },
            ));
            entries.len() - 1
        }
    };
    match rest {
        None => {
            let slot = &mut entries[i].1;
            match (&mut slot.value, value.value) {
                (Value::Map(old), Value::Map(new)) => old.extend(new),
                (_, v) => {
                    slot.value = v;
                    slot.line = line;
                    slot.column = column;
                }
            }
        }
        Some(rest) => put(&mut entries[i].1, rest, value),
    }
}

/// Refuses a value that is not a literal, at its position.
fn not_literal(cx: &mut Cx, raw: &Raw) {
    let (what, text) = match &raw.v {
        RawV::Expr { what, text } => (what.clone(), text.clone()),
        RawV::Template { text, .. } => ("a template with interpolation".to_string(), text.clone()),
        RawV::Ref { ty, name, attr } => (
            "a reference to another resource".to_string(),
            format!("{ty}.{name}.{attr}"),
        ),
        RawV::Unknown => {
            cx.err_at(
                raw.line,
                raw.column,
                "a value known only after apply: the plan does not say what it is",
            );
            return;
        }
        _ => return,
    };
    cx.err_at(
        raw.line,
        raw.column,
        format!(
            "`{text}` is {what}, which is not evaluated here: only literal values are read \
             from .tf files; give the rendered plan JSON (`terraform show -json plan.out`) \
             instead"
        ),
    );
}

/// The resource a reference `TYPE.NAME.…` written in `from`'s module names, among the
/// resources given (its index), or why not.
fn resolve(set: &Set, from: &Found, ty: &str, name: &str, attr: &str) -> Result<usize, String> {
    let address = format!("{}{ty}.{name}", from.module);
    let matches: Vec<usize> = set
        .found
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            f.address == address
                || (f.address.starts_with(&address) && f.address[address.len()..].starts_with('['))
        })
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!(
            "`{ty}.{name}.{attr}`: resource {address} is not in the files given"
        )),
        many => Err(format!(
            "`{ty}.{name}.{attr}` is one of {} instances (count or for_each): which one is not \
             known here",
            many.len()
        )),
    }
}

fn want(tys: &[&str], attrs: &[&str]) -> String {
    tys.iter()
        .flat_map(|t| attrs.iter().map(move |a| format!("{t}.NAME.{a}")))
        .collect::<Vec<_>>()
        .join(" or ")
}

impl Walk<'_, '_> {
    fn not_literal(&mut self, raw: &Raw) {
        not_literal(self.cx, raw);
    }

    /// A literal value as a node.
    fn literal(&mut self, raw: &Raw) -> Option<Node> {
        let value = match &raw.v {
            RawV::Scalar { text, plain } => Value::Scalar {
                text: text.clone(),
                plain: *plain,
            },
            RawV::Seq(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for i in items {
                    match self.literal(i) {
                        Some(n) => out.push(n),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                Value::Seq(out)
            }
            RawV::Map(entries) => {
                let mut out = Vec::new();
                let mut ok = true;
                for (k, l, c, v) in entries {
                    match self.literal(v) {
                        Some(n) => out.push((scalar_node(*l, *c, k.clone(), false), n)),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                Value::Map(out)
            }
            _ => {
                self.not_literal(raw);
                return None;
            }
        };
        Some(Node {
            line: raw.line,
            column: raw.column,
            value,
        })
    }

    /// A block body through its table (and, for a resource, its [`Resource::skip`]) into an
    /// API object.
    fn map(
        &mut self,
        raw: &Raw,
        args: &[(&str, Arg)],
        skip: &[&[&str]],
        what: &str,
    ) -> Option<Node> {
        let RawV::Map(entries) = &raw.v else {
            if matches!(
                raw.v,
                RawV::Expr { .. } | RawV::Template { .. } | RawV::Ref { .. } | RawV::Unknown
            ) {
                self.not_literal(raw);
                return None;
            }
            self.cx.err_at(
                raw.line,
                raw.column,
                format!("{what} must be a block or an object"),
            );
            return None;
        };
        let mut node = Node {
            line: raw.line,
            column: raw.column,
            value: Value::Map(Vec::new()),
        };
        let mut ok = true;
        for (key, kl, kc, v) in entries {
            let skipped = || skip.iter().flat_map(|s| s.iter());
            let found = args.iter().find(|(n, _)| n == key).map(|(_, a)| a);
            let Some(arg) = found.or_else(|| skipped().any(|n| n == key).then_some(&Arg::Skip))
            else {
                if self.plan && v.is_absent() {
                    continue;
                }
                let known: Vec<&str> = args
                    .iter()
                    .map(|(n, _)| *n)
                    .chain(skipped().copied())
                    .collect();
                self.cx.err_at(
                    *kl,
                    *kc,
                    format!(
                        "unknown argument `{key}` in {what}; known: {}",
                        known.join(", ")
                    ),
                );
                ok = false;
                continue;
            };
            if v.is_absent() && !matches!(arg, Arg::Value(_)) {
                continue;
            }
            if matches!(&v.v, RawV::Scalar { text, plain: true } if text == "null") {
                continue;
            }
            let at = (*kl, *kc);
            let converted = match *arg {
                // Read into the resource's id.
                Arg::Skip | Arg::Part(..) => continue,
                Arg::Template(api, tys, attrs) => self.template(v, tys, attrs).map(|n| (api, n)),
                Arg::Value(api) => self.literal(v).map(|n| (api, n)),
                Arg::Opaque(api) => {
                    let text = match &v.v {
                        RawV::Scalar { text, .. } => text.clone(),
                        RawV::Expr { text, .. } => text.clone(),
                        RawV::Ref { ty, name, attr } => format!("{ty}.{name}.{attr}"),
                        _ => format!("{key}@{}:{}", v.line, v.column),
                    };
                    Some((api, scalar_node(v.line, v.column, text, false)))
                }
                Arg::Present(_) if matches!(&v.v, RawV::Scalar { text, .. } if text.is_empty()) => {
                    // Plan JSON shows an unset string argument as "".
                    continue;
                }
                Arg::Present(api) => {
                    let inner = Node {
                        line: at.0,
                        column: at.1,
                        value: Value::Map(Vec::new()),
                    };
                    let value = match &v.v {
                        RawV::Seq(items) => Value::Seq(vec![inner; items.len().max(1)]),
                        _ => Value::Scalar {
                            text: "…".into(),
                            plain: false,
                        },
                    };
                    Some((
                        api,
                        Node {
                            line: at.0,
                            column: at.1,
                            value,
                        },
                    ))
                }
                Arg::Link(api, tys, attrs) => self.link(v, tys, attrs).map(|n| (api, n)),
                Arg::Block(api, nest, inner) => {
                    self.blocks(v, key, nest, inner, at).map(|n| (api, n))
                }
            };
            match converted {
                Some((api, n)) => put(&mut node, api, n),
                None => ok = false,
            }
        }
        ok.then_some(node)
    }

    fn blocks(
        &mut self,
        v: &Raw,
        key: &str,
        nest: Nest,
        args: &[(&str, Arg)],
        at: (u32, u32),
    ) -> Option<Node> {
        let items: Vec<&Raw> = match &v.v {
            RawV::Seq(items) => items.iter().collect(),
            RawV::Map(_) => vec![v],
            _ => {
                self.not_literal(v);
                if matches!(v.v, RawV::Scalar { .. }) {
                    self.cx
                        .err_at(v.line, v.column, format!("`{key}` must be a block"));
                }
                return None;
            }
        };
        match nest {
            Nest::One => {
                if let Some(second) = items.get(1) {
                    self.cx.err_at(
                        second.line,
                        second.column,
                        format!("a second `{key}` block: at most one is allowed"),
                    );
                    return None;
                }
                let first = items.first()?;
                self.map(first, args, &[], &format!("`{key}`"))
            }
            Nest::Many => {
                let mut out = Vec::new();
                let mut ok = true;
                for i in items {
                    match self.map(i, args, &[], &format!("`{key}`")) {
                        Some(n) => out.push(n),
                        None => ok = false,
                    }
                }
                ok.then_some(Node {
                    line: at.0,
                    column: at.1,
                    value: Value::Seq(out),
                })
            }
            Nest::Keyed { key: k, value } => {
                let mut out = Vec::new();
                let mut ok = true;
                for i in items {
                    let Some(n) = self.map(i, args, &[], &format!("`{key}`")) else {
                        ok = false;
                        continue;
                    };
                    let (Some(kn), Some(vn)) = (get(&n, k), get(&n, value)) else {
                        self.cx.err_at(
                            i.line,
                            i.column,
                            format!("`{key}` needs its key and value"),
                        );
                        ok = false;
                        continue;
                    };
                    out.push((kn.clone(), vn.clone()));
                }
                ok.then_some(Node {
                    line: at.0,
                    column: at.1,
                    value: Value::Map(out),
                })
            }
        }
    }

    /// A link to another resource of the product: its address (or, for a resource with an
    /// [`Resource::id`], its value of the attribute).
    fn link(&mut self, v: &Raw, tys: &[&str], attrs: &[&str]) -> Option<Node> {
        match &v.v {
            RawV::Ref { .. } => {
                let i = self.target(v, tys, attrs)?;
                let text = match &v.v {
                    RawV::Ref { attr, .. } => self.value_of(i, attr)?,
                    _ => return None,
                };
                Some(scalar_node(v.line, v.column, text, false))
            }
            RawV::Scalar { text, .. } => {
                // A literal id: a resource given here with that id (plan/state JSON), else
                // kept as written (the reader then looks for it among the inputs).
                let text = match self.set.found.iter().find(|f| {
                    tys.contains(&f.ty.as_str())
                        && f.ids.iter().any(|i| i == text)
                        && self
                            .product
                            .resources
                            .iter()
                            .any(|r| r.ty == f.ty && r.id.is_none())
                }) {
                    Some(f) => f.address.clone(),
                    None => text.clone(),
                };
                Some(scalar_node(v.line, v.column, text, false))
            }
            _ => {
                self.not_literal(v);
                None
            }
        }
    }

    /// The resource a reference names (reported at it if it is not one of `tys` by `attrs`,
    /// or not given).
    fn target(&mut self, v: &Raw, tys: &[&str], attrs: &[&str]) -> Option<usize> {
        let RawV::Ref { ty, name, attr } = &v.v else {
            self.not_literal(v);
            return None;
        };
        if !tys.contains(&ty.as_str()) {
            self.not_literal(v);
            return None;
        }
        if !attrs.contains(&attr.as_str()) {
            self.cx.err_at(
                v.line,
                v.column,
                format!("`{ty}.{name}.{attr}`: the link is by {}", want(tys, attrs)),
            );
            return None;
        }
        match resolve(self.set, self.from, ty, name, attr) {
            Ok(i) => Some(i),
            Err(why) => {
                self.cx.err_at(v.line, v.column, why);
                None
            }
        }
    }

    /// What a link to resource `i` by `attr` stands for: its id, or the literal argument of
    /// that name, for a resource with an [`Resource::id`]; else its address. `None` when that
    /// resource's own error says why.
    fn value_of(&self, i: usize, attr: &str) -> Option<String> {
        let f = &self.set.found[i];
        let spec = self.product.resources.iter().find(|r| r.ty == f.ty)?;
        if spec.id.is_none() {
            return Some(f.address.clone());
        }
        if attr == "id" {
            return self.ids.get(i).cloned().flatten();
        }
        match arg(&f.body, attr).map(|r| &r.v) {
            Some(RawV::Scalar { text, .. }) => Some(text.clone()),
            _ => None,
        }
    }

    /// A string whose interpolations are links (`Arg::Template`), with where its bytes are.
    fn template(&mut self, v: &Raw, tys: &[&str], attrs: &[&str]) -> Option<Node> {
        let pieces = match &v.v {
            RawV::Scalar { .. } => return self.literal(v),
            RawV::Template { pieces, .. } => pieces,
            RawV::Ref { ty, name, attr } if self.plan => {
                self.cx.err_at(
                    v.line,
                    v.column,
                    format!(
                        "a value known only after apply: it uses `{ty}.{name}.{attr}`, which \
                         the plan does not know yet; give the state (`terraform show -json` \
                         after apply)"
                    ),
                );
                return None;
            }
            _ => {
                self.not_literal(v);
                return None;
            }
        };
        let mut text = String::new();
        let mut at = Vec::new();
        let mut ok = true;
        for p in pieces {
            match p {
                Piece::Text(t, positions) => {
                    text.push_str(t);
                    at.extend(positions.iter().copied());
                }
                Piece::Interp(line, column, raw) => {
                    let value = match &raw.v {
                        // A reference to another kind of resource is refused by `target`.
                        RawV::Ref { attr, .. } => {
                            let attr = attr.clone();
                            self.target(raw, tys, attrs)
                                .and_then(|i| self.value_of(i, &attr))
                        }
                        _ => {
                            self.not_literal(raw);
                            None
                        }
                    };
                    match value {
                        Some(s) => {
                            at.extend(std::iter::repeat_n((*line, *column), s.len()));
                            text.push_str(&s);
                        }
                        None => ok = false,
                    }
                }
            }
        }
        if !ok {
            return None;
        }
        // One past the end: where the closing quote is.
        let end = at.last().map_or((v.line, v.column), |&(l, c)| (l, c + 1));
        at.push(end);
        self.placed.push(Placed {
            line: v.line,
            column: v.column,
            at,
        });
        Some(scalar_node(v.line, v.column, text, false))
    }
}

/// A block body's argument, if set (not null).
fn arg<'r>(body: &'r Raw, key: &str) -> Option<&'r Raw> {
    match &body.v {
        RawV::Map(entries) => entries
            .iter()
            .find(|(k, _, _, _)| k == key)
            .map(|(_, _, _, v)| v)
            .filter(|v| !matches!(&v.v, RawV::Scalar { text, plain: true } if text == "null")),
        _ => None,
    }
}

/// Each resource's id, for those whose type has a [`Resource::id`]: the format with its
/// parts filled in, each a literal, a link (resolved to what it stands for) or, unset, the
/// product's stand-in. Errors are reported at the resource's own arguments.
fn ids(cx: &mut Cx, set: &Set, product: &Product) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for i in 0..set.found.len() {
        cx.file = set.found[i].file.clone();
        out.push(id_of(Some(cx), set, product, i, 0));
    }
    out
}

fn id_of(
    mut cx: Option<&mut Cx>,
    set: &Set,
    product: &Product,
    i: usize,
    depth: u8,
) -> Option<String> {
    let f = &set.found[i];
    let spec = product.resources.iter().find(|r| r.ty == f.ty)?;
    let format = spec.id?;
    if depth > 4 {
        return None;
    }
    let mut out = String::new();
    let mut rest = format;
    let mut ok = true;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let key = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        let links = spec.args.iter().find_map(|(n, a)| match a {
            Arg::Part(tys, attrs) if *n == key => Some((*tys, *attrs)),
            _ => None,
        });
        let raw = arg(&f.body, key);
        let value = match raw.map(|r| (r, &r.v)) {
            None => match product.unset.iter().find(|(k, _)| *k == key) {
                Some((_, v)) => Some((*v).to_string()),
                None => {
                    if let Some(cx) = cx.as_deref_mut() {
                        cx.err_at(
                            f.line,
                            f.column,
                            format!("{}: `{key}` is not set; it is part of the name", f.address),
                        );
                    }
                    None
                }
            },
            Some((_, RawV::Scalar { text, .. })) if !text.is_empty() => Some(text.clone()),
            Some((r, RawV::Ref { ty, name, attr }))
                if links.is_some_and(|(tys, attrs)| {
                    tys.contains(&ty.as_str()) && attrs.contains(&attr.as_str())
                }) =>
            {
                match resolve(set, f, ty, name, attr) {
                    Ok(t) if attr == "id" => id_of(None, set, product, t, depth + 1),
                    Ok(t) => match arg(&set.found[t].body, attr).map(|r| &r.v) {
                        Some(RawV::Scalar { text, .. }) => Some(text.clone()),
                        _ => None,
                    },
                    Err(why) => {
                        if let Some(cx) = cx.as_deref_mut() {
                            cx.err_at(r.line, r.column, why);
                        }
                        None
                    }
                }
            }
            Some((r, RawV::Ref { ty, name, attr }))
                if links.is_some_and(|(tys, _)| tys.contains(&ty.as_str())) =>
            {
                if let Some(cx) = cx.as_deref_mut() {
                    let (tys, attrs) = links.unwrap_or_default();
                    cx.err_at(
                        r.line,
                        r.column,
                        format!("`{ty}.{name}.{attr}`: the link is by {}", want(tys, attrs)),
                    );
                }
                None
            }
            Some((r, RawV::Scalar { .. })) => {
                if let Some(cx) = cx.as_deref_mut() {
                    cx.err_at(r.line, r.column, format!("`{key}` is empty"));
                }
                None
            }
            Some((r, _)) => {
                if let Some(cx) = cx.as_deref_mut() {
                    not_literal(cx, r);
                }
                None
            }
        };
        match value {
            Some(v) => out.push_str(&v),
            None => ok = false,
        }
    }
    out.push_str(rest);
    ok.then_some(out)
}

/// What every AWS resource here has and no reader uses: the provider's id and the region
/// argument (the provider adds it to each resource; the reader takes any region).
const AWS_COMPUTED: &[&str] = &["id", "region"];

/// What a taggable AWS resource adds: its tags, the provider's merge of them with its default
/// tags, and its ARN (links to it are by reference, resolved here).
const AWS_TAGGED: &[&str] = &["tags", "tags_all", "arn"];

/// A Network Firewall resource's own attributes that decide nothing: the name (the resource's
/// Terraform name is used), its description, how it is encrypted, the provider's update token.
const NFW_SKIP: &[&str] = &[
    "name",
    "description",
    "encryption_configuration",
    "update_token",
];

/// Network Firewall: rule groups (a `describe-rule-group` output's `RuleGroup` and
/// `RuleGroupResponse`) and firewall policies (`FirewallPolicy`).
pub(crate) const AWS_NFW: Product = Product {
    format: "aws-nfw",
    unset: &[],
    resources: &[
        Resource {
            ty: "aws_networkfirewall_rule_group",
            address_at: Some("RuleGroupResponse.RuleGroupArn"),
            id: None,
            name_at: Some("RuleGroupResponse.RuleGroupName"),
            ids: &["arn", "id"],
            args: &[
                ("capacity", Arg::Value("RuleGroupResponse.Capacity")),
                ("type", Arg::Value("RuleGroupResponse.Type")),
                ("rules", Arg::Present("RuleGroup.RulesSource.RulesString")),
                (
                    "rule_group",
                    Arg::Block("RuleGroup", Nest::One, NFW_RULE_GROUP),
                ),
            ],
            skip: &[NFW_SKIP, AWS_TAGGED, AWS_COMPUTED],
        },
        Resource {
            ty: "aws_networkfirewall_firewall_policy",
            address_at: None,
            id: None,
            name_at: None,
            ids: &["arn", "id"],
            args: &[(
                "firewall_policy",
                Arg::Block("FirewallPolicy", Nest::One, NFW_POLICY),
            )],
            skip: &[NFW_SKIP, AWS_TAGGED, AWS_COMPUTED],
        },
    ],
};

const NFW_RULE_GROUP: &[(&str, Arg)] = &[
    (
        "rules_source",
        Arg::Block(
            "RulesSource",
            Nest::One,
            &[
                (
                    "rules_source_list",
                    Arg::Block(
                        "RulesSourceList",
                        Nest::One,
                        &[
                            ("generated_rules_type", Arg::Value("GeneratedRulesType")),
                            ("target_types", Arg::Value("TargetTypes")),
                            ("targets", Arg::Value("Targets")),
                        ],
                    ),
                ),
                ("rules_string", Arg::Present("RulesString")),
                ("stateful_rule", Arg::Present("StatefulRules")),
                (
                    "stateless_rules_and_custom_actions",
                    Arg::Present("StatelessRulesAndCustomActions"),
                ),
            ],
        ),
    ),
    (
        "stateful_rule_options",
        Arg::Block(
            "StatefulRuleOptions",
            Nest::One,
            &[("rule_order", Arg::Value("RuleOrder"))],
        ),
    ),
    (
        "rule_variables",
        Arg::Block(
            "RuleVariables",
            Nest::One,
            &[
                (
                    "ip_sets",
                    Arg::Block(
                        "IPSets",
                        Nest::Keyed {
                            key: "Key",
                            value: "IPSet",
                        },
                        &[
                            ("key", Arg::Value("Key")),
                            (
                                "ip_set",
                                Arg::Block(
                                    "IPSet",
                                    Nest::One,
                                    &[("definition", Arg::Value("Definition"))],
                                ),
                            ),
                        ],
                    ),
                ),
                ("port_sets", Arg::Present("PortSets")),
            ],
        ),
    ),
    ("reference_sets", Arg::Present("ReferenceSets")),
];

const NFW_POLICY: &[(&str, Arg)] = &[
    (
        "stateless_default_actions",
        Arg::Value("StatelessDefaultActions"),
    ),
    (
        "stateless_fragment_default_actions",
        Arg::Value("StatelessFragmentDefaultActions"),
    ),
    (
        "stateless_rule_group_reference",
        Arg::Present("StatelessRuleGroupReferences"),
    ),
    (
        "stateless_custom_action",
        Arg::Present("StatelessCustomActions"),
    ),
    (
        "stateful_default_actions",
        Arg::Value("StatefulDefaultActions"),
    ),
    (
        "stateful_engine_options",
        Arg::Block(
            "StatefulEngineOptions",
            Nest::One,
            &[
                ("rule_order", Arg::Value("RuleOrder")),
                (
                    "stream_exception_policy",
                    Arg::Present("StreamExceptionPolicy"),
                ),
                ("flow_timeouts", Arg::Skip),
            ],
        ),
    ),
    (
        "stateful_rule_group_reference",
        Arg::Block(
            "StatefulRuleGroupReferences",
            Nest::Many,
            &[
                (
                    "resource_arn",
                    Arg::Link(
                        "ResourceArn",
                        &["aws_networkfirewall_rule_group"],
                        // The provider's `id` of a rule group is its ARN.
                        &["arn", "id"],
                    ),
                ),
                ("priority", Arg::Value("Priority")),
                (
                    "override",
                    Arg::Block("Override", Nest::One, &[("action", Arg::Value("Action"))]),
                ),
                ("deep_threat_inspection", Arg::Skip),
            ],
        ),
    ),
    (
        "tls_inspection_configuration_arn",
        Arg::Present("TLSInspectionConfigurationArn"),
    ),
    ("policy_variables", Arg::Present("PolicyVariables")),
    ("enable_tls_session_holding", Arg::Skip),
];

const R53_GROUP: &[&str] = &["aws_route53_resolver_firewall_rule_group"];

/// Route 53 DNS Firewall: domain lists, rule groups, rules (each its own resource, linked to
/// its group), associations and the firewall config, as the bundle's entries.
pub(crate) const ROUTE53: Product = Product {
    format: "route53",
    unset: &[],
    resources: &[
        Resource {
            ty: "aws_route53_resolver_firewall_domain_list",
            address_at: Some("Id"),
            id: None,
            name_at: Some("Name"),
            ids: &["id", "arn"],
            args: &[("domains", Arg::Value("Domains"))],
            skip: &[&["name"], AWS_TAGGED, AWS_COMPUTED],
        },
        Resource {
            ty: "aws_route53_resolver_firewall_rule_group",
            address_at: Some("Id"),
            id: None,
            name_at: Some("Name"),
            ids: &["id", "arn"],
            args: &[],
            skip: &[
                &["name"],
                AWS_TAGGED,
                &["owner_id", "share_status"],
                AWS_COMPUTED,
            ],
        },
        Resource {
            ty: "aws_route53_resolver_firewall_rule",
            address_at: None,
            id: None,
            name_at: None,
            ids: &["id"],
            args: &[
                (
                    "firewall_rule_group_id",
                    Arg::Link("FirewallRuleGroupId", R53_GROUP, &["id"]),
                ),
                (
                    "firewall_domain_list_id",
                    Arg::Link(
                        "FirewallDomainListId",
                        &["aws_route53_resolver_firewall_domain_list"],
                        &["id"],
                    ),
                ),
                ("priority", Arg::Value("Priority")),
                ("action", Arg::Value("Action")),
                ("block_response", Arg::Value("BlockResponse")),
                ("block_override_domain", Arg::Value("BlockOverrideDomain")),
                (
                    "block_override_dns_type",
                    Arg::Value("BlockOverrideDnsType"),
                ),
                ("block_override_ttl", Arg::Value("BlockOverrideTtl")),
                (
                    "firewall_domain_redirection_action",
                    Arg::Value("FirewallDomainRedirectionAction"),
                ),
                ("q_type", Arg::Value("Qtype")),
                ("dns_threat_protection", Arg::Present("DnsThreatProtection")),
                ("confidence_threshold", Arg::Present("ConfidenceThreshold")),
                (
                    "firewall_threat_protection_id",
                    Arg::Present("FirewallThreatProtectionId"),
                ),
            ],
            skip: &[&["name"], AWS_COMPUTED],
        },
        Resource {
            ty: "aws_route53_resolver_firewall_rule_group_association",
            address_at: None,
            id: None,
            name_at: Some("Name"),
            ids: &["id", "arn"],
            args: &[
                (
                    "firewall_rule_group_id",
                    Arg::Link("FirewallRuleGroupId", R53_GROUP, &["id"]),
                ),
                ("priority", Arg::Value("Priority")),
                ("vpc_id", Arg::Opaque("VpcId")),
                ("mutation_protection", Arg::Value("MutationProtection")),
            ],
            skip: &[&["name"], AWS_TAGGED, AWS_COMPUTED],
        },
        Resource {
            ty: "aws_route53_resolver_firewall_config",
            address_at: None,
            id: None,
            name_at: None,
            ids: &["id"],
            args: &[
                ("firewall_fail_open", Arg::Value("FirewallFailOpen")),
                ("resource_id", Arg::Opaque("ResourceId")),
            ],
            skip: &[&["owner_id"], AWS_COMPUTED],
        },
    ],
};

/// What stands for an unset `project` in the Secure Web Proxy resources' names: the
/// provider's default project is not known here. No project id can be this (ids are lower
/// case), so a name written out in full never matches one built with it by accident.
pub(crate) const DEFAULT_PROJECT: &str = "PROVIDER_DEFAULT_PROJECT";

/// What every Secure Web Proxy resource has and no reader uses: the provider's id (the
/// resource's name is built here from its parts) and its timestamps.
const GOOGLE_COMPUTED: &[&str] = &["id", "create_time", "update_time"];

const SWP_POLICY: &str = "google_network_security_gateway_security_policy";
const SWP_RULE: &str = "google_network_security_gateway_security_policy_rule";
const SWP_LIST: &str = "google_network_security_url_lists";

/// Google Cloud Secure Web Proxy: gateway security policies, their rules (each its own
/// resource, naming its policy) and URL lists, as the API objects, named by their full
/// resource names.
pub(crate) const SWP: Product = Product {
    format: "swp",
    unset: &[("project", DEFAULT_PROJECT)],
    resources: &[
        Resource {
            ty: SWP_POLICY,
            address_at: Some("name"),
            id: Some("projects/{project}/locations/{location}/gatewaySecurityPolicies/{name}"),
            name_at: None,
            ids: &["id", "name"],
            args: &[
                ("name", Arg::Part(&[], &[])),
                ("location", Arg::Part(&[], &[])),
                ("project", Arg::Part(&[], &[])),
            ],
            skip: &[
                // Used only by rules with TLS inspection, whose request tests are warned.
                &["tls_inspection_policy"],
                &["description", "self_link"],
                GOOGLE_COMPUTED,
            ],
        },
        Resource {
            ty: SWP_RULE,
            address_at: Some("name"),
            id: Some(
                "projects/{project}/locations/{location}/gatewaySecurityPolicies/\
                 {gateway_security_policy}/rules/{name}",
            ),
            name_at: None,
            ids: &["id", "name"],
            args: &[
                ("name", Arg::Part(&[], &[])),
                ("location", Arg::Part(&[], &[])),
                ("project", Arg::Part(&[], &[])),
                (
                    "gateway_security_policy",
                    // The provider takes the policy's short name.
                    Arg::Part(&[SWP_POLICY], &["name"]),
                ),
                ("enabled", Arg::Value("enabled")),
                ("priority", Arg::Value("priority")),
                ("basic_profile", Arg::Value("basicProfile")),
                (
                    "session_matcher",
                    Arg::Template("sessionMatcher", &[SWP_LIST], &["id"]),
                ),
                (
                    "application_matcher",
                    Arg::Template("applicationMatcher", &[SWP_LIST], &["id"]),
                ),
                ("tls_inspection_enabled", Arg::Value("tlsInspectionEnabled")),
            ],
            skip: &[&["description", "self_link"], GOOGLE_COMPUTED],
        },
        Resource {
            ty: SWP_LIST,
            address_at: Some("name"),
            id: Some("projects/{project}/locations/{location}/urlLists/{name}"),
            name_at: None,
            ids: &["id", "name"],
            args: &[
                ("name", Arg::Part(&[], &[])),
                ("location", Arg::Part(&[], &[])),
                ("project", Arg::Part(&[], &[])),
                ("values", Arg::Value("values")),
            ],
            skip: &[&["description"], GOOGLE_COMPUTED],
        },
    ],
};

/// The Secure Web Proxy resources as API objects, after the checks a name built with the
/// unset project's stand-in needs: a rule must be of a policy given (in the same project), and
/// a URL list whose project is not set cannot be named by a path written out in a matcher.
pub(crate) fn swp(cx: &mut Cx, set: Set) -> Vec<Converted> {
    let out = finish(cx, set, &SWP);
    let before = cx.errors.len();
    let name = |c: &Converted| {
        get(&c.node, "name")
            .and_then(yaml::scalar)
            .unwrap_or("")
            .to_string()
    };
    let at = |c: &Converted, key: &str| {
        c.args
            .iter()
            .find(|(k, _, _)| k == key)
            .map_or((c.node.line, c.node.column), |&(_, l, col)| (l, col))
    };
    // The resource's block (where its built name is put).
    let block = |c: &Converted| {
        get(&c.node, "name").map_or((c.node.line, c.node.column), |n| (n.line, n.column))
    };
    let unset = format!("projects/{DEFAULT_PROJECT}/");
    let policies: Vec<(String, &Converted)> = out
        .iter()
        .filter(|c| c.ty == SWP_POLICY)
        .map(|c| (name(c), c))
        .collect();
    // The part of a name after its project.
    let after_project = |n: &str| -> String { n.splitn(3, '/').nth(2).unwrap_or("").to_string() };
    let mut told: Vec<&str> = Vec::new();
    for c in out.iter().filter(|c| c.ty == SWP_RULE) {
        let n = name(c);
        let parent = n.rsplitn(3, '/').nth(2).unwrap_or("").to_string();
        if policies.iter().any(|(p, _)| *p == parent) {
            continue;
        }
        cx.file = c.file.clone();
        // The same policy but for the project, which one of the two leaves unset.
        if let Some((p, pc)) = policies.iter().find(|(p, _)| {
            after_project(p) == after_project(&parent)
                && (p.starts_with(&unset) != parent.starts_with(&unset))
        }) {
            let (who, other) = if parent.starts_with(&unset) {
                (c, p.as_str())
            } else {
                (*pc, parent.as_str())
            };
            if told.contains(&who.address.as_str()) {
                continue;
            }
            told.push(&who.address);
            cx.file = who.file.clone();
            let (line, column) = block(who);
            cx.err_at(
                line,
                column,
                format!(
                    "{}: `project` is not set, and the provider's default project is not known \
                     here, while `{other}` names one: set `project`",
                    who.address
                ),
            );
            continue;
        }
        let (line, column) = at(c, "gateway_security_policy");
        cx.err_at(
            line,
            column,
            format!(
                "{}: its policy `{parent}` is not in the files given: give its {SWP_POLICY} \
                 resource (a rule is read with its policy)",
                c.address
            ),
        );
    }
    // A URL list named with the stand-in, and a matcher naming it with a project written out.
    for l in out.iter().filter(|c| c.ty == SWP_LIST) {
        let n = name(l);
        if !n.starts_with(&unset) {
            continue;
        }
        let tail = format!("/{}", after_project(&n));
        for r in out.iter().filter(|c| c.ty == SWP_RULE) {
            for key in ["sessionMatcher", "applicationMatcher"] {
                let text = get(&r.node, key).and_then(yaml::scalar).unwrap_or("");
                let named = text.match_indices(&tail).any(|(i, _)| {
                    let before = &text[..i];
                    let ends = !text[i + tail.len()..]
                        .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                    ends && before.rfind("projects/").is_some_and(|p| {
                        let project = &before[p + "projects/".len()..];
                        !project.contains(['/', '\'', '"']) && project != DEFAULT_PROJECT
                    })
                });
                if named && !told.contains(&l.address.as_str()) {
                    told.push(&l.address);
                    cx.file = l.file.clone();
                    let (line, column) = block(l);
                    cx.err_at(
                        line,
                        column,
                        format!(
                            "{}: `project` is not set, and the provider's default project is \
                             not known here, while {} names this list with its project \
                             written out: set `project`",
                            l.address, r.address
                        ),
                    );
                }
            }
        }
    }
    // The names are wrong then: reading them would only repeat the error.
    if cx.errors.len() > before {
        return Vec::new();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_lines_and_character_columns() {
        let l = Lines::new("ab\nçd = 1\n");
        assert_eq!(l.at(0), (1, 1));
        assert_eq!(l.at(3), (2, 1));
        // `ç` is two bytes, one column.
        assert_eq!(l.at(6), (2, 3));
    }

    #[test]
    fn put_makes_and_merges_objects() {
        let mut n = Node {
            line: 1,
            column: 1,
            value: Value::Map(Vec::new()),
        };
        put(&mut n, "A.B", scalar_node(1, 1, "x".into(), false));
        put(&mut n, "A.C", scalar_node(2, 1, "y".into(), false));
        let a = get(&n, "A").unwrap();
        assert_eq!(get(a, "B").and_then(yaml::scalar), Some("x"));
        assert_eq!(get(a, "C").and_then(yaml::scalar), Some("y"));
    }

    /// The template pieces of the first attribute's value in `text`.
    fn pieces(text: &str) -> Vec<Piece> {
        let body = hcl_edit::parser::parse_body(text).unwrap();
        let lines = Lines::new(text);
        let Some(Structure::Attribute(a)) = body.iter().next() else {
            panic!()
        };
        match hcl_expr(&lines, &a.value).v {
            RawV::Template { pieces, .. } => pieces,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn template_bytes_keep_their_positions() {
        // Escapes are one character at their backslash; `$${` is a literal `${`.
        let text = "m = \"a\\\"\\n\\u00e9$${x}${y.z.w}\"\n";
        let p = pieces(text);
        let Piece::Text(t, at) = &p[0] else { panic!() };
        assert_eq!(t, "a\"\né${x}");
        let cols: Vec<u32> = at.iter().map(|&(_, c)| c).collect();
        // a at 6, \" at 7, \n at 9, é (two bytes) at 11, `$` `{` `x` `}` at 17, 19, 20, 21.
        assert_eq!(cols, [6, 7, 9, 11, 11, 17, 19, 20, 21]);
        let Piece::Interp(l, c, raw) = &p[1] else {
            panic!()
        };
        assert_eq!((*l, *c), (1, 22));
        assert!(matches!(&raw.v, RawV::Ref { ty, .. } if ty == "y"));
        // A heredoc's indentation is not part of its text, nor of the positions.
        let text = "m = <<-EOT\n    a ${b.c.d}\n      e\n  EOT\n";
        let p = pieces(text);
        let Piece::Text(t, at) = &p[0] else { panic!() };
        assert_eq!(t, "a ");
        assert_eq!(at[0], (2, 5));
        let Piece::Text(t, at) = &p[2] else { panic!() };
        assert_eq!(t, "\n  e\n");
        assert_eq!(at[3], (3, 7));
    }

    #[test]
    fn labels_are_id_safe() {
        assert_eq!(label_of("aws_x.g", "aws_x"), "g");
        assert_eq!(
            label_of("module.m.aws_x.g[\"a\"]", "aws_x"),
            "module.m.g--a"
        );
    }
}
