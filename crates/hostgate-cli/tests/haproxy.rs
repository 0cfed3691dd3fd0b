//! `--from haproxy` through the real binary: `import` prints a policy (with `received` rules)
//! that `check` agrees with, and a refusal points at its line and column.

mod common;
use common::*;

const CONF: &str = "crates/hostgate-import/tests/data/haproxy/configs/host.cfg";

#[test]
fn import_prints_a_policy_that_check_agrees_with() {
    let r = hostgate(&["import", "--from", "haproxy", CONF]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("precedence first-match\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "# {CONF}:15 http_in\nallow ~api\\.example\\.com via http,connect id http_in:15:0 received\n"
        )),
        "{}",
        r.stdout
    );
    let dir = std::env::temp_dir().join(format!("hostgate-cli-haproxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("host.policy");
    std::fs::write(&out, &r.stdout).unwrap();
    let out = out.display().to_string();
    for (name, port, want) in [
        ("api.example.com", "80", "allow"),
        ("api.example.com", "8080", "deny"),
        ("API.example.com", "80", "deny"),
        ("DOCS.EXAMPLE.COM", "80", "allow"),
        ("corp.example.evil.net", "80", "allow"),
        ("notcorp.example", "80", "deny"),
    ] {
        let a = hostgate(&[
            "check", "--from", "haproxy", "--policy", CONF, "--port", port, "--via", "http", name,
        ]);
        let b = hostgate(&[
            "check", "--policy", &out, "--port", port, "--via", "http", name,
        ]);
        assert_eq!(a.code, 0, "{}", a.stderr);
        let words: Vec<&str> = a.stdout.split_whitespace().take(2).collect();
        assert_eq!(words, [want, name], "{}", a.stdout);
        assert_eq!(
            a.stdout.split_whitespace().next(),
            b.stdout.split_whitespace().next(),
            "{name}:{port}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_refusal_points_at_its_position() {
    let conf = "crates/hostgate-import/tests/data/haproxy/refused/and-of-names.cfg";
    let r = hostgate(&[
        "check",
        "--from",
        "haproxy",
        "--policy",
        conf,
        "a.example.com",
    ]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains(&format!("{conf}:13:25: an AND of two name conditions")),
        "{}",
        r.stderr
    );
}
