//! Asking the kernel for transparent huge pages on the store's big arrays.
//!
//! With a million challenges pending, the slot slab and the code index are tens of MiB read
//! at random: with 4 KiB pages nearly every lookup also misses the TLB, and the page walk costs
//! about as much as the cache miss itself. On Linux with THP in `madvise` mode (the common
//! default) the arrays are advised as huge-page candidates. It is only advice: where the kernel
//! or platform says no, nothing changes but speed.

/// Arrays smaller than this gain nothing (no 2 MiB-aligned page fits inside them).
const HUGE_PAGE: usize = 2 << 20;

/// A boxed slice of `n` copies of `value`, advised before it is first written.
pub fn filled<T: Copy>(n: usize, value: T) -> Box<[T]> {
    let mut v = Vec::with_capacity(n);
    advise(v.spare_capacity_mut());
    v.resize(n, value);
    v.into_boxed_slice()
}

/// Doubles `v`'s capacity into a fresh allocation that is advised before the move touches it
/// (a plain `Vec` growth would copy first, faulting the pages in small).
pub fn grow<T>(v: &mut Vec<T>) {
    let mut bigger = Vec::with_capacity((v.capacity() * 2).max(16));
    advise(bigger.spare_capacity_mut());
    bigger.append(v);
    *v = bigger;
}

/// Advises the 2 MiB-aligned interior of `items` for huge pages.
fn advise<T>(items: &[T]) {
    let bytes = std::mem::size_of_val(items);
    if bytes < HUGE_PAGE {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let start = items.as_ptr() as usize;
        let first = start.next_multiple_of(HUGE_PAGE);
        let end = (start + bytes) / HUGE_PAGE * HUGE_PAGE;
        if end > first {
            // SAFETY: the range lies inside memory this process owns through `items`;
            // MADV_HUGEPAGE changes no contents, only how the kernel backs the pages.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
}
