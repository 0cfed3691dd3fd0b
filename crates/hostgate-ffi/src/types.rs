//! The C-visible value types: result codes, enums and plain structs.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, CStr};

use hostgate::{Action, Reason, Verdict, Via};

/// What a fallible hostgate function did. Every fallible function returns one of these; its
/// out-parameters are written only when it returns `HOSTGATE_RESULT_OK` (the compile error
/// object is the one exception: it is written only on failure).
///
/// `hostgate_result_name` gives the name of a code as a string.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum hostgate_result {
    /// Success: the out-parameters were written.
    Ok = 0,
    /// A required pointer argument was NULL (or a data pointer was NULL with a non-zero length).
    NullArgument = 1,
    /// An argument was out of range: an unknown `hostgate_via` value, a length over `PTRDIFF_MAX`,
    /// or a batch query whose bytes lie outside the names buffer.
    InvalidArgument = 2,
    /// The policy text is not valid UTF-8 (`*err` says where).
    InvalidUtf8 = 3,
    /// The policy text does not compile (`*err` holds every error with its line and column).
    CompileError = 4,
    /// No policy with that name or index exists in the engine.
    UnknownPolicy = 5,
    /// The policy exists but has no rule with that index (or the index was -1: no rule).
    UnknownRule = 6,
    /// A bug inside hostgate was caught at the C boundary; no out-parameter was written
    /// (except possibly part of a batch output array). Please report it.
    Panic = 7,
    /// A policy file could not be read (`*err` says which and why).
    IoError = 8,
    /// An engine file cannot be opened: not an engine file (for `hostgate_engine_open`), written
    /// by another format version or for another machine, truncated, damaged, or inconsistent
    /// (`*err` says which file and what is wrong).
    EngineFileError = 9,
}

/// What `hostgate_result_name` and friends return for a value outside their enum.
pub(crate) const UNKNOWN: &CStr = c"UNKNOWN";

impl hostgate_result {
    pub(crate) fn name(code: u32) -> &'static CStr {
        match code {
            0 => c"HOSTGATE_RESULT_OK",
            1 => c"HOSTGATE_RESULT_NULL_ARGUMENT",
            2 => c"HOSTGATE_RESULT_INVALID_ARGUMENT",
            3 => c"HOSTGATE_RESULT_INVALID_UTF8",
            4 => c"HOSTGATE_RESULT_COMPILE_ERROR",
            5 => c"HOSTGATE_RESULT_UNKNOWN_POLICY",
            6 => c"HOSTGATE_RESULT_UNKNOWN_RULE",
            7 => c"HOSTGATE_RESULT_PANIC",
            8 => c"HOSTGATE_RESULT_IO_ERROR",
            9 => c"HOSTGATE_RESULT_ENGINE_FILE_ERROR",
            _ => UNKNOWN,
        }
    }
}

/// Allow or deny. Deny is 0: a zeroed verdict fails closed.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum hostgate_action {
    /// Refuse the connection or query.
    Deny = 0,
    /// Let it through.
    Allow = 1,
}

/// Why a verdict is what it is.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum hostgate_reason {
    /// A rule matched; `rule`, `line` and `rule_id` name it.
    Matched = 0,
    /// No rule matched; the policy's `default` decided.
    Default = 1,
    /// The name is not a valid host name or IP literal: always deny.
    InvalidName = 2,
    /// The bytes inspected carried no usable name: always deny.
    NoName = 3,
}

/// Where a name came from. `HOSTGATE_VIA_ANY` means "unknown": a `via`-limited deny rule still
/// matches such a query (fail closed), a `via`-limited allow rule does not.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum hostgate_via {
    /// Unknown source.
    Any = 0,
    /// A TLS ClientHello's SNI (also QUIC's TLS).
    Tls = 1,
    /// An HTTP Host header or absolute-form request target.
    Http = 2,
    /// An HTTP CONNECT authority.
    Connect = 3,
    /// A DNS question.
    Dns = 4,
}

/// A `hostgate_via` as received from C: any 32-bit value, validated before use (a Rust enum
/// parameter would make an out-of-range value undefined behaviour). The header spells it
/// `hostgate_via`.
pub type ViaIn = u32;

/// A `hostgate_result` as received from C (see [`ViaIn`]). The header spells it
/// `hostgate_result`.
pub type ResultIn = u32;

/// A `hostgate_action` as received from C (see [`ViaIn`]).
pub type ActionIn = u32;

/// A `hostgate_reason` as received from C (see [`ViaIn`]).
pub type ReasonIn = u32;

pub(crate) fn via_from_c(via: ViaIn) -> Result<Option<Via>, hostgate_result> {
    match via {
        0 => Ok(None),
        1 => Ok(Some(Via::Tls)),
        2 => Ok(Some(Via::Http)),
        3 => Ok(Some(Via::Connect)),
        4 => Ok(Some(Via::Dns)),
        _ => Err(hostgate_result::InvalidArgument),
    }
}

/// The answer to one query.
///
/// `rule_id` points into the engine (valid until `hostgate_engine_free`) and is **not**
/// NUL-terminated: use `rule_id_len`. A zeroed `hostgate_verdict` reads as deny.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct hostgate_verdict {
    /// Allow or deny.
    pub action: hostgate_action,
    /// Why.
    pub reason: hostgate_reason,
    /// The index of the policy that was asked.
    pub policy: u32,
    /// The deciding rule's position in its policy (file order, from 0); -1 when no rule decided.
    pub rule: i32,
    /// The deciding rule's line in the policy text; 0 when no rule decided.
    pub line: u32,
    /// The deciding rule's id (its `id`, or `POLICY:LINE`); NULL when no rule decided.
    pub rule_id: *const c_char,
    /// The length of `rule_id` in bytes; 0 when no rule decided.
    pub rule_id_len: usize,
}

impl hostgate_verdict {
    pub(crate) fn from_verdict(e: &crate::hostgate_engine, v: &Verdict<'_>) -> hostgate_verdict {
        let (rule, line, rule_id, rule_id_len) = match v.rule {
            Some(r) => {
                let index = r.index();
                let id = e.rule_id(v.policy.index(), index).unwrap_or("");
                (
                    i32::try_from(index).unwrap_or(i32::MAX),
                    r.line(),
                    id.as_ptr().cast::<c_char>(),
                    id.len(),
                )
            }
            None => (-1, 0, std::ptr::null(), 0),
        };
        hostgate_verdict {
            action: match v.action {
                Action::Deny => hostgate_action::Deny,
                Action::Allow => hostgate_action::Allow,
            },
            reason: match v.reason {
                Reason::Matched => hostgate_reason::Matched,
                Reason::Default => hostgate_reason::Default,
                Reason::InvalidName => hostgate_reason::InvalidName,
                Reason::NoName => hostgate_reason::NoName,
                // A reason this ABI does not name yet; `action` still says what to do.
                _ => hostgate_reason::NoName,
            },
            policy: v.policy.index(),
            rule,
            line,
            rule_id,
            rule_id_len,
        }
    }
}

/// One query of a batch. The name is `len` bytes at `offset` in the batch's names buffer (not a
/// pointer, so that Go and Python can pass their own memory without copying).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct hostgate_query {
    /// Where the name starts in the names buffer.
    pub offset: usize,
    /// The name's length in bytes.
    pub len: usize,
    /// The destination port; 0 = none (a DNS question).
    pub port: u16,
    /// Where the name came from.
    pub via: ViaIn,
}

pub(crate) fn via_to_c(via: Option<Via>) -> hostgate_via {
    match via {
        None => hostgate_via::Any,
        Some(Via::Tls) => hostgate_via::Tls,
        Some(Via::Http) => hostgate_via::Http,
        Some(Via::Connect) => hostgate_via::Connect,
        Some(Via::Dns) => hostgate_via::Dns,
        // A source this ABI does not name yet: reported as unknown.
        Some(_) => hostgate_via::Any,
    }
}

/// The protocol `hostgate_inspect` recognized.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum hostgate_protocol {
    /// Not (yet) recognized.
    Unknown = 0,
    /// A TLS ClientHello.
    Tls = 1,
    /// An HTTP/1.x request head (including CONNECT).
    Http = 2,
    /// A DNS query (over TCP when detected in a stream).
    Dns = 3,
    /// A QUIC client Initial (its ClientHello, decrypted).
    Quic = 4,
}

/// What came of an inspection.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum hostgate_status {
    /// A name was extracted.
    Complete = 0,
    /// A valid prefix: call again with more bytes (`need` says how many more, when known).
    NeedMore = 1,
    /// Well-formed, but without a usable name.
    NoName = 2,
    /// Refused (`error` says why).
    Malformed = 3,
    /// No parser recognized the bytes.
    Unrecognized = 4,
}

/// What kind of name an inspection found.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum hostgate_name_kind {
    /// No name (status is not `HOSTGATE_STATUS_COMPLETE`).
    None = 0,
    /// A host name (lowercase A-labels).
    Name = 1,
    /// An IPv4 address (also an IPv4-mapped IPv6 address).
    Ipv4 = 2,
    /// An IPv6 address (without brackets).
    Ipv6 = 3,
}

/// The size of `hostgate_inspection.name`: a name (at most 253 bytes) and its NUL.
pub const HOSTGATE_NAME_CAPACITY: usize = 256;
/// The size of `hostgate_inspection.alpn`.
pub const HOSTGATE_ALPN_CAPACITY: usize = 256;
/// The size of `hostgate_inspection.error`.
pub const HOSTGATE_ERROR_CAPACITY: usize = 128;

/// What `hostgate_inspect` found in the first bytes of a stream. Self-contained (no pointers):
/// it may be copied and kept after the inspected buffer is gone.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct hostgate_inspection {
    /// The protocol recognized.
    pub protocol: hostgate_protocol,
    /// What came of it.
    pub status: hostgate_status,
    /// Where the name came from (SNI: TLS; Host: HTTP; CONNECT authority: CONNECT; DNS);
    /// `HOSTGATE_VIA_ANY` when the protocol is unknown.
    pub via: hostgate_via,
    /// What `name` holds.
    pub name_kind: hostgate_name_kind,
    /// The length of `name` in bytes (0 when none).
    pub name_len: u32,
    /// The normalized name, NUL-terminated; only when `status` is `HOSTGATE_STATUS_COMPLETE`.
    pub name: [c_char; HOSTGATE_NAME_CAPACITY],
    /// The port the request names (HTTP target, Host or CONNECT); 0 when none (TLS, DNS).
    pub port: u16,
    /// The DNS question type, 0 when not DNS.
    pub qtype: u16,
    /// 1 when the ClientHello carries an Encrypted Client Hello extension (the name is then the
    /// outer, public one), else 0.
    pub ech: u8,
    /// 1 when the ALPN list did not fit in `alpn` (whole protocols are kept), else 0.
    pub alpn_truncated: u8,
    /// How many ALPN protocols `alpn` holds.
    pub alpn_count: u16,
    /// How many bytes of `alpn` are used.
    pub alpn_len: u32,
    /// The offered ALPN protocols in TLS wire format: each one is a length byte and that many
    /// bytes.
    pub alpn: [u8; HOSTGATE_ALPN_CAPACITY],
    /// With `HOSTGATE_STATUS_NEED_MORE`: at least this many more bytes, when known (else 0).
    pub need: u64,
    /// With `HOSTGATE_STATUS_MALFORMED`: why, NUL-terminated (else the empty string).
    pub error: [c_char; HOSTGATE_ERROR_CAPACITY],
}

impl hostgate_inspection {
    pub(crate) fn from_inspection(i: &hostgate::inspect::Inspection<'_>) -> hostgate_inspection {
        use hostgate::inspect::{Protocol, Status};
        use hostgate::NameKind;
        use std::net::IpAddr;

        let mut out = hostgate_inspection {
            protocol: match i.protocol {
                Protocol::Tls => hostgate_protocol::Tls,
                Protocol::Http => hostgate_protocol::Http,
                Protocol::Dns => hostgate_protocol::Dns,
                Protocol::Quic => hostgate_protocol::Quic,
                Protocol::Unknown => hostgate_protocol::Unknown,
                _ => hostgate_protocol::Unknown,
            },
            status: match i.status {
                Status::Complete => hostgate_status::Complete,
                Status::NeedMore => hostgate_status::NeedMore,
                Status::NoName => hostgate_status::NoName,
                Status::Malformed => hostgate_status::Malformed,
                Status::Unrecognized => hostgate_status::Unrecognized,
                _ => hostgate_status::Unrecognized,
            },
            via: via_to_c(i.via),
            name_kind: hostgate_name_kind::None,
            name_len: 0,
            name: [0; HOSTGATE_NAME_CAPACITY],
            port: i.port.unwrap_or(0),
            qtype: i.qtype.unwrap_or(0),
            ech: u8::from(i.ech),
            alpn_truncated: 0,
            alpn_count: 0,
            alpn_len: 0,
            alpn: [0; HOSTGATE_ALPN_CAPACITY],
            need: i.need.map_or(0, |n| u64::try_from(n).unwrap_or(u64::MAX)),
            error: [0; HOSTGATE_ERROR_CAPACITY],
        };
        if let Some(name) = &i.name {
            let bytes = name.as_bytes();
            let n = bytes.len().min(HOSTGATE_NAME_CAPACITY - 1);
            for (dst, &src) in out.name.iter_mut().zip(&bytes[..n]) {
                *dst = src as c_char;
            }
            out.name_len = n as u32;
            out.name_kind = match name.kind() {
                NameKind::Name => hostgate_name_kind::Name,
                NameKind::Ip(IpAddr::V4(_)) => hostgate_name_kind::Ipv4,
                NameKind::Ip(IpAddr::V6(_)) => hostgate_name_kind::Ipv6,
                _ => hostgate_name_kind::None,
            };
        }
        let mut used = 0usize;
        for proto in i.alpn.iter() {
            let p = proto.as_bytes();
            if p.len() > 255 || used + 1 + p.len() > HOSTGATE_ALPN_CAPACITY {
                out.alpn_truncated = 1;
                break;
            }
            out.alpn[used] = p.len() as u8;
            out.alpn[used + 1..used + 1 + p.len()].copy_from_slice(p);
            used += 1 + p.len();
            out.alpn_count += 1;
        }
        out.alpn_len = used as u32;
        if let Some(e) = &i.error {
            let text = e.to_string();
            let n = text.len().min(HOSTGATE_ERROR_CAPACITY - 1);
            for (dst, &src) in out.error.iter_mut().zip(&text.as_bytes()[..n]) {
                *dst = if src == 0 {
                    b'?' as c_char
                } else {
                    src as c_char
                };
            }
        }
        out
    }
}
