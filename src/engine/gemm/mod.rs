//! The CPU backend's f32 matrix product: packed panels and an AVX-512 (or AVX2) register
//! kernel, on every core ([`crate::engine::pool`]).
//!
//! The layout is the classic one (BLIS, and the `gemm` and `matrixmultiply` crates): B is packed
//! `KC` rows by `NC` columns at a time into strips `NR` columns wide, A into strips `MR` rows
//! tall (A is read in place instead, row-major or transposed, and a row-major B too where few
//! rows of C use it), and a register kernel keeps an `MR × NR` block of C in registers over the
//! `KC` steps.
//! A product's epilogue (a bias and an activation, or an activation's derivative) runs on each
//! `MC`-row block of C as it gets its last terms ([`sgemm_then`]).
//! Measured on this project's 2-core machine (Intel Xeon with AVX-512): `matrixmultiply` ran
//! 1024³ at 100 GFLOP/s and the `gemm` crate at 105–117, both on 256-bit registers; this kernel
//! on 512-bit ones at 130–139 on one core and 245–268 on two (JAX: 180–248), the MLP's
//! batch-2048 products at 230–270 (BENCHMARKS.md).
//!
//! Deterministic: every element of C sums its k terms in one fixed order (the `KC` blocks in
//! turn, each step within a block in turn), whatever the number of threads, how the work is
//! split or which register kernel runs, so a run is bit for bit the same on any core count.

use std::cell::Cell;

mod kernels;
mod packing;

use kernels::{Kernel, Tile};
use packing::pack;

/// What runs on each finished piece of a product: `(row, first column, values)`, the values
/// being `c[row, column..column + values.len()]`.
pub type Finish<'a, T> = dyn Fn(usize, usize, &mut [T]) + Sync + 'a;

/// `finish` on every row of a row-major `[m, n]` product computed whole (no blocks to finish
/// one by one).
pub(crate) fn finish_rows<T>(c: &mut [T], m: usize, n: usize, finish: &Finish<'_, T>) {
    for (row, values) in c[..m * n].chunks_exact_mut(n.max(1)).enumerate() {
        finish(row, 0, values);
    }
}

/// Rows of B packed per pass: a strip of `KC × NR` floats stays in L1 beside A's.
const KC: usize = 256;
/// Rows of A packed per block (a multiple of every `MR`): `MC × KC` floats stay in L2.
const MC: usize = 96;
/// Columns of B packed per pass (a multiple of every `NR`): B's `KC × NC` floats (768 KiB) stay
/// in a 1 MiB L2 beside A's block. The whole width at once, a 2048-wide product ran at
/// 374–422 GFLOP/s on two threads of a 2-core EPYC, and at 443–450 in 768 columns.
const NC: usize = 768;
/// True when a thread computing `rows` rows of C reads B's rows where they lie rather than
/// packed into strips: B is row-major, the thread has fewer than 512 rows (its register blocks
/// read each packed strip fewer than 512 / MR times), and B's rows are not a multiple of 4 KiB
/// apart (then they share the L1's sets and a strip does not stay there).
///
/// Measured on two threads of a 2-core EPYC (GFLOP/s, packed → in place): the products of a
/// batch-128 step 128×784×256 344–355 → 423–433 and 256×784×128 378 → 421–424, 128×256×256
/// 431–434 → 456–459, batch 2048's dW 256×256×2048 334–344 → 400–408 and 256×784×2048 348–362
/// → 388–401; 1000³ (500 rows a thread) the same. With 512 rows or more, 2040³ 432–447 →
/// 418–427; 4 KiB apart, 1024³ 405–424 → 365–373 and 256×1024×2048 412–418 → 376–388.
fn b_in_place(b: Strided<'_>, rows: usize) -> bool {
    b.cs == 1 && b.rs > 1 && rows < 512 && !b.rs.is_multiple_of(1024)
}

/// Products below this many multiply-adds run on one thread: handing a part to a worker costs
/// a few microseconds.
const THREAD_MIN_MACS: usize = 1 << 20;

/// A matrix in memory: element `(i, j)` at `data[i * rs + j * cs]` (a transpose swaps the strides).
#[derive(Clone, Copy, Debug)]
pub struct Strided<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Strided<'a> {
    /// `data` as a row-major `[rows, cols]` matrix, or with `transposed` as the transpose of a
    /// row-major `[cols, rows]` one.
    pub fn new(data: &'a [f32], rows: usize, cols: usize, transposed: bool) -> Self {
        if transposed {
            Strided { data, rs: 1, cs: rows }
        } else {
            Strided { data, rs: cols, cs: 1 }
        }
    }

    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }
}

/// True when this processor has a register kernel here (AVX-512, or AVX2 with FMA); elsewhere
/// the CPU backend keeps ndarray's product.
///
/// ```
/// // On x86-64 machines of the last decade:
/// # #[cfg(target_arch = "x86_64")]
/// # if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
/// assert!(shadergrad::gemm::available());
/// # }
/// ```
pub fn available() -> bool {
    Kernel::here().is_some()
}

/// `c[m, n] = a[m, k] · b[k, n]` (c row-major, overwritten), split into `threads` parts that
/// run on the CPU workers ([`crate::engine::pool`]).
/// Falls back to a plain loop where [`available`] is false.
///
/// ```
/// use shadergrad::gemm::{sgemm, Strided};
/// let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // [2, 3]
/// let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // [3, 2]
/// let mut c = [0.0; 4];
/// sgemm(2, 2, 3, Strided::new(&a, 2, 3, false), Strided::new(&b, 3, 2, false), &mut c, 2);
/// assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
/// ```
pub fn sgemm(m: usize, n: usize, k: usize, a: Strided<'_>, b: Strided<'_>, c: &mut [f32], threads: usize) {
    sgemm_on(Kernel::here(), [m, n, k], a, b, c, threads, &|_, _, _| {})
}

/// [`sgemm`], then `finish(row, col, values)` on each piece `c[row, col..col + values.len()]`
/// of the product as soon as it has its last term, on the thread that computed it (while the
/// piece is in cache: a bias and an activation cost next to nothing there).
///
/// ```
/// use shadergrad::gemm::{sgemm_then, Strided};
/// let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // [2, 3]
/// let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // [3, 2]
/// let bias = [-4.5, 0.5];
/// let relu = |_row: usize, col: usize, c: &mut [f32]| {
///     for (v, b) in c.iter_mut().zip(&bias[col..]) {
///         *v = (*v + b).max(0.0);
///     }
/// };
/// let mut c = [0.0; 4];
/// sgemm_then([2, 2, 3], Strided::new(&a, 2, 3, false), Strided::new(&b, 3, 2, false), &mut c, 2, &relu);
/// assert_eq!(c, [0.0, 5.5, 5.5, 11.5]);
/// ```
pub fn sgemm_then(
    mnk: [usize; 3],
    a: Strided<'_>,
    b: Strided<'_>,
    c: &mut [f32],
    threads: usize,
    finish: &Finish<'_, f32>,
) {
    sgemm_on(Kernel::here(), mnk, a, b, c, threads, finish)
}

/// [`sgemm_then`] on the given kernel (`None`: the plain loop).
fn sgemm_on(
    kernel: Option<Kernel>,
    [m, n, k]: [usize; 3],
    a: Strided<'_>,
    b: Strided<'_>,
    c: &mut [f32],
    threads: usize,
    finish: &Finish<'_, f32>,
) {
    let c = &mut c[..m * n];
    let kernel = match kernel {
        Some(Kernel::Avx512) if n <= 16 => Some(Kernel::Avx512Narrow),
        other => other,
    };
    let Some(kernel) = kernel.filter(|_| k > 0) else {
        if k == 0 {
            c.fill(0.0);
        } else {
            plain(m, n, k, a, b, c);
        }
        return finish_rows(c, m, n, finish);
    };
    let (mr, nr) = kernel.block();
    // Each part of C is one thread's.
    let threads = if m * n * k < THREAD_MIN_MACS { 1 } else { threads.max(1) };
    // Each thread packs all of the operand along the side it does not split: split rows when A
    // is the bigger one (each thread then packs B whole), columns otherwise, unless that side
    // has fewer blocks than threads.
    let by_rows = if m >= n {
        m.div_ceil(mr) >= threads
    } else {
        n.div_ceil(nr) < threads
    };
    // Parts cut where the kernel's edge blocks fit ([`Kernel::edge`]), not only its whole ones:
    // 784 columns, 24 and a half strips of 32, go 12 and a half to one thread and 12 to the
    // other rather than 13 and 12 (the batch-2048 weight gradient 256×784×2048 took 1.5% less
    // time in the step).
    let (row_unit, col_unit) = kernel.edge();
    let (unit, len) = if by_rows { (row_unit, m) } else { (col_unit, n) };
    let parts = crate::engine::pool::ranges(len, threads, unit);
    let out = SendPtr(c.as_mut_ptr());
    crate::engine::pool::run(parts.len(), |p| {
        let part = (parts[p].start, parts[p].end);
        let (rows, cols) = if by_rows { (part, (0, n)) } else { ((0, m), part) };
        for jc in (cols.0..cols.1).step_by(NC) {
            let cols = (jc, cols.1.min(jc + NC));
            // SAFETY: the parts cover disjoint rows (or columns) of C, each written by one thread.
            unsafe { block(kernel, rows, cols, n, k, a, b, out, finish) }
        }
    });
}

/// C's storage, shared by threads that write disjoint parts of it.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: each thread writes only its own rows or columns of C (see `sgemm`).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// The product for machines without a register kernel.
fn plain(m: usize, n: usize, k: usize, a: Strided<'_>, b: Strided<'_>, c: &mut [f32]) {
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|p| a.at(i, p) * b.at(p, j)).sum();
        }
    }
}

/// Rows `r0..r1` and columns `c0..c1` (at most `NC`) of C (`ldc` floats a row), each `MC` rows
/// finished as they get their last `KC` terms.
///
/// # Safety
/// `c` holds C, and no other thread writes these rows and columns meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn block(
    kernel: Kernel,
    (r0, r1): (usize, usize),
    (c0, c1): (usize, usize),
    ldc: usize,
    k: usize,
    a: Strided<'_>,
    b: Strided<'_>,
    c: SendPtr,
    finish: &Finish<'_, f32>,
) {
    let (mr, nr) = kernel.block();
    // A row-major B is read in place too where that pays ([`b_in_place`]); a last strip of
    // fewer columns is packed (the kernel reads whole rows of a strip).
    let b_whole = if b_in_place(b, r1 - r0) { (c1 - c0) / nr * nr } else { 0 };
    let width = (c1 - c0 - b_whole).div_ceil(nr) * nr;
    let (mut bp, mut ap) = PANELS.take();
    grow(&mut bp, KC.min(k) * width);
    // A row-major A (a layer's input, or dY in dX = dY·W) is read where it lies, a register
    // block's rows as as many streams, rather than transposed into strips: every thread of a
    // product split by columns transposed all of A, as much traffic as a batch-128 product's
    // arithmetic.
    let a_by_rows = a.cs == 1 && a.rs > 1;
    // A transposed A (dYᵀ in dW = dYᵀ·X) is read where it lies too: each step's values are
    // side by side, as in a packed strip, only further apart. Copying it into strips was 9% of
    // the weight gradient 256×784×2048, and each thread of a product split by columns copied
    // all of it. In a batch-2048 step (two runs of 500 steps in turn, median µs, packed → in
    // place) 256×784×2048 took 1,781–1,818 → 1,720–1,743 and 256×256×2048 561–566 → 542–544.
    let a_by_steps = a.rs == 1 && a.cs > 1;
    // Each element's terms are summed in the same order however A is read: the same bits.
    let in_place = a_by_rows || a_by_steps;
    let a_rows = if in_place {
        mr
    } else {
        MC.min((r1 - r0).div_ceil(mr) * mr)
    };
    grow(&mut ap, KC.min(k) * a_rows);
    for pc in (0..k).step_by(KC) {
        let kc = KC.min(k - pc);
        if b_whole < c1 - c0 {
            pack(
                kernel,
                &mut bp,
                b.data,
                pc * b.rs + (c0 + b_whole) * b.cs,
                (b.cs, b.rs),
                kc,
                nr,
                c1 - c0 - b_whole,
            );
        }
        for ic in (r0..r1).step_by(MC) {
            let mc = MC.min(r1 - ic);
            // Whole strips of an A read in place are read there; a last one of fewer rows is
            // packed (the kernel reads all its rows).
            let whole = if in_place { mc / mr * mr } else { 0 };
            if whole < mc {
                pack(
                    kernel,
                    &mut ap,
                    a.data,
                    (ic + whole) * a.rs + pc * a.cs,
                    (a.rs, a.cs),
                    kc,
                    mr,
                    mc - whole,
                );
            }
            for jr in (0..c1 - c0).step_by(nr) {
                // This strip of B: where it lies, or packed.
                let (b_strip, ldb) = if jr < b_whole {
                    (b.data.as_ptr().add(pc * b.rs + c0 + jr), b.rs)
                } else {
                    (bp.as_ptr().add((jr - b_whole) * kc), nr)
                };
                for ir in (0..mc).step_by(mr) {
                    let (a_at, lda) = if ir >= whole {
                        (ap.as_ptr().add((ir - whole) * kc), mr)
                    } else if a_by_rows {
                        (a.data.as_ptr().add((ic + ir) * a.rs + pc), a.rs)
                    } else {
                        (a.data.as_ptr().add(ic + ir + pc * a.cs), a.cs)
                    };
                    let tile = Tile {
                        kc,
                        a: a_at,
                        lda,
                        b: b_strip,
                        ldb,
                        c: c.0.add((ic + ir) * ldc + c0 + jr),
                        ldc,
                        rows: mr.min(mc - ir),
                        cols: nr.min(c1 - c0 - jr),
                        first: pc == 0,
                        prefetch_b: jr < b_whole && ir == 0,
                    };
                    kernel.run(&tile, a_by_rows && ir < whole);
                }
            }
            if pc + kc == k {
                for row in ic..ic + mc {
                    finish(
                        row,
                        c0,
                        std::slice::from_raw_parts_mut(c.0.add(row * ldc + c0), c1 - c0),
                    );
                }
            }
        }
    }
    // A large product's buffers are not kept: its arithmetic dwarfs making them again.
    if bp.len() + ap.len() <= KEEP_FLOATS {
        PANELS.set((bp, ap));
    }
}

thread_local! {
    /// Each thread's packed strips of B and A, kept from one product to the next. Made afresh
    /// for each product they cost more than a small product's arithmetic: a 128 KiB buffer is
    /// new pages from the system, faulted in and zeroed (a 128×256×256 product ran at 230
    /// GFLOP/s on two threads that way, at 425 with the buffers kept). Taken out while in use,
    /// so a product started from inside another (an epilogue's) gets buffers of its own.
    static PANELS: Cell<(Vec<f32>, Vec<f32>)> = const { Cell::new((Vec::new(), Vec::new())) };
}

/// The most floats of packing buffers a thread keeps between products (4 MiB).
const KEEP_FLOATS: usize = 1 << 20;

/// `v` at least `len` long. Its values need no clearing: a pack writes every value a kernel
/// reads, padding included.
fn grow(v: &mut Vec<f32>, len: usize) {
    if v.len() < len {
        v.resize(len, 0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel this processor can run (the AVX-512 machines run AVX2 too) agrees with the
    /// plain loop to f32 rounding, and the register kernels with each other bit for bit (each
    /// sums an element's terms in the same order), whether A is read in place by rows
    /// (row-major) or by steps (transposed), the last strip of each block packed, or packed
    /// whole (every other value of a buffer); `tests/gemm.rs` checks the chosen one against f64.
    #[test]
    fn every_kernel_here_matches_the_plain_loop() {
        let mut kernels = vec![None];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                kernels.push(Some(Kernel::Avx2));
            }
            if is_x86_feature_detected!("avx512f") {
                kernels.extend([Some(Kernel::Avx512), Some(Kernel::Avx512Narrow)]);
            }
        }
        for [m, n, k] in [
            [1, 1, 1],
            [7, 17, 3],
            // Every edge block: 40 rows end in one of 4 (12-row blocks), 16 (24-row ones) and
            // 4 (6-row ones); 33 and 290 columns in one of 16 or fewer, 17 in one of 17.
            [40, 12, 9],
            [13, 33, 257],
            [97, 290, 70],
            [50, 10, 600],
            [200, 40, 300],
            [800, 790, 20],
            // 550 rows of C a thread: B packed, not read in place.
            [1100, 40, 30],
        ] {
            // A as [k, m] (transposed), the same values as [m, k] (row-major), and spread out
            // (row-major with every other value skipped: neither stride is 1, so it is packed).
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
            let a_rows: Vec<f32> = (0..m * k).map(|i| a[i % k * m + i / k]).collect();
            let a_spread: Vec<f32> = a_rows.iter().flat_map(|&v| [v, f32::NAN]).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 53 % 89) as f32 - 44.0) / 44.0).collect();
            let run = |kernel, layout: usize| {
                let mut c = vec![f32::NAN; m * n];
                let a = match layout {
                    0 => Strided::new(&a, m, k, true),
                    1 => Strided::new(&a_rows, m, k, false),
                    _ => Strided {
                        data: &a_spread,
                        rs: 2 * k,
                        cs: 2,
                    },
                };
                sgemm_on(
                    kernel,
                    [m, n, k],
                    a,
                    Strided::new(&b, k, n, false),
                    &mut c,
                    2,
                    &|_, _, _| {},
                );
                c
            };
            let want = run(None, 0);
            let first = kernels.get(1).map(|&kernel| run(kernel, 0));
            for &kernel in &kernels[1..] {
                for (layout, name) in ["transposed", "row-major", "spread"].into_iter().enumerate() {
                    let got = run(kernel, layout);
                    let same = got
                        .iter()
                        .zip(first.as_ref().unwrap())
                        .all(|(g, f)| g.to_bits() == f.to_bits());
                    assert!(
                        same,
                        "{kernel:?} [{m}, {n}, {k}], A {name}: not the bits of {:?}",
                        kernels[1]
                    );
                    for (g, w) in got.iter().zip(&want) {
                        // k terms of size ≤ 1: their sums differ by at most k·ε in any order.
                        assert!(
                            (g - w).abs() <= k as f32 * f32::EPSILON,
                            "{kernel:?} [{m}, {n}, {k}]: {g} against {w}"
                        );
                    }
                }
            }
        }
    }
}
