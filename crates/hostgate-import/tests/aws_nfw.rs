//! `--from aws-nfw`: AWS Network Firewall domain-list rule groups and firewall policies.
//!
//! Network Firewall cannot be run here, so each expectation cites what decides it: the Suricata
//! rules Network Firewall generates from a domain list ("Stateful rules examples: domain list
//! rules" in the Network Firewall developer guide), Suricata's keyword docs, and the developer
//! guide's pages on domain lists and on rule evaluation order.

use hostgate::{Action, Format, Query, Via};
use hostgate_import::{import, render, Imported, Options};
use proptest::prelude::*;

fn run(files: &[(&str, &str)]) -> Result<Imported, Vec<String>> {
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, t)| (*n, t.as_bytes())).collect();
    import(Format::AwsNfw, &files, &Options::default())
        .map_err(|e| e.iter().map(|d| d.to_string()).collect())
}

fn ok(files: &[(&str, &str)]) -> Imported {
    run(files).unwrap_or_else(|e| panic!("{e:#?}"))
}

fn errors(files: &[(&str, &str)]) -> Vec<String> {
    match run(files) {
        Ok(i) => panic!("imported: {}", render(&i)),
        Err(e) => e,
    }
}

fn verdict(i: &Imported, name: &str, port: Option<u16>, via: Via) -> Action {
    let e = i.engine();
    let p = e.policy("default").unwrap();
    let mut q = Query::new(name).via(via);
    if let Some(port) = port {
        q = q.port(port);
    }
    e.check(p, &q).action
}

/// An `aws network-firewall describe-rule-group` output.
fn describe(name: &str, kind: &str, types: &str, targets: &str, order: &str) -> String {
    format!(
        r#"{{
  "UpdateToken": "a1b2",
  "RuleGroup": {{
    "RulesSource": {{
      "RulesSourceList": {{
        "Targets": [{targets}],
        "TargetTypes": [{types}],
        "GeneratedRulesType": "{kind}"
      }}
    }},
    "StatefulRuleOptions": {{"RuleOrder": "{order}"}},
    "RuleVariables": {{"IPSets": {{"HOME_NET": {{"Definition": ["10.0.0.0/16"]}}}}}}
  }},
  "RuleGroupResponse": {{
    "RuleGroupArn": "arn:aws:network-firewall:us-east-1:111122223333:stateful-rulegroup/{name}",
    "RuleGroupName": "{name}",
    "RuleGroupId": "4f8e",
    "Type": "STATEFUL",
    "Capacity": 100,
    "RuleGroupStatus": "ACTIVE",
    "NumberOfAssociations": 1
  }}
}}"#
    )
}

fn arn(name: &str) -> String {
    format!("arn:aws:network-firewall:us-east-1:111122223333:stateful-rulegroup/{name}")
}

const A: Option<u16> = None;

#[test]
fn allowlist_cases_from_the_generated_rules() {
    let allow = describe(
        "egress",
        "ALLOWLIST",
        r#""TLS_SNI", "HTTP_HOST""#,
        r#"".example.com", "www.example.org""#,
        "DEFAULT_ACTION_ORDER",
    );
    let i = ok(&[("egress.json", &allow)]);
    use Action::{Allow, Deny};
    use Via::{Connect, Dns, Http, Tls};
    let cases: &[(&str, Option<u16>, Via, Action, &str)] = &[
        // `tls.sni; dotprefix; content:".example.com"; nocase; endswith;`: dotprefix puts a
        // dot before the SNI, so the apex matches, any depth matches, a partial label does not.
        ("example.com", Some(443), Tls, Allow, "dotprefix: apex"),
        ("a.example.com", Some(443), Tls, Allow, "one label below"),
        ("a.b.example.com", Some(443), Tls, Allow, "any depth"),
        (
            "notexample.com",
            Some(443),
            Tls,
            Deny,
            "dotprefix: label boundary",
        ),
        ("EXAMPLE.Com", Some(443), Tls, Allow, "nocase"),
        // `tls.sni; content:"www.example.org"; startswith; nocase; endswith;`: exact.
        ("www.example.org", Some(443), Tls, Allow, "exact"),
        (
            "a.www.example.org",
            Some(443),
            Tls,
            Deny,
            "startswith: exact only",
        ),
        ("example.org", Some(443), Tls, Deny, "exact: not the parent"),
        // Rules are `$HOME_NET any -> $EXTERNAL_NET any`: every destination port.
        ("www.example.org", Some(8443), Tls, Allow, "any port"),
        // ALLOWLIST: `drop tls … (ssl_state:client_hello …)` drops every other ClientHello.
        ("other.net", Some(443), Tls, Deny, "catch-all drop"),
        ("other.net", Some(8443), Tls, Deny, "catch-all on any port"),
        ("192.0.2.1", Some(443), Tls, Deny, "catch-all by IP literal"),
        // `http.host` is libhtp's normalized host: lower-cased, port removed.
        (
            "WWW.Example.ORG",
            Some(80),
            Http,
            Allow,
            "http.host is lower-cased",
        ),
        ("x.example.com", Some(8080), Http, Allow, "HTTP any port"),
        // ALLOWLIST: `drop http … (http.header_names; content:"|0d 0a|"; startswith)` drops
        // every other HTTP request, CONNECT requests included.
        ("other.net", Some(80), Http, Deny, "HTTP catch-all"),
        (
            "other.net",
            Some(443),
            Connect,
            Deny,
            "CONNECT is an HTTP request",
        ),
        ("x.example.com", Some(443), Connect, Allow, "CONNECT host"),
        // "For Allow, traffic of the specified protocol type that doesn't match the domain
        // specifications is denied": DNS is not a listed protocol.
        ("other.net", Some(53), Dns, Allow, "DNS untouched"),
        ("other.net", A, Dns, Allow, "DNS without a port"),
    ];
    for &(name, port, via, want, why) in cases {
        assert_eq!(
            verdict(&i, name, port, via),
            want,
            "{name} {port:?} {via:?}: {why}"
        );
    }
    // Rule ids name the group; lines point at the targets.
    let e = i.engine();
    let p = e.policy("default").unwrap();
    let v = e.check(p, &Query::new("a.example.com").port(443).via(Tls));
    assert_eq!(v.rule.unwrap().id(), "RuleGroup/egress:0");
    assert_eq!(v.rule.unwrap().line(), 6);
    let v = e.check(p, &Query::new("other.net").port(443).via(Tls));
    assert_eq!(v.rule.unwrap().id(), "RuleGroup/egress:2");
    assert_eq!(v.rule.unwrap().line(), 8);
    // HOME_NET and QUIC are said, at their positions.
    let w: Vec<String> = i.warnings().iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter()
            .any(|w| w.starts_with("egress.json:12:34: warning: HOME_NET 10.0.0.0/16")),
        "{w:#?}"
    );
    assert!(
        w.iter()
            .any(|w| w.starts_with("egress.json:7:25: warning: TLS_SNI")),
        "{w:#?}"
    );
}

#[test]
fn denylist_and_rejectlist_only_deny_their_protocol() {
    // DENYLIST generates `drop` rules only: "Non-matching traffic is allowed to pass."
    let deny = describe(
        "deny",
        "DENYLIST",
        r#""TLS_SNI""#,
        r#"".bad.com""#,
        "DEFAULT_ACTION_ORDER",
    );
    let i = ok(&[("deny.json", &deny)]);
    assert_eq!(verdict(&i, "bad.com", Some(443), Via::Tls), Action::Deny);
    assert_eq!(
        verdict(&i, "x.y.bad.com", Some(443), Via::Tls),
        Action::Deny
    );
    assert_eq!(
        verdict(&i, "notbad.com", Some(443), Via::Tls),
        Action::Allow
    );
    assert_eq!(verdict(&i, "bad.com", Some(80), Via::Http), Action::Allow);
    assert_eq!(verdict(&i, "good.com", Some(443), Via::Tls), Action::Allow);
    // REJECTLIST: blocked (and a TCP reset).
    let reject = describe(
        "rej",
        "REJECTLIST",
        r#""HTTP_HOST""#,
        r#""bad.com""#,
        "DEFAULT_ACTION_ORDER",
    );
    let i = ok(&[("rej.json", &reject)]);
    assert_eq!(verdict(&i, "bad.com", Some(80), Via::Http), Action::Deny);
    assert_eq!(verdict(&i, "a.bad.com", Some(80), Via::Http), Action::Allow);
    assert_eq!(verdict(&i, "bad.com", Some(443), Via::Tls), Action::Allow);
    // ALERTLIST only logs: no rule, said at GeneratedRulesType.
    let alert = describe(
        "al",
        "ALERTLIST",
        r#""TLS_SNI""#,
        r#""bad.com""#,
        "DEFAULT_ACTION_ORDER",
    );
    let i = ok(&[("al.json", &alert)]);
    assert!(i.policies()[0].rules.is_empty());
    assert!(i
        .warnings()
        .iter()
        .any(|w| w.line == 8 && w.message.starts_with("ALERTLIST only logs")));
}

fn bundle(order: &str, defaults: &str, refs: &str, groups: &[String]) -> String {
    format!(
        r#"{{"FirewallPolicy": {{
  "StatelessDefaultActions": ["aws:forward_to_sfe"],
  "StatelessFragmentDefaultActions": ["aws:forward_to_sfe"],
  "StatefulEngineOptions": {{"RuleOrder": "{order}"}},
  "StatefulDefaultActions": [{defaults}],
  "StatefulRuleGroupReferences": [{refs}]
}},
"RuleGroups": [{}]}}"#,
        groups.join(",\n")
    )
}

#[test]
fn action_order_passes_first_across_groups() {
    // DEFAULT_ACTION_ORDER: "all pass rules … first, then drop, reject, alert", regardless of
    // priorities; a pass ends inspection of the flow. So an allow list beats another group's
    // deny list.
    let allow = describe(
        "allow",
        "ALLOWLIST",
        r#""TLS_SNI""#,
        r#"".example.com""#,
        "DEFAULT_ACTION_ORDER",
    );
    let deny = describe(
        "deny",
        "DENYLIST",
        r#""TLS_SNI""#,
        r#""bad.example.com""#,
        "DEFAULT_ACTION_ORDER",
    );
    let refs = format!(
        r#"{{"ResourceArn": "{}", "Priority": 1}}, {{"ResourceArn": "{}", "Priority": 2}}"#,
        arn("deny"),
        arn("allow")
    );
    let b = bundle(
        "DEFAULT_ACTION_ORDER",
        "",
        &refs,
        &[allow.clone(), deny.clone()],
    );
    let i = ok(&[("b.json", &b)]);
    assert_eq!(
        verdict(&i, "bad.example.com", Some(443), Via::Tls),
        Action::Allow
    );
    assert_eq!(verdict(&i, "other.org", Some(443), Via::Tls), Action::Deny);
    // Without a policy the groups combine the same way.
    let i = ok(&[("a.json", &allow), ("d.json", &deny)]);
    assert_eq!(
        verdict(&i, "bad.example.com", Some(443), Via::Tls),
        Action::Allow
    );
    // Two allow lists: their union passes.
    let other = describe(
        "other",
        "ALLOWLIST",
        r#""TLS_SNI""#,
        r#""api.other.org""#,
        "DEFAULT_ACTION_ORDER",
    );
    let i = ok(&[("a.json", &allow), ("o.json", &other)]);
    assert_eq!(
        verdict(&i, "api.other.org", Some(443), Via::Tls),
        Action::Allow
    );
    assert_eq!(
        verdict(&i, "x.example.com", Some(443), Via::Tls),
        Action::Allow
    );
    assert_eq!(verdict(&i, "other.org", Some(443), Via::Tls), Action::Deny);
    // Stateful default actions are for STRICT_ORDER only.
    let b = bundle(
        "DEFAULT_ACTION_ORDER",
        r#""aws:drop_strict""#,
        &refs,
        &[allow, deny],
    );
    let e = errors(&[("b.json", &b)]);
    assert!(
        e[0].starts_with("b.json:5:29: StatefulDefaultActions need"),
        "{e:#?}"
    );
}

#[test]
fn strict_order_by_priority_with_default_actions() {
    let allow = describe(
        "allow",
        "ALLOWLIST",
        r#""TLS_SNI""#,
        r#"".example.com""#,
        "STRICT_ORDER",
    );
    let deny = describe(
        "deny",
        "DENYLIST",
        r#""TLS_SNI""#,
        r#""bad.example.com""#,
        "STRICT_ORDER",
    );
    let refs = format!(
        r#"{{"ResourceArn": "{}", "Priority": 20}}, {{"ResourceArn": "{}", "Priority": 10}}"#,
        arn("allow"),
        arn("deny")
    );
    // STRICT_ORDER: groups by Priority, lowest first, first decisive action wins.
    let b = bundle(
        "STRICT_ORDER",
        r#""aws:drop_established", "aws:alert_established""#,
        &refs,
        &[allow.clone(), deny.clone()],
    );
    let i = ok(&[("b.json", &b)]);
    assert_eq!(
        verdict(&i, "bad.example.com", Some(443), Via::Tls),
        Action::Deny
    );
    assert_eq!(
        verdict(&i, "a.example.com", Some(443), Via::Tls),
        Action::Allow
    );
    // aws:drop_established drops flows no rule passed, connectionless ones (DNS) too.
    assert_eq!(
        verdict(&i, "a.example.com", Some(80), Via::Http),
        Action::Deny
    );
    assert_eq!(verdict(&i, "x.org", Some(53), Via::Dns), Action::Deny);
    // No default action: what no rule decides passes.
    let b = bundle("STRICT_ORDER", "", &refs, &[allow.clone(), deny.clone()]);
    let i = ok(&[("b.json", &b)]);
    assert_eq!(verdict(&i, "x.org", Some(53), Via::Dns), Action::Allow);
    assert_eq!(verdict(&i, "x.org", Some(443), Via::Tls), Action::Deny);
    // Equal priorities and a group whose order is not the policy's are refused.
    let same = format!(
        r#"{{"ResourceArn": "{}", "Priority": 10}}, {{"ResourceArn": "{}", "Priority": 10}}"#,
        arn("allow"),
        arn("deny")
    );
    let e = errors(&[(
        "b.json",
        &bundle("STRICT_ORDER", "", &same, &[allow.clone(), deny.clone()]),
    )]);
    assert!(
        e[0].contains("Priority 10 is also used at line 6"),
        "{e:#?}"
    );
    let e = errors(&[(
        "b.json",
        &bundle(
            "DEFAULT_ACTION_ORDER",
            "",
            &refs,
            &[allow.clone(), deny.clone()],
        ),
    )]);
    assert!(
        e[0].contains(
            "RuleGroup/allow has RuleOrder STRICT_ORDER, the firewall policy DEFAULT_ACTION_ORDER"
        ),
        "{e:#?}"
    );
    // A second strict allow list for the same protocol comes after the first's catch-all.
    let other = describe(
        "other",
        "ALLOWLIST",
        r#""TLS_SNI""#,
        r#""api.other.org""#,
        "STRICT_ORDER",
    );
    let refs = format!(
        r#"{{"ResourceArn": "{}", "Priority": 1}}, {{"ResourceArn": "{}", "Priority": 2}}"#,
        arn("allow"),
        arn("other")
    );
    let i = ok(&[(
        "b.json",
        &bundle("STRICT_ORDER", "", &refs, &[allow, other]),
    )]);
    assert_eq!(
        verdict(&i, "api.other.org", Some(443), Via::Tls),
        Action::Deny
    );
    assert!(i.warnings().iter().any(|w| w
        .message
        .starts_with("after STRICT_ORDER allow list RuleGroup/allow")));
}

#[test]
fn several_strict_groups_need_their_policy_and_references_must_resolve() {
    let a = describe(
        "a",
        "ALLOWLIST",
        r#""TLS_SNI""#,
        r#""a.io""#,
        "STRICT_ORDER",
    );
    let b = describe("b", "DENYLIST", r#""TLS_SNI""#, r#""b.io""#, "STRICT_ORDER");
    let e = errors(&[("a.json", &a), ("b.json", &b)]);
    assert!(
        e[0].starts_with(
            "b.json:3:16: several STRICT_ORDER rule groups without their firewall policy"
        ),
        "{e:#?}"
    );
    let refs = format!(r#"{{"ResourceArn": "{}", "Priority": 1}}"#, arn("missing"));
    let e = errors(&[("p.json", &bundle("STRICT_ORDER", "", &refs, &[a]))]);
    assert!(e[0].starts_with("p.json:6:51: rule group `arn:aws:network-firewall:us-east-1:111122223333:stateful-rulegroup/missing` is not among the inputs"), "{e:#?}");
}

const TEMPLATE: &str = r#"AWSTemplateFormatVersion: 2010-09-09
Resources:
  Policy:
    Type: AWS::NetworkFirewall::FirewallPolicy
    Properties:
      FirewallPolicyName: !Sub "${AWS::StackName}-policy"
      FirewallPolicy:
        StatelessDefaultActions: [aws:forward_to_sfe]
        StatelessFragmentDefaultActions: [aws:forward_to_sfe]
        StatefulEngineOptions:
          RuleOrder: STRICT_ORDER
        StatefulDefaultActions: [aws:drop_strict]
        StatefulRuleGroupReferences:
          - ResourceArn: !GetAtt Allow.RuleGroupArn
            Priority: 200
          - ResourceArn: !Ref Deny
            Priority: 100
  Allow:
    Type: AWS::NetworkFirewall::RuleGroup
    Properties:
      Capacity: 100
      RuleGroupName: !Sub "${AWS::StackName}-allow"
      Type: STATEFUL
      RuleGroup:
        StatefulRuleOptions: {RuleOrder: STRICT_ORDER}
        RulesSource:
          RulesSourceList:
            TargetTypes: [HTTP_HOST, TLS_SNI]
            Targets: [.amazonaws.com, github.com]
            GeneratedRulesType: ALLOWLIST
  Deny:
    Type: AWS::NetworkFirewall::RuleGroup
    Properties:
      Capacity: 10
      Type: STATEFUL
      RuleGroup:
        StatefulRuleOptions: {RuleOrder: STRICT_ORDER}
        RulesSource:
          RulesSourceList:
            TargetTypes: [TLS_SNI]
            Targets: [evil.s3.amazonaws.com]
            GeneratedRulesType: DENYLIST
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.0.0.0/16}
"#;

#[test]
fn cloudformation_template_with_references() {
    let i = ok(&[("stack.yaml", TEMPLATE)]);
    assert_eq!(
        verdict(&i, "evil.s3.amazonaws.com", Some(443), Via::Tls),
        Action::Deny
    );
    assert_eq!(
        verdict(&i, "evil.s3.amazonaws.com", Some(80), Via::Http),
        Action::Allow
    );
    assert_eq!(
        verdict(&i, "amazonaws.com", Some(443), Via::Tls),
        Action::Allow
    );
    assert_eq!(
        verdict(&i, "api.github.com", Some(443), Via::Tls),
        Action::Deny
    );
    assert_eq!(verdict(&i, "x.org", Some(53), Via::Dns), Action::Deny);
    let e = i.engine();
    let p = e.policy("default").unwrap();
    let v = e.check(p, &Query::new("github.com").port(443).via(Via::Tls));
    assert_eq!(v.rule.unwrap().id(), "RuleGroup/Allow:1");
    assert_eq!(v.rule.unwrap().line(), 29);
    // The same template as JSON, functions in their JSON form.
    let json = r#"{"Resources": {
  "P": {"Type": "AWS::NetworkFirewall::FirewallPolicy", "Properties": {"FirewallPolicyName": "p",
    "FirewallPolicy": {"StatelessDefaultActions": ["aws:forward_to_sfe"], "StatelessFragmentDefaultActions": ["aws:forward_to_sfe"],
      "StatefulRuleGroupReferences": [{"ResourceArn": {"Fn::GetAtt": ["G", "RuleGroupArn"]}}]}}},
  "G": {"Type": "AWS::NetworkFirewall::RuleGroup", "Properties": {"Capacity": 10, "Type": "STATEFUL",
    "RuleGroup": {"RulesSource": {"RulesSourceList": {"TargetTypes": ["TLS_SNI"], "Targets": ["a.io"], "GeneratedRulesType": "DENYLIST"}}}}}
}}"#;
    let i = ok(&[("stack.json", json)]);
    assert_eq!(verdict(&i, "a.io", Some(443), Via::Tls), Action::Deny);
    assert_eq!(verdict(&i, "b.io", Some(443), Via::Tls), Action::Allow);
    // A function where a value is read is refused at it.
    let t = TEMPLATE.replace(
        "[.amazonaws.com, github.com]",
        "[.amazonaws.com, !Ref Domain]",
    );
    let e = errors(&[("stack.yaml", &t)]);
    assert_eq!(e[0], "stack.yaml:29:39: `!Ref` is a CloudFormation function, which is not evaluated here: write the value itself (or import the deployed resource's API output)");
}

#[test]
fn every_example_imports_or_is_refused_with_its_reason() {
    let dir = format!("{}/tests/data/aws-nfw", env!("CARGO_MANIFEST_DIR"));
    let expect: &[(&str, &str)] = &[
        (
            "envs-dev-allowed_domains.yml",
            "envs-dev-allowed_domains.yml:1:1: expected a Network Firewall rule group, firewall policy, bundle or CloudFormation template (a mapping), not a list; a list of targets alone does not say GeneratedRulesType and TargetTypes",
        ),
        (
            // Its targets are read from a YAML file by a function call, which only Terraform
            // evaluates (tests/terraform.rs imports it with the targets written out).
            "modules-network_firewall_with_nat-main.tf",
            "modules-network_firewall_with_nat-main.tf:87:19: `yamldecode(file(\"allowed_domains.yml\"))` is a function call",
        ),
        (
            // The domain-list group imports; the template's other stateful group is Suricata
            // rules by protocol (PASS UDP, …), which decide traffic no name decides.
            "outbound_inspection_with_aws_cloud_wan-region1_resources.yaml",
            "outbound_inspection_with_aws_cloud_wan-region1_resources.yaml:804:11: StatefulRules (rules by address, port and protocol) is not read",
        ),
    ];
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name == "README.md" {
            continue;
        }
        seen += 1;
        let (_, want) = expect
            .iter()
            .find(|(f, _)| *f == name)
            .unwrap_or_else(|| panic!("{name}: no expectation"));
        let bytes = std::fs::read(&path).unwrap();
        let e = import(Format::AwsNfw, &[(&name, &bytes)], &Options::default()).unwrap_err();
        assert!(e[0].to_string().starts_with(want), "{name}: {e:#?}");
    }
    assert_eq!(seen, expect.len());
    // The template's domain-list group alone (its StatefulRules group removed) imports:
    // STRICT_ORDER, aws:drop_established, allow list `.amazon.com` `.amazonaws.com` `.google.com`.
    let text = std::fs::read_to_string(format!(
        "{dir}/outbound_inspection_with_aws_cloud_wan-region1_resources.yaml"
    ))
    .unwrap();
    let start = text.find("  # Standard Stateful Rule Group:").unwrap();
    let end = text.find("  # Firewall Logs - Flow").unwrap();
    let cut = text[..start].to_string() + &text[end..] + "";
    let cut = cut.replace(
        "          - ResourceArn: !GetAtt InspectionVPC1Anfw1StandardStatefulRuleGroup.RuleGroupArn\n            Priority: 200            \n",
        "",
    );
    let i = ok(&[("t.yaml", &cut)]);
    assert_eq!(
        verdict(&i, "s3.amazonaws.com", Some(443), Via::Tls),
        Action::Allow
    );
    assert_eq!(
        verdict(&i, "google.com", Some(80), Via::Http),
        Action::Allow
    );
    assert_eq!(
        verdict(&i, "example.com", Some(443), Via::Tls),
        Action::Deny
    );
    assert_eq!(verdict(&i, "example.com", Some(53), Via::Dns), Action::Deny);
    let w: Vec<String> = i.warnings().iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter()
            .any(|w| w.contains("a stateless rule group decides by address")),
        "{w:#?}"
    );
    assert!(
        w.iter().any(|w| w.contains("HOME_NET 10.0.0.0/8")),
        "{w:#?}"
    );
}

#[test]
fn bad_input_is_refused_at_its_position() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"RuleGroup": {"RulesSource": {"RulesSourceList": {"Targets": ["*.a.io"], "TargetTypes": ["TLS_SNI"], "GeneratedRulesType": "DENYLIST"}}}}"#,
            "g.json:1:64: target `*.a.io`: `*` is matched literally",
        ),
        (
            r#"{"RuleGroup": {"RulesSource": {"RulesSourceList": {"Targets": ["a.io"], "TargetTypes": ["TLS_SNI"], "GeneratedRulesType": "PASSLIST"}}}}"#,
            "g.json:1:123: GeneratedRulesType `PASSLIST`; expected",
        ),
        (
            r#"{"RuleGroup": {"RulesSource": {"RulesSourceList": {"Targets": ["a.io"], "TargetTypes": ["AWS_ROUTE_53_RESOLVED_DOMAIN"], "GeneratedRulesType": "DENYLIST"}}}}"#,
            "g.json:1:89: AWS_ROUTE_53_RESOLVED_DOMAIN matches by DNS resolution",
        ),
        (
            r#"{"RuleGroup": {"RulesSource": {"RulesSourceList": {"Targets": ["A.io"], "TargetTypes": ["HTTP_HOST"], "GeneratedRulesType": "DENYLIST"}}}}"#,
            "g.json:1:64: target `A.io`: upper case with HTTP_HOST",
        ),
        (
            r#"{"RuleGroup": {"RulesSource": {"RulesSourceList": {"Targets": ["a.io."], "TargetTypes": ["TLS_SNI"], "GeneratedRulesType": "DENYLIST"}}}}"#,
            "g.json:1:64: target `a.io.`: a trailing dot",
        ),
        (
            r#"{"RuleGroup": {"RulesSource": {"RulesString": "drop tls any any -> any any (sid:1;)"}}}"#,
            "g.json:1:32: RulesString (Suricata rules) is not read",
        ),
        (
            r#"{"RuleGroup": {"RulesSource": {"RulesSourceList": {"Targets": ["a.io"], "TargetTypes": ["TLS_SNI"], "GeneratedRulesType": "DENYLIST", "Extra": 1}}}}"#,
            "g.json:1:135: unknown field `Extra` in RulesSourceList",
        ),
        (r#"{"RuleGroup": [1"#, "g.json:1:17: invalid YAML"),
        (r#"{"Rules": []}"#, "g.json:1:2: unknown field `Rules`"),
        (
            "RuleGroup:\n  RulesSource:\n    RulesSourceList: {Targets: [a.io], TargetTypes: [TLS_SNI]}\n",
            "g.json:3:22: a RulesSourceList needs Targets, TargetTypes and GeneratedRulesType",
        ),
    ];
    for (text, want) in cases {
        let e = errors(&[("g.json", text)]);
        assert!(e[0].starts_with(want), "{text}\n{e:#?}");
    }
    // A template with placeholders is not data yet.
    let e = errors(&[(
        "t.yaml",
        "RuleGroup: {RulesSource: {RulesSourceList: {Targets: [\"{{domain}}\"]}}}\n",
    )]);
    assert!(
        e[0].starts_with("t.yaml:1:1: a template with `{{…}}` placeholders"),
        "{e:#?}"
    );
    // One configuration: per-object policies do not apply.
    let g = describe(
        "g",
        "DENYLIST",
        r#""TLS_SNI""#,
        r#""a.io""#,
        "DEFAULT_ACTION_ORDER",
    );
    let e = import(
        Format::AwsNfw,
        &[("g.json", g.as_bytes())],
        &Options::default().per_object(true),
    )
    .unwrap_err();
    assert_eq!(
        e[0].message,
        "--per-object: the aws-nfw input is one policy, not objects"
    );
}

#[test]
fn rendered_text_compiles_to_the_same_verdicts() {
    let i = ok(&[("stack.yaml", TEMPLATE)]);
    let text = render(&i);
    let again = hostgate::Engine::compile(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let p = again.policy("default").unwrap();
    for name in [
        "evil.s3.amazonaws.com",
        "amazonaws.com",
        "github.com",
        "x.github.com",
        "x.org",
    ] {
        for (port, via) in [
            (443, Via::Tls),
            (80, Via::Http),
            (443, Via::Connect),
            (53, Via::Dns),
        ] {
            let q = Query::new(name).port(port).via(via);
            assert_eq!(
                again.check(p, &q).action,
                verdict(&i, name, Some(port), via),
                "{name} {via:?}\n{text}"
            );
        }
    }
}

/// The generated TLS rules, read literally: `x` is `content:"x"; startswith; nocase; endswith`
/// on the SNI; `.x` is `dotprefix; content:".x"; nocase; endswith`. The SNI is the name after
/// hostgate's normalization (one trailing dot removed, ASCII lower-cased), as hostgate sees it.
fn naive_allowlist(targets: &[String], sni: &str) -> bool {
    let sni = sni.strip_suffix('.').unwrap_or(sni).to_ascii_lowercase();
    targets.iter().any(|t| {
        let t = t.to_ascii_lowercase();
        if t.starts_with('.') {
            format!(".{sni}").ends_with(&t)
        } else {
            sni == t
        }
    })
}

fn label() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "ab", "ex", "Ex", "xa"]).prop_map(str::to_string)
}

proptest! {
    #[test]
    fn allowlist_matches_the_generated_rules(
        targets in prop::collection::vec((any::<bool>(), prop::collection::vec(label(), 1..3)), 1..4),
        picks in prop::collection::vec((0usize..4, prop::collection::vec(label(), 0..3), 0u8..5), 1..12),
    ) {
        let targets: Vec<String> = targets
            .iter()
            .map(|(dot, labels)| format!("{}{}.io", if *dot { "." } else { "" }, labels.join(".")).to_ascii_lowercase())
            .collect();
        let list = targets.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ");
        let g = describe("p", "ALLOWLIST", r#""TLS_SNI""#, &list, "DEFAULT_ACTION_ORDER");
        let i = ok(&[("p.json", &g)]);
        for (which, extra, edit) in picks {
            let base = targets[which % targets.len()].trim_start_matches('.').to_string();
            // Near a target: labels in front, a partial label, upper case, a trailing dot,
            // or the parent.
            let name = match edit {
                0 => base.clone(),
                1 => format!("x{base}"),
                2 => base.to_ascii_uppercase() + ".",
                3 => base.split_once('.').map_or(base.clone(), |(_, p)| p.to_string()),
                _ => base.clone(),
            };
            let name = if extra.is_empty() { name } else { format!("{}.{name}", extra.join(".")) };
            let want = if naive_allowlist(&targets, &name) { Action::Allow } else { Action::Deny };
            prop_assert_eq!(verdict(&i, &name, Some(443), Via::Tls), want, "{} {:?}", name, targets);
        }
    }

    #[test]
    fn arbitrary_input_never_panics(text in "\\PC{0,200}") {
        let _ = import(Format::AwsNfw, &[("x.json", text.as_bytes())], &Options::default());
    }
}
