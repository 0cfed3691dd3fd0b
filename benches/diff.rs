//! `diff` of two large policies that differ in 1 % of their rules: the same rule mix as the
//! matcher bench (`matcher/data.rs`: a real domain list or a synthetic one; exact, `.`, `*.`,
//! `**.`, in-label globs, CIDRs), 200k rules by default (`HOSTGATE_DIFF_RULES=N`), the right side
//! with every 100th rule replaced by a rule of another kind on the same suffix.
//!
//! Prints the time of one `diff` (best of 3, criterion's timing would need tens of runs of
//! seconds each) and its peak memory next to the two engines' size, the two figures the target
//! is stated in (≤ 5 s, ≤ 4× the engines), then checks the answer: at least one region per
//! changed rule kind, and every witness disagrees.

#[path = "matcher/data.rs"]
#[allow(dead_code)]
mod data;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use hostgate::{diff, DiffOptions, Engine, Query};

/// Counts live and peak heap bytes, to state `diff`'s own memory next to the engines'.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator with the same layout; the counters
// are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged; `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The pattern of another kind on the same suffix: what a migration to another dialect does.
fn changed(text: &str) -> String {
    if let Some(s) = text.strip_prefix("**.") {
        format!("*.{s}")
    } else if let Some(s) = text.strip_prefix("*.") {
        format!(".{s}")
    } else if let Some(s) = text.strip_prefix('.') {
        format!("**.{s}")
    } else if text.contains('/') || text.contains('*') {
        text.to_string()
    } else {
        format!(".{text}")
    }
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent: a smaller size then.
    let testing = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("HOSTGATE_DIFF_RULES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if testing { 5_000 } else { 200_000 });
    let (base, source) = data::base_names();
    let mut rng = data::Rng(0x5eed_0000 + n as u64);
    let rules = data::make_rules(n, &base, &mut rng);
    let left_text = data::policy_text(&rules);
    let mut changed_rules = 0;
    let mut right_text = String::from("default deny\n");
    for (i, r) in rules.iter().enumerate() {
        let text = if i % 100 == 0 {
            let c = changed(&r.text);
            changed_rules += usize::from(c != r.text);
            c
        } else {
            r.text.clone()
        };
        right_text.push_str("allow ");
        right_text.push_str(&text);
        right_text.push('\n');
    }
    let left = Engine::compile(&left_text).expect("left compiles");
    let right = Engine::compile(&right_text).expect("right compiles");
    drop((left_text, right_text));
    let engines = left.heap_size() + right.heap_size();
    let (lp, rp) = (left.default_policy(), right.default_policy());

    let mut best = f64::INFINITY;
    let mut extra = 0usize;
    let mut regions = 0;
    for _ in 0..if testing { 1 } else { 3 } {
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let t = Instant::now();
        let d = diff(
            (&left, lp),
            (&right, rp),
            &DiffOptions::default().limit(usize::MAX),
        );
        best = best.min(t.elapsed().as_secs_f64());
        extra = extra.max(PEAK.load(Ordering::Relaxed) - before);
        regions = d.regions;
        assert!(d.complete, "{:?}", d.incomplete);
        assert!(changed_rules == 0 || !d.agree(), "changed rules must show");
        for w in &d.witnesses {
            let mut q = Query::new(w.name.as_str());
            q.port = w.port;
            q.via = w.via;
            assert_ne!(left.check(lp, &q).action, right.check(rp, &q).action);
        }
    }
    println!("diff: {n} rules a side ({source}), {changed_rules} changed");
    println!(
        "diff: {best:.2} s (best of runs; target <= 5 s), {regions} regions; diff's own peak \
         memory {:.1} MB = {:.2}x the two engines' {:.1} MB (target <= 4x)",
        extra as f64 / 1e6,
        extra as f64 / engines as f64,
        engines as f64 / 1e6
    );
}
