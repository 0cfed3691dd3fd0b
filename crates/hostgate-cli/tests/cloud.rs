//! `--from aws-nfw` and `--from route53` through the real binary.

mod common;
use common::*;

const GROUP: &str = r#"{"RuleGroup": {"RulesSource": {"RulesSourceList": {
  "Targets": [".example.com"], "TargetTypes": ["TLS_SNI", "HTTP_HOST"], "GeneratedRulesType": "ALLOWLIST"}}},
 "RuleGroupResponse": {"RuleGroupName": "egress", "Type": "STATEFUL"}}
"#;

#[test]
fn import_aws_nfw_prints_a_policy_that_check_agrees_with() {
    let file = temp("group.json", GROUP);
    let r = hostgate(&["import", "--from", "aws-nfw", &file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "# {file}:2 RuleGroup/egress\nallow .example.com via tls,http,connect id RuleGroup/egress:0\n"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("precedence first-match\ndefault allow\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("deny * via tls,http,connect id RuleGroup/egress:1\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains(&format!("{file}:1:51: warning: without HOME_NET")),
        "{}",
        r.stderr
    );
    let out = temp("group.policy", &r.stdout);
    check_agrees(
        "aws-nfw",
        &file,
        &out,
        &[
            ("example.com", "443", "tls", "allow"),
            ("a.b.example.com", "80", "http", "allow"),
            ("notexample.com", "443", "tls", "deny"),
            ("other.org", "53", "dns", "allow"),
        ],
    );
    let bad = temp(
        "bad.json",
        r#"{"RuleGroup": {"RulesSource": {"RulesSourceList": {"Targets": ["*.a.io"], "TargetTypes": ["TLS_SNI"], "GeneratedRulesType": "DENYLIST"}}}}"#,
    );
    let r = hostgate(&["import", "--from", "aws-nfw", &bad]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with(&format!("{bad}:1:64: target `*.a.io`")),
        "{}",
        r.stderr
    );
}

const BUNDLE: &str = r#"{"FirewallRuleGroups": [{"Id": "rslvr-frg-1", "Name": "walled", "FirewallRules": [
  {"FirewallDomainListId": "rslvr-fdl-1", "Priority": 100, "Action": "ALLOW", "FirewallDomainRedirectionAction": "TRUST_REDIRECTION_DOMAIN"},
  {"FirewallDomainListId": "rslvr-fdl-2", "Priority": 200, "Action": "BLOCK", "BlockResponse": "NXDOMAIN"}]}],
 "FirewallDomainLists": [
  {"Id": "rslvr-fdl-1", "Name": "corp", "Domains": ["*.corp.example."]},
  {"Id": "rslvr-fdl-2", "Name": "all", "Domains": ["*"]}]}
"#;

#[test]
fn check_route53_follows_priorities() {
    let file = temp("fw.json", BUNDLE);
    for (name, want) in [
        ("a.corp.example", "allow"),
        ("corp.example", "deny"),
        ("other.org", "deny"),
    ] {
        let r = hostgate(&[
            "check", "--from", "route53", "--policy", &file, "--via", "dns", name,
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let words: Vec<&str> = r.stdout.split_whitespace().take(2).collect();
        assert_eq!(words, [want, name], "{}", r.stdout);
    }
    let r = hostgate(&[
        "check",
        "--from",
        "route53",
        "--policy",
        &file,
        "--format",
        "json",
        "--via",
        "dns",
        "corp.example",
    ]);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["rule"], "FirewallRuleGroup/walled:1");
    assert_eq!(v["line"], 6);
    // A domain list file is given with `import`, next to the bundle.
    let bundle = BUNDLE.replace(r#", "Domains": ["*.corp.example."]"#, "");
    let fw = temp("fw2.json", &bundle);
    let list = temp("corp.txt", "*.corp.example.\n");
    let r = hostgate(&["import", "--from", "route53", &fw, &list]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "# {list}:1 FirewallRuleGroup/walled\nallow **.corp.example via dns id FirewallRuleGroup/walled:0\n"
        )),
        "{}",
        r.stdout
    );
}
