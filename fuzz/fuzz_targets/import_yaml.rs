//! The importers of Kubernetes objects, cloud rule files and Envoy bootstraps (Cilium, GKE,
//! Istio, network-policy-api, Calico, AWS Network Firewall, Route 53 DNS Firewall, Envoy) on
//! arbitrary bytes: no panic; every error and warning names the input file and points inside
//! it (line from 1 to one past its last line break, counting `\r`, `\n` and `\r\n` as YAML
//! does; column from 1); an import that succeeds renders to hostgate text that compiles, with
//! one rule per imported rule, each rule's line inside the input.
#![no_main]

use hostgate::Format;
use hostgate_import::{import, render, ImportDiagnostic, Options};
use libfuzzer_sys::fuzz_target;

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

fn check(d: &ImportDiagnostic, lines: u32) {
    assert_eq!(d.file, "in.yaml", "{d}");
    assert!(d.line >= 1 && d.line <= lines + 1, "{d} in {lines} lines");
    assert!(d.column >= 1, "{d}");
    assert!(!d.message.is_empty(), "{d}");
}

fuzz_target!(|data: &[u8]| {
    let lines = line_breaks(data);
    for format in [
        Format::Cilium,
        Format::Gke,
        Format::Istio,
        Format::Anp,
        Format::Calico,
        Format::AwsNfw,
        Format::Route53,
        Format::Envoy,
    ] {
        match import(format, &[("in.yaml", data)], &Options::default()) {
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
            }
        }
    }
});
