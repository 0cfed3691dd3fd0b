//! The naive matcher: every rule's pattern is tested directly, then precedence picks the winner.

use std::net::IpAddr;

use hostgate::{normalize, Action, NameKind, Precedence, Reason, Via};

use crate::RefVerdict;

/// A parsed pattern, in the plainest form that can be matched directly.
#[derive(Clone, Debug)]
pub enum RefPattern {
    /// `api.kadath.io`: the normalized name.
    Exact(String),
    /// `*.kadath.io`: exactly one more label than the normalized suffix.
    OneLabel(String),
    /// `**.kadath.io`: one or more labels more than the normalized suffix.
    Deep(String),
    /// `.kadath.io`: the normalized apex or any depth below it.
    Dot(String),
    /// In-label globs: one entry per label (normalized literal labels, lowercase glob labels).
    Glob(Vec<String>),
    /// `*`: every valid name.
    Any,
    /// `~re`: the source text and the whole-match regex (`^(?:re)$`).
    Regex(String, regex::Regex),
    /// An IP (prefix = full length) or a CIDR.
    Cidr(IpAddr, u8),
}

impl RefPattern {
    /// Whether the pattern matches a normalized query (`text` is the normalized name text).
    pub fn matches(&self, text: &str, ip: Option<IpAddr>) -> bool {
        if let RefPattern::Cidr(net, prefix) = self {
            return match ip {
                Some(ip) => in_cidr(ip, *net, *prefix),
                None => false,
            };
        }
        if ip.is_some() {
            return false;
        }
        match self {
            RefPattern::Exact(x) => text == x,
            RefPattern::OneLabel(x) => match text.strip_suffix(x.as_str()) {
                Some(head) => match head.strip_suffix('.') {
                    Some(label) => !label.is_empty() && !label.contains('.'),
                    None => false,
                },
                None => false,
            },
            RefPattern::Deep(x) => match text.strip_suffix(x.as_str()) {
                Some(head) => head.len() > 1 && head.ends_with('.'),
                None => false,
            },
            RefPattern::Dot(x) => {
                text == x
                    || match text.strip_suffix(x.as_str()) {
                        Some(head) => head.len() > 1 && head.ends_with('.'),
                        None => false,
                    }
            }
            RefPattern::Glob(labels) => {
                let name: Vec<&str> = text.split('.').collect();
                name.len() == labels.len()
                    && name
                        .iter()
                        .zip(labels)
                        .all(|(n, p)| glob_label(p.as_bytes(), n.as_bytes()))
            }
            RefPattern::Any => true,
            RefPattern::Regex(_, re) => re.is_match(text),
            RefPattern::Cidr(..) => unreachable!(),
        }
    }

    /// The most-specific class: 1 exact names and single IPs, 2 other patterns and CIDRs,
    /// 3 regexes, 4 `*`.
    pub fn class(&self) -> u8 {
        match self {
            RefPattern::Exact(_) => 1,
            RefPattern::Cidr(ip, p) if *p == full_len(*ip) => 1,
            RefPattern::Cidr(..)
            | RefPattern::OneLabel(_)
            | RefPattern::Deep(_)
            | RefPattern::Dot(_)
            | RefPattern::Glob(_) => 2,
            RefPattern::Regex(..) => 3,
            RefPattern::Any => 4,
        }
    }

    /// Within class 2: literal characters of the normalized pattern text (not `*`, dots
    /// included) for name patterns, the prefix length for CIDRs. Larger ranks first.
    pub fn specificity(&self) -> usize {
        match self {
            RefPattern::OneLabel(x) | RefPattern::Deep(x) | RefPattern::Dot(x) => x.len() + 1,
            RefPattern::Glob(labels) => {
                let text = labels.join(".");
                text.chars().filter(|&c| c != '*').count()
            }
            RefPattern::Cidr(_, p) => usize::from(*p),
            RefPattern::Exact(x) => x.len(),
            RefPattern::Regex(..) | RefPattern::Any => 0,
        }
    }
}

fn full_len(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Backtracking glob match of one label: `*` is zero or more characters (never a dot; labels
/// hold no dots here).
fn glob_label(pat: &[u8], text: &[u8]) -> bool {
    match pat.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob_label(rest, &text[i..])),
        Some((c, rest)) => text.first() == Some(c) && glob_label(rest, &text[1..]),
    }
}

/// One rule of a policy.
#[derive(Clone, Debug)]
pub struct RefRule {
    /// Allow or deny.
    pub action: Action,
    /// The pattern.
    pub pattern: RefPattern,
    /// Inclusive port ranges; empty = any port.
    pub ports: Vec<(u16, u16)>,
    /// Sources; empty = any source.
    pub via: Vec<Via>,
    /// The id (explicit, or `POLICY:LINE`).
    pub id: String,
    /// The line, from 1.
    pub line: u32,
    /// Position in the policy, from 0.
    pub index: u32,
}

impl RefRule {
    /// Whether the rule's port and source conditions admit the query (contract + semantics:
    /// a port-less query meets a port-limited allow but not a port-limited deny; a source-less
    /// query meets a via-limited deny but not a via-limited allow).
    pub fn conditions_hold(&self, port: Option<u16>, via: Option<Via>) -> bool {
        let port_ok = if self.ports.is_empty() {
            true
        } else {
            match port {
                Some(p) => self.ports.iter().any(|&(lo, hi)| lo <= p && p <= hi),
                None => self.action == Action::Allow,
            }
        };
        let via_ok = if self.via.is_empty() {
            true
        } else {
            match via {
                Some(v) => self.via.contains(&v),
                None => self.action == Action::Deny,
            }
        };
        port_ok && via_ok
    }
}

/// One named policy.
#[derive(Clone, Debug)]
pub struct RefPolicy {
    /// The policy name.
    pub name: String,
    /// The precedence mode.
    pub precedence: Precedence,
    /// The default action.
    pub default: Action,
    /// The rules in file order.
    pub rules: Vec<RefRule>,
}

impl RefPolicy {
    /// Every rule that matches the query, in file order (empty for an invalid name).
    pub fn matching(&self, name: &[u8], port: Option<u16>, via: Option<Via>) -> Vec<&RefRule> {
        let Ok(n) = normalize(name) else {
            return Vec::new();
        };
        let ip = match n.kind() {
            NameKind::Ip(ip) => Some(ip),
            NameKind::Name => None,
            kind => unimplemented!("the reference does not know names of kind {kind:?}"),
        };
        self.rules
            .iter()
            .filter(|r| r.conditions_hold(port, via) && r.pattern.matches(n.as_str(), ip))
            .collect()
    }

    /// The verdict for one query.
    pub fn check(&self, name: &[u8], port: Option<u16>, via: Option<Via>) -> RefVerdict {
        if normalize(name).is_err() {
            return RefVerdict {
                action: Action::Deny,
                reason: Reason::InvalidName,
                rule_index: None,
                line: None,
                id: None,
            };
        }
        let mut matching = self.matching(name, port, via);
        let deny_first = |r: &RefRule| u8::from(r.action != Action::Deny);
        match self.precedence {
            Precedence::FirstMatch => {}
            Precedence::DenyOverrides => matching.sort_by_key(|r| (deny_first(r), r.index)),
            Precedence::MostSpecific => matching.sort_by_key(|r| {
                (
                    r.pattern.class(),
                    std::cmp::Reverse(if r.pattern.class() == 2 {
                        r.pattern.specificity()
                    } else {
                        0
                    }),
                    deny_first(r),
                    r.index,
                )
            }),
            p => unimplemented!("the reference does not know precedence {p}"),
        }
        match matching.first() {
            Some(r) => RefVerdict {
                action: r.action,
                reason: Reason::Matched,
                rule_index: Some(r.index),
                line: Some(r.line),
                id: Some(r.id.clone()),
            },
            None => RefVerdict {
                action: self.default,
                reason: Reason::Default,
                rule_index: None,
                line: None,
                id: None,
            },
        }
    }
}
