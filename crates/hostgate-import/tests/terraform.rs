//! Terraform inputs for `--from aws-nfw`, `--from route53` and `--from swp`: `.tf` files and
//! the JSON of `terraform show -json`.
//!
//! The independent expectation is the API form of the same resources, which
//! `tests/aws_nfw.rs`, `tests/route53.rs` and `tests/swp.rs` test against the products'
//! documentation: a `.tf` file, its plan JSON and the API form must give the same verdict for
//! every name asked. The argument names are the Terraform AWS provider's
//! (`aws_networkfirewall_rule_group`, `aws_networkfirewall_firewall_policy`,
//! `aws_route53_resolver_firewall_*`) and the Google provider's
//! (`google_network_security_gateway_security_policy`, `…_rule`,
//! `google_network_security_url_lists`, whose ids are `projects/{{project}}/locations/
//! {{location}}/gatewaySecurityPolicies/{{name}}`, `…/{{gateway_security_policy}}/rules/
//! {{name}}` and `projects/{{project}}/locations/{{location}}/urlLists/{{name}}`); the plan files
//! follow Terraform's "JSON Output Format" (planned values, resource changes with
//! `after_unknown`, configuration expressions with `references`).

use hostgate::{Action, Format, Query, Via};
use hostgate_import::{import, render, Imported, Options};

fn data(name: &str) -> String {
    let path = format!("{}/tests/data/terraform/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn run(format: Format, files: &[(&str, &str)]) -> Result<Imported, Vec<String>> {
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, t)| (*n, t.as_bytes())).collect();
    import(format, &files, &Options::default())
        .map_err(|e| e.iter().map(|d| d.to_string()).collect())
}

fn ok(format: Format, files: &[(&str, &str)]) -> Imported {
    run(format, files).unwrap_or_else(|e| panic!("{e:#?}"))
}

fn errors(format: Format, files: &[(&str, &str)]) -> Vec<String> {
    match run(format, files) {
        Ok(i) => panic!("imported: {}", render(&i)),
        Err(e) => e,
    }
}

fn verdict(i: &Imported, name: &str, port: u16, via: Via) -> Action {
    let e = i.engine();
    let p = e.policy("default").unwrap();
    e.check(p, &Query::new(name).port(port).via(via)).action
}

const NFW_NAMES: &[&str] = &[
    "example.com",
    "a.example.com",
    "bad.example.com",
    "x.bad.example.com",
    "notexample.com",
    "www.example.org",
    "a.www.example.org",
    "example.org",
    "WWW.Example.ORG",
    "other.net",
    "192.0.2.1",
];

const VIAS: &[(u16, Via)] = &[
    (443, Via::Tls),
    (8443, Via::Tls),
    (80, Via::Http),
    (443, Via::Connect),
    (53, Via::Dns),
];

fn same_verdicts(a: &Imported, b: &Imported, names: &[&str], vias: &[(u16, Via)], what: &str) {
    for name in names {
        for &(port, via) in vias {
            assert_eq!(
                verdict(a, name, port, via),
                verdict(b, name, port, via),
                "{what}: {name} {port} {via:?}\n{}\n{}",
                render(a),
                render(b)
            );
        }
    }
}

#[test]
fn network_firewall_tf_and_plan_decide_as_the_api_output() {
    let api = ok(Format::AwsNfw, &[("nfw.json", &data("nfw.json"))]);
    let tf = ok(Format::AwsNfw, &[("nfw.tf", &data("nfw.tf"))]);
    let plan = ok(Format::AwsNfw, &[("plan.json", &data("nfw-plan.json"))]);
    same_verdicts(&api, &tf, NFW_NAMES, VIAS, "tf");
    same_verdicts(&api, &plan, NFW_NAMES, VIAS, "plan");
    use Action::{Allow, Deny};
    // A few rows on their own, from the developer guide: STRICT_ORDER evaluates groups by
    // priority (the deny list, 100, before the allow list, 200); `.example.com` is the apex and
    // every name below; aws:drop_established drops what no rule passed.
    for (name, port, via, want) in [
        ("bad.example.com", 443, Via::Tls, Deny),
        ("a.example.com", 443, Via::Tls, Allow),
        ("example.com", 80, Via::Http, Allow),
        ("bad.example.com", 80, Via::Http, Allow),
        ("other.net", 443, Via::Tls, Deny),
        ("other.net", 53, Via::Dns, Deny),
    ] {
        assert_eq!(verdict(&tf, name, port, via), want, "{name} {via:?}");
    }
    // Rules are named by the resource and point at the .tf lines.
    let e = tf.engine();
    let v = e.check(
        e.policy("default").unwrap(),
        &Query::new("www.example.org").port(443).via(Via::Tls),
    );
    assert_eq!(v.rule.unwrap().id(), "RuleGroup/allow:1");
    assert_eq!(v.rule.unwrap().line(), 24);
    assert!(tf
        .sources()
        .iter()
        .any(|s| s.file == "nfw.tf" && s.line == 24 && s.column == 49));
    // The resource of another type is said, at its block.
    let w: Vec<String> = tf.warnings().iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter().any(|w| w.starts_with(
            "nfw.tf:3:1: warning: resource type `aws_vpc` is not read by --from aws-nfw"
        )),
        "{w:#?}"
    );
    assert!(
        w.iter()
            .any(|w| w.starts_with("nfw.tf:14:15: warning: HOME_NET 10.0.0.0/16")),
        "{w:#?}"
    );
    // The .tf file split in two: the references resolve across files.
    let text = data("nfw.tf");
    let cut = text
        .find("resource \"aws_networkfirewall_firewall_policy\"")
        .unwrap();
    let two = ok(
        Format::AwsNfw,
        &[("groups.tf", &text[..cut]), ("policy.tf", &text[cut..])],
    );
    same_verdicts(&api, &two, NFW_NAMES, VIAS, "two files");
}

const R53_NAMES: &[&str] = &[
    "corp.example",
    "a.corp.example",
    "a.b.corp.example",
    "CORP.Example",
    "corp.example.",
    "x.watch.example",
    "watch.example",
    "bad.example",
    "a.bad.example",
    "other.org",
];

#[test]
fn dns_firewall_tf_and_plan_decide_as_the_api_output() {
    let api = ok(Format::Route53, &[("fw.json", &data("route53.json"))]);
    let tf = ok(Format::Route53, &[("fw.tf", &data("route53.tf"))]);
    let plan = ok(
        Format::Route53,
        &[("plan.json", &data("route53-plan.json"))],
    );
    let dns = &[(53, Via::Dns), (443, Via::Tls)];
    same_verdicts(&api, &tf, R53_NAMES, dns, "tf");
    same_verdicts(&api, &plan, R53_NAMES, dns, "plan");
    // From the Route 53 developer guide: groups by association priority (101 first), the
    // ALERT of `*.watch.example` ends evaluation (it lets the query through), `*.x` is not the
    // apex, `*` is every name.
    for (name, want) in [
        ("x.corp.example", Action::Allow),
        ("x.watch.example", Action::Allow),
        ("watch.example", Action::Deny),
        ("other.org", Action::Deny),
    ] {
        assert_eq!(verdict(&tf, name, 53, Via::Dns), want, "{name}");
    }
    let e = tf.engine();
    let v = e.check(
        e.policy("default").unwrap(),
        &Query::new("x.watch.example").via(Via::Dns),
    );
    assert_eq!(v.rule.unwrap().id(), "FirewallRuleGroup/allow_corp:2");
    assert_eq!(v.rule.unwrap().line(), 10);
    // In the plan the resources are in a child module: named by their module.
    let e = plan.engine();
    let v = e.check(
        e.policy("default").unwrap(),
        &Query::new("bad.example").via(Via::Dns),
    );
    assert_eq!(
        v.rule.unwrap().id(),
        "FirewallRuleGroup/module.dns_firewall.block:1"
    );
    // Associations for two VPCs (two different expressions) are refused, as in the API form.
    let two = data("route53.tf").replacen("aws_vpc.main.id", "aws_vpc.other.id", 1);
    let e = errors(Format::Route53, &[("fw.tf", &two)]);
    assert!(e[0].contains("associations for several VPCs"), "{e:#?}");
}

#[test]
fn a_state_is_read_from_its_values() {
    // `terraform show -json` of a state: `values` instead of `planned_values`, every value
    // known, links by their ARN.
    let plan = data("nfw-plan.json");
    let state = plan
        .replace("\"planned_values\"", "\"values\"")
        .replace(
            "{\"deep_threat_inspection\": \"\", \"override\": [], \"priority\": 200}",
            "{\"deep_threat_inspection\": \"\", \"override\": [], \"priority\": 200, \"resource_arn\": \"arn:aws:network-firewall:us-east-1:111122223333:stateful-rulegroup/egress-allow\"}",
        )
        .replace(
            "\"capacity\": 100,",
            "\"capacity\": 100, \"arn\": \"arn:aws:network-firewall:us-east-1:111122223333:stateful-rulegroup/egress-allow\",",
        );
    let cut = state.find("\"resource_changes\"").unwrap();
    let state = format!("{}\"x\": 1}}", &state[..cut]);
    let i = ok(Format::AwsNfw, &[("state.json", &state)]);
    let api = ok(Format::AwsNfw, &[("nfw.json", &data("nfw.json"))]);
    same_verdicts(&api, &i, NFW_NAMES, VIAS, "state");
}

#[test]
fn expressions_are_refused_at_their_position() {
    let tf = data("nfw.tf");
    let f = Format::AwsNfw;
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"targets              = [".example.com", "www.example.org"]"#,
            "targets = var.allowed",
            "nfw.tf:24:19: `var.allowed` is a variable, which is not evaluated here: only literal values are read from .tf files; give the rendered plan JSON (`terraform show -json plan.out`) instead",
        ),
        (
            r#"targets              = [".example.com", "www.example.org"]"#,
            r#"targets = yamldecode(file("allowed_domains.yml"))"#,
            "nfw.tf:24:19: `yamldecode(file(\"allowed_domains.yml\"))` is a function call",
        ),
        (
            r#"targets              = [".example.com", "www.example.org"]"#,
            r#"targets = [".${local.zone}", "www.example.org"]"#,
            "nfw.tf:24:20: `\".${local.zone}\"` is a template with interpolation",
        ),
        (
            r#"rule_order = "STRICT_ORDER""#,
            r#"rule_order = var.strict ? "STRICT_ORDER" : "DEFAULT_ACTION_ORDER""#,
            "nfw.tf:28:20: `var.strict ? \"STRICT_ORDER\" : \"DEFAULT_ACTION_ORDER\"` is a conditional",
        ),
        (
            r#"targets              = [".example.com", "www.example.org"]"#,
            "targets = [for d in local.domains : \".${d}\"]",
            "nfw.tf:24:19: `[for d in local.domains : \".${d}\"]` is a `for` expression",
        ),
        (
            "resource_arn = aws_networkfirewall_rule_group.deny.arn",
            "resource_arn = aws_networkfirewall_rule_group.gone.arn",
            "nfw.tf:76:22: `aws_networkfirewall_rule_group.gone.arn`: resource aws_networkfirewall_rule_group.gone is not in the files given",
        ),
        (
            "resource_arn = aws_networkfirewall_rule_group.deny.arn",
            "resource_arn = aws_networkfirewall_rule_group.deny.name",
            "nfw.tf:76:22: `aws_networkfirewall_rule_group.deny.name`: the link is by aws_networkfirewall_rule_group.NAME.arn or aws_networkfirewall_rule_group.NAME.id",
        ),
        (
            "resource_arn = aws_networkfirewall_rule_group.deny.arn",
            "resource_arn = aws_ssm_parameter.arn.value",
            "nfw.tf:76:22: `aws_ssm_parameter.arn.value` is a reference to another resource",
        ),
        (
            r#"rule_order = "STRICT_ORDER""#,
            "rule_order = \"STRICT_ORDER\"\n      rule_priority = 1",
            "nfw.tf:29:7: unknown argument `rule_priority` in `stateful_rule_options`; known: rule_order",
        ),
        (
            "  capacity = 100\n",
            "  capacity = 100\n  count    = 2\n",
            "nfw.tf:9:3: `count` makes instances whose values are computed",
        ),
        (
            "    rules_source {\n      rules_source_list {",
            "    rules_source {\n      rules_source_list {\n      }\n      rules_source_list {",
            "nfw.tf:23:7: a second `rules_source_list` block: at most one is allowed",
        ),
    ];
    for (from, to, want) in cases {
        assert!(tf.contains(from), "{from}");
        let text = tf.replacen(from, to, 1);
        let e = errors(f, &[("nfw.tf", &text)]);
        assert!(e[0].starts_with(want), "{to}\n{e:#?}");
    }
    // A dynamic block is computed too.
    let text = tf.replacen(
        "    stateful_rule_group_reference {\n      resource_arn = aws_networkfirewall_rule_group.allow.arn",
        "    dynamic \"stateful_rule_group_reference\" {\n      for_each = local.groups\n      content {}\n    }\n    stateful_rule_group_reference {\n      resource_arn = aws_networkfirewall_rule_group.allow.arn",
        1,
    );
    let e = errors(f, &[("nfw.tf", &text)]);
    assert!(
        e[0].starts_with(
            "nfw.tf:71:5: `dynamic \"stateful_rule_group_reference\"` is a dynamic block"
        ),
        "{e:#?}"
    );
    // Meta-arguments that do not change values, and arguments that decide nothing, may be
    // any expression.
    let text = tf.replacen(
        "  capacity = 10\n",
        "  capacity = 10\n  depends_on = [aws_vpc.inspection]\n  provider = aws.east\n  lifecycle {\n    prevent_destroy = true\n  }\n",
        1,
    );
    ok(f, &[("nfw.tf", &text)]);
    let text = tf.replacen(
        "name     = \"egress-allow\"",
        "name = \"${var.env}-allow\"",
        1,
    );
    ok(f, &[("nfw.tf", &text)]);
    // Route 53: a rule's missing group and domain list.
    let r = data("route53.tf");
    let text = r.replacen(
        "aws_route53_resolver_firewall_domain_list.alerts.id",
        "aws_route53_resolver_firewall_domain_list.alert.id",
        1,
    );
    let e = errors(Format::Route53, &[("fw.tf", &text)]);
    assert!(e[0].starts_with("fw.tf:34:40: `aws_route53_resolver_firewall_domain_list.alert.id`: resource aws_route53_resolver_firewall_domain_list.alert is not in the files given"), "{e:#?}");
    let e = errors(Format::Route53, &[("fw.tf", "resource \"aws_route53_resolver_firewall_rule\" \"r\" {\n  action = \"BLOCK\"\n  priority = 1\n  block_respons = \"NODATA\"\n}\n")]);
    assert!(
        e[0].starts_with("fw.tf:4:3: unknown argument `block_respons`"),
        "{e:#?}"
    );
    // Invalid HCL, at the parser's position.
    let e = errors(
        f,
        &[(
            "bad.tf",
            "resource \"aws_networkfirewall_rule_group\" \"g\" {\n  capacity = \n}\n",
        )],
    );
    assert!(
        e[0].starts_with("bad.tf:2:14: invalid HCL: invalid expression"),
        "{e:#?}"
    );
}

#[test]
fn plan_values_known_only_after_apply_are_refused() {
    // A target list read from a data source is unknown in the plan: refused at its block.
    let plan = data("nfw-plan.json").replacen(
        "\"targets\": [\"bad.example.com\"]",
        "\"targets_x\": null",
        1,
    );
    let plan = plan.replacen(
        "\"change\": {\"actions\": [\"no-op\"], \"after_unknown\": {}}",
        "\"change\": {\"actions\": [\"update\"], \"after_unknown\": {\"rule_group\": [{\"rules_source\": [{\"rules_source_list\": [{\"targets\": true}]}]}]}}",
        1,
    );
    let e = errors(Format::AwsNfw, &[("plan.json", &plan)]);
    assert!(e[0].contains("a value known only after apply"), "{e:#?}");
    // An argument this reader does not know, set, is refused; unset (null) it is skipped.
    let plan = data("nfw-plan.json").replacen(
        "\"rules\": null,",
        "\"rules\": null, \"future_thing\": null,",
        1,
    );
    ok(Format::AwsNfw, &[("plan.json", &plan)]);
    let plan = data("nfw-plan.json").replacen(
        "\"rules\": null,",
        "\"rules\": null, \"future_thing\": \"on\",",
        1,
    );
    let e = errors(Format::AwsNfw, &[("plan.json", &plan)]);
    assert!(e[0].contains("unknown argument `future_thing`"), "{e:#?}");
}

#[test]
fn files_that_are_not_terraform_resources() {
    let e = errors(
        Format::AwsNfw,
        &[(
            "net.tf",
            "resource \"aws_vpc\" \"v\" {\n  cidr_block = \"10.0.0.0/16\"\n}\n",
        )],
    );
    assert!(
        e[0].starts_with("net.tf:1:1: no resource that --from aws-nfw reads"),
        "{e:#?}"
    );
    // A file of other resources next to the product's is fine (warned).
    let vpc = "resource \"aws_vpc\" \"v\" {\n  cidr_block = \"10.0.0.0/16\"\n}\n";
    let i = ok(
        Format::AwsNfw,
        &[("vpc.tf", vpc), ("nfw.tf", &data("nfw.tf"))],
    );
    assert!(i.warnings()[0]
        .to_string()
        .starts_with("vpc.tf:1:1: warning: resource type `aws_vpc`"));
    let e = errors(Format::Route53, &[("x.tfvars", "a = 1\n")]);
    assert!(
        e[0].starts_with("x.tfvars:1:1: Terraform variable values (.tfvars) are not resources"),
        "{e:#?}"
    );
    let e = errors(Format::Route53, &[("x.tf.json", "{\"resource\": {}}")]);
    assert!(
        e[0].starts_with("x.tf.json:1:1: Terraform's JSON syntax (.tf.json) is not read"),
        "{e:#?}"
    );
    // The Google Secure Web Proxy samples are templates: their placeholders decide names.
    let dir = format!("{}/tests/data/terraform", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_str().unwrap().to_string();
        if !name.ends_with(".tf.tmpl") {
            continue;
        }
        seen += 1;
        for f in [Format::AwsNfw, Format::Route53, Format::Swp] {
            let e = errors(f, &[(&name, &data(&name))]);
            assert!(
                e[0].starts_with(&format!(
                    "{name}:1:1: a template with `{{{{…}}}}` placeholders"
                )),
                "{e:#?}"
            );
            // Named .tf, the same reason.
            let tf = name.trim_end_matches(".tmpl");
            let e = errors(f, &[(tf, &data(&name))]);
            assert!(e[0].contains("placeholders"), "{e:#?}");
        }
    }
    assert_eq!(seen, 3);
}

#[test]
fn the_aws_sample_module_is_refused_at_its_function_call() {
    let name = "modules-network_firewall_with_nat-main.tf";
    let text = std::fs::read_to_string(format!(
        "{}/tests/data/aws-nfw/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let e = errors(Format::AwsNfw, &[(name, &text)]);
    assert!(
        e[0].starts_with(&format!(
            "{name}:87:19: `yamldecode(file(\"allowed_domains.yml\"))` is a function call"
        )),
        "{e:#?}"
    );
    // Its targets written out: the allow list imports (the policy links the group by
    // reference; the firewall, logging and routes are other resources, warned).
    let text = text.replace(
        "yamldecode(file(\"allowed_domains.yml\"))",
        "[\".amazon.com\", \".amazonaws.com\"]",
    );
    let i = ok(Format::AwsNfw, &[(name, &text)]);
    assert_eq!(
        verdict(&i, "s3.amazonaws.com", 443, Via::Tls),
        Action::Allow
    );
    assert_eq!(verdict(&i, "example.com", 443, Via::Tls), Action::Deny);
    assert_eq!(verdict(&i, "example.com", 53, Via::Dns), Action::Allow);
    assert!(i.warnings().iter().any(|w| w
        .message
        .starts_with("resource type `aws_route_table` is not read")));
}

#[test]
fn attributes_that_decide_nothing_are_read_and_ignored() {
    // Each resource type's attributes that no reader uses (names, descriptions, tags, the
    // provider's computed ones), as the providers' documentation lists them for it: each is
    // accepted whatever its expression, and one more argument is refused at its position.
    // The two Network Firewall resources list the same ones.
    const NFW: &[&str] = &[
        "name",
        "description",
        "encryption_configuration",
        "tags",
        "tags_all",
        "arn",
        "id",
        "update_token",
        "region",
    ];
    let cases: &[(Format, &str, &[&str])] = &[
        (Format::AwsNfw, "aws_networkfirewall_rule_group", NFW),
        (Format::AwsNfw, "aws_networkfirewall_firewall_policy", NFW),
        (
            Format::Route53,
            "aws_route53_resolver_firewall_domain_list",
            &["name", "tags", "tags_all", "arn", "id", "region"],
        ),
        (
            Format::Route53,
            "aws_route53_resolver_firewall_rule_group",
            &[
                "name",
                "tags",
                "tags_all",
                "arn",
                "id",
                "owner_id",
                "share_status",
                "region",
            ],
        ),
        (
            Format::Route53,
            "aws_route53_resolver_firewall_rule",
            &["name", "id", "region"],
        ),
        (
            Format::Route53,
            "aws_route53_resolver_firewall_rule_group_association",
            &["name", "tags", "tags_all", "arn", "id", "region"],
        ),
        (
            Format::Route53,
            "aws_route53_resolver_firewall_config",
            &["owner_id", "id", "region"],
        ),
        (
            Format::Swp,
            "google_network_security_gateway_security_policy",
            &[
                "tls_inspection_policy",
                "description",
                "id",
                "self_link",
                "create_time",
                "update_time",
            ],
        ),
        (
            Format::Swp,
            "google_network_security_gateway_security_policy_rule",
            &[
                "description",
                "id",
                "self_link",
                "create_time",
                "update_time",
            ],
        ),
        (
            Format::Swp,
            "google_network_security_url_lists",
            &["description", "id", "create_time", "update_time"],
        ),
    ];
    for (format, ty, skipped) in cases {
        let mut tf = format!("resource \"{ty}\" \"r\" {{\n");
        for a in *skipped {
            tf.push_str(&format!("  {a} = var.{a}\n"));
        }
        let line = skipped.len() + 2;
        tf.push_str("  not_an_argument = 1\n}\n");
        // Other refusals (a Secure Web Proxy resource's unset name) are not this test's.
        let unknown: Vec<String> = errors(*format, &[("r.tf", &tf)])
            .into_iter()
            .filter(|e| e.contains("unknown argument"))
            .collect();
        assert_eq!(unknown.len(), 1, "{ty}: {unknown:#?}");
        assert!(
            unknown[0].starts_with(&format!(
                "r.tf:{line}:3: unknown argument `not_an_argument` in {ty}.r; known: "
            )),
            "{ty}: {unknown:#?}"
        );
        // And one the documentation gives another resource type is not taken for this one.
        if !skipped.contains(&"self_link") && *format == Format::Swp {
            let tf = format!("resource \"{ty}\" \"r\" {{\n  self_link = \"x\"\n}}\n");
            let e = errors(*format, &[("r.tf", &tf)]);
            assert!(
                e.iter()
                    .any(|e| e.starts_with("r.tf:2:3: unknown argument `self_link`")),
                "{ty}: {e:#?}"
            );
        }
    }
    // In a nested block, its own (a policy's `flow_timeouts`) are accepted too.
    let tf = "resource \"aws_networkfirewall_firewall_policy\" \"p\" {\n  name = \"p\"\n  firewall_policy {\n    stateless_default_actions = [\"aws:forward_to_sfe\"]\n    stateless_fragment_default_actions = [\"aws:forward_to_sfe\"]\n    stateful_engine_options {\n      rule_order = \"STRICT_ORDER\"\n      flow_timeouts {\n        tcp_idle_timeout_seconds = 350\n      }\n      not_an_argument = 1\n    }\n  }\n}\n";
    let e = errors(Format::AwsNfw, &[("p.tf", tf)]);
    assert_eq!(
        e,
        ["p.tf:11:7: unknown argument `not_an_argument` in `stateful_engine_options`; known: rule_order, stream_exception_policy, flow_timeouts"],
        "{e:#?}"
    );
}

#[test]
fn arbitrary_hcl_never_panics() {
    let tf = data("nfw.tf");
    // Every prefix of a real file, and some bytes flipped.
    for end in (0..tf.len()).step_by(7) {
        if !tf.is_char_boundary(end) {
            continue;
        }
        let _ = run(Format::AwsNfw, &[("x.tf", &tf[..end])]);
    }
    // Secure Web Proxy: every prefix, and each matcher's interpolation cut short.
    let swp = data("swp.tf");
    for end in (0..swp.len()).step_by(5) {
        if swp.is_char_boundary(end) {
            let _ = run(Format::Swp, &[("x.tf", &swp[..end])]);
        }
    }
    for cut in [
        "${google_network_security_url_lists.corp",
        "${",
        "${google_network_security_url_lists.corp.id}\u{e9}",
    ] {
        let text = swp.replacen("${google_network_security_url_lists.corp.id}", cut, 1);
        let _ = run(Format::Swp, &[("x.tf", &text)]);
    }
    // A label with a line break (the parser takes one): the warning quoting it stays one
    // comment of the rendered policy.
    let text = format!("resource \"aws_x\ny\" \"z\" {{\n}}\n{}", data("nfw.tf"));
    let i = ok(Format::AwsNfw, &[("x.tf", &text)]);
    let rendered = render(&i);
    hostgate::Engine::compile(&rendered).unwrap_or_else(|e| panic!("{e}\n{rendered}"));
    let deep = format!(
        "resource \"aws_networkfirewall_rule_group\" \"g\" {{ capacity = {}1{} }}",
        "[".repeat(500),
        "]".repeat(500)
    );
    assert!(run(Format::AwsNfw, &[("x.tf", &deep)]).is_err());
}

const SWP_NAMES: &[&str] = &[
    "bad.corp.example",
    "corp.example",
    "a.b.corp.example",
    "mycorp.example",
    "www.example.com",
    "example.com",
    "a.svc.example",
    "svc.example",
    "github.com",
    "api.github.com",
    "off.example",
    "storage.googleapis.com",
    "googleapis.com",
    "a.cdn.example",
    "evil.cdn.example",
    "upload.example",
    "admin.app.example",
    "www.app.example",
    "static-eu.example.org",
    "staticeu.example.org",
    "other.example",
    "WWW.Example.COM",
];

const SWP_VIAS: &[(u16, Via)] = &[
    (443, Via::Tls),
    (8443, Via::Tls),
    (80, Via::Http),
    (443, Via::Connect),
    (8443, Via::Connect),
    (53, Via::Dns),
];

fn swp_api() -> Imported {
    let path = format!("{}/tests/data/swp/policy.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    ok(Format::Swp, &[("policy.yaml", &text)])
}

fn rule_of(i: &Imported, name: &str, port: u16) -> (String, u32) {
    let e = i.engine();
    let v = e.check(
        e.policy("default").unwrap(),
        &Query::new(name).port(port).via(Via::Tls),
    );
    let r = v.rule.unwrap();
    (r.id().to_string(), r.line())
}

#[test]
fn secure_web_proxy_tf_and_plan_decide_as_the_api_objects() {
    let api = swp_api();
    let tf = ok(Format::Swp, &[("swp.tf", &data("swp.tf"))]);
    let plan = ok(Format::Swp, &[("plan.json", &data("swp-plan.json"))]);
    same_verdicts(&api, &tf, SWP_NAMES, SWP_VIAS, "tf");
    same_verdicts(&api, &plan, SWP_NAMES, SWP_VIAS, "plan");
    // A few rows on their own, from the Secure Web Proxy docs (as in tests/swp.rs): priority
    // 10's DENY before the URL list's ALLOW at 20, `*corp.example` the apex and below, the
    // rule interpolating the list's id reads that list, no match denies.
    use Action::{Allow, Deny};
    for (name, port, want) in [
        ("bad.corp.example", 443, Deny),
        ("corp.example", 443, Allow),
        ("github.com", 443, Allow),
        ("evil.cdn.example", 8443, Allow),
        ("evil.cdn.example", 443, Deny),
        ("other.example", 443, Deny),
    ] {
        assert_eq!(verdict(&tf, name, port, Via::Tls), want, "{name}");
    }
    // Rules are named by their API name and point at the .tf: the URL list value, the test.
    assert_eq!(
        rule_of(&tf, "github.com", 443),
        ("GatewaySecurityPolicyRule/corp:3".to_string(), 15)
    );
    let cols: Vec<(u32, u32)> = tf
        .sources()
        .iter()
        .filter(|s| s.object == "GatewaySecurityPolicyRule/app")
        .map(|s| (s.line, s.column))
        .collect();
    assert_eq!(cols, [(119, 46), (119, 83)]);
    let w: Vec<String> = tf.warnings().iter().map(|w| w.to_string()).collect();
    for want in [
        "swp.tf:15:71: warning: `github.com/example-org/*` has a path",
        "swp.tf:45:29: warning: GatewaySecurityPolicyRule/off is not enabled",
        "swp.tf:93:29: warning: applicationMatcher: HTTP request data",
        // In the heredoc, at its line and column.
        "swp.tf:107:7: warning: a test on the request",
    ] {
        assert!(w.iter().any(|x| x.starts_with(want)), "{want}\n{w:#?}");
    }
    // The plan's rules have the same names, and point into the JSON.
    assert_eq!(
        rule_of(&plan, "github.com", 443).0,
        "GatewaySecurityPolicyRule/corp:3"
    );
    // The .tf split in two files: the references resolve across them.
    let text = data("swp.tf");
    let cut = text
        .find("resource \"google_network_security_gateway_security_policy_rule\"")
        .unwrap();
    let two = ok(
        Format::Swp,
        &[("lists.tf", &text[..cut]), ("rules.tf", &text[cut..])],
    );
    same_verdicts(&api, &two, SWP_NAMES, SWP_VIAS, "two files");
    // The rules without the resources they reference: refused at the references (the API
    // objects of the same names do not stand for Terraform resources).
    let objects = "name: projects/shop/locations/us-central1/gatewaySecurityPolicies/egress\n---\nname: projects/shop/locations/us-central1/urlLists/corp\nvalues: [www.example.com, '*corp.example', '*.svc.example', github.com/example-org/*]\n";
    let e = errors(
        Format::Swp,
        &[("o.yaml", objects), ("rules.tf", &text[cut..])],
    );
    assert!(
        e[0].starts_with("rules.tf:5:29: `google_network_security_gateway_security_policy.egress.name`: resource google_network_security_gateway_security_policy.egress is not in the files given"),
        "{e:#?}"
    );
    assert!(
        e.iter().any(|m| m.starts_with("rules.tf:20:51: `google_network_security_url_lists.corp.id`: resource google_network_security_url_lists.corp is not in the files given")),
        "{e:#?}"
    );
}

#[test]
fn secure_web_proxy_without_project() {
    // `project` unset everywhere: the provider's default project, the same one for every
    // resource, which the names built here stand for; the links need no literal path.
    let api = swp_api();
    let text: String = data("swp.tf")
        .lines()
        .filter(|l| !l.trim_start().starts_with("project "))
        .map(|l| format!("{l}\n"))
        .collect();
    let tf = ok(Format::Swp, &[("swp.tf", &text)]);
    same_verdicts(&api, &tf, SWP_NAMES, SWP_VIAS, "no project");
    // Unset on one rule only: its policy is in project `shop`, the default is not known.
    let text = data("swp.tf").replacen(
        "  name                    = \"corp\"\n  project                 = \"shop\"\n",
        "  name                    = \"corp\"\n",
        1,
    );
    let e = errors(Format::Swp, &[("swp.tf", &text)]);
    assert!(
        e[0].starts_with("swp.tf:29:1: google_network_security_gateway_security_policy_rule.corp: `project` is not set, and the provider's default project is not known here, while `projects/shop/locations/us-central1/gatewaySecurityPolicies/egress` names one: set `project`"),
        "{e:#?}"
    );
    // Unset on the policy only: said once, at the policy.
    let text = data("swp.tf").replacen(
        "  name        = \"egress\"\n  project     = \"shop\"\n",
        "  name        = \"egress\"\n",
        1,
    );
    let e = errors(Format::Swp, &[("swp.tf", &text)]);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].starts_with("swp.tf:3:1: google_network_security_gateway_security_policy.egress: `project` is not set"),
        "{e:#?}"
    );
    // A rule in another project than its policy's: not the policy given.
    let text = data("swp.tf").replacen(
        "  name                    = \"corp\"\n  project                 = \"shop\"\n",
        "  name                    = \"corp\"\n  project                 = \"depot\"\n",
        1,
    );
    let e = errors(Format::Swp, &[("swp.tf", &text)]);
    assert!(
        e[0].starts_with("swp.tf:33:3: google_network_security_gateway_security_policy_rule.corp: its policy `projects/depot/locations/us-central1/gatewaySecurityPolicies/egress` is not in the files given"),
        "{e:#?}"
    );
    // Unset on the URL list, which a matcher names with its project written out.
    let text = data("swp.tf")
        .replacen(
            "  name        = \"corp\"\n  project     = \"shop\"\n",
            "  name        = \"corp\"\n",
            1,
        )
        .replacen(
            "${google_network_security_url_lists.corp.id}",
            "projects/shop/locations/us-central1/urlLists/corp",
            1,
        );
    let e = errors(Format::Swp, &[("swp.tf", &text)]);
    assert!(
        e[0].starts_with("swp.tf:10:1: google_network_security_url_lists.corp: `project` is not set, and the provider's default project is not known here, while google_network_security_gateway_security_policy_rule.corp names this list with its project written out: set `project`"),
        "{e:#?}"
    );
}

#[test]
fn secure_web_proxy_refusals_at_their_position() {
    let tf = data("swp.tf");
    let cases: &[(&str, &str, &str)] = &[
        (
            "  priority                = 10\n",
            "  priority                = 10\n  rank = 1\n",
            "swp.tf:25:3: unknown argument `rank` in google_network_security_gateway_security_policy_rule.deny_bad; known: name, location, project, gateway_security_policy, enabled, priority, basic_profile, session_matcher, application_matcher, tls_inspection_enabled, description, self_link, id, create_time, update_time",
        ),
        // An interpolation other than a link: at the expression, in the string.
        (
            "\"host() == 'bad.corp.example'\"",
            "\"host() == '${var.bad_host}'\"",
            "swp.tf:26:43: `var.bad_host` is a variable, which is not evaluated here: only literal values are read from .tf files; give the rendered plan JSON (`terraform show -json plan.out`) instead",
        ),
        (
            "\"host() == 'bad.corp.example'\"",
            "\"host() == '${lower(\"X.io\")}'\"",
            "swp.tf:26:43: `lower(\"X.io\")` is a function call",
        ),
        (
            "${google_network_security_url_lists.corp.id}",
            "${google_network_security_url_lists.corp.name}",
            "swp.tf:37:51: `google_network_security_url_lists.corp.name`: the link is by google_network_security_url_lists.NAME.id",
        ),
        (
            "${google_network_security_url_lists.corp.id}",
            "${google_compute_network.corp.id}",
            "swp.tf:37:51: `google_compute_network.corp.id` is a reference to another resource",
        ),
        (
            "${google_network_security_url_lists.corp.id}",
            "${google_network_security_url_lists.gone.id}",
            "swp.tf:37:51: `google_network_security_url_lists.gone.id`: resource google_network_security_url_lists.gone is not in the files given",
        ),
        (
            "gateway_security_policy = google_network_security_gateway_security_policy.egress.name\n  enabled                 = true\n  priority                = 10",
            "gateway_security_policy = google_network_security_gateway_security_policy.gone.name\n  enabled                 = true\n  priority                = 10",
            "swp.tf:22:29: `google_network_security_gateway_security_policy.gone.name`: resource google_network_security_gateway_security_policy.gone is not in the files given",
        ),
        (
            "gateway_security_policy = google_network_security_gateway_security_policy.egress.name\n  enabled                 = true\n  priority                = 10",
            "gateway_security_policy = google_network_security_gateway_security_policy.egress.id\n  enabled                 = true\n  priority                = 10",
            "swp.tf:22:29: `google_network_security_gateway_security_policy.egress.id`: the link is by google_network_security_gateway_security_policy.NAME.name",
        ),
        // A rule of a policy that is not given.
        (
            "gateway_security_policy = google_network_security_gateway_security_policy.egress.name\n  enabled                 = true\n  priority                = 10",
            "gateway_security_policy = \"ingress\"\n  enabled                 = true\n  priority                = 10",
            "swp.tf:22:3: google_network_security_gateway_security_policy_rule.deny_bad: its policy `projects/shop/locations/us-central1/gatewaySecurityPolicies/ingress` is not in the files given: give its google_network_security_gateway_security_policy resource",
        ),
        (
            "  project     = \"shop\"\n  location    = \"us-central1\"\n  description = \"egress",
            "  project     = var.project\n  location    = \"us-central1\"\n  description = \"egress",
            "swp.tf:5:17: `var.project` is a variable",
        ),
        (
            "  name        = \"egress\"\n",
            "",
            "swp.tf:3:1: google_network_security_gateway_security_policy.egress: `name` is not set; it is part of the name",
        ),
        // CEL errors in an interpolated string, at their column in the .tf: after the
        // interpolation, and inside what it stands for (at its `${`).
        (
            "'${google_network_security_url_lists.corp.id}')\"",
            "'${google_network_security_url_lists.corp.id}') && host() = 'x'\"",
            "swp.tf:37:106: sessionMatcher: unexpected character `=`",
        ),
        // At the end of the string: its closing quote.
        (
            "'${google_network_security_url_lists.corp.id}')\"",
            "'${google_network_security_url_lists.corp.id}') &&\"",
            "swp.tf:37:98: sessionMatcher: expected an expression",
        ),
        (
            "\"inUrlList(host(), '${google_network_security_url_lists.corp.id}')\"",
            "\"host() == ${google_network_security_url_lists.corp.id}\"",
            "swp.tf:37:40: sessionMatcher: host() is compared with a string literal",
        ),
    ];
    for (from, to, want) in cases {
        assert!(tf.contains(from), "{from}");
        let text = tf.replacen(from, to, 1);
        let e = errors(Format::Swp, &[("swp.tf", &text)]);
        assert!(e[0].starts_with(want), "{to}\n{e:#?}");
    }
    // In a plan that creates the URL list, a matcher interpolating its id is not known yet.
    let plan = data("swp-plan.json").replacen(
        "\"session_matcher\": \"inUrlList(host(), 'projects/shop/locations/us-central1/urlLists/corp')\"",
        "\"session_matcher\": null",
        1,
    );
    let plan = plan.replacen("\"after_unknown\": {\n          \"create_time\": true,\n          \"id\": true,\n          \"self_link\": true,\n          \"update_time\": true\n        }", "\"after_unknown\": {\n          \"create_time\": true,\n          \"id\": true,\n          \"self_link\": true,\n          \"session_matcher\": true,\n          \"update_time\": true\n        }", 2);
    let e = errors(Format::Swp, &[("plan.json", &plan)]);
    assert!(
        e[0].contains(
            "a value known only after apply: it uses `google_network_security_url_lists.corp.id`"
        ),
        "{e:#?}"
    );
    // An argument the reader does not know, set in a plan, is refused; unset, skipped.
    let p = data("swp-plan.json").replacen(
        "\"description\": \"corporate hosts\",",
        "\"description\": \"corporate hosts\", \"future_thing\": null,",
        1,
    );
    ok(Format::Swp, &[("plan.json", &p)]);
    let p = data("swp-plan.json").replacen(
        "\"description\": \"corporate hosts\",",
        "\"description\": \"corporate hosts\", \"future_thing\": 1,",
        1,
    );
    let e = errors(Format::Swp, &[("plan.json", &p)]);
    assert!(e[0].contains("unknown argument `future_thing`"), "{e:#?}");
}

mod generated {
    //! Random rule groups written both ways: the `.tf` form must decide as the API form.
    use super::*;
    use proptest::prelude::*;

    fn label() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["a", "b", "ab", "ex", "xa"]).prop_map(str::to_string)
    }

    fn names(targets: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for t in targets {
            let base = t.trim_start_matches(['.', '*']).trim_start_matches('.');
            out.push(base.to_string());
            out.push(format!("a.{base}"));
            out.push(format!("x{base}"));
            if let Some((_, parent)) = base.split_once('.') {
                out.push(parent.to_string());
            }
        }
        out.push("other.io".into());
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn network_firewall_groups(
            groups in prop::collection::vec(
                (any::<bool>(), any::<bool>(), prop::collection::vec((any::<bool>(), prop::collection::vec(label(), 1..3)), 1..4)),
                1..3,
            ),
        ) {
            let mut tf = String::new();
            let mut api = Vec::new();
            let mut all = Vec::new();
            for (n, (allow, http, targets)) in groups.iter().enumerate() {
                let targets: Vec<String> = targets
                    .iter()
                    .map(|(dot, l)| format!("{}{}.io", if *dot { "." } else { "" }, l.join(".")))
                    .collect();
                all.extend(targets.clone());
                let kind = if *allow { "ALLOWLIST" } else { "DENYLIST" };
                let types = if *http { r#""TLS_SNI", "HTTP_HOST""# } else { r#""TLS_SNI""# };
                let list = targets.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ");
                tf.push_str(&format!(
                    "resource \"aws_networkfirewall_rule_group\" \"g{n}\" {{\n  capacity = 10\n  type = \"STATEFUL\"\n  rule_group {{\n    rules_source {{\n      rules_source_list {{\n        generated_rules_type = \"{kind}\"\n        target_types = [{types}]\n        targets = [{list}]\n      }}\n    }}\n  }}\n}}\n"
                ));
                api.push(format!(
                    r#"{{"RuleGroup": {{"RulesSource": {{"RulesSourceList": {{"Targets": [{list}], "TargetTypes": [{types}], "GeneratedRulesType": "{kind}"}}}}}}, "RuleGroupResponse": {{"RuleGroupName": "g{n}", "Type": "STATEFUL"}}}}"#
                ));
            }
            let api_files: Vec<(String, String)> = api.into_iter().enumerate().map(|(n, t)| (format!("g{n}.json"), t)).collect();
            let api_refs: Vec<(&str, &str)> = api_files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
            let a = ok(Format::AwsNfw, &api_refs);
            let t = ok(Format::AwsNfw, &[("g.tf", &tf)]);
            let names = names(&all);
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            same_verdicts(&a, &t, &names, VIAS, "generated");
        }

        #[test]
        fn secure_web_proxy_rules(
            lists in prop::collection::vec(prop::collection::vec(0usize..3, 1..3), 1..3),
            rules in prop::collection::vec((0u8..3, any::<bool>(), label(), any::<bool>(), 0usize..3), 1..5),
            project in any::<bool>(),
        ) {
            // URL list values: exact, `*x` (apex and below), `*.x` (strictly below).
            let value = |v: usize, n: usize| [format!("a{n}.io"), format!("*b{n}.io"), format!("*.ab{n}.io")][v].clone();
            let set_project = if project { "  project = \"p\"\n" } else { "" };
            let mut tf = format!("resource \"google_network_security_gateway_security_policy\" \"g\" {{\n  name = \"g\"\n  location = \"l\"\n{set_project}}}\n");
            let mut api = vec!["name: projects/p/locations/l/gatewaySecurityPolicies/g\n".to_string()];
            let mut all = vec!["ab0.io".to_string(), "x.ab1.io".to_string()];
            for (n, values) in lists.iter().enumerate() {
                let vs: Vec<String> = values.iter().map(|&v| value(v, n)).collect();
                all.extend(vs.iter().map(|v| v.trim_start_matches(['*', '.']).to_string()));
                let quoted = vs.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ");
                tf.push_str(&format!("resource \"google_network_security_url_lists\" \"l{n}\" {{\n  name = \"l{n}\"\n  location = \"l\"\n{set_project}  values = [{quoted}]\n}}\n"));
                let single = vs.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ");
                api.push(format!("name: projects/p/locations/l/urlLists/l{n}\nvalues: [{single}]\n"));
            }
            for (n, (kind, allow, l, port, list)) in rules.iter().enumerate() {
                let list = list % lists.len();
                let (tf_m, api_m) = match kind {
                    0 => (format!("host() == '{l}.io'"), format!("host() == '{l}.io'")),
                    1 => (format!("host().endsWith('.{l}.io')"), format!("host().endsWith('.{l}.io')")),
                    _ => (
                        format!("inUrlList(host(), '${{google_network_security_url_lists.l{list}.id}}')"),
                        format!("inUrlList(host(), 'projects/p/locations/l/urlLists/l{list}')"),
                    ),
                };
                all.push(format!("{l}.io"));
                all.push(format!("x.{l}.io"));
                let tail = if *port { " && destination.port == 443" } else { "" };
                let profile = if *allow { "ALLOW" } else { "DENY" };
                let priority = 10 * (n + 1);
                tf.push_str(&format!("resource \"google_network_security_gateway_security_policy_rule\" \"r{n}\" {{\n  name = \"r{n}\"\n  location = \"l\"\n{set_project}  gateway_security_policy = google_network_security_gateway_security_policy.g.name\n  enabled = true\n  priority = {priority}\n  basic_profile = \"{profile}\"\n  session_matcher = \"{tf_m}{tail}\"\n}}\n"));
                api.push(format!("name: projects/p/locations/l/gatewaySecurityPolicies/g/rules/r{n}\nenabled: true\npriority: {priority}\nbasicProfile: {profile}\nsessionMatcher: \"{api_m}{tail}\"\n"));
            }
            let api = api.join("---\n");
            let a = ok(Format::Swp, &[("p.yaml", &api)]);
            let t = ok(Format::Swp, &[("p.tf", &tf)]);
            let names: Vec<&str> = all.iter().map(String::as_str).chain(["other.io", "io"]).collect();
            same_verdicts(&a, &t, &names, &[(443, Via::Tls), (80, Via::Http), (8080, Via::Connect)], "generated");
        }

        #[test]
        fn dns_firewall_rules(
            rules in prop::collection::vec(
                (0u8..3, any::<bool>(), prop::collection::vec(label(), 1..3)),
                1..5,
            ),
        ) {
            let mut tf = String::from("resource \"aws_route53_resolver_firewall_rule_group\" \"g\" {\n  name = \"g\"\n}\n");
            let mut lists = Vec::new();
            let mut api_rules = Vec::new();
            let mut all = Vec::new();
            for (n, (action, star, labels)) in rules.iter().enumerate() {
                let domain = format!("{}{}.io.", if *star { "*." } else { "" }, labels.join("."));
                all.push(domain.trim_end_matches('.').to_string());
                let action = ["ALLOW", "BLOCK", "ALERT"][*action as usize];
                let priority = 100 + n;
                tf.push_str(&format!(
                    "resource \"aws_route53_resolver_firewall_domain_list\" \"l{n}\" {{\n  domains = [\"{domain}\"]\n}}\nresource \"aws_route53_resolver_firewall_rule\" \"r{n}\" {{\n  action = \"{action}\"\n  block_response = \"NODATA\"\n  priority = {priority}\n  firewall_rule_group_id = aws_route53_resolver_firewall_rule_group.g.id\n  firewall_domain_list_id = aws_route53_resolver_firewall_domain_list.l{n}.id\n  firewall_domain_redirection_action = \"TRUST_REDIRECTION_DOMAIN\"\n}}\n"
                ));
                lists.push(format!(r#"{{"Id": "l{n}", "Domains": ["{domain}"]}}"#));
                api_rules.push(format!(
                    r#"{{"FirewallDomainListId": "l{n}", "Priority": {priority}, "Action": "{action}", "BlockResponse": "NODATA", "FirewallDomainRedirectionAction": "TRUST_REDIRECTION_DOMAIN"}}"#
                ));
            }
            let api = format!(
                r#"{{"FirewallRuleGroups": [{{"Id": "g", "Name": "g", "FirewallRules": [{}]}}], "FirewallDomainLists": [{}]}}"#,
                api_rules.join(", "),
                lists.join(", ")
            );
            let a = ok(Format::Route53, &[("fw.json", &api)]);
            let t = ok(Format::Route53, &[("fw.tf", &tf)]);
            let names = names(&all);
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            same_verdicts(&a, &t, &names, &[(53, Via::Dns)], "generated");
        }
    }
}
