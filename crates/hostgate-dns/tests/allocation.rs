//! Allocations per UDP query on the server's path, counted by a global allocator around a
//! batch of queries after a warm-up, with the real server in this process, a test upstream and
//! a logger that writes each line into a reused buffer (as the stdout logger does). The test
//! client reuses its message and buffer, so every allocation counted is the server's: there
//! must be none, allowed or denied, with or without `--nft-set` (its stand-in `nft` runs only
//! when an address needs adding or refreshing, which a batch measured is kept clear of).

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

/// A server for `policy` in front of the test upstream, with `tweak` applied to its
/// configuration, logging each line into a buffer it reuses.
async fn server(dir: &std::path::Path, tweak: impl FnOnce(&mut Config)) -> SocketAddr {
    let policy = dir.join("p.policy");
    std::fs::write(&policy, "default deny\nallow **.ok.test\n").unwrap();
    let mut config = Config::new(policy);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.upstreams = vec![upstream()];
    tweak(&mut config);
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    let line = std::sync::Mutex::new(String::with_capacity(4096));
    server.handle().set_logger(move |l| {
        let mut line = line.lock().unwrap();
        line.clear();
        l.write_text(&mut *line).unwrap();
        assert!(line.contains("verdict="));
    });
    tokio::spawn(server.run());
    addr
}

/// Server-side allocations per query over `n` queries for `name`.
async fn measure(client: &UdpSocket, addr: SocketAddr, name: &str, n: u16) -> f64 {
    let mut msg = query(0, name);
    let mut buf = vec![0u8; 4096];
    let before = ALLOCS.load(Ordering::Relaxed);
    for i in 0..n {
        msg[..2].copy_from_slice(&i.to_be_bytes());
        client.send_to(&msg, addr).await.unwrap();
        let (len, _) = tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(buf[..2], i.to_be_bytes(), "an answer to another query");
        assert!(len > 12);
    }
    (ALLOCS.load(Ordering::Relaxed) - before) as f64 / f64::from(n)
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hostgate-dns-alloc-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "current_thread")]
async fn no_allocation_per_query_once_warm() {
    let dir = temp_dir("plain");
    let addr = server(&dir, |_| {}).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for name in ["a.ok.test", "a.no.test"] {
        measure(&client, addr, name, 200).await;
    }
    for (kind, name) in [("allowed", "a.ok.test"), ("denied", "a.no.test")] {
        let per = measure(&client, addr, name, 1000).await;
        println!("{kind}: {per:.3} allocations a query");
        assert_eq!(per, 0.0, "{kind}: {per:.3} allocations a query");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_allocation_per_query_with_nft_sets_once_warm() {
    let dir = temp_dir("nft");
    let runs = dir.join("runs");
    let nft = dir.join("nft");
    std::fs::write(
        &nft,
        format!("#!/bin/sh\ncat >/dev/null\necho run >>{}\n", runs.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&nft, std::fs::Permissions::from_mode(0o755)).unwrap();
    let addr = server(&dir, |c| {
        c.nft_set = Some("inet/hostgate/allow4".parse().unwrap());
        c.nft_program = nft.clone();
    })
    .await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let count = || std::fs::read_to_string(&runs).map_or(0, |s| s.lines().count());
    measure(&client, addr, "a.ok.test", 1).await;
    assert_eq!(count(), 1, "the first answer's address is added");
    // An address already in the set is refreshed at most once a second: a batch right after
    // a refresh runs no `nft`, and must allocate nothing. (Three tries, in case a refresh
    // falls inside one.)
    let mut last = f64::NAN;
    let mut refreshed = false;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let ran = count();
        measure(&client, addr, "a.ok.test", 1).await;
        // The refresh's own aftermath (the finished `nft` reaped) settles first.
        measure(&client, addr, "a.ok.test", 20).await;
        let before = count();
        refreshed |= before > ran;
        last = measure(&client, addr, "a.ok.test", 300).await;
        if count() == before {
            break;
        }
    }
    assert!(
        refreshed,
        "an address older than a second is refreshed in the set"
    );
    println!("allowed with --nft-set: {last:.3} allocations a query");
    assert_eq!(
        last, 0.0,
        "allowed with --nft-set: {last:.3} allocations a query"
    );
}
