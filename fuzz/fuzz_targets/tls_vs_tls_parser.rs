//! Differential: hostgate's ClientHello parser against the tls-parser crate.
//!
//! The oracle is the one the fixture tests use (`crates/hostgate/tests/inspect/common.rs`, shared
//! here by path, not copied): what tls-parser makes of the buffer, as a list of host_name
//! entries. The rules:
//!
//! - hostgate complete: tls-parser finds exactly that one host_name (normalized the same);
//! - hostgate no-name with details: tls-parser finds no host_name;
//! - tls-parser failing while hostgate accepts is allowed only for a hello split over several
//!   records, which tls-parser cannot reassemble (the documented gap in
//!   `tests/inspect/fixtures.rs`);
//! - hostgate refusing what tls-parser reads a name from is allowed when the refusal is one of
//!   the documented strictness checks (the `tls::Malformed` rows of
//!   `tests/inspect/edge_cases.rs`), and never for a plain length over-run, which both parse the
//!   same way;
//! - hostgate asking for more bytes while tls-parser already read a name is a disagreement.
//!
//! One reading rule on top of the shared oracle: tls-parser reads the extensions with `many0`,
//! which stops silently at the first extension whose content it refuses (for example a
//! non-empty `post_handshake_auth`, whose content Go and hostgate ignore) and leaves the rest,
//! SNI included, unread. `tls_parser_sni` does not look at that remainder, so its "no
//! host_name" would be a wrong answer; such inputs are skipped (tls-parser has no opinion about
//! the SNI of a hello it did not read to the end).
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../crates/hostgate/tests/inspect/common.rs"]
mod inspect_common;

use hostgate::inspect::{tls, Limits, Outcome};
use libfuzzer_sys::fuzz_target;

/// The refusals documented as stricter than tls-parser (each has a row in the edge-case tests).
fn documented_strictness(e: tls::Malformed) -> bool {
    use tls::Malformed as M;
    match e {
        // Record layer: tls-parser reads one record and does not check these.
        M::RecordTooLong | M::EmptyRecord | M::UnexpectedRecord(_) | M::BadRecordVersion => true,
        // The first message must be the hello; bytes after it in its record are refused
        // (tls-parser reads every message in the record and looks for a hello among them).
        M::NotClientHello(_) | M::TrailingData => true,
        // The size cap.
        M::TooLarge => true,
        // Go's body checks, which tls-parser does not make.
        M::SessionIdTooLong
        | M::BadCipherSuites
        | M::EmptyCompression
        | M::ExtensionsLength
        | M::DuplicateExtension(_)
        | M::BadExtension(_)
        | M::PskNotLast
        | M::TooManyExtensions => true,
        // Server-name and ALPN grammar and the name itself.
        M::EmptyServerNameList
        | M::EmptyServerName
        | M::DuplicateServerName
        | M::InvalidServerName(_)
        | M::EmptyAlpnList
        | M::EmptyAlpnProtocol => true,
        // SSLv2 hellos carry no SNI; tls-parser reads none from them either.
        M::BadSslV2 => true,
        // A length running past its data: tls-parser must have failed too.
        M::Truncated => false,
        // Future variants: not documented here yet, so a disagreement to look at.
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// Whether tls-parser read the hello's whole extensions block (see the module docs).
fn tls_parser_read_every_extension(buf: &[u8]) -> bool {
    use tls_parser::{
        parse_tls_client_hello_extensions, parse_tls_plaintext, TlsMessage, TlsMessageHandshake,
    };
    let Ok((_, record)) = parse_tls_plaintext(buf) else {
        return true;
    };
    for msg in &record.msg {
        if let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) = msg {
            return match ch.ext {
                Some(ext) => {
                    matches!(parse_tls_client_hello_extensions(ext), Ok((rest, _)) if rest.is_empty())
                }
                None => true,
            };
        }
    }
    true
}

fuzz_target!(|data: &[u8]| {
    if !tls_parser_read_every_extension(data) {
        return;
    }
    let ours = tls::parse_client_hello(data, &Limits::default());
    let theirs = inspect_common::tls_parser_sni(data);
    match (&ours, &theirs) {
        (Outcome::Complete(h), Ok(names)) => {
            assert_eq!(
                names.len(),
                1,
                "hostgate found {:?}, tls-parser found {names:?}",
                h.server_name
            );
            let n = hostgate::normalize(&names[0]);
            assert_eq!(
                n.ok(),
                h.server_name,
                "hostgate and tls-parser read different names ({names:?})"
            );
        }
        (Outcome::NoName(Some(_)), Ok(names)) => {
            assert!(
                names.is_empty(),
                "hostgate found no host_name, tls-parser found {names:?}"
            );
        }
        (Outcome::Complete(h), Err(e)) | (Outcome::NoName(Some(h)), Err(e)) => {
            assert!(
                h.records > 1,
                "hostgate accepts a one-record hello ({:?}) that tls-parser refuses: {e}",
                h.server_name
            );
        }
        (Outcome::Malformed(m), Ok(names)) if !names.is_empty() => {
            assert!(
                documented_strictness(*m),
                "hostgate refuses ({m:?}) a hello tls-parser reads {names:?} from"
            );
        }
        (Outcome::NeedMore { .. }, Ok(names)) if !names.is_empty() => {
            panic!("hostgate needs more bytes, tls-parser already read {names:?}");
        }
        _ => {}
    }
});
