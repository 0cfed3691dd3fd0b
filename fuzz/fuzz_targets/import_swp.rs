//! The Secure Web Proxy importer on arbitrary bytes. The first byte chooses the input: even,
//! the rest is the YAML/JSON file itself; odd, the rest is a `sessionMatcher` CEL expression,
//! put into a rule beside a URL list. No panic; every error and warning names the input file
//! and points inside it (line from 1 to one past its last line break; column from 1); an
//! import that succeeds renders to hostgate text that compiles with the same number of rules,
//! each rule's line inside the input, and decides the same as the engine on names taken from
//! the input.
#![no_main]

use hostgate::{Format, Via};
use hostgate_import::Options;
use libfuzzer_sys::fuzz_target;

#[path = "common/import_oracle.rs"]
mod oracle;

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
    let words = String::from_utf8_lossy(rest);
    let names = words
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .filter(|w| !w.is_empty())
        .take(32)
        .chain(["a.example", "x.b.example", "c.example"]);
    oracle::import_holds(
        Format::Swp,
        "in.yaml",
        &file,
        &Options::default(),
        oracle::line_breaks(&file, true),
        names,
        &[(443, Via::Tls), (80, Via::Http), (8080, Via::Connect)],
    );
});
