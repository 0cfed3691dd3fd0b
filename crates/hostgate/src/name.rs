//! Name normalization: the one function every query name and every pattern literal goes through.
//!
//! The rules are those of the policy language (section 1): strip one trailing dot, type IP
//! literals as IPs, convert non-ASCII with IDNA UTS #46 (non-transitional), lowercase ASCII, and
//! validate lengths and the `[a-z0-9_-]` label alphabet. Everything else is invalid, and an
//! invalid name is denied whatever the rules say.
//!
//! Normalization writes into a fixed inline buffer: it never allocates for ASCII input, and the
//! IDNA path writes through a bounded sink instead of building a `String`.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::swar::{eq, ge, ge_raw, load_le, HI};

/// The longest valid name, in bytes, without the trailing dot.
pub const MAX_NAME_LEN: usize = 253;
/// The longest valid label, in bytes.
pub const MAX_LABEL_LEN: usize = 63;
/// The name buffer's size: 253 rounded up to whole words.
const BUF_LEN: usize = 256;
/// Inputs longer than this are rejected before any IDNA work, to bound the cost of hostile input.
pub(crate) const MAX_INPUT_LEN: usize = 1024;

/// Why a name is invalid. An invalid name is always denied (reason `invalid-name`).
///
/// ```
/// use hostgate::{normalize, InvalidName};
/// assert_eq!(normalize("a..b").unwrap_err(), InvalidName::EmptyLabel);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidName {
    /// The name is empty (or only a dot).
    Empty,
    /// More than 253 bytes (after IDNA conversion), or an absurdly long input.
    TooLong,
    /// An empty label: `a..b`, a leading dot, or two trailing dots.
    EmptyLabel,
    /// A label longer than 63 bytes.
    LabelTooLong,
    /// A byte outside `[a-z0-9_-]` (after lowercasing and IDNA).
    BadCharacter,
    /// Non-ASCII bytes that are not UTF-8.
    NotUtf8,
    /// IDNA UTS #46 processing rejected the name.
    Idna,
    /// The last label is numeric (`1.2.3`, `010.0.0.1`, `0x7f.1`) but the whole is not a
    /// dotted-quad IPv4 address: resolvers and URL parsers disagree on what it means, so it is
    /// refused rather than guessed at.
    AmbiguousNumeric,
    /// Brackets or colons, but not a valid IPv6 address (`[::1`, `[1.2.3.4]`, `fe80::1%eth0`).
    BadIpLiteral,
}

impl InvalidName {
    /// A short human-readable explanation.
    ///
    /// ```
    /// assert_eq!(hostgate::InvalidName::Empty.message(), "empty name");
    /// ```
    pub fn message(self) -> &'static str {
        match self {
            InvalidName::Empty => "empty name",
            InvalidName::TooLong => "name longer than 253 bytes",
            InvalidName::EmptyLabel => "empty label",
            InvalidName::LabelTooLong => "label longer than 63 bytes",
            InvalidName::BadCharacter => "character outside [a-z0-9_-]",
            InvalidName::NotUtf8 => "non-ASCII bytes that are not UTF-8",
            InvalidName::Idna => "rejected by IDNA (UTS #46)",
            InvalidName::AmbiguousNumeric => {
                "numeric last label but not a dotted-quad IPv4 address"
            }
            InvalidName::BadIpLiteral => "malformed IP literal",
        }
    }
}

impl fmt::Display for InvalidName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for InvalidName {}

/// What a normalized name is: a DNS name or an IP address.
///
/// ```
/// use hostgate::{normalize, NameKind};
/// assert_eq!(normalize("Example.COM.").unwrap().kind(), NameKind::Name);
/// assert!(matches!(normalize("[2001:db8::1]").unwrap().kind(), NameKind::Ip(_)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameKind {
    /// A host name: lowercase ASCII labels of `[a-z0-9_-]`.
    Name,
    /// An IP literal; IPv4-mapped IPv6 addresses are typed as their IPv4 address.
    Ip(IpAddr),
}

/// A normalized name held in a fixed inline buffer (no heap).
///
/// For a [`NameKind::Name`] the text is the lowercase A-label form; for an IP it is the
/// canonical text of the address (IPv6 without brackets).
///
/// ```
/// let n = hostgate::normalize("Bücher.Example.").unwrap();
/// assert_eq!(n.as_str(), "xn--bcher-kva.example");
/// assert_eq!(n.labels().count(), 2);
/// ```
#[derive(Clone, Copy)]
pub struct Name {
    /// 256 bytes, not 253: whole 8-byte words can be loaded and stored past the name's end.
    buf: [u8; BUF_LEN],
    len: u8,
    /// Number of dots (labels − 1) for a host name; 0 for an IP.
    dots: u8,
    /// Bit `i` set when byte `i` is a dot (host names only): the matcher walks labels with it.
    dot_bits: [u64; 4],
    kind: NameKind,
}

impl Name {
    /// The normalized text.
    ///
    /// ```
    /// assert_eq!(hostgate::normalize("API.Kadath.IO").unwrap().as_str(), "api.kadath.io");
    /// ```
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written to the buffer; fall back to "" rather than panic.
        debug_assert!(self.as_bytes().is_ascii(), "a name with non-ASCII bytes");
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The normalized text as bytes.
    ///
    /// ```
    /// assert_eq!(hostgate::normalize("a.b").unwrap().as_bytes(), b"a.b");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// Name or IP.
    ///
    /// ```
    /// assert!(hostgate::normalize("192.0.2.1").unwrap().ip().is_some());
    /// ```
    pub fn kind(&self) -> NameKind {
        self.kind
    }

    /// The address when this is an IP literal.
    ///
    /// ```
    /// assert_eq!(hostgate::normalize("a.example").unwrap().ip(), None);
    /// ```
    pub fn ip(&self) -> Option<IpAddr> {
        match self.kind {
            NameKind::Ip(ip) => Some(ip),
            NameKind::Name => None,
        }
    }

    /// Labels from left to right (an IP yields its whole text as one item).
    ///
    /// ```
    /// let n = hostgate::normalize("a.b.c").unwrap();
    /// assert_eq!(n.labels().collect::<Vec<_>>(), ["a", "b", "c"]);
    /// ```
    pub fn labels(&self) -> impl DoubleEndedIterator<Item = &str> + '_ {
        let s = self.as_str();
        let is_ip = matches!(self.kind, NameKind::Ip(_));
        s.split(move |c| !is_ip && c == '.')
    }

    /// Positions of the dots, as a bitmap over the bytes.
    pub(crate) fn dot_bits(&self) -> &[u64; 4] {
        &self.dot_bits
    }

    /// An empty placeholder built in place (zeroing, not a copy of a constant): the lookup path
    /// makes one per query.
    #[inline(always)]
    pub(crate) fn empty() -> Name {
        Name {
            buf: [0; BUF_LEN],
            len: 0,
            dots: 0,
            dot_bits: [0; 4],
            kind: NameKind::Name,
        }
    }

    /// Number of labels (1 for an IP).
    ///
    /// ```
    /// assert_eq!(hostgate::normalize("a.b.c").unwrap().label_count(), 3);
    /// ```
    pub fn label_count(&self) -> u32 {
        u32::from(self.dots) + 1
    }

    /// Builds the `Name` for an IP address.
    ///
    /// ```
    /// let n = hostgate::Name::from_ip("::ffff:192.0.2.1".parse().unwrap());
    /// assert_eq!(n.as_str(), "192.0.2.1");
    /// ```
    pub fn from_ip(ip: IpAddr) -> Name {
        let ip = canonical_ip(ip);
        let mut name = Name {
            kind: NameKind::Ip(ip),
            ..Name::empty()
        };
        let mut sink = BufSink::new(&mut name.buf);
        // An address's text is at most 45 bytes, so the sink cannot overflow.
        let _ = fmt::write(&mut sink, format_args!("{ip}"));
        name.len = sink.len as u8;
        name
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.as_bytes() == other.as_bytes()
    }
}
impl Eq for Name {}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Name")
            .field("text", &self.as_str())
            .field("kind", &self.kind)
            .finish()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `fmt::Write` sink over a fixed buffer; overflowing it is an error, never a reallocation.
///
/// It never reports an error: idna 1.1 turns a sink error during Punycode encoding into an
/// `unreachable!` panic, so an overflow is recorded in `overflow` and checked afterwards.
struct BufSink<'a> {
    buf: &'a mut [u8; BUF_LEN],
    len: usize,
    overflow: bool,
}

impl<'a> BufSink<'a> {
    fn new(buf: &'a mut [u8; BUF_LEN]) -> Self {
        BufSink {
            buf,
            len: 0,
            overflow: false,
        }
    }
}

impl fmt::Write for BufSink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        match self.len.checked_add(s.len()) {
            Some(end) if end <= MAX_NAME_LEN && !self.overflow => {
                self.buf[self.len..end].copy_from_slice(s.as_bytes());
                self.len = end;
            }
            _ => self.overflow = true,
        }
        Ok(())
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is the IPv4 address: a rule on the v4 prefix must see it.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Normalizes a query name or a pattern literal: the only normalization function in hostgate.
///
/// Returns the normalized [`Name`] (typed name or IP) or why it is invalid.
///
/// ```
/// use hostgate::{normalize, NameKind, InvalidName};
/// assert_eq!(normalize("Example.com.").unwrap().as_str(), "example.com");
/// assert_eq!(normalize("example.com..").unwrap_err(), InvalidName::EmptyLabel);
/// assert_eq!(normalize("bücher.example").unwrap().as_str(), "xn--bcher-kva.example");
/// assert!(matches!(normalize("192.0.2.7").unwrap().kind(), NameKind::Ip(_)));
/// assert_eq!(normalize("1.2.3").unwrap_err(), InvalidName::AmbiguousNumeric);
/// ```
pub fn normalize(input: impl AsRef<[u8]>) -> Result<Name, InvalidName> {
    let mut name = Name::empty();
    normalize_into(input.as_ref(), &mut name).map(|()| name)
}

/// [`normalize`] into a caller's buffer: the lookup path uses it so that the common case
/// writes the name once, in place, and never moves it.
pub(crate) fn normalize_into(input: &[u8], out: &mut Name) -> Result<(), InvalidName> {
    if let Some(body) = fast_body(input) {
        if let Some(done) = fast_ascii(body, out) {
            return done;
        }
    }
    *out = normalize_slow(input)?;
    Ok(())
}

fn normalize_slow(input: &[u8]) -> Result<Name, InvalidName> {
    if input.len() > MAX_INPUT_LEN {
        return Err(InvalidName::TooLong);
    }
    let body = input.strip_suffix(b".").unwrap_or(input);
    if body.is_empty() {
        return Err(InvalidName::Empty);
    }
    if body.last() == Some(&b'.') {
        return Err(InvalidName::EmptyLabel);
    }
    if let Some(inner) = body.strip_prefix(b"[") {
        // Only IPv6 may be bracketed.
        let inner = inner.strip_suffix(b"]").ok_or(InvalidName::BadIpLiteral)?;
        let text = core::str::from_utf8(inner).map_err(|_| InvalidName::BadIpLiteral)?;
        let v6: Ipv6Addr = text.parse().map_err(|_| InvalidName::BadIpLiteral)?;
        return Ok(Name::from_ip(IpAddr::V6(v6)));
    }
    let mut name = Name::empty();
    if body.is_ascii() {
        if body.contains(&b':') {
            // ASCII-only, so from_utf8 cannot fail.
            let text = core::str::from_utf8(body).map_err(|_| InvalidName::BadIpLiteral)?;
            let v6: Ipv6Addr = text.parse().map_err(|_| InvalidName::BadIpLiteral)?;
            return Ok(Name::from_ip(IpAddr::V6(v6)));
        }
        if body.len() > MAX_NAME_LEN {
            return Err(InvalidName::TooLong);
        }
        for (dst, src) in name.buf.iter_mut().zip(body) {
            *dst = src.to_ascii_lowercase();
        }
        name.len = body.len() as u8;
    } else {
        let mut sink = BufSink::new(&mut name.buf);
        idna_to_ascii(body, &mut sink)?;
        if sink.overflow {
            return Err(InvalidName::TooLong);
        }
        name.len = sink.len as u8;
        if name.len == 0 {
            return Err(InvalidName::Empty);
        }
    }
    validate(&mut name)?;
    Ok(name)
}

/// What the ASCII fast path learns about a name by reading it once, without writing it
/// anywhere: where its dots are, and whether it has uppercase letters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scan {
    /// Bit `i` set when byte `i` is a dot.
    pub(crate) dot_bits: [u64; 4],
    /// Some byte is `A`–`Z` (or `_`): the name must be lowercased before it is matched. (`_`
    /// needs no lowercasing, but testing for letters alone would cost every name more than
    /// copying the rare names with `_` costs them.)
    pub(crate) upper: bool,
}

/// The part of `input` the fast path can take: at most 1,024 bytes, one trailing dot stripped,
/// not empty and not ending in a dot (every other case is for the general path to judge).
#[inline(always)]
pub(crate) fn fast_body(input: &[u8]) -> Option<&[u8]> {
    if input.len() > MAX_INPUT_LEN {
        return None;
    }
    let body = input.strip_suffix(b".").unwrap_or(input);
    (!body.is_empty() && body.last() != Some(&b'.')).then_some(body)
}

/// The first `min(8, len)` bytes of `bytes`, zero-padded, as a little-endian word.
#[inline(always)]
pub(crate) fn head_word(bytes: &[u8]) -> u64 {
    load_le(bytes, 0)
}

/// The eight bytes of `bytes` that end at `end`, as a little-endian word (byte `end - 1` in the
/// high byte); positions before the start read as zero. `head` is [`head_word`] of `bytes`.
/// Reads whole words from an unpadded slice: the matcher hashes and compares names this way,
/// aligned to their end, so that every label suffix shares the words to its right.
#[inline(always)]
pub(crate) fn word_ending(bytes: &[u8], end: usize, head: u64) -> u64 {
    match end.checked_sub(8).and_then(|at| bytes.get(at..end)) {
        Some(w) => u64::from_le_bytes(w.try_into().unwrap_or([0; 8])),
        // end < 8: the head's first `end` bytes, moved to the top.
        None => head.checked_shl(8 * (8 - end.min(8)) as u32).unwrap_or(0),
    }
}

/// The common case: plain ASCII host names, eight bytes at a time, read-only. Returns `None`
/// when the input needs the general path (IP literals and numeric last labels, non-ASCII,
/// colons, brackets, other odd bytes), which then decides; the answer is the same either way,
/// only faster here. `body` comes from [`fast_body`]. `LOWER`: only lowercase names are
/// taken (uppercase letters and `_` also go the general way), for a caller that matches the
/// name in place; the classification is then cheaper.
#[inline]
pub(crate) fn scan_ascii<const LOWER: bool>(body: &[u8]) -> Option<Result<Scan, InvalidName>> {
    let n = body.len();
    if (8..64).contains(&n) {
        return scan_short::<LOWER>(body);
    }
    if n > MAX_NAME_LEN {
        return None;
    }
    let mut dot_bits = [0u64; 4];
    let mut upper_any = 0u64;
    // Checks one word whose bytes start at `at`; `live` marks the bytes that belong to the name.
    // Returns false when a byte needs the general path.
    let mut word = |w: u64, live: u64, at: usize| -> bool {
        if w & live != 0 {
            return false; // non-ASCII: IDNA
        }
        let (common, rare, dots) = classify(w);
        if (common | rare) & live != live {
            return false; // colons, brackets, other bytes: the general path says which
        }
        upper_any |= rare & live;
        let dots = dots & live;
        // One bit per dot byte (bit k for byte k), then placed at the word's position.
        let m = ((dots >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56;
        let (wi, bit) = (at / 64, at % 64);
        if let Some(d) = dot_bits.get_mut(wi) {
            *d |= m << bit;
        }
        if bit > 56 {
            if let Some(d) = dot_bits.get_mut(wi + 1) {
                *d |= m >> (64 - bit);
            }
        }
        true
    };
    if n >= 8 {
        let mut i = 0;
        while i + 8 <= n {
            if !word(load_le(body, i), HI, i) {
                return None;
            }
            i += 8;
        }
        // The tail as the last eight bytes: re-checking a few bytes is harmless.
        if i < n && !word(load_le(body, n - 8), HI, n - 8) {
            return None;
        }
    } else if !word(load_le(body, 0), HI & ((1u64 << (8 * n)) - 1), 0) {
        return None;
    }
    // Label lengths, from the dot positions.
    let mut label_start = 0usize;
    for (wi, &bits) in dot_bits.iter().enumerate() {
        let mut bits = bits;
        while bits != 0 {
            let at = wi * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            match at - label_start {
                0 => return Some(Err(InvalidName::EmptyLabel)),
                len if len > MAX_LABEL_LEN => return Some(Err(InvalidName::LabelTooLong)),
                _ => {}
            }
            label_start = at + 1;
        }
    }
    match n - label_start {
        0 => return Some(Err(InvalidName::EmptyLabel)),
        len if len > MAX_LABEL_LEN => return Some(Err(InvalidName::LabelTooLong)),
        _ => {}
    }
    if body.get(label_start).is_some_and(u8::is_ascii_digit) {
        let last = body.get(label_start..).unwrap_or(&[]);
        if is_numeric_label(last) {
            // Rare: dotted quads and ambiguous numerics take the general path.
            return None;
        }
    }
    if LOWER && upper_any != 0 {
        return None;
    }
    Some(Ok(Scan {
        dot_bits,
        upper: upper_any != 0,
    }))
}

/// The classes of the bytes of a word (all below 0x80), one high bit per byte: bytes of
/// lowercase names (`-` `.` digits `a`-`z`), uppercase letters and `_`, and dots.
#[inline(always)]
fn classify(w: u64) -> (u64, u64, u64) {
    // Range tests share their sums; the high bit of each byte's lane holds the answer.
    let (g2d, g2e, g2f) = (ge_raw(w, b'-'), ge_raw(w, b'.'), ge_raw(w, b'/'));
    let (g30, g3a) = (ge_raw(w, b'0'), ge_raw(w, b'9' + 1));
    let (g61, g7b) = (ge_raw(w, b'a'), ge_raw(w, b'z' + 1));
    let common = ((g2d & !g2f) | (g30 & !g3a) | (g61 & !g7b)) & HI;
    let rare = (ge(w, b'A') & !ge(w, b'Z' + 1)) | eq(w, b'_');
    (common, rare, g2e & !g2f & HI)
}

/// [`scan_ascii`] for names of 8 to 63 bytes, nearly all of them, with few branches (their
/// mispredictions cost more than the work): the bytes' classes from [`short_classes`], then
/// the label rules from one dot word.
#[inline(always)]
fn scan_short<const LOWER: bool>(body: &[u8]) -> Option<Result<Scan, InvalidName>> {
    // None: non-ASCII or other bytes, for the general path to say which.
    let (dots, rare) = short_classes::<LOWER>(body)?;
    // An empty label: a leading dot or two dots in a row (the body never ends with a dot).
    // No label can be longer than 63 bytes.
    if dots & 1 != 0 || dots & (dots >> 1) != 0 {
        return Some(Err(InvalidName::EmptyLabel));
    }
    let last_label = if dots == 0 {
        0
    } else {
        64 - dots.leading_zeros() as usize
    };
    if body.get(last_label).is_some_and(u8::is_ascii_digit)
        && is_numeric_label(body.get(last_label..).unwrap_or(&[]))
    {
        return None; // dotted quads and ambiguous numerics: the general path
    }
    Some(Ok(Scan {
        dot_bits: [dots, 0, 0, 0],
        upper: rare,
    }))
}

/// The bytes of a name of 8 to 63 bytes: its dot bitmap, and whether it has uppercase letters
/// or `_`; `None` when some byte is outside `[A-Za-z0-9._-]`. SSE2 (every x86-64 has it)
/// classifies 16 bytes at once; elsewhere [`short_classes_swar`] does 8.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn short_classes<const LOWER: bool>(body: &[u8]) -> Option<(u64, bool)> {
    use safe_arch::{load_unaligned_m128i, set_i64_m128i};
    let n = body.len();
    let last = n.checked_sub(8)?;
    let (ok, rare, dots) = if n <= 32 {
        // Two vectors, each two words: (0, a) and (b, n - 8), overlapping when n < 32, so
        // that every length from 8 to 32 takes the same branch-free path.
        let (a, b) = (8.min(last), n.saturating_sub(16));
        // A function, not a closure: a closure here was not inlined.
        #[inline(always)]
        fn pair<const LOWER: bool>(body: &[u8], lo: usize, hi: usize) -> (u64, u64, u64) {
            let (l, h) = (load_le(body, lo), load_le(body, hi));
            classify16::<LOWER>(set_i64_m128i(h as i64, l as i64))
        }
        let ((o0, r0, d0), (o1, r1, d1)) =
            (pair::<LOWER>(body, 0, a), pair::<LOWER>(body, b, last));
        let dots = (d0 & 0xff) | (d0 >> 8) << a | (d1 & 0xff) << b | (d1 >> 8) << last;
        (o0 & o1, r0 | r1, dots)
    } else {
        // Four vectors at 0, 16, 32 (or less) and n - 16: overlaps are harmless.
        let mut acc = (0xffff, 0, 0);
        for at in [0, 16, 32.min(n - 16), n - 16] {
            let v: &[u8; 16] = body.get(at..at + 16)?.try_into().ok()?;
            let (o, r, d) = classify16::<LOWER>(load_unaligned_m128i(v));
            acc = (acc.0 & o, acc.1 | r, acc.2 | d << at);
        }
        acc
    };
    (ok == 0xffff).then_some((dots, rare != 0))
}

/// The classes of 16 bytes, one bit per byte (bit `k` for byte `k`): bytes of names
/// (`[A-Za-z0-9._-]`), uppercase letters and `_`, and dots. Non-ASCII bytes are negative as
/// `i8`, so they fall in no class.
/// With `LOWER`, only the first class is lowercase name bytes (`[a-z0-9.-]`), and no byte is
/// rare: fewer compares, for callers that send other names the general way.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn classify16<const LOWER: bool>(v: safe_arch::m128i) -> (u64, u64, u64) {
    use safe_arch::{
        add_i8_m128i, bitor_m128i, cmp_eq_mask_i8_m128i, cmp_lt_mask_i8_m128i, m128i,
        move_mask_i8_m128i, set_splat_i8_m128i,
    };
    let splat = |c: u8| set_splat_i8_m128i(c as i8);
    // `lo <= b <= hi` as one add and one signed compare: adding `0x80 - lo` (mod 256) moves
    // `lo..=hi` to the bottom of the signed range, `-128..=-128 + (hi - lo)`, and every other
    // byte (non-ASCII too) above it.
    let within = |lo: u8, hi: u8| {
        let moved = add_i8_m128i(v, splat(0x80u8.wrapping_sub(lo)));
        cmp_lt_mask_i8_m128i(moved, splat(0x81u8.wrapping_add(hi - lo)))
    };
    let is = |c: u8| cmp_eq_mask_i8_m128i(v, splat(c));
    let dot = is(b'.');
    // `-` and `.` are neighbours (0x2d, 0x2e): one range.
    let common = bitor_m128i(
        bitor_m128i(within(b'a', b'z'), within(b'0', b'9')),
        within(b'-', b'.'),
    );
    let bits = |m: m128i| u64::from(move_mask_i8_m128i(m) as u16);
    if LOWER {
        return (bits(common), 0, bits(dot));
    }
    let rare = bitor_m128i(within(b'A', b'Z'), is(b'_'));
    (bits(bitor_m128i(common, rare)), bits(rare), bits(dot))
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn short_classes<const LOWER: bool>(body: &[u8]) -> Option<(u64, bool)> {
    short_classes_swar(body).filter(|&(_, rare)| !(LOWER && rare))
}

/// [`short_classes`] eight bytes at a time in plain integer registers: a fixed number of word
/// checks, the last ones overlapping (checking a byte twice is harmless).
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
#[inline(always)]
fn short_classes_swar(body: &[u8]) -> Option<(u64, bool)> {
    let n = body.len();
    let last = n.checked_sub(8)?;
    let words = if n <= 32 { 4 } else { 8 };
    let (mut seen, mut ok, mut rare, mut dots) = (0u64, HI, 0u64, 0u64);
    for k in 0..words {
        let at = (8 * k).min(last);
        let w = load_le(body, at);
        let (c, r, d) = classify(w);
        seen |= w;
        ok &= c | r;
        rare |= r & !c;
        dots |= (((d >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56) << at;
    }
    (seen & HI == 0 && ok == HI).then_some((dots, rare != 0))
}

/// The ASCII fast path of [`normalize`]: [`scan_ascii`], then the name written lowercase into
/// its buffer.
#[inline]
fn fast_ascii(body: &[u8], name: &mut Name) -> Option<Result<(), InvalidName>> {
    let scan = match scan_ascii::<false>(body)? {
        Ok(scan) => scan,
        Err(e) => return Some(Err(e)),
    };
    let n = body.len();
    name.buf.get_mut(..n)?.copy_from_slice(body);
    if scan.upper {
        let mut i = 0;
        while i < n {
            let word: &mut [u8; 8] = name.buf.get_mut(i..i + 8)?.try_into().ok()?;
            let w = u64::from_le_bytes(*word);
            *word = (w | ((ge(w, b'A') & !ge(w, b'Z' + 1)) >> 2)).to_le_bytes();
            i += 8;
        }
    }
    name.len = n as u8;
    name.dots = scan.dot_bits.iter().map(|w| w.count_ones()).sum::<u32>() as u8;
    name.dot_bits = scan.dot_bits;
    name.kind = NameKind::Name;
    Some(Ok(()))
}

fn idna_to_ascii(body: &[u8], sink: &mut BufSink<'_>) -> Result<(), InvalidName> {
    use idna::uts46::{AsciiDenyList, ErrorPolicy, Hyphens, ProcessingError, Uts46};
    core::str::from_utf8(body).map_err(|_| InvalidName::NotUtf8)?;
    // The label alphabet is checked by `validate`, so IDNA's own ASCII deny list stays empty
    // (STD3 would refuse `_`, which real names use).
    match Uts46::new().process(
        body,
        AsciiDenyList::EMPTY,
        Hyphens::Allow,
        ErrorPolicy::FailFast,
        |_, _, _| false,
        sink,
        None,
    ) {
        Ok(idna::uts46::ProcessingSuccess::WroteToSink) => Ok(()),
        // Only for ASCII input, which never comes here; refuse rather than guess.
        Ok(idna::uts46::ProcessingSuccess::Passthrough) => Err(InvalidName::Idna),
        Err(ProcessingError::SinkError) => Err(InvalidName::TooLong),
        Err(ProcessingError::ValidityError) => Err(InvalidName::Idna),
    }
}

/// Checks the label rules on lowercase ASCII, and types dotted quads as IPv4.
fn validate(name: &mut Name) -> Result<(), InvalidName> {
    let bytes = name.as_bytes();
    if bytes.len() > MAX_NAME_LEN {
        return Err(InvalidName::TooLong);
    }
    let mut label_len = 0usize;
    let mut dots = 0u8;
    let mut dot_bits = [0u64; 4];
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'.' => {
                if label_len == 0 {
                    return Err(InvalidName::EmptyLabel);
                }
                label_len = 0;
                dots = dots.saturating_add(1);
                dot_bits[i / 64] |= 1 << (i % 64);
            }
            b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => {
                label_len += 1;
                if label_len > MAX_LABEL_LEN {
                    return Err(InvalidName::LabelTooLong);
                }
            }
            _ => return Err(InvalidName::BadCharacter),
        }
    }
    if label_len == 0 {
        return Err(InvalidName::EmptyLabel);
    }
    let last = bytes.rsplit(|&b| b == b'.').next().unwrap_or(bytes);
    if is_numeric_label(last) {
        let text = core::str::from_utf8(bytes).map_err(|_| InvalidName::BadCharacter)?;
        return match text.parse::<Ipv4Addr>() {
            Ok(v4) => {
                *name = Name::from_ip(IpAddr::V4(v4));
                Ok(())
            }
            Err(_) => Err(InvalidName::AmbiguousNumeric),
        };
    }
    name.dots = dots;
    name.dot_bits = dot_bits;
    Ok(())
}

/// A label that some parser would read as a number: decimal digits, or `0x` hex.
/// Either case of `0x`: the fast path asks before lowercasing (found by the `dns_question`
/// fuzz target: a DNS name `0Xe` passed as a name, then lowercased to the ambiguous `0xe`).
fn is_numeric_label(label: &[u8]) -> bool {
    if !label.is_empty() && label.iter().all(u8::is_ascii_digit) {
        return true;
    }
    match label
        .strip_prefix(b"0x")
        .or_else(|| label.strip_prefix(b"0X"))
    {
        Some(rest) => rest.iter().all(u8::is_ascii_hexdigit),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        normalize(s).unwrap().as_str().to_owned()
    }

    #[test]
    fn trailing_dot_and_case() {
        assert_eq!(ok("Example.COM."), "example.com");
        assert_eq!(
            normalize("example.com..").unwrap_err(),
            InvalidName::EmptyLabel
        );
        assert_eq!(normalize(".").unwrap_err(), InvalidName::Empty);
        assert_eq!(normalize("").unwrap_err(), InvalidName::Empty);
        assert_eq!(normalize(".a").unwrap_err(), InvalidName::EmptyLabel);
    }

    #[test]
    fn ip_literals() {
        assert_eq!(
            normalize("192.0.2.7").unwrap().ip(),
            Some("192.0.2.7".parse().unwrap())
        );
        assert_eq!(
            normalize("192.0.2.7.").unwrap().ip(),
            Some("192.0.2.7".parse().unwrap())
        );
        assert_eq!(ok("[2001:DB8::1]"), "2001:db8::1");
        assert_eq!(ok("2001:db8::1"), "2001:db8::1");
        assert_eq!(ok("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(
            normalize("[1.2.3.4]").unwrap_err(),
            InvalidName::BadIpLiteral
        );
        assert_eq!(
            normalize("fe80::1%eth0").unwrap_err(),
            InvalidName::BadIpLiteral
        );
        assert_eq!(normalize("a:b").unwrap_err(), InvalidName::BadIpLiteral);
        for s in [
            "1.2.3",
            "010.0.0.1",
            "127.1",
            "0x7f.0.0.1",
            "a.0x1f",
            "1.2.3.4.5",
        ] {
            assert_eq!(
                normalize(s).unwrap_err(),
                InvalidName::AmbiguousNumeric,
                "{s}"
            );
        }
        assert_eq!(ok("1.2.3.com"), "1.2.3.com");
    }

    #[test]
    fn long_idna_input_is_too_long_not_a_panic() {
        // Punycode output past 253 bytes: the sink must not make idna panic.
        let long = format!("ü{}", "a".repeat(250));
        assert_eq!(normalize(&long).unwrap_err(), InvalidName::TooLong);
        let many = format!("{}.example", "ü".repeat(60));
        assert!(normalize(&many).is_err());
    }

    #[test]
    fn idna() {
        assert_eq!(ok("bücher.example"), "xn--bcher-kva.example");
        assert_eq!(ok("BÜCHER.example"), "xn--bcher-kva.example");
        // Full-width dot is a label separator under UTS #46.
        assert_eq!(ok("bücher。example"), "xn--bcher-kva.example");
        // Full-width digits map to ASCII digits, and then the result is an IP.
        assert!(normalize("１９２.０.２.１").unwrap().ip().is_some());
        assert_eq!(
            normalize(b"\xff.example").unwrap_err(),
            InvalidName::NotUtf8
        );
    }

    #[test]
    fn lengths_and_alphabet() {
        let l63 = "a".repeat(63);
        assert!(normalize(format!("{l63}.com")).is_ok());
        assert_eq!(
            normalize(format!("{l63}a.com")).unwrap_err(),
            InvalidName::LabelTooLong
        );
        let long = vec!["a".repeat(63); 4].join("."); // 255 bytes
        assert_eq!(normalize(&long).unwrap_err(), InvalidName::TooLong);
        let max = format!("{}.{}", vec!["a".repeat(63); 3].join("."), "a".repeat(61));
        assert_eq!(max.len(), 253);
        assert!(normalize(&max).is_ok());
        assert_eq!(normalize("a b.com").unwrap_err(), InvalidName::BadCharacter);
        assert_eq!(normalize("a\0.com").unwrap_err(), InvalidName::BadCharacter);
        assert_eq!(ok("_dmarc.Example.com"), "_dmarc.example.com");
        assert_eq!(normalize("a*.com").unwrap_err(), InvalidName::BadCharacter);
    }

    /// The fast path must agree with the general one on everything it accepts or refuses.
    fn fast_agrees(input: &[u8]) {
        let slow = normalize_slow(input);
        let Some(body) = fast_body(input) else {
            return;
        };
        let mut name = Name::empty();
        let Some(fast) = fast_ascii(body, &mut name) else {
            return;
        };
        let shown = String::from_utf8_lossy(input);
        match (fast, slow) {
            (Ok(()), Ok(want)) => {
                assert_eq!(name, want, "{shown}");
                assert_eq!(name.dot_bits, want.dot_bits, "{shown}");
                assert_eq!(name.label_count(), want.label_count(), "{shown}");
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{shown}"),
            (a, b) => panic!(
                "{shown}: fast {a:?}, general {:?}",
                b.map(|n| n.to_string())
            ),
        }
    }

    #[test]
    fn hex_looking_last_labels_in_either_case_are_ambiguous() {
        // Regression (dns_question fuzz target): `0Xe` lowercases to `0xe`, a hex number.
        for s in ["0Xe", "0XE", "0xE", "a.0X1F", "host.example.0Xab", "0X"] {
            assert_eq!(
                normalize(s).unwrap_err(),
                InvalidName::AmbiguousNumeric,
                "{s}"
            );
            fast_agrees(s.as_bytes());
        }
        assert!(normalize("0Xg.com").is_ok());
    }

    #[test]
    fn fast_path_agrees_with_the_general_one() {
        // Every byte value at every position of names across the word, vector and bitmap
        // boundaries.
        for len in [
            1usize, 2, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 40, 47, 48, 49, 56, 63, 64, 65, 70,
            130,
        ] {
            let base: Vec<u8> = (0..len)
                .map(|i| {
                    if i % 5 == 4 {
                        b'.'
                    } else {
                        b'a' + (i % 26) as u8
                    }
                })
                .collect();
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut input = base.clone();
                    input[at] = b;
                    fast_agrees(&input);
                    classes_agree(&input);
                }
            }
        }
        // Random mixes of the interesting bytes.
        let alphabet = b"aZz09xX-._A/:@[`{\x7f\x00";
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 80) as usize + 1;
            let input: Vec<u8> = (0..len)
                .map(|i| alphabet[((x >> (i % 50)) as usize + i * 7) % alphabet.len()])
                .collect();
            fast_agrees(&input);
            classes_agree(&input);
        }
    }

    /// The SIMD byte classes (where built) give what the portable word-wise ones give.
    fn classes_agree(input: &[u8]) {
        if (8..64).contains(&input.len()) {
            assert_eq!(
                short_classes::<false>(input),
                short_classes_swar(input),
                "{}",
                String::from_utf8_lossy(input)
            );
            // The lowercase-only classes: the same, or none when a byte is uppercase or `_`.
            assert_eq!(
                short_classes::<true>(input),
                short_classes_swar(input).filter(|&(_, rare)| !rare),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }
}
