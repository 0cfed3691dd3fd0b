//! The compiled engine: every policy of a file sharing one matcher.
//!
//! This file holds the [`Engine`] type and its accessors (policies, rules, warnings, heap
//! size). The rest of the engine is one concept per file:
//!
//! - [`lookup`]: the hot path — `check`, `check_name`, `check_batch` and the collectors that
//!   keep the best-ranked rule;
//! - [`explain`]: `explain`, every matching rule and why one decides;
//! - [`rule`]: how a rule is encoded for the lookup (`Rule`, `Shape`, `Aux`) and its public
//!   views (`RuleInfo`, `RuleId`, `MatchedRule`).
//!
//! Turning policy specs into an engine is `crate::compile`; the hash table the keyed name rules
//! live in is `crate::matcher`; the checks that start from raw bytes (`inspect_check`) are with
//! their parsers in [`crate::inspect`].

use std::collections::HashMap;
use std::net::IpAddr;

use regex_automata::meta::Regex;

use crate::error::{CompileErrors, Diagnostic};
use crate::matcher::SuffixTable;
use crate::pages::Store;
use crate::pattern::mask;
use crate::policy_text;
use crate::verdict::{Action, PolicyId, Precedence};

mod explain;
mod lookup;
mod rule;

pub use explain::{ExplainedRule, Explanation};
pub(crate) use rule::{
    pack_meta, plain_meta, shape_of, Aux, Rules, Shape, ALL_VIA, DENY, HAS_PORTS, HAS_VIA, NO_AUX,
    RECEIVED,
};
pub use rule::{MatchedRule, RuleId, RuleInfo};

/// One policy of an engine: its settings and where its rules are.
#[derive(Debug)]
pub(crate) struct PolicyMeta {
    pub(crate) name: String,
    pub(crate) precedence: Precedence,
    pub(crate) default: Action,
    pub(crate) first_rule: u32,
    pub(crate) rule_count: u32,
    /// `*` rules, by rank.
    pub(crate) any: Vec<u32>,
    /// The smallest rank of any `~regex` rule (u32::MAX when none): the regex set only runs
    /// when it could beat the best rank found so far.
    pub(crate) regex_min_rank: u32,
    /// The same for `received` regex rules, which run the set again on the name as received.
    pub(crate) received_min_rank: u32,
}

/// The index of the policy that global rule `g` belongs to.
pub(crate) fn policy_index(policies: &[PolicyMeta], g: u32) -> usize {
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
    pub(crate) fn rank_of(&self, g: u32, deny: bool, stored: impl FnOnce() -> u32) -> u32 {
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
pub(crate) struct RegexSet {
    pub(crate) regex: Regex,
    /// Per pattern: its rules, sorted by policy then rank.
    pub(crate) rules: Vec<Vec<u32>>,
}

/// IP and CIDR rules: one hash map keyed by (prefix length, masked address).
#[derive(Debug, Default)]
pub(crate) struct IpTable {
    pub(crate) map: HashMap<(u8, u128), Vec<u32>>,
    /// Prefix lengths present, longest first, for v4 and v6.
    pub(crate) v4_lens: Vec<u8>,
    pub(crate) v6_lens: Vec<u8>,
}

impl IpTable {
    pub(crate) fn key(ip: IpAddr, len: u8) -> (u8, u128) {
        match mask(ip, len) {
            IpAddr::V4(v4) => (len, u128::from(u32::from(v4))),
            // v6 keys are offset so they never collide with v4 keys of the same length.
            IpAddr::V6(v6) => (len.wrapping_add(64), u128::from(v6)),
        }
    }
}

/// Glob heads (labels left of the literal suffix), bytes per label.
pub(crate) type GlobHead = Vec<Vec<u8>>;

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
    pub(crate) policies: Vec<PolicyMeta>,
    pub(crate) by_name: HashMap<String, u32>,
    pub(crate) rules: Rules,
    pub(crate) aux: Vec<Aux>,
    pub(crate) table: SuffixTable,
    pub(crate) globs: Vec<GlobHead>,
    pub(crate) ips: IpTable,
    pub(crate) regexes: Option<RegexSet>,
    pub(crate) ports: Vec<(u16, u16)>,
    /// Explicit rule ids, one arena.
    pub(crate) ids: String,
    /// (rule, offset, length) of each explicit id, by rule: the cold side of `Rule`.
    pub(crate) named_ids: Vec<(u32, u32, u32)>,
    /// Cold, for showing patterns: per rule, the table node (keyed shapes), the regex source
    /// or the CIDR it came from.
    pub(crate) pattern_ref: Store<u32>,
    pub(crate) regex_sources: Vec<String>,
    pub(crate) cidrs: Vec<(IpAddr, u8)>,
    pub(crate) warnings: Vec<Diagnostic>,
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
        let (specs, errors) = policy_text::parse(text);
        Engine::from_specs(specs, errors)
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
            + self.pattern_ref.bytes()
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Engine>();
    }
}
