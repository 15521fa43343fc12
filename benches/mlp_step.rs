//! The whole training step of 784-256-256-10 (upload a batch, forward, backward, SGD update,
//! loss read back) at batch 32, 128, 1024 and 4096 on both backends. The loss read back makes
//! every step wait for the device, as a real training loop that reports its loss does.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shadergrad::backend::cpu::CpuBackend;
use shadergrad::backend::wgpu::WgpuBackend;
use shadergrad::backend::Backend;
use shadergrad::bench::{peer_mlp, time_training_step};

fn bench_backend<B: Backend>(c: &mut Criterion, backend: &B, label: &str) {
    let mut group = c.benchmark_group(format!("mlp_step/{label}"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_millis(500));
    let mlp = peer_mlp();
    for batch in [32usize, 128, 1024, 4096] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::from_parameter(batch), |b| {
            b.iter_custom(|iters| {
                let seconds = time_training_step(backend, &mlp, batch, iters as usize).expect("training step");
                Duration::from_secs_f64(seconds * iters as f64)
            })
        });
    }
    group.finish();
}

fn steps(c: &mut Criterion) {
    bench_backend(c, &CpuBackend::<f32>::new(), "cpu");
    match WgpuBackend::new() {
        Ok(gpu) => bench_backend(c, &gpu, "gpu"),
        Err(e) => eprintln!("no GPU benchmarks: {e}"),
    }
}

criterion_group!(benches, steps);
criterion_main!(benches);
