//! Parser benches: SNI extraction on the captured real ClientHellos, hostgate vs tls-parser
//! (parse + find SNI); HTTP Host extraction, hostgate vs httparse + header scan; QUIC Initial
//! datagrams, hostgate's decode + parse vs the bare AES-128-GCM decryption and header-protection
//! mask of the same packet (the floor: the crypto every reader must do). Both sides run
//! in the same process, and a ratio is printed at the end (timings drift between runs; ratios
//! much less). hostgate's side also validates and normalizes the name, the baselines do not.
//!
//! Fixtures: `crates/hostgate/tests/fixtures/` (re-capture with `scripts/capture-fixtures.sh`).
//! Run: `cargo bench -p hostgate-benches --bench parsers`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aes::cipher::{BlockEncrypt, KeyInit};
use aes_gcm::aead::AeadInPlace;
use criterion::Criterion;
use hostgate::inspect::quic::{self, Secrets, Version};
use hostgate::inspect::{http, tls, Limits};

fn fixtures(prefix: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/hostgate/tests/fixtures");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// hostgate: the SNI's length (0 when none), so the work cannot be optimized away.
fn ours_sni(buf: &[u8], limits: &Limits) -> usize {
    tls::parse_client_hello(buf, limits)
        .name()
        .map_or(0, |n| n.as_bytes().len())
}

/// tls-parser: parse the record, the hello, its extensions, and find the host_name.
fn tls_parser_sni(buf: &[u8]) -> usize {
    use tls_parser::{
        parse_tls_client_hello_extensions, parse_tls_plaintext, SNIType, TlsExtension, TlsMessage,
        TlsMessageHandshake,
    };
    let Ok((_, record)) = parse_tls_plaintext(buf) else {
        return 0;
    };
    for msg in &record.msg {
        if let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) = msg {
            let Some(Ok((_, exts))) = ch.ext.map(parse_tls_client_hello_extensions) else {
                return 0;
            };
            for e in exts {
                if let TlsExtension::SNI(list) = e {
                    for (t, name) in list {
                        if t == SNIType::HostName {
                            return name.len();
                        }
                    }
                }
            }
        }
    }
    0
}

fn ours_host(buf: &[u8], limits: &Limits) -> usize {
    http::parse_request_head(buf, limits)
        .name()
        .map_or(0, |n| n.as_bytes().len())
}

/// httparse: parse the head, then scan the headers for Host (absolute-form: the target).
fn httparse_host(buf: &[u8]) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return 0,
    }
    let host = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
        .map(|h| h.value.len());
    host.unwrap_or(0)
}

/// httparse + header scan + hostgate's normalization of the Host: the share of the gap that is
/// normalization (which the first baseline skips).
fn httparse_host_normalized(buf: &[u8]) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return 0,
    }
    let Some(h) = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
    else {
        return 0;
    };
    let host = match h.value.iter().rposition(|&b| b == b':') {
        Some(colon) => &h.value[..colon],
        None => h.value,
    };
    hostgate::normalize(host).map_or(0, |n| n.as_bytes().len())
}

/// The QUIC datagrams of `tests/quic`: (name, bytes).
fn quic_fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/quic");
    ["v1-api.kadath.io", "v2-ads.leng.com"]
        .iter()
        .map(|n| {
            let path = dir.join(format!("{n}.bin"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (n.to_string(), bytes)
        })
        .collect()
}

/// hostgate: one datagram carrying a whole hello, decoded and parsed (keys derived from its
/// connection ID, as for any new flow); the SNI's length.
fn ours_quic(d: &[u8], scratch: &mut Vec<u8>, limits: &Limits) -> usize {
    quic::parse_datagram(d, scratch, limits)
        .name()
        .map_or(0, |n| n.as_str().len())
}

/// A QUIC variable-length integer at `at`: (value, bytes).
fn varint(d: &[u8], at: usize) -> (usize, usize) {
    let len = 1 << (d[at] >> 6);
    let mut v = usize::from(d[at] & 0x3f);
    for b in &d[at + 1..at + len] {
        v = v << 8 | usize::from(*b);
    }
    (v, len)
}

/// The floor: what any reader of the packet must do with its keys — the header-protection mask
/// (one AES block), then AES-128-GCM decryption and authentication of the payload in a copy.
/// `keys`: derive the Initial secrets and set the ciphers up too (a new flow's cost). Returns
/// the plaintext length (0 when authentication fails).
fn floor_quic(d: &[u8], work: &mut Vec<u8>, keys: Option<&(Secrets, Version)>) -> usize {
    let dcid_len = usize::from(d[5]);
    let dcid = &d[6..6 + dcid_len];
    let version = if d[1..5] == [0, 0, 0, 1] {
        Version::V1
    } else {
        Version::V2
    };
    let derived;
    let s = match keys {
        Some((s, _)) => s,
        None => {
            derived = Secrets::client_initial(version, dcid);
            &derived
        }
    };
    let mut at = 6 + dcid_len;
    at += 1 + usize::from(d[at]); // source connection ID
    let (token, n) = varint(d, at);
    at += n + token;
    let (length, n) = varint(d, at);
    let pn_offset = at + n;
    let hp = aes::Aes128Enc::new(&s.hp.into());
    let mut block = aes::Block::clone_from_slice(&d[pn_offset + 4..pn_offset + 20]);
    hp.encrypt_block(&mut block);
    work.clear();
    work.extend_from_slice(&d[..pn_offset + length]);
    let long = work[0] & 0x80 != 0;
    work[0] ^= block[0] & if long { 0x0f } else { 0x1f };
    let pn_len = usize::from(work[0] & 3) + 1;
    let mut nonce = s.iv;
    for i in 0..pn_len {
        work[pn_offset + i] ^= block[1 + i];
        nonce[12 - pn_len + i] ^= work[pn_offset + i];
    }
    let (header, rest) = work.split_at_mut(pn_offset + pn_len);
    let (body, tag) = rest.split_at_mut(rest.len() - 16);
    let aead = aes_gcm::AesGcm::<aes::Aes128Enc, aes_gcm::aead::consts::U12>::new(&s.key.into());
    match aead.decrypt_in_place_detached(
        (&nonce).into(),
        header,
        body,
        aes_gcm::Tag::from_slice(tag),
    ) {
        Ok(()) => body.len(),
        Err(_) => 0,
    }
}

/// This thread's on-CPU time in nanoseconds (`/proc/thread-self/schedstat`), so time stolen
/// by other load on the shared cores does not count; `None` where it is not available.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Nanoseconds (on-CPU when available, else wall) per pass over `inputs`, for about `budget`.
fn time_per_pass(inputs: &[Vec<u8>], budget: Duration, f: &dyn Fn(&[u8]) -> usize) -> f64 {
    let mut passes = 0u64;
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    while start.elapsed() < budget {
        for _ in 0..32 {
            for b in inputs {
                black_box(f(black_box(b)));
            }
        }
        passes += 32;
    }
    let wall = start.elapsed().as_nanos() as f64;
    let spent = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => (b - a) as f64,
        _ => wall,
    };
    spent / passes as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Alternates the two sides in short slices and reports the median of each, then the ratio.
fn ratio(
    label: &str,
    inputs: &[Vec<u8>],
    ours: &dyn Fn(&[u8]) -> usize,
    base: &dyn Fn(&[u8]) -> usize,
) {
    let (mut o, mut b) = (Vec::new(), Vec::new());
    for _ in 0..21 {
        o.push(time_per_pass(inputs, Duration::from_millis(40), ours));
        b.push(time_per_pass(inputs, Duration::from_millis(40), base));
    }
    let (o, b) = (median(o), median(b));
    let n = inputs.len() as f64;
    println!(
        "{label}: hostgate {:.0} ns/input, baseline {:.0} ns/input: hostgate is {:.1}x faster",
        o / n,
        b / n,
        b / o
    );
}

fn main() {
    let limits = Limits::default();
    // Only the hellos tls-parser can read (it cannot reassemble the fragmented one), so both
    // sides do the same job.
    let hellos: Vec<(String, Vec<u8>)> = fixtures("tls-")
        .into_iter()
        .filter(|(_, b)| tls_parser_sni(b) > 0)
        .collect();
    let heads = fixtures("http-");
    assert!(!hellos.is_empty() && !heads.is_empty(), "no fixtures");
    for (name, b) in &hellos {
        assert_eq!(
            ours_sni(b, &limits),
            tls_parser_sni(b),
            "{name}: the two sides disagree"
        );
    }

    let mut c = Criterion::default().configure_from_args();
    {
        let mut g = c.benchmark_group("sni");
        for (name, b) in &hellos {
            g.bench_function(format!("hostgate/{name}"), |bench| {
                bench.iter(|| ours_sni(black_box(b), &limits))
            });
            g.bench_function(format!("tls-parser/{name}"), |bench| {
                bench.iter(|| tls_parser_sni(black_box(b)))
            });
        }
        g.finish();
    }
    {
        let mut g = c.benchmark_group("http-host");
        for (name, b) in &heads {
            g.bench_function(format!("hostgate/{name}"), |bench| {
                bench.iter(|| ours_host(black_box(b), &limits))
            });
            g.bench_function(format!("httparse/{name}"), |bench| {
                bench.iter(|| httparse_host(black_box(b)))
            });
        }
        g.finish();
    }
    let datagrams = quic_fixtures();
    let limits_q = Limits::default();
    let mut prepared = Vec::new();
    for (name, d) in &datagrams {
        let mut scratch = Vec::new();
        assert!(
            ours_quic(d, &mut scratch, &limits_q) > 0,
            "{name}: not named"
        );
        let version = if d[1..5] == [0, 0, 0, 1] {
            Version::V1
        } else {
            Version::V2
        };
        let keys = (
            Secrets::client_initial(version, &d[6..6 + usize::from(d[5])]),
            version,
        );
        let mut work = Vec::new();
        assert!(
            floor_quic(d, &mut work, Some(&keys)) > 0,
            "{name}: the floor does not authenticate"
        );
        prepared.push(keys);
    }
    {
        let mut g = c.benchmark_group("quic-initial");
        for ((name, d), keys) in datagrams.iter().zip(&prepared) {
            let mut scratch = Vec::new();
            g.bench_function(format!("hostgate/{name}"), |bench| {
                bench.iter(|| ours_quic(black_box(d), &mut scratch, &limits_q))
            });
            let mut work = Vec::new();
            g.bench_function(format!("floor+keys/{name}"), |bench| {
                bench.iter(|| floor_quic(black_box(d), &mut work, None))
            });
            g.bench_function(format!("floor/{name}"), |bench| {
                bench.iter(|| floor_quic(black_box(d), &mut work, Some(keys)))
            });
        }
        g.finish();
    }
    c.final_summary();

    let hello_bytes: Vec<Vec<u8>> = hellos.into_iter().map(|(_, b)| b).collect();
    let head_bytes: Vec<Vec<u8>> = heads.into_iter().map(|(_, b)| b).collect();
    ratio(
        "SNI extraction vs tls-parser (target >= 5x)",
        &hello_bytes,
        &|b| ours_sni(b, &limits),
        &tls_parser_sni,
    );
    ratio(
        "HTTP Host extraction vs httparse + header scan",
        &head_bytes,
        &|b| ours_host(b, &limits),
        &httparse_host,
    );
    ratio(
        "HTTP Host extraction vs httparse + header scan + normalize",
        &head_bytes,
        &|b| ours_host(b, &limits),
        &httparse_host_normalized,
    );
    let quic_bytes: Vec<Vec<u8>> = datagrams.into_iter().map(|(_, b)| b).collect();
    let scratch = std::cell::RefCell::new(Vec::new());
    let work = std::cell::RefCell::new(Vec::new());
    ratio(
        "QUIC one-datagram hello, decode + parse vs key derivation + AES-GCM + header mask",
        &quic_bytes,
        &|d| ours_quic(d, &mut scratch.borrow_mut(), &limits_q),
        &|d| floor_quic(d, &mut work.borrow_mut(), None),
    );
    // A hello over two datagrams through the reassembler, against the floor of the same flow:
    // its keys derived once (with the first datagram), then each datagram's mask and
    // decryption. Inputs run in order, so the second completes the flow, which is then dropped
    // for the next pass.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/quic");
    let pair: Vec<Vec<u8>> = ["two-www.kadath.io-1.bin", "two-www.kadath.io-2.bin"]
        .iter()
        .map(|n| std::fs::read(dir.join(n)).unwrap())
        .collect();
    let dcid = pair[0][6..6 + usize::from(pair[0][5])].to_vec();
    let keys = (Secrets::client_initial(Version::V1, &dcid), Version::V1);
    let table = std::cell::RefCell::new(quic::Reassembler::new(
        Limits::default(),
        quic::Caps::default(),
    ));
    let now = Instant::now();
    let push = |d: &[u8]| {
        let mut t = table.borrow_mut();
        let n = t.push(d, now).name().map_or(0, |n| n.as_str().len());
        if n > 0 {
            t.forget(&dcid);
        }
        n
    };
    assert_eq!(push(&pair[0]), 0);
    assert_eq!(push(&pair[1]), "www.kadath.io".len());
    let first = pair[0].as_ptr();
    ratio(
        "QUIC two-datagram hello through the reassembler vs keys once + AES-GCM + header mask (target: floor/hostgate >= 0.67x)",
        &pair,
        &push,
        &|d| {
            let keys = (d.as_ptr() != first).then_some(&keys);
            floor_quic(d, &mut work.borrow_mut(), keys)
        },
    );
    ratio(
        "QUIC two-datagram hello through the reassembler vs AES-GCM + header mask alone (keys given)",
        &pair,
        &push,
        &|d| floor_quic(d, &mut work.borrow_mut(), Some(&keys)),
    );
}
