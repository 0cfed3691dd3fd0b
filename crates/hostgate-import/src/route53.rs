//! Route 53 Resolver DNS Firewall: rule groups, their VPC associations and domain lists.
//!
//! Inputs: a bundle of AWS CLI outputs `{"FirewallConfig", "FirewallRuleGroupAssociations",
//! "FirewallRuleGroups": [{"Id", "Name", "FirewallRules": [...]}], "FirewallDomainLists":
//! [{"Id", "Name", "Domains": [...]}]}`, a CloudFormation template with
//! `AWS::Route53Resolver::FirewallDomainList` / `FirewallRuleGroup` /
//! `FirewallRuleGroupAssociation` resources, and domain list files (`NAME.txt`, one domain a
//! line; `NAME` is the list's id, name or logical id).
//!
//! Meaning: rule groups by association priority, rules by rule priority, lowest first; the first
//! matching rule decides (ALLOW and ALERT let the query through, BLOCK blocks it); no match
//! answers normally. `x` is exact, `*.x` every name below `x` (not `x`), `*` every name.

use hostgate::{Action, Precedence, RuleSpec, Via};

use crate::cloud::{self, Doc};
use crate::kube::{checked, Cx};
use crate::terraform;
use crate::yaml::{self, Node, Value};
use crate::{Options, Read, RuleSource};

/// One domain as written, and where.
struct Domain {
    text: String,
    file: String,
    line: u32,
    column: u32,
}

struct List {
    id: String,
    name: Option<String>,
    managed: bool,
    /// A template's `DomainFileUrl` (not fetched: the file is given as `ID.txt`).
    url: Option<Node>,
    domains: Option<Vec<Domain>>,
    file: String,
    node: Node,
}

struct Rule {
    priority: i64,
    action: Action,
    list: String,
    file: String,
    node: Node,
}

struct Group {
    id: String,
    label: String,
    rules: Vec<Rule>,
    file: String,
    node: Node,
}

struct Association {
    group: String,
    priority: i64,
    vpc: Option<String>,
    file: String,
    node: Node,
}

#[derive(Default)]
struct State {
    lists: Vec<List>,
    groups: Vec<Group>,
    associations: Option<Vec<Association>>,
    /// Domain list files: stem, file name, text.
    files: Vec<(String, String, String)>,
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

/// The format's reader: every file's rule groups, in association order, into one policy.
pub(crate) fn import(cx: &mut Cx, files: &[(&str, &[u8])], _options: &Options) -> Read {
    let mut state = State::default();
    let mut tf = terraform::Set::default();
    for (name, bytes) in files {
        cx.file = (*name).to_string();
        if name.to_ascii_lowercase().ends_with(".txt") {
            if let Some(text) = cloud::text(cx, bytes) {
                let stem = name.rsplit(['/', '\\']).next().unwrap_or(name);
                let stem = stem.rsplit_once('.').map_or(stem, |(s, _)| s);
                state
                    .files
                    .push((stem.to_string(), (*name).to_string(), text.to_string()));
            }
            continue;
        }
        let Some(doc) = cloud::input(cx, &mut tf, &terraform::ROUTE53, name, bytes) else {
            continue;
        };
        if doc.roots.is_empty() {
            cx.err_at(1, 1, "no DNS Firewall rule group");
        }
        for root in &doc.roots {
            if get(root, "Resources").is_some() || get(root, "AWSTemplateFormatVersion").is_some() {
                read_template(cx, &doc, root, name, &mut state);
            } else {
                read_bundle(cx, &doc, root, name, &mut state);
            }
        }
    }
    if tf.any {
        read_terraform(cx, tf, &mut state);
    }
    combine(cx, state)
}

/// Terraform resources as bundle entries (ids are their addresses); a rule, its own resource
/// in Terraform, joins the group its `firewall_rule_group_id` names.
fn read_terraform(cx: &mut Cx, tf: terraform::Set, state: &mut State) {
    let data = Doc::data(Vec::new());
    let converted = terraform::finish(cx, tf, &terraform::ROUTE53);
    let mut rules = Vec::new();
    for c in converted {
        cx.file = c.file.clone();
        let key = match c.ty {
            "aws_route53_resolver_firewall_domain_list" => "FirewallDomainLists",
            "aws_route53_resolver_firewall_rule_group" => "FirewallRuleGroups",
            "aws_route53_resolver_firewall_rule_group_association" => {
                if state.associations.is_none() {
                    state.associations = Some(Vec::new());
                }
                "FirewallRuleGroupAssociations"
            }
            "aws_route53_resolver_firewall_config" => {
                read_bundle(
                    cx,
                    &data,
                    &cloud::wrap("FirewallConfig", c.node),
                    &c.file,
                    state,
                );
                continue;
            }
            _ => {
                rules.push(c);
                continue;
            }
        };
        let list = Node {
            line: c.node.line,
            column: c.node.column,
            value: Value::Seq(vec![c.node]),
        };
        read_bundle(cx, &data, &cloud::wrap(key, list), &c.file, state);
    }
    for c in rules {
        cx.file = c.file.clone();
        let group = get(&c.node, "FirewallRuleGroupId")
            .and_then(yaml::scalar)
            .map(str::to_string);
        let Some(rule) = read_rule(cx, &data, &c.node, &c.file, None) else {
            continue;
        };
        match state
            .groups
            .iter_mut()
            .find(|g| Some(&g.id) == group.as_ref())
        {
            Some(g) => g.rules.push(rule),
            None => cx.err(
                &c.node,
                format!(
                    "{}: `firewall_rule_group_id` names no rule group among the inputs",
                    c.address
                ),
            ),
        }
    }
}

fn int(cx: &mut Cx, doc: &Doc, node: &Node, what: &str) -> Option<i64> {
    doc.int(cx, node, what)
}

fn read_bundle(cx: &mut Cx, doc: &Doc, root: &Node, file: &str, state: &mut State) {
    let known = [
        "FirewallConfig",
        "FirewallRuleGroupAssociations",
        "FirewallRuleGroups",
        "FirewallDomainLists",
    ];
    let Value::Map(_) = &root.value else {
        cx.err(
            root,
            format!(
                "expected a DNS Firewall bundle or CloudFormation template (a mapping), not {}",
                root.kind()
            ),
        );
        return;
    };
    let Some(f) = doc.fields(cx, root, "a DNS Firewall bundle", &known) else {
        return;
    };
    if let Some(c) = f.get("FirewallConfig") {
        let known = ["Id", "ResourceId", "OwnerId", "FirewallFailOpen"];
        if let Some(cf) = doc.fields(cx, c, "FirewallConfig", &known) {
            if let Some(o) = cf.get("FirewallFailOpen") {
                if doc.str(cx, o, "FirewallFailOpen") == Some("ENABLED") {
                    cx.warn(
                        o,
                        "FirewallFailOpen ENABLED: queries pass when the firewall does not \
                         answer; hostgate always decides",
                    );
                }
            }
        }
    }
    if let Some(assocs) = f.get("FirewallRuleGroupAssociations") {
        let known = [
            "Id",
            "Arn",
            "FirewallRuleGroupId",
            "VpcId",
            "Name",
            "Priority",
            "MutationProtection",
            "ManagedOwnerName",
            "Status",
            "StatusMessage",
            "CreatorRequestId",
            "CreationTime",
            "ModificationTime",
        ];
        let out = state.associations.get_or_insert_with(Vec::new);
        for a in doc
            .list(cx, assocs, "FirewallRuleGroupAssociations")
            .unwrap_or(&[])
        {
            let Some(af) = doc.fields(cx, a, "an association", &known) else {
                continue;
            };
            let (Some(g), Some(p)) = (af.get("FirewallRuleGroupId"), af.get("Priority")) else {
                cx.err(a, "an association needs FirewallRuleGroupId and Priority");
                continue;
            };
            let (Some(g), Some(p)) = (
                doc.str(cx, g, "FirewallRuleGroupId"),
                int(cx, doc, p, "Priority"),
            ) else {
                continue;
            };
            let vpc = af
                .get("VpcId")
                .and_then(|v| doc.str(cx, v, "VpcId"))
                .map(str::to_string);
            out.push(Association {
                group: g.to_string(),
                priority: p,
                vpc,
                file: file.to_string(),
                node: a.clone(),
            });
        }
    }
    if let Some(groups) = f.get("FirewallRuleGroups") {
        let known = [
            "Id",
            "Arn",
            "Name",
            "RuleCount",
            "Status",
            "StatusMessage",
            "OwnerId",
            "CreatorRequestId",
            "ShareStatus",
            "CreationTime",
            "ModificationTime",
            "FirewallRules",
        ];
        for g in doc.list(cx, groups, "FirewallRuleGroups").unwrap_or(&[]) {
            let Some(gf) = doc.fields(cx, g, "a rule group", &known) else {
                continue;
            };
            let Some(id) = gf.get("Id").and_then(|i| doc.str(cx, i, "Id")) else {
                cx.err(g, "a rule group without `Id`");
                continue;
            };
            let name = gf.get("Name").and_then(|n| yaml::scalar(n));
            let label = match name {
                Some(n) if cloud::id_safe(n) => n.to_string(),
                _ if cloud::id_safe(id) => id.to_string(),
                _ => {
                    cx.err(g, format!("rule group id `{id}` cannot name rules"));
                    continue;
                }
            };
            let mut group = Group {
                id: id.to_string(),
                label: format!("FirewallRuleGroup/{label}"),
                rules: Vec::new(),
                file: file.to_string(),
                node: g.clone(),
            };
            if let Some(rules) = gf.get("FirewallRules") {
                for r in doc.list(cx, rules, "FirewallRules").unwrap_or(&[]) {
                    if let Some(rule) = read_rule(cx, doc, r, file, Some(id)) {
                        group.rules.push(rule);
                    }
                }
            }
            state.groups.push(group);
        }
    }
    if let Some(lists) = f.get("FirewallDomainLists") {
        let known = [
            "Id",
            "Arn",
            "Name",
            "DomainCount",
            "Status",
            "StatusMessage",
            "ManagedOwnerName",
            "CreatorRequestId",
            "CreationTime",
            "ModificationTime",
            "Domains",
        ];
        for l in doc.list(cx, lists, "FirewallDomainLists").unwrap_or(&[]) {
            let Some(lf) = doc.fields(cx, l, "a domain list", &known) else {
                continue;
            };
            let Some(id) = lf.get("Id").and_then(|i| doc.str(cx, i, "Id")) else {
                cx.err(l, "a domain list without `Id`");
                continue;
            };
            let name = lf
                .get("Name")
                .and_then(|n| yaml::scalar(n))
                .map(str::to_string);
            let domains = lf.get("Domains").map(|d| inline(cx, doc, d, file));
            state.lists.push(List {
                id: id.to_string(),
                name,
                managed: lf.get("ManagedOwnerName").is_some(),
                url: None,
                domains,
                file: file.to_string(),
                node: l.clone(),
            });
        }
    }
}

fn inline(cx: &mut Cx, doc: &Doc, node: &Node, file: &str) -> Vec<Domain> {
    let mut out = Vec::new();
    for d in doc.list(cx, node, "Domains").unwrap_or(&[]) {
        if let Some(t) = doc.str(cx, d, "a domain") {
            out.push(Domain {
                text: t.to_string(),
                file: file.to_string(),
                line: d.line,
                column: d.column,
            });
        }
    }
    out
}

/// A reference to another resource of the template (`!Ref X`, `!GetAtt X.Id`, their JSON
/// forms), or the id written.
fn reference(cx: &mut Cx, doc: &Doc, node: &Node, what: &str) -> Option<String> {
    if let Some(arg) = doc.tagged_scalar(node, "!Ref") {
        return Some(arg.to_string());
    }
    if let Some(arg) = doc.tagged_scalar(node, "!GetAtt") {
        if let Some(id) = arg.strip_suffix(".Id") {
            return Some(id.to_string());
        }
    }
    if doc.function(node).as_deref() == Some("Ref") {
        return get(node, "Ref")
            .and_then(|r| cx.str(r, "Ref"))
            .map(str::to_string);
    }
    if doc.function(node).as_deref() == Some("Fn::GetAtt") {
        if let Some(g) = get(node, "Fn::GetAtt") {
            let parts: Vec<&str> = match &g.value {
                Value::Scalar { text, .. } => text.splitn(2, '.').collect(),
                Value::Seq(items) => items.iter().filter_map(yaml::scalar).collect(),
                Value::Map(_) => Vec::new(),
            };
            if let [id, "Id"] = parts.as_slice() {
                return Some((*id).to_string());
            }
        }
    }
    doc.str(cx, node, what).map(str::to_string)
}

fn read_rule(cx: &mut Cx, doc: &Doc, r: &Node, file: &str, group: Option<&str>) -> Option<Rule> {
    let known = [
        "FirewallRuleGroupId",
        "FirewallDomainListId",
        "FirewallThreatProtectionId",
        "Name",
        "Priority",
        "Action",
        "BlockResponse",
        "BlockOverrideDomain",
        "BlockOverrideDnsType",
        "BlockOverrideTtl",
        "CreatorRequestId",
        "CreationTime",
        "ModificationTime",
        "FirewallDomainRedirectionAction",
        "Qtype",
        "DnsThreatProtection",
        "ConfidenceThreshold",
    ];
    let f = doc.fields(cx, r, "a firewall rule", &known)?;
    for key in ["DnsThreatProtection", "FirewallThreatProtectionId"] {
        if let Some(k) = f.key(key) {
            cx.err(
                k,
                "DNS Firewall Advanced (DGA and tunneling detection) decides by traffic \
                 analysis, not by name: not read",
            );
            return None;
        }
    }
    if let (Some(g), Some(want)) = (f.get("FirewallRuleGroupId"), group) {
        if let Some(id) = doc.str(cx, g, "FirewallRuleGroupId") {
            if id != want {
                cx.err(
                    g,
                    format!("a rule of group `{id}` listed in group `{want}`"),
                );
                return None;
            }
        }
    }
    let (Some(p), Some(a)) = (f.get("Priority"), f.get("Action")) else {
        cx.err(r, "a firewall rule needs Priority and Action");
        return None;
    };
    let priority = int(cx, doc, p, "Priority")?;
    let action_s = doc.str(cx, a, "Action")?;
    let action = match action_s {
        "ALLOW" | "ALERT" => Action::Allow,
        "BLOCK" => Action::Deny,
        other => {
            cx.err(
                a,
                format!("Action `{other}`; expected ALLOW, ALERT or BLOCK"),
            );
            return None;
        }
    };
    let Some(l) = f.get("FirewallDomainListId") else {
        cx.err(r, "a firewall rule without FirewallDomainListId");
        return None;
    };
    let list = reference(cx, doc, l, "FirewallDomainListId")?;
    if let Some(q) = f.get("Qtype") {
        let t = yaml::scalar(q).unwrap_or("");
        cx.warn(
            q,
            format!(
                "Qtype {t}: the rule applies only to questions of that type; hostgate applies \
                 it to every DNS question"
            ),
        );
    }
    if action == Action::Allow {
        let inspect = match f.get("FirewallDomainRedirectionAction") {
            Some(n) => {
                doc.str(cx, n, "FirewallDomainRedirectionAction")? != "TRUST_REDIRECTION_DOMAIN"
            }
            None => true,
        };
        if inspect {
            cx.warn(
                f.key("FirewallDomainRedirectionAction").unwrap_or(a),
                "INSPECT_REDIRECTION_DOMAIN: the CNAME/DNAME targets in the answer are checked \
                 too; hostgate decides by the question's name only",
            );
        }
    }
    if let Some(b) = f.get("BlockResponse") {
        if action == Action::Deny && doc.str(cx, b, "BlockResponse") == Some("OVERRIDE") {
            cx.warn(
                b,
                "BlockResponse OVERRIDE answers with another name; hostgate denies the question",
            );
        }
    }
    Some(Rule {
        priority,
        action,
        list,
        file: file.to_string(),
        node: l.clone(),
    })
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
    let mut found = false;
    for (key, res) in cloud::entries(cx, resources, "Resources").unwrap_or(&[]) {
        let Some(id) = cx.str(key, "a resource's logical id").map(str::to_string) else {
            continue;
        };
        let ty = get(res, "Type").and_then(yaml::scalar).unwrap_or("");
        let kind = match ty {
            "AWS::Route53Resolver::FirewallDomainList" => 0,
            "AWS::Route53Resolver::FirewallRuleGroup" => 1,
            "AWS::Route53Resolver::FirewallRuleGroupAssociation" => 2,
            _ => continue,
        };
        found = true;
        if !cloud::id_safe(&id) {
            cx.err(key, format!("logical id `{id}` cannot name rules"));
            continue;
        }
        if let Some(c) = get(res, "Condition") {
            cx.warn(
                c,
                format!("{id} is created only when its Condition holds: read as created"),
            );
        }
        let Some(props) = get(res, "Properties") else {
            cx.err(res, format!("{id} without `Properties`"));
            continue;
        };
        let what = format!("{id}'s Properties");
        match kind {
            0 => {
                let known = ["Name", "Domains", "DomainFileUrl", "Tags"];
                let Some(p) = doc.fields(cx, props, &what, &known) else {
                    continue;
                };
                let domains = p.get("Domains").map(|d| inline(cx, doc, d, file));
                state.lists.push(List {
                    id: id.clone(),
                    name: None,
                    managed: false,
                    url: p.key("DomainFileUrl").cloned(),
                    domains,
                    file: file.to_string(),
                    node: res.clone(),
                });
            }
            1 => {
                let known = ["Name", "FirewallRules", "Tags"];
                let Some(p) = doc.fields(cx, props, &what, &known) else {
                    continue;
                };
                let mut group = Group {
                    id: id.clone(),
                    label: format!("FirewallRuleGroup/{id}"),
                    rules: Vec::new(),
                    file: file.to_string(),
                    node: res.clone(),
                };
                if let Some(rules) = p.get("FirewallRules") {
                    for r in doc.list(cx, rules, "FirewallRules").unwrap_or(&[]) {
                        if let Some(rule) = read_rule(cx, doc, r, file, None) {
                            group.rules.push(rule);
                        }
                    }
                }
                state.groups.push(group);
            }
            _ => {
                let known = [
                    "FirewallRuleGroupId",
                    "VpcId",
                    "Priority",
                    "Name",
                    "MutationProtection",
                    "Tags",
                ];
                let Some(p) = doc.fields(cx, props, &what, &known) else {
                    continue;
                };
                let (Some(g), Some(pr)) = (p.get("FirewallRuleGroupId"), p.get("Priority")) else {
                    cx.err(
                        props,
                        "an association needs FirewallRuleGroupId and Priority",
                    );
                    continue;
                };
                let (Some(g), Some(pr)) = (
                    reference(cx, doc, g, "FirewallRuleGroupId"),
                    int(cx, doc, pr, "Priority"),
                ) else {
                    continue;
                };
                let vpc = p
                    .get("VpcId")
                    .map(|v| reference(cx, doc, v, "VpcId").unwrap_or_default());
                state
                    .associations
                    .get_or_insert_with(Vec::new)
                    .push(Association {
                        group: g,
                        priority: pr,
                        vpc,
                        file: file.to_string(),
                        node: res.clone(),
                    });
            }
        }
    }
    if !found {
        cx.err(resources, "no AWS::Route53Resolver firewall resource");
    }
}

/// A domain as a hostgate pattern: `x` exact, `*.x` every name below `x`, `*` every name.
fn pattern(text: &str) -> Result<String, String> {
    let t = text.strip_suffix('.').unwrap_or(text);
    if t == "*" {
        return Ok("*".into());
    }
    let (star, body) = match t.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    if body.contains('*') {
        return Err("`*` is allowed only as the first label (`*.x`) or alone".into());
    }
    let ok = !body.is_empty()
        && text.len() <= 255
        && body
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !ok {
        return Err(
            "not a domain name (letters, digits and `-` in labels between dots, an optional \
             leading `*.`)"
                .into(),
        );
    }
    let lower = body.to_ascii_lowercase();
    Ok(if star { format!("**.{lower}") } else { lower })
}

fn combine(cx: &mut Cx, state: State) -> Read {
    let mut read = Read::new(Action::Allow);
    read.precedence = Precedence::FirstMatch;
    let State {
        lists,
        mut groups,
        associations,
        files,
    } = state;
    // Domain list files: each must belong to a list or a rule's list id.
    for (stem, name, _) in &files {
        let used = lists
            .iter()
            .any(|l| l.id == *stem || l.name.as_deref() == Some(stem.as_str()))
            || groups
                .iter()
                .any(|g| g.rules.iter().any(|r| r.list == *stem));
        if !used {
            cx.file = name.clone();
            cx.err_at(
                1,
                1,
                format!(
                    "domain list file `{name}`: no domain list or rule has the id or name `{stem}`"
                ),
            );
        }
    }
    // The groups in force, in order.
    let mut order: Vec<usize> = Vec::new();
    match associations {
        Some(mut assocs) => {
            let vpcs: Vec<&str> = {
                let mut v: Vec<&str> = assocs.iter().filter_map(|a| a.vpc.as_deref()).collect();
                v.sort_unstable();
                v.dedup();
                v
            };
            if vpcs.len() > 1 {
                let a = &assocs[0];
                cx.file = a.file.clone();
                cx.err(
                    &a.node,
                    format!(
                        "associations for several VPCs ({}): each VPC has its own order; give \
                         one VPC's associations",
                        vpcs.join(", ")
                    ),
                );
                return read;
            }
            assocs.sort_by_key(|a| a.priority);
            for (n, a) in assocs.iter().enumerate() {
                cx.file = a.file.clone();
                if n > 0 && assocs[n - 1].priority == a.priority {
                    cx.err(
                        &a.node,
                        format!("association Priority {} is used twice", a.priority),
                    );
                    continue;
                }
                match groups.iter().position(|g| g.id == a.group) {
                    Some(i) => order.push(i),
                    None => cx.err(
                        &a.node,
                        format!(
                            "rule group `{}` is not among the inputs: its rules would decide \
                             queries",
                            a.group
                        ),
                    ),
                }
            }
            for (i, g) in groups.iter().enumerate() {
                if !order.contains(&i) {
                    cx.file = g.file.clone();
                    cx.warn(
                        &g.node,
                        format!("{} is not associated with the VPC: not applied", g.label),
                    );
                }
            }
        }
        None => {
            if groups.len() > 1 {
                let g = &groups[1];
                cx.file = g.file.clone();
                cx.err(
                    &g.node,
                    "several rule groups without FirewallRuleGroupAssociations: their \
                     association priorities decide their order",
                );
                return read;
            }
            order = (0..groups.len()).collect();
        }
    }
    for &i in &order {
        let g = &mut groups[i];
        g.rules.sort_by_key(|r| r.priority);
        for n in 1..g.rules.len() {
            if g.rules[n - 1].priority == g.rules[n].priority {
                cx.file = g.rules[n].file.clone();
                cx.err(
                    &g.rules[n].node,
                    format!(
                        "rule Priority {} is used twice in {}",
                        g.rules[n].priority, g.label
                    ),
                );
            }
        }
        let mut emitted = 0usize;
        for r in &g.rules {
            cx.file = r.file.clone();
            let list = lists.iter().find(|l| l.id == r.list);
            if list.is_some_and(|l| l.managed) {
                cx.err(
                    &r.node,
                    format!(
                        "domain list `{}` is managed by AWS: its domains are not published",
                        r.list
                    ),
                );
                continue;
            }
            let keys: Vec<&str> = match list {
                Some(l) => std::iter::once(l.id.as_str())
                    .chain(l.name.as_deref())
                    .collect(),
                None => vec![r.list.as_str()],
            };
            let domains: Vec<Domain> = match (
                list.and_then(|l| l.domains.as_ref()),
                files.iter().find(|(s, _, _)| keys.contains(&s.as_str())),
            ) {
                (Some(d), None) => d
                    .iter()
                    .map(|d| Domain {
                        text: d.text.clone(),
                        file: d.file.clone(),
                        line: d.line,
                        column: d.column,
                    })
                    .collect(),
                (None, Some((_, name, text))) => file_domains(text, name),
                (Some(_), Some((_, name, _))) => {
                    let l = match list {
                        Some(l) => {
                            cx.file = l.file.clone();
                            &l.node
                        }
                        None => &r.node,
                    };
                    cx.err(
                        l,
                        format!(
                            "domain list `{}` has Domains and the file {name}: give one",
                            r.list
                        ),
                    );
                    continue;
                }
                (None, None) => {
                    let url = list.and_then(|l| l.url.as_ref().map(|u| (u, &l.file)));
                    let (at, why) = match url {
                        Some((u, f)) => {
                            cx.file = f.clone();
                            (
                                u,
                                "DomainFileUrl is not fetched: give the file's domains as",
                            )
                        }
                        None => (&r.node, "not given: inline in FirewallDomainLists, or as"),
                    };
                    cx.err(
                        at,
                        format!("domain list `{}`: {why} the file {}.txt", r.list, r.list),
                    );
                    continue;
                }
            };
            for d in domains {
                cx.file = d.file.clone();
                let p = match pattern(&d.text) {
                    Ok(p) => p,
                    Err(why) => {
                        cx.err_at(d.line, d.column, format!("domain `{}`: {why}", d.text));
                        continue;
                    }
                };
                let at = Node {
                    line: d.line,
                    column: d.column,
                    value: Value::Scalar {
                        text: String::new(),
                        plain: true,
                    },
                };
                let Some(p) = checked(cx, &at, p) else {
                    continue;
                };
                let mut rule = RuleSpec::new(r.action, p);
                rule.via = vec![Via::Dns];
                rule.id = Some(format!("{}:{emitted}", g.label));
                rule.line = d.line;
                emitted += 1;
                read.rules.push(rule);
                read.sources.push(RuleSource {
                    file: d.file.clone(),
                    line: d.line,
                    column: d.column,
                    object: g.label.clone(),
                });
            }
        }
    }
    read
}

/// A domain list file: one domain a line (blank lines skipped).
fn file_domains(text: &str, name: &str) -> Vec<Domain> {
    let mut out = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        let lead = line.len() - line.trim_start().len();
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        out.push(Domain {
            text: t.to_string(),
            file: name.to_string(),
            line: u32::try_from(n + 1).unwrap_or(u32::MAX),
            column: u32::try_from(line[..lead].chars().count() + 1).unwrap_or(u32::MAX),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::pattern;

    #[test]
    fn domains() {
        assert_eq!(pattern("Example.com.").unwrap(), "example.com");
        assert_eq!(pattern("*.example.com").unwrap(), "**.example.com");
        assert_eq!(pattern("*").unwrap(), "*");
        assert_eq!(pattern("*.").unwrap(), "*");
        assert!(pattern("*example.com").is_err());
        assert!(pattern("a_b.com").is_err());
        assert!(pattern("a..com").is_err());
        assert!(pattern("").is_err());
    }
}
