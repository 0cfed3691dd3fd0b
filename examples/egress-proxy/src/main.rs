//! A small egress proxy built on hostgate, meant to be read in one sitting.
//!
//! For every connection it reads the first bytes (a TLS ClientHello, an HTTP/1 request head or a
//! CONNECT request), pulls out the destination name, asks the policy, and then either splices the
//! connection to its upstream or closes it. Upstream addresses come from a static map given on the
//! command line (`--upstream NAME=IP:PORT`), so it needs no DNS. One log line per connection.
//!
//! With `--quic-listen ADDR`, a UDP listener does the same for HTTP/3: a QUIC flow is relayed to
//! its upstream once the SNI of its Initial packets is allowed, and dropped otherwise
//! (`quic.rs`).
//!
//! The policy file is watched (`hostgate-watch`): when it changes (replaced by a rename, written
//! in place, or a ConfigMap update) and on SIGHUP, a new engine is compiled (or an engine file
//! mapped) and swapped in atomically (`arc-swap`). Connections already decided keep going on the
//! engine they started with; a policy that does not compile is refused with its error and the
//! old one stays in force. `--no-watch` leaves reloading to SIGHUP alone.
//!
//! ```text
//! egress-proxy --listen 127.0.0.1:8443 --policy egress.policy \
//!     --upstream api.kadath.io=10.0.0.7:443 --upstream www.kadath.io=10.0.0.8:80
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use clap::Parser;
use hostgate::inspect::{check_fronting, http, inspect, Limits, Outcome, Protocol, Status};
use hostgate::{Engine, PolicyId, Query, Via};
use tokio::io::{copy_bidirectional, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::timeout;

mod quic;

#[derive(Parser, Clone)]
#[command(about = "Egress proxy example: allow or close each connection by its destination name")]
struct Args {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Policy file (text or engine file; re-read when it changes and on SIGHUP)
    #[arg(long)]
    policy: PathBuf,
    /// Do not watch the policy file: reload on SIGHUP only
    #[arg(long)]
    no_watch: bool,
    /// The policy file's format: hostgate, or an import format such as cilium (as `hostgate
    /// --from`)
    #[arg(long = "from", value_name = "FORMAT", default_value = "hostgate")]
    from: hostgate::Format,
    /// Policy to ask [default: `default`, else the file's first]
    #[arg(long)]
    policy_name: Option<String>,
    /// Where an allowed name goes: NAME=IP:PORT (repeatable)
    #[arg(long = "upstream", value_parser = parse_upstream)]
    upstreams: Vec<(String, SocketAddr)>,
    /// How long a client may take to send enough bytes to name its destination
    #[arg(long, default_value_t = 5000)]
    peek_timeout_ms: u64,
    /// Also relay QUIC (HTTP/3) on this UDP address, by the SNI of the client's Initial packets
    #[arg(long, value_name = "ADDR")]
    quic_listen: Option<SocketAddr>,
    /// A QUIC flow with no datagram for this long is forgotten
    #[arg(long, default_value_t = 30000)]
    quic_idle_ms: u64,
}

fn parse_upstream(s: &str) -> Result<(String, SocketAddr), String> {
    let (name, addr) = s.split_once('=').ok_or("expected NAME=IP:PORT")?;
    let name = hostgate::normalize(name).map_err(|e| format!("bad name {name:?}: {e}"))?;
    let addr = addr
        .parse()
        .map_err(|e| format!("bad address {addr:?}: {e}"))?;
    Ok((name.as_str().to_string(), addr))
}

/// The policy in force: an engine and the policy to ask. Swapped whole on reload.
struct Policy {
    engine: Engine,
    id: PolicyId,
}

/// Loads `--policy` through the one loading path (the core, or the importer for `--from`; an
/// engine file from `hostgate compile` is mapped, not compiled); warnings go to stderr.
fn load(args: &Args) -> Result<Policy, String> {
    let loaded = hostgate_map::read_source(&args.policy)
        .and_then(|source| hostgate_import::load(&source.with_format(args.from)))
        .map_err(|e| format!("{e}\n"))?;
    for w in loaded.warnings() {
        eprintln!("{w}");
    }
    let id = loaded
        .select(args.policy_name.as_deref())
        .map_err(|e| format!("{e}\n"))?;
    Ok(Policy {
        engine: loaded.into_engine(),
        id,
    })
}

/// Loads the policy again and swaps it in, or keeps the old one if the new one is refused.
fn reload(args: &Args, shared: &Shared, why: &str) {
    match load(args) {
        Ok(p) => {
            shared.policy.store(Arc::new(p));
            eprintln!("egress-proxy: policy reloaded ({why})");
        }
        Err(e) => eprint!("egress-proxy: reload refused ({why}), old policy kept:\n{e}"),
    }
}

struct Shared {
    policy: ArcSwap<Policy>,
    upstreams: HashMap<String, SocketAddr>,
    peek_timeout: Duration,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let policy = match load(&args) {
        Ok(p) => p,
        Err(e) => {
            eprint!("egress-proxy: policy refused:\n{e}");
            std::process::exit(2);
        }
    };
    let shared = Arc::new(Shared {
        policy: ArcSwap::from_pointee(policy),
        upstreams: args.upstreams.iter().cloned().collect(),
        peek_timeout: Duration::from_millis(args.peek_timeout_ms),
    });
    let listener = match TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("egress-proxy: cannot listen on {}: {e}", args.listen);
            std::process::exit(2);
        }
    };
    eprintln!("egress-proxy: listening on {}", args.listen);
    if let Some(addr) = args.quic_listen {
        let sock = match tokio::net::UdpSocket::bind(addr).await {
            Ok(s) => Arc::new(s),
            Err(e) => {
                eprintln!("egress-proxy: cannot listen on udp {addr}: {e}");
                std::process::exit(2);
            }
        };
        eprintln!("egress-proxy: quic on udp {addr}");
        let idle = Duration::from_millis(args.quic_idle_ms.max(1));
        tokio::spawn(quic::serve(sock, shared.clone(), idle));
    }

    // SIGHUP, and the file changing: compile the file again; swap only when it compiles.
    let _watch = if args.no_watch {
        None
    } else {
        let (args, shared) = (args.clone(), shared.clone());
        match hostgate_watch::watch(&args.policy.clone(), move || {
            reload(&args, &shared, "changed")
        }) {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("egress-proxy: {e}");
                std::process::exit(2);
            }
        }
    };
    let on_hup = (args.clone(), shared.clone());
    let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            reload(&on_hup.0, &on_hup.1, "SIGHUP");
        }
    });

    loop {
        let (client, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("egress-proxy: accept: {e}");
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let line = handle(client, &shared).await;
            println!("peer={peer} {line}");
        });
    }
}

/// Decides one connection and, when allowed, splices it. Returns its log line.
async fn handle(mut client: TcpStream, shared: &Shared) -> String {
    // One snapshot per connection: a reload in the middle does not change this connection.
    let policy = shared.policy.load_full();
    let mut buf = Vec::with_capacity(1024);
    let first = match read_until_named(&mut client, &mut buf, shared.peek_timeout).await {
        Ok(()) => inspect(&buf),
        Err(why) => return format!("name=- verdict=deny reason=no-name rule=- ({why})"),
    };
    let verdict = policy
        .engine
        .verdict_for_inspection(policy.id, &first, None);
    let name = first.name.map(|n| n.as_str().to_string());
    let mut line = format!(
        "proto={} via={} name={} verdict={} reason={} rule={}",
        first.protocol,
        first.via.map_or("-", |v| v.as_str()),
        name.as_deref().unwrap_or("-"),
        verdict.action,
        verdict.reason,
        verdict.rule.map_or("-".to_string(), |r| r.id().to_string()),
    );
    if let Some(e) = first.error {
        line.push_str(&format!(" error=\"{e}\""));
    }
    let Some(name) = name.filter(|_| verdict.is_allow()) else {
        return line; // Denied: dropping `client` closes it.
    };
    let Some(&upstream) = shared.upstreams.get(&name) else {
        return line + " closed=no-upstream";
    };

    // A CONNECT is answered here and its head is not forwarded; what follows is the tunnel, whose
    // TLS SNI or HTTP Host (if any) must be the same host: no domain fronting through an allowed
    // CONNECT.
    let connect_port = first.port;
    if first.via == Some(Via::Connect) {
        let head_len = match http::parse_request_head(&buf, &Limits::default()) {
            Outcome::Complete(h) => h.len,
            _ => return line + " closed=bad-connect",
        };
        buf.drain(..head_len);
        if client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .is_err()
        {
            return line + " closed=client-gone";
        }
        if let Err(why) = read_until_named(&mut client, &mut buf, shared.peek_timeout).await {
            return line + &format!(" closed=tunnel-{why}");
        }
        let inner = inspect(&buf);
        let (sni, host) = match inner.protocol {
            Protocol::Tls => (inner.name.as_ref(), None),
            Protocol::Http => (None, inner.name.as_ref()),
            _ => (None, None), // Not TLS nor HTTP: the CONNECT verdict stands.
        };
        let tunnelled = matches!(inner.protocol, Protocol::Tls | Protocol::Http);
        let connect = hostgate::normalize(&name).ok();
        if tunnelled
            && (inner.name.is_none() || check_fronting(connect.as_ref(), sni, host).is_err())
        {
            let inner_name = inner.name.map_or("-".into(), |n| n.as_str().to_string());
            return line + &format!(" closed=fronting inner={inner_name}");
        }
        if inner.protocol == Protocol::Tls {
            // The tunnelled name must pass the policy as TLS too.
            let q = Query::new(&name).via(Via::Tls);
            let q = connect_port.map_or(q, |p| q.port(p));
            if !policy.engine.check(policy.id, &q).is_allow() {
                return line + " closed=sni-denied";
            }
        }
    }

    let mut server = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(e) => return line + &format!(" closed=upstream-error ({e})"),
    };
    if server.write_all(&buf).await.is_err() {
        return line + " closed=upstream-write";
    }
    drop(policy); // The engine may be replaced while the bytes flow; we no longer need it.
    match copy_bidirectional(&mut client, &mut server).await {
        Ok((up, down)) => {
            line + &format!(
                " upstream={upstream} bytes_up={} bytes_down={down}",
                up + buf.len() as u64
            )
        }
        Err(e) => line + &format!(" upstream={upstream} error=\"{e}\""),
    }
}

/// Reads into `buf` until the bytes name a destination (or are refused), within `limit`.
/// A connection that never says enough is closed, not let through.
async fn read_until_named(
    c: &mut TcpStream,
    buf: &mut Vec<u8>,
    limit: Duration,
) -> Result<(), &'static str> {
    let work = async {
        loop {
            if !buf.is_empty() && inspect(buf).status != Status::NeedMore {
                return Ok(());
            }
            if buf.len() > 64 * 1024 {
                return Err("too-large");
            }
            let mut chunk = [0u8; 4096];
            match c.read(&mut chunk).await {
                Ok(0) => return Err("eof"),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => return Err("read-error"),
            }
        }
    };
    timeout(limit, work).await.unwrap_or(Err("timeout"))
}
