//! The compiled engine (stub, being implemented).
use crate::builder::PolicySpec;
use crate::error::{CompileErrors, Diagnostic};
use crate::name::Name;
use crate::types::*;

/// A compiled, immutable set of policies sharing one matcher.
#[derive(Debug)]
pub struct Engine {}

/// A rule as compiled, for display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInfo<'e> {
    /// Position in the policy.
    pub index: u32,
    /// The id.
    pub id: &'e str,
    /// Source line.
    pub line: u32,
    /// Action.
    pub action: Action,
    /// Pattern text (normalized).
    pub pattern: &'e str,
    /// Port ranges (empty = any).
    pub ports: &'e [(u16, u16)],
    /// Sources (empty = any).
    pub via: Vec<Via>,
}

/// One matching rule in an explanation.
#[derive(Clone, Debug)]
pub struct ExplainedRule<'e> {
    /// The rule.
    pub rule: RuleInfo<'e>,
    /// Whether this rule decided the verdict.
    pub decides: bool,
}

/// Every rule that matches a query, and which one decides and why.
#[derive(Clone, Debug)]
pub struct Explanation<'e> {
    /// The verdict (same as `check`).
    pub verdict: Verdict<'e>,
    /// Matching rules in file order.
    pub matches: Vec<ExplainedRule<'e>>,
    /// Why, in words.
    pub why: String,
}

impl Engine {
    /// Compiles policy text.
    pub fn compile(_text: &str) -> Result<Engine, CompileErrors> {
        todo!()
    }
    pub(crate) fn from_specs(
        _specs: Vec<PolicySpec>,
        _errors: Vec<Diagnostic>,
    ) -> Result<Engine, CompileErrors> {
        todo!()
    }
    /// Warnings.
    pub fn warnings(&self) -> &[Diagnostic] {
        todo!()
    }
    /// Policy by name.
    pub fn policy(&self, _name: &str) -> Option<PolicyId> {
        todo!()
    }
    /// Policy name.
    pub fn policy_name(&self, _id: PolicyId) -> Option<&str> {
        todo!()
    }
    /// Check.
    pub fn check(&self, _policy: PolicyId, _q: &Query<'_>) -> Verdict<'_> {
        todo!()
    }
    /// Check a normalized name.
    pub fn check_name(
        &self,
        _policy: PolicyId,
        _name: &Name,
        _port: Option<u16>,
        _via: Option<Via>,
    ) -> Verdict<'_> {
        todo!()
    }
}
