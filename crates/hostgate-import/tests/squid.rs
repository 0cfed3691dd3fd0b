//! Squid `squid.conf`: the table of `tests/data/squid/cases.tsv` (the same table
//! `scripts/test.d/diff-squid.sh` runs against the real Squid), refusals and warnings at their
//! positions, includes, and a property test against a matcher written from Squid's
//! documentation of `dstdomain`.

mod common;
use common::*;

use std::path::Path;

use hostgate::{Action, Format, Query, Via};
use hostgate_import::{import, Options};
use proptest::prelude::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/squid");

fn conf(text: &str) -> Result<hostgate_import::Imported, Vec<hostgate_import::ImportDiagnostic>> {
    import(
        Format::Squid,
        &[("squid.conf", text.as_bytes())],
        &Options::default().sandboxed(true),
    )
}

#[test]
fn the_case_table() {
    let configs = case_table(Format::Squid, DATA, ".conf", 60);
    every_config_has_cases(DATA, &configs, stem);
}

#[test]
fn rules_point_at_their_lines() {
    let i =
        conf("acl a dstdomain -n .a.test\n\nhttp_access allow a\nhttp_access deny all\n").unwrap();
    let p = &i.policies()[0];
    assert_eq!(p.precedence, hostgate::Precedence::FirstMatch);
    assert_eq!(p.rules[0].pattern, ".a.test");
    assert_eq!(p.rules[0].id.as_deref(), Some("squid.conf:3:0"));
    assert_eq!(p.rules[0].line, 3);
    assert_eq!(p.rules[0].via, [Via::Http, Via::Connect]);
    assert_eq!(i.sources()[0].object, "http_access");
    let e = i.engine();
    let pid = e.policy("default").unwrap();
    let v = e.check(pid, &Query::new("x.a.test").port(443).via(Via::Connect));
    assert_eq!(v.rule.unwrap().line(), 3);
    let v = e.check(pid, &Query::new("b.test").port(80).via(Via::Http));
    assert_eq!((v.action, v.rule.unwrap().line()), (Action::Deny, 4));
    // No ssl_bump: Squid never looks at the SNI, every SNI passes.
    assert_eq!(verdict(&i, "b.test", 443, Via::Tls), Action::Allow);
    // Squid decides nothing about DNS questions.
    let dns = e.check(pid, &Query::new("x.a.test").via(Via::Dns));
    assert_eq!(dns.action, Action::Deny);
}

fn errors(text: &str) -> Vec<String> {
    conf(text)
        .err()
        .unwrap_or_else(|| panic!("accepted: {text}"))
        .iter()
        .map(|d| d.to_string())
        .collect()
}

fn warnings(text: &str) -> Vec<String> {
    conf(text)
        .unwrap_or_else(|e| panic!("{text}: {e:?}"))
        .warnings()
        .iter()
        .map(|d| d.to_string())
        .collect()
}

#[test]
fn refuses_what_squid_refuses_at_the_position() {
    // Squid: "ERROR: 'bar.foo.com' is a subdomain of '.foo.com'", then FATAL: Bungled.
    let e = errors("acl a dstdomain -n bar.foo.com .foo.com\nhttp_access allow a\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(
            "squid.conf:1:32: Squid refuses to start: 'bar.foo.com' is a subdomain of '.foo.com'"
        ),
        "{e:?}"
    );
    // Also across two lines of the same acl, and the apex before its `.`.
    let e = errors("acl a dstdomain -n bar.foo.com\nacl a dstdomain -n .foo.com\n");
    assert!(e[0].starts_with("squid.conf:2:20:"), "{e:?}");
    let e = errors("acl a dstdomain -n foo.com .foo.com\n");
    assert!(
        e[0].contains("'.foo.com' is a subdomain of 'foo.com'"),
        "{e:?}"
    );
    // dstdomain takes no -i.
    let e = errors("acl a dstdomain -i foo.com\n");
    assert!(
        e[0].starts_with("squid.conf:1:17: unsupported ACL option: -i"),
        "{e:?}"
    );
    // An acl used before it is defined, an unknown type, a bad port, a bad action.
    assert!(
        errors("http_access allow x\nacl x dstdomain -n a.test\n")[0]
            .starts_with("squid.conf:1:19: acl `x` is not defined")
    );
    assert!(errors("acl x nosuchtype a\n")[0].starts_with("squid.conf:1:7: acl type `nosuchtype`"));
    assert!(errors("acl p port 0\n")[0].starts_with("squid.conf:1:12: port `0`"));
    assert!(errors("http_access permit all\n")[0]
        .starts_with("squid.conf:1:13: http_access action `permit`"));
    assert!(errors("acl a dstdomain -n a.test\nacl a port 80\n")[0]
        .contains("already exists with a different type"));
    // Regex forms that are not translated, at the character.
    let e = errors("acl r dstdom_regex -n ab\\d\n");
    assert!(
        e[0].starts_with("squid.conf:1:25: dstdom_regex `ab\\d`: `\\d`"),
        "{e:?}"
    );
    assert!(errors("acl r dstdom_regex -n *a\n")[0].contains("nothing to repeat"));
    // The tokenizer.
    assert!(errors("acl a dstdomain \"x\n")[0].starts_with("squid.conf:1:17: unterminated"));
    assert!(errors("acl a b\x01c\n")[0].contains("control character"));
    let bad = import(
        Format::Squid,
        &[("s.conf", b"acl a\xff")],
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(bad[0].to_string(), "s.conf:1:6: file is not UTF-8 text");
    // ssl_bump forms that need the certificate or the CONNECT target.
    let e = errors("acl s ssl::server_name --server-provided a.test\n");
    assert!(e[0].contains("certificate"), "{e:?}");
    let e = errors("acl s ssl::server_name a.test\nssl_bump splice s\nssl_bump terminate all\n");
    assert!(
        e[0].starts_with("squid.conf:2:17: ssl_bump decides on `s` (a name"),
        "{e:?}"
    );
    let e = errors("acl p port 443\nssl_bump splice p\n");
    assert!(
        e[0].starts_with("squid.conf:2:17: ssl_bump decides on `p` (a port)"),
        "{e:?}"
    );
    let e = errors("acl step1 at_step SslBump1\nssl_bump peek step1\nssl_bump peek all\n");
    assert!(e[0].contains("step 3"), "{e:?}");
    // Per-object makes no sense for one configuration.
    let o = Options::default().per_object(true);
    assert!(import(Format::Squid, &[("s.conf", b"")], &o).is_err());
    let o = Options::default().workload("app=web".parse().unwrap());
    assert!(import(Format::Squid, &[("s.conf", b"")], &o).is_err());
}

#[test]
fn warns_what_is_not_reproduced() {
    let w = warnings("acl t dstdomain -n example.net.\nhttp_access allow t\n");
    assert!(
        w[0].starts_with("squid.conf:1:20: warning: `example.net.` never matches"),
        "{w:?}"
    );
    assert!(
        w[0].contains("write `example.net` to match example.net"),
        "{w:?}"
    );
    // Redundant values: Squid warns and ignores them.
    let w = warnings("acl a dstdomain -n .foo.com bar.foo.com\nhttp_access allow a\n");
    assert!(
        w[0].contains("'bar.foo.com' is a subdomain of '.foo.com'"),
        "{w:?}"
    );
    // Reverse DNS of IP destinations without -n.
    let w = warnings("acl a dstdomain .foo.com\nhttp_access allow a\n");
    assert!(w[0].contains("without -n"), "{w:?}");
    // Client address, time, auth: taken to match, said at the line using it.
    let w = warnings("acl lan src 10.0.0.0/8\nacl a dstdomain -n a.test\nhttp_access allow lan a\nhttp_access deny all\n");
    let lan: Vec<&String> = w.iter().filter(|m| m.contains("acl `lan`")).collect();
    assert_eq!(lan.len(), 1, "{w:?}");
    assert!(
        lan[0].starts_with("squid.conf:3:19: warning: acl `lan`: acl type `src`"),
        "{w:?}"
    );
    let w = warnings("acl r dstdom_regex -n ^API\\.\nhttp_access allow r\n");
    assert!(
        w.iter().any(|m| m.contains("never matches a host name")),
        "{w:?}"
    );
    let w = warnings("acl a dstdomain -n *.foo.com\nhttp_access allow a\n");
    assert!(w[0].contains("`.foo.com` matches foo.com"), "{w:?}");
    assert!(warnings("adapted_http_access deny all\n")[0].contains("not reproduced"));
    // An access line without acls is skipped by Squid: not a line, not the last line.
    let i = conf("acl a dstdomain -n a.test\nhttp_access deny a\nhttp_access allow\n").unwrap();
    assert!(i
        .warnings()
        .iter()
        .any(|w| w.line == 3 && w.message.contains("skips it")));
    assert_eq!(verdict(&i, "b.test", 80, Via::Http), Action::Allow);
    // Options before the values: -i and -n in either order.
    let i =
        conf("acl r dstdom_regex -i -n ^A\nhttp_access allow r\nhttp_access deny all\n").unwrap();
    assert_eq!(verdict(&i, "a.test", 80, Via::Http), Action::Allow);
}

#[test]
fn the_default_configuration_of_squid() {
    // The access part of Debian's squid.conf.
    let text = "acl localnet src 10.0.0.0/8\nacl localnet src 192.168.0.0/16\n\
        acl SSL_ports port 443\nacl Safe_ports port 80\nacl Safe_ports port 21\n\
        acl Safe_ports port 443\nacl Safe_ports port 1025-65535\nacl CONNECT method CONNECT\n\
        http_access deny !Safe_ports\nhttp_access deny CONNECT !SSL_ports\n\
        http_access allow localhost manager\nhttp_access deny manager\n\
        http_access allow localnet\nhttp_access allow localhost\nhttp_access deny all\n\
        http_port 3128\ncoredump_dir /var/spool/squid\nrefresh_pattern . 0 20% 4320\n";
    let i = conf(text).unwrap();
    assert_eq!(verdict(&i, "any.test", 80, Via::Http), Action::Allow);
    assert_eq!(verdict(&i, "any.test", 8443, Via::Http), Action::Allow);
    assert_eq!(verdict(&i, "any.test", 8443, Via::Connect), Action::Deny);
    assert_eq!(verdict(&i, "any.test", 443, Via::Connect), Action::Allow);
    assert_eq!(verdict(&i, "any.test", 25, Via::Http), Action::Deny);
    assert_eq!(verdict(&i, "192.0.2.1", 80, Via::Http), Action::Allow);
}

#[test]
fn ssl_bump_decides_the_sni() {
    let text = "acl step1 at_step SslBump1\nacl ok ssl::server_name .ok.test\n\
        acl no ssl::server_name_regex -i ^bad\\.\n\
        ssl_bump peek step1\nssl_bump terminate no\nssl_bump splice ok\nssl_bump terminate all\n\
        http_access allow all\n";
    let i = conf(text).unwrap();
    assert_eq!(verdict(&i, "a.ok.test", 443, Via::Tls), Action::Allow);
    assert_eq!(verdict(&i, "ok.test", 443, Via::Tls), Action::Allow);
    assert_eq!(verdict(&i, "bad.ok.test", 443, Via::Tls), Action::Deny);
    assert_eq!(verdict(&i, "other.test", 443, Via::Tls), Action::Deny);
    // http_access still decides the CONNECT.
    assert_eq!(verdict(&i, "other.test", 443, Via::Connect), Action::Allow);
    // No matching line at step 2: Squid splices.
    let i = conf("acl step1 at_step SslBump1\nacl no ssl::server_name no.test\nssl_bump peek step1\nssl_bump terminate no\n").unwrap();
    assert_eq!(verdict(&i, "other.test", 443, Via::Tls), Action::Allow);
    assert_eq!(verdict(&i, "no.test", 443, Via::Tls), Action::Deny);
    // `ssl_bump splice all` at step 1: the SNI is never looked at.
    let i = conf("ssl_bump splice all\n").unwrap();
    assert_eq!(verdict(&i, "x.test", 443, Via::Tls), Action::Allow);
    let i = conf("ssl_bump terminate all\n").unwrap();
    assert_eq!(verdict(&i, "x.test", 443, Via::Tls), Action::Deny);
    // ssl_bump only acts on a port with ssl-bump.
    let i = conf("http_port 3128\nssl_bump terminate all\n").unwrap();
    assert_eq!(verdict(&i, "x.test", 443, Via::Tls), Action::Allow);
    assert!(i.warnings()[0].message.contains("never consults ssl_bump"));
    let i = conf("http_port 3128 ssl-bump tls-cert=x.pem\nssl_bump terminate all\n").unwrap();
    assert_eq!(verdict(&i, "x.test", 443, Via::Tls), Action::Deny);
}

#[test]
fn includes_and_value_files_relative_to_the_config() {
    let files: &[(&str, &[u8])] = &[
        (
            "etc/squid/squid.conf",
            b"include conf.d/acl.conf\nhttp_access allow ok\nhttp_access deny all\n",
        ),
        (
            "etc/squid/conf.d/acl.conf",
            b"acl ok dstdomain -n \"/lists/ok.txt\" \"../ok2.txt\"\n",
        ),
        (
            "/lists/ok.txt",
            b"# allowed\n.example.org\n  api.example.com # trailing\n\n",
        ),
        ("etc/ok2.txt", b"other.test\n"),
    ];
    let i = import(Format::Squid, files, &Options::default().sandboxed(true)).unwrap();
    assert_eq!(verdict(&i, "a.example.org", 80, Via::Http), Action::Allow);
    assert_eq!(verdict(&i, "api.example.com", 80, Via::Http), Action::Allow);
    assert_eq!(verdict(&i, "other.test", 80, Via::Http), Action::Allow);
    assert_eq!(
        verdict(&i, "x.api.example.com", 80, Via::Http),
        Action::Deny
    );
    // A value's problem is reported in the file it is in.
    let files: &[(&str, &[u8])] = &[
        ("squid.conf", b"acl ok dstdomain -n \"ok.txt\"\n"),
        ("ok.txt", b"a.test\n.x.test\nb.x.test.\n"),
    ];
    let i = import(Format::Squid, files, &Options::default().sandboxed(true)).unwrap();
    assert!(i.warnings()[0]
        .to_string()
        .starts_with("ok.txt:3:1: warning: `b.x.test.` never matches"));
    let e = import(
        Format::Squid,
        &files[..1],
        &Options::default().sandboxed(true),
    )
    .unwrap_err();
    assert!(
        e[0].to_string()
            .starts_with("squid.conf:1:21: acl file `ok.txt`"),
        "{e:?}"
    );
    let e = errors("include ./squid.conf\n");
    assert!(e[0].contains("includes itself"), "{e:?}");
}

/// Squid's `dstdomain` as documented: `.x` is x and everything below it, `x` is x; both sides
/// lowercased, the request's trailing dot removed, a value's trailing dot never matching.
fn naive(value: &str, host: &str) -> bool {
    let v = value.to_ascii_lowercase();
    let h = host.to_ascii_lowercase();
    let h = h.strip_suffix('.').unwrap_or(&h);
    if v.ends_with('.') {
        return false;
    }
    match v.strip_prefix('.') {
        Some(base) => h == base || h.ends_with(&format!(".{base}")),
        None => h == v,
    }
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("ab".to_string()),
        Just("B".to_string()),
        Just("xa".to_string())
    ]
}

fn dname() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..4).prop_map(|l| l.join("."))
}

proptest! {
    #[test]
    fn dstdomain_matches_the_documented_rule(
        value in dname(), dot in any::<bool>(), value_dot in prop::bool::weighted(0.1),
        prefix in prop::collection::vec(label(), 0..3), host_dot in any::<bool>(),
        deny_first in any::<bool>(),
    ) {
        let value = format!("{}{value}{}", if dot { "." } else { "" }, if value_dot { "." } else { "" });
        let mut host_labels = prefix.clone();
        host_labels.push(value.trim_matches('.').to_string());
        let host = format!("{}{}", host_labels.join("."), if host_dot { "." } else { "" });
        let (first, last) = if deny_first { ("deny", "allow") } else { ("allow", "deny") };
        let text = format!("acl v dstdomain -n {value}\nhttp_access {first} v\nhttp_access {last} all\n");
        let i = conf(&text).unwrap();
        let want_match = naive(&value, &host);
        let want = if want_match == deny_first { Action::Deny } else { Action::Allow };
        for (port, via) in [(80, Via::Http), (443, Via::Connect)] {
            prop_assert_eq!(verdict(&i, &host, port, via), want, "{} {}", text, host);
        }
        // A near miss: the last label of the value changed by one letter.
        let near = format!("{}z", host.trim_end_matches('.'));
        let want_near = if naive(&value, &near) == deny_first { Action::Deny } else { Action::Allow };
        prop_assert_eq!(verdict(&i, &near, 80, Via::Http), want_near);
    }

    #[test]
    fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = import(Format::Squid, &[("f", &bytes)], &Options::default().sandboxed(true));
    }

    #[test]
    fn never_panics_on_config_words(words in prop::collection::vec(prop_oneof![
        Just("acl"), Just("a"), Just("b"), Just("dstdomain"), Just("dstdom_regex"), Just("port"),
        Just("method"), Just("CONNECT"), Just("-n"), Just("-i"), Just("+i"), Just(".x.test"),
        Just("y.x.test"), Just("80"), Just("1-9"), Just("!a"), Just("!b"), Just("http_access"),
        Just("allow"), Just("deny"), Just("all"), Just("\n"), Just("ssl_bump"), Just("peek"),
        Just("splice"), Just("at_step"), Just("SslBump1"), Just("ssl::server_name"), Just("^x(y|z)+$"),
        Just("[a-"), Just("\\"), Just("\""), Just("#"),
    ], 0..40)) {
        let text = words.join(" ");
        let _ = import(Format::Squid, &[("f", text.as_bytes())], &Options::default().sandboxed(true));
    }
}

#[test]
fn what_squid_refuses_to_start_with_is_refused() {
    let dir = Path::new(DATA).join("refused");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        let name = p.display().to_string();
        let e = import(Format::Squid, &[(&name, &bytes)], &Options::default())
            .err()
            .unwrap_or_else(|| panic!("{name} accepted"));
        assert!(e[0].line >= 2, "{name}: {e:?}");
        n += 1;
    }
    assert!(n >= 7);
}

/// One piece of a generated POSIX regex, and how a naive matcher reads it.
#[derive(Clone, Debug)]
enum Atom {
    Lit(char),
    AnyChar,
    Dot,
    Class(&'static str),
    Star(char),
}

impl Atom {
    fn text(&self) -> String {
        match self {
            Atom::Lit(c) => c.to_string(),
            Atom::AnyChar => ".".into(),
            Atom::Dot => "\\.".into(),
            Atom::Class(s) => format!("[{s}]"),
            Atom::Star(c) => format!("{c}*"),
        }
    }
    fn one(&self, c: char, icase: bool) -> bool {
        let eq = |a: char, b: char| {
            if icase {
                a.eq_ignore_ascii_case(&b)
            } else {
                a == b
            }
        };
        match self {
            Atom::Lit(l) | Atom::Star(l) => eq(*l, c),
            Atom::AnyChar => true,
            Atom::Dot => c == '.',
            Atom::Class(s) => s.chars().any(|x| eq(x, c)),
        }
    }
}

/// POSIX `regexec` as Squid calls it, for these pieces: a search anywhere in the host
/// (lowercased, trailing dot removed), `^`/`$` anchoring.
fn naive_ere(start: bool, atoms: &[Atom], end: bool, icase: bool, host: &str) -> bool {
    fn here(atoms: &[Atom], s: &[char], end: bool, icase: bool) -> bool {
        match atoms.split_first() {
            None => !end || s.is_empty(),
            Some((Atom::Star(c), rest)) => {
                let a = Atom::Star(*c);
                let mut i = 0;
                loop {
                    if here(rest, &s[i..], end, icase) {
                        return true;
                    }
                    if i < s.len() && a.one(s[i], icase) {
                        i += 1;
                    } else {
                        return false;
                    }
                }
            }
            Some((a, rest)) => {
                !s.is_empty() && a.one(s[0], icase) && here(rest, &s[1..], end, icase)
            }
        }
    }
    let h = host.to_ascii_lowercase();
    let h: Vec<char> = h.strip_suffix('.').unwrap_or(&h).chars().collect();
    let starts = if start { 0..=0 } else { 0..=h.len() };
    starts.into_iter().any(|i| here(atoms, &h[i..], end, icase))
}

fn atom() -> impl Strategy<Value = Atom> {
    prop_oneof![
        prop_oneof![Just('a'), Just('b'), Just('A'), Just('-')].prop_map(Atom::Lit),
        Just(Atom::AnyChar),
        Just(Atom::Dot),
        prop_oneof![Just("ab"), Just("B."), Just("a-b")].prop_map(Atom::Class),
        prop_oneof![Just('a'), Just('b')].prop_map(Atom::Star),
    ]
}

proptest! {
    #[test]
    fn dstdom_regex_matches_posix_search(
        start in any::<bool>(), atoms in prop::collection::vec(atom(), 1..5), end in any::<bool>(),
        icase in any::<bool>(), hosts in prop::collection::vec(dname(), 1..6), host_dot in any::<bool>(),
    ) {
        let re = format!(
            "{}{}{}",
            if start { "^" } else { "" },
            atoms.iter().map(Atom::text).collect::<String>(),
            if end { "$" } else { "" }
        );
        let text = format!(
            "acl r dstdom_regex -n {}-- {re}\nhttp_access allow r\nhttp_access deny all\n",
            if icase { "-i " } else { "" }
        );
        let i = match conf(&text) {
            Ok(i) => i,
            Err(e) => return Err(TestCaseError::fail(format!("{text}: {e:?}"))),
        };
        for h in hosts {
            let host = if host_dot { format!("{h}.") } else { h };
            let want = if naive_ere(start, &atoms, end, icase, &host) { Action::Allow } else { Action::Deny };
            prop_assert_eq!(verdict(&i, &host, 80, Via::Http), want, "{} on {}", re, host);
        }
    }
}
