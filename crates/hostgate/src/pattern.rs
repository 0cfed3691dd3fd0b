//! Pattern parsing (stub, being implemented).
use std::net::IpAddr;

/// A parsed rule pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// `api.kadath.io`
    Exact(String),
    /// `*.kadath.io`
    OneLabel(String),
    /// `**.kadath.io`
    Deep(String),
    /// `.kadath.io`
    Dot(String),
    /// `api-*.kadath.io`, `a.*.b.io`
    Glob {
        /// Labels left of the literal suffix, some with `*`.
        head: Vec<String>,
        /// The literal suffix.
        suffix: String,
    },
    /// `*`
    Any,
    /// `~regex`
    Regex(String),
    /// An IP or CIDR.
    Cidr(IpAddr, u8),
}
