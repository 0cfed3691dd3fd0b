//! Differential: the engine's verdict against the naive reference matcher
//! (`crates/hostgate-reference`, shared with the proptest suite: its AST, renderer, probe names
//! and matcher are called, not copied).
//!
//! The input is read with `arbitrary::Unstructured` into a `PolicyAst` (1–4 policies, every
//! pattern kind: exact, `*.`, `**.`, `.x`, in-label globs, `*`, regexes, IPs and CIDRs incl.
//! IPv4-mapped; port lists and ranges; via masks; ids; all precedence modes and defaults) and
//! extra query names near the patterns (the reference's probes mutated by the fuzzer). Every
//! (policy, name, port, via) must get the same action, reason, rule index, line and id from
//! both; `check_batch` and `check_name` must agree with `check`.
#![no_main]

use arbitrary::{Result, Unstructured};
use hostgate::{Engine, Query, Verdict, Via};
use hostgate_reference::ast::{
    DomainAst, GlobLabelAst, IpAst, PatternAst, PolicyAst, PolicyBlock, PortAst, RuleAst, LABELS,
};
use hostgate_reference::{Policies, RefVerdict};
use libfuzzer_sys::fuzz_target;

fn domain(u: &mut Unstructured<'_>) -> Result<DomainAst> {
    let n = u.int_in_range(0..=3)?;
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        labels.push(u.arbitrary()?);
    }
    Ok(DomainAst {
        labels,
        tld: u.arbitrary()?,
        upper: u.ratio(1, 6)?,
    })
}

fn ip(u: &mut Unstructured<'_>) -> Result<IpAst> {
    Ok(IpAst {
        v6: u.arbitrary()?,
        net: u.arbitrary()?,
        host: u.arbitrary()?,
    })
}

fn pattern(u: &mut Unstructured<'_>) -> Result<PatternAst> {
    Ok(match u.int_in_range(0..=8)? {
        0 => PatternAst::Exact(domain(u)?),
        1 => PatternAst::OneLabel(domain(u)?),
        2 => PatternAst::Deep(domain(u)?),
        3 => PatternAst::Dot(domain(u)?),
        4 => {
            let n = u.int_in_range(1..=3)?;
            let mut head = Vec::with_capacity(n);
            for _ in 0..n {
                head.push(match u.int_in_range(0..=2)? {
                    0 => GlobLabelAst::Star(u.arbitrary()?, u.arbitrary()?),
                    1 => GlobLabelAst::TwoStars(u.arbitrary()?, u.arbitrary()?, u.arbitrary()?),
                    _ => GlobLabelAst::Literal(u.arbitrary()?),
                });
            }
            PatternAst::Glob(head, domain(u)?)
        }
        5 => PatternAst::Any,
        6 => PatternAst::Regex(u.arbitrary()?),
        7 => PatternAst::Ip(ip(u)?),
        _ => PatternAst::Cidr(ip(u)?, u.arbitrary()?),
    })
}

fn rule(u: &mut Unstructured<'_>) -> Result<RuleAst> {
    let n = if u.ratio(1, 2)? {
        0
    } else {
        u.int_in_range(1..=3)?
    };
    let mut ports = Vec::with_capacity(n);
    for _ in 0..n {
        ports.push(if u.arbitrary()? {
            PortAst::Single(u.arbitrary()?)
        } else {
            PortAst::Range(u.arbitrary()?, u.arbitrary()?)
        });
    }
    Ok(RuleAst {
        allow: u.arbitrary()?,
        pattern: pattern(u)?,
        ports,
        via: if u.ratio(1, 2)? {
            0
        } else {
            u.int_in_range(1..=15)?
        },
        id: u.ratio(1, 4)?,
        layout: u.arbitrary()?,
    })
}

fn policy_ast(u: &mut Unstructured<'_>) -> Result<PolicyAst> {
    let n = u.int_in_range(1..=4)?;
    let mut policies = Vec::with_capacity(n);
    for _ in 0..n {
        let rules = u.int_in_range(0..=12)?;
        let mut block = PolicyBlock {
            named: u.arbitrary()?,
            precedence: u.arbitrary()?,
            default: u.arbitrary()?,
            rules: Vec::with_capacity(rules),
        };
        for _ in 0..rules {
            block.rules.push(rule(u)?);
        }
        policies.push(block);
    }
    Ok(PolicyAst { policies })
}

/// A name near the patterns: one of the reference's probes, changed a little.
fn near_name(u: &mut Unstructured<'_>, probes: &[Vec<u8>]) -> Result<Vec<u8>> {
    let mut n = u.choose(probes)?.clone();
    match u.int_in_range(0..=9)? {
        0 => {
            let l = u.choose(LABELS)?;
            n = [l.as_bytes(), b".", &n].concat();
        }
        1 => {
            if let Some(dot) = n.iter().position(|&b| b == b'.') {
                n.drain(..=dot);
            }
        }
        2 => n.make_ascii_uppercase(),
        3 => n.push(b'.'),
        4 => {
            if !n.is_empty() {
                let i = u.choose_index(n.len())?;
                n[i] = u.arbitrary()?;
            }
        }
        5 => {
            let i = u.int_in_range(0..=n.len())?;
            let b: u8 = u.arbitrary()?;
            n.insert(i, b);
        }
        6 => {
            let tail: &[u8] = u.arbitrary()?;
            n.extend_from_slice(tail);
        }
        7 => n = u.arbitrary::<&[u8]>()?.to_vec(),
        8 => {
            if !n.is_empty() {
                let i = u.choose_index(n.len())?;
                n.remove(i);
            }
        }
        _ => {}
    }
    Ok(n)
}

const VIAS: [Option<Via>; 5] = [
    None,
    Some(Via::Tls),
    Some(Via::Http),
    Some(Via::Connect),
    Some(Via::Dns),
];

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let ast = policy_ast(u)?;
    let text = ast.render();
    let reference = Policies::parse(&text)
        .unwrap_or_else(|e| panic!("the reference rejects the generated policy: {e}\n{text}"));
    let engine = Engine::compile(&text)
        .unwrap_or_else(|e| panic!("the engine rejects the generated policy:\n{e}\n---\n{text}"));

    let mut names: Vec<String> = (0..ast.policies.len())
        .map(|i| ast.policy_name(i))
        .collect();
    names.push("default".to_owned());
    for name in &names {
        assert_eq!(
            engine.policy(name).is_some(),
            reference.get(name).is_some(),
            "policy {name:?} exists in one and not the other\n{text}"
        );
    }

    let mut probes = ast.probe_names();
    let extra = u.int_in_range(0..=8)?;
    for _ in 0..extra {
        let n = near_name(u, &probes)?;
        probes.push(n);
    }
    let mut ports: Vec<Option<u16>> = vec![None];
    ports.extend(ast.probe_ports().into_iter().map(Some));
    ports.push(Some(u.arbitrary()?));

    for policy in reference.names() {
        let pid = engine.policy(policy).expect("checked above");
        let mut queries = Vec::new();
        for name in &probes {
            // Every name without port and source, and with a few combinations the input picks.
            queries.push(Query {
                name,
                port: None,
                via: None,
            });
            for _ in 0..2 {
                queries.push(Query {
                    name,
                    port: *u.choose(&ports).unwrap_or(&None),
                    via: *u.choose(&VIAS).unwrap_or(&None),
                });
            }
        }
        let mut batch = vec![Verdict::default(); queries.len()];
        assert_eq!(engine.check_batch(pid, &queries, &mut batch), queries.len());
        for (q, from_batch) in queries.iter().zip(&batch) {
            let v = engine.check(pid, q);
            let want = reference
                .check(policy, q.name, q.port, q.via)
                .expect("policy exists");
            assert_eq!(
                RefVerdict::from_engine(&v),
                want,
                "policy {policy:?}, name {:?} (bytes {:?}), port {:?}, via {:?}, normalized {:?}\n\
                 left: engine, right: reference\n---\n{text}",
                String::from_utf8_lossy(q.name),
                q.name,
                q.port,
                q.via,
                hostgate::normalize(q.name).map(|n| n.as_str().to_owned()),
            );
            assert_eq!(*from_batch, v, "check_batch differs from check for {q:?}");
            if let Ok(n) = hostgate::normalize(q.name) {
                assert_eq!(
                    engine.check_name(pid, &n, q.port, q.via),
                    v,
                    "check_name differs for {q:?}"
                );
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
