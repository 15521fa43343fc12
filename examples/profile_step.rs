//! Where a training step's time goes: each kernel of a 784-512-10 step plan (forward, backward,
//! SGD update) timed on its own on the best device, GPU timestamps where the adapter has them.
//!
//! Run: `cargo run --release --example profile_step -- [batch]` (default 512)

use shadergrad::backend::Backend;
use shadergrad::nn::{Activation, Init, Mlp};
use shadergrad::optim::Optimizer;
use shadergrad::{Device, Graph, ParamStore, Plan};

fn main() -> shadergrad::Result<()> {
    let batch: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(512);
    match Device::best()? {
        Device::Gpu(gpu) => profile(&gpu, batch),
        Device::Cpu(cpu) => profile(&cpu, batch),
    }
}

fn profile<B: Backend>(backend: &B, batch: usize) -> shadergrad::Result<()> {
    let mlp = Mlp::new(&[784, 512, 10], Activation::Relu)?;
    let g = Graph::new();
    let x = g.input("x", [batch, 784]);
    let labels = g.input("labels", [batch]);
    let layers = mlp.layers(&g, Init::KaimingUniform, 0);
    let loss = mlp.forward(&layers, &x).softmax_cross_entropy(&labels);
    let grads = g.backward(&loss)?;
    let params: Vec<_> = layers.iter().flat_map(|l| [l.weight.clone(), l.bias.clone()]).collect();
    let step = Optimizer::sgd(0.05).minimize(&g, &grads, &params)?;
    let mut plan = Plan::compile(backend, &g, &[&loss, &step], &mut ParamStore::new(backend))?;
    plan.set_input_f64(&x, &vec![0.5; batch * 784])?;
    plan.set_input_f64(&labels, &vec![3.0; batch])?;
    plan.run()?;

    println!("{} at batch {batch} on {}", mlp.describe(), backend.describe());
    println!("plan: {}", plan.report());
    let (whole, timing) = backend.time(plan.launches(), 20)?;
    println!("all kernels: {:.1} µs ({})", whole * 1e6, timing.name());
    let nodes = g.nodes();
    for (i, &id) in plan.launch_nodes().iter().enumerate() {
        let (s, _) = backend.time(&plan.launches()[i..i + 1], 10)?;
        let n = &nodes[id];
        println!("  {:>9.1} µs  {:<28} {}", s * 1e6, n.name, n.shape);
    }
    Ok(())
}
