//! Calico (Enterprise / Cloud) `NetworkPolicy` and `GlobalNetworkPolicy`
//! (`projectcalico.org/v3`) egress rules with `destination.domains`, `NetworkSet` /
//! `GlobalNetworkSet` `allowedEgressDomains` and `nets` picked by a destination selector, and
//! `Tier` objects.
//!
//! Flattened into one first-match policy, `default allow`: tiers by `order`, policies by
//! `order` then name, rules in order. A tier that has a policy for the workload ends in its
//! `defaultAction` (Deny unless Pass): `deny *` and every address. A `Pass` goes to the next
//! tier: one that covers everything ends its tier there; a narrower one is replaced by the
//! later tiers' rules restricted to what it covers, then an allow of what it covers.

use std::collections::BTreeMap;

use hostgate::{Action, Via};

use crate::anp::{cidr, pass_to, rule_specs, Atom, CONNECTION};
use crate::kube::{checked, port_number, Cx, Object};
use crate::yaml::{self, Node, Value};
use crate::{Options, RuleSource, Workload};

const API: &str = "projectcalico.org/v3";
const KINDS: &[&str] = &[
    "NetworkPolicy",
    "GlobalNetworkPolicy",
    "NetworkSet",
    "GlobalNetworkSet",
    "Tier",
];
/// Calico's order for the `default` tier.
const DEFAULT_TIER_ORDER: f64 = 1_000_000.0;
const EVERYTHING: &[&str] = &["*", "0.0.0.0/0", "::/0"];

pub(crate) fn check_kind(api: &str, kind: &str) -> Result<(), String> {
    if !KINDS.contains(&kind) {
        return Err(format!(
            "kind `{kind}` is not a Calico policy object; expected {}",
            KINDS.join(", ")
        ));
    }
    if api != API {
        return Err(format!("apiVersion `{api}`: {kind} is read as `{API}`"));
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verb {
    Allow,
    Deny,
    Pass,
}

struct Rule {
    verb: Verb,
    atoms: Vec<Atom>,
    covers_all: bool,
}

struct Policy {
    tier: String,
    /// `None`: no order, after every ordered policy.
    order: Option<f64>,
    name: String,
    rules: Vec<Rule>,
    /// Where the tier's closing deny is attributed: the policy's `egress` (or `types`).
    end: RuleSource,
}

struct Tier {
    order: Option<f64>,
    pass: bool,
}

/// A network set: its namespace (`None`: global), labels, domains and CIDRs.
struct Set {
    namespace: Option<String>,
    labels: BTreeMap<String, String>,
    domains: Vec<(String, Node)>,
    nets: Vec<(String, Node)>,
}

/// The format's reader.
pub(crate) fn import(
    cx: &mut Cx,
    files: &[(&str, &[u8])],
    objects: &[Object],
    options: &Options,
) -> crate::Read {
    let workload = options.workload.as_ref();
    let mut out = crate::Read::new(Action::Allow);
    out.precedence = hostgate::Precedence::FirstMatch;
    out.applies = workload.is_none();
    // Tiers and network sets first: policies refer to them.
    let mut tiers: BTreeMap<String, Tier> = BTreeMap::new();
    let mut sets = Vec::new();
    for object in objects {
        cx.file = files[object.file_index].0.to_string();
        match object.kind.as_str() {
            "Tier" => {
                if let Some(t) = read_tier(cx, object) {
                    tiers.insert(object.name.clone(), t);
                }
            }
            "NetworkSet" | "GlobalNetworkSet" => {
                if let Some(s) = read_set(cx, object) {
                    sets.push(s);
                }
            }
            _ => {}
        }
    }
    let mut policies = Vec::new();
    let mut dns_warned = false;
    for object in objects {
        if !object.kind.ends_with("NetworkPolicy") {
            continue;
        }
        cx.file = files[object.file_index].0.to_string();
        if let Some(p) = read_policy(cx, object, workload, &sets, &tiers, &mut dns_warned) {
            out.applies = true;
            policies.push(p);
        }
    }
    // Tiers by order (no order: last; the default tier's is 1 000 000), then name.
    let key = |o: Option<f64>| o.unwrap_or(f64::INFINITY);
    let tier_order = |name: &str| {
        let given = tiers.get(name).and_then(|t| t.order);
        given.or((name == "default").then_some(DEFAULT_TIER_ORDER))
    };
    let mut tier_names: Vec<&String> = policies.iter().map(|p| &p.tier).collect();
    tier_names.sort_by(|a, b| {
        key(tier_order(a))
            .total_cmp(&key(tier_order(b)))
            .then_with(|| a.cmp(b))
    });
    tier_names.dedup();
    let mut ordered: Vec<(bool, Vec<&Policy>)> = Vec::new();
    for name in tier_names {
        let mut ps: Vec<&Policy> = policies.iter().filter(|p| &p.tier == name).collect();
        ps.sort_by(|a, b| {
            key(a.order)
                .total_cmp(&key(b.order))
                .then_with(|| a.name.cmp(&b.name))
        });
        let pass = tiers.get(name).is_some_and(|t| t.pass);
        ordered.push((pass, ps));
    }
    let flat = flatten(&ordered);
    let (rules, sources) = rule_specs(flat);
    out.rules = rules;
    out.sources = sources;
    out
}

/// The rules of tiers `tiers` in order, each deciding tier closed by its default action.
fn flatten(tiers: &[(bool, Vec<&Policy>)]) -> Vec<(Action, Atom)> {
    let Some(((pass_default, policies), rest)) = tiers.split_first() else {
        return Vec::new();
    };
    let later = flatten(rest);
    let mut out = Vec::new();
    let mut passed_all = false;
    'tier: for p in policies {
        for r in &p.rules {
            match r.verb {
                Verb::Allow => out.extend(r.atoms.iter().map(|a| (Action::Allow, a.clone()))),
                Verb::Deny => out.extend(r.atoms.iter().map(|a| (Action::Deny, a.clone()))),
                Verb::Pass if r.covers_all => {
                    passed_all = true;
                    break 'tier;
                }
                Verb::Pass => pass_to(&r.atoms, &later, &mut out),
            }
        }
    }
    if !passed_all && !pass_default {
        // The tier's end: what none of its policies decided is denied.
        if let Some(last) = policies.last() {
            for (i, p) in EVERYTHING.iter().enumerate() {
                out.push((
                    Action::Deny,
                    Atom {
                        pattern: p.to_string(),
                        ports: Vec::new(),
                        via: CONNECTION.to_vec(),
                        id: format!("tier/{}:end{i}", last.tier),
                        source: last.end.clone(),
                    },
                ));
            }
        }
    }
    out.extend(later);
    out
}

fn number(cx: &mut Cx, node: &Node, what: &str) -> Option<f64> {
    let text = cx.str(node, what)?;
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Some(n),
        _ => {
            cx.err(node, format!("{what} `{text}` is not a number"));
            None
        }
    }
}

fn read_tier(cx: &mut Cx, object: &Object) -> Option<Tier> {
    let top = cx.fields(
        &object.root,
        "Tier",
        &["apiVersion", "kind", "metadata", "spec", "status"],
    )?;
    let mut tier = Tier {
        order: None,
        pass: false,
    };
    let Some(spec) = top.get("spec") else {
        return Some(tier);
    };
    let s = cx.fields(spec, "Tier spec", &["order", "defaultAction"])?;
    if let Some(o) = s.get("order") {
        tier.order = Some(number(cx, o, "order")?);
    }
    if let Some(d) = s.get("defaultAction") {
        match cx.str(d, "defaultAction")? {
            "Deny" => {}
            "Pass" => tier.pass = true,
            other => {
                cx.err(d, format!("defaultAction `{other}`; expected Deny or Pass"));
                return None;
            }
        }
    }
    Some(tier)
}

fn labels(cx: &mut Cx, object: &Object) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Value::Map(entries) = &object.root.value else {
        return Some(out);
    };
    let meta = entries
        .iter()
        .find(|(k, _)| yaml::scalar(k) == Some("metadata"))
        .map(|(_, v)| v)?;
    let Value::Map(m) = &meta.value else {
        return Some(out);
    };
    let Some(l) = m
        .iter()
        .find(|(k, _)| yaml::scalar(k) == Some("labels"))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
    else {
        return Some(out);
    };
    let Value::Map(pairs) = &l.value else {
        cx.err(l, "metadata.labels must be a mapping");
        return None;
    };
    for (k, v) in pairs {
        let k = cx.str(k, "a label key")?.to_string();
        let v = if v.is_null() {
            String::new()
        } else {
            cx.str(v, "a label value")?.to_string()
        };
        out.insert(k, v);
    }
    Some(out)
}

fn read_set(cx: &mut Cx, object: &Object) -> Option<Set> {
    let top = cx.fields(
        &object.root,
        &object.kind,
        &["apiVersion", "kind", "metadata", "spec", "status"],
    )?;
    let labels = labels(cx, object)?;
    let mut set = Set {
        namespace: (object.kind == "NetworkSet")
            .then(|| object.namespace.clone().unwrap_or_else(|| "default".into())),
        labels,
        domains: Vec::new(),
        nets: Vec::new(),
    };
    let Some(spec) = top.get("spec") else {
        return Some(set);
    };
    let s = cx.fields(spec, "spec", &["nets", "allowedEgressDomains"])?;
    if let Some(d) = s.get("allowedEgressDomains") {
        for n in cx.list(d, "allowedEgressDomains").unwrap_or(&[]) {
            let p = cx.str(n, "a domain").and_then(|t| domain(cx, n, t))?;
            set.domains.push((p, n.clone()));
        }
    }
    if let Some(nets) = s.get("nets") {
        for n in cx.list(nets, "nets").unwrap_or(&[]) {
            let (p, _, _) = cx.str(n, "a CIDR").and_then(|t| cidr(cx, n, t))?;
            set.nets.push((p, n.clone()));
        }
    }
    Some(set)
}

/// A Calico domain: no `*` is exact; one `*` as a whole label is one or more labels at that
/// place. Two `*`, a `*` inside a label, and (undocumented) a trailing dot are refused.
pub(crate) fn domain(cx: &mut Cx, node: &Node, text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let labels: Vec<&str> = lower.split('.').collect();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let stars = labels.iter().filter(|l| **l == "*").count();
    if stars > 1 {
        cx.err(
            node,
            format!("domain `{text}`: Calico does not support two wildcards in one domain"),
        );
        return None;
    }
    if let Some(l) = labels.iter().find(|l| **l != "*" && !label_ok(l)) {
        let why = if l.contains('*') {
            "Calico supports `*` only as a whole label".to_string()
        } else if l.is_empty() {
            "empty label (a trailing dot's meaning is not documented)".to_string()
        } else {
            format!("label `{l}` is not a DNS label")
        };
        cx.err(node, format!("domain `{text}`: {why}"));
        return None;
    }
    let pattern = match labels.iter().position(|l| *l == "*") {
        None => lower.clone(),
        Some(_) if labels.len() == 1 => "*".to_string(),
        Some(0) => format!("**.{}", labels[1..].join(".")),
        Some(i) => {
            const MANY: &str = "[a-z0-9_-]+(?:\\.[a-z0-9_-]+)*";
            let esc = |ls: &[&str]| ls.join("\\.");
            let (before, after) = (esc(&labels[..i]), esc(&labels[i + 1..]));
            if after.is_empty() {
                format!("~{before}\\.{MANY}")
            } else {
                format!("~{before}\\.{MANY}\\.{after}")
            }
        }
    };
    checked(cx, node, pattern)
}

fn read_policy(
    cx: &mut Cx,
    object: &Object,
    workload: Option<&Workload>,
    sets: &[Set],
    tiers: &BTreeMap<String, Tier>,
    dns_warned: &mut bool,
) -> Option<Policy> {
    let global = object.kind == "GlobalNetworkPolicy";
    let top = cx.fields(
        &object.root,
        &object.kind,
        &["apiVersion", "kind", "metadata", "spec", "status"],
    )?;
    let Some(spec) = top.get("spec") else {
        cx.err(&object.root, format!("{} without `spec`", object.label()));
        return None;
    };
    let known: &[&str] = if global {
        &[
            "tier",
            "order",
            "selector",
            "namespaceSelector",
            "serviceAccountSelector",
            "types",
            "ingress",
            "egress",
            "doNotTrack",
            "preDNAT",
            "applyOnForward",
            "performanceHints",
        ]
    } else {
        &[
            "tier",
            "order",
            "selector",
            "serviceAccountSelector",
            "types",
            "ingress",
            "egress",
            "performanceHints",
        ]
    };
    let s = cx.fields(spec, "spec", known)?;
    for key in ["doNotTrack", "preDNAT", "applyOnForward"] {
        if let Some(v) = s.get(key) {
            if cx.bool(v, key)? {
                cx.err(v, format!("`{key}` is host endpoint policy: not read"));
                return None;
            }
        }
    }
    let tier = match s.get("tier") {
        Some(t) => cx.str(t, "tier")?.to_string(),
        None => "default".to_string(),
    };
    if tier != "default" && !tiers.contains_key(&tier) {
        cx.err(
            s.get("tier").unwrap_or(spec),
            format!("tier `{tier}` is not among the objects given: its order is unknown"),
        );
        return None;
    }
    let order = match s.get("order") {
        Some(o) => Some(number(cx, o, "order")?),
        None => None,
    };
    // `types`: absent means Ingress, plus Egress when there are egress rules.
    let egress_rules = s
        .get("egress")
        .map(|e| cx.list(e, "egress").map(<[Node]>::to_vec))
        .unwrap_or(Some(Vec::new()))?;
    let egress_type = match s.get("types") {
        Some(t) => {
            let mut egress = false;
            for v in cx.list(t, "types")? {
                match cx.str(v, "a type")? {
                    "Egress" => egress = true,
                    "Ingress" => {}
                    other => {
                        cx.err(v, format!("type `{other}`; expected Ingress or Egress"));
                        return None;
                    }
                }
            }
            egress
        }
        None => !egress_rules.is_empty(),
    };
    if let (Some(i), Some(k)) = (s.get("ingress"), s.key("ingress")) {
        if !cx.list(i, "ingress").unwrap_or(&[]).is_empty() {
            cx.warn(k, "`ingress` is about traffic to the workload: not read");
        }
    }
    if !egress_type {
        return None;
    }
    let namespace = object
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    if let Some(w) = workload {
        if !global && namespace != w.namespace {
            return None;
        }
        let mut pod = w.labels.clone();
        pod.insert("projectcalico.org/namespace".into(), w.namespace.clone());
        if let Some(sel) = s.get("selector") {
            let text = cx.str(sel, "selector")?;
            if !selector(cx, sel, text, &pod, false)? {
                return None;
            }
        }
        if let Some(sel) = s.get("namespaceSelector") {
            let text = cx.str(sel, "namespaceSelector")?;
            let mut ns = w.namespace_labels();
            ns.insert("projectcalico.org/name".into(), w.namespace.clone());
            if !selector(cx, sel, text, &ns, false)? {
                return None;
            }
        }
        if let Some(sel) = s.get("serviceAccountSelector") {
            cx.warn(
                sel,
                "serviceAccountSelector is not evaluated (the workload's service account is \
                 not known): taken to select",
            );
        }
    } else {
        for key in ["selector", "namespaceSelector"] {
            if let Some(sel) = s.get(key) {
                let text = cx.str(sel, key)?;
                selector(cx, sel, text, &BTreeMap::new(), false)?;
            }
        }
    }
    if !egress_rules.is_empty() && !*dns_warned {
        *dns_warned = true;
        cx.warn(
            s.key("egress").unwrap_or(spec),
            "Calico does not filter DNS questions by name: no rule is `via dns`, DNS questions \
             are allowed (rules about the DNS server's address are not reproduced)",
        );
    }
    let label = object.label();
    let mut counter = 0;
    let mut rules = Vec::new();
    for item in &egress_rules {
        let scope = Scope {
            global,
            namespace: &namespace,
            sets,
        };
        if let Some(r) = read_rule(cx, item, &label, &mut counter, &scope) {
            rules.push(r);
        }
    }
    let end_node = s.key("egress").or(s.key("types")).unwrap_or(spec);
    Some(Policy {
        tier,
        order,
        name: object.name.clone(),
        rules,
        end: RuleSource {
            file: cx.file.clone(),
            line: end_node.line,
            column: end_node.column,
            object: label,
        },
    })
}

struct Scope<'a> {
    global: bool,
    namespace: &'a str,
    sets: &'a [Set],
}

fn read_rule(
    cx: &mut Cx,
    item: &Node,
    label: &str,
    counter: &mut usize,
    scope: &Scope<'_>,
) -> Option<Rule> {
    let f = cx.fields(
        item,
        "an egress rule",
        &[
            "action",
            "protocol",
            "notProtocol",
            "icmp",
            "notICMP",
            "ipVersion",
            "source",
            "destination",
            "http",
            "metadata",
        ],
    )?;
    let Some(action) = f.get("action") else {
        cx.err(item, "an egress rule without `action`");
        return None;
    };
    let verb = match cx.str(action, "action")? {
        "Allow" => Verb::Allow,
        "Deny" => Verb::Deny,
        "Pass" => Verb::Pass,
        "Log" => {
            cx.warn(action, "Log does not decide: this rule is not reproduced");
            return None;
        }
        other => {
            cx.err(
                action,
                format!("action `{other}`; expected Allow, Deny, Pass or Log"),
            );
            return None;
        }
    };
    for key in ["notProtocol", "notICMP", "http", "source"] {
        if let Some(v) = f.get(key) {
            let empty = matches!(&v.value, Value::Map(m) if m.is_empty());
            if !empty {
                cx.err(v, format!("`{key}` in an egress rule is not read"));
                return None;
            }
        }
    }
    let via: &'static [Via] = match f.get("protocol") {
        None => CONNECTION,
        Some(p) => match cx.str(p, "protocol")? {
            "TCP" | "6" => CONNECTION,
            "UDP" | "17" => {
                cx.warn(
                    p,
                    "UDP: only QUIC (via tls, which hostgate cannot tell from TLS over TCP on \
                     the same port) is reproduced, other UDP traffic is not",
                );
                &[Via::Tls]
            }
            other => {
                cx.warn(
                    p,
                    format!("protocol `{other}` is not name-based: this rule is not reproduced"),
                );
                return None;
            }
        },
    };
    if let Some(v) = f.get("ipVersion") {
        cx.warn(
            v,
            "ipVersion: a name's addresses may be of either family; read as both",
        );
    }
    let mut targets: Vec<(String, Node)> = Vec::new();
    let mut ports = Vec::new();
    let mut covers_all = false;
    let dest_key = f.key("destination").unwrap_or(item).clone();
    match f.get("destination") {
        None => {
            covers_all = true;
        }
        Some(d) => {
            let df = cx.fields(
                d,
                "destination",
                &[
                    "nets",
                    "notNets",
                    "selector",
                    "notSelector",
                    "namespaceSelector",
                    "ports",
                    "notPorts",
                    "serviceAccounts",
                    "services",
                    "domains",
                ],
            )?;
            for key in ["notNets", "notSelector", "notPorts"] {
                if let Some(v) = df.get(key) {
                    cx.err(v, format!("`{key}` (a negative match) is not read"));
                    return None;
                }
            }
            for key in ["serviceAccounts", "services"] {
                if let (Some(_), Some(k)) = (df.get(key), df.key(key)) {
                    cx.warn(
                        k,
                        format!("`{key}` selects peers by address, not by name: not reproduced"),
                    );
                }
            }
            if let Some(p) = df.get("ports") {
                for n in cx.list(p, "ports")? {
                    let t = cx.str(n, "a port")?;
                    let range = match t.split_once(':') {
                        Some((a, b)) => port_number(a).zip(port_number(b)),
                        None => port_number(t).map(|n| (n, n)),
                    };
                    match range {
                        Some((a, b)) if a >= 1 && a <= b => ports.push((a, b)),
                        _ if t.bytes().any(|c| c.is_ascii_alphabetic()) && !t.contains(':') => {
                            cx.warn(
                                n,
                                format!(
                                    "named port `{t}`: the number is in the pod spec: not \
                                     reproduced"
                                ),
                            );
                        }
                        _ => {
                            cx.err(n, format!("port `{t}` is not a port or range in 1-65535"));
                            return None;
                        }
                    }
                }
                if ports.is_empty() {
                    return None;
                }
                if f.get("protocol").is_none() {
                    cx.err(p, "ports need a protocol (TCP, UDP, SCTP or UDPLite)");
                    return None;
                }
            }
            let domains = df.get("domains");
            if let Some(dn) = domains {
                if verb != Verb::Allow {
                    cx.err(
                        dn,
                        "domains in a rule whose action is not Allow: Calico allows domains only in Allow rules",
                    );
                    return None;
                }
                if df.get("nets").is_some() || df.get("selector").is_some() {
                    cx.err(
                        dn,
                        "domains together with nets or selector: Calico requires those empty",
                    );
                    return None;
                }
                for n in cx.list(dn, "domains")? {
                    let p = cx.str(n, "a domain").and_then(|t| domain(cx, n, t))?;
                    targets.push((p, n.clone()));
                }
            }
            if let Some(nets) = df.get("nets") {
                let list = cx.list(nets, "nets")?;
                for n in list {
                    let (p, _, _) = cx.str(n, "a CIDR").and_then(|t| cidr(cx, n, t))?;
                    targets.push((p, n.clone()));
                }
                if !list.is_empty() {
                    cx.warn(
                        &list[0],
                        "names whose addresses are in these nets are not matched by name: \
                         only IP addresses are",
                    );
                }
            }
            if let Some(sel) = df.get("selector") {
                let text = cx.str(sel, "selector")?.to_string();
                let ns_sel = match df.get("namespaceSelector") {
                    Some(n) => Some((n, cx.str(n, "namespaceSelector")?.to_string())),
                    None => None,
                };
                cx.warn(
                    sel,
                    "a destination selector also selects workload and host endpoints, by \
                     address: only the network sets given are reproduced",
                );
                for set in scope.sets {
                    let in_scope = match (&ns_sel, &set.namespace) {
                        (Some((n, t)), ns) => {
                            let mut l = BTreeMap::new();
                            if let Some(ns) = ns {
                                l.insert("projectcalico.org/name".to_string(), ns.clone());
                            }
                            selector(cx, n, t, &l, ns.is_none())?
                        }
                        (None, Some(ns)) => scope.global || ns == scope.namespace,
                        (None, None) => scope.global,
                    };
                    if !in_scope || !selector(cx, sel, &text, &set.labels, false)? {
                        continue;
                    }
                    if !set.domains.is_empty() && verb != Verb::Allow {
                        cx.err(
                            sel,
                            "this selector picks a network set with allowedEgressDomains in a \
                             rule whose action is not Allow: domains are only for Allow rules",
                        );
                        return None;
                    }
                    targets.extend(set.domains.iter().cloned());
                    targets.extend(set.nets.iter().cloned());
                }
            } else if df.get("namespaceSelector").is_some() {
                cx.warn(
                    df.key("namespaceSelector").unwrap_or(d),
                    "namespaceSelector without selector selects workloads by address: not \
                     reproduced",
                );
            }
            let has_peer = [
                "domains",
                "nets",
                "selector",
                "namespaceSelector",
                "serviceAccounts",
                "services",
            ]
            .iter()
            .any(|k| df.get(k).is_some());
            if !has_peer {
                covers_all = true;
            }
        }
    }
    if covers_all {
        for p in EVERYTHING {
            targets.push((p.to_string(), dest_key.clone()));
        }
    }
    let mut atoms = Vec::new();
    for (pattern, node) in targets {
        atoms.push(Atom {
            pattern,
            ports: ports.clone(),
            via: via.to_vec(),
            id: format!("{label}:{counter}"),
            source: RuleSource {
                file: cx.file.clone(),
                line: node.line,
                column: node.column,
                object: label.to_string(),
            },
        });
        *counter += 1;
    }
    Some(Rule {
        verb,
        atoms,
        covers_all: covers_all && ports.is_empty() && via == CONNECTION,
    })
}

/// Evaluates a Calico selector expression on `labels` (`global`: the resource is not
/// namespaced, for `global()`); an error at `node` when it does not parse.
fn selector(
    cx: &mut Cx,
    node: &Node,
    text: &str,
    labels: &BTreeMap<String, String>,
    global: bool,
) -> Option<bool> {
    let mut p = Sel {
        s: text.as_bytes(),
        i: 0,
        labels,
        global,
    };
    let r = p.or().and_then(|v| {
        p.ws();
        if p.i == p.s.len() {
            Ok(v)
        } else {
            Err(format!("unexpected `{}`", &text[p.i..]))
        }
    });
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            cx.err(node, format!("selector `{text}`: {e}"));
            None
        }
    }
}

struct Sel<'a> {
    s: &'a [u8],
    i: usize,
    labels: &'a BTreeMap<String, String>,
    global: bool,
}

impl Sel<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, t: &str) -> bool {
        self.ws();
        if self.s[self.i..].starts_with(t.as_bytes()) {
            self.i += t.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<bool, String> {
        let mut v = self.and()?;
        while self.eat("||") {
            v |= self.and()?;
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut v = self.not()?;
        while self.eat("&&") {
            v &= self.not()?;
        }
        Ok(v)
    }

    fn not(&mut self) -> Result<bool, String> {
        if self.eat("!") {
            return Ok(!self.not()?);
        }
        self.primary()
    }

    fn key(&mut self) -> Result<String, String> {
        self.ws();
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-'))
        {
            self.i += 1;
        }
        if start == self.i {
            return Err("expected a label key".into());
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn string(&mut self) -> Result<String, String> {
        self.ws();
        let q = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err("expected a quoted value".into()),
        };
        let start = self.i + 1;
        let Some(len) = self.s[start..].iter().position(|&c| c == q) else {
            return Err("unterminated string".into());
        };
        self.i = start + len + 1;
        Ok(String::from_utf8_lossy(&self.s[start..start + len]).into_owned())
    }

    fn set(&mut self) -> Result<Vec<String>, String> {
        if !self.eat("{") {
            return Err("expected `{`".into());
        }
        let mut out = Vec::new();
        if self.eat("}") {
            return Ok(out);
        }
        loop {
            out.push(self.string()?);
            if self.eat("}") {
                return Ok(out);
            }
            if !self.eat(",") {
                return Err("expected `,` or `}`".into());
            }
        }
    }

    fn primary(&mut self) -> Result<bool, String> {
        if self.eat("(") {
            let v = self.or()?;
            if !self.eat(")") {
                return Err("expected `)`".into());
            }
            return Ok(v);
        }
        if self.eat("all()") {
            return Ok(true);
        }
        if self.eat("global()") {
            return Ok(self.global);
        }
        if self.eat("has(") {
            let k = self.key()?;
            if !self.eat(")") {
                return Err("expected `)`".into());
            }
            return Ok(self.labels.contains_key(&k));
        }
        let k = self.key()?;
        let v = self.labels.get(&k);
        if self.eat("==") {
            let s = self.string()?;
            return Ok(v == Some(&s));
        }
        if self.eat("!=") {
            let s = self.string()?;
            return Ok(v != Some(&s));
        }
        if self.eat("not") {
            if !self.eat("in") {
                return Err("expected `in` after `not`".into());
            }
            let set = self.set()?;
            return Ok(!v.is_some_and(|v| set.contains(v)));
        }
        if self.eat("in") {
            let set = self.set()?;
            return Ok(v.is_some_and(|v| set.contains(v)));
        }
        if self.eat("contains") {
            let s = self.string()?;
            return Ok(v.is_some_and(|v| v.contains(&s)));
        }
        if self.eat("starts") && self.eat("with") {
            let s = self.string()?;
            return Ok(v.is_some_and(|v| v.starts_with(&s)));
        }
        if self.eat("ends") && self.eat("with") {
            let s = self.string()?;
            return Ok(v.is_some_and(|v| v.ends_with(&s)));
        }
        Err(format!("expected an operator after `{k}`"))
    }
}
