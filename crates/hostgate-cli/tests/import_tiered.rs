//! `hostgate import` and `check` with `--from anp` and `--from calico`: the real binary on
//! network-policy-api policies (an upstream example and an allow-list with a lower-priority
//! deny) and on Calico tiers with domains.

mod common;
use common::*;

/// An allow-list of domains, then a lower-priority deny of everything, for the pods of
/// namespaces labelled `team: pay`.
const ALLOW_LIST: &str = "apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: allow-list}
spec:
  priority: 10
  subject:
    namespaces: {matchLabels: {team: pay}}
  egress:
  - name: stripe
    action: Allow
    to:
    - domainNames: ['*.stripe.com', 'stripe.com.']
    ports:
    - portNumber: {port: 443, protocol: TCP}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: deny-rest}
spec:
  priority: 20
  subject:
    namespaces: {matchLabels: {team: pay}}
  egress:
  - action: Deny
    to:
    - networks: [0.0.0.0/0, ::/0]
";

#[test]
fn import_prints_a_first_match_policy_that_check_agrees_with() {
    let file = temp("allow-list.yaml", ALLOW_LIST);
    let r = hostgate(&["import", "--from", "anp", &file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("policy default\nprecedence first-match\ndefault allow\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "# {file}:12 AdminNetworkPolicy/allow-list\n\
             allow **.stripe.com port 443 via tls,http,connect id AdminNetworkPolicy/allow-list:0\n"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("deny * via tls,http,connect id AdminNetworkPolicy/deny-rest:0\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains(&format!(
            "{file}:8:3: warning: network-policy-api does not filter DNS questions by name"
        )),
        "{}",
        r.stderr
    );
    let out = temp("allow-list.policy", &r.stdout);
    for (name, port, via, want) in [
        ("api.stripe.com", "443", "tls", "allow"),
        ("a.b.stripe.com", "443", "http", "allow"),
        ("stripe.com", "443", "tls", "allow"),
        ("stripe.com", "80", "http", "deny"),
        ("example.com", "443", "tls", "deny"),
        ("192.0.2.1", "443", "connect", "deny"),
        // No DNS filtering by name.
        ("example.com", "53", "dns", "allow"),
    ] {
        let a = hostgate(&[
            "check", "--from", "anp", "--policy", &file, "--port", port, "--via", via, name,
        ]);
        assert_eq!(a.code, 0, "{}", a.stderr);
        let words: Vec<&str> = a.stdout.split_whitespace().take(2).collect();
        assert_eq!(words, [want, name], "{}", a.stdout);
        let b = hostgate(&[
            "check", "--policy", &out, "--port", port, "--via", via, name,
        ]);
        assert_eq!(
            a.stdout.split_whitespace().next(),
            b.stdout.split_whitespace().next()
        );
    }
}

#[test]
fn check_json_points_at_the_yaml_and_the_workload_selects() {
    let file = temp("allow-list-json.yaml", ALLOW_LIST);
    let json = |extra: &[&str]| {
        let mut args = vec![
            "check", "--from", "anp", "--policy", &file, "--format", "json", "--port", "443",
            "--via", "tls",
        ];
        args.extend_from_slice(extra);
        args.push("www.example.com");
        let r = hostgate(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str::<serde_json::Value>(r.stdout.trim()).unwrap()
    };
    let v = json(&[]);
    assert_eq!(v["verdict"], "deny");
    assert_eq!(v["rule"], "AdminNetworkPolicy/deny-rest:0");
    assert_eq!(v["line"], 25);
    // A workload whose namespace is not labelled team=pay: no policy selects it.
    let v = json(&[
        "--workload",
        "shop/app=web",
        "--namespace-labels",
        "team=ops",
    ]);
    assert_eq!(v["verdict"], "allow");
    let v = json(&[
        "--workload",
        "shop/app=web",
        "--namespace-labels",
        "team=pay",
    ]);
    assert_eq!(v["verdict"], "deny");
}

#[test]
fn upstream_example_and_bad_input() {
    let file = "crates/hostgate-import/tests/data/anp/v0.1.7-conformance-admin_network_policy-standard-egress-inline-cidr-rules.yaml";
    let r = hostgate(&["import", "--from", "anp", file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{file}:26:7: warning: `pods` selects peers by address"
        )),
        "{}",
        r.stderr
    );
    let r = hostgate(&[
        "check", "--from", "anp", "--policy", file, "--port", "443", "--via", "tls", "a.io",
    ]);
    let words: Vec<&str> = r.stdout.split_whitespace().take(2).collect();
    assert_eq!(words, ["deny", "a.io"], "{}", r.stdout);
    let bad = temp(
        "bad.yaml",
        &ALLOW_LIST.replace(
            "action: Deny",
            "action: Deny\n    ports: [{namedPort: http}]",
        ),
    );
    for args in [
        vec!["import", "--from", "anp", bad.as_str()],
        vec!["check", "--from", "anp", "--policy", bad.as_str(), "a.io"],
    ] {
        let r = hostgate(&args);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(
            r.stderr
                .starts_with(&format!("{bad}:25:25: named port `http` with a networks")),
            "{}",
            r.stderr
        );
    }
}

/// A security tier passing everything on port 80 to the default tier, which allows
/// `*.example.com` from a network set, and denies the rest at its end.
const CALICO: &str = "apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.pass-http}
spec:
  tier: security
  selector: all()
  types: [Egress]
  egress:
  - action: Pass
    protocol: TCP
    destination: {ports: [80]}
  - action: Allow
    protocol: TCP
    destination:
      domains: ['api.*.example.com']
      ports: [443]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: example, labels: {role: example}}
spec:
  allowedEgressDomains: ['*.example.com']
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  selector: app == 'web'
  types: [Egress]
  egress:
  - action: Allow
    destination:
      selector: role == 'example'
      namespaceSelector: global()
";

#[test]
fn calico_import_and_check_agree() {
    let file = temp("calico.yaml", CALICO);
    let r = hostgate(&["import", "--from", "calico", &file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "allow ~api\\.[a-z0-9_-]+(?:\\.[a-z0-9_-]+)*\\.example\\.com port 443 via tls,http,connect id GlobalNetworkPolicy/security.pass-http:3\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("deny * via tls,http,connect id tier/security:end0\n"),
        "{}",
        r.stdout
    );
    let out = temp("calico.policy", &r.stdout);
    for (workload, name, port, via, want) in [
        ("shop/app=web", "api.eu.example.com", "443", "tls", "allow"),
        ("shop/app=web", "api.example.com", "443", "tls", "deny"),
        // Passed to the default tier on port 80, where the network set allows it.
        ("shop/app=web", "www.example.com", "80", "http", "allow"),
        ("shop/app=db", "www.example.com", "80", "http", "allow"),
        ("shop/app=db", "www.example.org", "80", "http", "allow"),
        ("shop/app=web", "www.example.org", "80", "http", "deny"),
        ("shop/app=web", "www.example.com", "443", "tls", "deny"),
    ] {
        let a = hostgate(&[
            "check",
            "--from",
            "calico",
            "--policy",
            &file,
            "--workload",
            workload,
            "--port",
            port,
            "--via",
            via,
            name,
        ]);
        assert_eq!(a.code, 0, "{}", a.stderr);
        let words: Vec<&str> = a.stdout.split_whitespace().take(2).collect();
        assert_eq!(words, [want, name], "{workload}: {}", a.stdout);
    }
    // Without a workload every policy applies: the rendered policy decides the same.
    for (name, port, via) in [
        ("www.example.com", "80", "http"),
        ("api.eu.example.com", "443", "tls"),
        ("x.org", "443", "tls"),
    ] {
        let a = hostgate(&[
            "check", "--from", "calico", "--policy", &file, "--port", port, "--via", via, name,
        ]);
        let b = hostgate(&[
            "check", "--policy", &out, "--port", port, "--via", via, name,
        ]);
        assert_eq!(a.code, 0, "{}", a.stderr);
        assert_eq!(
            a.stdout.split_whitespace().next(),
            b.stdout.split_whitespace().next()
        );
    }
    let bad = temp(
        "calico-bad.yaml",
        &CALICO.replace(
            "action: Pass",
            "action: Deny\n    destination: {domains: [a.io]}\n  - action: Pass",
        ),
    );
    let r = hostgate(&["check", "--from", "calico", "--policy", &bad, "a.io"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with(&format!(
            "{bad}:15:28: domains in a rule whose action is not Allow"
        )),
        "{}",
        r.stderr
    );
}
