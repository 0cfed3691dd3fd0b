//! Byte-parallel tests on one `u64` word (SWAR: SIMD within a register), shared by name
//! validation (`crate::name`), the matcher's tag probe (`crate::matcher`) and the HTTP head
//! scan (`crate::inspect::http`).
//!
//! Every result marks bytes by their high bit (`0x80` in the byte's position); combine results
//! with `&`, `|`, and find the first marked byte with `trailing_zeros() / 8`.

/// Every byte 0x01.
pub(crate) const LO: u64 = 0x0101_0101_0101_0101;
/// Every byte 0x80.
pub(crate) const HI: u64 = 0x8080_8080_8080_8080;

/// A word whose every byte is `c`.
#[inline(always)]
pub(crate) const fn splat(c: u8) -> u64 {
    LO * c as u64
}

/// The high bit of every zero byte of `v` is set, and of no byte below the first zero byte.
/// Bytes above the first zero may be flagged wrongly (a borrow runs through them): exact for
/// "is there a zero byte" and "where is the first one", callers re-check the others.
#[inline(always)]
pub(crate) fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v & HI
}

/// High bit set in each byte of `w` equal to `c`: exact, for any byte values (no borrow
/// crosses bytes, unlike [`zero_bytes`]).
#[inline(always)]
pub(crate) fn eq(w: u64, c: u8) -> u64 {
    let t = w ^ splat(c);
    !((t & !HI).wrapping_add(!HI) | t) & HI
}

/// [`ge`] before masking: the high bit of each byte is the answer, the other bits are noise.
/// No carry crosses bytes, since every byte of `w` is below 0x80 and `c` is at least 1.
#[inline(always)]
pub(crate) fn ge_raw(w: u64, c: u8) -> u64 {
    w.wrapping_add(splat(0x80 - c))
}

/// High bit set in each byte of `w` (all bytes < 0x80) that is ≥ `c`.
#[inline(always)]
pub(crate) fn ge(w: u64, c: u8) -> u64 {
    ge_raw(w, c) & HI
}

/// Up to eight bytes of `bytes` from `at` as a little-endian word, zero-padded; a fixed-size
/// load when eight are there (no `memcpy` call on the hot path).
#[inline(always)]
pub(crate) fn load_le(bytes: &[u8], at: usize) -> u64 {
    match bytes.get(at..at + 8) {
        Some(w) => u64::from_le_bytes(w.try_into().unwrap_or([0; 8])),
        None => {
            let mut w = 0u64;
            for (k, &b) in bytes.get(at..).unwrap_or(&[]).iter().enumerate().take(8) {
                w |= u64::from(b) << (8 * k);
            }
            w
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each helper against a byte-by-byte reading of the same question.
    #[test]
    fn word_tests_agree_with_bytes() {
        let words = [
            0u64,
            u64::MAX,
            0x0100_ff80_7f0a_0a00,
            u64::from_le_bytes(*b"a.b-Z_9\n"),
            u64::from_le_bytes(*b"\n\x00\x01\x0b\x09\xfe\x80\x7f"),
        ];
        let marks = |w: u64, f: &dyn Fn(u8) -> bool| -> u64 {
            (0..8).fold(0, |m, k| {
                if f((w >> (8 * k)) as u8) {
                    m | 0x80 << (8 * k)
                } else {
                    m
                }
            })
        };
        for w in words {
            let exact_zero = marks(w, &|b| b == 0);
            let z = zero_bytes(w);
            // Same answer up to and including the first zero byte.
            assert_eq!(z.trailing_zeros(), exact_zero.trailing_zeros(), "{w:#x}");
            assert_eq!(z == 0, exact_zero == 0, "{w:#x}");
            for c in [0u8, b'\n', b'.', 0x80, 0xff] {
                assert_eq!(eq(w, c), marks(w, &|b| b == c), "{w:#x} == {c:#x}");
            }
            let ascii = w & !HI;
            for c in [1u8, b'0', b'A', b'Z' + 1, 0x7f] {
                assert_eq!(
                    ge(ascii, c),
                    marks(ascii, &|b| b >= c),
                    "{ascii:#x} >= {c:#x}"
                );
            }
        }
        assert_eq!(splat(b'.'), u64::from_le_bytes([b'.'; 8]));
        assert_eq!(load_le(b"abc", 0), u64::from_le_bytes(*b"abc\0\0\0\0\0"));
        assert_eq!(load_le(b"0123456789", 1), u64::from_le_bytes(*b"12345678"));
        assert_eq!(load_le(b"01", 5), 0);
    }
}
