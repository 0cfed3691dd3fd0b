//! `--from route53`: Route 53 Resolver DNS Firewall rule groups, associations and domain lists.
//!
//! DNS Firewall cannot be run here; each expectation cites the Route 53 developer guide page
//! that decides it (`resolver-dns-firewall-*`).

use hostgate::{diff, Action, DiffOptions, EngineBuilder, Format, Query, Via};
use hostgate_import::{import, render, Imported, Options};
use proptest::prelude::*;

fn run(files: &[(&str, &str)]) -> Result<Imported, Vec<String>> {
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, t)| (*n, t.as_bytes())).collect();
    import(Format::Route53, &files, &Options::default())
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

fn dns(i: &Imported, name: &str) -> Action {
    let e = i.engine();
    let p = e.policy("default").unwrap();
    e.check(p, &Query::new(name).via(Via::Dns)).action
}

const BUNDLE: &str = r#"{
  "FirewallConfig": {"Id": "rslvr-fc-1", "ResourceId": "vpc-1", "OwnerId": "111122223333", "FirewallFailOpen": "DISABLED"},
  "FirewallRuleGroupAssociations": [
    {"Id": "rslvr-frgassoc-2", "FirewallRuleGroupId": "rslvr-frg-b", "VpcId": "vpc-1", "Name": "b", "Priority": 200, "MutationProtection": "DISABLED", "Status": "COMPLETE"},
    {"Id": "rslvr-frgassoc-1", "FirewallRuleGroupId": "rslvr-frg-a", "VpcId": "vpc-1", "Name": "a", "Priority": 101, "MutationProtection": "DISABLED", "Status": "COMPLETE"}
  ],
  "FirewallRuleGroups": [
    {"Id": "rslvr-frg-a", "Name": "allow-corp", "FirewallRules": [
      {"FirewallRuleGroupId": "rslvr-frg-a", "FirewallDomainListId": "rslvr-fdl-alert", "Name": "alert", "Priority": 200, "Action": "ALERT", "FirewallDomainRedirectionAction": "TRUST_REDIRECTION_DOMAIN"},
      {"FirewallRuleGroupId": "rslvr-frg-a", "FirewallDomainListId": "rslvr-fdl-corp", "Name": "corp", "Priority": 100, "Action": "ALLOW", "FirewallDomainRedirectionAction": "TRUST_REDIRECTION_DOMAIN"}
    ]},
    {"Id": "rslvr-frg-b", "Name": "block", "FirewallRules": [
      {"FirewallRuleGroupId": "rslvr-frg-b", "FirewallDomainListId": "rslvr-fdl-bad", "Name": "bad", "Priority": 101, "Action": "BLOCK", "BlockResponse": "NXDOMAIN"},
      {"FirewallRuleGroupId": "rslvr-frg-b", "FirewallDomainListId": "rslvr-fdl-all", "Name": "all", "Priority": 9000, "Action": "BLOCK", "BlockResponse": "NODATA"}
    ]}
  ],
  "FirewallDomainLists": [
    {"Id": "rslvr-fdl-corp", "Name": "corp", "Domains": ["corp.example.", "*.corp.example."]},
    {"Id": "rslvr-fdl-alert", "Name": "alerts", "Domains": ["*.watch.example."]},
    {"Id": "rslvr-fdl-bad", "Name": "bad", "Domains": ["*.corp.example.", "bad.example.", "*.watch.example."]},
    {"Id": "rslvr-fdl-all", "Name": "all", "Domains": ["*"]}
  ]
}"#;

#[test]
fn documented_cases() {
    let i = ok(&[("fw.json", BUNDLE)]);
    use Action::{Allow, Deny};
    let cases: &[(&str, Action, &str)] = &[
        // "If you want the rule to apply to subdomains as well, you must add those domains":
        // `x` is exact, `*.x` the subdomains (any depth), not `x` (getting-started).
        ("corp.example", Allow, "exact"),
        ("a.corp.example", Allow, "*. one label"),
        ("a.b.corp.example", Allow, "*. any depth"),
        ("CORP.Example", Allow, "DNS names are case-insensitive"),
        ("corp.example.", Allow, "the trailing dot AWS stores"),
        // Groups by association priority (101 before 200): the ALLOW group's rules come before
        // the BLOCK group's `*.corp.example` (overview, rule-settings).
        ("x.corp.example", Allow, "earlier group wins"),
        // ALERT: "stop inspecting the query, permit it to go through" (rule-actions): it
        // shadows the later BLOCK of the same names.
        ("x.watch.example", Allow, "ALERT ends evaluation"),
        (
            "watch.example",
            Deny,
            "*.x excludes the apex; the `*` BLOCK decides",
        ),
        ("bad.example", Deny, "BLOCK"),
        (
            "a.bad.example",
            Deny,
            "exact `bad.example` misses; `*` blocks",
        ),
        ("other.org", Deny, "`*` alone is every name (walled garden)"),
    ];
    for &(name, want, why) in cases {
        assert_eq!(dns(&i, name), want, "{name}: {why}");
    }
    // Only DNS questions through the Resolver are filtered, not "HTTPS, SSH, TLS" (overview).
    let e = i.engine();
    let p = e.policy("default").unwrap();
    assert!(e
        .check(p, &Query::new("other.org").port(443).via(Via::Tls))
        .is_allow());
    // Rules are ordered and named by their group; lines point at the domain.
    let v = e.check(p, &Query::new("x.watch.example").via(Via::Dns));
    assert_eq!(v.rule.unwrap().id(), "FirewallRuleGroup/allow-corp:2");
    assert_eq!(v.rule.unwrap().line(), 19);
    // No match anywhere: "responds to the query as normal".
    let open = BUNDLE.replace(
        r#"{"Id": "rslvr-fdl-all", "Name": "all", "Domains": ["*"]}"#,
        r#"{"Id": "rslvr-fdl-all", "Name": "all", "Domains": ["nothing.invalid"]}"#,
    );
    let i = ok(&[("fw.json", &open)]);
    assert_eq!(dns(&i, "other.org"), Allow);
    assert_eq!(dns(&i, "watch.example"), Allow);
}

#[test]
fn domain_list_files_by_id_or_name() {
    let bundle = BUNDLE.replace(
        r#""Name": "bad", "Domains": ["*.corp.example.", "bad.example.", "*.watch.example."]"#,
        r#""Name": "bad""#,
    );
    let file = "*.corp.example.\nbad.example.\n\n  evil.example.\r\n";
    for name in ["lists/bad.txt", "rslvr-fdl-bad.txt"] {
        let i = ok(&[("fw.json", &bundle), (name, file)]);
        assert_eq!(dns(&i, "evil.example"), Action::Deny);
        assert_eq!(dns(&i, "bad.example"), Action::Deny);
        let e = i.engine();
        let v = e.check(
            e.policy("default").unwrap(),
            &Query::new("evil.example").via(Via::Dns),
        );
        assert_eq!(v.rule.unwrap().line(), 4);
        assert!(i
            .sources()
            .iter()
            .any(|s| s.file == name && s.line == 4 && s.column == 3));
    }
    let e = errors(&[
        ("fw.json", &bundle),
        ("bad.txt", "ok.example\nnot_a.name\n"),
    ]);
    assert_eq!(e[0], "bad.txt:2:1: domain `not_a.name`: not a domain name (letters, digits and `-` in labels between dots, an optional leading `*.`)");
    let e = errors(&[("fw.json", &bundle)]);
    assert!(e[0].starts_with("fw.json:13:70:"), "{e:#?}");
    assert!(
        e[0].contains("domain list `rslvr-fdl-bad`: not given"),
        "{e:#?}"
    );
    let e = errors(&[("fw.json", BUNDLE), ("stray.txt", "a.example\n")]);
    assert!(e[0].starts_with("stray.txt:1:1: domain list file `stray.txt`: no domain list or rule has the id or name `stray`"), "{e:#?}");
}

#[test]
fn every_example_imports_or_is_refused_with_its_reason() {
    let dir = format!("{}/tests/data/route53", env!("CARGO_MANIFEST_DIR"));
    let read = |name: &str| std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
    let expect: &[(&str, &str)] = &[
        (
            "examples-complete-fixtures.us-east-2.tfvars",
            "examples-complete-fixtures.us-east-2.tfvars:1:1: Terraform variable values (.tfvars) are not resources",
        ),
        (
            // The first rule's list is a region map lookup; the others are DNS Firewall
            // Advanced rules, which decide by traffic analysis.
            "sample-rule-group-template.yaml",
            "sample-rule-group-template.yaml:18:33: `!FindInMap` is a CloudFormation function",
        ),
        (
            "examples-complete-config-blacklisted_domains.txt",
            "examples-complete-config-blacklisted_domains.txt:1:1: domain list file",
        ),
    ];
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_str().unwrap().to_string();
        if name == "README.md" {
            continue;
        }
        seen += 1;
        let (_, want) = expect
            .iter()
            .find(|(f, _)| *f == name)
            .unwrap_or_else(|| panic!("{name}: no expectation"));
        let e = errors(&[(&name, &read(&name))]);
        assert!(e[0].starts_with(want), "{name}: {e:#?}");
    }
    assert_eq!(seen, expect.len());
    let t = errors(&[("t.yaml", &read("sample-rule-group-template.yaml"))]);
    assert!(
        t.iter()
            .any(|e| e.starts_with("t.yaml:26:11: DNS Firewall Advanced")),
        "{t:#?}"
    );
    // The domain file (one FQDN with a trailing dot a line) with a rule group that blocks it.
    let bundle = r#"{"FirewallRuleGroups": [{"Id": "rslvr-frg-1", "Name": "blacklist", "FirewallRules": [
      {"FirewallDomainListId": "rslvr-fdl-9", "Priority": 200, "Action": "BLOCK", "BlockResponse": "OVERRIDE",
       "BlockOverrideDnsType": "CNAME", "BlockOverrideDomain": "go-here.com", "BlockOverrideTtl": 1}]}],
      "FirewallDomainLists": [{"Id": "rslvr-fdl-9", "Name": "examples-complete-config-blacklisted_domains"}]}"#;
    let name = "examples-complete-config-blacklisted_domains.txt";
    let i = ok(&[("b.json", bundle), (name, &read(name))]);
    assert_eq!(i.policies()[0].rules.len(), 48);
    assert_eq!(dns(&i, "alterna.ca"), Action::Deny);
    assert_eq!(dns(&i, "www.alterna.ca"), Action::Allow);
    assert!(i
        .warnings()
        .iter()
        .any(|w| w.message.starts_with("BlockResponse OVERRIDE")));
}

const TEMPLATE: &str = r#"Resources:
  Corp:
    Type: AWS::Route53Resolver::FirewallDomainList
    Properties:
      Domains: [corp.example, "*.corp.example"]
  All:
    Type: AWS::Route53Resolver::FirewallDomainList
    Properties:
      Domains: ["*"]
  Walled:
    Type: AWS::Route53Resolver::FirewallRuleGroup
    Properties:
      FirewallRules:
        - Action: BLOCK
          BlockResponse: NXDOMAIN
          FirewallDomainListId: !GetAtt All.Id
          Priority: 200
        - Action: ALLOW
          FirewallDomainListId: !Ref Corp
          Priority: 100
  Assoc:
    Type: AWS::Route53Resolver::FirewallRuleGroupAssociation
    Properties:
      FirewallRuleGroupId: !Ref Walled
      Priority: 101
      VpcId: !Ref Vpc
"#;

#[test]
fn cloudformation_template() {
    let i = ok(&[("stack.yaml", TEMPLATE)]);
    assert_eq!(dns(&i, "a.corp.example"), Action::Allow);
    assert_eq!(dns(&i, "other.org"), Action::Deny);
    assert!(i
        .warnings()
        .iter()
        .any(|w| w.line == 18 && w.message.starts_with("INSPECT_REDIRECTION_DOMAIN")));
    // A list kept in S3 is given as a file named by its logical id.
    let t = TEMPLATE.replace(
        r#"Domains: [corp.example, "*.corp.example"]"#,
        "DomainFileUrl: s3://bucket/corp.txt",
    );
    let e = errors(&[("stack.yaml", &t)]);
    assert!(e[0].starts_with("stack.yaml:5:7: domain list `Corp`: DomainFileUrl is not fetched: give the file's domains as the file Corp.txt"), "{e:#?}");
    let i = ok(&[("stack.yaml", &t), ("lists/Corp.txt", "*.corp.example\n")]);
    assert_eq!(dns(&i, "a.corp.example"), Action::Allow);
    assert_eq!(dns(&i, "corp.example"), Action::Deny);
}

#[test]
fn bad_input_is_refused_at_its_position() {
    let g = |rule: &str| {
        format!(
            "{{\"FirewallRuleGroups\": [{{\"Id\": \"g\", \"FirewallRules\": [{rule}]}}],\n\"FirewallDomainLists\": [{{\"Id\": \"l\", \"Domains\": [\"a.example\"]}}]}}"
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (
            g(r#"{"FirewallDomainListId": "l", "Priority": 1, "Action": "DROP"}"#),
            "f.json:1:110: Action `DROP`",
        ),
        (
            g(r#"{"FirewallDomainListId": "l", "Action": "BLOCK"}"#),
            "f.json:1:55: a firewall rule needs Priority and Action",
        ),
        (
            g(r#"{"FirewallDomainListId": "l", "Priority": 1, "Action": "ALLOW", "Colour": 1}"#),
            "f.json:1:119: unknown field `Colour`",
        ),
        (
            g(r#"{"FirewallDomainListId": "x", "Priority": 1, "Action": "BLOCK"}"#),
            "f.json:1:80: domain list `x`: not given",
        ),
        (
            g(
                r#"{"FirewallDomainListId": "l", "Priority": 1, "Action": "BLOCK"}, {"FirewallDomainListId": "l", "Priority": 1, "Action": "BLOCK"}"#,
            ),
            "f.json:1:145: rule Priority 1 is used twice in FirewallRuleGroup/g",
        ),
        (
            g(r#"{"FirewallDomainListId": "l", "Priority": 1, "Action": "BLOCK"}"#)
                .replace("a.example", "*a.example"),
            "f.json:2:49: domain `*a.example`: `*` is allowed only",
        ),
        (
            "[1]".to_string(),
            "f.json:1:1: expected a DNS Firewall bundle",
        ),
        (
            "{\"FirewallRules\": []}".to_string(),
            "f.json:1:2: unknown field `FirewallRules`",
        ),
    ];
    for (text, want) in &cases {
        let e = errors(&[("f.json", text)]);
        assert!(e[0].starts_with(want), "{text}\n{e:#?}");
    }
    // Associations of two VPCs, and several groups without associations.
    let two = BUNDLE.replacen("\"VpcId\": \"vpc-1\"", "\"VpcId\": \"vpc-2\"", 1);
    assert!(errors(&[("f.json", &two)])[0].contains("associations for several VPCs (vpc-1, vpc-2)"));
    let start = BUNDLE.find("  \"FirewallRuleGroupAssociations\"").unwrap();
    let end = BUNDLE.find("  \"FirewallRuleGroups\"").unwrap();
    let none = format!("{}{}", &BUNDLE[..start], &BUNDLE[end..]);
    assert!(errors(&[("f.json", &none)])[0]
        .contains("several rule groups without FirewallRuleGroupAssociations"));
}

/// The documented rule: `*` alone is every name; `*.x` is every name ending in `.x`; anything
/// else is that name; case-insensitive, one trailing dot ignored. Groups, then rules, by
/// priority; the first match decides; ALLOW and ALERT allow.
fn naive(rules: &[(u8, u8, String)], name: &str) -> Action {
    let norm = |s: &str| s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    let q = norm(name);
    let mut sorted: Vec<&(u8, u8, String)> = rules.iter().collect();
    sorted.sort_by_key(|r| r.0);
    for (_, action, domain) in sorted {
        let d = norm(domain);
        let hit = d == "*"
            || match d.strip_prefix("*.") {
                Some(rest) => q.ends_with(&format!(".{rest}")),
                None => q == d,
            };
        if hit {
            return if *action == 2 {
                Action::Deny
            } else {
                Action::Allow
            };
        }
    }
    Action::Allow
}

fn label() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "ab", "Ex"]).prop_map(str::to_string)
}

proptest! {
    #[test]
    fn first_match_like_the_documented_rule(
        domains in prop::collection::vec((0u8..4, prop::collection::vec(label(), 1..3)), 1..5),
        names in prop::collection::vec((0usize..5, prop::collection::vec(label(), 0..3), 0u8..4), 1..12),
    ) {
        // Distinct priorities: the rule's position.
        let rules: Vec<(u8, u8, String)> = domains
            .iter()
            .enumerate()
            .map(|(i, (kind, labels))| {
                let body = format!("{}.io", labels.join("."));
                let d = match kind { 0 => format!("*.{body}"), 1 => "*".to_string(), 3 => format!("{body}."), _ => body };
                (u8::try_from(10 - i).unwrap(), u8::try_from(i % 3).unwrap(), d)
            })
            .collect();
        let lists: Vec<String> = rules.iter().enumerate().map(|(i, (_, _, d))| format!("{{\"Id\": \"l{i}\", \"Domains\": [\"{d}\"]}}")).collect();
        let actions = ["ALLOW", "ALERT", "BLOCK"];
        let fw: Vec<String> = rules.iter().enumerate().map(|(i, (p, a, _))| format!("{{\"FirewallDomainListId\": \"l{i}\", \"Priority\": {p}, \"Action\": \"{}\", \"FirewallDomainRedirectionAction\": \"TRUST_REDIRECTION_DOMAIN\"}}", actions[*a as usize])).collect();
        let bundle = format!("{{\"FirewallRuleGroups\": [{{\"Id\": \"g\", \"FirewallRules\": [{}]}}], \"FirewallDomainLists\": [{}]}}", fw.join(","), lists.join(","));
        let i = ok(&[("p.json", &bundle)]);
        for (which, extra, edit) in names {
            let base = rules[which % rules.len()].2.trim_start_matches("*.").trim_end_matches('.').replace('*', "x");
            let name = match edit { 1 => format!("x{base}"), 2 => base.to_ascii_uppercase() + ".", _ => base.clone() };
            let name = if extra.is_empty() { name } else { format!("{}.{name}", extra.join(".")) };
            prop_assert_eq!(dns(&i, &name), naive(&rules, &name), "{} {:?}", name, rules);
        }
    }

    #[test]
    fn arbitrary_input_never_panics(text in "\\PC{0,200}") {
        let _ = import(Format::Route53, &[("x.json", text.as_bytes())], &Options::default());
        let _ = import(Format::Route53, &[("x.json", BUNDLE.as_bytes()), ("rslvr-fdl-q.txt", text.as_bytes())], &Options::default());
    }
}

/// The names alone: the same rules with no source limit, so that a DNS firewall and an SNI/Host
/// firewall can be compared by what names they decide.
fn names_only(i: &Imported) -> hostgate::Engine {
    let mut b = EngineBuilder::new();
    for p in i.policies() {
        let mut p = p.clone();
        for r in &mut p.rules {
            r.via.clear();
        }
        b = b.policy(p);
    }
    b.build().unwrap()
}

#[test]
fn network_firewall_dot_and_dns_firewall_star_differ_at_the_apex() {
    // Network Firewall `.example.com` includes the apex (dotprefix); DNS Firewall
    // `*.example.com` does not (the apex must be listed too).
    let nfw = r#"{"RuleGroup": {"RulesSource": {"RulesSourceList": {"Targets": [".example.com"], "TargetTypes": ["TLS_SNI"], "GeneratedRulesType": "DENYLIST"}}}}"#;
    let nfw = import(
        Format::AwsNfw,
        &[("nfw.json", nfw.as_bytes())],
        &Options::default(),
    )
    .unwrap();
    let r53 = r#"{"FirewallRuleGroups": [{"Id": "g", "FirewallRules": [{"FirewallDomainListId": "l", "Priority": 1, "Action": "BLOCK", "BlockResponse": "NXDOMAIN"}]}],
      "FirewallDomainLists": [{"Id": "l", "Domains": ["*.example.com."]}]}"#;
    let r53 = import(
        Format::Route53,
        &[("r53.json", r53.as_bytes())],
        &Options::default(),
    )
    .unwrap();
    let (a, b) = (names_only(&nfw), names_only(&r53));
    let d = diff(
        (&a, a.policy("default").unwrap()),
        (&b, b.policy("default").unwrap()),
        &DiffOptions::default(),
    );
    assert!(d.complete, "{:?}", d.incomplete);
    assert_eq!(d.regions, 1);
    let w = &d.witnesses[0];
    assert_eq!(w.name, "example.com");
    assert_eq!(w.left.action, Action::Deny);
    assert_eq!(w.right.action, Action::Allow);
    assert_eq!(w.left.rule.unwrap().id(), "RuleGroup/nfw:0");
}
