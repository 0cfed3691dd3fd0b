//! Matcher benchmarks: hostgate's lookup against three baselines built in the same process from
//! the same rules and asked the same queries (see `benches/README.md` for the method).
//!
//! 1. `hashbrown` + `foldhash` label-suffix walk (Envoy style): hash every suffix of the query
//!    from scratch and probe one map of exact/wildcard entries.
//! 2. `aho-corasick` on reversed names: an anchored overlapping search finds every reversed
//!    rule literal that is a prefix of the reversed query, kept when it ends at a label boundary.
//! 3. One big regex alternation per policy (Cilium style), `regex-automata` `meta::Regex`, at the
//!    sizes where it builds in reasonable time.
//!
//! Every baseline must return the same verdict as hostgate (the same deciding rule for 1 and 2,
//! the same action for 3) on a sample of the query stream before anything is timed.
//!
//! Run: `cargo bench -p hostgate-benches --bench matcher`.
//! Quick mode (10k and 200k only): `HOSTGATE_BENCH_QUICK=1` or `-- --quick`.
//!
//! `main` only wires the modules together, one size after another. The order of the steps
//! is part of what is measured: it decides where each structure lands in the heap.

mod alloc;
mod baselines;
mod calibrate;
mod data;
mod groups;
mod settings;
mod setup;
mod summary;
mod timing;

use std::path::Path;
use std::time::Instant;

use data::Rng;
use setup::SizeCtx;

/// A progress line on stderr, with the seconds since the first.
fn log(msg: impl AsRef<str>) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let t = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("[matcher {t:7.1}s] {}", msg.as_ref());
}

fn main() {
    log("start");
    let set = settings::settings();
    let mut c = groups::criterion(&set);

    let (base, source) = data::base_names();
    log(format!("data: {source}"));
    // Rules come from the first 75 % of the shuffled list; misses from the held-out rest.
    let split = base.len() * 3 / 4;
    let (sources, holdout) = base.split_at(split);

    let mut report = summary::Report::default();
    let mut regex_built = None;

    for &n in &set.sizes {
        let label = settings::size_label(n);
        let mut rng = Rng(0x5eed_0000 + n as u64);
        let rules = data::make_rules(n, sources, &mut rng);
        let text = data::policy_text(&rules);
        log(format!("{label}: {}", data::kind_counts(&rules)));
        let (m, costs) = setup::build(
            &label,
            &rules,
            text,
            &set,
            &mut report.notes,
            &mut regex_built,
        );

        let random = data::make_queries(&rules, holdout, set.random_len, &mut rng);
        let hot = random.prefix(4096);
        if let Ok(dir) = std::env::var("HOSTGATE_BENCH_DUMP") {
            data::dump(Path::new(&dir), &label, &rules, &random);
            log(format!("{label}: policy and queries written to {dir}"));
            continue;
        }
        let ctx = SizeCtx {
            label: label.clone(),
            m,
            random,
            hot,
        };

        let sample = ctx.random.prefix(10_000);
        let hit_rate = setup::verify(&ctx, &rules, &sample);
        log(format!(
            "{label}: baselines agree with hostgate on {} queries ((3): the first 1000; {:.1} % hits)",
            sample.len(),
            hit_rate * 100.0
        ));
        let (lookups, allocs) = setup::lookup_allocations(&ctx);
        report.notes.push(format!(
            "{label}: allocations during {lookups} hostgate lookups: {allocs}"
        ));

        groups::lookups(&mut c, &ctx);
        if !set.test_mode && !set.profile {
            summary::measure(&set, &ctx, &costs, hit_rate, &mut report);
        }
    }

    c.final_summary();
    if set.test_mode || set.profile {
        for n in &report.notes {
            println!("{n}");
        }
        return;
    }
    summary::print(&set, &source, &report);
}
