//! The criterion groups: `lookup_random/<size>/<impl>` and `lookup_hot/<size>/<impl>`, one
//! lookup per iteration (64 for the batch variant), each implementation on the same stream.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use hostgate::Query;

use crate::settings::Settings;
use crate::setup::{Imp, SizeCtx};

/// Criterion configured for this run: shorter in quick mode, then criterion's own arguments.
pub fn criterion(set: &Settings) -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(if set.quick { 300 } else { 1000 }))
        .measurement_time(Duration::from_millis(if set.quick { 1000 } else { 3000 }))
        .sample_size(if set.quick { 10 } else { 30 })
        .without_plots()
        .configure_from_args()
}

/// Registers and runs the lookup groups of one size.
pub fn lookups(c: &mut Criterion, ctx: &SizeCtx) {
    for (mode, s) in [("random", &ctx.random), ("hot", &ctx.hot)] {
        let mut g = c.benchmark_group(format!("lookup_{mode}/{}", ctx.label));
        for imp in ctx.imps() {
            let per_iter = if imp == Imp::HostgateBatch { 64 } else { 1 };
            g.throughput(Throughput::Elements(per_iter));
            g.bench_function(imp.bench_id(), |b| {
                let mut i = 0usize;
                match imp {
                    Imp::Hostgate => b.iter(|| {
                        let q = s.get(i);
                        i = if i + 1 == s.len() { 0 } else { i + 1 };
                        ctx.m
                            .engine
                            .check(ctx.m.policy, &Query::new(black_box(q)))
                            .action
                    }),
                    Imp::HostgateBatch => {
                        let mut queries = [Query::new(""); 64];
                        let mut out = [hostgate::Verdict::default(); 64];
                        b.iter(|| {
                            for q in queries.iter_mut() {
                                *q = Query::new(s.get(i));
                                i = if i + 1 == s.len() { 0 } else { i + 1 };
                            }
                            ctx.m
                                .engine
                                .check_batch(ctx.m.policy, black_box(&queries), &mut out);
                            out[63].action
                        })
                    }
                    Imp::Walk => b.iter(|| {
                        let q = s.get(i);
                        i = if i + 1 == s.len() { 0 } else { i + 1 };
                        ctx.m.walk.lookup(black_box(q))
                    }),
                    Imp::Ac => b.iter(|| {
                        let q = s.get(i);
                        i = if i + 1 == s.len() { 0 } else { i + 1 };
                        ctx.m.ac.lookup(black_box(q))
                    }),
                    Imp::Exact => b.iter(|| {
                        let q = s.get(i);
                        i = if i + 1 == s.len() { 0 } else { i + 1 };
                        ctx.m.exact.lookup(black_box(q))
                    }),
                    Imp::Regex => {
                        let re = ctx.m.regex.as_ref().expect("regex built");
                        b.iter(|| {
                            let q = s.get(i);
                            i = if i + 1 == s.len() { 0 } else { i + 1 };
                            re.lookup(black_box(q))
                        })
                    }
                }
            });
        }
        g.finish();
    }
}
