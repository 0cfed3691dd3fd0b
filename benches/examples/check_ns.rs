//! Nanoseconds per `Engine::check` from Rust, on a policy file and a query list, for comparing
//! with a binding that runs the same queries (`benches/lua.sh` runs it beside
//! `bindings/lua/bench.lua`):
//!
//! ```sh
//! cargo run --release -p hostgate-benches --example check_ns -- POLICY QUERIES [ROUNDS]
//! ```
//!
//! QUERIES has one query a line: `NAME PORT VIA` (PORT 0 for none, VIA `tls`, `http`,
//! `connect`, `dns` or `-`). Each round checks every query once; the fastest round is printed,
//! as `check_ns: N ns per check (Q queries, R rounds, A allowed)`.

use std::hint::black_box;
use std::time::Instant;

use hostgate::{Engine, PolicyId, Query, Via};

/// One check as a binding's caller sees it: the verdict with its rule's index, line and id, out
/// of line so that the loop cannot hoist the engine's setup out of it.
#[inline(never)]
fn check_one(engine: &Engine, policy: PolicyId, q: &Query<'_>) -> bool {
    let v = engine.check(policy, q);
    black_box(v.rule.map(|r| (r.index(), r.line(), r.id())));
    v.is_allow()
}

fn via(word: &str) -> Result<Option<Via>, String> {
    Ok(match word {
        "-" => None,
        "tls" => Some(Via::Tls),
        "http" => Some(Via::Http),
        "connect" => Some(Via::Connect),
        "dns" => Some(Via::Dns),
        other => return Err(format!("unknown via {other}")),
    })
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        return Err("usage: check_ns POLICY QUERIES [ROUNDS]".into());
    }
    let rounds: usize = match args.get(2) {
        Some(r) => r.parse().map_err(|e| format!("ROUNDS: {e}"))?,
        None => 15,
    };
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"));
    let (text, lines) = (read(&args[0])?, read(&args[1])?);
    let engine = Engine::compile(&text).map_err(|e| e.to_string())?;
    let policy = engine.default_policy();
    let mut queries = Vec::new();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let (Some(name), Some(port), Some(v)) = (words.next(), words.next(), words.next()) else {
            return Err(format!("bad query line: {line}"));
        };
        let port: u16 = port.parse().map_err(|e| format!("{line}: {e}"))?;
        queries.push(Query {
            name: name.as_bytes(),
            port: (port != 0).then_some(port),
            via: via(v)?,
        });
    }
    let mut best = f64::INFINITY;
    let mut allowed = 0;
    for round in 0..=rounds {
        let start = Instant::now();
        let mut n = 0;
        for q in &queries {
            n += usize::from(check_one(&engine, policy, black_box(q)));
        }
        let ns = start.elapsed().as_nanos() as f64 / queries.len() as f64;
        // Round 0 warms the caches and is not counted.
        if round > 0 && ns < best {
            best = ns;
        }
        allowed = n;
    }
    println!(
        "check_ns: {best:.1} ns per check ({} queries, {rounds} rounds, {allowed} allowed)",
        queries.len()
    );
    Ok(())
}
