//! Allocations per UDP query on the server's path, counted by a global allocator around a
//! batch of queries after a warm-up, with the real server in this process, a test upstream and
//! a logger that keeps nothing. The counts include the test client's own (one a query, for
//! the message it builds). The server's remaining ones are the query log's strings, the
//! decision's name and the answer's records read for their addresses: the bounds below keep
//! them from growing while they are taken out.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hostgate_dns::{Config, Server};
use tokio::net::UdpSocket;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded to the system allocator with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn query(id: u16, name: &str) -> Vec<u8> {
    hostgate::inspect::dns::testing::query(id, name.as_bytes(), 1)
}

/// Answers every query with one A record, from a thread of its own (not counted apart: its
/// loop allocates nothing once running).
fn upstream() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let mut out = [0u8; 512];
        loop {
            let Ok((n, peer)) = s.recv_from(&mut buf) else {
                return;
            };
            let q = &buf[..n];
            let qend = hostgate_dns::wire::question_end(q).unwrap();
            out[..2].copy_from_slice(&q[..2]);
            out[2] = 0x81;
            out[3] = 0x80;
            out[4..12].copy_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0]);
            out[12..qend].copy_from_slice(&q[12..qend]);
            let rr = [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1];
            out[qend..qend + 16].copy_from_slice(&rr);
            let _ = s.send_to(&out[..qend + 16], peer);
        }
    });
    addr
}

#[tokio::test(flavor = "current_thread")]
async fn allocations_per_query_stay_within_their_bounds() {
    let dir = std::env::temp_dir().join(format!("hostgate-dns-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("p.policy");
    std::fs::write(&policy, "default deny\nallow **.ok.test\n").unwrap();
    let mut config = Config::new(policy);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.upstreams = vec![upstream()];
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    server.handle().set_logger(|_| {});
    tokio::spawn(server.run());
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut ask = async |i: u16, name: &str| {
        client.send_to(&query(i, name), addr).await.unwrap();
        tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
    };
    for i in 0..200 {
        ask(i, "a.ok.test").await;
    }
    for (kind, name, bound) in [("allowed", "a.ok.test", 20.0), ("denied", "a.no.test", 7.0)] {
        let before = ALLOCS.load(Ordering::Relaxed);
        for i in 0..1000 {
            ask(i, name).await;
        }
        let per = (ALLOCS.load(Ordering::Relaxed) - before) as f64 / 1000.0;
        println!("{kind}: {per:.1} allocations a query");
        assert!(
            per <= bound,
            "{kind}: {per:.1} allocations a query, more than {bound}"
        );
    }
}
