//! Differential tests: random policies (every pattern kind, ports, vias, ids, the three
//! precedence modes, 1–4 policies, both defaults) × names generated near the patterns × ports ×
//! sources, asked of the engine and of the naive reference (`hostgate-reference`), which must
//! give the same action, reason, rule index, line and id.
//!
//! A few hundred cases by default; `PROPTEST_CASES=N` raises it.

use hostgate::{Engine, Query, Verdict, Via};
use hostgate_reference::ast::{
    DomainAst, GlobLabelAst, IpAst, PatternAst, PolicyAst, PolicyBlock, PortAst, RuleAst, LABELS,
    REGEXES, TLDS,
};
use hostgate_reference::{Policies, RefVerdict};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        // The policy text is in every failure message; keep shrinking bounded.
        max_shrink_iters: 2048,
        // Seeds of past failures, next to this file.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies over the reference's AST

fn label() -> impl Strategy<Value = u8> {
    // Bias towards a few labels so that rules overlap and precedence matters.
    prop_oneof![3 => 0u8..4, 1 => 0..LABELS.len() as u8]
}

fn domain() -> impl Strategy<Value = DomainAst> {
    (
        vec(label(), 0..3),
        prop_oneof![3 => Just(0u8), 1 => 0..TLDS.len() as u8],
        prop::bool::weighted(0.15),
    )
        .prop_map(|(labels, tld, upper)| DomainAst { labels, tld, upper })
}

fn glob_label() -> impl Strategy<Value = GlobLabelAst> {
    prop_oneof![
        3 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| GlobLabelAst::Star(a % 10, b % 10)),
        1 => (any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(a, m, b)| GlobLabelAst::TwoStars(a % 10, m % 9, b % 10)),
        1 => label().prop_map(GlobLabelAst::Literal),
    ]
}

fn ip() -> impl Strategy<Value = IpAst> {
    (prop::bool::weighted(0.35), 0u8..3, any::<u16>()).prop_map(|(v6, net, host)| IpAst {
        v6,
        net,
        // Few distinct hosts, so single-IP rules and probes collide.
        host: host % 8,
    })
}

fn prefix(v6_hint: bool) -> impl Strategy<Value = u8> {
    if v6_hint {
        prop_oneof![Just(0u8), 16u8..=128, Just(128u8), 120u8..=128].boxed()
    } else {
        // 200 and up: the IPv4-mapped IPv6 spelling of the same prefix (mod 33).
        prop_oneof![Just(0u8), 8u8..=32, Just(32u8), 24u8..=32, 224u8..=230].boxed()
    }
}

fn pattern() -> impl Strategy<Value = PatternAst> {
    prop_oneof![
        3 => domain().prop_map(PatternAst::Exact),
        2 => domain().prop_map(PatternAst::OneLabel),
        2 => domain().prop_map(PatternAst::Deep),
        2 => domain().prop_map(PatternAst::Dot),
        2 => (vec(glob_label(), 1..3), domain()).prop_map(|(h, d)| PatternAst::Glob(h, d)),
        1 => Just(PatternAst::Any),
        1 => (0..REGEXES.len() as u8).prop_map(PatternAst::Regex),
        1 => ip().prop_map(PatternAst::Ip),
        2 => ip().prop_flat_map(|ip| prefix(ip.v6).prop_map(move |p| PatternAst::Cidr(ip, p))),
    ]
}

fn port_item() -> impl Strategy<Value = PortAst> {
    prop_oneof![
        2 => prop::sample::select(vec![53u16, 80, 443, 8443, 1, 65535]).prop_map(PortAst::Single),
        1 => prop::sample::select(vec![(8000u16, 8999u16), (1, 1024), (443, 443), (400, 500)])
            .prop_map(|(a, b)| PortAst::Range(a, b)),
    ]
}

fn rule() -> impl Strategy<Value = RuleAst> {
    (
        any::<bool>(),
        pattern(),
        prop_oneof![3 => Just(Vec::new()), 2 => vec(port_item(), 1..3)],
        prop_oneof![3 => Just(0u8), 2 => 1u8..16],
        prop::bool::weighted(0.3),
        any::<u8>(),
    )
        .prop_map(|(allow, pattern, ports, via, id, layout)| RuleAst {
            allow,
            pattern,
            ports,
            via,
            id,
            layout,
        })
}

fn block() -> impl Strategy<Value = PolicyBlock> {
    (any::<bool>(), 0u8..4, 0u8..3, vec(rule(), 0..8)).prop_map(
        |(named, precedence, default, rules)| PolicyBlock {
            named,
            precedence,
            default,
            rules,
        },
    )
}

fn policy_ast() -> impl Strategy<Value = PolicyAst> {
    vec(block(), 1..=4).prop_map(|policies| PolicyAst { policies })
}

/// Extra names built from the vocabulary, not only from the patterns.
fn random_name() -> impl Strategy<Value = Vec<u8>> {
    (vec(0..LABELS.len(), 0..4), 0..TLDS.len(), any::<u8>()).prop_map(|(ls, tld, style)| {
        let mut s: String = ls.iter().map(|&i| format!("{}.", LABELS[i])).collect();
        s.push_str(TLDS[tld]);
        if style & 1 != 0 {
            s = s.to_uppercase();
        }
        if style & 2 != 0 {
            s.push('.');
        }
        if style & 4 != 0 {
            s.insert(0, 'x');
        }
        s.into_bytes()
    })
}

// ---------------------------------------------------------------------------------------------
// The comparison

/// A tiny deterministic generator for picking (port, via) combinations per name.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[(self.next() % v.len() as u64) as usize]
    }
}

/// Compares every probe; returns a description of the first disagreement.
fn compare(ast: &PolicyAst, extra: &[Vec<u8>], seed: u64, combos: usize) -> Result<(), String> {
    let text = ast.render();
    let reference = Policies::parse(&text)
        .map_err(|e| format!("reference rejects the generated policy: {e}\n{text}"))?;
    let engine = Engine::compile(&text)
        .map_err(|e| format!("engine rejects the generated policy:\n{e}\n---\n{text}"))?;

    let mut names: Vec<String> = (0..ast.policies.len())
        .map(|i| ast.policy_name(i))
        .collect();
    names.push("default".to_owned());
    names.dedup();
    for name in &names {
        let (r, e) = (reference.get(name).is_some(), engine.policy(name).is_some());
        if r != e {
            return Err(format!(
                "policy {name:?} exists: engine {e}, reference {r}\n---\n{text}"
            ));
        }
    }

    let mut probes = ast.probe_names();
    probes.extend(extra.iter().cloned());
    let ports: Vec<Option<u16>> = std::iter::once(None)
        .chain(ast.probe_ports().into_iter().map(Some))
        .collect();
    let vias = [
        None,
        Some(Via::Tls),
        Some(Via::Http),
        Some(Via::Connect),
        Some(Via::Dns),
    ];
    let mut mix = Mix(seed | 1);

    for policy in reference.names() {
        let pid = engine
            .policy(policy)
            .ok_or_else(|| format!("engine lacks policy {policy:?}"))?;
        let mut queries: Vec<(Vec<u8>, Option<u16>, Option<Via>)> = Vec::new();
        for name in &probes {
            queries.push((name.clone(), None, None));
            for _ in 0..combos {
                queries.push((name.clone(), mix.pick(&ports), mix.pick(&vias)));
            }
        }
        let qs: Vec<Query<'_>> = queries
            .iter()
            .map(|(n, port, via)| Query {
                name: n,
                port: *port,
                via: *via,
            })
            .collect();
        let mut batch = vec![Verdict::default(); qs.len()];
        engine.check_batch(pid, &qs, &mut batch);
        for (q, from_batch) in qs.iter().zip(&batch) {
            let v = engine.check(pid, q);
            let want = reference
                .check(policy, q.name, q.port, q.via)
                .expect("policy exists");
            let got = RefVerdict::from_engine(&v);
            if got != want {
                return Err(format!(
                    "disagreement in policy {policy:?} for {:?} (bytes {:?}) port {:?} via {:?}\n  \
                     engine:    {:?}\n  reference: {:?}\n  normalized: {:?}\n---\n{text}",
                    String::from_utf8_lossy(q.name),
                    q.name,
                    q.port,
                    q.via,
                    got,
                    want,
                    hostgate::normalize(q.name).map(|n| n.as_str().to_owned()),
                ));
            }
            if *from_batch != v {
                return Err(format!("check_batch differs from check for {q:?}\n{text}"));
            }
            if let Ok(n) = hostgate::normalize(q.name) {
                if engine.check_name(pid, &n, q.port, q.via) != v {
                    return Err(format!("check_name differs from check for {q:?}\n{text}"));
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    /// The main differential test.
    #[test]
    fn engine_agrees_with_reference(
        ast in policy_ast(),
        extra in vec(random_name(), 0..6),
        seed in any::<u64>(),
    ) {
        if let Err(msg) = compare(&ast, &extra, seed, 2) {
            prop_assert!(false, "{}", msg);
        }
    }

    /// Single policies with many overlapping rules: exercises the precedence modes hardest.
    #[test]
    fn precedence_heavy_single_policy(
        precedence in 1u8..4,
        default in 0u8..3,
        rules in vec(rule(), 4..14),
        seed in any::<u64>(),
    ) {
        let ast = PolicyAst {
            policies: vec![PolicyBlock { named: false, precedence, default, rules }],
        };
        if let Err(msg) = compare(&ast, &[], seed, 3) {
            prop_assert!(false, "{}", msg);
        }
    }

    /// The fuzz entry point's constructor gives policies both sides accept and agree on.
    #[test]
    fn from_bytes_policies_agree(data in vec(any::<u8>(), 0..200), seed in any::<u64>()) {
        let ast = PolicyAst::from_bytes(&data);
        if let Err(msg) = compare(&ast, &[], seed, 1) {
            prop_assert!(false, "{}", msg);
        }
    }
}
