//! The real-shaped large list the engine file benches use: distinct registrable domains, every
//! rule `.x` (as blocklists are), generated from a fixed seed; and queries, half under a rule's
//! domain, half under held-out domains.

use std::collections::HashSet;
use std::fmt::Write as _;

/// SplitMix64: the same names on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

const SYLLABLES: &[&str] = &[
    "ka", "dath", "len", "go", "ri", "mo", "zu", "pel", "tar", "vin", "sol", "quo", "bex", "nar",
    "fi", "lo", "ste", "mar", "den", "cor", "ash", "ul", "tri", "pho", "gle", "net", "web", "cdn",
];
const TLDS: &[&str] = &[
    "com", "net", "org", "io", "de", "ru", "info", "xyz", "co.uk", "com.br", "fr", "nl", "top",
];
const SUBS: &[&str] = &[
    "www", "api", "cdn", "static", "m", "mail", "img", "ads", "track",
];

/// `n` distinct registrable domains.
pub fn domains(n: usize, rng: &mut Rng) -> Vec<String> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let mut s = String::new();
        for _ in 0..2 + rng.below(3) {
            s.push_str(SYLLABLES[rng.below(SYLLABLES.len())]);
        }
        if rng.below(3) == 0 {
            let _ = write!(s, "{}", rng.below(10_000));
        }
        s.push('.');
        s.push_str(TLDS[rng.below(TLDS.len())]);
        if seen.insert(s.clone()) {
            out.push(s);
        }
    }
    out
}

/// The policy text of `rules` domains (`.x` each) and `count` queries: even ones a name under
/// a rule's domain, odd ones under one of `held_out` other domains.
pub fn policy_and_queries(rules: usize, count: usize) -> (String, Vec<String>) {
    let mut rng = Rng(0x656e_6769_6e65_6669);
    let all = domains(rules + rules / 4, &mut rng);
    let (listed, held_out) = all.split_at(rules);
    let mut text = String::with_capacity(rules * 20);
    text.push_str("default allow\n");
    for d in listed {
        text.push_str("deny .");
        text.push_str(d);
        text.push('\n');
    }
    let queries = (0..count)
        .map(|i| {
            let base = if i % 2 == 0 {
                &listed[rng.below(listed.len())]
            } else {
                &held_out[rng.below(held_out.len())]
            };
            match rng.below(3) {
                0 => base.clone(),
                _ => format!("{}.{base}", SUBS[rng.below(SUBS.len())]),
            }
        })
        .collect();
    (text, queries)
}
