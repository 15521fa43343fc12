//! Packing: copying a block of A or B into the strips the register kernel reads in order.

use super::kernels::Kernel;

/// Packs `len` rows of A (or columns of B) into strips `width` wide: strip s holds, for each of
/// the `kc` steps along k, its `width` values (zero past `len`), so the kernel reads both
/// operands in order. The source starts at `base`, its strides `(along the strip, along k)`;
/// whichever is 1 is copied along (a pack is as much memory traffic as a small product's
/// arithmetic, so it must run at copying speed: a transposing pack moves 8 × 8 and 4 × 4 blocks
/// through registers, which took the batch-128 forward product from 99 to 119 GFLOP/s on one core).
#[allow(clippy::too_many_arguments)]
pub(super) fn pack(
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

/// [`pack`] where each of the `kc` lines along the strips is contiguous (a row-major B, or the
/// last strip of a transposed A, whose whole strips are read in place): each line is read once,
/// front to back, and dealt out `W` values to a strip, the line `AHEAD` of it asked for
/// meanwhile ([`prefetch`]). (Strip by strip, each line was read `W` values at a time, once per
/// strip: the packs took 20% of the dW product `256×784×2048`, whose lines, a batch of inputs,
/// come from L3; 9% this way, and none since A is read in place.) `W` is a constant, so
/// each piece is a copy of known size rather than a call to `memmove`: with the width known only
/// at run time, 256×784×2048 and 256×256×2048 ran 3–4% slower (401–407 and 393–405 GFLOP/s
/// against 400–426 and 413–422, three rounds in turn).
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
}
