//! Lookups in a plain loop over a policy and query stream written by the matcher bench
//! (`HOSTGATE_BENCH_DUMP=DIR`), for instruction counts that do not drift with the machine's
//! load (timings on a shared VM do):
//!
//! ```sh
//! HOSTGATE_BENCH_DUMP=/tmp/dump HOSTGATE_BENCH_SIZES=200k cargo bench -p hostgate-benches --bench matcher
//! cargo build --release -p hostgate-benches --example lookup_loop
//! valgrind --tool=callgrind --toggle-collect='lookup_loop::run' \
//!     target/release/examples/lookup_loop /tmp/dump/200k 20
//! ```
//!
//! Arguments: the dump's path without extension, how many times to look up the hot set (the
//! stream's first 4,096 names, as the bench's `hot`), and `batch` to look them up through
//! `check_batch` (then count `--toggle-collect='lookup_loop::run_batch'`). Instructions per lookup = the
//! collected count / (repetitions × 4,096).

use hostgate::{Engine, PolicyId, Query, Verdict};

/// One lookup, out of line as it is for the bench, the FFI and any caller that checks one
/// name per call: inlined into `run`'s loop, the engine's table setup would be hoisted out of
/// it, and the count would miss work every real lookup does.
#[inline(never)]
fn check_one(engine: &Engine, policy: PolicyId, q: &Query<'_>) -> bool {
    engine.check(policy, q).is_allow()
}

/// The measured part, out of line so that callgrind can count it alone.
#[inline(never)]
fn run(engine: &Engine, policy: PolicyId, queries: &[Query<'_>], reps: usize) -> usize {
    let mut allowed = 0;
    for _ in 0..reps {
        for q in queries {
            allowed += usize::from(check_one(engine, policy, std::hint::black_box(q)));
        }
    }
    allowed
}

/// [`run`] through `check_batch`, 64 queries a call (as the bench's `check_batch(64)`).
#[inline(never)]
fn run_batch(engine: &Engine, policy: PolicyId, queries: &[Query<'_>], reps: usize) -> usize {
    let mut allowed = 0;
    let mut out = [Verdict::default(); 64];
    for _ in 0..reps {
        for qs in queries.chunks(64) {
            let n = engine.check_batch(policy, std::hint::black_box(qs), &mut out);
            allowed += out[..n].iter().filter(|v| v.is_allow()).count();
        }
    }
    allowed
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .ok_or("usage: lookup_loop DUMP_BASE [REPETITIONS [batch]]")?;
    let reps: usize = args
        .next()
        .map_or(Ok(20), |r| r.parse())
        .map_err(|e| format!("{e}"))?;
    let read = |ext: &str| {
        std::fs::read_to_string(format!("{base}.{ext}")).map_err(|e| format!("{base}.{ext}: {e}"))
    };
    let (text, names) = (read("policy")?, read("queries")?);
    let engine = Engine::compile(&text).map_err(|e| e.to_string())?;
    let policy = engine.policy("default").ok_or("no policy `default`")?;
    let queries: Vec<Query<'_>> = names.lines().take(4096).map(Query::new).collect();
    let allowed = if args.next().as_deref() == Some("batch") {
        run_batch(&engine, policy, &queries, reps)
    } else {
        run(&engine, policy, &queries, reps)
    };
    println!("{} lookups, {allowed} allowed", reps * queries.len());
    Ok(())
}
