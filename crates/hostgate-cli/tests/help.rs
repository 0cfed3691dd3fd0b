//! Every subcommand's `--help` ends with an `Examples:` block, and every example in it is a
//! command line that works: each is run from the repository root with the file names replaced
//! by the repository's example files (outputs go to a temporary directory). The two that cannot
//! finish here (a capture the repository does not hold, a server that runs until stopped) must
//! at least get past argument parsing.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hostgate"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands `hostgate --help` lists.
fn subcommands() -> Vec<String> {
    help(&["--help"])
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect()
}

/// The command lines of the `Examples:` block (continuation lines joined, comments dropped).
fn examples(help_text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in help_text
        .lines()
        .skip_while(|l| *l != "Examples:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
    {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(line);
                out.push(std::mem::take(&mut pending));
            }
        }
    }
    assert!(pending.is_empty(), "a continued line ends the block");
    out
}

/// How an example is checked.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Runs to the end: exit 0 (`diff` also 1, "they disagree"), something on stdout or in
    /// the output file.
    Runs,
    /// Cannot finish here: it must not be refused as bad usage.
    Parses,
}

/// What an example reads on standard input.
enum Input {
    None,
    File(PathBuf),
    Text(&'static str),
}

/// One example as it is run: arguments after `hostgate`, standard input, and how it is checked.
struct Run {
    args: Vec<String>,
    stdin: Input,
    outputs: Vec<PathBuf>,
    kind: Kind,
}

/// The help's file names and the repository files they stand for.
fn inputs() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("egress.policy", "examples/policies/egress.policy"),
        ("names.txt", "examples/policies/names.txt"),
        ("cnp.yaml", "examples/migrate/cilium.yaml"),
        ("squid.conf", "examples/migrate/squid.conf"),
        ("before.policy", "examples/diff/before.policy"),
        ("after.policy", "examples/diff/after.policy"),
        (
            "clienthello.bin",
            "crates/hostgate/tests/fixtures/tls-curl.bin",
        ),
        (
            "query.bin",
            "crates/hostgate/tests/fixtures/dns-dig-udp-a.bin",
        ),
    ])
}

/// Replaces a file name in an argument, keeping `FORMAT:` and `#POLICY` (diff's operand form).
fn substitute(arg: &str, tmp: &Path, outputs: &mut Vec<PathBuf>, parse_only: &mut bool) -> String {
    let (prefix, rest) = match arg.split_once(':') {
        Some((f, rest)) if f.parse::<hostgate::Format>().is_ok() => (format!("{f}:"), rest),
        _ => (String::new(), arg),
    };
    let (file, suffix) = match rest.split_once('#') {
        Some((file, policy)) => (file, format!("#{policy}")),
        None => (rest, String::new()),
    };
    let inputs = inputs();
    let path = if let Some(repo) = inputs.get(file) {
        repo_root().join(repo)
    } else if file.ends_with(".engine") || file == "imported.policy" {
        // Written by the example (or, for an engine file, by an earlier one): the temporary
        // directory, the same name each time.
        let name = Path::new(file).file_name().unwrap();
        let p = tmp.join(name);
        outputs.push(p.clone());
        p
    } else if file == "capture.pcapng" {
        // No capture is part of the repository (tests/pcap.rs builds its own).
        *parse_only = true;
        tmp.join(file)
    } else {
        return arg.to_owned();
    };
    format!("{prefix}{}{suffix}", path.display())
}

fn prepare(line: &str, tmp: &Path) -> Run {
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("hostgate"), "{line}");
    let mut run = Run {
        args: Vec::new(),
        stdin: Input::None,
        outputs: Vec::new(),
        kind: Kind::Runs,
    };
    let mut parse_only = false;
    while let Some(word) = words.next() {
        match word {
            "<" => {
                let file = words.next().expect("a file after <");
                run.stdin = Input::File(repo_root().join(inputs()[file]));
            }
            // The output goes to a file or another program: the test reads it instead.
            ">" => {
                words.next().expect("a file after >");
            }
            "|" => break,
            _ => {
                let mut outputs = Vec::new();
                run.args
                    .push(substitute(word, tmp, &mut outputs, &mut parse_only));
                // Only a file after -o is written by this example; the others are read.
                if run.args.len() >= 2 && run.args[run.args.len() - 2] == "-o" {
                    run.outputs.extend(outputs);
                }
            }
        }
    }
    if parse_only || run.args[0] == "dns" {
        run.kind = Kind::Parses;
    }
    if run.args[0] == "squid-helper" {
        // What Squid sends with `concurrency=`: channel, %DST, %PORT, %METHOD.
        run.stdin = Input::Text("0 api.kadath.io 443 CONNECT\n");
    }
    run
}

/// Runs one example; returns (exit code or None while still running, stdout, stderr).
fn execute(run: &Run) -> (Option<i32>, String, String) {
    let stdin = match &run.stdin {
        Input::None => Stdio::null(),
        Input::File(p) => Stdio::from(std::fs::File::open(p).unwrap()),
        Input::Text(_) => Stdio::piped(),
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_hostgate"))
        .args(&run.args)
        .current_dir(repo_root())
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Input::Text(text) = run.stdin {
        // Dropping the handle closes the pipe: the helper sees the end of its input.
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    // A server runs until stopped: give it time to fail on its arguments, then stop it.
    let deadline =
        Instant::now() + Duration::from_secs(if run.kind == Kind::Parses { 2 } else { 60 });
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (code, out, err)
}

#[test]
fn every_subcommand_help_has_examples_that_work() {
    let subs = subcommands();
    assert!(subs.len() >= 10, "{subs:?}");
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("help-examples");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    for sub in &subs {
        for flag in ["-h", "--help"] {
            let text = help(&[sub, flag]);
            let lines = examples(&text);
            assert!(
                !lines.is_empty(),
                "`hostgate {sub} {flag}` has no Examples: block"
            );
        }
        for line in examples(&help(&[sub, "--help"])) {
            let run = prepare(&line, &tmp);
            let (code, out, err) = execute(&run);
            // clap's refusals all end with this line; a failure of the job itself does not.
            assert!(
                !err.contains("For more information, try '--help'"),
                "`{line}` is refused as usage:\n{err}"
            );
            if run.kind == Kind::Parses {
                continue;
            }
            let ok = match code {
                Some(0) => true,
                Some(1) => run.args[0] == "diff",
                _ => false,
            };
            assert!(ok, "`{line}` exited {code:?}:\n{err}");
            if run.args[0] == "squid-helper" {
                assert!(out.starts_with("0 OK "), "`{line}` answered {out:?}");
            }
            if run.outputs.is_empty() {
                assert!(!out.is_empty(), "`{line}` printed nothing");
            }
            for p in &run.outputs {
                let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                assert!(len > 0, "`{line}` did not write {}", p.display());
            }
        }
    }
}

#[test]
fn the_example_parser_sees_every_line() {
    let text = "Usage: x\n\nExamples:\n  hostgate a --b c\n  # note\n  hostgate d \\\n      --e f\n\nMore\n";
    assert_eq!(examples(text), ["hostgate a --b c", "hostgate d --e f"]);
}
