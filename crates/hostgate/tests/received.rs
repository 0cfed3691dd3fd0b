//! `received` regex rules: matched against the name as the query carried it (case, trailing
//! dot, `:PORT` for HTTP to a port other than 80 and for CONNECT), as
//! `docs/policy-language.md` specifies.

use hostgate::inspect::inspect;
use hostgate::{Action, Engine, EngineBuilder, PolicySpec, Query, Reason, RuleSpec, Via};
use proptest::prelude::*;

fn verdict(policy: &str, name: &str, port: Option<u16>, via: Option<Via>) -> (Action, Reason) {
    let e = Engine::compile(policy).unwrap();
    let p = e.policy("default").unwrap();
    let q = Query {
        name: name.as_bytes(),
        port,
        via,
    };
    let v = e.check(p, &q);
    (v.action, v.reason)
}

/// A row of the spec table: (rule, name, port, via, allowed).
type Case = (&'static str, &'static str, Option<u16>, Option<Via>, bool);

#[test]
fn spec_table() {
    use Via::*;
    let cases: &[Case] = &[
        // Case is kept.
        (r"~Example\.com", "Example.com", None, Some(Tls), true),
        (r"~Example\.com", "example.com", None, Some(Tls), false),
        (r"~Example\.com", "EXAMPLE.COM", None, Some(Tls), false),
        (r"~(?i)example\.com", "EXAMPLE.COM", None, Some(Tls), true),
        // A trailing dot is kept.
        (r"~example\.com", "example.com.", None, Some(Dns), false),
        (r"~example\.com\.", "example.com.", None, Some(Dns), true),
        (r"~example\.com\.?", "example.com", None, Some(Dns), true),
        // HTTP: `:PORT` unless the port is 80.
        (r"~example\.com", "example.com", Some(80), Some(Http), true),
        (
            r"~example\.com",
            "example.com",
            Some(8080),
            Some(Http),
            false,
        ),
        (
            r"~example\.com:8080",
            "example.com",
            Some(8080),
            Some(Http),
            true,
        ),
        (
            r"~example\.com:80",
            "example.com",
            Some(80),
            Some(Http),
            false,
        ),
        (
            r"~example\.com(:\d+)?",
            "example.com",
            Some(8443),
            Some(Http),
            true,
        ),
        // CONNECT: always `:PORT`.
        (
            r"~example\.com:443",
            "example.com",
            Some(443),
            Some(Connect),
            true,
        ),
        (
            r"~example\.com:80",
            "example.com",
            Some(80),
            Some(Connect),
            true,
        ),
        (
            r"~example\.com",
            "example.com",
            Some(443),
            Some(Connect),
            false,
        ),
        // TLS and DNS: never a port.
        (r"~example\.com", "example.com", Some(443), Some(Tls), true),
        (
            r"~example\.com:443",
            "example.com",
            Some(443),
            Some(Tls),
            false,
        ),
        (r"~example\.com", "example.com", None, Some(Dns), true),
        // Unknown source: no port either.
        (r"~example\.com", "example.com", Some(8080), None, true),
    ];
    for &(rule, name, port, via, allowed) in cases {
        let text = format!("allow {rule} received\n");
        let (action, reason) = verdict(&text, name, port, via);
        let want = if allowed { Action::Allow } else { Action::Deny };
        assert_eq!(action, want, "{text:?} {name} {port:?} {via:?}");
        assert_eq!(reason == Reason::Matched, allowed, "{text:?} {name}");
    }
    // Without `received`, the normalized name: case, dot and port do not show.
    let plain = "allow ~example\\.com\n";
    let (action, _) = verdict(plain, "EXAMPLE.com.", Some(8080), Some(Http));
    assert_eq!(action, Action::Allow);
}

#[test]
fn invalid_names_are_denied_before_received_rules() {
    let (a, r) = verdict("allow ~.* received\n", "a..b", None, Some(Via::Tls));
    assert_eq!((a, r), (Action::Deny, Reason::InvalidName));
    let (a, r) = verdict("allow ~.* received\n", "A.b", None, Some(Via::Tls));
    assert_eq!((a, r), (Action::Allow, Reason::Matched));
}

#[test]
fn precedence_is_a_regex_rules() {
    // First match: a received rule decides where it stands in file order.
    let p = "deny ~API\\.x\\.io received\nallow .x.io\n";
    assert_eq!(verdict(p, "API.x.io", None, None).0, Action::Deny);
    assert_eq!(verdict(p, "api.x.io", None, None).0, Action::Allow);
    let p = "allow .x.io\ndeny ~API\\.x\\.io received\n";
    assert_eq!(verdict(p, "API.x.io", None, None).0, Action::Allow);
    // Most specific: ranked with the regexes, after names and wildcards, before `*`.
    let p = "precedence most-specific\ndefault allow\ndeny *\nallow ~API\\.x\\.io received\n";
    assert_eq!(verdict(p, "API.x.io", None, None).0, Action::Allow);
    let p = "precedence most-specific\nallow .x.io\ndeny ~API\\.x\\.io received\n";
    assert_eq!(verdict(p, "API.x.io", None, None).0, Action::Allow);
    // A plain and a received regex with the same source are two rules.
    let p = "deny ~api\\.x\\.io received\nallow ~api\\.x\\.io\n";
    assert_eq!(verdict(p, "api.x.io", None, None).0, Action::Deny);
    assert_eq!(verdict(p, "API.x.io", None, None).0, Action::Allow);
}

#[test]
fn compile_errors_with_positions() {
    for (text, at, needle) in [
        ("allow .x.io received\n", (1, 13), "only to `~regex`"),
        ("allow a.io port 80 received\n", (1, 20), "only to `~regex`"),
        ("allow ~a\\.io received received\n", (1, 23), "given twice"),
        ("allow ~a\\x20b received\n", (1, 8), "never match"),
        ("allow * received\n", (1, 9), "only to `~regex`"),
    ] {
        let errs = Engine::compile(text).unwrap_err();
        let e = &errs.errors()[0];
        assert_eq!((e.line, e.column), at, "{text:?}: {errs}");
        assert!(e.message.contains(needle), "{text:?}: {}", e.message);
    }
    // Uppercase and `:` can match a name as received.
    assert!(Engine::compile("allow ~[A-Z]+\\.io:8080 received\n").is_ok());
    // A built rule: the error names the policy and rule.
    let err = EngineBuilder::new()
        .policy(PolicySpec::new("p").rule(RuleSpec::allow("a.io").received()))
        .build()
        .unwrap_err();
    assert!(
        err.errors()[0].message.contains("policy p, rule 0"),
        "{err}"
    );
}

#[test]
fn rule_info_and_explain_show_it() {
    let e = Engine::compile("allow ~Api\\.io received\n").unwrap();
    let p = e.policy("default").unwrap();
    let r = e.rule(p, 0).unwrap();
    assert!(r.received);
    assert_eq!(r.pattern, "~Api\\.io");
    let x = e.explain(p, &Query::new("Api.io"));
    assert_eq!(x.matches.len(), 1);
    assert!(x.why.contains("received"), "{}", x.why);
    assert!(e.explain(p, &Query::new("api.io")).matches.is_empty());
}

#[test]
fn engine_file_round_trip_keeps_the_flag() {
    let text = "deny ~Api\\.io received\nallow ~api\\.io\nallow ~x\\.io:8080 received\n";
    let e = Engine::compile(text).unwrap();
    let back = Engine::from_bytes(&e.to_bytes()).unwrap();
    let p = back.policy("default").unwrap();
    assert!(back.rule(p, 0).unwrap().received);
    assert!(!back.rule(p, 1).unwrap().received);
    for (name, port, via) in [
        ("Api.io", None, None),
        ("api.io", None, None),
        ("x.io", Some(8080), Some(Via::Http)),
        ("x.io", Some(80), Some(Via::Http)),
    ] {
        let q = Query {
            name: name.as_bytes(),
            port,
            via,
        };
        let (a, b) = (e.check(e.policy("default").unwrap(), &q), back.check(p, &q));
        assert_eq!((a.action, a.reason), (b.action, b.reason), "{name}");
    }
    assert_eq!(back.check(p, &Query::new("Api.io")).action, Action::Deny);
    assert_eq!(
        back.check(p, &Query::new("x.io").port(8080).via(Via::Http))
            .action,
        Action::Allow
    );
}

#[test]
fn http_inspection_passes_the_host_as_carried() {
    let e = Engine::compile("allow ~Api\\.io:8080 received\n").unwrap();
    let p = e.policy("default").unwrap();
    let (i, v) = e.inspect_check(p, b"GET / HTTP/1.1\r\nHost: Api.io:8080\r\n\r\n", None);
    assert_eq!(i.raw_name, Some(&b"Api.io:8080"[..]));
    assert!(v.is_allow());
    let (_, v) = e.inspect_check(p, b"GET / HTTP/1.1\r\nHost: api.io:8080\r\n\r\n", None);
    assert!(!v.is_allow());
    // The Host did not carry the port: the connection's port is not added to it.
    let (_, v) = e.inspect_check(p, b"GET / HTTP/1.1\r\nHost: Api.io\r\n\r\n", Some(8080));
    assert!(!v.is_allow());
    let i = inspect(b"CONNECT Api.io:8080 HTTP/1.1\r\nHost: Api.io:8080\r\n\r\n");
    assert_eq!(i.raw_name, Some(&b"Api.io:8080"[..]));
    let i = inspect(b"GET http://Api.io:8080/x HTTP/1.1\r\nHost: Api.io:8080\r\n\r\n");
    assert_eq!(i.raw_name, Some(&b"Api.io:8080"[..]));
}

/// The name as received, built as the docs say, for the independent matcher.
fn raw(name: &str, port: Option<u16>, via: Option<Via>) -> String {
    match (port, via) {
        (Some(p), Some(Via::Connect)) => format!("{name}:{p}"),
        (Some(p), Some(Via::Http)) if p != 80 => format!("{name}:{p}"),
        _ => name.to_owned(),
    }
}

fn name_strategy() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["api", "Api", "API", "x-1", "a"]),
        prop::sample::select(vec!["example", "Example", "ex"]),
        prop::sample::select(vec!["com", "COM", "io"]),
        any::<bool>(),
    )
        .prop_map(|(a, b, c, dot)| format!("{a}.{b}.{c}{}", if dot { "." } else { "" }))
}

proptest! {
    #[test]
    fn received_regex_agrees_with_the_regex_crate(
        re in prop::sample::select(vec![
            r"[A-Z][a-z]+\.example\.com",
            r"api\.[Ee]xample\.(com|io)",
            r".*\.COM",
            r".*\.",
            r"[a-z.]+:(8080|443)",
            r"(?i)api\.example\.com(:\d+)?",
            r"[^:]*",
            r"a.*:\d{2,3}",
        ]),
        name in name_strategy(),
        port in prop::option::of(prop::sample::select(vec![80u16, 443, 8080, 99])),
        via in prop::option::of(prop::sample::select(Via::ALL.to_vec())),
    ) {
        let e = Engine::compile(&format!("allow ~{re} received\n")).unwrap();
        let p = e.policy("default").unwrap();
        let q = Query { name: name.as_bytes(), port, via };
        let want = regex::Regex::new(&format!("^(?:{re})$")).unwrap().is_match(&raw(&name, port, via));
        prop_assert_eq!(e.check(p, &q).is_allow(), want);
        // The engine file gives the same.
        let back = Engine::from_bytes(&e.to_bytes()).unwrap();
        prop_assert_eq!(back.check(back.policy("default").unwrap(), &q).is_allow(), want);
    }
}

#[test]
fn diff_says_it_cannot_search_received_rules() {
    let a = Engine::compile("allow ~Api\\.io received\n").unwrap();
    let b = Engine::compile("allow ~api\\.io\n").unwrap();
    let d = hostgate::diff(
        (&a, a.default_policy()),
        (&b, b.default_policy()),
        &hostgate::DiffOptions::default(),
    );
    assert!(!d.complete);
    assert!(
        d.incomplete.iter().any(|g| g.contains("received")),
        "{:?}",
        d.incomplete
    );
}
