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
//! Arguments: the dump's path without extension, and how many times to look up the hot set
//! (the stream's first 4,096 names, as the bench's `hot`). Instructions per lookup = the
//! collected count / (repetitions × 4,096).

use hostgate::{Engine, PolicyId, Query};

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

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .ok_or("usage: lookup_loop DUMP_BASE [REPETITIONS]")?;
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
    let allowed = run(&engine, policy, &queries, reps);
    println!("{} lookups, {allowed} allowed", reps * queries.len());
    Ok(())
}
