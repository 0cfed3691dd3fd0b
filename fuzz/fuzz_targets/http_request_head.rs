//! The HTTP/1 request-head parser on arbitrary bytes: no panic, a name only when complete and
//! always normalized, decisions stable as bytes arrive, and a smaller head cap only ever turns
//! an answer into `TooLarge`.
#![no_main]

use hostgate::inspect::{http, Limits, Outcome};
use hostgate_fuzz::{check_incremental, check_name, decided, split_points};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let out = http::parse_request_head(data, &limits);
    match &out {
        Outcome::Complete(h) => {
            let name = h.name.expect("complete without a name");
            check_name("http name", &name);
            assert!(h.len <= data.len() && data[..h.len].ends_with(b"\r\n\r\n"));
            assert!(h.source.is_some(), "complete without a source");
            assert!(!h.method.is_empty() && data.starts_with(h.method));
            if h.method == b"CONNECT" {
                assert!(h.port.is_some(), "CONNECT without a port");
            }
        }
        Outcome::NoName(Some(h)) => {
            assert!(h.name.is_none(), "no-name with a name");
            assert!(h.len <= data.len() && data[..h.len].ends_with(b"\r\n\r\n"));
        }
        Outcome::NoName(None) => panic!("http never gives no-name without details"),
        Outcome::NeedMore { .. } => {
            assert!(data.len() < limits.http_head, "need-more past the head cap");
        }
        Outcome::NotThisProtocol => {
            assert!(!data.is_empty(), "an empty buffer is need-more");
        }
        Outcome::Malformed(_) => {}
    }
    assert_eq!(out.name().is_some(), matches!(out, Outcome::Complete(_)));

    check_incremental(
        "http",
        data,
        &split_points(data),
        |b| http::parse_request_head(b, &limits),
        |h| Some(h.len),
    );

    // A tighter cap, taken from the input: the same answer, or TooLarge (need-more on both
    // sides is the same answer too).
    let cap = usize::from(data.first().copied().unwrap_or(0)) * 4 + data.len() / 2;
    let tight = Limits {
        http_head: cap,
        ..limits
    };
    let capped = http::parse_request_head(data, &tight);
    if decided(&capped) != decided(&out) {
        let ok = matches!(capped, Outcome::Malformed(http::Malformed::TooLarge));
        assert!(ok, "cap {cap}: {capped:?}, default cap: {out:?}");
    }
});
