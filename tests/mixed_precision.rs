//! The mixed-precision matmul (`WgpuBackend::mixed_precision`: f16 operands, f32 sums on the
//! adapter's cooperative matrices) against the CPU reference in f64, on every layout and
//! epilogue and on awkward shapes (1×1, primes, edges in every dimension, k = 0).
//!
//! Tolerances:
//! - operands that are multiples of 1/8 in [-1, 1]: exact. f16 holds them exactly, every product
//!   is a multiple of 1/64, and f32 adds up to 2¹⁸ of those without rounding, so any difference
//!   is a wrong index, tile or mask, not precision;
//! - any f32 operands: |gpu − ref| ≤ 1e-6 + 2⁻⁹·Σₖ|aᵢₖ·bₖⱼ|. Rounding an operand to f16 moves it by
//!   at most 2⁻¹¹ of itself, so each product moves by at most about 2⁻¹⁰ of itself; a device
//!   that rounds products to f16 adds 2⁻¹¹ more, and f32 sums of k ≤ 2¹⁰ terms at most k·2⁻²⁴.
//!   Together under 2⁻⁹ of the terms' magnitudes; the 1e-6 covers operands below f16's normal
//!   range (2⁻¹⁴), whose rounding is absolute.
//!
//! These need an adapter with f16 cooperative matrices: NVIDIA on Vulkan, or Mesa 26.1's
//! lavapipe (25.0's has none). Debian 12's Mesa 22.3 has none either, so there each numeric test
//! says loudly that it did not run, and the refusal is what gets checked; `.ci/run` then runs
//! this file again under Mesa 26.1's lavapipe (`.ci/lavapipe-coop`) with
//! `SHADERGRAD_REQUIRE_COOP=1`, which makes a missing adapter a failure.

mod common;

use std::sync::atomic::AtomicBool;

use common::{assert_close, f32_exact, gpu, run_kernel, Rng, AWKWARD_MATMULS, MATMUL_EPILOGUES, MATMUL_LAYOUTS};
use shadergrad::backend::cpu::CpuBackend;
use shadergrad::backend::wgpu::{adapters, coop_shape, launch_plan, CoopShape, MatmulKernels, MatmulPath, WgpuBackend};
use shadergrad::backend::{Backend, Kernel, Params};
use shadergrad::data::Dataset;
use shadergrad::op::Epilogue;
use shadergrad::optim::Optimizer;
use shadergrad::train::{fit, Progress, Trainer};
use shadergrad::Error;

/// The mixed-precision GPU, or None (after saying why) where the adapter has no f16
/// cooperative matrices.
fn mixed() -> Option<WgpuBackend> {
    match WgpuBackend::mixed_precision() {
        Ok(g) => {
            println!("  on {}", g.describe());
            Some(g)
        }
        Err(e @ Error::Unsupported { .. }) => {
            assert!(
                std::env::var_os("SHADERGRAD_REQUIRE_COOP").is_none(),
                "SHADERGRAD_REQUIRE_COOP is set, but: {e}"
            );
            eprintln!("NOT RUN: the mixed-precision check needs f16 cooperative matrices, and {e}");
            None
        }
        Err(e) => panic!("opening the GPU for mixed precision: {e}"),
    }
}

/// Values in [-1, 1] that f16 holds exactly: multiples of 1/8.
fn eighths(rng: &mut Rng, n: usize) -> Vec<f64> {
    rng.vec(n, -1.0, 1.0)
        .into_iter()
        .map(|x| (x * 8.0).round() / 8.0)
        .collect()
}

/// One matmul's buffers: a, b, then the bias or the activation's input and output, then c.
fn operands(
    rng: &mut Rng,
    kernel: Kernel,
    (m, n, k): (usize, usize, usize),
    values: fn(&mut Rng, usize) -> Vec<f64>,
) -> Vec<Vec<f64>> {
    let Kernel::Matmul { bias, epilogue, .. } = kernel else {
        unreachable!("matmuls only")
    };
    let mut init = vec![values(rng, m * k), values(rng, k * n)];
    if bias {
        init.push(values(rng, n));
    }
    if let Epilogue::ActivationGrad(op) = epilogue {
        let x = values(rng, m * n);
        let y = x.iter().map(|&v| op.f(v)).collect();
        init.extend([x, y]);
    }
    init.push(vec![]);
    init
}

#[test]
fn exact_operands_give_exact_products_in_every_layout_and_epilogue() {
    let Some(gpu) = mixed() else { return };
    let mut rng = Rng::new(5);
    let more = [(33, 47, 129), (130, 70, 300), (13, 7, 0)];
    for (m, n, k) in AWKWARD_MATMULS.into_iter().chain(more) {
        for (ta, tb) in MATMUL_LAYOUTS {
            for (bias, epilogue) in MATMUL_EPILOGUES {
                let kernel = Kernel::Matmul { ta, tb, bias, epilogue };
                let p = Params::dims(&[m as u32, n as u32, k as u32]);
                let init = operands(&mut rng, kernel, (m, n, k), eighths);
                let want = run_kernel(&CpuBackend::<f64>::new(), kernel, p, &init);
                let got = run_kernel(&gpu, kernel, p, &init);
                let what = format!("{} {m}x{n}x{k} f16", kernel.name());
                assert_close(&what, &got[0], &want[0], 0.0, 0.0, None);
            }
        }
    }
}

#[test]
fn rounding_to_f16_stays_within_its_bound() {
    let Some(gpu) = mixed() else { return };
    let mut rng = Rng::new(9);
    let uniform = |rng: &mut Rng, n: usize| f32_exact(rng.vec(n, -1.0, 1.0));
    for (m, n, k) in [(130, 70, 300), (200, 150, 1000), (9, 300, 40)] {
        for (ta, tb) in MATMUL_LAYOUTS {
            let kernel = Kernel::Matmul {
                ta,
                tb,
                bias: false,
                epilogue: Epilogue::None,
            };
            let p = Params::dims(&[m as u32, n as u32, k as u32]);
            let init = operands(&mut rng, kernel, (m, n, k), uniform);
            let want = run_kernel(&CpuBackend::<f64>::new(), kernel, p, &init);
            // Σₖ|aᵢₖ·bₖⱼ|: the same product on the operands' magnitudes.
            let magnitudes: Vec<Vec<f64>> = init.iter().map(|v| v.iter().map(|x| x.abs()).collect()).collect();
            let scale = run_kernel(&CpuBackend::<f64>::new(), kernel, p, &magnitudes);
            let got = run_kernel(&gpu, kernel, p, &init);
            let what = format!("{} {m}x{n}x{k} f16", kernel.name());
            assert_close(&what, &got[0], &want[0], 1e-6, 2f64.powi(-9), Some(&scale[0]));
        }
    }
}

#[test]
fn a_device_without_cooperative_matrices_refuses_them_by_name() {
    // A device opened without them, told to use them anyway: an error at the launch.
    let plain = gpu().with_matmul(MatmulKernels::Cooperative);
    let a = plain.alloc(4, "a").unwrap();
    let b = plain.alloc(4, "b").unwrap();
    let c = plain.alloc(4, "c").unwrap();
    let kernel = Kernel::Matmul {
        ta: false,
        tb: false,
        bias: false,
        epilogue: Epilogue::None,
    };
    let err = plain
        .prepare(kernel, Params::dims(&[2, 2, 2]), &[&a, &b, &c])
        .err()
        .expect("a device opened without cooperative matrices cannot run the mixed-precision matmul");
    assert!(
        matches!(err, Error::Unsupported { .. }) && err.to_string().contains("WgpuBackend::mixed_precision"),
        "{err}"
    );
    println!("  {err}");
    // Asking for them on the adapter: an error naming it and what it lacks, where it lacks them.
    let adapter = &adapters()[0];
    match (coop_shape(adapter), WgpuBackend::mixed_precision()) {
        (Ok(shape), Ok(g)) => println!("  {} offers {shape:?}: {}", adapter.get_info().name, g.describe()),
        (Err(why), Err(e)) => {
            let text = e.to_string();
            assert!(text.contains(&adapter.get_info().name) && text.contains(&why), "{text}");
            println!("  {text}");
        }
        (shape, opened) => panic!("coop_shape says {shape:?} but mixed_precision gave {:?}", opened.err()),
    }
}

#[test]
fn a_grid_past_65535_blocks_is_refused_by_name() {
    // 8×8 matrices make 32×32 blocks of C: 65,535 of them across a row of 65,535·32 columns,
    // one more past it. Planned only, so this runs on any machine.
    let kernel = Kernel::Matmul {
        ta: false,
        tb: false,
        bias: false,
        epilogue: Epilogue::None,
    };
    let path = MatmulPath::Cooperative(CoopShape { tile: 8, subgroup: 8 });
    let widest = Params::dims(&[1, 65_535 * 32, 1]);
    assert_eq!(
        launch_plan(&kernel, &widest, path).unwrap().dispatches[0].grid,
        [65_535, 1, 1]
    );
    let wider = Params::dims(&[1, 65_535 * 32 + 1, 1]);
    let err = launch_plan(&kernel, &wider, path).expect_err("a grid too wide");
    assert!(matches!(err, Error::GridTooLarge { .. }), "{err}");
    println!("  {err}");
}

#[test]
fn training_in_mixed_precision_learns_as_f32_does() {
    // The same short run (same weights, batches and order) with f32 products and with f16 ones on
    // the same adapter: rounding the operands moves each product by about 2⁻¹⁰ of itself, noise
    // far below SGD's own, so the two end within a point of accuracy and 2% of loss (measured on
    // lavapipe 26.1: 93.0% against 92.9%, losses within 0.2%, on the CLI's default run).
    let Some(mixed) = mixed() else { return };
    let digits = Dataset::bundled_digits().unwrap();
    let (train, val) = digits.split(1000, 0);
    let train = train.subset(&(0..2000).collect::<Vec<_>>());
    let cfg = common::digits_config(&[64], Optimizer::momentum(0.05), 32, 2, 3);
    let run = |gpu: &WgpuBackend| {
        let mut t = Trainer::new(gpu, cfg.clone()).unwrap();
        let mut p = Progress::default();
        assert!(fit(&mut t, &train, &val, &mut p, &AtomicBool::new(false), &mut |_, _, _| {}).unwrap());
        let last = p.history.last().unwrap().clone();
        (last.loss, last.val_score)
    };
    let (f32_loss, f32_score) = run(&gpu());
    let (f16_loss, f16_score) = run(&mixed);
    println!(
        "  f32: loss {f32_loss:.4}, accuracy {:.1}%; f16 products: loss {f16_loss:.4}, accuracy {:.1}%",
        100.0 * f32_score,
        100.0 * f16_score
    );
    assert!(
        (f16_score - f32_score).abs() <= 0.01,
        "accuracy {f16_score} against {f32_score}"
    );
    assert!(
        (f16_loss - f32_loss).abs() <= 0.02 * f32_loss,
        "loss {f16_loss} against {f32_loss}"
    );
}
