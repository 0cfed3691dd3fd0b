//! QUIC Initials: raw datagrams, and datagrams protected by the test builder that carry a
//! hello in fuzzer-chosen CRYPTO pieces, fed to `parse_datagram` and a `Reassembler`. No panic;
//! a name only once every byte of the hello has arrived in an authenticated packet, and then
//! the hello's own name; no answer changes after it is given.
#![no_main]

use std::time::{Duration, Instant};

use arbitrary::{Result, Unstructured};
use hostgate::inspect::quic::{self, testing, Caps, Malformed, Reassembler, Version};
use hostgate::inspect::{tls, Limits, Outcome};
use hostgate_fuzz::check_name;
use libfuzzer_sys::fuzz_target;

fn key(o: &Outcome<tls::ClientHello<'_>, Malformed>) -> String {
    match o {
        Outcome::Complete(h) => format!("complete {:?}", h.server_name),
        Outcome::NoName(_) => "no-name".into(),
        Outcome::Malformed(e) => format!("malformed {e:?}"),
        Outcome::NeedMore { .. } => "need-more".into(),
        Outcome::NotThisProtocol => "not-this".into(),
    }
}

/// Raw bytes: datagrams cut by one length byte each (times 8), to one table and one by one.
fn raw(data: &[u8]) {
    let mut table = Reassembler::new(Limits::default(), Caps::default());
    let t0 = Instant::now();
    let mut rest = data;
    while let Some((&n, r)) = rest.split_first() {
        let (d, r) = r.split_at(r.len().min(usize::from(n) * 8));
        rest = r;
        let mut scratch = Vec::new();
        if let Outcome::Complete(h) = quic::parse_datagram(d, &mut scratch, &Limits::default()) {
            check_name(
                "quic datagram",
                &h.server_name.expect("complete without a name"),
            );
        }
        if let Outcome::Complete(h) = table.push(d, t0) {
            check_name(
                "quic table",
                &h.server_name.expect("complete without a name"),
            );
        }
    }
}

/// A hello for a fuzzer-chosen name, cut into fuzzer-chosen pieces, sent in several
/// datagrams, with a chance of a flipped byte or a conflicting piece.
fn structured(u: &mut Unstructured<'_>) -> Result<()> {
    let version = if u.arbitrary()? {
        Version::V1
    } else {
        Version::V2
    };
    let name: Vec<u8> = (0..u.int_in_range(1..=40)?)
        .map(|_| Ok(b"abcz.-0A"[usize::from(u.int_in_range(0..=7u8)?)]))
        .collect::<Result<_>>()?;
    // Optionally a large extension, so the hello needs more than one datagram.
    let big = vec![0x61; u.int_in_range(0..=2000)?];
    let hello = {
        use hostgate::inspect::tls::testing as t;
        let mut ext = t::sni_extension(&name);
        ext.extend(t::extension(43, &[2, 0x03, 0x04]));
        ext.extend(t::extension(0x39, &[]));
        ext.extend(t::extension(0x1234, &big));
        testing::hello_with_extensions(&ext)
    };
    let n = hello.len();
    let dcid: Vec<u8> = vec![u.arbitrary()?; u.int_in_range(8..=20)?];
    let mut covered = vec![false; n];
    let mut table = Reassembler::new(Limits::default(), Caps::default());
    let t0 = Instant::now();
    let mut answer: Option<String> = None;
    let mut any_forged = false;
    for k in 0..u.int_in_range(1..=6u64)? {
        let mut payload = Vec::new();
        let mut pieces = Vec::new();
        for _ in 0..u.int_in_range(1..=4)? {
            let from = u.int_in_range(0..=n - 1)?;
            let to = u.int_in_range(from + 1..=n.min(from + 900))?;
            let mut bytes = hello[from..to].to_vec();
            let forged = u.ratio(1, 16)?;
            if forged {
                bytes[0] ^= 1;
            }
            payload.extend(testing::crypto_frame(from as u64, &bytes));
            pieces.push((from, to, forged));
        }
        if payload.len() > 1100 {
            continue;
        }
        let mut d = testing::initial(version, &dcid, k, &payload);
        let flip = u.ratio(1, 16)?;
        if flip {
            let i = u.int_in_range(0..=d.len() - 1)?;
            d[i] ^= 1 << u.int_in_range(0..=7u8)?;
        }
        let at = t0 + Duration::from_millis(u.int_in_range(0..=100)?);
        let o = table.push(&d, at);
        let now = key(&o);
        if flip {
            // An altered datagram contributes nothing: it fails authentication, or its header
            // no longer names this flow. It may refuse the flow, never name it.
            assert!(
                !matches!(o, Outcome::Complete(_)) || answer.is_some(),
                "a name from an altered datagram"
            );
            continue;
        }
        if let Some(before) = &answer {
            assert_eq!(&now, before, "an answer changed");
            continue;
        }
        for &(from, to, forged) in &pieces {
            covered[from..to].iter_mut().for_each(|c| *c = true);
            any_forged |= forged;
        }
        if let Outcome::Complete(h) = &o {
            assert!(
                covered.iter().all(|&c| c),
                "a name before the hello was whole"
            );
            let got = h.server_name.expect("complete without a name");
            check_name("quic reassembled", &got);
            if !any_forged {
                let want = hostgate::normalize(std::str::from_utf8(&name).unwrap_or(""));
                assert_eq!(Some(got), want.ok(), "not the hello's name");
            }
        }
        if !matches!(o, Outcome::NeedMore { .. }) {
            answer = Some(now);
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    raw(data);
    let _ = structured(&mut Unstructured::new(data));
});
