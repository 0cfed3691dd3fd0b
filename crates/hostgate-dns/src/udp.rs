//! The UDP side of the server: one task receives the clients' queries and the upstreams'
//! answers and keeps the queries in flight in a table, dnsmasq-style, instead of a task and a
//! fresh socket per query. A task per query cost a hand-off between runtime threads and a
//! socket's whole life (socket, bind, connect, epoll registration, close) for every query,
//! which on a small machine was most of the server's time.
//!
//! Upstream queries leave from a fixed pool of sockets per upstream, each bound once to a port
//! the kernel picks at random and connected to its upstream, with a fresh random id: an
//! off-path forger must guess the socket's port and the id, and its answer must also carry the
//! question (0x20 case included) and come from the upstream asked, or it is ignored. Being
//! connected, a socket hears the ICMP error of an upstream that is not listening, and the
//! queries waiting on it move on to the next upstream within a tick rather than at their
//! timeout.

use std::collections::HashMap;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::time::{Instant, MissedTickBehavior};

use crate::wire::{self, Rcode};
use crate::{learn_answer, unspecified_for, Decision, QueryLog, Shared, Transport, UDP_IN_FLIGHT};

/// Sockets per upstream.
const POOL: usize = 16;
/// How often queries in flight are checked for their upstream's time running out.
const TICK: Duration = Duration::from_millis(10);
/// Buffers kept for reuse (queries in flight and fallback answers).
const SPARE_BUFFERS: usize = 256;

/// A query sent upstream, waiting for its answer.
struct Pending {
    client: SocketAddr,
    client_id: u16,
    /// The client's message, with the upstream id in its first two bytes.
    query: Vec<u8>,
    name: String,
    log: QueryLog,
    /// The upstream asked now: an index into `Config::upstreams`.
    upstream: usize,
    /// When the upstream asked now has had its share of the time.
    attempt_until: Instant,
    deadline: Instant,
    /// A SERVFAIL or REFUSED answer of an earlier upstream, relayed if no other answers.
    fallback: Option<(Vec<u8>, SocketAddr)>,
    last_error: String,
}

/// Random bytes from the operating system, fetched 512 at a time.
struct Randomness {
    bytes: [u8; 512],
    at: usize,
}

impl Randomness {
    fn new() -> Randomness {
        Randomness {
            bytes: [0; 512],
            at: 512,
        }
    }

    fn u16(&mut self) -> u16 {
        if self.at + 2 > self.bytes.len() {
            if getrandom::fill(&mut self.bytes).is_err() {
                // Never seen on Linux; the per-call fallback still gives a fresh id.
                return crate::fresh_id();
            }
            self.at = 0;
        }
        let v = u16::from_be_bytes([self.bytes[self.at], self.bytes[self.at + 1]]);
        self.at += 2;
        v
    }
}

struct Forwarder {
    client: Arc<UdpSocket>,
    shared: Arc<Shared>,
    /// The upstream sockets, each connected to one upstream.
    sockets: Vec<UdpSocket>,
    /// Per upstream (as `Config::upstreams`), its sockets' range in `sockets`.
    pools: Vec<(usize, usize)>,
    /// Queries in flight by (socket index << 16 | upstream id).
    pending: HashMap<u32, Pending>,
    spare: Vec<Vec<u8>>,
    expired: Vec<u32>,
    random: Randomness,
}

/// What woke the loop.
enum Event {
    Client(usize, SocketAddr),
    Upstream(usize, usize, SocketAddr),
    /// An upstream socket's error: its upstream refused a query (ICMP).
    Refused(usize, std::io::Error),
    Tick,
}

/// Serves the clients' UDP queries on `client` until the task is dropped.
pub(crate) async fn serve(client: Arc<UdpSocket>, shared: Arc<Shared>) {
    let mut sockets = Vec::new();
    let mut pools = Vec::new();
    for &upstream in &shared.config.upstreams {
        let from = sockets.len();
        for _ in 0..POOL {
            // An upstream the host cannot reach (no route, a family it lacks) is left without
            // sockets: its queries fail over to the next upstream, as a failed send would.
            let Ok(s) = UdpSocket::bind(unspecified_for(upstream)).await else {
                break;
            };
            if s.connect(upstream).await.is_err() {
                break;
            }
            sockets.push(s);
        }
        pools.push((from, sockets.len()));
    }
    let mut f = Forwarder {
        client,
        shared,
        sockets,
        pools,
        pending: HashMap::with_capacity(UDP_IN_FLIGHT),
        spare: Vec::with_capacity(SPARE_BUFFERS),
        expired: Vec::new(),
        random: Randomness::new(),
    };
    f.run().await;
}

impl Forwarder {
    async fn run(&mut self) {
        let mut from_client = vec![0u8; 65535];
        let mut from_upstream = vec![0u8; 65535];
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            let (client, sockets) = (&self.client, &self.sockets);
            let event = poll_fn(|cx| {
                if tick.poll_tick(cx).is_ready() {
                    return Poll::Ready(Event::Tick);
                }
                // Answers first: each one finishes a query and frees its slot.
                for (i, s) in sockets.iter().enumerate() {
                    let mut buf = ReadBuf::new(&mut from_upstream);
                    match s.poll_recv_from(cx, &mut buf) {
                        Poll::Ready(Ok(from)) => {
                            return Poll::Ready(Event::Upstream(i, buf.filled().len(), from))
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Event::Refused(i, e)),
                        Poll::Pending => {}
                    }
                }
                let mut buf = ReadBuf::new(&mut from_client);
                match client.poll_recv_from(cx, &mut buf) {
                    Poll::Ready(Ok(peer)) => Poll::Ready(Event::Client(buf.filled().len(), peer)),
                    // An ICMP error for an earlier reply, or a transient failure: wake again
                    // to keep serving.
                    Poll::Ready(Err(_)) => {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                    Poll::Pending => Poll::Pending,
                }
            })
            .await;
            match event {
                Event::Tick => {
                    // An ICMP error sets the socket's error without waking a reader: look.
                    for i in 0..self.sockets.len() {
                        if let Ok(Some(e)) = self.sockets[i].take_error() {
                            self.refused(i, &e).await;
                        }
                    }
                    self.expire().await
                }
                Event::Upstream(i, n, from) => {
                    self.answered(i, &mut from_upstream[..n], from).await
                }
                Event::Client(n, peer) => self.query(&from_client[..n], peer).await,
                Event::Refused(i, e) => self.refused(i, &e).await,
            }
        }
    }

    fn buffer(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut b = self.spare.pop().unwrap_or_default();
        b.clear();
        b.extend_from_slice(bytes);
        b
    }

    fn recycle(&mut self, b: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS && b.capacity() <= 4096 {
            self.spare.push(b);
        }
    }

    /// A client's message: answered here, dropped, or sent upstream.
    async fn query(&mut self, msg: &[u8], peer: SocketAddr) {
        if self.pending.len() >= UDP_IN_FLIGHT {
            return; // the client retries
        }
        let shared = self.shared.clone();
        let mut log = QueryLog::new(peer, Transport::Udp);
        let deny = shared.config.deny_response;
        let decision = shared
            .policies
            .load()
            .decide(msg, peer.ip(), deny, &mut log);
        match decision {
            Decision::Forward { id, name } => {
                let now = Instant::now();
                let p = Pending {
                    client: peer,
                    client_id: id,
                    query: self.buffer(msg),
                    name,
                    log,
                    upstream: 0,
                    attempt_until: now,
                    deadline: now + shared.config.timeout,
                    fallback: None,
                    last_error: String::new(),
                };
                self.ask(p).await;
            }
            Decision::Reply(r) => {
                log.rcode = wire::rcode(&r);
                let _ = self.client.send_to(&r, peer).await;
                (shared.logger.load())(&log);
            }
            Decision::Drop => (shared.logger.load())(&log),
        }
    }

    /// Sends the query to its upstream (or, when that fails, the next), within the time left;
    /// each upstream gets an equal share of it. With none left, answers the client.
    async fn ask(&mut self, mut p: Pending) {
        let count = self.shared.config.upstreams.len();
        loop {
            let now = Instant::now();
            if p.upstream >= count || now >= p.deadline {
                return self.give_up(p).await;
            }
            let upstream = self.shared.config.upstreams[p.upstream];
            let left = u32::try_from(count - p.upstream).unwrap_or(1);
            p.attempt_until = (now + (p.deadline - now) / left).min(p.deadline);
            let (from, to) = self.pools[p.upstream];
            if from == to {
                p.last_error = format!("{upstream}: cannot open a socket to it");
                p.upstream += 1;
                continue;
            }
            let (socket, id) = loop {
                let s = from + usize::from(self.random.u16()) % (to - from);
                let id = self.random.u16();
                if !self.pending.contains_key(&key(s, id)) {
                    break (s, id);
                }
            };
            p.query[..2].copy_from_slice(&id.to_be_bytes());
            match self.sockets[socket].send(&p.query).await {
                Ok(_) => {
                    self.pending.insert(key(socket, id), p);
                    return;
                }
                Err(e) => {
                    p.last_error = format!("{upstream}: {e}");
                    p.upstream += 1;
                }
            }
        }
    }

    /// An upstream socket's datagram: the answer to a query in flight, or ignored.
    async fn answered(&mut self, socket: usize, reply: &mut [u8], from: SocketAddr) {
        let Some(id) = reply.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            return;
        };
        let k = key(socket, id);
        let upstreams = &self.shared.config.upstreams;
        let Some(p) = self.pending.get(&k) else {
            return;
        };
        // Only the upstream asked, answering this question, is believed.
        if upstreams.get(p.upstream) != Some(&from) || !wire::answers(reply, &p.query) {
            return;
        }
        let Some(mut p) = self.pending.remove(&k) else {
            return;
        };
        match wire::rcode(reply) {
            Some(r @ (Rcode::ServFail | Rcode::Refused)) if p.upstream + 1 < upstreams.len() => {
                p.last_error = format!("{from}: {}", r.as_str());
                let kept = self.buffer(reply);
                if let Some((old, _)) = p.fallback.replace((kept, from)) {
                    self.recycle(old);
                }
                p.upstream += 1;
                self.ask(p).await;
            }
            _ => self.relay(p, reply, from).await,
        }
    }

    /// An upstream refused a query sent on `socket` (an ICMP port or host unreachable): every
    /// query waiting there went to that upstream, and moves on to the next.
    async fn refused(&mut self, socket: usize, e: &std::io::Error) {
        let mut waiting = std::mem::take(&mut self.expired);
        waiting.clear();
        let socket = u32::try_from(socket).unwrap_or(u32::MAX);
        waiting.extend(self.pending.keys().filter(|&&k| k >> 16 == socket));
        for k in &waiting {
            if let Some(mut p) = self.pending.remove(k) {
                let upstream = self.shared.config.upstreams[p.upstream];
                p.last_error = format!("{upstream}: {e}");
                p.upstream += 1;
                self.ask(p).await;
            }
        }
        self.expired = waiting;
    }

    /// Queries whose upstream's share of the time has run out move on to the next upstream.
    async fn expire(&mut self) {
        let now = Instant::now();
        let mut expired = std::mem::take(&mut self.expired);
        expired.clear();
        expired.extend(
            self.pending
                .iter()
                .filter(|(_, p)| p.attempt_until <= now)
                .map(|(&k, _)| k),
        );
        for k in &expired {
            if let Some(mut p) = self.pending.remove(k) {
                let upstream = self.shared.config.upstreams[p.upstream];
                p.last_error = format!("{upstream}: timeout");
                p.upstream += 1;
                self.ask(p).await;
            }
        }
        self.expired = expired;
    }

    /// No upstream answered in time: relay an earlier SERVFAIL or REFUSED, else SERVFAIL.
    async fn give_up(&mut self, mut p: Pending) {
        if let Some((mut reply, from)) = p.fallback.take() {
            self.relay(p, &mut reply, from).await;
            self.recycle(reply);
            return;
        }
        p.query[..2].copy_from_slice(&p.client_id.to_be_bytes());
        p.log.error = Some(std::mem::take(&mut p.last_error));
        let reply = wire::answer_locally(&p.query, Rcode::ServFail);
        self.send_and_log(p, reply).await;
    }

    /// Reads the answer's addresses (adding them to the sets with `--nft-set`) and sends it to
    /// the client with the client's id.
    async fn relay(&mut self, mut p: Pending, reply: &mut [u8], from: SocketAddr) {
        p.log.upstream = Some(from);
        if let Some(old) = p.fallback.take() {
            self.recycle(old.0);
        }
        reply[..2].copy_from_slice(&p.client_id.to_be_bytes());
        if self.shared.nft.is_some() {
            // Adding to the sets waits for `nft`: not in this loop, which serves everyone.
            let (shared, client, reply) =
                (self.shared.clone(), self.client.clone(), reply.to_vec());
            let Pending {
                client: peer,
                client_id,
                mut query,
                name,
                mut log,
                ..
            } = p;
            tokio::spawn(async move {
                let reply = match learn_answer(&shared, &reply, &name, &mut log).await {
                    Ok(()) => Some(reply),
                    Err(e) => {
                        log.error = Some(e);
                        query[..2].copy_from_slice(&client_id.to_be_bytes());
                        wire::answer_locally(&query, Rcode::ServFail)
                    }
                };
                finish(&shared, &client, peer, reply.as_deref(), &mut log).await;
            });
            return;
        }
        // Without sets, reading the answer never waits, and an unreadable one is only logged.
        let _ = learn_answer(&self.shared, reply, &p.name, &mut p.log).await;
        let mut log = std::mem::replace(&mut p.log, QueryLog::new(p.client, Transport::Udp));
        finish(&self.shared, &self.client, p.client, Some(reply), &mut log).await;
        self.recycle(p.query);
    }

    async fn send_and_log(&mut self, mut p: Pending, reply: Option<Vec<u8>>) {
        finish(
            &self.shared,
            &self.client,
            p.client,
            reply.as_deref(),
            &mut p.log,
        )
        .await;
        self.recycle(p.query);
    }
}

/// Sends the reply (if any) to the client and writes the query's log line.
async fn finish(
    shared: &Shared,
    client: &UdpSocket,
    peer: SocketAddr,
    reply: Option<&[u8]>,
    log: &mut QueryLog,
) {
    log.rcode = reply.and_then(wire::rcode);
    if let Some(r) = reply {
        let _ = client.send_to(r, peer).await;
    }
    (shared.logger.load())(log);
}

fn key(socket: usize, id: u16) -> u32 {
    (u32::try_from(socket).unwrap_or(u32::MAX) << 16) | u32::from(id)
}
