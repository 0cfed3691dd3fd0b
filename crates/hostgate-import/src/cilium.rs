//! Cilium `CiliumNetworkPolicy` and `CiliumClusterwideNetworkPolicy` (`cilium.io/v2`), egress.
//!
//! The mapping is documented in `docs/import.md`; each function says which construct it reads.

use hostgate::{Action, RuleSpec, Via};

use crate::kube::{checked, finish, port_number, selects, Cx, Emitted, Fields, Object};
use crate::yaml::Node;
use crate::{CiliumVersion, Options, RuleSource, Workload};

const KINDS: &[&str] = &["CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"];
const SPEC_FIELDS: &[&str] = &[
    "endpointSelector",
    "nodeSelector",
    "ingress",
    "ingressDeny",
    "egress",
    "egressDeny",
    "labels",
    "description",
    "enableDefaultDeny",
    "log",
];
const EGRESS_FIELDS: &[&str] = &[
    "toFQDNs",
    "toPorts",
    "toCIDR",
    "toCIDRSet",
    "toEndpoints",
    "toEntities",
    "toServices",
    "toGroups",
    "toNodes",
    "toRequires",
    "icmps",
    "authentication",
];
/// Peers that select pods, nodes, entities or services: addresses, not names.
const NON_NAME_PEERS: &[&str] = &[
    "toEndpoints",
    "toEntities",
    "toServices",
    "toGroups",
    "toNodes",
    "toRequires",
];
/// The sources a connection rule covers: everything but DNS questions, which only
/// `rules.dns` allows.
const CONNECTION: &[Via] = &[Via::Tls, Via::Http, Via::Connect];

pub(crate) fn check_kind(api: &str, kind: &str) -> Result<(), String> {
    if !KINDS.contains(&kind) {
        return Err(format!(
            "kind `{kind}` is not a Cilium policy; expected {}",
            KINDS.join(" or ")
        ));
    }
    if api != "cilium.io/v2" {
        return Err(format!(
            "apiVersion `{api}`: {kind} is read as `cilium.io/v2`"
        ));
    }
    Ok(())
}

/// The result of all objects: rules, their sources, and the default.
pub(crate) struct Read {
    pub rules: Vec<RuleSpec>,
    pub sources: Vec<RuleSource>,
    pub default: Action,
    pub has_dns_rules: bool,
    pub fqdn_nodes: Vec<(String, Node)>,
    /// Whether any spec selects the workload.
    pub applies: bool,
}

/// The format's reader: every object into one policy.
pub(crate) fn import(
    cx: &mut Cx,
    files: &[(&str, &[u8])],
    objects: &[Object],
    options: &Options,
) -> crate::Read {
    let read = read(
        cx,
        files,
        objects,
        options.cilium_version,
        options.workload.as_ref(),
    );
    if !read.has_dns_rules {
        if let Some((file, node)) = read.fqdn_nodes.first() {
            cx.file = file.clone();
            cx.warn(
                node,
                "toFQDNs without any DNS rule: Cilium allows only addresses that other \
                 workloads' lookups taught it; every matching name is allowed here",
            );
        }
    }
    let mut out = crate::Read::new(read.default);
    out.rules = read.rules;
    out.sources = read.sources;
    out.applies = read.applies;
    out
}

fn read(
    cx: &mut Cx,
    files: &[(&str, &[u8])],
    objects: &[Object],
    version: CiliumVersion,
    workload: Option<&Workload>,
) -> Read {
    let mut read = Read {
        rules: Vec::new(),
        sources: Vec::new(),
        default: Action::Allow,
        has_dns_rules: false,
        fqdn_nodes: Vec::new(),
        applies: workload.is_none(),
    };
    // None: no policy with an egress section; Some(b): some have one, and b says whether any
    // of them leaves default deny on.
    let mut deny_by_default: Option<bool> = None;
    for object in objects {
        cx.file = files[object.file_index].0.to_string();
        let mut emitted = Vec::new();
        let Some(top) = cx.fields(
            &object.root,
            &object.kind,
            &["apiVersion", "kind", "metadata", "spec", "specs", "status"],
        ) else {
            continue;
        };
        let mut specs: Vec<&Node> = Vec::new();
        if let Some(spec) = top.get("spec") {
            specs.push(spec);
        }
        if let Some(list) = top.get("specs") {
            if let Some(items) = cx.list(list, "specs") {
                specs.extend(items.iter());
            }
        }
        if specs.is_empty() {
            cx.err(
                &object.root,
                format!("{} without `spec` or `specs`", object.label()),
            );
            continue;
        }
        // A namespaced policy selects only pods of its own namespace.
        let in_namespace = match workload {
            Some(w) if object.kind == "CiliumNetworkPolicy" => {
                object.namespace.as_deref().unwrap_or("default") == w.namespace
            }
            _ => true,
        };
        for spec in specs {
            let Some(s) = cx.fields(spec, "spec", SPEC_FIELDS) else {
                continue;
            };
            if let Some(w) = workload {
                match selected(cx, s, spec, w) {
                    Some(true) if in_namespace => read.applies = true,
                    _ => continue,
                }
            }
            if let Some(d) = read_spec(cx, s, version, &mut emitted, &mut read) {
                deny_by_default = Some(deny_by_default.unwrap_or(false) || d);
            }
        }
        let file = cx.file.clone();
        finish(object, &file, emitted, &mut read.rules, &mut read.sources);
    }
    if deny_by_default == Some(true) {
        read.default = Action::Deny;
    }
    read
}

/// Whether a spec's `endpointSelector` selects the workload (a `nodeSelector` selects nodes).
fn selected(cx: &mut Cx, s: Fields<'_>, spec: &Node, w: &Workload) -> Option<bool> {
    let Some(sel) = s.get("endpointSelector") else {
        if s.get("nodeSelector").is_none() {
            cx.err(spec, "a rule without endpointSelector or nodeSelector");
        }
        return Some(false);
    };
    let mut labels = w.labels.clone();
    labels.insert("io.kubernetes.pod.namespace".into(), w.namespace.clone());
    // Cilium gives each endpoint its namespace's labels under this prefix.
    for (k, v) in w.namespace_labels() {
        labels.insert(format!("io.cilium.k8s.namespace.labels.{k}"), v);
    }
    // Cilium label keys carry a source: `k8s:` and `any:` match pod labels, others never do.
    let strip = |key: &str| match key.split_once(':') {
        Some(("k8s" | "any", rest)) => Some(rest.to_string()),
        Some(_) => None,
        None => Some(key.to_string()),
    };
    selects(cx, sel, &labels, &strip)
}

/// One rule (a `spec` or an entry of `specs`). Returns whether it has an egress section and,
/// if so, whether it keeps default deny on.
fn read_spec(
    cx: &mut Cx,
    s: Fields<'_>,
    version: CiliumVersion,
    out: &mut Vec<Emitted>,
    read: &mut Read,
) -> Option<bool> {
    for key in ["ingress", "ingressDeny"] {
        if let Some(k) = s.key(key).filter(|_| s.get(key).is_some()) {
            cx.warn(
                k,
                format!("`{key}` is about traffic to the workload: not read"),
            );
        }
    }
    if let Some(k) = s
        .key("nodeSelector")
        .filter(|_| s.get("nodeSelector").is_some())
    {
        cx.warn(
            k,
            "`nodeSelector` selects nodes (host policy); its rules are read as the workload's",
        );
    }
    let mut sections = false;
    if let Some(egress) = s.get("egress") {
        if let Some(items) = cx.list(egress, "egress") {
            sections |= !items.is_empty();
            for item in items {
                read_egress(cx, item, version, out, read);
            }
        }
    }
    if let Some(deny) = s.get("egressDeny") {
        if let Some(items) = cx.list(deny, "egressDeny") {
            sections |= !items.is_empty();
            for item in items {
                read_egress_deny(cx, item, out);
            }
        }
    }
    let mut default_deny = true;
    if let Some(dd) = s.get("enableDefaultDeny") {
        if let Some(f) = cx.fields(dd, "enableDefaultDeny", &["egress", "ingress"]) {
            if let Some(e) = f.get("egress") {
                default_deny = cx.bool(e, "enableDefaultDeny.egress").unwrap_or(true);
            }
        }
    }
    sections.then_some(default_deny)
}

/// A port of `toPorts[].ports[]`: the range, and whether it is UDP only.
struct Port {
    range: Option<(u16, u16)>,
    udp_only: bool,
}

fn read_ports(cx: &mut Cx, node: &Node) -> Option<Vec<Port>> {
    let items = cx.list(node, "ports")?;
    let mut out = Vec::new();
    for item in items {
        let f = cx.fields(item, "a port", &["port", "endPort", "protocol"])?;
        let protocol = match f.get("protocol") {
            Some(p) => cx.str(p, "protocol")?.to_string(),
            None => "ANY".to_string(),
        };
        let low = match f.get("port") {
            Some(p) => {
                let text = cx.str(p, "port")?;
                if text == "0" {
                    None
                } else if let Some(n) = port_number(text) {
                    Some((n, p))
                } else if text.bytes().all(|b| b.is_ascii_digit()) {
                    cx.err(p, format!("port `{text}` is not in 1-65535"));
                    return None;
                } else {
                    cx.err(
                        p,
                        format!(
                            "named port `{text}`: the number it stands for is in the pod spec, \
                             which a name-based policy cannot see"
                        ),
                    );
                    return None;
                }
            }
            None => None,
        };
        let range = match (low, f.get("endPort")) {
            (Some((n, _)), None) => Some((n, n)),
            (Some((n, _)), Some(e)) => {
                let text = cx.str(e, "endPort")?;
                match port_number(text) {
                    Some(end) if end >= n => Some((n, end)),
                    Some(0) | None if text == "0" => Some((n, n)),
                    _ => {
                        cx.err(
                            e,
                            format!("endPort `{text}` must be a port from {n} to 65535"),
                        );
                        return None;
                    }
                }
            }
            (None, Some(e)) => {
                cx.err(e, "endPort without a port");
                return None;
            }
            (None, None) => None,
        };
        let at = f.get("protocol").unwrap_or(item);
        match protocol.as_str() {
            "TCP" | "ANY" => out.push(Port {
                range,
                udp_only: false,
            }),
            "UDP" => out.push(Port {
                range,
                udp_only: true,
            }),
            "SCTP" => cx.warn(
                at,
                "SCTP is not a name-based protocol: this port is not reproduced",
            ),
            other => {
                cx.err(
                    at,
                    format!("protocol `{other}`; expected TCP, UDP, SCTP or ANY"),
                );
                return None;
            }
        }
    }
    Some(out)
}

/// `egress[]`: an allow rule.
fn read_egress(
    cx: &mut Cx,
    item: &Node,
    version: CiliumVersion,
    out: &mut Vec<Emitted>,
    read: &mut Read,
) {
    let Some(f) = cx.fields(item, "an egress rule", EGRESS_FIELDS) else {
        return;
    };
    // The L3 part: names, CIDRs, or (when no peer is given) everything.
    let mut l3: Vec<(String, Node)> = Vec::new();
    let mut non_name = false;
    let mut has_peer = false;
    if let Some(fqdns) = f.get("toFQDNs") {
        has_peer = true;
        for entry in cx.list(fqdns, "toFQDNs").unwrap_or(&[]) {
            if let Some((p, n)) = read_fqdn_selector(cx, entry, version) {
                read.fqdn_nodes.push((cx.file.clone(), n.clone()));
                l3.push((p, n));
            }
        }
    }
    for (p, n) in read_cidrs(cx, f, false) {
        has_peer = true;
        l3.push((p, n));
    }
    for key in NON_NAME_PEERS {
        if let (Some(_), Some(k)) = (f.get(key), f.key(key)) {
            has_peer = true;
            non_name = true;
            cx.warn(
                k,
                format!(
                    "`{key}` selects peers by address, not by name: connections to them are \
                     not reproduced, nor DNS questions unless DNS rules filter them"
                ),
            );
        }
    }
    for key in ["icmps", "authentication"] {
        if let Some(v) = f.get(key) {
            cx.warn(v, format!("`{key}` is not name-based: not reproduced"));
        }
    }
    if !has_peer && f.get("toPorts").is_some() {
        // A rule with only ports allows every destination on them.
        for p in ["*", "0.0.0.0/0", "::/0"] {
            l3.push((p.to_string(), f.key("toPorts").unwrap_or(item).clone()));
        }
    }
    let Some(to_ports) = f.get("toPorts") else {
        for (p, node) in l3 {
            out.push(Emitted {
                rule: rule(Action::Allow, p, &[], CONNECTION),
                node,
            });
        }
        return;
    };
    let Some(items) = cx.list(to_ports, "toPorts") else {
        return;
    };
    for tp in items {
        let Some(t) = cx.fields(
            tp,
            "a toPorts entry",
            &[
                "ports",
                "rules",
                "serverNames",
                "listener",
                "originatingTLS",
                "terminatingTLS",
            ],
        ) else {
            continue;
        };
        for key in ["listener", "originatingTLS", "terminatingTLS"] {
            if let Some(v) = t.get(key) {
                cx.err(v, format!("`{key}` is not read by this importer"));
            }
        }
        let ports = match t.get("ports") {
            Some(p) => match read_ports(cx, p) {
                Some(p) => p,
                None => continue,
            },
            None => vec![Port {
                range: None,
                udp_only: false,
            }],
        };
        if ports.is_empty() {
            continue;
        }
        let (mut tcp, mut udp) = (Vec::new(), Vec::new());
        let (mut tcp_any, mut udp_any) = (false, false);
        for p in &ports {
            match (p.udp_only, p.range) {
                (false, Some(r)) => tcp.push(r),
                (false, None) => tcp_any = true,
                (true, Some(r)) => udp.push(r),
                (true, None) => udp_any = true,
            }
        }
        if tcp_any {
            tcp.clear();
        }
        if udp_any {
            udp.clear();
        }
        let has_tcp = tcp_any || !tcp.is_empty();
        let has_udp = udp_any || !udp.is_empty();
        let mut dns = Vec::new();
        let mut http = None;
        if let Some(r) = t.get("rules") {
            let Some(rf) = cx.fields(r, "rules", &["dns", "http", "kafka", "l7proto", "l7"]) else {
                continue;
            };
            for key in ["kafka", "l7proto", "l7"] {
                if let Some(v) = rf.get(key) {
                    cx.err(v, format!("`rules.{key}` is not name-based; not read"));
                }
            }
            if let Some(d) = rf.get("dns") {
                for entry in cx.list(d, "rules.dns").unwrap_or(&[]) {
                    if let Some(p) = read_fqdn_selector(cx, entry, version) {
                        dns.push(p);
                    }
                }
            }
            http = rf.get("http");
        }
        let server_names = t.get("serverNames");
        if !dns.is_empty() {
            // The DNS proxy answers the questions it allows, on whatever DNS server port the
            // rule names: the port is dropped, the source is DNS.
            read.has_dns_rules = true;
            if server_names.is_some() || http.is_some() {
                cx.err(tp, "DNS rules and other L7 rules in one toPorts entry");
                continue;
            }
            for (p, node) in dns {
                out.push(Emitted {
                    rule: rule(Action::Allow, p, &[], &[Via::Dns]),
                    node,
                });
            }
            continue;
        }
        let emit = |out: &mut Vec<Emitted>, p: String, node: Node, via: &[Via]| {
            if has_tcp {
                out.push(Emitted {
                    rule: rule(Action::Allow, p.clone(), &tcp, via),
                    node: node.clone(),
                });
            }
            if has_udp && via.contains(&Via::Tls) {
                out.push(Emitted {
                    rule: rule(Action::Allow, p, &udp, &[Via::Tls]),
                    node,
                });
            }
        };
        if has_udp {
            cx.warn(
                tp,
                "UDP ports: only QUIC (via tls) is reproduced, other UDP traffic is not",
            );
        }
        if let Some(sn) = server_names {
            if http.is_some() {
                cx.err(sn, "serverNames and HTTP rules in one toPorts entry");
                continue;
            }
            if has_peer && !non_name {
                cx.warn(
                    sn,
                    "serverNames with a peer: the SNI must match and the address must be the \
                     peer's; only the SNI is checked",
                );
            }
            for n in cx.list(sn, "serverNames").unwrap_or(&[]) {
                if let Some(p) = server_name(cx, n, version) {
                    emit(out, p, n.clone(), &[Via::Tls]);
                }
            }
            continue;
        }
        if let Some(h) = http {
            if non_name {
                cx.warn(h, "HTTP rules towards address peers are not reproduced");
                continue;
            }
            for entry in cx.list(h, "rules.http").unwrap_or(&[]) {
                let Some(hf) = cx.fields(
                    entry,
                    "an HTTP rule",
                    &["host", "method", "path", "headers", "headerMatches"],
                ) else {
                    continue;
                };
                for key in ["method", "path", "headers", "headerMatches"] {
                    if let Some(v) = hf.get(key) {
                        cx.warn(
                            v,
                            format!("HTTP `{key}` is not reproduced: any {key} is allowed"),
                        );
                    }
                }
                match hf.get("host") {
                    Some(hn) => {
                        let Some(re) = cx.str(hn, "host") else {
                            continue;
                        };
                        if re.is_empty()
                            || re.chars().any(char::is_whitespace)
                            || re.starts_with('#')
                        {
                            cx.err(
                                hn,
                                "host regex that cannot be written as a hostgate `~` pattern",
                            );
                            continue;
                        }
                        cx.warn(
                            hn,
                            "HTTP host is a POSIX extended regex in Cilium, read here as a \
                             hostgate regex over the name (no port); check the two agree",
                        );
                        if has_peer {
                            cx.warn(hn, "HTTP host with a peer: only the host is checked");
                        }
                        let p = format!("~{re}");
                        emit(out, p, hn.clone(), &[Via::Http]);
                    }
                    None => {
                        for (p, node) in &l3 {
                            emit(out, p.clone(), node.clone(), &[Via::Http]);
                        }
                    }
                }
            }
            continue;
        }
        // Port 53 without DNS rules: Cilium passes DNS to this peer without looking at the
        // question, and hostgate cannot tell which DNS server a question goes to.
        if tcp.iter().chain(&udp).any(|&(a, b)| a <= 53 && 53 <= b) {
            cx.warn(
                tp,
                "port 53 without DNS rules: Cilium does not filter these DNS questions by name; \
                 not reproduced (DNS questions are only allowed by DNS rules here)",
            );
        }
        for (p, node) in &l3 {
            emit(out, p.clone(), node.clone(), CONNECTION);
        }
    }
}

fn rule(action: Action, pattern: String, ports: &[(u16, u16)], via: &[Via]) -> RuleSpec {
    let mut r = RuleSpec::new(action, pattern);
    r.ports = ports.to_vec();
    r.via = via.to_vec();
    r
}

/// `toCIDR` and `toCIDRSet[].cidr`, as `allow`/`deny` CIDR patterns.
fn read_cidrs(cx: &mut Cx, f: Fields<'_>, deny: bool) -> Vec<(String, Node)> {
    let mut out = Vec::new();
    if let Some(list) = f.get("toCIDR") {
        for c in cx.list(list, "toCIDR").unwrap_or(&[]) {
            if let Some(text) = cx.str(c, "a CIDR") {
                if let Some(p) = checked(cx, c, text.to_string()) {
                    out.push((p, c.clone()));
                }
            }
        }
    }
    if let Some(list) = f.get("toCIDRSet") {
        for item in cx.list(list, "toCIDRSet").unwrap_or(&[]) {
            let Some(s) = cx.fields(
                item,
                "a toCIDRSet entry",
                &["cidr", "except", "cidrGroupRef", "cidrGroupSelector"],
            ) else {
                continue;
            };
            if let Some(e) = s.get("except") {
                cx.err(
                    e,
                    if deny {
                        "`except` in egressDeny: carving allowed holes out of a deny is not supported"
                    } else {
                        "`except` in an allow: carving denied holes out of an allow is not supported"
                    },
                );
                continue;
            }
            for key in ["cidrGroupRef", "cidrGroupSelector"] {
                if let Some(v) = s.get(key) {
                    cx.warn(
                        v,
                        format!("`{key}` names addresses defined elsewhere: not reproduced"),
                    );
                }
            }
            if let Some(c) = s.get("cidr") {
                if let Some(text) = cx.str(c, "cidr") {
                    if let Some(p) = checked(cx, c, text.to_string()) {
                        out.push((p, c.clone()));
                    }
                }
            }
        }
    }
    out
}

/// `egressDeny[]`: deny rules (no names, no L7).
fn read_egress_deny(cx: &mut Cx, item: &Node, out: &mut Vec<Emitted>) {
    let Some(f) = cx.fields(item, "an egressDeny rule", EGRESS_FIELDS) else {
        return;
    };
    if let Some(v) = f.get("toFQDNs") {
        cx.err(v, "`toFQDNs` in egressDeny: Cilium has no deny by name");
        return;
    }
    let mut l3 = read_cidrs(cx, f, true);
    for (p, n) in &l3 {
        cx.warn(
            n,
            format!("deny {p}: names whose addresses fall in it are not denied by name"),
        );
    }
    let mut has_peer = !l3.is_empty() || f.get("toCIDR").is_some() || f.get("toCIDRSet").is_some();
    for key in NON_NAME_PEERS {
        if let (Some(_), Some(k)) = (f.get(key), f.key(key)) {
            has_peer = true;
            cx.warn(
                k,
                format!("`{key}` in egressDeny selects addresses, not names: not reproduced"),
            );
        }
    }
    if !has_peer {
        for p in ["*", "0.0.0.0/0", "::/0"] {
            l3.push((p.to_string(), f.key("toPorts").unwrap_or(item).clone()));
        }
    }
    let mut ranges: Vec<(u16, u16)> = Vec::new();
    if let Some(tp) = f.get("toPorts") {
        let mut any = false;
        for t in cx.list(tp, "toPorts").unwrap_or(&[]) {
            let Some(tf) = cx.fields(t, "a toPorts entry", &["ports"]) else {
                return;
            };
            match tf.get("ports") {
                Some(p) => {
                    let Some(ports) = read_ports(cx, p) else {
                        return;
                    };
                    for p in ports {
                        match p.range {
                            Some(r) => ranges.push(r),
                            None => any = true,
                        }
                    }
                }
                None => any = true,
            }
        }
        if any {
            ranges.clear();
        }
    }
    for (p, node) in l3 {
        out.push(Emitted {
            rule: rule(Action::Deny, p, &ranges, &[]),
            node,
        });
    }
}

/// `matchName` / `matchPattern` (in `toFQDNs` and in `rules.dns`), as a hostgate pattern.
fn read_fqdn_selector(cx: &mut Cx, entry: &Node, version: CiliumVersion) -> Option<(String, Node)> {
    let f = cx.fields(entry, "an FQDN selector", &["matchName", "matchPattern"])?;
    match (f.get("matchName"), f.get("matchPattern")) {
        (Some(n), None) => {
            let text = cx.str(n, "matchName")?;
            let p = fqdn_name(cx, n, text)?;
            Some((p, n.clone()))
        }
        (None, Some(n)) => {
            let text = cx.str(n, "matchPattern")?;
            let p = fqdn_pattern(cx, n, text, version)?;
            Some((p, n.clone()))
        }
        (Some(_), Some(_)) => {
            cx.err(entry, "give one of matchName and matchPattern, not both");
            None
        }
        (None, None) => {
            cx.err(entry, "an FQDN selector needs matchName or matchPattern");
            None
        }
    }
}

/// Cilium's CRD validation: `^([-a-zA-Z0-9_]+[.]?)+$` for names, with `*` also for patterns,
/// at most 255 characters.
fn valid(text: &str, star: bool) -> bool {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (star && c == '*');
    !text.is_empty()
        && text.len() <= 255
        && !text.starts_with('.')
        && !text.contains("..")
        && text.chars().all(|c| ok_char(c) || c == '.')
}

fn fqdn_name(cx: &mut Cx, node: &Node, text: &str) -> Option<String> {
    if !valid(text, false) {
        cx.err(
            node,
            format!("matchName `{text}` is not valid (Cilium requires `^([-a-zA-Z0-9_]+[.]?)+$`, 255 characters at most)"),
        );
        return None;
    }
    let name = text.to_ascii_lowercase();
    let name = name.strip_suffix('.').unwrap_or(&name).to_string();
    checked(cx, node, name)
}

/// Cilium's matchPattern: lowercase, fully qualified; `*` alone (or only stars) is every name;
/// `*` inside a label is 0+ of `[-a-z0-9_]`; a leading `**.` is one or more labels from
/// Cilium 1.19 and `*.` before; `**` elsewhere is `*`.
pub(crate) fn fqdn_pattern(
    cx: &mut Cx,
    node: &Node,
    text: &str,
    version: CiliumVersion,
) -> Option<String> {
    if !valid(text, true) {
        cx.err(
            node,
            format!("matchPattern `{text}` is not valid (Cilium requires `^([-a-zA-Z0-9_*]+[.]?)+$`, 255 characters at most)"),
        );
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let body = lower.strip_suffix('.').unwrap_or(&lower);
    if body.chars().all(|c| c == '*') {
        return Some("*".into());
    }
    let mut labels: Vec<Label> = Vec::new();
    for (i, l) in body.split('.').enumerate() {
        if i == 0 && l == "**" && version >= CiliumVersion::new(1, 19) {
            labels.push(Label::Many);
            continue;
        }
        if i > 0 && l.len() > 1 && l.chars().all(|c| c == '*') {
            cx.warn(
                node,
                format!("`{l}` after the first label means one label (`*`) in Cilium"),
            );
        }
        labels.push(Label::Glob(collapse_stars(l)));
    }
    to_hostgate(cx, node, &labels)
}

/// serverNames, by version: up to 1.19 exact, `*.x` one label, `**.x` one or more, anything
/// else never matches; from 1.20 `*` anywhere in a label, `**` one or more whole labels
/// anywhere, `*`/`**` alone every name. A trailing dot never matches.
fn server_name(cx: &mut Cx, node: &Node, version: CiliumVersion) -> Option<String> {
    if version < CiliumVersion::new(1, 18) {
        cx.err(node, "serverNames needs Cilium 1.18 or later");
        return None;
    }
    let text = cx.str(node, "a server name")?;
    if !valid(text, true) {
        cx.err(
            node,
            format!("server name `{text}` is not a DNS name or wildcard"),
        );
        return None;
    }
    if text.ends_with('.') {
        cx.warn(
            node,
            format!("server name `{text}` ends with a dot, which never matches an SNI: left out"),
        );
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let labels: Vec<&str> = lower.split('.').collect();
    if version < CiliumVersion::new(1, 20) {
        let rest_literal = labels[1..].iter().all(|l| !l.contains('*'));
        let first = labels[0];
        let ok = !first.contains('*') && rest_literal
            || (first == "*" || first == "**") && labels.len() > 1 && rest_literal;
        if !ok {
            cx.warn(
                node,
                format!(
                    "server name `{text}`: Cilium {version} matches `*` only as a leading `*.` \
                     or `**.`, so this never matches: left out"
                ),
            );
            return None;
        }
        let p = if first == "**" {
            format!("**.{}", labels[1..].join("."))
        } else {
            lower.clone()
        };
        return checked(cx, node, p);
    }
    if labels.iter().all(|l| l.chars().all(|c| c == '*')) && labels.len() == 1 {
        return Some("*".into());
    }
    let labels: Vec<Label> = labels
        .iter()
        .map(|l| {
            if l.len() > 1 && l.chars().all(|c| c == '*') {
                Label::Many
            } else {
                Label::Glob(collapse_stars(l))
            }
        })
        .collect();
    to_hostgate(cx, node, &labels)
}

enum Label {
    /// One or more whole labels.
    Many,
    /// One label, `*` = 0+ of `[-a-z0-9_]`.
    Glob(String),
}

fn collapse_stars(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for c in label.chars() {
        if !(c == '*' && out.ends_with('*')) {
            out.push(c);
        }
    }
    out
}

/// The hostgate pattern for a label sequence: its own syntax where it has one (`**.x`, `*.x`,
/// in-label globs), else an anchored regex with the same meaning.
fn to_hostgate(cx: &mut Cx, node: &Node, labels: &[Label]) -> Option<String> {
    let many_only_first = labels
        .iter()
        .enumerate()
        .all(|(i, l)| i == 0 || matches!(l, Label::Glob(_)));
    if many_only_first {
        let text: Vec<&str> = labels
            .iter()
            .map(|l| match l {
                Label::Many => "**",
                Label::Glob(g) => g.as_str(),
            })
            .collect();
        let text = text.join(".");
        if hostgate::Pattern::parse(&text).is_ok() {
            return Some(text);
        }
    }
    // Every literal label must be one a name can have, or the regex never matches.
    for l in labels {
        if let Label::Glob(g) = l {
            if g.replace('*', "").len() > 63 {
                cx.err(node, "a label longer than 63 characters never matches");
                return None;
            }
        }
    }
    const LABEL: &str = "[a-z0-9_-]";
    let parts: Vec<String> = labels
        .iter()
        .map(|l| match l {
            Label::Many => format!("{LABEL}+(?:\\.{LABEL}+)*"),
            Label::Glob(g) => g
                .chars()
                .map(|c| match c {
                    '*' => format!("{LABEL}*"),
                    c => c.to_string(),
                })
                .collect(),
        })
        .collect();
    checked(cx, node, format!("~{}", parts.join("\\.")))
}
