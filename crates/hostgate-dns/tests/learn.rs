//! `answer_addresses` on answers built here byte by byte (uncompressed names): which A and AAAA
//! records count for a question, through CNAME chains; and the in-place walker against
//! hickory-proto's reading of random answers (compressed names, mixed case, other types and
//! classes, and those messages with bytes changed).

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

/// The addresses for `qname` by hickory-proto's reading of the message: the same rule
/// (answer records of class IN, owners reached from `qname` through CNAMEs), written
/// independently of the walker.
fn by_hickory(msg: &[u8], qname: &str) -> Option<Vec<(IpAddr, u32)>> {
    use hickory_proto::op::Message;
    use hickory_proto::rr::{DNSClass, RData};
    let plain = |n: &hickory_proto::rr::Name| {
        let s = n.to_ascii().to_ascii_lowercase();
        s.strip_suffix('.').map(str::to_string).unwrap_or(s)
    };
    let m = Message::from_vec(msg).ok()?;
    let records: Vec<_> = m
        .answers()
        .iter()
        .filter(|r| r.dns_class() == DNSClass::IN)
        .collect();
    let mut names = vec![qname.to_string()];
    loop {
        let before = names.len();
        for r in &records {
            if let RData::CNAME(t) = r.data() {
                if names.contains(&plain(r.name())) && !names.contains(&plain(&t.0)) {
                    names.push(plain(&t.0));
                }
            }
        }
        if names.len() == before {
            break;
        }
    }
    let mut out = Vec::new();
    for r in &records {
        let addr = match r.data() {
            RData::A(a) => IpAddr::V4(a.0),
            RData::AAAA(a) => IpAddr::V6(a.0),
            _ => continue,
        };
        if names.contains(&plain(r.name())) {
            out.push((addr, r.ttl()));
        }
    }
    Some(out)
}

/// xorshift64*: reproducible random messages without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A random answer to `a.test`: names from a small set (so that chains form), written in
/// full, in mixed case, or as a pointer to where an earlier name starts.
fn random_answer(rng: &mut Rng) -> Vec<u8> {
    const NAMES: [&str; 5] = ["a.test", "b.test", "c.b.test", "d.test", "other.example"];
    let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
    let mut at: Vec<(usize, usize)> = vec![(0, 12)]; // (name, offset) written so far
    m.extend_from_slice(&name("a.test"));
    m.extend_from_slice(&[0, 1, 0, 1]);
    let mut put_name = |m: &mut Vec<u8>, rng: &mut Rng| {
        let n = rng.below(NAMES.len());
        match at.iter().find(|&&(k, _)| k == n) {
            Some(&(_, off)) if rng.below(2) == 0 => {
                m.extend_from_slice(&[0xc0 | (off >> 8) as u8, off as u8])
            }
            _ => {
                at.push((n, m.len()));
                let text: String = NAMES[n]
                    .chars()
                    .map(|c| {
                        if rng.below(3) == 0 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect();
                m.extend_from_slice(&name(&text));
            }
        }
    };
    let count = rng.below(8);
    for _ in 0..count {
        put_name(&mut m, rng);
        let (rtype, class) = (
            [1u16, 28, 5, 5, 16][rng.below(5)],
            [1u16, 1, 1, 3][rng.below(4)],
        );
        m.extend_from_slice(&rtype.to_be_bytes());
        m.extend_from_slice(&class.to_be_bytes());
        m.extend_from_slice(&(rng.next() as u32 >> 8).to_be_bytes());
        let len_at = m.len();
        m.extend_from_slice(&[0, 0]);
        match rtype {
            1 => m.extend_from_slice(&(rng.next() as u32).to_be_bytes()),
            28 => m.extend_from_slice(&u128::from(rng.next() as u32).to_be_bytes()),
            5 => put_name(&mut m, rng),
            _ => m.extend_from_slice(b"\x03txt"),
        }
        let len = (m.len() - len_at - 2) as u16;
        m[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    }
    m[7] = count as u8;
    m
}

#[test]
fn the_walker_reads_answers_as_hickory_does() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut compared, mut with_addresses) = (0, 0);
    for round in 0..20_000 {
        let mut m = random_answer(&mut rng);
        // Every fourth message with a byte or two changed.
        if round % 4 == 3 {
            for _ in 0..1 + rng.below(2) {
                let i = rng.below(m.len());
                m[i] = rng.next() as u8;
            }
        }
        let mut mine = Vec::new();
        let walked = hostgate_dns::wire::answer_addresses(&m, "a.test", &mut mine);
        // Where hickory refuses the message (it is stricter about other types' data) there
        // is nothing to compare.
        if let Some(theirs) = by_hickory(&m, "a.test") {
            assert_eq!(walked, Ok(()), "hickory reads {m:?}, the walker does not");
            assert_eq!(mine, theirs, "addresses of {m:?}");
            compared += 1;
            with_addresses += usize::from(!theirs.is_empty());
        }
    }
    assert!(
        compared > 10_000 && with_addresses > 3_000,
        "{compared} {with_addresses}"
    );
}
