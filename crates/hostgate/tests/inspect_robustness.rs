//! Robustness on arbitrary and mutated bytes: no parser panics, a complete result always
//! carries a normalized name, and a decision never changes when more bytes arrive (the parsers
//! are stateless, so a proxy may act on the first definitive answer).

mod inspect_common;

use hostgate::inspect::{dns, http, inspect, tls, Inspection, Limits, Status};
use proptest::prelude::*;

/// The parts of an inspection that must not change once decided.
fn decision(i: &Inspection<'_>) -> (Status, Option<String>, Option<u16>, String) {
    (
        i.status,
        i.name.map(|n| n.to_string()),
        i.port,
        i.error.map(|e| e.to_string()).unwrap_or_default(),
    )
}

fn check_all(buf: &[u8]) {
    let l = Limits::default();
    let i = inspect(buf);
    assert_eq!(i.name.is_some(), i.status == Status::Complete, "{i:?}");
    if let Some(n) = i.name {
        assert_eq!(
            hostgate::normalize(n.as_str()),
            Ok(n),
            "a name that does not re-normalize"
        );
    }
    let _ = tls::parse_client_hello(buf, &l);
    let _ = http::parse_request_head(buf, &l);
    let _ = dns::parse_query(buf, dns::Transport::Udp);
    let _ = dns::parse_query(buf, dns::Transport::Tcp);
    let _ = i.to_json();
}

/// Every prefix: once definitive, the answer for the whole buffer is the same.
fn check_monotonic(buf: &[u8]) {
    let full = decision(&inspect(buf));
    for cut in 0..buf.len() {
        let d = decision(&inspect(&buf[..cut]));
        if d.0 != Status::NeedMore {
            assert_eq!(d, full, "decided at {cut} bytes, then changed");
            return;
        }
    }
}

fn mutated_fixture() -> impl Strategy<Value = Vec<u8>> {
    let fixtures: Vec<Vec<u8>> = inspect_common::fixtures()
        .into_iter()
        .filter(|f| !f.is_udp())
        .map(|f| f.bytes)
        .collect();
    (
        prop::sample::select(fixtures),
        prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        any::<Option<usize>>(),
    )
        .prop_map(|(mut b, flips, cut)| {
            for (at, v) in flips {
                let n = b.len();
                b[at % n] = v;
            }
            if let Some(c) = cut {
                b.truncate(c % (b.len() + 1));
            }
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(buf in prop::collection::vec(any::<u8>(), 0..300)) {
        check_all(&buf);
        check_monotonic(&buf);
    }

    #[test]
    fn protocol_shaped_bytes_never_panic(
        start in prop::sample::select(vec![&b"\x16\x03\x01"[..], b"GET ", b"CONNECT ", b"\x00\x30", b"\x80\x2e\x01\x03\x01"]),
        rest in prop::collection::vec(prop_oneof![any::<u8>(), Just(b'\r'), Just(b'\n'), Just(b':'), Just(b' ')], 0..200),
    ) {
        let mut buf = start.to_vec();
        buf.extend(rest);
        check_all(&buf);
        check_monotonic(&buf);
    }

    #[test]
    fn mutated_fixtures_never_panic_and_decide_once(buf in mutated_fixture()) {
        check_all(&buf);
        check_monotonic(&buf);
    }
}
