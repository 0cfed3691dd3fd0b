//! The summary's own timing, outside criterion: interleaved rounds of plain `black_box` loops
//! over the query streams, each pass timed with the thread's on-CPU time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use hostgate::{Action, Engine, PolicyId, Query};

use crate::data::Stream;
use crate::setup::{Imp, SizeCtx};

/// The time of one timed pass: the thread's on-CPU time from `/proc/thread-self/schedstat` when
/// the kernel provides it (time the thread spent descheduled by other load on the 2 shared
/// cores does not count), wall time otherwise.
pub struct PassClock {
    wall: Instant,
    cpu: Option<u64>,
}

fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

impl PassClock {
    pub fn start() -> PassClock {
        PassClock {
            cpu: thread_cpu_ns(),
            wall: Instant::now(),
        }
    }

    /// Wall and on-CPU ns since the start (on-CPU = wall when the kernel gives no counter).
    pub fn elapsed(&self) -> (f64, f64) {
        let wall = self.wall.elapsed().as_nanos() as f64;
        let total = match (self.cpu, thread_cpu_ns()) {
            // A stale counter (updated at scheduler ticks) shows as 0 for short passes.
            (Some(a), Some(b)) if b > a => (b - a) as f64,
            _ => wall,
        };
        (wall, total)
    }

    fn ns_per(&self, count: usize) -> f64 {
        let (wall, total) = self.elapsed();
        WALL_OVER_CPU.with(|w| w.borrow_mut().push(wall / total));
        total / count as f64
    }
}

thread_local! {
    /// Wall time / on-CPU time of each pass: how much other load stole.
    static WALL_OVER_CPU: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Looks up `count` names of `s` from `start` (wrapping), through `f`; ns per lookup.
#[inline(never)]
fn timed_pass<F: Fn(&[u8]) -> bool>(f: F, s: &Stream, start: usize, count: usize) -> f64 {
    let t = PassClock::start();
    let mut matched = 0usize;
    let (mut pos, mut left) = (start % s.len(), count);
    while left > 0 {
        let end = s.len().min(pos + left);
        for &(off, len) in &s.spans[pos..end] {
            let q = &s.buf[off as usize..(off + len) as usize];
            matched += usize::from(f(black_box(q)));
        }
        left -= end - pos;
        pos = 0;
    }
    black_box(matched);
    t.ns_per(count)
}

/// One hostgate lookup, out of line as it is for the FFI and for any caller that checks one
/// name per call (and as `examples/lookup_loop.rs` counts it): inlined into the pass's loop,
/// the engine's table setup could be hoisted out of it, and the time would miss work every real
/// lookup does. Whether the inliner does that depends on how the crate is cut into codegen
/// units, so it is ruled out here rather than left to chance.
#[inline(never)]
fn check_one(engine: &Engine, policy: PolicyId, q: &Query<'_>) -> bool {
    engine.check(policy, q).action == Action::Allow
}

fn pass(ctx: &SizeCtx, imp: Imp, s: &Stream, start: usize, count: usize) -> f64 {
    match imp {
        Imp::Hostgate => {
            let (e, p) = (&ctx.m.engine, ctx.m.policy);
            timed_pass(|q| check_one(e, p, &Query::new(q)), s, start, count)
        }
        Imp::HostgateBatch => batch_pass(ctx, s, start, count),
        Imp::Walk => timed_pass(|q| ctx.m.walk.lookup(q).is_some(), s, start, count),
        Imp::Ac => timed_pass(|q| ctx.m.ac.lookup(q).is_some(), s, start, count),
        Imp::Exact => timed_pass(|q| ctx.m.exact.lookup(q), s, start, count),
        Imp::Regex => {
            let re = ctx.m.regex.as_ref().expect("regex built");
            timed_pass(|q| re.lookup(q), s, start, count)
        }
    }
}

/// Like [`timed_pass`] for hostgate, through `check_batch` in batches of 64.
#[inline(never)]
fn batch_pass(ctx: &SizeCtx, s: &Stream, start: usize, count: usize) -> f64 {
    const B: usize = 64;
    let mut queries = [Query::new(""); B];
    let mut out = [hostgate::Verdict::default(); B];
    let t = PassClock::start();
    let mut matched = 0usize;
    let (mut pos, mut left) = (start % s.len(), count);
    while left > 0 {
        let n = B.min(left).min(s.len() - pos);
        for (k, q) in queries[..n].iter_mut().enumerate() {
            *q = Query::new(black_box(s.get(pos + k)));
        }
        ctx.m
            .engine
            .check_batch(ctx.m.policy, &queries[..n], &mut out[..n]);
        matched += out[..n]
            .iter()
            .filter(|v| v.action == Action::Allow)
            .count();
        pos = if pos + n == s.len() { 0 } else { pos + n };
        left -= n;
    }
    black_box(matched);
    t.ns_per(count)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One implementation's summary timings: median ns per lookup, and its speed relative to (1)
/// as the median over rounds of `t(1) / t(impl)` within the same round.
pub struct Timing {
    pub imp: Imp,
    pub random_ns: f64,
    pub hot_ns: f64,
    pub x_random: f64,
    pub x_hot: f64,
}

/// Interleaved timing: each round times every implementation once on the random stream, then
/// once on the hot set (in reverse order every other round). Each pass is sized to about
/// `pass_time`. The ratios to (1) pair passes of the same round: on a shared VM the machine's
/// speed drifts over seconds (a neighbour's load on the same core, or not), which moves both
/// passes of a round alike, so the per-round ratio is steadier than a ratio of medians.
pub fn summary_timings(ctx: &SizeCtx, rounds: usize, pass_time: Duration) -> Vec<Timing> {
    let imps = ctx.imps();
    let calibrate = |imp: Imp, s: &Stream| {
        // Grow the probe until it takes 20 ms (or 20k lookups): (3) takes milliseconds each.
        let mut probe = 16;
        let mut ns = pass(ctx, imp, s, 0, probe);
        while probe < 20_000 && ns * (probe as f64) < 20e6 {
            probe *= 4;
            ns = pass(ctx, imp, s, 0, probe);
        }
        let ns = ns.max(1.0);
        ((pass_time.as_nanos() as f64 / ns) as usize).clamp(100, 4_000_000)
    };
    let counts: Vec<(usize, usize)> = imps
        .iter()
        .map(|&i| {
            (
                calibrate(i, &ctx.random).min(ctx.random.len()),
                calibrate(i, &ctx.hot),
            )
        })
        .collect();
    let mut random: Vec<Vec<f64>> = vec![Vec::new(); imps.len()];
    let mut hot: Vec<Vec<f64>> = vec![Vec::new(); imps.len()];
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..imps.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for &k in &order {
            let start = round * 7919 * 131 % ctx.random.len();
            random[k].push(pass(ctx, imps[k], &ctx.random, start, counts[k].0));
        }
        for &k in &order {
            hot[k].push(pass(ctx, imps[k], &ctx.hot, 0, counts[k].1));
        }
    }
    let base = imps.iter().position(|&i| i == Imp::Walk);
    let paired = |times: &[Vec<f64>], k: usize| {
        base.map_or(f64::NAN, |b| {
            median(
                times[b]
                    .iter()
                    .zip(&times[k])
                    .map(|(t1, t)| t1 / t)
                    .collect(),
            )
        })
    };
    imps.iter()
        .enumerate()
        .map(|(k, &imp)| Timing {
            imp,
            random_ns: median(random[k].clone()),
            hot_ns: median(hot[k].clone()),
            x_random: paired(&random, k),
            x_hot: paired(&hot, k),
        })
        .collect()
}

/// The median wall/on-CPU ratio of the passes timed since the last call (1.00 = the bench had
/// its core to itself), and a fresh start for the next size.
pub fn take_wall_over_cpu() -> f64 {
    WALL_OVER_CPU.with(|w| median(std::mem::take(&mut *w.borrow_mut())))
}
