//! Every subcommand that reads `--policy` reports a bad policy with the text every front end
//! reports (`tests/policy-errors/*.expected`, with the file name it was given), and names the
//! file in its warnings.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The expected text of `tests/policy-errors/NAME.expected` for a policy given as `file`.
fn expected(name: &str, file: &str) -> String {
    let path = repo_root().join(format!("tests/policy-errors/{name}.expected"));
    std::fs::read_to_string(path)
        .expect("fixture")
        .replace("{FILE}", file)
}

/// Runs `hostgate ARGS` from the repository root; returns exit code, stdout and stderr.
fn hostgate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hostgate"))
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .output()
        .expect("hostgate runs");
    (
        out.status.code().expect("exited"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

const FIXTURE: &str = "crates/hostgate/tests/fixtures/tls-openssl-alpn.bin";

/// The same commands with `POLICY` standing for the policy file.
fn commands() -> Vec<Vec<&'static str>> {
    vec![
        vec!["check", "--policy", "POLICY", "a.io"],
        vec!["explain", "--policy", "POLICY", "a.io"],
        vec!["inspect", "--policy", "POLICY", FIXTURE],
        vec!["squid-helper", "--policy", "POLICY"],
    ]
}

fn with_policy(cmd: &[&'static str], policy: &'static str) -> Vec<&'static str> {
    cmd.iter()
        .map(|&a| if a == "POLICY" { policy } else { a })
        .collect()
}

#[test]
fn a_bad_policy_gives_the_shared_error_text_in_every_subcommand() {
    // A relative and an absolute path: the message names the file as it was given.
    let abs = repo_root()
        .join("tests/policy-errors/bad.policy")
        .to_str()
        .unwrap()
        .to_owned();
    let abs: &'static str = Box::leak(abs.into_boxed_str());
    for file in ["tests/policy-errors/bad.policy", abs] {
        for cmd in commands() {
            let (code, stdout, stderr) = hostgate(&with_policy(&cmd, file));
            assert_eq!(code, 2, "{cmd:?}");
            assert_eq!(stdout, "", "{cmd:?}");
            assert_eq!(stderr, expected("bad", file), "{cmd:?}");
        }
    }
}

#[test]
fn warnings_name_the_file_in_every_subcommand() {
    let file = "tests/policy-errors/warn.policy";
    for cmd in commands() {
        let (code, _, stderr) = hostgate(&with_policy(&cmd, file));
        assert_eq!(code, 0, "{cmd:?}: {stderr}");
        assert_eq!(stderr, expected("warn", file), "{cmd:?}");
    }
}

#[test]
fn the_dns_server_refuses_a_bad_policy_with_the_shared_text() {
    let file = "tests/policy-errors/bad.policy";
    let (code, stdout, stderr) = hostgate(&[
        "dns",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "127.0.0.1:9",
        "--policy",
        file,
    ]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert_eq!(
        stderr,
        format!("hostgate dns: policy refused:\n{}", expected("bad", file))
    );
}
