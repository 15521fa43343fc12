//! A training plan run thousands of times creates no GPU buffer and holds host memory steady.
//! Alone in its test binary, so the process's memory is this test's.

mod common;

use shadergrad::backend::wgpu::WgpuBackend;
use shadergrad::backend::Backend;
use shadergrad::data::Digits;
use shadergrad::nn::{Activation, Init, Mlp};
use shadergrad::optim::{Optimizer, Schedule};
use shadergrad::train::{TrainConfig, Trainer};

/// Resident host memory in bytes (Linux), None elsewhere.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[test]
fn a_plan_run_thousands_of_times_holds_steady() {
    // SHADERGRAD_SOAK_STEPS sets the length (the soak run in the README used 20,000).
    let steps: usize = std::env::var("SHADERGRAD_SOAK_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    let digits = Digits::bundled().unwrap().into_dataset();
    let gpu = WgpuBackend::new().unwrap();
    let config = TrainConfig {
        mlp: Mlp::new(&[784, 8, 10], Activation::Relu).unwrap(),
        task: shadergrad::data::Task::Classify,
        init: Init::KaimingUniform,
        optimizer: Optimizer::adam(1e-3),
        schedule: Schedule::Constant,
        batch: 4,
        epochs: 1,
        seed: 9,
        loss_every: 1,
        regularize: Default::default(),
    };
    let mut trainer = Trainer::new(&gpu, config).unwrap();
    let batch: Vec<usize> = (0..4).collect();
    for _ in 0..50 {
        trainer.step(&digits, &batch, true).unwrap();
    }
    let (buffers, rss) = (gpu.buffers_created(), resident_bytes());
    for i in 0..steps {
        trainer.step(&digits, &batch, i % 10 == 0).unwrap();
    }
    gpu.synchronize().unwrap();
    let grown = resident_bytes()
        .zip(rss)
        .map(|(after, before)| after as i64 - before as i64);
    println!(
        "  {steps} steps: {} new GPU buffers, host memory grew by {:?} bytes",
        gpu.buffers_created() - buffers,
        grown
    );
    assert_eq!(
        gpu.buffers_created(),
        buffers,
        "no GPU buffer is created in a steady state"
    );
    if let Some(g) = grown {
        assert!(g < 16 << 20, "host memory grew by {g} bytes over {steps} steps");
    }
}
