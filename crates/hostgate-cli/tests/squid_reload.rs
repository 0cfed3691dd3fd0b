//! `hostgate squid-helper` follows its policy file: a new file renamed into place answers the
//! next requests, a broken one is refused on stderr and the old policy keeps answering.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ask(stdin: &mut impl Write, stdout: &mut impl BufRead, name: &str) -> String {
    writeln!(stdin, "{name} 443 tls").unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    line.split_whitespace().next().unwrap_or("").to_string()
}

/// Asks until the answer is `want` (the watch needs its quiet period), for 10 s at most.
fn until(stdin: &mut impl Write, stdout: &mut impl BufRead, name: &str, want: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if ask(stdin, stdout, name) == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_changed_policy_file_answers_the_next_requests_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("squid.policy");
    std::fs::write(&policy, "default deny\nallow a.test\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hostgate"))
        .args(["squid-helper", "--policy"])
        .arg(&policy)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    assert_eq!(ask(&mut stdin, &mut stdout, "a.test"), "OK");
    assert_eq!(ask(&mut stdin, &mut stdout, "b.test"), "ERR");

    let next = dir.path().join(".squid.policy.new");
    std::fs::write(&next, "default deny\nallow b.test\n").unwrap();
    std::fs::rename(&next, &policy).unwrap();
    assert!(
        until(&mut stdin, &mut stdout, "b.test", "OK"),
        "new policy never answered"
    );
    assert_eq!(ask(&mut stdin, &mut stdout, "a.test"), "ERR");

    std::fs::write(&next, "default deny\nallow c..test\n").unwrap();
    std::fs::rename(&next, &policy).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        ask(&mut stdin, &mut stdout, "b.test"),
        "OK",
        "old policy kept"
    );
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("hostgate squid-helper: policy reloaded"),
        "{err}"
    );
    let refused = format!("reload refused, old policy kept:\n{}:2:", policy.display());
    assert!(err.contains(&refused), "{err}");
}
