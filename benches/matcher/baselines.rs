//! The baselines: the approaches other matchers take, built in the same process from the same
//! rules and asked the same queries as hostgate.
//!
//! (1) and (2) answer "the smallest index of a matching rule" (first-match precedence), like
//! hostgate, so the bench can check that they name the same deciding rule; (3) answers match or
//! no match. They get the raw query bytes and lowercase them, but skip hostgate's validation
//! (label alphabet, lengths, IP typing, IDNA): they do strictly less work than hostgate.

use std::collections::HashMap;
use std::fmt::Write as _;

use aho_corasick::automaton::OverlappingState;
use aho_corasick::{AhoCorasick, Anchored, Input, MatchKind, StartKind};
use regex_automata::meta;

use crate::data::{Kind, Rule};

// ---------------------------------------------------------------------------------------------
// Shared by (1) and (2): the rules grouped by literal suffix, and the lowercasing.

const NONE: u32 = u32::MAX;

/// Rules sharing one literal suffix `x`: the first rule of each kind, and the globs on `x`.
#[derive(Clone, Debug)]
struct Entry {
    exact: u32,
    dot: u32,
    one: u32,
    deep: u32,
    globs: Vec<Glob>,
}

/// `PRE*SUF` on one label; both strings reversed in the aho-corasick baseline.
#[derive(Clone, Debug)]
struct Glob {
    pre: Box<[u8]>,
    suf: Box<[u8]>,
    rule: u32,
}

impl Entry {
    fn new() -> Entry {
        Entry {
            exact: NONE,
            dot: NONE,
            one: NONE,
            deep: NONE,
            globs: Vec::new(),
        }
    }

    fn add(&mut self, kind: &Kind, rule: u32, reversed: bool) {
        let slot = match kind {
            Kind::Exact => &mut self.exact,
            Kind::Dot => &mut self.dot,
            Kind::One => &mut self.one,
            Kind::Deep => &mut self.deep,
            Kind::Glob { pre, suf } => {
                let (mut pre, mut suf) = (pre.as_bytes().to_vec(), suf.as_bytes().to_vec());
                if reversed {
                    pre.reverse();
                    suf.reverse();
                }
                self.globs.push(Glob {
                    pre: pre.into(),
                    suf: suf.into(),
                    rule,
                });
                return;
            }
            Kind::Cidr => return,
        };
        *slot = (*slot).min(rule);
    }
}

/// Lowercases `q` into `buf`; `None` when it cannot be a name (empty or too long).
#[inline(always)]
pub fn lower_into(q: &[u8], buf: &mut [u8; 256]) -> Option<usize> {
    if q.is_empty() || q.len() > 253 {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(q) {
        *d = s.to_ascii_lowercase();
    }
    Some(q.len())
}

// ---------------------------------------------------------------------------------------------
// (1) A hash map of literal suffixes and a walk over the query's suffixes.

/// Baseline (1): a label-suffix walk over one `hashbrown` map with `foldhash`, the approach
/// Envoy and most proxies take, and the reference every ratio is taken against. A lookup
/// lowercases into a stack buffer, probes the whole name, then every suffix after a dot, hashing
/// each suffix from scratch.
pub struct SuffixWalk {
    map: hashbrown::HashMap<Box<[u8]>, Entry, foldhash::fast::RandomState>,
}

impl SuffixWalk {
    pub fn build(rules: &[Rule]) -> SuffixWalk {
        let mut map = hashbrown::HashMap::with_hasher(foldhash::fast::RandomState::default());
        for (i, r) in rules.iter().enumerate() {
            if r.kind == Kind::Cidr {
                continue;
            }
            map.entry(r.base.as_bytes().into())
                .or_insert_with(Entry::new)
                .add(&r.kind, i as u32, false);
        }
        SuffixWalk { map }
    }

    pub fn lookup(&self, q: &[u8]) -> Option<u32> {
        let mut buf = [0u8; 256];
        let n = lower_into(q, &mut buf)?;
        let name = &buf[..n];
        let mut best = NONE;
        if let Some(e) = self.map.get(name) {
            best = best.min(e.exact).min(e.dot);
        }
        let mut depth = 0;
        for i in 0..n {
            if name[i] != b'.' {
                continue;
            }
            depth += 1;
            if let Some(e) = self.map.get(&name[i + 1..]) {
                best = best.min(e.dot).min(e.deep);
                if depth == 1 {
                    best = best.min(e.one);
                    let label = &name[..i];
                    for g in &e.globs {
                        if g.rule < best
                            && label.len() >= g.pre.len() + g.suf.len()
                            && label.starts_with(&g.pre)
                            && label.ends_with(&g.suf)
                        {
                            best = g.rule;
                        }
                    }
                }
            }
        }
        (best != NONE).then_some(best)
    }
}

// ---------------------------------------------------------------------------------------------
// (2) An automaton over reversed names.

/// Baseline (2): `aho-corasick` over reversed rule literals, anchored at the start of the
/// reversed query; a match counts when it ends the query or at a dot. The multi-pattern
/// automaton a general-purpose library offers, with no hashing at all.
pub struct ReversedAc {
    ac: AhoCorasick,
    entries: Vec<Entry>,
}

impl ReversedAc {
    pub fn build(rules: &[Rule]) -> ReversedAc {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut entries: Vec<Entry> = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if r.kind == Kind::Cidr {
                continue;
            }
            let at = *index.entry(r.base.as_str()).or_insert_with(|| {
                patterns.push(r.base.bytes().rev().collect());
                entries.push(Entry::new());
                entries.len() - 1
            });
            entries[at].add(&r.kind, i as u32, true);
        }
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Anchored)
            .build(&patterns)
            .expect("aho-corasick builds");
        ReversedAc { ac, entries }
    }

    pub fn lookup(&self, q: &[u8]) -> Option<u32> {
        let mut buf = [0u8; 256];
        let n = lower_into(q, &mut buf)?;
        buf[..n].reverse();
        let rev = &buf[..n];
        let mut best = NONE;
        // Overlapping iteration refuses anchored input; the stateful call is the documented way
        // to get every match that starts at the beginning.
        let input = Input::new(rev).anchored(Anchored::Yes);
        let mut state = OverlappingState::start();
        loop {
            self.ac
                .try_find_overlapping(input.clone(), &mut state)
                .expect("anchored overlapping search");
            let Some(m) = state.get_match() else { break };
            // An anchored overlapping search still reports patterns that end here but start
            // later (suffix matches copied along failure links): keep those starting at 0.
            if m.start() != 0 {
                continue;
            }
            let e = &self.entries[m.pattern().as_usize()];
            let end = m.end();
            if end == n {
                best = best.min(e.exact).min(e.dot);
            } else if rev[end] == b'.' {
                best = best.min(e.dot).min(e.deep);
                let rest = &rev[end + 1..];
                if !rest.contains(&b'.') {
                    best = best.min(e.one);
                    // Reversed label: reversed SUF first, reversed PRE last.
                    for g in &e.globs {
                        if g.rule < best
                            && rest.len() >= g.pre.len() + g.suf.len()
                            && rest.starts_with(&g.suf)
                            && rest.ends_with(&g.pre)
                        {
                            best = g.rule;
                        }
                    }
                }
            }
        }
        (best != NONE).then_some(best)
    }

    /// Every anchored match of `q`, for a disagreement report.
    pub fn explain(&self, q: &[u8]) -> String {
        let mut rev: Vec<u8> = q.to_ascii_lowercase();
        rev.reverse();
        let input = Input::new(&rev).anchored(Anchored::Yes);
        let mut state = OverlappingState::start();
        let mut out = String::new();
        while let Ok(()) = self.ac.try_find_overlapping(input.clone(), &mut state) {
            let Some(m) = state.get_match() else { break };
            let e = &self.entries[m.pattern().as_usize()];
            let _ = write!(
                out,
                "[pattern {} {:?} end {} entry {:?}] ",
                m.pattern().as_usize(),
                String::from_utf8_lossy(&rev[m.start()..m.end()]),
                m.end(),
                (e.exact, e.dot, e.one, e.deep)
            );
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// (3) One regular expression for the whole policy.

/// Baseline (3): the policy's name rules as one anchored alternation in a
/// `regex_automata::meta::Regex` (Cilium style). Built only at the smallest size: beyond it the
/// build takes seconds and gigabytes, and its lazy DFA gives up on random names.
pub struct BigRegex {
    re: meta::Regex,
}

impl BigRegex {
    pub fn build(rules: &[Rule]) -> Result<BigRegex, String> {
        const LABEL: &str = "[a-z0-9_-]";
        let esc = |s: &str| s.replace('.', r"\.");
        let mut pat = String::with_capacity(rules.len() * 40);
        pat.push_str("^(?:");
        let mut first = true;
        for r in rules {
            if r.kind == Kind::Cidr {
                continue;
            }
            if !first {
                pat.push('|');
            }
            first = false;
            let b = esc(&r.base);
            match &r.kind {
                Kind::Exact => pat.push_str(&b),
                Kind::Dot => {
                    let _ = write!(pat, r"(?:{LABEL}+\.)*{b}");
                }
                Kind::Deep => {
                    let _ = write!(pat, r"(?:{LABEL}+\.)+{b}");
                }
                Kind::One => {
                    let _ = write!(pat, r"{LABEL}+\.{b}");
                }
                Kind::Glob { pre, suf } => {
                    let _ = write!(pat, r"{pre}{LABEL}*{suf}\.{b}");
                }
                Kind::Cidr => unreachable!(),
            }
        }
        pat.push_str(")$");
        meta::Regex::builder()
            .configure(
                // Defaults, except that the NFA may be as large as it needs to be.
                meta::Config::new().nfa_size_limit(Some(1 << 30)),
            )
            .build(&pat)
            .map(|re| BigRegex { re })
            .map_err(|e| e.to_string())
    }

    pub fn lookup(&self, q: &[u8]) -> bool {
        let mut buf = [0u8; 256];
        match lower_into(q, &mut buf) {
            Some(n) => self.re.is_match(&buf[..n]),
            None => false,
        }
    }
}
