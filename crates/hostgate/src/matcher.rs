//! The shared name matcher: a hashed trie of label suffixes in one open-addressing table.
//!
//! Every name pattern except `*` and `~regex` has a literal suffix of whole labels
//! (`**.stripe.com` → `stripe.com`, `api-*.kadath.io` → `kadath.io`), its key. The table holds a
//! node for every key and for every suffix of a key (`stripe.com` also files `com`), each node
//! storing its first label and the slot of its parent. A lookup walks the query from the right,
//! one label at a time: it hashes the label into the hash of the suffix to its right (see
//! [`LabelWords`]), finds the node whose parent is the node found one step before and whose
//! label is this one, and reports the rules filed there. A suffix that is not a node ends the
//! walk: no longer suffix can be a key. Comparing a parent slot and one short label, instead of
//! a whole key, keeps the nodes small (24 bytes, labels of up to 12 bytes inline), so more of
//! the table stays in cache.
//!
//! Layout: slots in groups of eight, a one-byte tag per slot (0 = empty) kept as one word per
//! group, so a probe reads a small array that stays in cache and tests a group's eight tags at
//! once (SWAR); and a parallel array of nodes, read only when a tag matches. A suffix hashes to
//! a home group; probing runs forward group by group, without wrapping, and stops at a group
//! with an empty slot (inserts fill the first such group). The tag array ends with an empty
//! group, so every probe stops inside it. Within its group a node sits, where it can, in the
//! slot its hash prefers or one of the next two (at 200k rules 92 % of nodes do), so a probe
//! asks for those three slots' lines while it reads the tags: two lines, not the group's three.
//! The rules live in the engine; a node names one rule, or a list of them sorted by policy then
//! rank.

use crate::name::{head_word, word_ending};
use crate::pages::Store;
use crate::swar::{load_le, splat, zero_bytes};
use std::collections::HashMap;

/// The rules filed under one key: a single rule with its matcher bits (shape and flags, which
/// the engine interprets) inline, or a slice of the list arena (sorted by policy, then rank).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Hit<'t> {
    One(u32, u16),
    Many(&'t [u32]),
}

/// Labels up to this many bytes live inside their node: a hit then reads one line.
const INLINE_LABEL: usize = 12;

/// `Node::info` bits: label length in the low 6, the rule's meta in bits 8..24, and these.
const LABEL_LEN: u32 = 0x3f;
/// Some longer suffix is a node (`stripe.com` under `com`): without it a walk stops here, a
/// probe early, instead of probing the next label to find nothing.
const PARENT: u32 = 1 << 29;
const MANY: u32 = 1 << 30;
const NO_RULE: u32 = 1 << 31;
/// `Node::parent` of a last-label node (`com`).
const ROOT: u32 = u32::MAX;

/// One node: 24 bytes, no padding (so it is `Pod` and can live in a mapping).
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub(crate) struct Node {
    /// The label's [`LabelWords`] `low` word when the label is inline, else its offset in
    /// `SuffixTable::labels`.
    low: u64,
    /// The slot of the node for the suffix one label shorter, or `ROOT`.
    parent: u32,
    /// The rule, or (with `MANY`) the offset of its list in `lists`: a count, then the rules.
    rule_or_list: u32,
    info: u32,
    /// The `high` word of an inline label (at most 4 bytes for labels of up to 12).
    high: u32,
}

/// What the open-time check of a table's nodes found, gathered in one pass that can run in
/// pieces (an engine file checks each piece of its nodes right after checksumming it, while the
/// piece is still in cache, so the file is read from memory once).
#[derive(Clone, Copy, Debug)]
pub(crate) struct NodeScan {
    /// Every node's parent, long label and single rule are in range.
    all_ok: bool,
    /// Some node files a rule list.
    many: bool,
    /// Check the nodes whose copy of their rule's shape says glob for the rule's head: set
    /// when some rule is a glob. An engine file's scan takes it from the rules' shapes (see
    /// [`NodeScan::with_globs`]), not from each node: a node that says glob in an engine without
    /// glob rules finds no head when looked up, so it matches nothing, and costs no test here.
    globs: bool,
}

impl Default for NodeScan {
    fn default() -> Self {
        NodeScan {
            all_ok: true,
            many: false,
            globs: false,
        }
    }
}

impl NodeScan {
    /// Adds `nodes` (some of a table of `slots` slots, `labels_len` long-label bytes and
    /// `rules` rules) to the scan.
    pub(crate) fn add(&mut self, nodes: &[Node], slots: u64, labels_len: u64, rules: u32) {
        // Without branches, and with maxima and OR-ed bits instead of a test per node (the
        // largest long-label end, parent slot + 1 and single rule + 1; the info bits that say
        // list): the table may have millions of nodes and this runs on every open. `ROOT + 1`
        // wraps to 0, so a root parent always passes.
        let (mut label_end, mut parent1, mut rule1) = (0u64, 0u32, 0u64);
        let mut many = 0u32;
        // Masks, not `if`: whether a slot is filled is a coin toss, which a branch mispredicts.
        let mask64 = |keep: bool| 0u64.wrapping_sub(u64::from(keep));
        for n in nodes {
            let info = n.info;
            let len = u64::from(info & LABEL_LEN);
            label_end =
                label_end.max(n.low.saturating_add(len) & mask64(len > INLINE_LABEL as u64));
            parent1 = parent1.max(n.parent.wrapping_add(1));
            let one = info & (NO_RULE | MANY) == 0;
            rule1 = rule1.max((u64::from(n.rule_or_list) + 1) & mask64(one));
            // Bit 30 (MANY) set with bit 31 (NO_RULE) clear: a list.
            many |= info & !(info >> 1);
        }
        self.all_ok &=
            (label_end <= labels_len) & (u64::from(parent1) <= slots) & (rule1 <= u64::from(rules));
        self.many |= many & MANY != 0;
    }

    /// The scan, to check glob nodes' heads when `globs` (some rule is a glob).
    pub(crate) fn with_globs(mut self, globs: bool) -> NodeScan {
        self.globs = globs;
        self
    }

    /// Adds what another scan (of other nodes of the same table) found.
    pub(crate) fn merge(&mut self, other: NodeScan) {
        self.all_ok &= other.all_ok;
        self.many |= other.many;
        self.globs |= other.globs;
    }
}

/// A node's parent, long label and single rule are in range.
#[inline(always)]
fn node_ok(n: &Node, slots: u64, labels_len: u64, rules: u32) -> bool {
    let len = u64::from(n.info & LABEL_LEN);
    let long = len > INLINE_LABEL as u64;
    let label_ok = !long | (n.low.saturating_add(len) <= labels_len);
    let parent_ok = (n.parent == ROOT) | (u64::from(n.parent) < slots);
    let one = n.info & (NO_RULE | MANY) == 0;
    let rule_ok = !one | (n.rule_or_list < rules);
    label_ok & parent_ok & rule_ok
}

/// A node's copy of its rule's shape (bits 16..24 of `info`, see `pack_meta`) says glob.
#[inline(always)]
fn glob_meta(n: &Node) -> bool {
    (n.info & (NO_RULE | MANY) == 0) & ((n.info >> 16) & 7 == 4)
}

impl Default for Node {
    fn default() -> Self {
        Node {
            low: 0,
            parent: ROOT,
            rule_or_list: 0,
            info: NO_RULE,
            high: 0,
        }
    }
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// The high and low halves of a 128-bit product, folded: one multiply that mixes every input
/// bit into the whole word.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// One label of a name read as words, aligned to the label's end: `low` holds its last eight
/// bytes (all of it when it is shorter, in the low bytes, zeros above), `high` the up to eight
/// bytes before those. These words are both what is hashed and what is compared with a node's
/// inline label, so a probe loads each byte of the name once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LabelWords {
    low: u64,
    high: u64,
}

impl LabelWords {
    /// The label `name[start..end]` (`head` is the name's [`head_word`]).
    #[inline(always)]
    fn read(name: &[u8], head: u64, start: usize, end: usize) -> LabelWords {
        // Without a branch on the label's length: it mispredicts on about one label in two.
        let len = end - start;
        let last = word_ending(name, end, head);
        // The bytes before the last eight: in the word from `end - 16` on, or, near the
        // name's start, in its first word (whose bytes past `end - 8` the mask drops).
        let from = end.saturating_sub(16);
        let before = load_le(name, from);
        let mask = 1u64
            .checked_shl(8 * len.saturating_sub(8) as u32)
            .map_or(u64::MAX, |m| m - 1);
        LabelWords {
            // A label has at least one byte: the shift is at most 56.
            low: last >> ((8 * (8 - len.min(8))) & 63),
            // Nothing (mask 0) for a label of up to 8 bytes.
            high: (before >> ((8 * start.saturating_sub(from)) & 63)) & mask,
        }
    }
}

/// The hash of a label suffix: the hash of the suffix one label shorter (`SEED` for none)
/// with this label folded in. Labels of more than 16 bytes fold their remaining words too.
#[inline(always)]
fn fold_label(h: u64, words: LabelWords, name: &[u8], head: u64, start: usize, end: usize) -> u64 {
    let len = end - start;
    let h = fold_mul(h ^ words.low, (words.high ^ K).wrapping_add(len as u64));
    if len > 16 {
        fold_long_label(h, name, head, start, end)
    } else {
        h
    }
}

/// The rest of a label longer than 16 bytes, eight bytes at a time from its end. Out of line:
/// rare, and it would crowd the registers of the walk.
#[cold]
#[inline(never)]
fn fold_long_label(mut h: u64, name: &[u8], head: u64, start: usize, end: usize) -> u64 {
    let mut at = end - 16;
    while at > start {
        let w = word_ending(name, at, head);
        let w = if at - start >= 8 {
            w
        } else {
            w >> (8 * (8 - (at - start)))
        };
        h = fold_mul(h ^ w, K);
        at = at.saturating_sub(8);
    }
    h
}

/// Calls `f(hash, words, start, end)` for each label `key[start..end]` of a key, right to
/// left, with the hash of the suffix it starts, computed exactly as a query walk does.
fn for_each_label(key: &[u8], mut f: impl FnMut(u64, LabelWords, usize, usize)) {
    let head = head_word(key);
    let mut h = SEED;
    let mut end = key.len();
    loop {
        let start = key[..end]
            .iter()
            .rposition(|&b| b == b'.')
            .map_or(0, |d| d + 1);
        let words = LabelWords::read(key, head, start, end);
        h = fold_label(h, words, key, head, start, end);
        f(h, words, start, end);
        if start == 0 {
            return;
        }
        end = start - 1;
    }
}

/// The number of distinct values: bucketed by their top bits (about eight values a bucket),
/// then each bucket sorted on its own. Two passes over the values and a few small sorts, several
/// times faster than one comparison sort of the 500k suffix hashes of a 200k-rule policy.
fn count_distinct(v: &[u64]) -> usize {
    let bits = (usize::BITS - v.len().leading_zeros()).clamp(4, 19) - 3;
    let shift = 64 - bits;
    let bucket = |x: u64| (x >> shift) as usize;
    // starts[b + 1] counts bucket b, then (summed) starts[b] is where bucket b begins.
    let mut starts = vec![0usize; (1 << bits) + 1];
    for &x in v {
        if let Some(c) = starts.get_mut(bucket(x) + 1) {
            *c += 1;
        }
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut sorted = vec![0u64; v.len()];
    for &x in v {
        if let Some(at) = next.get_mut(bucket(x)) {
            if let Some(slot) = sorted.get_mut(*at) {
                *slot = x;
            }
            *at += 1;
        }
    }
    starts
        .windows(2)
        .map(|w| {
            let b = sorted.get_mut(w[0]..w[1]).unwrap_or(&mut []);
            b.sort_unstable();
            b.windows(2).filter(|p| p[0] != p[1]).count() + usize::from(!b.is_empty())
        })
        .sum()
}

/// How large a table to make for a set of keys: the number of distinct label suffixes among
/// them (see [`count_distinct`]), and the most labels of a key. Computed while the rules are
/// being compiled (see `Engine`), off the compile's main thread; `keys` is how many keys it
/// counted, so that a build can tell it belongs to its items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sizing {
    pub(crate) keys: usize,
    pub(crate) distinct: usize,
    pub(crate) max_labels: u32,
}

/// Label-suffix hashes of keys, gathered for a [`Sizing`].
#[derive(Debug, Default)]
pub(crate) struct SuffixHashes {
    hashes: Vec<u64>,
    keys: usize,
    max_labels: u32,
}

impl SuffixHashes {
    /// Adds the hash of every label suffix of `key` (a valid lowercase host name).
    pub(crate) fn add(&mut self, key: &[u8]) {
        let mut labels = 0;
        for_each_label(key, |h, _, _, _| {
            self.hashes.push(h);
            labels += 1;
        });
        self.keys += 1;
        self.max_labels = self.max_labels.max(labels);
    }

    /// Adds another set's hashes.
    pub(crate) fn extend(&mut self, other: SuffixHashes) {
        self.hashes.extend(other.hashes);
        self.keys += other.keys;
        self.max_labels = self.max_labels.max(other.max_labels);
    }

    /// The sizing: the distinct hashes counted.
    pub(crate) fn sizing(self) -> Sizing {
        Sizing {
            keys: self.keys,
            distinct: count_distinct(&self.hashes),
            max_labels: self.max_labels,
        }
    }
}

/// The table's arrays: growable while the table is built, then frozen (see [`Store`]).
#[derive(Debug, Default)]
struct Arrays {
    /// Per group of eight slots, their tags (slot `8g + i` in byte `i`): 0 when empty, else a
    /// tag from the suffix's hash (1..=255).
    tags: Store<u64>,
    /// Per slot: the node (meaningful where the tag is not 0).
    nodes: Store<Node>,
    /// Labels longer than `INLINE_LABEL`.
    labels: Store<u8>,
    lists: Store<u32>,
}

/// The arrays as slices.
#[derive(Clone, Copy, Debug)]
struct Slices<'a> {
    tags: &'a [u64],
    nodes: &'a [Node],
    labels: &'a [u8],
    lists: &'a [u32],
}

impl<'a> Slices<'a> {
    fn of(a: &'a Arrays) -> Slices<'a> {
        Slices {
            tags: &a.tags,
            nodes: &a.nodes,
            labels: &a.labels,
            lists: &a.lists,
        }
    }
}

self_cell::self_cell!(
    /// A built table's arrays with their slices, taken once when it is built: reading a frozen
    /// [`Store`] checks its mapping (bounds, alignment, item size), which a lookup would
    /// otherwise pay for on every call. `self_cell` keeps the slices beside what they borrow,
    /// without `unsafe` here.
    struct Frozen {
        owner: Arrays,
        #[covariant]
        dependent: Slices,
    }
    impl {Debug}
);

/// The suffix table, built once and then read-only.
#[derive(Debug)]
pub(crate) struct SuffixTable {
    arrays: Frozen,
    /// Hashes map onto groups `0..home_groups`; the arrays are longer (see the module doc).
    home_groups: usize,
    /// No key has more labels than this: longer suffixes need not be probed.
    max_labels: u32,
    /// Some one-label key (`com`) has rules. Usually not: the walk then does not probe the
    /// last label of a name on its own, but checks it as the parent of the next.
    last_label_rules: bool,
}

/// A table being built: its growable arrays, and the number of home groups.
struct Building {
    a: Arrays,
    home_groups: usize,
    /// Per slot: its node's preferred slot, plus `AT_HOME` when the node is in its home group
    /// (see [`Building::settle`]).
    prefs: Vec<u8>,
}

/// `Building::prefs`: the node sits in its home group.
const AT_HOME: u8 = 8;

/// The slots from a node's preferred one on that a probe prefetches (see [`prefetch_near`]).
const WINDOW: usize = 3;

impl Building {
    /// The slot of the node for `key[start..]` under `parent`, added (without rules) if new.
    fn find_or_insert(
        &mut self,
        hash: u64,
        parent: u32,
        words: LabelWords,
        key: &[u8],
        start: usize,
        end: usize,
    ) -> u32 {
        let view = View {
            a: Slices::of(&self.a),
            home_groups: self.home_groups,
            max_labels: 0,
            last_label_rules: false,
        };
        let found = view.probe(hash, |p| p == parent, words, key, start, end);
        if let Some(slot) = found {
            return slot as u32;
        }
        // The first group with an empty slot from home on: where a probe stops.
        let home_g = home(hash, self.home_groups);
        let mut g = home_g;
        while zero_bytes(self.a.tags[g]) == 0 {
            g += 1;
        }
        // Keep an empty group last, so probes never run off the end.
        if g + 1 == self.a.tags.len() {
            self.a.tags.vec_mut().push(0);
            let slots = self.a.tags.len() * 8;
            self.a.nodes.vec_mut().resize(slots, Node::default());
            self.prefs.resize(slots, 0);
        }
        // The first empty slot from the hash's preferred one on (then from the group's start):
        // a probe asks for the lines of the preferred slot and the two after it. (`settle`
        // rearranges the group once every node is in.)
        let word = self.a.tags[g];
        let want = pref(hash);
        let free = (want..8)
            .chain(0..want)
            .find(|&s| (word >> (8 * s)) & 0xff == 0)
            .unwrap_or(0) as u32;
        let s = g * 8 + free as usize;
        let label = &key[start..end];
        let mut node = Node {
            parent,
            info: NO_RULE | label.len() as u32,
            ..Node::default()
        };
        if label.len() <= INLINE_LABEL {
            node.low = words.low;
            node.high = words.high as u32;
        } else {
            node.low = self.a.labels.len() as u64;
            self.a.labels.vec_mut().extend_from_slice(label);
        }
        self.a.tags[g] |= u64::from(tag(hash)) << (8 * free);
        self.a.nodes[s] = node;
        if let Some(p) = self.prefs.get_mut(s) {
            *p = want as u8 | if g == home_g { AT_HOME } else { 0 };
        }
        if let Some(p) = self.a.nodes.get_mut(parent as usize) {
            p.info |= PARENT;
        }
        s as u32
    }
}

impl Building {
    /// Moves nodes within their groups so that as many as can sit among the three slots from
    /// their preferred one on, the lines a probe asks for early (see [`prefetch_near`]): first
    /// come, first served leaves 15 % of the nodes outside them at 200k rules (8 % after this,
    /// most of them overflow in a later group), and each costs a cache-cold lookup a second
    /// miss. Per group, a maximum matching of its home nodes
    /// to those slots (a few augmenting paths over eight slots); the rest fill what is left. A
    /// group keeps the same occupied count, so probes end where they did. Returns where each
    /// slot's node went; parents are renumbered here.
    fn settle(&mut self) -> Vec<u32> {
        let slots = self.a.nodes.len();
        let mut moved: Vec<u32> = (0..slots as u32).collect();
        for g in 0..self.a.tags.len() {
            let base = g * 8;
            let (Some(prefs), Some(&word)) = (self.prefs.get(base..base + 8), self.a.tags.get(g))
            else {
                continue;
            };
            let taken = |i: usize| (word >> (8 * i)) & 0xff != 0;
            let window = |i: usize| {
                let p = prefs[i];
                let off = (i + 8 - usize::from(p & 7)) % 8;
                p & AT_HOME == 0 || off < WINDOW
            };
            if (0..8).all(|i| !taken(i) || window(i)) {
                continue; // already every home node in its window (most groups)
            }
            // owner[new slot] = old slot.
            let mut owner = [usize::MAX; 8];
            for i in (0..8).filter(|&i| taken(i) && prefs[i] & AT_HOME != 0) {
                let mut seen = [false; 8];
                augment(i, prefs, &mut owner, &mut seen);
            }
            // Everything unplaced: its own slot if free, else the first free one.
            let mut placed = [false; 8];
            for &o in owner.iter().filter(|&&o| o < 8) {
                placed[o] = true;
            }
            for i in (0..8).filter(|&i| taken(i) && !placed[i]) {
                let to = if owner[i] == usize::MAX {
                    i
                } else {
                    (0..8).find(|&t| owner[t] == usize::MAX).unwrap_or(i)
                };
                owner[to] = i;
            }
            let mut old_nodes = [Node::default(); 8];
            old_nodes.copy_from_slice(&self.a.nodes[base..base + 8]);
            let mut old_prefs = [0u8; 8];
            old_prefs.copy_from_slice(&self.prefs[base..base + 8]);
            let mut new_word = 0u64;
            for (to, &from) in owner.iter().enumerate() {
                if from < 8 {
                    self.a.nodes[base + to] = old_nodes[from];
                    self.prefs[base + to] = old_prefs[from];
                    new_word |= ((word >> (8 * from)) & 0xff) << (8 * to);
                    moved[base + from] = (base + to) as u32;
                } else {
                    self.a.nodes[base + to] = Node::default();
                    self.prefs[base + to] = 0;
                }
            }
            self.a.tags[g] = new_word;
        }
        for n in self.a.nodes.vec_mut() {
            if let Some(&to) = moved.get(n.parent as usize) {
                n.parent = to;
            }
        }
        moved
    }
}

/// One augmenting path of Kuhn's matching: places the node in slot `i` (of a group) among the
/// three slots from its preferred one on, moving others along their own windows.
fn augment(i: usize, prefs: &[u8], owner: &mut [usize; 8], seen: &mut [bool; 8]) -> bool {
    let p = usize::from(prefs.get(i).copied().unwrap_or(0) & 7);
    for k in 0..WINDOW {
        let s = (p + k) % 8;
        if seen[s] {
            continue;
        }
        seen[s] = true;
        if owner[s] == usize::MAX || augment(owner[s], prefs, owner, seen) {
            owner[s] = i;
            return true;
        }
    }
    false
}

impl SuffixTable {
    /// Builds the table from (key, rule) pairs. `order` gives each rule's (policy, rank), the
    /// order of rules under one key; `meta` its 16 matcher bits. Keys are valid lowercase host
    /// names. Returns the table and, per input pair, its node (see [`SuffixTable::key`]).
    pub(crate) fn build(
        items: &[(String, u32)],
        sizing: Option<Sizing>,
        order: impl Fn(u32) -> (u32, u32),
        meta: impl Fn(u32) -> u16,
    ) -> (SuffixTable, Vec<u32>) {
        // Size the table by the number of distinct suffixes, counted by their hashes (a hash
        // collision could only undercount by a node or two, which the load factor absorbs);
        // counted here unless the caller did (for these very keys).
        let sizing = sizing.filter(|s| s.keys == items.len()).unwrap_or_else(|| {
            let mut h = SuffixHashes::default();
            for (key, _) in items {
                h.add(key.as_bytes());
            }
            h.sizing()
        });
        let Sizing {
            distinct,
            max_labels,
            ..
        } = sizing;
        // Load factor 0.75: most probes then end in their home group.
        let groups = (distinct + distinct / 3).div_ceil(8).max(2);
        let mut t = Building {
            a: Arrays {
                tags: Store::from(vec![0; groups + 1]),
                nodes: Store::from(vec![Node::default(); (groups + 1) * 8]),
                ..Arrays::default()
            },
            home_groups: groups,
            prefs: vec![0; (groups + 1) * 8],
        };
        // Insert every key's suffixes, shortest first, finding or adding each node; rules are
        // visited in (policy, rank) order so each node's rules come out in that order.
        // Sort keys computed once (a comparison that looked the rule up would miss the cache
        // on every call); the item index as the last field keeps equal keys in input order.
        // Items usually come in that order already (one policy, first-match): then no sort.
        let mut idx: Vec<(u32, u32, u32)> = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let (policy, rank) = order(item.1);
                (policy, rank, i as u32)
            })
            .collect();
        if !idx.windows(2).all(|w| w[0] <= w[1]) {
            idx.sort_unstable();
        }
        let mut node_of = vec![0u32; items.len()];
        // A node's first rule goes into the node; the rare further ones into a list per node,
        // in the same (policy, rank) order.
        let mut more: HashMap<u32, Vec<u32>> = HashMap::new();
        for &(_, _, i) in &idx {
            let i = i as usize;
            let (key, rule) = (items[i].0.as_bytes(), items[i].1);
            let mut parent = ROOT;
            for_each_label(key, |h, words, start, end| {
                parent = t.find_or_insert(h, parent, words, key, start, end);
            });
            node_of[i] = parent;
            let Some(node) = t.a.nodes.get_mut(parent as usize) else {
                continue;
            };
            if node.info & NO_RULE != 0 {
                node.info = (node.info & !NO_RULE) | u32::from(meta(rule)) << 8;
                node.rule_or_list = rule;
            } else {
                more.entry(parent)
                    .or_insert_with(|| vec![node.rule_or_list])
                    .push(rule);
            }
        }
        // Nodes with several rules point at their list (filed in slot order, so the layout
        // does not depend on the map's iteration order).
        let mut more: Vec<(u32, Vec<u32>)> = more.into_iter().collect();
        more.sort_unstable_by_key(|m| m.0);
        for (slot, rules) in more {
            let off = t.a.lists.len() as u32;
            let lists = t.a.lists.vec_mut();
            lists.push(rules.len() as u32);
            lists.extend_from_slice(&rules);
            if let Some(node) = t.a.nodes.get_mut(slot as usize) {
                node.info = (node.info & (LABEL_LEN | PARENT)) | MANY;
                node.rule_or_list = off;
            }
        }
        let moved = t.settle();
        for n in &mut node_of {
            if let Some(&to) = moved.get(*n as usize) {
                *n = to;
            }
        }
        let last_label_rules =
            t.a.nodes
                .iter()
                .any(|n| n.parent == ROOT && n.info & NO_RULE == 0);
        // The arrays may have grown past the home range while inserting: give back the slack,
        // and put the large ones on huge pages (see `pages`).
        let mut a = t.a;
        a.tags.freeze();
        a.nodes.freeze();
        a.labels.freeze();
        a.lists.freeze();
        let table = SuffixTable {
            arrays: Frozen::new(a, |a| Slices::of(a)),
            home_groups: t.home_groups,
            max_labels,
            last_label_rules,
        };
        (table, node_of)
    }

    /// The four arrays as bytes (tags, nodes, labels, lists) and the table's sizes
    /// (`home_groups`, `max_labels`), for an engine file.
    pub(crate) fn parts(&self) -> ([&[u8]; 4], u64, u32, bool) {
        let a = self.arrays.borrow_dependent();
        (
            [
                bytemuck::cast_slice(a.tags),
                bytemuck::cast_slice(a.nodes),
                a.labels,
                bytemuck::cast_slice(a.lists),
            ],
            self.home_groups as u64,
            self.max_labels,
            self.last_label_rules,
        )
    }

    /// Whether every array is read in place from shared bytes.
    pub(crate) fn is_shared(&self) -> bool {
        let a = self.arrays.borrow_owner();
        a.tags.is_shared() && a.nodes.is_shared()
    }

    /// A table from the arrays and sizes [`SuffixTable::parts`] gave, checked so that no
    /// lookup can index out of range, loop without end, or name a rule that is not there:
    /// `rules` is the engine's rule count, `policy_of` the policy of a rule (by which a node's
    /// list of rules must be sorted), and `glob_ok` whether a rule has a glob head, which a
    /// node's copy of its rule's shape may only say when it does. `last_label_rules` is taken
    /// as given, not checked against the nodes: it only says whether a lookup probes the last
    /// label, so a wrong one changes which rules match, never what a lookup reads. The error
    /// says what is wrong.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        tags: Store<u64>,
        nodes: Store<Node>,
        labels: Store<u8>,
        lists: Store<u32>,
        home_groups: u64,
        max_labels: u32,
        last_label_rules: bool,
        rules: u32,
        policy_of: impl Fn(u32) -> usize,
        glob_ok: impl Fn(u32) -> bool,
        scan: Option<NodeScan>,
    ) -> Result<SuffixTable, String> {
        let groups = tags.len();
        if groups < 2 || nodes.len() != groups.saturating_mul(8) {
            return Err(format!(
                "the table has {groups} tag groups and {} nodes (8 per group, at least 2 groups)",
                nodes.len()
            ));
        }
        let home_groups = usize::try_from(home_groups).unwrap_or(usize::MAX);
        if home_groups == 0 || home_groups >= groups {
            return Err(format!(
                "the table's {home_groups} home groups do not fit its {groups} groups"
            ));
        }
        if tags.last() != Some(&0) {
            return Err("the table does not end with an empty group".into());
        }
        // A name has at most 127 labels.
        if max_labels > 128 {
            return Err(format!("the table claims keys of {max_labels} labels"));
        }
        let slots = nodes.len() as u64;
        let labels_len = labels.len() as u64;
        let scan = match scan {
            Some(s) => s,
            None => {
                let mut s = NodeScan::default();
                s.add(&nodes[..], slots, labels_len, rules);
                s.with_globs(nodes.iter().any(glob_meta))
            }
        };
        let NodeScan {
            all_ok,
            many,
            globs,
        } = scan;
        let node_ok = |n: &Node| node_ok(n, slots, labels_len, rules);
        if !all_ok {
            let (slot, n) = nodes
                .iter()
                .enumerate()
                .find(|(_, n)| !node_ok(n))
                .unwrap_or((0, &nodes[0]));
            return Err(format!(
                "table node {slot} is out of range (label at {} of {labels_len} bytes, parent \
                 {}, rule {} of {rules})",
                n.low, n.parent, n.rule_or_list
            ));
        }
        if globs {
            if let Some(slot) = nodes
                .iter()
                .position(|n| glob_meta(n) && !glob_ok(n.rule_or_list))
            {
                return Err(format!(
                    "table node {slot} files a glob rule without its head"
                ));
            }
        }
        if many {
            for (slot, n) in nodes.iter().enumerate() {
                if n.info & (NO_RULE | MANY) != MANY {
                    continue;
                }
                let off = n.rule_or_list as usize;
                let list = lists.get(off).and_then(|&count| {
                    lists.get(off.checked_add(1)?..off.checked_add(1)?.checked_add(count as usize)?)
                });
                let Some(list) = list else {
                    return Err(format!(
                        "the rule list of table node {slot} is out of range"
                    ));
                };
                if list.iter().any(|&g| g >= rules)
                    || list.windows(2).any(|w| policy_of(w[0]) > policy_of(w[1]))
                {
                    return Err(format!(
                        "the rule list of table node {slot} names a rule out of range or is \
                         not sorted by policy"
                    ));
                }
            }
        }
        let a = Arrays {
            tags,
            nodes,
            labels,
            lists,
        };
        Ok(SuffixTable {
            arrays: Frozen::new(a, |a| Slices::of(a)),
            home_groups,
            max_labels,
            last_label_rules,
        })
    }

    /// Approximate heap bytes.
    pub(crate) fn heap_size(&self) -> usize {
        let a = self.arrays.borrow_owner();
        a.tags.bytes() + a.nodes.bytes() + a.labels.bytes() + a.lists.bytes()
    }

    /// The first label of a node.
    fn label_bytes(&self, n: &Node) -> Vec<u8> {
        let len = (n.info & 0x3f) as usize;
        if len <= INLINE_LABEL {
            // Undo `LabelWords::read`: `high` holds the first len - 8 bytes, `low` the rest.
            let mut bytes: Vec<u8> = u64::from(n.high).to_le_bytes().to_vec();
            bytes.truncate(len.saturating_sub(8));
            let low = n.low.to_le_bytes();
            bytes.extend_from_slice(&low[..len.min(8)]);
            bytes
        } else {
            let start = n.low as usize;
            self.view()
                .a
                .labels
                .get(start..start + len)
                .unwrap_or(&[])
                .to_vec()
        }
    }

    /// The key of a node (for showing a rule's pattern): its labels, up the parents.
    pub(crate) fn key(&self, node: u32) -> String {
        let mut key = String::new();
        let mut at = node;
        // A node's parent was placed before it, so the chain ends; bound it anyway.
        for _ in 0..=self.max_labels {
            let Some(n) = self.view().a.nodes.get(at as usize) else {
                break;
            };
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(core::str::from_utf8(&self.label_bytes(n)).unwrap_or(""));
            at = n.parent;
        }
        key
    }

    /// Calls `visit(depth, suffix_start, hit)` for every label suffix of `name` that is a key,
    /// shortest suffix first. `depth` is the number of labels left of the suffix, counted up to
    /// 2 (2 = two or more). `name` is a valid lowercase host name; `dots` marks its dot
    /// positions.
    #[inline]
    pub(crate) fn walk(
        &self,
        name: &[u8],
        dots: [u64; 4],
        mut visit: impl FnMut(u32, usize, Hit<'_>),
    ) {
        if name.len() <= 64 {
            // Nearly all names: their dots fit one word, and the next label start is found
            // without a branch (`64 - leading_zeros` is the highest dot + 1, or 0 for none).
            let mut bits = dots[0];
            let next = || {
                let start = 64 - bits.leading_zeros() as usize;
                bits &= !(1u64 << (start.wrapping_sub(1) & 63));
                start
            };
            self.view()
                .walk_labels::<true>(name, dots, next, &mut visit);
        } else {
            self.view().walk_long(name, dots, &mut visit);
        }
    }

    /// The arrays as slices, for a lookup (or an insert's probe).
    #[inline(always)]
    fn view(&self) -> View<'_> {
        View {
            a: *self.arrays.borrow_dependent(),
            home_groups: self.home_groups,
            max_labels: self.max_labels,
            last_label_rules: self.last_label_rules,
        }
    }
}

/// The table's arrays as plain slices (taken when the table was built, see [`Frozen`]) and
/// its sizes, for a lookup. Its methods take it by value: inlined, its fields then stay
/// scalars, where a reference made every lookup copy the whole view to the stack.
#[derive(Clone, Copy, Debug)]
struct View<'t> {
    a: Slices<'t>,
    home_groups: usize,
    max_labels: u32,
    last_label_rules: bool,
}

impl<'t> View<'t> {
    /// Whether `node`'s first label is `name[start..end]` (read as `words`).
    #[inline(always)]
    fn label_is(
        self,
        node: &Node,
        words: LabelWords,
        name: &[u8],
        start: usize,
        end: usize,
    ) -> bool {
        let len = end - start;
        if (node.info & 0x3f) as usize != len {
            return false;
        }
        if len <= INLINE_LABEL {
            return node.low == words.low && u64::from(node.high) == words.high;
        }
        let off = node.low as usize;
        self.a.labels.get(off..off + len) == name.get(start..end)
    }

    /// The slot of the node for `name[start..]` (first label `name[start..end]`) whose parent
    /// passes `parent_ok`, given the suffix's hash.
    #[inline(always)]
    fn probe(
        self,
        hash: u64,
        parent_ok: impl Fn(u32) -> bool,
        words: LabelWords,
        name: &[u8],
        start: usize,
        end: usize,
    ) -> Option<usize> {
        let want = splat(tag(hash));
        let mut g = home(hash, self.home_groups);
        // The nodes from the hash's preferred slot on, where its node most likely sits (see
        // `Building::find_or_insert`): asked for while the tag word is read, since which slot is
        // wanted is known only from the tags, and waiting for them before asking for the node
        // puts two cache misses in a row on every level of the walk.
        let at = g * 8 + pref(hash);
        if let Some(near) = self.a.nodes.get(at..) {
            prefetch_near(near);
        }
        loop {
            // Past the end only if the table is corrupt: stop as if empty.
            let word = self.a.tags.get(g).copied().unwrap_or(0);
            // Candidates may include a wrong byte or two above a zero byte; the node check
            // settles them (an empty slot's node never matches: its label length is 0).
            let mut candidates = zero_bytes(word ^ want);
            while candidates != 0 {
                let slot = g * 8 + (candidates.trailing_zeros() / 8) as usize;
                candidates &= candidates - 1;
                if let Some(n) = self.a.nodes.get(slot) {
                    if parent_ok(n.parent) && self.label_is(n, words, name, start, end) {
                        return Some(slot);
                    }
                }
            }
            if zero_bytes(word) != 0 {
                return None;
            }
            g += 1;
        }
    }

    /// The rules filed at a node, from its `info` and `rule_or_list`.
    #[inline(always)]
    fn hit(self, info: u32, rule_or_list: u32) -> Option<Hit<'t>> {
        if info & (NO_RULE | MANY) == 0 {
            Some(Hit::One(rule_or_list, (info >> 8) as u16))
        } else if info & NO_RULE != 0 {
            None
        } else {
            let off = rule_or_list as usize;
            let count = *self.a.lists.get(off)? as usize;
            self.a.lists.get(off + 1..off + 1 + count).map(Hit::Many)
        }
    }

    /// [`SuffixTable::walk`] for names of more than 64 bytes: rare, so out of line, which
    /// keeps the common path's code (and its one call of `visit`) small enough to inline.
    #[inline(never)]
    fn walk_long(self, name: &[u8], dots: [u64; 4], visit: &mut impl FnMut(u32, usize, Hit<'_>)) {
        let mut starts = Labels::new(&dots, name.len());
        let next = || starts.next().map_or(0, |dot| dot + 1);
        self.walk_labels::<false>(name, dots, next, visit);
    }

    /// [`SuffixTable::walk`], given `next_start()`: the start of each label from the right.
    /// `SHORT`: the name has at most 64 bytes, so all its dots are in `dots[0]`.
    #[inline(always)]
    fn walk_labels<const SHORT: bool>(
        self,
        name: &[u8],
        dots: [u64; 4],
        mut next_start: impl FnMut() -> usize,
        visit: &mut impl FnMut(u32, usize, Hit<'_>),
    ) {
        let head = head_word(name);
        let mut parent = ROOT;
        let mut hash = SEED;
        let mut end = name.len();
        // Nodes with rules, reported after the walk: whether a node has rules is close to a
        // coin toss per level, and a branch on it inside the walk mispredicts.
        let mut pending = [Pending::default(); 4];
        let mut count = 0;
        let mut level = 0;
        'walk: {
            if !self.last_label_rules {
                if dot_words::<SHORT>(&dots).iter().all(|&w| w == 0) || self.max_labels < 2 {
                    // Only one-label keys could match, and none has rules.
                    break 'walk;
                }
                // The last label (`com`) files no rule: skip its probe and check it as the
                // parent of the next level's node instead (top-level nodes are few and stay
                // in cache).
                let (start, last_end) = (next_start(), end);
                let last = LabelWords::read(name, head, start, end);
                hash = fold_label(hash, last, name, head, start, end);
                end = start.saturating_sub(1);
                let start2 = next_start();
                let words = LabelWords::read(name, head, start2, end);
                hash = fold_label(hash, words, name, head, start2, end);
                let is_last = |p: u32| {
                    self.a.nodes.get(p as usize).is_some_and(|n| {
                        n.parent == ROOT && self.label_is(n, last, name, start, last_end)
                    })
                };
                let Some(slot) = self.probe(hash, is_last, words, name, start2, end) else {
                    break 'walk;
                };
                let (info, rules) = self
                    .a
                    .nodes
                    .get(slot)
                    .map_or((NO_RULE, 0), |n| (n.info, n.rule_or_list));
                pending[0] = Pending {
                    info,
                    rules,
                    start: start2 as u32,
                };
                count = usize::from(info & NO_RULE == 0);
                if start2 == 0 || info & PARENT == 0 {
                    break 'walk; // the whole name, or no longer key
                }
                parent = slot as u32;
                end = start2 - 1;
                level = 2;
            }
            while level < self.max_labels {
                let start = next_start();
                let words = LabelWords::read(name, head, start, end);
                hash = fold_label(hash, words, name, head, start, end);
                let Some(slot) = self.probe(hash, |p| p == parent, words, name, start, end) else {
                    // No key ends with this suffix.
                    break;
                };
                let (info, rules) = self
                    .a
                    .nodes
                    .get(slot)
                    .map_or((NO_RULE, 0), |n| (n.info, n.rule_or_list));
                pending[count & 3] = Pending {
                    info,
                    rules,
                    start: start as u32,
                };
                count += usize::from(info & NO_RULE == 0);
                if count == pending.len() {
                    self.report_full::<SHORT>(dots, &pending, visit);
                    count = 0;
                }
                if start == 0 || info & PARENT == 0 {
                    break; // the whole name, or no longer key
                }
                parent = slot as u32;
                end = start - 1;
                level += 1;
            }
        }
        self.report::<SHORT>(dots, pending.get(..count).unwrap_or(&[]), visit);
    }

    /// Calls `visit` for the rules of each pending node.
    #[inline(always)]
    fn report<const SHORT: bool>(
        self,
        dots: [u64; 4],
        pending: &[Pending],
        visit: &mut impl FnMut(u32, usize, Hit<'_>),
    ) {
        for p in pending {
            if let Some(hit) = self.hit(p.info, p.rules) {
                let start = p.start as usize;
                let depth = if SHORT {
                    depth_short(dots[0], start)
                } else {
                    dots_before(&dots, start).min(2)
                };
                visit(depth, start, hit);
            }
        }
    }

    /// [`View::report`] for a full batch in the middle of a walk: a name with more than
    /// four suffixes that carry rules. Rare, so out of line.
    #[cold]
    #[inline(never)]
    fn report_full<const SHORT: bool>(
        self,
        dots: [u64; 4],
        pending: &[Pending],
        visit: &mut impl FnMut(u32, usize, Hit<'_>),
    ) {
        self.report::<SHORT>(dots, pending, visit);
    }
}

/// A node the walk found with rules, reported after the walk: its `info` and `rule_or_list`,
/// and where its suffix starts in the name.
#[derive(Clone, Copy, Debug, Default)]
struct Pending {
    info: u32,
    rules: u32,
    start: u32,
}

/// The words of a dot bitmap that can hold dots: only the first for a name of at most 64
/// bytes (`SHORT`), so the loops over them reduce to one word.
#[inline(always)]
fn dot_words<const SHORT: bool>(dots: &[u64; 4]) -> &[u64] {
    if SHORT {
        &dots[..1]
    } else {
        dots
    }
}

/// The labels left of a suffix starting at byte `start`, counted up to 2, for a name whose
/// dots are all in `dots0`: 0 when the suffix is the whole name, 2 when a dot comes before the
/// one that ends the label left of it. (An exact count needs a popcount, a dozen instructions
/// on the baseline x86-64; the rules' shapes tell apart only 0, 1 and more.)
#[inline(always)]
fn depth_short(dots0: u64, start: usize) -> u32 {
    let left = dots0 & (1u64 << (start.wrapping_sub(1) & 63)).wrapping_sub(1);
    u32::from(start != 0) << u32::from(left != 0)
}

/// The number of dots before byte `at`: the labels left of a suffix starting there. For names
/// of more than 64 bytes (rare).
#[inline(always)]
fn dots_before(dots: &[u64], at: usize) -> u32 {
    // Per word, a mask of its bytes before `at` (0 to 64 of them), without branches.
    dots.iter()
        .enumerate()
        .map(|(i, &w)| {
            let below = at.saturating_sub(i * 64) as u32;
            (w & u64::MAX.checked_shl(below).map_or(u64::MAX, |m| !m)).count_ones()
        })
        .sum()
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

/// Asks the processor to fetch the lines of three nodes in a row: 72 bytes, on two lines in a
/// line-aligned array (as on huge pages; a group of eight is three lines). A hint: it changes no
/// result.
#[inline(always)]
fn prefetch_near(nodes: &[Node]) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if let [a, _, c, ..] = nodes {
        safe_arch::prefetch_t0(a);
        safe_arch::prefetch_t0(&c.high);
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = nodes;
}

/// The slot of its group a hash prefers: the low bits of its tag (the home group uses the high
/// bits).
#[inline(always)]
fn pref(hash: u64) -> usize {
    (hash & 7) as usize
}

/// The one-byte tag of a hash; never 0 (which marks an empty slot).
#[inline(always)]
fn tag(hash: u64) -> u8 {
    (hash as u8).max(1)
}

/// Maps a hash onto `0..cap` with a multiply (no power-of-two capacity needed); this uses the
/// hash's high bits, the tag its low byte.
#[inline(always)]
fn home(hash: u64, cap: usize) -> usize {
    ((u128::from(hash) * cap as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each key filed with its index as its rule.
    fn items_of(keys: &[String]) -> Vec<(String, u32)> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i as u32))
            .collect()
    }

    fn table(keys: &[String]) -> SuffixTable {
        SuffixTable::build(&items_of(keys), None, |r| (0, r), |_| 0).0
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

    /// The first rule filed under `name` itself (depth 0), as a walk reports it.
    fn exact_rule(t: &SuffixTable, name: &str) -> Option<u32> {
        let mut hit = None;
        t.walk(name.as_bytes(), dots(name.as_bytes()), |d, _, h| {
            if d == 0 {
                hit = Some(rule_of(h));
            }
        });
        hit
    }

    fn rules_of(hit: Hit<'_>) -> Vec<u32> {
        match hit {
            Hit::One(r, _) => vec![r],
            Hit::Many(list) => list.to_vec(),
        }
    }

    #[test]
    fn count_distinct_agrees_with_a_set() {
        // Sizes around the bucket-count steps, values with many repeats and with shared top
        // bits (one bucket holding everything), against a plain set.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in [0, 1, 2, 7, 8, 9, 100, 1000, 5000, 70_000] {
            for spread in [u64::MAX, 0xff, 3] {
                let v: Vec<u64> = (0..n).map(|_| next() & spread).collect();
                let want = v.iter().collect::<std::collections::HashSet<_>>().len();
                assert_eq!(count_distinct(&v), want, "n {n}, spread {spread:#x}");
            }
        }
    }

    #[test]
    fn a_sizing_counted_beforehand_is_used_only_for_its_keys() {
        let keys: Vec<String> = (0..3000)
            .map(|i| format!("h{i}.example{}.com", i % 11))
            .collect();
        let items = items_of(&keys);
        let mut h = SuffixHashes::default();
        for k in &keys {
            h.add(k.as_bytes());
        }
        let sizing = h.sizing();
        // 3000 keys, 11 second-level domains, one top-level: 3012 distinct suffixes.
        assert_eq!(
            (sizing.keys, sizing.distinct, sizing.max_labels),
            (3000, 3012, 3)
        );
        let counted = SuffixTable::build(&items, None, |r| (0, r), |_| 0).0;
        let given = SuffixTable::build(&items, Some(sizing), |r| (0, r), |_| 0).0;
        assert_eq!(given.home_groups, counted.home_groups);
        // A sizing of other keys is ignored: the table counts its own.
        let wrong = Sizing {
            keys: 10,
            distinct: 10,
            max_labels: 1,
        };
        let ignored = SuffixTable::build(&items, Some(wrong), |r| (0, r), |_| 0).0;
        assert_eq!(ignored.home_groups, counted.home_groups);
        assert_eq!(ignored.max_labels, 3);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(exact_rule(&given, k), Some(i as u32), "{k}");
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
        t.walk(b"x.api.kadath.io", dots(b"x.api.kadath.io"), |d, s, h| {
            seen.push((d, s, rule_of(h)))
        });
        // Depths are counted up to 2.
        assert_eq!(seen, vec![(2, 13, 0), (2, 6, 1), (1, 2, 2)]);
        seen.clear();
        t.walk(b"xkadath.io", dots(b"xkadath.io"), |d, s, h| {
            seen.push((d, s, rule_of(h)))
        });
        assert_eq!(seen, vec![(1, 8, 0)]);
        seen.clear();
        t.walk(b"kadath.io", dots(b"kadath.io"), |d, s, h| {
            seen.push((d, s, rule_of(h)))
        });
        assert_eq!(seen, vec![(1, 7, 0), (0, 0, 1)]);
    }

    #[test]
    fn parents_are_marked_and_leaves_end_the_walk() {
        let keys: Vec<String> = vec![
            "kadath.io".into(),
            "api.kadath.io".into(),
            "leng.com".into(),
        ];
        let items = items_of(&keys);
        let (t, node_of) = SuffixTable::build(&items, None, |r| (0, r), |_| 0);
        let parent = |key: usize| t.view().a.nodes[node_of[key] as usize].info & PARENT != 0;
        // kadath.io has a longer key under it; api.kadath.io and leng.com do not.
        assert!(parent(0));
        assert!(!parent(1));
        assert!(!parent(2));
        // Last-label nodes (io, com) are parents of the keys under them.
        for n in t
            .view()
            .a
            .nodes
            .iter()
            .filter(|n| n.parent == ROOT && n.info & 0x3f != 0)
        {
            assert!(n.info & PARENT != 0, "{n:?}");
        }
        // A walk past a leaf still finds every key on the way.
        let mut seen = Vec::new();
        let name = b"a.b.api.kadath.io";
        t.walk(name, dots(name), |d, _, h| seen.push((d, rule_of(h))));
        assert_eq!(seen, vec![(2, 0), (2, 1)]);
    }

    #[test]
    fn nodes_sit_where_probes_prefetch() {
        // 20k keys (a table under load, with full groups). A node in its home group should sit
        // among the three slots from its preferred one on (what a probe prefetches); where one
        // does not, each of those slots holds another home node that does (no free slot, no
        // slot spent on a node that gains nothing from it). Overflow nodes sit in a later
        // group, and only when their home group is full.
        let keys: Vec<String> = (0..20_000)
            .map(|i| format!("h{i}.s{}.example{}.com", i % 97, i % 13))
            .collect();
        let t = table(&keys);
        let v = t.view();
        let taken = |slot: usize| (v.a.tags[slot / 8] >> (8 * (slot % 8))) & 0xff != 0;
        // Per slot: (preferred slot, in its home group), from each key's suffixes.
        let mut placed: HashMap<usize, (usize, bool)> = HashMap::new();
        for k in &keys {
            let key = k.as_bytes();
            let mut parent = ROOT;
            for_each_label(key, |h, words, start, end| {
                let slot = v
                    .probe(h, |p| p == parent, words, key, start, end)
                    .expect("every suffix of a key is a node");
                let home = home(h, v.home_groups);
                if slot / 8 != home {
                    assert!(slot / 8 > home, "{k}");
                    assert!((0..8).all(|i| taken(home * 8 + i)), "{k}: home not full");
                }
                placed.insert(slot, (pref(h), slot / 8 == home));
                parent = slot as u32;
            });
        }
        let covered =
            |slot: usize, (p, at_home): (usize, bool)| at_home && (slot % 8 + 8 - p) % 8 < 3;
        let (mut home_nodes, mut in_window) = (0, 0);
        for (&slot, &(p, at_home)) in &placed {
            if !at_home {
                continue;
            }
            home_nodes += 1;
            if covered(slot, (p, at_home)) {
                in_window += 1;
                continue;
            }
            for k in 0..3 {
                let other = slot / 8 * 8 + (p + k) % 8;
                let o = placed.get(&other).copied();
                assert!(
                    o.is_some_and(|o| covered(other, o)),
                    "{slot}: window slot {other} is free or holds an uncovered node"
                );
            }
        }
        assert!(
            in_window * 100 >= home_nodes * 97,
            "{in_window} of {home_nodes}"
        );
    }

    #[test]
    fn depth_counts_labels_left_up_to_two() {
        for name in [
            "io",
            "a.io",
            "b.a.io",
            "x.b.a.io",
            "a.b.c.d.e.f",
            "aa.b.ccc.d",
        ] {
            let d = dots(name.as_bytes())[0];
            for (start, _) in name
                .char_indices()
                .filter(|&(i, _)| i == 0 || name.as_bytes()[i - 1] == b'.')
            {
                let exact = name[..start].matches('.').count() as u32;
                assert_eq!(depth_short(d, start), exact.min(2), "{name} at {start}");
                assert_eq!(dots_before(&[d], start), exact, "{name} at {start}");
            }
        }
    }

    #[test]
    fn walk_past_one_batch() {
        // 20 labels: more suffixes than one batch of probes.
        let labels: Vec<String> = (0..20).map(|i| format!("l{i}")).collect();
        let name = labels.join(".");
        let keys: Vec<String> = (0..20).map(|k| labels[k..].join(".")).collect();
        let t = table(&keys);
        let mut seen = Vec::new();
        t.walk(name.as_bytes(), dots(name.as_bytes()), |d, s, h| {
            let left = name[..s].matches('.').count();
            assert_eq!(&name[s..], labels[left..].join("."));
            assert_eq!(d as usize, left.min(2));
            seen.push(rule_of(h));
        });
        assert_eq!(seen, (0..20).rev().collect::<Vec<u32>>());
    }

    #[test]
    fn walk_of_a_long_name_past_one_batch() {
        // Over 64 bytes (the out-of-line walk, dots in more than one word) and more suffixes
        // with rules than one batch: each is reported once, with its depth, shortest first.
        let labels: Vec<String> = (0..14).map(|i| format!("label-{i:02}-abcd")).collect();
        let name = labels.join(".");
        assert!(name.len() > 128);
        // Every other suffix is a key.
        let keys: Vec<String> = (0..14).step_by(2).map(|k| labels[k..].join(".")).collect();
        let t = table(&keys);
        let mut seen = Vec::new();
        t.walk(name.as_bytes(), dots(name.as_bytes()), |d, s, h| {
            let left = name[..s].matches('.').count();
            assert_eq!(&name[s..], labels[left..].join("."));
            seen.push((left as u32, d, rule_of(h)));
        });
        let want: Vec<(u32, u32, u32)> = (0..7).rev().map(|k| (2 * k, (2 * k).min(2), k)).collect();
        assert_eq!(seen, want);
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
        let (t, entry_of) = SuffixTable::build(&items, None, |r| (0, r), |_| 0);
        let mut got = Vec::new();
        t.walk(b"a.io", dots(b"a.io"), |_, _, h| got.extend(rules_of(h)));
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
            assert_eq!(exact_rule(&t, k), Some(i as u32), "{k}");
            let miss = format!("x{k}");
            t.walk(miss.as_bytes(), dots(miss.as_bytes()), |d, _, _| {
                assert_ne!(d, 0, "{miss}")
            });
        }
    }

    #[test]
    fn labels_of_every_length_and_shared_parents() {
        // Label lengths around the word and inline limits (8, 12, 16), under two parents, and
        // the same labels as parents of other keys: every key found at the right depth, its
        // text given back by `key`, and one-byte changes or another parent not found.
        let mut keys = Vec::new();
        for len in 1..=40 {
            let label: String = (0..len)
                .map(|i| (b'a' + (i * 7 + len) as u8 % 26) as char)
                .collect();
            keys.push(format!("{label}.example.com"));
            keys.push(format!("{label}.example.org"));
            keys.push(format!("x.{label}.net"));
        }
        let items = items_of(&keys);
        let (t, node_of) = SuffixTable::build(&items, None, |r| (0, r), |_| 0);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(t.key(node_of[i]), *k);
            let mut found = None;
            t.walk(k.as_bytes(), dots(k.as_bytes()), |d, s, h| {
                if d == 0 {
                    assert_eq!(s, 0);
                    found = Some(rule_of(h));
                }
            });
            assert_eq!(found, Some(i as u32), "{k}");
            let mut bytes = k.clone().into_bytes();
            bytes[0] = if bytes[0] == b'z' { b'y' } else { b'z' };
            t.walk(&bytes, dots(&bytes), |d, _, _| {
                assert_ne!(d, 0, "{}", String::from_utf8_lossy(&bytes))
            });
        }
        // A label filed under .example.com is not found under .example.net.
        let other = keys[30].replace(".example.com", ".example.net");
        t.walk(other.as_bytes(), dots(other.as_bytes()), |_, _, _| {
            panic!("{other} matched")
        });
    }
}
