//! No parse path allocates: a counting global allocator watches every parser on every fixture,
//! every prefix, and the hand-built refusal cases.

mod inspect_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use hostgate::inspect::{check_fronting, dns, http, inspect, inspect_with, tls, Expect, Limits};

struct Counting;

thread_local! {
    // Const-initialized, so reading it never allocates.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if ARMED.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns how many allocations it made on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    COUNT.with(Cell::get)
}

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
    let mut inputs: Vec<Vec<u8>> = inspect_common::fixtures()
        .into_iter()
        .map(|f| f.bytes)
        .collect();
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
    let n = allocations(|| {
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
    let engine =
        hostgate::Engine::compile("allow .example.com\nallow 192.0.2.0/24 via tls\n").unwrap();
    let policy = engine.policy("default").unwrap();
    let mut allowed = 0;
    let n = allocations(|| {
        for buf in &inputs {
            let (_, v) = engine.inspect_check(policy, buf, Some(443));
            allowed += v.is_allow() as usize;
        }
    });
    assert_eq!(n, 0, "inspect_check allocated {n} times");
    assert!(allowed > 0);

    // The counter works: an allocation while armed is seen.
    let seen = allocations(|| {
        std::hint::black_box(vec![1u8; 10]);
    });
    assert_eq!(seen, 1);
}
