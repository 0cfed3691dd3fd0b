//! `--from envoy` through the real binary: `import` prints a policy with source comments that
//! `check` agrees with, `explain` names the bootstrap line that decides, and bad input is an
//! error at its line and column with exit code 2.

mod common;
use common::*;

const CONF: &str = "crates/hostgate-import/tests/data/envoy/configs/sni.yaml";

#[test]
fn import_prints_a_policy_that_check_agrees_with() {
    let r = hostgate(&["import", "--from", "envoy", CONF]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("precedence first-match\ndefault deny\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "# {CONF}:29 tls\ndeny ~(?i:blocked\\.example\\.com) port 443 via tls id tls:29:0 received\n"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "# {CONF}:51 plain\nallow * port 80 via http id plain:51:0\n"
        )),
        "{}",
        r.stdout
    );
    // The trailing-dot warning is kept as a comment at its position.
    assert!(
        r.stdout.contains(&format!(
            "# {CONF}:4:5: warning: server_names: a trailing dot"
        )),
        "{}",
        r.stdout
    );
    let out = temp("sni.policy", &r.stdout);
    check_agrees(
        "envoy",
        CONF,
        &out,
        &[
            ("api.example.com", "443", "tls", "allow"),
            ("API.EXAMPLE.COM", "443", "tls", "allow"),
            ("api.example.com.", "443", "tls", "deny"),
            ("a.b.example.com", "443", "tls", "allow"),
            ("example.com", "443", "tls", "deny"),
            ("db.internal.example.com", "443", "tls", "deny"),
            ("api.example.com", "80", "http", "allow"),
            ("api.example.com", "8080", "http", "deny"),
        ],
    );
}

#[test]
fn explain_names_the_line_that_decides() {
    let r = hostgate(&[
        "explain",
        "--from",
        "envoy",
        "--policy",
        CONF,
        "--port",
        "443",
        "--via",
        "tls",
        "db.internal.example.com",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("verdict:  deny by rule tls:29:1 (line 29)"),
        "{}",
        r.stdout
    );
    // The wider wildcard matches too, but the longer one (line 29) decides.
    assert!(
        r.stdout.contains("     line 12   allow ~.+(?i:\\.example\\.com)  port 443  via tls  received  id tls:12:1"),
        "{}",
        r.stdout
    );
}

#[test]
fn bad_input_is_an_error_at_its_position_with_exit_code_2() {
    let bad = temp(
        "bad.yaml",
        "static_resources:\n  listeners:\n  - name: l\n    address: {socket_address: {address: 0.0.0.0, port_value: 443}}\n    filter_chains:\n    - filter_chain_match: {server_names: [API.io]}\n      filters: []\n",
    );
    for cmd in ["import", "check"] {
        let mut args = vec![cmd, "--from", "envoy"];
        if cmd == "check" {
            args.extend(["--policy", &bad, "a.io"]);
        } else {
            args.push(&bad);
        }
        let r = hostgate(&args);
        assert_eq!(r.code, 2, "{cmd}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr
                .contains(&format!("{bad}:6:43: server name `API.io` has capitals")),
            "{cmd}: {}",
            r.stderr
        );
    }
    let r = hostgate(&["import", "--from", "envoy", "--per-object", CONF]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--per-object: the envoy input is one policy"),
        "{}",
        r.stderr
    );
}
