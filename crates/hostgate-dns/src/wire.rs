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
    let mut s = String::new();
    let _ = write_qtype(&mut s, qtype);
    s
}

/// Writes the mnemonic of a query type, as [`qtype_name`] gives it, without a string of its
/// own.
///
/// ```
/// let mut s = String::new();
/// hostgate_dns::wire::write_qtype(&mut s, 65).unwrap();
/// assert_eq!(s, "HTTPS");
/// ```
pub fn write_qtype(out: &mut impl std::fmt::Write, qtype: u16) -> std::fmt::Result {
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
        _ => return write!(out, "TYPE{qtype}"),
    };
    out.write_str(name)
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
    let mut out = Vec::new();
    answer_locally_into(query, rcode, &mut out)?;
    Some(out)
}

/// [`answer_locally`] into `out` (emptied first), for a reused buffer. `None` (and `out`
/// empty) when the question is not whole.
///
/// ```
/// use hostgate_dns::wire::{answer_locally, answer_locally_into, Rcode};
/// let q = hostgate::inspect::dns::testing::query(1, b"a.test", 1);
/// let mut out = vec![9; 3];
/// answer_locally_into(&q, Rcode::Refused, &mut out).unwrap();
/// assert_eq!(Some(out), answer_locally(&q, Rcode::Refused));
/// ```
pub fn answer_locally_into(query: &[u8], rcode: Rcode, out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    let qend = question_end(query)?;
    let opt = opt_do_bit(query, qend);
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
    Some(())
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
    let mut out = Vec::new();
    header_only_into(query, rcode, &mut out)?;
    Some(out)
}

/// [`header_only`] into `out` (emptied first), for a reused buffer.
///
/// ```
/// use hostgate_dns::wire::{header_only_into, Rcode};
/// let mut out = Vec::new();
/// assert!(header_only_into(&[0; 12], Rcode::FormErr, &mut out).is_some());
/// assert_eq!(out[3], 0x81);
/// ```
pub fn header_only_into(query: &[u8], rcode: Rcode, out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    let hdr = query.get(..HEADER)?;
    out.extend_from_slice(&hdr[..2]);
    out.push(0x80 | (hdr[2] & 0x79));
    out.push(0x80 | (hdr[3] & 0x10) | (rcode.to_u8() & 0xf));
    out.extend_from_slice(&[0; 8]);
    Some(())
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

/// The longest CNAME chain followed from the question's name: resolvers stop well before
/// this, and a bound keeps a hostile answer from costing more than a few passes.
pub const MAX_CHAIN: usize = 32;

/// The position after the (possibly compressed) name at `pos`, when it is a valid name: labels
/// of at most 63 bytes, at most 255 bytes in all, compression pointers pointing backward.
fn skip_name(msg: &[u8], pos: usize) -> Option<usize> {
    let (mut at, mut end, mut len) = (pos, None, 0usize);
    loop {
        let n = *msg.get(at)?;
        match n {
            0 => return Some(end.unwrap_or(at + 1)),
            1..=63 => {
                len += 1 + usize::from(n);
                if len > 255 {
                    return None;
                }
                at += 1 + usize::from(n);
            }
            0xc0..=0xff => {
                let to = (usize::from(n & 0x3f) << 8) | usize::from(*msg.get(at + 1)?);
                // Backward only: with the length bound, every walk ends.
                if to >= at {
                    return None;
                }
                end.get_or_insert(at + 2);
                at = to;
            }
            _ => return None,
        }
    }
}

/// The next label of a name already checked by [`skip_name`]; `None` at its end.
fn next_label<'m>(msg: &'m [u8], pos: &mut usize) -> Option<&'m [u8]> {
    // A checked name ends within 255 bytes of labels and 128 pointers.
    for _ in 0..256 {
        let n = *msg.get(*pos)?;
        match n {
            1..=63 => {
                let label = msg.get(*pos + 1..*pos + 1 + usize::from(n))?;
                *pos += 1 + usize::from(n);
                return Some(label);
            }
            0xc0..=0xff => {
                *pos = (usize::from(n & 0x3f) << 8) | usize::from(*msg.get(*pos + 1)?);
            }
            _ => return None,
        }
    }
    None
}

/// True when the names at `a` and `b` are the same, ASCII case aside.
fn same_names(msg: &[u8], mut a: usize, mut b: usize) -> bool {
    loop {
        match (next_label(msg, &mut a), next_label(msg, &mut b)) {
            (None, None) => return true,
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => {}
            _ => return false,
        }
    }
}

/// True when the name at `pos` is `text` (dotted, a trailing dot optional; "" is the root),
/// ASCII case aside.
fn name_is(msg: &[u8], mut pos: usize, text: &str) -> bool {
    let text = text.strip_suffix('.').unwrap_or(text);
    let mut labels = text.split('.').filter(|_| !text.is_empty());
    loop {
        match (next_label(msg, &mut pos), labels.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y.as_bytes()) => {}
            _ => return false,
        }
    }
}

/// One resource record: where its owner name and data are.
#[derive(Clone, Copy)]
struct Record {
    owner: usize,
    rtype: u16,
    class: u16,
    ttl: u32,
    data: usize,
    len: usize,
}

/// The record at `pos` and the position after it, checked: the owner a valid name, the data
/// within the message; in the answer section (`answer`) A data of 4 bytes, AAAA of 16 and
/// CNAME a valid name filling it exactly.
fn record(msg: &[u8], pos: usize, answer: bool) -> Option<(Record, usize)> {
    let at = skip_name(msg, pos)?;
    let fixed = msg.get(at..at + 10)?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let data = at + 10;
    let end = data + len;
    if end > msg.len() {
        return None;
    }
    let fits = match (answer, rtype) {
        (false, _) => true,
        (true, 1) => len == 4,
        (true, 28) => len == 16,
        (true, 5) => skip_name(msg, data) == Some(end),
        _ => true,
    };
    fits.then_some((
        Record {
            owner: pos,
            rtype,
            class,
            ttl,
            data,
            len,
        },
        end,
    ))
}

/// The answer section's records of a message checked by [`answer_section`].
fn answer_records(msg: &[u8], start: usize, count: u16) -> impl Iterator<Item = Record> + '_ {
    let mut pos = start;
    (0..count).map_while(move |_| {
        let (r, next) = record(msg, pos, true)?;
        pos = next;
        Some(r)
    })
}

/// Checks the whole message (header, questions, every record) and returns where the answer
/// section starts and how many records it has.
fn answer_section(msg: &[u8]) -> Result<(usize, u16), &'static str> {
    const SHORT: &str = "unreadable answer: shorter than a header";
    const BAD: &str = "unreadable answer: a name or record runs past the message or is invalid";
    let counts = |at| be16(msg, at).ok_or(SHORT);
    let (qd, an) = (counts(4)?, counts(6)?);
    let others = u32::from(counts(8)?) + u32::from(counts(10)?);
    let mut pos = HEADER;
    for _ in 0..qd {
        pos = skip_name(msg, pos).ok_or(BAD)? + 4;
        if pos > msg.len() {
            return Err(BAD);
        }
    }
    let start = pos;
    for i in 0..u32::from(an) + others {
        pos = record(msg, pos, i < u32::from(an)).ok_or(BAD)?.1;
    }
    Ok((start, an))
}

/// The A and AAAA addresses (with their TTLs) an answer gives for `qname`, appended to `out`
/// in answer order: answer records of class IN whose owner is `qname` or a name its CNAME
/// records lead to (at most [`MAX_CHAIN`] names), ASCII case aside. The message is walked
/// in place, nothing allocated but `out`'s growth. An error when any part of the message is
/// unreadable (then nothing is appended).
///
/// ```
/// use hostgate_dns::wire::answer_addresses;
/// // a.test CNAME B.test, b.test A 192.0.2.7 (TTL 30), other.test A 192.0.2.99.
/// let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0];
/// m.extend_from_slice(b"\x01a\x04test\x00\x00\x01\x00\x01");
/// m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, b'B', 0xc0, 14]);
/// m.extend_from_slice(&[0xc0, 36, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 7]);
/// m.extend_from_slice(b"\x05other\xc0\x0e");
/// m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 99]);
/// let mut got = Vec::new();
/// answer_addresses(&m, "a.test", &mut got).unwrap();
/// assert_eq!(got, [("192.0.2.7".parse().unwrap(), 30)]);
/// assert!(answer_addresses(&m[..m.len() - 1], "a.test", &mut got).is_err());
/// ```
pub fn answer_addresses(
    msg: &[u8],
    qname: &str,
    out: &mut Vec<(std::net::IpAddr, u32)>,
) -> Result<(), &'static str> {
    let (start, count) = answer_section(msg)?;
    let mut chain = [0usize; MAX_CHAIN];
    let mut len = 0;
    let known = |chain: &[usize], pos: usize| {
        name_is(msg, pos, qname) || chain.iter().any(|&c| same_names(msg, c, pos))
    };
    // Each pass adds a name or stops: records may come in any order.
    while len < MAX_CHAIN {
        let before = len;
        for r in answer_records(msg, start, count) {
            if r.rtype == 5
                && r.class == 1
                && len < MAX_CHAIN
                && known(&chain[..len], r.owner)
                && !known(&chain[..len], r.data)
            {
                chain[len] = r.data;
                len += 1;
            }
        }
        if len == before {
            break;
        }
    }
    for r in answer_records(msg, start, count) {
        let addr = match (r.rtype, msg.get(r.data..r.data + r.len)) {
            (1, Some(&[a, b, c, d])) => std::net::IpAddr::from([a, b, c, d]),
            (28, Some(b)) => match <[u8; 16]>::try_from(b) {
                Ok(b) => std::net::IpAddr::from(b),
                Err(_) => continue,
            },
            _ => continue,
        };
        if r.class == 1 && known(&chain[..len], r.owner) {
            out.push((addr, r.ttl));
        }
    }
    Ok(())
}
