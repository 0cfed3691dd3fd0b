//! The reference's own policy-text parser: line by line, whitespace tokens. It only has to accept
//! valid policies; anything odd is an `Err`.

use std::net::IpAddr;

use hostgate::{normalize, Action, NameKind, Precedence, Via};

use crate::matcher::{RefPattern, RefPolicy, RefRule};
use crate::Policies;

struct Building {
    policy: RefPolicy,
    saw_precedence: bool,
    saw_default: bool,
}

impl Building {
    fn new(name: &str) -> Self {
        Building {
            policy: RefPolicy {
                name: name.to_owned(),
                precedence: Precedence::FirstMatch,
                default: Action::Deny,
                rules: Vec::new(),
            },
            saw_precedence: false,
            saw_default: false,
        }
    }
}

/// Drops a comment: `#` at the start of the line or after white space.
fn strip_comment(line: &str) -> &str {
    let mut prev_ws = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_ws {
            return &line[..i];
        }
        prev_ws = c.is_whitespace();
    }
    line
}

pub(crate) fn parse(text: &str) -> Result<Policies, String> {
    let mut done: Vec<RefPolicy> = Vec::new();
    let mut current: Option<Building> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(i + 1).map_err(|_| "too many lines")?;
        let toks: Vec<&str> = strip_comment(raw).split_whitespace().collect();
        let Some((&kw, args)) = toks.split_first() else {
            continue;
        };
        let err = |m: &str| Err(format!("line {line_no}: {m}"));
        if kw == "policy" {
            let [name] = args else {
                return err("policy takes one name");
            };
            if let Some(b) = current.take() {
                done.push(b.policy);
            }
            if done.iter().any(|p| p.name == *name) {
                return err("duplicate policy");
            }
            current = Some(Building::new(name));
            continue;
        }
        let b = current.get_or_insert_with(|| Building::new("default"));
        match kw {
            "precedence" => {
                let [mode] = args else {
                    return err("precedence takes one mode");
                };
                if b.saw_precedence {
                    return err("precedence twice");
                }
                b.saw_precedence = true;
                b.policy.precedence = match *mode {
                    "first-match" => Precedence::FirstMatch,
                    "most-specific" => Precedence::MostSpecific,
                    "deny-overrides" => Precedence::DenyOverrides,
                    _ => return err("unknown precedence"),
                };
            }
            "default" => {
                let [action] = args else {
                    return err("default takes one action");
                };
                if b.saw_default {
                    return err("default twice");
                }
                b.saw_default = true;
                b.policy.default = parse_action(action).ok_or("unknown default")?;
            }
            "allow" | "deny" => {
                let action = parse_action(kw).ok_or("unknown action")?;
                let index = u32::try_from(b.policy.rules.len()).map_err(|_| "too many rules")?;
                let rule = parse_rule(action, args, &b.policy.name, line_no, index)
                    .map_err(|m| format!("line {line_no}: {m}"))?;
                if b.policy.rules.iter().any(|r| r.id == rule.id) {
                    return err("duplicate id");
                }
                b.policy.rules.push(rule);
            }
            _ => return err("unknown statement"),
        }
    }
    if let Some(b) = current.take() {
        done.push(b.policy);
    }
    if done.is_empty() {
        done.push(Building::new("default").policy);
    }
    Ok(Policies { policies: done })
}

fn parse_action(s: &str) -> Option<Action> {
    match s {
        "allow" => Some(Action::Allow),
        "deny" => Some(Action::Deny),
        _ => None,
    }
}

fn parse_rule(
    action: Action,
    args: &[&str],
    policy: &str,
    line: u32,
    index: u32,
) -> Result<RefRule, String> {
    let Some((pattern, mut opts)) = args.split_first() else {
        return Err("missing pattern".into());
    };
    let pattern = parse_pattern(pattern)?;
    let mut ports: Option<Vec<(u16, u16)>> = None;
    let mut via: Option<Vec<Via>> = None;
    let mut id: Option<String> = None;
    while let [key, value, rest @ ..] = opts {
        opts = rest;
        match *key {
            "port" if ports.is_none() => ports = Some(parse_ports(value)?),
            "via" if via.is_none() => via = Some(parse_vias(value)?),
            "id" if id.is_none() => id = Some((*value).to_owned()),
            _ => return Err(format!("bad option {key}")),
        }
    }
    if !opts.is_empty() {
        return Err("dangling option".into());
    }
    Ok(RefRule {
        action,
        pattern,
        ports: ports.unwrap_or_default(),
        via: via.unwrap_or_default(),
        id: id.unwrap_or_else(|| format!("{policy}:{line}")),
        line,
        index,
    })
}

fn parse_ports(list: &str) -> Result<Vec<(u16, u16)>, String> {
    let one = |s: &str| -> Result<u16, String> {
        match s.parse::<u16>() {
            Ok(p) if p >= 1 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
            _ => Err(format!("bad port {s}")),
        }
    };
    list.split(',')
        .map(|item| match item.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (one(lo)?, one(hi)?);
                if lo > hi {
                    return Err("reversed range".into());
                }
                Ok((lo, hi))
            }
            None => one(item).map(|p| (p, p)),
        })
        .collect()
}

fn parse_vias(list: &str) -> Result<Vec<Via>, String> {
    let mut out = Vec::new();
    for item in list.split(',') {
        let v = match item {
            "tls" => Via::Tls,
            "http" => Via::Http,
            "connect" => Via::Connect,
            "dns" => Via::Dns,
            _ => return Err(format!("unknown via {item}")),
        };
        if out.contains(&v) {
            return Err("repeated via".into());
        }
        out.push(v);
    }
    Ok(out)
}

/// A literal suffix (`kadath.io` in `*.kadath.io`): normalized, and it must be a name.
fn literal_suffix(s: &str) -> Result<String, String> {
    match normalize(s) {
        Ok(n) if n.kind() == NameKind::Name => Ok(n.as_str().to_owned()),
        _ => Err(format!("bad literal {s}")),
    }
}

fn parse_pattern(tok: &str) -> Result<RefPattern, String> {
    if let Some(re) = tok.strip_prefix('~') {
        // Semantics: pattern length <= 1024, compiled size <= 1 MiB, nesting <= 64. The
        // regex crate measures size its own way; only valid policies need to agree.
        if re.is_empty() || re.len() > 1024 {
            return Err("empty or over-long regex".into());
        }
        let re = regex::RegexBuilder::new(&format!("^(?:{re})$"))
            .size_limit(1 << 20)
            .nest_limit(64 + 1)
            .build()
            .map_err(|e| e.to_string())?;
        return Ok(RefPattern::Regex(tok[1..].to_owned(), re));
    }
    if tok == "*" {
        return Ok(RefPattern::Any);
    }
    if let Some((addr, prefix)) = tok.split_once('/') {
        let addr = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr);
        let addr: IpAddr = addr.parse().map_err(|_| "bad CIDR address")?;
        let prefix: u8 = prefix.parse().map_err(|_| "bad prefix")?;
        // Queries in `::ffff:a.b.c.d` form are typed as IPv4 (semantics), so a v4-mapped
        // prefix of at least 96 bits is that IPv4 prefix (hostgate's decision; otherwise the
        // rule could never match).
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if (96..=128).contains(&prefix) => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (addr, prefix),
            },
            _ => (addr, prefix),
        };
        let (bits, host) = match addr {
            IpAddr::V4(a) => {
                let host = if prefix >= 32 {
                    0
                } else {
                    u32::from(a) & (u32::MAX >> prefix)
                };
                (32, u128::from(host))
            }
            IpAddr::V6(a) => {
                let host = if prefix >= 128 {
                    0
                } else {
                    u128::from(a) & (u128::MAX >> prefix)
                };
                (128, host)
            }
        };
        if prefix > bits || host != 0 {
            return Err("bad CIDR".into());
        }
        return Ok(RefPattern::Cidr(addr, prefix));
    }
    if !tok.contains('*') && !tok.starts_with('.') {
        let n = normalize(tok).map_err(|e| e.to_string())?;
        return Ok(match n.kind() {
            NameKind::Ip(ip) => {
                let full = if ip.is_ipv4() { 32 } else { 128 };
                RefPattern::Cidr(ip, full)
            }
            NameKind::Name => RefPattern::Exact(n.as_str().to_owned()),
            kind => {
                return Err(format!(
                    "the reference does not know names of kind {kind:?}"
                ))
            }
        });
    }
    if let Some(rest) = tok.strip_prefix("**.") {
        if rest.contains('*') {
            return Err("`**` only as the whole first label".into());
        }
        return literal_suffix(rest).map(RefPattern::Deep);
    }
    if let Some(rest) = tok.strip_prefix("*.") {
        if !rest.contains('*') {
            return literal_suffix(rest).map(RefPattern::OneLabel);
        }
    }
    if let Some(rest) = tok.strip_prefix('.') {
        if rest.contains('*') {
            return Err("wildcard in a `.x` pattern".into());
        }
        return literal_suffix(rest).map(RefPattern::Dot);
    }
    // In-label globs.
    let labels: Vec<&str> = tok.split('.').collect();
    let last_glob = labels
        .iter()
        .rposition(|l| l.contains('*'))
        .ok_or("no wildcard")?;
    if last_glob + 1 == labels.len() {
        return Err("wildcard in the last label".into());
    }
    let mut out = Vec::with_capacity(labels.len());
    for l in &labels[..=last_glob] {
        if l.contains('*') {
            let lower = l.to_ascii_lowercase();
            let ok = lower
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*'));
            if !ok || lower.contains("**") || lower.len() > 63 {
                return Err(format!("bad wildcard label {l}"));
            }
            out.push(lower);
        } else {
            // A literal label in the head: normalize it in a name context that cannot be
            // numeric-last (`LABEL.a`), then take the label back.
            let n = literal_suffix(&format!("{l}.a"))?;
            let label = n.strip_suffix(".a").ok_or("bad literal label")?;
            if label.contains('.') {
                return Err("label split by IDNA".into());
            }
            out.push(label.to_owned());
        }
    }
    let suffix = literal_suffix(&labels[last_glob + 1..].join("."))?;
    out.extend(suffix.split('.').map(str::to_owned));
    let shortest: usize = out
        .iter()
        .map(|l| l.bytes().filter(|&b| b != b'*').count().max(1))
        .sum::<usize>()
        + out.len()
        - 1;
    if shortest > 253 {
        return Err("pattern too long".into());
    }
    Ok(RefPattern::Glob(out))
}
