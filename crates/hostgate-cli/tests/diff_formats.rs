//! `hostgate diff` across formats: the classic cases where policies written in two systems'
//! dialects look alike and mean different names. Each case gives both files as their system
//! writes them, and the disagreement each system's documentation implies:
//!
//! - Squid `dstdomain .x` matches `x` and every name below it; Cilium `matchPattern: '*.x'`
//!   matches exactly one label below `x`, never `x`: the apex differs (and deeper names, which
//!   fall in the same region: the same Squid rule against Cilium's default).
//! - Istio `hosts: ['*.x']` is any depth below `x`; GKE `pattern: '*.x'` is one label: two labels
//!   below differ.
//! - network-policy-api `domainNames: ['*.x']` is one or more labels; Cilium's is one.
//! - A regex against its literal expansion agrees; against a partial one, the missing name is the
//!   witness.
//!
//! AWS Network Firewall `.x` against Route 53 DNS Firewall `*.x` (the apex) is in
//! `crates/hostgate-import/tests/route53.rs`: the two products decide different sources (TLS/HTTP
//! against DNS), so the engines are compared with the sources set aside.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn write(name: &str, text: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("diff-formats");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `hostgate diff --format json ARGS…`: exit code, witnesses, summary.
fn diff(args: &[&str]) -> (i32, Vec<Value>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_hostgate"))
        .arg("diff")
        .args(["--format", "json"])
        .args(args)
        .output()
        .unwrap();
    let mut lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.pop().expect("a summary line");
    (out.status.code().unwrap(), lines, summary)
}

/// One witness: name, the left and right verdicts and deciding rules.
fn witness(w: &Value) -> (String, String, String, String, String) {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    (
        s(&w["name"]),
        s(&w["left"]["verdict"]),
        s(&w["left"]["rule"]),
        s(&w["right"]["verdict"]),
        s(&w["right"]["rule"]),
    )
}

fn w(name: &str, l: &str, lr: &str, r: &str, rr: &str) -> (String, String, String, String, String) {
    (name.into(), l.into(), lr.into(), r.into(), rr.into())
}

const CILIUM: &str = "\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {}
  egress:
  - toFQDNs: [{matchPattern: '*.example.com'}]
";

#[test]
fn squid_dot_against_cilium_star() {
    let squid = write(
        "squid.conf",
        "acl ok dstdomain .example.com\nhttp_access allow ok\nhttp_access deny all\n",
    );
    let cilium = write("cnp.yaml", CILIUM);
    let (code, ws, summary) = diff(&[
        "--via",
        "http",
        &format!("squid:{squid}"),
        &format!("cilium:{cilium}"),
    ]);
    assert_eq!(code, 1);
    assert_eq!(summary["summary"]["complete"], true);
    let got: Vec<_> = ws.iter().map(witness).collect();
    assert_eq!(
        got,
        [w("example.com", "allow", "squid.conf:2:0", "deny", "-")]
    );
    // Reversed, the same region from the other side.
    let (_, ws, _) = diff(&[
        "--via",
        "http",
        &format!("cilium:{cilium}"),
        &format!("squid:{squid}"),
    ]);
    assert_eq!(
        ws.iter().map(witness).collect::<Vec<_>>(),
        [w("example.com", "deny", "-", "allow", "squid.conf:2:0")]
    );
}

#[test]
fn istio_star_against_gke_star() {
    let istio = write(
        "se.yaml",
        "\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec:
  hosts: ['*.example.com']
  location: MESH_EXTERNAL
  resolution: NONE
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    outboundTrafficPolicy:
      mode: REGISTRY_ONLY
",
    );
    let gke = write(
        "gke.yaml",
        "\
apiVersion: networking.gke.io/v1alpha1
kind: FQDNNetworkPolicy
metadata: {name: ext, namespace: shop}
spec:
  podSelector: {}
  egress:
  - matches: [{pattern: '*.example.com'}]
    ports: [{protocol: TCP, port: 443}]
",
    );
    let (code, ws, summary) = diff(&[
        "--via",
        "tls",
        "--port",
        "443",
        &format!("istio:{istio}"),
        &format!("gke:{gke}"),
    ]);
    assert_eq!(code, 1);
    assert_eq!(summary["summary"]["complete"], true);
    let got: Vec<_> = ws.iter().map(witness).collect();
    assert_eq!(got.len(), 1, "{got:?}");
    let (name, l, lr, r, rr) = &got[0];
    // Two labels below the apex: Istio's any depth allows it, GKE's one label does not.
    assert_eq!(name.matches('.').count(), 3, "{name}");
    assert!(name.ends_with(".example.com"));
    assert_eq!(
        (l.as_str(), lr.as_str(), r.as_str(), rr.as_str()),
        ("allow", "ServiceEntry/shop/ext:0", "deny", "-")
    );
}

#[test]
fn network_policy_api_star_against_cilium_star() {
    let cnp = write(
        "clusternetworkpolicy.yaml",
        "\
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: ext}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {}}
  egress:
  - name: ok
    action: Accept
    to: [{domainNames: ['*.example.com']}]
  - name: rest
    action: Deny
    to: [{networks: ['0.0.0.0/0', '::/0']}]
",
    );
    let cilium = write("cnp.yaml", CILIUM);
    let (code, ws, _) = diff(&[
        "--via",
        "tls",
        "--port",
        "443",
        &format!("anp:{cnp}"),
        &format!("cilium:{cilium}"),
    ]);
    assert_eq!(code, 1);
    let got: Vec<_> = ws.iter().map(witness).collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0.matches('.').count(), 3, "{got:?}");
    assert_eq!(
        (got[0].1.as_str(), got[0].2.as_str(), got[0].3.as_str()),
        ("allow", "ClusterNetworkPolicy/ext:0", "deny")
    );
}

#[test]
fn a_regex_against_its_literal_expansion() {
    let re = write(
        "re.policy",
        "default deny\nallow ~(api|www)\\.example\\.com\n",
    );
    let both = write(
        "both.policy",
        "default deny\nallow api.example.com\nallow www.example.com\n",
    );
    let one = write("one.policy", "default deny\nallow api.example.com\n");
    let (code, ws, summary) = diff(&[&re, &both]);
    assert_eq!((code, ws.len()), (0, 0));
    assert_eq!(summary["summary"]["complete"], true);
    let (code, ws, _) = diff(&[&re, &one]);
    assert_eq!(code, 1);
    assert_eq!(
        ws.iter().map(witness).collect::<Vec<_>>(),
        [w("www.example.com", "allow", "default:2", "deny", "-")]
    );
}
