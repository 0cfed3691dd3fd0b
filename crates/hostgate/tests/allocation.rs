//! Lookups and parsers allocate nothing. One counting global allocator watches `check`,
//! `check_name` and `check_batch` on a policy with every pattern kind (ASCII names, IPs, invalid
//! names, typical IDNA names), and every parser and `inspect_check` on every fixture, every
//! prefix and hand-built refusal cases.
//!
//! Counting is per thread (the test harness may allocate on other threads), and only between
//! the start and the end of [`allocations`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use hostgate::inspect::{check_fronting, dns, http, inspect, inspect_with, tls, Expect, Limits};
use hostgate::{normalize, Action, Engine, Name, Query, Reason, Verdict, Via};

#[path = "inspect/common.rs"]
mod common;

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the allocator can be called while thread-locals are being torn down.
    let on = ON.try_with(Cell::get).unwrap_or(false);
    if on {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Allocations made on this thread by `f`.
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    COUNT.with(|c| c.set(0));
    ON.with(|o| o.set(true));
    let out = f();
    ON.with(|o| o.set(false));
    (COUNT.with(Cell::get), out)
}

const POLICY: &str = "\
policy egress
precedence first-match
default deny
allow api.kadath.io
allow *.stripe.com port 443 via tls
allow **.spotify.com port 443,8443
allow .example.org port 8000-8999
allow api-*.kadath.io
allow a.*.b.io via http,connect
deny  api.leng.com id block-leng
allow bücher.example
allow ~ads[0-9]+\\.example\\.net
allow 192.0.2.7
allow 203.0.113.0/24
allow 2001:db8::/32
policy open
precedence most-specific
default allow
deny ~.*\\.leng\\.com
deny 10.0.0.0/8
allow *
policy strict
precedence deny-overrides
allow **.kadath.io
deny *.kadath.io via dns
";

/// (name, port, via): one warm-up per kind first, then the measured set.
const QUERIES: &[(&str, Option<u16>, Option<Via>)] = &[
    // ASCII names: each pattern kind, hits and misses.
    ("api.kadath.io", None, None),
    ("API.Kadath.IO.", Some(443), Some(Via::Tls)),
    ("checkout.stripe.com", Some(443), Some(Via::Tls)),
    ("checkout.stripe.com", Some(80), Some(Via::Http)),
    ("a.b.spotify.com", Some(8443), None),
    ("example.org", Some(8080), Some(Via::Connect)),
    ("api-v2.kadath.io", None, Some(Via::Dns)),
    ("a.x.b.io", Some(80), Some(Via::Http)),
    ("api.leng.com", Some(443), Some(Via::Tls)),
    ("ads42.example.net", None, None),
    ("nothing.matches.here", Some(443), None),
    ("x.kadath.io", None, Some(Via::Dns)),
    // IPs.
    ("192.0.2.7", Some(443), None),
    ("203.0.113.99", None, None),
    ("[2001:db8::1]", Some(443), None),
    ("2001:db9::1", None, None),
    ("10.1.2.3", None, None),
    ("::ffff:203.0.113.5", None, None),
    // Invalid names.
    ("a..b", None, None),
    ("", None, None),
    ("1.2.3", None, None),
    ("a b.io", None, None),
    ("fe80::1%eth0", None, None),
    // Typical IDNA names.
    ("bücher.example", None, None),
    ("BÜCHER.example.", Some(443), Some(Via::Tls)),
    ("www.münchen.de", None, None),
    ("пример.рф", None, None),
    ("例え.テスト", None, None),
];

fn queries() -> Vec<Query<'static>> {
    QUERIES
        .iter()
        .map(|&(n, port, via)| Query {
            name: n.as_bytes(),
            port,
            via,
        })
        .collect()
}

#[test]
fn lookups_allocate_nothing() {
    let engine = Engine::compile(POLICY).expect("policy compiles");
    let policies: Vec<_> = ["egress", "open", "strict"]
        .iter()
        .map(|p| engine.policy(p).expect("policy exists"))
        .collect();
    let qs = queries();
    let names: Vec<Option<Name>> = qs.iter().map(|q| normalize(q.name).ok()).collect();
    let mut out = vec![Verdict::default(); qs.len()];

    // Warm up: every kind once on this thread (regex caches may allocate on first use).
    for &p in &policies {
        for q in &qs {
            std::hint::black_box(engine.check(p, q));
        }
    }

    let mut failures = Vec::new();
    for &p in &policies {
        for (q, name) in qs.iter().zip(&names) {
            let (n, v) = allocations(|| engine.check(p, q));
            std::hint::black_box(v);
            if n != 0 {
                failures.push(format!("check {:?}: {n} allocations", q));
            }
            if let Some(name) = name {
                let (n, v) = allocations(|| engine.check_name(p, name, q.port, q.via));
                std::hint::black_box(v);
                if n != 0 {
                    failures.push(format!("check_name {:?}: {n} allocations", name));
                }
            }
        }
        let (n, written) = allocations(|| engine.check_batch(p, &qs, &mut out));
        assert_eq!(written, qs.len());
        if n != 0 {
            failures.push(format!("check_batch: {n} allocations"));
        }
    }
    assert!(
        failures.is_empty(),
        "lookups allocated:\n{}",
        failures.join("\n")
    );

    // The measured lookups gave real answers (not, say, an early error path).
    let egress = policies[0];
    let v = engine.check(egress, &Query::new("api.leng.com"));
    assert_eq!(
        (v.action, v.rule.map(|r| r.id().to_string())),
        (Action::Deny, Some("block-leng".to_string()))
    );
    let v = engine.check(egress, &Query::new("bücher.example"));
    assert_eq!((v.action, v.reason), (Action::Allow, Reason::Matched));
    let v = engine.check(egress, &Query::new("ads42.example.net"));
    assert_eq!(v.action, Action::Allow);
    let v = engine.check(egress, &Query::new("a..b"));
    assert_eq!(v.reason, Reason::InvalidName);
}

#[test]
fn the_counter_counts() {
    let (n, v) = allocations(|| vec![1u8; 16]);
    assert!(n >= 1, "the counting allocator must see a Vec allocation");
    drop(v);
}

// ---------------------------------------------------------------------------------------------
// Parsers

/// Every parser and entry point on `buf`, consuming the results so nothing is optimized away.
fn parse_everything(buf: &[u8]) -> usize {
    let l = Limits::default();
    let mut sink = 0usize;
    let i = inspect(buf);
    sink += i.name.map_or(0, |n| n.as_bytes().len())
        + i.alpn.iter().map(|p| p.as_bytes().len()).sum::<usize>();
    for e in [Expect::Tls, Expect::Http, Expect::DnsUdp, Expect::DnsTcp] {
        sink += inspect_with(buf, e, &l).status as usize;
    }
    if let Some(h) = tls::parse_client_hello(buf, &l).name() {
        sink += h.as_bytes().len();
    }
    sink += http::parse_request_head(buf, &l).status() as usize;
    sink += dns::parse_query(buf, dns::Transport::Udp).status() as usize;
    sink += dns::parse_query(buf, dns::Transport::Tcp).status() as usize;
    let n = i.name;
    sink += check_fronting(n.as_ref(), n.as_ref(), None).is_ok() as usize;
    sink
}

#[test]
fn no_parse_path_allocates() {
    let mut inputs: Vec<Vec<u8>> = common::fixtures().into_iter().map(|f| f.bytes).collect();
    // Refusals and odd paths: fragmented hello, SSLv2, bad names, HTTP errors, DNS errors.
    let hs = {
        let h = tls::testing::client_hello(Some(b"Frag.Example"), &[b"h2", b"http/1.1"], true);
        h[5..].to_vec()
    };
    inputs.push(tls::testing::records(&hs, 7));
    inputs.push(tls::testing::client_hello_with_sni(
        "bücher.example".as_bytes(),
    ));
    inputs.push(tls::testing::client_hello_with_sni(b"a..b"));
    inputs.push(b"\x80\x2b\x01\x03\x01\x00\x09\x00\x00\x00\x10\x00\x00\x2f\x00\x00\x35\x00\x00\x0a0123456789abcdef".to_vec());
    inputs.push(b"GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n".to_vec());
    inputs.push(b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n".to_vec());
    inputs.push(b"GET / HTTP/1.1\r\nHost: bad..name\r\n\r\n".to_vec());
    inputs.push(dns::testing::query(1, b"a.b.c.1", 1));
    inputs.push(vec![0x16; 40]);
    let total: usize = inputs.iter().map(|b| b.len()).sum();

    let mut sink = 0;
    let (n, ()) = allocations(|| {
        for buf in &inputs {
            for cut in 0..=buf.len() {
                sink += parse_everything(&buf[..cut]);
            }
        }
    });
    assert_eq!(
        n, 0,
        "parsers allocated {n} times over {total} bytes of input"
    );
    assert!(sink > 0);

    // The one-call inspect + check does not allocate either.
    let engine = Engine::compile("allow .example.com\nallow 192.0.2.0/24 via tls\n").unwrap();
    let policy = engine.policy("default").unwrap();
    let mut allowed = 0;
    let (n, ()) = allocations(|| {
        for buf in &inputs {
            let (_, v) = engine.inspect_check(policy, buf, Some(443));
            allowed += v.is_allow() as usize;
        }
    });
    assert_eq!(n, 0, "inspect_check allocated {n} times");
    assert!(allowed > 0);

    // The counter works: an allocation while armed is seen.
    let (seen, ()) = allocations(|| {
        std::hint::black_box(vec![1u8; 10]);
    });
    assert_eq!(seen, 1);
}

/// A QUIC Initial that carries its whole hello (the real clients' one-datagram flights in
/// `tests/fixtures/quic`) is decrypted and parsed with no allocation once the caller's scratch
/// buffer has grown; so are its refusals (every flipped byte, every cut).
#[test]
fn a_one_datagram_quic_hello_allocates_nothing() {
    use hostgate::inspect::quic;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quic");
    let mut datagrams = Vec::new();
    let mut complete = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("expect") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if text.lines().any(|l| l == "datagrams=1") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            datagrams.push(std::fs::read(dir.join(format!("{stem}-1.bin"))).unwrap());
            complete += text.lines().any(|l| l == "status=complete") as usize;
        }
    }
    assert!(
        datagrams.len() >= 8,
        "{} one-datagram flights",
        datagrams.len()
    );
    let mut inputs = datagrams.clone();
    for d in &datagrams {
        for i in (0..d.len()).step_by(97) {
            let mut bad = d.clone();
            bad[i] ^= 1;
            inputs.push(bad);
        }
        inputs.push(d[..d.len() / 2].to_vec());
    }
    let l = Limits::default();
    let mut scratch = Vec::new();
    let mut named = 0;
    for d in &inputs {
        let _ = quic::parse_datagram(d, &mut scratch, &l);
    }
    let (n, ()) = allocations(|| {
        for d in &inputs {
            std::hint::black_box(quic::parse_datagram(d, &mut scratch, &l).status());
        }
        for d in &datagrams {
            named += quic::parse_datagram(d, &mut scratch, &l).name().is_some() as usize;
        }
    });
    assert_eq!(n, 0, "parse_datagram allocated {n} times");
    assert_eq!(named, complete, "every flight with an SNI is named");
}
