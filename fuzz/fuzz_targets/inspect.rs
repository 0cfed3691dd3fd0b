//! `inspect` / `inspect_with` / `Engine::inspect_check` on arbitrary bytes.
//!
//! Input: one mode byte, then the buffer. The mode's low bits pick the `Expect` (stream, tls,
//! http, dns-udp, dns-tcp); bit 7 asks for tight caps taken from the buffer's length. Checks: the
//! fields of an `Inspection` agree with each other and with the protocol's own parser, stream
//! detection follows the documented order, a decision is stable as bytes arrive, and the
//! verdict of `inspect_check` is the engine's verdict for the name (or a deny with no name).
#![no_main]

use std::sync::OnceLock;

use hostgate::inspect::{
    dns, http, inspect_with, tls, Expect, InspectError, Inspection, Limits, Outcome, Protocol,
    Status,
};
use hostgate::{Action, Engine, PolicyId, Reason, Via};
use hostgate_fuzz::{check_name, split_points};
use libfuzzer_sys::fuzz_target;

const POLICY: &str = "\
default deny
allow api.example port 443 via tls,connect id sni
allow **.example port 80-8080 via http
deny ~(ads|track)[0-9]*\\.example
allow .kadath.io via dns
allow 192.0.2.0/24
allow * port 853
";

fn engine() -> &'static (Engine, PolicyId) {
    static E: OnceLock<(Engine, PolicyId)> = OnceLock::new();
    E.get_or_init(|| {
        let e = Engine::compile(POLICY).expect("the fixed policy compiles");
        let p = e.policy("default").unwrap();
        (e, p)
    })
}

/// Everything an inspection says but `need` (a lower bound that may shrink as bytes arrive).
fn key(i: &Inspection<'_>) -> String {
    let alpn: Vec<Vec<u8>> = i.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    format!(
        "{:?} {:?} {:?} {:?} {:?} {:?} {} {:?} {:?}",
        i.protocol, i.status, i.name, i.port, i.via, alpn, i.ech, i.error, i.qtype
    )
}

fn check_fields(i: &Inspection<'_>) {
    assert_eq!(
        i.name.is_some(),
        i.status == Status::Complete,
        "a name exactly when complete: {i:?}"
    );
    if let Some(n) = &i.name {
        check_name("inspect", n);
    }
    assert_eq!(
        i.error.is_some(),
        i.status == Status::Malformed,
        "an error exactly when malformed: {i:?}"
    );
    if i.need.is_some() {
        assert_eq!(i.status, Status::NeedMore, "need outside need-more: {i:?}");
        assert!(i.need.unwrap() > 0, "need-more asks for 0 bytes");
    }
    match i.protocol {
        Protocol::Unknown => {
            assert!(
                matches!(i.status, Status::NeedMore | Status::Unrecognized),
                "unknown protocol with status {:?}",
                i.status
            );
            assert!(i.via.is_none());
        }
        Protocol::Tls => assert_eq!(i.via, Some(Via::Tls)),
        Protocol::Http => assert!(matches!(i.via, Some(Via::Http | Via::Connect))),
        Protocol::Dns => assert_eq!(i.via, Some(Via::Dns)),
        p => panic!("a protocol this target does not check yet: {p:?}"),
    }
    if i.status == Status::Unrecognized {
        assert_eq!(i.protocol, Protocol::Unknown);
    }
    if i.port.is_some() {
        assert_eq!(i.protocol, Protocol::Http, "a port outside HTTP");
    }
    if i.qtype.is_some() {
        assert_eq!(i.protocol, Protocol::Dns, "a qtype outside DNS");
    }
    if i.ech || !i.alpn.is_empty() {
        assert_eq!(i.protocol, Protocol::Tls, "ALPN/ECH outside TLS");
    }
    match i.error {
        Some(InspectError::Tls(_)) => assert_eq!(i.protocol, Protocol::Tls),
        Some(InspectError::Http(_)) => assert_eq!(i.protocol, Protocol::Http),
        Some(InspectError::Dns(_)) => assert_eq!(i.protocol, Protocol::Dns),
        Some(e) => panic!("an error this target does not check yet: {e:?}"),
        None => {}
    }
    // The JSON form is one line of printable ASCII.
    let json = i.to_json();
    assert!(
        json.bytes().all(|b| (0x20..0x7f).contains(&b)),
        "to_json emits a control or non-ASCII byte: {json:?}"
    );
}

/// The status the protocol's own parser gives, for the single-protocol modes.
fn parser_status(buf: &[u8], expect: Expect, limits: &Limits) -> Option<Status> {
    Some(match expect {
        Expect::Tls => tls::parse_client_hello(buf, limits).status(),
        Expect::Http => http::parse_request_head(buf, limits).status(),
        Expect::DnsUdp => dns::parse_query(buf, dns::Transport::Udp).status(),
        Expect::DnsTcp => dns::parse_query(buf, dns::Transport::Tcp).status(),
        Expect::Stream => return None,
        // This target only asks for the modes above.
        _ => return None,
    })
}

/// The detection order documented on `inspect`.
fn check_detection(buf: &[u8], i: &Inspection<'_>, limits: &Limits) {
    let Some(&first) = buf.first() else {
        assert_eq!(
            (i.protocol, i.status),
            (Protocol::Unknown, Status::NeedMore)
        );
        return;
    };
    let tls_says = tls::parse_client_hello(buf, limits);
    let http_says = http::parse_request_head(buf, limits);
    if (first == 0x16 || first & 0x80 != 0) && !matches!(tls_says, Outcome::NotThisProtocol) {
        assert_eq!(
            i.protocol,
            Protocol::Tls,
            "TLS first byte {first:#x}: {i:?}"
        );
        assert_eq!(i.status, tls_says.status());
    } else if first.is_ascii_uppercase() && !matches!(http_says, Outcome::NotThisProtocol) {
        assert_eq!(i.protocol, Protocol::Http, "uppercase first byte: {i:?}");
        assert_eq!(i.status, http_says.status());
    } else if i.protocol == Protocol::Dns {
        // Only a standard query whose declared length is at least 17 is taken for DNS.
        let len = u16::from_be_bytes([buf[0], buf.get(1).copied().unwrap_or(0)]);
        assert!(buf.len() >= 14 && len >= 17, "DNS detected on {buf:?}");
        assert_eq!(
            i.status,
            dns::parse_query(buf, dns::Transport::Tcp).status()
        );
    } else {
        assert_eq!(i.protocol, Protocol::Unknown, "{i:?}");
    }
}

fn check_verdict(i: &Inspection<'_>, port: Option<u16>) {
    let (engine, policy) = engine();
    let v = engine.verdict_for_inspection(*policy, i, port);
    match (i.status, &i.name) {
        (Status::Complete, Some(name)) => {
            let port = if i.protocol == Protocol::Dns {
                None
            } else {
                port.or(i.port)
            };
            assert_eq!(v, engine.check_name(*policy, name, port, i.via));
        }
        _ => {
            assert_eq!(v.action, Action::Deny, "allowed without a name: {i:?}");
            assert!(v.rule.is_none());
            let want = match i.error.and_then(|e| e.invalid_name()) {
                Some(_) => Reason::InvalidName,
                None => Reason::NoName,
            };
            assert_eq!(v.reason, want, "{i:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, buf)) = data.split_first() else {
        return;
    };
    let expect = match mode & 7 {
        0 | 5 => Expect::Stream,
        1 | 6 => Expect::Tls,
        2 | 7 => Expect::Http,
        3 => Expect::DnsUdp,
        _ => Expect::DnsTcp,
    };
    let limits = if mode & 0x80 != 0 {
        Limits {
            tls_hello: buf.len() / 2 + 4,
            http_head: buf.len() / 3 + 1,
        }
    } else {
        Limits::default()
    };

    let i = inspect_with(buf, expect, &limits);
    check_fields(&i);
    match parser_status(buf, expect, &limits) {
        Some(s) => assert_eq!(i.status, s, "{expect:?}: inspect and the parser disagree"),
        None => check_detection(buf, &i, &limits),
    }
    if expect == Expect::Stream && limits == Limits::default() {
        let (engine, policy) = engine();
        let (j, v) = engine.inspect_check(*policy, buf, None);
        assert_eq!(key(&i), key(&j), "inspect_check inspects like inspect");
        assert_eq!(v, engine.verdict_for_inspection(*policy, &j, None));
    }
    let port = (mode & 8 != 0).then_some(443);
    check_verdict(&i, port);

    // Incremental consistency: a decided prefix is the full buffer's answer (a UDP datagram is
    // never a prefix of anything).
    if expect != Expect::DnsUdp {
        let full = key(&i);
        for k in split_points(buf) {
            let p = inspect_with(&buf[..k], expect, &limits);
            check_fields(&p);
            if p.status != Status::NeedMore {
                assert_eq!(
                    key(&p),
                    full,
                    "{expect:?}: the prefix of {k} bytes decided differently from the full {} bytes",
                    buf.len()
                );
            } else {
                assert!(
                    k < buf.len() || i.status == Status::NeedMore,
                    "{expect:?}: need-more on the full buffer differs between calls"
                );
            }
        }
    }
});
