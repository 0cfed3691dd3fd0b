//! Runs the real `hostgate` binary: exit codes, output formats, error positions, and the bundled
//! example policy. Expected values are written by hand from docs/policy-language.md.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `hostgate ARGS` with `stdin` as standard input.
fn hostgate(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hostgate"))
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hostgate starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Writes `text` to a fresh file and returns its path as a string.
fn policy_file(text: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!(
        "cli-{}-{}.policy",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect()
}

const SMALL: &str = "\
default deny
allow api.kadath.io id kadath-api
deny api.leng.com
";

#[test]
fn json_objects_have_the_documented_fields_in_order() {
    let p = policy_file(SMALL);
    let names = [
        "api.kadath.io",
        "API.LENG.COM.",
        "nowhere.example",
        "a..b",
        "192.0.2.7",
    ];
    let mut args = vec!["check", "--policy", &p, "--format", "json"];
    args.extend(names);
    let r = hostgate(&args, "");
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(
        lines(&r.stdout),
        [
            r#"{"name":"api.kadath.io","normalized":"api.kadath.io","kind":"name","verdict":"allow","reason":"matched","policy":"default","rule":"kadath-api","line":2}"#,
            r#"{"name":"API.LENG.COM.","normalized":"api.leng.com","kind":"name","verdict":"deny","reason":"matched","policy":"default","rule":"default:3","line":3}"#,
            r#"{"name":"nowhere.example","normalized":"nowhere.example","kind":"name","verdict":"deny","reason":"default","policy":"default","rule":null,"line":null}"#,
            r#"{"name":"a..b","normalized":null,"kind":"invalid","verdict":"deny","reason":"invalid-name","policy":"default","rule":null,"line":null}"#,
            r#"{"name":"192.0.2.7","normalized":"192.0.2.7","kind":"ip","verdict":"deny","reason":"default","policy":"default","rule":null,"line":null}"#,
        ]
    );
}

#[test]
fn json_normalized_shows_idna_and_ip_forms() {
    let p = policy_file("allow .kadath.io\nallow 2001:db8::/32\n");
    let r = hostgate(
        &[
            "check",
            "--policy",
            &p,
            "--format",
            "json",
            "Bücher.Kadath.IO",
            "[2001:DB8::1]",
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json_lines(&r.stdout);
    assert_eq!(v[0]["name"], "Bücher.Kadath.IO");
    assert_eq!(v[0]["normalized"], "xn--bcher-kva.kadath.io");
    assert_eq!(
        (&v[0]["verdict"], &v[0]["rule"]),
        (&json!("allow"), &json!("default:1"))
    );
    assert_eq!(v[1]["normalized"], "2001:db8::1");
    assert_eq!(v[1]["kind"], "ip");
    assert_eq!(
        (&v[1]["verdict"], &v[1]["line"]),
        (&json!("allow"), &json!(2))
    );
}

#[test]
fn text_output_one_line_per_name() {
    let p = policy_file(SMALL);
    let r = hostgate(
        &[
            "check",
            "--policy",
            &p,
            "api.kadath.io",
            "API.LENG.COM.",
            "nowhere.example",
            "a..b",
        ],
        "",
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(
        lines(&r.stdout),
        [
            "allow api.kadath.io  matched kadath-api (line 2)",
            "deny  API.LENG.COM. (api.leng.com)  matched default:3 (line 3)",
            "deny  nowhere.example  default",
            "deny  a..b  invalid-name: empty label",
        ]
    );
}

#[test]
fn text_output_escapes_control_characters() {
    let p = policy_file(SMALL);
    let r = hostgate(&["check", "--policy", &p, "evil\u{1b}[2J.io"], "");
    assert_eq!(r.code, 0);
    assert!(!r.stdout.contains('\u{1b}'), "{:?}", r.stdout);
    assert!(
        r.stdout
            .starts_with("deny  evil\\u{1b}[2J.io  invalid-name"),
        "{:?}",
        r.stdout
    );
}

#[test]
fn names_from_stdin_skip_blanks_and_comments() {
    let p = policy_file(SMALL);
    let stdin = "# a comment line\n\n  api.kadath.io  \r\n\t\napi.leng.com # trailing comment\nno-newline.example";
    let r = hostgate(&["check", "--policy", &p, "--format", "json"], stdin);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let v = json_lines(&r.stdout);
    let got: Vec<_> = v
        .iter()
        .map(|o| (o["name"].clone(), o["verdict"].clone()))
        .collect();
    assert_eq!(
        got,
        [
            (json!("api.kadath.io"), json!("allow")),
            (json!("api.leng.com"), json!("deny")),
            (json!("no-newline.example"), json!("deny")),
        ]
    );
}

#[test]
fn empty_stdin_prints_nothing_and_succeeds() {
    let p = policy_file(SMALL);
    let r = hostgate(&["check", "--policy", &p], "");
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
}

#[test]
fn hash_glued_to_a_name_is_not_a_comment() {
    let p = policy_file("allow *\n");
    let r = hostgate(&["check", "--policy", &p, "--format", "json"], "a#b.io\n");
    let v = json_lines(&r.stdout);
    assert_eq!(
        (&v[0]["name"], &v[0]["kind"]),
        (&json!("a#b.io"), &json!("invalid"))
    );
}

/// The verdicts of `names` under `policy` with extra arguments, as (verdict, reason, rule).
fn verdicts(policy: &str, extra: &[&str], names: &[&str]) -> Vec<(String, String, Value)> {
    let mut args = vec!["check", "--policy", policy, "--format", "json"];
    args.extend(extra);
    args.extend(names);
    let r = hostgate(&args, "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    json_lines(&r.stdout)
        .into_iter()
        .map(|o| {
            let s = |k: &str| o[k].as_str().unwrap().to_owned();
            (s("verdict"), s("reason"), o["rule"].clone())
        })
        .collect()
}

fn v(verdict: &str, reason: &str, rule: Value) -> (String, String, Value) {
    (verdict.into(), reason.into(), rule)
}

#[test]
fn port_flag_and_the_dns_rule() {
    let p = policy_file(
        "default allow\n\
         allow **.stripe.com port 443 id stripe\n\
         deny api.leng.com port 80,8000-8999 id leng-http\n\
         deny *.stripe.com\n",
    );
    let name = ["api.stripe.com", "api.leng.com"];
    // No port: a port-limited allow matches, a port-limited deny does not.
    assert_eq!(
        verdicts(&p, &[], &name),
        [
            v("allow", "matched", json!("stripe")),
            v("allow", "default", Value::Null)
        ]
    );
    assert_eq!(
        verdicts(&p, &["--port", "443"], &name),
        [
            v("allow", "matched", json!("stripe")),
            v("allow", "default", Value::Null)
        ]
    );
    assert_eq!(
        verdicts(&p, &["--port", "8080"], &name),
        [
            v("deny", "matched", json!("default:4")),
            v("deny", "matched", json!("leng-http"))
        ]
    );
}

#[test]
fn via_flag_and_unknown_source() {
    let p = policy_file(
        "default allow\n\
         deny graph.facebook.com\n\
         policy strict\n\
         allow graph.facebook.com via tls,http id fb\n\
         deny .leng.com via dns id leng-dns\n",
    );
    let names = ["graph.facebook.com", "api.leng.com"];
    let strict = ["--policy-name", "strict"];
    // Unknown source: a via-limited allow does not match, a via-limited deny does (fail closed).
    assert_eq!(
        verdicts(&p, &strict, &names),
        [
            v("deny", "default", Value::Null),
            v("deny", "matched", json!("leng-dns"))
        ]
    );
    let tls = ["--policy-name", "strict", "--via", "tls"];
    assert_eq!(
        verdicts(&p, &tls, &names),
        [
            v("allow", "matched", json!("fb")),
            v("deny", "default", Value::Null)
        ]
    );
    let dns = ["--policy-name", "strict", "--via", "dns"];
    assert_eq!(
        verdicts(&p, &dns, &names),
        [
            v("deny", "default", Value::Null),
            v("deny", "matched", json!("leng-dns"))
        ]
    );
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let p = policy_file(SMALL);
    for bad in [
        &["check", "--policy", &p, "--port", "0", "a.io"][..],
        &["check", "--policy", &p, "--port", "65536", "a.io"],
        &["check", "--policy", &p, "--via", "smtp", "a.io"],
        &["check", "--policy", &p, "--format", "xml", "a.io"],
        &["check", "a.io"],
        &["explain", "--policy", &p],
    ] {
        let r = hostgate(bad, "");
        assert_eq!(r.code, 2, "{bad:?}");
        assert_eq!(r.stdout, "", "{bad:?}");
        assert!(!r.stderr.is_empty(), "{bad:?}");
    }
}

#[test]
fn compile_errors_all_listed_with_positions() {
    let p = policy_file("bogus a.io\nallow ok.kadath.io\nallow a..b\nallow c.io port 0\n");
    let r = hostgate(&["check", "--policy", &p, "ok.kadath.io"], "");
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "");
    let errs = lines(&r.stderr);
    assert_eq!(errs.len(), 3, "{}", r.stderr);
    assert!(errs[0].starts_with(&format!("{p}:1:1: ")), "{}", errs[0]);
    assert!(errs[1].starts_with(&format!("{p}:3:")), "{}", errs[1]);
    assert!(errs[2].starts_with(&format!("{p}:4:")), "{}", errs[2]);
    // The same through explain.
    let r = hostgate(&["explain", "--policy", &p, "ok.kadath.io"], "");
    assert_eq!((r.code, lines(&r.stderr).len()), (2, 3));
}

#[test]
fn warnings_go_to_stderr_and_do_not_fail() {
    let p = policy_file("allow *google.com\n");
    let r = hostgate(&["check", "--policy", &p, "xgoogle.com"], "");
    assert_eq!(r.code, 0);
    assert!(
        r.stderr.starts_with(&format!("{p}:1:7: warning: ")),
        "{}",
        r.stderr
    );
    assert_eq!(
        lines(&r.stdout),
        ["allow xgoogle.com  matched default:1 (line 1)"]
    );
}

#[test]
fn missing_policy_file() {
    let r = hostgate(&["check", "--policy", "no/such/file.policy", "a.io"], "");
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr
            .starts_with("hostgate: cannot read policy file no/such/file.policy: "),
        "{}",
        r.stderr
    );
}

#[test]
fn policy_file_that_is_not_utf8() {
    let p = policy_file("");
    std::fs::write(&p, b"allow a.io\nallow b\xff.io\n").unwrap();
    let r = hostgate(&["check", "--policy", &p, "a.io"], "");
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        format!("{p}:2:8: policy file is not UTF-8 text\n")
    );
}

#[test]
fn unknown_policy_name_lists_the_policies() {
    let p = policy_file("allow a.io\npolicy tenant-a\nallow b.io\npolicy tenant-b\n");
    let r = hostgate(
        &["check", "--policy", &p, "--policy-name", "nope", "a.io"],
        "",
    );
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        format!(
            "hostgate: no policy named `nope` in {p}; available: default, tenant-a, tenant-b\n"
        )
    );
}

#[test]
fn default_policy_is_default_else_the_first() {
    // Statements before the first `policy`: the policy `default` exists and is used.
    let p = policy_file("allow a.io\npolicy other\ndefault allow\n");
    let r = hostgate(&["check", "--policy", &p, "--format", "json", "b.io"], "");
    assert_eq!(json_lines(&r.stdout)[0]["policy"], "default");
    assert_eq!(json_lines(&r.stdout)[0]["verdict"], "deny");
    // No `default` policy: the first one in the file.
    let p = policy_file("policy first\ndefault allow\npolicy second\n");
    let r = hostgate(&["check", "--policy", &p, "--format", "json", "b.io"], "");
    assert_eq!(json_lines(&r.stdout)[0]["policy"], "first");
    assert_eq!(json_lines(&r.stdout)[0]["verdict"], "allow");
    let r = hostgate(
        &[
            "check",
            "--policy",
            &p,
            "--policy-name",
            "second",
            "--format",
            "json",
            "b.io",
        ],
        "",
    );
    assert_eq!(json_lines(&r.stdout)[0]["policy"], "second");
    assert_eq!(json_lines(&r.stdout)[0]["verdict"], "deny");
}

#[cfg(unix)]
#[test]
fn non_utf8_name_argument_is_an_invalid_name() {
    use std::os::unix::ffi::OsStrExt;
    let p = policy_file("allow *\n");
    let out = Command::new(env!("CARGO_BIN_EXE_hostgate"))
        .args(["check", "--policy", &p, "--format", "json"])
        .arg(std::ffi::OsStr::from_bytes(b"caf\xe9.io"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "caf\u{fffd}.io");
    assert_eq!(
        (&v["kind"], &v["reason"]),
        (&json!("invalid"), &json!("invalid-name"))
    );
}

const LAYERED: &str = "\
allow .kadath.io port 443,8000-8999 via tls,http
deny api.kadath.io id no-api
allow api.kadath.io
policy strict
precedence deny-overrides
allow .kadath.io
deny api.kadath.io id no-api
";

#[test]
fn explain_text_lists_matches_and_marks_the_decider() {
    let p = policy_file(LAYERED);
    let r = hostgate(
        &[
            "explain",
            "--policy",
            &p,
            "--port",
            "443",
            "--via",
            "tls",
            "API.Kadath.IO",
        ],
        "",
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let out = lines(&r.stdout);
    assert_eq!(
        out[0],
        "name:     API.Kadath.IO (host name, normalized to api.kadath.io)"
    );
    assert_eq!(
        out[1],
        "policy:   default (precedence first-match, default deny)"
    );
    assert_eq!(out[2], "query:    port 443, via tls");
    assert_eq!(out[3], "verdict:  allow by rule default:1 (line 1)");
    assert_eq!(out[4], "");
    assert_eq!(out[5], "matching rules, in file order:");
    assert_eq!(
        out[6],
        "  => line 1    allow .kadath.io  port 443,8000-8999  via tls,http  id default:1"
    );
    assert_eq!(out[7], "     line 2    deny  api.kadath.io  id no-api");
    assert_eq!(out[8], "     line 3    allow api.kadath.io  id default:3");
    assert_eq!(out[9], "");
    assert!(
        out[10].starts_with("why: ") && out[10].len() > 10,
        "{}",
        out[10]
    );
}

#[test]
fn explain_deny_overrides_picks_the_deny() {
    let p = policy_file(LAYERED);
    let r = hostgate(
        &[
            "explain",
            "--policy",
            &p,
            "--policy-name",
            "strict",
            "--format",
            "json",
            "api.kadath.io",
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim_end()).unwrap();
    assert_eq!(v["policy"], "strict");
    assert_eq!(
        (&v["verdict"], &v["rule"], &v["line"]),
        (&json!("deny"), &json!("no-api"), &json!(7))
    );
    assert_eq!(
        v["matches"],
        json!([
            {"index": 0, "id": "strict:6", "line": 6, "action": "allow", "pattern": ".kadath.io",
             "ports": [], "via": [], "received": false, "decides": false},
            {"index": 1, "id": "no-api", "line": 7, "action": "deny", "pattern": "api.kadath.io",
             "ports": [], "via": [], "received": false, "decides": true},
        ])
    );
    assert!(!v["why"].as_str().unwrap().is_empty());
}

#[test]
fn explain_json_ports_and_via() {
    let p = policy_file(LAYERED);
    let r = hostgate(
        &[
            "explain",
            "--policy",
            &p,
            "--via",
            "http",
            "--format",
            "json",
            "x.kadath.io",
        ],
        "",
    );
    let v: Value = serde_json::from_str(r.stdout.trim_end()).unwrap();
    assert_eq!(
        (&v["verdict"], &v["rule"]),
        (&json!("allow"), &json!("default:1"))
    );
    assert_eq!(v["matches"][0]["ports"], json!([[443, 443], [8000, 8999]]));
    assert_eq!(v["matches"][0]["via"], json!(["tls", "http"]));
}

#[test]
fn explain_no_match_and_invalid_name() {
    let p = policy_file(LAYERED);
    let r = hostgate(&["explain", "--policy", &p, "leng.com"], "");
    assert_eq!(r.code, 0);
    let out = lines(&r.stdout);
    assert_eq!(out[2], "query:    no port, source unknown");
    assert_eq!(out[3], "verdict:  deny by the policy default");
    assert_eq!(out[5], "no rule matches");
    let r = hostgate(&["explain", "--policy", &p, "--format", "json", "a..b"], "");
    assert_eq!(r.code, 0);
    let v: Value = serde_json::from_str(r.stdout.trim_end()).unwrap();
    assert_eq!(
        (&v["kind"], &v["reason"]),
        (&json!("invalid"), &json!("invalid-name"))
    );
    assert_eq!(v["matches"], json!([]));
    let r = hostgate(&["explain", "--policy", &p, "a..b"], "");
    assert_eq!(
        lines(&r.stdout)[0],
        "name:     a..b (invalid name: empty label)"
    );
}

// ---- the bundled example -------------------------------------------------------------------

const EXAMPLE: &str = "examples/policies/egress.policy";

#[test]
fn example_policy_compiles_cleanly() {
    let r = hostgate(&["check", "--policy", EXAMPLE, "api.kadath.io"], "");
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    for name in ["default", "ci-runners", "payments"] {
        let r = hostgate(
            &["check", "--policy", EXAMPLE, "--policy-name", name, "a.io"],
            "",
        );
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    }
}

/// names.txt notes the expected verdict after each name (`# allow  RULE-ID (…)` or
/// `# deny   default|invalid-name (…)`); the binary must agree with every note.
#[test]
fn example_names_get_their_annotated_verdicts() {
    let names = std::fs::read_to_string(repo_root().join("examples/policies/names.txt")).unwrap();
    let expected: Vec<(&str, &str, &str)> = names
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, note) = l.split_once(" # ")?;
            let mut words = note.split_whitespace();
            Some((name.trim(), words.next()?, words.next()?))
        })
        .collect();
    assert!(expected.len() >= 20, "names.txt lost its notes");
    let r = hostgate(&["check", "--policy", EXAMPLE, "--format", "json"], &names);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let got = json_lines(&r.stdout);
    assert_eq!(got.len(), expected.len());
    for (o, (name, verdict, what)) in got.iter().zip(expected) {
        assert_eq!(o["name"], name);
        assert_eq!(o["verdict"], verdict, "{name}");
        match what {
            "default" | "invalid-name" => assert_eq!(o["reason"], what, "{name}"),
            id => assert_eq!(
                (&o["reason"], &o["rule"]),
                (&json!("matched"), &json!(id)),
                "{name}"
            ),
        }
    }
}

#[test]
fn example_flags_and_other_policies() {
    let rule = |s: &str| {
        v(
            if s.starts_with('!') { "deny" } else { "allow" },
            "matched",
            json!(s.trim_start_matches('!')),
        )
    };
    let dflt = v("deny", "default", Value::Null);
    assert_eq!(
        verdicts(
            EXAMPLE,
            &["--port", "443", "--via", "tls"],
            &["graph.facebook.com", "graph.facebook.com."]
        ),
        [rule("facebook-graph"), rule("facebook-graph")]
    );
    assert_eq!(
        verdicts(
            EXAMPLE,
            &["--port", "80", "--via", "tls"],
            &["graph.facebook.com", "api.stripe.com"]
        ),
        [dflt.clone(), dflt.clone()]
    );
    assert_eq!(
        verdicts(EXAMPLE, &["--via", "connect"], &["build-42.ci.kadath.io"]),
        [rule("ci-builders")]
    );
    assert_eq!(
        verdicts(
            EXAMPLE,
            &["--policy-name", "ci-runners"],
            &[
                "api.kadath.io",
                "api.leng.com",
                "leng.com",
                "169.254.169.254",
                "198.51.100.3",
                "203.0.113.9"
            ]
        ),
        [
            rule("anywhere"),
            rule("!block-leng"),
            rule("!block-leng"),
            rule("!cloud-metadata"),
            rule("mirror-net"),
            dflt.clone(),
        ]
    );
    assert_eq!(
        verdicts(
            EXAMPLE,
            &["--policy-name", "payments", "--port", "443"],
            &[
                "api.stripe.com",
                "hooks-eu.stripe.com",
                "files.stripe.com",
                "api.kadath.io"
            ]
        ),
        [
            rule("stripe-api"),
            rule("stripe-hooks"),
            rule("!stripe-rest"),
            dflt.clone()
        ]
    );
    assert_eq!(
        verdicts(
            EXAMPLE,
            &["--policy-name", "payments", "--via", "dns"],
            &["api.kadath.io", "files.stripe.com", "192.0.2.1"]
        ),
        [rule("resolve-anything"), rule("!stripe-rest"), dflt]
    );
}

#[test]
fn example_explain_runs() {
    let r = hostgate(&["explain", "--policy", EXAMPLE, "api.leng.com"], "");
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert!(
        r.stdout
            .contains("verdict:  deny by rule block-leng (line 20)"),
        "{}",
        r.stdout
    );
}

#[test]
fn explain_shows_a_received_rule_in_text_and_json() {
    let p = policy_file("default deny\nallow ~API\\.x\\.test received id raw\n");
    let args = ["explain", "--policy", &p, "--port", "443", "--via", "tls"];
    let r = hostgate(&[&args[..], &["API.x.test"]].concat(), "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("=> line 2    allow ~API\\.x\\.test  received  id raw"),
        "{}",
        r.stdout
    );
    // The lowercased name is not what the rule sees.
    let r = hostgate(&[&args[..], &["api.x.test"]].concat(), "");
    assert!(
        r.stdout.contains("verdict:  deny by the policy default"),
        "{}",
        r.stdout
    );
    let r = hostgate(
        &[&args[..], &["--format", "json", "API.x.test"]].concat(),
        "",
    );
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["matches"][0]["received"], serde_json::Value::Bool(true));
    assert_eq!(v["matches"][0]["id"], "raw");
}
