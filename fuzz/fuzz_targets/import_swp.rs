//! The Secure Web Proxy importer on arbitrary bytes. The first byte chooses the input: even,
//! the rest is the YAML/JSON file itself; odd, the rest is a `sessionMatcher` CEL expression,
//! put into a rule beside a URL list. No panic; every error and warning names the input file
//! and points inside it (line from 1 to one past its last line break; column from 1); an
//! import that succeeds renders to hostgate text that compiles with the same number of rules,
//! each rule's line inside the input, and decides the same as the engine on names taken from
//! the input.
#![no_main]

use hostgate::{Format, Query, Via};
use hostgate_import::{import, render, ImportDiagnostic, Options};
use libfuzzer_sys::fuzz_target;

fn check(d: &ImportDiagnostic, lines: u32) {
    assert_eq!(d.file, "in.yaml", "{d}");
    assert!(d.line >= 1 && d.line <= lines + 1, "{d} in {lines} lines");
    assert!(d.column >= 1, "{d}");
    assert!(!d.message.is_empty(), "{d}");
}

fn line_breaks(data: &[u8]) -> u32 {
    let mut n = 0u32;
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
            i += 1;
        }
        if data[i] == b'\n' || data[i] == b'\r' {
            n += 1;
        }
        i += 1;
    }
    n
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file: Vec<u8> = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        // A YAML double-quoted scalar keeps any expression on one line.
        let expr = String::from_utf8_lossy(rest);
        let mut quoted = String::new();
        for c in expr.chars() {
            match c {
                '"' => quoted.push_str("\\\""),
                '\\' => quoted.push_str("\\\\"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    quoted.push_str(&format!("\\x{:02x}", c as u32))
                }
                c => quoted.push(c),
            }
        }
        format!(
            "name: projects/p/locations/l/urlLists/u\nvalues: [a.example, '*b.example', '*.c.example', d.example/path]\n---\n\
             name: projects/p/locations/l/gatewaySecurityPolicies/g/rules/later\nenabled: true\npriority: 2\nbasicProfile: ALLOW\n\
             sessionMatcher: host().endsWith('.example') && destination.port == 443\n---\n\
             name: projects/p/locations/l/gatewaySecurityPolicies/g/rules/r\nenabled: true\npriority: 1\nbasicProfile: {}\n\
             sessionMatcher: \"{quoted}\"\n",
            if mode & 2 == 0 { "ALLOW" } else { "DENY" }
        )
        .into_bytes()
    };
    let lines = line_breaks(&file);
    match import(Format::Swp, &[("in.yaml", &file)], &Options::default()) {
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
            let words = String::from_utf8_lossy(rest);
            let names = words
                .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
                .filter(|w| !w.is_empty())
                .take(32);
            for name in names.chain(["a.example", "x.b.example", "c.example"]) {
                for (port, via) in [(443, Via::Tls), (80, Via::Http), (8080, Via::Connect)] {
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
