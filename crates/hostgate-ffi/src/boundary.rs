//! The one place where a Rust panic is stopped before it reaches C, and the helpers that turn
//! C pointers into Rust references after checking them.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::types::hostgate_result;

/// Runs `f`; if it panics, returns `on_panic` instead of unwinding into the caller.
///
/// Every exported function runs its whole body inside this (through [`ffi_boundary!`]).
/// `AssertUnwindSafe` is sound here because after a panic nothing the closure touched is looked
/// at again: engines are immutable, and out-parameters are only written on success.
pub(crate) fn boundary<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(payload) => {
            // Dropping a panic payload can itself panic; do not let that one escape either.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            on_panic
        }
    }
}

/// Defines the body of an exported function: `ffi_boundary!(ON_PANIC, { body })`.
///
/// The body is a closure evaluated inside [`boundary`]; `?` cannot be used across it, so bodies
/// use the `try_ffi!` macro on `Result<_, hostgate_result>` values.
macro_rules! ffi_boundary {
    ($on_panic:expr, $body:block) => {
        $crate::boundary::boundary($on_panic, move || $body)
    };
}
pub(crate) use ffi_boundary;

/// `expr?` for functions that return a `hostgate_result`.
macro_rules! try_ffi {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(code) => return code,
        }
    };
}
pub(crate) use try_ffi;

/// Borrows `len` bytes at `ptr`. `ptr` may be NULL only when `len` is 0.
///
/// # Safety
/// When `ptr` is not NULL it must point to `len` readable bytes that stay valid and unmodified
/// for `'a`.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], hostgate_result> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(hostgate_result::NullArgument);
    }
    if len > isize::MAX as usize {
        return Err(hostgate_result::InvalidArgument);
    }
    // SAFETY: `ptr` is non-NULL and `len` is non-zero and at most isize::MAX; the caller
    // guarantees `len` readable bytes at `ptr` that outlive `'a`. u8 has alignment 1.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows the object behind a `const T *`, or fails with `NULL_ARGUMENT`.
///
/// # Safety
/// When `ptr` is not NULL it must point to a live, properly aligned `T` valid for `'a`.
pub(crate) unsafe fn borrow<'a, T>(ptr: *const T) -> Result<&'a T, hostgate_result> {
    // SAFETY: the caller guarantees that a non-NULL `ptr` points to a live, aligned `T`.
    unsafe { ptr.as_ref() }.ok_or(hostgate_result::NullArgument)
}

/// Fails with `NULL_ARGUMENT` when an out-pointer is NULL.
pub(crate) fn out_ptr<T>(ptr: *mut T) -> Result<*mut T, hostgate_result> {
    if ptr.is_null() {
        Err(hostgate_result::NullArgument)
    } else {
        Ok(ptr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_turns_a_panic_into_the_fallback() {
        let r = boundary(hostgate_result::Panic, || -> hostgate_result {
            panic!("boom")
        });
        assert_eq!(r, hostgate_result::Panic);
        assert_eq!(boundary(0, || 7), 7);
    }

    #[test]
    fn bytes_checks_null_and_length() {
        // SAFETY: NULL with length 0 is the documented empty input.
        assert_eq!(unsafe { bytes(std::ptr::null(), 0) }, Ok(&[][..]));
        // SAFETY: NULL with a length is rejected before any read.
        let r = unsafe { bytes(std::ptr::null(), 3) };
        assert_eq!(r, Err(hostgate_result::NullArgument));
        let data = b"abc";
        // SAFETY: `data` holds 3 readable bytes for the whole test.
        assert_eq!(unsafe { bytes(data.as_ptr(), 2) }, Ok(&b"ab"[..]));
        // SAFETY: an over-long length is rejected before any read.
        let r = unsafe { bytes(data.as_ptr(), usize::MAX) };
        assert_eq!(r, Err(hostgate_result::InvalidArgument));
    }
}
