//! The `anp` importer against a naive evaluator written straight from the network-policy-api
//! type docs (v0.1.7 `apis/v1alpha1`, main `apis/v1alpha2`): random sets of Admin and
//! Baseline policies with Allow/Accept, Deny and Pass rules over domain names, CIDRs and
//! ports, queried with names near the patterns and addresses near the CIDRs.

use std::net::IpAddr;

use hostgate::{Action, Format, Query, Via};
use hostgate_import::{import, Options};
use proptest::prelude::*;

const DOMAINS: &[&str] = &["a.io", "*.a.io", "b.a.io", "*.b.a.io", "C.io.", "x-y.c.io"];
const NETS: &[&str] = &[
    "0.0.0.0/0",
    "::/0",
    "10.0.0.0/8",
    "10.1.0.0/16",
    "2001:db8::/32",
];
const PORTS: &[(u16, u16)] = &[(80, 80), (443, 443), (8000, 8999)];
const NAMES: &[&str] = &[
    "a.io",
    "A.IO.",
    "b.a.io",
    "x.b.a.io",
    "y.x.b.a.io",
    "ba.io",
    "c.io",
    "x.c.io",
    "x-y.c.io",
    "d.io",
    "10.1.2.3",
    "10.2.0.1",
    "192.0.2.1",
    "2001:db8::1",
    "2001:db9::1",
];
const QUERY_PORTS: &[u16] = &[22, 80, 443, 8500];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Verb {
    Allow,
    Deny,
    Pass,
}

#[derive(Clone, Debug)]
enum Peer {
    Domains(Vec<&'static str>),
    Nets(Vec<&'static str>),
}

#[derive(Clone, Debug)]
struct Rule {
    verb: Verb,
    peers: Vec<Peer>,
    ports: Option<Vec<(u16, u16)>>,
}

#[derive(Clone, Debug)]
struct Pol {
    priority: u32,
    rules: Vec<Rule>,
}

fn subset<T: Clone + std::fmt::Debug + 'static>(
    items: &'static [T],
) -> impl Strategy<Value = Vec<T>> {
    proptest::sample::subsequence(items.to_vec(), 1..=items.len().min(3))
}

fn peer(domains: bool) -> BoxedStrategy<Peer> {
    let nets = subset(NETS).prop_map(Peer::Nets);
    if domains {
        prop_oneof![subset(DOMAINS).prop_map(Peer::Domains), nets].boxed()
    } else {
        nets.boxed()
    }
}

fn rule(verbs: &'static [Verb], domains: bool) -> impl Strategy<Value = Rule> {
    (
        proptest::sample::select(verbs),
        proptest::collection::vec(peer(domains), 1..=2),
        proptest::option::of(subset(PORTS)),
    )
        .prop_map(|(verb, peers, ports)| {
            // domainNames only in Allow rules (the API refuses them elsewhere).
            let peers = if verb == Verb::Allow {
                peers
            } else {
                peers
                    .into_iter()
                    .map(|p| match p {
                        Peer::Domains(_) => Peer::Nets(vec!["0.0.0.0/0", "::/0"]),
                        n => n,
                    })
                    .collect()
            };
            Rule { verb, peers, ports }
        })
}

/// Policies with distinct priorities (equal ones that overlap are refused), in file order
/// unrelated to priority.
fn policies(
    verbs: &'static [Verb],
    domains: bool,
    n: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = Vec<Pol>> {
    proptest::collection::vec(
        (
            0u32..50,
            proptest::collection::vec(rule(verbs, domains), 1..=3),
        ),
        n,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (p, rules))| Pol {
                priority: p * 10 + i as u32,
                rules,
            })
            .collect()
    })
}

fn yaml_rule(r: &Rule, v2: bool) -> String {
    let verb = match (r.verb, v2) {
        (Verb::Allow, false) => "Allow",
        (Verb::Allow, true) => "Accept",
        (Verb::Deny, _) => "Deny",
        (Verb::Pass, _) => "Pass",
    };
    let peers: Vec<String> = r
        .peers
        .iter()
        .map(|p| match p {
            Peer::Domains(d) => format!(
                "{{domainNames: [{}]}}",
                d.iter()
                    .map(|x| format!("'{x}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Peer::Nets(n) => format!(
                "{{networks: [{}]}}",
                n.iter()
                    .map(|x| format!("'{x}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .collect();
    let mut s = format!("  - action: {verb}\n    to: [{}]\n", peers.join(", "));
    if let Some(ports) = &r.ports {
        let entries: Vec<String> = ports
            .iter()
            .map(|&(a, b)| match (a == b, v2) {
                (true, false) => format!("{{portNumber: {{port: {a}}}}}"),
                (false, false) => format!("{{portRange: {{start: {a}, end: {b}}}}}"),
                (true, true) => format!("{{tcp: {{destinationPort: {{number: {a}}}}}}}"),
                (false, true) => {
                    format!("{{tcp: {{destinationPort: {{range: {{start: {a}, end: {b}}}}}}}}}")
                }
            })
            .collect();
        let key = if v2 { "protocols" } else { "ports" };
        s.push_str(&format!("    {key}: [{}]\n", entries.join(", ")));
    }
    s
}

fn yaml(admin: &[Pol], baseline: &[Pol], v2: bool) -> String {
    let mut docs = Vec::new();
    for (i, p) in admin.iter().enumerate() {
        let rules: String = p.rules.iter().map(|r| yaml_rule(r, v2)).collect();
        docs.push(if v2 {
            format!("apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {{name: admin-{i}}}\nspec:\n  tier: Admin\n  priority: {}\n  subject: {{namespaces: {{}}}}\n  egress:\n{rules}", p.priority)
        } else {
            format!("apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {{name: admin-{i}}}\nspec:\n  priority: {}\n  subject: {{namespaces: {{}}}}\n  egress:\n{rules}", p.priority)
        });
    }
    for (i, p) in baseline.iter().enumerate() {
        let rules: String = p.rules.iter().map(|r| yaml_rule(r, v2)).collect();
        docs.push(if v2 {
            format!("apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {{name: base-{i}}}\nspec:\n  tier: Baseline\n  priority: {}\n  subject: {{pods: {{podSelector: {{}}}}}}\n  egress:\n{rules}", p.priority)
        } else {
            format!("apiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\nmetadata: {{name: default}}\nspec:\n  subject: {{pods: {{namespaceSelector: {{}}, podSelector: {{}}}}}}\n  egress:\n{rules}")
        });
    }
    docs.join("---\n")
}

/// A domain name entry against a name, as the `DomainName` doc says: `x.y` exactly that
/// name, `*.x.y` one or more whole labels before `.x.y`; DNS names compare without case and
/// without the final dot.
fn domain_matches(entry: &str, name: &str) -> bool {
    let norm = |s: &str| s.trim_end_matches('.').to_ascii_lowercase();
    let (e, n) = (norm(entry), norm(name));
    match e.strip_prefix("*.") {
        Some(suffix) => n.len() > suffix.len() + 1 && n.ends_with(&format!(".{suffix}")),
        None => e == n,
    }
}

fn in_net(net: &str, ip: IpAddr) -> bool {
    let (addr, len) = net.split_once('/').unwrap();
    let len: u32 = len.parse().unwrap();
    match (addr.parse::<IpAddr>().unwrap(), ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            len == 0 || (u32::from(n) ^ u32::from(a)) >> (32 - len) == 0
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            len == 0 || (u128::from(n) ^ u128::from(a)) >> (128 - len) == 0
        }
        _ => false,
    }
}

/// A rule matches a connection to `dest` on `port`: some peer matches and, if the rule has
/// ports, some port does. A name is inside the rule's networks only when they hold every
/// address (0.0.0.0/0 and ::/0, in one peer or several): any address the name resolves to
/// is in them.
fn rule_matches(r: &Rule, dest: &str, port: u16) -> bool {
    let port_ok = r
        .ports
        .as_ref()
        .is_none_or(|ps| ps.iter().any(|&(a, b)| a <= port && port <= b));
    let ip = dest.parse::<IpAddr>().ok();
    let nets: Vec<&str> = r
        .peers
        .iter()
        .flat_map(|p| match p {
            Peer::Nets(n) => n.clone(),
            Peer::Domains(_) => Vec::new(),
        })
        .collect();
    let peer_ok = match ip {
        Some(ip) => nets.iter().any(|c| in_net(c, ip)),
        None => {
            (nets.contains(&"0.0.0.0/0") && nets.contains(&"::/0"))
                || r.peers.iter().any(|p| match p {
                    Peer::Domains(d) => d.iter().any(|e| domain_matches(e, dest)),
                    Peer::Nets(_) => false,
                })
        }
    };
    port_ok && peer_ok
}

/// The documented order: Admin policies by priority (lower first), rules in order; Allow
/// and Deny decide; Pass leaves the tier. Then the Baseline tier the same way (its Pass
/// leaves it too). Then allow.
fn naive(admin: &[Pol], baseline: &[Pol], dest: &str, port: u16) -> Action {
    for tier in [admin, baseline] {
        let mut sorted: Vec<&Pol> = tier.iter().collect();
        sorted.sort_by_key(|p| p.priority);
        'tier: for p in sorted {
            for r in &p.rules {
                if rule_matches(r, dest, port) {
                    match r.verb {
                        Verb::Allow => return Action::Allow,
                        Verb::Deny => return Action::Deny,
                        Verb::Pass => break 'tier,
                    }
                }
            }
        }
    }
    Action::Allow
}

fn compare(admin: &[Pol], baseline: &[Pol], v2: bool) -> Result<(), TestCaseError> {
    let text = yaml(admin, baseline, v2);
    let i = import(
        Format::Anp,
        &[("p.yaml", text.as_bytes())],
        &Options::default(),
    )
    .map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
    let e = i.engine();
    let p = e.policy("default").unwrap();
    // The rendered text must decide the same.
    let rendered = hostgate_import::render(&i);
    let again = hostgate::Engine::compile(&rendered)
        .map_err(|e| TestCaseError::fail(format!("{e}\n{rendered}")))?;
    let p2 = again.policy("default").unwrap();
    for name in NAMES {
        for &port in QUERY_PORTS {
            let want = naive(admin, baseline, name, port);
            for via in [Via::Tls, Via::Http, Via::Connect] {
                let q = Query::new(name).port(port).via(via);
                let got = e.check(p, &q).action;
                prop_assert_eq!(got, want, "{} port {} via {:?}\n{}", name, port, via, text);
                prop_assert_eq!(again.check(p2, &q).action, want);
            }
            // No DNS filtering by name.
            let dns = e.check(p, &Query::new(name).via(Via::Dns)).action;
            if name.parse::<IpAddr>().is_err() {
                prop_assert_eq!(dns, Action::Allow);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn v1alpha1_admin_and_baseline(
        admin in policies(&[Verb::Allow, Verb::Deny, Verb::Pass], true, 1..=4),
        baseline in policies(&[Verb::Allow, Verb::Deny], false, 0..=1),
    ) {
        compare(&admin, &baseline, false)?;
    }

    #[test]
    fn v1alpha2_admin_and_baseline_tiers(
        admin in policies(&[Verb::Allow, Verb::Deny, Verb::Pass], true, 0..=3),
        baseline in policies(&[Verb::Allow, Verb::Deny, Verb::Pass], true, 0..=3),
    ) {
        compare(&admin, &baseline, true)?;
    }

    /// Arbitrary bytes and arbitrary edits of a valid policy never panic.
    #[test]
    fn no_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), cut in 0usize..400) {
        let _ = import(Format::Anp, &[("f", &bytes)], &Options::default());
        let base = yaml(&[Pol { priority: 1, rules: vec![Rule { verb: Verb::Pass, peers: vec![Peer::Nets(vec!["10.0.0.0/8"])], ports: Some(vec![(80, 80)]) }] }], &[Pol { priority: 0, rules: vec![Rule { verb: Verb::Deny, peers: vec![Peer::Nets(vec!["0.0.0.0/0", "::/0"])], ports: None }] }], false);
        let cut = cut.min(base.len());
        let mut edited = base.as_bytes()[..cut].to_vec();
        edited.extend_from_slice(&bytes);
        let _ = import(Format::Anp, &[("f", &edited)], &Options::default());
    }
}
