//! AWS Network Firewall stateful domain-list rule groups (`RulesSourceList`), alone or with the
//! firewall policy that orders them.
//!
//! Inputs: `aws network-firewall describe-rule-group` / `describe-firewall-policy` JSON, the bare
//! `RuleGroup` object, a bundle `{"FirewallPolicy": …, "RuleGroups": [describe-rule-group
//! output…]}`, or a CloudFormation template with `AWS::NetworkFirewall::RuleGroup` and
//! `AWS::NetworkFirewall::FirewallPolicy` resources (YAML or JSON).
//!
//! Meaning is that of the Suricata rules Network Firewall generates from a domain list: a
//! `TLS_SNI` target is matched against the SNI (case-insensitive), an `HTTP_HOST` target against
//! the normalized Host (lower-cased, port removed); `x` is exact and `.x` is `x` and every name
//! below it; every destination port; an `ALLOWLIST` also drops every other ClientHello /
//! HTTP request (only of its target types).

use hostgate::{Action, Precedence, RuleSpec, Via};

use crate::cloud::{self, Doc};
use crate::kube::{checked, Cx};
use crate::terraform;
use crate::yaml::{self, Node, Value};
use crate::{Options, Read, RuleSource};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Order {
    Action,
    Strict,
}

impl Order {
    fn name(self) -> &'static str {
        match self {
            Order::Action => "DEFAULT_ACTION_ORDER",
            Order::Strict => "STRICT_ORDER",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Generated {
    Allow,
    Deny,
    Reject,
    Alert,
}

/// A domain list: what its rules do, where, and for which names.
struct List {
    kind: Generated,
    kind_node: Node,
    node: Node,
    via: Vec<Via>,
    targets: Vec<(String, Node)>,
}

struct Group {
    label: String,
    file: String,
    arn: Option<String>,
    cfn: Option<String>,
    order: Order,
    order_node: Node,
    /// `None` for a stateless group (warned, not reproduced).
    list: Option<List>,
    node: Node,
}

enum Target {
    Arn(String),
    Cfn(String),
}

struct Reference {
    to: Target,
    priority: Option<(i64, Node)>,
    alert_only: bool,
    node: Node,
}

struct Policy {
    order: Order,
    /// A stateful default drop action (`aws:drop_*`), if any.
    drop: bool,
    references: Vec<Reference>,
}

#[derive(Default)]
struct State {
    groups: Vec<Group>,
    policy: Option<(Policy, String)>,
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

/// The format's reader: every file's rule groups and firewall policy into one policy.
pub(crate) fn import(cx: &mut Cx, files: &[(&str, &[u8])], _options: &Options) -> Read {
    let mut state = State::default();
    let mut tf = terraform::Set::default();
    for (name, bytes) in files {
        let Some(doc) = cloud::input(cx, &mut tf, &terraform::AWS_NFW, name, bytes) else {
            continue;
        };
        if doc.roots.is_empty() {
            cx.err_at(1, 1, "no Network Firewall rule group or firewall policy");
        }
        for root in &doc.roots {
            read_root(cx, &doc, root, name, &mut state, true);
        }
    }
    if tf.any {
        // Terraform resources, in the shape of `describe-rule-group` (`RuleGroup`,
        // `RuleGroupResponse` with the address as its ARN) and of a `FirewallPolicy`.
        let data = Doc::data(Vec::new());
        for c in terraform::finish(cx, tf, &terraform::AWS_NFW) {
            cx.file = c.file.clone();
            read_root(cx, &data, &c.node, &c.file, &mut state, false);
        }
    }
    combine(cx, state)
}

fn read_root(cx: &mut Cx, doc: &Doc, root: &Node, file: &str, state: &mut State, top: bool) {
    let Value::Map(_) = &root.value else {
        let list_of_names = matches!(&root.value, Value::Seq(items)
            if items.iter().all(|i| matches!(i.value, Value::Scalar { .. })));
        cx.err(
            root,
            format!(
                "expected a Network Firewall rule group, firewall policy, bundle or \
                 CloudFormation template (a mapping), not {}{}",
                root.kind(),
                if list_of_names {
                    "; a list of targets alone does not say GeneratedRulesType and TargetTypes"
                } else {
                    ""
                }
            ),
        );
        return;
    };
    if top && (get(root, "Resources").is_some() || get(root, "AWSTemplateFormatVersion").is_some())
    {
        read_template(cx, doc, root, file, state);
        return;
    }
    if get(root, "RulesSource").is_some() {
        let label = format!("RuleGroup/{}", cloud::stem(file));
        read_group(cx, doc, root, file, label, None, None, state);
        return;
    }
    let known = [
        "UpdateToken",
        "RuleGroup",
        "RuleGroupResponse",
        "FirewallPolicy",
        "FirewallPolicyResponse",
        "RuleGroups",
    ];
    let Some(f) = doc.fields(cx, root, "a Network Firewall API output", &known) else {
        return;
    };
    if f.get("RuleGroup").is_none()
        && f.get("FirewallPolicy").is_none()
        && f.get("RuleGroups").is_none()
    {
        cx.err(
            root,
            "neither `RuleGroup`, `FirewallPolicy` nor `RuleGroups`: not a Network Firewall \
             rule group or firewall policy",
        );
        return;
    }
    if let Some(group) = f.get("RuleGroup") {
        let mut label = format!("RuleGroup/{}", cloud::stem(file));
        let mut arn = None;
        if let Some(resp) = f.get("RuleGroupResponse") {
            let known = [
                "RuleGroupArn",
                "RuleGroupName",
                "RuleGroupId",
                "Description",
                "Type",
                "Capacity",
                "RuleGroupStatus",
                "Tags",
                "ConsumedCapacity",
                "NumberOfAssociations",
                "EncryptionConfiguration",
                "SourceMetadata",
                "SnsTopic",
                "LastModifiedTime",
                "AnalysisResults",
                "SummaryConfiguration",
            ];
            let Some(r) = doc.fields(cx, resp, "RuleGroupResponse", &known) else {
                return;
            };
            if let Some(n) = r.get("RuleGroupName") {
                let Some(name) = doc.str(cx, n, "RuleGroupName") else {
                    return;
                };
                if !cloud::id_safe(name) {
                    cx.err(
                        n,
                        format!("RuleGroupName `{name}` is not a rule group name"),
                    );
                    return;
                }
                label = format!("RuleGroup/{name}");
            }
            if let Some(a) = r.get("RuleGroupArn") {
                arn = doc.str(cx, a, "RuleGroupArn").map(str::to_string);
            }
            if let Some(t) = r.get("Type") {
                if doc.str(cx, t, "Type") == Some("STATELESS")
                    && get(group, "RulesSource")
                        .is_some_and(|s| get(s, "RulesSourceList").is_some())
                {
                    cx.err(t, "a STATELESS group cannot hold a domain list");
                    return;
                }
            }
        }
        read_group(cx, doc, group, file, label, arn, None, state);
    } else if let Some(resp) = f.key("RuleGroupResponse") {
        cx.err(resp, "`RuleGroupResponse` without `RuleGroup`");
    }
    if let Some(policy) = f.get("FirewallPolicy") {
        read_policy(cx, doc, policy, file, state);
    }
    if let Some(groups) = f.get("RuleGroups") {
        for item in doc.list(cx, groups, "RuleGroups").unwrap_or(&[]) {
            if get(item, "RuleGroup").is_none() {
                cx.err(
                    item,
                    "a `RuleGroups` entry is an `aws network-firewall describe-rule-group` \
                     output (with `RuleGroup`)",
                );
                continue;
            }
            read_root(cx, doc, item, file, state, false);
        }
    }
}

fn read_template(cx: &mut Cx, doc: &Doc, root: &Node, file: &str, state: &mut State) {
    let known = [
        "AWSTemplateFormatVersion",
        "Description",
        "Metadata",
        "Parameters",
        "Mappings",
        "Conditions",
        "Transform",
        "Resources",
        "Outputs",
        "Rules",
    ];
    let Some(f) = cx.fields(root, "a CloudFormation template", &known) else {
        return;
    };
    let Some(resources) = f.get("Resources") else {
        cx.err(root, "a CloudFormation template without `Resources`");
        return;
    };
    let Some(entries) = cloud::entries(cx, resources, "Resources") else {
        return;
    };
    let mut found = false;
    for (key, res) in entries {
        let Some(id) = cx.str(key, "a resource's logical id").map(str::to_string) else {
            continue;
        };
        let Some(ty) = get(res, "Type") else {
            continue;
        };
        let ty_s = doc.str(cx, ty, "Type").unwrap_or("");
        let is_group = ty_s == "AWS::NetworkFirewall::RuleGroup";
        let is_policy = ty_s == "AWS::NetworkFirewall::FirewallPolicy";
        if !is_group && !is_policy {
            // Other resources (VPCs, routes, the firewall itself, logging) hold no names.
            continue;
        }
        found = true;
        let known = [
            "Type",
            "Properties",
            "DependsOn",
            "Metadata",
            "Condition",
            "DeletionPolicy",
            "UpdateReplacePolicy",
            "UpdatePolicy",
            "CreationPolicy",
        ];
        let Some(rf) = cx.fields(res, &format!("resource {id}"), &known) else {
            continue;
        };
        if let Some(c) = rf.key("Condition") {
            cx.warn(
                c,
                format!("{id} is created only when its Condition holds: read as created"),
            );
        }
        let Some(props) = rf.get("Properties") else {
            cx.err(res, format!("{id} without `Properties`"));
            continue;
        };
        if !cloud::id_safe(&id) {
            cx.err(key, format!("logical id `{id}` cannot name rules"));
            continue;
        }
        if is_group {
            let known = [
                "Capacity",
                "RuleGroupName",
                "Description",
                "Type",
                "RuleGroup",
                "Tags",
                "SummaryConfiguration",
            ];
            let Some(p) = doc.fields(cx, props, &format!("{id}'s Properties"), &known) else {
                continue;
            };
            let Some(group) = p.get("RuleGroup") else {
                cx.err(props, format!("{id} without `RuleGroup`"));
                continue;
            };
            read_group(
                cx,
                doc,
                group,
                file,
                format!("RuleGroup/{id}"),
                None,
                Some(id.clone()),
                state,
            );
        } else {
            let known = [
                "FirewallPolicyName",
                "FirewallPolicy",
                "Description",
                "Tags",
            ];
            let Some(p) = doc.fields(cx, props, &format!("{id}'s Properties"), &known) else {
                continue;
            };
            let Some(policy) = p.get("FirewallPolicy") else {
                cx.err(props, format!("{id} without `FirewallPolicy`"));
                continue;
            };
            read_policy(cx, doc, policy, file, state);
        }
    }
    if !found {
        cx.err(
            resources,
            "no AWS::NetworkFirewall::RuleGroup or AWS::NetworkFirewall::FirewallPolicy resource",
        );
    }
}

fn read_order(cx: &mut Cx, doc: &Doc, node: &Node) -> Option<Order> {
    match doc.str(cx, node, "RuleOrder")? {
        "DEFAULT_ACTION_ORDER" => Some(Order::Action),
        "STRICT_ORDER" => Some(Order::Strict),
        other => {
            cx.err(
                node,
                format!("RuleOrder `{other}`; expected DEFAULT_ACTION_ORDER or STRICT_ORDER"),
            );
            None
        }
    }
}

fn warn_variables(cx: &mut Cx, doc: &Doc, node: &Node, home_net_seen: &mut bool) {
    let Some(f) = doc.fields(cx, node, "RuleVariables", &["IPSets", "PortSets"]) else {
        return;
    };
    if let Some(sets) = f.get("IPSets") {
        for (k, v) in cloud::entries(cx, sets, "IPSets").unwrap_or(&[]) {
            let key = yaml::scalar(k).unwrap_or("");
            let defs: Vec<String> = get(v, "Definition")
                .and_then(|d| doc.list(cx, d, "Definition"))
                .unwrap_or(&[])
                .iter()
                .filter_map(|d| yaml::scalar(d).map(str::to_string))
                .collect();
            if key == "HOME_NET" {
                *home_net_seen = true;
                cx.warn(
                    k,
                    format!(
                        "HOME_NET {}: the domain-list rules apply only to traffic from these \
                         addresses; hostgate applies them to every query",
                        defs.join(", ")
                    ),
                );
            } else {
                cx.warn(
                    k,
                    format!("IP set `{key}`: addresses are not reproduced by a name-based engine"),
                );
            }
        }
    }
    if let Some(k) = f.key("PortSets") {
        cx.warn(k, "port sets are not used by domain-list rules: not read");
    }
}

#[allow(clippy::too_many_arguments)]
fn read_group(
    cx: &mut Cx,
    doc: &Doc,
    node: &Node,
    file: &str,
    label: String,
    arn: Option<String>,
    cfn: Option<String>,
    state: &mut State,
) {
    let known = [
        "RuleVariables",
        "ReferenceSets",
        "RulesSource",
        "StatefulRuleOptions",
    ];
    let Some(f) = doc.fields(cx, node, "a rule group", &known) else {
        return;
    };
    let mut order = Order::Action;
    let mut order_node = node.clone();
    if let Some(opts) = f.get("StatefulRuleOptions") {
        let Some(o) = doc.fields(cx, opts, "StatefulRuleOptions", &["RuleOrder"]) else {
            return;
        };
        if let Some(r) = o.get("RuleOrder") {
            let Some(parsed) = read_order(cx, doc, r) else {
                return;
            };
            order = parsed;
            order_node = r.clone();
        }
    }
    let Some(source) = f.get("RulesSource") else {
        cx.err(node, "a rule group without `RulesSource`");
        return;
    };
    let known = [
        "RulesString",
        "RulesSourceList",
        "StatefulRules",
        "StatelessRulesAndCustomActions",
    ];
    let Some(s) = doc.fields(cx, source, "RulesSource", &known) else {
        return;
    };
    for (key, what) in [
        ("RulesString", "Suricata rules"),
        ("StatefulRules", "rules by address, port and protocol"),
    ] {
        if let Some(k) = s.key(key) {
            cx.err(
                k,
                format!(
                    "{key} ({what}) is not read: only domain lists (RulesSourceList) are; \
                     such rules can pass or drop traffic no name decides"
                ),
            );
            return;
        }
    }
    let mut home_net = false;
    if let Some(vars) = f.get("RuleVariables") {
        warn_variables(cx, doc, vars, &mut home_net);
    }
    if let Some(k) = f.key("ReferenceSets") {
        cx.warn(
            k,
            "IP set references: addresses are not reproduced by a name-based engine",
        );
    }
    let list = if let Some(k) = s.key("StatelessRulesAndCustomActions") {
        cx.warn(
            k,
            "a stateless rule group decides by address, port and protocol before the stateful \
             engine sees a name: not reproduced",
        );
        None
    } else if let Some(l) = s.get("RulesSourceList") {
        let Some(list) = read_list(cx, doc, l) else {
            return;
        };
        if !home_net {
            cx.warn(
                l,
                "without HOME_NET the rules apply only to traffic from the firewall's VPC CIDR \
                 (other sources bypass them); hostgate applies them to every query",
            );
        }
        Some(list)
    } else {
        cx.err(source, "RulesSource without `RulesSourceList`");
        return;
    };
    state.groups.push(Group {
        label,
        file: file.to_string(),
        arn,
        cfn,
        order,
        order_node,
        list,
        node: node.clone(),
    });
}

fn read_list(cx: &mut Cx, doc: &Doc, node: &Node) -> Option<List> {
    let known = ["Targets", "TargetTypes", "GeneratedRulesType"];
    let f = doc.fields(cx, node, "RulesSourceList", &known)?;
    let (Some(targets), Some(types), Some(kind)) = (
        f.get("Targets"),
        f.get("TargetTypes"),
        f.get("GeneratedRulesType"),
    ) else {
        cx.err(
            node,
            "a RulesSourceList needs Targets, TargetTypes and GeneratedRulesType",
        );
        return None;
    };
    let kind_s = doc.str(cx, kind, "GeneratedRulesType")?;
    let generated = match kind_s {
        "ALLOWLIST" => Generated::Allow,
        "DENYLIST" => Generated::Deny,
        "REJECTLIST" => Generated::Reject,
        "ALERTLIST" => Generated::Alert,
        other => {
            cx.err(
                kind,
                format!(
                    "GeneratedRulesType `{other}`; expected ALLOWLIST, DENYLIST, REJECTLIST or \
                     ALERTLIST"
                ),
            );
            return None;
        }
    };
    let mut via = Vec::new();
    let mut http = false;
    let mut ok = true;
    for t in doc.list(cx, types, "TargetTypes")? {
        match doc.str(cx, t, "a target type") {
            Some("TLS_SNI") => {
                if !via.contains(&Via::Tls) {
                    via.push(Via::Tls);
                }
                cx.warn(
                    t,
                    "TLS_SNI rules are Suricata `tls` rules, which are not documented to see \
                     QUIC; hostgate's via tls includes QUIC's TLS",
                );
            }
            Some("HTTP_HOST") => {
                http = true;
                for v in [Via::Http, Via::Connect] {
                    if !via.contains(&v) {
                        via.push(v);
                    }
                }
            }
            Some("AWS_ROUTE_53_RESOLVED_DOMAIN") => {
                cx.err(
                    t,
                    "AWS_ROUTE_53_RESOLVED_DOMAIN matches by DNS resolution, which a \
                     name-based engine does not see: not read",
                );
                ok = false;
            }
            Some(other) => {
                cx.err(
                    t,
                    format!("target type `{other}`; expected TLS_SNI or HTTP_HOST"),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if via.is_empty() && ok {
        cx.err(types, "TargetTypes is empty");
        ok = false;
    }
    let mut out = Vec::new();
    for t in doc.list(cx, targets, "Targets")? {
        let Some(text) = doc.str(cx, t, "a target") else {
            ok = false;
            continue;
        };
        match target(text, http) {
            Ok(p) => match checked(cx, t, p) {
                Some(p) => out.push((p, t.clone())),
                None => ok = false,
            },
            Err(why) => {
                cx.err(t, format!("target `{text}`: {why}"));
                ok = false;
            }
        }
    }
    if generated == Generated::Alert {
        cx.warn(
            kind,
            "ALERTLIST only logs: traffic passes or drops by the other rules, so this group \
             has no rules here",
        );
    }
    ok.then_some(List {
        kind: generated,
        kind_node: kind.clone(),
        node: node.clone(),
        via,
        targets: out,
    })
}

/// A target as a hostgate pattern: `x` exact, `.x` the apex and every name below.
fn target(text: &str, http: bool) -> Result<String, String> {
    let (dot, body) = match text.strip_prefix('.') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if body.is_empty() {
        return Err("empty".into());
    }
    if body.ends_with('.') {
        return Err(
            "a trailing dot: the generated rules then need the name itself to end in a dot, \
             which hostgate removes from names; not reproduced"
                .into(),
        );
    }
    if body.contains('*') {
        return Err(
            "`*` is matched literally by the generated rules (targets have no wildcards; \
             `.x` is x and every name below it): it matches no valid name"
                .into(),
        );
    }
    let ok = body.split('.').all(|l| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if !ok {
        return Err("not a domain name".into());
    }
    if http && body.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(
            "upper case with HTTP_HOST: the generated http.host rules compare with the \
             lower-cased Host, and Suricata refuses upper-case http.host content; its meaning \
             is not verified"
                .into(),
        );
    }
    let lower = body.to_ascii_lowercase();
    Ok(if dot { format!(".{lower}") } else { lower })
}

fn read_policy(cx: &mut Cx, doc: &Doc, node: &Node, file: &str, state: &mut State) {
    if let Some((_, first)) = &state.policy {
        cx.err(
            node,
            format!("a second firewall policy (the first is in {first}): give one"),
        );
        return;
    }
    let known = [
        "StatelessRuleGroupReferences",
        "StatelessDefaultActions",
        "StatelessFragmentDefaultActions",
        "StatelessCustomActions",
        "StatefulRuleGroupReferences",
        "StatefulDefaultActions",
        "StatefulEngineOptions",
        "TLSInspectionConfigurationArn",
        "PolicyVariables",
        "EnableTLSSessionHolding",
    ];
    let Some(f) = doc.fields(cx, node, "FirewallPolicy", &known) else {
        return;
    };
    for key in ["StatelessDefaultActions", "StatelessFragmentDefaultActions"] {
        if let Some(list) = f.get(key) {
            for a in doc.list(cx, list, key).unwrap_or(&[]) {
                let Some(s) = doc.str(cx, a, "an action") else {
                    continue;
                };
                if s != "aws:forward_to_sfe" {
                    cx.warn(
                        a,
                        format!(
                            "{key} `{s}`: packets no stateless rule forwards do not reach the \
                             domain lists; not reproduced"
                        ),
                    );
                }
            }
        }
    }
    if let Some(refs) = f.get("StatelessRuleGroupReferences") {
        if !doc
            .list(cx, refs, "StatelessRuleGroupReferences")
            .unwrap_or(&[])
            .is_empty()
        {
            cx.warn(
                refs,
                "stateless rule groups decide by address, port and protocol before any name is \
                 seen: not reproduced",
            );
        }
    }
    if let Some(k) = f.key("TLSInspectionConfigurationArn") {
        cx.warn(
            k,
            "TLS inspection lets rules see inside decrypted HTTPS: not reproduced (hostgate \
             decides by the SNI)",
        );
    }
    if let Some(k) = f.key("PolicyVariables") {
        cx.warn(
            k,
            "policy variables (HOME_NET): the rules apply only to traffic from these addresses; \
             hostgate applies them to every query",
        );
    }
    let mut order = Order::Action;
    if let Some(opts) = f.get("StatefulEngineOptions") {
        let known = ["RuleOrder", "StreamExceptionPolicy", "FlowTimeouts"];
        let Some(o) = doc.fields(cx, opts, "StatefulEngineOptions", &known) else {
            return;
        };
        if let Some(r) = o.get("RuleOrder") {
            let Some(parsed) = read_order(cx, doc, r) else {
                return;
            };
            order = parsed;
        }
        if let Some(k) = o.key("StreamExceptionPolicy") {
            cx.warn(
                k,
                "what happens to a flow after a stream error is not reproduced",
            );
        }
    }
    let mut drop = false;
    if let Some(list) = f.get("StatefulDefaultActions") {
        let items = doc.list(cx, list, "StatefulDefaultActions").unwrap_or(&[]);
        if order == Order::Action && !items.is_empty() {
            cx.err(
                list,
                "StatefulDefaultActions need StatefulEngineOptions.RuleOrder STRICT_ORDER",
            );
            return;
        }
        for a in items {
            let Some(s) = doc.str(cx, a, "a stateful default action") else {
                return;
            };
            match s {
                "aws:drop_strict"
                | "aws:drop_established"
                | "aws:drop_established_app_layer"
                | "aws:drop_established_to_server"
                | "aws:drop_established_app_layer_to_server" => drop = true,
                "aws:alert_strict"
                | "aws:alert_established"
                | "aws:alert_established_app_layer"
                | "aws:alert_established_to_server"
                | "aws:alert_established_app_layer_to_server" => {}
                other => {
                    cx.err(
                        a,
                        format!(
                            "stateful default action `{other}`; expected aws:drop_strict, \
                             aws:drop_established, aws:drop_established_app_layer or an \
                             aws:alert_ action"
                        ),
                    );
                    return;
                }
            }
        }
    }
    let mut references = Vec::new();
    if let Some(refs) = f.get("StatefulRuleGroupReferences") {
        for r in doc
            .list(cx, refs, "StatefulRuleGroupReferences")
            .unwrap_or(&[])
        {
            let known = [
                "ResourceArn",
                "Priority",
                "Override",
                "DeepThreatInspection",
            ];
            let Some(rf) = doc.fields(cx, r, "a rule group reference", &known) else {
                continue;
            };
            let Some(arn) = rf.get("ResourceArn") else {
                cx.err(r, "a rule group reference without `ResourceArn`");
                continue;
            };
            let Some(to) = reference(cx, doc, arn) else {
                continue;
            };
            let priority = match rf.get("Priority") {
                Some(p) => match doc.int(cx, p, "Priority") {
                    Some(n) => Some((n, p.clone())),
                    None => continue,
                },
                None => None,
            };
            let mut alert_only = false;
            if let Some(o) = rf.get("Override") {
                let Some(of) = doc.fields(cx, o, "Override", &["Action"]) else {
                    continue;
                };
                if let Some(a) = of.get("Action") {
                    match doc.str(cx, a, "Override.Action") {
                        Some("DROP_TO_ALERT") => {
                            alert_only = true;
                            cx.warn(
                                a,
                                "DROP_TO_ALERT: this group's drops only alert, so only its \
                                 passes are rules here",
                            );
                        }
                        Some(other) => {
                            cx.err(
                                a,
                                format!("Override.Action `{other}`; expected DROP_TO_ALERT"),
                            );
                            continue;
                        }
                        None => continue,
                    }
                }
            }
            references.push(Reference {
                to,
                priority,
                alert_only,
                node: arn.clone(),
            });
        }
    }
    state.policy = Some((
        Policy {
            order,
            drop,
            references,
        },
        file.to_string(),
    ));
}

/// A reference's target: an ARN, or in a template `!GetAtt X.RuleGroupArn` / `!Ref X` (and
/// their JSON forms).
fn reference(cx: &mut Cx, doc: &Doc, node: &Node) -> Option<Target> {
    if let Some(arg) = doc.tagged_scalar(node, "!GetAtt") {
        if let Some(id) = arg.strip_suffix(".RuleGroupArn") {
            return Some(Target::Cfn(id.to_string()));
        }
    }
    if let Some(arg) = doc.tagged_scalar(node, "!Ref") {
        return Some(Target::Cfn(arg.to_string()));
    }
    if let Some(r) = get(node, "Ref").filter(|_| doc.function(node).as_deref() == Some("Ref")) {
        return cx.str(r, "Ref").map(|s| Target::Cfn(s.to_string()));
    }
    if let Some(g) = get(node, "Fn::GetAtt").filter(|_| doc.function(node).is_some()) {
        let parts: Vec<&str> = match &g.value {
            Value::Scalar { text, .. } => text.splitn(2, '.').collect(),
            Value::Seq(items) => items.iter().filter_map(yaml::scalar).collect(),
            Value::Map(_) => Vec::new(),
        };
        if let [id, "RuleGroupArn"] = parts.as_slice() {
            return Some(Target::Cfn((*id).to_string()));
        }
    }
    doc.str(cx, node, "ResourceArn")
        .map(|s| Target::Arn(s.to_string()))
}

/// One rule of a group with its id's index and where it came from.
struct Out {
    rule: RuleSpec,
    source: RuleSource,
}

/// A group's generated rules, in the generated order: passes, then drops (a deny list's, or an
/// allow list's catch-all), then rejects.
struct Generated4 {
    pass: Vec<Out>,
    drop: Vec<Out>,
    catch_all: Vec<Out>,
    reject: Vec<Out>,
}

fn generate(group: &Group, list: &List, alert_only: bool) -> Generated4 {
    let mut n = 0usize;
    let mut make = |action: Action, pattern: &str, node: &Node| {
        let mut rule = RuleSpec::new(action, pattern);
        rule.via = list.via.clone();
        rule.id = Some(format!("{}:{n}", group.label));
        rule.line = node.line;
        n += 1;
        Out {
            rule,
            source: RuleSource {
                file: group.file.clone(),
                line: node.line,
                column: node.column,
                object: group.label.clone(),
            },
        }
    };
    let mut g = Generated4 {
        pass: Vec::new(),
        drop: Vec::new(),
        catch_all: Vec::new(),
        reject: Vec::new(),
    };
    match list.kind {
        Generated::Allow => {
            for (p, node) in &list.targets {
                g.pass.push(make(Action::Allow, p, node));
            }
            if !alert_only {
                // The generated catch-all drops every ClientHello / HTTP request not passed,
                // by IP literal too.
                for p in ["*", "0.0.0.0/0", "::/0"] {
                    g.catch_all.push(make(Action::Deny, p, &list.kind_node));
                }
            }
        }
        Generated::Deny | Generated::Reject if !alert_only => {
            for (p, node) in &list.targets {
                let out = make(Action::Deny, p, node);
                if list.kind == Generated::Deny {
                    g.drop.push(out);
                } else {
                    g.reject.push(out);
                }
            }
        }
        _ => {}
    }
    g
}

fn combine(cx: &mut Cx, state: State) -> Read {
    let mut read = Read::new(Action::Allow);
    read.precedence = Precedence::FirstMatch;
    if !cx.errors.is_empty() {
        return read;
    }
    let State { groups, policy } = state;
    // The groups in force, in order, and whether each only alerts.
    let sequence: Vec<(usize, bool)>;
    let order;
    match &policy {
        Some((p, file)) => {
            cx.file = file.clone();
            order = p.order;
            let mut refs: Vec<(i64, usize, bool, &Node)> = Vec::new();
            for r in &p.references {
                let found = groups.iter().position(|g| match &r.to {
                    Target::Arn(a) => g.arn.as_deref() == Some(a.as_str()),
                    Target::Cfn(id) => g.cfn.as_deref() == Some(id.as_str()),
                });
                let Some(i) = found else {
                    let what = match &r.to {
                        Target::Arn(a) => a.clone(),
                        Target::Cfn(id) => id.clone(),
                    };
                    cx.err(
                        &r.node,
                        format!(
                            "rule group `{what}` is not among the inputs: its rules would decide \
                             traffic"
                        ),
                    );
                    continue;
                };
                if groups[i].list.is_none() {
                    cx.err(
                        &r.node,
                        "a stateless rule group among the stateful references",
                    );
                    continue;
                }
                let priority = match (&r.priority, order) {
                    (Some((n, _)), _) => *n,
                    (None, Order::Strict) => {
                        cx.err(
                            &r.node,
                            "STRICT_ORDER: a rule group reference needs `Priority`",
                        );
                        continue;
                    }
                    (None, Order::Action) => 0,
                };
                if order == Order::Strict {
                    if let Some((_, _, _, other)) = refs.iter().find(|(q, ..)| *q == priority) {
                        let line = other.line;
                        let at = r.priority.as_ref().map_or(&r.node, |(_, n)| n);
                        cx.err(
                            at,
                            format!("Priority {priority} is also used at line {line}"),
                        );
                        continue;
                    }
                }
                refs.push((priority, i, r.alert_only, &r.node));
            }
            if order == Order::Strict {
                refs.sort_by_key(|r| r.0);
            }
            sequence = refs.iter().map(|(_, i, a, _)| (*i, *a)).collect();
            for (i, g) in groups.iter().enumerate() {
                if g.list.is_some() && !sequence.iter().any(|(j, _)| *j == i) {
                    cx.file = g.file.clone();
                    cx.warn(
                        &g.node,
                        format!(
                            "{} is not in the firewall policy's StatefulRuleGroupReferences: \
                             not applied",
                            g.label
                        ),
                    );
                }
            }
            if p.drop {
                read.default = Action::Deny;
            }
        }
        None => {
            let stateful: Vec<usize> = (0..groups.len())
                .filter(|&i| groups[i].list.is_some())
                .collect();
            order = stateful.first().map_or(Order::Action, |&i| groups[i].order);
            if order == Order::Strict {
                if stateful.len() > 1 {
                    let g = &groups[stateful[1]];
                    cx.file = g.file.clone();
                    cx.err(
                        &g.node,
                        "several STRICT_ORDER rule groups without their firewall policy: its \
                         references' priorities decide their order",
                    );
                } else if let Some(&i) = stateful.first() {
                    let g = &groups[i];
                    cx.file = g.file.clone();
                    cx.warn(
                        &g.order_node,
                        "STRICT_ORDER without the firewall policy: its stateful default \
                         actions are not known; traffic no rule decides passes here",
                    );
                }
            }
            sequence = stateful.into_iter().map(|i| (i, false)).collect();
        }
    }
    for &(i, _) in &sequence {
        let g = &groups[i];
        if g.order != order {
            cx.file = g.file.clone();
            cx.err(
                &g.order_node,
                format!(
                    "{} has RuleOrder {}, the firewall policy {}: Network Firewall refuses this",
                    g.label,
                    g.order.name(),
                    order.name()
                ),
            );
        }
    }
    if !cx.errors.is_empty() {
        return read;
    }
    let generated: Vec<(usize, Generated4)> = sequence
        .iter()
        .filter_map(|&(i, alert)| {
            let g = &groups[i];
            g.list.as_ref().map(|l| (i, generate(g, l, alert)))
        })
        .collect();
    let mut rules: Vec<Out> = Vec::new();
    match order {
        Order::Action => {
            // All passes of all groups, then drops, then rejects, whatever the priorities.
            let mut gens: Vec<Generated4> = generated.into_iter().map(|(_, g)| g).collect();
            for g in &mut gens {
                rules.append(&mut g.pass);
            }
            for g in &mut gens {
                rules.append(&mut g.drop);
            }
            for g in &mut gens {
                rules.append(&mut g.catch_all);
            }
            for g in &mut gens {
                rules.append(&mut g.reject);
            }
        }
        Order::Strict => {
            // An allow list's catch-all ends the search for its protocols: a later allow list
            // for one of them never passes anything.
            let mut closed: Vec<(Via, &str)> = Vec::new();
            for (i, mut g) in generated {
                let group = &groups[i];
                if let Some(list) = &group.list {
                    if list.kind == Generated::Allow {
                        if let Some((_, by)) = closed.iter().find(|(v, _)| list.via.contains(v)) {
                            cx.file = group.file.clone();
                            cx.warn(
                                &list.node,
                                format!(
                                    "after STRICT_ORDER allow list {by}, which drops every \
                                     other name of a protocol this list is for, these passes \
                                     never decide for that protocol"
                                ),
                            );
                        }
                        if !g.catch_all.is_empty() {
                            for v in &list.via {
                                closed.push((*v, group.label.as_str()));
                            }
                        }
                    }
                }
                rules.append(&mut g.pass);
                rules.append(&mut g.drop);
                rules.append(&mut g.catch_all);
                rules.append(&mut g.reject);
            }
        }
    }
    for o in rules {
        read.rules.push(o.rule);
        read.sources.push(o.source);
    }
    read
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn targets() {
        assert_eq!(target(".Example.com", false).unwrap(), ".example.com");
        assert_eq!(target("a.example.com", true).unwrap(), "a.example.com");
        assert!(target("A.example.com", true).is_err());
        assert!(target("*.example.com", false).is_err());
        assert!(target("example.com.", false).is_err());
        assert!(target(".", false).is_err());
        assert!(target("a..b", false).is_err());
    }
}
