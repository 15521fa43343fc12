//! The register kernels: an `MR × NR` block of C in registers over a packed strip of B and
//! of A (or A's rows in place), in AVX-512 or AVX2 instructions.

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

    /// One register block on this kernel, A's rows read in place or from a packed strip.
    ///
    /// # Safety
    /// As the register kernels': this kernel was detected here ([`Kernel::here`]), and the
    /// tile's operands and part of C are valid.
    pub(super) unsafe fn run(self, tile: &Tile, in_place: bool) {
        match (self, in_place) {
            #[cfg(target_arch = "x86_64")]
            (Kernel::Avx512, false) => tile_avx512::<false>(tile),
            #[cfg(target_arch = "x86_64")]
            (Kernel::Avx512, true) => tile_avx512::<true>(tile),
            #[cfg(target_arch = "x86_64")]
            (Kernel::Avx512Narrow, false) => tile_avx512_narrow::<false>(tile),
            #[cfg(target_arch = "x86_64")]
            (Kernel::Avx512Narrow, true) => tile_avx512_narrow::<true>(tile),
            #[cfg(target_arch = "x86_64")]
            (Kernel::Avx2, false) => tile_avx2::<false>(tile),
            #[cfg(target_arch = "x86_64")]
            (Kernel::Avx2, true) => tile_avx2::<true>(tile),
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("kernels are detected on x86-64 only"),
        }
    }
}

/// One register block: `rows × cols` of C (at most the kernel's), from a strip of B (packed,
/// or B's rows in place: `ldb` floats apart either way) and a packed strip of A or A's rows in
/// place (`lda` floats apart), stored over C (`first`) or added to it.
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
