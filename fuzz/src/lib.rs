//! Helpers shared by the fuzz targets: split points, the incremental-consistency oracle and the
//! name checks. Every check panics with a message that says what property broke, so a crash
//! found by libFuzzer reads as a bug report.

use core::fmt::Debug;

use hostgate::inspect::Outcome;
use hostgate::Name;

/// Split points "taken from the input": a few deterministic positions derived from the bytes
/// themselves (so libFuzzer can steer them), plus the two ends. Every value is `<= len`.
pub fn split_points(data: &[u8]) -> Vec<usize> {
    let len = data.len();
    let mut out = vec![0, len / 2, len.saturating_sub(1)];
    if let Some(&[a, b]) = data.last_chunk::<2>() {
        out.push(usize::from(u16::from_be_bytes([a, b])) % (len + 1));
    }
    if let Some(&first) = data.first() {
        out.push(usize::from(first) % (len + 1));
    }
    let sum = data.iter().fold(0usize, |acc, &b| {
        acc.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    out.push(sum % (len + 1));
    out.sort_unstable();
    out.dedup();
    out
}

/// A decided outcome (anything but need-more) as text, for comparing a prefix's result with
/// the full buffer's. `Debug` of every parser result is semantic (names, ALPN entries, typed
/// errors), so equal text means the same answer.
pub fn decided<T: Debug, E: Debug>(o: &Outcome<T, E>) -> Option<String> {
    match o {
        Outcome::NeedMore { .. } => None,
        other => Some(format!("{other:?}")),
    }
}

/// The incremental promise of the parsers (`inspect` module docs: "call it again with the
/// longer buffer when it says NeedMore"; each parser keeps no state):
///
/// 1. once a prefix gives a decided answer (complete, no-name, malformed, not-this-protocol),
///    every longer buffer gives the very same answer — a decision never changes as bytes arrive;
/// 2. when the full buffer is complete (or no-name with details) and a prefix needs more, the
///    prefix's `at_least` is a lower bound: it never asks for bytes past the end of the message
///    (`consumed` is the message length the full parse reports).
///
/// `parse` must be the one-shot parse of its argument.
pub fn check_incremental<'a, T: Debug, E: Debug>(
    what: &str,
    buf: &'a [u8],
    splits: &[usize],
    parse: impl Fn(&'a [u8]) -> Outcome<T, E>,
    consumed: impl Fn(&T) -> Option<usize>,
) {
    let full = parse(buf);
    let full_text = decided(&full);
    let message_len = match &full {
        Outcome::Complete(t) | Outcome::NoName(Some(t)) => consumed(t),
        _ => None,
    };
    if let Some(n) = message_len {
        assert!(
            n <= buf.len(),
            "{what}: the message length {n} is past the buffer ({})",
            buf.len()
        );
        // The shortest buffer that holds the message decides it too.
        let exact = parse(&buf[..n]);
        assert_eq!(
            decided(&exact).as_deref(),
            full_text.as_deref(),
            "{what}: the message alone ({n} bytes) gives a different answer than with the bytes after it"
        );
        if n > 0 {
            let short = parse(&buf[..n - 1]);
            assert!(
                matches!(short, Outcome::NeedMore { .. }),
                "{what}: one byte short of the message ({} bytes) is not need-more: {short:?}",
                n - 1
            );
        }
    }
    for &k in splits {
        let Some(prefix) = buf.get(..k) else { continue };
        let p = parse(prefix);
        match (&p, &full_text) {
            (Outcome::NeedMore { at_least }, _) => {
                if let (Some(need), Some(n)) = (at_least, message_len) {
                    assert!(
                        k + need <= n,
                        "{what}: prefix of {k} bytes asks for at least {need} more, \
                         but the message ends at {n}"
                    );
                }
                assert!(
                    k < buf.len() || full_text.is_none(),
                    "{what}: one-shot parse differs between two calls"
                );
            }
            (_, None) => panic!(
                "{what}: the prefix of {k} bytes is decided ({p:?}) but the full buffer of {} \
                 bytes needs more",
                buf.len()
            ),
            (_, Some(f)) => {
                let t = decided(&p).unwrap_or_default();
                assert_eq!(
                    &t,
                    f,
                    "{what}: the prefix of {k} bytes decided differently from the full buffer of {} bytes",
                    buf.len()
                );
            }
        }
    }
}

/// A name that came out of a parser is normalized: normalizing its text again gives the same
/// name, its text is lowercase ASCII, and it fits the limits.
pub fn check_name(what: &str, name: &Name) {
    let text = name.as_str();
    assert!(!text.is_empty(), "{what}: empty name");
    assert!(
        text.len() <= hostgate::MAX_NAME_LEN,
        "{what}: name over {} bytes",
        hostgate::MAX_NAME_LEN
    );
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase()),
        "{what}: name {text:?} is not lowercase printable ASCII"
    );
    let again = hostgate::normalize(text)
        .unwrap_or_else(|e| panic!("{what}: the parser's name {text:?} does not normalize: {e}"));
    assert_eq!(
        &again, name,
        "{what}: normalizing {text:?} again changes it"
    );
}
