//! Strict, incremental, zero-copy parsers that pull a destination name out of raw bytes.
//!
//! Each parser takes *the whole buffer received so far* and returns an [`Outcome`]; it keeps no
//! state, so call it again with the longer buffer when it says [`Outcome::NeedMore`]. No parse
//! path allocates, except QUIC's, which must decrypt into a buffer and keep each flow's bytes.
//! Every name goes through [`crate::normalize`] and comes back typed as a name or an IP.
//!
//! - [`tls::parse_client_hello`]: SNI, ALPN, versions and the ECH flag from a ClientHello,
//!   reassembled across records.
//! - [`http::parse_request_head`]: Host, absolute-form target or CONNECT authority.
//! - [`dns::parse_query`]: QNAME and QTYPE of a query over UDP or TCP.
//! - `quic::Reassembler` (cargo feature `quic`, on by default): the ClientHello of a QUIC
//!   connection, decrypted from the client's Initial packets and reassembled across datagrams.
//! - [`inspect`] / [`inspect_with`]: detect the protocol and give one [`Inspection`];
//!   [`crate::Engine::inspect_check`] also asks the engine.
//! - [`check_fronting`]: do the CONNECT authority, the SNI and the Host agree?
//!
//! ```
//! use hostgate::inspect::{inspect, Protocol, Status};
//! use hostgate::Via;
//!
//! let i = inspect(b"GET / HTTP/1.1\r\nHost: API.Example.com:8080\r\n\r\n");
//! assert_eq!((i.protocol, i.status), (Protocol::Http, Status::Complete));
//! assert_eq!(i.name.unwrap().as_str(), "api.example.com");
//! assert_eq!((i.port, i.via), (Some(8080), Some(Via::Http)));
//! ```

use core::fmt;

use crate::engine::Engine;
use crate::name::{InvalidName, Name};
use crate::verdict::{ParseEnumError, PolicyId, Reason, Verdict, Via};

pub mod dns;
pub mod http;
#[cfg(feature = "quic")]
pub mod quic;
pub mod tls;

pub use tls::Alpn;

/// The user guide, `docs/inspect.md`, compiled as doctests so its examples cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../../../../docs/inspect.md")]
pub struct GuideDoctests;

/// Size caps. A ClientHello or request head larger than its cap is refused as too large, so a
/// peer cannot make a proxy buffer without bound.
///
/// ```
/// use hostgate::inspect::Limits;
/// let l = Limits { tls_hello: 8 * 1024, ..Limits::default() };
/// assert_eq!(l.http_head, 16 * 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Largest ClientHello handshake message accepted, header included (default 16 KiB).
    pub tls_hello: usize,
    /// Largest HTTP request head accepted, through its empty line (default 16 KiB).
    pub http_head: usize,
}

impl Limits {
    /// The defaults: 16 KiB for each.
    ///
    /// ```
    /// assert_eq!(hostgate::inspect::Limits::DEFAULT, Default::default());
    /// ```
    pub const DEFAULT: Limits = Limits {
        tls_hello: 16 * 1024,
        http_head: 16 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// What a parser made of the bytes so far. The five cases are kept apart on purpose: only
/// `Complete` carries a name; everything else must lead to waiting or denying.
///
/// ```
/// use hostgate::inspect::{dns, Outcome, Status};
/// let o = dns::parse_query(&[0, 30], dns::Transport::Tcp);
/// assert_eq!(o.status(), Status::NeedMore);
/// assert!(o.name().is_none());
/// ```
// Exhaustive on purpose: these are the states of any incremental parse (not this protocol,
// wait, refused, no name, done), and a caller must handle each one.
#[derive(Clone, Copy, Debug)]
pub enum Outcome<T, E> {
    /// Well-formed, with a name (the details hold it).
    Complete(T),
    /// A valid prefix: call again with more bytes. `at_least` is a lower bound on how many
    /// more bytes are needed, when the protocol says.
    NeedMore {
        /// At least this many more bytes, when known.
        at_least: Option<usize>,
    },
    /// Well-formed, but no usable name: the details when there are any (a TLS hello without
    /// SNI), `None` when there are none (an SSLv2-compatible hello). Policy denies.
    NoName(Option<T>),
    /// Refused: the typed reason.
    Malformed(E),
    /// The bytes are not this protocol: try another parser.
    NotThisProtocol,
}

impl<T: Named, E> Outcome<T, E> {
    /// The name, only when complete.
    ///
    /// ```
    /// use hostgate::inspect::{http, Limits};
    /// let o = http::parse_request_head(b"GET / HTTP/1.0\r\nHost: a.example\r\n\r\n", &Limits::default());
    /// assert_eq!(o.name().unwrap().as_str(), "a.example");
    /// ```
    pub fn name(&self) -> Option<&Name> {
        match self {
            Outcome::Complete(t) => t.name(),
            _ => None,
        }
    }
}

impl<T, E> Outcome<T, E> {
    /// The status word for this outcome ([`Status::Unrecognized`] for not-this-protocol).
    ///
    /// ```
    /// use hostgate::inspect::{tls, Limits, Status};
    /// assert_eq!(tls::parse_client_hello(b"", &Limits::default()).status(), Status::NeedMore);
    /// ```
    pub fn status(&self) -> Status {
        match self {
            Outcome::Complete(_) => Status::Complete,
            Outcome::NeedMore { .. } => Status::NeedMore,
            Outcome::NoName(_) => Status::NoName,
            Outcome::Malformed(_) => Status::Malformed,
            Outcome::NotThisProtocol => Status::Unrecognized,
        }
    }
}

/// Details that may hold a name: implemented by each parser's result.
///
/// ```
/// use hostgate::inspect::{dns, Named};
/// let q = dns::Question { name: None, qtype: 1, qclass: 1, id: 0, len: 17 };
/// assert!(q.name().is_none());
/// ```
pub trait Named {
    /// The normalized name, if any.
    fn name(&self) -> Option<&Name>;
}

impl Named for tls::ClientHello<'_> {
    fn name(&self) -> Option<&Name> {
        self.server_name.as_ref()
    }
}
impl Named for http::RequestHead<'_> {
    fn name(&self) -> Option<&Name> {
        self.name.as_ref()
    }
}
impl Named for dns::Question {
    fn name(&self) -> Option<&Name> {
        self.name.as_ref()
    }
}

/// The protocol an [`Inspection`] found.
///
/// ```
/// assert_eq!(hostgate::inspect::Protocol::Tls.as_str(), "tls");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// A TLS ClientHello (or an SSLv2-compatible hello).
    Tls,
    /// An HTTP/1.x request head.
    Http,
    /// A DNS query.
    Dns,
    /// A QUIC client Initial carrying a TLS ClientHello (HTTP/3 and other QUIC traffic).
    Quic,
    /// Not (yet) recognized.
    Unknown,
}

impl Protocol {
    /// `tls`, `http`, `dns`, `quic` or `unknown`, as in the CLI's JSON.
    ///
    /// ```
    /// assert_eq!(hostgate::inspect::Protocol::Unknown.as_str(), "unknown");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tls => "tls",
            Protocol::Http => "http",
            Protocol::Dns => "dns",
            Protocol::Quic => "quic",
            Protocol::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of an [`Inspection`].
///
/// ```
/// assert_eq!(hostgate::inspect::Status::NeedMore.as_str(), "need-more");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// A name was extracted.
    Complete,
    /// A valid prefix: wait for more bytes.
    NeedMore,
    /// Well-formed without a usable name.
    NoName,
    /// Refused; see the error.
    Malformed,
    /// No parser recognized the bytes.
    Unrecognized,
}

impl Status {
    /// `complete`, `need-more`, `no-name`, `malformed` or `unrecognized`, as in the CLI's JSON.
    ///
    /// ```
    /// assert_eq!(hostgate::inspect::Status::NoName.as_str(), "no-name");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Complete => "complete",
            Status::NeedMore => "need-more",
            Status::NoName => "no-name",
            Status::Malformed => "malformed",
            Status::Unrecognized => "unrecognized",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an inspection was refused: the parser's typed reason.
///
/// ```
/// use hostgate::inspect::{inspect, InspectError, http};
/// let i = inspect(b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n");
/// assert_eq!(i.error, Some(InspectError::Http(http::Malformed::BareLf)));
/// assert_eq!(i.error.unwrap().to_string(), "http: line ends with a bare LF");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InspectError {
    /// From the TLS parser.
    Tls(tls::Malformed),
    /// From the HTTP parser.
    Http(http::Malformed),
    /// From the DNS parser.
    Dns(dns::Malformed),
    /// From the QUIC parser (which wraps the TLS parser's reasons for the hello it carries).
    #[cfg(feature = "quic")]
    Quic(quic::Malformed),
}

impl InspectError {
    /// The name error, when the bytes were refused because of the name they carry: the
    /// verdict's reason is then `invalid-name` rather than `no-name`.
    ///
    /// ```
    /// use hostgate::inspect::inspect;
    /// let i = inspect(b"GET / HTTP/1.1\r\nHost: a..b\r\n\r\n");
    /// assert_eq!(i.error.unwrap().invalid_name(), Some(hostgate::InvalidName::EmptyLabel));
    /// ```
    pub fn invalid_name(self) -> Option<InvalidName> {
        match self {
            InspectError::Tls(e) => e.invalid_name(),
            InspectError::Http(e) => e.invalid_name(),
            InspectError::Dns(e) => e.invalid_name(),
            #[cfg(feature = "quic")]
            InspectError::Quic(e) => e.invalid_name(),
        }
    }
}

impl fmt::Display for InspectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InspectError::Tls(e) => write!(f, "tls: {e}"),
            InspectError::Http(e) => write!(f, "http: {e}"),
            InspectError::Dns(e) => write!(f, "dns: {e}"),
            #[cfg(feature = "quic")]
            InspectError::Quic(e) => write!(f, "quic: {e}"),
        }
    }
}

impl std::error::Error for InspectError {}

/// What the bytes are, as [`inspect_with`] should read them.
///
/// ```
/// use hostgate::inspect::{inspect_with, dns, Expect, Limits, Status};
/// let q = dns::testing::query(1, b"a.example", 1);
/// let i = inspect_with(&q, Expect::DnsUdp, &Limits::default());
/// assert_eq!(i.status, Status::Complete);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expect {
    /// The first bytes of a TCP stream: TLS, HTTP/1.x or DNS over TCP, detected (see
    /// [`inspect`]).
    Stream,
    /// Only a TLS ClientHello.
    Tls,
    /// Only an HTTP/1.x request head.
    Http,
    /// One DNS datagram. UDP DNS cannot be told from arbitrary bytes, so it is never detected:
    /// ask for it.
    DnsUdp,
    /// DNS over TCP only.
    DnsTcp,
    /// One UDP datagram holding a QUIC client Initial whose ClientHello it carries whole (cargo
    /// feature `quic`; without it, unrecognized). The ALPN list is not reported this way (it
    /// lives in the decrypted bytes): use `quic::Reassembler`, which also joins a hello
    /// spread over datagrams.
    Quic,
}

impl Expect {
    /// `stream`, `tls`, `http`, `dns-udp`, `dns-tcp` or `quic`, as the CLI's `--expect` spells
    /// it.
    ///
    /// ```
    /// assert_eq!(hostgate::inspect::Expect::DnsUdp.as_str(), "dns-udp");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Stream => "stream",
            Expect::Tls => "tls",
            Expect::Http => "http",
            Expect::DnsUdp => "dns-udp",
            Expect::DnsTcp => "dns-tcp",
            Expect::Quic => "quic",
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::str::FromStr for Expect {
    type Err = ParseEnumError;

    /// The spellings of [`Expect::as_str`].
    ///
    /// ```
    /// use hostgate::inspect::Expect;
    /// assert_eq!("dns-tcp".parse::<Expect>(), Ok(Expect::DnsTcp));
    /// let e = "udp".parse::<Expect>().unwrap_err();
    /// assert_eq!(e.to_string(), "unknown expect `udp`: expected stream, tls, http, dns-udp, dns-tcp or quic");
    /// ```
    fn from_str(s: &str) -> Result<Self, ParseEnumError> {
        const ALL: [Expect; 6] = [
            Expect::Stream,
            Expect::Tls,
            Expect::Http,
            Expect::DnsUdp,
            Expect::DnsTcp,
            Expect::Quic,
        ];
        ALL.into_iter().find(|e| e.as_str() == s).ok_or_else(|| {
            ParseEnumError::new(
                "expect",
                s,
                &["stream", "tls", "http", "dns-udp", "dns-tcp", "quic"],
            )
        })
    }
}

/// The result of [`inspect`]: protocol, status and what was found. This is the CLI's JSON
/// shape: `protocol`, `status`, `name`, `kind` (from the name), `port`, `alpn`, `ech`, `error`.
///
/// ```
/// use hostgate::inspect::{inspect, tls, Protocol, Status};
/// let hello = tls::testing::client_hello(Some(b"192.0.2.1"), &[b"h2"], true);
/// let i = inspect(&hello);
/// assert_eq!((i.protocol, i.status), (Protocol::Tls, Status::Complete));
/// assert!(i.name.unwrap().ip().is_some());
/// assert!(i.ech && i.alpn.contains(b"h2"));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Inspection<'a> {
    /// The protocol recognized (`Unknown` when none was, or not yet).
    pub protocol: Protocol,
    /// What came of it.
    pub status: Status,
    /// The normalized name, only when `status` is `Complete`.
    pub name: Option<Name>,
    /// The port the request names (HTTP target, Host or CONNECT); `None` for TLS, QUIC and DNS.
    pub port: Option<u16>,
    /// Where the name came from: `Tls` (SNI), `Http` (Host or absolute-form target),
    /// `Connect` (CONNECT authority), `Dns` (question). Set whenever the protocol is known.
    pub via: Option<Via>,
    /// The TLS ALPN list (empty otherwise).
    pub alpn: Alpn<'a>,
    /// The ClientHello carries an ECH extension (the name is then the outer one).
    pub ech: bool,
    /// With `NeedMore`: at least this many more bytes, when known.
    pub need: Option<usize>,
    /// With `Malformed`: why.
    pub error: Option<InspectError>,
    /// The DNS QTYPE, for a DNS question.
    pub qtype: Option<u16>,
    /// The destination as the request carried it, for `received` regex rules: for HTTP the
    /// Host value, the absolute-form target's authority or the CONNECT authority, case and
    /// `:port` kept. `None` for the other protocols, whose `received` rules see `name`.
    pub raw_name: Option<&'a [u8]>,
}

impl<'a> Inspection<'a> {
    fn new(protocol: Protocol, status: Status) -> Self {
        Inspection {
            protocol,
            status,
            name: None,
            port: None,
            via: match protocol {
                // QUIC's handshake is TLS: the name is the SNI.
                Protocol::Tls | Protocol::Quic => Some(Via::Tls),
                Protocol::Http => Some(Via::Http),
                Protocol::Dns => Some(Via::Dns),
                Protocol::Unknown => None,
            },
            alpn: Alpn::default(),
            ech: false,
            need: None,
            error: None,
            qtype: None,
            raw_name: None,
        }
    }

    /// Fills the common fields from an outcome; `None` for not-this-protocol.
    fn from_outcome<T, E>(
        protocol: Protocol,
        outcome: Outcome<T, E>,
        error: impl Fn(E) -> InspectError,
        details: impl Fn(&mut Inspection<'a>, &T),
    ) -> Option<Self> {
        let mut i = Inspection::new(protocol, outcome.status());
        match outcome {
            Outcome::Complete(t) | Outcome::NoName(Some(t)) => details(&mut i, &t),
            Outcome::NoName(None) => {}
            Outcome::NeedMore { at_least } => i.need = at_least,
            Outcome::Malformed(e) => i.error = Some(error(e)),
            Outcome::NotThisProtocol => return None,
        }
        if i.status != Status::Complete {
            // Only a complete result names a destination.
            i.name = None;
        }
        Some(i)
    }

    /// A JSON object in the CLI's shape (without the `file` key), for logs and tools. The name
    /// and ALPN values are escaped; no serde needed.
    ///
    /// ```
    /// let i = hostgate::inspect::inspect(b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n");
    /// assert_eq!(
    ///     i.to_json(),
    ///     r#"{"protocol":"http","status":"complete","name":"a.example","kind":"name","port":443,"alpn":[],"ech":false,"error":null}"#
    /// );
    /// ```
    pub fn to_json(&self) -> String {
        use fmt::Write;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"{{"protocol":"{}","status":"{}","name":"#,
            self.protocol, self.status
        );
        match &self.name {
            Some(n) => {
                let kind = if n.ip().is_some() { "ip" } else { "name" };
                let _ = write!(s, r#""{}","kind":"{kind}""#, n.as_str());
            }
            None => s.push_str(r#"null,"kind":null"#),
        }
        match self.port {
            Some(p) => {
                let _ = write!(s, r#","port":{p}"#);
            }
            None => s.push_str(r#","port":null"#),
        }
        s.push_str(r#","alpn":["#);
        for (k, p) in self.alpn.iter().enumerate() {
            if k > 0 {
                s.push(',');
            }
            json_string(&mut s, p.as_bytes());
        }
        let _ = write!(s, r#"],"ech":{},"error":"#, self.ech);
        match &self.error {
            Some(e) => json_string(&mut s, e.to_string().as_bytes()),
            None => s.push_str("null"),
        }
        s.push('}');
        s
    }
}

/// Writes bytes as a JSON string: printable ASCII as is, everything else `\u00XX` per byte.
fn json_string(out: &mut String, bytes: &[u8]) {
    use fmt::Write;
    out.push('"');
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
    }
    out.push('"');
}

/// Detects the protocol of the first bytes of a TCP stream and extracts the name, with the
/// default [`Limits`]. Same as `inspect_with(buf, Expect::Stream, &Limits::default())`.
///
/// Detection is deterministic, from the first bytes, in this order:
/// 1. byte 0 is `0x16` (TLS handshake record) or has its high bit set (SSLv2-compatible
///    hello): the TLS parser;
/// 2. byte 0 is an uppercase ASCII letter (an HTTP method): the HTTP parser;
/// 3. otherwise DNS over TCP, recognized only when the 2-byte length is at least 17 and the
///    12-byte header is a standard query (QR = 0, opcode 0, one question, no answers);
/// 4. otherwise `Unrecognized`. While too few bytes are there to decide, the status is
///    `NeedMore` with protocol `Unknown`.
///
/// A parser that answers not-this-protocol hands on to the next rule. DNS over UDP is never
/// detected: use [`inspect_with`] and [`Expect::DnsUdp`].
///
/// ```
/// use hostgate::inspect::{inspect, Protocol, Status};
/// assert_eq!(inspect(b"").status, Status::NeedMore);
/// assert_eq!(inspect(b"SSH-2.0-OpenSSH_9.6\r\n").status, Status::Unrecognized);
/// assert_eq!(inspect(&[0x16, 0x03, 0x01]).protocol, Protocol::Tls);
/// ```
pub fn inspect(buf: &[u8]) -> Inspection<'_> {
    inspect_with(buf, Expect::Stream, &Limits::DEFAULT)
}

/// [`inspect`] with a choice of protocol and caps.
///
/// ```
/// use hostgate::inspect::{inspect_with, Expect, Limits, Status};
/// let req = b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
/// let tight = Limits { http_head: 16, ..Limits::default() };
/// assert_eq!(inspect_with(req, Expect::Http, &tight).status, Status::Malformed);
/// assert_eq!(inspect_with(req, Expect::Tls, &tight).status, Status::Unrecognized);
/// ```
pub fn inspect_with<'a>(buf: &'a [u8], expect: Expect, limits: &Limits) -> Inspection<'a> {
    let unrecognized = Inspection::new(Protocol::Unknown, Status::Unrecognized);
    match expect {
        Expect::Tls => inspect_tls(buf, limits).unwrap_or(unrecognized),
        Expect::Http => inspect_http(buf, limits).unwrap_or(unrecognized),
        Expect::DnsUdp => inspect_dns(buf, dns::Transport::Udp),
        Expect::DnsTcp => inspect_dns(buf, dns::Transport::Tcp),
        #[cfg(feature = "quic")]
        Expect::Quic => inspect_quic_datagram(buf, limits),
        #[cfg(not(feature = "quic"))]
        Expect::Quic => unrecognized,
        Expect::Stream => {
            let Some(&first) = buf.first() else {
                let mut i = Inspection::new(Protocol::Unknown, Status::NeedMore);
                i.need = Some(1);
                return i;
            };
            if first == 0x16 || first & 0x80 != 0 {
                if let Some(i) = inspect_tls(buf, limits) {
                    return i;
                }
            }
            if first.is_ascii_uppercase() {
                if let Some(i) = inspect_http(buf, limits) {
                    return i;
                }
            }
            detect_dns_tcp(buf).unwrap_or(unrecognized)
        }
    }
}

fn inspect_tls<'a>(buf: &'a [u8], limits: &Limits) -> Option<Inspection<'a>> {
    Inspection::from_outcome(
        Protocol::Tls,
        tls::parse_client_hello(buf, limits),
        InspectError::Tls,
        |i, h| {
            i.name = h.server_name;
            i.alpn = h.alpn;
            i.ech = h.ech;
        },
    )
}

#[cfg(feature = "quic")]
fn inspect_quic_datagram(buf: &[u8], limits: &Limits) -> Inspection<'static> {
    let mut scratch = Vec::new();
    Inspection::from_outcome(
        Protocol::Quic,
        quic::parse_datagram(buf, &mut scratch, limits),
        InspectError::Quic,
        |i, h| {
            // The ALPN list borrows the decrypted bytes, which do not outlive this call.
            i.name = h.server_name;
            i.ech = h.ech;
        },
    )
    .unwrap_or(Inspection::new(Protocol::Unknown, Status::Unrecognized))
}

#[cfg(feature = "quic")]
impl<'a> Inspection<'a> {
    /// The inspection for a QUIC outcome: protocol `quic`, via `tls`.
    fn from_quic(outcome: Outcome<tls::ClientHello<'a>, quic::Malformed>) -> Inspection<'a> {
        Inspection::from_outcome(Protocol::Quic, outcome, InspectError::Quic, |i, h| {
            i.name = h.server_name;
            i.alpn = h.alpn;
            i.ech = h.ech;
        })
        .unwrap_or(Inspection::new(Protocol::Unknown, Status::Unrecognized))
    }
}

fn inspect_http<'a>(buf: &'a [u8], limits: &Limits) -> Option<Inspection<'a>> {
    Inspection::from_outcome(
        Protocol::Http,
        http::parse_request_head(buf, limits),
        InspectError::Http,
        |i, h| {
            i.name = h.name;
            i.port = h.port;
            if let Some(source) = h.source {
                i.via = Some(source.via());
                i.raw_name = match source {
                    http::NameSource::Host => h.host,
                    http::NameSource::Connect => Some(h.target),
                    _ => Some(target_authority(h.target)),
                };
            }
        },
    )
    .map(|mut i| {
        // Known from the method alone, even before the head is complete.
        if buf.starts_with(b"CONNECT ") {
            i.via = Some(Via::Connect);
        }
        i
    })
}

/// The authority of an absolute-form target (`scheme://AUTHORITY/...`).
fn target_authority(target: &[u8]) -> &[u8] {
    let rest = target
        .windows(3)
        .position(|w| w == b"://")
        .and_then(|at| target.get(at + 3..))
        .unwrap_or(target);
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    rest.get(..end).unwrap_or(rest)
}

fn inspect_dns(buf: &[u8], transport: dns::Transport) -> Inspection<'_> {
    Inspection::from_outcome(
        Protocol::Dns,
        dns::parse_query(buf, transport),
        InspectError::Dns,
        |i, q| {
            i.name = q.name;
            i.qtype = Some(q.qtype);
        },
    )
    .unwrap_or(Inspection::new(Protocol::Unknown, Status::Unrecognized))
}

/// The DNS-over-TCP rule of [`inspect`]: length ≥ 17 and a standard-query header.
fn detect_dns_tcp(buf: &[u8]) -> Option<Inspection<'_>> {
    if let Some(&[hi, lo]) = buf.first_chunk::<2>() {
        // 12-byte header + root name + QTYPE + QCLASS is the smallest query.
        if u16::from_be_bytes([hi, lo]) < 17 {
            return None;
        }
    }
    let Some(hdr) = buf.get(2..).and_then(|b| b.first_chunk::<12>()) else {
        let mut i = Inspection::new(Protocol::Unknown, Status::NeedMore);
        i.need = Some(14 - buf.len());
        return Some(i);
    };
    dns::check_header(hdr).ok()?;
    Some(inspect_dns(buf, dns::Transport::Tcp))
}

/// Which two sources disagree in [`check_fronting`].
///
/// ```
/// use hostgate::{inspect::{check_fronting, Disagreement}, normalize, Via};
/// let (a, b) = (normalize("a.example").unwrap(), normalize("b.example").unwrap());
/// assert_eq!(
///     check_fronting(Some(&a), Some(&b), None),
///     Err(Disagreement { first: Via::Connect, second: Via::Tls })
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Disagreement {
    /// The earlier source in the order CONNECT, SNI, Host (`Connect`, `Tls`, `Http`).
    pub first: Via,
    /// The later source, whose name differs from `first`'s.
    pub second: Via,
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} and {} name different hosts", self.first, self.second)
    }
}

/// Domain-fronting check for a proxy that sees more than one name for one connection: the
/// CONNECT authority, the TLS SNI inside the tunnel, the HTTP Host inside TLS. Names agree when
/// they are the same normalized name (ports are not compared). Absent names are skipped.
///
/// Returns the agreed name (`None` when none was given), or the first pair that disagrees,
/// checking CONNECT–SNI, CONNECT–Host, then SNI–Host.
///
/// ```
/// use hostgate::{inspect::{check_fronting, Disagreement}, normalize, Via};
/// let a = normalize("A.example.").unwrap();
/// let b = normalize("a.example").unwrap();
/// let c = normalize("cdn.example").unwrap();
/// assert_eq!(check_fronting(Some(&a), Some(&b), None), Ok(Some(b)));
/// assert_eq!(check_fronting(None, None, None), Ok(None));
/// assert_eq!(
///     check_fronting(None, Some(&b), Some(&c)),
///     Err(Disagreement { first: Via::Tls, second: Via::Http })
/// );
/// ```
pub fn check_fronting(
    connect: Option<&Name>,
    sni: Option<&Name>,
    host: Option<&Name>,
) -> Result<Option<Name>, Disagreement> {
    let named = [(Via::Connect, connect), (Via::Tls, sni), (Via::Http, host)];
    for (i, (first, a)) in named.iter().enumerate() {
        let Some(a) = a else { continue };
        for (second, b) in named.iter().skip(i + 1) {
            if let Some(b) = b {
                if a != b {
                    return Err(Disagreement {
                        first: *first,
                        second: *second,
                    });
                }
            }
        }
    }
    Ok(connect.or(sni).or(host).copied())
}

impl Engine {
    /// Inspects the first bytes of a stream ([`inspect`]) and checks the name against a policy
    /// in one call.
    ///
    /// The source (`via`) follows the protocol: SNI → `tls`, Host or absolute-form → `http`,
    /// CONNECT → `connect`, DNS → `dns`. The port is `port` when given (the connection's real
    /// destination), else the one the request names; a DNS question has none. Anything but a
    /// complete inspection is denied: need-more, no-name, malformed and unrecognized give
    /// reason `no-name`, a refused name gives `invalid-name`. Wait on
    /// [`Status::NeedMore`] before acting on the verdict.
    ///
    /// ```
    /// use hostgate::{Action, Engine, Reason};
    /// let e = Engine::compile("allow api.example port 443 via connect\n").unwrap();
    /// let p = e.policy("default").unwrap();
    /// let req = b"CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\n\r\n";
    /// let (i, v) = e.inspect_check(p, req, None);
    /// assert_eq!((v.action, v.reason), (Action::Allow, Reason::Matched));
    /// assert_eq!(i.port, Some(443));
    /// let (_, v) = e.inspect_check(p, b"GET / HTTP/1.1\r\n\r\n", None);
    /// assert_eq!((v.action, v.reason), (Action::Deny, Reason::NoName));
    /// ```
    pub fn inspect_check<'b>(
        &self,
        policy: PolicyId,
        buf: &'b [u8],
        port: Option<u16>,
    ) -> (Inspection<'b>, Verdict<'_>) {
        let inspection = inspect(buf);
        let verdict = self.verdict_for_inspection(policy, &inspection, port);
        (inspection, verdict)
    }

    /// The verdict for an inspection already made (for example with [`inspect_with`] and
    /// [`Expect::DnsUdp`]), with the rules of [`Engine::inspect_check`].
    ///
    /// ```
    /// use hostgate::inspect::{dns, inspect_with, Expect, Limits};
    /// use hostgate::{Action, Engine};
    /// let e = Engine::compile("allow **.example via dns\n").unwrap();
    /// let q = dns::testing::query(1, b"www.example", 1);
    /// let i = inspect_with(&q, Expect::DnsUdp, &Limits::default());
    /// assert_eq!(e.verdict_for_inspection(e.policy("default").unwrap(), &i, None).action, Action::Allow);
    /// ```
    pub fn verdict_for_inspection(
        &self,
        policy: PolicyId,
        inspection: &Inspection<'_>,
        port: Option<u16>,
    ) -> Verdict<'_> {
        if let Some(e) = inspection.error {
            let reason = match e.invalid_name() {
                Some(_) => Reason::InvalidName,
                None => Reason::NoName,
            };
            return Verdict::deny(policy, reason);
        }
        match (inspection.status, &inspection.name) {
            (Status::Complete, Some(name)) => {
                let port = match inspection.protocol {
                    Protocol::Dns => None,
                    _ => port.or(inspection.port),
                };
                match inspection.raw_name {
                    // As carried: the port is in it when the request gave one.
                    Some(raw) => {
                        self.check_with_raw(policy, name, raw, false, port, inspection.via)
                    }
                    None => self.check_name(policy, name, port, inspection.via),
                }
            }
            _ => Verdict::deny(policy, Reason::NoName),
        }
    }
}
