//! Where two policies disagree: the concrete queries (name, port, source) on which their verdicts
//! differ, one witness per disagreement region.
//!
//! A verdict depends only on which rules match a query and whether their port and source
//! conditions hold, so the search does not need to try every name. It walks both policies'
//! patterns together from the rightmost label, reading each `~regex` backwards with its reverse
//! DFA at the same time, and at each depth draws one label for every way a label can affect the
//! literal labels, in-label globs and regex states still in play there (a breadth-first search
//! over the product of their automata finds the labels); below the last literal it adds zero,
//! one and two fresh labels, which is all that `*.`, `**.` and `.` patterns can tell apart, or,
//! while a regex can still tell longer names apart, one more label per class of its states. Each
//! name found is asked with no port and with every port at a boundary of a range of the rules it
//! matches, and with each source when one of them is limited by source. IP rules contribute the
//! first and last address of each prefix and their neighbours. This set of queries meets every
//! region where the verdicts can differ, so the answer is complete, unless a search bound is hit
//! or a regex has no DFA (a Unicode word boundary, or one too large), which the answer says.
//! A `received` regex rule makes the answer incomplete too: it tells names apart by case, a
//! trailing dot and `:PORT`, and the names searched are normalized ones.
//!
//! ```
//! use hostgate::{diff, DiffOptions, Engine};
//!
//! let squid = Engine::compile("allow .kadath.io\n").unwrap(); // apex and every depth
//! let cilium = Engine::compile("allow *.kadath.io\n").unwrap(); // exactly one label
//! let d = diff(
//!     (&squid, squid.default_policy()),
//!     (&cilium, cilium.default_policy()),
//!     &DiffOptions::default(),
//! );
//! assert!(d.complete);
//! // One region: the left's rule allows what the right's default denies (the apex, and two or
//! // more labels below); its simplest witness is the apex.
//! assert_eq!(d.regions, 1);
//! assert_eq!(d.witnesses[0].name, "kadath.io");
//! assert!(d.witnesses[0].left.is_allow() && !d.witnesses[0].right.is_allow());
//! ```

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{Engine, Pattern, PolicyId, Query, Reason, Verdict, Via};

/// What `diff` asks and how much it reports.
///
/// ```
/// use hostgate::{DiffOptions, Via};
/// let o = DiffOptions::default().port(443).via(Via::Tls).limit(10);
/// assert_eq!((o.port_filter(), o.via_filter(), o.limit_value()), (Some(443), Some(Via::Tls), 10));
/// ```
#[derive(Clone, Debug)]
pub struct DiffOptions {
    port: Option<u16>,
    via: Option<Via>,
    limit: usize,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            port: None,
            via: None,
            limit: 100,
        }
    }
}

impl DiffOptions {
    /// Only queries to this port (default: no port, and every port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Only queries from this source (default: unknown, and every source).
    pub fn via(mut self, via: Via) -> Self {
        self.via = Some(via);
        self
    }

    /// At most this many witnesses in [`Diff::witnesses`] (default 100); the others are only
    /// counted.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The port asked about, if one was set.
    pub fn port_filter(&self) -> Option<u16> {
        self.port
    }

    /// The source asked about, if one was set.
    pub fn via_filter(&self) -> Option<Via> {
        self.via
    }

    /// The witness limit.
    pub fn limit_value(&self) -> usize {
        self.limit
    }
}

/// One query on which the two policies disagree, with both verdicts.
///
/// ```
/// use hostgate::{diff, DiffOptions, Engine};
/// let a = Engine::compile("allow api.kadath.io port 443\n").unwrap();
/// let b = Engine::compile("allow api.kadath.io\n").unwrap();
/// let d = diff((&a, a.default_policy()), (&b, b.default_policy()), &DiffOptions::default());
/// let w = &d.witnesses[0];
/// assert_eq!(w.name, "api.kadath.io");
/// // No port agrees: a port-limited allow matches a query without a port (a DNS question).
/// assert_eq!(w.port, Some(442));
/// assert!(!w.left.is_allow() && w.right.is_allow());
/// ```
#[derive(Clone, Debug)]
pub struct Witness<'l, 'r> {
    /// The normalized name (an IP in its canonical form).
    pub name: String,
    /// The port asked, or none (a DNS question).
    pub port: Option<u16>,
    /// The source asked, or none (unknown).
    pub via: Option<Via>,
    /// The left policy's verdict.
    pub left: Verdict<'l>,
    /// The right policy's verdict.
    pub right: Verdict<'r>,
}

/// The result of [`diff`].
#[derive(Clone, Debug)]
pub struct Diff<'l, 'r> {
    /// One witness per disagreement region (a pair of deciding rules, or a rule and a default),
    /// simplest first, at most [`DiffOptions::limit`] of them.
    pub witnesses: Vec<Witness<'l, 'r>>,
    /// How many regions were found (witnesses shown plus those over the limit).
    pub regions: usize,
    /// True when the search covered every query: no region was missed.
    pub complete: bool,
    /// Why the search is not complete, when it is not.
    pub incomplete: Vec<String>,
    /// How many queries were asked of each side.
    pub queries: usize,
}

impl Diff<'_, '_> {
    /// True when no disagreement was found.
    pub fn agree(&self) -> bool {
        self.regions == 0
    }
}

/// Labels from the right: literal or in-label glob (`*` = 0 or more of `[a-z0-9_-]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Label {
    Lit(Box<str>),
    Glob(Box<str>),
}

/// What a pattern asks of the labels left of its specific ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Extra {
    /// Nothing: the name ends there.
    End,
    /// Exactly one more label.
    One,
    /// One or more.
    OneOrMore,
    /// Zero or more.
    ZeroOrMore,
}

/// A host-name pattern as label predicates, right to left.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Shape {
    labels: Box<[Label]>,
    extra: Extra,
}

impl Shape {
    fn from_pattern(p: &Pattern) -> Option<Shape> {
        let lits =
            |s: &str| -> Vec<Label> { s.split('.').rev().map(|l| Label::Lit(l.into())).collect() };
        Some(match p {
            Pattern::Exact(s) => Shape {
                labels: lits(s).into(),
                extra: Extra::End,
            },
            Pattern::OneLabel(s) => Shape {
                labels: lits(s).into(),
                extra: Extra::One,
            },
            Pattern::Deep(s) => Shape {
                labels: lits(s).into(),
                extra: Extra::OneOrMore,
            },
            Pattern::Dot(s) => Shape {
                labels: lits(s).into(),
                extra: Extra::ZeroOrMore,
            },
            Pattern::Glob { head, suffix } => {
                let mut labels = lits(suffix);
                for h in head.iter().rev() {
                    labels.push(if h.contains('*') {
                        Label::Glob(h.as_str().into())
                    } else {
                        Label::Lit(h.as_str().into())
                    });
                }
                Shape {
                    labels: labels.into(),
                    extra: Extra::End,
                }
            }
            Pattern::Any => Shape {
                labels: Box::new([]),
                extra: Extra::OneOrMore,
            },
            _ => return None,
        })
    }

    /// Whether a name of `depth` labels, whose labels so far all satisfied this shape, matches.
    fn ends_at(&self, depth: usize) -> bool {
        let n = self.labels.len();
        match self.extra {
            Extra::End => depth == n,
            Extra::One => depth == n + 1,
            Extra::OneOrMore => depth > n,
            Extra::ZeroOrMore => depth >= n,
        }
    }

    /// Whether a label at position `depth` (from 0, right to left) beyond the specific labels
    /// keeps this shape alive.
    fn takes_extra(&self, depth: usize) -> bool {
        match self.extra {
            Extra::End => false,
            Extra::One => depth == self.labels.len(),
            Extra::OneOrMore | Extra::ZeroOrMore => true,
        }
    }
}

/// A glob as a tiny NFA over its characters: state = set of positions (bit i = before char i).
struct Glob {
    chars: Vec<u8>,
}

impl Glob {
    fn new(text: &str) -> Option<Glob> {
        // Longer globs than a label cannot exist (the pattern parser refuses them).
        (text.len() < 127).then(|| Glob {
            chars: text.as_bytes().to_vec(),
        })
    }

    fn closure(&self, mut s: u128) -> u128 {
        for i in 0..self.chars.len() {
            if s & (1 << i) != 0 && self.chars[i] == b'*' {
                s |= 1 << (i + 1);
            }
        }
        s
    }

    fn start(&self) -> u128 {
        self.closure(1)
    }

    fn step(&self, s: u128, c: u8) -> u128 {
        let mut next = 0u128;
        for i in 0..self.chars.len() {
            if s & (1 << i) == 0 {
                continue;
            }
            match self.chars[i] {
                b'*' => next |= 1 << i,
                x if x == c => next |= 1 << (i + 1),
                _ => {}
            }
        }
        self.closure(next)
    }

    fn accepts(&self, s: u128) -> bool {
        s & (1 << self.chars.len()) != 0
    }

    fn matches(&self, label: &str) -> bool {
        let s = label.bytes().fold(self.start(), |s, c| self.step(s, c));
        self.accepts(s)
    }
}

/// The characters a label may hold, letters first so witnesses read as words.
const LABEL_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_";

/// Expansions a glob search may make at one depth before giving up.
const GLOB_SEARCH_BUDGET: usize = 20_000;

/// A reverse DFA of one regex rule, read over a name from its last byte to its first.
type Dfa = regex_automata::dfa::dense::DFA<Vec<u32>>;
/// A state of such a DFA.
type DfaState = regex_automata::util::primitives::StateID;

/// What a label is read by, right to left: the in-label globs in play at its position
/// (reversed, which reads the same language backwards) and the live regexes' reverse DFAs,
/// positioned where the label's last byte comes next.
struct LabelAutomata<'a> {
    globs: Vec<Glob>,
    dfas: Vec<&'a Dfa>,
    starts: Vec<DfaState>,
}

/// A product state: each glob's NFA state, each DFA's state.
type ProductState = (Vec<u128>, Vec<DfaState>);
/// What tells two labels apart: which globs accept, and where each DFA is after the label.
type ClassKey = (Vec<bool>, Vec<DfaState>);

impl LabelAutomata<'_> {
    fn start(&self) -> ProductState {
        (
            self.globs.iter().map(Glob::start).collect(),
            self.starts.clone(),
        )
    }

    fn step(&self, (g, d): &ProductState, c: u8) -> ProductState {
        use regex_automata::dfa::Automaton;
        (
            self.globs
                .iter()
                .zip(g)
                .map(|(x, &s)| x.step(s, c))
                .collect(),
            self.dfas
                .iter()
                .zip(d)
                .map(|(x, &s)| x.next_state(s, c))
                .collect(),
        )
    }

    fn key(&self, (g, d): &ProductState) -> ClassKey {
        (
            self.globs
                .iter()
                .zip(g)
                .map(|(x, &s)| x.accepts(s))
                .collect(),
            d.clone(),
        )
    }

    /// The class of `label` (read from its last byte).
    fn class_of(&self, label: &str) -> ClassKey {
        let s = label
            .bytes()
            .rev()
            .fold(self.start(), |s, c| self.step(&s, c));
        self.key(&s)
    }

    /// The characters worth trying: with a regex, every label character; with globs only, the
    /// characters they name plus one standing for all the others (which they treat alike).
    fn alphabet(&self) -> Vec<u8> {
        if !self.dfas.is_empty() {
            return LABEL_CHARS.to_vec();
        }
        let named: HashSet<u8> = self
            .globs
            .iter()
            .flat_map(|g| g.chars.iter().copied())
            .collect();
        let mut alphabet: Vec<u8> = LABEL_CHARS
            .iter()
            .copied()
            .filter(|c| named.contains(c))
            .collect();
        if let Some(&other) = LABEL_CHARS.iter().find(|c| !named.contains(c)) {
            alphabet.push(other);
        }
        alphabet
    }
}

/// One label for every class of labels the automata can tell apart that holds a label which is
/// no literal (each literal is a class of its own, asked as itself). Returns the labels and, if a
/// search bound was hit, why.
fn label_classes(
    lits: &[&str],
    is_lit: &dyn Fn(&str) -> bool,
    a: &LabelAutomata<'_>,
) -> (Vec<String>, Option<String>) {
    let mut out: Vec<String> = Vec::new();
    if a.globs.is_empty() && a.dfas.is_empty() {
        out.push(fresh_label(is_lit));
        return (out, None);
    }
    let alphabet = a.alphabet();
    // Breadth-first over the product, building labels from their last character; one shortest
    // label per class. Strings that reach the same product state have the same future, so each
    // state is expanded once. The empty string is no label: its state is not marked seen.
    let mut seen: HashSet<ProductState> = HashSet::new();
    let mut queue: VecDeque<(ProductState, Vec<u8>)> = VecDeque::from([(a.start(), Vec::new())]);
    let mut by_key: HashMap<ClassKey, String> = HashMap::new();
    let mut incomplete = None;
    let mut expansions = 0;
    let label_of = |rev: &[u8]| -> String { rev.iter().rev().map(|&c| c as char).collect() };
    while let Some((state, rev)) = queue.pop_front() {
        if !rev.is_empty() {
            by_key
                .entry(a.key(&state))
                .or_insert_with(|| label_of(&rev));
        }
        if rev.len() >= 63 {
            continue;
        }
        expansions += 1;
        if expansions > GLOB_SEARCH_BUDGET {
            incomplete = Some(
                "the labels the globs and regexes in play can tell apart were not all enumerated"
                    .to_string(),
            );
            break;
        }
        for &c in &alphabet {
            let next = a.step(&state, c);
            if seen.insert(next.clone()) {
                let mut r = rev.clone();
                r.push(c);
                queue.push_back((next, r));
            }
        }
    }
    // A class's shortest label may be one of the literals, which is a class of its own: look
    // for another label of the same class that is not a literal.
    let mut keys: Vec<(ClassKey, String)> = by_key.into_iter().collect();
    keys.sort_by(|x, y| x.1.len().cmp(&y.1.len()).then_with(|| x.1.cmp(&y.1)));
    for (key, label) in keys {
        if !is_lit(&label) {
            out.push(label);
            continue;
        }
        match other_label(a, &alphabet, &key, is_lit, &label, lits) {
            Other::Found(l) => out.push(l),
            // Every label of this class is a literal: the literals cover it.
            Other::None => {}
            Other::Budget => {
                incomplete.get_or_insert_with(|| {
                    "the labels the globs and regexes in play can tell apart were not all \
                     enumerated"
                        .to_string()
                });
            }
        }
    }
    (out, incomplete)
}

/// What the search for a non-literal member of a class found.
enum Other {
    Found(String),
    /// The class holds literals only.
    None,
    /// The search bound was hit first.
    Budget,
}

/// A label of class `key` that is none of the literals. Tries one more character around `near`
/// first; then searches exactly: breadth-first over the product and the trie of the (reversed)
/// literals of the class, so a state says whether the string so far is a literal, and every
/// character (not only those the globs name) is tried.
fn other_label(
    a: &LabelAutomata<'_>,
    alphabet: &[u8],
    key: &ClassKey,
    is_lit: &dyn Fn(&str) -> bool,
    near: &str,
    lits: &[&str],
) -> Other {
    for at in 0..=near.len() {
        for &c in alphabet {
            let mut l = near.to_string();
            l.insert(at, c as char);
            if l.len() <= 63 && !is_lit(&l) && a.class_of(&l) == *key {
                return Other::Found(l);
            }
        }
    }
    let mut trie: Vec<HashMap<u8, usize>> = vec![HashMap::new()];
    let mut terminal = vec![false];
    for lit in lits.iter().filter(|l| a.class_of(l) == *key) {
        let mut node = 0;
        for c in lit.bytes().rev() {
            node = match trie[node].get(&c) {
                Some(&n) => n,
                None => {
                    trie.push(HashMap::new());
                    terminal.push(false);
                    let n = trie.len() - 1;
                    trie[node].insert(c, n);
                    n
                }
            };
        }
        terminal[node] = true;
    }
    let start = (a.start(), Some(0usize));
    let mut seen = HashSet::from([start.clone()]);
    let mut queue = VecDeque::from([(start, Vec::<u8>::new())]);
    let mut expansions = 0;
    while let Some(((state, node), rev)) = queue.pop_front() {
        if !rev.is_empty() && !node.is_some_and(|n| terminal[n]) && a.key(&state) == *key {
            return Other::Found(rev.iter().rev().map(|&c| c as char).collect());
        }
        if rev.len() >= 63 {
            continue;
        }
        expansions += 1;
        if expansions > GLOB_SEARCH_BUDGET {
            return Other::Budget;
        }
        for &c in LABEL_CHARS {
            let next = (
                a.step(&state, c),
                node.and_then(|n| trie[n].get(&c).copied()),
            );
            if seen.insert(next.clone()) {
                let mut r = rev.clone();
                r.push(c);
                queue.push_back((next, r));
            }
        }
    }
    Other::None
}

/// A label that is none of `lits`.
fn fresh_label(is_lit: &dyn Fn(&str) -> bool) -> String {
    let mut n = 0u32;
    loop {
        let l = if n == 0 {
            "zz".to_string()
        } else {
            format!("zz{n}")
        };
        if !is_lit(&l) {
            return l;
        }
        n += 1;
    }
}

/// A rule's conditions, enough to pick the ports and sources worth asking.
#[derive(Clone, Debug, Default)]
struct Conditions {
    ports: Box<[(u16, u16)]>,
    has_via: bool,
}

/// The rules of both policies, sorted into shapes, regexes and IP prefixes.
#[derive(Default)]
struct Rules {
    shapes: Vec<Shape>,
    /// Per shape, the conditions of every rule that uses it.
    shape_rules: Vec<Vec<Conditions>>,
    regexes: Vec<(String, Conditions)>,
    cidrs: Vec<(IpAddr, u8, Conditions)>,
    incomplete: Vec<String>,
}

impl Rules {
    /// One shape per distinct pattern, with every rule's conditions: sorted and merged rather
    /// than hashed, so no second copy of the shapes is ever held.
    fn group(&mut self, mut pending: Vec<(Shape, Conditions)>) {
        pending.sort_by(|a, b| a.0.cmp(&b.0));
        for (shape, cond) in pending {
            if self.shapes.last() == Some(&shape) {
                if let Some(last) = self.shape_rules.last_mut() {
                    last.push(cond);
                }
            } else {
                self.shapes.push(shape);
                self.shape_rules.push(vec![cond]);
            }
        }
        self.shapes.shrink_to_fit();
        self.shape_rules.shrink_to_fit();
    }

    /// Reads one policy's rules; host shapes go to `pending` until [`Rules::group`].
    fn add(&mut self, engine: &Engine, policy: PolicyId, pending: &mut Vec<(Shape, Conditions)>) {
        for i in 0..engine.rule_count(policy) {
            let Some(info) = engine.rule(policy, i) else {
                continue;
            };
            let cond = Conditions {
                ports: info.ports.into(),
                has_via: !info.via.is_empty(),
            };
            let pattern = match Pattern::parse(&info.pattern) {
                Ok(p) => p,
                Err(_) => {
                    self.incomplete
                        .push(format!("rule `{}` has a pattern diff cannot read", info.id));
                    continue;
                }
            };
            if info.received {
                // The search draws normalized names; a `received` regex also tells names
                // apart by case, a trailing dot and `:PORT`, which no witness here varies.
                self.incomplete.push(format!(
                    "rule `{}` is a `received` regex: it matches names as received (case, \
                     trailing dot, `:PORT`), and diff only searches normalized names, so \
                     disagreements that depend on those are not found",
                    info.id
                ));
            }
            match &pattern {
                Pattern::Regex(re) => self.regexes.push((re.clone(), cond)),
                Pattern::Cidr(ip, len) => self.cidrs.push((*ip, *len, cond)),
                p => match Shape::from_pattern(p) {
                    Some(shape) => pending.push((shape, cond)),
                    None => self.incomplete.push(format!(
                        "rule `{}` has a pattern kind diff does not know",
                        info.id
                    )),
                },
            }
        }
    }
}

/// A shape and where a name is in it: (shape, ends here, takes one more, takes two more).
type Phase = (usize, bool, bool, bool);
/// Where the walk hands each name, with the shapes and the regexes it matches.
type Sink<'s> = dyn FnMut(&str, &[usize], &[usize]) + 's;

/// Walks the shapes' label predicates (and the regexes' reverse DFAs) from the right, handing
/// one name per class — with the shapes and regexes it matches — to `sink` as it goes, so no
/// list of candidates is kept.
struct Walk<'a, 's> {
    rules: &'a Rules,
    /// Reverse DFA and start state of each regex that has one, by regex index.
    dfas: &'a [Option<(Dfa, DfaState)>],
    incomplete: Vec<String>,
    /// Past the shapes' specific labels, where only regexes can still tell names apart: the
    /// states already explored.
    explored: HashSet<(Vec<DfaState>, Vec<Phase>)>,
    sink: &'s mut Sink<'s>,
}

impl<'a> Walk<'a, '_> {
    fn emit(&mut self, labels: &[String], alive: &[usize], rstates: &[DfaState]) {
        use regex_automata::dfa::Automaton;
        let depth = labels.len();
        let mut name = String::new();
        for (i, l) in labels.iter().rev().enumerate() {
            if i > 0 {
                name.push('.');
            }
            name.push_str(l);
        }
        let shapes: Vec<usize> = alive
            .iter()
            .copied()
            .filter(|&s| self.rules.shapes[s].ends_at(depth))
            .collect();
        let regexes: Vec<usize> = self
            .dfas
            .iter()
            .zip(rstates)
            .enumerate()
            .filter_map(|(k, (d, &st))| {
                let (dfa, _) = d.as_ref()?;
                dfa.is_match_state(dfa.next_eoi_state(st)).then_some(k)
            })
            .collect();
        (self.sink)(&name, &shapes, &regexes);
    }

    /// The regex states after a `.` (before every label but the rightmost).
    fn after_dot(&self, depth: usize, rstates: &[DfaState]) -> Vec<DfaState> {
        use regex_automata::dfa::Automaton;
        if depth == 0 {
            return rstates.to_vec();
        }
        self.dfas
            .iter()
            .zip(rstates)
            .map(|(d, &st)| d.as_ref().map_or(st, |(dfa, _)| dfa.next_state(st, b'.')))
            .collect()
    }

    /// The automata a label at this position is read by: the globs given and the live DFAs.
    fn automata(&self, globs: &[&str], dot: &[DfaState]) -> (LabelAutomata<'a>, Vec<usize>) {
        use regex_automata::dfa::Automaton;
        let mut live = Vec::new();
        let mut dfas = Vec::new();
        let mut starts = Vec::new();
        let all: &'a [Option<(Dfa, DfaState)>] = self.dfas;
        for (k, (d, &st)) in all.iter().zip(dot).enumerate() {
            if let Some((dfa, _)) = d {
                if !dfa.is_dead_state(st) {
                    live.push(k);
                    dfas.push(dfa);
                    starts.push(st);
                }
            }
        }
        let reversed: Vec<Glob> = globs
            .iter()
            .filter_map(|g| Glob::new(&g.chars().rev().collect::<String>()))
            .collect();
        (
            LabelAutomata {
                globs: reversed,
                dfas,
                starts,
            },
            live,
        )
    }

    /// The regex states after reading `label` from `dot` (every regex, dead ones stay put).
    fn read(&self, dot: &[DfaState], label: &str) -> Vec<DfaState> {
        use regex_automata::dfa::Automaton;
        self.dfas
            .iter()
            .zip(dot)
            .map(|(d, &st)| match d {
                Some((dfa, _)) => label.bytes().rev().fold(st, |s, c| dfa.next_state(s, c)),
                None => st,
            })
            .collect()
    }

    fn walk(&mut self, labels: &mut Vec<String>, alive: Vec<usize>, rstates: Vec<DfaState>) {
        let depth = labels.len();
        let size = labels
            .iter()
            .map(|l| l.len() + 1)
            .sum::<usize>()
            .saturating_sub(1);
        if size > crate::MAX_NAME_LEN {
            return;
        }
        if depth > 0 {
            self.emit(labels, &alive, &rstates);
        }
        if depth >= 127 {
            return;
        }
        let rules = self.rules;
        let shapes = &rules.shapes;
        let dot = self.after_dot(depth, &rstates);
        let specific: Vec<usize> = alive
            .iter()
            .copied()
            .filter(|&s| shapes[s].labels.len() > depth)
            .collect();
        if specific.is_empty() {
            let (auto, live) = self.automata(&[], &dot);
            if live.is_empty() {
                // Only counts of labels matter below here: `*.` takes one more, `**.` one or
                // more, `.` any number; zero, one and two more labels tell them all apart.
                if alive.iter().any(|&s| shapes[s].takes_extra(depth)) || depth == 0 {
                    let more: Vec<usize> = alive
                        .iter()
                        .copied()
                        .filter(|&s| shapes[s].takes_extra(depth))
                        .collect();
                    let r1 = self.read(&dot, "zz");
                    labels.push("zz".into());
                    self.emit(labels, &more, &r1);
                    let more2: Vec<usize> = more
                        .iter()
                        .copied()
                        .filter(|&s| shapes[s].takes_extra(depth + 1))
                        .collect();
                    let r2 = self.read(&self.after_dot(depth + 1, &r1), "zy");
                    labels.push("zy".into());
                    self.emit(labels, &more2, &r2);
                    labels.pop();
                    labels.pop();
                }
                return;
            }
            // A regex can still tell longer names apart: one label per class of its reverse
            // DFAs, each state explored once with the same shapes in the same phase.
            let phase: Vec<Phase> = alive
                .iter()
                .map(|&s| {
                    let sh = &shapes[s];
                    (
                        s,
                        sh.ends_at(depth),
                        sh.takes_extra(depth),
                        sh.takes_extra(depth + 1),
                    )
                })
                .collect();
            if !self.explored.insert((rstates.clone(), phase)) {
                return;
            }
            let (classes, gap) = label_classes(&[], &|_| false, &auto);
            drop(auto);
            if let Some(gap) = gap {
                self.incomplete.push(gap);
            }
            let next: Vec<usize> = alive
                .iter()
                .copied()
                .filter(|&s| shapes[s].takes_extra(depth))
                .collect();
            for label in classes {
                let r = self.read(&dot, &label);
                labels.push(label);
                self.walk(labels, next.clone(), r);
                labels.pop();
            }
            return;
        }
        // The shapes a label keeps alive: those whose literal here is the label (looked up, not
        // scanned: under a popular suffix there are as many literals as rules), those whose glob
        // here accepts it, and those past their specific labels that take one more.
        let mut by_lit: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut glob_texts: BTreeSet<&str> = BTreeSet::new();
        for &s in &specific {
            match &shapes[s].labels[depth] {
                Label::Lit(l) => by_lit.entry(l).or_default().push(s),
                Label::Glob(g) => {
                    glob_texts.insert(g);
                }
            }
        }
        drop(specific);
        let globs: Vec<&str> = glob_texts.into_iter().collect();
        let (classes, gap) = {
            let (auto, _) = self.automata(&globs, &dot);
            let lits: Vec<&str> = by_lit.keys().copied().collect();
            label_classes(&lits, &|l| by_lit.contains_key(l), &auto)
        };
        if let Some(gap) = gap {
            self.incomplete.push(gap);
        }
        let compiled: Vec<Glob> = globs.iter().filter_map(|g| Glob::new(g)).collect();
        let by_glob: Vec<(usize, &Glob)> = alive
            .iter()
            .filter_map(|&s| match shapes[s].labels.get(depth) {
                Some(Label::Glob(g)) => globs
                    .iter()
                    .position(|x| **x == **g)
                    .and_then(|i| compiled.get(i))
                    .map(|n| (s, n)),
                _ => None,
            })
            .collect();
        let extra: Vec<usize> = alive
            .iter()
            .copied()
            .filter(|&s| shapes[s].labels.len() <= depth && shapes[s].takes_extra(depth))
            .collect();
        let children = |label: &str, own: &[usize]| -> Vec<usize> {
            let mut next = own.to_vec();
            next.extend(
                by_glob
                    .iter()
                    .filter(|(_, g)| g.matches(label))
                    .map(|(s, _)| *s),
            );
            next.extend(extra.iter().copied());
            next.sort_unstable();
            next
        };
        // Each literal is its own class (its own shapes make its set unlike any other), in a
        // fixed order so witnesses come out the same on every run.
        let mut literals: Vec<&str> = by_lit.keys().copied().collect();
        literals.sort_unstable();
        for lit in literals {
            let next = children(lit, &by_lit[lit]);
            let r = self.read(&dot, lit);
            labels.push(lit.to_string());
            self.walk(labels, next, r);
            labels.pop();
        }
        // The other classes: labels that leave the same shapes alive and the regexes in the
        // same states have the same future.
        let mut done: HashSet<(Vec<usize>, Vec<DfaState>)> = HashSet::new();
        for label in classes {
            let next = children(&label, &[]);
            let r = self.read(&dot, &label);
            if !done.insert((next.clone(), r.clone())) {
                continue;
            }
            labels.push(label);
            self.walk(labels, next, r);
            labels.pop();
        }
    }
}

/// The ports worth asking given the conditions of the matching rules: none, and each boundary
/// of each range (the verdict is constant between boundaries).
fn ports_for(conditions: &[&Conditions], only: Option<u16>) -> Vec<Option<u16>> {
    if let Some(p) = only {
        return vec![Some(p)];
    }
    let mut ports: BTreeSet<u16> = BTreeSet::new();
    for c in conditions {
        for &(lo, hi) in &c.ports {
            ports.insert(lo);
            ports.insert(hi);
            if lo > 1 {
                ports.insert(lo - 1);
            }
            if hi < u16::MAX {
                ports.insert(hi + 1);
            }
        }
    }
    if ports.is_empty() {
        // No rule looks at the port: one port stands for all.
        ports.insert(1);
    }
    std::iter::once(None)
        .chain(ports.into_iter().map(Some))
        .collect()
}

/// The sources worth asking: unknown, and each source when a matching rule names sources.
fn vias_for(conditions: &[&Conditions], only: Option<Via>) -> Vec<Option<Via>> {
    if let Some(v) = only {
        return vec![Some(v)];
    }
    if conditions.iter().any(|c| c.has_via) {
        std::iter::once(None)
            .chain(Via::ALL.iter().copied().map(Some))
            .collect()
    } else {
        vec![None]
    }
}

/// The first and last address of each prefix and their neighbours, and the ends of both
/// address families.
fn ip_candidates(cidrs: &[(IpAddr, u8, Conditions)]) -> Vec<(IpAddr, Vec<Conditions>)> {
    let mut ips: BTreeSet<IpAddr> = BTreeSet::from([
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V4(Ipv4Addr::BROADCAST),
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        IpAddr::V6(Ipv6Addr::from(u128::MAX)),
    ]);
    for (ip, len, _) in cidrs {
        match ip {
            IpAddr::V4(a) => {
                let bits = u32::from(*a);
                let host = if *len >= 32 { 0 } else { u32::MAX >> len };
                let (lo, hi) = (bits & !host, bits | host);
                for x in [Some(lo), Some(hi), lo.checked_sub(1), hi.checked_add(1)]
                    .into_iter()
                    .flatten()
                {
                    ips.insert(IpAddr::V4(Ipv4Addr::from(x)));
                }
            }
            IpAddr::V6(a) => {
                let bits = u128::from(*a);
                let host = if *len >= 128 { 0 } else { u128::MAX >> len };
                let (lo, hi) = (bits & !host, bits | host);
                for x in [Some(lo), Some(hi), lo.checked_sub(1), hi.checked_add(1)]
                    .into_iter()
                    .flatten()
                {
                    ips.insert(IpAddr::V6(Ipv6Addr::from(x)));
                }
            }
        }
    }
    ips.into_iter()
        .map(|ip| {
            let conds = cidrs
                .iter()
                .filter(|(net, len, _)| in_prefix(ip, *net, *len))
                .map(|(_, _, c)| c.clone())
                .collect();
            (ip, conds)
        })
        .collect()
}

fn in_prefix(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The reverse DFA of a whole-match regex and its start state, as the engine matches it (start
/// and end anchored, default syntax), or `None` when no DFA of bounded size exists.
fn reverse_dfa(re: &str) -> Option<(Dfa, DfaState)> {
    use regex_automata::dfa::{dense, Automaton};
    use regex_automata::nfa::thompson;
    use regex_automata::{Anchored, Input};
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .dfa_size_limit(Some(1 << 22))
                .determinize_size_limit(Some(1 << 22)),
        )
        .thompson(thompson::Config::new().reverse(true))
        .build(&format!(r"\A(?:{re})\z"))
        .ok()?;
    let start = dfa
        .start_state_reverse(&Input::new("").anchored(Anchored::Yes))
        .ok()?;
    Some((dfa, start))
}

/// The shortest names (at most `max`) a whole-match regex accepts, by breadth-first search over
/// its DFA on the characters of names.
fn regex_examples(re: &str, max: usize) -> Vec<String> {
    use regex_automata::dfa::{dense, Automaton};
    use regex_automata::{Anchored, Input};
    let anchored = format!("^(?:{re})$");
    let Ok(dfa) = dense::Builder::new()
        .configure(dense::Config::new().dfa_size_limit(Some(1 << 22)))
        .build(&anchored)
    else {
        return Vec::new();
    };
    let Ok(start) = dfa.start_state_forward(&Input::new("").anchored(Anchored::Yes)) else {
        return Vec::new();
    };
    let alphabet: Vec<u8> = LABEL_CHARS.iter().copied().chain([b'.']).collect();
    // Each DFA state is entered by at most `max` strings, so `a[0-9]` gives `a0`, `a1`, `a2`
    // rather than one string per state.
    let mut entered: HashMap<regex_automata::util::primitives::StateID, usize> = HashMap::new();
    let mut queue = VecDeque::from([(start, String::new())]);
    let mut out = Vec::new();
    let mut expansions = 0;
    while let Some((s, text)) = queue.pop_front() {
        if dfa.is_match_state(dfa.next_eoi_state(s)) && crate::normalize(&text).is_ok() {
            out.push(text.clone());
            if out.len() >= max {
                break;
            }
        }
        expansions += 1;
        if expansions > 100_000 || text.len() >= crate::MAX_NAME_LEN {
            break;
        }
        for &c in &alphabet {
            let n = dfa.next_state(s, c);
            let times = entered.entry(n).or_insert(0);
            if dfa.is_dead_state(n) || *times >= max {
                continue;
            }
            *times += 1;
            let mut t = text.clone();
            t.push(c as char);
            queue.push_back((n, t));
        }
    }
    out
}

/// The region a disagreement belongs to: each side's deciding rule (or how it decided without
/// one).
type Region = (Option<u32>, Reason, Option<u32>, Reason);

/// Every region where `left` and `right` disagree, with one witness each.
///
/// See the module documentation for how the search works and when it is complete.
///
/// ```
/// use hostgate::{diff, DiffOptions, Engine, Via};
/// let a = Engine::compile("allow **.kadath.io via tls\n").unwrap();
/// let b = Engine::compile("allow **.kadath.io\n").unwrap();
/// let d = diff((&a, a.default_policy()), (&b, b.default_policy()), &DiffOptions::default());
/// assert!(d.complete && !d.agree());
/// assert!(d.witnesses.iter().all(|w| w.via != Some(Via::Tls)));
/// let same = diff((&a, a.default_policy()), (&a, a.default_policy()), &DiffOptions::default());
/// assert!(same.agree() && same.complete);
/// ```
pub fn diff<'l, 'r>(
    left: (&'l Engine, PolicyId),
    right: (&'r Engine, PolicyId),
    options: &DiffOptions,
) -> Diff<'l, 'r> {
    let mut rules = Rules::default();
    let mut pending = Vec::new();
    rules.add(left.0, left.1, &mut pending);
    rules.add(right.0, right.1, &mut pending);
    rules.group(pending);

    // Regex rules may match any name: their conditions count for every name asked.
    let regex_conds: Vec<&Conditions> = rules.regexes.iter().map(|(_, c)| c).collect();
    let mut best: HashMap<Region, Witness<'l, 'r>> = HashMap::new();
    let mut queries = 0usize;
    let mut ask = |name: &str, conditions: &[&Conditions]| {
        for port in ports_for(conditions, options.port) {
            for via in vias_for(conditions, options.via) {
                let mut q = Query::new(name);
                q.port = port;
                q.via = via;
                queries += 1;
                let l = left.0.check(left.1, &q);
                let r = right.0.check(right.1, &q);
                if l.action == r.action {
                    continue;
                }
                let region = (
                    l.rule.map(|m| m.index()),
                    l.reason,
                    r.rule.map(|m| m.index()),
                    r.reason,
                );
                let w = Witness {
                    name: name.to_string(),
                    port,
                    via,
                    left: l,
                    right: r,
                };
                best.entry(region)
                    .and_modify(|old| {
                        if simpler(&w, old) {
                            *old = w.clone();
                        }
                    })
                    .or_insert(w);
            }
        }
    };
    // Each regex read backwards over the name, as the walk builds it; a regex its DFA cannot
    // be built for (too large, or a look-around a DFA lacks) is asked of every name instead.
    let dfas: Vec<Option<(Dfa, DfaState)>> = rules
        .regexes
        .iter()
        .map(|(re, _)| reverse_dfa(re))
        .collect();
    let unbuilt: Vec<usize> = (0..dfas.len()).filter(|&k| dfas[k].is_none()).collect();
    let unbuilt_conds: Vec<&Conditions> = unbuilt.iter().map(|&k| &rules.regexes[k].1).collect();
    let mut gaps = {
        let mut sink = |name: &str, shapes: &[usize], regexes: &[usize]| {
            let mut conds: Vec<&Conditions> = shapes
                .iter()
                .flat_map(|&s| rules.shape_rules[s].iter())
                .collect();
            conds.extend(regexes.iter().map(|&k| &rules.regexes[k].1));
            conds.extend(unbuilt_conds.iter().copied());
            ask(name, &conds);
        };
        let starts: Vec<DfaState> = dfas
            .iter()
            .map(|d| d.as_ref().map_or(DfaState::ZERO, |(_, st)| *st))
            .collect();
        let mut walk = Walk {
            rules: &rules,
            dfas: &dfas,
            incomplete: Vec::new(),
            explored: HashSet::new(),
            sink: &mut sink,
        };
        walk.walk(&mut Vec::new(), (0..rules.shapes.len()).collect(), starts);
        walk.incomplete
    };
    gaps.extend(rules.incomplete.iter().cloned());
    if !unbuilt.is_empty() {
        for &k in &unbuilt {
            for name in regex_examples(&rules.regexes[k].0, 3) {
                ask(&name, &regex_conds);
            }
        }
        gaps.push(format!(
            "{} regex rule{} too large or too complex for a DFA: only the names near the other \
             rules and the shortest names each matches were asked",
            unbuilt.len(),
            if unbuilt.len() == 1 { "" } else { "s" }
        ));
    }
    for (ip, conds) in ip_candidates(&rules.cidrs) {
        let conds: Vec<&Conditions> = conds.iter().collect();
        ask(&ip.to_string(), &conds);
    }

    let mut witnesses: Vec<Witness<'l, 'r>> = best.into_values().collect();
    witnesses.sort_by_key(order_key);
    let regions = witnesses.len();
    witnesses.truncate(options.limit);
    gaps.sort();
    gaps.dedup();
    Diff {
        witnesses,
        regions,
        complete: gaps.is_empty(),
        incomplete: gaps,
        queries,
    }
}

fn order_key(w: &Witness<'_, '_>) -> (usize, String, Option<u16>, Option<Via>) {
    (w.name.len(), w.name.clone(), w.port, w.via)
}

/// Shorter names first, then no port and no source before specific ones.
fn simpler(a: &Witness<'_, '_>, b: &Witness<'_, '_>) -> bool {
    order_key(a) < order_key(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_examples_are_the_shortest_matching_names() {
        assert_eq!(
            regex_examples(r"a[0-9]\.kadath\.io", 3),
            ["a0.kadath.io", "a1.kadath.io", "a2.kadath.io"]
        );
    }

    #[test]
    fn glob_nfa_matches_like_the_contract() {
        let g = Glob::new("api-*").unwrap();
        assert!(g.matches("api-") && g.matches("api-v2") && !g.matches("api"));
        let g = Glob::new("*-*").unwrap();
        assert!(g.matches("-") && g.matches("a-b") && !g.matches("ab"));
        assert!(Glob::new("*").unwrap().matches("x"));
    }

    #[test]
    fn label_classes_cover_every_glob_combination() {
        let auto = LabelAutomata {
            globs: vec![Glob::new("*-ipa").unwrap(), Glob::new("2v-*").unwrap()], // reversed
            dfas: Vec::new(),
            starts: Vec::new(),
        };
        let (mut labels, gap) = label_classes(&["api-v2"], &|l| l == "api-v2", &auto);
        labels.push("api-v2".into()); // the literal, asked as itself
        assert!(gap.is_none());
        let a = Glob::new("api-*").unwrap();
        let b = Glob::new("*-v2").unwrap();
        let vectors: HashSet<(bool, bool, bool)> = labels
            .iter()
            .map(|l| (a.matches(l), b.matches(l), l == "api-v2"))
            .collect();
        // Neither, each alone, both (not the literal), and the literal (which is both).
        for v in [
            (false, false, false),
            (true, false, false),
            (false, true, false),
            (true, true, false),
            (true, true, true),
        ] {
            assert!(vectors.contains(&v), "{v:?} missing from {labels:?}");
        }
    }
}
