//! The shared name matcher: one open-addressing hash table keyed by literal label suffixes.
//!
//! Every name pattern except `*` and `~regex` has a literal suffix of whole labels
//! (`**.stripe.com` → `stripe.com`, `api-*.kadath.io` → `kadath.io`). A lookup walks the query
//! once from the right, producing the hash of every label suffix incrementally, loads all their
//! home slots together (so the cache misses overlap), and then checks the hits. A hit yields the
//! rules filed under that key, sorted by policy then rank, so a lookup for one policy stops at
//! the first rule that satisfies it.
//!
//! Layout, chosen for few cache lines per lookup and little memory per rule: 8-byte slots
//! (32-bit fingerprint + entry index), 12-byte entries (key offset, length, rule count, rule or
//! rule-list offset), key bytes in one arena. The rules themselves live in the engine.

/// The rules filed under one key: a single rule inline, or a slice of the list arena.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Hit<'t> {
    One(u32),
    Many(&'t [u32]),
}

impl Hit<'_> {
    /// The rule indices, sorted by policy then rank.
    #[inline(always)]
    pub(crate) fn rules(&self) -> &[u32] {
        match self {
            Hit::One(r) => core::slice::from_ref(r),
            Hit::Many(list) => list,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    key_off: u32,
    /// Low 8 bits: key length (≤ 253); high 24 bits: number of rules.
    len_count: u32,
    /// The rule itself when there is one, else the offset of the list in `lists`.
    rule_or_list: u32,
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;

#[inline(always)]
fn step(h: u64, b: u8) -> u64 {
    (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
}

/// Avalanche so that the slot index (high bits) and the fingerprint (low bits) are well mixed.
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
    /// `fingerprint << 32 | (entry + 1)`; 0 is empty.
    slots: Vec<u64>,
    entries: Vec<Entry>,
    keys: Vec<u8>,
    lists: Vec<u32>,
    /// No key has more labels than this: longer suffixes need not be probed.
    max_labels: u32,
}

impl SuffixTable {
    /// Builds the table from (key, rule) pairs. `order` gives each rule's (policy, rank), the
    /// order of rules under one key. Returns the table and, per input pair, its entry index.
    pub(crate) fn build(
        items: &[(String, u32)],
        order: impl Fn(u32) -> (u32, u32),
    ) -> (SuffixTable, Vec<u32>) {
        let mut idx: Vec<usize> = (0..items.len()).collect();
        idx.sort_by(|&a, &b| {
            items[a]
                .0
                .cmp(&items[b].0)
                .then_with(|| order(items[a].1).cmp(&order(items[b].1)))
        });
        let mut t = SuffixTable::default();
        let distinct = idx
            .windows(2)
            .filter(|w| items[w[0]].0 != items[w[1]].0)
            .count()
            + usize::from(!items.is_empty());
        // Load factor at most 2/3: probe runs stay within a cache line or two.
        let cap = (distinct + distinct / 2).max(16);
        t.slots = vec![0; cap];
        t.entries.reserve_exact(distinct);
        let mut entry_of = vec![0u32; items.len()];
        let mut i = 0;
        while i < idx.len() {
            let key = &items[idx[i]].0;
            let start = i;
            while i < idx.len() && items[idx[i]].0 == *key {
                entry_of[idx[i]] = t.entries.len() as u32;
                i += 1;
            }
            let count = (i - start) as u32;
            let rule_or_list = if count == 1 {
                items[idx[start]].1
            } else {
                let off = t.lists.len() as u32;
                t.lists.extend(idx[start..i].iter().map(|&k| items[k].1));
                off
            };
            let labels = key.bytes().filter(|&b| b == b'.').count() as u32 + 1;
            t.max_labels = t.max_labels.max(labels);
            let entry = Entry {
                key_off: t.keys.len() as u32,
                len_count: (count << 8) | key.len() as u32,
                rule_or_list,
            };
            t.keys.extend_from_slice(key.as_bytes());
            let h = key_hash(key.as_bytes());
            let slot = (u64::from(h as u32) << 32) | (t.entries.len() as u64 + 1);
            t.entries.push(entry);
            let mut s = home(h, cap);
            while t.slots[s] != 0 {
                s = if s + 1 == cap { 0 } else { s + 1 };
            }
            t.slots[s] = slot;
        }
        t.keys.shrink_to_fit();
        t.lists.shrink_to_fit();
        (t, entry_of)
    }

    /// Approximate heap bytes.
    pub(crate) fn heap_size(&self) -> usize {
        self.slots.capacity() * 8
            + self.entries.capacity() * core::mem::size_of::<Entry>()
            + self.keys.capacity()
            + self.lists.capacity() * 4
    }

    /// The key of an entry (for showing a rule's pattern).
    pub(crate) fn key(&self, entry: u32) -> &str {
        self.entries
            .get(entry as usize)
            .and_then(|e| {
                let start = e.key_off as usize;
                self.keys.get(start..start + (e.len_count & 0xff) as usize)
            })
            .and_then(|k| core::str::from_utf8(k).ok())
            .unwrap_or("")
    }

    /// Looks `suffix` up, given its hash and the content of its home slot (already loaded).
    #[inline(always)]
    fn probe(&self, hash: u64, mut slot: u64, suffix: &[u8]) -> Option<Hit<'_>> {
        let fp = u64::from(hash as u32);
        let cap = self.slots.len();
        let mut s = home(hash, cap);
        loop {
            if slot == 0 {
                return None;
            }
            if slot >> 32 == fp {
                let e = self.entries.get((slot as u32 as usize).wrapping_sub(1))?;
                let start = e.key_off as usize;
                let key = self
                    .keys
                    .get(start..start + (e.len_count & 0xff) as usize)?;
                if key == suffix {
                    let count = e.len_count >> 8;
                    return if count == 1 {
                        Some(Hit::One(e.rule_or_list))
                    } else {
                        let off = e.rule_or_list as usize;
                        self.lists.get(off..off + count as usize).map(Hit::Many)
                    };
                }
            }
            s = if s + 1 == cap { 0 } else { s + 1 };
            slot = *self.slots.get(s)?;
        }
    }

    #[inline(always)]
    fn home_slot(&self, hash: u64) -> u64 {
        self.slots
            .get(home(hash, self.slots.len()))
            .copied()
            .unwrap_or(0)
    }

    /// Calls `visit(depth, suffix_start, hit)` for every label suffix of `name` present in
    /// the table, shortest suffix first. `depth` is the number of labels left of the suffix.
    ///
    /// All suffix hashes are computed first and their home slots loaded together, so the cache
    /// misses of the probes overlap instead of queueing one behind the other.
    #[inline]
    pub(crate) fn walk(&self, name: &[u8], mut visit: impl FnMut(u32, usize, Hit<'_>)) {
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
            *slot = self.home_slot(hash);
        }
        for (k, (&(hash, start), &slot)) in hashes[..n].iter().zip(&slots).enumerate() {
            if let Some(hit) = self.probe(hash, slot, &name[start..]) {
                visit(total - 1 - k as u32, start, hit);
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
                    labels += 1;
                    if let Some(hit) = self.probe(hash, self.home_slot(hash), &name[i + 1..]) {
                        visit(total - labels, i + 1, hit);
                    }
                }
                h = step(h, b);
            }
            if i == 0 && (labels as usize) < wanted {
                let hash = finish(h);
                if let Some(hit) = self.probe(hash, self.home_slot(hash), name) {
                    visit(0, 0, hit);
                }
            }
        }
    }
}

/// Maps a hash onto `0..cap` with a multiply (no power-of-two capacity needed).
#[inline(always)]
fn home(hash: u64, cap: usize) -> usize {
    ((u128::from(hash) * cap as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(keys: &[String]) -> SuffixTable {
        let items: Vec<(String, u32)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i as u32))
            .collect();
        SuffixTable::build(&items, |r| (0, r)).0
    }

    fn rule_of(hit: Hit<'_>) -> u32 {
        hit.rules()[0]
    }

    #[test]
    fn walk_finds_every_suffix() {
        let t = table(&[
            "io".into(),
            "kadath.io".into(),
            "api.kadath.io".into(),
            "leng.com".into(),
        ]);
        let mut seen = Vec::new();
        t.walk(b"x.api.kadath.io", |d, s, h| seen.push((d, s, rule_of(h))));
        assert_eq!(seen, vec![(3, 13, 0), (2, 6, 1), (1, 2, 2)]);
        seen.clear();
        t.walk(b"xkadath.io", |d, s, h| seen.push((d, s, rule_of(h))));
        assert_eq!(seen, vec![(1, 8, 0)]);
        seen.clear();
        t.walk(b"kadath.io", |d, s, h| seen.push((d, s, rule_of(h))));
        assert_eq!(seen, vec![(1, 7, 0), (0, 0, 1)]);
    }

    #[test]
    fn walk_past_one_batch() {
        // 20 labels: more suffixes than one batch of probes.
        let labels: Vec<String> = (0..20).map(|i| format!("l{i}")).collect();
        let name = labels.join(".");
        let keys: Vec<String> = (0..20).map(|k| labels[k..].join(".")).collect();
        let t = table(&keys);
        let mut seen = Vec::new();
        t.walk(name.as_bytes(), |d, s, h| {
            assert_eq!(&name[s..], labels[d as usize..].join("."));
            seen.push(rule_of(h));
        });
        assert_eq!(seen, (0..20).rev().collect::<Vec<u32>>());
    }

    #[test]
    fn many_rules_under_one_key_keep_their_order() {
        let items = vec![
            ("a.io".to_string(), 5),
            ("a.io".to_string(), 1),
            ("b.io".to_string(), 2),
            ("a.io".to_string(), 3),
        ];
        // Order by rank = rule index, all one policy.
        let (t, entry_of) = SuffixTable::build(&items, |r| (0, r));
        let mut got = Vec::new();
        t.walk(b"a.io", |_, _, h| got.extend_from_slice(h.rules()));
        assert_eq!(got, vec![1, 3, 5]);
        assert_eq!(t.key(entry_of[2]), "b.io");
        assert_eq!(t.key(entry_of[0]), "a.io");
    }

    #[test]
    fn a_full_table_of_real_looking_keys() {
        // Every key is found, and near misses are not.
        let keys: Vec<String> = (0..5000)
            .map(|i| format!("host{i}.example{}.com", i % 7))
            .collect();
        let t = table(&keys);
        for (i, k) in keys.iter().enumerate() {
            let mut hit = None;
            t.walk(k.as_bytes(), |d, _, h| {
                if d == 0 {
                    hit = Some(rule_of(h));
                }
            });
            assert_eq!(hit, Some(i as u32), "{k}");
            let miss = format!("x{k}");
            t.walk(miss.as_bytes(), |d, _, _| assert_ne!(d, 0, "{miss}"));
        }
    }
}
