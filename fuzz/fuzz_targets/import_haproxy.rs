//! The HAProxy importer on arbitrary bytes, as haproxy.cfg with its pattern files taken only
//! from those given: no panic; every error and warning names the input file and points inside
//! it (line from 1 to one past its last `\n`; column from 1); an import that succeeds renders
//! to hostgate text that compiles with the same number of rules, each rule's line inside the
//! input, and decides the same as the engine on names taken from the input.
#![no_main]

use hostgate::{Format, Query, Via};
use hostgate_import::{import, render, ImportDiagnostic, Options};
use libfuzzer_sys::fuzz_target;

fn check(d: &ImportDiagnostic, lines: u32) {
    assert_eq!(d.file, "haproxy.cfg", "{d}");
    assert!(d.line >= 1 && d.line <= lines + 1, "{d} in {lines} lines");
    assert!(d.column >= 1, "{d}");
    assert!(!d.message.is_empty(), "{d}");
}

fuzz_target!(|data: &[u8]| {
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u32;
    let options = Options::default().sandboxed(true);
    match import(Format::Haproxy, &[("haproxy.cfg", data)], &options) {
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in &errors {
                check(e, lines);
            }
        }
        Ok(imported) => {
            for w in imported.warnings() {
                check(w, lines);
            }
            let text = render(&imported);
            let engine = hostgate::Engine::compile(&text)
                .unwrap_or_else(|e| panic!("rendered policy does not compile: {e}\n{text}"));
            let rules = imported.policies()[0].rules.len();
            let policy = engine.policy("default").expect("policy default");
            assert_eq!(engine.rule_count(policy) as usize, rules);
            for s in imported.sources() {
                assert!(s.line >= 1 && s.line <= lines + 1);
            }
            let direct = imported.engine();
            let dp = direct.policy("default").expect("policy default");
            let words = String::from_utf8_lossy(data);
            for w in words.split_whitespace().take(32) {
                let name = w.trim_start_matches(['.', '!']);
                // Ports 80 and 8080 over HTTP: with and without `:PORT` in the name as received.
                for (port, via) in [(80, Via::Http), (8080, Via::Http), (443, Via::Connect), (443, Via::Tls)] {
                    let q = Query::new(name).port(port).via(via);
                    assert_eq!(
                        engine.check(policy, &q).action,
                        direct.check(dp, &q).action,
                        "{name} {via:?}\n{text}"
                    );
                }
            }
        }
    }
});
