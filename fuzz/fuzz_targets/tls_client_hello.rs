//! The TLS ClientHello parser on arbitrary bytes: no panic, a name only when complete and
//! always normalized, decisions stable as bytes arrive, need-more bounds never too high, and a
//! smaller size cap only ever turns an answer into `TooLarge`.
#![no_main]

use hostgate::inspect::{tls, Limits, Outcome};
use hostgate_fuzz::{check_incremental, check_name, decided, split_points};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let out = tls::parse_client_hello(data, &limits);
    match &out {
        Outcome::Complete(h) => {
            let name = h.server_name.expect("complete without a server name");
            check_name("tls sni", &name);
            assert!(h.records >= 1 && h.len <= data.len() && h.len >= 5 * h.records);
            // Every ALPN entry is non-empty (an empty one is refused).
            for p in h.alpn.iter() {
                assert!(!p.as_bytes().is_empty(), "empty ALPN protocol accepted");
            }
        }
        Outcome::NoName(Some(h)) => {
            assert!(h.server_name.is_none(), "no-name with a server name");
            assert!(h.records >= 1 && h.len <= data.len());
        }
        Outcome::NoName(None) => {
            assert!(
                data.first().is_some_and(|b| b & 0x80 != 0),
                "no-name without details is only for an SSLv2-compatible hello"
            );
        }
        Outcome::NeedMore { at_least } => {
            assert!(at_least.is_none_or(|n| n > 0), "need-more asks for 0 bytes");
        }
        Outcome::Malformed(_) | Outcome::NotThisProtocol => {}
    }
    assert_eq!(out.name().is_some(), matches!(out, Outcome::Complete(_)));

    // Stable decisions and sound need-more bounds (the SSLv2 form has no length to check).
    check_incremental(
        "tls",
        data,
        &split_points(data),
        |b| tls::parse_client_hello(b, &limits),
        |h| Some(h.len),
    );

    // A tighter cap, taken from the input: the same answer, or TooLarge.
    let cap = data.len().saturating_sub(data.len() / 3).max(4);
    let tight = Limits {
        tls_hello: cap,
        ..limits
    };
    let capped = tls::parse_client_hello(data, &tight);
    if decided(&capped) != decided(&out) {
        let ok = matches!(capped, Outcome::Malformed(tls::Malformed::TooLarge))
            || (matches!(capped, Outcome::NeedMore { .. })
                && matches!(out, Outcome::NeedMore { .. }));
        assert!(ok, "cap {cap}: {capped:?}, default cap: {out:?}");
    }
});
