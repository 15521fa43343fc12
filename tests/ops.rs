//! Every kernel, forward and backward, on the GPU against the CPU reference (in f64), on random
//! inputs of awkward shapes: 1×1, primes, 1×K and K×1, sizes that are not multiples of any tile,
//! a matmul larger than 512×512 and an elementwise job past 65,535 workgroups.
//!
//! Inputs are rounded to f32 first, so the two backends start from the same numbers and every
//! difference is the GPU's f32 arithmetic. Tolerances (|gpu − ref| ≤ abs + rel·scale):
//! - elementwise: abs 1e-6, rel 2e-5 of |ref|: a few ulps (Vulkan allows 3 + 2|x| ulp for exp,
//!   3 ulp for log; pow goes through exp2 and log2);
//! - sums of K terms (matmul, column/row sums, losses): abs 1e-5, rel 1e-4 of Σ|terms|/√K, the
//!   size f32 rounding reaches in a K-term sum in practice (errors grow like √K);
//! - max: exact.

mod common;

use common::{assert_close, f32_exact, gpu, run_kernel, Rng, AWKWARD_MATMULS, MATMUL_EPILOGUES, MATMUL_LAYOUTS};
use shadergrad::backend::cpu::CpuBackend;
use shadergrad::backend::wgpu::{MatmulKernels, WgpuBackend};
use shadergrad::backend::{pack_bytes, Backend, Element, Kernel, Params};
use shadergrad::op::{Axis, Epilogue, Role};
use shadergrad::{BinaryOp, Broadcast, Operand, UnaryOp};

const ELEMENTWISE: (f64, f64) = (1e-6, 2e-5);
const SUMS: (f64, f64) = (1e-5, 1e-4);

/// Runs `kernel` on both backends and compares every output. `scale` gives, per output, the
/// magnitude its rounding error scales with (None: |ref|).
fn compare(
    what: &str,
    kernel: Kernel,
    params: Params,
    init: &[Vec<f64>],
    tol: (f64, f64),
    scale: Option<Vec<Vec<f64>>>,
) {
    compare_on(&gpu(), what, kernel, params, init, tol, scale)
}

fn compare_on(
    gpu: &WgpuBackend,
    what: &str,
    kernel: Kernel,
    params: Params,
    init: &[Vec<f64>],
    tol: (f64, f64),
    scale: Option<Vec<Vec<f64>>>,
) {
    let want = run_kernel(&CpuBackend::<f64>::new(), kernel, params, init);
    let got = run_kernel(gpu, kernel, params, init);
    for (o, (g, w)) in got.iter().zip(&want).enumerate() {
        let s = scale.as_ref().map(|s| s[o].as_slice());
        assert_close(&format!("{what} out{o}"), g, w, tol.0, tol.1, s);
    }
}

const LENGTHS: [usize; 5] = [1, 7, 91, 1000, 70_001];
const MATRICES: [(usize, usize); 8] = [
    (1, 1),
    (7, 13),
    (1, 37),
    (37, 1),
    (33, 65),
    (300, 10),
    (5, 1000),
    (129, 257),
];

/// Inputs inside each op's domain, away from kinks and poles.
fn unary_input(op: UnaryOp, rng: &mut Rng, n: usize) -> Vec<f64> {
    match op {
        UnaryOp::Log | UnaryOp::Sqrt => rng.vec(n, 0.05, 4.0),
        UnaryOp::Recip => rng.away_from_zero(n, 0.2, 3.0),
        UnaryOp::Relu | UnaryOp::LeakyRelu(_) | UnaryOp::Elu(_) | UnaryOp::Abs => rng.away_from_zero(n, 1e-3, 3.0),
        _ => rng.vec(n, -3.0, 3.0),
    }
}

#[test]
fn unary_forward_and_backward_match_cpu() {
    let mut rng = Rng::new(1);
    for op in UnaryOp::ALL {
        for n in LENGTHS {
            let x = f32_exact(unary_input(op, &mut rng, n));
            let y: Vec<f64> = f32_exact(x.iter().map(|&v| op.f(v)).collect());
            let dy = f32_exact(rng.vec(n, -1.0, 1.0));
            let p = Params::dims(&[n as u32]);
            compare(
                &format!("{} n={n}", Kernel::Unary(op).name()),
                Kernel::Unary(op),
                p,
                &[x.clone(), vec![]],
                ELEMENTWISE,
                None,
            );
            compare(
                &format!("{} n={n}", Kernel::UnaryGrad(op).name()),
                Kernel::UnaryGrad(op),
                p,
                &[x, y, dy, vec![]],
                ELEMENTWISE,
                None,
            );
        }
    }
}

#[test]
fn binary_forward_and_backward_match_cpu() {
    let mut rng = Rng::new(2);
    for op in BinaryOp::ALL {
        for n in LENGTHS {
            let a = f32_exact(match op {
                BinaryOp::Pow => rng.vec(n, 0.1, 3.0),
                _ => rng.vec(n, -3.0, 3.0),
            });
            let b = f32_exact(match op {
                BinaryOp::Div => rng.away_from_zero(n, 0.3, 3.0),
                BinaryOp::Pow => rng.vec(n, -2.0, 2.0),
                _ => rng.vec(n, -3.0, 3.0),
            });
            let dc = f32_exact(rng.vec(n, -1.0, 1.0));
            let p = Params::dims(&[n as u32]);
            let fwd = Kernel::Binary(op);
            compare(
                &format!("{} n={n}", fwd.name()),
                fwd,
                p,
                &[a.clone(), b.clone(), vec![]],
                ELEMENTWISE,
                None,
            );
            for wrt in [Operand::A, Operand::B] {
                let k = Kernel::BinaryGrad(op, wrt);
                compare(
                    &format!("{} n={n}", k.name()),
                    k,
                    p,
                    &[a.clone(), b.clone(), dc.clone(), vec![]],
                    ELEMENTWISE,
                    None,
                );
            }
        }
    }
}

#[test]
fn binary_max_routes_ties_to_the_first_input() {
    let a = vec![1.0, 2.0, -3.0];
    let dc = vec![1.0, 1.0, 1.0];
    for backend_result in [
        run_kernel(
            &CpuBackend::<f64>::new(),
            Kernel::BinaryGrad(BinaryOp::Max, Operand::A),
            Params::dims(&[3]),
            &[a.clone(), a.clone(), dc.clone(), vec![]],
        ),
        run_kernel(
            &gpu(),
            Kernel::BinaryGrad(BinaryOp::Max, Operand::A),
            Params::dims(&[3]),
            &[a.clone(), a.clone(), dc.clone(), vec![]],
        ),
    ] {
        assert_eq!(backend_result[0], vec![1.0, 1.0, 1.0]);
    }
}

/// Σ_k |op(a)_ik|·|op(b)_kj| / √k: the magnitude a product's rounding error scales with.
fn matmul_scale(kernel: Kernel, p: Params, init: &[Vec<f64>]) -> Vec<f64> {
    let abs: Vec<Vec<f64>> = init.iter().map(|v| v.iter().map(|x| x.abs()).collect()).collect();
    let Kernel::Matmul { ta, tb, bias, .. } = kernel else {
        unreachable!()
    };
    let plain = Kernel::Matmul {
        ta,
        tb,
        bias,
        epilogue: Epilogue::None,
    };
    // `init` holds the operands (and bias) and the empty output, never an activation's values.
    let k = p.dims[2].max(1) as f64;
    run_kernel(&CpuBackend::<f64>::new(), plain, p, &abs)[0]
        .iter()
        .map(|s| s / k.sqrt())
        .collect()
}

#[test]
fn matmul_all_transposes_and_epilogues_match_cpu() {
    // The adapter's own choice (register-blocked on lavapipe, tiled on GPUs) ...
    matmuls_match_cpu(&gpu(), "");
}

#[test]
fn tiled_matmuls_match_cpu_too() {
    // ... and the workgroup-tiled kernels, whichever the adapter prefers, with a product big
    // enough for the 128×128 tiles (81 of them).
    let tiled = gpu().with_matmul(MatmulKernels::Tiled);
    matmuls_match_cpu(&tiled, " (tiled)");
    let mut rng = Rng::new(31);
    for (ta, tb, bias) in [
        (false, false, false),
        (true, true, true),
        (false, true, true),
        (true, false, false),
    ] {
        let epilogue = if bias {
            Epilogue::Activation(UnaryOp::Relu)
        } else {
            Epilogue::ActivationGrad(UnaryOp::Relu)
        };
        check_matmul(
            &tiled,
            &mut rng,
            Kernel::Matmul { ta, tb, bias, epilogue },
            (1030, 1030, 33),
            " (tiled, 128×128)",
        );
    }
}

/// One matmul on random operands (and bias, or an activation's input and output: for ReLU about
/// half of it zero), GPU against the CPU reference.
fn check_matmul(gpu: &WgpuBackend, rng: &mut Rng, kernel: Kernel, (m, n, k): (usize, usize, usize), label: &str) {
    let Kernel::Matmul { bias, epilogue, .. } = kernel else {
        unreachable!("matmuls only")
    };
    let p = Params::dims(&[m as u32, n as u32, k as u32]);
    let mut init = vec![
        f32_exact(rng.vec(m * k, -1.0, 1.0)),
        f32_exact(rng.vec(k * n, -1.0, 1.0)),
    ];
    if bias {
        init.push(f32_exact(rng.vec(n, -1.0, 1.0)));
    }
    // The product's own operands give the rounding scale; the activation's derivative (at most
    // about 1.1 for these ops) only scales results.
    let scale = matmul_scale(kernel, p, &[init.as_slice(), &[vec![]]].concat());
    if let Epilogue::ActivationGrad(op) = epilogue {
        let x = f32_exact(unary_input(op, rng, m * n));
        let y = f32_exact(x.iter().map(|&v| op.f(v)).collect());
        init.extend([x, y]);
    }
    init.push(vec![]);
    compare_on(
        gpu,
        &format!("{} {m}x{n}x{k}{label}", kernel.name()),
        kernel,
        p,
        &init,
        SUMS,
        Some(vec![scale]),
    );
}

fn matmuls_match_cpu(gpu: &WgpuBackend, label: &str) {
    let mut rng = Rng::new(3);
    let more = [(130, 70, 300), (5, 9, 1001), (13, 7, 0), (600, 520, 530)];
    for (m, n, k) in AWKWARD_MATMULS.into_iter().chain(more) {
        for (ta, tb) in MATMUL_LAYOUTS {
            for (bias, epilogue) in MATMUL_EPILOGUES {
                if (m, n, k) == (600, 520, 530) && epilogue != Epilogue::None {
                    continue; // the epilogue is covered on the smaller shapes
                }
                let kernel = Kernel::Matmul { ta, tb, bias, epilogue };
                check_matmul(gpu, &mut rng, kernel, (m, n, k), label);
            }
        }
    }
    // Every other activation in both epilogues, on a shape with edges in every dimension.
    for op in UnaryOp::with_role(Role::Activation).filter(|&op| op != UnaryOp::Relu) {
        for (bias, epilogue) in [(true, Epilogue::Activation(op)), (false, Epilogue::ActivationGrad(op))] {
            let kernel = Kernel::Matmul {
                ta: false,
                tb: true,
                bias,
                epilogue,
            };
            // Rows of 63 store scalars, rows of 68 vec4s (and 68 is not a multiple of a block).
            check_matmul(gpu, &mut rng, kernel, (65, 63, 17), label);
            check_matmul(gpu, &mut rng, kernel, (65, 68, 17), label);
        }
    }
}

#[test]
fn bias_add_and_its_column_sum_gradient_match_cpu() {
    let mut rng = Rng::new(4);
    for (rows, cols) in MATRICES {
        let p = Params::dims(&[rows as u32, cols as u32]);
        let x = f32_exact(rng.vec(rows * cols, -2.0, 2.0));
        let b = f32_exact(rng.vec(cols, -2.0, 2.0));
        compare(
            &format!("bias_add {rows}x{cols}"),
            Kernel::BiasAdd,
            p,
            &[x.clone(), b, vec![]],
            ELEMENTWISE,
            None,
        );
        let abs_sums = run_kernel(
            &CpuBackend::<f64>::new(),
            Kernel::ColSum,
            p,
            &[x.iter().map(|v| v.abs()).collect(), vec![]],
        );
        let scale: Vec<f64> = abs_sums[0].iter().map(|s| s / (rows as f64).sqrt()).collect();
        compare(
            &format!("col_sum {rows}x{cols}"),
            Kernel::ColSum,
            p,
            &[x, vec![]],
            SUMS,
            Some(vec![scale]),
        );
    }
}

#[test]
fn row_reductions_and_broadcasts_match_cpu() {
    let mut rng = Rng::new(5);
    for (rows, cols) in MATRICES {
        let p = Params::dims(&[rows as u32, cols as u32]);
        let x = f32_exact(rng.vec(rows * cols, -2.0, 2.0));
        let row_abs: Vec<f64> = x
            .chunks(cols)
            .map(|r| r.iter().map(|v| v.abs()).sum::<f64>() / (cols as f64).sqrt())
            .collect();
        compare(
            &format!("row_sum {rows}x{cols}"),
            Kernel::RowSum,
            p,
            &[x.clone(), vec![]],
            SUMS,
            Some(vec![row_abs]),
        );
        compare(
            &format!("row_max {rows}x{cols}"),
            Kernel::RowMax,
            p,
            &[x.clone(), vec![]],
            (0.0, 0.0),
            None,
        );
        let y = run_kernel(&CpuBackend::<f64>::new(), Kernel::RowMax, p, &[x.clone(), vec![]]).remove(0);
        let dy = f32_exact(rng.vec(rows, -1.0, 1.0));
        compare(
            &format!("row_max_backward {rows}x{cols}"),
            Kernel::RowMaxGrad,
            p,
            &[x.clone(), y, dy, vec![]],
            ELEMENTWISE,
            None,
        );
        for (mode, src_len) in [(Broadcast::Scalar, 1), (Broadcast::Rows, rows), (Broadcast::Cols, cols)] {
            let src = f32_exact(rng.vec(src_len, -2.0, 2.0));
            let k = Kernel::Broadcast(mode);
            compare(
                &format!("{} {rows}x{cols}", k.name()),
                k,
                p,
                &[src, vec![]],
                (0.0, 0.0),
                None,
            );
        }
    }
    for n in LENGTHS {
        let x = f32_exact(rng.vec(n, -2.0, 2.0));
        let scale = vec![x.iter().map(|v| v.abs()).sum::<f64>() / (n as f64).sqrt()];
        compare(
            &format!("sum_all n={n}"),
            Kernel::SumAll,
            Params::dims(&[n as u32]),
            &[x, vec![]],
            SUMS,
            Some(vec![scale]),
        );
    }
}

/// Example weights for a weighted loss over `rows` examples, summing to 1 as the builders make
/// them (one of them 0: an example that does not count), f32-exact; and `inputs` with them
/// inserted third, where a weighted loss kernel reads them.
fn weighted_inputs(rng: &mut Rng, weighted: bool, rows: usize, mut inputs: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    if weighted {
        let mut w = rng.vec(rows, 0.0, 3.0);
        w[rows / 2] = 0.0;
        let total: f64 = w.iter().sum::<f64>().max(1e-9);
        inputs.insert(2, f32_exact(w.iter().map(|v| v / total).collect()));
    }
    inputs
}

#[test]
fn softmax_cross_entropy_and_mse_match_cpu() {
    let mut rng = Rng::new(6);
    for (rows, cols) in MATRICES {
        for (spread, smoothing) in [(3.0, 0.0), (1e4, 0.0), (3.0, 0.1), (1e4, 0.1)] {
            for weighted in [false, true] {
                softmax_cross_entropy_matches_cpu(&mut rng, rows, cols, spread, smoothing, weighted);
            }
        }
    }
    let shapes = LENGTHS.map(|n| (n, 1)).into_iter().chain(MATRICES);
    for ((rows, cols), weighted) in shapes.flat_map(|s| [(s, false), (s, true)]) {
        let n = rows * cols;
        // Weighted: the rows are the examples the weights are of.
        let p = match weighted {
            false => Params::dims(&[n as u32]),
            true => Params::dims(&[n as u32, rows as u32]),
        };
        let pred = f32_exact(rng.vec(n, -2.0, 2.0));
        let target = f32_exact(rng.vec(n, -2.0, 2.0));
        let scale = vec![pred.iter().zip(&target).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / n as f64];
        let forward = weighted_inputs(&mut rng, weighted, rows, vec![pred, target, vec![]]);
        let what = if weighted { " weighted" } else { "" };
        compare(
            &format!("mse_forward {rows}x{cols}{what}"),
            Kernel::Mse { weighted },
            p,
            &forward,
            SUMS,
            Some(vec![scale]),
        );
        // The backward reads dloss where the forward writes the loss, and writes dpred after.
        let mut backward = forward;
        *backward.last_mut().expect("the loss's place") = vec![0.75];
        backward.push(vec![]);
        compare(
            &format!("mse_backward {rows}x{cols}{what}"),
            Kernel::MseGrad { weighted },
            p,
            &backward,
            ELEMENTWISE,
            None,
        );
    }
}

/// The three softmax cross-entropy kernels on both backends, for one shape, spread of logits,
/// label smoothing and weighting.
fn softmax_cross_entropy_matches_cpu(
    rng: &mut Rng,
    rows: usize,
    cols: usize,
    spread: f64,
    smoothing: f64,
    weighted: bool,
) {
    let p = Params::dims(&[rows as u32, cols as u32]).with_scalars(&[smoothing]);
    // ±1e4 logits: the max subtraction must keep exp() finite.
    let logits = f32_exact(rng.vec(rows * cols, -spread, spread));
    let labels = rng.labels(rows, cols);
    let inputs = weighted_inputs(rng, weighted, rows, vec![logits, labels]);
    // The inputs, then `rest` (the backward's dloss, the outputs' places).
    let with = |rest: Vec<Vec<f64>>| [inputs.clone(), rest].concat();
    let what = format!("{rows}x{cols} ±{spread} smoothing {smoothing} weighted {weighted}");
    let out = run_kernel(
        &CpuBackend::<f64>::new(),
        Kernel::SoftmaxCe { smoothing, weighted },
        p,
        &with(vec![vec![], vec![]]),
    );
    assert!(
        out[1][0].is_finite(),
        "reference loss is finite for logits of ±{spread}"
    );
    let loss_scale = vec![out[1][0].abs() + spread];
    compare(
        &format!("softmax_ce_forward {what}"),
        Kernel::SoftmaxCe { smoothing, weighted },
        p,
        &with(vec![vec![], vec![]]),
        SUMS,
        Some(vec![vec![1.0; rows * cols], loss_scale.clone()]),
    );
    let dloss = f32_exact(vec![rng.uniform(0.5, 2.0)]);
    compare(
        &format!("softmax_ce_fused {what}"),
        Kernel::SoftmaxCeFused { smoothing, weighted },
        p,
        &with(vec![dloss.clone(), vec![], vec![]]),
        SUMS,
        Some(vec![loss_scale, vec![1.0; rows * cols]]),
    );
    // The backward reads the probabilities in the logits' place.
    let mut backward = with(vec![dloss, vec![]]);
    backward[0] = f32_exact(out[0].clone());
    compare(
        &format!("softmax_ce_backward {what}"),
        Kernel::SoftmaxCeGrad { smoothing, weighted },
        p,
        &backward,
        ELEMENTWISE,
        None,
    );
}

#[test]
fn log_softmax_forward_and_backward_match_cpu() {
    // Rows of every awkward length, 70,001 rows (a grid folded past 65,535 workgroups) and
    // logits of ±1e4 (the max subtraction keeps exp() finite). Each output is a difference of
    // terms of the size of |x| and ln Σ e^x, so its rounding scales with them.
    let mut rng = Rng::new(12);
    for (rows, cols) in MATRICES.into_iter().chain([(70_001, 3)]) {
        for spread in [3.0, 1e4] {
            let p = Params::dims(&[rows as u32, cols as u32]);
            let x = f32_exact(rng.vec(rows * cols, -spread, spread));
            let y = run_kernel(&CpuBackend::<f64>::new(), Kernel::LogSoftmax, p, &[x.clone(), vec![]]).remove(0);
            assert!(y.iter().all(|v| v.is_finite()), "reference is finite for ±{spread}");
            let scale: Vec<f64> = x.iter().zip(&y).map(|(x, y)| x.abs() + (x - y).abs()).collect();
            compare(
                &format!("log_softmax_forward {rows}x{cols} ±{spread}"),
                Kernel::LogSoftmax,
                p,
                &[x, vec![]],
                SUMS,
                Some(vec![scale]),
            );
            let y = f32_exact(y);
            let dy = f32_exact(rng.vec(rows * cols, -1.0, 1.0));
            let row_abs: Vec<f64> = dy.chunks(cols).map(|r| r.iter().map(|v| v.abs()).sum()).collect();
            let scale = (0..rows * cols)
                .map(|i| dy[i].abs() + y[i].exp() * row_abs[i / cols])
                .collect();
            compare(
                &format!("log_softmax_backward {rows}x{cols} ±{spread}"),
                Kernel::LogSoftmaxGrad,
                p,
                &[y, dy, vec![]],
                SUMS,
                Some(vec![scale]),
            );
        }
    }
}

#[test]
fn dropout_masks_are_the_same_on_both_backends_and_drop_p_within_a_binomial_bound() {
    // Masks come from counters, so the GPU must draw exactly the CPU's: every kept value is
    // x/(1 − p) (one f32 rounding), every dropped one exactly 0, at the same indices.
    let mut rng = Rng::new(21);
    let cpu = CpuBackend::<f64>::new();
    let gpu = gpu();
    for n in LENGTHS {
        for (p, stream, step) in [(0.5, 1u32, 1u32), (0.1, 7, 12_345), (0.9, u32::MAX, 3)] {
            let threshold = shadergrad::op::random::drop_threshold(p);
            let params = Params::dims(&[n as u32, stream, step, threshold]).with_scalars(&[1.0 / (1.0 - p)]);
            let kernel = Kernel::Dropout { p, stream };
            let x = f32_exact(rng.vec(n, 0.5, 2.0));
            let want = run_kernel(&cpu, kernel, params, &[x.clone(), vec![]]).remove(0);
            let got = run_kernel(&gpu, kernel, params, &[x.clone(), vec![]]).remove(0);
            for i in 0..n {
                assert_eq!(
                    want[i] == 0.0,
                    got[i] == 0.0,
                    "dropout n={n} p={p}: element {i} masked differently"
                );
                let err = (want[i] - got[i]).abs();
                assert!(
                    err <= 1e-6 * want[i].abs(),
                    "dropout n={n} p={p}: element {i} {} vs {}",
                    got[i],
                    want[i]
                );
            }
            // The dropped count is Binomial(n, p): within 5 standard deviations (a false alarm
            // once in ~3.5 million), and for n = 1 either outcome.
            let dropped = want.iter().filter(|&&v| v == 0.0).count() as f64;
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (dropped - n as f64 * p).abs() <= 5.0 * sd + 1.0,
                "dropout n={n} p={p}: dropped {dropped}, expected {} ± {}",
                n as f64 * p,
                5.0 * sd
            );
            println!(
                "dropout n={n} p={p} stream={stream} step={step}: {dropped} dropped, masks equal on both backends"
            );
        }
    }
}

/// Each element's `1/√(var + eps)`, the variance that of its row or column (f64, two passes).
fn rstd_per_element(x: &[f64], rows: usize, cols: usize, axis: Axis, eps: f64) -> Vec<f64> {
    let line = |i: usize| -> Vec<usize> {
        match axis {
            Axis::Rows => (0..cols).map(|j| (i / cols) * cols + j).collect(),
            Axis::Columns => (0..rows).map(|r| r * cols + i % cols).collect(),
        }
    };
    (0..rows * cols)
        .map(|i| {
            let l = line(i);
            let mean = l.iter().map(|&k| x[k]).sum::<f64>() / l.len() as f64;
            let var = l.iter().map(|&k| (x[k] - mean).powi(2)).sum::<f64>() / l.len() as f64;
            1.0 / (var + eps).sqrt()
        })
        .collect()
}

#[test]
fn normalize_rows_and_columns_forward_and_backward_match_cpu() {
    // Layer norm (rows) and batch norm (columns) statistics over awkward lengths, and 70,001
    // rows (a grid folded past 65,535 workgroups). Values sit on an offset of 100 with a spread
    // of 1, so the two-pass variance matters (one pass loses digits to cancellation). f32
    // rounds x, and so x − mean, by |x|·2⁻²⁴, which rstd = 1/√(var + eps) magnifies: the
    // forward's error scales with |x|·rstd; the backward's (dy − mean dy − x̂·mean(dy·x̂))·rstd
    // with rstd·(|dy| + |x|·rstd), the x̂ term's error times |mean(dy·x̂)| ≤ 1. With the affine
    // both scale by |gain| (≤ 2; the backward's mean(g·x̂) by up to 2 as well). Tolerance: 1e-5
    // of that scale (a few dozen roundings of 6e-8 in the sums and the two passes).
    let mut rng = Rng::new(22);
    for (rows, cols) in MATRICES.into_iter().chain([(70_001, 3)]) {
        for axis in [Axis::Rows, Axis::Columns] {
            if axis == Axis::Columns && rows == 70_001 {
                continue; // the folded grid is the rows case's; 3 columns of 70,001 is slow on lavapipe
            }
            let eps = 1e-5;
            let p = Params::dims(&[rows as u32, cols as u32]).with_scalars(&[eps]);
            let x = f32_exact(rng.vec(rows * cols, 99.0, 101.0));
            let rstd = rstd_per_element(&x, rows, cols, axis, eps);
            // Plain (gain 1, bias 0), and with a gain in ±2 and a bias (which scales the error by |gain|).
            for affine in [false, true] {
                let (gain, bias) = if affine {
                    (f32_exact(rng.vec(cols, -2.0, 2.0)), f32_exact(rng.vec(cols, -1.0, 1.0)))
                } else {
                    (vec![1.0; cols], vec![0.0; cols])
                };
                let g = |i: usize| gain[i % cols].abs();
                let kernel = Kernel::Normalize { axis, eps };
                let scale: Vec<f64> = (0..rows * cols).map(|i| x[i].abs() * rstd[i] * g(i) + 1.0).collect();
                let what = if affine { "with gain and bias" } else { "plain" };
                compare(
                    &format!("{} {rows}x{cols} {what}", kernel.name()),
                    kernel,
                    p,
                    &[x.clone(), gain.clone(), bias, vec![]],
                    (1e-6, 1e-5),
                    Some(vec![scale]),
                );
                let dy = f32_exact(rng.vec(rows * cols, -1.0, 1.0));
                let scale: Vec<f64> = (0..rows * cols)
                    .map(|i| rstd[i] * g(i).max(1.0) * 2.0 * (dy[i].abs() + 1.0 + x[i].abs() * rstd[i]))
                    .collect();
                let grad = Kernel::NormalizeGrad { axis, eps };
                compare(
                    &format!("{} {rows}x{cols} {what}", grad.name()),
                    grad,
                    p,
                    &[x.clone(), gain, dy, vec![]],
                    (1e-6, 1e-5),
                    Some(vec![scale]),
                );
            }
        }
    }
}

#[test]
fn softplus_stays_finite_and_exact_for_large_inputs_on_both_backends() {
    let x = vec![-1e4, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 1e4];
    let p = Params::dims(&[x.len() as u32]);
    let op = UnaryOp::Softplus;
    let want = run_kernel(&CpuBackend::<f64>::new(), Kernel::Unary(op), p, &[x.clone(), vec![]]).remove(0);
    let got = run_kernel(&gpu(), Kernel::Unary(op), p, &[x.clone(), vec![]]).remove(0);
    assert!(got.iter().all(|v| v.is_finite()), "{got:?}");
    // softplus(-100) ≈ 3.7e-44 is subnormal in f32, which a GPU may flush to zero: below 1e-30
    // the tolerance is absolute.
    assert_close("softplus ±1e4 (gpu vs cpu)", &got, &want, 1e-30, 2e-5, None);
    let y = f32_exact(want);
    let dy = vec![1.0; x.len()];
    compare(
        "softplus_backward ±1e4",
        Kernel::UnaryGrad(op),
        p,
        &[x, y, dy, vec![]],
        ELEMENTWISE,
        None,
    );
}

#[test]
fn binary_cross_entropy_with_logits_matches_cpu() {
    // Forward, backward and fused, on awkward shapes and logits of ±1e4 (where a naive
    // −t·ln σ(z) overflows), with 0/1 targets, unweighted and weighted by row. The loss is a
    // mean of terms up to |z| + ln 2.
    let mut rng = Rng::new(13);
    for (rows, cols) in MATRICES {
        let n = rows * cols;
        for (spread, weighted) in [(3.0, false), (1e4, false), (3.0, true), (1e4, true)] {
            let p = match weighted {
                false => Params::dims(&[n as u32]),
                true => Params::dims(&[n as u32, rows as u32]),
            };
            let z = f32_exact(rng.vec(n, -spread, spread));
            let t: Vec<f64> = (0..n).map(|_| (rng.next_u64() & 1) as f64).collect();
            let inputs = weighted_inputs(&mut rng, weighted, rows, vec![z, t]);
            let with = |rest: Vec<Vec<f64>>| [inputs.clone(), rest].concat();
            let what = format!("{rows}x{cols} ±{spread} weighted {weighted}");
            let loss = run_kernel(
                &CpuBackend::<f64>::new(),
                Kernel::SigmoidBce { weighted },
                p,
                &with(vec![vec![]]),
            );
            assert!(loss[0][0].is_finite(), "reference loss is finite for ±{spread}");
            let loss_scale = vec![loss[0][0].abs() + spread / (n as f64).sqrt()];
            compare(
                &format!("sigmoid_bce_forward {what}"),
                Kernel::SigmoidBce { weighted },
                p,
                &with(vec![vec![]]),
                SUMS,
                Some(vec![loss_scale.clone()]),
            );
            let dloss = f32_exact(vec![rng.uniform(0.5, 2.0)]);
            compare(
                &format!("sigmoid_bce_backward {what}"),
                Kernel::SigmoidBceGrad { weighted },
                p,
                &with(vec![dloss.clone(), vec![]]),
                ELEMENTWISE,
                None,
            );
            compare(
                &format!("sigmoid_bce_fused {what}"),
                Kernel::SigmoidBceFused { weighted },
                p,
                &with(vec![dloss, vec![], vec![]]),
                SUMS,
                Some(vec![loss_scale, vec![1.0 / n as f64; n]]),
            );
        }
    }
}

#[test]
fn labels_outside_the_classes_make_the_loss_nan_on_both_backends() {
    let p = Params::dims(&[2, 3]);
    let init = [vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6], vec![1.0, 3.0], vec![], vec![]];
    for out in [
        run_kernel(
            &CpuBackend::<f64>::new(),
            Kernel::SoftmaxCe {
                smoothing: 0.1,
                weighted: false,
            },
            p,
            &init,
        ),
        run_kernel(
            &gpu(),
            Kernel::SoftmaxCe {
                smoothing: 0.1,
                weighted: false,
            },
            p,
            &init,
        ),
    ] {
        assert!(
            out[1][0].is_nan(),
            "label 3 of 3 classes gives a NaN loss, got {}",
            out[1][0]
        );
    }
}

#[test]
fn optimizer_updates_match_cpu() {
    let mut rng = Rng::new(7);
    for n in LENGTHS {
        let w = f32_exact(rng.vec(n, -1.0, 1.0));
        let g = f32_exact(rng.vec(n, -1.0, 1.0));
        let m = f32_exact(rng.vec(n, -0.1, 0.1));
        let v = f32_exact(rng.vec(n, 0.0, 0.01));
        let sgd = Params::dims(&[n as u32]).with_scalars(&[0.05, 1e-4]);
        compare(
            &format!("sgd n={n}"),
            Kernel::Sgd,
            sgd,
            &[w.clone(), g.clone()],
            ELEMENTWISE,
            None,
        );
        for nesterov in [0, 1] {
            let p = Params::dims(&[n as u32, nesterov]).with_scalars(&[0.05, 0.9, 1e-4]);
            compare(
                &format!("momentum nesterov={nesterov} n={n}"),
                Kernel::Momentum,
                p,
                &[w.clone(), g.clone(), m.clone()],
                ELEMENTWISE,
                None,
            );
        }
        for decoupled in [0, 1] {
            let t = 3.0;
            let p = Params::dims(&[n as u32, decoupled]).with_scalars(&[
                1e-3,
                0.9,
                0.999,
                1e-8,
                0.01,
                1.0 - 0.9f64.powf(t),
                1.0 - 0.999f64.powf(t),
            ]);
            compare(
                &format!("adam decoupled={decoupled} n={n}"),
                Kernel::Adam,
                p,
                &[w.clone(), g.clone(), m.clone(), v.clone()],
                ELEMENTWISE,
                None,
            );
        }
    }
}

#[test]
fn jobs_past_65535_workgroups_fold_into_a_second_grid_dimension() {
    // Row reductions run a workgroup per row: 70,001 rows need a 2-D grid.
    let (rows, cols) = (70_001, 3);
    let mut rng = Rng::new(8);
    let x = f32_exact(rng.vec(rows * cols, -1.0, 1.0));
    let p = Params::dims(&[rows as u32, cols as u32]);
    compare(
        &format!("row_max {rows}x{cols}"),
        Kernel::RowMax,
        p,
        &[x.clone(), vec![]],
        (0.0, 0.0),
        None,
    );
    let scale = vec![x.chunks(cols).map(|r| r.iter().map(|v| v.abs()).sum::<f64>()).collect()];
    compare(
        &format!("row_sum {rows}x{cols}"),
        Kernel::RowSum,
        p,
        &[x, vec![]],
        SUMS,
        Some(scale),
    );
}

fn unpack_on<B: Backend>(b: &B, bytes: &[u8], scale: f64) -> Vec<f64> {
    let mut words = Vec::new();
    pack_bytes(bytes, &mut words);
    let packed = b.alloc(words.len(), "bytes").unwrap();
    b.upload(&packed, &words).unwrap();
    let y = b.alloc(bytes.len(), "y").unwrap();
    let p = Params::dims(&[bytes.len() as u32]).with_scalars(&[scale]);
    let launch = b.prepare(Kernel::UnpackBytes, p, &[&packed, &y]).unwrap();
    let out = b.run(&[launch], &[&y]).unwrap().remove(0);
    out.into_iter().map(Element::as_f64).collect()
}

#[test]
fn bytes_unpack_to_the_same_numbers_on_both_backends() {
    // Every byte value, at lengths that end mid-word; scale 1 must give the bytes exactly.
    let mut rng = Rng::new(9);
    for n in LENGTHS.into_iter().chain([2, 3, 4, 5, 256]) {
        let bytes: Vec<u8> = (0..n)
            .map(|i| {
                if i < 256 {
                    i as u8
                } else {
                    (rng.next_u64() & 0xff) as u8
                }
            })
            .collect();
        let exact: Vec<f64> = bytes.iter().map(|&b| b as f64).collect();
        assert_eq!(unpack_on(&gpu(), &bytes, 1.0), exact, "gpu n={n}");
        assert_eq!(
            unpack_on(&CpuBackend::<f32>::new(), &bytes, 1.0),
            exact,
            "cpu f32 n={n}"
        );
        assert_eq!(
            unpack_on(&CpuBackend::<f64>::new(), &bytes, 1.0),
            exact,
            "cpu f64 n={n}"
        );
        let want = unpack_on(&CpuBackend::<f64>::new(), &bytes, 1.0 / 255.0);
        let got = unpack_on(&gpu(), &bytes, 1.0 / 255.0);
        assert_close(
            &format!("unpack /255 n={n}"),
            &got,
            &want,
            ELEMENTWISE.0,
            ELEMENTWISE.1,
            None,
        );
    }
}
