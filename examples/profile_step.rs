//! Where a training step's time goes: the wall time of its phases (upload the batch, run and read
//! the loss back, run without reading back), then each kernel of an MLP's step plan (forward,
//! backward, SGD update) timed on its own on the best device, GPU timestamps where the adapter
//! has them.
//!
//! Run: `cargo run --release --example profile_step -- [batch] [hidden sizes]` (default 512 and
//! 512: a 784-512-10 MLP; `-- 128 256,256` is the peers' workload, `../shared/peers/README.md`)

use std::time::Instant;

use shadergrad::backend::Backend;
use shadergrad::data::Task;
use shadergrad::nn::{Activation, Init, Input, Mlp, MlpGraph};
use shadergrad::optim::Optimizer;
use shadergrad::Element;
use shadergrad::{Device, ParamStore, Plan};

fn main() -> shadergrad::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let batch: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(512);
    let mut sizes = vec![784];
    sizes.extend(
        args.get(1)
            .map_or("512", String::as_str)
            .split(',')
            .filter_map(|h| h.parse::<usize>().ok()),
    );
    sizes.push(10);
    let mlp = Mlp::new(&sizes, Activation::Relu)?;
    match Device::best()? {
        Device::Gpu(gpu) => profile(&gpu, batch, &mlp),
        Device::Cpu(cpu) => profile(&cpu, batch, &mlp),
    }
}

fn profile<B: Backend>(backend: &B, batch: usize, mlp: &Mlp) -> shadergrad::Result<()> {
    let step_graph = mlp.graph(
        batch,
        Init::KaimingUniform,
        0,
        Input::Bytes { scale: 1.0 / 255.0 },
        Task::Classify,
    );
    let params = step_graph.params();
    let MlpGraph {
        graph: g,
        x,
        targets: labels,
        loss,
        ..
    } = step_graph;
    let grads = g.backward(&loss)?;
    let step = Optimizer::sgd(0.05).minimize(&g, &grads, &params)?;
    let mut plan = Plan::compile(backend, &g, &[&loss, &step], &mut ParamStore::new(backend))?;
    let pixels: Vec<u8> = (0..batch * 784).map(|i| (i * 7 % 256) as u8).collect();
    let classes: Vec<B::Elem> = (0..batch).map(|i| B::Elem::from_f64((i % 10) as f64)).collect();
    plan.set_input_bytes(&x, &pixels)?;
    plan.set_input(&labels, &classes)?;
    plan.run()?;

    println!("{} at batch {batch} on {}", mlp.describe(), backend.describe());
    println!("plan: {}", plan.report());
    let reps = 200;
    let mean_us = |f: &mut dyn FnMut() -> shadergrad::Result<()>| -> shadergrad::Result<f64> {
        for _ in 0..20 {
            f()?;
        }
        backend.synchronize()?;
        let start = Instant::now();
        for _ in 0..reps {
            f()?;
        }
        backend.synchronize()?;
        Ok(start.elapsed().as_secs_f64() / reps as f64 * 1e6)
    };
    // Uploads land with the next submission: time them with an empty one, and wait.
    let upload = mean_us(&mut || {
        plan.set_input_bytes(&x, &pixels)?;
        plan.set_input(&labels, &classes)?;
        backend.run(&[], &[])?;
        backend.synchronize()
    })?;
    let whole = mean_us(&mut || {
        plan.set_input_bytes(&x, &pixels)?;
        plan.set_input(&labels, &classes)?;
        plan.run().map(drop)
    })?;
    let read = mean_us(&mut || plan.run().map(drop))?;
    let pipelined = mean_us(&mut || plan.run_without_readback())?;
    let empty = mean_us(&mut || {
        backend.run(&[], &[])?;
        backend.synchronize()
    })?;
    let one_value = mean_us(&mut || plan.read(&loss).map(drop))?;
    println!("wall per step: upload + run + read loss {whole:.1} µs; run + read loss {read:.1} µs;");
    println!("  fixed costs: an empty submit and wait {empty:.1} µs, reading one value back {one_value:.1} µs;");
    println!("  run without readback, steps queued back to back {pipelined:.1} µs; upload + empty submit and wait {upload:.1} µs");
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
