//! TLS ClientHello: the server name (SNI), the ALPN list, the offered versions and whether ECH
//! is present, from the first bytes of a TLS connection.
//!
//! The record layer is reassembled: a ClientHello split over several handshake records (OpenSSL
//! `-max_send_frag`) is read in place, without copying the records together. The body checks
//! follow Go's `crypto/tls` (`clientHelloMsg.unmarshal`), with the deviations listed on
//! [`Malformed`].
//!
//! ```
//! use hostgate::inspect::{tls, Limits, Outcome};
//!
//! let hello = tls::testing::client_hello_with_sni(b"Example.COM");
//! match tls::parse_client_hello(&hello, &Limits::default()) {
//!     Outcome::Complete(h) => assert_eq!(h.server_name.unwrap().as_str(), "example.com"),
//!     other => panic!("{other:?}"),
//! }
//! // Any prefix is need-more, never a name.
//! assert!(matches!(
//!     tls::parse_client_hello(&hello[..20], &Limits::default()),
//!     Outcome::NeedMore { .. }
//! ));
//! ```

use core::fmt;

use super::{Limits, Outcome};
use crate::name::{normalize_into, InvalidName, Name, MAX_NAME_LEN};

const RECORD_HANDSHAKE: u8 = 0x16;
const RECORD_HEADER: usize = 5;
/// RFC 8446 §5.1: a plaintext record carries at most 2^14 bytes.
const MAX_FRAGMENT: usize = 1 << 14;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;

const EXT_SERVER_NAME: u16 = 0;
const EXT_STATUS_REQUEST: u16 = 5;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_EC_POINT_FORMATS: u16 = 11;
const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
const EXT_ALPN: u16 = 16;
const EXT_SCT: u16 = 18;
const EXT_EXTENDED_MASTER_SECRET: u16 = 23;
const EXT_PRE_SHARED_KEY: u16 = 41;
const EXT_EARLY_DATA: u16 = 42;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
const EXT_COOKIE: u16 = 44;
const EXT_PSK_MODES: u16 = 45;
const EXT_SIGNATURE_ALGORITHMS_CERT: u16 = 50;
const EXT_KEY_SHARE: u16 = 51;
/// RFC 9001 §8.2: `quic_transport_parameters`, required in a QUIC ClientHello.
const EXT_QUIC_TRANSPORT_PARAMETERS: u16 = 0x39;
const EXT_ECH: u16 = 0xfe0d;
const EXT_RENEGOTIATION_INFO: u16 = 0xff01;

/// At most this many distinct extension types numbered 1024 and above (GREASE, ECH, ALPS...).
/// Real clients send a handful; the bound keeps the duplicate check allocation-free and linear.
const MAX_HIGH_EXTENSIONS: usize = 64;

/// Why a ClientHello (or what claims to be one) is refused. A refused hello is denied.
///
/// The checks are those of Go's `crypto/tls` with these deliberate differences: a trailing dot
/// in the server name is stripped once (Go refuses it), the server name must be printable ASCII
/// and a valid name, an empty cipher-suite or compression list is refused, bytes after the hello
/// inside its last record are refused, and at most 64 distinct extension types ≥ 1024 are
/// accepted.
///
/// ```
/// use hostgate::inspect::tls::Malformed;
/// assert_eq!(Malformed::DuplicateExtension(0).to_string(), "extension 0 appears twice");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Malformed {
    /// A record longer than 2^14 bytes.
    RecordTooLong,
    /// A zero-length record.
    EmptyRecord,
    /// A record of another type (the value) before the hello was complete.
    UnexpectedRecord(u8),
    /// A continuation record whose version is not 3.x.
    BadRecordVersion,
    /// The first handshake message is not a ClientHello (the value is its type).
    NotClientHello(u8),
    /// The hello is larger than [`Limits::tls_hello`].
    TooLarge,
    /// More handshake bytes follow the hello inside its last record.
    TrailingData,
    /// A length field runs past the data that holds it.
    Truncated,
    /// A legacy session id longer than 32 bytes.
    SessionIdTooLong,
    /// The cipher-suite list is empty or has an odd length.
    BadCipherSuites,
    /// The compression-method list is empty.
    EmptyCompression,
    /// The extensions block over-runs the hello, or bytes follow it.
    ExtensionsLength,
    /// The same extension type (the value) twice.
    DuplicateExtension(u16),
    /// An extension (the value) whose content breaks its own grammar.
    BadExtension(u16),
    /// `pre_shared_key` is not the last extension (RFC 8446 §4.2.11).
    PskNotLast,
    /// More than 64 distinct extension types numbered 1024 or above.
    TooManyExtensions,
    /// A `server_name` extension with an empty list.
    EmptyServerNameList,
    /// A zero-length entry in the server-name list.
    EmptyServerName,
    /// Two `host_name` entries.
    DuplicateServerName,
    /// The server name is not a valid name (NUL, control, non-ASCII, too long, ...).
    InvalidServerName(InvalidName),
    /// An ALPN extension with an empty protocol list.
    EmptyAlpnList,
    /// An ALPN protocol name of length zero.
    EmptyAlpnProtocol,
    /// An SSLv2-compatible hello whose lengths do not add up.
    BadSslV2,
}

impl Malformed {
    /// The name error, when the hello was refused because of its server name.
    ///
    /// ```
    /// use hostgate::{inspect::tls::Malformed, InvalidName};
    /// let e = Malformed::InvalidServerName(InvalidName::BadCharacter);
    /// assert_eq!(e.invalid_name(), Some(InvalidName::BadCharacter));
    /// assert_eq!(Malformed::Truncated.invalid_name(), None);
    /// ```
    pub fn invalid_name(self) -> Option<InvalidName> {
        match self {
            Malformed::InvalidServerName(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::RecordTooLong => f.write_str("TLS record longer than 2^14 bytes"),
            Malformed::EmptyRecord => f.write_str("zero-length TLS record"),
            Malformed::UnexpectedRecord(t) => {
                write!(f, "record type {t} inside the ClientHello")
            }
            Malformed::BadRecordVersion => f.write_str("continuation record is not TLS 3.x"),
            Malformed::NotClientHello(t) => {
                write!(f, "handshake message type {t} is not a ClientHello")
            }
            Malformed::TooLarge => f.write_str("ClientHello larger than the configured cap"),
            Malformed::TrailingData => f.write_str("bytes after the ClientHello in its record"),
            Malformed::Truncated => f.write_str("a length runs past its enclosing data"),
            Malformed::SessionIdTooLong => f.write_str("session id longer than 32 bytes"),
            Malformed::BadCipherSuites => f.write_str("empty or odd-length cipher-suite list"),
            Malformed::EmptyCompression => f.write_str("empty compression-method list"),
            Malformed::ExtensionsLength => f.write_str("bad extensions length"),
            Malformed::DuplicateExtension(t) => write!(f, "extension {t} appears twice"),
            Malformed::BadExtension(t) => write!(f, "malformed extension {t}"),
            Malformed::PskNotLast => f.write_str("pre_shared_key is not the last extension"),
            Malformed::TooManyExtensions => f.write_str("too many extension types"),
            Malformed::EmptyServerNameList => f.write_str("empty server-name list"),
            Malformed::EmptyServerName => f.write_str("zero-length server name"),
            Malformed::DuplicateServerName => f.write_str("two host_name entries"),
            Malformed::InvalidServerName(e) => write!(f, "invalid server name: {e}"),
            Malformed::EmptyAlpnList => f.write_str("empty ALPN list"),
            Malformed::EmptyAlpnProtocol => f.write_str("empty ALPN protocol name"),
            Malformed::BadSslV2 => f.write_str("malformed SSLv2-compatible hello"),
        }
    }
}

/// What a ClientHello says about its destination.
///
/// ```
/// use hostgate::inspect::{tls, Limits, Outcome};
/// let hello = tls::testing::client_hello_with_sni(b"api.example");
/// let Outcome::Complete(h) = tls::parse_client_hello(&hello, &Limits::default()) else {
///     panic!()
/// };
/// assert_eq!(h.records, 1);
/// assert_eq!(h.len, hello.len());
/// assert!(!h.ech);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ClientHello<'a> {
    /// The normalized `host_name` (a name or an IP). `Some` in [`Outcome::Complete`], `None`
    /// in [`Outcome::NoName`].
    pub server_name: Option<Name>,
    /// The ALPN protocols offered, in order (empty when there is no ALPN extension).
    pub alpn: Alpn<'a>,
    /// An `encrypted_client_hello` extension (0xfe0d) is present: the name is the outer, public
    /// one. Real and GREASE ECH cannot be told apart, so this is set for both.
    pub ech: bool,
    /// The `legacy_version` field of the hello.
    pub legacy_version: u16,
    /// The highest version offered: from `supported_versions` (GREASE ignored) when present,
    /// else `legacy_version`.
    pub max_version: u16,
    /// How many records carried the hello (0 for a hello from QUIC CRYPTO frames, which
    /// have no record layer).
    pub records: usize,
    /// How many bytes of the buffer the hello's records take (for QUIC: the handshake
    /// message's length).
    pub len: usize,
}

/// The ALPN protocol list of a hello, borrowed from the buffer. When the list crosses a record
/// boundary it is read lazily across the records; no copy of the list is made.
///
/// ```
/// use hostgate::inspect::{tls, Limits, Outcome};
/// let hello = tls::testing::client_hello(Some(b"a.example"), &[b"h2", b"http/1.1"], false);
/// let Outcome::Complete(h) = tls::parse_client_hello(&hello, &Limits::default()) else {
///     panic!()
/// };
/// assert_eq!(h.alpn.len(), 2);
/// assert!(h.alpn.contains(b"h2"));
/// let v: Vec<String> = h.alpn.iter().map(|p| p.to_string()).collect();
/// assert_eq!(v, ["h2", "http/1.1"]);
/// ```
#[derive(Clone, Copy, Default)]
pub struct Alpn<'a> {
    list: Option<Cursor<'a>>,
}

impl<'a> Alpn<'a> {
    /// The protocols, in the order offered.
    ///
    /// ```
    /// let alpn = hostgate::inspect::tls::Alpn::default();
    /// assert_eq!(alpn.iter().count(), 0);
    /// ```
    pub fn iter(&self) -> AlpnIter<'a> {
        AlpnIter { list: self.list }
    }

    /// No ALPN extension.
    ///
    /// ```
    /// assert!(hostgate::inspect::tls::Alpn::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.list.map_or(true, |c| c.is_empty())
    }

    /// How many protocols.
    ///
    /// ```
    /// assert_eq!(hostgate::inspect::tls::Alpn::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether `protocol` is offered.
    ///
    /// ```
    /// assert!(!hostgate::inspect::tls::Alpn::default().contains(b"h2"));
    /// ```
    pub fn contains(&self, protocol: &[u8]) -> bool {
        self.iter().any(|p| p.as_bytes() == protocol)
    }
}

impl fmt::Debug for Alpn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over [`Alpn`].
///
/// ```
/// let mut it = hostgate::inspect::tls::Alpn::default().iter();
/// assert!(it.next().is_none());
/// ```
#[derive(Clone, Debug)]
pub struct AlpnIter<'a> {
    list: Option<Cursor<'a>>,
}

impl<'a> Iterator for AlpnIter<'a> {
    type Item = AlpnProtocol<'a>;

    fn next(&mut self) -> Option<AlpnProtocol<'a>> {
        let list = self.list.as_mut()?;
        if list.is_empty() {
            return None;
        }
        // The list was validated when the hello was parsed; a failure here only ends iteration.
        let n = usize::from(list.u8()?);
        if let Some(bytes) = list.take_contiguous(n) {
            return Some(AlpnProtocol(Repr::Borrowed(bytes)));
        }
        let mut buf = [0u8; 255];
        let mut item = list.sub(n)?;
        let len = item.copy_to(&mut buf)?;
        Some(AlpnProtocol(Repr::Inline(buf, len as u8)))
    }
}

/// One ALPN protocol name: borrowed from the buffer, or copied inline (≤ 255 bytes) when it
/// crossed a record boundary.
///
/// ```
/// use hostgate::inspect::{tls, Limits, Outcome};
/// let hello = tls::testing::client_hello(Some(b"a.example"), &[b"h2"], false);
/// let Outcome::Complete(h) = tls::parse_client_hello(&hello, &Limits::default()) else {
///     panic!()
/// };
/// assert_eq!(h.alpn.iter().next().unwrap().as_bytes(), b"h2");
/// ```
#[derive(Clone, Copy)]
pub struct AlpnProtocol<'a>(Repr<'a>);

// Inline is large on purpose: a name that crossed records is copied, never heap-allocated.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy)]
enum Repr<'a> {
    Borrowed(&'a [u8]),
    Inline([u8; 255], u8),
}

impl AlpnProtocol<'_> {
    /// The protocol name's bytes.
    ///
    /// ```
    /// # use hostgate::inspect::{tls, Limits, Outcome};
    /// # let hello = tls::testing::client_hello(Some(b"a.example"), &[b"http/1.1"], false);
    /// # let Outcome::Complete(h) = tls::parse_client_hello(&hello, &Limits::default()) else { panic!() };
    /// assert_eq!(h.alpn.iter().next().unwrap().as_bytes(), b"http/1.1");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Borrowed(b) => b,
            Repr::Inline(buf, len) => {
                debug_assert!(
                    usize::from(*len) <= buf.len(),
                    "inline ALPN longer than its buffer"
                );
                buf.get(..usize::from(*len)).unwrap_or(&[])
            }
        }
    }
}

impl fmt::Debug for AlpnProtocol<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.as_bytes().escape_ascii())
    }
}

/// The name with non-printable bytes escaped (`\xNN`).
impl fmt::Display for AlpnProtocol<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_bytes().escape_ascii())
    }
}

impl PartialEq<[u8]> for AlpnProtocol<'_> {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<&str> for AlpnProtocol<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

/// Reads the big-endian, length-prefixed fields of a handshake message. Two readers: [`Bytes`]
/// for a hello in one record (the common case, kept small so it stays in registers) and
/// [`Cursor`] for one spread over records; the body parser is generic over both.
trait Reader<'a>: Copy {
    fn is_empty(&self) -> bool;
    fn len(&self) -> usize;
    fn u8(&mut self) -> Option<u8>;
    fn u16(&mut self) -> Option<u16>;
    fn skip(&mut self, n: usize) -> Option<()>;
    /// The next `n` bytes as their own reader; this one moves past them.
    fn sub(&mut self, n: usize) -> Option<Self>;
    /// Copies everything left into `out`; `None` if it does not fit.
    fn copy_to(&mut self, out: &mut [u8]) -> Option<usize>;
    fn into_cursor(self) -> Cursor<'a>;

    #[inline]
    fn vec8(&mut self) -> Option<Self> {
        let n = self.u8()?;
        self.sub(usize::from(n))
    }

    #[inline]
    fn vec16(&mut self) -> Option<Self> {
        let n = self.u16()?;
        self.sub(usize::from(n))
    }
}

/// A hello within one record: a plain slice.
#[derive(Clone, Copy, Debug)]
struct Bytes<'a>(&'a [u8]);

impl<'a> Reader<'a> for Bytes<'a> {
    #[inline]
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }
    #[inline]
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    #[inline]
    fn u16(&mut self) -> Option<u16> {
        let (&[a, b], rest) = self.0.split_first_chunk::<2>()?;
        self.0 = rest;
        Some(u16::from_be_bytes([a, b]))
    }
    #[inline]
    fn skip(&mut self, n: usize) -> Option<()> {
        self.0 = self.0.get(n..)?;
        Some(())
    }
    #[inline]
    fn sub(&mut self, n: usize) -> Option<Self> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(Bytes(head))
    }
    fn copy_to(&mut self, out: &mut [u8]) -> Option<usize> {
        let n = self.0.len();
        out.get_mut(..n)?.copy_from_slice(self.0);
        self.0 = &[];
        Some(n)
    }
    fn into_cursor(self) -> Cursor<'a> {
        Cursor::new(self.0, &[], self.0.len())
    }
}

/// A reader over the handshake bytes, which may be spread over several records.
///
/// `head` is the unread part of the current record's payload (cut to `left`), `tail` the
/// records after it (headers included, already validated), `left` the logical bytes this reader
/// may still consume.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor<'a> {
    head: &'a [u8],
    tail: &'a [u8],
    left: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn new(head: &'a [u8], tail: &'a [u8], left: usize) -> Self {
        let head = head.get(..left.min(head.len())).unwrap_or(&[]);
        Cursor { head, tail, left }
    }

    /// Moves into the next record when the current one is used up.
    #[inline]
    fn refill(&mut self) -> Option<()> {
        if self.head.is_empty() {
            return self.next_record();
        }
        Some(())
    }

    #[cold]
    fn next_record(&mut self) -> Option<()> {
        while self.head.is_empty() {
            if self.left == 0 {
                return None;
            }
            let (n, rest) = record_payload_len(self.tail)?;
            let (payload, tail) = rest.split_at_checked(n)?;
            self.head = payload.get(..n.min(self.left))?;
            self.tail = tail;
        }
        Some(())
    }

    /// The next `n` bytes as one slice, when they lie in the current record.
    #[inline]
    fn take_contiguous(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.left {
            return None;
        }
        let (bytes, rest) = self.head.split_at_checked(n)?;
        self.head = rest;
        self.left -= n;
        Some(bytes)
    }
}

impl<'a> Reader<'a> for Cursor<'a> {
    #[inline]
    fn is_empty(&self) -> bool {
        self.left == 0
    }

    #[inline]
    fn len(&self) -> usize {
        self.left
    }

    #[inline]
    fn u8(&mut self) -> Option<u8> {
        self.refill()?;
        let (&b, rest) = self.head.split_first()?;
        self.head = rest;
        self.left -= 1;
        Some(b)
    }

    #[inline]
    fn u16(&mut self) -> Option<u16> {
        if let Some((&[a, b], rest)) = self.head.split_first_chunk::<2>() {
            self.head = rest;
            self.left -= 2;
            return Some(u16::from_be_bytes([a, b]));
        }
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    #[inline]
    fn skip(&mut self, mut n: usize) -> Option<()> {
        if n > self.left {
            return None;
        }
        if let Some(rest) = self.head.get(n..) {
            // The common case: within the current record.
            self.head = rest;
            self.left -= n;
            return Some(());
        }
        while n > 0 {
            self.refill()?;
            let k = n.min(self.head.len());
            self.head = self.head.get(k..)?;
            self.left -= k;
            n -= k;
        }
        Some(())
    }

    /// The next `n` bytes as their own reader; this one moves past them.
    #[inline]
    fn sub(&mut self, n: usize) -> Option<Self> {
        if n > self.left {
            return None;
        }
        let child = Cursor::new(self.head, self.tail, n);
        self.skip(n)?;
        Some(child)
    }

    /// Copies everything left into `out`; `None` if it does not fit.
    fn copy_to(&mut self, out: &mut [u8]) -> Option<usize> {
        let n = self.left;
        let mut at = 0;
        while self.left > 0 {
            self.refill()?;
            let k = self.head.len();
            out.get_mut(at..at + k)?.copy_from_slice(self.head);
            at += k;
            self.left -= k;
            self.head = &[];
        }
        Some(n)
    }

    fn into_cursor(self) -> Cursor<'a> {
        self
    }
}

/// Reads a record header: the payload length and the bytes after the header.
fn record_payload_len(buf: &[u8]) -> Option<(usize, &[u8])> {
    let (hdr, rest) = buf.split_first_chunk::<RECORD_HEADER>()?;
    Some((usize::from(u16::from_be_bytes([hdr[3], hdr[4]])), rest))
}

/// Parses the ClientHello at the start of `buf`, the bytes a client sent so far.
///
/// - [`Outcome::Complete`]: a well-formed hello with a `host_name`.
/// - [`Outcome::NeedMore`]: a valid prefix; `at_least` is a lower bound on the missing bytes.
/// - [`Outcome::NoName`]: a well-formed hello without a usable name: `Some(hello)` when it has
///   no `host_name` (only other name types are skipped), `None` for an SSLv2-compatible hello.
/// - [`Outcome::Malformed`]: refused, see [`Malformed`].
/// - [`Outcome::NotThisProtocol`]: the first bytes are not a TLS handshake record nor an
///   SSLv2-compatible hello.
///
/// Bytes after the hello's last record (a following record, early data) are ignored.
///
/// ```
/// use hostgate::inspect::{tls, Limits, Outcome};
/// assert!(matches!(
///     tls::parse_client_hello(b"GET / HTTP/1.1\r\n", &Limits::default()),
///     Outcome::NotThisProtocol
/// ));
/// // 3 more header bytes, then at least the 4-byte handshake header.
/// assert!(matches!(
///     tls::parse_client_hello(&[0x16, 0x03], &Limits::default()),
///     Outcome::NeedMore { at_least: Some(7) }
/// ));
/// ```
pub fn parse_client_hello<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Outcome<ClientHello<'a>, Malformed> {
    let Some(&first) = buf.first() else {
        return Outcome::NeedMore {
            at_least: Some(RECORD_HEADER),
        };
    };
    if first != RECORD_HANDSHAKE {
        if first & 0x80 != 0 {
            return parse_sslv2(buf, limits);
        }
        return Outcome::NotThisProtocol;
    }
    // The signature of a TLS handshake record: 0x16 0x03 0x00..=0x04.
    match buf.get(1) {
        Some(3) | None => {}
        Some(_) => return Outcome::NotThisProtocol,
    }
    match buf.get(2) {
        Some(0..=4) | None => {}
        Some(_) => return Outcome::NotThisProtocol,
    }
    let span = match locate(buf, limits) {
        Ok(span) => span,
        Err(Stop::NeedMore(at_least)) => return Outcome::NeedMore { at_least },
        Err(Stop::Malformed(e)) => return Outcome::Malformed(e),
    };
    parse_body(buf, &span)
}

/// Where a complete hello lies: its records end at `end`.
struct Span {
    end: usize,
    records: usize,
    total: usize,
}

/// Why the record walk stopped before a whole hello.
enum Stop {
    NeedMore(Option<usize>),
    Malformed(Malformed),
}

/// Walks the records until the whole handshake message is there, checking each header.
fn locate(buf: &[u8], limits: &Limits) -> Result<Span, Stop> {
    let mut pos = 0usize;
    let mut have = 0usize; // handshake bytes seen so far
    let mut hs_header = [0u8; 4];
    let mut total: Option<usize> = None; // 4 + hello length, once known
    let mut records = 0usize;
    loop {
        let rest = buf.get(pos..).unwrap_or(&[]);
        // Check whatever part of the record header is there before asking for more.
        if let Some(&typ) = rest.first() {
            if typ != RECORD_HANDSHAKE {
                return Err(Stop::Malformed(Malformed::UnexpectedRecord(typ)));
            }
        }
        if let Some(&major) = rest.get(1) {
            if major != 3 {
                return Err(Stop::Malformed(Malformed::BadRecordVersion));
            }
        }
        let missing_hs = total.unwrap_or(4).saturating_sub(have).max(1);
        let Some((len, after)) = record_payload_len(rest) else {
            return Err(Stop::NeedMore(Some(
                RECORD_HEADER - rest.len() + missing_hs,
            )));
        };
        if len > MAX_FRAGMENT {
            return Err(Stop::Malformed(Malformed::RecordTooLong));
        }
        if len == 0 {
            return Err(Stop::Malformed(Malformed::EmptyRecord));
        }
        records += 1;
        let avail = after.get(..len.min(after.len())).unwrap_or(&[]);
        // Fill the 4-byte handshake header, which may itself span records.
        for (i, &b) in avail.iter().enumerate().take(4usize.saturating_sub(have)) {
            if let Some(slot) = hs_header.get_mut(have + i) {
                *slot = b;
            }
        }
        have += avail.len();
        if total.is_none() && have >= 4 {
            if hs_header[0] != HANDSHAKE_CLIENT_HELLO {
                return Err(Stop::Malformed(Malformed::NotClientHello(hs_header[0])));
            }
            let body = usize::from(hs_header[1]) << 16
                | usize::from(hs_header[2]) << 8
                | usize::from(hs_header[3]);
            let t = 4 + body;
            if t > limits.tls_hello {
                return Err(Stop::Malformed(Malformed::TooLarge));
            }
            total = Some(t);
        }
        if avail.len() < len {
            let missing_hs = total.unwrap_or(4).saturating_sub(have);
            return Err(Stop::NeedMore(Some((len - avail.len()).max(missing_hs))));
        }
        pos += RECORD_HEADER + len;
        if let Some(t) = total {
            if have > t {
                return Err(Stop::Malformed(Malformed::TrailingData));
            }
            if have == t {
                return Ok(Span {
                    end: pos,
                    records,
                    total: t,
                });
            }
        }
    }
}

/// Parses the handshake message whose records are `buf[..span.end]`.
fn parse_body<'a>(buf: &'a [u8], span: &Span) -> Outcome<ClientHello<'a>, Malformed> {
    let split = buf
        .get(..span.end)
        .and_then(record_payload_len)
        .and_then(|(first_len, after)| after.split_at_checked(first_len));
    let Some((first, tail)) = split else {
        return Outcome::Malformed(Malformed::Truncated);
    };
    let hello = ClientHello::unread(span.records, span.end);
    // Type and length were checked by `locate`.
    if span.records == 1 {
        let Some(body) = first.get(4..span.total) else {
            return Outcome::Malformed(Malformed::Truncated);
        };
        match parse_fields(Bytes(body), hello, &mut Facts::default()) {
            Ok((hello, sni)) => finish(hello, sni.map(|b| b.0)),
            Err(e) => Outcome::Malformed(e),
        }
    } else {
        let mut body = Cursor::new(first, tail, span.total);
        if body.skip(4).is_none() {
            return Outcome::Malformed(Malformed::Truncated);
        }
        match parse_fields(body, hello, &mut Facts::default()) {
            Ok((hello, None)) => Outcome::NoName(Some(hello)),
            Ok((hello, Some(mut raw))) => {
                // The name may cross records: copy it into an inline buffer.
                let mut inline = [0u8; MAX_NAME_LEN + 1];
                if raw.len() > inline.len() {
                    return Outcome::Malformed(Malformed::InvalidServerName(InvalidName::TooLong));
                }
                match raw.copy_to(&mut inline) {
                    Some(n) => finish(hello, inline.get(..n)),
                    None => Outcome::Malformed(Malformed::Truncated),
                }
            }
            Err(e) => Outcome::Malformed(e),
        }
    }
}

/// What a hello says beyond [`ClientHello`], for the QUIC rules on top of TLS's.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Facts {
    /// `legacy_session_id` is empty (RFC 9001 §8.4).
    pub(crate) session_id_empty: bool,
    /// A `quic_transport_parameters` extension is present (RFC 9001 §8.2).
    pub(crate) quic_transport_parameters: bool,
}

/// Parses a bare ClientHello handshake message (type, 3-byte length, body: no record layer),
/// as QUIC carries it in CRYPTO frames. `msg` must be exactly the message: bytes after it are
/// refused as [`Malformed::TrailingData`], a prefix is need-more. The facts are filled when the
/// fields were parsed.
#[cfg_attr(not(feature = "quic"), allow(dead_code))]
pub(crate) fn parse_handshake<'a>(
    msg: &'a [u8],
    limits: &Limits,
    facts: &mut Facts,
) -> Outcome<ClientHello<'a>, Malformed> {
    let Some(&[ty, a, b, c]) = msg.first_chunk::<4>() else {
        if let Some(&ty) = msg.first() {
            if ty != HANDSHAKE_CLIENT_HELLO {
                return Outcome::Malformed(Malformed::NotClientHello(ty));
            }
        }
        return Outcome::NeedMore {
            at_least: Some(4 - msg.len()),
        };
    };
    if ty != HANDSHAKE_CLIENT_HELLO {
        return Outcome::Malformed(Malformed::NotClientHello(ty));
    }
    let total = 4 + (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c));
    if total > limits.tls_hello {
        return Outcome::Malformed(Malformed::TooLarge);
    }
    let Some(body) = msg.get(4..total) else {
        return Outcome::NeedMore {
            at_least: Some(total - msg.len()),
        };
    };
    if msg.len() > total {
        return Outcome::Malformed(Malformed::TrailingData);
    }
    // QUIC carries the handshake message without records.
    let hello = ClientHello::unread(0, total);
    match parse_fields(Bytes(body), hello, facts) {
        Ok((hello, sni)) => finish(hello, sni.map(|b| b.0)),
        Err(e) => Outcome::Malformed(e),
    }
}

impl ClientHello<'_> {
    /// A hello of `len` bytes in `records` records whose fields are not read yet.
    fn unread(records: usize, len: usize) -> Self {
        ClientHello {
            server_name: None,
            alpn: Alpn::default(),
            ech: false,
            legacy_version: 0,
            max_version: 0,
            records,
            len,
        }
    }
}

/// Validates and normalizes the SNI bytes into the result. Only printable ASCII is a host name
/// on the wire (RFC 6066: ASCII, no IDNA U-labels); anything else is refused rather than given
/// to IDNA. The `Name` is built straight into the outcome (it is large: no extra copies).
#[inline(always)]
fn finish<'a>(hello: ClientHello<'a>, raw: Option<&[u8]>) -> Outcome<ClientHello<'a>, Malformed> {
    let Some(raw) = raw else {
        return Outcome::NoName(Some(hello));
    };
    let bad = |e| Outcome::Malformed(Malformed::InvalidServerName(e));
    // One trailing dot may come on top of the longest name.
    if raw.len() > MAX_NAME_LEN + 1 {
        return bad(InvalidName::TooLong);
    }
    if !raw.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return bad(InvalidName::BadCharacter);
    }
    // Normalized in place, into the result: a `Name` is large and copies show in profiles.
    let mut out = Outcome::Complete(ClientHello {
        server_name: Some(Name::empty()),
        ..hello
    });
    if let Outcome::Complete(ClientHello {
        server_name: Some(name),
        ..
    }) = &mut out
    {
        if let Err(e) = normalize_into(raw, name) {
            // One return of `out` only, so it is built in the caller's slot.
            out = bad(e);
        }
    }
    out
}

/// The ClientHello fields after the handshake header.
fn parse_fields<'a, R: Reader<'a>>(
    mut body: R,
    mut hello: ClientHello<'a>,
    facts: &mut Facts,
) -> Result<(ClientHello<'a>, Option<R>), Malformed> {
    use Malformed as M;

    let legacy_version = body.u16().ok_or(M::Truncated)?;
    body.skip(32).ok_or(M::Truncated)?; // random
    let session_id = body.vec8().ok_or(M::Truncated)?;
    if session_id.len() > 32 {
        return Err(M::SessionIdTooLong);
    }
    facts.session_id_empty = session_id.is_empty();
    let suites = body.vec16().ok_or(M::Truncated)?;
    if suites.is_empty() || suites.len() % 2 != 0 {
        return Err(M::BadCipherSuites);
    }
    let compression = body.vec8().ok_or(M::Truncated)?;
    if compression.is_empty() {
        return Err(M::EmptyCompression);
    }
    hello.legacy_version = legacy_version;
    hello.max_version = legacy_version;
    if body.is_empty() {
        // A hello without extensions is well-formed (TLS 1.0 style); it just has no name.
        return Ok((hello, None));
    }
    let mut exts = body.vec16().ok_or(M::ExtensionsLength)?;
    if !body.is_empty() {
        return Err(M::ExtensionsLength);
    }

    let mut seen_low = [0u64; 16]; // types < 1024, one bit each
    let mut seen_high = [0u16; MAX_HIGH_EXTENSIONS];
    let mut n_high = 0usize;
    let mut sni: Option<R> = None;
    let mut versions: Option<u16> = None;
    while !exts.is_empty() {
        let ty = exts.u16().ok_or(M::ExtensionsLength)?;
        let data = exts.vec16().ok_or(M::ExtensionsLength)?;
        if ty < 1024 {
            let (word, bit) = (usize::from(ty / 64), 1u64 << (ty % 64));
            let w = seen_low.get_mut(word).ok_or(M::ExtensionsLength)?;
            if *w & bit != 0 {
                return Err(M::DuplicateExtension(ty));
            }
            *w |= bit;
        } else {
            let seen = seen_high.get(..n_high).unwrap_or(&[]);
            if seen.contains(&ty) {
                return Err(M::DuplicateExtension(ty));
            }
            *seen_high.get_mut(n_high).ok_or(M::TooManyExtensions)? = ty;
            n_high += 1;
        }
        match ty {
            EXT_SERVER_NAME => sni = server_name(data)?,
            EXT_ALPN => hello.alpn = alpn(data)?,
            EXT_SUPPORTED_VERSIONS => {
                versions = Some(supported_versions(data).ok_or(M::BadExtension(ty))?);
            }
            EXT_ECH => hello.ech = true,
            EXT_PRE_SHARED_KEY => {
                if !exts.is_empty() {
                    return Err(M::PskNotLast);
                }
                pre_shared_key(data).ok_or(M::BadExtension(ty))?;
            }
            _ => check_extension(ty, data).ok_or(M::BadExtension(ty))?,
        }
    }
    if let Some(v) = versions {
        hello.max_version = v;
    }
    facts.quic_transport_parameters = seen_low[usize::from(EXT_QUIC_TRANSPORT_PARAMETERS / 64)]
        & (1u64 << (EXT_QUIC_TRANSPORT_PARAMETERS % 64))
        != 0;
    Ok((hello, sni))
}

/// RFC 6066 §3, as Go reads it: a non-empty list of (type, non-empty name); other types are
/// skipped; one `host_name` at most. Returns the `host_name` bytes.
fn server_name<'a, R: Reader<'a>>(mut data: R) -> Result<Option<R>, Malformed> {
    let mut list = data
        .vec16()
        .ok_or(Malformed::BadExtension(EXT_SERVER_NAME))?;
    if !data.is_empty() {
        return Err(Malformed::BadExtension(EXT_SERVER_NAME));
    }
    if list.is_empty() {
        return Err(Malformed::EmptyServerNameList);
    }
    let mut found = None;
    while !list.is_empty() {
        let name_type = list.u8().ok_or(Malformed::BadExtension(EXT_SERVER_NAME))?;
        let name = list
            .vec16()
            .ok_or(Malformed::BadExtension(EXT_SERVER_NAME))?;
        if name.is_empty() {
            return Err(Malformed::EmptyServerName);
        }
        if name_type != 0 {
            continue; // not a host_name: skipped, as Go does
        }
        if found.is_some() {
            return Err(Malformed::DuplicateServerName);
        }
        found = Some(name);
    }
    Ok(found)
}

fn alpn<'a, R: Reader<'a>>(mut data: R) -> Result<Alpn<'a>, Malformed> {
    let list = data.vec16().ok_or(Malformed::BadExtension(EXT_ALPN))?;
    if !data.is_empty() {
        return Err(Malformed::BadExtension(EXT_ALPN));
    }
    if list.is_empty() {
        return Err(Malformed::EmptyAlpnList);
    }
    let mut walk = list;
    while !walk.is_empty() {
        let proto = walk.vec8().ok_or(Malformed::BadExtension(EXT_ALPN))?;
        if proto.is_empty() {
            return Err(Malformed::EmptyAlpnProtocol);
        }
    }
    Ok(Alpn {
        list: Some(list.into_cursor()),
    })
}

fn is_grease(v: u16) -> bool {
    // RFC 8701: 0x0a0a, 0x1a1a, ..., 0xfafa.
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// The highest non-GREASE version offered.
fn supported_versions<'a, R: Reader<'a>>(mut data: R) -> Option<u16> {
    let mut list = data.vec8()?;
    if !data.is_empty() || list.is_empty() || list.len() % 2 != 0 {
        return None;
    }
    let mut max = 0;
    while !list.is_empty() {
        let v = list.u16()?;
        if !is_grease(v) {
            max = max.max(v);
        }
    }
    Some(max)
}

fn pre_shared_key<'a, R: Reader<'a>>(mut data: R) -> Option<()> {
    let mut identities = data.vec16()?;
    if identities.is_empty() {
        return None;
    }
    while !identities.is_empty() {
        if identities.vec16()?.is_empty() {
            return None;
        }
        identities.skip(4)?; // obfuscated_ticket_age
    }
    let mut binders = data.vec16()?;
    if binders.is_empty() {
        return None;
    }
    while !binders.is_empty() {
        if binders.vec8()?.is_empty() {
            return None;
        }
    }
    data.is_empty().then_some(())
}

/// A non-empty list of 16-bit values with a 16-bit length, nothing after it.
fn u16_list<'a, R: Reader<'a>>(mut data: R) -> Option<()> {
    let list = data.vec16()?;
    (!list.is_empty() && list.len() % 2 == 0 && data.is_empty()).then_some(())
}

/// A non-empty vector with an 8-bit length, nothing after it.
fn nonempty_vec8<'a, R: Reader<'a>>(mut data: R) -> Option<()> {
    let v = data.vec8()?;
    (!v.is_empty() && data.is_empty()).then_some(())
}

/// The grammar checks Go applies to the other extensions it knows. Unknown ones are ignored.
fn check_extension<'a, R: Reader<'a>>(ty: u16, mut data: R) -> Option<()> {
    match ty {
        EXT_STATUS_REQUEST => {
            data.u8()?;
            data.vec16()?; // responder ids
            data.vec16()?; // request extensions
        }
        EXT_SUPPORTED_GROUPS | EXT_SIGNATURE_ALGORITHMS | EXT_SIGNATURE_ALGORITHMS_CERT => {
            return u16_list(data);
        }
        EXT_EC_POINT_FORMATS | EXT_PSK_MODES => return nonempty_vec8(data),
        EXT_RENEGOTIATION_INFO => {
            data.vec8()?;
        }
        EXT_SCT | EXT_EXTENDED_MASTER_SECRET | EXT_EARLY_DATA => {}
        EXT_COOKIE => {
            if data.vec16()?.is_empty() {
                return None;
            }
        }
        EXT_KEY_SHARE => {
            // An empty list is allowed: a client may ask the server to choose (HRR).
            let mut shares = data.vec16()?;
            while !shares.is_empty() {
                shares.u16()?;
                if shares.vec16()?.is_empty() {
                    return None;
                }
            }
        }
        _ => return Some(()),
    }
    data.is_empty().then_some(())
}

/// An SSLv2-compatible CLIENT-HELLO (2-byte header form): well-formed means no name.
fn parse_sslv2<'a>(buf: &'a [u8], limits: &Limits) -> Outcome<ClientHello<'a>, Malformed> {
    // [len_hi|0x80, len_lo, 1 (CLIENT-HELLO), version(2), cipher_len(2), sid_len(2), chal_len(2)]
    match buf.get(2) {
        Some(1) | None => {}
        Some(_) => return Outcome::NotThisProtocol,
    }
    match buf.get(3) {
        Some(0 | 3) | None => {}
        Some(_) => return Outcome::NotThisProtocol,
    }
    match (buf.get(3), buf.get(4)) {
        (Some(0), Some(2)) | (Some(3), Some(0..=3)) | (_, None) => {}
        _ => return Outcome::NotThisProtocol,
    }
    // Decide nothing (not even too-large) before the 5-byte signature says it is SSLv2.
    let Some(&[hi, lo, ..]) = buf.first_chunk::<5>() else {
        return Outcome::NeedMore {
            at_least: Some(5 - buf.len()),
        };
    };
    let len = usize::from(u16::from_be_bytes([hi & 0x7f, lo]));
    if 2 + len > limits.tls_hello {
        return Outcome::Malformed(Malformed::TooLarge);
    }
    let Some(msg) = buf.get(2..2 + len) else {
        return Outcome::NeedMore {
            at_least: Some(2 + len - buf.len()),
        };
    };
    let field = |at: usize| -> Option<usize> {
        let b = msg.get(at..at + 2)?;
        Some(usize::from(u16::from_be_bytes([*b.first()?, *b.get(1)?])))
    };
    let ok = (|| {
        let (ciphers, sid, challenge) = (field(3)?, field(5)?, field(7)?);
        let valid = ciphers > 0
            && ciphers % 3 == 0
            && (sid == 0 || sid == 16)
            && (16..=32).contains(&challenge)
            && 9 + ciphers + sid + challenge == len;
        valid.then_some(())
    })();
    match ok {
        Some(()) => Outcome::NoName(None),
        None => Outcome::Malformed(Malformed::BadSslV2),
    }
}

/// Builders of well-formed ClientHellos, for examples and tests (not a TLS implementation: the
/// random and key share are constant).
///
/// Only with the cargo feature `testing`, and not part of the stable API: it may change in any
/// release.
///
/// ```
/// use hostgate::inspect::{tls::testing, tls, Limits, Outcome};
/// let hs = testing::handshake(Some(&testing::sni_extension(b"a.example")));
/// let two_records = testing::records(&hs, 40);
/// let Outcome::Complete(h) = tls::parse_client_hello(&two_records, &Limits::default()) else { panic!() };
/// assert_eq!(h.records, 3);
/// ```
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    /// Appends `body` with a big-endian length prefix of `width` bytes.
    fn put(out: &mut Vec<u8>, width: usize, body: &[u8]) {
        let len = body.len().to_be_bytes();
        out.extend_from_slice(&len[len.len() - width..]);
        out.extend_from_slice(body);
    }

    /// One extension: type and data.
    ///
    /// ```
    /// assert_eq!(hostgate::inspect::tls::testing::extension(0x1a1a, &[7]), [0x1a, 0x1a, 0, 1, 7]);
    /// ```
    pub fn extension(ty: u16, data: &[u8]) -> Vec<u8> {
        let mut out = ty.to_be_bytes().to_vec();
        put(&mut out, 2, data);
        out
    }

    /// A `server_name` extension with one `host_name`.
    ///
    /// ```
    /// let e = hostgate::inspect::tls::testing::sni_extension(b"a.io");
    /// assert_eq!(e, [0, 0, 0, 9, 0, 7, 0, 0, 4, b'a', b'.', b'i', b'o']);
    /// ```
    pub fn sni_extension(name: &[u8]) -> Vec<u8> {
        let mut entry = vec![0u8];
        put(&mut entry, 2, name);
        let mut list = Vec::new();
        put(&mut list, 2, &entry);
        extension(0, &list)
    }

    /// An ALPN extension.
    ///
    /// ```
    /// let e = hostgate::inspect::tls::testing::alpn_extension(&[b"h2"]);
    /// assert_eq!(e, [0, 16, 0, 5, 0, 3, 2, b'h', b'2']);
    /// ```
    pub fn alpn_extension(protocols: &[&[u8]]) -> Vec<u8> {
        let mut names = Vec::new();
        for p in protocols {
            put(&mut names, 1, p);
        }
        let mut list = Vec::new();
        put(&mut list, 2, &names);
        extension(16, &list)
    }

    /// A ClientHello handshake message (type, length, body) with the given raw extensions
    /// block contents (`None` = no extensions block at all).
    ///
    /// ```
    /// let hs = hostgate::inspect::tls::testing::handshake(None);
    /// assert_eq!((hs[0], hs.len()), (1, 4 + 2 + 32 + 33 + 8 + 2));
    /// ```
    pub fn handshake(extensions: Option<&[u8]>) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[0x5a; 32]);
        put(&mut body, 1, &[0x11; 32]); // session id
        put(&mut body, 2, &[0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f]);
        put(&mut body, 1, &[0]);
        if let Some(ext) = extensions {
            put(&mut body, 2, ext);
        }
        let mut msg = vec![1];
        put(&mut msg, 3, &body);
        msg
    }

    /// Splits a handshake message into records of at most `fragment` bytes.
    ///
    /// ```
    /// let r = hostgate::inspect::tls::testing::records(&[1, 2, 3], 2);
    /// assert_eq!(r, [0x16, 3, 1, 0, 2, 1, 2, 0x16, 3, 1, 0, 1, 3]);
    /// ```
    pub fn records(handshake: &[u8], fragment: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in handshake.chunks(fragment.max(1)) {
            out.extend_from_slice(&[0x16, 0x03, 0x01]);
            put(&mut out, 2, chunk);
        }
        out
    }

    /// A one-record ClientHello with an optional SNI, ALPN protocols and an optional ECH
    /// extension, plus `supported_versions` (TLS 1.3 and 1.2) and a GREASE extension.
    ///
    /// ```
    /// let h = hostgate::inspect::tls::testing::client_hello(Some(b"a.example"), &[], true);
    /// assert_eq!(h[0], 0x16);
    /// ```
    pub fn client_hello(sni: Option<&[u8]>, alpn: &[&[u8]], ech: bool) -> Vec<u8> {
        let mut ext = extension(0x0a0a, &[]);
        if let Some(name) = sni {
            ext.extend(sni_extension(name));
        }
        if !alpn.is_empty() {
            ext.extend(alpn_extension(alpn));
        }
        ext.extend(extension(43, &[4, 0x03, 0x04, 0x03, 0x03]));
        if ech {
            ext.extend(extension(0xfe0d, &[0, 0, 1, 0, 1, 7, 0, 0, 0, 0]));
        }
        records(&handshake(Some(&ext)), 1 << 14)
    }

    /// [`client_hello`] with just an SNI.
    ///
    /// ```
    /// let h = hostgate::inspect::tls::testing::client_hello_with_sni(b"a.example");
    /// assert!(h.len() > 60);
    /// ```
    pub fn client_hello_with_sni(name: &[u8]) -> Vec<u8> {
        client_hello(Some(name), &[], false)
    }
}
