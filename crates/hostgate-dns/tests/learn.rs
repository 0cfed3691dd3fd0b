//! `answer_addresses` on answers built here byte by byte (uncompressed names): which A and AAAA
//! records count for a question, through CNAME chains.

use std::net::IpAddr;

use hostgate_dns::learn::{answer_addresses, Learned};

fn name(n: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in n.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

enum Rr<'a> {
    A(&'a str, [u8; 4], u32),
    Aaaa(&'a str, &'a str, u32),
    Cname(&'a str, &'a str),
    /// An A record of class CH.
    ChaosA(&'a str, [u8; 4]),
}

fn answer(qname: &str, qtype: u16, records: &[Rr]) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1];
    m.extend_from_slice(&(records.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&name(qname));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    for r in records {
        let (owner, rtype, class, ttl, rdata) = match r {
            Rr::A(o, a, ttl) => (o, 1u16, 1u16, *ttl, a.to_vec()),
            Rr::Aaaa(o, a, ttl) => (
                o,
                28,
                1,
                *ttl,
                a.parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec(),
            ),
            Rr::Cname(o, t) => (o, 5, 1, 300, name(t)),
            Rr::ChaosA(o, a) => (o, 1, 3, 300, a.to_vec()),
        };
        m.extend_from_slice(&name(owner));
        m.extend_from_slice(&rtype.to_be_bytes());
        m.extend_from_slice(&class.to_be_bytes());
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(&rdata);
    }
    m
}

fn got(msg: &[u8], qname: &str) -> Vec<(String, u32)> {
    answer_addresses(msg, qname)
        .unwrap()
        .into_iter()
        .map(|Learned { addr, ttl }| (addr.to_string(), ttl))
        .collect()
}

fn pairs(p: &[(&str, u32)]) -> Vec<(String, u32)> {
    p.iter().map(|&(a, t)| (a.to_string(), t)).collect()
}

#[test]
fn direct_records_of_the_question_name_count_with_their_ttls() {
    let m = answer(
        "www.example.test",
        1,
        &[
            Rr::A("www.example.test", [192, 0, 2, 1], 30),
            Rr::A("WWW.Example.TEST", [192, 0, 2, 2], 0),
        ],
    );
    assert_eq!(
        got(&m, "www.example.test"),
        pairs(&[("192.0.2.1", 30), ("192.0.2.2", 0)])
    );
}

#[test]
fn a_cname_chain_is_followed_in_any_order_and_other_owners_are_ignored() {
    // Chain a -> b -> c given out of order, plus records of names nobody asked about.
    let m = answer(
        "a.test",
        1,
        &[
            Rr::A("c.test", [192, 0, 2, 3], 40),
            Rr::Cname("b.test", "c.test"),
            Rr::A("unrelated.test", [198, 51, 100, 9], 40),
            Rr::Cname("a.test", "b.test"),
            Rr::Aaaa("c.test", "2001:db8::3", 50),
            Rr::Cname("x.test", "a.test"),
            Rr::A("x.test", [198, 51, 100, 10], 40),
        ],
    );
    assert_eq!(
        got(&m, "a.test"),
        pairs(&[("192.0.2.3", 40), ("2001:db8::3", 50)])
    );
}

#[test]
fn a_cname_loop_ends() {
    let m = answer(
        "a.test",
        1,
        &[
            Rr::Cname("a.test", "b.test"),
            Rr::Cname("b.test", "a.test"),
            Rr::A("b.test", [192, 0, 2, 4], 10),
        ],
    );
    assert_eq!(got(&m, "a.test"), pairs(&[("192.0.2.4", 10)]));
}

#[test]
fn other_classes_and_empty_answers_give_nothing() {
    let m = answer("a.test", 1, &[Rr::ChaosA("a.test", [192, 0, 2, 5])]);
    assert!(got(&m, "a.test").is_empty());
    let m = answer("a.test", 1, &[]);
    assert!(got(&m, "a.test").is_empty());
}

#[test]
fn unreadable_answers_are_errors_not_panics() {
    let m = answer("a.test", 1, &[Rr::A("a.test", [192, 0, 2, 1], 30)]);
    for cut in 0..m.len() {
        let _ = answer_addresses(&m[..cut], "a.test");
    }
    assert!(answer_addresses(&m[..m.len() - 2], "a.test").is_err());
    let mut bad = m.clone();
    bad[7] = 9; // ANCOUNT 9, one record there
    assert!(answer_addresses(&bad, "a.test").is_err());
    let ok: Vec<IpAddr> = answer_addresses(&m, "a.test")
        .unwrap()
        .iter()
        .map(|l| l.addr)
        .collect();
    assert_eq!(ok, vec!["192.0.2.1".parse::<IpAddr>().unwrap()]);
}
