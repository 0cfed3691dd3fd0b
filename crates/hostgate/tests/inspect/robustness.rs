//! Robustness on arbitrary and mutated bytes: no parser panics, a complete result always
//! carries a normalized name, and a decision never changes when more bytes arrive (the parsers
//! are stateless, so a proxy may act on the first definitive answer).

use hostgate::inspect::{dns, http, inspect, tls, Inspection, Limits, Outcome, Protocol, Status};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

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
    let fixtures: Vec<Vec<u8>> = crate::common::fixtures()
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
    #![proptest_config(ProptestConfig {
        cases: 1500,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

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

/// The outcome of a prefix is either need-more or the full buffer's own outcome: a decision
/// never changes as more bytes arrive (the incremental contract of `hostgate::inspect`).
fn assert_prefixes_consistent(buf: &[u8]) {
    let limits = Limits::default();
    let full = format!("{:?}", tls::parse_client_hello(buf, &limits));
    for k in 0..buf.len() {
        let p = tls::parse_client_hello(&buf[..k], &limits);
        if !matches!(p, Outcome::NeedMore { .. }) {
            assert_eq!(format!("{p:?}"), full, "prefix of {k} bytes of {buf:02x?}");
        }
    }
}

/// A decision never changes as bytes arrive on the SSLv2-compatible path either (first byte with
/// the high bit set): nothing is judged from the 2-byte length before the message type and
/// version bytes are there, so two bytes are not refused as malformed TLS when the full buffer is
/// not TLS at all.
#[test]
fn sslv2_length_is_not_judged_before_the_signature_bytes() {
    // 0x6816 = 26646 bytes > the 16 KiB cap (TooLarge if judged from 2 bytes); byte 2 is not 1
    // (CLIENT-HELLO).
    assert_prefixes_consistent(&[0xe8, 0x16, 0x30, 0x03, 0x01]);
    // Length 0 (BadSslV2 if judged from 2 bytes); byte 2 is not 1.
    assert_prefixes_consistent(&[0x80, 0x00, 0x30, 0x03, 0x01]);
    // Bytes 2 and 3 pass (CLIENT-HELLO, major 0; TooLarge if judged from 4 bytes); byte 4 is not 2.
    assert_prefixes_consistent(&[0xe8, 0x03, 0x01, 0x00, 0xd1]);

    // Not TLS: handed on to DNS-over-TCP detection (a 0xe816-byte message, header not there yet).
    let full = inspect(&[0xe8, 0x16, 0x30, 0x03, 0x01]);
    assert_eq!(
        (full.protocol, full.status),
        (Protocol::Unknown, Status::NeedMore)
    );
    let two = inspect(&[0xe8, 0x16]);
    assert_ne!(
        two.status,
        Status::Malformed,
        "two bytes are refused as malformed TLS, the full buffer is not TLS at all: {two:?}"
    );
}
