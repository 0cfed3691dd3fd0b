//! A lookup allocates nothing: a counting global allocator watches `check`, `check_name` and
//! `check_batch` on a policy with every pattern kind, for ASCII names, IPs, invalid names and
//! typical IDNA names.
//!
//! Counting is per thread (the test harness may allocate on other threads), and only between
//! `start` and `stop`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use hostgate::{normalize, Action, Engine, Name, Query, Reason, Verdict, Via};

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
