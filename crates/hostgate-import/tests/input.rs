//! Input shapes (several documents, `kind: List`, JSON) and bad input, each error at its
//! position.

use hostgate::{Action, Format, Query, Via};
use hostgate_import::{import, Options};

fn allows(files: &[(&str, &[u8])], name: &str) -> bool {
    let i = import(Format::Cilium, files, &Options::default()).unwrap_or_else(|e| panic!("{e:?}"));
    let e = i.engine();
    e.check(
        e.policy("default").unwrap(),
        &Query::new(name).port(443).via(Via::Tls),
    )
    .action
        == Action::Allow
}

fn first_error(format: Format, text: &str) -> String {
    let errs =
        import(format, &[("in.yaml", text.as_bytes())], &Options::default()).expect_err("refused");
    errs[0].to_string()
}

#[test]
fn documents_lists_and_json() {
    let docs = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: a}\nspec:\n  egress: [{toFQDNs: [{matchName: a.io}]}]\n---\n# a comment-only document\n---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: b}\nspec:\n  egress: [{toFQDNs: [{matchName: b.io}]}]\n";
    assert!(allows(&[("d.yaml", docs.as_bytes())], "a.io"));
    assert!(allows(&[("d.yaml", docs.as_bytes())], "b.io"));
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: cilium.io/v2\n  kind: CiliumNetworkPolicy\n  metadata: {name: a, namespace: n}\n  spec:\n    egress: [{toFQDNs: [{matchPattern: '*.a.io'}]}]\n";
    assert!(allows(&[("l.yaml", list.as_bytes())], "x.a.io"));
    let json = r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
      "metadata": {"name": "j", "namespace": "n", "uid": "1", "annotations": {"k": "v"}},
      "spec": {"endpointSelector": {"matchLabels": {"app": "x"}}, "egress": [{"toFQDNs": [{"matchName": "j.io"}], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}]}}]}"#;
    assert!(allows(&[("j.json", json.as_bytes())], "j.io"));
    let i = import(
        Format::Cilium,
        &[("j.json", json.as_bytes())],
        &Options::default(),
    )
    .unwrap();
    assert_eq!(i.sources()[0].line, 3);
    assert_eq!(
        i.policies()[0].rules[0].id.as_deref(),
        Some("CiliumNetworkPolicy/n/j:0")
    );
}

#[test]
fn bad_input_is_refused_at_its_position() {
    let head = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\n";
    let cases = [
        (format!("{head}spec:\n  egress:\n  - toFQDNs: [{{matchName: a.io, matchPattern: '*.a.io'}}]\n"), "in.yaml:6:15: give one of matchName and matchPattern"),
        (format!("{head}spec:\n  egress:\n  - toFQDNs: [{{}}]\n"), "in.yaml:6:15: an FQDN selector needs matchName or matchPattern"),
        (format!("{head}spec:\n  egress:\n  - toFQDNs: [{{matchPattern: '*.a..io'}}]\n"), "in.yaml:6:30: matchPattern `*.a..io` is not valid"),
        (format!("{head}spec:\n  egress:\n  - toFQDNs: [{{matchName: {}.io}}]\n", "a".repeat(64)), "in.yaml:6:27: `"),
        (format!("{head}spec:\n  egressDeny:\n  - toFQDNs: [{{matchName: a.io}}]\n"), "in.yaml:6:14: `toFQDNs` in egressDeny"),
        (format!("{head}spec:\n  egress:\n  - toPorts: [{{ports: [{{port: '70000'}}]}}]\n"), "in.yaml:6:31: port `70000` is not in 1-65535"),
        (format!("{head}spec:\n  egress:\n  - toPorts: [{{ports: [{{port: '90', endPort: 80}}]}}]\n"), "in.yaml:6:46: endPort `80` must be"),
        (format!("{head}spec:\n  egress:\n  - toPorts: [{{ports: [{{port: '90', protocol: ICMP}}]}}]\n"), "in.yaml:6:47: protocol `ICMP`"),
        (format!("{head}spec:\n  enableDefaultDeny: {{egress: maybe}}\n  egress: []\n"), "in.yaml:5:31: enableDefaultDeny.egress must be true or false"),
        (format!("{head}spec:\n  egress: {{toFQDNs: []}}\n"), "in.yaml:5:11: egress must be a list"),
        (format!("{head}spec:\n  egress:\n  - toCIDRSet: [{{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]\n"), "in.yaml:6:44: `except` in an allow"),
        (format!("{head}spec:\n  egress:\n  - toCIDR: [10.0.0.1/8]\n"), "in.yaml:6:14: `10.0.0.1/8` is not a hostgate pattern: `10.0.0.1/8` has host bits set"),
        (format!("{head}specs: []\n"), "in.yaml:1:1: CiliumNetworkPolicy/x without `spec` or `specs`"),
        (format!("{head}spec: {{egress: [], egress: []}}\n"), "in.yaml:4:20: duplicate key `egress`"),
        ("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: Bad_Name}\nspec: {}\n".to_string(), "in.yaml:3:18: metadata.name `Bad_Name`"),
        ("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {namespace: n}\nspec: {}\n".to_string(), "in.yaml:3:11: CiliumNetworkPolicy without `metadata.name`"),
        ("- a\n- b\n".to_string(), "in.yaml:1:1: expected an object (a mapping), not a list"),
        ("kind: CiliumNetworkPolicy\n".to_string(), "in.yaml:1:1: object without `apiVersion` and `kind`"),
        ("a: *nothing\n".to_string(), "in.yaml:1:4: invalid YAML: while parsing node, found unknown anchor"),
        ("a:\tb\n\t- c\n".to_string(), "in.yaml:"),
    ];
    for (text, want) in &cases {
        let got = first_error(Format::Cilium, text);
        assert!(got.starts_with(want), "want {want}\n got {got}\n in {text}");
    }
    let not_utf8 = import(
        Format::Cilium,
        &[("u.yaml", b"a: \xff\n".as_slice())],
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(
        not_utf8[0].to_string(),
        "u.yaml:1:4: file is not UTF-8 text"
    );
    let gke = "apiVersion: networking.gke.io/v1\nkind: FQDNNetworkPolicy\nmetadata: {name: g}\nspec: {}\n";
    assert!(first_error(Format::Gke, gke)
        .starts_with("in.yaml:1:13: apiVersion `networking.gke.io/v1`"));
    let gke = "apiVersion: networking.gke.io/v1alpha1\nkind: FQDNNetworkPolicy\nmetadata: {name: g}\nspec:\n  egress:\n  - ports: [{port: 443}]\n";
    assert!(
        first_error(Format::Gke, gke).starts_with("in.yaml:6:5: an egress rule without `matches`")
    );
}

#[test]
fn warnings_name_what_is_not_reproduced() {
    let y = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: w}\nspec:\n  ingress: [{}]\n  egress:\n  - toEntities: [world]\n    toPorts: [{ports: [{port: '443'}]}]\n  - toFQDNs: [{matchName: q.io}]\n    toPorts: [{ports: [{port: '443', protocol: UDP}, {port: '9', protocol: SCTP}]}]\n  - toPorts:\n    - ports: [{port: '80'}]\n      rules: {http: [{host: 'api\\.x\\.io', path: /v1}]}\n";
    let i = import(
        Format::Cilium,
        &[("w.yaml", y.as_bytes())],
        &Options::default(),
    )
    .unwrap();
    let w: Vec<String> = i.warnings().iter().map(|w| w.to_string()).collect();
    for want in [
        "w.yaml:5:3: warning: `ingress` is about traffic to the workload",
        "w.yaml:7:5: warning: `toEntities` selects peers by address",
        "w.yaml:10:76: warning: SCTP is not a name-based protocol",
        "w.yaml:10:15: warning: UDP ports: only QUIC",
        "w.yaml:13:49: warning: HTTP `path` is not reproduced",
        "w.yaml:13:29: warning: HTTP host is a POSIX extended regex",
    ] {
        assert!(
            w.iter().any(|x| x.starts_with(want)),
            "{want} not in {w:#?}"
        );
    }
    let e = i.engine();
    let p = e.policy("default").unwrap();
    // QUIC to q.io on UDP 443 (via tls) is allowed; the HTTP host regex is matched on names.
    assert!(e
        .check(p, &Query::new("q.io").port(443).via(Via::Tls))
        .is_allow());
    assert!(e
        .check(p, &Query::new("api.x.io").port(80).via(Via::Http))
        .is_allow());
    assert!(!e
        .check(p, &Query::new("api.x.io").port(443).via(Via::Http))
        .is_allow());
}

#[test]
fn errors_at_the_end_of_input_stay_inside_the_text() {
    // Found by the import_yaml fuzz target: the parser put this error two lines past the end.
    let text = include_bytes!("data/fuzz-end-of-input.yaml");
    let lines = text.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
    let errs = import(
        Format::Cilium,
        &[("f", text.as_slice())],
        &Options::default(),
    )
    .unwrap_err();
    for e in errs {
        assert!(e.line >= 1 && e.line <= lines, "{e} in {lines} lines");
    }
}

#[test]
fn port_53_without_dns_rules_is_warned() {
    let y = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: d}\nspec:\n  egress:\n  - toCIDR: [10.0.0.10/32]\n    toPorts: [{ports: [{port: '53', protocol: UDP}]}]\n";
    let i = import(
        Format::Cilium,
        &[("d.yaml", y.as_bytes())],
        &Options::default(),
    )
    .unwrap();
    assert!(
        i.warnings().iter().any(|w| w
            .to_string()
            .starts_with("d.yaml:7:15: warning: port 53 without DNS rules")),
        "{:?}",
        i.warnings()
    );
    let e = i.engine();
    assert!(!e
        .check(
            e.policy("default").unwrap(),
            &Query::new("a.io").via(Via::Dns)
        )
        .is_allow());
}
