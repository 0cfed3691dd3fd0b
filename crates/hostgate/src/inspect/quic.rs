//! QUIC Initial packets: the ClientHello a client sends in its first datagrams, decrypted with
//! the public Initial keys (RFC 9001 §5) and read by the TLS parser.
//!
//! Versions 1 (RFC 9000) and 2 (RFC 9369) are decoded; any other version is refused, never
//! guessed. Per datagram: the long header, the 1200-byte minimum, header protection removed (in
//! a copy), the payload authenticated and decrypted with AES-128-GCM, the frames walked (only
//! PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE may appear in an Initial), coalesced
//! packets after the Initial skipped, filler after the last packet ignored. The CRYPTO stream
//! is the bare ClientHello handshake message, parsed with every rule of [`super::tls`], plus
//! the QUIC ones: an empty legacy session id, a `quic_transport_parameters` extension, TLS 1.3
//! offered.
//!
//! A hello usually spans two datagrams (post-quantum key shares make it ~2 KB). A
//! [`Reassembler`] keeps one flow per original destination connection ID, collects CRYPTO
//! ranges in any order, refuses overlaps that differ, and answers need-more until the hello is
//! complete. Every size is capped ([`Caps`]) and memory follows the bytes received, not the
//! offsets a packet claims. [`parse_datagram`] reads a hello that fits in one datagram.
//!
//! ```
//! use hostgate::inspect::{quic, Limits, Outcome};
//! use std::time::Instant;
//!
//! let hello = quic::testing::client_hello(b"example.com", &[b"h3"]);
//! let (first, second) = hello.split_at(40);
//! let dcid = [7u8; 8];
//! let d1 = quic::testing::initial(quic::Version::V1, &dcid, 0, &quic::testing::crypto_frame(0, first));
//! let d2 = quic::testing::initial(quic::Version::V1, &dcid, 1, &quic::testing::crypto_frame(40, second));
//!
//! let mut table = quic::Reassembler::new(Limits::default(), quic::Caps::default());
//! let now = Instant::now();
//! assert!(matches!(table.push(&d1, now), Outcome::NeedMore { .. }));
//! assert_eq!(table.push(&d2, now).name().unwrap().as_str(), "example.com");
//! ```

use core::fmt;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aes::cipher::BlockEncrypt;
// Encrypt-only AES: header protection and GCM never decrypt a block, so the inverse key
// schedule `aes::Aes128` also builds would be work for nothing on every new flow.
use aes::Aes128Enc as Aes128;
use aes_gcm::aead::{AeadInPlace, KeyInit};

/// AES-128-GCM over the encrypt-only cipher (what `aes_gcm::Aes128Gcm` is over `aes::Aes128`).
type Aes128Gcm = aes_gcm::AesGcm<Aes128, aes_gcm::aead::consts::U12>;

use super::tls::{self, ClientHello};
use super::{Limits, Outcome};

/// RFC 9000 §14.1: a datagram carrying a client Initial is at least this large; a smaller one
/// is refused.
///
/// ```
/// use hostgate::inspect::{quic, Limits};
/// let d = quic::testing::initial(quic::Version::V1, &[1; 8], 0, &[1]);
/// assert_eq!(d.len(), quic::MIN_INITIAL_DATAGRAM);
/// let mut scratch = Vec::new();
/// let o = quic::parse_datagram(&d[..1199], &mut scratch, &Limits::default());
/// assert!(matches!(o, hostgate::inspect::Outcome::Malformed(_)));
/// ```
pub const MIN_INITIAL_DATAGRAM: usize = 1200;
/// RFC 9000 §17.2: connection IDs are at most 20 bytes in versions 1 and 2.
const MAX_CID: usize = 20;
/// RFC 9000 §7.2: the client's first destination connection ID is at least 8 bytes.
const MIN_FIRST_DCID: usize = 8;
const TAG: usize = 16;
const SAMPLE: usize = 16;
const TLS13: u16 = 0x0304;

/// A QUIC version whose Initial packets can be decrypted.
///
/// ```
/// use hostgate::inspect::quic::Version;
/// assert_eq!(Version::from_wire(0x6b3343cf), Some(Version::V2));
/// assert_eq!(Version::from_wire(0xff00001d), None); // draft 29: not decoded
/// assert_eq!(Version::V1.wire(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Version {
    /// QUIC version 1 (RFC 9000), `0x00000001`.
    V1,
    /// QUIC version 2 (RFC 9369), `0x6b3343cf`.
    V2,
}

impl Version {
    /// The version for a wire value, `None` when it is not decoded here.
    ///
    /// ```
    /// assert_eq!(hostgate::inspect::quic::Version::from_wire(1), Some(hostgate::inspect::quic::Version::V1));
    /// ```
    pub fn from_wire(v: u32) -> Option<Version> {
        match v {
            0x0000_0001 => Some(Version::V1),
            0x6b33_43cf => Some(Version::V2),
            _ => None,
        }
    }

    /// The 32-bit value on the wire.
    ///
    /// ```
    /// assert_eq!(hostgate::inspect::quic::Version::V2.wire(), 0x6b3343cf);
    /// ```
    pub fn wire(self) -> u32 {
        match self {
            Version::V1 => 0x0000_0001,
            Version::V2 => 0x6b33_43cf,
        }
    }

    fn salt(self) -> &'static [u8; 20] {
        match self {
            Version::V1 => &[
                0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8,
                0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
            ],
            Version::V2 => &[
                0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26,
                0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
            ],
        }
    }

    /// The labels for key, IV and header-protection key.
    fn labels(self) -> [&'static [u8]; 3] {
        match self {
            Version::V1 => [b"quic key", b"quic iv", b"quic hp"],
            Version::V2 => [b"quicv2 key", b"quicv2 iv", b"quicv2 hp"],
        }
    }

    /// The long-header packet type of `first` (bits 0x30), in version-independent terms.
    fn packet_type(self, first: u8) -> PacketType {
        let bits = (first >> 4) & 3;
        let v1_bits = match self {
            Version::V1 => bits,
            // RFC 9369 §3.2: Initial 01, 0-RTT 10, Handshake 11, Retry 00.
            Version::V2 => (bits + 3) & 3,
        };
        match v1_bits {
            0 => PacketType::Initial,
            1 => PacketType::ZeroRtt,
            2 => PacketType::Handshake,
            _ => PacketType::Retry,
        }
    }
}

/// A long-header packet type.
///
/// ```
/// use hostgate::inspect::quic::{Malformed, PacketType};
/// assert_eq!(Malformed::NotInitial(PacketType::Handshake).to_string(), "first packet is Handshake, not Initial");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PacketType {
    /// Initial: carries the ClientHello.
    Initial,
    /// 0-RTT: early data, not decryptable here.
    ZeroRtt,
    /// Handshake: after the server's reply.
    Handshake,
    /// Retry: server-only.
    Retry,
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PacketType::Initial => "Initial",
            PacketType::ZeroRtt => "0-RTT",
            PacketType::Handshake => "Handshake",
            PacketType::Retry => "Retry",
        })
    }
}

/// Why QUIC datagrams are refused. A refused flow is denied, and stays refused.
///
/// ```
/// use hostgate::inspect::quic::Malformed;
/// assert_eq!(Malformed::UnsupportedVersion(0xff00001d).to_string(), "QUIC version 0xff00001d is not decoded");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Malformed {
    /// A Version Negotiation packet (version 0): only servers send them.
    VersionNegotiation,
    /// A version other than 1 and 2 (the value): its keys and format are unknown.
    UnsupportedVersion(u32),
    /// A connection ID longer than 20 bytes.
    ConnectionIdTooLong,
    /// A token-less Initial whose destination connection ID is shorter than 8 bytes.
    ShortConnectionId,
    /// The datagram's first packet is not an Initial.
    NotInitial(PacketType),
    /// A datagram with an Initial smaller than 1200 bytes (the value is its size).
    DatagramTooSmall(usize),
    /// A header field or a packet's Length runs past the datagram.
    Truncated,
    /// The packet is too short to hold the header-protection sample and the tag.
    PacketTooShort,
    /// The payload failed AEAD authentication: not a client Initial, or altered.
    Authentication,
    /// Reserved header bits not zero after header protection was removed.
    ReservedBits,
    /// A decrypted Initial with no frame.
    NoFrames,
    /// A frame type (the value) that may not appear in an Initial.
    ForbiddenFrame(u8),
    /// A frame whose fields run past the payload.
    BadFrame,
    /// The client closed the connection (CONNECTION_CLOSE) before the hello was complete.
    ConnectionClosed,
    /// A later datagram of the flow has another version.
    VersionMismatch,
    /// CRYPTO data past [`Limits::tls_hello`] or past the end of the hello.
    TooLarge,
    /// Two CRYPTO frames give different bytes for the same offsets.
    CryptoConflict,
    /// The CRYPTO stream has more holes than [`Caps::fragments`].
    TooFragmented,
    /// More datagrams than [`Caps::datagrams`] before the hello was complete.
    TooManyDatagrams,
    /// The flow outlived [`Caps::lifetime`] before its hello was complete.
    Expired,
    /// The table already holds [`Caps::flows`] live flows.
    TableFull,
    /// The hello has a non-empty legacy session id (RFC 9001 §8.4).
    SessionId,
    /// The hello has no `quic_transport_parameters` extension (RFC 9001 §8.2).
    NoTransportParameters,
    /// The hello does not offer TLS 1.3 (RFC 9001 §4.2).
    NotTls13,
    /// The ClientHello itself is refused by the TLS parser.
    Tls(tls::Malformed),
}

impl Malformed {
    /// The name error, when the hello was refused because of its server name.
    ///
    /// ```
    /// use hostgate::{inspect::{quic, tls}, InvalidName};
    /// let e = quic::Malformed::Tls(tls::Malformed::InvalidServerName(InvalidName::TooLong));
    /// assert_eq!(e.invalid_name(), Some(InvalidName::TooLong));
    /// assert_eq!(quic::Malformed::Authentication.invalid_name(), None);
    /// ```
    pub fn invalid_name(self) -> Option<crate::InvalidName> {
        match self {
            Malformed::Tls(e) => e.invalid_name(),
            _ => None,
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Malformed as M;
        match self {
            M::VersionNegotiation => f.write_str("Version Negotiation packet from a client"),
            M::UnsupportedVersion(v) => write!(f, "QUIC version {v:#010x} is not decoded"),
            M::ConnectionIdTooLong => f.write_str("connection ID longer than 20 bytes"),
            M::ShortConnectionId => {
                f.write_str("token-less Initial with a destination connection ID under 8 bytes")
            }
            M::NotInitial(t) => write!(f, "first packet is {t}, not Initial"),
            M::DatagramTooSmall(n) => write!(f, "Initial in a {n}-byte datagram (minimum 1200)"),
            M::Truncated => f.write_str("a header field runs past the datagram"),
            M::PacketTooShort => f.write_str("packet too short for its sample and tag"),
            M::Authentication => f.write_str("packet fails authentication"),
            M::ReservedBits => f.write_str("reserved header bits are set"),
            M::NoFrames => f.write_str("Initial without frames"),
            M::ForbiddenFrame(t) => write!(f, "frame type {t:#04x} is not allowed in an Initial"),
            M::BadFrame => f.write_str("frame runs past the payload"),
            M::ConnectionClosed => f.write_str("client closed the connection"),
            M::VersionMismatch => f.write_str("datagram of another QUIC version in the flow"),
            M::TooLarge => f.write_str("CRYPTO data past the hello or its cap"),
            M::CryptoConflict => f.write_str("overlapping CRYPTO frames differ"),
            M::TooFragmented => f.write_str("too many holes in the CRYPTO stream"),
            M::TooManyDatagrams => f.write_str("too many datagrams before a complete hello"),
            M::Expired => f.write_str("flow expired before a complete hello"),
            M::TableFull => f.write_str("too many QUIC flows held"),
            M::SessionId => f.write_str("non-empty legacy session id in a QUIC hello"),
            M::NoTransportParameters => f.write_str("no quic_transport_parameters extension"),
            M::NotTls13 => f.write_str("QUIC hello does not offer TLS 1.3"),
            M::Tls(e) => write!(f, "tls: {e}"),
        }
    }
}

impl std::error::Error for Malformed {}

/// The client's Initial packet protection secrets for a version and destination connection
/// ID (RFC 9001 §5.2): AEAD key, IV and header-protection key.
///
/// ```
/// use hostgate::inspect::quic::{Secrets, Version};
/// let s = Secrets::client_initial(Version::V1, &[0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08]);
/// assert_eq!(s.iv, [0xfa, 0x04, 0x4b, 0x2f, 0x42, 0xa3, 0xfd, 0x3b, 0x46, 0xfb, 0x25, 0x5c]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Secrets {
    /// AES-128-GCM key.
    pub key: [u8; 16],
    /// AEAD IV, XORed with the packet number to make the nonce.
    pub iv: [u8; 12],
    /// AES-128 header-protection key.
    pub hp: [u8; 16],
}

impl Secrets {
    /// Derives the client's Initial secrets: HKDF-Extract with the version's salt over the
    /// connection ID, then HKDF-Expand-Label "client in", then the version's key, IV and hp
    /// labels.
    ///
    /// ```
    /// use hostgate::inspect::quic::{Secrets, Version};
    /// let a = Secrets::client_initial(Version::V1, &[1; 8]);
    /// assert_ne!(a, Secrets::client_initial(Version::V2, &[1; 8]));
    /// ```
    pub fn client_initial(version: Version, dcid: &[u8]) -> Secrets {
        let client = HmacKey::new(&client_secret(version, dcid));
        let [key_label, iv_label, hp_label] = version.labels();
        let mut s = Secrets {
            key: [0; 16],
            iv: [0; 12],
            hp: [0; 16],
        };
        expand_label(&client, key_label, &mut s.key);
        expand_label(&client, iv_label, &mut s.iv);
        expand_label(&client, hp_label, &mut s.hp);
        s
    }
}

/// SHA-256's initial state (FIPS 180-4 §5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// An HMAC-SHA256 key as the two SHA-256 states after its padded-key blocks (RFC 2104).
///
/// HMAC here is written over `sha2::compress256` rather than the generic `hmac`/`hkdf` layers:
/// every message QUIC's Initial derivation hashes fits in one block, so a MAC is exactly two
/// compressions from these states, and a key's states are computed once and reused for every
/// label (the generic layers recompute them, buffer, and copy).
#[derive(Clone, Copy)]
struct HmacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl HmacKey {
    /// Keys of at most 64 bytes (the salts are 20, the secrets 32): used as they are.
    fn new(key: &[u8]) -> HmacKey {
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for ((i, o), k) in ipad.iter_mut().zip(opad.iter_mut()).zip(key) {
            *i ^= k;
            *o ^= k;
        }
        let (mut inner, mut outer) = (SHA256_IV, SHA256_IV);
        sha2::compress256(&mut inner, &[ipad.into()]);
        sha2::compress256(&mut outer, &[opad.into()]);
        HmacKey { inner, outer }
    }

    /// HMAC-SHA256 of `msg`.
    fn mac(&self, msg: &[u8]) -> [u8; 32] {
        let inner = digest_after_block(self.inner, msg);
        digest_after_block(self.outer, &inner)
    }
}

/// The SHA-256 digest of a message whose first 64-byte block has already been compressed
/// into `state`, and whose remaining bytes are `rest`.
fn digest_after_block(mut state: [u32; 8], rest: &[u8]) -> [u8; 32] {
    let mut chunks = rest.chunks_exact(64);
    for c in chunks.by_ref() {
        let mut b = [0u8; 64];
        b.copy_from_slice(c);
        sha2::compress256(&mut state, &[b.into()]);
    }
    let tail = chunks.remainder();
    let bits = ((64 + rest.len()) as u64).wrapping_mul(8).to_be_bytes();
    // The padding: 0x80, zeroes, the bit length in the last 8 bytes; one block or two.
    let mut last = [0u8; 128];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    let blocks = if tail.len() + 9 <= 64 { 1 } else { 2 };
    let end = 64 * blocks;
    last[end - 8..end].copy_from_slice(&bits);
    let (a, b) = last.split_at(64);
    let mut one = [0u8; 64];
    one.copy_from_slice(a);
    sha2::compress256(&mut state, &[one.into()]);
    if blocks == 2 {
        one.copy_from_slice(b);
        sha2::compress256(&mut state, &[one.into()]);
    }
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// The HMAC states of each version's salt, computed once: HKDF-Extract then costs two
/// compressions a connection ID.
fn salt_key(version: Version) -> &'static HmacKey {
    static V1: OnceLock<HmacKey> = OnceLock::new();
    static V2: OnceLock<HmacKey> = OnceLock::new();
    let cell = match version {
        Version::V1 => &V1,
        Version::V2 => &V2,
    };
    cell.get_or_init(|| HmacKey::new(version.salt()))
}

/// HKDF-Extract (RFC 5869 §2.2) with the version's salt.
fn initial_secret(version: Version, dcid: &[u8]) -> [u8; 32] {
    salt_key(version).mac(dcid)
}

fn client_secret(version: Version, dcid: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    expand_label(
        &HmacKey::new(&initial_secret(version, dcid)),
        b"client in",
        &mut out,
    );
    out
}

/// TLS 1.3 HKDF-Expand-Label with an empty context (RFC 8446 §7.1), for outputs of at most
/// 32 bytes: HKDF-Expand's first block, T(1) = HMAC(secret, info || 0x01), is all of it.
fn expand_label(secret: &HmacKey, label: &[u8], out: &mut [u8]) {
    // Labels here are at most 10 bytes: 2 + 1 + 6 + 10 + 1 + 1 fit.
    let mut info = [0u8; 24];
    let n = 2 + 1 + 6 + label.len() + 1 + 1;
    let Some(buf) = info.get_mut(..n) else {
        return;
    };
    let (len, rest) = buf.split_at_mut(2);
    len.copy_from_slice(&(out.len() as u16).to_be_bytes());
    let (label_len, rest) = rest.split_at_mut(1);
    if let Some(b) = label_len.first_mut() {
        *b = (6 + label.len()) as u8;
    }
    let (prefix, rest) = rest.split_at_mut(6);
    prefix.copy_from_slice(b"tls13 ");
    let (l, rest) = rest.split_at_mut(label.len());
    l.copy_from_slice(label);
    // An empty context (its length byte 0), then HKDF-Expand's block counter 1.
    rest.copy_from_slice(&[0, 1]);
    let t1 = secret.mac(buf);
    for (o, t) in out.iter_mut().zip(t1) {
        *o = t;
    }
}

/// The five header-protection mask bytes for a sample (RFC 9001 §5.4.3: AES-128-ECB of the
/// sample under the hp key).
///
/// ```
/// use hostgate::inspect::quic::header_protection_mask;
/// let hp = [0x9f, 0x50, 0x44, 0x9e, 0x04, 0xa0, 0xe8, 0x10, 0x28, 0x3a, 0x1e, 0x99, 0x33, 0xad, 0xed, 0xd2];
/// let sample = [0xd1, 0xb1, 0xc9, 0x8d, 0xd7, 0x68, 0x9f, 0xb8, 0xec, 0x11, 0xd2, 0x42, 0xb1, 0x23, 0xdc, 0x9b];
/// assert_eq!(header_protection_mask(&hp, &sample), [0x43, 0x7b, 0x9a, 0xec, 0x36]);
/// ```
pub fn header_protection_mask(hp: &[u8; 16], sample: &[u8; 16]) -> [u8; 5] {
    mask_with(&Aes128::new(&(*hp).into()), sample)
}

fn mask_with(hp: &Aes128, sample: &[u8; 16]) -> [u8; 5] {
    let mut block = aes::Block::from(*sample);
    hp.encrypt_block(&mut block);
    let mut out = [0u8; 5];
    for (o, b) in out.iter_mut().zip(block.iter()) {
        *o = *b;
    }
    out
}

/// The ciphers of one flow, set up once from its [`Secrets`].
#[derive(Clone)]
struct Keys {
    aead: Aes128Gcm,
    hp: Aes128,
    iv: [u8; 12],
}

impl Keys {
    fn new(version: Version, dcid: &[u8]) -> Keys {
        let s = Secrets::client_initial(version, dcid);
        Keys {
            aead: Aes128Gcm::new(&s.key.into()),
            hp: Aes128::new(&s.hp.into()),
            iv: s.iv,
        }
    }

    fn nonce(&self, pn: u64) -> [u8; 12] {
        let mut n = self.iv;
        for (b, p) in n.iter_mut().skip(4).zip(pn.to_be_bytes()) {
            *b ^= p;
        }
        n
    }
}

/// A QUIC variable-length integer (RFC 9000 §16): the value and the rest of the input.
fn varint(buf: &[u8]) -> Option<(u64, &[u8])> {
    let (&first, _) = buf.split_first()?;
    let len = 1usize << (first >> 6);
    let (bytes, rest) = buf.split_at_checked(len)?;
    let mut v = u64::from(first & 0x3f);
    for &b in bytes.iter().skip(1) {
        v = v << 8 | u64::from(b);
    }
    Some((v, rest))
}

/// The public part of a long header.
struct Header<'a> {
    version: Version,
    ty: PacketType,
    dcid: &'a [u8],
    has_token: bool,
    /// Offset of the packet number, from the packet's start.
    pn_offset: usize,
    /// The packet's whole length, header included.
    len: usize,
}

/// Reads the long header at the start of `pkt`; Retry has no Length and is reported as
/// `NotInitial` by the caller before the length is needed.
fn long_header(pkt: &[u8]) -> Result<Header<'_>, Malformed> {
    use Malformed as M;
    let (&first, rest) = pkt.split_first().ok_or(M::Truncated)?;
    let (&v, rest) = rest.split_first_chunk::<4>().ok_or(M::Truncated)?;
    let v = u32::from_be_bytes(v);
    if v == 0 {
        return Err(M::VersionNegotiation);
    }
    let version = Version::from_wire(v).ok_or(M::UnsupportedVersion(v))?;
    let (&n, rest) = rest.split_first().ok_or(M::Truncated)?;
    if usize::from(n) > MAX_CID {
        return Err(M::ConnectionIdTooLong);
    }
    let (dcid, rest) = rest.split_at_checked(usize::from(n)).ok_or(M::Truncated)?;
    let (&n, rest) = rest.split_first().ok_or(M::Truncated)?;
    if usize::from(n) > MAX_CID {
        return Err(M::ConnectionIdTooLong);
    }
    let (_scid, mut rest) = rest.split_at_checked(usize::from(n)).ok_or(M::Truncated)?;
    let ty = version.packet_type(first);
    let mut has_token = false;
    match ty {
        PacketType::Retry => return Err(M::NotInitial(ty)),
        PacketType::Initial => {
            let (n, r) = varint(rest).ok_or(M::Truncated)?;
            let n = usize::try_from(n).map_err(|_| M::Truncated)?;
            let (token, r) = r.split_at_checked(n).ok_or(M::Truncated)?;
            has_token = !token.is_empty();
            rest = r;
        }
        PacketType::ZeroRtt | PacketType::Handshake => {}
    }
    let (length, r) = varint(rest).ok_or(M::Truncated)?;
    let pn_offset = pkt.len() - r.len();
    let len = usize::try_from(length)
        .ok()
        .and_then(|l| l.checked_add(pn_offset))
        .filter(|&l| l <= pkt.len())
        .ok_or(M::Truncated)?;
    Ok(Header {
        version,
        ty,
        dcid,
        has_token,
        pn_offset,
        len,
    })
}

/// Expands a truncated packet number against the largest one seen (RFC 9000 §A.3).
fn decode_pn(largest: Option<u64>, truncated: u64, bits: u32) -> u64 {
    let expected = largest.map_or(0, |l| l.saturating_add(1));
    let win = 1u64 << bits;
    let hwin = win / 2;
    let candidate = (expected & !(win - 1)) | truncated;
    if candidate.saturating_add(hwin) <= expected && candidate < (1 << 62) - win {
        candidate + win
    } else if candidate > expected.saturating_add(hwin) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

/// One CRYPTO frame's place in the stream; the bytes are in the decrypted payload.
#[derive(Clone, Copy, Default)]
struct CryptoRange {
    offset: u64,
    start: usize,
    len: usize,
}

/// The CRYPTO frames of one datagram, on the stack: reading a hello allocates nothing.
struct Ranges {
    items: [CryptoRange; MAX_CRYPTO_FRAMES],
    len: usize,
}

/// CRYPTO frames one datagram may carry (real clients send up to a few dozen, shuffled).
const MAX_CRYPTO_FRAMES: usize = 256;

impl Ranges {
    fn new() -> Ranges {
        Ranges {
            items: [CryptoRange::default(); MAX_CRYPTO_FRAMES],
            len: 0,
        }
    }

    fn push(&mut self, r: CryptoRange) -> Result<(), Malformed> {
        let slot = self
            .items
            .get_mut(self.len)
            .ok_or(Malformed::TooFragmented)?;
        *slot = r;
        self.len += 1;
        Ok(())
    }

    fn as_mut_slice(&mut self) -> &mut [CryptoRange] {
        self.items.get_mut(..self.len).unwrap_or(&mut [])
    }

    fn as_slice(&self) -> &[CryptoRange] {
        self.items.get(..self.len).unwrap_or(&[])
    }
}

/// Removes header protection and decrypts one Initial into `scratch` from byte `at` (what is
/// after `at` is dropped first), then walks its frames, collecting CRYPTO ranges (positions in
/// `scratch`). Returns the packet number.
fn open_initial(
    pkt: &[u8],
    h: &Header<'_>,
    keys: &Keys,
    largest_pn: Option<u64>,
    scratch: &mut Vec<u8>,
    at: usize,
    crypto: &mut Ranges,
) -> Result<u64, Malformed> {
    use Malformed as M;
    let pkt = pkt.get(..h.len).ok_or(M::Truncated)?;
    let sample: &[u8; SAMPLE] = pkt
        .get(h.pn_offset + 4..)
        .and_then(|s| s.first_chunk::<SAMPLE>())
        .ok_or(M::PacketTooShort)?;
    let mask = mask_with(&keys.hp, sample);
    let first = pkt.first().ok_or(M::Truncated)? ^ (mask[0] & 0x0f);
    let pn_len = usize::from(first & 3) + 1;
    let payload_at = h.pn_offset + pn_len;
    if payload_at + TAG > pkt.len() {
        return Err(M::PacketTooShort);
    }
    // Unmasked in a copy: the caller's datagram is never written.
    scratch.truncate(at);
    scratch.extend_from_slice(pkt);
    let copy = scratch.get_mut(at..).ok_or(M::Truncated)?;
    let mut truncated = 0u64;
    if let Some(b) = copy.first_mut() {
        *b = first;
    }
    for (b, m) in copy
        .iter_mut()
        .skip(h.pn_offset)
        .take(pn_len)
        .zip(mask.iter().skip(1))
    {
        *b ^= m;
        truncated = truncated << 8 | u64::from(*b);
    }
    let pn = decode_pn(largest_pn, truncated, 8 * pn_len as u32);
    let (header, body) = copy.split_at_mut(payload_at);
    let (ciphertext, tag) = body.split_at_mut(body.len() - TAG);
    let tag: [u8; TAG] = (&*tag).try_into().map_err(|_| M::PacketTooShort)?;
    let tag = aes_gcm::Tag::from(tag);
    keys.aead
        .decrypt_in_place_detached(&keys.nonce(pn).into(), header, ciphertext, &tag)
        .map_err(|_| M::Authentication)?;
    // Checked only after authentication (RFC 9001 §5.4.1: the bits are protected).
    if first & 0x0c != 0 {
        return Err(M::ReservedBits);
    }
    let plain = scratch
        .get(at + payload_at..scratch.len() - TAG)
        .ok_or(M::Truncated)?;
    walk_frames(plain, at + payload_at, crypto)?;
    Ok(pn)
}

/// How many bytes at the start of `b` are zero.
fn zeros(b: &[u8]) -> usize {
    let mut n = 0;
    for chunk in b.chunks_exact(16) {
        match <[u8; 16]>::try_from(chunk) {
            Ok(c) if u128::from_ne_bytes(c) == 0 => n += 16,
            _ => break,
        }
    }
    n + b
        .get(n..)
        .map_or(0, |t| t.iter().take_while(|&&x| x == 0).count())
}

/// Walks an Initial's frames. `base` is the payload's offset in the scratch buffer.
fn walk_frames(plain: &[u8], base: usize, crypto: &mut Ranges) -> Result<(), Malformed> {
    use Malformed as M;
    if plain.is_empty() {
        return Err(M::NoFrames);
    }
    let total = plain.len();
    let mut rest = plain;
    fn vi(b: &[u8]) -> Result<(u64, &[u8]), Malformed> {
        varint(b).ok_or(Malformed::BadFrame)
    }
    while let Some((&ty, r)) = rest.split_first() {
        rest = r;
        match ty {
            // PADDING comes in runs of hundreds of bytes: skipped 16 at a time.
            0x00 => rest = rest.get(zeros(rest)..).unwrap_or(&[]),
            0x01 => {}
            0x02 | 0x03 => {
                let (_largest, r) = vi(rest)?;
                let (_delay, r) = vi(r)?;
                let (count, r) = vi(r)?;
                let (_first, mut r) = vi(r)?;
                // Each range takes at least two bytes, so the payload bounds the loop.
                for _ in 0..count {
                    let (_gap, r2) = vi(r)?;
                    let (_len, r2) = vi(r2)?;
                    r = r2;
                }
                if ty == 0x03 {
                    for _ in 0..3 {
                        r = vi(r)?.1;
                    }
                }
                rest = r;
            }
            0x06 => {
                let (offset, r) = vi(rest)?;
                let (len, r) = vi(r)?;
                let len = usize::try_from(len).map_err(|_| M::BadFrame)?;
                let (_data, r) = r.split_at_checked(len).ok_or(M::BadFrame)?;
                crypto.push(CryptoRange {
                    offset,
                    start: base + total - r.len() - len,
                    len,
                })?;
                rest = r;
            }
            0x1c => return Err(M::ConnectionClosed),
            other => return Err(M::ForbiddenFrame(other)),
        }
    }
    Ok(())
}

/// Caps on a [`Reassembler`]. Any cap reached refuses the flow; none falls back to allowing.
///
/// ```
/// let c = hostgate::inspect::quic::Caps::default();
/// assert_eq!((c.datagrams, c.flows), (8, 1024));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Datagrams a flow may take before its hello is complete (default 8: real clients send
    /// two, then retransmit).
    pub datagrams: usize,
    /// Flows held at once (default 1024). Expired flows are dropped to make room; past that a
    /// new flow is refused.
    pub flows: usize,
    /// How long a flow may take to complete its hello (default 5 s).
    pub lifetime: Duration,
    /// Separate pieces of the CRYPTO stream held at once (default 64): bounds the bookkeeping
    /// for a stream sent in many small, shuffled frames.
    pub fragments: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            datagrams: 8,
            flows: 1024,
            lifetime: Duration::from_secs(5),
            fragments: 64,
        }
    }
}

/// A flow's answer after a datagram: its refusal, or what its stream holds now (the stream is
/// borrowed by the answer while the state is updated, so the hello is parsed once).
fn conclude<'f>(flow: &'f mut Flow, limits: &Limits) -> Outcome<ClientHello<'f>, Malformed> {
    if let State::Refused(e) = flow.state {
        return Outcome::Malformed(e);
    }
    let Flow { stream, state, .. } = flow;
    match judge(stream, limits) {
        Err(e) => {
            *state = State::Refused(e);
            Outcome::Malformed(e)
        }
        Ok(o) => {
            if matches!(o, Outcome::Complete(_) | Outcome::NoName(_)) {
                *state = State::Complete;
            }
            o
        }
    }
}

/// A connection ID as the flow table's key, inline (at most [`MAX_CID`] bytes): a new flow
/// costs no allocation for its key. It hashes and compares as its bytes, so the table is
/// looked up with a `&[u8]`.
#[derive(Clone, Copy)]
struct Cid {
    len: u8,
    bytes: [u8; MAX_CID],
}

impl Cid {
    fn new(id: &[u8]) -> Option<Cid> {
        let mut bytes = [0u8; MAX_CID];
        bytes.get_mut(..id.len())?.copy_from_slice(id);
        Some(Cid {
            len: id.len() as u8,
            bytes,
        })
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len).min(MAX_CID)]
    }
}

impl std::borrow::Borrow<[u8]> for Cid {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::hash::Hash for Cid {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_slice().hash(h);
    }
}

impl PartialEq for Cid {
    fn eq(&self, other: &Cid) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Cid {}

/// The CRYPTO stream of a flow: disjoint, sorted pieces, adjacent ones merged. Only received
/// bytes are stored.
#[derive(Default)]
struct Stream {
    pieces: Vec<(usize, Vec<u8>)>,
}

impl Stream {
    /// Adds `data` at `offset`: bytes already held must be identical.
    fn insert(&mut self, offset: usize, data: &[u8], max_pieces: usize) -> Result<(), Malformed> {
        let end = offset + data.len();
        if data.is_empty() {
            return Ok(());
        }
        // The usual case, data in order: the first piece, or bytes right after the last one
        // (no overlap is possible), stored without the general path's bookkeeping.
        let in_order = match self.pieces.last_mut() {
            None => {
                // Room for as much again: a hello that spans datagrams (post-quantum key
                // shares) then grows without a reallocation and a second copy; still sized by
                // the bytes received, never by a length the packet claims.
                let mut first = Vec::with_capacity(2 * data.len());
                first.extend_from_slice(data);
                self.pieces.push((offset, first));
                true
            }
            Some((s, b)) if *s + b.len() == offset => {
                b.extend_from_slice(data);
                true
            }
            Some(_) => false,
        };
        if in_order {
            return if self.pieces.len() > max_pieces {
                Err(Malformed::TooFragmented)
            } else {
                Ok(())
            };
        }
        // Compare the overlaps, then keep only the bytes not yet held.
        let mut fresh: Vec<(usize, usize)> = Vec::new(); // [from, to) in stream offsets
        let mut at = offset;
        for (start, bytes) in &self.pieces {
            let p_end = start + bytes.len();
            if p_end <= at || *start >= end {
                continue;
            }
            if *start > at {
                fresh.push((at, *start));
            }
            let (lo, hi) = (at.max(*start), end.min(p_end));
            let held = bytes.get(lo - start..hi - start);
            let new = data.get(lo - offset..hi - offset);
            if held != new {
                return Err(Malformed::CryptoConflict);
            }
            at = hi;
        }
        if at < end {
            fresh.push((at, end));
        }
        for (from, to) in fresh {
            let bytes = data.get(from - offset..to - offset).unwrap_or(&[]).to_vec();
            let i = self.pieces.partition_point(|(s, _)| *s < from);
            self.pieces.insert(i, (from, bytes));
        }
        // Merge touching pieces.
        let mut merged: Vec<(usize, Vec<u8>)> = Vec::with_capacity(self.pieces.len());
        for (s, b) in self.pieces.drain(..) {
            match merged.last_mut() {
                Some((ps, pb)) if *ps + pb.len() == s => pb.extend_from_slice(&b),
                _ => merged.push((s, b)),
            }
        }
        self.pieces = merged;
        if self.pieces.len() > max_pieces {
            return Err(Malformed::TooFragmented);
        }
        Ok(())
    }

    fn end(&self) -> usize {
        self.pieces.last().map_or(0, |(s, b)| s + b.len())
    }

    /// The contiguous bytes from offset 0.
    fn prefix(&self) -> &[u8] {
        match self.pieces.first() {
            Some((0, b)) => b,
            _ => &[],
        }
    }
}

/// Where a flow stands.
enum State {
    Open,
    Complete,
    Refused(Malformed),
}

struct Flow {
    version: Version,
    keys: Keys,
    largest_pn: Option<u64>,
    datagrams: usize,
    born: Instant,
    stream: Stream,
    state: State,
}

/// Decodes one datagram into `flow`, or into a new flow when `flow` is `None` (returned when
/// the first Initial authenticates). Shared by [`Reassembler`] and [`parse_datagram`].
struct Decoded<'a> {
    dcid: &'a [u8],
    version: Version,
}

/// Reads the first packet's header and checks what the datagram must be before any key is
/// used.
fn first_header(datagram: &[u8]) -> Result<Option<Decoded<'_>>, Malformed> {
    match datagram.first() {
        Some(b) if b & 0x80 != 0 => {}
        _ => return Ok(None),
    }
    let h = long_header(datagram)?;
    if h.ty != PacketType::Initial {
        return Err(Malformed::NotInitial(h.ty));
    }
    if datagram.len() < MIN_INITIAL_DATAGRAM {
        return Err(Malformed::DatagramTooSmall(datagram.len()));
    }
    if !h.has_token && h.dcid.len() < MIN_FIRST_DCID {
        return Err(Malformed::ShortConnectionId);
    }
    Ok(Some(Decoded {
        dcid: h.dcid,
        version: h.version,
    }))
}

/// Decrypts every Initial of `datagram` addressed to `dcid`, adding their CRYPTO data to
/// `flow`. Packets after the first with another connection ID, 0-RTT and Handshake packets
/// are skipped by their Length; bytes that are not a long header end the datagram.
fn absorb(
    datagram: &[u8],
    dcid: &[u8],
    flow: &mut Flow,
    limits: &Limits,
    caps: &Caps,
    scratch: &mut Vec<u8>,
    crypto: &mut Ranges,
) -> Result<(), Malformed> {
    crypto.len = 0;
    let (version, keys, stream) = (flow.version, &flow.keys, &mut flow.stream);
    initials(
        datagram,
        dcid,
        version,
        keys,
        &mut flow.largest_pn,
        scratch,
        false,
        crypto,
        |crypto, scratch| {
            for r in crypto.as_slice() {
                let data = scratch
                    .get(r.start..r.start + r.len)
                    .ok_or(Malformed::BadFrame)?;
                let offset = usize::try_from(r.offset).map_err(|_| Malformed::TooLarge)?;
                // Capped before anything is stored.
                if offset.saturating_add(r.len) > limits.tls_hello {
                    return Err(Malformed::TooLarge);
                }
                stream.insert(offset, data, caps.fragments)?;
            }
            Ok(())
        },
    )
}

/// Walks the packets of `datagram`, decrypting each Initial addressed to `dcid` into `scratch`
/// and collecting its CRYPTO ranges into `crypto`, then calling `each`. With `keep`, every
/// packet's plaintext stays in `scratch` (appended) and `crypto` holds the ranges of all of
/// them; without, each packet replaces the last.
#[allow(clippy::too_many_arguments)]
fn initials(
    datagram: &[u8],
    dcid: &[u8],
    version: Version,
    keys: &Keys,
    largest_pn: &mut Option<u64>,
    scratch: &mut Vec<u8>,
    keep: bool,
    crypto: &mut Ranges,
    mut each: impl FnMut(&Ranges, &[u8]) -> Result<(), Malformed>,
) -> Result<(), Malformed> {
    let mut at = 0usize;
    let mut first = true;
    while let Some(pkt) = datagram.get(at..).filter(|p| !p.is_empty()) {
        if pkt.first().is_some_and(|b| b & 0x80 == 0) {
            break; // a short header or padding: filler
        }
        let h = match long_header(pkt) {
            Ok(h) => h,
            Err(e) if first => return Err(e),
            // An unparseable later packet cannot add to the hello: ignored, with the rest.
            Err(_) => break,
        };
        if first && h.version != version {
            return Err(Malformed::VersionMismatch);
        }
        if h.ty == PacketType::Initial && h.dcid == dcid && h.version == version {
            let to = if keep {
                scratch.len()
            } else {
                crypto.len = 0;
                0
            };
            let pn = open_initial(pkt, &h, keys, *largest_pn, scratch, to, crypto)?;
            *largest_pn = Some(largest_pn.map_or(pn, |l| l.max(pn)));
            each(crypto, scratch)?;
        }
        first = false;
        at += h.len;
    }
    Ok(())
}

/// Checks the stream: complete, need-more, or refused. Parses the hello when complete.
fn judge<'s>(
    stream: &'s Stream,
    limits: &Limits,
) -> Result<Outcome<ClientHello<'s>, Malformed>, Malformed> {
    judge_bytes(stream.prefix(), stream.end(), limits)
}

/// [`judge`] on the stream's contiguous bytes from offset 0 and the end of what was received.
fn judge_bytes<'s>(
    prefix: &'s [u8],
    end: usize,
    limits: &Limits,
) -> Result<Outcome<ClientHello<'s>, Malformed>, Malformed> {
    if let Some(&[_, a, b, c]) = prefix.first_chunk::<4>() {
        let total = 4 + (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c));
        if end > total {
            return Err(Malformed::TooLarge);
        }
    }
    let mut facts = tls::Facts::default();
    match tls::parse_handshake(prefix, limits, &mut facts) {
        // Counted in datagrams, not bytes: no byte count to give.
        Outcome::NeedMore { .. } => Ok(Outcome::NeedMore { at_least: None }),
        Outcome::Malformed(tls::Malformed::TrailingData) => Err(Malformed::TooLarge),
        Outcome::Malformed(e) => Err(Malformed::Tls(e)),
        Outcome::NotThisProtocol => Err(Malformed::Tls(tls::Malformed::NotClientHello(0))),
        Outcome::NoName(None) => Err(Malformed::Tls(tls::Malformed::Truncated)),
        Outcome::Complete(h) => quic_rules(&h, &facts).map(|()| Outcome::Complete(h)),
        Outcome::NoName(Some(h)) => quic_rules(&h, &facts).map(|()| Outcome::NoName(Some(h))),
    }
}

/// RFC 9001's rules for the hello on top of TLS's.
fn quic_rules(h: &ClientHello<'_>, facts: &tls::Facts) -> Result<(), Malformed> {
    if !facts.session_id_empty {
        return Err(Malformed::SessionId);
    }
    if !facts.quic_transport_parameters {
        return Err(Malformed::NoTransportParameters);
    }
    if h.max_version != TLS13 {
        return Err(Malformed::NotTls13);
    }
    Ok(())
}

/// A table of QUIC flows being inspected, keyed by the client's original destination
/// connection ID. Feed it every client datagram ([`Reassembler::push`]) until it answers
/// something other than need-more; that answer then stays the flow's answer.
///
/// A flow is created by an Initial that authenticates, and holds its keys (derived once), the
/// CRYPTO pieces received (only the bytes received are stored, never a buffer sized by an
/// offset a packet claims) and its state. Use one table per client address when DCIDs of
/// different peers must not meet.
///
/// A datagram whose destination connection ID is unknown starts a new flow with keys from that
/// ID: after a Retry the client's new Initial does exactly that. A client that switched to the
/// server's connection ID before its hello was complete keeps the old keys, which this table
/// does not try: such packets fail authentication and are refused.
///
/// ```
/// use hostgate::inspect::{quic, Limits, Outcome};
/// use std::time::Instant;
/// let hello = quic::testing::client_hello(b"a.example", &[b"h3"]);
/// let d = quic::testing::initial(quic::Version::V2, &[1; 8], 0, &quic::testing::crypto_frame(0, &hello));
/// let mut t = quic::Reassembler::new(Limits::default(), quic::Caps::default());
/// let Outcome::Complete(h) = t.push(&d, Instant::now()) else { panic!() };
/// assert!(h.alpn.contains(b"h3"));
/// assert_eq!(t.len(), 1);
/// ```
pub struct Reassembler {
    limits: Limits,
    caps: Caps,
    flows: HashMap<Cid, Flow>,
    scratch: Vec<u8>,
    /// One datagram's CRYPTO ranges, kept between datagrams: clearing it is free, a fresh
    /// one is 6 KiB of zeroes.
    crypto: Box<Ranges>,
}

impl fmt::Debug for Reassembler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reassembler")
            .field("limits", &self.limits)
            .field("caps", &self.caps)
            .field("flows", &self.flows.len())
            .finish()
    }
}

impl Reassembler {
    /// An empty table. `limits.tls_hello` caps the hello (and so the CRYPTO offsets).
    ///
    /// ```
    /// let t = hostgate::inspect::quic::Reassembler::new(Default::default(), Default::default());
    /// assert!(t.is_empty());
    /// ```
    pub fn new(limits: Limits, caps: Caps) -> Reassembler {
        Reassembler {
            limits,
            caps,
            flows: HashMap::new(),
            scratch: Vec::new(),
            crypto: Box::new(Ranges::new()),
        }
    }

    /// How many flows are held.
    ///
    /// ```
    /// let t = hostgate::inspect::quic::Reassembler::new(Default::default(), Default::default());
    /// assert_eq!(t.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// No flow is held.
    ///
    /// ```
    /// assert!(hostgate::inspect::quic::Reassembler::new(Default::default(), Default::default()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Drops the flow of `dcid` (for example once its verdict is acted on).
    ///
    /// ```
    /// let mut t = hostgate::inspect::quic::Reassembler::new(Default::default(), Default::default());
    /// assert!(!t.forget(&[1; 8]));
    /// ```
    pub fn forget(&mut self, dcid: &[u8]) -> bool {
        self.flows.remove(dcid).is_some()
    }

    /// Adds one client datagram (a UDP payload) received at `now`, and says where its flow
    /// stands:
    ///
    /// - [`Outcome::NotThisProtocol`]: not a QUIC long header (nothing is stored);
    /// - [`Outcome::NeedMore`]: the hello is not complete yet;
    /// - [`Outcome::Complete`] / [`Outcome::NoName`]: the hello, complete and valid;
    /// - [`Outcome::Malformed`]: refused. A datagram refused before its first Initial
    ///   authenticates leaves the table as it was; a flow refused later stays refused.
    ///
    /// Once a flow is complete or refused, later datagrams of it give the same answer without
    /// being decoded.
    ///
    /// ```
    /// use hostgate::inspect::{quic, Limits, Outcome};
    /// use std::time::Instant;
    /// let mut t = quic::Reassembler::new(Limits::default(), quic::Caps::default());
    /// assert!(matches!(t.push(b"\x40short header", Instant::now()), Outcome::NotThisProtocol));
    /// assert!(matches!(
    ///     t.push(&[0xc0, 0xff, 0, 0, 0x1d, 8], Instant::now()),
    ///     Outcome::Malformed(quic::Malformed::UnsupportedVersion(0xff00001d))
    /// ));
    /// ```
    pub fn push(&mut self, datagram: &[u8], now: Instant) -> Outcome<ClientHello<'_>, Malformed> {
        let first = match first_header(datagram) {
            Ok(Some(d)) => d,
            Ok(None) => return Outcome::NotThisProtocol,
            Err(e) => return Outcome::Malformed(e),
        };
        let Reassembler {
            limits,
            caps,
            flows,
            scratch,
            crypto,
        } = self;
        if let Some(flow) = flows.get_mut(first.dcid) {
            if let State::Open = flow.state {
                flow.datagrams += 1;
                let result = if now.saturating_duration_since(flow.born) > caps.lifetime {
                    Err(Malformed::Expired)
                } else if flow.datagrams > caps.datagrams {
                    Err(Malformed::TooManyDatagrams)
                } else {
                    absorb(datagram, first.dcid, flow, limits, caps, scratch, crypto)
                };
                if let Err(e) = result {
                    flow.state = State::Refused(e);
                }
            }
        } else {
            let mut flow = Flow {
                version: first.version,
                keys: Keys::new(first.version, first.dcid),
                largest_pn: None,
                datagrams: 1,
                born: now,
                stream: Stream::default(),
                state: State::Open,
            };
            if let Err(e) = absorb(
                datagram, first.dcid, &mut flow, limits, caps, scratch, crypto,
            ) {
                if flow.largest_pn.is_none() {
                    // Nothing authenticated: keep no state for it.
                    return Outcome::Malformed(e);
                }
                flow.state = State::Refused(e);
            }
            if flows.len() >= caps.flows {
                let lifetime = caps.lifetime;
                flows.retain(|_, f| now.saturating_duration_since(f.born) <= lifetime);
                if flows.len() >= caps.flows {
                    return Outcome::Malformed(Malformed::TableFull);
                }
            }
            let Some(cid) = Cid::new(first.dcid) else {
                return Outcome::Malformed(Malformed::ConnectionIdTooLong);
            };
            // The new flow's answer from the reference the insert gives: no second lookup.
            return conclude(flows.entry(cid).or_insert(flow), limits);
        }
        let Some(flow) = flows.get_mut(first.dcid) else {
            return Outcome::Malformed(Malformed::TableFull);
        };
        conclude(flow, limits)
    }

    /// [`Reassembler::push`] as an [`super::Inspection`] (protocol `quic`, via `tls`).
    ///
    /// ```
    /// use hostgate::inspect::{quic, Protocol, Status};
    /// use std::time::Instant;
    /// let hello = quic::testing::client_hello(b"a.example", &[b"h3"]);
    /// let d = quic::testing::initial(quic::Version::V1, &[1; 8], 0, &quic::testing::crypto_frame(0, &hello));
    /// let mut t = quic::Reassembler::new(Default::default(), Default::default());
    /// let i = t.inspect(&d, Instant::now());
    /// assert_eq!((i.protocol, i.status), (Protocol::Quic, Status::Complete));
    /// assert_eq!(i.name.unwrap().as_str(), "a.example");
    /// assert!(i.alpn.contains(b"h3"));
    /// ```
    pub fn inspect(&mut self, datagram: &[u8], now: Instant) -> super::Inspection<'_> {
        super::Inspection::from_quic(self.push(datagram, now))
    }
}

/// Reads a hello that one datagram carries whole, decrypting into `scratch` (the hello borrows
/// from it). A hello that continues in another datagram is need-more: use a [`Reassembler`].
///
/// ```
/// use hostgate::inspect::{quic, Limits, Outcome};
/// let hello = quic::testing::client_hello(b"a.example", &[]);
/// let d = quic::testing::initial(quic::Version::V1, &[9; 8], 0, &quic::testing::crypto_frame(0, &hello));
/// let mut scratch = Vec::new();
/// let o = quic::parse_datagram(&d, &mut scratch, &Limits::default());
/// assert_eq!(o.name().unwrap().as_str(), "a.example");
/// ```
pub fn parse_datagram<'s>(
    datagram: &[u8],
    scratch: &'s mut Vec<u8>,
    limits: &Limits,
) -> Outcome<ClientHello<'s>, Malformed> {
    let first = match first_header(datagram) {
        Ok(Some(d)) => d,
        Ok(None) => return Outcome::NotThisProtocol,
        Err(e) => return Outcome::Malformed(e),
    };
    // Every Initial's plaintext stays in `scratch`; the hello is then put together behind them
    // from the CRYPTO ranges, in offset order. Nothing is allocated once `scratch` has grown.
    let keys = Keys::new(first.version, first.dcid);
    let mut crypto = Ranges::new();
    scratch.clear();
    let walked = initials(
        datagram,
        first.dcid,
        first.version,
        &keys,
        &mut None,
        scratch,
        true,
        &mut crypto,
        |_, _| Ok(()),
    );
    if let Err(e) = walked {
        return Outcome::Malformed(e);
    }
    let end = match assemble(crypto.as_mut_slice(), scratch, limits) {
        Ok(end) => end,
        Err(e) => return Outcome::Malformed(e),
    };
    let plain = scratch.len() - end.contiguous;
    let scratch: &'s [u8] = scratch;
    match judge_bytes(scratch.get(plain..).unwrap_or(&[]), end.received, limits) {
        Err(e) => Outcome::Malformed(e),
        Ok(Outcome::Complete(h)) => Outcome::Complete(h),
        Ok(Outcome::NoName(h)) => Outcome::NoName(h),
        Ok(_) => Outcome::NeedMore { at_least: None },
    }
}

/// How far one datagram's CRYPTO stream goes.
struct StreamEnd {
    /// Bytes from offset 0 with no gap (appended to the scratch buffer).
    contiguous: usize,
    /// The end of the furthest range received.
    received: usize,
}

/// Puts one datagram's CRYPTO ranges together as [`Stream`] would: overlapping bytes must be
/// identical, the stream is capped at `limits.tls_hello` and at the default number of pieces.
/// The bytes from offset 0 up to the first gap are appended to `scratch`.
fn assemble(
    ranges: &mut [CryptoRange],
    scratch: &mut Vec<u8>,
    limits: &Limits,
) -> Result<StreamEnd, Malformed> {
    ranges.sort_unstable_by_key(|r| r.offset);
    let mut received = 0usize;
    let mut pieces = 0usize;
    for (i, r) in ranges.iter().enumerate() {
        let offset = usize::try_from(r.offset).map_err(|_| Malformed::TooLarge)?;
        if offset.saturating_add(r.len) > limits.tls_hello {
            return Err(Malformed::TooLarge);
        }
        if r.len == 0 {
            continue;
        }
        if pieces == 0 || offset > received {
            pieces += 1;
        }
        // Every earlier range that reaches into this one must agree on the shared bytes.
        for e in &ranges[..i] {
            let e_off = e.offset as usize;
            let (lo, hi) = (offset.max(e_off), (offset + r.len).min(e_off + e.len));
            if lo < hi {
                let mine = scratch.get(r.start + lo - offset..r.start + hi - offset);
                let theirs = scratch.get(e.start + lo - e_off..e.start + hi - e_off);
                if mine != theirs {
                    return Err(Malformed::CryptoConflict);
                }
            }
        }
        received = received.max(offset + r.len);
    }
    if pieces > Caps::default().fragments {
        return Err(Malformed::TooFragmented);
    }
    let mut contiguous = 0usize;
    for r in ranges.iter() {
        let offset = r.offset as usize;
        if offset > contiguous {
            break;
        }
        let skip = contiguous - offset;
        if skip < r.len {
            scratch.extend_from_within(r.start + skip..r.start + r.len);
            contiguous = offset + r.len;
        }
    }
    Ok(StreamEnd {
        contiguous,
        received,
    })
}

/// Builders of client Initial packets and QUIC ClientHellos, for examples and tests: the
/// packets are protected exactly as a client protects them, so the parser must decrypt them.
///
/// Only with the cargo feature `testing`, and not part of the stable API.
///
/// ```
/// use hostgate::inspect::quic::testing;
/// let d = testing::initial(hostgate::inspect::quic::Version::V1, &[1; 8], 0, &[1]);
/// assert_eq!(d.len(), 1200);
/// ```
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use super::*;

    fn put_varint(out: &mut Vec<u8>, v: u64) {
        match v {
            0..=0x3f => out.push(v as u8),
            0x40..=0x3fff => out.extend_from_slice(&(v as u16 | 0x4000).to_be_bytes()),
            0x4000..=0x3fff_ffff => out.extend_from_slice(&(v as u32 | 0x8000_0000).to_be_bytes()),
            _ => out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes()),
        }
    }

    /// A CRYPTO frame.
    ///
    /// ```
    /// assert_eq!(hostgate::inspect::quic::testing::crypto_frame(2, b"ab"), [6, 2, 2, b'a', b'b']);
    /// ```
    pub fn crypto_frame(offset: u64, data: &[u8]) -> Vec<u8> {
        let mut f = vec![0x06];
        put_varint(&mut f, offset);
        put_varint(&mut f, data.len() as u64);
        f.extend_from_slice(data);
        f
    }

    /// A ClientHello handshake message as QUIC sends it: empty session id, TLS 1.3 in
    /// `supported_versions`, a `quic_transport_parameters` extension, the SNI and ALPN given.
    ///
    /// ```
    /// let h = hostgate::inspect::quic::testing::client_hello(b"a.example", &[b"h3"]);
    /// assert_eq!(h[0], 1);
    /// ```
    pub fn client_hello(sni: &[u8], alpn: &[&[u8]]) -> Vec<u8> {
        use crate::inspect::tls::testing as t;
        let mut ext = t::sni_extension(sni);
        if !alpn.is_empty() {
            ext.extend(t::alpn_extension(alpn));
        }
        ext.extend(t::extension(43, &[2, 0x03, 0x04]));
        ext.extend(t::extension(51, &[0, 6, 0, 0x1d, 0, 2, 0xaa, 0xbb]));
        ext.extend(t::extension(0x39, &[0x01, 0x02, 0x40, 0x00]));
        hello_with_extensions(&ext)
    }

    /// A ClientHello with an empty session id and the raw extensions block given.
    ///
    /// ```
    /// let h = hostgate::inspect::quic::testing::hello_with_extensions(&[]);
    /// assert_eq!(h[4..6], [3, 3]);
    /// ```
    pub fn hello_with_extensions(ext: &[u8]) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[0x5a; 32]);
        body.push(0); // empty session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(ext);
        let mut msg = vec![1];
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend(body);
        msg
    }

    /// A 1200-byte datagram with one client Initial: `frames` padded with PADDING, a 2-byte
    /// packet number `pn`, no token, an empty source connection ID.
    ///
    /// ```
    /// let d = hostgate::inspect::quic::testing::initial(hostgate::inspect::quic::Version::V2, &[1; 8], 3, &[1]);
    /// assert_eq!(d[0] & 0x80, 0x80);
    /// ```
    pub fn initial(version: Version, dcid: &[u8], pn: u64, frames: &[u8]) -> Vec<u8> {
        let header_len = 1 + 4 + 1 + dcid.len() + 1 + 1 + 2 + 2;
        let pad = MIN_INITIAL_DATAGRAM.saturating_sub(header_len + frames.len() + TAG);
        let mut payload = frames.to_vec();
        payload.resize(frames.len() + pad, 0);
        packet(version, dcid, &[], &[], pn, 2, &payload)
    }

    /// One protected Initial packet with everything chosen: the connection IDs, the token, the
    /// packet number and its length (1 to 4 bytes), the plaintext payload (not padded).
    ///
    /// ```
    /// use hostgate::inspect::quic::{testing, Version};
    /// let p = testing::packet(Version::V1, &[1; 8], &[2], b"tok", 7, 1, &[1; 40]);
    /// assert_eq!(p.len(), 1 + 4 + 9 + 2 + 4 + 2 + 1 + 40 + 16);
    /// ```
    pub fn packet(
        version: Version,
        dcid: &[u8],
        scid: &[u8],
        token: &[u8],
        pn: u64,
        pn_len: usize,
        payload: &[u8],
    ) -> Vec<u8> {
        let ty = match version {
            Version::V1 => 0b00,
            Version::V2 => 0b01,
        };
        protect(
            0xc0 | ty << 4,
            version,
            dcid,
            scid,
            token,
            pn,
            pn_len,
            payload,
        )
    }

    /// [`packet`] with the unprotected first byte's top six bits given (form, fixed bit,
    /// type, reserved bits); the packet-number length bits are set from `pn_len`.
    ///
    /// ```
    /// use hostgate::inspect::quic::{testing, Version};
    /// let p = testing::protect(0xe0, Version::V1, &[1; 8], &[], &[], 0, 1, &[1; 20]);
    /// assert_eq!(p[0] & 0xf0, 0xe0);
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn protect(
        first: u8,
        version: Version,
        dcid: &[u8],
        scid: &[u8],
        token: &[u8],
        pn: u64,
        pn_len: usize,
        payload: &[u8],
    ) -> Vec<u8> {
        let pn_len = pn_len.clamp(1, 4);
        let mut out = vec![(first & 0xfc) | (pn_len as u8 - 1)];
        out.extend_from_slice(&version.wire().to_be_bytes());
        out.push(dcid.len() as u8);
        out.extend_from_slice(dcid);
        out.push(scid.len() as u8);
        out.extend_from_slice(scid);
        if version.packet_type(first) == PacketType::Initial {
            put_varint(&mut out, token.len() as u64);
            out.extend_from_slice(token);
        }
        let length = (pn_len + payload.len() + TAG) as u64;
        // Always two bytes, as clients send it.
        out.extend_from_slice(&(length as u16 | 0x4000).to_be_bytes());
        let pn_offset = out.len();
        out.extend_from_slice(&pn.to_be_bytes()[8 - pn_len..]);
        let keys = Keys::new(version, dcid);
        let mut body = payload.to_vec();
        let tag = keys
            .aead
            .encrypt_in_place_detached(&keys.nonce(pn).into(), &out, &mut body)
            .unwrap_or_default();
        out.extend_from_slice(&body);
        out.extend_from_slice(&tag);
        let mut sample = [0u8; 16];
        if let Some(s) = out.get(pn_offset + 4..pn_offset + 20) {
            sample.copy_from_slice(s);
        }
        let mask = mask_with(&keys.hp, &sample);
        out[0] ^= mask[0] & 0x0f;
        for i in 0..pn_len {
            out[pn_offset + i] ^= mask[1 + i];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_counts_the_leading_zero_bytes_at_every_length_and_position() {
        for len in 0..70 {
            for first_nonzero in 0..=len {
                let mut b = vec![0u8; len];
                if let Some(x) = b.get_mut(first_nonzero) {
                    *x = 0x06;
                }
                let want = b.iter().take_while(|&&x| x == 0).count();
                assert_eq!(zeros(&b), want, "len {len}, non-zero at {first_nonzero}");
            }
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const DCID: &str = "8394c8f03e515708";

    #[test]
    fn v1_initial_and_client_secrets_match_rfc_9001_a1() {
        let dcid = hex(DCID);
        assert_eq!(
            initial_secret(Version::V1, &dcid).to_vec(),
            hex("7db5df06e7a69e432496adedb00851923595221596ae2ae9fb8115c1e9ed0a44")
        );
        assert_eq!(
            client_secret(Version::V1, &dcid).to_vec(),
            hex("c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea")
        );
    }

    #[test]
    fn hmac_over_compress_matches_sha256_at_every_length() {
        use sha2::{Digest, Sha256};
        // HMAC-SHA256 by its definition, with the sha2 crate's streaming hasher.
        let reference = |key: &[u8], msg: &[u8]| -> Vec<u8> {
            let mut k = [0u8; 64];
            k[..key.len()].copy_from_slice(key);
            let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
            let inner = Sha256::new()
                .chain_update(pad(0x36))
                .chain_update(msg)
                .finalize();
            Sha256::new()
                .chain_update(pad(0x5c))
                .chain_update(inner)
                .finalize()
                .to_vec()
        };
        let key: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37)).collect();
        let msg: Vec<u8> = (0..200u8).map(|i| i ^ 0xa5).collect();
        for klen in [0, 20, 32, 64] {
            let k = HmacKey::new(&key.repeat(2)[..klen]);
            for n in 0..=msg.len() {
                assert_eq!(
                    k.mac(&msg[..n]).to_vec(),
                    reference(&key.repeat(2)[..klen], &msg[..n]),
                    "key {klen}, message {n}"
                );
            }
        }
    }

    #[test]
    fn v2_initial_secret_matches_rfc_9369_a1() {
        assert_eq!(
            initial_secret(Version::V2, &hex(DCID)).to_vec(),
            hex("2062e8b3cd8d52092614b8071d0aa1fb7c2e3ac193f78b280e72d8f5751f6aba")
        );
    }

    #[test]
    fn varints_of_each_width() {
        assert_eq!(varint(&[0x25, 9]), Some((37, &[9u8][..])));
        assert_eq!(varint(&[0x7b, 0xbd]), Some((15293, &[][..])));
        assert_eq!(varint(&hex("9d7f3e7d")), Some((494878333, &[][..])));
        assert_eq!(
            varint(&hex("c2197c5eff14e88c")),
            Some((151288809941952652, &[][..]))
        );
        assert_eq!(varint(&[0x40]), None);
        assert_eq!(varint(&[]), None);
    }

    #[test]
    fn packet_numbers_decode_against_the_largest_seen() {
        // RFC 9000 §A.3's example.
        assert_eq!(decode_pn(Some(0xa82f30ea), 0x9b32, 16), 0xa82f9b32);
        assert_eq!(decode_pn(None, 2, 32), 2);
        assert_eq!(decode_pn(None, 0xff, 8), 0xff);
        assert_eq!(decode_pn(Some(0xfe), 0x01, 8), 0x101);
    }

    #[test]
    fn stream_stores_only_received_bytes_and_merges() {
        let mut s = Stream::default();
        s.insert(10, b"klm", 64).unwrap();
        s.insert(0, b"abc", 64).unwrap();
        assert_eq!(s.pieces.len(), 2);
        assert_eq!(s.prefix(), b"abc");
        s.insert(2, b"cdefghijk", 64).unwrap();
        assert_eq!(s.pieces.len(), 1);
        assert_eq!(s.prefix(), b"abcdefghijklm");
        assert_eq!(s.insert(5, b"X", 64), Err(Malformed::CryptoConflict));
        s.insert(12, b"mno", 64).unwrap();
        assert_eq!(s.end(), 15);
        let held: usize = s.pieces.iter().map(|(_, b)| b.len()).sum();
        assert_eq!(held, 15);
    }

    #[test]
    fn stream_caps_its_pieces() {
        let mut s = Stream::default();
        for i in 0..4 {
            s.insert(i * 2, b"x", 4).unwrap();
        }
        assert_eq!(s.insert(100, b"x", 4), Err(Malformed::TooFragmented));
    }

    #[test]
    fn v2_packet_types_are_rotated() {
        assert_eq!(Version::V2.packet_type(0xd0), PacketType::Initial);
        assert_eq!(Version::V2.packet_type(0xc0), PacketType::Retry);
        assert_eq!(Version::V2.packet_type(0xe0), PacketType::ZeroRtt);
        assert_eq!(Version::V2.packet_type(0xf0), PacketType::Handshake);
        assert_eq!(Version::V1.packet_type(0xc0), PacketType::Initial);
        assert_eq!(Version::V1.packet_type(0xe0), PacketType::Handshake);
    }

    #[test]
    fn frames_walk_ack_with_ranges_and_ecn() {
        let mut crypto = Ranges::new();
        // ACK(largest 5, delay 0, 1 range, first 0, gap 1 len 1), ACK_ECN, PING, CRYPTO.
        let p = [
            2, 5, 0, 1, 0, 1, 1, 3, 5, 0, 0, 0, 1, 2, 3, 1, 6, 0, 2, b'h', b'i',
        ];
        walk_frames(&p, 100, &mut crypto).unwrap();
        let got = crypto.as_slice();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].offset, got[0].start, got[0].len), (0, 119, 2));
        assert_eq!(
            walk_frames(&[2, 5, 0], 0, &mut crypto),
            Err(Malformed::BadFrame)
        );
        assert_eq!(
            walk_frames(&[0x08], 0, &mut crypto),
            Err(Malformed::ForbiddenFrame(8))
        );
        assert_eq!(walk_frames(&[], 0, &mut crypto), Err(Malformed::NoFrames));
        assert_eq!(
            walk_frames(&[0x1c, 0, 0, 0], 0, &mut crypto),
            Err(Malformed::ConnectionClosed)
        );
    }
}
