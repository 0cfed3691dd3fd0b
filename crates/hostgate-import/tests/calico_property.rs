//! The Calico importer against naive matchers written from Calico's documentation: the
//! domain-name rule (tigera/docs `_domain-names.mdx`) on names near the patterns, and the
//! tier order (tigera/docs `tiered-policy.mdx`, projectcalico/api `tier.go`,
//! `networkpolicy.go`) on random tiers, orders, Allow/Deny/Pass rules and ports.

use std::net::IpAddr;

use hostgate::{Action, Format, Query, Via};
use hostgate_import::{import, Options};
use proptest::prelude::*;

/// The documented rule: no `*` is exactly that name; one `*` as a whole label is one or more
/// labels at that place. DNS names compare without case and without a final dot.
fn domain_matches(pattern: &str, name: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    let pl: Vec<&str> = p.split('.').collect();
    let nl: Vec<&str> = n.split('.').collect();
    match pl.iter().position(|l| *l == "*") {
        None => pl == nl,
        Some(i) => {
            let after = pl.len() - i - 1;
            nl.len() > i + after
                && nl[..i] == pl[..i]
                && nl[nl.len() - after..] == pl[i + 1..]
                && nl[i..nl.len() - after].iter().all(|l| !l.is_empty())
        }
    }
}

fn gnp(name: &str, extra: &str, egress: &str) -> String {
    format!("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n{extra}  types: [Egress]\n  egress:\n{egress}")
}

fn label() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec!["a", "b", "io", "x-y", "Up"])
}

fn pattern() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(label(), 1..=3),
        proptest::option::of(0usize..4),
    )
        .prop_map(|(labels, star)| {
            let mut l: Vec<&str> = labels;
            if let Some(i) = star {
                l.insert(i.min(l.len()), "*");
            }
            l.join(".")
        })
}

/// Names near a pattern: its literal labels with the star replaced by 0, 1 or 2 labels, plus
/// an extra label in front or at the end, case and a trailing dot.
fn near(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    for fill in ["", "q", "q.r"] {
        let n: Vec<&str> = p
            .split('.')
            .flat_map(|l| {
                if l == "*" {
                    fill.split('.')
                        .filter(|f| !f.is_empty())
                        .collect::<Vec<_>>()
                } else {
                    vec![l]
                }
            })
            .collect();
        if n.is_empty() {
            continue;
        }
        let n = n.join(".");
        out.push(format!("w.{n}"));
        out.push(format!("{n}.w"));
        out.push(format!("{}.", n.to_ascii_uppercase()));
        out.push(n);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn domains_match_the_documented_rule(p in pattern(), q in pattern()) {
        let text = gnp("d", "", &format!("  - action: Allow\n    destination:\n      domains: ['{p}']\n"));
        let i = import(Format::Calico, &[("d.yaml", text.as_bytes())], &Options::default())
            .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let e = i.engine();
        let pol = e.policy("default").unwrap();
        let mut names = near(&p);
        names.extend(near(&q));
        for n in names {
            let want = if domain_matches(&p, &n) { Action::Allow } else { Action::Deny };
            let got = e.check(pol, &Query::new(&n).port(443).via(Via::Tls)).action;
            prop_assert_eq!(got, want, "pattern {} name {}", p, n);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Verb {
    Allow,
    Deny,
    Pass,
}

#[derive(Clone, Debug)]
enum Dest {
    All,
    Domains(Vec<&'static str>),
    Nets(Vec<&'static str>),
}

#[derive(Clone, Debug)]
struct Rule {
    verb: Verb,
    dest: Dest,
    ports: Option<Vec<(u16, u16)>>,
}

#[derive(Clone, Debug)]
struct Pol {
    order: Option<u8>,
    name: String,
    rules: Vec<Rule>,
}

#[derive(Clone, Debug)]
struct Tier {
    name: String,
    /// `None`: no Tier object (only for `default`) or no order.
    order: Option<u8>,
    pass: bool,
    policies: Vec<Pol>,
}

const DOMAINS: &[&str] = &["a.io", "*.a.io", "b.*.io", "c.io"];
const V4: &[&str] = &["10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/0"];
const V6: &[&str] = &["2001:db8::/32", "::/0"];
const PORTS: &[(u16, u16)] = &[(80, 80), (443, 443), (8000, 8999)];
const NAMES: &[&str] = &[
    "a.io",
    "x.a.io",
    "b.x.io",
    "b.io",
    "c.io",
    "d.io",
    "10.1.2.3",
    "10.2.0.1",
    "192.0.2.1",
    "2001:db8::1",
    "2001:db9::1",
];

fn rule() -> impl Strategy<Value = Rule> {
    let dest = prop_oneof![
        Just(Dest::All),
        proptest::sample::subsequence(DOMAINS.to_vec(), 1..=2).prop_map(Dest::Domains),
        proptest::sample::subsequence(V4.to_vec(), 1..=2).prop_map(Dest::Nets),
        proptest::sample::subsequence(V6.to_vec(), 1..=2).prop_map(Dest::Nets),
    ];
    (
        proptest::sample::select(vec![Verb::Allow, Verb::Deny, Verb::Pass]),
        dest,
        proptest::option::of(proptest::sample::subsequence(PORTS.to_vec(), 1..=2)),
    )
        .prop_map(|(verb, dest, ports)| {
            // Domains only in Allow rules.
            let dest = match (verb, dest) {
                (Verb::Deny | Verb::Pass, Dest::Domains(_)) => Dest::All,
                (_, d) => d,
            };
            Rule { verb, dest, ports }
        })
}

fn tiers() -> impl Strategy<Value = Vec<Tier>> {
    proptest::collection::vec(
        (
            proptest::option::of(0u8..4),
            any::<bool>(),
            proptest::collection::vec(
                (
                    proptest::option::of(0u8..3),
                    proptest::collection::vec(rule(), 1..=3),
                ),
                0..=2,
            ),
        ),
        1..=3,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (order, pass, pols))| {
                // The last tier is Calico's default tier, which needs no Tier object.
                let name = if i == 2 {
                    "default".to_string()
                } else {
                    format!("t{i}")
                };
                Tier {
                    order: if i == 2 { None } else { order },
                    pass: i != 2 && pass,
                    policies: pols
                        .into_iter()
                        .enumerate()
                        .map(|(j, (order, rules))| Pol {
                            order,
                            // Names decide equal orders: give some a reversed-order name.
                            name: format!("{name}.p{}", 9 - j),
                            rules,
                        })
                        .collect(),
                    name,
                }
            })
            .collect()
    })
}

fn yaml(tiers: &[Tier]) -> String {
    let mut docs = Vec::new();
    for t in tiers {
        if t.name != "default" {
            let order = t.order.map_or(String::new(), |o| format!("order: {o}, "));
            let action = if t.pass { "Pass" } else { "Deny" };
            docs.push(format!("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {{name: {}}}\nspec: {{{order}defaultAction: {action}}}\n", t.name));
        }
        for p in &t.policies {
            let mut extra = format!("  tier: {}\n", t.name);
            if let Some(o) = p.order {
                extra.push_str(&format!("  order: {o}\n"));
            }
            let mut egress = String::new();
            for r in &p.rules {
                egress.push_str(&format!("  - action: {:?}\n", r.verb));
                if r.ports.is_some() {
                    egress.push_str("    protocol: TCP\n");
                }
                let mut dest = String::new();
                match &r.dest {
                    Dest::All => {}
                    Dest::Domains(d) => dest.push_str(&format!(
                        "      domains: [{}]\n",
                        d.iter()
                            .map(|x| format!("'{x}'"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    Dest::Nets(n) => dest.push_str(&format!(
                        "      nets: [{}]\n",
                        n.iter()
                            .map(|x| format!("'{x}'"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                }
                if let Some(ps) = &r.ports {
                    let ps: Vec<String> = ps
                        .iter()
                        .map(|&(a, b)| {
                            if a == b {
                                a.to_string()
                            } else {
                                format!("'{a}:{b}'")
                            }
                        })
                        .collect();
                    dest.push_str(&format!("      ports: [{}]\n", ps.join(", ")));
                }
                if !dest.is_empty() {
                    egress.push_str(&format!("    destination:\n{dest}"));
                }
            }
            docs.push(gnp(&p.name, &extra, &egress));
        }
    }
    docs.join("---\n")
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

/// A rule's destination and ports match a connection. A name is never inside `nets`: one
/// rule's nets are of one address family, so never every address.
fn matches(r: &Rule, dest: &str, port: u16) -> bool {
    let port_ok = r
        .ports
        .as_ref()
        .is_none_or(|ps| ps.iter().any(|&(a, b)| a <= port && port <= b));
    let ip = dest.parse::<IpAddr>().ok();
    let dest_ok = match (&r.dest, ip) {
        (Dest::All, _) => true,
        (Dest::Domains(d), None) => d.iter().any(|p| domain_matches(p, dest)),
        (Dest::Domains(_), Some(_)) => false,
        (Dest::Nets(n), Some(ip)) => n.iter().any(|c| in_net(c, ip)),
        (Dest::Nets(_), None) => false,
    };
    port_ok && dest_ok
}

/// Tiers by order (none: infinite; `default`: 1 000 000), then name; a tier without policies
/// is skipped; policies by order (none: infinite), then name; rules in order; Allow and Deny
/// decide; Pass goes to the next tier; a tier's end applies its default action (Deny, or
/// Pass); after the last tier, allow.
fn naive(tiers: &[Tier], dest: &str, port: u16) -> Action {
    let key = |o: Option<f64>| o.unwrap_or(f64::INFINITY);
    let mut sorted: Vec<&Tier> = tiers.iter().collect();
    let order = |t: &Tier| {
        if t.name == "default" {
            Some(1_000_000.0)
        } else {
            t.order.map(f64::from)
        }
    };
    sorted.sort_by(|a, b| {
        key(order(a))
            .total_cmp(&key(order(b)))
            .then_with(|| a.name.cmp(&b.name))
    });
    'tiers: for t in sorted {
        if t.policies.is_empty() {
            continue;
        }
        let mut pols: Vec<&Pol> = t.policies.iter().collect();
        pols.sort_by(|a, b| {
            key(a.order.map(f64::from))
                .total_cmp(&key(b.order.map(f64::from)))
                .then_with(|| a.name.cmp(&b.name))
        });
        for p in pols {
            for r in &p.rules {
                if matches(r, dest, port) {
                    match r.verb {
                        Verb::Allow => return Action::Allow,
                        Verb::Deny => return Action::Deny,
                        Verb::Pass => continue 'tiers,
                    }
                }
            }
        }
        if !t.pass {
            return Action::Deny;
        }
    }
    Action::Allow
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn tiers_orders_and_pass_match_the_documented_order(tiers in tiers()) {
        let text = yaml(&tiers);
        let i = import(Format::Calico, &[("t.yaml", text.as_bytes())], &Options::default())
            .map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
        let e = i.engine();
        let p = e.policy("default").unwrap();
        let rendered = hostgate_import::render(&i);
        let again = hostgate::Engine::compile(&rendered)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{rendered}")))?;
        let p2 = again.policy("default").unwrap();
        for name in NAMES {
            for port in [22u16, 80, 443, 8500] {
                let want = naive(&tiers, name, port);
                for via in [Via::Tls, Via::Http, Via::Connect] {
                    let q = Query::new(name).port(port).via(via);
                    prop_assert_eq!(e.check(p, &q).action, want, "{} {} {:?}\n{}", name, port, via, text);
                    prop_assert_eq!(again.check(p2, &q).action, want);
                }
            }
        }
    }

    /// Arbitrary bytes never panic the reader.
    #[test]
    fn no_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = import(Format::Calico, &[("f", &bytes)], &Options::default());
    }
}
