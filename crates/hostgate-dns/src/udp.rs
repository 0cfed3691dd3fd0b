//! The UDP side of the server: one task receives the clients' queries and the upstreams'
//! answers and keeps the queries in flight in a table, dnsmasq-style, instead of a task and a
//! fresh socket per query. A task per query cost a hand-off between runtime threads and a
//! socket's whole life (socket, bind, connect, epoll registration, close) for every query,
//! which on a small machine was most of the server's time.
//!
//! Datagrams move in batches: one `recvmmsg` takes up to [`BATCH`] waiting queries (or
//! answers), and what they produce leaves in one `sendmmsg` per socket, the queries of a
//! batch to one upstream sharing one of its sockets, so that their answers also come back
//! together. Under load that is a few system calls per batch instead of four per query; one
//! query at a time it is the same four.
//!
//! Nothing is allocated per query once the buffers have grown: the queries in flight live in
//! a slab of at most [`UDP_IN_FLIGHT`] slots whose buffers (the message, the log's strings)
//! are reused, replies are copied into one reused buffer until they are sent, and answers are
//! read for their addresses in place ([`wire::answer_addresses`]).
//!
//! Upstream queries leave from a fixed pool of sockets per upstream, each bound once to a port
//! the kernel picks at random and connected to its upstream, with a fresh random id: an
//! off-path forger must guess the socket's port and the id, and its answer must also carry the
//! question (0x20 case included) and come from the upstream asked, or it is ignored. Being
//! connected, a socket hears the ICMP error of an upstream that is not listening, and the
//! queries waiting on it move on to the next upstream within a tick rather than at their
//! timeout.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::poll_fn;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use hostgate::Name;
use nix::sys::socket::{
    recvmmsg, sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::time::{Instant, MissedTickBehavior};

use crate::wire::{self, Rcode};
use crate::{
    add_to_sets, read_answer, remember, unspecified_for, Decided, QueryLog, Shared, Spare,
    Transport, UDP_IN_FLIGHT,
};

/// Sockets per upstream.
const POOL: usize = 16;
/// How often queries in flight are checked for their upstream's time running out.
const TICK: Duration = Duration::from_millis(10);
/// Datagrams one system call receives or sends at most.
pub(crate) const BATCH: usize = 32;
/// The largest datagram.
const DATAGRAM: usize = 65535;

thread_local! {
    // nix's message headers hold raw pointers (not `Send`), so they cannot live in the task,
    // which may move between threads: each thread keeps its own pair, made once.
    static HEADERS: RefCell<(MultiHeaders<SockaddrStorage>, MultiHeaders<SockaddrStorage>)> =
        RefCell::new((MultiHeaders::preallocate(BATCH, None), MultiHeaders::preallocate(BATCH, None)));
}

/// A query sent upstream, waiting for its answer: one slot of the slab, reused.
struct Slot {
    client: SocketAddr,
    client_id: u16,
    /// The client's message, with the upstream id in its first two bytes.
    query: Vec<u8>,
    name: Name,
    log: QueryLog,
    spare: Spare,
    /// The upstream asked now: an index into `Config::upstreams`.
    upstream: usize,
    /// When the upstream asked now has had its share of the time.
    attempt_until: Instant,
    deadline: Instant,
    /// A SERVFAIL or REFUSED answer of an earlier upstream (from `fallback_from`), relayed
    /// if no other answers.
    fallback: Vec<u8>,
    fallback_from: Option<SocketAddr>,
    last_error: String,
    /// Its key in `Forwarder::pending` while it waits for an answer.
    key: Option<u32>,
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

/// Replies to clients waiting to be sent: their bytes one after another, and where each ends.
#[derive(Default)]
struct Replies {
    bytes: Vec<u8>,
    ends: Vec<(usize, SocketAddr)>,
}

impl Replies {
    fn push(&mut self, msg: &[u8], to: SocketAddr) {
        self.bytes.extend_from_slice(msg);
        self.ends.push((self.bytes.len(), to));
    }
}

/// Datagrams received by one `recvmmsg`.
struct Received {
    bufs: Vec<u8>,
    got: Vec<(usize, Option<SocketAddr>)>,
}

impl Received {
    fn new() -> Received {
        Received {
            bufs: vec![0; BATCH * DATAGRAM],
            got: Vec::with_capacity(BATCH),
        }
    }

    /// Receives what is waiting on `socket`, up to [`BATCH`] datagrams; `WouldBlock` when
    /// nothing is.
    fn recv(&mut self, socket: &UdpSocket) -> io::Result<()> {
        let Received { bufs, got } = self;
        got.clear();
        socket.try_io(Interest::READABLE, || {
            HEADERS.with_borrow_mut(|(rx, _)| {
                let mut chunks = bufs.chunks_mut(DATAGRAM);
                let mut iovs: [[IoSliceMut<'_>; 1]; BATCH] =
                    std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
                let msgs = recvmmsg(
                    socket.as_raw_fd(),
                    rx,
                    iovs.iter_mut(),
                    MsgFlags::MSG_DONTWAIT,
                    None,
                )?;
                for m in msgs {
                    got.push((m.bytes.min(DATAGRAM), m.address.and_then(to_std)));
                }
                Ok(())
            })
        })
    }

    fn datagram(&mut self, k: usize) -> &mut [u8] {
        let n = self.got.get(k).map_or(0, |g| g.0);
        let at = k * DATAGRAM;
        self.bufs.get_mut(at..at + n).unwrap_or_default()
    }
}

fn to_std(a: SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    a.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

/// Sends `msgs` (at most [`BATCH`]) on `socket`, each to its address in `to` (`None`: the
/// connected peer), in one `sendmmsg`, waiting while the socket's buffer is full. Returns how
/// many left, at least one; an error when the first could not be sent.
async fn send_batch(
    socket: &UdpSocket,
    msgs: &[&[u8]],
    to: &[Option<SockaddrStorage>],
) -> io::Result<usize> {
    let n = msgs.len().min(to.len()).min(BATCH);
    if n == 0 {
        return Ok(0);
    }
    loop {
        let sent = socket.try_io(Interest::WRITABLE, || {
            HEADERS.with_borrow_mut(|(_, tx)| {
                let iovs: [[IoSlice<'_>; 1]; BATCH] =
                    std::array::from_fn(|k| [IoSlice::new(msgs.get(k).copied().unwrap_or(&[]))]);
                let none: [ControlMessage<'_>; 0] = [];
                let sent = sendmmsg(
                    socket.as_raw_fd(),
                    tx,
                    iovs[..n].iter(),
                    &to[..n],
                    none,
                    MsgFlags::MSG_DONTWAIT,
                )?;
                // Counted by walking the results: nix keeps the number to itself.
                Ok(sent.count())
            })
        });
        match sent {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => socket.writable().await?,
            Ok(0) => socket.writable().await?,
            r => return r,
        }
    }
}

struct Forwarder {
    client: Arc<UdpSocket>,
    shared: Arc<Shared>,
    /// The upstream sockets, each connected to one upstream.
    sockets: Vec<UdpSocket>,
    /// Per upstream (as `Config::upstreams`), its sockets' range in `sockets`.
    pools: Vec<(usize, usize)>,
    /// Per upstream, the socket this round's queries to it leave from (picked at random).
    round: Vec<Option<usize>>,
    /// The slab: slots in use are in `pending` (or being moved on), the others in `free`.
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// Queries in flight: slot by (socket index << 16 | upstream id).
    pending: HashMap<u32, usize>,
    /// Queries to send upstream: (socket, slot).
    outgoing: Vec<(usize, usize)>,
    failed: Vec<(usize, io::Error)>,
    replies: Replies,
    /// Keys of queries moving on to their next upstream.
    moving: Vec<u32>,
    /// For queries answered here: their log and local answer.
    log: QueryLog,
    spare: Spare,
    reply: Vec<u8>,
    /// An answer's addresses, and those the sets lack.
    found: Vec<(IpAddr, u32)>,
    adds: Vec<(IpAddr, u32)>,
    random: Randomness,
}

/// What woke the loop.
enum Event {
    Client,
    Upstream(usize),
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
    let peer = shared.config.listen;
    let mut f = Forwarder {
        client,
        round: vec![None; pools.len()],
        shared,
        sockets,
        pools,
        slots: Vec::with_capacity(UDP_IN_FLIGHT),
        free: Vec::with_capacity(UDP_IN_FLIGHT),
        // Twice the slots: removals leave tombstones, and the map must never need to grow.
        pending: HashMap::with_capacity(2 * UDP_IN_FLIGHT),
        outgoing: Vec::with_capacity(BATCH),
        failed: Vec::new(),
        replies: Replies::default(),
        moving: Vec::with_capacity(UDP_IN_FLIGHT),
        log: QueryLog::new(peer, Transport::Udp),
        spare: Spare::default(),
        reply: Vec::new(),
        found: Vec::new(),
        adds: Vec::new(),
        random: Randomness::new(),
    };
    f.run().await;
}

impl Forwarder {
    async fn run(&mut self) {
        let mut received = Received::new();
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
                    if s.poll_recv_ready(cx).is_ready() {
                        return Poll::Ready(Event::Upstream(i));
                    }
                }
                client.poll_recv_ready(cx).map(|_| Event::Client)
            })
            .await;
            self.round.fill(None);
            match event {
                Event::Tick => {
                    // An ICMP error sets the socket's error without waking a reader: look.
                    for i in 0..self.sockets.len() {
                        if let Ok(Some(e)) = self.sockets[i].take_error() {
                            self.refused(i, &e);
                        }
                    }
                    self.expire()
                }
                Event::Upstream(i) => match received.recv(&self.sockets[i]) {
                    Ok(()) => {
                        for k in 0..received.got.len() {
                            let from = received.got[k].1;
                            if let Some(from) = from {
                                self.answered(i, received.datagram(k), from);
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The upstream refused a query (ICMP).
                    Err(e) => self.refused(i, &e),
                },
                Event::Client => {
                    // An error is nothing waiting, or an ICMP error for an earlier reply:
                    // the next receive goes on.
                    if received.recv(&self.client).is_ok() {
                        for k in 0..received.got.len() {
                            if let Some(peer) = received.got[k].1 {
                                self.query(received.datagram(k), peer);
                            }
                        }
                    }
                }
            }
            self.flush().await;
            crate::flush_log();
        }
    }

    /// A client's message: answered here, dropped, or sent upstream.
    fn query(&mut self, msg: &[u8], peer: SocketAddr) {
        if self.free.is_empty() && self.slots.len() >= UDP_IN_FLIGHT {
            return; // the client retries
        }
        let shared = &*self.shared;
        self.log.reset(peer, Transport::Udp, &mut self.spare);
        let decided = shared.policies.load().decide_into(
            msg,
            peer.ip(),
            shared.config.deny_response,
            &mut self.log,
            &mut self.spare,
            &mut self.reply,
        );
        match decided {
            Decided::Forward { id, name } => {
                let now = Instant::now();
                let i = match self.free.pop() {
                    Some(i) => i,
                    None => {
                        self.slots.push(Slot {
                            client: peer,
                            client_id: id,
                            query: Vec::new(),
                            name,
                            log: QueryLog::new(peer, Transport::Udp),
                            spare: Spare::default(),
                            upstream: 0,
                            attempt_until: now,
                            deadline: now,
                            fallback: Vec::new(),
                            fallback_from: None,
                            last_error: String::new(),
                            key: None,
                        });
                        self.slots.len() - 1
                    }
                };
                let slot = &mut self.slots[i];
                // The decided log goes to the slot; the slot's old one is the next query's.
                std::mem::swap(&mut slot.log, &mut self.log);
                std::mem::swap(&mut slot.spare, &mut self.spare);
                slot.client = peer;
                slot.client_id = id;
                slot.query.clear();
                slot.query.extend_from_slice(msg);
                slot.name = name;
                slot.upstream = 0;
                slot.attempt_until = now;
                slot.deadline = now + shared.config.timeout;
                slot.fallback_from = None;
                slot.last_error.clear();
                slot.key = None;
                self.ask(i);
            }
            Decided::Reply => {
                self.log.rcode = wire::rcode(&self.reply);
                self.replies.push(&self.reply, peer);
                (shared.logger.load())(&self.log);
            }
            Decided::Drop => (shared.logger.load())(&self.log),
        }
    }

    /// Queues the slot's query for its upstream (or, when that has no socket, the next),
    /// within the time left; each upstream gets an equal share of it. With none left,
    /// answers the client.
    fn ask(&mut self, i: usize) {
        let count = self.shared.config.upstreams.len();
        loop {
            let now = Instant::now();
            let slot = &mut self.slots[i];
            if slot.upstream >= count || now >= slot.deadline {
                return self.give_up(i);
            }
            let upstream = self.shared.config.upstreams[slot.upstream];
            let left = u32::try_from(count - slot.upstream).unwrap_or(1);
            slot.attempt_until = (now + (slot.deadline - now) / left).min(slot.deadline);
            let (from, to) = self.pools[slot.upstream];
            if from == to {
                slot.last_error.clear();
                let _ = write!(slot.last_error, "{upstream}: cannot open a socket to it");
                slot.upstream += 1;
                continue;
            }
            let random = &mut self.random;
            let socket = *self.round[slot.upstream]
                .get_or_insert_with(|| from + usize::from(random.u16()) % (to - from));
            let id = loop {
                let id = self.random.u16();
                if !self.pending.contains_key(&key(socket, id)) {
                    break id;
                }
            };
            slot.query[..2].copy_from_slice(&id.to_be_bytes());
            slot.key = Some(key(socket, id));
            self.pending.insert(key(socket, id), i);
            self.outgoing.push((socket, i));
            return;
        }
    }

    /// Takes the slot's query out of the table and sends it on to the next upstream.
    fn move_on(&mut self, i: usize, why: &dyn std::fmt::Display) {
        let slot = &mut self.slots[i];
        if let Some(k) = slot.key.take() {
            self.pending.remove(&k);
        }
        let upstream = self.shared.config.upstreams[slot.upstream];
        slot.last_error.clear();
        let _ = write!(slot.last_error, "{upstream}: {why}");
        slot.upstream += 1;
        self.ask(i);
    }

    /// An upstream socket's datagram: the answer to a query in flight, or ignored.
    fn answered(&mut self, socket: usize, reply: &mut [u8], from: SocketAddr) {
        let Some(id) = wire::id(reply) else {
            return;
        };
        let k = key(socket, id);
        let Some(&i) = self.pending.get(&k) else {
            return;
        };
        let upstreams = &self.shared.config.upstreams;
        let slot = &mut self.slots[i];
        // Only the upstream asked, answering this question, is believed.
        if upstreams.get(slot.upstream) != Some(&from) || !wire::answers(reply, &slot.query) {
            return;
        }
        self.pending.remove(&k);
        slot.key = None;
        match wire::rcode(reply) {
            Some(r @ (Rcode::ServFail | Rcode::Refused)) if slot.upstream + 1 < upstreams.len() => {
                slot.fallback.clear();
                slot.fallback.extend_from_slice(reply);
                slot.fallback_from = Some(from);
                self.move_on(i, &r.as_str());
            }
            _ => self.relay(i, reply, from),
        }
    }

    /// An upstream refused a query sent on `socket` (an ICMP port or host unreachable): every
    /// query waiting there went to that upstream, and moves on to the next.
    fn refused(&mut self, socket: usize, e: &io::Error) {
        let socket = u32::try_from(socket).unwrap_or(u32::MAX);
        self.moving.clear();
        self.moving
            .extend(self.pending.keys().filter(|&&k| k >> 16 == socket));
        for n in 0..self.moving.len() {
            if let Some(&i) = self.pending.get(&self.moving[n]) {
                self.move_on(i, e);
            }
        }
    }

    /// Queries whose upstream's share of the time has run out move on to the next upstream.
    fn expire(&mut self) {
        let now = Instant::now();
        self.moving.clear();
        let slots = &self.slots;
        self.moving.extend(
            self.pending
                .iter()
                .filter(|(_, &i)| slots[i].attempt_until <= now)
                .map(|(&k, _)| k),
        );
        for n in 0..self.moving.len() {
            if let Some(&i) = self.pending.get(&self.moving[n]) {
                self.move_on(i, &"timeout");
            }
        }
    }

    /// No upstream answered in time: relay an earlier SERVFAIL or REFUSED, else SERVFAIL.
    fn give_up(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if let Some(from) = slot.fallback_from.take() {
            let mut reply = std::mem::take(&mut slot.fallback);
            self.relay(i, &mut reply, from);
            self.slots[i].fallback = reply;
            return;
        }
        slot.query[..2].copy_from_slice(&slot.client_id.to_be_bytes());
        slot.log.error = Some(std::mem::take(&mut slot.last_error));
        let _ = wire::answer_locally_into(&slot.query, Rcode::ServFail, &mut self.reply);
        slot.log.rcode = wire::rcode(&self.reply);
        if !self.reply.is_empty() {
            self.replies.push(&self.reply, slot.client);
        }
        self.log_and_free(i);
    }

    /// Reads the answer's addresses (adding them to the sets with `--nft-set`) and queues it
    /// for the client with the client's id.
    fn relay(&mut self, i: usize, reply: &mut [u8], from: SocketAddr) {
        let shared = &*self.shared;
        let slot = &mut self.slots[i];
        slot.log.upstream = Some(from);
        slot.fallback_from = None;
        reply[..2].copy_from_slice(&slot.client_id.to_be_bytes());
        let name = slot.name.as_str();
        let read = read_answer(
            shared,
            reply,
            name,
            &mut slot.log,
            &mut self.found,
            &mut self.adds,
        );
        match read {
            Ok(()) if self.adds.is_empty() => {
                remember(shared, &self.found, name);
                slot.log.rcode = wire::rcode(reply);
                self.replies.push(reply, slot.client);
                self.log_and_free(i);
            }
            Ok(()) => {
                // Adding to the sets waits for `nft`: not in this loop, which serves everyone.
                let (shared, client) = (self.shared.clone(), self.client.clone());
                let (adds, found) = (std::mem::take(&mut self.adds), self.found.clone());
                let (reply, mut query, mut log) =
                    (reply.to_vec(), slot.query.clone(), slot.log.clone());
                let (peer, client_id, name) = (slot.client, slot.client_id, slot.name);
                tokio::spawn(async move {
                    let reply = match add_to_sets(&shared, adds).await {
                        Ok(()) => {
                            remember(&shared, &found, name.as_str());
                            Some(reply)
                        }
                        Err(e) => {
                            log.error = Some(e);
                            query[..2].copy_from_slice(&client_id.to_be_bytes());
                            wire::answer_locally(&query, Rcode::ServFail)
                        }
                    };
                    log.rcode = reply.as_deref().and_then(wire::rcode);
                    if let Some(r) = &reply {
                        let _ = client.send_to(r, peer).await;
                    }
                    (shared.logger.load())(&log);
                    crate::flush_log();
                });
                self.free(i);
            }
            Err(e) => {
                // Fail closed: an answer whose addresses the firewall does not know would
                // leave the client with addresses it cannot reach, or worse, reach later.
                slot.log.error = Some(e);
                slot.query[..2].copy_from_slice(&slot.client_id.to_be_bytes());
                let _ = wire::answer_locally_into(&slot.query, Rcode::ServFail, &mut self.reply);
                slot.log.rcode = wire::rcode(&self.reply);
                if !self.reply.is_empty() {
                    self.replies.push(&self.reply, slot.client);
                }
                self.log_and_free(i);
            }
        }
    }

    fn log_and_free(&mut self, i: usize) {
        (self.shared.logger.load())(&self.slots[i].log);
        self.free(i);
    }

    fn free(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if let Some(k) = slot.key.take() {
            self.pending.remove(&k);
        }
        slot.log
            .reset(self.shared.config.listen, Transport::Udp, &mut slot.spare);
        self.free.push(i);
    }

    /// Sends what the round produced: the queries upstream, a batch per socket (a query whose
    /// send fails moves on to the next upstream), then the replies to the clients.
    async fn flush(&mut self) {
        while !self.outgoing.is_empty() {
            let mut out = std::mem::take(&mut self.outgoing);
            out.sort_unstable_by_key(|&(socket, _)| socket);
            let mut at = 0;
            while at < out.len() {
                let socket = out[at].0;
                let end = at + out[at..].iter().take_while(|o| o.0 == socket).count();
                let n = (end - at).min(BATCH);
                let mut msgs: [&[u8]; BATCH] = [&[]; BATCH];
                for (m, &(_, i)) in msgs.iter_mut().zip(&out[at..at + n]) {
                    *m = &self.slots[i].query;
                }
                const CONNECTED: [Option<SockaddrStorage>; BATCH] = [None; BATCH];
                match send_batch(&self.sockets[socket], &msgs[..n], &CONNECTED).await {
                    Ok(sent) => at += sent.max(1),
                    Err(e) => {
                        self.failed.push((out[at].1, e));
                        at += 1;
                    }
                }
            }
            out.clear();
            self.outgoing = out;
            let mut failed = std::mem::take(&mut self.failed);
            for (i, e) in failed.drain(..) {
                self.move_on(i, &e);
            }
            self.failed = failed;
        }
        let Replies { bytes, ends } = &mut self.replies;
        let mut at = 0;
        while at < ends.len() {
            let n = (ends.len() - at).min(BATCH);
            let mut msgs: [&[u8]; BATCH] = [&[]; BATCH];
            let mut to: [Option<SockaddrStorage>; BATCH] = [None; BATCH];
            let mut start = if at == 0 { 0 } else { ends[at - 1].0 };
            for k in 0..n {
                let (end, peer) = ends[at + k];
                msgs[k] = bytes.get(start..end).unwrap_or_default();
                to[k] = Some(SockaddrStorage::from(peer));
                start = end;
            }
            // A reply that cannot be sent (the client's address unusable) is dropped.
            at += send_batch(&self.client, &msgs[..n], &to[..n])
                .await
                .unwrap_or(1)
                .max(1);
        }
        bytes.clear();
        ends.clear();
    }
}

fn key(socket: usize, id: u16) -> u32 {
    (u32::try_from(socket).unwrap_or(u32::MAX) << 16) | u32::from(id)
}
