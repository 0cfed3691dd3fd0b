//! Review tests for the engine core (engine, matcher, name, pattern, syntax, builder): edge
//! inputs at the limits of names, patterns, ports, CIDRs and rule counts, each checked against
//! an expectation written independently from the contract (`docs/policy-language.md`) and the
//! decisions (`docs/semantics.md`).

use hostgate::{
    Action, Engine, EngineBuilder, PolicySpec, Precedence, Query, Reason, RuleSpec, Verdict, Via,
};

fn engine(text: &str) -> Engine {
    Engine::compile(text).unwrap_or_else(|e| panic!("compile failed:\n{e}\n---\n{text}"))
}

fn verdict<'e>(e: &'e Engine, policy: &str, q: &Query<'_>) -> Verdict<'e> {
    e.check(e.policy(policy).expect("policy exists"), q)
}

fn allowed(e: &Engine, name: &str) -> bool {
    verdict(e, "default", &Query::new(name)).is_allow()
}

/// A name of labels with the given lengths (`a`, `b`, … repeated), joined by dots.
fn name_of(lens: &[usize]) -> String {
    lens.iter()
        .enumerate()
        .map(|(i, &n)| {
            let c = (b'a' + (i % 26) as u8) as char;
            c.to_string().repeat(n)
        })
        .collect::<Vec<_>>()
        .join(".")
}

// ---------------------------------------------------------------------------------------------
// Bugs (these fail on the reviewed tree)
// ---------------------------------------------------------------------------------------------

/// `~regex` is implicitly anchored by wrapping it as `(?:RE)\z`. A regex that closes that group
/// itself (`X)|(Y`) is not valid on its own, but the wrapped text is, and then the first
/// alternative `(?:X)` has no `\z`: the rule matches every name that merely *starts* with X.
#[test]
fn regex_cannot_escape_the_implicit_anchor() {
    let text = "allow ~api\\.kadath\\.io)|(zz\n";
    match Engine::compile(text) {
        Err(_) => {} // expected: `api\.kadath\.io)|(zz` is not a valid regex
        Ok(e) => {
            let v = verdict(&e, "default", &Query::new("api.kadath.io.attacker.example"));
            panic!(
                "unbalanced regex compiled, and it is no longer whole-match: \
                 api.kadath.io.attacker.example -> {:?}",
                v.action
            );
        }
    }
}

/// A non-ASCII label whose Punycode form does not fit the 253-byte name buffer: the buffer's
/// sink returns `fmt::Error` in the middle of Punycode encoding, and idna 1.1 turns that error
/// into `unreachable!()` (`From<PunycodeEncodeError> for ProcessingError`). So a ≤ 1024-byte
/// query — an SNI, a Host header — panics `Engine::check` (and `normalize`, and policy compile).
#[test]
fn long_non_ascii_label_is_invalid_not_a_panic() {
    let e = engine("allow *\n");
    for n in [250usize, 252, 300, 1000] {
        let q = format!("ü{}", "a".repeat(n));
        let v = verdict(&e, "default", &Query::new(&q));
        assert_eq!(
            (v.action, v.reason),
            (Action::Deny, Reason::InvalidName),
            "ü+{n}"
        );
        assert!(hostgate::normalize(&q).is_err());
    }
    let q = format!("x.{}ü.io", "a".repeat(240));
    assert_eq!(
        verdict(&e, "default", &Query::new(&q)).reason,
        Reason::InvalidName
    );
    assert!(Engine::compile(&format!("allow ü{}\n", "a".repeat(300))).is_err());
}

/// "A pattern whose shortest possible match is over 253 bytes … is an error" — `*.K` and
/// `**.K` with a 252/253-byte K can never match (the shortest match is `x.K`).
#[test]
fn one_label_and_deep_patterns_that_can_never_match_are_errors() {
    let k253 = name_of(&[63, 63, 63, 61]);
    let k252 = name_of(&[63, 63, 63, 60]);
    assert_eq!(k253.len(), 253);
    assert_eq!(k252.len(), 252);
    for pat in [
        format!("*.{k253}"),
        format!("**.{k253}"),
        format!("*.{k252}"),
        format!("**.{k252}"),
    ] {
        assert!(
            Engine::compile(&format!("allow {pat}\n")).is_err(),
            "`allow {pat}` ({} bytes) compiled but can never match a valid name",
            pat.len()
        );
    }
    // 127 labels (255 bytes) after `*.`.
    let p127 = vec!["a"; 127].join(".");
    assert!(
        Engine::compile(&format!("allow *.{p127}\n")).is_err(),
        "*.<127 labels>"
    );
    assert!(
        Engine::compile(&format!("allow **.{p127}\n")).is_err(),
        "**.<127 labels>"
    );
    // The globs already get this right (same shortest match, 254 bytes).
    assert!(Engine::compile(&format!("allow a*.{k252}\n")).is_err());
    // And one byte shorter is fine: `x.` + 251 = 253.
    let k251 = name_of(&[63, 63, 63, 59]);
    let e = engine(&format!("allow *.{k251}\n"));
    assert!(allowed(&e, &format!("x.{k251}")));
}

/// Names: "Two trailing dots: invalid"; patterns' literals are "normalized like names". A pattern
/// with two trailing dots compiles today (one dot is stripped by the pattern parser, the second
/// by `normalize`).
#[test]
fn patterns_with_two_trailing_dots_are_errors() {
    for pat in [
        "a.com..",
        "*.com..",
        ".com..",
        "**.a.com..",
        "api-*.a.com..",
    ] {
        assert!(
            Engine::compile(&format!("allow {pat}\n")).is_err(),
            "`{pat}` compiled (two trailing dots)"
        );
    }
    // One trailing dot stays fine.
    let e = engine("allow *.com.\n");
    assert!(allowed(&e, "x.com"));
}

/// A literal head label of a glob that looks numeric (`0X1F`) is kept as written when
/// `normalize` refuses it as AmbiguousNumeric — not lowercased — so it never matches the
/// (lowercase) query label.
#[test]
fn glob_head_numeric_label_is_lowercased() {
    let e = engine("allow 0X1F.*-x.kadath.io\n");
    assert!(
        allowed(&e, "0x1f.a-x.kadath.io"),
        "rule shows as `{}`",
        e.rule(e.policy("default").unwrap(), 0).unwrap().pattern
    );
    assert!(allowed(&e, "0X1F.A-X.kadath.io"));
}

/// `RuleSpec::line` is public; a builder rule with a line set skips every check the builder
/// otherwise makes (port 0, backwards ranges, repeated via, empty id). A backwards range on a
/// deny then silently never matches: fail open.
#[test]
fn builder_rules_with_a_line_are_still_validated() {
    let backwards = with_line(RuleSpec::deny("a.io").ports(443, 80), 3);
    let res = EngineBuilder::new()
        .policy(
            PolicySpec::new("p")
                .default_action(Action::Allow)
                .rule(backwards),
        )
        .build();
    match res {
        Err(_) => {}
        Ok(e) => {
            let v = verdict(&e, "p", &Query::new("a.io").port(443));
            panic!(
                "backwards range 443-80 accepted; a.io:443 -> {:?}",
                v.action
            );
        }
    }
    for bad in [
        with_line(RuleSpec::allow("a.io").port(0), 1),
        with_line(RuleSpec::allow("a.io").via(Via::Tls).via(Via::Tls), 1),
        with_line(RuleSpec::allow("a.io").id("has space"), 1),
    ] {
        let r = EngineBuilder::new()
            .policy(PolicySpec::new("p").rule(bad.clone()))
            .build();
        assert!(r.is_err(), "accepted {bad:?}");
    }
}

fn with_line(mut r: RuleSpec, line: u32) -> RuleSpec {
    r.line = line;
    r
}

/// `RuleId == &str` parses the digits with `u32::from_str`, which accepts a leading `+`.
#[test]
fn rule_id_comparison_is_exact() {
    let e = engine("allow a.io\n");
    let r = verdict(&e, "default", &Query::new("a.io")).rule.unwrap();
    assert_eq!(r.id(), "default:1");
    assert_eq!(r.id().to_string(), "default:1");
    assert!(
        r.id() != "default:+1",
        "RuleId `default:1` == \"default:+1\""
    );
    let b = EngineBuilder::new()
        .policy(PolicySpec::new("web").rule(RuleSpec::allow("a.io")))
        .build()
        .unwrap();
    let r = verdict(&b, "web", &Query::new("a.io")).rule.unwrap();
    assert_eq!(r.id(), "web#0");
    assert!(r.id() != "web#+0");
}

/// `check` is documented "never panics". The regex scratch is a `thread_local!` reached with
/// `with`, which panics once that thread-local has been destroyed — e.g. a check made from
/// another thread-local's destructor (connection caches flushing on thread exit). A panic in a
/// TLS destructor aborts the process, so this runs in a child process.
#[test]
fn check_from_a_thread_local_destructor_does_not_panic() {
    const CHILD: &str = "HOSTGATE_REVIEW_TLS_CHILD";
    if std::env::var_os(CHILD).is_some() {
        tls_child();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "check_from_a_thread_local_destructor_does_not_panic",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed ({:?}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tls_child() {
    use std::cell::RefCell;
    use std::sync::Arc;
    struct Guard(Option<Arc<Engine>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            if let Some(e) = self.0.take() {
                let v = verdict(&e, "default", &Query::new("ads1.example.net"));
                assert!(v.is_allow());
            }
        }
    }
    thread_local! { static G: RefCell<Guard> = const { RefCell::new(Guard(None)) }; }
    let e = Arc::new(engine("allow ~ads[0-9]+\\.example\\.net\n"));
    std::thread::spawn(move || {
        // Registered first, so destroyed after the engine's regex scratch.
        G.with(|g| g.borrow_mut().0 = Some(e.clone()));
        assert!(allowed(&e, "ads1.example.net"));
    })
    .join()
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Coverage at the limits (these pass)
// ---------------------------------------------------------------------------------------------

#[test]
fn names_of_127_labels_and_253_bytes() {
    let name = vec!["a"; 127].join(".");
    assert_eq!(name.len(), 253);
    let suffix125 = vec!["a"; 125].join("."); // 249 bytes
    let suffix126 = vec!["a"; 126].join("."); // 251 bytes
    let e = engine(&format!(
        "policy exact\nallow {name}\n\
         policy one\nallow *.{suffix126}\n\
         policy deep\nallow **.{suffix125}\n\
         policy dot\nallow .{name}\n\
         policy glob\nallow a*.{suffix126}\n"
    ));
    for p in ["exact", "one", "dot", "glob"] {
        assert!(verdict(&e, p, &Query::new(&name)).is_allow(), "{p}");
    }
    // `**.` + 125 labels: the 127-label name is two deeper, the 126-label one is one deeper.
    assert!(verdict(&e, "deep", &Query::new(&name)).is_allow());
    assert!(verdict(&e, "deep", &Query::new(&suffix126)).is_allow());
    assert!(!verdict(&e, "deep", &Query::new(&suffix125)).is_allow());
    // With a trailing dot: 254 bytes of input, still valid.
    assert!(verdict(&e, "exact", &Query::new(&format!("{name}."))).is_allow());
    // 255 bytes: invalid, whatever the rules.
    let over = format!("a.{name}");
    let v = verdict(&e, "dot", &Query::new(&over));
    assert_eq!((v.action, v.reason), (Action::Deny, Reason::InvalidName));
    // 256+ and 1025+ bytes.
    for n in [256usize, 300, 1024, 1025, 5000] {
        let long = "a".repeat(n);
        let v = verdict(&e, "exact", &Query::new(&long));
        assert_eq!(v.reason, Reason::InvalidName, "{n}");
    }
}

/// Dots at and around the 64-byte words of the dot bitmap: every suffix is found, and the depth
/// the shapes see is the true label count (checked against plain string logic).
#[test]
fn labels_at_the_bitmap_word_boundaries() {
    let key = "kadath.io";
    let e = engine(&format!(
        "policy one\nallow *.{key}\npolicy deep\nallow **.{key}\npolicy dot\nallow .{key}\n\
         policy glob\nallow *.x*.{key}\n"
    ));
    let mut checked = 0;
    for first in 1..=63usize {
        for second in [1usize, 2, 62, 63] {
            for extra in 0..3usize {
                let mut lens = vec![first];
                if extra >= 1 {
                    lens.push(second);
                }
                if extra >= 2 {
                    lens.push(63);
                }
                let head = name_of(&lens);
                let name = format!("{head}.{key}");
                if name.len() > 253 {
                    continue;
                }
                let depth = lens.len();
                assert_eq!(
                    verdict(&e, "one", &Query::new(&name)).is_allow(),
                    depth == 1,
                    "{name}"
                );
                assert!(verdict(&e, "deep", &Query::new(&name)).is_allow(), "{name}");
                assert!(verdict(&e, "dot", &Query::new(&name)).is_allow(), "{name}");
                // `*.x*.kadath.io`: two labels, the second starting with `x`.
                let glob = depth == 2 && name.split('.').nth(1).unwrap().starts_with('x');
                assert_eq!(
                    verdict(&e, "glob", &Query::new(&name)).is_allow(),
                    glob,
                    "{name}"
                );
                let xname = format!(
                    "{}.x{}.{key}",
                    "q".repeat(first),
                    "y".repeat(second.min(62))
                );
                assert!(
                    verdict(&e, "glob", &Query::new(&xname)).is_allow(),
                    "{xname}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 500);
    // A key that itself straddles the first word: the name's last 70 bytes.
    let long_key = name_of(&[63, 6]);
    let e = engine(&format!("allow **.{long_key}\nallow {long_key}\n"));
    for first in 1..=63 {
        let name = format!("{}.{long_key}", "z".repeat(first));
        let v = verdict(&e, "default", &Query::new(&name));
        assert_eq!(v.rule.unwrap().index(), 0, "{name}");
    }
    assert_eq!(
        verdict(&e, "default", &Query::new(&long_key))
            .rule
            .unwrap()
            .index(),
        1
    );
}

#[test]
fn ports_at_the_ends_of_the_range() {
    let e = engine(
        "allow a.io port 65535\nallow b.io port 1\nallow c.io port 1-65535\n\
         deny d.io port 65535\nallow d.io\n",
    );
    let at = |n: &str, p: u16| verdict(&e, "default", &Query::new(n).port(p)).is_allow();
    assert!(at("a.io", 65535) && !at("a.io", 65534) && !at("a.io", 0));
    assert!(at("b.io", 1) && !at("b.io", 2) && !at("b.io", 0));
    assert!(at("c.io", 1) && at("c.io", 65535) && !at("c.io", 0));
    assert!(!at("d.io", 65535) && at("d.io", 65534));
    // No port (DNS): the port-limited allow matches, the port-limited deny does not.
    assert!(allowed(&e, "a.io"));
    assert!(allowed(&e, "d.io"));
    for bad in [
        "port 0",
        "port 65536",
        "port 2-1",
        "port 1,,2",
        "port 80-",
        "port -80",
    ] {
        assert!(
            Engine::compile(&format!("allow a.io {bad}\n")).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn cidrs_at_their_extremes() {
    let e = engine(
        "policy v4all\nallow 0.0.0.0/0\n\
         policy v6all\nallow ::/0\n\
         policy mapped\nallow ::ffff:0:0/96\n\
         policy host\nallow 2001:db8::1/128\nallow 192.0.2.7/32\n\
         policy names\nallow *\nallow ~.*\n",
    );
    let ok = |p: &str, n: &str| verdict(&e, p, &Query::new(n)).is_allow();
    assert!(ok("v4all", "192.0.2.1") && ok("v4all", "255.255.255.255"));
    assert!(ok("v4all", "::ffff:10.0.0.1"), "mapped v6 is typed as v4");
    assert!(!ok("v4all", "2001:db8::1"));
    assert!(ok("v6all", "2001:db8::1") && ok("v6all", "[::]"));
    assert!(!ok("v6all", "192.0.2.1"));
    // `::ffff:0:0/96` is the v4 prefix /0 (semantics: mapped patterns are the v4 pattern).
    assert!(ok("mapped", "192.0.2.1") && ok("mapped", "::ffff:192.0.2.1"));
    assert!(!ok("mapped", "2001:db8::1"));
    assert!(ok("host", "[2001:DB8::1]") && !ok("host", "2001:db8::2"));
    assert!(ok("host", "192.0.2.7") && ok("host", "192.0.2.7.") && !ok("host", "192.0.2.8"));
    // `*` and `~regex` never match IPs.
    assert!(!ok("names", "192.0.2.7") && !ok("names", "::1") && ok("names", "x.io"));
    for bad in [
        "10.0.0.1/8",
        "1.2.3.4/33",
        "::/129",
        "::ffff:192.0.2.1/120",
        "x/8",
        "1.2.3.0/",
    ] {
        assert!(Engine::compile(&format!("allow {bad}\n")).is_err(), "{bad}");
    }
}

#[test]
fn regex_rules_shared_across_policies() {
    let e = engine(
        "policy a\nallow ~ads[0-9]+\\.example\\.net\n\
         policy b\ndefault allow\nallow x.io\ndeny ~ads[0-9]+\\.example\\.net id blk\n\
         policy c\nallow *\n\
         policy d\nprecedence most-specific\nallow *\ndeny ~ads[0-9]+\\.example\\.net\n",
    );
    let v = |p: &str, n: &str| verdict(&e, p, &Query::new(n));
    assert!(v("a", "ads12.example.net").is_allow());
    assert!(!v("a", "ads12.example.net.evil").is_allow());
    assert!(!v("a", "xads12.example.net").is_allow());
    let b = v("b", "ads1.example.net");
    assert_eq!(
        (b.action, b.rule.unwrap().id().to_string()),
        (Action::Deny, "blk".into())
    );
    assert!(v("b", "other.example.net").is_allow());
    assert_eq!(v("c", "ads1.example.net").rule.unwrap().index(), 0);
    // most-specific: the regex ranks before `*`.
    assert!(!v("d", "ads1.example.net").is_allow());
    assert!(v("d", "ads.example.net").is_allow());
}

#[test]
fn most_specific_ties_and_classes() {
    let e = engine(
        "precedence most-specific\n\
         allow *.kadath.io id one\n\
         deny **.kadath.io id deep\n\
         allow .kadath.io id dot\n\
         allow api-*.kadath.io id glob\n\
         deny *\n\
         allow ~zz.*\\.io id re\n\
         allow exact.kadath.io id exact\n",
    );
    let id = |n: &str| {
        verdict(&e, "default", &Query::new(n))
            .rule
            .map(|r| r.id().to_string())
    };
    // 10 literal characters each: deny before allow.
    assert_eq!(id("a.kadath.io").as_deref(), Some("deep"));
    // 14 literal characters beat 10.
    assert_eq!(id("api-v2.kadath.io").as_deref(), Some("glob"));
    assert_eq!(id("exact.kadath.io").as_deref(), Some("exact"));
    assert_eq!(id("kadath.io").as_deref(), Some("dot"));
    // Regex before `*`.
    assert_eq!(id("zzq.io").as_deref(), Some("re"));
    assert_eq!(id("leng.com"), Some("default:6".to_owned()));
    // Same specificity, same action: file order.
    let e = engine("precedence most-specific\nallow *.k.io id first\nallow .k.io id second\n");
    assert_eq!(
        verdict(&e, "default", &Query::new("a.k.io"))
            .rule
            .unwrap()
            .id(),
        "first"
    );
}

#[test]
fn deny_overrides_with_ports_and_via() {
    let e = engine(
        "precedence deny-overrides\n\
         allow .x.io\n\
         deny a.x.io port 443\n\
         deny b.x.io via tls,http,connect,dns\n\
         allow c.x.io via tls\n",
    );
    let q = |n: &'static str| Query::new(n);
    let act = |q: Query<'_>| verdict(&e, "default", &q).action;
    assert_eq!(act(q("a.x.io").port(443)), Action::Deny);
    assert_eq!(act(q("a.x.io").port(80)), Action::Allow);
    assert_eq!(
        act(q("a.x.io")),
        Action::Allow,
        "port-less query: a port-limited deny does not match"
    );
    // A `via` list naming all four sources is still a limit; unknown source: the deny matches.
    assert_eq!(act(q("b.x.io")), Action::Deny);
    assert_eq!(act(q("b.x.io").via(Via::Dns)), Action::Deny);
    let v = verdict(&e, "default", &q("c.x.io").via(Via::Tls));
    assert_eq!(
        v.rule.unwrap().index(),
        0,
        "the first matching allow decides"
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

#[test]
fn arbitrary_bytes_never_panic_and_fail_closed() {
    let e = engine("allow *\nallow 0.0.0.0/0\nallow ::/0\n");
    let p = e.policy("default").unwrap();
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for b in 0..=255u8 {
        inputs.push(vec![b]);
        inputs.push(vec![b'a', b, b'.', b'i', b'o']);
        inputs.push([&[b; 64][..], b".io"].concat());
    }
    for s in [
        "",
        ".",
        "..",
        "a..",
        "[",
        "]",
        "[]",
        "[::1",
        "::1]",
        ":",
        "a:b",
        "1.2.3",
        "0x7f.1",
        "ａ.io",
        "xn--.io",
        "\u{3002}",
        "a\u{3002}",
        "ü.",
        "ü..",
        "[::ffff:1.2.3.4]",
    ] {
        inputs.push(s.as_bytes().to_vec());
    }
    for input in &inputs {
        let v = e.check(p, &Query::new(input));
        if v.is_allow() {
            let n = hostgate::normalize(input).expect("allowed names normalize");
            assert!(n.as_str().len() <= 253);
        } else {
            assert_eq!(v.reason, Reason::InvalidName, "{input:?}");
        }
        let _ = e.explain(p, &Query::new(input));
    }
}

#[test]
fn builder_and_text_agree() {
    let text = engine(
        "policy w\nprecedence most-specific\ndefault allow\n\
         deny **.leng.com port 443 via tls\nallow api.leng.com\n",
    );
    let built = EngineBuilder::new()
        .policy(
            PolicySpec::new("w")
                .precedence(Precedence::MostSpecific)
                .default_action(Action::Allow)
                .rule(RuleSpec::deny("**.leng.com").port(443).via(Via::Tls))
                .rule(RuleSpec::allow("api.leng.com")),
        )
        .build()
        .unwrap();
    for (n, port, via) in [
        ("api.leng.com", Some(443), Some(Via::Tls)),
        ("x.leng.com", Some(443), Some(Via::Tls)),
        ("x.leng.com", Some(443), None),
        ("x.leng.com", None, Some(Via::Tls)),
        ("x.leng.com", Some(80), Some(Via::Tls)),
        ("leng.com", Some(443), Some(Via::Tls)),
    ] {
        let q = Query {
            name: n.as_bytes(),
            port,
            via,
        };
        let (a, b) = (verdict(&text, "w", &q), verdict(&built, "w", &q));
        assert_eq!(
            (a.action, a.reason),
            (b.action, b.reason),
            "{n} {port:?} {via:?}"
        );
        assert_eq!(a.rule.map(|r| r.index()), b.rule.map(|r| r.index()));
    }
    // Two builder policies with one name: an error.
    assert!(EngineBuilder::new()
        .policy(PolicySpec::new("x"))
        .policy(PolicySpec::new("x"))
        .build()
        .is_err());
}
