//! The policy compiler on arbitrary text: no panic; every error and warning points inside the
//! input (line from 1 to the number of lines, column from 1 to one past the line's last
//! character), in text order; a compiled engine answers queries and explanations for every
//! policy and describes every rule with a line inside the text. Time and memory are bounded by
//! libFuzzer's `-timeout` and `-rss_limit_mb` (see `fuzz/run.sh`), with `-max_len` large enough
//! for hostile regexes and long policies.
#![no_main]

use hostgate::{Diagnostic, Engine, Query, Reason, Via};
use libfuzzer_sys::fuzz_target;

/// Characters per line (split on `\n`; a `\r` before it counts, which only widens the bound).
fn line_widths(text: &str) -> Vec<u32> {
    text.split('\n').map(|l| l.chars().count() as u32).collect()
}

fn check_position(what: &str, d: &Diagnostic, widths: &[u32]) {
    assert!(
        d.line >= 1 && (d.line as usize) <= widths.len(),
        "{what} on line {} of a {}-line text: {d}",
        d.line,
        widths.len()
    );
    let width = widths[d.line as usize - 1];
    assert!(
        d.column >= 1 && d.column <= width + 1,
        "{what} at column {} of a {width}-character line: {d}",
        d.column
    );
    assert!(!d.message.is_empty(), "{what} without a message");
}

fuzz_target!(|data: &[u8]| {
    let owned;
    let text = match std::str::from_utf8(data) {
        Ok(t) => t,
        Err(_) => {
            owned = String::from_utf8_lossy(data).into_owned();
            &owned
        }
    };
    let widths = line_widths(text);
    match Engine::compile(text) {
        Err(errs) => {
            let errors = errs.errors();
            assert!(!errors.is_empty(), "a failed compile with no error");
            for (k, d) in errors.iter().enumerate() {
                // The one diagnostic not from the text: the "N more errors" summary, last.
                if d.line == 0 && d.column == 0 && d.message.ends_with("more errors not shown") {
                    assert_eq!(k, errors.len() - 1, "the summary is not last");
                    continue;
                }
                check_position("error", d, &widths);
            }
            assert!(
                errors
                    .windows(2)
                    .all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column)
                        || w[1].line == 0),
                "errors are not in text order"
            );
            let _ = errs.render("fuzz.policy");
        }
        Ok(engine) => {
            for d in engine.warnings() {
                check_position("warning", d, &widths);
            }
            assert!(engine.policies().len() >= 1, "an engine without a policy");
            let probes: [&[u8]; 6] = [
                b"api.kadath.io",
                b"a.b.c.example",
                b"192.0.2.1",
                b"2001:db8::1",
                b"xn--bcher-kva.example",
                b"bad..name",
            ];
            for (id, name) in engine.policies() {
                assert_eq!(
                    engine.policy(name),
                    Some(id),
                    "policy {name:?} does not resolve"
                );
                let n = engine.rule_count(id);
                for r in 0..n {
                    let info = engine.rule(id, r).expect("rule index below rule_count");
                    assert_eq!(info.index, r);
                    assert!(
                        info.line >= 1 && (info.line as usize) <= widths.len(),
                        "rule {r} of {name:?} on line {} of {}",
                        info.line,
                        widths.len()
                    );
                    assert!(!info.id.to_string().is_empty());
                }
                assert!(engine.rule(id, n).is_none());
                for (k, probe) in probes.iter().enumerate() {
                    let q = Query {
                        name: probe,
                        port: (k % 2 == 0).then_some(443),
                        via: Via::ALL.get(k).copied(),
                    };
                    let v = engine.check(id, &q);
                    if let Some(rule) = v.rule {
                        assert_eq!(v.reason, Reason::Matched);
                        let info = engine
                            .rule(id, rule.index())
                            .expect("the deciding rule exists");
                        assert_eq!((info.line, info.id), (rule.line(), rule.id()));
                    } else {
                        assert_ne!(v.reason, Reason::Matched);
                    }
                    if k == 5 {
                        assert_eq!(v.reason, Reason::InvalidName);
                    }
                    let x = engine.explain(id, &q);
                    assert_eq!(x.verdict, v, "explain and check disagree");
                    assert!(
                        x.matches.iter().filter(|m| m.decides).count() <= 1,
                        "more than one deciding rule"
                    );
                }
            }
        }
    }
});
