//! A table test per row of the contract (`docs/policy-language.md`) and of the decisions in
//! `docs/semantics.md`. Every expected value is written by hand from those documents.
//!
//! Each row is asked of the engine *and* of the naive reference (`hostgate-reference`), so the
//! table also pins the reference that the differential tests trust. Mismatches are collected and
//! reported together, one line each.

use hostgate::{Action, Engine, Query, Reason, Severity, Verdict, Via};
use hostgate_reference::Policies;

/// The expected outcome of one query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum E {
    /// Allowed by the rule on this line.
    A(u32),
    /// Denied by the rule on this line.
    D(u32),
    /// No rule matched; the default is allow.
    DefA,
    /// No rule matched; the default is deny.
    DefD,
    /// Invalid name: deny, `invalid-name`.
    Inv,
}
use E::*;

fn outcome(action: Action, reason: Reason, line: Option<u32>) -> Result<E, String> {
    Ok(match (action, reason, line) {
        (Action::Allow, Reason::Matched, Some(l)) => A(l),
        (Action::Deny, Reason::Matched, Some(l)) => D(l),
        (Action::Allow, Reason::Default, None) => DefA,
        (Action::Deny, Reason::Default, None) => DefD,
        (Action::Deny, Reason::InvalidName, None) => Inv,
        other => return Err(format!("malformed verdict {other:?}")),
    })
}

fn engine_outcome(v: &Verdict<'_>) -> Result<E, String> {
    outcome(v.action, v.reason, v.rule.map(|r| r.line()))
}

/// One query row: name, port, via, expected outcome.
type Row<'a> = (&'a str, Option<u16>, Option<Via>, E);
/// The same with the name as raw bytes (for non-UTF-8 input).
type ByteRow<'a> = (&'a [u8], Option<u16>, Option<Via>, E);

/// Asks every row of `policy` in `text` of both implementations; returns the mismatches.
fn ask(text: &str, policy: &str, rows: &[Row<'_>]) -> Vec<String> {
    let rows: Vec<ByteRow<'_>> = rows
        .iter()
        .map(|&(n, p, v, e)| (n.as_bytes(), p, v, e))
        .collect();
    ask_bytes(text, policy, &rows)
}

fn ask_bytes(text: &str, policy: &str, rows: &[ByteRow<'_>]) -> Vec<String> {
    let mut bad = Vec::new();
    let reference = match Policies::parse(text) {
        Ok(r) => Some(r),
        Err(e) => {
            bad.push(format!("reference rejects the policy: {e}\n{text}"));
            None
        }
    };
    let engine = match Engine::compile(text) {
        Ok(e) => Some(e),
        Err(e) => {
            bad.push(format!("engine rejects the policy: {e}\n{text}"));
            None
        }
    };
    for &(name, port, via, want) in rows {
        let shown = String::from_utf8_lossy(name);
        let what = format!("policy {policy:?}: {shown:?} port {port:?} via {via:?}");
        if let Some(r) = &reference {
            match r.check(policy, name, port, via) {
                None => bad.push(format!("reference: no policy {policy:?}")),
                Some(v) => match outcome(v.action, v.reason, v.line) {
                    Ok(got) if got == want => {}
                    got => bad.push(format!("reference: {what}: want {want:?}, got {got:?}")),
                },
            }
        }
        if let Some(e) = &engine {
            let Some(p) = e.policy(policy) else {
                bad.push(format!("engine: no policy {policy:?}"));
                continue;
            };
            let q = Query { name, port, via };
            let v = e.check(p, &q);
            match engine_outcome(&v) {
                Ok(got) if got == want => {}
                got => bad.push(format!("engine: {what}: want {want:?}, got {got:?}")),
            }
            if v.policy != p {
                bad.push(format!(
                    "engine: {what}: verdict names policy {:?}",
                    v.policy
                ));
            }
        }
    }
    bad
}

fn n(name: &str, e: E) -> Row<'_> {
    (name, None, None, e)
}

fn assert_clean(bad: Vec<String>) {
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// 1. Names

#[test]
fn names_trailing_dot_case_and_invalid_names_under_allow_star() {
    let text = "default allow\nallow *\n";
    let l63 = "a".repeat(63);
    let l64 = "a".repeat(64);
    let max = format!("{}.{}", [l63.as_str(); 3].join("."), "a".repeat(61)); // 253 bytes
    let over = format!("{max}a"); // 254 bytes
    let huge = "a.".repeat(600); // > 1024 bytes
    let ok63 = format!("{l63}.com");
    let bad64 = format!("{l64}.com");
    let max_dot = format!("{max}.");
    let rows = [
        n("example.com", A(2)),
        n("example.com.", A(2)),
        n("EXAMPLE.Com.", A(2)),
        n("_dmarc.example.com", A(2)),
        n("x-1.io", A(2)),
        n("1.2.3.com", A(2)),
        n("localhost", A(2)),
        n(&ok63, A(2)),
        n(&max, A(2)),
        n(&max_dot, A(2)),
        // Invalid: deny whatever the rules (`allow *`) and the default (`allow`) say.
        n("example.com..", Inv),
        n("", Inv),
        n(".", Inv),
        n("..", Inv),
        n("a..b", Inv),
        n(".a.io", Inv),
        n("a b.io", Inv),
        n("a*.io", Inv),
        n("a/b.io", Inv),
        n("a:b", Inv),
        n(&bad64, Inv),
        n(&over, Inv),
        n(&huge, Inv),
        // Numeric last label that is not a dotted quad (semantics: AmbiguousNumeric).
        n("1.2.3", Inv),
        n("a.123", Inv),
        n("127.1", Inv),
        n("010.0.0.1", Inv),
        n("0x7f.0.0.1", Inv),
        n("a.0x1f", Inv),
        n("1.2.3.4.5", Inv),
        // Bad IP literals.
        n("[1.2.3.4]", Inv),
        n("[::1", Inv),
        n("fe80::1%eth0", Inv),
        // IP literals are IPs: `*` does not match them, the default decides.
        n("192.0.2.1", DefA),
        n("192.0.2.1.", DefA),
        n("[2001:db8::1]", DefA),
        n("2001:db8::1", DefA),
    ];
    let mut bad = ask(text, "default", &rows);
    bad.extend(ask_bytes(
        text,
        "default",
        &[
            (b"\xff.io", None, None, Inv),
            (b"a\0.io", None, None, Inv),
            (b"caf\xc3\xa9.io", None, None, A(2)), // café.io, valid UTF-8
        ],
    ));
    assert_clean(bad);
}

#[test]
fn idna_patterns_and_queries() {
    let text = "allow bücher.example\nallow *.xn--mnchen-3ya.de\ndeny ~xn--.*\\.io\n\
                default allow\n";
    let rows = [
        n("bücher.example", A(1)),
        n("BÜCHER.example", A(1)),
        n("Bücher.Example.", A(1)),
        n("xn--bcher-kva.example", A(1)),
        n("XN--BCHER-KVA.EXAMPLE", A(1)),
        n("bucher.example", DefA),
        n("a.bücher.example", DefA),
        n("a.münchen.de", A(2)),
        n("a.MÜNCHEN.de.", A(2)),
        n("münchen.de", DefA),
        // The regex sees the A-label form.
        n("bücher.io", D(3)),
        n("bucher.io", DefA),
        // Full-width label separator (UTS #46 maps U+3002 to a dot).
        n("bücher\u{3002}example", A(1)),
        // Full-width digits become an IP after UTS #46: `*`-like rules cannot see it.
        n("\u{ff11}\u{ff19}\u{ff12}.0.2.1", DefA),
    ];
    assert_clean(ask(text, "default", &rows));
}

// ---------------------------------------------------------------------------------------------
// 2. Patterns

#[test]
fn exact_name() {
    let text = "allow api.kadath.io\nallow API.Leng.COM\n";
    let rows = [
        n("api.kadath.io", A(1)),
        n("API.Kadath.IO.", A(1)),
        n("kadath.io", DefD),
        n("a.api.kadath.io", DefD),
        n("xapi.kadath.io", DefD),
        n("api.kadath.iox", DefD),
        n("api.kadath.io..", Inv),
        n("api.leng.com", A(2)),
    ];
    assert_clean(ask(text, "default", &rows));
}

#[test]
fn one_label_wildcard() {
    let text = "allow *.kadath.io\n";
    let rows = [
        n("a.kadath.io", A(1)),
        n("A.KADATH.IO.", A(1)),
        n("_x.kadath.io", A(1)),
        n("bücher.kadath.io", A(1)),
        n("kadath.io", DefD),
        n("a.b.kadath.io", DefD),
        n("xkadath.io", DefD),
        n("a.xkadath.io", DefD),
        n("a.kadath.io.x", DefD),
    ];
    assert_clean(ask(text, "default", &rows));
}

#[test]
fn deep_wildcard() {
    let text = "allow **.kadath.io\n";
    let rows = [
        n("a.kadath.io", A(1)),
        n("a.b.kadath.io", A(1)),
        n("a.b.c.d.kadath.io.", A(1)),
        n("kadath.io", DefD),
        n("xkadath.io", DefD),
        n("a.xkadath.io", DefD),
        n("kadath.io.evil.com", DefD),
    ];
    assert_clean(ask(text, "default", &rows));
}

#[test]
fn dot_apex_and_below() {
    let text = "allow .kadath.io\n";
    let rows = [
        n("kadath.io", A(1)),
        n("kadath.io.", A(1)),
        n("a.kadath.io", A(1)),
        n("a.b.kadath.io", A(1)),
        n("xkadath.io", DefD),
        n("kadath.iox", DefD),
        n("a.xkadath.io", DefD),
        n("io", DefD),
    ];
    assert_clean(ask(text, "default", &rows));
}

#[test]
fn in_label_globs() {
    let text = "allow api-*.kadath.io\nallow *-prod.x.io\nallow a.*.b.io\nallow v*x*z.q.io\n";
    let rows = [
        n("api-v2.kadath.io", A(1)),
        n("api-.kadath.io", A(1)), // `*` is zero or more
        n("API-V2.kadath.io.", A(1)),
        n("api.kadath.io", DefD),
        n("x.api-v2.kadath.io", DefD),
        n("api-v2.x.kadath.io", DefD), // never across a dot
        n("eu-prod.x.io", A(2)),
        n("-prod.x.io", A(2)),
        n("prod.x.io", DefD),
        n("eu-prod.y.x.io", DefD),
        n("a.eu-prod.x.io", DefD),
        n("eu-prodx.x.io", DefD),
        n("a.x.b.io", A(3)),
        n("a.xy-z.b.io", A(3)),
        n("a.b.io", DefD),
        n("a.x.y.b.io", DefD),
        n("b.x.b.io", DefD),
        n("vxz.q.io", A(4)),
        n("v1x2z.q.io", A(4)),
        n("vz.q.io", DefD),
        n("vxzq.q.io", DefD),
    ];
    assert_clean(ask(text, "default", &rows));
}

#[test]
fn regex_whole_match() {
    let text = "allow ~ads[0-9]+\\.example\\.net\nallow ~kadath\n";
    let rows = [
        n("ads1.example.net", A(1)),
        n("ADS12.Example.Net.", A(1)),
        n("ads.example.net", DefD),
        n("xads1.example.net", DefD),
        n("ads1.example.net.evil.com", DefD),
        n("ads1xexample.net", DefD),
        n("kadath", A(2)),
        n("kadath.io", DefD),
        n("a.kadath", DefD),
    ];
    assert_clean(ask(text, "default", &rows));
    // A regex never matches an IP, even `.*`.
    let text = "default allow\ndeny ~.*\n";
    let rows = [
        n("a.b", D(2)),
        n("192.0.2.1", DefA),
        n("2001:db8::1", DefA),
        n("a..b", Inv),
    ];
    assert_clean(ask(text, "default", &rows));
}

#[test]
fn ips_and_cidrs() {
    let text = "allow 192.0.2.7\nallow 203.0.113.0/24\nallow 2001:db8::/32\nallow 2001:db9::7\n";
    let rows = [
        n("192.0.2.7", A(1)),
        n("192.0.2.7.", A(1)),
        n("\u{ff11}\u{ff19}\u{ff12}.0.2.7", A(1)), // full-width digits
        n("192.0.2.8", DefD),
        n("203.0.113.0", A(2)),
        n("203.0.113.255", A(2)),
        n("203.0.114.0", DefD),
        n("203.0.112.255", DefD),
        n("::ffff:203.0.113.9", A(2)), // v4-mapped v6 is the v4 address
        n("2001:db8::1", A(3)),
        n("[2001:DB8:FFFF::1]", A(3)),
        n("2001:db9::1", DefD),
        n("2001:db9::7", A(4)),
        n("2001:db9:0::7", A(4)),
        n("[2001:db9::7]", A(4)),
        n("192.0.2.7.example", DefD),
        n("203.0.113.1.in-addr.arpa", DefD),
    ];
    assert_clean(ask(text, "default", &rows));
}

#[test]
fn a_name_never_matches_a_cidr_and_an_ip_never_matches_star() {
    let text = "allow 0.0.0.0/0\nallow ::/0\n";
    let rows = [
        n("example.com", DefD),
        n("8.8.8.8", A(1)),
        n("::1", A(2)),
        n("[::1]", A(2)),
    ];
    assert_clean(ask(text, "default", &rows));
    let text = "allow *\n";
    let rows = [n("example.com", A(1)), n("8.8.8.8", DefD), n("::1", DefD)];
    assert_clean(ask(text, "default", &rows));
}

// ---------------------------------------------------------------------------------------------
// 3. Rules: ports, DNS (port-less) queries, via

#[test]
fn ports_and_the_dns_rule_for_allow() {
    let text = "allow **.stripe.com port 443\n\
                allow graph.facebook.com port 443,8443 via tls,http\n\
                allow .example.org port 8000-8999\n\
                allow multi.io port 80,8000-8001,9000\n";
    let t = Some(Via::Tls);
    let rows: Vec<Row<'_>> = vec![
        ("api.stripe.com", Some(443), None, A(1)),
        ("api.stripe.com", Some(80), None, DefD),
        ("api.stripe.com", None, None, A(1)), // DNS: reachable on some port
        ("api.stripe.com", None, Some(Via::Dns), A(1)),
        ("graph.facebook.com", Some(8443), t, A(2)),
        ("graph.facebook.com", Some(443), Some(Via::Http), A(2)),
        ("graph.facebook.com", Some(444), t, DefD),
        ("graph.facebook.com", Some(443), Some(Via::Dns), DefD),
        ("graph.facebook.com", None, t, A(2)),
        ("example.org", Some(8000), None, A(3)),
        ("a.example.org", Some(8999), None, A(3)),
        ("example.org", Some(7999), None, DefD),
        ("example.org", Some(9000), None, DefD),
        ("a.b.example.org", None, None, A(3)),
        ("multi.io", Some(80), None, A(4)),
        ("multi.io", Some(8001), None, A(4)),
        ("multi.io", Some(9000), None, A(4)),
        ("multi.io", Some(8002), None, DefD),
        ("multi.io", Some(81), None, DefD),
    ];
    assert_clean(ask(text, "default", &rows));
}

#[test]
fn ports_and_the_dns_rule_for_deny() {
    let text =
        "default allow\ndeny api.leng.com port 443\ndeny x.io port 1-1024\nallow x.io port 1-100\n";
    let rows: Vec<Row<'_>> = vec![
        ("api.leng.com", Some(443), None, D(2)),
        ("api.leng.com", Some(80), None, DefA),
        ("api.leng.com", None, None, DefA), // port-less: a port-limited deny does not match
        ("api.leng.com", None, Some(Via::Dns), DefA),
        ("x.io", Some(1), None, D(3)),
        ("x.io", Some(1024), None, D(3)),
        ("x.io", Some(1025), None, DefA),
        ("x.io", None, None, A(4)), // deny skipped, the port-limited allow matches
    ];
    assert_clean(ask(text, "default", &rows));
}

#[test]
fn via_limits_and_via_less_queries() {
    let text = "default allow\n\
                allow a.io via tls,http\n\
                deny a.io\n\
                deny b.io via dns\n\
                allow c.io via connect port 443\n\
                deny c.io\n";
    let rows: Vec<Row<'_>> = vec![
        ("a.io", None, Some(Via::Tls), A(2)),
        ("a.io", Some(443), Some(Via::Http), A(2)),
        ("a.io", None, Some(Via::Connect), D(3)),
        ("a.io", None, Some(Via::Dns), D(3)),
        ("a.io", None, None, D(3)), // nothing proves the source: the via-limited allow is skipped
        ("b.io", None, Some(Via::Dns), D(4)),
        ("b.io", None, Some(Via::Tls), DefA),
        ("b.io", None, None, D(4)), // fail closed: the via-limited deny matches
        ("c.io", Some(443), Some(Via::Connect), A(5)),
        ("c.io", Some(80), Some(Via::Connect), D(6)),
        ("c.io", None, Some(Via::Connect), A(5)),
        ("c.io", Some(443), Some(Via::Tls), D(6)),
        ("c.io", Some(443), None, D(6)),
    ];
    assert_clean(ask(text, "default", &rows));
}

/// Listing every source is still a `via` limit: a source-less query does not prove any of them,
/// so the allow does not match (semantics, "Query without a source"); a deny still does.
#[test]
fn via_listing_every_source_is_still_a_via_limit() {
    let text = "allow d.io via tls,http,connect,dns\n\
                policy p\ndefault allow\ndeny e.io via dns,connect,http,tls\n";
    let rows: Vec<Row<'_>> = vec![
        ("d.io", None, Some(Via::Tls), A(1)),
        ("d.io", Some(443), Some(Via::Dns), A(1)),
        ("d.io", None, None, DefD),
        ("d.io", Some(443), None, DefD),
    ];
    assert_clean(ask(text, "default", &rows));
    let rows: Vec<Row<'_>> = vec![
        ("e.io", None, None, D(4)),
        ("e.io", None, Some(Via::Http), D(4)),
    ];
    assert_clean(ask(text, "p", &rows));
}

#[test]
fn rule_options_in_any_order() {
    let text = "allow a.io id first via tls port 443\n\
                allow b.io via http id second port 80\n\
                allow c.io port 80 id third via dns\n";
    let rows: Vec<Row<'_>> = vec![
        ("a.io", Some(443), Some(Via::Tls), A(1)),
        ("a.io", Some(80), Some(Via::Tls), DefD),
        ("b.io", Some(80), Some(Via::Http), A(2)),
        ("b.io", Some(80), Some(Via::Tls), DefD),
        ("c.io", Some(80), Some(Via::Dns), A(3)),
    ];
    assert_clean(ask(text, "default", &rows));
    let e = Engine::compile(text).unwrap();
    let p = e.policy("default").unwrap();
    let v = e.check(p, &Query::new("b.io").port(80).via(Via::Http));
    assert_eq!(
        v.rule.map(|r| (r.index(), r.id().to_string())),
        Some((1, "second".to_string()))
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Precedence

/// One policy text in which the three modes give three different answers.
#[test]
fn the_three_precedence_modes_disagree() {
    let rules = "allow .kadath.io\ndeny **.kadath.io\nallow api.kadath.io\n";
    for (mode, want) in [
        ("first-match", A(2)),
        ("deny-overrides", D(3)),
        ("most-specific", A(4)),
    ] {
        let text = format!("precedence {mode}\n{rules}");
        let rows = [
            n("api.kadath.io", want),
            n("kadath.io", A(2)),
            n(
                "x.kadath.io",
                if mode == "first-match" { A(2) } else { D(3) },
            ),
        ];
        assert_clean(ask(&text, "default", &rows));
    }
    // Omitted precedence is first-match.
    assert_clean(ask(rules, "default", &[n("api.kadath.io", A(1))]));
}

#[test]
fn deny_overrides() {
    let text = "precedence deny-overrides\ndefault allow\n\
                allow a.io\ndeny *\ndeny a.io\nallow 10.0.0.0/8\ndeny 10.1.0.0/16 port 22\n";
    let rows: Vec<Row<'_>> = vec![
        ("a.io", None, None, D(4)), // the first matching deny in file order
        ("b.io", None, None, D(4)),
        ("10.1.2.3", None, None, A(6)), // port-less: the port-limited deny does not match
        ("10.1.2.3", Some(22), None, D(7)),
        ("10.2.0.1", Some(22), None, A(6)),
        ("11.0.0.1", None, None, DefA),
    ];
    assert_clean(ask(text, "default", &rows));
}

#[test]
fn most_specific_literal_characters() {
    // api-*.kadath.io (14 literal characters) ranks before *.kadath.io (10).
    let text = "precedence most-specific\ndeny *.kadath.io\nallow api-*.kadath.io\n";
    assert_clean(ask(
        text,
        "default",
        &[n("api-x.kadath.io", A(3)), n("web.kadath.io", D(2))],
    ));
    // *.x, **.x and .x tie (10 each): deny before allow, then file order.
    let text = "precedence most-specific\nallow .kadath.io\nallow **.kadath.io\ndeny *.kadath.io\n";
    assert_clean(ask(
        text,
        "default",
        &[
            n("a.kadath.io", D(4)),
            n("kadath.io", A(2)),
            n("a.b.kadath.io", A(2)),
        ],
    ));
    // A longer suffix beats a shorter one, whatever the kinds and the file order.
    let text = "precedence most-specific\nallow **.io\ndeny .kadath.io\nallow *.api.kadath.io\n";
    assert_clean(ask(
        text,
        "default",
        &[
            n("x.api.kadath.io", A(4)),
            n("y.x.api.kadath.io", D(3)),
            n("leng.io", A(2)),
        ],
    ));
    // Exact names come first even against a glob with as many literal characters, and even
    // when the glob is a deny.
    let text = "precedence most-specific\ndeny a*.kadath.io\nallow a.kadath.io\n";
    assert_clean(ask(
        text,
        "default",
        &[n("a.kadath.io", A(3)), n("ab.kadath.io", D(2))],
    ));
    // Exact ties: deny before allow.
    let text = "precedence most-specific\nallow a.io\ndeny A.IO\n";
    assert_clean(ask(text, "default", &[n("a.io", D(3))]));
    // IDNA: literal characters are counted on the normalized (A-label) text:
    // *.xn--bcher-kva.example (22) beats **.example (8) although it comes later.
    let text = "precedence most-specific\nallow **.example\ndeny *.bücher.example\n";
    assert_clean(ask(text, "default", &[n("a.bücher.example", D(3))]));
}

#[test]
fn most_specific_classes_regex_and_star() {
    // ~regex after all patterns; `*` last.
    let text = "precedence most-specific\ndeny *\nallow ~.*\\.kadath\\.io\ndeny *.kadath.io\n\
                allow ~a.*\n";
    let rows = [
        n("a.kadath.io", D(4)),   // the pattern beats both regexes
        n("a.b.kadath.io", A(3)), // regexes beat `*`; both regexes match, file order
        n("apple.io", A(5)),
        n("leng.com", D(2)),
    ];
    assert_clean(ask(text, "default", &rows));
    // Regex ties: deny before allow.
    let text = "precedence most-specific\nallow ~a.*\ndeny ~.*a\n";
    assert_clean(ask(
        text,
        "default",
        &[n("aba", D(3)), n("ab", A(2)), n("ba", D(3))],
    ));
}

#[test]
fn most_specific_cidrs() {
    let text = "precedence most-specific\n\
                allow 10.0.0.0/8\ndeny 10.1.0.0/16\nallow 10.1.2.0/24\ndeny 10.1.2.3\n\
                allow 2001:db8::/32\ndeny 2001:db8:1::/48\n";
    let rows = [
        n("10.1.2.3", D(5)),
        n("10.1.2.4", A(4)),
        n("10.1.3.3", D(3)),
        n("10.2.0.1", A(2)),
        n("2001:db8:1::1", D(7)),
        n("2001:db8:2::1", A(6)),
    ];
    assert_clean(ask(text, "default", &rows));
    // first-match on the same rules: file order.
    let fm = text.replace("precedence most-specific\n", "precedence first-match\n");
    assert_clean(ask(
        &fm,
        "default",
        &[n("10.1.2.3", A(2)), n("2001:db8:1::1", A(6))],
    ));
}

// ---------------------------------------------------------------------------------------------
// 3. Policies, ids

#[test]
fn many_policies_in_one_file() {
    let text = "allow a.io\n\
                policy egress\n\
                default allow\n\
                deny b.io\n\
                policy other\n\
                precedence deny-overrides\n\
                allow b.io\n\
                deny *\n";
    assert_clean(ask(text, "default", &[n("a.io", A(1)), n("b.io", DefD)]));
    assert_clean(ask(text, "egress", &[n("a.io", DefA), n("b.io", D(4))]));
    assert_clean(ask(text, "other", &[n("b.io", D(8)), n("1.2.3.4", DefD)]));
    let e = Engine::compile(text).unwrap();
    let ids: Vec<u32> = ["default", "egress", "other"]
        .iter()
        .map(|name| e.policy(name).unwrap().index())
        .collect();
    assert_eq!(ids, [0, 1, 2]);
    assert_eq!(e.policy("nope"), None);
    assert_eq!(e.policy_name(e.policy("egress").unwrap()), Some("egress"));
    // Index and id are per policy.
    let v = e.check(e.policy("egress").unwrap(), &Query::new("b.io"));
    assert_eq!(
        v.rule.map(|r| (r.index(), r.id().to_string(), r.line())),
        Some((0, "egress:4".to_string(), 4))
    );
    let v = e.check(e.policy("other").unwrap(), &Query::new("b.io"));
    assert_eq!(
        v.rule.map(|r| (r.index(), r.id().to_string(), r.line())),
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

    // An empty file, or only comments: one policy `default` that denies everything.
    for text in ["", "# nothing\n\n   # here\n"] {
        assert_clean(ask(text, "default", &[n("x.io", DefD), n("1.2.3.4", DefD)]));
    }
    // A statement before the first `policy` makes `default` exist.
    let text = "default allow\npolicy a\n";
    assert_clean(ask(text, "default", &[n("x.io", DefA)]));
    assert_clean(ask(text, "a", &[n("x.io", DefD)]));
}

#[test]
fn ids_default_to_policy_colon_line() {
    let text = "allow a.io id my-a\n# comment\n\nallow b.io   # trailing\npolicy p\nallow c.io\n";
    let e = Engine::compile(text).unwrap();
    let d = e.policy("default").unwrap();
    let p = e.policy("p").unwrap();
    let rule = |pol, name: &str| {
        let v = e.check(pol, &Query::new(name));
        v.rule.map(|r| (r.index(), r.id().to_string(), r.line()))
    };
    assert_eq!(rule(d, "a.io"), Some((0, "my-a".to_owned(), 1)));
    assert_eq!(rule(d, "b.io"), Some((1, "default:4".to_owned(), 4)));
    assert_eq!(rule(p, "c.io"), Some((0, "p:6".to_owned(), 6)));
    let r = Policies::parse(text).unwrap();
    let v = r.check("default", b"b.io", None, None).unwrap();
    assert_eq!(
        (v.rule_index, v.id.as_deref()),
        (Some(1), Some("default:4"))
    );
}

#[test]
fn comments() {
    // `#` starts a comment at the start of a line or after white space, not inside a token.
    let text = "#allow a.io\nallow b.io# not a comment\n";
    assert!(
        Engine::compile(text).is_err(),
        "`b.io#` is not a valid pattern"
    );
    let text = "  # indented comment\nallow b.io\t# tab then comment\n";
    assert_clean(ask(text, "default", &[n("b.io", A(2)), n("a.io", DefD)]));
}

// ---------------------------------------------------------------------------------------------
// Compile errors

/// The 1-based character columns an error about `token` on `line` may point at: the token
/// itself, or the column right after it (where a missing value would be, as in `allow ~`).
fn span(line: &str, token: &str) -> (u32, u32) {
    let at = line
        .find(token)
        .unwrap_or_else(|| panic!("{token:?} not in {line:?}"));
    let start = line[..at].chars().count() as u32 + 1;
    (start, start + token.chars().count() as u32)
}

/// An error case: the line text, and the token the error must point into.
struct Bad {
    line: &'static str,
    token: &'static str,
}

const fn bad(line: &'static str, token: &'static str) -> Bad {
    Bad { line, token }
}

/// One error per line, each pointing into its token. Lines needing context (duplicate ids and
/// policies, repeated settings) are in [`errors_needing_context`].
const ERROR_LINES: &[Bad] = &[
    bad("allow a.**.b.io", "a.**.b.io"),
    bad("allow **", "**"),
    bad("allow **x.io", "**x.io"),
    bad("allow ***.io", "***.io"),
    bad("allow api.*", "api.*"),
    bad("allow *.*x", "*.*x"),
    bad("allow *.io*", "*.io*"),
    bad("allow 192.168.*.*", "192.168.*.*"),
    bad("allow a..b", "a..b"),
    bad("allow .a..b", ".a..b"),
    bad("allow 1.2.3", "1.2.3"),
    bad("allow *.123", "*.123"),
    bad("allow a_b$.io", "a_b$.io"),
    bad("allow a.io port 0", "0"),
    bad("allow a.io port 70000", "70000"),
    bad("allow a.io port 9000-8000", "9000-8000"),
    bad("allow a.io port 80,,443", "80,,443"),
    bad("allow a.io port", "port"),
    bad("allow a.io via smtp", "smtp"),
    bad("allow a.io via tls,tls", "tls,tls"),
    bad("allow a.io color red", "color"),
    bad("allow a.io port 80 port 443", "port 443"),
    bad("permit a.io", "permit"),
    bad("allow ~a(b", "~a(b"),
    bad("allow ~", "~"),
    bad("deny ~(a{1000}){1000}", "~(a{1000}){1000}"),
    bad("allow 203.0.113.5/24", "203.0.113.5/24"),
    bad("allow 2001:db8::1/32", "2001:db8::1/32"),
    bad("allow 10.0.0.0/33", "10.0.0.0/33"),
    bad("precedence sometimes", "sometimes"),
    bad("default maybe", "maybe"),
    bad("policy", "policy"),
];

fn error_positions(text: &str) -> Vec<(u32, u32)> {
    match Engine::compile(text) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .errors()
            .iter()
            .inspect(|d| assert_eq!(d.severity, Severity::Error))
            .map(|d| (d.line, d.column))
            .collect(),
    }
}

#[test]
fn each_error_class_has_line_and_column() {
    let mut bad_rows = Vec::new();
    for case in ERROR_LINES {
        // Put the bad line third, after a valid line and a comment.
        let text = format!("allow ok.io\n# comment\n{}\nallow ok2.io\n", case.line);
        let (lo, hi) = span(case.line, case.token);
        let got = error_positions(&text);
        // At least one error, all on line 3, the first pointing into the bad token (a line may
        // hold more than one mistake: `allow a.io color red`).
        let ok = !got.is_empty() && got.iter().all(|g| g.0 == 3) && (lo..=hi).contains(&got[0].1);
        if !ok {
            bad_rows.push(format!(
                "{:?}: want errors on line 3, the first at 3:{lo}..={hi}, got {got:?}",
                case.line
            ));
        }
        if Policies::parse(&text).is_ok() {
            bad_rows.push(format!("reference accepts {:?}", case.line));
        }
    }
    assert_clean(bad_rows);
}

#[test]
fn errors_needing_context() {
    // (text, line, token on that line)
    let cases: &[(&str, u32, &str)] = &[
        ("allow a.io id x\nallow b.io id x\n", 2, "x"),
        ("policy a\npolicy b\npolicy a\n", 3, "a"),
        (
            "precedence first-match\nprecedence most-specific\n",
            2,
            "precedence most-specific",
        ),
        (
            "default deny\nallow a.io\ndefault allow\n",
            3,
            "default allow",
        ),
        (
            "policy a\ndefault deny\npolicy b\ndefault allow\ndefault deny\n",
            5,
            "default deny",
        ),
    ];
    let mut bad_rows = Vec::new();
    for &(text, line, token) in cases {
        let line_text = text.lines().nth(line as usize - 1).unwrap();
        let (lo, hi) = if line_text == token {
            (1, line_text.chars().count() as u32)
        } else {
            let at = line_text.rfind(token).unwrap();
            let start = line_text[..at].chars().count() as u32 + 1;
            (start, start + token.chars().count() as u32 - 1)
        };
        let got = error_positions(text);
        // Accept a column anywhere from the statement start to the end of the token.
        let ok = got.len() == 1 && got[0].0 == line && (1..=hi).contains(&got[0].1);
        if !ok {
            bad_rows.push(format!(
                "{text:?}: want one error at {line}:{lo}..={hi}, got {got:?}"
            ));
        }
        if Policies::parse(text).is_ok() {
            bad_rows.push(format!("reference accepts {text:?}"));
        }
    }
    // Same id in two policies is fine.
    assert!(Engine::compile("allow a.io id x\npolicy p\nallow b.io id x\n").is_ok());
    assert_clean(bad_rows);
}

#[test]
fn all_errors_of_a_file_are_reported_in_order() {
    let mut text = String::new();
    let mut want = Vec::new();
    for (i, case) in ERROR_LINES.iter().enumerate() {
        text.push_str(case.line);
        text.push('\n');
        text.push_str("allow fine.io  # a valid line between errors\n");
        want.push(((2 * i + 1) as u32, span(case.line, case.token)));
    }
    let errs = Engine::compile(&text).expect_err("the file is full of errors");
    let mut got: Vec<(u32, u32)> = errs.errors().iter().map(|d| (d.line, d.column)).collect();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(got, sorted, "errors in text order:\n{errs}");
    // Keep the first error of each line.
    got.dedup_by_key(|g| g.0);
    let lines: Vec<u32> = got.iter().map(|g| g.0).collect();
    let want_lines: Vec<u32> = want.iter().map(|w| w.0).collect();
    assert_eq!(
        lines, want_lines,
        "one error per bad line, in line order:\n{errs}"
    );
    for ((line, col), (_, (lo, hi))) in got.iter().zip(&want) {
        assert!(
            (lo..=hi).contains(&col),
            "line {line}: column {col} not in {lo}..={hi}"
        );
    }
    // Rendered as FILE:LINE:COL: message.
    let rendered = errs.render("p.hg");
    let all: Vec<(u32, u32)> = errs.errors().iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(rendered.lines().count(), all.len());
    for (l, (line, col)) in rendered.lines().zip(&all) {
        assert!(l.starts_with(&format!("p.hg:{line}:{col}: ")), "{l}");
    }
}

#[test]
fn messages_say_what_was_meant() {
    let errs = Engine::compile("allow *.*x\nallow api.*\nallow 203.0.113.5/24\n").unwrap_err();
    let all = errs.to_string();
    assert!(
        all.contains("203.0.113.0/24"),
        "CIDR help names the network:\n{all}"
    );
    assert!(
        all.contains("*.x") || all.contains("**.x") || all.contains("*.*x") || all.contains("*x"),
        "{all}"
    );
}

#[test]
fn glued_wildcard_compiles_with_a_warning() {
    let e = Engine::compile("allow *google.com\n").expect("compiles");
    let w = e.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!((w[0].severity, w[0].line), (Severity::Warning, 1));
    assert_clean(ask(
        "allow *google.com\n",
        "default",
        &[
            n("google.com", A(1)),
            n("xgoogle.com", A(1)),
            n("a.google.com", DefD),
        ],
    ));
}

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
