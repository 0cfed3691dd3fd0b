//! Engine files: a compiled [`Engine`] written out so that another process can open it without
//! compiling, and read its large arrays in place (the format is in `docs/engine-file.md`).
//!
//! Layout: a fixed header (magic, format version, byte order, word size, file length, checksum
//! of everything after it), a table of ten sections (offset and length each), an info block
//! (the hostgate version that wrote the file, the source's name and SHA-256), then the sections,
//! each at a multiple of 64 bytes: the engine's small parts encoded field by field (`META`),
//! then its large arrays exactly as they are in memory (the rules' columns, table tags, nodes,
//! long labels, rule lists, pattern references). Opening checks the header, the length and the checksum, then
//! every index the lookups follow, so that a file however made gives an error, never a panic
//! or a wrong read.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use bytemuck::Pod;
use sha2::{Digest, Sha256};

use crate::compile::regex::build_set;
use crate::compile::MAX_RULES;
use crate::engine::{
    plain_meta, policy_index, Aux, Engine, IpTable, PolicyMeta, Rules, Shape, NO_AUX, RECEIVED,
};
use crate::error::{Diagnostic, Severity};
use crate::matcher::{Node, NodeScan, SuffixTable};
use crate::pages::{SharedBytes, Store};
use crate::policy_text;
use crate::verdict::{Action, Precedence};

/// The first eight bytes of every engine file. Not UTF-8 (0x89), so no policy text starts so.
///
/// ```
/// let bytes = hostgate::Engine::compile("allow a.io\n").unwrap().to_bytes();
/// assert_eq!(bytes[..8], hostgate::MAGIC);
/// assert!(std::str::from_utf8(&hostgate::MAGIC).is_err());
/// ```
pub const MAGIC: [u8; 8] = *b"\x89HGATE\r\n";

/// The engine file format this build reads and writes. Any change to what a byte of the file
/// means — the header, the sections, the encoding of a rule or a table node, the table's hash
/// function — gives a new number; a file of another number is refused, never guessed at.
///
/// ```
/// let bytes = hostgate::Engine::compile("allow a.io\n").unwrap().to_bytes();
/// assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), hostgate::FORMAT_VERSION);
/// ```
pub const FORMAT_VERSION: u32 = 2;

/// Written in native byte order: read back as another value, the file is from a machine of the
/// other byte order.
const BYTE_ORDER: u32 = 0x0102_0304;
/// Bytes the checksum does not cover: magic, version, byte order, word size, length, checksum.
const FIXED: usize = 40;
const SECTIONS: usize = 10;
/// Where the sections' table ends and the info block starts.
const INFO_AT: usize = FIXED + SECTIONS * 16;
/// Sections start on cache lines: the table's groups of nodes are laid out for 64-byte lines.
const ALIGN: usize = 64;

/// Sections, in file order.
const META: usize = 0;
/// The rules' columns (see `Rules`): shape and flags, lines, stored ranks, extras indices.
const RULES: usize = 1;
const LINES: usize = 2;
const RANKS: usize = 3;
const RULE_AUX: usize = 4;
const TAGS: usize = 5;
const NODES: usize = 6;
const LABELS: usize = 7;
const LISTS: usize = 8;
const PATTERN_REF: usize = 9;

/// Why bytes are not an engine this build can open.
///
/// ```
/// use hostgate::{Engine, EngineFileError};
/// let e = Engine::compile("allow a.io\n").unwrap();
/// let mut bytes = e.to_bytes();
/// let last = bytes.len() - 1;
/// bytes[last] ^= 1;
/// assert_eq!(Engine::from_bytes(&bytes).unwrap_err(), EngineFileError::Checksum);
/// assert_eq!(Engine::from_bytes(b"allow a.io\n").unwrap_err(), EngineFileError::NotEngineFile);
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineFileError {
    /// The bytes do not start with [`MAGIC`].
    NotEngineFile,
    /// Another format version (written by another hostgate release).
    Version {
        /// The file's format version.
        found: u32,
        /// The one this build reads ([`FORMAT_VERSION`]).
        supported: u32,
    },
    /// Written on a machine of the other byte order.
    ByteOrder,
    /// Written on a machine with another word size (bytes of a pointer).
    WordSize {
        /// The file's.
        found: u8,
        /// This machine's.
        expected: u8,
    },
    /// The bytes are shorter or longer than the header says (a truncated or appended file).
    Length {
        /// The length the header records.
        expected: u64,
        /// The bytes there are.
        found: u64,
    },
    /// The payload does not match its checksum.
    Checksum,
    /// The checksum holds but the contents are inconsistent (an index out of range, a section
    /// outside the file, …): the message says what.
    Corrupt(String),
}

impl fmt::Display for EngineFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineFileError::NotEngineFile => f.write_str("not an engine file (wrong magic)"),
            EngineFileError::Version { found, supported } => write!(
                f,
                "engine file format version {found}, this build reads version {supported}: \
                 compile the policy again with this hostgate"
            ),
            EngineFileError::ByteOrder => {
                f.write_str("engine file written on a machine of the other byte order")
            }
            EngineFileError::WordSize { found, expected } => write!(
                f,
                "engine file written for {}-bit words, this machine has {}-bit words",
                u32::from(*found) * 8,
                u32::from(*expected) * 8
            ),
            EngineFileError::Length { expected, found } => write!(
                f,
                "engine file is {found} bytes, its header says {expected} (truncated or appended to)"
            ),
            EngineFileError::Checksum => {
                f.write_str("engine file checksum mismatch (the file is damaged)")
            }
            EngineFileError::Corrupt(what) => write!(f, "engine file is inconsistent: {what}"),
        }
    }
}

impl std::error::Error for EngineFileError {}

fn corrupt(what: impl Into<String>) -> EngineFileError {
    EngineFileError::Corrupt(what.into())
}

/// What an engine file's header says about where it came from.
///
/// ```
/// let e = hostgate::Engine::compile("allow a.io\n").unwrap();
/// let bytes = e.to_bytes_with_source("egress.policy", b"allow a.io\n");
/// let info = hostgate::EngineFileInfo::read(&bytes).unwrap();
/// assert_eq!(info.source_name, "egress.policy");
/// assert_eq!(info.hostgate_version, env!("CARGO_PKG_VERSION"));
/// assert_eq!(info.format_version, hostgate::FORMAT_VERSION);
/// assert!(info.source_sha256.is_some());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineFileInfo {
    /// The file's format version.
    pub format_version: u32,
    /// The version of hostgate that wrote it.
    pub hostgate_version: String,
    /// The name of the policy source it was compiled from (empty when not recorded).
    pub source_name: String,
    /// The SHA-256 of that source's bytes, when recorded.
    pub source_sha256: Option<[u8; 32]>,
}

impl EngineFileInfo {
    /// Checks the header, length and checksum of an engine file and reads its info block
    /// (the sections are not checked: [`Engine::from_bytes`] does that).
    ///
    /// ```
    /// let bytes = hostgate::Engine::compile("allow a.io\n").unwrap().to_bytes();
    /// assert_eq!(hostgate::EngineFileInfo::read(&bytes).unwrap().source_name, "");
    /// assert!(hostgate::EngineFileInfo::read(&bytes[..100]).is_err());
    /// ```
    pub fn read(bytes: &[u8]) -> Result<EngineFileInfo, EngineFileError> {
        check_header(bytes)?;
        read_info(bytes)
    }
}

/// Whether `bytes` start like an engine file (its magic), whatever else is in them.
///
/// ```
/// let e = hostgate::Engine::compile("allow a.io\n").unwrap();
/// assert!(hostgate::is_engine_file(&e.to_bytes()));
/// assert!(!hostgate::is_engine_file(b"allow a.io\n"));
/// ```
pub fn is_engine_file(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

// ---- writing ----

/// Little helpers to encode the `META` section and the info block.
#[derive(Default)]
struct Out(Vec<u8>);

impl Out {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_ne_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_ne_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend_from_slice(b);
    }
    fn u32s(&mut self, v: &[u32]) {
        self.len(v.len());
        for &x in v {
            self.u32(x);
        }
    }
}

fn precedence_code(p: Precedence) -> u8 {
    match p {
        Precedence::FirstMatch => 0,
        Precedence::MostSpecific => 1,
        Precedence::DenyOverrides => 2,
    }
}

fn severity_code(s: Severity) -> u8 {
    match s {
        Severity::Error => 0,
        Severity::Warning => 1,
    }
}

impl Engine {
    /// The engine as an engine file, without a record of its source.
    ///
    /// The same engine always gives the same bytes. Open them with [`Engine::from_bytes`] (or
    /// map a file of them, see the `hostgate-map` crate): the engine opened gives the same
    /// verdicts, explanations, rule ids and lines as this one.
    ///
    /// ```
    /// use hostgate::{Engine, Query};
    /// let e = Engine::compile("deny api.leng.com id block-leng\nallow .leng.com\n").unwrap();
    /// let opened = Engine::from_bytes(&e.to_bytes()).unwrap();
    /// let p = opened.policy("default").unwrap();
    /// let v = opened.check(p, &Query::new("api.leng.com"));
    /// assert_eq!(v.rule.unwrap().id(), "block-leng");
    /// assert!(opened.check(p, &Query::new("www.leng.com")).is_allow());
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        self.write(None)
    }

    /// [`Engine::to_bytes`], recording the source it was compiled from: its name and the
    /// SHA-256 of its bytes (see [`EngineFileInfo`]).
    ///
    /// ```
    /// let text = "allow a.io\n";
    /// let e = hostgate::Engine::compile(text).unwrap();
    /// let bytes = e.to_bytes_with_source("a.policy", text.as_bytes());
    /// assert_eq!(hostgate::EngineFileInfo::read(&bytes).unwrap().source_name, "a.policy");
    /// ```
    pub fn to_bytes_with_source(&self, name: &str, source: &[u8]) -> Vec<u8> {
        let digest: [u8; 32] = Sha256::digest(source).into();
        self.write(Some((name, digest)))
    }

    fn write(&self, source: Option<(&str, [u8; 32])>) -> Vec<u8> {
        let meta = self.encode_meta();
        let (table, _, _, _) = self.table.parts();
        let sections: [&[u8]; SECTIONS] = [
            &meta,
            bytemuck::cast_slice(&self.rules.meta[..]),
            bytemuck::cast_slice(&self.rules.line[..]),
            bytemuck::cast_slice(&self.rules.rank[..]),
            bytemuck::cast_slice(&self.rules.aux[..]),
            table[0],
            table[1],
            table[2],
            table[3],
            bytemuck::cast_slice(&self.pattern_ref[..]),
        ];
        let mut info = Out::default();
        info.bytes(env!("CARGO_PKG_VERSION").as_bytes());
        info.bytes(source.map_or("", |s| s.0).as_bytes());
        match source {
            Some((_, digest)) => {
                info.u8(1);
                info.0.extend_from_slice(&digest);
            }
            None => info.u8(0),
        }
        let mut out = vec![0u8; INFO_AT];
        out.extend_from_slice(&info.0);
        let mut table_entries = Vec::with_capacity(SECTIONS);
        for s in sections {
            out.resize(out.len().next_multiple_of(ALIGN), 0);
            table_entries.push((out.len() as u64, s.len() as u64));
            out.extend_from_slice(s);
        }
        out[..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&BYTE_ORDER.to_ne_bytes());
        out[16] = core::mem::size_of::<usize>() as u8;
        let len = out.len() as u64;
        out[24..32].copy_from_slice(&len.to_ne_bytes());
        for (i, (off, n)) in table_entries.into_iter().enumerate() {
            let at = FIXED + i * 16;
            out[at..at + 8].copy_from_slice(&off.to_ne_bytes());
            out[at + 8..at + 16].copy_from_slice(&n.to_ne_bytes());
        }
        let sum = checksum(&out, None).0;
        out[32..40].copy_from_slice(&sum.to_ne_bytes());
        out
    }

    fn encode_meta(&self) -> Vec<u8> {
        let mut o = Out::default();
        let (_, home_groups, max_labels, last_label_rules) = self.table.parts();
        o.u64(home_groups);
        o.u32(max_labels);
        o.u8(u8::from(last_label_rules));
        o.len(self.policies.len());
        for p in &self.policies {
            o.bytes(p.name.as_bytes());
            o.u8(precedence_code(p.precedence));
            o.u8(u8::from(p.default == Action::Allow));
            o.u32(p.first_rule);
            o.u32(p.rule_count);
            o.u32s(&p.any);
            o.u32(p.regex_min_rank);
            o.u32(p.received_min_rank);
        }
        o.len(self.aux.len());
        for a in &self.aux {
            o.u32(a.glob);
            o.u32(a.ports_off);
            o.u32(a.ports_len);
        }
        o.len(self.globs.len());
        for g in &self.globs {
            o.len(g.len());
            for label in g {
                o.bytes(label);
            }
        }
        o.bytes(&self.ips.v4_lens);
        o.bytes(&self.ips.v6_lens);
        // Sorted, so that one engine always gives the same bytes.
        let mut ips: Vec<_> = self.ips.map.iter().collect();
        ips.sort_unstable_by_key(|(k, _)| **k);
        o.len(ips.len());
        for (&(len, addr), list) in ips {
            o.u8(len);
            o.0.extend_from_slice(&addr.to_ne_bytes());
            o.u32s(list);
        }
        o.len(self.regex_sources.len());
        for (i, src) in self.regex_sources.iter().enumerate() {
            o.bytes(src.as_bytes());
            let list = self.regexes.as_ref().and_then(|r| r.rules.get(i));
            o.u32s(list.map_or(&[][..], |l| &l[..]));
        }
        o.len(self.ports.len());
        for &(lo, hi) in &self.ports {
            o.u32(u32::from(lo) << 16 | u32::from(hi));
        }
        o.bytes(self.ids.as_bytes());
        o.len(self.named_ids.len());
        for &(g, off, len) in &self.named_ids {
            o.u32(g);
            o.u32(off);
            o.u32(len);
        }
        o.len(self.cidrs.len());
        for &(ip, len) in &self.cidrs {
            match ip {
                IpAddr::V4(v4) => {
                    o.u8(4);
                    o.0.extend_from_slice(&v4.octets());
                }
                IpAddr::V6(v6) => {
                    o.u8(6);
                    o.0.extend_from_slice(&v6.octets());
                }
            }
            o.u8(len);
        }
        o.len(self.warnings.len());
        for w in &self.warnings {
            o.u8(severity_code(w.severity));
            o.u32(w.line);
            o.u32(w.column);
            o.bytes(w.message.as_bytes());
            match &w.help {
                Some(h) => {
                    o.u8(1);
                    o.bytes(h.as_bytes());
                }
                None => o.u8(0),
            }
        }
        o.0
    }
}

// ---- reading ----

/// A reader of the `META` section and the info block; every read is bounds-checked.
struct In<'a> {
    b: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> In<'a> {
    fn new(b: &'a [u8], what: &'static str) -> In<'a> {
        In { b, at: 0, what }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], EngineFileError> {
        let end = self.at.checked_add(n);
        let got = end.and_then(|end| self.b.get(self.at..end));
        match (got, end) {
            (Some(got), Some(end)) => {
                self.at = end;
                Ok(got)
            }
            _ => Err(corrupt(format!("the {} ends early", self.what))),
        }
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], EngineFileError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, EngineFileError> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, EngineFileError> {
        Ok(u32::from_ne_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, EngineFileError> {
        Ok(u64::from_ne_bytes(self.array()?))
    }
    /// A count of items of at least `min_size` bytes each: never more than the bytes left
    /// could hold, so a bad count cannot make a huge allocation.
    fn count(&mut self, min_size: usize) -> Result<usize, EngineFileError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size.max(1)) > self.b.len() - self.at {
            return Err(corrupt(format!(
                "the {} counts more items than it holds",
                self.what
            )));
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<&'a [u8], EngineFileError> {
        let n = self.count(1)?;
        self.take(n)
    }
    fn string(&mut self) -> Result<String, EngineFileError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec())
            .map_err(|_| corrupt(format!("a text in the {} is not UTF-8", self.what)))
    }
    fn u32s(&mut self) -> Result<Vec<u32>, EngineFileError> {
        let n = self.count(4)?;
        (0..n).map(|_| self.u32()).collect()
    }
}

/// Header checks in the order that makes each message true: magic, version (the rest of the
/// header may differ in another version), byte order, word size, length, checksum.
fn check_header(b: &[u8]) -> Result<Option<Scan>, EngineFileError> {
    if !is_engine_file(b) {
        return Err(EngineFileError::NotEngineFile);
    }
    let word = |at: usize| -> Option<[u8; 4]> { b.get(at..at + 4)?.try_into().ok() };
    let Some(version) = word(8) else {
        return Err(EngineFileError::Length {
            expected: FIXED as u64,
            found: b.len() as u64,
        });
    };
    let version = u32::from_le_bytes(version);
    if version != FORMAT_VERSION {
        return Err(EngineFileError::Version {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if b.len() < INFO_AT {
        return Err(EngineFileError::Length {
            expected: INFO_AT as u64,
            found: b.len() as u64,
        });
    }
    if word(12).map(u32::from_ne_bytes) != Some(BYTE_ORDER) {
        return Err(EngineFileError::ByteOrder);
    }
    let here = core::mem::size_of::<usize>() as u8;
    if b[16] != here {
        return Err(EngineFileError::WordSize {
            found: b[16],
            expected: here,
        });
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&b[24..32]);
    let len = u64::from_ne_bytes(len);
    if len != b.len() as u64 {
        return Err(EngineFileError::Length {
            expected: len,
            found: b.len() as u64,
        });
    }
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&b[32..40]);
    let (found, scan) = checksum_and_scan(b);
    if found != u64::from_ne_bytes(sum) {
        return Err(EngineFileError::Checksum);
    }
    Ok(scan)
}

/// The checksum is over the payload (every byte after the fixed header) in blocks of this
/// many bytes: the XXH3-64 of each block, then the XXH3-64 of those digests in order (as
/// native `u64`s). Blocks let two threads share a large file, and each block is small enough
/// to stay in the core's cache while the items in it are checked right after it is hashed.
const BLOCK: usize = 256 << 10;

/// Payloads from this size are checksummed on two threads where there are two cores.
const PARALLEL_MIN: usize = 8 << 20;

/// What the open-time checks of the rules, their pattern references and the table's nodes
/// found, gathered in the checksum's pass (see `checksum_and_scan`).
#[derive(Clone, Copy, Debug)]
struct Scan {
    nodes: NodeScan,
    /// Every rule is plain (see `plain_meta`): what holds for most rules, so that the full
    /// check of each rule can be skipped.
    plain: bool,
    /// Bit `s` set when some rule has shape `s` (its `u8`, see `Shape`).
    shapes: u8,
    /// The largest pattern reference.
    max_ref: u32,
}

impl Scan {
    fn new() -> Scan {
        Scan {
            nodes: NodeScan::default(),
            plain: true,
            shapes: 0,
            max_ref: 0,
        }
    }

    fn merge(&mut self, other: Scan) {
        self.nodes.merge(other.nodes);
        self.plain &= other.plain;
        self.shapes |= other.shapes;
        self.max_ref = self.max_ref.max(other.max_ref);
    }
}

/// The three arrays the checksum's pass checks, each as it lies in the file.
struct Scanned<'a> {
    rules: (usize, &'a [u16]),
    nodes: (usize, &'a [Node]),
    refs: (usize, &'a [u32]),
    slots: u64,
    labels_len: u64,
}

/// The items of `items` (starting at file offset `off`) whose first byte is in `from..to`.
fn items_in<T>((off, items): (usize, &[T]), from: usize, to: usize) -> &[T] {
    let size = core::mem::size_of::<T>();
    let first = |at: usize| at.saturating_sub(off).div_ceil(size).min(items.len());
    &items[first(from)..first(to).max(first(from))]
}

impl Scanned<'_> {
    /// Checks the items that start in `from..to` (just hashed, so still in cache).
    fn scan(&self, from: usize, to: usize, s: &mut Scan) {
        let (mut plain, mut shapes) = (true, 0u8);
        for &meta in items_in(self.rules, from, to) {
            plain &= plain_meta(meta);
            shapes |= 1 << ((meta >> 8) & 7);
        }
        s.plain &= plain;
        s.shapes |= shapes;
        let n_rules = self.rules.1.len() as u32;
        s.nodes.add(
            items_in(self.nodes, from, to),
            self.slots,
            self.labels_len,
            n_rules,
        );
        s.max_ref = items_in(self.refs, from, to)
            .iter()
            .fold(s.max_ref, |m, &x| m.max(x));
    }
}

/// The digests of blocks `blocks` of the payload, and the scan of the items in them.
fn blocks(
    b: &[u8],
    blocks: core::ops::Range<usize>,
    scanned: Option<&Scanned<'_>>,
) -> (Vec<u64>, Scan) {
    let mut scan = Scan::new();
    let digests = blocks
        .map(|k| {
            let from = FIXED + k * BLOCK;
            let to = (from + BLOCK).min(b.len());
            let digest = twox_hash::XxHash3_64::oneshot(&b[from..to]);
            if let Some(s) = scanned {
                s.scan(from, to, &mut scan);
            }
            digest
        })
        .collect();
    (digests, scan)
}

/// The checksum of the payload and, in the same pass, the scans of the rules, the pattern
/// references and the table's nodes, so that opening reads the file from memory once. The
/// scan is `None` when the section table does not place those sections where they can be read
/// as items (the checks then read the arrays themselves); its findings are used only once the
/// checksum holds.
fn checksum_and_scan(b: &[u8]) -> (u64, Option<Scan>) {
    let scanned = scanned(b);
    let (sum, scan) = checksum(b, scanned.as_ref());
    (sum, scanned.map(|_| scan))
}

/// The payload's checksum (see `BLOCK`), scanning the items of `scanned` on the way when given
/// (a writer has nothing to check).
fn checksum(b: &[u8], scanned: Option<&Scanned<'_>>) -> (u64, Scan) {
    let n = (b.len() - FIXED).div_ceil(BLOCK);
    let (digests, scan) = if b.len() - FIXED >= PARALLEL_MIN && policy_text::two_cores() {
        // The second half on a scoped thread; if it cannot start, all of it here.
        let half = n / 2;
        std::thread::scope(|s| {
            let second = std::thread::Builder::new()
                .spawn_scoped(s, || blocks(b, half..n, scanned))
                .ok();
            let (mut d, mut scan) = blocks(b, 0..half, scanned);
            let (d2, s2) = match second.map(|h| h.join()) {
                Some(Ok(done)) => done,
                _ => blocks(b, half..n, scanned),
            };
            d.extend(d2);
            scan.merge(s2);
            (d, scan)
        })
    } else {
        blocks(b, 0..n, scanned)
    };
    (
        twox_hash::XxHash3_64::oneshot(bytemuck::cast_slice(&digests)),
        scan,
    )
}

/// Where the arrays the checksum's pass checks are, when the section table places them as
/// whole, aligned items.
fn scanned(b: &[u8]) -> Option<Scanned<'_>> {
    let place = |i: usize, size: usize| section(b, i).ok().filter(|&(_, len)| len % size == 0);
    let (r, n, l, p) = (
        place(RULES, 2)?,
        place(NODES, core::mem::size_of::<Node>())?,
        place(LABELS, 1)?,
        place(PATTERN_REF, 4)?,
    );
    let rules: &[u16] = bytemuck::try_cast_slice(&b[r.0..r.0 + r.1]).ok()?;
    let nodes: &[Node] = bytemuck::try_cast_slice(&b[n.0..n.0 + n.1]).ok()?;
    let refs: &[u32] = bytemuck::try_cast_slice(&b[p.0..p.0 + p.1]).ok()?;
    Some(Scanned {
        rules: (r.0, rules),
        nodes: (n.0, nodes),
        refs: (p.0, refs),
        slots: nodes.len() as u64,
        labels_len: l.1 as u64,
    })
}

fn read_info(b: &[u8]) -> Result<EngineFileInfo, EngineFileError> {
    let mut r = In::new(b.get(INFO_AT..).unwrap_or(&[]), "info block");
    let hostgate_version = r.string()?;
    let source_name = r.string()?;
    let source_sha256 = match r.u8()? {
        0 => None,
        1 => Some(r.array::<32>()?),
        _ => return Err(corrupt("the info block's digest flag is not 0 or 1")),
    };
    Ok(EngineFileInfo {
        format_version: FORMAT_VERSION,
        hostgate_version,
        source_name,
        source_sha256,
    })
}

/// Where the bytes of a section are, checked to lie inside the file and start aligned.
fn section(b: &[u8], i: usize) -> Result<(usize, usize), EngineFileError> {
    let at = FIXED + i * 16;
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    let off = u64::from_ne_bytes(w);
    w.copy_from_slice(&b[at + 8..at + 16]);
    let len = u64::from_ne_bytes(w);
    let end = off.checked_add(len);
    if off < INFO_AT as u64 || off % ALIGN as u64 != 0 || end.map_or(true, |e| e > b.len() as u64) {
        return Err(corrupt(format!("section {i} lies outside the file")));
    }
    Ok((off as usize, len as usize))
}

/// Where an engine's large arrays are read from.
enum Src<'a> {
    /// In place, from shared bytes (falling back to a copy if a section is not aligned there).
    Shared(&'a SharedBytes),
    /// Copied out of borrowed bytes (onto huge pages when large, see `pages`).
    Copy(&'a [u8]),
}

impl Src<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Src::Shared(s) => (***s).as_ref(),
            Src::Copy(b) => b,
        }
    }

    fn store<T: Pod>(&self, i: usize, what: &str) -> Result<Store<T>, EngineFileError> {
        let (off, len) = section(self.bytes(), i)?;
        if len % core::mem::size_of::<T>() != 0 {
            return Err(corrupt(format!(
                "the {what} section is not a whole number of items"
            )));
        }
        if let Src::Shared(s) = self {
            if let Some(store) = Store::shared(s, off, len) {
                return Ok(store);
            }
        }
        let mut v = vec![T::zeroed(); len / core::mem::size_of::<T>()];
        bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(&self.bytes()[off..off + len]);
        let mut store = Store::from(v);
        store.freeze();
        Ok(store)
    }
}

impl Engine {
    /// Opens an engine file held in memory, copying its arrays (onto huge pages where they are
    /// large, see [`Engine::compile`]'s engine): the bytes are not needed afterwards.
    ///
    /// Every check of the format is made (see [`EngineFileError`]): whatever the bytes, this
    /// returns an engine whose lookups cannot fail, or an error.
    ///
    /// ```
    /// use hostgate::{Engine, EngineFileError};
    /// let bytes = Engine::compile("allow a.io\n").unwrap().to_bytes();
    /// assert!(Engine::from_bytes(&bytes).is_ok());
    /// assert!(matches!(
    ///     Engine::from_bytes(&bytes[..bytes.len() - 1]),
    ///     Err(EngineFileError::Length { .. })
    /// ));
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Engine, EngineFileError> {
        Engine::open_src(Src::Copy(bytes))
    }

    /// Opens an engine file from shared bytes (a mapped file: see the `hostgate-map` crate)
    /// and reads its large arrays in place, without a copy; the engine keeps the bytes alive.
    /// The same checks as [`Engine::from_bytes`]. Sections that are not 8-byte aligned in
    /// memory (bytes at an odd address) are copied instead.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use hostgate::{Engine, Query, SharedBytes};
    /// let bytes = Engine::compile("allow .kadath.io\n").unwrap().to_bytes();
    /// let shared: SharedBytes = Arc::new(bytes);
    /// let e = Engine::from_shared(&shared).unwrap();
    /// assert!(e.check(e.default_policy(), &Query::new("api.kadath.io")).is_allow());
    /// ```
    pub fn from_shared(bytes: &SharedBytes) -> Result<Engine, EngineFileError> {
        Engine::open_src(Src::Shared(bytes))
    }

    /// Whether the engine's large arrays are read in place from shared bytes (see
    /// [`Engine::from_shared`]), rather than owned.
    ///
    /// ```
    /// let e = hostgate::Engine::compile("allow a.io\n").unwrap();
    /// assert!(!e.is_shared());
    /// let shared: hostgate::SharedBytes = std::sync::Arc::new(e.to_bytes());
    /// assert!(hostgate::Engine::from_shared(&shared).unwrap().is_shared());
    /// ```
    pub fn is_shared(&self) -> bool {
        self.table.is_shared() && self.rules.meta.is_shared()
    }

    fn open_src(src: Src<'_>) -> Result<Engine, EngineFileError> {
        let b = src.bytes();
        let scan = check_header(b)?;
        read_info(b)?;
        let meta: Store<u16> = src.store(RULES, "rule")?;
        if meta.len() >= MAX_RULES {
            return Err(corrupt(format!(
                "{} rules, more than an engine holds",
                meta.len()
            )));
        }
        let n_rules = meta.len() as u32;
        let (off, len) = section(b, META)?;
        let mut m = In::new(&b[off..off + len], "metadata section");
        let home_groups = m.u64()?;
        let max_labels = m.u32()?;
        let last_label_rules = match m.u8()? {
            0 => false,
            1 => true,
            x => return Err(corrupt(format!("the last-label flag is {x}, not 0 or 1"))),
        };

        let n = m.count(20)?;
        let mut policies = Vec::with_capacity(n);
        let mut by_name = HashMap::with_capacity(n);
        let mut next_rule = 0u32;
        for i in 0..n {
            let name = m.string()?;
            let precedence = match m.u8()? {
                0 => Precedence::FirstMatch,
                1 => Precedence::MostSpecific,
                2 => Precedence::DenyOverrides,
                x => return Err(corrupt(format!("policy {i} has precedence code {x}"))),
            };
            let default = match m.u8()? {
                0 => Action::Deny,
                1 => Action::Allow,
                x => return Err(corrupt(format!("policy {i} has default code {x}"))),
            };
            let first_rule = m.u32()?;
            let rule_count = m.u32()?;
            if first_rule != next_rule || rule_count > n_rules - next_rule {
                return Err(corrupt(format!("the rules of policy {i} are out of range")));
            }
            next_rule += rule_count;
            let any = m.u32s()?;
            if any
                .iter()
                .any(|&g| g.wrapping_sub(first_rule) >= rule_count)
            {
                return Err(corrupt(format!(
                    "a `*` rule of policy {i} is not one of its rules"
                )));
            }
            let regex_min_rank = m.u32()?;
            let received_min_rank = m.u32()?;
            if by_name.insert(name.clone(), i as u32).is_some() {
                return Err(corrupt(format!("two policies are named `{name}`")));
            }
            policies.push(PolicyMeta {
                name,
                precedence,
                default,
                first_rule,
                rule_count,
                any,
                regex_min_rank,
                received_min_rank,
            });
        }
        if next_rule != n_rules {
            return Err(corrupt("rules that belong to no policy"));
        }
        let policy_of = |g: u32| policy_index(&policies, g);
        let sorted_rules = |list: &[u32]| {
            list.iter().all(|&g| g < n_rules)
                && list.windows(2).all(|w| policy_of(w[0]) <= policy_of(w[1]))
        };

        let n = m.count(12)?;
        let mut aux = Vec::with_capacity(n);
        for _ in 0..n {
            aux.push(Aux {
                glob: m.u32()?,
                ports_off: m.u32()?,
                ports_len: m.u32()?,
            });
        }
        let n = m.count(4)?;
        let mut globs = Vec::with_capacity(n);
        for _ in 0..n {
            let labels = m.count(4)?;
            let mut g = Vec::with_capacity(labels);
            for _ in 0..labels {
                g.push(m.bytes()?.to_vec());
            }
            globs.push(g);
        }
        let mut ips = IpTable {
            v4_lens: m.bytes()?.to_vec(),
            v6_lens: m.bytes()?.to_vec(),
            ..IpTable::default()
        };
        if ips.v4_lens.iter().any(|&l| l > 32) || ips.v6_lens.iter().any(|&l| l > 128) {
            return Err(corrupt("a CIDR prefix length is out of range"));
        }
        let n = m.count(21)?;
        for _ in 0..n {
            let len = m.u8()?;
            let addr = u128::from_ne_bytes(m.array()?);
            let list = m.u32s()?;
            if !sorted_rules(&list) {
                return Err(corrupt(
                    "an IP rule list names a rule out of range or is not sorted",
                ));
            }
            ips.map.insert((len, addr), list);
        }
        let n = m.count(8)?;
        let mut regex_sources = Vec::with_capacity(n);
        let mut regex_rules = Vec::with_capacity(n);
        for _ in 0..n {
            regex_sources.push(m.string()?);
            let list = m.u32s()?;
            if !sorted_rules(&list) {
                return Err(corrupt("a regex rule list names a rule out of range"));
            }
            regex_rules.push(list);
        }
        let n = m.count(4)?;
        let mut ports = Vec::with_capacity(n);
        for _ in 0..n {
            let w = m.u32()?;
            ports.push(((w >> 16) as u16, w as u16));
        }
        let ids = m.string()?;
        let n = m.count(12)?;
        let mut named_ids = Vec::with_capacity(n);
        for _ in 0..n {
            let (g, off, len) = (m.u32()?, m.u32()?, m.u32()?);
            let in_arena = (off as usize)
                .checked_add(len as usize)
                .and_then(|end| ids.get(off as usize..end))
                .is_some();
            if g >= n_rules || !in_arena {
                return Err(corrupt(format!("the id of rule {g} is out of range")));
            }
            named_ids.push((g, off, len));
        }
        if !named_ids.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err(corrupt("rule ids are not sorted by rule"));
        }
        let n = m.count(6)?;
        let mut cidrs = Vec::with_capacity(n);
        for _ in 0..n {
            let ip = match m.u8()? {
                4 => IpAddr::from(m.array::<4>()?),
                6 => IpAddr::from(m.array::<16>()?),
                x => return Err(corrupt(format!("a CIDR of IP version {x}"))),
            };
            let len = m.u8()?;
            if len > if ip.is_ipv4() { 32 } else { 128 } {
                return Err(corrupt(format!("the CIDR {ip}/{len}")));
            }
            cidrs.push((ip, len));
        }
        let n = m.count(14)?;
        let mut warnings = Vec::with_capacity(n);
        for _ in 0..n {
            let severity = match m.u8()? {
                0 => Severity::Error,
                1 => Severity::Warning,
                x => return Err(corrupt(format!("a diagnostic of severity {x}"))),
            };
            let (line, column) = (m.u32()?, m.u32()?);
            let mut d = Diagnostic::new(severity, line, column, m.string()?);
            d.help = match m.u8()? {
                0 => None,
                1 => Some(m.string()?),
                _ => return Err(corrupt("a diagnostic's help flag is not 0 or 1")),
            };
            warnings.push(d);
        }
        if m.at != m.b.len() {
            return Err(corrupt("the metadata section has bytes past its end"));
        }

        let n = meta.len();
        let line: Store<u32> = src.store(LINES, "rule line")?;
        if line.len() != n {
            return Err(corrupt("the rule lines do not match the rules"));
        }
        let rank: Store<u32> = src.store(RANKS, "rule rank")?;
        let most_specific = policies
            .iter()
            .any(|p| p.precedence == Precedence::MostSpecific);
        if rank.len() != if most_specific { n } else { 0 } {
            return Err(corrupt(
                "the stored ranks do not match the rules (they are stored exactly when a \
                 policy is most-specific)",
            ));
        }
        let rule_aux: Store<u32> = src.store(RULE_AUX, "rule extras index")?;
        if !rule_aux.is_empty() && rule_aux.len() != n {
            return Err(corrupt("the rules' extras indices do not match the rules"));
        }
        let pattern_ref: Store<u32> = src.store(PATTERN_REF, "pattern reference")?;
        if pattern_ref.len() != n {
            return Err(corrupt("the pattern references do not match the rules"));
        }
        // Every rule's extras exist (a column only some policies have).
        for (g, &a) in rule_aux.iter().enumerate() {
            if a == NO_AUX {
                continue;
            }
            let ports_ok = aux.get(a as usize).is_some_and(|a| {
                (a.ports_off as usize)
                    .checked_add(a.ports_len as usize)
                    .is_some_and(|end| end <= ports.len())
            });
            if !ports_ok {
                return Err(corrupt(format!("the extras of rule {g} are out of range")));
            }
        }
        let aux_of = |g: usize| aux.get(rule_aux.get(g).map_or(NO_AUX, |&a| a) as usize);
        let slots = section(b, NODES)?.1 / core::mem::size_of::<Node>();
        // Everything a rule refers to exists. Most rules are plain (see `plain_meta`); for them
        // one pass without branches (this runs on every open, over up to millions of rules) or
        // the checksum's pass, the full check only for the rest.
        let check_rule = |g: usize, m: u16, reference: u32| -> Result<(), EngineFileError> {
            let shape = crate::engine::shape_of(m);
            if m as u8 & RECEIVED != 0 && shape != Shape::Regex {
                return Err(corrupt(format!(
                    "rule {g} is marked `received` but is not a regex rule"
                )));
            }
            let reference = reference as usize;
            let ok = match shape {
                Shape::Glob => {
                    aux_of(g).is_some_and(|a| (a.glob as usize) < globs.len()) && reference < slots
                }
                Shape::Exact | Shape::OneLabel | Shape::Deep | Shape::Dot => reference < slots,
                Shape::Regex => reference < regex_sources.len(),
                Shape::Cidr => reference < cidrs.len(),
                Shape::Any => true,
            };
            if !ok {
                return Err(corrupt(format!(
                    "rule {g} refers to a pattern out of range"
                )));
            }
            Ok(())
        };
        // Per shape (its `u8`, see `Shape`), the bound of its pattern reference.
        let (slots64, regexes64, cidrs64) =
            (slots as u64, regex_sources.len() as u64, cidrs.len() as u64);
        let limits = [
            slots64,
            slots64,
            slots64,
            slots64,
            slots64,
            u64::MAX,
            regexes64,
            cidrs64,
        ];
        let plain_ok = |m: u16, reference: u32| {
            plain_meta(m) & (u64::from(reference) < limits[usize::from((m >> 8) & 7)])
        };
        // Found in the checksum's pass: every rule plain and every reference below the bound
        // of every shape there is, which is enough.
        let scanned_ok = scan.is_some_and(|s| {
            let bound = (0..8)
                .filter(|&i| s.shapes & (1 << i) != 0)
                .map(|i| limits[i])
                .min()
                .unwrap_or(u64::MAX);
            s.plain && u64::from(s.max_ref) < bound
        });
        let all_plain_ok = scanned_ok
            || meta
                .iter()
                .zip(pattern_ref.iter())
                .fold(true, |ok, (&m, &reference)| ok & plain_ok(m, reference));
        if !all_plain_ok {
            for (g, (&m, &reference)) in meta.iter().zip(pattern_ref.iter()).enumerate() {
                if !plain_ok(m, reference) {
                    check_rule(g, m, reference)?;
                }
            }
        }
        let table = SuffixTable::from_parts(
            src.store::<u64>(TAGS, "table tag")?,
            src.store::<Node>(NODES, "table node")?,
            src.store::<u8>(LABELS, "label")?,
            src.store::<u32>(LISTS, "rule list")?,
            home_groups,
            max_labels,
            last_label_rules,
            n_rules,
            policy_of,
            |g| aux_of(g as usize).is_some_and(|a| (a.glob as usize) < globs.len()),
            scan.map(|s| s.nodes.with_globs(s.shapes & (1 << Shape::Glob as u8) != 0)),
        )
        .map_err(EngineFileError::Corrupt)?;
        let rules = Rules {
            meta,
            line,
            rank,
            aux: rule_aux,
        };
        let regexes = build_set(&regex_sources, regex_rules, |g| {
            let p = policy_of(g);
            let deny = rules.get(g).is_some_and(|r| r.deny());
            let r = policies.get(p).map_or(u32::MAX, |pol| {
                pol.rank_of(g, deny, || rules.stored_rank(g))
            });
            (p as u32, r)
        })
        .map_err(|e| corrupt(format!("its regex rules do not compile: {e}")))?;
        Ok(Engine {
            policies,
            by_name,
            rules,
            aux,
            table,
            globs,
            ips,
            regexes,
            ports,
            ids,
            named_ids,
            pattern_ref,
            regex_sources,
            cidrs,
            warnings,
        })
    }
}
