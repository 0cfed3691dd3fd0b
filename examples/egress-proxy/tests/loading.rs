//! The proxy refuses a bad policy with the text every front end reports
//! (`tests/policy-errors/*.expected`, with the file name it was given), and names the file in
//! its warnings.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn expected(name: &str, file: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/tests/policy-errors/{name}.expected"))
        .expect("fixture")
        .replace("{FILE}", file)
}

#[test]
fn a_bad_policy_is_refused_with_the_shared_error_text() {
    let file = "tests/policy-errors/bad.policy";
    let out = Command::new(env!("CARGO_BIN_EXE_egress-proxy"))
        .args(["--listen", "127.0.0.1:0", "--policy", file])
        .current_dir(ROOT)
        .stdin(Stdio::null())
        .output()
        .expect("proxy runs");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("egress-proxy: policy refused:\n{}", expected("bad", file))
    );
}

#[test]
fn warnings_name_the_file_before_the_proxy_listens() {
    let file = "tests/policy-errors/warn.policy";
    let mut child = Command::new(env!("CARGO_BIN_EXE_egress-proxy"))
        .args(["--listen", "127.0.0.1:0", "--policy", file])
        .current_dir(ROOT)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("proxy starts");
    let mut before = String::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with("egress-proxy: listening on 127.0.0.1:") {
            break;
        }
        before.push_str(&line);
        before.push('\n');
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(before, expected("warn", file));
}

#[test]
fn an_imported_policy_is_refused_with_the_importers_text() {
    let file = "tests/policy-errors/bad-cilium.yaml";
    let out = Command::new(env!("CARGO_BIN_EXE_egress-proxy"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--from",
            "cilium",
            "--policy",
            file,
        ])
        .current_dir(ROOT)
        .stdin(Stdio::null())
        .output()
        .expect("proxy runs");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "egress-proxy: policy refused:\n{}",
            expected("bad-cilium", file)
        )
    );
}
