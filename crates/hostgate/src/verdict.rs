//! The small value types shared by the engine, the parsers, the CLI and the C ABI.

use core::fmt;
use core::str::FromStr;

use crate::engine::MatchedRule;

/// Allow or deny.
///
/// ```
/// assert_eq!("allow".parse::<hostgate::Action>().unwrap(), hostgate::Action::Allow);
/// ```
// Exhaustive on purpose: a verdict is allow or deny, and callers may rely on matching both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Refuse the connection or query. Listed first: deny is the fail-closed value.
    Deny,
    /// Let it through.
    Allow,
}

impl Action {
    /// `"allow"` or `"deny"`.
    ///
    /// ```
    /// assert_eq!(hostgate::Action::Deny.as_str(), "deny");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = ParseEnumError;

    /// `allow` or `deny`.
    ///
    /// ```
    /// let e = "permit".parse::<hostgate::Action>().unwrap_err();
    /// assert_eq!(e.to_string(), "unknown action `permit`: expected allow or deny");
    /// ```
    fn from_str(s: &str) -> Result<Self, ParseEnumError> {
        match s {
            "allow" => Ok(Action::Allow),
            "deny" => Ok(Action::Deny),
            _ => Err(ParseEnumError::new("action", s, &["allow", "deny"])),
        }
    }
}

/// Why a verdict is what it is.
///
/// ```
/// assert_eq!(hostgate::Reason::InvalidName.as_str(), "invalid-name");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// A rule matched; the verdict names it.
    Matched,
    /// No rule matched; the policy's `default` decided.
    Default,
    /// The name is not a valid host name or IP literal: always deny.
    InvalidName,
    /// The bytes inspected carried no usable name (for example an SSLv2 hello, or a TLS hello
    /// without SNI): always deny.
    NoName,
}

impl Reason {
    /// The spelling used in JSON and logs: `matched`, `default`, `invalid-name`, `no-name`.
    ///
    /// ```
    /// assert_eq!(hostgate::Reason::NoName.as_str(), "no-name");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Matched => "matched",
            Reason::Default => "default",
            Reason::InvalidName => "invalid-name",
            Reason::NoName => "no-name",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a name came from.
///
/// ```
/// assert_eq!("tls".parse::<hostgate::Via>().unwrap(), hostgate::Via::Tls);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Via {
    /// A TLS ClientHello's SNI (also QUIC's TLS).
    Tls,
    /// An HTTP Host header or absolute-form request target.
    Http,
    /// An HTTP CONNECT authority.
    Connect,
    /// A DNS question.
    Dns,
}

impl Via {
    /// Every source, in a fixed order. A slice, not an array: it grows when a source is added.
    ///
    /// ```
    /// assert!(hostgate::Via::ALL.contains(&hostgate::Via::Dns));
    /// ```
    pub const ALL: &'static [Via] = &[Via::Tls, Via::Http, Via::Connect, Via::Dns];

    /// `tls`, `http`, `connect` or `dns`.
    ///
    /// ```
    /// assert_eq!(hostgate::Via::Connect.as_str(), "connect");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Tls => "tls",
            Via::Http => "http",
            Via::Connect => "connect",
            Via::Dns => "dns",
        }
    }

    /// This source as one bit of a `via` mask.
    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Via {
    type Err = ParseEnumError;

    /// `tls`, `http`, `connect` or `dns`.
    ///
    /// ```
    /// let e = "quic".parse::<hostgate::Via>().unwrap_err();
    /// assert_eq!(e.to_string(), "unknown via `quic`: expected tls, http, connect or dns");
    /// ```
    fn from_str(s: &str) -> Result<Self, ParseEnumError> {
        Via::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| ParseEnumError::new("via", s, &["tls", "http", "connect", "dns"]))
    }
}

/// How a policy picks among several matching rules.
///
/// ```
/// assert_eq!(
///     "most-specific".parse::<hostgate::Precedence>().unwrap(),
///     hostgate::Precedence::MostSpecific
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Precedence {
    /// The first matching rule in file order decides (the default).
    #[default]
    FirstMatch,
    /// Rules are ordered by specificity at compile time, then first-match applies.
    MostSpecific,
    /// Any matching deny decides; else the first matching allow; else the default.
    DenyOverrides,
}

impl Precedence {
    /// `first-match`, `most-specific` or `deny-overrides`.
    ///
    /// ```
    /// assert_eq!(hostgate::Precedence::DenyOverrides.as_str(), "deny-overrides");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Precedence::FirstMatch => "first-match",
            Precedence::MostSpecific => "most-specific",
            Precedence::DenyOverrides => "deny-overrides",
        }
    }
}

impl fmt::Display for Precedence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Precedence {
    type Err = ParseEnumError;

    /// `first-match`, `most-specific` or `deny-overrides`.
    ///
    /// ```
    /// let e = "last-match".parse::<hostgate::Precedence>().unwrap_err();
    /// assert_eq!(e.input(), "last-match");
    /// ```
    fn from_str(s: &str) -> Result<Self, ParseEnumError> {
        match s {
            "first-match" => Ok(Precedence::FirstMatch),
            "most-specific" => Ok(Precedence::MostSpecific),
            "deny-overrides" => Ok(Precedence::DenyOverrides),
            _ => Err(ParseEnumError::new(
                "precedence",
                s,
                &["first-match", "most-specific", "deny-overrides"],
            )),
        }
    }
}

/// A word that names none of an enum's values, from the `FromStr` of [`Action`], [`Via`],
/// [`Precedence`] and [`crate::inspect::Expect`].
///
/// ```
/// let e = "quic".parse::<hostgate::Via>().unwrap_err();
/// assert_eq!((e.what(), e.input()), ("via", "quic"));
/// assert_eq!(e.expected(), ["tls", "http", "connect", "dns"]);
/// assert_eq!(e.to_string(), "unknown via `quic`: expected tls, http, connect or dns");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseEnumError {
    what: &'static str,
    input: String,
    expected: &'static [&'static str],
}

impl ParseEnumError {
    pub(crate) fn new(what: &'static str, input: &str, expected: &'static [&'static str]) -> Self {
        ParseEnumError {
            what,
            input: input.to_owned(),
            expected,
        }
    }

    /// What was being parsed: `action`, `via`, `precedence`, `expect`.
    ///
    /// ```
    /// assert_eq!("x".parse::<hostgate::Action>().unwrap_err().what(), "action");
    /// ```
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The text that was refused.
    ///
    /// ```
    /// assert_eq!("Allow".parse::<hostgate::Action>().unwrap_err().input(), "Allow");
    /// ```
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Every accepted spelling, in a fixed order.
    ///
    /// ```
    /// assert_eq!("x".parse::<hostgate::Action>().unwrap_err().expected(), ["allow", "deny"]);
    /// ```
    pub fn expected(&self) -> &'static [&'static str] {
        self.expected
    }
}

impl fmt::Display for ParseEnumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} `{}`: expected ", self.what, self.input)?;
        let n = self.expected.len();
        for (i, word) in self.expected.iter().enumerate() {
            let sep = match i {
                0 => "",
                _ if i + 1 == n => " or ",
                _ => ", ",
            };
            write!(f, "{sep}{word}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseEnumError {}

/// A policy inside an engine, resolved once by name with [`crate::Engine::policy`].
///
/// ```
/// let e = hostgate::Engine::compile("policy a\nallow x.io\npolicy b\n").unwrap();
/// assert_eq!(e.policy("b").unwrap().index(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PolicyId(pub(crate) u32);

impl PolicyId {
    /// The policy's position in the engine (file order), from 0.
    pub fn index(self) -> u32 {
        self.0
    }

    /// The id for a position; [`crate::Engine::policy_name`] tells whether it exists.
    ///
    /// ```
    /// assert_eq!(hostgate::PolicyId::from_index(3).index(), 3);
    /// ```
    pub fn from_index(index: u32) -> PolicyId {
        PolicyId(index)
    }
}

/// One question to the engine: a name (raw bytes or text, normalized by the engine), an optional
/// destination port, and where the name came from.
///
/// ```
/// use hostgate::{Query, Via};
/// let q = Query::new("api.kadath.io").port(443).via(Via::Tls);
/// assert_eq!(q.port, Some(443));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query<'a> {
    /// The name as received; the engine normalizes it.
    pub name: &'a [u8],
    /// The destination port; `None` for a DNS question (see the port rule in the docs).
    pub port: Option<u16>,
    /// Where the name came from; `None` when unknown.
    pub via: Option<Via>,
}

impl<'a> Query<'a> {
    /// A query for `name` with no port and no known source.
    ///
    /// ```
    /// assert_eq!(hostgate::Query::new("a.io").name, b"a.io");
    /// ```
    pub fn new<N: AsRef<[u8]> + ?Sized>(name: &'a N) -> Query<'a> {
        Query {
            name: name.as_ref(),
            port: None,
            via: None,
        }
    }

    /// Sets the destination port.
    ///
    /// ```
    /// assert_eq!(hostgate::Query::new("a.io").port(80).port, Some(80));
    /// ```
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Sets the source.
    ///
    /// ```
    /// use hostgate::{Query, Via};
    /// assert_eq!(Query::new("a.io").via(Via::Dns).via, Some(Via::Dns));
    /// ```
    pub fn via(mut self, via: Via) -> Self {
        self.via = Some(via);
        self
    }
}

/// The answer: allow or deny, why, in which policy, and which rule when one matched.
///
/// ```
/// use hostgate::{Action, Engine, Query, Reason};
/// let e = Engine::compile("allow **.stripe.com port 443\n").unwrap();
/// let p = e.policy("default").unwrap();
/// let v = e.check(p, &Query::new("api.stripe.com").port(443));
/// assert_eq!((v.action, v.reason), (Action::Allow, Reason::Matched));
/// assert_eq!(v.rule.unwrap().id(), "default:1");
/// let v = e.check(p, &Query::new("stripe.com").port(443));
/// assert_eq!((v.action, v.reason, v.rule), (Action::Deny, Reason::Default, None));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict<'e> {
    /// Allow or deny.
    pub action: Action,
    /// Why.
    pub reason: Reason,
    /// The policy that was asked.
    pub policy: PolicyId,
    /// The deciding rule, when `reason` is [`Reason::Matched`]: its index, id and line are read
    /// from the engine when asked for, so a lookup touches no more memory than it must.
    pub rule: Option<MatchedRule<'e>>,
}

impl Verdict<'_> {
    /// A deny verdict with the given reason and no rule: what every failure path returns.
    ///
    /// ```
    /// let v = hostgate::Verdict::deny(hostgate::PolicyId::default(), hostgate::Reason::NoName);
    /// assert!(!v.is_allow());
    /// ```
    pub fn deny(policy: PolicyId, reason: Reason) -> Self {
        Verdict {
            action: Action::Deny,
            reason,
            policy,
            rule: None,
        }
    }

    /// True when the action is allow.
    ///
    /// ```
    /// let v = hostgate::Verdict::default();
    /// assert!(!v.is_allow());
    /// ```
    pub fn is_allow(&self) -> bool {
        self.action == Action::Allow
    }
}

impl Default for Verdict<'_> {
    /// Deny, no name: a safe placeholder for batch output buffers.
    fn default() -> Self {
        Verdict::deny(PolicyId(0), Reason::NoName)
    }
}
