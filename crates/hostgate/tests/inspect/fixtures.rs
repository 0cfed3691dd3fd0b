//! The captured real-client fixtures: the full buffer gives what the client was told to send;
//! every prefix gives need-more (never a name); tls-parser agrees on every SNI it can read.

use crate::common::{fixtures, tls_parser_sni, Fixture};
use hostgate::inspect::{
    dns, http, inspect, inspect_with, tls, Expect, Inspection, Limits, Outcome, Protocol, Status,
};
use hostgate::Via;

fn inspect_fixture<'a>(f: &Fixture, buf: &'a [u8]) -> Inspection<'a> {
    if f.is_udp() {
        inspect_with(buf, Expect::DnsUdp, &Limits::default())
    } else {
        inspect(buf)
    }
}

fn check_expected(f: &Fixture, i: &Inspection<'_>) {
    let n = &f.name;
    assert_eq!(i.protocol.as_str(), f.protocol(), "{n}: protocol");
    assert_eq!(
        i.status.as_str(),
        f.get("status").unwrap(),
        "{n}: status ({:?})",
        i.error
    );
    match f.get("name") {
        Some(name) => assert_eq!(i.name.map(|x| x.to_string()).as_deref(), Some(name), "{n}"),
        None => assert!(i.name.is_none(), "{n}: no name expected"),
    }
    if let Some(kind) = f.get("kind") {
        let got = if i.name.unwrap().ip().is_some() {
            "ip"
        } else {
            "name"
        };
        assert_eq!(got, kind, "{n}: kind");
    }
    let via: Via = f.get("via").unwrap().parse().unwrap();
    assert_eq!(i.via, Some(via), "{n}: via");
    if let Some(port) = f.get("port") {
        let want = if port.is_empty() {
            None
        } else {
            Some(port.parse::<u16>().unwrap())
        };
        assert_eq!(i.port, want, "{n}: port");
    }
    if let Some(alpn) = f.get("alpn") {
        let got: Vec<String> = i.alpn.iter().map(|p| p.to_string()).collect();
        let want: Vec<&str> = if alpn.is_empty() {
            vec![]
        } else {
            alpn.split(',').collect()
        };
        assert_eq!(got, want, "{n}: alpn");
    }
    if let Some(ech) = f.get("ech") {
        assert_eq!(i.ech.to_string(), ech, "{n}: ech");
    }
    if let Some(qtype) = f.get("qtype") {
        assert_eq!(i.qtype, Some(qtype.parse().unwrap()), "{n}: qtype");
    }
}

#[test]
fn full_buffers_give_the_expected_result() {
    for f in fixtures() {
        let i = inspect_fixture(&f, &f.bytes);
        check_expected(&f, &i);
    }
}

#[test]
fn fixtures_cover_openssl_curl_and_python() {
    let names: Vec<String> = fixtures().into_iter().map(|f| f.name).collect();
    for want in [
        "tls-openssl-plain",
        "tls-openssl-alpn",
        "tls-openssl-tls12",
        "tls-openssl-noservername",
        "tls-openssl-ip",
        "tls-openssl-fragmented",
        "tls-curl",
        "tls-python",
        "http-curl-origin",
        "http-curl-absolute",
        "http-curl-connect",
        "http-python",
    ] {
        assert!(names.iter().any(|n| n == want), "missing fixture {want}");
    }
}

#[test]
fn the_fragmented_hello_spans_records() {
    let f = fixtures()
        .into_iter()
        .find(|f| f.name == "tls-openssl-fragmented")
        .unwrap();
    let Outcome::Complete(h) = tls::parse_client_hello(&f.bytes, &Limits::default()) else {
        panic!()
    };
    assert!(h.records > 1, "{} records", h.records);
    assert_eq!(h.len, f.bytes.len());
}

#[test]
fn every_prefix_is_need_more_never_a_name() {
    let limits = Limits::default();
    for f in fixtures() {
        for cut in 0..f.bytes.len() {
            let prefix = &f.bytes[..cut];
            let n = format!("{} [..{cut}]", f.name);
            match f.protocol() {
                "tls" => {
                    let o = tls::parse_client_hello(prefix, &limits);
                    assert!(matches!(o, Outcome::NeedMore { .. }), "{n}: {o:?}");
                    let i = inspect(prefix);
                    assert_eq!(i.status, Status::NeedMore, "{n}");
                    assert!(cut == 0 || i.protocol == Protocol::Tls, "{n}");
                }
                "http" => {
                    let o = http::parse_request_head(prefix, &limits);
                    assert!(matches!(o, Outcome::NeedMore { .. }), "{n}: {o:?}");
                    assert_eq!(inspect(prefix).status, Status::NeedMore, "{n}");
                }
                "dns" if f.is_udp() => {
                    // A datagram is whole: a cut one is malformed, never a name. Framed for
                    // TCP, the same prefix is need-more.
                    let o = dns::parse_query(prefix, dns::Transport::Udp);
                    assert!(matches!(o, Outcome::Malformed(_)), "{n}: {o:?}");
                    let mut framed = (f.bytes.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(prefix);
                    for c in 0..framed.len() {
                        let o = dns::parse_query(&framed[..c], dns::Transport::Tcp);
                        assert!(
                            matches!(o, Outcome::NeedMore { .. }),
                            "{n} framed[..{c}]: {o:?}"
                        );
                        assert_eq!(inspect(&framed[..c]).status, Status::NeedMore, "{n}");
                    }
                }
                "dns" => {
                    let o = dns::parse_query(prefix, dns::Transport::Tcp);
                    assert!(matches!(o, Outcome::NeedMore { .. }), "{n}: {o:?}");
                    assert_eq!(inspect(prefix).status, Status::NeedMore, "{n}");
                }
                p => panic!("unknown protocol {p}"),
            }
        }
    }
}

#[test]
fn need_more_lower_bounds_are_never_too_high() {
    // `at_least` must never ask for more bytes than the full fixture still has.
    for f in fixtures().into_iter().filter(|f| !f.is_udp()) {
        for cut in 0..f.bytes.len() {
            let i = inspect(&f.bytes[..cut]);
            if let Some(need) = i.need {
                assert!(
                    cut + need <= f.bytes.len(),
                    "{} [..{cut}] asks for {need}",
                    f.name
                );
            }
        }
    }
}

#[test]
fn udp_fixtures_also_parse_framed_for_tcp() {
    for f in fixtures().into_iter().filter(|f| f.is_udp()) {
        let mut framed = (f.bytes.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&f.bytes);
        let i = inspect(&framed);
        check_expected(&f, &i);
    }
}

#[test]
fn tls_parser_agrees_on_every_fixture_sni() {
    for f in fixtures().into_iter().filter(|f| f.protocol() == "tls") {
        let ours = tls::parse_client_hello(&f.bytes, &Limits::default());
        let theirs = tls_parser_sni(&f.bytes);
        match (&ours, &theirs) {
            (Outcome::Complete(h), Ok(names)) => {
                assert_eq!(names.len(), 1, "{}", f.name);
                let theirs = hostgate::normalize(&names[0]).unwrap();
                assert_eq!(h.server_name, Some(theirs), "{}", f.name);
            }
            (Outcome::NoName(Some(_)), Ok(names)) => assert!(names.is_empty(), "{}", f.name),
            // tls-parser cannot reassemble a hello split over records: the documented gap.
            (Outcome::Complete(h), Err(_)) => assert!(h.records > 1, "{}: {theirs:?}", f.name),
            _ => panic!("{}: ours {ours:?}, tls-parser {theirs:?}", f.name),
        }
    }
}
