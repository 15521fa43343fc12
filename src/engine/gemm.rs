//! The CPU backend's f32 matrix product: packed panels and an AVX-512 (or AVX2) register
//! kernel, on every core.
//!
//! The layout is the classic one (BLIS, and the `gemm` and `matrixmultiply` crates): B is packed
//! `KC` rows at a time into strips `NR` columns wide, A into strips `MR` rows tall, and a register
//! kernel keeps an `MR × NR` block of C in registers over the `KC` steps. Measured on this
//! project's 2-core machine (Intel Xeon with AVX-512): `matrixmultiply` ran 1024³ at 100 GFLOP/s
//! and the `gemm` crate at 105–117, both on 256-bit registers; this kernel on 512-bit ones at
//! 139, and the MLP's batch-2048 products at 123–157 against 87–110 (BENCHMARKS.md).
//!
//! Deterministic: every element of C sums its k terms in one fixed order (the `KC` blocks in
//! turn, each step within a block in turn), whatever the number of threads or how the work is
//! split, so a run is bit for bit the same on any core count.

/// Rows of B packed per pass: a strip of `KC × NR` floats stays in L1 beside A's.
const KC: usize = 256;
/// Rows of A packed per block (a multiple of every `MR`): `MC × KC` floats stay in L2.
const MC: usize = 96;
/// Products below this many multiply-adds run on one thread: starting one costs ~20 µs.
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

/// `c[m, n] = a[m, k] · b[k, n]` (c row-major, overwritten), split over `threads` threads.
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
    sgemm_on(Kernel::here(), [m, n, k], a, b, c, threads)
}

/// [`sgemm`] on the given kernel (`None`: the plain loop).
fn sgemm_on(
    kernel: Option<Kernel>,
    [m, n, k]: [usize; 3],
    a: Strided<'_>,
    b: Strided<'_>,
    c: &mut [f32],
    threads: usize,
) {
    let c = &mut c[..m * n];
    if k == 0 {
        c.fill(0.0);
        return;
    }
    let Some(kernel) = kernel else {
        return plain(m, n, k, a, b, c);
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
    let per = len.div_ceil(unit).div_ceil(threads) * unit;
    let parts: Vec<(usize, usize)> = (0..len).step_by(per.max(1)).map(|s| (s, (s + per).min(len))).collect();
    let out = SendPtr(c.as_mut_ptr());
    let run = |(lo, hi): (usize, usize)| {
        let (rows, cols) = if by_rows {
            ((lo, hi), (0, n))
        } else {
            ((0, m), (lo, hi))
        };
        // SAFETY: the parts cover disjoint rows (or columns) of C, each written by one thread.
        unsafe { block(kernel, rows, cols, n, k, a, b, out) }
    };
    match parts.split_last() {
        Some((last, rest)) if !rest.is_empty() => std::thread::scope(|s| {
            for &p in rest {
                s.spawn(move || run(p));
            }
            run(*last);
        }),
        _ => parts.into_iter().for_each(run),
    }
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

/// Rows `r0..r1` and columns `c0..c1` of C (`ldc` floats a row).
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
) {
    let (mr, nr) = kernel.block();
    let width = (c1 - c0).div_ceil(nr) * nr;
    let mut bp = vec![0f32; KC.min(k) * width];
    let mut ap = vec![0f32; KC.min(k) * MC.min((r1 - r0).div_ceil(mr) * mr)];
    for pc in (0..k).step_by(KC) {
        let kc = KC.min(k - pc);
        pack(&mut bp, b.data, pc * b.rs + c0 * b.cs, (b.cs, b.rs), kc, nr, c1 - c0);
        for ic in (r0..r1).step_by(MC) {
            let mc = MC.min(r1 - ic);
            pack(&mut ap, a.data, ic * a.rs + pc * a.cs, (a.rs, a.cs), kc, mr, mc);
            for jr in (0..c1 - c0).step_by(nr) {
                for ir in (0..mc).step_by(mr) {
                    let tile = Tile {
                        kc,
                        a: ap.as_ptr().add(ir * kc),
                        b: bp.as_ptr().add(jr * kc),
                        c: c.0.add((ic + ir) * ldc + c0 + jr),
                        ldc,
                        rows: mr.min(mc - ir),
                        cols: nr.min(c1 - c0 - jr),
                        first: pc == 0,
                    };
                    match kernel {
                        #[cfg(target_arch = "x86_64")]
                        Kernel::Avx512 => tile_avx512(&tile),
                        #[cfg(target_arch = "x86_64")]
                        Kernel::Avx2 => tile_avx2(&tile),
                        #[cfg(not(target_arch = "x86_64"))]
                        _ => unreachable!("kernels are detected on x86-64 only"),
                    }
                }
            }
        }
    }
}

/// Packs `len` rows of A (or columns of B) into strips `width` wide: strip s holds, for each of
/// the `kc` steps along k, its `width` values (zero past `len`), so the kernel reads both
/// operands in order. The source starts at `base`, its strides `(along the strip, along k)`;
/// whichever is 1 is copied along (a pack is as much memory traffic as a small product's
/// arithmetic, so it must run at copying speed).
fn pack(dst: &mut [f32], data: &[f32], base: usize, (s_w, s_k): (usize, usize), kc: usize, width: usize, len: usize) {
    for (s, start) in (0..len).step_by(width).enumerate() {
        let strip = &mut dst[s * width * kc..(s + 1) * width * kc];
        let live = width.min(len - start);
        let first = base + start * s_w;
        if s_w == 1 {
            for (p, row) in strip.chunks_exact_mut(width).enumerate() {
                let from = first + p * s_k;
                row[..live].copy_from_slice(&data[from..from + live]);
                row[live..].fill(0.0);
            }
        } else {
            // A transpose: `live` lines along k, read side by side so the strip is written in order.
            let lines: [&[f32]; 32] = std::array::from_fn(|i| {
                let from = first + i * s_w;
                if i < live {
                    &data[from..from + (kc - 1) * s_k + 1]
                } else {
                    &[]
                }
            });
            for (p, row) in strip.chunks_exact_mut(width).enumerate() {
                for (v, line) in row[..live].iter_mut().zip(&lines) {
                    *v = line[p * s_k];
                }
                row[live..].fill(0.0);
            }
        }
    }
}

/// One register block: `rows × cols` of C (at most the kernel's), from packed strips of A and B,
/// stored over C (`first`) or added to it.
struct Tile {
    kc: usize,
    a: *const f32,
    b: *const f32,
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
    ($name:ident, $feature:literal, $mr:literal, $nr:literal, $vec:ty, $lanes:literal,
     $zero:ident, $load:ident, $splat:ident, $fma:ident, $add:ident, $put:ident) => {
        /// The register kernel: `$mr × $nr` of C in registers over the tile's `kc` steps.
        ///
        /// # Safety
        /// The processor has the target feature; the strips hold `kc` steps; the tile's part of
        /// C is valid for writes.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name(t: &Tile) {
            use std::arch::x86_64::*;
            const V: usize = $nr / $lanes;
            let mut acc: [[$vec; V]; $mr] = [[$zero(); V]; $mr];
            for p in 0..t.kc {
                let b = t.b.add(p * $nr);
                let bs: [$vec; V] = std::array::from_fn(|v| $load(b.add(v * $lanes)));
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = $splat(*t.a.add(p * $mr + i));
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

register_kernel!(
    tile_avx512,
    "avx512f",
    12,
    32,
    __m512,
    16,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps,
    _mm512_storeu_ps
);
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

    /// Every kernel this processor can run (the AVX-512 machines run AVX2 too) agrees with the
    /// plain loop to f32 rounding; `tests/gemm.rs` checks the chosen one against f64.
    #[test]
    fn every_kernel_here_matches_the_plain_loop() {
        let mut kernels = vec![None];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                kernels.push(Some(Kernel::Avx2));
            }
            if is_x86_feature_detected!("avx512f") {
                kernels.push(Some(Kernel::Avx512));
            }
        }
        for [m, n, k] in [[1, 1, 1], [7, 17, 3], [13, 33, 257], [97, 290, 70]] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 53 % 89) as f32 - 44.0) / 44.0).collect();
            let run = |kernel| {
                let mut c = vec![f32::NAN; m * n];
                sgemm_on(
                    kernel,
                    [m, n, k],
                    Strided::new(&a, m, k, true),
                    Strided::new(&b, k, n, false),
                    &mut c,
                    2,
                );
                c
            };
            let want = run(None);
            for &kernel in &kernels[1..] {
                for (g, w) in run(kernel).iter().zip(&want) {
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
