//! Rule patterns: parsing the pattern text of one rule into a typed [`Pattern`].
//!
//! Literal labels go through [`crate::normalize`], so `*.Bücher.example` and `*.xn--bcher-kva.example`
//! are the same pattern. A pattern that can never match a valid name is an error, with the
//! column of the offending part and, where it is obvious, what was probably meant.

use core::fmt;
use std::net::IpAddr;

use crate::name::{normalize, InvalidName, NameKind, MAX_LABEL_LEN, MAX_NAME_LEN};

/// Longest accepted `~regex` source, in bytes.
pub(crate) const MAX_REGEX_LEN: usize = 1024;

/// A parsed rule pattern (the contract's section 2).
///
/// ```
/// use hostgate::Pattern;
/// assert_eq!(Pattern::parse("*.Kadath.IO").unwrap(), Pattern::OneLabel("kadath.io".into()));
/// assert_eq!(Pattern::parse("*.Kadath.IO").unwrap().to_string(), "*.kadath.io");
/// assert!(Pattern::parse("a.**.b").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Pattern {
    /// `api.kadath.io`: exactly that name.
    Exact(String),
    /// `*.kadath.io`: exactly one more label.
    OneLabel(String),
    /// `**.kadath.io`: one or more labels.
    Deep(String),
    /// `.kadath.io`: the apex and any depth below.
    Dot(String),
    /// In-label globs such as `api-*.kadath.io` or `a.*.b.io`: the labels left of the literal
    /// suffix, each matched against one query label (`*` = 0 or more of `[a-z0-9_-]`).
    Glob {
        /// Labels left of the literal suffix, lowercase; at least one contains `*`.
        head: Vec<String>,
        /// The literal suffix (whole labels), normalized.
        suffix: String,
    },
    /// `*`: every valid name (not IPs).
    Any,
    /// `~REGEX`: whole-match against the normalized name.
    Regex(String),
    /// An IP (`prefix` = 32 or 128) or a CIDR; host bits are zero.
    Cidr(IpAddr, u8),
}

/// Why a pattern is refused: a message, the character offset inside the pattern, and a
/// suggestion when one is obvious.
///
/// ```
/// let e = hostgate::Pattern::parse("**example.com").unwrap_err();
/// assert_eq!(e.help.as_deref(), Some("did you mean `**.example.com`?"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    /// Offset of the problem inside the pattern text, in characters.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// What was probably meant.
    pub help: Option<String>,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.help {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PatternError {}

fn err(offset: usize, message: impl Into<String>) -> PatternError {
    PatternError {
        offset,
        message: message.into(),
        help: None,
    }
}

fn err_help(offset: usize, message: impl Into<String>, help: String) -> PatternError {
    PatternError {
        offset,
        message: message.into(),
        help: Some(help),
    }
}

impl Pattern {
    /// Parses one pattern. Regex syntax is checked when the rule is compiled, not here.
    ///
    /// ```
    /// use hostgate::Pattern;
    /// assert_eq!(Pattern::parse(".kadath.io").unwrap(), Pattern::Dot("kadath.io".into()));
    /// assert_eq!(
    ///     Pattern::parse("203.0.113.0/24").unwrap(),
    ///     Pattern::Cidr("203.0.113.0".parse().unwrap(), 24)
    /// );
    /// ```
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        Self::parse_with_warnings(text).map(|(p, _)| p)
    }

    /// Parses one pattern and also returns a warning for legal but suspicious forms.
    pub(crate) fn parse_with_warnings(
        text: &str,
    ) -> Result<(Pattern, Option<PatternError>), PatternError> {
        if text.is_empty() {
            return Err(err(0, "empty pattern"));
        }
        if let Some(re) = text.strip_prefix('~') {
            if re.is_empty() {
                return Err(err(1, "empty regex after `~`"));
            }
            if re.len() > MAX_REGEX_LEN {
                return Err(err(1, format!("regex longer than {MAX_REGEX_LEN} bytes")));
            }
            return Ok((Pattern::Regex(re.to_owned()), None));
        }
        if text.contains('/') {
            return parse_cidr(text).map(|p| (p, None));
        }
        if text == "*" {
            return Ok((Pattern::Any, None));
        }
        if text == "**" {
            return Err(err_help(
                0,
                "`**` needs a suffix",
                "`*` alone matches every name".into(),
            ));
        }
        // One trailing dot is allowed, as in names; two are an empty label.
        let body = text.strip_suffix('.').unwrap_or(text);
        if body.ends_with('.') {
            return Err(err(
                char_offset(text, text.len() - 1),
                "invalid name in pattern: empty label",
            ));
        }
        if let Some(rest) = body.strip_prefix("**.") {
            let suffix = literal_suffix(rest, 3, text)?;
            never_too_long(&suffix)?;
            return Ok((Pattern::Deep(suffix), None));
        }
        if body.starts_with("**") {
            return Err(err_help(
                0,
                "`**` must be a whole first label followed by a dot",
                format!("did you mean `**.{}`?", body.trim_start_matches('*')),
            ));
        }
        if let Some(rest) = body.strip_prefix('.') {
            if rest.contains('*') {
                let at = text.find('*').unwrap_or(0);
                return Err(err(
                    char_offset(text, at),
                    "a `.x` pattern cannot contain `*`",
                ));
            }
            let suffix = literal_suffix(rest, 1, text)?;
            return Ok((Pattern::Dot(suffix), None));
        }
        // The common `*.x`, without the general glob machinery.
        if let Some(rest) = body.strip_prefix("*.") {
            if !rest.contains('*') && !rest.is_empty() {
                if let Ok(n) = normalize(rest) {
                    if n.kind() == NameKind::Name {
                        never_too_long(n.as_str())?;
                        return Ok((Pattern::OneLabel(n.as_str().to_owned()), None));
                    }
                }
            }
        }
        if !body.contains('*') {
            return match normalize(body) {
                Ok(n) => match n.kind() {
                    NameKind::Name => Ok((Pattern::Exact(n.as_str().to_owned()), None)),
                    NameKind::Ip(ip) => Ok((Pattern::Cidr(ip, max_prefix(ip)), None)),
                },
                Err(e) => Err(name_error(body, 0, e)),
            };
        }
        parse_glob(text, body)
    }

    /// Number of characters that are not wildcards: the `most-specific` ranking key.
    pub(crate) fn literal_chars(&self) -> usize {
        match self {
            Pattern::Exact(s) => s.len(),
            Pattern::OneLabel(s) | Pattern::Deep(s) | Pattern::Dot(s) => s.len() + 1,
            Pattern::Glob { head, suffix } => {
                head.iter()
                    .map(|l| l.bytes().filter(|&b| b != b'*').count() + 1)
                    .sum::<usize>()
                    + suffix.len()
            }
            Pattern::Any | Pattern::Regex(_) | Pattern::Cidr(..) => 0,
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Exact(s) => f.write_str(s),
            Pattern::OneLabel(s) => write!(f, "*.{s}"),
            Pattern::Deep(s) => write!(f, "**.{s}"),
            Pattern::Dot(s) => write!(f, ".{s}"),
            Pattern::Glob { head, suffix } => write!(f, "{}.{suffix}", head.join(".")),
            Pattern::Any => f.write_str("*"),
            Pattern::Regex(r) => write!(f, "~{r}"),
            Pattern::Cidr(ip, len) if *len == max_prefix(*ip) => write!(f, "{ip}"),
            Pattern::Cidr(ip, len) => write!(f, "{ip}/{len}"),
        }
    }
}

pub(crate) fn max_prefix(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn char_offset(text: &str, byte: usize) -> usize {
    text.get(..byte).map_or(0, |s| s.chars().count())
}

/// `*.K` and `**.K` need at least `x.K`: refuse a K that leaves no room for one more label.
fn never_too_long(suffix: &str) -> Result<(), PatternError> {
    if suffix.len() + 2 > MAX_NAME_LEN {
        return Err(err(
            0,
            "pattern can never match: its shortest match is longer than 253 bytes",
        ));
    }
    Ok(())
}

/// Normalizes the literal suffix of `**.x` / `.x` / globs; `start` is its byte offset in `text`.
fn literal_suffix(rest: &str, start: usize, text: &str) -> Result<String, PatternError> {
    match normalize(rest) {
        Ok(n) if n.kind() == NameKind::Name => Ok(n.as_str().to_owned()),
        Ok(_) => Err(err(
            char_offset(text, start),
            "a wildcard cannot apply to an IP address (use a CIDR such as 10.0.0.0/8)",
        )),
        Err(e) => Err(name_error(rest, char_offset(text, start), e)),
    }
}

/// Turns a normalization failure of a literal into an error pointing at the bad part.
fn name_error(lit: &str, base: usize, e: InvalidName) -> PatternError {
    let at = match e {
        InvalidName::EmptyLabel => lit
            .find("..")
            .map(|i| i + 1)
            .or_else(|| lit.starts_with('.').then_some(0))
            .unwrap_or(lit.len()),
        InvalidName::BadCharacter | InvalidName::BadIpLiteral => lit
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '-' | '_')))
            .unwrap_or(0),
        InvalidName::LabelTooLong => {
            let mut pos = 0;
            for label in lit.split('.') {
                if label.len() > MAX_LABEL_LEN {
                    break;
                }
                pos += label.len() + 1;
            }
            pos.min(lit.len())
        }
        _ => 0,
    };
    let message = match e {
        InvalidName::AmbiguousNumeric => {
            "numeric last label: not a name, and not a dotted-quad IPv4 address".to_owned()
        }
        other => format!("invalid name in pattern: {other}"),
    };
    err(base + char_offset(lit, at), message)
}

fn parse_cidr(text: &str) -> Result<Pattern, PatternError> {
    let slash = text.find('/').unwrap_or(text.len());
    let (addr, len) = (&text[..slash], &text[slash + 1..]);
    let addr_text = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    let ip: IpAddr = addr_text
        .parse()
        .map_err(|_| err(0, format!("`{addr}` is not an IP address")))?;
    let len_off = char_offset(text, slash + 1);
    let prefix: u8 = len
        .parse()
        .map_err(|_| err(len_off, format!("`{len}` is not a prefix length")))?;
    if prefix > max_prefix(ip) {
        return Err(err(
            len_off,
            format!(
                "prefix length {prefix} is longer than the address ({} bits)",
                max_prefix(ip)
            ),
        ));
    }
    // `::ffff:a.b.c.d/120` is the v4 prefix /24: same typing as names.
    let (ip, prefix) = match ip {
        IpAddr::V6(v6) if prefix >= 96 && v6.to_ipv4_mapped().is_some() => (
            IpAddr::V4(
                v6.to_ipv4_mapped()
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            ),
            prefix - 96,
        ),
        other => (other, prefix),
    };
    let masked = mask(ip, prefix);
    if masked != ip {
        return Err(err_help(
            0,
            format!("`{text}` has host bits set"),
            format!("did you mean `{masked}/{prefix}`?"),
        ));
    }
    Ok(Pattern::Cidr(ip, prefix))
}

/// Clears the bits past `prefix`.
pub(crate) fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

fn parse_glob(text: &str, body: &str) -> Result<(Pattern, Option<PatternError>), PatternError> {
    let labels: Vec<&str> = body.split('.').collect();
    // Byte offset of each label in `text`.
    let mut offsets = Vec::with_capacity(labels.len());
    let mut pos = 0;
    for l in &labels {
        offsets.push(pos);
        pos += l.len() + 1;
    }
    let at = |i: usize| char_offset(text, offsets[i]);
    let last = labels.len() - 1;
    if let Some(i) = labels.iter().position(|l| l.contains("**")) {
        return Err(err(
            at(i) + char_offset(labels[i], labels[i].find("**").unwrap_or(0)),
            "`**` is only allowed as the whole first label (`**.example.com`)",
        ));
    }
    let all_numeric = labels
        .iter()
        .all(|l| *l == "*" || (!l.is_empty() && l.bytes().all(|b| b.is_ascii_digit())));
    if all_numeric && labels.len() == 4 {
        let fixed = labels.iter().take_while(|l| **l != "*").count();
        let mut octets: Vec<&str> = labels[..fixed].to_vec();
        octets.resize(4, "0");
        return Err(err_help(
            at(fixed.min(last)),
            "wildcards do not apply to IP addresses",
            format!(
                "did you mean the CIDR `{}/{}`?",
                octets.join("."),
                fixed * 8
            ),
        ));
    }
    if labels[last].contains('*') {
        let mut help = "write the last label out".to_owned();
        if labels.len() >= 2 && labels[0] == "*" && labels[last] != "*" {
            let rest = labels[last].trim_start_matches('*');
            if !rest.is_empty() && labels.len() == 2 {
                help = format!("did you mean `*.{rest}` or `**.{rest}`?");
            }
        }
        return Err(err_help(
            at(last),
            "a wildcard in the last label would match across top-level domains",
            help,
        ));
    }
    let split = labels
        .iter()
        .rposition(|l| l.contains('*'))
        .unwrap_or_default();
    let suffix_start = offsets[split + 1];
    let suffix = literal_suffix(&body[suffix_start..], suffix_start, text)?;
    let mut head = Vec::with_capacity(split + 1);
    let mut min_len = suffix.len();
    for (i, label) in labels[..=split].iter().enumerate() {
        if label.is_empty() {
            return Err(err(at(i), "empty label in pattern"));
        }
        let lower = if label.contains('*') {
            if !label.is_ascii() {
                return Err(err(
                    at(i),
                    "a label with `*` must be ASCII (write its xn-- form)",
                ));
            }
            let lower = label.to_ascii_lowercase();
            if let Some(bad) = lower
                .bytes()
                .position(|b| !matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*'))
            {
                return Err(err(
                    at(i) + bad,
                    "character outside [a-z0-9_-] in a wildcard label",
                ));
            }
            lower
        } else {
            match normalize(label) {
                Ok(n) if n.kind() == NameKind::Name && !n.as_str().contains('.') => {
                    n.as_str().to_owned()
                }
                Ok(_) => return Err(err(at(i), "invalid label in pattern")),
                // A lone numeric label is fine inside a name (only the last label is special).
                Err(InvalidName::AmbiguousNumeric) => label.to_ascii_lowercase(),
                Err(e) => return Err(name_error(label, at(i), e)),
            }
        };
        let literal = lower.bytes().filter(|&b| b != b'*').count();
        if literal > MAX_LABEL_LEN {
            return Err(err(
                at(i),
                "label can never match: more than 63 literal characters",
            ));
        }
        // A lone `*` stands for a whole label, which has at least one character.
        min_len += literal.max(1) + 1;
        head.push(lower);
    }
    if min_len > MAX_NAME_LEN {
        return Err(err(
            0,
            "pattern can never match: its shortest match is longer than 253 bytes",
        ));
    }
    let warning = match head.first() {
        // `*google.com`: a wildcard glued to what looks like a registrable name (the suffix is
        // one label). `*-staging.kadath.io` is an ordinary in-label glob and is not warned about.
        Some(first)
            if head.len() == 1
                && first.starts_with('*')
                && first.len() > 1
                && !suffix.contains('.') =>
        {
            let glued = &first[1..];
            if glued.contains('*') || glued.starts_with(['-', '_']) {
                None
            } else {
                Some(err_help(
                    0,
                    format!(
                        "`{text}` also matches names such as `x{glued}.{suffix}` (a wildcard glued to a label)"
                    ),
                    format!("did you mean `.{glued}.{suffix}`?"),
                ))
            }
        }
        _ => None,
    };
    if head.len() == 1 && head[0] == "*" {
        return Ok((Pattern::OneLabel(suffix), warning));
    }
    Ok((Pattern::Glob { head, suffix }, warning))
}

/// Matches one label against a glob label (`*` = any run of label characters).
/// Linear-time two-pointer match with backtracking to the last star.
pub(crate) fn glob_label_match(pat: &[u8], label: &[u8]) -> bool {
    let (mut p, mut l) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while l < label.len() {
        match pat.get(p) {
            Some(b'*') => {
                star = Some((p, l));
                p += 1;
            }
            Some(&c) if c == label[l] => {
                p += 1;
                l += 1;
            }
            _ => match star {
                Some((sp, sl)) => {
                    p = sp + 1;
                    l = sl + 1;
                    star = Some((sp, sl + 1));
                }
                None => return false,
            },
        }
    }
    pat[p.min(pat.len())..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn kinds() {
        assert_eq!(p("API.kadath.io."), Pattern::Exact("api.kadath.io".into()));
        assert_eq!(p("*.kadath.io"), Pattern::OneLabel("kadath.io".into()));
        assert_eq!(p("**.kadath.io"), Pattern::Deep("kadath.io".into()));
        assert_eq!(p(".kadath.io"), Pattern::Dot("kadath.io".into()));
        assert_eq!(
            p("api-*.kadath.io"),
            Pattern::Glob {
                head: vec!["api-*".into()],
                suffix: "kadath.io".into()
            }
        );
        assert_eq!(
            p("a.*.b.io"),
            Pattern::Glob {
                head: vec!["a".into(), "*".into()],
                suffix: "b.io".into()
            }
        );
        assert_eq!(p("*"), Pattern::Any);
        assert_eq!(p("~ads[0-9]+"), Pattern::Regex("ads[0-9]+".into()));
        assert_eq!(
            p("192.0.2.7"),
            Pattern::Cidr("192.0.2.7".parse().unwrap(), 32)
        );
        assert_eq!(
            p("2001:db8::/32"),
            Pattern::Cidr("2001:db8::".parse().unwrap(), 32)
        );
        assert_eq!(p("*.bücher.example").to_string(), "*.xn--bcher-kva.example");
    }

    #[test]
    fn errors_and_help() {
        for bad in [
            "a.**.b",
            "**",
            "**x.y",
            "api.*",
            "*.*x",
            "a..b",
            "192.168.*.*",
            "1.2.3.4/33",
            "10.0.0.1/8",
            ".a*.b",
            "",
            "~",
            "*.1.2.3.4",
            "a b",
            "*.com.",
        ] {
            if bad == "*.com." {
                assert!(Pattern::parse(bad).is_ok());
                continue;
            }
            assert!(Pattern::parse(bad).is_err(), "{bad} should not parse");
        }
        let e = Pattern::parse("*.*x").unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean `*.x` or `**.x`?"));
        let e = Pattern::parse("192.168.*.*").unwrap_err();
        assert_eq!(
            e.help.as_deref(),
            Some("did you mean the CIDR `192.168.0.0/16`?")
        );
        let e = Pattern::parse("10.0.0.1/8").unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean `10.0.0.0/8`?"));
        assert_eq!(Pattern::parse("a..b").unwrap_err().offset, 2);
        assert_eq!(Pattern::parse("a.**.b").unwrap_err().offset, 2);
    }

    #[test]
    fn footgun_warning() {
        let (_, w) = Pattern::parse_with_warnings("*google.com").unwrap();
        assert_eq!(
            w.unwrap().help.as_deref(),
            Some("did you mean `.google.com`?")
        );
        let (_, w) = Pattern::parse_with_warnings("api-*.google.com").unwrap();
        assert!(w.is_none());
        let (_, w) = Pattern::parse_with_warnings("*-staging.kadath.io").unwrap();
        assert!(w.is_none());
    }

    #[test]
    fn glob_labels() {
        assert!(glob_label_match(b"api-*", b"api-v2"));
        assert!(glob_label_match(b"api-*", b"api-"));
        assert!(!glob_label_match(b"api-*", b"api"));
        assert!(glob_label_match(b"*-prod", b"eu-prod"));
        assert!(glob_label_match(b"a*b*c", b"axxbyyc"));
        assert!(!glob_label_match(b"a*b*c", b"axxbyy"));
        assert!(glob_label_match(b"*", b"x"));
        assert!(glob_label_match(b"**", b"x"));
        assert!(!glob_label_match(b"ab", b"abc"));
    }
}
