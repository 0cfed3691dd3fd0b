//! The compiled engine: every policy of a file sharing one matcher, and the lookup path.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;

use regex_automata::meta::{self, Regex};
use regex_automata::{Anchored, Input, MatchKind, PatternSet};

use crate::builder::{PolicySpec, RuleSpec};
use crate::error::{CompileErrors, Diagnostic, Severity};
use crate::matcher::{Hit, Sizing, SuffixHashes, SuffixTable};
use crate::name::{fast_body, normalize, normalize_into, scan_ascii, Name, NameKind};
use crate::pages::Store;
use crate::pattern::{glob_label_match, mask, max_prefix, Pattern, PatternError};
use crate::syntax;
use crate::types::{Action, PolicyId, Precedence, Query, Reason, Verdict, Via};

/// The most rules one engine holds (exclusive).
const MAX_RULES: usize = 1 << 24;
/// Compiled-size limit for one `~regex` (bytes of NFA).
const REGEX_NFA_LIMIT: usize = 1 << 20;
/// Nesting limit for `~regex` syntax.
const REGEX_NEST_LIMIT: u32 = 64;
/// Stop reporting after this many errors: a binary file passed as a policy should not print
/// a million lines.
const MAX_ERRORS: usize = 1000;

/// How a rule's pattern relates to the query (for keyed shapes: to the key, by `depth` = labels
/// left of the key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Shape {
    /// depth == 0
    Exact,
    /// depth == 1
    OneLabel,
    /// depth >= 1
    Deep,
    /// depth >= 0
    Dot,
    /// depth == head length and each head label glob-matches
    Glob,
    /// `*`
    Any,
    /// `~regex`
    Regex,
    /// IP or CIDR
    Cidr,
}

/// `Rule::flags`: the low four bits are the `via` mask.
const DENY: u8 = 1 << 4;
const HAS_PORTS: u8 = 1 << 5;
/// The rule has a `via` list: even one naming all four sources needs a known source.
const HAS_VIA: u8 = 1 << 6;
const ALL_VIA: u8 = 0b1111;
const NO_AUX: u32 = u32::MAX;

/// Everything a lookup needs about one rule, in 16 bytes: matching a key, its conditions, its
/// rank, and the verdict's rule fields. (Its policy follows from its index: each policy's
/// rules are numbered contiguously, see [`policy_index`].)
///
/// Plain bytes (`Pod`, the shape as its `u8`), so that a large rule array can live on huge
/// pages (see `pages`).
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Rule {
    rank: u32,
    line: u32,
    /// Index into `Engine::aux` for globs and port-limited rules, else `NO_AUX`.
    aux: u32,
    /// A `Shape`, read through [`Rule::shape`].
    shape: u8,
    flags: u8,
    _pad: [u8; 2],
}

impl Rule {
    #[inline(always)]
    fn shape(&self) -> Shape {
        shape_from(self.shape)
    }

    #[inline(always)]
    fn deny(&self) -> bool {
        self.flags & DENY != 0
    }
}

/// The matcher's 16 bits of per-rule data: shape in the high byte, flags in the low.
fn pack_meta(shape: Shape, flags: u8) -> u16 {
    (u16::from(shape as u8) << 8) | u16::from(flags)
}

#[inline(always)]
fn unpack_meta(meta: u16) -> (Shape, u8) {
    (shape_from((meta >> 8) as u8), meta as u8)
}

/// A `Shape` from its `u8`.
#[inline(always)]
fn shape_from(b: u8) -> Shape {
    // A table, not a `match`: that compiles to an indirect jump, which mispredicts.
    const SHAPES: [Shape; 8] = [
        Shape::Exact,
        Shape::OneLabel,
        Shape::Deep,
        Shape::Dot,
        Shape::Glob,
        Shape::Any,
        Shape::Regex,
        Shape::Cidr,
    ];
    SHAPES[usize::from(b) & 7]
}

/// Port and source conditions, from a rule's flags; `port_in` tests its port ranges.
#[inline(always)]
fn conditions(
    flags: u8,
    port: Option<u16>,
    via: Option<Via>,
    port_in: impl FnOnce(u16) -> bool,
) -> bool {
    let deny = flags & DENY != 0;
    if flags & HAS_VIA != 0 {
        match via {
            Some(v) if flags & ALL_VIA & v.bit() == 0 => return false,
            Some(_) => {}
            // Unknown source: only a deny may rely on it (fail closed).
            None if !deny => return false,
            None => {}
        }
    }
    if flags & HAS_PORTS != 0 {
        return match port {
            Some(p) => port_in(p),
            // A port-less query (DNS): reachable on some port, so allows match, denies not.
            None => !deny,
        };
    }
    true
}

/// The rare extras of a rule: its glob head and its port ranges.
#[derive(Clone, Copy, Debug)]
struct Aux {
    glob: u32,
    ports_off: u32,
    ports_len: u32,
}

#[derive(Debug)]
struct PolicyMeta {
    name: String,
    precedence: Precedence,
    default: Action,
    first_rule: u32,
    rule_count: u32,
    /// `*` rules, by rank.
    any: Vec<u32>,
    /// The smallest rank of any `~regex` rule (u32::MAX when none): the regex set only runs
    /// when it could beat the best rank found so far.
    regex_min_rank: u32,
}

/// The index of the policy that global rule `g` belongs to.
fn policy_index(policies: &[PolicyMeta], g: u32) -> usize {
    // Policies number their rules contiguously, in order; empty ones own no index.
    policies.partition_point(|p| p.first_rule + p.rule_count <= g)
}

impl PolicyMeta {
    /// Whether global rule `g` is one of this policy's.
    #[inline(always)]
    fn owns(&self, g: u32) -> bool {
        g.wrapping_sub(self.first_rule) < self.rule_count
    }

    /// The rank of this policy's rule `g` (see `Build::policy`): computed from its position
    /// where the precedence allows, so the matcher need not store it; `stored` otherwise.
    #[inline(always)]
    fn rank_of(&self, g: u32, deny: bool, stored: impl FnOnce() -> u32) -> u32 {
        let i = g.wrapping_sub(self.first_rule);
        match self.precedence {
            Precedence::FirstMatch => i,
            Precedence::DenyOverrides if deny => i,
            Precedence::DenyOverrides => i + self.rule_count,
            Precedence::MostSpecific => stored(),
        }
    }
}

/// The `~regex` rules of every policy in one multi-pattern regex, identical sources shared.
#[derive(Debug)]
struct RegexSet {
    regex: Regex,
    /// Per pattern: its rules, sorted by policy then rank.
    rules: Vec<Vec<u32>>,
}

/// IP and CIDR rules: one hash map keyed by (prefix length, masked address).
#[derive(Debug, Default)]
struct IpTable {
    map: HashMap<(u8, u128), Vec<u32>>,
    /// Prefix lengths present, longest first, for v4 and v6.
    v4_lens: Vec<u8>,
    v6_lens: Vec<u8>,
}

impl IpTable {
    fn key(ip: IpAddr, len: u8) -> (u8, u128) {
        match mask(ip, len) {
            IpAddr::V4(v4) => (len, u128::from(u32::from(v4))),
            // v6 keys are offset so they never collide with v4 keys of the same length.
            IpAddr::V6(v6) => (len.wrapping_add(64), u128::from(v6)),
        }
    }
}

/// A valid lowercase host name, as the matcher reads it.
#[derive(Clone, Copy)]
struct Host<'a> {
    bytes: &'a [u8],
    /// Bit `i` set when byte `i` is a dot. By value: a reference kept the scan's result in
    /// memory, copied there every lookup.
    dots: [u64; 4],
}

/// Glob heads (labels left of the literal suffix), bytes per label.
type GlobHead = Vec<Vec<u8>>;

/// A compiled, immutable set of policies sharing one matcher.
///
/// Build it with [`Engine::compile`] (policy text) or [`crate::EngineBuilder`]. It is
/// `Send + Sync`: share one engine between threads (behind an `Arc`), and reload policy by
/// compiling a new engine and swapping it in. Lookups never allocate.
///
/// ```
/// use hostgate::{Action, Engine, Query};
/// let e = Engine::compile("policy a\nallow .kadath.io\npolicy b\ndefault allow\ndeny .kadath.io\n")
///     .unwrap();
/// let (a, b) = (e.policy("a").unwrap(), e.policy("b").unwrap());
/// assert_eq!(e.check(a, &Query::new("api.kadath.io")).action, Action::Allow);
/// assert_eq!(e.check(b, &Query::new("api.kadath.io")).action, Action::Deny);
/// ```
#[derive(Debug)]
pub struct Engine {
    policies: Vec<PolicyMeta>,
    by_name: HashMap<String, u32>,
    rules: Store<Rule>,
    aux: Vec<Aux>,
    table: SuffixTable,
    globs: Vec<GlobHead>,
    ips: IpTable,
    regexes: Option<RegexSet>,
    ports: Vec<(u16, u16)>,
    /// Explicit rule ids, one arena.
    ids: String,
    /// (rule, offset, length) of each explicit id, by rule: the cold side of `Rule`.
    named_ids: Vec<(u32, u32, u32)>,
    /// Cold, for showing patterns: per rule, the table node (keyed shapes), the regex source
    /// or the CIDR it came from.
    pattern_ref: Vec<u32>,
    regex_sources: Vec<String>,
    cidrs: Vec<(IpAddr, u8)>,
    warnings: Vec<Diagnostic>,
}

/// A rule as compiled, for display and explanations.
///
/// ```
/// let e = hostgate::Engine::compile("allow **.Stripe.com port 443 via tls\n").unwrap();
/// let r = e.rule(e.policy("default").unwrap(), 0).unwrap();
/// assert_eq!((r.pattern.as_str(), r.line), ("**.stripe.com", 1));
/// assert_eq!(r.id, "default:1");
/// assert_eq!(r.ports, &[(443, 443)]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInfo<'e> {
    /// Position in the policy, in file order, from 0.
    pub index: u32,
    /// The id (`POLICY:LINE` when none was given).
    pub id: RuleId<'e>,
    /// Source line (0 for built rules).
    pub line: u32,
    /// Allow or deny.
    pub action: Action,
    /// The pattern, normalized (`*.Bücher.example` shows as `*.xn--bcher-kva.example`).
    pub pattern: String,
    /// Inclusive port ranges; empty = any port.
    pub ports: &'e [(u16, u16)],
    /// Sources; empty = any source.
    pub via: Vec<Via>,
}

/// One matching rule in an [`Explanation`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExplainedRule<'e> {
    /// The rule.
    pub rule: RuleInfo<'e>,
    /// Whether this rule decided the verdict.
    pub decides: bool,
}

/// Every rule that matches a query, which one decides, and why.
///
/// ```
/// use hostgate::{Engine, Query};
/// let e = Engine::compile("precedence deny-overrides\nallow .kadath.io\ndeny api.kadath.io\n").unwrap();
/// let x = e.explain(e.policy("default").unwrap(), &Query::new("api.kadath.io"));
/// assert_eq!(x.matches.len(), 2);
/// assert!(x.matches[1].decides);
/// assert!(x.why.contains("deny-overrides"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation<'e> {
    /// The normalized name, or `None` when the name is invalid.
    pub normalized: Option<Name>,
    /// The verdict, identical to [`Engine::check`]'s.
    pub verdict: Verdict<'e>,
    /// Every matching rule, in file order.
    pub matches: Vec<ExplainedRule<'e>>,
    /// Why the verdict is what it is, in words.
    pub why: String,
}

/// The rule that decided a verdict. Its index, id and line are read from the engine only when
/// asked for: a lookup itself touches just the table node that matched.
///
/// ```
/// let e = hostgate::Engine::compile("allow a.io\ndeny api.leng.com id block-leng\n").unwrap();
/// let p = e.policy("default").unwrap();
/// let r = e.check(p, &hostgate::Query::new("api.leng.com")).rule.unwrap();
/// assert_eq!((r.index(), r.line()), (1, 2));
/// assert_eq!(r.id(), "block-leng");
/// let r = e.check(p, &hostgate::Query::new("a.io")).rule.unwrap();
/// assert_eq!(r.id().to_string(), "default:1");
/// ```
#[derive(Clone, Copy)]
pub struct MatchedRule<'e> {
    engine: &'e Engine,
    /// Global rule index.
    rule: u32,
}

impl<'e> MatchedRule<'e> {
    /// The rule's position in its policy, in file order, from 0.
    pub fn index(&self) -> u32 {
        let e = self.engine;
        let first = e
            .policies
            .get(policy_index(&e.policies, self.rule))
            .map_or(0, |p| p.first_rule);
        self.rule - first
    }

    /// The rule's `id`, or `POLICY:LINE` when it has none (`POLICY#INDEX` for built rules).
    pub fn id(&self) -> RuleId<'e> {
        self.engine.id_of(self.rule)
    }

    /// The rule's line in the policy text (0 for rules added with the builder).
    pub fn line(&self) -> u32 {
        self.engine
            .rules
            .get(self.rule as usize)
            .map_or(0, |r| r.line)
    }
}

impl PartialEq for MatchedRule<'_> {
    fn eq(&self, other: &Self) -> bool {
        core::ptr::eq(self.engine, other.engine) && self.rule == other.rule
    }
}

impl Eq for MatchedRule<'_> {}

impl core::fmt::Debug for MatchedRule<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MatchedRule")
            .field("index", &self.index())
            .field("id", &self.id())
            .field("line", &self.line())
            .finish()
    }
}

/// A rule's id: the one written with `id`, or derived from where the rule is. Displays as the
/// text (`block-leng`, `default:12`, `web#3`) and compares with `&str` without allocating.
///
/// ```
/// let e = hostgate::Engine::compile("policy web\nallow a.io\n").unwrap();
/// let r = e.check(e.policy("web").unwrap(), &hostgate::Query::new("a.io")).rule.unwrap();
/// assert_eq!(r.id(), "web:2");
/// assert_eq!(format!("{}", r.id()), "web:2");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleId<'e> {
    /// Written in the policy (`id NAME`).
    Named(&'e str),
    /// None written: `POLICY:LINE`.
    Line {
        /// The policy's name.
        policy: &'e str,
        /// The rule's line.
        line: u32,
    },
    /// None written and no line (a built rule): `POLICY#INDEX`.
    Index {
        /// The policy's name.
        policy: &'e str,
        /// The rule's index in its policy.
        index: u32,
    },
}

impl RuleId<'_> {
    /// The written id, when there is one.
    ///
    /// ```
    /// assert_eq!(hostgate::RuleId::Named("x").named(), Some("x"));
    /// ```
    pub fn named(&self) -> Option<&str> {
        match self {
            RuleId::Named(s) => Some(s),
            _ => None,
        }
    }
}

impl core::fmt::Display for RuleId<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RuleId::Named(s) => f.write_str(s),
            RuleId::Line { policy, line } => write!(f, "{policy}:{line}"),
            RuleId::Index { policy, index } => write!(f, "{policy}#{index}"),
        }
    }
}

impl PartialEq<str> for RuleId<'_> {
    fn eq(&self, other: &str) -> bool {
        let (policy, sep, n) = match self {
            RuleId::Named(s) => return *s == other,
            RuleId::Line { policy, line } => (policy, ':', line),
            RuleId::Index { policy, index } => (policy, '#', index),
        };
        other
            .strip_prefix(*policy)
            .and_then(|rest| rest.strip_prefix(sep))
            .is_some_and(|digits| {
                // Exactly the decimal digits Display would write: no sign, no leading zero.
                digits.bytes().all(|b| b.is_ascii_digit())
                    && (!digits.starts_with('0') || digits == "0")
                    && digits.parse::<u32>().ok() == Some(*n)
            })
    }
}

impl PartialEq<&str> for RuleId<'_> {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

thread_local! {
    /// Scratch for the regex set; allocated once per thread, so lookups do not allocate.
    static PATTERN_SET: RefCell<PatternSet> = RefCell::new(PatternSet::new(0));
}

/// The best candidate so far, or every candidate (for explanations).
trait Collector {
    /// Ranks at or above this cannot improve the answer.
    fn bound(&self) -> u32;
    fn offer(&mut self, rank: u32, rule: u32, deny: bool);
}

/// The best match so far: its rank, rule and action. `rank` is `u32::MAX` while there is none
/// (no rule's rank reaches it: ranks stay below twice the rule limit), so the bound is a plain
/// read, not an `Option` to test.
struct Best {
    rank: u32,
    rule: u32,
    deny: bool,
}

impl Best {
    const NONE: Best = Best {
        rank: u32::MAX,
        rule: 0,
        deny: false,
    };
}

impl Collector for Best {
    #[inline(always)]
    fn bound(&self) -> u32 {
        self.rank
    }
    #[inline(always)]
    fn offer(&mut self, rank: u32, rule: u32, deny: bool) {
        if rank < self.rank {
            *self = Best { rank, rule, deny };
        }
    }
}

struct All(Vec<(u32, u32)>);

impl Collector for All {
    fn bound(&self) -> u32 {
        u32::MAX
    }
    fn offer(&mut self, rank: u32, rule: u32, _deny: bool) {
        self.0.push((rank, rule));
    }
}

impl Engine {
    /// Compiles policy text (the language of `docs/policy-language.md`).
    ///
    /// On failure every error is returned, in line order, each with line and column.
    ///
    /// A large policy (a text of 1 MB or more, or 20,000 rules or more) is compiled on two
    /// threads where the machine has two cores: the calling thread and one scoped thread,
    /// which has ended when this returns. If that thread cannot be started, the calling thread
    /// does all the work, with the same result. Smaller policies use the calling thread only.
    ///
    /// ```
    /// let errs = hostgate::Engine::compile("allow a.**.b\nallow ok.io port 70000\n").unwrap_err();
    /// let at: Vec<_> = errs.errors().iter().map(|e| (e.line, e.column)).collect();
    /// assert_eq!(at, [(1, 9), (2, 18)]);
    /// ```
    pub fn compile(text: &str) -> Result<Engine, CompileErrors> {
        let (specs, errors) = syntax::parse(text);
        Engine::from_specs(specs, errors)
    }

    pub(crate) fn from_specs(
        specs: Vec<PolicySpec>,
        mut errors: Vec<Diagnostic>,
    ) -> Result<Engine, CompileErrors> {
        // Rules and table slots are indexed by u32; past 16M rules an engine would take gigabytes:
        // refuse absurd sizes up front.
        let total: usize = specs.iter().map(|p| p.rules.len()).sum();
        if total >= MAX_RULES {
            errors.push(Diagnostic::error(
                0,
                0,
                format!("{total} rules: at most {} are supported", MAX_RULES - 1),
            ));
            return Err(CompileErrors { errors });
        }
        let mut b = Build::default();
        // Sized once: growing these by doubling copied and page-faulted them over and over.
        b.rules.reserve_exact(total);
        b.keyed.reserve_exact(total);
        b.pattern_ref.reserve_exact(total);
        let mut seen_names: HashMap<&str, usize> = HashMap::new();
        // A large rule set is compiled on two threads where there are two cores.
        let parallel = total >= PARALLEL_PARSE_MIN && syntax::two_cores();
        let (patterns, hashes) = parse_patterns(&specs, parallel);
        let mut patterns = patterns.into_iter();
        // Every policy's rules, compiled in order.
        let mut compile_all = |errors: &mut Vec<Diagnostic>| {
            for (pi, spec) in specs.iter().enumerate() {
                if let Some(first) = seen_names.insert(&spec.name, pi) {
                    // Text input reports this in the parser; the builder needs it here.
                    if spec.line == 0 {
                        errors.push(Diagnostic::error(
                            0,
                            0,
                            format!(
                                "policy `{}` is defined twice (policies {first} and {pi})",
                                spec.name
                            ),
                        ));
                    }
                }
                b.policy(pi as u32, spec, &mut patterns, errors);
            }
        };
        // The matcher's table is sized from the keys' distinct suffixes: for a large rule set
        // counted on another thread while the rules are compiled, if it can be started. (A
        // scope only then: entering one sets up the calling thread's handle, which a C caller's
        // leak checker sees as an allocation kept for the thread's life.)
        let sizing = if parallel {
            std::thread::scope(|scope| {
                let counter = std::thread::Builder::new()
                    .spawn_scoped(scope, move || hashes.sizing())
                    .ok();
                compile_all(&mut errors);
                counter.and_then(|h| h.join().ok())
            })
        } else {
            compile_all(&mut errors);
            Some(hashes.sizing())
        };
        if !errors.is_empty() {
            errors.sort_by_key(|e| (e.line, e.column));
            errors.dedup();
            if errors.len() > MAX_ERRORS {
                let n = errors.len() - MAX_ERRORS;
                errors.truncate(MAX_ERRORS);
                errors.push(Diagnostic::error(
                    0,
                    0,
                    format!("{n} more errors not shown"),
                ));
            }
            return Err(CompileErrors { errors });
        }
        drop(seen_names);
        if !parallel {
            return b.finish(sizing);
        }
        // A large rule set's specs (a few strings per rule) are freed on another thread while
        // the table is built; if it cannot start, they are freed here when the closure is.
        std::thread::scope(|scope| {
            let _ = std::thread::Builder::new().spawn_scoped(scope, move || drop(specs));
            b.finish(sizing)
        })
    }

    /// Warnings: rules that compile but probably do not mean what their author thinks.
    ///
    /// ```
    /// let e = hostgate::Engine::compile("allow *google.com\n").unwrap();
    /// assert!(e.warnings()[0].message.contains("xgoogle.com"));
    /// ```
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Finds a policy by name; resolve once, then check many times.
    ///
    /// ```
    /// let e = hostgate::Engine::compile("policy web\nallow a.io\n").unwrap();
    /// assert!(e.policy("web").is_some());
    /// assert!(e.policy("default").is_none());
    /// ```
    pub fn policy(&self, name: &str) -> Option<PolicyId> {
        self.by_name.get(name).map(|&i| PolicyId(i))
    }

    /// The name of a policy, or `None` for an id from another engine.
    ///
    /// ```
    /// let e = hostgate::Engine::compile("allow a.io\n").unwrap();
    /// assert_eq!(e.policy_name(hostgate::PolicyId::from_index(0)), Some("default"));
    /// ```
    pub fn policy_name(&self, id: PolicyId) -> Option<&str> {
        self.policies.get(id.0 as usize).map(|p| p.name.as_str())
    }

    /// Every policy, in file order.
    ///
    /// ```
    /// let e = hostgate::Engine::compile("policy a\npolicy b\n").unwrap();
    /// let names: Vec<_> = e.policies().map(|(_, n)| n).collect();
    /// assert_eq!(names, ["a", "b"]);
    /// ```
    pub fn policies(&self) -> impl ExactSizeIterator<Item = (PolicyId, &str)> + '_ {
        self.policies
            .iter()
            .enumerate()
            .map(|(i, p)| (PolicyId(i as u32), p.name.as_str()))
    }

    /// A policy's precedence mode and default action.
    ///
    /// ```
    /// use hostgate::{Action, Precedence};
    /// let e = hostgate::Engine::compile("default allow\nprecedence most-specific\n").unwrap();
    /// let p = e.policy("default").unwrap();
    /// assert_eq!(e.policy_settings(p), Some((Precedence::MostSpecific, Action::Allow)));
    /// ```
    pub fn policy_settings(&self, id: PolicyId) -> Option<(Precedence, Action)> {
        self.policies
            .get(id.0 as usize)
            .map(|p| (p.precedence, p.default))
    }

    /// Number of rules in a policy (0 for an unknown policy).
    ///
    /// ```
    /// let e = hostgate::Engine::compile("allow a.io\ndeny b.io\n").unwrap();
    /// assert_eq!(e.rule_count(e.policy("default").unwrap()), 2);
    /// ```
    pub fn rule_count(&self, policy: PolicyId) -> u32 {
        self.policies
            .get(policy.0 as usize)
            .map_or(0, |p| p.rule_count)
    }

    /// A rule of a policy by its index (file order, from 0).
    ///
    /// ```
    /// let e = hostgate::Engine::compile("deny api.leng.com id block-leng\n").unwrap();
    /// let p = e.policy("default").unwrap();
    /// assert_eq!(e.rule(p, 0).unwrap().id, "block-leng");
    /// assert!(e.rule(p, 1).is_none());
    /// ```
    pub fn rule(&self, policy: PolicyId, index: u32) -> Option<RuleInfo<'_>> {
        let p = self.policies.get(policy.0 as usize)?;
        if index >= p.rule_count {
            return None;
        }
        Some(self.rule_info(p.first_rule + index))
    }

    fn id_of(&self, global: u32) -> RuleId<'_> {
        let Some(r) = self.rules.get(global as usize) else {
            return RuleId::Named("");
        };
        let policy = self.policies.get(policy_index(&self.policies, global));
        if let Ok(k) = self.named_ids.binary_search_by_key(&global, |&(g, _, _)| g) {
            let (_, off, len) = self.named_ids[k];
            let start = off as usize;
            return RuleId::Named(self.ids.get(start..start + len as usize).unwrap_or(""));
        }
        let name = policy.map_or("", |p| p.name.as_str());
        if r.line > 0 {
            RuleId::Line {
                policy: name,
                line: r.line,
            }
        } else {
            RuleId::Index {
                policy: name,
                index: global - policy.map_or(0, |p| p.first_rule),
            }
        }
    }

    fn aux_of(&self, r: &Rule) -> Option<&Aux> {
        self.aux.get(r.aux as usize)
    }

    fn ports_of(&self, r: &Rule) -> &[(u16, u16)] {
        self.aux_of(r)
            .and_then(|a| {
                let start = a.ports_off as usize;
                self.ports.get(start..start + a.ports_len as usize)
            })
            .unwrap_or(&[])
    }

    /// The pattern's normalized text, rebuilt from where the rule is filed (cold path).
    fn pattern_text(&self, global: u32, r: &Rule) -> String {
        let reference = self.pattern_ref.get(global as usize).copied().unwrap_or(0);
        let key = || self.table.key(reference);
        match r.shape() {
            Shape::Exact => key(),
            Shape::OneLabel => format!("*.{}", key()),
            Shape::Deep => format!("**.{}", key()),
            Shape::Dot => format!(".{}", key()),
            Shape::Glob => {
                let head = self
                    .aux_of(r)
                    .and_then(|a| self.globs.get(a.glob as usize))
                    .map(|labels| {
                        labels
                            .iter()
                            .map(|l| String::from_utf8_lossy(l).into_owned())
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .unwrap_or_default();
                format!("{head}.{}", key())
            }
            Shape::Any => "*".to_owned(),
            Shape::Regex => self
                .regex_sources
                .get(reference as usize)
                .map(|re| format!("~{re}"))
                .unwrap_or_default(),
            Shape::Cidr => self
                .cidrs
                .get(reference as usize)
                .map(|&(ip, len)| Pattern::Cidr(ip, len).to_string())
                .unwrap_or_default(),
        }
    }

    fn rule_info(&self, global: u32) -> RuleInfo<'_> {
        let Some(r) = self.rules.get(global as usize) else {
            return RuleInfo {
                index: 0,
                id: RuleId::Named(""),
                line: 0,
                action: Action::Deny,
                pattern: String::new(),
                ports: &[],
                via: Vec::new(),
            };
        };
        let first = self
            .policies
            .get(policy_index(&self.policies, global))
            .map_or(0, |p| p.first_rule);
        let via_mask = r.flags & ALL_VIA;
        RuleInfo {
            index: global - first,
            id: self.id_of(global),
            line: r.line,
            action: if r.deny() {
                Action::Deny
            } else {
                Action::Allow
            },
            pattern: self.pattern_text(global, r),
            ports: self.ports_of(r),
            via: if r.flags & HAS_VIA == 0 {
                Vec::new()
            } else {
                Via::ALL
                    .into_iter()
                    .filter(|v| via_mask & v.bit() != 0)
                    .collect()
            },
        }
    }

    /// Approximate heap bytes owned by the engine (the regex set's internals excluded).
    ///
    /// ```
    /// let e = hostgate::Engine::compile("allow a.io\n").unwrap();
    /// assert!(e.heap_size() > 0);
    /// ```
    pub fn heap_size(&self) -> usize {
        self.table.heap_size()
            + self.rules.bytes()
            + self.aux.capacity() * core::mem::size_of::<Aux>()
            + self.ids.capacity()
            + self.named_ids.capacity() * 12
            + self.ports.capacity() * 4
            + self.pattern_ref.capacity() * 4
            + self.cidrs.capacity() * core::mem::size_of::<(IpAddr, u8)>()
            + self
                .regex_sources
                .iter()
                .map(|s| 24 + s.capacity())
                .sum::<usize>()
            + self
                .globs
                .iter()
                .map(|g| 24 + g.iter().map(|l| 24 + l.capacity()).sum::<usize>())
                .sum::<usize>()
            + self
                .ips
                .map
                .values()
                .map(|v| 48 + v.capacity() * 4)
                .sum::<usize>()
            + self
                .policies
                .iter()
                .map(|p| {
                    core::mem::size_of::<PolicyMeta>() + p.name.capacity() + p.any.capacity() * 4
                })
                .sum::<usize>()
    }

    /// Checks one query against a policy. Never allocates; never panics.
    ///
    /// An unknown policy id gives deny (reason `default`).
    ///
    /// ```
    /// use hostgate::{Action, Engine, Query, Reason};
    /// let e = Engine::compile("allow *\n").unwrap();
    /// let p = e.policy("default").unwrap();
    /// assert_eq!(e.check(p, &Query::new("anything.example")).action, Action::Allow);
    /// let v = e.check(p, &Query::new("bad..name"));
    /// assert_eq!((v.action, v.reason), (Action::Deny, Reason::InvalidName));
    /// ```
    #[inline]
    pub fn check(&self, policy: PolicyId, query: &Query<'_>) -> Verdict<'_> {
        // The common case — an ASCII host name already in lowercase — is validated in place and
        // matched straight from the caller's bytes: nothing is copied.
        if let Some(body) = fast_body(query.name) {
            match scan_ascii::<true>(body) {
                Some(Ok(scan)) => {
                    let host = Host {
                        bytes: body,
                        dots: scan.dot_bits,
                    };
                    let (port, via) = (query.port, query.via);
                    return self.verdict(policy, |pol, best| {
                        self.collect_host(pol, host, port, via, best)
                    });
                }
                Some(Err(_)) => return Verdict::deny(policy, Reason::InvalidName),
                _ => {}
            }
        }
        self.check_normalized(policy, query)
    }

    /// [`Engine::check`] for names the in-place path does not take (uppercase, IDNA, IP
    /// literals, over 1,024 bytes…): normalized into a buffer first. Out of line, so that its
    /// buffer and code do not crowd the registers of the common path.
    #[inline(never)]
    fn check_normalized(&self, policy: PolicyId, query: &Query<'_>) -> Verdict<'_> {
        let mut name = Name::empty();
        match normalize_into(query.name, &mut name) {
            Ok(()) => self.check_name(policy, &name, query.port, query.via),
            Err(_) => Verdict::deny(policy, Reason::InvalidName),
        }
    }

    /// The verdict of `policy` from the best rule `collect` offers (an unknown policy denies).
    #[inline(always)]
    fn verdict(
        &self,
        policy: PolicyId,
        collect: impl FnOnce(&PolicyMeta, &mut Best),
    ) -> Verdict<'_> {
        let Some(pol) = self.policies.get(policy.0 as usize) else {
            return Verdict::deny(policy, Reason::Default);
        };
        let mut best = Best::NONE;
        collect(pol, &mut best);
        if best.rank == u32::MAX {
            return Verdict {
                action: pol.default,
                reason: Reason::Default,
                policy,
                rule: None,
            };
        }
        self.matched(policy, best.rule, best.deny)
    }

    /// Checks an already-normalized name (what the parsers in [`crate::inspect`] produce).
    ///
    /// ```
    /// use hostgate::{normalize, Action, Engine, Via};
    /// let e = Engine::compile("allow 203.0.113.0/24 via http\n").unwrap();
    /// let p = e.policy("default").unwrap();
    /// let n = normalize("203.0.113.9").unwrap();
    /// assert_eq!(e.check_name(p, &n, Some(80), Some(Via::Http)).action, Action::Allow);
    /// assert_eq!(e.check_name(p, &n, Some(80), None).action, Action::Deny);
    /// ```
    pub fn check_name(
        &self,
        policy: PolicyId,
        name: &Name,
        port: Option<u16>,
        via: Option<Via>,
    ) -> Verdict<'_> {
        self.verdict(policy, |pol, best| self.collect(pol, name, port, via, best))
    }

    /// Checks many queries against one policy, writing `out[i]` for `queries[i]`.
    /// Returns how many were written (the shorter of the two lengths).
    ///
    /// ```
    /// use hostgate::{Action, Engine, Query, Verdict};
    /// let e = Engine::compile("allow .kadath.io\n").unwrap();
    /// let p = e.policy("default").unwrap();
    /// let qs = [Query::new("a.kadath.io"), Query::new("leng.com")];
    /// let mut out = [Verdict::default(); 2];
    /// assert_eq!(e.check_batch(p, &qs, &mut out), 2);
    /// assert_eq!((out[0].action, out[1].action), (Action::Allow, Action::Deny));
    /// ```
    pub fn check_batch<'e>(
        &'e self,
        policy: PolicyId,
        queries: &[Query<'_>],
        out: &mut [Verdict<'e>],
    ) -> usize {
        let n = queries.len().min(out.len());
        for (q, o) in queries.iter().zip(out.iter_mut()) {
            *o = self.check(policy, q);
        }
        n
    }

    /// Every rule that matches, which decides, and why — for humans (allocates).
    ///
    /// ```
    /// use hostgate::{Engine, Query};
    /// let e = Engine::compile("allow **.stripe.com\ndeny api.stripe.com\n").unwrap();
    /// let x = e.explain(e.policy("default").unwrap(), &Query::new("api.stripe.com"));
    /// assert_eq!(x.matches.len(), 2);
    /// assert!(x.matches[0].decides);
    /// ```
    pub fn explain(&self, policy: PolicyId, query: &Query<'_>) -> Explanation<'_> {
        let verdict = self.check(policy, query);
        let normalized = normalize(query.name).ok();
        let (Some(pol), Some(name)) = (self.policies.get(policy.0 as usize), normalized) else {
            let why = match normalized {
                None => format!(
                    "`{}` is not a valid name ({}), so it is denied whatever the rules say",
                    String::from_utf8_lossy(query.name),
                    normalize(query.name).err().map_or("", |e| e.message())
                ),
                Some(_) => "unknown policy: denied".to_owned(),
            };
            return Explanation {
                normalized,
                verdict,
                matches: Vec::new(),
                why,
            };
        };
        let mut all = All(Vec::new());
        self.collect(pol, &name, query.port, query.via, &mut all);
        let decider = all.0.iter().min().map(|&(_, rule)| rule);
        let mut rules: Vec<u32> = all.0.iter().map(|&(_, rule)| rule).collect();
        rules.sort_unstable();
        rules.dedup();
        let matches: Vec<ExplainedRule<'_>> = rules
            .iter()
            .map(|&r| ExplainedRule {
                rule: self.rule_info(r),
                decides: Some(r) == decider,
            })
            .collect();
        let why = self.why(pol, &name, query, &matches, &verdict);
        Explanation {
            normalized: Some(name),
            verdict,
            matches,
            why,
        }
    }

    fn why(
        &self,
        pol: &PolicyMeta,
        name: &Name,
        query: &Query<'_>,
        matches: &[ExplainedRule<'_>],
        verdict: &Verdict<'_>,
    ) -> String {
        let Some(d) = matches.iter().find(|m| m.decides) else {
            return format!(
                "no rule of policy `{}` matches `{name}`{}; the policy's default is {}",
                pol.name,
                describe_query(query),
                pol.default
            );
        };
        let r = &d.rule;
        let head = format!(
            "rule `{}` (line {}, `{} {}`) decides: {}",
            r.id, r.line, r.action, r.pattern, verdict.action
        );
        let reason = match (pol.precedence, matches.len()) {
            (_, 1) => "it is the only matching rule".to_owned(),
            (Precedence::FirstMatch, n) => {
                format!("precedence first-match: it is the first of the {n} matching rules in file order")
            }
            (Precedence::DenyOverrides, n) if r.action == Action::Deny => format!(
                "precedence deny-overrides: a matching deny wins over allows ({n} rules match)"
            ),
            (Precedence::DenyOverrides, n) => format!(
                "precedence deny-overrides: no deny matches, so the first matching allow decides ({n} rules match)"
            ),
            (Precedence::MostSpecific, n) => format!(
                "precedence most-specific: it is the most specific of the {n} matching rules \
                 (exact names and IPs, then more literal characters or longer prefixes, then regexes, then `*`; ties: deny first, then file order)"
            ),
        };
        format!("{head}; {reason}")
    }

    #[inline(always)]
    fn matched(&self, policy: PolicyId, global: u32, deny: bool) -> Verdict<'_> {
        Verdict {
            action: if deny { Action::Deny } else { Action::Allow },
            reason: Reason::Matched,
            policy,
            rule: Some(MatchedRule {
                engine: self,
                rule: global,
            }),
        }
    }

    /// Port and source conditions of a rule (its pattern already matched).
    #[inline(always)]
    fn conditions_hold(&self, r: &Rule, port: Option<u16>, via: Option<Via>) -> bool {
        conditions(r.flags, port, via, |p| {
            self.ports_of(r).iter().any(|&(lo, hi)| lo <= p && p <= hi)
        })
    }

    /// Offers the rules of `list` (sorted by policy, then rank) that belong to `pol`, match
    /// (per `shape_ok`) and meet their conditions; stops at the first, which ranks best.
    #[inline(always)]
    fn offer_from(
        &self,
        list: &[u32],
        pol: &PolicyMeta,
        port: Option<u16>,
        via: Option<Via>,
        c: &mut impl Collector,
        shape_ok: impl Fn(&Rule) -> bool,
    ) {
        // A policy's rules are numbered contiguously, so the list holds them as one run.
        let list = if list.len() > 1 {
            let start = list.partition_point(|&g| g < pol.first_rule);
            let end = list.partition_point(|&g| g < pol.first_rule + pol.rule_count);
            list.get(start..end).unwrap_or(&[])
        } else {
            list
        };
        for &g in list {
            let Some(r) = self.rules.get(g as usize) else {
                continue;
            };
            if !pol.owns(g) {
                continue;
            }
            if r.rank >= c.bound() {
                break;
            }
            if shape_ok(r) && self.conditions_hold(r, port, via) {
                c.offer(r.rank, g, r.deny());
                if c.bound() != u32::MAX {
                    // Sorted by rank: nothing later in this list can do better.
                    break;
                }
            }
        }
    }

    /// Offers every matching rule of the policy to `c` (pruned by `c.bound()`).
    #[inline]
    fn collect(
        &self,
        pol: &PolicyMeta,
        name: &Name,
        port: Option<u16>,
        via: Option<Via>,
        c: &mut impl Collector,
    ) {
        match name.kind() {
            NameKind::Ip(ip) => self.collect_ip(pol, ip, port, via, c),
            NameKind::Name => {
                let host = Host {
                    bytes: name.as_bytes(),
                    dots: *name.dot_bits(),
                };
                self.collect_host(pol, host, port, via, c)
            }
        }
    }

    /// [`Engine::collect`] for a valid lowercase host name.
    #[inline(always)]
    fn collect_host(
        &self,
        pol: &PolicyMeta,
        host: Host<'_>,
        port: Option<u16>,
        via: Option<Via>,
        c: &mut impl Collector,
    ) {
        let bytes = host.bytes;
        // A `move` closure holds copies of the port and source, not the addresses of locals
        // (which made every lookup store them).
        let visit_c = &mut *c;
        self.table.walk(bytes, host.dots, move |depth, start, hit| {
            self.offer_hit(hit, depth, bytes, start, pol, port, via, visit_c);
        });
        if !pol.any.is_empty() {
            self.offer_from(&pol.any, pol, port, via, c, |_| true);
        }
        if pol.regex_min_rank < c.bound() {
            self.collect_regex(pol, bytes, port, via, c);
        }
    }

    /// Offers the rules filed under a key that is a suffix of the query (`depth` labels left
    /// of it, counted up to 2; the key starts at `start`).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn offer_hit(
        &self,
        hit: Hit<'_>,
        depth: u32,
        bytes: &[u8],
        start: usize,
        pol: &PolicyMeta,
        port: Option<u16>,
        via: Option<Via>,
        c: &mut impl Collector,
    ) {
        match hit {
            Hit::One(g, meta) => {
                self.offer_one(g, meta, pol, port, via, c, |shape| {
                    let rule = || self.rules.get(g as usize);
                    self.shape_holds(shape, rule, depth, bytes, start)
                });
            }
            Hit::Many(list) => {
                self.offer_from(list, pol, port, via, c, |r| {
                    self.shape_holds(r.shape(), || Some(r), depth, bytes, start)
                });
            }
        }
    }

    /// Whether a keyed rule's shape accepts a query with `depth` labels left of the key
    /// (counted up to 2: globs count their labels themselves).
    /// `rule` is only read for globs (their head lives in the rule's extras).
    #[inline(always)]
    fn shape_holds<'r>(
        &'r self,
        shape: Shape,
        rule: impl FnOnce() -> Option<&'r Rule>,
        depth: u32,
        name: &[u8],
        suffix_start: usize,
    ) -> bool {
        // Which depths the plain shapes accept, as bits for depth 0, 1 and 2 or more: a table,
        // not a branch per shape (lookups mix shapes at random, so branches mispredict).
        const ACCEPTS: [u8; 8] = [0b001, 0b010, 0b110, 0b111, 0, 0, 0, 0];
        if shape != Shape::Glob {
            return ACCEPTS[shape as usize & 7] >> depth.min(2) & 1 != 0;
        }
        match shape {
            Shape::Glob => {
                let Some(head) = rule()
                    .and_then(|r| self.aux_of(r))
                    .and_then(|a| self.globs.get(a.glob as usize))
                else {
                    return false;
                };
                if depth == 0 {
                    return false;
                }
                // Labels left of the suffix (suffix_start > 0 here, since depth >= 1): exactly
                // one per head glob (`depth` is counted only up to 2).
                let left = name.get(..suffix_start.saturating_sub(1)).unwrap_or(&[]);
                let mut labels = left.split(|&b| b == b'.');
                head.iter()
                    .all(|pat| labels.next().is_some_and(|l| glob_label_match(pat, l)))
                    && labels.next().is_none()
            }
            _ => false,
        }
    }

    /// `offer_from` for a key filed by one rule, deciding from the matcher's copy of the rule's
    /// shape and flags; the rule itself is read only for port ranges, glob heads and
    /// most-specific ranks.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn offer_one(
        &self,
        global: u32,
        meta: u16,
        pol: &PolicyMeta,
        port: Option<u16>,
        via: Option<Via>,
        c: &mut impl Collector,
        shape_ok: impl FnOnce(Shape) -> bool,
    ) {
        if !pol.owns(global) {
            return;
        }
        let (shape, flags) = unpack_meta(meta);
        let deny = flags & DENY != 0;
        let rule = || self.rules.get(global as usize);
        let rank = pol.rank_of(global, deny, || rule().map_or(u32::MAX, |r| r.rank));
        if rank >= c.bound() || !shape_ok(shape) {
            return;
        }
        let ports_ok = |p: u16| {
            rule().is_some_and(|r| self.ports_of(r).iter().any(|&(lo, hi)| lo <= p && p <= hi))
        };
        if conditions(flags, port, via, ports_ok) {
            c.offer(rank, global, deny);
        }
    }

    fn collect_ip(
        &self,
        pol: &PolicyMeta,
        ip: IpAddr,
        port: Option<u16>,
        via: Option<Via>,
        c: &mut impl Collector,
    ) {
        let lens = match ip {
            IpAddr::V4(_) => &self.ips.v4_lens,
            IpAddr::V6(_) => &self.ips.v6_lens,
        };
        for &len in lens {
            if let Some(list) = self.ips.map.get(&IpTable::key(ip, len)) {
                self.offer_from(list, pol, port, via, c, |_| true);
            }
        }
    }

    fn collect_regex(
        &self,
        pol: &PolicyMeta,
        name: &[u8],
        port: Option<u16>,
        via: Option<Via>,
        c: &mut impl Collector,
    ) {
        let Some(set) = &self.regexes else {
            return;
        };
        let mut run = |patset: &mut PatternSet| {
            patset.clear();
            let input = Input::new(name).anchored(Anchored::Yes);
            set.regex.which_overlapping_matches(&input, patset);
            for pid in patset.iter() {
                if let Some(list) = set.rules.get(pid.as_usize()) {
                    self.offer_from(list, pol, port, via, c, |_| true);
                }
            }
        };
        let n = set.rules.len();
        let done = PATTERN_SET
            .try_with(|cell| match cell.try_borrow_mut() {
                Ok(mut patset) => {
                    if patset.capacity() < n {
                        *patset = PatternSet::new(n);
                    }
                    run(&mut patset);
                    true
                }
                Err(_) => false,
            })
            .unwrap_or(false);
        if !done {
            // The thread's scratch is gone (thread-local destructors) or in use (re-entry):
            // use a fresh one rather than skip regex rules, which could fail open.
            run(&mut PatternSet::new(n));
        }
    }
}

fn describe_query(q: &Query<'_>) -> String {
    let mut s = String::new();
    if let Some(p) = q.port {
        s.push_str(&format!(" on port {p}"));
    }
    if let Some(v) = q.via {
        s.push_str(&format!(" via {v}"));
    }
    s
}

/// Compiler state: rules are appended policy by policy, so each policy's rules are contiguous.
#[derive(Default)]
struct Build {
    policies: Vec<PolicyMeta>,
    by_name: HashMap<String, u32>,
    rules: Vec<Rule>,
    aux: Vec<Aux>,
    /// (key, rule) for every keyed pattern.
    keyed: Vec<(String, u32)>,
    /// Per rule: index into `keyed`, the regex source or the CIDR list (see `Engine::pattern_ref`).
    pattern_ref: Vec<u32>,
    globs: Vec<GlobHead>,
    ips: IpTable,
    cidrs: Vec<(IpAddr, u8)>,
    /// Distinct regex sources → pattern index, and their rules.
    regex_ids: HashMap<String, usize>,
    regex_sources: Vec<String>,
    regex_rules: Vec<Vec<u32>>,
    ports: Vec<(u16, u16)>,
    ids: String,
    named_ids: Vec<(u32, u32, u32)>,
    warnings: Vec<Diagnostic>,
}

/// Ranking class for `most-specific`; smaller first.
fn specificity(p: &Pattern) -> (u8, usize) {
    match p {
        Pattern::Exact(_) => (0, 0),
        Pattern::Cidr(ip, len) if *len == max_prefix(*ip) => (0, 0),
        Pattern::Cidr(_, len) => (1, usize::MAX - usize::from(*len)),
        Pattern::OneLabel(_) | Pattern::Deep(_) | Pattern::Dot(_) | Pattern::Glob { .. } => {
            (1, usize::MAX - p.literal_chars())
        }
        Pattern::Regex(_) => (2, 0),
        Pattern::Any => (3, 0),
    }
}

fn regex_builder() -> meta::Builder {
    let mut b = Regex::builder();
    b.configure(
        Regex::config()
            .match_kind(MatchKind::All)
            .nfa_size_limit(Some(REGEX_NFA_LIMIT))
            .dfa_size_limit(Some(REGEX_NFA_LIMIT)),
    )
    .syntax(regex_automata::util::syntax::Config::new().nest_limit(REGEX_NEST_LIMIT));
    b
}

/// Whole-match: the name must end where the regex ends (the start is anchored by the input).
fn anchored_source(re: &str) -> String {
    format!("(?:{re})\\z")
}

/// `policy NAME, rule N: ` before the messages about a built rule (it has no line to point
/// at); nothing for a rule from text. Written only with a message, so that a large built
/// policy does not pay an allocation per rule.
struct RulePrefix<'a> {
    policy: &'a str,
    index: usize,
    built: bool,
}

impl core::fmt::Display for RulePrefix<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.built {
            write!(f, "policy {}, rule {}: ", self.policy, self.index)?;
        }
        Ok(())
    }
}

/// A rule's pattern, parsed, with its warning; or why it is refused. The rare warning and error
/// are boxed: a large policy holds one of these per rule at once, and unboxed they doubled its
/// size (112 bytes).
type ParsedPattern = Result<(Pattern, Option<Box<PatternError>>), Box<PatternError>>;

/// Below this many rules, patterns are parsed on the calling thread alone.
const PARALLEL_PARSE_MIN: usize = 20_000;

/// The pattern of every rule of `specs`, in order, and the label-suffix hashes of their keys
/// (for sizing the matcher's table). With `parallel`, on two threads, half each:
/// patterns parse independently, and parsing them is a quarter of a compile. If the second
/// thread cannot be started (or fails), the calling thread parses its half too.
fn parse_patterns(specs: &[PolicySpec], parallel: bool) -> (Vec<ParsedPattern>, SuffixHashes) {
    let rules: Vec<&RuleSpec> = specs.iter().flat_map(|s| &s.rules).collect();
    let parse = |rules: &[&RuleSpec]| -> (Vec<ParsedPattern>, SuffixHashes) {
        let mut hashes = SuffixHashes::default();
        let parsed = rules
            .iter()
            .map(|r| {
                let p = boxed(Pattern::parse_with_warnings(&r.pattern));
                if let Ok((pattern, _)) = &p {
                    if let Some(key) = pattern_key(pattern) {
                        hashes.add(key.as_bytes());
                    }
                }
                p
            })
            .collect();
        (parsed, hashes)
    };
    if !parallel {
        return parse(&rules);
    }
    let (first, second) = rules.split_at(rules.len() / 2);
    std::thread::scope(|scope| {
        let other = std::thread::Builder::new().spawn_scoped(scope, || parse(second));
        let (mut out, mut hashes) = parse(first);
        let (rest, more) = match other.map(|h| h.join()) {
            Ok(Ok(rest)) => rest,
            _ => parse(second),
        };
        out.extend(rest);
        hashes.extend(more);
        (out, hashes)
    })
}

/// [`ParsedPattern`] from what the pattern parser returns.
fn boxed(p: Result<(Pattern, Option<PatternError>), PatternError>) -> ParsedPattern {
    p.map(|(pattern, warning)| (pattern, warning.map(Box::new)))
        .map_err(Box::new)
}

/// The key a pattern is filed under in the matcher (see [`Build::keyed`]).
fn pattern_key(p: &Pattern) -> Option<&str> {
    match p {
        Pattern::Exact(k) | Pattern::OneLabel(k) | Pattern::Deep(k) | Pattern::Dot(k) => Some(k),
        Pattern::Glob { suffix, .. } => Some(suffix),
        Pattern::Any | Pattern::Regex(_) | Pattern::Cidr(..) => None,
    }
}

impl Build {
    /// Compiles one policy; `patterns` yields its rules' parsed patterns, in order (see
    /// [`parse_patterns`]).
    fn policy(
        &mut self,
        pi: u32,
        spec: &PolicySpec,
        patterns: &mut impl Iterator<Item = ParsedPattern>,
        errors: &mut Vec<Diagnostic>,
    ) {
        let first_rule = self.rules.len() as u32;
        // Parse every rule's pattern first; ranks need all of them.
        let mut parsed: Vec<(usize, Pattern)> = Vec::with_capacity(spec.rules.len());
        let mut ids: HashMap<&str, u32> = HashMap::new();
        for (ri, rule) in spec.rules.iter().enumerate() {
            let at = |col: u32| if rule.line == 0 { 0 } else { col };
            let prefix = RulePrefix {
                policy: &spec.name,
                index: ri,
                built: rule.line == 0,
            };
            if let Some(id) = rule.id.as_deref() {
                if let Some(prev) = ids.insert(id, rule.line) {
                    errors.push(Diagnostic::error(
                        rule.line,
                        at(rule.id_column),
                        format!("{prefix}id `{id}` is already used on line {prev}"),
                    ));
                }
            }
            if let Some(msg) = builder_rule_problem(rule) {
                errors.push(Diagnostic::error(0, 0, format!("{prefix}{msg}")));
            }
            let parsed_pattern = patterns
                .next()
                .unwrap_or_else(|| boxed(Pattern::parse_with_warnings(&rule.pattern)));
            match parsed_pattern {
                Ok((pattern, warning)) => {
                    if let Some(w) = warning {
                        self.warnings.push(
                            Diagnostic::warning(
                                rule.line,
                                at(rule.pattern_column + w.offset as u32),
                                format!("{prefix}{}", w.message),
                            )
                            .with_help(w.help),
                        );
                    }
                    if let Pattern::Regex(re) = &pattern {
                        if let Err(msg) = check_regex(re) {
                            errors.push(Diagnostic::error(
                                rule.line,
                                at(rule.pattern_column + 1),
                                format!("{prefix}{msg}"),
                            ));
                            continue;
                        }
                    }
                    parsed.push((ri, pattern));
                }
                Err(e) => errors.push(
                    Diagnostic::error(
                        rule.line,
                        at(rule.pattern_column + e.offset as u32),
                        format!("{prefix}{}", e.message),
                    )
                    .with_help(e.help),
                ),
            }
        }
        if parsed.len() != spec.rules.len() || errors.iter().any(|e| e.severity == Severity::Error)
        {
            // Keep checking later policies for errors, but build nothing.
            return;
        }
        let n = parsed.len() as u32;
        let ranks: Vec<u32> = match spec.precedence {
            Precedence::FirstMatch => (0..n).collect(),
            Precedence::DenyOverrides => spec
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| i as u32 + if r.action == Action::Allow { n } else { 0 })
                .collect(),
            Precedence::MostSpecific => {
                let mut order: Vec<usize> = (0..parsed.len()).collect();
                order.sort_by_key(|&i| {
                    let (class, spec_key) = specificity(&parsed[i].1);
                    (class, spec_key, spec.rules[i].action == Action::Allow, i)
                });
                let mut ranks = vec![0u32; order.len()];
                for (rank, &i) in order.iter().enumerate() {
                    ranks[i] = rank as u32;
                }
                ranks
            }
        };
        let mut any = Vec::new();
        let mut regex_min_rank = u32::MAX;
        for ((ri, pattern), rank) in parsed.into_iter().zip(ranks) {
            let rule = &spec.rules[ri];
            let global = self.rules.len() as u32;
            let mut flags = if rule.via.is_empty() {
                ALL_VIA
            } else {
                HAS_VIA | rule.via.iter().fold(0, |m, v| m | v.bit())
            };
            if rule.action == Action::Deny {
                flags |= DENY;
            }
            if !rule.ports.is_empty() {
                flags |= HAS_PORTS;
            }
            // Only explicit ids are stored, beside the rules (most rules have none);
            // `POLICY:LINE` is derived when asked for.
            if let Some(id) = &rule.id {
                let off = self.ids.len() as u32;
                self.ids.push_str(id);
                self.named_ids.push((global, off, id.len() as u32));
            }
            let mut glob = None;
            let (shape, reference) = match pattern {
                Pattern::Exact(k) => (Shape::Exact, self.keyed(k, global)),
                Pattern::OneLabel(k) => (Shape::OneLabel, self.keyed(k, global)),
                Pattern::Deep(k) => (Shape::Deep, self.keyed(k, global)),
                Pattern::Dot(k) => (Shape::Dot, self.keyed(k, global)),
                Pattern::Glob { head, suffix } => {
                    glob = Some(self.globs.len() as u32);
                    self.globs
                        .push(head.into_iter().map(String::into_bytes).collect());
                    (Shape::Glob, self.keyed(suffix, global))
                }
                Pattern::Any => {
                    any.push(global);
                    (Shape::Any, 0)
                }
                Pattern::Regex(re) => {
                    regex_min_rank = regex_min_rank.min(rank);
                    let next = self.regex_sources.len();
                    let id = *self.regex_ids.entry(re.clone()).or_insert(next);
                    if id == next {
                        self.regex_sources.push(re);
                        self.regex_rules.push(Vec::new());
                    }
                    self.regex_rules[id].push(global);
                    (Shape::Regex, id as u32)
                }
                Pattern::Cidr(ip, len) => {
                    let lens = match ip {
                        IpAddr::V4(_) => &mut self.ips.v4_lens,
                        IpAddr::V6(_) => &mut self.ips.v6_lens,
                    };
                    if !lens.contains(&len) {
                        lens.push(len);
                    }
                    self.ips
                        .map
                        .entry(IpTable::key(ip, len))
                        .or_default()
                        .push(global);
                    self.cidrs.push((ip, len));
                    (Shape::Cidr, self.cidrs.len() as u32 - 1)
                }
            };
            let aux = if glob.is_some() || !rule.ports.is_empty() {
                let ports_off = self.ports.len() as u32;
                self.ports.extend_from_slice(&rule.ports);
                self.aux.push(Aux {
                    glob: glob.unwrap_or(u32::MAX),
                    ports_off,
                    ports_len: rule.ports.len() as u32,
                });
                self.aux.len() as u32 - 1
            } else {
                NO_AUX
            };
            self.pattern_ref.push(reference);
            self.rules.push(Rule {
                rank,
                line: rule.line,
                aux,
                shape: shape as u8,
                flags,
                _pad: [0; 2],
            });
        }
        any.sort_by_key(|&g| self.rules[g as usize].rank);
        self.by_name.insert(spec.name.clone(), pi);
        self.policies.push(PolicyMeta {
            name: spec.name.clone(),
            precedence: spec.precedence,
            default: spec.default,
            first_rule,
            rule_count: n,
            any,
            regex_min_rank,
        });
    }

    /// Files `rule` under `key`; returns the index of the pair (made a node index later).
    fn keyed(&mut self, key: String, rule: u32) -> u32 {
        self.keyed.push((key, rule));
        self.keyed.len() as u32 - 1
    }

    /// Builds the engine; `sizing` is the matcher table's, when it was counted beforehand.
    fn finish(mut self, sizing: Option<Sizing>) -> Result<Engine, CompileErrors> {
        let rules = &self.rules;
        let policies = &self.policies;
        let order = |g: u32| {
            rules.get(g as usize).map_or((u32::MAX, u32::MAX), |r| {
                (policy_index(policies, g) as u32, r.rank)
            })
        };
        for v in self.ips.map.values_mut() {
            v.sort_by_key(|&g| order(g));
            v.shrink_to_fit();
        }
        self.ips.v4_lens.sort_unstable_by(|a, b| b.cmp(a));
        self.ips.v6_lens.sort_unstable_by(|a, b| b.cmp(a));
        let regexes = if self.regex_sources.is_empty() {
            None
        } else {
            let sources: Vec<String> = self
                .regex_sources
                .iter()
                .map(|s| anchored_source(s))
                .collect();
            let mut b = regex_builder();
            // The set may be larger than one rule; each rule was checked against the limit.
            b.configure(
                Regex::config()
                    .nfa_size_limit(Some(REGEX_NFA_LIMIT.saturating_mul(sources.len())))
                    .dfa_size_limit(Some(REGEX_NFA_LIMIT)),
            );
            let regex = b.build_many(&sources).map_err(|e| CompileErrors {
                errors: vec![Diagnostic::error(
                    0,
                    0,
                    format!(
                        "the regex rules together are too large: {}",
                        regex_error_text(&e)
                    ),
                )],
            })?;
            let mut lists = std::mem::take(&mut self.regex_rules);
            for v in &mut lists {
                v.sort_by_key(|&g| order(g));
            }
            Some(RegexSet {
                regex,
                rules: lists,
            })
        };
        let (table, node_of) = SuffixTable::build(&self.keyed, sizing, order, |g| {
            rules
                .get(g as usize)
                .map_or(0, |r| pack_meta(r.shape(), r.flags))
        });
        // Keyed rules point at their table node, for showing their pattern.
        for (g, r) in self.rules.iter().enumerate() {
            if matches!(
                r.shape(),
                Shape::Exact | Shape::OneLabel | Shape::Deep | Shape::Dot | Shape::Glob
            ) {
                if let Some(&e) = node_of.get(self.pattern_ref[g] as usize) {
                    self.pattern_ref[g] = e;
                }
            }
        }
        let mut rules = Store::from(self.rules);
        rules.freeze();
        self.ids.shrink_to_fit();
        self.named_ids.shrink_to_fit();
        self.ports.shrink_to_fit();
        self.aux.shrink_to_fit();
        self.pattern_ref.shrink_to_fit();
        Ok(Engine {
            policies: self.policies,
            by_name: self.by_name,
            rules,
            aux: self.aux,
            table,
            globs: self.globs,
            ips: self.ips,
            regexes,
            ports: self.ports,
            ids: self.ids,
            named_ids: self.named_ids,
            pattern_ref: self.pattern_ref,
            regex_sources: self.regex_sources,
            cidrs: self.cidrs,
            warnings: self.warnings,
        })
    }
}

/// Checks a builder rule for what the text parser would have refused.
fn builder_rule_problem(rule: &RuleSpec) -> Option<String> {
    // Text rules were already checked by the parser; built ones (whatever their `line`) not.
    if let Some((lo, hi)) = rule.ports.iter().find(|(lo, hi)| *lo == 0 || lo > hi) {
        return Some(format!(
            "bad port range {lo}-{hi} (ports are 1-65535, low ≤ high)"
        ));
    }
    let mut via = rule.via.clone();
    via.sort();
    via.dedup();
    if via.len() != rule.via.len() {
        return Some("a source is repeated in `via`".into());
    }
    if let Some(id) = &rule.id {
        if id.is_empty() || id.chars().any(char::is_whitespace) {
            return Some(format!("id `{id}` must be non-empty and without spaces"));
        }
    }
    None
}

/// Compiles one rule's regex alone, so that its errors point at its rule.
fn check_regex(re: &str) -> Result<(), String> {
    // The source must stand on its own: `a)|(b` would escape the `(?:…)\z` wrapper below.
    let hir = regex_syntax::ParserBuilder::new()
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .parse(re)
        .map_err(|e| {
            let text = e.to_string();
            format!(
                "invalid regex: {}",
                text.lines().last().unwrap_or("syntax error").trim()
            )
        })?;
    if let Err(e) = regex_builder().build(&anchored_source(re)) {
        return Err(format!("invalid regex: {}", regex_error_text(&e)));
    }
    // A regex whose shortest match is longer than any name can never match.
    if let Some(min) = hir.properties().minimum_len() {
        if min > crate::name::MAX_NAME_LEN {
            return Err(format!(
                "regex can never match: its shortest match is {min} bytes, names are at most 253"
            ));
        }
    }
    if hir.properties().maximum_len() == Some(0) {
        return Err("regex can never match: it only matches the empty string".into());
    }
    if matches_some_name(re) == Some(false) {
        return Err(
            "regex can never match: normalized names are lowercase [a-z0-9_-] labels and dots"
                .into(),
        );
    }
    Ok(())
}

/// Whether the anchored regex accepts some string over the name alphabet (`[a-z0-9_.-]`):
/// a search of its DFA that follows only those bytes. `None` when the DFA is too large to
/// build within the limit (the check is then skipped; matching stays linear-time either way).
fn matches_some_name(re: &str) -> Option<bool> {
    use regex_automata::dfa::{dense, Automaton};
    use regex_automata::util::start;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_.";
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .dfa_size_limit(Some(REGEX_NFA_LIMIT))
                .determinize_size_limit(Some(REGEX_NFA_LIMIT)),
        )
        .syntax(regex_automata::util::syntax::Config::new().nest_limit(REGEX_NEST_LIMIT))
        .build(&anchored_source(re))
        .ok()?;
    let first = dfa
        .start_state(&start::Config::new().anchored(Anchored::Yes))
        .ok()?;
    let mut seen = std::collections::HashSet::new();
    let mut queue = vec![first];
    seen.insert(first);
    while let Some(state) = queue.pop() {
        if dfa.is_match_state(state) || dfa.is_match_state(dfa.next_eoi_state(state)) {
            return Some(true);
        }
        for &b in ALPHABET {
            let next = dfa.next_state(state, b);
            if !dfa.is_dead_state(next) && seen.insert(next) {
                queue.push(next);
            }
        }
    }
    Some(false)
}

fn regex_error_text(e: &regex_automata::meta::BuildError) -> String {
    match e.syntax_error() {
        Some(s) => s
            .to_string()
            .lines()
            .last()
            .unwrap_or("syntax error")
            .trim()
            .to_owned(),
        None => match e.size_limit() {
            Some(limit) => format!("it compiles to more than the {limit}-byte limit"),
            None => e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Engine>();
    }

    #[test]
    fn regex_whole_match_and_limits() {
        let e = Engine::compile("allow ~ads[0-9]+\\.example\\.net\n").unwrap();
        let p = e.policy("default").unwrap();
        assert!(e.check(p, &Query::new("ads12.example.net")).is_allow());
        assert!(!e.check(p, &Query::new("xads12.example.net")).is_allow());
        assert!(!e.check(p, &Query::new("ads12.example.net.evil")).is_allow());
        let errs = Engine::compile("allow ~(a\n").unwrap_err();
        assert_eq!((errs.errors()[0].line, errs.errors()[0].column), (1, 8));
        let errs = Engine::compile("allow ~((a{100}){100}){100}\n").unwrap_err();
        assert!(errs.errors()[0].message.contains("limit"), "{errs}");
        let errs = Engine::compile("allow ~(a{100}){100}\n").unwrap_err();
        assert!(errs.errors()[0].message.contains("never match"), "{errs}");
        // Names are lowercase: an uppercase literal, or a space, can never match.
        for never in ["~API\\.x\\.io", "~a\\x20b", "~[A-Z]+"] {
            let errs = Engine::compile(&format!("allow {never}\n")).unwrap_err();
            assert!(
                errs.errors()[0].message.contains("never match"),
                "{never}: {errs}"
            );
        }
        assert!(Engine::compile("allow ~(?i)API\\.x\\.io\n").is_ok());
        // The source must be a regex on its own: it cannot close the implicit anchor group.
        assert!(Engine::compile("allow ~a\\.io)|(zz\n").is_err());
    }
}
