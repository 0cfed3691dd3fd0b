//! One test per refusal and rule of `docs/inspect.md` ("What is refused" and the rules before it),
//! each on a hand-built byte string.
//! The builders here write the wire formats directly (RFC 8446 / RFC 1035 layouts), apart from
//! the library's own test helpers.

use hostgate::inspect::{
    check_fronting, dns, http, inspect, inspect_with, tls, Disagreement, Expect, Limits, Outcome,
    Protocol, Status,
};
use hostgate::{normalize, InvalidName, NameKind, Via};

// ---- TLS builders -------------------------------------------------------------------------

fn be(n: usize, width: usize) -> Vec<u8> {
    n.to_be_bytes()[8 - width..].to_vec()
}

fn vec_n(width: usize, body: &[u8]) -> Vec<u8> {
    let mut v = be(body.len(), width);
    v.extend_from_slice(body);
    v
}

fn ext(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut v = ty.to_be_bytes().to_vec();
    v.extend(vec_n(2, data));
    v
}

/// server_name with the given (type, name) entries.
fn sni_entries(entries: &[(u8, &[u8])]) -> Vec<u8> {
    let mut list = Vec::new();
    for (t, name) in entries {
        list.push(*t);
        list.extend(vec_n(2, name));
    }
    ext(0, &vec_n(2, &list))
}

fn sni(name: &[u8]) -> Vec<u8> {
    sni_entries(&[(0, name)])
}

fn alpn(protocols: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for p in protocols {
        list.extend(vec_n(1, p));
    }
    ext(16, &vec_n(2, &list))
}

/// The parts of a ClientHello body, each editable.
struct Body {
    session_id: Vec<u8>,
    suites: Vec<u8>,
    compression: Vec<u8>,
    /// Raw bytes of the extensions block (with its length); `None` = no block.
    extensions: Option<Vec<u8>>,
}

impl Body {
    fn with_exts(exts: &[Vec<u8>]) -> Body {
        Body {
            session_id: vec![7; 32],
            suites: vec![0x13, 0x01, 0xc0, 0x2f],
            compression: vec![0],
            extensions: Some(vec_n(2, &exts.concat())),
        }
    }
    fn handshake(&self) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend([0x42; 32]);
        b.extend(vec_n(1, &self.session_id));
        b.extend(vec_n(2, &self.suites));
        b.extend(vec_n(1, &self.compression));
        if let Some(e) = &self.extensions {
            b.extend_from_slice(e);
        }
        let mut m = vec![1];
        m.extend(vec_n(3, &b));
        m
    }
    fn record(&self) -> Vec<u8> {
        records(&self.handshake(), 1 << 14)
    }
}

fn record(typ: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![typ, 3, 1];
    r.extend(vec_n(2, payload));
    r
}

fn records(hs: &[u8], frag: usize) -> Vec<u8> {
    hs.chunks(frag).flat_map(|c| record(0x16, c)).collect()
}

fn hello(exts: &[Vec<u8>]) -> Vec<u8> {
    Body::with_exts(exts).record()
}

fn parse(buf: &[u8]) -> Outcome<tls::ClientHello<'_>, tls::Malformed> {
    tls::parse_client_hello(buf, &Limits::default())
}

fn tls_err(buf: &[u8]) -> tls::Malformed {
    match parse(buf) {
        Outcome::Malformed(e) => e,
        other => panic!("expected malformed, got {other:?}"),
    }
}

fn tls_name(buf: &[u8]) -> String {
    match parse(buf) {
        Outcome::Complete(h) => h.server_name.unwrap().to_string(),
        other => panic!("expected a name, got {other:?}"),
    }
}

fn is_need_more<T, E>(o: &Outcome<T, E>) -> bool {
    matches!(o, Outcome::NeedMore { .. })
}

// ---- TLS rows -----------------------------------------------------------------------------

#[test]
fn tls_fewer_than_5_bytes_or_incomplete_record_is_need_more() {
    let h = hello(&[sni(b"a.example")]);
    for cut in 0..5 {
        assert!(is_need_more(&parse(&h[..cut])), "{cut}");
    }
    assert!(matches!(parse(&h[..5]), Outcome::NeedMore { at_least: Some(n) } if n == h.len() - 5));
    assert!(is_need_more(&parse(&h[..h.len() - 1])));
}

#[test]
fn tls_hello_split_across_records_is_reassembled() {
    let hs = Body::with_exts(&[sni(b"split.example"), alpn(&[b"h2", b"http/1.1"])]).handshake();
    for frag in [1, 2, 3, 7, 50, 100] {
        let buf = records(&hs, frag);
        match parse(&buf) {
            Outcome::Complete(h) => {
                assert_eq!(h.server_name.unwrap().as_str(), "split.example");
                assert_eq!(h.records, hs.len().div_ceil(frag));
                let alpn: Vec<String> = h.alpn.iter().map(|p| p.to_string()).collect();
                assert_eq!(alpn, ["h2", "http/1.1"], "frag {frag}");
            }
            other => panic!("frag {frag}: {other:?}"),
        }
        for cut in 0..buf.len() {
            assert!(is_need_more(&parse(&buf[..cut])), "frag {frag} cut {cut}");
        }
    }
}

#[test]
fn tls_record_split_across_tcp_segments_is_need_more() {
    // A ~2 KB hello (Chromium's post-quantum key share) arriving in 1460-byte segments.
    let h = hello(&[
        sni(b"pq.example"),
        ext(
            51,
            &vec_n(2, &[&[0x11, 0xec][..], &vec_n(2, &[9; 1700])].concat()),
        ),
    ]);
    assert!(h.len() > 1460);
    assert!(is_need_more(&parse(&h[..1460])));
    assert_eq!(tls_name(&h), "pq.example");
}

#[test]
fn tls_record_longer_than_2_14_is_rejected() {
    let mut h = hello(&[sni(b"a.example")]);
    h[3..5].copy_from_slice(&((1u16 << 14) + 1).to_be_bytes());
    assert_eq!(tls_err(&h[..5]), tls::Malformed::RecordTooLong);
}

#[test]
fn tls_zero_length_handshake_record_is_rejected() {
    assert_eq!(tls_err(&[0x16, 3, 1, 0, 0]), tls::Malformed::EmptyRecord);
    // Also between fragments.
    let hs = Body::with_exts(&[sni(b"a.example")]).handshake();
    let mut buf = record(0x16, &hs[..10]);
    buf.extend(record(0x16, &[]));
    assert_eq!(tls_err(&buf), tls::Malformed::EmptyRecord);
}

#[test]
fn tls_other_record_type_between_fragments_is_rejected() {
    let hs = Body::with_exts(&[sni(b"a.example")]).handshake();
    for typ in [0x14, 0x15, 0x17] {
        let mut buf = record(0x16, &hs[..10]);
        buf.extend(record(typ, &hs[10..]));
        assert_eq!(tls_err(&buf), tls::Malformed::UnexpectedRecord(typ));
        // Known from the type byte alone.
        assert_eq!(tls_err(&buf[..16]), tls::Malformed::UnexpectedRecord(typ));
    }
}

#[test]
fn tls_hello_larger_than_the_cap_is_rejected_early() {
    let h = hello(&[sni(b"a.example")]);
    let size = h.len() - 5; // the handshake message
    let at = |cap| Limits {
        tls_hello: cap,
        ..Limits::default()
    };
    assert!(matches!(
        tls::parse_client_hello(&h, &at(size)),
        Outcome::Complete(_)
    ));
    assert!(matches!(
        tls::parse_client_hello(&h, &at(size - 1)),
        Outcome::Malformed(tls::Malformed::TooLarge)
    ));
    // Decided from the handshake header alone: no waiting for bytes that will be refused.
    assert!(matches!(
        tls::parse_client_hello(&h[..9], &at(size - 1)),
        Outcome::Malformed(tls::Malformed::TooLarge)
    ));
    // The default cap: 16 KiB across records.
    let big = Body::with_exts(&[sni(b"a.example"), ext(21, &vec![0; 16 * 1024])]).handshake();
    assert_eq!(tls_err(&records(&big, 1 << 14)), tls::Malformed::TooLarge);
}

#[test]
fn tls_sslv2_compatible_hello_is_no_name() {
    // SSLv2 CLIENT-HELLO: 2-byte header, type 1, version 3.1, 3 cipher specs, no session id,
    // 16-byte challenge.
    let mut msg = vec![1, 3, 1, 0, 9, 0, 0, 0, 16];
    msg.extend([0, 0, 0x2f, 0, 0, 0x35, 0, 0, 0x0a]);
    msg.extend([0xab; 16]);
    let mut buf = vec![0x80 | (msg.len() >> 8) as u8, msg.len() as u8];
    buf.extend(&msg);
    assert!(matches!(parse(&buf), Outcome::NoName(None)));
    let i = inspect(&buf);
    assert_eq!(
        (i.protocol, i.status, i.name),
        (Protocol::Tls, Status::NoName, None)
    );
    for cut in 0..buf.len() {
        assert!(is_need_more(&parse(&buf[..cut])), "{cut}");
    }
    // Lengths that do not add up.
    let mut bad = buf.clone();
    bad[6] = 10;
    assert_eq!(tls_err(&bad), tls::Malformed::BadSslV2);
}

#[test]
fn tls_session_id_over_32_is_rejected() {
    let mut b = Body::with_exts(&[sni(b"a.example")]);
    b.session_id = vec![1; 33];
    assert_eq!(tls_err(&b.record()), tls::Malformed::SessionIdTooLong);
}

#[test]
fn tls_odd_or_empty_cipher_list_is_rejected() {
    for suites in [vec![], vec![0x13, 0x01, 0x13]] {
        let mut b = Body::with_exts(&[sni(b"a.example")]);
        b.suites = suites;
        assert_eq!(tls_err(&b.record()), tls::Malformed::BadCipherSuites);
    }
}

#[test]
fn tls_empty_compression_list_is_rejected() {
    let mut b = Body::with_exts(&[sni(b"a.example")]);
    b.compression = vec![];
    assert_eq!(tls_err(&b.record()), tls::Malformed::EmptyCompression);
}

#[test]
fn tls_extensions_length_overrun_is_rejected() {
    let mut b = Body::with_exts(&[sni(b"a.example")]);
    let e = b.extensions.as_mut().unwrap();
    let n = u16::from_be_bytes([e[0], e[1]]) + 1;
    e[..2].copy_from_slice(&n.to_be_bytes());
    assert_eq!(tls_err(&b.record()), tls::Malformed::ExtensionsLength);
    // An extension whose own length over-runs the block.
    let mut bad = sni(b"a.example");
    bad[3] += 1;
    assert_eq!(tls_err(&hello(&[bad])), tls::Malformed::ExtensionsLength);
}

#[test]
fn tls_junk_after_last_extension_is_rejected() {
    let mut b = Body::with_exts(&[sni(b"a.example")]);
    b.extensions.as_mut().unwrap().extend([0, 0]);
    assert_eq!(tls_err(&b.record()), tls::Malformed::ExtensionsLength);
    // Junk inside the block that is not a whole extension.
    assert_eq!(
        tls_err(&hello(&[sni(b"a.example"), vec![0]])),
        tls::Malformed::ExtensionsLength
    );
}

#[test]
fn tls_same_extension_twice_is_rejected() {
    assert_eq!(
        tls_err(&hello(&[
            sni(b"a.example"),
            alpn(&[b"h2"]),
            sni(b"b.example")
        ])),
        tls::Malformed::DuplicateExtension(0)
    );
    assert_eq!(
        tls_err(&hello(&[
            sni(b"a.example"),
            ext(0x1a1a, &[]),
            ext(0x1a1a, &[])
        ])),
        tls::Malformed::DuplicateExtension(0x1a1a)
    );
}

#[test]
fn tls_two_host_name_entries_are_rejected() {
    let h = hello(&[sni_entries(&[(0, b"a.example"), (0, b"b.example")])]);
    assert_eq!(tls_err(&h), tls::Malformed::DuplicateServerName);
}

#[test]
fn tls_empty_sni_list_is_rejected() {
    assert_eq!(
        tls_err(&hello(&[ext(0, &[0, 0])])),
        tls::Malformed::EmptyServerNameList
    );
}

#[test]
fn tls_zero_length_server_name_is_rejected() {
    assert_eq!(
        tls_err(&hello(&[sni(b"")])),
        tls::Malformed::EmptyServerName
    );
}

#[test]
fn tls_non_zero_name_type_is_skipped() {
    let only_other = hello(&[sni_entries(&[(1, b"other")])]);
    assert!(matches!(parse(&only_other), Outcome::NoName(Some(_))));
    let both = hello(&[sni_entries(&[(7, b"x"), (0, b"real.example")])]);
    assert_eq!(tls_name(&both), "real.example");
}

#[test]
fn tls_bad_server_name_bytes_are_rejected() {
    let long = vec!["a".repeat(63); 4].join(".");
    let cases: [(&[u8], InvalidName); 6] = [
        (long.as_bytes(), InvalidName::TooLong),
        (b"a\0.example", InvalidName::BadCharacter),
        (b"a\x01.example", InvalidName::BadCharacter),
        (b"a\x7f.example", InvalidName::BadCharacter),
        ("bücher.example".as_bytes(), InvalidName::BadCharacter),
        (b"a b.example", InvalidName::BadCharacter),
    ];
    for (name, why) in cases {
        let e = tls_err(&hello(&[sni(name)]));
        assert_eq!(e, tls::Malformed::InvalidServerName(why), "{name:?}");
        assert_eq!(
            inspect(&hello(&[sni(name)])).error.unwrap().invalid_name(),
            Some(why)
        );
    }
    // 253 bytes is the longest valid name.
    let max = format!("{}.{}", vec!["a".repeat(63); 3].join("."), "a".repeat(61));
    assert_eq!(tls_name(&hello(&[sni(max.as_bytes())])), max);
}

#[test]
fn tls_uppercase_is_lowercased() {
    assert_eq!(tls_name(&hello(&[sni(b"Example.COM")])), "example.com");
}

#[test]
fn tls_trailing_dot_is_stripped_once() {
    assert_eq!(tls_name(&hello(&[sni(b"a.example.")])), "a.example");
    assert_eq!(
        tls_err(&hello(&[sni(b"a.example..")])),
        tls::Malformed::InvalidServerName(InvalidName::EmptyLabel)
    );
}

#[test]
fn tls_ip_literal_is_typed_as_ip() {
    let buf = hello(&[sni(b"192.0.2.1")]);
    let Outcome::Complete(h) = parse(&buf) else {
        panic!()
    };
    assert_eq!(
        h.server_name.unwrap().kind(),
        NameKind::Ip("192.0.2.1".parse().unwrap())
    );
    let buf = hello(&[sni(b"2001:db8::1")]);
    let Outcome::Complete(h) = parse(&buf) else {
        panic!()
    };
    assert_eq!(
        h.server_name.unwrap().kind(),
        NameKind::Ip("2001:db8::1".parse().unwrap())
    );
    assert_eq!(
        tls_err(&hello(&[sni(b"1.2.3")])),
        tls::Malformed::InvalidServerName(InvalidName::AmbiguousNumeric)
    );
}

#[test]
fn tls_grease_extensions_and_values_are_ignored() {
    let versions = ext(43, &vec_n(1, &[0x7a, 0x7a, 0x03, 0x04, 0x03, 0x03]));
    let groups = ext(10, &vec_n(2, &[0xaa, 0xaa, 0x00, 0x1d]));
    let h = hello(&[
        ext(0x0a0a, &[]),
        sni(b"a.example"),
        versions,
        groups,
        ext(0xfafa, &[0]),
    ]);
    let Outcome::Complete(h) = parse(&h) else {
        panic!()
    };
    assert_eq!(h.max_version, 0x0304);
    assert_eq!(h.server_name.unwrap().as_str(), "a.example");
}

#[test]
fn tls_ech_sets_the_flag_with_the_outer_name() {
    let ech = ext(0xfe0d, &[0, 0, 1, 0, 1, 0x2a, 0, 2, 9, 9, 0, 3, 1, 2, 3]);
    let buf = hello(&[sni(b"public.example"), ech]);
    let Outcome::Complete(h) = parse(&buf) else {
        panic!()
    };
    assert!(h.ech);
    assert_eq!(h.server_name.unwrap().as_str(), "public.example");
    assert!(inspect(&hello(&[sni(b"public.example"), ext(0xfe0d, &[0])])).ech);
}

#[test]
fn tls_alpn_list_is_extracted() {
    let buf = hello(&[sni(b"a.example"), alpn(&[b"h2", b"http/1.1"])]);
    let Outcome::Complete(h) = parse(&buf) else {
        panic!()
    };
    let got: Vec<&[u8]> = h
        .alpn
        .iter()
        .map(|p| match p.as_bytes() {
            b"h2" => &b"h2"[..],
            b"http/1.1" => &b"http/1.1"[..],
            _ => panic!(),
        })
        .collect();
    assert_eq!(got, [&b"h2"[..], &b"http/1.1"[..]]);
}

#[test]
fn tls_empty_alpn_list_or_name_is_rejected() {
    assert_eq!(
        tls_err(&hello(&[sni(b"a.example"), ext(16, &[0, 0])])),
        tls::Malformed::EmptyAlpnList
    );
    assert_eq!(
        tls_err(&hello(&[sni(b"a.example"), alpn(&[b"h2", b""])])),
        tls::Malformed::EmptyAlpnProtocol
    );
}

#[test]
fn tls_not_tls_is_not_this_protocol() {
    for buf in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"\x00\x1d\x12\x34",
        b"\x16\x02\x00",
        b"\x17\x03\x03",
    ] {
        assert!(matches!(parse(buf), Outcome::NotThisProtocol), "{buf:?}");
    }
}

#[test]
fn tls_bytes_after_the_hello_in_its_record_are_rejected() {
    let hs = Body::with_exts(&[sni(b"a.example")]).handshake();
    let mut payload = hs.clone();
    payload.extend([0x14, 0, 0, 0]);
    assert_eq!(
        tls_err(&record(0x16, &payload)),
        tls::Malformed::TrailingData
    );
    // A following record is not part of the hello and is left alone.
    let mut buf = record(0x16, &hs);
    buf.extend(record(0x14, &[1]));
    assert_eq!(tls_name(&buf), "a.example");
}

#[test]
fn tls_first_message_must_be_a_client_hello() {
    let mut hs = Body::with_exts(&[sni(b"a.example")]).handshake();
    hs[0] = 2;
    assert_eq!(
        tls_err(&record(0x16, &hs)),
        tls::Malformed::NotClientHello(2)
    );
}

#[test]
fn tls_pre_shared_key_must_be_last() {
    let psk = ext(
        41,
        &[
            vec_n(2, &[vec_n(2, b"ticket"), vec![0, 0, 0, 1]].concat()),
            vec_n(2, &vec_n(1, &[5; 32])),
        ]
        .concat(),
    );
    assert_eq!(
        tls_name(&hello(&[sni(b"a.example"), psk.clone()])),
        "a.example"
    );
    assert_eq!(
        tls_err(&hello(&[psk, sni(b"a.example")])),
        tls::Malformed::PskNotLast
    );
}

#[test]
fn tls_known_extensions_follow_their_grammar() {
    // As Go checks them: empty supported_groups, odd signature_algorithms, empty key share.
    for (ty, data) in [
        (10u16, vec![0, 0]),
        (13, vec![0, 3, 4, 3, 5]),
        (51, vec![0, 4, 0, 0x1d, 0, 0]),
        (23, vec![1]),
    ] {
        assert_eq!(
            tls_err(&hello(&[sni(b"a.example"), ext(ty, &data)])),
            tls::Malformed::BadExtension(ty)
        );
    }
}

#[test]
fn tls_hello_without_sni_or_extensions_is_no_name() {
    let mut b = Body::with_exts(&[]);
    b.extensions = None;
    assert!(matches!(parse(&b.record()), Outcome::NoName(Some(_))));
    assert!(
        matches!(parse(&hello(&[alpn(&[b"h2"])])), Outcome::NoName(Some(h)) if h.alpn.len() == 1)
    );
}

// ---- HTTP rows ----------------------------------------------------------------------------

fn req(buf: &[u8]) -> Outcome<http::RequestHead<'_>, http::Malformed> {
    http::parse_request_head(buf, &Limits::default())
}

fn http_err(buf: &[u8]) -> http::Malformed {
    match req(buf) {
        Outcome::Malformed(e) => e,
        other => panic!("expected malformed, got {other:?}"),
    }
}

fn http_ok(buf: &[u8]) -> http::RequestHead<'_> {
    match req(buf) {
        Outcome::Complete(h) => h,
        other => panic!("expected complete, got {other:?}"),
    }
}

#[test]
fn http_no_blank_line_is_need_more_up_to_the_cap_then_too_large() {
    let head = b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
    for cut in 0..head.len() {
        assert!(is_need_more(&req(&head[..cut])), "{cut}");
    }
    let at = |cap| Limits {
        http_head: cap,
        ..Limits::default()
    };
    assert!(matches!(
        http::parse_request_head(head, &at(head.len())),
        Outcome::Complete(_)
    ));
    assert!(matches!(
        http::parse_request_head(head, &at(head.len() - 1)),
        Outcome::Malformed(http::Malformed::TooLarge)
    ));
    let mut endless = b"GET / HTTP/1.1\r\nHost: a.example\r\n".to_vec();
    while endless.len() < 16 * 1024 {
        endless.extend(b"X-Pad: 0123456789abcdef\r\n");
    }
    assert_eq!(http_err(&endless), http::Malformed::TooLarge);
    assert!(is_need_more(&req(&endless[..16 * 1024 - 1])));
}

#[test]
fn http_absolute_form_names_the_target_and_host_must_agree() {
    let h = http_ok(b"GET http://Target.example/x HTTP/1.1\r\nHost: target.example\r\n\r\n");
    assert_eq!(h.name.unwrap().as_str(), "target.example");
    assert_eq!(
        (h.port, h.source),
        (Some(80), Some(http::NameSource::Target))
    );
    assert_eq!(
        http_ok(b"GET https://t.example HTTP/1.1\r\nHost: t.example:443\r\n\r\n").port,
        Some(443)
    );
    for bad in [
        &b"GET http://target.example/ HTTP/1.1\r\nHost: other.example\r\n\r\n"[..],
        b"GET http://target.example:8080/ HTTP/1.1\r\nHost: target.example\r\n\r\n",
        b"GET http://target.example/ HTTP/1.1\r\nHost: target.example:81\r\n\r\n",
    ] {
        assert_eq!(http_err(bad), http::Malformed::HostMismatch);
        assert_eq!(inspect(bad).status, Status::Malformed);
    }
    for empty_host in [
        &b"GET http://a.example/ HTTP/1.1\r\nHost:\r\n\r\n"[..],
        b"CONNECT a.example:443 HTTP/1.1\r\nHost: \r\n\r\n",
    ] {
        assert_eq!(http_err(empty_host), http::Malformed::HostMismatch);
    }
    // An empty Host with an origin-form target: well-formed, no name.
    assert!(matches!(
        req(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"),
        Outcome::NoName(Some(_))
    ));
    assert_eq!(
        inspect(b"CONNECT a.example:443 HTTP/1.1\r\n").via,
        Some(Via::Connect)
    );
    assert_eq!(
        http_err(b"GET ftp://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n"),
        http::Malformed::UnsupportedScheme
    );
}

#[test]
fn http_connect_gives_name_and_required_port() {
    let h = http_ok(b"CONNECT api.example:8443 HTTP/1.1\r\nHost: api.example:8443\r\n\r\n");
    assert_eq!(
        (h.name.unwrap().as_str(), h.port),
        ("api.example", Some(8443))
    );
    assert_eq!(
        inspect(b"CONNECT api.example:8443 HTTP/1.1\r\nHost: api.example:8443\r\n\r\n").via,
        Some(Via::Connect)
    );
    assert_eq!(
        http_err(b"CONNECT api.example HTTP/1.1\r\nHost: api.example\r\n\r\n"),
        http::Malformed::MissingPort
    );
    assert_eq!(
        http_err(b"CONNECT /x:443 HTTP/1.1\r\nHost: api.example\r\n\r\n"),
        http::Malformed::InvalidName(InvalidName::BadCharacter)
    );
    assert_eq!(
        http_err(b"CONNECT a.example:443 HTTP/1.1\r\nHost: b.example:443\r\n\r\n"),
        http::Malformed::HostMismatch
    );
}

#[test]
fn http_missing_host_in_1_1_is_rejected() {
    assert_eq!(
        http_err(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"),
        http::Malformed::MissingHost
    );
    // HTTP/1.0 may omit it: well-formed, no name.
    assert!(matches!(
        req(b"GET / HTTP/1.0\r\n\r\n"),
        Outcome::NoName(Some(_))
    ));
}

#[test]
fn http_two_host_lines_are_rejected() {
    assert_eq!(
        http_err(b"GET / HTTP/1.1\r\nHost: a.example\r\nhost: a.example\r\n\r\n"),
        http::Malformed::DuplicateHost
    );
}

#[test]
fn http_space_before_colon_is_rejected() {
    assert_eq!(
        http_err(b"GET / HTTP/1.1\r\nHost : a.example\r\n\r\n"),
        http::Malformed::SpaceBeforeColon
    );
    assert_eq!(
        http_err(b"GET / HTTP/1.1\r\nHost\t: a.example\r\n\r\n"),
        http::Malformed::SpaceBeforeColon
    );
}

#[test]
fn http_obs_fold_is_rejected() {
    assert_eq!(
        http_err(b"GET / HTTP/1.1\r\nHost: a.example\r\n b.example\r\n\r\n"),
        http::Malformed::ObsFold
    );
    assert_eq!(
        http_err(b"GET / HTTP/1.1\r\nX: y\r\n\tz\r\nHost: a\r\n\r\n"),
        http::Malformed::ObsFold
    );
    assert_eq!(
        http_err(b"GET / HTTP/1.1\r\n Host: a.example\r\n\r\n"),
        http::Malformed::ObsFold
    );
}

#[test]
fn http_nul_is_rejected() {
    assert_eq!(
        http_err(b"GET / HTTP/1.1\r\nHost: a.example\0.evil\r\n\r\n"),
        http::Malformed::Nul
    );
    assert_eq!(
        http_err(b"GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n"),
        http::Malformed::Nul
    );
    // Refused as soon as the line is complete, without waiting for the rest of the head.
    assert_eq!(
        http_err(b"GET / HTTP/1.1\r\nX: \0\r\n"),
        http::Malformed::Nul
    );
}

#[test]
fn http_bare_lf_is_rejected() {
    assert_eq!(
        http_err(b"GET / HTTP/1.1\nHost: a.example\r\n\r\n"),
        http::Malformed::BareLf
    );
    assert_eq!(
        http_err(b"GET / HTTP/1.1\r\nHost: a.example\n\r\n"),
        http::Malformed::BareLf
    );
    assert_eq!(
        http_err(b"GET / HTTP/1.1\r\nHost: a.example\r\n\n"),
        http::Malformed::BareLf
    );
    assert_eq!(
        http_err(b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"),
        http::Malformed::ControlByte
    );
}

#[test]
fn http_header_name_case_is_ignored() {
    let h = http_ok(b"GET / HTTP/1.1\r\nhOsT: Case.Example\r\n\r\n");
    assert_eq!(h.name.unwrap().as_str(), "case.example");
    assert_eq!(
        http_err(b"GET / HTTP/1.1\r\nHOST: a\r\nhost: a\r\n\r\n"),
        http::Malformed::DuplicateHost
    );
}

#[test]
fn http_host_port_v6_and_userinfo_are_parsed_strictly() {
    let h = http_ok(b"GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n");
    assert_eq!(
        (h.name.unwrap().as_str(), h.port),
        ("a.example", Some(8080))
    );
    let h = http_ok(b"GET / HTTP/1.1\r\nHost: [2001:DB8::1]:8443\r\n\r\n");
    assert_eq!(
        h.name.unwrap().kind(),
        NameKind::Ip("2001:db8::1".parse().unwrap())
    );
    assert_eq!(h.port, Some(8443));
    let h = http_ok(b"GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n");
    assert_eq!((h.name.unwrap().as_str(), h.port), ("::1", None));
    assert_eq!(
        http_err(b"GET / HTTP/1.1\r\nHost: user@a.example\r\n\r\n"),
        http::Malformed::Userinfo
    );
    assert_eq!(
        http_err(b"GET http://u:p@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n"),
        http::Malformed::Userinfo
    );
    assert_eq!(
        http_err(b"CONNECT u@a.example:443 HTTP/1.1\r\nHost: a.example\r\n\r\n"),
        http::Malformed::Userinfo
    );
    for port in [&b""[..], b"0", b"65536", b"8o", b"+80", b"123456"] {
        let mut r = b"GET / HTTP/1.1\r\nHost: a.example:".to_vec();
        r.extend(port);
        r.extend(b"\r\n\r\n");
        assert_eq!(http_err(&r), http::Malformed::BadPort, "{port:?}");
    }
    assert_eq!(
        http_err(b"GET / HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n"),
        http::Malformed::InvalidName(InvalidName::BadIpLiteral)
    );
    assert_eq!(
        http_err("GET / HTTP/1.1\r\nHost: bücher.example\r\n\r\n".as_bytes()),
        http::Malformed::InvalidName(InvalidName::BadCharacter)
    );
}

#[test]
fn http_not_http_is_not_this_protocol() {
    for buf in [
        &b"\x16\x03\x01"[..],
        b"get / HTTP/1.1\r\n",
        b"SSH-2.0-x\r\n",
        b"\r\nGET / HTTP/1.1\r\n",
    ] {
        assert!(matches!(req(buf), Outcome::NotThisProtocol), "{buf:?}");
    }
    assert_eq!(
        http_err(b"GET / HTTP/2.0\r\n\r\n"),
        http::Malformed::UnsupportedVersion
    );
}

// ---- DNS rows -----------------------------------------------------------------------------

/// Header (id 0x4242, RD), counts, then the raw question bytes.
fn dns_msg(qd: u16, question: &[u8]) -> Vec<u8> {
    let mut m = vec![0x42, 0x42, 0x01, 0x00];
    m.extend(qd.to_be_bytes());
    m.extend([0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(question);
    m
}

fn qname(labels: &[&[u8]]) -> Vec<u8> {
    let mut q = Vec::new();
    for l in labels {
        q.push(l.len() as u8);
        q.extend_from_slice(l);
    }
    q.push(0);
    q
}

fn question(labels: &[&[u8]], qtype: u16) -> Vec<u8> {
    let mut q = qname(labels);
    q.extend(qtype.to_be_bytes());
    q.extend([0, 1]);
    q
}

fn dns_err(buf: &[u8]) -> dns::Malformed {
    match dns::parse_query(buf, dns::Transport::Udp) {
        Outcome::Malformed(e) => e,
        other => panic!("expected malformed, got {other:?}"),
    }
}

#[test]
fn dns_question_name_and_type_over_udp_and_tcp() {
    let m = dns_msg(1, &question(&[b"WWW", b"example", b"com"], 28));
    let Outcome::Complete(q) = dns::parse_query(&m, dns::Transport::Udp) else {
        panic!()
    };
    assert_eq!(
        (q.name.unwrap().as_str(), q.qtype, q.id),
        ("www.example.com", 28, 0x4242)
    );
    let mut tcp = vec![0, m.len() as u8];
    tcp.extend(&m);
    tcp.extend([0, 5]); // the start of a pipelined second query is left alone
    let Outcome::Complete(q) = dns::parse_query(&tcp, dns::Transport::Tcp) else {
        panic!()
    };
    assert_eq!(q.len, m.len() + 2);
    for cut in 0..m.len() + 2 {
        assert!(
            is_need_more(&dns::parse_query(&tcp[..cut], dns::Transport::Tcp)),
            "{cut}"
        );
    }
}

#[test]
fn dns_qdcount_must_be_one() {
    for qd in [0, 2] {
        assert_eq!(
            dns_err(&dns_msg(qd, &question(&[b"a", b"example"], 1))),
            dns::Malformed::QuestionCount(qd)
        );
    }
}

#[test]
fn dns_compression_pointer_in_question_is_rejected_never_followed() {
    // A pointer to itself: a loop for a parser that follows it.
    let m = dns_msg(1, &[0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(dns_err(&m), dns::Malformed::CompressionPointer);
    let m = dns_msg(1, &[1, b'a', 0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(dns_err(&m), dns::Malformed::CompressionPointer);
}

#[test]
fn dns_label_over_63_is_rejected() {
    let mut q = vec![64];
    q.extend([b'a'; 64]);
    q.extend([0, 0, 1, 0, 1]);
    assert_eq!(dns_err(&dns_msg(1, &q)), dns::Malformed::BadLabelType);
    let l63 = [b'a'; 63];
    let Outcome::Complete(_) = dns::parse_query(
        &dns_msg(1, &question(&[&l63, b"example"], 1)),
        dns::Transport::Udp,
    ) else {
        panic!()
    };
}

#[test]
fn dns_name_over_255_wire_bytes_is_rejected() {
    let l63 = [b'a'; 63];
    // 4 × 64 + 1 = 257 bytes.
    let m = dns_msg(1, &question(&[&l63, &l63, &l63, &l63], 1));
    assert_eq!(dns_err(&m), dns::Malformed::NameTooLong);
    // 3 × 64 + 62 + 1 = 255: the longest, 253 bytes as text.
    let l61 = [b'b'; 61];
    let m = dns_msg(1, &question(&[&l63, &l63, &l63, &l61], 1));
    let Outcome::Complete(q) = dns::parse_query(&m, dns::Transport::Udp) else {
        panic!()
    };
    assert_eq!(q.name.unwrap().as_str().len(), 253);
}

#[test]
fn dns_non_ldh_bytes_are_rejected_underscore_allowed() {
    for bad in [&b"a b"[..], b"a.b", b"a\0", b"*", "ü".as_bytes(), b"a/b"] {
        assert_eq!(
            dns_err(&dns_msg(1, &question(&[bad, b"example"], 1))),
            dns::Malformed::BadLabelByte,
            "{bad:?}"
        );
    }
    let m = dns_msg(1, &question(&[b"_sip", b"_tcp", b"example"], 33));
    let Outcome::Complete(q) = dns::parse_query(&m, dns::Transport::Udp) else {
        panic!()
    };
    assert_eq!(q.name.unwrap().as_str(), "_sip._tcp.example");
}

#[test]
fn dns_response_is_rejected() {
    let mut m = dns_msg(1, &question(&[b"a", b"example"], 1));
    m[2] |= 0x80;
    assert_eq!(dns_err(&m), dns::Malformed::Response);
    let mut tcp = vec![0, m.len() as u8];
    tcp.extend(&m[..12]);
    // Known from the header, before the rest arrives.
    assert!(matches!(
        dns::parse_query(&tcp, dns::Transport::Tcp),
        Outcome::Malformed(dns::Malformed::Response)
    ));
    // Not detected as a query in a stream.
    tcp.extend(&m[12..]);
    assert_eq!(inspect(&tcp).status, Status::Unrecognized);
}

#[test]
fn dns_other_checks() {
    let mut m = dns_msg(1, &question(&[b"a", b"example"], 1));
    m[2] = 0x28; // opcode 5 (UPDATE)
    assert_eq!(dns_err(&m), dns::Malformed::Opcode(5));
    let mut m = dns_msg(1, &question(&[b"a", b"example"], 1));
    m[7] = 1; // ANCOUNT
    assert_eq!(dns_err(&m), dns::Malformed::UnexpectedRecords);
    let mut m = dns_msg(1, &question(&[b"a", b"example"], 1));
    m.push(0);
    assert_eq!(dns_err(&m), dns::Malformed::TrailingData);
    let m = dns_msg(1, &question(&[b"1", b"2", b"3"], 1));
    assert_eq!(
        dns_err(&m),
        dns::Malformed::InvalidName(InvalidName::AmbiguousNumeric)
    );
    assert_eq!(dns_err(&[0; 5]), dns::Malformed::TooShort);
    let m = dns_msg(1, &question(&[b"a", b"example"], 1));
    assert_eq!(dns_err(&m[..m.len() - 1]), dns::Malformed::Truncated);
    // An EDNS OPT record is walked: ARCOUNT 1 with the record is fine, without it truncated.
    let mut m = dns_msg(1, &question(&[b"a", b"example"], 1));
    m[11] = 1;
    assert_eq!(dns_err(&m), dns::Malformed::Truncated);
    m.extend([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(
        dns::parse_query(&m, dns::Transport::Udp),
        Outcome::Complete(_)
    ));
}

#[test]
fn dns_root_question_is_no_name() {
    let m = dns_msg(1, &question(&[], 2));
    assert!(
        matches!(dns::parse_query(&m, dns::Transport::Udp), Outcome::NoName(Some(q)) if q.qtype == 2)
    );
}

// ---- inspect() and fronting ---------------------------------------------------------------

#[test]
fn inspect_detection_is_deterministic() {
    assert_eq!(
        inspect(&hello(&[sni(b"a.example")])).protocol,
        Protocol::Tls
    );
    assert_eq!(
        inspect(b"OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n").protocol,
        Protocol::Http
    );
    let m = dns_msg(1, &question(&[b"a", b"example"], 1));
    let mut tcp = vec![0, m.len() as u8];
    tcp.extend(&m);
    let i = inspect(&tcp);
    assert_eq!(
        (i.protocol, i.via, i.qtype),
        (Protocol::Dns, Some(Via::Dns), Some(1))
    );
    // A bare UDP datagram is not guessed at.
    assert_eq!(inspect(&m).status, Status::Unrecognized);
    assert_eq!(
        inspect_with(&m, Expect::DnsUdp, &Limits::default()).status,
        Status::Complete
    );
    for junk in [
        &b"\x00\x00\x00\x08\x04\xd2\x16\x2f"[..],
        b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0",
        b"hello, this is not dns",
    ] {
        assert_eq!(inspect(junk).status, Status::Unrecognized, "{junk:?}");
    }
}

#[test]
fn fronting_check_names_the_disagreeing_pair() {
    let n = |s: &str| normalize(s).unwrap();
    let (a, a2, b) = (n("a.example"), n("A.Example."), n("b.example"));
    assert_eq!(check_fronting(Some(&a), Some(&a2), Some(&a)), Ok(Some(a)));
    assert_eq!(
        check_fronting(Some(&a), Some(&b), None),
        Err(Disagreement {
            first: Via::Connect,
            second: Via::Tls
        })
    );
    assert_eq!(
        check_fronting(Some(&a), None, Some(&b)),
        Err(Disagreement {
            first: Via::Connect,
            second: Via::Http
        })
    );
    assert_eq!(
        check_fronting(None, Some(&a), Some(&b)),
        Err(Disagreement {
            first: Via::Tls,
            second: Via::Http
        })
    );
    assert_eq!(check_fronting(None, None, Some(&b)), Ok(Some(b)));
    // A name and the IP it may resolve to are not the same name.
    let ip = n("192.0.2.1");
    assert!(check_fronting(Some(&ip), Some(&a), None).is_err());
}
