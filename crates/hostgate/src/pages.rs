//! Storage for the matcher's large arrays, on transparent huge pages where Linux offers them.
//!
//! A lookup at 200k rules touches a few random cache lines of a ~10 MB table. With 4 KiB pages
//! each of them is also a TLB miss, and under a hypervisor a miss walks two page tables: on the
//! bench VM that walk cost as much as the cache miss itself. With 2 MiB pages the whole table
//! needs six TLB entries. Linux's default THP mode (`madvise`) only gives huge pages to memory
//! that asks for them, which heap memory cannot do without `unsafe`, so a large array is copied
//! into an anonymous mapping advised `MADV_HUGEPAGE` once it is built. Elsewhere, under Miri, when
//! the mapping fails, or for arrays below one huge page, it stays an ordinary `Vec`.

use bytemuck::Pod;
use core::ops::{Deref, DerefMut};

/// One huge page (x86-64 and aarch64 with 4 KiB base pages).
#[cfg(all(target_os = "linux", not(miri)))]
const HUGE: usize = 2 << 20;

/// A growable array while the table is built, then (see [`Store::freeze`]) a read-only one.
/// Writing to a frozen store first copies it back to the heap: nothing does after a build.
#[derive(Debug)]
pub(crate) struct Store<T: Pod> {
    /// The items while not mapped; empty while mapped.
    heap: Vec<T>,
    #[cfg(all(target_os = "linux", not(miri)))]
    mapped: Option<Mapped>,
}

/// `len` bytes at byte `start` of `map`; `start` is 2 MiB-aligned in memory. Read-only, so a
/// stray write into a built table faults instead of corrupting it.
#[cfg(all(target_os = "linux", not(miri)))]
#[derive(Debug)]
struct Mapped {
    map: memmap2::Mmap,
    start: usize,
    len: usize,
}

impl<T: Pod> Default for Store<T> {
    fn default() -> Self {
        Store::from(Vec::new())
    }
}

impl<T: Pod> From<Vec<T>> for Store<T> {
    fn from(heap: Vec<T>) -> Self {
        Store {
            heap,
            #[cfg(all(target_os = "linux", not(miri)))]
            mapped: None,
        }
    }
}

impl<T: Pod> Store<T> {
    /// The array as a `Vec`, to grow it; a frozen one is copied back to the heap first.
    pub(crate) fn vec_mut(&mut self) -> &mut Vec<T> {
        #[cfg(all(target_os = "linux", not(miri)))]
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
        Some(Mapped { map, start, len })
    }

    /// Bytes of memory the array holds (a mapping's untouched head not counted).
    pub(crate) fn bytes(&self) -> usize {
        #[cfg(all(target_os = "linux", not(miri)))]
        if let Some(m) = &self.mapped {
            return m.len;
        }
        self.heap.capacity() * core::mem::size_of::<T>()
    }

    /// On huge pages (advised; the kernel may still decline).
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        #[cfg(all(target_os = "linux", not(miri)))]
        return self.mapped.is_some();
        #[cfg(not(all(target_os = "linux", not(miri))))]
        return false;
    }
}

impl<T: Pod> Deref for Store<T> {
    type Target = [T];

    #[inline(always)]
    fn deref(&self) -> &[T] {
        #[cfg(all(target_os = "linux", not(miri)))]
        if let Some(m) = &self.mapped {
            // Checked when mapped; an impossible failure reads as empty, never as garbage.
            return m
                .map
                .get(m.start..m.start + m.len)
                .and_then(|b| bytemuck::try_cast_slice(b).ok())
                .unwrap_or(&[]);
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
