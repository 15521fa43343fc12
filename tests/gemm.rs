//! The CPU backend's f32 matrix product (`src/engine/gemm/`) against the f64 reference, on
//! shapes that miss every block size (the register blocks 12×32 and 6×16, 96 rows and 256 steps
//! of k a pass), in all four layouts, and bit for bit the same on any number of threads.

mod common;

use common::Rng;
use shadergrad::gemm::{sgemm, Strided};

/// The f64 product of the same f32 operands, and Σ|a·b| per element (what rounding scales with).
fn reference(a: &[f32], b: &[f32], [m, n, k]: [usize; 3], ta: bool, tb: bool) -> Vec<(f64, f64)> {
    let at = |i: usize, p: usize| a[if ta { p * m + i } else { i * k + p }] as f64;
    let bt = |p: usize, j: usize| b[if tb { j * k + p } else { p * n + j }] as f64;
    let mut c = vec![(0.0, 0.0); m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).fold((0.0, 0.0), |(s, abs), p| {
                let t = at(i, p) * bt(p, j);
                (s + t, abs + t.abs())
            });
        }
    }
    c
}

#[test]
fn the_f32_product_matches_f64_on_awkward_shapes_in_every_layout() {
    let mut rng = Rng::new(11);
    let shapes: [[usize; 3]; 17] = [
        [1, 1, 1],
        [1, 37, 19],
        [37, 1, 19],
        [13, 7, 0],
        [7, 13, 5],
        [12, 32, 256],
        [13, 33, 257],
        [97, 65, 300],
        [5, 9, 1001],
        [191, 17, 513],
        [130, 290, 70],
        [300, 520, 530],
        // Wider than a panel of B (NC = 768 columns) on one thread, split by rows and by columns.
        [900, 800, 64],
        [60, 1700, 50],
        // A row-major B 4 KiB a row: packed, where a narrower one is read in place.
        [40, 1024, 64],
        // Narrow products: a classifier's logits and their weights' gradient.
        [2048, 10, 512],
        [512, 10, 2048],
    ];
    for [m, n, k] in shapes {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a: Vec<f32> = rng.vec(m * k, -1.0, 1.0).into_iter().map(|v| v as f32).collect();
            let b: Vec<f32> = rng.vec(k * n, -1.0, 1.0).into_iter().map(|v| v as f32).collect();
            let want = reference(&a, &b, [m, n, k], ta, tb);
            // Stale values in C must not leak into the product.
            let mut c = vec![f32::NAN; m * n];
            sgemm(
                m,
                n,
                k,
                Strided::new(&a, m, k, ta),
                Strided::new(&b, k, n, tb),
                &mut c,
                2,
            );
            for (i, (&g, &(w, abs))) in c.iter().zip(&want).enumerate() {
                // A sum of k f32 terms of random sign errs by about √k·ε·Σ|terms| (ε = 2⁻²⁴);
                // 8× that, and never below one rounding of the terms' size.
                let tol = 8.0 * (k.max(1) as f64).sqrt() * f32::EPSILON as f64 / 2.0 * abs.max(1e-30);
                assert!(
                    (g as f64 - w).abs() <= tol,
                    "[{m}, {n}, {k}] ta={ta} tb={tb}: c[{i}] = {g}, want {w} (tolerance {tol:.1e})"
                );
            }
        }
    }
}

#[test]
fn the_product_is_the_same_bits_on_any_thread_count() {
    let mut rng = Rng::new(12);
    // Wide enough to split by columns, tall enough to split by rows, and big enough to thread;
    // with B row-major, one thread packs it (at least 512 rows of C) and more read it in place.
    for ([m, n, k], tb) in [[700, 150, 600], [60, 900, 700], [900, 10, 700]]
        .into_iter()
        .flat_map(|mnk| [(mnk, true), (mnk, false)])
    {
        let a: Vec<f32> = rng.vec(m * k, -1.0, 1.0).into_iter().map(|v| v as f32).collect();
        let b: Vec<f32> = rng.vec(k * n, -1.0, 1.0).into_iter().map(|v| v as f32).collect();
        let run = |threads| {
            let mut c = vec![0f32; m * n];
            sgemm(
                m,
                n,
                k,
                Strided::new(&a, m, k, false),
                Strided::new(&b, k, n, tb),
                &mut c,
                threads,
            );
            c
        };
        let one = run(1);
        for threads in [2, 3, 7] {
            assert!(
                run(threads) == one,
                "[{m}, {n}, {k}] (B transposed: {tb}) on {threads} threads differs from one thread"
            );
        }
    }
}
