//! The Terraform readers of `--from aws-nfw`, `--from route53` and `--from swp` on arbitrary
//! bytes: the first byte picks the format and whether the rest is a `.tf` file or
//! `terraform show -json` output. No panic; every error and warning names the input file and points inside it (line
//! from 1 to one past its last line break; column from 1); an import that succeeds renders to
//! hostgate text that compiles with the same number of rules and decides the same as the
//! engine on names taken from the input.
#![no_main]

use hostgate::{Format, Via};
use hostgate_import::Options;
use libfuzzer_sys::fuzz_target;

#[path = "common/import_oracle.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    // Bits 0-1: the product (3 wraps to aws-nfw); bit 2: plan JSON, else a .tf file.
    let format =
        [Format::AwsNfw, Format::Route53, Format::Swp, Format::AwsNfw][usize::from(pick & 3)];
    let file = if pick & 4 == 0 {
        "main.tf"
    } else {
        "plan.json"
    };
    let words = String::from_utf8_lossy(text);
    let names = words
        .split(|c: char| c.is_whitespace() || matches!(c, '"' | ',' | '[' | ']'))
        .filter(|w| !w.is_empty())
        .take(32)
        .map(|w| w.trim_start_matches(['.', '*']));
    oracle::import_holds(
        format,
        file,
        text,
        &Options::default(),
        // Line breaks as YAML counts them (plan JSON is parsed as YAML).
        oracle::line_breaks(text, true),
        names,
        &[
            (443, Via::Tls),
            (80, Via::Http),
            (53, Via::Dns),
            (443, Via::Connect),
        ],
    );
});
