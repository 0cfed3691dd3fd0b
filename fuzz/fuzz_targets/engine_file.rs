//! Engine files, arbitrary and mutated, opened and asked: opening never panics and either
//! fails with an error or gives an engine whose every lookup, explanation and rule view
//! returns. The first byte picks the mode:
//!
//! - `0`: the rest is the whole file, as it is;
//! - `1`: the rest is edits (offset, byte to XOR) applied to a valid engine file, which is then
//!   resealed (its checksum recomputed), so the edits reach the checks past the checksum;
//! - `2`: as `1`, then the file cut at a length given by the first two bytes;
//! - anything else: the rest is written over a valid file from an offset, resealed.
#![no_main]

use std::sync::{Arc, OnceLock};

use hostgate::{Engine, Query, SharedBytes, Via};
use libfuzzer_sys::fuzz_target;

/// A small engine with every kind of rule, as a file: the seed every mutation starts from.
fn valid() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        Engine::compile(
            "policy web\nprecedence most-specific\nallow api.kadath.io port 443 via tls id api\n\
             allow **.kadath.io port 80-90,443\ndeny .leng.com\nallow *.leng.com via http\n\
             allow api-*.celephais.io\nallow ~^[a-z]+\\.regex\\.test$\nallow 203.0.113.0/24\n\
             deny 2001:db8::/32\nallow *google.com\npolicy dns\nprecedence deny-overrides\n\
             allow .kadath.io\ndeny api.kadath.io\nallow *\npolicy plain\nallow kadath.io\n\
             allow kadath.io port 22\ndeny 198.51.100.7\n",
        )
        .expect("the seed policy compiles")
        .to_bytes()
    })
}

/// The checksum of everything past the fixed header, recomputed (docs/engine-file.md: XXH3-64
/// of each 256 KiB block, then of those digests).
fn reseal(b: &mut [u8]) {
    if b.len() >= 40 {
        let digests: Vec<u8> = b[40..]
            .chunks(256 << 10)
            .flat_map(|block| xxhash_rust::xxh3::xxh3_64(block).to_ne_bytes())
            .collect();
        let sum = xxhash_rust::xxh3::xxh3_64(&digests);
        b[32..40].copy_from_slice(&sum.to_ne_bytes());
    }
}

fn exercise(e: &Engine) {
    let names = [
        "api.kadath.io",
        "a.b.kadath.io",
        "kadath.io",
        "x.leng.com",
        "api-eu.celephais.io",
        "abc.regex.test",
        "203.0.113.9",
        "2001:db8::1",
        "xgoogle.com",
        "com",
        "a.very.long.name.with.many.labels.that.goes.on.past.sixty.four.bytes.example.org",
    ];
    for (p, _) in e.policies() {
        for name in names {
            for (port, via) in [
                (None, None),
                (Some(443), Some(Via::Tls)),
                (Some(85), Some(Via::Http)),
            ] {
                let q = Query {
                    port,
                    via,
                    ..Query::new(name)
                };
                let v = e.check(p, &q);
                if let Some(r) = v.rule {
                    let _ = (r.id().to_string(), r.line(), r.index());
                }
                let _ = e.explain(p, &q);
            }
        }
        for i in 0..e.rule_count(p).min(64) {
            let _ = e.rule(p, i);
        }
        let _ = e.policy_settings(p);
    }
    let _ = e.heap_size();
    let _ = e.to_bytes();
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = match mode {
        0 => rest.to_vec(),
        1 | 2 => {
            let mut b = valid().to_vec();
            let (cut, edits) = if mode == 2 && rest.len() >= 2 {
                (
                    Some(usize::from(u16::from_le_bytes([rest[0], rest[1]]))),
                    &rest[2..],
                )
            } else {
                (None, rest)
            };
            for e in edits.chunks_exact(3) {
                let at = usize::from(u16::from_le_bytes([e[0], e[1]])) % b.len();
                b[at] ^= e[2];
            }
            reseal(&mut b);
            if let Some(cut) = cut {
                b.truncate(cut % (b.len() + 1));
            }
            b
        }
        _ => {
            let mut b = valid().to_vec();
            let at = usize::from(mode) * 8 % b.len();
            let n = rest.len().min(b.len() - at);
            b[at..at + n].copy_from_slice(&rest[..n]);
            reseal(&mut b);
            b
        }
    };
    // Copied, and in place (shared bytes), must agree on whether the file opens.
    let copied = Engine::from_bytes(&bytes);
    let shared: SharedBytes = Arc::new(bytes.clone());
    let in_place = Engine::from_shared(&shared);
    match (&copied, &in_place) {
        (Ok(a), Ok(b)) => {
            exercise(a);
            exercise(b);
            assert_eq!(a.to_bytes(), b.to_bytes(), "the two openings differ");
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "the two openings fail differently");
            assert!(!a.to_string().is_empty());
        }
        _ => panic!(
            "one opening failed, the other did not: {:?} {:?}",
            copied.is_ok(),
            in_place.is_ok()
        ),
    }
});
