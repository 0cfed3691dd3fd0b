//! The shared name matcher: one open-addressing hash table keyed by literal label suffixes.
//!
//! Every name pattern except `*` and `~regex` has a literal suffix of whole labels
//! (`**.stripe.com` → `stripe.com`, `api-*.kadath.io` → `kadath.io`). A lookup walks the query
//! once from the right, producing the hash of every label suffix incrementally, and probes the
//! table for each. A hit yields postings — (policy, rank, rule, shape) — sorted by policy then
//! rank, so a lookup for one policy can stop at the first posting that satisfies it.
//!
//! The table stores a 32-bit fingerprint next to each entry index in an 8-byte slot, so a miss
//! is usually decided without touching the key bytes.

/// How the query must relate to a posting's key, by `depth` = labels left of the suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Shape {
    /// depth == 0
    Exact,
    /// depth == 1
    OneLabel,
    /// depth >= 1
    Deep,
    /// depth >= 0
    Dot,
    /// depth == head length, each head label glob-matches
    Glob,
}

/// One rule's entry under a key (or in the `*`, regex and CIDR lists).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Posting {
    pub policy: u32,
    /// Smaller wins; computed per policy from its precedence mode.
    pub rank: u32,
    /// Global rule index.
    pub rule: u32,
    /// Index into the engine's glob heads when `shape` is `Glob`.
    pub glob: u32,
    pub shape: Shape,
    /// Bit set of `Via::bit()`; all four bits when the rule has no `via`.
    pub via_mask: u8,
    pub deny: bool,
    pub has_ports: bool,
}

/// A key and its postings. Most keys have one posting, kept inline so a hit touches one line
/// fewer.
#[derive(Clone, Copy, Debug)]
struct Entry {
    key_off: u32,
    key_len: u32,
    post_off: u32,
    post_len: u32,
    first: Posting,
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;

#[inline(always)]
fn step(h: u64, b: u8) -> u64 {
    (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
}

/// Avalanche so that both the slot index (low bits) and fingerprint (high bits) are well mixed.
#[inline(always)]
fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The hash of a whole key, computed exactly as a query walk computes its suffix hashes.
fn key_hash(key: &[u8]) -> u64 {
    finish(key.iter().rev().fold(SEED, |h, &b| step(h, b)))
}

/// The suffix table, built once and then read-only.
#[derive(Debug, Default)]
pub(crate) struct SuffixTable {
    slots: Vec<u64>,
    mask: usize,
    entries: Vec<Entry>,
    keys: Vec<u8>,
    postings: Vec<Posting>,
    /// No key has more labels than this: longer suffixes need not be probed.
    max_labels: u32,
}

impl SuffixTable {
    /// Builds the table from (key, posting) pairs in any order.
    pub(crate) fn build(mut items: Vec<(String, Posting)>) -> SuffixTable {
        items.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(a.1.policy.cmp(&b.1.policy))
                .then(a.1.rank.cmp(&b.1.rank))
        });
        let mut t = SuffixTable::default();
        let distinct =
            items.windows(2).filter(|w| w[0].0 != w[1].0).count() + usize::from(!items.is_empty());
        // Load factor at most 1/2 keeps probe runs short.
        let cap = (distinct * 2).next_power_of_two().max(16);
        t.slots = vec![0; cap];
        t.mask = cap - 1;
        t.entries.reserve_exact(distinct);
        t.postings.reserve_exact(items.len());
        let mut i = 0;
        while i < items.len() {
            let key = items[i].0.clone();
            let start = t.postings.len();
            while i < items.len() && items[i].0 == key {
                t.postings.push(items[i].1);
                i += 1;
            }
            let labels = key.bytes().filter(|&b| b == b'.').count() as u32 + 1;
            t.max_labels = t.max_labels.max(labels);
            let entry = Entry {
                key_off: t.keys.len() as u32,
                key_len: key.len() as u32,
                post_off: start as u32,
                post_len: (t.postings.len() - start) as u32,
                first: t.postings[start],
            };
            if entry.post_len == 1 {
                t.postings.truncate(start);
            }
            t.keys.extend_from_slice(key.as_bytes());
            let h = key_hash(key.as_bytes());
            let slot = ((h >> 32) << 32) | (t.entries.len() as u64 + 1);
            t.entries.push(entry);
            let mut idx = h as usize & t.mask;
            while t.slots[idx] != 0 {
                idx = (idx + 1) & t.mask;
            }
            t.slots[idx] = slot;
        }
        t
    }

    /// Approximate heap bytes.
    pub(crate) fn heap_size(&self) -> usize {
        self.slots.capacity() * 8
            + self.entries.capacity() * core::mem::size_of::<Entry>()
            + self.keys.capacity()
            + self.postings.capacity() * core::mem::size_of::<Posting>()
    }

    /// Looks `suffix` up, given its hash and the content of its home slot (already loaded).
    #[inline(always)]
    fn probe(&self, hash: u64, mut slot: u64, suffix: &[u8]) -> Option<&[Posting]> {
        let fp = hash >> 32;
        let mut idx = hash as usize & self.mask;
        loop {
            if slot == 0 {
                return None;
            }
            if slot >> 32 == fp {
                let e = self.entries.get((slot as u32 as usize).wrapping_sub(1))?;
                let key = self
                    .keys
                    .get(e.key_off as usize..(e.key_off + e.key_len) as usize)?;
                if key == suffix {
                    return if e.post_len == 1 {
                        Some(core::slice::from_ref(&e.first))
                    } else {
                        self.postings
                            .get(e.post_off as usize..(e.post_off + e.post_len) as usize)
                    };
                }
            }
            idx = (idx + 1) & self.mask;
            slot = *self.slots.get(idx)?;
        }
    }

    /// Calls `visit(depth, suffix_start, postings)` for every label suffix of `name` present in
    /// the table, shortest suffix first. `depth` is the number of labels left of the suffix.
    ///
    /// All suffix hashes are computed first and their home slots loaded together, so the cache
    /// misses of the probes overlap instead of queueing one behind the other.
    #[inline]
    pub(crate) fn walk(&self, name: &[u8], mut visit: impl FnMut(u32, usize, &[Posting])) {
        const BATCH: usize = 16;
        if self.entries.is_empty() {
            return;
        }
        let total = name.iter().filter(|&&b| b == b'.').count() as u32 + 1;
        let wanted = total.min(self.max_labels) as usize;
        let mut hashes = [(0u64, 0usize); BATCH];
        let mut n = 0usize;
        let mut h = SEED;
        let mut i = name.len();
        while i > 0 && n < wanted {
            i -= 1;
            let b = name[i];
            if b == b'.' {
                if n == BATCH {
                    // Leave this dot for the one-at-a-time loop below.
                    i += 1;
                    break;
                }
                hashes[n] = (finish(h), i + 1);
                n += 1;
            }
            h = step(h, b);
        }
        if i == 0 && n < wanted && n < BATCH {
            hashes[n] = (finish(h), 0);
            n += 1;
        }
        let mut slots = [0u64; BATCH];
        for (slot, &(hash, _)) in slots.iter_mut().zip(&hashes[..n]) {
            *slot = self
                .slots
                .get(hash as usize & self.mask)
                .copied()
                .unwrap_or(0);
        }
        for (k, (&(hash, start), &slot)) in hashes[..n].iter().zip(&slots).enumerate() {
            if let Some(p) = self.probe(hash, slot, &name[start..]) {
                visit(total - 1 - k as u32, start, p);
            }
        }
        if n == BATCH && n < wanted {
            // More labels than one batch: finish the walk one probe at a time.
            let mut labels = n as u32;
            while i > 0 && (labels as usize) < wanted {
                i -= 1;
                let b = name[i];
                if b == b'.' {
                    let hash = finish(h);
                    let slot = self
                        .slots
                        .get(hash as usize & self.mask)
                        .copied()
                        .unwrap_or(0);
                    labels += 1;
                    if let Some(p) = self.probe(hash, slot, &name[i + 1..]) {
                        visit(total - labels, i + 1, p);
                    }
                }
                h = step(h, b);
            }
            if i == 0 && (labels as usize) < wanted {
                let hash = finish(h);
                let slot = self
                    .slots
                    .get(hash as usize & self.mask)
                    .copied()
                    .unwrap_or(0);
                if let Some(p) = self.probe(hash, slot, name) {
                    visit(0, 0, p);
                }
            }
        }
    }
}

/// The postings of one policy inside a key's postings (sorted by policy, then rank).
#[inline(always)]
pub(crate) fn for_policy(postings: &[Posting], policy: u32) -> &[Posting] {
    if postings.len() == 1 {
        return if postings[0].policy == policy {
            postings
        } else {
            &[]
        };
    }
    let start = postings.partition_point(|p| p.policy < policy);
    let end = postings.partition_point(|p| p.policy <= policy);
    &postings[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(rule: u32) -> Posting {
        Posting {
            policy: 0,
            rank: rule,
            rule,
            glob: 0,
            shape: Shape::Dot,
            via_mask: 0xf,
            deny: false,
            has_ports: false,
        }
    }

    #[test]
    fn walk_past_one_batch() {
        // 20 labels: more suffixes than one batch of probes.
        let labels: Vec<String> = (0..20).map(|i| format!("l{i}")).collect();
        let name = labels.join(".");
        let items = (0..20)
            .map(|k| (labels[k..].join("."), post(k as u32)))
            .collect();
        let t = SuffixTable::build(items);
        let mut seen = Vec::new();
        t.walk(name.as_bytes(), |d, s, p| {
            assert_eq!(&name[s..], labels[d as usize..].join("."));
            seen.push(p[0].rule);
        });
        assert_eq!(seen, (0..20).rev().collect::<Vec<u32>>());
    }

    #[test]
    fn walk_finds_every_suffix() {
        let t = SuffixTable::build(vec![
            ("io".into(), post(0)),
            ("kadath.io".into(), post(1)),
            ("api.kadath.io".into(), post(2)),
            ("leng.com".into(), post(3)),
        ]);
        let mut seen = Vec::new();
        t.walk(b"x.api.kadath.io", |d, s, p| seen.push((d, s, p[0].rule)));
        assert_eq!(seen, vec![(3, 13, 0), (2, 6, 1), (1, 2, 2)]);
        seen.clear();
        t.walk(b"xkadath.io", |d, s, p| seen.push((d, s, p[0].rule)));
        assert_eq!(seen, vec![(1, 8, 0)]);
        seen.clear();
        t.walk(b"kadath.io", |d, s, p| seen.push((d, s, p[0].rule)));
        assert_eq!(seen, vec![(1, 7, 0), (0, 0, 1)]);
    }
}
#[cfg(test)]
mod probe_stats {
    use super::*;
    #[test]
    fn stats() {
        let list = std::fs::read_to_string("/work/shared/data/disposable-domains.txt").unwrap();
        let items: Vec<(String, Posting)> = list
            .lines()
            .enumerate()
            .map(|(i, n)| (n.to_string(), tests_post(i as u32)))
            .collect();
        let t = SuffixTable::build(items);
        let mut total = 0usize;
        let mut maxd = 0usize;
        for (i, &s) in t.slots.iter().enumerate() {
            if s == 0 {
                continue;
            }
            let e = t.entries[(s as u32 - 1) as usize];
            let key = &t.keys[e.key_off as usize..(e.key_off + e.key_len) as usize];
            let home = key_hash(key) as usize & t.mask;
            let d = (i + t.slots.len() - home) & t.mask;
            total += d;
            maxd = maxd.max(d);
        }
        eprintln!(
            "entries {} slots {} avg displacement {:.2} max {}",
            t.entries.len(),
            t.slots.len(),
            total as f64 / t.entries.len() as f64,
            maxd
        );
    }
    fn tests_post(rule: u32) -> Posting {
        Posting {
            policy: 0,
            rank: rule,
            rule,
            glob: 0,
            shape: Shape::Dot,
            via_mask: 0xf,
            deny: false,
            has_ports: false,
        }
    }
}
