//! nginx `nginx.conf`: the table of `tests/data/nginx/cases.tsv` (the same table
//! `scripts/test.d/diff-nginx.sh` runs against the real nginx), refusals at their positions,
//! includes, Debian's default configuration, and a property test against a matcher written
//! from nginx's documentation of `server_name` and `map … { hostnames; }`
//! (nginx.org/en/docs/http/server_names.html, /http/ngx_http_map_module.html).

mod common;
use common::*;

use std::path::Path;

use hostgate::{Action, Format, Via};
use hostgate_import::{import, render, ImportDiagnostic, Imported, Options};
use proptest::prelude::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nginx");

fn conf(text: &str) -> Result<Imported, Vec<ImportDiagnostic>> {
    import(
        Format::Nginx,
        &[("nginx.conf", text.as_bytes())],
        &Options::default().sandboxed(true),
    )
}

fn first_error(text: &str) -> String {
    match conf(text) {
        Ok(i) => panic!("accepted:\n{}", render(&i)),
        Err(e) => e[0].to_string(),
    }
}

fn file(path: &Path) -> Result<Imported, Vec<ImportDiagnostic>> {
    let bytes = std::fs::read(path).unwrap();
    let name = path.display().to_string();
    import(Format::Nginx, &[(&name, &bytes)], &Options::default())
}

#[test]
fn the_case_table() {
    let configs = case_table(Format::Nginx, DATA, "", 80);
    every_config_has_cases(DATA, &configs, nginx_name);
}

/// A config's name in the table: a directory stands for its `nginx.conf`.
fn nginx_name(p: &Path) -> String {
    let name = p.file_name().unwrap().to_string_lossy().to_string();
    if p.is_dir() {
        format!("{name}/nginx.conf")
    } else {
        name
    }
}

#[test]
fn refused_and_unsupported_configs_are_refused_at_a_position() {
    for dir in ["refused", "unsupported"] {
        let mut n = 0;
        for entry in std::fs::read_dir(Path::new(DATA).join(dir)).unwrap() {
            let p = entry.unwrap().path();
            let errs = file(&p)
                .err()
                .unwrap_or_else(|| panic!("{} accepted", p.display()));
            assert!(errs[0].line > 0 && errs[0].column > 0, "{:?}", errs[0]);
            n += 1;
        }
        assert!(n >= 4, "{dir}: {n}");
    }
}

#[test]
fn what_the_table_configs_turn_into() {
    let i = file(&Path::new(DATA).join("configs/sni-map.conf")).unwrap();
    let p = &i.policies()[0];
    assert_eq!(p.precedence, hostgate::Precedence::FirstMatch);
    assert_eq!(p.default, Action::Deny);
    let rules: Vec<String> = p
        .rules
        .iter()
        .map(|r| format!("{} {}", r.action, r.pattern))
        .collect();
    assert_eq!(
        rules[..5],
        [
            "allow api.example.com",
            "allow example.org",
            "deny **.deny.example.org",
            "allow **.example.org",
            "allow **.example.net",
        ]
    );
    assert_eq!(p.rules[0].via, [Via::Tls]);
    assert_eq!(p.rules[0].ports, [(18210, 18210)]);
    assert!(p.rules[0]
        .id
        .as_deref()
        .unwrap()
        .starts_with("sni-map.conf:7:"));
    assert_eq!(i.sources()[0].object, "map $upstream");
    assert_eq!(i.sources()[0].line, 7);
    // A connection that is not TLS has no SNI: the map's value for "" (here the default, "").
    assert_eq!(
        verdict(&i, "api.example.com", 18210, Via::Http),
        Action::Deny
    );
    // With a default that names an upstream, plain HTTP to the port passes whatever its Host
    // (ssl_preread finds no ClientHello, the variable is empty, and nginx proxies to the
    // map's value for it).
    let d = file(&Path::new(DATA).join("configs/sni-default.conf")).unwrap();
    assert_eq!(verdict(&d, "blocked.test", 18211, Via::Http), Action::Allow);
    assert_eq!(verdict(&d, "blocked.test", 18211, Via::Tls), Action::Deny);
    assert_eq!(
        verdict(&d, "blocked.test", 18211, Via::Connect),
        Action::Deny
    );
    assert_eq!(verdict(&d, "blocked.test", 18212, Via::Http), Action::Allow);
    assert_eq!(verdict(&d, "blocked.test", 18213, Via::Http), Action::Deny);
}

#[test]
fn positioned_errors() {
    let cases = [
        ("events {}\nhttp {\n server { listen 80; return 403; }\n", "nginx.conf:4:1: unexpected end of file, expecting \"}\""),
        ("events {}\n}\n", "nginx.conf:2:1: unexpected \"}\""),
        ("http { server { listen 80; server_name \"a\"b; } }", "nginx.conf:1:43: unexpected \"b\""),
        ("http {\n  server {\n    listen 80;\n    server_name www.*.example.com;\n    return 403;\n  }\n}\n", "nginx.conf:4:17: invalid host name or wildcard `www.*.example.com`"),
        ("http {\n  map $host $u {\n    a.test 1;\n    A.TEST 2;\n  }\n}\n", "nginx.conf:4:5: conflicting parameter `A.TEST`"),
        ("http {\n  server {\n    listen 80;\n    server_name \"~^(?=a)b\";\n    return 403;\n  }\n}\n", "nginx.conf:4:19: regex `^(?=a)b`: lookaround"),
        ("http {\n  server {\n    listen 80;\n    location / { try_files $uri =404; }\n  }\n}\n", "nginx.conf:4:5: a location that neither proxies"),
        ("http {\n  server {\n    listen 80;\n    location / { proxy_pass http://u; }\n    location /x { return 403; }\n  }\n}\n", "nginx.conf:5:5: locations decide differently by path"),
        ("http {\n  frobnicate on;\n}\n", "nginx.conf:2:3: `frobnicate` in `http` is not read"),
        ("http { server { listen 80 ssl; return 403; } }", "nginx.conf:1:27: `listen … ssl` in `http`"),
        ("include missing.conf;\n", "nginx.conf:1:9: include `missing.conf`: not among the files given"),
    ];
    for (text, want) in cases {
        let got = first_error(text);
        assert!(got.starts_with(want), "{text}\n got: {got}\nwant: {want}");
    }
}

#[test]
fn includes_resolve_from_the_main_files_directory() {
    let main = b"events {}\nhttp { include conf.d/*.conf; }\n";
    let a = b"server { listen 80; return 403; }\n";
    let b = b"server { listen 80; server_name ok.test; location / { proxy_pass http://u; } }\n";
    let files: [(&str, &[u8]); 4] = [
        ("etc/nginx/nginx.conf", main),
        ("etc/nginx/conf.d/b.conf", b),
        ("etc/nginx/conf.d/a.conf", a),
        ("etc/nginx/conf.d/.c.conf", b"garbage {"),
    ];
    let i = import(Format::Nginx, &files, &Options::default().sandboxed(true)).unwrap();
    assert_eq!(verdict(&i, "ok.test", 80, Via::Http), Action::Allow);
    // a.conf comes first in name order: its server is port 80's default.
    assert_eq!(verdict(&i, "other.test", 80, Via::Http), Action::Deny);
    assert_eq!(i.sources()[0].file, "etc/nginx/conf.d/b.conf");
    // Errors in an included file are at its own lines.
    let bad: [(&str, &[u8]); 2] = [
        ("etc/nginx/nginx.conf", main),
        (
            "etc/nginx/conf.d/a.conf",
            b"server {\n listen 80;\n bogus 1;\n}\n",
        ),
    ];
    let e = import(Format::Nginx, &bad, &Options::default().sandboxed(true)).unwrap_err();
    assert!(
        e[0].to_string()
            .starts_with("etc/nginx/conf.d/a.conf:3:2: `bogus`"),
        "{}",
        e[0]
    );
    // An include of itself is refused.
    let e = conf("include nginx.conf;\n").unwrap_err();
    assert!(e[0].message.contains("being read already"), "{}", e[0]);
}

#[test]
fn warnings_for_what_is_not_reproduced() {
    let i = conf(
        "http {\n  server {\n    listen 80;\n    allow 10.0.0.0/8;\n    deny all;\n    location / { proxy_pass http://$host; }\n  }\n}\n",
    )
    .unwrap();
    let w: Vec<String> = i.warnings().iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter()
            .any(|w| w.starts_with("nginx.conf:4:5: warning: `allow 10.0.0.0/8`")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.starts_with("nginx.conf:6:18: warning: `proxy_pass` to the requested name")),
        "{w:?}"
    );
    assert_eq!(verdict(&i, "any.test", 80, Via::Http), Action::Allow);
    assert_eq!(verdict(&i, "any.test", 80, Via::Tls), Action::Deny);
    assert_eq!(verdict(&i, "any.test", 80, Via::Connect), Action::Deny);
    assert_eq!(verdict(&i, "any.test", 80, Via::Dns), Action::Deny);
}

#[test]
fn plain_map_keys_that_no_name_equals_are_left_out_with_a_warning() {
    let i = conf("http {\n  map $host $v {\n    *.a.test 1;\n    .b.test 1;\n    c.test. 1;\n  }\n  server {\n    listen 80;\n    if ($v) { return 403; }\n    location / { proxy_pass http://u; }\n  }\n}\n").unwrap();
    let w: Vec<String> = i.warnings().iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(
        w[0].starts_with("nginx.conf:3:5: warning: `*.a.test` never matches"),
        "{w:?}"
    );
    for name in ["x.a.test", "b.test", "x.b.test", "c.test"] {
        assert_eq!(verdict(&i, name, 80, Via::Http), Action::Allow, "{name}");
    }
}

#[test]
fn per_object_and_workload_are_refused() {
    let files: [(&str, &[u8]); 1] = [("n.conf", b"events {}\n")];
    assert!(import(Format::Nginx, &files, &Options::default().per_object(true)).is_err());
}

/// Debian's own /etc/nginx/nginx.conf (where nginx is installed): its default site serves
/// files, which is no egress decision; hostgate says so, at the location.
#[test]
fn debians_default_configuration() {
    let path = Path::new("/etc/nginx/nginx.conf");
    if !path.exists() {
        eprintln!("skipped: /etc/nginx/nginx.conf is not installed (scripts/test.d/diff-nginx.sh installs it)");
        return;
    }
    match file(path) {
        Ok(i) => panic!("accepted:\n{}", render(&i)),
        Err(e) => {
            let all: Vec<String> = e.iter().map(|d| d.to_string()).collect();
            assert!(all.iter().any(|m| m.contains("serves files")), "{all:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Property: the documented selection order, written naively.

#[derive(Clone, Debug)]
enum K {
    Exact(String),
    Star(String),
    Dot(String),
    Tail(String),
    /// `~*^PREFIX\.` or `~*\.SUFFIX$`.
    RePrefix(String),
    ReSuffix(String),
}

impl K {
    /// As a map key, or (`server`) as a server name, whose regexes are written `~` (one
    /// with a capital letter is caseless).
    fn text(&self, server: bool) -> String {
        let re = if server { "~^" } else { "~*^" };
        let re_end = if server { "~\\." } else { "~*\\." };
        match self {
            K::Exact(x) => x.clone(),
            K::Star(x) => format!("*.{x}"),
            K::Dot(x) => format!(".{x}"),
            K::Tail(x) => format!("{x}.*"),
            K::RePrefix(x) => format!("\"{re}{}\\.\"", x.replace('.', "\\.")),
            K::ReSuffix(x) => format!("\"{re_end}{}$\"", x.replace('.', "\\.")),
        }
    }
}

/// nginx's choice for `name` (lowercased, one trailing dot removed): exact (a `.x` key's x
/// included), the longest leading wildcard, the longest trailing wildcard, the first regex.
fn naive(keys: &[(K, bool)], name: &str) -> Option<bool> {
    let n = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    for (k, v) in keys {
        if let K::Exact(x) | K::Dot(x) = k {
            if *x == n {
                return Some(*v);
            }
        }
    }
    let below = |x: &str| n.ends_with(&format!(".{x}"));
    let lead = keys
        .iter()
        .filter_map(|(k, v)| match k {
            K::Star(x) | K::Dot(x) if below(x) => Some((x.len(), *v)),
            _ => None,
        })
        .max_by_key(|(l, _)| *l);
    if let Some((_, v)) = lead {
        return Some(v);
    }
    let tail = keys
        .iter()
        .filter_map(|(k, v)| match k {
            K::Tail(x) if n.starts_with(&format!("{x}.")) => Some((x.len(), *v)),
            _ => None,
        })
        .max_by_key(|(l, _)| *l);
    if let Some((_, v)) = tail {
        return Some(v);
    }
    keys.iter().find_map(|(k, v)| match k {
        K::RePrefix(x) if n.starts_with(&format!("{x}.")) => Some(*v),
        K::ReSuffix(x) if n.ends_with(&format!(".{x}")) => Some(*v),
        _ => None,
    })
}

fn label() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "ab", "x"]).prop_map(String::from)
}

fn dname() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..4).prop_map(|l| l.join("."))
}

fn key() -> impl Strategy<Value = K> {
    prop_oneof![
        dname().prop_map(K::Exact),
        dname().prop_map(K::Star),
        dname().prop_map(K::Dot),
        dname().prop_map(K::Tail),
        dname().prop_map(K::RePrefix),
        dname().prop_map(K::ReSuffix),
    ]
}

/// Keys nginx takes together: no key twice, no `.x` with `x` or `*.x`.
fn compatible(keys: Vec<(K, bool)>) -> Vec<(K, bool)> {
    let mut out: Vec<(K, bool)> = Vec::new();
    let clash = |a: &K, b: &K| match (a, b) {
        (K::Dot(x), K::Exact(y) | K::Star(y) | K::Dot(y))
        | (K::Exact(y) | K::Star(y), K::Dot(x)) => x == y,
        _ => a.text(false) == b.text(false),
    };
    for (k, v) in keys {
        if !out.iter().any(|(o, _)| clash(o, &k)) {
            out.push((k, v));
        }
    }
    out
}

fn spelled(name: &str, upper: u8, dot: bool) -> String {
    let mut s: String = name
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if upper >> (i % 8) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    if dot {
        s.push('.');
    }
    s
}

proptest! {
    #[test]
    fn map_and_server_name_follow_the_documented_order(
        keys in prop::collection::vec((key(), any::<bool>()), 1..7),
        default in any::<bool>(),
        names in prop::collection::vec((prop::collection::vec(label(), 0..3), dname(), any::<u8>(), any::<bool>()), 1..8),
    ) {
        let keys = compatible(keys);
        let value = |allow: bool| if allow { "127.0.0.1:18202" } else { "\"\"" };
        let mut sni = format!("stream {{\n  map $ssl_preread_server_name $u {{\n    hostnames;\n    default {};\n", value(default));
        for (k, v) in &keys {
            sni.push_str(&format!("    {} {};\n", k.text(false), value(*v)));
        }
        sni.push_str("  }\n  server { listen 443; ssl_preread on; proxy_pass $u; }\n}\n");
        let action = |allow: bool| if allow { "location / { proxy_pass http://u; }" } else { "return 403;" };
        let mut http = format!("http {{\n  server {{ listen 80; {} }}\n", action(default));
        for (k, v) in &keys {
            http.push_str(&format!("  server {{ listen 80; server_name {}; {} }}\n", k.text(true), action(*v)));
        }
        http.push_str("}\n");
        let sni_i = conf(&sni).map_err(|e| TestCaseError::fail(format!("{sni}\n{e:?}")))?;
        let http_i = conf(&http).map_err(|e| TestCaseError::fail(format!("{http}\n{e:?}")))?;
        for (prefix, base, upper, dot) in &names {
            // Names near the keys: below, at, and beside them.
            let mut near = prefix.clone();
            near.push(base.clone());
            let n = spelled(&near.join("."), *upper, *dot);
            let want = if naive(&keys, &n).unwrap_or(default) { Action::Allow } else { Action::Deny };
            prop_assert_eq!(verdict(&sni_i, &n, 443, Via::Tls), want, "{}\n{}\n{}", n, sni, render(&sni_i));
            prop_assert_eq!(verdict(&http_i, &n, 80, Via::Http), want, "{}\n{}\n{}", n, http, render(&http_i));
        }
    }

    #[test]
    fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = import(Format::Nginx, &[("f", &bytes)], &Options::default().sandboxed(true));
    }

    #[test]
    fn never_panics_on_config_words(words in prop::collection::vec(prop_oneof![
        Just("http"), Just("stream"), Just("server"), Just("map"), Just("$host"), Just("$u"),
        Just("$ssl_preread_server_name"), Just("hostnames;"), Just("default"), Just("listen"),
        Just("80"), Just("server_name"), Just("*.a.test"), Just(".a.test"), Just("a.*"),
        Just("~^a\\."), Just("~*(?i)x"), Just("[a-"), Just("{"), Just("}"), Just(";"), Just("\""),
        Just("'"), Just("\\"), Just("#"), Just("\n"), Just("if"), Just("($u"), Just("= 0)"),
        Just("return 403;"), Just("proxy_pass"), Just("http://u;"), Just("location"), Just("/"),
        Just("ssl_preread on;"), Just("include"), Just("*.conf;"), Just("deny all;"),
    ], 0..40)) {
        let text = words.join(" ");
        let _ = conf(&text);
    }
}
