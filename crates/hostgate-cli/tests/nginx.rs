//! `--from nginx` through the real binary: `import` prints a policy that `check` agrees with,
//! `check` reads a configuration with relative `include` globs, and refusals are positioned.

mod common;
use common::*;

const DATA: &str = "crates/hostgate-import/tests/data/nginx";

fn verdict(args: &[&str]) -> String {
    let r = hostgate(args);
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    r.stdout.split_whitespace().next().unwrap_or("").to_string()
}

#[test]
fn import_prints_a_policy_that_check_agrees_with() {
    let conf = format!("{DATA}/configs/server-name.conf");
    let r = hostgate(&["import", "--from", "nginx", &conf]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("precedence first-match\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "# {conf}:12 server_name\nallow api.example.com port 18220 via http id server-name.conf:12:0\n"
        )),
        "{}",
        r.stdout
    );
    let out =
        std::env::temp_dir().join(format!("hostgate-cli-nginx-{}.policy", std::process::id()));
    std::fs::write(&out, &r.stdout).unwrap();
    let out = out.display().to_string();
    for (name, port, via, want) in [
        ("api.example.com", "18220", "http", "allow"),
        ("API.Example.com", "18220", "http", "allow"),
        ("x.deny.example.org", "18220", "http", "deny"),
        ("a.b.example.net", "18220", "http", "allow"),
        ("unknown.test", "18220", "http", "deny"),
        ("unknown.test", "18221", "http", "allow"),
        ("unknown.test", "18221", "tls", "deny"),
        ("blocked.example.com", "18221", "http", "deny"),
    ] {
        let a = verdict(&[
            "check", "--from", "nginx", "--policy", &conf, "--port", port, "--via", via, name,
        ]);
        let b = verdict(&[
            "check", "--policy", &out, "--port", port, "--via", via, name,
        ]);
        assert_eq!(
            (a.as_str(), b.as_str()),
            (want, want),
            "{name}:{port} via {via}"
        );
    }
    let _ = std::fs::remove_file(&out);
}

#[test]
fn check_follows_relative_include_globs() {
    let conf = format!("{DATA}/configs/include/nginx.conf");
    for (name, want) in [
        ("allowed.example.com", "allow"),
        ("hidden.example.com", "deny"),
        ("other.example.com", "deny"),
    ] {
        let got = verdict(&[
            "check", "--from", "nginx", "--policy", &conf, "--port", "18250", "--via", "http", name,
        ]);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn refusals_name_the_file_line_and_column() {
    let conf = format!("{DATA}/unsupported/pcre-lookahead.conf");
    let r = hostgate(&["import", "--from", "nginx", &conf]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr
            .contains(&format!("{conf}:5:23: regex `^(?!admin\\.)")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("are PCRE only"), "{}", r.stderr);
}
