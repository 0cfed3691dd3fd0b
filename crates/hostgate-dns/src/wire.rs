//! The few DNS wire operations the server needs besides hostgate's own question parser.
//!
//! Responses are built here by hand rather than with a DNS library: a local answer is the
//! query's header with bits flipped and its question section copied byte for byte (so the
//! client sees its own name, 0x20 case included), plus an empty OPT record when the query
//! carried one. Decoding and re-encoding the message with a library would gain nothing and
//! could change the question the client matches its answer against. Every read is bounds
//! checked: a short or odd buffer gives `None`, never a panic.

/// The DNS header length.
pub const HEADER: usize = 12;

/// The UDP payload size this server advertises in the OPT record of a local answer.
const UDP_PAYLOAD: u16 = 1232;

/// A response code.
///
/// ```
/// use hostgate_dns::wire::Rcode;
/// assert_eq!(Rcode::NxDomain.as_str(), "NXDOMAIN");
/// assert_eq!(Rcode::from_u8(2), Rcode::ServFail);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rcode {
    /// 0: no error (with no answers: NODATA).
    NoError,
    /// 1: the server could not read the query.
    FormErr,
    /// 2: the server failed to get an answer.
    ServFail,
    /// 3: the name does not exist.
    NxDomain,
    /// 4: the server does not implement the opcode.
    NotImp,
    /// 5: the server refuses to answer.
    Refused,
    /// Any other value.
    Other(u8),
}

impl Rcode {
    /// The code in the low four bits of the header's flags.
    ///
    /// ```
    /// assert_eq!(hostgate_dns::wire::Rcode::Refused.to_u8(), 5);
    /// ```
    pub fn to_u8(self) -> u8 {
        match self {
            Rcode::NoError => 0,
            Rcode::FormErr => 1,
            Rcode::ServFail => 2,
            Rcode::NxDomain => 3,
            Rcode::NotImp => 4,
            Rcode::Refused => 5,
            Rcode::Other(n) => n,
        }
    }

    /// The code for a value (only the low four bits count).
    ///
    /// ```
    /// assert_eq!(hostgate_dns::wire::Rcode::from_u8(0x13), hostgate_dns::wire::Rcode::NxDomain);
    /// ```
    pub fn from_u8(n: u8) -> Rcode {
        match n & 0xf {
            0 => Rcode::NoError,
            1 => Rcode::FormErr,
            2 => Rcode::ServFail,
            3 => Rcode::NxDomain,
            4 => Rcode::NotImp,
            5 => Rcode::Refused,
            n => Rcode::Other(n),
        }
    }

    /// The mnemonic, as dig prints it (`RCODE11` for others).
    ///
    /// ```
    /// assert_eq!(hostgate_dns::wire::Rcode::Other(11).as_str(), "RCODE11");
    /// ```
    pub fn as_str(self) -> &'static str {
        const OTHER: [&str; 16] = [
            "RCODE0", "RCODE1", "RCODE2", "RCODE3", "RCODE4", "RCODE5", "RCODE6", "RCODE7",
            "RCODE8", "RCODE9", "RCODE10", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15",
        ];
        match self {
            Rcode::NoError => "NOERROR",
            Rcode::FormErr => "FORMERR",
            Rcode::ServFail => "SERVFAIL",
            Rcode::NxDomain => "NXDOMAIN",
            Rcode::NotImp => "NOTIMP",
            Rcode::Refused => "REFUSED",
            Rcode::Other(n) => OTHER[usize::from(n & 0xf)],
        }
    }
}

/// The mnemonic of a query type (`TYPE65280` for the ones without a common name).
///
/// ```
/// assert_eq!(hostgate_dns::wire::qtype_name(28), "AAAA");
/// assert_eq!(hostgate_dns::wire::qtype_name(65280), "TYPE65280");
/// ```
pub fn qtype_name(qtype: u16) -> String {
    let name = match qtype {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        43 => "DS",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => return format!("TYPE{qtype}"),
    };
    name.to_string()
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The message id.
///
/// ```
/// assert_eq!(hostgate_dns::wire::id(&[0x12, 0x34, 0, 0]), Some(0x1234));
/// ```
pub fn id(msg: &[u8]) -> Option<u16> {
    be16(msg, 0)
}

/// The response code of a message.
///
/// ```
/// let mut m = [0u8; 12];
/// m[3] = 3;
/// assert_eq!(hostgate_dns::wire::rcode(&m), Some(hostgate_dns::wire::Rcode::NxDomain));
/// ```
pub fn rcode(msg: &[u8]) -> Option<Rcode> {
    msg.get(3).map(|&b| Rcode::from_u8(b))
}

/// Where the first question ends: the header, one uncompressed name, QTYPE and QCLASS.
/// `None` when the message has no whole question there.
///
/// ```
/// let q = hostgate::inspect::dns::testing::query(1, b"a.test", 1);
/// assert_eq!(hostgate_dns::wire::question_end(&q), Some(q.len()));
/// assert_eq!(hostgate_dns::wire::question_end(&q[..14]), None);
/// ```
pub fn question_end(msg: &[u8]) -> Option<usize> {
    let mut pos = HEADER;
    loop {
        let n = usize::from(*msg.get(pos)?);
        if n == 0 {
            pos += 1;
            break;
        }
        if n > 63 {
            return None; // a pointer or a reserved label type: not a plain name
        }
        pos += 1 + n;
        if pos - HEADER > 255 {
            return None;
        }
    }
    let end = pos + 4;
    (end <= msg.len()).then_some(end)
}

/// The EDNS OPT record of a query, when it has one: its DO bit.
fn opt_do_bit(msg: &[u8], question_end: usize) -> Option<bool> {
    let arcount = be16(msg, 10)?;
    let mut pos = question_end;
    for _ in 0..arcount {
        // Owner name: labels ending in a root byte or a pointer.
        loop {
            let n = *msg.get(pos)?;
            if n == 0 {
                pos += 1;
                break;
            }
            if n >= 0xc0 {
                pos += 2;
                break;
            }
            pos += 1 + usize::from(n);
        }
        let rtype = be16(msg, pos)?;
        if rtype == 41 {
            let flags = be16(msg, pos + 6)?;
            return Some(flags & 0x8000 != 0);
        }
        let rdlen = usize::from(be16(msg, pos + 8)?);
        pos += 10 + rdlen;
    }
    None
}

/// A local answer to a query whose question is whole: the header (id, opcode, RD and CD
/// copied; QR and RA set), the question copied as received, no answer or authority records,
/// and an empty OPT record (DO copied) when the query had one. `None` when the question is
/// not whole.
///
/// ```
/// use hostgate_dns::wire::{answer_locally, Rcode};
/// let q = hostgate::inspect::dns::testing::query(0xbeef, b"Denied.test", 1);
/// let r = answer_locally(&q, Rcode::NxDomain).unwrap();
/// assert_eq!(&r[..4], &[0xbe, 0xef, 0x81, 0x83]); // QR RD, RA NXDOMAIN
/// assert_eq!(&r[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
/// assert_eq!(&r[12..], &q[12..]);
/// ```
pub fn answer_locally(query: &[u8], rcode: Rcode) -> Option<Vec<u8>> {
    let qend = question_end(query)?;
    let opt = opt_do_bit(query, qend);
    let mut out = Vec::with_capacity(qend + 11);
    out.extend_from_slice(query.get(..2)?);
    let (f1, f2) = (*query.get(2)?, *query.get(3)?);
    // QR, the opcode and RD from the query; AA and TC clear. RA: this server recurses (through
    // its upstream); CD copied, AD clear (nothing here was validated).
    out.push(0x80 | (f1 & 0x79));
    out.push(0x80 | (f2 & 0x10) | (rcode.to_u8() & 0xf));
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(opt.is_some())]);
    out.extend_from_slice(query.get(HEADER..qend)?);
    if let Some(do_bit) = opt {
        out.push(0); // root owner
        out.extend_from_slice(&41u16.to_be_bytes());
        out.extend_from_slice(&UDP_PAYLOAD.to_be_bytes());
        out.extend_from_slice(&[0, 0, if do_bit { 0x80 } else { 0 }, 0]);
        out.extend_from_slice(&[0, 0]);
    }
    Some(out)
}

/// A header-only error answer (no question): for a query whose question cannot be read.
/// `None` when even the header is incomplete.
///
/// ```
/// use hostgate_dns::wire::{header_only, Rcode};
/// let r = header_only(&[0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff], Rcode::FormErr).unwrap();
/// assert_eq!(r, [0xab, 0xcd, 0x81, 0x81, 0, 0, 0, 0, 0, 0, 0, 0]);
/// assert!(header_only(&[1, 2, 3], Rcode::FormErr).is_none());
/// ```
pub fn header_only(query: &[u8], rcode: Rcode) -> Option<Vec<u8>> {
    let hdr = query.get(..HEADER)?;
    let mut out = vec![0u8; HEADER];
    out[..2].copy_from_slice(&hdr[..2]);
    out[2] = 0x80 | (hdr[2] & 0x79);
    out[3] = 0x80 | (hdr[3] & 0x10) | (rcode.to_u8() & 0xf);
    Some(out)
}

/// True when `answer` answers `query`: QR set, the same id, one question, and the same
/// question bytes (the name compared without regard to ASCII case).
///
/// ```
/// use hostgate_dns::wire::{answer_locally, answers, Rcode};
/// let q = hostgate::inspect::dns::testing::query(7, b"a.test", 1);
/// let r = answer_locally(&q, Rcode::NoError).unwrap();
/// assert!(answers(&r, &q));
/// let other = hostgate::inspect::dns::testing::query(7, b"b.test", 1);
/// assert!(!answers(&answer_locally(&other, Rcode::NoError).unwrap(), &q));
/// ```
pub fn answers(answer: &[u8], query: &[u8]) -> bool {
    let Some(qend) = question_end(query) else {
        return false;
    };
    let Some(question) = query.get(HEADER..qend) else {
        return false;
    };
    answer.len() >= qend
        && answer[..2] == query[..2]
        && answer[2] & 0x80 != 0
        && be16(answer, 4) == Some(1)
        && answer[HEADER..qend].eq_ignore_ascii_case(question)
}
