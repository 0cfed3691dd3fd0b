//! [`Engine::explain`]: every rule that matches a query, which one decides, and why, in words.
//!
//! The cold, allocating sibling of [`super::lookup`]: it runs the same collection with a
//! collector that keeps every candidate, then describes the decision.

use super::lookup::All;
use super::rule::RuleInfo;
use super::{Engine, PolicyMeta};
use crate::name::{normalize, Name};
use crate::verdict::{Action, PolicyId, Precedence, Query, Verdict};

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

impl Engine {
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
        if pol.received_min_rank != u32::MAX {
            self.collect_received(pol, query.name, true, query.port, query.via, &mut all);
        }
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
            "rule `{}` (line {}, `{} {}{}`) decides: {}",
            r.id,
            r.line,
            r.action,
            r.pattern,
            if r.received { " received" } else { "" },
            verdict.action
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
