//! Verdicts on names near each pattern, from each system's documented matching rules
//! (Cilium `pkg/fqdn/matchpattern` and its tests; GKE's FQDN network policy page), through the
//! Rust API. `hostgate-cli/tests/import.rs` runs the same kind of table through the binary.

use hostgate::{Action, Format, Query, Via};
use hostgate_import::{import, CiliumVersion, Options};

fn cnp(selector: &str, pattern: &str) -> String {
    format!(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: t, namespace: ns}}\n\
         spec:\n  endpointSelector: {{}}\n  egress:\n  - toFQDNs:\n    - {selector}: '{pattern}'\n    \
         toPorts: [{{ports: [{{port: '443', protocol: TCP}}]}}]\n  - toPorts:\n    - ports: [{{port: '53', protocol: ANY}}]\n      \
         rules: {{dns: [{{{selector}: '{pattern}'}}]}}\n"
    )
}

fn gke(key: &str, value: &str) -> String {
    format!(
        "apiVersion: networking.gke.io/v1alpha1\nkind: FQDNNetworkPolicy\nmetadata: {{name: t, namespace: ns}}\n\
         spec:\n  podSelector: {{}}\n  egress:\n  - matches:\n    - {key}: '{value}'\n    ports:\n    - protocol: TCP\n      port: 443\n"
    )
}

fn verdicts(format: Format, yaml: &str, version: CiliumVersion, name: &str) -> (Action, Action) {
    let i = import(
        format,
        &[("t.yaml", yaml.as_bytes())],
        &Options::default().cilium_version(version),
    )
    .unwrap_or_else(|e| panic!("{yaml}: {e:?}"));
    let e = i.engine();
    let p = e.policy("default").unwrap();
    let tls = e.check(p, &Query::new(name).port(443).via(Via::Tls)).action;
    let dns = e.check(p, &Query::new(name).via(Via::Dns)).action;
    (tls, dns)
}

const V19: CiliumVersion = CiliumVersion::new(1, 19);
const V18: CiliumVersion = CiliumVersion::new(1, 18);

#[test]
fn cilium_match_pattern_table() {
    use Action::{Allow as A, Deny as D};
    // (selector, pattern, version, name, verdict)
    let cases: &[(&str, &str, CiliumVersion, &str, Action)] = &[
        ("matchName", "cilium.io", V19, "cilium.io", A),
        ("matchName", "cilium.io", V19, "CILIUM.IO.", A),
        ("matchName", "Cilium.IO.", V19, "cilium.io", A),
        ("matchName", "cilium.io", V19, "www.cilium.io", D),
        // `*.x`: exactly one label.
        ("matchPattern", "*.cilium.io", V19, "a.cilium.io", A),
        ("matchPattern", "*.cilium.io", V19, "cilium.io", D),
        ("matchPattern", "*.cilium.io", V19, "a.b.cilium.io", D),
        // `*` inside a label: 0 or more characters, never a dot.
        ("matchPattern", "*cilium.io", V19, "cilium.io", A),
        ("matchPattern", "*cilium.io", V19, "subcilium.io", A),
        ("matchPattern", "*cilium.io", V19, "www.cilium.io", D),
        ("matchPattern", "sub*.cilium.io", V19, "sub.cilium.io", A),
        ("matchPattern", "sub*.cilium.io", V19, "subway.cilium.io", A),
        ("matchPattern", "sub*.cilium.io", V19, "asub.cilium.io", D),
        ("matchPattern", "*.*.cilium.io", V19, "a.b.cilium.io", A),
        ("matchPattern", "*.*.cilium.io", V19, "a.cilium.io", D),
        // `**.`: one or more labels from 1.19, one label before.
        ("matchPattern", "**.cilium.io", V19, "a.cilium.io", A),
        ("matchPattern", "**.cilium.io", V19, "a.b.c.cilium.io", A),
        ("matchPattern", "**.cilium.io", V19, "cilium.io", D),
        ("matchPattern", "**.cilium.io", V18, "a.cilium.io", A),
        ("matchPattern", "**.cilium.io", V18, "a.b.cilium.io", D),
        // `**` after the first label is one label.
        ("matchPattern", "a.**.cilium.io", V19, "a.b.cilium.io", A),
        ("matchPattern", "a.**.cilium.io", V19, "a.b.c.cilium.io", D),
        // `*`, `**` and `*.` alone: every name.
        ("matchPattern", "*", V19, "example.com", A),
        ("matchPattern", "*", V19, "localhost", A),
        ("matchPattern", "**", V19, "a.b.c", A),
        ("matchPattern", "*.", V19, "x", A),
        // Case and the trailing dot do not matter.
        ("matchPattern", "*.CILIUM.io.", V19, "Docs.Cilium.IO", A),
        // A wildcard in the last label: no literal suffix.
        ("matchPattern", "cilium.*", V19, "cilium.io", A),
        ("matchPattern", "cilium.*", V19, "cilium.a.io", D),
    ];
    for &(sel, pat, v, name, want) in cases {
        let (tls, dns) = verdicts(Format::Cilium, &cnp(sel, pat), v, name);
        assert_eq!(tls, want, "toFQDNs {sel} {pat} (Cilium {v}) on {name}");
        assert_eq!(dns, want, "rules.dns {sel} {pat} (Cilium {v}) on {name}");
    }
}

#[test]
fn gke_documented_pattern_table() {
    use Action::{Allow as A, Deny as D};
    let cases: &[(&str, &str, &str, Action)] = &[
        ("pattern", "*.company.com", "api.company.com", A),
        ("pattern", "*.company.com", "store.company.com", A),
        ("pattern", "*.company.com", "eu.api.company.com", D),
        ("pattern", "*.company.com", "company.com", D),
        ("name", "api.company.com", "api.company.com", A),
        ("name", "api.company.com", "eu.api.company.com", D),
    ];
    for &(key, value, name, want) in cases {
        let (tls, dns) = verdicts(Format::Gke, &gke(key, value), V19, name);
        assert_eq!(tls, want, "{key} {value} on {name}");
        // GKE does not filter DNS questions by name; nothing here allows them.
        assert_eq!(dns, Action::Deny);
    }
}

#[test]
fn gke_refuses_what_is_not_documented() {
    for (key, value, want) in [
        (
            "pattern",
            "api.*.company.com",
            "t.yaml:8:16: pattern `api.*.company.com`: only `*.DOMAIN` is documented",
        ),
        ("pattern", "*", "t.yaml:8:16: pattern `*`: only"),
        (
            "name",
            "API.company.com",
            "t.yaml:8:13: `API.company.com` is not a lower-case DNS name",
        ),
        (
            "name",
            "api.company.com.",
            "t.yaml:8:13: `api.company.com.` is not",
        ),
    ] {
        let y = gke(key, value);
        let e = import(
            Format::Gke,
            &[("t.yaml", y.as_bytes())],
            &Options::default(),
        )
        .unwrap_err();
        assert!(e[0].to_string().starts_with(want), "{}", e[0]);
    }
}

#[test]
fn default_deny_unless_every_policy_turns_it_off() {
    let a = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: a}\nspec:\n  enableDefaultDeny: {egress: false}\n  egress:\n  - toFQDNs: [{matchName: a.io}]\n";
    let b = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: b}\nspec:\n  egress:\n  - toFQDNs: [{matchName: b.io}]\n";
    let ingress_only = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: c}\nspec:\n  ingress: [{}]\n";
    let check = |files: &[(&str, &[u8])], name: &str| {
        let i = import(Format::Cilium, files, &Options::default()).unwrap();
        let e = i.engine();
        e.check(
            e.policy("default").unwrap(),
            &Query::new(name).port(443).via(Via::Tls),
        )
        .action
    };
    assert_eq!(check(&[("a", a.as_bytes())], "other.io"), Action::Allow);
    assert_eq!(
        check(&[("a", a.as_bytes()), ("b", b.as_bytes())], "other.io"),
        Action::Deny
    );
    assert_eq!(
        check(&[("a", a.as_bytes()), ("b", b.as_bytes())], "a.io"),
        Action::Allow
    );
    assert_eq!(
        check(&[("c", ingress_only.as_bytes())], "other.io"),
        Action::Allow
    );
}

#[test]
fn egress_deny_wins_over_any_allow() {
    let y = "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: d}\nspec:\n  egress:\n  - toCIDR: [203.0.113.0/24]\n  - toPorts: [{ports: [{port: '443'}]}]\n  egressDeny:\n  - toCIDRSet: [{cidr: 203.0.113.0/25}]\n  - toPorts: [{ports: [{port: '8443', endPort: 8444}]}]\n";
    let i = import(
        Format::Cilium,
        &[("d.yaml", y.as_bytes())],
        &Options::default(),
    )
    .unwrap();
    let e = i.engine();
    let p = e.policy("default").unwrap();
    let at = |n: &str, port: u16| {
        e.check(p, &Query::new(n).port(port).via(Via::Connect))
            .action
    };
    assert_eq!(at("203.0.113.200", 80), Action::Allow);
    assert_eq!(at("203.0.113.7", 80), Action::Deny);
    assert_eq!(at("any.example", 443), Action::Allow);
    assert_eq!(at("any.example", 8444), Action::Deny);
    assert_eq!(at("any.example", 80), Action::Deny);
    let v = e.check(p, &Query::new("203.0.113.7").port(80));
    assert_eq!(v.rule.unwrap().id(), "CiliumClusterwideNetworkPolicy/d:4");
    assert!(i.warnings().iter().any(|w| w
        .message
        .contains("deny 203.0.113.0/25: names whose addresses")));
}

#[test]
fn server_names_by_version() {
    let y = |sn: &str| {
        format!("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: s}}\nspec:\n  egress:\n  - toPorts:\n    - ports: [{{port: '443', protocol: TCP}}]\n      serverNames: ['{sn}']\n")
    };
    let tls = |sn: &str, v: CiliumVersion, name: &str| {
        let t = y(sn);
        let i = import(
            Format::Cilium,
            &[("s", t.as_bytes())],
            &Options::default().cilium_version(v),
        )
        .unwrap();
        let e = i.engine();
        (
            e.check(
                e.policy("default").unwrap(),
                &Query::new(name).port(443).via(Via::Tls),
            )
            .action,
            i.warnings().len(),
        )
    };
    assert_eq!(tls("*.x.io", V19, "a.x.io"), (Action::Allow, 0));
    assert_eq!(tls("*.x.io", V19, "a.b.x.io"), (Action::Deny, 0));
    assert_eq!(tls("**.x.io", V18, "a.b.x.io"), (Action::Allow, 0));
    // Up to 1.19 a partial `*` never matches: left out, with a warning.
    assert_eq!(tls("api-*.x.io", V19, "api-1.x.io"), (Action::Deny, 1));
    // From 1.20: `*` in a label, `**` one or more labels anywhere.
    let v20 = CiliumVersion::new(1, 20);
    assert_eq!(tls("api-*.x.io", v20, "api-1.x.io"), (Action::Allow, 0));
    assert_eq!(tls("a.**.x.io", v20, "a.b.c.x.io"), (Action::Allow, 0));
    assert_eq!(tls("a.**.x.io", v20, "a.x.io"), (Action::Deny, 0));
    // A trailing dot never matches an SNI.
    assert_eq!(tls("a.x.io.", V19, "a.x.io"), (Action::Deny, 1));
    let t = y("a.x.io");
    assert!(import(
        Format::Cilium,
        &[("s", t.as_bytes())],
        &Options::default().cilium_version(CiliumVersion::new(1, 17))
    )
    .is_err());
}
