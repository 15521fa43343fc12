//! The register kernels: an `MR × NR` block of C (or a smaller one at C's edges) in registers
//! over a strip of B and one of A, each packed or read where it lies, in AVX-512 or AVX2
//! instructions.

/// The register kernel this processor runs: its block and instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kernel {
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
    pub(super) fn here() -> Option<Kernel> {
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

    pub(super) fn block(self) -> (usize, usize) {
        match self {
            Kernel::Avx512 => (12, 32),
            Kernel::Avx512Narrow => (24, 16),
            Kernel::Avx2 => (6, 16),
        }
    }

    /// How finely a product's edges are cut: a block of C at an edge computes its rows in
    /// groups of the first and its columns in registers of the second, not the whole `MR × NR`
    /// (a 256-row product is 21 blocks of 12 rows and one of 4; computed as a twenty-second
    /// whole block, the 4-row edge cost what 12 rows do).
    pub(super) fn edge(self) -> (usize, usize) {
        match self {
            Kernel::Avx512 => (4, 16),
            Kernel::Avx512Narrow => (8, 16),
            Kernel::Avx2 => (2, 8),
        }
    }

    /// One register block on this kernel, A read by rows (`by_rows`: a row-major A where it
    /// lies) or by steps (a packed strip, or a transposed A where it lies): the smallest of its
    /// edge blocks ([`Kernel::edge`]) that covers the tile's rows and columns.
    ///
    /// # Safety
    /// As the register kernels': this kernel was detected here ([`Kernel::here`]), and the
    /// tile's operands and part of C are valid.
    pub(super) unsafe fn run(self, tile: &Tile, by_rows: bool) {
        #[cfg(target_arch = "x86_64")]
        {
            // `$f::<rows, registers a row>` on this tile, A read by rows or by steps.
            macro_rules! on {
                ($f:ident, $rows:literal, $regs:literal) => {
                    if by_rows {
                        $f::<$rows, $regs, true>(tile)
                    } else {
                        $f::<$rows, $regs, false>(tile)
                    }
                };
            }
            let (rows, regs) = self.edge();
            match (self, tile.rows.div_ceil(rows), tile.cols.div_ceil(regs)) {
                (Kernel::Avx512, 3, 2) => on!(tile_avx512, 12, 2),
                (Kernel::Avx512, 3, 1) => on!(tile_avx512, 12, 1),
                (Kernel::Avx512, 2, 2) => on!(tile_avx512, 8, 2),
                (Kernel::Avx512, 2, 1) => on!(tile_avx512, 8, 1),
                (Kernel::Avx512, 1, 2) => on!(tile_avx512, 4, 2),
                (Kernel::Avx512, 1, 1) => on!(tile_avx512, 4, 1),
                (Kernel::Avx512Narrow, 3, 1) => on!(tile_avx512_narrow, 24, 1),
                (Kernel::Avx512Narrow, 2, 1) => on!(tile_avx512_narrow, 16, 1),
                (Kernel::Avx512Narrow, 1, 1) => on!(tile_avx512_narrow, 8, 1),
                (Kernel::Avx2, 3, 2) => on!(tile_avx2, 6, 2),
                (Kernel::Avx2, 3, 1) => on!(tile_avx2, 6, 1),
                (Kernel::Avx2, 2, 2) => on!(tile_avx2, 4, 2),
                (Kernel::Avx2, 2, 1) => on!(tile_avx2, 4, 1),
                (Kernel::Avx2, 1, 2) => on!(tile_avx2, 2, 2),
                (Kernel::Avx2, 1, 1) => on!(tile_avx2, 2, 1),
                other => unreachable!("a tile within {self:?}'s block: {other:?}"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("kernels are detected on x86-64 only")
    }
}

/// One register block: `rows × cols` of C (at most the kernel's), from a strip of B (packed,
/// or B's rows in place: `ldb` floats apart either way) and A (`lda` floats apart: between its
/// rows where a row-major A is read in place, otherwise between its steps, each step's values
/// side by side: a packed strip's, or a transposed A's columns where they lie), stored over C
/// (`first`) or added to it.
pub(super) struct Tile {
    pub(super) kc: usize,
    pub(super) a: *const f32,
    pub(super) lda: usize,
    pub(super) b: *const f32,
    pub(super) ldb: usize,
    pub(super) c: *mut f32,
    pub(super) ldc: usize,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) first: bool,
    /// B's strip is read in place and this is its first block since it was last in L1: each
    /// step asks for the row [`B_AHEAD`] steps on, which the processor's own prefetcher did
    /// not fetch in time (B's rows lie far apart).
    pub(super) prefetch_b: bool,
}

/// How many steps ahead a kernel asks for B's rows ([`Tile::prefetch_b`]). Measured on a
/// 2-core EPYC in a batch-2048 step, two runs of 500 steps in turn (median µs, without → with):
/// the weight gradient 256×784×2048 1837–1839 → 1688–1770 (16 and 32 steps alike), 256×256×2048
/// 554–556 → 539–550. Asked for in every block, where B comes from L1 after the first,
/// 256×784×2048 alone ran about 5% slower.
const B_AHEAD: usize = 16;

/// Writes the tile's part of a register block (`acc`, row-major) into C: the edges of C, where
/// a whole block would run past it.
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
        /// The register kernel: `R × (V · $lanes)` of C (at most `$mr × $nr`) in registers over
        /// the tile's `kc` steps, B's values `ldb` floats a step, A's `lda` floats a step (a
        /// packed strip, or a transposed A's columns where they lie) or (`BY_ROWS`) from its `R`
        /// rows where they lie, `lda` floats apart. Each element of C
        /// sums its terms in the same order whatever `R` and `V`: an edge block computes the
        /// bits a whole one would.
        ///
        /// # Safety
        /// The processor has the target feature; B's strip and A's values hold `kc` steps; the
        /// tile's part of C is valid for writes.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name<const R: usize, const V: usize, const BY_ROWS: bool>(t: &Tile) {
            use std::arch::x86_64::*;
            let mut acc: [[$vec; V]; R] = [[$zero(); V]; R];
            for p in 0..t.kc {
                let b = t.b.add(p * t.ldb);
                if t.prefetch_b {
                    // Wrapping: the steps past the strip's last are asked for too, never read.
                    let ahead = b.wrapping_add(B_AHEAD * t.ldb).cast::<i8>();
                    _mm_prefetch::<_MM_HINT_T0>(ahead);
                    _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(V * $lanes * 4 - 1));
                }
                let bs: [$vec; V] = std::array::from_fn(|v| $load(b.add(v * $lanes)));
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = $splat(if BY_ROWS {
                        *t.a.add(i * t.lda + p)
                    } else {
                        *t.a.add(p * t.lda + i)
                    });
                    for (r, bv) in row.iter_mut().zip(&bs) {
                        *r = $fma(ai, *bv, *r);
                    }
                }
            }
            if t.rows == R && t.cols == V * $lanes {
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
            let mut out = [[0f32; $nr]; R];
            for (o, row) in out.iter_mut().zip(&acc) {
                for (v, r) in row.iter().enumerate() {
                    $put(o.as_mut_ptr().add(v * $lanes), *r);
                }
            }
            store(t, &out);
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
