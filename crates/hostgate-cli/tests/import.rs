//! `hostgate import` and `--from`: the real binary on the Cilium examples and on bad input.

use std::path::Path;
use std::process::Command;

mod common;
use common::*;

const DATA: &str = "crates/hostgate-import/tests/data/cilium";

fn example(name: &str) -> String {
    format!("{DATA}/{name}")
}

#[test]
fn import_prints_a_policy_that_check_agrees_with() {
    let file = example("examples-policies-l7-dns-dns.yaml");
    let r = hostgate(&["import", "--from", "cilium", &file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&format!(
        "# {file}:26 CiliumNetworkPolicy/tofqdn-dns-visibility\n\
         allow sub.cilium.io port 80 via tls,http,connect id CiliumNetworkPolicy/tofqdn-dns-visibility:4\n"
    )), "{}", r.stdout);
    assert!(
        r.stderr
            .contains(&format!("{file}:10:5: warning: `toEndpoints`")),
        "{}",
        r.stderr
    );
    let out = temp("dns.policy", &r.stdout);
    for (name, port, via, want) in [
        ("sub.cilium.io", "80", "http", "allow"),
        ("sub.cilium.io", "443", "tls", "deny"),
        ("a.api.cilium.io", "53", "dns", "allow"),
        ("a.b.cilium.io", "53", "dns", "deny"),
    ] {
        let a = hostgate(&[
            "check", "--from", "cilium", "--policy", &file, "--port", port, "--via", via, name,
        ]);
        let b = hostgate(&[
            "check", "--policy", &out, "--port", port, "--via", via, name,
        ]);
        assert_eq!(a.code, 0, "{}", a.stderr);
        let words: Vec<&str> = a.stdout.split_whitespace().take(2).collect();
        assert_eq!(words, [want, name], "{}", a.stdout);
        assert_eq!(
            a.stdout.split_whitespace().next(),
            b.stdout.split_whitespace().next()
        );
    }
}

#[test]
fn check_json_points_at_the_yaml_line_and_the_object() {
    let file = example("examples-policies-l4-l4_sni.yaml");
    let r = hostgate(&[
        "check",
        "--from",
        "cilium",
        "--policy",
        &file,
        "--format",
        "json",
        "--port",
        "443",
        "--via",
        "tls",
        "one.one.one.one",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["verdict"], "allow");
    assert_eq!(v["rule"], "CiliumNetworkPolicy/l4-sni-rule:0");
    assert_eq!(v["line"], 15);
}

#[test]
fn explain_and_diff_read_imported_operands() {
    let file = example("examples-policies-l3-fqdn-fqdn-short.yaml");
    let r = hostgate(&[
        "explain",
        "--from",
        "cilium",
        "--policy",
        &file,
        "--port",
        "443",
        "--via",
        "tls",
        "a.b.cilium.io",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("CiliumNetworkPolicy/to-fqdn-short"),
        "{}",
        r.stdout
    );
    let hg = temp("short.policy", "precedence deny-overrides\nallow **.cluster.local via dns\nallow **.cilium.io via tls,http,connect\n");
    let r = hostgate(&["diff", &format!("cilium:{file}"), &hg]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn cilium_version_changes_double_star() {
    let file = example("examples-policies-l3-fqdn-fqdn-short.yaml");
    let r = hostgate(&[
        "import",
        "--from",
        "cilium",
        "--cilium-version",
        "1.18",
        &file,
    ]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("allow *.cilium.io via tls,http,connect"),
        "{}",
        r.stdout
    );
    let r = hostgate(&["import", "--from", "cilium", "--cilium-version", "x", &file]);
    assert_eq!(r.code, 2);
}

#[test]
fn bad_input_exits_2_with_the_position() {
    let cases = [
        ("a: [1, 2\n", ":2:1: invalid YAML"),
        ("apiVersion: cilium.io/v1\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nspec: {}\n", ":1:13: apiVersion `cilium.io/v1`"),
        ("apiVersion: cilium.io/v2\nkind: NetworkPolicy\nmetadata: {name: x}\n", ":2:7: kind `NetworkPolicy`"),
        ("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nspec: {}\n", ":1:1: CiliumNetworkPolicy without `metadata`"),
        ("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nspec:\n  egress:\n  - toFQDNs:\n    - matchPattern: 'a.b/c'\n", ":7:21: matchPattern `a.b/c` is not valid"),
        ("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nspec:\n  egress:\n  - toFQDNs: [{matchName: a.io}]\n    toPorts: [{ports: [{port: https}]}]\n", ":7:31: named port `https`"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let f = temp(&format!("bad{i}.yaml"), text);
        for args in [
            vec!["import", "--from", "cilium", f.as_str()],
            vec!["check", "--from", "cilium", "--policy", f.as_str(), "a.io"],
        ] {
            let r = hostgate(&args);
            assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
            assert!(
                r.stderr.starts_with(&format!("{f}{want}")),
                "{want}: {}",
                r.stderr
            );
        }
    }
    // The core alone refuses to guess: a hostgate policy given as cilium is an error too.
    let f = temp("plain.policy", "allow a.io\n");
    let r = hostgate(&["check", "--from", "cilium", "--policy", &f, "a.io"]);
    assert_eq!(r.code, 2);
}

/// Cilium's and GKE's documented pattern meanings, through the binary.
#[test]
fn documented_pattern_table_through_the_cli() {
    let cnp = |p: &str| {
        format!("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: t}}\nspec:\n  egress:\n  - toFQDNs: [{{matchPattern: '{p}'}}]\n")
    };
    let gke = |p: &str| {
        format!("apiVersion: networking.gke.io/v1alpha1\nkind: FQDNNetworkPolicy\nmetadata: {{name: t}}\nspec:\n  egress:\n  - matches: [{{pattern: '{p}'}}]\n")
    };
    let cases: &[(&str, String, &str, &str, &str)] = &[
        ("cilium", cnp("*.x.io"), "1.19", "a.x.io", "allow"),
        ("cilium", cnp("*.x.io"), "1.19", "a.b.x.io", "deny"),
        ("cilium", cnp("*.x.io"), "1.19", "x.io", "deny"),
        ("cilium", cnp("*x.io"), "1.19", "x.io", "allow"),
        ("cilium", cnp("*x.io"), "1.19", "subx.io", "allow"),
        ("cilium", cnp("*x.io"), "1.19", "www.x.io", "deny"),
        ("cilium", cnp("**.x.io"), "1.19", "a.b.x.io", "allow"),
        ("cilium", cnp("**.x.io"), "1.18", "a.b.x.io", "deny"),
        ("cilium", cnp("*"), "1.19", "anything.example", "allow"),
        (
            "gke",
            gke("*.company.com"),
            "1.19",
            "api.company.com",
            "allow",
        ),
        (
            "gke",
            gke("*.company.com"),
            "1.19",
            "eu.api.company.com",
            "deny",
        ),
        ("gke", gke("*.company.com"), "1.19", "company.com", "deny"),
    ];
    for (i, (format, yaml, version, name, want)) in cases.iter().enumerate() {
        let f = temp(&format!("table{i}.yaml"), yaml);
        let policy = temp(&format!("table{i}.policy"), "");
        let r = hostgate(&[
            "import",
            "--from",
            format,
            "--cilium-version",
            version,
            "-o",
            &policy,
            &f,
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let r = hostgate(&[
            "check", "--policy", &policy, "--port", "443", "--via", "tls", name,
        ]);
        let words: Vec<&str> = r.stdout.split_whitespace().take(2).collect();
        assert_eq!(words, [*want, *name], "{yaml}");
        if *version == "1.19" {
            let r = hostgate(&[
                "check", "--from", format, "--policy", &f, "--port", "443", "--via", "tls", name,
            ]);
            let words: Vec<&str> = r.stdout.split_whitespace().take(2).collect();
            assert_eq!(words, [*want, *name], "{yaml}");
        }
    }
}

/// The README's import example is the binary's real output.
#[test]
fn readme_import_example_is_real_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for cmd in [
        "hostgate import --from cilium examples-policies-l3-fqdn-fqdn-short.yaml",
        "hostgate check --from cilium --policy examples-policies-l3-fqdn-fqdn-short.yaml --port 443 --via tls a.b.cilium.io cilium.io",
    ] {
        let start = readme.find(&format!("$ {cmd}\n")).expect("example in README") + cmd.len() + 3;
        let shown = &readme[start..start + readme[start..].find("```").unwrap()];
        let out = Command::new(env!("CARGO_BIN_EXE_hostgate"))
            .args(cmd.split(' ').skip(1))
            .current_dir(root.join(DATA))
            .output()
            .unwrap();
        let real = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
        let real = if cmd.starts_with("hostgate check") { String::from_utf8_lossy(&out.stdout).into_owned() } else { real };
        assert_eq!(shown, real, "{cmd}");
    }
}

#[test]
fn workload_selects_policies() {
    let f = temp(
        "wl.yaml",
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: web, namespace: shop}\nspec:\n  endpointSelector: {matchLabels: {app: web}}\n  egress: [{toFQDNs: [{matchName: web.io}]}]\n---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: api, namespace: shop}\nspec:\n  endpointSelector: {matchLabels: {app: api}}\n  egress: [{toFQDNs: [{matchName: api.io}]}]\n",
    );
    let verdict = |workload: &str, name: &str| {
        let r = hostgate(&[
            "check",
            "--from",
            "cilium",
            "--policy",
            &f,
            "--workload",
            workload,
            "--port",
            "443",
            "--via",
            "tls",
            name,
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout.split_whitespace().next().unwrap_or("").to_string()
    };
    assert_eq!(verdict("shop/app=web", "web.io"), "allow");
    assert_eq!(verdict("shop/app=web", "api.io"), "deny");
    assert_eq!(verdict("shop/app=api", "api.io"), "allow");
    let r = hostgate(&[
        "import",
        "--from",
        "cilium",
        "--workload",
        "shop/app=api",
        &f,
    ]);
    assert!(
        r.stdout
            .contains("# Policies that select workload shop/app=api\n"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("web.io"), "{}", r.stdout);
    let r = hostgate(&["import", "--from", "cilium", "--workload", "shop/app", &f]);
    assert_eq!(r.code, 2);
}

#[test]
fn squid_helper_and_inspect_take_from() {
    use std::io::Write;
    use std::process::Stdio;
    let file = example("examples-policies-l7-dns-dns.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hostgate"))
        .args(["squid-helper", "--from", "cilium", "--policy", &file])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"sub.cilium.io 80 GET\nwww.cilium.io 80 GET\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert!(
        lines[0].starts_with("OK ")
            && lines[0].contains("rule=\"CiliumNetworkPolicy/tofqdn-dns-visibility:4\""),
        "{lines:?}"
    );
    assert!(lines[1].starts_with("ERR "), "{lines:?}");
    // A DNS question the DNS rules do not allow is denied.
    let r = hostgate(&[
        "inspect",
        "--from",
        "cilium",
        "--policy",
        &file,
        "--expect",
        "dns-udp",
        "crates/hostgate/tests/fixtures/dns-dig-udp-a.bin",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("www.example.com via dns => deny default"),
        "{}",
        r.stdout
    );
}

/// The README's Squid example is the binary's real output.
#[test]
fn readme_squid_example_is_real_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let cmd = "hostgate check --from squid --policy examples/migrate/squid.conf --port 443 --via connect kadath.io ci.kadath.io evil.example";
    let start = readme
        .find(&format!("$ {cmd}\n"))
        .expect("example in README")
        + cmd.len()
        + 3;
    let shown = &readme[start..start + readme[start..].find("```").unwrap()];
    let out = Command::new(env!("CARGO_BIN_EXE_hostgate"))
        .args(cmd.split(' ').skip(1))
        .current_dir(&root)
        .output()
        .unwrap();
    assert_eq!(shown, String::from_utf8_lossy(&out.stdout), "{cmd}");
}
