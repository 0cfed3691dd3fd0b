//! A deliberately naive reference implementation of the hostgate policy language.
//!
//! Written straight from `docs/policy-language.md` and `docs/semantics.md`, independently of the
//! engine: its own line-by-line parser, a matcher that tests every rule's pattern directly, and
//! precedence applied by sorting the matching rules. It is obviously correct and slow, and exists
//! to be compared with [`hostgate::Engine`] by differential tests and fuzz targets.
//!
//! The only piece of the engine it uses is [`hostgate::normalize`] (the contract mandates one
//! normalization function), for query names and for pattern literals, plus the plain value types
//! ([`Action`], [`Reason`], [`Via`], [`Precedence`]).
//!
//! The parser accepts valid policies; it returns `Err` on anything it does not understand and does
//! not try to reproduce the engine's diagnostics.
//!
//! ```
//! use hostgate_reference::Policies;
//! use hostgate::{Action, Reason};
//!
//! let p = Policies::parse("allow *.kadath.io port 443\n").unwrap();
//! let v = p.check("default", b"a.kadath.io", Some(443), None).unwrap();
//! assert_eq!((v.action, v.reason, v.line), (Action::Allow, Reason::Matched, Some(1)));
//! let v = p.check("default", b"kadath.io", Some(443), None).unwrap();
//! assert_eq!((v.action, v.reason), (Action::Deny, Reason::Default));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ast;
mod matcher;
mod parse;

pub use hostgate::{Action, Precedence, Reason, Via};
pub use matcher::{RefPattern, RefPolicy, RefRule};

/// The reference's answer for one query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefVerdict {
    /// Allow or deny.
    pub action: Action,
    /// Why: `Matched`, `Default` or `InvalidName`.
    pub reason: Reason,
    /// The deciding rule's position in its policy (file order, from 0).
    pub rule_index: Option<u32>,
    /// The deciding rule's line in the policy text (from 1).
    pub line: Option<u32>,
    /// The deciding rule's id (`POLICY:LINE` when the rule has none).
    pub id: Option<String>,
}

impl RefVerdict {
    /// The engine's verdict in the reference's terms: its action and reason, and the deciding
    /// rule's index, line and id (`None` for all three when no rule decided). This is everything
    /// the differential tests and the fuzz target compare, so the engine and the reference agree
    /// on a query exactly when this equals the reference's own answer from [`Policies::check`].
    ///
    /// ```
    /// use hostgate_reference::{Policies, RefVerdict};
    ///
    /// let text = "allow *.kadath.io port 443 id web\n";
    /// let engine = hostgate::Engine::compile(text).unwrap();
    /// let reference = Policies::parse(text).unwrap();
    /// let pid = engine.policy("default").unwrap();
    /// for name in [&b"a.kadath.io"[..], b"kadath.io", b"bad..name"] {
    ///     let q = hostgate::Query { name, port: Some(443), via: None };
    ///     let want = reference.check("default", name, Some(443), None).unwrap();
    ///     assert_eq!(RefVerdict::from_engine(&engine.check(pid, &q)), want);
    /// }
    /// ```
    pub fn from_engine(v: &hostgate::Verdict<'_>) -> RefVerdict {
        RefVerdict {
            action: v.action,
            reason: v.reason,
            rule_index: v.rule.map(|r| r.index()),
            line: v.rule.map(|r| r.line()),
            id: v.rule.map(|r| r.id().to_string()),
        }
    }
}

/// Every policy of one policy text, in file order.
#[derive(Clone, Debug)]
pub struct Policies {
    /// The policies in file order.
    pub policies: Vec<RefPolicy>,
}

impl Policies {
    /// Parses a policy text; `Err` (with a short reason) on anything that is not a valid policy.
    pub fn parse(text: &str) -> Result<Policies, String> {
        parse::parse(text)
    }

    /// The policy called `name`.
    pub fn get(&self, name: &str) -> Option<&RefPolicy> {
        self.policies.iter().find(|p| p.name == name)
    }

    /// The policy names in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.policies.iter().map(|p| p.name.as_str())
    }

    /// Checks one query against the policy called `policy`; `None` when there is no such policy.
    pub fn check(
        &self,
        policy: &str,
        name: &[u8],
        port: Option<u16>,
        via: Option<Via>,
    ) -> Option<RefVerdict> {
        self.get(policy).map(|p| p.check(name, port, via))
    }
}
