//! `--from squid` through the real binary: `import` prints a policy that `check` agrees with,
//! `check` reads the squid.conf and its acl files relative to it, and refusals are positioned.

use std::path::PathBuf;

mod common;
use common::*;

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("hostgate-cli-squid-{}", std::process::id()));
    std::fs::create_dir_all(d.join("lists")).unwrap();
    d
}

const CONF: &str = "crates/hostgate-import/tests/data/squid/configs/ports.conf";

#[test]
fn import_prints_a_policy_that_check_agrees_with() {
    let r = hostgate(&["import", "--from", "squid", CONF]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("precedence first-match\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "# {CONF}:6 http_access\ndeny * port 1-442,444-65535 via connect id ports.conf:6:0\n"
        )),
        "{}",
        r.stdout
    );
    let out = dir().join("ports.policy");
    std::fs::write(&out, &r.stdout).unwrap();
    let out = out.display().to_string();
    for (name, port, via, want) in [
        ("a.example.com", "8443", "http", "allow"),
        ("a.example.com", "8443", "connect", "deny"),
        ("a.example.com", "443", "connect", "allow"),
        ("a.example.com", "25", "http", "deny"),
        ("other.org", "80", "http", "deny"),
    ] {
        let a = hostgate(&[
            "check", "--from", "squid", "--policy", CONF, "--port", port, "--via", via, name,
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
fn check_reads_acl_files_next_to_the_config_and_points_at_lines() {
    let d = dir();
    std::fs::write(d.join("lists/ok.txt"), ".example.org\n").unwrap();
    let conf = d.join("squid.conf");
    std::fs::write(
        &conf,
        "acl ok dstdomain -n \"lists/ok.txt\"\nhttp_access allow ok\nhttp_access deny all\n",
    )
    .unwrap();
    let conf = conf.display().to_string();
    let r = hostgate(&[
        "check",
        "--from",
        "squid",
        "--policy",
        &conf,
        "--format",
        "json",
        "--port",
        "443",
        "--via",
        "connect",
        "a.example.org",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["verdict"], "allow");
    assert_eq!(v["rule"], "squid.conf:2:0");
    assert_eq!(v["line"], 2);

    let bad = d.join("bad.conf");
    std::fs::write(&bad, "acl a dstdomain -n bar.foo.com .foo.com\n").unwrap();
    let bad = bad.display().to_string();
    let r = hostgate(&["check", "--from", "squid", "--policy", &bad, "x.foo.com"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains(&format!(
            "{bad}:1:32: Squid refuses to start: 'bar.foo.com' is a subdomain of '.foo.com'"
        )),
        "{}",
        r.stderr
    );
}
