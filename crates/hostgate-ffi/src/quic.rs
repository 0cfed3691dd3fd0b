//! QUIC: the ClientHello of a client's Initial packets, one datagram at a time (a reassembler
//! handle, since a hello usually spans two datagrams) or from one datagram that carries it whole.

use std::time::{Duration, Instant};

use hostgate::inspect::quic::{Caps, Reassembler};
use hostgate::inspect::{Expect, Limits};

use crate::boundary::{borrow, bytes, ffi_boundary, out_ptr, try_ffi};
use crate::types::{hostgate_inspection, hostgate_result, hostgate_verdict};
use crate::{hostgate_engine, policy_id};

/// The caps of a QUIC reassembler; a field left 0 takes its default.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct hostgate_quic_caps {
    /// Datagrams a flow may take before its hello is complete (default 8).
    pub datagrams: usize,
    /// Flows held at once (default 1024); expired flows make room, past that a new flow is
    /// refused (status `MALFORMED`).
    pub flows: usize,
    /// Milliseconds a flow may take to complete its hello (default 5000).
    pub lifetime_ms: u32,
    /// Separate pieces of the CRYPTO stream held at once per flow (default 64).
    pub fragments: usize,
}

impl hostgate_quic_caps {
    fn to_core(self) -> Caps {
        let d = Caps::default();
        let or = |v: usize, default: usize| if v == 0 { default } else { v };
        Caps {
            datagrams: or(self.datagrams, d.datagrams),
            flows: or(self.flows, d.flows),
            lifetime: if self.lifetime_ms == 0 {
                d.lifetime
            } else {
                Duration::from_millis(u64::from(self.lifetime_ms))
            },
            fragments: or(self.fragments, d.fragments),
        }
    }
}

/// A table of QUIC flows being read: one per original destination connection ID, holding the
/// CRYPTO bytes received so far. Not thread-safe: use one per thread (or lock it).
pub struct hostgate_quic_reassembler {
    table: Reassembler,
}

/// Creates a reassembler with `caps` (NULL: every default) into `*out`; free it with
/// `hostgate_quic_reassembler_free`.
///
/// Results: `OK`, `NULL_ARGUMENT`, `PANIC`.
///
/// # Safety
/// `caps` must be NULL or readable; `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn hostgate_quic_reassembler_new(
    caps: *const hostgate_quic_caps,
    out: *mut *mut hostgate_quic_reassembler,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        let out = try_ffi!(out_ptr(out));
        let caps = if caps.is_null() {
            hostgate_quic_caps::default()
        } else {
            // SAFETY: the caller guarantees a non-NULL `caps` is readable.
            unsafe { caps.read() }
        };
        let table = Reassembler::new(Limits::default(), caps.to_core());
        let boxed = Box::into_raw(Box::new(hostgate_quic_reassembler { table }));
        // SAFETY: `out` is non-NULL (checked) and the caller guarantees it is writable.
        unsafe { out.write(boxed) };
        hostgate_result::Ok
    })
}

/// Frees a reassembler. NULL is a no-op.
///
/// # Safety
/// `r` must be NULL or a pointer from `hostgate_quic_reassembler_new` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn hostgate_quic_reassembler_free(r: *mut hostgate_quic_reassembler) {
    ffi_boundary!((), {
        if !r.is_null() {
            // SAFETY: a non-NULL `r` came from `Box::into_raw` in
            // `hostgate_quic_reassembler_new` and, per the contract, is freed once.
            drop(unsafe { Box::from_raw(r) });
        }
    })
}

/// Adds one client datagram (a UDP payload) and writes where its flow stands to `*out`, with
/// the statuses of `hostgate_inspect`: `NEED_MORE` until the hello is complete, then
/// `COMPLETE` (protocol `QUIC`, the SNI as the name, ALPN, ECH) or `NO_NAME`; `MALFORMED` for a
/// datagram that fails authentication or breaks a rule (the flow stays refused);
/// `UNRECOGNIZED` for bytes that are not a QUIC long header. Once a flow has its answer, later
/// datagrams of it give the same answer.
///
/// Results: `OK`, `NULL_ARGUMENT`, `INVALID_ARGUMENT`, `PANIC`.
///
/// # Safety
/// `r` must be a live reassembler not used by another thread at the same time; `buf` must
/// point to `len` readable bytes and `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn hostgate_quic_reassembler_push(
    r: *mut hostgate_quic_reassembler,
    buf: *const u8,
    len: usize,
    out: *mut hostgate_inspection,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        if r.is_null() {
            return hostgate_result::NullArgument;
        }
        // SAFETY: the caller guarantees `len` readable bytes at `buf`.
        let buf = try_ffi!(unsafe { bytes(buf, len) });
        let out = try_ffi!(out_ptr(out));
        // SAFETY: `r` is non-NULL (checked); the caller guarantees it is live and not shared.
        let table = unsafe { &mut (*r).table };
        let inspection = hostgate_inspection::from_inspection(&table.inspect(buf, Instant::now()));
        // SAFETY: `out` is non-NULL (checked) and the caller guarantees it is writable.
        unsafe { out.write(inspection) };
        hostgate_result::Ok
    })
}

/// `hostgate_quic_reassembler_push`, then the verdict of policy `policy` for the flow (as
/// `hostgate_inspect_check`: the SNI checked `via tls` with `port`, 0 for none; anything but
/// `COMPLETE` is denied — wait while `insp->status` is `NEED_MORE`). `insp` may be NULL.
///
/// Results: `OK`, `NULL_ARGUMENT`, `INVALID_ARGUMENT`, `UNKNOWN_POLICY`, `PANIC`.
///
/// # Safety
/// As `hostgate_quic_reassembler_push`; `engine` must be a live engine and `out` writable.
#[no_mangle]
pub unsafe extern "C" fn hostgate_quic_reassembler_check(
    r: *mut hostgate_quic_reassembler,
    engine: *const hostgate_engine,
    policy: u32,
    buf: *const u8,
    len: usize,
    port: u16,
    insp: *mut hostgate_inspection,
    out: *mut hostgate_verdict,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        if r.is_null() {
            return hostgate_result::NullArgument;
        }
        // SAFETY: the caller guarantees a non-NULL `engine` is live.
        let e = try_ffi!(unsafe { borrow(engine) });
        // SAFETY: the caller guarantees `len` readable bytes at `buf`.
        let buf = try_ffi!(unsafe { bytes(buf, len) });
        let out = try_ffi!(out_ptr(out));
        let policy = try_ffi!(policy_id(&e.engine, policy));
        // SAFETY: `r` is non-NULL (checked); the caller guarantees it is live and not shared.
        let table = unsafe { &mut (*r).table };
        let inspection = table.inspect(buf, Instant::now());
        let verdict =
            e.engine
                .verdict_for_inspection(policy, &inspection, (port != 0).then_some(port));
        let verdict = hostgate_verdict::from_verdict(e, &verdict);
        let inspection =
            (!insp.is_null()).then(|| hostgate_inspection::from_inspection(&inspection));
        // SAFETY: `out` is non-NULL (checked) and `insp` is written only when non-NULL; the
        // caller guarantees both are writable.
        unsafe {
            out.write(verdict);
            if let Some(i) = inspection {
                insp.write(i);
            }
        }
        hostgate_result::Ok
    })
}

/// Drops the flow of the original destination connection ID `dcid` (`dcid_len` bytes; in a
/// long header, the `buf[5]` bytes from `buf[6]`), for example once its verdict is acted on.
/// `*out_found` (when not NULL) says whether such a flow was held.
///
/// Results: `OK`, `NULL_ARGUMENT`, `PANIC`.
///
/// # Safety
/// `r` must be a live reassembler not used by another thread at the same time; `dcid` must
/// point to `dcid_len` readable bytes; `out_found` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn hostgate_quic_reassembler_forget(
    r: *mut hostgate_quic_reassembler,
    dcid: *const u8,
    dcid_len: usize,
    out_found: *mut bool,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        if r.is_null() {
            return hostgate_result::NullArgument;
        }
        // SAFETY: the caller guarantees `dcid_len` readable bytes at `dcid`.
        let dcid = try_ffi!(unsafe { bytes(dcid, dcid_len) });
        // SAFETY: `r` is non-NULL (checked); the caller guarantees it is live and not shared.
        let found = unsafe { (*r).table.forget(dcid) };
        if !out_found.is_null() {
            // SAFETY: the caller guarantees a non-NULL `out_found` is writable.
            unsafe { out_found.write(found) };
        }
        hostgate_result::Ok
    })
}

/// How many flows the reassembler holds (0 for NULL).
///
/// # Safety
/// `r` must be NULL or a live reassembler not being changed by another thread.
#[no_mangle]
pub unsafe extern "C" fn hostgate_quic_reassembler_len(
    r: *const hostgate_quic_reassembler,
) -> usize {
    ffi_boundary!(0, {
        // SAFETY: the caller guarantees a non-NULL `r` is live.
        match unsafe { borrow(r) } {
            Ok(r) => r.table.len(),
            Err(_) => 0,
        }
    })
}

/// Inspects one datagram that carries a client's QUIC Initial with its whole ClientHello (no
/// state kept; a hello that continues in another datagram is `NEED_MORE`: use a reassembler).
/// Protocol `QUIC`, via `TLS`; the ALPN list is not reported this way.
///
/// Results: `OK`, `NULL_ARGUMENT`, `INVALID_ARGUMENT`, `PANIC`.
///
/// # Safety
/// `buf` must point to `len` readable bytes and `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn hostgate_inspect_quic(
    buf: *const u8,
    len: usize,
    out: *mut hostgate_inspection,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        // SAFETY: the caller guarantees `len` readable bytes at `buf`.
        let buf = try_ffi!(unsafe { bytes(buf, len) });
        let out = try_ffi!(out_ptr(out));
        let inspection = hostgate_inspection::from_inspection(&hostgate::inspect::inspect_with(
            buf,
            Expect::Quic,
            &Limits::default(),
        ));
        // SAFETY: `out` is non-NULL (checked) and the caller guarantees it is writable.
        unsafe { out.write(inspection) };
        hostgate_result::Ok
    })
}
