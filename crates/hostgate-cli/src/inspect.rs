//! `hostgate inspect`: pull the destination name out of captured bytes (a TLS ClientHello, an
//! HTTP/1 request head, a DNS query) and, with `--policy`, give the verdict for it.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::Args;
use hostgate::inspect::{inspect_with, Expect, Inspection, Limits};
use serde::Serialize;

use crate::load::{load, Loaded};
use crate::output::{display_name, write_failed};
use crate::{Failure, Format, QueryArgs};

#[derive(Args)]
pub struct InspectArgs {
    /// Also check the name against this policy file
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The policy to ask [default: `default` when the file has it, else its first policy]
    #[arg(long, value_name = "NAME", requires = "policy")]
    policy_name: Option<String>,
    /// The policy file's format: hostgate, or an import format (docs/import.md)
    #[arg(long = "from", value_name = "FORMAT", default_value = "hostgate", value_parser = crate::format_parser())]
    from: hostgate::Format,
    /// The connection's real destination port, used for the verdict instead of the port the
    /// request names (TLS and DNS name none)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
    /// What the bytes are: `stream` detects TLS, HTTP/1 or DNS over TCP; DNS over UDP cannot be
    /// told from bytes alone and must be asked for
    #[arg(long, value_parser = expect_parser(), default_value = "stream")]
    expect: Expect,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Read a capture (pcap or pcapng) instead: one line per TCP or UDP flow, the client's
    /// first bytes inspected (TCP reassembled; UDP as QUIC, else DNS), the verdict with the
    /// flow's destination port unless --port is given
    #[arg(long, value_name = "FILE", conflicts_with_all = ["files", "expect"])]
    pcap: Option<PathBuf>,
    /// Files holding the first bytes of a connection (or one DNS message); `-` is standard input
    #[arg(value_name = "FILE", required_unless_present = "pcap")]
    files: Vec<PathBuf>,
}

/// `--expect` values, parsed by [`Expect`]'s `FromStr`; listed here for their help lines.
fn expect_parser() -> impl TypedValueParser<Value = Expect> {
    PossibleValuesParser::new([
        PossibleValue::new("stream")
            .help("The first bytes of a TCP stream: TLS, HTTP/1.x or DNS over TCP, detected"),
        PossibleValue::new("tls").help("Only a TLS ClientHello"),
        PossibleValue::new("http").help("Only an HTTP/1.x request head"),
        PossibleValue::new("dns-udp").help("One DNS message as sent over UDP"),
        PossibleValue::new("dns-tcp").help("DNS over TCP (2-byte length prefix)"),
        PossibleValue::new("quic")
            .help("One QUIC Initial datagram (v1 or v2), decrypted with its Initial keys"),
    ])
    .try_map(|s| s.parse::<Expect>())
}

/// One line of `inspect --format json`; the verdict fields are those of `check`.
#[derive(Serialize)]
struct Record<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(flatten)]
    flow: Option<FlowFields>,
    protocol: &'static str,
    status: &'static str,
    name: Option<&'a str>,
    kind: Option<&'static str>,
    port: Option<u16>,
    alpn: Vec<String>,
    ech: bool,
    error: Option<String>,
    #[serde(flatten)]
    verdict: Option<VerdictFields<'a>>,
}

/// A capture's flow, in `inspect --pcap --format json`.
#[derive(Serialize)]
struct FlowFields {
    transport: &'static str,
    client: String,
    server: String,
    packets: usize,
}

/// What an inspected input was: a file, or a flow of a capture.
enum Source<'a> {
    File(&'a str),
    Flow(&'a crate::pcap::Flow),
}

#[derive(Serialize)]
struct VerdictFields<'a> {
    verdict: &'static str,
    reason: &'static str,
    policy: &'a str,
    rule: Option<String>,
    line: Option<u32>,
}

pub fn run(args: InspectArgs) -> Result<(), Failure> {
    let loaded = match &args.policy {
        Some(policy) => Some(load(&QueryArgs {
            policy: policy.clone(),
            policy_name: args.policy_name.clone(),
            from: args.from,
            import: Default::default(),
            port: None,
            via: None,
        })?),
        None => None,
    };
    if let Some(path) = &args.pcap {
        return pcap(path, loaded.as_ref(), args.port, args.format);
    }
    // Read everything first: an unreadable file is a usage error, reported before any output.
    let mut inputs = Vec::with_capacity(args.files.len());
    for file in &args.files {
        let shown = file.display().to_string();
        let bytes = if shown == "-" {
            let mut buf = Vec::new();
            io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Failure::msg(format!("cannot read standard input: {e}")))?;
            buf
        } else {
            std::fs::read(file).map_err(|e| Failure::msg(format!("cannot read {shown}: {e}")))?
        };
        inputs.push((shown, bytes));
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    let limits = Limits::default();
    for (file, bytes) in &inputs {
        let inspection = inspect_with(bytes, args.expect, &limits);
        let line = render(
            Source::File(file),
            &inspection,
            loaded.as_ref(),
            args.port,
            args.format,
        );
        if let Err(e) = writeln!(out, "{line}") {
            return write_failed(e);
        }
    }
    out.flush().or_else(write_failed)
}

/// `--pcap`: one line per flow; what was skipped goes to stderr.
fn pcap(
    path: &std::path::Path,
    loaded: Option<&Loaded>,
    port: Option<u16>,
    format: Format,
) -> Result<(), Failure> {
    let shown = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| Failure::msg(format!("cannot read {shown}: {e}")))?;
    let capture = crate::pcap::read(&shown, &bytes)?;
    for (why, n) in &capture.skipped {
        eprintln!("{shown}: {n} packet(s) skipped: {why}");
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    for (flow, data) in capture.flows {
        let mut keep = Vec::new();
        let mut table =
            hostgate::inspect::quic::Reassembler::new(Limits::default(), Default::default());
        let inspection = crate::pcap::inspect_flow(data, &mut keep, &mut table);
        let line = render(
            Source::Flow(&flow),
            &inspection,
            loaded,
            port.or(Some(flow.server.port())),
            format,
        );
        if let Err(e) = writeln!(out, "{line}") {
            return write_failed(e);
        }
    }
    out.flush().or_else(write_failed)
}

fn render(
    source: Source<'_>,
    i: &Inspection<'_>,
    loaded: Option<&Loaded>,
    port: Option<u16>,
    format: Format,
) -> String {
    let verdict = loaded.map(|l| (l, l.engine.verdict_for_inspection(l.policy, i, port)));
    let name = i.name.as_ref().map(|n| n.as_str());
    let kind = i
        .name
        .as_ref()
        .map(|n| if n.ip().is_some() { "ip" } else { "name" });
    let alpn: Vec<String> = i
        .alpn
        .iter()
        .map(|p| String::from_utf8_lossy(p.as_bytes()).into_owned())
        .collect();
    match format {
        Format::Json => {
            let (file, flow) = match source {
                Source::File(f) => (Some(f.to_owned()), None),
                Source::Flow(f) => (
                    None,
                    Some(FlowFields {
                        transport: f.transport,
                        client: f.client.to_string(),
                        server: f.server.to_string(),
                        packets: f.packets,
                    }),
                ),
            };
            let record = Record {
                file,
                flow,
                protocol: i.protocol.as_str(),
                status: i.status.as_str(),
                name,
                kind,
                port: i.port,
                alpn,
                ech: i.ech,
                error: i.error.map(|e| e.to_string()),
                verdict: verdict.as_ref().map(|(l, v)| VerdictFields {
                    verdict: v.action.as_str(),
                    reason: v.reason.as_str(),
                    policy: l.policy_name(),
                    rule: v.rule.map(|r| r.id().to_string()),
                    line: v.rule.map(|r| r.line()),
                }),
            };
            serde_json::to_string(&record).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        }
        Format::Text => {
            let shown = match source {
                Source::File(f) => display_name(f.as_bytes()),
                Source::Flow(f) => format!("{} {} -> {}", f.transport, f.client, f.server),
            };
            let mut s = format!("{shown}: {} {}", i.protocol, i.status);
            if let Some(n) = name {
                s.push_str(&format!(" {n}"));
            }
            if let Some(p) = i.port {
                s.push_str(&format!(" port {p}"));
            }
            if let Some(v) = i.via {
                s.push_str(&format!(" via {v}"));
            }
            if !alpn.is_empty() {
                s.push_str(&format!(
                    " alpn {}",
                    display_name(alpn.join(",").as_bytes())
                ));
            }
            if i.ech {
                s.push_str(" ech");
            }
            if let Some(n) = i.need {
                s.push_str(&format!(" (at least {n} more bytes)"));
            }
            if let Some(e) = i.error {
                s.push_str(&format!(" ({e})"));
            }
            if let Some((_, v)) = verdict {
                s.push_str(&format!(" => {} {}", v.action, v.reason));
                if let Some(r) = v.rule {
                    s.push_str(&format!(" {} (line {})", r.id(), r.line()));
                }
            }
            s
        }
    }
}
