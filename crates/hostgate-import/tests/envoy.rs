//! Envoy static bootstrap: the table of `tests/data/envoy/cases.tsv` (the same table
//! `scripts/test.d/diff-envoy.sh` runs against the real Envoy), the upstream example, refusals
//! and warnings at their positions, and property tests against matchers written from Envoy's
//! API documentation: `FilterChainMatch.server_names` (listener_components.proto: exact, then
//! the longest `*.` wildcard, never the bare domain) and `VirtualHost.domains`
//! (route_components.proto: exact, longest suffix, longest prefix, `*`; the wildcard never
//! matches the empty string).

mod common;
use common::*;

use std::path::Path;

use hostgate::{Action, Format, Via};
use hostgate_import::{import, render, ImportDiagnostic, Imported, Options};
use proptest::prelude::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/envoy");

fn conf(text: &str) -> Result<Imported, Vec<ImportDiagnostic>> {
    import(
        Format::Envoy,
        &[("envoy.yaml", text.as_bytes())],
        &Options::default(),
    )
}

#[test]
fn the_case_table() {
    let configs = case_table(Format::Envoy, DATA, ".yaml", 80);
    every_config_has_cases(DATA, &configs, stem);
}

#[test]
fn every_example_file_imports() {
    // Envoy's CONNECT proxy example: one virtual host `*`, a connect_matcher route with the
    // CONNECT upgrade. Every CONNECT passes; a plain request matches no route (404).
    let path = Path::new(DATA).join("configs-proxy_connect.yaml");
    let bytes = std::fs::read(&path).unwrap();
    let i = import(
        Format::Envoy,
        &[("proxy_connect.yaml", &bytes)],
        &Options::default(),
    )
    .unwrap();
    assert!(i.warnings().is_empty(), "{:?}", i.warnings());
    for name in ["api.example.com", "x.y", "203.0.113.9"] {
        assert_eq!(
            verdict(&i, name, 443, Via::Connect),
            Action::Allow,
            "{name}"
        );
    }
    assert_eq!(
        verdict(&i, "api.example.com", 10001, Via::Http),
        Action::Deny
    );
    assert_eq!(
        verdict(&i, "api.example.com", 10001, Via::Tls),
        Action::Deny
    );
    let r = &i.policies()[0].rules[0];
    assert_eq!((r.pattern.as_str(), r.line), ("*", 34));
    assert_eq!(r.id.as_deref(), Some("listener_0:34:0"));
    assert_eq!(i.sources()[0].object, "listener_0");
}

/// A listener on 443 with the TLS inspector and these filter chains (YAML at indent 4).
fn tls_listener(chains: &str) -> String {
    format!(
        "static_resources:\n  listeners:\n  - name: l\n    address: {{socket_address: \
         {{address: 0.0.0.0, port_value: 443}}}}\n    listener_filters:\n    - name: tls\n      \
         typed_config: {{'@type': type.googleapis.com/envoy.extensions.filters.listener.\
         tls_inspector.v3.TlsInspector}}\n    filter_chains:\n{chains}"
    )
}

const TCP: &str = "      - name: tcp\n        typed_config: {'@type': type.googleapis.com/envoy.\
                   extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: s, cluster: c}\n";

/// A listener on `port` whose one chain is an HTTP connection manager with these virtual
/// hosts (YAML at indent 12) and HTTP filters before the router (indent 10).
fn http_listener(port: u16, vhosts: &str, filters: &str, extra: &str) -> String {
    format!(
        "static_resources:\n  listeners:\n  - name: h\n    address: {{socket_address: \
         {{address: 0.0.0.0, port_value: {port}}}}}\n    filter_chains:\n    - filters:\n      \
         - name: hcm\n        typed_config:\n          '@type': type.googleapis.com/envoy.\
         extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n          \
         stat_prefix: h\n{extra}          route_config:\n            virtual_hosts:\n{vhosts}          \
         http_filters:\n{filters}          - name: router\n            typed_config: {{'@type': \
         type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}\n"
    )
}

fn vhost(name: &str, domains: &[&str], pass: bool) -> String {
    let action = if pass {
        "route: {cluster: c}"
    } else {
        "direct_response: {status: 403}"
    };
    let domains: Vec<String> = domains.iter().map(|d| format!("'{d}'")).collect();
    format!(
        "            - name: {name}\n              domains: [{}]\n              routes:\n              \
         - match: {{prefix: /}}\n                {action}\n",
        domains.join(", ")
    )
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

#[test]
fn bad_input_is_refused_at_its_position() {
    let chain = |m: &str| format!("    - filter_chain_match: {m}\n      filters:\n{TCP}");
    let cases: Vec<(String, &str)> = vec![
        ("a: [".into(), "envoy.yaml:1:1: invalid YAML"),
        ("statics: {}\n".into(), "envoy.yaml:1:1: unknown field `statics` in the bootstrap"),
        ("admin: {}\n".into(), "envoy.yaml:1:1: a bootstrap without `static_resources`"),
        (
            tls_listener(&chain("{server_names: [API.example.com]}")),
            "envoy.yaml:9:43: server name `API.example.com` has capitals",
        ),
        (
            tls_listener(&chain("{server_names: ['a*.example.com']}")),
            "envoy.yaml:9:43: server name `a*.example.com`: expected a name or `*.`",
        ),
        (
            tls_listener(&chain("{source_prefix_ranges: [{address_prefix: 10.0.0.0, prefix_len: 8}]}")),
            "envoy.yaml:9:28: filter_chain_match.source_prefix_ranges: the chain chosen would depend on addresses",
        ),
        (
            tls_listener(&chain("{server_nam: [a.io]}")),
            "envoy.yaml:9:28: unknown field `server_nam` in filter_chain_match",
        ),
        (
            tls_listener(&format!("{}{}", chain("{server_names: [a.io]}"), chain("{server_names: [a.io]}"))),
            "envoy.yaml:13:7: this filter chain has the same match as the one on line 9",
        ),
        (
            tls_listener(
                "    - filters:\n      - name: x\n        typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.network.sni_cluster.v3.SniCluster}\n",
            ),
            "envoy.yaml:11:33: network filter `envoy.extensions.filters.network.sni_cluster.v3.SniCluster` is not read",
        ),
        (
            tls_listener("    - filters:\n      - name: x\n        typed_config: {'@type': envoy.TcpProxy}\n"),
            "envoy.yaml:11:33: @type `envoy.TcpProxy` does not start with type.googleapis.com/",
        ),
        (
            tls_listener(
                "    - filters:\n      - name: r\n        typed_config:\n          '@type': type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC\n          stat_prefix: r\n          rules:\n            policies:\n              p:\n                permissions: [{destination_ip: {address_prefix: 10.0.0.1, prefix_len: 32}}]\n                principals: [{any: true}]\n",
            ),
            "envoy.yaml:17:32: permission `destination_ip`: not decided by the destination name",
        ),
        (
            tls_listener(
                "    - filters:\n      - name: r\n        typed_config:\n          '@type': type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC\n          stat_prefix: r\n          rules:\n            policies:\n              p:\n                permissions: [{any: true}]\n                principals: [{any: true}]\n                condition: {const_expr: {bool_value: true}}\n",
            ),
            "envoy.yaml:19:17: condition: a CEL expression is not decided by the name",
        ),
        (
            http_listener(80, &vhost("a", &["a.io", "*x*"], true), "", ""),
            "envoy.yaml:14:33: domain `*x*`: a wildcard is only",
        ),
        (
            http_listener(80, &format!("{}{}", vhost("a", &["a.io"], true), vhost("b", &["A.io"], true)), "", ""),
            "envoy.yaml:19:25: domain `a.io` is also on line 14",
        ),
        (
            http_listener(80, &vhost("a", &["a.io"], true), "", "          rds: {route_config_name: r}\n"),
            "envoy.yaml:11:11: rds: routes from xDS are not read",
        ),
        (
            http_listener(
                80,
                &vhost("a", &["a.io"], true),
                "          - name: lua\n            typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua}\n",
                "",
            ),
            "envoy.yaml:20:37: HTTP filter `envoy.extensions.filters.http.lua.v3.Lua` is not read",
        ),
        (
            http_listener(
                80,
                &vhost("a", &["a.io"], true),
                "          - name: rbac\n            typed_config:\n              '@type': type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC\n              rules:\n                policies:\n                  p:\n                    permissions: [{header: {name: user-agent, exact_match: curl}}]\n                    principals: [{any: true}]\n",
                "",
            ),
            "envoy.yaml:25:51: header `user-agent`: only :authority (host) is decided by the name",
        ),
        (
            // An ALLOW HTTP RBAC with a regex in front of virtual hosts that decide by
            // suffix: the pair is no single rule.
            http_listener(
                80,
                &format!("{}{}", vhost("a", &["*.a.io"], true), vhost("b", &["*"], false)),
                "          - name: rbac\n            typed_config:\n              '@type': type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC\n              rules:\n                policies:\n                  p:\n                    permissions: [{header: {name: ':authority', string_match: {safe_regex: {regex: 'x.*'}}}}]\n                    principals: [{any: true}]\n",
                "",
            ),
            "envoy.yaml:30:92: `.+(?i:\\.a\\.io)` and `x.*` must both hold",
        ),
        (
            "static_resources:\n  listeners:\n  - name: a\n    address: {socket_address: {address: 0.0.0.0, port_value: 80}}\n    filter_chains: [{filters: [{name: t, typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, cluster: c}}]}]\n  - name: b\n    address: {socket_address: {address: 127.0.0.1, port_value: 80}}\n    filter_chains: [{filters: [{name: t, typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, cluster: c}}]}]\n".into(),
            "envoy.yaml:6:5: a second listener on port 80 (the first, `a`, is on line 3)",
        ),
        (
            "static_resources:\n  listeners:\n  - name: a\n    address: {socket_address: {address: 0.0.0.0, port_value: 70000}}\n    filter_chains: []\n".into(),
            "envoy.yaml:4:62: port_value 70000: expected 1-65535",
        ),
        (
            "static_resources:\n  listeners:\n  - name: a\n    address: {socket_address: {address: 0.0.0.0, port_value: 80}}\n    use_original_dst: true\n    filter_chains: []\n".into(),
            "envoy.yaml:5:5: use_original_dst: connections are handed",
        ),
    ];
    for (text, want) in &cases {
        let got = errors(text);
        assert!(
            got.iter().any(|e| e.starts_with(want)),
            "want {want}\ngot {got:#?}\n{text}"
        );
    }
    // More than one file, and bytes that are not text.
    let two = import(
        Format::Envoy,
        &[
            ("a.yaml", b"admin: {}\n".as_slice()),
            ("b.yaml", b"admin: {}\n".as_slice()),
        ],
        &Options::default(),
    )
    .unwrap_err();
    assert!(two[0]
        .to_string()
        .starts_with("a.yaml:1:1: an Envoy bootstrap is one file"));
    let bin = import(
        Format::Envoy,
        &[("x.yaml", b"\xff\xfe".as_slice())],
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(
        bin[0].to_string(),
        "x.yaml:1:1: the bootstrap is not UTF-8 text"
    );
}

#[test]
fn warns_what_is_not_reproduced_or_surprising() {
    // HTTP RBAC DENY on :authority: the case and the port let names through.
    let deny = http_listener(
        80,
        &vhost("a", &["*"], true),
        "          - name: rbac\n            typed_config:\n              '@type': type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC\n              rules:\n                action: DENY\n                policies:\n                  p:\n                    permissions: [{header: {name: ':authority', string_match: {suffix: .facebook.com}}}]\n                    principals: [{source_ip: {address_prefix: 10.0.0.0, prefix_len: 8}}]\n",
        "",
    );
    let w = warnings(&deny);
    for want in [
        "envoy.yaml:26:88: warning: the Host is matched as sent (case kept, `:port` kept): `WWW.FACEBOOK.COM` and `www.facebook.com:8080` are not denied by this",
        "envoy.yaml:27:35: warning: principal `source_ip` is about the client, not the destination: taken to match every client",
    ] {
        assert!(w.iter().any(|x| x == want), "{want}\n{w:#?}");
    }
    let i = conf(&deny).unwrap();
    assert_eq!(verdict(&i, "www.facebook.com", 80, Via::Http), Action::Deny);
    assert_eq!(
        verdict(&i, "WWW.FACEBOOK.COM", 80, Via::Http),
        Action::Allow
    );
    assert_eq!(
        verdict(&i, "www.facebook.com", 8080, Via::Http),
        Action::Deny,
        "no listener on 8080"
    );
    // A domain without its port on a listener not on 80 takes no request.
    let w = warnings(&http_listener(
        8080,
        &vhost("a", &["api.example.com"], true),
        "",
        "",
    ));
    assert!(
        w.iter().any(|x| x.starts_with("envoy.yaml:14:25: warning: on port 8080 the Host carries `:8080`: `api.example.com:8080` is not `api.example.com`")),
        "{w:#?}"
    );
    // xDS and DNS.
    let w = warnings(&format!(
        "dynamic_resources: {{lds_config: {{ads: {{}}}}}}\n{}",
        http_listener(
            80,
            &vhost("a", &["*"], true),
            "          - name: dfp\n            typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig, dns_cache_config: {name: c}}\n",
            "",
        )
    ));
    assert!(w[0].starts_with("envoy.yaml:1:1: warning: dynamic_resources: listeners and routes from xDS are not read"), "{w:#?}");
    assert!(
        w.iter().any(|x| x.starts_with(
            "envoy.yaml:21:37: warning: dynamic_forward_proxy: a name that does not resolve"
        )),
        "{w:#?}"
    );
    // server_names without the TLS inspector never match.
    let no_inspector = "static_resources:\n  listeners:\n  - name: l\n    address: {socket_address: {address: 0.0.0.0, port_value: 443}}\n    filter_chains:\n    - filter_chain_match: {server_names: [a.io]}\n      filters: [{name: t, typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, cluster: c}}]\n";
    let w = warnings(no_inspector);
    assert!(
        w[0].starts_with("envoy.yaml:3:5: warning: server_names without the tls_inspector"),
        "{w:#?}"
    );
    assert_eq!(
        verdict(&conf(no_inspector).unwrap(), "a.io", 443, Via::Tls),
        Action::Deny
    );
    // A route for some paths only is taken as matching nothing.
    let paths = http_listener(80, "            - name: a\n              domains: ['*']\n              routes:\n              - match: {prefix: /api}\n                route: {cluster: c}\n", "", "");
    let w = warnings(&paths);
    assert!(
        w[0].starts_with("envoy.yaml:16:24: warning: a route for some paths only"),
        "{w:#?}"
    );
    assert_eq!(
        verdict(&conf(&paths).unwrap(), "a.io", 80, Via::Http),
        Action::Deny
    );
}

#[test]
fn rules_are_received_regexes_limited_to_the_listener_port() {
    let i = conf(&tls_listener(&format!(
        "    - filter_chain_match: {{server_names: ['*.example.com']}}\n      filters:\n{TCP}"
    )))
    .unwrap();
    let p = &i.policies()[0];
    assert_eq!(p.precedence, hostgate::Precedence::FirstMatch);
    assert_eq!(p.default, Action::Deny);
    assert_eq!(p.rules.len(), 1);
    let r = &p.rules[0];
    assert_eq!(r.pattern, "~.+(?i:\\.example\\.com)");
    assert!(r.received);
    assert_eq!(r.ports, vec![(443, 443)]);
    assert_eq!(r.via, vec![Via::Tls]);
    assert_eq!(r.id.as_deref(), Some("l:9:0"));
    assert_eq!(i.sources()[0].line, 9);
    assert_eq!(verdict(&i, "A.Example.COM", 443, Via::Tls), Action::Allow);
    assert_eq!(verdict(&i, "a.example.com", 8443, Via::Tls), Action::Deny);
    assert_eq!(verdict(&i, "a.example.com.", 443, Via::Tls), Action::Deny);
    // JSON is read too.
    let json = r#"{"static_resources": {"listeners": [{"name": "j", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 80}}, "filter_chains": [{"filters": [{"name": "t", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "cluster": "c"}}]}]}]}}"#;
    let j = conf(json).unwrap();
    assert_eq!(verdict(&j, "any.example", 80, Via::Http), Action::Allow);
    assert_eq!(verdict(&j, "any.example", 80, Via::Tls), Action::Allow);
    assert_eq!(verdict(&j, "any.example", 81, Via::Http), Action::Deny);
}

/// Envoy's server_names choice, from the API docs: the exact name, else the longest `*.x`
/// with at least one character before `.x`; names compared lowercased, a trailing dot kept.
fn naive_sni(exact: &[(String, bool)], wild: &[(String, bool)], sni: &str) -> Option<bool> {
    let s = sni.to_ascii_lowercase();
    if let Some((_, v)) = exact.iter().find(|(n, _)| *n == s) {
        return Some(*v);
    }
    wild.iter()
        .filter(|(w, _)| s.len() > w.len() - 1 && s.ends_with(&w[1..]))
        .max_by_key(|(w, _)| w.len())
        .map(|(_, v)| *v)
}

/// Envoy's virtual host choice: exact, longest suffix, longest prefix, `*`; caseless; the
/// wildcard part never empty; the Host as received (with its `:port`).
fn naive_domains(domains: &[(String, bool)], host: &str) -> Option<bool> {
    let h = host.to_ascii_lowercase();
    if let Some((_, v)) = domains.iter().find(|(d, _)| !d.contains('*') && *d == h) {
        return Some(*v);
    }
    let suffix = domains
        .iter()
        .filter(|(d, _)| d.len() > 1 && d.starts_with('*'))
        .filter(|(d, _)| h.len() > d.len() - 1 && h.ends_with(&d[1..]))
        .max_by_key(|(d, _)| d.len());
    if let Some((_, v)) = suffix {
        return Some(*v);
    }
    let prefix = domains
        .iter()
        .filter(|(d, _)| d.len() > 1 && d.ends_with('*'))
        .filter(|(d, _)| h.len() > d.len() - 1 && h.starts_with(&d[..d.len() - 1]))
        .max_by_key(|(d, _)| d.len());
    if let Some((_, v)) = prefix {
        return Some(*v);
    }
    domains.iter().find(|(d, _)| d == "*").map(|(_, v)| *v)
}

fn label() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "example", "com", "x-1", "api"]).prop_map(str::to_string)
}

fn case(name: &str, upper: &[bool]) -> String {
    name.chars()
        .zip(upper.iter().cycle())
        .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn server_names_agree_with_the_documented_choice(
        names in prop::collection::vec((prop::collection::vec(label(), 1..3), any::<bool>(), any::<bool>()), 1..5),
        default in prop::option::of(any::<bool>()),
        query in prop::collection::vec(label(), 1..4),
        upper in prop::collection::vec(any::<bool>(), 1..4),
        trailing_dot in any::<bool>(),
    ) {
        let mut exact = Vec::new();
        let mut wild = Vec::new();
        let mut chains = String::new();
        let mut seen = std::collections::BTreeSet::new();
        for (labels, is_wild, pass) in &names {
            let n = format!("{}{}", if *is_wild { "*." } else { "" }, labels.join("."));
            if !seen.insert(n.clone()) {
                continue;
            }
            if *is_wild { wild.push((n.clone(), *pass)) } else { exact.push((n.clone(), *pass)) }
            let rbac = if *pass { "" } else {
                "      - name: r\n        typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC, stat_prefix: r, rules: {action: ALLOW}}\n"
            };
            chains.push_str(&format!("    - filter_chain_match: {{server_names: ['{n}']}}\n      filters:\n{rbac}{TCP}"));
        }
        let mut text = tls_listener(&chains);
        if let Some(d) = default {
            let rbac = if d { "" } else {
                "      - name: r\n        typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC, stat_prefix: r, rules: {action: ALLOW}}\n"
            };
            text.push_str(&format!("    default_filter_chain:\n      filters:\n{rbac}{TCP}"));
        }
        let i = conf(&text).unwrap();
        // Names near the patterns: their labels, one or two more, case, a trailing dot.
        let sni = format!("{}{}", case(&query.join("."), &upper), if trailing_dot { "." } else { "" });
        let want = naive_sni(&exact, &wild, &sni).or(default).unwrap_or(false);
        let got = verdict(&i, &sni, 443, Via::Tls) == Action::Allow;
        prop_assert_eq!(got, want, "{} on {}\n{}", text, sni, render(&i));
    }

    #[test]
    fn domains_agree_with_the_documented_choice(
        domains in prop::collection::vec((prop::collection::vec(label(), 1..3), 0u8..4, any::<bool>()), 1..6),
        query in prop::collection::vec(label(), 1..4),
        upper in prop::collection::vec(any::<bool>(), 1..4),
        port in prop::sample::select(vec![80u16, 8080]),
        strip in any::<bool>(),
    ) {
        let mut list = Vec::new();
        let mut vhosts = String::new();
        let mut seen = std::collections::BTreeSet::new();
        for (k, (labels, shape, pass)) in domains.iter().enumerate() {
            let body = labels.join(".");
            let d = match shape {
                0 => body,
                1 => format!("*.{body}"),
                2 => format!("*-{body}"),
                _ => format!("{body}.*"),
            };
            if !seen.insert(d.clone()) {
                continue;
            }
            list.push((d.clone(), *pass));
            vhosts.push_str(&vhost(&format!("v{k}"), &[&d], *pass));
        }
        if seen.insert("*".into()) && port == 80 {
            list.push(("*".into(), false));
            vhosts.push_str(&vhost("rest", &["*"], false));
        }
        let extra = if strip { "          strip_any_host_port: true\n" } else { "" };
        let text = http_listener(port, &vhosts, "", extra);
        let i = conf(&text).unwrap();
        let name = case(&query.join("."), &upper);
        let host = if port == 80 || strip { name.clone() } else { format!("{name}:{port}") };
        let want = naive_domains(&list, &host).unwrap_or(false);
        let got = verdict(&i, &name, port, Via::Http) == Action::Allow;
        prop_assert_eq!(got, want, "{} on {}\n{}", text, host, render(&i));
    }

    #[test]
    fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = import(Format::Envoy, &[("e.yaml", &bytes)], &Options::default());
    }
}
