//! Property tests: random graphs of up to 20 ops over random shapes pass the f64 gradient check
//! and give the same values and gradients on the CPU and the GPU.
//!
//! The op mix keeps values bounded and smooth (no ReLU/max kinks: those are checked away from
//! their kinks in tests/grads.rs), so a failure here is a real rule or kernel bug. Tolerances:
//! gradient check as in tests/grads.rs but rel 1e-4 (longer chains); GPU (f32) against CPU (f64)
//! abs 1e-4 + rel 1e-3, the drift of f32 rounding through 20 ops.

mod common;

use common::{gpu, Rng};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use shadergrad::backend::cpu::CpuBackend;
use shadergrad::check::{compare_backends, gradcheck};
use shadergrad::{Broadcast, Graph, Tensor};

#[derive(Clone, Debug)]
struct Recipe {
    rows: usize,
    cols: usize,
    hidden: usize,
    ops: Vec<(u8, f64, u8)>,
    seed: u64,
}

fn recipes() -> impl Strategy<Value = Recipe> {
    (
        1usize..6,
        1usize..6,
        1usize..5,
        prop::collection::vec((0u8..14, -1.5f64..1.5, any::<u8>()), 1..20),
        any::<u64>(),
    )
        .prop_map(|(rows, cols, hidden, ops, seed)| Recipe {
            rows,
            cols,
            hidden,
            ops,
            seed,
        })
}

/// Builds the graph a recipe describes; returns it, its loss and the feeds.
fn build(r: &Recipe) -> (Graph, Tensor, Vec<(Tensor, Vec<f64>)>) {
    let mut rng = Rng::new(r.seed);
    let g = Graph::new();
    let a = g.input("a", [r.rows, r.cols]).with_grad();
    let b = g.input("b", [r.rows, r.cols]).with_grad();
    let w = g.param("w", [r.hidden, r.cols], rng.vec(r.hidden * r.cols, -1.0, 1.0));
    let bias = g.param("bias", [r.hidden], rng.vec(r.hidden, -0.5, 0.5));
    let mut pool = vec![a.clone(), b.clone()];
    for &(op, c, pick) in &r.ops {
        let x = pool[pick as usize % pool.len()].clone();
        let partner = pool
            .iter()
            .rev()
            .find(|t| t.shape() == x.shape() && t.id() != x.id())
            .cloned()
            .unwrap_or_else(|| x.clone());
        let y = match op {
            0 => x.sigmoid(),
            1 => x.tanh(),
            2 => x.silu(),
            3 => x.gelu(),
            4 => x.scale(c),
            5 => x.add_scalar(c),
            6 => x.tanh().square(),
            7 => &x + &partner,
            8 => &x - &partner,
            9 => &x.tanh() * &partner.tanh(),
            10 => &x / &partner.square().add_scalar(1.0),
            11 if x.shape().dims().last() == Some(&r.cols) && x.shape().rank() == 2 => x.linear(&w, &bias).tanh(),
            12 if x.shape().rank() == 2 => x.row_sum().broadcast(Broadcast::Rows, &x.shape()).scale(0.3),
            13 if x.shape().rank() == 2 => x.col_sum().broadcast(Broadcast::Cols, &x.shape()).scale(0.3),
            _ => x.tanh().exp(),
        };
        pool.push(y);
    }
    let last = pool.last().unwrap().clone();
    let weights = g.constant("weights", last.shape(), rng.vec(last.shape().len(), -1.0, 1.0));
    let loss = &(&last * &weights).sum() + &pool[pool.len() / 2].mean();
    let feeds = vec![
        (a, rng.vec(r.rows * r.cols, -1.5, 1.5)),
        (b, rng.vec(r.rows * r.cols, -1.5, 1.5)),
    ];
    (g, loss, feeds)
}

fn config() -> Config {
    Config {
        cases: 24,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5eed),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_graphs_pass_gradcheck(r in recipes()) {
        let (g, loss, feeds) = build(&r);
        let feeds: Vec<(&Tensor, &[f64])> = feeds.iter().map(|(t, d)| (t, d.as_slice())).collect();
        let report = gradcheck(&g, &loss, &feeds, 1e-6).unwrap();
        prop_assert!(report.passes(1e-7, 1e-4), "{:?}\n{}", r, report);
    }

    #[test]
    fn random_graphs_agree_on_cpu_and_gpu(r in recipes()) {
        let (g, loss, feeds) = build(&r);
        let grads = g.backward(&loss).unwrap();
        let mut outputs: Vec<Tensor> = vec![loss.clone()];
        outputs.extend(grads.leaves().into_iter().map(|(_, d)| d));
        let refs: Vec<&Tensor> = outputs.iter().collect();
        let feeds: Vec<(&Tensor, &[f64])> = feeds.iter().map(|(t, d)| (t, d.as_slice())).collect();
        let diverged = compare_backends(&CpuBackend::<f64>::new(), &gpu(), &g, &refs, &feeds, 1e-4, 1e-3).unwrap();
        prop_assert!(diverged.is_none(), "{:?}\n{}", r, diverged.unwrap());
    }
}
