//! `diff` against brute force: random pairs of policies (every host pattern kind, regexes, IP
//! prefixes, ports, sources, the three precedence modes, both defaults) are compared over a bounded
//! universe of queries built here, independently of how `diff` searches: every name of up to
//! four labels drawn from a label set that realizes every combination of the generator's
//! literal labels and globs, every port at a boundary of the generator's ranges, every source
//! class, and IPs at and around the generator's prefixes. `diff` must report a disagreement
//! region exactly when brute force finds one, every region brute force finds, and only
//! witnesses that really disagree.
//!
//! 32 cases by default (brute force asks ~1M queries a case); `PROPTEST_CASES=N` raises it.

use std::collections::{BTreeMap, BTreeSet};

use hostgate::{diff, DiffOptions, Engine, Query, Reason, Via};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Literal labels the generator uses.
const LITS: &[&str] = &["a", "b", "ab", "aab", "c"];
/// In-label globs the generator uses.
const GLOBS: &[&str] = &["a*", "*b", "a*b", "*"];
/// Suffixes of `*.`, `**.`, `.` and glob patterns.
const SUFFIXES: &[&str] = &["a", "b", "b.a", "ab.a"];
/// Exact names.
const EXACT: &[&str] = &["a", "b", "b.a", "ab.b.a", "aab.a", "c.b.a"];
/// Regexes, written so that the names they tell apart are told apart by the universe's labels
/// too (first and last characters, letters only from `a` and `b`, and `c`/`aa` as whole labels).
const REGEXES: &[&str] = &[r"~a[ab]*\.a", r"~[ab]*b\.b\.a", r"~(c|aa)\..*"];
/// IP patterns.
const IPS: &[&str] = &["192.0.2.0/24", "192.0.2.7", "2001:db8::/32", "0.0.0.0/0"];

/// The brute-force label set: for each way a label can relate to `LITS` and `GLOBS` (equal to a
/// literal or not; which globs accept), at least one member. Classes, written out: `ba`
/// (nothing); `aa` (`a*` only); `bb` (`*b` only); `abb` (`a*`, `*b`, `a*b`, not a literal);
/// the literals themselves; and for the regexes, `aba` (`a*` and the first regex only) and `ac`,
/// `cb`, `acb` (the globs' classes with a letter no regex takes).
const UNIVERSE_LABELS: &[&str] = &[
    "a", "b", "ab", "aab", "c", "aa", "bb", "abb", "ba", "aba", "ac", "cb", "acb",
];
/// Ports at and around each boundary of the generator's ranges (443, 8000-8999).
const UNIVERSE_PORTS: &[Option<u16>] = &[
    None,
    Some(442),
    Some(443),
    Some(444),
    Some(7999),
    Some(8000),
    Some(8999),
    Some(9000),
];
/// Unknown, the two sources rules name, and one standing for every other.
const UNIVERSE_VIAS: &[Option<Via>] = &[None, Some(Via::Tls), Some(Via::Dns), Some(Via::Http)];
/// IPs at and around the generator's prefixes.
const UNIVERSE_IPS: &[&str] = &[
    "192.0.1.255",
    "192.0.2.0",
    "192.0.2.6",
    "192.0.2.7",
    "192.0.2.8",
    "192.0.2.255",
    "192.0.3.0",
    "203.0.113.1",
    "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
    "2001:db8::",
    "2001:db8::1",
    "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
    "2001:db9::",
];

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    Config {
        cases,
        max_shrink_iters: 512,
        ..Config::default()
    }
}

fn pattern() -> impl Strategy<Value = String> {
    let pick = |xs: &'static [&'static str]| (0..xs.len()).prop_map(move |i| xs[i].to_string());
    prop_oneof![
        3 => pick(EXACT),
        2 => pick(SUFFIXES).prop_map(|s| format!("*.{s}")),
        2 => pick(SUFFIXES).prop_map(|s| format!("**.{s}")),
        2 => pick(SUFFIXES).prop_map(|s| format!(".{s}")),
        2 => (pick(GLOBS), pick(SUFFIXES)).prop_map(|(g, s)| if g == "*" {
            format!("a.*.{s}") // a lone `*` head label needs a literal left of it
        } else {
            format!("{g}.{s}")
        }),
        1 => Just("*".to_string()),
        1 => pick(IPS),
        1 => pick(REGEXES),
    ]
}

fn rule() -> impl Strategy<Value = String> {
    (
        prop::bool::ANY,
        pattern(),
        prop_oneof![3 => Just(""), 1 => Just(" port 443"), 1 => Just(" port 8000-8999")],
        prop_oneof![3 => Just(""), 1 => Just(" via tls"), 1 => Just(" via dns,tls")],
    )
        .prop_map(|(allow, p, port, via)| {
            format!("{} {p}{port}{via}", if allow { "allow" } else { "deny" })
        })
}

fn policy() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("first-match"),
            Just("most-specific"),
            Just("deny-overrides")
        ],
        prop::bool::ANY,
        prop::collection::vec(rule(), 0..6),
    )
        .prop_map(|(prec, allow, rules)| {
            let mut t = format!(
                "precedence {prec}\ndefault {}\n",
                if allow { "allow" } else { "deny" }
            );
            for r in rules {
                t.push_str(&r);
                t.push('\n');
            }
            t
        })
}

/// Every name of one to four labels over `UNIVERSE_LABELS`, then the IPs.
fn universe_names() -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut layer: Vec<String> = UNIVERSE_LABELS.iter().map(|l| l.to_string()).collect();
    for _ in 0..4 {
        names.extend(layer.iter().cloned());
        layer = layer
            .iter()
            .flat_map(|n| UNIVERSE_LABELS.iter().map(move |l| format!("{l}.{n}")))
            .collect();
    }
    names.extend(UNIVERSE_IPS.iter().map(|s| s.to_string()));
    names
}

type Region = (Option<u32>, Reason, Option<u32>, Reason);

/// Every region where the two engines' actions differ, by asking every query of the universe.
fn brute_force(a: &Engine, b: &Engine, names: &[String]) -> BTreeMap<String, Region> {
    let (pa, pb) = (a.default_policy(), b.default_policy());
    let mut regions = BTreeMap::new();
    for name in names {
        for &port in UNIVERSE_PORTS {
            for &via in UNIVERSE_VIAS {
                let mut q = Query::new(name.as_str());
                q.port = port;
                q.via = via;
                let (l, r) = (a.check(pa, &q), b.check(pb, &q));
                if l.action != r.action {
                    let region = (
                        l.rule.map(|m| m.index()),
                        l.reason,
                        r.rule.map(|m| m.index()),
                        r.reason,
                    );
                    regions
                        .entry(format!("{region:?}"))
                        .or_insert((region, format!("{name} {port:?} {via:?}")));
                }
            }
        }
    }
    regions.into_iter().map(|(k, (r, _))| (k, r)).collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn diff_finds_exactly_the_regions_brute_force_finds(left in policy(), right in policy()) {
        let a = Engine::compile(&left).expect("left compiles");
        let b = Engine::compile(&right).expect("right compiles");
        let d = diff((&a, a.default_policy()), (&b, b.default_policy()), &DiffOptions::default().limit(usize::MAX));
        prop_assert!(d.complete, "the search must be complete: {:?}", d.incomplete);
        // Every witness really disagrees, and re-checking gives the verdicts reported.
        for w in &d.witnesses {
            let mut q = Query::new(w.name.as_str());
            q.port = w.port;
            q.via = w.via;
            let (l, r) = (a.check(a.default_policy(), &q), b.check(b.default_policy(), &q));
            prop_assert_ne!(l.action, r.action, "witness {} {:?} {:?}", w.name, w.port, w.via);
            prop_assert_eq!(l, w.left);
            prop_assert_eq!(r, w.right);
        }
        let found: BTreeSet<String> = d
            .witnesses
            .iter()
            .map(|w| format!("{:?}", (w.left.rule.map(|m| m.index()), w.left.reason, w.right.rule.map(|m| m.index()), w.right.reason)))
            .collect();
        prop_assert_eq!(found.len(), d.regions, "one witness per region");
        let brute = brute_force(&a, &b, &universe_names());
        let brute_keys: BTreeSet<String> = brute.keys().cloned().collect();
        prop_assert_eq!(
            &brute_keys, &found,
            "\nleft:\n{}\nright:\n{}", left, right
        );
    }
}

#[test]
fn the_universe_labels_realize_every_class() {
    // The brute-force universe is only as good as its labels: check the claim in its doc by
    // enumerating every label of up to four characters over the letters the globs name plus one
    // other, and recording each class seen.
    let class = |l: &str| -> (Option<&str>, Vec<bool>, [bool; 3]) {
        let lit = LITS.iter().copied().find(|x| *x == l);
        let globs = GLOBS
            .iter()
            .map(|g| {
                let parts: Vec<&str> = g.split('*').collect();
                let (first, last) = (parts[0], parts[parts.len() - 1]);
                parts.len() == 1 && l == *g
                    || parts.len() > 1
                        && l.len() >= first.len() + last.len()
                        && l.starts_with(first)
                        && l.ends_with(last)
            })
            .collect();
        // What `REGEXES` ask of a label at their label positions, written out.
        let ab = l.bytes().all(|c| c == b'a' || c == b'b');
        let regexes = [
            ab && l.starts_with('a'),
            ab && l.ends_with('b'),
            l == "c" || l == "aa",
        ];
        (lit, globs, regexes)
    };
    let mut all = BTreeSet::new();
    let mut layer = vec![String::new()];
    for _ in 0..4 {
        layer = layer
            .iter()
            .flat_map(|p| ["a", "b", "c"].map(|c| format!("{p}{c}")))
            .collect();
        all.extend(layer.iter().map(|l| class(l)));
    }
    let covered: BTreeSet<_> = UNIVERSE_LABELS.iter().map(|l| class(l)).collect();
    assert_eq!(covered, all);
}

#[test]
fn classic_migrations_disagree_where_the_dialects_differ() {
    // Squid `.x` (apex and below) vs Cilium `*.x` (one label): the apex and two labels below.
    let cases: &[(&str, &str, &[&str])] = &[
        ("allow .kadath.io\n", "allow *.kadath.io\n", &["kadath.io"]),
        // Istio `*.x` (any depth) vs GKE `*.x` (one label) in hostgate terms.
        (
            "allow **.kadath.io\n",
            "allow *.kadath.io\n",
            &["zy.zz.kadath.io"],
        ),
        // A regex and its literal expansion: the names the regex adds.
        (
            "allow ~a[0-9]\\.kadath\\.io\n",
            "allow a0.kadath.io\n",
            &["a1.kadath.io"],
        ),
        // A regex and the same names written as a pattern agree everywhere.
        (
            "allow ~[a-z0-9_-]+\\.kadath\\.io\n",
            "allow *.kadath.io\n",
            &[],
        ),
    ];
    for (left, right, want) in cases {
        let a = Engine::compile(left).unwrap();
        let b = Engine::compile(right).unwrap();
        let d = diff(
            (&a, a.default_policy()),
            (&b, b.default_policy()),
            &DiffOptions::default(),
        );
        let names: Vec<&str> = d.witnesses.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(&names, want, "{left} vs {right}");
        assert!(d.complete, "{left} vs {right}: {:?}", d.incomplete);
    }
}
