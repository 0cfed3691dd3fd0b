//! What the policy language means at its limits and where a verdict table cannot say it (the
//! verdict and diagnostic tables are in `tests/contract/`, run by `contract.rs`): names at the
//! length and label limits, patterns that can never match, ports and CIDRs at their extremes,
//! precedence ties, policy and rule indices and ids through the API, the builder agreeing with
//! the text, and lookups that never panic and fail closed. Every expectation is written from
//! `docs/policy-language.md` and `docs/semantics.md`.

use hostgate::{
    Action, Engine, EngineBuilder, PolicySpec, Precedence, Query, Reason, RuleSpec, Verdict, Via,
};
use hostgate_reference::Policies;

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

/// The deciding rule of `name` in `policy`: (index, id, line).
fn rule_of(e: &Engine, policy: &str, q: &Query<'_>) -> Option<(u32, String, u32)> {
    let v = e.check(e.policy(policy).expect("policy exists"), q);
    v.rule.map(|r| (r.index(), r.id().to_string(), r.line()))
}

// ---------------------------------------------------------------------------------------------
// Names

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

/// A non-ASCII label whose Punycode form does not fit the 253-byte name buffer is an invalid
/// name, never a panic (idna 1.1 turns a refused write of its output sink in the middle of
/// Punycode encoding into `unreachable!()`): in queries of up to 1024 bytes (an SNI, a Host
/// header), in `normalize` and in policy text.
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

/// A long ASCII prefix before a non-ASCII label, so that the A-label form does not fit the
/// 253-byte name buffer: an invalid name from `normalize` and `Engine::check`, never a panic
/// (through the C ABI a panic would become `HOSTGATE_RESULT_PANIC`).
#[test]
fn idna_output_past_the_name_buffer_is_invalid_not_a_panic() {
    for prefix in [240usize, 244, 246, 250] {
        let name = format!("{}.b\u{fc}cher", "a".repeat(prefix));
        let r = std::panic::catch_unwind(|| hostgate::normalize(&name));
        assert!(
            matches!(r, Ok(Err(_))),
            "normalize of a {}-byte IDNA name: {r:?}",
            name.len()
        );
        let e = hostgate::Engine::compile("allow *\n").unwrap();
        let p = e.policy("default").unwrap();
        let v = std::panic::catch_unwind(|| e.check(p, &hostgate::Query::new(&name)).reason);
        assert_eq!(v.ok(), Some(hostgate::Reason::InvalidName));
    }
}

/// `0X` is a hex prefix in either case: a last label like `0Xe` is ambiguous-numeric (it
/// lowercases to the hex number `0xe`) for `normalize`, `Engine::check` and the DNS parser alike.
#[test]
fn uppercase_hex_last_label_is_ambiguous_everywhere() {
    use hostgate::inspect::dns::{parse_query, Malformed, Transport};
    use hostgate::inspect::Outcome;
    use hostgate::InvalidName;
    for name in ["0Xe", "a.0XFF", "www.example.0Xab"] {
        assert_eq!(
            hostgate::normalize(name).unwrap_err(),
            InvalidName::AmbiguousNumeric,
            "{name}"
        );
        let e = hostgate::Engine::compile("allow *\n").unwrap();
        let p = e.policy("default").unwrap();
        assert_eq!(
            e.check(p, &hostgate::Query::new(name)).reason,
            hostgate::Reason::InvalidName,
            "{name}"
        );
    }
    // A standard query (id 0x1234, RD) for `0Xe`, type A, class IN.
    let q = [
        0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'0', b'X', b'e', 0, 0, 1, 0, 1,
    ];
    match parse_query(&q, Transport::Udp) {
        Outcome::Malformed(Malformed::InvalidName(InvalidName::AmbiguousNumeric)) => {}
        other => panic!("DNS query for 0Xe: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Patterns

/// `~regex` is anchored by wrapping it as `(?:RE)\z`. A regex that closes that group itself
/// (`X)|(Y`) is not valid on its own and must stay an error: wrapped, it would be valid, and its
/// first alternative `(?:X)` would have no `\z`, matching every name that merely *starts* with X.
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
    // The same for a glob (same shortest match, 254 bytes).
    assert!(Engine::compile(&format!("allow a*.{k252}\n")).is_err());
    // And one byte shorter is fine: `x.` + 251 = 253.
    let k251 = name_of(&[63, 63, 63, 59]);
    let e = engine(&format!("allow *.{k251}\n"));
    assert!(allowed(&e, &format!("x.{k251}")));
}

/// Names: "Two trailing dots: invalid"; patterns' literals are "normalized like names". So a
/// pattern with two trailing dots is an error (the pattern parser strips one dot; `normalize`
/// must not strip the second).
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

/// A literal head label of a glob that looks numeric (`0X1F`) is lowercased like any literal,
/// although `normalize` refuses it on its own as ambiguous-numeric, so it matches the (lowercase)
/// query label.
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

// ---------------------------------------------------------------------------------------------
// Rules and precedence

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

// ---------------------------------------------------------------------------------------------
// Policies, rules and ids

#[test]
fn policies_are_numbered_in_file_order_and_rules_per_policy() {
    let text = "allow a.io\n\
                policy egress\n\
                default allow\n\
                deny b.io\n\
                policy other\n\
                precedence deny-overrides\n\
                allow b.io\n\
                deny *\n";
    let e = Engine::compile(text).unwrap();
    let ids: Vec<u32> = ["default", "egress", "other"]
        .iter()
        .map(|name| e.policy(name).unwrap().index())
        .collect();
    assert_eq!(ids, [0, 1, 2]);
    assert_eq!(e.policy("nope"), None);
    assert_eq!(e.policy_name(e.policy("egress").unwrap()), Some("egress"));
    // Index and id are per policy.
    assert_eq!(
        rule_of(&e, "egress", &Query::new("b.io")),
        Some((0, "egress:4".to_string(), 4))
    );
    assert_eq!(
        rule_of(&e, "other", &Query::new("b.io")),
        Some((1, "other:8".to_string(), 8))
    );
}

#[test]
fn the_default_policy_exists_only_when_used() {
    let only_named = "# header\n\npolicy a\nallow x.io\n";
    let e = Engine::compile(only_named).unwrap();
    assert_eq!(e.policy("default"), None);
    assert_eq!(e.policy("a").map(|p| p.index()), Some(0));
    let r = Policies::parse(only_named).unwrap();
    assert_eq!(r.names().collect::<Vec<_>>(), ["a"]);
}

#[test]
fn rule_indices_count_rules_not_lines() {
    let text = "allow a.io id my-a\n# comment\n\nallow b.io   # trailing\npolicy p\nallow c.io\n";
    let e = Engine::compile(text).unwrap();
    assert_eq!(
        rule_of(&e, "default", &Query::new("a.io")),
        Some((0, "my-a".to_owned(), 1))
    );
    assert_eq!(
        rule_of(&e, "default", &Query::new("b.io")),
        Some((1, "default:4".to_owned(), 4))
    );
    assert_eq!(
        rule_of(&e, "p", &Query::new("c.io")),
        Some((0, "p:6".to_owned(), 6))
    );
    let r = Policies::parse(text).unwrap();
    let v = r.check("default", b"b.io", None, None).unwrap();
    assert_eq!(
        (v.rule_index, v.id.as_deref()),
        (Some(1), Some("default:4"))
    );
}

#[test]
fn rule_options_in_any_order_keep_their_index_and_id() {
    let text = "allow a.io id first via tls port 443\n\
                allow b.io via http id second port 80\n\
                allow c.io port 80 id third via dns\n";
    let e = Engine::compile(text).unwrap();
    let q = Query::new("b.io").port(80).via(Via::Http);
    assert_eq!(
        rule_of(&e, "default", &q).map(|(i, id, _)| (i, id)),
        Some((1, "second".to_string()))
    );
}

/// `RuleId == &str` compares the exact text: `default:+1` is not `default:1`, although `+1`
/// parses as the number 1.
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

// ---------------------------------------------------------------------------------------------
// The builder

/// A builder rule with `RuleSpec::line` set (the field is public) gets every check the builder
/// makes (port 0, backwards ranges, repeated via, bad ids): a backwards range on a deny would
/// otherwise never match, failing open.
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

// ---------------------------------------------------------------------------------------------
// Lookups

#[test]
fn check_name_and_check_batch_agree_with_check() {
    let text = "allow api.kadath.io\nallow **.stripe.com port 443\ndeny ~ads.*\nallow 10.0.0.0/8\n";
    let e = Engine::compile(text).unwrap();
    let p = e.policy("default").unwrap();
    let names = [
        "api.kadath.io",
        "a.stripe.com",
        "ads1.x",
        "10.1.1.1",
        "a..b",
        "bücher.de",
    ];
    let queries: Vec<Query<'_>> = names
        .iter()
        .flat_map(|n| [Query::new(*n), Query::new(*n).port(443).via(Via::Tls)])
        .collect();
    let mut out = vec![Verdict::default(); queries.len() + 1];
    assert_eq!(e.check_batch(p, &queries, &mut out), queries.len());
    for (q, v) in queries.iter().zip(&out) {
        assert_eq!(*v, e.check(p, q));
        if let Ok(name) = hostgate::normalize(q.name) {
            assert_eq!(e.check_name(p, &name, q.port, q.via), *v);
        }
    }
    assert_eq!(e.check_batch(p, &queries, &mut out[..3]), 3);
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

/// `check` never panics, also when called from another thread-local's destructor (a connection
/// cache flushing on thread exit) after the engine's thread-local regex scratch is gone. A panic
/// in a TLS destructor aborts the process, so this runs in a child process.
#[test]
fn check_from_a_thread_local_destructor_does_not_panic() {
    const CHILD: &str = "HOSTGATE_TLS_DESTRUCTOR_CHILD";
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
