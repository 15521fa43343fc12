//! A CPU buffer's values: zeroed, and a large buffer on the system's huge pages (2 MiB each,
//! where Linux gives them on request) rather than on 4 KiB ones.
//!
//! Why: a matrix product that reads B's rows where they lie (`engine/gemm`) steps down 256 of
//! them at a time, and a batch of 784-float inputs puts each row on another 4 KiB page: more
//! pages than the processor's first-level TLB holds, so every step waited on a page walk. On
//! 2 MiB pages those rows lie on one or two. Measured on a 2-core EPYC, four rounds in turn
//! (GFLOP/s, 4 KiB pages → huge): the batch-2048 weight gradients 256×784×2048 363–409 →
//! 411–430 and 256×256×2048 351–367 → 365–387; the forward 2048×256×784 the same (442–462).

use std::alloc::{self, Layout};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Buffers of at least this many bytes start on a huge page's boundary and ask for huge pages.
const HUGE_PAGE: usize = 2 << 20;

/// `len` values owned by one CPU buffer (and its views).
pub(super) struct Storage<T> {
    ptr: NonNull<T>,
    len: usize,
    layout: Layout,
}

impl<T: Copy> Storage<T> {
    /// `len` copies of `zero`.
    pub(super) fn new(len: usize, zero: T) -> Self {
        // Past `isize::MAX` bytes no allocation can exist: a panic, as `vec!` gave before.
        let layout = Layout::array::<T>(len).expect("a CPU buffer of at most isize::MAX bytes");
        let huge = layout.size() >= HUGE_PAGE;
        let layout = if huge {
            layout
                .align_to(HUGE_PAGE)
                .expect("a CPU buffer of at most isize::MAX bytes")
        } else {
            layout
        };
        if layout.size() == 0 {
            return Storage {
                ptr: NonNull::dangling(),
                len,
                layout,
            };
        }
        // SAFETY: the layout's size is not zero.
        let raw = unsafe { alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<T>()) else {
            alloc::handle_alloc_error(layout)
        };
        #[cfg(target_os = "linux")]
        if huge {
            // Before the first write, so that pages are made huge as they are first touched. A
            // kernel with huge pages off ignores the advice; its result changes nothing either way.
            // SAFETY: the range is this allocation, which starts on a page.
            unsafe { libc::madvise(raw.cast(), layout.size(), libc::MADV_HUGEPAGE) };
        }
        for i in 0..len {
            // SAFETY: the allocation holds `len` values of `T`.
            unsafe { ptr.as_ptr().add(i).write(zero) };
        }
        Storage { ptr, len, layout }
    }
}

impl<T> Deref for Storage<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` holds `len` initialised values (dangling and aligned when `len` is 0).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> DerefMut for Storage<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as `deref`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for Storage<T> {
    fn drop(&mut self) {
        if self.layout.size() != 0 {
            // SAFETY: allocated in `new` with this layout; the values are `Copy`, nothing to drop.
            unsafe { alloc::dealloc(self.ptr.as_ptr().cast(), self.layout) }
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Storage<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Empty, small and huge-page storage alike: zeroed, writable, and a huge one on a 2 MiB
    /// boundary.
    #[test]
    fn storage_is_zeroed_and_writable_at_every_size() {
        for len in [0, 1, 1000, HUGE_PAGE / 4, HUGE_PAGE + 7] {
            let mut s = Storage::new(len, 0f32);
            assert_eq!(s.len(), len);
            assert!(s.iter().all(|&v| v == 0.0), "{len} values not zeroed");
            if len >= HUGE_PAGE / 4 {
                assert_eq!(s.as_ptr() as usize % HUGE_PAGE, 0, "{len} values not on a huge page");
            }
            for (i, v) in s.iter_mut().enumerate() {
                *v = i as f32;
            }
            assert_eq!(s.last().copied(), len.checked_sub(1).map(|i| i as f32));
        }
    }
}
