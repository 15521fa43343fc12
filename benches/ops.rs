//! Every kernel family at several sizes on both backends: matmul 64³…2048³ and the MLP's own
//! shapes in all three transpose layouts, elementwise, softmax-CE and the column sum.
//! GPU iterations wait for the GPU at the end of each timed batch (`synchronize`), so the figure
//! is the work, not the submit.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shadergrad::backend::cpu::CpuBackend;
use shadergrad::backend::wgpu::WgpuBackend;
use shadergrad::backend::{Backend, Element};
use shadergrad::bench::{kernel_cases, matmul_sizes};
use shadergrad::rng::Rng;

fn bench_backend<B: Backend>(c: &mut Criterion, backend: &B, label: &str) {
    let mut group = c.benchmark_group(format!("kernels/{label}"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    for (name, shape, kernel, params, flops) in kernel_cases(&matmul_sizes(false)) {
        let mut rng = Rng::new(1);
        let buffers: Vec<B::Buffer> = kernel
            .bindings(&params)
            .iter()
            .map(|b| {
                let buf = backend.alloc(b.len, b.role).expect("alloc");
                let data: Vec<B::Elem> = (0..b.len).map(|_| B::Elem::from_f64(rng.uniform(0.1, 1.0))).collect();
                backend.upload(&buf, &data).expect("upload");
                buf
            })
            .collect();
        let refs: Vec<&B::Buffer> = buffers.iter().collect();
        let launch = backend.prepare(kernel, params, &refs).expect("prepare");
        let launches = std::slice::from_ref(&launch);
        group.throughput(Throughput::Elements(flops as u64));
        group.bench_function(BenchmarkId::new(name, shape), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    backend.run(launches, &[]).expect("run");
                }
                backend.synchronize().expect("sync");
                start.elapsed()
            })
        });
    }
    group.finish();
}

fn kernels(c: &mut Criterion) {
    bench_backend(c, &CpuBackend::<f32>::new(), "cpu");
    match WgpuBackend::new() {
        Ok(gpu) => bench_backend(c, &gpu, "gpu"),
        Err(e) => eprintln!("no GPU benchmarks: {e}"),
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
