//! The DNS query parser on arbitrary bytes, over UDP and TCP: no panic, a name only when
//! complete and always LDH-normalized, TCP decisions stable as bytes arrive, and the same
//! message gives the same answer over UDP and framed for TCP.
#![no_main]

use hostgate::inspect::{dns, Outcome};
use hostgate_fuzz::{check_incremental, check_name, split_points};
use libfuzzer_sys::fuzz_target;

/// Status, name, type, class, id, error: everything but the length (which counts the TCP
/// prefix).
fn key(o: &Outcome<dns::Question, dns::Malformed>) -> String {
    match o {
        Outcome::Complete(q) | Outcome::NoName(Some(q)) => format!(
            "{:?} {:?} {} {} {}",
            o.status(),
            q.name,
            q.qtype,
            q.qclass,
            q.id
        ),
        Outcome::Malformed(e) => format!("malformed {e:?}"),
        other => format!("{other:?}"),
    }
}

fn check_one(what: &str, data: &[u8], o: &Outcome<dns::Question, dns::Malformed>) {
    match o {
        Outcome::Complete(q) => {
            let name = q.name.expect("complete without a name");
            check_name(what, &name);
            assert!(
                name.as_bytes()
                    .iter()
                    .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                    || name.ip().is_some(),
                "{what}: name {name:?} is not LDH"
            );
            assert!(q.len <= data.len());
        }
        Outcome::NoName(Some(q)) => {
            assert!(q.name.is_none() && q.len <= data.len());
        }
        Outcome::NoName(None) => panic!("{what}: no-name without details"),
        Outcome::NotThisProtocol => panic!("{what}: dns never says not-this-protocol"),
        Outcome::NeedMore { at_least } => {
            assert!(
                at_least.is_some_and(|n| n > 0),
                "{what}: need-more without a count"
            );
        }
        Outcome::Malformed(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let udp = dns::parse_query(data, dns::Transport::Udp);
    check_one("dns udp", data, &udp);
    assert!(
        !matches!(udp, Outcome::NeedMore { .. }),
        "a UDP datagram is whole: never need-more"
    );

    let tcp = dns::parse_query(data, dns::Transport::Tcp);
    check_one("dns tcp", data, &tcp);
    check_incremental(
        "dns tcp",
        data,
        &split_points(data),
        |b| dns::parse_query(b, dns::Transport::Tcp),
        |q| Some(q.len),
    );

    // The datagram, framed for TCP, gives the same answer.
    if let Ok(n) = u16::try_from(data.len()) {
        let mut framed = n.to_be_bytes().to_vec();
        framed.extend_from_slice(data);
        let t = dns::parse_query(&framed, dns::Transport::Tcp);
        assert_eq!(key(&t), key(&udp), "udp vs framed tcp");
        if let (Outcome::Complete(a), Outcome::Complete(b)) = (&udp, &t) {
            assert_eq!(a.len + 2, b.len);
        }
    }
});
