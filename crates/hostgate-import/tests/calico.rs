//! The Calico importer (`--from calico`): Calico's documented domain-name examples, network
//! sets, tiers, order and Pass, workload selection, and bad input refused at its position.

use hostgate::{Action, Format, Query, Via};
use hostgate_import::{import, render, Imported, Options, Workload};

fn imp(text: &str) -> Imported {
    import(
        Format::Calico,
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
        Format::Calico,
        &[("in.yaml", text.as_bytes())],
        &Options::default(),
    )
    .expect_err("refused")[0]
        .to_string()
}

fn gnp(name: &str, extra: &str, egress: &str) -> String {
    format!("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n{extra}  types: [Egress]\n  egress:\n{egress}")
}

fn allow_domains(domains: &str) -> String {
    gnp(
        "allow-domains",
        "  selector: all()\n",
        &format!("  - action: Allow\n    protocol: TCP\n    destination:\n      domains: [{domains}]\n      ports: [443]\n"),
    )
}

/// tigera/docs `calico-enterprise/_includes/content/_domain-names.mdx` ("Exact and
/// wildcard domain names"): every example there, in an Allow rule, with the tier's closing
/// deny for everything else.
#[test]
fn documented_domain_examples() {
    let cases: &[(&str, &str, bool)] = &[
        ("microsoft.com", "microsoft.com", true),
        ("microsoft.com", "www.microsoft.com", false),
        ("tigera.io", "tigera.io", true),
        ("*.google.com", "www.google.com", true),
        ("*.google.com", "www.ipv6.google.com", true),
        ("*.google.com", "google.com", false),
        ("www.*.com", "www.sun.com", true),
        ("www.*.com", "www.apple.com", true),
        ("www.*.com", "www.com", false),
        ("www.*.com", "www.a.b.com", true),
        ("www.*.com", "wwwx.sun.com", false),
        ("www.google.*", "www.google.net", true),
        ("www.google.*", "www.google.io", true),
        ("www.google.*", "www.google", false),
        ("update.*.mycompany.com", "update.tools.mycompany.com", true),
        (
            "update.*.mycompany.com",
            "update.secure.suite.mycompany.com",
            true,
        ),
        ("update.*.mycompany.com", "update.mycompany.com", false),
        (
            "update.*.mycompany.com",
            "x.update.tools.mycompany.com",
            false,
        ),
        // DNS names compare without case.
        ("Tigera.IO", "tigera.io", true),
        ("tigera.io", "TIGERA.io.", true),
    ];
    for &(domain, name, allowed) in cases {
        let i = imp(&allow_domains(&format!("'{domain}'")));
        let want = if allowed { Action::Allow } else { Action::Deny };
        for via in [Via::Tls, Via::Http, Via::Connect] {
            assert_eq!(check(&i, name, 443, via), want, "{domain} {name}");
        }
        // Port 443 only; the closing deny denies the rest.
        assert_eq!(check(&i, name, 80, Via::Http), Action::Deny);
        // DNS questions are not filtered by name.
        assert_eq!(check(&i, name, 53, Via::Dns), Action::Allow);
    }
    // The documented unsupported forms, refused at the entry.
    for (bad, msg) in [
        ("*.*.mycompany.com", "two wildcards"),
        ("www.g*.com", "only as a whole label"),
        ("tigera.io.", "trailing dot"),
    ] {
        let e = first_error(&allow_domains(&format!("'{bad}'")));
        assert!(e.starts_with("in.yaml:11:17: domain `"), "{e}");
        assert!(e.contains(msg), "{e}");
    }
}

const SETS: &str = "apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: ext, namespace: shop, labels: {role: external}}
spec:
  allowedEgressDomains: [api.stripe.com, '*.github.com']
  nets: [198.51.100.0/24]
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: other-ns, namespace: ops, labels: {role: external}}
spec:
  allowedEgressDomains: [ops.example.com]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: global, labels: {role: external}}
spec:
  allowedEgressDomains: [global.example.com]
---
";

#[test]
fn network_sets_are_picked_by_the_destination_selector_in_scope() {
    let np = |ns_sel: &str| {
        format!("{SETS}apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: web, namespace: shop}}\nspec:\n  selector: app == 'web'\n  types: [Egress]\n  egress:\n  - action: Allow\n    destination:\n      selector: role == 'external'\n{ns_sel}")
    };
    // A NetworkPolicy's selector picks the network sets of its own namespace.
    let i = imp(&np(""));
    assert_eq!(check(&i, "api.stripe.com", 443, Via::Tls), Action::Allow);
    assert_eq!(check(&i, "a.b.github.com", 443, Via::Tls), Action::Allow);
    assert_eq!(check(&i, "198.51.100.7", 443, Via::Tls), Action::Allow);
    assert_eq!(check(&i, "ops.example.com", 443, Via::Tls), Action::Deny);
    assert_eq!(check(&i, "global.example.com", 443, Via::Tls), Action::Deny);
    assert_eq!(check(&i, "github.com", 443, Via::Tls), Action::Deny);
    // `namespaceSelector: global()` picks the global network sets.
    let i = imp(&np("      namespaceSelector: global()\n"));
    assert_eq!(
        check(&i, "global.example.com", 443, Via::Tls),
        Action::Allow
    );
    assert_eq!(check(&i, "api.stripe.com", 443, Via::Tls), Action::Deny);
    // By namespace name.
    let i = imp(&np(
        "      namespaceSelector: projectcalico.org/name == 'ops'\n",
    ));
    assert_eq!(check(&i, "ops.example.com", 443, Via::Tls), Action::Allow);
    assert_eq!(check(&i, "api.stripe.com", 443, Via::Tls), Action::Deny);
    // A GlobalNetworkPolicy's selector picks every network set.
    let g = format!(
        "{SETS}{}",
        gnp(
            "g",
            "",
            "  - action: Allow\n    destination:\n      selector: role == 'external'\n"
        )
    );
    let i = imp(&g);
    for n in ["api.stripe.com", "ops.example.com", "global.example.com"] {
        assert_eq!(check(&i, n, 443, Via::Tls), Action::Allow, "{n}");
    }
    // With a workload: the policy's selector on the pod's labels, in its namespace.
    let run = |w: &str| {
        let w: Workload = w.parse().unwrap();
        let i = import(
            Format::Calico,
            &[("in.yaml", np("").as_bytes())],
            &Options::default().workload(w),
        )
        .unwrap();
        check(&i, "example.com", 443, Via::Tls)
    };
    assert_eq!(run("shop/app=web"), Action::Deny);
    assert_eq!(run("shop/app=db"), Action::Allow);
    assert_eq!(run("ops/app=web"), Action::Allow);
}

const TIERS: &str = "apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: platform}
spec: {order: 200, defaultAction: Pass}
---
";

/// tigera/docs `calico-enterprise/network-policy/policy-tiers/tiered-policy.mdx`: tiers by
/// order, policies by order then name, Allow/Deny final, Pass to the next tier, a tier with
/// a policy for the endpoint ends in its default action; the default tier last.
#[test]
fn tiers_order_and_pass() {
    let t = format!(
        "{TIERS}{}---\n{}---\n{}---\n{}",
        gnp(
            "security.pass-stripe",
            "  tier: security\n  order: 10\n",
            "  - action: Pass\n    destination:\n      nets: [0.0.0.0/0]\n  - action: Deny\n    destination:\n      nets: [::/0]\n"
        ),
        gnp(
            "platform.z",
            "  tier: platform\n  order: 1\n",
            "  - action: Allow\n    destination:\n      domains: [a.io]\n"
        ),
        gnp(
            "platform.a",
            "  tier: platform\n  order: 2\n",
            "  - action: Deny\n    destination:\n      domains: [a.io]\n".replace("Deny", "Allow").as_str()
        ),
        gnp(
            "allow-b",
            "",
            "  - action: Allow\n    destination:\n      domains: ['*.b.io']\n"
        ),
    );
    let i = imp(&t);
    // The security tier: names are not in 0.0.0.0/0 by name (warned), so its end denies.
    assert_eq!(check(&i, "a.io", 443, Via::Tls), Action::Deny);
    // An IPv4 address is passed: the platform tier (Pass by default) and the default tier
    // (whose end denies it).
    assert_eq!(check(&i, "192.0.2.1", 443, Via::Tls), Action::Deny);
    // IPv6: denied in the security tier.
    assert_eq!(check(&i, "2001:db8::1", 443, Via::Tls), Action::Deny);
    // Pass everything: the next tiers decide.
    let t = format!(
        "{TIERS}{}---\n{}---\n{}",
        gnp(
            "security.pass",
            "  tier: security\n",
            "  - action: Pass\n"
        ),
        gnp(
            "platform.a",
            "  tier: platform\n",
            "  - action: Allow\n    destination:\n      domains: [a.io]\n"
        ),
        gnp(
            "default.b",
            "  order: 5\n",
            "  - action: Allow\n    protocol: TCP\n    destination:\n      domains: ['*.b.io']\n      ports: ['8000:8999']\n"
        ),
    );
    let i = imp(&t);
    assert_eq!(check(&i, "a.io", 443, Via::Tls), Action::Allow);
    assert_eq!(check(&i, "x.b.io", 8080, Via::Http), Action::Allow);
    assert_eq!(check(&i, "x.b.io", 443, Via::Http), Action::Deny);
    assert_eq!(check(&i, "b.io", 8080, Via::Http), Action::Deny);
    // A Pass on some ports: the rest of its tier still decides the others.
    let t = format!(
        "{TIERS}{}---\n{}",
        gnp(
            "security.p",
            "  tier: security\n",
            "  - action: Pass\n    protocol: TCP\n    destination:\n      ports: [80]\n  - action: Allow\n    destination:\n      domains: [c.io]\n"
        ),
        gnp(
            "d",
            "",
            "  - action: Allow\n    destination:\n      domains: [d.io]\n"
        ),
    );
    let i = imp(&t);
    assert_eq!(check(&i, "d.io", 80, Via::Http), Action::Allow);
    assert_eq!(check(&i, "c.io", 80, Via::Http), Action::Deny);
    assert_eq!(check(&i, "c.io", 443, Via::Tls), Action::Allow);
    assert_eq!(check(&i, "d.io", 443, Via::Tls), Action::Deny);
    let e = i.engine();
    let v = e.check(
        e.policy("default").unwrap(),
        &Query::new("d.io").port(80).via(Via::Http),
    );
    assert_eq!(
        v.rule.unwrap().id().to_string(),
        "GlobalNetworkPolicy/d:0@GlobalNetworkPolicy/security.p:0"
    );
    // Policies of one tier by order, then by name; no order is last.
    let t = format!(
        "{}---\n{}---\n{}",
        gnp(
            "b",
            "",
            "  - action: Deny\n    destination:\n      domains: [x.io]\n"
                .replace("Deny", "Allow")
                .as_str()
        ),
        gnp("a", "  order: 1\n", "  - action: Deny\n"),
        gnp("c", "", "  - action: Allow\n"),
    );
    let i = imp(&t);
    assert_eq!(check(&i, "x.io", 443, Via::Tls), Action::Deny);
    let t = format!(
        "{}---\n{}",
        gnp("b", "", "  - action: Deny\n"),
        gnp("a", "", "  - action: Allow\n"),
    );
    assert_eq!(check(&imp(&t), "x.io", 443, Via::Tls), Action::Allow);
    // No policy: everything allowed.
    let i = imp(TIERS);
    assert_eq!(check(&i, "x.io", 443, Via::Tls), Action::Allow);
    // The rendering compiles to the same verdicts.
    let text = render(&imp(&format!(
        "{TIERS}{}",
        gnp(
            "security.p",
            "  tier: security\n",
            "  - action: Pass\n    protocol: TCP\n    destination:\n      ports: [80]\n"
        )
    )));
    hostgate::Engine::compile(&text).unwrap();
}

#[test]
fn bad_input_is_refused_at_its_position() {
    let cases: Vec<(String, &str)> = vec![
        (
            gnp(
                "x",
                "",
                "  - action: Deny\n    destination:\n      domains: [a.io]\n",
            ),
            "in.yaml:9:16: domains in a rule whose action is not Allow",
        ),
        (
            gnp(
                "x",
                "",
                "  - action: Allow\n    destination:\n      domains: [a.io]\n      nets: [10.0.0.0/8]\n",
            ),
            "in.yaml:9:16: domains together with nets or selector",
        ),
        (
            gnp("x", "", "  - action: Allow\n    destination:\n      notNets: [10.0.0.0/8]\n"),
            "in.yaml:9:16: `notNets` (a negative match) is not read",
        ),
        (
            gnp("x", "", "  - action: Allow\n    destination:\n      ports: [443]\n"),
            "in.yaml:9:14: ports need a protocol",
        ),
        (
            gnp("x", "", "  - action: Allow\n    protocol: TCP\n    destination:\n      ports: ['9:1']\n"),
            "in.yaml:10:15: port `9:1` is not a port or range",
        ),
        (
            gnp("x", "", "  - action: Drop\n"),
            "in.yaml:7:13: action `Drop`",
        ),
        (
            gnp("x", "  tier: nowhere\n", "  - action: Deny\n"),
            "in.yaml:5:9: tier `nowhere` is not among the objects given",
        ),
        (
            gnp("x", "  selector: app == web\n", "  - action: Deny\n"),
            "in.yaml:5:13: selector `app == web`: expected a quoted value",
        ),
        (
            gnp("x", "  selector: \"has(app\"\n", "  - action: Deny\n"),
            "in.yaml:5:13: selector `has(app`: expected `)`",
        ),
        (
            gnp("x", "  order: first\n", "  - action: Deny\n"),
            "in.yaml:5:10: order `first` is not a number",
        ),
        (
            gnp("x", "  preDNAT: true\n", "  - action: Deny\n"),
            "in.yaml:5:12: `preDNAT` is host endpoint policy",
        ),
        (
            gnp("x", "", "  - action: Allow\n    source: {selector: all()}\n"),
            "in.yaml:8:13: `source` in an egress rule is not read",
        ),
        (
            format!("{SETS}{}", gnp("x", "", "  - action: Deny\n    destination:\n      selector: role == 'external'\n")),
            "in.yaml:28:17: this selector picks a network set with allowedEgressDomains",
        ),
        (
            "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {order: 1, defaultAction: Log}\n".to_string(),
            "in.yaml:4:33: defaultAction `Log`",
        ),
        (
            "apiVersion: crd.projectcalico.org/v1\nkind: NetworkPolicy\nmetadata: {name: x}\n".to_string(),
            "in.yaml:1:13: apiVersion `crd.projectcalico.org/v1`",
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

#[test]
fn warnings_for_what_is_not_name_based() {
    let i = imp(&gnp(
        "x",
        "",
        "  - action: Log\n  - action: Allow\n    protocol: ICMP\n  - action: Deny\n    protocol: UDP\n    destination:\n      nets: [10.0.0.0/8]\n",
    ));
    let msgs: Vec<String> = i.warnings().iter().map(|w| w.to_string()).collect();
    for want in [
        "in.yaml:7:13: warning: Log does not decide",
        "in.yaml:9:15: warning: protocol `ICMP` is not name-based",
        "in.yaml:11:15: warning: UDP: only QUIC",
        "in.yaml:13:14: warning: names whose addresses are in these nets",
        "in.yaml:6:3: warning: Calico does not filter DNS questions by name",
    ] {
        assert!(
            msgs.iter().any(|m| m.starts_with(want)),
            "{want}\n{msgs:#?}"
        );
    }
    assert_eq!(check(&i, "10.1.1.1", 443, Via::Tls), Action::Deny);
    assert_eq!(check(&i, "10.1.1.1", 443, Via::Http), Action::Deny);
}
