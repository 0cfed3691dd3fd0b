//! The QUIC entry points on the fixtures in `tests/quic` (which the first test checks are what
//! the core's packet builder makes; `HOSTGATE_WRITE_FIXTURES=1` rewrites them).

use std::mem::MaybeUninit;
use std::ptr;

use hostgate::inspect::quic::{testing, Version};
use hostgate::inspect::tls::testing as t;

use crate::quic::{
    hostgate_inspect_quic, hostgate_quic_caps, hostgate_quic_reassembler_check,
    hostgate_quic_reassembler_forget, hostgate_quic_reassembler_free,
    hostgate_quic_reassembler_len, hostgate_quic_reassembler_new, hostgate_quic_reassembler_push,
};
use crate::types::{
    hostgate_action, hostgate_inspection, hostgate_protocol, hostgate_reason, hostgate_result,
    hostgate_status, hostgate_verdict,
};
use crate::{hostgate_engine_compile, hostgate_engine_free};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/quic");
const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
const TWO_DCID: [u8; 8] = [0x5a; 8];

/// A hello too big for one datagram (a post-quantum-sized key share), as Chromium sends.
fn big_hello(name: &[u8]) -> Vec<u8> {
    let mut share = vec![0x04, 0xc4, 0x11, 0xec, 0x04, 0xc0];
    share.extend(std::iter::repeat_n(0x77, 1216));
    let mut ext = t::extension(51, &share);
    ext.extend(t::sni_extension(name));
    ext.extend(t::alpn_extension(&[b"h3"]));
    ext.extend(t::extension(43, &[2, 0x03, 0x04]));
    ext.extend(t::extension(0x39, &[0x01, 0x02, 0x40, 0x00]));
    testing::hello_with_extensions(&ext)
}

fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let one = |v, sni: &[u8]| {
        let hello = testing::client_hello(sni, &[b"h3"]);
        testing::initial(v, &DCID, 0, &testing::crypto_frame(0, &hello))
    };
    let big = big_hello(b"www.kadath.io");
    let (a, b) = big.split_at(1000);
    vec![
        ("v1-api.kadath.io.bin", one(Version::V1, b"api.kadath.io")),
        ("v2-ads.leng.com.bin", one(Version::V2, b"ads.leng.com")),
        (
            "two-www.kadath.io-1.bin",
            testing::initial(Version::V1, &TWO_DCID, 1, &testing::crypto_frame(0, a)),
        ),
        (
            "two-www.kadath.io-2.bin",
            testing::initial(Version::V1, &TWO_DCID, 2, &testing::crypto_frame(1000, b)),
        ),
    ]
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn fixtures_are_the_builders_packets() {
    for (name, bytes) in fixtures() {
        if std::env::var_os("HOSTGATE_WRITE_FIXTURES").is_some() {
            std::fs::write(format!("{DIR}/{name}"), &bytes).unwrap();
        }
        assert_eq!(
            read(name),
            bytes,
            "{name}: regenerate with HOSTGATE_WRITE_FIXTURES=1"
        );
    }
}

fn inspect_one(d: &[u8]) -> hostgate_inspection {
    let mut out = MaybeUninit::uninit();
    // SAFETY: `d` is `len` readable bytes; `out` is writable.
    let r = unsafe { hostgate_inspect_quic(d.as_ptr(), d.len(), out.as_mut_ptr()) };
    assert_eq!(r, hostgate_result::Ok);
    // SAFETY: written on OK.
    unsafe { out.assume_init() }
}

fn name(i: &hostgate_inspection) -> String {
    let bytes: Vec<u8> = i.name[..i.name_len as usize]
        .iter()
        .map(|&c| c as u8)
        .collect();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn one_datagram_is_named_and_a_split_hello_needs_more() {
    for (file, want) in [
        ("v1-api.kadath.io.bin", "api.kadath.io"),
        ("v2-ads.leng.com.bin", "ads.leng.com"),
    ] {
        let i = inspect_one(&read(file));
        assert_eq!(i.protocol, hostgate_protocol::Quic);
        assert_eq!(i.status, hostgate_status::Complete);
        assert_eq!(name(&i), want);
    }
    let i = inspect_one(&read("two-www.kadath.io-1.bin"));
    assert_eq!(i.status, hostgate_status::NeedMore);
    // A flipped byte fails authentication.
    let mut bad = read("v1-api.kadath.io.bin");
    bad[40] ^= 1;
    assert_eq!(inspect_one(&bad).status, hostgate_status::Malformed);
    // TLS over TCP is not a QUIC datagram.
    assert_eq!(
        inspect_one(b"\x16\x03\x01").status,
        hostgate_status::Unrecognized
    );
    // SAFETY: NULL with a length is refused, not read.
    let r = unsafe { hostgate_inspect_quic(ptr::null(), 3, MaybeUninit::uninit().as_mut_ptr()) };
    assert_eq!(r, hostgate_result::NullArgument);
}

#[test]
fn the_reassembler_joins_two_datagrams_and_checks_the_policy() {
    let policy = "allow www.kadath.io port 443 via tls id www\n";
    let mut engine = ptr::null_mut();
    // SAFETY: `policy` is `len` bytes; `engine` is writable.
    let r = unsafe {
        hostgate_engine_compile(
            policy.as_ptr().cast(),
            policy.len(),
            &mut engine,
            ptr::null_mut(),
        )
    };
    assert_eq!(r, hostgate_result::Ok);
    let caps = hostgate_quic_caps::default();
    let mut table = ptr::null_mut();
    // SAFETY: `caps` is readable; `table` is writable.
    let r = unsafe { hostgate_quic_reassembler_new(&caps, &mut table) };
    assert_eq!(r, hostgate_result::Ok);
    let check = |d: &[u8]| {
        let mut insp = MaybeUninit::<hostgate_inspection>::uninit();
        let mut v = MaybeUninit::<hostgate_verdict>::uninit();
        // SAFETY: `table` and `engine` are live; `d` is readable; both outs are writable.
        let r = unsafe {
            hostgate_quic_reassembler_check(
                table,
                engine,
                0,
                d.as_ptr(),
                d.len(),
                443,
                insp.as_mut_ptr(),
                v.as_mut_ptr(),
            )
        };
        assert_eq!(r, hostgate_result::Ok);
        // SAFETY: both written on OK.
        unsafe { (insp.assume_init(), v.assume_init()) }
    };
    let (i, v) = check(&read("two-www.kadath.io-1.bin"));
    assert_eq!(i.status, hostgate_status::NeedMore);
    assert_eq!(
        (v.action, v.reason),
        (hostgate_action::Deny, hostgate_reason::NoName)
    );
    // SAFETY: `table` is live.
    assert_eq!(unsafe { hostgate_quic_reassembler_len(table) }, 1);
    let (i, v) = check(&read("two-www.kadath.io-2.bin"));
    assert_eq!(i.status, hostgate_status::Complete);
    assert_eq!(name(&i), "www.kadath.io");
    assert_eq!(&i.alpn[..i.alpn_len as usize], b"\x02h3");
    assert_eq!(v.action, hostgate_action::Allow);
    assert_eq!(v.line, 1);
    // A one-datagram hello for a name the policy does not allow, through push.
    let d = read("v1-api.kadath.io.bin");
    let mut insp = MaybeUninit::<hostgate_inspection>::uninit();
    // SAFETY: as above.
    let r =
        unsafe { hostgate_quic_reassembler_push(table, d.as_ptr(), d.len(), insp.as_mut_ptr()) };
    assert_eq!(r, hostgate_result::Ok);
    // SAFETY: written on OK.
    assert_eq!(name(&unsafe { insp.assume_init() }), "api.kadath.io");
    let (_, v) = check(&d);
    assert_eq!(v.action, hostgate_action::Deny);
    // Forget the two-datagram flow by its connection ID.
    let mut found = false;
    // SAFETY: `table` is live; the DCID is readable; `found` is writable.
    unsafe {
        assert_eq!(
            hostgate_quic_reassembler_forget(table, TWO_DCID.as_ptr(), 8, &mut found),
            hostgate_result::Ok
        );
        assert!(found);
        assert_eq!(hostgate_quic_reassembler_len(table), 1);
        assert_eq!(hostgate_quic_reassembler_len(ptr::null()), 0);
        hostgate_quic_reassembler_free(table);
        hostgate_quic_reassembler_free(ptr::null_mut());
        hostgate_engine_free(engine);
    }
}
