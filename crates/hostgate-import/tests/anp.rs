//! The network-policy-api importer (`--from anp`): the upstream examples, the documented
//! meaning of `domainNames`, priorities, tiers and Pass, workload selection, and bad input
//! refused at its position.

use hostgate::{Action, Format, Query, Via};
use hostgate_import::{import, render, Imported, Options, Workload};

fn data(dir: &str, name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn imp(text: &str) -> Imported {
    import(
        Format::Anp,
        &[("in.yaml", text.as_bytes())],
        &Options::default(),
    )
    .unwrap_or_else(|e| panic!("{e:?}\n{text}"))
}

fn check(i: &Imported, name: &str, port: u16, via: Via) -> Action {
    let e = i.engine();
    e.check(
        e.policy("default").unwrap(),
        &Query::new(name).port(port).via(via),
    )
    .action
}

fn first_error(text: &str) -> String {
    import(
        Format::Anp,
        &[("in.yaml", text.as_bytes())],
        &Options::default(),
    )
    .expect_err("refused")[0]
        .to_string()
}

/// An AdminNetworkPolicy with `priority` and the egress rules given as YAML list items.
fn anp(name: &str, priority: u32, egress: &str) -> String {
    format!(
        "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n  priority: {priority}\n  subject: {{namespaces: {{}}}}\n  egress:\n{egress}"
    )
}

fn banp(egress: &str) -> String {
    format!(
        "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\nmetadata: {{name: default}}\nspec:\n  subject: {{namespaces: {{}}}}\n  egress:\n{egress}"
    )
}

fn cnp(name: &str, tier: &str, priority: u32, egress: &str) -> String {
    format!(
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n  tier: {tier}\n  priority: {priority}\n  subject: {{namespaces: {{}}}}\n  egress:\n{egress}"
    )
}

const DENY_ALL: &str = "  - action: Deny\n    to: [{networks: [0.0.0.0/0, ::/0]}]\n";

#[test]
fn every_example_imports_and_renders_to_an_equivalent_policy() {
    let mut n = 0;
    for dir in ["anp", "cnp"] {
        let path = format!("{}/tests/data/{dir}", env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(&path).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                continue;
            }
            n += 1;
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let bytes = std::fs::read(&path).unwrap();
            let i = import(Format::Anp, &[(&name, &bytes)], &Options::default())
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            // Every example selects peers by pod (or has only ingress): said, not dropped.
            assert!(!i.warnings().is_empty(), "{name}");
            let text = render(&i);
            let again = hostgate::Engine::compile(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let p1 = i.engine().policy("default").unwrap();
            let p2 = again.policy("default").unwrap();
            for q in ["example.com", "10.1.2.3", "2001:db8::1"] {
                for via in [Via::Tls, Via::Http, Via::Dns] {
                    let q = Query::new(q).port(443).via(via);
                    assert_eq!(i.engine().check(p1, &q).action, again.check(p2, &q).action);
                }
            }
        }
    }
    assert_eq!(n, 7);
}

#[test]
fn inline_cidr_examples_deny_every_name_and_address_but_not_dns_questions() {
    for (dir, file, id) in [
        (
            "anp",
            "v0.1.7-conformance-admin_network_policy-standard-egress-inline-cidr-rules.yaml",
            "AdminNetworkPolicy/inline-cidr-as-peers-example",
        ),
        (
            "anp",
            "v0.1.7-conformance-baseline_admin_network_policy-standard-egress-inline-cidr-rules.yaml",
            "BaselineAdminNetworkPolicy/default",
        ),
        (
            "cnp",
            "conformance-admin_tier-standard-egress-inline-cidr-rules.yaml",
            "ClusterNetworkPolicy/inline-cidr-as-peers-example",
        ),
        (
            "cnp",
            "conformance-baseline_tier-standard-egress-inline-cidr-rules.yaml",
            "ClusterNetworkPolicy/default",
        ),
    ] {
        let b = data(dir, file);
        let i = import(Format::Anp, &[(file, &b)], &Options::default()).unwrap();
        let e = i.engine();
        let p = e.policy("default").unwrap();
        // `networks: [0.0.0.0/0, ::/0]` is every address, so every name.
        let v = e.check(p, &Query::new("example.com").port(443).via(Via::Tls));
        assert_eq!(v.action, Action::Deny, "{file}");
        assert_eq!(v.rule.unwrap().id().to_string(), format!("{id}:0"));
        for ip in ["192.0.2.1", "2001:db8::1"] {
            assert_eq!(check(&i, ip, 80, Via::Http), Action::Deny, "{file} {ip}");
        }
        // No DNS filtering by name in this API.
        assert_eq!(check(&i, "example.com", 53, Via::Dns), Action::Allow);
        // The pod peer is said to be not reproduced, at its position.
        assert!(
            i.warnings()
                .iter()
                .any(|w| w.message.starts_with("`pods` selects peers by address")),
            "{file}"
        );
    }
}

#[test]
fn priority_examples_have_only_pod_peers_so_every_name_is_allowed() {
    for (dir, file) in [
        (
            "anp",
            "v0.1.7-conformance-admin_network_policy-standard-priority-field.yaml",
        ),
        ("cnp", "conformance-admin_tier-standard-priority-field.yaml"),
        ("cnp", "site-src-user-story-examples-user-story-5.yaml"),
    ] {
        let b = data(dir, file);
        let i = import(Format::Anp, &[(file, &b)], &Options::default()).unwrap();
        assert!(i.policies()[0].rules.is_empty(), "{file}");
        assert_eq!(check(&i, "example.com", 443, Via::Tls), Action::Allow);
        assert!(i.warnings().iter().any(|w| w
            .message
            .contains("`ingress` is about traffic to the workload")));
    }
    // The Pass rule's NetworkPolicy hand-over is said at the `action` of the Pass rule.
    let file = "v0.1.7-conformance-admin_network_policy-standard-priority-field.yaml";
    let b = data("anp", file);
    let i = import(Format::Anp, &[(file, &b)], &Options::default()).unwrap();
    let w = i
        .warnings()
        .iter()
        .find(|w| w.message.starts_with("Pass hands connections"))
        .unwrap();
    assert_eq!((w.line, w.column), (65, 13));
}

/// The `DomainName` type's documented examples (network-policy-api v0.1.7
/// `apis/v1alpha1/adminnetworkpolicy_types.go`, same text in v1alpha2
/// `clusternetworkpolicy_types.go`), as an allow-list followed by a lower-priority deny, as
/// the `domainNames` field's doc recommends.
#[test]
fn domain_names_mean_what_the_type_docs_say() {
    let cases: &[(&str, &str, bool)] = &[
        ("kubernetes.io", "kubernetes.io", true),
        ("kubernetes.io", "www.kubernetes.io", false),
        ("kubernetes.io", "blog.kubernetes.io", false),
        ("kubernetes.io", "my-kubernetes.io", false),
        ("kubernetes.io", "wikipedia.org", false),
        ("blog.kubernetes.io", "blog.kubernetes.io", true),
        ("blog.kubernetes.io", "www.kubernetes.io", false),
        ("blog.kubernetes.io", "kubernetes.io", false),
        ("*.kubernetes.io", "www.kubernetes.io", true),
        ("*.kubernetes.io", "blog.kubernetes.io", true),
        ("*.kubernetes.io", "latest.blog.kubernetes.io", true),
        ("*.kubernetes.io", "kubernetes.io", false),
        ("*.kubernetes.io", "wikipedia.org", false),
        // The pattern's optional trailing dot; a query's trailing dot and case.
        ("kubernetes.io.", "kubernetes.io", true),
        ("*.kubernetes.io.", "a.b.kubernetes.io", true),
        ("kubernetes.io", "KUBERNETES.io.", true),
        ("Kubernetes.IO", "kubernetes.io", true),
    ];
    for &(pattern, name, allowed) in cases {
        for (label, text) in [
            (
                "v1alpha1",
                format!(
                    "{}---\n{}",
                    anp(
                        "allow",
                        10,
                        &format!("  - action: Allow\n    to: [{{domainNames: ['{pattern}']}}]\n")
                    ),
                    anp("deny", 20, DENY_ALL)
                ),
            ),
            (
                "v1alpha2",
                format!(
                    "{}---\n{}",
                    cnp(
                        "allow",
                        "Admin",
                        10,
                        &format!("  - action: Accept\n    to: [{{domainNames: ['{pattern}']}}]\n")
                    ),
                    cnp("deny", "Baseline", 20, DENY_ALL)
                ),
            ),
        ] {
            let i = imp(&text);
            let want = if allowed { Action::Allow } else { Action::Deny };
            for via in [Via::Tls, Via::Http, Via::Connect] {
                assert_eq!(check(&i, name, 443, via), want, "{label} {pattern} {name}");
            }
            // DNS questions are not filtered by name.
            assert_eq!(check(&i, name, 53, Via::Dns), Action::Allow);
        }
    }
}

/// Ports (v1alpha1 `ports`, v1alpha2 `protocols`): a rule with ports matches only them.
#[test]
fn ports_and_protocols() {
    let v1 = anp(
        "a",
        1,
        "  - action: Allow\n    to: [{domainNames: [a.example.com]}]\n    ports: [{portNumber: {port: 443}}, {portRange: {start: 8000, end: 8999, protocol: TCP}}]\n  - action: Deny\n    to: [{networks: [0.0.0.0/0, ::/0]}]\n",
    );
    let v2 = cnp(
        "a",
        "Admin",
        1,
        "  - action: Accept\n    to: [{domainNames: [a.example.com]}]\n    protocols: [{tcp: {destinationPort: {number: 443}}}, {tcp: {destinationPort: {range: {start: 8000, end: 8999}}}}]\n  - action: Deny\n    to: [{networks: [0.0.0.0/0, ::/0]}]\n",
    );
    for text in [v1, v2] {
        let i = imp(&text);
        for (port, want) in [
            (443, Action::Allow),
            (8000, Action::Allow),
            (8999, Action::Allow),
            (80, Action::Deny),
            (9000, Action::Deny),
        ] {
            assert_eq!(check(&i, "a.example.com", port, Via::Tls), want, "{port}");
        }
    }
    // UDP: QUIC, via tls only, with a warning; SCTP: not reproduced, with a warning.
    let udp = imp(&anp(
        "u",
        1,
        "  - action: Deny\n    to: [{networks: [0.0.0.0/0, ::/0]}]\n    ports: [{portNumber: {port: 443, protocol: UDP}}, {portNumber: {port: 9, protocol: SCTP}}]\n",
    ));
    assert_eq!(check(&udp, "a.io", 443, Via::Tls), Action::Deny);
    assert_eq!(check(&udp, "a.io", 443, Via::Http), Action::Allow);
    assert!(udp
        .warnings()
        .iter()
        .any(|w| w.message.starts_with("UDP ports")));
    assert!(udp.warnings().iter().any(|w| w.message.starts_with("SCTP")));
    // A named port with a pod peer: warned, the rule matches no name.
    let named = imp(&anp(
        "n",
        1,
        "  - action: Deny\n    to: [{pods: {namespaceSelector: {}, podSelector: {}}}]\n    ports: [{namedPort: http}]\n",
    ));
    assert!(named.policies()[0].rules.is_empty());
    assert!(named
        .warnings()
        .iter()
        .any(|w| w.message.starts_with("named port `http`") && w.line == 10));
}

/// Evaluation order (type docs of `priority`, `action`, `tier`): Admin by priority, lower
/// first, rules in order; Allow/Accept and Deny final; Pass skips the rest of the tier;
/// then the Baseline tier; then allow.
#[test]
fn tiers_priorities_and_pass() {
    // The lower priority value wins, whatever the file order.
    let t = format!(
        "{}---\n{}",
        anp("late", 20, DENY_ALL),
        anp(
            "early",
            10,
            "  - action: Allow\n    to: [{domainNames: ['*.ok.io']}]\n"
        )
    );
    let i = imp(&t);
    assert_eq!(check(&i, "a.ok.io", 443, Via::Tls), Action::Allow);
    assert_eq!(check(&i, "ok.io", 443, Via::Tls), Action::Deny);
    // Within one policy the first rule wins.
    let i = imp(&anp(
        "one",
        5,
        &format!("{DENY_ALL}  - action: Allow\n    to: [{{domainNames: [a.io]}}]\n"),
    ));
    assert_eq!(check(&i, "a.io", 443, Via::Tls), Action::Deny);
    // An Admin Allow overrides a Baseline Deny; without it the Baseline denies.
    let t = format!(
        "{}---\n{}",
        banp(DENY_ALL),
        anp(
            "a",
            1,
            "  - action: Allow\n    to: [{domainNames: [a.io]}]\n"
        )
    );
    let i = imp(&t);
    assert_eq!(check(&i, "a.io", 443, Via::Tls), Action::Allow);
    assert_eq!(check(&i, "b.io", 443, Via::Tls), Action::Deny);
    // Pass on everything skips the rest of the Admin tier: the later Deny is not reached,
    // the Baseline decides.
    let t = format!(
        "{}---\n{}---\n{}",
        anp(
            "pass",
            1,
            "  - action: Pass\n    to: [{networks: ['0.0.0.0/0', '::/0']}]\n"
        ),
        anp("deny", 2, DENY_ALL),
        banp("  - action: Allow\n    to: [{networks: [0.0.0.0/0, ::/0]}]\n    ports: [{portNumber: {port: 443}}]\n  - action: Deny\n    to: [{networks: [0.0.0.0/0, ::/0]}]\n"),
    );
    let i = imp(&t);
    assert_eq!(check(&i, "a.io", 443, Via::Tls), Action::Allow);
    assert_eq!(check(&i, "a.io", 80, Via::Http), Action::Deny);
    // A Pass on some ports skips the rest of the tier only there.
    let t = format!(
        "{}---\n{}",
        anp(
            "p",
            1,
            &format!("  - action: Pass\n    to: [{{networks: ['0.0.0.0/0', '::/0']}}]\n    ports: [{{portNumber: {{port: 80}}}}]\n{DENY_ALL}")
        ),
        banp("  - action: Deny\n    to: [{networks: [10.0.0.0/8]}]\n"),
    );
    let i = imp(&t);
    assert_eq!(check(&i, "a.io", 80, Via::Http), Action::Allow);
    assert_eq!(check(&i, "10.1.1.1", 80, Via::Http), Action::Deny);
    // The Baseline rule decides, reached through the Pass: its id says both.
    let e = i.engine();
    let v = e.check(
        e.policy("default").unwrap(),
        &Query::new("10.1.1.1").port(80).via(Via::Http),
    );
    assert_eq!(
        v.rule.unwrap().id().to_string(),
        "BaselineAdminNetworkPolicy/default:0@AdminNetworkPolicy/p:1"
    );
    assert_eq!(check(&i, "11.1.1.1", 80, Via::Http), Action::Allow);
    assert_eq!(check(&i, "a.io", 443, Via::Tls), Action::Deny);
    // Pass on a CIDR: exact for addresses, with a warning for names.
    let t = format!(
        "{}---\n{}",
        anp(
            "p",
            1,
            &format!("  - action: Pass\n    to: [{{networks: [10.0.0.0/8]}}]\n{DENY_ALL}")
        ),
        banp("  - action: Deny\n    to: [{networks: [10.9.0.0/16]}]\n"),
    );
    let i = imp(&t);
    assert_eq!(check(&i, "10.1.2.3", 443, Via::Tls), Action::Allow);
    assert_eq!(check(&i, "10.9.2.3", 443, Via::Tls), Action::Deny);
    assert_eq!(check(&i, "11.1.2.3", 443, Via::Tls), Action::Deny);
    assert!(i.warnings().iter().any(|w| w
        .message
        .starts_with("names whose addresses are in these networks are not passed")));
    // v1alpha2: a Baseline Pass goes to the default allow.
    let t = format!(
        "{}---\n{}",
        cnp(
            "b",
            "Baseline",
            1,
            &format!("  - action: Pass\n    to: [{{domainNames: [a.io]}}]\n{DENY_ALL}")
        )
        .replace("action: Pass\n    to: [{domainNames", "action: Accept\n    to: [{domainNames"),
        cnp("a", "Admin", 1, "  - action: Pass\n    to: [{networks: [0.0.0.0/0, ::/0]}]\n    protocols: [{tcp: {destinationPort: {number: 443}}}]\n"),
    );
    let i = imp(&t);
    assert_eq!(check(&i, "a.io", 443, Via::Tls), Action::Allow);
    assert_eq!(check(&i, "b.io", 443, Via::Tls), Action::Deny);
    let t = cnp(
        "b",
        "Baseline",
        1,
        &format!("  - action: Pass\n    to: [{{networks: [0.0.0.0/0, ::/0]}}]\n    protocols: [{{tcp: {{destinationPort: {{number: 443}}}}}}]\n{DENY_ALL}"),
    );
    let i = imp(&t);
    assert_eq!(check(&i, "b.io", 443, Via::Tls), Action::Allow);
    assert_eq!(check(&i, "b.io", 80, Via::Tls), Action::Deny);
}

#[test]
fn equal_priorities_that_overlap_are_refused_and_others_are_not() {
    let allow = "  - action: Allow\n    to: [{domainNames: ['*.a.io']}]\n";
    let t = format!("{}---\n{}", anp("x", 7, allow), anp("y", 7, DENY_ALL));
    let e = first_error(&t);
    assert!(
        e.starts_with("in.yaml:15:13: priority 7 is also AdminNetworkPolicy/x's"),
        "{e}"
    );
    // The same action, or disjoint names, or disjoint ports: the order does not matter.
    let t = format!("{}---\n{}", anp("x", 7, allow), anp("y", 7, allow));
    imp(&t);
    let other = "  - action: Deny\n    to: [{networks: [0.0.0.0/0, ::/0]}]\n    ports: [{portNumber: {port: 80}}]\n";
    let ports = "  - action: Allow\n    to: [{domainNames: ['*.a.io']}]\n    ports: [{portNumber: {port: 443}}]\n";
    let t = format!("{}---\n{}", anp("x", 7, ports), anp("y", 7, other));
    imp(&t);
    // Different tiers never clash.
    let t = format!(
        "{}---\n{}",
        cnp("x", "Admin", 7, allow.replace("Allow", "Accept").as_str()),
        cnp("y", "Baseline", 7, DENY_ALL)
    );
    imp(&t);
}

#[test]
fn workload_selection_by_namespace_and_pod_labels() {
    let text = "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {name: by-ns}\nspec:\n  priority: 1\n  subject: {namespaces: {matchLabels: {team: pay}}}\n  egress:\n  - action: Deny\n    to: [{networks: [0.0.0.0/0, ::/0]}]\n---\napiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: by-pod}\nspec:\n  tier: Admin\n  priority: 1\n  subject:\n    pods:\n      podSelector: {matchLabels: {app: web}}\n  egress:\n  - action: Deny\n    to: [{networks: [0.0.0.0/0, ::/0]}]\n";
    // v1alpha1 and v1alpha2 together are refused.
    let e = import(
        Format::Anp,
        &[("in.yaml", text.as_bytes())],
        &Options::default(),
    )
    .unwrap_err();
    assert!(e[0]
        .to_string()
        .starts_with("in.yaml:11:1: ClusterNetworkPolicy/by-pod"));
    let (v1, _) = text.split_once("---\n").unwrap();
    let v2 = text.split_once("---\n").unwrap().1;
    let run = |t: &str, w: &str, ns: &str| {
        let w: Workload = w.parse().unwrap();
        let w = w.with_namespace_labels(ns).unwrap();
        let i = import(
            Format::Anp,
            &[("in.yaml", t.as_bytes())],
            &Options::default().workload(w),
        )
        .unwrap();
        check(&i, "a.io", 443, Via::Tls)
    };
    assert_eq!(run(v1, "shop/app=web", "team=pay"), Action::Deny);
    assert_eq!(run(v1, "shop/app=web", "team=ops"), Action::Allow);
    // `kubernetes.io/metadata.name` is the namespace's name.
    let by_name = v1.replace("team: pay", "kubernetes.io/metadata.name: shop");
    assert_eq!(run(&by_name, "shop/app=web", ""), Action::Deny);
    assert_eq!(run(&by_name, "other/app=web", ""), Action::Allow);
    // v1alpha2 `pods` without namespaceSelector: every namespace.
    assert_eq!(run(v2, "any/app=web", ""), Action::Deny);
    assert_eq!(run(v2, "any/app=db", ""), Action::Allow);
    let with_ns = v2.replace(
        "      podSelector",
        "      namespaceSelector: {matchExpressions: [{key: env, operator: In, values: [prod]}]}\n      podSelector",
    );
    assert_eq!(run(&with_ns, "any/app=web", "env=prod"), Action::Deny);
    assert_eq!(run(&with_ns, "any/app=web", "env=dev"), Action::Allow);
    // --per-object: only the policies that select the workload.
    let w: Workload = "shop/app=web".parse().unwrap();
    let two = format!(
        "{v1}---\n{}",
        v1.replace("by-ns", "other")
            .replace("team: pay", "team: ops")
    );
    let i = import(
        Format::Anp,
        &[("in.yaml", two.as_bytes())],
        &Options::default()
            .workload(w.with_namespace_labels("team=pay").unwrap())
            .per_object(true),
    )
    .unwrap();
    let names: Vec<&str> = i.policies().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["AdminNetworkPolicy/by-ns"]);
}

#[test]
fn bad_input_is_refused_at_its_position() {
    let allow = |names: &str| {
        anp(
            "x",
            1,
            &format!("  - action: Allow\n    to: [{{domainNames: [{names}]}}]\n"),
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (allow("'*'"), "in.yaml:9:25: domain name `*` is not valid"),
        (allow("'*.com'"), "in.yaml:9:25: domain name `*.com` is not valid"),
        (allow("localhost"), "in.yaml:9:25: domain name `localhost` is not valid"),
        (allow("'a.*.b.io'"), "in.yaml:9:25: domain name `a.*.b.io` is not valid"),
        (allow("'w*.b.io'"), "in.yaml:9:25: domain name `w*.b.io` is not valid"),
        (allow("'a-.b.io'"), "in.yaml:9:25: domain name `a-.b.io` is not valid"),
        (allow("'a..io'"), "in.yaml:9:25: domain name `a..io` is not valid"),
        (allow("'^a.b.io'"), "in.yaml:9:25: domain name `^a.b.io`: label `^a` starts with"),
        (
            anp("x", 1, "  - action: Deny\n    to: [{domainNames: [a.io]}]\n"),
            "in.yaml:9:11: domainNames in a `Deny` rule",
        ),
        (
            anp("x", 1, "  - action: Pass\n    to: [{domainNames: [a.io]}]\n"),
            "in.yaml:9:11: domainNames in a `Pass` rule",
        ),
        (
            anp("x", 1, "  - action: Accept\n    to: [{networks: [10.0.0.0/8]}]\n"),
            "in.yaml:8:13: action `Accept` in AdminNetworkPolicy; expected Allow, Deny or Pass",
        ),
        (
            banp("  - action: Pass\n    to: [{networks: [10.0.0.0/8]}]\n"),
            "in.yaml:7:13: action `Pass` in BaselineAdminNetworkPolicy; expected Allow or Deny",
        ),
        (
            banp("  - action: Allow\n    to: [{domainNames: [a.io]}]\n"),
            "in.yaml:8:11: unknown field `domainNames` in a peer",
        ),
        (
            anp("x", 1, "  - action: Deny\n    to: [{networks: [10.0.0.0]}]\n"),
            "in.yaml:9:22: `10.0.0.0` is not a CIDR",
        ),
        (
            anp("x", 1, "  - action: Deny\n    to: [{networks: [10.0.0.0/8], domainNames: [a.io]}]\n"),
            "in.yaml:9:10: a peer needs exactly one of",
        ),
        (
            anp("x", 1, "  - action: Deny\n    to: []\n"),
            "in.yaml:9:9: `to` needs at least one peer",
        ),
        (
            anp("x", 1, "  - action: Deny\n    to: [{networks: [10.0.0.0/8]}]\n    ports: [{portNumber: {port: 0}}]\n"),
            "in.yaml:10:33: port `0` is not a port number",
        ),
        (
            anp("x", 1, "  - action: Deny\n    to: [{networks: [10.0.0.0/8]}]\n    ports: [{portRange: {start: 90, end: 80}}]\n"),
            "in.yaml:10:25: portRange start 90 is after end 80",
        ),
        (
            anp("x", 1, "  - action: Deny\n    to: [{networks: [10.0.0.0/8]}]\n    ports: [{namedPort: http}]\n"),
            "in.yaml:10:25: named port `http` with a networks or domainNames peer",
        ),
        (
            anp("x", 1, "  - action: Deny\n    to: [{networks: [10.0.0.0/8]}]\n    ports: [{portNumber: {port: 80, protocol: ICMP}}]\n"),
            "in.yaml:10:47: protocol `ICMP`",
        ),
        (
            cnp("x", "Admin", 1, "  - action: Deny\n    to: [{networks: [10.0.0.0/8]}]\n    protocols: [{tcp: {destinationPort: {range: {start: 80, end: 80}}}}]\n"),
            "in.yaml:11:49: range start 80 must be less than end 80",
        ),
        (
            cnp("x", "Admin", 1, "  - action: Deny\n    to: [{networks: [10.0.0.0/8]}]\n    protocols: [{tcp: {}}]\n"),
            "in.yaml:11:23: `tcp` needs `destinationPort`",
        ),
        (
            cnp("x", "Middle", 1, DENY_ALL),
            "in.yaml:5:9: tier `Middle`; expected Admin or Baseline",
        ),
        (anp("x", 1001, DENY_ALL), "in.yaml:5:13: priority `1001` is not a number from 0 to 1000"),
        (
            anp("x", 1, DENY_ALL).replace("namespaces: {}", "namespaces: {}, pods: {namespaceSelector: {}, podSelector: {}}"),
            "in.yaml:6:12: subject needs exactly one of",
        ),
        (
            anp("x", 1, DENY_ALL).replace("  priority: 1\n", ""),
            "in.yaml:5:3: AdminNetworkPolicy/x without `priority`",
        ),
        (
            banp(DENY_ALL).replace("name: default", "name: mine"),
            "in.yaml:3:11: BaselineAdminNetworkPolicy `mine`: the API allows only one, named `default`",
        ),
        (
            format!("{}---\n{}", banp(DENY_ALL), banp(DENY_ALL)),
            "in.yaml:10:1: a second BaselineAdminNetworkPolicy",
        ),
        (
            anp("x", 1, "  - action: Deny\n    to: [{networks: [10.0.0.0/8]}]\n    port: 80\n"),
            "in.yaml:10:5: unknown field `port` in an egress rule",
        ),
        (
            anp("x", 1, DENY_ALL).replace("v1alpha1", "v1beta1"),
            "in.yaml:1:13: apiVersion `policy.networking.k8s.io/v1beta1`: AdminNetworkPolicy is read as",
        ),
        (
            "apiVersion: v1\nkind: NetworkPolicy\nmetadata: {name: x}\n".to_string(),
            "in.yaml:2:7: kind `NetworkPolicy` is not a network-policy-api policy",
        ),
    ];
    let mut bad = Vec::new();
    for (text, want) in cases {
        let got = first_error(&text);
        if !got.starts_with(want) {
            bad.push(format!("got  {got}\nwant {want}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
