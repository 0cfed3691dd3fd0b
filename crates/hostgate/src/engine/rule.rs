//! How a compiled rule is encoded, and how it is shown back.
//!
//! The rules are columns ([`Rules`]): the lookup reads a rule's shape and flags (or the
//! matcher's copy of them, [`pack_meta`]), a stored rank only under most-specific, and the rare
//! extras ([`Aux`]) only for globs and port ranges. The
//! public views of a rule are here too: [`RuleInfo`] (everything, for display), [`MatchedRule`]
//! (the rule of a verdict, read lazily) and [`RuleId`]. The compiler that fills these is
//! `crate::compile`; the lookup that reads them is [`super::lookup`].

use super::{policy_index, Engine};
use crate::pages::Store;
use crate::pattern::Pattern;
use crate::verdict::{Action, Via};

/// How a rule's pattern relates to the query (for keyed shapes: to the key, by `depth` = labels
/// left of the key).
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
pub(crate) const DENY: u8 = 1 << 4;
pub(crate) const HAS_PORTS: u8 = 1 << 5;
/// The rule has a `via` list: even one naming all four sources needs a known source.
pub(crate) const HAS_VIA: u8 = 1 << 6;
pub(crate) const ALL_VIA: u8 = 0b1111;
/// A `~regex` rule with `received`: matched against the name as the query carried it.
pub(crate) const RECEIVED: u8 = 1 << 7;
pub(crate) const NO_AUX: u32 = u32::MAX;

/// The rules, one column per field, so that each rule pays only for what it uses: every lookup
/// of a rule reads its shape and flags (`meta`, two bytes); ranks are stored only when some
/// policy is most-specific (the other precedences compute them from positions, see
/// `PolicyMeta::rank_of`), extras only when some rule has them, and lines are read only to show
/// a verdict. A blocklist of `.x` rules costs 6 bytes a rule here (plus its pattern reference),
/// where one 16-byte record a rule cost 16.
///
/// Plain arrays (`Pod`), so that large ones live on huge pages or in a mapped engine file.
#[derive(Debug, Default)]
pub(crate) struct Rules {
    /// Per rule, [`pack_meta`] of its shape and flags.
    pub(crate) meta: Store<u16>,
    /// Per rule, its line in the policy text (0 for built rules).
    pub(crate) line: Store<u32>,
    /// Per rule, its rank within its policy; empty when no policy is most-specific.
    pub(crate) rank: Store<u32>,
    /// Per rule, its index into `Engine::aux` or `NO_AUX`; empty when no rule has extras.
    pub(crate) aux: Store<u32>,
}

impl Rules {
    pub(crate) fn len(&self) -> usize {
        self.meta.len()
    }

    /// Rule `g`'s shape and flags.
    #[inline(always)]
    pub(crate) fn get(&self, g: u32) -> Option<Rule> {
        self.meta.get(g as usize).map(|&meta| Rule { g, meta })
    }

    pub(crate) fn line(&self, g: u32) -> u32 {
        self.line.get(g as usize).copied().unwrap_or(0)
    }

    /// The stored rank (most-specific policies); `u32::MAX`, never offered, when there is none.
    #[inline(always)]
    pub(crate) fn stored_rank(&self, g: u32) -> u32 {
        self.rank.get(g as usize).copied().unwrap_or(u32::MAX)
    }

    /// The index of rule `g`'s extras, or `NO_AUX`.
    #[inline(always)]
    pub(crate) fn aux_index(&self, g: u32) -> u32 {
        self.aux.get(g as usize).copied().unwrap_or(NO_AUX)
    }

    pub(crate) fn bytes(&self) -> usize {
        self.meta.bytes() + self.line.bytes() + self.rank.bytes() + self.aux.bytes()
    }
}

/// One rule as the lookup reads it: its index and its shape and flags.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rule {
    pub(crate) g: u32,
    meta: u16,
}

impl Rule {
    #[inline(always)]
    pub(crate) fn shape(&self) -> Shape {
        shape_of(self.meta)
    }

    #[inline(always)]
    pub(crate) fn flags(&self) -> u8 {
        self.meta as u8
    }

    #[inline(always)]
    pub(crate) fn deny(&self) -> bool {
        self.flags() & DENY != 0
    }
}

/// The shape in a rule's `meta` (see [`pack_meta`]).
pub(crate) fn shape_of(meta: u16) -> Shape {
    shape_from((meta >> 8) as u8)
}

/// Whether a rule's `meta` (see [`pack_meta`]) alone shows that it needs no further check when
/// an engine file is opened: not a glob (whose head lives in the extras) and `received` only
/// on a regex. Its pattern reference is checked apart.
#[inline(always)]
pub(crate) fn plain_meta(meta: u16) -> bool {
    let shape = (meta >> 8) as u8 & 7;
    (shape != Shape::Glob as u8) & ((meta as u8 & RECEIVED == 0) | (shape == Shape::Regex as u8))
}

/// The matcher's 16 bits of per-rule data: shape in the high byte, flags in the low.
pub(crate) fn pack_meta(shape: Shape, flags: u8) -> u16 {
    (u16::from(shape as u8) << 8) | u16::from(flags)
}

#[inline(always)]
pub(super) fn unpack_meta(meta: u16) -> (Shape, u8) {
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
pub(super) fn conditions(
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
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub(crate) struct Aux {
    pub(crate) glob: u32,
    pub(crate) ports_off: u32,
    pub(crate) ports_len: u32,
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
    /// A `received` regex rule: matched against the name as received, not normalized.
    pub received: bool,
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
    pub(super) engine: &'e Engine,
    /// Global rule index.
    pub(super) rule: u32,
}

impl<'e> MatchedRule<'e> {
    /// The rule's position in its policy, in file order, from 0.
    pub fn index(&self) -> u32 {
        let e = self.engine;
        let policy = e.policies.get(policy_index(&e.policies, self.rule));
        debug_assert!(policy.is_some(), "matched rule {} in no policy", self.rule);
        self.rule - policy.map_or(0, |p| p.first_rule)
    }

    /// The rule's `id`, or `POLICY:LINE` when it has none (`POLICY#INDEX` for built rules).
    pub fn id(&self) -> RuleId<'e> {
        self.engine.id_of(self.rule)
    }

    /// The rule's line in the policy text (0 for rules added with the builder).
    pub fn line(&self) -> u32 {
        debug_assert!(
            (self.rule as usize) < self.engine.rules.len(),
            "matched rule {} not in the engine",
            self.rule
        );
        self.engine.rules.line(self.rule)
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
#[non_exhaustive]
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

impl Engine {
    fn id_of(&self, global: u32) -> RuleId<'_> {
        debug_assert!(
            (global as usize) < self.rules.len(),
            "id of rule {global}, not in the engine"
        );
        if global as usize >= self.rules.len() {
            return RuleId::Named("");
        }
        let line = self.rules.line(global);
        let policy = self.policies.get(policy_index(&self.policies, global));
        debug_assert!(policy.is_some(), "rule {global} in no policy");
        if let Ok(k) = self.named_ids.binary_search_by_key(&global, |&(g, _, _)| g) {
            let (_, off, len) = self.named_ids[k];
            let start = off as usize;
            let id = self.ids.get(start..start + len as usize);
            debug_assert!(id.is_some(), "id of rule {global} outside the id arena");
            return RuleId::Named(id.unwrap_or(""));
        }
        let name = policy.map_or("", |p| p.name.as_str());
        if line > 0 {
            RuleId::Line { policy: name, line }
        } else {
            RuleId::Index {
                policy: name,
                index: global - policy.map_or(0, |p| p.first_rule),
            }
        }
    }

    pub(super) fn aux_of(&self, r: &Rule) -> Option<&Aux> {
        self.aux.get(self.rules.aux_index(r.g) as usize)
    }

    pub(super) fn ports_of(&self, r: &Rule) -> &[(u16, u16)] {
        debug_assert!(
            self.rules.aux_index(r.g) == NO_AUX || self.aux_of(r).is_some(),
            "rule extras of {} out of range",
            r.g
        );
        self.aux_of(r)
            .and_then(|a| {
                let start = a.ports_off as usize;
                let ports = self.ports.get(start..start + a.ports_len as usize);
                debug_assert!(ports.is_some(), "port ranges out of range");
                ports
            })
            .unwrap_or(&[])
    }

    /// The pattern's normalized text, rebuilt from where the rule is filed (cold path).
    fn pattern_text(&self, global: u32, r: &Rule) -> String {
        let reference = self.pattern_ref.get(global as usize).copied();
        debug_assert!(
            reference.is_some(),
            "rule {global} has no pattern reference"
        );
        let reference = reference.unwrap_or(0);
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

    pub(super) fn rule_info(&self, global: u32) -> RuleInfo<'_> {
        debug_assert!((global as usize) < self.rules.len(), "no rule {global}");
        let Some(r) = self.rules.get(global) else {
            return RuleInfo {
                index: 0,
                id: RuleId::Named(""),
                line: 0,
                action: Action::Deny,
                pattern: String::new(),
                ports: &[],
                via: Vec::new(),
                received: false,
            };
        };
        let first = self
            .policies
            .get(policy_index(&self.policies, global))
            .map_or(0, |p| p.first_rule);
        let flags = r.flags();
        let via_mask = flags & ALL_VIA;
        RuleInfo {
            index: global - first,
            id: self.id_of(global),
            line: self.rules.line(global),
            action: if r.deny() {
                Action::Deny
            } else {
                Action::Allow
            },
            pattern: self.pattern_text(global, &r),
            ports: self.ports_of(&r),
            via: if flags & HAS_VIA == 0 {
                Vec::new()
            } else {
                Via::ALL
                    .iter()
                    .copied()
                    .filter(|v| via_mask & v.bit() != 0)
                    .collect()
            },
            received: flags & RECEIVED != 0,
        }
    }
}
