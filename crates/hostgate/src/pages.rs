//! Storage for the matcher's large arrays: on transparent huge pages where Linux offers them,
//! or in place in the bytes of an engine file (see `crate::file`).
//!
//! A lookup at 200k rules touches a few random cache lines of a ~10 MB table. With 4 KiB pages
//! each of them is also a TLB miss, and under a hypervisor a miss walks two page tables: on the
//! bench VM that walk cost as much as the cache miss itself. With 2 MiB pages the whole table
//! needs six TLB entries. Linux's default THP mode (`madvise`) only gives huge pages to memory
//! that asks for them, which heap memory cannot do without `unsafe`, so a large array is copied
//! into an anonymous mapping advised `MADV_HUGEPAGE` once it is built. Elsewhere, under Miri, when
//! the mapping fails, or for arrays below one huge page, it stays an ordinary `Vec`.
//!
//! An engine opened from shared bytes (a mapped engine file) reads its arrays where they are:
//! the store then keeps the shared bytes alive and the slice of them it covers.

use bytemuck::Pod;
use core::ops::{Deref, DerefMut};
use std::sync::Arc;

/// Bytes an engine's arrays can be read from in place: a mapped engine file, or a buffer.
/// Shared, so that every array of an engine (and the engine's clones of it) keeps them alive.
///
/// ```
/// let bytes = hostgate::Engine::compile("allow a.io\n").unwrap().to_bytes();
/// let shared: hostgate::SharedBytes = std::sync::Arc::new(bytes);
/// assert!(hostgate::Engine::from_shared(&shared).is_ok());
/// ```
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// One huge page (x86-64 and aarch64 with 4 KiB base pages).
#[cfg(all(target_os = "linux", not(miri)))]
const HUGE: usize = 2 << 20;

/// A growable array while the table is built, then (see [`Store::freeze`]) a read-only one.
/// Writing to a frozen store first copies it back to the heap: nothing does after a build.
#[derive(Debug)]
pub(crate) struct Store<T: Pod> {
    /// The items while not mapped; empty while mapped.
    heap: Vec<T>,
    mapped: Option<Mapped>,
}

/// Memory an array lives in outside the heap.
enum Backing {
    /// An anonymous mapping on huge pages (see [`Store::freeze`]).
    #[cfg(all(target_os = "linux", not(miri)))]
    Anon(memmap2::Mmap),
    /// Shared bytes (an engine file). Only ever read, so unwind safety holds whatever the
    /// bytes' owner is: without the assertion a `dyn` owner would take `RefUnwindSafe` from
    /// `Engine`.
    Shared(std::panic::AssertUnwindSafe<SharedBytes>),
}

impl core::fmt::Debug for Backing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            #[cfg(all(target_os = "linux", not(miri)))]
            Backing::Anon(m) => write!(f, "Anon({} bytes)", m.len()),
            Backing::Shared(b) => write!(f, "Shared({} bytes)", (*b.0).as_ref().len()),
        }
    }
}

/// The bytes of an array in its backing.
type Bytes<'a> = &'a [u8];

self_cell::self_cell!(
    /// The backing and the array's bytes in it, taken once: a lookup reads the slice, not the
    /// backing (a shared one is behind a `dyn` call). Read-only, so a stray write into a built
    /// table faults instead of corrupting it.
    struct Mapped {
        owner: Backing,
        #[covariant]
        dependent: Bytes,
    }
    impl {Debug}
);

impl<T: Pod> Default for Store<T> {
    fn default() -> Self {
        Store::from(Vec::new())
    }
}

impl<T: Pod> From<Vec<T>> for Store<T> {
    fn from(heap: Vec<T>) -> Self {
        Store { heap, mapped: None }
    }
}

impl<T: Pod> Store<T> {
    /// The array as a `Vec`, to grow it; a frozen one is copied back to the heap first.
    pub(crate) fn vec_mut(&mut self) -> &mut Vec<T> {
        if self.mapped.is_some() {
            self.heap = self.to_vec();
            self.mapped = None;
        }
        &mut self.heap
    }

    /// Done growing: gives back spare capacity and, for an array of at least one huge page,
    /// moves it onto huge pages. Falls back to the heap on any error (the array is the same).
    pub(crate) fn freeze(&mut self) {
        self.heap.shrink_to_fit();
        #[cfg(all(target_os = "linux", not(miri)))]
        if self.mapped.is_none() {
            if let Some(m) = Self::map(&self.heap) {
                self.mapped = Some(m);
                self.heap = Vec::new();
            }
        }
    }

    /// The items at `bytes[start..start + len]` of shared bytes, read in place; `None` when
    /// that range is outside the bytes or not aligned for `T`, or `len` is not a whole number
    /// of items.
    pub(crate) fn shared(bytes: &SharedBytes, start: usize, len: usize) -> Option<Store<T>> {
        let end = start.checked_add(len)?;
        let all: &[u8] = (**bytes).as_ref();
        bytemuck::try_cast_slice::<u8, T>(all.get(start..end)?).ok()?;
        let mapped = Mapped::try_new(
            Backing::Shared(std::panic::AssertUnwindSafe(bytes.clone())),
            |b| match b {
                Backing::Shared(s) => (*s.0).as_ref().get(start..end).ok_or(()),
                #[cfg(all(target_os = "linux", not(miri)))]
                Backing::Anon(_) => Err(()),
            },
        )
        .ok()?;
        Some(Store {
            heap: Vec::new(),
            mapped: Some(mapped),
        })
    }

    #[cfg(all(target_os = "linux", not(miri)))]
    fn map(v: &[T]) -> Option<Mapped> {
        let len = core::mem::size_of_val(v);
        if len < HUGE {
            return None;
        }
        // Room to start at a 2 MiB boundary; the unused head is never touched, so never
        // backed by memory.
        let mut map = memmap2::MmapOptions::new()
            .len(len + HUGE)
            .map_anon()
            .ok()?;
        let start = map.as_ptr().align_offset(HUGE);
        // Advise only whole huge pages: a partly used last page would waste up to 2 MiB.
        map.advise_range(memmap2::Advice::HugePage, start, len / HUGE * HUGE)
            .ok()?;
        let dst = map.get_mut(start..start + len)?;
        dst.copy_from_slice(bytemuck::cast_slice(v));
        bytemuck::try_cast_slice::<u8, T>(dst).ok()?;
        let map = map.make_read_only().ok()?;
        Mapped::try_new(Backing::Anon(map), |b| match b {
            Backing::Anon(m) => m.get(start..start + len).ok_or(()),
            Backing::Shared(_) => Err(()),
        })
        .ok()
    }

    /// Whether the array is read in place from shared bytes.
    pub(crate) fn is_shared(&self) -> bool {
        matches!(
            self.mapped.as_ref().map(|m| m.borrow_owner()),
            Some(Backing::Shared(_))
        )
    }

    /// Bytes of memory the array holds (a mapping's untouched head not counted).
    pub(crate) fn bytes(&self) -> usize {
        if let Some(m) = &self.mapped {
            return m.borrow_dependent().len();
        }
        self.heap.capacity() * core::mem::size_of::<T>()
    }

    /// On huge pages (advised; the kernel may still decline).
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        self.mapped.is_some()
    }
}

impl<T: Pod> Deref for Store<T> {
    type Target = [T];

    #[inline(always)]
    fn deref(&self) -> &[T] {
        if let Some(m) = &self.mapped {
            // Checked when mapped; an impossible failure reads as empty, never as garbage.
            return bytemuck::try_cast_slice(m.borrow_dependent()).unwrap_or(&[]);
        }
        &self.heap
    }
}

impl<T: Pod> DerefMut for Store<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        self.vec_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_arrays_stay_on_the_heap_and_keep_their_items() {
        let mut s = Store::from((0u64..1000).collect::<Vec<_>>());
        s.freeze();
        assert!(!s.is_mapped());
        assert_eq!(&s[..3], &[0, 1, 2]);
        assert_eq!(s.len(), 1000);
    }

    #[test]
    fn a_large_array_is_moved_intact_and_can_grow_again() {
        let want: Vec<u64> = (0..600_000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9))
            .collect();
        let mut s = Store::from(want.clone());
        s.freeze();
        assert_eq!(&s[..], &want[..]);
        s[7] = 42;
        assert_eq!(s[7], 42);
        s.vec_mut().push(1);
        assert!(!s.is_mapped());
        assert_eq!(s.len(), want.len() + 1);
        assert_eq!((s[6], s[7], s[want.len()]), (want[6], 42, 1));
    }

    /// The kernel records the advice as the `hg` flag of the mapping in /proc/self/smaps.
    #[cfg(all(target_os = "linux", not(miri)))]
    #[test]
    fn a_large_array_is_advised_for_huge_pages() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
            eprintln!("skipped: this kernel has no transparent huge pages");
            return;
        }
        let mut s = Store::from(vec![7u64; 3 << 18]); // 6 MiB
        s.freeze();
        assert!(s.is_mapped());
        let at = s.as_ptr() as usize;
        assert_eq!(at % HUGE, 0, "the data starts on a huge page boundary");
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        let mut flags = None;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((lo, hi)) = range.split_once('-') {
                    if let (Ok(lo), Ok(hi)) =
                        (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                    {
                        inside = lo <= at && at < hi;
                        continue;
                    }
                }
            }
            if inside {
                if let Some(f) = line.strip_prefix("VmFlags:") {
                    flags = Some(f.to_string());
                }
            }
        }
        let flags = flags.expect("the mapping is listed in /proc/self/smaps");
        assert!(
            flags.split_whitespace().any(|f| f == "hg"),
            "flags: {flags}"
        );
    }
}
