//! QUIC Initials: the RFC 9001 / RFC 9369 example packets, packets protected here with the
//! same ciphers (so the parser must really decrypt them), reassembly across frames and
//! datagrams, and every refusal and cap.

use std::time::{Duration, Instant};

use hostgate::inspect::quic::{self, testing, Caps, Malformed, Reassembler, Secrets, Version};
use hostgate::inspect::{inspect_with, tls, Expect, Limits, Outcome, Protocol, Status};
use hostgate::{Action, Engine, Via};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const RFC_DCID: &str = "8394c8f03e515708";

/// RFC 9001 §A.2 (and RFC 9369 §A.2): the client's CRYPTO frame, a ClientHello for
/// example.com with ALPN "alpn"; the payload is padded to 1162 bytes.
const RFC_CRYPTO_FRAME: &str = "
    060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868
    04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578
    616d706c652e636f6dff01000100000a00080006001d00170018001000070005
    04616c706e000500050100000000003300260024001d00209370b2c9caa47fba
    baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400
    0d0010000e0403050306030203080408050806002d00020101001c0002400100
    3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000
    75300901100f088394c8f03e51570806048000ffff";

fn rfc_payload() -> Vec<u8> {
    let mut p = hex(RFC_CRYPTO_FRAME);
    p.resize(1162, 0);
    p
}

/// The example client Initial of the version's RFC: packet number 2 in 4 bytes.
fn rfc_packet(version: Version) -> Vec<u8> {
    testing::packet(version, &hex(RFC_DCID), &[], &[], 2, 4, &rfc_payload())
}

fn now() -> Instant {
    Instant::now()
}

fn table() -> Reassembler {
    Reassembler::new(Limits::default(), Caps::default())
}

fn name_of(o: &Outcome<tls::ClientHello<'_>, Malformed>) -> Option<String> {
    o.name().map(|n| n.as_str().to_owned())
}

fn malformed<T>(o: Outcome<T, Malformed>) -> Option<Malformed> {
    match o {
        Outcome::Malformed(e) => Some(e),
        _ => None,
    }
}

fn need_more<T, E>(o: &Outcome<T, E>) -> bool {
    matches!(o, Outcome::NeedMore { .. })
}

#[test]
fn rfc_9001_client_keys() {
    let s = Secrets::client_initial(Version::V1, &hex(RFC_DCID));
    assert_eq!(s.key.to_vec(), hex("1f369613dd76d5467730efcbe3b1a22d"));
    assert_eq!(s.iv.to_vec(), hex("fa044b2f42a3fd3b46fb255c"));
    assert_eq!(s.hp.to_vec(), hex("9f50449e04a0e810283a1e9933adedd2"));
}

#[test]
fn rfc_9369_client_keys() {
    let s = Secrets::client_initial(Version::V2, &hex(RFC_DCID));
    assert_eq!(s.key.to_vec(), hex("8b1a0bc121284290a29e0971b5cd045d"));
    assert_eq!(s.iv.to_vec(), hex("91f73e2351d8fa91660e909f"));
    assert_eq!(s.hp.to_vec(), hex("45b95e15235d6f45a6b19cbcb0294ba9"));
}

#[test]
fn rfc_header_protection_masks() {
    let v1 = Secrets::client_initial(Version::V1, &hex(RFC_DCID));
    let sample: [u8; 16] = hex("d1b1c98dd7689fb8ec11d242b123dc9b").try_into().unwrap();
    assert_eq!(
        quic::header_protection_mask(&v1.hp, &sample).to_vec(),
        hex("437b9aec36")
    );
    let v2 = Secrets::client_initial(Version::V2, &hex(RFC_DCID));
    let sample: [u8; 16] = hex("ffe67b6abcdb4298b485dd04de806071").try_into().unwrap();
    assert_eq!(
        quic::header_protection_mask(&v2.hp, &sample).to_vec(),
        hex("94a0c95e80")
    );
}

/// Protecting the RFC's plaintext gives the RFC's packet: its header, its sample and its
/// last 16 bytes (the tag, which covers every byte before it).
#[test]
fn rfc_9001_example_packet_is_reproduced_and_decodes_to_example_com() {
    let p = rfc_packet(Version::V1);
    assert_eq!(p.len(), 1200);
    assert_eq!(
        p[..64].to_vec(),
        hex(
            "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11
             d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399"
        )
    );
    assert_eq!(p[1184..].to_vec(), hex("e221af44860018ab0856972e194cd934"));

    let mut scratch = Vec::new();
    let Outcome::Complete(h) = quic::parse_datagram(&p, &mut scratch, &Limits::default()) else {
        panic!("not complete")
    };
    assert_eq!(h.server_name.unwrap().as_str(), "example.com");
    assert!(h.alpn.contains(b"alpn"));
    assert_eq!((h.records, h.len), (0, 241));
    assert_eq!(h.max_version, 0x0304);
}

#[test]
fn rfc_9369_example_packet_is_reproduced_and_decodes_to_example_com() {
    let p = rfc_packet(Version::V2);
    assert_eq!(
        p[..38].to_vec(),
        hex("d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485dd04de806071")
    );
    assert_eq!(p[1184..].to_vec(), hex("a18b2faa745b6fe189cf772a9f84cbfc"));
    let mut t = table();
    let i = t.inspect(&p, now());
    assert_eq!((i.protocol, i.status), (Protocol::Quic, Status::Complete));
    assert_eq!(i.name.unwrap().as_str(), "example.com");
    assert_eq!(i.via, Some(Via::Tls));
    assert!(i.alpn.contains(b"alpn"));
}

#[test]
fn inspect_with_expect_quic_names_the_destination() {
    let p = rfc_packet(Version::V1);
    let i = inspect_with(&p, Expect::Quic, &Limits::default());
    assert_eq!((i.protocol, i.status), (Protocol::Quic, Status::Complete));
    assert_eq!(i.name.unwrap().as_str(), "example.com");
    assert_eq!(i.via, Some(Via::Tls));
    assert_eq!("quic".parse::<Expect>(), Ok(Expect::Quic));
    assert_eq!(Protocol::Quic.as_str(), "quic");
    // Not a long header: not QUIC.
    let i = inspect_with(b"\x40abc", Expect::Quic, &Limits::default());
    assert_eq!(i.status, Status::Unrecognized);
    // Refusals carry the QUIC reason.
    let i = inspect_with(&p[..1199], Expect::Quic, &Limits::default());
    assert_eq!(i.status, Status::Malformed);
    assert_eq!(
        i.error.unwrap().to_string(),
        "quic: a header field runs past the datagram"
    );
}

#[test]
fn engine_verdicts_follow_the_sni_via_tls() {
    let e = Engine::compile("allow example.com port 443 via tls\n").unwrap();
    let p = e.policy("default").unwrap();
    let d = rfc_packet(Version::V1);
    let i = inspect_with(&d, Expect::Quic, &Limits::default());
    assert_eq!(
        e.verdict_for_inspection(p, &i, Some(443)).action,
        Action::Allow
    );
    assert_eq!(
        e.verdict_for_inspection(p, &i, Some(80)).action,
        Action::Deny
    );
    let other = testing::initial(
        Version::V1,
        &[3; 8],
        0,
        &testing::crypto_frame(0, &testing::client_hello(b"other.example", &[])),
    );
    let i = inspect_with(&other, Expect::Quic, &Limits::default());
    assert_eq!(i.status, Status::Complete);
    assert_eq!(
        e.verdict_for_inspection(p, &i, Some(443)).action,
        Action::Deny
    );
    let mut bad = d.clone();
    bad[600] ^= 1;
    let i = inspect_with(&bad, Expect::Quic, &Limits::default());
    assert_eq!(
        e.verdict_for_inspection(p, &i, Some(443)).action,
        Action::Deny
    );
}

/// Any change to a protected byte (the first byte's low bits, the packet number, the
/// payload, the tag) fails authentication; no change anywhere gives a name.
#[test]
fn every_flipped_byte_is_refused() {
    for version in [Version::V1, Version::V2] {
        let p = rfc_packet(version);
        let pn_offset = 18;
        for i in 0..p.len() {
            let mut q = p.clone();
            q[i] ^= 1 << (i % 8);
            let mut scratch = Vec::new();
            let o = quic::parse_datagram(&q, &mut scratch, &Limits::default());
            assert!(
                o.name().is_none(),
                "{version:?} byte {i} flipped still names"
            );
            if i >= pn_offset {
                assert_eq!(malformed(o), Some(Malformed::Authentication), "byte {i}");
            } else {
                assert!(!matches!(o, Outcome::Complete(_)), "byte {i}");
            }
        }
        // Low bits of the first byte are protected too.
        let mut q = p.clone();
        q[0] ^= 0x04;
        let mut scratch = Vec::new();
        assert_eq!(
            malformed(quic::parse_datagram(&q, &mut scratch, &Limits::default())),
            Some(Malformed::Authentication)
        );
    }
}

/// A hello spread over datagrams, each carrying some CRYPTO frames in some order.
fn datagrams(
    version: Version,
    dcid: &[u8],
    hello: &[u8],
    plan: &[&[(usize, usize)]],
) -> Vec<Vec<u8>> {
    plan.iter()
        .enumerate()
        .map(|(k, frames)| {
            let mut payload = Vec::new();
            for &(from, to) in frames.iter() {
                payload.extend(testing::crypto_frame(from as u64, &hello[from..to]));
                payload.push(0x01); // PING between frames, as Chromium does
            }
            testing::initial(version, dcid, k as u64 + 1, &payload)
        })
        .collect()
}

fn big_hello(name: &[u8]) -> Vec<u8> {
    // A large key share, as post-quantum clients send, pushes the hello past one datagram.
    use hostgate::inspect::tls::testing as t;
    let mut ext = t::extension(51, &{
        let mut share = vec![0x04, 0xc4, 0x11, 0xec, 0x04, 0xc0];
        share.extend(std::iter::repeat(0x77).take(1216));
        share
    });
    ext.extend(t::sni_extension(name));
    ext.extend(t::alpn_extension(&[b"h3"]));
    ext.extend(t::extension(43, &[2, 0x03, 0x04]));
    ext.extend(t::extension(0x39, &[0x01, 0x02, 0x40, 0x00]));
    ext.extend(t::extension(0xfe0d, &[0, 0, 1, 0, 1, 7, 0, 0, 0, 0]));
    testing::hello_with_extensions(&ext)
}

fn run(ds: &[Vec<u8>]) -> (Vec<bool>, Option<String>) {
    let mut t = table();
    let t0 = now();
    let mut needs = Vec::new();
    let mut last = None;
    for (k, d) in ds.iter().enumerate() {
        let o = t.push(d, t0);
        if k + 1 < ds.len() {
            needs.push(need_more(&o));
        } else {
            last = name_of(&o);
        }
    }
    (needs, last)
}

#[test]
fn hello_over_two_datagrams_and_shuffled_frames_reassembles() {
    let dcid = [0x5a; 8];
    let hello = big_hello(b"www.example.org");
    let n = hello.len();
    assert!(n > 1300, "{n}");
    let plans: Vec<Vec<Vec<(usize, usize)>>> = vec![
        vec![vec![(0, 1000)], vec![(1000, n)]],
        // Second half first, as neqo sends its pieces.
        vec![vec![(1000, n), (0, 300)], vec![(300, 1000)]],
        // Shuffled small frames, a 1-byte one, across three datagrams.
        vec![
            vec![(700, 701), (5, 600), (1200, n)],
            vec![(701, 1200), (0, 5)],
            vec![(600, 700)],
        ],
        // A retransmission that re-splits bytes already held.
        vec![vec![(0, 800)], vec![(400, 900), (100, 200)], vec![(850, n)]],
    ];
    for version in [Version::V1, Version::V2] {
        for plan in &plans {
            let plan: Vec<&[(usize, usize)]> = plan.iter().map(|d| d.as_slice()).collect();
            let ds = datagrams(version, &dcid, &hello, &plan);
            let (needs, name) = run(&ds);
            assert!(
                needs.iter().all(|&b| b),
                "{plan:?}: a prefix was not need-more"
            );
            assert_eq!(name.as_deref(), Some("www.example.org"), "{plan:?}");
            // The datagrams in the reverse order give the same.
            let rev: Vec<_> = ds.iter().rev().cloned().collect();
            let (needs, name) = run(&rev);
            assert!(needs.iter().all(|&b| b));
            assert_eq!(name.as_deref(), Some("www.example.org"));
        }
    }
}

#[test]
fn the_answer_does_not_change_once_given() {
    let dcid = [0x11; 8];
    let hello = testing::client_hello(b"a.example", &[b"h3"]);
    let d = testing::initial(Version::V1, &dcid, 0, &testing::crypto_frame(0, &hello));
    let mut t = table();
    assert_eq!(name_of(&t.push(&d, now())).as_deref(), Some("a.example"));
    // A conflicting retransmission after the verdict is not decoded.
    let mut other = hello.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    let d2 = testing::initial(Version::V1, &dcid, 1, &testing::crypto_frame(0, &other));
    assert_eq!(name_of(&t.push(&d2, now())).as_deref(), Some("a.example"));
    assert!(t.forget(&dcid));
    assert!(t.is_empty());
}

#[test]
fn overlapping_but_different_bytes_are_refused_and_stay_refused() {
    let dcid = [0x22; 8];
    let hello = big_hello(b"b.example");
    let mut forged = hello.clone();
    forged[500] ^= 0x20;
    let d1 = testing::initial(
        Version::V1,
        &dcid,
        1,
        &testing::crypto_frame(0, &hello[..800]),
    );
    let d2 = testing::initial(
        Version::V1,
        &dcid,
        2,
        &testing::crypto_frame(400, &forged[400..]),
    );
    let d3 = testing::initial(
        Version::V1,
        &dcid,
        3,
        &testing::crypto_frame(800, &hello[800..]),
    );
    let mut t = table();
    assert!(need_more(&t.push(&d1, now())));
    assert_eq!(
        malformed(t.push(&d2, now())),
        Some(Malformed::CryptoConflict)
    );
    assert_eq!(
        malformed(t.push(&d3, now())),
        Some(Malformed::CryptoConflict)
    );
    // The same within one packet.
    let mut payload = testing::crypto_frame(0, &hello[..100]);
    payload.extend(testing::crypto_frame(50, &forged[50..100]));
    let mut f = hello[..100].to_vec();
    f[60] ^= 1;
    let mut payload2 = testing::crypto_frame(0, &hello[..100]);
    payload2.extend(testing::crypto_frame(50, &f[50..]));
    let d = testing::initial(Version::V1, &[0x23; 8], 0, &payload2);
    assert!(need_more(&table().push(
        &testing::initial(Version::V1, &[0x24; 8], 0, &payload),
        now()
    )));
    assert_eq!(
        malformed(table().push(&d, now())),
        Some(Malformed::CryptoConflict)
    );
}

#[test]
fn caps_are_enforced() {
    let hello = big_hello(b"c.example");
    let dcid = [0x33; 8];
    let pieces: Vec<Vec<u8>> = hello
        .chunks(400)
        .enumerate()
        .map(|(k, c)| {
            testing::initial(
                Version::V1,
                &dcid,
                k as u64,
                &testing::crypto_frame(400 * k as u64, c),
            )
        })
        .collect();
    assert!(pieces.len() >= 4);
    // Datagrams per flow.
    let mut t = Reassembler::new(
        Limits::default(),
        Caps {
            datagrams: 2,
            ..Caps::default()
        },
    );
    assert!(need_more(&t.push(&pieces[0], now())));
    assert!(need_more(&t.push(&pieces[1], now())));
    assert_eq!(
        malformed(t.push(&pieces[2], now())),
        Some(Malformed::TooManyDatagrams)
    );
    // Lifetime.
    let mut t = table();
    let t0 = now();
    assert!(need_more(&t.push(&pieces[0], t0)));
    assert_eq!(
        malformed(t.push(&pieces[1], t0 + Duration::from_secs(6))),
        Some(Malformed::Expired)
    );
    // Flows held: a second flow waits for the first to expire.
    let mut t = Reassembler::new(
        Limits::default(),
        Caps {
            flows: 1,
            ..Caps::default()
        },
    );
    let other = testing::initial(
        Version::V1,
        &[0x34; 8],
        0,
        &testing::crypto_frame(0, &hello[..400]),
    );
    assert!(need_more(&t.push(&pieces[0], t0)));
    assert_eq!(malformed(t.push(&other, t0)), Some(Malformed::TableFull));
    assert_eq!(t.len(), 1);
    assert!(need_more(&t.push(&other, t0 + Duration::from_secs(6))));
    assert_eq!(t.len(), 1);
    // Hello size: a smaller cap refuses this hello, and an offset past the cap is refused
    // before anything is stored.
    let small = Limits {
        tls_hello: 1024,
        ..Limits::default()
    };
    let mut t = Reassembler::new(small, Caps::default());
    assert!(need_more(&t.push(&pieces[1], t0)));
    assert_eq!(
        malformed(t.push(&pieces[0], t0)),
        Some(Malformed::Tls(tls::Malformed::TooLarge))
    );
    let far = testing::initial(
        Version::V1,
        &[0x35; 8],
        0,
        &testing::crypto_frame(0xfffff, b"x"),
    );
    assert_eq!(malformed(table().push(&far, t0)), Some(Malformed::TooLarge));
    // A claimed offset inside the cap is stored as the one byte it is.
    let near = testing::initial(
        Version::V1,
        &[0x36; 8],
        0,
        &testing::crypto_frame(16000, b"x"),
    );
    assert!(need_more(&table().push(&near, t0)));
    // Holes in the stream.
    let mut payload = Vec::new();
    for k in 0..10u64 {
        payload.extend(testing::crypto_frame(
            10 + 2 * k,
            &hello[10 + 2 * k as usize..][..1],
        ));
    }
    let holes = testing::initial(Version::V1, &[0x37; 8], 0, &payload);
    let mut t = Reassembler::new(
        Limits::default(),
        Caps {
            fragments: 4,
            ..Caps::default()
        },
    );
    assert_eq!(
        malformed(t.push(&holes, t0)),
        Some(Malformed::TooFragmented)
    );
}

#[test]
fn crypto_past_the_hello_is_refused() {
    let mut stream = testing::client_hello(b"d.example", &[]);
    stream.extend_from_slice(&[1, 0, 0, 0]);
    let d = testing::initial(
        Version::V1,
        &[0x44; 8],
        0,
        &testing::crypto_frame(0, &stream),
    );
    assert_eq!(
        malformed(table().push(&d, now())),
        Some(Malformed::TooLarge)
    );
}

#[test]
fn quic_hello_rules() {
    use hostgate::inspect::tls::testing as t;
    let frame = |hello: &[u8]| {
        testing::initial(Version::V1, &[0x55; 8], 0, &testing::crypto_frame(0, hello))
    };
    let mut scratch = Vec::new();
    let mut parse = |d: &[u8]| malformed(quic::parse_datagram(d, &mut scratch, &Limits::default()));
    // A TLS-over-TCP hello: 32-byte session id, no transport parameters.
    let tcp = t::handshake(Some(&t::sni_extension(b"a.example")));
    assert_eq!(parse(&frame(&tcp)), Some(Malformed::SessionId));
    let mut ext = t::sni_extension(b"a.example");
    ext.extend(t::extension(43, &[2, 0x03, 0x04]));
    assert_eq!(
        parse(&frame(&testing::hello_with_extensions(&ext))),
        Some(Malformed::NoTransportParameters)
    );
    let mut ext = t::sni_extension(b"a.example");
    ext.extend(t::extension(43, &[2, 0x03, 0x03]));
    ext.extend(t::extension(0x39, &[]));
    assert_eq!(
        parse(&frame(&testing::hello_with_extensions(&ext))),
        Some(Malformed::NotTls13)
    );
    // The TLS parser's own rules apply: a 257-byte name is refused as a bad name.
    let long = vec![b'a'; 257];
    let o = parse(&frame(&testing::client_hello(&long, &[])));
    assert!(o.unwrap().invalid_name().is_some());
    // A hello without SNI is no-name.
    let mut ext = t::extension(43, &[2, 0x03, 0x04]);
    ext.extend(t::extension(0x39, &[]));
    let d = frame(&testing::hello_with_extensions(&ext));
    let mut scratch = Vec::new();
    assert!(matches!(
        quic::parse_datagram(&d, &mut scratch, &Limits::default()),
        Outcome::NoName(Some(_))
    ));
    // Not a ClientHello.
    let d = frame(&[2, 0, 0, 1, 0]);
    assert_eq!(
        malformed(quic::parse_datagram(&d, &mut scratch, &Limits::default())),
        Some(Malformed::Tls(tls::Malformed::NotClientHello(2)))
    );
}

#[test]
fn header_refusals() {
    let hello = testing::client_hello(b"e.example", &[]);
    let frames = testing::crypto_frame(0, &hello);
    let mut scratch = Vec::new();
    let mut parse = |d: &[u8]| malformed(quic::parse_datagram(d, &mut scratch, &Limits::default()));
    let good = testing::initial(Version::V1, &[0x66; 8], 0, &frames);
    // Under 1200 bytes.
    let small = testing::packet(Version::V1, &[0x66; 8], &[], &[], 0, 2, &frames);
    assert_eq!(
        parse(&small),
        Some(Malformed::DatagramTooSmall(small.len()))
    );
    // Versions.
    let mut v = good.clone();
    v[1..5].copy_from_slice(&0xff00_001du32.to_be_bytes());
    assert_eq!(parse(&v), Some(Malformed::UnsupportedVersion(0xff00001d)));
    v[1..5].copy_from_slice(&0x709a_50c4u32.to_be_bytes());
    assert_eq!(parse(&v), Some(Malformed::UnsupportedVersion(0x709a50c4)));
    v[1..5].copy_from_slice(&[0; 4]);
    assert_eq!(parse(&v), Some(Malformed::VersionNegotiation));
    // Connection IDs.
    let short = testing::initial(Version::V1, &[0x66; 7], 0, &frames);
    assert_eq!(parse(&short), Some(Malformed::ShortConnectionId));
    let mut padded = testing::packet(Version::V1, &[0x66; 7], &[], b"token", 0, 2, &frames);
    padded.resize(1200, 0);
    assert_eq!(
        quic::parse_datagram(&padded, &mut Vec::new(), &Limits::default())
            .name()
            .map(|n| n.as_str().to_owned())
            .as_deref(),
        Some("e.example"),
        "with a token, a short DCID is allowed"
    );
    let mut long = good.clone();
    long[5] = 21;
    assert_eq!(parse(&long), Some(Malformed::ConnectionIdTooLong));
    // Not an Initial first.
    let hs = testing::protect(0xe0, Version::V1, &[0x66; 8], &[], &[], 0, 2, &[0; 1200]);
    assert_eq!(
        parse(&hs),
        Some(Malformed::NotInitial(quic::PacketType::Handshake))
    );
    // Reserved bits, checked after decryption.
    let mut payload = frames.clone();
    payload.resize(1200, 0);
    let reserved = testing::protect(0xc8, Version::V1, &[0x66; 8], &[], &[], 0, 2, &payload);
    assert_eq!(parse(&reserved), Some(Malformed::ReservedBits));
    // Frames an Initial may not carry.
    let mut stream = vec![0x08, 0, 1, b'x'];
    stream.extend(&frames);
    let d = testing::initial(Version::V1, &[0x66; 8], 0, &stream);
    assert_eq!(parse(&d), Some(Malformed::ForbiddenFrame(0x08)));
    let mut closed = frames.clone();
    closed.extend([0x1c, 0, 0, 0]);
    let d = testing::initial(Version::V1, &[0x66; 8], 0, &closed);
    assert_eq!(parse(&d), Some(Malformed::ConnectionClosed));
    // A Length past the datagram.
    assert_eq!(parse(&good[..1199]), Some(Malformed::Truncated));
    assert_eq!(parse(&good[..30]), Some(Malformed::Truncated));
}

#[test]
fn coalesced_packets_and_filler_are_skipped() {
    let dcid = [0x77; 8];
    let hello = testing::client_hello(b"f.example", &[b"h3"]);
    let mut payload = testing::crypto_frame(0, &hello);
    payload.push(0x01);
    let initial = testing::packet(Version::V1, &dcid, &[], &[], 0, 2, &payload);
    let zero_rtt = testing::protect(0xd0, Version::V1, &dcid, &[], &[], 1, 2, &[0xab; 300]);
    let other_dcid = testing::packet(Version::V1, &[0x78; 8], &[], &[], 0, 2, &[0x08; 40]);
    for tail in [zero_rtt.clone(), other_dcid, vec![0; 100], vec![0x40; 50]] {
        let mut d = initial.clone();
        d.extend(&tail);
        d.resize(d.len().max(1200), 0);
        let mut scratch = Vec::new();
        let o = quic::parse_datagram(&d, &mut scratch, &Limits::default());
        assert_eq!(name_of(&o).as_deref(), Some("f.example"));
    }
    // The hello split over two Initials in one datagram.
    let a = testing::packet(
        Version::V2,
        &dcid,
        &[],
        &[],
        0,
        1,
        &testing::crypto_frame(50, &hello[50..]),
    );
    let b = testing::packet(
        Version::V2,
        &dcid,
        &[],
        &[],
        1,
        1,
        &testing::crypto_frame(0, &hello[..50]),
    );
    let mut d = a;
    d.extend(b);
    d.resize(1200, 0);
    let mut t = table();
    assert_eq!(name_of(&t.push(&d, now())).as_deref(), Some("f.example"));
}

#[test]
fn packet_numbers_need_not_start_at_zero() {
    let hello = big_hello(b"g.example");
    let dcid = [0x88; 8];
    let d1 = testing::packet(Version::V1, &dcid, &[], &[], 27, 1, &{
        let mut p = testing::crypto_frame(0, &hello[..900]);
        p.resize(1100, 0);
        p
    });
    let d2 = testing::packet(Version::V1, &dcid, &[], &[], 29, 1, &{
        let mut p = testing::crypto_frame(900, &hello[900..]);
        p.resize(p.len().max(1170), 0);
        p
    });
    let mut t = table();
    let mut d1p = d1.clone();
    d1p.resize(1200, 0);
    assert!(need_more(&t.push(&d1p, now())));
    assert_eq!(name_of(&t.push(&d2, now())).as_deref(), Some("g.example"));
}

#[test]
fn unauthenticated_datagrams_leave_no_state() {
    let mut p = rfc_packet(Version::V1);
    p[700] ^= 0x80;
    let mut t = table();
    for _ in 0..3 {
        assert_eq!(
            malformed(t.push(&p, now())),
            Some(Malformed::Authentication)
        );
    }
    assert!(t.is_empty());
    // The intact packet is then read normally.
    let good = rfc_packet(Version::V1);
    assert_eq!(
        name_of(&t.push(&good, now())).as_deref(),
        Some("example.com")
    );
}

#[test]
fn retry_starts_a_new_flow_under_the_new_connection_id() {
    let hello = big_hello(b"h.example");
    let mut t = table();
    // The first Initial, answered by a Retry: the flow under the original ID stays incomplete.
    let first = testing::initial(
        Version::V1,
        &[0x99; 8],
        0,
        &testing::crypto_frame(0, &hello[..900]),
    );
    assert!(need_more(&t.push(&first, now())));
    // The client starts over with the token, under the Retry's connection ID (any length).
    let new_dcid = [0x9a; 5];
    let again = |from: usize, to: usize, pn: u64| {
        let mut payload = testing::crypto_frame(from as u64, &hello[from..to]);
        payload.resize(payload.len().max(1170), 0);
        testing::packet(Version::V1, &new_dcid, &[], b"retry-token", pn, 2, &payload)
    };
    assert!(need_more(&t.push(&again(0, 900, 1), now())));
    let i = t.inspect(&again(900, hello.len(), 2), now());
    assert_eq!(i.status, Status::Complete);
    assert_eq!(i.name.unwrap().as_str(), "h.example");
    assert!(i.ech, "the hello's ECH extension is reported");
    assert_eq!(t.len(), 2);
}

/// Pieces of the hello (as cut points), spread over datagrams in a chosen order: every
/// proper prefix of the datagram sequence is need-more and the whole gives the name, however
/// the stream was cut, ordered, duplicated or re-split.
mod splits {
    use super::*;
    use proptest::prelude::*;

    fn plan() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<usize>, u64)> {
        (
            prop::collection::vec(1usize..1400, 0..12),
            prop::collection::vec(0usize..4, 13),
            prop::collection::vec(0usize..13, 0..4),
            any::<u64>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn any_split_reassembles_to_the_same_name((cuts, slots, repeats, seed) in plan()) {
            let hello = big_hello(b"split.example");
            let n = hello.len();
            let mut points: Vec<usize> = cuts.into_iter().filter(|&c| c < n).collect();
            points.extend([0, n]);
            points.sort_unstable();
            points.dedup();
            let mut pieces: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
            // Retransmitted pieces, re-cut: the same bytes again.
            for r in repeats {
                if let Some(&(a, b)) = pieces.get(r) {
                    pieces.push((a, (a + b).div_ceil(2).max(a + 1)));
                }
            }
            // Up to four datagrams, each at most ~1000 bytes of CRYPTO data.
            let mut groups: Vec<Vec<(usize, usize)>> = vec![Vec::new(); 4];
            for (k, p) in pieces.iter().enumerate() {
                groups[slots[k % slots.len()]].push(*p);
            }
            let mut ds: Vec<Vec<(usize, usize)>> = Vec::new();
            for g in groups {
                let mut cur: Vec<(usize, usize)> = Vec::new();
                let mut size = 0;
                for (a, b) in g {
                    if size + (b - a) > 1000 && !cur.is_empty() {
                        ds.push(std::mem::take(&mut cur));
                        size = 0;
                    }
                    for start in (a..b).step_by(1000) {
                        let end = (start + 1000).min(b);
                        if size + (end - start) > 1000 && !cur.is_empty() {
                            ds.push(std::mem::take(&mut cur));
                            size = 0;
                        }
                        cur.push((start, end));
                        size += end - start;
                    }
                }
                if !cur.is_empty() {
                    ds.push(cur);
                }
            }
            // Shuffle the datagrams with the seed.
            let mut s = seed | 1;
            for i in (1..ds.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                ds.swap(i, (s % (i as u64 + 1)) as usize);
            }
            prop_assume!(ds.len() <= Caps::default().datagrams);
            let plan: Vec<&[(usize, usize)]> = ds.iter().map(|d| d.as_slice()).collect();
            let version = if seed % 2 == 0 { Version::V1 } else { Version::V2 };
            let datagrams = datagrams(version, &[0xab; 8], &hello, &plan);
            // The last datagram to complete coverage is where the name must appear.
            let mut covered = vec![false; n];
            let mut t = table();
            let t0 = now();
            let mut named = false;
            for (d, frames) in datagrams.iter().zip(&ds) {
                for &(a, b) in frames {
                    covered[a..b].iter_mut().for_each(|c| *c = true);
                }
                let o = t.push(d, t0);
                if covered.iter().all(|&c| c) && !named {
                    prop_assert_eq!(name_of(&o), Some("split.example".to_owned()));
                    named = true;
                } else if named {
                    prop_assert_eq!(name_of(&o), Some("split.example".to_owned()));
                } else {
                    prop_assert!(need_more(&o), "{:?}", malformed(o));
                }
            }
            prop_assert!(named);
        }
    }
}

/// A captured client flight (`tests/fixtures/quic`, made by `scripts/capture-quic-fixtures.sh`):
/// its datagrams and what the client was told to send.
struct Flight {
    name: String,
    datagrams: Vec<Vec<u8>>,
    expect: std::collections::BTreeMap<String, String>,
}

fn flights() -> Vec<Flight> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quic");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("expect") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let expect: std::collections::BTreeMap<String, String> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let n: usize = expect["datagrams"].parse().unwrap();
        let datagrams = (1..=n)
            .map(|k| std::fs::read(dir.join(format!("{name}-{k}.bin"))).unwrap())
            .collect();
        out.push(Flight {
            name,
            datagrams,
            expect,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The datagram (index) that completes the hello, and the inspection it gives.
fn decide(f: &Flight, ds: &[Vec<u8>]) -> Option<(usize, Status, Option<String>, Vec<String>)> {
    let mut t = table();
    let t0 = now();
    for (k, d) in ds.iter().enumerate() {
        let i = t.inspect(d, t0);
        assert_eq!(i.protocol, hostgate::inspect::Protocol::Quic, "{}", f.name);
        if i.status != Status::NeedMore {
            let alpn = i.alpn.iter().map(|p| p.to_string()).collect();
            return Some((k, i.status, i.name.map(|n| n.to_string()), alpn));
        }
    }
    None
}

#[test]
fn real_client_flights_decode_to_what_the_client_was_told() {
    let flights = flights();
    let clients: std::collections::BTreeSet<&str> = flights
        .iter()
        .map(|f| f.name.split('-').nth(1).unwrap())
        .collect();
    assert_eq!(
        clients.into_iter().collect::<Vec<_>>(),
        ["aioquic", "chromium", "firefox", "ngtcp2", "qh3"]
    );
    for f in &flights {
        let n = &f.name;
        let version: u32 = f.expect["version"].parse().unwrap();
        let wire = u32::from_be_bytes(f.datagrams[0][1..5].try_into().unwrap());
        assert_eq!(
            Version::from_wire(wire),
            Some(if version == 1 {
                Version::V1
            } else {
                Version::V2
            }),
            "{n}"
        );
        let (k, status, name, alpn) =
            decide(f, &f.datagrams).unwrap_or_else(|| panic!("{n}: never decided"));
        assert_eq!(status.as_str(), f.expect["status"], "{n}");
        assert_eq!(
            name.as_deref(),
            f.expect.get("name").map(String::as_str),
            "{n}"
        );
        let want: Vec<&str> = f.expect["alpn"].split(',').collect();
        assert_eq!(alpn, want, "{n}");
        // Every shorter prefix of the flight needs more.
        assert!(
            decide(f, &f.datagrams[..k]).is_none(),
            "{n}: decided before datagram {}",
            k + 1
        );
    }
}

/// A QUIC varint at `at` of `d`: (value, length).
fn varint_at(d: &[u8], at: usize) -> (usize, usize) {
    let len = 1usize << (d[at] >> 6);
    let mut v = u64::from(d[at] & 0x3f);
    for b in &d[at + 1..at + len] {
        v = v << 8 | u64::from(*b);
    }
    (v as usize, len)
}

/// The long-header packets of a v1 datagram: (type bits, token length) of each.
fn packets_v1(d: &[u8]) -> Vec<(u8, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < d.len() && d[at] & 0x80 != 0 {
        let ty = (d[at] >> 4) & 3;
        let mut p = at + 6 + usize::from(d[at + 5]);
        p += 1 + usize::from(d[p]);
        let mut token = 0;
        if ty == 0 {
            let (t, n) = varint_at(d, p);
            token = t;
            p += n + t;
        }
        let (length, n) = varint_at(d, p);
        out.push((ty, token));
        at = p + n + length;
    }
    out
}

#[test]
fn the_0rtt_and_retry_flights_are_what_they_say() {
    for f in flights() {
        let packets: Vec<(u8, usize)> = f.datagrams.iter().flat_map(|d| packets_v1(d)).collect();
        if f.name.ends_with("-0rtt") {
            // An Initial, then a 0-RTT packet (type 1) coalesced after it.
            assert!(packets.iter().any(|p| p.0 == 1), "{}: {packets:?}", f.name);
        }
        if f.name.ends_with("-retry") {
            // The Initial after a Retry carries the Retry's token.
            assert!(
                packets[0].0 == 0 && packets[0].1 > 0,
                "{}: {packets:?}",
                f.name
            );
        }
    }
}

#[test]
fn every_flipped_protected_byte_of_a_real_flight_is_refused() {
    for f in flights() {
        let d = &f.datagrams[0];
        // The first packet's extent: header, packet number and payload (the Length field).
        let dcid_len = usize::from(d[5]);
        let mut at = 6 + dcid_len;
        at += 1 + usize::from(d[at]);
        let varint = |at: usize| {
            let len = 1usize << (d[at] >> 6);
            let mut v = u64::from(d[at] & 0x3f);
            for b in &d[at + 1..at + len] {
                v = v << 8 | u64::from(*b);
            }
            (v as usize, len)
        };
        let (token, n) = varint(at);
        at += n + token;
        let (length, n) = varint(at);
        let pn_offset = at + n;
        // Each bit-0 flip from the packet number to the packet's end (what header protection
        // and the AEAD cover) must fail authentication: the flow is refused, never named.
        for i in pn_offset..pn_offset + length {
            let mut bad = f.datagrams.clone();
            bad[0][i] ^= 1;
            if let Some((_, status, name, _)) = decide(&f, &bad) {
                assert_eq!(status, Status::Malformed, "{} byte {i}: {name:?}", f.name);
            }
        }
    }
}
