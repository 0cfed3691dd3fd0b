//! network-policy-api: `AdminNetworkPolicy` and `BaselineAdminNetworkPolicy`
//! (`policy.networking.k8s.io/v1alpha1`) and `ClusterNetworkPolicy` (`v1alpha2`), egress.
//!
//! The tiers are flattened into one first-match policy with `default allow`: the Admin tier's
//! rules by priority then rule order, then the Baseline tier's. A `Pass` that covers every
//! destination drops the rest of its tier; a narrower `Pass` is replaced by the Baseline rules
//! restricted to what it covers, then an allow of what it covers, which decides the same.

use std::net::IpAddr;

use hostgate::{Action, Pattern, RuleSpec, Via};

use crate::kube::{checked, port_number, selects, Cx, Fields, Object};
use crate::yaml::Node;
use crate::{Options, RuleSource, Workload};

pub(crate) const CONNECTION: &[Via] = &[Via::Tls, Via::Http, Via::Connect];
const V1: &str = "policy.networking.k8s.io/v1alpha1";
const V2: &str = "policy.networking.k8s.io/v1alpha2";
const ANP: &str = "AdminNetworkPolicy";
const BANP: &str = "BaselineAdminNetworkPolicy";
const CNP: &str = "ClusterNetworkPolicy";
/// The CRD's validation pattern for `domainNames` entries, quoted in messages.
const DOMAIN_RE: &str = r"^(\*\.)?([a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$";

pub(crate) fn check_kind(api: &str, kind: &str) -> Result<(), String> {
    let want = match kind {
        ANP | BANP => V1,
        CNP => V2,
        _ => {
            return Err(format!(
                "kind `{kind}` is not a network-policy-api policy; expected {ANP}, {BANP} or {CNP}"
            ))
        }
    };
    if api != want {
        return Err(format!("apiVersion `{api}`: {kind} is read as `{want}`"));
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verb {
    Allow,
    Deny,
    Pass,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Tier {
    Admin,
    Baseline,
}

/// One hostgate rule to be: what it matches, and where it came from.
#[derive(Clone)]
pub(crate) struct Atom {
    pub pattern: String,
    /// Inclusive ranges; empty is every port.
    pub ports: Vec<(u16, u16)>,
    pub via: Vec<Via>,
    pub id: String,
    pub source: RuleSource,
}

struct Rule {
    verb: Verb,
    atoms: Vec<Atom>,
    /// Every name and address on every port: nothing after it in its tier is reached.
    covers_all: bool,
}

struct Policy {
    tier: Tier,
    priority: u32,
    label: String,
    priority_node: Node,
    file: String,
    rules: Vec<Rule>,
}

/// Warnings said once per import.
#[derive(Default)]
struct Once {
    dns: bool,
    pass: bool,
    baseline: bool,
}

/// The format's reader: every object into one first-match policy, `default allow`.
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
    let mut policies = Vec::new();
    let mut once = Once::default();
    let mut version: Option<(&str, String)> = None;
    let mut baseline_v1: Option<String> = None;
    for object in objects {
        cx.file = files[object.file_index].0.to_string();
        let v = if object.kind == CNP { V2 } else { V1 };
        match &version {
            Some((seen, first)) if *seen != v => {
                cx.err(
                    &object.root,
                    format!(
                        "{} (`{v}`) together with {first}: the order between v1alpha1 and \
                         v1alpha2 policies is not defined; import them separately",
                        object.label()
                    ),
                );
                continue;
            }
            Some(_) => {}
            None => version = Some((v, object.label())),
        }
        if object.kind == BANP {
            if let Some(first) = &baseline_v1 {
                cx.err(
                    &object.root,
                    format!("a second {BANP} (the first is {first}): there is only one"),
                );
                continue;
            }
            baseline_v1 = Some(object.label());
        }
        if let Some(p) = read_policy(cx, object, workload, &mut once) {
            out.applies = true;
            policies.push(p);
        }
    }
    policies.sort_by_key(|p| (p.tier, p.priority));
    check_equal_priorities(cx, &policies);
    let (rules, sources) = flatten(&policies);
    out.rules = rules;
    out.sources = sources;
    out
}

/// One object: `None` when it does not select the workload or is in error.
fn read_policy(
    cx: &mut Cx,
    object: &Object,
    workload: Option<&Workload>,
    once: &mut Once,
) -> Option<Policy> {
    let top = cx.fields(
        &object.root,
        &object.kind,
        &["apiVersion", "kind", "metadata", "spec", "status"],
    )?;
    let Some(spec) = top.get("spec") else {
        cx.err(&object.root, format!("{} without `spec`", object.label()));
        return None;
    };
    let known: &[&str] = match object.kind.as_str() {
        ANP => &["priority", "subject", "ingress", "egress"],
        BANP => &["subject", "ingress", "egress"],
        _ => &["tier", "priority", "subject", "ingress", "egress"],
    };
    let s = cx.fields(spec, "spec", known)?;
    let tier = match object.kind.as_str() {
        ANP => Tier::Admin,
        BANP => {
            if object.name != "default" {
                let at = top.get("metadata").unwrap_or(&object.root);
                cx.err(
                    at,
                    format!(
                        "{BANP} `{}`: the API allows only one, named `default`",
                        object.name
                    ),
                );
                return None;
            }
            Tier::Baseline
        }
        _ => {
            let Some(t) = s.get("tier") else {
                cx.err(spec, format!("{} without `tier`", object.label()));
                return None;
            };
            match cx.str(t, "tier")? {
                "Admin" => Tier::Admin,
                "Baseline" => Tier::Baseline,
                other => {
                    cx.err(t, format!("tier `{other}`; expected Admin or Baseline"));
                    return None;
                }
            }
        }
    };
    let (priority, priority_node) = if object.kind == BANP {
        (0, spec.clone())
    } else {
        let Some(p) = s.get("priority") else {
            cx.err(spec, format!("{} without `priority`", object.label()));
            return None;
        };
        let text = cx.str(p, "priority")?;
        match text.parse::<u32>() {
            Ok(n) if n <= 1000 && text.bytes().all(|b| b.is_ascii_digit()) => (n, p.clone()),
            _ => {
                cx.err(
                    p,
                    format!("priority `{text}` is not a number from 0 to 1000"),
                );
                return None;
            }
        }
    };
    let Some(subject) = s.get("subject") else {
        cx.err(spec, format!("{} without `subject`", object.label()));
        return None;
    };
    let selected = match workload {
        Some(w) => subject_selects(cx, subject, w, object.kind == CNP)?,
        None => check_subject(cx, subject, object.kind == CNP)?,
    };
    if !selected {
        return None;
    }
    if let (Some(i), Some(k)) = (s.get("ingress"), s.key("ingress")) {
        if !cx.list(i, "ingress").unwrap_or(&[]).is_empty() {
            cx.warn(k, "`ingress` is about traffic to the workload: not read");
        }
    }
    if tier == Tier::Baseline && !once.baseline {
        once.baseline = true;
        cx.warn(
            s.key("subject").unwrap_or(spec),
            "the Baseline tier decides only for pods no Kubernetes NetworkPolicy selects; \
             NetworkPolicy selects by address, not by name, and is not read: here the \
             Baseline tier always decides after the Admin tier",
        );
    }
    let label = object.label();
    let mut counter = 0usize;
    let mut rules = Vec::new();
    if let Some(egress) = s.get("egress") {
        let items = cx.list(egress, "egress").unwrap_or(&[]);
        if !items.is_empty() && !once.dns {
            once.dns = true;
            cx.warn(
                s.key("egress").unwrap_or(egress),
                "network-policy-api does not filter DNS questions by name: no rule is `via dns`, \
                 DNS questions are allowed (rules about the DNS server's pods or addresses are \
                 not reproduced)",
            );
        }
        for item in items {
            if let Some(r) = read_rule(cx, item, &object.kind, tier, &label, &mut counter, once) {
                rules.push(r);
            }
        }
    }
    Some(Policy {
        tier,
        priority,
        label,
        priority_node,
        file: cx.file.clone(),
        rules,
    })
}

/// `subject`: exactly one of `namespaces` and `pods`; whether it selects the workload.
fn subject_selects(cx: &mut Cx, subject: &Node, w: &Workload, v2: bool) -> Option<bool> {
    let f = cx.fields(subject, "subject", &["namespaces", "pods"])?;
    let ns_labels = w.namespace_labels();
    let same = |k: &str| Some(k.to_string());
    match (f.get("namespaces"), f.get("pods")) {
        (Some(ns), None) => selects(cx, ns, &ns_labels, &same),
        (None, Some(pods)) => {
            let (ns, pod) = namespaced_pod(cx, pods, v2)?;
            let ns_ok = match ns {
                Some(n) => selects(cx, n, &ns_labels, &same)?,
                None => true,
            };
            let pod_ok = selects(cx, pod, &w.labels, &same)?;
            Some(ns_ok && pod_ok)
        }
        _ => {
            cx.err(
                subject,
                "subject needs exactly one of `namespaces` and `pods`",
            );
            None
        }
    }
}

/// `subject` without a workload: checked, and taken to select.
fn check_subject(cx: &mut Cx, subject: &Node, v2: bool) -> Option<bool> {
    let f = cx.fields(subject, "subject", &["namespaces", "pods"])?;
    match (f.get("namespaces"), f.get("pods")) {
        (Some(_), None) => Some(true),
        (None, Some(pods)) => namespaced_pod(cx, pods, v2).map(|_| true),
        _ => {
            cx.err(
                subject,
                "subject needs exactly one of `namespaces` and `pods`",
            );
            None
        }
    }
}

/// `pods: {namespaceSelector, podSelector}` (v1alpha2: `namespaceSelector` optional).
fn namespaced_pod<'n>(
    cx: &mut Cx,
    pods: &'n Node,
    v2: bool,
) -> Option<(Option<&'n Node>, &'n Node)> {
    let f = cx.fields(pods, "pods", &["namespaceSelector", "podSelector"])?;
    let ns = f.get("namespaceSelector");
    if ns.is_none() && !v2 {
        cx.err(pods, "pods without `namespaceSelector`");
        return None;
    }
    let Some(pod) = f.get("podSelector") else {
        cx.err(pods, "pods without `podSelector`");
        return None;
    };
    Some((ns, pod))
}

/// One `egress[]` rule.
fn read_rule(
    cx: &mut Cx,
    item: &Node,
    kind: &str,
    tier: Tier,
    label: &str,
    counter: &mut usize,
    once: &mut Once,
) -> Option<Rule> {
    let v2 = kind == CNP;
    let port_key = if v2 { "protocols" } else { "ports" };
    let f = cx.fields(item, "an egress rule", &["name", "action", "to", port_key])?;
    if let Some(n) = f.get("name") {
        cx.str(n, "name")?;
    }
    let Some(action) = f.get("action") else {
        cx.err(item, "an egress rule without `action`");
        return None;
    };
    let text = cx.str(action, "action")?;
    let verb = match (kind, text) {
        (ANP, "Allow") | (BANP, "Allow") | (CNP, "Accept") => Verb::Allow,
        (_, "Deny") => Verb::Deny,
        (ANP, "Pass") | (CNP, "Pass") => Verb::Pass,
        _ => {
            let expected = match kind {
                ANP => "Allow, Deny or Pass",
                BANP => "Allow or Deny",
                _ => "Accept, Deny or Pass",
            };
            cx.err(
                action,
                format!("action `{text}` in {kind}; expected {expected}"),
            );
            return None;
        }
    };
    if verb == Verb::Pass && tier == Tier::Admin && !once.pass {
        once.pass = true;
        cx.warn(
            action,
            "Pass hands connections to Kubernetes NetworkPolicy first (it decides for the pods \
             it selects, by address, not by name, and is not read), then to the Baseline tier: \
             here the Baseline tier decides",
        );
    }
    let Some(to) = f.get("to") else {
        cx.err(item, "an egress rule without `to`");
        return None;
    };
    let peers = cx.list(to, "to")?;
    if peers.is_empty() {
        cx.err(to, "`to` needs at least one peer");
        return None;
    }
    let mut targets: Vec<(String, Node)> = Vec::new();
    let (mut v4_all, mut v6_all) = (false, false);
    let mut cidrs: Vec<Node> = Vec::new();
    // The API refuses named ports with these peers (they have no named ports).
    let mut unnamed_peer = false;
    let mut ok = true;
    let peer_fields: &[&str] = if kind == BANP {
        &["namespaces", "pods", "nodes", "networks"]
    } else {
        &["namespaces", "pods", "nodes", "networks", "domainNames"]
    };
    for peer in peers {
        let Some(pf) = cx.fields(peer, "a peer", peer_fields) else {
            ok = false;
            continue;
        };
        let set: Vec<&str> = peer_fields
            .iter()
            .copied()
            .filter(|k| pf.get(k).is_some())
            .collect();
        if set.len() != 1 {
            cx.err(
                peer,
                format!("a peer needs exactly one of {}", peer_fields.join(", ")),
            );
            ok = false;
            continue;
        }
        let key = set[0];
        let (Some(value), Some(key_node)) = (pf.get(key), pf.key(key)) else {
            continue;
        };
        unnamed_peer |= matches!(key, "domainNames" | "networks" | "nodes");
        match key {
            "domainNames" => {
                if verb != Verb::Allow {
                    cx.err(
                        key_node,
                        format!(
                            "domainNames in a `{text}` rule: the API allows domainNames only in \
                             {} rules",
                            if v2 { "Accept" } else { "Allow" }
                        ),
                    );
                    ok = false;
                    continue;
                }
                let names = cx.list(value, "domainNames").unwrap_or(&[]);
                if names.is_empty() {
                    cx.err(value, "domainNames needs at least one name");
                    ok = false;
                }
                for n in names {
                    match cx.str(n, "a domain name").and_then(|t| domain(cx, n, t)) {
                        Some(p) => targets.push((p, n.clone())),
                        None => ok = false,
                    }
                }
            }
            "networks" => {
                let list = cx.list(value, "networks").unwrap_or(&[]);
                if list.is_empty() {
                    cx.err(value, "networks needs at least one CIDR");
                    ok = false;
                }
                for c in list {
                    match cx.str(c, "a CIDR").and_then(|t| cidr(cx, c, t)) {
                        Some((p, all4, all6)) => {
                            v4_all |= all4;
                            v6_all |= all6;
                            cidrs.push(c.clone());
                            targets.push((p, c.clone()));
                        }
                        None => ok = false,
                    }
                }
            }
            _ => {
                cx.warn(
                    key_node,
                    format!(
                        "`{key}` selects peers by address, not by name: connections to them \
                         are not reproduced"
                    ),
                );
            }
        }
    }
    let groups = match f.get(port_key) {
        Some(p) => {
            let named_ok = !unnamed_peer;
            if v2 {
                protocols(cx, p, named_ok)?
            } else {
                ports(cx, p, named_ok)?
            }
        }
        None => vec![(Vec::new(), CONNECTION)],
    };
    if !ok {
        return None;
    }
    let everything = v4_all && v6_all;
    if !cidrs.is_empty() && !everything {
        let verbed = match verb {
            Verb::Allow => "allowed",
            Verb::Deny => "denied",
            Verb::Pass => "passed",
        };
        cx.warn(
            &cidrs[0],
            format!(
                "names whose addresses are in these networks are not {verbed} by name: only IP \
                 addresses are matched against them"
            ),
        );
    }
    if everything {
        // Every address, so every name too.
        targets.insert(0, ("*".to_string(), f.key("to").unwrap_or(to).clone()));
    }
    let mut atoms = Vec::new();
    for (pattern, node) in &targets {
        for (ranges, via) in &groups {
            atoms.push(Atom {
                pattern: pattern.clone(),
                ports: ranges.clone(),
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
    }
    Some(Rule {
        verb,
        atoms,
        covers_all: everything && f.get(port_key).is_none(),
    })
}

type Groups = Vec<(Vec<(u16, u16)>, &'static [Via])>;

/// TCP and UDP port ranges into rule groups: TCP on every connection source, UDP as QUIC
/// (`via tls`) with a warning.
fn groups(cx: &mut Cx, at: &Node, tcp: Vec<(u16, u16)>, udp: Vec<(u16, u16)>) -> Groups {
    let mut out: Groups = Vec::new();
    if !tcp.is_empty() {
        out.push((tcp, CONNECTION));
    }
    if !udp.is_empty() {
        cx.warn(
            at,
            "UDP ports: only QUIC (via tls, which hostgate cannot tell from TLS over TCP on the \
             same port) is reproduced, other UDP traffic is not",
        );
        out.push((udp, &[Via::Tls]));
    }
    out
}

fn sctp(cx: &mut Cx, at: &Node) {
    cx.warn(
        at,
        "SCTP is not a name-based protocol: this port is not reproduced",
    );
}

fn named(cx: &mut Cx, at: &Node, text: &str, ok: bool) -> Option<()> {
    if !ok {
        cx.err(
            at,
            format!(
                "named port `{text}` with a networks or domainNames peer: the API refuses it \
                 (those peers have no named ports)"
            ),
        );
        return None;
    }
    cx.warn(
        at,
        format!(
            "named port `{text}`: the number it stands for is in the pod spec, which a \
             name-based policy cannot see: not reproduced"
        ),
    );
    Some(())
}

fn number(cx: &mut Cx, node: &Node, what: &str) -> Option<u16> {
    let text = cx.str(node, what)?;
    match port_number(text) {
        Some(n) if n > 0 => Some(n),
        _ => {
            cx.err(
                node,
                format!("{what} `{text}` is not a port number in 1-65535"),
            );
            None
        }
    }
}

fn protocol(cx: &mut Cx, f: Fields<'_>) -> Option<String> {
    match f.get("protocol") {
        Some(p) => {
            let t = cx.str(p, "protocol")?;
            if matches!(t, "TCP" | "UDP" | "SCTP") {
                Some(t.to_string())
            } else {
                cx.err(p, format!("protocol `{t}`; expected TCP, UDP or SCTP"));
                None
            }
        }
        None => Some("TCP".into()),
    }
}

/// v1alpha1 `ports[]`: `portNumber`, `portRange` or `namedPort`.
fn ports(cx: &mut Cx, node: &Node, named_ok: bool) -> Option<Groups> {
    let items = cx.list(node, "ports")?;
    if items.is_empty() {
        cx.err(
            node,
            "ports needs at least one entry (leave it out for every port)",
        );
        return None;
    }
    let (mut tcp, mut udp) = (Vec::new(), Vec::new());
    for item in items {
        let f = cx.fields(item, "a port", &["portNumber", "portRange", "namedPort"])?;
        let (range, proto, at) = match (f.get("portNumber"), f.get("portRange"), f.get("namedPort"))
        {
            (Some(p), None, None) => {
                let pf = cx.fields(p, "portNumber", &["protocol", "port"])?;
                let proto = protocol(cx, pf)?;
                let Some(n) = pf.get("port") else {
                    cx.err(p, "portNumber without `port`");
                    return None;
                };
                let n = number(cx, n, "port")?;
                ((n, n), proto, p)
            }
            (None, Some(r), None) => {
                let rf = cx.fields(r, "portRange", &["protocol", "start", "end"])?;
                let proto = protocol(cx, rf)?;
                let (Some(s), Some(e)) = (rf.get("start"), rf.get("end")) else {
                    cx.err(r, "portRange needs `start` and `end`");
                    return None;
                };
                let (s_n, e_n) = (number(cx, s, "start")?, number(cx, e, "end")?);
                if s_n > e_n {
                    cx.err(r, format!("portRange start {s_n} is after end {e_n}"));
                    return None;
                }
                ((s_n, e_n), proto, r)
            }
            (None, None, Some(n)) => {
                let t = cx.str(n, "namedPort")?;
                named(cx, n, t, named_ok)?;
                continue;
            }
            _ => {
                cx.err(
                    item,
                    "a port needs exactly one of portNumber, portRange and namedPort",
                );
                return None;
            }
        };
        match proto.as_str() {
            "TCP" => tcp.push(range),
            "UDP" => udp.push(range),
            _ => sctp(cx, at),
        }
    }
    Some(groups(cx, node, tcp, udp))
}

/// v1alpha2 `protocols[]`: `tcp`/`udp`/`sctp` `destinationPort` {`number` | `range`}, or
/// `destinationNamedPort`.
fn protocols(cx: &mut Cx, node: &Node, named_ok: bool) -> Option<Groups> {
    let items = cx.list(node, "protocols")?;
    if items.is_empty() {
        cx.err(
            node,
            "protocols needs at least one entry (leave it out for every port)",
        );
        return None;
    }
    let (mut tcp, mut udp) = (Vec::new(), Vec::new());
    for item in items {
        let keys = ["tcp", "udp", "sctp", "destinationNamedPort"];
        let f = cx.fields(item, "a protocol", &keys)?;
        let set: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| f.get(k).is_some())
            .collect();
        if set.len() != 1 {
            cx.err(
                item,
                "a protocol needs exactly one of tcp, udp, sctp and destinationNamedPort",
            );
            return None;
        }
        let key = set[0];
        let Some(v) = f.get(key) else { continue };
        if key == "destinationNamedPort" {
            let t = cx.str(v, key)?;
            named(cx, v, t, named_ok)?;
            continue;
        }
        let pf = cx.fields(v, key, &["destinationPort"])?;
        let Some(dp) = pf.get("destinationPort") else {
            cx.err(v, format!("`{key}` needs `destinationPort`"));
            return None;
        };
        let df = cx.fields(dp, "destinationPort", &["number", "range"])?;
        let range = match (df.get("number"), df.get("range")) {
            (Some(n), None) => {
                let n = number(cx, n, "number")?;
                (n, n)
            }
            (None, Some(r)) => {
                let rf = cx.fields(r, "range", &["start", "end"])?;
                let (Some(s), Some(e)) = (rf.get("start"), rf.get("end")) else {
                    cx.err(r, "range needs `start` and `end`");
                    return None;
                };
                let (s_n, e_n) = (number(cx, s, "start")?, number(cx, e, "end")?);
                if s_n >= e_n {
                    cx.err(r, format!("range start {s_n} must be less than end {e_n}"));
                    return None;
                }
                (s_n, e_n)
            }
            _ => {
                cx.err(dp, "destinationPort needs exactly one of number and range");
                return None;
            }
        };
        match key {
            "tcp" => tcp.push(range),
            "udp" => udp.push(range),
            _ => sctp(cx, v),
        }
    }
    Some(groups(cx, node, tcp, udp))
}

/// A `domainNames` entry: the CRD's pattern, then `x.y` exact, `*.x.y` one or more labels,
/// one trailing dot dropped; compared without regard to case, as DNS names are.
fn domain(cx: &mut Cx, node: &Node, text: &str) -> Option<String> {
    let (wild, rest) = match text.strip_prefix("*.") {
        Some(r) => (true, r),
        None => (false, text),
    };
    let body = rest.strip_suffix('.').unwrap_or(rest);
    let labels: Vec<&str> = body.split('.').collect();
    // `A-z` in the CRD's first-character class also admits `[`, `\`, `]`, `^`, `_`, `` ` ``.
    let first = |c: u8| c.is_ascii_alphanumeric() || (b'['..=b'`').contains(&c);
    let inner = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        match b {
            [] => false,
            [c] => first(*c),
            [c, mid @ .., last] => {
                first(*c) && mid.iter().all(|&m| inner(m)) && last.is_ascii_alphanumeric()
            }
        }
    };
    if labels.len() < 2 || !labels.iter().all(|l| label_ok(l)) {
        cx.err(
            node,
            format!(
                "domain name `{text}` is not valid: the CRD requires `{DOMAIN_RE}` (at least two \
                 labels, `*.` only as a prefix, no partial wildcard)"
            ),
        );
        return None;
    }
    if let Some(l) = labels
        .iter()
        .find(|l| !l.as_bytes()[0].is_ascii_alphanumeric() && l.as_bytes()[0] != b'_')
    {
        cx.err(
            node,
            format!(
                "domain name `{text}`: label `{l}` starts with a character the CRD's `A-z` range \
                 admits but no DNS name has, so it never matches"
            ),
        );
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let pattern = if wild { format!("**.{lower}") } else { lower };
    checked(cx, node, pattern)
}

/// A `networks` entry: the CIDR as hostgate writes it, and whether it is all of IPv4 / IPv6.
pub(crate) fn cidr(cx: &mut Cx, node: &Node, text: &str) -> Option<(String, bool, bool)> {
    let bad = |cx: &mut Cx| {
        cx.err(
            node,
            format!("`{text}` is not a CIDR (such as 10.0.0.0/8 or fd00::/8)"),
        );
        None
    };
    let Some((addr, len)) = text.split_once('/') else {
        return bad(cx);
    };
    let (Ok(ip), Ok(prefix)) = (addr.parse::<IpAddr>(), len.parse::<u8>()) else {
        return bad(cx);
    };
    if !len.bytes().all(|b| b.is_ascii_digit()) || prefix > max_prefix(ip) {
        return bad(cx);
    }
    let masked = mask(ip, prefix);
    if masked != ip {
        cx.warn(
            node,
            format!("`{text}` has host bits set: read as {masked}/{prefix}"),
        );
    }
    let p = checked(cx, node, format!("{masked}/{prefix}"))?;
    Some((p, prefix == 0 && ip.is_ipv4(), prefix == 0 && ip.is_ipv6()))
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// What a hostgate pattern of this importer matches, for intersections and overlaps.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Set<'a> {
    /// Every name (not addresses).
    Names,
    Exact(&'a str),
    /// One or more labels below the suffix.
    Below(&'a str),
    Net(IpAddr, u8),
}

fn set(pattern: &str) -> Set<'_> {
    if pattern == "*" {
        return Set::Names;
    }
    if let Some(s) = pattern.strip_prefix("**.") {
        return Set::Below(s);
    }
    match Pattern::parse(pattern) {
        Ok(Pattern::Cidr(ip, len)) => Set::Net(ip, len),
        _ => Set::Exact(pattern),
    }
}

fn net_contains(outer: (IpAddr, u8), inner: (IpAddr, u8)) -> bool {
    outer.0.is_ipv4() == inner.0.is_ipv4()
        && outer.1 <= inner.1
        && mask(inner.0, outer.1) == outer.0
}

fn under(name: &str, suffix: &str) -> bool {
    name.len() > suffix.len()
        && name.ends_with(suffix)
        && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
}

/// A Pass limited to `passed` (not every name): in its place, each later-tier rule cut down to
/// what the Pass covers, then an allow of what it covers (the later tier decided nothing).
pub(crate) fn pass_to(passed: &[Atom], later: &[(Action, Atom)], out: &mut Vec<(Action, Atom)>) {
    for a in passed {
        for (action, b) in later {
            let (Some(pattern), Some(ports), Some(via)) = (
                intersect_pattern(&a.pattern, &b.pattern),
                intersect_ports(&a.ports, &b.ports),
                intersect_via(&a.via, &b.via),
            ) else {
                continue;
            };
            // Ids are unique in a policy: the later rule's, reached by this Pass.
            out.push((
                *action,
                Atom {
                    pattern,
                    ports,
                    via,
                    id: format!("{}@{}", b.id, a.id),
                    source: b.source.clone(),
                },
            ));
        }
        out.push((Action::Allow, a.clone()));
    }
}

/// The pattern matching exactly what both match, when one exists; `None` when they are
/// disjoint. `a` is a Pass target: `*` or a CIDR.
pub(crate) fn intersect_pattern(a: &str, b: &str) -> Option<String> {
    match (set(a), set(b)) {
        (Set::Names, Set::Names | Set::Exact(_) | Set::Below(_)) => Some(b.to_string()),
        (Set::Net(x, xl), Set::Net(y, yl)) => {
            if net_contains((x, xl), (y, yl)) {
                Some(b.to_string())
            } else if net_contains((y, yl), (x, xl)) {
                Some(a.to_string())
            } else {
                None
            }
        }
        _ => None,
    }
}

fn patterns_overlap(a: &str, b: &str) -> bool {
    match (set(a), set(b)) {
        (Set::Names, Set::Names | Set::Exact(_) | Set::Below(_))
        | (Set::Exact(_) | Set::Below(_), Set::Names) => true,
        (Set::Exact(x), Set::Exact(y)) => x == y,
        (Set::Exact(x), Set::Below(s)) | (Set::Below(s), Set::Exact(x)) => under(x, s),
        (Set::Below(s), Set::Below(t)) => s == t || under(s, t) || under(t, s),
        (Set::Net(x, xl), Set::Net(y, yl)) => {
            net_contains((x, xl), (y, yl)) || net_contains((y, yl), (x, xl))
        }
        _ => false,
    }
}

/// Port ranges both allow (empty = every port); `None` when none.
pub(crate) fn intersect_ports(a: &[(u16, u16)], b: &[(u16, u16)]) -> Option<Vec<(u16, u16)>> {
    if a.is_empty() {
        return Some(b.to_vec());
    }
    if b.is_empty() {
        return Some(a.to_vec());
    }
    let mut out = Vec::new();
    for &(x0, x1) in a {
        for &(y0, y1) in b {
            let (lo, hi) = (x0.max(y0), x1.min(y1));
            if lo <= hi {
                out.push((lo, hi));
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

pub(crate) fn intersect_via(a: &[Via], b: &[Via]) -> Option<Vec<Via>> {
    let out: Vec<Via> = a.iter().copied().filter(|v| b.contains(v)).collect();
    (!out.is_empty()).then_some(out)
}

fn overlaps(x: &Atom, y: &Atom) -> bool {
    patterns_overlap(&x.pattern, &y.pattern)
        && intersect_ports(&x.ports, &y.ports).is_some()
        && intersect_via(&x.via, &y.via).is_some()
}

/// Two policies of one tier with one priority whose rules can decide one connection
/// differently: their order is undefined, so the verdict is.
fn check_equal_priorities(cx: &mut Cx, policies: &[Policy]) {
    for (j, b) in policies.iter().enumerate() {
        for a in &policies[..j] {
            if a.tier != b.tier || a.priority != b.priority {
                continue;
            }
            let clash = a
                .rules
                .iter()
                .flat_map(|r| r.atoms.iter().map(move |x| (r.verb, x)))
                .find_map(|(va, x)| {
                    b.rules
                        .iter()
                        .flat_map(|r| r.atoms.iter().map(move |y| (r.verb, y)))
                        .find(|(vb, y)| *vb != va && overlaps(x, y))
                        .map(|(_, y)| (x.pattern.clone(), y.pattern.clone()))
                });
            if let Some((x, y)) = clash {
                cx.file = b.file.clone();
                cx.err(
                    &b.priority_node,
                    format!(
                        "priority {} is also {}'s, and their rules decide differently for some \
                         connections (`{x}` and `{y}`): the order between equal priorities is \
                         undefined; give them different priorities",
                        b.priority, a.label
                    ),
                );
            }
        }
    }
}

/// The first-match rule list: Admin tier, Pass expanded, then the Baseline tier.
fn flatten(policies: &[Policy]) -> (Vec<RuleSpec>, Vec<RuleSource>) {
    let mut baseline: Vec<(Action, Atom)> = Vec::new();
    'tier: for p in policies.iter().filter(|p| p.tier == Tier::Baseline) {
        for r in &p.rules {
            let action = if r.verb == Verb::Deny {
                Action::Deny
            } else {
                Action::Allow
            };
            baseline.extend(r.atoms.iter().map(|a| (action, a.clone())));
            // After the Baseline tier comes the default allow, which is what Pass reaches.
            if r.verb == Verb::Pass && r.covers_all {
                break 'tier;
            }
        }
    }
    let mut out: Vec<(Action, Atom)> = Vec::new();
    'admin: for p in policies.iter().filter(|p| p.tier == Tier::Admin) {
        for r in &p.rules {
            match r.verb {
                Verb::Allow => out.extend(r.atoms.iter().map(|a| (Action::Allow, a.clone()))),
                Verb::Deny => out.extend(r.atoms.iter().map(|a| (Action::Deny, a.clone()))),
                Verb::Pass if r.covers_all => break 'admin,
                Verb::Pass => pass_to(&r.atoms, &baseline, &mut out),
            }
        }
    }
    out.extend(baseline);
    rule_specs(out)
}

/// The rules, with their ids and lines, and where each came from.
pub(crate) fn rule_specs(out: Vec<(Action, Atom)>) -> (Vec<RuleSpec>, Vec<RuleSource>) {
    let mut rules = Vec::with_capacity(out.len());
    let mut sources = Vec::with_capacity(out.len());
    for (action, a) in out {
        let mut r = RuleSpec::new(action, a.pattern);
        r.ports = a.ports;
        r.via = a.via;
        r.id = Some(a.id);
        r.line = a.source.line;
        rules.push(r);
        sources.push(a.source);
    }
    (rules, sources)
}
