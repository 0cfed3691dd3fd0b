//! One rule-set size: hostgate and the baselines built from its rules (with what each build
//! cost), and the checks that run before anything is timed: the baselines agree with hostgate,
//! and hostgate's lookups do not allocate.

use std::hint::black_box;
use std::time::Duration;

use hostgate::{Action, Engine, PolicyId, Query, Reason};

use crate::alloc::{allocations, measured, timed_build};
use crate::baselines::{BigRegex, ReversedAc, SuffixWalk};
use crate::calibrate::ExactOnly;
use crate::data::{Rule, Stream};
use crate::log;
use crate::settings::{size_label, Settings};
use crate::summary::mib;

/// One implementation measured: hostgate (a name per call, or 64 per `check_batch`), a
/// baseline, or the calibration probe (0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Imp {
    Hostgate,
    HostgateBatch,
    Walk,
    Ac,
    Regex,
    Exact,
}

impl Imp {
    /// As the summary names it.
    pub fn name(self) -> &'static str {
        match self {
            Imp::Hostgate => "hostgate",
            Imp::HostgateBatch => "hostgate check_batch(64)",
            Imp::Walk => "(1) hashbrown suffix walk",
            Imp::Ac => "(2) aho-corasick reversed",
            Imp::Regex => "(3) regex alternation",
            Imp::Exact => "(0) exact hash only",
        }
    }

    /// As criterion names it.
    pub fn bench_id(self) -> &'static str {
        match self {
            Imp::Hostgate => "hostgate",
            Imp::HostgateBatch => "hostgate_batch64",
            Imp::Walk => "hashbrown_suffix_walk",
            Imp::Ac => "aho_corasick_reversed",
            Imp::Regex => "regex_alternation",
            Imp::Exact => "exact_hash_only",
        }
    }
}

/// The implementations built for one size.
pub struct Matchers {
    pub engine: Engine,
    pub policy: PolicyId,
    pub walk: SuffixWalk,
    pub ac: ReversedAc,
    pub regex: Option<BigRegex>,
    pub exact: ExactOnly,
}

/// One size: its implementations and query streams.
pub struct SizeCtx {
    pub label: String,
    pub m: Matchers,
    /// The whole stream, read in order; the engines' memory is hit at random.
    pub random: Stream,
    /// The stream's first 4,096 names, repeated: everything a lookup touches stays in cache.
    pub hot: Stream,
}

impl SizeCtx {
    /// The implementations measured at this size, in summary order.
    pub fn imps(&self) -> Vec<Imp> {
        let mut v = vec![Imp::Hostgate, Imp::HostgateBatch, Imp::Walk, Imp::Ac];
        if self.m.regex.is_some() {
            v.push(Imp::Regex);
        }
        v.push(Imp::Exact);
        v
    }
}

/// What the builds of one size cost: time, and the heap each left allocated.
pub struct Costs {
    /// `Engine::compile` of the policy text, best of `Settings::builds`.
    pub hg_build: Duration,
    /// `Engine::heap_size()`.
    pub hg_heap: usize,
    /// The heap the counting allocator saw the build keep.
    pub hg_retained: usize,
    pub walk: (Duration, usize),
    pub ac: (Duration, usize),
    pub exact: (Duration, usize),
    pub regex: Option<(Duration, usize)>,
}

/// Builds hostgate from `text` (the policy of `rules`) and every baseline from `rules`, timing
/// each build and counting what it keeps. `regex_built` carries the cost of the last size (3)
/// was built at, for the note at the sizes it is skipped at.
pub fn build(
    label: &str,
    rules: &[Rule],
    text: String,
    set: &Settings,
    notes: &mut Vec<String>,
    regex_built: &mut Option<(Duration, usize)>,
) -> (Matchers, Costs) {
    // hostgate: compile from the policy text (parse + compile), best of `builds`.
    // Timed builds (counters off), then one counted build for the retained heap. The
    // first build of a process also pays for fresh pages; it is reported beside.
    let mut hg_build = Duration::MAX;
    let mut hg_first = None;
    for _ in 0..set.builds {
        let dt = timed_build(|| Engine::compile(&text).expect("policy compiles"));
        hg_build = hg_build.min(dt);
        hg_first.get_or_insert(dt);
    }
    let (engine, _, hg_retained) = measured(|| Engine::compile(&text).expect("policy compiles"));
    let policy = engine.policy("default").expect("policy default");
    let hg_heap = engine.heap_size();
    let first = hg_first.unwrap_or(hg_build).as_secs_f64();
    log(format!(
        "{label}: hostgate compiled in {:.3} s (best of {}; first {first:.3} s), heap_size {} (allocator: {} retained)",
        hg_build.as_secs_f64(),
        set.builds,
        mib(hg_heap),
        mib(hg_retained)
    ));
    notes.push(format!(
        "{label}: hostgate build {:.3} s is the best of {}; the process's first took {first:.3} s",
        hg_build.as_secs_f64(),
        set.builds
    ));
    drop(text);

    // Baselines: the instances looked up are built first, counted, for their memory; then one
    // more build each, counters off, for the time. The order matters: each key of (1) is a
    // separate allocation, read on every probe, and a later build would put those keys in other
    // heap blocks (those its first build freed), which moves (1)'s hot lookup time.
    let (walk, _, walk_mem) = measured(|| SuffixWalk::build(rules));
    let (ac, _, ac_mem) = measured(|| ReversedAc::build(rules));
    let (exact, _, exact_mem) = measured(|| ExactOnly::build(rules));
    let walk_build = timed_build(|| SuffixWalk::build(rules));
    let ac_build = timed_build(|| ReversedAc::build(rules));
    let exact_build = timed_build(|| ExactOnly::build(rules));
    log(format!(
        "{label}: (1) built in {:.3} s, {}; (2) built in {:.3} s, {}",
        walk_build.as_secs_f64(),
        mib(walk_mem),
        ac_build.as_secs_f64(),
        mib(ac_mem)
    ));
    let n = rules.len();
    let regex = if n <= set.regex_max {
        let (re, _, mem) = measured(|| BigRegex::build(rules));
        let dt = timed_build(|| BigRegex::build(rules));
        match re {
            Ok(re) => {
                log(format!(
                    "{label}: (3) built in {:.3} s, {}",
                    dt.as_secs_f64(),
                    mib(mem)
                ));
                *regex_built = Some((dt, mem));
                Some((re, dt, mem))
            }
            Err(e) => {
                notes.push(format!(
                    "(3) regex alternation at {label}: does not build: {e}"
                ));
                None
            }
        }
    } else {
        let why = match *regex_built {
            Some((dt, mem)) => format!(
                "at {} rules it already took {:.2} s and {} to build; one alternation of {label} rules is \
                 the Cilium failure mode (seconds of build, GBs, a lazy DFA that thrashes on random names). \
                 Raise HOSTGATE_BENCH_REGEX_MAX to try",
                size_label(set.regex_max),
                dt.as_secs_f64(),
                mib(mem)
            ),
            None => "above HOSTGATE_BENCH_REGEX_MAX".to_owned(),
        };
        notes.push(format!("(3) regex alternation skipped at {label}: {why}"));
        None
    };
    let costs = Costs {
        hg_build,
        hg_heap,
        hg_retained,
        walk: (walk_build, walk_mem),
        ac: (ac_build, ac_mem),
        exact: (exact_build, exact_mem),
        regex: regex.as_ref().map(|(_, dt, mem)| (*dt, *mem)),
    };
    let m = Matchers {
        engine,
        policy,
        walk,
        ac,
        regex: regex.map(|(re, _, _)| re),
        exact,
    };
    (m, costs)
}

/// Every baseline must agree with hostgate on the sample, or the bench would compare different
/// work: panics with the query and both answers otherwise. Returns hostgate's hit rate.
pub fn verify(ctx: &SizeCtx, rules: &[Rule], sample: &Stream) -> f64 {
    let mut hits = 0usize;
    for i in 0..sample.len() {
        let q = sample.get(i);
        let qs = String::from_utf8_lossy(q);
        let v = ctx.m.engine.check(ctx.m.policy, &Query::new(q));
        assert_ne!(v.reason, Reason::InvalidName, "query {qs} is valid");
        let h = v.rule.map(|r| r.index());
        assert_eq!(
            v.action == Action::Allow,
            h.is_some(),
            "{qs}: an allow verdict names its rule"
        );
        let show = |r: Option<u32>| r.map_or("none".to_owned(), |r| rules[r as usize].text.clone());
        let w = ctx.m.walk.lookup(q);
        assert_eq!(h, w, "{qs}: hostgate {} vs (1) {}", show(h), show(w));
        let a = ctx.m.ac.lookup(q);
        assert_eq!(
            h,
            a,
            "{qs}: hostgate {} vs (2) {}; (2) matched {}",
            show(h),
            show(a),
            ctx.m.ac.explain(q)
        );
        // (3) costs milliseconds per lookup (see README): check it on the first 1,000 only.
        if let Some(re) = ctx.m.regex.as_ref().filter(|_| i < 1000) {
            assert_eq!(
                h.is_some(),
                re.lookup(q),
                "{qs}: hostgate {} vs (3)",
                show(h)
            );
        }
        hits += usize::from(h.is_some());
    }
    hits as f64 / sample.len() as f64
}

/// Allocations during hostgate lookups of the stream's first 100,000 names (there must be
/// none), as (lookups, allocations). A bare loop: the pass clock itself reads a file.
pub fn lookup_allocations(ctx: &SizeCtx) -> (usize, usize) {
    let n = ctx.random.len().min(100_000);
    let before = allocations();
    for i in 0..n {
        black_box(
            ctx.m
                .engine
                .check(ctx.m.policy, &Query::new(black_box(ctx.random.get(i)))),
        );
    }
    (n, allocations() - before)
}
