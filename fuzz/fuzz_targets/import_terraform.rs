//! The Terraform readers of `--from aws-nfw` and `--from route53` on arbitrary bytes: the first
//! byte picks the format and whether the rest is a `.tf` file or `terraform show -json`
//! output. No panic; every error and warning names the input file and points inside it (line
//! from 1 to one past its last line break; column from 1); an import that succeeds renders to
//! hostgate text that compiles with the same number of rules and decides the same as the
//! engine on names taken from the input.
#![no_main]

use hostgate::{Format, Query, Via};
use hostgate_import::{import, render, ImportDiagnostic, Options};
use libfuzzer_sys::fuzz_target;

fn check(d: &ImportDiagnostic, file: &str, lines: u32) {
    assert_eq!(d.file, file, "{d}");
    assert!(d.line >= 1 && d.line <= lines + 1, "{d} in {lines} lines");
    assert!(d.column >= 1, "{d}");
    assert!(!d.message.is_empty(), "{d}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let format = if pick & 1 == 0 {
        Format::AwsNfw
    } else {
        Format::Route53
    };
    let file = if pick & 2 == 0 { "main.tf" } else { "plan.json" };
    // Line breaks as YAML counts them (plan JSON is parsed as YAML): `\n`, `\r\n` and `\r`.
    let lines = text
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && text.get(i + 1) != Some(&b'\n')))
        .count() as u32;
    match import(format, &[(file, text)], &Options::default()) {
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in &errors {
                check(e, file, lines);
            }
        }
        Ok(imported) => {
            for w in imported.warnings() {
                check(w, file, lines);
            }
            let rendered = render(&imported);
            let engine = hostgate::Engine::compile(&rendered)
                .unwrap_or_else(|e| panic!("rendered policy does not compile: {e}\n{rendered}"));
            let policy = engine.policy("default").expect("policy default");
            assert_eq!(
                engine.rule_count(policy) as usize,
                imported.policies()[0].rules.len()
            );
            for s in imported.sources() {
                assert!(s.line >= 1 && s.line <= lines + 1);
            }
            let direct = imported.engine();
            let dp = direct.policy("default").expect("policy default");
            let words = String::from_utf8_lossy(text);
            for w in words
                .split(|c: char| c.is_whitespace() || matches!(c, '"' | ',' | '[' | ']'))
                .filter(|w| !w.is_empty())
                .take(32)
            {
                let name = w.trim_start_matches(['.', '*']);
                for (port, via) in [(443, Via::Tls), (80, Via::Http), (53, Via::Dns)] {
                    let q = Query::new(name).port(port).via(via);
                    assert_eq!(
                        engine.check(policy, &q).action,
                        direct.check(dp, &q).action,
                        "{name} {via:?}\n{rendered}"
                    );
                }
            }
        }
    }
});
