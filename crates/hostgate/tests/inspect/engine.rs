//! `Engine::inspect_check`: one call from bytes to verdict, with the source following the
//! protocol and every failure denied.

use hostgate::inspect::{dns, inspect_with, tls, Expect, Limits, Status};
use hostgate::{Action, Engine, Reason, Via};

fn engine() -> Engine {
    Engine::compile(
        "default deny\n\
         allow example.com via tls\n\
         allow tunnel.example.com port 443 via connect\n\
         allow **.example.com port 80 via http\n\
         allow api.example.org via http\n\
         allow .example.org via dns\n\
         allow 192.0.2.0/24 via tls\n",
    )
    .expect("policy compiles")
}

#[test]
fn fixtures_get_the_verdict_their_source_allows() {
    let e = engine();
    let p = e.policy("default").unwrap();
    for f in crate::common::fixtures() {
        let (i, v) = if f.is_udp() {
            let i = inspect_with(&f.bytes, Expect::DnsUdp, &Limits::default());
            let v = e.verdict_for_inspection(p, &i, None);
            (i, v)
        } else {
            e.inspect_check(p, &f.bytes, None)
        };
        let want = match f.name.as_str() {
            "tls-openssl-plain" | "tls-chromium" | "tls-openssl-ip" => Action::Allow,
            "http-curl-connect" | "http-curl-absolute" | "http-python" => Action::Allow,
            "dns-dig-tcp-aaaa" => Action::Allow,
            _ => Action::Deny,
        };
        assert_eq!(v.action, want, "{}: {:?} {:?}", f.name, i.name, v);
        if i.status != Status::Complete {
            assert_eq!(v.reason, Reason::NoName, "{}", f.name);
        }
    }
}

#[test]
fn the_source_follows_the_protocol() {
    let e = Engine::compile("allow a.example via connect\n").unwrap();
    let p = e.policy("default").unwrap();
    let connect = b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n";
    assert!(e.inspect_check(p, connect, None).1.is_allow());
    // The same name by Host or SNI is not a CONNECT.
    let get = b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
    assert!(!e.inspect_check(p, get, None).1.is_allow());
    let hello = tls::testing::client_hello_with_sni(b"a.example");
    let (i, v) = e.inspect_check(p, &hello, Some(443));
    assert_eq!((i.via, v.action), (Some(Via::Tls), Action::Deny));
}

#[test]
fn the_callers_port_wins_over_the_requests() {
    let e = Engine::compile("allow a.example port 8080\n").unwrap();
    let p = e.policy("default").unwrap();
    let req = b"GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n";
    assert!(e.inspect_check(p, req, None).1.is_allow());
    assert!(!e.inspect_check(p, req, Some(80)).1.is_allow());
    // A DNS question has no port, whatever the caller says.
    let e = Engine::compile("deny a.example port 53\nallow a.example\n").unwrap();
    let p = e.policy("default").unwrap();
    let q = dns::testing::query(1, b"a.example", 1);
    let i = inspect_with(&q, Expect::DnsUdp, &Limits::default());
    assert!(e.verdict_for_inspection(p, &i, Some(53)).is_allow());
}

#[test]
fn failures_are_denied_with_the_right_reason() {
    let e = Engine::compile("default allow\n").unwrap();
    let p = e.policy("default").unwrap();
    let hello = tls::testing::client_hello_with_sni(b"a.example");
    let cases: [(&[u8], Reason); 7] = [
        (&hello[..40], Reason::NoName), // need-more
        (
            &tls::testing::client_hello(None, &[b"h2"], false),
            Reason::NoName,
        ), // no SNI
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            Reason::NoName,
        ), // malformed
        (b"\x00\x01\x02garbage-garbage", Reason::NoName), // unrecognized
        (b"GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", Reason::InvalidName),
        (
            &tls::testing::client_hello_with_sni(b"a\0b"),
            Reason::InvalidName,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", Reason::NoName),
    ];
    for (buf, reason) in cases {
        let (i, v) = e.inspect_check(p, buf, Some(443));
        assert_eq!(
            (v.action, v.reason),
            (Action::Deny, reason),
            "{buf:?} {i:?}"
        );
    }
    // The same name, complete, is allowed by this policy.
    assert!(e.inspect_check(p, &hello, Some(443)).1.is_allow());
}
