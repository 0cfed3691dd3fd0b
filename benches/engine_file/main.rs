//! Engine files: opening a 1M-rule engine file (page cache warm) against compiling the same
//! text, in the same run; and lookups on the mapped engine (4 KiB page-cache pages) and on one
//! copied out of the file (`Engine::from_bytes`, huge pages) against the compiled engine. Ratios
//! are printed at the end. The policy is real-shaped: distinct registrable domains, every rule
//! `.x`, as blocklists are (`shape.rs`).
//!
//! Run: `cargo bench -p hostgate-benches --bench engine_file` (`HOSTGATE_BENCH_RULES=200k` for
//! another size; `-- --test` runs a 20k set once). The memory of eight processes sharing the
//! file is `benches/engine-file-pss.sh`.

mod shape;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use hostgate::{Engine, Query};

fn rules_wanted(test: bool) -> usize {
    if test {
        return 20_000;
    }
    match std::env::var("HOSTGATE_BENCH_RULES").ok().as_deref() {
        Some(s) => {
            let s = s.trim();
            let (num, mul) = match s.as_bytes().last() {
                Some(b'k' | b'K') => (&s[..s.len() - 1], 1_000),
                Some(b'm' | b'M') => (&s[..s.len() - 1], 1_000_000),
                _ => (s, 1),
            };
            num.parse::<usize>()
                .expect("HOSTGATE_BENCH_RULES: a number, 200k or 1M")
                * mul
        }
        None => 1_000_000,
    }
}

/// The median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

/// Nanoseconds per lookup over `queries`, `reps` times, best of three passes.
fn per_lookup(e: &Engine, queries: &[Query<'_>], reps: usize) -> f64 {
    let p = e.default_policy();
    (0..3)
        .map(|_| {
            let start = Instant::now();
            let mut denied = 0usize;
            for _ in 0..reps {
                for q in queries {
                    denied += usize::from(!e.check(p, black_box(q)).is_allow());
                }
            }
            black_box(denied);
            start.elapsed().as_nanos() as f64 / (reps * queries.len()) as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let test = std::env::args().any(|a| a == "--test");
    let n = rules_wanted(test);
    let label = if n >= 1_000_000 && n / 1_000_000 * 1_000_000 == n {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}k", n / 1000)
    };
    let (text, names) = shape::policy_and_queries(n, if test { 20_000 } else { 1_000_000 });
    let start = Instant::now();
    let compiled = Engine::compile(&text).expect("the bench policy compiles");
    let first_compile = start.elapsed();
    let dir = std::env::temp_dir().join(format!("hostgate-bench-engine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{label}.engine"));
    let bytes = compiled.to_bytes_with_source("bench.policy", text.as_bytes());
    hostgate_map::write(&path, &bytes).unwrap();
    let mapped = hostgate_map::open(&path).unwrap();
    assert!(mapped.is_shared());
    let copied = Engine::from_bytes(&bytes).unwrap();
    let queries: Vec<Query<'_>> = names.iter().map(|n| Query::new(n.as_str())).collect();
    // The three engines agree on every query before anything is timed.
    let p = compiled.default_policy();
    for q in &queries {
        let want = compiled.check(p, q);
        for e in [&mapped, &copied] {
            let got = e.check(p, q);
            assert_eq!(got.action, want.action);
            assert_eq!(got.rule.map(|r| r.line()), want.rule.map(|r| r.line()));
        }
    }

    let mut c = Criterion::default().configure_from_args();
    {
        let mut g = c.benchmark_group("engine_file");
        g.sample_size(10);
        g.bench_function(format!("open_mapped/{label}"), |b| {
            b.iter(|| hostgate_map::open(black_box(&path)).unwrap())
        });
        g.bench_function(format!("from_bytes/{label}"), |b| {
            b.iter(|| Engine::from_bytes(black_box(&bytes)).unwrap())
        });
        g.bench_function(format!("compile/{label}"), |b| {
            b.iter(|| Engine::compile(black_box(&text)).unwrap())
        });
        let hot = &queries[..4096.min(queries.len())];
        for (what, e) in [
            ("compiled", &compiled),
            ("mapped", &mapped),
            ("copied", &copied),
        ] {
            g.bench_function(format!("lookup_hot_{what}/{label}"), |b| {
                b.iter(|| {
                    let p = e.default_policy();
                    hot.iter().filter(|q| e.check(p, q).is_allow()).count()
                })
            });
        }
        g.finish();
    }
    if test {
        std::fs::remove_dir_all(&dir).ok();
        return;
    }

    // The summary: timings of its own, interleaved, so the ratios compare like with like.
    let runs = 15;
    let open = median(runs, || drop(black_box(hostgate_map::open(&path).unwrap())));
    let from_bytes = median(5, || drop(black_box(Engine::from_bytes(&bytes).unwrap())));
    let compile = median(5, || drop(black_box(Engine::compile(&text).unwrap())));
    let hot = &queries[..4096];
    let lookups: Vec<(&str, f64, f64)> = [
        ("compiled", &compiled),
        ("mapped", &mapped),
        ("copied", &copied),
    ]
    .into_iter()
    .map(|(what, e)| (what, per_lookup(e, hot, 50), per_lookup(e, &queries, 1)))
    .collect();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!();
    println!(
        "engine file, {label} rules (`.x` per distinct domain), {} bytes on disk",
        bytes.len()
    );
    println!(
        "  heap of the compiled engine: {:.1} MB",
        compiled.heap_size() as f64 / 1e6
    );
    println!(
        "  compile (first in process): {:>9.1} ms",
        ms(first_compile)
    );
    println!("  compile (median of 5):      {:>9.1} ms", ms(compile));
    println!(
        "  open mapped (median of {runs}):  {:>9.2} ms   {:.0}x faster than compile",
        ms(open),
        compile.as_secs_f64() / open.as_secs_f64()
    );
    println!(
        "  from_bytes (median of 5):   {:>9.2} ms   {:.0}x faster than compile",
        ms(from_bytes),
        compile.as_secs_f64() / from_bytes.as_secs_f64()
    );
    let (_, base_hot, base_all) = lookups[0];
    println!(
        "  lookups, ns each (hot = 4096 names x50; stream = {} names once):",
        queries.len()
    );
    for (what, hot_ns, all_ns) in &lookups {
        println!(
            "    {what:<9} hot {hot_ns:>6.1} ({:.2}x compiled)   stream {all_ns:>6.1} ({:.2}x compiled)",
            hot_ns / base_hot,
            all_ns / base_all
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
