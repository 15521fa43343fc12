//! The executor: a training-step-shaped plan (3-layer MLP forward, backward, update) runs as one
//! submission; dead buffers are reused; fused and unfused plans agree; only inputs are uploaded
//! between runs; plans share parameters through the store.

mod common;

use common::{assert_close, gpu, Rng};
use shadergrad::backend::cpu::CpuBackend;
use shadergrad::backend::Backend;
use shadergrad::optim::Optimizer;
use shadergrad::{Graph, Op, ParamStore, Plan, PlanOptions, Tensor, UnaryOp};

struct Mlp {
    g: Graph,
    x: Tensor,
    y: Tensor,
    loss: Tensor,
    step: Tensor,
    grads: Vec<Tensor>,
}

fn mlp(batch: usize, sizes: &[usize], seed: u64) -> Mlp {
    mlp_with(batch, sizes, seed, UnaryOp::Relu)
}

/// A training step of an MLP with `activation` between its layers.
fn mlp_with(batch: usize, sizes: &[usize], seed: u64, activation: UnaryOp) -> Mlp {
    let mut rng = Rng::new(seed);
    let g = Graph::new();
    let x = g.input("x", [batch, sizes[0]]);
    let y = g.input("y", [batch]);
    let mut h = x.clone();
    let mut params = Vec::new();
    for (i, pair) in sizes.windows(2).enumerate() {
        let (fan_in, fan_out) = (pair[0], pair[1]);
        let bound = 1.0 / (fan_in as f64).sqrt();
        let w = g.param(
            &format!("{}.weight", 2 * i),
            [fan_out, fan_in],
            rng.vec(fan_out * fan_in, -bound, bound),
        );
        let b = g.param(&format!("{}.bias", 2 * i), [fan_out], rng.vec(fan_out, -bound, bound));
        h = h.linear(&w, &b);
        if i + 2 < sizes.len() {
            h = h.map(activation);
        }
        params.push(w);
        params.push(b);
    }
    let loss = h.softmax_cross_entropy(&y);
    let grads = g.backward(&loss).unwrap();
    let step = Optimizer::sgd(0.1).minimize(&g, &grads, &params).unwrap();
    let grads = params.iter().map(|p| grads.of(p).unwrap()).collect();
    Mlp {
        g,
        x,
        y,
        loss,
        step,
        grads,
    }
}

fn batch(rng: &mut Rng, batch: usize, features: usize, classes: usize) -> (Vec<f32>, Vec<f32>) {
    let x = rng
        .vec(batch * features, 0.0, 1.0)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let y = rng.labels(batch, classes).into_iter().map(|v| v as f32).collect();
    (x, y)
}

#[test]
fn a_training_step_is_one_submission_on_the_gpu() {
    let m = mlp(32, &[64, 48, 48, 10], 1);
    // A device of its own: other tests submit to the shared one in parallel.
    let gpu = shadergrad::backend::wgpu::WgpuBackend::new().expect("a GPU adapter (see README: mesa-vulkan-drivers)");
    let mut store = ParamStore::new(&gpu);
    let mut plan = Plan::compile(&gpu, &m.g, &[&m.loss, &m.step], &mut store).unwrap();
    let mut rng = Rng::new(2);
    let (x, y) = batch(&mut rng, 32, 64, 10);
    plan.set_input(&m.x, &x).unwrap();
    plan.set_input(&m.y, &y).unwrap();
    // The first run dispatches each new pipeline in a submit of its own, timed: lavapipe
    // compiles at the first dispatch, and this is how the compile time is known.
    let before = gpu.submissions();
    let first = plan.run().unwrap().scalar(&m.loss).unwrap();
    let times = gpu.pipeline_times();
    assert!(gpu.submissions() - before > 1);
    assert!(!times.is_empty());
    for t in &times {
        assert!(t.first_run_s.is_some_and(|s| s > 0.0) && t.create_s > 0.0, "{t:?}");
    }
    let before = gpu.submissions();
    let loss = plan.run().unwrap().scalar(&m.loss).unwrap();
    assert_eq!(
        gpu.submissions() - before,
        1,
        "forward + backward + update + readback in one submit"
    );
    assert_eq!(gpu.pipeline_times(), times, "a second run makes and times nothing new");
    assert!(loss < first, "the step updates the parameters: {first} then {loss}");
    assert_eq!(plan.report().submits_per_run, 1);
    assert!(loss.is_finite() && loss > 0.0);
    let before = gpu.submissions();
    plan.run_without_readback().unwrap();
    assert_eq!(gpu.submissions() - before, 1);
    let r = plan.report();
    println!("  3-layer MLP step: {r}");
    // 3 fused linear forwards, the fused softmax-CE forward + backward, 2 hidden-layer dX
    // products with their ReLU's backward mask, and one optimizer launch for all six parameters.
    assert_eq!(r.fused, 7);
    assert_eq!(update_launches(&plan), 1);
    assert!(r.intermediate_bytes < r.naive_bytes, "buffer reuse saves memory: {r}");
}

#[test]
fn the_loss_falls_over_steps_and_both_backends_agree() {
    let m = mlp(16, &[20, 12, 5], 3);
    let cpu = CpuBackend::<f32>::new();
    let gpu = gpu();
    let mut cpu_store = ParamStore::new(&cpu);
    let mut gpu_store = ParamStore::new(&gpu);
    let mut cpu_plan = Plan::compile(&cpu, &m.g, &[&m.loss, &m.step], &mut cpu_store).unwrap();
    let mut gpu_plan = Plan::compile(&gpu, &m.g, &[&m.loss, &m.step], &mut gpu_store).unwrap();
    let mut rng = Rng::new(4);
    let (x, y) = batch(&mut rng, 16, 20, 5);
    let mut losses = Vec::new();
    for _ in 0..30 {
        cpu_plan.set_input(&m.x, &x).unwrap();
        cpu_plan.set_input(&m.y, &y).unwrap();
        gpu_plan.set_input(&m.x, &x).unwrap();
        gpu_plan.set_input(&m.y, &y).unwrap();
        let a = cpu_plan.run().unwrap().scalar(&m.loss).unwrap();
        let b = gpu_plan.run().unwrap().scalar(&m.loss).unwrap();
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "cpu {a} vs gpu {b}");
        losses.push(a);
    }
    assert!(
        losses.windows(2).all(|w| w[1] < w[0]),
        "full-batch SGD lowers the loss every step: {losses:?}"
    );
    let w_cpu: Vec<f64> = cpu_store.read("0.weight").unwrap();
    let w_gpu: Vec<f64> = gpu_store.read("0.weight").unwrap();
    assert_close("0.weight after 30 steps, gpu vs cpu", &w_gpu, &w_cpu, 1e-5, 1e-3, None);
}

#[test]
fn fused_and_unfused_plans_agree() {
    // ReLU and tanh layers fuse their activation and its backward (both read the activation's
    // output); GELU's backward needs its input, so its layers fuse the bias only.
    for activation in [UnaryOp::Relu, UnaryOp::Tanh, UnaryOp::Gelu] {
        let m = mlp_with(8, &[9, 7, 6, 3], 5, activation);
        let mut rng = Rng::new(6);
        let (x, y) = batch(&mut rng, 8, 9, 3);
        let outputs: Vec<&Tensor> = std::iter::once(&m.loss).chain(&m.grads).collect();
        fn run<B: Backend>(b: &B, m: &Mlp, outputs: &[&Tensor], x: &[f32], y: &[f32], fuse: bool) -> Vec<Vec<f64>> {
            let mut store = ParamStore::new(b);
            let options = PlanOptions {
                fuse,
                ..Default::default()
            };
            let mut plan = Plan::compile_with(b, &m.g, outputs, &mut store, options).unwrap();
            plan.set_input_f64(&m.x, &x.iter().map(|&v| v as f64).collect::<Vec<_>>())
                .unwrap();
            plan.set_input_f64(&m.y, &y.iter().map(|&v| v as f64).collect::<Vec<_>>())
                .unwrap();
            let out = plan.run().unwrap();
            assert_eq!(plan.report().fused > 0, fuse);
            outputs
                .iter()
                .map(|t| {
                    out.get(t)
                        .unwrap()
                        .iter()
                        .map(|&v| shadergrad::backend::Element::as_f64(v))
                        .collect()
                })
                .collect()
        }
        let gpu = gpu();
        let reference = run(&CpuBackend::<f64>::new(), &m, &outputs, &x, &y, false);
        for (name, got) in [
            ("cpu fused", run(&CpuBackend::<f64>::new(), &m, &outputs, &x, &y, true)),
            ("gpu fused", run(&gpu, &m, &outputs, &x, &y, true)),
            ("gpu unfused", run(&gpu, &m, &outputs, &x, &y, false)),
        ] {
            for (i, (g, r)) in got.iter().zip(&reference).enumerate() {
                assert_close(
                    &format!("{} {name} output {i}", activation.name()),
                    g,
                    r,
                    1e-5,
                    1e-4,
                    None,
                );
            }
        }
    }
}

#[test]
fn describe_says_what_was_fused_and_why_not() {
    let cpu = CpuBackend::<f32>::new();
    let describe = |m: &Mlp, outputs: &[&Tensor]| {
        let plan = Plan::compile(&cpu, &m.g, outputs, &mut ParamStore::new(&cpu)).unwrap();
        let text = plan.describe();
        println!("{text}");
        (text, plan.report().dispatches)
    };
    let relu = mlp(4, &[5, 6, 3], 1);
    let (text, launches) = describe(&relu, &[&relu.loss, &relu.step]);
    assert!(
        text.contains("matmul[tB]+bias+relu") && text.contains("matmul·relu'"),
        "{text}"
    );
    assert!(text.contains("reads its output"), "{text}");
    assert!(text.contains("one sgd launch over their arena"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.trim_start().starts_with('#')).count(),
        launches
    );

    let gelu = mlp_with(4, &[5, 6, 3], 1, UnaryOp::Gelu);
    let (text, _) = describe(&gelu, &[&gelu.loss, &gelu.step]);
    assert!(
        text.contains("not fused: gelu") && text.contains("needs its input"),
        "{text}"
    );
    assert!(
        text.contains("matmul·gelu'"),
        "the dX product still takes GELU's derivative: {text}"
    );

    // A product read back cannot be folded into another launch.
    let nodes = relu.g.nodes();
    let product = (0..nodes.len())
        .find(|&i| nodes[i].name.starts_with("matmul(Bᵀ)"))
        .map(|i| relu.g.tensor(i))
        .unwrap();
    let (text, _) = describe(&relu, &[&relu.loss, &product]);
    assert!(text.contains("not fused") && text.contains("read back"), "{text}");

    let plan = Plan::compile_with(
        &cpu,
        &relu.g,
        &[&relu.loss],
        &mut ParamStore::new(&cpu),
        PlanOptions {
            fuse: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(plan.describe().contains("fusion: off"));
}

/// Launches a plan makes at its update nodes (optimizer launches and gradient copies).
fn update_launches<B: Backend>(plan: &Plan<B>) -> usize {
    let g = plan.graph();
    plan.launch_nodes()
        .iter()
        .filter(|&&id| matches!(g.node(id).op, Op::Update(_)))
        .count()
}

/// Each parameter's name, values and optimizer state `(key, values)`.
type StoreState = Vec<(String, Vec<f64>, Vec<(String, Vec<f64>)>)>;

/// Parameters and optimizer state after `steps` runs of `outputs` (all f64), and the launches
/// made at update nodes.
fn train_steps<B: Backend>(
    b: &B,
    g: &Graph,
    outputs: &[&Tensor],
    feeds: &[(&Tensor, Vec<f64>)],
    fuse: bool,
    steps: u64,
) -> (StoreState, usize) {
    let mut store = ParamStore::new(b);
    let options = PlanOptions {
        fuse,
        ..Default::default()
    };
    let mut plan = Plan::compile_with(b, g, outputs, &mut store, options).unwrap();
    for t in 1..=steps {
        for (input, data) in feeds {
            plan.set_input_f64(input, data).unwrap();
        }
        plan.set_step(t, 0.05 / t as f64).unwrap();
        plan.run().unwrap();
        store.set_steps(t);
    }
    let state = store
        .read_all()
        .unwrap()
        .into_iter()
        .map(|(name, _, values, state)| (name, values, state))
        .collect();
    (state, update_launches(&plan))
}

fn assert_same_state(what: &str, got: &StoreState, want: &StoreState, rel: f64, abs: f64) {
    assert_eq!(got.len(), want.len(), "{what}: parameter count");
    for ((name, values, state), (wname, wvalues, wstate)) in got.iter().zip(want) {
        assert_eq!(name, wname);
        assert_close(&format!("{what}: {name}"), values, wvalues, rel, abs, None);
        assert_eq!(state.len(), wstate.len(), "{what}: state of {name}");
        for ((key, v), (_, w)) in state.iter().zip(wstate) {
            assert_close(&format!("{what}: {name}/{key}"), v, w, rel, abs, None);
        }
    }
}

#[test]
fn one_optimizer_launch_updates_every_parameter_as_separate_updates_would() {
    // Five steps of each optimizer (with weight decay, Nesterov, AdamW and a falling rate):
    // one launch over the parameter arena leaves every parameter and every state buffer as one
    // launch per parameter does, on both backends. Tolerances: f64 agrees to rounding; f32 on
    // the GPU drifts over five Adam steps by a few ulps of values near 1.
    let gpu = gpu();
    let optimizers = [
        Optimizer::Sgd {
            lr: 0.05,
            weight_decay: 0.01,
        },
        Optimizer::Momentum {
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.01,
        },
        Optimizer::adam(0.05),
        Optimizer::adamw(0.05),
    ];
    for opt in optimizers {
        let mut m = mlp(6, &[5, 7, 3], 11);
        m.step = opt
            .minimize(&m.g, &m.g.backward(&m.loss).unwrap(), &params_of(&m.g))
            .unwrap();
        let mut rng = Rng::new(12);
        let (x, y) = batch(&mut rng, 6, 5, 3);
        let feeds = [
            (&m.x, x.iter().map(|&v| v as f64).collect()),
            (&m.y, y.iter().map(|&v| v as f64).collect()),
        ];
        let outputs = [&m.loss, &m.step];
        let cpu = CpuBackend::<f64>::new();
        let (reference, separate) = train_steps(&cpu, &m.g, &outputs, &feeds, false, 5);
        assert_eq!(separate, 4, "{opt:?}: one update per parameter when not fused");
        let (fused, launches) = train_steps(&cpu, &m.g, &outputs, &feeds, true, 5);
        assert_eq!(launches, 1, "{opt:?}: one launch for all four parameters");
        assert_same_state(&format!("cpu {opt:?}"), &fused, &reference, 1e-12, 1e-14);
        let (on_gpu, launches) = train_steps(&gpu, &m.g, &outputs, &feeds, true, 5);
        assert_eq!(launches, 1);
        assert_same_state(&format!("gpu {opt:?}"), &on_gpu, &reference, 1e-4, 1e-5);
    }
}

#[test]
fn block_updates_copy_shared_gradients_and_fall_back_for_mixed_optimizers() {
    // y = a + b gives a and b the same gradient node: it cannot be computed into both slots, so
    // each is copied into the gradient arena before the one optimizer launch.
    let g = Graph::new();
    let a = g.param("a", [3], vec![1.0, -2.0, 0.5]);
    let b = g.param("b", [3], vec![0.25, 0.75, -1.0]);
    let x = g.input("x", [3]);
    let loss = (&(&a + &b) * &x).square().sum();
    let grads = g.backward(&loss).unwrap();
    let step = Optimizer::adam(0.1)
        .minimize(&g, &grads, &[a.clone(), b.clone()])
        .unwrap();
    let feeds = [(&x, vec![0.5, -1.5, 2.0])];
    let cpu = CpuBackend::<f64>::new();
    let (reference, _) = train_steps(&cpu, &g, &[&loss, &step], &feeds, false, 3);
    let (fused, launches) = train_steps(&cpu, &g, &[&loss, &step], &feeds, true, 3);
    assert_eq!(launches, 3, "two gradient copies and one optimizer launch");
    assert_same_state("shared gradient", &fused, &reference, 1e-12, 1e-14);
    let (on_gpu, _) = train_steps(&gpu(), &g, &[&loss, &step], &feeds, true, 3);
    assert_same_state("shared gradient on the gpu", &on_gpu, &reference, 1e-4, 1e-5);

    // Two optimizers over one block of parameters: one launch per parameter, as before.
    let g = Graph::new();
    let a = g.param("a", [3], vec![1.0, -2.0, 0.5]);
    let b = g.param("b", [2], vec![0.25, 0.75]);
    let loss = (a.sum() * b.sum()).square();
    let grads = g.backward(&loss).unwrap();
    let sa = Optimizer::sgd(0.1)
        .minimize(&g, &grads, std::slice::from_ref(&a))
        .unwrap();
    let sb = Optimizer::adam(0.1)
        .minimize(&g, &grads, std::slice::from_ref(&b))
        .unwrap();
    let step = g.group("both", &[sa, sb]);
    let (reference, _) = train_steps(&cpu, &g, &[&loss, &step], &[], false, 3);
    let (fused, launches) = train_steps(&cpu, &g, &[&loss, &step], &[], true, 3);
    assert_eq!(launches, 2);
    assert_same_state("mixed optimizers", &fused, &reference, 1e-12, 1e-14);
}

/// The parameters of a graph, in id order.
fn params_of(g: &Graph) -> Vec<Tensor> {
    (0..g.len())
        .filter(|&id| g.node(id).op == Op::Param)
        .map(|id| g.tensor(id))
        .collect()
}

#[test]
fn plans_share_parameters_through_the_store() {
    // A training plan at batch 8 and an evaluation plan at batch 3 see the same weights.
    let cpu = CpuBackend::<f64>::new();
    let mut store = ParamStore::new(&cpu);
    let train = mlp(8, &[4, 3], 7);
    let mut plan = Plan::compile(&cpu, &train.g, &[&train.step], &mut store).unwrap();
    plan.set_input_f64(&train.x, &[0.5; 32]).unwrap();
    plan.set_input_f64(&train.y, &[1.0; 8]).unwrap();
    let before = store.read("0.weight").unwrap();
    plan.run().unwrap();
    let after = store.read("0.weight").unwrap();
    assert_ne!(before, after, "the update changed the stored weights");
    let eval = mlp(3, &[4, 3], 99); // other initial values: the store's win
    let mut eval_plan = Plan::compile(&cpu, &eval.g, &[&eval.loss], &mut store).unwrap();
    eval_plan.set_input_f64(&eval.x, &[0.5; 12]).unwrap();
    eval_plan.set_input_f64(&eval.y, &[1.0; 3]).unwrap();
    eval_plan.run().unwrap();
    assert_eq!(store.read("0.weight").unwrap(), after);
}

#[test]
fn an_input_never_fed_is_an_error_not_zeros() {
    let m = mlp(2, &[3, 2], 8);
    let cpu = CpuBackend::<f32>::new();
    let mut store = ParamStore::new(&cpu);
    let mut plan = Plan::compile(&cpu, &m.g, &[&m.loss], &mut store).unwrap();
    plan.set_input(&m.x, &[0.0; 6]).unwrap();
    let err = plan.run().err().expect("y was never fed");
    assert!(
        err.to_string().contains("`y`") && err.to_string().contains("never fed"),
        "{err}"
    );
    let err = plan.set_input(&m.x, &[0.0; 5]).unwrap_err();
    assert!(err.to_string().contains("expected 6 values, got 5"), "{err}");
}

/// Losses and parameters of `steps` runs of `m`'s plan on `b`, whole or in two halves with
/// the gradients read back and written again between them (as data-parallel replicas do).
fn halves_or_whole<B: Backend<Elem = f32>>(b: &B, m: &Mlp, steps: usize, halves: bool) -> (Vec<u64>, Vec<u64>) {
    let mut store = ParamStore::new(b);
    let mut plan = Plan::compile(b, &m.g, &[&m.loss, &m.step], &mut store).unwrap();
    let mut rng = Rng::new(8);
    let mut losses = Vec::new();
    for _ in 0..steps {
        let (x, y) = batch(&mut rng, 13, 29, 7);
        plan.set_input(&m.x, &x).unwrap();
        plan.set_input(&m.y, &y).unwrap();
        let loss = if halves {
            plan.run_to_gradients().unwrap();
            let (out, gradients) = plan.read_gradients().unwrap();
            assert_eq!(gradients.len(), 1, "one parameter block");
            plan.run_updates(&gradients).unwrap();
            out.scalar(&m.loss).unwrap()
        } else {
            plan.run().unwrap().scalar(&m.loss).unwrap()
        };
        losses.push(loss.to_bits());
    }
    (losses, common::param_bits(&store))
}

#[test]
fn a_step_in_two_halves_is_the_whole_step_bit_for_bit() {
    // The same launches in two submissions, the gradients through the host unchanged: the
    // same bits on both backends (13×29 in, 7 classes: no tile divides them).
    let m = mlp(13, &[29, 17, 7], 5);
    for halves in [false, true] {
        let cpu = CpuBackend::<f32>::new();
        assert_eq!(
            halves_or_whole(&cpu, &m, 5, halves),
            halves_or_whole(&cpu, &m, 5, !halves)
        );
    }
    let gpu = gpu();
    assert_eq!(halves_or_whole(&gpu, &m, 5, true), halves_or_whole(&gpu, &m, 5, false));
    // A plan whose parameters have no arena updates (a forward pass) has no halves.
    let mut store = ParamStore::new(&gpu);
    let mut forward = Plan::compile(&gpu, &m.g, &[&m.loss], &mut store).unwrap();
    let err = forward.run_to_gradients().err().unwrap().to_string();
    assert!(err.contains("gradient arenas"), "{err}");
}

#[test]
fn a_scaled_loss_folds_its_constant_and_still_fuses_with_its_backward() {
    // loss = 3 · BCE: the backward seeds the loss kernel with dloss = 3 · 1, a unary op of a
    // constant, which the plan folds into the constant 3, so the loss and its backward still
    // fuse. The gradient is 3 times the unscaled one to f32 rounding, on both backends.
    let mut rng = Rng::new(8);
    let g = Graph::new();
    let z = g.input("z", [4, 3]).with_grad();
    let t = g.input("t", [4, 3]);
    let loss = z.bce_with_logits(&t);
    let scaled = loss.scale(3.0);
    let grads = g.backward(&scaled).unwrap();
    let dz = grads.of(&z).unwrap();
    let plain = g.backward(&loss).unwrap().of(&z).unwrap();
    let zs: Vec<f32> = rng.vec(12, -2.0, 2.0).iter().map(|&v| v as f32).collect();
    let ts: Vec<f32> = (0..12).map(|i| (i % 2) as f32).collect();
    let cpu = CpuBackend::<f32>::new();
    for (name, (text, out), (_, unscaled)) in [
        (
            "cpu",
            run_pair(&cpu, &g, &z, &t, &[&scaled, &dz], &zs, &ts),
            run_pair(&cpu, &g, &z, &t, &[&plain], &zs, &ts),
        ),
        (
            "gpu",
            run_pair(&gpu(), &g, &z, &t, &[&scaled, &dz], &zs, &ts),
            run_pair(&gpu(), &g, &z, &t, &[&plain], &zs, &ts),
        ),
    ] {
        assert!(
            text.contains("folded:") && text.contains("sigmoid_bce_fused"),
            "{name}: {text}"
        );
        for (a, b) in out[1].iter().zip(&unscaled[0]) {
            assert!(
                (a - 3.0 * b).abs() <= 1e-6 * b.abs().max(1e-3),
                "{name}: {a} against 3 · {b}"
            );
        }
    }
}

/// Compiles `outputs` of `g` on `b`, runs it on `z` and `t`: the plan's description and the
/// outputs' values.
fn run_pair<B: Backend<Elem = f32>>(
    b: &B,
    g: &Graph,
    z: &Tensor,
    t: &Tensor,
    outputs: &[&Tensor],
    zs: &[f32],
    ts: &[f32],
) -> (String, Vec<Vec<f64>>) {
    let mut plan = Plan::compile(b, g, outputs, &mut ParamStore::new(b)).unwrap();
    plan.set_input(z, zs).unwrap();
    plan.set_input(t, ts).unwrap();
    let values = plan.run().unwrap();
    let out = outputs
        .iter()
        .map(|o| values.get(o).unwrap().iter().map(|v| *v as f64).collect())
        .collect();
    (plan.describe(), out)
}
