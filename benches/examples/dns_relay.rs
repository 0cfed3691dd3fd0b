//! The floor of `benches/dns/run.sh`: a UDP DNS relay that does only what every forwarder in
//! front of a resolver must do, and nothing else. It reads queries in batches (`recvmmsg`),
//! gives each the next message id, sends the batch to the upstream on one connected socket in
//! one `sendmmsg`, and sends the answers back, with the client's id restored, the same way. No
//! parsing, no policy, no log, no timeouts, no randomness: what it costs is the hop itself on
//! this machine, the most that any relay's throughput can approach.
//!
//! ```sh
//! cargo build --release -p hostgate-benches --example dns_relay
//! target/release/examples/dns_relay 127.0.0.1:5300 127.0.0.1:53
//! ```

use std::io::{self, IoSlice, IoSliceMut};
use std::net::UdpSocket;
use std::os::fd::{AsFd, AsRawFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recvmmsg, sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage,
};

/// Datagrams a system call moves at most (as `hostgate dns`).
const BATCH: usize = 32;
/// Room for a datagram: the benchmark's queries and answers are well under it.
const DATAGRAM: usize = 4096;

/// Receives up to [`BATCH`] datagrams waiting on `socket` into `bufs`; their lengths and
/// senders go to `got`. Nothing waiting: an empty `got`.
fn receive(
    socket: &UdpSocket,
    headers: &mut MultiHeaders<SockaddrStorage>,
    bufs: &mut [u8],
    got: &mut Vec<(usize, Option<SockaddrStorage>)>,
) -> io::Result<()> {
    got.clear();
    let mut chunks = bufs.chunks_mut(DATAGRAM);
    let mut iovs: [[IoSliceMut<'_>; 1]; BATCH] =
        std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
    match recvmmsg(
        socket.as_raw_fd(),
        headers,
        iovs.iter_mut(),
        MsgFlags::MSG_DONTWAIT,
        None,
    ) {
        Ok(msgs) => got.extend(msgs.map(|m| (m.bytes.min(DATAGRAM), m.address))),
        Err(nix::errno::Errno::EAGAIN) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Sends every message of `msgs` on `socket`, each to its address in `to` (`None`: the
/// connected peer), in as few `sendmmsg` calls as the socket's buffer allows.
fn send_all(
    socket: &UdpSocket,
    headers: &mut MultiHeaders<SockaddrStorage>,
    msgs: &[&[u8]],
    to: &[Option<SockaddrStorage>],
) -> io::Result<()> {
    let mut at = 0;
    while at < msgs.len() {
        let iovs: Vec<[IoSlice<'_>; 1]> = msgs[at..].iter().map(|m| [IoSlice::new(m)]).collect();
        let none: [ControlMessage<'_>; 0] = [];
        match sendmmsg(
            socket.as_raw_fd(),
            headers,
            iovs.iter(),
            &to[at..],
            none,
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(sent) => at += sent.count().max(1),
            Err(nix::errno::Errno::EAGAIN) => {
                let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLOUT)];
                poll(&mut fds, PollTimeout::NONE)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Sends on `socket` the datagrams of `got` (in `bufs`) that `rewrite` keeps: it edits each
/// message (at least a DNS header) in place and, given its sender, says where it goes
/// (`Some(None)`: the connected peer) or drops it (`None`).
fn relay(
    socket: &UdpSocket,
    tx: &mut MultiHeaders<SockaddrStorage>,
    bufs: &mut [u8],
    got: &[(usize, Option<SockaddrStorage>)],
    mut rewrite: impl FnMut(&mut [u8], Option<SockaddrStorage>) -> Option<Option<SockaddrStorage>>,
) -> io::Result<()> {
    let mut keep = Vec::with_capacity(got.len());
    let mut to = Vec::with_capacity(got.len());
    for (k, &(n, from)) in got.iter().enumerate() {
        let msg = &mut bufs[k * DATAGRAM..k * DATAGRAM + n];
        if n < 12 {
            continue;
        }
        if let Some(dest) = rewrite(msg, from) {
            keep.push((k, n));
            to.push(dest);
        }
    }
    let msgs: Vec<&[u8]> = keep
        .iter()
        .map(|&(k, n)| &bufs[k * DATAGRAM..k * DATAGRAM + n])
        .collect();
    send_all(socket, tx, &msgs, &to)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, upstream] = &args[..] else {
        eprintln!("usage: dns_relay LISTEN_ADDR:PORT UPSTREAM_ADDR:PORT");
        std::process::exit(2);
    };
    let clients = UdpSocket::bind(listen)?;
    let up = UdpSocket::bind("127.0.0.1:0")?;
    up.connect(upstream)?;
    eprintln!("dns_relay: listening on {listen}, upstream {upstream}");

    // By the id given upstream: the client's address and its own id.
    let mut pending: Vec<Option<(SockaddrStorage, u16)>> = vec![None; 1 << 16];
    let mut next: u16 = 0;
    let mut rx = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut tx = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut bufs = vec![0u8; BATCH * DATAGRAM];
    let mut got = Vec::with_capacity(BATCH);
    loop {
        let mut fds = [
            PollFd::new(clients.as_fd(), PollFlags::POLLIN),
            PollFd::new(up.as_fd(), PollFlags::POLLIN),
        ];
        poll(&mut fds, PollTimeout::NONE)?;

        // Queries: renumbered, then upstream together.
        receive(&clients, &mut rx, &mut bufs, &mut got)?;
        relay(&up, &mut tx, &mut bufs, &got, |msg, from| {
            pending[usize::from(next)] = Some((from?, u16::from_be_bytes([msg[0], msg[1]])));
            msg[..2].copy_from_slice(&next.to_be_bytes());
            next = next.wrapping_add(1);
            Some(None)
        })?;

        // Answers: the client's id back, then to the clients together.
        receive(&up, &mut rx, &mut bufs, &mut got)?;
        relay(&clients, &mut tx, &mut bufs, &got, |msg, _| {
            let (client, id) = pending[usize::from(u16::from_be_bytes([msg[0], msg[1]]))].take()?;
            msg[..2].copy_from_slice(&id.to_be_bytes());
            Some(Some(client))
        })?;
    }
}
