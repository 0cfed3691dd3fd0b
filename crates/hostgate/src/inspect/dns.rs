//! DNS question: the QNAME and QTYPE of a query a client sends, over UDP (one datagram) or TCP
//! (a 2-byte length prefix, RFC 1035 §4.2.2).
//!
//! Only a standard query is accepted: QR = 0 (a response is refused, not read as a question),
//! opcode QUERY, exactly one question, no answer or authority records. The QNAME must be plain
//! labels: a compression pointer in a question is refused (and never followed), as are the
//! reserved label types, a name over 255 bytes on the wire, and any byte outside
//! `[A-Za-z0-9_-]`. Additional records (EDNS OPT, TSIG) are walked for their lengths only, and
//! the message must end exactly where they do.
//!
//! ```
//! use hostgate::inspect::{dns, Outcome};
//!
//! let q = dns::testing::query(0x1234, b"www.Example.com", 1);
//! let Outcome::Complete(question) = dns::parse_query(&q, dns::Transport::Udp) else { panic!() };
//! assert_eq!(question.name.unwrap().as_str(), "www.example.com");
//! assert_eq!(question.qtype, 1);
//! ```

use core::fmt;

use super::Outcome;
use crate::name::{normalize, InvalidName, Name, MAX_NAME_LEN};

const HEADER: usize = 12;
/// RFC 1035 §3.1: a name is at most 255 bytes on the wire.
const MAX_WIRE_NAME: usize = 255;

/// How the message arrived.
///
/// ```
/// assert_ne!(hostgate::inspect::dns::Transport::Udp, hostgate::inspect::dns::Transport::Tcp);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// The buffer is one whole datagram: a short one is malformed, never need-more.
    Udp,
    /// The buffer is the stream so far: a 2-byte length, then the message.
    Tcp,
}

/// Why a DNS message is refused as a query. A refused query is denied.
///
/// ```
/// use hostgate::inspect::{dns, Outcome};
/// let mut q = dns::testing::query(1, b"a.example", 1);
/// q[2] |= 0x80; // QR: a response
/// assert!(matches!(dns::parse_query(&q, dns::Transport::Udp), Outcome::Malformed(dns::Malformed::Response)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Malformed {
    /// Shorter than the 12-byte header.
    TooShort,
    /// The question or a record runs past the end of the message.
    Truncated,
    /// QR is set: a response, not a query.
    Response,
    /// An opcode other than QUERY (the value).
    Opcode(u8),
    /// QDCOUNT is not 1 (the value).
    QuestionCount(u16),
    /// ANCOUNT or NSCOUNT is not 0.
    UnexpectedRecords,
    /// A compression pointer in the question name.
    CompressionPointer,
    /// A reserved label type (first byte 0x40–0xBF): a label cannot be longer than 63.
    BadLabelType,
    /// The name is longer than 255 bytes on the wire.
    NameTooLong,
    /// A label byte outside `[A-Za-z0-9_-]`.
    BadLabelByte,
    /// Bytes after the last record.
    TrailingData,
    /// The name is not valid once normalized (for example a numeric last label).
    InvalidName(InvalidName),
}

impl Malformed {
    /// The name error, when the query was refused because of its name.
    ///
    /// ```
    /// use hostgate::{inspect::dns::Malformed, InvalidName};
    /// let e = Malformed::InvalidName(InvalidName::AmbiguousNumeric);
    /// assert_eq!(e.invalid_name(), Some(InvalidName::AmbiguousNumeric));
    /// ```
    pub fn invalid_name(self) -> Option<InvalidName> {
        match self {
            Malformed::InvalidName(e) => Some(e),
            // These are name problems too: report them as such to the verdict.
            Malformed::NameTooLong => Some(InvalidName::TooLong),
            Malformed::BadLabelByte => Some(InvalidName::BadCharacter),
            _ => None,
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::TooShort => f.write_str("shorter than a DNS header"),
            Malformed::Truncated => f.write_str("question or record runs past the message"),
            Malformed::Response => f.write_str("a response (QR set), not a query"),
            Malformed::Opcode(o) => write!(f, "opcode {o} is not QUERY"),
            Malformed::QuestionCount(n) => write!(f, "{n} questions (must be 1)"),
            Malformed::UnexpectedRecords => f.write_str("answer or authority records in a query"),
            Malformed::CompressionPointer => f.write_str("compression pointer in the question"),
            Malformed::BadLabelType => f.write_str("reserved label type"),
            Malformed::NameTooLong => f.write_str("name longer than 255 bytes on the wire"),
            Malformed::BadLabelByte => f.write_str("label byte outside [A-Za-z0-9_-]"),
            Malformed::TrailingData => f.write_str("bytes after the last record"),
            Malformed::InvalidName(e) => write!(f, "invalid name: {e}"),
        }
    }
}

/// A parsed query.
///
/// ```
/// use hostgate::inspect::{dns, Outcome};
/// let q = dns::testing::query(7, b"example.org", 28);
/// let mut tcp = (q.len() as u16).to_be_bytes().to_vec();
/// tcp.extend_from_slice(&q);
/// let Outcome::Complete(question) = dns::parse_query(&tcp, dns::Transport::Tcp) else { panic!() };
/// assert_eq!((question.id, question.qtype, question.qclass), (7, 28, 1));
/// assert_eq!(question.len, tcp.len());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    /// The normalized QNAME. `Some` in [`Outcome::Complete`]; `None` in [`Outcome::NoName`]
    /// (the root name, as in a priming `. NS` query).
    pub name: Option<Name>,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// The message id.
    pub id: u16,
    /// Bytes of the buffer the message takes (with the TCP length prefix).
    pub len: usize,
}

/// Parses a DNS query.
///
/// Over UDP the buffer is the datagram; over TCP it is the stream so far, and bytes after the
/// first message (a pipelined query) are left alone. Never [`Outcome::NotThisProtocol`]: the
/// caller chose DNS. A message is refused, not half-read, when any check fails.
///
/// ```
/// use hostgate::inspect::{dns, Outcome};
/// assert!(matches!(dns::parse_query(&[0, 40, 1], dns::Transport::Tcp), Outcome::NeedMore { at_least: Some(39) }));
/// assert!(matches!(dns::parse_query(&[1, 2, 3], dns::Transport::Udp), Outcome::Malformed(dns::Malformed::TooShort)));
/// ```
pub fn parse_query(buf: &[u8], transport: Transport) -> Outcome<Question, Malformed> {
    let (msg, prefix) = match transport {
        Transport::Udp => (buf, 0),
        Transport::Tcp => {
            let Some((&[hi, lo], rest)) = buf.split_first_chunk::<2>() else {
                return Outcome::NeedMore {
                    at_least: Some(2 - buf.len()),
                };
            };
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            if len < HEADER {
                return Outcome::Malformed(Malformed::TooShort);
            }
            // Check the header as soon as it is there, so a non-query fails early.
            if let Some(hdr) = rest.first_chunk::<HEADER>() {
                if let Err(e) = check_header(hdr) {
                    return Outcome::Malformed(e);
                }
            }
            match rest.get(..len) {
                Some(msg) => (msg, 2),
                None => {
                    return Outcome::NeedMore {
                        at_least: Some(len - rest.len()),
                    }
                }
            }
        }
    };
    match parse_message(msg) {
        Ok(mut q) => {
            q.len += prefix;
            if q.name.is_some() {
                Outcome::Complete(q)
            } else {
                Outcome::NoName(Some(q))
            }
        }
        Err(e) => Outcome::Malformed(e),
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The header checks that make a message a standard query.
pub(crate) fn check_header(hdr: &[u8; HEADER]) -> Result<(), Malformed> {
    let flags = u16::from_be_bytes([hdr[2], hdr[3]]);
    if flags & 0x8000 != 0 {
        return Err(Malformed::Response);
    }
    let opcode = ((flags >> 11) & 0xf) as u8;
    if opcode != 0 {
        return Err(Malformed::Opcode(opcode));
    }
    let qd = u16::from_be_bytes([hdr[4], hdr[5]]);
    if qd != 1 {
        return Err(Malformed::QuestionCount(qd));
    }
    if hdr[6..10] != [0, 0, 0, 0] {
        return Err(Malformed::UnexpectedRecords);
    }
    Ok(())
}

fn parse_message(msg: &[u8]) -> Result<Question, Malformed> {
    let hdr = msg.first_chunk::<HEADER>().ok_or(Malformed::TooShort)?;
    check_header(hdr)?;
    let arcount = u16::from_be_bytes([hdr[10], hdr[11]]);
    let mut text = [0u8; MAX_NAME_LEN + 2];
    let (text_len, mut pos) = question_name(msg, HEADER, &mut text)?;
    let qtype = be16(msg, pos).ok_or(Malformed::Truncated)?;
    let qclass = be16(msg, pos + 2).ok_or(Malformed::Truncated)?;
    pos += 4;
    for _ in 0..arcount {
        pos = skip_record(msg, pos)?;
    }
    if pos != msg.len() {
        return Err(Malformed::TrailingData);
    }
    let name = if text_len == 0 {
        None
    } else {
        let text = text.get(..text_len).unwrap_or(&[]);
        Some(normalize(text).map_err(Malformed::InvalidName)?)
    };
    Ok(Question {
        name,
        qtype,
        qclass,
        id: u16::from_be_bytes([hdr[0], hdr[1]]),
        len: msg.len(),
    })
}

/// Reads the question name as dotted text into `out`; returns its length and the position
/// after the name.
fn question_name(msg: &[u8], mut pos: usize, out: &mut [u8]) -> Result<(usize, usize), Malformed> {
    let start = pos;
    let mut len = 0usize;
    loop {
        let n = *msg.get(pos).ok_or(Malformed::Truncated)?;
        match n {
            0 => {
                if pos + 1 - start > MAX_WIRE_NAME {
                    return Err(Malformed::NameTooLong);
                }
                return Ok((len, pos + 1));
            }
            0xc0..=0xff => return Err(Malformed::CompressionPointer),
            0x40..=0xbf => return Err(Malformed::BadLabelType),
            _ => {}
        }
        let n = usize::from(n);
        if pos + 1 + n - start >= MAX_WIRE_NAME {
            // With the root byte still to come, the name would exceed 255.
            return Err(Malformed::NameTooLong);
        }
        let label = msg.get(pos + 1..pos + 1 + n).ok_or(Malformed::Truncated)?;
        if !label
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Malformed::BadLabelByte);
        }
        if len > 0 {
            *out.get_mut(len).ok_or(Malformed::NameTooLong)? = b'.';
            len += 1;
        }
        out.get_mut(len..len + n)
            .ok_or(Malformed::NameTooLong)?
            .copy_from_slice(label);
        len += n;
        pos += 1 + n;
    }
}

/// Skips one resource record (its owner name may be compressed: only its length matters).
fn skip_record(msg: &[u8], mut pos: usize) -> Result<usize, Malformed> {
    let start = pos;
    loop {
        let n = *msg.get(pos).ok_or(Malformed::Truncated)?;
        match n {
            0 => {
                pos += 1;
                break;
            }
            0xc0..=0xff => {
                pos += 2; // a pointer ends the name; it is not followed
                break;
            }
            0x40..=0xbf => return Err(Malformed::BadLabelType),
            _ => pos += 1 + usize::from(n),
        }
        if pos - start > MAX_WIRE_NAME {
            return Err(Malformed::NameTooLong);
        }
    }
    // type, class, ttl, rdlength
    let rdlen = usize::from(be16(msg, pos + 8).ok_or(Malformed::Truncated)?);
    let end = pos + 10 + rdlen;
    if end > msg.len() {
        return Err(Malformed::Truncated);
    }
    Ok(end)
}

/// Builders of DNS queries for examples and tests.
///
/// Only with the cargo feature `testing`, and not part of the stable API: it may change in any
/// release.
///
/// ```
/// let q = hostgate::inspect::dns::testing::query(9, b"", 2); // the root, NS
/// assert_eq!(q.len(), 12 + 1 + 4);
/// ```
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    /// A standard query (RD set) for `name` (dotted text; empty = root) with one question
    /// of class IN and no other records.
    ///
    /// ```
    /// let q = hostgate::inspect::dns::testing::query(1, b"a.example", 1);
    /// assert_eq!(q.len(), 12 + 11 + 4);
    /// ```
    pub fn query(id: u16, name: &[u8], qtype: u16) -> Vec<u8> {
        let mut out = id.to_be_bytes().to_vec();
        out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        if !name.is_empty() {
            for label in name.split(|&b| b == b'.') {
                out.push(label.len() as u8);
                out.extend_from_slice(label);
            }
        }
        out.push(0);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        out
    }
}
