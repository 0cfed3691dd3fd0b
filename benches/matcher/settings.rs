//! What to run, from the command line and the environment (see `benches/README.md`).

use std::time::Duration;

/// How this run measures.
pub struct Settings {
    /// `cargo test --benches` / `cargo bench -- --test`: smallest size, verification only.
    pub test_mode: bool,
    /// `--profile-time N` (criterion's mode for profilers): no summary timing.
    pub profile: bool,
    /// `HOSTGATE_BENCH_QUICK=1` or `--quick`: two sizes, shorter criterion runs, fewer rounds.
    pub quick: bool,
    /// The rule-set sizes, in rules.
    pub sizes: Vec<usize>,
    /// The largest size baseline (3) is built at.
    pub regex_max: usize,
    /// Names in the random query stream.
    pub random_len: usize,
    /// Interleaved rounds of the summary timing.
    pub rounds: usize,
    /// About how long one timed pass of the summary runs.
    pub pass_time: Duration,
    /// hostgate builds timed per size; the best is reported.
    pub builds: usize,
}

/// The settings from `std::env::args` and the `HOSTGATE_BENCH_*` variables.
pub fn settings() -> Settings {
    let args: Vec<String> = std::env::args().collect();
    let has = |a: &str| args.iter().any(|x| x == a);
    let test_mode = !has("--bench") || has("--test") || has("--list");
    let env_quick = std::env::var("HOSTGATE_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let quick = env_quick || has("--quick");
    let mut sizes = if test_mode {
        vec![10_000]
    } else if quick {
        vec![10_000, 200_000]
    } else {
        vec![10_000, 200_000, 1_000_000]
    };
    if let Ok(v) = std::env::var("HOSTGATE_BENCH_SIZES") {
        sizes = v.split(',').filter_map(parse_size).collect();
    }
    let regex_max = std::env::var("HOSTGATE_BENCH_REGEX_MAX")
        .ok()
        .and_then(|v| parse_size(&v))
        .unwrap_or(10_000);
    Settings {
        test_mode,
        profile: args.iter().any(|a| a.starts_with("--profile-time")),
        quick,
        sizes,
        regex_max,
        random_len: if test_mode { 20_000 } else { 1_000_000 },
        rounds: if quick { 7 } else { 15 },
        pass_time: Duration::from_millis(if quick { 80 } else { 150 }),
        builds: 3,
    }
}

/// `10k`, `1M`: a rule count as the output names it.
pub fn size_label(n: usize) -> String {
    if n >= 1_000_000 && n / 1_000_000 * 1_000_000 == n {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n / 1000 * 1000 == n {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// Parses `10k`, `200K`, `1M` or a plain number.
fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (num, mul) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1_000),
        b'm' | b'M' => (&s[..s.len() - 1], 1_000_000),
        _ => (s, 1),
    };
    num.parse::<usize>().ok().map(|n| n * mul)
}
