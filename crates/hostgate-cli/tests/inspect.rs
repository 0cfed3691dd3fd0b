//! `hostgate inspect` on the committed real-client captures. Expected values come from each
//! fixture's `.expect` file (what the client was told to send), not from the parser.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    root().join("crates/hostgate/tests/fixtures")
}

fn run(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hostgate"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hostgate starts");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn expect_file(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_fixture_gives_its_expected_name() {
    let mut checked = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("expect") {
            continue;
        }
        let want = expect_file(&path);
        let bin = path.with_extension("bin");
        let expect = match want.get("transport").map(String::as_str) {
            Some("udp") => "dns-udp",
            Some("tcp") => "dns-tcp",
            _ => "stream",
        };
        let (code, out, err) = run(
            &[
                "inspect",
                "--format",
                "json",
                "--expect",
                expect,
                bin.to_str().unwrap(),
            ],
            b"",
        );
        assert_eq!(code, 0, "{err}");
        let got = &json_lines(&out)[0];
        let file = path.display().to_string();
        assert_eq!(got["protocol"], want["protocol"].as_str(), "{file}");
        assert_eq!(got["status"], want["status"].as_str(), "{file}");
        match want.get("name") {
            Some(n) => assert_eq!(got["name"], n.as_str(), "{file}"),
            None => assert!(got["name"].is_null(), "{file}"),
        }
        if let Some(k) = want.get("kind") {
            assert_eq!(got["kind"], k.as_str(), "{file}");
        }
        match want.get("port").map(String::as_str) {
            Some("") | None => assert!(got["port"].is_null(), "{file}"),
            Some(p) => assert_eq!(got["port"].to_string(), p, "{file}"),
        }
        if let Some(a) = want.get("alpn") {
            let alpn: Vec<&str> = got["alpn"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(alpn.join(","), *a, "{file}");
        }
        if let Some(e) = want.get("ech") {
            assert_eq!(got["ech"].to_string(), *e, "{file}");
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} fixtures found");
}

#[test]
fn verdicts_follow_the_protocol_source() {
    let dir = std::env::temp_dir().join(format!("hostgate-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("p.policy");
    std::fs::write(
        &policy,
        "allow tunnel.example.com port 443 via connect id tunnel\n\
         allow example.com via tls id chromium\n\
         deny proxied.example.com via http id no-proxy\n",
    )
    .unwrap();
    let f = fixtures();
    let files = [
        f.join("http-curl-connect.bin"),
        f.join("tls-chromium.bin"),
        f.join("http-curl-absolute.bin"),
        f.join("tls-openssl-noservername.bin"),
    ];
    let mut args = vec![
        "inspect",
        "--format",
        "json",
        "--policy",
        policy.to_str().unwrap(),
    ];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    let (code, out, err) = run(&args, b"");
    assert_eq!(code, 0, "{err}");
    let got: Vec<(String, String, Value)> = json_lines(&out)
        .into_iter()
        .map(|v| {
            (
                v["verdict"].as_str().unwrap().to_owned(),
                v["reason"].as_str().unwrap().to_owned(),
                v["rule"].clone(),
            )
        })
        .collect();
    let want = [
        ("allow", "matched", Value::from("tunnel")),
        ("allow", "matched", Value::from("chromium")),
        ("deny", "matched", Value::from("no-proxy")),
        // A hello without SNI names nothing: denied, whatever the rules say.
        ("deny", "no-name", Value::Null),
    ];
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.0.as_str(), g.1.as_str(), &g.2), (w.0, w.1, &w.2));
    }
    assert_eq!(got.len(), 4);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn stdin_prefix_is_need_more_and_missing_file_fails() {
    let hello = std::fs::read(fixtures().join("tls-curl.bin")).unwrap();
    let (code, out, _) = run(&["inspect", "--format", "json", "-"], &hello[..100]);
    assert_eq!(code, 0);
    let got = &json_lines(&out)[0];
    assert_eq!(got["status"], "need-more");
    assert!(got["name"].is_null());
    let (code, out, err) = run(&["inspect", "/nonexistent/hello.bin"], b"");
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("cannot read /nonexistent/hello.bin"), "{err}");
}
