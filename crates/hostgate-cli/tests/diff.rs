//! `hostgate diff`: witnesses, summary, formats and exit codes, on hand-written policies whose
//! disagreements are worked out from docs/policy-language.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hostgate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hostgate"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("hostgate runs");
    (
        out.status.code().expect("exited"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

const BEFORE: &str = "examples/diff/before.policy";
const AFTER: &str = "examples/diff/after.policy";

#[test]
fn the_example_rewrite_differs_in_three_regions() {
    let (code, out, err) = hostgate(&["diff", BEFORE, AFTER]);
    assert_eq!((code, err.as_str()), (1, ""));
    let lines: Vec<&str> = out.lines().collect();
    // `.kadath.io` takes the apex, `*.kadath.io` does not; on the left `allow .kadath.io`
    // comes before `deny ads.kadath.io` (first match), on the right after; the port-limited
    // Stripe rule denies every other port (442 is the lowest boundary below 443).
    assert_eq!(
        lines,
        [
            "kadath.io  no port  source unknown  left: allow by kadath (examples/diff/before.policy:4)  right: deny by default",
            "ads.kadath.io  no port  source unknown  left: allow by kadath (examples/diff/before.policy:4)  right: deny by no-ads (examples/diff/after.policy:4)",
            "api.stripe.com  port 442  source unknown  left: allow by stripe (examples/diff/before.policy:5)  right: deny by default",
            "3 disagreement regions; search complete: every query was covered (40 queries asked)",
        ]
    );
}

#[test]
fn a_policy_agrees_with_itself_and_exits_0() {
    let (code, out, _) = hostgate(&["diff", BEFORE, &format!("hostgate:{BEFORE}#default")]);
    assert_eq!(code, 0);
    assert!(out.starts_with("no disagreement; search complete"), "{out}");
}

#[test]
fn json_witnesses_have_both_sides_and_a_summary() {
    let (code, out, _) = hostgate(&["diff", "--format", "json", "--limit", "1", BEFORE, AFTER]);
    assert_eq!(code, 1);
    let objs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 2);
    let w = &objs[0];
    assert_eq!(w["name"], "kadath.io");
    assert_eq!(w["port"], Value::Null);
    assert_eq!(w["left"]["verdict"], "allow");
    assert_eq!(w["left"]["rule"], "kadath");
    assert_eq!(w["left"]["file"], BEFORE);
    assert_eq!(w["right"]["verdict"], "deny");
    assert_eq!(w["right"]["reason"], "default");
    let s = &objs[1]["summary"];
    assert_eq!(
        (s["regions"].as_u64(), s["shown"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(s["complete"], true);
}

#[test]
fn port_and_via_restrict_the_search() {
    // At port 443 the Stripe rules agree: only the two kadath regions remain.
    let (code, out, _) = hostgate(&["diff", "--port", "443", "--via", "tls", BEFORE, AFTER]);
    assert_eq!(code, 1);
    assert!(
        out.lines().all(|l| !l.starts_with("api.stripe.com")),
        "{out}"
    );
    assert!(out.contains("2 disagreement regions"), "{out}");
    assert!(
        out.lines().next().unwrap().contains("port 443  via tls"),
        "{out}"
    );
}

#[test]
fn errors_exit_2_with_the_shared_text() {
    let (code, out, err) = hostgate(&["diff", "tests/policy-errors/bad.policy", AFTER]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.starts_with("tests/policy-errors/bad.policy:4:9: "),
        "{err}"
    );
    let (code, _, err) = hostgate(&["diff", &format!("{BEFORE}#nope"), AFTER]);
    assert_eq!(code, 2);
    assert!(err.contains("no policy named `nope`"), "{err}");
}

#[test]
fn regex_rules_are_searched_completely() {
    let (code, out, _) = hostgate(&[
        "diff",
        "examples/policies/egress.policy#default",
        "examples/policies/egress.policy#payments",
    ]);
    assert_eq!(code, 1);
    let last = out.lines().last().unwrap();
    assert!(last.contains("search complete"), "{last}");
}

#[test]
fn a_regex_without_a_dfa_makes_the_search_incomplete_and_says_so() {
    // A Unicode word boundary has no DFA: the engine runs it, the search cannot.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let left = dir.join("diff-word-boundary.policy");
    std::fs::write(&left, "allow ~\\bapi\\.kadath\\.io\n").unwrap();
    let (code, out, _) = hostgate(&["diff", left.to_str().unwrap(), AFTER]);
    assert_eq!(code, 1);
    let last = out.lines().last().unwrap();
    assert!(
        last.contains("search incomplete: 1 regex rule too large or too complex for a DFA"),
        "{last}"
    );
}

#[test]
fn explain_takes_an_operand_as_diff_prints_it() {
    // The third witness above, explained on the right side with the operand form.
    let (code, out, _) = hostgate(&[
        "explain",
        "--policy",
        &format!("hostgate:{AFTER}#default"),
        "--port",
        "442",
        "api.stripe.com",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("verdict:  deny by the policy default"),
        "{out}"
    );
    let (code, out, _) = hostgate(&[
        "explain",
        "--policy",
        &format!("{BEFORE}#default"),
        "--port",
        "442",
        "api.stripe.com",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("verdict:  allow by rule stripe (line 5)"),
        "{out}"
    );
    // A prefix or policy that contradicts the flags is a usage error.
    let (code, _, err) = hostgate(&[
        "check",
        "--policy",
        &format!("{BEFORE}#a"),
        "--policy-name",
        "b",
        "x.io",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("names policy `a` but --policy-name says `b`"),
        "{err}"
    );
    let (code, _, err) = hostgate(&[
        "check",
        "--policy",
        &format!("hostgate:{BEFORE}"),
        "--from",
        "cilium",
        "x.io",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("says format `hostgate` but --from says `cilium`"),
        "{err}"
    );
}

/// The `$ hostgate …` blocks of a README: each command and the lines it prints.
fn readme_blocks(path: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let text = std::fs::read_to_string(repo_root().join(path)).unwrap();
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(cmd) = line.strip_prefix("$ hostgate ") {
            let args = cmd.split_whitespace().map(str::to_owned).collect();
            let out = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .map(str::to_owned)
                .collect();
            blocks.push((args, out));
        }
    }
    blocks
}

#[test]
fn the_migration_example_readme_shows_real_output() {
    let blocks = readme_blocks("examples/migrate/README.md");
    assert_eq!(blocks.len(), 3);
    for (args, want) in blocks {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, _) = hostgate(&args);
        assert_eq!(code, 1, "{args:?}");
        let got: Vec<&str> = out.lines().collect();
        assert_eq!(got, want, "{args:?}");
    }
    // The migration's main surprise, stated independently: the apex Squid allows is denied,
    // by both Kubernetes policies.
    for right in [
        "cilium:examples/migrate/cilium.yaml",
        "anp:examples/migrate/clusternetworkpolicy.yaml",
    ] {
        let (_, out, _) = hostgate(&[
            "diff",
            "--port",
            "443",
            "--via",
            "connect",
            "squid:examples/migrate/squid.conf",
            right,
        ]);
        assert!(
            out.starts_with("kadath.io  port 443  via connect  left: allow"),
            "{out}"
        );
    }
}
