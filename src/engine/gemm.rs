//! The CPU backend's f32 matrix product: packed panels and an AVX-512 (or AVX2) register
//! kernel, on every core ([`crate::engine::pool`]).
//!
//! The layout is the classic one (BLIS, and the `gemm` and `matrixmultiply` crates): B is packed
//! `KC` rows by `NC` columns at a time into strips `NR` columns wide, A into strips `MR` rows
//! tall (a row-major A is read in place instead, and a row-major B too where few rows of C use
//! it), and a register kernel keeps an `MR × NR` block of C in registers
//! over the `KC` steps. A product's epilogue (a bias and an activation, or an activation's
//! derivative) runs on each `MC`-row block of C as it gets its last terms ([`sgemm_then`]).
//! Measured on this project's 2-core machine (Intel Xeon with AVX-512): `matrixmultiply` ran
//! 1024³ at 100 GFLOP/s and the `gemm` crate at 105–117, both on 256-bit registers; this kernel
//! on 512-bit ones at 130–139 on one core and 245–268 on two (JAX: 180–248), the MLP's
//! batch-2048 products at 230–270 (BENCHMARKS.md).
//!
//! Deterministic: every element of C sums its k terms in one fixed order (the `KC` blocks in
//! turn, each step within a block in turn), whatever the number of threads, how the work is
//! split or which register kernel runs, so a run is bit for bit the same on any core count.

use std::cell::Cell;

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

/// The register kernel this processor runs: its block and instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    /// 12 × 32: 24 zmm accumulators.
    Avx512,
    /// 24 × 16, for products at most 16 columns wide (a classifier's logits): 24 zmm
    /// accumulators, none of them computing past the edge the way 12 × 32 would.
    Avx512Narrow,
    /// 6 × 16: 12 ymm accumulators.
    Avx2,
}

impl Kernel {
    /// This processor's kernel, detected once.
    fn here() -> Option<Kernel> {
        static HERE: std::sync::OnceLock<Option<Kernel>> = std::sync::OnceLock::new();
        *HERE.get_or_init(Kernel::detect)
    }

    fn detect() -> Option<Kernel> {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return Some(Kernel::Avx512);
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Some(Kernel::Avx2);
            }
        }
        None
    }

    fn block(self) -> (usize, usize) {
        match self {
            Kernel::Avx512 => (12, 32),
            Kernel::Avx512Narrow => (24, 16),
            Kernel::Avx2 => (6, 16),
        }
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
    let (unit, len) = if by_rows { (mr, m) } else { (nr, n) };
    let parts = crate::engine::pool::ranges(len, threads, unit);
    let out = SendPtr(c.as_mut_ptr());
    crate::engine::pool::run(parts.len(), |p| {
        let part = (parts[p].start, parts[p].end);
        let (rows, cols) = if by_rows { (part, (0, n)) } else { ((0, m), part) };
        // SAFETY: the parts cover disjoint rows (or columns) of C, each written by one thread.
        unsafe { block(kernel, rows, cols, n, k, a, b, out, finish) }
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

/// Rows `r0..r1` and columns `c0..c1` of C (`ldc` floats a row), `NC` columns at a time.
///
/// # Safety
/// `c` holds C, and no other thread writes these rows and columns meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn block(
    kernel: Kernel,
    rows: (usize, usize),
    (c0, c1): (usize, usize),
    ldc: usize,
    k: usize,
    a: Strided<'_>,
    b: Strided<'_>,
    c: SendPtr,
    finish: &Finish<'_, f32>,
) {
    for jc in (c0..c1).step_by(NC) {
        panel(kernel, rows, (jc, c1.min(jc + NC)), ldc, k, a, b, c, finish);
    }
}

/// [`block`]'s columns `c0..c1` (at most `NC`), each `MC` rows finished as they get their last
/// `KC` terms.
///
/// # Safety
/// As [`block`].
#[allow(clippy::too_many_arguments)]
unsafe fn panel(
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
    // arithmetic. Each element's terms are summed in the same order either way: the same bits.
    let in_place = a.cs == 1 && a.rs > 1;
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
            // Whole strips of a row-major A are read in place; a last one of fewer rows is packed
            // (the kernel reads all its rows).
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
                for ir in (0..mc).step_by(mr) {
                    let read_in_place = ir < whole;
                    let tile = Tile {
                        kc,
                        a: if read_in_place {
                            a.data.as_ptr().add((ic + ir) * a.rs + pc)
                        } else {
                            ap.as_ptr().add((ir - whole) * kc)
                        },
                        lda: a.rs,
                        b: if jr < b_whole {
                            b.data.as_ptr().add(pc * b.rs + c0 + jr)
                        } else {
                            bp.as_ptr().add((jr - b_whole) * kc)
                        },
                        ldb: if jr < b_whole { b.rs } else { nr },
                        c: c.0.add((ic + ir) * ldc + c0 + jr),
                        ldc,
                        rows: mr.min(mc - ir),
                        cols: nr.min(c1 - c0 - jr),
                        first: pc == 0,
                    };
                    match (kernel, read_in_place) {
                        #[cfg(target_arch = "x86_64")]
                        (Kernel::Avx512, false) => tile_avx512::<false>(&tile),
                        #[cfg(target_arch = "x86_64")]
                        (Kernel::Avx512, true) => tile_avx512::<true>(&tile),
                        #[cfg(target_arch = "x86_64")]
                        (Kernel::Avx512Narrow, false) => tile_avx512_narrow::<false>(&tile),
                        #[cfg(target_arch = "x86_64")]
                        (Kernel::Avx512Narrow, true) => tile_avx512_narrow::<true>(&tile),
                        #[cfg(target_arch = "x86_64")]
                        (Kernel::Avx2, false) => tile_avx2::<false>(&tile),
                        #[cfg(target_arch = "x86_64")]
                        (Kernel::Avx2, true) => tile_avx2::<true>(&tile),
                        #[cfg(not(target_arch = "x86_64"))]
                        _ => unreachable!("kernels are detected on x86-64 only"),
                    }
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

/// Packs `len` rows of A (or columns of B) into strips `width` wide: strip s holds, for each of
/// the `kc` steps along k, its `width` values (zero past `len`), so the kernel reads both
/// operands in order. The source starts at `base`, its strides `(along the strip, along k)`;
/// whichever is 1 is copied along (a pack is as much memory traffic as a small product's
/// arithmetic, so it must run at copying speed: a transposing pack moves 8 × 8 and 4 × 4 blocks
/// through registers, which took the batch-128 forward product from 99 to 119 GFLOP/s on one core).
#[allow(clippy::too_many_arguments)]
fn pack(
    kernel: Kernel,
    dst: &mut [f32],
    data: &[f32],
    base: usize,
    (s_w, s_k): (usize, usize),
    kc: usize,
    width: usize,
    len: usize,
) {
    if s_w == 1 {
        return match width {
            32 => deal::<32>(dst, data, base, s_k, kc, len),
            24 => deal::<24>(dst, data, base, s_k, kc, len),
            16 => deal::<16>(dst, data, base, s_k, kc, len),
            12 => deal::<12>(dst, data, base, s_k, kc, len),
            6 => deal::<6>(dst, data, base, s_k, kc, len),
            _ => unreachable!("every kernel's MR and NR are dealt"),
        };
    }
    for (s, start) in (0..len).step_by(width).enumerate() {
        let strip = &mut dst[s * width * kc..(s + 1) * width * kc];
        let live = width.min(len - start);
        let first = base + start * s_w;
        if s_k == 1 {
            // A transpose: `live` lines along k, each contiguous.
            let lines = &data[first..first + (live - 1) * s_w + kc];
            transpose(kernel, lines, s_w, live, kc, strip, width);
        } else {
            for (p, row) in strip.chunks_exact_mut(width).enumerate() {
                for (i, v) in row[..live].iter_mut().enumerate() {
                    *v = data[first + i * s_w + p * s_k];
                }
            }
        }
        if live < width {
            for row in strip.chunks_exact_mut(width) {
                row[live..].fill(0.0);
            }
        }
    }
}

/// [`pack`] where each of the `kc` lines along the strips is contiguous (a row-major B, or a
/// transposed A): each line is read once, front to back, and dealt out `W` values to a strip,
/// the line `AHEAD` of it asked for meanwhile ([`prefetch`]). (Strip by strip, each line was
/// read `W` values at a time, once per strip: the packs took 20% of the dW product
/// `256×784×2048`, whose lines, a batch of inputs, come from L3; 9% now.)
fn deal<const W: usize>(dst: &mut [f32], data: &[f32], base: usize, s_k: usize, kc: usize, len: usize) {
    let strips = len.div_ceil(W);
    for p in 0..kc {
        if p + AHEAD < kc {
            prefetch(&data[base + (p + AHEAD) * s_k..][..len]);
        }
        let line = &data[base + p * s_k..][..len];
        let mut pieces = line.chunks_exact(W);
        for (s, piece) in (&mut pieces).enumerate() {
            let to: &mut [f32; W] = (&mut dst[(s * kc + p) * W..][..W]).try_into().unwrap();
            *to = piece.try_into().unwrap();
        }
        let rest = pieces.remainder();
        if !rest.is_empty() {
            let to = &mut dst[((strips - 1) * kc + p) * W..][..W];
            to[..rest.len()].copy_from_slice(rest);
            to[rest.len()..].fill(0.0);
        }
    }
}

/// How many lines ahead [`deal`] asks for: 2, 4 and 8 measured the same.
const AHEAD: usize = 4;

/// Asks the processor to bring `line` into L1 while other work runs. A pack's lines are often
/// a batch of inputs in L3, each only part of a row (one thread's columns), and the hardware's
/// own prefetching left the pack waiting for them: asked for 4 lines ahead, the dW products
/// `256×784×2048` and `256×256×2048` went from 373–408 and 385–405 GFLOP/s to 411–429 and
/// 416–445 (five rounds each, in turn).
fn prefetch(line: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for piece in line.chunks(16) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of x86-64, and a prefetch reads nothing: it cannot fault.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(piece.as_ptr().cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = line;
}

/// `dst[p * ld + i] = src[i * s_w + p]` for `i < rows` and `p < kc`.
fn transpose(kernel: Kernel, src: &[f32], s_w: usize, rows: usize, kc: usize, dst: &mut [f32], ld: usize) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if matches!(kernel, Kernel::Avx512 | Kernel::Avx512Narrow | Kernel::Avx2) {
        // SAFETY: every kernel is detected only where the processor has AVX.
        done = unsafe { transpose_avx(src, s_w, rows, kc, dst, ld) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = kernel;
    for i in done..rows {
        for (p, &v) in src[i * s_w..i * s_w + kc].iter().enumerate() {
            dst[p * ld + i] = v;
        }
    }
}

/// [`transpose`] of the first rows in blocks of 8 × 8 (AVX) and then 4 × 4 (SSE) values, each
/// row's last `kc % 8` (or `% 4`) values one by one; returns how many rows it did.
///
/// # Safety
/// The processor has AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose_avx(src: &[f32], s_w: usize, rows: usize, kc: usize, dst: &mut [f32], ld: usize) -> usize {
    use std::arch::x86_64::*;
    let line = |i: usize| &src[i * s_w..i * s_w + kc];
    let mut i0 = 0;
    while i0 + 8 <= rows {
        let lines: [&[f32]; 8] = std::array::from_fn(|r| line(i0 + r));
        let mut p0 = 0;
        while p0 + 8 <= kc {
            let r: [__m256; 8] = std::array::from_fn(|r| _mm256_loadu_ps(lines[r][p0..p0 + 8].as_ptr()));
            // Pairs of rows interleaved, then fours, then the 128-bit halves swapped across.
            let t: [__m256; 8] = std::array::from_fn(|j| {
                let (a, b) = (r[j / 2 * 2], r[j / 2 * 2 + 1]);
                if j % 2 == 0 {
                    _mm256_unpacklo_ps(a, b)
                } else {
                    _mm256_unpackhi_ps(a, b)
                }
            });
            let u: [__m256; 8] = std::array::from_fn(|j| {
                let (a, b) = (t[j / 4 * 4 + j % 4 / 2], t[j / 4 * 4 + j % 4 / 2 + 2]);
                if j % 2 == 0 {
                    _mm256_shuffle_ps::<0x44>(a, b)
                } else {
                    _mm256_shuffle_ps::<0xEE>(a, b)
                }
            });
            for (c, &(lo, hi)) in [(0, 4), (1, 5), (2, 6), (3, 7)].iter().enumerate() {
                let low = _mm256_permute2f128_ps::<0x20>(u[lo], u[hi]);
                let high = _mm256_permute2f128_ps::<0x31>(u[lo], u[hi]);
                _mm256_storeu_ps(dst[(p0 + c) * ld + i0..][..8].as_mut_ptr(), low);
                _mm256_storeu_ps(dst[(p0 + c + 4) * ld + i0..][..8].as_mut_ptr(), high);
            }
            p0 += 8;
        }
        transpose_tail(&lines, p0, dst, ld, i0);
        i0 += 8;
    }
    while i0 + 4 <= rows {
        let lines: [&[f32]; 4] = std::array::from_fn(|r| line(i0 + r));
        let mut p0 = 0;
        while p0 + 4 <= kc {
            let r: [__m128; 4] = std::array::from_fn(|r| _mm_loadu_ps(lines[r][p0..p0 + 4].as_ptr()));
            let (t0, t1) = (_mm_unpacklo_ps(r[0], r[1]), _mm_unpacklo_ps(r[2], r[3]));
            let (t2, t3) = (_mm_unpackhi_ps(r[0], r[1]), _mm_unpackhi_ps(r[2], r[3]));
            let o = [
                _mm_movelh_ps(t0, t1),
                _mm_movehl_ps(t1, t0),
                _mm_movelh_ps(t2, t3),
                _mm_movehl_ps(t3, t2),
            ];
            for (c, v) in o.into_iter().enumerate() {
                _mm_storeu_ps(dst[(p0 + c) * ld + i0..][..4].as_mut_ptr(), v);
            }
            p0 += 4;
        }
        transpose_tail(&lines, p0, dst, ld, i0);
        i0 += 4;
    }
    i0
}

/// The columns from `p0` on of a block of `lines` (rows `i0..` of [`transpose`]'s source), one
/// value at a time: what a register block leaves of each line.
#[cfg(target_arch = "x86_64")]
fn transpose_tail(lines: &[&[f32]], p0: usize, dst: &mut [f32], ld: usize, i0: usize) {
    for p in p0..lines.first().map_or(0, |l| l.len()) {
        for (r, l) in lines.iter().enumerate() {
            dst[p * ld + i0 + r] = l[p];
        }
    }
}

/// One register block: `rows × cols` of C (at most the kernel's), from a strip of B (packed,
/// or B's rows in place: `ldb` floats apart either way) and a packed strip of A or A's rows in
/// place (`lda` floats apart), stored over C (`first`) or added to it.
struct Tile {
    kc: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    first: bool,
}

/// Writes the tile's part of a kernel's `MR × NR` block (`acc`, row-major) into C: the edges
/// of C, where a whole block would run past it.
///
/// # Safety
/// The tile's `rows × cols` of C are valid for writes.
unsafe fn store<const MR: usize, const NR: usize>(t: &Tile, acc: &[[f32; NR]; MR]) {
    for (i, row) in acc.iter().enumerate().take(t.rows) {
        let out = std::slice::from_raw_parts_mut(t.c.add(i * t.ldc), t.cols);
        for (o, &v) in out.iter_mut().zip(row) {
            *o = if t.first { v } else { *o + v };
        }
    }
}

macro_rules! register_kernel {
    // An AVX-512 kernel of `$mr × $nr`: 512-bit registers of 16 floats.
    ($name:ident, avx512, $mr:literal, $nr:literal) => {
        register_kernel!(
            $name,
            "avx512f",
            $mr,
            $nr,
            __m512,
            16,
            _mm512_setzero_ps,
            _mm512_loadu_ps,
            _mm512_set1_ps,
            _mm512_fmadd_ps,
            _mm512_add_ps,
            _mm512_storeu_ps
        );
    };
    ($name:ident, $feature:literal, $mr:literal, $nr:literal, $vec:ty, $lanes:literal,
     $zero:ident, $load:ident, $splat:ident, $fma:ident, $add:ident, $put:ident) => {
        /// The register kernel: `$mr × $nr` of C in registers over the tile's `kc` steps, B's
        /// values `ldb` floats a step, A's from a packed strip or (`IN_PLACE`) from its `$mr`
        /// rows where they lie.
        ///
        /// # Safety
        /// The processor has the target feature; the strips (or A's rows) hold `kc` steps; the
        /// tile's part of C is valid for writes.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name<const IN_PLACE: bool>(t: &Tile) {
            use std::arch::x86_64::*;
            const V: usize = $nr / $lanes;
            let mut acc: [[$vec; V]; $mr] = [[$zero(); V]; $mr];
            for p in 0..t.kc {
                let b = t.b.add(p * t.ldb);
                let bs: [$vec; V] = std::array::from_fn(|v| $load(b.add(v * $lanes)));
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = $splat(if IN_PLACE {
                        *t.a.add(i * t.lda + p)
                    } else {
                        *t.a.add(p * $mr + i)
                    });
                    for (r, bv) in row.iter_mut().zip(&bs) {
                        *r = $fma(ai, *bv, *r);
                    }
                }
            }
            if t.rows == $mr && t.cols == $nr {
                // A whole block: straight from the registers.
                for (i, row) in acc.iter().enumerate() {
                    let c = t.c.add(i * t.ldc);
                    for (v, r) in row.iter().enumerate() {
                        let at = c.add(v * $lanes);
                        $put(at, if t.first { *r } else { $add($load(at), *r) });
                    }
                }
                return;
            }
            let mut out = [[0f32; $nr]; $mr];
            for (o, row) in out.iter_mut().zip(&acc) {
                for (v, r) in row.iter().enumerate() {
                    $put(o.as_mut_ptr().add(v * $lanes), *r);
                }
            }
            store::<$mr, $nr>(t, &out);
        }
    };
}

register_kernel!(tile_avx512, avx512, 12, 32);
register_kernel!(tile_avx512_narrow, avx512, 24, 16);
register_kernel!(
    tile_avx2,
    "avx2,fma",
    6,
    16,
    __m256,
    8,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_add_ps,
    _mm256_storeu_ps
);

#[cfg(test)]
mod tests {
    use super::*;

    /// The register transposes move every value where the loop would, for every count of
    /// lines (8-blocks, 4-blocks and the rest) and lengths that miss both block sizes.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn transposes_in_registers_match_the_loop() {
        let Some(kernel) = Kernel::here() else {
            return; // no AVX: `transpose` is the loop itself
        };
        for rows in [1, 3, 4, 5, 8, 11, 12, 13, 16, 32] {
            for kc in [1, 3, 4, 7, 8, 9, 17, 256] {
                let s_w = kc + 5;
                let src: Vec<f32> = (0..rows * s_w).map(|v| v as f32).collect();
                let ld = rows + 2;
                let mut fast = vec![f32::NAN; kc * ld];
                transpose(kernel, &src, s_w, rows, kc, &mut fast, ld);
                for p in 0..kc {
                    for i in 0..rows {
                        assert_eq!(fast[p * ld + i], src[i * s_w + p], "rows {rows}, kc {kc}: ({p}, {i})");
                    }
                    assert!(
                        fast[p * ld + rows..(p + 1) * ld].iter().all(|v| v.is_nan()),
                        "wrote past the rows"
                    );
                }
            }
        }
    }

    /// Every kernel this processor can run (the AVX-512 machines run AVX2 too) agrees with the
    /// plain loop to f32 rounding, and the register kernels with each other bit for bit (each
    /// sums an element's terms in the same order), whether A is packed (stored transposed) or
    /// read in place (row-major, the last strip of each block packed); `tests/gemm.rs` checks
    /// the chosen one against f64.
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
            [13, 33, 257],
            [97, 290, 70],
            [50, 10, 600],
            [200, 40, 300],
            [800, 790, 20],
            // 550 rows of C a thread: B packed, not read in place.
            [1100, 40, 30],
        ] {
            // A as [k, m] (transposed, packed) and the same values as [m, k] (read in place).
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
            let a_rows: Vec<f32> = (0..m * k).map(|i| a[i % k * m + i / k]).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 53 % 89) as f32 - 44.0) / 44.0).collect();
            let run = |kernel, in_place: bool| {
                let mut c = vec![f32::NAN; m * n];
                let a = if in_place {
                    Strided::new(&a_rows, m, k, false)
                } else {
                    Strided::new(&a, m, k, true)
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
            let want = run(None, false);
            let first = kernels.get(1).map(|&kernel| run(kernel, false));
            for &kernel in &kernels[1..] {
                for in_place in [false, true] {
                    let got = run(kernel, in_place);
                    let same = got
                        .iter()
                        .zip(first.as_ref().unwrap())
                        .all(|(g, f)| g.to_bits() == f.to_bits());
                    assert!(
                        same,
                        "{kernel:?} [{m}, {n}, {k}], A in place {in_place}: not the bits of {:?}",
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
