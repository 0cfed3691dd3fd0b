//! What the CLI tests share: running the real binary from the repository root, and files to
//! give it. (Each test binary compiles this module; not every one uses every item.)
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One finished run of `hostgate`.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The repository's root: the tests name example files relative to it.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `hostgate ARGS…` in the repository root, with no input.
pub fn hostgate(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_hostgate"))
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .output()
        .expect("hostgate runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes `text` to `name` in a directory of this test binary's own and returns the path.
pub fn temp(name: &str, text: &str) -> String {
    let exe = std::env::current_exe().expect("the test binary");
    let stem = exe
        .file_stem()
        .map_or("cli".into(), |s| s.to_string_lossy());
    let dir = std::env::temp_dir().join(format!("hostgate-{stem}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// The first word `check` printed: its verdict (`allow` or `deny`).
pub fn first_word(r: &Run) -> &str {
    r.stdout.split_whitespace().next().unwrap_or("")
}

/// For each `(name, port, via, want)`: `check` through the importer (`--from FORMAT --policy
/// SOURCE`) says `want` for `name`, and `check` of the policy text it imported (`--policy
/// IMPORTED`) says the same.
pub fn check_agrees(
    format: &str,
    source: &str,
    imported: &str,
    cases: &[(&str, &str, &str, &str)],
) {
    for &(name, port, via, want) in cases {
        let a = hostgate(&[
            "check", "--from", format, "--policy", source, "--port", port, "--via", via, "--", name,
        ]);
        let b = hostgate(&[
            "check", "--policy", imported, "--port", port, "--via", via, "--", name,
        ]);
        assert_eq!(a.code, 0, "{}", a.stderr);
        let words: Vec<&str> = a.stdout.split_whitespace().take(2).collect();
        assert_eq!(words, [want, name], "{}", a.stdout);
        assert_eq!(
            first_word(&a),
            first_word(&b),
            "{name}:{port} via {via}: {}",
            b.stdout
        );
    }
}
