//! A generator-friendly policy AST, its renderer to policy text, and query names near it.
//!
//! Every field is a small integer, a `bool` or a `Vec` of such, indexing fixed vocabularies, so
//! that *any* value renders to a valid policy: proptest strategies, `arbitrary` implementations
//! and [`PolicyAst::from_bytes`] (for fuzz targets) can all build one without knowing the
//! language. [`PolicyAst::render`] gives the text, [`PolicyAst::probe_names`] the query names worth
//! asking (apex, extra labels, near misses, case/dot/IDNA variants, invalid names, IPs in and
//! around each prefix) and [`PolicyAst::probe_ports`] the ports around each rule's ranges.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Labels that domain patterns are built from (`bücher` and `xn--bcher-kva` are the same label
/// after IDNA).
pub const LABELS: &[&str] = &[
    "api",
    "kadath",
    "leng",
    "stripe",
    "a",
    "b",
    "www",
    "x-1",
    "_dmarc",
    "bücher",
    "xn--bcher-kva",
    "münchen",
    "cdn7",
    "123",
    // Lengths at the matcher's word and inline-label limits (8, 9, 12, 13, 16, 17, 25 bytes).
    "abcdefgh",
    "abcdefghi",
    "twelve-bytes",
    "thirteen-byte",
    "sixteen-bytes-ab",
    "seventeen-bytes-x",
    "a-label-of-25-bytes-abcde",
];

/// Last labels (never numeric, never wild).
pub const TLDS: &[&str] = &["io", "com", "example", "org", "net"];

/// Pieces glued around `*` in in-label glob labels (ASCII, lowercase).
pub const GLOB_PARTS: &[&str] = &[
    "", "api", "api-", "-prod", "a", "v", "x", "_", "1", "kadath",
];

/// Small, linear-time regexes over the vocabularies, with sample names (matching and not).
pub const REGEXES: &[(&str, &[&str])] = &[
    (
        r"api[0-9]*\.kadath\.io",
        &[
            "api.kadath.io",
            "api42.kadath.io",
            "apix.kadath.io",
            "a.api.kadath.io",
        ],
    ),
    (
        r"ads[0-9]+\.example\.net",
        &[
            "ads1.example.net",
            "ads.example.net",
            "ads12.example.net.",
            "ADS7.Example.Net",
        ],
    ),
    (
        r"(www|api)\.stripe\.com",
        &[
            "www.stripe.com",
            "api.stripe.com",
            "cdn.stripe.com",
            "wwwapi.stripe.com",
        ],
    ),
    (
        r".*\.leng\.com",
        &["a.leng.com", "leng.com", "a.b.leng.com", "xleng.com"],
    ),
    (r"[a-z]+\.io", &["kadath.io", "a.b.io", "x-1.io", "io"]),
    (
        r"xn--.*",
        &[
            "xn--bcher-kva.example",
            "bücher.example",
            "api.xn--bcher-kva.io",
        ],
    ),
    (r".*", &["anything.at.all", "a"]),
    (r"a.*", &["a", "api.kadath.io", "b.a"]),
    (
        r"[^.]+\.kadath\.io",
        &[
            "a.kadath.io",
            "a.b.kadath.io",
            "kadath.io",
            "_dmarc.kadath.io",
        ],
    ),
    (r"kadath", &["kadath", "kadath.io"]),
    (
        r"(?:[a-z0-9-]+\.)?b\.(com|org)",
        &["b.com", "a.b.org", "a.a.b.com", "b.net"],
    ),
];

/// IPv4 networks that IP patterns are built in.
pub const NETS4: &[[u8; 4]] = &[
    [10, 0, 0, 0],
    [192, 0, 2, 0],
    [203, 0, 113, 0],
    [198, 51, 100, 0],
];

/// IPv6 networks that IP patterns are built in (the high 64 bits).
pub const NETS6: &[u64] = &[
    0x2001_0db8_0000_0000,
    0x2001_0db8_00aa_0001,
    0xfd00_0000_0000_0000,
];

/// Names that are always asked as well: invalid names and other edge cases.
pub const FIXED_PROBES: &[&[u8]] = &[
    b"",
    b".",
    b"a..b",
    b".kadath.io",
    b"kadath.io..",
    b"a b.io",
    b"1.2.3",
    b"a.123",
    b"127.1",
    b"0x7f.0.0.1",
    b"1.2.3.4.5",
    b"*.kadath.io",
    b"[1.2.3.4]",
    b"fe80::1%eth0",
    b"\xff.io",
    b"\xef\xbd\x81\xef\xbd\x90\xef\xbd\x89.kadath.io", // full-width "api"
    b"\xef\xbc\x91\xef\xbc\x99\xef\xbc\x92.0.2.1",     // full-width "192"
    b"API.KADATH.IO.",
    b"_dmarc.kadath.io",
    b"-.io",
    b"[::1]",
    b"::1",
    b"::ffff:192.0.2.7",
    b"8.8.8.8",
    b"2001:db8::1",
];

/// A whole policy file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct PolicyAst {
    /// The policies, in file order (rendered as `p0`, `p1`, …).
    pub policies: Vec<PolicyBlock>,
}

/// One policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct PolicyBlock {
    /// Whether it has a `policy` line. Only the first block may lack one (it is then the
    /// implicit `default` policy); later blocks are always named.
    pub named: bool,
    /// 0: no `precedence` line; 1 first-match, 2 most-specific, 3 deny-overrides (mod 4).
    pub precedence: u8,
    /// 0: no `default` line; 1 deny, 2 allow (mod 3).
    pub default: u8,
    /// The rules, in order.
    pub rules: Vec<RuleAst>,
}

/// One rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct RuleAst {
    /// `allow` when true, else `deny`.
    pub allow: bool,
    /// The pattern.
    pub pattern: PatternAst,
    /// Port items; empty = no `port` option.
    pub ports: Vec<PortAst>,
    /// Bit mask of sources (tls 1, http 2, connect 4, dns 8); 0 = no `via` option.
    pub via: u8,
    /// Whether the rule has an explicit (unique) `id`.
    pub id: bool,
    /// Order of the options and white space style (permutation = `layout % 6`, tabs when
    /// `layout & 8`, comment line above when `layout & 16`, trailing comment when `layout & 32`,
    /// blank line after when `layout & 64`, reversed via list when `layout & 128`).
    pub layout: u8,
}

/// One `port` item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortAst {
    /// A single port (0 renders as 1).
    Single(u16),
    /// An inclusive range (0 renders as 1; reversed bounds are swapped).
    Range(u16, u16),
}

/// A domain made of vocabulary labels plus a last label.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct DomainAst {
    /// Indices into [`LABELS`] (mod), left to right; at most 3 are used.
    pub labels: Vec<u8>,
    /// Index into [`TLDS`] (mod).
    pub tld: u8,
    /// Render upper case (exercises pattern normalization).
    pub upper: bool,
}

/// One label of an in-label glob head.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GlobLabelAst {
    /// `PRE*POST` (indices into [`GLOB_PARTS`], mod).
    Star(u8, u8),
    /// `PRE*MID*POST` (`MID` non-empty).
    TwoStars(u8, u8, u8),
    /// A literal label from [`LABELS`].
    Literal(u8),
}

/// An address inside one of the vocabulary networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct IpAst {
    /// IPv6 when true.
    pub v6: bool,
    /// Index into [`NETS4`] / [`NETS6`] (mod).
    pub net: u8,
    /// Low bits of the address (v4: the last two octets' worth, masked to the /24 or /16).
    pub host: u16,
}

/// A pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum PatternAst {
    /// `api.kadath.io`
    Exact(DomainAst),
    /// `*.kadath.io`
    OneLabel(DomainAst),
    /// `**.kadath.io`
    Deep(DomainAst),
    /// `.kadath.io`
    Dot(DomainAst),
    /// Glob head labels (at least one is made wild) then a literal domain.
    Glob(Vec<GlobLabelAst>, DomainAst),
    /// `*`
    #[default]
    Any,
    /// `~REGEX`, index into [`REGEXES`] (mod).
    Regex(u8),
    /// A single address.
    Ip(IpAst),
    /// A CIDR; the prefix is taken mod 33 (v4) or mod 129 (v6) and host bits are cleared. A v4
    /// CIDR whose raw prefix is 200 or more is written in IPv4-mapped IPv6 form
    /// (`::ffff:a.b.c.d/N+96`).
    Cidr(IpAst, u8),
}

fn pick<'a>(v: &[&'a str], i: u8) -> &'a str {
    v[usize::from(i) % v.len()]
}

impl DomainAst {
    /// The domain as written in the pattern (may be upper case, may hold Unicode).
    pub fn render(&self) -> String {
        let mut s = String::new();
        for &l in self.labels.iter().take(3) {
            s.push_str(pick(LABELS, l));
            s.push('.');
        }
        s.push_str(pick(TLDS, self.tld));
        if self.upper {
            s.to_uppercase()
        } else {
            s
        }
    }

    /// The domain in lower case, as written otherwise.
    fn lower(&self) -> String {
        DomainAst {
            upper: false,
            ..self.clone()
        }
        .render()
    }
}

impl GlobLabelAst {
    fn render(self) -> String {
        match self {
            GlobLabelAst::Star(a, b) => format!("{}*{}", pick(GLOB_PARTS, a), pick(GLOB_PARTS, b)),
            GlobLabelAst::TwoStars(a, m, b) => {
                let mid = pick(&GLOB_PARTS[1..], m);
                format!("{}*{mid}*{}", pick(GLOB_PARTS, a), pick(GLOB_PARTS, b))
            }
            GlobLabelAst::Literal(l) => pick(LABELS, l).to_owned(),
        }
    }

    fn is_wild(self) -> bool {
        !matches!(self, GlobLabelAst::Literal(_))
    }
}

impl IpAst {
    /// The address.
    pub fn addr(self) -> IpAddr {
        if self.v6 {
            let hi = NETS6[usize::from(self.net) % NETS6.len()];
            IpAddr::V6(Ipv6Addr::from(
                (u128::from(hi) << 64) | u128::from(self.host),
            ))
        } else {
            let n = NETS4[usize::from(self.net) % NETS4.len()];
            let base = u32::from(Ipv4Addr::from(n));
            // 10/8 nets get the full 16 bits, the /24 documentation nets the low byte.
            let host = if n[0] == 10 {
                u32::from(self.host)
            } else {
                u32::from(self.host & 0xff)
            };
            IpAddr::V4(Ipv4Addr::from(base | host))
        }
    }
}

/// The prefix actually rendered for a CIDR pattern.
fn cidr_prefix(ip: IpAst, prefix: u8) -> u8 {
    if ip.v6 {
        prefix % 129
    } else {
        prefix % 33
    }
}

/// The network address with host bits cleared.
fn masked(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

impl PatternAst {
    /// The pattern text.
    pub fn render(&self) -> String {
        match self {
            PatternAst::Exact(d) => d.render(),
            PatternAst::OneLabel(d) => format!("*.{}", d.render()),
            PatternAst::Deep(d) => format!("**.{}", d.render()),
            PatternAst::Dot(d) => format!(".{}", d.render()),
            PatternAst::Glob(head, d) => {
                let mut labels: Vec<GlobLabelAst> = head.iter().copied().take(3).collect();
                if !labels.iter().any(|l| l.is_wild()) {
                    labels.insert(0, GlobLabelAst::Star(0, 0));
                }
                let mut s = String::new();
                for l in labels {
                    s.push_str(&l.render());
                    s.push('.');
                }
                s.push_str(&d.render());
                s
            }
            PatternAst::Any => "*".to_owned(),
            PatternAst::Regex(i) => format!("~{}", REGEXES[usize::from(*i) % REGEXES.len()].0),
            PatternAst::Ip(ip) => ip.addr().to_string(),
            PatternAst::Cidr(ip, p) => {
                let prefix = cidr_prefix(*ip, *p);
                let net = masked(ip.addr(), prefix);
                match net {
                    // v4 with a raw prefix >= 200: the IPv4-mapped IPv6 spelling.
                    IpAddr::V4(v4) if *p >= 200 => format!("::ffff:{v4}/{}", prefix + 96),
                    _ => format!("{net}/{prefix}"),
                }
            }
        }
    }

    /// Query names near this pattern: matches and near misses.
    pub fn probes(&self, out: &mut Vec<Vec<u8>>) {
        let mut push = |s: String| out.push(s.into_bytes());
        let domain_probes = |d: &DomainAst, push: &mut dyn FnMut(String)| {
            let base = d.lower();
            push(base.clone());
            push(format!("a.{base}"));
            push(format!("a.b.{base}"));
            push(format!("x{base}"));
            push(format!("{base}."));
            push(base.to_uppercase());
            push(format!("Www.{}.", base.to_uppercase()));
            if let Some(rest) = base.split_once('.').map(|(_, r)| r) {
                push(rest.to_owned());
                push(format!("api.{rest}"));
            }
            if base.contains("bücher") {
                push(base.replace("bücher", "xn--bcher-kva"));
            }
            if base.contains("xn--bcher-kva") {
                push(format!("a.{}", base.replace("xn--bcher-kva", "BÜCHER")));
            }
        };
        match self {
            PatternAst::Exact(d)
            | PatternAst::OneLabel(d)
            | PatternAst::Deep(d)
            | PatternAst::Dot(d) => domain_probes(d, &mut push),
            PatternAst::Glob(..) => {
                let text = self.render().to_lowercase();
                for fill in ["", "v2", "a-b", "api-", "-prod"] {
                    let name = text.replace('*', fill);
                    push(format!("a.{name}"));
                    if let Some((_, rest)) = name.split_once('.') {
                        push(rest.to_owned());
                    }
                    push(name);
                }
                push(text.replacen('*', "api", 1).replace('*', ""));
            }
            PatternAst::Any => push("any.thing.example".to_owned()),
            PatternAst::Regex(i) => {
                for s in REGEXES[usize::from(*i) % REGEXES.len()].1 {
                    push((*s).to_owned());
                }
            }
            PatternAst::Ip(ip) | PatternAst::Cidr(ip, _) => {
                let prefix = match self {
                    PatternAst::Cidr(_, p) => cidr_prefix(*ip, *p),
                    _ => {
                        if ip.v6 {
                            128
                        } else {
                            32
                        }
                    }
                };
                let addr = ip.addr();
                let net = masked(addr, prefix);
                let mut addrs = vec![addr, net];
                match net {
                    IpAddr::V4(n) => {
                        let n = u32::from(n);
                        let size = 1u64 << (32 - u32::from(prefix));
                        let last = (u64::from(n) + size - 1) as u32;
                        addrs.push(IpAddr::V4(last.into()));
                        addrs.push(IpAddr::V4(last.wrapping_add(1).into()));
                        addrs.push(IpAddr::V4(n.wrapping_sub(1).into()));
                        addrs.push(IpAddr::V4(
                            (u32::from_be_bytes([addr_v4(addr)[0], 0, 0, 0]) ^ 0x0001_0000).into(),
                        ));
                    }
                    IpAddr::V6(n) => {
                        let n = u128::from(n);
                        let size_m1 = u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
                        let last = n | size_m1;
                        addrs.push(IpAddr::V6(last.into()));
                        addrs.push(IpAddr::V6(last.wrapping_add(1).into()));
                        addrs.push(IpAddr::V6(n.wrapping_sub(1).into()));
                    }
                }
                for a in addrs {
                    match a {
                        IpAddr::V4(v4) => {
                            push(v4.to_string());
                            push(format!("{v4}."));
                            push(format!("::ffff:{v4}"));
                        }
                        IpAddr::V6(v6) => {
                            push(v6.to_string());
                            push(format!("[{v6}]"));
                            push(v6.to_string().to_uppercase());
                        }
                    }
                }
            }
        }
    }
}

fn addr_v4(a: IpAddr) -> [u8; 4] {
    match a {
        IpAddr::V4(v) => v.octets(),
        IpAddr::V6(_) => [0; 4],
    }
}

impl PortAst {
    fn bounds(self) -> (u16, u16) {
        match self {
            PortAst::Single(p) => (p.max(1), p.max(1)),
            PortAst::Range(a, b) => {
                let (a, b) = (a.max(1), b.max(1));
                (a.min(b), a.max(b))
            }
        }
    }
}

const VIA_NAMES: [&str; 4] = ["tls", "http", "connect", "dns"];

impl RuleAst {
    fn render(&self, out: &mut String, policy_index: usize, rule_index: usize) {
        let sp = if self.layout & 8 != 0 { "\t " } else { " " };
        if self.layout & 16 != 0 {
            out.push_str("# a comment line\n");
        }
        let mut opts: Vec<String> = Vec::new();
        if !self.ports.is_empty() {
            let items: Vec<String> = self
                .ports
                .iter()
                .take(4)
                .map(|p| match *p {
                    PortAst::Single(_) => p.bounds().0.to_string(),
                    PortAst::Range(..) => {
                        let (a, b) = p.bounds();
                        format!("{a}-{b}")
                    }
                })
                .collect();
            opts.push(format!("port{sp}{}", items.join(",")));
        }
        let via = self.via & 0xf;
        if via != 0 {
            let mut items: Vec<&str> = (0..4)
                .filter(|b| via & (1 << b) != 0)
                .map(|b| VIA_NAMES[b])
                .collect();
            if self.layout & 128 != 0 {
                items.reverse();
            }
            opts.push(format!("via{sp}{}", items.join(",")));
        }
        if self.id {
            opts.push(format!("id{sp}r{policy_index}-{rule_index}"));
        }
        // Permute the options by `layout % 6`.
        let k = usize::from(self.layout % 6);
        if opts.len() > 1 {
            let n = opts.len();
            opts.rotate_left(k % n);
            if k >= 3 {
                opts.reverse();
            }
        }
        out.push_str(if self.allow { "allow" } else { "deny" });
        out.push_str(sp);
        out.push_str(&self.pattern.render());
        for o in opts {
            out.push_str(sp);
            out.push_str(&o);
        }
        if self.layout & 32 != 0 {
            out.push_str("   # trailing comment");
        }
        out.push('\n');
        if self.layout & 64 != 0 {
            out.push('\n');
        }
    }
}

impl PolicyAst {
    /// The policy name of block `i` (`default` for an unnamed first block).
    pub fn policy_name(&self, i: usize) -> String {
        if i == 0 && !self.policies.first().is_some_and(|b| b.named) {
            "default".to_owned()
        } else {
            format!("p{i}")
        }
    }

    /// The policy text.
    pub fn render(&self) -> String {
        let mut out = String::from("# generated policy\n");
        for (i, b) in self.policies.iter().enumerate() {
            let name = self.policy_name(i);
            if name != "default" {
                let _ = writeln!(out, "policy {name}");
            }
            match b.precedence % 4 {
                1 => out.push_str("precedence first-match\n"),
                2 => out.push_str("precedence most-specific\n"),
                3 => out.push_str("precedence deny-overrides\n"),
                _ => {}
            }
            match b.default % 3 {
                1 => out.push_str("default deny\n"),
                2 => out.push_str("  default allow   # comment\n"),
                _ => {}
            }
            for (j, r) in b.rules.iter().enumerate() {
                r.render(&mut out, i, j);
            }
        }
        out
    }

    /// Query names worth asking: near every pattern, plus [`FIXED_PROBES`]. Deduplicated.
    pub fn probe_names(&self) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = FIXED_PROBES.iter().map(|s| s.to_vec()).collect();
        for b in &self.policies {
            for r in &b.rules {
                r.pattern.probes(&mut out);
            }
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|n| seen.insert(n.clone()));
        out
    }

    /// Ports worth asking: each rule range's bounds and their neighbours, plus 80 and 443.
    pub fn probe_ports(&self) -> Vec<u16> {
        let mut out = vec![80, 443];
        for b in &self.policies {
            for r in &b.rules {
                for p in r.ports.iter().take(4) {
                    let (a, z) = p.bounds();
                    out.extend([a, z, a.saturating_sub(1).max(1), z.saturating_add(1)]);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Builds an AST from arbitrary bytes (for fuzz targets): every input gives a valid policy.
    pub fn from_bytes(data: &[u8]) -> PolicyAst {
        let mut r = Bytes(data);
        let n = 1 + usize::from(r.u8() % 4);
        let policies = (0..n)
            .map(|_| PolicyBlock {
                named: r.u8() & 1 == 1,
                precedence: r.u8(),
                default: r.u8(),
                rules: (0..r.u8() % 9)
                    .map(|_| RuleAst::from_reader(&mut r))
                    .collect(),
            })
            .collect();
        PolicyAst { policies }
    }
}

/// A byte cursor that yields zeros once exhausted.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn domain(&mut self) -> DomainAst {
        let flags = self.u8();
        DomainAst {
            labels: (0..flags % 4).map(|_| self.u8()).collect(),
            tld: self.u8(),
            upper: flags & 0x80 != 0,
        }
    }
    fn ip(&mut self) -> IpAst {
        let f = self.u8();
        IpAst {
            v6: f & 1 == 1,
            net: f >> 1,
            host: self.u16(),
        }
    }
}

impl RuleAst {
    fn from_reader(r: &mut Bytes<'_>) -> RuleAst {
        let flags = r.u8();
        let pattern = match r.u8() % 9 {
            0 => PatternAst::Exact(r.domain()),
            1 => PatternAst::OneLabel(r.domain()),
            2 => PatternAst::Deep(r.domain()),
            3 => PatternAst::Dot(r.domain()),
            4 => {
                let head = (0..1 + r.u8() % 3)
                    .map(|_| match r.u8() % 3 {
                        0 => GlobLabelAst::Star(r.u8(), r.u8()),
                        1 => GlobLabelAst::TwoStars(r.u8(), r.u8(), r.u8()),
                        _ => GlobLabelAst::Literal(r.u8()),
                    })
                    .collect();
                PatternAst::Glob(head, r.domain())
            }
            5 => PatternAst::Any,
            6 => PatternAst::Regex(r.u8()),
            7 => PatternAst::Ip(r.ip()),
            _ => PatternAst::Cidr(r.ip(), r.u8()),
        };
        let ports = (0..r.u8() % 3)
            .map(|_| {
                if r.u8() & 1 == 0 {
                    PortAst::Single(r.u16())
                } else {
                    PortAst::Range(r.u16(), r.u16())
                }
            })
            .collect();
        RuleAst {
            allow: flags & 1 == 1,
            pattern,
            ports,
            via: r.u8(),
            id: flags & 2 != 0,
            layout: r.u8(),
        }
    }
}
