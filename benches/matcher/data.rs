//! The rule sets and query streams: a real domain list (`benches/data/fetch.sh`) or, without
//! it, a synthetic one; exact, suffix and wildcard rules, in-label globs and CIDRs in the
//! proportions of a real allow list; a query stream of half hits and half misses. Everything is drawn from fixed seeds,
//! so each run measures the same rules and queries.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hostgate::NameKind;

/// Deterministic pseudo-random numbers (SplitMix64): the same rules and queries on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }

    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            xs.swap(i, self.below(i + 1));
        }
    }
}

/// Labels that real services put in front of a registered domain.
const SUB_LABELS: &[&str] = &[
    "www",
    "api",
    "mail",
    "smtp",
    "imap",
    "mx",
    "cdn",
    "static",
    "img",
    "images",
    "assets",
    "media",
    "app",
    "apps",
    "auth",
    "login",
    "sso",
    "id",
    "accounts",
    "m",
    "mobile",
    "dev",
    "staging",
    "test",
    "beta",
    "eu",
    "us",
    "us-east-1",
    "eu-west-1",
    "ap-south-1",
    "s3",
    "storage",
    "edge",
    "gw",
    "gateway",
    "proxy",
    "vpn",
    "docs",
    "status",
    "blog",
    "shop",
    "store",
    "pay",
    "checkout",
    "billing",
    "metrics",
    "grafana",
    "logs",
    "k8s",
    "registry",
    "git",
    "ci",
    "hooks",
    "ws",
    "push",
    "notify",
    "track",
    "ads",
    "analytics",
    "telemetry",
    "v1",
    "v2",
    "graph",
    "files",
    "download",
    "update",
    "updates",
    "sync",
    "chat",
    "video",
    "stream",
    "live",
    "search",
    "news",
    "support",
    "help",
    "portal",
    "admin",
    "dashboard",
    "internal",
    "corp",
    "prod",
    "origin",
    "lb",
    "node1",
    "node2",
    "db",
    "cache",
    "queue",
    "web",
    "secure",
    "my",
];

/// In-label glob shapes, as (text before `*`, text after `*`).
const GLOBS: &[(&str, &str)] = &[
    ("api-", ""),
    ("cdn", ""),
    ("edge-", "-eu"),
    ("node", ""),
    ("ws-", ""),
    ("img", ""),
    ("build-", ""),
    ("mail", ""),
    ("web-", "-prod"),
    ("", "-prod"),
    ("", "-staging"),
    ("s3-", ""),
];

/// What a glob's `*` stands for in generated hits (including the empty string).
const GLOB_FILL: &[&str] = &["", "1", "v2", "eu", "a7f3", "blue", "02", "west-1", "x"];

const SYLLABLES: &[&str] = &[
    "ka", "da", "th", "mo", "ri", "zen", "lo", "pa", "xi", "tor", "mel", "vin", "qua", "sol",
    "ber", "nic", "fa", "go", "hu", "je", "ly", "mi", "no", "pe", "ru", "sa", "te", "vo", "wa",
    "ze", "mail", "box", "temp", "trash", "net", "web", "on", "ex",
];

const TLDS: &[&str] = &[
    "com", "com", "com", "com", "com", "com", "net", "net", "org", "ru", "de", "xyz", "info", "io",
    "tk", "ml", "pl", "co.uk", "com.br", "usa.cc", "cf", "ga", "fr", "site", "online",
];

/// A valid host name as hostgate sees it, already in normal form.
pub fn valid_name(s: &str) -> bool {
    s.len() <= 253
        && matches!(hostgate::normalize(s), Ok(n) if n.kind() == NameKind::Name && n.as_str() == s)
}

fn data_file() -> PathBuf {
    match std::env::var_os("HOSTGATE_BENCH_DOMAINS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/disposable-domains.txt"),
    }
}

/// The base domain list, shuffled with a fixed seed, and where it came from.
pub fn base_names() -> (Vec<String>, String) {
    let path = data_file();
    let mut rng = Rng(0x686f_7374_6761_7465);
    let (mut names, source) = match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut seen = HashSet::new();
            let names: Vec<String> = text
                .lines()
                .map(str::trim)
                // Room for two prepended labels; at least two labels (a registered domain).
                .filter(|l| l.len() <= 200 && l.contains('.') && valid_name(l))
                .filter(|l| seen.insert(*l))
                .map(str::to_owned)
                .collect();
            let source = format!("{} real names from {}", names.len(), path.display());
            (names, source)
        }
        Err(_) => (
            synthetic_names(160_000, &mut rng),
            format!(
                "160000 synthetic names ({} not found: run benches/data/fetch.sh for the real list)",
                path.display()
            ),
        ),
    };
    assert!(names.len() >= 10_000, "too few base names: {source}");
    rng.shuffle(&mut names);
    (names, source)
}

fn synthetic_names(n: usize, rng: &mut Rng) -> Vec<String> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let mut s = String::new();
        for _ in 0..2 + rng.below(3) {
            s.push_str(rng.pick::<&str>(SYLLABLES));
        }
        match rng.below(10) {
            0 => {
                s.push('-');
                s.push_str(rng.pick::<&str>(SYLLABLES));
                s.push_str(rng.pick::<&str>(SYLLABLES));
            }
            1 => {
                let _ = write!(s, "{}", rng.below(1000));
            }
            _ => {}
        }
        s.push('.');
        s.push_str(rng.pick::<&str>(TLDS));
        if seen.insert(s.clone()) {
            out.push(s);
        }
    }
    out
}

/// A label to put in front of a name: a service label, or a hash-like token.
fn sub_label(rng: &mut Rng) -> String {
    if rng.pct(85) {
        (*rng.pick(SUB_LABELS)).to_owned()
    } else {
        let len = 6 + rng.below(7);
        (0..len)
            .map(|_| b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.below(36)] as char)
            .collect()
    }
}

fn prepend(rng: &mut Rng, name: &str, labels: usize) -> String {
    let mut s = String::with_capacity(name.len() + 24);
    for _ in 0..labels {
        s.push_str(&sub_label(rng));
        s.push('.');
    }
    s.push_str(name);
    s
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `x`
    Exact,
    /// `.x`: apex and any depth.
    Dot,
    /// `*.x`: one label.
    One,
    /// `**.x`: one or more labels.
    Deep,
    /// `PRE*SUF.x`: one label matching the glob.
    Glob { pre: String, suf: String },
    /// An IPv4/IPv6 CIDR (never matches a name).
    Cidr,
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub kind: Kind,
    /// The literal suffix (the whole name for `Exact`; the text for `Cidr`).
    pub base: String,
    /// The pattern as written in the policy.
    pub text: String,
}

impl Rule {
    fn new(kind: Kind, base: String) -> Rule {
        let text = match &kind {
            Kind::Exact | Kind::Cidr => base.clone(),
            Kind::Dot => format!(".{base}"),
            Kind::One => format!("*.{base}"),
            Kind::Deep => format!("**.{base}"),
            Kind::Glob { pre, suf } => format!("{pre}*{suf}.{base}"),
        };
        Rule { kind, base, text }
    }
}

/// `n` distinct rules in shuffled file order: mostly exact names and suffix rules, 0.3 % in-label
/// globs (631 of 211k in a real list), 0.1 % CIDRs.
pub fn make_rules(n: usize, sources: &[String], rng: &mut Rng) -> Vec<Rule> {
    let globs = (n * 3 / 1000).max(5);
    let cidrs = (n / 1000).max(5);
    let names = n - globs - cidrs;
    let mut seen: HashSet<String> = HashSet::with_capacity(n);
    let mut rules = Vec::with_capacity(n);
    let mut push = |rules: &mut Vec<Rule>, r: Rule| {
        if seen.insert(r.text.clone()) {
            rules.push(r);
        }
    };

    // Name rules: first one per real domain; past the list, names under those domains
    // (`api.x`, `*.cdn.x`, `.eu.static.x`…), as real lists have many services per domain.
    let mut i = 0usize;
    while rules.len() < names {
        let src = &sources[i % sources.len()];
        let base = if i < sources.len() {
            src.clone()
        } else {
            let labels = 1 + usize::from(rng.pct(20));
            prepend(rng, src, labels)
        };
        i += 1;
        let kind = match rng.below(100) {
            0..=57 => Kind::Exact,
            58..=71 => Kind::Dot,
            72..=85 => Kind::Deep,
            _ => Kind::One,
        };
        push(&mut rules, Rule::new(kind, base));
    }
    while rules.len() < names + globs {
        let src = &sources[rng.below(sources.len().min(n))];
        let base = if rng.pct(70) {
            src.clone()
        } else {
            prepend(rng, src, 1)
        };
        let (pre, suf) = *rng.pick(GLOBS);
        let kind = Kind::Glob {
            pre: pre.to_owned(),
            suf: suf.to_owned(),
        };
        push(&mut rules, Rule::new(kind, base));
    }
    while rules.len() < n {
        let text = if rng.pct(80) {
            let len = 16 + rng.below(17) as u32;
            let bits = (rng.next() as u32) & (u32::MAX << (32 - len));
            let ip = std::net::Ipv4Addr::from(bits);
            format!("{ip}/{len}")
        } else {
            format!(
                "2a0{}:{:x}:{:x}::/48",
                rng.below(10),
                rng.below(0xffff) + 1,
                rng.below(0x10000)
            )
        };
        push(&mut rules, Rule::new(Kind::Cidr, text));
    }
    rng.shuffle(&mut rules);
    rules
}

pub fn policy_text(rules: &[Rule]) -> String {
    let mut text = String::with_capacity(rules.len() * 32 + 16);
    text.push_str("default deny\n");
    for r in rules {
        text.push_str("allow ");
        text.push_str(&r.text);
        text.push('\n');
    }
    text
}

/// Query names packed in one buffer, in stream order (read sequentially, like packets).
pub struct Stream {
    pub buf: Vec<u8>,
    /// (offset, length) of each name in `buf`.
    pub spans: Vec<(u32, u32)>,
}

impl Stream {
    fn new() -> Stream {
        Stream {
            buf: Vec::new(),
            spans: Vec::new(),
        }
    }

    fn push(&mut self, name: &[u8]) {
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(name);
        self.spans.push((start, name.len() as u32));
    }

    #[inline(always)]
    pub fn get(&self, i: usize) -> &[u8] {
        let (s, l) = self.spans[i];
        &self.buf[s as usize..(s + l) as usize]
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn prefix(&self, n: usize) -> Stream {
        let mut s = Stream::new();
        for i in 0..n.min(self.len()) {
            s.push(self.get(i));
        }
        s
    }
}

/// A hit for rule `r`: the name with the labels its kind accepts (0–2).
fn hit_for(r: &Rule, rng: &mut Rng) -> String {
    match &r.kind {
        Kind::Exact => r.base.clone(),
        Kind::Dot => {
            let labels = rng.below(3);
            prepend(rng, &r.base, labels)
        }
        Kind::Deep => {
            let labels = 1 + rng.below(2);
            prepend(rng, &r.base, labels)
        }
        Kind::One => prepend(rng, &r.base, 1),
        Kind::Glob { pre, suf } => format!("{pre}{}{suf}.{}", rng.pick(GLOB_FILL), r.base),
        Kind::Cidr => unreachable!("CIDR rules are not used for name queries"),
    }
}

/// A near miss for rule `r`: the shape one label off (may still hit another rule).
fn near_miss_for(r: &Rule, rng: &mut Rng) -> String {
    match &r.kind {
        Kind::Exact => prepend(rng, &r.base, 1),
        Kind::One => prepend(rng, &r.base, 2),
        Kind::Deep => r.base.clone(),
        Kind::Dot => format!("x{}", r.base),
        Kind::Glob { .. } => prepend(rng, &r.base, 1),
        Kind::Cidr => unreachable!("CIDR rules are not used for name queries"),
    }
}

/// `count` queries: half hits (a random name rule, per its kind), half misses (75 % names under
/// held-out real domains with 0–2 labels, 25 % near misses of rules).
pub fn make_queries(rules: &[Rule], holdout: &[String], count: usize, rng: &mut Rng) -> Stream {
    let name_rules: Vec<&Rule> = rules.iter().filter(|r| r.kind != Kind::Cidr).collect();
    let mut s = Stream::new();
    s.buf.reserve(count * 24);
    s.spans.reserve(count);
    while s.len() < count {
        let q = if rng.pct(50) {
            {
                let r: &Rule = rng.pick::<&Rule>(&name_rules);
                hit_for(r, rng)
            }
        } else if rng.pct(75) {
            let labels = rng.below(3);
            let domain = rng.pick(holdout).clone();
            prepend(rng, &domain, labels)
        } else {
            let r: &Rule = rng.pick::<&Rule>(&name_rules);
            near_miss_for(r, rng)
        };
        if valid_name(&q) {
            s.push(q.as_bytes());
        }
    }
    s
}

/// How many rules of each kind `rules` holds, for the log.
pub fn kind_counts(rules: &[Rule]) -> String {
    let count = |f: fn(&Kind) -> bool| rules.iter().filter(|r| f(&r.kind)).count();
    format!(
        "{} rules: {} exact, {} .x, {} **.x, {} *.x, {} in-label globs, {} CIDRs",
        rules.len(),
        count(|k| *k == Kind::Exact),
        count(|k| *k == Kind::Dot),
        count(|k| *k == Kind::Deep),
        count(|k| *k == Kind::One),
        count(|k| matches!(k, Kind::Glob { .. })),
        count(|k| *k == Kind::Cidr),
    )
}

/// Writes one size's policy (`DIR/LABEL.policy`) and query stream (`DIR/LABEL.queries`, one
/// name per line), for profiling outside criterion (callgrind, perf) on exactly what the bench
/// looks up; `examples/lookup_loop.rs` reads them.
pub fn dump(dir: &Path, label: &str, rules: &[Rule], queries: &Stream) {
    std::fs::create_dir_all(dir).expect("create dump dir");
    std::fs::write(dir.join(format!("{label}.policy")), policy_text(rules)).expect("write policy");
    let names: Vec<&[u8]> = (0..queries.len()).map(|i| queries.get(i)).collect();
    std::fs::write(dir.join(format!("{label}.queries")), names.join(&b'\n'))
        .expect("write queries");
}
