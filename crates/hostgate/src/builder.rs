//! Programmatic construction of policies: the same compiler as the text form, without text.

use std::fmt;

use crate::engine::Engine;
use crate::error::CompileErrors;
use crate::verdict::{Action, Precedence, Via};

/// One rule, as written in a policy: `ACTION PATTERN [port LIST] [via LIST] [id NAME]`.
///
/// ```
/// use hostgate::{RuleSpec, Via};
/// let r = RuleSpec::allow("**.stripe.com").port(443).via(Via::Tls).id("stripe");
/// assert_eq!(r.ports, vec![(443, 443)]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    /// Allow or deny.
    pub action: Action,
    /// The pattern text, exactly as in a policy file (`*.x`, `.x`, `~re`, `10.0.0.0/8`, …).
    pub pattern: String,
    /// Inclusive port ranges; empty means any port.
    pub ports: Vec<(u16, u16)>,
    /// Sources the rule applies to; empty means any source.
    pub via: Vec<Via>,
    /// A stable id for logs; `None` gives `POLICY:LINE`.
    pub id: Option<String>,
    /// Match the `~regex` against the name as the query carried it (case, trailing dot and,
    /// for HTTP and CONNECT, `:PORT` kept) instead of the normalized name; regex rules only.
    pub received: bool,
    /// The line this rule came from (0 for built rules).
    pub line: u32,
    /// Column of the pattern on its line (0 for built rules).
    pub(crate) pattern_column: u32,
    /// Column of the id value (0 for built rules).
    pub(crate) id_column: u32,
    /// Column of the `received` attribute (0 for built rules).
    pub(crate) received_column: u32,
}

impl RuleSpec {
    /// A rule with the given action and pattern, any port, any source.
    ///
    /// ```
    /// let r = hostgate::RuleSpec::new(hostgate::Action::Deny, "api.leng.com");
    /// assert!(r.ports.is_empty() && r.via.is_empty());
    /// ```
    pub fn new(action: Action, pattern: impl Into<String>) -> Self {
        RuleSpec {
            action,
            pattern: pattern.into(),
            ports: Vec::new(),
            via: Vec::new(),
            id: None,
            received: false,
            line: 0,
            pattern_column: 0,
            id_column: 0,
            received_column: 0,
        }
    }

    /// `allow PATTERN`.
    ///
    /// ```
    /// assert_eq!(hostgate::RuleSpec::allow("a.io").action, hostgate::Action::Allow);
    /// ```
    pub fn allow(pattern: impl Into<String>) -> Self {
        RuleSpec::new(Action::Allow, pattern)
    }

    /// `deny PATTERN`.
    ///
    /// ```
    /// assert_eq!(hostgate::RuleSpec::deny("a.io").action, hostgate::Action::Deny);
    /// ```
    pub fn deny(pattern: impl Into<String>) -> Self {
        RuleSpec::new(Action::Deny, pattern)
    }

    /// Adds one port.
    ///
    /// ```
    /// assert_eq!(hostgate::RuleSpec::allow("a.io").port(80).ports, vec![(80, 80)]);
    /// ```
    pub fn port(self, port: u16) -> Self {
        self.ports(port, port)
    }

    /// Adds an inclusive port range.
    ///
    /// ```
    /// let r = hostgate::RuleSpec::allow("a.io").ports(8000, 8999);
    /// assert_eq!(r.ports, vec![(8000, 8999)]);
    /// ```
    pub fn ports(mut self, low: u16, high: u16) -> Self {
        self.ports.push((low, high));
        self
    }

    /// Adds a source.
    ///
    /// ```
    /// let r = hostgate::RuleSpec::allow("a.io").via(hostgate::Via::Http);
    /// assert_eq!(r.via, vec![hostgate::Via::Http]);
    /// ```
    pub fn via(mut self, via: Via) -> Self {
        self.via.push(via);
        self
    }

    /// Matches the `~regex` against the name as received (see `received` in
    /// `docs/policy-language.md`).
    ///
    /// ```
    /// use hostgate::{Engine, EngineBuilder, PolicySpec, Query, RuleSpec, Via};
    /// let e = EngineBuilder::new()
    ///     .policy(PolicySpec::new("p").rule(RuleSpec::allow("~Api\\.io:8080").received()))
    ///     .build()
    ///     .unwrap();
    /// let p = e.policy("p").unwrap();
    /// assert!(e.check(p, &Query::new("Api.io").port(8080).via(Via::Http)).is_allow());
    /// assert!(!e.check(p, &Query::new("api.io").port(8080).via(Via::Http)).is_allow());
    /// ```
    pub fn received(mut self) -> Self {
        self.received = true;
        self
    }

    /// Sets the id.
    ///
    /// ```
    /// assert_eq!(hostgate::RuleSpec::allow("a.io").id("x").id.as_deref(), Some("x"));
    /// ```
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

/// The rule as one line of policy text that reads back as the same rule: `ACTION PATTERN`,
/// then `port`, `via`, `id` and `received` as set. Policy text splits on white space, so a
/// `~regex`'s white space is written as `\x{HEX}` (and a verbose-mode regex loses its
/// comments), which is the same regex.
///
/// ```
/// use hostgate::{RuleSpec, Via};
/// let r = RuleSpec::deny("**.example.com").port(443).ports(8000, 8999).via(Via::Tls).id("x");
/// assert_eq!(r.to_string(), "deny **.example.com port 443,8000-8999 via tls id x");
/// assert_eq!(RuleSpec::allow("~a b|c\\.io").to_string(), "allow ~a\\x{20}b|c\\.io");
/// ```
impl fmt::Display for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.action.as_str())?;
        match self.pattern.strip_prefix('~') {
            // A regex that does not parse is written as it is: compiling says why.
            Some(re) => match crate::compile::regex::one_token(re) {
                Some(re) => write!(f, "~{re}")?,
                None => f.write_str(&self.pattern)?,
            },
            None => f.write_str(&self.pattern)?,
        }
        for (i, &(low, high)) in self.ports.iter().enumerate() {
            f.write_str(if i == 0 { " port " } else { "," })?;
            if low == high {
                write!(f, "{low}")?;
            } else {
                write!(f, "{low}-{high}")?;
            }
        }
        for (i, via) in self.via.iter().enumerate() {
            f.write_str(if i == 0 { " via " } else { "," })?;
            f.write_str(via.as_str())?;
        }
        if let Some(id) = &self.id {
            write!(f, " id {id}")?;
        }
        if self.received {
            f.write_str(" received")?;
        }
        Ok(())
    }
}

/// One named policy: its precedence, its default and its rules in order.
///
/// ```
/// use hostgate::{Action, PolicySpec, Precedence, RuleSpec};
/// let p = PolicySpec::new("egress")
///     .precedence(Precedence::DenyOverrides)
///     .default_action(Action::Allow)
///     .rule(RuleSpec::deny("api.leng.com"));
/// assert_eq!(p.rules.len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicySpec {
    /// The policy's name.
    pub name: String,
    /// How matching rules are ranked.
    pub precedence: Precedence,
    /// The verdict when nothing matches.
    pub default: Action,
    /// The rules, in order.
    pub rules: Vec<RuleSpec>,
    /// The line of the `policy` statement (0 when built or implicit).
    pub(crate) line: u32,
}

impl PolicySpec {
    /// An empty policy: first-match, default deny.
    ///
    /// ```
    /// let p = hostgate::PolicySpec::new("p");
    /// assert_eq!(p.default, hostgate::Action::Deny);
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        PolicySpec {
            name: name.into(),
            precedence: Precedence::FirstMatch,
            default: Action::Deny,
            rules: Vec::new(),
            line: 0,
        }
    }

    /// Sets the precedence mode.
    ///
    /// ```
    /// let p = hostgate::PolicySpec::new("p").precedence(hostgate::Precedence::MostSpecific);
    /// assert_eq!(p.precedence, hostgate::Precedence::MostSpecific);
    /// ```
    pub fn precedence(mut self, precedence: Precedence) -> Self {
        self.precedence = precedence;
        self
    }

    /// Sets the default action.
    ///
    /// ```
    /// let p = hostgate::PolicySpec::new("p").default_action(hostgate::Action::Allow);
    /// assert_eq!(p.default, hostgate::Action::Allow);
    /// ```
    pub fn default_action(mut self, action: Action) -> Self {
        self.default = action;
        self
    }

    /// Appends a rule.
    ///
    /// ```
    /// let p = hostgate::PolicySpec::new("p").rule(hostgate::RuleSpec::allow("a.io"));
    /// assert_eq!(p.rules[0].pattern, "a.io");
    /// ```
    pub fn rule(mut self, rule: RuleSpec) -> Self {
        self.rules.push(rule);
        self
    }
}

/// Builds an [`Engine`] from policies made in code rather than text.
///
/// ```
/// use hostgate::{Action, EngineBuilder, PolicySpec, Query, RuleSpec};
/// let engine = EngineBuilder::new()
///     .policy(PolicySpec::new("web").rule(RuleSpec::allow(".example.org").ports(8000, 8999)))
///     .build()
///     .unwrap();
/// let web = engine.policy("web").unwrap();
/// assert_eq!(engine.check(web, &Query::new("a.example.org").port(8080)).action, Action::Allow);
/// ```
#[derive(Clone, Debug, Default)]
pub struct EngineBuilder {
    policies: Vec<PolicySpec>,
}

impl EngineBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        EngineBuilder::default()
    }

    /// Adds a policy.
    pub fn policy(mut self, policy: PolicySpec) -> Self {
        self.policies.push(policy);
        self
    }

    /// Compiles every policy into one engine; errors name the policy and rule (line 0).
    /// Like [`Engine::compile`], 20,000 rules or more are compiled on two threads.
    ///
    /// ```
    /// use hostgate::{EngineBuilder, PolicySpec, RuleSpec};
    /// let err = EngineBuilder::new()
    ///     .policy(PolicySpec::new("p").rule(RuleSpec::allow("a.**.b")))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.errors()[0].message.contains("policy p, rule 0"));
    /// ```
    pub fn build(self) -> Result<Engine, CompileErrors> {
        Engine::from_specs(self.policies, Vec::new())
    }
}
