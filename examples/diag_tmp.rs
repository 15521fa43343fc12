use shadergrad::backend::wgpu::{MatmulKernels, WgpuBackend};
use shadergrad::backend::{Backend, Kernel, Params};
use shadergrad::nn::*;
use shadergrad::optim::*;
use shadergrad::Activation as Epi;
use std::time::Instant;
fn main() {
    let gpu = WgpuBackend::new().unwrap();
    println!("{}", gpu.describe());
    let small = gpu.alloc(16, "s").unwrap();
    // round trips
    for _ in 0..3 {
        gpu.download(&[&small]).unwrap();
    }
    let t = Instant::now();
    for _ in 0..50 {
        gpu.download(&[&small]).unwrap();
    }
    println!("readback round trip: {:.1} us", t.elapsed().as_secs_f64() / 50.0 * 1e6);
    let t = Instant::now();
    for _ in 0..50 {
        gpu.run(&[], &[]).unwrap();
        gpu.synchronize().unwrap();
    }
    println!("empty submit+wait: {:.1} us", t.elapsed().as_secs_f64() / 50.0 * 1e6);
    for &(m, n, k) in &[
        (4096u32, 4096u32, 4096u32),
        (2048, 2048, 2048),
        (1024, 1024, 1024),
        (512, 512, 784),
        (512, 10, 512),
    ] {
        for (label, g) in [
            ("tiled", gpu.with_matmul(MatmulKernels::Tiled)),
            ("blocked", gpu.with_matmul(MatmulKernels::Blocked)),
        ] {
            if label == "blocked" && m > 1024 {
                continue;
            }
            for (ta, tb) in [(false, false), (false, true), (true, false)] {
                let a = g.alloc((m * k) as usize, "a").unwrap();
                let b = g.alloc((k * n) as usize, "b").unwrap();
                let c = g.alloc((m * n) as usize, "c").unwrap();
                let l = g
                    .prepare(
                        Kernel::Matmul {
                            ta,
                            tb,
                            bias: false,
                            act: Epi::None,
                        },
                        Params::dims(&[m, n, k]),
                        &[&a, &b, &c],
                    )
                    .unwrap();
                let (s, tm) = g.time(std::slice::from_ref(&l), 5).unwrap();
                println!(
                    "{label} {m}x{n}x{k} ta={ta} tb={tb}: {:.3} ms {:.2} TFLOP/s ({:?})",
                    s * 1e3,
                    2.0 * (m as f64) * (n as f64) * (k as f64) / s / 1e12,
                    tm
                );
            }
        }
    }
    // step profile 784-512-10 batch 512
    let batch = 512;
    let g = shadergrad::Graph::new();
    let x = g.input("x", [batch, 784]);
    let y = g.input("y", [batch]);
    let mlp = Mlp::new(&[784, 512, 10], Activation::Relu).unwrap();
    let layers = mlp.layers(&g, Init::KaimingUniform, 0);
    let loss = mlp.forward(&layers, &x).softmax_cross_entropy(&y);
    let grads = g.backward(&loss).unwrap();
    let params: Vec<_> = layers.iter().flat_map(|l| [l.weight.clone(), l.bias.clone()]).collect();
    let step = Optimizer::sgd(0.05).minimize(&g, &grads, &params).unwrap();
    let mut store = shadergrad::ParamStore::new(&gpu);
    let mut plan = shadergrad::Plan::compile(&gpu, &g, &[&loss, &step], &mut store).unwrap();
    let xd = vec![0.5f32; batch * 784];
    let yd = vec![1.0f32; batch];
    plan.set_input(&x, &xd).unwrap();
    plan.set_input(&y, &yd).unwrap();
    plan.run().unwrap();
    let t = Instant::now();
    for _ in 0..50 {
        plan.set_input(&x, &xd).unwrap();
        plan.set_input(&y, &yd).unwrap();
        plan.run().unwrap();
    }
    println!(
        "plan step (upload+run+read): {:.1} us",
        t.elapsed().as_secs_f64() / 50.0 * 1e6
    );
    let t = Instant::now();
    for _ in 0..50 {
        plan.run().unwrap();
    }
    println!("plan run+read only: {:.1} us", t.elapsed().as_secs_f64() / 50.0 * 1e6);
    let t = Instant::now();
    for _ in 0..50 {
        plan.run_without_readback().unwrap();
    }
    gpu.synchronize().unwrap();
    println!(
        "plan run no readback (pipelined): {:.1} us",
        t.elapsed().as_secs_f64() / 50.0 * 1e6
    );
    let (s, _) = gpu.time(plan.launches(), 20).unwrap();
    println!("plan GPU time (timestamps): {:.1} us", s * 1e6);
    let nodes = g.nodes();
    for (i, id) in plan.launch_nodes().iter().enumerate() {
        let (s, _) = gpu.time(&plan.launches()[i..i + 1], 10).unwrap();
        println!("  {:>8.1} us  {} {:?}", s * 1e6, nodes[*id].name, nodes[*id].shape);
    }
}
