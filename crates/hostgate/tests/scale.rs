//! Large policies and inputs: policies large enough for the compiler's bulk paths (patterns
//! parsed on two threads past 20,000 rules, table sizing by bucketed hash counts, several rules
//! filed under one key, 65,536 rules under one key, 200 policies sharing one matcher), compared
//! with the naive reference (`hostgate-reference`) or with expectations written from the
//! contract; errors and warnings compared with what each pattern gives on its own; and huge or
//! hostile policy text (a 10 MB token, thousands of bad lines).

use hostgate::{Action, Engine, Pattern, Query, Reason, Verdict, Via};
use hostgate_reference::{Policies, RefVerdict};

fn engine(text: &str) -> Engine {
    Engine::compile(text).unwrap_or_else(|e| panic!("compile failed:\n{e}"))
}

fn verdict<'e>(e: &'e Engine, policy: &str, q: &Query<'_>) -> Verdict<'e> {
    e.check(e.policy(policy).expect("policy exists"), q)
}

/// A fixed-seed xorshift: the same policy on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: [&str; 12] = [
    "api", "cdn", "kadath", "leng", "stripe", "graph", "mail", "edge", "eu", "x1", "files", "sso",
];
const TLDS: [&str; 4] = ["io", "com", "net", "org"];

fn domain(r: &mut Rng) -> String {
    // Many distinct second-level labels, few first labels: keys share suffixes and collide.
    format!(
        "{}{}.{}",
        WORDS[r.below(WORDS.len())],
        r.below(4000),
        TLDS[r.below(TLDS.len())]
    )
}

/// One rule line of every keyed shape, some with ports and sources, some sharing a key.
fn rule(r: &mut Rng, d: &str) -> String {
    let action = if r.below(4) == 0 { "deny" } else { "allow" };
    let w = WORDS[r.below(WORDS.len())];
    let pattern = match r.below(7) {
        0 | 1 => d.to_string(),
        2 => format!("*.{d}"),
        3 => format!("**.{d}"),
        4 => format!(".{d}"),
        5 => format!("{w}-*.{d}"),
        _ => format!("{w}.{d}"),
    };
    let mut line = format!("{action} {pattern}");
    if r.below(8) == 0 {
        line.push_str(" port 443,8000-8080");
    }
    if r.below(8) == 0 {
        line.push_str(" via tls,http");
    }
    line
}

/// Three policies (one per precedence mode) of `per_policy` rules each, and the domains used.
fn policy_text(per_policy: usize) -> (String, Vec<String>) {
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    let domains: Vec<String> = (0..per_policy / 3).map(|_| domain(&mut r)).collect();
    let mut text = String::new();
    for (name, precedence, default) in [
        ("fm", "first-match", "deny"),
        ("ms", "most-specific", "allow"),
        ("do", "deny-overrides", "deny"),
    ] {
        text.push_str(&format!(
            "policy {name}\nprecedence {precedence}\ndefault {default}\n"
        ));
        for _ in 0..per_policy {
            let d = &domains[r.below(domains.len())];
            text.push_str(&rule(&mut r, d));
            text.push('\n');
        }
    }
    (text, domains)
}

/// Names near the rules: the domain, one or two labels more, glob-shaped labels, near misses.
fn queries(domains: &[String], n: usize) -> Vec<String> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|_| {
            let d = &domains[r.below(domains.len())];
            let w = WORDS[r.below(WORDS.len())];
            match r.below(6) {
                0 => d.clone(),
                1 => format!("{w}.{d}"),
                2 => format!("{w}-{}.{d}", r.below(9)),
                3 => format!("a.{w}.{d}"),
                4 => format!("x{d}"),
                _ => format!("{}.{d}", w.to_uppercase()),
            }
        })
        .collect()
}

#[test]
fn a_large_multi_policy_engine_agrees_with_the_reference() {
    let (text, domains) = policy_text(8_000);
    let engine = Engine::compile(&text).expect("the generated policy compiles");
    let reference = Policies::parse(&text).expect("the reference parses it");
    let mut checked = 0;
    for name in queries(&domains, 600) {
        for policy in ["fm", "ms", "do"] {
            let id = engine.policy(policy).expect("policy exists");
            for (port, via) in [
                (Some(443), Some(Via::Tls)),
                (Some(8080), Some(Via::Http)),
                (Some(80), None),
                (None, Some(Via::Dns)),
            ] {
                let q = Query {
                    name: name.as_bytes(),
                    port,
                    via,
                };
                let want = reference
                    .check(policy, name.as_bytes(), port, via)
                    .expect("policy exists");
                let got = RefVerdict::from_engine(&engine.check(id, &q));
                assert_eq!(got, want, "{policy}: {name} port {port:?} via {via:?}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 600 * 3 * 4);
}

#[test]
fn errors_and_warnings_of_a_large_policy_come_in_line_order() {
    // 30,000 good rules with bad and suspicious patterns spread through both halves.
    let mut r = Rng(0xdead_beef_cafe_f00d);
    let mut lines = Vec::new();
    let mut bad = Vec::new();
    let mut suspicious = Vec::new();
    for i in 0..30_000 {
        let d = domain(&mut r);
        let line = match i % 2_311 {
            7 => {
                bad.push(i + 1);
                format!("allow a.**.{d}")
            }
            1_300 => {
                suspicious.push(i + 1);
                format!("allow *{d}")
            }
            _ => format!("allow .{d}"),
        };
        lines.push(line);
    }
    let text = lines.join("\n");
    // What each pattern gives on its own: the independent expectation.
    for &l in &bad {
        let pattern = lines[l - 1].trim_start_matches("allow ");
        assert!(Pattern::parse(pattern).is_err(), "{pattern}");
    }
    let errors = Engine::compile(&text).expect_err("the bad patterns are errors");
    let error_lines: Vec<usize> = errors.errors().iter().map(|e| e.line as usize).collect();
    assert_eq!(error_lines, bad);
    // Without the bad lines it compiles, with one warning per suspicious line, in order.
    let good: Vec<&str> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if bad.contains(&(i + 1)) {
                "# removed"
            } else {
                l.as_str()
            }
        })
        .collect();
    let engine = Engine::compile(&good.join("\n")).expect("compiles without the bad lines");
    let warning_lines: Vec<usize> = engine.warnings().iter().map(|w| w.line as usize).collect();
    assert_eq!(warning_lines, suspicious);
}

#[test]
fn a_large_built_policy_names_the_rule_of_each_error() {
    // The builder path: no lines, so errors name the policy and the rule index.
    let mut b = hostgate::EngineBuilder::new();
    let mut rules: Vec<hostgate::RuleSpec> = (0..25_000)
        .map(|i| hostgate::RuleSpec::allow(format!("host{i}.example.com")))
        .collect();
    rules[3].pattern = "a..b".into();
    rules[24_000].pattern = "**x.com".into();
    let mut p = hostgate::PolicySpec::new("built");
    p.rules = rules;
    b = b.policy(p);
    let errors = b.build().expect_err("two bad patterns");
    let messages: Vec<&str> = errors.errors().iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].starts_with("policy built, rule 3: "),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("policy built, rule 24000: "),
        "{messages:?}"
    );
}

#[test]
fn many_rules_under_one_key() {
    // 65535 port-limited allows and one deny, all filed under `a.io`.
    let mut text = String::with_capacity(1 << 21);
    for p in 1..=65535u32 {
        text.push_str(&format!("allow a.io port {p}\n"));
    }
    text.push_str("deny a.io\n");
    let e = engine(&text);
    let p = e.policy("default").unwrap();
    assert_eq!(e.rule_count(p), 65536);
    for port in [1u16, 2, 1000, 65534, 65535] {
        let v = e.check(p, &Query::new("a.io").port(port));
        assert_eq!(v.rule.unwrap().index(), u32::from(port) - 1);
        assert_eq!(v.rule.unwrap().line(), u32::from(port));
    }
    assert_eq!(
        e.check(p, &Query::new("a.io").port(0))
            .rule
            .unwrap()
            .index(),
        65535
    );
    assert_eq!(e.check(p, &Query::new("a.io")).rule.unwrap().index(), 0);
    // The same rules under deny-overrides: the deny always wins.
    let e = engine(&format!("precedence deny-overrides\n{text}"));
    let p = e.policy("default").unwrap();
    assert_eq!(
        e.check(p, &Query::new("a.io").port(443)).action,
        Action::Deny
    );
}

#[test]
fn two_hundred_policies_share_one_matcher() {
    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&format!(
            "policy p{i}\n{}allow shared.io port {}\nallow only{i}.io\ndeny 10.0.{i}.0/24\nallow 10.0.0.0/8\n",
            if i % 2 == 0 { "precedence deny-overrides\n" } else { "" },
            1000 + i
        ));
    }
    let e = engine(&text);
    assert_eq!(e.policies().len(), 200);
    for i in 0..200u32 {
        let name = format!("p{i}");
        let pid = e.policy(&name).unwrap();
        assert_eq!(pid.index(), i);
        assert!(e
            .check(pid, &Query::new("shared.io").port(1000 + i as u16))
            .is_allow());
        assert!(!e
            .check(pid, &Query::new("shared.io").port(1001 + i as u16))
            .is_allow());
        assert!(e.check(pid, &Query::new(&format!("only{i}.io"))).is_allow());
        let other = (i + 1) % 200;
        assert!(!e
            .check(pid, &Query::new(&format!("only{other}.io")))
            .is_allow());
        assert!(!e.check(pid, &Query::new(&format!("10.0.{i}.1"))).is_allow());
        assert!(e
            .check(pid, &Query::new(&format!("10.0.{other}.1")))
            .is_allow());
        let r = e.check(pid, &Query::new("shared.io")).rule.unwrap();
        assert_eq!(r.id().to_string(), format!("p{i}:{}", r.line()));
    }
    // An id from nowhere: deny, reason default.
    let v = e.check(
        hostgate::PolicyId::from_index(200),
        &Query::new("shared.io"),
    );
    assert_eq!((v.action, v.reason), (Action::Deny, Reason::Default));
}

#[test]
fn huge_and_hostile_policy_text() {
    // One 10 MB pattern token: one error, with a column, no panic.
    let big = "a".repeat(10 << 20);
    let errs = Engine::compile(&format!("allow {big}\n")).unwrap_err();
    assert_eq!(errs.errors()[0].line, 1);
    // Thousands of bad lines: capped at 1000 errors plus a summary.
    let errs = Engine::compile(&"bogus\n".repeat(3000)).unwrap_err();
    assert_eq!(errs.errors().len(), 1001);
    // Unicode ids and policy names, CRLF line ends, a comment after white space.
    let e = engine("policy ünïcode\r\nallow a.io id блок # c\r\n");
    let r = verdict(&e, "ünïcode", &Query::new("a.io")).rule.unwrap();
    assert_eq!(r.id(), "блок");
    // A pattern with 127 labels that is too long to match: an error, not a panic.
    let p = vec!["a"; 127].join(".");
    assert!(Engine::compile(&format!("allow a*.{p}\n")).is_err());
    assert!(Engine::compile(&format!("allow a.*.{p}\n")).is_err());
}
