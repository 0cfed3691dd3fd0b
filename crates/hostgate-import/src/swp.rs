//! Google Cloud Secure Web Proxy: a gateway security policy, its rules and the URL lists they
//! name.
//!
//! Inputs: the objects as `gcloud network-security gateway-security-policies rules export` /
//! `describe` (and `url-lists`) print them, or the bare API objects, in YAML or JSON; a list
//! response (`gatewaySecurityPolicyRules`, `urlLists`, `gatewaySecurityPolicies`); several
//! objects in one file (YAML documents or a JSON array); several files. An object's kind is told
//! by its `name`: `projects/P/locations/L/gatewaySecurityPolicies/G`, `…/G/rules/R`,
//! `projects/P/locations/L/urlLists/U`. The Google provider's Terraform resources (`.tf` files,
//! `terraform show -json`) are made into the same objects by `terraform`.
//!
//! Meaning: the enabled rules by `priority`, lowest first; the first whose `sessionMatcher`
//! holds decides (`basicProfile` ALLOW or DENY); no match denies. `host()` is the host the
//! proxy sees (the Host header without its port for plain HTTP, the CONNECT target for
//! HTTPS); hostgate checks the normalized query name (lower case, no trailing dot) as that
//! host, on every source a proxy decides by (`via tls,http,connect`).
//!
//! A matcher becomes a disjunction of conjunctions. Each conjunction is kept exactly: by the
//! patterns of its one host test (a negated `==`, `endsWith` or `startsWith` by the regexes of
//! its complement), by evaluation when it tests `host() == 'x'`, and by rules for each name a
//! `!=` excepts, with the verdict the rest of the policy gives that name, ahead of the others.
//! What cannot be kept exactly is refused at its position.

mod cel;

use std::collections::HashMap;

use hostgate::{
    Action, Engine, EngineBuilder, PolicyId, PolicySpec, Precedence, Query, RuleSpec, Via,
};

use crate::cloud;
use crate::kube::Cx;
use crate::terraform;
use crate::yaml::{self, Node, Value};
use crate::{Options, Read, RuleSource};

use cel::{Atom, Formula, HostTest, Lit};

/// One object to read: the file it is in, that file's text (to put matcher errors at their
/// column; empty if not known), its positioned tree, and where the bytes of strings that are
/// not written out in the text are (built from Terraform templates).
pub(crate) struct Object<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub node: &'a Node,
    pub placed: &'a [terraform::Placed],
}

impl Object<'_> {
    /// The file position of byte `offset` of the string `value` at `node`.
    fn locate(&self, node: &Node, value: &str, offset: usize) -> (u32, u32) {
        let placed = self
            .placed
            .iter()
            .find(|p| p.line == node.line && p.column == node.column);
        match placed.and_then(|p| p.at.get(offset).or(p.at.last())) {
            Some(&at) => at,
            None => locate(self.text, node, value, offset),
        }
    }
}

const POLICY_FIELDS: &[&str] = &[
    "name",
    "createTime",
    "updateTime",
    "description",
    "tlsInspectionPolicy",
];
const RULE_FIELDS: &[&str] = &[
    "name",
    "createTime",
    "updateTime",
    "enabled",
    "priority",
    "description",
    "sessionMatcher",
    "applicationMatcher",
    "tlsInspectionEnabled",
    "basicProfile",
];
const LIST_FIELDS: &[&str] = &["name", "createTime", "updateTime", "description", "values"];
const RESPONSE_FIELDS: &[&str] = &[
    "gatewaySecurityPolicyRules",
    "gatewaySecurityPolicies",
    "urlLists",
    "nextPageToken",
    "unreachable",
];

/// The format's reader: every file's objects into one policy.
pub(crate) fn import(cx: &mut Cx, files: &[(&str, &[u8])], options: &Options) -> Read {
    let mut docs = Vec::new();
    let mut tf = terraform::Set::default();
    for (name, bytes) in files {
        cx.file = (*name).to_string();
        let Some(doc) = cloud::input(cx, &mut tf, &terraform::SWP, name, bytes) else {
            continue;
        };
        if doc.roots.is_empty() {
            cx.err_at(1, 1, "no gateway security policy, rule or URL list");
        }
        let text = std::str::from_utf8(bytes).unwrap_or("");
        docs.push((*name, text, doc));
    }
    let mut objects = Vec::new();
    for (file, text, doc) in &docs {
        cx.file = (*file).to_string();
        for root in &doc.roots {
            expand(cx, file, text, root, &mut objects, true);
        }
    }
    // Terraform resources, as the API objects they make.
    let converted = if tf.any {
        terraform::swp(cx, tf)
    } else {
        Vec::new()
    };
    for c in &converted {
        let text = files
            .iter()
            .find(|(n, _)| *n == c.file)
            .and_then(|(_, b)| std::str::from_utf8(b).ok())
            .unwrap_or("");
        objects.push(Object {
            file: &c.file,
            text,
            node: &c.node,
            placed: &c.placed,
        });
    }
    read(cx, &objects, options)
}

/// An object, a JSON array of objects or a list response, as objects.
fn expand<'a>(
    cx: &mut Cx,
    file: &'a str,
    text: &'a str,
    node: &'a Node,
    out: &mut Vec<Object<'a>>,
    top: bool,
) {
    match &node.value {
        Value::Seq(items) if top => {
            for item in items {
                expand(cx, file, text, item, out, false);
            }
        }
        Value::Map(entries)
            if entries
                .iter()
                .any(|(k, _)| RESPONSE_FIELDS.contains(&yaml::scalar(k).unwrap_or(""))) =>
        {
            let Some(f) = cx.fields(node, "a list response", RESPONSE_FIELDS) else {
                return;
            };
            if let Some(t) = f.get("nextPageToken") {
                if yaml::scalar(t).is_some_and(|s| !s.is_empty()) {
                    cx.err(
                        t,
                        "nextPageToken: the list continues on another page; give every page",
                    );
                }
            }
            if let Some(u) = f.get("unreachable") {
                if cx.list(u, "unreachable").is_some_and(|l| !l.is_empty()) {
                    cx.err(u, "unreachable locations: the list is not complete");
                }
            }
            for key in [
                "gatewaySecurityPolicies",
                "gatewaySecurityPolicyRules",
                "urlLists",
            ] {
                if let Some(items) = f.get(key) {
                    for item in cx.list(items, key).unwrap_or(&[]) {
                        out.push(Object {
                            file,
                            text,
                            node: item,
                            placed: &[],
                        });
                    }
                }
            }
        }
        Value::Map(_) => out.push(Object {
            file,
            text,
            node,
            placed: &[],
        }),
        _ => cx.err(
            node,
            format!(
                "expected a gateway security policy, rule or URL list (a mapping), not {}",
                node.kind()
            ),
        ),
    }
}

/// What a `name` path names.
enum Kind {
    Policy(String),
    Rule { policy: String, rule: String },
    UrlList(String),
}

fn kind_of(name: &str) -> Option<Kind> {
    let parts: Vec<&str> = name.split('/').collect();
    let base = parts.len() >= 6
        && parts[0] == "projects"
        && parts[2] == "locations"
        && parts.iter().all(|p| !p.is_empty());
    if !base {
        return None;
    }
    match (parts.len(), parts[4]) {
        (6, "gatewaySecurityPolicies") => Some(Kind::Policy(name.to_string())),
        (8, "gatewaySecurityPolicies") if parts[6] == "rules" => Some(Kind::Rule {
            policy: parts[..6].join("/"),
            rule: parts[7].to_string(),
        }),
        (6, "urlLists") => Some(Kind::UrlList(name.to_string())),
        _ => None,
    }
}

/// Inclusive port ranges.
type Ports = Vec<(u16, u16)>;

/// A host test's pattern, a warning if it is a regex, and the position of the URL list value
/// it comes from.
type Translated = (String, Option<String>, Option<Pos>);

/// A position in an input file.
#[derive(Clone, Debug)]
struct Pos {
    file: String,
    line: u32,
    column: u32,
}

struct Rule<'a> {
    label: String,
    obj: usize,
    priority: i64,
    action: Action,
    matcher: &'a Node,
    app: Option<&'a Node>,
    node: &'a Node,
}

/// A rule ready to emit: its formula (L7 tests already decided) and where it is.
struct Ready<'a> {
    rule: Rule<'a>,
    formula: Formula,
    expr: String,
}

struct UrlList {
    /// Each value as a hostgate pattern, with the value's position.
    patterns: Vec<(String, Pos)>,
}

/// Reads already-parsed objects (from [`import`], or any reader that produces the same
/// objects) into one policy.
pub(crate) fn read(cx: &mut Cx, objects: &[Object<'_>], _options: &Options) -> Read {
    let mut read = Read::new(Action::Deny);
    read.precedence = Precedence::FirstMatch;
    let mut policy: Option<(String, String, &Node)> = None;
    let mut rules: Vec<Rule<'_>> = Vec::new();
    let mut lists: HashMap<String, UrlList> = HashMap::new();
    let mut parents: Vec<(String, usize, &Node)> = Vec::new();
    for (index, o) in objects.iter().enumerate() {
        cx.file = o.file.to_string();
        let node = o.node;
        let Value::Map(entries) = &node.value else {
            cx.err(
                node,
                format!("expected an object (a mapping), not {}", node.kind()),
            );
            continue;
        };
        let name_node = entries
            .iter()
            .find(|(k, _)| yaml::scalar(k) == Some("name"))
            .map(|(_, v)| v);
        let Some(name_node) = name_node else {
            cx.err(
                node,
                "an object without `name`: its kind (policy, rule or URL list) is told by its \
                 name path",
            );
            continue;
        };
        let Some(name) = cx.str(name_node, "name") else {
            continue;
        };
        match kind_of(name) {
            Some(Kind::Policy(p)) => {
                let Some(_) = cx.fields(node, "a gateway security policy", POLICY_FIELDS) else {
                    continue;
                };
                if let Some((first, file, _)) = &policy {
                    if *first != p {
                        cx.err(
                            name_node,
                            format!(
                                "a second gateway security policy (the first, `{first}`, is in \
                                 {file}): import one policy at a time"
                            ),
                        );
                        continue;
                    }
                }
                policy = Some((p, o.file.to_string(), name_node));
            }
            Some(Kind::Rule { policy: p, rule }) => {
                if let Some(r) = read_rule(cx, node, index, &rule) {
                    parents.push((p, index, name_node));
                    rules.push(r);
                }
            }
            Some(Kind::UrlList(u)) => {
                let Some(f) = cx.fields(node, "a URL list", LIST_FIELDS) else {
                    continue;
                };
                if lists.contains_key(&u) {
                    cx.err(name_node, format!("URL list `{u}` is given twice"));
                    continue;
                }
                let values = f.get("values").and_then(|v| cx.list(v, "values"));
                let Some(values) = values.filter(|v| !v.is_empty()) else {
                    cx.err(node, "a URL list needs `values`");
                    continue;
                };
                let mut patterns = Vec::new();
                for v in values {
                    let Some(t) = cx.str(v, "a URL list value") else {
                        continue;
                    };
                    match url_entry(t) {
                        Ok((p, warning)) => {
                            if let Some(w) = warning {
                                cx.warn(v, w);
                            }
                            patterns.push((
                                p,
                                Pos {
                                    file: o.file.to_string(),
                                    line: v.line,
                                    column: v.column,
                                },
                            ));
                        }
                        Err(why) => cx.err(v, format!("URL list value `{t}`: {why}")),
                    }
                }
                lists.insert(u, UrlList { patterns });
            }
            None => cx.err(
                name_node,
                format!(
                    "`{name}` is not the name of a gateway security policy \
                     (projects/P/locations/L/gatewaySecurityPolicies/G), of one of its rules \
                     (…/G/rules/R) or of a URL list (projects/P/locations/L/urlLists/U)"
                ),
            ),
        }
    }
    // One policy: every rule belongs to it.
    let owner = policy
        .as_ref()
        .map(|(p, _, _)| p.clone())
        .or_else(|| parents.first().map(|(p, _, _)| p.clone()));
    for (p, index, name_node) in &parents {
        if Some(p) != owner.as_ref() {
            cx.file = objects[*index].file.to_string();
            cx.err(
                name_node,
                format!(
                    "a rule of `{p}`, not of `{}`: import one policy at a time",
                    owner.as_deref().unwrap_or("")
                ),
            );
        }
    }
    let mut enabled: Vec<Rule<'_>> = Vec::new();
    for r in rules {
        if r.priority < 0 {
            continue;
        }
        enabled.push(r);
    }
    // `priority` orders the rules; equal priorities have no documented order.
    enabled.sort_by_key(|r| r.priority);
    for n in 1..enabled.len() {
        if enabled[n - 1].priority == enabled[n].priority {
            let r = &enabled[n];
            cx.file = objects[r.obj].file.to_string();
            cx.err(
                r.node,
                format!(
                    "priority {} is also {}'s: the order of rules of equal priority is not \
                     documented",
                    r.priority,
                    enabled[n - 1].label
                ),
            );
        }
    }
    // Parse every matcher; decide the L7 tests on the safe side.
    let mut ready: Vec<Ready<'_>> = Vec::new();
    for r in enabled {
        let o = &objects[r.obj];
        cx.file = o.file.to_string();
        let Some(expr) = cx.str(r.matcher, "sessionMatcher").map(str::to_string) else {
            continue;
        };
        let at = |offset: usize| o.locate(r.matcher, &expr, offset);
        let formula = match cel::parse(&expr).and_then(|e| cel::classify(&e)) {
            Ok(f) => f,
            Err(e) => {
                let (line, column) = at(e.offset);
                cx.err_at(line, column, format!("sessionMatcher: {}", e.message));
                continue;
            }
        };
        let allow = r.action == Action::Allow;
        let mut l7 = Vec::new();
        l7_offsets(&formula, &mut l7);
        for offset in l7 {
            let (line, column) = at(offset);
            cx.warn_at(line, column, l7_message(allow, "a test on the request"));
        }
        let mut formula = substitute_l7(formula, !allow);
        if let Some(app) = r.app {
            if yaml::scalar(app).is_some_and(|s| !s.trim().is_empty()) {
                cx.warn(app, l7_message(allow, "applicationMatcher"));
                if allow {
                    formula = Formula::Const(false);
                }
            }
        }
        ready.push(Ready {
            rule: r,
            formula,
            expr,
        });
    }
    if !cx.errors.is_empty() {
        return read;
    }
    let mut eval = Eval::default();
    // Every port any matcher names, for the verdicts of excepted names.
    let mut ports: Vec<u16> = Vec::new();
    for r in &ready {
        mentioned_ports(&r.formula, &mut ports);
    }
    ports.sort_unstable();
    ports.dedup();
    for i in 0..ready.len() {
        let r = &ready[i];
        let o = &objects[r.rule.obj];
        cx.file = o.file.to_string();
        let Ok(terms) = cel::dnf(&r.formula, false) else {
            let (line, column) = o.locate(r.rule.matcher, &r.expr, 0);
            cx.err_at(
                line,
                column,
                format!(
                    "sessionMatcher: more than {} alternatives once && is distributed over ||",
                    cel::MAX_TERMS
                ),
            );
            continue;
        };
        let mut emitted = 0usize;
        for term in terms {
            let cx_at = Located {
                object: o,
                node: r.rule.matcher,
                expr: &r.expr,
            };
            let Some(out) = conjunction(cx, &cx_at, &term, &lists, &mut eval) else {
                continue;
            };
            let Some(out) = out else {
                continue;
            };
            let Conj {
                patterns,
                ports: conj_ports,
                except,
            } = out;
            // Names the term excepts get the verdict of this rule's other terms and the rules
            // after it, ahead of the term's own rules.
            for (x, pos) in except {
                let mut by_verdict: [Vec<(u16, u16)>; 2] = [Vec::new(), Vec::new()];
                let rest = complement(&ports);
                let mut classes: Vec<(Ports, Option<u16>)> =
                    ports.iter().map(|&p| (vec![(p, p)], Some(p))).collect();
                let rep = first_port(&rest);
                classes.push((rest, rep));
                for (class, rep) in classes {
                    let Some(rep) = rep else {
                        continue;
                    };
                    let v = decide(&ready[i..], &x, rep, &lists, &mut eval);
                    by_verdict[usize::from(v == Action::Allow)].extend(class);
                }
                for (slot, action) in [(0, Action::Deny), (1, Action::Allow)] {
                    let set = merge(intersect(&by_verdict[slot], &conj_ports));
                    if set.is_empty() {
                        continue;
                    }
                    push(
                        &mut read,
                        &r.rule.label,
                        &mut emitted,
                        action,
                        x.clone(),
                        any(set),
                        &pos,
                    );
                }
            }
            if conj_ports.is_empty() {
                continue;
            }
            for (p, pos) in patterns {
                push(
                    &mut read,
                    &r.rule.label,
                    &mut emitted,
                    r.rule.action,
                    p,
                    any(conj_ports.clone()),
                    &pos,
                );
            }
        }
    }
    read
}

/// Port ranges, with the whole range written as "any port".
fn any(set: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    if set == [(1, u16::MAX)] {
        Vec::new()
    } else {
        set
    }
}

fn push(
    read: &mut Read,
    label: &str,
    emitted: &mut usize,
    action: Action,
    pattern: String,
    ports: Vec<(u16, u16)>,
    pos: &Pos,
) {
    let mut rule = RuleSpec::new(action, pattern);
    rule.ports = ports;
    rule.via = vec![Via::Tls, Via::Http, Via::Connect];
    rule.id = Some(format!("{label}:{emitted}"));
    rule.line = pos.line;
    *emitted += 1;
    read.rules.push(rule);
    read.sources.push(RuleSource {
        file: pos.file.clone(),
        line: pos.line,
        column: pos.column,
        object: label.to_string(),
    });
}

fn read_rule<'a>(cx: &mut Cx, node: &'a Node, obj: usize, rule: &str) -> Option<Rule<'a>> {
    let f = cx.fields(node, "a gateway security policy rule", RULE_FIELDS)?;
    if !cloud::id_safe(rule) {
        cx.err(
            node,
            format!("rule name `{rule}` cannot name hostgate rules"),
        );
        return None;
    }
    let label = format!("GatewaySecurityPolicyRule/{rule}");
    // The API's JSON leaves out false and 0: a missing `enabled` is false, a missing
    // `priority` 0.
    let enabled = match f.get("enabled") {
        Some(e) => cx.bool(e, "enabled")?,
        None => false,
    };
    let priority = match f.get("priority") {
        Some(p) => {
            let t = cx.str(p, "priority")?;
            match t.parse::<i64>() {
                Ok(n) if (0..=i64::from(i32::MAX)).contains(&n) => n,
                _ => {
                    cx.err(p, format!("priority `{t}` is not a whole number from 0"));
                    return None;
                }
            }
        }
        None => 0,
    };
    let Some(b) = f.get("basicProfile") else {
        cx.err(node, "a rule without basicProfile (ALLOW or DENY)");
        return None;
    };
    let action = match cx.str(b, "basicProfile")? {
        "ALLOW" => Action::Allow,
        "DENY" => Action::Deny,
        other => {
            cx.err(b, format!("basicProfile `{other}`; expected ALLOW or DENY"));
            return None;
        }
    };
    if let Some(t) = f.get("tlsInspectionEnabled") {
        cx.bool(t, "tlsInspectionEnabled")?;
    }
    let Some(matcher) = f.get("sessionMatcher") else {
        cx.err(node, "a rule without sessionMatcher");
        return None;
    };
    if !enabled {
        // Not enforced: read (so that its errors are found) but not applied.
        let at = f.key("enabled").unwrap_or(node);
        cx.warn(
            at,
            format!("{label} is not enabled (`enabled` is false or missing): not applied"),
        );
    }
    Some(Rule {
        label,
        obj,
        priority: if enabled { priority } else { -1 },
        action,
        matcher,
        app: f.get("applicationMatcher"),
        node,
    })
}

fn l7_message(allow: bool, what: &str) -> String {
    if allow {
        format!(
            "{what}: HTTP request data hostgate does not see (and, for HTTPS, only with TLS \
             inspection); this ALLOW is read as if it did not hold"
        )
    } else {
        format!(
            "{what}: HTTP request data hostgate does not see (and, for HTTPS, only with TLS \
             inspection); this DENY is read as if it held"
        )
    }
}

fn l7_offsets(f: &Formula, out: &mut Vec<usize>) {
    match f {
        Formula::Atom(Atom::L7, at, _) => out.push(*at),
        Formula::Not(x) => l7_offsets(x, out),
        Formula::And(a, b) | Formula::Or(a, b) => {
            l7_offsets(a, out);
            l7_offsets(b, out);
        }
        _ => {}
    }
}

/// The formula with each L7 test replaced by the value that keeps the rule on the safe side
/// (an ALLOW holds for fewer queries, a DENY for more): `value` where the test is not
/// negated, its opposite where it is.
fn substitute_l7(f: Formula, value: bool) -> Formula {
    fn go(f: Formula, value: bool, neg: bool) -> Formula {
        match f {
            Formula::Atom(Atom::L7, _, _) => Formula::Const(value != neg),
            Formula::Not(x) => Formula::Not(Box::new(go(*x, value, !neg))),
            Formula::And(a, b) => {
                Formula::And(Box::new(go(*a, value, neg)), Box::new(go(*b, value, neg)))
            }
            Formula::Or(a, b) => {
                Formula::Or(Box::new(go(*a, value, neg)), Box::new(go(*b, value, neg)))
            }
            other => other,
        }
    }
    go(f, value, false)
}

fn mentioned_ports(f: &Formula, out: &mut Vec<u16>) {
    match f {
        Formula::Atom(Atom::Port(n), _, _) => {
            if let Ok(p) = u16::try_from(*n) {
                if p > 0 {
                    out.push(p);
                }
            }
        }
        Formula::Not(x) => mentioned_ports(x, out),
        Formula::And(a, b) | Formula::Or(a, b) => {
            mentioned_ports(a, out);
            mentioned_ports(b, out);
        }
        _ => {}
    }
}

/// Where an offset of a matcher is, for diagnostics and rule sources.
struct Located<'a> {
    object: &'a Object<'a>,
    node: &'a Node,
    expr: &'a str,
}

impl Located<'_> {
    fn pos(&self, offset: usize) -> Pos {
        let (line, column) = self.object.locate(self.node, self.expr, offset);
        Pos {
            file: self.object.file.to_string(),
            line,
            column,
        }
    }
}

/// A conjunction's rules: patterns with the action of its rule, on `ports`, after the
/// excepted names.
struct Conj {
    patterns: Vec<(String, Pos)>,
    ports: Vec<(u16, u16)>,
    except: Vec<(String, Pos)>,
}

/// Whether `s` can be a normalized host name: 1–253 bytes, labels of `[a-z0-9_-]`.
fn host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-')
                })
        })
}

fn ip_literal(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
        || s.strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .is_some_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok())
}

/// Whether a string test can hold for some normalized host name: its text is of the name
/// alphabet and not longer than a name.
fn name_text(s: &str) -> bool {
    s.len() <= 253
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        })
}

/// A literal's string, if it is a string test.
fn test_text(t: &HostTest) -> Option<&str> {
    match t {
        HostTest::Eq(s)
        | HostTest::EndsWith(s)
        | HostTest::StartsWith(s)
        | HostTest::Contains(s) => Some(s),
        HostTest::Matches(_) | HostTest::UrlList(_) => None,
    }
}

fn escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    out
}

fn class_not(c: char) -> String {
    format!("[^{}]", escape(&c.to_string()))
}

/// The hostgate patterns of a host test that holds, each with a warning if it is a regex.
fn patterns(t: &HostTest, lists: &HashMap<String, UrlList>) -> Result<Vec<Translated>, String> {
    let character = |what: &str, re: String| {
        Ok(vec![(
            format!("~{re}"),
            Some(format!(
                "{what} is a test on the characters of the host, not on its labels: read as \
                 the regex `~{re}`"
            )),
            None,
        )])
    };
    match t {
        HostTest::Eq(x) => Ok(vec![(x.clone(), None, None)]),
        HostTest::EndsWith(s) => match s.strip_prefix('.') {
            Some(rest) if host_name(rest) => Ok(vec![(format!("**.{rest}"), None, None)]),
            _ => character(&format!("endsWith('{s}')"), format!(".*{}", escape(s))),
        },
        HostTest::StartsWith(s) => {
            character(&format!("startsWith('{s}')"), format!("{}.*", escape(s)))
        }
        HostTest::Contains(s) => {
            character(&format!("contains('{s}')"), format!(".*{}.*", escape(s)))
        }
        HostTest::Matches(re) => {
            let pattern = format!("~.*(?:{re}).*");
            Ok(vec![(
                pattern.clone(),
                Some(format!(
                    "matches() is read as an unanchored RE2 search, the regex `{pattern}` on the \
                     lower-case host (CEL's definition; Secure Web Proxy does not document it)"
                )),
                None,
            )])
        }
        HostTest::UrlList(name) => match lists.get(name) {
            Some(l) => Ok(l
                .patterns
                .iter()
                .map(|(p, pos)| (p.clone(), None, Some(pos.clone())))
                .collect()),
            None => Err(format!("URL list `{name}` is not among the inputs")),
        },
    }
}

/// The regexes of the names for which a string test does not hold (`==`, `endsWith`,
/// `startsWith`), or `None` for the tests whose complement is not written here.
fn complement_patterns(t: &HostTest) -> Option<Vec<String>> {
    let chars: Vec<char> = match t {
        HostTest::Eq(s) | HostTest::EndsWith(s) | HostTest::StartsWith(s) => s.chars().collect(),
        _ => return None,
    };
    let n = chars.len();
    let text = |cs: &[char]| escape(&cs.iter().collect::<String>());
    let mut out = Vec::new();
    match t {
        HostTest::Eq(x) => {
            // Differs at position i, is a proper prefix, or is longer.
            for i in 0..n {
                out.push(format!("~{}{}.*", text(&chars[..i]), class_not(chars[i])));
                if i > 0 && host_name(&chars[..i].iter().collect::<String>()) {
                    out.push(chars[..i].iter().collect());
                }
            }
            out.push(format!("~{}.+", escape(x)));
        }
        HostTest::EndsWith(_) => {
            if n > 1 {
                out.push(format!("~.{{0,{}}}", n - 1));
            }
            for k in 0..n {
                out.push(format!(
                    "~.*{}{}",
                    class_not(chars[n - 1 - k]),
                    text(&chars[n - k..])
                ));
            }
        }
        _ => {
            if n > 1 {
                out.push(format!("~.{{0,{}}}", n - 1));
            }
            for k in 0..n {
                out.push(format!("~{}{}.*", text(&chars[..k]), class_not(chars[k])));
            }
        }
    }
    Some(out)
}

/// Resolves one conjunction of a matcher: `None` after an error, `Some(None)` if it can never
/// hold.
fn conjunction(
    cx: &mut Cx,
    at: &Located<'_>,
    term: &[Lit],
    lists: &HashMap<String, UrlList>,
    eval: &mut Eval,
) -> Option<Option<Conj>> {
    let mut port_set: Vec<(u16, u16)> = vec![(1, u16::MAX)];
    let mut host: Vec<&Lit> = Vec::new();
    for lit in term {
        match &lit.atom {
            Atom::Port(n) => {
                let one = u16::try_from(*n).ok().filter(|&p| p > 0);
                let this = match one {
                    Some(p) => vec![(p, p)],
                    None => Vec::new(),
                };
                port_set = if lit.negated {
                    intersect(&port_set, &complement_ranges(&this))
                } else {
                    intersect(&port_set, &this)
                };
            }
            Atom::Host(t) => {
                if let Some(s) = test_text(t) {
                    if s.bytes().any(|b| b.is_ascii_uppercase()) {
                        let p = at.pos(lit.arg_at);
                        cx.err_at(
                            p.line,
                            p.column,
                            format!(
                                "`{s}` has upper-case letters: whether Secure Web Proxy compares \
                                 host() without case is not documented, and hostgate checks the \
                                 lower-case name; write it in lower case"
                            ),
                        );
                        return None;
                    }
                    if matches!(t, HostTest::Eq(_)) && ip_literal(s) {
                        let p = at.pos(lit.arg_at);
                        cx.err_at(
                            p.line,
                            p.column,
                            format!(
                                "`{s}` is an IP address: hostgate's rules here decide by name \
                                 (an IP host is denied)"
                            ),
                        );
                        return None;
                    }
                    let holds_somewhere = match t {
                        HostTest::Eq(_) => host_name(s),
                        _ => name_text(s),
                    };
                    if !holds_somewhere {
                        // No host name passes this test: the literal is false (true negated).
                        let p = at.pos(lit.arg_at);
                        cx.warn_at(
                            p.line,
                            p.column,
                            format!("`{s}` is never part of a host name: this test never holds"),
                        );
                        if lit.negated {
                            continue;
                        }
                        return Some(None);
                    }
                    if s.is_empty() {
                        // endsWith(''), startsWith(''), contains(''): always true.
                        if lit.negated {
                            return Some(None);
                        }
                        continue;
                    }
                }
                host.push(lit);
            }
            Atom::L7 => {}
        }
    }
    if port_set.is_empty() {
        return Some(None);
    }
    // Equal literals once.
    let mut unique: Vec<&Lit> = Vec::new();
    for l in host {
        if !unique
            .iter()
            .any(|u| u.atom == l.atom && u.negated == l.negated)
        {
            unique.push(l);
        }
    }
    let mut host = unique;
    // A positive `==` decides every other test by evaluation.
    if let Some(eq) = host
        .iter()
        .find(|l| !l.negated && matches!(l.atom, Atom::Host(HostTest::Eq(_))))
    {
        let Atom::Host(HostTest::Eq(x)) = &eq.atom else {
            return Some(None);
        };
        for l in &host {
            let Atom::Host(t) = &l.atom else { continue };
            if eval.host(t, x, lists) == l.negated {
                return Some(None);
            }
        }
        return Some(Some(Conj {
            patterns: vec![(x.clone(), at.pos(eq.arg_at))],
            ports: port_set,
            except: Vec::new(),
        }));
    }
    // `host() != 'x'` beside another test: `x` is an exception.
    let mut except: Vec<(String, Pos)> = Vec::new();
    if host.len() > 1 {
        let (neq, rest): (Vec<&Lit>, Vec<&Lit>) = host
            .iter()
            .partition(|l| l.negated && matches!(l.atom, Atom::Host(HostTest::Eq(_))));
        let keep = if rest.is_empty() {
            // Only exceptions: the last one is the term's own test (its complement).
            neq.last().copied().into_iter().collect::<Vec<_>>()
        } else {
            rest
        };
        for l in &neq {
            if keep.iter().any(|k| std::ptr::eq(*k, *l)) {
                continue;
            }
            let Atom::Host(HostTest::Eq(x)) = &l.atom else {
                continue;
            };
            // Only names the other tests let through need their own verdict.
            let passes = keep.iter().all(|k| match &k.atom {
                Atom::Host(t) => eval.host(t, x, lists) != k.negated,
                _ => true,
            });
            if passes {
                except.push((x.clone(), at.pos(l.arg_at)));
            }
        }
        host = keep;
    }
    if host.len() > 1 {
        let p = at.pos(host[1].at);
        cx.err_at(
            p.line,
            p.column,
            "two host tests joined by && (other than `host() != 'x'`) cannot be kept exactly \
             by hostgate rules, which test one pattern each",
        );
        return None;
    }
    let Some(lit) = host.first() else {
        let p = at.pos(term.first().map_or(0, |l| l.at));
        return Some(Some(Conj {
            patterns: vec![("*".into(), p)],
            ports: port_set,
            except,
        }));
    };
    let Atom::Host(t) = &lit.atom else {
        return Some(None);
    };
    let pos = at.pos(lit.arg_at);
    let mut out = Vec::new();
    if lit.negated {
        let Some(regexes) = complement_patterns(t) else {
            cx.err_at(
                pos.line,
                pos.column,
                "a negated contains(), matches() or inUrlList() cannot be kept exactly by \
                 hostgate rules",
            );
            return None;
        };
        // Some of them may match no valid name (a label or name at its length limit): hostgate
        // refuses those, and leaving them out keeps the meaning.
        let keep: Vec<String> = if eval.compiles(&regexes) {
            regexes
        } else {
            regexes
                .into_iter()
                .filter(|re| eval.compiles(std::slice::from_ref(re)))
                .collect()
        };
        out.extend(keep.into_iter().map(|re| (re, pos.clone())));
    } else {
        match patterns(t, lists) {
            Ok(ps) => {
                for (p, warning, entry) in ps {
                    if let Some(w) = warning {
                        cx.warn_at(pos.line, pos.column, w);
                    }
                    out.push((p, entry.unwrap_or_else(|| pos.clone())));
                }
            }
            Err(why) => {
                cx.err_at(pos.line, pos.column, why);
                return None;
            }
        }
    }
    Some(Some(Conj {
        patterns: out,
        ports: port_set,
        except,
    }))
}

/// The verdict the rules from `rules[0]` on give a name on a port.
fn decide(
    rules: &[Ready<'_>],
    name: &str,
    port: u16,
    lists: &HashMap<String, UrlList>,
    eval: &mut Eval,
) -> Action {
    for r in rules {
        if eval.formula(&r.formula, name, port, lists) {
            return r.rule.action;
        }
    }
    Action::Deny
}

/// Evaluates host tests on one name, with the engine for the tests that are patterns.
#[derive(Default)]
struct Eval {
    engines: HashMap<Vec<String>, Option<(Engine, PolicyId)>>,
}

impl Eval {
    fn matches(&mut self, patterns: Vec<String>, name: &str) -> bool {
        let entry = self.engines.entry(patterns).or_insert_with_key(|ps| {
            let mut policy = PolicySpec::new("p").default_action(Action::Deny);
            for p in ps {
                policy = policy.rule(RuleSpec::new(Action::Allow, p.clone()));
            }
            let engine = EngineBuilder::new().policy(policy).build().ok()?;
            let id = engine.policy("p")?;
            Some((engine, id))
        });
        match entry {
            Some((engine, id)) => engine.check(*id, &Query::new(name)).is_allow(),
            None => false,
        }
    }

    /// Whether the patterns build (a regex that matches no valid name does not).
    fn compiles(&mut self, patterns: &[String]) -> bool {
        let key = patterns.to_vec();
        self.matches(key.clone(), "a");
        self.engines.get(&key).is_some_and(Option::is_some)
    }

    fn host(&mut self, t: &HostTest, name: &str, lists: &HashMap<String, UrlList>) -> bool {
        match t {
            HostTest::Eq(s) => name == s,
            HostTest::EndsWith(s) => name.ends_with(s.as_str()),
            HostTest::StartsWith(s) => name.starts_with(s.as_str()),
            HostTest::Contains(s) => name.contains(s.as_str()),
            HostTest::Matches(re) => self.matches(vec![format!("~.*(?:{re}).*")], name),
            HostTest::UrlList(u) => match lists.get(u) {
                Some(l) => self.matches(l.patterns.iter().map(|(p, _)| p.clone()).collect(), name),
                None => false,
            },
        }
    }

    fn formula(
        &mut self,
        f: &Formula,
        name: &str,
        port: u16,
        lists: &HashMap<String, UrlList>,
    ) -> bool {
        match f {
            Formula::Const(b) => *b,
            Formula::Atom(Atom::Host(t), _, _) => self.host(t, name, lists),
            Formula::Atom(Atom::Port(n), _, _) => i64::from(port) == *n,
            // Replaced before evaluation.
            Formula::Atom(Atom::L7, _, _) => false,
            Formula::Not(x) => !self.formula(x, name, port, lists),
            Formula::And(a, b) => {
                self.formula(a, name, port, lists) && self.formula(b, name, port, lists)
            }
            Formula::Or(a, b) => {
                self.formula(a, name, port, lists) || self.formula(b, name, port, lists)
            }
        }
    }
}

/// A URL list value as a hostgate pattern, with a warning if part of it is not checked.
fn url_entry(t: &str) -> Result<(String, Option<String>), String> {
    if t.contains("://") {
        return Err("a scheme: URL list values are written without one".into());
    }
    let (host, warning) = match t.split_once('/') {
        Some((h, _)) => (
            h,
            Some(format!(
                "`{t}` has a path: against host() only its host `{h}` counts, so every path of \
                 it matches"
            )),
        ),
        None => (t, None),
    };
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(
            "upper-case letters: whether Secure Web Proxy compares hosts without case \
                    is not documented; write it in lower case"
                .into(),
        );
    }
    if host.contains(':') {
        return Err("a port: URL list values name hosts".into());
    }
    let (pattern, body) = match host.strip_prefix('*') {
        Some(rest) if rest.starts_with('.') => (format!("**{rest}"), &rest[1..]),
        Some(rest) => (format!(".{rest}"), rest),
        None => (host.to_string(), host),
    };
    if body.contains('*') || body.is_empty() {
        return Err("`*` is allowed only as the first character, before a host name".into());
    }
    if !host_name(body) {
        return Err("not a host name (letters, digits, `-` and `_` in labels between dots)".into());
    }
    Ok((pattern, warning))
}

/// Sorted ranges with touching ones joined.
fn merge(mut set: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    set.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for (a, b) in set {
        match out.last_mut() {
            Some((_, hi)) if u32::from(*hi) + 1 >= u32::from(a) => *hi = (*hi).max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Inclusive port ranges from sorted or unsorted ports.
fn ranges(ports: &[u16]) -> Vec<(u16, u16)> {
    let mut ps = ports.to_vec();
    ps.sort_unstable();
    ps.dedup();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for p in ps {
        match out.last_mut() {
            Some((_, b)) if b.checked_add(1) == Some(p) => *b = p,
            _ => out.push((p, p)),
        }
    }
    out
}

fn intersect(a: &[(u16, u16)], b: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    for &(a0, a1) in a {
        for &(b0, b1) in b {
            let lo = a0.max(b0);
            let hi = a1.min(b1);
            if lo <= hi {
                out.push((lo, hi));
            }
        }
    }
    out.sort_unstable();
    out
}

/// Ports 1–65535 outside the sorted, disjoint `set`.
fn complement_ranges(set: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let mut next: u32 = 1;
    for &(a, b) in set {
        if u32::from(a) > next {
            out.push((next as u16, a - 1));
        }
        next = next.max(u32::from(b) + 1);
    }
    if next <= u32::from(u16::MAX) {
        out.push((next as u16, u16::MAX));
    }
    out
}

fn complement(ports: &[u16]) -> Vec<(u16, u16)> {
    complement_ranges(&ranges(ports))
}

fn first_port(set: &[(u16, u16)]) -> Option<u16> {
    set.first().map(|&(a, _)| a)
}

/// The file position of byte `offset` of a scalar's value: the value's characters are found
/// in order in the text from the node on (quotes, escapes, indentation and folded line breaks
/// are skipped); where they cannot be found, the position is counted from the node.
fn locate(text: &str, node: &Node, value: &str, offset: usize) -> (u32, u32) {
    let fallback = {
        let chars = value.get(..offset).map_or(0, |v| v.chars().count());
        (
            node.line,
            node.column
                .saturating_add(u32::try_from(chars).unwrap_or(u32::MAX)),
        )
    };
    let mut start = None;
    let mut line = 1u32;
    let mut line_start = 0usize;
    for (i, c) in text.char_indices() {
        if line == node.line {
            start = text[line_start..]
                .char_indices()
                .nth(node.column.saturating_sub(1) as usize)
                .map(|(j, _)| line_start + j);
            break;
        }
        if c == '\n' {
            line += 1;
            line_start = i + 1;
        }
    }
    if line == node.line && start.is_none() && line_start <= text.len() {
        start = text[line_start..]
            .char_indices()
            .nth(node.column.saturating_sub(1) as usize)
            .map(|(j, _)| line_start + j);
    }
    let Some(mut p) = start else {
        return fallback;
    };
    let target = value.get(..offset).map_or(0, |v| v.chars().count());
    for (n, vc) in value.chars().enumerate() {
        // Look a little ahead for the character (past a quote, an escape, a line break and
        // its indentation).
        let found = text[p..]
            .char_indices()
            .take(24)
            .find(|&(_, c)| c == vc || (vc == ' ' && c == '\n'))
            .map(|(j, _)| p + j);
        let Some(q) = found else {
            return fallback;
        };
        if n == target {
            p = q;
            break;
        }
        p = q + text[q..].chars().next().map_or(1, char::len_utf8);
    }
    let before = &text[..p];
    let l = before.matches('\n').count() + 1;
    let ls = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text[ls..p].chars().count() + 1;
    (
        u32::try_from(l).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_entries() {
        assert_eq!(url_entry("example.com").unwrap().0, "example.com");
        assert_eq!(url_entry("*example.com").unwrap().0, ".example.com");
        assert_eq!(url_entry("*.example.com").unwrap().0, "**.example.com");
        assert_eq!(
            url_entry("*server.example.com").unwrap().0,
            ".server.example.com"
        );
        let (p, w) = url_entry("github.com/example-org/*").unwrap();
        assert_eq!(p, "github.com");
        assert!(w.unwrap().contains("every path"));
        assert!(url_entry("*").is_err());
        assert!(url_entry("a.*.com").is_err());
        assert!(url_entry("https://a.com").is_err());
        assert!(url_entry("A.com").is_err());
    }

    #[test]
    fn ports() {
        assert_eq!(complement(&[80, 443]), [(1, 79), (81, 442), (444, 65535)]);
        assert_eq!(complement(&[1, 65535]), [(2, 65534)]);
        assert_eq!(ranges(&[3, 1, 2, 5]), [(1, 3), (5, 5)]);
        assert_eq!(intersect(&[(1, 10)], &[(5, 20), (30, 40)]), [(5, 10)]);
    }

    #[test]
    fn positions_in_quoted_scalars() {
        let text = "a:\n  m: 'host() == ''x.io'' && y'\n";
        let roots = yaml::parse(text).unwrap();
        let Value::Map(m) = &roots[0].value else {
            panic!()
        };
        let Value::Map(inner) = &m[0].1.value else {
            panic!()
        };
        let node = &inner[0].1;
        let Value::Scalar { text: v, .. } = &node.value else {
            panic!()
        };
        let off = v.find("x.io").unwrap();
        assert_eq!(locate(text, node, v, off), (2, 19));
        assert_eq!(locate(text, node, v, 0), (2, 7));
        let block = "m: |\n  host() ==\n    'a'\n";
        let roots = yaml::parse(block).unwrap();
        let Value::Map(m) = &roots[0].value else {
            panic!()
        };
        let node = &m[0].1;
        let Value::Scalar { text: v, .. } = &node.value else {
            panic!()
        };
        assert_eq!(locate(block, node, v, v.find('\'').unwrap()), (3, 5));
    }

    #[test]
    fn complements_are_exact_on_short_names() {
        let mut eval = Eval::default();
        let alphabet = ["a", "x", ".", "-"];
        let mut names = vec![String::new()];
        for _ in 0..4 {
            let more: Vec<String> = names
                .iter()
                .flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}")))
                .collect();
            names.extend(more);
        }
        names.retain(|n| host_name(n));
        names.sort();
        names.dedup();
        for t in [
            HostTest::Eq("a.x".into()),
            HostTest::EndsWith(".x".into()),
            HostTest::StartsWith("a-".into()),
        ] {
            let c: Vec<String> = complement_patterns(&t)
                .unwrap()
                .into_iter()
                .filter(|p| eval.compiles(std::slice::from_ref(p)))
                .collect();
            for n in &names {
                let lists = HashMap::new();
                assert_eq!(
                    eval.matches(c.clone(), n),
                    !eval.host(&t, n, &lists),
                    "{t:?} {n}"
                );
            }
        }
    }
}
