//! Pushes the two-datagram QUIC hello of tests/quic through a reassembler N times (default
//! 1000), forgetting the flow after each: a driver for instruction counts
//! (`valgrind --tool=callgrind target/release/examples/quic_loop 1000`).

use std::path::PathBuf;
use std::time::Instant;

use hostgate::inspect::quic;
use hostgate::inspect::Limits;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/quic");
    let pair: Vec<Vec<u8>> = ["two-www.kadath.io-1.bin", "two-www.kadath.io-2.bin"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).expect("the fixture"))
        .collect();
    let dcid = pair[0][6..6 + usize::from(pair[0][5])].to_vec();
    let mut table = quic::Reassembler::new(Limits::default(), quic::Caps::default());
    let now = Instant::now();
    let mut names = 0;
    for _ in 0..n {
        for d in &pair {
            if table.push(d, now).name().is_some() {
                names += 1;
            }
        }
        table.forget(&dcid);
    }
    assert_eq!(names, n);
    println!("{names} hellos");
}
