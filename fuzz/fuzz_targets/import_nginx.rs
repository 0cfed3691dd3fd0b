//! The nginx importer on arbitrary bytes, as nginx.conf with its included files taken only
//! from those given: no panic; every error and warning names the input file and points inside
//! it (line from 1 to one past its last `\n`; column from 1); an import that succeeds renders
//! to hostgate text that compiles with the same number of rules, each rule's line inside the
//! input, and decides the same as the engine on names taken from the input.
#![no_main]

use hostgate::{Format, Via};
use hostgate_import::Options;
use libfuzzer_sys::fuzz_target;

#[path = "common/import_oracle.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| {
    let words = String::from_utf8_lossy(data);
    let names = words.split_whitespace().take(32).map(|w| {
        w.trim_start_matches(['.', '*', '~', '"'])
            .trim_end_matches([';', '"'])
    });
    oracle::import_holds(
        Format::Nginx,
        "nginx.conf",
        data,
        &Options::default().sandboxed(true),
        oracle::line_breaks(data, false),
        names,
        &[(80, Via::Http), (443, Via::Connect), (443, Via::Tls)],
    );
});
