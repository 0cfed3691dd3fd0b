//! A forwarding DNS server that answers by hostgate policy.
//!
//! Every query (UDP or TCP, IPv4 or IPv6) is read by hostgate's own DNS question parser
//! ([`hostgate::inspect::dns`]) and its name checked `via dns` against the policy chosen by the
//! client's source address ([`Config::clients`], longest prefix first, else the default
//! policy). Then:
//!
//! - **allowed**: the message goes to the first upstream as received (EDNS, DO, cookies and
//!   the name's case untouched) except for a fresh random id, from one of a pool of sockets
//!   bound to random ports; the first answer with that id and the same question is relayed
//!   with the client's id (a truncated UDP answer as is, TC set, so the client retries over
//!   TCP, which is forwarded over TCP).
//!   A failed upstream (error, timeout, SERVFAIL, REFUSED) hands over to the next; when none
//!   answers within [`Config::timeout`], the client gets SERVFAIL.
//! - **denied**: answered here with [`DenyResponse`], the question echoed, never forwarded.
//! - **unreadable**: FORMERR (NOTIMP for another opcode) when the header is readable,
//!   else dropped; a response (QR set) is dropped. Never forwarded.
//!
//! Every A/AAAA address an allowed answer gives for the question's name (CNAME chains inside
//! the answer followed, see [`learn::answer_addresses`]) goes into a name ↔ address table
//! that expires with the records' TTLs clamped to [`Config::min_ttl`]..[`Config::max_ttl`]
//! ([`Handle::dump`], `--dump` over [`Config::control`]). With [`Config::nft_set`] the
//! addresses are also added to nftables sets with that timeout before the answer is released,
//! so that the client's first packet finds them there; when the addition fails the client gets
//! SERVFAIL instead of the answer. The sets are global: an address one client's lookup opened
//! is open to every client the ruleset lets through the same set.
//!
//! One [`QueryLog`] per query goes to stdout (text or JSON). A change to the policy file or
//! SIGHUP (in [`run`]), or [`Handle::reload`], recompiles the policy file (or maps it again);
//! a policy that does not compile is refused and the old one stays in force.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hostgate_dns::Error> {
//! use hostgate_dns::{Config, Server};
//! let mut config = Config::new("/etc/hostgate/dns.policy".into());
//! config.listen = "127.0.0.1:5353".parse().unwrap();
//! config.upstreams = vec!["127.0.0.1:53".parse().unwrap()];
//! let server = Server::bind(config).await?;
//! server.run().await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hostgate::inspect::dns::{self, Malformed};
use hostgate::inspect::Outcome;
use hostgate::{Engine, Name, PolicyId, PolicySource, Reason, Via};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::{timeout, timeout_at, Instant};

pub mod learn;
mod udp;
pub mod wire;

use learn::{NftSets, Table};
use wire::Rcode;

/// How long a TCP client may stay silent between queries before its connection is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Queries one TCP connection may have in flight; reading waits beyond that.
const TCP_IN_FLIGHT: usize = 64;
/// UDP queries in flight; beyond that new ones are dropped (the client retries).
const UDP_IN_FLIGHT: usize = 4096;

/// What a denied query is answered with.
///
/// ```
/// use hostgate_dns::DenyResponse;
/// assert_eq!("nodata".parse::<DenyResponse>(), Ok(DenyResponse::NoData));
/// assert_eq!(DenyResponse::default().as_str(), "nxdomain");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum DenyResponse {
    /// NXDOMAIN: the name does not exist.
    #[default]
    Nxdomain,
    /// NOERROR with no answers: the name exists but has no record of that type.
    #[value(name = "nodata")]
    NoData,
    /// REFUSED.
    Refused,
}

impl DenyResponse {
    /// `nxdomain`, `nodata` or `refused`.
    ///
    /// ```
    /// assert_eq!(hostgate_dns::DenyResponse::Refused.as_str(), "refused");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DenyResponse::Nxdomain => "nxdomain",
            DenyResponse::NoData => "nodata",
            DenyResponse::Refused => "refused",
        }
    }

    fn rcode(self) -> Rcode {
        match self {
            DenyResponse::Nxdomain => Rcode::NxDomain,
            DenyResponse::NoData => Rcode::NoError,
            DenyResponse::Refused => Rcode::Refused,
        }
    }
}

impl FromStr for DenyResponse {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <DenyResponse as clap::ValueEnum>::from_str(s, false)
    }
}

/// The log line format.
///
/// ```
/// assert_eq!(hostgate_dns::LogFormat::default(), hostgate_dns::LogFormat::Text);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum LogFormat {
    /// `key=value` pairs.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// An address block: an address and a prefix length.
///
/// ```
/// use hostgate_dns::Cidr;
/// let c: Cidr = "10.1.0.0/16".parse().unwrap();
/// assert!(c.contains("10.1.2.3".parse().unwrap()));
/// assert!(!c.contains("10.2.0.1".parse().unwrap()));
/// assert_eq!("::1".parse::<Cidr>().unwrap().prefix(), 128);
/// assert!("10.0.0.0/33".parse::<Cidr>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// True when `ip` is in the block. An IPv4-mapped IPv6 address (a v4 client of a
    /// dual-stack socket) counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("bad address {addr:?} in {s:?}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("bad prefix length in {s:?} (0 to {max})"))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// `--client CIDR=POLICY`: clients in the block are checked against the named policy.
///
/// ```
/// let c: hostgate_dns::ClientPolicy = "127.0.0.2/32=tenant-b".parse().unwrap();
/// assert_eq!(c.policy, "tenant-b");
/// assert!("127.0.0.2".parse::<hostgate_dns::ClientPolicy>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientPolicy {
    /// The clients.
    pub cidr: Cidr,
    /// The policy's name.
    pub policy: String,
}

impl FromStr for ClientPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (cidr, policy) = s.split_once('=').ok_or("expected CIDR=POLICY")?;
        if policy.is_empty() {
            return Err("expected CIDR=POLICY".into());
        }
        Ok(ClientPolicy {
            cidr: cidr.parse()?,
            policy: policy.to_string(),
        })
    }
}

/// The command line of `hostgate-dns`, ready to flatten into another clap command.
///
/// ```
/// use clap::Parser;
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     dns: hostgate_dns::Args,
/// }
/// let cli = Cli::parse_from(["x", "--listen", "127.0.0.1:5353", "--upstream", "127.0.0.1:53",
///     "--policy", "p.policy", "--client", "10.0.0.0/8=lab", "--deny-response", "refused"]);
/// let config = cli.dns.into_config();
/// assert_eq!(config.deny_response, hostgate_dns::DenyResponse::Refused);
/// assert_eq!(config.clients[0].policy, "lab");
/// ```
#[derive(Clone, Debug, clap::Args)]
// This doc comment is for rustdoc: keep it out of the command's --help.
#[command(about = None, long_about = None)]
pub struct Args {
    /// Address to listen on, UDP and TCP (IPv4 or IPv6)
    #[arg(long, value_name = "ADDR:PORT", required_unless_present = "dump")]
    pub listen: Option<SocketAddr>,
    /// Resolver to forward allowed queries to, ADDR:PORT (repeatable: tried in order)
    #[arg(
        long = "upstream",
        value_name = "ADDR:PORT",
        required_unless_present = "dump"
    )]
    pub upstreams: Vec<SocketAddr>,
    /// Policy file, text or engine file (re-read when it changes and on SIGHUP)
    #[arg(long, value_name = "FILE", required_unless_present = "dump")]
    pub policy: Option<PathBuf>,
    /// Do not watch the policy file: reload on SIGHUP only
    #[arg(long)]
    pub no_watch: bool,
    /// The policy file's format: hostgate, or an import format such as route53 or cilium (as
    /// `hostgate --from`; docs/import.md)
    #[arg(long = "from", value_name = "FORMAT", default_value = "hostgate")]
    pub from: hostgate::Format,
    /// Policy to ask [default: `default`, else the file's first]
    #[arg(long, value_name = "NAME")]
    pub policy_name: Option<String>,
    /// Clients in CIDR are checked against POLICY (repeatable; longest prefix wins)
    #[arg(long = "client", value_name = "CIDR=POLICY")]
    pub clients: Vec<ClientPolicy>,
    /// What a denied query is answered with
    #[arg(long, value_enum, default_value_t = DenyResponse::Nxdomain)]
    pub deny_response: DenyResponse,
    /// How long a client waits for the upstreams before SERVFAIL, in milliseconds
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Log line format (and --dump's)
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub format: LogFormat,
    /// Add every address of an allowed answer to these existing nftables sets (IPv4 to SET4,
    /// IPv6 to SET6) before the answer is released; when that fails the client gets SERVFAIL
    #[arg(long, value_name = "FAMILY/TABLE/SET4[,SET6]")]
    pub nft_set: Option<NftSets>,
    /// Shortest time a learned address stays (in the sets and the table), in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub min_ttl: u32,
    /// Longest time a learned address stays, in seconds (also for records with a longer TTL)
    #[arg(long, value_name = "SECONDS", default_value_t = 86400)]
    pub max_ttl: u32,
    /// The nft program that applies the additions
    #[arg(long, value_name = "PATH", default_value = "nft")]
    pub nft: PathBuf,
    /// Unix socket where the server answers --dump
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Print the running server's name-address table (asked over --control) and exit
    #[arg(long, requires = "control")]
    pub dump: bool,
}

impl Args {
    /// The server configuration these arguments describe.
    pub fn into_config(self) -> Config {
        let mut c = Config::new(self.policy.unwrap_or_default());
        if let Some(listen) = self.listen {
            c.listen = listen;
        }
        c.upstreams = self.upstreams;
        c.policy_name = self.policy_name;
        c.policy_format = self.from;
        c.clients = self.clients;
        c.deny_response = self.deny_response;
        c.timeout = Duration::from_millis(self.timeout_ms);
        c.format = self.format;
        c.nft_set = self.nft_set;
        c.min_ttl = self.min_ttl;
        c.max_ttl = self.max_ttl;
        c.nft_program = self.nft;
        c.control = self.control;
        c.dump = self.dump;
        c.watch = !self.no_watch;
        c
    }
}

/// The server's configuration.
///
/// ```
/// let c = hostgate_dns::Config::new("dns.policy".into());
/// assert_eq!(c.timeout, std::time::Duration::from_secs(2));
/// assert!(c.upstreams.is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen, UDP and TCP on the same port (port 0: one free port for both).
    pub listen: SocketAddr,
    /// The resolvers allowed queries go to, tried in order.
    pub upstreams: Vec<SocketAddr>,
    /// The policy file.
    pub policy: PathBuf,
    /// The policy file's format (an import format is read through `hostgate-import`, with
    /// that system's meaning).
    pub policy_format: hostgate::Format,
    /// The policy asked when no [`Config::clients`] entry matches; `None`: the loading path's
    /// default.
    pub policy_name: Option<String>,
    /// Per-client policies.
    pub clients: Vec<ClientPolicy>,
    /// What a denied query is answered with.
    pub deny_response: DenyResponse,
    /// How long a client waits for the upstreams before SERVFAIL.
    pub timeout: Duration,
    /// Log line format.
    pub format: LogFormat,
    /// The nftables sets learned addresses are added to; `None`: none (the table is still
    /// kept).
    pub nft_set: Option<NftSets>,
    /// Shortest time, in seconds, a learned address stays (at least 1).
    pub min_ttl: u32,
    /// Longest time, in seconds, a learned address stays.
    pub max_ttl: u32,
    /// The `nft` program.
    pub nft_program: PathBuf,
    /// The control socket (`--dump` asks it for the table).
    pub control: Option<PathBuf>,
    /// [`run`] prints the table of the server at [`Config::control`] and returns, instead of
    /// serving.
    pub dump: bool,
    /// [`run`] reloads the policy when its file changes (as well as on SIGHUP).
    pub watch: bool,
}

impl Config {
    /// Defaults around a policy file: listen on 127.0.0.1:53, no upstream, NXDOMAIN for
    /// denied names, a 2 s timeout, text logs, no nftables set, learned addresses kept 5 s to
    /// a day, no control socket, the policy file watched.
    pub fn new(policy: PathBuf) -> Config {
        Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 53)),
            upstreams: Vec::new(),
            policy,
            policy_format: hostgate::Format::Hostgate,
            policy_name: None,
            clients: Vec::new(),
            deny_response: DenyResponse::Nxdomain,
            timeout: Duration::from_secs(2),
            format: LogFormat::Text,
            nft_set: None,
            min_ttl: 5,
            max_ttl: 86400,
            nft_program: PathBuf::from("nft"),
            control: None,
            dump: false,
            watch: true,
        }
    }

    /// A record's TTL clamped to [`Config::min_ttl`] and [`Config::max_ttl`].
    ///
    /// ```
    /// let mut c = hostgate_dns::Config::new("p".into());
    /// (c.min_ttl, c.max_ttl) = (10, 300);
    /// assert_eq!((c.clamp_ttl(0), c.clamp_ttl(60), c.clamp_ttl(86400)), (10, 60, 300));
    /// ```
    pub fn clamp_ttl(&self, ttl: u32) -> u32 {
        ttl.max(self.min_ttl).min(self.max_ttl.max(self.min_ttl))
    }
}

/// Why the server could not start or reload.
///
/// ```
/// let e = hostgate_dns::Error::Config("no --upstream".into());
/// assert_eq!(e.to_string(), "no --upstream");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The policy did not load: its diagnostics, one `FILE:LINE:COL: message` a line.
    Policy(String),
    /// The configuration is unusable.
    Config(String),
    /// A listening socket could not be opened.
    Bind(SocketAddr, io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Policy(e) | Error::Config(e) => f.write_str(e),
            Error::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// How a query was carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A datagram.
    Udp,
    /// A length-prefixed message on a TCP connection.
    Tcp,
}

impl Transport {
    /// `udp` or `tcp`.
    ///
    /// ```
    /// assert_eq!(hostgate_dns::Transport::Tcp.as_str(), "tcp");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// What happened to one query: the content of its log line.
///
/// ```
/// use hostgate_dns::{QueryLog, Transport};
/// let l = QueryLog {
///     client: "127.0.0.1:4000".parse().unwrap(),
///     transport: Transport::Udp,
///     name: Some("a.test".into()),
///     qtype: Some(1),
///     verdict: "deny",
///     reason: "default".into(),
///     rule: None,
///     rcode: Some(hostgate_dns::wire::Rcode::NxDomain),
///     upstream: None,
///     answers: vec![],
///     error: None,
/// };
/// assert_eq!(l.text(), "client=127.0.0.1:4000 proto=udp name=a.test type=A verdict=deny reason=default rule=- rcode=NXDOMAIN");
/// let j: serde_json::Value = serde_json::from_str(&l.json()).unwrap();
/// assert_eq!((j["name"].as_str(), j["rcode"].as_str(), j["rule"].is_null()), (Some("a.test"), Some("NXDOMAIN"), true));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryLog {
    /// The client's address.
    pub client: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// The question's normalized name (`None`: unreadable, or the root).
    pub name: Option<String>,
    /// The question's type, when the question was read.
    pub qtype: Option<u16>,
    /// `allow`, `deny` or `malformed`.
    pub verdict: &'static str,
    /// The verdict's reason (`matched`, `default`, `invalid-name`, `no-name`), or what was
    /// wrong with the message.
    pub reason: String,
    /// The deciding rule's id.
    pub rule: Option<String>,
    /// The response code sent; `None` when nothing was sent (dropped).
    pub rcode: Option<Rcode>,
    /// The upstream that answered.
    pub upstream: Option<SocketAddr>,
    /// The A and AAAA addresses the answer gave for the question's name (CNAME chains
    /// followed), in answer order.
    pub answers: Vec<IpAddr>,
    /// What went wrong: with the upstreams, when they did not answer; with the name, when it
    /// was refused as invalid.
    pub error: Option<String>,
}

impl QueryLog {
    /// A log of a query not decided yet: verdict `malformed`, everything else empty.
    ///
    /// ```
    /// let l = hostgate_dns::QueryLog::new("[::1]:53".parse().unwrap(), hostgate_dns::Transport::Tcp);
    /// assert_eq!((l.verdict, l.name, l.rcode), ("malformed", None, None));
    /// ```
    pub fn new(client: SocketAddr, transport: Transport) -> QueryLog {
        QueryLog {
            client,
            transport,
            name: None,
            qtype: None,
            verdict: "malformed",
            reason: String::new(),
            rule: None,
            rcode: None,
            upstream: None,
            answers: Vec::new(),
            error: None,
        }
    }

    /// The `key=value` line.
    pub fn text(&self) -> String {
        let mut line = String::new();
        let _ = self.write_text(&mut line);
        line
    }

    /// Writes the `key=value` line (without a newline): what [`QueryLog::text`] returns,
    /// without building a string of its own, so a reused buffer makes it free of allocations.
    ///
    /// ```
    /// let l = hostgate_dns::QueryLog::new("127.0.0.1:9".parse().unwrap(), hostgate_dns::Transport::Udp);
    /// let mut line = String::new();
    /// l.write_text(&mut line).unwrap();
    /// assert_eq!(line, l.text());
    /// ```
    pub fn write_text(&self, out: &mut impl fmt::Write) -> fmt::Result {
        write!(
            out,
            "client={} proto={} name={} type=",
            self.client,
            self.transport.as_str(),
            self.name.as_deref().unwrap_or("-"),
        )?;
        match self.qtype {
            Some(t) => wire::write_qtype(out, t)?,
            None => out.write_char('-')?,
        }
        write!(out, " verdict={} reason=", self.verdict)?;
        for c in self.reason.chars() {
            out.write_char(if c == ' ' { '-' } else { c })?;
        }
        write!(
            out,
            " rule={} rcode={}",
            self.rule.as_deref().unwrap_or("-"),
            self.rcode.map_or("dropped", Rcode::as_str),
        )?;
        if let Some(u) = self.upstream {
            write!(out, " upstream={u}")?;
        }
        for (i, a) in self.answers.iter().enumerate() {
            write!(out, "{}{a}", if i == 0 { " answers=" } else { "," })?;
        }
        if let Some(e) = &self.error {
            write!(out, " error={e:?}")?;
        }
        Ok(())
    }

    /// The JSON line.
    pub fn json(&self) -> String {
        let mut line = String::new();
        let _ = self.write_json(&mut line);
        line
    }

    /// Writes the JSON object (without a newline): what [`QueryLog::json`] returns, without
    /// building a string of its own.
    ///
    /// ```
    /// let l = hostgate_dns::QueryLog::new("127.0.0.1:9".parse().unwrap(), hostgate_dns::Transport::Udp);
    /// let mut line = String::new();
    /// l.write_json(&mut line).unwrap();
    /// let j: serde_json::Value = serde_json::from_str(&line).unwrap();
    /// assert_eq!(j["verdict"], "malformed");
    /// ```
    pub fn write_json(&self, out: &mut impl fmt::Write) -> fmt::Result {
        write!(out, "{{\"client\":\"{}\",\"proto\":", self.client)?;
        json_str(out, self.transport.as_str())?;
        out.write_str(",\"name\":")?;
        json_opt(out, self.name.as_deref())?;
        out.write_str(",\"type\":")?;
        match self.qtype {
            Some(t) => {
                out.write_char('"')?;
                wire::write_qtype(out, t)?;
                out.write_char('"')?;
            }
            None => out.write_str("null")?,
        }
        out.write_str(",\"verdict\":")?;
        json_str(out, self.verdict)?;
        out.write_str(",\"reason\":")?;
        json_str(out, &self.reason)?;
        out.write_str(",\"rule\":")?;
        json_opt(out, self.rule.as_deref())?;
        out.write_str(",\"rcode\":")?;
        json_opt(out, self.rcode.map(Rcode::as_str))?;
        out.write_str(",\"upstream\":")?;
        match self.upstream {
            Some(u) => write!(out, "\"{u}\"")?,
            None => out.write_str("null")?,
        }
        out.write_str(",\"answers\":[")?;
        for (i, a) in self.answers.iter().enumerate() {
            write!(out, "{}\"{a}\"", if i == 0 { "" } else { "," })?;
        }
        out.write_str("],\"error\":")?;
        json_opt(out, self.error.as_deref())?;
        out.write_char('}')
    }

    /// Empties the log for the next query from `client`, keeping its strings' memory: the
    /// optional ones go to `spare`, where [`put`] takes them back.
    pub(crate) fn reset(&mut self, client: SocketAddr, transport: Transport, spare: &mut Spare) {
        for (field, keep) in [
            (&mut self.name, &mut spare.name),
            (&mut self.rule, &mut spare.rule),
            (&mut self.error, &mut spare.error),
        ] {
            if let Some(s) = field.take() {
                *keep = s;
            }
        }
        self.client = client;
        self.transport = transport;
        self.qtype = None;
        self.verdict = "malformed";
        self.reason.clear();
        self.rcode = None;
        self.upstream = None;
        self.answers.clear();
    }
}

/// The memory of a reused [`QueryLog`]'s optional strings while they are `None`.
#[derive(Default)]
pub(crate) struct Spare {
    name: String,
    rule: String,
    error: String,
}

/// Sets an optional log string to `value`, in the memory it had or the spare's.
fn put(field: &mut Option<String>, spare: &mut String, value: impl fmt::Display) {
    use fmt::Write;
    let mut s = field.take().unwrap_or_else(|| std::mem::take(spare));
    s.clear();
    let _ = write!(s, "{value}");
    *field = Some(s);
}

/// A JSON string, escaped as JSON requires (quote, backslash, control characters).
fn json_str(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if u32::from(c) < 0x20 => write!(out, "\\u{:04x}", u32::from(c))?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

fn json_opt(out: &mut impl fmt::Write, s: Option<&str>) -> fmt::Result {
    match s {
        Some(s) => json_str(out, s),
        None => out.write_str("null"),
    }
}

/// What to do with a client's message, as [`Rules::decide`] says.
///
/// ```
/// let d = hostgate_dns::Decision::Forward { id: 7, name: hostgate::normalize("a.test").unwrap() };
/// assert!(matches!(d, hostgate_dns::Decision::Forward { id: 7, .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
// The name is inline so that deciding allocates nothing: boxing it would cost a heap
// allocation per query, which is what the inline name avoids.
#[allow(clippy::large_enum_variant)]
pub enum Decision {
    /// Allowed: send the message to the upstreams (with a fresh id) and relay the answer with
    /// this id.
    Forward {
        /// The client's message id.
        id: u16,
        /// The question's normalized name (held inline: no allocation).
        name: Name,
    },
    /// Answer with these bytes, the upstreams never asked.
    Reply(Vec<u8>),
    /// Send nothing.
    Drop,
}

/// The compiled policies a server asks, swapped whole on reload: the default one and the
/// per-client ones.
///
/// ```
/// use hostgate::PolicySource;
/// use hostgate_dns::{Decision, DenyResponse, QueryLog, Rules, Transport};
/// let src = PolicySource::borrowed("p", b"default deny\nallow ok.test\n");
/// let (rules, _warnings) = Rules::compile(&src, None, &[]).unwrap();
/// let client = "127.0.0.1:5000".parse().unwrap();
/// let mut log = QueryLog::new(client, Transport::Udp);
/// let q = hostgate::inspect::dns::testing::query(9, b"ok.test", 1);
/// let d = rules.decide(&q, client.ip(), DenyResponse::Nxdomain, &mut log);
/// assert_eq!(d, Decision::Forward { id: 9, name: hostgate::normalize("ok.test").unwrap() });
/// let q = hostgate::inspect::dns::testing::query(9, b"no.test", 1);
/// assert!(matches!(rules.decide(&q, client.ip(), DenyResponse::Nxdomain, &mut log), Decision::Reply(_)));
/// assert_eq!(rules.decide(&[1, 2], client.ip(), DenyResponse::Nxdomain, &mut log), Decision::Drop);
/// ```
pub struct Rules {
    engine: Engine,
    default: PolicyId,
    /// Longest prefix first.
    clients: Vec<(Cidr, PolicyId)>,
}

impl Rules {
    /// Compiles a policy source (in its format: an import format goes through
    /// `hostgate_import::load`); `policy_name` is the default policy, `clients` the per-client
    /// ones. Returns the policy's warnings too, one line each.
    ///
    /// ```
    /// use hostgate::PolicySource;
    /// let src = PolicySource::borrowed("p", b"default deny\npolicy lab\nallow a.test\n");
    /// let lab: hostgate_dns::ClientPolicy = "10.0.0.0/8=lab".parse().unwrap();
    /// assert!(hostgate_dns::Rules::compile(&src, None, &[lab]).is_ok());
    /// let nope: hostgate_dns::ClientPolicy = "10.0.0.0/8=nope".parse().unwrap();
    /// assert!(hostgate_dns::Rules::compile(&src, None, &[nope]).is_err());
    /// ```
    pub fn compile(
        source: &PolicySource<'_>,
        policy_name: Option<&str>,
        clients: &[ClientPolicy],
    ) -> Result<(Rules, Vec<String>), Error> {
        let err = |e: hostgate::LoadError| Error::Policy(e.to_string());
        let loaded = hostgate_import::load(source).map_err(err)?;
        let warnings = loaded.warnings().collect();
        let default = loaded.select(policy_name).map_err(err)?;
        let mut by_client = Vec::with_capacity(clients.len());
        for c in clients {
            by_client.push((c.cidr, loaded.select(Some(&c.policy)).map_err(err)?));
        }
        // Stable: among equal prefixes the first given wins.
        by_client.sort_by_key(|(c, _)| std::cmp::Reverse(c.prefix));
        Ok((
            Rules {
                engine: loaded.into_engine(),
                default,
                clients: by_client,
            },
            warnings,
        ))
    }

    fn load(config: &Config) -> Result<(Rules, Vec<String>), Error> {
        let source = hostgate_map::read_source(&config.policy)
            .map_err(|e| Error::Policy(e.to_string()))?
            .with_format(config.policy_format);
        Rules::compile(&source, config.policy_name.as_deref(), &config.clients)
    }

    fn for_client(&self, ip: IpAddr) -> PolicyId {
        self.clients
            .iter()
            .find(|(c, _)| c.contains(ip))
            .map_or(self.default, |&(_, p)| p)
    }

    /// Decides one client message (a whole datagram, or a TCP frame without its length
    /// prefix) from `client`: forward it, answer it here (denied: `deny`; unreadable: FORMERR
    /// or NOTIMP) or drop it (a response, or shorter than a header). Fills in `log`'s name,
    /// type, verdict, reason, rule and error. Never panics, whatever the bytes.
    ///
    /// ```
    /// use hostgate_dns::{Decision, DenyResponse, QueryLog, Rules, Transport};
    /// let src = hostgate::PolicySource::borrowed("p", b"default deny\n");
    /// let (rules, _) = Rules::compile(&src, None, &[]).unwrap();
    /// let client = "127.0.0.1:5000".parse().unwrap();
    /// let mut log = QueryLog::new(client, Transport::Udp);
    /// let q = hostgate::inspect::dns::testing::query(3, b"x.test", 28);
    /// let Decision::Reply(r) = rules.decide(&q, client.ip(), DenyResponse::Refused, &mut log) else { panic!() };
    /// assert_eq!(hostgate_dns::wire::rcode(&r), Some(hostgate_dns::wire::Rcode::Refused));
    /// assert_eq!((log.verdict, log.reason.as_str()), ("deny", "default"));
    /// ```
    pub fn decide(
        &self,
        msg: &[u8],
        client: IpAddr,
        deny: DenyResponse,
        log: &mut QueryLog,
    ) -> Decision {
        let mut reply = Vec::new();
        match self.decide_into(msg, client, deny, log, &mut Spare::default(), &mut reply) {
            Decided::Forward { id, name } => Decision::Forward { id, name },
            Decided::Reply => Decision::Reply(reply),
            Decided::Drop => Decision::Drop,
        }
    }

    /// [`Rules::decide`] with a reused log (its strings refilled in their own memory or the
    /// spare's) and the local answer written into a reused `reply`: no allocation once the
    /// buffers have grown.
    pub(crate) fn decide_into(
        &self,
        msg: &[u8],
        client: IpAddr,
        deny: DenyResponse,
        log: &mut QueryLog,
        spare: &mut Spare,
        reply: &mut Vec<u8>,
    ) -> Decided {
        let answer = |r: Option<()>| r.map_or(Decided::Drop, |()| Decided::Reply);
        // The message is whole here, which is what the parser's UDP mode reads.
        let question = match dns::parse_query(msg, dns::Transport::Udp) {
            Outcome::Complete(q) => q,
            Outcome::NoName(Some(q)) => q,
            Outcome::Malformed(e) => {
                log.reason.clear();
                if e.invalid_name().is_some() {
                    log.verdict = "deny";
                    log.reason.push_str(Reason::InvalidName.as_str());
                    put(&mut log.error, &mut spare.error, e);
                } else {
                    use fmt::Write;
                    let _ = write!(log.reason, "{e}");
                }
                return match e {
                    // Never answer a response: two servers could bounce errors forever.
                    Malformed::Response | Malformed::TooShort => Decided::Drop,
                    Malformed::Opcode(_) => {
                        answer(wire::header_only_into(msg, Rcode::NotImp, reply))
                    }
                    _ => answer(wire::header_only_into(msg, Rcode::FormErr, reply)),
                };
            }
            _ => {
                log.reason.clear();
                log.reason.push_str("unreadable");
                return answer(wire::header_only_into(msg, Rcode::FormErr, reply));
            }
        };
        match &question.name {
            Some(n) => put(&mut log.name, &mut spare.name, n.as_str()),
            None => log.name = None,
        }
        log.qtype = Some(question.qtype);
        let policy = self.for_client(client);
        let verdict = match &question.name {
            Some(name) => self.engine.check_name(policy, name, None, Some(Via::Dns)),
            // The root (`. NS`): no name to allow.
            None => hostgate::Verdict::deny(policy, Reason::NoName),
        };
        log.verdict = if verdict.is_allow() { "allow" } else { "deny" };
        log.reason.clear();
        log.reason.push_str(verdict.reason.as_str());
        match verdict.rule {
            Some(r) => put(&mut log.rule, &mut spare.rule, r.id()),
            None => log.rule = None,
        }
        match (verdict.is_allow(), question.name) {
            (true, Some(name)) => Decided::Forward {
                id: question.id,
                name,
            },
            _ => answer(wire::answer_locally_into(msg, deny.rcode(), reply)),
        }
    }
}

/// [`Decision`] with the local answer left in the caller's buffer.
#[allow(clippy::large_enum_variant)] // as `Decision`
pub(crate) enum Decided {
    Forward { id: u16, name: Name },
    Reply,
    Drop,
}

type Logger = dyn Fn(&QueryLog) + Send + Sync;

struct Shared {
    config: Config,
    policies: ArcSwap<Rules>,
    logger: ArcSwap<Box<Logger>>,
    table: Table,
    nft: Option<learn::Nft>,
}

/// A handle on a running (or bound) server: reload its policy, replace its logger.
///
/// ```no_run
/// # async fn demo(server: hostgate_dns::Server) {
/// let handle = server.handle();
/// tokio::spawn(server.run());
/// if let Err(e) = handle.reload() {
///     eprint!("reload refused, old policy kept:\n{e}");
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    /// Recompiles the policy file. On error the old policy stays in force and the error (the
    /// policy's diagnostics) is returned. Warnings of the new policy are returned on success.
    pub fn reload(&self) -> Result<Vec<String>, Error> {
        let (p, warnings) = Rules::load(&self.shared.config)?;
        self.shared.policies.store(Arc::new(p));
        Ok(warnings)
    }

    /// Sends every [`QueryLog`] to `f` instead of stdout.
    pub fn set_logger(&self, f: impl Fn(&QueryLog) + Send + Sync + 'static) {
        self.shared.logger.store(Arc::new(Box::new(f)));
    }

    /// The name ↔ address table, what `--dump` prints: one line per address and allowed name
    /// it came from, by address, with the seconds it has left (text or JSON lines).
    ///
    /// ```no_run
    /// # fn demo(handle: hostgate_dns::Handle) {
    /// // address=192.0.2.10 name=allowed.test ttl=297
    /// print!("{}", handle.dump(hostgate_dns::LogFormat::Text));
    /// # }
    /// ```
    pub fn dump(&self, format: LogFormat) -> String {
        dump_lines(&self.shared.table, format)
    }
}

fn dump_lines(table: &Table, format: LogFormat) -> String {
    let mut out = String::new();
    for row in table.rows(Instant::now()) {
        // Rounded up: an entry with 0.3 s left is still there.
        let left = row.left.as_secs() + u64::from(row.left.subsec_nanos() > 0);
        match format {
            LogFormat::Text => out.push_str(&format!(
                "address={} name={} ttl={left}\n",
                row.addr, row.name
            )),
            LogFormat::Json => {
                let j = serde_json::json!({"address": row.addr.to_string(), "name": row.name, "ttl": left});
                out.push_str(&format!("{j}\n"));
            }
        }
    }
    out
}

/// Asks the server listening on `control` for its table (what [`Handle::dump`] gives), as
/// `hostgate dns --dump` does.
///
/// ```no_run
/// let table = hostgate_dns::dump("/run/hostgate-dns.sock".as_ref(), hostgate_dns::LogFormat::Text)?;
/// print!("{table}");
/// # Ok::<(), hostgate_dns::Error>(())
/// ```
pub fn dump(control: &Path, format: LogFormat) -> Result<String, Error> {
    use std::io::{Read, Write};
    let fail = |e: io::Error| Error::Config(format!("control socket {}: {e}", control.display()));
    let mut s = std::os::unix::net::UnixStream::connect(control).map_err(fail)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(fail)?;
    let request = match format {
        LogFormat::Text => "dump text\n",
        LogFormat::Json => "dump json\n",
    };
    s.write_all(request.as_bytes()).map_err(fail)?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(fail)?;
    Ok(out)
}

/// A bound server: its UDP socket and TCP listener on one port, and the loaded policy.
pub struct Server {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    control: Option<tokio::net::UnixListener>,
    shared: Arc<Shared>,
    warnings: Vec<String>,
}

impl Server {
    /// Loads the policy and opens the sockets. With port 0 in [`Config::listen`], UDP and TCP
    /// get the same free port.
    pub async fn bind(config: Config) -> Result<Server, Error> {
        if config.upstreams.is_empty() {
            return Err(Error::Config(
                "no upstream given (--upstream ADDR:PORT)".into(),
            ));
        }
        if config.min_ttl == 0 || config.min_ttl > config.max_ttl {
            return Err(Error::Config(format!(
                "--min-ttl must be at least 1 and at most --max-ttl (got {} and {})",
                config.min_ttl, config.max_ttl
            )));
        }
        let (policies, warnings) = Rules::load(&config)?;
        let (udp, tcp) = bind_pair(config.listen).await?;
        let control = match &config.control {
            Some(path) => Some(bind_control(path)?),
            None => None,
        };
        let nft = config
            .nft_set
            .clone()
            .map(|sets| learn::Nft::start(sets, config.nft_program.clone()));
        let format = config.format;
        let logger: Box<Logger> = Box::new(move |l: &QueryLog| print_log(l, format));
        Ok(Server {
            udp: Arc::new(udp),
            tcp,
            control,
            shared: Arc::new(Shared {
                config,
                policies: ArcSwap::from_pointee(policies),
                logger: ArcSwap::from_pointee(logger),
                table: Table::default(),
                nft,
            }),
            warnings,
        })
    }

    /// The address both sockets listen on.
    pub fn local_addr(&self) -> SocketAddr {
        self.udp.local_addr().unwrap_or(self.shared.config.listen)
    }

    /// The warnings of the policy loaded by [`Server::bind`], one line each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// A handle to reload the policy or replace the logger.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }

    /// Serves UDP and TCP (and the control socket) until the task is dropped.
    pub async fn run(self) {
        if let Some(control) = self.control {
            tokio::spawn(serve_control(control, self.shared.clone()));
        }
        let sweeper = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP);
            loop {
                tick.tick().await;
                let Some(shared) = sweeper.upgrade() else {
                    return;
                };
                shared.table.sweep(Instant::now());
            }
        });
        let udp = tokio::spawn(udp::serve(self.udp, self.shared.clone()));
        let tcp = tokio::spawn(serve_tcp(self.tcp, self.shared));
        let _ = tokio::join!(udp, tcp);
    }
}

/// Lines of the stdout logger not yet written out. A write per line was, under load, a
/// system call per query, more than the batched datagrams cost: lines wait here until
/// [`flush_log`] (after each round of the UDP loop, after each TCP query) or until the buffer
/// is large, so a line waits at most for the round its query was in.
static LOG_LINES: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
/// Beyond this many bytes waiting, lines are written out at once.
const LOG_FLUSH: usize = 64 * 1024;

/// The stdout logger: the line goes into [`LOG_LINES`], whose memory is reused, so a line
/// costs no allocation.
fn print_log(l: &QueryLog, format: LogFormat) {
    let mut lines = LOG_LINES.lock().unwrap_or_else(|e| e.into_inner());
    let _ = match format {
        LogFormat::Text => l.write_text(&mut *lines),
        LogFormat::Json => l.write_json(&mut *lines),
    };
    lines.push('\n');
    if lines.len() >= LOG_FLUSH {
        write_lines(&mut lines);
    }
}

/// Writes out the stdout logger's waiting lines.
pub(crate) fn flush_log() {
    let mut lines = LOG_LINES.lock().unwrap_or_else(|e| e.into_inner());
    if !lines.is_empty() {
        write_lines(&mut lines);
    }
}

/// A failed write (stdout closed) is ignored rather than stopping the server.
fn write_lines(lines: &mut String) {
    use std::io::Write;
    let _ = io::stdout().lock().write_all(lines.as_bytes());
    lines.clear();
}

/// How often expired rows leave the name ↔ address table.
const SWEEP: Duration = Duration::from_secs(10);

/// The control socket; a stale socket file left by an earlier server is replaced.
fn bind_control(path: &Path) -> Result<tokio::net::UnixListener, Error> {
    use std::os::unix::fs::FileTypeExt;
    let fail = |e: io::Error| Error::Config(format!("cannot listen on {}: {e}", path.display()));
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if m.file_type().is_socket() {
            std::fs::remove_file(path).map_err(fail)?;
        }
    }
    tokio::net::UnixListener::bind(path).map_err(fail)
}

/// One request line per connection (`dump text` or `dump json`), answered and closed.
async fn serve_control(listener: tokio::net::UnixListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let (rd, mut wr) = stream.into_split();
            let mut line = String::new();
            let mut rd = tokio::io::BufReader::new(rd.take(64));
            use tokio::io::AsyncBufReadExt;
            if timeout(TCP_IDLE, rd.read_line(&mut line)).await.is_err() {
                return;
            }
            let reply = match line.trim() {
                "dump text" | "dump" => dump_lines(&shared.table, LogFormat::Text),
                "dump json" => dump_lines(&shared.table, LogFormat::Json),
                other => format!("error: unknown request {other:?} (dump text, dump json)\n"),
            };
            let _ = wr.write_all(reply.as_bytes()).await;
        });
    }
}

/// Binds UDP and TCP on one address; with port 0, retries until both get the same port.
async fn bind_pair(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), Error> {
    let mut last = None;
    for _ in 0..if addr.port() == 0 { 20 } else { 1 } {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|e| Error::Bind(addr, e))?;
        let at = udp.local_addr().map_err(|e| Error::Bind(addr, e))?;
        match TcpListener::bind(at).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(Error::Bind(at, e)),
        }
    }
    Err(last.unwrap_or_else(|| Error::Bind(addr, io::ErrorKind::AddrInUse.into())))
}

/// Loads the policy (warnings to stderr), binds, reloads when the policy file changes
/// ([`Config::watch`]) and on SIGHUP, and serves: what the
/// `hostgate-dns` binary runs. With [`Config::dump`], prints the table of the server at
/// [`Config::control`] instead ([`dump`]).
pub async fn run(config: Config) -> Result<(), Error> {
    if config.dump {
        let control = config
            .control
            .as_deref()
            .ok_or_else(|| Error::Config("--dump needs --control SOCKET".into()))?;
        print!("{}", dump(control, config.format)?);
        return Ok(());
    }
    let server = Server::bind(config).await?;
    for w in server.warnings() {
        eprintln!("{w}");
    }
    let handle = server.handle();
    let reload = move |why: &str| match handle.reload() {
        Ok(warnings) => {
            for w in warnings {
                eprintln!("{w}");
            }
            eprintln!("hostgate-dns: policy reloaded ({why})");
        }
        Err(e) => eprintln!("hostgate-dns: reload refused ({why}), old policy kept:\n{e}"),
    };
    let _watch = if server.shared.config.watch {
        let reload = reload.clone();
        let path = server.shared.config.policy.clone();
        Some(
            hostgate_watch::watch(&path, move || reload("changed"))
                .map_err(|e| Error::Config(e.to_string()))?,
        )
    } else {
        None
    };
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| Error::Config(format!("cannot handle SIGHUP: {e}")))?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            reload("SIGHUP");
        }
    });
    eprintln!(
        "hostgate-dns: listening on {} (udp, tcp)",
        server.local_addr()
    );
    server.run().await;
    Ok(())
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            // Out of descriptors, most likely: give it a moment rather than spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        tokio::spawn(serve_tcp_conn(stream, peer, shared.clone()));
    }
}

/// One client connection: messages are read one after another and answered as they complete,
/// in any order (RFC 7766 §6.2.1.1), each with its own length prefix.
async fn serve_tcp_conn(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(TCP_IN_FLIGHT);
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if wr.write_all(&frame).await.is_err() {
                break;
            }
        }
    });
    let slots = Arc::new(Semaphore::new(TCP_IN_FLIGHT));
    loop {
        let mut len = [0u8; 2];
        match timeout(TCP_IDLE, rd.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => break, // idle, closed or failed
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        match timeout(TCP_IDLE, rd.read_exact(&mut msg)).await {
            Ok(Ok(_)) => {}
            _ => break,
        }
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let (tx, shared) = (tx.clone(), shared.clone());
        tokio::spawn(async move {
            if let Some(reply) = answer(&shared, &msg, peer, Transport::Tcp).await {
                if let Ok(len) = u16::try_from(reply.len()) {
                    let mut frame = len.to_be_bytes().to_vec();
                    frame.extend_from_slice(&reply);
                    let _ = tx.send(frame).await;
                }
            }
            drop(slot);
        });
    }
    // The writer ends once every query still in flight has sent its answer.
    drop(tx);
    let _ = writer.await;
}

/// Decides one query, forwards it when allowed, logs it, and returns the reply to send.
async fn answer(
    shared: &Shared,
    msg: &[u8],
    peer: SocketAddr,
    transport: Transport,
) -> Option<Vec<u8>> {
    let mut log = QueryLog::new(peer, transport);
    let reply = decide_and_answer(shared, msg, peer, &mut log).await;
    log.rcode = reply.as_deref().and_then(wire::rcode);
    (shared.logger.load())(&log);
    flush_log();
    reply
}

async fn decide_and_answer(
    shared: &Shared,
    msg: &[u8],
    peer: SocketAddr,
    log: &mut QueryLog,
) -> Option<Vec<u8>> {
    let decision = shared
        .policies
        .load()
        .decide(msg, peer.ip(), shared.config.deny_response, log);
    let (id, name) = match decision {
        Decision::Forward { id, name } => (id, name),
        Decision::Reply(r) => return Some(r),
        Decision::Drop => return None,
    };
    match forward(&shared.config, msg).await {
        Ok((mut reply, upstream)) => {
            log.upstream = Some(upstream);
            if let Err(e) = learn_answer(shared, &reply, name.as_str(), log).await {
                // Fail closed: an answer whose addresses the firewall does not know would
                // leave the client with addresses it cannot reach, or worse, reach later.
                log.error = Some(e);
                return wire::answer_locally(msg, Rcode::ServFail);
            }
            reply[..2].copy_from_slice(&id.to_be_bytes());
            Some(reply)
        }
        Err(e) => {
            log.error = Some(e);
            wire::answer_locally(msg, Rcode::ServFail)
        }
    }
}

/// Slack under which a learned address already in the sets is not re-added: an element that
/// expires at most this much earlier than the new answer would make it is left as it is.
const REFRESH_SLACK: Duration = Duration::from_secs(1);

/// Reads the answer's addresses for `name` into the log and the table and, with `--nft-set`,
/// adds to the sets those not already there for long enough, waiting for `nft`. An error
/// (unreadable answer, `nft` failed) means the answer must not be released; without
/// `--nft-set` an unreadable answer is only logged.
async fn learn_answer(
    shared: &Shared,
    reply: &[u8],
    name: &str,
    log: &mut QueryLog,
) -> Result<(), String> {
    let (mut found, mut adds) = (Vec::new(), Vec::new());
    read_answer(shared, reply, name, log, &mut found, &mut adds)?;
    add_to_sets(shared, adds).await?;
    remember(shared, &found, name);
    Ok(())
}

/// The first, synchronous half of [`learn_answer`]: the answer's addresses for `name` into the
/// log and `found` (with their TTLs), and into `adds` (with `--nft-set`) those the sets do not
/// hold for long enough yet, with their timeouts. An error when the answer must not be
/// released. Allocates nothing once the buffers have grown.
pub(crate) fn read_answer(
    shared: &Shared,
    reply: &[u8],
    name: &str,
    log: &mut QueryLog,
    found: &mut Vec<(IpAddr, u32)>,
    adds: &mut Vec<(IpAddr, u32)>,
) -> Result<(), String> {
    found.clear();
    adds.clear();
    if let Err(e) = wire::answer_addresses(reply, name, found) {
        found.clear();
        // A truncated answer holds nothing the client should use: it retries over TCP.
        if shared.nft.is_none() || reply.get(2).is_some_and(|f| f & 0x02 != 0) {
            log.error = Some(e.to_string());
            return Ok(());
        }
        return Err(e.to_string());
    }
    let now = Instant::now();
    for &(addr, ttl) in found.iter() {
        if !log.answers.contains(&addr) {
            log.answers.push(addr);
        }
        let Some(nft) = &shared.nft else { continue };
        if addr.is_ipv6() && nft.sets.set6.is_none() {
            continue;
        }
        let ttl = shared.config.clamp_ttl(ttl);
        let until = now + Duration::from_secs(u64::from(ttl));
        match shared.table.expiry(addr, now) {
            Some(e) if e + REFRESH_SLACK >= until => {}
            _ => adds.push((addr, ttl)),
        }
    }
    Ok(())
}

/// Adds the addresses to the sets (nothing to do without `--nft-set` or additions).
pub(crate) async fn add_to_sets(shared: &Shared, adds: Vec<(IpAddr, u32)>) -> Result<(), String> {
    match &shared.nft {
        Some(nft) if !adds.is_empty() => timeout(shared.config.timeout, nft.add(adds))
            .await
            .unwrap_or_else(|_| Err("nft: timeout".into())),
        _ => Ok(()),
    }
}

/// Puts the answer's addresses in the name ↔ address table, once the sets hold them.
pub(crate) fn remember(shared: &Shared, found: &[(IpAddr, u32)], name: &str) {
    let now = Instant::now();
    for &(addr, ttl) in found {
        let until = now + Duration::from_secs(u64::from(shared.config.clamp_ttl(ttl)));
        shared.table.insert(addr, name, until);
    }
}

/// Sends a TCP client's query to the upstreams over TCP, in order until one answers it, within
/// the timeout. Each upstream gets an equal share of the time left. A SERVFAIL or REFUSED answer
/// moves on to the next upstream, and is relayed if no other answers. (UDP queries take the
/// same steps in `udp`, without a task per query.)
async fn forward(config: &Config, msg: &[u8]) -> Result<(Vec<u8>, SocketAddr), String> {
    let deadline = Instant::now() + config.timeout;
    let mut last_error = String::from("no upstream");
    let mut fallback = None;
    let count = config.upstreams.len();
    for (i, &upstream) in config.upstreams.iter().enumerate() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let share = (deadline - now) / u32::try_from(count - i).unwrap_or(1);
        let mut query = msg.to_vec();
        query[..2].copy_from_slice(&fresh_id().to_be_bytes());
        let attempt = ask_tcp(upstream, &query);
        let result: Result<Vec<u8>, String> = timeout_at((now + share).min(deadline), attempt)
            .await
            .unwrap_or_else(|_| Err("timeout".into()));
        match result {
            Ok(reply) => match wire::rcode(&reply) {
                Some(Rcode::ServFail | Rcode::Refused) if i + 1 < count => {
                    last_error = format!(
                        "{upstream}: {}",
                        wire::rcode(&reply).map_or("", Rcode::as_str)
                    );
                    fallback = Some((reply, upstream));
                }
                _ => return Ok((reply, upstream)),
            },
            Err(e) => last_error = format!("{upstream}: {e}"),
        }
    }
    fallback.ok_or(last_error)
}

fn unspecified_for(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    }
}

/// One query on a fresh TCP connection; its one answer must answer it.
async fn ask_tcp(upstream: SocketAddr, query: &[u8]) -> Result<Vec<u8>, String> {
    let mut s = TcpStream::connect(upstream)
        .await
        .map_err(|e| e.to_string())?;
    let len = u16::try_from(query.len()).map_err(|_| "query too long")?;
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(query);
    s.write_all(&frame).await.map_err(|e| e.to_string())?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.map_err(|e| e.to_string())?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut reply).await.map_err(|e| e.to_string())?;
    if wire::answers(&reply, query) {
        Ok(reply)
    } else {
        Err("answer does not match the question".into())
    }
}

/// A random message id from the operating system's generator.
fn fresh_id() -> u16 {
    let mut b = [0u8; 2];
    if getrandom::fill(&mut b).is_err() {
        // Never seen on Linux; a keyed hash of the clock still beats a fixed id.
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        return h.finish() as u16;
    }
    u16::from_be_bytes(b)
}
