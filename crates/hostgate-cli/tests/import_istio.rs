//! `hostgate import --from istio` and `hostgate check --from istio`: the real binary on the
//! Istio examples, with a mesh config in REGISTRY_ONLY mode, and on bad input.

use std::path::Path;

mod common;
use common::*;

const DATA: &str = "crates/hostgate-import/tests/data/istio";

/// The example's ServiceEntries with the mesh config set to REGISTRY_ONLY, in one file.
fn registry_only(example: &str) -> String {
    let se = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(DATA)
            .join(example),
    )
    .unwrap();
    temp(
        example,
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: istio, namespace: istio-system}}\n\
             data:\n  mesh: |\n    outboundTrafficPolicy:\n      mode: REGISTRY_ONLY\n---\n{se}"
        ),
    )
}

#[test]
fn import_prints_a_policy_that_check_agrees_with() {
    let file = registry_only("samples-external-github.yaml");
    let r = hostgate(&["import", "--from", "istio", &file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The ServiceEntry starts on line 9 of the combined file, its host on line 22.
    assert!(
        r.stdout.contains(&format!(
            "# {file}:22 ServiceEntry/github-https\n\
             allow github.com port 443 via tls id ServiceEntry/github-https:0\n"
        )),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("default deny\n"), "{}", r.stdout);
    assert!(
        r.stderr
            .contains(&format!("{file}:7:13: warning: REGISTRY_ONLY: ")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("{file}:58:5: warning: port 22 carries TCP")),
        "{}",
        r.stderr
    );
    let out = temp("github.policy", &r.stdout);
    check_agrees(
        "istio",
        &file,
        &out,
        &[
            ("github.com", "443", "tls", "allow"),
            ("GitHub.com", "443", "tls", "allow"),
            ("github.com", "443", "http", "deny"),
            ("api.github.com", "443", "tls", "deny"),
            ("140.82.112.9", "22", "connect", "allow"),
            ("dummy.github.com", "22", "connect", "deny"),
        ],
    );
}

#[test]
fn check_with_a_workload_points_at_the_service_entry() {
    let file = registry_only("tests-testdata-config-se-example.yaml");
    let r = hostgate(&[
        "check",
        "--from",
        "istio",
        "--policy",
        &file,
        "--workload",
        "seexamples/app=x",
        "--port",
        "443",
        "--via",
        "tls",
        "--format",
        "json",
        "api.facebook.com",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["verdict"], "allow");
    assert_eq!(v["rule"], "ServiceEntry/seexamples/external-svc-https:2");
}

#[test]
fn bad_input_exits_2_with_the_position() {
    let file = temp(
        "bad.yaml",
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: x}\n\
         spec:\n  hosts: ['*foo.example.com']\n  ports: [{number: 443, name: t, protocol: TLS}]\n",
    );
    let r = hostgate(&["import", "--from", "istio", &file]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains(&format!(
            "{file}:5:11: host `*foo.example.com`: a partial wildcard"
        )),
        "{}",
        r.stderr
    );
    let r = hostgate(&[
        "check",
        "--from",
        "istio",
        "--policy",
        &file,
        "--via",
        "tls",
        "a.foo.example.com",
    ]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains(&format!("{file}:5:11:")), "{}", r.stderr);
}
