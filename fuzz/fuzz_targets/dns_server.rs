//! The DNS server's message handling on arbitrary bytes: `Rules::decide` on a client message
//! (forward, answer here, or drop) and `learn::answer_addresses` on the same bytes as an
//! upstream's answer. Never a panic; a message is forwarded only when its name is one the
//! policy allows (checked here against the policy's meaning written out by hand, not by the
//! engine); every local answer is a response with the client's id; only a response or a
//! message shorter than a header is dropped.
//!
//! The first byte picks the client (even: the default policy, odd: the `strict` one) and the
//! deny response; the rest is the message.
#![no_main]

use std::net::IpAddr;
use std::sync::OnceLock;

use hostgate::PolicySource;
use hostgate_dns::learn::answer_addresses;
use hostgate_dns::wire::{self, Rcode};
use hostgate_dns::{ClientPolicy, Decision, DenyResponse, QueryLog, Rules, Transport};
use libfuzzer_sys::fuzz_target;

const POLICY: &str = "\
default deny
allow allowed.test
allow **.ok.test via dns
allow **.tls.test via tls
deny  bad.test

policy strict
default deny
allow only.strict.test
";

fn rules() -> &'static Rules {
    static R: OnceLock<Rules> = OnceLock::new();
    R.get_or_init(|| {
        let src = PolicySource::borrowed("fuzz.policy", POLICY.as_bytes());
        let strict: ClientPolicy = "10.0.0.0/8=strict".parse().unwrap();
        Rules::compile(&src, None, &[strict]).unwrap().0
    })
}

/// The policy's meaning, by hand.
fn allowed(strict: bool, name: &str) -> bool {
    if strict {
        name == "only.strict.test"
    } else {
        name == "allowed.test" || name.ends_with(".ok.test")
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, msg)) = data.split_first() else {
        return;
    };
    let strict = sel & 1 == 1;
    let client: IpAddr = if strict {
        [10, 1, 2, 3].into()
    } else {
        [127, 0, 0, 1].into()
    };
    let deny = match (sel >> 1) % 3 {
        0 => DenyResponse::Nxdomain,
        1 => DenyResponse::NoData,
        _ => DenyResponse::Refused,
    };
    let mut log = QueryLog::new("127.0.0.1:5300".parse().unwrap(), Transport::Udp);
    match rules().decide(msg, client, deny, &mut log) {
        Decision::Forward { id, name } => {
            let name = name.as_str();
            assert!(
                allowed(strict, name),
                "forwarded a name the policy denies: {name:?}"
            );
            assert_eq!(Some(id), wire::id(msg), "forward: not the client's id");
            assert_eq!(msg[2] & 0x80, 0, "forwarded a response");
            assert_eq!(log.verdict, "allow");
            assert_eq!(log.name.as_deref(), Some(name));
            // The response path on the same bytes: whatever they are, no panic, and only
            // addresses of a readable message.
            let _ = answer_addresses(msg, name);
        }
        Decision::Reply(r) => {
            assert!(r.len() >= wire::HEADER, "a reply shorter than a header");
            assert_eq!(r[..2], msg[..2], "reply: not the client's id");
            assert_ne!(r[2] & 0x80, 0, "reply without QR");
            let rc = wire::rcode(&r).unwrap();
            let expected = [
                Rcode::FormErr,
                Rcode::NotImp,
                match deny {
                    DenyResponse::Nxdomain => Rcode::NxDomain,
                    DenyResponse::NoData => Rcode::NoError,
                    DenyResponse::Refused => Rcode::Refused,
                },
            ];
            assert!(expected.contains(&rc), "reply with {rc:?}");
            if let Some(name) = &log.name {
                assert_ne!(log.verdict, "allow", "allowed {name:?} answered locally");
            }
            // A local answer to a whole question echoes it.
            if r.len() > wire::HEADER {
                assert!(
                    wire::answers(&r, msg),
                    "the reply does not answer the query"
                );
            }
        }
        Decision::Drop => {
            assert!(
                msg.len() < wire::HEADER || msg[2] & 0x80 != 0,
                "dropped a query with a readable header"
            );
        }
    }
    // The response path on arbitrary bytes, for a few names.
    for name in ["allowed.test", "a.ok.test", ""] {
        let _ = answer_addresses(msg, name);
    }
});
