//! `hostgate inspect --pcap`: captures built here from the repository's captured client bytes
//! (TLS, HTTP, DNS fixtures and the QUIC datagrams of tests/quic), wrapped in Ethernet/IP/TCP
//! or UDP headers by etherparse and written as pcap and pcapng: each flow is found, reassembled
//! and named as the client was told to name it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::{Block, PcapNgWriter};
use pcap_file::DataLink;
use serde_json::Value;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const CLIENT: [u8; 4] = [192, 0, 2, 10];
const SERVER: [u8; 4] = [198, 51, 100, 20];

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn eth() -> etherparse::PacketBuilderStep<etherparse::Ethernet2Header> {
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
}

/// A TCP segment from `from` to `to` (`syn`, `ack` flags as given).
fn tcp(from: ([u8; 4], u16), to: ([u8; 4], u16), seq: u32, flags: &str, data: &[u8]) -> Vec<u8> {
    let mut b = eth().ipv4(from.0, to.0, 64).tcp(from.1, to.1, seq, 64240);
    if flags.contains('S') {
        b = b.syn();
    }
    if flags.contains('A') {
        b = b.ack(1);
    }
    let mut out = Vec::new();
    b.write(&mut out, data).unwrap();
    out
}

fn udp(from: ([u8; 4], u16), to: ([u8; 4], u16), data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    eth()
        .ipv4(from.0, to.0, 64)
        .udp(from.1, to.1)
        .write(&mut out, data)
        .unwrap();
    out
}

/// The frames of the capture, in time order.
fn frames() -> Vec<Vec<u8>> {
    let hello = fixture("crates/hostgate/tests/fixtures/tls-chromium.bin");
    let head = fixture("crates/hostgate/tests/fixtures/http-curl-origin.bin");
    let dns = fixture("crates/hostgate/tests/fixtures/dns-dig-udp-a.bin");
    let q1 = fixture("tests/quic/two-www.kadath.io-1.bin");
    let q2 = fixture("tests/quic/two-www.kadath.io-2.bin");
    let (c1, s1) = ((CLIENT, 40001), (SERVER, 443));
    let (c2, s2) = ((CLIENT, 40002), (SERVER, 8080));
    let (c3, s3) = ((CLIENT, 40003), (SERVER, 53));
    let (c4, s4) = ((CLIENT, 40004), (SERVER, 443));
    // A DNS query whose random id starts with the bits of a QUIC long header.
    let mut dns_c9 = dns.clone();
    dns_c9[0] = 0xc9;
    let isn = 0xffff_fff0u32; // the stream's sequence numbers wrap
    let (a, b) = hello.split_at(300);
    let mut arp = Vec::new();
    eth()
        .arp(
            etherparse::ArpPacket::new(
                etherparse::ArpHardwareId::ETHERNET,
                etherparse::EtherType::IPV4,
                etherparse::ArpOperation::REQUEST,
                &[2, 0, 0, 0, 0, 1],
                &CLIENT,
                &[0; 6],
                &SERVER,
            )
            .unwrap(),
        )
        .write(&mut arp)
        .unwrap();
    vec![
        arp,
        tcp(c1, s1, isn, "S", &[]),
        tcp(s1, c1, 7, "SA", &[]),
        // The second half first, then the first, then the first again (a retransmission).
        tcp(c1, s1, isn.wrapping_add(1 + 300), "A", b),
        tcp(c1, s1, isn.wrapping_add(1), "A", a),
        tcp(s1, c1, 8, "A", b"server bytes are not inspected"),
        tcp(c1, s1, isn.wrapping_add(1), "A", a),
        // An HTTP flow whose SYN was not captured.
        tcp(c2, s2, 1000, "A", &head),
        udp(c3, s3, &dns),
        udp((CLIENT, 40005), s3, &dns_c9),
        udp(c4, s4, &q1),
        udp(c4, s4, &q2),
    ]
}

fn write_pcap(path: &Path) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::with_header(f, PcapHeader::default()).unwrap();
    for (i, frame) in frames().iter().enumerate() {
        let ts = Duration::from_millis(i as u64);
        w.write_packet(&PcapPacket::new(ts, frame.len() as u32, frame))
            .unwrap();
    }
}

fn write_pcapng(path: &Path) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapNgWriter::new(f).unwrap();
    w.write_block(&Block::InterfaceDescription(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        options: vec![],
    }))
    .unwrap();
    for (i, frame) in frames().iter().enumerate() {
        w.write_block(&Block::EnhancedPacket(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_millis(i as u64),
            original_len: frame.len() as u32,
            data: frame.as_slice().into(),
            options: vec![],
        }))
        .unwrap();
    }
}

fn tmp(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

fn hostgate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hostgate"))
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn every_flow_is_found_reassembled_and_named() {
    let policy = tmp("pcap.policy");
    std::fs::write(
        &policy,
        "default deny\nallow example.com port 443 via tls id tls\nallow www.example.com port 8080 id web\nallow www.example.com via dns id dns\n",
    )
    .unwrap();
    for (file, write) in [
        ("flows.pcap", write_pcap as fn(&Path)),
        ("flows.pcapng", write_pcapng as fn(&Path)),
    ] {
        let path = tmp(file);
        write(&path);
        let (code, out, err) = hostgate(&[
            "inspect",
            "--pcap",
            path.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            err,
            format!(
                "{}: 1 packet(s) skipped: not IPv4 or IPv6\n",
                path.display()
            )
        );
        let rows: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let summary: Vec<(String, String, String, String, String, String)> = rows
            .iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or("-").to_string();
                (
                    s("transport"),
                    s("server"),
                    s("protocol"),
                    s("status"),
                    s("name"),
                    s("verdict"),
                )
            })
            .collect();
        let row = |t: &str, srv: &str, p: &str, st: &str, n: &str, v: &str| {
            (
                t.into(),
                srv.into(),
                p.into(),
                st.into(),
                n.into(),
                v.into(),
            )
        };
        assert_eq!(
            summary,
            [
                row(
                    "tcp",
                    "198.51.100.20:443",
                    "tls",
                    "complete",
                    "example.com",
                    "allow"
                ),
                row(
                    "tcp",
                    "198.51.100.20:8080",
                    "http",
                    "complete",
                    "www.example.com",
                    "allow"
                ),
                row(
                    "udp",
                    "198.51.100.20:53",
                    "dns",
                    "complete",
                    "www.example.com",
                    "allow"
                ),
                row(
                    "udp",
                    "198.51.100.20:53",
                    "dns",
                    "complete",
                    "www.example.com",
                    "allow"
                ),
                row(
                    "udp",
                    "198.51.100.20:443",
                    "quic",
                    "complete",
                    "www.kadath.io",
                    "deny"
                ),
            ],
            "{file}"
        );
        assert_eq!(rows[0]["client"], "192.0.2.10:40001");
        assert_eq!(rows[0]["packets"], 4);
        assert_eq!(rows[0]["alpn"], serde_json::json!(["h2", "http/1.1"]));
        assert_eq!(rows[4]["alpn"], serde_json::json!(["h3"]));
        assert_eq!(rows[4]["reason"], "default");
        // The verdict used each flow's destination port: 443 for the hello, 8080 for the head.
        assert_eq!(rows[0]["rule"], "tls");
        assert_eq!(rows[1]["rule"], "web");
    }
}

#[test]
fn text_lines_and_bad_captures() {
    let path = tmp("text.pcap");
    write_pcap(&path);
    let (code, out, _) = hostgate(&["inspect", "--pcap", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("tcp 192.0.2.10:40001 -> 198.51.100.20:443: tls complete example.com via tls alpn h2,http/1.1"),
        "{first}"
    );
    assert_eq!(out.lines().count(), 5);

    // Not a capture; a truncated one.
    let bad = tmp("bad.pcap");
    std::fs::write(&bad, b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let (code, _, err) = hostgate(&["inspect", "--pcap", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "hostgate: {}: not a pcap or pcapng capture\n",
            bad.display()
        )
    );
    // Cut inside its last packet: the flows before it are kept, the cut is reported.
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&bad, &full[..full.len() - 7]).unwrap();
    let (code, out, err) = hostgate(&["inspect", "--pcap", bad.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        err.contains(&format!(
            "{}: 1 packet(s) skipped: the capture ends inside a packet",
            bad.display()
        )),
        "{err}"
    );
    let last = out.lines().last().unwrap();
    assert!(last.contains("quic need-more"), "{last}");
    // A header that is not pcap's.
    std::fs::write(&bad, [0xd4, 0xc3, 0xb2, 0xa1, 1, 2]).unwrap();
    let (code, _, err) = hostgate(&["inspect", "--pcap", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad capture"), "{err}");
    // --pcap takes no FILE arguments.
    let (code, _, _) = hostgate(&["inspect", "--pcap", path.to_str().unwrap(), "x.bin"]);
    assert_eq!(code, 2);
}
