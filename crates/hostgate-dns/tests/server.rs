//! The server in-process on 127.0.0.1 ephemeral ports, in front of a TEST UPSTREAM written
//! here: a UDP and TCP socket answering every question with one fixed A record (192.0.2.1) and
//! counting what it receives. It stands in for a resolver only so these tests can see what
//! reached it; scripts/test.d/e2e-dns.sh runs the server in front of a real one (dnsmasq).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hostgate::inspect::dns::testing::query;
use hostgate_dns::wire::{question_end, Rcode};
use hostgate_dns::{ClientPolicy, Config, DenyResponse, Handle, QueryLog, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const POLICY: &str = "\
default deny
allow allowed.test            id allowed-site
allow **.allowed.test via dns id allowed-subs
allow big.test
deny  denied.test             id denied-site

policy strict
default deny
allow only.strict.test
";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Answer every question.
    Answer,
    /// Read and count, never answer.
    Silent,
    /// Over UDP, first an answer to another question with the same id, then the real one.
    OtherQuestionFirst,
}

/// The test upstream. `received` holds every message it read (UDP and TCP).
struct Upstream {
    addr: SocketAddr,
    udp_count: Arc<AtomicUsize>,
    tcp_count: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Upstream {
    fn total(&self) -> usize {
        self.udp_count.load(Ordering::SeqCst) + self.tcp_count.load(Ordering::SeqCst)
    }
}

/// The fixed answer: the question as received, one A record 192.0.2.1. Names starting with
/// `big.` are answered over UDP with TC set and no records, as a resolver does when the answer
/// does not fit.
fn upstream_answer(q: &[u8], udp: bool) -> Vec<u8> {
    let qend = question_end(q).expect("test upstream got a whole question");
    let truncated = udp && q[12..].starts_with(b"\x03big");
    let mut r = q[..2].to_vec();
    r.push(0x80 | (q[2] & 0x01) | if truncated { 0x02 } else { 0 });
    r.push(0x80);
    r.extend_from_slice(&[0, 1, 0, u8::from(!truncated), 0, 0, 0, 0]);
    r.extend_from_slice(&q[12..qend]);
    if !truncated {
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    }
    r
}

async fn upstream(mode: Mode) -> Upstream {
    // UDP and TCP on one port: a free UDP port may be taken for TCP, so try a few.
    let mut pair = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        if let Ok(tcp) = TcpListener::bind(addr).await {
            pair = Some((udp, addr, tcp));
            break;
        }
    }
    let (udp, addr, tcp) = pair.expect("a port free for UDP and TCP");
    let up = Upstream {
        addr,
        udp_count: Arc::default(),
        tcp_count: Arc::default(),
        received: Arc::default(),
    };
    let (count, received) = (up.udp_count.clone(), up.received.clone());
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        loop {
            let (n, peer) = udp.recv_from(&mut buf).await.unwrap();
            let q = buf[..n].to_vec();
            count.fetch_add(1, Ordering::SeqCst);
            received.lock().unwrap().push(q.clone());
            match mode {
                Mode::Silent => {}
                Mode::Answer => {
                    udp.send_to(&upstream_answer(&q, true), peer).await.unwrap();
                }
                Mode::OtherQuestionFirst => {
                    let mut other = query(0, b"spoofed.test", 1);
                    other[..2].copy_from_slice(&q[..2]);
                    let mut spoof = upstream_answer(&other, true);
                    let last = spoof.len() - 1;
                    spoof[last] = 66; // 192.0.2.66: must never reach the client
                    udp.send_to(&spoof, peer).await.unwrap();
                    udp.send_to(&upstream_answer(&q, true), peer).await.unwrap();
                }
            }
        }
    });
    let (count, received) = (up.tcp_count.clone(), up.received.clone());
    tokio::spawn(async move {
        loop {
            let (mut s, _) = tcp.accept().await.unwrap();
            let (count, received) = (count.clone(), received.clone());
            tokio::spawn(async move {
                loop {
                    let mut len = [0u8; 2];
                    if s.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    s.read_exact(&mut q).await.unwrap();
                    count.fetch_add(1, Ordering::SeqCst);
                    received.lock().unwrap().push(q.clone());
                    if mode == Mode::Silent {
                        continue;
                    }
                    let r = upstream_answer(&q, false);
                    let mut frame = (r.len() as u16).to_be_bytes().to_vec();
                    frame.extend_from_slice(&r);
                    s.write_all(&frame).await.unwrap();
                }
            });
        }
    });
    up
}

fn policy_file(text: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "hostgate-dns-test-{}-{}.policy",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&path, text).unwrap();
    path
}

struct Running {
    addr: SocketAddr,
    handle: Handle,
    logs: Arc<Mutex<Vec<QueryLog>>>,
    policy: PathBuf,
}

async fn start(upstreams: Vec<SocketAddr>, tweak: impl FnOnce(&mut Config)) -> Running {
    let policy = policy_file(POLICY);
    let mut config = Config::new(policy.clone());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.upstreams = upstreams;
    config.timeout = Duration::from_millis(500);
    tweak(&mut config);
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = logs.clone();
    handle.set_logger(move |l| sink.lock().unwrap().push(l.clone()));
    tokio::spawn(server.run());
    Running {
        addr,
        handle,
        logs,
        policy,
    }
}

/// Sends one datagram from `from` and waits up to `wait` for the reply.
async fn udp_ask_from(from: &str, to: SocketAddr, msg: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind(from).await.unwrap();
    sock.send_to(msg, to).await.unwrap();
    let mut buf = vec![0u8; 65535];
    match tokio::time::timeout(wait, sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

async fn udp_ask(to: SocketAddr, msg: &[u8]) -> Vec<u8> {
    udp_ask_from("127.0.0.1:0", to, msg, Duration::from_secs(3))
        .await
        .expect("an answer")
}

fn rcode(r: &[u8]) -> Rcode {
    Rcode::from_u8(r[3])
}

fn id(r: &[u8]) -> u16 {
    u16::from_be_bytes([r[0], r[1]])
}

fn count(r: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([r[at], r[at + 1]])
}

/// A query with an EDNS OPT record (payload 4096, DO set) and a client cookie option.
fn query_with_edns(id: u16, name: &[u8]) -> Vec<u8> {
    let mut q = query(id, name, 1);
    q[11] = 1; // ARCOUNT
    q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 12]);
    q.extend_from_slice(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]); // COOKIE, 8-byte client part
    q
}

#[tokio::test]
async fn allowed_name_is_forwarded_unchanged_and_answered_with_the_client_id() {
    let up = upstream(Mode::Answer).await;
    let s = start(vec![up.addr], |_| {}).await;
    let q = query_with_edns(0x1234, b"wWw.AlLoWeD.tEsT");
    let r = udp_ask(s.addr, &q).await;
    assert_eq!(id(&r), 0x1234);
    assert_eq!(rcode(&r), Rcode::NoError);
    assert_eq!(count(&r, 6), 1, "one answer");
    assert_eq!(&r[r.len() - 4..], &[192, 0, 2, 1]);
    // The question comes back in the case the client sent (0x20).
    let qend = question_end(&q).unwrap();
    assert_eq!(&r[12..qend], &q[12..qend]);
    // The upstream got the query byte for byte (EDNS, DO, cookie, case), but for the id.
    let got = up.received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0][2..], &q[2..]);
    let logs = s.logs.lock().unwrap().clone();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].name.as_deref(), Some("www.allowed.test"));
    assert_eq!(logs[0].verdict, "allow");
    assert_eq!(logs[0].rule.as_deref(), Some("allowed-subs"));
    assert_eq!(logs[0].rcode, Some(Rcode::NoError));
    assert_eq!(logs[0].upstream, Some(up.addr));
}

/// `--from route53`: a Route 53 DNS Firewall rule group decides, with its own meaning (`*.x` is
/// every name below `x`, never `x`; first match by priority; ALLOW before a catch-all BLOCK).
#[tokio::test]
async fn a_route53_rule_group_decides_with_its_own_meaning() {
    let up = upstream(Mode::Answer).await;
    let bundle = policy_file(
        r#"{"FirewallRuleGroups": [{"Id": "g", "FirewallRules": [
            {"FirewallDomainListId": "ok", "Priority": 1, "Action": "ALLOW"},
            {"FirewallDomainListId": "all", "Priority": 2, "Action": "BLOCK", "BlockResponse": "NXDOMAIN"}]}],
          "FirewallDomainLists": [{"Id": "ok", "Domains": ["*.allowed.test."]}, {"Id": "all", "Domains": ["*"]}]}"#,
    );
    let s = start(vec![up.addr], |c| {
        c.policy = bundle.clone();
        c.policy_format = hostgate::Format::Route53;
    })
    .await;
    let r = udp_ask(s.addr, &query(1, b"www.allowed.test", 1)).await;
    assert_eq!(rcode(&r), Rcode::NoError);
    assert_eq!(count(&r, 6), 1, "forwarded and answered");
    for name in [&b"allowed.test"[..], b"other.example"] {
        let r = udp_ask(s.addr, &query(2, name, 1)).await;
        assert_eq!(
            rcode(&r),
            Rcode::NxDomain,
            "{}",
            String::from_utf8_lossy(name)
        );
    }
    assert_eq!(up.total(), 1);
    let logs = s.logs.lock().unwrap().clone();
    assert!(
        logs[0]
            .rule
            .as_deref()
            .unwrap()
            .starts_with("FirewallRuleGroup/g"),
        "{:?}",
        logs[0].rule
    );
}

#[tokio::test]
async fn denied_name_is_answered_locally_per_deny_response() {
    for (flag, want) in [
        (DenyResponse::Nxdomain, Rcode::NxDomain),
        (DenyResponse::NoData, Rcode::NoError),
        (DenyResponse::Refused, Rcode::Refused),
    ] {
        let up = upstream(Mode::Answer).await;
        let s = start(vec![up.addr], |c| c.deny_response = flag).await;
        for name in [&b"Denied.test"[..], b"not-listed.example"] {
            let q = query(0xbeef, name, 28);
            let r = udp_ask(s.addr, &q).await;
            assert_eq!(id(&r), 0xbeef);
            assert_eq!(rcode(&r), want, "{flag:?}");
            assert_eq!(r[2] & 0x81, 0x81, "QR and RD (copied)");
            assert_eq!(r[3] & 0x80, 0x80, "RA");
            assert_eq!((count(&r, 4), count(&r, 6), count(&r, 8)), (1, 0, 0));
            assert_eq!(&r[12..], &q[12..], "the question echoed");
        }
        assert_eq!(up.total(), 0, "nothing reached the upstream");
        let logs = s.logs.lock().unwrap().clone();
        assert_eq!(logs[0].rule.as_deref(), Some("denied-site"));
        assert_eq!(logs[0].verdict, "deny");
        assert_eq!(logs[1].reason, "default");
    }
}

#[tokio::test]
async fn denied_query_with_edns_gets_an_opt_record_back() {
    let up = upstream(Mode::Answer).await;
    let s = start(vec![up.addr], |_| {}).await;
    let q = query_with_edns(9, b"denied.test");
    let r = udp_ask(s.addr, &q).await;
    assert_eq!(rcode(&r), Rcode::NxDomain);
    assert_eq!(count(&r, 10), 1);
    let qend = question_end(&q).unwrap();
    // Root owner, OPT, our payload size, DO copied, no options.
    assert_eq!(&r[qend..], &[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
}

#[tokio::test]
async fn malformed_queries_get_formerr_or_nothing_and_the_server_keeps_serving() {
    let up = upstream(Mode::Answer).await;
    let s = start(vec![up.addr], |_| {}).await;
    // A label byte outside [A-Za-z0-9_-].
    let bad_name = query(0x0a0b, b"a*b.allowed.test", 1);
    let r = udp_ask(s.addr, &bad_name).await;
    assert_eq!((id(&r), rcode(&r)), (0x0a0b, Rcode::FormErr));
    // Two questions.
    let mut two = query(0x0c0d, b"allowed.test", 1);
    two[5] = 2;
    let r = udp_ask(s.addr, &two).await;
    assert_eq!((id(&r), rcode(&r)), (0x0c0d, Rcode::FormErr));
    // Trailing garbage after the question.
    let mut trailing = query(0x0e0f, b"allowed.test", 1);
    trailing.extend_from_slice(b"xyz");
    assert_eq!(rcode(&udp_ask(s.addr, &trailing).await), Rcode::FormErr);
    // An opcode other than QUERY (NOTIFY).
    let mut notify = query(0x1111, b"allowed.test", 6);
    notify[2] |= 4 << 3;
    assert_eq!(rcode(&udp_ask(s.addr, &notify).await), Rcode::NotImp);
    // Shorter than a header, and a response: dropped.
    let wait = Duration::from_millis(300);
    assert_eq!(
        udp_ask_from("127.0.0.1:0", s.addr, b"\x01\x02\x03", wait).await,
        None
    );
    let mut response = query(0x2222, b"allowed.test", 1);
    response[2] |= 0x80;
    assert_eq!(
        udp_ask_from("127.0.0.1:0", s.addr, &response, wait).await,
        None
    );
    assert_eq!(up.total(), 0, "nothing malformed was forwarded");
    let logs = s.logs.lock().unwrap().clone();
    assert_eq!(logs.len(), 6, "one log line per message, dropped ones too");
    assert_eq!(
        (logs[0].verdict, logs[0].reason.as_str()),
        ("deny", "invalid-name")
    );
    assert_eq!(logs[0].rcode, Some(Rcode::FormErr));
    assert_eq!(
        (logs[1].verdict, logs[1].rcode),
        ("malformed", Some(Rcode::FormErr))
    );
    assert!(logs[4..].iter().all(|l| l.rcode.is_none()), "{logs:?}");
    // Still serving.
    let r = udp_ask(s.addr, &query(0x3333, b"allowed.test", 1)).await;
    assert_eq!((id(&r), rcode(&r)), (0x3333, Rcode::NoError));
    assert_eq!(up.total(), 1);
}

#[tokio::test]
async fn silent_upstream_gives_servfail_within_the_timeout() {
    let up = upstream(Mode::Silent).await;
    let s = start(vec![up.addr], |c| c.timeout = Duration::from_millis(400)).await;
    for tcp in [false, true] {
        let q = query(0x4444, b"allowed.test", 1);
        let t = Instant::now();
        let r = if tcp {
            let mut c = TcpStream::connect(s.addr).await.unwrap();
            tcp_send(&mut c, &q).await;
            tcp_read(&mut c).await
        } else {
            udp_ask(s.addr, &q).await
        };
        let took = t.elapsed();
        assert_eq!((id(&r), rcode(&r)), (0x4444, Rcode::ServFail));
        assert_eq!(&r[12..], &q[12..]);
        assert!(took >= Duration::from_millis(350), "{took:?}");
        assert!(took < Duration::from_millis(1200), "{took:?}");
    }
    assert_eq!(up.udp_count.load(Ordering::SeqCst), 1);
    assert_eq!(up.tcp_count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failing_upstream_hands_over_to_the_next() {
    // A port nobody listens on (refused at once, by ICMP), one that never answers (its share
    // of the time runs out), then the good one.
    let closed = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let silent = upstream(Mode::Silent).await;
    let good = upstream(Mode::Answer).await;
    let s = start(vec![closed_addr, silent.addr, good.addr], |c| {
        c.timeout = Duration::from_millis(900)
    })
    .await;
    let t = Instant::now();
    let r = udp_ask(s.addr, &query(5, b"allowed.test", 1)).await;
    let took = t.elapsed();
    assert_eq!((id(&r), rcode(&r)), (5, Rcode::NoError));
    assert_eq!((silent.total(), good.total()), (1, 1));
    // The closed port's share (300 ms) went to the others: the silent one had 450 ms.
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_millis(560), "{took:?}");
    assert_eq!(s.logs.lock().unwrap()[0].upstream, Some(good.addr));
}

#[tokio::test]
async fn many_queries_in_flight_at_once_each_get_their_own_answer() {
    let up = upstream(Mode::Answer).await;
    let s = start(vec![up.addr], |_| {}).await;
    // 200: a socket's default receive buffer holds about 256 small datagrams, and here every
    // client sends before the server runs.
    let mut asks = Vec::new();
    for i in 0..200u16 {
        let addr = s.addr;
        asks.push(tokio::spawn(async move {
            let name = format!("n{i}.allowed.test");
            let q = query(i.wrapping_mul(7919), name.as_bytes(), 1);
            let r = udp_ask_from("127.0.0.1:0", addr, &q, Duration::from_secs(3)).await;
            (q, r)
        }));
    }
    let mut missing = 0;
    for a in asks {
        let (q, r) = a.await.unwrap();
        let Some(r) = r else {
            missing += 1;
            continue;
        };
        assert_eq!((id(&r), rcode(&r)), (id(&q), Rcode::NoError));
        assert_eq!(&r[12..question_end(&q).unwrap()], &q[12..]);
    }
    let logs = s.logs.lock().unwrap().len();
    assert_eq!((missing, logs), (0, 200));
    assert_eq!(up.udp_count.load(Ordering::SeqCst), 200);
    // The upstream saw fresh ids, not the clients'.
    let ids: std::collections::HashSet<u16> =
        up.received.lock().unwrap().iter().map(|m| id(m)).collect();
    assert!(ids.len() > 180, "{} distinct upstream ids", ids.len());
}

#[tokio::test]
async fn an_answer_to_another_question_is_not_trusted() {
    let up = upstream(Mode::OtherQuestionFirst).await;
    let s = start(vec![up.addr], |_| {}).await;
    let q = query(6, b"allowed.test", 1);
    let r = udp_ask(s.addr, &q).await;
    assert_eq!(rcode(&r), Rcode::NoError);
    assert_eq!(&r[12..question_end(&q).unwrap()], &q[12..]);
    assert_eq!(&r[r.len() - 4..], &[192, 0, 2, 1]);
}

#[tokio::test]
async fn truncated_udp_answer_is_relayed_and_tcp_gets_the_whole_one() {
    let up = upstream(Mode::Answer).await;
    let s = start(vec![up.addr], |_| {}).await;
    let q = query(7, b"big.test", 16);
    let r = udp_ask(s.addr, &q).await;
    assert_eq!(r[2] & 0x02, 0x02, "TC relayed");
    assert_eq!(count(&r, 6), 0);
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    tcp_send(&mut c, &q).await;
    let r = tcp_read(&mut c).await;
    assert_eq!((id(&r), r[2] & 0x02, count(&r, 6)), (7, 0, 1));
    assert_eq!(up.tcp_count.load(Ordering::SeqCst), 1, "forwarded over TCP");
}

async fn tcp_send(c: &mut TcpStream, q: &[u8]) {
    let mut frame = (q.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(q);
    c.write_all(&frame).await.unwrap();
}

async fn tcp_read(c: &mut TcpStream) -> Vec<u8> {
    let work = async {
        let mut len = [0u8; 2];
        c.read_exact(&mut len).await.unwrap();
        let mut r = vec![0u8; usize::from(u16::from_be_bytes(len))];
        c.read_exact(&mut r).await.unwrap();
        r
    };
    tokio::time::timeout(Duration::from_secs(3), work)
        .await
        .expect("a TCP answer")
}

#[tokio::test]
async fn tcp_pipelined_queries_are_all_answered() {
    let up = upstream(Mode::Answer).await;
    let s = start(vec![up.addr], |_| {}).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    // Both in one write, then a malformed frame, then a third query.
    let (a, d) = (query(1, b"a.allowed.test", 1), query(2, b"denied.test", 1));
    let mut frames = Vec::new();
    for q in [&a, &d] {
        frames.extend_from_slice(&(q.len() as u16).to_be_bytes());
        frames.extend_from_slice(q);
    }
    c.write_all(&frames).await.unwrap();
    let mut answers = [tcp_read(&mut c).await, tcp_read(&mut c).await];
    answers.sort_by_key(|r| id(r));
    assert_eq!((id(&answers[0]), rcode(&answers[0])), (1, Rcode::NoError));
    assert_eq!(&answers[0][12..a.len()], &a[12..]);
    assert_eq!((id(&answers[1]), rcode(&answers[1])), (2, Rcode::NxDomain));
    assert_eq!(&answers[1][12..], &d[12..]);
    tcp_send(&mut c, &query(3, b"a*b.test", 1)).await;
    assert_eq!(rcode(&tcp_read(&mut c).await), Rcode::FormErr);
    tcp_send(&mut c, &query(4, b"allowed.test", 1)).await;
    let r = tcp_read(&mut c).await;
    assert_eq!((id(&r), rcode(&r)), (4, Rcode::NoError));
    assert_eq!(up.tcp_count.load(Ordering::SeqCst), 2);
    assert_eq!(up.udp_count.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn client_address_picks_the_policy() {
    let up = upstream(Mode::Answer).await;
    let s = start(vec![up.addr], |c| {
        c.clients = vec![
            "127.0.0.0/8=default".parse::<ClientPolicy>().unwrap(),
            "127.0.0.2/32=strict".parse().unwrap(),
        ]
    })
    .await;
    let ask = |from: &'static str, name: &'static [u8]| {
        let addr = s.addr;
        async move {
            let r = udp_ask_from(from, addr, &query(8, name, 1), Duration::from_secs(3))
                .await
                .expect("an answer");
            rcode(&r)
        }
    };
    assert_eq!(ask("127.0.0.1:0", b"allowed.test").await, Rcode::NoError);
    assert_eq!(
        ask("127.0.0.1:0", b"only.strict.test").await,
        Rcode::NxDomain
    );
    // The /32 is longer than the /8 given before it.
    assert_eq!(ask("127.0.0.2:0", b"allowed.test").await, Rcode::NxDomain);
    assert_eq!(
        ask("127.0.0.2:0", b"only.strict.test").await,
        Rcode::NoError
    );
    assert_eq!(up.total(), 2);
}

#[tokio::test]
async fn unknown_client_policy_is_refused_at_start() {
    let up = upstream(Mode::Answer).await;
    let mut config = Config::new(policy_file(POLICY));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.upstreams = vec![up.addr];
    config.clients = vec!["10.0.0.0/8=nope".parse().unwrap()];
    let err = Server::bind(config).await.err().expect("refused");
    assert!(err.to_string().contains("nope"), "{err}");
}

#[tokio::test]
async fn reload_swaps_a_good_policy_and_refuses_a_bad_one() {
    let up = upstream(Mode::Answer).await;
    let s = start(vec![up.addr], |_| {}).await;
    let ask = |name: &'static [u8]| {
        let addr = s.addr;
        async move { rcode(&udp_ask(addr, &query(9, name, 1)).await) }
    };
    assert_eq!(ask(b"new.test").await, Rcode::NxDomain);
    std::fs::write(&s.policy, "allow new.test\n").unwrap();
    s.handle.reload().unwrap();
    assert_eq!(ask(b"new.test").await, Rcode::NoError);
    assert_eq!(ask(b"allowed.test").await, Rcode::NxDomain);
    std::fs::write(&s.policy, "allow new.test\nallow bad..name\n").unwrap();
    let err = s.handle.reload().unwrap_err().to_string();
    let origin = s.policy.display().to_string();
    assert!(err.starts_with(&format!("{origin}:2:")), "{err}");
    assert_eq!(ask(b"new.test").await, Rcode::NoError, "old policy kept");
}

#[tokio::test]
async fn ipv6_listen_address_serves_udp_and_tcp() {
    let Ok(probe) = UdpSocket::bind("[::1]:0").await else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    drop(probe);
    let up = upstream(Mode::Answer).await;
    let s = start(vec![up.addr], |c| c.listen = "[::1]:0".parse().unwrap()).await;
    let r = udp_ask_from(
        "[::1]:0",
        s.addr,
        &query(10, b"allowed.test", 1),
        Duration::from_secs(3),
    )
    .await
    .expect("an answer");
    assert_eq!(rcode(&r), Rcode::NoError);
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    tcp_send(&mut c, &query(11, b"denied.test", 1)).await;
    assert_eq!(rcode(&tcp_read(&mut c).await), Rcode::NxDomain);
}

/// A stand-in for `nft` that appends each batch it gets on stdin (one line) to `log` and exits
/// with `status`, saying `stderr` when failing.
fn fake_nft(status: i32, stderr: &str) -> (PathBuf, PathBuf) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "hostgate-dns-nft-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("batches");
    let prog = dir.join("nft");
    std::fs::write(
        &prog,
        format!(
            "#!/bin/sh\n[ \"$*\" = \"-j -f -\" ] || exit 9\ncat >> '{}'\necho >> '{}'\necho '{stderr}' >&2\nexit {status}\n",
            log.display(),
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    (prog, log)
}

fn batches(log: &PathBuf) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn allowed_answer_addresses_go_to_the_nft_set_before_the_answer() {
    let up = upstream(Mode::Answer).await;
    let (prog, log) = fake_nft(0, "");
    let control = std::env::temp_dir().join(format!("hostgate-dns-ctl-{}", std::process::id()));
    let s = start(vec![up.addr], |c| {
        c.nft_set = Some("inet/hg/allow4,allow6".parse().unwrap());
        c.nft_program = prog.clone();
        (c.min_ttl, c.max_ttl) = (5, 30); // the upstream's TTL is 60: clamped to 30
        c.control = Some(control.clone());
    })
    .await;
    let r = udp_ask(s.addr, &query(1, b"WwW.allowed.test", 1)).await;
    assert_eq!(rcode(&r), Rcode::NoError);
    // The answer came back only after nft had run: its batch is already written.
    let b = batches(&log);
    assert_eq!(b.len(), 1, "one nft run");
    let expected = serde_json::json!({"nftables": [
        {"add": {"element": {"family": "inet", "table": "hg", "name": "allow4",
            "elem": [{"elem": {"val": "192.0.2.1", "timeout": 30,
                "expires": null, "comment": null, "counter": null}}]}}},
        {"delete": {"element": {"family": "inet", "table": "hg", "name": "allow4",
            "elem": ["192.0.2.1"]}}},
        {"add": {"element": {"family": "inet", "table": "hg", "name": "allow4",
            "elem": [{"elem": {"val": "192.0.2.1", "timeout": 30,
                "expires": null, "comment": null, "counter": null}}]}}},
    ]});
    assert_eq!(b[0], expected);
    // Denied: nothing added.
    let r = udp_ask(s.addr, &query(2, b"denied.test", 1)).await;
    assert_eq!(rcode(&r), Rcode::NxDomain);
    // The same address again, still in the set for as long: no second run.
    let r = udp_ask(s.addr, &query(3, b"allowed.test", 1)).await;
    assert_eq!(rcode(&r), Rcode::NoError);
    assert_eq!(
        batches(&log).len(),
        1,
        "no run for an address already in the set"
    );
    let logs = s.logs.lock().unwrap().clone();
    assert_eq!(
        logs[0].answers,
        vec!["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(logs[1].answers.is_empty());
    // The table: the address and both names it came from.
    let path = control.clone();
    let text = tokio::task::spawn_blocking(move || {
        hostgate_dns::dump(&path, hostgate_dns::LogFormat::Text).unwrap()
    })
    .await
    .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("address=192.0.2.1 name=allowed.test ttl="),
        "{text}"
    );
    assert!(
        lines[1].starts_with("address=192.0.2.1 name=www.allowed.test ttl="),
        "{text}"
    );
    let ttl: u64 = lines[1].rsplit('=').next().unwrap().parse().unwrap();
    assert!((29..=30).contains(&ttl), "{text}");
    let path = control.clone();
    let json = tokio::task::spawn_blocking(move || {
        hostgate_dns::dump(&path, hostgate_dns::LogFormat::Json).unwrap()
    })
    .await
    .unwrap();
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["address"], "192.0.2.1");
    assert_eq!(first["name"], "allowed.test");
    assert_eq!(s.handle.dump(hostgate_dns::LogFormat::Text), text);
}

#[tokio::test]
async fn a_failed_nft_addition_gives_servfail_not_the_answer() {
    let up = upstream(Mode::Answer).await;
    let (prog, log) = fake_nft(1, "Error: No such file or directory");
    let s = start(vec![up.addr], |c| {
        c.nft_set = Some("inet/hg/allow4".parse().unwrap());
        c.nft_program = prog.clone();
    })
    .await;
    let r = udp_ask(s.addr, &query(7, b"allowed.test", 1)).await;
    assert_eq!(id(&r), 7);
    assert_eq!(rcode(&r), Rcode::ServFail);
    assert_eq!(count(&r, 6), 0, "no answer record released");
    assert_eq!(batches(&log).len(), 1);
    let logs = s.logs.lock().unwrap().clone();
    assert_eq!(
        logs[0].error.as_deref(),
        Some("nft: Error: No such file or directory")
    );
    // Nothing learned, so the next query tries again.
    let r = udp_ask(s.addr, &query(8, b"allowed.test", 1)).await;
    assert_eq!(rcode(&r), Rcode::ServFail);
    assert_eq!(batches(&log).len(), 2);
    assert_eq!(s.handle.dump(hostgate_dns::LogFormat::Text), "");
}

#[tokio::test]
async fn a_missing_nft_program_gives_servfail() {
    let up = upstream(Mode::Answer).await;
    let s = start(vec![up.addr], |c| {
        c.nft_set = Some("ip/hg/allow4".parse().unwrap());
        c.nft_program = "/nonexistent/nft".into();
    })
    .await;
    let r = udp_ask(s.addr, &query(7, b"allowed.test", 1)).await;
    assert_eq!(rcode(&r), Rcode::ServFail);
    // Without --nft-set the same answer is released.
    let s = start(vec![up.addr], |_| {}).await;
    let r = udp_ask(s.addr, &query(7, b"allowed.test", 1)).await;
    assert_eq!(rcode(&r), Rcode::NoError);
}
