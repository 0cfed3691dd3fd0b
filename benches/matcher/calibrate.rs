//! Calibrations: probes that are not matchers and say what this machine's floors are, so that
//! the absolute figures can be read. (0) is the cost of one hash probe, the floor of any
//! hash-based lookup; the dependent-read probe is the cost of one cache miss in a table of
//! hostgate's size, the floor under a random lookup.

use std::hint::black_box;

use crate::baselines::lower_into;
use crate::data::{Kind, Rng, Rule};
use crate::timing::PassClock;

/// Calibration (0), not a matcher: one hashbrown probe of the whole lowercased name (the
/// rule's literal suffixes as keys), no suffix walk, no rule semantics (not checked against
/// hostgate). It is the floor of any hash-based lookup, and the figure that says how fast this
/// machine is compared with the one the absolute targets were set on (see [`REFERENCE_200K_NS`]).
pub struct ExactOnly {
    map: hashbrown::HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>,
}

impl ExactOnly {
    pub fn build(rules: &[Rule]) -> ExactOnly {
        let mut map = hashbrown::HashMap::with_hasher(foldhash::fast::RandomState::default());
        for (i, r) in rules.iter().enumerate() {
            if r.kind != Kind::Cidr {
                map.entry(r.base.as_bytes().into()).or_insert(i as u32);
            }
        }
        ExactOnly { map }
    }

    pub fn lookup(&self, q: &[u8]) -> bool {
        let mut buf = [0u8; 256];
        lower_into(q, &mut buf).is_some_and(|n| self.map.contains_key(&buf[..n]))
    }
}

/// Calibration, not a matcher: ns per dependent read at a random 64-byte line of a buffer of
/// `bytes`, advised onto huge pages as hostgate's arrays are. What one cache miss costs on this
/// machine for a table that large, whatever the matcher: a random lookup whose node is not in
/// cache (a hit, mostly; a miss usually ends at the tags, which stay cached) waits about this
/// long, less only what the lookups around it overlap. `None` when the mapping fails.
pub fn read_latency_ns(bytes: usize) -> Option<f64> {
    const HUGE: usize = 2 << 20;
    const LINE: usize = 64;
    let lines = (bytes / LINE).max(2);
    let len = lines * LINE;
    let mut map = memmap2::MmapOptions::new()
        .len(len + HUGE)
        .map_anon()
        .ok()?;
    let start = map.as_ptr().align_offset(HUGE);
    // A hint, as in hostgate: without huge pages the reads only get slower.
    let _ = map.advise_range(memmap2::Advice::HugePage, start, len / HUGE * HUGE);
    let words: &mut [u32] = bytemuck::try_cast_slice_mut(map.get_mut(start..start + len)?).ok()?;
    // One cycle through every line in random order: each line's first word names the next, so
    // every read waits for the one before (no overlap, no prefetcher help).
    let mut order: Vec<u32> = (0..lines as u32).collect();
    Rng(0x1a7e_0c1e).shuffle(&mut order);
    for (k, &line) in order.iter().enumerate() {
        words[line as usize * (LINE / 4)] = order[(k + 1) % lines];
    }
    let chase = |mut at: u32, reads: usize| {
        for _ in 0..reads {
            at = words[at as usize * (LINE / 4)];
        }
        black_box(at)
    };
    let at = chase(0, lines.min(1 << 20)); // warm the TLB and caches as a lookup stream would
    let reads = 2_000_000;
    // Not `ns_per`: this is no lookup pass, so it stays out of the passes' wall/CPU figure.
    let clock = PassClock::start();
    chase(at, reads);
    Some(clock.elapsed().1 / reads as f64)
}

/// The measurement the absolute targets were set from, at ~211k rules on another machine with
/// another query stream, in ns: (0) random, (1) random, (1) hot. This run's (0) and (1) against
/// these say how much faster or slower this machine and stream are.
pub const REFERENCE_200K_NS: (f64, f64, f64) = (42.0, 122.0, 66.0);
