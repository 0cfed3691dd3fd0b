//! HAProxy `haproxy.cfg`: the table of `tests/data/haproxy/cases.tsv` (the same table
//! `scripts/test.d/diff-haproxy.sh` runs against the real HAProxy), refusals and warnings at
//! their positions, the tokenizer's quoting, and a property test against a matcher written
//! from HAProxy's documentation of the `-m` match methods (configuration manual §7.1.3).

mod common;
use common::*;

use std::path::Path;

use hostgate::{Action, Format, Via};
use hostgate_import::{import, render, ImportDiagnostic, Imported, Options};
use proptest::prelude::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/haproxy");

fn conf(text: &str) -> Result<Imported, Vec<ImportDiagnostic>> {
    import(
        Format::Haproxy,
        &[("haproxy.cfg", text.as_bytes())],
        &Options::default().sandboxed(true),
    )
}

#[test]
fn the_case_table() {
    let configs = case_table(Format::Haproxy, DATA, ".cfg", 60);
    every_config_has_cases(DATA, &configs, stem);
}

#[test]
fn every_example_file_imports_or_is_refused_with_a_reason() {
    // The upstream example decides by client address and method only: every request is
    // denied (fail closed), with a warning at each condition no name decides.
    let path = Path::new(DATA).join("examples-option-http_proxy.cfg");
    let bytes = std::fs::read(&path).unwrap();
    let i = import(
        Format::Haproxy,
        &[("option-http_proxy.cfg", &bytes)],
        &Options::default(),
    )
    .unwrap();
    assert_eq!(verdict(&i, "www.example.com", 80, Via::Http), Action::Deny);
    let w: Vec<String> = i.warnings().iter().map(|w| w.to_string()).collect();
    for want in [
        "option-http_proxy.cfg:27:17: warning: `src` is not decided by the destination name",
        "option-http_proxy.cfg:28:23: warning: `!allow_host` depends on `src`",
        "option-http_proxy.cfg:31:20: warning: `url_ip` is not decided",
        "option-http_proxy.cfg:48:26: warning: `method` is not decided",
    ] {
        assert!(w.iter().any(|x| x.starts_with(want)), "{want}\n{w:#?}");
    }
    // The configurations HAProxy runs but hostgate cannot reproduce: refused at a position.
    for entry in std::fs::read_dir(Path::new(DATA).join("refused")).unwrap() {
        let p = entry.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let errs = conf(&text).unwrap_err();
        assert!(
            errs[0].line > 0 && errs[0].column > 0,
            "{}: {errs:?}",
            p.display()
        );
        let reason = text.lines().next().unwrap();
        assert!(reason.starts_with("# Refused: "), "{}", p.display());
    }
}

#[test]
fn rules_are_received_regexes_with_ids_and_lines() {
    let i = conf(
        "frontend fe\n  mode http\n  bind :80\n  acl ok hdr(host) -i -m end .example.com\n  \
         http-request deny unless ok\n  default_backend web\nbackend web\n  server s 10.0.0.1:80\n",
    )
    .unwrap();
    let p = &i.policies()[0];
    assert_eq!(p.precedence, hostgate::Precedence::FirstMatch);
    assert_eq!(p.rules.len(), 1);
    let r = &p.rules[0];
    assert_eq!(r.pattern, "~(?i).*\\.example\\.com");
    assert!(r.received);
    assert_eq!(r.action, Action::Allow);
    assert_eq!(r.via, [Via::Http, Via::Connect]);
    assert_eq!((r.id.as_deref(), r.line), (Some("fe:5:0"), 5));
    assert_eq!(i.sources()[0].object, "fe");
    assert!(render(&i).contains(" received\n"), "{}", render(&i));
    // `via tls` queries are not the http frontend's: denied.
    assert_eq!(verdict(&i, "a.example.com", 443, Via::Tls), Action::Deny);
    // A CONNECT's Host carries the port: `-m end` fails on it, as in HAProxy.
    assert_eq!(
        verdict(&i, "a.example.com", 443, Via::Connect),
        Action::Deny
    );
    assert_eq!(verdict(&i, "a.example.com", 80, Via::Http), Action::Allow);
}

fn errors(text: &str) -> Vec<String> {
    conf(text)
        .err()
        .unwrap_or_default()
        .iter()
        .map(|e| e.to_string())
        .collect()
}

fn warnings(text: &str) -> Vec<String> {
    conf(text)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .warnings()
        .iter()
        .map(|w| w.to_string())
        .collect()
}

const TCP: &str = "frontend fe\n  mode tcp\n  bind :443\n";

#[test]
fn bad_input_is_refused_at_its_position() {
    let cases: &[(&str, &str)] = &[
        (
            "frontend fe\n  acl a req.ssl_sni 'x\n",
            "haproxy.cfg:2:21: unterminated single quote",
        ),
        (
            "frontend fe\n  acl a req.ssl_sni \"x\n",
            "haproxy.cfg:2:21: unterminated double quote",
        ),
        (
            "frontend fe\n  acl a req.ssl_sni x\\\n",
            "haproxy.cfg:2:22: a backslash at the end",
        ),
        (
            "frontend fe\n  acl a req.ssl_sni \"$HOST\"\n",
            "haproxy.cfg:2:22: environment variables",
        ),
        (
            "frontend fe\n  acl a req.ssl_sni \\xZZ\n",
            "haproxy.cfg:2:21: `\\x` needs two",
        ),
        (
            "frontend fe\n  use_backend b if nope\n",
            "haproxy.cfg:2:20: acl `nope` is not defined",
        ),
        (
            "frontend fe\n  acl a req.ssl_sni -m nope x\n",
            "haproxy.cfg:2:24: unknown match method `nope`",
        ),
        (
            "frontend fe\n  acl a req.ssl_sni -z x\n",
            "haproxy.cfg:2:21: unknown acl flag `-z`",
        ),
        (
            "frontend fe\n  acl a req.ssl_sni\n",
            "haproxy.cfg:2:9: acl on `req.ssl_sni` without patterns",
        ),
        (
            "frontend fe\n  acl a req.ssl_sni x\n  use_backend nowhere if a\n",
            "haproxy.cfg:3:15: backend `nowhere` is not defined",
        ),
        (
            "frontend fe\n  mode http\n  acl a req.ssl_sni x\n",
            "haproxy.cfg:3:9: `req.ssl_sni` reads the SNI but this proxy is in mode http",
        ),
        (
            "frontend fe\n  acl a hdr(host) x\n",
            "haproxy.cfg:2:9: `hdr(host)` reads the Host header but this proxy is in mode tcp",
        ),
        (
            "frontend fe\n  acl a req.ssl_sni x\n  acl b req.ssl_sni -m beg y\n  \
             tcp-request content reject if a b\n",
            "haproxy.cfg:4:35: an AND of two name conditions",
        ),
        (
            "frontend fe\n  acl a req.ssl_sni,upper x\n",
            "haproxy.cfg:2:9: converter `upper` is not read",
        ),
        (
            "frontend fe\n  acl a req.ssl_sni -f /etc/x.lst\n",
            "haproxy.cfg:2:24: pattern file `/etc/x.lst`",
        ),
        (
            "defaults\n  http-request deny\n",
            "haproxy.cfg:2:3: `http-request` in a defaults section",
        ),
        (
            "frontend fe\n  block if TRUE\n",
            "haproxy.cfg:2:3: `block` was removed",
        ),
        (
            "frontend fe\nfrontend fe\n",
            "haproxy.cfg:2:10: proxy `fe` is already defined on line 1",
        ),
        (
            "frontend fe\n  acl a req.ssl_sni x\n  use_backend b if a ||\nbackend b\n",
            "haproxy.cfg:3:22: a condition that ends with `||`",
        ),
        (
            "frontend fe\n  acl a req.ssl_sni x\n  acl b req.ssl_sni y\n  \
             tcp-request content reject if !a\n  tcp-request content reject if b\n",
            "haproxy.cfg:4:3: a negated name acl followed by rules that also test the name",
        ),
        (
            "frontend fe\n  mode http\n  acl a hdr(host) x\n  use_backend b if a\nbackend b\n  mode http\n  \
             acl c hdr(host) y\n  http-request deny if c\n  server s 1.2.3.4:80\n",
            "haproxy.cfg:8:3: a `http-request` rule of backend `b` tests the name",
        ),
        (
            "frontend fe\n  acl a req.ssl_sni -m reg (x\n",
            "haproxy.cfg:2:28: `(x` as `~.*(?:(x).*`",
        ),
    ];
    for (text, want) in cases {
        let e = errors(text);
        assert!(
            e.iter().any(|e| e.starts_with(want)),
            "{text:?}\nwant {want}\ngot {e:#?}"
        );
    }
    let e = import(
        Format::Haproxy,
        &[("h.cfg", b"a\xffb\n".as_slice())],
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "h.cfg:1:1: the configuration is not UTF-8 text"
    );
}

#[test]
fn quoting_and_escapes_as_haproxy_reads_them() {
    // A quoted pattern, an escaped space, `\.` kept for the regex, `#` starting a comment.
    let text = format!(
        "{TCP}  acl a req.ssl_sni -i 'Quoted.Example' # a comment\n  acl b req.ssl_sni \
         \"dq.example\" x\\#y.example\n  acl c req.ssl_sni -m reg ^r[0-9]\\.example$\n  \
         use_backend up if a || b || c\nbackend up\n  server s 10.0.0.1:443\n"
    );
    let i = conf(&text).unwrap();
    for (name, want) in [
        ("quoted.example", Action::Allow),
        ("dq.example", Action::Allow),
        ("r1.example", Action::Allow),
        ("r1xexample", Action::Deny),
        ("comment", Action::Deny),
    ] {
        assert_eq!(
            verdict(&i, name, 443, Via::Tls),
            want,
            "{name}\n{}",
            render(&i)
        );
    }
    // `x#y.example` can be no valid name: left out, with a warning.
    assert!(!render(&i).contains("x\\#y"), "{}", render(&i));
    let w: Vec<String> = i.warnings().iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter()
            .any(|w| w.starts_with("haproxy.cfg:5:34: warning: `x#y.example` never matches")),
        "{w:#?}"
    );
}

#[test]
fn warns_what_is_not_reproduced_or_surprising() {
    let text = format!(
        "{TCP}  acl a req.ssl_sni -m dom example.com\n  acl b req.ssl_sni -m end pypi.org\n  \
         acl s src 10.0.0.0/8\n  tcp-request content reject if s\n  use_backend up if a || b\n\
         backend up\n  server s 10.0.0.1:443\n"
    );
    let w = warnings(&text);
    for want in [
        "haproxy.cfg:4:28: warning: `-m dom example.com` matches `example.com` between dots anywhere in the name, not only as a suffix: `example.com.evil.example`",
        "haproxy.cfg:5:28: warning: `-m end pypi.org` compares characters, not labels: `notpypi.org`",
        "haproxy.cfg:6:9: warning: `src` is not decided by the destination name",
        "haproxy.cfg:7:33: warning: `s` depends on `src`, not on the name: read as holding for this deny rule",
    ] {
        assert!(w.iter().any(|x| x.starts_with(want)), "{want}\n{w:#?}");
    }
    // Read as holding: every SNI is rejected.
    let i = conf(&text).unwrap();
    assert_eq!(verdict(&i, "example.com", 443, Via::Tls), Action::Deny);
    // On an allow path, a condition no name decides is read as not holding.
    let text = format!(
        "{TCP}  acl s src 10.0.0.0/8\n  use_backend up if s\nbackend up\n  server s 10.0.0.1:443\n"
    );
    let i = conf(&text).unwrap();
    assert_eq!(verdict(&i, "example.com", 443, Via::Tls), Action::Deny);
}

#[test]
fn pattern_files_are_read() {
    let files: &[(&str, &[u8])] = &[
        (
            "haproxy.cfg",
            b"frontend fe\n  acl a req.ssl_sni -i -f allow.lst\n  use_backend up if a\n\
              backend up\n  server s 10.0.0.1:443\n",
        ),
        (
            "allow.lst",
            b"# allowed\nApi.Example.com\n\n  docs.example.com  \n",
        ),
    ];
    let i = import(Format::Haproxy, files, &Options::default().sandboxed(true)).unwrap();
    assert_eq!(verdict(&i, "api.example.com", 443, Via::Tls), Action::Allow);
    assert_eq!(
        verdict(&i, "DOCS.example.com", 443, Via::Tls),
        Action::Allow
    );
    assert_eq!(verdict(&i, "x.example.com", 443, Via::Tls), Action::Deny);
}

#[test]
fn stages_and_backends() {
    // http-request allow ends the http-request rules; the backend still decides.
    let text = "frontend fe\n  mode http\n  acl ok hdr(host) -i ok.example\n  \
                http-request allow if ok\n  http-request deny\n  default_backend empty\n\
                backend empty\n";
    let i = conf(text).unwrap();
    assert_eq!(verdict(&i, "ok.example", 80, Via::Http), Action::Deny);
    // A listen section is its own backend.
    let text = "listen l\n  mode http\n  acl bad hdr(host) -i bad.example\n  \
                http-request deny if bad\n  server s 10.0.0.1:80\n";
    let i = conf(text).unwrap();
    assert_eq!(verdict(&i, "bad.example", 80, Via::Http), Action::Deny);
    assert_eq!(verdict(&i, "good.example", 80, Via::Http), Action::Allow);
    // No frontend at all lets nothing through.
    let w = warnings("backend b\n  server s 10.0.0.1:80\n");
    assert!(w[0].contains("no frontend"), "{w:?}");
    // `--per-object` does not apply.
    let e = import(
        Format::Haproxy,
        &[("haproxy.cfg", b"".as_slice())],
        &Options::default().per_object(true),
    )
    .unwrap_err();
    assert!(e[0].message.contains("--per-object"), "{e:?}");
}

/// HAProxy's documented match methods (configuration manual §7.1.3), on the raw value.
fn naive(method: &str, icase: bool, pat: &str, value: &str) -> bool {
    let (p, v) = if icase {
        (pat.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pat.to_string(), value.to_string())
    };
    match method {
        "str" => v == p,
        "beg" => v.starts_with(&p),
        "end" => v.ends_with(&p),
        "sub" => v.contains(&p),
        "dom" => {
            // The pattern, without the delimiters around it, as a whole delimited word.
            let delim = |c: char| matches!(c, '.' | '/' | '?' | ':');
            let w = p.trim_matches(delim);
            if w.is_empty() {
                return false;
            }
            // Every occurrence, overlapping ones too (`api.a` in `api.api.a` starts at 4,
            // inside the one at 0 that is not delimited).
            (0..v.len()).filter(|&at| v[at..].starts_with(w)).any(|at| {
                let before = v[..at].chars().next_back();
                let after = v[at + w.len()..].chars().next();
                before.is_none_or(delim) && after.is_none_or(delim)
            })
        }
        _ => unreachable!(),
    }
}

fn label() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a", "Api", "example", "EXAMPLE", "com", "net", "x-1", "corp",
    ])
    .prop_map(str::to_string)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn match_methods_agree_with_the_documented_rules(
        method in prop::sample::select(vec!["str", "beg", "end", "sub", "dom"]),
        icase in any::<bool>(),
        http in any::<bool>(),
        pat_labels in prop::collection::vec(label(), 1..3),
        pat_dot in any::<bool>(),
        left in prop::collection::vec(label(), 0..3),
        right in prop::collection::vec(label(), 0..2),
        trailing_dot in any::<bool>(),
        port in prop::sample::select(vec![80u16, 8080]),
    ) {
        let pat = format!("{}{}", if pat_dot { "." } else { "" }, pat_labels.join("."));
        // Names near the pattern: it alone, with labels left or right, a dot after it.
        let mut labels = left.clone();
        labels.extend(pat_labels.iter().cloned());
        labels.extend(right.iter().cloned());
        let name = format!("{}{}", labels.join("."), if trailing_dot { "." } else { "" });
        let (mode, fetch, via) = if http {
            ("http", "hdr(host)", Via::Http)
        } else {
            ("tcp", "req.ssl_sni", Via::Tls)
        };
        let text = format!(
            "frontend fe\n  mode {mode}\n  acl a {fetch} {} -m {method} {pat}\n  \
             use_backend up if a\nbackend up\n  server s 10.0.0.1:80\n",
            if icase { "-i" } else { "" },
        );
        let i = conf(&text).unwrap();
        // What HAProxy sees: the SNI as sent; the Host with `:PORT` unless it is 80.
        let raw = if http && port != 80 { format!("{name}:{port}") } else { name.clone() };
        let want = naive(method, icase, &pat, &raw);
        let got = verdict(&i, &name, port, via) == Action::Allow;
        prop_assert_eq!(got, want, "{} on {}\n{}", text, raw, render(&i));
    }

    #[test]
    fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = import(Format::Haproxy, &[("h.cfg", &bytes)], &Options::default().sandboxed(true));
    }

    #[test]
    fn never_panics_on_config_words(words in prop::collection::vec(prop_oneof![
        Just("frontend".to_string()), Just("backend".to_string()), Just("listen".to_string()),
        Just("acl".to_string()), Just("a".to_string()), Just("req.ssl_sni".to_string()),
        Just("hdr(host)".to_string()), Just("-m".to_string()), Just("dom".to_string()),
        Just("-i".to_string()), Just("if".to_string()), Just("unless".to_string()),
        Just("!".to_string()), Just("||".to_string()), Just("{".to_string()),
        Just("}".to_string()), Just("\n".to_string()), Just("use_backend".to_string()),
        Just("tcp-request".to_string()), Just("content".to_string()), Just("reject".to_string()),
        Just("http-request".to_string()), Just("deny".to_string()), Just("mode".to_string()),
        Just("http".to_string()), Just("server".to_string()), Just("'".to_string()),
        Just("\\".to_string()), Just("x.example".to_string()),
    ], 0..60)) {
        let text = words.join(" ");
        let _ = conf(&text);
    }
}

#[test]
fn each_tcp_request_stage_ends_with_its_own_accept() {
    // `tcp-request connection accept` ends the connection rules only: content rules still run.
    let text = format!(
        "{TCP}  tcp-request connection accept\n  acl bad req.ssl_sni -m end .bad.example\n  \
         tcp-request content reject if bad\n  default_backend up\nbackend up\n  server s 10.0.0.1:443\n"
    );
    let i = conf(&text).unwrap();
    assert_eq!(verdict(&i, "x.bad.example", 443, Via::Tls), Action::Deny);
    assert_eq!(verdict(&i, "x.good.example", 443, Via::Tls), Action::Allow);
    // A content accept ends the content rules: the later reject is not reached.
    let text = format!(
        "{TCP}  acl ok req.ssl_sni ok.example\n  tcp-request content accept if ok\n  \
         tcp-request content reject\n  default_backend up\nbackend up\n  server s 10.0.0.1:443\n"
    );
    let i = conf(&text).unwrap();
    assert_eq!(verdict(&i, "ok.example", 443, Via::Tls), Action::Allow);
    assert_eq!(verdict(&i, "no.example", 443, Via::Tls), Action::Deny);
}

#[test]
fn patterns_no_name_can_match_are_left_out_and_predefined_acls_hold() {
    let text = format!(
        "{TCP}  acl a req.ssl_sni 'sp ace' a<b>.example ok.example\n  use_backend up if a\n  \
         use_backend up if !FALSE\nbackend up\n  server s 10.0.0.1:443\n"
    );
    let i = conf(&text).unwrap();
    let w: Vec<String> = i.warnings().iter().map(|w| w.to_string()).collect();
    for at in [
        "haproxy.cfg:4:21: warning: `sp ace` never matches",
        "haproxy.cfg:4:30: warning: `a<b>.example` never matches",
    ] {
        assert!(w.iter().any(|x| x.starts_with(at)), "{at}\n{w:#?}");
    }
    assert!(render(&i).contains("~ok\\.example"), "{}", render(&i));
    // `!FALSE` always holds: everything is let through.
    assert_eq!(verdict(&i, "x.example", 443, Via::Tls), Action::Allow);
}
