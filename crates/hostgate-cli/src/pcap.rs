//! `hostgate inspect --pcap FILE`: a capture (pcap or pcapng) read into flows, each flow's
//! first client bytes inspected as the live front ends would see them.
//!
//! Flows: TCP and UDP by 5-tuple; the client is the side that sent the SYN, or else the first
//! packet. TCP is reassembled in sequence order from the client's initial sequence number
//! (retransmissions and out-of-order segments are fine; the bytes up to the first gap count),
//! then inspected as a stream (TLS, HTTP/1, DNS over TCP). UDP datagrams are fed to a QUIC
//! reassembler when the flow starts with a long header, else the first one is read as DNS.
//! Packets that are not IPv4/IPv6 TCP or UDP, IP fragments and unknown link types are counted
//! and reported on stderr, never dropped silently.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use hostgate::inspect::{inspect_with, quic, Expect, Inspection, Limits, Status};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;

use crate::Failure;

/// The client bytes of a TCP flow kept for inspection: enough for any hello or request head.
const STREAM_CAP: usize = 64 * 1024;

/// One flow of the capture, in order of first appearance.
pub struct Flow {
    /// `tcp` or `udp`.
    pub transport: &'static str,
    /// The side that opened the flow.
    pub client: SocketAddr,
    /// The other side.
    pub server: SocketAddr,
    /// Packets seen from the client.
    pub packets: usize,
}

/// What the client sent in a flow.
pub struct Data {
    tcp: Option<TcpStream>,
    udp: Vec<Vec<u8>>,
}

#[derive(Default)]
struct TcpStream {
    /// The sequence number of the first payload byte, once known.
    start: Option<u32>,
    /// Segments by offset from `start` (before `start` is known: by raw sequence number).
    segments: BTreeMap<u32, Vec<u8>>,
    pending: Vec<(u32, Vec<u8>)>,
}

impl TcpStream {
    fn add(&mut self, seq: u32, syn: bool, payload: &[u8]) {
        if syn {
            self.start = Some(seq.wrapping_add(1));
        }
        if payload.is_empty() {
            return;
        }
        match self.start {
            Some(start) => {
                let off = seq.wrapping_sub(start);
                // Far "before" the start (a wrapped negative offset): not of this stream.
                if (off as usize) < STREAM_CAP * 16 {
                    self.segments.entry(off).or_insert_with(|| payload.to_vec());
                }
            }
            None => self.pending.push((seq, payload.to_vec())),
        }
    }

    /// The client's bytes from the start up to the first gap, at most [`STREAM_CAP`].
    fn bytes(mut self) -> Vec<u8> {
        if self.start.is_none() {
            // No SYN captured: start at the earliest segment (by sequence distance).
            if let Some(&(first, _)) = self.pending.first() {
                let start = self
                    .pending
                    .iter()
                    .map(|(s, _)| *s)
                    .min_by_key(|s| s.wrapping_sub(first).wrapping_add(1 << 31))
                    .unwrap_or(first);
                self.start = Some(start);
            }
        }
        for (seq, payload) in std::mem::take(&mut self.pending) {
            self.add(seq, false, &payload);
        }
        let mut out = Vec::new();
        for (off, seg) in &self.segments {
            let off = *off as usize;
            if off > out.len() || out.len() >= STREAM_CAP {
                break;
            }
            let skip = out.len() - off;
            if skip < seg.len() {
                out.extend_from_slice(&seg[skip..]);
            }
        }
        out.truncate(STREAM_CAP);
        out
    }
}

/// What was read, and what could not be.
pub struct Capture {
    /// The flows, in order of first packet, with what their clients sent.
    pub flows: Vec<(Flow, Data)>,
    /// Packets skipped, by reason.
    pub skipped: BTreeMap<String, usize>,
}

/// Reads a pcap or pcapng capture into flows.
pub fn read(file: &str, bytes: &[u8]) -> Result<Capture, Failure> {
    let mut cap = Capture {
        flows: Vec::new(),
        skipped: BTreeMap::new(),
    };
    let mut index: HashMap<(bool, SocketAddr, SocketAddr), usize> = HashMap::new();
    let mut add = |cap: &mut Capture, link: DataLink, data: &[u8]| {
        if let Err(why) = packet(cap, &mut index, link, data) {
            *cap.skipped.entry(why).or_default() += 1;
        }
    };
    let bad = |e: pcap_file::PcapError| Failure::msg(format!("{file}: bad capture: {e}"));
    // A capture cut short (a capturing program killed mid-write) keeps what came before.
    let cut = |e: &pcap_file::PcapError| match e {
        pcap_file::PcapError::IncompleteBuffer => true,
        pcap_file::PcapError::IoError(io) => io.kind() == std::io::ErrorKind::UnexpectedEof,
        _ => false,
    };
    const CUT: &str = "the capture ends inside a packet";
    match bytes.get(..4) {
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => {
            let mut r = PcapNgReader::new(bytes).map_err(bad)?;
            // Each section declares its interfaces (and their link types) before its packets.
            let mut links: Vec<DataLink> = Vec::new();
            while let Some(block) = r.next_block() {
                let block = match block {
                    Err(e) if cut(&e) => {
                        *cap.skipped.entry(CUT.into()).or_default() += 1;
                        break;
                    }
                    other => other.map_err(bad)?,
                };
                let (interface, data) = match block {
                    Block::SectionHeader(_) => {
                        links.clear();
                        continue;
                    }
                    Block::InterfaceDescription(i) => {
                        links.push(i.linktype);
                        continue;
                    }
                    Block::EnhancedPacket(p) => (p.interface_id as usize, p.data),
                    Block::SimplePacket(p) => (0, p.data),
                    Block::Packet(p) => (usize::from(p.interface_id), p.data),
                    _ => continue,
                };
                match links.get(interface) {
                    Some(&link) => add(&mut cap, link, &data),
                    None => {
                        *cap.skipped
                            .entry("packet of an undeclared interface".into())
                            .or_default() += 1
                    }
                }
            }
        }
        Some([0xa1, 0xb2, 0xc3, 0xd4] | [0xd4, 0xc3, 0xb2, 0xa1])
        | Some([0xa1, 0xb2, 0x3c, 0x4d] | [0x4d, 0x3c, 0xb2, 0xa1]) => {
            let mut r = PcapReader::new(bytes).map_err(bad)?;
            let link = r.header().datalink;
            while let Some(p) = r.next_packet() {
                let p = match p {
                    Err(e) if cut(&e) => {
                        *cap.skipped.entry(CUT.into()).or_default() += 1;
                        break;
                    }
                    other => other.map_err(bad)?,
                };
                add(&mut cap, link, &p.data);
            }
        }
        _ => {
            return Err(Failure::msg(format!(
                "{file}: not a pcap or pcapng capture"
            )))
        }
    }
    Ok(cap)
}

/// Adds one captured frame to its flow, or says why it is skipped.
fn packet(
    cap: &mut Capture,
    index: &mut HashMap<(bool, SocketAddr, SocketAddr), usize>,
    link: DataLink,
    data: &[u8],
) -> Result<(), String> {
    let sliced = match link {
        DataLink::ETHERNET => SlicedPacket::from_ethernet(data),
        DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(data),
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(data),
        // BSD loopback: a 4-byte address family, then the IP packet.
        DataLink::NULL | DataLink::LOOP => SlicedPacket::from_ip(data.get(4..).unwrap_or(&[])),
        other => return Err(format!("link type {other:?} not read")),
    }
    .map_err(|e| format!("undecodable packet ({e})"))?;
    let (src, dst) = match &sliced.net {
        Some(NetSlice::Ipv4(ip)) => {
            if ip.payload().fragmented {
                return Err("IP fragment (not reassembled)".into());
            }
            (
                IpAddr::V4(ip.header().source_addr()),
                IpAddr::V4(ip.header().destination_addr()),
            )
        }
        Some(NetSlice::Ipv6(ip)) => {
            if ip.payload().fragmented {
                return Err("IP fragment (not reassembled)".into());
            }
            (
                IpAddr::V6(ip.header().source_addr()),
                IpAddr::V6(ip.header().destination_addr()),
            )
        }
        _ => return Err("not IPv4 or IPv6".into()),
    };
    let (tcp, sport, dport) = match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => (true, t.source_port(), t.destination_port()),
        Some(TransportSlice::Udp(u)) => (false, u.source_port(), u.destination_port()),
        _ => return Err("not TCP or UDP".into()),
    };
    let (from, to) = (SocketAddr::new(src, sport), SocketAddr::new(dst, dport));
    let syn_only = matches!(&sliced.transport, Some(TransportSlice::Tcp(t)) if t.syn() && !t.ack());
    let forward = index.get(&(tcp, from, to)).copied();
    let backward = index.get(&(tcp, to, from)).copied();
    let (flow, data) = match (forward, backward) {
        (Some(i), _) => {
            let (f, d) = &mut cap.flows[i];
            (f, d)
        }
        // The server's side of a known flow: not inspected.
        (None, Some(_)) => return Ok(()),
        (None, None) => {
            // A SYN-ACK seen before its SYN names the server; otherwise the sender is the client.
            let synack =
                matches!(&sliced.transport, Some(TransportSlice::Tcp(t)) if t.syn() && t.ack());
            let (client, server) = if synack { (to, from) } else { (from, to) };
            index.insert((tcp, client, server), cap.flows.len());
            cap.flows.push((
                Flow {
                    transport: if tcp { "tcp" } else { "udp" },
                    client,
                    server,
                    packets: 0,
                },
                Data {
                    tcp: tcp.then(TcpStream::default),
                    udp: Vec::new(),
                },
            ));
            if synack {
                return Ok(());
            }
            let Some((f, d)) = cap.flows.last_mut() else {
                return Ok(());
            };
            (f, d)
        }
    };
    flow.packets += 1;
    match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => {
            if let Some(s) = data.tcp.as_mut() {
                s.add(t.sequence_number(), syn_only, t.payload());
            }
        }
        Some(TransportSlice::Udp(u)) => data.udp.push(u.payload().to_vec()),
        _ => {}
    }
    Ok(())
}

/// A flow's inspection: TCP as a stream; UDP as QUIC when it starts with a QUIC long header,
/// else its first datagram as DNS. The inspection borrows `keep` and `table` (a fresh one).
pub fn inspect_flow<'k>(
    flow: Data,
    keep: &'k mut Vec<u8>,
    table: &'k mut quic::Reassembler,
) -> Inspection<'k> {
    let limits = Limits::default();
    if let Some(stream) = flow.tcp {
        *keep = stream.bytes();
        return inspect_with(keep, Expect::Stream, &limits);
    }
    // QUIC when the first datagram is a long header of a version hostgate decodes; a DNS
    // query's random id can look like a long header's first byte, so a DNS question wins
    // over a long header of an unknown version.
    let first = flow.udp.first().map(Vec::as_slice).unwrap_or(&[]);
    let long_header = first.first().is_some_and(|b| b & 0xc0 == 0xc0);
    let known = first
        .get(1..5)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .and_then(|v| quic::Version::from_wire(u32::from_be_bytes(v)))
        .is_some();
    let dns = inspect_with(first, Expect::DnsUdp, &limits).status == Status::Complete;
    let quic_like = long_header && (known || !dns);
    if quic_like {
        // The first datagram that gives an answer (or the last one) decides the flow. Found
        // with a probe table, then replayed on `table` (fresh) so the answer can borrow it.
        let now = Instant::now();
        let mut probe = quic::Reassembler::new(limits, quic::Caps::default());
        let k = flow
            .udp
            .iter()
            .position(|d| probe.inspect(d, now).status != Status::NeedMore)
            .unwrap_or(flow.udp.len() - 1);
        for d in &flow.udp[..k] {
            table.push(d, now);
        }
        *keep = flow.udp[k].clone();
        return table.inspect(keep, now);
    }
    *keep = flow.udp.into_iter().next().unwrap_or_default();
    inspect_with(keep, Expect::DnsUdp, &limits)
}
