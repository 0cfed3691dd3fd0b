//! The shared name matcher: one open-addressing hash table keyed by literal label suffixes.
//!
//! Every name pattern except `*` and `~regex` has a literal suffix of whole labels
//! (`**.stripe.com` → `stripe.com`, `api-*.kadath.io` → `kadath.io`). A lookup walks the query
//! once from the right, producing the hash of every label suffix incrementally, loads all their
//! home slots together (so the cache misses overlap), and then checks the hits. A hit yields the
//! rules filed under that key, sorted by policy then rank, so a lookup for one policy stops at
//! the first rule that satisfies it.
//!
//! Layout, chosen for few cache lines per lookup and little memory per rule: a one-byte tag per
//! slot (0 = empty), so the probes of a miss — most probes — read a small array that stays in
//! cache, eight tags per step (SWAR); and a parallel array of 28-byte entries (key inline when
//! it fits, rule count, the rule or the offset of its rule list), read only when a tag matches.
//! Probing runs forward without wrapping: the arrays extend past the home range as far as the
//! longest run, plus eight empty tags, so every scan ends at an empty slot. The rules live in
//! the engine.

use crate::name::load_le;

/// What a lookup needs to know of a rule before reading the rule itself: its policy, its rank,
/// and 16 bits the engine interprets (shape and flags). Kept in the entry of a key filed by one
/// rule, so such a hit reads one cache line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RuleKey {
    pub policy: u32,
    pub rank: u32,
    pub meta: u16,
}

/// The rules filed under one key: a single rule with its key inline, or a slice of the list
/// arena (sorted by policy, then rank).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Hit<'t> {
    One(u32, RuleKey),
    Many(&'t [u32]),
}

/// Keys up to this many bytes live inside their entry: a hit then reads one line, not two.
const INLINE_KEY: usize = 20;

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    /// Low 8 bits: key length (≤ 253); high 24 bits: number of rules.
    len_count: u32,
    /// The rule itself when there is one, else the offset of the list in `lists`.
    rule_or_list: u32,
    /// The rule's key when there is one rule.
    info: RuleKey,
    /// The key when it fits, else its offset in `keys` (first 4 bytes, little-endian).
    key: [u8; INLINE_KEY],
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// Folds one label into the hash of the labels to its right, eight bytes at a time. A suffix's
/// hash is the fold of its labels from the right, so a query walk gets every suffix hash in one
/// right-to-left pass over its labels.
///
/// The label is `buf[start..end]`; `buf` may extend past it (the name's padded buffer), so
/// whole words are loaded and the bytes past the label masked off.
#[inline(always)]
fn fold_label(h: u64, buf: &[u8], start: usize, end: usize) -> u64 {
    let len = end.saturating_sub(start);
    let mut h = (h ^ len as u64).wrapping_mul(K);
    let mut at = start;
    while at + 8 <= end {
        h = (h ^ load_le(buf, at)).wrapping_mul(K).rotate_left(31);
        at += 8;
    }
    if at < end {
        // The last, partial word: only this label's bytes count.
        let w = load_le(buf, at) & ((1u64 << (8 * (end - at))) - 1);
        h = (h ^ w).wrapping_mul(K).rotate_left(31);
    }
    h
}

/// Avalanche so that the slot index (high bits) and the tag (low bits) are well mixed.
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
    let mut h = SEED;
    let mut end = key.len();
    for (i, _) in key.iter().enumerate().rev().filter(|(_, &b)| b == b'.') {
        h = fold_label(h, key, i + 1, end);
        end = i;
    }
    finish(fold_label(h, key, 0, end))
}

/// The suffix table, built once and then read-only.
#[derive(Debug, Default)]
pub(crate) struct SuffixTable {
    /// Per slot: 0 when empty, else a tag from the key's hash (1..=255).
    tags: Vec<u8>,
    /// Hashes map onto `0..home_range`; the arrays are longer (see the module doc).
    home_range: usize,
    /// Per slot: the entry (meaningful where the tag is not 0).
    entries: Vec<Entry>,
    /// Keys longer than `INLINE_KEY`.
    keys: Vec<u8>,
    lists: Vec<u32>,
    /// No key has more labels than this: longer suffixes need not be probed.
    max_labels: u32,
    /// Bit `n - 1` set when some key has `n` labels (n ≤ 64): suffixes of other label counts
    /// need no probe. Keys of more than 64 labels set bit 63.
    label_counts: u64,
}

impl SuffixTable {
    /// Builds the table from (key, rule) pairs. `order` gives each rule's (policy, rank), the
    /// order of rules under one key. Returns the table and, per input pair, its entry index.
    pub(crate) fn build(
        items: &[(String, u32)],
        info: impl Fn(u32) -> RuleKey,
    ) -> (SuffixTable, Vec<u32>) {
        let order = |r: u32| {
            let k = info(r);
            (k.policy, k.rank)
        };
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
        // Load factor about 0.85: with one-byte tags scanned eight at a time a longer probe run
        // costs little, and entries are most of the engine's memory.
        let cap = (distinct + distinct * 3 / 17).max(16);
        t.home_range = cap;
        t.tags = vec![0; cap + TAIL];
        t.entries = vec![Entry::default(); cap + TAIL];
        let mut entry_of = vec![0u32; items.len()];
        let mut i = 0;
        while i < idx.len() {
            let key = &items[idx[i]].0;
            let h = key_hash(key.as_bytes());
            let mut s = home(h, cap);
            while t.tags[s] != 0 {
                s += 1;
            }
            // Keep TAIL empty tags after every occupied slot, so scans never run off the end.
            if s + TAIL >= t.tags.len() {
                t.tags.resize(s + TAIL + 1, 0);
                t.entries.resize(s + TAIL + 1, Entry::default());
            }
            let start = i;
            while i < idx.len() && items[idx[i]].0 == *key {
                entry_of[idx[i]] = s as u32;
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
            t.label_counts |= label_bit(labels);
            let mut entry = Entry {
                len_count: (count << 8) | key.len() as u32,
                rule_or_list,
                info: if count == 1 {
                    info(rule_or_list)
                } else {
                    RuleKey::default()
                },
                key: [0; INLINE_KEY],
            };
            if key.len() <= INLINE_KEY {
                entry.key[..key.len()].copy_from_slice(key.as_bytes());
            } else {
                entry.key[..4].copy_from_slice(&(t.keys.len() as u32).to_le_bytes());
                t.keys.extend_from_slice(key.as_bytes());
            }
            t.tags[s] = tag(h);
            t.entries[s] = entry;
        }
        // The arrays may have grown past the home range while inserting; give back the slack.
        t.tags.shrink_to_fit();
        t.entries.shrink_to_fit();
        t.keys.shrink_to_fit();
        t.lists.shrink_to_fit();
        (t, entry_of)
    }

    /// Approximate heap bytes.
    pub(crate) fn heap_size(&self) -> usize {
        self.tags.capacity()
            + self.entries.capacity() * core::mem::size_of::<Entry>()
            + self.keys.capacity()
            + self.lists.capacity() * 4
    }

    /// The key bytes of an entry.
    #[inline(always)]
    fn key_bytes<'a>(&'a self, e: &'a Entry) -> Option<&'a [u8]> {
        let len = (e.len_count & 0xff) as usize;
        if len <= INLINE_KEY {
            e.key.get(..len)
        } else {
            let [a, b, c, d, ..] = e.key;
            let start = u32::from_le_bytes([a, b, c, d]) as usize;
            self.keys.get(start..start + len)
        }
    }

    /// The key of an entry (for showing a rule's pattern).
    pub(crate) fn key(&self, entry: u32) -> &str {
        self.entries
            .get(entry as usize)
            .and_then(|e| self.key_bytes(e))
            .and_then(|k| core::str::from_utf8(k).ok())
            .unwrap_or("")
    }

    /// Eight tags from slot `s` on, as one little-endian word (slot `s` in the low byte).
    #[inline(always)]
    fn tag_word(&self, s: usize) -> u64 {
        match self
            .tags
            .get(s..s + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
        {
            Some(w) => u64::from_le_bytes(w),
            // Only past the padded end, which a scan never reaches; 0 means "empty".
            None => 0,
        }
    }

    /// Looks `suffix` up, given its hash and the first tag word at its home (already loaded).
    #[inline(always)]
    fn probe(&self, hash: u64, mut word: u64, suffix: &[u8]) -> Option<Hit<'_>> {
        const LO: u64 = 0x0101_0101_0101_0101;
        let want = LO * u64::from(tag(hash));
        let mut s = home(hash, self.home_range);
        loop {
            let empty = zero_bytes(word);
            // Only slots before the first empty one belong to this probe run.
            let before = if empty == 0 {
                u64::MAX
            } else {
                (empty & empty.wrapping_neg()) - 1
            };
            let mut candidates = zero_bytes(word ^ want) & before;
            while candidates != 0 {
                let slot = s + (candidates.trailing_zeros() / 8) as usize;
                candidates &= candidates - 1;
                let Some(e) = self.entries.get(slot) else {
                    continue;
                };
                if self.key_bytes(e) == Some(suffix) {
                    let count = e.len_count >> 8;
                    return if count == 1 {
                        Some(Hit::One(e.rule_or_list, e.info))
                    } else {
                        let off = e.rule_or_list as usize;
                        self.lists.get(off..off + count as usize).map(Hit::Many)
                    };
                }
            }
            if empty != 0 {
                return None;
            }
            s += 8;
            word = self.tag_word(s);
        }
    }

    #[inline(always)]
    fn home_word(&self, hash: u64) -> u64 {
        self.tag_word(home(hash, self.home_range))
    }

    /// Calls `visit(depth, suffix_start, hit)` for every label suffix of `name` present in
    /// the table, shortest suffix first. `depth` is the number of labels left of the suffix.
    /// `dots` marks the dot positions of `name` (from [`crate::Name`]); `padded` is the name's
    /// whole buffer (`name` is its first bytes), so label words can be loaded whole.
    ///
    /// All suffix hashes are computed first and their home slots loaded together, so the cache
    /// misses of the probes overlap instead of queueing one behind the other.
    #[inline]
    pub(crate) fn walk(
        &self,
        name: &[u8],
        padded: &[u8],
        dots: &[u64; 4],
        mut visit: impl FnMut(u32, usize, Hit<'_>),
    ) {
        const BATCH: usize = 8;
        if self.max_labels == 0 {
            return;
        }
        let total = dots.iter().map(|w| w.count_ones()).sum::<u32>() + 1;
        let wanted = total.min(self.max_labels) as usize;
        let mut h = SEED;
        let mut end = name.len();
        let mut labels = Labels::new(dots, name.len());
        let mut done = 0usize;
        // Batches of up to 8 suffixes (more only for names of more than 8 labels).
        while done < wanted {
            let batch = (wanted - done).min(BATCH);
            let mut hashes = [(0u64, 0usize); BATCH];
            for slot in hashes.iter_mut().take(batch) {
                let start = labels.next().map_or(0, |dot| dot + 1);
                h = fold_label(h, padded, start, end);
                *slot = (finish(h), start);
                end = start.saturating_sub(1);
            }
            let mut words = [0u64; BATCH];
            for (k, (word, &(hash, _))) in words.iter_mut().zip(&hashes[..batch]).enumerate() {
                // A suffix of this many labels can only be a key if some key has that many.
                if self.label_counts & label_bit((done + k) as u32 + 1) != 0 {
                    *word = self.home_word(hash);
                }
            }
            for (k, (&(hash, start), &word)) in hashes[..batch].iter().zip(&words).enumerate() {
                if word != 0 {
                    if let Some(hit) = self.probe(hash, word, &name[start..]) {
                        visit(total - 1 - (done + k) as u32, start, hit);
                    }
                }
            }
            done += batch;
        }
    }
}

/// Dot positions from the highest down.
struct Labels<'a> {
    dots: &'a [u64; 4],
    word: usize,
    bits: u64,
}

impl<'a> Labels<'a> {
    /// Starts at the word holding the name's last byte: most names fit in the first word.
    fn new(dots: &'a [u64; 4], len: usize) -> Self {
        let word = (len.saturating_sub(1) / 64).min(3);
        Labels {
            dots,
            word,
            bits: dots[word],
        }
    }
}

impl Iterator for Labels<'_> {
    type Item = usize;
    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        loop {
            if self.bits != 0 {
                let bit = 63 - self.bits.leading_zeros() as usize;
                self.bits &= !(1u64 << bit);
                return Some(self.word * 64 + bit);
            }
            if self.word == 0 {
                return None;
            }
            self.word -= 1;
            self.bits = self.dots[self.word];
        }
    }
}

/// Slots probed past the home range, at most, before an empty one (see `build`).
const TAIL: usize = 8;

/// The high bit of every zero byte of `v` is set, and of no byte below the first zero byte.
/// (Bytes above the first zero may be flagged wrongly; callers only look below it, or re-check.)
#[inline(always)]
fn zero_bytes(v: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    v.wrapping_sub(LO) & !v & HI
}

/// The one-byte tag of a hash; never 0 (which marks an empty slot).
#[inline(always)]
fn tag(hash: u64) -> u8 {
    (hash as u8).max(1)
}

#[inline(always)]
fn label_bit(labels: u32) -> u64 {
    1u64 << (labels.clamp(1, 64) - 1)
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
        SuffixTable::build(&items, |r| RuleKey {
            policy: 0,
            rank: r,
            meta: 0,
        })
        .0
    }

    fn dots(name: &[u8]) -> [u64; 4] {
        let mut bits = [0u64; 4];
        for (i, _) in name.iter().enumerate().filter(|(_, &b)| b == b'.') {
            bits[i / 64] |= 1 << (i % 64);
        }
        bits
    }

    fn rule_of(hit: Hit<'_>) -> u32 {
        match hit {
            Hit::One(r, _) => r,
            Hit::Many(list) => list[0],
        }
    }

    fn rules_of(hit: Hit<'_>) -> Vec<u32> {
        match hit {
            Hit::One(r, _) => vec![r],
            Hit::Many(list) => list.to_vec(),
        }
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
        t.walk(
            b"x.api.kadath.io",
            b"x.api.kadath.io",
            &dots(b"x.api.kadath.io"),
            |d, s, h| seen.push((d, s, rule_of(h))),
        );
        assert_eq!(seen, vec![(3, 13, 0), (2, 6, 1), (1, 2, 2)]);
        seen.clear();
        t.walk(
            b"xkadath.io",
            b"xkadath.io",
            &dots(b"xkadath.io"),
            |d, s, h| seen.push((d, s, rule_of(h))),
        );
        assert_eq!(seen, vec![(1, 8, 0)]);
        seen.clear();
        t.walk(
            b"kadath.io",
            b"kadath.io",
            &dots(b"kadath.io"),
            |d, s, h| seen.push((d, s, rule_of(h))),
        );
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
        t.walk(
            name.as_bytes(),
            name.as_bytes(),
            &dots(name.as_bytes()),
            |d, s, h| {
                assert_eq!(&name[s..], labels[d as usize..].join("."));
                seen.push(rule_of(h));
            },
        );
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
        let (t, entry_of) = SuffixTable::build(&items, |r| RuleKey {
            policy: 0,
            rank: r,
            meta: 0,
        });
        let mut got = Vec::new();
        t.walk(b"a.io", b"a.io", &dots(b"a.io"), |_, _, h| {
            got.extend(rules_of(h))
        });
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
            t.walk(
                k.as_bytes(),
                k.as_bytes(),
                &dots(k.as_bytes()),
                |d, _, h| {
                    if d == 0 {
                        hit = Some(rule_of(h));
                    }
                },
            );
            assert_eq!(hit, Some(i as u32), "{k}");
            let miss = format!("x{k}");
            t.walk(
                miss.as_bytes(),
                miss.as_bytes(),
                &dots(miss.as_bytes()),
                |d, _, _| assert_ne!(d, 0, "{miss}"),
            );
        }
    }
}
