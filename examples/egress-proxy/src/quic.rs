//! HTTP/3: a UDP listener that relays a QUIC flow to its upstream only once the SNI of the
//! client's Initial packets is allowed.
//!
//! Per client address, datagrams are held (at most [`HELD`]) while the ClientHello is incomplete;
//! once it is, the policy decides: allowed, the held datagrams and every later one go to the
//! upstream from a socket of the flow's own, and the upstream's answers come back from the
//! listening socket; denied or undecidable, every datagram of the flow is dropped (a browser then
//! falls back to TCP, which the TCP listener polices). Flows expire after `idle` without a
//! datagram either way.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hostgate::inspect::quic::{Caps, Reassembler};
use hostgate::inspect::{Limits, Status};
use tokio::net::UdpSocket;

use crate::Shared;

/// Datagrams held per flow while its hello is incomplete (real clients send two or three).
const HELD: usize = 8;

enum Flow {
    Pending {
        held: Vec<Vec<u8>>,
        last: Instant,
    },
    Allowed {
        upstream: Arc<UdpSocket>,
        last: Instant,
    },
    Denied {
        last: Instant,
    },
}

impl Flow {
    fn last(&self) -> Instant {
        match self {
            Flow::Pending { last, .. } | Flow::Allowed { last, .. } | Flow::Denied { last } => {
                *last
            }
        }
    }
}

/// Serves the UDP listener until the process ends.
pub async fn serve(sock: Arc<UdpSocket>, shared: Arc<Shared>, idle: Duration) {
    let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
    let mut table = Reassembler::new(Limits::default(), Caps::default());
    let mut buf = vec![0u8; 65535];
    let mut last_sweep = Instant::now();
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("egress-proxy: quic recv: {e}");
                continue;
            }
        };
        let now = Instant::now();
        if now.duration_since(last_sweep) > idle / 4 {
            flows.retain(|_, f| now.duration_since(f.last()) < idle);
            last_sweep = now;
        }
        let datagram = &buf[..n];
        match flows.get_mut(&peer) {
            Some(Flow::Allowed { upstream, last }) => {
                *last = now;
                let _ = upstream.send(datagram).await;
                continue;
            }
            Some(Flow::Denied { last }) => {
                *last = now;
                continue;
            }
            _ => {}
        }
        // Pending or new: add it to the hello and decide when the hello is complete.
        let policy = shared.policy.load_full();
        let inspection = table.inspect(datagram, now);
        let status = inspection.status;
        let verdict = policy
            .engine
            .verdict_for_inspection(policy.id, &inspection, None);
        let name = inspection.name.map(|n| n.as_str().to_string());
        let rule = verdict.rule.map_or("-".to_string(), |r| r.id().to_string());
        let error = inspection.error.map(|e| e.to_string());
        let held = match flows.remove(&peer) {
            Some(Flow::Pending { mut held, .. }) => {
                held.push(datagram.to_vec());
                held
            }
            _ => vec![datagram.to_vec()],
        };
        if status == Status::NeedMore && held.len() < HELD {
            flows.insert(peer, Flow::Pending { held, last: now });
            continue;
        }
        let mut line = format!(
            "peer={peer} proto=quic via=tls name={} verdict={} reason={} rule={rule}",
            name.as_deref().unwrap_or("-"),
            verdict.action,
            verdict.reason,
        );
        if let Some(e) = error {
            line.push_str(&format!(" error=\"{e}\""));
        }
        // The hello's connection ID is not needed any more: the client address is the flow.
        if let Some(dcid) = dcid(&held[0]) {
            table.forget(dcid);
        }
        let upstream = name
            .filter(|_| verdict.is_allow())
            .and_then(|n| shared.upstreams.get(&n).copied());
        let Some(upstream_addr) = upstream else {
            if verdict.is_allow() {
                line.push_str(" closed=no-upstream");
            }
            println!("{line}");
            flows.insert(peer, Flow::Denied { last: now });
            continue;
        };
        let upstream = match connect(upstream_addr).await {
            Ok(u) => Arc::new(u),
            Err(e) => {
                println!("{line} closed=upstream-{e}");
                flows.insert(peer, Flow::Denied { last: now });
                continue;
            }
        };
        println!("{line} upstream={upstream_addr}");
        for d in &held {
            let _ = upstream.send(d).await;
        }
        tokio::spawn(relay_back(upstream.clone(), sock.clone(), peer, idle));
        flows.insert(
            peer,
            Flow::Allowed {
                upstream,
                last: now,
            },
        );
    }
}

/// A socket of the flow's own, connected to the upstream.
async fn connect(upstream: SocketAddr) -> std::io::Result<UdpSocket> {
    let bind: SocketAddr = if upstream.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let s = UdpSocket::bind(bind).await?;
    s.connect(upstream).await?;
    Ok(s)
}

/// The upstream's datagrams back to the client, until the flow is idle.
async fn relay_back(
    upstream: Arc<UdpSocket>,
    sock: Arc<UdpSocket>,
    peer: SocketAddr,
    idle: Duration,
) {
    let mut buf = vec![0u8; 65535];
    while let Ok(Ok(n)) = tokio::time::timeout(idle, upstream.recv(&mut buf)).await {
        if sock.send_to(&buf[..n], peer).await.is_err() {
            break;
        }
    }
}

/// The destination connection ID of a long-header packet.
fn dcid(datagram: &[u8]) -> Option<&[u8]> {
    let len = usize::from(*datagram.get(5)?);
    datagram.get(6..6 + len)
}
