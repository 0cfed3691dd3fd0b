//! Differential test against tls-parser 0.12 on generated ClientHellos (and mutations of them).
//!
//! When both extract an SNI it is the same name. Every disagreement must be one of the
//! strictness cases `docs/inspect.md` lists ("Compared with tls-parser"): tls-parser does not reassemble records and does not check
//! what hostgate refuses (lengths, duplicates, empty lists, name bytes, `pre_shared_key` not
//! last, trailing data).

use crate::common::tls_parser_sni;
use hostgate::inspect::{tls, Limits, Outcome};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

#[derive(Clone, Debug)]
enum Ext {
    Sni(Vec<(u8, Vec<u8>)>),
    Alpn(Vec<Vec<u8>>),
    Grease(u8),
    Versions(Vec<u16>),
    Ech,
    Unknown(u16, Vec<u8>),
}

#[derive(Clone, Debug)]
struct Hello {
    session_id: usize,
    suites: Vec<u8>,
    compression: Vec<u8>,
    exts: Option<Vec<Ext>>,
    junk_after_exts: Vec<u8>,
    fragment: Option<usize>,
    mutation: Option<(usize, u8)>,
}

fn put(out: &mut Vec<u8>, width: usize, body: &[u8]) {
    out.extend_from_slice(&body.len().to_be_bytes()[8 - width..]);
    out.extend_from_slice(body);
}

fn ext_bytes(e: &Ext) -> Vec<u8> {
    let (ty, data) = match e {
        Ext::Sni(entries) => {
            let mut list = Vec::new();
            for (t, name) in entries {
                list.push(*t);
                put(&mut list, 2, name);
            }
            let mut d = Vec::new();
            put(&mut d, 2, &list);
            (0u16, d)
        }
        Ext::Alpn(protos) => {
            let mut list = Vec::new();
            for p in protos {
                put(&mut list, 1, p);
            }
            let mut d = Vec::new();
            put(&mut d, 2, &list);
            (16, d)
        }
        Ext::Grease(g) => (u16::from_be_bytes([g << 4 | 0xa, g << 4 | 0xa]), vec![]),
        Ext::Versions(v) => {
            let mut d = Vec::new();
            put(
                &mut d,
                1,
                &v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<_>>(),
            );
            (43, d)
        }
        Ext::Ech => (0xfe0d, vec![0, 0, 1, 0, 1, 3, 0, 0, 0, 0]),
        Ext::Unknown(t, d) => (*t, d.clone()),
    };
    let mut out = ty.to_be_bytes().to_vec();
    put(&mut out, 2, &data);
    out
}

impl Hello {
    fn bytes(&self) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend([0x33; 32]);
        put(&mut body, 1, &vec![9; self.session_id]);
        put(&mut body, 2, &self.suites);
        put(&mut body, 1, &self.compression);
        if let Some(exts) = &self.exts {
            let block: Vec<u8> = exts.iter().flat_map(ext_bytes).collect();
            put(&mut body, 2, &block);
            body.extend_from_slice(&self.junk_after_exts);
        }
        let mut hs = vec![1];
        put(&mut hs, 3, &body);
        let mut out = Vec::new();
        for chunk in hs.chunks(self.fragment.unwrap_or(1 << 14)) {
            out.extend([0x16, 3, 1]);
            put(&mut out, 2, chunk);
        }
        if let Some((at, v)) = self.mutation {
            let n = out.len();
            out[at % n] = v;
        }
        out
    }
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[a-zA-Z0-9-]{1,12}(\\.[a-zA-Z0-9_-]{1,12}){0,3}\\.?".prop_map(String::into_bytes),
        1 => "(25[0-5]|1?[0-9]?[0-9])(\\.(25[0-5]|1?[0-9]?[0-9])){3}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..20),
        1 => "[a-z]{1,5}[\\x00-\\x1f\\x7f. é]{1,2}[a-z]{1,5}".prop_map(String::into_bytes),
    ]
}

fn ext() -> impl Strategy<Value = Ext> {
    prop_oneof![
        6 => prop::collection::vec((prop_oneof![8 => Just(0u8), 1 => any::<u8>()], name()), 0..3).prop_map(Ext::Sni),
        2 => prop::collection::vec(prop::collection::vec(any::<u8>(), 0..6), 0..3).prop_map(Ext::Alpn),
        2 => (0u8..16).prop_map(Ext::Grease),
        1 => prop::collection::vec(any::<u16>(), 0..4).prop_map(Ext::Versions),
        1 => Just(Ext::Ech),
        2 => (100u16..2000, prop::collection::vec(any::<u8>(), 0..8)).prop_map(|(t, d)| Ext::Unknown(t, d)),
    ]
}

fn hello() -> impl Strategy<Value = Hello> {
    (
        prop_oneof![9 => Just(32usize), 1 => 0usize..40],
        prop_oneof![9 => Just(vec![0x13, 1, 0xc0, 0x2f]), 1 => prop::collection::vec(any::<u8>(), 0..5)],
        prop_oneof![9 => Just(vec![0u8]), 1 => prop::collection::vec(any::<u8>(), 0..2)],
        prop_oneof![9 => prop::collection::vec(ext(), 0..6).prop_map(Some), 1 => Just(None)],
        prop_oneof![9 => Just(vec![]), 1 => prop::collection::vec(any::<u8>(), 1..3)],
        prop_oneof![3 => Just(None), 1 => (1usize..80).prop_map(Some)],
        prop_oneof![4 => Just(None), 1 => (any::<usize>(), any::<u8>()).prop_map(Some)],
    )
        .prop_map(|(session_id, suites, compression, exts, junk_after_exts, fragment, mutation)| Hello {
            session_id,
            suites,
            compression,
            exts,
            junk_after_exts,
            fragment,
            mutation,
        })
}

/// The refusals tls-parser does not make (the strictness cases of `docs/inspect.md`).
fn is_documented_strictness(e: tls::Malformed) -> bool {
    use tls::Malformed::*;
    matches!(
        e,
        SessionIdTooLong
            | BadCipherSuites
            | EmptyCompression
            | ExtensionsLength
            | DuplicateExtension(_)
            | BadExtension(_)
            | EmptyServerNameList
            | EmptyServerName
            | DuplicateServerName
            | InvalidServerName(_)
            | EmptyAlpnList
            | EmptyAlpnProtocol
            | PskNotLast
            | TrailingData
    )
}

/// Compares both parsers on one buffer; returns which kind of agreement it was.
fn compare(buf: &[u8]) -> &'static str {
    let ours = tls::parse_client_hello(buf, &Limits::default());
    let theirs = tls_parser_sni(buf);
    let their_names = theirs.as_ref().ok().filter(|n| !n.is_empty());
    match (&ours, their_names) {
        (Outcome::Complete(h), Some(names)) => {
            assert_eq!(
                names.len(),
                1,
                "we accepted a hello with {} host_names",
                names.len()
            );
            let theirs = hostgate::normalize(&names[0]).expect("tls-parser's name normalizes");
            assert_eq!(
                h.server_name,
                Some(theirs),
                "both extracted, different names"
            );
            "same name"
        }
        (Outcome::Complete(h), None) => {
            // tls-parser cannot reassemble records.
            assert!(
                h.records > 1,
                "we found a name tls-parser did not: {theirs:?}"
            );
            "reassembled"
        }
        (Outcome::Malformed(e), Some(names)) => {
            assert!(
                is_documented_strictness(*e),
                "undocumented refusal {e:?} (tls-parser: {names:?})"
            );
            if let tls::Malformed::InvalidServerName(_) = e {
                // Either normalization also refuses it, or it is not printable ASCII.
                let raw = &names[0];
                assert!(
                    hostgate::normalize(raw).is_err()
                        || !raw.iter().all(|b| (0x21..=0x7e).contains(b)),
                    "refused a name normalize accepts: {raw:?}"
                );
            }
            "stricter"
        }
        (Outcome::NoName(_), Some(names)) => panic!("no name, but tls-parser found {names:?}"),
        (Outcome::NotThisProtocol, Some(_)) => {
            // tls-parser takes any record version; hostgate's TLS signature is 0x16 3.0-3.4.
            assert!(buf[1] != 3 || buf[2] > 4, "not TLS? {:?}", &buf[..3]);
            "stricter"
        }
        (Outcome::NeedMore { .. }, Some(names)) => {
            panic!("need-more, but tls-parser found {names:?}")
        }
        (_, None) => "neither",
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn tls_parser_agrees_or_we_are_stricter(h in hello()) {
        let buf = h.bytes();
        compare(&buf);
        // Never a name from a prefix.
        for cut in [buf.len() / 3, buf.len() / 2, buf.len().saturating_sub(1)] {
            let o = tls::parse_client_hello(&buf[..cut], &Limits::default());
            prop_assert!(o.name().is_none() || cut == buf.len());
        }
    }
}

#[test]
fn the_generator_reaches_every_kind_of_case() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..3000 {
        let h = hello().new_tree(&mut runner).unwrap().current();
        *seen.entry(compare(&h.bytes())).or_insert(0) += 1;
    }
    for kind in ["same name", "reassembled", "stricter", "neither"] {
        assert!(
            seen.get(kind).copied().unwrap_or(0) > 20,
            "{kind}: {seen:?}"
        );
    }
}
