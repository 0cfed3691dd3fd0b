//! The importers of Kubernetes objects, cloud rule files and Envoy bootstraps (Cilium, GKE,
//! Istio, network-policy-api, Calico, AWS Network Firewall, Route 53 DNS Firewall, Envoy) on
//! arbitrary bytes: no panic; every error and warning names the input file and points inside
//! it (line from 1 to one past its last line break, counting `\r`, `\n` and `\r\n` as YAML
//! does; column from 1); an import that succeeds renders to hostgate text that compiles, with
//! one rule per imported rule, each rule's line inside the input.
#![no_main]

use hostgate::Format;
use hostgate_import::Options;
use libfuzzer_sys::fuzz_target;

#[path = "common/import_oracle.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| {
    let lines = oracle::line_breaks(data, true);
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
        // Verdicts are compared by the config importers' own targets; here, positions and
        // the rendered policy.
        oracle::import_holds(format, "in.yaml", data, &Options::default(), lines, [], &[]);
    }
});
