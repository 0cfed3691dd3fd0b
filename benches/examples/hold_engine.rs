//! A process that loads an engine and holds it, for `benches/engine-file-pss.sh` (memory of
//! many processes on one policy):
//!
//! ```text
//! hold_engine gen RULES POLICY        write the real-shaped policy of RULES rules (`1M`, `200k`)
//! hold_engine write POLICY ENGINE     compile POLICY into an engine file
//! hold_engine open ENGINE             map the engine file, then hold it
//! hold_engine compile POLICY          compile the policy text, then hold it
//! ```
//!
//! `open` and `compile` look up names under the policy's rules, print `ready`, and sleep until
//! killed.

#[path = "../engine_file/shape.rs"]
mod shape;

use hostgate::{Engine, Query};

fn parse_count(s: &str) -> usize {
    let (num, mul) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1_000),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1_000_000),
        _ => (s, 1),
    };
    num.parse::<usize>()
        .expect("a rule count: 1M, 200k or a number")
        * mul
}

/// Looks up names under every 16th rule's domain (so the table and rule pages a lookup reads
/// are in; built one at a time, so the process keeps no memory of its own for them), then holds.
fn hold(e: &Engine) -> ! {
    let p = e.default_policy();
    let mut denied = 0;
    for i in (0..e.rule_count(p)).step_by(16) {
        if let Some(r) = e.rule(p, i) {
            let name = format!("www{}", r.pattern);
            denied += usize::from(!e.check(p, &Query::new(name.as_str())).is_allow());
        }
    }
    println!("ready {denied}");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| {
        args.get(i)
            .map(String::as_str)
            .expect("see the usage in the source")
    };
    match arg(0) {
        "gen" => {
            let (text, _) = shape::policy_and_queries(parse_count(arg(1)), 0);
            std::fs::write(arg(2), text).expect("write the policy");
        }
        "write" => {
            let text = std::fs::read_to_string(arg(1)).expect("read the policy");
            let e = Engine::compile(&text).expect("the policy compiles");
            hostgate_map::write(arg(2), &e.to_bytes_with_source(arg(1), text.as_bytes()))
                .expect("write the engine file");
        }
        "open" => {
            let e = hostgate_map::open(arg(1)).unwrap_or_else(|e| panic!("{e}"));
            hold(&e)
        }
        "compile" => {
            let text = std::fs::read_to_string(arg(1)).expect("read the policy");
            let e = Engine::compile(&text).expect("the policy compiles");
            drop(text);
            hold(&e)
        }
        other => panic!("unknown mode {other}"),
    }
}
