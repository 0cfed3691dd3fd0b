//! Regression tests for inputs found by the fuzz targets in `fuzz/` (see `fuzz/README.md`).
//! Each test keeps the minimized input inline, says which target found it and what property
//! broke.

use hostgate::inspect::{inspect, tls, Limits, Outcome, Protocol, Status};

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

/// Found by `tls_client_hello` and `inspect` (incremental consistency). A first byte with the
/// high bit set takes the SSLv2-compatible path, which decided `TooLarge` (or `BadSslV2`) from
/// the 2-byte length alone; one byte later the message-type check says not-this-protocol. In
/// `inspect` the same two bytes gave TLS/malformed while the full buffer is unrecognized (or DNS
/// over TCP with a length ≥ 0x8000).
/// Fixed in the parser (af9db4d: nothing is decided before the 5-byte signature).
#[test]
fn sslv2_length_is_not_judged_before_the_signature_bytes() {
    // 0x6816 = 26646 bytes > the 16 KiB cap: TooLarge from 2 bytes; byte 2 is not 1 (CLIENT-HELLO).
    assert_prefixes_consistent(&[0xe8, 0x16, 0x30, 0x03, 0x01]);
    // Length 0: BadSslV2 from 2 bytes; byte 2 is not 1.
    assert_prefixes_consistent(&[0x80, 0x00, 0x30, 0x03, 0x01]);
    // Bytes 2 and 3 pass (CLIENT-HELLO, major 0), TooLarge from 4 bytes; byte 4 is not 2.
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

/// Found by `ffi` (through `hostgate_check_batch`, where the C boundary turned it into
/// `HOSTGATE_RESULT_PANIC`; from Rust it is a panic in `normalize`, so in `Engine::check` and
/// `inspect`). A non-ASCII name whose A-label form does not fit the 253-byte name buffer: the
/// fixed-size sink refuses a write while idna 1.1 is punycode-encoding a label, and idna turns
/// that sink error into `unreachable!("Punycode overflows should not be possible ...")`
/// (uts46.rs, `From<PunycodeEncodeError> for ProcessingError`). A too-long name must be
/// `InvalidName`, never a panic. Fixed in 4a9aeb7 (the sink records the overflow and never
/// fails a write).
#[test]
fn idna_output_past_the_name_buffer_is_invalid_not_a_panic() {
    for prefix in [240usize, 244, 246, 250] {
        let name = format!("{}.b\u{fc}cher", "a".repeat(prefix));
        let r = std::panic::catch_unwind(|| hostgate::normalize(&name));
        assert!(
            matches!(r, Ok(Err(_))),
            "normalize of a {}-byte IDNA name: {r:?}",
            name.len()
        );
        let e = hostgate::Engine::compile("allow *\n").unwrap();
        let p = e.policy("default").unwrap();
        let v = std::panic::catch_unwind(|| e.check(p, &hostgate::Query::new(&name)).reason);
        assert_eq!(v.ok(), Some(hostgate::Reason::InvalidName));
    }
}

/// Found by `dns_question` (its oracle: a parser's name normalizes to itself). A DNS question
/// for `0Xe`: the ASCII fast path of `normalize` asked whether the last label is numeric before
/// lowercasing, and `0X` is not `0x`, so `0Xe` passed as a host name and came out as `0xe`,
/// which is a hex number (ambiguous: refused). Fixed in `is_numeric_label` (either case of
/// `0x`); the same input went wrong through `Engine::check`, `normalize` and every parser.
#[test]
fn uppercase_hex_last_label_is_ambiguous_everywhere() {
    use hostgate::inspect::dns::{parse_query, Malformed, Transport};
    use hostgate::InvalidName;
    for name in ["0Xe", "a.0XFF", "www.example.0Xab"] {
        assert_eq!(
            hostgate::normalize(name).unwrap_err(),
            InvalidName::AmbiguousNumeric,
            "{name}"
        );
        let e = hostgate::Engine::compile("allow *\n").unwrap();
        let p = e.policy("default").unwrap();
        assert_eq!(
            e.check(p, &hostgate::Query::new(name)).reason,
            hostgate::Reason::InvalidName,
            "{name}"
        );
    }
    // A standard query (id 0x1234, RD) for `0Xe`, type A, class IN.
    let q = [
        0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'0', b'X', b'e', 0, 0, 1, 0, 1,
    ];
    match parse_query(&q, Transport::Udp) {
        Outcome::Malformed(Malformed::InvalidName(InvalidName::AmbiguousNumeric)) => {}
        other => panic!("DNS query for 0Xe: {other:?}"),
    }
}
